#include "runtime/ledger/redis_ledger.h"

#include <hiredis/hiredis.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>

namespace tollgate::ledger {
namespace internal {
extern const char kRedisScript[];
}

namespace {

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

constexpr int64_t kGraceMs = 86'400'000;  // budget keys outlive their window by a day

std::string BudgetKey(const BudgetCharge& b, int64_t start) {
  return "tg:b:" + b.budget + ":" + WindowName(b.window) + ":" + std::to_string(start) + ":" + b.key;
}
std::string LimitZKey(const LimitCharge& l) { return "tg:l:" + l.limit + ":" + WindowName(l.window) + ":" + l.key; }
std::string LimitHKey(const LimitCharge& l) { return "tg:la:" + l.limit + ":" + WindowName(l.window) + ":" + l.key; }

int64_t ReplyInt(const redisReply* r) {
  if (r == nullptr) return 0;
  if (r->type == REDIS_REPLY_INTEGER) return r->integer;
  if (r->type == REDIS_REPLY_STRING) return std::strtoll(r->str, nullptr, 10);
  return 0;
}
std::string ReplyStr(const redisReply* r) {
  if (r == nullptr || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS)) return "";
  return std::string(r->str, r->len);
}

// Sums duplicate charges (same name, key, window), keeping first-seen order.
ReserveRequest Merge(const ReserveRequest& r) {
  ReserveRequest m;
  for (const BudgetCharge& b : r.budgets) {
    auto it = std::find_if(m.budgets.begin(), m.budgets.end(), [&](const BudgetCharge& x) {
      return x.budget == b.budget && x.key == b.key && x.window == b.window;
    });
    if (it == m.budgets.end()) {
      m.budgets.push_back(b);
      m.budgets.back().amount_micros = std::max<int64_t>(0, b.amount_micros);
    } else {
      it->amount_micros += std::max<int64_t>(0, b.amount_micros);
      it->limit_micros = b.limit_micros;
    }
  }
  for (const LimitCharge& l : r.limits) {
    auto it = std::find_if(m.limits.begin(), m.limits.end(), [&](const LimitCharge& x) {
      return x.limit == l.limit && x.key == l.key && x.window == l.window;
    });
    if (it == m.limits.end()) {
      m.limits.push_back(l);
      m.limits.back().amount = std::max<int64_t>(0, l.amount);
    } else {
      it->amount += std::max<int64_t>(0, l.amount);
    }
  }
  return m;
}

}  // namespace

struct RedisLedger::Impl {
  std::string host;
  int port = 6379, db = 0;
  Options options;
  const Clock* clock = nullptr;
  std::mutex mu;
  redisContext* ctx = nullptr;
  std::string sha;
  std::string last_error;

  ~Impl() {
    StopIo();  // answers everything posted first
    Disconnect();
  }

  std::string Where() const { return "redis://" + host + ":" + std::to_string(port) + "/" + std::to_string(db); }

  void Disconnect() {
    if (ctx != nullptr) redisFree(ctx);
    ctx = nullptr;
  }

  // A connection the server has closed (it restarted, or timed us out)
  // shows as end-of-file before we send anything on it.
  bool Alive() const {
    char c;
    ssize_t n = ::recv(ctx->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR));
  }

  bool Connect() {
    if (ctx != nullptr && !Alive()) Disconnect();
    if (ctx != nullptr) return true;
    timeval tv{options.redis_timeout_ms / 1000, (options.redis_timeout_ms % 1000) * 1000};
    ctx = redisConnectWithTimeout(host.c_str(), port, tv);
    if (ctx == nullptr || ctx->err) {
      last_error = ctx ? ctx->errstr : "out of memory";
      Disconnect();
      return false;
    }
    redisSetTimeout(ctx, tv);
    if (db != 0) {
      Reply r(static_cast<redisReply*>(redisCommand(ctx, "SELECT %d", db)));
      if (!r || r->type == REDIS_REPLY_ERROR) return Broken(r.get());
    }
    Reply r(static_cast<redisReply*>(redisCommand(ctx, "SCRIPT LOAD %s", internal::kRedisScript)));
    if (!r || r->type != REDIS_REPLY_STRING) return Broken(r.get());
    sha.assign(r->str, r->len);
    return true;
  }

  // The context's error as one line. A read that timed out is an I/O
  // error whose text is the socket's EAGAIN ("Resource temporarily
  // unavailable"): said as what it is, a server that did not answer.
  std::string ContextError() const {
    const std::string text(ctx->errstr);
    if (ctx->err == REDIS_ERR_IO && (text == std::strerror(EAGAIN) || text == std::strerror(EWOULDBLOCK)))
      return "no reply within " + std::to_string(options.redis_timeout_ms) + " ms (timeout)";
    return text;
  }

  bool Broken(const redisReply* r) {
    last_error = r != nullptr && r->type == REDIS_REPLY_ERROR ? std::string(r->str, r->len)
                 : ctx != nullptr && ctx->err ? ContextError()
                                              : std::string("connection lost");
    Disconnect();
    return false;
  }

  // EVALSHA with args (after the sha and key count); reloads on NOSCRIPT.
  Reply Eval(const std::vector<std::string>& args) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (!Connect()) return nullptr;
      std::vector<const char*> argv;
      std::vector<size_t> lens;
      argv.push_back("EVALSHA");
      lens.push_back(7);
      argv.push_back(sha.c_str());
      lens.push_back(sha.size());
      argv.push_back("0");
      lens.push_back(1);
      for (const std::string& a : args) {
        argv.push_back(a.data());
        lens.push_back(a.size());
      }
      Reply r(static_cast<redisReply*>(redisCommandArgv(ctx, static_cast<int>(argv.size()), argv.data(), lens.data())));
      if (!r) {
        Broken(nullptr);
        // The server may have run it (only the reply was lost): retry only
        // what is safe to run twice. Settle/release/expire find the
        // reservation closed, move sets the same amounts, peek reads; a
        // reserve would reserve twice (its outcome stays unknown: 503, and
        // if it did run, its reservation expires and is charged).
        if (args.empty() || args[0] == "reserve") return nullptr;
        continue;
      }
      if (r->type == REDIS_REPLY_ERROR) {
        if (std::strncmp(r->str, "NOSCRIPT", 8) == 0) {
          Disconnect();  // reconnect reloads the script
          continue;
        }
        last_error = std::string(r->str, r->len);
        return nullptr;
      }
      return r;
    }
    return nullptr;
  }

  // Sends every command, then reads every reply (one round trip); a reply
  // of NOSCRIPT (the server forgot the script) is retried alone after a
  // reconnect. Null replies for what failed. Caller holds `mu`.
  std::vector<Reply> EvalMany(const std::vector<const std::vector<std::string>*>& all) {
    std::vector<Reply> out(all.size());
    if (all.size() == 1) {
      out[0] = Eval(*all[0]);
      return out;
    }
    if (!Connect()) return out;
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const std::vector<std::string>* args : all) {
      argv.assign({"EVALSHA", sha.c_str(), "0"});
      lens.assign({7, sha.size(), 1});
      for (const std::string& a : *args) {
        argv.push_back(a.data());
        lens.push_back(a.size());
      }
      redisAppendCommandArgv(ctx, static_cast<int>(argv.size()), argv.data(), lens.data());
    }
    std::vector<size_t> retry;
    for (size_t i = 0; i < all.size(); ++i) {
      void* raw = nullptr;
      if (redisGetReply(ctx, &raw) != REDIS_OK || raw == nullptr) {
        Broken(nullptr);
        return out;
      }
      Reply r(static_cast<redisReply*>(raw));
      if (r->type == REDIS_REPLY_ERROR) {
        if (std::strncmp(r->str, "NOSCRIPT", 8) == 0) retry.push_back(i);
        else last_error = std::string(r->str, r->len);
        continue;
      }
      out[i] = std::move(r);
    }
    if (!retry.empty()) Disconnect();  // reconnecting loads the script again
    for (size_t i : retry) out[i] = Eval(*all[i]);
    return out;
  }

  // Combining: concurrent callers queue their command; the caller that
  // finds nobody sending becomes the sender and sends everything queued as
  // one pipeline (one round trip), hands each caller its reply, and goes on
  // while more is queued (after a few rounds it hands the role to the
  // oldest waiter, so no caller waits long). Throughput grows with callers.
  struct Call {
    const std::vector<std::string>* args;
    Reply reply;
    bool done = false;
    bool lead = false;  // the sender handed its role to this caller
    std::condition_variable cv;
  };
  std::mutex queue_mu;
  std::vector<Call*> queue;
  bool sending = false;
  static constexpr int kRoundsBeforeHandOver = 4;

  Reply Submit(const std::vector<std::string>& args) {
    Call call;
    call.args = &args;
    std::unique_lock<std::mutex> q(queue_mu);
    queue.push_back(&call);
    if (sending) {
      call.cv.wait(q, [&] { return call.done || call.lead; });
      if (call.done) return std::move(call.reply);
    }
    sending = true;  // INVARIANT: exactly one sender while sending
    std::vector<Call*> batch;
    std::vector<const std::vector<std::string>*> all;
    for (int round = 0; !queue.empty(); ++round) {
      if (call.done && round >= kRoundsBeforeHandOver) {
        queue.front()->lead = true;
        queue.front()->cv.notify_one();
        return std::move(call.reply);
      }
      batch.swap(queue);
      queue.clear();
      q.unlock();
      all.clear();
      for (Call* c : batch) all.push_back(c->args);
      std::vector<Reply> replies;
      {
        std::lock_guard<std::mutex> l(mu);
        replies = EvalMany(all);
      }
      q.lock();
      for (size_t i = 0; i < batch.size(); ++i) {
        batch[i]->reply = std::move(replies[i]);
        batch[i]->done = true;
        if (batch[i] != &call) batch[i]->cv.notify_one();
      }
      batch.clear();
    }
    sending = false;
    return std::move(call.reply);
  }

  // The async calls: a ledger thread (started on first use) sends what is
  // queued as pipelines of at most kMaxPipeline commands and runs each
  // callback with its reply. No caller thread blocks.
  static constexpr size_t kMaxPipeline = 1024;
  struct Posted {
    std::vector<std::string> args;
    std::function<void(Reply)> done;
  };
  std::mutex post_mu;
  std::condition_variable post_cv;
  std::vector<Posted> posted;
  std::thread io;
  bool io_stop = false;
  bool io_busy = false;               // a batch is being sent or called back
  std::condition_variable io_idle;    // to Flush

  void Post(std::vector<std::string> args, std::function<void(Reply)> done) {
    std::lock_guard<std::mutex> l(post_mu);
    if (!io.joinable()) io = std::thread([this] { IoLoop(); });
    posted.push_back(Posted{std::move(args), std::move(done)});
    if (posted.size() == 1) post_cv.notify_one();
  }

  void IoLoop() {
    std::vector<Posted> batch;
    std::vector<const std::vector<std::string>*> all;
    std::unique_lock<std::mutex> l(post_mu);
    for (;;) {
      post_cv.wait(l, [this] { return io_stop || !posted.empty(); });
      if (posted.empty()) return;  // stopping, and everything was answered
      batch.swap(posted);
      io_busy = true;
      l.unlock();
      for (size_t from = 0; from < batch.size(); from += kMaxPipeline) {
        const size_t to = std::min(batch.size(), from + kMaxPipeline);
        all.clear();
        for (size_t i = from; i < to; ++i) all.push_back(&batch[i].args);
        std::vector<Reply> replies;
        {
          std::lock_guard<std::mutex> c(mu);
          replies = EvalMany(all);
        }
        for (size_t i = from; i < to; ++i) batch[i].done(std::move(replies[i - from]));
      }
      batch.clear();
      l.lock();
      io_busy = false;
      if (posted.empty()) io_idle.notify_all();
    }
  }

  // Waits until every posted call has been answered (its callback run).
  void WaitIoIdle() {
    std::unique_lock<std::mutex> l(post_mu);
    io_idle.wait(l, [this] { return posted.empty() && !io_busy; });
  }

  void StopIo() {
    {
      std::lock_guard<std::mutex> l(post_mu);
      io_stop = true;
    }
    post_cv.notify_all();
    if (io.joinable()) io.join();
  }

  Admission Unavailable() {
    Admission a;
    if (options.fail_open) {
      a.verdict = Verdict::kAdmitted;
      a.unverified = true;
      a.message = "budget store " + Where() + " is unreachable (" + last_error + "); admitted unverified (fail open)";
      if (options.on_fail_open) options.on_fail_open(a.message);
      return a;
    }
    a.verdict = Verdict::kUnavailable;
    a.message = "budget store " + Where() + " is unreachable: " + last_error;
    return a;
  }

  std::vector<std::string> ReserveArgs(const ReserveRequest& m, int64_t now) const {
    std::vector<std::string> a{"reserve", std::to_string(now), std::to_string(options.reservation_ttl_ms),
                               std::to_string(m.budgets.size()), std::to_string(m.limits.size())};
    for (const BudgetCharge& b : m.budgets) {
      Interval iv = CalendarWindow(b.window, now);
      int64_t exp = iv.end_ms == INT64_MAX ? 0 : iv.end_ms + kGraceMs;
      for (std::string s : {BudgetKey(b, iv.start_ms), std::to_string(b.limit_micros), std::to_string(b.amount_micros),
                            std::to_string(exp), b.budget, b.key, WindowName(b.window), std::to_string(iv.start_ms)})
        a.push_back(std::move(s));
    }
    for (const LimitCharge& l : m.limits) {
      int64_t len = SlidingLength(l.window);
      for (std::string s : {LimitZKey(l), LimitHKey(l), std::to_string(l.max), std::to_string(l.amount),
                            std::to_string(len == INT64_MAX ? 0 : len), l.limit, l.key, WindowName(l.window),
                            std::string(l.unit == LimitUnit::kTokens ? "tokens" : "requests")})
        a.push_back(std::move(s));
    }
    a.push_back(RecordJson(m, now));
    return a;
  }

  // The reservation record the script stores (tg:r:<id>), built here from
  // the same keys and amounts the script charges.
  static std::string RecordJson(const ReserveRequest& m, int64_t now) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    auto str = [&](const std::string& v) { w.String(v.data(), static_cast<rapidjson::SizeType>(v.size())); };
    w.StartObject();
    w.Key("c");
    w.StartArray();
    for (const BudgetCharge& b : m.budgets) {
      w.StartObject();
      w.Key("t");
      w.String("b");
      w.Key("k");
      str(BudgetKey(b, CalendarWindow(b.window, now).start_ms));
      w.Key("a");
      str(std::to_string(b.amount_micros));
      w.EndObject();
    }
    for (const LimitCharge& l : m.limits) {
      const int64_t len = SlidingLength(l.window);
      w.StartObject();
      w.Key("t");
      w.String("l");
      w.Key("k");
      str(LimitHKey(l));
      w.Key("z");
      str(LimitZKey(l));
      w.Key("a");
      str(std::to_string(l.amount));
      w.Key("u");
      w.String(l.unit == LimitUnit::kTokens ? "tokens" : "requests");
      w.Key("len");
      w.Int64(len == INT64_MAX ? 0 : len);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    return std::string(sb.GetString(), sb.GetSize());
  }

  Admission ReserveReply(const ReserveRequest& m, const redisReply* r, int64_t now) {
    Admission a;
    if (r == nullptr || r->type != REDIS_REPLY_ARRAY || r->elements < 2) return Unavailable();
    int64_t what = ReplyInt(r->element[0]);
    if (what == 0) {
      a.reservation = static_cast<uint64_t>(ReplyInt(r->element[1]));
      return a;
    }
    size_t i = static_cast<size_t>(ReplyInt(r->element[1]) - 1);
    int64_t remaining = r->elements > 2 ? ReplyInt(r->element[2]) : 0;
    if (what == 1 && i < m.budgets.size()) {
      const BudgetCharge& b = m.budgets[i];
      a.verdict = Verdict::kBudgetExceeded;
      a.name = b.budget;
      a.key = b.key;
      a.window = WindowName(b.window);
      a.window_label = WindowLabel(b.window, CalendarWindow(b.window, now).start_ms);
      a.limit = b.limit_micros;
      a.remaining = std::max<int64_t>(0, remaining);
      a.requested = b.amount_micros;
    } else if (what == 2 && i < m.limits.size()) {
      const LimitCharge& l = m.limits[i];
      a.verdict = Verdict::kRateLimited;
      a.name = l.limit;
      a.key = l.key;
      a.window = WindowName(l.window);
      a.window_label = SlidingLength(l.window) == INT64_MAX ? "lifetime" : "sliding";
      a.limit = l.max;
      a.remaining = std::max<int64_t>(0, remaining);
      a.requested = l.amount;
      int64_t retry = r->elements > 3 ? ReplyInt(r->element[3]) : -1;
      if (SlidingLength(l.window) == INT64_MAX) a.retry_after_s = 0;
      else if (retry < 0) a.retry_after_s = std::max<int64_t>(1, SlidingLength(l.window) / 1000);
      else a.retry_after_s = std::max<int64_t>(1, (retry + 999) / 1000);
    } else {
      last_error = "unexpected reply from the ledger script";
      return Unavailable();
    }
    DescribeDenial(&a);
    return a;
  }

  Admission MoveReply(const redisReply* r, uint64_t id) {
    Admission a;
    if (r == nullptr || r->type != REDIS_REPLY_ARRAY || r->elements < 1) return Unavailable();
    int64_t what = ReplyInt(r->element[0]);
    if (what == 0) {
      a.reservation = id;
      return a;
    }
    if (what == 3 || r->elements < 8) {
      a.verdict = Verdict::kUnavailable;
      a.message = "reservation " + std::to_string(id) + " is not open (settled, released or expired)";
      return a;
    }
    a.verdict = what == 1 ? Verdict::kBudgetExceeded : Verdict::kRateLimited;
    a.name = ReplyStr(r->element[1]);
    a.key = ReplyStr(r->element[2]);
    a.window = ReplyStr(r->element[3]);
    Window w;
    ParseWindowName(a.window, &w);
    a.window_label = what == 1                           ? WindowLabel(w, ReplyInt(r->element[4]))
                     : SlidingLength(w) == INT64_MAX ? "lifetime"
                                                     : "sliding";
    a.limit = ReplyInt(r->element[5]);
    a.remaining = std::max<int64_t>(0, ReplyInt(r->element[6]));
    a.requested = ReplyInt(r->element[7]);
    if (what == 2) {
      int64_t retry = r->elements > 8 ? ReplyInt(r->element[8]) : -1;
      if (SlidingLength(w) == INT64_MAX) a.retry_after_s = 0;  // lifetime: never frees
      else a.retry_after_s = std::max<int64_t>(1, retry < 0 ? SlidingLength(w) / 1000 : (retry + 999) / 1000);
    }
    DescribeDenial(&a);
    return a;
  }

  Status CloseReply(const redisReply* r, uint64_t id) {
    if (r == nullptr) {
      return Status::Error(std::string(kCodeStoreUnavailable),
                           "budget store " + Where() + " is unreachable: " + last_error);
    }
    if (ReplyInt(r) == 0) {
      return Status::Error("reservation_unknown",
                           "reservation " + std::to_string(id) + " is not open (settled, released or expired)");
    }
    return Status::Ok();
  }
};

RedisLedger::RedisLedger(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RedisLedger::~RedisLedger() = default;

std::unique_ptr<RedisLedger> RedisLedger::Open(const std::string& host, int port, int db, const Options& options,
                                               std::string* error) {
  if (host.empty() || port <= 0 || port > 65535 || db < 0) {
    *error = "invalid redis address `" + host + ":" + std::to_string(port) + "/" + std::to_string(db) + "`";
    return nullptr;
  }
  auto impl = std::make_unique<Impl>();
  impl->host = host;
  impl->port = port;
  impl->db = db;
  impl->options = options;
  impl->clock = options.clock ? options.clock : &SystemClock::Get();
  std::lock_guard<std::mutex> l(impl->mu);
  impl->Connect();  // failures are answered per call
  return std::unique_ptr<RedisLedger>(new RedisLedger(std::move(impl)));
}

Admission RedisLedger::Reserve(const ReserveRequest& r) {
  if (r.budgets.empty() && r.limits.empty()) return Admission{};
  ReserveRequest m = Merge(r);
  const int64_t now = impl_->clock->NowMs();
  Reply reply = impl_->Submit(impl_->ReserveArgs(m, now));
  std::lock_guard<std::mutex> l(impl_->mu);  // last_error, on_fail_open
  return impl_->ReserveReply(m, reply.get(), now);
}

std::vector<Admission> RedisLedger::ReserveMany(const std::vector<ReserveRequest>& requests) {
  std::vector<ReserveRequest> merged;
  std::vector<std::vector<std::string>> all;
  std::lock_guard<std::mutex> l(impl_->mu);
  const int64_t now = impl_->clock->NowMs();
  for (const ReserveRequest& r : requests) {
    merged.push_back(Merge(r));
    all.push_back(impl_->ReserveArgs(merged.back(), now));
  }
  std::vector<const std::vector<std::string>*> ptrs;
  for (const auto& a : all) ptrs.push_back(&a);
  std::vector<Reply> replies = impl_->EvalMany(ptrs);
  std::vector<Admission> out;
  for (size_t i = 0; i < requests.size(); ++i) out.push_back(impl_->ReserveReply(merged[i], replies[i].get(), now));
  return out;
}

Status RedisLedger::Settle(uint64_t id, Usage actual) {
  if (id == 0) return Status::Ok();  // nothing was charged (empty or unverified)
  Reply r = impl_->Submit({"settle", std::to_string(impl_->clock->NowMs()), std::to_string(id),
                           std::to_string(std::max<int64_t>(0, actual.cost_micros)),
                           std::to_string(std::max<int64_t>(0, actual.tokens))});
  std::lock_guard<std::mutex> l(impl_->mu);
  return impl_->CloseReply(r.get(), id);
}

std::vector<Status> RedisLedger::SettleMany(const std::vector<std::pair<uint64_t, Usage>>& settlements) {
  std::lock_guard<std::mutex> l(impl_->mu);
  const std::string now = std::to_string(impl_->clock->NowMs());
  std::vector<std::vector<std::string>> all;
  for (const auto& [id, u] : settlements) {
    all.push_back({"settle", now, std::to_string(id), std::to_string(std::max<int64_t>(0, u.cost_micros)),
                   std::to_string(std::max<int64_t>(0, u.tokens))});
  }
  std::vector<const std::vector<std::string>*> ptrs;
  for (const auto& a : all) ptrs.push_back(&a);
  std::vector<Reply> replies = impl_->EvalMany(ptrs);
  std::vector<Status> out;
  for (size_t i = 0; i < settlements.size(); ++i) out.push_back(impl_->CloseReply(replies[i].get(), settlements[i].first));
  return out;
}

Status RedisLedger::Release(uint64_t id) {
  if (id == 0) return Status::Ok();
  Reply r = impl_->Submit({"release", std::to_string(impl_->clock->NowMs()), std::to_string(id)});
  std::lock_guard<std::mutex> l(impl_->mu);
  return impl_->CloseReply(r.get(), id);
}

static std::vector<std::string> MoveArgs(int64_t now, uint64_t id, Usage worst) {
  return {"move", std::to_string(now), std::to_string(id), std::to_string(std::max<int64_t>(0, worst.cost_micros)),
          std::to_string(std::max<int64_t>(0, worst.tokens))};
}

Admission RedisLedger::Move(uint64_t id, Usage worst) {
  Reply r = impl_->Submit(MoveArgs(impl_->clock->NowMs(), id, worst));
  std::lock_guard<std::mutex> l(impl_->mu);
  return impl_->MoveReply(r.get(), id);
}

void RedisLedger::ReserveAsync(const ReserveRequest& r, AdmissionCallback done) {
  if (r.budgets.empty() && r.limits.empty()) {
    done(Admission{});
    return;
  }
  ReserveRequest m = Merge(r);
  const int64_t now = impl_->clock->NowMs();
  std::vector<std::string> args = impl_->ReserveArgs(m, now);
  Impl* impl = impl_.get();
  impl->Post(std::move(args), [impl, m = std::move(m), now, done = std::move(done)](Reply reply) {
    Admission a;
    {
      std::lock_guard<std::mutex> l(impl->mu);
      a = impl->ReserveReply(m, reply.get(), now);
    }
    done(a);
  });
}

void RedisLedger::SettleAsync(uint64_t id, Usage actual, StatusCallback done) {
  if (id == 0) {
    done(Status::Ok());
    return;
  }
  Impl* impl = impl_.get();
  impl->Post({"settle", std::to_string(impl->clock->NowMs()), std::to_string(id),
              std::to_string(std::max<int64_t>(0, actual.cost_micros)),
              std::to_string(std::max<int64_t>(0, actual.tokens))},
             [impl, id, done = std::move(done)](Reply reply) {
               Status s;
               {
                 std::lock_guard<std::mutex> l(impl->mu);
                 s = impl->CloseReply(reply.get(), id);
               }
               done(s);
             });
}

void RedisLedger::ReleaseAsync(uint64_t id, StatusCallback done) {
  if (id == 0) {
    done(Status::Ok());
    return;
  }
  Impl* impl = impl_.get();
  impl->Post({"release", std::to_string(impl->clock->NowMs()), std::to_string(id)},
             [impl, id, done = std::move(done)](Reply reply) {
               Status s;
               {
                 std::lock_guard<std::mutex> l(impl->mu);
                 s = impl->CloseReply(reply.get(), id);
               }
               done(s);
             });
}

void RedisLedger::MoveAsync(uint64_t id, Usage worst, AdmissionCallback done) {
  Impl* impl = impl_.get();
  impl->Post(MoveArgs(impl->clock->NowMs(), id, worst), [impl, id, done = std::move(done)](Reply reply) {
    Admission a;
    {
      std::lock_guard<std::mutex> l(impl->mu);
      a = impl->MoveReply(reply.get(), id);
    }
    done(a);
  });
}

Status RedisLedger::Peek(const ReserveRequest& req, std::vector<CounterView>* out) {
  out->clear();
  ReserveRequest m = Merge(req);
  const int64_t now = impl_->clock->NowMs();
  std::vector<std::string> args{"peek", std::to_string(now), std::to_string(m.budgets.size()),
                                std::to_string(m.limits.size())};
  for (const BudgetCharge& b : m.budgets) args.push_back(BudgetKey(b, CalendarWindow(b.window, now).start_ms));
  for (const LimitCharge& lc : m.limits) {
    int64_t len = SlidingLength(lc.window);
    args.push_back(LimitZKey(lc));
    args.push_back(LimitHKey(lc));
    args.push_back(std::to_string(len == INT64_MAX ? 0 : len));
  }
  Reply r = impl_->Submit(args);
  std::lock_guard<std::mutex> l(impl_->mu);
  if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 * (m.budgets.size() + m.limits.size())) {
    return Status::Error(std::string(kCodeStoreUnavailable),
                         "budget store " + impl_->Where() + " is unreachable: " + impl_->last_error);
  }
  size_t i = 0;
  for (const BudgetCharge& b : m.budgets) {
    CounterView v;
    v.name = b.budget;
    v.key = b.key;
    v.window = WindowName(b.window);
    v.window_start_ms = CalendarWindow(b.window, now).start_ms;
    v.window_label = WindowLabel(b.window, v.window_start_ms);
    v.limit = b.limit_micros;
    v.spent = ReplyInt(r->element[i++]);
    v.reserved = ReplyInt(r->element[i++]);
    v.remaining = std::max<int64_t>(0, v.limit - v.spent - v.reserved);
    out->push_back(std::move(v));
  }
  for (const LimitCharge& lc : m.limits) {
    CounterView v;
    v.kind = CounterView::Kind::kLimit;
    v.name = lc.limit;
    v.key = lc.key;
    v.window = WindowName(lc.window);
    v.window_label = SlidingLength(lc.window) == INT64_MAX ? "lifetime" : "sliding";
    v.limit = lc.max;
    v.unit = lc.unit;
    int64_t sum = ReplyInt(r->element[i++]);
    v.reserved = ReplyInt(r->element[i++]);
    v.spent = sum - v.reserved;
    v.remaining = std::max<int64_t>(0, v.limit - sum);
    out->push_back(std::move(v));
  }
  return Status::Ok();
}

Status RedisLedger::Snapshot(std::vector<CounterView>* out) {
  out->clear();
  std::lock_guard<std::mutex> l(impl_->mu);
  auto unavailable = [&] {
    return Status::Error(std::string(kCodeStoreUnavailable),
                         "budget store " + impl_->Where() + " is unreachable: " + impl_->last_error);
  };
  if (!impl_->Connect()) return unavailable();
  const int64_t now = impl_->clock->NowMs();
  for (const char* pattern : {"tg:b:*", "tg:la:*"}) {
    std::string cursor = "0";
    do {
      Reply r(static_cast<redisReply*>(
          redisCommand(impl_->ctx, "SCAN %s MATCH %s COUNT 500", cursor.c_str(), pattern)));
      if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        impl_->Broken(r.get());
        return unavailable();
      }
      cursor = ReplyStr(r->element[0]);
      const redisReply* keys = r->element[1];
      for (size_t k = 0; k < keys->elements; ++k) {
        Reply h(static_cast<redisReply*>(redisCommand(impl_->ctx, "HGETALL %b", keys->element[k]->str,
                                                      static_cast<size_t>(keys->element[k]->len))));
        if (!h || h->type != REDIS_REPLY_ARRAY) {
          impl_->Broken(h.get());
          return unavailable();
        }
        CounterView v;
        v.kind = pattern[3] == 'b' ? CounterView::Kind::kBudget : CounterView::Kind::kLimit;
        int64_t sum = 0;
        for (size_t f = 0; f + 1 < h->elements; f += 2) {
          std::string name = ReplyStr(h->element[f]);
          const redisReply* val = h->element[f + 1];
          if (name == "name") v.name = ReplyStr(val);
          else if (name == "key") v.key = ReplyStr(val);
          else if (name == "window") v.window = ReplyStr(val);
          else if (name == "start") v.window_start_ms = ReplyInt(val);
          else if (name == "limit" || name == "max") v.limit = ReplyInt(val);
          else if (name == "spent") v.spent = ReplyInt(val);
          else if (name == "reserved" || name == "_res") v.reserved = ReplyInt(val);
          else if (name == "_sum") sum = ReplyInt(val);
          else if (name == "unit") v.unit = ReplyStr(val) == "tokens" ? LimitUnit::kTokens : LimitUnit::kRequests;
        }
        if (v.name.empty()) continue;
        Window w;
        ParseWindowName(v.window, &w);
        if (v.kind == CounterView::Kind::kBudget) {
          if (CalendarWindow(w, v.window_start_ms).end_ms <= now && v.reserved == 0) continue;  // a past window
          v.window_label = WindowLabel(w, v.window_start_ms);
          v.remaining = std::max<int64_t>(0, v.limit - v.spent - v.reserved);
        } else {
          v.window_label = SlidingLength(w) == INT64_MAX ? "lifetime" : "sliding";
          v.spent = sum - v.reserved;
          v.remaining = std::max<int64_t>(0, v.limit - sum);
        }
        out->push_back(std::move(v));
      }
    } while (cursor != "0");
  }
  // Limit logs are pruned lazily on admission: read the limits again through
  // the script's `peek`, which drops entries that left their window.
  std::vector<std::string> args{"peek", std::to_string(now), "0", "0"};
  std::vector<CounterView*> limits;
  for (CounterView& v : *out) {
    if (v.kind != CounterView::Kind::kLimit) continue;
    Window w;
    if (!ParseWindowName(v.window, &w)) continue;
    LimitCharge lc{v.name, v.key, w, v.limit, 0, v.unit};
    int64_t len = SlidingLength(w);
    args.push_back(LimitZKey(lc));
    args.push_back(LimitHKey(lc));
    args.push_back(std::to_string(len == INT64_MAX ? 0 : len));
    limits.push_back(&v);
  }
  if (!limits.empty()) {
    args[3] = std::to_string(limits.size());
    Reply r = impl_->Eval(args);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 * limits.size()) return unavailable();
    for (size_t i = 0; i < limits.size(); ++i) {
      int64_t sum = ReplyInt(r->element[2 * i]);
      limits[i]->reserved = ReplyInt(r->element[2 * i + 1]);
      limits[i]->spent = sum - limits[i]->reserved;
      limits[i]->remaining = std::max<int64_t>(0, limits[i]->limit - sum);
    }
    // A limit with nothing left in its window is not listed (as State::Snapshot).
    std::erase_if(*out, [](const CounterView& v) {
      return v.kind == CounterView::Kind::kLimit && v.spent == 0 && v.reserved == 0;
    });
  }
  std::sort(out->begin(), out->end(), [](const CounterView& a, const CounterView& b) {
    return std::tie(a.kind, a.name, a.key, a.window, a.window_start_ms) <
           std::tie(b.kind, b.name, b.key, b.window, b.window_start_ms);
  });
  return Status::Ok();
}

bool RedisLedger::fail_open() const { return impl_->options.fail_open; }

Status RedisLedger::Flush() {
  impl_->WaitIoIdle();
  return Status::Ok();
}

int RedisLedger::ExpireDue() {
  std::lock_guard<std::mutex> l(impl_->mu);
  int total = 0;
  for (int round = 0; round < 1000; ++round) {
    Reply r = impl_->Eval({"expire", std::to_string(impl_->clock->NowMs())});
    int64_t n = ReplyInt(r.get());
    total += static_cast<int>(n);
    if (n < 16) break;
  }
  return total;
}

}  // namespace tollgate::ledger
