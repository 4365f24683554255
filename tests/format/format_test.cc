// `tollgate fmt`: idempotence and "same AST" over every example policy and
// over generated inputs with odd whitespace and comments; golden before/after
// cases in tests/format/golden (NAME.tg -> NAME.formatted; regenerate with
// TOLLGATE_UPDATE_GOLDEN=1).
#include "engine/parse/format.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
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

std::unique_ptr<ast::Policy> P(const std::string& text) {
  Diagnostics d;
  return Parse(std::make_unique<SourceFile>(SourceFile{"f.tg", text}), Limits{}, &d);
}

std::string Fmt(const std::string& text) {
  Diagnostics d;
  auto out = Format(SourceFile{"f.tg", text}, &d);
  EXPECT_TRUE(out.has_value()) << d.Render() << "\n" << text;
  return out.value_or("");
}

std::vector<std::string> CommentTexts(const std::string& text) {
  Diagnostics d;
  std::vector<std::string> out;
  for (const Token& t : Lex(SourceFile{"f.tg", text}, &d)) {
    if (t.kind != Token::kComment) continue;
    std::string s = t.text;
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.pop_back();
    out.push_back(s);
  }
  return out;
}

// The properties every formatted file has.
void CheckProperties(const std::string& text) {
  auto before = P(text);
  ASSERT_TRUE(before) << text;
  std::string once = Fmt(text);
  ASSERT_FALSE(once.empty());
  EXPECT_EQ(Fmt(once), once) << "not idempotent:\n" << once;
  auto after = P(once);
  ASSERT_TRUE(after) << once;
  EXPECT_TRUE(ast::SameTree(*before, *after)) << once;
  EXPECT_EQ(CommentTexts(once), CommentTexts(text));
  EXPECT_EQ(once.back(), '\n');
  EXPECT_EQ(once.find("\n\n\n"), std::string::npos) << once;
  EXPECT_EQ(once.find(" \n"), std::string::npos) << "trailing space:\n" << once;
  EXPECT_EQ(once.find('\t'), std::string::npos);
}

std::vector<fs::path> PolicyFiles() {
  std::vector<fs::path> files;
  for (const char* dir : {"policies", "tests/format/golden"}) {
    if (!fs::is_directory(dir)) continue;
    for (const auto& e : fs::directory_iterator(dir)) {
      if (e.path().extension() == ".tg") files.push_back(e.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

TEST(Format, ExamplePoliciesAreStable) {
  std::vector<fs::path> files = PolicyFiles();
  ASSERT_FALSE(files.empty());
  for (const fs::path& f : files) {
    SCOPED_TRACE(f.string());
    CheckProperties(ReadAll(f));
  }
}

// Re-spaces a valid policy token by token: random runs of spaces, tabs,
// newlines and blank lines, plus comments sprinkled in; the AST is unchanged.
std::string Scramble(const std::string& text, std::mt19937* rng) {
  Diagnostics d;
  std::vector<Token> toks = Lex(SourceFile{"f.tg", text}, &d);
  static const char* kGaps[] = {" ", "  ", "\t", "\n", "\n\n", "\n\n\n   ", " \r\n", "\n  \t "};
  std::string out;
  for (size_t i = 0; i < toks.size(); ++i) {
    const Token& t = toks[i];
    if (i > 0) out += kGaps[(*rng)() % 8];
    bool line_comment = t.kind == Token::kComment && (t.text[0] == '#' || t.text[1] == '/');
    out += t.text;
    if (line_comment) out += "\n";
    switch ((*rng)() % 23) {
      case 0: out += " # note " + std::to_string(i) + "\n"; break;
      case 1: out += " /* c" + std::to_string(i) + " */"; break;
      case 2: out += "\n// standalone " + std::to_string(i) + "\n"; break;
      default: break;
    }
  }
  return out;
}

TEST(Format, ScrambledWhitespaceAndComments) {
  std::mt19937 rng(424242);
  std::vector<fs::path> files = PolicyFiles();
  ASSERT_FALSE(files.empty());
  for (int round = 0; round < 4; ++round) {
    for (const fs::path& f : files) {
      SCOPED_TRACE(f.string() + " round " + std::to_string(round));
      std::string scrambled = Scramble(ReadAll(f), &rng);
      auto original = P(ReadAll(f));
      auto mixed = P(scrambled);
      ASSERT_TRUE(mixed) << scrambled;
      ASSERT_TRUE(ast::SameTree(*original, *mixed));
      CheckProperties(scrambled);
    }
  }
}

TEST(Format, RefusesFilesWithErrors) {
  Diagnostics d;
  EXPECT_FALSE(Format(SourceFile{"bad.tg", "policy \"x\" rule {"}, &d).has_value());
  EXPECT_TRUE(d.HasErrors());
  EXPECT_EQ(d.items()[0].code, "tg_parse_error");
}

TEST(Format, Basics) {
  EXPECT_EQ(Fmt("policy   \"x\"\nconst a=[1,2,3,]\nconst b ={ \"a\" :1 }"),
            "policy \"x\"\n\nconst a = [1, 2, 3]\nconst b = {\"a\": 1}\n");
  EXPECT_EQ(Fmt("policy \"x\" rule r { when a.b==-1 and f( x ,y )[0]>2 deny 403 \"n\" }"),
            "policy \"x\"\n\nrule r {\n  when a.b == -1 and f(x, y)[0] > 2\n  deny 403 \"n\"\n}\n");
  EXPECT_EQ(Fmt("policy \"x\" const t: map< {a:int,b ? :set<string>} > = {}"),
            "policy \"x\"\n\nconst t: map<{a: int, b?: set<string>}> = {}\n");
  EXPECT_EQ(Fmt("\xEF\xBB\xBFpolicy \"x\" # bom\n"), "policy \"x\" # bom\n");
  EXPECT_EQ(Fmt("policy \"x\" budget b { key k per day limit 1 usd }"),
            "policy \"x\"\n\nbudget b {\n  key k\n  per day\n  limit 1 usd\n}\n");
}

TEST(FormatGolden, BeforeAfter) {
  const fs::path dir = "tests/format/golden";
  ASSERT_TRUE(fs::is_directory(dir)) << "run from the repository root";
  const char* env = std::getenv("TOLLGATE_UPDATE_GOLDEN");
  const bool update = env != nullptr && std::string(env) == "1";
  int n = 0;
  for (const fs::path& tg : PolicyFiles()) {
    if (tg.parent_path() != dir) continue;
    SCOPED_TRACE(tg.string());
    ++n;
    std::string got = Fmt(ReadAll(tg));
    fs::path expected = tg;
    expected.replace_extension(".formatted");
    if (update) {
      std::ofstream(expected, std::ios::binary) << got;
      continue;
    }
    ASSERT_TRUE(fs::exists(expected)) << "run with TOLLGATE_UPDATE_GOLDEN=1";
    EXPECT_EQ(got, ReadAll(expected));
  }
  EXPECT_GE(n, 3);
}

}  // namespace
}  // namespace tollgate::parse
