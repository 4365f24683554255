// A non-streamed chat completion as server-sent events (sse.h).
#include "runtime/gateway/sse.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace tollgate::gateway {

namespace rj = rapidjson;

namespace {

using JsonWriter = rj::Writer<rj::StringBuffer>;

void Event(const rj::StringBuffer& sb, std::string* out) {
  out->append("data: ");
  out->append(sb.GetString(), sb.GetSize());
  out->append("\n\n");
}

// The members every chunk repeats from the completion.
void ChunkHead(const rj::Value& c, JsonWriter* w) {
  for (const char* name : {"id", "created", "model", "system_fingerprint", "service_tier"}) {
    auto m = c.FindMember(name);
    if (m == c.MemberEnd()) continue;
    w->Key(name);
    m->value.Accept(*w);
    if (std::string_view(name) == "id") {
      w->Key("object");
      w->String("chat.completion.chunk");
    }
  }
}

// A choice's message as a delta: every member as it is, each tool call
// given its position as `index` (a delta's tool calls are numbered).
void MessageAsDelta(const rj::Value& message, JsonWriter* w) {
  if (!message.IsObject()) {
    w->StartObject();
    w->EndObject();
    return;
  }
  w->StartObject();
  for (const auto& m : message.GetObject()) {
    w->Key(m.name.GetString(), m.name.GetStringLength());
    if (std::string_view(m.name.GetString(), m.name.GetStringLength()) != "tool_calls" || !m.value.IsArray()) {
      m.value.Accept(*w);
      continue;
    }
    w->StartArray();
    int64_t i = 0;
    for (const auto& call : m.value.GetArray()) {
      if (!call.IsObject()) {
        call.Accept(*w);
        ++i;
        continue;
      }
      w->StartObject();
      if (!call.HasMember("index")) {
        w->Key("index");
        w->Int64(i);
      }
      for (const auto& f : call.GetObject()) {
        w->Key(f.name.GetString(), f.name.GetStringLength());
        f.value.Accept(*w);
      }
      w->EndObject();
      ++i;
    }
    w->EndArray();
  }
  w->EndObject();
}

}  // namespace

SseConversion CompletionAsSse(std::string_view body, bool include_usage, std::string* out) {
  out->clear();
  rj::Document d;
  d.Parse<rj::kParseIterativeFlag>(body.data(), body.size());
  if (d.HasParseError() || !d.IsObject()) return SseConversion::kNotACompletion;
  auto error = d.FindMember("error");
  if (error != d.MemberEnd() && !error->value.IsNull()) {
    rj::StringBuffer sb;
    JsonWriter w(sb);
    w.StartObject();
    w.Key("error");
    error->value.Accept(w);
    w.EndObject();
    Event(sb, out);
    return SseConversion::kError;
  }
  auto choices = d.FindMember("choices");
  if (choices == d.MemberEnd() || !choices->value.IsArray()) return SseConversion::kNotACompletion;
  int64_t position = 0;
  const rj::Value none;
  for (const auto& choice : choices->value.GetArray()) {
    if (!choice.IsObject()) continue;  // not a choice: nothing to relay
    rj::StringBuffer sb;
    JsonWriter w(sb);
    w.StartObject();
    ChunkHead(d, &w);
    w.Key("choices");
    w.StartArray();
    w.StartObject();
    w.Key("index");
    auto index = choice.FindMember("index");
    if (index != choice.MemberEnd()) {
      index->value.Accept(w);
    } else {
      w.Int64(position);
    }
    w.Key("delta");
    auto message = choice.FindMember("message");
    MessageAsDelta(message != choice.MemberEnd() ? message->value : none, &w);
    for (const char* name : {"logprobs", "finish_reason"}) {
      w.Key(name);
      auto m = choice.FindMember(name);
      (m != choice.MemberEnd() ? m->value : none).Accept(w);
    }
    w.EndObject();
    w.EndArray();
    w.EndObject();
    Event(sb, out);
    ++position;
  }
  auto usage = d.FindMember("usage");
  if (include_usage && usage != d.MemberEnd() && usage->value.IsObject()) {
    rj::StringBuffer sb;
    JsonWriter w(sb);
    w.StartObject();
    ChunkHead(d, &w);
    w.Key("choices");
    w.StartArray();
    w.EndArray();
    w.Key("usage");
    usage->value.Accept(w);
    w.EndObject();
    Event(sb, out);
  }
  out->append("data: [DONE]\n\n");
  return SseConversion::kCompletion;
}

}  // namespace tollgate::gateway
