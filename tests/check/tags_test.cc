// The `tags` pass: a tag key set by two rules that may fire for the same
// request, or twice by one rule, loses the later value silently (the
// decision keeps the first, in rule order): tg_tag_conflict.
#include <gtest/gtest.h>

#include "tests/check/check_helpers.h"

namespace tollgate::checktest {
namespace {

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

size_t Count(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

TEST(Tags, TwoRulesThatMayFireTogetherWarn) {
  auto c = CheckSource(R"(policy "p"
rule eu { when principal.workspace == "acme-eu" tag residency = "eu" }
rule fallback { tag residency = "unknown" }
rule twice { when principal.workspace == "x" tag lane = "a" tag lane = "b" }
)");
  ASSERT_TRUE(c.ok) << c.Render();
  const std::string r = c.Render();
  EXPECT_EQ(Count(r, "warning[tg_tag_conflict]"), 2u) << r;
  EXPECT_TRUE(Has(r, "test.tg:3:17: warning[tg_tag_conflict]: tag `residency` of rule `fallback` is "
                     "dropped whenever both rules fire: rule `eu` sets it first (test.tg:2:49)"))
      << r;
  EXPECT_TRUE(Has(r, "help: a decision keeps the first value set for a key, in rule order")) << r;
  EXPECT_TRUE(Has(r, "tag `lane` of rule `twice` is dropped whenever the rule fires: the rule sets "
                     "it earlier (test.tg:4:46)")) << r;
}

// Rules that never fire together, or that agree, lose nothing.
TEST(Tags, ExclusiveOrAgreeingRulesAreQuiet) {
  auto c = CheckSource(R"(policy "p"
const eu_workspaces = {"acme-eu", "beta-eu"}
rule a { when principal.workspace == "acme-us" tag residency = "us" }
rule b { when principal.workspace in eu_workspaces and request.n > 1 tag residency = "eu" }
rule c { when "gamma" == principal.workspace tag residency = "ch" }
rule d { when request.stream ?? false tag lane = "stream" }
rule e { when not (request.stream ?? false) tag lane = "batch" }
rule f { tag team = "core" }
rule g { when principal.workspace == "x" tag team = "core" }
rule h mode shadow { tag residency = "shadow" }
rule i mode advisory { tag lane = "advisory" warn "x" }
)");
  ASSERT_TRUE(c.ok) << c.Render();
  EXPECT_FALSE(Has(c.Render(), "tg_tag_conflict")) << c.Render();
}

// A rule shadowed only `when` a condition is enforced otherwise: its tags
// count; an overlapping set of values does not separate two rules.
TEST(Tags, ConditionalModesAndOverlappingSetsWarn) {
  auto c = CheckSource(R"(policy "p"
rule a { when principal.workspace in {"x", "y"} tag k = 1 }
rule b { when principal.workspace in {"y", "z"} tag k = 2 }
rule c mode shadow when request.n > 2 { tag k = 3 }
)");
  ASSERT_TRUE(c.ok) << c.Render();
  const std::string r = c.Render();
  EXPECT_EQ(Count(r, "warning[tg_tag_conflict]"), 2u) << r;
  EXPECT_TRUE(Has(r, "tag `k` of rule `b` is dropped whenever both rules fire: rule `a` sets it first"))
      << r;
  EXPECT_TRUE(Has(r, "tag `k` of rule `c` is dropped whenever both rules fire: rule `a` sets it first"))
      << r;
}

}  // namespace
}  // namespace tollgate::checktest
