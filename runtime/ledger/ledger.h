// The budget and rate-limit ledger: exact budgets under concurrency and
// crashes, and rate limits shared by many gateway replicas.
//
// Admitting a request (what a gateway does per request)
//
//   evaluate -> route -> Reserve(worst case) -> upstream -> Settle / Move / Release
//
//   ledger::ReserveRequest r;          // runtime/ledger/admission.h builds it
//   r.budgets.push_back({"ws_daily", "acme", {WindowKind::kDay}, 500 * kMicros, worst_case});
//   r.limits.push_back({"user_rpm", "u1", {WindowKind::kMinute}, 60, 1, LimitUnit::kRequests});
//   ledger::Admission a = ledger->Reserve(r);
//   if (!a.admitted()) return Reply(a.status(), a.code(), a.message);  // 403 / 429 / 503
//   ... call upstream ...
//   ledger->Settle(a.reservation, {real_cost_micros, real_tokens});
//
// A reservation charges every applicable budget (the worst-case cost) and
// every applicable limit (1 request, or the worst-case tokens) ATOMICALLY: all
// of them or none. While open it counts against the budget as `reserved`;
// Settle turns it into `spent` at the real cost (even when that exceeds the
// worst case: spend is never under-counted), Release removes it (a failure
// before any token), Move replaces its amounts (a fallback to an endpoint
// with another worst case; all or nothing, the old reservation stays when
// the new amounts do not fit). A reservation never settled expires after
// Options::reservation_ttl_ms and is charged at its reserved amount.
//
// Budgets: admitted iff spent + reserved + amount <= limit, per key and
// calendar window (runtime/ledger/window.h); a settlement is charged to the
// window the reservation was made in. The limit is the one this request
// computed (limits may differ per key and may change; the latest wins).
//
// Rate limits: an exact sliding log. A limit with max N over a window of
// length W admits a request iff the units (requests or tokens) admitted in
// (now - W, now] plus this request's units are <= N. Bound: in ANY half-open
// interval of length W, at most N units are admitted (tokens counted at
// their settled amount once settled), provided the ledger's clock does not go
// backwards. A denial says how many whole seconds (rounded up, >= 1) until
// enough units leave the window (`Retry-After`). Memory: one entry per
// admitted request still inside the window, per limit and key. `lifetime`
// limits are plain totals.
//
// Errors: Reserve never fails silently: its Admission is admitted, 403
// `budget_exceeded`, 429 `rate_limited` or 503 `budget_store_unavailable`
// (the store cannot be reached; with fail-open, Redis admits unverified and
// reports it to Options::on_fail_open). The other calls return a Status.
//
// Implementations (OpenLedger in runtime/ledger/open.h picks one by URL):
//   memory:            in-process only, nothing persisted (tests, dry runs)
//   sqlite:PATH        embedded, durable, one owning process (sqlite_ledger.h)
//   redis://HOST:PORT/DB  shared by many replicas (redis_ledger.h)
//
// Durability: when Settle, Release or Move report success, the change is
// durable: it survives a kill -9 of the process (sqlite: committed to the
// WAL; strict mode also fsyncs, surviving power loss; redis: applied by the
// server). Reserve is durable on return only in sqlite strict mode; in the
// default batched mode a kill -9 may lose the reservations of the last
// commit interval (never a settlement: a Settle commits everything before
// it, the reservation included).
//
// Not blocking (for I/O threads that must not wait on disk or network):
// ReserveAsync, SettleAsync, ReleaseAsync and MoveAsync apply the change and
// call `done` exactly once with the same result the blocking call would
// return, once that result is durable in the sense above:
//
//   ledger->SettleAsync(id, usage, [conn](const ledger::Status& s) {
//     asio::post(conn->strand(), [conn, s] { conn->Finish(s); });
//   });
//
// `done` runs either on the calling thread before the call returns (the
// result was already durable, or was an immediate error such as
// reservation_unknown) or on the ledger's commit thread (sqlite: one group
// commit settles every caller waiting on it). It must be cheap, must not
// throw and must not call a BLOCKING method of the same ledger (post the
// work elsewhere; calling another Async method is fine). redis: `done` runs
// on the ledger's I/O thread, which pipelines everything queued into one
// round trip. memory: on the calling thread.
//
// Thread safety: every Ledger is thread-safe; share one between all
// request threads. Cost: the embedded ledgers serve Reserve/Settle from
// memory under one mutex (O(charges x log entries)); sqlite's Settle also
// waits for a group commit; Redis: one round trip each, shared by
// concurrent callers (pipelined).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/ledger/window.h"

namespace tollgate::ledger {

// Stable admission codes (STYLE.md 4).
inline constexpr std::string_view kCodeAdmitted = "ok";
inline constexpr std::string_view kCodeBudgetExceeded = "budget_exceeded";
inline constexpr std::string_view kCodeRateLimited = "rate_limited";
inline constexpr std::string_view kCodeStoreUnavailable = "budget_store_unavailable";

enum class LimitUnit : uint8_t { kRequests, kTokens };

// One budget a request charges. Money in integer micro-units (1 usd = 1e6).
struct BudgetCharge {
  std::string budget;          // declaration name
  std::string key;             // the rendered key (vm::EvalKey)
  Window window;
  int64_t limit_micros = 0;    // this key's limit as computed for this request
  int64_t amount_micros = 0;   // worst-case cost to reserve (>= 0)
};

// One rate limit a request charges.
struct LimitCharge {
  std::string limit;
  std::string key;
  Window window;
  int64_t max = 0;             // units per window
  int64_t amount = 1;          // 1 request, or the worst-case tokens
  LimitUnit unit = LimitUnit::kRequests;
};

struct ReserveRequest {
  std::vector<BudgetCharge> budgets;
  std::vector<LimitCharge> limits;
};

enum class Verdict : uint8_t { kAdmitted, kBudgetExceeded, kRateLimited, kUnavailable };

struct Admission {
  Verdict verdict = Verdict::kAdmitted;
  uint64_t reservation = 0;    // admitted: pass to Settle/Move/Release (0 when nothing was charged)
  bool unverified = false;     // admitted by fail-open while the store was unreachable
  // Denied: what refused it.
  std::string name;            // budget or limit name
  std::string key;
  std::string window;          // WindowName, e.g. "day"
  std::string window_label;    // WindowLabel, e.g. "2026-11-30"
  int64_t limit = 0;           // micros (budget) or units (limit)
  int64_t remaining = 0;       // micros or units left before this request
  int64_t requested = 0;       // what this request needed
  int64_t retry_after_s = 0;   // rate_limited: seconds until it can fit
  std::string message;         // lowercase, one line

  bool admitted() const { return verdict == Verdict::kAdmitted; }
  int status() const;                // 200, 403, 429, 503
  std::string_view code() const;     // kCode*
};

// The real usage reported when a request completes.
struct Usage {
  int64_t cost_micros = 0;
  int64_t tokens = 0;
};

// The engine-side outcome of Settle/Release/Move/queries (STYLE.md 3).
struct Status {
  bool ok = true;
  std::string code;            // "reservation_unknown", "budget_store_unavailable", "ledger_io_error"
  std::string message;
  static Status Ok() { return {}; }
  static Status Error(std::string code, std::string message) { return {false, std::move(code), std::move(message)}; }
};

// One counter as seen at a moment: what `tollgate spend` prints, what rules
// read (`budget.<name>.remaining`) and what the audit record stores. Plain
// data, safe to copy and serialize.
struct CounterView {
  enum class Kind : uint8_t { kBudget, kLimit } kind = Kind::kBudget;
  std::string name;
  std::string key;
  std::string window;          // WindowName
  std::string window_label;    // WindowLabel of the current window
  int64_t window_start_ms = 0;
  int64_t limit = 0;           // micros (budget), units (limit); 0 when never seen
  int64_t spent = 0;           // budget: settled + expired micros; limit: used units
  int64_t reserved = 0;        // open reservations (micros or units)
  int64_t remaining = 0;       // max(0, limit - spent - reserved)
  LimitUnit unit = LimitUnit::kRequests;  // limits only
};

struct Options {
  // Reservations not settled within this time are charged at their reserved
  // amount (spend is never under-counted). Default 10 minutes.
  int64_t reservation_ttl_ms = 600'000;
  // The clock; null = SystemClock. Must outlive the ledger.
  const Clock* clock = nullptr;
  // sqlite: durability. Batched (default): reservations are committed by a
  // background thread every commit_interval_ms (1..10); a kill -9 loses at
  // most the reservations of the last interval. Settle/Release/Move return
  // (or call `done`) only once committed, in both modes: settled spend is
  // never lost. Strict: Reserve too, and every commit is fsynced. Group
  // commit: concurrent callers share one transaction.
  bool strict = false;
  int commit_interval_ms = 5;
  // sqlite: how long the writer waits for more async callers (up to 128)
  // before committing when only async callers wait: throughput for batch
  // use; a latency-bound gateway sets 0 (callers arriving during a commit
  // still share the next one).
  int group_linger_us = 500;
  // sqlite, batched mode: async callers (SettleAsync, ReleaseAsync,
  // MoveAsync) are answered once their change is appended to the ledger's
  // journal (`PATH-changes`, written to the OS: survives kill -9, like a
  // batched commit), not after a SQLite commit; the journal is folded into
  // the database every commit_interval_ms and applied on the next open
  // after a crash. Blocking callers and Flush still wait for the database.
  bool change_journal = true;
  // redis: when the server is unreachable, admit (true) instead of 503.
  bool fail_open = false;
  // Called (from the calling thread) each time a request is admitted
  // unverified under fail_open; the CLI logs it. May be empty.
  std::function<void(const std::string& message)> on_fail_open;
  // redis: connect/IO timeout.
  int redis_timeout_ms = 200;
};

class Ledger {
 public:
  virtual ~Ledger() = default;

  // Charges every budget and limit of `r` all or nothing (see above).
  // Duplicate (name, key) charges are summed. An empty request is admitted
  // with reservation 0.
  virtual Admission Reserve(const ReserveRequest& r) = 0;
  // Charges the real cost to every budget and the real tokens to every token
  // limit of the reservation; request limits keep their 1. Returns
  // reservation_unknown when it was already settled, released or expired.
  virtual Status Settle(uint64_t reservation, Usage actual) = 0;
  // Removes the reservation without charge.
  virtual Status Release(uint64_t reservation) = 0;
  // Replaces the reserved cost (every budget) and tokens (every token limit)
  // with new worst cases. All or nothing: when the new amounts do not fit,
  // the Admission says why and the old reservation is unchanged.
  virtual Admission Move(uint64_t reservation, Usage new_worst_case) = 0;
  // The counters `r` would charge, as they stand now (no change). One
  // CounterView per budget then per limit, in `r`'s order.
  virtual Status Peek(const ReserveRequest& r, std::vector<CounterView>* out) = 0;
  // Every counter of the current windows (and open reservations of older
  // ones), sorted by kind, name, key, window start.
  virtual Status Snapshot(std::vector<CounterView>* out) = 0;
  // Charges every reservation past its expiry. Also done lazily by Reserve.
  // Returns how many expired.
  virtual int ExpireDue() = 0;
  // sqlite: commits everything pending and waits for it; redis: waits until
  // every Async call made before it has been answered; both also wait for
  // those calls' callbacks to have run. memory: no-op.
  virtual Status Flush() { return Status::Ok(); }
  // Whether the ledger admits unverified when its store cannot be reached
  // (Options::fail_open; only the Redis ledger can fail to be reached).
  // Callers that read counters (Peek) before evaluating use it to decide a
  // failed read the same way: fail open or 503 budget_store_unavailable.
  virtual bool fail_open() const { return false; }

  // The non-blocking forms (see Durability above). The defaults call the
  // blocking form and then `done` on the calling thread.
  using AdmissionCallback = std::function<void(const Admission&)>;
  using StatusCallback = std::function<void(const Status&)>;
  virtual void ReserveAsync(const ReserveRequest& r, AdmissionCallback done) { done(Reserve(r)); }
  virtual void SettleAsync(uint64_t reservation, Usage actual, StatusCallback done) {
    done(Settle(reservation, actual));
  }
  virtual void ReleaseAsync(uint64_t reservation, StatusCallback done) { done(Release(reservation)); }
  virtual void MoveAsync(uint64_t reservation, Usage new_worst_case, AdmissionCallback done) {
    done(Move(reservation, new_worst_case));
  }
};

// Formats an Admission's denial message (used by every implementation).
void DescribeDenial(Admission* a);

}  // namespace tollgate::ledger
