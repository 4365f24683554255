#include "runtime/ledger/internal/state.h"

#include <algorithm>
#include <climits>
#include <tuple>

namespace tollgate::ledger::internal {
namespace {

// One counter a reservation (or a move) needs room on.
struct Need {
  BudgetCounter* b = nullptr;
  LimitLog* l = nullptr;
  int64_t amount = 0;   // units / micros wanted
  int64_t old = 0;      // what this reservation already holds there (Move)
};

int64_t SatAdd(int64_t a, int64_t b) {
  int64_t r;
  return __builtin_add_overflow(a, b, &r) ? INT64_MAX : r;
}

void AddNeed(std::vector<Need>* needs, BudgetCounter* b, LimitLog* l, int64_t amount) {
  for (Need& n : *needs) {
    if (n.b == b && n.l == l) {
      n.amount = SatAdd(n.amount, amount);
      return;
    }
  }
  needs->push_back(Need{b, l, amount, 0});
}

}  // namespace

State::State(const Options& options, bool track_changes)
    : options_(options),
      clock_(options.clock ? options.clock : &SystemClock::Get()),
      track_(track_changes) {}

BudgetCounter* State::CounterFor(const std::string& budget, const std::string& key, Window w,
                                 int64_t start, int64_t end, bool create) {
  scratch_.clear();
  scratch_.append(budget).push_back('\x1f');
  scratch_.append(key).push_back('\x1f');
  scratch_.append(WindowName(w)).push_back('\x1f');
  scratch_.append(std::to_string(start));
  auto it = counters_.find(scratch_);
  if (it != counters_.end()) return it->second.get();
  if (!create) return nullptr;
  auto c = std::make_unique<BudgetCounter>();
  c->budget = budget;
  c->key = key;
  c->window = w;
  c->start_ms = start;
  c->end_ms = end;
  BudgetCounter* p = c.get();
  counters_.emplace(scratch_, std::move(c));
  return p;
}

LimitLog* State::LogFor(const std::string& limit, const std::string& key, Window w, bool create) {
  scratch_.clear();
  scratch_.append(limit).push_back('\x1f');
  scratch_.append(key).push_back('\x1f');
  scratch_.append(WindowName(w));
  auto it = logs_.find(scratch_);
  if (it != logs_.end()) return it->second.get();
  if (!create) return nullptr;
  auto l = std::make_unique<LimitLog>();
  l->limit = limit;
  l->key = key;
  l->window = w;
  l->length_ms = SlidingLength(w);
  LimitLog* p = l.get();
  logs_.emplace(scratch_, std::move(l));
  return p;
}

void State::Prune(LimitLog* log, int64_t now) {
  if (log->length_ms == INT64_MAX) return;
  // An entry made at `at` counts while now < at + length.
  while (!log->entries.empty()) {
    auto it = log->entries.begin();
    if (it->first.first > now - log->length_ms) break;
    log->sum -= it->second;
    if (open_.count(it->first.second)) log->reserved -= it->second;  // still open, out of the window
    log->entries.erase(it);  // the row on disk expires by its expires_ms
  }
}

void State::Touch(BudgetCounter* c) {
  if (!track_ || c->dirty) return;
  c->dirty = true;
  dirty_counters_.push_back(c);
}

void State::MarkLimit(LimitLog* log, uint64_t id, int64_t at, bool erase) {
  if (!track_) return;
  dirty_limits_[{log, id}] = {at, erase};
}

void State::MarkReservation(uint64_t id, bool erase) {
  if (!track_) return;
  auto [it, inserted] = dirty_res_.emplace(id, erase);
  if (!inserted) it->second = erase;
}

// Fills *a with the first counter in `needs` that cannot take its amount.
static bool CheckNeeds(const std::vector<Need>& needs, int64_t now, Admission* a) {
  for (const Need& n : needs) {
    if (n.b == nullptr) continue;
    const BudgetCounter& c = *n.b;
    const int64_t used = SatAdd(c.spent, c.reserved - n.old);
    if (SatAdd(used, n.amount) <= c.limit) continue;
    a->verdict = Verdict::kBudgetExceeded;
    a->name = c.budget;
    a->key = c.key;
    a->window = WindowName(c.window);
    a->window_label = WindowLabel(c.window, c.start_ms);
    a->limit = c.limit;
    a->remaining = std::max<int64_t>(0, c.limit - used);
    a->requested = n.amount;
    DescribeDenial(a);
    return false;
  }
  for (const Need& n : needs) {
    if (n.l == nullptr) continue;
    const LimitLog& l = *n.l;
    const int64_t used = l.sum - n.old;
    if (SatAdd(used, n.amount) <= l.max) continue;
    a->verdict = Verdict::kRateLimited;
    a->name = l.limit;
    a->key = l.key;
    a->window = WindowName(l.window);
    a->window_label = l.length_ms == INT64_MAX ? "lifetime" : "sliding";
    a->limit = l.max;
    a->remaining = std::max<int64_t>(0, l.max - used);
    a->requested = n.amount;
    // Seconds until enough units leave the window.
    int64_t need = SatAdd(used, n.amount) - l.max;
    int64_t retry_ms = l.length_ms == INT64_MAX ? 0 : l.length_ms;
    if (n.amount <= l.max && l.length_ms != INT64_MAX) {
      int64_t freed = l.base;  // base is 0 for sliding logs
      for (const auto& [k, units] : l.entries) {
        freed += units;
        if (freed >= need) {
          retry_ms = k.first + l.length_ms - now;
          break;
        }
      }
    }
    a->retry_after_s = l.length_ms == INT64_MAX ? 0 : std::max<int64_t>(1, (retry_ms + 999) / 1000);
    DescribeDenial(a);
    return false;
  }
  return true;
}

Admission State::Reserve(const ReserveRequest& r, uint64_t* seq) {
  Admission a;
  *seq = 0;
  Lock lock(mu_);
  const int64_t now = clock_->NowMs();
  ExpireLocked(now);
  if (r.budgets.empty() && r.limits.empty()) return a;
  std::vector<Need> needs;
  needs.reserve(r.budgets.size() + r.limits.size());
  for (const BudgetCharge& b : r.budgets) {
    Interval w = CalendarWindow(b.window, now);
    BudgetCounter* c = CounterFor(b.budget, b.key, b.window, w.start_ms, w.end_ms, true);
    if (c->limit != b.limit_micros) {
      c->limit = b.limit_micros;  // the latest computed limit wins
      Touch(c);
    }
    AddNeed(&needs, c, nullptr, std::max<int64_t>(0, b.amount_micros));
  }
  for (const LimitCharge& l : r.limits) {
    LimitLog* log = LogFor(l.limit, l.key, l.window, true);
    log->max = l.max;
    log->unit = l.unit;
    Prune(log, now);
    AddNeed(&needs, nullptr, log, std::max<int64_t>(0, l.amount));
  }
  if (!CheckNeeds(needs, now, &a)) return a;

  Reservation res;
  res.id = next_id_++;
  res.created_ms = now;
  res.expires_ms = SatAdd(now, options_.reservation_ttl_ms);
  for (const Need& n : needs) {
    if (n.b != nullptr) {
      n.b->reserved += n.amount;
      n.b->open++;
      Touch(n.b);
      res.charges.push_back(Charge{n.b, nullptr, n.amount, 0});
    } else {
      n.l->entries[{now, res.id}] += n.amount;
      n.l->sum += n.amount;
      n.l->reserved += n.amount;
      n.l->open++;
      MarkLimit(n.l, res.id, now, false);
      res.charges.push_back(Charge{nullptr, n.l, n.amount, now});
    }
  }
  a.reservation = res.id;
  expiry_.push({res.expires_ms, res.id});
  MarkReservation(res.id, false);
  open_.emplace(res.id, std::move(res));
  *seq = ++seq_;
  return a;
}

// Closes every charge of `res`: settle (actual != null), expire
// (charge_reserved) or release (neither).
void State::CloseCharges(Reservation* res, bool charge_reserved, const Usage* actual, int64_t now) {
  for (Charge& ch : res->charges) {
    if (ch.budget != nullptr) {
      BudgetCounter* c = ch.budget;
      c->reserved -= ch.amount;
      c->open--;
      if (actual != nullptr) c->spent = SatAdd(c->spent, std::max<int64_t>(0, actual->cost_micros));
      if (charge_reserved) c->spent = SatAdd(c->spent, ch.amount);
      Touch(c);
      continue;
    }
    LimitLog* l = ch.limit;
    l->open--;
    auto it = l->entries.find({ch.at_ms, res->id});
    if (it == l->entries.end()) continue;  // already left the window (and `reserved`)
    l->reserved -= it->second;
    int64_t units = it->second;
    if (actual != nullptr && l->unit == LimitUnit::kTokens) units = std::max<int64_t>(0, actual->tokens);
    if (actual == nullptr && !charge_reserved) units = 0;  // released
    l->sum += units - it->second;
    if (l->length_ms == INT64_MAX) {
      // Lifetime limits keep a plain total of closed reservations.
      l->entries.erase(it);
      l->base += units;
      MarkLimit(l, res->id, ch.at_ms, true);
      MarkLimit(l, 0, 0, false);
    } else if (units == 0) {
      l->entries.erase(it);
      MarkLimit(l, res->id, ch.at_ms, true);
    } else {
      it->second = units;
      MarkLimit(l, res->id, ch.at_ms, false);
    }
  }
  (void)now;
}

Status State::Settle(uint64_t id, Usage actual, uint64_t* seq) {
  *seq = 0;
  if (id == 0) return Status::Ok();  // nothing was charged
  Lock lock(mu_);
  auto it = open_.find(id);
  if (it == open_.end()) {
    return Status::Error("reservation_unknown",
                         "reservation " + std::to_string(id) + " is not open (settled, released or expired)");
  }
  CloseCharges(&it->second, false, &actual, clock_->NowMs());
  open_.erase(it);
  MarkReservation(id, true);
  *seq = ++seq_;
  return Status::Ok();
}

Status State::Release(uint64_t id, uint64_t* seq) {
  *seq = 0;
  if (id == 0) return Status::Ok();  // nothing was charged
  Lock lock(mu_);
  auto it = open_.find(id);
  if (it == open_.end()) {
    return Status::Error("reservation_unknown",
                         "reservation " + std::to_string(id) + " is not open (settled, released or expired)");
  }
  CloseCharges(&it->second, false, nullptr, clock_->NowMs());
  open_.erase(it);
  MarkReservation(id, true);
  *seq = ++seq_;
  return Status::Ok();
}

Admission State::Move(uint64_t id, Usage worst, uint64_t* seq) {
  Admission a;
  *seq = 0;
  Lock lock(mu_);
  const int64_t now = clock_->NowMs();
  auto it = open_.find(id);
  if (it == open_.end()) {
    a.verdict = Verdict::kUnavailable;
    a.message = "reservation " + std::to_string(id) + " is not open (settled, released or expired)";
    return a;
  }
  Reservation& res = it->second;
  std::vector<Need> needs;
  for (const Charge& ch : res.charges) {
    Need n{ch.budget, ch.limit, 0, ch.amount};
    if (ch.budget != nullptr) {
      n.amount = std::max<int64_t>(0, worst.cost_micros);
    } else {
      Prune(ch.limit, now);
      auto e = ch.limit->entries.find({ch.at_ms, id});
      n.old = e == ch.limit->entries.end() ? 0 : e->second;
      n.amount = ch.limit->unit == LimitUnit::kTokens ? std::max<int64_t>(0, worst.tokens) : ch.amount;
    }
    needs.push_back(n);
  }
  if (!CheckNeeds(needs, now, &a)) return a;
  for (size_t i = 0; i < needs.size(); ++i) {
    Charge& ch = res.charges[i];
    const Need& n = needs[i];
    if (ch.budget != nullptr) {
      ch.budget->reserved += n.amount - ch.amount;
      Touch(ch.budget);
    } else {
      LimitLog* l = ch.limit;
      auto e = l->entries.find({ch.at_ms, id});
      if (e != l->entries.end()) {
        l->reserved += n.amount - e->second;
        l->sum += n.amount - e->second;
        e->second = n.amount;
        MarkLimit(l, id, ch.at_ms, false);
      }
    }
    ch.amount = n.amount;
  }
  a.reservation = id;
  MarkReservation(id, false);
  *seq = ++seq_;
  return a;
}

int State::ExpireLocked(int64_t now) {
  int n = 0;
  while (!expiry_.empty() && expiry_.top().first <= now) {
    uint64_t id = expiry_.top().second;
    expiry_.pop();
    auto it = open_.find(id);
    if (it == open_.end()) continue;  // closed before its expiry
    CloseCharges(&it->second, true, nullptr, now);
    open_.erase(it);
    MarkReservation(id, true);
    ++seq_;
    ++n;
  }
  // Evict counters of past windows now and then (memory stays bounded by the
  // keys active in current windows plus open reservations).
  if (now - last_evict_ms_ >= 1000) {
    last_evict_ms_ = now;
    for (auto c = counters_.begin(); c != counters_.end();) {
      const BudgetCounter& bc = *c->second;
      if (bc.end_ms <= now && bc.open == 0 && !bc.dirty) c = counters_.erase(c);
      else ++c;
    }
    for (auto l = logs_.begin(); l != logs_.end();) {
      LimitLog* log = l->second.get();
      Prune(log, now);
      bool pending = false;
      if (track_) {
        auto d = dirty_limits_.lower_bound({log, 0});
        pending = d != dirty_limits_.end() && d->first.first == log;
      }
      if (log->entries.empty() && log->base == 0 && log->open == 0 && !pending) l = logs_.erase(l);
      else ++l;
    }
  }
  return n;
}

int State::ExpireDue(uint64_t* seq) {
  Lock lock(mu_);
  int n = ExpireLocked(clock_->NowMs());
  *seq = seq_;
  return n;
}

CounterView State::ViewOf(const BudgetCounter& c) const {
  CounterView v;
  v.kind = CounterView::Kind::kBudget;
  v.name = c.budget;
  v.key = c.key;
  v.window = WindowName(c.window);
  v.window_label = WindowLabel(c.window, c.start_ms);
  v.window_start_ms = c.start_ms;
  v.limit = c.limit;
  v.spent = c.spent;
  v.reserved = c.reserved;
  v.remaining = std::max<int64_t>(0, c.limit - c.spent - c.reserved);
  return v;
}

CounterView State::ViewOf(const LimitLog& l, int64_t now) const {
  CounterView v;
  v.kind = CounterView::Kind::kLimit;
  v.name = l.limit;
  v.key = l.key;
  v.window = WindowName(l.window);
  v.window_label = l.length_ms == INT64_MAX ? "lifetime" : "sliding";
  v.window_start_ms = l.length_ms == INT64_MAX ? 0 : now - l.length_ms;
  v.limit = l.max;
  v.reserved = l.reserved;
  v.spent = l.sum - l.reserved;
  v.remaining = std::max<int64_t>(0, l.max - l.sum);
  v.unit = l.unit;
  return v;
}

void State::Peek(const ReserveRequest& r, std::vector<CounterView>* out) {
  out->clear();
  Lock lock(mu_);
  const int64_t now = clock_->NowMs();
  ExpireLocked(now);
  for (const BudgetCharge& b : r.budgets) {
    Interval w = CalendarWindow(b.window, now);
    BudgetCounter* c = CounterFor(b.budget, b.key, b.window, w.start_ms, w.end_ms, false);
    BudgetCounter fresh;
    if (c == nullptr) {
      fresh.budget = b.budget;
      fresh.key = b.key;
      fresh.window = b.window;
      fresh.start_ms = w.start_ms;
      c = &fresh;
    }
    CounterView v = ViewOf(*c);
    v.limit = b.limit_micros;  // as this request computes it
    v.remaining = std::max<int64_t>(0, v.limit - v.spent - v.reserved);
    out->push_back(std::move(v));
  }
  for (const LimitCharge& l : r.limits) {
    LimitLog* log = LogFor(l.limit, l.key, l.window, false);
    LimitLog fresh;
    if (log == nullptr) {
      fresh.limit = l.limit;
      fresh.key = l.key;
      fresh.window = l.window;
      fresh.length_ms = SlidingLength(l.window);
      log = &fresh;
    } else {
      Prune(log, now);
    }
    CounterView v = ViewOf(*log, now);
    v.limit = l.max;
    v.unit = l.unit;
    v.remaining = std::max<int64_t>(0, l.max - log->sum);
    out->push_back(std::move(v));
  }
}

void State::Snapshot(std::vector<CounterView>* out) {
  out->clear();
  Lock lock(mu_);
  const int64_t now = clock_->NowMs();
  ExpireLocked(now);
  for (const auto& [k, c] : counters_) out->push_back(ViewOf(*c));
  for (const auto& [k, l] : logs_) {
    Prune(l.get(), now);
    // A limit with nothing in its window is not listed (as a budget of a past
    // window; every store and SqliteLedger::ReadSnapshot agree).
    if (l->sum == 0 && l->reserved == 0) continue;
    out->push_back(ViewOf(*l, now));
  }
  std::sort(out->begin(), out->end(), [](const CounterView& a, const CounterView& b) {
    return std::tie(a.kind, a.name, a.key, a.window, a.window_start_ms) <
           std::tie(b.kind, b.name, b.key, b.window, b.window_start_ms);
  });
}

bool State::TakeChanges(Batch* out) {
  Lock lock(mu_);
  out->seq = seq_;
  out->next_id = next_id_;
  out->now_ms = clock_->NowMs();
  out->counters.clear();
  out->limits.clear();
  out->upsert_reservations.clear();
  out->erase_reservations.clear();
  for (BudgetCounter* c : dirty_counters_) {
    out->counters.push_back(CounterRow{c->budget, c->key, WindowName(c->window), c->start_ms, c->end_ms,
                                       c->limit, c->spent, c->reserved});
    c->dirty = false;
  }
  dirty_counters_.clear();
  for (const auto& [k, v] : dirty_limits_) {
    LimitLog* l = k.first;
    LimitRow row{l->limit, l->key, WindowName(l->window), k.second, v.first, 0, 0, l->max, l->unit, v.second};
    if (k.second == 0) {
      row.amount = l->base;
      row.erase = false;
      row.expires_ms = INT64_MAX;
    } else {
      auto e = l->entries.find({v.first, k.second});
      if (e == l->entries.end()) {
        row.erase = true;
      } else {
        row.amount = e->second;
      }
      row.expires_ms = l->length_ms == INT64_MAX ? INT64_MAX : SatAdd(v.first, l->length_ms);
    }
    out->limits.push_back(std::move(row));
  }
  dirty_limits_.clear();
  for (const auto& [id, erase] : dirty_res_) {
    auto it = open_.find(id);
    if (erase || it == open_.end()) {
      if (persisted_.erase(id)) out->erase_reservations.push_back(id);
      continue;
    }
    const Reservation& r = it->second;
    ReservationRow row{r.id, r.created_ms, r.expires_ms, {}};
    for (const Charge& ch : r.charges) {
      if (ch.budget != nullptr) {
        row.charges.push_back(ChargeRow{true, ch.budget->budget, ch.budget->key, WindowName(ch.budget->window),
                                        ch.budget->start_ms, ch.amount});
      } else {
        row.charges.push_back(
            ChargeRow{false, ch.limit->limit, ch.limit->key, WindowName(ch.limit->window), ch.at_ms, ch.amount});
      }
    }
    persisted_.insert(id);
    out->upsert_reservations.push_back(std::move(row));
  }
  dirty_res_.clear();
  return !out->empty();
}

uint64_t State::last_seq() {
  Lock lock(mu_);
  return seq_;
}

void State::RestoreCounter(const CounterRow& row) {
  Lock lock(mu_);
  Window w;
  if (!ParseWindowName(row.window, &w)) return;
  BudgetCounter* c = CounterFor(row.budget, row.key, w, row.start_ms, row.end_ms, true);
  c->limit = row.limit;
  c->spent = row.spent;
  c->reserved = 0;  // recomputed from the open reservations
}

void State::RestoreLimit(const LimitRow& row) {
  Lock lock(mu_);
  Window w;
  if (!ParseWindowName(row.window, &w)) return;
  LimitLog* l = LogFor(row.limit, row.key, w, true);
  l->max = row.max;
  l->unit = row.unit;
  if (row.reservation == 0) {
    l->base = row.amount;
  } else {
    l->entries[{row.at_ms, row.reservation}] = row.amount;
  }
  l->sum = l->base;
  for (const auto& [k, units] : l->entries) l->sum += units;
}

void State::RestoreReservation(const ReservationRow& row) {
  Lock lock(mu_);
  Reservation res;
  res.id = row.id;
  res.created_ms = row.created_ms;
  res.expires_ms = row.expires_ms;
  for (const ChargeRow& ch : row.charges) {
    Window w;
    if (!ParseWindowName(ch.window, &w)) continue;
    if (ch.is_budget) {
      Interval iv = CalendarWindow(w, ch.window_start_ms);
      BudgetCounter* c = CounterFor(ch.name, ch.key, w, ch.window_start_ms, iv.end_ms, true);
      res.charges.push_back(Charge{c, nullptr, ch.amount, 0});
    } else {
      LimitLog* l = LogFor(ch.name, ch.key, w, true);
      res.charges.push_back(Charge{nullptr, l, ch.amount, ch.window_start_ms});
    }
  }
  persisted_.insert(res.id);
  expiry_.push({res.expires_ms, res.id});
  next_id_ = std::max(next_id_, res.id + 1);
  open_[res.id] = std::move(res);
}

void State::SetNextId(uint64_t next) {
  Lock lock(mu_);
  next_id_ = std::max(next_id_, next);
}

void State::FinishRestore() {
  Lock lock(mu_);
  for (auto& [k, c] : counters_) {
    c->reserved = 0;
    c->open = 0;
  }
  for (auto& [k, l] : logs_) {
    l->reserved = 0;
    l->open = 0;
  }
  for (auto& [id, res] : open_) {
    for (Charge& ch : res.charges) {
      if (ch.budget != nullptr) {
        ch.budget->reserved += ch.amount;
        ch.budget->open++;
      } else {
        ch.limit->open++;
        auto e = ch.limit->entries.find({ch.at_ms, id});
        if (e != ch.limit->entries.end()) ch.limit->reserved += e->second;
      }
    }
  }
}

}  // namespace tollgate::ledger::internal
