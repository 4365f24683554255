// FindDuplicateKey and the JSON path rendering (engine/core/json_text.h).
#include "engine/core/json_text.h"

#include <gtest/gtest.h>

#include <rapidjson/document.h>

#include <string>

namespace tollgate {
namespace {

// The message for the first duplicate in `json`, or "" when there is none.
std::string Dup(const std::string& json) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag>(json.data(), json.size());
  EXPECT_FALSE(doc.HasParseError()) << json;
  DuplicateKey d;
  return FindDuplicateKey(doc, &d) ? d.Message() : "";
}

TEST(FindDuplicateKey, NamesThePathOfTheSecondCopy) {
  EXPECT_EQ(Dup(R"({"a": 1, "a": 2})"), "duplicate top-level key `a`");
  EXPECT_EQ(Dup(R"({"endpoints": [{"id": "x"}, {"id": "y", "jurisdiction": "DE", "jurisdiction": "US"}]})"),
            "duplicate key `jurisdiction` at `endpoints[1].jurisdiction`");
  EXPECT_EQ(Dup(R"({"workspaces": {"w": {"zdr": true, "zdr": false}}})"),
            "duplicate key `zdr` at `workspaces.w.zdr`");
  EXPECT_EQ(Dup(R"([[{}], [{"k": 1}, {"k": 1, "j": [{"x": 0, "x": 0}]}]])"),
            "duplicate key `x` at `[1][1].j[0].x`");
}

TEST(FindDuplicateKey, ComparesDecodedNames) {
  EXPECT_EQ(Dup(R"({"a": 1, "\u0061": 2})"), "duplicate top-level key `a`");
  EXPECT_EQ(Dup(R"({"a\u0000b": 1, "a\u0000c": 2})"), "");  // a NUL is part of the name
  EXPECT_EQ(Dup(R"({"a\u0000b": 1, "a\u0000b": 2})"), "duplicate top-level key `a\\u0000b`");
  EXPECT_EQ(Dup(R"({"a": 1, "A": 2, "a ": 3})"), "");
}

TEST(FindDuplicateKey, NoDuplicates) {
  EXPECT_EQ(Dup("{}"), "");
  EXPECT_EQ(Dup("[1, \"a\", null]"), "");
  EXPECT_EQ(Dup("3"), "");
  // The same name in two objects is no duplicate.
  EXPECT_EQ(Dup(R"({"a": {"k": 1}, "b": {"k": 1}, "c": [{"k": 1}, {"k": 2}]})"), "");
}

TEST(FindDuplicateKey, FirstInDocumentOrder) {
  // The outer object is checked before its members are entered.
  EXPECT_EQ(Dup(R"({"a": {"x": 1, "x": 2}, "a": 3})"), "duplicate top-level key `a`");
  EXPECT_EQ(Dup(R"({"a": {"x": 1, "x": 2}, "b": {"y": 1, "y": 2}})"), "duplicate key `x` at `a.x`");
  EXPECT_EQ(Dup(R"({"b": 1, "a": 1, "b": 2, "a": 2})"), "duplicate top-level key `b`");
}

TEST(FindDuplicateKey, LargeObjects) {
  // More than 16 members: the hash-set path, still in document order.
  std::string json = "{\"o\": {";
  for (int i = 0; i < 1000; ++i) json += "\"k" + std::to_string(i) + "\": " + std::to_string(i) + ", ";
  std::string clean = json.substr(0, json.size() - 2) + "}}";
  EXPECT_EQ(Dup(clean), "");
  EXPECT_EQ(Dup(json + "\"k999\": 0, \"k3\": 0}}"), "duplicate key `k999` at `o.k999`");
}

TEST(FindDuplicateKey, DeepNestingDoesNotRecurse) {
  const int depth = 200000;
  std::string json = std::string(depth, '[') + "{\"a\": 1, \"a\": 2}" + std::string(depth, ']');
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag>(json.data(), json.size());
  ASSERT_FALSE(doc.HasParseError());
  DuplicateKey d;
  ASSERT_TRUE(FindDuplicateKey(doc, &d));
  EXPECT_EQ(d.key, "a");
  EXPECT_EQ(d.path.size(), depth * std::string("[0]").size() + 2);
}

TEST(RenderJsonName, OneLineAndBounded) {
  EXPECT_EQ(RenderJsonName("a\nb\x7f"), "a\\u000ab\\u007f");
  EXPECT_EQ(RenderJsonName(std::string(70, 'x')), std::string(64, 'x') + "...");
  // Cut at a character boundary: 63 ASCII bytes, then a 2-byte character.
  EXPECT_EQ(RenderJsonName(std::string(63, 'x') + "\xc3\xa9" + "yy"), std::string(63, 'x') + "...");
}

}  // namespace
}  // namespace tollgate
