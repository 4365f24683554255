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

namespace tollgate {

enum class ReadStatus { kOk, kTooLarge, kError };

// Reads `path` ("-" = standard input) into *out. On failure *why is a
// lowercase one-line message ("cannot read `x`: no such file or directory",
// "`x` is larger than the limit of N bytes").
ReadStatus ReadCapped(const std::string& path, size_t max_bytes, std::string* out,
                      std::string* why);

}  // namespace tollgate
