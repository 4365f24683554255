// Disassembly golden files: tests/vm/golden/NAME.tg compiles to the listing
// in NAME.disasm. TOLLGATE_UPDATE_GOLDEN=1 rewrites the listings.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "engine/engine.h"
#include "engine/vm/vm.h"

namespace tollgate::vmtest {
namespace {

namespace fs = std::filesystem;

std::string Read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The version id hashes ast::Dump, which other stages may legitimately
// change; it is tested in combining_test.cc, not here.
std::string Normalize(const std::string& listing) {
  return std::regex_replace(listing, std::regex("sha256:[0-9a-f]{64}"), "sha256:<hash>");
}

TEST(Golden, Disassembly) {
  fs::path dir = "tests/vm/golden";
  ASSERT_TRUE(fs::is_directory(dir)) << "run from the repository root";
  bool update = std::getenv("TOLLGATE_UPDATE_GOLDEN") != nullptr;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".tg") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  ASSERT_FALSE(files.empty());
  for (const fs::path& tg : files) {
    SCOPED_TRACE(tg.string());
    // The RE2 scan engine: listings do not depend on whether the build has
    // Hyperscan (tests/vm/scan_index_test.cc checks the Hyperscan annotations).
    CompileOptions opts;
    opts.scan_engine = scan::Engine::kRE2;
    Compiled c = CompileFile(tg.string(), opts);
    ASSERT_TRUE(c.policy) << c.diagnostics.Render();
    std::string got = Normalize(vm::Disassemble(c.policy->program()));
    fs::path want_path = tg;
    want_path.replace_extension(".disasm");
    if (update) {
      std::ofstream(want_path, std::ios::binary) << got;
      continue;
    }
    ASSERT_TRUE(fs::exists(want_path)) << "missing " << want_path << "; run with TOLLGATE_UPDATE_GOLDEN=1";
    EXPECT_EQ(got, Read(want_path)) << "listing changed; if intended, run with TOLLGATE_UPDATE_GOLDEN=1";
  }
}

}  // namespace
}  // namespace tollgate::vmtest
