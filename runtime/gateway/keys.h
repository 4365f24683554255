// API keys: who is calling. The keys file stores only SHA-256 hashes.
//
// ## Format
//
//   {"keys": [{"id": "acme-dev", "sha256": "9f86d0...",   // hex of SHA-256(key)
//              "workspace": "acme", "user": "dev-1", "jurisdiction": "DE",
//              "groups": ["eng"], "department": "r&d"}]}
//
// Every member but `id` and `sha256` becomes a member of the decision
// input's `principal` (so an extended schema's principal fields need no code
// change); `id` becomes `principal.key_id`. `workspace` is required. Make a
// hash with `printf %s "$KEY" | sha256sum`.
//
//   gateway::KeyStore keys;
//   if (!gateway::KeyStore::LoadFile("keys.json", &keys, &err)) Fail(err);
//   const gateway::Identity* who = keys.Find(bearer_token);   // null: unknown key
//   input = "{\"principal\":" + who->principal_json + ",\"request\":" + body + "}";
//
// Errors: LoadFile fails with one line naming the entry (index and id).
// Cost: Find hashes the token (SHA-256, ~0.3 us) and probes a hash map.
// Thread safety: immutable after loading; share freely.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>

namespace tollgate::gateway {

struct Identity {
  std::string id;              // the key's id (never the key)
  std::string workspace;
  std::string principal_json;  // the decision input's "principal" object, rendered once
};

class KeyStore {
 public:
  static bool Load(std::string_view json, KeyStore* out, std::string* error);
  static bool LoadFile(const std::string& path, KeyStore* out, std::string* error);

  // The identity of a bearer token, or null.
  const Identity* Find(std::string_view token) const;
  size_t size() const { return by_hash_.size(); }

 private:
  std::unordered_map<std::string, Identity> by_hash_;  // raw 32-byte digest -> identity
};

// Constant-time comparison (admin tokens).
bool SecureEquals(std::string_view a, std::string_view b);

}  // namespace tollgate::gateway
