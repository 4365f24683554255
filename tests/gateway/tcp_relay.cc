// The gateway benchmark's floor: a relay that does nothing but copy bytes
// between each client connection and its own connection to the upstream
// (Boost.Asio, one io_context per thread like `tollgate serve`, no HTTP
// parsing, no policy, no ledger, no audit). What it adds over calling the
// upstream directly is what any proxy process adds on this machine: the
// extra hops and wake-ups. tests/gateway/bench.sh runs it in the same run as
// the gateway.
//
//   tg_tcp_relay UPSTREAM_PORT [THREADS]   -> prints its own port, then relays
#include <utility>

#include <boost/asio.hpp>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

// One direction: read from `from`, write all of it to `to`, until either
// side closes; then both are closed.
struct Pipe : std::enable_shared_from_this<Pipe> {
  Pipe(std::shared_ptr<tcp::socket> from, std::shared_ptr<tcp::socket> to)
      : from(std::move(from)), to(std::move(to)) {}
  void Start() { Read(); }
  void Read() {
    from->async_read_some(net::buffer(buf), [self = shared_from_this()](auto ec, size_t n) {
      if (ec) return self->Close();
      net::async_write(*self->to, net::buffer(self->buf, n), [self](auto wec, size_t) {
        if (wec) return self->Close();
        self->Read();
      });
    });
  }
  void Close() {
    boost::system::error_code ignored;
    from->close(ignored);
    to->close(ignored);
  }
  std::shared_ptr<tcp::socket> from, to;
  std::array<char, 16384> buf;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: tg_tcp_relay UPSTREAM_PORT [THREADS]\n");
    return 2;
  }
  const auto upstream_port = static_cast<unsigned short>(std::atoi(argv[1]));
  const int threads = argc > 2 ? std::max(1, std::atoi(argv[2]))
                               : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::vector<std::unique_ptr<net::io_context>> ctx;
  for (int i = 0; i < threads; ++i) ctx.push_back(std::make_unique<net::io_context>(1));
  tcp::acceptor acceptor(*ctx[0], tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  std::printf("%u\n", static_cast<unsigned>(acceptor.local_endpoint().port()));
  std::fflush(stdout);
  const tcp::endpoint upstream(net::ip::make_address("127.0.0.1"), upstream_port);
  size_t next = 0;
  std::function<void()> accept = [&] {
    net::io_context& io = *ctx[next++ % ctx.size()];
    acceptor.async_accept(io, [&](boost::system::error_code ec, tcp::socket s) {
      if (!ec) {
        auto client = std::make_shared<tcp::socket>(std::move(s));
        auto up = std::make_shared<tcp::socket>(client->get_executor());
        client->set_option(tcp::no_delay(true));
        up->async_connect(upstream, [client, up](boost::system::error_code cec) {
          if (cec) return;
          up->set_option(tcp::no_delay(true));
          std::make_shared<Pipe>(client, up)->Start();
          std::make_shared<Pipe>(up, client)->Start();
        });
      }
      accept();
    });
  };
  accept();
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) {
    pool.emplace_back([&, i] {
      auto guard = net::make_work_guard(*ctx[i]);
      ctx[i]->run();
    });
  }
  ctx[0]->run();
  for (auto& t : pool) t.join();
}
