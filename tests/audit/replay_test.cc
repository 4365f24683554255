// Replay: generated traffic comes back bit-identical; impact reports equal
// direct evaluation of the new version; records without their text are
// reported as not replayable, never guessed; the clock is reused.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "engine/vm/vm.h"
#include "runtime/audit/internal/util.h"
#include "runtime/audit/replay.h"
#include "runtime/audit/store.h"
#include "runtime/decide/decision_json.h"
#include "runtime/input/input.h"
#include "tests/audit/audit_helpers.h"

namespace tollgate::audit::testing {
namespace {
namespace fs = std::filesystem;

Options Fast() {
  Options o;
  o.max_file_bytes = 256 << 10;  // several files per run: rotation is exercised too
  return o;
}

// The policy in `policy_file` compiled into *policy, and a new audit log
// opened in `audit` into *log (call with ASSERT_NO_FATAL_FAILURE).
void CompileAndOpen(const std::string& policy_file, const std::string& audit,
                    std::shared_ptr<const Policy>* policy, std::unique_ptr<AuditLog>* log) {
  *policy = MustCompile(policy_file);
  ASSERT_TRUE(*policy);
  std::string err;
  *log = AuditLog::Open(audit, {}, &err);
  ASSERT_TRUE(*log) << err;
}

// Replays the log in `dir` into *r, against `candidate_file` unless it is
// empty (call with ASSERT_NO_FATAL_FAILURE).
void ReplayLog(const std::string& dir, const std::string& candidate_file, ReplayReport* r) {
  ReplayOptions o;
  o.dir = dir;
  o.candidate_file = candidate_file;
  std::string err;
  ASSERT_TRUE(Replay(o, r, &err)) << err;
}

TEST(AuditReplay, GeneratedTrafficReplaysIdentically) {
  TempDir dir;
  std::string err;
  auto log = AuditLog::Open(dir.path, Fast(), &err);
  ASSERT_TRUE(log) << err;
  uint64_t recorded = 0;
  // The example policy (data documents, detectors, redactions) routed over the catalog.
  {
    Recorder rec(log.get(), MustCompile("policies/example.tg"), "policies/catalog.json",
                 "policies/accounts.json");
    gen::Rng rng(7);
    for (int i = 0; i < 1500; ++i) recorded += rec.Decide(ExampleInput(rng)).seq != 0;
  }
  // The other shipped policies, evaluated only.
  for (const char* p : {"policies/dlp.tg", "policies/eu_residency.tg", "policies/workspaces.tg"}) {
    Recorder rec(log.get(), MustCompile(p), "", "");
    gen::Rng rng(11);
    for (int i = 0; i < 300; ++i) recorded += rec.Decide(ExampleInput(rng)).seq != 0;
  }
  // Random policies over random inputs (optional fields absent, overflow, ...).
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    gen::Rng rng(seed * 977);
    std::string path = dir.path + "/random" + std::to_string(seed) + ".tg";
    WriteAll(path, gen::RandomPolicy(rng));
    Compiled c = CompileFile(path, {});
    if (!c.policy) continue;
    Recorder rec(log.get(), c.policy, "", "");
    for (int i = 0; i < 300; ++i) recorded += rec.Decide(gen::RandomInput(rng)).seq != 0;
  }
  ASSERT_TRUE(log->Close());
  ASSERT_GT(recorded, 3000u);
  // Replay must not read the working tree: move the random policies away.
  for (uint64_t seed = 1; seed <= 6; ++seed) fs::remove(dir.path + "/random" + std::to_string(seed) + ".tg");

  ReplayReport r;
  ASSERT_NO_FATAL_FAILURE(ReplayLog(dir.path, "", &r));
  EXPECT_EQ(r.records, recorded);
  EXPECT_EQ(r.mismatched, 0u) << r.first_mismatch.id << " " << r.first_mismatch.field << "\n"
                              << r.first_mismatch.recorded << "\n" << r.first_mismatch.replayed;
  EXPECT_EQ(r.failed, 0u) << (r.failures.empty() ? "" : r.failures[0]);
  // Only records whose text lost a credential (secret_leak.json) are not replayable.
  EXPECT_EQ(r.identical + r.not_replayable, recorded);
  EXPECT_LT(r.not_replayable, recorded / 5);
  EXPECT_TRUE(r.problems.empty());
  // The report says why under full retention: a credential was cut out
  // (it used to say only "message text not retained", which full keeps).
  ASSERT_GT(r.not_replayable, 0u);
  EXPECT_NE(ReportText(r).find("or a credential cut out of it"), std::string::npos) << ReportText(r);
}

TEST(AuditReplay, DetectsADifferentDecision) {
  TempDir dir;
  std::string err;
  auto log = AuditLog::Open(dir.path, {}, &err);
  ASSERT_TRUE(log) << err;
  Recorder rec(log.get(), MustCompile("policies/example.tg"), "", "");
  gen::Rng rng(3);
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) ids.push_back(rec.Decide(ExampleInput(rng)).id);
  ASSERT_TRUE(log->Close());
  // Forge a decision while keeping the chain valid would need the hashes:
  // instead record a decision the policy did not make, through the API.
  auto log2 = AuditLog::Open(dir.path, {}, &err);
  ASSERT_TRUE(log2) << err;
  std::string serr;
  auto subject = log2->Register(rec.policy(), {}, &serr);
  ASSERT_TRUE(subject) << serr;
  Entry e;
  e.subject = subject;
  e.input = ExampleInput(rng);
  vm::Record r0;
  runtime::InputError ierr;
  ASSERT_TRUE(runtime::DecodeInput(e.input, rec.policy().schema(), {}, &r0, &ierr));
  vm::Decision d;
  vm::Evaluate(rec.policy().program(), r0, {}, &d);
  d.reason = "tampered reason";
  e.decision = RenderDecision(d, rec.policy().program());
  Ticket bad = log2->Append(std::move(e));
  ASSERT_TRUE(log2->Close());
  ReplayReport r;
  ASSERT_NO_FATAL_FAILURE(ReplayLog(dir.path, "", &r));
  EXPECT_EQ(r.mismatched, 1u);
  EXPECT_EQ(r.first_mismatch.id, bad.id);
  EXPECT_EQ(r.first_mismatch.field, "decision.reason");
  EXPECT_EQ(r.first_mismatch.recorded, "\"tampered reason\"");
  EXPECT_NE(ReportText(r).find("differs at `decision.reason`"), std::string::npos);
}

// Classifies like the impact report, but from vm::Decisions directly.
struct Direct {
  std::map<std::string, uint64_t> kinds;
  uint64_t changed = 0;
};

std::vector<std::string> RuleNames(const vm::Program& p, const std::vector<uint32_t>& ids) {
  std::vector<std::string> out;
  for (uint32_t id : ids) out.emplace_back(runtime::RuleName(p, id));
  return out;
}

std::vector<std::string> Redactions(const vm::Program& p, const vm::Decision& d) {
  std::vector<std::string> out;
  for (const auto& r : d.redactions)
    out.push_back(std::string(runtime::RuleName(p, r.rule)) + "|" + std::string(r.pattern) + "|" +
                  std::string(r.replacement));
  return out;
}

TEST(AuditReplay, ImpactEqualsDirectEvaluationOfTheNewVersion) {
  TempDir dir;
  // The edit: a lower output-token cap, a cheaper standard ceiling, and one
  // more banned provider.
  fs::create_directories(dir.path + "/v2/data");
  fs::copy_file("policies/data/workspaces.json", dir.path + "/v2/data/workspaces.json");
  std::string v2 = ReadAll("policies/example.tg");
  auto replace = [&](const std::string& from, const std::string& to) {
    size_t at = v2.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    v2.replace(at, from.size(), to);
  };
  replace("const max_output_tokens: int = 32000", "const max_output_tokens: int = 8000");
  replace("\"standard\": 0.50 usd", "\"standard\": 0.02 usd");
  replace("const banned_providers = {\"cheapcloud\", \"deepseek\"}",
          "const banned_providers = {\"cheapcloud\", \"deepseek\", \"mistral\"}");
  WriteAll(dir.path + "/v2/example.tg", v2);
  auto old_policy = MustCompile("policies/example.tg");
  auto new_policy = MustCompile(dir.path + "/v2/example.tg");
  ASSERT_TRUE(old_policy && new_policy);

  std::string err;
  const std::string audit = dir.path + "/audit";
  auto log = AuditLog::Open(audit, {}, &err);
  ASSERT_TRUE(log) << err;
  Recorder rec(log.get(), old_policy, "policies/catalog.json", "policies/accounts.json");
  Recorder direct_rec(log.get(), new_policy, "policies/catalog.json", "policies/accounts.json");
  gen::Rng rng(99);
  Direct want;
  std::vector<std::string> inputs;
  for (int i = 0; i < 800; ++i) inputs.push_back(ExampleInput(rng));
  std::vector<std::pair<vm::Decision, std::string>> olds(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) rec.Decide(inputs[i], &olds[i].first, &olds[i].second);
  ASSERT_TRUE(log->Close());

  // Direct evaluation of the new version (through a throwaway log).
  TempDir scratch;
  auto log2 = AuditLog::Open(scratch.path, {}, &err);
  Recorder fresh(log2.get(), new_policy, "policies/catalog.json", "policies/accounts.json");
  const vm::Program& po = old_policy->program();
  const vm::Program& pn = new_policy->program();
  uint64_t not_replayable_candidates = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    vm::Decision nd;
    std::string ne;
    fresh.Decide(inputs[i], &nd, &ne);
    if (inputs[i].find("sk-") != std::string::npos) {  // credential cut from the record
      ++not_replayable_candidates;
      continue;
    }
    const vm::Decision& od = olds[i].first;
    std::vector<std::string> kinds;
    if (od.outcome == vm::Outcome::kAllow && nd.outcome == vm::Outcome::kDeny) kinds.push_back("allow_to_deny");
    else if (od.outcome == vm::Outcome::kDeny && nd.outcome == vm::Outcome::kAllow) kinds.push_back("deny_to_allow");
    else if (od.status != nd.status || od.code != nd.code) kinds.push_back("status_code");
    const bool answer_changed = !kinds.empty();
    // endpoint ids in order
    auto ids = [](const std::string& json) {
      std::vector<std::string> out;
      size_t at = 0;
      while ((at = json.find("\"id\":\"", at)) != std::string::npos) {
        at += 6;
        out.push_back(json.substr(at, json.find('"', at) - at));
      }
      return out;
    };
    if (ids(olds[i].second) != ids(ne)) kinds.push_back("route");
    if (Redactions(po, od) != Redactions(pn, nd)) kinds.push_back("redactions");
    if (RuleNames(po, od.shadow) != RuleNames(pn, nd.shadow)) kinds.push_back("shadow");
    if (!answer_changed && od.reason != nd.reason) kinds.push_back("reason");
    rapidjson::Document ro, rn;  // the decision documents as records hold them
    const std::string so = RenderDecision(od, po), sn = RenderDecision(nd, pn);
    ro.Parse(so.c_str());
    rn.Parse(sn.c_str());
    auto json = [](const rapidjson::Value& d, const char* k) {
      rapidjson::StringBuffer sb;
      rapidjson::Writer<rapidjson::StringBuffer> w(sb);
      d[k].Accept(w);
      return std::string(sb.GetString(), sb.GetSize());
    };
    if (json(ro, "tags") != json(rn, "tags")) kinds.push_back("tags");
    if (kinds.empty()) {
      if (RuleNames(po, od.fired) != RuleNames(pn, nd.fired) ||
          RuleNames(po, od.advisory) != RuleNames(pn, nd.advisory)) {
        kinds.push_back("rules");
      } else {
        for (const char* k : {"requires", "shadow_requires", "route", "warnings", "errors"})
          if (json(ro, k) != json(rn, k)) {
            kinds.push_back("other");
            break;
          }
      }
    }
    if (!kinds.empty()) ++want.changed;
    for (auto& k : kinds) ++want.kinds[k];
  }
  log2->Close();
  ASSERT_GT(want.changed, 50u);
  ASSERT_GT(want.kinds["allow_to_deny"], 10u);
  ASSERT_GT(want.kinds["route"], 10u);
  ASSERT_GT(want.kinds["rules"], 10u);  // huge_max_tokens fires behind an earlier deny

  ReplayReport r;
  ASSERT_NO_FATAL_FAILURE(ReplayLog(audit, dir.path + "/v2/example.tg", &r));
  EXPECT_EQ(r.failed, 0u);
  EXPECT_EQ(r.not_replayable, not_replayable_candidates);
  EXPECT_EQ(r.impact.changed, want.changed);
  EXPECT_EQ(r.impact.kinds, want.kinds);
  EXPECT_EQ(r.candidate, new_policy->version_id());
  // Grouped by workspace and by rule, with examples.
  uint64_t by_ws = 0;
  for (const auto& [ws, g] : r.impact.by_workspace) {
    by_ws += g.count;
    EXPECT_FALSE(g.examples.empty());
  }
  EXPECT_EQ(by_ws, want.changed);
  EXPECT_TRUE(r.impact.by_rule.count("standard_cost_ceiling") || r.impact.by_rule.count("output_token_cap") ||
              !r.impact.by_rule.empty());
  // The same report by stored version id once the candidate is in the store.
  EXPECT_NE(ReportJson(r).find("\"allow_to_deny\""), std::string::npos);
}

// Every record whose decision differs counts as changed: a new deny reason
// (what the caller reads), other tags, an advisory rule that no longer
// fires are changes too, never "unchanged".
TEST(AuditReplay, ImpactCountsReasonTagAndOtherChanges) {
  TempDir dir;
  const std::string v1 = dir.path + "/v1/p.tg", v2 = dir.path + "/v2/p.tg";
  fs::create_directories(dir.path + "/v1");
  fs::create_directories(dir.path + "/v2");
  WriteAll(v1,
           "policy \"p\"\n"
           "rule big { when (request.max_tokens ?? 0) > 1000 deny 400 \"too big\" }\n"
           "rule team { when principal.workspace == \"w1\" tag team = \"a\" }\n"
           "rule seen mode advisory { when principal.workspace == \"w2\" warn \"w2 seen\" }\n");
  WriteAll(v2,
           "policy \"p\"\n"
           "rule big { when (request.max_tokens ?? 0) > 1000 deny 400 \"far too big\" }\n"
           "rule team { when principal.workspace == \"w1\" tag team = \"b\" }\n"
           "rule seen mode advisory { when principal.workspace == \"w2\" warn \"w2 was seen\" }\n"
           "rule late mode advisory { when principal.workspace == \"w3\" warn \"w3 seen\" }\n");
  const std::string audit = dir.path + "/audit";
  std::shared_ptr<const Policy> p1;
  std::unique_ptr<AuditLog> log;
  ASSERT_NO_FATAL_FAILURE(CompileAndOpen(v1, audit, &p1, &log));
  std::string err;
  {
    Recorder rec(log.get(), p1, "", "");
    auto in = [](const char* ws, int max_tokens) {
      return std::string(R"({"principal":{"workspace":")") + ws + R"("},"request":{"model":"m","max_tokens":)" +
             std::to_string(max_tokens) + R"(,"messages":[]}})";
    };
    rec.Decide(in("w0", 5000));  // deny 400 either way, another reason
    rec.Decide(in("w1", 10));    // another tag value
    rec.Decide(in("w2", 10));    // the same advisory rule warns another text
    rec.Decide(in("w3", 10));    // an advisory rule fires that did not
    rec.Decide(in("w0", 10));    // unchanged
  }
  ASSERT_TRUE(log->Close());
  ReplayReport r;
  ASSERT_NO_FATAL_FAILURE(ReplayLog(audit, v2, &r));
  EXPECT_EQ(r.failed, 0u);
  EXPECT_EQ(r.identical, 1u);
  EXPECT_EQ(r.impact.changed, 4u);
  std::map<std::string, uint64_t> want{{"reason", 1}, {"tags", 1}, {"other", 1}, {"rules", 1}};
  EXPECT_EQ(r.impact.kinds, want);
  EXPECT_EQ(r.impact.by_rule.count("late"), 1u);
  ASSERT_EQ(r.impact.by_rule.count("(same rules fired)"), 1u);
  EXPECT_EQ(r.impact.by_rule.at("(same rules fired)").count, 3u);
}

// The gateway records a policy's deny with `"endpoints":null` (it never
// routed it) but names the catalog it routes with. A candidate that allows
// such a request is routed as the gateway would route it: a request no
// endpoint can serve is a deny (404 route_no_eligible_endpoint), not an
// allow; one that can is an allow with a new route.
TEST(AuditReplay, ImpactRoutesADenyTheGatewayRecordedUnrouted) {
  TempDir dir;
  const std::string v1 = dir.path + "/v1/p.tg", v2 = dir.path + "/v2/p.tg";
  fs::create_directories(dir.path + "/v1");
  fs::create_directories(dir.path + "/v2");
  WriteAll(v1, "policy \"p\"\n"
               "rule big { when (request.max_tokens ?? 0) > 1000 deny 400 \"too big\" }\n");
  WriteAll(v2, "policy \"p\"\n"
               "rule big { when (request.max_tokens ?? 0) > 100000 deny 400 \"too big\" }\n");
  const std::string audit = dir.path + "/audit";
  std::shared_ptr<const Policy> p1;
  std::unique_ptr<AuditLog> log;
  ASSERT_NO_FATAL_FAILURE(CompileAndOpen(v1, audit, &p1, &log));
  std::string err;
  SubjectSources src;
  src.catalog_json = ReadAll("policies/catalog.json");
  auto subject = log->Register(*p1, src, &err);
  ASSERT_TRUE(subject) << err;
  auto record = [&](int max_tokens) {
    const std::string in = R"({"principal":{"workspace":"w"},"request":{"model":"openai/gpt-4o-mini","max_tokens":)" +
                           std::to_string(max_tokens) + R"(,"messages":[{"role":"user","content":"hi"}]}})";
    vm::Record rec;
    runtime::InputError ierr;
    ASSERT_TRUE(runtime::DecodeInput(in, p1->schema(), Limits{}, &rec, &ierr)) << ierr.message;
    vm::Decision d;
    vm::Evaluate(p1->program(), rec, {}, &d);
    ASSERT_EQ(d.outcome, vm::Outcome::kDeny);
    Entry e;
    e.subject = subject;
    e.input = in;
    e.decision = RenderDecision(d, p1->program());
    if (d.time && d.time_from_clock) e.clock = FormatRfc3339(*d.time);
    // e.endpoints left empty: "endpoints":null, as the gateway writes a policy's deny
    ASSERT_NE(log->Append(std::move(e)).seq, 0u);
  };
  record(5000);   // v2 allows it: gpt-4o-mini serves 5,000 output tokens
  record(20000);  // v2 allows it, but no endpoint serves 20,000 output tokens (16,384 at most)
  ASSERT_TRUE(log->Close());
  {  // the records replay as recorded
    ReplayReport r;
    ASSERT_NO_FATAL_FAILURE(ReplayLog(audit, "", &r));
    EXPECT_EQ(r.identical, 2u);
  }
  ReplayReport r;
  ASSERT_NO_FATAL_FAILURE(ReplayLog(audit, v2, &r));
  EXPECT_EQ(r.failed, 0u) << (r.failures.empty() ? "" : r.failures[0]);
  EXPECT_EQ(r.impact.changed, 2u);
  std::map<std::string, uint64_t> want{{"deny_to_allow", 1}, {"route", 1}, {"status_code", 1}};
  EXPECT_EQ(r.impact.kinds, want);
}

TEST(AuditReplay, HashRetentionKeepsNoTextAndNeverGuesses) {
  TempDir dir;
  const std::string policy = dir.path + "/p.tg";
  WriteAll(policy,
           "policy \"retained\" retain content hash\n"
           "rule cards { when request.content matches dlp.credit_card deny 403 \"card\" }\n"
           "rule big { when (request.max_tokens ?? 0) > 1000 deny 400 \"too big\" }\n"
           "rule costly { when request.input_tokens > 5 tag size = \"large\" }\n");
  const std::string audit = dir.path + "/audit";
  std::shared_ptr<const Policy> p;
  std::unique_ptr<AuditLog> log;
  ASSERT_NO_FATAL_FAILURE(CompileAndOpen(policy, audit, &p, &log));
  EXPECT_EQ(p->ast().retain, ast::Retention::kHash);
  std::string err;
  Recorder rec(log.get(), p, "", "");
  const std::string secret_text = "my card is 4111 1111 1111 1111 thanks";
  Ticket card = rec.Decide(R"({"principal":{"workspace":"w"},"request":{"model":"m","max_tokens":10,"messages":[{"role":"user","content":")" +
                           secret_text + R"("}]}})");
  rec.Decide(R"({"principal":{"workspace":"w"},"request":{"model":"m","max_tokens":5000,"messages":[{"role":"user","content":"a harmless but rather long question"}]}})");
  ASSERT_TRUE(log->Close());
  std::string all;
  for (const auto& e : fs::directory_iterator(audit))
    if (e.path().extension() == ".jsonl") all += ReadAll(e.path());
  EXPECT_EQ(all.find("4111 1111"), std::string::npos);  // with its spaces: hex hashes may hold "4111"
  EXPECT_EQ(all.find("harmless"), std::string::npos);
  EXPECT_NE(all.find("\"dlp.credit_card\":1"), std::string::npos) << all;
  std::string key = ReadAll(audit + "/key");
  while (!key.empty() && (key.back() == '\n' || key.back() == ' ')) key.pop_back();
  EXPECT_NE(all.find(internal::HmacSha256Hex(key, secret_text)), std::string::npos);

  ReplayReport r;
  ASSERT_NO_FATAL_FAILURE(ReplayLog(audit, "", &r));
  EXPECT_EQ(r.records, 2u);
  EXPECT_EQ(r.mismatched, 0u);
  // Both read the text through `cards` (request.content): not replayable.
  EXPECT_EQ(r.not_replayable, 2u);
  EXPECT_EQ(r.not_replayable_rules["cards"], 2u);
  // `audit show` does not guess either: the recomputation ran on filler, so
  // it is not compared (it said "identical": false and showed `cards` not
  // firing, for a record that `cards` denied).
  std::string json;
  ASSERT_TRUE(ExplainRecord(audit, card.id, &json, &err)) << err;
  EXPECT_NE(json.find("\"identical\": null"), std::string::npos) << json;
  EXPECT_NE(json.find("\"not_replayable\": {"), std::string::npos) << json;
  EXPECT_NE(json.find("\"rules\": [\n      \"cards\""), std::string::npos) << json;
}

// Every text the decoder scans as message content is kept out of a `hash`
// record: a `refusal` part, an `input_text` part and a bare string part too,
// and the record still replays bit for bit (filler of the recorded length).
TEST(AuditReplay, HashRetentionCoversEveryKindOfTextPart) {
  TempDir dir;
  const std::string policy = dir.path + "/p.tg";
  WriteAll(policy,
           "policy \"parts\" retain content hash\n"
           "rule big { when (request.max_tokens ?? 0) > 1000 deny 400 \"too big\" }\n"
           "rule costly { when request.input_tokens > 5 tag size = \"large\" }\n");
  const std::string audit = dir.path + "/audit";
  std::shared_ptr<const Policy> p;
  std::unique_ptr<AuditLog> log;
  ASSERT_NO_FATAL_FAILURE(CompileAndOpen(policy, audit, &p, &log));
  std::string err;
  {
    Recorder rec(log.get(), p, "", "");
    rec.Decide(R"({"principal":{"workspace":"w"},"request":{"model":"m","max_tokens":10,"messages":[)"
               R"({"role":"user","content":["SECRETBARE1",{"type":"input_text","text":"SECRETINPUT2"}]},)"
               R"({"role":"assistant","content":[{"type":"refusal","refusal":"SECRETREFUSAL3"}]}]}})");
  }
  ASSERT_TRUE(log->Close());
  std::string all;
  for (const auto& e : fs::directory_iterator(audit))
    if (e.path().extension() == ".jsonl") all += ReadAll(e.path());
  EXPECT_EQ(all.find("SECRET"), std::string::npos) << all;
  EXPECT_NE(all.find("\"lengths\":[11,12,14]"), std::string::npos) << all;
  ReplayReport r;
  ASSERT_NO_FATAL_FAILURE(ReplayLog(audit, "", &r));
  EXPECT_EQ(r.records, 1u);
  EXPECT_EQ(r.identical, 1u) << r.first_mismatch.field << "\n" << r.first_mismatch.recorded << "\n"
                             << r.first_mismatch.replayed;
}

TEST(AuditReplay, NoneRetentionReplaysRulesThatDoNotReadText) {
  TempDir dir;
  const std::string policy = dir.path + "/p.tg";
  WriteAll(policy,
           "policy \"quiet\" retain content none\n"
           "rule big { when (request.max_tokens ?? 0) > 1000 deny 400 \"too big\" }\n"
           "rule costly { when request.input_tokens > 5 tag size = \"large\" }\n");
  auto p = MustCompile(policy);
  ASSERT_TRUE(p);
  std::string err;
  auto log = AuditLog::Open(dir.path + "/audit", {}, &err);
  ASSERT_TRUE(log) << err;
  Recorder rec(log.get(), p, "", "");
  for (int tokens : {10, 5000})
    rec.Decide(R"({"principal":{"workspace":"w"},"request":{"model":"m","max_tokens":)" + std::to_string(tokens) +
               R"(,"messages":[{"role":"user","content":"a question long enough for some tokens"}]}})");
  ASSERT_TRUE(log->Close());
  ReplayReport r;
  ASSERT_NO_FATAL_FAILURE(ReplayLog(dir.path + "/audit", "", &r));
  // input_tokens replays from the recorded text lengths.
  EXPECT_EQ(r.identical, 2u);
  EXPECT_EQ(r.not_replayable, 0u);
  EXPECT_EQ(r.mismatched, 0u);
}

TEST(AuditReplay, ReusesTheRecordedClock) {
  TempDir dir;
  const std::string policy = dir.path + "/p.tg";
  WriteAll(policy,
           "policy \"clock\"\n"
           "rule late { when hour(context.time) >= 12 deny 403 \"too late\" }\n");
  auto p = MustCompile(policy);
  ASSERT_TRUE(p);
  std::string err;
  auto log = AuditLog::Open(dir.path + "/audit", {}, &err);
  ASSERT_TRUE(log) << err;
  auto subject = log->Register(*p, {}, &err);
  ASSERT_TRUE(subject) << err;
  // The evaluating clock filled context.time (the decoder does when the
  // input has none); the record keeps the input as received plus the clock,
  // and the decision says where its time came from.
  const std::string received = R"({"principal":{"workspace":"w"},"request":{"model":"m","messages":[]}})";
  const std::string clock = "2026-07-01T12:00:00Z";
  runtime::DecodeOptions at;
  int64_t clock_ms = 0;
  ASSERT_TRUE(ParseRfc3339(clock, &clock_ms));
  at.now_ms = clock_ms;
  vm::Record rec;
  runtime::InputError ierr;
  ASSERT_TRUE(runtime::DecodeInput(received, p->schema(), {}, at, &rec, &ierr)) << ierr.message;
  vm::Decision d;
  vm::Evaluate(p->program(), rec, {}, &d);
  ASSERT_EQ(d.outcome, vm::Outcome::kDeny);
  ASSERT_TRUE(d.time_from_clock);
  Entry e;
  e.subject = subject;
  e.input = received;
  e.clock = clock;
  e.decision = RenderDecision(d, p->program());
  log->Append(std::move(e));
  ASSERT_TRUE(log->Close());
  ReplayReport r;
  ASSERT_NO_FATAL_FAILURE(ReplayLog(dir.path + "/audit", "", &r));
  EXPECT_EQ(r.identical, 1u) << ReportText(r);
}

// Every stored object replay uses is checked against its id, not only the
// policy: an edited stored catalog (or accounts file, or schema) would
// silently change the recomputed routes and the impact report.
TEST(AuditReplay, RefusesEditedStoredDocuments) {
  TempDir dir;
  std::string err;
  const std::string audit = dir.path + "/audit";
  {
    auto log = AuditLog::Open(audit, {}, &err);
    ASSERT_TRUE(log) << err;
    Recorder rec(log.get(), MustCompile("policies/example.tg"), "policies/catalog.json",
                 "policies/accounts.json");
    gen::Rng rng(3);
    for (int i = 0; i < 20; ++i) rec.Decide(ExampleInput(rng));
    ASSERT_TRUE(log->Close());
  }
  std::vector<StoredObject> objs;
  ASSERT_TRUE(ListObjects(audit, &objs, &err)) << err;
  std::string policy_id;
  for (const StoredObject& o : objs)
    if (o.kind == "policy") policy_id = o.id;
  ASSERT_FALSE(policy_id.empty());
  for (const char* kind : {"catalog", "accounts"}) {
    TempDir copy;
    fs::copy(audit, copy.path, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
    StoredObject obj;
    for (const StoredObject& o : objs)
      if (o.kind == kind) obj = o;
    ASSERT_FALSE(obj.id.empty()) << kind;
    ASSERT_TRUE(LoadObject(copy.path, obj.id, false, &obj, &err)) << err;
    ASSERT_FALSE(obj.files.empty());
    const std::string file = copy.path + "/store/" + obj.id.substr(7) + "/files/" + obj.files[0].path;
    WriteAll(file, ReadAll(file) + " ");  // one byte more: still valid JSON
    for (bool impact : {false, true}) {
      ReplayOptions o;
      o.dir = copy.path;
      if (impact) o.candidate_version = policy_id;
      ReplayReport r;
      ASSERT_TRUE(Replay(o, &r, &err)) << err;
      EXPECT_EQ(r.failed, r.records) << kind << (impact ? " (impact)" : "");
      ASSERT_FALSE(r.failures.empty()) << kind;
      EXPECT_NE(r.failures[0].find("stored files were edited"), std::string::npos) << r.failures[0];
    }
    std::string json;
    RecordReader in;
    ASSERT_TRUE(in.Open(copy.path, &err));
    RecordLine line;
    ASSERT_TRUE(in.Next(&line));
    EXPECT_FALSE(ExplainRecord(copy.path, std::string(line.doc["id"].GetString()), &json, &err));
    EXPECT_NE(err.find("stored files were edited"), std::string::npos) << err;
  }
}

}  // namespace
}  // namespace tollgate::audit::testing
