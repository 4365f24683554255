// The HTTP gateway server (server.h): listener, sessions, endpoints.
#include "runtime/gateway/server.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <cstdlib>
#include <map>
#include <mutex>
#include <thread>

#include "engine/core/money.h"
#include "runtime/gateway/context.h"
#include "runtime/gateway/sse.h"
#include "runtime/gateway/upstream.h"
#include "runtime/router/router.h"
#include "stdlib/builtins.h"
#include "stdlib/names.h"

namespace tollgate::gateway {
namespace {

// ASCII case-insensitive equality. Not beast::iequals: Boost 1.74's reads one
// byte past both strings when they differ only in case at the last byte
// (ASan: heap-buffer-overflow on a query parameter).
bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

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

int64_t MonoNs() {
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

// Writes a message to the client: what the socket takes at once with a
// non-blocking write (an answer that fits the socket's buffer, nearly
// always: no suspension, no timer, no trip through the event loop), the
// rest, if any, asynchronously within `timeout_ms`. The socket is in
// non-blocking mode, so the write never blocks the I/O thread.
template <bool isRequest, class Body>
net::awaitable<void> WriteNowOrLater(beast::tcp_stream& stream, http::serializer<isRequest, Body>& sr,
                                     int64_t timeout_ms, boost::system::error_code* ec) {
  *ec = {};
  if (!stream.socket().non_blocking()) stream.socket().non_blocking(true, *ec);
  if (!*ec) http::write(stream.socket(), sr, *ec);
  if (*ec == net::error::would_block || *ec == net::error::try_again) {
    *ec = {};
    stream.expires_after(std::chrono::milliseconds(timeout_ms));
    co_await http::async_write(stream, sr, net::redirect_error(use_awaitable, *ec));
  }
}

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
// The worker whose io_context runs on this thread (one per thread).
thread_local Worker* tl_worker = nullptr;

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

// The members whose text the completion estimate counts when an answer
// comes without usage (docs/gateway.md, *Durability*): a message's or a
// stream delta's `content`, `refusal` and reasoning (`reasoning_content`,
// `reasoning`), a tool call's and a legacy function call's `arguments`, a
// legacy completion's `text`. One list for the non-streamed answer and the
// stream.
bool CountedTextKey(std::string_view key) {
  return key == "content" || key == "arguments" || key == "refusal" || key == "text" ||
         key == "reasoning_content" || key == "reasoning";
}

// The top-level `usage` member's token counts of an upstream answer (a whole
// answer, or one stream chunk), read with rapidjson's SAX reader: no
// document is built for an answer of up to upstream.max_response_bytes.
// Nothing is taken from a body that is not valid JSON.
class UsageReader : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, UsageReader> {
 public:
  // `per_text`: bytes added for each counted string besides its own (1 for
  // a whole answer: the boundary between its texts; 0 for stream chunks,
  // whose strings are pieces of one text).
  explicit UsageReader(int64_t per_text = 1) : per_text_(per_text) {}
  int64_t prompt = -1, completion = -1;
  // Bytes of the answer's text (CountedTextKey, outside `usage`): the
  // estimate without usage.
  int64_t text_bytes = 0;
  // A top-level `choices` array with no element and a `usage` object (a
  // stream's usage chunk).
  bool empty_choices = false, usage_object = false;
  // A top-level `error` member that is not null (a stream's error event,
  // `data: {"error": {...}}`).
  bool error = false;
  // A top-level `choices` array (a chat completion, or a chunk of one).
  bool choices_array = false;
  bool Default() { return Value(); }
  bool String(const char*, rapidjson::SizeType n, bool) {
    if (depth_ == 1 && at_error_) error = true;
    if (!in_usage_ && CountedTextKey(key_)) text_bytes += static_cast<int64_t>(n) + per_text_;
    return true;
  }
  bool Int(int v) { return Number(v); }
  bool Uint(unsigned v) { return Number(v); }
  bool Int64(int64_t v) { return Number(v); }
  bool Uint64(uint64_t v) { return v <= static_cast<uint64_t>(INT64_MAX) ? Number(static_cast<int64_t>(v)) : Value(); }
  bool Key(const char* s, rapidjson::SizeType n, bool) {
    key_.assign(s, n);
    if (depth_ == 1) {
      at_usage_ = key_ == "usage";
      at_choices_ = key_ == "choices";
      at_error_ = key_ == "error";
    }
    return true;
  }
  bool StartObject() {
    if (depth_ == 1 && at_usage_) usage_object = true;
    if (depth_ == 1 && at_error_) error = true;
    in_usage_ = in_usage_ || (depth_ == 1 && at_usage_);
    ++depth_;
    return true;
  }
  bool EndObject(rapidjson::SizeType) {
    if (--depth_ == 1) in_usage_ = false;
    return true;
  }
  bool StartArray() {
    if (depth_ == 1 && at_choices_) choices_array = true;
    ++depth_;
    return true;
  }
  bool EndArray(rapidjson::SizeType n) {
    if (--depth_ == 1 && at_choices_) empty_choices = n == 0;
    return true;
  }

 private:
  bool Value() { return true; }
  bool Number(int64_t v) {
    if (in_usage_ && depth_ == 2) {
      if (key_ == "prompt_tokens") pending_prompt_ = v;
      else if (key_ == "completion_tokens") pending_completion_ = v;
      prompt = pending_prompt_;
      completion = pending_completion_;
    }
    return true;
  }
  int64_t per_text_;
  int depth_ = 0;
  bool at_usage_ = false, in_usage_ = false, at_choices_ = false, at_error_ = false;
  int64_t pending_prompt_ = -1, pending_completion_ = -1;
  std::string key_;
};

// Parses "data: {...}" lines of an SSE stream as they pass: the usage chunk
// and the bytes of the delivered text (UsageReader's, to estimate tokens
// when no usage chunk came: a cut stream, a provider that sends none).
// The gateway always asks the upstream for the usage chunk; a caller that
// did not ask for it (stream_options.include_usage) does not get it, as
// from OpenAI: with `drop_usage` Feed relays whole events only and leaves
// out the usage-only one (`choices: []` and a `usage` object), which code
// such as `chunk.choices[0].delta` does not expect. Without it Feed relays
// whole lines. Either way a line the upstream tears (its connection cut
// part-way) never reaches the client: glued to the error event that
// follows, it would make one event no SDK can parse.
struct SseTracker {
  bool drop_usage = false;
  // The longest line read whole (upstream.max_response_bytes): a longer
  // one is relayed but not parsed, and the stream's completion is then
  // unknown (`line_too_long`): charged at the worst case unless a usage
  // chunk reports it.
  size_t max_line = 16u << 20;
  bool line_too_long = false;  // some data line exceeded max_line
  std::string line;
  std::string event;  // drop_usage: the bytes of the event being read
  std::string held;   // otherwise: the bytes of the line being read
  bool usage_event = false;
  int64_t prompt = -1, completion = -1;
  int64_t text_bytes = 0;  // of the deltas' counted text (CountedTextKey)
  bool done = false;         // a `data: [DONE]` line was read: the stream is over
  bool error_event = false;  // an error event (`data: {"error": ...}`): so is it
  bool ended = false;        // and the blank line ending that event: Feed takes no more
  // Where the bytes relayed so far end: between events, inside an event
  // (after a whole line), or inside a line.
  enum class At { kEventStart, kLineStart, kMidLine };
  At at = At::kEventStart;
  // Appends to *out what goes on to the client: up to the end of the
  // [DONE] event, nothing after it.
  void Feed(std::string_view piece, std::string* out) {
    size_t used = 0;
    for (; used < piece.size() && !ended; ++used) {
      const char c = piece[used];
      if (drop_usage) event.push_back(c);
      if (c == '\n') {
        if (line.empty() || line == "\r") {  // a blank line ends an event
          if (drop_usage && !usage_event) Relay(event, out);
          event.clear();
          usage_event = false;
          ended = done || error_event;
        } else if (line.size() > max_line) {
          // Cut short when it was read: parsing the cut line would count
          // nothing (it is not JSON), as if no text had been delivered.
          if (line.rfind("data:", 0) == 0) line_too_long = true;
        } else {
          Line();
        }
        line.clear();
      } else if (line.size() <= max_line) {
        line.push_back(c);  // one byte over max_line marks the line too long
      }
    }
    if (!drop_usage) {  // whole lines on, the rest held
      const std::string_view read = piece.substr(0, used);
      const size_t nl = read.rfind('\n');
      if (nl == std::string_view::npos) {
        held.append(read);
      } else {
        held.append(read.substr(0, nl + 1));
        Relay(held, out);
        held.assign(read.substr(nl + 1));
      }
    }
    // No end in sight (never a usage chunk): what was read goes on.
    std::string& pending = drop_usage ? event : held;
    if (pending.size() > (1u << 20)) {
      Relay(pending, out);
      pending.clear();
    }
  }
  // The stream is over (the upstream's body ended, failed, or [DONE] or an
  // error event came; `clean`: its body ended without an error): the rest
  // of the last event -- not its unfinished line when the upstream was cut,
  // which would be torn JSON -- then the line ending and blank line the
  // client still lacks, so that its parser reads every event it got whole
  // and the gateway's error event, if one follows, apart.
  void End(std::string* out, bool clean) {
    std::string_view rest = drop_usage ? event : held;
    if (drop_usage && usage_event) rest = {};
    if (!clean && !done && !error_event) rest = rest.substr(0, rest.rfind('\n') + 1);  // npos + 1: nothing
    Relay(rest, out);
    event.clear();
    held.clear();
    if (!ended && at != At::kEventStart) out->append(at == At::kMidLine ? "\n\n" : "\n");
    at = At::kEventStart;
    ended = ended || done || error_event;
  }
  // Appends `bytes` to *out and notes where they leave the client's parser.
  void Relay(std::string_view bytes, std::string* out) {
    if (bytes.empty()) return;
    out->append(bytes);
    if (bytes.back() != '\n') {
      at = At::kMidLine;
      return;
    }
    // The line the final '\n' ends: blank ends the event.
    const size_t prev = bytes.size() >= 2 ? bytes.rfind('\n', bytes.size() - 2) : std::string_view::npos;
    std::string_view last = bytes.substr(prev == std::string_view::npos ? 0 : prev + 1);
    last.remove_suffix(1);
    const bool blank = (last.empty() || last == "\r") && (prev != std::string_view::npos || at != At::kMidLine);
    at = blank ? At::kEventStart : At::kLineStart;
  }
  void Line() {
    std::string_view l = line;
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    if (l.rfind("data:", 0) != 0) return;
    l.remove_prefix(5);
    while (!l.empty() && l.front() == ' ') l.remove_prefix(1);
    if (l == "[DONE]") {
      done = true;
      return;
    }
    UsageReader h(0);
    rapidjson::Reader reader;
    rapidjson::MemoryStream ms(l.data(), l.size());
    if (reader.Parse<rapidjson::kParseIterativeFlag>(ms, h).IsError()) return;
    if (h.prompt >= 0) prompt = h.prompt;
    if (h.completion >= 0) completion = h.completion;
    if (h.empty_choices && h.usage_object) usage_event = true;
    if (h.error) error_event = true;
    text_bytes += h.text_bytes;
  }
};

// Whether a Content-Type names JSON (`application/json`, `...+json`, any
// parameters).
bool JsonMediaType(std::string_view type) {
  type = type.substr(0, type.find(';'));
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
  return IEquals(type, "application/json") ||
         (type.size() > 5 && IEquals(type.substr(type.size() - 5), "+json"));
}

// Returns whether `body` is a chat completion (JSON with a top-level
// `choices` array); nothing is taken from one that is not JSON.
bool UsageOf(std::string_view body, Outcome* o) {
  UsageReader h;
  rapidjson::Reader reader;
  rapidjson::MemoryStream ms(body.data(), body.size());
  if (reader.Parse<rapidjson::kParseIterativeFlag>(ms, h).IsError()) return false;  // no recursion: any depth
  if (h.prompt >= 0) o->prompt_tokens = h.prompt;
  if (h.completion >= 0) {
    o->completion_tokens = h.completion;
  } else if (h.text_bytes > 0) {  // no usage (some local servers): estimated from the text
    o->completion_tokens = stdlib::EstimateTokensOfBytes(static_cast<uint64_t>(h.text_bytes));
    o->usage_estimated = true;
  }
  return h.choices_array;
}

// What the gateway refuses in a request's head, before its body is read
// (docs/gateway.md, "HTTP details"); false when the head is acceptable.
// Beast itself refuses Content-Length values that differ (bad Content-Length:
// 400 http_malformed) and reads `Transfer-Encoding: gzip, chunked` as plain
// chunked: the codings are checked here.
struct HeadRefusal {
  int status = 0;
  std::string code, message;
};
// The comma-separated tokens of every `name` field, lower-cased, blanks trimmed.
std::vector<std::string> TokenList(const Request& req, http::field name) {
  std::vector<std::string> out;
  for (auto [it, end] = req.equal_range(name); it != end; ++it) {
    std::string_view v(it->value().data(), it->value().size());
    while (!v.empty()) {
      const size_t comma = v.find(',');
      std::string_view t = v.substr(0, comma);
      while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
      while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
      if (!t.empty()) {
        std::string low(t);
        for (char& c : low) c = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
        out.push_back(std::move(low));
      }
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
  }
  return out;
}
std::string JoinTokens(const std::vector<std::string>& tokens) {
  std::string out;
  for (const std::string& t : tokens) out += (out.empty() ? "" : ", ") + t;
  return out;
}
bool RefuseHead(const Request& req, HeadRefusal* r) {
  // RFC 9112 3.2: an HTTP/1.1 request without Host, or with more than one, is 400.
  const size_t hosts = req.count(http::field::host);
  if (req.version() >= 11 && hosts == 0) {
    *r = {400, "missing_host", "an HTTP/1.1 request needs a `Host` header"};
    return true;
  }
  if (hosts > 1) {
    *r = {400, "duplicate_header", "the request has " + std::to_string(hosts) + " `Host` headers; send one"};
    return true;
  }
  // Two credentials (a proxy in front may have added one): which one is
  // meant cannot be known, and taking either may authenticate the wrong caller.
  if (const size_t auths = req.count(http::field::authorization); auths > 1) {
    *r = {400, "duplicate_header",
          "the request has " + std::to_string(auths) + " `Authorization` headers; send one"};
    return true;
  }
  if (req.find(http::field::transfer_encoding) != req.end()) {
    const std::vector<std::string> te = TokenList(req, http::field::transfer_encoding);
    // RFC 9112 6.3: chunked not last, the body's length cannot be known.
    if (te.empty() || te.back() != "chunked") {
      *r = {400, "http_malformed",
            "malformed HTTP request: `Transfer-Encoding: " + JoinTokens(te) + "` does not end in `chunked`"};
      return true;
    }
    // RFC 9112 6.1: a transfer coding the server does not know is 501.
    if (te.size() > 1) {
      *r = {501, "unsupported_transfer_encoding",
            "the transfer coding `" + JoinTokens(std::vector<std::string>(te.begin(), te.end() - 1)) +
                "` is not supported; send the body plain or `Transfer-Encoding: chunked`"};
      return true;
    }
  }
  // RFC 9110 15.5.16: a content coding the server does not decode is 415.
  for (const std::string& coding : TokenList(req, http::field::content_encoding)) {
    if (coding != "identity") {
      *r = {415, "unsupported_content_encoding",
            "the content encoding `" + coding + "` is not supported; send the body uncompressed"};
      return true;
    }
  }
  return false;
}

std::string Bearer(const Request& req) {
  auto it = req.find(http::field::authorization);
  if (it == req.end()) return {};
  std::string_view v(it->value().data(), it->value().size());
  // The scheme is case-insensitive (RFC 9110 11.1): Bearer, bearer, BEARER.
  if (v.size() > 7 && IEquals(v.substr(0, 6), "bearer") && (v[6] == ' ' || v[6] == '\t')) {
    v.remove_prefix(7);
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    return std::string(v);
  }
  return {};
}

// The longest `x-tollgate-explain` value (docs/gateway.md): Node's HTTP
// client refuses a response head over 16 KB (HPE_HEADER_OVERFLOW), and the
// OpenAI SDK then retries a request that was answered (and billed).
constexpr size_t kMaxExplainBytes = 8192;

// `eliminated` (runtime::EliminatedJson's array) as a header value of at
// most kMaxExplainBytes: the entries that fit, whole, in order, then
// `{"truncated":N}` for the N left out.
std::string CapExplain(std::string eliminated) {
  if (eliminated.size() <= kMaxExplainBytes) return eliminated;
  rapidjson::Document d;
  d.Parse<rapidjson::kParseIterativeFlag>(eliminated.data(), eliminated.size());
  if (d.HasParseError() || !d.IsArray()) return "[]";
  const size_t n = d.Size();
  // Room for the last entry: `,{"truncated":N}]` with N at most 20 digits.
  constexpr size_t kMarker = 40;
  std::string out = "[";
  size_t kept = 0;
  for (const auto& e : d.GetArray()) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    e.Accept(w);
    if (out.size() + 1 + sb.GetSize() + kMarker > kMaxExplainBytes) break;
    if (kept > 0) out += ',';
    out.append(sb.GetString(), sb.GetSize());
    ++kept;
  }
  if (kept > 0) out += ',';
  out += "{\"truncated\":" + std::to_string(n - kept) + "}]";
  return out;
}

// The longest wait passed on from upstreams' `retry-after` (an hour).
constexpr int64_t kMaxUpstreamRetryAfterMs = 3600 * 1000;

// A non-negative decimal number of `unit` milliseconds (a fraction rounded
// up) capped at kMaxUpstreamRetryAfterMs; -1 when `v` is not one.
int64_t DecimalMs(std::string_view v, double unit) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  double x = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), x, std::chars_format::fixed);
  if (v.empty() || ec != std::errc() || end != v.data() + v.size() || !(x >= 0)) return -1;
  const double ms = std::ceil(x * unit);
  if (ms >= static_cast<double>(kMaxUpstreamRetryAfterMs)) return kMaxUpstreamRetryAfterMs;
  return static_cast<int64_t>(ms);
}

// An HTTP-date (RFC 9110 5.6.7, the IMF-fixdate form every current server
// sends: "Sun, 06 Nov 1994 08:49:37 GMT") as Unix seconds; false otherwise.
bool HttpDateSeconds(std::string_view v, int64_t* out) {
  const std::string s(v);
  std::tm tm{};
  const char* end = ::strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') return false;
  *out = static_cast<int64_t>(::timegm(&tm));
  return true;
}

// How long an upstream's 429 asks the caller to wait, in milliseconds, from
// the headers the OpenAI SDKs read, in their order: `retry-after-ms`, then
// `retry-after` as delta-seconds (a fraction, as some providers send, is
// rounded up) or as an HTTP-date (a past one is 0). -1 when there is none or
// it does not read; at most kMaxUpstreamRetryAfterMs.
int64_t UpstreamRetryAfterMs(std::string_view after_ms, std::string_view after, int64_t now_s) {
  if (int64_t ms = DecimalMs(after_ms, 1); ms >= 0) return ms;
  if (int64_t ms = DecimalMs(after, 1000); ms >= 0) return ms;
  int64_t at = 0;
  if (!HttpDateSeconds(after, &at)) return -1;
  if (at <= now_s) return 0;
  return std::min<int64_t>((at - now_s) * 1000, kMaxUpstreamRetryAfterMs);
}

// A boolean query parameter `name` of `target` into *value: absent is
// false, a bare `name` is true, and `name=V` takes V in the usual spellings
// (1/0, true/false, yes/no, on/off, any case). False for any other value
// (`name=`, `name=maybe`, a percent-encoded one) or for a repeat that
// disagrees: the caller answers 400 invalid_query, never a silent default.
bool QueryFlag(std::string_view target, std::string_view name, bool* value) {
  *value = false;
  size_t q = target.find('?');
  if (q == std::string_view::npos) return true;
  std::string_view qs = target.substr(q + 1);
  bool seen = false;
  while (!qs.empty()) {
    const size_t amp = qs.find('&');
    const std::string_view kv = qs.substr(0, amp);
    const size_t eq = kv.find('=');
    if (kv.substr(0, eq) == name) {
      bool v;
      const std::string_view text = eq == std::string_view::npos ? "true" : kv.substr(eq + 1);
      if (IEquals(text, "1") || IEquals(text, "true") || IEquals(text, "yes") ||
          IEquals(text, "on")) {
        v = true;
      } else if (IEquals(text, "0") || IEquals(text, "false") || IEquals(text, "no") ||
                 IEquals(text, "off")) {
        v = false;
      } else {
        return false;
      }
      if (seen && v != *value) return false;
      seen = true;
      *value = v;
    }
    if (amp == std::string_view::npos) break;
    qs.remove_prefix(amp + 1);
  }
  return true;
}

// A JSON value's kind as a message names it.
const char* JsonKind(const rapidjson::Value& v) {
  if (v.IsNull()) return "null";
  if (v.IsBool()) return "a boolean";
  if (v.IsNumber()) return "a number";
  if (v.IsString()) return "a string";
  if (v.IsArray()) return "an array";
  return "an object";
}

// POST /admin/policy's body: a policy source, or (first byte, after blanks,
// `{`) the JSON `{"files": {"PATH": "SOURCE", ...}}` whose paths anchor
// relative `data` and `schema` paths. The JSON form is checked strictly:
// false with *error (400 invalid_policy_body, naming the member) for
// malformed JSON, another member than `files`, a `files` that is not a
// non-empty object, a path that is empty or repeated, or a source that is not
// a string. *is_json: the body is the JSON form (else *out is untouched).
bool PolicyFilesOf(std::string_view body, bool* is_json, std::vector<SourceText>* out, std::string* error) {
  const size_t first = body.find_first_not_of(" \t\r\n");
  *is_json = first != std::string_view::npos && body[first] == '{';
  if (!*is_json) return true;
  rapidjson::Document d;
  d.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag>(body.data(), body.size());
  if (d.HasParseError()) {
    *error = std::string("the body is not valid JSON at byte ") + std::to_string(d.GetErrorOffset()) + ": " +
             rapidjson::GetParseError_En(d.GetParseError());
    return false;
  }
  const rapidjson::Value* files = nullptr;
  for (auto m = d.MemberBegin(); m != d.MemberEnd(); ++m) {
    const std::string_view name(m->name.GetString(), m->name.GetStringLength());
    if (name != "files") {
      *error = "unknown member `" + std::string(name) + "` in the body; it takes only `files`";
      return false;
    }
    if (files) {
      *error = "the member `files` is repeated";
      return false;
    }
    files = &m->value;
  }
  if (!files) {
    *error = "the body has no `files` member: an object of path -> policy source";
    return false;
  }
  if (!files->IsObject()) {
    *error = std::string("`files` must be an object of path -> policy source, not ") + JsonKind(*files);
    return false;
  }
  if (files->MemberCount() == 0) {
    *error = "`files` is empty: it needs at least one path -> policy source";
    return false;
  }
  std::vector<SourceText> sources;
  for (auto m = files->MemberBegin(); m != files->MemberEnd(); ++m) {
    const std::string path(m->name.GetString(), m->name.GetStringLength());
    if (path.empty()) {
      *error = "`files` has an empty path";
      return false;
    }
    for (const SourceText& s : sources) {
      if (s.path == path) {
        *error = "`files` repeats the path `" + path + "`";
        return false;
      }
    }
    if (!m->value.IsString()) {
      *error = "`files[\"" + path + "\"]` must be a string (the policy source), not " + JsonKind(m->value);
      return false;
    }
    sources.push_back({path, std::string(m->value.GetString(), m->value.GetStringLength())});
  }
  *out = std::move(sources);
  return true;
}

}  // namespace

struct Server::Impl {
  Service& svc;
  const Config& cfg;
  std::vector<std::unique_ptr<Worker>> workers;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::unique_ptr<net::signal_set> signals;
  net::thread_pool blocking{2};
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
  template <typename F>
  net::awaitable<void> OffThread(F f) {
    co_await net::co_spawn(blocking, [&]() -> net::awaitable<void> {
      f();
      co_return;
    }, use_awaitable);
  }

  // Without audit_sync the record is written to the OS right here, by this
  // thread (AuditLog::Drain: compose, hash, one write(2); no hand-over to the
  // writer thread): tollgate's own work, so inside the processing time that
  // the callers observe after Finish. Durable then has nothing left to write.
  uint64_t WriteRecord(uint64_t seq) {
    if (seq != 0 && !cfg.audit_sync && svc.audit()) svc.audit()->Drain();
    return seq;
  }

  // Settles and records at once; returns once the settlement is durable
  // (awaited without blocking this thread) with the audit sequence number
  // the answer must wait for.
  net::awaitable<uint64_t> Finish(Exchange* x, const Outcome& o) {
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
  net::awaitable<bool> Durable(Exchange* x, uint64_t seq) {
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
  net::awaitable<void> DurableOr503(Exchange* x, uint64_t seq, Response* res) {
    if (co_await Durable(x, seq)) co_return;
    Response failed = Json(503, OpenAIError(503, "audit_unavailable",
                                            "the decision log cannot be written; the answer is withheld", "",
                                            x->decision_id),
                           res->version());
    failed.set("x-should-retry", "false");
    Common(&failed, x);
    *res = std::move(failed);
  }

  // --- responses ---
  // Whether a client should retry a refusal, in the headers the OpenAI SDKs
  // read (they retry 408, 409, 429 and 5xx twice by default, unless
  // `x-should-retry` says otherwise; `retry-after` under 60 s sets the
  // wait). A rate limit says when (unless it never frees); a policy, routing or budget refusal is
  // the same on a retry (`x-should-retry: false`); an unreachable budget
  // store (503) may recover, and is left to the client's backoff.
  static void RetryAdvice(const Exchange& x, Response* res) {
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
  void Common(Response* res, const Exchange* x) {
    res->set(http::field::server, "tollgate");
    // Every answer names the version (docs/gateway.md): an answer without a
    // decided exchange (models, healthz, metrics, 404, 405, 401, 413) the live one.
    if (x && x->live) {
      res->set("x-tollgate-policy-version", x->live->version);
    } else if (auto live = svc.live()) {
      res->set("x-tollgate-policy-version", live->version);
    }
    if (x && !x->decision_id.empty()) res->set("x-tollgate-decision-id", x->decision_id);
  }
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
  struct ClientWatch {
    bool active = true, gone = false;
    char peek = 0;
    std::unique_ptr<UpstreamConn>* conn = nullptr;
  };
  static std::shared_ptr<ClientWatch> WatchClient(beast::tcp_stream& stream, std::unique_ptr<UpstreamConn>* conn) {
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
  static void StopWatch(beast::tcp_stream& stream, ClientWatch* watch) {
    if (!watch->active) return;
    watch->active = false;
    boost::system::error_code ec;
    stream.socket().cancel(ec);  // the wait, if it is still pending
  }
  // CORS (docs/gateway.md): on an answer to a browser's cross-origin
  // request from an allowed origin, the headers that let the page read it.
  // Never for the admin API.
  void Cors(const Request& req, http::fields* h) const {
    if (cfg.cors.allow_origins.empty()) return;
    auto origin = req.find(http::field::origin);
    if (origin == req.end()) return;
    std::string_view target(req.target().data(), req.target().size());
    if (target.rfind("/admin/", 0) == 0) return;
    const std::string_view o(origin->value().data(), origin->value().size());
    if (!cfg.cors.allowed(o)) return;
    const bool any = cfg.cors.allow_origins.size() == 1 && cfg.cors.allow_origins[0] == "*";
    h->set(http::field::access_control_allow_origin, any ? std::string_view("*") : o);
    if (!any) h->set(http::field::vary, "Origin");
    h->set(http::field::access_control_expose_headers,
           "x-tollgate-decision-id, x-tollgate-policy-version, x-tollgate-explain, x-request-id, "
           "retry-after, retry-after-ms, x-should-retry");
  }
  // The API paths answered to POST only (the others to GET and HEAD).
  static bool PostPath(std::string_view path) {
    return path == "/v1/chat/completions" || path == "/chat/completions" || path == "/v1/decide";
  }
  // The method an admin path takes, or null for a path that is not one:
  // such a path is labelled `(unknown)` in /metrics, as any unknown path
  // (a label per client-chosen path would grow the metrics without bound).
  static const char* AdminMethod(std::string_view path) {
    if (path == "/admin/policy" || path == "/admin/policy/promote" || path == "/admin/reload") return "POST";
    if (path == "/admin/policy/shadow") return "DELETE";
    return nullptr;
  }
  // A path naming one model (`/v1/models/{id}`): one metrics label for them all.
  static bool ModelPath(std::string_view path) {
    return path.rfind("/v1/models/", 0) == 0 || path.rfind("/models/", 0) == 0;
  }
  // A browser's preflight (OPTIONS with Origin) while CORS is on.
  net::awaitable<bool> Preflight(ClientStream& stream, Request& req, const std::string& path) {
    const std::string_view origin(req[http::field::origin].data(), req[http::field::origin].size());
    const bool posts = PostPath(path);
    const bool gets = path == "/v1/models" || path == "/models" || ModelPath(path) ||
                      path == "/healthz" || path == "/metrics";
    const std::string label = ModelPath(path) ? std::string("/v1/models/{id}")
                              : posts || gets ? path : std::string("(unknown)");
    Response res;
    if (!posts && !gets) {
      res = Json(path.rfind("/admin/", 0) == 0 ? 403 : 404,
                 path.rfind("/admin/", 0) == 0
                     ? OpenAIError(403, "cors_not_allowed", "the admin API takes no cross-origin requests")
                     : OpenAIError(404, "not_found", "no such endpoint `" + path + "`"));
    } else if (!cfg.cors.allowed(origin)) {
      res = Json(403, OpenAIError(403, "cors_origin_not_allowed",
                                  "the origin `" + std::string(origin) + "` may not call this gateway (cors.allow_origins)"));
    } else {
      res = Response{http::status::no_content, req.version()};
      Cors(req, &res);
      res.set(http::field::access_control_allow_methods, posts ? "POST, OPTIONS" : "GET, HEAD, OPTIONS");
      // The headers the page asks for (the SDKs send Authorization and a
      // dozen x-stainless-* ones); "*" would not cover Authorization.
      const std::string_view asked(req[http::field::access_control_request_headers].data(),
                                   req[http::field::access_control_request_headers].size());
      const bool tokens = std::all_of(asked.begin(), asked.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
               c == '_' || c == ',' || c == ' ';
      });
      if (!asked.empty() && tokens) res.set(http::field::access_control_allow_headers, asked);
      res.set(http::field::access_control_max_age, std::to_string(cfg.cors.max_age_s));
      res.set(http::field::vary, "Origin, Access-Control-Request-Headers");
    }
    Common(&res, nullptr);
    co_return co_await Send(stream, res, &req, label);
  }
  net::awaitable<bool> Send(ClientStream& stream, Response& res, const Request* req,
                            const std::string& path) {
    if (req && res.result() != http::status::no_content) Cors(*req, &res);
    if (req) res.keep_alive(req->keep_alive() && !draining.load());
    else res.keep_alive(false);
    res.prepare_payload();
    // An answer to HEAD has the headers of GET's (Content-Length included)
    // and no body: body bytes would be read as the next answer.
    if (req && req->method() == http::verb::head) res.body().clear();
    svc.metrics().http_requests.Add({{"path", path}, {"status", std::to_string(res.result_int())}});
    boost::system::error_code ec;
    stream.answering = true;
    http::response_serializer<http::string_body> sr{res};
    co_await WriteNowOrLater(stream, sr, cfg.limits.read_timeout_ms, &ec);
    co_return !ec && res.keep_alive();
  }
  Response Json(int status, std::string body, unsigned version = 11) {
    Response res{static_cast<http::status>(status), version};
    res.set(http::field::content_type, "application/json");
    res.body() = std::move(body);
    return res;
  }

  // The chat request's decision context (context.h): the key's defaults,
  // the x-tollgate-* headers, the client's address. False with *err (400).
  bool RequestContext(ClientStream& stream, const Request& req, const Identity& who, std::string* json,
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

  // --- handlers ---
  net::awaitable<bool> Handle(ClientStream& stream, Request& req);
  net::awaitable<bool> Chat(ClientStream& stream, Request& req, const std::string& path);
  net::awaitable<bool> Decide(ClientStream& stream, Request& req, const std::string& path);
  net::awaitable<bool> Admin(ClientStream& stream, Request& req, const std::string& path);
  net::awaitable<void> Session(tcp::socket socket);
  net::awaitable<void> Accept();
  // `grace`: keep accepting for drain_grace_ms first (SIGTERM, Stop); a
  // second call ends the grace period.
  void StartDrain(bool grace);
};

net::awaitable<void> Server::Impl::Accept() {
  for (;;) {
    Worker& w = *workers[next_worker.fetch_add(1) % workers.size()];
    boost::system::error_code ec;
    tcp::socket socket = co_await acceptor->async_accept(w.io, net::redirect_error(use_awaitable, ec));
    if (ec) {
      if (draining.load() || ec == net::error::operation_aborted) co_return;
      continue;  // EMFILE and friends: keep serving the connections we have
    }
    if (svc.metrics().connections.load() >= static_cast<int64_t>(cfg.limits.max_connections)) {
      socket.close(ec);  // the connection cap
      continue;
    }
    net::co_spawn(w.io, Session(std::move(socket)), net::detached);
  }
}

net::awaitable<void> Server::Impl::Session(tcp::socket socket) {
  svc.metrics().connections.fetch_add(1);
  struct Guard {
    Metrics& m;
    ~Guard() { m.connections.fetch_sub(1); }
  } guard{svc.metrics()};
  boost::system::error_code ec;
  socket.set_option(tcp::no_delay(true), ec);
  ClientStream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(cfg.limits.max_header_bytes);
    parser.body_limit(cfg.limits.max_body_bytes);
    // A kept-alive connection may wait idle_timeout_ms for its next request;
    // once its first bytes are in, the whole request must arrive within
    // read_timeout_ms (slow clients).
    // Where a timeout struck (tollgate_client_timeouts_total{stage}).
    const char* stage = "request";
    if (buffer.size() == 0) {
      stage = "idle";
      stream.expires_after(std::chrono::milliseconds(cfg.limits.idle_timeout_ms));
      size_t n = co_await stream.async_read_some(buffer.prepare(4096), net::redirect_error(use_awaitable, ec));
      buffer.commit(n);
      if (!ec) stage = "request";
    }
    if (!ec) {
      stream.expires_after(std::chrono::milliseconds(cfg.limits.read_timeout_ms));
      co_await http::async_read_header(stream, buffer, parser, net::redirect_error(use_awaitable, ec));
    }
    // A head refused before its body is read (RefuseHead) is answered like
    // a malformed request: the connection closes after the answer.
    HeadRefusal refused;
    if (!ec && RefuseHead(parser.get(), &refused)) ec = http::error::bad_value;
    if (!ec && !parser.is_done()) {
      // curl and others wait for `100 Continue` before sending a large body.
      auto expect = parser.get().find(http::field::expect);
      if (expect != parser.get().end() && IEquals(expect->value(), "100-continue")) {
        static const char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
        co_await net::async_write(stream, net::buffer(kContinue, sizeof kContinue - 1),
                                  net::redirect_error(use_awaitable, ec));
      }
      if (!ec) co_await http::async_read(stream, buffer, parser, net::redirect_error(use_awaitable, ec));
    }
    if (ec) {
      int status = 0;
      std::string code, msg;
      if (refused.status) {
        status = refused.status, code = std::move(refused.code), msg = std::move(refused.message);
      } else if (ec == http::error::body_limit) {
        status = 413, code = "request_too_large",
        msg = "the request body is larger than the limit of " + std::to_string(cfg.limits.max_body_bytes) + " bytes";
      } else if (ec == http::error::header_limit) {
        status = 431, code = "headers_too_large",
        msg = "the request headers are larger than the limit of " + std::to_string(cfg.limits.max_header_bytes) + " bytes";
      } else if (ec == beast::error::timeout) {
        // A slow or idle client: the stream has closed the socket, so no
        // answer (no 408) can be sent; counted apart from the answers, and
        // the connection is gone.
        svc.metrics().client_timeouts.Add({{"stage", stage}});
      } else if (ec != http::error::end_of_stream && ec != net::error::eof &&
                 ec != net::error::connection_reset && ec != net::error::operation_aborted) {
        status = 400, code = "http_malformed", msg = "malformed HTTP request: " + ec.message();
      }
      if (status) {
        Response res = Json(status, OpenAIError(status, code, msg));
        Common(&res, nullptr);
        // RFC 9110 12.5.3: a 415 for a content coding names the ones accepted.
        if (status == 415) res.set(http::field::accept_encoding, "identity");
        // With the head read (a body over the limit, a malformed chunk) the
        // Origin is known: a browser page can then read why it was refused.
        // A head over the limit or not HTTP has no Origin to answer to.
        // A Content-Length over the limit stops the parser at the end of the
        // head, every field read.
        if (parser.is_header_done() || ec == http::error::body_limit || refused.status) Cors(parser.get(), &res);
        co_await Send(stream, res, nullptr, "(invalid)");
        // The client may still be sending the body we refused (a 10 MB
        // upload over the limit): closing with unread bytes makes the kernel
        // reset the connection, and a client still writing (Node's fetch)
        // then reports a connection error instead of reading the answer.
        // So close our side for writing and read the rest away first, for
        // at most read_timeout_ms (nginx's lingering close).
        boost::system::error_code lec;
        stream.socket().shutdown(tcp::socket::shutdown_send, lec);
        stream.expires_after(std::chrono::milliseconds(cfg.limits.read_timeout_ms));
        // Only ever written; one read at a time per thread (the reactor
        // performs a read on its own thread).
        thread_local char sink[16384];
        while (!lec) co_await stream.async_read_some(net::buffer(sink), net::redirect_error(use_awaitable, lec));
      }
      break;
    }
    Request req = parser.release();
    in_flight.fetch_add(1);
    bool keep = false;
    bool failed = false;
    std::string what;
    stream.answering = false;
    try {
      keep = co_await Handle(stream, req);
    } catch (const std::exception& e) {
      failed = true;
      what = e.what();
    } catch (...) {
      failed = true;
      what = "a non-standard exception";
    }
    if (failed) {
      // A bug, never a policy or input problem (those are answered as
      // data): logged, counted, answered 500 when nothing was sent yet, and
      // the connection closed (its state is unknown).
      svc.metrics().handler_errors.fetch_add(1);
      rapidjson::StringBuffer sb;
      rapidjson::Writer<rapidjson::StringBuffer> w(sb);
      w.StartObject();
      w.Key("event");
      w.String("handler_error");
      w.Key("answered");
      w.Bool(!stream.answering);
      w.Key("message");
      w.String(what.c_str(), static_cast<rapidjson::SizeType>(what.size()));
      w.EndObject();
      svc.log().error(std::string_view(sb.GetString(), sb.GetSize()));
      if (!stream.answering) {
        Response res = Json(500, OpenAIError(500, "internal_error",
                                             "the gateway failed while handling the request"));
        Common(&res, nullptr);
        Cors(req, &res);  // (Send adds it only with a request; this one closes the connection)
        co_await Send(stream, res, nullptr, "(internal_error)");
      }
      keep = false;
    }
    in_flight.fetch_sub(1);
    if (!keep || draining.load()) break;
  }
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream.close();
}

// A path segment percent-decoded (RFC 3986: `%2F` is `/`; the SDKs encode
// a model id's slash). False on a `%` not followed by two hex digits.
static bool PercentDecode(std::string_view in, std::string* out) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    const int hi = i + 2 < in.size() ? hex(in[i + 1]) : -1, lo = hi >= 0 ? hex(in[i + 2]) : -1;
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

net::awaitable<bool> Server::Impl::Handle(ClientStream& stream, Request& req) {
  std::string_view target(req.target().data(), req.target().size());
  std::string path(target.substr(0, target.find('?')));
  // One trailing slash names the same endpoint (`/v1/models/`).
  if (path.size() > 1 && path.back() == '/') path.pop_back();
  // HEAD is GET without the body (Send leaves it out).
  const auto method = req.method() == http::verb::head ? http::verb::get : req.method();
  if (method == http::verb::options && !cfg.cors.allow_origins.empty() &&
      req.find(http::field::origin) != req.end()) {
    co_return co_await Preflight(stream, req, path);
  }
  if (draining.load() && method == http::verb::post && PostPath(path)) {
    // The drain's grace period: the load balancer has not yet seen /healthz
    // go 503. A new request is refused, not started (it could outlast the
    // drain); the SDKs retry a 503, on a new connection (this one closes),
    // which the load balancer sends elsewhere.
    Response res = Json(503, OpenAIError(503, "draining", "the gateway is shutting down; retry"), req.version());
    Common(&res, nullptr);
    co_return co_await Send(stream, res, &req, path);
  }
  if (path == "/v1/chat/completions" || path == "/chat/completions") {
    if (method == http::verb::post) co_return co_await Chat(stream, req, path);
  } else if (path == "/v1/decide") {
    if (method == http::verb::post) co_return co_await Decide(stream, req, path);
  } else if (path == "/v1/models" || path == "/models" || path.rfind("/v1/models/", 0) == 0 ||
             path.rfind("/models/", 0) == 0) {
    // GET /v1/models/{id} (the SDKs' models.retrieve): one model of the
    // list, or 404 model_not_found as from OpenAI. An id may hold slashes
    // (`openai/gpt-4o`): the SDKs put it in the path as it is.
    // openai-node 5.x percent-encodes it (`openai%2Fgpt-4o`): decoded.
    const size_t base = path.rfind("/v1/models", 0) == 0 ? 10 : 7;
    std::string one;
    const bool escapes_ok = path.size() <= base || PercentDecode(std::string_view(path).substr(base + 1), &one);
    if (method == http::verb::get) {
      ObserveTotal observe_total{svc.metrics().request_seconds(path.size() > base ? Route::kModel : Route::kModels),
                                 MonoNs()};
      if (!escapes_ok) {
        Response res = Json(400, OpenAIError(400, "invalid_path", "the model id in the path `" + path.substr(base + 1) +
                                                                      "` has a malformed percent escape"));
        Common(&res, nullptr);
        co_return co_await Send(stream, res, &req, "/v1/models/{id}");
      }
      auto keys = svc.keys();
      std::string token = Bearer(req);
      const Identity* who = token.empty() ? nullptr : keys->Find(token);
      std::string models;
      if (who && offload_ledger) {
        co_await OffThread([&] { models = svc.ModelsJson(*who); });  // Redis counters: a round trip
      } else if (who) {
        models = svc.ModelsJson(*who);
      }
      Response res = !who ? Json(401, OpenAIError(401, token.empty() ? "missing_api_key" : "invalid_api_key",
                                                   token.empty() ? "an API key is required (Authorization: Bearer KEY)"
                                                                 : "the API key is not known"))
                          : Json(200, std::move(models));
      if (who && !one.empty()) {
        // A bare name is the catalog's one model of that name, as in a chat
        // request (docs/gateway.md, "Model names").
        if (auto live = svc.live(); live && live->catalog) {
          const stdlib::ModelName m = stdlib::SplitModel(one);
          if (const std::string_view id = live->catalog->BareModel(m.id); !id.empty()) {
            one = std::string(id) + (m.variant.empty() ? "" : ":" + std::string(m.variant));
          }
        }
        rapidjson::Document d;
        d.Parse(res.body().data(), res.body().size());
        std::string found;
        for (const auto& m : d["data"].GetArray()) {
          if (one == std::string_view(m["id"].GetString(), m["id"].GetStringLength())) {
            rapidjson::StringBuffer sb;
            rapidjson::Writer<rapidjson::StringBuffer> w(sb);
            m.Accept(w);
            found.assign(sb.GetString(), sb.GetSize());
          }
        }
        res = found.empty() ? Json(404, OpenAIError(404, "model_not_found", "the model `" + one +
                                                         "` does not exist or you do not have access to it"))
                            : Json(200, std::move(found));
      }
      Common(&res, nullptr);
      // A named label: GCC 12 frees a conditional's temporary twice across co_await.
      const std::string label = one.empty() ? path : std::string("/v1/models/{id}");
      co_return co_await Send(stream, res, &req, label);
    }
  } else if (path == "/healthz") {
    if (method == http::verb::get) {
      auto live = svc.live();
      const char* state = draining.load()                               ? "draining"
                          : svc.audit() && svc.audit()->failed()        ? "audit_failed"
                                                                        : "ok";
      Response res = Json(std::string_view(state) == "ok" ? 200 : 503,
                          std::string("{\"status\":\"") + state + "\",\"policy_version\":\"" +
                              live->version + "\"}");
      Common(&res, nullptr);
      co_return co_await Send(stream, res, &req, path);
    }
  } else if (path == "/metrics") {
    if (method == http::verb::get) {
      auto live = svc.live();
      auto shadow = svc.shadow();
      Response res{http::status::ok, req.version()};
      res.set(http::field::content_type, "text/plain; version=0.0.4");
      res.body() = svc.metrics().Render(live->version, shadow ? shadow->version : "");
      Common(&res, nullptr);
      co_return co_await Send(stream, res, &req, path);
    }
  } else if (path.rfind("/admin/", 0) == 0) {
    co_return co_await Admin(stream, req, path);
  } else {
    Response res = Json(404, OpenAIError(404, "not_found", "no such endpoint `" + path + "`"));
    Common(&res, nullptr);
    co_return co_await Send(stream, res, &req, "(unknown)");
  }
  Response res = Json(405, OpenAIError(405, "method_not_allowed",
                                       std::string(req.method_string()) + " is not allowed on `" + path + "`"));
  // RFC 9110 15.5.6: a 405 lists the methods the resource supports.
  res.set(http::field::allow, PostPath(path) ? "POST" : "GET, HEAD");
  Common(&res, nullptr);
  // One metrics label for every model id (no label per client-chosen path).
  const std::string label = ModelPath(path) ? std::string("/v1/models/{id}") : path;
  co_return co_await Send(stream, res, &req, label);
}

net::awaitable<bool> Server::Impl::Decide(ClientStream& stream, Request& req, const std::string& path) {
  const int64_t start_ns = MonoNs();
  ObserveTotal observe_total{svc.metrics().request_seconds(Route::kDecide), start_ns};
  if (!cfg.decide_token_env.empty()) {
    const char* want = std::getenv(cfg.decide_token_env.c_str());
    if (!want || !*want || !SecureEquals(Bearer(req), want)) {
      Response res = Json(401, OpenAIError(401, "invalid_api_key", "/v1/decide needs the decide token"));
      Common(&res, nullptr);
      co_return co_await Send(stream, res, &req, path);
    }
  }
  if (svc.audit() && svc.audit()->failed()) {
    // A decision that cannot be recorded is not made (as for Chat).
    Response res = Json(503, OpenAIError(503, "audit_unavailable",
                                         "the decision log cannot be written; requests are refused"),
                        req.version());
    res.set("x-should-retry", "false");
    Common(&res, nullptr);
    co_return co_await Send(stream, res, &req, path);
  }
  ExchangeLease x;
  x->start_ns = start_ns;
  x->path = path;
  x->live = svc.live();
  x->shadow = svc.shadow();
  x->input = std::move(req.body());
  std::string out;
  uint64_t seq = 0;
  bool unused;
  if (!CheckRequestBody(&x->input, &unused, &x->input_error)) {
    // The decoder would accept a number beyond double range in a member it
    // does not read, but the decision record embeds the input, and a record
    // no JSON reader can parse breaks the log's verification.
    x->invalid = true;
    out = runtime::InputErrorJson(x->input_error);
  } else if (offload_ledger) {
    co_await OffThread([&] { out = svc.DecideOnly(x.get(), &seq); });
  } else {
    out = svc.DecideOnly(x.get(), &seq);
  }
  WriteRecord(seq);
  svc.metrics().processing.Observe(MonoNs() - x->start_ns);
  Response res = Json(x->invalid ? 400 : 200, std::move(out), req.version());
  Common(&res, x.get());
  co_await DurableOr503(x.get(), seq, &res);  // the decision is recorded before it is answered
  co_return co_await Send(stream, res, &req, path);
}

net::awaitable<bool> Server::Impl::Admin(ClientStream& stream, Request& req, const std::string& path) {
  const char* token = cfg.admin_token_env.empty() ? nullptr : std::getenv(cfg.admin_token_env.c_str());
  Response res;
  if (!token || !*token) {
    res = Json(403, OpenAIError(403, "admin_disabled", "the admin API is off: set $" + cfg.admin_token_env));
  } else if (!SecureEquals(Bearer(req), token)) {
    res = Json(401, OpenAIError(401, "invalid_admin_token", "the admin token is missing or wrong"));
  } else {
    std::string error;
    bool ok = false;
    int fail_status = 422;
    std::string fail_code = "policy_invalid";
    bool shadow = false;
    if (path == "/admin/policy" && req.method() == http::verb::post &&
        !QueryFlag(req.target(), "shadow", &shadow)) {
      fail_status = 400, fail_code = "invalid_query";
      error = "the query parameter `shadow` takes 1/0, true/false, yes/no or on/off";
    } else if (path == "/admin/policy" && req.method() == http::verb::post) {
      std::vector<SourceText> sources;
      std::string_view body = req.body();
      bool is_json = false;
      const bool body_ok = PolicyFilesOf(body, &is_json, &sources, &error);
      if (!body_ok) {
        fail_status = 400, fail_code = "invalid_policy_body";
      } else if (!is_json) {
        // One file: named like the configured policy file, so that its
        // relative `data` and `schema` paths resolve as they do on disk.
        std::error_code fec;
        const bool one_file = cfg.policy.size() == 1 && !std::filesystem::is_directory(cfg.policy[0], fec);
        sources.push_back({one_file ? cfg.policy[0] : std::string("admin/policy.tg"), std::string(body)});
      }
      if (body_ok) co_await OffThread([&] { ok = svc.LoadSources(std::move(sources), shadow, &error); });
      if (ok) {
        auto set = shadow ? svc.shadow() : svc.live();
        svc.log().info("{{\"event\":\"policy_loaded\",\"version\":\"{}\",\"shadow\":{}}}", set->version, shadow);
        res = Json(200, std::string("{\"loaded\":\"") + set->version + "\",\"shadow\":" +
                            (shadow ? "true" : "false") + "}");
      }
    } else if (path == "/admin/policy/promote" && req.method() == http::verb::post) {
      bool refused = false;
      co_await OffThread([&] { ok = svc.Promote(&error, &refused); });
      if (!refused) fail_status = 409, fail_code = "no_shadow_policy";
      if (ok) {
        const std::string version = svc.live()->version;
        svc.log().info("{{\"event\":\"policy_promoted\",\"version\":\"{}\"}}", version);
        res = Json(200, "{\"promoted\":\"" + version + "\"}");
      }
    } else if (path == "/admin/policy/shadow" && req.method() == http::verb::delete_) {
      auto dropped = svc.shadow();
      svc.DropShadow();
      svc.log().info("{{\"event\":\"shadow_deleted\",\"version\":{}}}",
                     dropped ? "\"" + dropped->version + "\"" : std::string("null"));
      ok = true;
      res = Json(200, "{\"shadow\":null}");
    } else if (path == "/admin/reload" && req.method() == http::verb::post) {
      co_await OffThread([&] { ok = svc.ReloadFromDisk(&error); });
      if (ok) res = Json(200, "{\"loaded\":\"" + svc.live()->version + "\"}");
    } else if (AdminMethod(path)) {
      ok = false, fail_status = 405, fail_code = "method_not_allowed";
      error = std::string(req.method_string()) + " is not allowed on `" + path + "`";
    } else {
      ok = false, fail_status = 404, fail_code = "not_found", error = "no such admin endpoint `" + path + "`";
    }
    if (!ok) {
      res = Json(fail_status, OpenAIError(fail_status, fail_code,
                                          fail_code == "policy_invalid" ? "the policy was refused; the live version is unchanged" : error));
      if (fail_code == "policy_invalid") {
        // The diagnostics (file:line:col with carets) as one string member.
        rapidjson::Document d;
        d.Parse(res.body().data(), res.body().size());
        d["error"].AddMember("diagnostics", rapidjson::Value(error.c_str(), d.GetAllocator()), d.GetAllocator());
        rapidjson::StringBuffer sb;
        rapidjson::Writer<rapidjson::StringBuffer> w(sb);
        d.Accept(w);
        res.body() = sb.GetString();
      }
      // RFC 9110 15.5.6: a 405 lists the methods the resource supports.
      if (fail_status == 405) res.set(http::field::allow, AdminMethod(path));
    }
  }
  Common(&res, nullptr);
  const std::string label = AdminMethod(path) ? path : std::string("(unknown)");
  co_return co_await Send(stream, res, &req, label);
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
    co_return co_await Send(stream, res, &req, path);
  }
  if (svc.audit() && svc.audit()->failed()) {
    // A decision that cannot be recorded is not made (docs/gateway.md).
    Response res = Json(503, OpenAIError(503, "audit_unavailable",
                                         "the decision log cannot be written; requests are refused"),
                        req.version());
    res.set("x-should-retry", "false");
    Common(&res, x.get());
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
    if (x->invalid) svc.metrics().decisions.Add(Label("outcome", "invalid") + "," + Label("code", x->input_error.code) + "," + Label("rule", ""));
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
  auto watch = WatchClient(stream, &conn);
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
  svc.NewDecisionId(x.get());
  const bool chunked = req.version() >= 11;
  http::response<http::empty_body> head{http::status::ok, req.version()};
  head.set(http::field::server, "tollgate");
  head.set(http::field::content_type, "text/event-stream");
  head.set(http::field::cache_control, "no-cache");
  head.set("x-tollgate-policy-version", x->live->version);
  head.set("x-tollgate-decision-id", x->decision_id);
  if (const std::string id = conn->header("x-request-id"); !id.empty()) head.set("x-request-id", id);
  Cors(req, &head);
  explain_header(&head);
  head.chunked(chunked);
  head.keep_alive(chunked && req.keep_alive() && !draining.load());
  http::response_serializer<http::empty_body> sr{head};
  boost::system::error_code ec;
  auto write_piece = [&](std::string_view piece) -> net::awaitable<void> {
    if (chunked) {
      co_await net::async_write(stream, http::make_chunk(net::buffer(piece.data(), piece.size())),
                                net::redirect_error(use_awaitable, ec));
    } else {
      co_await net::async_write(stream, net::buffer(piece.data(), piece.size()), net::redirect_error(use_awaitable, ec));
    }
  };
  stream.expires_after(std::chrono::milliseconds(cfg.upstream.idle_timeout_ms));
  stream.answering = true;
  co_await http::async_write_header(stream, sr, net::redirect_error(use_awaitable, ec));
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
    err = co_await conn->Read(&piece, &done);
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
    o.error_code = client_gone ? "client_disconnected" : sse.error_event ? "upstream_stream_error" : "upstream_stream_cut";
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
  if (client_gone) co_return false;
  // After the upstream's own error event (relayed as it came: the SDKs
  // throw it) nothing is added; a cut stream gets the gateway's.
  if (!o.stream_complete && !sse.error_event) {
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
  co_return !ec && head.keep_alive();
}

void Server::Impl::StartDrain(bool grace) {
  if (!grace || draining.load()) {  // SIGINT, or a second SIGTERM: no (more) grace
    {
      std::lock_guard<std::mutex> lock(drain_mu);
      grace_over = true;
    }
    drain_cv.notify_all();
  }
  if (draining.exchange(true)) return;
  const int64_t grace_ms = grace ? cfg.drain_grace_ms : 0;
  svc.log().info("{{\"event\":\"draining\",\"in_flight\":{},\"grace_ms\":{}}}", in_flight.load(), grace_ms);
  // The thread takes drain_mu first: it cannot end before it is stored.
  std::lock_guard<std::mutex> hold(drain_mu);
  drain_thread = std::thread([this, grace_ms] {
    {
      // New connections are still accepted and told `draining` (/healthz
      // 503), so that a load balancer stops sending before the port closes.
      std::unique_lock<std::mutex> lock(drain_mu);
      drain_cv.wait_for(lock, std::chrono::milliseconds(grace_ms), [this] { return grace_over; });
    }
    net::post(worker0().io, [this] {
      boost::system::error_code ec;
      acceptor->close(ec);
    });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(cfg.drain_timeout_ms);
    while (in_flight.load() > 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));  // drain poll, not a test wait
    }
    for (auto& w : workers) w->io.stop();
  });
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() = default;
uint16_t Server::port() const { return impl_->port; }
void Server::Stop() { impl_->StartDrain(true); }

std::unique_ptr<Server> Server::Create(Service* service, std::string* error) {
  auto impl = std::make_unique<Impl>(*service);
  const Config& cfg = service->config();
  if (!cfg.upstream.ca_file.empty()) {
    net::ssl::context probe(net::ssl::context::tls_client);
    boost::system::error_code ec;
    probe.load_verify_file(cfg.upstream.ca_file, ec);
    if (ec) {
      *error = "upstream.ca_file `" + cfg.upstream.ca_file + "`: " + ec.message();
      return nullptr;
    }
  }
  int n = cfg.threads > 0 ? cfg.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 0; i < n; ++i) {
    auto w = std::make_unique<Worker>();
    w->pool = std::make_unique<UpstreamPool>(cfg.upstream);
    impl->workers.push_back(std::move(w));
  }
  impl->offload_ledger = cfg.ledger.rfind("redis", 0) == 0;
  if (!TrustedProxies::Parse(cfg.trusted_proxies, &impl->trusted, error)) {
    *error = "trusted_proxies: " + *error;
    return nullptr;
  }
  boost::system::error_code ec;
  auto addr = net::ip::make_address(cfg.host == "localhost" ? "127.0.0.1" : cfg.host, ec);
  if (ec) {
    *error = "listen address `" + cfg.host + "` is not an IP address";
    return nullptr;
  }
  tcp::endpoint ep(addr, cfg.port);
  impl->acceptor = std::make_unique<tcp::acceptor>(impl->worker0().io);
  impl->acceptor->open(ep.protocol(), ec);
  if (!ec) impl->acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor->bind(ep, ec);
  if (!ec) impl->acceptor->listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    *error = "cannot listen on " + cfg.host + ":" + std::to_string(cfg.port) + ": " + ec.message();
    return nullptr;
  }
  impl->port = impl->acceptor->local_endpoint().port();
  impl->waiter.Attach(service->audit());
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

int Server::Run() {
  Impl& m = *impl_;
  m.signals = std::make_unique<net::signal_set>(m.worker0().io, SIGHUP, SIGTERM, SIGINT);
  std::function<void()> arm = [&] {
    m.signals->async_wait([&](const boost::system::error_code& ec, int sig) {
      if (ec) return;
      if (sig == SIGHUP) {
        net::post(m.blocking, [&] {
          std::string error;
          if (m.svc.ReloadFromDisk(&error)) {
            m.svc.log().info("{{\"event\":\"policy_reloaded\",\"version\":\"{}\"}}", m.svc.live()->version);
          } else {
            m.svc.log().error("{{\"event\":\"policy_reload_refused\",\"error\":{}}}",
                              OpenAIError(422, "policy_invalid", error));
          }
        });
        arm();
      } else {
        m.StartDrain(sig == SIGTERM);  // Ctrl-C (SIGINT) skips the grace period
        arm();                          // a second signal ends the grace period
      }
    });
  };
  arm();
  net::co_spawn(m.worker0().io, m.Accept(), net::detached);
  std::vector<std::thread> threads;
  for (size_t i = 1; i < m.workers.size(); ++i) {
    threads.emplace_back([w = m.workers[i].get()] {
      tl_worker = w;
      auto guard = net::make_work_guard(w->io);
      w->io.run();
    });
  }
  {
    tl_worker = &m.worker0();
    auto guard = net::make_work_guard(m.worker0().io);
    m.worker0().io.run();
  }
  for (auto& t : threads) t.join();
  m.JoinDrain();  // it stopped the I/O threads; nothing outlives Run
  m.blocking.join();
  bool ok = true;
  if (m.svc.audit()) ok = m.svc.audit()->Close();
  if (m.svc.ledger()) m.svc.ledger()->Flush();
  m.svc.log().info(std::string_view("{\"event\":\"stopped\"}"));
  return ok ? 0 : 3;
}

}  // namespace tollgate::gateway
