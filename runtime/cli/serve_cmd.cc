// `tollgate serve`: the HTTP gateway (runtime/gateway/server.h, docs/gateway.md).
#include <spdlog/async.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>

#include "runtime/cli/commands.h"
#include "runtime/cli/common.h"
#include "runtime/gateway/config.h"
#include "runtime/gateway/server.h"
#include "runtime/gateway/service.h"

namespace tollgate::cli {
namespace {

constexpr const char* kUsage =
    "usage: tollgate serve [--config FILE] [--listen HOST:PORT] [--threads N]\n"
    "\n"
    "Runs the OpenAI-compatible gateway: POST /v1/chat/completions, GET /v1/models,\n"
    "POST /v1/decide, GET /healthz, GET /metrics, /admin/policy. Without --config the\n"
    "embedded defaults serve policies/example.tg over policies/catalog.json with an\n"
    "SQLite ledger and an audit log under ./tollgate-data (docs/gateway.md).\n"
    "\n"
    "  --config FILE       the gateway configuration (JSON)\n"
    "  --listen HOST:PORT  overrides the configured address; port 0 picks a free port\n"
    "  --threads N         I/O threads (default: one per core)\n"
    "\n"
    "Logs are JSON lines on stderr; the first says where it listens. SIGHUP reloads\n"
    "the policy from disk; SIGTERM drains and exits 0.\n";

}  // namespace

int RunServe(int argc, char** argv) {
  Args args;
  args.Value("--config", "FILE").Value("--listen", "HOST:PORT").Value("--threads", "N");
  if (int rc = args.Parse(argc, argv, kUsage); rc >= 0) return rc;
  if (!args.positional().empty()) return UsageError("unexpected argument `" + args.positional()[0] + "`", kUsage);
  gateway::Config config = gateway::DefaultConfig();
  std::string error;
  if (args.Has("--config") && !gateway::LoadConfig(args.Get("--config"), &config, &error)) {
    std::fprintf(stderr, "error: %s\n", error.c_str());
    return kExitFailed;
  }
  if (args.Has("--listen")) {
    config.listen = args.Get("--listen");
    if (!gateway::ParseListen(config.listen, &config.host, &config.port, &error)) {
      return UsageError(error, kUsage);
    }
  }
  if (args.Has("--threads")) {
    const std::string& t = args.Get("--threads");
    if (t.empty() || t.size() > 3 || t.find_first_not_of("0123456789") != std::string::npos) {
      return UsageError("--threads must be a number from 0 to 256", kUsage);
    }
    config.threads = std::stoi(t);
  }
  // Broken client connections must not kill the process.
  std::signal(SIGPIPE, SIG_IGN);
  // JSON lines on stderr, written by spdlog's background thread so that no
  // I/O thread waits on the terminal or a pipe (a full queue blocks: no
  // access line is dropped).
  spdlog::init_thread_pool(16384, 1);
  auto log = std::make_shared<spdlog::async_logger>(
      "tollgate", std::make_shared<spdlog::sinks::stderr_sink_mt>(), spdlog::thread_pool(),
      spdlog::async_overflow_policy::block);
  spdlog::register_logger(log);
  log->set_pattern("%v");
  log->flush_on(spdlog::level::info);
  auto svc = gateway::Service::Create(config, &error);
  if (!svc) {
    std::fprintf(stderr, "error: %s\n", error.c_str());
    if (!error.empty() && error.back() != '\n') std::fputc('\n', stderr);
    return kExitFailed;
  }
  auto server = gateway::Server::Create(svc.get(), &error);
  if (!server) {
    std::fprintf(stderr, "error: %s\n", error.c_str());
    return kExitIo;
  }
  log->info("{{\"event\":\"listening\",\"address\":\"{}:{}\",\"policy_version\":\"{}\",\"config\":\"{}\"}}",
            config.host, server->port(), svc->live()->version,
            config.source.empty() ? "(embedded defaults)" : config.source);
  int rc = server->Run();
  spdlog::shutdown();  // writes every queued line
  return rc;
}

}  // namespace tollgate::cli
