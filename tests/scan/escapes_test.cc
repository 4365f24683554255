// The readings of a text (engine/scan/escapes.h): JSON string escapes
// decoded, and spans of a reading mapped back to the text.
#include "engine/scan/escapes.h"

#include "engine/scan/internal/translate.h"
#include "engine/scan/scanner.h"
#include "stdlib/builtins.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <random>
#include <string>

namespace tollgate::scan {
namespace {

// Reading 0 of `text` ("" when it has none).
std::string First(std::string_view text) {
  Readings r;
  return r.Read(text) > 0 ? std::string(r.text(0)) : std::string();
}

TEST(Readings, NoBackslashNoReading) {
  Readings r;
  EXPECT_FALSE(MayHoldEscapes("4111 1111 1111 1111"));
  EXPECT_EQ(r.Read("4111 1111 1111 1111"), 0u);
  EXPECT_EQ(r.Read(""), 0u);
}

TEST(Readings, DecodesEverySimpleEscape) {
  EXPECT_EQ(First(R"(a\"b\\c\/d\be\ff\ng\rh\ti)"), "a\"b\\c/d\be\ff\ng\rh\ti");
  EXPECT_EQ(First(R"(\u0041\u00e9\u20AC\uFF14)"), "A\xC3\xA9\xE2\x82\xAC\xEF\xBC\x94");
  EXPECT_EQ(First(R"(x\u0000y)"), std::string("x\0y", 3));
}

TEST(Readings, SurrogatePairsAreOneCharacter) {
  EXPECT_EQ(First(R"(\ud83d\ude00!)"), "\xF0\x9F\x98\x80!");
  EXPECT_EQ(First(R"(\uDBFF\uDFFF)"), "\xF4\x8F\xBF\xBF");
}

TEST(Readings, InvalidEscapesAreKeptAsWritten) {
  Readings r;
  // Nothing decodes: no reading at all.
  for (std::string_view t : {R"(C:\path\x)", R"(\u12)", R"(\u12g4)", R"(end\)", R"(\ud83d)",
                             R"(\ude00)", R"(\ud83dx\ude00)"}) {
    EXPECT_EQ(r.Read(t), 0u) << t;
  }
  // Beside one that does, they stay as written.
  EXPECT_EQ(First(R"(\q\u00e9\ud83d\u12)"), "\\q\xC3\xA9\\ud83d\\u12");
  // A high half followed by a BMP escape: the half is kept, the other decodes.
  EXPECT_EQ(First(R"(\ud83d\u0041)" "\\n"), "\\ud83dA\n");
}

TEST(Readings, BackslashPairsAreReadFirst) {
  Readings r;
  ASSERT_EQ(r.Read(R"(\\u0041)"), 2u);  // `\u0041`, then `A`
  EXPECT_EQ(r.text(0), R"(\u0041)");
  EXPECT_EQ(r.text(1), "A");
  ASSERT_EQ(r.Read(R"(\\\u0041)"), 1u);  // `\A`: nothing left to decode
  EXPECT_EQ(r.text(0), R"(\A)");
}

TEST(Readings, JsonInsideJsonHasDeeperReadings) {
  Readings r;
  // A card with no-break spaces, escaped twice (a JSON text inside a JSON
  // string inside the tool message's content).
  const std::string text = R"({"r": "{\"card\": \"4111\\u00a01111\"}"})";
  ASSERT_EQ(r.Read(text), 2u);
  EXPECT_EQ(r.text(0), R"({"r": "{"card": "4111\u00a01111"}"})");
  EXPECT_EQ(r.text(1), "{\"r\": \"{\"card\": \"4111\xC2\xA0" "1111\"}\"}");
  // At most kMaxReadings.
  std::string deep = "A";
  for (int k = 0; k < 6; ++k) {
    std::string q;
    for (char c : deep) q += c == '\\' ? std::string("\\\\") : c == 'A' ? std::string("\\u0041") : std::string(1, c);
    deep = q;
  }
  EXPECT_EQ(r.Read(deep), kMaxReadings);
}

TEST(Readings, SpansMapToWholeEscapes) {
  Readings r;
  const std::string text = R"(card 4111\u00a01111 end)";
  ASSERT_EQ(r.Read(text), 1u);
  const std::string_view d = r.text(0);
  ASSERT_EQ(d, "card 4111\xC2\xA0" "1111 end");
  // The number: the escape inside it maps to itself.
  const size_t b = d.find("4111"), e = d.find(" end");
  EXPECT_EQ(r.ToText(0, b, e), std::make_pair(text.find("4111"), text.find(" end")));
  // A span ending inside the escape's character (its first byte) takes the
  // whole escape; one starting inside it (its second byte) starts at the
  // backslash.
  const size_t nbsp = d.find('\xC2');
  EXPECT_EQ(r.ToText(0, b, nbsp + 1), std::make_pair(text.find("4111"), text.find("1111 ")));
  EXPECT_EQ(r.ToText(0, nbsp + 1, e), std::make_pair(text.find('\\'), text.find(" end")));
  // Spans that end or start right at the escape do not take it.
  EXPECT_EQ(r.ToText(0, b, nbsp), std::make_pair(text.find("4111"), text.find('\\')));
  EXPECT_EQ(r.ToText(0, nbsp + 2, e), std::make_pair(text.find("1111 "), text.find(" end")));
  // Bytes before any escape map to themselves.
  EXPECT_EQ(r.ToText(0, 0, 4), std::make_pair(size_t{0}, size_t{4}));
}

TEST(Readings, SurrogatePairSpansCoverBothHalves) {
  Readings r;
  const std::string text = R"(a\ud83d\ude00b)";
  ASSERT_EQ(r.Read(text), 1u);
  ASSERT_EQ(r.text(0), "a\xF0\x9F\x98\x80" "b");
  EXPECT_EQ(r.ToText(0, 1, 5), std::make_pair(size_t{1}, size_t{13}));
  EXPECT_EQ(r.ToText(0, 2, 3), std::make_pair(size_t{1}, size_t{13}));
  EXPECT_EQ(r.ToText(0, 5, 6), std::make_pair(size_t{13}, size_t{14}));
}

TEST(Readings, DeeperSpansMapThroughEveryReading) {
  Readings r;
  const std::string text = R"(x \\u00e9 y)";  // `\u00e9` in reading 1, `é` in reading 2
  ASSERT_EQ(r.Read(text), 2u);
  const std::string_view d = r.text(1);
  ASSERT_EQ(d, "x \xC3\xA9 y");
  // `é` is `\\u00e9`, bytes [2, 9) of the text.
  EXPECT_EQ(r.ToText(1, 2, 4), std::make_pair(size_t{2}, size_t{9}));
  EXPECT_EQ(r.ToText(1, 3, 4), std::make_pair(size_t{2}, size_t{9}));
  EXPECT_EQ(r.ToText(1, 4, 6), std::make_pair(size_t{9}, size_t{11}));
}

// Reading 1 of a JSON string's content is what a JSON parser makes of it,
// and every span of it maps to a span of the text that starts and ends
// outside any escape: replacing it keeps the JSON string valid.
TEST(Readings, AgreesWithRapidjsonAndNeverSplitsAnEscape) {
  std::mt19937 rng(7);
  const std::vector<std::string> pieces = {
      "a", "4", " ", "\xC3\xA9", "\\\"", "\\\\", "\\/", "\\n", "\\t", "\\u00a0", "\\u0041",
      "\\uFF14", "\\ud83d\\ude00", "\\u20ac", "x", "\xE2\x82\xAC"};
  Readings r;
  for (int round = 0; round < 2000; ++round) {
    std::string text;
    const size_t n = rng() % 12;
    for (size_t k = 0; k < n; ++k) text += pieces[rng() % pieces.size()];
    rapidjson::Document doc;
    const std::string json = "\"" + text + "\"";
    doc.Parse(json.c_str(), json.size());
    ASSERT_FALSE(doc.HasParseError()) << json;
    const std::string parsed(doc.GetString(), doc.GetStringLength());
    const size_t readings = r.Read(text);
    EXPECT_EQ(readings > 0 ? std::string(r.text(0)) : text, parsed) << text;
    if (readings == 0) continue;
    const std::string_view d = r.text(0);
    for (size_t b = 0; b <= d.size(); ++b) {
      for (size_t e = b + 1; e <= d.size(); ++e) {
        auto [rb, re] = r.ToText(0, b, e);
        ASSERT_LT(rb, re);
        ASSERT_LE(re, text.size());
        const std::string replaced = "\"" + text.substr(0, rb) + "[X]" + text.substr(re) + "\"";
        rapidjson::Document after;
        after.Parse(replaced.c_str(), replaced.size());
        ASSERT_FALSE(after.HasParseError()) << text << " [" << b << "," << e << ") -> " << replaced;
      }
    }
  }
}

// The scanner learns whether a text holds a backslash in the UTF-8 pass it
// makes anyway: the same answer as a memchr, at every offset and length.
TEST(Readings, Utf8PassFindsBackslashes) {
  std::mt19937 rng(11);
  const std::vector<std::string> pieces = {"a", " ", "\\", "\xC3\xA9", "\xE2\x82\xAC", "0123456789abcdef",
                                           std::string(64, 'x'), "\xF0\x9F\x98\x80"};
  for (int round = 0; round < 5000; ++round) {
    std::string text;
    const size_t n = rng() % 40;
    for (size_t k = 0; k < n; ++k) {
      const std::string& p = pieces[rng() % pieces.size()];
      text += p == "\\" && rng() % 3 != 0 ? std::string("y") : p;  // backslashes rare
    }
    internal::Utf8Checker c;
    c.Feed(text);
    ASSERT_TRUE(c.Done()) << text;
    EXPECT_EQ(c.Backslash(), MayHoldEscapes(text)) << text;
  }
}

// A scanner pattern built with read_escapes matches the readings too, on
// every engine; one without does not, and a text without a backslash is
// scanned once.
TEST(Readings, ScannerPatternsReadEscapesWhenAsked) {
  const std::string card(stdlib::Detectors()[stdlib::FindDetector("dlp.credit_card")].regex);
  const std::vector<std::string> pats = {card, "4111\\x{A0}1111", "4111\\x{A0}1111", "b\\x{FC}cher"};
  const std::string text = R"({"card": "4111\u00a01111\u00a01111\u00a01111", "n": "b\\u00fccher"})";
  for (Engine e : {Engine::kRE2, Engine::kHyperscan}) {
    for (bool runs : {false, true}) {
      Options o;
      o.engine = e;
      o.read_escapes = {true, true, false, true};
      if (runs) {
        const stdlib::DetectorDecl& d = stdlib::Detectors()[stdlib::FindDetector("dlp.credit_card")];
        o.digit_runs.resize(pats.size());
        o.digit_runs[0] = {d.run_digits, std::string(d.run_separators), d.run_wide, d.run_max_gap};
      }
      std::string err;
      auto s = Scanner::Build(pats, o, &err);
      ASSERT_TRUE(s) << err;
      std::vector<int> ids;
      ASSERT_TRUE(s->Scan(text, &ids));
      // The card and the second pattern in reading 1; `bücher` only in reading 2.
      EXPECT_EQ(ids, (std::vector<int>{0, 1, 3})) << s->PatternEngine(0);
      ASSERT_TRUE(s->Scan("4111 1111 1111 1111", &ids));
      EXPECT_EQ(ids, (std::vector<int>{0}));
      o.read_escapes.clear();
      s = Scanner::Build(pats, o, &err);
      ASSERT_TRUE(s->Scan(text, &ids));
      EXPECT_TRUE(ids.empty());
    }
  }
  Options stream;
  stream.streaming = true;
  stream.read_escapes = {true, false, false, false};
  std::string err;
  EXPECT_FALSE(Scanner::Build(pats, stream, &err));
  EXPECT_EQ(err, "a streaming scanner does not read escapes");
  stream.streaming = false;
  stream.read_escapes = {true};
  EXPECT_FALSE(Scanner::Build(pats, stream, &err));
}

}  // namespace
}  // namespace tollgate::scan
