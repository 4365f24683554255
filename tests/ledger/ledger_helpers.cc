#include "tests/ledger/ledger_helpers.h"

#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>

#include <gtest/gtest.h>

namespace tollgate::ledgertest {
namespace {

std::string FindRedisServer() {
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "/usr/bin:/bin";
  p += ":/usr/sbin:/usr/local/bin";
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find(':', start);
    if (end == std::string::npos) end = p.size();
    std::string cand = p.substr(start, end - start) + "/redis-server";
    if (::access(cand.c_str(), X_OK) == 0) return cand;
    start = end + 1;
  }
  return "";
}

// Polls until the server answers PING (readiness, not a timing assumption).
bool WaitReady(int port) {
  for (int i = 0; i < 500; ++i) {
    timeval tv{0, 200000};
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (c != nullptr && !c->err) {
      auto* r = static_cast<redisReply*>(redisCommand(c, "PING"));
      bool ok = r != nullptr && r->type == REDIS_REPLY_STATUS;
      if (r) freeReplyObject(r);
      redisFree(c);
      if (ok) return true;
    } else if (c != nullptr) {
      redisFree(c);
    }
    usleep(10000);
  }
  return false;
}

}  // namespace

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

RedisServer::RedisServer(std::string data_dir) : data_dir_(std::move(data_dir)) {
  port_ = FreePort();
  Start();
}

void RedisServer::Start() {
  std::string bin = FindRedisServer();
  if (bin.empty()) {
    why_ = "redis-server is not installed (run .ci/setup); the Redis ledger tests are skipped";
    return;
  }
  pid_t pid = fork();
  if (pid == 0) {
    std::string port = std::to_string(port_);
    if (!data_dir_.empty()) {
      execl(bin.c_str(), bin.c_str(), "--port", port.c_str(), "--bind", "127.0.0.1", "--save", "", "--dir",
            data_dir_.c_str(), "--appendonly", "yes", "--appendfsync", "always", "--daemonize", "no", "--loglevel",
            "warning", "--logfile", "/dev/null", static_cast<char*>(nullptr));
    } else {
      execl(bin.c_str(), bin.c_str(), "--port", port.c_str(), "--bind", "127.0.0.1", "--save", "", "--appendonly",
            "no", "--daemonize", "no", "--loglevel", "warning", "--logfile", "/dev/null",
            static_cast<char*>(nullptr));
    }
    _exit(127);
  }
  pid_ = pid;
  if (!WaitReady(port_)) {
    why_ = "redis-server did not start on port " + std::to_string(port_);
    Stop();
  }
}

void RedisServer::Stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  int st;
  ::waitpid(pid_, &st, 0);
  pid_ = -1;
}

void RedisServer::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int st;
  ::waitpid(pid_, &st, 0);
  pid_ = -1;
}

RedisServer::~RedisServer() { Stop(); }

void ScriptFlush(int port) {
  timeval tv{1, 0};
  redisContext* c = redisConnectWithTimeout("127.0.0.1", port, tv);
  if (c != nullptr && !c->err) {
    auto* r = static_cast<redisReply*>(redisCommand(c, "SCRIPT FLUSH"));
    if (r) freeReplyObject(r);
  }
  if (c != nullptr) redisFree(c);
}

void RedisServer::FlushAll() {
  timeval tv{1, 0};
  redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, tv);
  if (c != nullptr && !c->err) {
    auto* r = static_cast<redisReply*>(redisCommand(c, "FLUSHALL"));
    if (r) freeReplyObject(r);
  }
  if (c != nullptr) redisFree(c);
}

std::string TempLedgerPath(const std::string& name) {
  static std::atomic<int> n{0};
  std::string dir = ::testing::TempDir() + "tg_ledger_" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  std::string p = dir + "/" + name + "_" + std::to_string(n++) + ".db";
  std::filesystem::remove(p);
  std::filesystem::remove(p + "-wal");
  std::filesystem::remove(p + "-shm");
  return p;
}

ledger::ReserveRequest OneBudget(const std::string& name, const std::string& key, ledger::Window w, int64_t limit,
                                 int64_t amount) {
  ledger::ReserveRequest r;
  r.budgets.push_back({name, key, w, limit, amount});
  return r;
}

ledger::ReserveRequest OneLimit(const std::string& name, const std::string& key, ledger::Window w, int64_t max,
                                int64_t amount, ledger::LimitUnit unit) {
  ledger::ReserveRequest r;
  r.limits.push_back({name, key, w, max, amount, unit});
  return r;
}

}  // namespace tollgate::ledgertest
