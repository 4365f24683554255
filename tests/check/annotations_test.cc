// Positive tests: after a clean check the AST carries the annotations that
// docs/architecture.md ("Checker -> compiler") promises.
#include <gtest/gtest.h>

#include "engine/core/money.h"
#include "stdlib/builtins.h"
#include "tests/check/check_helpers.h"

namespace tollgate::checktest {
namespace {

using ast::Expr;
using ast::ExprKind;
using ast::RefKind;
using ast::Scope;

const stdlib::Schema& S() { return stdlib::Schema::Standard(); }

const Expr& Find(const Expr& root, const std::string& text) {
  const Expr* e = FindByText(root, text);
  EXPECT_NE(e, nullptr) << "no node with text " << text;
  static Expr none;
  return e ? *e : none;
}

// Every node except namespace prefixes has a type after a clean check.
void ExpectTyped(const Expr& e) {
  if (e.ref != RefKind::kNamespace) {
    EXPECT_FALSE(e.type.is(Kind::kAny)) << ast::Dump(e);
  }
  for (const auto& k : e.kids) ExpectTyped(*k);
}

TEST(Annotations, FieldChainsAndScopes) {
  auto c = CheckSource(R"(policy "p"
rule r {
  when request.provider.zdr == true
  require provider.zdr and request.stream == false
})");
  ASSERT_TRUE(c.ok) << c.Render();
  const Expr& when = When(*c.policy, 0);
  const Expr& chain = *when.kids[0];
  EXPECT_EQ(chain.kind, ExprKind::kMember);
  EXPECT_EQ(chain.ref, RefKind::kField);
  EXPECT_EQ(chain.index, S().Find("request.provider.zdr"));
  EXPECT_EQ(chain.scope, Scope::kRequest);
  EXPECT_TRUE(chain.type.is(Kind::kBool));
  EXPECT_EQ(chain.kids[0]->ref, RefKind::kNamespace);
  EXPECT_EQ(chain.kids[0]->kids[0]->ref, RefKind::kNamespace);

  const Expr& req = EffectExpr(*c.policy, 0);
  EXPECT_EQ(req.scope, Scope::kCandidate);  // reads provider.zdr below
  EXPECT_EQ(req.kids[0]->scope, Scope::kCandidate);
  EXPECT_EQ(req.kids[0]->index, S().Find("provider.zdr"));
  EXPECT_EQ(req.kids[1]->scope, Scope::kRequest);
  ExpectTyped(when);
  ExpectTyped(req);
}

TEST(Annotations, DetectorsCallsAndPatterns) {
  auto c = CheckSource(R"(policy "p"
rule r {
  when request.content matches dlp.credit_card and length(principal.groups) > 2
    and dlp.injection_score(request.content) >= 0.5 and request.content matches "(?i)secret"
  redact dlp.email as "[EMAIL]"
})");
  ASSERT_TRUE(c.ok) << c.Render();
  const Expr& when = When(*c.policy, 0);
  const Expr& det = Find(when, "dlp.credit_card");
  EXPECT_EQ(det.ref, RefKind::kDetector);
  EXPECT_EQ(det.index, stdlib::FindDetector("dlp.credit_card"));
  EXPECT_TRUE(det.type.is(Kind::kPattern));

  const Expr& len = Find(when, "length(principal.groups)");
  ASSERT_EQ(len.kind, ExprKind::kCall);
  ASSERT_GE(len.index, 0);
  const auto& decl = stdlib::Builtins()[len.index];
  EXPECT_EQ(decl.name, "length");
  EXPECT_TRUE(decl.params[0].is(Kind::kSet));  // the set overload was chosen
  EXPECT_TRUE(len.type.is(Kind::kInt));

  const Expr& score = Find(when, "dlp.injection_score(request.content)");
  EXPECT_EQ(stdlib::Builtins()[score.index].name, "dlp.injection_score");
  EXPECT_FALSE(score.folded.has_value());  // not constant

  const Expr& pat = Find(when, "\"(?i)secret\"");
  ASSERT_TRUE(pat.folded.has_value());
  EXPECT_EQ(pat.folded->sv(), "(?i)secret");

  const Expr& redact = EffectExpr(*c.policy, 0);
  EXPECT_EQ(redact.ref, RefKind::kDetector);
  EXPECT_EQ(redact.index, stdlib::FindDetector("dlp.email"));
}

TEST(Annotations, ConstsLocalsRecordsAndMaps) {
  auto c = CheckSource(R"(policy "p"
const eu = {"DE", "FR"}
const tiers = {"free": 1, "pro": 2}
const owner = {name: "acme", seats: 10}
rule r {
  when exists(principal.jurisdiction) and principal.jurisdiction in eu and tiers.pro > 1 and owner.seats > 5
    and (any m in request.messages: m.role == "user" and (all g in principal.groups: g != m.content))
  deny "x"
})");
  ASSERT_TRUE(c.ok) << c.Render();
  const Expr& when = When(*c.policy, 0);
  const Expr& eu = Find(when, "eu");
  EXPECT_EQ(eu.ref, RefKind::kConst);
  EXPECT_EQ(eu.index, 0);
  ASSERT_TRUE(eu.folded.has_value());
  EXPECT_EQ(eu.folded->kind, Kind::kSet);
  EXPECT_EQ(ToJson(*eu.folded), R"(["DE","FR"])");
  EXPECT_EQ(eu.type, Type::Set(Type(Kind::kString)));

  const Expr& pro = Find(when, "tiers.pro");
  EXPECT_EQ(pro.index, -1);  // a map key lookup
  EXPECT_TRUE(pro.type.is(Kind::kInt));
  ASSERT_TRUE(pro.folded.has_value());
  EXPECT_EQ(pro.folded->i, 2);

  const Expr& seats = Find(when, "owner.seats");
  EXPECT_TRUE(c.policy->consts[2].expr->type.is(Kind::kRecord));
  EXPECT_EQ(seats.index, 1);  // field index in {name, seats}
  EXPECT_EQ(seats.ref, RefKind::kUnresolved);
  ASSERT_TRUE(seats.folded.has_value());
  EXPECT_EQ(seats.folded->i, 10);

  const Expr* any = FindByText(when, "any m in request.messages: m.role == \"user\" and (all g in principal.groups: g != m.content)");
  ASSERT_NE(any, nullptr);
  EXPECT_EQ(any->kind, ExprKind::kQuantifier);
  EXPECT_EQ(any->index, 0);
  const Expr& role = Find(*any, "m.role");
  EXPECT_EQ(role.kids[0]->ref, RefKind::kLocal);
  EXPECT_EQ(role.kids[0]->index, 0);
  EXPECT_EQ(role.index, 0);  // `role` is field 0 of the message record
  EXPECT_TRUE(role.type.is(Kind::kString));
  const Expr* all = FindByText(*any, "all g in principal.groups: g != m.content");
  ASSERT_NE(all, nullptr);
  EXPECT_EQ(all->index, 1);
  const Expr& g = Find(*all, "g");
  EXPECT_EQ(g.ref, RefKind::kLocal);
  EXPECT_EQ(g.index, 1);
  ExpectTyped(when);
}

TEST(Annotations, TypesOfArithmetic) {
  auto c = CheckSource(R"(policy "p"
rule r {
  when exists(request.max_tokens) and request.max_tokens + 0.5 > 1 and request.max_tokens * 2 > 1 and request.max_tokens / 2 > 1
    and context.time - context.time > 1h and context.time + 1d > context.time
  require endpoint.price_input * 2 < 1 usd and endpoint.price_input / endpoint.price_output < 2
    and endpoint.price_input / 4 < 1 usd
})");
  ASSERT_TRUE(c.ok) << c.Render();
  const Expr& w = When(*c.policy, 0);
  EXPECT_TRUE(Find(w, "request.max_tokens + 0.5").type.is(Kind::kDecimal));
  EXPECT_TRUE(Find(w, "request.max_tokens * 2").type.is(Kind::kInt));
  EXPECT_TRUE(Find(w, "request.max_tokens / 2").type.is(Kind::kDecimal));
  EXPECT_TRUE(Find(w, "context.time - context.time").type.is(Kind::kDuration));
  EXPECT_TRUE(Find(w, "context.time + 1d").type.is(Kind::kTime));
  const Expr& r = EffectExpr(*c.policy, 0);
  EXPECT_TRUE(Find(r, "endpoint.price_input * 2").type.is(Kind::kMoney));
  EXPECT_TRUE(Find(r, "endpoint.price_input / endpoint.price_output").type.is(Kind::kDecimal));
  EXPECT_TRUE(Find(r, "endpoint.price_input / 4").type.is(Kind::kMoney));
}

TEST(Annotations, FoldedValues) {
  auto c = CheckSource(R"(policy "p"
const a = 1 + 2
const b = 0.1 + 0.2
const s = lower("ABC")
const m = 2.50 usd * 3
const q = 10 / 4
const d: decimal = 1
const t: time = "2025-01-06T09:00:00Z"
const n = -(3 % 2)
const big = 2 * 3 > 5 and "abc" contains "b" and "x" in {"x"}
const r = upper(s) matches "^A"
rule u { when a == 3 and b > 0 and s == "abc" and m > 0 usd and q > 1 and d > 0 and n < 0 and big and r
         and context.time > t
  deny "x" })");
  ASSERT_TRUE(c.ok) << c.Render();
  auto v = [&](size_t i) { return *c.policy->consts[i].expr->folded; };
  EXPECT_EQ(v(0).kind, Kind::kInt);
  EXPECT_EQ(v(0).i, 3);
  EXPECT_EQ(v(1).kind, Kind::kDecimal);
  EXPECT_EQ(v(1).i, 300000);
  EXPECT_EQ(v(2).sv(), "abc");
  EXPECT_EQ(v(3).kind, Kind::kMoney);
  EXPECT_EQ(v(3).i, 7500000);
  EXPECT_EQ(v(4).kind, Kind::kDecimal);
  EXPECT_EQ(v(4).i, 2500000);
  EXPECT_EQ(v(5).kind, Kind::kDecimal);  // coerced to the declared type
  EXPECT_EQ(v(5).i, 1000000);
  EXPECT_TRUE(c.policy->consts[5].expr->type.is(Kind::kDecimal));
  EXPECT_EQ(v(6).kind, Kind::kTime);
  EXPECT_EQ(FormatRfc3339(v(6).i), "2025-01-06T09:00:00Z");
  EXPECT_EQ(v(7).i, -1);
  EXPECT_TRUE(v(8).b);
  EXPECT_TRUE(v(9).b);
  // The whole `when` is not constant, but its constant parts are folded.
  const Expr& w = When(*c.policy, 0);
  EXPECT_FALSE(w.folded.has_value());
  EXPECT_EQ(Find(w, "a == 3").folded->b, true);
}

TEST(Annotations, RouteBudgetAndLimitValuesAreFolded) {
  auto c = CheckSource(R"(policy "p"
const cap = 1.00 usd
rule r { route sort price, max_price request cap * 2, order ["openai", "mistral"] }
budget b { key principal.workspace per day limit 500.00 usd }
limit l { key principal.user ?? "anonymous" per minute max 6 * 10 requests })");
  ASSERT_TRUE(c.ok) << c.Render();
  const auto& hints = c.policy->rules[0].effects[0].hints;
  EXPECT_EQ(hints[1].expr->folded->kind, Kind::kMoney);
  EXPECT_EQ(hints[1].expr->folded->i, 2000000);
  EXPECT_EQ(ToJson(*hints[2].expr->folded), R"(["openai","mistral"])");
  EXPECT_EQ(c.policy->budgets[0].limit->folded->i, 500000000);
  EXPECT_EQ(c.policy->limits[0].max->folded->i, 60);
  EXPECT_FALSE(c.policy->budgets[0].key->folded.has_value());
}

TEST(Annotations, TestBindingsAreCoercedToFieldTypes) {
  auto c = CheckSource(R"(policy "p"
rule r { when request.model == "x" deny "x" }
test "t" {
  given {
    request.model: "x",
    request.messages: [{role: "user", content: "hi"}, {content: "yo", role: "assistant", name: "bot"}],
    request.temperature: 1,
    context.time: "2025-01-06T09:00:00Z",
    request.max_tokens: null
  }
  candidate { endpoint.price_input: 2.50 usd, provider.zdr: true, provider: "acme", trains_on_data: false,
              quantization: "fp8" }
  expect fired r
})");
  ASSERT_TRUE(c.ok) << c.Render();
  const auto& g = c.policy->tests[0].given;
  const Value& msgs = *g[1].value->folded;
  ASSERT_EQ(msgs.kind, Kind::kList);
  ASSERT_EQ(msgs.list->items.size(), 2u);
  const Value& m1 = msgs.list->items[1];
  ASSERT_EQ(m1.kind, Kind::kRecord);  // record in the schema's field order
  EXPECT_EQ(m1.rec->fields[0].sv(), "assistant");
  EXPECT_EQ(m1.rec->fields[1].sv(), "yo");
  EXPECT_EQ(m1.rec->fields[2].sv(), "bot");
  EXPECT_TRUE(msgs.list->items[0].rec->fields[2].is_null());  // optional `name` absent
  EXPECT_EQ(g[1].value->type, S().field(S().Find("request.messages")).type);
  EXPECT_EQ(g[2].value->folded->kind, Kind::kDecimal);
  EXPECT_EQ(g[2].value->folded->i, 1000000);
  EXPECT_EQ(g[3].value->folded->kind, Kind::kTime);
  EXPECT_TRUE(g[4].value->folded->is_null());
  EXPECT_EQ(c.policy->tests[0].candidate[0].value->folded->i, 2500000);
  // Shorthand candidate paths are checked against the field they stand for.
  EXPECT_TRUE(c.policy->tests[0].candidate[2].value->type.is(Kind::kString));
  auto bad = CheckSource(R"(policy "p"
rule r { require provider.zdr }
test "t" { given {} candidate { zdr: "yes", provider.zdrr: true } expect accepted })");
  EXPECT_EQ(bad.ErrorCodes(), (std::vector<std::string>{"tg_type_error", "tg_unknown_field"})) << bad.Render();
}

TEST(Annotations, DataDocumentsLoadIntoTheArena) {
  auto c = CheckSource(R"(policy "p"
data settings from "settings.json": {suspended: bool, models: set<string>, cap: money, owner?: string}
rule r { when settings.suspended or request.model in settings.models deny "x" })");
  ASSERT_TRUE(c.ok) << c.Render();
  const auto& d = c.policy->data[0];
  ASSERT_EQ(d.value.kind, Kind::kRecord);
  EXPECT_FALSE(d.value.rec->fields[0].b);
  EXPECT_EQ(d.value.rec->fields[2].kind, Kind::kMoney);
  EXPECT_EQ(d.value.rec->fields[2].i, 2500000);
  EXPECT_TRUE(d.value.rec->fields[3].is_null());
  EXPECT_EQ(d.canonical_json, ToJson(d.value));
  const Expr& ref = Find(When(*c.policy, 0), "settings");
  EXPECT_EQ(ref.ref, RefKind::kData);
  EXPECT_EQ(ref.index, 0);
  const Expr& models = Find(When(*c.policy, 0), "settings.models");
  EXPECT_EQ(models.index, 1);
  EXPECT_EQ(models.type, Type::Set(Type(Kind::kString)));
}

}  // namespace
}  // namespace tollgate::checktest
