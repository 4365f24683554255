// Reading a whole file (or standard input) with a size limit checked while
// reading: a file is never read past limit + 1 bytes, so `/dev/zero`, a FIFO
// or a file that grows while read costs at most the limit in memory.
//
//   std::string text, why;
//   switch (ReadCapped("catalog.json", limits.max_catalog_bytes, &text, &why)) {
//     case ReadStatus::kOk: ...
//     case ReadStatus::kTooLarge: ...   // `why` says so, with the limit
//     case ReadStatus::kError: ...      // `why` names the path and the OS error
//   }
//
// Thread safety: reentrant.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace tollgate {

enum class ReadStatus { kOk, kTooLarge, kError };

// Reads `path` ("-" = standard input) into *out. On failure *why is a
// lowercase one-line message ("cannot read `x`: no such file or directory",
// "`x` is larger than the limit of N bytes").
ReadStatus ReadCapped(const std::string& path, size_t max_bytes, std::string* out,
                      std::string* why);

// The policy files named by `paths`, in order: a file as given, a directory
// as every *.tg below it (recursively, sorted). False with one message per
// path that is neither, or a directory without *.tg files, in *errors
// ("no policy files (*.tg) under `dir`", "cannot read `x`: No such file or
// directory"); the files found are still listed. (The CLI's commands and
// the gateway's policy loading share it.)
bool ExpandPolicyPaths(const std::vector<std::string>& paths, std::vector<std::string>* files,
                       std::vector<std::string>* errors);

}  // namespace tollgate
