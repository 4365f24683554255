// A stub OpenAI-compatible upstream for the gateway's end-to-end tests and
// benchmark (Boost.Beast, one thread per connection, keep-alive).
//
//   tg_stub_upstream [PORT [CERT.pem KEY.pem]]
//                                  prints "PORT\n" once listening (0 = any); with a
//                                  certificate and key it serves HTTPS
//
// The behaviour is chosen by the first path segment, so one stub serves
// every endpoint of a test catalog (base_url http://127.0.0.1:PORT/MODE/v1):
//   /ok/v1/chat/completions        200, usage {prompt_tokens: 11, completion_tokens: 7};
//                                  stream: true -> 3 content chunks, the usage chunk
//                                  when stream_options.include_usage, then [DONE]
//   /fail500/..., /fail429/...     500 / 429 with an OpenAI error body
//   /slowN/...                     waits N ms before answering (timeouts)
//   /cut/...                       stream: 2 chunks, then the connection is dropped
//   /cutmid/...                    stream: 1 chunk and half of the next event, then the
//                                  connection is dropped (a reset part-way through a write)
//   /drip/...                      stream: 40 content chunks 50 ms apart (2 s), then the
//                                  usage chunk (when asked) and [DONE]; a reader that
//                                  goes away part-way is counted under /count/drip-gone
//   /pause/...                     stream: one chunk, then 2.5 s of silence (a provider
//                                  thinking), then the rest; a reader that leaves during
//                                  the silence is noticed at once: /count/pause-gone
//   /streamfail/...                stream: 200, then an error event as its first event (a
//                                  provider failing after its head), then the end of the body
//   /bench/...                     200 with a fixed small body (benchmarks)
//   /jsonforstream/...             200 with the whole JSON completion of /ok, even for
//                                  stream: true (a server that ignores `stream`)
//   /idleclose/...                 as /ok (not streamed), then a connection left idle for
//                                  300 ms is closed at the TCP level: over TLS without a
//                                  close_notify (a load balancer's idle timeout); counted
//                                  under /count/idleclose-closed
//   GET /last/MODE                 the last request body MODE received
//   GET /lasttarget/MODE           the last request target (path and query) MODE received
//   GET /count/MODE                how many requests MODE received
#include <utility>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <poll.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

std::mutex mu;
std::map<std::string, std::string> last_body;
std::map<std::string, std::string> last_target;
std::map<std::string, long> counts;

const char* kCompletion =
    "{\"id\":\"chatcmpl-stub\",\"object\":\"chat.completion\",\"created\":1764460800,"
    "\"model\":\"%s\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
    "\"content\":\"Hello from the stub.\"},\"finish_reason\":\"stop\"}],"
    "\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":7,\"total_tokens\":18}}";

std::string ModelOf(const std::string& body) {
  size_t p = body.find("\"model\":\"");
  if (p == std::string::npos) return "stub";
  p += 9;
  size_t e = body.find('"', p);
  return body.substr(p, e - p);
}

std::string Chunk(const std::string& model, const std::string& delta_json, bool usage = false) {
  std::string s = "data: {\"id\":\"chatcmpl-stub\",\"object\":\"chat.completion.chunk\",\"created\":1764460800,"
                  "\"model\":\"" + model + "\",\"choices\":" + delta_json;
  if (usage) s += ",\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":7,\"total_tokens\":18}";
  return s + "}\n\n";
}

// The head of an SSE answer (chunked; the request id a provider sends).
template <typename Stream>
http::response<http::empty_body> StartStream(Stream& sock, const http::request<http::string_body>& req,
                                             const std::string& mode, bool keep_alive,
                                             beast::error_code& ec) {
  http::response<http::empty_body> head{http::status::ok, req.version()};
  head.set(http::field::content_type, "text/event-stream");
  head.set("x-request-id", "req_stub_" + mode);
  head.chunked(true);
  head.keep_alive(keep_alive);
  http::response_serializer<http::empty_body> sr{head};
  http::write_header(sock, sr, ec);
  return head;
}

// The last chunk (its finish_reason and delta), the usage chunk when asked
// for, [DONE] and the end of the chunked body.
template <typename Stream>
void EndStream(Stream& sock, const std::string& model, const std::string& last_delta, bool usage,
               beast::error_code& ec) {
  std::string fin = Chunk(model, "[{\"index\":0,\"delta\":{" + last_delta + "},\"finish_reason\":\"stop\"}]");
  if (usage) fin += Chunk(model, "[]", true);
  fin += "data: [DONE]\n\n";
  net::write(sock, http::make_chunk(net::buffer(fin)), ec);
  net::write(sock, http::make_chunk_last(), ec);
}

template <typename Stream>
void Serve(Stream& sock) {
  beast::error_code ec;
  beast::flat_buffer buf;
  for (;;) {
    // Beast's default body limit (1 MB) would drop the connection on a
    // larger request, such as an image part the gateway (4 MiB by default)
    // lets through: the upstream takes what the gateway sends.
    http::request_parser<http::string_body> parser;
    parser.body_limit(64u << 20);
    http::read(sock, buf, parser, ec);
    if (ec) break;
    http::request<http::string_body> req = parser.release();
    std::string target(req.target());
    std::string mode = target.size() > 1 ? target.substr(1, target.find('/', 1) - 1) : "";
    http::response<http::string_body> res{http::status::ok, req.version()};
    res.set(http::field::content_type, "application/json");
    res.set("x-request-id", "req_stub_" + mode);  // a provider's request id
    res.keep_alive(req.keep_alive());
    if (req.method() == http::verb::get && (mode == "last" || mode == "count" || mode == "lasttarget")) {
      std::string which = target.substr(mode.size() + 2);
      std::lock_guard<std::mutex> lock(mu);
      res.body() = mode == "last" ? last_body[which] : mode == "lasttarget" ? last_target[which] : std::to_string(counts[which]);
      res.prepare_payload();
      http::write(sock, res, ec);
      if (ec) break;
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      last_body[mode] = req.body();
      last_target[mode] = target;
      ++counts[mode];
    }
    const std::string model = ModelOf(req.body());
    const bool stream = req.body().find("\"stream\":true") != std::string::npos;
    const bool usage = req.body().find("\"include_usage\":true") != std::string::npos;
    if (mode.rfind("slow", 0) == 0) {
      // Server-side behaviour under test (a slow provider), not a test wait.
      std::this_thread::sleep_for(std::chrono::milliseconds(std::atol(mode.c_str() + 4)));
    }
    if (mode == "drip" && stream) {
      // A slow provider (server-side behaviour under test, not a test wait).
      const auto head = StartStream(sock, req, mode, req.keep_alive(), ec);
      for (int i = 0; i < 40 && !ec; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        std::string c = Chunk(model, std::string("[{\"index\":0,\"delta\":{") + (i == 0 ? "\"role\":\"assistant\"," : "") +
                                         "\"content\":\"tok \"},\"finish_reason\":null}]");
        net::write(sock, http::make_chunk(net::buffer(c)), ec);
      }
      if (ec) {
        std::lock_guard<std::mutex> lock(mu);
        ++counts["drip-gone"];
        break;
      }
      EndStream(sock, model, "", usage, ec);
      if (ec || !head.keep_alive()) break;
      continue;
    }
    if (mode == "pause" && stream) {
      const auto head = StartStream(sock, req, mode, req.keep_alive(), ec);
      net::write(sock, http::make_chunk(net::buffer(Chunk(model, "[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hello\"},\"finish_reason\":null}]"))), ec);
      // The provider thinks for 2.5 s; a reader that closes meanwhile ends it.
      pollfd p{beast::get_lowest_layer(sock).native_handle(), POLLIN, 0};
      if (::poll(&p, 1, 2500) > 0) {
        std::lock_guard<std::mutex> lock(mu);
        ++counts["pause-gone"];
        break;
      }
      EndStream(sock, model, "\"content\":\" again.\"", usage, ec);
      if (ec || !head.keep_alive()) break;
      continue;
    }
    if (mode == "pause" && !stream) {
      // The provider works 2.5 s on a non-streamed answer; a client that
      // closes meanwhile ends it (then the normal answer).
      pollfd p{beast::get_lowest_layer(sock).native_handle(), POLLIN, 0};
      if (::poll(&p, 1, 2500) > 0) {
        std::lock_guard<std::mutex> lock(mu);
        ++counts["pause-nostream-gone"];
        break;
      }
    }
    if (mode == "streamfail" && stream) {
      const auto head = StartStream(sock, req, mode, req.keep_alive(), ec);
      const std::string ev = "data: {\"error\":{\"message\":\"The server had an error while processing your request.\","
                             "\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n";
      net::write(sock, http::make_chunk(net::buffer(ev)), ec);
      net::write(sock, http::make_chunk_last(), ec);
      if (ec || !head.keep_alive()) break;
      continue;
    }
    if (mode == "cutmid" && stream) {
      StartStream(sock, req, mode, false, ec);
      const std::string whole = Chunk(model, "[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hello\"},\"finish_reason\":null}]");
      const std::string next = Chunk(model, "[{\"index\":0,\"delta\":{\"content\":\" from the stub.\"},\"finish_reason\":null}]");
      const std::string bytes = whole + next.substr(0, next.size() / 2);
      net::write(sock, http::make_chunk(net::buffer(bytes)), ec);
      beast::get_lowest_layer(sock).shutdown(tcp::socket::shutdown_both, ec);
      beast::get_lowest_layer(sock).close(ec);
      return;
    }
    if (mode == "fail500" || mode == "fail429") {
      res.result(mode == "fail500" ? 500 : 429);
      res.body() = "{\"error\":{\"message\":\"stub failure\",\"type\":\"server_error\",\"code\":null}}";
    } else if (mode == "fail401") {  // the gateway's upstream key is wrong (OpenAI's answer)
      res.result(401);
      res.body() = "{\"error\":{\"message\":\"Incorrect API key provided: sk-stub***key1.\",\"type\":"
                   "\"invalid_request_error\",\"param\":null,\"code\":\"invalid_api_key\"}}";
    } else if (stream && (mode == "ok" || mode == "cut" || mode.rfind("slow", 0) == 0)) {
      const auto head = StartStream(sock, req, mode, req.keep_alive() && mode != "cut", ec);
      const char* words[] = {"Hello", " from", " the stub."};
      for (int i = 0; i < 3 && !ec; ++i) {
        if (mode == "cut" && i == 2) {
          beast::get_lowest_layer(sock).shutdown(tcp::socket::shutdown_both, ec);
          beast::get_lowest_layer(sock).close(ec);
          return;
        }
        // The first delta names the role, as OpenAI's do (the SDKs' stream helpers need it).
        std::string c = Chunk(model, std::string("[{\"index\":0,\"delta\":{") + (i == 0 ? "\"role\":\"assistant\"," : "") +
                                         "\"content\":\"" + words[i] +
                                         "\"},\"finish_reason\":null}]");
        net::write(sock, http::make_chunk(net::buffer(c)), ec);
      }
      EndStream(sock, model, "", usage, ec);
      if (ec || !head.keep_alive()) break;
      continue;
    } else if (mode == "nousage") {  // a server that reports no usage (some local ones)
      std::string body = kCompletion;
      body = body.substr(0, body.find(",\"usage\"")) + "}";
      char out[1024];
      std::snprintf(out, sizeof out, body.c_str(), model.c_str());
      res.body() = out;
    } else if (mode == "bench") {
      res.body() = "{\"id\":\"b\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
                   "\"assistant\",\"content\":\"ok\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":"
                   "5,\"completion_tokens\":1,\"total_tokens\":6}}";
    } else {
      char body[1024];
      std::snprintf(body, sizeof body, kCompletion, model.c_str());
      res.body() = body;
    }
    res.prepare_payload();
    http::write(sock, res, ec);
    if (ec || !res.keep_alive()) break;
    if (mode == "idleclose" && buf.size() == 0) {
      pollfd p{beast::get_lowest_layer(sock).native_handle(), POLLIN, 0};
      if (::poll(&p, 1, 300) == 0) {
        beast::get_lowest_layer(sock).close(ec);  // no TLS shutdown: the peer reads a truncated stream
        std::lock_guard<std::mutex> lock(mu);
        ++counts["idleclose-closed"];
        return;
      }
    }
  }
  beast::get_lowest_layer(sock).shutdown(tcp::socket::shutdown_both, ec);
}

net::ssl::context* tls = nullptr;

void Session(tcp::socket sock) {
  if (!tls) {
    Serve(sock);
    return;
  }
  net::ssl::stream<tcp::socket> s(std::move(sock), *tls);
  beast::error_code ec;
  s.handshake(net::ssl::stream_base::server, ec);
  if (!ec) Serve(s);
}

}  // namespace

int main(int argc, char** argv) {
  net::io_context io;
  net::ssl::context ctx(net::ssl::context::tls_server);
  if (argc > 3) {
    ctx.use_certificate_chain_file(argv[2]);
    ctx.use_private_key_file(argv[3], net::ssl::context::pem);
    tls = &ctx;
  }
  tcp::acceptor acc(io, tcp::endpoint(net::ip::make_address("127.0.0.1"),
                                      static_cast<unsigned short>(argc > 1 ? std::atoi(argv[1]) : 0)));
  std::printf("%u\n", acc.local_endpoint().port());
  std::fflush(stdout);
  for (;;) {
    tcp::socket s(io);
    beast::error_code ec;
    acc.accept(s, ec);
    if (ec) continue;
    s.set_option(tcp::no_delay(true), ec);
    std::thread(Session, std::move(s)).detach();
  }
}
