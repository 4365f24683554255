// ReadCapped: bounded whole-file reads; ExpandPolicyPaths (see read_file.h).
#include "engine/core/read_file.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
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

bool ExpandPolicyPaths(const std::vector<std::string>& paths, std::vector<std::string>* files,
                       std::vector<std::string>* errors) {
  namespace fs = std::filesystem;
  const size_t before = errors->size();
  for (const std::string& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<std::string> found;
      for (auto it = fs::recursive_directory_iterator(p, ec); !ec && it != fs::end(it); it.increment(ec)) {
        if (it->is_regular_file(ec) && it->path().extension() == ".tg") found.push_back(it->path().string());
      }
      std::sort(found.begin(), found.end());
      if (found.empty()) errors->push_back("no policy files (*.tg) under `" + p + "`");
      files->insert(files->end(), found.begin(), found.end());
    } else if (fs::exists(p, ec)) {
      files->push_back(p);
    } else {
      errors->push_back("cannot read `" + p + "`: No such file or directory");
    }
  }
  return errors->size() == before;
}

}  // namespace tollgate
