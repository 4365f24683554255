// The gateway's own processing per chat request, without the network: what
// `tollgate_processing_seconds` measures in `tollgate serve` (issue 11's
// "<= 10 us at p50"): build the decision input from the key and body, decode,
// plan the budgets, evaluate the example policy (19 rules: data lookups,
// DLP detectors and redaction, the injection score, residency, cost
// ceilings), route over the example catalog, reserve, rewrite the body for
// the upstream, settle, and (Audited) append the audit record and write it
// from the calling thread (AuditLog::Drain, as the server does). The body check (and the
// worst-case prompt measured in it) is included, as in the server.
#include <benchmark/benchmark.h>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "runtime/gateway/service.h"

namespace tollgate::bench {
namespace {
namespace fs = std::filesystem;

// The example policy without its rate limits (the benchmark would otherwise
// measure 429s after the first minute's 60 requests).
std::string WriteBenchPolicy(const std::string& dir) {
  std::ifstream in("policies/example.tg");
  std::ostringstream out;
  std::string line;
  bool skip = false;
  while (std::getline(in, line)) {
    if (line.rfind("limit ", 0) == 0) skip = true;
    if (!skip) out << line << "\n";
    if (skip && line == "}") skip = false;
  }
  fs::copy("policies/data", dir + "/data", fs::copy_options::recursive);
  std::ofstream(dir + "/bench.tg") << out.str();
  return dir + "/bench.tg";
}

// The request body of tests/gateway/bench.sh.
constexpr const char kBody[] =
    R"({"model":"openai/gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant."},)"
    R"({"role":"user","content":"Write a haiku about toll booths and the people who wait at them."}],)"
    R"("max_tokens":200,"temperature":0.3})";

struct GatewayWorld {
  std::unique_ptr<gateway::Service> svc;
  std::string body = kBody;
  std::string error;

  explicit GatewayWorld(bool audit) {
    char tmpl[] = "/tmp/tg_gateway_bench_XXXXXX";
    std::string dir = mkdtemp(tmpl);
    // The audited run writes ~500 MB of records: removed at exit.
    static std::vector<std::string> made;
    if (made.empty()) {
      std::atexit([] {
        std::error_code ec;
        if (!std::getenv("TG_BENCH_KEEP")) for (const std::string& d : made) fs::remove_all(d, ec);
      });
    }
    made.push_back(dir);
    gateway::Config c = gateway::DefaultConfig();
    c.policy = {WriteBenchPolicy(dir)};
    c.ledger = "memory:";
    c.audit = audit ? dir + "/audit" : "";
    c.audit_sync = false;
    c.access_log = false;
    svc = gateway::Service::Create(c, &error);
  }
};

void Run(benchmark::State& state, bool audit) {
  static GatewayWorld* worlds[2] = {nullptr, nullptr};
  if (!worlds[audit]) worlds[audit] = new GatewayWorld(audit);
  GatewayWorld& w = *worlds[audit];
  if (!w.svc) {
    state.SkipWithError(w.error.c_str());
    return;
  }
  auto keys = w.svc->keys();
  const gateway::Identity* who = keys->Find("tg-demo-batch");
  gateway::Exchange x;
  std::string upstream_body, err;
  int64_t denied = 0;
  for (auto _ : state) {
    x.Reset();
    x.live = w.svc->live();
    x.keys = keys;
    x.who = who;
    x.body = w.body;
    // As `tollgate serve` does: the body check, which also measures the
    // worst-case prompt the reservation needs (no second pass).
    if (!gateway::CheckRequestBody(&x.body, &x.include_usage, &x.input_error, &x.prompt)) {
      state.SkipWithError("the benchmark body does not check");
      return;
    }
    gateway::BuildInput(*who, x.body, &x.input);
    w.svc->Decide(&x);
    if (!x.allowed()) {
      ++denied;
      continue;
    }
    w.svc->UpstreamBody(x, 0, &upstream_body, &err);
    gateway::Outcome o;
    o.http_status = 200;
    o.started = true;
    o.prompt_tokens = 30;
    o.completion_tokens = 20;
    const uint64_t seq = w.svc->Finish(&x, o);
    // As `tollgate serve` does with the default durability (audit_sync
    // false): the I/O thread writes the record itself right after appending
    // it (compose, hash, one write(2)), before the answer. Without this the
    // records would pile up for the writer thread's periodic wake and the
    // loop would not pay for them.
    if (seq != 0 && w.svc->audit()) w.svc->audit()->Drain();
    benchmark::DoNotOptimize(seq);
  }
  state.counters["denied"] = static_cast<double>(denied);
}

// What `tollgate_processing_seconds` leaves out (docs/gateway.md): Beast
// parsing the benchmark's request as wrk sends it, and serializing an answer
// of the stub's size with the headers the server sets.
void BM_GatewayHttpParseAndWrite(benchmark::State& state) {
  namespace http = boost::beast::http;
  const std::string body = kBody;
  const std::string request = "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
                              "Authorization: Bearer tg-demo-batch\r\nContent-Type: application/json\r\n"
                              "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  const std::string answer_body(620, 'x');
  std::string wire;
  for (auto _ : state) {
    http::request_parser<http::string_body> parser;
    parser.eager(true);
    boost::beast::error_code ec;
    parser.put(boost::asio::buffer(request), ec);
    if (ec || !parser.is_done()) {
      state.SkipWithError("the request does not parse");
      return;
    }
    http::request<http::string_body> req = parser.release();
    http::response<http::string_body> res{http::status::ok, 11};
    res.set(http::field::content_type, "application/json");
    res.set(http::field::server, "tollgate");
    res.set("x-tollgate-policy-version", "sha256:cb1e25a7edbebcc3180e2f7dd5abbb510b85c4dac264f93cd199e37858591b8a");
    res.set("x-tollgate-decision-id", "01M8R3NRCPBTCDVS0AAKRC8XW6");
    res.set("x-request-id", "req-123");
    res.body() = answer_body;
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    http::response_serializer<http::string_body> sr{res};
    wire.clear();
    do {
      sr.next(ec, [&](boost::beast::error_code&, const auto& buffers) {
        for (auto b : boost::beast::buffers_range_ref(buffers))
          wire.append(static_cast<const char*>(b.data()), b.size());
        sr.consume(boost::asio::buffer_size(buffers));
      });
    } while (!ec && !sr.is_done());
    benchmark::DoNotOptimize(wire.data());
  }
}
BENCHMARK(BM_GatewayHttpParseAndWrite);

void BM_GatewayProcessing(benchmark::State& state) { Run(state, false); }
void BM_GatewayProcessingAudited(benchmark::State& state) { Run(state, true); }
BENCHMARK(BM_GatewayProcessing);
BENCHMARK(BM_GatewayProcessingAudited)->Iterations(200000);

}  // namespace
}  // namespace tollgate::bench
