// SHA-256 through OpenSSL, for policy version ids, audit record hashes and
// API key digests.
//
// The digest is fetched from OpenSSL's provider once per process (an
// EVP_sha256() call per digest would look it up again under the provider
// store's lock) and each thread reuses one digest context.
//
// Thread safety: any number of threads at once. Errors: an OpenSSL failure
// (no SHA-256 in the loaded providers) gives an empty result.
#pragma once

#include <string>
#include <string_view>

namespace tollgate {

// The 32-byte digest of `data`, or "" when OpenSSL fails.
std::string Sha256(std::string_view data);
// The digest as 64 lower-case hex characters, or "".
std::string Sha256Hex(std::string_view data);
// Lower-case hex of `bytes`.
std::string HexOf(std::string_view bytes);

}  // namespace tollgate
