#include "runtime/audit/internal/util.h"

#include "engine/core/sha256.h"

#include "engine/core/civil.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

namespace tollgate::audit::internal {
namespace {

constexpr char kCrockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

int CrockfordValue(char c) {
  for (int i = 0; i < 32; ++i)
    if (kCrockford[i] == c) return i;
  return -1;
}

uint64_t RandomU64() {
  uint64_t v = 0;
  if (getrandom(&v, sizeof v, 0) != static_cast<ssize_t>(sizeof v)) {
    // No entropy source: fall back to pid and time (still unique enough per host).
    v = (static_cast<uint64_t>(getpid()) << 32) ^ static_cast<uint64_t>(NowMillis()) ^
        static_cast<uint64_t>(clock());
  }
  return v;
}


}  // namespace

std::string HmacSha256Hex(std::string_view key, std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &n) == nullptr)
    return {};
  return HexOf(std::string_view(reinterpret_cast<const char*>(md), n));
}

HmacSha256::HmacSha256(std::string_view key) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  EVP_MAC_CTX* ctx = mac ? EVP_MAC_CTX_new(mac) : nullptr;
  mac_ = mac;
  ctx_ = ctx;
  if (ctx == nullptr) return;
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  if (EVP_MAC_init(ctx, reinterpret_cast<const unsigned char*>(key.data()), key.size(), params) != 1) {
    EVP_MAC_CTX_free(ctx);
    ctx_ = nullptr;
  }
}

HmacSha256::~HmacSha256() {
  EVP_MAC_CTX_free(static_cast<EVP_MAC_CTX*>(ctx_));
  EVP_MAC_free(static_cast<EVP_MAC*>(mac_));
}

void HmacSha256::Update(std::string_view data) {
  if (ctx_ != nullptr && !data.empty() &&
      EVP_MAC_update(static_cast<EVP_MAC_CTX*>(ctx_), reinterpret_cast<const unsigned char*>(data.data()),
                     data.size()) != 1) {
    EVP_MAC_CTX_free(static_cast<EVP_MAC_CTX*>(ctx_));
    ctx_ = nullptr;
  }
}

std::string HmacSha256::HexDigest() {
  unsigned char md[EVP_MAX_MD_SIZE];
  size_t n = 0;
  if (ctx_ == nullptr || EVP_MAC_final(static_cast<EVP_MAC_CTX*>(ctx_), md, &n, sizeof md) != 1) return {};
  EVP_MAC_CTX_free(static_cast<EVP_MAC_CTX*>(ctx_));
  ctx_ = nullptr;
  return HexOf(std::string_view(reinterpret_cast<const char*>(md), n));
}

int64_t NowMillis() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

std::string FormatMillis(int64_t ms) { return FormatUtcMillis(ms); }

bool ParseMillis(std::string_view s, int64_t* ms) {
  auto digits = [&](size_t pos, size_t n, int* out) {
    if (pos + n > s.size()) return false;
    int v = 0;
    for (size_t i = pos; i < pos + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
  };
  int y, mo, d, h = 0, mi = 0, sec = 0;
  if (!digits(0, 4, &y) || s.size() < 10 || s[4] != '-' || !digits(5, 2, &mo) || s[7] != '-' ||
      !digits(8, 2, &d) || mo < 1 || mo > 12 || d < 1 || d > 31)
    return false;
  int64_t frac_ms = 0, offset_min = 0;
  if (s.size() > 10) {
    if ((s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !digits(11, 2, &h) || s.size() < 19 ||
        s[13] != ':' || !digits(14, 2, &mi) || s[16] != ':' || !digits(17, 2, &sec) || h > 23 ||
        mi > 59 || sec > 60)
      return false;
    size_t p = 19;
    if (p < s.size() && s[p] == '.') {
      ++p;
      int64_t scale = 100;
      size_t start = p;
      while (p < s.size() && s[p] >= '0' && s[p] <= '9') {
        frac_ms += (s[p] - '0') * scale;
        scale /= 10;
        ++p;
      }
      if (p == start) return false;
    }
    if (p >= s.size()) return false;
    if (s[p] == 'Z' || s[p] == 'z') {
      ++p;
    } else if (s[p] == '+' || s[p] == '-') {
      int oh, om;
      if (!digits(p + 1, 2, &oh) || p + 3 >= s.size() || s[p + 3] != ':' || !digits(p + 4, 2, &om))
        return false;
      offset_min = (oh * 60 + om) * (s[p] == '-' ? -1 : 1);
      p += 6;
    } else {
      return false;
    }
    if (p != s.size()) return false;
  }
  int64_t days = DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  *ms = ((days * 24 + h) * 60 + mi - offset_min) * 60000 + static_cast<int64_t>(sec) * 1000 + frac_ms;
  return true;
}

IdGenerator::IdGenerator() {
  random_hi_ = RandomU64() & 0xffff;
  // 24 random bits above a 40-bit counter that starts at a random point of
  // its lower half (so it never wraps in practice).
  lo_ = (RandomU64() & 0xffffff0000000000ull) | (RandomU64() & 0x7fffffffffull);
}

std::string IdGenerator::Next(int64_t ms, int64_t* used_ms) {
  if (ms <= last_ms_) ms = last_ms_;  // INVARIANT: ids never go backwards in a process
  last_ms_ = ms;
  ++lo_;
  if (used_ms) *used_ms = ms;
  // 128 bits: [48 time][16 random_hi][64 lo] -> 26 base32 digits (top 2 bits zero).
  unsigned __int128 v = (static_cast<unsigned __int128>(static_cast<uint64_t>(ms) & 0xffffffffffffull)
                         << 80) |
                        (static_cast<unsigned __int128>(random_hi_) << 64) | lo_;
  std::string out(26, '0');
  for (int i = 25; i >= 0; --i) {
    out[static_cast<size_t>(i)] = kCrockford[static_cast<unsigned>(v & 31)];
    v >>= 5;
  }
  return out;
}

int64_t IdMillis(std::string_view id) {
  if (id.size() != 26) return -1;
  unsigned __int128 v = 0;
  for (char c : id) {
    int d = CrockfordValue(c);
    if (d < 0) return -1;
    v = (v << 5) | static_cast<unsigned>(d);
  }
  return static_cast<int64_t>(static_cast<uint64_t>(v >> 80));
}

bool ReadWholeFile(const std::string& path, std::string* out, std::string* error) {
  out->clear();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = "cannot read `" + path + "`: " + std::strerror(errno);
    return false;
  }
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *error = "cannot read `" + path + "`: " + std::strerror(errno);
      ::close(fd);
      return false;
    }
    if (n == 0) break;
    out->append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return true;
}

bool FsyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

std::string DirName(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string BaseName(const std::string& path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool WriteFileDurable(const std::string& path, std::string_view data, std::string* error) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) {
    *error = "cannot write `" + tmp + "`: " + std::strerror(errno);
    return false;
  }
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *error = "cannot write `" + tmp + "`: " + std::strerror(errno);
      ::close(fd);
      return false;
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    *error = "cannot sync `" + tmp + "`: " + std::strerror(errno);
    return false;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    *error = "cannot rename `" + tmp + "`: " + std::strerror(errno);
    return false;
  }
  FsyncDir(DirName(path));
  return true;
}

bool MakeDirs(const std::string& path, std::string* error) {
  std::string cur;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    cur = path.substr(0, j);
    if (!cur.empty() && ::mkdir(cur.c_str(), 0750) != 0 && errno != EEXIST) {
      *error = "cannot create `" + cur + "`: " + std::strerror(errno);
      return false;
    }
    i = j + 1;
  }
  return true;
}

}  // namespace tollgate::audit::internal
