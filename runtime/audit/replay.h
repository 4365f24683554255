// Replaying recorded decisions: determinism checks and impact analysis.
//
//   audit::ReplayOptions o;
//   o.dir = "/var/lib/tollgate/audit";          // against the deciding versions
//   audit::ReplayReport r;
//   std::string err;
//   if (!audit::Replay(o, &r, &err)) Fail(err);   // I/O, a candidate that does not compile
//   if (r.mismatched) Print(r.first_mismatch.id, r.first_mismatch.field);
//
//   o.candidate_file = "policies/acme.tg";        // or o.candidate_version = "sha256:..."
//   audit::Replay(o, &r, &err);                   // r.impact: what would change
//
// ## Against the deciding version
// Each record's policy (and schema, catalog, accounts) is recompiled from the
// version store, its input decoded again (with the recorded clock), evaluated,
// routed when the record was routed, and the decision rendered exactly as it
// was recorded. Any byte of difference is a determinism failure
// (`mismatched`, with the first differing field).
//
// ## Against another version (impact)
// The candidate policy is evaluated on every record (with the record's
// schema, catalog and accounts) and compared with what was recorded:
// allow->deny, deny->allow, status/code, route (endpoint list), redactions,
// shadow rules. Changes are grouped by rule (the rules whose firing differs)
// and by workspace (principal.workspace), with up to 5 example ids each.
// The recorded ledger counters get the candidate's bounds (RebindCounters,
// counters.h); the ledger's verdict stays the recorded one (counted in
// `verdicts_kept` when the bounds differ).
//
// ## Records without their text
// A record whose message text was not kept (retain hash/none, or a
// credential cut out) is replayed with filler text of the recorded length.
// When a rule of either version read the text (request.content,
// request.messages) the record is counted in `not_replayable` with those
// rules, never compared or guessed.
//
// Cost: one decode, one or two evaluations and a route per record; policies,
// catalogs and routers are built once per version. Thread safety: none (one
// call at a time per report).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "runtime/audit/reader.h"

namespace tollgate::audit {

struct ReplayOptions {
  std::string dir;
  std::string candidate_file;     // --policy FILE
  std::string candidate_version;  // --version ID (from the store)
  size_t max_examples = 5;
  // false: every record's members by the full SAX parse instead of the fast
  // path of the writer's layout (the same report; the benchmark's baseline).
  bool fast_members = true;
};

struct Mismatch {
  std::string id;
  std::string field;     // "decision.rules[0]", "endpoints[1].id", ...
  std::string recorded;  // JSON of the recorded value ("" = absent)
  std::string replayed;
};

struct ImpactGroup {
  uint64_t count = 0;
  std::map<std::string, uint64_t> kinds;  // change kind -> count
  std::vector<std::string> examples;      // decision ids
};

struct Impact {
  uint64_t changed = 0;
  // allow_to_deny, deny_to_allow, status_code, route, redactions, shadow
  std::map<std::string, uint64_t> kinds;
  std::map<std::string, std::vector<std::string>> kind_examples;
  std::map<std::string, ImpactGroup> by_rule;
  std::map<std::string, ImpactGroup> by_workspace;
};

struct ReplayReport {
  bool impact_mode = false;
  std::string candidate;          // candidate version id (impact mode)
  uint64_t records = 0;
  uint64_t identical = 0;         // self: bit-identical; impact: unchanged
  uint64_t mismatched = 0;        // self mode: determinism failures
  uint64_t not_replayable = 0;
  uint64_t failed = 0;            // version missing from the store, input no longer decodes
  Mismatch first_mismatch;
  std::vector<std::string> failures;                       // first few, "id: why"
  std::map<std::string, uint64_t> not_replayable_rules;    // rule -> records
  std::vector<std::string> not_replayable_examples;
  Impact impact;
  // Impact mode: records whose counters got the candidate's bounds (its
  // budgets' limits, its limits' max differ from the recorded ones), by
  // declaration; of those, the ones whose ledger verdict (a reservation was
  // tried) is kept as recorded, not recomputed (docs/audit.md).
  uint64_t rebound = 0;
  std::map<std::string, uint64_t> rebound_counters;
  uint64_t verdicts_kept = 0;
  std::vector<std::string> verdicts_kept_examples;
  std::vector<Problem> problems;  // malformed / truncated lines (skipped)
};

// False with *error only when replay cannot start (the directory cannot be
// read, the candidate does not compile); per-record trouble is in the report.
bool Replay(const ReplayOptions& options, ReplayReport* report, std::string* error);

std::string ReportText(const ReplayReport& report);
std::string ReportJson(const ReplayReport& report);

// `tollgate audit show`: the record `id` explained -- recomputed from the
// stored version with the rule trace and, when routed, the eliminated
// endpoints -- as one JSON document {"record": {...}, "recomputed": {...},
// "identical": bool, or null with "not_replayable": {"reason", "rules"} when
// the text was not retained and rules read it}. False with *error when the id is not found or its
// version cannot be rebuilt.
bool ExplainRecord(const std::string& dir, const std::string& id, std::string* json,
                   std::string* error);

}  // namespace tollgate::audit
