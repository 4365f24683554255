// API keys: who is calling. The keys file stores only SHA-256 hashes.
//
// ## Format
//
//   {"keys": [{"id": "acme-dev", "sha256": "9f86d0...",   // hex of SHA-256(key)
//              "workspace": "acme", "user": "dev-1", "jurisdiction": "DE",
//              "groups": ["eng"], "department": "r&d"}]}
//
// Every member but `id`, `sha256`, `context` and `pin` becomes a member of
// the decision input's `principal` (so an extended schema's principal fields
// need no code change); `id` becomes `principal.key_id`. `workspace` is
// required. Make a hash with `printf %s "$KEY" | sha256sum`.
//
// ## Context defaults and pins
//
//   {"id": "nightly", ..., "context": {"data_class": "internal", "tags": ["batch"],
//                                      "environment": "production"},
//    "pin": ["data_class"]}
//
// `context` is the decision input's `context` for this key's requests
// (runtime/gateway/context.h merges the caller's x-tollgate-* headers into
// it). `time` and `ip` are the gateway's own (its clock, the connection) and
// are refused here; `data_class` and `environment` are non-empty strings,
// `tags` an array of non-empty strings; other members (an extended schema's
// context fields) are checked by the decoder when the service loads the keys.
// `pin` lists the members (`data_class`, `environment`, `tags`) the caller may
// not change: a header giving another value is refused.
//
//   gateway::KeyStore keys;
//   if (!gateway::KeyStore::LoadFile("keys.json", &keys, &err)) Fail(err);
//   const gateway::Identity* who = keys.Find(bearer_token);   // null: unknown key
//   gateway::BuildInput(*who, body, &input);                  // service.h
//
// Errors: LoadFile fails with one line naming the entry (index and id), or
// the JSON path of a member repeated in an object ("duplicate key
// `data_class` at `keys[0].context.data_class`").
// Cost: Find hashes the token (SHA-256, ~0.3 us) and probes a hash map.
// Thread safety: immutable after loading; share freely.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tollgate::gateway {

// A key's `context` member, parsed (see the overview).
struct KeyContext {
  std::optional<std::string> data_class, environment;
  std::vector<std::string> tags;  // in the file's order
  std::string extra_json;         // other members, rendered: `"a":1,"b":"x"` (no braces)
  bool pin_data_class = false, pin_environment = false, pin_tags = false;
  bool empty() const { return !data_class && !environment && tags.empty() && extra_json.empty(); }
};

// The decision input's `context` object: the key's members, with
// `data_class` / `environment` replaced when given, `more_tags` after the
// key's tags, and `ip` when not null. Cost: one small JSON write.
std::string RenderContext(const KeyContext& key, const std::optional<std::string_view>& data_class,
                          const std::optional<std::string_view>& environment,
                          const std::vector<std::string_view>& more_tags, const std::string* ip);

struct Identity {
  std::string id;              // the key's id (never the key)
  std::string workspace;
  std::string principal_json;  // the decision input's "principal" object, rendered once
  KeyContext context;
  std::string context_json;    // `context` alone as the decision input's object, "" = none
};

class KeyStore {
 public:
  static bool Load(std::string_view json, KeyStore* out, std::string* error);
  static bool LoadFile(const std::string& path, KeyStore* out, std::string* error);

  // The identity of a bearer token, or null.
  const Identity* Find(std::string_view token) const;
  size_t size() const { return by_hash_.size(); }
  // Every identity, in no particular order (the service checks each key's
  // principal and context against the policy's schema at load).
  std::vector<const Identity*> All() const;

 private:
  std::unordered_map<std::string, Identity> by_hash_;  // raw 32-byte digest -> identity
};

// Constant-time comparison (admin tokens).
bool SecureEquals(std::string_view a, std::string_view b);

}  // namespace tollgate::gateway
