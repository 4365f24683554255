// The gateway's parts without the network: configuration, API keys, the
// upstream body rewrite, endpoint targets, errors, metrics, and the request
// pipeline (decide, reserve, settle, record). tests/gateway/e2e.sh drives the
// whole server with curl and the openai npm client.
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "engine/core/money.h"
#include "engine/core/sha256.h"
#include "runtime/decide/prompt_bound.h"
#include "runtime/gateway/config.h"
#include "runtime/gateway/keys.h"
#include "runtime/gateway/metrics.h"
#include "runtime/gateway/service.h"
#include "tests/gateway/gateway_helpers.h"

namespace tollgate::gateway {
namespace {

namespace fs = std::filesystem;

using testkit::WriteFile;

TEST(Config, DefaultsServeTheShippedExample) {
  Config c = DefaultConfig();
  EXPECT_EQ(c.host, "127.0.0.1");
  EXPECT_EQ(c.port, 8080);
  ASSERT_EQ(c.policy.size(), 1u);
  EXPECT_TRUE(fs::exists(c.policy[0])) << c.policy[0];
  EXPECT_TRUE(fs::exists(c.catalog));
  EXPECT_TRUE(fs::exists(c.keys));
  EXPECT_EQ(c.ledger, "sqlite:tollgate-data/ledger.db");
}

TEST(Config, RelativePathsFollowTheConfigFile) {
  std::string d = testkit::MakeTempDir("gateway");
  WriteFile(d + "/gw.json", R"({"listen": "0.0.0.0:0", "policy": ["a.tg", "/abs/b.tg"], "catalog": "c.json",
                            "ledger": "sqlite:l.db", "audit": "", "limits": {"max_body_bytes": 100}})");
  Config c;
  std::string err;
  ASSERT_TRUE(LoadConfig(d + "/gw.json", &c, &err)) << err;
  EXPECT_EQ(c.port, 0);
  EXPECT_EQ(c.policy[0], d + "/a.tg");
  EXPECT_EQ(c.policy[1], "/abs/b.tg");
  EXPECT_EQ(c.catalog, d + "/c.json");
  EXPECT_EQ(c.ledger, "sqlite:" + d + "/l.db");
  EXPECT_EQ(c.audit, "");
  EXPECT_EQ(c.limits.max_body_bytes, 100u);
}

// Members the file leaves out are the defaults of a bare `tollgate serve`
// (the shipped example, state under the working directory), not paths
// next to the config file: a config in /etc that sets only `listen` and
// `ledger` used to fail on `/etc/.../policies/keys.json`.
TEST(Config, MembersLeftOutAreTheDefaultsNotPathsNextToTheFile) {
  std::string d = testkit::MakeTempDir("gateway");
  WriteFile(d + "/gw.json", R"({"listen": "127.0.0.1:0", "ledger": "memory:"})");
  Config c;
  std::string err;
  ASSERT_TRUE(LoadConfig(d + "/gw.json", &c, &err)) << err;
  const Config defaults = DefaultConfig();
  EXPECT_EQ(c.policy, defaults.policy);
  EXPECT_EQ(c.catalog, defaults.catalog);
  EXPECT_EQ(c.accounts, defaults.accounts);
  EXPECT_EQ(c.keys, defaults.keys);
  EXPECT_EQ(c.audit, defaults.audit);
  EXPECT_EQ(c.ledger, "memory:");
  EXPECT_TRUE(fs::exists(c.keys)) << c.keys;
  EXPECT_TRUE(fs::exists(c.catalog)) << c.catalog;
  EXPECT_TRUE(fs::exists(c.policy[0])) << c.policy[0];
  // A default sqlite ledger stays where the bare command puts it.
  WriteFile(d + "/gw.json", R"({"listen": "127.0.0.1:0"})");
  ASSERT_TRUE(LoadConfig(d + "/gw.json", &c, &err)) << err;
  EXPECT_EQ(c.ledger, defaults.ledger);
  testkit::RemoveDir(d);
}

TEST(Config, MistakesAreNamed) {
  std::string d = testkit::MakeTempDir("gateway");
  struct Case { const char* json; const char* want; } cases[] = {
      {R"({"listn": "x"})", "unknown member `listn`"},
      {R"({"limits": {"max_body_bytes": -1}})", "`limits.max_body_bytes` must be an integer from 1"},
      {R"({"listen": "127.0.0.1:99999"})", "invalid port `99999`"},
      {R"({"listen": "nohost"})", "must be HOST:PORT"},
      {R"({"policy": []})", "`policy` must be a path or a non-empty array"},
      {R"({"upstream": {"max_attempts": 0}})", "`upstream.max_attempts` must be an integer from 1 to 16"},
      {R"([1])", "must be a JSON object"},
      {R"({"a": )", "invalid JSON at byte"},
      {R"({"cors": {"allow_origins": "*"}})", "`cors.allow_origins` must be an array"},
      {R"({"cors": {"allow_origins": ["https://app.example.com/"]}})", "is not an origin"},
      {R"({"cors": {"allow_origins": ["app.example.com"]}})", "is not an origin"},
      {R"({"cors": {"max_age_s": -1}})", "`cors.max_age_s` must be an integer from 0"},
      {R"({"cors": {"origins": []}})", "unknown member `cors.origins`"},
      // jq shows the last copy of a repeated member, rapidjson's FindMember the first.
      {R"({"audit": "auditd", "audit": ""})", "duplicate top-level key `audit`"},
      {R"({"limits": {"max_body_bytes": 1, "max_body_bytes": 2}})",
       "duplicate key `max_body_bytes` at `limits.max_body_bytes`"},
      {R"({"trusted_proxies": [], "trusted_prox\u0069es": ["10.0.0.0/8"]})", "duplicate top-level key `trusted_proxies`"},
  };
  for (const Case& c : cases) {
    WriteFile(d + "/gw.json", c.json);
    Config cfg;
    std::string err;
    EXPECT_FALSE(LoadConfig(d + "/gw.json", &cfg, &err)) << c.json;
    EXPECT_NE(err.find(c.want), std::string::npos) << c.json << " -> " << err;
    EXPECT_EQ(err.rfind("config `" + d + "/gw.json`: ", 0), 0u) << err;
  }
}

// A file nested a million levels deep is an error, not a stack overflow:
// both loaders parse without recursion.
TEST(Config, DeepNestingIsAnErrorNotACrash) {
  std::string d = testkit::MakeTempDir("gateway");
  const std::string deep = std::string(1000000, '[') + std::string(1000000, ']');
  WriteFile(d + "/gw.json", R"({"limits": )" + deep + "}");
  Config cfg;
  std::string err;
  EXPECT_FALSE(LoadConfig(d + "/gw.json", &cfg, &err));
  EXPECT_FALSE(err.empty());
  KeyStore ks;
  EXPECT_FALSE(KeyStore::Load(R"({"keys": )" + deep + "}", &ks, &err));
  EXPECT_FALSE(err.empty());
}

TEST(Config, CorsOriginsMatchExactlyOrAny) {
  std::string d = testkit::MakeTempDir("gateway");
  WriteFile(d + "/gw.json", R"({"cors": {"allow_origins": ["https://app.example.com", "http://localhost:5173"]}})");
  Config c;
  std::string err;
  ASSERT_TRUE(LoadConfig(d + "/gw.json", &c, &err)) << err;
  EXPECT_TRUE(c.cors.allowed("https://app.example.com"));
  EXPECT_TRUE(c.cors.allowed("http://localhost:5173"));
  EXPECT_FALSE(c.cors.allowed("https://app.example.com.evil.example"));
  EXPECT_FALSE(c.cors.allowed("http://app.example.com"));
  EXPECT_FALSE(c.cors.allowed("null"));
  EXPECT_EQ(c.cors.max_age_s, 600);
  Config off;
  EXPECT_FALSE(off.cors.allowed("https://app.example.com"));  // off by default
  WriteFile(d + "/gw.json", R"({"cors": {"allow_origins": ["*"], "max_age_s": 60}})");
  ASSERT_TRUE(LoadConfig(d + "/gw.json", &c, &err)) << err;
  EXPECT_TRUE(c.cors.allowed("https://anything.example"));
  EXPECT_EQ(c.cors.max_age_s, 60);
}

TEST(Keys, OnlyHashesAreStoredAndEveryOtherMemberIsPrincipal) {
  std::string json = R"({"keys": [{"id": "k1", "sha256": ")" + Sha256Hex("secret-1") +
                     R"(", "workspace": "acme", "jurisdiction": "DE", "groups": ["a"], "department": "rd"}]})";
  KeyStore ks;
  std::string err;
  ASSERT_TRUE(KeyStore::Load(json, &ks, &err)) << err;
  EXPECT_EQ(ks.Find("secret-2"), nullptr);
  const Identity* who = ks.Find("secret-1");
  ASSERT_NE(who, nullptr);
  EXPECT_EQ(who->workspace, "acme");
  EXPECT_EQ(who->principal_json,
            R"({"key_id":"k1","workspace":"acme","jurisdiction":"DE","groups":["a"],"department":"rd"})");
  EXPECT_EQ(who->principal_json.find("secret"), std::string::npos);
}

TEST(Keys, DuplicateKeysAreRefusedWithTheirPath) {
  const std::string h = Sha256Hex("x");
  struct Case { std::string json, want; } cases[] = {
      {R"({"keys": [{"id": "k", "sha256": ")" + h + R"(", "workspace": "w",
                     "context": {"data_class": "public", "data_class": "restricted"}}]})",
       "duplicate key `data_class` at `keys[0].context.data_class`"},
      {R"({"keys": [{"id": "k", "sha256": ")" + h + R"(", "workspace": "w", "workspace": "v"}]})",
       "duplicate key `workspace` at `keys[0].workspace`"},
      {R"({"keys": [{"id": "k", "sha256": ")" + h + R"(", "workspace": "w", "pin": ["tags"], "pin": []}]})",
       "duplicate key `pin` at `keys[0].pin`"},
      {R"({"keys": [], "keys": [{"id": "k", "sha256": ")" + h + R"(", "workspace": "w"}]})",
       "duplicate top-level key `keys`"},
  };
  for (const Case& c : cases) {
    KeyStore ks;
    std::string err;
    EXPECT_FALSE(KeyStore::Load(c.json, &ks, &err)) << c.json;
    EXPECT_EQ(err, c.want) << c.json;
  }
  std::string d = testkit::MakeTempDir("gateway");
  WriteFile(d + "/keys.json", cases[0].json);
  KeyStore ks;
  std::string err;
  EXPECT_FALSE(KeyStore::LoadFile(d + "/keys.json", &ks, &err));
  EXPECT_EQ(err, "keys `" + d + "/keys.json`: " + cases[0].want);
}

TEST(Keys, BadEntriesAreRefused) {
  KeyStore ks;
  std::string err;
  EXPECT_FALSE(KeyStore::Load(R"({"keys": [{"id": "k", "sha256": "abc", "workspace": "w"}]})", &ks, &err));
  EXPECT_NE(err.find("`sha256` must be 64 hex digits"), std::string::npos) << err;
  std::string h = Sha256Hex("x");
  EXPECT_FALSE(KeyStore::Load(R"({"keys": [{"id": "k", "sha256": ")" + h + R"("}]})", &ks, &err));
  EXPECT_NE(err.find("`workspace`"), std::string::npos) << err;
  EXPECT_FALSE(KeyStore::Load(R"({"keys": [{"id": "a", "sha256": ")" + h + R"(", "workspace": "w"},
                                           {"id": "b", "sha256": ")" + h + R"(", "workspace": "w"}]})",
                              &ks, &err));
  EXPECT_NE(err.find("listed twice"), std::string::npos) << err;
  // A jurisdiction the decoder would refuse on every request is refused at load.
  for (const char* j : {R"("de")", R"("DEU")", R"("")", "49", R"("UK")", R"("EL")", R"("EU")"}) {
    EXPECT_FALSE(KeyStore::Load(R"({"keys": [{"id": "k", "sha256": ")" + h + R"(", "workspace": "w", "jurisdiction": )" +
                                    j + "}]}",
                                &ks, &err)) << j;
    EXPECT_NE(err.find("`jurisdiction` must be an assigned ISO 3166-1 alpha-2"), std::string::npos) << err;
  }
  EXPECT_TRUE(KeyStore::Load(R"({"keys": [{"id": "k", "sha256": ")" + h + R"(", "workspace": "w", "jurisdiction": "FR"},
                                          {"id": "n", "sha256": ")" + Sha256Hex("y") + R"(", "workspace": "w", "jurisdiction": null}]})",
                             &ks, &err)) << err;
  EXPECT_TRUE(SecureEquals("abc", "abc"));
  EXPECT_FALSE(SecureEquals("abc", "abd"));
}

// An accounts entry that no key's workspace names applies to nobody the keys
// let in: `W` and `w ` for a key's `w` are slips, found at startup.
TEST(Keys, AccountWorkspacesNoKeyCarriesAreListed) {
  const std::string h = Sha256Hex("x");
  KeyStore ks;
  std::string err;
  ASSERT_TRUE(KeyStore::Load(R"({"keys": [{"id": "a", "sha256": ")" + h + R"(", "workspace": "w"},
                                          {"id": "b", "sha256": ")" + Sha256Hex("y") + R"(", "workspace": "acme"}]})",
                             &ks, &err)) << err;
  runtime::Accounts accounts;
  runtime::AccountsError aerr;
  ASSERT_TRUE(runtime::Accounts::Load(
      R"({"default": {"zdr": true}, "workspaces": {"w": {}, "W": {}, "w ": {}, "acme": {}, "other": {}}})",
      &accounts, &aerr)) << aerr.message;
  EXPECT_EQ(UnusedAccountWorkspaces(accounts, ks), (std::vector<std::string>{"W", "other", "w "}));
  ASSERT_TRUE(runtime::Accounts::Load(R"({"default": {"zdr": true}})", &accounts, &aerr));
  EXPECT_TRUE(UnusedAccountWorkspaces(accounts, ks).empty());
}

TEST(Keys, AccountWorkspacesNoKeyCarriesAreLoggedAtStartupAndReload) {
  std::string d = testkit::MakeTempDir("gateway");
  WriteFile(d + "/p.tg", "policy \"t\"\n");
  WriteFile(d + "/c.json", testkit::CatalogJson({testkit::TestEndpoint("m/x@a", "a")}));
  WriteFile(d + "/k.json", testkit::OneKeyJson());  // workspace `w`
  WriteFile(d + "/a.json", R"({"workspaces": {"w": {}, "W": {"zdr": true}, "x\"y": {}}})");
  Config cfg = testkit::DirConfig(d);
  cfg.accounts = d + "/a.json";
  // The service logs to the logger named "tollgate" (made when absent).
  auto logger = spdlog::get("tollgate");
  if (!logger) logger = spdlog::stderr_logger_mt("tollgate");
  std::ostringstream captured;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(captured);
  sink->set_pattern("%v");
  logger->sinks().push_back(sink);
  std::string err;
  auto svc = Service::Create(cfg, &err);
  ASSERT_NE(svc, nullptr) << err;
  std::string log = captured.str();
  EXPECT_NE(log.find(R"({"event":"accounts_workspace_unused","workspace":"W","accounts":")" + d +
                     R"(/a.json","keys":")" + d + R"(/k.json","closest":"w"})"),
            std::string::npos) << log;
  EXPECT_NE(log.find(R"("workspace":"x\"y")"), std::string::npos) << log;  // escaped: one JSON line
  EXPECT_EQ(log.find(R"("workspace":"w")"), std::string::npos) << log;
  // SIGHUP / POST /admin/reload: checked again, with the keys of that moment.
  WriteFile(d + "/a.json", R"({"workspaces": {"w": {"zdr": true}}})");
  captured.str("");
  ASSERT_TRUE(svc->ReloadFromDisk(&err)) << err;
  EXPECT_EQ(captured.str().find("accounts_workspace_unused"), std::string::npos) << captured.str();
  WriteFile(d + "/a.json", R"({"workspaces": {"w ": {"zdr": true}}})");
  ASSERT_TRUE(svc->ReloadFromDisk(&err)) << err;
  EXPECT_NE(captured.str().find(R"("workspace":"w ")"), std::string::npos) << captured.str();
  logger->sinks().pop_back();
  svc.reset();
  testkit::RemoveDir(d);
}

TEST(Targets, BaseUrlsAndAuthFromTheEnvironment) {
  runtime::Endpoint e;
  e.id = "x";
  e.upstream.base_url = "https://api.example.com/v1/";
  e.upstream.auth = runtime::AuthType::kBearer;
  e.upstream.env = "TG_TEST_UPSTREAM_KEY";
  setenv("TG_TEST_UPSTREAM_KEY", "sk-123", 1);
  UpstreamTarget t;
  std::string err;
  ASSERT_TRUE(ParseTarget(e, &t, &err)) << err;
  EXPECT_TRUE(t.tls);
  EXPECT_EQ(t.host, "api.example.com");
  EXPECT_EQ(t.port, "443");
  EXPECT_EQ(t.path_prefix, "/v1");
  EXPECT_EQ(t.auth_header, "authorization");
  EXPECT_EQ(t.auth_value, "Bearer sk-123");
  e.upstream.base_url = "http://[::1]:8081";
  e.upstream.auth = runtime::AuthType::kHeader;
  e.upstream.header = "api-key";
  UpstreamTarget t2;
  ASSERT_TRUE(ParseTarget(e, &t2, &err)) << err;
  EXPECT_FALSE(t2.tls);
  EXPECT_EQ(t2.host, "::1");
  EXPECT_EQ(t2.port, "8081");
  EXPECT_EQ(t2.path_prefix, "");
  EXPECT_EQ(t2.auth_header, "api-key");
  EXPECT_EQ(t2.auth_value, "sk-123");
  e.upstream.base_url = "http://host:notaport/v1";
  UpstreamTarget t3;
  EXPECT_FALSE(ParseTarget(e, &t3, &err));
  // Azure OpenAI's deployments need `?api-version=`: the query goes after
  // the path the gateway appends (before: inside it, a path Azure answers 404).
  e.upstream.base_url = "https://acme.openai.azure.com/openai/deployments/gpt-4o/?api-version=2024-10-21#x";
  UpstreamTarget t4;
  ASSERT_TRUE(ParseTarget(e, &t4, &err)) << err;
  EXPECT_EQ(t4.host, "acme.openai.azure.com");
  EXPECT_EQ(t4.path_prefix, "/openai/deployments/gpt-4o");
  EXPECT_EQ(t4.query, "?api-version=2024-10-21");
  e.upstream.base_url = "http://127.0.0.1:8000?k=v";
  UpstreamTarget t5;
  ASSERT_TRUE(ParseTarget(e, &t5, &err)) << err;
  EXPECT_EQ(t5.port, "8000");
  EXPECT_EQ(t5.path_prefix, "");
  EXPECT_EQ(t5.query, "?k=v");
}

TEST(Errors, OpenAIShape) {
  rapidjson::Document d;
  d.Parse(OpenAIError(429, "rate_limited", "slow \"down\"", "rpm", "01ABC").c_str());
  ASSERT_TRUE(d.IsObject());
  const auto& e = d["error"];
  EXPECT_STREQ(e["type"].GetString(), "rate_limit_error");
  EXPECT_STREQ(e["code"].GetString(), "rate_limited");
  EXPECT_STREQ(e["message"].GetString(), "slow \"down\"");
  EXPECT_STREQ(e["rule"].GetString(), "rpm");
  EXPECT_STREQ(e["decision_id"].GetString(), "01ABC");
  EXPECT_TRUE(e["param"].IsNull());
}

// The chat body is placed inside the decision input by concatenation: it
// must be one JSON value, or trailing text would add members (a forged
// `context`) to the input.
TEST(RequestBody, OneJsonValueOrAnErrorWithBodyOffsets) {
  struct Case { std::string body; const char* code; const char* message; };
  const Case cases[] = {
      {R"({"model":"m","messages":[]},"context":{"time":"2020-01-01T00:00:00Z"})", "input_malformed_json",
       "malformed JSON at byte 27: content after the JSON document"},
      {R"({"model":"m"} {"x":1})", "input_malformed_json", "malformed JSON at byte 14: content after the JSON document"},
      {"", "input_malformed_json", "malformed JSON at byte 0: the document is empty"},
      {"  \n", "input_malformed_json", "malformed JSON at byte 3: the document is empty"},
      {R"({"model": "m", "messages": [)", "input_malformed_json", "malformed JSON at byte 28: invalid value"},
      {std::string("{\"model\":\"a\x01\"}"), "input_malformed_json",
       "malformed JSON at byte 11: raw control character (JSON text needs it escaped)"},
      {std::string("{\"model\":\"a\0\"}", 14), "input_malformed_json", "malformed JSON at byte 11: NUL byte"},
      {"{\"model\":\"a\xff\"}", "input_invalid_utf8", "invalid UTF-8 at byte 11"},
      {R"({"model":"m","top_k":1e400})", "input_invalid_value", "number at byte 21 is out of range (beyond 1.8e308)"},
      // Half of an emoji, as JSON.stringify writes a string an app cut
      // mid-character (`text.slice(0, n)`): either half alone, the same
      // code, at the escape's offset in the body (a lone low half was
      // reported at its offset in the wrapped decision input).
      {R"({"model":"m","content":"cut \ud83d"})", "input_invalid_utf8",
       "lone surrogate escape at byte 28 (not a unicode character)"},
      {R"({"model":"m","content":"cut \ude00"})", "input_invalid_utf8",
       "lone surrogate escape at byte 28 (not a unicode character)"},
      {R"({"model":"m","content":"\ud83d\u0041"})", "input_invalid_utf8",
       "lone surrogate escape at byte 24 (not a unicode character)"},
  };
  for (const Case& c : cases) {
    std::string body = c.body;
    bool usage = true;
    runtime::InputError err;
    EXPECT_FALSE(CheckRequestBody(&body, &usage, &err)) << c.body;
    EXPECT_EQ(err.code, c.code) << c.body;
    EXPECT_EQ(err.message, c.message) << c.body;
    EXPECT_FALSE(usage);
  }
  // Valid bodies: any JSON value (the decoder says what a non-object is),
  // whitespace around it, a leading byte order mark removed, deep nesting
  // without recursion (the decoder bounds the depth).
  std::string deep = "{\"x\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  for (std::string body : {std::string("[1]"), std::string(" {\"a\": 1e300}\r\n"), deep,
                           std::string(R"({"content":"\ud83d\ude00 \\ude00"})"),
                           std::string("\xEF\xBB\xBF{\"model\":\"m\"}")}) {
    bool usage = true;
    runtime::InputError err;
    EXPECT_TRUE(CheckRequestBody(&body, &usage, &err)) << err.message;
    EXPECT_FALSE(usage);
    if (body.find("model") != std::string::npos) {
      EXPECT_EQ(body, "{\"model\":\"m\"}");
    }
  }
}

TEST(RequestBody, IncludeUsageIsTheCallersStreamOption) {
  auto usage = [](std::string body) {
    bool u = false;
    runtime::InputError err;
    EXPECT_TRUE(CheckRequestBody(&body, &u, &err)) << err.message;
    return u;
  };
  EXPECT_TRUE(usage(R"({"stream":true,"stream_options":{"include_usage":true}})"));
  EXPECT_TRUE(usage(R"({"stream_options":{"x":{"include_usage":false},"include_usage":true}})"));
  EXPECT_FALSE(usage(R"({"stream":true})"));
  EXPECT_FALSE(usage(R"({"stream":true,"stream_options":{"include_usage":false}})"));
  EXPECT_FALSE(usage(R"({"stream":true,"stream_options":null,"include_usage":true})"));
  EXPECT_FALSE(usage(R"({"metadata":{"include_usage":true},"stream_options":{"x":{"include_usage":true}}})"));
  EXPECT_FALSE(usage(R"({"stream_options":{"include_usage":"true"}})"));
}

// An application written for one provider names its model bare (`gpt-4o`):
// the body check rewrites such a name to the catalog's one model of that
// name, in `model` and in the `models` fallbacks, so that the policy sees
// the id its rules name. Before, the name reached the decoder as sent: the
// router found no endpoint, and a rule on `openai/gpt-4o` never saw it.
TEST(RequestBody, BareModelNamesAreTheCatalogsModel) {
  const stdlib::Schema& schema = stdlib::Schema::Standard();
  runtime::Catalog catalog;
  runtime::CatalogError cerr;
  ASSERT_TRUE(runtime::Catalog::Load(
      testkit::CatalogJson({testkit::TestEndpoint("a/x@p", "p").Model("a/x"),
                            testkit::TestEndpoint("a/x@q", "q").Model("a/x"),
                            testkit::TestEndpoint("b/y@p", "p").Model("b/y"),
                            testkit::TestEndpoint("c/z@p", "p").Model("c/z"),
                            testkit::TestEndpoint("d/z@p", "p").Model("d/z"),
                            testkit::TestEndpoint("w@p", "p").Model("w"),
                            testkit::TestEndpoint("e/w@p", "p").Model("e/w")}),
      schema, &catalog, &cerr))
      << cerr.message;
  auto check = [&](std::string body) {
    bool usage = false;
    runtime::InputError err;
    EXPECT_TRUE(CheckRequestBody(&body, &usage, &err, nullptr, &catalog)) << err.message;
    return body;
  };
  EXPECT_EQ(check(R"({"model":"x","messages":[]})"), R"({"model":"a/x","messages":[]})");
  EXPECT_EQ(check(R"({"model" : "x:nitro", "models": [ "y",  "a/x", "nope", "y:free"]})"),
            R"({"model" : "a/x:nitro", "models": [ "b/y",  "a/x", "nope", "b/y:free"]})");
  // Left as sent: two authors' `z`; `w`, a catalog model itself; a name
  // with a slash; an escaped name (`x` as a JSON escape); a `model` member
  // that is not the request's; a `models` that is not the top-level list.
  for (const std::string body :
       {R"({"model":"z"})", R"({"model":"w"})", R"({"model":"q/x"})", R"({"model":"\u0078"})",
        R"({"metadata":{"model":"x"},"messages":[{"role":"user","content":"x","model":"x"}]})",
        R"({"metadata":{"models":["x"]},"models":[["x"],{"model":"x"}]})", R"({"model":["x"]})"}) {
    EXPECT_EQ(check(body), body);
  }
  // Without a catalog (the body check of /v1/decide), nothing is renamed.
  std::string body = R"({"model":"x"})";
  bool usage = false;
  runtime::InputError err;
  EXPECT_TRUE(CheckRequestBody(&body, &usage, &err));
  EXPECT_EQ(body, R"({"model":"x"})");
}

// The body check measures the worst-case prompt in its own pass: the same
// shape as measuring the body alone.
TEST(RequestBody, MeasuresTheWorstCasePromptInTheSamePass) {
  const std::string deep = "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[" +
                           std::string(5000, '[') + std::string(5000, ']') + "]}";
  const std::string bodies[] = {
      R"({"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3, "provider": {"sort": "price"}})",
      R"({"messages": [{"role": "user", "content": [{"type": "text", "text": "a"},
          {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
          {"type": "input_audio", "input_audio": {"data": "AAAABBBB", "format": "wav"}}]}],
          "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}], "stop": null, "seed": 1e3})",
      R"({"messages": [{"role": "user", "content": [{"type": "file", "file": {"file_id": "f"}}]}]})",
      "\xEF\xBB\xBF{\"messages\": [{\"role\": \"user\", \"content\": \"bom\"}]}",
      deep,
  };
  for (const std::string& b : bodies) {
    std::string body = b;
    bool usage = false;
    runtime::InputError err;
    runtime::PromptShape fused, alone;
    ASSERT_TRUE(CheckRequestBody(&body, &usage, &err, &fused)) << err.message;
    ASSERT_TRUE(runtime::MeasurePrompt(b, runtime::PromptSource::kBody, &alone));
    EXPECT_TRUE(fused.measured);
    EXPECT_EQ(fused.text_bytes, alone.text_bytes) << b;
    EXPECT_EQ(fused.messages, alone.messages) << b;
    EXPECT_EQ(fused.tools, alone.tools) << b;
    EXPECT_EQ(fused.images, alone.images) << b;
    EXPECT_EQ(fused.audio_bytes, alone.audio_bytes) << b;
    EXPECT_EQ(fused.files, alone.files) << b;
  }
  runtime::PromptShape shape;
  std::string bad = R"({"messages": [)";
  bool usage = false;
  runtime::InputError err;
  EXPECT_FALSE(CheckRequestBody(&bad, &usage, &err, &shape));
  EXPECT_FALSE(shape.measured);  // Decide measures again (and fails safe)
}

TEST(Metrics, PrometheusText) {
  Metrics m;
  m.decisions.Add(Label("outcome", "deny") + "," + Label("code", "x\"y"));
  m.spend_micros.Add(Label("budget", "b"), 1500000);
  m.processing.Observe(7'000);
  m.processing.Observe(7'000);
  m.processing.Observe(300'000);
  std::string text = m.Render("sha256:v", "");
  EXPECT_NE(text.find("tollgate_decisions_total{outcome=\"deny\",code=\"x\\\"y\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("tollgate_spend_usd_total{budget=\"b\"} 1.5\n"), std::string::npos) << text;
  EXPECT_NE(text.find("tollgate_processing_seconds_bucket{le=\"7.5e-06\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("tollgate_processing_seconds_count 3\n"), std::string::npos);
  EXPECT_EQ(m.processing.Quantile(0.5), 7'500);
  EXPECT_NE(text.find("tollgate_policy_info{version=\"sha256:v\",shadow=\"\"} 1"), std::string::npos);
}

// Between 10 and 15 us (where the gateway's processing lies) a 12.5 us
// bound, so that a p50 there reads as more than "under 15 us".
TEST(Metrics, ProcessingBucketsAroundItsTarget) {
  Metrics m;
  m.processing.Observe(11'000);
  m.processing.Observe(11'000);
  m.processing.Observe(28'000);
  std::string text = m.Render("sha256:v", "");
  EXPECT_NE(text.find("tollgate_processing_seconds_bucket{le=\"1e-05\"} 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("tollgate_processing_seconds_bucket{le=\"1.25e-05\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("tollgate_processing_seconds_bucket{le=\"3e-05\"} 3\n"), std::string::npos) << text;
  EXPECT_EQ(m.processing.Quantile(0.5), 12'500);
}

// Labels given as pairs render as the Label() string does.
TEST(Metrics, LabelPairsAsLabelStrings) {
  Metrics m;
  m.decisions.Add({{"outcome", "deny"}, {"code", "x\"y"}, {"rule", "a\\b\n"}});
  m.decisions.Add(Label("outcome", "deny") + "," + Label("code", "x\"y") + "," + Label("rule", "a\\b\n"));
  std::string text = m.Render("sha256:v", "");
  EXPECT_NE(text.find("tollgate_decisions_total{outcome=\"deny\",code=\"x\\\"y\",rule=\"a\\\\b\\n\"} 2\n"),
            std::string::npos)
      << text;
}

// The fixture's policy, its budget limited to `limit` (1 usd per million
// tokens both ways at the endpoint: 1 micro-usd per token).
std::string PipelinePolicy(const std::string& limit) {
  return R"(policy "t"
budget ws {
  key principal.workspace
  per day
  limit )" + limit + R"(
}
rule cards {
  when request.content matches dlp.credit_card
  redact dlp.credit_card as "[CARD]"
}
rule no {
  when request.content contains "forbidden"
  deny 403 "no"
}
)";
}

// The pipeline on a small policy and catalog, with a memory ledger and a
// real audit log.
class Pipeline : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testkit::MakeTempDir("gateway");
    WriteFile(dir_ + "/p.tg", PipelinePolicy("0.001 usd"));
    WriteFile(dir_ + "/c.json", testkit::CatalogJson(
                                {testkit::TestEndpoint("m/x@a", "a").Upstream("x-up").Price("1"),
                                 testkit::TestEndpoint("m/x@b", "b").Upstream("x-b").Price("2").ContextLength(50000)}));
    WriteFile(dir_ + "/k.json", testkit::OneKeyJson());
    cfg_ = testkit::DirConfig(dir_);
    std::string err;
    svc_ = Service::Create(cfg_, &err);
    ASSERT_TRUE(svc_) << err;
  }
  std::unique_ptr<Exchange> Start(const std::string& body) { return testkit::StartExchange(*svc_, body); }
  // Loads the fixture's policy with its budget limited to `micros`.
  void SetBudget(int64_t micros) {
    std::string err;
    ASSERT_TRUE(svc_->LoadSources({{"p.tg", PipelinePolicy(FormatMicros(micros) + " usd")}}, false, &err)) << err;
  }
  // The worst-case prompt of `body` at the fixture's endpoint: the prompt
  // part of its reservation, in micro-usd (1 per token).
  int64_t PromptBound(const std::string& body) {
    runtime::PromptShape shape;
    EXPECT_TRUE(runtime::MeasurePrompt(body, runtime::PromptSource::kBody, &shape));
    return runtime::WorstCasePromptTokens(shape, svc_->live()->catalog->endpoint(0));
  }
  ledger::CounterView Budget() {
    std::vector<ledger::CounterView> views;
    EXPECT_TRUE(svc_->ledger()->Snapshot(&views).ok);
    EXPECT_EQ(views.size(), 1u);
    return views.empty() ? ledger::CounterView{} : views[0];
  }
  std::string dir_;
  Config cfg_;
  std::unique_ptr<Service> svc_;
};

// Text the model reads outside the messages -- a tool's description and
// parameter schema, the prediction, a message's name, the response schema --
// is redacted in the body sent upstream, and a content rule sees it.
TEST_F(Pipeline, RedactsToolDefinitionsPredictionNamesAndResponseSchemaUpstream) {
  SetBudget(1000000);
  auto x = Start(R"({"model": "m/x", "max_tokens": 10,
      "messages": [{"role": "user", "content": "hi", "name": "4111 1111 1111 1111"}],
      "tools": [{"type": "function", "function": {"name": "f", "description": "customer card 4111 1111 1111 1111",
        "parameters": {"type": "object", "properties": {"c": {"type": "string", "enum": ["4111-1111-1111-1111"]}}}}}],
      "prediction": {"type": "content", "content": "card 4111 1111 1111 1111"},
      "response_format": {"type": "json_schema", "json_schema": {"name": "a", "description": "4111 1111 1111 1111",
        "schema": {"type": "object"}}}})");
  svc_->Decide(x.get());
  ASSERT_TRUE(x->allowed()) << svc_->ErrorJson(*x);
  std::string body, err;
  ASSERT_TRUE(svc_->UpstreamBody(*x, 0, &body, &err)) << err;
  EXPECT_EQ(body.find("4111"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("description":"customer card [CARD]")"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("enum":["[CARD]"])"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("name":"REDACTED_CARD")"), std::string::npos) << body;  // a name-safe placeholder
  EXPECT_NE(body.find(R"("content":"card [CARD]")"), std::string::npos) << body;
  svc_->Finish(x.get(), Outcome{});
  auto y = Start(R"({"model": "m/x", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}],
      "tools": [{"type": "function", "function": {"name": "f", "description": "a forbidden tool"}}]})");
  svc_->Decide(y.get());
  EXPECT_FALSE(y->allowed());
}

// Regression: the text of a content part other than its `text` (an
// Anthropic-style document, a tool_result) went upstream verbatim under a
// redaction rule, and no content rule saw it.
TEST_F(Pipeline, RedactsContentPartTextsUpstream) {
  SetBudget(1000000);
  auto x = Start(R"({"model": "m/x", "max_tokens": 10, "messages": [{"role": "user", "content": [
      {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "card 4111 1111 1111 1111"}},
      {"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": "paid 4111-1111-1111-1111"}]}]}]})");
  svc_->Decide(x.get());
  ASSERT_TRUE(x->allowed()) << svc_->ErrorJson(*x);
  std::string body, err;
  ASSERT_TRUE(svc_->UpstreamBody(*x, 0, &body, &err)) << err;
  EXPECT_EQ(body.find("4111"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("data":"card [CARD]")"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("text":"paid [CARD]")"), std::string::npos) << body;
  svc_->Finish(x.get(), Outcome{});
  auto y = Start(R"({"model": "m/x", "max_tokens": 10, "messages": [{"role": "user", "content": [
      {"type": "tool_result", "tool_use_id": "t", "content": "a forbidden result"}]}]})");
  svc_->Decide(y.get());
  EXPECT_FALSE(y->allowed());
}

// Members tollgate does not know but an upstream reads (vLLM's `documents`,
// a message's `reasoning_content`) or keeps (`metadata`) are redacted in the
// body sent upstream, and a content rule sees them.
TEST_F(Pipeline, RedactsUnknownMembersUpstream) {
  SetBudget(1000000);
  auto x = Start(R"({"model": "m/x", "max_tokens": 10,
      "messages": [{"role": "assistant", "content": "hi", "reasoning_content": "card 4111 1111 1111 1111"}],
      "documents": [{"title": "t", "text": "customer 4111-1111-1111-1111"}], "metadata": {"c": "4111 1111 1111 1111"}})");
  svc_->Decide(x.get());
  ASSERT_TRUE(x->allowed()) << svc_->ErrorJson(*x);
  std::string body, err;
  ASSERT_TRUE(svc_->UpstreamBody(*x, 0, &body, &err)) << err;
  EXPECT_EQ(body.find("4111"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("reasoning_content":"card [CARD]")"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("text":"customer [CARD]")"), std::string::npos) << body;
  svc_->Finish(x.get(), Outcome{});
  auto y = Start(R"({"model": "m/x", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}],
      "prompt": "a forbidden prompt"})");
  svc_->Decide(y.get());
  EXPECT_FALSE(y->allowed());
}

// Regression: a body of exactly limits.max_body_bytes was refused 400
// input_too_large: the principal and context the gateway wraps it in pushed
// the decision input over Limits::max_input_bytes, and the message counted
// bytes the client never sent.
TEST_F(Pipeline, ABodyWithinItsLimitIsNeverTooLarge) {
  SetBudget(1000000);
  const std::string head = R"({"model": "m/x", "max_tokens": 1, "messages": [{"role": "user", "content": ")";
  const std::string tail = R"("}]})";
  const size_t limit = cfg_.limits.max_body_bytes;
  const std::string body = head + std::string(limit - head.size() - tail.size(), 'a') + tail;
  ASSERT_EQ(body.size(), limit);
  auto x = Start(body);
  ASSERT_GT(x->input.size(), tollgate::Limits{}.max_input_bytes);
  svc_->Decide(x.get());
  EXPECT_FALSE(x->invalid) << x->input_error.code << ": " << x->input_error.message;
  svc_->Finish(x.get(), Outcome{});
  // Beyond the wrapped limit (a body the server would refuse 413 first), the
  // message says what it measured.
  const std::string big = head + std::string(limit + kMaxInputWrapperBytes, 'a') + tail;
  auto y = Start(big);
  svc_->Decide(y.get());
  ASSERT_TRUE(y->invalid);
  EXPECT_EQ(y->input_error.code, "input_too_large");
  EXPECT_NE(y->input_error.message.find("the request body of " + std::to_string(big.size()) + " bytes"),
            std::string::npos)
      << y->input_error.message;
  EXPECT_NE(y->input_error.message.find("limits.max_body_bytes + 1048576"), std::string::npos)
      << y->input_error.message;
}

TEST_F(Pipeline, RedactsRewritesAndStripsRoutingMembers) {
  auto x = Start(R"({"model": "m/x", "messages": [{"role": "user", "content": "card 4111 1111 1111 1111"}],
                    "max_tokens": 10, "temperature": 0.70, "seed": 12345678901234567890, "stream": true,
                    "provider": {"sort": "price"}, "models": ["m/x"], "stream_options": {"include_usage": false}})");
  svc_->Decide(x.get());
  ASSERT_TRUE(x->allowed()) << svc_->ErrorJson(*x);
  EXPECT_TRUE(x->stream);
  std::string body, err;
  ASSERT_TRUE(svc_->UpstreamBody(*x, 0, &body, &err)) << err;
  EXPECT_NE(body.find("[CARD]"), std::string::npos) << body;
  EXPECT_EQ(body.find("4111"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("model":"x-up")"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("temperature":0.7)"), std::string::npos) << body;
  EXPECT_NE(body.find("12345678901234567890"), std::string::npos) << body;
  EXPECT_EQ(body.find("provider"), std::string::npos) << body;
  EXPECT_EQ(body.find(R"("models")"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("stream_options":{"include_usage":true})"), std::string::npos) << body;
  svc_->Finish(x.get(), Outcome{});
  // A stream keeps the caller's other stream_options members, include_usage
  // set; one that is not an object is replaced; without a stream it goes.
  const std::pair<const char*, const char*> options[] = {
      {R"("stream": true, "stream_options": {"include_obfuscation": false, "include_usage": false, "x": {"include_usage": 1}})",
       R"("stream_options":{"include_obfuscation":false,"x":{"include_usage":1},"include_usage":true})"},
      {R"("stream": true, "stream_options": null)", R"(,"stream_options":{"include_usage":true}})"},
      {R"("stream": true, "stream_options": [1, {"a": 2}])", R"(,"stream_options":{"include_usage":true}})"},
      {R"("stream": true, "stream_options": {})", R"("stream_options":{"include_usage":true})"},
  };
  for (const auto& [members, want] : options) {
    auto o = Start(std::string(R"({"model": "m/x", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1, )") +
                   members + "}");
    svc_->Decide(o.get());
    ASSERT_TRUE(o->allowed()) << svc_->ErrorJson(*o);
    ASSERT_TRUE(svc_->UpstreamBody(*o, 0, &body, &err)) << err;
    EXPECT_NE(body.find(want), std::string::npos) << members << " -> " << body;
    EXPECT_EQ(body.find("stream_options"), body.rfind("stream_options")) << body;
    svc_->Finish(o.get(), Outcome{});
  }
  auto plain = Start(R"({"model": "m/x", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1,
                        "stream_options": {"include_usage": true}})");
  svc_->Decide(plain.get());
  ASSERT_TRUE(plain->allowed()) << svc_->ErrorJson(*plain);
  ASSERT_TRUE(svc_->UpstreamBody(*plain, 0, &body, &err)) << err;
  EXPECT_EQ(body.find("stream_options"), std::string::npos) << body;
  svc_->Finish(plain.get(), Outcome{});
  // Without redactions the body's numbers are copied as written.
  auto y = Start(R"({"model": "m/x", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.70,
                    "max_tokens": 1e1})");
  svc_->Decide(y.get());
  ASSERT_TRUE(y->allowed()) << svc_->ErrorJson(*y);
  ASSERT_TRUE(svc_->UpstreamBody(*y, 0, &body, &err)) << err;
  EXPECT_EQ(body, R"({"model":"x-up","messages":[{"role":"user","content":"hi"}],"temperature":0.70,"max_tokens":1e1})");
  svc_->Finish(y.get(), Outcome{});
}

TEST_F(Pipeline, DenyIsRecordedWithItsRule) {
  auto x = Start(R"({"model": "m/x", "messages": [{"role": "user", "content": "forbidden"}]})");
  svc_->Decide(x.get());
  ASSERT_FALSE(x->allowed());
  EXPECT_EQ(svc_->Status(*x), 403);
  Outcome o;
  o.http_status = 403;
  uint64_t seq = svc_->Finish(x.get(), o);
  EXPECT_GT(seq, 0u);
  EXPECT_EQ(x->decision_id.size(), 26u);
  std::string e = svc_->ErrorJson(*x);
  EXPECT_NE(e.find(R"("rule":"no")"), std::string::npos) << e;
  EXPECT_NE(e.find(x->decision_id), std::string::npos) << e;
}

TEST_F(Pipeline, BudgetIsReservedThenSettledAtTheRealUsage) {
  // Reserved: the worst-case prompt + max_tokens 40, at 1 micro per token.
  std::string req = R"({"model": "m/x", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 40})";
  const int64_t worst = PromptBound(req) + 40;
  SetBudget(worst + 45);  // room for one settled request (30) and one reservation
  int admitted = 0;
  for (int i = 0; i < 5; ++i) {
    auto x = Start(req);
    svc_->Decide(x.get());
    if (!x->allowed()) {
      EXPECT_EQ(svc_->Status(*x), 403);
      EXPECT_EQ(x->s.decision.code, "budget_exceeded");
      continue;
    }
    ++admitted;
    EXPECT_TRUE(x->reserved);
    EXPECT_EQ(Budget().reserved, worst);
    Outcome o;
    o.http_status = 200;
    o.started = true;
    o.prompt_tokens = 5;
    o.completion_tokens = 25;  // 30 micros
    svc_->Finish(x.get(), o);
  }
  // 30 settled per request, `worst` reserved each -> two fit, the third
  // would reach 60 + worst > the budget.
  EXPECT_EQ(admitted, 2);
  EXPECT_EQ(Budget().spent, 60);
  EXPECT_EQ(Budget().reserved, 0);
}

// `n` completions are reserved as n: max_tokens x n at 1 usd/Mtok. The
// upstream's usage (every completion) is what settles.
TEST_F(Pipeline, NCompletionsAreReservedNTimesAndSettledAtTheRealUsage) {
  auto body = [](int n) {
    return R"({"model": "m/x", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 30, "n": )" +
           std::to_string(n) + "}";
  };
  const int64_t in = PromptBound(body(1));  // the same for every one-digit n
  ASSERT_EQ(PromptBound(body(2)), in);
  SetBudget(in + 100);
  Outcome released;
  released.http_status = 502;
  auto one = Start(body(1));
  svc_->Decide(one.get());
  ASSERT_TRUE(one->allowed()) << svc_->ErrorJson(*one);
  EXPECT_EQ(Budget().reserved, in + 30);
  const int64_t estimate = one->s.route.endpoints[0].estimated_cost;  // the router's: input estimate + 30
  EXPECT_LT(estimate, in + 30);
  svc_->Finish(one.get(), released);
  EXPECT_EQ(Budget().reserved, 0);
  auto two = Start(body(2));
  svc_->Decide(two.get());
  ASSERT_TRUE(two->allowed()) << svc_->ErrorJson(*two);
  EXPECT_EQ(two->s.route.endpoints[0].estimated_cost, estimate + 30);
  EXPECT_EQ(Budget().reserved, in + 60);
  std::string up, err;
  ASSERT_TRUE(svc_->UpstreamBody(*two, 0, &up, &err)) << err;
  EXPECT_NE(up.find(R"("n":2)"), std::string::npos) << up;  // the upstream is asked for both
  Outcome o;
  o.http_status = 200;
  o.started = true;
  o.prompt_tokens = 5;
  o.completion_tokens = 50;  // both completions: 55 micros
  svc_->Finish(two.get(), o);
  EXPECT_EQ(Budget().spent, 55);
  EXPECT_EQ(Budget().reserved, 0);
  // in + 45 left: n = 1 (in + 30) still fits, n = 2 (in + 60) no longer does.
  auto over = Start(body(2));
  svc_->Decide(over.get());
  ASSERT_FALSE(over->allowed());
  EXPECT_EQ(svc_->Status(*over), 403);
  EXPECT_EQ(over->s.decision.code, "budget_exceeded");
  svc_->Finish(over.get(), Outcome{});
  auto last = Start(body(1));
  svc_->Decide(last.get());
  EXPECT_TRUE(last->allowed()) << svc_->ErrorJson(*last);
  svc_->Finish(last.get(), released);
  // max_tokens x n beyond int64: the worst case saturates and no budget admits it.
  auto huge = Start(R"({"model": "m/x", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 30,
                       "n": 9223372036854775807})");
  svc_->Decide(huge.get());
  ASSERT_FALSE(huge->allowed());
  EXPECT_EQ(huge->s.decision.code, "budget_exceeded");
  EXPECT_EQ(huge->s.route.endpoints[0].estimated_cost, INT64_MAX);
  svc_->Finish(huge.get(), Outcome{});
  EXPECT_EQ(Budget().spent, 55);
  EXPECT_EQ(Budget().reserved, 0);
}

// The overshoot the estimate allowed: a budget nearly exhausted, prompts of
// 4 KB of digits (the estimate, (bytes + 3) / 4, says 1,024 tokens) with
// max_tokens 1, and an upstream that bills one token per digit (4,096).
// Admitted together before any settles (as concurrent requests are), the
// estimate let four in against 5,000 micros and they settled 16,388. The
// reservation is now an upper bound: only what can be billed in full is
// admitted, and the settled spend never exceeds the limit.
TEST_F(Pipeline, ConcurrentBigPromptsNeverOvershootTheBudget) {
  constexpr int64_t kLimit = 5000;
  SetBudget(kLimit);
  const std::string body = R"({"model": "m/x", "messages": [{"role": "user", "content": ")" +
                           std::string(4096, '7') + R"("}], "max_tokens": 1})";
  std::vector<std::unique_ptr<Exchange>> in_flight;
  int refused = 0;
  for (int i = 0; i < 8; ++i) {  // every request decided before any answer
    auto x = Start(body);
    svc_->Decide(x.get());
    if (x->allowed()) {
      EXPECT_GE(x->s.route.endpoints[0].estimated_cost, 1025);  // the router's estimate is unchanged
      in_flight.push_back(std::move(x));
      continue;
    }
    ++refused;
    EXPECT_EQ(svc_->Status(*x), 403);
    EXPECT_EQ(x->s.decision.code, "budget_exceeded");
    svc_->Finish(x.get(), Outcome{});
  }
  EXPECT_EQ(in_flight.size(), 1u);
  EXPECT_EQ(refused, 7);
  EXPECT_LE(Budget().reserved, kLimit);
  for (auto& x : in_flight) {
    Outcome o;
    o.http_status = 200;
    o.started = true;
    o.prompt_tokens = 4096;  // what the upstream billed
    o.completion_tokens = 1;
    svc_->Finish(x.get(), o);
  }
  EXPECT_EQ(Budget().spent, 4097 * static_cast<int64_t>(in_flight.size()));
  EXPECT_LE(Budget().spent, kLimit);
  EXPECT_EQ(Budget().reserved, 0);
  // What is left (903 micros) cannot hold another: refused, not overspent.
  auto x = Start(body);
  svc_->Decide(x.get());
  EXPECT_EQ(x->s.decision.code, "budget_exceeded");
  svc_->Finish(x.get(), Outcome{});
  // A worst case larger than the whole budget is refused outright (403),
  // even with nothing spent.
  SetBudget(PromptBound(body));  // one micro short of prompt + 1 completion token
  auto y = Start(body);
  svc_->Decide(y.get());
  EXPECT_EQ(svc_->Status(*y), 403);
  EXPECT_EQ(y->s.decision.code, "budget_exceeded");
  svc_->Finish(y.get(), Outcome{});
}

// The same with threads: requests decided and answered concurrently, each
// billed 4,096 prompt tokens; the spend never passes the limit.
TEST_F(Pipeline, ThreadsBilledAtOneTokenPerByteNeverOvershoot) {
  constexpr int64_t kLimit = 20'000;
  SetBudget(kLimit);
  const std::string body = R"({"model": "m/x", "messages": [{"role": "user", "content": ")" +
                           std::string(4096, '1') + R"("}], "max_tokens": 1})";
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        auto x = Start(body);
        svc_->Decide(x.get());
        Outcome o;
        if (x->allowed()) {
          ++admitted;
          o.http_status = 200;
          o.started = true;
          o.prompt_tokens = 4096;
          o.completion_tokens = 1;
        }
        svc_->Finish(x.get(), o);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_GE(admitted.load(), 1);
  EXPECT_EQ(Budget().spent, 4097 * static_cast<int64_t>(admitted.load()));
  EXPECT_LE(Budget().spent, kLimit);
  EXPECT_EQ(Budget().reserved, 0);
}

// A redaction may lengthen the text (a short match, a long replacement):
// the reservation bounds the body as sent upstream, redactions applied.
TEST_F(Pipeline, RedactionsThatLengthenTheTextAreReserved) {
  std::string err;
  ASSERT_TRUE(svc_->LoadSources({{"p.tg", PipelinePolicy("1 usd") + R"(
rule digits {
  when request.content contains "7"
  redact "7" as "<a digit was removed here by the gateway>"
}
)"}}, false, &err)) << err;
  const std::string body = R"({"model": "m/x", "messages": [{"role": "user", "content": ")" +
                           std::string(200, '7') + R"("}], "max_tokens": 1})";
  auto x = Start(body);
  svc_->Decide(x.get());
  ASSERT_TRUE(x->allowed()) << svc_->ErrorJson(*x);
  std::string up;
  ASSERT_TRUE(svc_->UpstreamBody(*x, 0, &up, &err)) << err;
  EXPECT_GT(up.size(), 200u * 40);  // the text sent is 40 times what was received
  EXPECT_GE(Budget().reserved, static_cast<int64_t>(up.size()) - 20);  // up to `"model":"x-up",`
  EXPECT_GT(Budget().reserved, PromptBound(body) + 1);
  EXPECT_EQ(Budget().reserved, PromptBound(up) + 1);
  svc_->Finish(x.get(), Outcome{});
}

// An answer of unknown size (cut, too large, or with neither usage nor text)
// is charged what the request could be billed for at most, never as if no
// completion had been generated; an unknown prompt likewise at its
// worst-case bound (never the estimate); the rate-limit tokens count the same.
TEST_F(Pipeline, UnknownCompletionIsChargedTheWorstCase) {
  const std::string body = R"({"model": "m/x", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 20, "n": 2})";
  auto x = Start(body);
  svc_->Decide(x.get());
  ASSERT_TRUE(x->allowed()) << svc_->ErrorJson(*x);
  const int64_t worst = PromptBound(body) + 40;  // prompt bound + 2 x 20, 1 micro per token
  EXPECT_EQ(Budget().reserved, worst);
  EXPECT_LT(x->s.route.endpoints[0].estimated_cost, worst);  // the estimate is less
  Outcome o;
  o.http_status = 502;
  o.started = true;  // the upstream may have done the work
  o.usage_estimated = true;
  svc_->Finish(x.get(), o);
  EXPECT_EQ(Budget().spent, worst);
  EXPECT_EQ(x->cost, worst);
  EXPECT_EQ(Budget().reserved, 0);
  // A completion reported without a prompt: the prompt at its bound.
  auto y = Start(body);
  svc_->Decide(y.get());
  ASSERT_TRUE(y->allowed()) << svc_->ErrorJson(*y);
  o.completion_tokens = 3;
  svc_->Finish(y.get(), o);
  EXPECT_EQ(y->cost, PromptBound(body) + 3);
}

// A fallback moves the reservation to the next endpoint's worst case: its
// prices and its context length (here the cap of a file's prompt).
TEST_F(Pipeline, FallbackMovesTheReservationToTheNextEndpointsBound) {
  SetBudget(1'000'000);
  const std::string body = R"({"model": "m/x", "messages": [{"role": "user", "content": [
      {"type": "text", "text": "summarise"}, {"type": "file", "file": {"file_id": "file-1"}}]}], "max_tokens": 10})";
  auto x = Start(body);
  svc_->Decide(x.get());
  ASSERT_TRUE(x->allowed()) << svc_->ErrorJson(*x);
  ASSERT_EQ(x->s.route.endpoints.size(), 2u);
  ASSERT_EQ(svc_->live()->catalog->endpoint(x->s.route.endpoints[0].endpoint).id, "m/x@a");
  EXPECT_EQ(Budget().reserved, 100'000 + 10);  // the context length of @a + max_tokens, 1 micro each
  ASSERT_TRUE(svc_->MoveTo(x.get(), 1));
  EXPECT_EQ(Budget().reserved, 2 * (50'000 + 10));  // @b: its context length, 2 micros each
  Outcome o;
  o.http_status = 200;
  o.started = true;
  o.prompt_tokens = 700;
  o.completion_tokens = 10;
  svc_->Finish(x.get(), o);
  EXPECT_EQ(Budget().spent, 2 * 710);
  EXPECT_EQ(Budget().reserved, 0);
}

TEST_F(Pipeline, FailedUpstreamReleasesTheReservation) {
  auto x = Start(R"({"model": "m/x", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 40})");
  svc_->Decide(x.get());
  ASSERT_TRUE(x->allowed());
  Outcome o;
  o.http_status = 502;
  o.started = false;
  svc_->Finish(x.get(), o);
  std::vector<ledger::CounterView> views;
  ASSERT_TRUE(svc_->ledger()->Snapshot(&views).ok);
  ASSERT_EQ(views.size(), 1u);
  EXPECT_EQ(views[0].spent, 0);
  EXPECT_EQ(views[0].reserved, 0);
}

TEST_F(Pipeline, ShadowDifferencesAreCountedNotEnforced) {
  std::string err;
  ASSERT_TRUE(svc_->LoadSources({{"s.tg", "policy \"t\"\nrule everything { deny 451 \"shadow\" }\n"}}, true, &err)) << err;
  auto x = Start(R"({"model": "m/x", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4})");
  x->shadow = svc_->shadow();
  svc_->Decide(x.get());
  EXPECT_TRUE(x->allowed());
  EXPECT_NE(x->shadow_json.find(R"("differences":["outcome","status","route"])"), std::string::npos)
      << x->shadow_json;
  std::string m = svc_->metrics().Render("", "");
  EXPECT_NE(m.find(R"(tollgate_shadow_differences_total{kind="outcome",rule="everything"} 1)"), std::string::npos) << m;
  Outcome o;
  svc_->Finish(x.get(), o);
  ASSERT_TRUE(svc_->Promote(&err));
  EXPECT_EQ(svc_->shadow(), nullptr);
  EXPECT_FALSE(svc_->Promote(&err));
}

TEST_F(Pipeline, RefusedPolicyKeepsTheLiveVersion) {
  std::string before = svc_->live()->version, err;
  EXPECT_FALSE(svc_->LoadSources({{"bad.tg", "policy \"t\"\nrule r { when request.nope deny 403 \"x\" }\n"}},
                                 false, &err));
  EXPECT_NE(err.find("bad.tg:2:"), std::string::npos) << err;
  EXPECT_EQ(svc_->live()->version, before);
}

// Service tiers: a priority / flex endpoint shares the standard one's
// upstream, so the body it is sent must ask for its tier (what the decision
// and the budget charge); a fallback to another endpoint carries that
// endpoint's members, not the previous one's. A caller's own service_tier
// routes to that tier only and is charged at its price.
class TierPipeline : public Pipeline {
 protected:
  void SetUp() override {
    Pipeline::SetUp();
    if (HasFatalFailure()) return;
    auto ep = [](const char* id, const char* provider, const char* tier, const char* price,
                 const char* body) {
      return std::string(R"({"id": ")") + id + R"(", "model": "m/x", "provider": ")" + provider +
             R"(", "tier": ")" + tier + R"(",
        "upstream": {"base_url": "http://127.0.0.1:9/v1", "auth": {"type": "none"}, "model": "x-up")" +
             body + R"(},
        "pricing": {"input_per_mtok": ")" + price + R"(", "output_per_mtok": ")" + price + R"("},
        "context_length": 100000, "max_output_tokens": 100, "jurisdiction": "US", "region": "r",
        "zdr": false, "trains_on_data": false, "data_collection": "deny", "retention_days": 1,
        "observed": {"latency_p50": 0.5, "throughput": 50, "uptime": 0.99}})";
    };
    WriteFile(cfg_.catalog, "{\"endpoints\": [" + ep("m/x@std", "oa", "standard", "2", "") + ", " +
                            ep("m/x@flex", "oa/flex", "flex", "1", "") + ", " +
                            ep("m/x@prio", "oa/priority", "priority", "4",
                               R"(, "body": {"store": false, "metadata": {"via": "tollgate"}})") +
                            "]}");
    std::string err;
    ASSERT_TRUE(svc_->ReloadFromDisk(&err)) << err;
    SetBudget(1'000'000);
  }
  std::string Body(const Exchange& x, size_t attempt) {
    std::string body, err;
    EXPECT_TRUE(svc_->UpstreamBody(x, attempt, &body, &err)) << err;
    return body;
  }
  const runtime::Endpoint& At(const Exchange& x, size_t attempt) {
    return svc_->live()->catalog->endpoint(x.s.route.endpoints[attempt].endpoint);
  }
  // Settles 5 prompt + 25 completion tokens; returns the cost charged.
  int64_t Settle(Exchange* x) {
    Outcome o;
    o.http_status = 200;
    o.started = true;
    o.prompt_tokens = 5;
    o.completion_tokens = 25;
    svc_->Finish(x, o);
    return x->cost;
  }
  static size_t Count(const std::string& s, const std::string& what) {
    size_t n = 0;
    for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
    return n;
  }
};

TEST_F(TierPipeline, FlexEndpointAsksForFlexAndItsFallbackDoesNot) {
  auto x = Start(R"({"model": "m/x:floor", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 30,
                    "service_tier": "auto"})");
  svc_->Decide(x.get());
  ASSERT_TRUE(x->allowed()) << svc_->ErrorJson(*x);
  ASSERT_EQ(x->s.route.endpoints.size(), 2u);
  ASSERT_EQ(At(*x, 0).id, "m/x@flex");
  ASSERT_EQ(At(*x, 1).id, "m/x@std");
  const std::string flex = Body(*x, 0);
  EXPECT_NE(flex.find(R"("service_tier":"flex")"), std::string::npos) << flex;
  EXPECT_EQ(Count(flex, "service_tier"), 1u) << flex;  // the caller's "auto" is replaced
  ASSERT_TRUE(svc_->MoveTo(x.get(), 1));
  const std::string fallback = Body(*x, 1);
  EXPECT_EQ(fallback.find("flex"), std::string::npos) << fallback;
  EXPECT_NE(fallback.find(R"("service_tier":"auto")"), std::string::npos) << fallback;  // the caller's
  EXPECT_EQ(Settle(x.get()), 30 * 2);  // settled at the standard price it fell back to
}

TEST_F(TierPipeline, CallersServiceTierIsRoutedAndChargedAtThatTier) {
  const std::string msg = R"("messages": [{"role": "user", "content": "hi"}], "max_tokens": 30)";
  auto std_ = Start(R"({"model": "m/x", )" + msg + "}");
  svc_->Decide(std_.get());
  ASSERT_TRUE(std_->allowed()) << svc_->ErrorJson(*std_);
  ASSERT_EQ(std_->s.route.endpoints.size(), 1u);
  EXPECT_EQ(Body(*std_, 0).find("service_tier"), std::string::npos);
  EXPECT_EQ(Settle(std_.get()), 30 * 2);

  auto prio = Start(R"({"model": "m/x", "service_tier": "priority", "store": true, )" + msg + "}");
  svc_->Decide(prio.get());
  ASSERT_TRUE(prio->allowed()) << svc_->ErrorJson(*prio);
  ASSERT_EQ(prio->s.route.endpoints.size(), 1u);  // no fallback to a cheaper tier
  EXPECT_EQ(At(*prio, 0).id, "m/x@prio");
  const std::string up = Body(*prio, 0);
  EXPECT_EQ(Count(up, R"("service_tier":"priority")"), 1u) << up;
  EXPECT_EQ(Count(up, R"("store":false)"), 1u) << up;  // the catalog's member wins
  EXPECT_EQ(up.find(R"("store":true)"), std::string::npos) << up;
  EXPECT_NE(up.find(R"("metadata":{"via":"tollgate"})"), std::string::npos) << up;
  EXPECT_EQ(Settle(prio.get()), 30 * 4);

  auto flex = Start(R"({"model": "m/x", "service_tier": "flex", )" + msg + "}");
  svc_->Decide(flex.get());
  ASSERT_TRUE(flex->allowed()) << svc_->ErrorJson(*flex);
  ASSERT_EQ(flex->s.route.endpoints.size(), 1u);
  EXPECT_NE(Body(*flex, 0).find(R"("service_tier":"flex")"), std::string::npos);
  EXPECT_EQ(Settle(flex.get()), 30 * 1);
  EXPECT_EQ(Budget().spent, 30 * (2 + 4 + 1));

  // A tier the catalog does not price is refused before anything is reserved.
  auto scale = Start(R"({"model": "m/x", "service_tier": "scale", )" + msg + "}");
  svc_->Decide(scale.get());
  ASSERT_FALSE(scale->allowed());
  EXPECT_EQ(svc_->Status(*scale), 400);
  EXPECT_EQ(scale->s.decision.code, "route_invalid_preference");
  EXPECT_FALSE(scale->reserved);
  svc_->Finish(scale.get(), Outcome{});
  EXPECT_EQ(Budget().reserved, 0);
}

// The catalog's members count in the worst-case prompt the budget reserves.
TEST_F(TierPipeline, UpstreamBodyBytesAreInTheReservation) {
  runtime::PromptShape shape;
  ASSERT_TRUE(runtime::MeasurePrompt(R"({"model": "m/x", "messages": [{"role": "user", "content": "hi"}]})",
                                     runtime::PromptSource::kBody, &shape));
  const runtime::Catalog& cat = *svc_->live()->catalog;
  const int64_t plain = runtime::WorstCasePromptTokens(shape, cat.endpoint(0));
  EXPECT_EQ(runtime::WorstCasePromptTokens(shape, cat.endpoint(1)),
            plain + static_cast<int64_t>(std::string(R"(,"service_tier":"flex")").size()));
  EXPECT_EQ(runtime::WorstCasePromptTokens(shape, cat.endpoint(2)),
            plain + static_cast<int64_t>(std::string(
                        R"(,"store":false,"metadata":{"via":"tollgate"},"service_tier":"priority")").size()));
}

}  // namespace
}  // namespace tollgate::gateway
