#include "runtime/ledger/sqlite_ledger.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cerrno>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <map>
#include <tuple>
#include <mutex>
#include <thread>

#include "runtime/ledger/internal/journal.h"
#include "runtime/ledger/internal/state.h"

namespace tollgate::ledger {

using internal::Batch;
using internal::ChargeRow;
using internal::CounterRow;
using internal::LimitRow;
using internal::ReservationRow;

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS ledger_meta(name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ledger_owner(
  id INTEGER PRIMARY KEY CHECK (id = 1), pid INTEGER NOT NULL, host TEXT NOT NULL, since TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS budget_counters(
  budget TEXT NOT NULL, key TEXT NOT NULL, window TEXT NOT NULL,
  window_start TEXT NOT NULL, window_start_ms INTEGER NOT NULL, window_end_ms INTEGER NOT NULL,
  limit_micros INTEGER NOT NULL, spent_micros INTEGER NOT NULL, reserved_micros INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL,
  PRIMARY KEY (budget, key, window, window_start_ms)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS limit_events(
  limit_name TEXT NOT NULL, key TEXT NOT NULL, window TEXT NOT NULL, reservation INTEGER NOT NULL,
  at_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL, units INTEGER NOT NULL,
  max_units INTEGER NOT NULL, unit TEXT NOT NULL,
  PRIMARY KEY (limit_name, key, window, reservation));
CREATE INDEX IF NOT EXISTS limit_events_expiry ON limit_events(expires_ms);
CREATE TABLE IF NOT EXISTS reservations(
  id INTEGER PRIMARY KEY, created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS reservation_charges(
  reservation INTEGER NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, key TEXT NOT NULL,
  window TEXT NOT NULL, window_start_ms INTEGER NOT NULL, amount INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS reservation_charges_by_id ON reservation_charges(reservation);
CREATE VIEW IF NOT EXISTS spend AS
  SELECT budget, key, window, window_start, spent_micros / 1e6 AS spent_usd,
         reserved_micros / 1e6 AS reserved_usd, limit_micros / 1e6 AS limit_usd
  FROM budget_counters;
INSERT OR IGNORE INTO ledger_meta(name, value) VALUES ('schema_version', '1');
)sql";

// A prepared statement, finalized on destruction.
class Stmt {
 public:
  Stmt() = default;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt() { Finalize(); }
  void Finalize() {
    sqlite3_finalize(s_);
    s_ = nullptr;
  }
  bool Prepare(sqlite3* db, const char* sql) { return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s_, nullptr) == SQLITE_OK; }
  Stmt& Text(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Int(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  // Steps to completion; false on error.
  bool Run() {
    int rc = sqlite3_step(s_);
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
    return rc == SQLITE_DONE || rc == SQLITE_ROW;
  }
  bool Row() { return sqlite3_step(s_) == SQLITE_ROW; }
  int64_t ColInt(int i) { return sqlite3_column_int64(s_, i); }
  std::string ColText(int i) {
    const unsigned char* t = sqlite3_column_text(s_, i);
    return t ? std::string(reinterpret_cast<const char*>(t), sqlite3_column_bytes(s_, i)) : std::string();
  }
  sqlite3_stmt* get() { return s_; }

 private:
  sqlite3_stmt* s_ = nullptr;
};

bool Exec(sqlite3* db, const char* sql, std::string* error) {
  char* msg = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &msg) == SQLITE_OK) return true;
  *error = msg ? msg : sqlite3_errmsg(db);
  sqlite3_free(msg);
  return false;
}

std::string HostName() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

LimitUnit UnitOf(const std::string& s) { return s == "tokens" ? LimitUnit::kTokens : LimitUnit::kRequests; }
const char* UnitName(LimitUnit u) { return u == LimitUnit::kTokens ? "tokens" : "requests"; }

}  // namespace

// Group commit for async callers: the writer waits up to
// Options::group_linger_us for kGroupSize of them before committing
// (blocking callers: at once).
constexpr size_t kGroupSize = 128;

struct SqliteLedger::Impl {
  Options options;
  std::string path;
  int lock_fd = -1;
  sqlite3* db = nullptr;
  internal::State state;

  Stmt upsert_counter, upsert_limit, erase_limit, expire_limits, upsert_res, erase_res, erase_charges,
      insert_charge, put_meta, begin, commit, rollback;

  // Batched mode: async callers append their changes to the journal
  // themselves and are answered at once (JournalNow); the writer folds
  // `journaled` into the database every commit_interval_ms (journal.h).
  // Two files (PATH-changes0/1): callers append to journals[active]; each
  // commit switches files and empties the one it folded in. Guarded by
  // journal_mu (taken before mu, never after).
  std::mutex journal_mu;
  internal::Journal journals[2];
  int active = 0;
  uint64_t journaled_seq = 0;      // every change <= it is in a journal or the database
  std::vector<Batch> journaled;    // appended, not yet in the database
  bool journal_on = false;         // set at open

  std::thread writer;
  mutable std::mutex mu;              // guards the fields below
  std::condition_variable wake;       // to the writer
  std::condition_variable committed;  // to waiters
  uint64_t committed_seq = 0;         // durable: in the database or the journal
  uint64_t database_seq = 0;          // in the database (what other connections read)
  int waiters = 0;                    // strict callers / Flush waiting for a commit
  bool stop = false;
  bool failed = false;
  std::string failure;
  int64_t last_expire_ms = 0;
  bool owner_written = false;
  // Async callers waiting for change `seq` to be committed.
  struct Waiting {
    uint64_t seq;
    std::function<void(bool durable, const std::string& why)> done;
  };
  std::vector<Waiting> pending;
  bool calling = false;  // the writer is running callbacks

  Impl(const Options& o, std::string p) : options(o), path(std::move(p)), state(o, true) {}

  // Stops the writer (after a last commit), gives up ownership, closes.
  ~Impl() {
    if (writer.joinable()) {
      {
        std::lock_guard<std::mutex> l(mu);
        stop = true;
      }
      wake.notify_all();
      writer.join();
    }
    if (db != nullptr) {
      for (Stmt* s : {&upsert_counter, &upsert_limit, &erase_limit, &expire_limits, &upsert_res, &erase_res,
                      &erase_charges, &insert_charge, &put_meta, &begin, &commit, &rollback})
        s->Finalize();
      std::string e;
      if (owner_written) Exec(db, "DELETE FROM ledger_owner;", &e);
      sqlite3_close(db);
    }
    if (lock_fd >= 0) ::close(lock_fd);
  }

  bool Prepare(std::string* error) {
    struct { Stmt* s; const char* sql; } all[] = {
        {&upsert_counter,
         "INSERT INTO budget_counters(budget,key,window,window_start,window_start_ms,window_end_ms,"
         "limit_micros,spent_micros,reserved_micros,updated_ms) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10) "
         "ON CONFLICT(budget,key,window,window_start_ms) DO UPDATE SET limit_micros=excluded.limit_micros,"
         "spent_micros=excluded.spent_micros,reserved_micros=excluded.reserved_micros,updated_ms=excluded.updated_ms"},
        {&upsert_limit,
         "INSERT INTO limit_events(limit_name,key,window,reservation,at_ms,expires_ms,units,max_units,unit) "
         "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9) ON CONFLICT(limit_name,key,window,reservation) DO UPDATE SET "
         "at_ms=excluded.at_ms,expires_ms=excluded.expires_ms,units=excluded.units,max_units=excluded.max_units,"
         "unit=excluded.unit"},
        {&erase_limit, "DELETE FROM limit_events WHERE limit_name=?1 AND key=?2 AND window=?3 AND reservation=?4"},
        {&expire_limits, "DELETE FROM limit_events WHERE expires_ms <= ?1"},
        {&upsert_res, "INSERT OR REPLACE INTO reservations(id,created_ms,expires_ms) VALUES(?1,?2,?3)"},
        {&erase_res, "DELETE FROM reservations WHERE id=?1"},
        {&erase_charges, "DELETE FROM reservation_charges WHERE reservation=?1"},
        {&insert_charge,
         "INSERT INTO reservation_charges(reservation,kind,name,key,window,window_start_ms,amount) "
         "VALUES(?1,?2,?3,?4,?5,?6,?7)"},
        {&put_meta, "INSERT OR REPLACE INTO ledger_meta(name,value) VALUES(?1,?2)"},
        {&begin, "BEGIN IMMEDIATE"},
        {&commit, "COMMIT"},
        {&rollback, "ROLLBACK"},
    };
    for (auto& a : all) {
      if (!a.s->Prepare(db, a.sql)) {
        *error = std::string("cannot prepare ledger statement: ") + sqlite3_errmsg(db);
        return false;
      }
    }
    return true;
  }

  bool Load(std::string* error) {
    const int64_t now = state.now();
    Stmt q;
    if (!q.Prepare(db,
                   "SELECT budget,key,window,window_start_ms,window_end_ms,limit_micros,spent_micros "
                   "FROM budget_counters c WHERE window_end_ms > ?1 OR EXISTS (SELECT 1 FROM reservation_charges r "
                   "WHERE r.kind='budget' AND r.name=c.budget AND r.key=c.key AND r.window=c.window "
                   "AND r.window_start_ms=c.window_start_ms)")) {
      *error = sqlite3_errmsg(db);
      return false;
    }
    q.Int(1, now);
    while (q.Row()) {
      state.RestoreCounter(CounterRow{q.ColText(0), q.ColText(1), q.ColText(2), q.ColInt(3), q.ColInt(4),
                                      q.ColInt(5), q.ColInt(6), 0});
    }
    Stmt l;
    if (!l.Prepare(db,
                   "SELECT limit_name,key,window,reservation,at_ms,expires_ms,units,max_units,unit "
                   "FROM limit_events WHERE expires_ms > ?1")) {
      *error = sqlite3_errmsg(db);
      return false;
    }
    l.Int(1, now);
    while (l.Row()) {
      state.RestoreLimit(LimitRow{l.ColText(0), l.ColText(1), l.ColText(2), static_cast<uint64_t>(l.ColInt(3)),
                                  l.ColInt(4), l.ColInt(5), l.ColInt(6), l.ColInt(7), UnitOf(l.ColText(8)),
                                  false});
    }
    Stmt r;
    if (!r.Prepare(db,
                   "SELECT r.id,r.created_ms,r.expires_ms,c.kind,c.name,c.key,c.window,c.window_start_ms,c.amount "
                   "FROM reservations r LEFT JOIN reservation_charges c ON c.reservation=r.id ORDER BY r.id")) {
      *error = sqlite3_errmsg(db);
      return false;
    }
    ReservationRow cur{0, 0, 0, {}};
    bool have = false;
    while (r.Row()) {
      uint64_t id = static_cast<uint64_t>(r.ColInt(0));
      if (!have || id != cur.id) {
        if (have) state.RestoreReservation(cur);
        cur = ReservationRow{id, r.ColInt(1), r.ColInt(2), {}};
        have = true;
      }
      if (sqlite3_column_type(r.get(), 3) != SQLITE_NULL) {
        cur.charges.push_back(ChargeRow{r.ColText(3) == "budget", r.ColText(4), r.ColText(5), r.ColText(6),
                                        r.ColInt(7), r.ColInt(8)});
      }
    }
    if (have) state.RestoreReservation(cur);
    Stmt m;
    if (m.Prepare(db, "SELECT value FROM ledger_meta WHERE name='next_reservation'") && m.Row()) {
      const std::string v = m.ColText(0);
      uint64_t next = 0;
      std::from_chars(v.data(), v.data() + v.size(), next);  // 0 (ignored) when malformed
      state.SetNextId(next);
    }
    state.FinishRestore();
    return true;
  }

  // Writes batches, in order, in one transaction, and records the last
  // batch's number as `journal_seq` (journal batches numbered up to it are
  // in the database). False (and `failed`) on error.
  bool Write(const std::vector<const Batch*>& batches, uint64_t journal_seq) {
    if (!begin.Run()) return Fail("begin");
    for (const Batch* b : batches)
      if (!WriteRows(*b)) return false;
    const Batch& last = *batches.back();
    if (last.now_ms - last_expire_ms >= 1000) {
      last_expire_ms = last.now_ms;
      if (!expire_limits.Int(1, last.now_ms).Run()) return Fail("limit_events");
    }
    if (!put_meta.Text(1, "next_reservation").Text(2, std::to_string(last.next_id)).Run() ||
        !put_meta.Text(1, "journal_seq").Text(2, std::to_string(journal_seq)).Run())
      return Fail("ledger_meta");
    if (!commit.Run()) return Fail("commit");
    return true;
  }

  bool WriteRows(const Batch& b) {
    for (const CounterRow& c : b.counters) {
      Window w;
      ParseWindowName(c.window, &w);
      if (!upsert_counter.Text(1, c.budget).Text(2, c.key).Text(3, c.window)
               .Text(4, FormatUtc(c.start_ms)).Int(5, c.start_ms).Int(6, c.end_ms).Int(7, c.limit)
               .Int(8, c.spent).Int(9, c.reserved).Int(10, b.now_ms).Run())
        return Fail("budget_counters");
    }
    for (const LimitRow& l : b.limits) {
      bool ok = l.erase ? erase_limit.Text(1, l.limit).Text(2, l.key).Text(3, l.window)
                              .Int(4, static_cast<int64_t>(l.reservation)).Run()
                        : upsert_limit.Text(1, l.limit).Text(2, l.key).Text(3, l.window)
                              .Int(4, static_cast<int64_t>(l.reservation)).Int(5, l.at_ms).Int(6, l.expires_ms)
                              .Int(7, l.amount).Int(8, l.max).Text(9, UnitName(l.unit)).Run();
      if (!ok) return Fail("limit_events");
    }
    for (uint64_t id : b.erase_reservations) {
      if (!erase_res.Int(1, static_cast<int64_t>(id)).Run() ||
          !erase_charges.Int(1, static_cast<int64_t>(id)).Run())
        return Fail("reservations");
    }
    for (const ReservationRow& r : b.upsert_reservations) {
      const int64_t id = static_cast<int64_t>(r.id);
      if (!upsert_res.Int(1, id).Int(2, r.created_ms).Int(3, r.expires_ms).Run() || !erase_charges.Int(1, id).Run())
        return Fail("reservations");
      for (const ChargeRow& c : r.charges) {
        if (!insert_charge.Int(1, id).Text(2, c.is_budget ? "budget" : "limit").Text(3, c.name).Text(4, c.key)
                 .Text(5, c.window).Int(6, c.window_start_ms).Int(7, c.amount).Run())
          return Fail("reservation_charges");
      }
    }
    return true;
  }

  bool Fail(const char* what) {
    rollback.Run();
    return Failed(std::string("cannot write ledger `") + path + "` (" + what + "): " + sqlite3_errmsg(db));
  }

  bool Failed(std::string msg) {
    std::lock_guard<std::mutex> l(mu);
    failed = true;
    failure = msg;
    committed.notify_all();
    return false;
  }

  // The writer: commits every commit_interval_ms, or at once when someone
  // waits for a commit (group commit: everyone waiting shares it, and those
  // arriving during a commit share the next one). With the journal, async
  // callers never wait for it (JournalNow): it only folds the journal into
  // the database every interval, or at once for a blocking caller or Flush.
  void Run() {
    Batch b;
    std::vector<Batch> batches;
    std::vector<Waiting> ready;
    std::unique_lock<std::mutex> l(mu);
    for (;;) {
      if (!stop && waiters == 0 && (journal_on || pending.empty())) {
        wake.wait_for(l, std::chrono::milliseconds(options.commit_interval_ms),
                      [this] { return stop || waiters > 0 || (!journal_on && !pending.empty()); });
      }
      if (!journal_on && !stop && waiters == 0 && !pending.empty() && pending.size() < kGroupSize &&
          options.group_linger_us > 0) {
        // Only async callers wait: let a group gather (bounded latency).
        wake.wait_for(l, std::chrono::microseconds(options.group_linger_us),
                      [this] { return stop || waiters > 0 || pending.size() >= kGroupSize; });
      }
      const bool stopping = stop;
      l.unlock();
      bool ok = true;
      int used = -1;  // the journal file these batches were in
      {
        std::lock_guard<std::mutex> j(journal_mu);
        batches.swap(journaled);
        if (state.TakeChanges(&b)) {
          if (journal_on && !stopping) {
            // Into the other file with what comes next, so that async
            // callers whose change this took find it journaled.
            std::string e;
            ok = journals[active ^ 1].Append(b, &e) || Failed(e);
            if (ok) journaled_seq = b.seq;
          }
          batches.push_back(std::move(b));
          b = Batch{};
        }
        if (journal_on) {
          used = active;
          active ^= 1;
        }
      }
      uint64_t durable = 0;
      if (ok && !batches.empty()) {
        // An interval's batches carry the same counters many times and
        // reservations made and settled within it: write each row's last
        // state once (journal.h: rows are absolute values).
        if (batches.size() > 1) {
          Batch merged = internal::Coalesce(std::move(batches));
          batches.clear();
          batches.push_back(std::move(merged));
        }
        durable = batches.back().seq;
        ok = Write({&batches.back()}, durable);
      }
      batches.clear();
      if (ok && used >= 0) {
        std::string e;
        ok = journals[used].Clear(&e) || Failed(e);
        if (ok && stopping) ok = journals[used ^ 1].Clear(&e) || Failed(e);
      }
      l.lock();
      if (ok && durable > committed_seq) committed_seq = durable;
      if (ok) database_seq = std::max(database_seq, durable);
      committed.notify_all();
      // INVARIANT: a callback runs once, after its change is durable (or
      // the writer has failed for good).
      size_t keep = 0;
      for (Waiting& w : pending) {
        if (failed || w.seq <= committed_seq) ready.push_back(std::move(w));
        else pending[keep++] = std::move(w);
      }
      pending.resize(keep);
      if (!ready.empty()) {
        const uint64_t done_seq = committed_seq;
        const std::string why = failure;
        calling = true;
        l.unlock();
        for (Waiting& w : ready) w.done(w.seq <= done_seq, why);
        ready.clear();
        l.lock();
        calling = false;
        committed.notify_all();
      }
      if (stopping || failed) return;
    }
  }

  // Journal mode: appends every change not yet journaled to the active file
  // from the calling thread (one write(2)); true when change `seq` is then
  // journaled. The batches also go to the next commit.
  // Returns the journal's watermark (0 on a write failure).
  uint64_t JournalNow(uint64_t seq) {
    std::lock_guard<std::mutex> j(journal_mu);
    if (journaled_seq >= seq) return journaled_seq;
    Batch b;
    if (!state.TakeChanges(&b)) return journaled_seq;
    std::string e;
    if (!journals[active].Append(b, &e)) {
      Failed(e);
      return 0;
    }
    journaled_seq = b.seq;
    journaled.push_back(std::move(b));
    return journaled_seq;
  }

  // Calls done(durable, why) once change `seq` is durable: at once on this
  // thread when it already is (journal mode: once this thread has appended
  // it), or the writer failed; else from the writer.
  void WhenDurable(uint64_t seq, std::function<void(bool, const std::string&)> done) {
    uint64_t journaled_to = 0;
    if (journal_on) {
      {
        std::unique_lock<std::mutex> l(mu);
        if (failed) {
          const std::string why = failure;
          l.unlock();
          done(false, why);
          return;
        }
      }
      journaled_to = JournalNow(seq);
    }
    std::unique_lock<std::mutex> l(mu);
    if (journaled_to > committed_seq) committed_seq = journaled_to;
    if (committed_seq >= seq || failed) {
      const bool durable = committed_seq >= seq;
      const std::string why = failure;
      l.unlock();
      done(durable, why);
      return;
    }
    pending.push_back(Waiting{seq, std::move(done)});
    if (pending.size() == 1 || pending.size() == kGroupSize) wake.notify_one();
  }

  // Waits until change `seq` is committed. False when the writer failed.
  // With `callbacks`, also until the async callbacks of those changes have
  // run (Flush).
  // Blocking callers wait for the database itself (other connections, such
  // as `tollgate spend`, read it at once), not only the journal.
  bool WaitFor(uint64_t seq, bool callbacks = false) {
    std::unique_lock<std::mutex> l(mu);
    auto done = [&] { return database_seq >= seq && (!callbacks || !calling); };
    if (done()) return true;
    ++waiters;
    wake.notify_one();
    committed.wait(l, [&] { return done() || failed; });
    --waiters;
    return database_seq >= seq;
  }

  // Applies what a previous process left in the journal (the batches the
  // database does not have yet, in order), then empties it. Numbering
  // restarts with every process: journal_seq is reset to 0 in the same
  // transaction.
  bool Recover(std::string* error) {
    if (!journals[0].Open(path + "-changes0", error) || !journals[1].Open(path + "-changes1", error)) return false;
    journal_on = !options.strict && options.change_journal;
    std::vector<Batch> left, more;
    bool torn = false;
    if (!journals[0].ReadAll(&left, &torn, error) || !journals[1].ReadAll(&more, &torn, error)) return false;
    for (Batch& b : more) left.push_back(std::move(b));
    std::stable_sort(left.begin(), left.end(), [](const Batch& a, const Batch& b) { return a.seq < b.seq; });
    uint64_t done_seq = 0;
    Stmt m;
    if (m.Prepare(db, "SELECT value FROM ledger_meta WHERE name='journal_seq'") && m.Row()) {
      const std::string v = m.ColText(0);
      std::from_chars(v.data(), v.data() + v.size(), done_seq);
    }
    m.Finalize();
    std::vector<const Batch*> apply;
    for (const Batch& b : left)
      if (b.seq > done_seq) apply.push_back(&b);
    if (apply.empty()) {
      if (!put_meta.Text(1, "journal_seq").Text(2, "0").Run()) {
        *error = std::string("cannot write ledger `") + path + "`: " + sqlite3_errmsg(db);
        return false;
      }
    } else {
      last_expire_ms = INT64_MAX / 2;  // expiry is Load's business
      if (!Write(apply, 0)) {
        *error = failure;
        return false;
      }
      last_expire_ms = 0;
    }
    return journals[0].Clear(error) && journals[1].Clear(error);
  }

  bool Healthy(std::string* why) {
    std::lock_guard<std::mutex> l(mu);
    if (failed) *why = failure;
    return !failed;
  }
};

SqliteLedger::SqliteLedger(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

std::unique_ptr<SqliteLedger> SqliteLedger::Open(const std::string& path, const Options& options, std::string* error) {
  if (options.commit_interval_ms < 1 || options.commit_interval_ms > 10) {
    *error = "commit interval must be from 1 to 10 ms, not " + std::to_string(options.commit_interval_ms);
    return nullptr;
  }
  auto impl = std::make_unique<Impl>(options, path);
  impl->lock_fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (impl->lock_fd < 0) {
    *error = "cannot open ledger `" + path + "`: " + std::strerror(errno);
    return nullptr;
  }
  if (flock(impl->lock_fd, LOCK_EX | LOCK_NB) != 0) {
    std::string owner = "another process";
    sqlite3* ro = nullptr;
    if (sqlite3_open_v2(path.c_str(), &ro, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
      sqlite3_busy_timeout(ro, 1000);
      Stmt q;
      if (q.Prepare(ro, "SELECT pid, host, since FROM ledger_owner WHERE id=1") && q.Row()) {
        owner = "pid " + std::to_string(q.ColInt(0)) + " on host " + q.ColText(1) + " since " + q.ColText(2);
      }
    }
    sqlite3_close(ro);
    *error = "ledger `" + path + "` is owned by " + owner + "; only one process may own a ledger file";
    return nullptr;
  }
  if (sqlite3_open_v2(path.c_str(), &impl->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    *error = "cannot open ledger `" + path + "`: " + sqlite3_errmsg(impl->db);
    return nullptr;
  }
  sqlite3_busy_timeout(impl->db, 5000);
  std::string e;
  const char* sync = options.strict ? "PRAGMA synchronous=FULL;" : "PRAGMA synchronous=NORMAL;";
  if (!Exec(impl->db, "PRAGMA journal_mode=WAL;", &e) || !Exec(impl->db, sync, &e) ||
      !Exec(impl->db, kSchema, &e)) {
    *error = "cannot open ledger `" + path + "`: " + e;
    return nullptr;
  }
  Stmt own;
  if (!own.Prepare(impl->db, "INSERT OR REPLACE INTO ledger_owner(id,pid,host,since) VALUES(1,?1,?2,?3)") ||
      !own.Int(1, getpid()).Text(2, HostName()).Text(3, FormatUtc(SystemClock::Get().NowMs())).Run() ||
      !impl->Prepare(&e) || !impl->Recover(&e) || !impl->Load(&e)) {
    *error = "cannot open ledger `" + path + "`: " + (e.empty() ? sqlite3_errmsg(impl->db) : e);
    return nullptr;
  }
  impl->owner_written = true;
  Impl* p = impl.get();
  p->writer = std::thread([p] { p->Run(); });
  return std::unique_ptr<SqliteLedger>(new SqliteLedger(std::move(impl)));
}

SqliteLedger::~SqliteLedger() = default;

namespace {

Status IoError(SqliteLedger::Impl* impl) {
  std::string why;
  impl->Healthy(&why);
  return Status::Error("ledger_io_error", why);
}

Admission Unavailable(SqliteLedger::Impl* impl) {
  Admission a;
  a.verdict = Verdict::kUnavailable;
  impl->Healthy(&a.message);
  return a;
}

}  // namespace

Admission SqliteLedger::Reserve(const ReserveRequest& r) {
  Admission a;
  std::string why;
  if (!impl_->Healthy(&why)) {
    a.verdict = Verdict::kUnavailable;
    a.message = why;
    return a;
  }
  uint64_t seq = 0;
  a = impl_->state.Reserve(r, &seq);
  if (a.admitted() && seq != 0 && impl_->options.strict && !impl_->WaitFor(seq)) return Unavailable(impl_.get());
  return a;
}

Status SqliteLedger::Settle(uint64_t id, Usage actual) {
  uint64_t seq = 0;
  Status s = impl_->state.Settle(id, actual, &seq);
  if (s.ok && seq != 0 && !impl_->WaitFor(seq)) return IoError(impl_.get());
  return s;
}

Status SqliteLedger::Release(uint64_t id) {
  uint64_t seq = 0;
  Status s = impl_->state.Release(id, &seq);
  if (s.ok && seq != 0 && !impl_->WaitFor(seq)) return IoError(impl_.get());
  return s;
}

Admission SqliteLedger::Move(uint64_t id, Usage worst) {
  uint64_t seq = 0;
  Admission a = impl_->state.Move(id, worst, &seq);
  if (a.admitted() && seq != 0 && !impl_->WaitFor(seq)) return Unavailable(impl_.get());
  return a;
}

void SqliteLedger::ReserveAsync(const ReserveRequest& r, AdmissionCallback done) {
  Admission a;
  std::string why;
  if (!impl_->Healthy(&why)) {
    a.verdict = Verdict::kUnavailable;
    a.message = why;
    done(a);
    return;
  }
  uint64_t seq = 0;
  a = impl_->state.Reserve(r, &seq);
  if (!a.admitted() || seq == 0 || !impl_->options.strict) {
    done(a);
    return;
  }
  Impl* impl = impl_.get();
  impl->WhenDurable(seq, [impl, a = std::move(a), done = std::move(done)](bool durable, const std::string&) {
    done(durable ? a : Unavailable(impl));
  });
}

void SqliteLedger::SettleAsync(uint64_t id, Usage actual, StatusCallback done) {
  uint64_t seq = 0;
  Status s = impl_->state.Settle(id, actual, &seq);
  if (!s.ok || seq == 0) {
    done(s);
    return;
  }
  impl_->WhenDurable(seq, [done = std::move(done)](bool durable, const std::string& why) {
    done(durable ? Status::Ok() : Status::Error("ledger_io_error", why));
  });
}

void SqliteLedger::ReleaseAsync(uint64_t id, StatusCallback done) {
  uint64_t seq = 0;
  Status s = impl_->state.Release(id, &seq);
  if (!s.ok || seq == 0) {
    done(s);
    return;
  }
  impl_->WhenDurable(seq, [done = std::move(done)](bool durable, const std::string& why) {
    done(durable ? Status::Ok() : Status::Error("ledger_io_error", why));
  });
}

void SqliteLedger::MoveAsync(uint64_t id, Usage worst, AdmissionCallback done) {
  uint64_t seq = 0;
  Admission a = impl_->state.Move(id, worst, &seq);
  if (!a.admitted() || seq == 0) {
    done(a);
    return;
  }
  Impl* impl = impl_.get();
  impl->WhenDurable(seq, [impl, a = std::move(a), done = std::move(done)](bool durable, const std::string&) {
    done(durable ? a : Unavailable(impl));
  });
}

Status SqliteLedger::Peek(const ReserveRequest& r, std::vector<CounterView>* out) {
  impl_->state.Peek(r, out);
  return Status::Ok();
}

Status SqliteLedger::Snapshot(std::vector<CounterView>* out) {
  impl_->state.Snapshot(out);
  return Status::Ok();
}

int SqliteLedger::ExpireDue() {
  uint64_t seq = 0;
  int n = impl_->state.ExpireDue(&seq);
  if (n > 0) impl_->WaitFor(seq);  // expired reservations are charged: spend
  return n;
}

Status SqliteLedger::Flush() {
  if (!impl_->WaitFor(impl_->state.last_seq(), /*callbacks=*/true)) {
    std::string why;
    impl_->Healthy(&why);
    return Status::Error("ledger_io_error", why);
  }
  return Status::Ok();
}

uint64_t SqliteLedger::committed_seq() const {
  std::lock_guard<std::mutex> l(impl_->mu);
  return impl_->committed_seq;
}

uint64_t SqliteLedger::last_seq() const { return impl_->state.last_seq(); }

bool SqliteLedger::ReadSnapshot(const std::string& path, int64_t now, std::vector<CounterView>* out,
                                std::string* error) {
  out->clear();
  if (::access(path.c_str(), R_OK) != 0) {
    *error = "cannot read ledger `" + path + "`: " + std::strerror(errno);
    return false;
  }
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    *error = "cannot read ledger `" + path + "`: " + sqlite3_errmsg(db);
    sqlite3_close(db);
    return false;
  }
  sqlite3_busy_timeout(db, 5000);
  // The owner's change journal (read before the database: a commit that
  // lands in between raises journal_seq past what was read, never below).
  std::vector<Batch> journaled;
  for (const char* suffix : {"-changes0", "-changes1"}) {
    internal::Journal j;
    std::vector<Batch> part;
    bool torn = false;
    std::string ignored;
    if (::access((path + suffix).c_str(), R_OK) == 0 && j.Open(path + suffix, &ignored) &&
        j.ReadAll(&part, &torn, &ignored)) {
      for (Batch& b : part) journaled.push_back(std::move(b));
    }
  }
  std::stable_sort(journaled.begin(), journaled.end(), [](const Batch& a, const Batch& b) { return a.seq < b.seq; });
  bool ok = true;
  {
    Stmt begin_read, end_read;
    if (begin_read.Prepare(db, "BEGIN")) begin_read.Run();  // one snapshot for both reads
    uint64_t journal_seq = 0;
    Stmt m;
    if (m.Prepare(db, "SELECT value FROM ledger_meta WHERE name='journal_seq'") && m.Row()) {
      const std::string v = m.ColText(0);
      std::from_chars(v.data(), v.data() + v.size(), journal_seq);
    }
    m.Finalize();
    // Budget counters by (budget, key, window, start): the database's, then
    // the journal's newer absolute values on top.
    std::map<std::tuple<std::string, std::string, std::string, int64_t>, CounterRow> rows;
    Stmt q;
    if (!q.Prepare(db,
                   "SELECT budget,key,window,window_start_ms,window_end_ms,limit_micros,spent_micros,reserved_micros "
                   "FROM budget_counters WHERE window_end_ms > ?1")) {
      *error = "cannot read ledger `" + path + "`: " + sqlite3_errmsg(db);
      ok = false;
    } else {
      q.Int(1, now);
      while (q.Row()) {
        CounterRow c{q.ColText(0), q.ColText(1), q.ColText(2), q.ColInt(3), q.ColInt(4),
                     q.ColInt(5), q.ColInt(6), q.ColInt(7)};
        rows[{c.budget, c.key, c.window, c.start_ms}] = std::move(c);
      }
    }
    for (const Batch& b : journaled) {
      if (b.seq <= journal_seq) continue;
      for (const CounterRow& c : b.counters)
        if (c.end_ms > now) rows[{c.budget, c.key, c.window, c.start_ms}] = c;
    }
    for (auto& [k, c] : rows) {
      CounterView v;
      v.kind = CounterView::Kind::kBudget;
      v.name = c.budget;
      v.key = c.key;
      v.window = c.window;
      v.window_start_ms = c.start_ms;
      Window w;
      if (ParseWindowName(v.window, &w)) v.window_label = WindowLabel(w, v.window_start_ms);
      v.limit = c.limit;
      v.spent = c.spent;
      v.reserved = c.reserved;
      v.remaining = std::max<int64_t>(0, v.limit - v.spent - v.reserved);
      out->push_back(std::move(v));
    }
    Stmt l;
    if (ok && l.Prepare(db,
                        "SELECT e.limit_name,e.key,e.window,max(e.max_units),max(e.unit),sum(e.units),"
                        "sum(CASE WHEN r.id IS NULL THEN 0 ELSE e.units END) FROM limit_events e "
                        "LEFT JOIN reservations r ON r.id=e.reservation WHERE e.expires_ms > ?1 "
                        "GROUP BY e.limit_name,e.key,e.window ORDER BY 1,2,3")) {
      l.Int(1, now);
      while (l.Row()) {
        CounterView v;
        v.kind = CounterView::Kind::kLimit;
        v.name = l.ColText(0);
        v.key = l.ColText(1);
        v.window = l.ColText(2);
        v.window_label = v.window == "lifetime" ? "lifetime" : "sliding";
        v.limit = l.ColInt(3);
        v.unit = UnitOf(l.ColText(4));
        v.reserved = l.ColInt(6);
        v.spent = l.ColInt(5) - v.reserved;
        v.remaining = std::max<int64_t>(0, v.limit - v.spent - v.reserved);
        out->push_back(std::move(v));
      }
    }
    if (end_read.Prepare(db, "COMMIT")) end_read.Run();
  }
  sqlite3_close(db);
  return ok;
}

}  // namespace tollgate::ledger
