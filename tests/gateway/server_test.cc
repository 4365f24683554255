// The server on a loopback port with a real audit log: /v1/decide answers
// only once its decision record is in the log, and fails closed (503
// audit_unavailable) once the log cannot be written. tests/gateway/e2e.sh
// drives the whole binary; these checks need the record's timing, which a
// shell cannot see reliably.
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <sys/resource.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <atomic>
#include <new>
#include <thread>

#include "runtime/audit/reader.h"
#include "runtime/gateway/server.h"
#include "runtime/gateway/service.h"
#include "tests/gateway/gateway_helpers.h"

// Fault injection (HandlerFailureIsAnswered500): once armed, the next
// allocation of exactly g_fail_size bytes on another thread than the arming
// one throws std::bad_alloc. The gateway has no other way to make a handler
// throw: its failures are data.
namespace {
std::atomic<size_t> g_fail_size{0};
std::atomic<std::thread::id> g_armer;
}  // namespace

// Every non-aligned form is replaced, so that each allocation is freed by
// its own kind (the sanitizer build checks the pairs). Not inlined: GCC
// would see free() of what operator new returned.
__attribute__((noinline)) void* operator new(size_t n) {
  size_t want = g_fail_size.load(std::memory_order_relaxed);
  if (want != 0 && n == want && std::this_thread::get_id() != g_armer.load() &&
      g_fail_size.compare_exchange_strong(want, 0))
    throw std::bad_alloc();
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
__attribute__((noinline)) void* operator new[](size_t n) { return operator new(n); }
__attribute__((noinline)) void* operator new(size_t n, const std::nothrow_t&) noexcept {
  try {
    return operator new(n);
  } catch (...) {
    return nullptr;
  }
}
__attribute__((noinline)) void* operator new[](size_t n, const std::nothrow_t&) noexcept {
  return operator new(n, std::nothrow);
}
__attribute__((noinline)) void operator delete(void* p) noexcept { std::free(p); }
__attribute__((noinline)) void operator delete[](void* p) noexcept { std::free(p); }
__attribute__((noinline)) void operator delete(void* p, size_t) noexcept { std::free(p); }
__attribute__((noinline)) void operator delete[](void* p, size_t) noexcept { std::free(p); }
__attribute__((noinline)) void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
__attribute__((noinline)) void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace tollgate::gateway {
namespace {

namespace fs = std::filesystem;
namespace http = boost::beast::http;

using Answer = testkit::HttpAnswer;

// A running server on 127.0.0.1 (port 0) over a small policy, the memory
// ledger and an audit log. Without audit_sync (the default) records are
// written by the answering thread, not by the log's writer thread, which
// then only wakes once a second: an answer sent before its record was
// written finds the record missing. With audit_sync the writer thread
// writes and fdatasyncs each batch.
class ServerTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    dir_ = testkit::MakeTempDir("server");
    testkit::WriteFile(dir_ + "/p.tg", "policy \"t\"\nrule no {\n  when request.content contains \"forbidden\"\n"
                                       "  deny 403 \"no\"\n}\n");
    testkit::WriteFile(dir_ + "/c.json", testkit::CatalogJson({testkit::TestEndpoint("m/x@a", "a").Upstream("x-up").ContextLength(1000)}));
    testkit::WriteFile(dir_ + "/k.json", R"({"keys": []})");
    Config cfg = testkit::DirConfig(dir_);
    cfg.audit_sync = GetParam();
    std::string err;
    ASSERT_TRUE(gw_.Start(std::move(cfg), &err)) << err;
  }
  void TearDown() override {
    gw_.Stop();
    testkit::RemoveDir(dir_);
  }

  Answer Post(const std::string& path, const std::string& body, http::verb verb = http::verb::post) {
    return testkit::HttpCall(gw_.port(), verb, path, body);
  }

  // Whether the decision record `id` is now in the audit directory.
  bool Recorded(const std::string& id) { return !testkit::DecisionRecord(dir_ + "/audit", id).empty(); }

  static std::string DecisionId(const std::string& body) {
    rapidjson::Document d;
    d.Parse(body.data(), body.size());
    if (!d.IsObject() || !d.HasMember("decision_id") || !d["decision_id"].IsString()) return "";
    return d["decision_id"].GetString();
  }

  // The size of the log file records are appended to now.
  uint64_t LogSize() {
    std::vector<uint64_t> seqs;
    std::string err;
    if (!audit::ListLogFiles(dir_ + "/audit", &seqs, &err) || seqs.empty()) return 0;
    return fs::file_size(audit::LogFilePath(dir_ + "/audit", seqs.back()));
  }

  std::string dir_;
  testkit::LoopbackServer gw_;
};

const char kAllow[] =
    R"({"principal":{"workspace":"w"},"request":{"model":"m/x","messages":[{"role":"user","content":"hi"}]}})";
const char kDeny[] =
    R"({"principal":{"workspace":"w"},"request":{"model":"m/x","messages":[{"role":"user","content":"forbidden"}]}})";

TEST_P(ServerTest, DecideAnswersOnlyOnceItsRecordIsInTheLog) {
  for (int i = 0; i < 20; ++i) {
    Answer a = Post("/v1/decide", i % 2 ? kDeny : kAllow);
    ASSERT_EQ(a.status, 200) << a.body;
    std::string id = DecisionId(a.body);
    ASSERT_EQ(id.size(), 26u) << a.body;
    // Read at once, before anything else can write it.
    EXPECT_TRUE(Recorded(id)) << "answer " << i << " (" << id << ") was sent before its record was written";
  }
}

// RAII: a file size limit for this process (SIGXFSZ ignored, as `tollgate
// serve` does), restored on scope exit.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(uint64_t bytes) {
    getrlimit(RLIMIT_FSIZE, &saved_);
    old_handler_ = std::signal(SIGXFSZ, SIG_IGN);
    rlimit r = saved_;
    r.rlim_cur = bytes;
    setrlimit(RLIMIT_FSIZE, &r);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &saved_);
    std::signal(SIGXFSZ, old_handler_);
  }

 private:
  rlimit saved_{};
  void (*old_handler_)(int) = SIG_DFL;
};

TEST_P(ServerTest, DecideFailsClosedWhenTheLogCannotBeWritten) {
  Answer a = Post("/v1/decide", kAllow);
  ASSERT_EQ(a.status, 200) << a.body;
  ASSERT_TRUE(Recorded(DecisionId(a.body)));
  {
    // The log file cannot grow past its current size: the next record fails.
    FileSizeLimit limit(LogSize());
    Answer withheld = Post("/v1/decide", kAllow);
    EXPECT_EQ(withheld.status, 503) << withheld.body;
    EXPECT_NE(withheld.body.find(R"("code":"audit_unavailable")"), std::string::npos) << withheld.body;
    EXPECT_NE(withheld.body.find("answer is withheld"), std::string::npos) << withheld.body;
    ASSERT_TRUE(gw_.svc().audit()->failed());
  }
  // The log stays failed (sticky): no decision is answered that cannot be
  // recorded, allowed or denied, even with room on disk again.
  for (const char* body : {kAllow, kDeny}) {
    Answer later = Post("/v1/decide", body);
    EXPECT_EQ(later.status, 503) << later.body;
    EXPECT_NE(later.body.find(R"("code":"audit_unavailable")"), std::string::npos) << later.body;
    EXPECT_EQ(DecisionId(later.body), "") << later.body;
  }
}

// A handler that throws (a bug) is answered 500 in OpenAI's error shape
// with code internal_error, counted in /metrics, and the server goes on.
TEST_P(ServerTest, HandlerFailureIsAnswered500) {
  // The request path's own copy in the handler (Server::Impl::Handle) is
  // the allocation that fails: 3001 bytes for a 3000-byte path. The query
  // makes the parser's copy of the target a different size.
  const std::string path = "/v1/" + std::string(2996, 'a');
  g_armer.store(std::this_thread::get_id());
  g_fail_size.store(path.size() + 1);
  Answer a = Post(path + "?" + std::string(500, 'q'), "", http::verb::get);
  const bool fired = g_fail_size.exchange(0) == 0;
  ASSERT_TRUE(fired) << "the handler did not make the allocation this test fails";
  EXPECT_EQ(a.status, 500) << a.body;
  rapidjson::Document d;
  d.Parse(a.body.data(), a.body.size());
  ASSERT_TRUE(d.IsObject() && d.HasMember("error")) << a.body;
  EXPECT_STREQ(d["error"]["code"].GetString(), "internal_error");
  EXPECT_STREQ(d["error"]["type"].GetString(), "api_error");
  EXPECT_TRUE(d["error"]["message"].IsString());
  Answer metrics = Post("/metrics", "", http::verb::get);
  EXPECT_NE(metrics.body.find("tollgate_handler_errors_total 1\n"), std::string::npos) << metrics.body;
  EXPECT_NE(metrics.body.find(R"x(tollgate_http_requests_total{path="(internal_error)",status="500"} 1)x"),
            std::string::npos) << metrics.body;
  // Still serving.
  Answer ok = Post("/v1/decide", kAllow);
  EXPECT_EQ(ok.status, 200) << ok.body;
}

INSTANTIATE_TEST_SUITE_P(AuditSync, ServerTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& p) { return p.param ? "Fdatasync" : "Written"; });

}  // namespace
}  // namespace tollgate::gateway
