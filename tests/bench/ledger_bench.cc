// Budget ledger figures (issue 8): reserve+settle pairs per second for the
// embedded SQLite ledger (1 and 2 threads, batched and strict) and for Redis
// (one call per round trip, and pipelined 64 at a time). The Redis runs
// start a redis-server on a free loopback port (skipped when not installed).
// Each request charges one budget and one rate limit.
#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <benchmark/benchmark.h>

#include <atomic>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <thread>

#include "runtime/ledger/open.h"
#include "runtime/ledger/redis_ledger.h"
#include "runtime/ledger/sqlite_ledger.h"

namespace tollgate::bench {
namespace {

ledger::ReserveRequest Request(int thread) {
  ledger::ReserveRequest r;
  r.budgets.push_back({"bench", "ws" + std::to_string(thread), {ledger::WindowKind::kDay}, INT64_MAX / 4, 1000});
  r.limits.push_back({"bench_rpm", "u" + std::to_string(thread), {ledger::WindowKind::kMinute}, INT64_MAX / 4, 1,
                      ledger::LimitUnit::kRequests});
  return r;
}

std::unique_ptr<ledger::Ledger> g_ledger;

void OpenSqlite(benchmark::State& state, bool strict) {
  if (state.thread_index() != 0) return;
  std::string path = std::filesystem::temp_directory_path() / ("tg_bench_ledger_" + std::to_string(getpid()));
  g_ledger.reset();
  std::filesystem::remove(path);
  std::filesystem::remove(path + "-wal");
  std::filesystem::remove(path + "-shm");
  ledger::Options o;
  o.strict = strict;
  std::string err;
  g_ledger = ledger::SqliteLedger::Open(path, o, &err);
  if (!g_ledger) state.SkipWithError(err.c_str());
}

// The gateway's way: Reserve (ReserveAsync in strict mode), then
// SettleAsync; a pair counts when its settlement is durable. Up to 512 pairs
// in flight per thread (requests waiting on upstreams).
void SqlitePairsAsync(benchmark::State& state, bool strict) {
  OpenSqlite(state, strict);
  ledger::ReserveRequest r = Request(state.thread_index());
  std::atomic<int64_t> in_flight{0};
  auto settle = [&in_flight](const ledger::Admission& a) {
    g_ledger->SettleAsync(a.reservation, {900, 0}, [&in_flight](const ledger::Status&) { in_flight.fetch_sub(1); });
  };
  for (auto _ : state) {
    if (!g_ledger) break;
    while (in_flight.load(std::memory_order_relaxed) >= 512) std::this_thread::yield();
    in_flight.fetch_add(1);
    if (strict) {
      g_ledger->ReserveAsync(r, settle);
    } else {
      settle(g_ledger->Reserve(r));
    }
  }
  while (in_flight.load() > 0) std::this_thread::yield();
  state.counters["pairs_per_s"] = benchmark::Counter(static_cast<double>(state.iterations()),
                                                     benchmark::Counter::kIsRate);
}

// The CLI's way: the blocking calls, one pair at a time per thread (each
// Settle waits for its commit; concurrent threads share commits).
void SqlitePairsBlocking(benchmark::State& state, bool strict) {
  OpenSqlite(state, strict);
  ledger::ReserveRequest r = Request(state.thread_index());
  for (auto _ : state) {
    if (!g_ledger) break;
    ledger::Admission a = g_ledger->Reserve(r);
    g_ledger->Settle(a.reservation, {900, 0});
  }
  state.counters["pairs_per_s"] = benchmark::Counter(static_cast<double>(state.iterations()),
                                                     benchmark::Counter::kIsRate);
}

void BM_LedgerSqliteBatched(benchmark::State& state) { SqlitePairsAsync(state, false); }
void BM_LedgerSqliteStrict(benchmark::State& state) { SqlitePairsAsync(state, true); }
void BM_LedgerBlockingSqliteBatched(benchmark::State& state) { SqlitePairsBlocking(state, false); }
void BM_LedgerBlockingSqliteStrict(benchmark::State& state) { SqlitePairsBlocking(state, true); }
BENCHMARK(BM_LedgerSqliteBatched)->Threads(1)->Threads(2)->UseRealTime()->MinTime(0.5);
BENCHMARK(BM_LedgerSqliteStrict)->Threads(1)->Threads(2)->UseRealTime()->MinTime(0.5);
BENCHMARK(BM_LedgerBlockingSqliteBatched)->Threads(1)->Threads(2)->UseRealTime()->MinTime(0.5);
BENCHMARK(BM_LedgerBlockingSqliteStrict)->Threads(1)->Threads(2)->UseRealTime()->MinTime(0.5);

// A redis-server child on a free loopback port, for the Redis figures.
struct RedisChild {
  pid_t pid = -1;
  int port = 0;
  RedisChild() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    ::close(fd);
    pid = fork();
    if (pid == 0) {
      std::string p = std::to_string(port);
      execlp("redis-server", "redis-server", "--port", p.c_str(), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--logfile", "/dev/null", static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 500; ++i) {  // until it answers
      timeval tv{0, 200000};
      redisContext* c = redisConnectWithTimeout("127.0.0.1", port, tv);
      bool ok = c != nullptr && !c->err;
      if (c) redisFree(c);
      if (ok) return;
      int st;
      if (waitpid(pid, &st, WNOHANG) == pid) break;  // not installed
      usleep(10000);
    }
    Stop();
  }
  void Stop() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      int st;
      waitpid(pid, &st, 0);
    }
    pid = -1;
  }
  ~RedisChild() { Stop(); }
};

RedisChild* Redis() {
  static RedisChild* r = new RedisChild();
  return r;
}

// The redis-server's CPU seconds so far (INFO cpu: used_cpu_sys + user), to
// report server CPU per pair -- a figure the other users of a shared
// machine disturb far less than wall-clock throughput.
double ServerCpuSeconds(int port) {
  timeval tv{1, 0};
  redisContext* c = redisConnectWithTimeout("127.0.0.1", port, tv);
  double total = 0;
  if (c != nullptr && !c->err) {
    auto* r = static_cast<redisReply*>(redisCommand(c, "INFO cpu"));
    if (r != nullptr && r->type == REDIS_REPLY_STRING) {
      std::string info(r->str, r->len);
      for (const char* field : {"used_cpu_sys:", "used_cpu_user:"}) {
        size_t at = info.find(field);
        if (at != std::string::npos) total += std::strtod(info.c_str() + at + std::strlen(field), nullptr);
      }
    }
    if (r) freeReplyObject(r);
  }
  if (c) redisFree(c);
  return total;
}

void BM_LedgerRedis(benchmark::State& state) {
  RedisChild* srv = Redis();
  if (srv->pid <= 0) {
    state.SkipWithError("redis-server is not installed");
    return;
  }
  std::string err;
  auto led = ledger::RedisLedger::Open("127.0.0.1", srv->port, 0, {}, &err);
  const int batch = static_cast<int>(state.range(0));
  std::vector<ledger::ReserveRequest> reqs(batch, Request(0));
  std::vector<std::pair<uint64_t, ledger::Usage>> settle(batch);
  int64_t pairs = 0;
  const double cpu0 = ServerCpuSeconds(srv->port);
  for (auto _ : state) {
    if (batch == 1) {
      ledger::Admission a = led->Reserve(reqs[0]);
      led->Settle(a.reservation, {900, 0});
    } else {
      std::vector<ledger::Admission> as = led->ReserveMany(reqs);
      for (int i = 0; i < batch; ++i) settle[i] = {as[i].reservation, {900, 0}};
      led->SettleMany(settle);
    }
    pairs += batch;
  }
  state.counters["pairs_per_s"] = benchmark::Counter(static_cast<double>(pairs), benchmark::Counter::kIsRate);
  state.counters["server_cpu_us_per_pair"] = (ServerCpuSeconds(srv->port) - cpu0) * 1e6 / std::max<int64_t>(1, pairs);
}
BENCHMARK(BM_LedgerRedis)->ArgName("pipeline")->Arg(1)->Arg(64)->UseRealTime()->MinTime(0.5);

// The gateway's way: many request threads share one RedisLedger, each with
// plain Reserve + Settle; concurrent calls are combined into one pipeline.
std::unique_ptr<ledger::RedisLedger> g_redis;
void BM_LedgerRedisShared(benchmark::State& state) {
  RedisChild* srv = Redis();
  if (srv->pid <= 0) {
    state.SkipWithError("redis-server is not installed");
    return;
  }
  if (state.thread_index() == 0) {
    std::string err;
    g_redis = ledger::RedisLedger::Open("127.0.0.1", srv->port, 0, {}, &err);
  }
  ledger::ReserveRequest r = Request(state.thread_index());
  for (auto _ : state) {
    ledger::Admission a = g_redis->Reserve(r);
    g_redis->Settle(a.reservation, {900, 0});
  }
  state.counters["pairs_per_s"] = benchmark::Counter(static_cast<double>(state.iterations()),
                                                     benchmark::Counter::kIsRate);
}
BENCHMARK(BM_LedgerRedisShared)->Threads(16)->UseRealTime()->MinTime(0.5);

// The async gateway's way: ReserveAsync, then SettleAsync from its callback;
// up to 1024 pairs in flight (requests waiting on upstreams). The ledger's
// I/O thread pipelines whatever is queued.
void BM_LedgerRedisAsync(benchmark::State& state) {
  RedisChild* srv = Redis();
  if (srv->pid <= 0) {
    state.SkipWithError("redis-server is not installed");
    return;
  }
  std::string err;
  auto led = ledger::RedisLedger::Open("127.0.0.1", srv->port, 0, {}, &err);
  ledger::ReserveRequest r = Request(1000);
  std::atomic<int64_t> in_flight{0}, failed{0};
  ledger::RedisLedger* raw = led.get();
  const double cpu0 = ServerCpuSeconds(srv->port);
  for (auto _ : state) {
    while (in_flight.load(std::memory_order_relaxed) >= 1024) std::this_thread::yield();
    in_flight.fetch_add(1);
    raw->ReserveAsync(r, [raw, &in_flight, &failed](const ledger::Admission& a) {
      if (!a.admitted()) failed.fetch_add(1);
      raw->SettleAsync(a.reservation, {900, 0}, [&in_flight](const ledger::Status&) { in_flight.fetch_sub(1); });
    });
  }
  while (in_flight.load() > 0) std::this_thread::yield();
  if (failed.load() > 0) state.SkipWithError("reservations failed");
  state.counters["pairs_per_s"] = benchmark::Counter(static_cast<double>(state.iterations()),
                                                     benchmark::Counter::kIsRate);
  state.counters["server_cpu_us_per_pair"] =
      (ServerCpuSeconds(srv->port) - cpu0) * 1e6 / std::max<double>(1, static_cast<double>(state.iterations()));
}
BENCHMARK(BM_LedgerRedisAsync)->UseRealTime()->MinTime(0.5);

}  // namespace

void StopLedgerBenchServers() {
  g_redis.reset();
  Redis()->Stop();
  g_ledger.reset();
}

}  // namespace tollgate::bench
