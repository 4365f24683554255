// Golden diagnostics: every tests/check/golden/NAME.tg is checked and its
// rendered diagnostics compared with NAME.expected. Regenerate with
//   TOLLGATE_UPDATE_GOLDEN=1 build-check/tg_check_test --gtest_filter='Golden.*'
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "engine/check/check.h"
#include "engine/parse/parse.h"

namespace tollgate::checktest {
namespace {

namespace fs = std::filesystem;
const char* kDir = "tests/check/golden";

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<fs::path> Cases() {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(kDir))
    if (e.path().extension() == ".tg") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::string RenderCase(const fs::path& tg) {
  Diagnostics diags;
  std::string name = "golden/" + tg.filename().string();
  auto policy = parse::Parse(std::make_unique<SourceFile>(SourceFile{name, ReadFile(tg)}), Limits{},
                             &diags);
  if (policy) {
    check::CheckOptions opts;
    opts.base_dir = kDir;  // like the engine: relative to the policy file
    check::Check(policy.get(), opts, &diags);
  }
  diags.Sort();
  return diags.Render();
}

TEST(Golden, EveryCaseMatches) {
  bool update = getenv("TOLLGATE_UPDATE_GOLDEN") != nullptr;
  auto cases = Cases();
  ASSERT_FALSE(cases.empty());
  for (const auto& tg : cases) {
    fs::path expected = tg;
    expected.replace_extension(".expected");
    std::string got = RenderCase(tg);
    if (update) {
      std::ofstream(expected, std::ios::binary) << got;
      continue;
    }
    ASSERT_TRUE(fs::exists(expected)) << expected << " is missing; run with TOLLGATE_UPDATE_GOLDEN=1";
    EXPECT_EQ(got, ReadFile(expected)) << "golden mismatch for " << tg;
  }
}

// Every stable code of the checker appears in some golden file.
TEST(Golden, CoversEveryCode) {
  std::string all;
  for (const auto& tg : Cases()) {
    fs::path expected = tg;
    expected.replace_extension(".expected");
    all += ReadFile(expected);
  }
  for (const char* code :
       {"tg_duplicate_name", "tg_unknown_name", "tg_unknown_field", "tg_unknown_function",
        "tg_type_error", "tg_money_mismatch", "tg_scope_error", "tg_invalid_regex", "tg_data_error",
        "tg_limit_exceeded", "tg_invalid_value", "tg_test_error", "tg_not_constant",
        "tg_unused_const", "tg_unreachable", "tg_retained_text"})
    EXPECT_NE(all.find(std::string("[") + code + "]"), std::string::npos) << code;
}

// Every diagnostic (errors, warnings and notes) in every golden file of the
// repository (tests/**/*.expected) carries a `= help:` line.
TEST(Golden, EveryDiagnosticHasHelp) {
  std::regex header(R"(^\S.*(error|warning|note)\[tg_\w+\]: .*$)");
  size_t diagnostics = 0;
  for (const auto& e : fs::recursive_directory_iterator("tests")) {
    if (e.path().extension() != ".expected") continue;
    std::istringstream in(ReadFile(e.path()));
    std::string line, open;  // `open`: a header still waiting for its help line
    auto close = [&] {
      EXPECT_TRUE(open.empty()) << e.path().string() << ": no help line for\n  " << open;
      open.clear();
    };
    while (std::getline(in, line)) {
      if (std::regex_match(line, header)) {
        close();
        open = line;
        ++diagnostics;
      } else if (line.find("= help: ") != std::string::npos && line.size() > line.find("= help: ") + 8) {
        open.clear();
      }
    }
    close();
  }
  EXPECT_GT(diagnostics, 100u);
}

}  // namespace
}  // namespace tollgate::checktest

namespace tollgate::checktest {
namespace {

// The shipped example policies check without errors or warnings.
TEST(Policies, ExamplesCheckClean) {
  namespace fs = std::filesystem;
  if (!fs::exists("policies")) GTEST_SKIP() << "no policies/ directory";
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator("policies"))
    if (e.path().extension() == ".tg") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    Diagnostics diags;
    auto policy = parse::Parse(std::make_unique<SourceFile>(SourceFile{f.string(), ReadFile(f)}),
                               Limits{}, &diags);
    ASSERT_NE(policy, nullptr) << diags.Render();
    check::CheckOptions opts;
    opts.base_dir = f.parent_path().string();
    EXPECT_TRUE(check::Check(policy.get(), opts, &diags)) << f;
    diags.Sort();
    EXPECT_TRUE(diags.empty()) << diags.Render();
  }
}

}  // namespace
}  // namespace tollgate::checktest
