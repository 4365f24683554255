// What OpenAI clients read in the gateway's answers (docs/gateway.md, "Status
// codes and error codes", /metrics): an unknown model is OpenAI's 404
// model_not_found in chat completions and in /v1/decide alike, while a known
// model the policy routed nowhere stays the policy's deny; an input error
// names the body member in `param`, as OpenAI does; tollgate_request_seconds
// is labelled by route. A running server on a loopback port, driven over HTTP
// (tests/gateway/openai_client.mjs checks the same through openai-node).
#include <gtest/gtest.h>

#include <rapidjson/document.h>

#include <chrono>
#include <string>
#include <thread>

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

// The answer's status and its error's code and type; the error.
Error ExpectError(const Answer& a, int status, const std::string& code, const std::string& type) {
  EXPECT_EQ(a.status, status) << a.body;
  const Error e = ErrorOf(a);
  EXPECT_TRUE(e.ok) << a.body;
  EXPECT_EQ(e.code, code) << a.body;
  EXPECT_EQ(e.type, type) << a.body;
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
  const Error e = ExpectError(a, 404, "model_not_found", "invalid_request_error");
  EXPECT_EQ(e.param, "(null)");
  EXPECT_EQ(e.message, "the model `no/such-model` does not exist or you do not have access to it");
  EXPECT_EQ(a.headers.count("x-tollgate-decision-id"), 1u);
}

TEST_F(OpenAICompat, AModelTheAccountExcludesIsModelNotFound) {
  ExpectError(Chat(Body("m/z")), 404, "model_not_found", "invalid_request_error");
}

// A known model whose endpoints the policy eliminated: the policy's deny,
// naming the rule, not a model that does not exist.
TEST_F(OpenAICompat, AModelThePolicyRoutesNowhereStaysAPolicyDeny) {
  const Answer a = Chat(Body("m/y"));
  const Error e = ExpectError(a, 403, "route_no_eligible_endpoint", "permission_error");
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

// A bare model name (`y` for the catalog's one `m/y`) reaches the policy and
// the router as the catalog's id through /v1/decide, as through a chat
// request and `tollgate route`. Before: /v1/decide took it as given and
// answered 404 model_not_found where the chat request got the policy's deny.
TEST_F(OpenAICompat, DecideReadsABareModelNameAsTheChatRequestDoes) {
  ExpectError(Chat(Body("y")), 403, "route_no_eligible_endpoint", "permission_error");
  rapidjson::Document d = Decide("y");
  ASSERT_TRUE(d.IsObject() && d.HasMember("code"));
  EXPECT_EQ(d["status"].GetInt(), 403);
  EXPECT_EQ(std::string(d["code"].GetString()), "route_no_eligible_endpoint");
  // A name the catalog does not hold is still model_not_found.
  rapidjson::Document unknown = Decide("no-such-model");
  ASSERT_TRUE(unknown.IsObject() && unknown.HasMember("code"));
  EXPECT_EQ(std::string(unknown["code"].GetString()), "model_not_found");
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

// A JSON schema at the nesting OpenAI allows for structured outputs (10
// levels of objects), written as Pydantic and zod write an optional list of
// the next level (`anyOf` with null, `items`): 5 JSON levels per schema
// level, ~56 in the decision input. Before: 400 input_too_deep (the
// decoder's limit was 32 levels), for chat completions and /v1/decide.
std::string NestedSchema(int levels) {
  if (levels == 0) return R"({"type": "string"})";
  return R"({"type": "object", "additionalProperties": false, "required": ["name", "children"],
             "properties": {"name": {"type": "string"},
                            "children": {"anyOf": [{"type": "array", "items": )" +
         NestedSchema(levels - 1) + R"(}, {"type": "null"}]}}})";
}

TEST_F(OpenAICompat, SchemasAsDeepAsOpenAIAllowsAreNotTooDeep) {
  const std::string schema = NestedSchema(10);
  const std::string bodies[] = {
      R"({"model": "m/x", "max_tokens": 5, "messages": [{"role": "user", "content": "a tree"}],
          "response_format": {"type": "json_schema", "json_schema": {"name": "tree", "strict": true, "schema": )" +
          schema + "}}}",
      R"({"model": "m/x", "max_tokens": 5, "messages": [{"role": "user", "content": "a tree"}],
          "tools": [{"type": "function", "function": {"name": "make_tree", "strict": true, "parameters": )" +
          schema + "}}]}",
  };
  for (const std::string& body : bodies) {
    const Answer a = Chat(body);
    // Decided and routed: m/x's upstream refuses connections (502), not a 400.
    EXPECT_EQ(a.status / 100, 5) << a.body;
    EXPECT_EQ(ErrorOf(a).code, "upstream_unavailable") << a.body;
    const Answer d = testkit::HttpCall(gw_.port(), http::verb::post, "/v1/decide",
                                       R"({"principal": {"workspace": "w", "key_id": "k"}, "request": )" + body + "}");
    EXPECT_EQ(d.status, 200) << d.body;
  }
}

// /v1/decide's input errors are in OpenAI's shape like every other error
// (type, code, message, param), with the decoder's `path` kept. Before:
// {"error": {"code", "message", "path"}}, no type.
TEST_F(OpenAICompat, DecideInputErrorsAreInOpenAIsShape) {
  const struct { const char* body; const char* code; const char* path; } cases[] = {
      {R"({"principal": {}, "request": {"model": "m/x", "messages": []}})", "input_missing_field",
       "principal.workspace"},
      {R"({"principal": {"workspace": "w"}, "request": {"model": "m/x", "messages": [{"role": "user", "content": 5}]}})",
       "input_wrong_type", "request.messages[0].content"},
      {R"({"principal": {"workspace": "w"}, "request": {"model": "m/x", "messages": [], "top_k": 1e400}})",
       "input_invalid_value", ""},  // the body check names no member
      {R"({"principal": )", "input_malformed_json", ""},
  };
  for (const auto& c : cases) {
    const Answer a = testkit::HttpCall(gw_.port(), http::verb::post, "/v1/decide", c.body);
    const Error e = ExpectError(a, 400, c.code, "invalid_request_error");
    EXPECT_NE(e.message, "(absent)") << a.body;
    // param: the path in OpenAI's writing (an index as a member of its own).
    std::string param = c.path;
    if (const size_t i = param.find('['); i != std::string::npos) param.insert(i, ".");
    EXPECT_EQ(e.param, param.empty() ? "(null)" : param) << a.body;
    rapidjson::Document d;
    d.Parse(a.body.data(), a.body.size());
    ASSERT_TRUE(d.IsObject() && d["error"].HasMember("path")) << a.body;
    EXPECT_EQ(std::string(d["error"]["path"].GetString()), c.path) << a.body;
  }
}

// tollgate_request_seconds has one series per route (a fixed set: an alias
// counts under its route, every model id under /v1/models/{id}; other paths
// are not timed). Before: one series, chat and decide together.
TEST_F(OpenAICompat, RequestSecondsIsLabelledByRoute) {
  Chat(Body("no/such-model"));
  testkit::HttpCall(gw_.port(), http::verb::post, "/chat/completions", Body("no/such-model"),
                    {{"Authorization", std::string("Bearer ") + testkit::kSecret}});
  Decide("m/x");
  const std::vector<std::pair<std::string, std::string>> auth = {
      {"Authorization", std::string("Bearer ") + testkit::kSecret}};
  EXPECT_EQ(testkit::HttpCall(gw_.port(), http::verb::get, "/v1/models", "", auth).status, 200);
  EXPECT_EQ(testkit::HttpCall(gw_.port(), http::verb::get, "/v1/models/m/x", "", auth).status, 200);
  EXPECT_EQ(testkit::HttpCall(gw_.port(), http::verb::get, "/models/no%2Fsuch", "", auth).status, 404);
  EXPECT_EQ(testkit::HttpCall(gw_.port(), http::verb::get, "/v1/models/%zz", "", auth).status, 400);
  EXPECT_EQ(testkit::HttpCall(gw_.port(), http::verb::get, "/nowhere", "").status, 404);
  const std::vector<std::string> want = {
      "tollgate_request_seconds_count{path=\"/v1/chat/completions\"} 2\n",
      "tollgate_request_seconds_count{path=\"/v1/decide\"} 1\n",
      "tollgate_request_seconds_count{path=\"/v1/models\"} 1\n",
      "tollgate_request_seconds_count{path=\"/v1/models/{id}\"} 3\n",
  };
  // Observed as each handler returns, right after its answer's last byte.
  std::string m;
  auto all = [&] {
    for (const std::string& w : want) {
      if (m.find(w) == std::string::npos) return false;
    }
    return true;
  };
  for (int i = 0; i < 200 && !all(); ++i) {
    m = Metrics();
    if (!all()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (const std::string& w : want) EXPECT_NE(m.find(w), std::string::npos) << w << m;
  EXPECT_NE(m.find("tollgate_request_seconds_bucket{path=\"/v1/decide\",le=\"+Inf\"} 1\n"), std::string::npos) << m;
  EXPECT_EQ(m.find("path=\"/nowhere\"} "), std::string::npos) << m;
  EXPECT_EQ(m.find("# TYPE tollgate_request_seconds histogram"), m.rfind("# TYPE tollgate_request_seconds histogram"));
}

}  // namespace
}  // namespace tollgate::gateway
