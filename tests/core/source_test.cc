#include "engine/core/source.h"

#include <gtest/gtest.h>

#include <sstream>

namespace tollgate {
namespace {

Span SpanOf(const SourceFile& f, std::string_view needle, uint32_t line) {
  size_t at = f.text.find(needle);
  size_t lb = f.text.rfind('\n', at);
  lb = lb == std::string::npos ? 0 : lb + 1;
  return Span{&f, static_cast<uint32_t>(at), static_cast<uint32_t>(at + needle.size()), line,
              static_cast<uint32_t>(at - lb + 1)};
}

TEST(RenderDiagnostic, MatchesTheDocumentedFormat) {
  SourceFile f{"policies/eu.tg", "policy \"x\"\nrule r {\n  when request.modle == \"gpt-4o\"\n}\n"};
  Diagnostic d{Severity::kError, "tg_unknown_field", SpanOf(f, "request.modle", 3),
               "unknown field `request.modle`", "did you mean `request.model`?"};
  EXPECT_EQ(RenderDiagnostic(d),
            "policies/eu.tg:3:8: error[tg_unknown_field]: unknown field `request.modle`\n"
            "   3 |   when request.modle == \"gpt-4o\"\n"
            "     |        ^^^^^^^^^^^^^\n"
            "     = help: did you mean `request.model`?\n");
}

TEST(RenderDiagnostic, WarningWithoutHelpAndWideLineNumber) {
  std::string text(11, '\n');
  text += "warn x";
  SourceFile f{"a.tg", text};
  Diagnostic d{Severity::kWarning, "tg_unused", SpanOf(f, "x", 12), "unused `x`", ""};
  EXPECT_EQ(RenderDiagnostic(d),
            "a.tg:12:6: warning[tg_unused]: unused `x`\n"
            "   12 | warn x\n"
            "      |      ^\n");
}

TEST(RenderDiagnostic, EmptySpanGetsOneCaretAndLongSpanIsClipped) {
  SourceFile f{"a.tg", "abc\ndef\n"};
  Diagnostic empty{Severity::kError, "tg_parse_error", Span{&f, 1, 1, 1, 2}, "m", ""};
  EXPECT_EQ(RenderDiagnostic(empty), "a.tg:1:2: error[tg_parse_error]: m\n   1 | abc\n     |  ^\n");
  // Span runs across the newline into the next line: carets stop at the end of line 1.
  Diagnostic multi{Severity::kError, "tg_parse_error", Span{&f, 1, 6, 1, 2}, "m", ""};
  EXPECT_EQ(RenderDiagnostic(multi), "a.tg:1:2: error[tg_parse_error]: m\n   1 | abc\n     |  ^^ ...\n");
  // A span at end of file still renders one caret.
  Diagnostic eof{Severity::kError, "tg_parse_error", Span{&f, 8, 8, 3, 1}, "m", ""};
  EXPECT_EQ(RenderDiagnostic(eof), "a.tg:3:1: error[tg_parse_error]: m\n   3 | \n     | ^\n");
}

TEST(RenderDiagnostic, NoFileMeansNoLocationOrCaret) {
  Diagnostic d{Severity::kError, "tg_io_error", Span{}, "cannot read `x.tg`", "check the path"};
  EXPECT_EQ(RenderDiagnostic(d), "error[tg_io_error]: cannot read `x.tg`\n   = help: check the path\n");
}

TEST(Diagnostics, CollectSortAndRender) {
  SourceFile f{"b.tg", "one\ntwo\n"};
  SourceFile g{"a.tg", "x\n"};
  Diagnostics ds;
  EXPECT_FALSE(ds.HasErrors());
  ds.Warning("w", Span{&f, 4, 5, 2, 1}, "second");
  EXPECT_FALSE(ds.HasErrors());
  ds.Error("e", Span{&f, 0, 1, 1, 1}, "first");
  ds.Error("e2", Span{&g, 0, 1, 1, 1}, "other file");
  EXPECT_TRUE(ds.HasErrors());
  EXPECT_EQ(ds.size(), 3u);
  ds.Sort();
  EXPECT_EQ(ds.items()[0].message, "other file");
  EXPECT_EQ(ds.items()[1].message, "first");
  EXPECT_EQ(ds.items()[2].message, "second");
  std::string r = ds.Render();
  EXPECT_LT(r.find("a.tg:1:1: error[e2]"), r.find("b.tg:1:1: error[e]"));
  EXPECT_NE(r.find("b.tg:2:1: warning[w]: second"), std::string::npos);
}

TEST(ClosestMatch, FindsTyposWithinThreshold) {
  std::vector<std::string> c = {"request.model", "request.models", "request.messages"};
  EXPECT_EQ(ClosestMatch("request.modle", c), "request.model");
  EXPECT_EQ(ClosestMatch("request.mesages", c), "request.messages");
  EXPECT_EQ(ClosestMatch("totally.different", c), "");
}

TEST(ClosestMatch, ShortNamesAllowOneEdit) {
  EXPECT_EQ(ClosestMatch("ab", {"ac", "zz"}), "ac");
  EXPECT_EQ(ClosestMatch("ab", {"cd"}), "");
  EXPECT_EQ(ClosestMatch("", {"a"}), "a");  // distance 1 <= max(1, 0)
}

TEST(ClosestMatch, TiesGoToTheFirstInSortedOrder) {
  EXPECT_EQ(ClosestMatch("cat", {"cut", "bat", "cot"}), "bat");
}

TEST(ClosestMatch, CaseInsensitiveMatchWins) {
  EXPECT_EQ(ClosestMatch("PROVIDER_NAME_LONG", {"provider_name_long", "provider_name_lonx"}),
            "provider_name_long");
  EXPECT_EQ(ClosestMatch("EU", {"eu", "us"}), "eu");
  EXPECT_EQ(ClosestMatch("x", {}), "");
}

TEST(ClosestMatch, TranspositionIsOneEdit) {
  EXPECT_EQ(ClosestMatch("cots", {"cost", "costs"}), "cost");
  EXPECT_EQ(ClosestMatch("dya", {"minute", "hour", "day", "week", "month"}), "day");
  EXPECT_EQ(ClosestMatch("ab", {"ba"}), "ba");
}

TEST(ClosestMatch, SameLastSegmentForDottedNames) {
  std::vector<std::string> c = {"principal.user", "request.model", "request.messages"};
  EXPECT_EQ(ClosestMatch("request.user", c), "principal.user");
  EXPECT_EQ(ClosestMatch("request.modle", c), "request.model");  // a one-edit typo still wins
  EXPECT_EQ(ClosestMatch("request.nothing", c), "");
}

// A line of `n` letters `x` with `mark` at byte `at`.
std::string LongLine(size_t n, size_t at, const std::string& mark) {
  std::string s(n, 'x');
  s.replace(at, mark.size(), mark);
  return s;
}

TEST(RenderDiagnostic, LongLinesShowAWindowAroundTheCaret) {
  SourceFile f{"a.tg", LongLine(100000, 50000, "HERE") + "\n"};
  Diagnostic d{Severity::kError, "tg_type_error", Span{&f, 50000, 50004, 1, 50001}, "m", "h"};
  std::string out = RenderDiagnostic(d);
  EXPECT_LT(out.size(), 400u) << out;
  std::istringstream in(out);
  std::string head, code, caret;
  std::getline(in, head);
  std::getline(in, code);
  std::getline(in, caret);
  const std::string gutter = "   1 | ";
  ASSERT_EQ(code.substr(0, gutter.size()), gutter);
  std::string shown = code.substr(gutter.size());
  EXPECT_EQ(shown.substr(0, 3), "...");
  EXPECT_EQ(shown.substr(shown.size() - 3), "...");
  EXPECT_LE(shown.size(), 120u + 6);
  // The carets sit exactly under `HERE`.
  size_t at = code.find("HERE");
  ASSERT_NE(at, std::string::npos);
  EXPECT_EQ(caret.find('^'), at) << code << "\n" << caret;
  EXPECT_EQ(caret.substr(at), "^^^^");
  // Near the start of a long line: no leading `...`.
  Diagnostic start{Severity::kError, "e", Span{&f, 2, 3, 1, 3}, "m", "h"};
  std::string s2 = RenderDiagnostic(start);
  EXPECT_NE(s2.find("   1 | xx"), std::string::npos);
  EXPECT_NE(s2.find("     |   ^\n"), std::string::npos);
}

TEST(RenderDiagnostic, EscapesInvalidBytesAndKeepsCaretsAligned) {
  // An invalid byte, a control byte and a two-byte letter before the span.
  SourceFile f{"a.tg", std::string("a\xff\x01\xc3\xa9 bad\n")};
  Diagnostic d{Severity::kError, "e", Span{&f, 6, 9, 1, 7}, "m", "h"};
  std::string out = RenderDiagnostic(d);
  EXPECT_NE(out.find("   1 | a\\xff\\x01\xc3\xa9 bad\n"), std::string::npos) << out;
  //                        a + \xff + \x01 + é + space = 1 + 4 + 4 + 1 + 1 columns
  EXPECT_NE(out.find("     | " + std::string(11, ' ') + "^^^\n"), std::string::npos) << out;
  EXPECT_EQ(out.find('\x01'), std::string::npos);
  EXPECT_EQ(out.find('\xff'), std::string::npos);
}

}  // namespace
}  // namespace tollgate
