#include "engine/ast/ast.h"

#include <gtest/gtest.h>

namespace tollgate::ast {
namespace {

ExprPtr Lit(Value v) {
  auto e = std::make_unique<Expr>();
  e->kind = ExprKind::kLiteral;
  e->value = v;
  return e;
}

ExprPtr Name(std::string n) {
  auto e = std::make_unique<Expr>();
  e->kind = ExprKind::kName;
  e->name = std::move(n);
  return e;
}

ExprPtr Member(ExprPtr base, std::string n) {
  auto e = std::make_unique<Expr>();
  e->kind = ExprKind::kMember;
  e->name = std::move(n);
  e->kids.push_back(std::move(base));
  return e;
}

ExprPtr Bin(Op op, ExprPtr l, ExprPtr r) {
  auto e = std::make_unique<Expr>();
  e->kind = ExprKind::kBinary;
  e->op = op;
  e->kids.push_back(std::move(l));
  e->kids.push_back(std::move(r));
  return e;
}

// policy "p" / const max_cost = 0.50 usd / rule cheap { when request.model == "gpt-4o"
// require endpoint.estimated_cost <= max_cost; route sort price } / test "t" {...}
std::unique_ptr<Policy> MakePolicy(int64_t cost_micros = 500000, Span span = {}) {
  auto p = std::make_unique<Policy>();
  p->name = "p";
  ConstDecl c;
  c.name = "max_cost";
  c.span = span;
  c.expr = Lit(Value::Money(cost_micros));
  c.expr->span = span;
  p->consts.push_back(std::move(c));
  Rule r;
  r.name = "cheap";
  r.span = span;
  r.when = Bin(Op::kEq, Member(Name("request"), "model"), Lit(p->arena->String("gpt-4o")));
  Effect req;
  req.kind = EffectKind::kRequire;
  req.expr = Bin(Op::kLe, Member(Name("endpoint"), "estimated_cost"), Name("max_cost"));
  r.effects.push_back(std::move(req));
  Effect route;
  route.kind = EffectKind::kRoute;
  RouteHint h;
  h.kind = RouteHintKind::kSort;
  h.word = "price";
  route.hints.push_back(std::move(h));
  r.effects.push_back(std::move(route));
  p->rules.push_back(std::move(r));
  TestDecl t;
  t.name = "t";
  Binding b;
  b.path = {"request", "model"};
  b.value = Lit(p->arena->String("gpt-4o"));
  t.given.push_back(std::move(b));
  Expect x;
  x.kind = ExpectKind::kDeny;
  x.status = 403;
  t.expects.push_back(std::move(x));
  p->tests.push_back(std::move(t));
  return p;
}

TEST(Ast, OpAndModeNames) {
  EXPECT_STREQ(OpText(Op::kNotIn), "not in");
  EXPECT_STREQ(OpText(Op::kLe), "<=");
  EXPECT_STREQ(OpText(Op::kMatches), "matches");
  EXPECT_STREQ(ModeName(Mode::kShadow), "shadow");
  EXPECT_STREQ(ModeName(Mode::kAdvisory), "advisory");
}

TEST(Ast, SameTreeIgnoresSpansAndAnnotations) {
  SourceFile f{"x.tg", "..."};
  auto a = MakePolicy();
  auto b = MakePolicy(500000, Span{&f, 3, 9, 2, 4});
  b->rules[0].when->type = Type(Kind::kBool);
  b->rules[0].when->folded = Value::Bool(true);
  b->rules[0].when->ref = RefKind::kField;
  EXPECT_TRUE(SameTree(*a, *b));
  EXPECT_EQ(Dump(*a), Dump(*b));
}

TEST(Ast, SameTreeSeesSemanticDifferences) {
  auto a = MakePolicy();
  EXPECT_FALSE(SameTree(*a, *MakePolicy(500001)));
  auto b = MakePolicy();
  b->rules[0].mode = Mode::kShadow;
  EXPECT_FALSE(SameTree(*a, *b));
  EXPECT_NE(Dump(*a), Dump(*b));
  auto c = MakePolicy();
  c->rules[0].effects[1].hints[0].word = "latency";
  EXPECT_FALSE(SameTree(*a, *c));
  EXPECT_NE(Dump(*a), Dump(*c));
  auto d = MakePolicy();
  d->tests[0].expects[0].status = 0;
  EXPECT_FALSE(SameTree(*a, *d));
  EXPECT_NE(Dump(*a), Dump(*d));
  // Same numeric value, different literal kind: decimal 0.5 is not money 0.50.
  auto e = MakePolicy();
  e->consts[0].expr->value = Value::Decimal(500000);
  EXPECT_FALSE(SameTree(*a, *e));
  EXPECT_NE(Dump(*a), Dump(*e));
}

TEST(Ast, DumpIsAGoldenSExpression) {
  auto p = MakePolicy();
  EXPECT_EQ(Dump(*p),
            "(policy \"p\"\n"
            "  (const max_cost (lit money 0.5))\n"
            "  (rule cheap (mode enforce) (on_error deny)\n"
            "    (when (binary == (member (name request) model) (lit string \"gpt-4o\")))\n"
            "    (require (binary <= (member (name endpoint) estimated_cost) (name max_cost)))\n"
            "    (route (sort price))\n"
            "  )\n"
            "  (test \"t\"\n"
            "    (given (request.model (lit string \"gpt-4o\")))\n"
            "    (expect deny 403)\n"
            "  )\n"
            ")\n");
}

TEST(Ast, DumpExpressionKinds) {
  Arena a;
  auto q = std::make_unique<Expr>();
  q->kind = ExprKind::kQuantifier;
  q->quant_all = true;
  q->name = "m";
  q->kids.push_back(Member(Name("request"), "messages"));
  q->kids.push_back(Bin(Op::kNotIn, Member(Name("m"), "role"), Name("roles")));
  EXPECT_EQ(Dump(*q),
            "(all m (member (name request) messages) "
            "(binary not in (member (name m) role) (name roles)))");
  auto m = std::make_unique<Expr>();
  m->kind = ExprKind::kMap;
  m->keys = {"a b", "c"};
  m->kids.push_back(Lit(Value::Duration(1500)));
  m->kids.push_back(Lit(Value::Null()));
  EXPECT_EQ(Dump(*m), "(map (\"a b\" (lit duration 1500ms)) (\"c\" (lit null)))");
  auto call = std::make_unique<Expr>();
  call->kind = ExprKind::kCall;
  call->name = "dlp.injection_score";
  call->kids.push_back(Member(Name("request"), "content"));
  EXPECT_EQ(Dump(*call), "(call dlp.injection_score (member (name request) content))");
}

TEST(Ast, DumpCoversDataBudgetsAndLimits) {
  auto p = std::make_unique<Policy>();
  p->name = "q";
  DataDecl d;
  d.name = "ws";
  d.file = "data/ws.json";
  d.shape = Type::Map(Type::Set(Type(Kind::kString)));
  p->data.push_back(std::move(d));
  BudgetDecl b;
  b.name = "daily";
  b.key = Member(Name("principal"), "workspace");
  b.window = Window::kDay;
  b.limit = Lit(Value::Money(500000000));
  p->budgets.push_back(std::move(b));
  LimitDecl l;
  l.name = "rpm";
  l.key = Member(Name("principal"), "user");
  l.window = Window::kCustom;
  l.window_ms = 600000;
  l.max = Lit(Value::Int(60));
  l.unit = "requests";
  p->limits.push_back(std::move(l));
  EXPECT_EQ(Dump(*p),
            "(policy \"q\"\n"
            "  (data ws \"data/ws.json\" (type map<set<string>>))\n"
            "  (budget daily (key (member (name principal) workspace)) (per day) "
            "(limit (lit money 500)))\n"
            "  (limit rpm (key (member (name principal) user)) (per custom 600000ms) "
            "(max (lit int 60) requests))\n"
            ")\n");
  // The checked document contents are part of the canonical text.
  std::string before = Dump(*p);
  p->data[0].canonical_json = R"({"a":["x"]})";
  EXPECT_NE(Dump(*p).find(R"((json "{\"a\":[\"x\"]}"))"), std::string::npos);
  EXPECT_NE(Dump(*p), before);
}

}  // namespace
}  // namespace tollgate::ast
