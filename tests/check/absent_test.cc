// Pass `optional`: a field whose absence has a meaning -- `stream` left out
// does not stream, `provider.allow_fallbacks` left out allows fallbacks --
// compared with that very value (`request.stream == false`), or defaulted to
// another (`request.provider.allow_fallbacks ?? false`), reads a request that
// leaves it out unlike one that sends the value it means
// (tg_absent_means_default, stdlib/field_values.h AbsentMeanings).
#include <gtest/gtest.h>

#include "stdlib/field_values.h"
#include "stdlib/schema.h"
#include "tests/check/check_helpers.h"

namespace tollgate::checktest {
namespace {

using V = std::vector<std::string>;

Checked Rule(const std::string& body) { return CheckSource("policy \"p\"\n" + body + "\n"); }

TEST(AbsentMeaning, AComparisonWithTheValueAbsenceMeansWarns) {
  const char* const warned[] = {
      // absent `stream` does not stream: the rule passes every request that leaves it out
      "rule r { when context.environment == \"production\" and request.stream == false deny 400 \"stream\" }",
      "rule r { when false == request.stream deny 400 \"stream\" }",
      // absent `stream` is taken as streaming
      "rule r { when request.stream != false warn \"streams\" }",
      // OpenRouter allows fallbacks unless told not to
      "rule r { when context.data_class == \"confidential\" and request.provider.allow_fallbacks == true deny \"pin\" }",
      "rule r { when request.provider.require_parameters == false warn \"x\" }",
      "rule r { when request.provider.zdr == false and context.data_class == \"restricted\" deny \"zdr\" }",
      "rule r { when request.provider.data_collection == \"allow\" deny \"dc\" }",
      "rule r { when request.service_tier == \"auto\" warn \"auto\" }",
      // a tag value reads it the same way
      "rule r { tag streaming = request.stream != false }",
      // a default that is not what absence means
      "rule r { when request.provider.allow_fallbacks ?? false deny \"fallbacks\" }",
      "rule r { when not (request.stream ?? true) deny 400 \"stream\" }",
      "rule r { when (request.provider.data_collection ?? \"deny\") == \"allow\" deny \"dc\" }",
      "rule r { when (request.service_tier ?? \"default\") == \"default\" warn \"std\" }",
  };
  for (const char* d : warned) {
    auto c = Rule(d);
    EXPECT_EQ(c.Codes(), V{"tg_absent_means_default"}) << d << "\n" << c.Render();
  }
}

TEST(AbsentMeaning, WhatReadsAbsenceAsItsMeaningIsFine) {
  const char* const fine[] = {
      "rule r { when request.stream == true deny 400 \"no streaming\" }",
      "rule r { when request.stream != true deny 400 \"stream\" }",
      "rule r { when not (request.stream ?? false) deny 400 \"stream\" }",
      "rule r { when (request.stream ?? false) == false deny 400 \"stream\" }",
      "rule r { when request.provider.allow_fallbacks == false warn \"pinned\" }",
      "rule r { when request.provider.allow_fallbacks ?? true deny \"fallbacks\" }",
      "rule r { when request.provider.data_collection != \"deny\" deny \"dc\" }",
      "rule r { when (request.service_tier ?? \"auto\") == \"auto\" warn \"auto\" }",
      // an explicit value only, said so
      "rule r { when exists(request.stream) and request.stream == false warn \"explicit\" }",
      "rule r { when exists(request.provider.allow_fallbacks) and request.provider.allow_fallbacks != false warn \"x\" }",
      // presence itself
      "rule r { when request.stream == null warn \"no stream member\" }",
      // fields whose absence the gateway does not define
      "rule r { when request.temperature == 1 warn \"t\" }",
  };
  for (const char* d : fine) {
    auto c = Rule(d);
    EXPECT_TRUE(c.Codes().empty()) << d << "\n" << c.Render();
  }
}

TEST(AbsentMeaning, TheMessageAndHelpSayWhatAbsenceMeans) {
  auto c = Rule("rule prod {\n  when request.stream == false\n  deny 400 \"stream\"\n}");
  const std::string r = c.Render();
  EXPECT_TRUE(Has(r, "test.tg:3:8: warning[tg_absent_means_default]")) << r;
  EXPECT_TRUE(Has(r, "`request.stream == false` does not hold for a request without `request.stream`, "
                     "which means `false`")) << r;
  EXPECT_TRUE(Has(r, "help: write `request.stream != true` to count a request that leaves it out as `false`")) << r;

  c = Rule("rule r {\n  when request.provider.allow_fallbacks ?? false\n  deny \"x\"\n}");
  EXPECT_TRUE(Has(c.Render(), "test.tg:3:8: warning[tg_absent_means_default]: "
                              "`request.provider.allow_fallbacks ?? false` reads a request without "
                              "`request.provider.allow_fallbacks` as `false`, but absent it means `true`"))
      << c.Render();
  EXPECT_TRUE(Has(c.Render(), "help: write `request.provider.allow_fallbacks ?? true`")) << c.Render();
}

TEST(AbsentMeaning, TheUnguardedReadsHelpDefaultsToWhatAbsenceMeans) {
  // `?? false` would read a request without allow_fallbacks as pinned, while
  // the router then allows fallbacks.
  auto c = Rule("rule r { when request.provider.allow_fallbacks and context.data_class == \"x\" deny \"x\" }");
  EXPECT_EQ(c.ErrorCodes(), V{"tg_unguarded_optional"}) << c.Render();
  EXPECT_TRUE(Has(c.Render(), "`request.provider.allow_fallbacks ?? true`")) << c.Render();
  EXPECT_FALSE(Has(c.Render(), "?? false")) << c.Render();
  c = Rule("rule r { when request.service_tier in {\"flex\"} deny \"x\" }");
  EXPECT_TRUE(Has(c.Render(), "`request.service_tier ?? \"auto\"`")) << c.Render();
}

// The table's invariant: each row is an optional bool or string request
// field of the standard schema, its value one the field can hold.
TEST(AbsentMeaning, EveryRowIsAnOptionalFieldOfItsType) {
  const auto& schema = stdlib::Schema::Standard();
  for (const char* path : {"request.stream", "request.service_tier", "request.provider.allow_fallbacks",
                           "request.provider.require_parameters", "request.provider.zdr",
                           "request.provider.data_collection"}) {
    const stdlib::AbsentMeaning* m = stdlib::FindAbsentMeaning(path);
    ASSERT_NE(m, nullptr) << path;
    const int id = schema.Find(path);
    ASSERT_GE(id, 0) << path;
    const stdlib::FieldDef& f = schema.field(id);
    EXPECT_FALSE(f.AlwaysPresent()) << path;
    EXPECT_EQ(f.scope, ast::Scope::kRequest) << path;
    EXPECT_TRUE(f.type.is(m->is_bool ? Kind::kBool : Kind::kString)) << path;
    if (m->is_bool) {
      EXPECT_TRUE(m->value == "true" || m->value == "false") << path;
    } else if (const auto* shape = stdlib::FindShapedField(path)) {
      EXPECT_TRUE(stdlib::Fits(shape->holds, m->value)) << path;
    }
  }
  EXPECT_EQ(stdlib::FindAbsentMeaning("request.temperature"), nullptr);
}

}  // namespace
}  // namespace tollgate::checktest
