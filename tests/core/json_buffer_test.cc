// ReusedJsonWriter (engine/core/json_buffer.h): reused across documents, its
// bytes are those of a fresh rapidjson writer, its String those of
// Writer::String for keys and values alike.
#include "engine/core/json_buffer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tollgate {
namespace {

std::string Fresh(const std::vector<std::string>& strings) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.StartObject();
  for (const std::string& s : strings) {
    w.Key(s.data(), static_cast<rapidjson::SizeType>(s.size()));
    w.StartArray();
    w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
    w.Int(1);
    w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
    w.EndArray();
  }
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

std::string Reused(ReusedJsonWriter* local, const std::vector<std::string>& strings) {
  auto& w = local->Begin();
  w.StartObject();
  for (const std::string& s : strings) {
    local->String(s);
    w.StartArray();
    local->String(s);
    w.Int(1);
    local->String(s);
    w.EndArray();
  }
  w.EndObject();
  return local->Take();
}

TEST(ReusedJsonWriter, SameBytesAsAFreshWriter) {
  const std::vector<std::string> strings = {
      "", "id", "openai/gpt-4o-mini@openai", "quote \" and \\ backslash", "tab\tnew\nline",
      std::string("nul\0byte", 8), "caf\xC3\xA9 \xE2\x82\xAC", "del\x7F", "slash /", std::string(300, 'x')};
  ReusedJsonWriter local;
  for (int round = 0; round < 3; ++round) {  // the buffer and the writer reused
    EXPECT_EQ(Reused(&local, strings), Fresh(strings));
    EXPECT_EQ(Reused(&local, {"a"}), Fresh({"a"}));
  }
  // A document left unfinished does not leak into the next one.
  local.Begin().StartArray();
  local.String("dangling");
  EXPECT_EQ(Reused(&local, {"b"}), Fresh({"b"}));
}

}  // namespace
}  // namespace tollgate
