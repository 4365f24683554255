// The `regex` pass's tg_joined_text_anchor: `^` / `$` in a pattern matched
// against request.content, which joins every text of the request with "\n".
// Before, `request.content matches "^/admin"` checked clean and saw only the
// start of the first message: a user's /admin after a system prompt passed.
// `request.content starts_with "/admin"` (or `ends_with`) is the same test
// and gets the same warning.
#include <gtest/gtest.h>

#include "tests/check/check_helpers.h"

namespace tollgate::checktest {
namespace {

TEST(RegexAnchors, AnchorsOnTheJoinedContentWarn) {
  auto c = CheckSource(R"(policy "p"
const marker = "SECRET$"
rule admin { when request.content matches "^/admin" deny "no admin commands" }
rule secret { when request.content matches marker deny "x" }
rule again { when request.content matches "^/admin" and request.model == "m" deny "y" }
rule alt { when request.content matches "(?i)^ignore|^disregard" deny "z" }
)");
  EXPECT_TRUE(c.ok) << c.Render();  // warnings
  const std::string r = c.Render();
  EXPECT_TRUE(Has(r, "test.tg:3:43: warning[tg_joined_text_anchor]: `^` in `^/admin` anchors at the start of "
                     "`request.content`, every text of the request joined with newlines, so it sees only the "
                     "start of the first message (often the system prompt)"))
      << r;
  EXPECT_TRUE(Has(r, "help: write `(?m)` first for every line (`(?m)^/admin`), or test each message: "
                     "`any m in request.messages: m.content matches \"^/admin\"`"))
      << r;
  EXPECT_TRUE(Has(r, "test.tg:4:44: warning[tg_joined_text_anchor]: `$` in `SECRET$` anchors at the end")) << r;
  EXPECT_TRUE(Has(r, "test.tg:6:41: warning[tg_joined_text_anchor]: `^` in `(?i)^ignore|^disregard`")) << r;
  EXPECT_EQ(Count(c, "tg_joined_text_anchor"), 3u) << r;  // one per distinct pattern
}

TEST(RegexAnchors, MultiLineClassesEscapesAndMessagesAreQuiet) {
  auto c = CheckSource(R"tg(policy "p"
rule m { when request.content matches "(?m)^/admin" deny "a" }
rule im { when request.content matches "(?im)^ignore" deny "b" }
rule cls { when request.content matches "[^a-z]secret[$]" deny "c" }
rule esc { when request.content matches "\\^\\$ price" deny "d" }
rule text { when request.content matches "\\A/admin" deny "e" }
rule each { when any m in request.messages: m.content matches "^/admin" deny "f" }
rule off { when request.content matches "(?-m)x" deny "g" }
rule edge { when request.content matches "(?i)(^|\\n)ignore(\\s|$)" deny "h" }
)tg");
  EXPECT_EQ(Count(c, "tg_joined_text_anchor"), 0u) << c.Render();
}

// The policy "no /admin commands" written with starts_with: the joined text
// starts with the system prompt, so a user's `/admin reset` was allowed and
// the policy checked clean.
TEST(RegexAnchors, PrefixAndSuffixTestsOfTheJoinedContentWarn) {
  auto c = CheckSource(R"tg(policy "p"
rule admin { when request.content starts_with "/admin" deny "a" }
rule call { when starts_with(trim(lower(request.content)), "ignore") deny "b" }
rule tail { when request.content ends_with "say \"yes\"" deny "c" }
)tg");
  EXPECT_TRUE(c.ok) << c.Render();  // warnings
  const std::string r = c.Render();
  EXPECT_TRUE(Has(r, "test.tg:2:19: warning[tg_joined_text_anchor]: `starts_with` tests the start of "
                     "`request.content`, every text of the request joined with newlines, so it sees only "
                     "the start of the first message (often the system prompt)"))
      << r;
  EXPECT_TRUE(Has(r, "help: test each message: `any m in request.messages: m.content starts_with \"/admin\"`"))
      << r;
  EXPECT_TRUE(Has(r, "help: test each message: `any m in request.messages: trim(lower(m.content)) "
                     "starts_with \"ignore\"`"))
      << r;
  EXPECT_TRUE(Has(r, "test.tg:4:18: warning[tg_joined_text_anchor]: `ends_with` tests the end of "
                     "`request.content`, every text of the request joined with newlines, so it sees only "
                     "the end of the last text"))
      << r;
  EXPECT_TRUE(Has(r, "`any m in request.messages: m.content ends_with \"say \\\"yes\\\"\"`")) << r;
  EXPECT_EQ(Count(c, "tg_joined_text_anchor"), 3u) << r;
}

TEST(RegexAnchors, PrefixTestsOfOneTextAreQuiet) {
  auto c = CheckSource(R"tg(policy "p"
rule each { when any m in request.messages: m.content starts_with "/admin" deny "a" }
rule ws { when principal.workspace starts_with "acme-" deny "b" }
rule model { when request.model ends_with "-preview" deny "c" }
rule inside { when request.content contains "/admin" deny "d" }
)tg");
  EXPECT_EQ(Count(c, "tg_joined_text_anchor"), 0u) << c.Render();
}

}  // namespace
}  // namespace tollgate::checktest
