// Calling model endpoints: a Beast HTTP/1.1 client with TLS (OpenSSL,
// certificate and host name verified) and per-endpoint keep-alive pools.
//
//   UpstreamPool pool(config.upstream);                      // one per I/O thread
//   UpstreamError err;
//   auto conn = co_await pool.Acquire(target, &err);          // pooled or new
//   if (!conn) ... err.kind == "connect" / "timeout" / "tls"
//   err = co_await conn->Send(request);                      // request + response header
//   int status = conn->status();
//   std::string piece; bool done = false;
//   while (!done) co_await conn->Read(&piece, &done, &err);  // body as it arrives
//   pool.Release(std::move(conn));                            // back to the pool if reusable
//
// Timeouts (UpstreamOptions): connect (resolve + TCP + TLS), first byte
// (request written -> response header read), idle (between two body reads).
// A pooled connection that the server closed while idle is detected on
// Send and replaced once by a fresh one (nothing was received yet); one
// idle for longer than pool_idle_timeout_ms is closed, not reused (a NAT
// or load balancer may have dropped it silently: nothing would detect it
// but the first-byte timeout).
//
// Thread safety: the pool is thread-safe; a connection is used by one
// coroutine at a time. Cost: one pooled connection reuse is a mutex and a
// vector pop; TLS handshakes only for new connections.
#pragma once

#include <utility>  // Boost 1.74 awaitable.hpp uses std::exchange without it

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/gateway/config.h"
#include "runtime/gateway/service.h"

namespace tollgate::gateway {

namespace net = boost::asio;
namespace http = boost::beast::http;

struct UpstreamError {
  std::string kind;     // "" (none), "connect", "tls", "timeout", "closed", "protocol", "too_large"
  std::string message;  // one line, never a key
  bool ok() const { return kind.empty(); }
};

class UpstreamConn;

class UpstreamPool {
 public:
  explicit UpstreamPool(const UpstreamOptions& options);
  ~UpstreamPool();

  // A connection to `t`: an idle pooled one, or a new one (resolve, connect,
  // TLS handshake). Null with *err on failure.
  net::awaitable<std::unique_ptr<UpstreamConn>> Acquire(const UpstreamTarget& t, UpstreamError* err);
  // Returns a connection whose last answer was read completely and that may
  // be kept alive; otherwise closes it.
  void Release(std::unique_ptr<UpstreamConn> conn);
  const UpstreamOptions& options() const { return options_; }

 private:
  UpstreamOptions options_;
  std::unique_ptr<net::ssl::context> tls_;
  std::mutex mu_;
  std::map<std::string, std::vector<std::unique_ptr<UpstreamConn>>> idle_;
};

class UpstreamConn {
 public:
  ~UpstreamConn();
  // Writes `req` and reads the response header. On a reused connection that
  // turns out closed (end of stream, reset, broken pipe, or over TLS a
  // stream truncated without close_notify) before any byte of an answer,
  // *stale is set (the caller acquires a fresh one).
  net::awaitable<UpstreamError> Send(http::request<http::string_body>& req, bool* stale);
  int status() const;
  std::string header(std::string_view name) const;
  // Appends the next part of the body to *out (as the upstream sends it);
  // *done once the body is complete.
  net::awaitable<UpstreamError> Read(std::string* out, bool* done);
  bool reused() const { return reused_; }
  // Closes the connection under a pending Send or Read, which then fails
  // (a streaming client that went away). Not reusable afterwards.
  void Abort();

  struct Impl;

 private:
  friend class UpstreamPool;
  explicit UpstreamConn(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  bool reused_ = false;
  int64_t idle_since_ms_ = 0;  // steady clock, when Release pooled it
  std::string pool_key_;
};

}  // namespace tollgate::gateway
