// A rapidjson buffer and one-line writer kept for reuse: rendering a small
// JSON document on the request path (a decision, the routed endpoints, an
// admission) without growing a fresh buffer and the writer's level stack
// each time.
//
//   thread_local ReusedJsonWriter local;
//   auto& w = local.Begin();   // empty buffer, fresh writer state
//   w.StartObject(); ... w.EndObject();
//   return local.Take();       // one exact-size allocation
//
// The bytes are those of a fresh rapidjson::Writer over a fresh
// StringBuffer. A buffer that grew beyond 1 MiB is released by Take.
// Thread safety: one per thread (thread_local); not reentrant -- a function
// rendering with its own instance must not call itself while rendering.
#pragma once

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <string>
#include <string_view>

namespace tollgate {

class ReusedJsonWriter {
 public:
  rapidjson::Writer<rapidjson::StringBuffer>& Begin() {
    sb_.Clear();
    w_.Reset(sb_);
    return w_;
  }
  // Writes `s` as a string (a key or a value) with the bytes rapidjson's
  // Writer::String would write: as they are, in quotes, when no byte needs
  // an escape (`"`, `\`, control characters) -- copied whole instead of
  // byte by byte -- else through the writer.
  void String(std::string_view s) {
    bool plain = true;
    for (unsigned char c : s) plain &= c >= 0x20 && c != '"' && c != '\\';
    if (!plain) {
      w_.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
      return;
    }
    w_.RawValue("", 0, rapidjson::kStringType);  // the separator, and counts the value
    char* p = sb_.Push(s.size() + 2);
    p[0] = '"';
    for (size_t i = 0; i < s.size(); ++i) p[i + 1] = s[i];
    p[s.size() + 1] = '"';
  }

  // What was written since Begin (valid until the next Begin).
  std::string_view View() const { return {sb_.GetString(), sb_.GetSize()}; }
  std::string Take() {
    std::string out(sb_.GetString(), sb_.GetSize());
    if (sb_.GetSize() > kKeepBytes) {
      sb_.Clear();
      sb_.ShrinkToFit();
    }
    return out;
  }

 private:
  static constexpr size_t kKeepBytes = 1u << 20;
  rapidjson::StringBuffer sb_;
  rapidjson::Writer<rapidjson::StringBuffer> w_{sb_};
};

}  // namespace tollgate
