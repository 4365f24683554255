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

TEST(RedactTest, OverlapsMergeAndLongestMatchWins) {
  // Both rules match inside "bob@example.com"; the e-mail match is longer, so
  // it decides the replacement whatever the rule order.
  for (bool email_first : {false, true}) {
    auto r = email_first ? MustBuild({{"dlp.email", "[EMAIL]"}, {"example", "[A]"}})
                         : MustBuild({{"example", "[A]"}, {"dlp.email", "[EMAIL]"}});
    int n = 0;
    EXPECT_EQ(r->Apply("to bob@example.com!", &n), "to [EMAIL]!");
    EXPECT_EQ(n, 1);
    EXPECT_EQ(r->Apply("to bob@example.com and example", &n), "to [EMAIL] and [A]");
    EXPECT_EQ(n, 2);
  }
}

TEST(RedactTest, OverlapTiesGoToEarliestStartThenRuleOrder) {
  // Equal lengths, different starts: "abc" starts first.
  auto r = MustBuild({{"bcd", "[2]"}, {"abc", "[1]"}});
  int n = 0;
  EXPECT_EQ(r->Apply("xabcdx", &n), "x[1]x");  // the union "abcd" is replaced
  EXPECT_EQ(n, 1);
  // Same span: rule order decides.
  auto same = MustBuild({{"b+", "[B]"}, {"[a-c]+", "[C]"}});
  EXPECT_EQ(same->Apply("x bbb x", nullptr), "x [B] x");
  auto same2 = MustBuild({{"[a-c]+", "[C]"}, {"b+", "[B]"}});
  EXPECT_EQ(same2->Apply("x bbb x", nullptr), "x [C] x");
  // A chain of overlaps is one span; the longest link decides.
  auto chain = MustBuild({{"ab", "[AB]"}, {"bcdef", "[BCDEF]"}, {"fg", "[FG]"}});
  EXPECT_EQ(chain->Apply("-abcdefg-", &n), "-[BCDEF]-");
  EXPECT_EQ(n, 1);
  // Touching matches are separate spans.
  auto touch = MustBuild({{"ab", "[AB]"}, {"cd", "[CD]"}});
  EXPECT_EQ(touch->Apply("abcd", &n), "[AB][CD]");
  EXPECT_EQ(n, 2);
}

TEST(RedactTest, IbanBeatsPhoneWhateverTheOrder) {
  // "0044 0532 0130 00" inside the IBAN is phone-shaped; the IBAN is longer.
  const std::string text = "pay DE89 3704 0044 0532 0130 00 now";
  for (bool phone_first : {true, false}) {
    auto r = phone_first ? MustBuild({{"dlp.phone", "[PHONE]"}, {"dlp.iban", "[IBAN]"}})
                         : MustBuild({{"dlp.iban", "[IBAN]"}, {"dlp.phone", "[PHONE]"}});
    int n = 0;
    EXPECT_EQ(r->Apply(text, &n), "pay [IBAN] now");
    EXPECT_EQ(n, 1);
  }
  // Card, SSN and phone rules together: each number gets its own label.
  auto all = MustBuild({{"dlp.phone", "[PHONE]"},
                        {"dlp.us_ssn", "[SSN]"},
                        {"dlp.credit_card", "[CARD]"},
                        {"dlp.iban", "[IBAN]"},
                        {"dlp.ipv4", "[IP]"}});
  EXPECT_EQ(all->Apply("ssn 123-45-6789, card 5500 0000 0000 0004, call 415-555-2671, "
                       "ES91 2100 0418 4502 0005 1332 ABCD, ip 1.2.3.4.5 / 8.8.8.8",
                       nullptr),
            "ssn [SSN], card [CARD], call [PHONE], [IBAN] ABCD, ip 1.2.3.4.5 / [IP]");
  // SSN-shaped text is never a phone number.
  EXPECT_EQ(all->Apply("078-05-1120 and 000-12-3456", nullptr), "078-05-1120 and 000-12-3456");
}

TEST(RedactTest, CardInsideLongerDigitRun) {
  auto r = MustBuild({{"dlp.credit_card", "[CARD]"}});
  EXPECT_EQ(r->Apply("ref 1234 4111 1111 1111 1111 ok", nullptr), "ref 1234 [CARD] ok");
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

// Pieces: each as Apply redacts it alone; a match crossing pieces leaves
// its replacement in the first piece it touches and nothing of itself in
// the others; the separators between pieces are not part of any piece.
TEST(RedactTest, ApplyJoinedRemovesMatchesAcrossPieces) {
  auto r = MustBuild({{"secret\\s+code", "[X]"}, {"^start", "[S]"}, {"dlp.email", "[EMAIL]"}});
  const std::string joined = "start the secret\ncode is 42\nx@y.com secret\n\ncode start";
  //                          piece 0 [0,16)     piece 1 [17,27) piece 2 [28,42)  piece 3 [44,54)
  const std::vector<std::pair<size_t, size_t>> pieces = {{0, 16}, {17, 27}, {28, 42}, {44, 54}};
  int n = 0;
  std::vector<std::string> out = r->ApplyJoined(joined, pieces, &n);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0], "[S] the [X]");
  EXPECT_EQ(out[1], " is 42");
  EXPECT_EQ(out[2], "[EMAIL] [X]");
  EXPECT_EQ(out[3], " start");  // `^start` as for the piece alone: not at its start
  EXPECT_EQ(n, 4);
  // No crossing: the same as Apply piece by piece.
  out = r->ApplyJoined("a secret code\nb", {{0, 13}, {14, 15}}, &n);
  EXPECT_EQ(out, (std::vector<std::string>{"a [X]", "b"}));
  EXPECT_EQ(n, 1);
  // A match crossing three pieces empties the middle one.
  out = r->ApplyJoined("secret\n\ncode", {{0, 6}, {7, 7}, {8, 12}}, &n);
  EXPECT_EQ(out, (std::vector<std::string>{"[X]", "", ""}));
  EXPECT_EQ(n, 1);
}

// Regression: a card written as a JSON number in a JSON text (a tool call's
// arguments) became `{"card": [CARD]}`, which no longer parses. A text that
// is a JSON object or array stays one: a redacted number or literal becomes
// a JSON string, a replacement inside a string is escaped, a match across
// tokens leaves the structure alone.
TEST(RedactTest, AJsonTextStaysJson) {
  auto r = MustBuild({{"dlp.credit_card", "[CARD]"}});
  int n = 0;
  EXPECT_EQ(r->Apply(R"({"card": 4111111111111111})", &n), R"({"card": "[CARD]"})");
  EXPECT_EQ(n, 1);
  EXPECT_EQ(r->Apply(R"([-4111111111111111.0, "4111 1111 1111 1111"])", nullptr), R"(["[CARD]", "[CARD]"])");
  // Not a JSON object or array: text, redacted as text.
  EXPECT_EQ(r->Apply("4111111111111111", nullptr), "[CARD]");
  EXPECT_EQ(r->Apply(R"({"card": 4111111111111111)", nullptr), R"({"card": [CARD])");
  // Any replacement, any pattern: a literal matched, a quote in the
  // replacement, a match across a member's name and value.
  auto q = MustBuild({{"true|\\d{3}", "\"x\""}, {"key\": \"v", "[K]"}});
  EXPECT_EQ(q->Apply(R"({"a": true, "b": 12345, "c": "n 123", "key": "value"})", nullptr),
            R"({"a": "\"x\"", "b": "\"x\"", "c": "n \"x\"", "[K]": "alue"})");
  // A match inside an escape takes the whole escape.
  auto e = MustBuild({{"00e9", "[E]"}});
  EXPECT_EQ(e->Apply(R"({"a": "caf\u00e9"})", nullptr), R"({"a": "caf[E]"})");
  // JSON in a string of the JSON (an MCP tool result's `text`) stays JSON
  // too, at every depth a reading reaches: the string is written again
  // from its redacted content.
  EXPECT_EQ(r->Apply(R"({"text": "{\"card\": 4111111111111111, \"n\": \"{\\\"c\\\": 4111111111111111}\"}"})", nullptr),
            R"({"text": "{\"card\": \"[CARD]\", \"n\": \"{\\\"c\\\": \\\"[CARD]\\\"}\"}"})");
}

// Regression: a message's `name` redacted to `[CARD]` made OpenAI answer
// 400 (a name matches ^[a-zA-Z0-9_-]+$). A name piece gets a placeholder
// made of those characters.
TEST(RedactTest, ANamePieceGetsANameSafePlaceholder) {
  auto r = MustBuild({{"dlp.credit_card", "[CARD]"}, {"secret", "<redacted secret>"}, {"zz", "!!"},
                      {"x\\s+y", "[XY]"}});
  const std::string joined = "card 4111 1111 1111 1111\n4111-1111-1111-1111 secret zz x\ny";
  using P = Redactor::Piece;
  std::vector<std::string> out =
      r->ApplyJoined(joined, {{0, 24}, {25, 56}, {57, 58}}, nullptr, {P::kText, P::kName, P::kName});
  // A crossing match's part in a later name, which would leave it empty, is
  // a placeholder too.
  EXPECT_EQ(out, (std::vector<std::string>{"card [CARD]", "REDACTED_CARD redacted_secret REDACTED REDACTED_XY",
                                           "REDACTED"}));
}

}  // namespace
}  // namespace tollgate::stdlib
