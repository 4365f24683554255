// POST /v1/chat/completions (server.h): authenticate, decide, the upstream
// attempts with their fallbacks, the whole answer or the stream relayed,
// settlement, the record and its durability.
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <ctime>
#include <optional>
#include <string>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http.hpp>

#include "engine/core/money.h"
#include "runtime/gateway/internal/http_text.h"
#include "runtime/gateway/internal/relay.h"
#include "runtime/gateway/internal/server_impl.h"
#include "runtime/gateway/sse.h"
#include "runtime/router/router.h"
#include "stdlib/builtins.h"

namespace tollgate::gateway {

using namespace internal;

namespace {

// How long a stream's head waits for the upstream's first line (the
// fallback window, docs/gateway.md): failures before the first chunk come
// at once, and a model that thinks longer must not keep the client's head
// back (an SDK's timeout covers the wait for the head, then retries).
constexpr int kStreamCommitWaitMs = 1000;

// A stream's head to the client, and its write when it went out while the
// first line was still awaited (`started`; `done` and `ec` once written,
// which cancels `wake`).
struct StreamHead {
  explicit StreamHead(const net::any_io_executor& ex) : timer(ex), wake(ex) {}
  http::response<http::empty_body> head;
  std::optional<http::response_serializer<http::empty_body>> sr;
  net::steady_timer timer, wake;
  bool started = false, done = false, cancelled = false;
  boost::system::error_code ec;
};

}  // namespace

// Settles and records at once; returns once the settlement is durable
// (awaited without blocking this thread) with the audit sequence number
// the answer must wait for.
net::awaitable<uint64_t> Server::Impl::Finish(Exchange* x, const Outcome& o) {
  if (!x->reserved) {
    svc.Charge(x, o, nullptr);
    co_return WriteRecord(svc.Record(x, o));
  }
  Pending<ledger::Status> settled(co_await net::this_coro::executor);
  svc.Charge(x, o, settled.Callback());
  const uint64_t seq = WriteRecord(svc.Record(x, o));
  const int64_t t0 = MonoNs();
  ledger::Status st = co_await settled.Wait();
  x->wait_ns += MonoNs() - t0;
  if (!st.ok) {
    svc.log().error("{{\"event\":\"ledger_settle_failed\",\"code\":\"{}\",\"message\":\"{}\"}}",
                    st.code, st.message);
  }
  co_return seq;
}

// Holds the answer until its record is durable; the wait is counted apart
// from tollgate's own processing.
// False when the record could not be written (the log failed): the
// answer must not go out as if it had been recorded. seq 0 with a failed
// log is such a record too (Append refuses after a failure; a request that
// passed the up-front check while the log was failing lands here).
net::awaitable<bool> Server::Impl::Durable(Exchange* x, uint64_t seq) {
  const int64_t t0 = MonoNs();
  // Without audit_sync a record is durable once written to the OS; Finish
  // wrote it already (WriteRecord). Whatever is still queued (nothing, on
  // the paths that went through Finish) is written now.
  WriteRecord(seq);
  co_await waiter.Wait(seq);
  const int64_t waited = MonoNs() - t0;
  x->wait_ns += waited;
  svc.metrics().durability.Observe(x->wait_ns);
  if (!svc.audit()) co_return true;
  co_return seq == 0 ? !svc.audit()->failed() : svc.audit()->durable_seq() >= seq;
}

// Durable, or `res` becomes 503 audit_unavailable (docs/gateway.md).
net::awaitable<void> Server::Impl::DurableOr503(Exchange* x, uint64_t seq, Response* res) {
  if (co_await Durable(x, seq)) co_return;
  Response failed = Json(503, OpenAIError(503, "audit_unavailable",
                                          "the decision log cannot be written; the answer is withheld", "",
                                          x->decision_id),
                         res->version());
  failed.set("x-should-retry", "false");
  Common(&failed, x);
  *res = std::move(failed);
}

// Whether a client should retry a refusal, in the headers the OpenAI SDKs
// read (they retry 408, 409, 429 and 5xx twice by default, unless
// `x-should-retry` says otherwise; `retry-after` under 60 s sets the
// wait). A rate limit says when (unless it never frees); a policy, routing or budget refusal is
// the same on a retry (`x-should-retry: false`); an unreachable budget
// store (503) may recover, and is left to the client's backoff.
void Server::Impl::RetryAdvice(const Exchange& x, Response* res) {
  if (x.invalid) return;  // 400: never retried
  if (x.admission.verdict == ledger::Verdict::kRateLimited) {
    // A lifetime limit never frees (retry_after 0), nor does any limit for
    // a request larger than its max: no Retry-After, no retry.
    if (x.admission.retry_after_s <= 0 || x.admission.requested > x.admission.limit) {
      res->set("x-should-retry", "false");
      return;
    }
    const int64_t after = x.admission.retry_after_s;
    res->set(http::field::retry_after, std::to_string(after));
    // The SDKs ignore a longer wait and retry at once: futile requests.
    if (after >= 60) res->set("x-should-retry", "false");
    return;
  }
  if (x.s.decision.code == ledger::kCodeStoreUnavailable) return;
  res->set("x-should-retry", "false");
}

std::shared_ptr<Server::Impl::ClientWatch> Server::Impl::WatchClient(beast::tcp_stream& stream, std::unique_ptr<UpstreamConn>* conn) {
  auto watch = std::make_shared<ClientWatch>();
  watch->conn = conn;
  stream.socket().async_receive(net::buffer(&watch->peek, 1), tcp::socket::message_peek,
                                [watch](boost::system::error_code wec, size_t n) {
    if (!watch->active || wec == net::error::operation_aborted) return;
    if (wec || n == 0) {  // end of stream or a reset: the client left
      watch->gone = true;
      if (*watch->conn) (*watch->conn)->Abort();
    }
  });
  return watch;
}

void Server::Impl::StopWatch(beast::tcp_stream& stream, ClientWatch* watch) {
  if (!watch->active) return;
  watch->active = false;
  boost::system::error_code ec;
  stream.socket().cancel(ec);  // the wait, if it is still pending
}

Server::Impl::WatchListing::WatchListing(Impl* i, ClientWatch* watch, net::any_io_executor ex) : impl(i), w(watch) {
  std::lock_guard<std::mutex> lock(impl->watches_mu);
  if (impl->stopping_in_flight) {
    StopWatched(w);  // the drain ended before this request reached its upstream
  } else {
    impl->watches.emplace(w, std::move(ex));
  }
}

Server::Impl::WatchListing::~WatchListing() {
  std::lock_guard<std::mutex> lock(impl->watches_mu);
  impl->watches.erase(w);
}

void Server::Impl::StopWatched(ClientWatch* w) {
  if (!w->active || w->gone) return;
  w->stopped = w->gone = true;
  if (*w->conn) (*w->conn)->Abort();
}

void Server::Impl::StopInFlight() {
  std::lock_guard<std::mutex> lock(watches_mu);
  stopping_in_flight = true;
  for (const auto& [w, ex] : watches) {
    // On the request's own thread; the watch may be gone by then.
    net::post(ex, [this, w = w] {
      std::lock_guard<std::mutex> held(watches_mu);
      if (watches.count(w)) StopWatched(w);
    });
  }
}

net::awaitable<bool> Server::Impl::AnswerStopped(ClientStream& stream, Request& req, Exchange* x, Outcome& o,
                                                 const std::string& path, const char* message) {
  o.http_status = 503;
  o.error_code = "gateway_stopped";
  uint64_t seq = co_await Finish(x, o);
  Response res = Json(503, OpenAIError(503, "gateway_stopped", message, "", x->decision_id), req.version());
  Common(&res, x);
  Cors(req, &res);  // (Send adds it only with a request; this one closes the connection)
  co_await DurableOr503(x, seq, &res);
  co_await Send(stream, res, nullptr, path);
  co_return false;
}

// The chat request's decision context (context.h): the key's defaults,
// the x-tollgate-* headers, the client's address. False with *err (400).
bool Server::Impl::RequestContext(ClientStream& stream, const Request& req, const Identity& who, std::string* json,
                    runtime::InputError* err) const {
  ContextHeaders h;
  std::vector<std::string_view> forwarded;
  auto all = [&](std::string_view name, std::vector<std::string_view>* out) {
    for (auto [it, end] = req.equal_range(name); it != end; ++it) {
      out->emplace_back(it->value().data(), it->value().size());
    }
  };
  all("x-tollgate-data-class", &h.data_class);
  all("x-tollgate-environment", &h.environment);
  all("x-tollgate-tags", &h.tags);
  if (!trusted.empty()) all("x-forwarded-for", &forwarded);
  const std::string* peer = stream.Peer();
  const std::string ip = peer ? ClientIp(*peer, forwarded, trusted) : std::string();
  return ComposeContext(who, h, peer ? &ip : nullptr, json, err);
}

net::awaitable<bool> Server::Impl::Chat(ClientStream& stream, Request& req, const std::string& path) {
  ExchangeLease x;
  x->start_ns = MonoNs();
  ObserveTotal observe_total{svc.metrics().request_seconds(Route::kChat), x->start_ns};
  x->path = path;
  x->live = svc.live();
  x->shadow = svc.shadow();
  x->keys = svc.keys();
  std::string token = Bearer(req);
  x->who = token.empty() ? nullptr : x->keys->Find(token);
  if (!x->who) {
    Response res = Json(401, OpenAIError(401, token.empty() ? "missing_api_key" : "invalid_api_key",
                                         token.empty() ? "an API key is required (Authorization: Bearer KEY)"
                                                       : "the API key is not known"), req.version());
    Common(&res, x.get());
    svc.LogWithoutDecision(path, nullptr, "unauthenticated", token.empty() ? "missing_api_key" : "invalid_api_key", 401,
                   x->start_ns);
    co_return co_await Send(stream, res, &req, path);
  }
  if (svc.audit() && svc.audit()->failed()) {
    Response res = AuditUnavailable(req, x.get());
    svc.LogWithoutDecision(path, x->who, "refused", "audit_unavailable", 503, x->start_ns);
    co_return co_await Send(stream, res, &req, path);
  }
  x->body = std::move(req.body());
  std::string context;
  if (!CheckRequestBody(&x->body, &x->include_usage, &x->input_error, &x->prompt, x->live->catalog.get())) {
    x->invalid = true;  // answered 400 below, like the decoder's refusals
  } else if (!RequestContext(stream, req, *x->who, &context, &x->input_error)) {
    x->invalid = true;  // a refused x-tollgate-* header: the same 400
  } else {
    BuildInput(*x->who, context, x->body, &x->input);
    if (offload_ledger) {
      co_await OffThread([&] { svc.Decide(x.get()); });
    } else {
      svc.Decide(x.get());
    }
  }
  // `x-tollgate-explain`: 1, true, yes or on (any case) ask for the routing
  // explanation; 0, false, no, off or anything else do not.
  const bool explain = [&] {
    const auto it = req.find("x-tollgate-explain");
    if (it == req.end()) return false;
    const std::string_view v(it->value().data(), it->value().size());
    for (std::string_view yes : {"1", "true", "yes", "on"}) {
      if (boost::beast::iequals(v, yes)) return true;
    }
    return false;
  }();
  auto explain_header = [&](auto* res) {  // a Response, or a stream's head
    if (explain && !x->invalid) {
      res->set("x-tollgate-explain", CapExplain(runtime::EliminatedJson(*x->live->catalog, x->live->policy->program(),
                                                                         x->s.route, false, &x->s.request)));
    }
  };
  if (!x->allowed()) {
    Outcome o;
    o.http_status = svc.Status(*x);
    o.error_code = x->invalid ? x->input_error.code : std::string(x->s.decision.code);
    uint64_t seq = x->invalid ? 0 : co_await Finish(x.get(), o);
    if (x->invalid) {
      svc.metrics().decisions.Add(Label("outcome", "invalid") + "," + Label("code", x->input_error.code) + "," +
                                  Label("rule", ""));
      svc.LogWithoutDecision(path, x->who, "invalid", x->input_error.code, 400, x->start_ns);
    }
    svc.metrics().processing.Observe(MonoNs() - x->start_ns - x->wait_ns);
    Response res = Json(o.http_status, svc.ErrorJson(*x), req.version());
    RetryAdvice(*x, &res);
    Common(&res, x.get());
    explain_header(&res);
    co_await DurableOr503(x.get(), seq, &res);
    co_return co_await Send(stream, res, &req, path);
  }

  // Upstream attempts: primary, then fallbacks, until one answers.
  UpstreamPool& pool = *tl_worker->pool;
  Outcome o;
  o.stream = x->stream;
  // The failed attempts, a JSON array for the record and the 502 answer
  // (messages come from the OS and OpenSSL: written, not spliced).
  rapidjson::StringBuffer failed_buf;
  rapidjson::Writer<rapidjson::StringBuffer> failed(failed_buf);
  failed.StartArray();
  bool any_failed = false;
  const size_t attempts = std::min<size_t>(x->s.route.endpoints.size(), cfg.upstream.max_attempts);
  int64_t processing_ns = MonoNs() - x->start_ns;
  int64_t up_start = 0;
  std::unique_ptr<UpstreamConn> conn;
  UpstreamError err;
  bool budget_refused = false;
  bool sent = false;  // a request went to some upstream
  // What the failed attempts said, for the answer when none succeeds: every
  // one a 429 (with the shortest wait given in ms, -1 when none was), or
  // every one a 401/403.
  size_t failed_n = 0, failed_429 = 0, failed_auth = 0, failed_invalid = 0;
  int64_t upstream_retry_after_ms = -1;
  // A whole answer (not a stream) is read inside the attempt loop: one that
  // is no chat completion falls back to the next endpoint like a 5xx
  // (nothing has reached the client yet). `whole`: the last attempt's body
  // was read here (`body`, `body_done`, `read_err`); for a stream request
  // answered with JSON, `conv` and `events` are its conversion (sse.h).
  bool whole = false, body_done = false;
  std::string body, events;
  UpstreamError read_err;
  Outcome read_usage;  // `body`'s usage (UsageOf), read once
  SseConversion conv = SseConversion::kNotACompletion;
  // A stream's bytes up to its first whole `data:` line, read in the attempt
  // loop before the client gets any byte (`first_done`, `first_err`: how the
  // read ended); the relay sends them first.
  std::string first;
  bool first_done = false, primed = false;
  UpstreamError first_err;
  auto sh = std::make_shared<StreamHead>(co_await net::this_coro::executor);
  // The stream's head (once the upstream that answers is known).
  auto fill_head = [&](http::response<http::empty_body>* head) {
    if (x->decision_id.empty()) svc.NewDecisionId(x.get());
    const bool chunked = req.version() >= 11;
    *head = http::response<http::empty_body>{http::status::ok, req.version()};
    head->set(http::field::server, "tollgate");
    head->set(http::field::date, DateNow());
    head->set(http::field::content_type, "text/event-stream");
    head->set(http::field::cache_control, "no-cache");
    head->set("x-tollgate-policy-version", x->live->version);
    head->set("x-tollgate-decision-id", x->decision_id);
    if (const std::string id = conn->header("x-request-id"); !id.empty()) head->set("x-request-id", id);
    Cors(req, head);
    explain_header(head);
    head->chunked(chunked);
    head->keep_alive(chunked && req.keep_alive() && !draining.load());
  };
  auto watch = WatchClient(stream, &conn);
  WatchListing listed(this, watch.get(), co_await net::this_coro::executor);
  for (size_t a = 0; a < attempts && !watch->gone; ++a) {
    const int64_t t0 = MonoNs();
    whole = false;
    x->attempt_charged = false;  // a new attempt (ChargeFailedAttempt sets it)
    if (a > 0) {
      svc.metrics().fallbacks.fetch_add(1);
      bool moved = true;
      if (x->reserved || x->replan || x->rereserve) {
        Pending<bool> move(co_await net::this_coro::executor);
        svc.MoveToAsync(x.get(), a, move.Callback());
        moved = co_await move.Wait();
      }
      if (!moved) {  // the fallback's worst case does not fit the budget
        budget_refused = true;
        break;
      }
    }
    x->attempt = a;  // (MoveToAsync sets it too, when there is a reservation to move)
    const runtime::Endpoint& ep = x->live->catalog->endpoint(x->s.route.endpoints[a].endpoint);
    const UpstreamTarget& t = x->live->targets[x->s.route.endpoints[a].endpoint];
    Request up{http::verb::post, t.path_prefix + "/chat/completions" + t.query, 11};
    up.set(http::field::host, t.host_header);
    up.set(http::field::content_type, "application/json");
    up.set(http::field::user_agent, "tollgate");
    if (x->stream) up.set(http::field::accept, "text/event-stream");
    up.set(http::field::accept_encoding, "identity");  // a body the gateway can read for its usage
    if (!t.auth_header.empty()) up.set(t.auth_header, t.auth_value);
    std::string why;
    if (!svc.UpstreamBody(*x, a, &up.body(), &why)) {
      err = {"request", why};
      break;
    }
    up.keep_alive(true);
    up.prepare_payload();
    processing_ns += MonoNs() - t0;
    up_start = MonoNs();
    for (int tries = 0; tries < 2 && !watch->gone; ++tries) {
      err = {};
      conn = co_await pool.Acquire(t, &err);
      if (!conn) break;
      if (watch->gone) break;  // left while we connected
      bool stale = false;
      sent = true;
      err = co_await conn->Send(up, &stale);
      if (err.ok() || !stale) break;
      conn.reset();
    }
    if (watch->gone) {
      conn.reset();
      break;
    }
    if (err.ok()) {
      int st = conn->status();
      // 401/403: the provider refused tollgate's credentials for it (a wrong
      // or expired key in the catalog's env variable, a region block). The
      // client's own key is fine, so it must not see the provider's 401
      // (OpenAI's "Incorrect API key provided: sk-...***..." names part of
      // the operator's key, and the SDKs throw it as the caller's
      // AuthenticationError): the next endpoint is tried, as for 5xx.
      if (st == 429 || st >= 500 || st == 401 || st == 403) {
        std::string kind = st >= 500 ? std::string("status_5xx") : "status_" + std::to_string(st);
        err = {std::move(kind), "upstream answered " + std::to_string(st)};
        if (st == 429) {
          ++failed_429;
          const int64_t after = UpstreamRetryAfterMs(conn->header("retry-after-ms"), conn->header("retry-after"),
                                                     static_cast<int64_t>(std::time(nullptr)));
          if (after >= 0 && (upstream_retry_after_ms < 0 || after < upstream_retry_after_ms)) {
            upstream_retry_after_ms = after;
          }
        } else if (st == 401 || st == 403) {
          ++failed_auth;
        }
        // Drain a short error body so the connection can be reused.
        std::string junk;
        bool done = false;
        while (!done && junk.size() < 65536) {
          if (!(co_await conn->Read(&junk, &done)).ok()) break;
        }
        pool.Release(std::move(conn));
        o.upstream_status = st;
      }
    }
    // What a failed attempt that reported usage was charged (-1: nothing).
    int64_t charged = -1;
    bool charge = false;  // a failed attempt is charged (the provider billed it)
    Outcome billed;
    if (err.ok() && conn->status() == 200 && (!x->stream || JsonMediaType(conn->header("content-type")))) {
      whole = true;
      body.clear();
      body_done = false;
      read_err = {};
      while (!body_done && !watch->gone) {
        read_err = co_await conn->Read(&body, &body_done);
        if (!read_err.ok() || body.size() > cfg.upstream.max_response_bytes) break;
      }
      // A cut or too large answer, or a client gone: answered below (the
      // upstream may have done the work: no fallback).
      if (!watch->gone && read_err.ok() && body_done && body.size() <= cfg.upstream.max_response_bytes) {
        Outcome& probe = read_usage;
        probe = Outcome();
        const bool completion = UsageOf(body, &probe);
        bool usable;
        if (x->stream) {
          events.clear();
          conv = CompletionAsSse(body, x->include_usage, &events);
          usable = conv != SseConversion::kNotACompletion;
        } else {
          // Truncated JSON, an HTML page, events, a compressed body: nothing the SDK can read.
          usable = completion && JsonMediaType(conn->header("content-type"));
        }
        if (!usable) {
          pool.Release(std::move(conn));  // the body was read whole: the connection is reusable
          err = {"answer_invalid", "upstream answered 200 with a body that is not a JSON chat completion"};
          o.upstream_status = 200;
          ++failed_invalid;
          // Usage the answer reported (not an estimate from its text): the
          // provider billed the attempt, so it is charged; otherwise it costs nothing.
          billed.prompt_tokens = probe.prompt_tokens;
          billed.completion_tokens = probe.usage_estimated ? -1 : probe.completion_tokens;
          charge = billed.prompt_tokens >= 0 || billed.completion_tokens >= 0;
        }
      }
    }
    if (err.ok() && x->stream && !whole && conn->status() == 200) {
      // A stream is committed to at its first data line, not at its head:
      // one that ends or is cut before any, or opens with an error event (a
      // provider failing after its 200), has sent the client nothing and
      // falls back like a 5xx. A comment line commits it too: a provider's
      // keep-alives while its model thinks go on to the client (and keep
      // its load balancer's idle timeout from cutting the stream).
      first.clear();
      first_done = false;
      first_err = {};
      SseTracker probe;
      std::string relayed;  // (the probe's output: unused)
      // Past kStreamCommitWaitMs the head goes out anyway (and the stream
      // is committed to): written by the timer's handler while the read
      // below waits (another socket; this thread's loop runs both).
      sh->cancelled = false;
      sh->timer.expires_after(std::chrono::milliseconds(kStreamCommitWaitMs));
      sh->timer.async_wait([&, sh](boost::system::error_code tec) {
        if (tec || sh->cancelled) return;
        sh->started = true;
        fill_head(&sh->head);
        sh->sr.emplace(sh->head);
        stream.expires_after(std::chrono::milliseconds(cfg.upstream.idle_timeout_ms));
        stream.answering = true;
        http::async_write_header(stream, *sh->sr, [sh](boost::system::error_code wec, size_t) {
          sh->ec = wec;
          sh->done = true;
          sh->wake.cancel();
        });
      });
      while (!first_done && !watch->gone && !probe.data_line && !probe.comment_line && first.size() <= (1u << 20)) {
        const size_t had = first.size();
        first_err = co_await conn->Read(&first, &first_done);
        probe.Feed(std::string_view(first).substr(had), &relayed);
        if (!first_err.ok()) break;
      }
      sh->cancelled = true;
      sh->timer.cancel();
      while (sh->started && !sh->done) {
        sh->wake.expires_after(std::chrono::hours(1));
        boost::system::error_code wec;
        co_await sh->wake.async_wait(net::redirect_error(use_awaitable, wec));
      }
      primed = true;
      // A client that left meanwhile: the relay below records the stream
      // as abandoned, charged at what was delivered, as it did before. The
      // last endpoint's stream is relayed as it came (its error event is
      // the provider's word to the client, more use than a 502 listing it).
      if (watch->gone || a + 1 >= attempts || sh->started) {
      } else if (probe.chunks == 0 && !probe.done && !probe.comment_line && !first_err.ok()) {
        // Cut before its first event: charged as such a stream was (the
        // prompt; nothing was delivered), as the provider may bill it.
        err = {"stream_cut", "the upstream stream ended early, before its first event"};
        billed.completion_tokens = 0;
        charge = true;
      } else if (probe.chunks == 0 && !probe.comment_line && (first_done || probe.done)) {  // ended, or [DONE]
        err = {"stream_empty", "upstream answered 200 with a stream without events"};
        if (first_done) pool.Release(std::move(conn));
      } else if (probe.error_event && probe.text_bytes == 0) {
        err = {"stream_error", "upstream answered 200, then an error event before any text"};
      }
      if (!err.ok()) o.upstream_status = 200;
    }
    if (err.ok()) {
      x->attempt = a;
      break;
    }
    if (err.kind == "timeout" && conn) {
      // No answer head within first_byte_timeout_ms, on a connection that
      // took the request: the provider may well be generating it (a long
      // non-streamed answer sends its head with the whole answer) and bill
      // it, read or not. Charged at its worst case, as a request whose
      // client left is (docs/gateway.md, *Durability*): spend is never lost;
      // the next attempt reserves its own worst case anew.
      conn.reset();  // stops the generation where closing does
      billed = Outcome();  // no usage: the worst case
      charge = true;
    }
    if (charge) {  // a failed attempt the provider billed (above)
      Pending<ledger::Status> settled(co_await net::this_coro::executor);
      charged = svc.ChargeFailedAttempt(x.get(), billed, settled.Callback());
      const ledger::Status st = co_await settled.Wait();
      if (!st.ok) {
        svc.log().error("{{\"event\":\"ledger_settle_failed\",\"code\":\"{}\",\"message\":\"{}\"}}",
                        st.code, st.message);
      }
    }
    conn.reset();
    svc.metrics().upstream_errors.Add(Label("endpoint", ep.id) + "," + Label("kind", err.kind));
    any_failed = true;
    ++failed_n;
    failed.StartObject();
    failed.Key("endpoint");
    failed.String(ep.id.data(), static_cast<rapidjson::SizeType>(ep.id.size()));
    failed.Key("kind");
    failed.String(err.kind.data(), static_cast<rapidjson::SizeType>(err.kind.size()));
    failed.Key("message");
    failed.String(err.message.data(), static_cast<rapidjson::SizeType>(err.message.size()));
    if (charged >= 0) {  // the reported usage it was charged at
      if (billed.prompt_tokens >= 0) {
        failed.Key("prompt_tokens");
        failed.Int64(billed.prompt_tokens);
      }
      if (billed.completion_tokens >= 0) {
        failed.Key("completion_tokens");
        failed.Int64(billed.completion_tokens);
      }
      if (billed.prompt_tokens < 0 && billed.completion_tokens < 0) {  // a timeout: the worst case
        failed.Key("usage_estimated");
        failed.Bool(true);
      }
      failed.Key("cost");
      const std::string cost = FormatMicros(charged);
      failed.String(cost.data(), static_cast<rapidjson::SizeType>(cost.size()));
    }
    failed.EndObject();
    x->attempt = a;
  }
  failed.EndArray();
  const std::string failures(failed_buf.GetString(), failed_buf.GetSize());
  if (any_failed) o.upstream_errors = failures;

  if (!conn && watch->gone) {
    // The client left before any upstream answered: no answer to send. The
    // upstream may have worked on a request it got: charged at the worst case.
    StopWatch(stream, watch.get());
    o.started = sent;
    o.usage_estimated = sent;
    if (watch->stopped) {
      co_return co_await AnswerStopped(stream, req, x.get(), o, path,
                                       "the gateway stopped before the upstream answered");
    }
    o.http_status = 499;  // nginx's "client closed request", for the record and metrics
    o.error_code = "client_disconnected";
    const int64_t t2 = MonoNs();
    co_await Finish(x.get(), o);
    svc.metrics().processing.Observe(processing_ns + MonoNs() - t2 - x->wait_ns);
    svc.metrics().http_requests.Add(Label("path", path) + "," + Label("status", "499"));
    co_return false;
  }
  if (!conn) {  // nothing answered
    StopWatch(stream, watch.get());
    o.started = false;
    if (budget_refused) {
      // The decision stays what the policy and the admission made it (what
      // replay reproduces); the gateway's refusal is in the record's
      // `gateway` member. A fallback's own rate limit answers 429.
      o.http_status = x->admission.admitted() ? 403 : x->admission.status();
      o.error_code = x->admission.admitted() ? "budget_exceeded" : std::string(x->admission.code());
    } else if (failed_n > 0 && failed_429 == failed_n) {
      // Every provider is rate limiting: a 429 with their shortest wait,
      // so that the client backs off instead of retrying at once.
      o.http_status = 429;
      o.error_code = "upstream_rate_limited";
    } else if (failed_n > 0 && failed_invalid == failed_n) {
      // Every endpoint answered, with no chat completion: what a retry
      // would most likely get again.
      o.http_status = 502;
      o.error_code = "upstream_failed";
    } else {
      o.http_status = err.kind == "timeout" ? 504 : 502;
      o.error_code = "upstream_unavailable";
    }
    const int64_t t2 = MonoNs();
    uint64_t seq = co_await Finish(x.get(), o);
    svc.metrics().processing.Observe(processing_ns + MonoNs() - t2 - x->wait_ns);
    Response res = budget_refused
                       ? Json(o.http_status, OpenAIError(o.http_status, o.error_code, x->admission.message, "", x->decision_id))
                       : Json(o.http_status, OpenAIError(o.http_status, o.error_code,
                                                         (o.http_status == 429 ? "every endpoint is rate limited: "
                                                          : failed_invalid == failed_n
                                                              ? "no endpoint answered with a JSON chat completion: "
                                                              : "no endpoint answered: ") + failures,
                                                         "", x->decision_id));
    if (budget_refused) {
      RetryAdvice(*x, &res);
    } else if (o.http_status == 429) {
      if (upstream_retry_after_ms >= 0) {
        // Both forms: `retry-after-ms` keeps a sub-second wait (the SDKs
        // read it first), `retry-after` in whole seconds for every other client.
        const int64_t after = (upstream_retry_after_ms + 999) / 1000;
        res.set("retry-after-ms", std::to_string(upstream_retry_after_ms));
        res.set(http::field::retry_after, std::to_string(after));
        // The SDKs ignore a longer wait and retry at once: futile requests.
        if (after >= 60) res.set("x-should-retry", "false");
      }
    } else if (failed_n > 0 && (failed_auth == failed_n || failed_invalid == failed_n)) {
      // Every provider refused tollgate's own credentials (a wrong key in
      // the catalog's environment), or answered what is no chat completion:
      // a retry gets the same answer.
      res.set("x-should-retry", "false");
    }
    Common(&res, x.get());
    explain_header(&res);
    co_await DurableOr503(x.get(), seq, &res);
    co_return co_await Send(stream, res, &req, path);
  }

  const int up_status = conn->status();
  o.upstream_status = up_status;
  // A stream request answered with a whole JSON body (a server that ignores
  // `stream`): read as a non-streamed answer, sent on as events (sse.h).
  const bool json_for_stream = x->stream && up_status == 200 && JsonMediaType(conn->header("content-type"));
  if (!x->stream || up_status != 200 || json_for_stream) {
    bool done = body_done;
    if (whole) {  // a 200: read in the attempt loop
      err = read_err;
    } else {
      body.clear();
      while (!done && !watch->gone) {
        err = co_await conn->Read(&body, &done);
        if (!err.ok() || body.size() > cfg.upstream.max_response_bytes) break;
      }
    }
    StopWatch(stream, watch.get());
    const int64_t t1 = MonoNs();
    o.upstream_ns = t1 - up_start;
    svc.metrics().upstream.Observe(o.upstream_ns);
    if (watch->gone && watch->stopped) {  // the drain's end closed the upstream call
      conn.reset();
      o.started = true;  // charged at the worst case: the upstream did (some of) the work
      o.usage_estimated = true;
      co_return co_await AnswerStopped(stream, req, x.get(), o, path,
                                       "the gateway stopped before the upstream answered");
    }
    if (watch->gone) {  // the client left while the upstream answered
      conn.reset();
      o.http_status = 499;
      o.error_code = "client_disconnected";
      o.started = true;  // charged at the worst case: the upstream did (some of) the work
      o.usage_estimated = true;
      co_await Finish(x.get(), o);
      svc.metrics().http_requests.Add(Label("path", path) + "," + Label("status", "499"));
      co_return false;
    }
    if (!err.ok() || !done || body.size() > cfg.upstream.max_response_bytes) {
      conn.reset();
      o.http_status = 502;
      o.error_code = err.ok() ? "upstream_too_large" : "upstream_failed";
      const runtime::Endpoint& ep = x->live->catalog->endpoint(x->s.route.endpoints[x->attempt].endpoint);
      svc.metrics().upstream_errors.Add(Label("endpoint", ep.id) + "," +
                                        Label("kind", err.ok() ? "answer_too_large" : "answer_cut"));
      o.started = true;  // the upstream may have done the work: charged at the estimate
      o.usage_estimated = true;
      uint64_t seq = co_await Finish(x.get(), o);
      Response res = Json(502, OpenAIError(502, o.error_code, "the upstream answer was cut or too large", "", x->decision_id));
      // Too large: the same request gets the same answer, each retry charged
      // at the worst case. A cut connection may not recur: left to the backoff.
      if (err.ok()) res.set("x-should-retry", "false");
      Common(&res, x.get());
      co_await DurableOr503(x.get(), seq, &res);
      co_return co_await Send(stream, res, &req, path);
    }
    std::string content_type = conn->header("content-type");
    const std::string upstream_id = conn->header("x-request-id");
    pool.Release(std::move(conn));
    o.http_status = up_status;
    o.started = up_status >= 200 && up_status < 300;
    // A 200 here is a chat completion (the attempt loop fell back from one
    // that is not).
    if (o.started) {
      if (whole) {
        o.prompt_tokens = read_usage.prompt_tokens;
        o.completion_tokens = read_usage.completion_tokens;
        o.usage_estimated = read_usage.usage_estimated;
      } else {
        UsageOf(body, &o);
      }
      if (o.prompt_tokens < 0 || o.completion_tokens < 0) o.usage_estimated = true;
    }
    if (json_for_stream) {
      if (conv == SseConversion::kError) {  // relayed as the error event it would have streamed
        o.stream_complete = false;
        o.error_code = "upstream_stream_error";
        const runtime::Endpoint& ep = x->live->catalog->endpoint(x->s.route.endpoints[x->attempt].endpoint);
        svc.metrics().upstream_errors.Add(Label("endpoint", ep.id) + "," + Label("kind", "stream_error"));
      }
      body = std::move(events);
      content_type = "text/event-stream";
    }
    uint64_t seq = co_await Finish(x.get(), o);
    processing_ns += MonoNs() - t1 - x->wait_ns;
    svc.metrics().processing.Observe(processing_ns);
    Response res{static_cast<http::status>(o.http_status), req.version()};
    res.set(http::field::content_type, content_type.empty() ? "application/json" : content_type);
    if (json_for_stream) res.set(http::field::cache_control, "no-cache");
    res.body() = std::move(body);
    // The provider's request id, as the SDKs read it (`_request_id`): what a
    // support ticket with the provider needs.
    if (!upstream_id.empty()) res.set("x-request-id", upstream_id);
    Common(&res, x.get());
    explain_header(&res);
    co_await DurableOr503(x.get(), seq, &res);
    co_return co_await Send(stream, res, &req, path);
  }

  // Streaming: relay chunk by chunk; the decision id goes out first. An
  // HTTP/1.0 client cannot read chunked encoding: its stream is the raw
  // bytes, ended by closing the connection.
  const bool chunked = req.version() >= 11;
  const http::response<http::empty_body>& head = sh->head;
  boost::system::error_code ec;
  auto write_piece = [&](std::string_view piece) -> net::awaitable<void> {
    if (chunked) {
      co_await net::async_write(stream, http::make_chunk(net::buffer(piece.data(), piece.size())),
                                net::redirect_error(use_awaitable, ec));
    } else {
      co_await net::async_write(stream, net::buffer(piece.data(), piece.size()), net::redirect_error(use_awaitable, ec));
    }
  };
  if (sh->started) {  // the head went out while the first line was awaited
    ec = sh->ec;
  } else {
    fill_head(&sh->head);
    sh->sr.emplace(sh->head);
    stream.expires_after(std::chrono::milliseconds(cfg.upstream.idle_timeout_ms));
    stream.answering = true;
    co_await http::async_write_header(stream, *sh->sr, net::redirect_error(use_awaitable, ec));
  }
  o.started = true;
  SseTracker sse;
  sse.drop_usage = !x->include_usage;
  sse.max_line = cfg.upstream.max_response_bytes;
  bool done = false, client_gone = !!ec;
  // The client watch (WatchClient, before the attempts) goes on: a client
  // that leaves while the upstream is silent (a long first token, a pause)
  // is noticed at once, not at the next chunk, and the upstream connection
  // is closed, which ends the read below.
  std::string piece, out;
  // [DONE] (or an error event) ends the stream at once: an upstream that
  // keeps its body open after it (or closes it late) does not hold the
  // client's answer back.
  while (!done && !client_gone && !sse.ended) {
    piece.clear();
    if (primed) {  // the first event, read in the attempt loop
      primed = false;
      piece = std::move(first);
      done = first_done;
      err = first_err;
    } else {
      err = co_await conn->Read(&piece, &done);
    }
    out.clear();
    if (!piece.empty()) sse.Feed(piece, &out);
    if (done || !err.ok() || sse.ended) sse.End(&out, err.ok());
    if (!out.empty()) {
      stream.expires_after(std::chrono::milliseconds(cfg.upstream.idle_timeout_ms));
      co_await write_piece(out);
      if (ec) client_gone = true;
    }
    if (watch->gone) client_gone = true;
    if (!err.ok()) break;
  }
  StopWatch(stream, watch.get());
  ec = {};
  if (watch->gone) client_gone = true;
  // The drain's end closed the upstream call: the client is still there
  // (unless a write to it failed too) and is told so below.
  const bool stopped = watch->stopped;
  const int64_t t1 = MonoNs();
  o.upstream_ns = t1 - up_start;
  svc.metrics().upstream.Observe(o.upstream_ns);
  // Complete: [DONE] came (whatever the connection did after it), or the
  // body ended cleanly (an upstream that sends no [DONE]); never after the
  // upstream's error event.
  o.stream_complete = !client_gone && !sse.error_event && (sse.done || (done && err.ok()));
  if (!client_gone && done && err.ok()) {  // reusable only once its body has ended
    pool.Release(std::move(conn));
  } else {
    conn.reset();
  }
  o.http_status = 200;
  o.prompt_tokens = sse.prompt;
  o.completion_tokens = sse.completion;
  o.event_too_large = sse.line_too_long;
  if (sse.completion < 0 && sse.line_too_long) {
    // Some text was not counted: the completion is unknown, charged at the
    // worst case (never as the smaller estimate of the text that was).
    o.usage_estimated = true;
  } else if (sse.completion < 0) {
    o.completion_tokens = stdlib::EstimateTokensOfBytes(static_cast<uint64_t>(sse.text_bytes));
    o.usage_estimated = true;
  }
  if (sse.line_too_long) {
    const runtime::Endpoint& ep = x->live->catalog->endpoint(x->s.route.endpoints[x->attempt].endpoint);
    svc.metrics().upstream_errors.Add(Label("endpoint", ep.id) + "," + Label("kind", "event_too_large"));
  }
  if (!o.stream_complete) {
    o.error_code = stopped       ? "gateway_stopped"
                   : client_gone ? "client_disconnected"
                   : sse.error_event ? "upstream_stream_error"
                                     : "upstream_stream_cut";
  }
  if (!o.stream_complete && !client_gone) {  // the upstream failed part-way: counted like a failed attempt
    const runtime::Endpoint& ep = x->live->catalog->endpoint(x->s.route.endpoints[x->attempt].endpoint);
    svc.metrics().upstream_errors.Add(Label("endpoint", ep.id) + "," +
                                      Label("kind", sse.error_event ? "stream_error" : "stream_cut"));
  }
  uint64_t seq = co_await Finish(x.get(), o);
  processing_ns += MonoNs() - t1 - x->wait_ns;
  svc.metrics().processing.Observe(processing_ns);
  svc.metrics().http_requests.Add(Label("path", path) + "," + Label("status", "200"));
  if (client_gone && !stopped) co_return false;
  // After the upstream's own error event (relayed as it came: the SDKs
  // throw it) nothing is added; a cut stream gets the gateway's.
  if (stopped) {
    std::string ev = "data: " + OpenAIError(503, "gateway_stopped", "the gateway stopped before the stream ended", "",
                                            x->decision_id) + "\n\n";
    co_await write_piece(ev);
  } else if (!o.stream_complete && !sse.error_event) {
    std::string ev = "data: " + OpenAIError(502, "upstream_stream_cut", "the upstream stream ended early", "", x->decision_id) + "\n\n";
    co_await write_piece(ev);
  }
  if (!co_await Durable(x.get(), seq)) {
    // Headers are out: end the connection without the last chunk, so the
    // client sees an incomplete answer rather than an unrecorded one.
    std::string ev = "data: " + OpenAIError(503, "audit_unavailable", "the decision log cannot be written", "",
                                            x->decision_id) + "\n\n";
    co_await write_piece(ev);
    co_return false;
  }
  if (chunked) {
    co_await net::async_write(stream, http::make_chunk_last(), net::redirect_error(use_awaitable, ec));
  }
  // A stream the upstream cut still ended properly towards the client (the
  // error event, the last chunk): the connection stays usable. Closing it
  // after headers that said keep-alive makes a client that reuses it at
  // once (Node's agent) fail its next request with a hang-up.
  co_return !ec && head.keep_alive() && !stopped;
}

}  // namespace tollgate::gateway
