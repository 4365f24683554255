// Account defaults: loading, tightening, and that no request can loosen them.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "runtime/router/accounts.h"
#include "tests/router/router_env.h"

namespace tollgate::testing {
namespace {

using Ids = std::vector<std::string>;

std::string Cat() {
  return CatalogOf({
      Ep("m@us", "m", "cheapco", {{"input", "\"0.5\""}, {"output", "\"1\""}}),
      Ep("m@de", "m", "eurocloud/frankfurt",
         {{"input", "\"1\""}, {"output", "\"2\""}, {"jurisdiction", "\"DE\""}, {"zdr", "true"},
          {"retention_days", "0"}, {"data_collection", "\"deny\""}, {"quantization", "\"bf16\""}}),
      Ep("m@fr", "m", "frenchai",
         {{"input", "\"3\""}, {"output", "\"6\""}, {"jurisdiction", "\"FR\""},
          {"quantization", "\"fp8\""}, {"data_collection", "\"deny\""}, {"retention_days", "0"},
          {"latency", "0.1"}}),
  });
}

const char* kAccounts = R"({
  "default": {"ignore": ["cheapco"]},
  "workspaces": {
    "zdr": {"zdr": true},
    "dc": {"data_collection": "deny"},
    "only": {"only": ["eurocloud", "frenchai"]},
    "cap": {"max_price": {"prompt": "2", "completion": "5", "request": "0"}},
    "quant": {"quantizations": ["fp8", "unknown"]},
    "fast": {"sort": "latency"},
    "open": {}
  }})";

class AccountsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(env.Setup(kNoRules, Cat(), kAccounts)) << env.error; }
  Ids R(const std::string& ws, const std::string& prefs = "") {
    Ids ids = env.Route(Input("m", prefs, "", ws));
    EXPECT_TRUE(env.error.empty()) << env.error;
    return ids;
  }
  RouteEnv env;
};

TEST_F(AccountsTest, DefaultAppliesToUnlistedAndListedWorkspaces) {
  EXPECT_EQ(R("unlisted"), (Ids{"m@de", "m@fr"}));
  EXPECT_EQ(env.CodeOf("m@us"), "pref_ignore");
  EXPECT_EQ(env.result.eliminated[0].source, "account");
  EXPECT_EQ(R("open"), (Ids{"m@de", "m@fr"}));
}

TEST_F(AccountsTest, ZdrCannotBeTurnedOffByTheRequest) {
  EXPECT_EQ(R("zdr", "{\"zdr\": false}"), (Ids{"m@de"}));
  EXPECT_EQ(env.CodeOf("m@fr"), "pref_zdr");
}

TEST_F(AccountsTest, DataCollectionDenyWins) {
  ASSERT_TRUE(env.Setup(kNoRules, Cat(), R"({"workspaces": {"dc": {"data_collection": "deny"}}})"));
  EXPECT_EQ(R("dc", "{\"data_collection\": \"allow\"}"), (Ids{"m@de", "m@fr"}));
  EXPECT_EQ(env.CodeOf("m@us"), "pref_data_collection");
}

TEST_F(AccountsTest, OnlyIntersectsWithTheRequest) {
  EXPECT_EQ(R("only", "{\"only\": [\"frenchai\", \"cheapco\"]}"), (Ids{"m@fr"}));
  EXPECT_EQ(env.CodeOf("m@de"), "pref_only");
  // Listing a provider outside the account allowlist does not add it.
  ASSERT_TRUE(env.Setup(kNoRules, Cat(), R"({"workspaces": {"only": {"only": ["eurocloud"]}}})"));
  EXPECT_EQ(R("only", "{\"only\": [\"cheapco\"]}"), Ids{});
}

TEST_F(AccountsTest, IgnoreIsAUnion) {
  EXPECT_EQ(R("open", "{\"ignore\": [\"frenchai\"]}"), (Ids{"m@de"}));
}

TEST_F(AccountsTest, MaxPriceTakesTheLowest) {
  EXPECT_EQ(R("cap", "{\"max_price\": {\"prompt\": 100}}"), (Ids{"m@de"}));
  EXPECT_EQ(env.CodeOf("m@fr"), "pref_max_price");
  EXPECT_EQ(R("cap", "{\"max_price\": {\"prompt\": 0.9}}"), Ids{});
}

TEST_F(AccountsTest, QuantizationsIntersect) {
  EXPECT_EQ(R("quant"), (Ids{"m@fr"}));
  EXPECT_EQ(R("quant", "{\"quantizations\": [\"bf16\", \"fp8\"]}"), (Ids{"m@fr"}));
  EXPECT_EQ(env.CodeOf("m@de"), "pref_quantization");
}

TEST_F(AccountsTest, AccountSortReplacesRequestSort) {
  EXPECT_EQ(R("fast", "{\"sort\": \"price\"}"), (Ids{"m@fr", "m@de"}));
}

TEST(AccountsLoad, TightenMerges) {
  runtime::AccountPrefs a, b;
  a.zdr = true;
  a.max_prompt = 5;
  a.ignore = {"x"};
  b.max_prompt = 3;
  b.max_completion = 9;
  b.ignore = {"y"};
  b.deny_data_collection = true;
  a.Tighten(b);
  EXPECT_TRUE(a.zdr);
  EXPECT_TRUE(a.deny_data_collection);
  EXPECT_EQ(a.max_prompt, 3);
  EXPECT_EQ(a.max_completion, 9);
  EXPECT_EQ(a.ignore, (std::vector<std::string>{"x", "y"}));
}

TEST(AccountsLoad, MalformedFilesGiveClearErrors) {
  struct Case { const char* json; const char* expect; } cases[] = {
      {"{", "malformed JSON"},
      {"[]", "JSON object"},
      {R"({"teams": {}})", "unknown top-level accounts field `teams`"},
      {R"({"workspaces": {"w": {"zdr": "yes"}}})", "workspace `w`: field `zdr` must be true or false"},
      {R"({"workspaces": {"w": {"sort": "cheapest"}}})", "field `sort` must be `price`"},
      {R"({"workspaces": {"w": {"data_collection": "never"}}})", "field `data_collection`"},
      {R"({"workspaces": {"w": {"quantizations": ["fp3"]}}})", "unknown quantization `fp3`"},
      {R"({"workspaces": {"w": {"max_price": {"prompt": "-1"}}}})", "must not be negative"},
      {R"({"workspaces": {"w": {"max_price": {"image": "1"}}}})", "`max_price.image` is not a known field"},
      {R"({"default": {"colour": 1}})", "default: field `colour` is not a known account field"},
  };
  for (const auto& c : cases) {
    runtime::Accounts a;
    runtime::AccountsError e;
    EXPECT_FALSE(runtime::Accounts::Load(c.json, &a, &e)) << c.json;
    EXPECT_NE(e.message.find(c.expect), std::string::npos) << c.json << " -> " << e.message;
  }
}

// An `ignore` (or `only`) entry that names no provider of the catalog it
// routes over would silently exclude nothing: a load error that names the
// entry's JSON path and the closest slug.
TEST(AccountsLoad, DuplicateKeysAreRefusedWithTheirPath) {
  struct Case { const char* json; const char* want; } cases[] = {
      {R"({"workspaces": {"w": {"zdr": true, "zdr": false}}})", "duplicate key `zdr` at `workspaces.w.zdr`"},
      // Two entries for one workspace: the restriction of the first would vanish.
      {R"({"workspaces": {"w": {"only": ["eurocloud"]}, "w": {}}})", "duplicate key `w` at `workspaces.w`"},
      {R"({"default": {"max_price": {"prompt": "1", "prompt": "9"}}})",
       "duplicate key `prompt` at `default.max_price.prompt`"},
      {R"({"workspaces": {"w": {}}, "workspaces": {}})", "duplicate top-level key `workspaces`"},
      {R"({"workspaces": {"w": {"sort": "price", "\u0073ort": "latency"}}})", "duplicate key `sort` at `workspaces.w.sort`"},
  };
  for (const Case& c : cases) {
    runtime::Accounts a;
    runtime::AccountsError e;
    EXPECT_FALSE(runtime::Accounts::Load(c.json, &a, &e)) << c.json;
    EXPECT_EQ(e.code, "accounts_invalid");
    EXPECT_EQ(e.message, c.want) << c.json;
  }
}

TEST(AccountsLoad, AProviderEntryMustNameACatalogProvider) {
  RouteEnv env;
  ASSERT_TRUE(env.Setup(kNoRules, Cat(), "")) << env.error;
  struct Case { const char* json; const char* expect; } bad[] = {
      {R"({"default": {"ignore": ["cheapco "]}})",
       "default: field `ignore` entry `cheapco ` (default.ignore[0]) names no provider of the "
       "catalog, so it ignores nothing; did you mean `cheapco`?"},
      {R"({"workspaces": {"acme": {"ignore": ["frenchai", "eurocluod"]}}})",
       "workspace `acme`: field `ignore` entry `eurocluod` (workspaces.acme.ignore[1]) names no "
       "provider of the catalog, so it ignores nothing; did you mean `eurocloud`?"},
      {R"({"default": {"ignore": ["openrouter"]}})",
       "default: field `ignore` entry `openrouter` (default.ignore[0]) names no provider of the "
       "catalog, so it ignores nothing"},
      {R"({"workspaces": {"w": {"only": ["frenchai", "eurocloud/frankfrut"]}}})",
       "workspace `w`: field `only` entry `eurocloud/frankfrut` (workspaces.w.only[1]) names no "
       "provider of the catalog; did you mean `eurocloud/frankfurt`?"},
      // A base slug names its variants, a variant only itself.
      {R"({"default": {"ignore": ["euro"]}})", "entry `euro`"},
  };
  for (const auto& c : bad) {
    runtime::Accounts a;
    runtime::AccountsError e;
    EXPECT_FALSE(runtime::Accounts::Load(c.json, env.catalog, &a, &e)) << c.json;
    EXPECT_EQ(e.code, "accounts_invalid");
    EXPECT_NE(e.message.find(c.expect), std::string::npos) << c.json << " -> " << e.message;
    EXPECT_EQ(a.For("acme").ignore.size(), 0u) << "a refused file leaves nothing loaded";
    // Parsed without a catalog (a stored file replayed) it still loads.
    EXPECT_TRUE(runtime::Accounts::Load(c.json, &a, &e)) << e.message;
  }
  const char* good[] = {
      R"({"default": {"ignore": ["CheapCo", "eurocloud"]}})",  // any case; a base slug
      R"({"default": {"ignore": ["eurocloud/frankfurt"]}, "workspaces": {"w": {"only": ["eurocloud"]}}})",
      kAccounts,
  };
  for (const char* json : good) {
    runtime::Accounts a;
    runtime::AccountsError e;
    EXPECT_TRUE(runtime::Accounts::Load(json, env.catalog, &a, &e)) << json << " -> " << e.message;
  }
}

TEST(AccountsLoad, TheFileNameLeadsACatalogMismatch) {
  RouteEnv env;
  ASSERT_TRUE(env.Setup(kNoRules, Cat(), "")) << env.error;
  runtime::Accounts a;
  runtime::AccountsError e;
  // The shipped file ignores `cheapcloud`, a provider this catalog lacks.
  EXPECT_FALSE(runtime::Accounts::LoadFile("policies/accounts.json", env.catalog, &a, &e));
  EXPECT_EQ(e.message.rfind("policies/accounts.json: default: field `ignore` entry `cheapcloud`", 0), 0u)
      << e.message;
}

TEST(AccountsLoad, ShippedExampleLoads) {
  runtime::Accounts a;
  runtime::AccountsError e;
  RouteEnv env;
  ASSERT_TRUE(env.Setup(kNoRules, (std::stringstream() << std::ifstream("policies/catalog.json").rdbuf()).str(), "")) << env.error;
  ASSERT_TRUE(runtime::Accounts::LoadFile("policies/accounts.json", env.catalog, &a, &e)) << e.message;
  EXPECT_GE(a.workspace_count(), 3u);
  EXPECT_TRUE(a.For("acme-health").zdr);
  EXPECT_EQ(a.For("acme-health").ignore, (std::vector<std::string>{"cheapcloud"}));
}

}  // namespace
}  // namespace tollgate::testing
