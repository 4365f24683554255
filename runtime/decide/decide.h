// One decision, JSON text in, JSON text out: the code path shared by
// `tollgate eval`, `tollgate route` and the C API (runtime/capi/tollgate.h),
// so that all three print byte-identical documents.
//
//   runtime::DecideScratch s;                       // reuse one per thread
//   runtime::InputError err;
//   if (!runtime::Decide(*policy, json, {}, /*trace=*/false, router, &s, &err))
//     return Reply(400, runtime::InputErrorJson(err));
//   std::string out = router ? runtime::RenderRoute(*policy, *router, s, {})
//                            : runtime::RenderEval(*policy, s.decision, {}, nullptr);
//
// Failure: Decide returns false only for an invalid decision input (*err is
// filled, codes in runtime/input/input.h). Evaluation and routing never fail: rule
// errors and "nothing routable" are part of the decision.
//
// Cost: decoding ~1-2 us per KB of input, evaluation proportional to the
// rules that run, routing per runtime/router/router.h, rendering one pass over the
// decision. Nothing is allocated once the scratch has grown, except the
// output string.
//
// Thread safety: the Policy and Router are only read; a DecideScratch is
// used by one thread at a time.
#pragma once

#include <string>
#include <string_view>

#include "engine/core/limits.h"
#include "engine/engine.h"
#include "engine/vm/decision.h"
#include "engine/vm/record.h"
#include "runtime/input/input.h"
#include "runtime/router/router.h"

namespace tollgate::runtime {

struct DecideScratch {
  vm::Record request;      // the decoded input (points into its own buffer)
  vm::Record candidate;    // the input's `candidate` (the caller's chosen endpoint)
  bool has_candidate = false;
  vm::Decision decision;   // the decision (routed when a router was given)
  RouteResult route;       // valid after Decide with a router
};

struct RenderOptions {
  bool explain = false;  // add "trace" (and, for routes, "eliminated"/"shadow_eliminated")
  bool pretty = false;   // two-space indentation (otherwise one line)
  std::string_view decision_id;  // when not empty: a leading "decision_id" member (--audit)
};

// Decodes `input` against policy.schema(), evaluates it (with the rule
// trace when `trace`); an input `candidate` (docs/decision-input.md) is then
// checked against the requires (a failing one denies: 403 require_failed);
// when `router` is not null, routes it and applies the route to the
// decision (runtime::ApplyRoute). False with *err on an invalid input.
bool Decide(const Policy& policy, std::string_view input, const Limits& limits, bool trace,
            const Router* router, DecideScratch* s, InputError* err);

// The decision document `tollgate eval` prints; `redacted_request` (raw
// JSON), when not null, is added as "redacted_request".
std::string RenderEval(const Policy& policy, const vm::Decision& d, const RenderOptions& o,
                       const std::string* redacted_request);

// The document `tollgate route` prints: the decision members plus
// "endpoints" and, with explain, "eliminated" and "shadow_eliminated";
// `redacted_request`, when not null, is added last as in RenderEval.
std::string RenderRoute(const Policy& policy, const Router& router, const DecideScratch& s,
                        const RenderOptions& o, const std::string* redacted_request = nullptr);

}  // namespace tollgate::runtime
