// SHA-256 (sha256.h).
#include "engine/core/sha256.h"

#include <openssl/evp.h>

namespace tollgate {

namespace {

const EVP_MD* Sha256Md() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);  // never freed
  return md;
}

struct LocalCtx {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~LocalCtx() { EVP_MD_CTX_free(ctx); }
};

}  // namespace

std::string Sha256(std::string_view data) {
  thread_local LocalCtx local;
  const EVP_MD* md = Sha256Md();
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (md == nullptr || local.ctx == nullptr || EVP_DigestInit_ex2(local.ctx, md, nullptr) != 1 ||
      EVP_DigestUpdate(local.ctx, data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(local.ctx, out, &n) != 1) {
    return {};
  }
  return std::string(reinterpret_cast<const char*>(out), n);
}

std::string HexOf(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * bytes.size());
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

std::string Sha256Hex(std::string_view data) { return HexOf(Sha256(data)); }

}  // namespace tollgate
