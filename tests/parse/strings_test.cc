// Parser: message templates (`{expr}` in deny/warn/tag), starts_with and
// ends_with as infix operators, composite keys, and `max_price` followed by
// an indexed amount.
#include <gtest/gtest.h>

#include <string>

#include "engine/ast/ast.h"
#include "engine/parse/parse.h"

namespace tollgate::parse {
namespace {

struct Parsed {
  std::unique_ptr<ast::Policy> policy;
  Diagnostics diags;
};

Parsed ParseText(const std::string& body) {
  Parsed p;
  p.policy = Parse(std::make_unique<SourceFile>(SourceFile{"t.tg", "policy \"t\"\n" + body}),
                   Limits{}, &p.diags);
  return p;
}

const ast::Effect& Effect0(const Parsed& p) { return p.policy->rules.at(0).effects.at(0); }

TEST(ParseMaxPrice, AnIndexedAmountIsNotTakenForThePriceKind) {
  Parsed p = ParseText(
      "const ceilings = {\"standard\": 0.50 usd}\n"
      "rule r { route max_price ceilings[\"standard\"] }\n");
  ASSERT_TRUE(p.policy) << p.diags.Render();
  const ast::RouteHint& h = Effect0(p).hints.at(0);
  EXPECT_EQ(h.word, "");
  EXPECT_EQ(ast::Dump(*h.expr), "(index (name ceilings) (lit string \"standard\"))");
}

TEST(ParseMaxPrice, AConstNameAloneIsTheAmount) {
  Parsed p = ParseText("const cap = 1 usd\nrule r { route max_price cap }\n");
  ASSERT_TRUE(p.policy) << p.diags.Render();
  EXPECT_EQ(Effect0(p).hints.at(0).word, "");
  EXPECT_EQ(ast::Dump(*Effect0(p).hints.at(0).expr), "(name cap)");
}

TEST(ParseMaxPrice, KindWordsStillWork) {
  Parsed p = ParseText(
      "const ceilings = {\"standard\": 0.50 usd}\n"
      "rule r { route max_price prompt ceilings[\"standard\"], max_price completion 2 usd }\n");
  ASSERT_TRUE(p.policy) << p.diags.Render();
  EXPECT_EQ(Effect0(p).hints.at(0).word, "prompt");
  EXPECT_EQ(Effect0(p).hints.at(1).word, "completion");
  // A misspelt kind before a number still reaches the checker (did you mean).
  Parsed q = ParseText("rule r { route max_price promt 1 usd }\n");
  ASSERT_TRUE(q.policy) << q.diags.Render();
  EXPECT_EQ(Effect0(q).hints.at(0).word, "promt");
}

TEST(ParseInfix, StartsWithAndEndsWithAreCalls) {
  Parsed p = ParseText(
      "rule r { when request.model starts_with \"openai/\" or request.model ends_with \":free\" "
      "deny \"x\" }\n");
  ASSERT_TRUE(p.policy) << p.diags.Render();
  EXPECT_EQ(ast::Dump(*p.policy->rules[0].when),
            "(binary or (call starts_with (member (name request) model) (lit string \"openai/\")) "
            "(call ends_with (member (name request) model) (lit string \":free\")))");
  // The call form keeps working, and the words stay usable as field names.
  Parsed q = ParseText("rule r { when starts_with(request.model, \"o\") and x.starts_with deny \"x\" }\n");
  ASSERT_TRUE(q.policy) << q.diags.Render();
}

TEST(ParseKeys, ATupleKeyIsAList) {
  Parsed p = ParseText(
      "budget b { key (principal.user, request.model) per day limit 5 usd }\n"
      "limit l { key (principal.user) per minute max 3 requests }\n");
  ASSERT_TRUE(p.policy) << p.diags.Render();
  EXPECT_EQ(ast::Dump(*p.policy->budgets[0].key),
            "(list (member (name principal) user) (member (name request) model))");
  // One key in parentheses is just that key.
  EXPECT_EQ(ast::Dump(*p.policy->limits[0].key), "(member (name principal) user)");
}

TEST(ParseMessages, HolesBecomeAStringExpression) {
  Parsed p = ParseText("rule r { when any t in request.tools: true deny 403 \"tool {t} is {{not}} ok\" }\n");
  ASSERT_TRUE(p.policy) << p.diags.Render();
  const ast::Effect& e = Effect0(p);
  EXPECT_EQ(e.text, "tool {t} is {{not}} ok");
  ASSERT_TRUE(e.expr);
  EXPECT_EQ(ast::Dump(*e.expr),
            "(binary + (binary + (lit string \"tool \") (call string (name t))) (lit string \" is {not} ok\"))");
  // The hole's span points into the file.
  const ast::Expr& call = *e.expr->kids[0]->kids[1];
  EXPECT_EQ(call.span.line, 2u);
  EXPECT_EQ(std::string(p.policy->file->text.substr(call.span.begin, call.span.end - call.span.begin)),
            "{t}");
  const ast::Expr& name = *call.kids[0];
  EXPECT_EQ(std::string(p.policy->file->text.substr(name.span.begin, name.span.end - name.span.begin)), "t");
}

TEST(ParseMessages, WithoutHolesTheTextIsPlain) {
  Parsed p = ParseText("rule r { warn \"use {{braces}} freely\" tag k = \"a {{b}}\" }\n");
  ASSERT_TRUE(p.policy) << p.diags.Render();
  EXPECT_EQ(Effect0(p).text, "use {braces} freely");
  EXPECT_FALSE(Effect0(p).expr);
  EXPECT_EQ(ast::Dump(*p.policy->rules[0].effects[1].expr), "(lit string \"a {b}\")");
}

TEST(ParseMessages, TagStringLiteralIsATemplate) {
  Parsed p = ParseText("rule r { tag who = \"{principal.user}@{principal.workspace}\" }\n");
  ASSERT_TRUE(p.policy) << p.diags.Render();
  EXPECT_EQ(ast::Dump(*Effect0(p).expr),
            "(binary + (binary + (call string (member (name principal) user)) (lit string \"@\")) "
            "(call string (member (name principal) workspace)))");
}

TEST(ParseMessages, MalformedHolesAreReported) {
  for (const char* bad : {"deny \"a {b\"", "deny \"a } b\"", "warn \"{}\"", "warn \"{1 +}\"",
                          "warn \"{request.model # x}\"", "warn \"{1 2}\"",
                          "deny \"x {lower(\\\"A\\\")}\""}) {
    Parsed p = ParseText(std::string("rule r { ") + bad + " }\n");
    EXPECT_FALSE(p.policy) << bad;
    ASSERT_FALSE(p.diags.items().empty()) << bad;
    EXPECT_EQ(p.diags.items()[0].code, "tg_parse_error") << bad;
    EXPECT_FALSE(p.diags.items()[0].help.empty()) << bad;
  }
}

}  // namespace
}  // namespace tollgate::parse
