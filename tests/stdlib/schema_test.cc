#include "stdlib/schema.h"

#include <gtest/gtest.h>

namespace tollgate::stdlib {
namespace {

TEST(SchemaTest, StandardLoads) {
  const Schema& s = Schema::Standard();
  EXPECT_EQ(&s, &Schema::Standard());  // built once
  int model = s.Find("request.model");
  ASSERT_GE(model, 0);
  EXPECT_TRUE(s.field(model).required);
  EXPECT_TRUE(s.field(model).type.is(Kind::kString));
  EXPECT_EQ(s.field(model).scope, ast::Scope::kRequest);

  int zdr = s.Find("provider.zdr");
  ASSERT_GE(zdr, 0);
  EXPECT_EQ(s.field(zdr).scope, ast::Scope::kCandidate);
  EXPECT_TRUE(s.field(zdr).type.is(Kind::kBool));

  int content = s.Find("request.content");
  ASSERT_GE(content, 0);
  EXPECT_TRUE(s.field(content).derived);

  int messages = s.Find("request.messages");
  ASSERT_GE(messages, 0);
  EXPECT_EQ(s.field(messages).type.ToString(),
            "list<{role: string, content: string, name?: string}>");
  EXPECT_EQ(s.field(s.Find("endpoint.price_input")).type.ToString(), "money");
  EXPECT_EQ(s.field(s.Find("context.time")).type.ToString(), "time");
  EXPECT_EQ(s.field(s.Find("principal.groups")).type.ToString(), "set<string>");

  EXPECT_EQ(s.Find("request.modle"), -1);
  EXPECT_EQ(s.Find("request"), -1);
}

TEST(SchemaTest, StandardPrefixes) {
  const Schema& s = Schema::Standard();
  EXPECT_TRUE(s.IsPrefix("request"));
  EXPECT_TRUE(s.IsPrefix("request.provider"));
  EXPECT_TRUE(s.IsPrefix("request.provider.max_price"));
  EXPECT_TRUE(s.IsPrefix("provider"));
  EXPECT_TRUE(s.IsPrefix("endpoint"));
  EXPECT_FALSE(s.IsPrefix("request.model"));  // a field, not a proper prefix
  EXPECT_FALSE(s.IsPrefix("req"));
  EXPECT_FALSE(s.IsPrefix("request.prov"));
  EXPECT_FALSE(s.IsPrefix(""));
}

TEST(SchemaTest, SlotsArePerScopeInOrder) {
  const Schema& s = Schema::Standard();
  int nreq = s.slot_count(ast::Scope::kRequest);
  int ncand = s.slot_count(ast::Scope::kCandidate);
  EXPECT_EQ(nreq + ncand, static_cast<int>(s.fields().size()));
  EXPECT_GT(ncand, 10);
  for (auto scope : {ast::Scope::kRequest, ast::Scope::kCandidate}) {
    int prev = -1;
    for (int slot = 0; slot < s.slot_count(scope); ++slot) {
      int id = s.FieldOfSlot(scope, slot);
      ASSERT_GE(id, 0);
      EXPECT_EQ(s.field(id).slot, slot);
      EXPECT_EQ(s.field(id).scope, scope);
      EXPECT_GT(id, prev);  // order of addition
      prev = id;
    }
    EXPECT_EQ(s.FieldOfSlot(scope, s.slot_count(scope)), -1);
    EXPECT_EQ(s.FieldOfSlot(scope, -1), -1);
  }
  EXPECT_EQ(s.FieldOfSlot(ast::Scope::kRequest, 0), s.Find("principal.workspace"));
  EXPECT_EQ(s.FieldOfSlot(ast::Scope::kCandidate, 0), s.Find("provider.name"));
}

TEST(SchemaTest, PathsInFieldOrder) {
  const Schema& s = Schema::Standard();
  auto paths = s.Paths();
  ASSERT_EQ(paths.size(), s.fields().size());
  for (size_t i = 0; i < paths.size(); ++i) EXPECT_EQ(s.Find(paths[i]), static_cast<int>(i));
}

TEST(SchemaTest, ExtensionAddsFields) {
  Schema s = Schema::Standard();
  int nreq = s.slot_count(ast::Scope::kRequest);
  int ncand = s.slot_count(ast::Scope::kCandidate);
  std::string error;
  ASSERT_TRUE(s.AddFromJson(R"({"description": "acme",
      "fields": [
        {"path": "principal.department", "type": "string", "scope": "request",
         "required": false, "description": "cost centre"},
        {"path": "provider.certifications", "type": "set<string>", "scope": "candidate"},
        {"path": "context.risk.score", "type": "decimal", "scope": "request", "required": true}
      ]})",
                            &error))
      << error;
  int dept = s.Find("principal.department");
  ASSERT_GE(dept, 0);
  EXPECT_EQ(s.field(dept).slot, nreq);
  EXPECT_EQ(s.field(dept).description, "cost centre");
  int certs = s.Find("provider.certifications");
  EXPECT_EQ(s.field(certs).slot, ncand);
  EXPECT_EQ(s.field(certs).type.ToString(), "set<string>");
  int risk = s.Find("context.risk.score");
  EXPECT_EQ(s.field(risk).slot, nreq + 1);
  EXPECT_TRUE(s.field(risk).required);
  EXPECT_TRUE(s.IsPrefix("context.risk"));
  EXPECT_EQ(s.FieldOfSlot(ast::Scope::kRequest, nreq + 1), risk);
  // The standard schema is untouched.
  EXPECT_EQ(Schema::Standard().Find("principal.department"), -1);
}

// request.n (the completions asked for) defaults to 1: it is always present,
// so a policy may compare it unguarded.
TEST(SchemaTest, DefaultedIntFieldIsAlwaysPresent) {
  const Schema& std_schema = Schema::Standard();
  const FieldDef& n = std_schema.field(std_schema.Find("request.n"));
  EXPECT_TRUE(n.has_default);
  EXPECT_EQ(n.default_int, 1);
  EXPECT_TRUE(n.AlwaysPresent());
  EXPECT_FALSE(std_schema.field(std_schema.Find("request.max_tokens")).AlwaysPresent());
  Schema s = Schema::Standard();
  std::string error;
  ASSERT_TRUE(s.AddFromJson(R"({"fields": [{"path": "context.retries", "type": "int",
                                 "scope": "request", "default": 0}]})", &error)) << error;
  EXPECT_TRUE(s.field(s.Find("context.retries")).AlwaysPresent());
  // The same extension again merges; another default is a different field.
  EXPECT_TRUE(s.MergeFromJson(R"({"fields": [{"path": "context.retries", "type": "int",
                                   "scope": "request", "default": 0}]})", &error)) << error;
  EXPECT_FALSE(s.MergeFromJson(R"({"fields": [{"path": "context.retries", "type": "int",
                                    "scope": "request", "default": 2}]})", &error));
}

TEST(SchemaTest, AddBuildsSchemaFromScratch) {
  Schema s;
  std::string error;
  FieldDef f;
  f.path = "a.b";
  f.type = Type(Kind::kInt);
  ASSERT_TRUE(s.Add(f, &error)) << error;
  f.path = "c.d";
  f.scope = ast::Scope::kCandidate;
  ASSERT_TRUE(s.Add(f, &error)) << error;
  EXPECT_EQ(s.slot_count(ast::Scope::kRequest), 1);
  EXPECT_EQ(s.slot_count(ast::Scope::kCandidate), 1);
  EXPECT_EQ(s.field(1).slot, 0);
}

struct BadSchema {
  const char* json;
  const char* error_part;
};

class SchemaErrorTest : public ::testing::TestWithParam<BadSchema> {};

TEST_P(SchemaErrorTest, Rejected) {
  Schema s = Schema::Standard();
  size_t before = s.fields().size();
  std::string error;
  EXPECT_FALSE(s.AddFromJson(GetParam().json, &error));
  EXPECT_NE(error.find(GetParam().error_part), std::string::npos) << error;
  EXPECT_EQ(s.fields().size(), before) << "a failed document must add nothing";
  for (char c : error) EXPECT_FALSE(c >= 'A' && c <= 'Z') << error;
}

INSTANTIATE_TEST_SUITE_P(
    Errors, SchemaErrorTest,
    ::testing::Values(
        BadSchema{"{", "invalid schema json"},
        BadSchema{"[]", "json object with a `fields` array"},
        BadSchema{R"({"field": []})", "unknown schema member `field`"},
        BadSchema{R"({"fields": {}})", "`fields` array"},
        BadSchema{R"({"fields": [1]})", "field 0: expected a json object"},
        BadSchema{R"({"fields": [{"type": "int", "scope": "request"}]})", "missing `path`"},
        BadSchema{R"({"fields": [{"path": "x.y", "scope": "request"}]})", "missing `type`"},
        BadSchema{R"({"fields": [{"path": "x.y", "type": "int"}]})", "missing `scope`"},
        BadSchema{R"({"fields": [{"path": "x.y", "type": "integer", "scope": "request"}]})",
                  "bad type `integer`"},
        BadSchema{R"({"fields": [{"path": "x.y", "type": "int", "scope": "global"}]})",
                  "scope must be `request` or `candidate`"},
        BadSchema{R"({"fields": [{"path": "x.y", "type": "int", "scope": "request", "extra": 1}]})",
                  "unknown member `extra`"},
        BadSchema{R"({"fields": [{"path": 3, "type": "int", "scope": "request"}]})",
                  "`path` must be a string"},
        BadSchema{R"({"fields": [{"path": "x.y", "type": "int", "scope": "request",
                    "required": "yes"}]})",
                  "`required` must be true or false"},
        BadSchema{R"({"fields": [{"path": "x.y", "type": "int", "scope": "request",
                    "default": 1.5}]})",
                  "`default` must be an integer"},
        BadSchema{R"({"fields": [{"path": "x.y", "type": "string", "scope": "request",
                    "default": 1}]})",
                  "only an optional request-scoped `int` field can have a `default`"},
        BadSchema{R"({"fields": [{"path": "x.y", "type": "int", "scope": "candidate",
                    "default": 1}]})",
                  "only an optional request-scoped `int` field can have a `default`"},
        BadSchema{R"({"fields": [{"path": "x.y", "type": "int", "scope": "request",
                    "required": true, "default": 1}]})",
                  "only an optional request-scoped `int` field can have a `default`"},
        BadSchema{R"({"fields": [{"path": "request.model", "type": "string",
                    "scope": "request"}]})",
                  "duplicate field `request.model`"},
        BadSchema{R"({"fields": [{"path": "request.provider", "type": "string",
                    "scope": "request"}]})",
                  "field `request.provider` is a prefix of another field"},
        BadSchema{R"({"fields": [{"path": "request.model.family", "type": "string",
                    "scope": "request"}]})",
                  "field `request.model` is a prefix of field `request.model.family`"},
        BadSchema{R"({"fields": [{"path": "department", "type": "string",
                    "scope": "request"}]})",
                  "bad field path `department`"},
        BadSchema{R"({"fields": [{"path": "a..b", "type": "string", "scope": "request"}]})",
                  "bad field path"},
        BadSchema{R"({"fields": [{"path": "a.1b", "type": "string", "scope": "request"}]})",
                  "bad field path"},
        BadSchema{R"({"fields": [{"path": "a.b.", "type": "string", "scope": "request"}]})",
                  "bad field path"},
        BadSchema{R"({"fields": [{"path": "a-x.b", "type": "string", "scope": "request"}]})",
                  "bad field path"},
        // A repeated member name: jq would read the last copy, FindMember the first.
        BadSchema{R"({"fields": [{"path": "ctx.a", "type": "string", "type": "int", "scope": "request"}]})",
                  "duplicate key `type` at `fields[0].type`"},
        BadSchema{R"({"fields": [], "fields": [{"path": "ctx.a", "type": "string", "scope": "request"}]})",
                  "duplicate top-level key `fields`"},
        // A later bad field rolls back the earlier good one.
        BadSchema{R"({"fields": [{"path": "ok.field", "type": "int", "scope": "request"},
                    {"path": "ok.field", "type": "int", "scope": "request"}]})",
                  "duplicate field `ok.field`"}));

TEST(SchemaTest, AddRejectsStaticOnlyTypes) {
  Schema s;
  std::string error;
  FieldDef f;
  f.path = "a.b";  // default type is `any`
  EXPECT_FALSE(s.Add(f, &error));
  EXPECT_NE(error.find("`a.b`"), std::string::npos);
}

}  // namespace
}  // namespace tollgate::stdlib
