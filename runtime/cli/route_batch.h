// `tollgate route --requests FILE.jsonl [--ledger URL]`: batch routing, with
// admission against a budget ledger (route_batch.cc).
#pragma once

#include <string>

#include "runtime/router/accounts.h"
#include "runtime/router/catalog.h"
#include "runtime/cli/audit_hook.h"
#include "runtime/cli/common.h"

namespace tollgate::cli {

// One compact JSON line per input line (blank lines skipped): the decision,
// "endpoints", and with a ledger "admission". A line's `candidate` is
// checked against the placed requires before routing, as `route --request`
// and `eval` do. With an enabled `hook`
// (--audit DIR; may be null) every decided line is recorded -- input,
// counters as seen, clock, the final decision, the endpoints and the
// ledger's verdict -- and gets a "decision_id"; answers are written only
// once their records are durable. Exit codes as for `eval --requests`: 0, 1
// (some line was invalid), 3 (I/O, ledger cannot open, audit log failed).
int RouteBatch(const std::string& requests_path, const std::string& ledger_url, const Loaded& l,
               const runtime::Catalog& catalog, const runtime::Accounts* accounts,
               AuditHook* hook = nullptr);

}  // namespace tollgate::cli
