// ReadCapped: bounded whole-file reads (see read_file.h).
#include "engine/core/read_file.h"

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace tollgate {

namespace {

std::string OsError(int err) {
  std::string s = std::strerror(err);
  if (!s.empty()) s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
  return s;
}

}  // namespace

ReadStatus ReadCapped(const std::string& path, size_t max_bytes, std::string* out,
                      std::string* why) {
  out->clear();
  const bool stdin_ = path == "-";
  const std::string name = stdin_ ? std::string("standard input") : "`" + path + "`";
  struct Closer {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::unique_ptr<std::FILE, Closer> owned;
  std::FILE* f = stdin;
  if (!stdin_) {
    owned.reset(std::fopen(path.c_str(), "rb"));
    if (owned == nullptr) {
      *why = "cannot read " + name + ": " + OsError(errno);
      return ReadStatus::kError;
    }
    f = owned.get();
  }
  char buf[65536];
  for (;;) {
    size_t n = std::fread(buf, 1, sizeof buf, f);
    if (n > 0) {
      // INVARIANT: never holds more than max_bytes + sizeof buf bytes.
      if (out->size() + n > max_bytes) {
        out->clear();
        *why = name + " is larger than the limit of " + std::to_string(max_bytes) + " bytes";
        return ReadStatus::kTooLarge;
      }
      out->append(buf, n);
    }
    if (n < sizeof buf) {
      if (std::ferror(f)) {
        int err = errno;
        out->clear();
        *why = "cannot read " + name + ": " + OsError(err);
        return ReadStatus::kError;
      }
      if (std::feof(f)) return ReadStatus::kOk;
    }
  }
}

}  // namespace tollgate
