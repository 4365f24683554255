// What one evaluation decided.
//
// A Decision is plain data. Names point into the compiled Program (which
// outlives every Decision made from it), so filling one allocates nothing
// once its vectors have grown: gateways keep one Decision per worker and
// Clear() it between requests.
//
// Combining: any enforced deny wins (the first one, in rule order, gives
// status, reason and deny_rule). Shadow rules are evaluated and listed in
// `shadow`, never enforced; advisory rules are listed in `advisory` and
// produce a warning. A rule whose evaluation fails at run time (arithmetic,
// a builtin, the instruction budget) is recorded in `errors`; with
// `on_error deny` (the default) an enforced rule's error denies with code
// `rule_error`, reason kRuleErrorReason and deny_rule = the first such rule,
// but only when no enforced rule denied: an error never masks a real deny,
// whatever the rule order. An error in a `tag` value drops that tag (and is
// recorded in `errors`); the rule still fires.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/core/value.h"

namespace tollgate::vm {

enum class Outcome : uint8_t { kAllow, kDeny };

// Stable decision codes.
inline constexpr std::string_view kCodeOk = "ok";
inline constexpr std::string_view kCodePolicyDenied = "policy_denied";
inline constexpr std::string_view kCodeRuleError = "rule_error";
inline constexpr std::string_view kCodeNoEndpoint = "route_no_eligible_endpoint";
// No endpoint of the catalog serves the model asked for, or the caller's
// account excludes every one: OpenAI's code for a model a key cannot use (404).
inline constexpr std::string_view kCodeModelNotFound = "model_not_found";
// The endpoint the caller chose (a decision input's `candidate`) fails a require.
inline constexpr std::string_view kCodeRequireFailed = "require_failed";
// The public reason of a rule_error deny; the internal message is only in
// Decision::errors.
inline constexpr std::string_view kRuleErrorReason = "policy evaluation failed";
// Stable runtime error codes (RuleError::code).
inline constexpr std::string_view kErrMissingField = "eval_missing_field";
inline constexpr std::string_view kErrBudget = "eval_budget_exceeded";
inline constexpr std::string_view kErrArithmetic = "eval_arithmetic_error";  // overflow, div by zero
inline constexpr std::string_view kErrMissingKey = "eval_missing_key";
inline constexpr std::string_view kErrBuiltin = "eval_builtin_error";
// Memory ran out while the rule ran (std::bad_alloc): handled like any rule
// error; see vm::Evaluate.
inline constexpr std::string_view kErrOutOfMemory = "eval_out_of_memory";

struct RuleError {
  uint32_t rule = 0;
  std::string_view code;
  std::string message;  // lowercase, one line
};

struct Redaction {
  uint32_t rule = 0;
  uint32_t effect = 0;              // index into the rule's redact effects
  std::string_view pattern;         // detector name ("dlp.credit_card") or the regex
  std::string_view replacement;
};

enum class SortBy : uint8_t { kNone, kPrice, kLatency, kThroughput };
const char* SortName(SortBy s);

// Route hints merged over every fired enforced rule: the strictest wins
// (lowest max price; the first rule's sort and order, in rule order).
struct RouteHints {
  SortBy sort = SortBy::kNone;
  int64_t max_request_cost = -1;   // money micros per request estimate; -1 = none
  int64_t max_prompt = -1;         // money micros per million prompt tokens
  int64_t max_completion = -1;     // money micros per million completion tokens
  int64_t max_request = -1;        // money micros per-request price
  // The rule that set each cap (the first rule giving the lowest value);
  // UINT32_MAX when the cap is absent. The router names it when the cap
  // eliminates an endpoint.
  uint32_t max_request_cost_rule = UINT32_MAX, max_prompt_rule = UINT32_MAX,
           max_completion_rule = UINT32_MAX, max_request_rule = UINT32_MAX;
  std::vector<std::string_view> order;  // provider slugs
  std::vector<uint32_t> rules;     // rules that contributed
};

struct Tag {
  uint32_t rule = 0;
  std::string_view key;
  Value value;                     // lives in Decision::arena or the program
};

struct Warning {
  uint32_t rule = 0;
  std::string_view message;        // in the program, or Decision::arena when rendered
};

// One require predicate the router must apply to every candidate.
struct RequireRef {
  uint32_t rule = 0;
  uint32_t require = 0;            // Program require index (entry point)
};

struct TraceEntry {
  uint32_t rule = 0;
  bool fired = false;
  bool error = false;
  std::vector<std::pair<std::string_view, std::string>> values;  // field path -> JSON value read
};

struct Decision {
  Outcome outcome = Outcome::kAllow;
  int status = 200;
  std::string_view code = kCodeOk;
  std::string reason;
  uint32_t deny_rule = UINT32_MAX;  // rule that gave status/reason

  std::vector<uint32_t> fired;      // enforced rules whose `when` held
  std::vector<uint32_t> shadow;     // shadow rules whose `when` held
  std::vector<uint32_t> advisory;   // advisory rules whose `when` held
  std::vector<RequireRef> require_refs;  // from fired enforced rules (`requires` is a C++20 keyword)
  std::vector<RequireRef> shadow_requires;  // from fired shadow rules (report only)
  std::vector<Redaction> redactions;
  RouteHints route;
  std::vector<Tag> tags;
  std::vector<Warning> warnings;
  std::vector<RuleError> errors;
  std::vector<TraceEntry> trace;    // only with EvalOptions::trace
  uint64_t instructions = 0;        // executed, for the audit record
  // The instant the policy saw as `context.time` (Record::time): replaying
  // the decision passes it back (runtime::DecodeOptions::now_ms).
  std::optional<int64_t> time;      // unix ms
  bool time_from_clock = false;     // the input had none; the clock gave it
  Arena arena;                      // values computed during evaluation (tags)

  void Clear();
};

}  // namespace tollgate::vm
