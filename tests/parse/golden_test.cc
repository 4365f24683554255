// Syntax-error golden files: tests/parse/golden/NAME.tg is parsed and its
// rendered diagnostics must equal NAME.expected byte for byte.
// Regenerate with TOLLGATE_UPDATE_GOLDEN=1 (then review the diff).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/ast/ast.h"
#include "engine/parse/parse.h"

namespace tollgate::parse {
namespace {

namespace fs = std::filesystem;

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(ParseGolden, SyntaxErrors) {
  const fs::path dir = "tests/parse/golden";
  ASSERT_TRUE(fs::is_directory(dir)) << "run from the repository root";
  const bool update = std::getenv("TOLLGATE_UPDATE_GOLDEN") != nullptr &&
                      std::string(std::getenv("TOLLGATE_UPDATE_GOLDEN")) == "1";
  std::vector<fs::path> cases;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".tg") cases.push_back(e.path());
  }
  std::sort(cases.begin(), cases.end());
  ASSERT_GE(cases.size(), 10u);
  for (const fs::path& tg : cases) {
    SCOPED_TRACE(tg.string());
    Diagnostics diags;
    auto policy = Parse(std::make_unique<SourceFile>(
                            SourceFile{tg.filename().string(), ReadAll(tg)}),
                        Limits{}, &diags);
    EXPECT_EQ(policy == nullptr, diags.HasErrors());
    EXPECT_TRUE(diags.HasErrors()) << "golden cases are files with errors";
    diags.Sort();
    std::string got = diags.Render();
    fs::path expected = tg;
    expected.replace_extension(".expected");
    if (update) {
      std::ofstream(expected, std::ios::binary) << got;
      continue;
    }
    ASSERT_TRUE(fs::exists(expected)) << "missing " << expected << "; run with TOLLGATE_UPDATE_GOLDEN=1";
    EXPECT_EQ(got, ReadAll(expected));
  }
}

// AST goldens: tests/parse/ast/NAME.tg must parse and ast::Dump to NAME.dump.
TEST(ParseGolden, AstDumps) {
  const fs::path dir = "tests/parse/ast";
  ASSERT_TRUE(fs::is_directory(dir)) << "run from the repository root";
  const char* env = std::getenv("TOLLGATE_UPDATE_GOLDEN");
  const bool update = env != nullptr && std::string(env) == "1";
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".tg") continue;
    SCOPED_TRACE(e.path().string());
    ++n;
    Diagnostics diags;
    auto policy = Parse(std::make_unique<SourceFile>(SourceFile{"x.tg", ReadAll(e.path())}),
                        Limits{}, &diags);
    ASSERT_TRUE(policy) << diags.Render();
    std::string got = ast::Dump(*policy) + "\n";
    fs::path expected = e.path();
    expected.replace_extension(".dump");
    if (update) {
      std::ofstream(expected, std::ios::binary) << got;
      continue;
    }
    ASSERT_TRUE(fs::exists(expected)) << "run with TOLLGATE_UPDATE_GOLDEN=1";
    EXPECT_EQ(got, ReadAll(expected));
  }
  EXPECT_GE(n, 1);
}

}  // namespace
}  // namespace tollgate::parse
