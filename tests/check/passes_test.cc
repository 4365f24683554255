// Unit tests per pass: each pass runs alone (after the ones it depends on)
// and reports only its own kind of mistake.
#include <gtest/gtest.h>

#include "engine/parse/parse.h"
#include "tests/check/check_helpers.h"

namespace tollgate::checktest {
namespace {

using V = std::vector<std::string>;

// One mistake for every pass, in one policy.
const char* kAllMistakes = R"(policy "p"
rule dup { deny "a" }
rule dup { deny "b" }
rule unknown { when request.modle == "x" deny "x" }
rule typed { when request.max_tokens == "x" deny "x" }
rule scoped { when provider.zdr deny "x" }
rule pattern { when request.content matches "(" deny "x" }
const c = request.model
rule uses_c { when c == "x" deny "x" }
test "t" { given {} expect fired nope }
)";

TEST(Passes, OrderAndNames) {
  V names;
  for (const auto& p : check::Passes()) names.push_back(p.name);
  EXPECT_EQ(names, (V{"declarations", "lets", "data", "resolve", "types", "scopes", "regex", "fold", "zones", "optional", "operands", "names", "ranges", "contradictions", "tags", "route_hints", "retention", "tests"}));
}

// Policies see canonical model ids and base provider slugs, so a constant
// with a variant suffix or a region never matches: a warning says which
// field holds the full name.
TEST(Passes, NamesWarnsWhenAComparisonNeverMatches) {
  auto c = CheckSource(R"(policy "p"
const banned = {"openai/gpt-4o:free", "x/y"}
rule a { when request.model in banned deny "a" }
rule b { require provider.name != "azure/sweden" }
rule c { when "m:nitro" in request.models deny "c" }
rule d { require endpoint.model == "q/r:extended" }
rule e { when any m in request.models: m == "openai/gpt-4o:free" deny "e" }
rule ok1 { require provider.name in {"azure", "amazon-bedrock"} }
rule ok2 { when request.model == "openai/gpt-4o" or request.model_full == "a/b:free" deny "ok" }
rule ok3 { require endpoint.model != "anthropic.claude-v1:0" and provider.slug == "azure/sweden" }
rule no_fallbacks { when length(request.models) > 0 deny 400 "no fallbacks" }
)");
  EXPECT_TRUE(c.ok) << c.Render();
  EXPECT_EQ(c.Codes(), (V{"tg_name_never_matches", "tg_name_never_matches", "tg_name_never_matches",
                          "tg_name_never_matches", "tg_name_never_matches"}))
      << c.Render();
  std::string r = c.Render();
  EXPECT_NE(r.find("test.tg:7:45: warning[tg_name_never_matches]: `request.models` holds model ids"),
            std::string::npos) << r;
  EXPECT_NE(r.find("`provider.name` is a base provider slug and never equals `azure/sweden`"),
            std::string::npos) << r;
  EXPECT_NE(r.find("help: compare `provider.slug` for the full slug, or write `azure`"),
            std::string::npos) << r;
  EXPECT_NE(r.find("help: write `openai/gpt-4o` to cover every variant, or compare "
                   "`request.model_full` for this variant only"),
            std::string::npos) << r;
}

// The catalog holds upper-case country codes and lower-case provider slugs:
// `require provider.jurisdiction not in {"cn"}` kept every endpoint.
TEST(Passes, NamesWarnsOnTheWrongCase) {
  auto c = CheckSource(R"(policy "p"
rule a { require provider.jurisdiction not in {"DE", "cn"} }
rule b { require provider.jurisdiction != "Germany" }
rule c { require provider.name != "DeepSeek" }
rule d { require provider.slug not in {"azure/sweden", "Azure/EastUS"} }
rule ok { require provider.jurisdiction in {"DE", "FR"} and provider.slug == "google-vertex/europe" }
)");
  EXPECT_TRUE(c.ok) << c.Render();
  EXPECT_EQ(c.Codes(), (V{"tg_name_never_matches", "tg_name_never_matches", "tg_name_never_matches",
                          "tg_name_never_matches"}))
      << c.Render();
  std::string r = c.Render();
  EXPECT_NE(r.find("`provider.jurisdiction` is an upper-case ISO 3166-1 alpha-2 country code and "
                   "never equals `cn`"),
            std::string::npos) << r;
  EXPECT_NE(r.find("help: write `CN`"), std::string::npos) << r;
  EXPECT_NE(r.find("`provider.name` is a lower-case provider slug and never equals `DeepSeek`"),
            std::string::npos) << r;
  EXPECT_NE(r.find("help: write `azure/eastus`"), std::string::npos) << r;
}

// A string-literal key is not a message: "{principal.workspace}" would be
// that text for every request (one counter shared by all). Refused; a tuple
// key names the parts.
TEST(Passes, BracesInAStringKeyAreRefused) {
  auto c = CheckSource(R"(policy "p"
limit per_user { key "{principal.workspace}/{principal.user ?? \"-\"}" per minute max 60 requests }
budget ws { key "{principal.workspace}" per day limit 10 usd }
)");
  EXPECT_TRUE(c.diags.HasErrors()) << c.Render();  // the engine compiles no policy
  EXPECT_EQ(c.Codes(), (V{"tg_key_not_interpolated", "tg_key_not_interpolated"})) << c.Render();
  EXPECT_NE(c.Render().find("test.tg:2:22: error[tg_key_not_interpolated]: a `{...}` in a budget or "
                            "limit key is not interpolated"),
            std::string::npos) << c.Render();
  auto ok = CheckSource(R"(policy "p"
limit per_user { key (principal.workspace, principal.user ?? "-") per minute max 60 requests }
limit global { key "all" per minute max 600 requests }
)");
  EXPECT_TRUE(ok.ok) << ok.Render();
  EXPECT_TRUE(ok.Codes().empty()) << ok.Render();
}

// A ban or allowlist on `request.model` alone is bypassed by naming the
// model as a fallback (`models`): the router serves fallbacks too. Judged per
// rule (tests/check/fallback_test.cc has the cases).
TEST(Passes, NamesWarnsWhenFallbackModelsAreUnchecked) {
  auto c = CheckSource(R"(policy "p"
const approved = {"openai/gpt-4o-mini"}
rule allowlist { when request.model not in approved deny 403 "not approved" }
rule ban { when request.model_full == "openai/o1:online" deny "banned" }
rule variants { when "free" in request.variants deny "free" }
rule routing { when request.model == "x/y" route sort price }
)");
  EXPECT_TRUE(c.ok) << c.Render();
  EXPECT_EQ(c.Codes(), (V{"tg_fallback_unchecked", "tg_fallback_unchecked"})) << c.Render();
  std::string r = c.Render();
  EXPECT_NE(r.find("test.tg:3:23: warning[tg_fallback_unchecked]: rule `allowlist` denies by the "
                   "requested model only, but the fallback models in `request.models` are routed "
                   "too"),
            std::string::npos) << r;
  EXPECT_NE(r.find("help: also test the fallbacks"), std::string::npos) << r;
  // the same test over the fallbacks, in the rule or in its twin, covers them
  for (const char* cover :
       {"rule fb { when any m in request.models: m not in approved deny 403 \"fallback {m}\" }\n",
        "rule none { when length(request.models) > 0 deny 400 \"no fallbacks\" }\n"}) {
    auto d = CheckSource(std::string(R"(policy "p"
const approved = {"openai/gpt-4o-mini"}
rule allowlist { when request.model not in approved deny 403 "not approved" }
)") + cover);
    EXPECT_TRUE(d.ok) << d.Render();
    EXPECT_EQ(d.Codes(), V{}) << cover << d.Render();
  }
}

TEST(Passes, EachPassReportsItsOwnMistake) {
  struct Step { const char* pass; V codes; };
  std::vector<Step> steps = {
      {"declarations", {"tg_duplicate_name"}},
      {"data", {"tg_duplicate_name"}},
      {"resolve", {"tg_duplicate_name", "tg_unknown_field"}},
      {"types", {"tg_duplicate_name", "tg_unknown_field", "tg_type_error"}},
      {"scopes", {"tg_duplicate_name", "tg_unknown_field", "tg_type_error", "tg_scope_error"}},
      {"regex", {"tg_duplicate_name", "tg_unknown_field", "tg_type_error", "tg_scope_error",
                 "tg_invalid_regex"}},
      {"fold", {"tg_duplicate_name", "tg_unknown_field", "tg_type_error", "tg_scope_error",
                "tg_invalid_regex", "tg_not_constant"}},
      {"tests", {"tg_duplicate_name", "tg_unknown_field", "tg_type_error", "tg_scope_error",
                 "tg_invalid_regex", "tg_not_constant", "tg_test_error"}},
  };
  for (const auto& s : steps) {
    auto c = CheckUntil(kAllMistakes, s.pass);
    ASSERT_NE(c.policy, nullptr) << c.Render();
    EXPECT_EQ(c.ErrorCodes(), s.codes) << "after pass " << s.pass << "\n" << c.Render();
  }
  EXPECT_EQ(CheckSource(kAllMistakes).ErrorCodes(), steps.back().codes);
}

// request.content is derived from the messages: a test (or its fixture)
// giving both would judge a text the request does not send.
TEST(Passes, ATestGivingMessagesAndContentIsAnError) {
  auto c = CheckSource(R"(policy "p"
rule r { when request.content contains "x" deny "x" }
fixture chat { principal.workspace: "support", request.content: "hello" }
test "token" {
  given chat { request.messages: [{role: "user", content: "x"}] }
  expect deny
}
test "content alone" { given { request.content: "x" } expect deny }
test "messages alone" { given { request.messages: [{role: "user", content: "x"}] } expect deny }
)");
  EXPECT_FALSE(c.ok);
  EXPECT_EQ(c.ErrorCodes(), V{"tg_test_error"}) << c.Render();
  EXPECT_NE(c.Render().find("test.tg:4:1: error[tg_test_error]: test `token` gives both `request.messages` "
                            "and `request.content` (line 3)"),
            std::string::npos) << c.Render();
}

TEST(Passes, WarningsDoNotFailTheCheck) {
  auto c = CheckSource(R"(policy "p"
const unused = 1
rule never { when 1 > 2 deny "x" })");
  EXPECT_TRUE(c.ok) << c.Render();
  EXPECT_EQ(c.Codes(), (V{"tg_unused_const", "tg_unreachable"}));
}

TEST(Passes, DeclarationsAlone) {
  Diagnostics diags;
  auto p = parse::Parse(std::make_unique<SourceFile>(SourceFile{"x.tg", R"(policy "p"
const a = 1
const a = 2
data provider from "x.json": bool
test "t" { given {} expect allow }
test "t" { given {} expect allow })"}), Limits{}, &diags);
  ASSERT_NE(p, nullptr) << diags.Render();
  check::Context ctx = check::MakeContext(p.get(), {}, &diags);
  EXPECT_FALSE(check::Declarations(ctx));
  EXPECT_EQ(ctx.errors, 3);
  for (const auto& d : diags.items()) EXPECT_EQ(d.code, "tg_duplicate_name");
  EXPECT_NE(diags.items()[0].help.find("line 2"), std::string::npos) << diags.items()[0].help;
}

TEST(Passes, RuleCountLimit) {
  check::CheckOptions opts;
  opts.limits.max_rules = 2;
  auto c = CheckSource(R"(policy "p"
rule a { deny "a" } rule b { deny "b" } rule c { deny "c" })", opts);
  EXPECT_EQ(c.ErrorCodes(), V{"tg_limit_exceeded"});
}

TEST(Passes, NestingDepthGuardReportsOnce) {
  std::string expr = "request.max_tokens";
  for (int i = 0; i < 20; ++i) expr = "(" + expr + " + 1)";
  Diagnostics diags;
  auto p = parse::Parse(std::make_unique<SourceFile>(SourceFile{"x.tg",
      "policy \"p\"\nrule r { when " + expr + " > 3 deny \"x\" }"}), Limits{}, &diags);
  ASSERT_NE(p, nullptr) << diags.Render();
  check::CheckOptions opts;
  opts.limits.max_nesting_depth = 8;
  EXPECT_FALSE(check::Check(p.get(), opts, &diags));
  ASSERT_EQ(diags.size(), 1u) << diags.Render();
  EXPECT_EQ(diags.items()[0].code, "tg_limit_exceeded");
}

TEST(Passes, RegexProgramSizeLimit) {
  check::CheckOptions opts;
  opts.limits.max_regex_program_size = 10;
  auto c = CheckSource(R"(policy "p"
rule r { when request.content matches "abcdefghijklmnopqrstuvwxyz" deny "x" })", opts);
  EXPECT_EQ(c.ErrorCodes(), V{"tg_limit_exceeded"}) << c.Render();
}

TEST(Passes, DidYouMeanUsesTheRightCandidates) {
  auto c = CheckSource(R"(policy "p"
const allowed = {"a"}
rule r1 { when request.model in allowd deny "x" }
rule r2 { when request.provider.zdrr deny "x" }
rule r3 { when uper(request.model) == "X" deny "x" }
rule r4 { when any m in request.messages: m.contnet == "x" deny "x" }
rule r5 { require provider.jurisdictoin == "DE" }
)");
  ASSERT_EQ(c.diags.size(), 5u) << c.Render();
  V helps;
  for (const auto& d : c.diags.items()) helps.push_back(d.help);
  EXPECT_EQ(helps, (V{"did you mean `allowed`?", "did you mean `request.provider.zdr`?",
                      "did you mean `upper`?", "did you mean `content`?",
                      "did you mean `provider.jurisdiction`?"}));
}

TEST(Passes, OneMistakeOneDiagnostic) {
  // The unknown name makes everything above it `any`: no cascade of type errors.
  auto c = CheckSource(R"(policy "p"
rule r { when (nope + 1) * 2 > request.max_tokens and min(nope2.x.y, 1) > 2 and lower(nope3) + 1 > 0 deny "x" })");
  // `lower(...)` is a string whatever its argument: `+ 1` is a second mistake.
  EXPECT_EQ(c.ErrorCodes(), (V{"tg_unknown_name", "tg_unknown_name", "tg_type_error", "tg_unknown_name"}))
      << c.Render();
}

TEST(Passes, ConstsSeeOnlyEarlierConsts) {
  auto c = CheckSource(R"(policy "p"
const a = b
const b = 1
const d = d
rule r { when a == 1 and d == 1 deny "x" })");
  EXPECT_EQ(c.ErrorCodes(), (V{"tg_unknown_name", "tg_unknown_name"})) << c.Render();
  EXPECT_NE(c.diags.items()[1].message.find("refers to itself"), std::string::npos);
}

TEST(Passes, MoneyRules) {
  auto ok = CheckSource(R"(policy "p"
rule r { require endpoint.price_input * 1.5 + 1 usd < 3 usd and endpoint.price_input / endpoint.price_output > 0.5
  and 2 * endpoint.price_output > 0 usd and decimal(endpoint.price_input) < 3 and money(0.5) < endpoint.price_input })");
  EXPECT_TRUE(ok.ok) << ok.Render();
  auto bad = CheckSource(R"(policy "p"
rule r { require endpoint.price_input < 3 or endpoint.price_input - 0.5 > 0 usd or endpoint.price_input % 2 > 0 usd })");
  EXPECT_EQ(bad.ErrorCodes(), (V{"tg_money_mismatch", "tg_money_mismatch", "tg_money_mismatch"}))
      << bad.Render();
  EXPECT_EQ(bad.diags.items()[0].help, "write `3 usd` for a money literal");
}

TEST(Passes, PatternsOnlyInMatchesAndRedact) {
  auto c = CheckSource(R"(policy "p"
const d = dlp.email
rule r { when lower(dlp.email) == "x" or request.content contains dlp.phone deny "x" }
rule ok { when request.content matches dlp.email redact dlp.phone as "[P]" })");
  EXPECT_EQ(c.ErrorCodes(), (V{"tg_type_error", "tg_type_error", "tg_type_error"})) << c.Render();
}

TEST(Passes, MapLiteralTypes) {
  auto c = CheckSource(R"(policy "p"
const prices = {"gpt-4o": 2.50 usd, "mini": 0.15 usd}
const mixed = {name: "acme", seats: 3}
rule r { when (prices[request.model] ?? 0 usd) > 1 usd and mixed.name == "acme" and mixed["seats"] > 1 deny "x" })");
  ASSERT_TRUE(c.ok) << c.Render();
  EXPECT_EQ(c.policy->consts[0].expr->type, Type::Map(Type(Kind::kMoney)));
  EXPECT_TRUE(c.policy->consts[1].expr->type.is(Kind::kRecord));
  auto bad = CheckSource(R"(policy "p"
const mixed = {name: "acme", seats: 3}
rule r { when mixed.nme == "acme" deny "x" })");
  EXPECT_EQ(bad.ErrorCodes(), V{"tg_unknown_field"}) << bad.Render();
}

TEST(Passes, DeclaredConstTypes) {
  auto c = CheckSource(R"(policy "p"
const a: money = 2
const b: set<string> = {"x", 1}
const m: map<int> = {"a": 1, "b": 2}
const r: {name: string, seats?: int} = {name: "x"}
rule u { when a > 0 usd and "x" in b and m.a == 1 and r.name == "x" deny "x" })");
  EXPECT_EQ(c.ErrorCodes(), (V{"tg_money_mismatch", "tg_type_error"})) << c.Render();
}

TEST(Passes, QuantifierVariablesShadowingRoots) {
  auto c = CheckSource(R"(policy "p"
rule r { when any request in request.messages: true deny "x" })");
  EXPECT_EQ(c.ErrorCodes(), V{"tg_duplicate_name"}) << c.Render();
}

TEST(Passes, NullComparisonsAndExists) {
  auto c = CheckSource(R"(policy "p"
rule r { when request.max_tokens == null or not exists(request.temperature) or request.max_tokens != null deny "x" })");
  EXPECT_TRUE(c.ok) << c.Render();
}

}  // namespace
}  // namespace tollgate::checktest

namespace tollgate::checktest {
namespace {

TEST(Passes, ExtendedSchemaAddsFieldsAndRoots) {
  stdlib::Schema schema = stdlib::Schema::Standard();
  std::string err;
  ASSERT_TRUE(schema.AddFromJson(R"({"fields": [
    {"path": "principal.department", "type": "string", "scope": "request"},
    {"path": "tenant.tier", "type": "string", "scope": "request"}]})", &err)) << err;
  check::CheckOptions opts;
  opts.schema = &schema;
  auto c = CheckSource(R"(policy "p"
rule r { when principal.department == "legal" and tenant.tier == "gold" deny "x" })", opts);
  EXPECT_TRUE(c.ok) << c.Render();
  EXPECT_EQ(When(*c.policy, 0).kids[1]->kids[0]->index, schema.Find("tenant.tier"));
  auto reserved = CheckSource(R"(policy "p"
const tenant = 1
rule r { when tenant.tier == "gold" deny "x" })", opts);
  EXPECT_EQ(reserved.ErrorCodes(), std::vector<std::string>{"tg_duplicate_name"}) << reserved.Render();
}

}  // namespace
}  // namespace tollgate::checktest

namespace tollgate::checktest {
namespace {

TEST(Passes, QuantifierVariablesInheritTheScopeOfTheirList) {
  auto ok = CheckSource(R"(policy "p"
rule r { require any p in endpoint.parameters: p == "tools" })");
  ASSERT_TRUE(ok.ok) << ok.Render();
  const ast::Expr& q = EffectExpr(*ok.policy, 0);
  EXPECT_EQ(q.scope, ast::Scope::kCandidate);
  EXPECT_EQ(q.kids[1]->scope, ast::Scope::kCandidate);  // `p == "tools"` reads a candidate value
  auto bad = CheckSource(R"(policy "p"
rule r { when any p in endpoint.parameters: p == "tools" deny "x" })");
  EXPECT_EQ(bad.ErrorCodes(), std::vector<std::string>{"tg_scope_error"}) << bad.Render();
}

TEST(Passes, IndexingListsOfRecords) {
  auto c = CheckSource(R"(policy "p"
rule r { when exists(request.messages[0]) and request.messages[0].role == "system" and request.messages[0]["content"] contains "x" deny "x" })");
  ASSERT_TRUE(c.ok) << c.Render();
  const ast::Expr& role = *When(*c.policy, 0).kids[0]->kids[1]->kids[0];
  EXPECT_EQ(role.kind, ast::ExprKind::kMember);
  EXPECT_EQ(role.index, 0);
  EXPECT_EQ(role.kids[0]->kind, ast::ExprKind::kIndex);
  EXPECT_TRUE(role.kids[0]->type.is(Kind::kRecord));
  const ast::Expr& content = *When(*c.policy, 0).kids[1]->kids[0];
  EXPECT_EQ(content.kind, ast::ExprKind::kIndex);
  EXPECT_EQ(content.index, 1);  // record field by constant key
}

}  // namespace
}  // namespace tollgate::checktest

namespace tollgate::checktest {
namespace {

TEST(Passes, NumericMapLiteralsWidenToDecimal) {
  auto c = CheckSource(R"(policy "p"
const caps = {"free": 1, "pro": 2.5}
rule r { when (request.temperature ?? 0) > get(caps, principal.user ?? "", 0) deny "x" })");
  ASSERT_TRUE(c.ok) << c.Render();
  EXPECT_EQ(c.policy->consts[0].expr->type, Type::Map(Type(Kind::kDecimal)));
  const Value& v = *c.policy->consts[0].expr->folded;
  EXPECT_EQ(MapFind(v, "free")->kind, Kind::kDecimal);
  EXPECT_EQ(MapFind(v, "free")->i, 1000000);
  auto rec = CheckSource(R"(policy "p"
const info = {"name": "acme", "seats": 3}
rule r { when info[principal.user] == 1 deny "x" })");
  EXPECT_EQ(rec.ErrorCodes(), std::vector<std::string>{"tg_type_error"}) << rec.Render();
}

}  // namespace
}  // namespace tollgate::checktest

namespace tollgate::checktest {
namespace {

// Pass `optional` (issue 6 item 1): which reads need a guard, and which
// guards the flow typing understands. Each snippet is one rule.
TEST(Passes, OptionalGuardsAndDefaults) {
  const char* const fine[] = {
      "when exists(request.stream) and request.stream deny \"x\"",
      "when request.stream != null and not request.stream deny \"x\"",
      "when not exists(request.max_tokens) or request.max_tokens > 5 deny \"x\"",
      "when not (request.max_tokens == null or request.max_tokens < 5) deny \"x\"",
      "when context.data_class == \"x\" and context.data_class contains \"x\" deny \"x\"",
      "when request.model in caps and caps[request.model] > 1 deny \"x\"",
      "when not (request.model in caps) or caps[request.model] > 1 deny \"x\"",
      "when (request.max_tokens ?? 0) + get(caps, request.model, 0) > 1 deny \"x\"",
      "when exists(request.max_tokens) require endpoint.max_output_tokens >= request.max_tokens",
      "when exists(principal.user) tag user = principal.user",
      "tag user = principal.user",  // a tag value may be absent
      "when \"a\" in principal.groups or (any t in context.tags: t == \"b\") deny \"x\"",
      "when any m in request.messages: exists(m.name) and m.name == \"bob\" deny \"x\"",
      "when exists(request.messages[2]) and request.messages[2].role == \"user\" deny \"x\"",
      "when request.provider.zdr == true deny \"x\"",
  };
  for (const char* r : fine) {
    auto c = CheckSource(std::string("policy \"p\"\nconst caps = {\"a\": 1}\nrule r { ") + r + " }");
    EXPECT_TRUE(c.ok) << r << "\n" << c.Render();
  }
  const char* const unguarded[] = {
      "when request.stream deny \"x\"",
      "when exists(request.stream) or request.stream deny \"x\"",     // the wrong branch
      "when request.max_tokens == null and request.max_tokens > 5 deny \"x\"",
      "when caps[request.model] > 1 deny \"x\"",
      "when request.model in caps or caps[request.model] > 1 deny \"x\"",
      "when (any m in request.messages: exists(m.name)) and request.messages[0].name == \"x\" deny \"x\"",
      "when any m in request.messages: m.name contains \"b\" deny \"x\"",
      "when exists(request.temperature) deny \"x\" tag t = request.max_tokens + 1",
      "require endpoint.max_output_tokens >= request.max_tokens",
      "when request.messages[0].role == \"user\" deny \"x\"",
      "when get(caps, request.model, request.max_tokens) > 1 deny \"x\"",
      "when lower(principal.user) == \"x\" deny \"x\"",
  };
  for (const char* r : unguarded) {
    auto c = CheckSource(std::string("policy \"p\"\nconst caps = {\"a\": 1}\nrule r { ") + r + " }");
    EXPECT_EQ(c.ErrorCodes(), V{"tg_unguarded_optional"}) << r << "\n" << c.Render();
  }
}

}  // namespace
}  // namespace tollgate::checktest
