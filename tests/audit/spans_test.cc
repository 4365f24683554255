// Replay's fast member spans (internal::RecordSpans) give exactly what the
// full SAX parse (TopLevelSpans) gives, on real record lines and on lines
// built to mislead the layout-based search.
#include <gtest/gtest.h>

#include "runtime/audit/internal/content.h"
#include "runtime/audit/reader.h"
#include "runtime/audit/replay.h"
#include "tests/audit/audit_helpers.h"

namespace tollgate::audit::testing {
namespace {

using Spans = std::vector<std::pair<std::string, std::string>>;

Spans Of(const std::vector<RawMember>& m) {
  Spans s;
  for (const RawMember& r : m) s.emplace_back(r.key, std::string(r.value));
  return s;
}

void ExpectSame(const std::string& line) {
  std::vector<RawMember> fast, full;
  const bool ok_fast = internal::RecordSpans(line, &fast);
  const bool ok_full = internal::TopLevelSpans(line, &full);
  EXPECT_EQ(ok_fast, ok_full) << line;
  if (ok_full) {
    EXPECT_EQ(Of(fast), Of(full)) << line;
  }
}

const std::string kHash(64, 'a');

std::string Line(const std::string& input, const std::string& content, const std::string& decision,
                 const std::string& endpoints) {
  return R"({"kind":"decision","id":"X","policy":{"name":"p","version":"v"},"counters":null,)"
         R"("input":)" + input + (content.empty() ? "" : ",\"content\":" + content) +
         ",\"decision\":" + decision + ",\"endpoints\":" + endpoints + ",\"hash\":\"" + kHash + "\"}";
}

TEST(AuditSpans, FastPathAgreesWithTheFullParse) {
  ExpectSame(Line(R"({"a":1})", "", R"({"outcome":"allow"})", "null"));
  ExpectSame(Line(R"({"a":1})", R"({"lengths":[1,2]})", R"({"outcome":"deny"})", R"([{"id":"e"}])"));
  // Keys named like the members, inside the input.
  ExpectSame(Line(R"({"x":{"content":{"y":1}},"decision":{"z":[1]},"endpoints":null})", "",
                  R"({"outcome":"allow"})", "null"));
  ExpectSame(Line(R"({"content":{"y":1}})", "", R"({"o":1})", "null"));
  ExpectSame(Line(R"({"s":"\",\"decision\":{}"})", R"({"lengths":[]})", "null", "null"));
  // A gateway's record: "gateway" and "shadow" objects after the endpoints
  // (a shadow holds a decision, with "shadow", "decision" and "endpoints" keys).
  auto gw = [](const std::string& base, const std::string& tail) {
    std::string l = base;
    l.insert(l.size() - 9 - 64 - 2, tail);
    return l;
  };
  const std::string base = Line(R"({"a":1})", "", R"({"outcome":"allow","shadow":[]})", R"([{"id":"e"}])");
  ExpectSame(gw(base, R"(,"gateway":{"status":200,"endpoint":"e","failed_attempts":[{"endpoint":"x"}]})"));
  ExpectSame(gw(base, R"(,"gateway":{"status":200},"shadow":{"version":"v2","decision":{"outcome":"deny","shadow":["r"]},"endpoints":[],"changed":true})"));
  ExpectSame(gw(base, R"(,"shadow":{"decision":{"shadow":{"shadow":1}}})"));
  ExpectSame(gw(base, R"(,"gateway":{"status":200},"shadow":{"x":1})"));
  // Not the writer's layout at all.
  ExpectSame(R"({"a":1,"input":{"x":[1,2],"s":"a\"b"} ,"d":"s\"q" , "t":true,"z":"last"})");
  ExpectSame(R"({"kind":"decision","input":{},"decision":{},"endpoints":null,"hash":"short"})");
  ExpectSame(R"({"kind":"decision","decision":{},"endpoints":null})");
  ExpectSame(R"({"kind":"decision","input":{"a":)");
  ExpectSame(Line(R"({"a":1})", "", R"({"outcome":"allow"})", "[1,"));
  // The decision's text is not checked by the fast path (a decision has no
  // "decision" key; a crafted one misleads it): replay compares it byte for
  // byte and confirms the spans with the full parse whenever it differs
  // (the two replay tests below).
  std::vector<RawMember> m;
  ASSERT_TRUE(internal::RecordSpans(Line(R"({"a":1})", "", R"({"outcome":"allow")", "null"), &m));
  EXPECT_FALSE(internal::TopLevelSpans(Line(R"({"a":1})", "", R"({"outcome":"allow")", "null"), &m));
}

TEST(AuditSpans, ReplayReportsAnUnparsableDecisionAsAMalformedLine) {
  TempDir dir;
  std::string err;
  auto log = AuditLog::Open(dir.path, {}, &err);
  ASSERT_TRUE(log) << err;
  {
    Recorder rec(log.get(), MustCompile("policies/example.tg"), "", "");
    gen::Rng rng(2);
    for (int i = 0; i < 3; ++i) rec.Decide(ExampleInput(rng));
  }
  ASSERT_TRUE(log->Close());
  const std::string file = dir.path + "/decisions-000001.jsonl";
  std::string text = ReadAll(file);
  // Cut the second record's decision short (its closing brace), keep the rest.
  size_t second = text.find("\n{\"kind\":\"decision\"", text.find("{\"kind\":\"decision\"")) + 1;
  size_t ep = text.find(",\"endpoints\":", second);
  ASSERT_NE(ep, std::string::npos);
  text.erase(ep - 1, 1);
  WriteAll(file, text);
  ReplayOptions ro;
  ro.dir = dir.path;
  ReplayReport r;
  ASSERT_TRUE(Replay(ro, &r, &err)) << err;
  EXPECT_EQ(r.records, 2u);
  EXPECT_EQ(r.identical, 2u);
  EXPECT_EQ(r.mismatched, 0u);
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_EQ(r.problems[0].code, "audit_malformed_line");
  EXPECT_EQ(r.problems[0].line, 3u);
}

TEST(AuditSpans, FastPathAgreesOnRecordedTraffic) {
  TempDir dir;
  std::string err;
  auto log = AuditLog::Open(dir.path, {}, &err);
  ASSERT_TRUE(log) << err;
  {
    Recorder rec(log.get(), MustCompile("policies/example.tg"), "policies/catalog.json",
                 "policies/accounts.json");
    gen::Rng rng(11);
    for (int i = 0; i < 300; ++i) rec.Decide(ExampleInput(rng));
  }
  ASSERT_TRUE(log->Close());
  RecordReader in;
  ASSERT_TRUE(in.Open(dir.path, &err));
  RecordLine line;
  int n = 0;
  while (in.Next(&line)) {
    ExpectSame(line.text);
    ++n;
  }
  EXPECT_EQ(n, 300);
}

// A decision edited to hold a "decision" key of its own: the fast spans
// would split the line wrongly; replay confirms them and reports the edit.
TEST(AuditSpans, ReplayConfirmsSpansBeforeReportingADifference) {
  TempDir dir;
  std::string err;
  auto log = AuditLog::Open(dir.path, {}, &err);
  ASSERT_TRUE(log) << err;
  {
    Recorder rec(log.get(), MustCompile("policies/example.tg"), "", "");
    gen::Rng rng(4);
    for (int i = 0; i < 3; ++i) rec.Decide(ExampleInput(rng));
  }
  ASSERT_TRUE(log->Close());
  const std::string file = dir.path + "/decisions-000001.jsonl";
  std::string text = ReadAll(file);
  size_t second = text.find("\n{\"kind\":\"decision\"", text.find("{\"kind\":\"decision\"")) + 1;
  size_t dec = text.find(",\"decision\":{", second);
  ASSERT_NE(dec, std::string::npos);
  text.insert(dec + 13, "\"zz\":{\"q\":1,\"decision\":{}},");
  WriteAll(file, text);
  ReplayOptions ro;
  ro.dir = dir.path;
  ReplayReport r;
  ASSERT_TRUE(Replay(ro, &r, &err)) << err;
  EXPECT_EQ(r.records, 3u);
  EXPECT_EQ(r.identical, 2u);
  EXPECT_EQ(r.failed, 0u) << ReportText(r);
  ASSERT_EQ(r.mismatched, 1u);
  EXPECT_EQ(r.first_mismatch.field, "decision.zz") << ReportText(r);
}

}  // namespace
}  // namespace tollgate::audit::testing
