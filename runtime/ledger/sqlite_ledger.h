// The embedded ledger: counters in memory, persisted to one SQLite file (WAL)
// with group commit. The default ledger (`sqlite:PATH`).
//
// Ownership: one process owns a ledger file. Open takes an exclusive flock on
// the file and records the owner (pid, host, since) in table ledger_owner; a
// second process gets null and "ledger `PATH` is owned by pid 4242 on host
// gw-1 since 2026-11-30T01:00:00.000Z". The lock dies with its process, so a
// crashed owner never blocks the next one. Readers (ReadSnapshot, `tollgate
// spend`, finance's SQL) never need the lock.
//
// Durability (Options::strict):
//   batched (default) -- a writer thread commits all changes every
//     commit_interval_ms (1..10, default 5) in one transaction; Reserve
//     returns at memory speed. Settle, Release and Move report success only
//     once their change is committed: the writer commits at once when anyone
//     waits, and everyone waiting shares that commit (group commit; callers
//     arriving during a commit share the next). Their Async forms instead
//     append the changes to the change journal (internal/journal.h,
//     PATH-changes0/1) on the calling thread and call back at once; the
//     writer folds the journal into the database at its next commit, and
//     Open applies what a crashed process left there (Options::
//     change_journal). A kill -9 therefore loses at most the RESERVATIONS
//     made since the last commit -- never settled spend, and never a
//     reservation the caller settled, released or moved (a commit carries
//     every change before it). A committed reservation whose process died
//     before settling is restored and, never settled, expires and is
//     charged at its worst case: spend is never under-counted.
//     (synchronous=NORMAL: commits survive a process crash; a power failure
//     may lose the last ones; the file stays consistent.)
//   strict -- Reserve too is committed before it returns, and every commit
//     is fsynced (synchronous=FULL), surviving power loss.
//
// Reopening restores every counter of the current windows, every rate-limit
// entry still inside its window and every open reservation; reservations past
// their expiry are then charged at their reserved amount.
//
// Tables (plain SQL for finance; money in integer micro-units, 1 usd = 1e6;
// times in ms since the Unix epoch, UTC) -- docs/budgets.md has examples:
//   budget_counters(budget, key, window, window_start, window_start_ms,
//                   window_end_ms, limit_micros, spent_micros, reserved_micros,
//                   updated_ms)             one row per budget, key and window
//   limit_events(limit_name, key, window, reservation, at_ms, expires_ms,
//                units, max_units, unit) one row per admitted request inside its window
//   reservations(id, created_ms, expires_ms)                 open reservations
//   reservation_charges(reservation, kind, name, key, window, window_start_ms, amount)
//   ledger_owner(pid, host, since), ledger_meta(name, value)
//   view spend(budget, key, window, window_start, spent_usd, reserved_usd, limit_usd)
//
// Thread safety: thread-safe (ledger.h). Cost: batched Reserve+Settle is two
// hash lookups per charge under one mutex, plus, for Settle, waiting for the
// next group commit (SettleAsync: none; its callback comes from the writer);
// the writer's transaction runs outside that mutex.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "runtime/ledger/ledger.h"

namespace tollgate::ledger {

class SqliteLedger : public Ledger {
 public:
  // Opens or creates the ledger file. Returns null with *error set when the
  // file cannot be opened, is not a ledger, or another process owns it.
  // Cost: reads every current row.
  static std::unique_ptr<SqliteLedger> Open(const std::string& path, const Options& options,
                                            std::string* error);
  // Reads the counters of a ledger file without owning it (another process
  // may be writing). Current windows only, as of `now_ms`. Budget counters
  // include what the owner (or a crashed owner) has journaled but not yet
  // committed; rate-limit counts are as of the last commit. False with
  // *error when the file cannot be read.
  static bool ReadSnapshot(const std::string& path, int64_t now_ms, std::vector<CounterView>* out,
                           std::string* error);

  // Commits what is pending, then releases the file.
  ~SqliteLedger() override;

  Admission Reserve(const ReserveRequest& r) override;
  Status Settle(uint64_t reservation, Usage actual) override;
  Status Release(uint64_t reservation) override;
  Admission Move(uint64_t reservation, Usage new_worst_case) override;
  Status Peek(const ReserveRequest& r, std::vector<CounterView>* out) override;
  Status Snapshot(std::vector<CounterView>* out) override;
  int ExpireDue() override;
  Status Flush() override;
  // Non-blocking (ledger.h, Durability): `done` runs on the commit thread
  // once the change is committed, or at once on this thread.
  void ReserveAsync(const ReserveRequest& r, AdmissionCallback done) override;
  void SettleAsync(uint64_t reservation, Usage actual, StatusCallback done) override;
  void ReleaseAsync(uint64_t reservation, StatusCallback done) override;
  void MoveAsync(uint64_t reservation, Usage new_worst_case, AdmissionCallback done) override;

  // Every change numbered <= committed_seq() is on disk; each call above
  // takes the next number, and last_seq() is the latest taken. Tests use
  // them to check the batched-mode bound.
  uint64_t committed_seq() const;
  uint64_t last_seq() const;

  struct Impl;

 private:
  explicit SqliteLedger(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tollgate::ledger
