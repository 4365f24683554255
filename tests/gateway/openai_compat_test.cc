// What OpenAI clients read in the gateway's answers (docs/gateway.md, "Status
// codes and error codes"): an unknown model is OpenAI's 404 model_not_found
// in chat completions and in /v1/decide alike, while a known model the policy
// routed nowhere stays the policy's deny; an input error names the body
// member in `param`, as OpenAI does. A running server on a loopback port,
// driven over HTTP (tests/gateway/openai_client.mjs checks the same through
// openai-node).
#include <gtest/gtest.h>

#include <rapidjson/document.h>

#include <string>

#include "tests/gateway/gateway_helpers.h"

namespace tollgate::gateway {
namespace {

namespace http = boost::beast::http;
using Answer = testkit::HttpAnswer;

// The `error` object of an answer (asserts it is one).
struct Error {
  std::string message, type, code, param;  // param "(null)" when null
  bool ok = false;
};
Error ErrorOf(const Answer& a) {
  Error e;
  rapidjson::Document d;
  d.Parse(a.body.data(), a.body.size());
  if (d.HasParseError() || !d.IsObject() || !d.HasMember("error") || !d["error"].IsObject()) return e;
  const auto& o = d["error"];
  auto str = [&](const char* k) {
    if (!o.HasMember(k)) return std::string("(absent)");
    if (o[k].IsNull()) return std::string("(null)");
    return o[k].IsString() ? std::string(o[k].GetString(), o[k].GetStringLength()) : std::string("(not a string)");
  };
  e.message = str("message");
  e.type = str("type");
  e.code = str("code");
  e.param = str("param");
  e.ok = true;
  return e;
}

// m/x served by provider a; m/y only by b, which the policy's require
// excludes; m/z only by c, which the workspace's account excludes (`only`).
class OpenAICompat : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testkit::MakeTempDir("compat");
    testkit::WriteFile(dir_ + "/p.tg", "policy \"t\"\nrule not_b { require provider.name != \"b\" }\n");
    testkit::WriteFile(dir_ + "/c.json",
                       testkit::CatalogJson({testkit::TestEndpoint("m/x@a", "a"),
                                             testkit::TestEndpoint("m/y@b", "b").Model("m/y"),
                                             testkit::TestEndpoint("m/z@c", "c").Model("m/z")}));
    testkit::WriteFile(dir_ + "/k.json", testkit::OneKeyJson());
    testkit::WriteFile(dir_ + "/a.json", R"({"workspaces": {"w": {"only": ["a", "b"]}}})");
    Config cfg = testkit::DirConfig(dir_);
    cfg.accounts = dir_ + "/a.json";
    std::string err;
    ASSERT_TRUE(gw_.Start(std::move(cfg), &err)) << err;
  }
  void TearDown() override {
    gw_.Stop();
    testkit::RemoveDir(dir_);
  }
  Answer Chat(const std::string& body) {
    return testkit::HttpCall(gw_.port(), http::verb::post, "/v1/chat/completions", body,
                             {{"Authorization", std::string("Bearer ") + testkit::kSecret}});
  }
  static std::string Body(const std::string& model) {
    return R"({"model": ")" + model + R"(", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]})";
  }
  // The decision of /v1/decide for the key's principal and `model`.
  rapidjson::Document Decide(const std::string& model) {
    const Answer a = testkit::HttpCall(gw_.port(), http::verb::post, "/v1/decide",
                                       R"({"principal": {"workspace": "w", "key_id": "k"}, "request": )" +
                                           Body(model) + "}");
    EXPECT_EQ(a.status, 200) << a.body;
    rapidjson::Document d;
    d.Parse(a.body.data(), a.body.size());
    EXPECT_TRUE(d.IsObject() && d.HasMember("code")) << a.body;
    return d;
  }
  std::string Metrics() { return testkit::HttpCall(gw_.port(), http::verb::get, "/metrics", "").body; }

  std::string dir_;
  testkit::LoopbackServer gw_;
};

// Before: 404 route_no_eligible_endpoint, type not_found_error, for both.
TEST_F(OpenAICompat, AModelTheCatalogDoesNotKnowIsModelNotFound) {
  const Answer a = Chat(Body("no/such-model"));
  EXPECT_EQ(a.status, 404) << a.body;
  const Error e = ErrorOf(a);
  ASSERT_TRUE(e.ok) << a.body;
  EXPECT_EQ(e.code, "model_not_found");
  EXPECT_EQ(e.type, "invalid_request_error");
  EXPECT_EQ(e.param, "(null)");
  EXPECT_EQ(e.message, "the model `no/such-model` does not exist or you do not have access to it");
  EXPECT_EQ(a.headers.count("x-tollgate-decision-id"), 1u);
}

TEST_F(OpenAICompat, AModelTheAccountExcludesIsModelNotFound) {
  const Answer a = Chat(Body("m/z"));
  EXPECT_EQ(a.status, 404) << a.body;
  const Error e = ErrorOf(a);
  EXPECT_EQ(e.code, "model_not_found") << a.body;
  EXPECT_EQ(e.type, "invalid_request_error") << a.body;
}

// A known model whose endpoints the policy eliminated: the policy's deny,
// naming the rule, not a model that does not exist.
TEST_F(OpenAICompat, AModelThePolicyRoutesNowhereStaysAPolicyDeny) {
  const Answer a = Chat(Body("m/y"));
  EXPECT_EQ(a.status, 403) << a.body;
  const Error e = ErrorOf(a);
  EXPECT_EQ(e.code, "route_no_eligible_endpoint") << a.body;
  EXPECT_EQ(e.type, "permission_error") << a.body;
  EXPECT_NE(e.message.find("by rule `not_b`"), std::string::npos) << a.body;
  EXPECT_EQ(Chat(Body("m/x")).status / 100, 5);  // m/x is routed (its upstream refuses connections)
}

// /v1/decide answers the same decision the chat request gets.
TEST_F(OpenAICompat, DecideGivesTheSameCodes) {
  const struct { const char* model; int status; const char* code; } cases[] = {
      {"no/such-model", 404, "model_not_found"},
      {"m/z", 404, "model_not_found"},
      {"m/y", 403, "route_no_eligible_endpoint"},
  };
  for (const auto& c : cases) {
    rapidjson::Document d = Decide(c.model);
    ASSERT_TRUE(d.IsObject() && d.HasMember("code")) << c.model;
    const auto& dec = d;
    EXPECT_EQ(std::string(dec["outcome"].GetString()), "deny") << c.model;
    EXPECT_EQ(dec["status"].GetInt(), c.status) << c.model;
    EXPECT_EQ(std::string(dec["code"].GetString()), c.code) << c.model;
  }
}

// OpenAI's `param`: the body member an input error concerns, an index as a
// member of its own (`messages.[0].content`); null when no member is at
// fault. Before: always null.
TEST_F(OpenAICompat, AnInputErrorNamesTheMemberInParam) {
  const struct { const char* body; const char* param; } cases[] = {
      {R"({"model": 5, "messages": []})", "model"},
      {R"({"model": "m/x", "messages": "hi"})", "messages"},
      {R"({"model": "m/x", "messages": [{"role": "user", "content": 5}]})", "messages.[0].content"},
      {R"({"model": "m/x", "messages": [{"role": "user", "content": "a"}, {"role": 7, "content": "b"}]})",
       "messages.[1].role"},
      {R"({"model": "m/x", "messages": [{"role": "user", "content": "hi"}], "temperature": "hot"})", "temperature"},
      {R"({"model": "m/x"})", "messages"},
      {R"({"model": "m/x", "messages": [)", "(null)"},  // malformed JSON: no member
  };
  for (const auto& c : cases) {
    const Answer a = Chat(c.body);
    EXPECT_EQ(a.status, 400) << c.body << " -> " << a.body;
    const Error e = ErrorOf(a);
    EXPECT_EQ(e.type, "invalid_request_error") << a.body;
    EXPECT_EQ(e.param, c.param) << c.body << " -> " << a.body;
  }
  // A refused context header concerns no body member.
  const Answer a = testkit::HttpCall(gw_.port(), http::verb::post, "/v1/chat/completions", Body("m/x"),
                                     {{"Authorization", std::string("Bearer ") + testkit::kSecret},
                                      {"x-tollgate-tags", "a,,b"}});
  EXPECT_EQ(a.status, 400) << a.body;
  EXPECT_EQ(ErrorOf(a).param, "(null)") << a.body;
}

}  // namespace
}  // namespace tollgate::gateway
