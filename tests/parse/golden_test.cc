// Syntax-error golden files: tests/parse/golden/NAME.tg is parsed and its
// rendered diagnostics must equal NAME.expected byte for byte.
// Regenerate with TOLLGATE_UPDATE_GOLDEN=1 (then review the diff).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

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

}  // namespace
}  // namespace tollgate::parse
