// The content scanner (engine/scan): Hyperscan translation, per-pattern RE2
// fallback, the RE2 differences it must hide, and streaming.
#include <gtest/gtest.h>
#include <re2/re2.h>

#include <algorithm>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "engine/scan/escapes.h"
#include "engine/scan/internal/re2_set.h"
#include "engine/scan/internal/translate.h"
#include "engine/scan/scanner.h"
#include "engine/vm/scan.h"
#include "stdlib/builtins.h"

namespace tollgate::scan {
namespace {

std::vector<int> Ids(const Scanner& s, std::string_view text) {
  std::vector<int> ids;
  EXPECT_TRUE(s.Scan(text, &ids));
  return ids;
}

std::unique_ptr<Scanner> Must(const std::vector<std::string>& pats, Options o = {}) {
  std::string err;
  auto s = Scanner::Build(pats, o, &err);
  EXPECT_TRUE(s) << err;
  return s;
}

// Expected ids: RE2 partial matches, one pattern at a time.
std::vector<int> Reference(const std::vector<std::string>& pats, std::string_view text,
                           bool caseless = false) {
  RE2::Options o;
  o.set_case_sensitive(!caseless);
  o.set_log_errors(false);
  std::vector<int> ids;
  for (size_t i = 0; i < pats.size(); ++i) {
    RE2 re(pats[i], o);
    if (RE2::PartialMatch(re2::StringPiece(text.data(), text.size()), re)) {
      ids.push_back(static_cast<int>(i));
    }
  }
  return ids;
}

TEST(Translate, RewritesTheConstructsThatDiffer) {
  using internal::TranslateForHyperscan;
  std::string out, why;
  ASSERT_TRUE(TranslateForHyperscan("abc$", false, &out, &why)) << why;
  EXPECT_EQ(out, "abc\\z");
  ASSERT_TRUE(TranslateForHyperscan("a\\sb", false, &out, &why)) << why;
  EXPECT_EQ(out, "a[\\x{9}\\x{a}\\x{c}\\x{d}\\x{20}]b");
  ASSERT_TRUE(TranslateForHyperscan("a\\vb", false, &out, &why)) << why;
  EXPECT_EQ(out, "a\\x{b}b");
  ASSERT_TRUE(TranslateForHyperscan("(?m:^)#x(?m:$)", false, &out, &why)) << why;
  EXPECT_EQ(out, "(?:^|\\n)\\x{23}x(?:\\n|\\z)");
  ASSERT_TRUE(TranslateForHyperscan("a{,3}", false, &out, &why)) << why;
  EXPECT_EQ(out, "a\\x{7b}\\x{2c}3\\x{7d}");  // RE2 reads `{,3}` literally
  // QuoteMeta output (how `contains` literals reach the scanner) stays literal.
  ASSERT_TRUE(TranslateForHyperscan(RE2::QuoteMeta(std::string("a b_c\0.", 7)), false, &out, &why)) << why;
  EXPECT_EQ(out, "a\\x{20}b\\x{5f}c\\x{0}\\x{2e}");
  ASSERT_TRUE(TranslateForHyperscan("(?P<n>x)\\W", true, &out, &why)) << why;
  EXPECT_EQ(out, "(?:x)[^\\w\\x{17f}\\x{212a}]");
}

// Which patterns the translation knows never to match the empty string
// (the scanner then skips Hyperscan's own analysis of them at load).
TEST(Translate, SaysNonEmptyOnlyForATopLevelTokenThatMustConsume) {
  auto nonempty = [](const char* p) {
    std::string out, why;
    bool caseless = false, ascii = false, yes = false;
    EXPECT_TRUE(internal::TranslateForHyperscan(p, false, &out, &why, &caseless, &ascii, &yes)) << p << why;
    return yes;
  };
  for (const char* p : {"abc", "a*b", "a?b{2}", "\\d+", "[ab]", ".", "\\bfoo\\b", "(?m:^)a",
                        "a(?:b|c)*", "(?:x|y)z", "a{,2}", "(?i)k", "\\x41?\\x42"}) {
    EXPECT_TRUE(nonempty(p)) << p;
  }
  for (const char* p : {"a*", "a?", "a{0,3}", "a{00}", "\\b", "^", "$", "^$", "a|b", "(ab)",
                        "(?:a)", "a+?", "a*?\\b", "(?m:^)", "(?m:$)", "\\b|x", "(?:a|)"}) {
    EXPECT_FALSE(nonempty(p)) << p;
  }
}

// Which patterns may run without Hyperscan's UTF-8 mode.
TEST(Translate, AsciiOnlyPatternsSkipUtf8Mode) {
  using internal::TranslateForHyperscan;
  std::string out, why;
  auto ascii = [&](const char* p, bool caseless) {
    bool ci = false, a = false;
    EXPECT_TRUE(TranslateForHyperscan(p, caseless, &out, &why, &ci, &a)) << p << ": " << why;
    return a;
  };
  EXPECT_TRUE(ascii("\\bpass\\d+[a-c]\\s\\w$", false));
  EXPECT_TRUE(ascii("(?i)confidential", false));   // no k or s to fold beyond ASCII
  EXPECT_FALSE(ascii("(?i)secret", false));        // s folds to U+017F
  EXPECT_FALSE(ascii("(?i)[a-z]", false));
  EXPECT_TRUE(ascii("confidential", true));
  EXPECT_FALSE(ascii("task", true));
  EXPECT_FALSE(ascii("\\w", true));  // \w holds k and s
  EXPECT_FALSE(ascii("a.b", false));
  EXPECT_FALSE(ascii("[^a]", false));
  EXPECT_FALSE(ascii("a\\Wb", false));
  EXPECT_FALSE(ascii("\\D", false));
  // A non-ASCII character outside a class runs as its UTF-8 bytes; in a
  // class it still needs UTF-8 mode.
  EXPECT_TRUE(ascii("caf\xC3\xA9", false));
  EXPECT_EQ(out, "caf(?:\\x{c3}\\x{a9})");
  EXPECT_TRUE(ascii("\\d(?:[ -]|\\x{a0}|\xE2\x80\xAF)?\\d", false));
  EXPECT_EQ(out, "\\d(?:[\\x{20}\\x{2d}]|(?:\\x{c2}\\x{a0})|(?:\\x{e2}\\x{80}\\x{af}))?\\d");
  EXPECT_TRUE(ascii("\\x{1F600}+", false));
  EXPECT_EQ(out, "(?:\\x{f0}\\x{9f}\\x{98}\\x{80})+");
  EXPECT_FALSE(ascii("[\\x{e9}]", false));
  EXPECT_FALSE(ascii("\\x{e9}.", false));  // `.` needs UTF-8 mode: the character stays one
  EXPECT_EQ(out, "\\x{e9}.");
}

// Which patterns need UTF-8 mode only for the case variants of k, s and
// \w (U+212A, U+017F): their byte-mode form for ASCII texts differs by
// those alone. Anything else that needs UTF-8 mode is not fold-only.
TEST(Translate, SaysFoldOnlyWhenCaseVariantsAloneNeedUtf8) {
  using internal::TranslateForHyperscan;
  std::string out, why;
  auto fold_only = [&](const char* p, bool caseless) {
    bool ci = false, a = false, ne = false, f = true;
    EXPECT_TRUE(TranslateForHyperscan(p, caseless, &out, &why, &ci, &a, &ne, &f)) << p << ": " << why;
    EXPECT_FALSE(a && f) << p;  // a byte-mode pattern is never fold-only
    return f;
  };
  EXPECT_TRUE(fold_only("(?i)secret", false));
  EXPECT_TRUE(fold_only("(?i)codename 7 [a-z]+", false));
  EXPECT_TRUE(fold_only("\\w+ key", true));
  EXPECT_FALSE(fold_only("(?i)confidential", false));  // byte mode
  EXPECT_FALSE(fold_only("plain", false));
  EXPECT_FALSE(fold_only("(?i)s.", false));          // `.`
  EXPECT_FALSE(fold_only("(?i)s[^x]", false));       // a negated class
  EXPECT_FALSE(fold_only("(?i)s\\W", false));
  EXPECT_FALSE(fold_only("(?i)s\\D", false));
  EXPECT_FALSE(fold_only("s\\S", false));
  EXPECT_FALSE(fold_only("s[\\x{2010}-\\x{2015}]", true));  // a non-ASCII class member
}

// The byte-mode form for ASCII texts: the folds to U+017F and U+212A drop
// out, a non-ASCII character becomes one byte above 0x7F (never in an ASCII
// text) and leaves its class.
TEST(Translate, AsciiTextFormIsByteModeWithoutNonAsciiFolds) {
  using internal::TranslateForAsciiText;
  std::string out, why;
  ASSERT_TRUE(TranslateForAsciiText("(?i)\\w+\\Ws", true, &out, &why)) << why;
  EXPECT_EQ(out, "\\w+\\Ws");
  ASSERT_TRUE(TranslateForAsciiText("a.[^b]\\S", false, &out, &why)) << why;
  EXPECT_EQ(out, "a.[^b][^\\x{9}\\x{a}\\x{c}\\x{d}\\x{20}]");
  const std::string never = "[^\\x{0}-\\x{7f}]";
  for (auto [p, want] : std::vector<std::pair<const char*, std::string>>{
           {"caf\xC3\xA9+", "caf" + never + "+"},
           {"\\x{e9}?x", never + "?x"},
           {"[a\\x{100}]", "[a]"},
           {"[\\x{100}-\\x{200}\xE2\x96\x81]", never},
           {"[^\xEF\xBD\x9C]", "[\\x{0}-\\x{7f}]"},
           {"[^\xEF\xBD\x9C>]", "[^\\x{3e}]"},
           {"[_\xE2\x96\x81]", "[\\x{5f}]"}}) {
    ASSERT_TRUE(TranslateForAsciiText(p, false, &out, &why)) << p << ": " << why;
    EXPECT_EQ(out, want) << p;
  }
  EXPECT_FALSE(TranslateForAsciiText("\\pL", false, &out, &why));  // refused in any form
}

// A scanner with caseless `s`/`k` patterns scans ASCII texts in byte mode and
// other texts in UTF-8 mode, with RE2's answers on both (U+017F and U+212A
// fold to s and k).
TEST(Scanner, AsciiTextsUseTheByteModeDatabase) {
  if (!HaveHyperscan()) GTEST_SKIP() << "built without Hyperscan";
  std::string err;
  Options o;
  o.engine = Engine::kHyperscan;
  auto s = Scanner::Build({"(?i)secret key", "a.b", "[^x]yz", "plain"}, o, &err);
  ASSERT_NE(s, nullptr) << err;
  EXPECT_TRUE(s->ascii_database());
  std::vector<int> ids;
  ASSERT_TRUE(s->Scan("the SECRET KEY, a\nb a-b xyz ayz plain", &ids));
  EXPECT_EQ(ids, (std::vector<int>{0, 1, 2, 3}));
  ASSERT_TRUE(s->Scan("\xC5\xBF" "ecret " "\xE2\x84\xAA" "ey", &ids));  // U+017F, U+212A
  EXPECT_EQ(ids, (std::vector<int>{0}));
  ASSERT_TRUE(s->Scan("a\xC3\xA9" "b \xC3\xA9yz", &ids));  // one character each
  EXPECT_EQ(ids, (std::vector<int>{1, 2}));
  ASSERT_TRUE(s->Scan("a\nb xyz", &ids));
  EXPECT_TRUE(ids.empty());
  // Naming non-ASCII characters (which an ASCII text cannot hold).
  auto u = Scanner::Build({"(?i)secret", "caf\xC3\xA9", "<[^\xEF\xBD\x9C>]+>", "x[_\xE2\x96\x81]y"}, o, &err);
  ASSERT_NE(u, nullptr) << err;
  EXPECT_TRUE(u->ascii_database());
  ASSERT_TRUE(u->Scan("SECRET cafe <ab> x_y", &ids));
  EXPECT_EQ(ids, (std::vector<int>{0, 2, 3}));
  ASSERT_TRUE(u->Scan("caf\xC3\xA9 <\xEF\xBD\x9C> x\xE2\x96\x81y", &ids));
  EXPECT_EQ(ids, (std::vector<int>{1, 3}));
  // Nothing needing UTF-8 mode: no copy needed.
  EXPECT_FALSE(Scanner::Build({"secret", "[a-c]+"}, o, &err)->ascii_database());
}

// A large set whose patterns need UTF-8 mode only for case variants gets
// no byte-mode copy (it would double the compile and scan no faster); a
// small one does, and so does a large one with a pattern that needs UTF-8
// mode for more. Each answers as RE2 on ASCII texts and on U+017F / U+212A.
TEST(Scanner, LargeFoldOnlySetsKeepOneDatabase) {
  if (!HaveHyperscan()) GTEST_SKIP() << "built without Hyperscan";
  auto patterns = [](size_t n) {
    std::vector<std::string> p;
    for (size_t i = 0; i < n; ++i) p.push_back("(?i)codename " + std::to_string(i) + " [a-z]+");
    return p;
  };
  Options o;
  o.engine = Engine::kHyperscan;
  std::string err;
  auto small = Scanner::Build(patterns(64), o, &err);
  ASSERT_NE(small, nullptr) << err;
  EXPECT_TRUE(small->ascii_database());
  const std::vector<std::string> large_pats = patterns(65);
  auto large = Scanner::Build(large_pats, o, &err);
  ASSERT_NE(large, nullptr) << err;
  EXPECT_FALSE(large->ascii_database());
  std::vector<std::string> wide_pats = large_pats;
  wide_pats.push_back("a.b");
  auto wide = Scanner::Build(wide_pats, o, &err);
  ASSERT_NE(wide, nullptr) << err;
  EXPECT_TRUE(wide->ascii_database());
  for (const char* t : {"CODENAME 64 ALPHA and codename 3 beta", "codename 64 \xC5\xBFun",
                        "codename 12 \xE2\x84\xAAilo", "codename 7", "a-b codename 1 x"}) {
    EXPECT_EQ(Ids(*large, t), Reference(large_pats, t)) << t;
    EXPECT_EQ(Ids(*wide, t), Reference(wide_pats, t)) << t;
  }
}

TEST(Translate, RefusesWhatItCannotProveEquivalent) {
  using internal::TranslateForHyperscan;
  std::string out, why;
  for (const char* p : {"\\pL", "\\p{Greek}", "a(?i)bc", "(?i:a)", "a(?s:.)b", "\\Qa.b\\E", "\\C",
                        "[[:alpha:]]", "(?m:^)a(?m:^)", "a(?m:$)b", "[\\S]", "[a-\\d]"}) {
    EXPECT_FALSE(TranslateForHyperscan(p, false, &out, &why)) << p << " -> " << out;
    EXPECT_FALSE(why.empty()) << p;
  }
  // Case folding of non-ASCII letters is RE2's business.
  EXPECT_FALSE(TranslateForHyperscan("caf\xC3\xA9", true, &out, &why));
  EXPECT_TRUE(TranslateForHyperscan("caf\xC3\xA9", false, &out, &why)) << why;
  EXPECT_TRUE(TranslateForHyperscan("<\xEF\xBD\x9C", true, &out, &why)) << why;  // fullwidth |
}

// NoCaseFolding's table against RE2's own case folding, every code point.
TEST(Translate, NoCaseFoldingTableAgreesWithRe2) {
  std::string cls = "(?i)[";
  std::string plain = "[";
  for (uint32_t lo = 0; lo < 0x110000;) {
    if (!internal::NoCaseFolding(lo)) { ++lo; continue; }
    uint32_t hi = lo;
    while (internal::NoCaseFolding(hi + 1)) ++hi;
    char buf[48];
    std::snprintf(buf, sizeof buf, "\\x{%x}-\\x{%x}", lo, hi);
    cls += buf;
    plain += buf;
    lo = hi + 1;
  }
  RE2 folded(cls + "]"), exact(plain + "]");
  ASSERT_TRUE(folded.ok() && exact.ok());
  std::string u8;
  for (uint32_t cp = 0; cp < 0x110000; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    u8.clear();
    if (cp < 0x80) u8 += static_cast<char>(cp);
    else if (cp < 0x800) { u8 += static_cast<char>(0xC0 | (cp >> 6)); u8 += static_cast<char>(0x80 | (cp & 0x3F)); }
    else if (cp < 0x10000) { u8 += static_cast<char>(0xE0 | (cp >> 12)); u8 += static_cast<char>(0x80 | ((cp >> 6) & 0x3F)); u8 += static_cast<char>(0x80 | (cp & 0x3F)); }
    else { u8 += static_cast<char>(0xF0 | (cp >> 18)); u8 += static_cast<char>(0x80 | ((cp >> 12) & 0x3F)); u8 += static_cast<char>(0x80 | ((cp >> 6) & 0x3F)); u8 += static_cast<char>(0x80 | (cp & 0x3F)); }
    ASSERT_EQ(RE2::FullMatch(u8, folded), RE2::FullMatch(u8, exact)) << std::hex << cp;
  }
}

TEST(Utf8, ValidatesLikeTheStandard) {
  using internal::ValidUtf8;
  EXPECT_TRUE(ValidUtf8(""));
  EXPECT_TRUE(ValidUtf8("plain ascii text, long enough for the word loop"));
  EXPECT_TRUE(ValidUtf8("caf\xC3\xA9 \xE2\x84\xAA \xF0\x9F\x98\x80"));
  EXPECT_FALSE(ValidUtf8("\xC0\xAF"));          // overlong
  EXPECT_FALSE(ValidUtf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(ValidUtf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(ValidUtf8("abc\xC3"));           // truncated
  EXPECT_FALSE(ValidUtf8("abcdefgh\x80"));
  internal::Utf8Checker c;
  c.Feed("caf\xC3");
  EXPECT_FALSE(c.Done());
  c.Feed("\xA9");
  EXPECT_TRUE(c.Done());
}

// The checker's block fast paths (64 bytes with AVX-512BW, 16 with SSE2, 8)
// against the same checker fed one byte at a time: long ASCII runs with a
// backslash, a non-ASCII character or an invalid byte at every offset.
TEST(Utf8, BlockFastPathsEqualByteByByte) {
  std::mt19937 rng(5);
  const std::vector<std::string> odd = {"\\", "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80",
                                        "\xC3", "\x80", "\xED\xA0\x80", "\xFF"};
  for (size_t len : {63, 64, 65, 200, 300, 700}) {
    for (size_t at = 0; at <= len; ++at) {
      std::string text(len, 'a');
      const std::string& o = odd[rng() % odd.size()];
      text.insert(at, o);
      if (rng() % 3 == 0) text.insert(rng() % text.size(), odd[rng() % odd.size()]);
      internal::Utf8Checker whole, bytes;
      whole.Feed(text);
      for (char c : text) bytes.Feed(std::string_view(&c, 1));
      ASSERT_EQ(whole.Done(), bytes.Done()) << len << " " << at;
      ASSERT_EQ(whole.Ascii(), bytes.Ascii()) << len << " " << at;
      if (bytes.Done()) {
        ASSERT_EQ(whole.Backslash(), bytes.Backslash()) << len << " " << at;
      }
    }
  }
}

TEST(Scanner, DefaultEngineIsHyperscanWhenBuiltWithIt) {
  auto s = Must({"secret", "\\d{16}"});
  if (HaveHyperscan()) {
    EXPECT_EQ(s->hyperscan_patterns(), 2u);
    EXPECT_EQ(s->PatternEngine(0), "hyperscan");
  } else {
    EXPECT_EQ(s->hyperscan_patterns(), 0u);
  }
  EXPECT_EQ(Ids(*s, "the secret is 4111111111111111"), (std::vector<int>{0, 1}));
  // `contains` literals arrive quoted; they run on Hyperscan too.
  auto lit = Must({RE2::QuoteMeta("internal use only")});
  if (HaveHyperscan()) {
    EXPECT_EQ(lit->PatternEngine(0), "hyperscan");
  }
  EXPECT_EQ(Ids(*lit, "for internal use only!"), (std::vector<int>{0}));
  Options re2;
  re2.engine = Engine::kRE2;
  auto r = Must({"secret", "\\d{16}"}, re2);
  EXPECT_EQ(r->hyperscan_patterns(), 0u);
  EXPECT_EQ(r->PatternEngine(1), "re2 (re2 engine)");
}

TEST(Scanner, FallsBackPerPatternAndSaysWhy) {
  if (!HaveHyperscan()) GTEST_SKIP() << "built without Hyperscan";
  const std::vector<std::string> pats = {"plain", "\\pL\\d", "(?i)MiXed", "x*", "a$", "\\bword\\b"};
  auto s = Must(pats);
  EXPECT_EQ(s->PatternEngine(0), "hyperscan");
  EXPECT_NE(s->PatternEngine(1).find("re2 (escape \\p)"), std::string::npos) << s->PatternEngine(1);
  EXPECT_EQ(s->PatternEngine(2), "hyperscan");  // a leading (?i): a caseless pattern
  EXPECT_EQ(s->PatternEngine(3), "re2 (can match the empty string)");
  EXPECT_EQ(s->PatternEngine(4), "hyperscan");
  EXPECT_EQ(s->PatternEngine(5), "hyperscan");
  EXPECT_EQ(s->hyperscan_patterns(), 4u);
  for (const char* t : {"", "plain", "\xC3\xA9" "7 mixed a", "A word\n", "a\n", "xa",
                        "words \xE2\x84\xAA" "a"}) {
    EXPECT_EQ(Ids(*s, t), Reference(pats, t)) << t;
  }
}

// Every place where Hyperscan's defaults differ from RE2's.
TEST(Scanner, HidesTheSemanticDifferences) {
  struct Case {
    std::string pattern, text;
    bool caseless;
  };
  const std::vector<Case> cases = {
      {"abc$", "abc\n", false},              // PCRE `$` also before a final newline
      {"abc$", "abc", false},
      {"a\\sb", "a\vb", false},              // PCRE `\s` includes vertical tab
      {"a\\vb", "a\nb", false},              // PCRE `\v` is a class
      {"k", "\xE2\x84\xAA", true},           // Kelvin sign folds to k
      {"\\W", "\xE2\x84\xAA", true},         // ... so it is not \W under folding
      {"a\\Wb", "a\xC5\xBF" "b", true},      // nor is long s
      {"a\\Wb", "a\xC3\xA9" "b", true},
      {"\\w", "\xC5\xBF", true},
      {"[^k]", "\xE2\x84\xAA", true},
      {"\\ba", "\xC3\xA9" "a", false},       // \b is ASCII
      {"a.b", "a\xC3\xA9" "b", false},       // `.` is one character
      {"a.b", "a\nb", false},
      {"[^x]", "\n", false},
      {"(?m:^)#", "a\n#", false},
      {"(?m:^)#", "a#", false},
      {"x(?m:$)", "x\ny", false},
      {"x(?m:$)", "xy", false},
      {"a{,2}", "a{,2}", false},
      {std::string("a\0b", 3), std::string("a\0b", 3), false},
      {"caf\xC3\xA9", "CAF\xC3\x89", true},
      {"(?i)k\\W", "\xE2\x84\xAA\xC5\xBF", false},  // a leading (?i): RE2's folding
      {"(?i)k\\W", "K.", false},
      {"(?i)abc$", "ABC\n", false},
  };
  for (const Case& c : cases) {
    Options o;
    o.case_insensitive = c.caseless;
    auto s = Must({c.pattern}, o);
    EXPECT_EQ(Ids(*s, c.text), Reference({c.pattern}, c.text, c.caseless))
        << "/" << c.pattern << "/ on `" << c.text << "` " << s->PatternEngine(0);
  }
}

TEST(Scanner, TextsThatAreNotUtf8GoToRe2) {
  const std::vector<std::string> pats = {"a.b", "\\xff", "[^a]"};
  auto s = Must(pats);
  for (const std::string t : {"a\xff" "b", "\xff", "a\x80", "aa"}) {
    EXPECT_EQ(Ids(*s, t), Reference(pats, t)) << t;
  }
}

TEST(Scanner, ManyThreadsScanAtOnce) {
  std::vector<std::string> pats = {"alpha", "\\d{4}-\\d{4}", "\\pL{3}\\d", "x$"};
  auto s = Must(pats);
  const std::string texts[2] = {"alpha 1234-5678 x", "beta abc1"};
  const std::vector<int> want[2] = {Reference(pats, texts[0]), Reference(pats, texts[1])};
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::vector<int> ids;
      for (int i = 0; i < 2000; ++i) {
        int k = (i + t) % 2;
        if (!s->Scan(texts[k], &ids) || ids != want[k]) ++bad;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST(Stream, ChunkedInputGivesTheBlockResult) {
  std::vector<std::string> pats;
  for (const auto& d : stdlib::Detectors()) pats.emplace_back(d.regex);
  pats.push_back("\\bignore\\W*previous\\b");
  pats.push_back("end$");
  pats.push_back("\\pL+\\d");  // an RE2 fallback: the stream keeps the text for it
  Options o;
  o.streaming = true;
  auto s = Must(pats, o);
  std::mt19937 rng(7);
  const std::string texts[] = {
      "card 4111 1111 1111 1111, mail bob@example.com, please ignore... previous notes end",
      "ssn 123-45-6789 \xE2\x84\xAA caf\xC3\xA9 sk-abcdefghijklmnopqrstuvwxyz0123 the end",
      "nothing to see here", "", "ab\xC3\xA9" "9"};
  for (const std::string& text : texts) {
    std::vector<int> want;
    ASSERT_TRUE(s->Scan(text, &want));
    for (int round = 0; round < 50; ++round) {
      auto st = s->NewStream();
      ASSERT_TRUE(st);
      size_t pos = 0;
      while (pos < text.size()) {
        size_t n = std::min<size_t>(text.size() - pos, rng() % 7);
        ASSERT_TRUE(st->Feed(std::string_view(text).substr(pos, n)));
        pos += n;
      }
      std::vector<int> got;
      ASSERT_TRUE(st->Finish(&got));
      EXPECT_EQ(got, want) << text << " round " << round;
    }
  }
  Options block;
  EXPECT_FALSE(Must({"x"}, block)->NewStream());
}

}  // namespace
}  // namespace tollgate::scan

namespace tollgate::scan {
namespace {

TEST(Prefilter, LeadingBoundaryClassRunBecomesOneClassByte) {
  std::string out;
  ASSERT_TRUE(internal::PrefilterForm("\\b[A-Za-z0-9._%+-]+@[a-z]+\\.com", &out));
  EXPECT_EQ(out, "[A-Za-z0-9._%+-]@[a-z]+\\.com");
  ASSERT_TRUE(internal::PrefilterForm("\\b[a\\]]+x|y", &out));
  EXPECT_EQ(out, "[a\\]]x|y");
  bool exact = true;
  ASSERT_TRUE(internal::PrefilterForm("\\b[a-z]+@x", &out, &exact));
  EXPECT_FALSE(exact);
  ASSERT_TRUE(internal::PrefilterForm("[a-z.]+@x", &out, &exact));
  EXPECT_EQ(out, "[a-z.]@x");
  EXPECT_TRUE(exact);  // no \b: "matches somewhere" is the same
  for (const char* no : {"x[a-z]+@x", "\\b[^a]+x", "[^a]+x", "\\B[a]+x", "\\b[]a]+x", "\\b[a-z]+?x", "\\b[a-z]*x",
                         "\\b[[:alpha:]]+x", "\\b[a-z]x", "\\b[a-z", "\\bword"}) {
    EXPECT_FALSE(internal::PrefilterForm(no, &out)) << no;
  }
}

// A prefiltered pattern: Hyperscan's superset finds candidates, RE2 keeps
// only the real matches -- in block and in stream mode.
TEST(Prefilter, RE2ConfirmsEveryCandidate) {
  if (!HaveHyperscan()) GTEST_SKIP() << "built without Hyperscan";
  const std::vector<std::string> pats = {"\\b[A-Za-z0-9._%+-]+@[a-z]+\\.com", "plain",
                                         "[A-Za-z0-9._%+-]+@[a-z]+\\.com"};
  Options o;
  o.streaming = true;
  auto s = Must(pats, o);
  EXPECT_EQ(s->PatternEngine(0), "hyperscan (prefilter, re2 confirms)");
  EXPECT_EQ(s->PatternEngine(1), "hyperscan");
  EXPECT_EQ(s->PatternEngine(2), "hyperscan");  // the exact rewrite needs no confirmation
  struct Case {
    std::string text;
    std::vector<int> want;
  };
  const std::vector<Case> cases = {
      {"mail bob@example.com plain", {0, 1, 2}},
      {" ..@example.com", {2}},   // the superset matches `.@example.com`; no \b before it
      {"_.@example.com", {0, 2}}, // `_` is a word byte outside the class: \b before `.`
      {" -.@example.com", {2}},
      {"a.@example.com", {0, 2}}, // \b before `a`
      {"@example.com plain", {1}},
      {"", {}}};
  for (const Case& c : cases) {
    EXPECT_EQ(Ids(*s, c.text), c.want) << c.text;
    EXPECT_EQ(Ids(*s, c.text), Reference(pats, c.text)) << c.text;
    auto st = s->NewStream();
    ASSERT_TRUE(st);
    for (size_t i = 0; i < c.text.size(); i += 3) st->Feed(std::string_view(c.text).substr(i, 3));
    std::vector<int> ids;
    ASSERT_TRUE(st->Finish(&ids));
    EXPECT_EQ(ids, c.want) << "stream: " << c.text;
  }
}

}  // namespace
}  // namespace tollgate::scan

#include "engine/scan/internal/digit_runs.h"

namespace tollgate::scan {
namespace {

// Texts dense in digits and separators, with runs across 64-byte blocks.
std::string DigitText(std::mt19937_64& r, size_t max_len) {
  static const char* const pieces[] = {"0", "1", "7", "9", " ", "-", ".", "/", "a", "Z", "_",
                                       "\n", "\xC3\xA9", "4111 1111 1111 1111", "123-45-6789",
                                       "2026", "3.10", "192.168.0.1", "12  34", "1--2", "x9",
                                       "\xC2\xA0", "\xE2\x80\xAF", "\xE2\x80\x89",
                                       "4111\xC2\xA0" "1111\xE2\x80\x87" "1111\xE2\x80\x89" "1111",
                                       "\xF0\x9F\x98\x80", "\x80",
                                       // en dash, ideographic and zero-width spaces,
                                       // full-width digits and hyphen, " - ", CR LF, tab
                                       "\xE2\x80\x93", "\xE3\x80\x80", "\xE2\x80\x8B", "\xEF\xBC\x91",
                                       "\xEF\xBC\x99", "\xEF\xBC\x8D", "\xEF\xBC", " - ", "\r\n", "\t",
                                       "\xEF\xBC\x94\xEF\xBC\x91\xEF\xBC\x91\xEF\xBC\x91\xE2\x80\x93"
                                       "\xEF\xBC\x91\xEF\xBC\x91\xEF\xBC\x91\xEF\xBC\x91",
                                       "4111 \xE2\x80\x93 1111\xE3\x80\x80" "1111\xE2\x80\x8B" "1111"};
  const size_t len = static_cast<size_t>(r() % (max_len + 1));
  std::string t;
  const unsigned dense = static_cast<unsigned>(r() % 4);  // how often a digit
  while (t.size() < len) {
    if (r() % 4 < dense) {
      t += static_cast<char>('0' + r() % 10);
    } else {
      t += pieces[r() % std::size(pieces)];
    }
  }
  if (r() % 10 == 0) t += std::string(1, '\0');
  return t;
}

TEST(DigitRuns, BlockPassFindsWhatTheByteWalkFinds) {
  std::mt19937_64 r(7);
  const std::vector<std::string> seps = {" -", ".", "", " -./", "abcde", std::string("\0-", 2),
                                         "\t\n\r -.", "\t\n\r -./_Za"};
  // Texts past 64 blocks (4 KB) cross the AVX-512 pass's chunks of 64
  // blocks; gap 5 is the detectors'.
  for (int iter = 0; iter < 20000; ++iter) {
    const std::string t = DigitText(r, iter % 100 == 0 ? 12000 : iter % 10 == 0 ? 2000 : 300);
    const std::string& s = seps[r() % seps.size()];
    const uint32_t n = 1 + static_cast<uint32_t>(r() % 32);
    const bool wide = r() % 2 == 0;
    const uint32_t gap = std::vector<uint32_t>{1, 2, 3, 5, 9, 17, 40, 64}[r() % 8];
    internal::Spans fast, ref;
    internal::FindDigitRuns(t, s, wide, gap, n, &fast);
    internal::FindDigitRunsReference(t, s, wide, gap, n, &ref);
    ASSERT_EQ(fast, ref) << "min " << n << " separators `" << s << "` wide " << wide << " gap "
                         << gap << " text `" << t << "`";
    // Each narrower classifier too (the CPU's best is AVX-512BW here, with
    // narrow runs found eight blocks at a time; the others a block at a time).
    for (int isa : {internal::kDigitRunsSse, internal::kDigitRunsAvx2}) {
      fast.clear();
      internal::FindDigitRunsIsa(t, s, wide, gap, n, isa, &fast);
      ASSERT_EQ(fast, ref) << "isa " << isa << " min " << n << " separators `" << s << "` wide "
                           << wide << " gap " << gap << " text `" << t << "`";
    }
  }
  internal::Spans got;
  internal::FindDigitRunsReference("id 4111 1111-1111 1111, 12  34.", " -", false, 1, 9, &got);
  EXPECT_EQ(got, (internal::Spans{{2, 23}}));  // one byte of context each side
  got.clear();
  internal::FindDigitRuns(std::string(200, '5'), "", false, 1, 13, &got);
  EXPECT_EQ(got, (internal::Spans{{0, 200}}));
  // Wide: a no-break space (2 bytes) and a narrow no-break space (3 bytes)
  // join groups; four bytes above 0x7F do not.
  const std::string nbsp = "id 4111\xC2\xA0" "1111\xE2\x80\xAF" "1111 1111.";
  for (bool block : {false, true}) {
    got.clear();
    (block ? internal::FindDigitRuns : internal::FindDigitRunsReference)(nbsp, " -", true, 3, 16, &got);
    EXPECT_EQ(got, (internal::Spans{{2, 26}})) << block;
    got.clear();
    (block ? internal::FindDigitRuns : internal::FindDigitRunsReference)(nbsp, " -", false, 3, 16, &got);
    EXPECT_TRUE(got.empty()) << block;
    got.clear();
    (block ? internal::FindDigitRuns : internal::FindDigitRunsReference)(
        "4111\xF0\x9F\x98\x80" "1111 1111 1111", " -", true, 3, 16, &got);
    EXPECT_TRUE(got.empty()) << block;
  }
}

// The stdlib detectors' patterns, each with the digit-run promise it makes.
void AddDetectors(std::vector<std::string>* pats, Options* o) {
  for (const auto& d : stdlib::Detectors()) {
    pats->emplace_back(d.regex);
    o->digit_runs.push_back({d.run_digits, std::string(d.run_separators), d.run_wide, d.run_max_gap});
  }
}

// The detectors that promise digit runs (card, SSN) run on them, and find
// exactly what RE2 finds -- on long texts where the runs cross blocks.
// A scanner compiles each of its Hyperscan databases once: the digit-run
// tier, the block database without it and that one's ASCII-text form
// (before, the block database was first compiled with the gated patterns
// too, then again without them). A pattern Hyperscan refuses only when
// compiling still moves to RE2 alone.
// Three patterns, the first gated on digit runs, with the process's store
// of compiled databases emptied: each of its databases compiles (or is
// reused) in the tests below.
struct GatedTrio {
  std::vector<std::string> pats = {"\\d{3}-\\d{3}", "plain", "(?i)kilo"};
  Options o;
  GatedTrio() {
    o.digit_runs = {{6, "-"}, {}, {}};
    ClearCompiledDatabases();
  }
};

TEST(DigitRuns, EachDatabaseCompilesOnce) {
  if (!HaveHyperscan()) GTEST_SKIP() << "built without Hyperscan";
  const GatedTrio g;
  const std::vector<std::string>& pats = g.pats;
  const Options& o = g.o;
  const uint64_t before = HyperscanCompiles();
  auto s = Must(pats, o);
  EXPECT_EQ(HyperscanCompiles() - before, 3u);
  EXPECT_EQ(s->PatternEngine(0), "hyperscan (digit runs)");
  EXPECT_EQ(s->PatternEngine(1), "hyperscan");
  EXPECT_TRUE(s->ascii_database());
  for (const char* t : {"123-456 plain", "KILO", "kilo \xE2\x84\xAA", "12-3456"}) {
    EXPECT_EQ(Ids(*s, t), Reference(pats, t)) << t;
  }
  // Hyperscan reads this pattern but will not compile it ("too large").
  const std::vector<std::string> big = {"plain", "[^a]{1000}b[^c]{1000}", "\\d{3}-\\d{3}"};
  Options ob;
  ob.digit_runs = {{}, {}, {6, "-"}};
  auto b = Must(big, ob);
  EXPECT_EQ(b->PatternEngine(0), "hyperscan");
  EXPECT_EQ(b->PatternEngine(1).rfind("re2 (hyperscan: ", 0), 0u) << b->PatternEngine(1);
  EXPECT_EQ(b->PatternEngine(2), "hyperscan (digit runs)");
  const std::string t = "plain " + std::string(1000, 'x') + "b" + std::string(1000, 'y') + " 123-456";
  EXPECT_EQ(Ids(*b, t), Reference(big, t));
}

// The same patterns compiled again (a policy reloaded) reuse the databases
// compiled before, and scan the same; emptied, the store compiles again.
TEST(DigitRuns, TheSamePatternsReuseTheirDatabases) {
  if (!HaveHyperscan()) GTEST_SKIP() << "built without Hyperscan";
  const GatedTrio g;
  const std::vector<std::string>& pats = g.pats;
  const Options& o = g.o;
  auto first = Must(pats, o);
  const uint64_t before = HyperscanCompiles();
  auto again = Must(pats, o);
  EXPECT_EQ(HyperscanCompiles(), before);
  Options other = o;
  other.case_insensitive = true;
  auto caseless = Must(pats, other);  // other flags: compiled
  EXPECT_GT(HyperscanCompiles(), before);
  for (const char* t : {"123-456 plain", "KILO", "kilo \xE2\x84\xAA", "12-3456", "PLAIN"}) {
    EXPECT_EQ(Ids(*again, t), Ids(*first, t)) << t;
    EXPECT_EQ(Ids(*again, t), Reference(pats, t)) << t;
  }
  EXPECT_EQ(Ids(*caseless, "PLAIN"), std::vector<int>{1});
  first.reset();  // a copy outlives the scanner it was copied for
  EXPECT_EQ(Ids(*again, "123-456"), std::vector<int>{0});
  ClearCompiledDatabases();
  const uint64_t cleared = HyperscanCompiles();
  auto cold = Must(pats, o);
  EXPECT_EQ(HyperscanCompiles() - cleared, 3u);
}

TEST(DigitRuns, GatedPatternsMatchLikeRe2) {
  if (!HaveHyperscan()) GTEST_SKIP() << "built without Hyperscan";
  std::vector<std::string> pats;
  Options o;
  AddDetectors(&pats, &o);
  pats.push_back("2026");  // not gated
  o.digit_runs.push_back({});
  pats.push_back("\\d{3}-\\d{3}");  // a promise Hyperscan can keep: gated too
  o.digit_runs.push_back({6, "-"});
  auto s = Must(pats, o);
  size_t gated = 0;
  for (size_t i = 0; i < pats.size(); ++i) {
    if (o.digit_runs[i].min_digits > 0) {
      EXPECT_EQ(s->PatternEngine(i), "hyperscan (digit runs)") << pats[i];
      ++gated;
    } else {
      EXPECT_EQ(s->PatternEngine(i).rfind("hyperscan", 0), 0u) << pats[i];
      EXPECT_NE(s->PatternEngine(i), "hyperscan (digit runs)") << pats[i];
    }
  }
  EXPECT_EQ(gated, 3u);  // card, SSN and the last one
  Options plain;
  auto whole = Must(pats, plain);
  std::mt19937_64 r(11);
  for (int iter = 0; iter < 3000; ++iter) {
    const std::string t = DigitText(r, iter % 5 == 0 ? 3000 : 400);
    const std::vector<int> want = Reference(pats, t);
    ASSERT_EQ(Ids(*s, t), want) << "text `" << t << "`";
    ASSERT_EQ(Ids(*whole, t), want) << "text `" << t << "`";
  }
  // A table of numbers: many runs, scanned as one text.
  std::string table;
  for (int i = 0; i < 400; ++i) table += std::to_string(100000000000000 + i * 7919) + " | ";
  table += "123-45-6789";
  EXPECT_EQ(Ids(*s, table), Reference(pats, table));
  EXPECT_EQ(Ids(*s, table.substr(0, 40)), Reference(pats, table.substr(0, 40)));
  // Context: \b sees the real neighbours of a run.
  EXPECT_EQ(Ids(*s, "x123-45-6789"), Reference(pats, "x123-45-6789"));
  EXPECT_EQ(Ids(*s, "a4111 1111 1111 1111"), Reference(pats, "a4111 1111 1111 1111"));
  EXPECT_EQ(Ids(*s, "4111 1111 1111 1111_"), Reference(pats, "4111 1111 1111 1111_"));
}

// The runs a scan found (Scanner::Scan's FoundDigitRuns) serve the
// validators' walk: for every promise DigitRunSpans gives the spans its own
// pass gives, whether it takes them from the scan (same separators, gap and
// width, no more digits than the scan's least: filtered by digits) or not.
TEST(DigitRuns, FoundRunsGiveTheSpansOfTheirOwnPass) {
  if (!HaveHyperscan()) GTEST_SKIP() << "built without Hyperscan";
  std::vector<std::string> pats;
  Options o;
  AddDetectors(&pats, &o);
  auto s = Must(pats, o);
  const int card = stdlib::FindDetector("dlp.credit_card");
  const int ssn = stdlib::FindDetector("dlp.us_ssn");
  ASSERT_GE(card, 0);
  ASSERT_GE(ssn, 0);
  const auto& cd = stdlib::Detectors()[static_cast<size_t>(card)];
  const auto& sd = stdlib::Detectors()[static_cast<size_t>(ssn)];
  ASSERT_LT(sd.run_digits, cd.run_digits);  // the scan's runs are the SSN's: the card's filter them
  const std::string seps(cd.run_separators);
  std::string reversed(seps.rbegin(), seps.rend());
  const std::vector<DigitRuns> promises = {
      {cd.run_digits, seps, cd.run_wide, cd.run_max_gap},
      {sd.run_digits, seps, sd.run_wide, sd.run_max_gap},
      {sd.run_digits, reversed, true, cd.run_max_gap},        // the same set, another order
      {11, seps, true, cd.run_max_gap},                       // between the tiers
      {cd.run_digits, seps, false, cd.run_max_gap},           // narrow: only on ASCII texts
      {sd.run_digits - 1, seps, true, cd.run_max_gap},        // fewer digits than the scan's
      {cd.run_digits, seps, true, cd.run_max_gap - 2},        // another gap
      {cd.run_digits, " -", true, cd.run_max_gap},            // other separators
  };
  std::mt19937_64 r(23);
  FoundDigitRuns found;
  std::vector<int> ids;
  size_t reused = 0;
  for (int iter = 0; iter < 4000; ++iter) {
    const std::string t = DigitText(r, iter % 5 == 0 ? 3000 : 400);
    ASSERT_TRUE(s->Scan(t, &ids, &found));
    if (ValidUtf8(t)) {
      ASSERT_EQ(found.count, 1u) << "one separator set";
      ASSERT_EQ(found.text.data(), t.data());
    }
    for (const DigitRuns& p : promises) {
      std::vector<std::pair<size_t, size_t>> via_scan = {{7, 7}}, own = {{9, 9}};
      DigitRunSpans(t, p, &found, &via_scan);
      DigitRunSpans(t, p, &own);
      ASSERT_EQ(via_scan, own) << "min " << p.min_digits << " wide " << p.wide_separators
                               << " gap " << p.max_gap << " separators `" << p.separators
                               << "` text `" << t << "`";
      reused += found.count != 0;
    }
    // Another text of the same size at another address: its own pass.
    std::string other = t;
    for (char& c : other) c = c == '5' ? '6' : c;
    std::vector<std::pair<size_t, size_t>> a, b;
    DigitRunSpans(other, promises[0], &found, &a);
    DigitRunSpans(other, promises[0], &b);
    ASSERT_EQ(a, b);
  }
  EXPECT_GT(reused, 1000u);
  // The validators through the VM's path: the same decisions with the
  // scan's runs as with their own pass.
  const std::string text = "id 4111 1111 1111 1111 and 123-45-6789, 4111-1111-1111-1112";
  ASSERT_TRUE(s->Scan(text, &ids, &found));
  ASSERT_EQ(found.count, 1u);
  EXPECT_EQ(found.sets[0].spans.size(), 3u);
  for (int id : {card, ssn}) {
    std::vector<std::pair<size_t, size_t>> seen, want;
    const re2::RE2 re(std::string(stdlib::Detectors()[static_cast<size_t>(id)].regex));
    stdlib::WalkDetector(re, id, text, [&](size_t b, size_t e) { seen.emplace_back(b, e); return false; },
                         &found);
    stdlib::WalkDetector(re, id, text, [&](size_t b, size_t e) { want.emplace_back(b, e); return false; });
    EXPECT_EQ(seen, want);
    EXPECT_FALSE(want.empty());
  }
}

// The scan says whether its text holds a backslash (from its UTF-8 pass),
// and the validators take that instead of a memchr of their own: the same
// answer as MayHoldEscapes for a backslash (or none) at every offset of
// texts up to 300 bytes, ASCII or not (the checker's 64-byte steps); for
// another text (same size, another address) the question is asked again;
// and a card number and an SSN found only through JSON string escapes are
// still found through the VM's path with the scan's runs.
TEST(DigitRuns, FoundRunsSayWhetherTheTextHoldsABackslash) {
  if (!HaveHyperscan()) GTEST_SKIP() << "built without Hyperscan";
  std::vector<std::string> pats;
  Options o;
  AddDetectors(&pats, &o);
  o.read_escapes.assign(pats.size(), true);  // as a policy's `matches` do
  auto s = Must(pats, o);
  FoundDigitRuns found;
  std::vector<int> ids;
  for (size_t n : {0, 1, 63, 64, 65, 130, 300}) {
    for (const std::string fill : {"a", "\xC3\xA9"}) {
      for (size_t at = 0; at <= n; ++at) {  // at == n: no backslash
        // `at` bytes of fill, the backslash, fill up to n: whole characters
        // (an odd gap is an `a`), so the text stays well-formed.
        auto run = [&](size_t len) {
          std::string r;
          while (r.size() + fill.size() <= len) r += fill;
          return r + std::string(len - r.size(), 'a');
        };
        const std::string t = at < n ? run(at) + "\\" + run(n - at - 1) : run(n);
        ASSERT_TRUE(ValidUtf8(t));
        ASSERT_TRUE(s->Scan(t, &ids, &found));
        ASSERT_TRUE(found.backslash_known) << n << " " << at;
        ASSERT_EQ(found.backslash, MayHoldEscapes(t)) << n << " " << at;
        ASSERT_EQ(HoldsBackslash(t, &found), MayHoldEscapes(t));
        std::string other = t;
        for (char& c : other) c = c == '\\' ? 'x' : '\\';
        ASSERT_EQ(HoldsBackslash(other, &found), MayHoldEscapes(other)) << n << " " << at;
      }
    }
  }
  const int card = stdlib::FindDetector("dlp.credit_card");
  const int ssn = stdlib::FindDetector("dlp.us_ssn");
  const std::string text = R"(args {\"card\": \"4111\u00201111\u00201111\u00201111\", )"
                           R"(\"ssn\": \"123\u002d45\u002d6789\"})";
  ASSERT_TRUE(s->Scan(text, &ids, &found));
  ASSERT_TRUE(found.backslash_known && found.backslash);
  for (int id : {card, ssn}) {
    ASSERT_TRUE(std::find(ids.begin(), ids.end(), id) != ids.end()) << id;
    const re2::RE2 re(std::string(stdlib::Detectors()[static_cast<size_t>(id)].regex));
    EXPECT_TRUE(vm::MatchValidated(re, id, text, &found)) << id;
    EXPECT_TRUE(vm::MatchValidated(re, id, text)) << id;
  }
}

// A thread's caches of per-thread copies are bounded. Filled past the
// bound, they keep the newer half: the sets and patterns just warmed for the
// live policy version are not built again on the request path.
TEST(PerThreadCaches, AFullCacheKeepsItsNewerHalf) {
  const size_t n = internal::kMaxLocalSets + 1;
  std::vector<std::unique_ptr<internal::PerThreadSet>> sets;
  for (size_t i = 0; i < n; ++i) {
    sets.push_back(std::make_unique<internal::PerThreadSet>());
    std::string error;
    ASSERT_TRUE(sets.back()->Build({"word" + std::to_string(i) + "x"}, {0}, false, &error)) << error;
    sets.back()->WarmThread();  // this thread takes each set's own compiled copy
  }
  std::vector<std::unique_ptr<RE2>> res;
  for (size_t i = 0; i < vm::kMaxLocalCopies + 1; ++i)
    res.push_back(std::make_unique<RE2>("w" + std::to_string(i) + "y"));
  uint64_t rebuilt_sets = 0, rebuilt_copies = 0;
  std::thread other([&] {
    for (const auto& s : sets) s->WarmThread();  // builds its copies; the last evicts
    const uint64_t before = ThreadLocalBuilds();
    std::vector<int> hits;
    for (size_t i = n / 2; i < n; ++i) {
      hits.clear();
      ASSERT_TRUE(sets[i]->Match("a word" + std::to_string(i) + "x", &hits));
      EXPECT_EQ(hits, std::vector<int>{0});
    }
    rebuilt_sets = ThreadLocalBuilds() - before;
    for (const auto& re : res) vm::ThreadLocalCopy(*re);
    const uint64_t before_copies = ThreadLocalBuilds();
    for (size_t i = res.size() / 2; i < res.size(); ++i) {
      const RE2& copy = vm::ThreadLocalCopy(*res[i]);
      EXPECT_EQ(copy.pattern(), res[i]->pattern());
    }
    rebuilt_copies = ThreadLocalBuilds() - before_copies;
  });
  other.join();
  EXPECT_EQ(rebuilt_sets, 0u);
  EXPECT_EQ(rebuilt_copies, 0u);
}

}  // namespace
}  // namespace tollgate::scan
