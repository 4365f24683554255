// The version store keeps everything a version needs to be compiled again:
// every file of a composed policy, the data documents beside each, and the
// schema extensions its header names.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "runtime/audit/replay.h"
#include "runtime/audit/store.h"
#include "tests/audit/audit_helpers.h"

namespace tollgate::audit::testing {
namespace {
namespace fs = std::filesystem;

// Two files in two directories: `finance/` sorts before `legal/` (the
// canonical order decides the program), each with its own data document,
// one naming a schema extension above its directory.
struct Composed {
  explicit Composed(const std::string& root) {
    fs::create_directories(root + "/legal/data");
    fs::create_directories(root + "/finance");
    fs::create_directories(root + "/ext");
    WriteAll(root + "/ext/cc.json",
             R"({"fields": [{"path": "principal.cost_center", "type": "string", "scope": "request"}]})");
    WriteAll(root + "/legal/data/blocked.json", R"({"centers": ["cc-9", "cc-13"]})");
    WriteAll(root + "/legal/legal.tg",
             "policy \"composed\"\n"
             "schema \"../ext/cc.json\"\n"
             "data blocked from \"data/blocked.json\": {centers: set<string>}\n"
             "rule blocked_center { when (principal.cost_center ?? \"\") in blocked.centers "
             "deny 403 \"cost center blocked\" }\n");
    WriteAll(root + "/finance/caps.json", R"({"max": 2000})");
    WriteAll(root + "/finance/finance.tg",
             "policy \"composed\"\n"
             "data caps from \"caps.json\": {max: int}\n"
             "rule over_cap { when (request.max_tokens ?? 0) > caps.max deny 400 \"over the cap\" }\n");
    // Given in the opposite of canonical order.
    files = {root + "/legal/legal.tg", root + "/finance/finance.tg"};
  }
  std::vector<std::string> files;
};

std::string Input(const std::string& center, int max_tokens) {
  return R"({"principal": {"workspace": "w", "user": "u", "cost_center": ")" + center +
         R"("}, "request": {"model": "openai/gpt-4o", "max_tokens": )" + std::to_string(max_tokens) +
         R"(, "messages": [{"role": "user", "content": "hi"}]},)"
         R"( "context": {"time": "2026-01-05T10:00:00Z"}})";
}

TEST(AuditStore, ComposedPolicyWithSchemaHeaderReplays) {
  TempDir dir;
  Composed src(dir.path + "/src");
  Compiled c = CompileFiles(src.files, {});
  ASSERT_TRUE(c.policy) << c.diagnostics.Render();
  const std::string audit_dir = dir.path + "/audit";
  std::string err;
  auto log = AuditLog::Open(audit_dir, {}, &err);
  ASSERT_TRUE(log) << err;
  std::vector<std::string> outcomes;
  {
    Recorder rec(log.get(), c.policy, "", "");
    for (const auto& [center, tokens] : std::vector<std::pair<std::string, int>>{
             {"cc-1", 100}, {"cc-9", 100}, {"cc-1", 5000}, {"cc-13", 5000}}) {
      vm::Decision d;
      ASSERT_NE(rec.Decide(Input(center, tokens), &d).seq, 0u);
      outcomes.push_back(d.outcome == vm::Outcome::kAllow ? "allow" : "deny");
    }
  }
  ASSERT_TRUE(log->Close());
  EXPECT_EQ(outcomes, (std::vector<std::string>{"allow", "deny", "deny", "deny"}));

  // The working copy goes away: only the store is left.
  fs::remove_all(dir.path + "/src");
  StoredObject o;
  ASSERT_TRUE(LoadObject(audit_dir, c.policy->version_id(), true, &o, &err)) << err;
  std::map<std::string, std::string> roles;
  for (const StoredFile& f : o.files) roles[f.path] = f.role;
  EXPECT_EQ(roles, (std::map<std::string, std::string>{
                       {"part0/finance.tg", "source"},
                       {"part0/caps.json", "data"},
                       {"part1/_/legal.tg", "source"},
                       {"part1/_/data/blocked.json", "data"},
                       {"part1/ext/cc.json", "schema"}}));
  Compiled again = CompileStored(audit_dir, c.policy->version_id(), stdlib::Schema::Standard());
  ASSERT_TRUE(again.policy) << again.diagnostics.Render();
  EXPECT_EQ(again.policy->version_id(), c.policy->version_id());

  ReplayOptions ro;
  ro.dir = audit_dir;
  ReplayReport r;
  ASSERT_TRUE(Replay(ro, &r, &err)) << err;
  EXPECT_EQ(r.records, 4u);
  EXPECT_EQ(r.identical, 4u) << ReportText(r);
  EXPECT_EQ(r.failed, 0u) << ReportText(r);

  // `audit show` recompiles it too.
  RecordReader in;
  ASSERT_TRUE(in.Open(audit_dir, &err));
  RecordLine line;
  ASSERT_TRUE(in.Next(&line));
  ASSERT_TRUE(in.Next(&line));  // cc-9: denied by the rule of the second file
  std::string json;
  ASSERT_TRUE(ExplainRecord(audit_dir, line.doc["id"].GetString(), &json, &err)) << err;
  EXPECT_NE(json.find("\"identical\": true"), std::string::npos) << json;
  EXPECT_NE(json.find("blocked_center"), std::string::npos);
}

TEST(AuditStore, SingleFileWithSchemaHeader) {
  TempDir dir;
  fs::create_directories(dir.path + "/p");
  WriteAll(dir.path + "/p/cc.json",
           R"({"fields": [{"path": "principal.cost_center", "type": "string", "scope": "request"}]})");
  WriteAll(dir.path + "/p/one.tg",
           "policy \"one\"\nschema \"cc.json\"\n"
           "rule r { when (principal.cost_center ?? \"\") == \"cc-9\" deny 403 \"no\" }\n");
  auto p = MustCompile(dir.path + "/p/one.tg");
  ASSERT_TRUE(p);
  std::string id, err;
  ASSERT_TRUE(PutPolicy(dir.path + "/audit", *p, p->schema(), &id, &err)) << err;
  fs::remove_all(dir.path + "/p");
  Compiled c = CompileStored(dir.path + "/audit", id, stdlib::Schema::Standard());
  ASSERT_TRUE(c.policy) << c.diagnostics.Render();
  EXPECT_EQ(c.policy->version_id(), id);
  StoredObject o;
  ASSERT_TRUE(LoadObject(dir.path + "/audit", id, false, &o, &err));
  ASSERT_EQ(o.files.size(), 2u);
  EXPECT_EQ(o.files[0].path, "one.tg");
  EXPECT_EQ(o.files[1].path, "cc.json");
  EXPECT_EQ(o.files[1].role, "schema");
}

TEST(AuditStore, AbsoluteSchemaPathIsRefusedNotHalfStored) {
  TempDir dir;
  fs::create_directories(dir.path + "/p");
  WriteAll(dir.path + "/p/cc.json",
           R"({"fields": [{"path": "principal.cost_center", "type": "string", "scope": "request"}]})");
  WriteAll(dir.path + "/p/abs.tg", "policy \"abs\"\nschema \"" + dir.path + "/p/cc.json\"\n");
  auto p = MustCompile(dir.path + "/p/abs.tg");
  ASSERT_TRUE(p);
  std::string id, err;
  EXPECT_FALSE(PutPolicy(dir.path + "/audit", *p, p->schema(), &id, &err));
  EXPECT_NE(err.find("absolute path"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(dir.path + "/audit/store/" + p->version_id().substr(7)));
}

// A damaged object is named, not silently left out of the listing.
TEST(AuditStore, ListNamesUnreadableManifests) {
  TempDir dir;
  std::string id_a, id_b, err;
  ASSERT_TRUE(PutDocument(dir.path, "catalog", "a.json", "{\"a\": 1}", &id_a, &err)) << err;
  ASSERT_TRUE(PutDocument(dir.path, "catalog", "b.json", "{\"b\": 2}", &id_b, &err)) << err;
  WriteAll(dir.path + "/store/" + id_a.substr(7) + "/manifest.json", "{\"id\": ");
  fs::remove(dir.path + "/store/" + id_b.substr(7) + "/manifest.json");
  std::vector<StoredObject> objs;
  std::vector<std::string> unreadable;
  ASSERT_TRUE(ListObjects(dir.path, &objs, &err, &unreadable)) << err;
  EXPECT_TRUE(objs.empty());
  ASSERT_EQ(unreadable.size(), 2u);
  std::string all = unreadable[0] + "\n" + unreadable[1];
  EXPECT_NE(all.find("the manifest of `" + id_a + "` does not parse"), std::string::npos) << all;
  EXPECT_NE(all.find("`" + id_b + "` has no manifest"), std::string::npos) << all;
}

}  // namespace
}  // namespace tollgate::audit::testing
