// tg_unused_variable (engine/check/scopes.cc): a quantifier whose body
// never reads its variable tests the same value for every element;
// tg_quantifier_extends: a body that took in an `or` (of `any`) or `and` (of
// `all`) operand not reading its variable tests it only on a non-empty
// collection; and the
// fallback-twin recognition of tg_fallback_unchecked (engine/check/names.cc)
// takes the variable only where it stands for `request.model`.
#include <gtest/gtest.h>

#include "tests/check/check_helpers.h"

namespace tollgate::checktest {
namespace {

using V = std::vector<std::string>;

// The reviewer's policy: the fallback rule tests the requested model once
// per fallback, so a banned fallback passes -- and before, it checked clean
// and even counted as the first rule's fallback twin.
TEST(Quantifiers, ABodyThatNeverReadsItsVariableIsAnError) {
  auto c = CheckSource(R"(policy "f3"
const approved = {"openai/gpt-4o", "mistralai/mistral-large"}
rule model_not_approved {
  when request.model not in approved
  deny 403 "model is not approved"
}
rule fallback_not_approved {
  when any m in request.models: request.model not in approved
  deny 403 "fallback model {m} is not approved"
}
rule model_allowlist_one_rule {
  when request.model not in approved or (any m in request.models: request.model not in approved)
  deny 403 "model is not approved"
}
)");
  EXPECT_FALSE(c.ok);
  EXPECT_EQ(c.ErrorCodes(), (V{"tg_unused_variable", "tg_unused_variable"})) << c.Render();
  const std::string r = c.Render();
  EXPECT_NE(r.find("test.tg:8:8: error[tg_unused_variable]: quantifier variable `m` is never used in "
                   "its body"),
            std::string::npos) << r;
  EXPECT_NE(r.find("help: the body tests `request.model`, the same value for every element of "
                   "`request.models`: did you mean `m` in place of `request.model`?"),
            std::string::npos) << r;
}

TEST(Quantifiers, EveryQuantifierKindAndTheHelpNamesTheFieldRead) {
  for (const char* when : {
           "any m in request.messages: request.content contains \"x\"",
           "all m in request.messages: request.content contains \"x\"",
           "not (all g in principal.groups: principal.workspace == \"w\")",
           "any m in request.models: (any n in request.models: n == \"a\")",
           "any m in request.models: true",
       }) {
    auto c = CheckSource(std::string("policy \"p\"\nrule r { when ") + when + " deny 403 \"x\" }\n");
    EXPECT_EQ(c.ErrorCodes(), V{"tg_unused_variable"}) << when << "\n" << c.Render();
  }
  auto c = CheckSource("policy \"p\"\nrule r { when all m in request.messages: request.content "
                       "contains \"x\" deny 403 \"x\" }\n");
  EXPECT_NE(c.Render().find("help: the body reads `request.content` but never `m`, so it is the "
                            "same for every element"),
            std::string::npos) << c.Render();
}

TEST(Quantifiers, UsedVariablesAndAlreadyReportedBodiesAreQuiet) {
  for (const char* when : {
           "any m in request.models: m not in {\"a\"}",
           "all m in request.messages: m.role == \"user\" or request.model == \"x\"",
           "any m in request.messages: (any t in split(m.content, \" \"): t == \"x\")",
       }) {
    auto c = CheckSource(std::string("policy \"p\"\nrule r { when ") + when + " deny 403 \"x\" }\n");
    EXPECT_TRUE(c.ok) << when << "\n" << c.Render();
  }
  // A misspelt variable is one mistake: tg_unknown_name only.
  auto c = CheckSource("policy \"p\"\nrule r { when any m in request.models: n == \"a\" deny 403 \"x\" }\n");
  EXPECT_EQ(c.ErrorCodes(), V{"tg_unknown_name"}) << c.Render();
}

// The body of a quantifier extends as far right as possible. The author's
// "deny shell tools, and everything from ops" denied no request from ops
// that sends no tools, and checked clean.
TEST(Quantifiers, AnOperandTheBodyTookInWithoutReadingTheVariableWarns) {
  auto c = CheckSource(R"(policy "p"
rule shell_or_ops {
  when any t in request.tools: t == "shell" or principal.workspace == "ops"
  deny 403 "no"
}
)");
  EXPECT_TRUE(c.ok) << c.Render();
  EXPECT_EQ(c.Codes(), V{"tg_quantifier_extends"}) << c.Render();
  const std::string r = c.Render();
  EXPECT_TRUE(Has(r, "test.tg:3:48: warning[tg_quantifier_extends]: `principal.workspace == \"ops\"` "
                     "is inside the body of `any t in request.tools` but does not read `t`: it "
                     "counts only when `request.tools` has an element")) << r;
  EXPECT_TRUE(Has(r, "help: end the quantifier before it: `(any t in request.tools: t == \"shell\") "
                     "or principal.workspace == \"ops\"`; if it is meant only when `request.tools` "
                     "has an element, write the body in parentheses: `any t in request.tools: (t == "
                     "\"shell\" or principal.workspace == \"ops\")`")) << r;

  // `all x: P(x) and Q` holds on an empty collection whatever Q is.
  auto a = CheckSource(R"(policy "p"
rule contractors_outside_sandbox {
  when not (all g in principal.groups: g != "contractor" and principal.workspace == "sandbox")
  deny 403 "no"
}
)");
  EXPECT_EQ(a.Codes(), V{"tg_quantifier_extends"}) << a.Render();
  EXPECT_TRUE(Has(a.Render(), "when `principal.groups` is empty the `all` holds without it")) << a.Render();
  EXPECT_TRUE(Has(a.Render(), "`(all g in principal.groups: g != \"contractor\") and "
                              "principal.workspace == \"sandbox\"`")) << a.Render();

  // In a chain, the operands reading the variable stay in the help's body;
  // one warning per quantifier, at the first operand that does not.
  auto k = CheckSource(R"(policy "p"
rule r {
  when any t in request.tools: t == "a" or principal.user == "bob" or t == "b" or request.model == "m"
  deny 403 "no"
}
)");
  EXPECT_EQ(k.Codes(), (V{"tg_quantifier_extends", "tg_fallback_unchecked"})) << k.Render();
  EXPECT_TRUE(Has(k.Render(), "3:44: warning[tg_quantifier_extends]: `principal.user == \"bob\"`")) << k.Render();
  EXPECT_TRUE(Has(k.Render(), "`(any t in request.tools: t == \"a\" or t == \"b\") or principal.user "
                              "== \"bob\" or request.model == \"m\"`")) << k.Render();

  // An operand that is a let: reported at the quantifier, with a help that
  // does not quote the let's expanded text as written.
  auto l = CheckSource(R"(policy "p"
let ops = principal.workspace == "ops"
rule r {
  when any t in request.tools: t == "shell" or ops
  deny 403 "no"
}
)");
  EXPECT_EQ(l.Codes(), V{"tg_quantifier_extends"}) << l.Render();
  EXPECT_TRUE(Has(l.Render(), "test.tg:4:8: warning[tg_quantifier_extends]")) << l.Render();
  EXPECT_TRUE(Has(l.Render(), "help: the body of a quantifier extends as far right as possible")) << l.Render();
}

TEST(Quantifiers, BodiesMeaningTheSameInsideAndOutAndParenthesisedOnesAreQuiet) {
  for (const char* when : {
           // parenthesised: the body or the quantifier
           "any t in request.tools: (t == \"shell\" or principal.workspace == \"ops\")",
           "(any t in request.tools: t == \"shell\") or principal.workspace == \"ops\"",
           // `and` under `any`, `or` under `all`: the same inside and outside
           "any t in request.tools: t == \"shell\" and principal.workspace == \"ops\"",
           "all g in principal.groups: g != \"x\" or principal.workspace == \"ops\"",
           // every operand reads the variable (a nested quantifier's too)
           "any t in request.tools: t == \"a\" or t == \"b\"",
           "any m in request.messages: m.role == \"tool\" or (any t in request.tools: t == m.content)",
           // an `or` below another operator is not the body's
           "any t in request.tools: t == \"a\" and (principal.workspace == \"ops\" or t == \"b\")",
       }) {
    auto c = CheckSource(std::string("policy \"p\"\nrule r { when ") + when + " deny 403 \"x\" }\n");
    EXPECT_TRUE(c.ok) << when << "\n" << c.Render();
    EXPECT_EQ(Count(c, "tg_quantifier_extends"), 0u) << when << "\n" << c.Render();
  }
}

// A twin must test the fallback where the model rule tests the requested
// model: one that reads `request.model` again beside the variable leaves the
// fallbacks of a request for "x" unchecked, and does not silence the
// warning.
TEST(Quantifiers, AFallbackTwinReadsTheVariableWhereTheRuleReadsTheModel) {
  const std::string base = R"(policy "p"
const approved = {"a/b"}
rule model_not_approved {
  when request.model not in approved or request.model == "x"
  deny 403 "model is not approved"
}
)";
  auto twin = CheckSource(base + R"(rule fallback_not_approved {
  when (any m in request.models: m not in approved or m == "x")
  deny 403 "fallback {m} is not approved"
}
)");
  auto near = CheckSource(base + R"(rule fallback_not_approved {
  when (any m in request.models: m not in approved or request.model == "x")
  deny 403 "fallback {m} is not approved"
}
)");
  EXPECT_TRUE(twin.ok) << twin.Render();
  EXPECT_EQ(twin.Codes(), V{}) << twin.Render();
  EXPECT_TRUE(near.ok) << near.Render();
  EXPECT_EQ(Count(near.Render(), "warning[tg_fallback_unchecked]"), 1u) << near.Render();
}

}  // namespace
}  // namespace tollgate::checktest
