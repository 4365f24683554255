// The upstream HTTP client (upstream.h).
#include "runtime/gateway/upstream.h"

#include <openssl/ssl.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <chrono>
#include <limits>
#include <optional>

namespace tollgate::gateway {
namespace {

namespace beast = boost::beast;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using net::use_awaitable;

std::chrono::milliseconds Ms(int64_t ms) { return std::chrono::milliseconds(ms); }

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

UpstreamError Fail(std::string kind, const boost::system::error_code& ec) {
  if (ec == beast::error::timeout) kind = "timeout";
  return {std::move(kind), ec.message()};
}

}  // namespace

struct UpstreamConn::Impl {
  std::unique_ptr<beast::tcp_stream> plain;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;
  std::optional<http::response_parser<http::buffer_body>> parser;
  UpstreamOptions options;
  bool keep_alive = false;
  bool complete = false;
  char chunk[16384];

  beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
};

UpstreamConn::UpstreamConn(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
UpstreamConn::~UpstreamConn() = default;

UpstreamPool::UpstreamPool(const UpstreamOptions& options) : options_(options) {
  tls_ = std::make_unique<ssl::context>(ssl::context::tls_client);
  tls_->set_default_verify_paths();
  if (!options.ca_file.empty()) {
    boost::system::error_code ec;
    tls_->load_verify_file(options.ca_file, ec);  // checked by Server::Create
  }
  tls_->set_verify_mode(ssl::verify_peer);
}

UpstreamPool::~UpstreamPool() = default;

net::awaitable<std::unique_ptr<UpstreamConn>> UpstreamPool::Acquire(const UpstreamTarget& t,
                                                                     UpstreamError* err) {
  {
    std::vector<std::unique_ptr<UpstreamConn>> expired;  // closed outside the lock
    std::lock_guard<std::mutex> lock(mu_);
    auto it = idle_.find(t.pool_key);
    if (it != idle_.end() && !it->second.empty()) {
      // INVARIANT: the vector is in Release order; the newest is last.
      if (SteadyMs() - it->second.back()->idle_since_ms_ > options_.pool_idle_timeout_ms) {
        expired.swap(it->second);  // the newest is too old: so is every other
      } else {
        std::unique_ptr<UpstreamConn> c = std::move(it->second.back());
        it->second.pop_back();
        c->reused_ = true;
        co_return c;
      }
    }
  }
  auto impl = std::make_unique<UpstreamConn::Impl>();
  impl->options = options_;
  auto ex = co_await net::this_coro::executor;
  boost::system::error_code ec;
  tcp::resolver resolver(ex);
  auto results = co_await resolver.async_resolve(t.host, t.port, net::redirect_error(use_awaitable, ec));
  if (ec) {
    *err = Fail("connect", ec);
    co_return nullptr;
  }
  if (t.tls) {
    impl->tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(ex, *tls_);
    if (!SSL_set_tlsext_host_name(impl->tls->native_handle(), t.host.c_str())) {
      *err = {"tls", "cannot set the TLS server name"};
      co_return nullptr;
    }
    impl->tls->set_verify_callback(ssl::host_name_verification(t.host));
  } else {
    impl->plain = std::make_unique<beast::tcp_stream>(ex);
  }
  impl->lowest().expires_after(Ms(options_.connect_timeout_ms));
  co_await impl->lowest().async_connect(results, net::redirect_error(use_awaitable, ec));
  if (ec) {
    *err = Fail("connect", ec);
    co_return nullptr;
  }
  impl->lowest().socket().set_option(tcp::no_delay(true), ec);
  if (impl->tls) {
    co_await impl->tls->async_handshake(ssl::stream_base::client, net::redirect_error(use_awaitable, ec));
    if (ec) {
      *err = Fail("tls", ec);
      co_return nullptr;
    }
  }
  std::unique_ptr<UpstreamConn> c(new UpstreamConn(std::move(impl)));
  c->pool_key_ = t.pool_key;
  co_return c;
}

void UpstreamPool::Release(std::unique_ptr<UpstreamConn> conn) {
  if (!conn || !conn->impl_->complete || !conn->impl_->keep_alive) return;
  conn->impl_->lowest().expires_never();
  conn->idle_since_ms_ = SteadyMs();
  std::lock_guard<std::mutex> lock(mu_);
  auto& v = idle_[conn->pool_key_];
  if (v.size() < options_.max_idle_per_endpoint) v.push_back(std::move(conn));
}

net::awaitable<UpstreamError> UpstreamConn::Send(http::request<http::string_body>& req, bool* stale) {
  Impl& m = *impl_;
  *stale = false;
  m.complete = false;
  m.buffer.clear();
  m.parser.emplace();
  m.parser->body_limit(std::numeric_limits<std::uint64_t>::max());  // callers bound it
  boost::system::error_code ec;
  m.lowest().expires_after(Ms(m.options.first_byte_timeout_ms));
  if (m.tls) {
    co_await http::async_write(*m.tls, req, net::redirect_error(use_awaitable, ec));
  } else {
    // What the socket takes at once goes with a non-blocking write (the
    // whole request, nearly always: no suspension, no timer, no trip
    // through the event loop); the rest, if any, asynchronously.
    http::request_serializer<http::string_body> sr{req};
    tcp::socket& sock = m.plain->socket();
    if (!sock.non_blocking()) sock.non_blocking(true, ec);
    if (!ec) http::write(sock, sr, ec);
    if (ec == net::error::would_block || ec == net::error::try_again) {
      ec = {};
      co_await http::async_write(*m.plain, sr, net::redirect_error(use_awaitable, ec));
    }
  }
  if (!ec) {
    if (m.tls) {
      co_await http::async_read_header(*m.tls, m.buffer, *m.parser, net::redirect_error(use_awaitable, ec));
    } else {
      co_await http::async_read_header(*m.plain, m.buffer, *m.parser, net::redirect_error(use_awaitable, ec));
    }
  }
  if (ec) {
    // A kept-alive connection the server closed meanwhile: nothing was
    // received, the request can go on a fresh connection. Over TLS a
    // server (or a load balancer's idle timeout) that closes the TCP
    // connection without a close_notify reads as a truncated stream.
    if (reused_ && ec != beast::error::timeout &&
        (ec == http::error::end_of_stream || ec == net::error::eof ||
         ec == net::error::connection_reset || ec == net::error::broken_pipe ||
         ec == ssl::error::stream_truncated)) {
      *stale = true;
    }
    co_return Fail(ec == http::error::end_of_stream || ec == net::error::eof ? "closed" : "connect", ec);
  }
  m.keep_alive = m.parser->get().keep_alive();
  co_return UpstreamError{};
}

void UpstreamConn::Abort() {
  impl_->complete = false;
  impl_->lowest().close();
}

int UpstreamConn::status() const { return impl_->parser->get().result_int(); }

std::string UpstreamConn::header(std::string_view name) const {
  auto it = impl_->parser->get().find(beast::string_view(name.data(), name.size()));
  if (it == impl_->parser->get().end()) return {};
  return std::string(it->value());
}

net::awaitable<UpstreamError> UpstreamConn::Read(std::string* out, bool* done) {
  Impl& m = *impl_;
  *done = m.parser->is_done();
  if (*done) {
    m.complete = true;
    co_return UpstreamError{};
  }
  m.parser->get().body().data = m.chunk;
  m.parser->get().body().size = sizeof m.chunk;
  m.lowest().expires_after(Ms(m.options.idle_timeout_ms));
  boost::system::error_code ec;
  if (m.tls) {
    co_await http::async_read_some(*m.tls, m.buffer, *m.parser, net::redirect_error(use_awaitable, ec));
  } else {
    co_await http::async_read_some(*m.plain, m.buffer, *m.parser, net::redirect_error(use_awaitable, ec));
  }
  if (ec == http::error::need_buffer) ec = {};
  out->append(m.chunk, sizeof m.chunk - m.parser->get().body().size);
  if (ec) co_return Fail(ec == http::error::partial_message ? "closed" : "protocol", ec);
  *done = m.parser->is_done();
  if (*done) m.complete = true;
  co_return UpstreamError{};
}

}  // namespace tollgate::gateway
