// API key store (keys.h).
#include "runtime/gateway/keys.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "engine/core/read_file.h"
#include "engine/core/sha256.h"
#include "stdlib/names.h"

namespace tollgate::gateway {
namespace {

namespace rj = rapidjson;

constexpr size_t kMaxKeysBytes = 64u << 20;

std::string Digest(std::string_view text) { return tollgate::Sha256(text); }

bool FromHex(std::string_view hex, std::string* out) {
  if (hex.size() != 64) return false;
  out->clear();
  for (size_t i = 0; i < 64; i += 2) {
    auto nib = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    int hi = nib(hex[i]), lo = nib(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
  }
  return true;
}

}  // namespace


bool SecureEquals(std::string_view a, std::string_view b) {
  std::string da = Digest(a), db = Digest(b);
  return CRYPTO_memcmp(da.data(), db.data(), da.size()) == 0;
}

bool KeyStore::LoadFile(const std::string& path, KeyStore* out, std::string* error) {
  std::string text, why;
  if (ReadCapped(path, kMaxKeysBytes, &text, &why) != ReadStatus::kOk) {
    *error = why;
    return false;
  }
  if (!Load(text, out, error)) {
    *error = "keys `" + path + "`: " + *error;
    return false;
  }
  return true;
}

bool KeyStore::Load(std::string_view json, KeyStore* out, std::string* error) {
  rj::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError()) {
    *error = "invalid JSON at byte " + std::to_string(doc.GetErrorOffset());
    return false;
  }
  if (!doc.IsObject() || !doc.HasMember("keys") || !doc["keys"].IsArray()) {
    *error = "must be an object with a `keys` array";
    return false;
  }
  KeyStore ks;
  size_t index = 0;
  for (const rj::Value& k : doc["keys"].GetArray()) {
    std::string where = "key " + std::to_string(index++);
    if (!k.IsObject()) {
      *error = where + " must be an object";
      return false;
    }
    Identity id;
    if (k.HasMember("id") && k["id"].IsString()) id.id = k["id"].GetString();
    if (id.id.empty()) {
      *error = where + ": `id` must be a non-empty string";
      return false;
    }
    where += " (`" + id.id + "`)";
    std::string hash;
    if (!k.HasMember("sha256") || !k["sha256"].IsString() ||
        !FromHex(k["sha256"].GetString(), &hash)) {
      *error = where + ": `sha256` must be 64 hex digits (printf %s KEY | sha256sum)";
      return false;
    }
    if (!k.HasMember("workspace") || !k["workspace"].IsString() ||
        k["workspace"].GetStringLength() == 0) {
      *error = where + ": `workspace` must be a non-empty string";
      return false;
    }
    id.workspace = k["workspace"].GetString();
    // The decoder refuses any other jurisdiction (docs/decision-input.md):
    // found here, at load, instead of as a 400 on every request of the key.
    if (k.HasMember("jurisdiction") && !k["jurisdiction"].IsNull()) {
      const rj::Value& j = k["jurisdiction"];
      if (!j.IsString() || !stdlib::IsCountryCode({j.GetString(), j.GetStringLength()})) {
        *error = where + ": `jurisdiction` must be an ISO 3166-1 alpha-2 country code in upper case such as \"DE\"";
        return false;
      }
    }
    rj::StringBuffer sb;
    rj::Writer<rj::StringBuffer> w(sb);
    w.StartObject();
    w.Key("key_id");
    w.String(id.id.c_str(), static_cast<rj::SizeType>(id.id.size()));
    for (auto m = k.MemberBegin(); m != k.MemberEnd(); ++m) {
      std::string_view name(m->name.GetString(), m->name.GetStringLength());
      if (name == "id" || name == "sha256" || name == "key_id") continue;
      m->name.Accept(w);
      m->value.Accept(w);
    }
    w.EndObject();
    id.principal_json.assign(sb.GetString(), sb.GetSize());
    if (!ks.by_hash_.emplace(hash, std::move(id)).second) {
      *error = where + ": the same key hash is listed twice";
      return false;
    }
  }
  *out = std::move(ks);
  return true;
}

const Identity* KeyStore::Find(std::string_view token) const {
  auto it = by_hash_.find(Digest(token));
  return it == by_hash_.end() ? nullptr : &it->second;
}

}  // namespace tollgate::gateway
