// The gateway suite's shared set-up (gateway_helpers.h).
#include "tests/gateway/gateway_helpers.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <stdlib.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "engine/core/sha256.h"
#include "runtime/audit/reader.h"
#include "runtime/gateway/keys.h"

namespace tollgate::gateway::testkit {

namespace fs = std::filesystem;
namespace asio = boost::asio;
namespace http = boost::beast::http;

std::string MakeTempDir(std::string_view tag) {
  std::string t = (fs::temp_directory_path() / ("tg_" + std::string(tag) + "_XXXXXX")).string();
  const char* made = mkdtemp(t.data());
  return made ? std::string(made) : std::string();
}

void RemoveDir(const std::string& dir) {
  std::error_code ec;
  if (!dir.empty()) fs::remove_all(dir, ec);
}

void WriteFile(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

std::string CatalogJson(const std::vector<TestEndpoint>& endpoints) {
  std::string out = "{\"endpoints\": [";
  for (size_t i = 0; i < endpoints.size(); ++i) {
    const TestEndpoint& e = endpoints[i];
    if (i > 0) out += ", ";
    out += R"({"id": ")" + e.id + R"(", "model": ")" + e.model + R"(", "provider": ")" + e.provider + "\"";
    if (!e.tier.empty()) out += R"(, "tier": ")" + e.tier + "\"";
    out += R"(,
      "upstream": {"base_url": ")" + e.base_url + R"(", "auth": {"type": "none"}, "model": ")" +
           e.upstream_model + R"("},
      "pricing": {"input_per_mtok": ")" + e.price + R"(", "output_per_mtok": ")" + e.price +
           R"(", "per_request": "0"},
      "context_length": )" + std::to_string(e.context_length) +
           R"(, "max_output_tokens": 100, "jurisdiction": "US", "region": "r",
      "zdr": false, "trains_on_data": false, "data_collection": "deny", "retention_days": 1,
      "quantization": "unknown", "supported_parameters": [],
      "observed": {"latency_p50": 0.5, "throughput": )" +
           std::to_string(e.throughput) + R"(, "uptime": 0.99}})";
  }
  return out + "]}";
}

std::string OneKeyJson() {
  return R"({"keys": [{"id": "k", "sha256": ")" + Sha256Hex(kSecret) + R"(", "workspace": "w"}]})";
}

Config FilesConfig(const std::string& policy, const std::string& catalog, const std::string& keys) {
  Config cfg;
  cfg.policy = {policy};
  cfg.catalog = catalog;
  cfg.accounts = "";
  cfg.keys = keys;
  cfg.ledger = "";
  cfg.audit = "";
  cfg.access_log = false;
  return cfg;
}

Config DirConfig(const std::string& dir) {
  Config cfg = FilesConfig(dir + "/p.tg", dir + "/c.json", dir + "/k.json");
  cfg.ledger = "memory:";
  cfg.audit = dir + "/audit";
  cfg.audit_sync = false;
  return cfg;
}

std::unique_ptr<Exchange> StartExchange(Service& svc, const std::string& body) {
  auto x = std::make_unique<Exchange>();
  x->live = svc.live();
  x->keys = svc.keys();
  x->who = x->keys->Find(kSecret);
  x->body = body;
  BuildInput(*x->who, x->body, &x->input);
  return x;
}

bool LoopbackServer::Start(Config cfg, std::string* error) {
  cfg.listen = "127.0.0.1:0";
  cfg.host = "127.0.0.1";
  cfg.port = 0;
  cfg.threads = 1;
  cfg.drain_timeout_ms = drain_timeout_ms;
  cfg.drain_grace_ms = drain_grace_ms;
  svc_ = Service::Create(cfg, error);
  if (!svc_) return false;
  server_ = Server::Create(svc_.get(), error);
  if (!server_) return false;
  runner_ = std::thread([this] { server_->Run(); });
  return true;
}

void LoopbackServer::Drain() {
  if (server_) server_->Stop();
}

void LoopbackServer::Stop() {
  if (server_) server_->Stop();
  if (runner_.joinable()) runner_.join();
  server_.reset();
  svc_.reset();
}

uint16_t LoopbackServer::port() const { return server_->port(); }

struct ScriptedUpstream::Impl {
  std::string response;
  bool hold = false;
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor{io};
  uint16_t port = 0;
  std::atomic<bool> stop{false};
  std::atomic<int> requests{0};
  std::atomic<int> connections{0};
  std::atomic<bool> one_answer{false};
  std::thread acceptor_thread;
  std::mutex mu;  // guards sockets and threads
  std::vector<std::shared_ptr<asio::ip::tcp::socket>> sockets;
  std::vector<std::thread> threads;

  void Serve(std::shared_ptr<asio::ip::tcp::socket> s) {
    boost::beast::flat_buffer buf;
    boost::system::error_code ec;
    for (;;) {
      http::request<http::string_body> req;
      http::read(*s, buf, req, ec);
      if (ec) return;
      ++requests;
      asio::write(*s, asio::buffer(response), ec);
      if (!ec && one_answer.load()) {  // silent from now on, until the peer closes
        char sink[256];
        while (!ec) s->read_some(asio::buffer(sink), ec);
      }
      if (ec || !hold) break;
    }
    if (hold) {  // until the peer closes (or the destructor shuts the socket down)
      char sink[256];
      while (!ec) s->read_some(asio::buffer(sink), ec);
    }
    s->shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  }
};

ScriptedUpstream::ScriptedUpstream(std::string response, bool hold) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.response = std::move(response);
  m.hold = hold;
  asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
  m.acceptor.open(ep.protocol());
  m.acceptor.bind(ep);
  m.acceptor.listen();
  m.port = m.acceptor.local_endpoint().port();
  m.acceptor_thread = std::thread([&m] {
    for (;;) {
      auto s = std::make_shared<asio::ip::tcp::socket>(m.io);
      boost::system::error_code ec;
      m.acceptor.accept(*s, ec);
      if (m.stop.load() || ec) return;
      ++m.connections;
      std::lock_guard<std::mutex> lock(m.mu);
      m.sockets.push_back(s);
      m.threads.emplace_back([&m, s] { m.Serve(s); });
    }
  });
}

ScriptedUpstream::~ScriptedUpstream() {
  Impl& m = *impl_;
  m.stop = true;
  {  // wakes the blocking accept
    asio::io_context io;
    asio::ip::tcp::socket s(io);
    boost::system::error_code ec;
    s.connect({asio::ip::make_address("127.0.0.1"), m.port}, ec);
  }
  m.acceptor_thread.join();
  std::lock_guard<std::mutex> lock(m.mu);
  for (auto& s : m.sockets) {
    boost::system::error_code ec;
    s->shutdown(asio::ip::tcp::socket::shutdown_both, ec);  // wakes a held read
  }
  for (auto& t : m.threads) t.join();
}

std::string ScriptedUpstream::base_url() const {
  return "http://127.0.0.1:" + std::to_string(impl_->port) + "/v1";
}

int ScriptedUpstream::requests() const { return impl_->requests.load(); }
int ScriptedUpstream::connections() const { return impl_->connections.load(); }
void ScriptedUpstream::OneAnswerPerConnection() { impl_->one_answer = true; }

std::string SseHead() {
  return "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
}

std::string HttpChunk(const std::string& data) {
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  return size + data + "\r\n";
}

HttpAnswer HttpCall(uint16_t port, http::verb verb, const std::string& target, const std::string& body,
                    const std::vector<std::pair<std::string, std::string>>& headers) {
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  socket.connect({asio::ip::make_address("127.0.0.1"), port});
  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::content_type, "application/json");
  for (const auto& [name, value] : headers) req.insert(name, value);
  req.body() = body;
  req.prepare_payload();
  http::write(socket, req);
  boost::beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(socket, buf, res);
  HttpAnswer a{static_cast<int>(res.result_int()), res.body(), {}};
  for (const auto& f : res) a.headers[std::string(f.name_string())] = std::string(f.value());
  return a;
}

std::string DecisionRecord(const std::string& audit_dir, const std::string& id) {
  std::vector<uint64_t> seqs;
  std::string err;
  if (!audit::ListLogFiles(audit_dir, &seqs, &err)) return "";
  const std::string want = "{\"kind\":\"decision\",\"id\":\"" + id + "\"";
  for (uint64_t s : seqs) {
    std::ifstream in(audit::LogFilePath(audit_dir, s));
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind(want, 0) == 0) return line;
    }
  }
  return "";
}

}  // namespace tollgate::gateway::testkit
