// Robustness: deterministic, seeded mutations of valid policies never crash
// the parser; every result is either an AST or at least one error (never
// both, never neither), and every diagnostic span lies inside the file.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "engine/ast/ast.h"

#include "engine/parse/format.h"
#include "engine/parse/parse.h"

namespace tollgate::parse {
namespace {

namespace fs = std::filesystem;

const char* kSeed = R"(policy "seed"
# comment
const eu: set<string> = {"DE", "FR", "NL"}
const caps = {small: 1.00 usd, "big one": 20 usd}
data ws from "ws.json": map<{allowed: list<string>, suspended?: bool}>
budget daily { key request.workspace per day limit 500.00 usd }
limit rpm { key request.user per 90s max 60 requests }
rule r mode shadow on_error skip {
  when any m in request.messages: lower(m.content) contains "x" and not (m.role in ["a", "b"])
  require provider.jurisdiction in eu and -endpoint.estimated_cost * 2 <= caps["small"] % 3
  redact dlp.credit_card as "[CARD]"
  route sort price, max_price prompt 1.5 usd, order ["x"]
  tag tier = "gold" /* inline */
  deny 451 "blocked \u00e9"
  warn "w"
}
test "t" {
  given { request.model: "m", context.tags: {"batch"} }
  candidate { provider.zdr: true }
  expect fired r
  expect route sort price
}
)";

std::vector<std::string> Corpus() {
  std::vector<std::string> out = {kSeed};
  if (fs::is_directory("policies")) {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator("policies")) {
      if (e.path().extension() == ".tg") files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      std::ifstream in(f, std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      out.push_back(ss.str());
    }
  }
  return out;
}

std::string Mutate(const std::string& src, std::mt19937* rng) {
  static const std::vector<std::string> kBits = {
      "(", ")", "[", "]", "{", "}", ",", ":", ".", "\"", "'", "@", "#", "/*", "*/", "\\",
      "not", "any", "rule", "when", "deny", "-", "+", "==", "usd", "1.2345678", "99999999999999999999",
      "\xff", "\xc3", "é", "\n", " ", "\t", "0", "x", "\"\\u", "\"\\uD800\"", "<", ">", "?"};
  std::string s = src;
  int edits = 1 + static_cast<int>((*rng)() % 4);
  for (int i = 0; i < edits && !s.empty(); ++i) {
    size_t pos = (*rng)() % (s.size() + 1);
    switch ((*rng)() % 5) {
      case 0: s.erase(pos, 1 + (*rng)() % 8); break;                   // delete
      case 1: s.insert(pos, kBits[(*rng)() % kBits.size()]); break;    // insert
      case 2: if (pos < s.size()) s[pos] = static_cast<char>((*rng)() % 256); break;
      case 3: s.resize(pos); break;                                     // truncate
      case 4: {                                                         // duplicate a slice
        size_t len = (*rng)() % 40;
        s.insert(pos, s.substr(pos < s.size() ? pos : 0, len));
        break;
      }
    }
  }
  return s;
}

TEST(ParseRobust, MutatedPoliciesNeverCrash) {
  std::mt19937 rng(20261125);
  std::vector<std::string> corpus = Corpus();
  int parsed = 0, rejected = 0;
  for (int i = 0; i < 1500; ++i) {
    std::string text = Mutate(corpus[i % corpus.size()], &rng);
    Diagnostics diags;
    auto policy = Parse(std::make_unique<SourceFile>(SourceFile{"m.tg", text}), Limits{}, &diags);
    // No AST only with an error; an AST with errors only for value errors.
    bool fatal = false;
    for (const Diagnostic& d : diags.items())
      fatal = fatal || d.code == "tg_parse_error" || d.code == "tg_limit_exceeded";
    ASSERT_EQ(policy == nullptr, fatal) << text;
    if (policy == nullptr) {
      ASSERT_TRUE(diags.HasErrors()) << text;
    }
    for (const Diagnostic& d : diags.items()) {
      ASSERT_FALSE(d.help.empty()) << text << "\n" << d.message;
      ASSERT_LE(d.span.begin, d.span.end) << text;
      ASSERT_LE(d.span.end, text.size()) << text;
      ASSERT_FALSE(d.message.empty());
      ASSERT_EQ(d.message.find('\n'), std::string::npos) << d.message;
      ASSERT_NE(d.message.back(), '.') << d.message;
    }
    (void)diags.Render();  // spans must still point at live text
    policy ? ++parsed : ++rejected;
    // The formatter agrees with the parser and never crashes either.
    Diagnostics fd;
    auto out = Format(SourceFile{"m.tg", text}, &fd);
    ASSERT_EQ(out.has_value(), policy != nullptr && !diags.HasErrors()) << text << "\n" << fd.Render();
  }
  EXPECT_GT(rejected, 500);
  EXPECT_GT(parsed, 50);  // some mutations (in comments, strings) stay valid
}

TEST(ParseRobust, RandomBytes) {
  std::mt19937 rng(7);
  for (int i = 0; i < 300; ++i) {
    std::string text = "policy \"r\"\n";
    size_t n = rng() % 200;
    for (size_t k = 0; k < n; ++k) text.push_back(static_cast<char>(rng() % 128));
    Diagnostics diags;
    auto policy = Parse(std::make_unique<SourceFile>(SourceFile{"r.tg", text}), Limits{}, &diags);
    if (policy == nullptr) {
      ASSERT_TRUE(diags.HasErrors());
    }
    for (const Diagnostic& d : diags.items()) ASSERT_FALSE(d.help.empty()) << d.message;
    Diagnostics lex;
    (void)Lex(SourceFile{"r.tg", text}, &lex);
  }
}

TEST(ParseRobust, ConcurrentParsesAgree) {
  // Parse() is reentrant: ANTLR's shared prediction cache is locked inside
  // the runtime. Every thread must build the same tree.
  Diagnostics d0;
  auto ref = Parse(std::make_unique<SourceFile>(SourceFile{"c.tg", kSeed}), Limits{}, &d0);
  ASSERT_TRUE(ref) << d0.Render();
  const std::string want = ast::Dump(*ref);
  std::vector<int> ok(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        Diagnostics d;
        auto p = Parse(std::make_unique<SourceFile>(SourceFile{"c.tg", kSeed}), Limits{}, &d);
        if (p && ast::Dump(*p) == want) ++ok[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(ok[t], 25);
}

}  // namespace
}  // namespace tollgate::parse
