// The gateway server's insides, shared by its translation units (not an API):
//   server.cc            listener, sessions and their HTTP hardening, routing,
//                        the answer helpers (Send, Json, Common, Cors), the
//                        models, healthz, metrics, decide and admin
//                        endpoints, the drain
//   server_chat.cc       POST /v1/chat/completions: decide, upstream attempts
//                        and fallbacks, the whole answer or the stream relay,
//                        settlement and durability
// The text helpers that need no Asio or Beast are in relay.h and
// http_text.h beside this header. Beast stays in these two files (and
// upstream.cc): each file that compiles it costs some 8 s of CPU before
// its own code, so the small endpoints live with the sessions.
//
// Thread safety: a Server::Impl is shared by every I/O thread; each request
// runs on one thread (its connection's io_context) from start to end.
#pragma once

#include <utility>  // Boost 1.74 awaitable.hpp uses std::exchange without it

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "runtime/gateway/context.h"
#include "runtime/gateway/server.h"
#include "runtime/gateway/service.h"
#include "runtime/gateway/upstream.h"

namespace tollgate::gateway {
namespace internal {

namespace beast = boost::beast;
using tcp = net::ip::tcp;
using net::use_awaitable;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

// A client connection's stream, knowing whether the answer to the current
// request has begun: a handler that fails before that is answered 500
// internal_error; after it, an answer would be read as part of the first,
// so the connection is closed.
struct ClientStream : beast::tcp_stream {
  using beast::tcp_stream::tcp_stream;
  bool answering = false;
  // The client's address, read once per connection (getpeername(2) is a
  // system call; a kept-alive connection's peer never changes). Empty with
  // peer_known when it could not be read.
  std::string peer;
  bool peer_read = false, peer_known = false;
  const std::string* Peer() {
    if (!peer_read) {
      peer_read = true;
      boost::system::error_code ec;
      const tcp::endpoint ep = socket().remote_endpoint(ec);
      if (!ec) {
        peer = ep.address().to_string();
        peer_known = true;
      }
    }
    return peer_known ? &peer : nullptr;
  }
};

inline int64_t MonoNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Holds responses until their audit record is durable. The audit writer's
// callback wakes the waiting coroutines on their own (single-threaded)
// io_context, so a wake-up can never race with the wait it ends.
class DurableWaiter {
 public:
  void Attach(audit::AuditLog* log) {
    log_ = log;
    if (log_) log_->SetDurableCallback([this](uint64_t seq) { OnDurable(seq); });
  }
  net::awaitable<void> Wait(uint64_t seq) {
    if (!log_ || seq == 0 || log_->durable_seq() >= seq || log_->failed()) co_return;
    auto ex = co_await net::this_coro::executor;
    net::steady_timer timer(ex, net::steady_timer::time_point::max());
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (log_->durable_seq() >= seq || log_->failed()) co_return;
      waiting_.emplace(seq, Waiter{ex, &timer});
    }
    boost::system::error_code ec;
    co_await timer.async_wait(net::redirect_error(use_awaitable, ec));
  }

 private:
  struct Waiter {
    net::any_io_executor ex;
    net::steady_timer* timer;
  };
  void OnDurable(uint64_t seq) {
    std::lock_guard<std::mutex> lock(mu_);
    // After a write failure the log calls once more: every held answer is
    // released (Chat refuses new requests with 503 audit_unavailable).
    auto end = log_->failed() ? waiting_.end() : waiting_.upper_bound(seq);
    for (auto it = waiting_.begin(); it != end; ++it) {
      net::steady_timer* t = it->second.timer;
      net::post(it->second.ex, [t] { t->cancel(); });
    }
    waiting_.erase(waiting_.begin(), end);
  }
  audit::AuditLog* log_ = nullptr;
  std::mutex mu_;
  std::multimap<uint64_t, Waiter> waiting_;
};

// A result another thread (a ledger's commit thread) will deliver through a
// callback: the result is handed back on the waiting coroutine's
// single-threaded io_context, so the hand-over can never race with the wait.
//   Pending<Status> p(co_await net::this_coro::executor);
//   ledger->SettleAsync(id, usage, p.Callback());   // may run at once or later
//   ... other work ...
//   Status st = co_await p.Wait();
template <typename T>
class Pending {
 public:
  explicit Pending(net::any_io_executor ex) : state_(std::make_shared<State>(ex)) {}
  std::function<void(const T&)> Callback() {
    return [state = state_](const T& r) {
      if (std::this_thread::get_id() == state->owner) {  // called back at once (a journaled change)
        state->result = r;
        state->done = true;
        return;
      }
      net::post(state->ex, [state, r] {
        state->result = r;
        state->done = true;
        state->timer.cancel();
      });
    };
  }
  net::awaitable<T> Wait() {
    while (!state_->done) {
      boost::system::error_code ec;
      co_await state_->timer.async_wait(net::redirect_error(use_awaitable, ec));
    }
    co_return state_->result;
  }

 private:
  struct State {
    explicit State(net::any_io_executor e) : ex(e), timer(e, net::steady_timer::time_point::max()) {}
    net::any_io_executor ex;
    std::thread::id owner = std::this_thread::get_id();  // runs ex (one thread per io_context)
    net::steady_timer timer;
    T result{};
    bool done = false;
  };
  std::shared_ptr<State> state_;
};

// tollgate_request_seconds{path}: every chat, decide and models request,
// whatever its answer (refusals, 400s, 502/504, 499, streams), observed as
// the handler returns, once the last byte went out.
struct ObserveTotal {
  Histogram& h;
  int64_t start_ns;
  ~ObserveTotal() { h.Observe(MonoNs() - start_ns); }
};

struct Worker {
  net::io_context io{1};
  std::unique_ptr<UpstreamPool> pool;
  // Exchanges (with their grown decode and decision buffers) reused by this
  // thread's requests.
  std::vector<std::unique_ptr<Exchange>> spare;
};
// The worker whose io_context runs on this thread (one per thread; server.cc).
extern constinit thread_local Worker* tl_worker;

// An Exchange from this thread's spares, returned to them when done (a
// request's coroutine always resumes on its own thread).
struct ExchangeLease {
  std::unique_ptr<Exchange> x;
  ExchangeLease() {
    if (tl_worker && !tl_worker->spare.empty()) {
      x = std::move(tl_worker->spare.back());
      tl_worker->spare.pop_back();
    } else {
      x = std::make_unique<Exchange>();
    }
  }
  ~ExchangeLease() {
    if (!tl_worker || tl_worker->spare.size() >= 256) return;
    x->Reset();
    tl_worker->spare.push_back(std::move(x));
  }
  Exchange* get() const { return x.get(); }
  Exchange* operator->() const { return x.get(); }
  Exchange& operator*() const { return *x; }
};

// The bearer token of the Authorization header (any case of `Bearer`), or
// empty when there is none.
std::string Bearer(const Request& req);

// The `Date` header's value now (HttpDate), formatted at most once a
// second per thread.
const std::string& DateNow();

}  // namespace internal

struct Server::Impl {
  using ClientStream = internal::ClientStream;
  using Request = internal::Request;
  using Response = internal::Response;
  using tcp = internal::tcp;
  using Worker = internal::Worker;
  using DurableWaiter = internal::DurableWaiter;

  struct ClientWatch;
  Service& svc;
  const Config& cfg;
  // The watches of the chat requests waiting for or relaying an upstream
  // answer, with the executor of each one's thread, and whether the drain's
  // end stopped them all (StopInFlight); guarded by watches_mu. Declared
  // before `workers`: a request's coroutine destroyed with its worker's
  // io_context still takes its watch off the list.
  std::mutex watches_mu;
  std::map<ClientWatch*, net::any_io_executor> watches;
  bool stopping_in_flight = false;
  std::vector<std::unique_ptr<Worker>> workers;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::unique_ptr<net::signal_set> signals;
  static constexpr int kBlockingThreads = 2;
  // After drain_timeout_ms, how long the requests StopInFlight ended have to
  // settle, be recorded and answered before the I/O threads stop.
  static constexpr int kStopInFlightMs = 2'000;
  net::thread_pool blocking{kBlockingThreads};
  DurableWaiter waiter;
  std::atomic<bool> draining{false};
  // The drain's grace period (Config::drain_grace_ms) ends early once set.
  std::mutex drain_mu;
  std::condition_variable drain_cv;
  bool grace_over = false;
  // The drain (StartDrain), joined by Run once the I/O threads stopped, or
  // by the destructor (a drain started without Run); guarded by drain_mu.
  std::thread drain_thread;
  std::atomic<int64_t> in_flight{0};
  std::atomic<size_t> next_worker{0};
  bool offload_ledger = false;
  uint16_t port = 0;
  TrustedProxies trusted;  // config.trusted_proxies

  explicit Impl(Service& s) : svc(s), cfg(s.config()) {}
  ~Impl() {
    {
      std::lock_guard<std::mutex> lock(drain_mu);
      grace_over = true;
    }
    drain_cv.notify_all();
    JoinDrain();
  }
  void JoinDrain() {
    std::thread t;
    {
      std::lock_guard<std::mutex> lock(drain_mu);
      t = std::move(drain_thread);
    }
    if (t.joinable()) t.join();
  }

  Worker& worker0() { return *workers[0]; }

  // Runs `f` on the blocking pool; the coroutine resumes on its own thread.
  // Not a template: co_spawn is instantiated once (server.cc), not per
  // caller's lambda in every file (compile time); the calls are a policy
  // compile or a Redis round trip, beside which a std::function is nothing.
  net::awaitable<void> OffThread(std::function<void()> f);

  // Without audit_sync the record is written to the OS right here, by this
  // thread (AuditLog::Drain: compose, hash, one write(2); no hand-over to the
  // writer thread): tollgate's own work, so inside the processing time that
  // the callers observe after Finish. Durable then has nothing left to write.
  uint64_t WriteRecord(uint64_t seq) {
    if (seq != 0 && !cfg.audit_sync && svc.audit()) svc.audit()->Drain();
    return seq;
  }

  // --- durability (server_chat.cc) ---
  // Settles and records at once; returns once the settlement is durable
  // (awaited without blocking this thread) with the audit sequence number
  // the answer must wait for.
  net::awaitable<uint64_t> Finish(Exchange* x, const Outcome& o);
  // Holds the answer until its record is durable; false when the record
  // could not be written (the log failed).
  net::awaitable<bool> Durable(Exchange* x, uint64_t seq);
  // Durable, or `res` becomes 503 audit_unavailable (docs/gateway.md).
  net::awaitable<void> DurableOr503(Exchange* x, uint64_t seq, Response* res);

  // --- responses (server.cc) ---
  // The headers every answer carries: server, policy version, decision id.
  void Common(Response* res, const Exchange* x);
  // CORS headers on an answer to an allowed origin (never the admin API).
  void Cors(const Request& req, boost::beast::http::fields* h) const;
  // A browser's preflight (OPTIONS with Origin) while CORS is on.
  net::awaitable<bool> Preflight(ClientStream& stream, Request& req, const std::string& path);
  // Writes `res` (answering `req`, or null to close after it) and counts it
  // under `path`; true when the connection stays open.
  net::awaitable<bool> Send(ClientStream& stream, Response& res, const Request* req, const std::string& path);
  Response Json(int status, std::string body, unsigned version = 11);
  // 503 audit_unavailable for a chat or decide request while the log fails.
  Response AuditUnavailable(const Request& req, const Exchange* x);
  static bool PostPath(std::string_view path);
  // A POST to the chat endpoint whose bearer key is missing or unknown: its
  // `Expect: 100-continue` is answered 401 before the body is sent.
  bool UnknownChatCaller(const Request& head) const;
  // After an answer that left part of the request unread: shut the sending
  // side, read away what the client still sends (at most read_timeout_ms).
  net::awaitable<void> LingeringClose(ClientStream& stream);
  static const char* AdminMethod(std::string_view path);
  static bool ModelPath(std::string_view path);

  // --- the chat flow's helpers (server_chat.cc) ---
  static void RetryAdvice(const Exchange& x, Response* res);
  // Watches the client while the gateway waits for the upstream (connect,
  // a long non-streamed generation, a silent stream): a client that leaves
  // is noticed at once -- its connection becomes readable with nothing to
  // read (EOF or a reset) -- and the upstream connection in *conn, if any,
  // is closed, which ends the wait and stops the provider's generation.
  // Bytes to read are a pipelined next request: the watch just ends. The
  // handler touches the socket and *conn only while `active`; StopWatch
  // clears it (on this thread) before the socket or *conn can go away and
  // before the next write to the client (cancel() cancels every operation).
  // The watch is a one-byte MSG_PEEK receive, not a wait: the reactor
  // starts a wait with epoll_ctl(2) every time, a receive on a socket it
  // already watches for reading with none (a peek leaves the bytes of a
  // pipelined request where the session's next read finds them).
  // `stopped`: the end of a drain ended the request (StopInFlight): `gone`
  // is set too, so every wait ends as for a client that left, but the
  // client is still there and is told `gateway_stopped`.
  struct ClientWatch {
    bool active = true, gone = false, stopped = false;
    char peek = 0;
    std::unique_ptr<UpstreamConn>* conn = nullptr;
  };
  static std::shared_ptr<ClientWatch> WatchClient(boost::beast::tcp_stream& stream,
                                                  std::unique_ptr<UpstreamConn>* conn);
  static void StopWatch(boost::beast::tcp_stream& stream, ClientWatch* watch);
  // Lists a chat request's watch in `watches` for as long as it lives (one
  // that starts after StopInFlight is stopped at once).
  struct WatchListing {
    WatchListing(Impl* impl, ClientWatch* w, net::any_io_executor ex);
    ~WatchListing();
    WatchListing(const WatchListing&) = delete;
    WatchListing& operator=(const WatchListing&) = delete;
    Impl* impl;
    ClientWatch* w;
  };
  // The drain's end (drain_timeout_ms passed with requests in flight): on
  // each listed watch's thread, closes its upstream call and marks it
  // `stopped`, so that each request settles, writes its record and answers
  // 503 `gateway_stopped` (a stream: a final error event) before the I/O
  // threads stop. Called on the drain thread.
  void StopInFlight();
  // (on the watch's thread, with watches_mu held)
  static void StopWatched(ClientWatch* w);
  // A non-streamed request StopInFlight ended: recorded and answered 503
  // `gateway_stopped`; the connection is closed after the answer.
  net::awaitable<bool> AnswerStopped(ClientStream& stream, Request& req, Exchange* x, Outcome& o,
                                     const std::string& path, const char* message);
  bool RequestContext(ClientStream& stream, const Request& req, const Identity& who, std::string* json,
                      runtime::InputError* err) const;

  // --- handlers: true when the connection stays open ---
  // server.cc: the router, the sessions, the listener, the small endpoints.
  net::awaitable<bool> Handle(ClientStream& stream, Request& req);
  net::awaitable<void> Session(tcp::socket socket);
  net::awaitable<void> Accept();
  net::awaitable<bool> Models(ClientStream& stream, Request& req, const std::string& path);
  net::awaitable<bool> Healthz(ClientStream& stream, Request& req, const std::string& path);
  net::awaitable<bool> MetricsPage(ClientStream& stream, Request& req, const std::string& path);
  net::awaitable<bool> Decide(ClientStream& stream, Request& req, const std::string& path);
  net::awaitable<bool> Admin(ClientStream& stream, Request& req, const std::string& path);
  // server_chat.cc
  net::awaitable<bool> Chat(ClientStream& stream, Request& req, const std::string& path);
  // `grace`: keep accepting for drain_grace_ms first (SIGTERM, Stop); a
  // second call ends the grace period.
  void StartDrain(bool grace);
  // Has every I/O thread build its copies of what the policies now loaded
  // match with (Service::WarmThread), as its next task: after a policy
  // change, so that no request pays for it.
  void WarmWorkers();
};

}  // namespace tollgate::gateway
