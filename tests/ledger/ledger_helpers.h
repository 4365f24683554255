// Helpers for the ledger tests: a real redis-server on 127.0.0.1 (a free
// port), temporary ledger paths, and request builders.
#pragma once

#include <sys/types.h>

#include <string>

#include "runtime/ledger/ledger.h"

namespace tollgate::ledgertest {

// A redis-server child process on a free loopback port, stopped on
// destruction. available() is false (with why()) only when the redis-server
// binary is not installed.
class RedisServer {
 public:
  // `data_dir` non-empty: persistent (append-only file in that directory,
  // fsynced on every write), so a restart restores what was acknowledged.
  explicit RedisServer(std::string data_dir = "");
  ~RedisServer();
  bool available() const { return pid_ > 0; }
  const std::string& why() const { return why_; }
  int port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_) + "/0"; }
  void Stop();   // SIGTERM and wait
  void Kill();   // SIGKILL and wait (a crash)
  void Start();  // again on the same port
  void FlushAll();  // empties every database

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string why_;
  std::string data_dir_;
};

// A fresh file path under the test temp dir (nothing created).
std::string TempLedgerPath(const std::string& name);
// A free TCP port on 127.0.0.1 (nothing listens on it afterwards).
int FreePort();
// SCRIPT FLUSH on the server at `port`.
void ScriptFlush(int port);

ledger::ReserveRequest OneBudget(const std::string& name, const std::string& key, ledger::Window w,
                                 int64_t limit, int64_t amount);
ledger::ReserveRequest OneLimit(const std::string& name, const std::string& key, ledger::Window w, int64_t max,
                                int64_t amount, ledger::LimitUnit unit = ledger::LimitUnit::kRequests);

}  // namespace tollgate::ledgertest
