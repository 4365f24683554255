// Parser: every construct becomes the expected AST; literal values, spans,
// limits and diagnostics for malformed literals.
#include "engine/parse/parse.h"

#include <gtest/gtest.h>

#include <string>

#include "engine/ast/ast.h"

namespace tollgate::parse {
namespace {

struct Parsed {
  std::unique_ptr<ast::Policy> policy;
  Diagnostics diags;
};

Parsed ParseText(const std::string& text, Limits limits = {}) {
  Parsed p;
  p.policy = Parse(std::make_unique<SourceFile>(SourceFile{"t.tg", text}), limits, &p.diags);
  return p;
}

// Dump of `const x = <expr>`, or the rendered diagnostics.
std::string E(const std::string& expr) {
  Parsed p = ParseText("policy \"t\"\nconst x = " + expr + "\n");
  if (!p.policy) return "ERROR " + p.diags.Render();
  return ast::Dump(*p.policy->consts[0].expr);
}

// The codes of all diagnostics, in order. Syntax errors and limits drop the
// AST; value errors keep it (with placeholders) so the checker can run.
std::string Codes(const std::string& text) {
  Parsed p = ParseText(text);
  std::string out;
  bool fatal = false;
  for (const auto& d : p.diags.items()) {
    out += (out.empty() ? "" : " ") + d.code;
    fatal = fatal || d.code == "tg_parse_error" || d.code == "tg_limit_exceeded";
    EXPECT_FALSE(d.help.empty()) << text << ": " << d.message;
  }
  EXPECT_EQ(p.policy == nullptr, fatal) << text;
  return out;
}

TEST(ParseExpr, Literals) {
  EXPECT_EQ(E("42"), "(lit int 42)");
  EXPECT_EQ(E("2.5"), "(lit decimal 2.5)");
  EXPECT_EQ(E("2.50 usd"), "(lit money 2.5)");
  EXPECT_EQ(E("3 usd"), "(lit money 3)");
  EXPECT_EQ(E("true"), "(lit bool true)");
  EXPECT_EQ(E("false"), "(lit bool false)");
  EXPECT_EQ(E("null"), "(lit null)");
  EXPECT_EQ(E("\"a\\\"b\""), "(lit string \"a\\\"b\")");
}

TEST(ParseExpr, LiteralValues) {
  Parsed p = ParseText(
      "policy \"t\"\nconst a = 30d\nconst b = 250ms\nconst c = 1.000001\nconst d = 0.5 usd\n"
      "const e = \"\\u00e9\\uD83D\\uDE00\\/\\n\\t\"\nconst f = 9223372036854775807\n"
      "const g = 2w\nconst h = 3h\nconst i = 5m\nconst j = 7s\n");
  ASSERT_TRUE(p.policy) << p.diags.Render();
  const auto& c = p.policy->consts;
  EXPECT_EQ(c[0].expr->value.kind, Kind::kDuration);
  EXPECT_EQ(c[0].expr->value.i, 30LL * 86400000);
  EXPECT_EQ(c[1].expr->value.i, 250);
  EXPECT_EQ(c[2].expr->value.kind, Kind::kDecimal);
  EXPECT_EQ(c[2].expr->value.i, 1000001);
  EXPECT_EQ(c[3].expr->value.kind, Kind::kMoney);
  EXPECT_EQ(c[3].expr->value.i, 500000);
  EXPECT_EQ(c[4].expr->value.sv(), "\xC3\xA9\xF0\x9F\x98\x80/\n\t");
  EXPECT_EQ(c[5].expr->value.i, INT64_MAX);
  EXPECT_EQ(c[6].expr->value.i, 2LL * 604800000);
  EXPECT_EQ(c[7].expr->value.i, 3LL * 3600000);
  EXPECT_EQ(c[8].expr->value.i, 5LL * 60000);
  EXPECT_EQ(c[9].expr->value.i, 7000);
}

TEST(ParseExpr, Precedence) {
  EXPECT_EQ(E("a or b and not c"),
            "(binary or (name a) (binary and (name b) (unary not (name c))))");
  EXPECT_EQ(E("1 + 2 * 3 - 4 % 5"),
            "(binary - (binary + (lit int 1) (binary * (lit int 2) (lit int 3))) "
            "(binary % (lit int 4) (lit int 5)))");
  EXPECT_EQ(E("-a / b"), "(binary / (unary - (name a)) (name b))");
  EXPECT_EQ(E("(a or b) and c"), "(binary and (binary or (name a) (name b)) (name c))");
  EXPECT_EQ(E("a + 1 >= b"), "(binary >= (binary + (name a) (lit int 1)) (name b))");
}

TEST(ParseExpr, Comparisons) {
  EXPECT_EQ(E("a == 1"), "(binary == (name a) (lit int 1))");
  EXPECT_EQ(E("a != 1"), "(binary != (name a) (lit int 1))");
  EXPECT_EQ(E("a < 1"), "(binary < (name a) (lit int 1))");
  EXPECT_EQ(E("a <= 1"), "(binary <= (name a) (lit int 1))");
  EXPECT_EQ(E("a > 1"), "(binary > (name a) (lit int 1))");
  EXPECT_EQ(E("a >= 1"), "(binary >= (name a) (lit int 1))");
  EXPECT_EQ(E("a in b"), "(binary in (name a) (name b))");
  EXPECT_EQ(E("a not in b"), "(binary not in (name a) (name b))");
  EXPECT_EQ(E("a has \"x\""), "(binary has (name a) (lit string \"x\"))");
  EXPECT_EQ(E("a matches \"x\""), "(binary matches (name a) (lit string \"x\"))");
  EXPECT_EQ(E("a contains \"x\""), "(binary contains (name a) (lit string \"x\"))");
}

TEST(ParseExpr, PostfixAndCalls) {
  EXPECT_EQ(E("request.provider.zdr"), "(member (member (name request) provider) zdr)");
  EXPECT_EQ(E("a.deny.not"), "(member (member (name a) deny) not)");
  EXPECT_EQ(E("ws[principal.workspace].allowed"),
            "(member (index (name ws) (member (name principal) workspace)) allowed)");
  EXPECT_EQ(E("lower(a, 1)"), "(call lower (name a) (lit int 1))");
  EXPECT_EQ(E("dlp.injection_score(request.content)"),
            "(call dlp.injection_score (member (name request) content))");
  EXPECT_EQ(E("f()"), "(call f)");
  EXPECT_EQ(E("f(x).y"), "(member (call f (name x)) y)");
  EXPECT_EQ(Codes("policy \"t\" const x = f(1)(2)"), "tg_parse_error");
  EXPECT_EQ(Codes("policy \"t\" const x = a[0](2)"), "tg_parse_error");
}

TEST(ParseExpr, Collections) {
  EXPECT_EQ(E("[]"), "(list)");
  EXPECT_EQ(E("[1, 2,]"), "(list (lit int 1) (lit int 2))");
  EXPECT_EQ(E("{}"), "(set)");
  EXPECT_EQ(E("{\"a\", \"b\"}"), "(set (lit string \"a\") (lit string \"b\"))");
  EXPECT_EQ(E("{a: 1, \"b c\": [2], deny: 3,}"),
            "(map (\"a\" (lit int 1)) (\"b c\" (list (lit int 2))) (\"deny\" (lit int 3)))");
  EXPECT_EQ(Codes("policy \"t\" const x = {a: 1, a: 2}"), "tg_duplicate_name");
}

TEST(ParseExpr, Quantifiers) {
  EXPECT_EQ(E("any m in request.messages: m.role == \"user\""),
            "(any m (member (name request) messages) (binary == (member (name m) role) "
            "(lit string \"user\")))");
  EXPECT_EQ(E("all x in l: any y in x: y"), "(all x (name l) (any y (name x) (name y)))");
  EXPECT_EQ(E("a and (any x in l: x)"), "(binary and (name a) (any x (name l) (name x)))");
}

TEST(ParseDecl, Everything) {
  Parsed p = ParseText(R"(policy "acme"
const eu: set<string> = {"DE", "FR"}
data ws from "ws.json": map<{allowed: list<string>, suspended?: bool}>
budget b { key request.workspace per day limit 500.00 usd }
budget b2 { key 1 per 36h limit 1 usd }
limit l { key request.user per minute max 60 requests }
rule r mode shadow on_error skip {
  when a
  deny "no"
  deny 451 "legal"
  require provider.zdr
  redact dlp.email as "[EMAIL]"
  route sort price, max_price 1.00 usd, max_price prompt 2 usd, order ["a"]
  tag tier = "gold"
  warn "careful"
}
rule plain { deny "x" }
test "t" {
  given { request.model: "m", context.x: 1, }
  candidate { provider.zdr: true }
  expect allow
  expect deny
  expect deny 402
  expect fired r, plain
  expect not_fired r
  expect rejected_by r
  expect accepted
  expect redacts "[EMAIL]"
  expect tag tier = "gold"
  expect route sort latency
  expect warns
}
)");
  ASSERT_TRUE(p.policy) << p.diags.Render();
  const ast::Policy& a = *p.policy;
  EXPECT_EQ(a.name, "acme");
  ASSERT_EQ(a.consts.size(), 1u);
  EXPECT_EQ(a.consts[0].declared->ToString(), "set<string>");
  EXPECT_EQ(a.data[0].file, "ws.json");
  EXPECT_EQ(a.data[0].shape.ToString(), "map<{allowed: list<string>, suspended?: bool}>");
  EXPECT_EQ(a.budgets[0].window, ast::Window::kDay);
  EXPECT_EQ(a.budgets[1].window, ast::Window::kCustom);
  EXPECT_EQ(a.budgets[1].window_ms, 36LL * 3600000);
  EXPECT_EQ(a.limits[0].unit, "requests");
  EXPECT_EQ(a.limits[0].window, ast::Window::kMinute);
  const ast::Rule& r = a.rules[0];
  EXPECT_EQ(r.mode, ast::Mode::kShadow);
  EXPECT_EQ(r.on_error, ast::OnError::kSkip);
  ASSERT_EQ(r.effects.size(), 7u);
  EXPECT_EQ(r.effects[0].status, 403);
  EXPECT_EQ(r.effects[1].status, 451);
  EXPECT_EQ(r.effects[4].kind, ast::EffectKind::kRoute);
  ASSERT_EQ(r.effects[4].hints.size(), 4u);
  EXPECT_EQ(r.effects[4].hints[2].word, "prompt");
  EXPECT_EQ(r.effects[5].tag_key, "tier");
  EXPECT_EQ(a.rules[1].mode, ast::Mode::kEnforce);
  EXPECT_EQ(a.rules[1].when, nullptr);
  const ast::TestDecl& t = a.tests[0];
  EXPECT_EQ(t.given[1].path, (std::vector<std::string>{"context", "x"}));
  EXPECT_TRUE(t.has_candidate);
  ASSERT_EQ(t.expects.size(), 11u);
  EXPECT_EQ(t.expects[1].status, 0);
  EXPECT_EQ(t.expects[2].status, 402);
  EXPECT_EQ(t.expects[3].names, (std::vector<std::string>{"r", "plain"}));
  EXPECT_EQ(t.expects[7].names, (std::vector<std::string>{"[EMAIL]"}));
  EXPECT_EQ(t.expects[9].hint->word, "latency");
  // The full dump, as a regression net over every construct.
  EXPECT_NE(ast::Dump(a).find("(rule r (mode shadow) (on_error skip)"), std::string::npos)
      << ast::Dump(a);
}

TEST(ParseDecl, ValueErrors) {
  EXPECT_EQ(Codes("policy \"t\" const a = 99999999999999999999"), "tg_invalid_value");
  EXPECT_EQ(Codes("policy \"t\" const a = 1.1234567"), "tg_invalid_value");
  EXPECT_EQ(Codes("policy \"t\" const a = 99999999999999999 usd"), "tg_invalid_value");
  EXPECT_EQ(Codes("policy \"t\" const a = 99999999999999999999d"), "tg_invalid_value");
  EXPECT_EQ(Codes("policy \"t\" rule r { deny 99 \"x\" }"), "tg_invalid_value");
  EXPECT_EQ(Codes("policy \"t\" rule r { deny 600 \"x\" }"), "tg_invalid_value");
  // Sort words, price kinds and limit units are the checker's (one report).
  EXPECT_EQ(Codes("policy \"t\" rule r { route sort cost }"), "");
  EXPECT_EQ(Codes("policy \"t\" rule r { route max_price total 1 usd }"), "");
  EXPECT_EQ(Codes("policy \"t\" budget b { key 1 per fortnight limit 1 usd }"),
            "tg_invalid_value");
  EXPECT_EQ(Codes("policy \"t\" budget b { key 1 per 0s limit 1 usd }"), "tg_invalid_value");
  EXPECT_EQ(Codes("policy \"t\" limit l { key 1 per day max 1 calls }"), "");
  EXPECT_EQ(Codes("policy \"t\" rule r { deny 200 \"x\" }"), "tg_invalid_value");
  EXPECT_EQ(Codes("policy \"t\" rule r { deny 599 \"x\" }"), "");
  EXPECT_EQ(Codes("policy \"t\" const a = {b: 1, b: 2}"), "tg_duplicate_name");
  EXPECT_EQ(Codes("policy \"t\" rule r mode shadow mode enforce { deny \"x\" }"),
            "tg_duplicate_name");
  EXPECT_EQ(Codes("policy \"t\" rule r on_error skip on_error deny { deny \"x\" }"),
            "tg_duplicate_name");
  EXPECT_EQ(Codes("policy \"t\" const a = \"\\q\""), "tg_invalid_value");
  EXPECT_EQ(Codes("policy \"t\" const a = \"\\uD800\""), "tg_invalid_value");
  EXPECT_EQ(Codes("policy \"t\" const a = \"\\u12\""), "tg_invalid_value");
  // A bad escape is found on the tokens: reported beside lexical errors.
  EXPECT_EQ(Codes("policy \"t\" const a = \"\\q\" /* open"), "tg_invalid_value tg_parse_error");
  // All value errors of a file are reported together.
  EXPECT_EQ(Codes("policy \"t\" const a = 1.1234567 rule r { deny 700 \"x\" }"),
            "tg_invalid_value tg_invalid_value");
}

// `0.0000025 usd` is a price per token as OpenRouter's API writes it: still
// an error (money is exact to micro-dollars), with the per-million amount
// tollgate's prices use in the help. A plain decimal keeps the short help.
TEST(ParseLiteral, PerTokenPriceHelpWritesThePerMillionAmount) {
  Parsed p = ParseText("policy \"t\"\nrule r { require endpoint.price_input <= 0.0000025 usd }\n");
  ASSERT_EQ(p.diags.items().size(), 1u) << p.diags.Render();
  EXPECT_EQ(p.diags.items()[0].code, "tg_invalid_value");
  EXPECT_NE(p.diags.items()[0].help.find("`2.5 usd` for 0.0000025 usd per token"), std::string::npos)
      << p.diags.items()[0].help;
  Parsed q = ParseText("policy \"t\"\nconst a = 0.00000012 usd\nconst b = 0.1234567\n");
  ASSERT_EQ(q.diags.items().size(), 2u) << q.diags.Render();
  EXPECT_NE(q.diags.items()[0].help.find("`0.12 usd` for 0.00000012 usd per token"), std::string::npos)
      << q.diags.items()[0].help;
  EXPECT_EQ(q.diags.items()[1].help, "decimals and money are exact to 6 places (micro-units)");
}

TEST(ParseDecl, Types) {
  auto type_of = [](const std::string& t) {
    Parsed p = ParseText("policy \"t\" const a: " + t + " = 1");
    if (p.diags.HasErrors()) return "ERROR " + p.diags.items()[0].code + ": " + p.diags.items()[0].message +
                          " / " + p.diags.items()[0].help;
    return p.policy->consts[0].declared->ToString();
  };
  EXPECT_EQ(type_of("bool"), "bool");
  EXPECT_EQ(type_of("time"), "time");
  EXPECT_EQ(type_of("duration"), "duration");
  EXPECT_EQ(type_of("list<set<int>>"), "list<set<int>>");
  EXPECT_EQ(type_of("map<money>"), "map<money>");
  EXPECT_EQ(type_of("{a: int, b?: {c: string}}"), "{a: int, b?: {c: string}}");
  EXPECT_EQ(type_of("strng"), "ERROR tg_unknown_type: unknown type `strng` / did you mean `string`?");
  EXPECT_EQ(type_of("lst<int>"), "ERROR tg_unknown_type: unknown type `lst` / did you mean `list`?");
  EXPECT_EQ(type_of("map<string, int>").substr(0, 20), "ERROR tg_type_error:");
  EXPECT_EQ(type_of("set").substr(0, 20), "ERROR tg_type_error:");
  EXPECT_EQ(type_of("int<int>").substr(0, 20), "ERROR tg_type_error:");
  EXPECT_EQ(type_of("{a: int, a: bool}").substr(0, 24), "ERROR tg_duplicate_name:");
}

TEST(ParseSpans, ByteOffsetsAndColumns) {
  // "é" and "ü" are two bytes each: columns and offsets count bytes.
  std::string text = "policy \"é\"\nconst ü_free = \"ü\" + name\n";
  Parsed p = ParseText(text);
  ASSERT_FALSE(p.policy);  // `ü_free` is not an identifier
  Parsed q = ParseText("policy \"é\"\nconst a = \"üü\" + name\n");
  ASSERT_TRUE(q.policy) << q.diags.Render();
  const ast::Expr& plus = *q.policy->consts[0].expr;
  const ast::Expr& name = *plus.kids[1];
  const std::string& src = q.policy->file->text;
  EXPECT_EQ(src.substr(name.span.begin, name.span.end - name.span.begin), "name");
  EXPECT_EQ(name.span.line, 2u);
  EXPECT_EQ(name.span.col, 20u);  // bytes, not code points (18)
  const ast::Expr& str = *plus.kids[0];
  EXPECT_EQ(src.substr(str.span.begin, str.span.end - str.span.begin), "\"üü\"");
  EXPECT_EQ(src.substr(plus.span.begin, plus.span.end - plus.span.begin), "\"üü\" + name");
  EXPECT_EQ(q.policy->name_span.col, 8u);
  // A syntax error after multi-byte text points at the right byte.
  Parsed e = ParseText("policy \"ééé\" const a = \"ü\" + @");
  ASSERT_FALSE(e.diags.empty());
  EXPECT_EQ(e.diags.items()[0].span.col, 34u);
  EXPECT_EQ(e.diags.items()[0].message, "unexpected character `@`");
}

TEST(ParseSpans, ParenthesesAreInsideTheSpan) {
  Parsed p = ParseText("policy \"t\"\nconst a = not (b in c)\n");
  ASSERT_TRUE(p.policy);
  const ast::Expr& n = *p.policy->consts[0].expr;
  const std::string& src = p.policy->file->text;
  EXPECT_EQ(src.substr(n.span.begin, n.span.end - n.span.begin), "not (b in c)");
  const ast::Expr& in = *n.kids[0];
  EXPECT_EQ(src.substr(in.span.begin, in.span.end - in.span.begin), "(b in c)");
}

TEST(ParseSpans, RuleAndEffectSpans) {
  Parsed p = ParseText("policy \"t\"\nrule abc {\n  deny \"x\"\n}\n");
  ASSERT_TRUE(p.policy);
  const ast::Rule& r = p.policy->rules[0];
  EXPECT_EQ(r.name_span.line, 2u);
  EXPECT_EQ(r.name_span.col, 6u);
  EXPECT_EQ(r.span.begin, 11u);
  EXPECT_EQ(p.policy->file->text.substr(r.span.begin, r.span.end - r.span.begin),
            "rule abc {\n  deny \"x\"\n}");
  EXPECT_EQ(r.effects[0].span.line, 3u);
  EXPECT_EQ(r.effects[0].span.col, 3u);
}

TEST(ParseLimits, InvalidUtf8) {
  Parsed p = ParseText("policy \"t\"\nconst a = \"\xff\"\n");
  ASSERT_FALSE(p.policy);
  ASSERT_EQ(p.diags.size(), 1u);
  EXPECT_EQ(p.diags.items()[0].code, "tg_parse_error");
  EXPECT_EQ(p.diags.items()[0].message, "invalid utf-8 in source");
  EXPECT_EQ(p.diags.items()[0].span.line, 2u);
  EXPECT_EQ(p.diags.items()[0].span.col, 12u);
  // Overlong encodings and surrogates are invalid too.
  EXPECT_FALSE(ParseText("policy \"\xC0\xAF\"").policy);
  EXPECT_FALSE(ParseText("policy \"\xED\xA0\x80\"").policy);
  EXPECT_FALSE(ParseText("policy \"\xF0\x9F\x98\"").policy);
}

TEST(ParseLimits, ByteOrderMarkIsWhitespace) {
  Parsed p = ParseText("\xEF\xBB\xBFpolicy \"t\"\nconst a = 1\n");
  ASSERT_TRUE(p.policy) << p.diags.Render();
  EXPECT_EQ(p.policy->consts[0].span.line, 2u);
  EXPECT_EQ(p.policy->name_span.begin, 10u);  // 3 BOM bytes + `policy `
}

TEST(ParseLimits, SourceSize) {
  Limits limits;
  limits.max_source_bytes = 64;
  std::string text = "policy \"t\"\n# " + std::string(100, 'x') + "\n";
  Parsed p = ParseText(text, limits);
  ASSERT_FALSE(p.policy);
  EXPECT_EQ(p.diags.items()[0].code, "tg_limit_exceeded");
  limits.max_source_bytes = 1000;
  EXPECT_TRUE(ParseText(text, limits).policy);
}

std::string Repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

TEST(ParseLimits, NestingDepth) {
  Limits limits;
  limits.max_nesting_depth = 20;
  auto code = [&](const std::string& expr) {
    Parsed p = ParseText("policy \"t\"\nconst a = " + expr + "\n", limits);
    return p.policy ? std::string("ok") : p.diags.items()[0].code;
  };
  EXPECT_EQ(code(Repeat("(", 19) + "1" + Repeat(")", 19)), "ok");
  EXPECT_EQ(code(Repeat("(", 21) + "1" + Repeat(")", 21)), "tg_limit_exceeded");
  EXPECT_EQ(code(Repeat("[", 21) + Repeat("]", 21)), "tg_limit_exceeded");
  EXPECT_EQ(code(Repeat("{", 21) + Repeat("}", 21)), "tg_limit_exceeded");
  EXPECT_EQ(code(Repeat("not ", 19) + "true"), "ok");
  EXPECT_EQ(code(Repeat("not ", 21) + "true"), "tg_limit_exceeded");
  EXPECT_EQ(code(Repeat("-", 21) + "1"), "tg_limit_exceeded");
  EXPECT_EQ(code(Repeat("any x in l: ", 21) + "x"), "tg_limit_exceeded");
  // Sequential brackets and long flat lists are not nesting.
  EXPECT_EQ(code("[" + Repeat("(1), ", 500) + "1]"), "ok");
  // Long operator chains are flat in the grammar; the AST guard allows 4x.
  EXPECT_EQ(code(Repeat("1 + ", 70) + "1"), "ok");
  EXPECT_EQ(code(Repeat("1 + ", 90) + "1"), "tg_limit_exceeded");
  Parsed t = ParseText("policy \"t\"\nconst a: " + Repeat("list<", 21) + "int" + Repeat(">", 21),
                       limits);
  ASSERT_FALSE(t.policy);
  EXPECT_EQ(t.diags.items()[0].code, "tg_limit_exceeded");
  // The default limit (64) holds against very deep input without crashing.
  Parsed deep = ParseText("policy \"t\" const a = " + Repeat("(", 10000) + "1" +
                          Repeat(")", 10000));
  ASSERT_FALSE(deep.policy);
  EXPECT_EQ(deep.diags.items()[0].code, "tg_limit_exceeded");
  Parsed chain = ParseText("policy \"t\" const a = " + Repeat("1 + ", 5000) + "1");
  ASSERT_FALSE(chain.policy);
  EXPECT_EQ(chain.diags.items()[0].code, "tg_limit_exceeded");
}

TEST(ParseErrors, CappedAtMaxSyntaxErrors) {
  Limits limits;
  limits.max_syntax_errors = 5;
  std::string text = "policy \"t\"\n" + Repeat("rule { }\n", 40);
  Parsed p = ParseText(text, limits);
  ASSERT_FALSE(p.policy);
  size_t errors = 0;
  for (const auto& d : p.diags.items()) errors += d.severity == Severity::kError;
  EXPECT_EQ(errors, 5u);
  EXPECT_EQ(p.diags.items().back().severity, Severity::kNote);
  EXPECT_EQ(p.diags.items().back().message, "stopped after 5 syntax errors");
}

TEST(ParseErrors, CapAlsoAppliesToLexicalErrors) {
  Limits limits;
  limits.max_syntax_errors = 3;
  Parsed p = ParseText("policy \"t\" const a = 1 @ 2 $ 3 ^ 4 ` 5 ~ 6", limits);
  ASSERT_FALSE(p.policy);
  ASSERT_EQ(p.diags.size(), 4u);
  EXPECT_EQ(p.diags.items()[3].message, "stopped after 3 syntax errors");
}

TEST(ParseErrors, DiagnosticsOutliveTheFailedParse) {
  Diagnostics diags;
  {
    auto p = Parse(std::make_unique<SourceFile>(SourceFile{"gone.tg", "policy \"t\" rule {"}),
                   Limits{}, &diags);
    ASSERT_FALSE(p);
  }
  // Rendering reads the source text through the span: it must still exist.
  EXPECT_NE(diags.Render().find("gone.tg:1:17"), std::string::npos) << diags.Render();
}

TEST(Lex, TokensWithComments) {
  Diagnostics diags;
  SourceFile f{"t.tg", "policy \"t\" # hi\n\n/* b */ rule r { deny 403 \"x\" }\n@"};
  std::vector<Token> toks = Lex(f, &diags);
  ASSERT_GE(toks.size(), 5u);
  EXPECT_EQ(toks[0].kind, Token::kWord);
  EXPECT_EQ(toks[1].kind, Token::kString);
  EXPECT_EQ(toks[2].kind, Token::kComment);
  EXPECT_EQ(toks[2].text, "# hi");
  EXPECT_FALSE(toks[2].newline_before);
  EXPECT_EQ(toks[3].text, "/* b */");
  EXPECT_TRUE(toks[3].newline_before);
  EXPECT_TRUE(toks[3].blank_line_before);
  EXPECT_EQ(toks[3].line, 3u);
  EXPECT_EQ(toks[4].text, "rule");
  EXPECT_FALSE(toks[4].newline_before);
  EXPECT_EQ(toks[4].col, 9u);
  EXPECT_EQ(toks[8].kind, Token::kNumber);
  EXPECT_EQ(toks.back().kind, Token::kError);
  ASSERT_EQ(diags.size(), 1u);
  EXPECT_EQ(diags.items()[0].message, "unexpected character `@`");
}

}  // namespace
}  // namespace tollgate::parse
