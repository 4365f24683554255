// The bytes of a decision record for fixed entries, pinned: the writer's
// composition (member order, the input kept as received or re-serialized,
// the content section, the hash over the line) must not change when the
// writer is made faster. Everything but `prev` (the hash of the file's
// header, which holds the time the file was opened) and `hash` is compared
// byte for byte; `hash` is checked against the line's bytes.
#include <gtest/gtest.h>

#include <filesystem>
#include <vector>

#include "engine/core/sha256.h"
#include "stdlib/builtins.h"
#include "runtime/audit/internal/content.h"
#include "runtime/audit/log.h"
#include "runtime/audit/reader.h"
#include "tests/audit/audit_helpers.h"

namespace tollgate::audit::testing {
namespace {
namespace fs = std::filesystem;

struct Case {
  std::string input;
  std::string want;  // the record from `"policy"` to just before `,"hash":`
};

// Appends one entry per case under a policy with `retention` and a fixed
// HMAC key, then checks each record line.
void Check(const std::string& retention, const std::vector<Case>& cases, bool full_entry) {
  TempDir dir;
  const std::string policy = dir.path + "/p.tg";
  WriteAll(policy, "policy \"pinned\" retain content " + retention + "\n" +
                       "rule big { when (request.max_tokens ?? 0) > 1000 deny 400 \"too big\" }\n");
  auto p = MustCompile(policy);
  ASSERT_TRUE(p);
  const std::string audit = dir.path + "/audit";
  fs::create_directories(audit);
  WriteAll(audit + "/key", std::string(64, 'a') + "\n");  // a fixed HMAC key
  std::string err;
  auto log = AuditLog::Open(audit, {}, &err);
  ASSERT_TRUE(log) << err;
  auto subject = log->Register(*p, {}, &err);
  ASSERT_TRUE(subject) << err;
  for (const Case& c : cases) {
    Entry e;
    e.subject = subject;
    e.id = "01M8R3NRCPBTCDVS0AAKRC8XW6";  // fixes `time` too
    e.input = c.input;
    e.decision = R"({"outcome":"allow","status":200,"code":"ok","reason":"","rules":[]})";
    if (full_entry) {
      e.endpoints = R"([{"id":"m@p","provider":"p","model":"m","estimated_cost":"0.000124"}])";
      e.clock = "2026-12-01T06:11:34.927Z";
      e.counters = R"({"budgets":{"daily":{"key":"w","spent_micros":0,"remaining_micros":5,"limit_micros":5}},"limits":{}})";
      e.admission = R"({"admitted":true,"reservation":1})";
      e.gateway = R"({"status":200,"endpoint":"m@p","upstream_status":200,"attempts":1,"cost":"0.000017"})";
      e.shadow = R"({"version":"sha256:00","outcome":"allow","status":200,"code":"ok","endpoint":"m@p","redactions":0,"differences":[]})";
    }
    EXPECT_NE(log->Append(std::move(e)).seq, 0u);
    ASSERT_TRUE(log->Drain());
  }
  ASSERT_TRUE(log->Close());
  std::vector<std::string> lines;
  {
    std::string all = ReadAll(LogFilePath(audit, 1));
    size_t at = 0;
    while (at < all.size()) {
      size_t nl = all.find('\n', at);
      ASSERT_NE(nl, std::string::npos);
      lines.push_back(all.substr(at, nl - at));
      at = nl + 1;
    }
  }
  ASSERT_EQ(lines.size(), cases.size() + 2);  // file header, records, seal
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string& line = lines[i + 1];
    SCOPED_TRACE("record " + std::to_string(i));
    const std::string head =
        R"({"kind":"decision","id":"01M8R3NRCPBTCDVS0AAKRC8XW6","time":"2026-12-01T06:11:34.934Z","prev":")";
    ASSERT_EQ(line.compare(0, head.size(), head), 0) << line;
    const size_t prev_end = head.size() + 64;
    ASSERT_EQ(line.compare(prev_end, 2, "\","), 0) << line;
    const size_t hash_at = line.rfind(",\"hash\":\"");
    ASSERT_NE(hash_at, std::string::npos);
    EXPECT_EQ(line.substr(prev_end + 2, hash_at - prev_end - 2), subject->header + cases[i].want);
    EXPECT_EQ(line.substr(hash_at), ",\"hash\":\"" + Sha256Hex(line.substr(0, hash_at)) + "\"}");
    // Each record chains to the line before it.
    const size_t prev_hash_at = lines[i].rfind(",\"hash\":\"") + 9;
    EXPECT_EQ(line.substr(head.size(), 64), lines[i].substr(prev_hash_at, 64));
  }
}

TEST(AuditRecordBytes, FullRetentionKeepsTheInputAsReceived) {
  // Kept byte for byte (raw CR/LF between tokens become spaces): escapes,
  // number texts, spacing, member order.
  Check("full",
        {{"{\"principal\":{\"workspace\":\"W\", \"user\":\"u\\u00e9\"},\r\n\"request\":{\"model\":\"M\",\n"
          "  \"messages\":[{\"role\":\"user\",\"content\":\"Hi \\\"there\\\" caf\xC3\xA9 \\/ \\n\"}],"
          "\"temperature\":1.50e+0,\"max_tokens\":200}}",
          R"(,"clock":null,"counters":null,"input":{"principal":{"workspace":"W", "user":"u\u00e9"},  "request":{"model":"M",   "messages":[{"role":"user","content":"Hi \"there\" café \/ \n"}],"temperature":1.50e+0,"max_tokens":200}},"decision":{"outcome":"allow","status":200,"code":"ok","reason":"","rules":[]},"endpoints":null)"},
         // A word that looks like a credential's name, in a value: the input
         // is written again from its parse (the same JSON, spacing dropped).
         {"{\"request\":{\"model\":\"M\", \"messages\":[{\"role\":\"user\",\"content\":\"my Password is \\u00e9 \\/\"}],\"temperature\":1.50e+0}}",
          R"(,"clock":null,"counters":null,"input":{"request":{"model":"M","messages":[{"role":"user","content":"my Password is é /"}],"temperature":1.50e+0}},"decision":{"outcome":"allow","status":200,"code":"ok","reason":"","rules":[]},"endpoints":null)"},
         // A credential member and an API key in a text: cut out, listed.
         {R"({"request":{"model":"M","Api_Key":"k-1","messages":[{"role":"user","content":"key sk-proj-abcdefghijklmnopqrstuvwxyz012345 ok"}]}})",
          R"(,"clock":null,"counters":null,"input":{"request":{"model":"M","Api_Key":"[removed]","messages":[{"role":"user","content":"key [credential] ok"}]}},"content":{"retain":"full","scrubbed":["request.Api_Key","request.messages[0].content"]},"decision":{"outcome":"allow","status":200,"code":"ok","reason":"","rules":[]},"endpoints":null)"}},
        false);
}

TEST(AuditRecordBytes, EveryMemberOfAGatewayRecord) {
  Check("full",
        {{R"({"principal":{"workspace":"w"},"request":{"model":"m","messages":[{"role":"user","content":"hi"}]}})",
          R"(,"clock":"2026-12-01T06:11:34.927Z","counters":{"budgets":{"daily":{"key":"w","spent_micros":0,"remaining_micros":5,"limit_micros":5}},"limits":{}},"admission":{"admitted":true,"reservation":1},"input":{"principal":{"workspace":"w"},"request":{"model":"m","messages":[{"role":"user","content":"hi"}]}},"decision":{"outcome":"allow","status":200,"code":"ok","reason":"","rules":[]},"endpoints":[{"id":"m@p","provider":"p","model":"m","estimated_cost":"0.000124"}],"gateway":{"status":200,"endpoint":"m@p","upstream_status":200,"attempts":1,"cost":"0.000017"},"shadow":{"version":"sha256:00","outcome":"allow","status":200,"code":"ok","endpoint":"m@p","redactions":0,"differences":[]})"}},
        true);
}

TEST(AuditRecordBytes, HashRetentionKeepsLengthsAndHmacs) {
  Check("hash",
        {{R"({"principal":{"workspace":"w","user":"u"},"request":{"model":"m","user":"end-user","messages":[{"role":"user","content":"hello there"}],"max_tokens":10}})",
          // HMAC-SHA-256 under the key "aaaa..." (64 characters): of "hello
          // there" and of "end-user" (checked with Python's hmac module).
          R"(,"clock":null,"counters":null,"input":{"principal":{"workspace":"w","user":"u"},"request":{"model":"m","user":"","messages":[{"role":"user","content":""}],"max_tokens":10}},"content":{"retain":"hash","format":6,"lengths":[8,11],"hmac":["fe26c241d387689fe7fb538165f7f0b143ae74d7c2dd5a6bb469f2712b646d06","42bde18efd1520b656b9ceb4b1881443009f389474080cd6aeb06c312105f7cc"],"detectors":{},"omitted":[],"scrubbed":[]},"decision":{"outcome":"allow","status":200,"code":"ok","reason":"","rules":[]},"endpoints":null)"}},
        false);
}

// The writer runs the dlp.api_key regex over an input only when one of its
// literals occurs (internal::MayHoldApiKey): every kind of key it finds has one.
TEST(AuditRecordBytes, ApiKeyPrecheckPassesEveryKindOfKey) {
  const int id = stdlib::FindDetector("dlp.api_key");
  ASSERT_GE(id, 0);
  // Letters and digits (the detector's validation wants both).
  auto mixed = [](size_t n) {
    std::string s;
    for (size_t i = 0; i < n; ++i) s += (i % 3 == 0) ? static_cast<char>('0' + i % 10) : static_cast<char>('A' + i % 26);
    return s;
  };
  const std::string a36 = mixed(36);
  for (const std::string& key :
       {std::string("sk-proj-abcdefghijklmnopqrstuvwxyz012345"), std::string("sk-abcdefghijklmnopqrstuvwxyz9"),
        std::string("sk-ant-api03-abcdefghijklmnopqrstuvwxyz7"), std::string("AKIAABCDEFGH12345678"),
        std::string("ASIAABCDEFGH12345678"), "ghp_" + a36, "gho_" + a36, "ghu_" + a36, "ghs_" + a36,
        "ghr_" + a36, "github_pat_" + mixed(22), std::string("xoxb-1234567890abc"),
        "AIza" + mixed(35), "sk_live_" + mixed(16), "rk_live_" + mixed(16),
        std::string("-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD9\n-----END RSA PRIVATE KEY-----")}) {
    const std::string text = "{\"content\":\"here: " + key + " ok\"}";
    EXPECT_TRUE(stdlib::DetectorMatches(id, text)) << key;
    EXPECT_TRUE(internal::MayHoldApiKey(text)) << key;
  }
  const std::string plain = R"({"model":"gpt","messages":[{"role":"user","content":"high ghosts skip a task"}],"max_tokens":5})";
  EXPECT_FALSE(internal::MayHoldApiKey(plain));
  EXPECT_FALSE(stdlib::DetectorMatches(id, plain));
}

}  // namespace
}  // namespace tollgate::audit::testing
