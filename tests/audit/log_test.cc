// The writer: ids, concurrency and durability, credentials, the version
// store, recovery after a crash (SIGKILL under load, 20 times).
#include <algorithm>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <set>
#include <thread>

#include "runtime/audit/internal/content.h"
#include "runtime/audit/internal/util.h"
#include "runtime/audit/reader.h"
#include "runtime/audit/replay.h"
#include "runtime/audit/store.h"
#include "tests/audit/audit_helpers.h"

namespace tollgate::audit::testing {
namespace {
namespace fs = std::filesystem;

std::set<std::string> RecordedIds(const std::string& dir) {
  std::set<std::string> ids;
  RecordReader in;
  std::string err;
  EXPECT_TRUE(in.Open(dir, &err));
  RecordLine line;
  while (in.Next(&line)) ids.insert(line.doc["id"].GetString());
  return ids;
}

TEST(AuditIds, SortableUniqueMonotonic) {
  internal::IdGenerator g;
  int64_t used;
  std::string a = g.Next(1'700'000'000'000, &used);
  std::string b = g.Next(1'700'000'000'000, &used);
  std::string c = g.Next(1'699'999'999'000, &used);  // the clock stepped back
  EXPECT_EQ(a.size(), 26u);
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_EQ(internal::IdMillis(a), 1'700'000'000'000);
  internal::IdGenerator other;  // another process: another random prefix
  EXPECT_NE(other.Next(1'700'000'000'000, &used), a);
  int64_t ms;
  ASSERT_TRUE(internal::ParseMillis("2026-11-30T01:45:05.123Z", &ms));
  EXPECT_EQ(internal::FormatMillis(ms), "2026-11-30T01:45:05.123Z");
  ASSERT_TRUE(internal::ParseMillis("2026-11-30", &ms));
  EXPECT_EQ(internal::FormatMillis(ms), "2026-11-30T00:00:00.000Z");
  ASSERT_TRUE(internal::ParseMillis("2026-11-30T02:00:00+01:00", &ms));
  EXPECT_EQ(internal::FormatMillis(ms), "2026-11-30T01:00:00.000Z");
  EXPECT_FALSE(internal::ParseMillis("yesterday", &ms));
}

// Replay compares raw member text: every kind of member value, escapes,
// white space and the last member come out exactly.
TEST(AuditSpans, RawTextOfEveryTopLevelMember) {
  std::vector<RawMember> m;
  ASSERT_TRUE(internal::TopLevelSpans(
      R"({"a":1,"input":{"x":[1,2],"s":"a\"b"} ,"d":"s\"q" , "t":true,"f":false,"e":null,)"
      R"("n":-1.5e3,"arr":[{"k":1}],"z":"last"})",
      &m));
  std::vector<std::pair<std::string, std::string>> got;
  for (const RawMember& r : m) got.emplace_back(r.key, std::string(r.value));
  EXPECT_EQ(got, (std::vector<std::pair<std::string, std::string>>{
                     {"a", "1"}, {"input", R"({"x":[1,2],"s":"a\"b"})"}, {"d", R"("s\"q")"},
                     {"t", "true"}, {"f", "false"}, {"e", "null"}, {"n", "-1.5e3"},
                     {"arr", R"([{"k":1}])"}, {"z", R"("last")"}}));
  EXPECT_FALSE(internal::TopLevelSpans(R"({"a":)", &m));
}

TEST(AuditLog, ManyThreadsEachRecordDurable) {
  TempDir dir;
  std::string err;
  auto log = AuditLog::Open(dir.path, {}, &err);
  ASSERT_TRUE(log) << err;
  Recorder rec(log.get(), MustCompile("policies/example.tg"), "", "");
  std::vector<std::string> inputs;
  gen::Rng rng(1);
  for (int i = 0; i < 64; ++i) inputs.push_back(ExampleInput(rng));
  std::atomic<uint64_t> callbacks{0};
  log->SetDurableCallback([&](uint64_t) { ++callbacks; });
  std::vector<std::thread> threads;
  std::vector<std::vector<std::string>> ids(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 250; ++i) {
        Ticket k = rec.Decide(inputs[(t * 7 + i) % inputs.size()]);
        if (i % 25 == 0) {
          EXPECT_TRUE(log->WaitDurable(k.seq));
          EXPECT_GE(log->durable_seq(), k.seq);
        }
        ids[t].push_back(k.id);
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE(log->Close());
  EXPECT_GT(callbacks.load(), 0u);
  std::set<std::string> all;
  for (auto& v : ids) all.insert(v.begin(), v.end());
  EXPECT_EQ(all.size(), 1000u);
  EXPECT_EQ(RecordedIds(dir.path), all);
  // File order is id order (ids are assigned under the queue lock).
  RecordReader in;
  ASSERT_TRUE(in.Open(dir.path, &err));
  RecordLine line;
  std::string prev;
  while (in.Next(&line)) {
    std::string id = line.doc["id"].GetString();
    EXPECT_LT(prev, id);
    prev = id;
  }
  VerifyReport r;
  Verify({dir.path}, &r);
  EXPECT_EQ(r.errors(), 0u);
}

TEST(AuditLog, NoRecordContainsACredential) {
  TempDir dir;
  std::string err;
  auto log = AuditLog::Open(dir.path, {}, &err);
  ASSERT_TRUE(log) << err;
  Recorder rec(log.get(), MustCompile("policies/example.tg"), "", "");
  const std::string key = "sk-proj-abcdefghijklmnopqrstuvwxyz012345";
  const std::string bearer = "Bearer very-secret-bearer-token-123";
  rec.Decide(R"({"principal":{"workspace":"acme-eu","user":"u","jurisdiction":"DE"},)"
             R"("request":{"model":"openai/gpt-4o","api_key":")" + key + R"(","headers":{"Authorization":")" +
             bearer + R"(","X-Api-Key":")" + key + R"("},"extra":{"password":{"nested":"hunter2-secret"}},)"
             R"("messages":[{"role":"user","content":"here is my key )" + key + R"( please"}]}})");
  rec.Decide(ReadAll("policies/requests/secret_leak.json"));
  ASSERT_TRUE(log->Close());
  std::string all;
  for (const auto& e : fs::directory_iterator(dir.path))
    if (e.path().extension() == ".jsonl") all += ReadAll(e.path());
  EXPECT_EQ(all.find(key), std::string::npos);
  EXPECT_EQ(all.find("very-secret-bearer"), std::string::npos);
  EXPECT_EQ(all.find("hunter2"), std::string::npos);
  EXPECT_EQ(all.find("sk-"), std::string::npos);
  EXPECT_NE(all.find("[removed]"), std::string::npos);
  EXPECT_NE(all.find("[credential]"), std::string::npos);
  EXPECT_NE(all.find("\"scrubbed\":["), std::string::npos);
  // Replay says these are not replayable for the rules that read the text.
  ReplayOptions o;
  o.dir = dir.path;
  ReplayReport r;
  ASSERT_TRUE(Replay(o, &r, &err)) << err;
  EXPECT_EQ(r.mismatched, 0u);
  EXPECT_EQ(r.not_replayable, 2u);
  EXPECT_GT(r.not_replayable_rules["no_secrets"], 0u);
}

TEST(AuditStore, HoldsEveryVersionWithItsDataDocuments) {
  TempDir dir;
  std::string err;
  auto log = AuditLog::Open(dir.path + "/audit", {}, &err);
  ASSERT_TRUE(log) << err;
  auto p = MustCompile("policies/example.tg");
  Recorder rec(log.get(), p, "policies/catalog.json", "policies/accounts.json");
  ASSERT_TRUE(log->Close());
  std::vector<StoredObject> objs;
  ASSERT_TRUE(ListObjects(dir.path + "/audit", &objs, &err));
  ASSERT_EQ(objs.size(), 3u);
  std::set<std::string> kinds;
  for (auto& o : objs) kinds.insert(o.kind);
  EXPECT_EQ(kinds, (std::set<std::string>{"policy", "catalog", "accounts"}));
  StoredObject o;
  ASSERT_TRUE(LoadObject(dir.path + "/audit", p->version_id(), true, &o, &err)) << err;
  EXPECT_EQ(o.name, "acme-production");
  ASSERT_EQ(o.files.size(), 2u);
  EXPECT_EQ(o.files[0].text, ReadAll("policies/example.tg"));
  EXPECT_EQ(o.files[1].path, "data/workspaces.json");
  EXPECT_EQ(o.files[1].text, ReadAll("policies/data/workspaces.json"));
  Compiled c = CompileStored(dir.path + "/audit", p->version_id(), stdlib::Schema::Standard());
  ASSERT_TRUE(c.policy);
  EXPECT_EQ(c.policy->version_id(), p->version_id());
  EXPECT_FALSE(LoadObject(dir.path + "/audit", "sha256:00", true, &o, &err));
}

TEST(AuditStore, DataDocumentsAboveThePolicyDirectory) {
  TempDir dir;
  fs::create_directories(dir.path + "/src/policies");
  WriteAll(dir.path + "/src/shared.json", "{\"limit\": 5}");
  WriteAll(dir.path + "/src/policies/p.tg",
           "policy \"up\"\ndata shared from \"../shared.json\": {limit: int}\n"
           "rule r { when (request.max_tokens ?? 0) > shared.limit deny \"too many\" }\n");
  auto p = MustCompile(dir.path + "/src/policies/p.tg");
  ASSERT_TRUE(p);
  std::string id, err;
  ASSERT_TRUE(PutPolicy(dir.path + "/audit", *p, p->schema(), &id, &err)) << err;
  Compiled c = CompileStored(dir.path + "/audit", id, stdlib::Schema::Standard());
  ASSERT_TRUE(c.policy) << c.diagnostics.Render();
  EXPECT_EQ(c.policy->version_id(), id);
}

TEST(AuditLog, RotatesByAgeWithoutBreakingTheChain) {
  TempDir dir;
  std::string err;
  Options o;
  o.max_file_age_ms = 0;  // every batch starts a new file
  auto log = AuditLog::Open(dir.path, o, &err);
  ASSERT_TRUE(log) << err;
  Recorder rec(log.get(), MustCompile("policies/example.tg"), "", "");
  gen::Rng rng(8);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(log->WaitDurable(rec.Decide(ExampleInput(rng)).seq));
  ASSERT_TRUE(log->Close());
  std::vector<uint64_t> seqs;
  ASSERT_TRUE(ListLogFiles(dir.path, &seqs, &err));
  EXPECT_GE(seqs.size(), 5u);
  VerifyReport r;
  Verify({dir.path}, &r);
  EXPECT_EQ(r.errors(), 0u);
  EXPECT_EQ(r.records, 5u);
  // Every closed file ends with its seal; a reopened log starts a new file.
  auto again = AuditLog::Open(dir.path, {}, &err);
  ASSERT_TRUE(again) << err;
  ASSERT_TRUE(again->Close());
  std::vector<uint64_t> more;
  ASSERT_TRUE(ListLogFiles(dir.path, &more, &err));
  EXPECT_EQ(more.size(), seqs.size() + 1);
  VerifyReport r2;
  Verify({dir.path}, &r2);
  EXPECT_EQ(r2.errors(), 0u);
}

TEST(AuditLog, SecondWriterIsRefused) {
  TempDir dir;
  std::string err;
  auto a = AuditLog::Open(dir.path, {}, &err);
  ASSERT_TRUE(a) << err;
  auto b = AuditLog::Open(dir.path, {}, &err);
  EXPECT_FALSE(b);
  EXPECT_NE(err.find("in use"), std::string::npos);
}

// A child records under load from two threads and reports each decision id
// on a pipe once it is durable; the parent kills it with SIGKILL at a random
// moment. Repeated 20 times on one directory: each restart recovers.
// A path that is a file is named as such (it failed as "cannot read the audit
// key `FILE/key`"); an empty path is refused (every file is DIR + "/name": it
// put the key, the lock, the log and the store in `/`).
TEST(AuditLog, OpenRefusesAFileAndAnEmptyPath) {
  TempDir dir;
  const std::string file = dir.path + "/decisions.jsonl";
  WriteAll(file, "x\n");
  std::string err;
  EXPECT_EQ(AuditLog::Open(file, {}, &err), nullptr);
  EXPECT_EQ(err, "the audit directory `" + file + "` is not a directory");
  EXPECT_EQ(ReadAll(file), "x\n");
  err.clear();
  EXPECT_EQ(AuditLog::Open("", {}, &err), nullptr);
  EXPECT_EQ(err, "the audit directory is an empty path");
}

TEST(AuditCrash, SigkillUnderLoadLosesNothingAnswered) {
  TempDir dir;
  auto policy = MustCompile("policies/example.tg");
  ASSERT_TRUE(policy);
  std::vector<std::string> inputs;
  gen::Rng rng(42);
  for (int i = 0; i < 32; ++i) inputs.push_back(ExampleInput(rng));
  std::set<std::string> answered;
  for (int round = 0; round < 20; ++round) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      std::string err;
      Options o;
      o.max_file_bytes = 128 << 10;
      auto log = AuditLog::Open(dir.path, o, &err);
      if (!log) _exit(2);
      auto subject = log->Register(*policy, {}, &err);
      if (!subject) _exit(3);
      auto work = [&](int t) {
        for (uint64_t i = 0;; ++i) {
          Entry e;
          e.subject = subject;
          e.input = inputs[(i + t) % inputs.size()];
          e.decision = "{\"outcome\":\"allow\",\"n\":" + std::to_string(i) + "}";
          Ticket k = log->Append(std::move(e));
          if (!log->WaitDurable(k.seq)) _exit(4);
          std::string line = k.id + "\n";
          if (write(fds[1], line.data(), line.size()) != static_cast<ssize_t>(line.size())) _exit(5);
        }
      };
      std::thread t1(work, 0), t2(work, 1);
      t1.join();
      _exit(0);
    }
    close(fds[1]);
    // The kill lands once the child has answered a random number of
    // decisions (its two threads keep recording meanwhile), not after a
    // fixed time: a slow machine (sanitizers, load) still gets killed
    // mid-work, never before its first answers.
    const auto want = static_cast<std::ptrdiff_t>(2 + rng.Below(8));
    std::string got;
    char buf[4096];
    ssize_t n;
    while (std::count(got.begin(), got.end(), '\n') < want && (n = read(fds[0], buf, sizeof buf)) > 0)
      got.append(buf, static_cast<size_t>(n));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
    while ((n = read(fds[0], buf, sizeof buf)) > 0) got.append(buf, static_cast<size_t>(n));
    close(fds[0]);
    size_t at = 0, nl;
    while ((nl = got.find('\n', at)) != std::string::npos) {  // complete lines only
      answered.insert(got.substr(at, nl - at));
      at = nl + 1;
    }
    VerifyReport r;
    Verify({dir.path}, &r);
    ASSERT_EQ(r.errors(), 0u) << "round " << round << ": " << r.problems[0].code << " "
                              << r.problems[0].file << ":" << r.problems[0].line << " "
                              << r.problems[0].message;
  }
  EXPECT_GT(answered.size(), 20u);
  std::set<std::string> recorded = RecordedIds(dir.path);
  for (const std::string& id : answered) ASSERT_TRUE(recorded.count(id)) << id << " was answered but is not recorded";
}

// A credential written with JSON escapes ("sk\u002dproj-...", a member named
// "api\u005fkey") is the same credential once decoded: the record keeps
// neither, though the raw bytes hold no credential literal or stem.
TEST(AuditLog, NoRecordContainsAnEscapedCredential) {
  TempDir dir;
  std::string err;
  auto log = AuditLog::Open(dir.path, {}, &err);
  ASSERT_TRUE(log) << err;
  Recorder rec(log.get(), MustCompile("policies/example.tg"), "", "");
  const std::string body = "abcdefghijklmnopqrstuvwxyz012345";
  rec.Decide(R"({"principal":{"workspace":"acme-eu","user":"u","jurisdiction":"DE"},)"
             R"("request":{"model":"openai/gpt-4o","api\u005fkey":"opaque-value-77",)"
             R"("messages":[{"role":"user","content":"here is my key sk\u002dproj-)" + body +
             R"( please"}]}})");
  ASSERT_TRUE(log->Close());
  std::string all;
  for (const auto& e : fs::directory_iterator(dir.path))
    if (e.path().extension() == ".jsonl") all += ReadAll(e.path());
  ASSERT_FALSE(all.empty());
  EXPECT_EQ(all.find(body), std::string::npos);
  EXPECT_EQ(all.find("opaque-value-77"), std::string::npos);
  EXPECT_NE(all.find("[credential]"), std::string::npos);
  EXPECT_NE(all.find("\"scrubbed\":["), std::string::npos);
}

}  // namespace
}  // namespace tollgate::audit::testing
