// scan::LiteralFinder: every occurrence, overlapping ones too, caseless on
// ASCII letters only, stoppable.
#include <gtest/gtest.h>

#include <utility>
#include <vector>

#include "engine/scan/literals.h"
#include "engine/scan/scanner.h"

namespace tollgate::scan {
namespace {

using Hits = std::vector<std::pair<int, size_t>>;

Hits All(const LiteralFinder& f, std::string_view text, size_t stop_after = SIZE_MAX) {
  struct Ctx {
    Hits hits;
    size_t stop_after;
  } ctx{{}, stop_after};
  f.Find(
      text,
      [](void* c, int id, size_t start) {
        auto* x = static_cast<Ctx*>(c);
        x->hits.emplace_back(id, start);
        return x->hits.size() < x->stop_after;
      },
      &ctx);
  return ctx.hits;
}

TEST(LiteralFinder, EveryOccurrenceWithItsStart) {
  if (!HaveHyperscan()) {
    EXPECT_EQ(LiteralFinder::Build({"a"}, false), nullptr);
    GTEST_SKIP() << "no Hyperscan in this build";
  }
  auto f = LiteralFinder::Build({"aa", "ab", "<|"}, /*caseless=*/false);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(All(*f, "aaab <|x"), (Hits{{0, 0}, {0, 1}, {1, 2}, {2, 5}}));
  EXPECT_EQ(All(*f, "AAAB"), Hits{});
  EXPECT_EQ(All(*f, ""), Hits{});
}

TEST(LiteralFinder, CaselessFoldsAsciiLettersOnly) {
  if (!HaveHyperscan()) GTEST_SKIP() << "no Hyperscan in this build";
  auto f = LiteralFinder::Build({"skip", "\xC5\xBF"}, /*caseless=*/true);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(All(*f, "SKIP sKiP"), (Hits{{0, 0}, {0, 5}}));
  // U+017F is found as itself; "\xC5\xBFkip" is not "skip" to Hyperscan.
  EXPECT_EQ(All(*f, "\xC5\xBFkip"), (Hits{{1, 0}}));
}

TEST(LiteralFinder, StopsWhenAsked) {
  if (!HaveHyperscan()) GTEST_SKIP() << "no Hyperscan in this build";
  auto f = LiteralFinder::Build({"x"}, false);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(All(*f, "xxxxx", 2).size(), 2u);
  EXPECT_EQ(LiteralFinder::Build({}, false), nullptr);
  EXPECT_EQ(LiteralFinder::Build({""}, false), nullptr);
}

}  // namespace
}  // namespace tollgate::scan
