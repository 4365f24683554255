// The `tags` pass: a tag key set by two rules that may fire for the same
// request, or twice by one rule, loses the later value silently (the
// decision keeps the first, in rule order): tg_tag_conflict.
#include <gtest/gtest.h>

#include "tests/check/check_helpers.h"

namespace tollgate::checktest {
namespace {

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

// The `route_hints` pass: a decision keeps one `sort` and one `order`, the
// first in rule order; a later rule's is dropped whenever both fire. The
// policy below checked clean, and a request tagged both `batch` and
// `interactive` was sorted by price, not latency, without a word
// (tg_route_conflict).
TEST(RouteHints, SortAndOrderOfRulesThatMayFireTogetherWarn) {
  auto c = CheckSource(R"(policy "p"
rule batch_cheap { when context.tags has "batch" route sort price }
rule interactive_fast { when "interactive" in context.tags route sort latency, order ["groq", "together"] }
rule eu_order { when exists(principal.jurisdiction) and principal.jurisdiction == "DE" route order ["scaleway", "nebius"] }
)");
  ASSERT_TRUE(c.ok) << c.Render();
  const std::string r = c.Render();
  EXPECT_EQ(Count(r, "warning[tg_route_conflict]"), 2u) << r;
  EXPECT_TRUE(Has(r, "test.tg:3:66: warning[tg_route_conflict]: `sort latency` of rule `interactive_fast` "
                     "is dropped whenever both rules fire: rule `batch_cheap` gives `sort price` first "
                     "(test.tg:2:56)")) << r;
  EXPECT_TRUE(Has(r, "help: a decision keeps one `sort`, the first in rule order")) << r;
  EXPECT_TRUE(Has(r, "test.tg:4:94: warning[tg_route_conflict]: `order [\"scaleway\", \"nebius\"]` of "
                     "rule `eu_order` is dropped whenever both rules fire: rule `interactive_fast` gives "
                     "`order [\"groq\", \"together\"]` first (test.tg:3:80)")) << r;
  auto twice = CheckSource(R"(policy "p"
rule twice { when request.n > 1 route sort price, sort throughput }
)");
  ASSERT_TRUE(twice.ok) << twice.Render();
  EXPECT_TRUE(Has(twice.Render(), "test.tg:2:51: warning[tg_route_conflict]: `sort throughput` of rule `twice` is dropped whenever the rule fires: the rule "
                     "gives `sort price` earlier (test.tg:2:39)")) << twice.Render();
}

// Exclusive conditions, equal hints, shadow and advisory rules (their hints
// never apply) and max_price caps (all apply, the lowest wins) are quiet.
TEST(RouteHints, ExclusiveEqualShadowAndCapsAreQuiet) {
  auto c = CheckSource(R"(policy "p"
rule a { when principal.workspace == "acme-batch" route sort price, max_price 1 usd }
rule b { when principal.workspace == "acme-live" route sort latency, max_price 2 usd }
rule c { when request.stream ?? false route order ["groq"] }
rule d { when not (request.stream ?? false) route order ["together"] }
rule e { when principal.workspace == "acme-batch" and request.n > 1 route sort price }
rule f mode shadow { route sort throughput }
rule g mode advisory { route order ["x"] warn "w" }
rule h { route max_price 0.5 usd }
)");
  ASSERT_TRUE(c.ok) << c.Render();
  EXPECT_FALSE(Has(c.Render(), "tg_route_conflict")) << c.Render();
}

}  // namespace
}  // namespace tollgate::checktest
