// The checker never crashes: mutated versions of every golden case and
// example policy are parsed, and whatever parses is checked. Deterministic
// (fixed seed); the assertion is that Check returns and that an `ok` result
// leaves no `any`-typed evaluated node behind.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <gtest/gtest.h>

#include "engine/check/check.h"
#include "engine/parse/parse.h"

namespace tollgate::checktest {
namespace {

namespace fs = std::filesystem;

std::string Read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool AllTyped(const ast::Expr& e) {
  if (e.ref != ast::RefKind::kNamespace && e.type.is(Kind::kAny)) return false;
  for (const auto& k : e.kids)
    if (!AllTyped(*k)) return false;
  return true;
}

TEST(Robust, MutatedPoliciesNeverCrashTheChecker) {
  std::vector<fs::path> files;
  for (const char* dir : {"tests/check/golden", "policies"})
    if (fs::exists(dir))
      for (const auto& e : fs::directory_iterator(dir))
        if (e.path().extension() == ".tg") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  ASSERT_FALSE(files.empty());
  std::mt19937_64 rng(20251125);
  const char* snippets[] = {" + 1", " usd", " and provider.zdr", ".x", "[0]", " == null", "(", ")",
                            " in {1}", " matches \"(\"", " * 0.5", "dlp.email", " / 0", "any m in "};
  int checked = 0;
  for (const auto& f : files) {
    std::string base = Read(f);
    for (int i = 0; i < 60; ++i) {
      std::string src = base;
      size_t at = src.empty() ? 0 : rng() % src.size();
      switch (rng() % 3) {
        case 0: src.erase(at, 1 + rng() % 12); break;
        case 1: src.insert(at, snippets[rng() % (sizeof(snippets) / sizeof(*snippets))]); break;
        case 2: {
          size_t from = rng() % src.size();
          src.insert(at, src.substr(from, 1 + rng() % 20));
          break;
        }
      }
      Diagnostics diags;
      auto policy = parse::Parse(std::make_unique<SourceFile>(SourceFile{f.string(), src}), Limits{},
                                 &diags);
      if (!policy) continue;
      check::CheckOptions opts;
      opts.base_dir = f.parent_path().string();
      // Check's result reflects its own diagnostics (the parser may already
      // have reported a value error, such as an unknown window, and still
      // returned a tree).
      Diagnostics check_diags;
      bool ok = check::Check(policy.get(), opts, &check_diags);
      ++checked;
      EXPECT_EQ(ok, !check_diags.HasErrors()) << check_diags.Render();
      if (!ok) continue;
      for (const auto& r : policy->rules) {
        if (r.when) {
          EXPECT_TRUE(AllTyped(*r.when)) << src;
        }
        for (const auto& e : r.effects) {
          if (e.expr) {
            EXPECT_TRUE(AllTyped(*e.expr)) << src;
          }
        }
      }
    }
  }
  EXPECT_GT(checked, 50);
}

}  // namespace
}  // namespace tollgate::checktest
