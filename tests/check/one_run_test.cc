// "All errors of a file are reported in one run": value errors found by the
// parser (bad status, escape, window word, too-large number) leave the AST in
// place, the checker still runs, and the engine still refuses to compile.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "engine/engine.h"

namespace tollgate {
namespace {

std::multiset<std::string> Codes(const Diagnostics& d) {
  std::multiset<std::string> out;
  for (const auto& x : d.items()) out.insert(x.code);
  return out;
}

TEST(OneRun, ValueErrorsDoNotHideCheckerErrors) {
  const std::string src = R"(policy "p"
const cost = 2 usd
rule r1 {
  when request.user == "bob"
  deny 999 "no\q"
}
rule r2 {
  when cots > 1 usd
  route sort cheapest
}
budget b {
  key principal.workspace
  per dya
  limit 99999999999999999999 usd
}
limit l {
  key principal.workspace
  per day
  max 1 reqs
}
)";
  Compiled c = CompileSource("one.tg", src, CompileOptions{});
  EXPECT_EQ(c.policy, nullptr);
  std::multiset<std::string> codes = Codes(c.diagnostics);
  // Parser: status, escape, window, number. Checker: field, name, sort, unit.
  EXPECT_EQ(codes.count("tg_invalid_value"), 6u) << c.diagnostics.Render();
  EXPECT_EQ(codes.count("tg_unknown_field"), 1u) << c.diagnostics.Render();
  EXPECT_EQ(codes.count("tg_unknown_name"), 1u) << c.diagnostics.Render();
  std::string out = c.diagnostics.Render();
  EXPECT_NE(out.find("did you mean `principal.user`?"), std::string::npos) << out;
  EXPECT_NE(out.find("did you mean `cost`?"), std::string::npos) << out;
  EXPECT_NE(out.find("did you mean `day`?"), std::string::npos) << out;
  EXPECT_NE(out.find("from 400 to 599"), std::string::npos) << out;
  for (const auto& d : c.diagnostics.items()) EXPECT_FALSE(d.help.empty()) << d.message;
}

TEST(OneRun, BadEscapeIsReportedBesideAnUnterminatedComment) {
  Compiled c = CompileSource("e.tg", "policy \"p\"\nconst a = \"x\\q\"\n/* never closed\n",
                             CompileOptions{});
  EXPECT_EQ(c.policy, nullptr);
  std::string out = c.diagnostics.Render();
  EXPECT_NE(out.find("invalid escape `\\q`"), std::string::npos) << out;
  EXPECT_NE(out.find("unterminated comment"), std::string::npos) << out;
}

TEST(OneRun, AnUnknownTypeIsReportedOnce) {
  Compiled c = CompileSource("t.tg",
                             "policy \"p\"\ndata d from \"missing.json\": list<strng>\n"
                             "const a: {x: intt} = {x: 1}\n"
                             "rule r {\n  when length(d) > 0 and a.x == 1\n  deny \"x\"\n}\n",
                             CompileOptions{});
  EXPECT_EQ(c.policy, nullptr);
  std::multiset<std::string> codes = Codes(c.diagnostics);
  EXPECT_EQ(codes.size(), 2u) << c.diagnostics.Render();
  EXPECT_EQ(codes.count("tg_unknown_type"), 2u) << c.diagnostics.Render();
}

TEST(OneRun, CleanFileStillCompiles) {
  Compiled c = CompileSource("ok.tg", "policy \"p\"\nrule r {\n  when request.model == \"x\"\n  deny 429 \"slow\"\n}\n",
                             CompileOptions{});
  EXPECT_NE(c.policy, nullptr) << c.diagnostics.Render();
}

}  // namespace
}  // namespace tollgate
