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
