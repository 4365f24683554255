// The gateway's request pipeline without the network: what every request
// goes through between the HTTP server (server.h) and the upstream client
// (upstream.h).
//
// ## One chat request
//
//   gateway::Exchange x;                      // per request (pooled by the server)
//   x.live = svc.live(); x.shadow = svc.shadow(); x.keys = svc.keys();
//   x.who = x.keys->Find(token);              // null: 401
//   x.body = std::move(http_body);
//   svc.Decide(&x);                           // decode, budgets, evaluate, route,
//                                             // shadow, reserve
//   if (!x.allowed()) reply(x.status(), svc.ErrorJson(x));
//   for each attempt a: svc.UpstreamBody(&x, a, &body) -> send it;
//                       on a fallback: svc.MoveTo(&x, a)
//   uint64_t seq = svc.Finish(&x, outcome);   // settle/release, audit, metrics, log
//   wait until audit seq is durable, answer.
//
// ## Policy versions
// A PolicySet is one loaded version (policy, catalog, accounts, router, its
// audit Subject), immutable and shared: a request holds the sets it started
// with, so a reload never changes a decision in flight. The live and the
// shadow sets are swapped atomically (Load*, Promote, DropShadow).
//
// ## Errors
// Decide never fails: an invalid input, an auth failure, a deny, a budget
// refusal are all outcomes with a status and a stable code (docs/gateway.md).
// Loading returns false with the diagnostics text (file:line:col).
//
// ## Thread safety
// Service is thread-safe. An Exchange is used by one thread at a time.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "runtime/router/accounts.h"
#include "runtime/audit/log.h"
#include "runtime/decide/budgets.h"
#include "runtime/decide/prompt_bound.h"
#include "runtime/router/bare_models.h"
#include "runtime/router/catalog.h"
#include "runtime/decide/decide.h"
#include "runtime/gateway/config.h"
#include "runtime/gateway/keys.h"
#include "runtime/gateway/metrics.h"
#include "runtime/ledger/ledger.h"
#include "runtime/router/router.h"

namespace spdlog { class logger; }

namespace tollgate::gateway {

// Where an endpoint's requests go, parsed once per catalog load.
struct UpstreamTarget {
  bool tls = false;
  std::string host, port;   // port as text ("443")
  std::string path_prefix;  // e.g. "/v1" (no trailing slash)
  std::string query;        // the base_url's query with its `?` ("?api-version=2024-10-21"), or ""
  std::string host_header;  // "host[:port]"
  std::string auth_header;  // header name ("authorization", "api-key", ...), "" = none
  std::string auth_value;   // "Bearer sk-..." / the key (from the environment; never logged)
  std::string pool_key;     // "tls://host:port"
};

struct PolicySet {
  std::shared_ptr<const Policy> policy;
  std::shared_ptr<const stdlib::Schema> extended;  // the config's schema extension, if any
  std::unique_ptr<runtime::Catalog> catalog;
  std::unique_ptr<runtime::Accounts> accounts;     // null without an accounts file
  std::unique_ptr<runtime::Router> router;
  std::vector<UpstreamTarget> targets;             // per catalog endpoint
  std::vector<std::string> models;                 // distinct catalog models, sorted
  std::shared_ptr<const audit::Subject> subject;   // null without audit
  std::string version;                             // "sha256:..."
  audit::SubjectSources sources;                   // the schema, catalog, accounts texts it was built from
  ~PolicySet();
};

// The outcome of the upstream part, given to Finish.
struct Outcome {
  int http_status = 0;           // what the client got
  std::string error_code;        // the gateway's code when it answered an error itself
  int64_t prompt_tokens = -1;    // from the upstream's usage; -1 = not reported
  int64_t completion_tokens = -1;
  bool usage_estimated = false;  // tokens estimated (no usage chunk, stream cut)
  bool stream = false;
  bool stream_complete = true;   // false: the stream died part-way
  int upstream_status = 0;       // of the attempt that answered
  int64_t upstream_ns = 0;
  std::string upstream_errors;   // JSON array of failed attempts (may be empty)
  bool started = false;          // some response byte reached the client from upstream
  // A streamed event's data line was longer than upstream.max_response_bytes:
  // relayed, not counted (recorded as `event_too_large`).
  bool event_too_large = false;
};

struct Exchange {
  std::shared_ptr<const PolicySet> live, shadow;
  std::shared_ptr<const KeyStore> keys;
  const Identity* who = nullptr;
  std::string path;              // request path, for metrics
  std::string body;              // the HTTP body as received
  std::string input;             // the decision input built from it
  bool stream = false;
  bool include_usage = false;    // the caller asked for the stream's usage chunk
  // The body's worst-case prompt (runtime/decide/prompt_bound.h): measured
  // by CheckRequestBody, else by Decide; of the redacted body when the
  // decision redacts (then `redacted` holds that body for UpstreamBody).
  runtime::PromptShape prompt;
  std::string redacted;
  bool redacted_ready = false;
  int64_t start_ns = 0;          // monotonic, request fully read
  int64_t wait_ns = 0;           // spent waiting for the ledger and audit to be durable

  runtime::DecideScratch s;
  runtime::InputError input_error;
  runtime::BudgetPlan plan;
  vm::Counters counters;
  std::vector<ledger::CounterView> views;
  ledger::Admission admission;
  bool reserved = false;
  // The policy has budgets or limits scoped by endpoint fields: a fallback
  // plans them again for its endpoint (MoveTo), reserving even when the
  // primary charged nothing.
  bool replan = false;
  size_t attempt = 0;            // s.route.endpoints index in use
  int64_t cost = 0;              // settled cost, money micros (set by Charge), failed attempts' included
  // Failed attempts that reported usage (ChargeFailedAttempt): their cost,
  // already settled, and whether the next attempt must reserve anew (the
  // reservation ended with that settlement).
  int64_t failed_cost = 0;
  bool rereserve = false;
  // The attempt in use (x->attempt) was charged so already: Charge adds
  // nothing for it (a client that leaves before the next attempt is sent).
  bool attempt_charged = false;
  bool usage_capped = false;     // Charge bounded the reported usage (recorded, logged)
  std::string shadow_json;       // the shadow comparison, "" without a shadow policy
  bool counted = false;          // the evaluation read ledger counters
  // The counters could not be read (the store is unreachable): the Peek
  // error. Rules failing on a counter read were skipped (vm::Counters);
  // Decide answers 503 budget_store_unavailable unless the ledger fails open.
  ledger::Status counters_read;
  std::string admission_json;    // the ledger's verdict for the record, "" = none tried
  std::string decision_id;
  bool invalid = false;          // the input did not decode

  bool allowed() const { return !invalid && s.decision.outcome != vm::Outcome::kDeny; }
  void Reset();
};

// The bytes a chat request's decision input may hold beyond its body: the
// key's principal and the context the gateway wraps it in
// (GatewayInputLimits).
inline constexpr uint64_t kMaxInputWrapperBytes = 1u << 20;
tollgate::Limits GatewayInputLimits(const Config& c);

class Service {
 public:
  // Loads keys, policy, catalog, accounts; opens the ledger and the audit
  // log. Null with *error (diagnostics included) when anything fails.
  static std::unique_ptr<Service> Create(const Config& config, std::string* error);
  ~Service();

  const Config& config() const { return config_; }
  std::shared_ptr<const PolicySet> live() const;
  std::shared_ptr<const PolicySet> shadow() const;
  std::shared_ptr<const KeyStore> keys() const;
  // Builds this thread's copies of what deciding with the live and shadow
  // policies matches with (vm::WarmThread) and its decoding plans: the
  // server has each I/O thread call it at start and after a policy change,
  // so that no request pays for them (milliseconds per thread).
  void WarmThread() const;
  Metrics& metrics() { return metrics_; }
  audit::AuditLog* audit() { return audit_.get(); }
  ledger::Ledger* ledger() { return ledger_.get(); }
  spdlog::logger& log() { return *log_; }

  // Reloads policy files, catalog, accounts and keys from disk (SIGHUP).
  bool ReloadFromDisk(std::string* error);
  // Loads policy source files (POST /admin/policy), checked first; with
  // `shadow` as the shadow version, else as the live one. *error holds the
  // diagnostics when refused.
  // A live version is refused, as at startup, when some key of the keys file
  // does not decode under its schema (CheckKeys); the live one is then unchanged.
  bool LoadSources(std::vector<SourceText> sources, bool shadow, std::string* error);
  // Makes the shadow version live, over the catalog and accounts the live
  // version serves (a reload since the shadow was loaded is kept). False with *error when no shadow is loaded,
  // or (*refused set) when some key does not decode under the shadow's schema:
  // *error is then the diagnostic and the live version is unchanged.
  bool Promote(std::string* error, bool* refused = nullptr);
  void DropShadow();

  // The request pipeline (see the overview).
  void Decide(Exchange* x);
  // Decision only (POST /v1/decide): x->input is the decision input; no
  // reservation; renders the route document.
  // *seq: the decision record's audit sequence number (0 = none), which the
  // answer must wait for (Server: Durable).
  std::string DecideOnly(Exchange* x, uint64_t* seq);
  // The body sent to endpoint x->s.route.endpoints[attempt]: redactions
  // applied, model set to the endpoint's upstream model, stream usage asked,
  // then the endpoint's catalog `upstream.body` members (its service_tier)
  // merged in over the caller's.
  bool UpstreamBody(const Exchange& x, size_t attempt, std::string* out, std::string* error);
  // Moves the reservation to attempt's worst case (a fallback; WorstCaseUsage
  // of x->prompt at that endpoint). Budgets and limits scoped by endpoint
  // fields are planned again for that endpoint (runtime::PlanEndpointBudgets):
  // when their counters differ, the old reservation is released and the new
  // plan reserved. False when the new amounts do not fit the budgets or
  // limits, or the plan cannot be computed (x->admission says why: its
  // status(), code() and message).
  bool MoveTo(Exchange* x, size_t attempt);
  // The same, non-blocking: `done(admitted)` once durable (any thread).
  void MoveToAsync(Exchange* x, size_t attempt, std::function<void(const bool&)> done);
  // A failed attempt whose upstream reported usage (a 200 that is no chat
  // completion but carries `usage`): the provider billed it, so its cost at
  // x->attempt's endpoint (the usage bounded as Charge bounds it; an
  // unreported prompt at the worst case) is settled now on the reservation,
  // which ends there; the next attempt reserves anew (MoveToAsync). Returns
  // that cost (money micros; also added to x->failed_cost). `done` as for Charge.
  int64_t ChargeFailedAttempt(Exchange* x, const Outcome& usage, ledger::Ledger::StatusCallback done);
  // Charge + Record with the blocking ledger calls (tests, benchmarks).
  uint64_t Finish(Exchange* x, const Outcome& o);
  // Settles the real cost from the outcome's usage (or releases the
  // reservation when nothing was delivered); `done` (may be empty: blocking)
  // is called once the change is durable (Ledger::SettleAsync: from the
  // ledger's commit thread or before returning).
  void Charge(Exchange* x, const Outcome& o, ledger::Ledger::StatusCallback done);
  // Appends the decision record, counts, logs. Returns the audit sequence
  // number to wait for before answering (0 = nothing to wait for).
  uint64_t Record(Exchange* x, const Outcome& o);
  // Gives x its decision id now (a streamed answer sends it before Finish).
  void NewDecisionId(Exchange* x);
  // The access line of a request answered before any decision (401, a 400
  // refusal of its body or headers, 503 audit_unavailable) or without one
  // (`/v1/models`): `outcome` (`unauthenticated`, `invalid`, `refused`,
  // `answered`), the code and status, the key's workspace and id when one
  // was known, no decision id (nothing was decided or recorded). Nothing
  // when the access log is off. Thread-safe.
  void LogWithoutDecision(std::string_view path, const Identity* who, std::string_view outcome, std::string_view code,
                  int status, int64_t start_ns);
  // An input or policy refusal rendered in OpenAI's error shape.
  std::string ErrorJson(const Exchange& x) const;
  int Status(const Exchange& x) const;
  // Models this caller may use (GET /v1/models), OpenAI's list shape.
  std::string ModelsJson(const Identity& who);

 private:
  explicit Service(Config config);
  // `base` (may be null): take the catalog and accounts of that loaded
  // version instead of reading the files (a shadow is judged against the
  // catalog and accounts the live version serves).
  bool Load(std::vector<SourceText>* sources, std::shared_ptr<const PolicySet>* out,
            std::string* error, const PolicySet* base = nullptr,
            const PolicySet* policy_of = nullptr);
  // `policy_of` (may be null): reuse that version's compiled policy and
  // schema instead of compiling.
  // The same policy as `set` over base's catalog and accounts; caller holds reload_mu_.
  bool Rebase(const PolicySet& set, const PolicySet& base, std::shared_ptr<const PolicySet>* out,
              std::string* error);
  // After the live version changed: the shadow rebuilt over its catalog and
  // accounts (dropped, logged, when they do not load under the shadow's
  // schema); caller holds reload_mu_.
  void RebaseShadow();
  void CompareShadow(Exchange* x);
  // The counters could not be read (x->counters_read): fail open logs it and
  // returns false; fail closed denies the decision 503
  // budget_store_unavailable (unless it denies already) and returns true.
  bool StoreUnreadable(Exchange* x);
  // MoveTo's plan for `attempt`: *worst, and whether the counters stay
  // (*same). False when the per-endpoint plan fails (x->admission says why).
  bool PlanMove(Exchange* x, size_t attempt, ledger::Usage* worst, bool* same);
  bool CheckKeys(const KeyStore& keys, const PolicySet& set, std::string* error) const;
  void WarnUnusedWorkspaces(const runtime::Accounts& accounts, const KeyStore& keys) const;

  Config config_;
  tollgate::Limits input_limits_;  // GatewayInputLimits(config_)
  mutable std::mutex mu_;  // guards the three pointers below
  std::shared_ptr<const PolicySet> live_, shadow_;
  std::shared_ptr<const KeyStore> keys_;
  std::mutex reload_mu_;   // one reload at a time
  std::unique_ptr<ledger::Ledger> ledger_;
  std::unique_ptr<audit::AuditLog> audit_;
  std::shared_ptr<spdlog::logger> log_;
  Metrics metrics_;
};

// Checks a chat request body before it goes into the decision input: it must
// be exactly one JSON value (whitespace around it allowed), so that nothing
// after it can add members such as `context` to the input BuildInput
// composes; a leading UTF-8 byte order mark is removed. Errors are the
// decoder's codes with offsets into the body: input_malformed_json
// (syntax, trailing content, an empty body, a NUL or raw control byte),
// input_invalid_utf8, input_invalid_value (a number beyond double range,
// which no upstream accepts either). *include_usage: the body asks for the
// stream's usage chunk (`stream_options.include_usage: true`). *prompt (when
// not null): the body's worst-case prompt shape, measured in the same pass
// (runtime::PromptMeter). *catalog (when not null): a bare model name in
// `model` or `models` that names exactly one catalog model
// (runtime::Catalog::BareModel: `gpt-4o` for `openai/gpt-4o`, `gpt-4o:nitro`
// for `openai/gpt-4o:nitro`) is replaced in the body by that model's id, so
// that the policy, the router and the record all see the catalog's name
// (docs/gateway.md, "Model names"). `where`: `body` is a chat body, or a
// decision input (/v1/decide) whose `request` member is one. Cost: one SAX
// pass over the body, no allocation but the parser's stack and a rename's.
bool CheckRequestBody(std::string* body, bool* include_usage, runtime::InputError* err,
                      runtime::PromptShape* prompt = nullptr, const runtime::Catalog* catalog = nullptr,
                      runtime::ModelNameSpans::Where where = runtime::ModelNameSpans::Where::kChatBody);
// Builds the decision input {"principal": ..., "request": BODY, "context": ...}
// with the key's context defaults (who.context_json; no `context` without).
void BuildInput(const Identity& who, std::string_view body, std::string* out);
// The same with a composed context object (context.h ComposeContext; "" =
// none): what a chat request decides on, and what its record keeps.
void BuildInput(const Identity& who, std::string_view context_json, std::string_view body,
                std::string* out);
// OpenAI's error document. `param`: the body member the error concerns, as
// OpenAIParam writes it ("" = null). Its type is ErrorType's for the status
// (401 authentication_error, 403 permission_error, 404 not_found_error, 429
// rate_limit_error, 5xx api_error, else invalid_request_error), except that
// model_not_found is an invalid_request_error, as OpenAI sends it.
std::string OpenAIError(int status, std::string_view code, std::string_view message,
                        std::string_view rule = {}, std::string_view decision_id = {},
                        std::string_view param = {});
// A /v1/decide input error in OpenAI's shape (type invalid_request_error,
// code, message, `param`: the input path as OpenAI writes one, null when
// none), with the decoder's own `path` kept, as `tollgate eval` writes it.
std::string DecideInputErrorJson(const runtime::InputError& e);
// OpenAI's `param` for a decision-input path: the body member under
// `request.`, an index written as its own member (`request.messages[0].content`
// -> `messages.[0].content`, as OpenAI writes it); "" for any other path
// (`context.*`, `principal.*`, the whole body). Cost: one copy of the path.
std::string OpenAIParam(std::string_view path);
// The workspaces `accounts` has an entry for that no key of `keys` carries
// (exact names: a key's `acme` does not use an entry `Acme` or `acme `),
// sorted. The gateway logs each at startup and reload
// (`accounts_workspace_unused`): not an error, since a /v1/decide input
// names its own workspace and keys may be added later. Cost: O(keys +
// workspaces log workspaces).
std::vector<std::string> UnusedAccountWorkspaces(const runtime::Accounts& accounts,
                                                 const KeyStore& keys);
// Parses a catalog base_url into a target (auth from the environment).
bool ParseTarget(const runtime::Endpoint& e, UpstreamTarget* out, std::string* error);

}  // namespace tollgate::gateway
