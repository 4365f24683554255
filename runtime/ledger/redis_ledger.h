// The Redis ledger (`redis://HOST:PORT/DB`): budgets and rate limits shared
// by many gateway replicas.
//
// Every call is ONE command: an EVALSHA of one server-side Lua script
// (runtime/ledger/redis_script.cc; loaded with SCRIPT LOAD on connect and
// again after NOSCRIPT), so Reserve checks and charges all of a request's
// counters atomically -- all or nothing -- whatever the other replicas do.
// Every 8th admission also charges up to 16 expired reservations at their
// reserved amount (spend is never under-counted when a replica dies).
//
// Round trips are shared: concurrent blocking callers are combined -- the
// first sends everything queued as one pipeline and hands each caller its
// reply -- and the Async forms are queued for the ledger's I/O thread, which
// pipelines up to 1,024 commands per round trip and runs the callbacks.
//
// Keys (prefix `tg:`; one logical database; standalone Redis, not Cluster):
//   tg:b:<budget>:<window>:<start>:<key>  hash: spent, reserved (micros),
//        limit, and name/key/window/start for `tollgate spend`; expires one
//        day after its window ends (lifetime: never)
//   tg:l:<limit>:<window>:<key>  sorted set of reservation ids by time, and
//   tg:la:<limit>:<window>:<key> hash id -> units plus `_sum` (units in the
//        window), `_res` (those of open reservations), `_old` (a lower bound
//        of the oldest entry's time: pruning is skipped while it is inside
//        the window) and `_exp`; both keys expire one to two times
//        max(window, reservation ttl) after the last admission. A
//        reservation closed after its counters expired (no sweep ran
//        meanwhile) changes nothing there: no call ever recreates an expired
//        counter key, so no key but tg:seq lives without an expiry
//   tg:r:<id>   an open reservation (its charges, JSON); tg:rexp: ids by expiry
//   tg:seq      the reservation id counter
//
// Time: the caller's clock (Options::clock) is sent with each call, so
// replicas must keep their clocks in sync (NTP); rolling windows use it too.
//
// Unreachable server (refused, timeout, error reply): 503
// budget_store_unavailable by default (fail closed). With
// Options::fail_open the request is admitted unverified (reservation 0) and
// Options::on_fail_open is called with a one-line message (from the thread
// that got the reply). The connection is re-established on the next call; a
// connection the server closed is noticed before anything is sent on it. A
// command whose reply was lost is retried once only when running it twice is
// harmless (settle, release, move, peek); a reserve is never sent twice (it
// would reserve twice): its caller gets 503, and if it did run, its
// reservation expires and is charged once. A settle retried that way may
// answer reservation_unknown although it was applied.
//
// Thread safety: thread-safe; share one RedisLedger between all threads
// (one connection; concurrent calls are pipelined together).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "runtime/ledger/ledger.h"

namespace tollgate::ledger {

class RedisLedger : public Ledger {
 public:
  // Never null for valid arguments: when the server cannot be reached yet,
  // the ledger is returned and its calls answer per fail_open. Null with
  // *error only for invalid options.
  static std::unique_ptr<RedisLedger> Open(const std::string& host, int port, int db, const Options& options,
                                           std::string* error);
  ~RedisLedger() override;

  Admission Reserve(const ReserveRequest& r) override;
  Status Settle(uint64_t reservation, Usage actual) override;
  Status Release(uint64_t reservation) override;
  Admission Move(uint64_t reservation, Usage new_worst_case) override;
  Status Peek(const ReserveRequest& r, std::vector<CounterView>* out) override;
  Status Snapshot(std::vector<CounterView>* out) override;
  int ExpireDue() override;
  // Waits until every Async call made before it has been answered.
  Status Flush() override;
  bool fail_open() const override;
  // Non-blocking (ledger.h): queued for the ledger's I/O thread, which sends
  // everything queued as one pipeline and runs `done` with each reply.
  void ReserveAsync(const ReserveRequest& r, AdmissionCallback done) override;
  void SettleAsync(uint64_t reservation, Usage actual, StatusCallback done) override;
  void ReleaseAsync(uint64_t reservation, StatusCallback done) override;
  void MoveAsync(uint64_t reservation, Usage new_worst_case, AdmissionCallback done) override;

  // Pipelined forms: all commands are sent, then all replies read (one
  // network round trip for the lot). Same results as calling one by one.
  std::vector<Admission> ReserveMany(const std::vector<ReserveRequest>& requests);
  std::vector<Status> SettleMany(const std::vector<std::pair<uint64_t, Usage>>& settlements);

  struct Impl;

 private:
  explicit RedisLedger(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tollgate::ledger
