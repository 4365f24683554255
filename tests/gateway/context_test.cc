// The decision context under `tollgate serve` (runtime/gateway/context.h):
// key defaults and pins (keys file), x-tollgate-* headers, context.ip, and
// the shipped policies/example.tg's context rules firing on chat requests.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "engine/core/sha256.h"
#include "runtime/audit/replay.h"
#include "runtime/gateway/context.h"
#include "runtime/gateway/server.h"
#include "runtime/gateway/service.h"
#include "tests/gateway/gateway_helpers.h"

namespace tollgate::gateway {
namespace {

namespace fs = std::filesystem;
namespace http = boost::beast::http;

std::string KeysJson(const std::string& entries) { return R"({"keys": [)" + entries + "]}"; }

std::string Entry(const std::string& id, const std::string& extra = "") {
  return R"({"id": ")" + id + R"(", "sha256": ")" + Sha256Hex("sk-" + id) + R"(", "workspace": "acme-batch")" +
         extra + "}";
}

// --- the keys file ---------------------------------------------------------

TEST(KeyContext, DefaultsAndPinsAreReadAndKeptOutOfThePrincipal) {
  KeyStore ks;
  std::string err;
  ASSERT_TRUE(KeyStore::Load(KeysJson(Entry("batch", R"(, "user": "u-7",
      "context": {"data_class": "internal", "tags": ["batch", "nightly"], "environment": "production",
                  "project": "x"},
      "pin": ["data_class", "tags"])")), &ks, &err)) << err;
  const Identity* who = ks.Find("sk-batch");
  ASSERT_NE(who, nullptr);
  EXPECT_EQ(who->principal_json, R"({"key_id":"batch","workspace":"acme-batch","user":"u-7"})");
  EXPECT_EQ(who->context_json,
            R"({"data_class":"internal","tags":["batch","nightly"],"environment":"production","project":"x"})");
  EXPECT_TRUE(who->context.pin_data_class);
  EXPECT_TRUE(who->context.pin_tags);
  EXPECT_FALSE(who->context.pin_environment);
  std::string input;
  BuildInput(*who, R"({"model":"m"})", &input);
  EXPECT_EQ(input, R"({"principal":{"key_id":"batch","workspace":"acme-batch","user":"u-7"},)"
                   R"("context":{"data_class":"internal","tags":["batch","nightly"],"environment":"production","project":"x"},)"
                   R"("request":{"model":"m"}})");
}

TEST(KeyContext, AKeyWithoutContextAddsNone) {
  KeyStore ks;
  std::string err;
  ASSERT_TRUE(KeyStore::Load(KeysJson(Entry("plain")), &ks, &err)) << err;
  std::string input;
  BuildInput(*ks.Find("sk-plain"), R"({"model":"m"})", &input);
  EXPECT_EQ(input, R"({"principal":{"key_id":"plain","workspace":"acme-batch"},"request":{"model":"m"}})");
}

TEST(KeyContext, BadContextsAreRefusedAtLoadNamingTheKey) {
  const std::map<std::string, std::string> cases = {
      {R"(, "context": "internal")", "key 0 (`k`): `context` must be an object"},
      {R"(, "context": {"time": "2026-01-01T00:00:00Z"})", "key 0 (`k`): `context.time` is set by the gateway (its clock)"},
      {R"(, "context": {"ip": "10.0.0.1"})", "key 0 (`k`): `context.ip` is set by the gateway (the client's address)"},
      {R"(, "context": {"data_class": ""})", "key 0 (`k`): `context.data_class` must be a non-empty string"},
      {R"(, "context": {"data_class": 3})", "key 0 (`k`): `context.data_class` must be a non-empty string"},
      {R"(, "context": {"environment": " prod"})", "key 0 (`k`): `context.environment` must be a non-empty string"},
      {R"(, "context": {"tags": "batch"})", "key 0 (`k`): `context.tags` must be an array of strings"},
      {R"(, "context": {"tags": ["a,b"]})", "key 0 (`k`): `context.tags` must hold non-empty strings without commas"},
      {R"(, "pin": "data_class")", "key 0 (`k`): `pin` must be an array"},
      {R"(, "pin": ["time"])", "key 0 (`k`): `pin` may list only \"data_class\", \"environment\" and \"tags\", not `time`"},
  };
  for (const auto& [extra, want] : cases) {
    KeyStore ks;
    std::string err;
    EXPECT_FALSE(KeyStore::Load(KeysJson(Entry("k", extra)), &ks, &err)) << extra;
    EXPECT_EQ(err.rfind(want, 0), 0u) << extra << "\n  got: " << err;
  }
}

// --- headers ---------------------------------------------------------------

class Compose : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string err;
    ASSERT_TRUE(KeyStore::Load(KeysJson(Entry("plain") + "," +
                                        Entry("conf", R"(, "context": {"data_class": "internal", "tags": ["batch"]})") + "," +
                                        Entry("pinned", R"(, "context": {"data_class": "confidential", "tags": ["batch"]},
                                                           "pin": ["data_class", "tags", "environment"])")),
                               &keys_, &err)) << err;
  }
  std::string Ok(const char* key, const ContextHeaders& h, const std::string* ip = nullptr) {
    std::string json;
    runtime::InputError err;
    EXPECT_TRUE(ComposeContext(*keys_.Find(key), h, ip, &json, &err)) << err.code << ": " << err.message;
    return json;
  }
  runtime::InputError Refused(const char* key, const ContextHeaders& h) {
    std::string json;
    runtime::InputError err;
    EXPECT_FALSE(ComposeContext(*keys_.Find(key), h, nullptr, &json, &err)) << json;
    return err;
  }
  KeyStore keys_;
};

TEST_F(Compose, HeadersFillTheContext) {
  ContextHeaders h;
  h.data_class = {"confidential"};
  h.environment = {" staging "};
  h.tags = {"batch, nightly", "eval"};  // two lines: one list
  const std::string ip = "10.1.2.3";
  EXPECT_EQ(Ok("sk-plain", h, &ip),
            R"({"data_class":"confidential","tags":["batch","nightly","eval"],"environment":"staging","ip":"10.1.2.3"})");
  EXPECT_EQ(Ok("sk-plain", {}), "");  // nothing at all: no context member
}

TEST_F(Compose, AHeaderReplacesAnUnpinnedDefaultAndTagsAreAdded) {
  ContextHeaders h;
  h.data_class = {"public"};
  h.tags = {"batch,eval"};
  EXPECT_EQ(Ok("sk-conf", h), R"({"data_class":"public","tags":["batch","eval"]})");
  EXPECT_EQ(Ok("sk-conf", {}), R"({"data_class":"internal","tags":["batch"]})");
}

TEST_F(Compose, APinnedValueCannotChange) {
  ContextHeaders h;
  h.data_class = {"public"};
  runtime::InputError e = Refused("sk-pinned", h);
  EXPECT_EQ(e.code, "context_pinned");
  EXPECT_EQ(e.path, "context.data_class");
  EXPECT_EQ(e.message, "the API key pins `context.data_class` to `confidential`; `x-tollgate-data-class` cannot change it");
  h.data_class = {"confidential"};  // the same value: accepted
  h.tags = {"batch"};               // a tag the key has: accepted
  EXPECT_EQ(Ok("sk-pinned", h), R"({"data_class":"confidential","tags":["batch"]})");
  h.tags = {"batch, cheap"};
  e = Refused("sk-pinned", h);
  EXPECT_EQ(e.code, "context_pinned");
  EXPECT_EQ(e.message, "the API key pins `context.tags`; `x-tollgate-tags` cannot add `cheap`");
  ContextHeaders env;
  env.environment = {"dev"};  // pinned with no value: the caller cannot set one
  e = Refused("sk-pinned", env);
  EXPECT_EQ(e.code, "context_pinned");
  EXPECT_EQ(e.path, "context.environment");
}

// The decoder lower-cases data_class and tags, so a header that differs from
// the pinned value only in case is the same value, not a refusal.
TEST_F(Compose, APinnedValueIsComparedAsThePolicyReadsIt) {
  ContextHeaders h;
  h.data_class = {"Confidential"};
  h.tags = {"BATCH"};
  EXPECT_EQ(Ok("sk-pinned", h), R"({"data_class":"Confidential","tags":["batch"]})");
  h.data_class = {"Public"};
  EXPECT_EQ(Refused("sk-pinned", h).code, "context_pinned");
}

TEST_F(Compose, BadHeaderValuesAreRefused) {
  struct Case {
    ContextHeaders h;
    std::string path, message;
  };
  std::vector<Case> cases(6);
  cases[0].h.data_class = {""};
  cases[0].path = "context.data_class", cases[0].message = "`x-tollgate-data-class` is empty";
  cases[1].h.data_class = {"public", "confidential"};
  cases[1].path = "context.data_class", cases[1].message = "`x-tollgate-data-class` is given more than once";
  cases[2].h.environment = {"pr\xff" "od"};
  cases[2].path = "context.environment", cases[2].message = "`x-tollgate-environment` is not valid UTF-8: `pr\\xffod`";
  cases[3].h.tags = {"a,,b"};
  cases[3].path = "context.tags";
  cases[3].message = "`x-tollgate-tags` must be a comma-separated list of non-empty tags, got `a,,b`";
  cases[4].h.tags = {"a,"};
  cases[4].path = "context.tags";
  cases[4].message = "`x-tollgate-tags` must be a comma-separated list of non-empty tags, got `a,`";
  cases[5].h.tags = {"\xc3"};
  cases[5].path = "context.tags", cases[5].message = "`x-tollgate-tags` is not valid UTF-8: `\\xc3`";
  for (const Case& c : cases) {
    runtime::InputError e = Refused("sk-plain", c.h);
    EXPECT_EQ(e.code, "input_invalid_header");
    EXPECT_EQ(e.path, c.path);
    EXPECT_EQ(e.message, c.message);
  }
}

// --- the client's address --------------------------------------------------

TEST(ClientAddress, ForwardedForOnlyFromTrustedProxies) {
  TrustedProxies none;
  EXPECT_EQ(ClientIp("10.0.0.5", {"203.0.113.7"}, none), "10.0.0.5");
  EXPECT_EQ(ClientIp("::ffff:10.0.0.5", {}, none), "10.0.0.5");
  TrustedProxies t;
  std::string err;
  ASSERT_TRUE(TrustedProxies::Parse({"10.0.0.0/8", "::1", "fd00::/8"}, &t, &err)) << err;
  EXPECT_TRUE(t.Contains("10.200.1.1"));
  EXPECT_TRUE(t.Contains("::ffff:10.1.1.1"));
  EXPECT_FALSE(t.Contains("11.0.0.1"));
  EXPECT_TRUE(t.Contains("fd12::1"));
  EXPECT_FALSE(t.Contains("fe80::1"));
  // From the right, past trusted hops; a client cannot hide behind a forged left part.
  EXPECT_EQ(ClientIp("10.0.0.5", {"198.51.100.1, 203.0.113.7, 10.0.0.9"}, t), "203.0.113.7");
  EXPECT_EQ(ClientIp("10.0.0.5", {"198.51.100.1", "203.0.113.7"}, t), "203.0.113.7");
  EXPECT_EQ(ClientIp("::1", {"2001:db8::5"}, t), "2001:db8::5");
  EXPECT_EQ(ClientIp("10.0.0.5", {"10.0.0.7, 10.0.0.8"}, t), "10.0.0.7");  // all trusted: the left-most
  EXPECT_EQ(ClientIp("10.0.0.5", {"unknown, 10.0.0.8"}, t), "10.0.0.8");   // garbage ends the walk
  EXPECT_EQ(ClientIp("192.0.2.1", {"203.0.113.7"}, t), "192.0.2.1");      // an untrusted peer's header is ignored
  EXPECT_EQ(ClientIp("10.0.0.5", {"203.0.113.7:41234"}, t), "203.0.113.7");  // with a port (Azure's proxies)
  EXPECT_EQ(ClientIp("10.0.0.5", {"[2001:db8::7]:41234"}, t), "2001:db8::7");
  EXPECT_EQ(ClientIp("10.0.0.5", {"[2001:db8::7]"}, t), "2001:db8::7");
  for (const char* bad : {"10.0.0.0/33", "nope", "10.0.0.0/", "::/129", " 10.0.0.1"}) {
    EXPECT_FALSE(TrustedProxies::Parse({bad}, &t, &err)) << bad;
  }
}

// --- the gateway with policies/example.tg ------------------------------------

using Answer = testkit::HttpAnswer;

// `tollgate serve` over the shipped example policy and a catalog of two
// gpt-4o-mini endpoints, one without zero data retention; the upstreams
// refuse connections (the route and the record are what is checked).
class ExampleGateway : public ::testing::Test {
 protected:
  void Start(std::vector<std::string> trusted = {}) {
    dir_ = testkit::MakeTempDir("context");
    auto endpoint = [](const char* id, const char* provider, const char* j, bool zdr) {
      return std::string(R"({"id": ")") + id + R"(", "model": "openai/gpt-4o-mini", "provider": ")" + provider +
             R"(", "upstream": {"base_url": "http://127.0.0.1:1/v1", "auth": {"type": "none"}},
             "pricing": {"input_per_mtok": "0.15", "output_per_mtok": "0.60", "per_request": "0"},
             "context_length": 128000, "max_output_tokens": 16384, "jurisdiction": ")" + j +
             R"(", "region": "r", "zdr": )" + (zdr ? "true" : "false") +
             R"(, "trains_on_data": false, "data_collection": "deny", "retention_days": 0,
             "quantization": "unknown", "supported_parameters": ["temperature"],
             "observed": {"latency_p50": 0.5, "throughput": 50, "uptime": 0.99}})";
    };
    testkit::WriteFile(dir_ + "/catalog.json",
                       "{\"endpoints\": [" + endpoint("openai/gpt-4o-mini@openai", "openai", "US", false) + "," +
                           endpoint("openai/gpt-4o-mini@azure-eastus", "azure/eastus", "US", true) + "]}");
    testkit::WriteFile(dir_ + "/keys.json", KeysJson(
        Entry("plain") + "," + Entry("conf", R"(, "context": {"data_class": "confidential"})") + "," +
        Entry("pinned", R"(, "context": {"data_class": "confidential"}, "pin": ["data_class"])") + "," +
        Entry("batch", R"(, "context": {"tags": ["batch"], "environment": "production"})")));
    Config cfg = testkit::FilesConfig(fs::absolute("policies/example.tg").string(), dir_ + "/catalog.json",
                                      dir_ + "/keys.json");
    cfg.audit = dir_ + "/audit";
    cfg.upstream.max_attempts = 1;
    cfg.trusted_proxies = std::move(trusted);
    std::string err;
    ASSERT_TRUE(gw_.Start(std::move(cfg), &err)) << err;
  }
  void TearDown() override {
    gw_.Stop();
    testkit::RemoveDir(dir_);
  }

  Answer Chat(const std::string& key, const std::vector<std::pair<std::string, std::string>>& headers) {
    std::vector<std::pair<std::string, std::string>> all = {{"authorization", "Bearer sk-" + key},
                                                            {"x-tollgate-explain", "1"}};
    all.insert(all.end(), headers.begin(), headers.end());
    return testkit::HttpCall(gw_.port(), http::verb::post, "/v1/chat/completions",
                             R"({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]})",
                             all);
  }

  // The decision record with this id (its JSON line), "" when absent.
  std::string Record(const std::string& id) { return testkit::DecisionRecord(dir_ + "/audit", id); }

  static bool ZdrEliminates(const Answer& a) {
    const auto it = a.headers.find("x-tollgate-explain");
    return it != a.headers.end() &&
           it->second.find(R"("id":"openai/gpt-4o-mini@openai")") != std::string::npos &&
           it->second.find(R"("rule":"confidential_needs_zdr")") != std::string::npos;
  }

  std::string dir_;
  testkit::LoopbackServer gw_;
};

// The service config of the tests below: the shipped example policy and
// catalog, no ledger and no audit log.
Config ExampleConfig(const std::string& keys) {
  return testkit::FilesConfig(fs::absolute("policies/example.tg").string(),
                              fs::absolute("policies/catalog.json").string(), keys);
}

// A context member the schema does not have (or of the wrong type) would
// make every request of the key a 400: the service refuses the keys file.
TEST(KeyContext, TheDecoderChecksEachKeyAtLoad) {
  const std::string dir = testkit::MakeTempDir("context");
  std::ofstream(dir + "/keys.json") << KeysJson(Entry("ok") + "," + Entry("odd", R"(, "context": {"project": "x"})"));
  const Config cfg = ExampleConfig(dir + "/keys.json");
  std::string err;
  EXPECT_FALSE(Service::Create(cfg, &err));
  EXPECT_EQ(err, "keys `" + dir + "/keys.json`: key `odd`: unknown field `context.project`");
  std::ofstream(dir + "/keys.json") << KeysJson(Entry("ok", R"(, "context": {"data_class": "internal", "tags": ["batch"]})"));
  EXPECT_TRUE(Service::Create(cfg, &err)) << err;
  testkit::RemoveDir(dir);
}

// A key's context is decoded under the policy's schema, which a policy can
// extend (`schema "x.json"`): a new live version, loaded by POST /admin/policy
// or promoted from the shadow, that would refuse some key is itself refused,
// as at startup, and the live version stays.
TEST(KeyContext, APolicySwapThatWouldRefuseAKeyIsRefused) {
  const std::string dir = testkit::MakeTempDir("context");
  std::ofstream(dir + "/ctx.json") << R"({"fields": [{"path": "context.project", "type": "string", "scope": "request"}]})";
  std::ofstream(dir + "/p.tg") << "policy \"p\"\nschema \"ctx.json\"\n";
  std::ofstream(dir + "/keys.json") << KeysJson(Entry("ok") + "," + Entry("proj", R"(, "context": {"project": "x"})"));
  const Config cfg = testkit::FilesConfig(dir + "/p.tg", fs::absolute("policies/catalog.json").string(),
                                          dir + "/keys.json");
  std::string err;
  auto svc = Service::Create(cfg, &err);
  ASSERT_TRUE(svc) << err;
  const std::string live = svc->live()->version;
  const std::string refused = "keys `" + dir + "/keys.json`: key `proj`: unknown field `context.project`";
  const std::vector<SourceText> without = {{dir + "/p.tg", "policy \"p\"\n"}};

  EXPECT_FALSE(svc->LoadSources(without, false, &err));
  EXPECT_EQ(err, refused);
  EXPECT_EQ(svc->live()->version, live);

  ASSERT_TRUE(svc->LoadSources(without, true, &err)) << err;  // a shadow only compares
  bool was_refused = false;
  EXPECT_FALSE(svc->Promote(&err, &was_refused));
  EXPECT_TRUE(was_refused);
  EXPECT_EQ(err, refused);
  EXPECT_EQ(svc->live()->version, live);
  EXPECT_NE(svc->shadow(), nullptr);

  // With the extension the swap goes through.
  ASSERT_TRUE(svc->LoadSources({{dir + "/p.tg", "policy \"p2\"\nschema \"ctx.json\"\n"}}, true, &err)) << err;
  EXPECT_TRUE(svc->Promote(&err, &was_refused)) << err;
  EXPECT_FALSE(was_refused);
  EXPECT_NE(svc->live()->version, live);
  EXPECT_EQ(svc->shadow(), nullptr);
  EXPECT_FALSE(svc->Promote(&err, &was_refused));
  EXPECT_FALSE(was_refused);
  EXPECT_EQ(err, "no shadow policy is loaded");
  testkit::RemoveDir(dir);
}

// The same over the admin API: 422 policy_invalid with the key's diagnostic.
TEST(KeyContext, TheAdminAPIRefusesASwapThatWouldRefuseAKey) {
  const std::string dir = testkit::MakeTempDir("context");
  std::ofstream(dir + "/ctx.json") << R"({"fields": [{"path": "context.project", "type": "string", "scope": "request"}]})";
  std::ofstream(dir + "/p.tg") << "policy \"p\"\nschema \"ctx.json\"\n";
  std::ofstream(dir + "/keys.json") << KeysJson(Entry("proj", R"(, "context": {"project": "x"})"));
  Config cfg = testkit::FilesConfig(dir + "/p.tg", fs::absolute("policies/catalog.json").string(),
                                    dir + "/keys.json");
  cfg.admin_token_env = "TG_TEST_CONTEXT_ADMIN_TOKEN";
  setenv("TG_TEST_CONTEXT_ADMIN_TOKEN", "adm", 1);
  testkit::LoopbackServer gw;
  std::string err;
  ASSERT_TRUE(gw.Start(cfg, &err)) << err;
  const std::string live = gw.svc().live()->version;
  auto admin = [&](const std::string& target, const std::string& body) {
    return testkit::HttpCall(gw.port(), http::verb::post, target, body, {{"authorization", "Bearer adm"}});
  };
  const std::string diag = "key `proj`: unknown field `context.project`";
  testkit::HttpAnswer a = admin("/admin/policy", "policy \"p\"\n");
  EXPECT_EQ(a.status, 422) << a.body;
  EXPECT_NE(a.body.find("\"policy_invalid\""), std::string::npos) << a.body;
  EXPECT_NE(a.body.find(diag), std::string::npos) << a.body;
  a = admin("/admin/policy?shadow=1", "policy \"p\"\n");
  ASSERT_EQ(a.status, 200) << a.body;
  a = admin("/admin/policy/promote", "");
  EXPECT_EQ(a.status, 422) << a.body;
  EXPECT_NE(a.body.find("\"policy_invalid\""), std::string::npos) << a.body;
  EXPECT_NE(a.body.find(diag), std::string::npos) << a.body;
  EXPECT_EQ(gw.svc().live()->version, live);
  testkit::HttpCall(gw.port(), http::verb::delete_, "/admin/policy/shadow", "", {{"authorization", "Bearer adm"}});
  a = admin("/admin/policy/promote", "");
  EXPECT_EQ(a.status, 409) << a.body;
  EXPECT_NE(a.body.find("\"no_shadow_policy\""), std::string::npos) << a.body;
  gw.Stop();
  unsetenv("TG_TEST_CONTEXT_ADMIN_TOKEN");
  testkit::RemoveDir(dir);
}

// An accounts `ignore` entry that names no provider of the catalog would
// ignore nothing: refused at startup and on reload (the live set stays).
TEST(ServeAccounts, AnIgnoreNamingNoProviderIsRefusedAtStartAndOnReload) {
  const std::string dir = testkit::MakeTempDir("context");
  Config cfg = ExampleConfig("");
  cfg.accounts = dir + "/accounts.json";
  const std::string refused = "accounts `" + dir + "/accounts.json`: default: field `ignore` entry "
                              "`cheapcloud ` (default.ignore[0]) names no provider of the catalog, so it "
                              "ignores nothing; did you mean `cheapcloud`?";
  std::string err;
  std::ofstream(dir + "/accounts.json") << R"({"default": {"ignore": ["cheapcloud "]}})";
  EXPECT_FALSE(Service::Create(cfg, &err));
  EXPECT_EQ(err, refused);
  std::ofstream(dir + "/accounts.json") << R"({"default": {"ignore": ["cheapcloud"]}})";
  auto svc = Service::Create(cfg, &err);
  ASSERT_TRUE(svc) << err;
  auto before = svc->live();
  std::ofstream(dir + "/accounts.json") << R"({"default": {"ignore": ["cheapcloud "]}})";
  EXPECT_FALSE(svc->ReloadFromDisk(&err));
  EXPECT_EQ(err, refused);
  EXPECT_EQ(svc->live(), before);
  testkit::RemoveDir(dir);
}

TEST_F(ExampleGateway, ConfidentialNeedsZdrFiresFromAHeaderAndFromAKeyDefault) {
  Start();
  Answer plain = Chat("plain", {});
  EXPECT_FALSE(ZdrEliminates(plain)) << plain.headers["x-tollgate-explain"];
  for (const char* cls : {"confidential", "restricted"}) {
    Answer a = Chat("plain", {{"x-tollgate-data-class", cls}});
    EXPECT_TRUE(ZdrEliminates(a)) << cls << ": " << a.headers["x-tollgate-explain"];
  }
  Answer internal = Chat("plain", {{"X-Tollgate-Data-Class", "internal"}});  // not a protected class
  EXPECT_FALSE(ZdrEliminates(internal)) << internal.headers["x-tollgate-explain"];
  Answer key_default = Chat("conf", {});
  EXPECT_TRUE(ZdrEliminates(key_default)) << key_default.headers["x-tollgate-explain"];
  // The key's default is not pinned: the caller's header replaces it.
  Answer lowered = Chat("conf", {{"x-tollgate-data-class", "public"}});
  EXPECT_FALSE(ZdrEliminates(lowered)) << lowered.headers["x-tollgate-explain"];
}

TEST_F(ExampleGateway, APinnedDataClassCannotBeLowered) {
  Start();
  Answer a = Chat("pinned", {{"x-tollgate-data-class", "public"}});
  EXPECT_EQ(a.status, 400) << a.body;
  EXPECT_NE(a.body.find(R"("code":"context_pinned")"), std::string::npos) << a.body;
  EXPECT_NE(a.body.find("(at `context.data_class`)"), std::string::npos) << a.body;
  Answer same = Chat("pinned", {{"x-tollgate-data-class", "confidential"}});
  EXPECT_TRUE(ZdrEliminates(same)) << same.status << " " << same.body;
  Answer none = Chat("pinned", {});
  EXPECT_TRUE(ZdrEliminates(none)) << none.status << " " << none.body;
}

TEST_F(ExampleGateway, BadHeadersAre400) {
  Start();
  for (const auto& headers : std::vector<std::vector<std::pair<std::string, std::string>>>{
           {{"x-tollgate-data-class", ""}},
           {{"x-tollgate-data-class", "public"}, {"x-tollgate-data-class", "confidential"}},
           {{"x-tollgate-tags", "batch,,x"}},
           {{"x-tollgate-environment", "pr\xff"}}}) {
    Answer a = Chat("plain", headers);
    EXPECT_EQ(a.status, 400) << a.body;
    EXPECT_NE(a.body.find(R"("code":"input_invalid_header")"), std::string::npos) << a.body;
    EXPECT_NE(a.body.find(R"("type":"invalid_request_error")"), std::string::npos) << a.body;
  }
}

// `X-Tollgate-Explain: 0` (or false, no, off) asks for no explanation; 1,
// true, yes or on ask for one.
TEST_F(ExampleGateway, ExplainHeaderValueIsRead) {
  Start();
  for (const auto& [value, want] : std::vector<std::pair<std::string, bool>>{
           {"1", true}, {"true", true}, {"Yes", true}, {"on", true},
           {"0", false}, {"false", false}, {"No", false}, {"off", false}}) {
    Answer a = testkit::HttpCall(gw_.port(), http::verb::post, "/v1/chat/completions",
                                 R"({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]})",
                                 {{"authorization", "Bearer sk-plain"}, {"x-tollgate-explain", value}});
    EXPECT_EQ(a.headers.count("x-tollgate-explain") == 1, want) << value;
  }
}

TEST_F(ExampleGateway, TheRecordKeepsTheContextAndReplaysIdentically) {
  Start();
  Answer a = Chat("batch", {{"x-tollgate-data-class", "confidential"}, {"x-tollgate-tags", "nightly"},
                            {"x-forwarded-for", "203.0.113.7"}});  // no trusted proxy: ignored
  ASSERT_EQ(a.headers.count("x-tollgate-decision-id"), 1u) << a.status << " " << a.body;
  const std::string record = Record(a.headers["x-tollgate-decision-id"]);
  ASSERT_FALSE(record.empty());
  EXPECT_NE(record.find(R"("context":{"data_class":"confidential","tags":["batch","nightly"],"environment":"production","ip":"127.0.0.1"})"),
            std::string::npos) << record;
  // batch_goes_cheap fired on the key's tag.
  EXPECT_NE(record.find(R"("lane":"batch")"), std::string::npos) << record;
  EXPECT_NE(record.find("batch_goes_cheap"), std::string::npos) << record;
  Chat("plain", {});
  gw_.Stop();  // closes the log
  audit::ReplayOptions o;
  o.dir = dir_ + "/audit";
  audit::ReplayReport r;
  std::string err;
  ASSERT_TRUE(audit::Replay(o, &r, &err)) << err;
  EXPECT_EQ(r.records, 2u);
  EXPECT_EQ(r.identical, 2u) << audit::ReportText(r);
  EXPECT_EQ(r.mismatched, 0u) << audit::ReportText(r);
}

TEST_F(ExampleGateway, ForwardedForIsReadFromATrustedProxyOnly) {
  Start({"127.0.0.0/8"});
  Answer a = Chat("plain", {{"x-forwarded-for", "198.51.100.9, 203.0.113.7"}});
  const std::string record = Record(a.headers["x-tollgate-decision-id"]);
  EXPECT_NE(record.find(R"("context":{"ip":"203.0.113.7"})"), std::string::npos) << record;
}

}  // namespace
}  // namespace tollgate::gateway
