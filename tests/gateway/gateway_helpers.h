// The set-up the gateway suite's in-process tests share: a scratch
// directory, a small catalog, the one-key keys file, the config of a
// Service over them, a Service and Server on a loopback port, one HTTP
// exchange with that server, and the decision records of its audit log.
//
//   std::string dir = MakeTempDir("variants");
//   WriteFile(dir + "/p.tg", "policy \"t\"\n");
//   WriteFile(dir + "/c.json", CatalogJson({TestEndpoint("m/x@a", "a")}));
//   WriteFile(dir + "/k.json", OneKeyJson());
//   std::string err;
//   auto svc = Service::Create(DirConfig(dir), &err);
//   auto x = StartExchange(*svc, R"({"model": "m/x", "messages": [...]})");
//   svc->Decide(x.get());
//
// Thread safety: LoopbackServer is driven by one test thread; the rest are
// pure functions or touch only their own files.
#pragma once

#include <boost/beast/http/verb.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "runtime/gateway/config.h"
#include "runtime/gateway/server.h"
#include "runtime/gateway/service.h"

namespace tollgate::gateway::testkit {

// A new directory `<temp>/tg_<tag>_XXXXXX`; the caller removes it
// (RemoveDir). Empty when it cannot be made.
std::string MakeTempDir(std::string_view tag);
// Removes `dir` and everything in it; "" and a missing directory are fine.
void RemoveDir(const std::string& dir);
void WriteFile(const std::string& path, const std::string& text);

// One catalog endpoint. Fixed: no auth, max output 100 tokens, US, region `r`, no zdr, no
// training, data collection deny, 1 retention day, quantization unknown, no
// parameters, latency 0.5 s, uptime 0.99.
// base_url http://127.0.0.1:9/v1 (refuses connections) unless set.
// Set what differs: TestEndpoint("m/x@a", "a").Upstream("x-up").Price("2").
struct TestEndpoint {
  TestEndpoint(std::string id_, std::string provider_)
      : id(std::move(id_)), provider(std::move(provider_)) {}
  TestEndpoint& Model(std::string v) { model = std::move(v); return *this; }
  TestEndpoint& Upstream(std::string v) { upstream_model = std::move(v); return *this; }
  TestEndpoint& Price(std::string v) { price = std::move(v); return *this; }
  TestEndpoint& ContextLength(int64_t v) { context_length = v; return *this; }
  TestEndpoint& Throughput(int v) { throughput = v; return *this; }
  TestEndpoint& Tier(std::string v) { tier = std::move(v); return *this; }
  TestEndpoint& BaseUrl(std::string v) { base_url = std::move(v); return *this; }

  std::string id;
  std::string provider;
  std::string model = "m/x";
  std::string upstream_model = "up";  // `upstream.model`
  std::string price = "1";            // usd per million tokens, input and output
  int64_t context_length = 100000;
  int throughput = 50;                // tokens per second
  std::string tier;                   // "" = not written (standard)
  std::string base_url = "http://127.0.0.1:9/v1";  // `upstream.base_url`
};
std::string CatalogJson(const std::vector<TestEndpoint>& endpoints);

// The keys file with one key: id `k`, secret kSecret, workspace `w`.
inline constexpr const char* kSecret = "sk";
std::string OneKeyJson();

// The config of a service over `dir`'s p.tg, c.json and k.json: no
// accounts, the memory ledger, the audit log in dir/audit (written by the
// answering thread: audit_sync off), no access log.
Config DirConfig(const std::string& dir);
// The config of a service over these files: no accounts, no ledger, no
// audit log, no access log.
Config FilesConfig(const std::string& policy, const std::string& catalog, const std::string& keys);

// An exchange for `body` on the live version, from the key of kSecret
// (the caller made the service with OneKeyJson's keys file).
std::unique_ptr<Exchange> StartExchange(Service& svc, const std::string& body);

// `cfg`'s Service and a Server for it on 127.0.0.1, port 0, one I/O thread,
// a 2 s drain (drain_timeout_ms; no grace period unless drain_grace_ms is set), run on a thread of its own until Stop (or destruction).
class LoopbackServer {
 public:
  LoopbackServer() = default;
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;
  ~LoopbackServer() { Stop(); }

  // False with *error when the service or the server cannot be made.
  bool Start(Config cfg, std::string* error);
  // Starts the server's drain (Server::Stop) and returns at once.
  void Drain();
  // Stops and joins the server, then destroys it and the service. Idempotent.
  // After Drain, ends the drain's grace period.
  void Stop();
  // Config::drain_grace_ms for the next Start (the config's own is ignored:
  // a test would otherwise wait 5 s to stop).
  int64_t drain_grace_ms = 0;
  // Config::drain_timeout_ms for the next Start (likewise).
  int64_t drain_timeout_ms = 2'000;

  Service& svc() { return *svc_; }
  uint16_t port() const;

 private:
  std::unique_ptr<Service> svc_;
  std::unique_ptr<Server> server_;
  std::thread runner_;
};

// An upstream on 127.0.0.1 (port 0) that answers every request with the
// same raw HTTP bytes, written as given (a head and a body, chunked or not,
// complete or cut): a provider's exact behaviour, byte for byte. After the
// bytes the connection is closed, or with `hold` kept open (nothing more
// sent) until the peer closes it or the upstream is destroyed.
//
//   ScriptedUpstream up(SseHead() + SseChunk("data: [DONE]\n\n") + kLastChunk, false);
//   TestEndpoint("m/x@a", "a").BaseUrl(up.base_url());
class ScriptedUpstream {
 public:
  ScriptedUpstream(std::string response, bool hold);
  ScriptedUpstream(const ScriptedUpstream&) = delete;
  ScriptedUpstream& operator=(const ScriptedUpstream&) = delete;
  ~ScriptedUpstream();

  std::string base_url() const;  // http://127.0.0.1:PORT/v1
  int requests() const;          // requests read so far
  int connections() const;       // connections accepted so far
  // From now on each connection answers its first request only; a later
  // request on it gets nothing (a connection a NAT dropped silently).
  void OneAnswerPerConnection();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};
// The head of a 200 chunked `text/event-stream` answer.
std::string SseHead();
// One HTTP chunk carrying `data`.
std::string HttpChunk(const std::string& data);
// The chunk that ends a chunked body.
inline constexpr const char* kLastChunk = "0\r\n\r\n";

struct HttpAnswer {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // names as the server wrote them
};

// One HTTP/1.1 request to 127.0.0.1:`port` (content type JSON) and its answer.
HttpAnswer HttpCall(uint16_t port, boost::beast::http::verb verb, const std::string& target,
                    const std::string& body,
                    const std::vector<std::pair<std::string, std::string>>& headers = {});

// The JSON line of the decision record `id` in the audit log at
// `audit_dir`; "" when there is none.
std::string DecisionRecord(const std::string& audit_dir, const std::string& id);

}  // namespace tollgate::gateway::testkit
