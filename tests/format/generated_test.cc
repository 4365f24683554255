// `tollgate fmt` over thousands of generated policies: every construct of the
// grammar (all effects, route hints, modes, budgets, limits, tests, types,
// quantifiers, calls of the keyword-named builtins `max` and `contains`), with
// random spacing, line breaks and comments. For each: Format succeeds, is
// idempotent, and the output parses to the same AST (ast::SameTree).
//
// The differential suite has its own generator (tests/differential), but a
// suite links only its own directory's sources, so this one is separate.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "engine/ast/ast.h"
#include "engine/parse/format.h"
#include "engine/parse/parse.h"

namespace tollgate::parse {
namespace {

class Gen {
 public:
  explicit Gen(uint32_t seed) : rng_(seed) {}

  std::string Policy() {
    std::string s = "policy \"gen\"\n";
    int decls = 1 + N(6);
    for (int i = 0; i < decls; ++i) {
      switch (N(6)) {
        case 0: s += "const c" + std::to_string(i) + Maybe(": " + TypeText(0)) + " = " + Expr(0) + "\n"; break;
        case 1: s += "data d" + std::to_string(i) + " from \"d.json\": " + TypeText(0) + "\n"; break;
        case 2: s += "budget b" + std::to_string(i) + " { key " + Expr(0) + " per " + Window() +
                     " limit " + Money() + " }\n"; break;
        case 3: s += "limit l" + std::to_string(i) + " { key " + Expr(0) + " per " + Window() + " max " +
                     Expr(1) + " " + Pick({"requests", "tokens"}) + " }\n"; break;
        case 4: s += Test(i); break;
        default: s += Rule(i); break;
      }
    }
    return s;
  }

 private:
  int N(int n) { return static_cast<int>(rng_() % static_cast<uint32_t>(n)); }
  std::string Pick(std::initializer_list<const char*> v) { return *(v.begin() + N(static_cast<int>(v.size()))); }
  std::string Maybe(const std::string& s) { return N(2) ? s : ""; }

  std::string Money() { return std::to_string(N(100)) + (N(2) ? ".25" : "") + " usd"; }
  std::string Window() { return N(2) ? Pick({"minute", "hour", "day", "week", "month"}) : std::to_string(1 + N(90)) + Pick({"m", "h", "d"}); }
  std::string Str() { return Pick({"\"a\"", "\"gpt-4o\"", "\"x y\"", "\"\\n\\t\"", "\"\\u00e9\"", "\"\""}); }

  std::string TypeText(int depth) {
    if (depth > 2) return Pick({"int", "string", "bool"});
    switch (N(6)) {
      case 0: return "set<" + Pick({"string", "int"}) + ">";
      case 1: return "list<" + TypeText(depth + 1) + ">";
      case 2: return "map<" + TypeText(depth + 1) + ">";
      case 3: return "{a: " + TypeText(depth + 1) + ", b?: " + TypeText(depth + 1) + "}";
      default: return Pick({"bool", "int", "decimal", "money", "string", "duration", "time"});
    }
  }

  std::string Field() {
    return Pick({"request.model", "principal.user", "principal.workspace", "request.max_tokens",
                 "context.time", "provider.name", "request.messages[0].content", "x", "m.role"});
  }

  std::string Atom(int depth) {
    switch (N(depth > 3 ? 4 : 12)) {
      case 0: return std::to_string(N(1000));
      case 1: return Str();
      case 2: return Money();
      case 3: return Field();
      case 4: return "max(" + Expr(depth + 1) + ", " + Expr(depth + 1) + ")";
      case 5: return "contains(" + Expr(depth + 1) + ", " + Str() + ")";
      case 6: return Pick({"lower", "upper", "length", "min", "abs"}) + std::string("(") + Expr(depth + 1) + ")";
      case 7: return "[" + Expr(depth + 1) + ", " + Expr(depth + 1) + Maybe(",") + "]";
      case 8: return "{" + Str() + ", " + Str() + "}";
      case 9: return "{a: " + Expr(depth + 1) + ", \"b c\": " + Expr(depth + 1) + "}";
      case 10: return "(" + Expr(depth + 1) + ")";
      default: return Pick({"true", "false", "null", "1.5", "30d", "250ms"});
    }
  }

  std::string Expr(int depth) {
    if (depth > 4) return Atom(depth);
    switch (N(10)) {
      case 0: return "not " + Atom(depth + 1);  // `not any ...` is not in the grammar
      case 1: return "-" + Atom(depth + 1);
      case 2: return std::string(N(2) ? "any" : "all") + " m in request.messages: " + Expr(depth + 1);
      case 3: case 4: {
        std::string op = Pick({"==", "!=", "<", "<=", ">", ">=", "in", "not in", "matches",
                               "contains", "has", "+", "-", "*", "/", "%", "and", "or"});
        return Atom(depth + 1) + " " + op + " " + Atom(depth + 1);
      }
      case 5: return Atom(depth + 1) + "[" + Expr(depth + 1) + "]";
      default: return Atom(depth);
    }
  }

  std::string Rule(int i) {
    std::string s = "rule r" + std::to_string(i);
    if (N(3) == 0) s += " mode " + Pick({"enforce", "shadow", "advisory"});
    if (N(3) == 0) s += " on_error " + Pick({"deny", "skip"});
    s += " {\n";
    if (N(3)) s += "  when " + Expr(0) + "\n";
    int effects = 1 + N(3);
    for (int k = 0; k < effects; ++k) {
      switch (N(6)) {
        case 0: s += "  deny " + Maybe(std::to_string(400 + N(200)) + " ") + Str() + "\n"; break;
        case 1: s += "  require " + Expr(0) + "\n"; break;
        case 2: s += "  redact " + Pick({"detect.email", "\"sk-[a-z]+\""}) + " as " + Str() + "\n"; break;
        case 3: s += "  route " + Hint() + Maybe(", " + Hint()) + "\n"; break;
        case 4: s += "  tag k" + std::to_string(k) + " = " + Expr(0) + "\n"; break;
        default: s += "  warn " + Str() + "\n"; break;
      }
    }
    return s + "}\n";
  }

  std::string Hint() {
    switch (N(3)) {
      case 0: return "sort " + Pick({"price", "latency", "throughput"});
      case 1: return "max_price " + Maybe(Pick({"prompt", "completion", "request"}) + " ") + Money();
      default: return "order [\"a\", \"b\"]";
    }
  }

  std::string Test(int i) {
    std::string s = "test \"t" + std::to_string(i) + "\" {\n  given { request.model: " + Str() +
                    ", principal.user: \"u\" }\n";
    if (N(2)) s += "  candidate { provider.name: \"p\" }\n";
    int n = 1 + N(3);
    for (int k = 0; k < n; ++k) {
      switch (N(8)) {
        case 0: s += "  expect allow\n"; break;
        case 1: s += "  expect deny" + Maybe(" 403") + "\n"; break;
        case 2: s += "  expect fired r1, r2\n"; break;
        case 3: s += "  expect not_fired r3\n"; break;
        case 4: s += "  expect redacts \"[x]\"\n"; break;
        case 5: s += "  expect tag k0 = " + Expr(2) + "\n"; break;
        case 6: s += "  expect route " + Hint() + "\n"; break;
        default: s += "  expect " + Pick({"warns", "accepted"}) + "\n"; break;
      }
    }
    return s + "}\n";
  }

  std::mt19937 rng_;
};

// Random spacing between tokens (line breaks only where a clause may start
// or inside brackets would change nothing the parser sees) and comments.
std::string Respace(const std::string& text, std::mt19937* rng) {
  Diagnostics d;
  std::vector<Token> toks = Lex(SourceFile{"g.tg", text}, &d);
  static const char* kGaps[] = {" ", "  ", "\t", " ", "\n  ", " "};
  std::string out;
  for (size_t i = 0; i < toks.size(); ++i) {
    if (i > 0) out += toks[i].newline_before ? std::string("\n") : kGaps[(*rng)() % 6];
    out += toks[i].text;
    switch ((*rng)() % 29) {
      case 0: out += " # note\n"; break;
      case 1: out += " /* c */"; break;
      default: break;
    }
  }
  return out + "\n";
}

TEST(FormatGenerated, IdempotentAndSameTree) {
  std::mt19937 rng(20261125);
  int checked = 0;
  for (uint32_t seed = 1; seed <= 3000; ++seed) {
    std::string text = Gen(seed).Policy();
    if (seed % 2 == 0) text = Respace(text, &rng);
    Diagnostics pd;
    auto before = Parse(std::make_unique<SourceFile>(SourceFile{"g.tg", text}), Limits{}, &pd);
    ASSERT_TRUE(before != nullptr && !pd.HasErrors()) << text << "\n" << pd.Render();
    Diagnostics fd;
    auto once = Format(SourceFile{"g.tg", text}, &fd);
    ASSERT_TRUE(once.has_value()) << text << "\n" << fd.Render();
    auto twice = Format(SourceFile{"g.tg", *once}, &fd);
    ASSERT_TRUE(twice.has_value()) << *once << "\n" << fd.Render();
    ASSERT_EQ(*once, *twice) << "not idempotent for\n" << text;
    Diagnostics ad;
    auto after = Parse(std::make_unique<SourceFile>(SourceFile{"g.tg", *once}), Limits{}, &ad);
    ASSERT_TRUE(after != nullptr) << *once << "\n" << ad.Render();
    ASSERT_TRUE(ast::SameTree(*before, *after)) << text << "\n---\n" << *once;
    // Calls of the keyword-named builtins are written like other calls; the
    // only `max (` left is a limit's `max` clause at the start of its line.
    for (size_t at = once->find("max ("); at != std::string::npos; at = once->find("max (", at + 1)) {
      size_t bol = once->rfind('\n', at) + 1;
      ASSERT_EQ(once->find_first_not_of(' ', bol), at) << *once;
    }
    ++checked;
  }
  EXPECT_EQ(checked, 3000);
}

TEST(FormatGenerated, KeywordBuiltinsFormatAsCalls) {
  Diagnostics d;
  auto out = Format(SourceFile{"k.tg",
                               "policy \"k\"\nconst a = max (1,2) + max( 3 , 4 )\n"
                               "const b = contains (\"ab\", \"a\") and \"x\" contains (\"y\")\n"
                               "limit l { key \"k\" per day max (5) requests }\n"},
                    &d);
  ASSERT_TRUE(out.has_value()) << d.Render();
  EXPECT_EQ(*out,
            "policy \"k\"\n\nconst a = max(1, 2) + max(3, 4)\n"
            "const b = contains(\"ab\", \"a\") and \"x\" contains (\"y\")\n\n"
            "limit l {\n  key \"k\"\n  per day\n  max (5) requests\n}\n");
}

}  // namespace
}  // namespace tollgate::parse
