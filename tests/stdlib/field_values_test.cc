// The table of enumerated and shaped fields shared by the catalog, the
// decoder and the checker (stdlib/field_values.h).
#include "stdlib/field_values.h"

#include <gtest/gtest.h>

#include <string>

#include "stdlib/schema.h"

namespace tollgate::stdlib {
namespace {

// INVARIANT of the table: every row is a string field (or a list or set of
// strings) of the standard schema; candidate checks only on candidate fields.
TEST(FieldValues, EveryRowIsAStringFieldOfTheStandardSchema) {
  const Schema& s = Schema::Standard();
  ASSERT_GE(ShapedFields().size(), 14u);
  for (const ShapedField& f : ShapedFields()) {
    int id = s.Find(f.path);
    ASSERT_GE(id, 0) << f.path;
    const Type& t = s.field(id).type;
    const bool strings = t.is(Kind::kString) ||
                         ((t.is(Kind::kSet) || t.is(Kind::kList)) && t.elem().is(Kind::kString));
    EXPECT_TRUE(strings) << f.path;
    EXPECT_NE(f.holds, Shape::kNone) << f.path;
    if (f.candidate != Shape::kNone) {
      EXPECT_EQ(s.field(id).scope, ast::Scope::kCandidate) << f.path;
    }
    if (!f.full.empty()) {
      EXPECT_GE(s.Find(f.full), 0) << f.path;
    }
    EXPECT_EQ(FindShapedField(f.path), &f);
  }
  for (const char* p : {"endpoint.quantization", "endpoint.tier", "provider.data_collection",
                        "endpoint.model_variant", "request.variants", "request.model_variant",
                        "principal.jurisdiction", "provider.jurisdiction", "provider.name",
                        "provider.slug", "request.model", "request.models", "endpoint.model"})
    EXPECT_NE(FindShapedField(p), nullptr) << p;
  // Labels the decoder lower-cases: `Confidential` is never what they hold.
  ASSERT_NE(FindShapedField("context.data_class"), nullptr);
  EXPECT_EQ(FindShapedField("context.data_class")->holds, Shape::kLowerText);
  EXPECT_EQ(FindShapedField("context.tags")->holds, Shape::kLowerText);
  EXPECT_EQ(FindShapedField("context.environment")->holds, Shape::kLowerText);
  EXPECT_EQ(FindShapedField("context.ip"), nullptr);
  EXPECT_FALSE(Fits(Shape::kLowerText, "Confidential"));
  EXPECT_TRUE(Fits(Shape::kLowerText, "pii-high ünicode"));
  EXPECT_EQ(Respell(Shape::kLowerText, "Confidential"), "confidential");
}

TEST(FieldValues, FitsAsTheCatalogAndDecoderDo) {
  EXPECT_TRUE(Fits(Shape::kQuantization, "int4"));
  EXPECT_TRUE(Fits(Shape::kQuantization, "unknown"));
  EXPECT_FALSE(Fits(Shape::kQuantization, "INT4"));
  EXPECT_FALSE(Fits(Shape::kQuantization, "int3"));
  EXPECT_TRUE(Fits(Shape::kTier, "flex"));
  EXPECT_FALSE(Fits(Shape::kTier, "Flex"));
  EXPECT_TRUE(Fits(Shape::kDataCollection, "deny"));
  EXPECT_FALSE(Fits(Shape::kDataCollection, "Deny"));
  EXPECT_TRUE(Fits(Shape::kVariant, "free"));
  EXPECT_TRUE(Fits(Shape::kVariant, ""));
  EXPECT_FALSE(Fits(Shape::kVariant, ":free"));
  EXPECT_FALSE(Fits(Shape::kVariant, "Free"));
  EXPECT_TRUE(Fits(Shape::kCountry, "XX"));  // principal.jurisdiction: the decoder checks the shape
  EXPECT_FALSE(Fits(Shape::kCountry, "de"));
  EXPECT_TRUE(Fits(Shape::kAssignedCountry, "DE"));
  EXPECT_FALSE(Fits(Shape::kAssignedCountry, "UK"));
  EXPECT_FALSE(Fits(Shape::kAssignedCountry, "XX"));
  EXPECT_TRUE(Fits(Shape::kProviderSlug, "amazon-bedrock/us-east-1"));
  EXPECT_FALSE(Fits(Shape::kProviderSlug, ""));
  EXPECT_FALSE(Fits(Shape::kProviderSlug, "DeepSeek"));
  EXPECT_TRUE(Fits(Shape::kBaseProvider, "amazon-bedrock"));
  EXPECT_FALSE(Fits(Shape::kBaseProvider, "amazon-bedrock/us-east-1"));
  EXPECT_TRUE(Fits(Shape::kModelId, "anthropic.claude-3-sonnet-20240229-v1:0"));
  EXPECT_FALSE(Fits(Shape::kModelId, "openai/gpt-4o:free"));
  EXPECT_TRUE(Fits(Shape::kModelSlug, "openai/gpt-4o:free"));
  EXPECT_FALSE(Fits(Shape::kModelSlug, "openai/gpt-4o:free:nitro"));
  EXPECT_TRUE(Fits(Shape::kNone, "anything"));
}

TEST(FieldValues, RespellNamesTheValueMeant) {
  EXPECT_EQ(Respell(Shape::kQuantization, "INT4"), "int4");
  EXPECT_EQ(Respell(Shape::kQuantization, " fp8 "), "fp8");
  EXPECT_EQ(Respell(Shape::kQuantization, "int3"), "");
  EXPECT_EQ(Respell(Shape::kQuantization, "int4"), "");  // already fits
  EXPECT_EQ(Respell(Shape::kTier, "Priority"), "priority");
  EXPECT_EQ(Respell(Shape::kDataCollection, "ALLOW"), "allow");
  EXPECT_EQ(Respell(Shape::kVariant, ":free"), "free");
  EXPECT_EQ(Respell(Shape::kVariant, ":Nitro"), "nitro");
  EXPECT_EQ(Respell(Shape::kCountry, "de"), "DE");
  EXPECT_EQ(Respell(Shape::kAssignedCountry, "uk"), "GB");
  // The EU writes Greece `EL` (VAT numbers, Eurostat): an EU member list
  // copied from it names Greece so, and the help said `EL` had no spelling.
  EXPECT_EQ(Respell(Shape::kAssignedCountry, "EL"), "GR");
  EXPECT_EQ(Respell(Shape::kCountry, "el"), "GR");
  EXPECT_EQ(Respell(Shape::kAssignedCountry, "Germany"), "");
  EXPECT_EQ(Respell(Shape::kProviderSlug, "Azure/EastUS"), "azure/eastus");
  EXPECT_EQ(Respell(Shape::kModelId, "openai/gpt-4o:free"), "openai/gpt-4o");
}

TEST(FieldValues, DescribeIsTheDecodersWording) {
  EXPECT_EQ(Describe(Shape::kQuantization),
            "one of int4, int8, fp4, fp6, fp8, fp16, bf16, fp32, mxfp4, nvfp4, mxfp8, unknown");
  EXPECT_EQ(Describe(Shape::kTier), "`standard`, `priority` or `flex`");
  EXPECT_EQ(Describe(Shape::kDataCollection), "`allow` or `deny`");
  EXPECT_EQ(Describe(Shape::kServiceTier), "`auto`, `default`, `flex` or `priority`");
  EXPECT_TRUE(Fits(Shape::kServiceTier, "default"));
  EXPECT_FALSE(Fits(Shape::kServiceTier, "standard"));  // the catalog's name, not OpenAI's
  EXPECT_EQ(Respell(Shape::kServiceTier, "Flex"), "flex");
  EXPECT_NE(FindShapedField("request.service_tier"), nullptr);
  EXPECT_TRUE(IsKnownQuantization("mxfp4"));
  EXPECT_TRUE(IsAssignedCountry("ZW"));
  EXPECT_FALSE(IsAssignedCountry("EU"));
}

// Every two upper-case letters: the 249 officially assigned codes, each
// first and last letter reached (the table's edges), nothing else.
TEST(FieldValues, AssignedCountriesExactly) {
  int assigned = 0;
  std::string cc = "AA";
  for (char a = 'A'; a <= 'Z'; ++a)
    for (char b = 'A'; b <= 'Z'; ++b) {
      cc[0] = a;
      cc[1] = b;
      assigned += IsAssignedCountry(cc);
    }
  EXPECT_EQ(assigned, 249);
  for (const char* yes : {"AD", "AZ", "DE", "GB", "GR", "US", "ZA", "ZW"})
    EXPECT_TRUE(IsAssignedCountry(yes)) << yes;
  for (const char* no : {"AA", "UK", "EL", "EU", "ZZ", "XK", "de", "D", "DEU", "D1", "[A", "A["})
    EXPECT_FALSE(IsAssignedCountry(no)) << no;
}

}  // namespace
}  // namespace tollgate::stdlib
