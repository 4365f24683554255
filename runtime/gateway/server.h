// The HTTP gateway: an OpenAI-compatible server on Boost.Asio/Beast that puts
// the policy on every request (docs/gateway.md is the operator's guide and the
// API reference).
//
//   auto svc = gateway::Service::Create(config, &err);     // policy, ledger, audit
//   auto server = gateway::Server::Create(svc.get(), &err); // binds config.listen
//   std::printf("listening on %u\n", server->port());
//   return server->Run();                                   // until SIGTERM / SIGINT
//
// ## Endpoints
//   POST /v1/chat/completions   authenticate, decide, route, reserve, call the
//                               upstream (fallbacks), settle, record, answer
//                               (stream: true relayed as server-sent events)
//   GET  /v1/models[/{id}]      models this caller may use (HEAD too)
//   POST /v1/decide             decision (and route) only; no upstream call
//   GET  /healthz, GET /metrics
//   POST /admin/policy[?shadow=1], POST /admin/policy/promote,
//   DELETE /admin/policy/shadow, POST /admin/reload  (bearer admin token)
//
// ## Threads
// One single-threaded io_context per thread (Config::threads, default one
// per core); the acceptor hands connections out round robin. Each thread has
// its own upstream connection pool. Nothing on an I/O thread blocks on disk
// or on another server: policy compiles run on a small blocking pool, and so
// do ledger calls when the ledger is Redis; the embedded ledger answers from
// memory; audit durability is awaited through AuditLog's durable callback.
//
// ## Signals
// SIGHUP reloads the policy, catalog, accounts and keys from disk (a version
// with errors is refused and logged; the live one stays). SIGTERM drains:
// for Config::drain_grace_ms new connections are still accepted, /healthz
// answers 503 `draining` (the load balancer's cue) and new chat and decide
// requests 503 `draining`; then the listener closes, requests in flight
// finish (at most drain_timeout_ms more), the audit log and the ledger are
// flushed, and Run returns 0. SIGINT, or a second SIGTERM, skips what is
// left of the grace period.
//
// Run returns once every thread it or the drain started is joined; a
// Server destroyed after Stop without Run ends the grace period and joins
// the drain's thread first.
//
// Thread safety: Create and Run from one thread; Stop from any.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "runtime/gateway/service.h"

namespace tollgate::gateway {

class Server {
 public:
  static std::unique_ptr<Server> Create(Service* service, std::string* error);
  ~Server();
  uint16_t port() const;
  // Serves until Stop, SIGTERM or SIGINT; returns the process exit code.
  int Run();
  // Starts the drain (as SIGTERM does); called again, ends its grace period.
  void Stop();

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tollgate::gateway
