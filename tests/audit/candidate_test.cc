// A decision input with a `candidate` (the endpoint the caller already
// chose, checked against the placed requires, as `tollgate eval` does)
// replays identically and `audit show` recomputes it.
#include <gtest/gtest.h>

#include "runtime/audit/reader.h"
#include "runtime/audit/replay.h"
#include "runtime/input/input.h"
#include "tests/audit/audit_helpers.h"

namespace tollgate::audit::testing {
namespace {

TEST(AuditCandidate, CheckedCandidateReplaysIdentically) {
  TempDir dir;
  std::string err;
  auto policy = MustCompile("policies/example.tg");
  auto log = AuditLog::Open(dir.path, {}, &err);
  ASSERT_TRUE(log) << err;
  auto subject = log->Register(*policy, {}, &err);
  ASSERT_TRUE(subject) << err;
  std::string base = ReadAll("policies/requests/eu_confidential.json");
  base = base.substr(0, base.rfind('}'));
  std::vector<std::string> codes;
  for (const char* cand : {R"({"provider": {"name": "cheapcloud", "jurisdiction": "US", "zdr": false, "trains_on_data": true}})",
                           R"({"provider": {"name": "azure", "jurisdiction": "DE", "zdr": true, "trains_on_data": false}})"}) {
    const std::string input = base + ", \"candidate\": " + cand + "}";
    vm::Record rec, c;
    runtime::InputError ierr;
    bool present = false;
    ASSERT_TRUE(runtime::DecodeInput(input, policy->schema(), {}, &rec, &ierr)) << ierr.message;
    ASSERT_TRUE(runtime::DecodeCandidate(input, policy->schema(), {}, &c, &present, &ierr)) << ierr.message;
    ASSERT_TRUE(present);
    vm::Decision d;
    vm::Evaluate(policy->program(), rec, {}, &d);
    vm::CheckCandidate(policy->program(), rec, c, {}, &d);
    codes.emplace_back(d.code);
    Entry e;
    e.subject = subject;
    e.input = input;
    e.decision = RenderDecision(d, policy->program());
    if (d.time && d.time_from_clock) e.clock = FormatRfc3339(*d.time);
    log->Append(std::move(e));
  }
  ASSERT_TRUE(log->Close());
  EXPECT_EQ(codes[0], "require_failed");
  ReplayOptions ro;
  ro.dir = dir.path;
  ReplayReport r;
  ASSERT_TRUE(Replay(ro, &r, &err)) << err;
  EXPECT_EQ(r.identical, 2u) << ReportText(r);
  RecordReader in;
  ASSERT_TRUE(in.Open(dir.path, &err));
  RecordLine line;
  ASSERT_TRUE(in.Next(&line));
  std::string json;
  ASSERT_TRUE(ExplainRecord(dir.path, line.doc["id"].GetString(), &json, &err)) << err;
  EXPECT_NE(json.find("\"identical\": true"), std::string::npos);
}

}  // namespace
}  // namespace tollgate::audit::testing
