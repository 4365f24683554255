// Bare model names rewritten to the catalog's, in a decision input
// (runtime/router/bare_models.h): what `tollgate eval --catalog` and
// `tollgate route` share with the gateway.
#include "runtime/router/bare_models.h"

#include <gtest/gtest.h>

#include "tests/router/router_env.h"

namespace tollgate::testing {
namespace {

class BareModels : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(env_.Setup("policy \"t\"\n", CatalogOf({
                                                 Ep("o@openai", "openai/gpt-4o", "openai"),
                                                 Ep("m@openai", "openai/gpt-4o-mini", "openai"),
                                                 Ep("a@azure", "azure/gpt-4o-mini", "azure"),
                                             })))
        << env_.error;
  }
  std::string Resolved(std::string input) {
    runtime::ResolveBareModelsInInput(env_.catalog, &input);
    return input;
  }
  RouteEnv env_;
};

// `request.model` and the entries of `request.models`, variant kept; a
// name of several catalog models, of none, with a `/` or written with
// escapes stays; so do `model` members anywhere else.
TEST_F(BareModels, RequestModelAndModelsOnly) {
  EXPECT_EQ(Resolved(R"({"principal": {"model": "gpt-4o"}, "request": {"model": "gpt-4o", "models": ["gpt-4o:nitro", "gpt-4o-mini", "x", "openai/gpt-4o", "gpt\u002d4o"], "metadata": {"model": "gpt-4o"}}})"),
            R"({"principal": {"model": "gpt-4o"}, "request": {"model": "openai/gpt-4o", "models": ["openai/gpt-4o:nitro", "gpt-4o-mini", "x", "openai/gpt-4o", "gpt\u002d4o"], "metadata": {"model": "gpt-4o"}}})");
  // Not JSON: left for the decoder to report.
  EXPECT_EQ(Resolved(R"({"request": {"model": "gpt-4o")"), R"({"request": {"model": "gpt-4o")");
  EXPECT_EQ(runtime::BareModelNamesInInput(R"({"request": {"model": "gpt-4o", "models": ["a/b", "gpt-4o", "x:free"]}})"),
            (std::vector<std::string>{"gpt-4o", "x:free"}));
}

}  // namespace
}  // namespace tollgate::testing
