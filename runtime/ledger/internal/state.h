// The in-memory ledger: budget counters, rate-limit logs and open
// reservations, with change tracking for a persistence layer (the SQLite
// ledger). Not part of the public API; runtime/ledger/ledger.h documents the
// semantics.
//
// Thread safety: every public method locks the one mutex.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <queue>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "runtime/ledger/ledger.h"

namespace tollgate::ledger::internal {

struct BudgetCounter {
  std::string budget, key;
  Window window;
  int64_t start_ms = 0, end_ms = 0;
  int64_t limit = 0, spent = 0, reserved = 0;
  uint32_t open = 0;          // open reservations charging it
  bool dirty = false;
};

// INVARIANT: sum == base + the sum of entries' amounts.
// INVARIANT: reserved == the sum of the entries' amounts that belong to open
// reservations (so 0 <= reserved <= sum: an open reservation whose entry left
// the window counts neither as used nor as reserved).
struct LimitLog {
  std::string limit, key;
  Window window;
  LimitUnit unit = LimitUnit::kRequests;
  int64_t max = 0;
  int64_t length_ms = 0;      // SlidingLength(window)
  int64_t base = 0;           // lifetime limits: units of closed reservations
  int64_t reserved = 0;       // units of open reservations still in `entries`
  uint32_t open = 0;          // open reservations charging it (in the window or not)
  std::map<std::pair<int64_t, uint64_t>, int64_t> entries;  // (at_ms, reservation) -> units
  int64_t sum = 0;
  bool dirty_base = false;
};

struct Charge {
  BudgetCounter* budget = nullptr;  // exactly one of budget / limit
  LimitLog* limit = nullptr;
  int64_t amount = 0;
  int64_t at_ms = 0;                // limit entries: the entry's time
};

struct Reservation {
  uint64_t id = 0;
  int64_t created_ms = 0, expires_ms = 0;
  std::vector<Charge> charges;
};

// --- rows handed to the persistence layer (copies, taken under the lock) ---
struct CounterRow {
  std::string budget, key, window;
  int64_t start_ms, end_ms, limit, spent, reserved;
};
struct LimitRow {
  std::string limit, key, window;
  uint64_t reservation;          // 0 = the lifetime base row
  int64_t at_ms, expires_ms, amount, max;
  LimitUnit unit;
  bool erase;
};
struct ChargeRow {
  bool is_budget;
  std::string name, key, window;
  int64_t window_start_ms;       // budgets: the counter's window; limits: the entry time
  int64_t amount;
};
struct ReservationRow {
  uint64_t id;
  int64_t created_ms, expires_ms;
  std::vector<ChargeRow> charges;
};
struct Batch {
  uint64_t seq = 0;              // every mutation numbered <= seq is in this batch
  uint64_t next_id = 1;
  int64_t now_ms = 0;
  std::vector<CounterRow> counters;
  std::vector<LimitRow> limits;
  std::vector<ReservationRow> upsert_reservations;
  std::vector<uint64_t> erase_reservations;
  bool empty() const {
    return counters.empty() && limits.empty() && upsert_reservations.empty() && erase_reservations.empty();
  }
};

class State {
 public:
  State(const Options& options, bool track_changes);

  Admission Reserve(const ReserveRequest& r, uint64_t* seq);
  Status Settle(uint64_t id, Usage actual, uint64_t* seq);
  Status Release(uint64_t id, uint64_t* seq);
  Admission Move(uint64_t id, Usage worst, uint64_t* seq);
  void Peek(const ReserveRequest& r, std::vector<CounterView>* out);
  void Snapshot(std::vector<CounterView>* out);
  int ExpireDue(uint64_t* seq);

  // Persistence: moves the pending changes into *out (false when none).
  bool TakeChanges(Batch* out);
  uint64_t last_seq();

  // Restoring (before use; no change tracking).
  void RestoreCounter(const CounterRow& row);
  void RestoreLimit(const LimitRow& row);
  void RestoreReservation(const ReservationRow& row);
  void SetNextId(uint64_t next);
  // Recomputes reserved/open counts from the restored reservations.
  void FinishRestore();

  int64_t now() const { return clock_->NowMs(); }

 private:
  using Lock = std::lock_guard<std::mutex>;
  BudgetCounter* CounterFor(const std::string& budget, const std::string& key, Window w,
                            int64_t start, int64_t end, bool create);
  LimitLog* LogFor(const std::string& limit, const std::string& key, Window w, bool create);
  void Prune(LimitLog* log, int64_t now);
  void CloseCharges(Reservation* res, bool charge_reserved, const Usage* actual, int64_t now);
  int ExpireLocked(int64_t now);
  void MarkLimit(LimitLog* log, uint64_t id, int64_t at, bool erase);
  void MarkReservation(uint64_t id, bool erase);
  void Touch(BudgetCounter* c);
  CounterView ViewOf(const BudgetCounter& c) const;
  CounterView ViewOf(const LimitLog& l, int64_t now) const;

  const Options options_;
  const Clock* clock_;
  const bool track_;
  std::mutex mu_;
  uint64_t next_id_ = 1;
  uint64_t seq_ = 0;
  std::unordered_map<std::string, std::unique_ptr<BudgetCounter>> counters_;
  std::unordered_map<std::string, std::unique_ptr<LimitLog>> logs_;
  std::unordered_map<uint64_t, Reservation> open_;
  using Due = std::pair<int64_t, uint64_t>;
  std::priority_queue<Due, std::vector<Due>, std::greater<Due>> expiry_;
  int64_t last_evict_ms_ = 0;

  // Pending changes (track_ only).
  std::vector<BudgetCounter*> dirty_counters_;
  std::map<std::pair<LimitLog*, uint64_t>, std::pair<int64_t, bool>> dirty_limits_;  // -> (at, erase)
  std::unordered_map<uint64_t, bool> dirty_res_;        // id -> erase
  std::unordered_set<uint64_t> persisted_;              // reservations on disk
  std::string scratch_;
};

}  // namespace tollgate::ledger::internal
