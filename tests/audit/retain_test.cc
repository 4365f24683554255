// The `retain content full|hash|none` header clause: parsed, checked,
// formatted, part of the version id only when not the default.
#include <gtest/gtest.h>

#include "engine/engine.h"
#include "engine/parse/format.h"

namespace tollgate {
namespace {

Compiled Compile(const std::string& text) { return CompileSource("retain.tg", text, {}); }

TEST(AuditRetain, ParsesEachLevel) {
  const std::string rule = "\nrule r { when (request.max_tokens ?? 0) > 1 deny \"no\" }\n";
  struct Case { const char* header; ast::Retention want; };
  for (const Case& c : {Case{"policy \"p\"", ast::Retention::kFull},
                        Case{"policy \"p\" retain content full", ast::Retention::kFull},
                        Case{"policy \"p\" retain content hash", ast::Retention::kHash},
                        Case{"policy \"p\"\nretain content none", ast::Retention::kNone}}) {
    Compiled r = Compile(c.header + rule);
    ASSERT_TRUE(r.policy) << c.header << "\n" << r.diagnostics.Render();
    EXPECT_EQ(r.policy->ast().retain, c.want) << c.header;
  }
}

TEST(AuditRetain, BadClausesAreDiagnosed) {
  const std::string rule = "\nrule r { when (request.max_tokens ?? 0) > 1 deny \"no\" }\n";
  Compiled a = Compile("policy \"p\" retain content maybe" + rule);
  EXPECT_FALSE(a.policy);
  EXPECT_NE(a.diagnostics.Render().find("tg_invalid_value"), std::string::npos);
  EXPECT_NE(a.diagnostics.Render().find("unknown retention `maybe`"), std::string::npos);
  Compiled b = Compile("policy \"p\" retain text hash" + rule);
  EXPECT_FALSE(b.policy);
  EXPECT_NE(b.diagnostics.Render().find("expected `retain content full|hash|none`"), std::string::npos);
}

TEST(AuditRetain, ContentStaysAFieldName) {
  Compiled c = Compile(
      "policy \"p\" retain content hash\n"
      "rule r { when request.content contains \"hash\" and principal.workspace != \"none\" deny \"x\" }\n");
  ASSERT_TRUE(c.policy) << c.diagnostics.Render();
}

TEST(AuditRetain, VersionIdChangesOnlyWhenNotDefault) {
  const std::string rule = "\nrule r { when (request.max_tokens ?? 0) > 1 deny \"no\" }\n";
  auto id = [&](const std::string& header) {
    Compiled c = Compile(header + rule);
    return c.policy ? c.policy->version_id() : std::string();
  };
  EXPECT_EQ(id("policy \"p\""), id("policy \"p\" retain content full"));
  EXPECT_NE(id("policy \"p\""), id("policy \"p\" retain content hash"));
  EXPECT_NE(id("policy \"p\" retain content hash"), id("policy \"p\" retain content none"));
}

TEST(AuditRetain, FormatterKeepsTheClauseOnTheHeaderLine) {
  SourceFile f{"retain.tg", "policy \"p\"\n   retain   content    hash\nrule r { when (request.max_tokens ?? 0) > 1 deny \"no\" }\n"};
  Diagnostics d;
  auto out = parse::Format(f, &d);
  ASSERT_TRUE(out.has_value()) << d.Render();
  EXPECT_EQ(out->rfind("policy \"p\" retain content hash\n", 0), 0u) << *out;
}

}  // namespace
}  // namespace tollgate
