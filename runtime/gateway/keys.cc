// API key store (keys.h).
#include "runtime/gateway/keys.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "engine/core/json_text.h"
#include "engine/core/read_file.h"
#include "engine/core/sha256.h"
#include "stdlib/field_values.h"
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

// A non-empty string with no leading or trailing blank (what a header can
// carry, so that a header can repeat a pinned value).
bool ContextText(const rj::Value& v) {
  if (!v.IsString() || v.GetStringLength() == 0) return false;
  const char first = v.GetString()[0], last = v.GetString()[v.GetStringLength() - 1];
  return first != ' ' && first != '\t' && last != ' ' && last != '\t';
}

// The key's `context` and `pin` members into *c, rendered into *json.
bool ParseKeyContext(const rj::Value& k, const std::string& where, KeyContext* c, std::string* json,
                     std::string* error) {
  auto ctx = k.FindMember("context");
  if (ctx != k.MemberEnd()) {
    if (!ctx->value.IsObject()) {
      *error = where + ": `context` must be an object such as {\"data_class\": \"internal\"}";
      return false;
    }
    rj::StringBuffer extra;
    rj::Writer<rj::StringBuffer> w(extra);
    w.StartObject();
    for (auto m = ctx->value.MemberBegin(); m != ctx->value.MemberEnd(); ++m) {
      const std::string name(m->name.GetString(), m->name.GetStringLength());
      const rj::Value& v = m->value;
      if (name == "time" || name == "ip") {
        *error = where + ": `context." + name + "` is set by the gateway (" +
                 (name == "time" ? "its clock" : "the client's address") + "), not by a key";
        return false;
      }
      if (name == "data_class" || name == "environment") {
        if (!ContextText(v)) {
          *error = where + ": `context." + name + "` must be a non-empty string without surrounding blanks";
          return false;
        }
        (name == "data_class" ? c->data_class : c->environment) = std::string(v.GetString(), v.GetStringLength());
      } else if (name == "tags") {
        if (!v.IsArray()) {
          *error = where + ": `context.tags` must be an array of strings such as [\"batch\"]";
          return false;
        }
        for (const rj::Value& t : v.GetArray()) {
          // A comma could not be sent in x-tollgate-tags (its separator).
          if (!ContextText(t) || std::string_view(t.GetString(), t.GetStringLength()).find(',') != std::string_view::npos) {
            *error = where + ": `context.tags` must hold non-empty strings without commas or surrounding blanks";
            return false;
          }
          c->tags.emplace_back(t.GetString(), t.GetStringLength());
        }
      } else {
        // An extended schema's member: the decoder judges it (Service).
        m->name.Accept(w);
        v.Accept(w);
      }
    }
    w.EndObject();
    std::string_view body(extra.GetString(), extra.GetSize());
    c->extra_json.assign(body.substr(1, body.size() - 2));
  }
  auto pin = k.FindMember("pin");
  if (pin != k.MemberEnd()) {
    if (!pin->value.IsArray()) {
      *error = where + ": `pin` must be an array of context members such as [\"data_class\"]";
      return false;
    }
    for (const rj::Value& p : pin->value.GetArray()) {
      const std::string_view name = p.IsString() ? std::string_view(p.GetString(), p.GetStringLength()) : "";
      if (name == "data_class") {
        c->pin_data_class = true;
      } else if (name == "environment") {
        c->pin_environment = true;
      } else if (name == "tags") {
        c->pin_tags = true;
      } else {
        *error = where + ": `pin` may list only \"data_class\", \"environment\" and \"tags\"" +
                 (name.empty() ? std::string() : ", not `" + std::string(name) + "`");
        return false;
      }
    }
  }
  json->clear();
  if (!c->empty()) *json = RenderContext(*c, {}, {}, {}, nullptr);
  return true;
}

}  // namespace

std::string RenderContext(const KeyContext& c, const std::optional<std::string_view>& data_class,
                          const std::optional<std::string_view>& environment,
                          const std::vector<std::string_view>& more_tags, const std::string* ip) {
  rj::StringBuffer sb;
  rj::Writer<rj::StringBuffer> w(sb);
  auto str = [&](std::string_view v) { w.String(v.data(), static_cast<rj::SizeType>(v.size())); };
  w.StartObject();
  if (data_class || c.data_class) {
    w.Key("data_class");
    str(data_class ? *data_class : std::string_view(*c.data_class));
  }
  if (!c.tags.empty() || !more_tags.empty()) {
    w.Key("tags");
    w.StartArray();
    for (const std::string& t : c.tags) str(t);
    for (std::string_view t : more_tags) str(t);  // the decoder makes the set
    w.EndArray();
  }
  if (environment || c.environment) {
    w.Key("environment");
    str(environment ? *environment : std::string_view(*c.environment));
  }
  if (ip) {
    w.Key("ip");
    str(*ip);
  }
  w.EndObject();
  std::string out(sb.GetString(), sb.GetSize());
  if (!c.extra_json.empty()) {
    out.pop_back();
    if (out.size() > 1) out += ',';
    out += c.extra_json;
    out += '}';
  }
  return out;
}

std::vector<const Identity*> KeyStore::All() const {
  std::vector<const Identity*> out;
  out.reserve(by_hash_.size());
  for (const auto& [hash, id] : by_hash_) out.push_back(&id);
  return out;
}

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
  doc.Parse<rapidjson::kParseIterativeFlag>(json.data(), json.size());  // no recursion: any depth
  if (doc.HasParseError()) {
    *error = "invalid JSON at byte " + std::to_string(doc.GetErrorOffset());
    return false;
  }
  // A repeated member (`data_class` twice in a `context`) would be read as
  // its first copy, though jq shows the last.
  if (DuplicateKey dup; FindDuplicateKey(doc, &dup)) {
    *error = dup.Message();
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
      if (!j.IsString() || !stdlib::IsAssignedCountry({j.GetString(), j.GetStringLength()})) {
        *error = where + ": `jurisdiction` must be an assigned ISO 3166-1 alpha-2 country code in upper case such as \"DE\"";
        return false;
      }
    }
    if (!ParseKeyContext(k, where, &id.context, &id.context_json, error)) return false;
    rj::StringBuffer sb;
    rj::Writer<rj::StringBuffer> w(sb);
    w.StartObject();
    w.Key("key_id");
    w.String(id.id.c_str(), static_cast<rj::SizeType>(id.id.size()));
    for (auto m = k.MemberBegin(); m != k.MemberEnd(); ++m) {
      std::string_view name(m->name.GetString(), m->name.GetStringLength());
      if (name == "id" || name == "sha256" || name == "key_id" || name == "context" || name == "pin") continue;
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
