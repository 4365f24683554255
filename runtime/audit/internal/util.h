// Small helpers shared by the audit files (not API): hashing, ids, times,
// file I/O. Thread safety: every function is reentrant.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tollgate::audit::internal {

// Lowercase hex HMAC-SHA-256 of `data` under `key`.
std::string HmacSha256Hex(std::string_view key, std::string_view data);

// The same over data given in pieces (OpenSSL's EVP_MAC): HexDigest() of
// the Update()s equals HmacSha256Hex of their concatenation. Not copyable.
class HmacSha256 {
 public:
  explicit HmacSha256(std::string_view key);
  ~HmacSha256();
  HmacSha256(const HmacSha256&) = delete;
  HmacSha256& operator=(const HmacSha256&) = delete;
  void Update(std::string_view data);
  std::string HexDigest();  // once; "" when OpenSSL failed

 private:
  void* mac_ = nullptr;  // EVP_MAC
  void* ctx_ = nullptr;  // EVP_MAC_CTX
};

// The hash a chain starts from (64 zeros).
inline constexpr std::string_view kGenesis =
    "0000000000000000000000000000000000000000000000000000000000000000";

// Milliseconds since the Unix epoch, from CLOCK_REALTIME.
int64_t NowMillis();
// "2026-11-30T01:45:05.123Z".
std::string FormatMillis(int64_t ms);
// Parses RFC 3339 ("2026-11-30T01:45:05Z", fractions and offsets allowed) or
// a bare date ("2026-11-30", midnight UTC) into milliseconds. False on error.
bool ParseMillis(std::string_view text, int64_t* ms);

// Decision ids: 26 Crockford base32 characters, ULID layout (48-bit
// millisecond time, then 80 bits: a per-process random prefix and a counter),
// so ids sort by time and never repeat across processes. Monotonic within a
// process even when the clock steps back. Not thread-safe: the caller holds
// a lock.
class IdGenerator {
 public:
  IdGenerator();
  // Returns the id for a decision made at `ms` (and the millisecond actually
  // encoded, >= the last one) in *used_ms.
  std::string Next(int64_t ms, int64_t* used_ms);

 private:
  uint64_t random_hi_;  // 16 bits of process randomness
  uint64_t lo_;         // 64 bits: 24 random + 40 counter
  int64_t last_ms_ = -1;
};
// The millisecond time encoded in an id, or -1 when `id` is not one.
int64_t IdMillis(std::string_view id);

// Whole-file helpers (no stdio buffering). Return false with *error set.
bool ReadWholeFile(const std::string& path, std::string* out, std::string* error);
// Writes to path + ".tmp", fsyncs, renames over `path` and fsyncs the directory.
bool WriteFileDurable(const std::string& path, std::string_view data, std::string* error);
bool MakeDirs(const std::string& path, std::string* error);
bool FsyncDir(const std::string& dir);
std::string DirName(const std::string& path);
std::string BaseName(const std::string& path);

}  // namespace tollgate::audit::internal
