// A decision input's `candidate` is named as the catalog names its
// endpoints (runtime/input/candidate_names.h), as a test block's candidate
// is: provider.name holds the base slug, endpoint.model the canonical id.
// Values the catalog refuses are input errors, never a candidate that slips
// past `require provider.name not in {...}`.
#include <gtest/gtest.h>

#include <string>

#include "engine/engine.h"
#include "engine/vm/vm.h"
#include "runtime/input/input.h"

namespace tollgate::runtime {
namespace {

constexpr const char* kPolicy = R"(policy "p"
rule nobedrock { require provider.name not in {"amazon-bedrock"} }
rule no4o { require endpoint.model != "openai/gpt-4o" }
rule nocn { require provider.jurisdiction != "CN" }
)";

const std::string kRequest =
    R"({"principal":{"workspace":"w"},"request":{"model":"m","messages":[{"role":"user","content":"hi"}]},"candidate":)";

class CandidateNames : public ::testing::Test {
 protected:
  void SetUp() override {
    c_ = CompileSource("cand2.tg", kPolicy, {});
    ASSERT_TRUE(c_.policy) << c_.diagnostics.Render();
  }
  const stdlib::Schema& schema() const { return c_.policy->schema(); }

  // Decodes `candidate` (a JSON object) inside kRequest.
  bool Decode(const std::string& candidate) {
    bool present = false;
    err_ = {};
    bool ok = DecodeCandidate(kRequest + candidate + "}", schema(), Limits{}, &cand_, &present, &err_);
    EXPECT_TRUE(!ok || present);
    return ok;
  }
  std::string Str(const char* path) const {
    const Value& v = cand_.slots[schema().field(schema().Find(path)).slot];
    return v.kind == Kind::kString ? std::string(v.sv()) : std::string("<null>");
  }
  // The decision for kRequest with `candidate`, as `tollgate eval` makes it.
  void Decide(const std::string& candidate, vm::Decision* d) {
    const std::string json = kRequest + candidate + "}";
    vm::Record req;
    bool present = false;
    EXPECT_TRUE(DecodeInput(json, schema(), Limits{}, &req, &err_)) << err_.message;
    EXPECT_TRUE(DecodeCandidate(json, schema(), Limits{}, &cand_, &present, &err_)) << err_.message;
    vm::Evaluate(c_.policy->program(), req, {}, d);
    vm::CheckCandidate(c_.policy->program(), req, cand_, {}, d);
  }
  std::string DenyRule(const vm::Decision& d) const {
    return d.outcome == vm::Outcome::kDeny ? c_.policy->program().rules()[d.deny_rule].name
                                           : std::string("<allow>");
  }

  Compiled c_;
  vm::Record cand_;
  InputError err_;
};

TEST_F(CandidateNames, AProviderSlugIsSplitAsTheCatalogSplitsIt) {
  ASSERT_TRUE(Decode(R"({"provider":{"name":"amazon-bedrock/us-east-1"},"endpoint":{"model":"x"}})"))
      << err_.message;
  EXPECT_EQ(Str("provider.name"), "amazon-bedrock");
  EXPECT_EQ(Str("provider.slug"), "amazon-bedrock/us-east-1");
  EXPECT_EQ(Str("endpoint.model"), "x");
  EXPECT_EQ(Str("endpoint.model_full"), "x");
  EXPECT_EQ(Str("endpoint.model_variant"), "");
  // only the slug given: the name is its base
  ASSERT_TRUE(Decode(R"({"provider":{"slug":"azure/sweden"}})")) << err_.message;
  EXPECT_EQ(Str("provider.name"), "azure");
  EXPECT_EQ(Str("provider.slug"), "azure/sweden");
  EXPECT_EQ(Str("endpoint.model"), "<null>");  // not given: still absent
  // both given, consistently: kept
  ASSERT_TRUE(Decode(R"({"provider":{"name":"azure","slug":"azure/sweden"}})")) << err_.message;
  EXPECT_EQ(Str("provider.name"), "azure");
  EXPECT_EQ(Str("provider.slug"), "azure/sweden");
}

TEST_F(CandidateNames, AModelVariantIsSplitAsTheCatalogSplitsIt) {
  ASSERT_TRUE(Decode(R"({"provider":{"name":"openai"},"endpoint":{"model":"openai/gpt-4o:nitro"}})"))
      << err_.message;
  EXPECT_EQ(Str("provider.name"), "openai");
  EXPECT_EQ(Str("provider.slug"), "openai");
  EXPECT_EQ(Str("endpoint.model"), "openai/gpt-4o");
  EXPECT_EQ(Str("endpoint.model_full"), "openai/gpt-4o:nitro");
  EXPECT_EQ(Str("endpoint.model_variant"), "nitro");
  ASSERT_TRUE(Decode(R"({"endpoint":{"model_full":"openai/gpt-4o:free"}})")) << err_.message;
  EXPECT_EQ(Str("endpoint.model"), "openai/gpt-4o");
  EXPECT_EQ(Str("endpoint.model_variant"), "free");
  ASSERT_TRUE(Decode(R"({"endpoint":{"model":"openai/gpt-4o","model_full":"openai/gpt-4o:free","model_variant":"free"}})"))
      << err_.message;
  EXPECT_EQ(Str("endpoint.model"), "openai/gpt-4o");
  // a Bedrock-style id has no variant
  ASSERT_TRUE(Decode(R"({"endpoint":{"model":"anthropic.claude-3-sonnet-20240229-v1:0"}})")) << err_.message;
  EXPECT_EQ(Str("endpoint.model"), "anthropic.claude-3-sonnet-20240229-v1:0");
  EXPECT_EQ(Str("endpoint.model_variant"), "");
}

// The reviewer's cases: `tollgate test` rejected these candidates, the
// decision input allowed them.
TEST_F(CandidateNames, RequiresJudgeTheCandidateAsTheyJudgeTheCatalog) {
  vm::Decision bedrock, nitro, ok;
  Decide(R"({"provider":{"name":"amazon-bedrock/us-east-1"},"endpoint":{"model":"x"}})", &bedrock);
  EXPECT_EQ(bedrock.outcome, vm::Outcome::kDeny);
  EXPECT_EQ(bedrock.code, vm::kCodeRequireFailed);
  EXPECT_EQ(DenyRule(bedrock), "nobedrock");
  Decide(R"({"provider":{"name":"openai"},"endpoint":{"model":"openai/gpt-4o:nitro"}})", &nitro);
  EXPECT_EQ(nitro.outcome, vm::Outcome::kDeny);
  EXPECT_EQ(nitro.code, vm::kCodeRequireFailed);
  EXPECT_EQ(DenyRule(nitro), "no4o");
  Decide(R"({"provider":{"name":"mistral","jurisdiction":"FR"},"endpoint":{"model":"mistralai/mistral-small:free"}})",
         &ok);
  EXPECT_EQ(ok.outcome, vm::Outcome::kAllow) << ok.reason;
}

TEST_F(CandidateNames, ValuesTheCatalogRefusesAreInputErrors) {
  struct Case {
    const char* candidate;
    const char* path;
    const char* message_part;
  };
  for (const Case& c : {
           Case{R"({"provider":{"name":"Amazon-Bedrock"}})", "candidate.provider.name",
                "must be a lower-case provider slug"},
           Case{R"({"provider":{"name":"amazon-bedrock "}})", "candidate.provider.name", "got `amazon-bedrock `"},
           Case{R"({"provider":{"name":""}})", "candidate.provider.name", "lower-case provider slug"},
           Case{R"({"provider":{"slug":"Azure/Sweden"}})", "candidate.provider.slug", "lower-case provider slug"},
           Case{R"({"provider":{"name":"deepseek","jurisdiction":"cn"}})", "candidate.provider.jurisdiction",
                "alpha-2 country code in upper case"},
           Case{R"({"provider":{"jurisdiction":"XX"}})", "candidate.provider.jurisdiction", "got `XX`"},
           Case{R"({"provider":{"jurisdiction":"Germany"}})", "candidate.provider.jurisdiction", "got `Germany`"},
           Case{R"({"provider":{"data_collection":"maybe"}})", "candidate.provider.data_collection",
                "`allow` or `deny`"},
           Case{R"({"endpoint":{"tier":"fast"}})", "candidate.endpoint.tier", "`standard`, `priority` or `flex`"},
           Case{R"({"endpoint":{"quantization":"int3"}})", "candidate.endpoint.quantization", "one of int4"},
           Case{R"({"endpoint":{"model":""}})", "candidate.endpoint.model", "a model slug"},
           Case{R"({"endpoint":{"model":"openai/gpt-4o:free:nitro"}})", "candidate.endpoint.model",
                "names more than one variant"},
           Case{R"({"endpoint":{"price_input":-0.5}})", "candidate.endpoint.price_input", "must not be negative"},
           Case{R"({"provider":{"retention_days":-1}})", "candidate.provider.retention_days", "must not be negative"},
           Case{R"({"provider":{"name":"openai","slug":"azure/sweden"}})", "candidate.provider.slug",
                "is not a slug of `candidate.provider.name`"},
           Case{R"({"provider":{"name":"azure/norway","slug":"azure/sweden"}})", "candidate.provider.slug",
                "is not a slug of"},
           Case{R"({"endpoint":{"model":"a/b","model_full":"c/d:free"}})", "candidate.endpoint.model_full",
                "is not a slug of `candidate.endpoint.model`"},
           Case{R"({"endpoint":{"model":"a/b:free","model_full":"a/b:nitro"}})", "candidate.endpoint.model_full",
                "is not a slug of"},
           Case{R"({"endpoint":{"model":"a/b:free","model_variant":"nitro"}})", "candidate.endpoint.model_variant",
                "is not the variant of model `a/b:free`"},
       }) {
    EXPECT_FALSE(Decode(c.candidate)) << c.candidate;
    EXPECT_EQ(err_.code, "input_invalid_value") << c.candidate;
    EXPECT_EQ(err_.path, c.path) << c.candidate;
    EXPECT_NE(err_.message.find(c.message_part), std::string::npos) << c.candidate << ": " << err_.message;
  }
  // what the catalog accepts
  for (const char* ok : {
           R"({"provider":{"name":"google-vertex/europe","jurisdiction":"DE","data_collection":"deny"}})",
           R"({"endpoint":{"tier":"flex","quantization":"fp8","price_input":0}})",
           R"({"provider":{"name":"a.b_c-1"}})",
       })
    EXPECT_TRUE(Decode(ok)) << ok << ": " << err_.message;
}

// endpoint.model_variant holds a variant without its `:`, as the catalog
// derives it: `:free` or `Free` is refused like `INT4`.
TEST_F(CandidateNames, VariantsAreCheckedAsTheCatalogHoldsThem) {
  for (const char* bad : {R"({"endpoint":{"model_variant":":free"}})", R"({"endpoint":{"model_variant":"Free"}})"}) {
    EXPECT_FALSE(Decode(bad)) << bad;
    EXPECT_EQ(err_.code, "input_invalid_value") << bad;
    EXPECT_EQ(err_.path, "candidate.endpoint.model_variant") << bad;
    EXPECT_NE(err_.message.find("must be a variant suffix without its `:`"), std::string::npos) << err_.message;
  }
  EXPECT_TRUE(Decode(R"({"endpoint":{"model_variant":"free"}})")) << err_.message;
  EXPECT_TRUE(Decode(R"({"endpoint":{"model_variant":""}})")) << err_.message;
  EXPECT_FALSE(Decode(R"({"endpoint":{"quantization":"INT4"}})"));
  EXPECT_NE(err_.message.find("got `INT4`"), std::string::npos) << err_.message;
}

}  // namespace
}  // namespace tollgate::runtime
