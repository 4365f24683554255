// A quantifier variable named like a const, data document or let gives one
// name two values: the element inside the quantifier, the declaration
// elsewhere -- and a message hole naming a variable that is no witness used
// to take the const silently ("model openai/gpt-4o is not approved" for the
// wrong model). Both are errors now.
#include <gtest/gtest.h>

#include "tests/check/check_helpers.h"

namespace tollgate::checktest {
namespace {

using V = std::vector<std::string>;

TEST(Shadow, QuantifierVariableHidingAConstIsAnError) {
  auto c = CheckSource(
      "policy \"p\"\n"
      "const approved = {\"openai/gpt-4o\"}\n"
      "const m = \"openai/gpt-4o\"\n"
      "rule fb {\n"
      "  when request.model not in approved or (any m in request.models: m not in approved)\n"
      "  deny 403 \"model {m} is not approved\"\n"
      "}\n");
  EXPECT_FALSE(c.ok);
  const std::string out = c.Render();
  // The variable, with a note at the const it hides...
  EXPECT_NE(out.find("test.tg:5:41: error[tg_duplicate_name]: quantifier variable `m` hides const `m`"),
            std::string::npos) << out;
  EXPECT_NE(out.find("test.tg:3:1: note: the const `m` is declared here"), std::string::npos) << out;
  EXPECT_EQ(out.find("tg_unused_const"), std::string::npos) << out;
  // ...and the hole, which never falls back to the const.
  EXPECT_NE(out.find("test.tg:6:20: error[tg_unknown_name]: `m` names the quantifier variable of "
                     "`when`, which has no value when the rule fires"),
            std::string::npos) << out;
}

TEST(Shadow, EveryDeclarationKind) {
  const char* const decls[] = {
      "const m = \"x\"\nrule r { when m == \"x\" and (any m in request.models: m == \"y\") deny \"x\" }",
      "let m = request.model\nrule r { when m == \"x\" and (any m in request.models: m == \"y\") deny \"x\" }",
      "data ws from \"workspaces.json\": map<{blocked_providers: set<string>, banned_jurisdictions: "
      "set<string>, banned_models: set<string>, quantizations: set<string>}>\n"
      "rule r { when principal.workspace in ws and (any ws in request.models: ws == \"y\") deny \"x\" }",
      "const t = \"x\"\nrule r { when t == \"x\" deny \"x\" }\n"
      "rule s { when any t in request.tools: t == \"shell\" deny \"{t}\" }",
  };
  for (const char* d : decls) {
    auto c = CheckSource(std::string("policy \"p\"\n") + d);
    EXPECT_EQ(c.ErrorCodes(), V{"tg_duplicate_name"}) << d << "\n" << c.Render();
  }
}

// A let named like a witness used to be expanded in the message instead of
// the witness; now the quantifier's name is refused, and the hole never
// takes the let.
TEST(Shadow, HoleNeverTakesALetNamedLikeTheWitness) {
  auto c = CheckSource(
      "policy \"p\"\n"
      "let m = request.model\n"
      "rule r {\n"
      "  when m != \"x\" and (any m in request.models: m == \"openai/gpt-4o-mini\")\n"
      "  deny 403 \"model {m} is not approved\"\n"
      "}\n");
  EXPECT_FALSE(c.ok);
  const ast::Expr& msg = EffectExpr(*c.policy, 0);
  const ast::Expr* hole = FindByText(msg, "m");
  ASSERT_NE(hole, nullptr);
  EXPECT_EQ(hole->ref, ast::RefKind::kLocal) << c.Render();
}

TEST(Shadow, DistinctNamesAreFine) {
  auto c = CheckSource(
      "policy \"p\"\n"
      "const approved = {\"openai/gpt-4o\"}\n"
      "const fallback = \"openai/gpt-4o\"\n"
      "rule fb {\n"
      "  when any m in request.models: m not in approved and m != fallback\n"
      "  deny 403 \"model {m} is not approved\"\n"
      "}\n");
  EXPECT_TRUE(c.ok) << c.Render();
}

}  // namespace
}  // namespace tollgate::checktest
