#include "stdlib/redact.h"

#include <gtest/gtest.h>

#include <thread>

namespace tollgate::stdlib {
namespace {

std::unique_ptr<Redactor> MustBuild(const std::vector<RedactRule>& rules) {
  std::string error;
  auto r = Redactor::Build(rules, &error);
  EXPECT_NE(r, nullptr) << error;
  return r;
}

TEST(RedactTest, DetectorsAndRegexes) {
  auto r = MustBuild({{"dlp.email", "[EMAIL]"}, {R"(secret-\d+)", "[X]"}});
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->size(), 2u);
  int n = -1;
  EXPECT_EQ(r->Apply("mail bob@example.com secret-42", &n), "mail [EMAIL] [X]");
  EXPECT_EQ(n, 2);
  EXPECT_EQ(r->Apply("nothing here", &n), "nothing here");
  EXPECT_EQ(n, 0);
  EXPECT_EQ(r->Apply("", &n), "");
  EXPECT_EQ(r->Apply("a@b.io a@b.io secret-1", nullptr), "[EMAIL] [EMAIL] [X]");
}

TEST(RedactTest, OnlyValidatedDetectorMatches) {
  auto r = MustBuild({{"dlp.credit_card", "[CARD]"}});
  int n = 0;
  EXPECT_EQ(r->Apply("good 4111 1111 1111 1111, bad 4111 1111 1111 1112", &n),
            "good [CARD], bad 4111 1111 1111 1112");
  EXPECT_EQ(n, 1);
}

TEST(RedactTest, OverlapsMergeAndEarliestRuleWins) {
  // Both rules match "bob@example.com"; the card rule is first in order.
  auto r = MustBuild({{"example", "[A]"}, {"dlp.email", "[EMAIL]"}});
  int n = 0;
  EXPECT_EQ(r->Apply("to bob@example.com!", &n), "to [A]!");
  EXPECT_EQ(n, 1);
  auto r2 = MustBuild({{"dlp.email", "[EMAIL]"}, {"example", "[A]"}});
  EXPECT_EQ(r2->Apply("to bob@example.com and example", &n), "to [EMAIL] and [A]");
  EXPECT_EQ(n, 2);
}

TEST(RedactTest, ReplacementsAreNotRescanned) {
  // The second rule would match the first rule's replacement text.
  auto r = MustBuild({{"cat", "dog"}, {"dog", "bird"}});
  EXPECT_EQ(r->Apply("cat dog", nullptr), "dog bird");
}

TEST(RedactTest, EmptyMatchesRedactNothing) {
  auto r = MustBuild({{"x*", "[X]"}});
  int n = 0;
  EXPECT_EQ(r->Apply("abxxc", &n), "ab[X]c");
  EXPECT_EQ(n, 1);
}

TEST(RedactTest, BuildErrors) {
  std::string error;
  EXPECT_EQ(Redactor::Build({{"(unclosed", "x"}}, &error), nullptr);
  EXPECT_NE(error.find("invalid regular expression `(unclosed`"), std::string::npos) << error;
  EXPECT_EQ(Redactor::Build({{"a(?=b)", "x"}}, &error), nullptr);  // no lookahead in RE2
  EXPECT_EQ(Redactor::Build({{"a", std::string(5000, 'x')}}, &error), nullptr);
  EXPECT_NE(error.find("longer than"), std::string::npos);
  auto empty = Redactor::Build({}, &error);
  ASSERT_NE(empty, nullptr);
  EXPECT_EQ(empty->Apply("same", nullptr), "same");
}

TEST(RedactTest, ConcurrentApplyIsSafe) {
  auto r = MustBuild({{"dlp.email", "[EMAIL]"}, {"dlp.credit_card", "[CARD]"}});
  std::vector<std::thread> threads;
  std::vector<std::string> out(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) out[t] = r->Apply("x@y.com pays 4111111111111111", nullptr);
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& s : out) EXPECT_EQ(s, "[EMAIL] pays [CARD]");
}

}  // namespace
}  // namespace tollgate::stdlib
