// `--audit DIR` for the deciding commands (eval, route): opens the decision
// log, registers the policy version (and schema, catalog, accounts) in the
// version store, and records each decision. Implemented in audit_cmd.cc.
// Thread safety: single-threaded CLI helper.
#pragma once

#include <memory>
#include <string>

#include "engine/vm/decision.h"
#include "runtime/audit/log.h"

namespace tollgate::cli {

struct AuditHook {
  std::unique_ptr<audit::AuditLog> log;
  std::shared_ptr<const audit::Subject> subject;
  uint64_t last_seq = 0;

  // Returns 0, or kExitIo after printing the error. `schema_path`,
  // `catalog_path`, `accounts_path` may be empty.
  int Open(const std::string& dir, const Policy& policy, const std::string& schema_path,
           const std::string& catalog_path, const std::string& accounts_path);
  bool enabled() const { return log != nullptr; }
  // Queues one record; returns its decision id.
  // `clock` is the instant the evaluating clock filled into context.time
  // (Decision::time when time_from_clock; "" when the input had one).
  // `counters` and `admission`: the ledger's part (runtime/audit/counters.h).
  std::string Record(std::string input, std::string decision, std::string endpoints,
                     std::string clock = {}, std::string counters = {},
                     std::string admission = {});
  static std::string ClockOf(const vm::Decision& d);
  // Blocks until every record so far is on disk. False (after printing) on failure.
  bool Commit();
};

}  // namespace tollgate::cli
