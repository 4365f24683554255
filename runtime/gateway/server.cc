// The HTTP gateway server (server.h): listener, sessions and their HTTP
// hardening, routing, the answer helpers, the endpoints besides the chat
// completions (models, healthz, metrics, decide, admin), the drain. The
// chat flow is in server_chat.cc (internal/server_impl.h).
#include "runtime/gateway/server.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <latch>
#include <memory>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "runtime/gateway/internal/http_text.h"
#include "runtime/gateway/internal/server_impl.h"
#include "stdlib/names.h"

namespace tollgate::gateway {
namespace internal {

constinit thread_local Worker* tl_worker = nullptr;

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

const std::string& DateNow() {
  thread_local int64_t at = -1;
  thread_local std::string text;
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  if (now != at) {
    at = now;
    text = HttpDate(now);
  }
  return text;
}

namespace {

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

}  // namespace
}  // namespace internal

using namespace internal;  // this file's own helpers and server_impl.h's

net::awaitable<void> Server::Impl::OffThread(std::function<void()> f) {
  co_await net::co_spawn(blocking, [&]() -> net::awaitable<void> {
    f();
    co_return;
  }, use_awaitable);
}

void Server::Impl::Common(Response* res, const Exchange* x) {
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

// A decision that cannot be recorded is not made (docs/gateway.md): chat
// and decide requests are refused while the audit log is failing.
Response Server::Impl::AuditUnavailable(const Request& req, const Exchange* x) {
  Response res = Json(503, OpenAIError(503, "audit_unavailable",
                                       "the decision log cannot be written; requests are refused"),
                      req.version());
  res.set("x-should-retry", "false");
  Common(&res, x);
  return res;
}

// CORS (docs/gateway.md): on an answer to a browser's cross-origin
// request from an allowed origin, the headers that let the page read it.
// Never for the admin API.
void Server::Impl::Cors(const Request& req, http::fields* h) const {
  if (cfg.cors.allow_origins.empty()) return;
  auto origin = req.find(http::field::origin);
  if (origin == req.end()) return;
  const std::string_view target = OriginForm(std::string_view(req.target().data(), req.target().size()));
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
bool Server::Impl::PostPath(std::string_view path) {
  return path == "/v1/chat/completions" || path == "/chat/completions" || path == "/v1/decide";
}

// The method an admin path takes, or null for a path that is not one:
// such a path is labelled `(unknown)` in /metrics, as any unknown path
// (a label per client-chosen path would grow the metrics without bound).
const char* Server::Impl::AdminMethod(std::string_view path) {
  if (path == "/admin/policy" || path == "/admin/policy/promote" || path == "/admin/reload") return "POST";
  if (path == "/admin/policy/shadow") return "DELETE";
  return nullptr;
}

// A path naming one model (`/v1/models/{id}`): one metrics label for them all.
bool Server::Impl::ModelPath(std::string_view path) {
  return path.rfind("/v1/models/", 0) == 0 || path.rfind("/models/", 0) == 0;
}

// A browser's preflight (OPTIONS with Origin) while CORS is on.
net::awaitable<bool> Server::Impl::Preflight(ClientStream& stream, Request& req, const std::string& path) {
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

net::awaitable<bool> Server::Impl::Send(ClientStream& stream, Response& res, const Request* req,
                          const std::string& path) {
  if (req && res.result() != http::status::no_content) Cors(*req, &res);
  res.set(http::field::date, DateNow());  // RFC 9110 6.6.1: every answer of a server with a clock
  // RFC 9110 11.6.1: a 401 names the scheme the credentials take.
  if (res.result() == http::status::unauthorized) res.set(http::field::www_authenticate, "Bearer");
  if (req) res.keep_alive(req->keep_alive() && !draining.load());
  else res.keep_alive(false);
  // An HTTP/1.0 client that asked for keep-alive is told the connection is
  // kept: an HTTP/1.1 answer (a server names its own version, RFC 9110 2.5)
  // implies it, which such a client does not know, and it waits for a close.
  if (req && req->version() < 11 && res.version() >= 11 && res.keep_alive()) {
    res.set(http::field::connection, "keep-alive");
  }
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

Response Server::Impl::Json(int status, std::string body, unsigned version) {
  Response res{static_cast<http::status>(status), version};
  res.set(http::field::content_type, "application/json");
  res.body() = std::move(body);
  return res;
}

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
    bool unknown_caller = false;  // answered 401 without its body, then the connection closes
    if (!ec && !parser.is_done()) {
      // curl and others wait for `100 Continue` before sending a large body.
      // Not an HTTP/1.0 client (RFC 9110 10.1.1: the expectation is
      // ignored): it knows no interim answers and reads the 100 as the answer.
      auto expect = parser.get().find(http::field::expect);
      if (expect != parser.get().end() && parser.get().version() >= 11 &&
          IEquals(expect->value(), "100-continue")) {
        // A chat request without a known key is answered 401 now, instead
        // of asking for a body (up to max_body_bytes) only to refuse it.
        unknown_caller = UnknownChatCaller(parser.get());
        static const char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
        if (!unknown_caller) {
          co_await net::async_write(stream, net::buffer(kContinue, sizeof kContinue - 1),
                                    net::redirect_error(use_awaitable, ec));
        }
      }
      if (!ec && !unknown_caller) {
        co_await http::async_read(stream, buffer, parser, net::redirect_error(use_awaitable, ec));
      }
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
        co_await LingeringClose(stream);
      }
      break;
    }
    Request req = parser.release();
    if (unknown_caller) req.keep_alive(false);  // the body it announced was never read
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
    if (unknown_caller) {
      // The client may send its body anyway (RFC 9110 10.1.1 lets it, after
      // a wait): read it away before closing, as after a 413, so that it
      // reads the 401 instead of a connection reset.
      co_await LingeringClose(stream);
      co_return;
    }
    if (!keep || draining.load()) break;
  }
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream.close();
}

net::awaitable<void> Server::Impl::LingeringClose(ClientStream& stream) {
  boost::system::error_code lec;
  stream.socket().shutdown(tcp::socket::shutdown_send, lec);
  stream.expires_after(std::chrono::milliseconds(cfg.limits.read_timeout_ms));
  // Only ever written; one read at a time per thread (the reactor
  // performs a read on its own thread).
  thread_local char sink[16384];
  while (!lec) co_await stream.async_read_some(net::buffer(sink), net::redirect_error(use_awaitable, lec));
}

bool Server::Impl::UnknownChatCaller(const Request& head) const {
  if (head.method() != http::verb::post) return false;
  const std::string_view path = EndpointPath(std::string_view(head.target().data(), head.target().size()));
  if (path != "/v1/chat/completions" && path != "/chat/completions") return false;
  const std::string token = Bearer(head);
  return token.empty() || !svc.keys()->Find(token);
}

net::awaitable<bool> Server::Impl::Handle(ClientStream& stream, Request& req) {
  // The absolute form (`http://host:port/v1/models`) names its path; one
  // trailing slash names the same endpoint (`/v1/models/`).
  const std::string path(EndpointPath(std::string_view(req.target().data(), req.target().size())));
  // HEAD is GET without the body (Send leaves it out).
  const auto method = req.method() == http::verb::head ? http::verb::get : req.method();
  if (std::string_view(req.target().data(), req.target().size()) == "*") {
    // The asterisk form names the server itself, for OPTIONS only (RFC 9110
    // 9.3.7, RFC 9112 3.2.4): the methods the server takes.
    Response res = method == http::verb::options
                       ? Response{http::status::no_content, req.version()}
                       : Json(400, OpenAIError(400, "http_malformed",
                                               "the request target `*` is for OPTIONS only"));
    if (method == http::verb::options) res.set(http::field::allow, "GET, HEAD, POST, DELETE, OPTIONS");
    Common(&res, nullptr);
    co_return co_await Send(stream, res, &req, method == http::verb::options ? "*" : "(invalid)");
  }
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
    if (method == http::verb::get) co_return co_await Models(stream, req, path);
  } else if (path == "/healthz") {
    if (method == http::verb::get) co_return co_await Healthz(stream, req, path);
  } else if (path == "/metrics") {
    if (method == http::verb::get) co_return co_await MetricsPage(stream, req, path);
  } else if (path.rfind("/admin/", 0) == 0) {
    co_return co_await Admin(stream, req, path);
  } else {
    Response res = Json(404, OpenAIError(404, "not_found", "no such endpoint `" + path + "`"));
    Common(&res, nullptr);
    co_return co_await Send(stream, res, &req, "(unknown)");
  }
  // One metrics label for every model id (no label per client-chosen path).
  const std::string label = ModelPath(path) ? std::string("/v1/models/{id}") : path;
  const char* allow = PostPath(path) ? "POST, OPTIONS" : "GET, HEAD, OPTIONS";
  if (method == http::verb::options) {
    // RFC 9110 9.3.7: OPTIONS asks what the resource takes. A browser's
    // preflight while CORS is off gets no Access-Control-* header, so the
    // browser refuses the cross-origin call and says so.
    Response res{http::status::no_content, req.version()};
    res.set(http::field::allow, allow);
    Common(&res, nullptr);
    co_return co_await Send(stream, res, &req, label);
  }
  Response res = Json(405, OpenAIError(405, "method_not_allowed",
                                       std::string(req.method_string()) + " is not allowed on `" + path + "`"));
  // RFC 9110 15.5.6: a 405 lists the methods the resource supports.
  res.set(http::field::allow, allow);
  Common(&res, nullptr);
  co_return co_await Send(stream, res, &req, label);
}

// --- the endpoints besides the chat completions: GET /v1/models[/{id}],
// /healthz and /metrics, POST /v1/decide, and the admin API (policy load,
// promote, shadow, reload) ---
// GET /v1/models and GET /v1/models/{id}.
net::awaitable<bool> Server::Impl::Models(ClientStream& stream, Request& req, const std::string& path) {
  // GET /v1/models/{id} (the SDKs' models.retrieve): one model of the
  // list, or 404 model_not_found as from OpenAI. An id may hold slashes
  // (`openai/gpt-4o`): the SDKs put it in the path as it is.
  // openai-node 5.x percent-encodes it (`openai%2Fgpt-4o`): decoded.
  const size_t base = path.rfind("/v1/models", 0) == 0 ? 10 : 7;
  std::string one;
  const bool escapes_ok = path.size() <= base || PercentDecode(std::string_view(path).substr(base + 1), &one);
    ObserveTotal observe_total{svc.metrics().request_seconds(path.size() > base ? Route::kModel : Route::kModels),
                               MonoNs()};
    if (!escapes_ok) {
      Response res = Json(400, OpenAIError(400, "invalid_path", "the model id in the path `" + path.substr(base + 1) +
                                                                    "` has a malformed percent escape"));
      Common(&res, nullptr);
      svc.LogWithoutDecision("/v1/models/{id}", nullptr, "invalid", "invalid_path", 400, observe_total.start_ns);
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
    if (!who) {
      svc.LogWithoutDecision(label, nullptr, "unauthenticated", token.empty() ? "missing_api_key" : "invalid_api_key", 401,
                     observe_total.start_ns);
    } else {
      // Answered (the list, the model, or 404 for one this caller may not
      // use): nothing is decided, but the line says who asked.
      svc.LogWithoutDecision(label, who, "answered", res.result_int() == 200 ? "ok" : "model_not_found", res.result_int(),
                     observe_total.start_ns);
    }
    co_return co_await Send(stream, res, &req, label);
}

net::awaitable<bool> Server::Impl::Healthz(ClientStream& stream, Request& req, const std::string& path) {
    auto live = svc.live();
    // The budget store, read now: an empty Peek is a round trip to Redis
    // (bounded by its timeout) and nothing for SQLite or memory, off the
    // I/O thread. A store that cannot be reached leaves the gateway up but
    // "degraded" (200: the replicas share the store, so a load balancer
    // draining them all would refuse the requests no budget reads too).
    ledger::Status store = ledger::Status::Ok();
    if (ledger::Ledger* led = svc.ledger()) {
      co_await OffThread([&] {
        std::vector<ledger::CounterView> none;
        store = led->Peek(ledger::ReserveRequest{}, &none);
      });
    }
    const char* state = draining.load()                               ? "draining"
                        : svc.audit() && svc.audit()->failed()        ? "audit_failed"
                        : !store.ok && !svc.ledger()->fail_open()     ? "degraded"
                                                                      : "ok";
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    w.StartObject();
    w.Key("status");
    w.String(state);
    w.Key("policy_version");
    w.String(live->version.c_str(), static_cast<rapidjson::SizeType>(live->version.size()));
    if (svc.ledger()) {
      w.Key("ledger");
      w.String(store.ok ? "ok" : "unavailable");
      if (!store.ok) {
        w.Key("ledger_error");
        w.String(store.message.c_str(), static_cast<rapidjson::SizeType>(store.message.size()));
      }
    }
    w.EndObject();
    const std::string_view st(state);
    Response res = Json(st == "ok" || st == "degraded" ? 200 : 503, std::string(sb.GetString(), sb.GetSize()));
    Common(&res, nullptr);
    co_return co_await Send(stream, res, &req, path);
}

net::awaitable<bool> Server::Impl::MetricsPage(ClientStream& stream, Request& req, const std::string& path) {
    auto live = svc.live();
    auto shadow = svc.shadow();
    Response res{http::status::ok, req.version()};
    res.set(http::field::content_type, "text/plain; version=0.0.4");
    res.body() = svc.metrics().Render(live->version, shadow ? shadow->version : "");
    Common(&res, nullptr);
    co_return co_await Send(stream, res, &req, path);
}

net::awaitable<bool> Server::Impl::Decide(ClientStream& stream, Request& req, const std::string& path) {
  const int64_t start_ns = MonoNs();
  ObserveTotal observe_total{svc.metrics().request_seconds(Route::kDecide), start_ns};
  if (!cfg.decide_token_env.empty()) {
    const char* want = std::getenv(cfg.decide_token_env.c_str());
    if (!want || !*want || !SecureEquals(Bearer(req), want)) {
      Response res = Json(401, OpenAIError(401, "invalid_api_key", "/v1/decide needs the decide token"));
      Common(&res, nullptr);
      svc.LogWithoutDecision(path, nullptr, "unauthenticated", "invalid_api_key", 401, start_ns);
      co_return co_await Send(stream, res, &req, path);
    }
  }
  if (svc.audit() && svc.audit()->failed()) {
    Response res = AuditUnavailable(req, nullptr);
    svc.LogWithoutDecision(path, nullptr, "refused", "audit_unavailable", 503, start_ns);
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
  // A bare model name is read as a chat request's is (docs/gateway.md,
  // "Model names"), so /v1/decide answers what the chat request gets.
  if (!CheckRequestBody(&x->input, &unused, &x->input_error, nullptr, x->live->catalog.get(),
                        runtime::ModelNameSpans::Where::kDecisionInput)) {
    // The decoder would accept a number beyond double range in a member it
    // does not read, but the decision record embeds the input, and a record
    // no JSON reader can parse breaks the log's verification.
    x->invalid = true;
    out = DecideInputErrorJson(x->input_error);
  } else if (offload_ledger) {
    co_await OffThread([&] { out = svc.DecideOnly(x.get(), &seq); });
  } else {
    out = svc.DecideOnly(x.get(), &seq);
  }
  WriteRecord(seq);
  svc.metrics().processing.Observe(MonoNs() - x->start_ns);
  if (x->invalid) svc.LogWithoutDecision(path, nullptr, "invalid", x->input_error.code, 400, x->start_ns);
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
    // Every POST above that succeeded changed the live or shadow policy.
    if (ok && req.method() == http::verb::post) WarmWorkers();
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


// --- the drain and the Server API ---

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
    if (in_flight.load() > 0) {
      // Requests still waiting for or relaying an upstream answer are ended
      // (StopInFlight): each settles, writes its record and answers before
      // the I/O threads stop, within kStopInFlightMs.
      svc.log().warn("{{\"event\":\"drain_timeout\",\"in_flight\":{}}}", in_flight.load());
      StopInFlight();
      const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(kStopInFlightMs);
      while (in_flight.load() > 0 && std::chrono::steady_clock::now() < end) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));  // drain poll, not a test wait
      }
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

void Server::Impl::WarmWorkers() {
  auto warm = [this] {
    try {
      svc.WarmThread();
    } catch (const std::exception&) {
      // Out of memory: the thread's first request builds them instead.
    }
  };
  for (auto& w : workers) net::post(w->io, warm);
  if (!offload_ledger) return;
  // With a Redis ledger the decisions run on the blocking pool: one warm per
  // pool thread, each holding its thread until every one has started (so no
  // thread takes two).
  auto started = std::make_shared<std::latch>(kBlockingThreads);
  for (int i = 0; i < kBlockingThreads; ++i) {
    net::post(blocking, [warm, started] {
      started->arrive_and_wait();
      warm();
    });
  }
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
            m.WarmWorkers();
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
  m.WarmWorkers();  // each thread's first task, before any request
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
