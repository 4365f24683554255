// Durability notification for an event-loop gateway (runtime/audit/log.h):
// many threads append and are told, never blocking on fdatasync, when their
// record is on disk; a failed log tells every waiter instead of leaving it
// hanging.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "runtime/audit/reader.h"
#include "tests/audit/audit_helpers.h"

namespace tollgate::audit::testing {
namespace {

std::set<std::string> RecordedIds(const std::string& dir) {
  std::set<std::string> ids;
  RecordReader in;
  std::string err;
  EXPECT_TRUE(in.Open(dir, &err));
  RecordLine line;
  while (in.Next(&line)) ids.insert(line.doc["id"].GetString());
  return ids;
}

// One "I/O thread" of a gateway: it never waits for a sync; the log posts
// completions into its inbox, which it drains like an event loop would.
struct Loop {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::pair<uint64_t, bool>> inbox;
  void Post(uint64_t seq, bool ok) {
    std::lock_guard<std::mutex> lock(mu);
    inbox.emplace_back(seq, ok);
    cv.notify_one();
  }
};

TEST(AuditDurable, ManyThreadsAreToldWhenTheirRecordIsOnDisk) {
  TempDir dir;
  std::string err;
  auto log = AuditLog::Open(dir.path, {}, &err);
  ASSERT_TRUE(log) << err;
  Recorder rec(log.get(), MustCompile("policies/example.tg"), "", "");
  std::vector<std::string> inputs;
  gen::Rng rng(5);
  for (int i = 0; i < 32; ++i) inputs.push_back(ExampleInput(rng));
  constexpr int kThreads = 8, kPerThread = 400;
  std::atomic<int> early_calls{0}, on_caller_thread{0};
  std::vector<Loop> loops(kThreads);
  std::vector<std::vector<std::string>> ids(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const auto me = std::this_thread::get_id();
      for (int i = 0; i < kPerThread; ++i) {
        Ticket k = rec.Decide(inputs[(t * 5 + i) % inputs.size()]);
        ASSERT_NE(k.seq, 0u);
        ids[t].push_back(k.id);
        log->OnDurable(k.seq, [&, t, me, seq = k.seq](bool ok) {
          // Told only once the record is durable, never before.
          if (log->durable_seq() < seq) ++early_calls;
          if (std::this_thread::get_id() == me) ++on_caller_thread;
          loops[t].Post(seq, ok);
        });
      }
      // The event loop runs until every response has been released.
      std::unique_lock<std::mutex> lock(loops[t].mu);
      ASSERT_TRUE(loops[t].cv.wait_for(lock, std::chrono::seconds(30),
                                       [&] { return loops[t].inbox.size() == kPerThread; }));
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(early_calls.load(), 0);
  std::set<std::string> all;
  for (int t = 0; t < kThreads; ++t) {
    std::set<uint64_t> seqs;
    for (auto [seq, ok] : loops[t].inbox) {
      EXPECT_TRUE(ok);
      seqs.insert(seq);
    }
    EXPECT_EQ(seqs.size(), static_cast<size_t>(kPerThread)) << "each handler runs exactly once";
    all.insert(ids[t].begin(), ids[t].end());
  }
  // Every released response's record is in the log already (before Close).
  EXPECT_EQ(RecordedIds(dir.path), all);
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kPerThread));
  // A record already durable is told at once, on the calling thread.
  bool now = false;
  log->OnDurable(1, [&](bool ok) { now = ok; });
  EXPECT_TRUE(now);
  bool zero = true;
  log->OnDurable(0, [&](bool ok) { zero = ok; });
  EXPECT_FALSE(zero) << "seq 0 (an Append that was refused) never becomes durable";
  ASSERT_TRUE(log->Close());
  bool after_close = true;
  log->OnDurable(1u << 30, [&](bool ok) { after_close = ok; });
  EXPECT_FALSE(after_close);
}

// The callback form: the gateway keeps its own pending set, drained by
// SetDurableCallback; registering after the append and re-checking
// durable_seq() loses no wake-up.
TEST(AuditDurable, CallbackDrainsAGatewaysPendingSet) {
  TempDir dir;
  std::string err;
  auto log = AuditLog::Open(dir.path, {}, &err);
  ASSERT_TRUE(log) << err;
  Recorder rec(log.get(), MustCompile("policies/example.tg"), "", "");
  gen::Rng rng(9);
  const std::string input = ExampleInput(rng);
  std::mutex mu;
  std::multimap<uint64_t, int> pending;  // seq -> response
  std::set<int> released;
  std::condition_variable cv;
  auto release_upto = [&](uint64_t durable) {
    std::lock_guard<std::mutex> lock(mu);
    auto end = pending.upper_bound(durable);
    for (auto it = pending.begin(); it != end; ++it) released.insert(it->second);
    pending.erase(pending.begin(), end);
    cv.notify_all();
  };
  log->SetDurableCallback(release_upto);
  constexpr int kThreads = 6, kPerThread = 300;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        Ticket k = rec.Decide(input);
        {
          std::lock_guard<std::mutex> lock(mu);
          pending.emplace(k.seq, t * kPerThread + i);
        }
        release_upto(log->durable_seq());  // it may have become durable already
      }
    });
  }
  for (auto& th : threads) th.join();
  std::unique_lock<std::mutex> lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30),
                          [&] { return released.size() == kThreads * kPerThread; }));
  EXPECT_TRUE(pending.empty());
  lock.unlock();
  ASSERT_TRUE(log->Close());
}

// A log that cannot write (the file size limit) fails every waiter and
// calls the callback once more, so that no held response hangs. Runs in a
// child process: the limit is per process.
TEST(AuditDurable, AFailedLogReleasesEveryWaiterWithFalse) {
  TempDir dir;
  auto policy = MustCompile("policies/example.tg");
  gen::Rng rng(3);
  const std::string input = ExampleInput(rng);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    signal(SIGXFSZ, SIG_IGN);  // writes past the limit fail with EFBIG instead
    std::string err;
    auto log = AuditLog::Open(dir.path, {}, &err);
    if (!log) _exit(10);
    Recorder rec(log.get(), policy, "", "");
    rlimit lim{64 << 10, 64 << 10};
    if (setrlimit(RLIMIT_FSIZE, &lim) != 0) _exit(11);
    std::atomic<bool> told_failed{false};
    log->SetDurableCallback([&](uint64_t) {
      if (log->failed()) told_failed = true;
    });
    std::atomic<int> ok_count{0}, fail_count{0}, total{0};
    for (int i = 0; i < 2000 && !log->failed(); ++i) {
      Ticket k = rec.Decide(input);
      ++total;
      log->OnDurable(k.seq, [&](bool ok) { ++(ok ? ok_count : fail_count); });
    }
    for (int i = 0; i < 30000 && ok_count + fail_count < total; ++i) usleep(1000);  // <= 30 s under load
    if (!log->failed()) _exit(12);
    if (ok_count + fail_count != total) _exit(13);
    if (fail_count == 0) _exit(14);
    if (!told_failed) _exit(15);
    if (log->WaitDurable(static_cast<uint64_t>(total.load()))) _exit(16);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10 open, 11 rlimit, 12 never failed, 13 a waiter was "
                                       "never told, 14 none failed, 15 no final callback, "
                                       "16 WaitDurable true";
}

}  // namespace
}  // namespace tollgate::audit::testing
