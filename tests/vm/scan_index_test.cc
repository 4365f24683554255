// Fused scans agree with separate RE2 matches; the rule index gives the same
// decisions as evaluating every rule; many threads share one Program.
#include <gtest/gtest.h>
#include <re2/re2.h>

#include <random>
#include <thread>

#include "engine/vm/scan.h"
#include "tests/vm/vm_helpers.h"

namespace tollgate::vmtest {
namespace {

std::string Canon(const vm::Decision& d, const Policy& p) {
  std::string s = d.outcome == vm::Outcome::kDeny ? "deny " : "allow ";
  s += std::to_string(d.status) + " " + std::string(d.code) + " " + d.reason + " |";
  for (const auto& n : Names(p, d.fired)) s += " " + n;
  s += " | shadow";
  for (const auto& n : Names(p, d.shadow)) s += " " + n;
  s += " | req";
  for (const auto& r : d.require_refs) s += " " + std::to_string(r.require);
  s += " | err";
  for (const auto& e : d.errors) s += " " + std::to_string(e.rule) + ":" + std::string(e.code);
  s += " | tags";
  for (const auto& t : d.tags) s += " " + std::string(t.key) + "=" + ToJson(t.value);
  return s;
}

TEST(Scanner, ReportsMatchingIds) {
  std::string err;
  auto s = vm::Scanner::Build({"abc", "x+y", "^start", "nomatch"}, {}, &err);
  ASSERT_TRUE(s) << err;
  std::vector<int> ids;
  ASSERT_TRUE(s->Scan("start with abc and xxy", &ids));
  EXPECT_EQ(ids, (std::vector<int>{0, 1, 2}));
  ASSERT_TRUE(s->Scan("", &ids));
  EXPECT_TRUE(ids.empty());
  EXPECT_FALSE(vm::Scanner::Build({"("}, {}, &err));
  EXPECT_FALSE(err.empty());
  EXPECT_FALSE(vm::Scanner::Build({}, {}, &err));
}

TEST(FusedScan, AgreesWithSeparateRe2Matches) {
  const std::vector<std::string> regexes = {
      "a+b", "[0-9]{3}", "(?i)hello", "^x", "y$", "foo|bar", "\\bword\\b", "q.?q", "[^a-z]{2}", "z"};
  const std::vector<std::string> literals = {"a.b", "(", "xy", "word", "*"};
  std::string src;
  for (size_t i = 0; i < regexes.size(); ++i) {
    std::string escaped;
    for (char ch : regexes[i]) {
      if (ch == '\\' || ch == '"') escaped += '\\';
      escaped += ch;
    }
    src += "rule re" + std::to_string(i) + " { when request.content matches \"" + escaped + "\" warn \"w\" }\n";
  }
  for (size_t i = 0; i < literals.size(); ++i) {
    src += "rule lit" + std::to_string(i) + " { when request.content contains \"" + literals[i] + "\" warn \"w\" }\n";
  }
  auto p = Compile(src);
  ASSERT_TRUE(p);
  std::mt19937 rng(7);
  const std::string alphabet = "abxyzqQ0123 ()*.helloHELLOwordfoobar\n";
  for (int iter = 0; iter < 400; ++iter) {
    std::string text;
    int n = rng() % 40;
    for (int i = 0; i < n; ++i) text += alphabet[rng() % alphabet.size()];
    auto req = Request().Str("request.content", text).Take();
    auto d = Eval(*p, *req);
    std::vector<bool> fired(regexes.size() + literals.size(), false);
    for (uint32_t r : d->fired) fired[r] = true;
    for (size_t i = 0; i < regexes.size(); ++i) {
      EXPECT_EQ(fired[i], RE2::PartialMatch(text, RE2(regexes[i]))) << regexes[i] << " on `" << text << "`";
    }
    for (size_t i = 0; i < literals.size(); ++i) {
      EXPECT_EQ(fired[regexes.size() + i], text.find(literals[i]) != std::string::npos)
          << literals[i] << " on `" << text << "`";
    }
  }
}

TEST(FusedScan, OneGroupPerField) {
  auto p = Compile(
      "rule a { when request.content matches dlp.credit_card and request.content contains \"x\" deny \"a\" }\n"
      "rule b { when request.content matches \"k+\" or principal.user contains \"x\" deny \"b\" }\n");
  std::string dis = vm::Disassemble(p->program());
  EXPECT_NE(dis.find("G0  request.content (3 patterns, one scan)"), std::string::npos) << dis;
  EXPECT_NE(dis.find("G1  principal.user (1 patterns, one scan)"), std::string::npos) << dis;
}

// Builds a policy whose rules are indexable (`field == "v"`, `field in {..}`)
// and, with `defeat`, the same logic written so that the index cannot apply.
std::string IndexPolicy(bool defeat) {
  std::string src;
  auto wrap = [&](const std::string& test) { return defeat ? "(" + test + ") == true" : test; };
  for (int i = 0; i < 60; ++i) {
    std::string m = "\"model" + std::to_string(i % 12) + "\"";
    std::string w = "\"ws" + std::to_string(i % 5) + "\"";
    switch (i % 5) {
      case 0: src += "rule r" + std::to_string(i) + " { when " + wrap("request.model == " + m) + " and request.max_tokens > " + std::to_string(i) + " deny " + std::to_string(400 + i) + " \"r\" }\n"; break;
      case 1: src += "rule r" + std::to_string(i) + " { when " + wrap("principal.workspace in {" + w + ", \"wsX\"}") + " tag t" + std::to_string(i) + " = request.model }\n"; break;
      case 2: src += "rule r" + std::to_string(i) + " { when " + wrap("principal.user == \"u" + std::to_string(i % 3) + "\"") + " require provider.zdr }\n"; break;
      case 3: src += "rule r" + std::to_string(i) + " { when " + wrap("principal.jurisdiction in {\"DE\", \"FR\"}") + " and request.model != " + m + " deny 451 \"geo\" }\n"; break;
      case 4: src += "rule r" + std::to_string(i) + " { when request.max_tokens > " + std::to_string(i * 10) + " warn \"big\" }\n"; break;
    }
  }
  return src;
}

TEST(RuleIndex, IndexedAndUnindexedAgree) {
  auto indexed = Compile(IndexPolicy(false));
  auto plain = Compile(IndexPolicy(true));
  ASSERT_TRUE(indexed && plain);
  std::string dis = vm::Disassemble(indexed->program());
  EXPECT_NE(dis.find("request.model:"), std::string::npos);
  EXPECT_NE(dis.find("principal.workspace:"), std::string::npos);
  EXPECT_EQ(vm::Disassemble(plain->program()).find("request.model:"), std::string::npos);
  std::mt19937 rng(11);
  for (int iter = 0; iter < 500; ++iter) {
    Builder b = Request();
    b.Str("request.model", "model" + std::to_string(rng() % 14));
    if (rng() % 4) b.Str("principal.workspace", "ws" + std::to_string(rng() % 7));
    if (rng() % 3) b.Str("principal.user", "u" + std::to_string(rng() % 4));
    if (rng() % 3) b.Str("principal.jurisdiction", rng() % 2 ? "DE" : "US");
    if (rng() % 3) b.Int("request.max_tokens", rng() % 700);
    auto req = b.Take();
    auto a = Eval(*indexed, *req);
    auto c = Eval(*plain, *req);
    auto t = Eval(*indexed, *req, /*trace=*/true);  // trace mode evaluates every rule
    EXPECT_EQ(Canon(*a, *indexed), Canon(*c, *plain));
    EXPECT_EQ(Canon(*a, *indexed), Canon(*t, *indexed));
  }
}

TEST(RuleIndex, NullIndexedInFieldStillErrors) {
  auto p = Compile("rule r { when principal.jurisdiction in {\"DE\"} deny \"x\" }\n");
  auto d = Eval(*p, *Request().Take());
  ASSERT_EQ(d->errors.size(), 1u);
  EXPECT_EQ(d->errors[0].code, vm::kErrMissingField);
}

TEST(Threads, SharedProgramGivesIdenticalDecisions) {
  auto p = Compile(IndexPolicy(false) +
                   "rule scan { when request.content matches dlp.email or request.content contains \"secret\" deny \"s\" }\n");
  ASSERT_TRUE(p);
  std::vector<std::unique_ptr<vm::Record>> reqs;
  std::mt19937 rng(3);
  for (int i = 0; i < 64; ++i) {
    Builder b = Request();
    b.Str("request.model", "model" + std::to_string(rng() % 14));
    b.Str("principal.workspace", "ws" + std::to_string(rng() % 7));
    if (rng() % 2) b.Int("request.max_tokens", rng() % 700);
    b.Messages({{"user", rng() % 2 ? "mail me at a@b.io" : "a secret plan"}, {"user", "x"}});
    reqs.push_back(b.Take());
  }
  std::vector<std::string> expected;
  for (auto& r : reqs) expected.push_back(Canon(*Eval(*p, *r), *p));
  const int kThreads = 4;
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      vm::Decision d;
      for (int round = 0; round < 200; ++round) {
        size_t i = (round * 7 + t) % reqs.size();
        vm::Evaluate(p->program(), *reqs[i], {}, &d);
        if (Canon(d, *p) != expected[i]) ++mismatches[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

}  // namespace
}  // namespace tollgate::vmtest
