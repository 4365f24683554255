// Gateway configuration loading (config.h).
#include "runtime/gateway/config.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <filesystem>
#include <set>

#include "engine/core/json_text.h"
#include "engine/core/read_file.h"
#include "runtime/gateway/context.h"

#ifndef TOLLGATE_SOURCE_DIR
#define TOLLGATE_SOURCE_DIR "."
#endif

namespace tollgate::gateway {
namespace {

namespace fs = std::filesystem;
namespace rj = rapidjson;

constexpr size_t kMaxConfigBytes = 1u << 20;

struct Reader {
  std::string file;
  std::string* error;

  bool Fail(const std::string& member, const std::string& what) {
    *error = "config `" + file + "`: `" + member + "` " + what;
    return false;
  }
  bool Keys(const rj::Value& v, const std::string& where, const std::set<std::string>& allowed) {
    for (auto m = v.MemberBegin(); m != v.MemberEnd(); ++m) {
      std::string k(m->name.GetString(), m->name.GetStringLength());
      if (!allowed.count(k)) {
        *error = "config `" + file + "`: unknown member `" + where + k + "`";
        return false;
      }
    }
    return true;
  }
  bool Str(const rj::Value& obj, const char* key, const std::string& name, std::string* out) {
    auto m = obj.FindMember(key);
    if (m == obj.MemberEnd()) return true;
    if (!m->value.IsString()) return Fail(name, "must be a string");
    out->assign(m->value.GetString(), m->value.GetStringLength());
    return true;
  }
  bool Bool(const rj::Value& obj, const char* key, const std::string& name, bool* out) {
    auto m = obj.FindMember(key);
    if (m == obj.MemberEnd()) return true;
    if (!m->value.IsBool()) return Fail(name, "must be true or false");
    *out = m->value.GetBool();
    return true;
  }
  template <typename T>
  bool Int(const rj::Value& obj, const char* key, const std::string& name, T* out, int64_t min,
           int64_t max) {
    auto m = obj.FindMember(key);
    if (m == obj.MemberEnd()) return true;
    if (!m->value.IsInt64() || m->value.GetInt64() < min || m->value.GetInt64() > max) {
      return Fail(name, "must be an integer from " + std::to_string(min) + " to " +
                            std::to_string(max));
    }
    *out = static_cast<T>(m->value.GetInt64());
    return true;
  }
};

std::string Resolve(const fs::path& base, const std::string& p) {
  if (p.empty() || fs::path(p).is_absolute()) return p;
  return (base / p).lexically_normal().string();
}

// The shipped file in the working directory, else in the source tree.
std::string Shipped(const std::string& rel) {
  std::error_code ec;
  if (fs::exists(rel, ec)) return rel;
  fs::path src = fs::path(TOLLGATE_SOURCE_DIR) / rel;
  if (fs::exists(src, ec)) return src.string();
  return rel;
}

}  // namespace

bool ParseListen(const std::string& listen, std::string* host, uint16_t* port, std::string* error) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size()) {
    *error = "listen address `" + listen + "` must be HOST:PORT (e.g. 127.0.0.1:8080)";
    return false;
  }
  std::string h = listen.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  std::string p = listen.substr(colon + 1);
  if (p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(p) > 65535) {
    *error = "listen address `" + listen + "` has an invalid port `" + p + "` (0..65535)";
    return false;
  }
  *host = h;
  *port = static_cast<uint16_t>(std::stoul(p));
  return true;
}

Config DefaultConfig() {
  Config c;
  for (std::string& p : c.policy) p = Shipped(p);
  c.catalog = Shipped(c.catalog);
  c.accounts = Shipped(c.accounts);
  c.keys = Shipped(c.keys);
  return c;
}

bool LoadConfig(const std::string& path, Config* out, std::string* error) {
  std::string text, why;
  if (ReadCapped(path, kMaxConfigBytes, &text, &why) != ReadStatus::kOk) {
    *error = why;
    return false;
  }
  rj::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag>(text.data(), text.size());  // no recursion: any depth
  if (doc.HasParseError()) {
    *error = "config `" + path + "`: invalid JSON at byte " + std::to_string(doc.GetErrorOffset()) +
             ": " + rj::GetParseError_En(doc.GetParseError());
    return false;
  }
  // FindMember reads a repeated member's first copy; jq shows the last.
  if (DuplicateKey dup; FindDuplicateKey(doc, &dup)) {
    *error = "config `" + path + "`: " + dup.Message();
    return false;
  }
  Reader r{path, error};
  if (!doc.IsObject()) return r.Fail("(document)", "must be a JSON object");
  if (!r.Keys(doc, "", {"listen", "threads", "policy", "schema", "catalog", "accounts", "keys",
                        "ledger", "audit", "audit_sync", "admin_token_env", "decide_token_env",
                        "limits", "upstream", "cors", "drain_grace_ms", "drain_timeout_ms", "access_log",
                        "trusted_proxies", "description"})) {
    return false;
  }
  Config c;
  c.source = path;
  if (!r.Str(doc, "listen", "listen", &c.listen)) return false;
  if (!r.Int(doc, "threads", "threads", &c.threads, 0, 256)) return false;
  if (auto m = doc.FindMember("policy"); m != doc.MemberEnd()) {
    c.policy.clear();
    if (m->value.IsString()) {
      c.policy.emplace_back(m->value.GetString(), m->value.GetStringLength());
    } else if (m->value.IsArray() && !m->value.Empty()) {
      for (const auto& v : m->value.GetArray()) {
        if (!v.IsString()) return r.Fail("policy", "must be a path or an array of paths");
        c.policy.emplace_back(v.GetString(), v.GetStringLength());
      }
    } else {
      return r.Fail("policy", "must be a path or a non-empty array of paths");
    }
  }
  if (!r.Str(doc, "schema", "schema", &c.schema) || !r.Str(doc, "catalog", "catalog", &c.catalog) ||
      !r.Str(doc, "accounts", "accounts", &c.accounts) || !r.Str(doc, "keys", "keys", &c.keys) ||
      !r.Str(doc, "ledger", "ledger", &c.ledger) || !r.Str(doc, "audit", "audit", &c.audit) ||
      !r.Bool(doc, "audit_sync", "audit_sync", &c.audit_sync) ||
      !r.Str(doc, "admin_token_env", "admin_token_env", &c.admin_token_env) ||
      !r.Str(doc, "decide_token_env", "decide_token_env", &c.decide_token_env) ||
      !r.Int(doc, "drain_grace_ms", "drain_grace_ms", &c.drain_grace_ms, 0, 3'600'000) ||
      !r.Int(doc, "drain_timeout_ms", "drain_timeout_ms", &c.drain_timeout_ms, 0, 3'600'000) ||
      !r.Bool(doc, "access_log", "access_log", &c.access_log)) {
    return false;
  }
  if (auto m = doc.FindMember("trusted_proxies"); m != doc.MemberEnd()) {
    const char* kWant = "must be an array of proxy addresses or networks such as [\"10.0.0.0/8\"]";
    if (!m->value.IsArray()) return r.Fail("trusted_proxies", kWant);
    for (const auto& e : m->value.GetArray()) {
      if (!e.IsString()) return r.Fail("trusted_proxies", kWant);
      c.trusted_proxies.emplace_back(e.GetString(), e.GetStringLength());
    }
    TrustedProxies parsed;
    std::string why;
    if (!TrustedProxies::Parse(c.trusted_proxies, &parsed, &why)) return r.Fail("trusted_proxies", why);
  }
  if (auto m = doc.FindMember("cors"); m != doc.MemberEnd()) {
    const rj::Value& v = m->value;
    if (!v.IsObject()) return r.Fail("cors", "must be an object");
    if (!r.Keys(v, "cors.", {"allow_origins", "max_age_s"}) ||
        !r.Int(v, "max_age_s", "cors.max_age_s", &c.cors.max_age_s, 0, 86'400)) {
      return false;
    }
    if (auto o = v.FindMember("allow_origins"); o != v.MemberEnd()) {
      if (!o->value.IsArray()) return r.Fail("cors.allow_origins", "must be an array of origins");
      for (const auto& e : o->value.GetArray()) {
        if (!e.IsString() || e.GetStringLength() == 0) {
          return r.Fail("cors.allow_origins", "must be an array of origins (\"https://app.example.com\") or [\"*\"]");
        }
        std::string origin(e.GetString(), e.GetStringLength());
        // An origin is scheme://host[:port]: no path, not even "/".
        const size_t scheme = origin.find("://");
        if (origin != "*" && (scheme == std::string::npos || scheme == 0 ||
                              origin.find('/', scheme + 3) != std::string::npos ||
                              scheme + 3 == origin.size())) {
          return r.Fail("cors.allow_origins", "`" + origin + "` is not an origin (scheme://host[:port], no path) or \"*\"");
        }
        c.cors.allow_origins.push_back(std::move(origin));
      }
    }
  }
  if (auto m = doc.FindMember("limits"); m != doc.MemberEnd()) {
    const rj::Value& v = m->value;
    if (!v.IsObject()) return r.Fail("limits", "must be an object");
    if (!r.Keys(v, "limits.", {"max_body_bytes", "max_header_bytes", "read_timeout_ms",
                               "idle_timeout_ms", "max_connections"}) ||
        !r.Int(v, "max_body_bytes", "limits.max_body_bytes", &c.limits.max_body_bytes, 1,
               int64_t{1} << 30) ||
        !r.Int(v, "max_header_bytes", "limits.max_header_bytes", &c.limits.max_header_bytes, 1024,
               1 << 20) ||
        !r.Int(v, "read_timeout_ms", "limits.read_timeout_ms", &c.limits.read_timeout_ms, 1,
               3'600'000) ||
        !r.Int(v, "idle_timeout_ms", "limits.idle_timeout_ms", &c.limits.idle_timeout_ms, 1,
               3'600'000) ||
        !r.Int(v, "max_connections", "limits.max_connections", &c.limits.max_connections, 1,
               1'000'000)) {
      return false;
    }
  }
  if (auto m = doc.FindMember("upstream"); m != doc.MemberEnd()) {
    const rj::Value& v = m->value;
    UpstreamOptions& u = c.upstream;
    if (!v.IsObject()) return r.Fail("upstream", "must be an object");
    if (!r.Keys(v, "upstream.", {"connect_timeout_ms", "first_byte_timeout_ms", "idle_timeout_ms",
                                 "max_idle_per_endpoint", "pool_idle_timeout_ms", "max_response_bytes",
                                 "max_attempts", "ca_file"}) ||
        !r.Str(v, "ca_file", "upstream.ca_file", &u.ca_file) ||
        !r.Int(v, "connect_timeout_ms", "upstream.connect_timeout_ms", &u.connect_timeout_ms, 1,
               600'000) ||
        !r.Int(v, "first_byte_timeout_ms", "upstream.first_byte_timeout_ms",
               &u.first_byte_timeout_ms, 1, 3'600'000) ||
        !r.Int(v, "idle_timeout_ms", "upstream.idle_timeout_ms", &u.idle_timeout_ms, 1,
               3'600'000) ||
        !r.Int(v, "max_idle_per_endpoint", "upstream.max_idle_per_endpoint",
               &u.max_idle_per_endpoint, 0, 100'000) ||
        !r.Int(v, "pool_idle_timeout_ms", "upstream.pool_idle_timeout_ms", &u.pool_idle_timeout_ms, 1,
               3'600'000) ||
        !r.Int(v, "max_response_bytes", "upstream.max_response_bytes", &u.max_response_bytes, 1024,
               int64_t{1} << 32) ||
        !r.Int(v, "max_attempts", "upstream.max_attempts", &u.max_attempts, 1, 16)) {
      return false;
    }
  }
  if (!ParseListen(c.listen, &c.host, &c.port, error)) {
    *error = "config `" + path + "`: " + *error;
    return false;
  }
  // A path the file writes is relative to the file; a member it leaves out
  // is what `tollgate serve` without --config uses (the shipped files,
  // state under the working directory): a config that sets only `listen`
  // serves the same example as no config, wherever the file lives.
  const fs::path base = fs::path(path).parent_path();
  const Config defaults = DefaultConfig();
  auto written = [&doc](const char* member) { return doc.HasMember(member); };
  if (written("policy")) {
    for (std::string& p : c.policy) p = Resolve(base, p);
  } else {
    c.policy = defaults.policy;
  }
  c.schema = Resolve(base, c.schema);
  c.catalog = written("catalog") ? Resolve(base, c.catalog) : defaults.catalog;
  c.accounts = written("accounts") ? Resolve(base, c.accounts) : defaults.accounts;
  c.keys = written("keys") ? Resolve(base, c.keys) : defaults.keys;
  if (written("audit")) c.audit = Resolve(base, c.audit);
  c.upstream.ca_file = Resolve(base, c.upstream.ca_file);
  if (written("ledger") && c.ledger.rfind("sqlite:", 0) == 0) {
    c.ledger = "sqlite:" + Resolve(base, c.ledger.substr(7));
  }
  *out = std::move(c);
  return true;
}

}  // namespace tollgate::gateway
