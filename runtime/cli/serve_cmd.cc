// `tollgate serve`: the HTTP gateway (runtime/gateway/server.h, docs/gateway.md).
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <thread>

#include "runtime/cli/commands.h"
#include "runtime/cli/common.h"
#include "runtime/gateway/config.h"
#include "runtime/gateway/server.h"
#include "runtime/gateway/service.h"

namespace tollgate::cli {
namespace {

// JSON lines to stderr through a 64 KiB stdio buffer of its own: an access
// line costs a copy, and one write(2) carries the lines of up to 50 ms
// (flushed every 50 ms by a thread of its own, at once for warnings and
// errors, and at exit). An
// async logger would instead wake its thread for every line -- two context
// switches per request, the largest single cost of a request on a small
// machine. A stderr that stops draining blocks the writer once both
// buffers are full; no line is dropped.
class BufferedStderrSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  BufferedStderrSink() {
    int fd = ::dup(2);
    out_ = fd >= 0 ? ::fdopen(fd, "w") : nullptr;
    if (out_ == nullptr) out_ = stderr;
    else std::setvbuf(out_, nullptr, _IOFBF, 64 << 10);
  }
  ~BufferedStderrSink() override {
    std::fflush(out_);
    if (out_ != stderr) std::fclose(out_);
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t line;
    formatter_->format(msg, line);
    std::fwrite(line.data(), 1, line.size(), out_);
  }
  void flush_() override { std::fflush(out_); }

 private:
  FILE* out_ = stderr;
};

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

// Whether some file the configuration names cannot be read (missing, no
// permission): a refused start is then an I/O error, exit 3 (docs/cli.md),
// not the files' content.
bool SomeFileUnreadable(const gateway::Config& c) {
  auto unreadable = [](const std::string& path) {
    if (path.empty()) return false;
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) return access(path.c_str(), R_OK | X_OK) != 0;
    return access(path.c_str(), R_OK) != 0;
  };
  for (const std::string& p : c.policy)
    if (unreadable(p)) return true;
  return unreadable(c.schema) || unreadable(c.catalog) || unreadable(c.accounts) || unreadable(c.keys);
}

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
    return access(args.Get("--config").c_str(), R_OK) != 0 ? kExitIo : kExitFailed;
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
  // A file size limit (RLIMIT_FSIZE) must fail the write, not kill the
  // process: the decision log then fails closed (503 audit_unavailable).
  std::signal(SIGXFSZ, SIG_IGN);
  auto log = std::make_shared<spdlog::logger>("tollgate", std::make_shared<BufferedStderrSink>());
  spdlog::register_logger(log);
  log->set_pattern("%v");
  log->flush_on(spdlog::level::warn);
  auto svc = gateway::Service::Create(config, &error);
  if (!svc) {
    std::fprintf(stderr, "error: %s\n", error.c_str());
    if (!error.empty() && error.back() != '\n') std::fputc('\n', stderr);
    return SomeFileUnreadable(config) ? kExitIo : kExitFailed;
  }
  auto server = gateway::Server::Create(svc.get(), &error);
  if (!server) {
    std::fprintf(stderr, "error: %s\n", error.c_str());
    return kExitIo;
  }
  log->info("{{\"event\":\"listening\",\"address\":\"{}:{}\",\"policy_version\":\"{}\",\"config\":\"{}\"}}",
            config.host, server->port(), svc->live()->version,
            config.source.empty() ? "(embedded defaults)" : config.source);
  log->flush();
  // Log lines reach stderr within 50 ms of being written (a thread that
  // flushes the sink's buffer; the I/O threads only copy into it).
  std::mutex flush_mu;
  std::condition_variable flush_cv;
  bool stop_flushing = false;
  std::thread flusher([&] {
    std::unique_lock<std::mutex> lock(flush_mu);
    while (!flush_cv.wait_for(lock, std::chrono::milliseconds(50), [&] { return stop_flushing; })) log->flush();
  });
  int rc = server->Run();
  {
    std::lock_guard<std::mutex> lock(flush_mu);
    stop_flushing = true;
  }
  flush_cv.notify_one();
  flusher.join();
  spdlog::shutdown();  // writes every buffered line
  return rc;
}

}  // namespace tollgate::cli
