// The texts of a chat request that the model reads, in request.content's
// order: the one definition shared by the decoder (request.content,
// request.input_tokens), the redactor (runtime::ApplyRedactions) and so
// `tollgate test`'s `expect redacted`.
//
// ## The texts, in order (docs/decision-input.md "request.content")
//   1. Each message (messages joined by "\n"): its `content` string, or the
//      texts of its content parts joined by "\n" (a part's `text`, a
//      `refusal` part's `refusal`, a bare string part); then, each after a
//      "\n" when the message has text before it, its `refusal`, the
//      `function.arguments` / `custom.input` of each `tool_calls` entry and
//      the deprecated `function_call.arguments` (empty ones skipped).
//   2. Then, each after a "\n" when request.content has text before it
//      (empty ones skipped): every message's `name`, in message order; the
//      `prediction.content` (a string, or its parts as above); for each
//      entry of `tools`, then of `functions`, the `description` of the tool
//      object, then of the member its `type` names (`function` for type
//      "function"), then of its `function` member when the type names
//      another, each followed by the schema texts of that object's
//      `parameters`, `input_schema` and `format`; the
//      `response_format.json_schema` `name`, `description` and the schema
//      texts of its `schema`.
//   3. Then, the same way, the strings of the members nobody reads as
//      anything else, which an upstream may read (vLLM's `documents` and
//      `chat_template`, OpenRouter's `prompt`, a message's
//      `reasoning_content`) or log (`metadata`): for each message, in
//      message order, every string value, at any depth and in document
//      order, of each of its members not in kMessageMembers, and, at its
//      `content` member's place when that is an array, the texts of its
//      content parts that 1. does not read (PartTexts: a `document`'s text
//      source, a `tool_result`'s content, a `tool_use`'s input, a thinking
//      block, citations, any other member of a part but its type, ids and
//      media payloads); then those of each top-level member of the body not
//      in kBodyMembers. A body without such members and parts gives the
//      texts of 1 and 2 alone.
// The schema texts of a value are its string values in document order
// (arrays and nested objects included), except those under the keywords
// that hold names or types (`type`, `required`, `format` when a string,
// `$ref`, `$schema`, `$id`, `$anchor`); member names are not texts. A tool's
// own name is not a text either (it is in request.tools, and a tool call
// must repeat it verbatim).
//
// Strings are rapidjson values; the caller says which strings are real texts
// (`is_text`: the decision input is parsed with numbers kept as strings).
// Only objects, arrays and strings are looked at; anything else is skipped,
// so a value of the wrong type is no error here (the decoder reports it).
//
// Determinism: the same DOM gives the same joined text and pieces.
// Cost: one pass over the messages and the definitions, iterative (no
// recursion, whatever the nesting), plus one lookup per message and body
// member for 3. (a byte-indexed range of a sorted list: a few length
// compares) and, for 3., one per member of each content part (PartTexts,
// iterative too), skipped when the caller says there is no such member or
// part member (the decoder checks each part's members against
// kPartSkipped as it decodes them). Thread safety: an instance is not
// shared; Collect reuses its buffers.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/core/types.h"  // SameName: member names compared without a memcmp call

namespace tollgate::runtime {

// The JSON Schema keywords whose string values are names or types (their
// strings are not schema texts). The audit's retention reads this list too.
inline constexpr std::string_view kSchemaNameKeywords[] = {"type", "required", "format", "$ref",
                                                           "$schema", "$id", "$anchor"};
inline bool IsSchemaNameKeyword(std::string_view key) {
  for (std::string_view k : kSchemaNameKeywords)
    if (key == k) return true;
  return false;
}

// The top-level body members whose strings are no texts of their own: those
// read above (messages, prediction, tools, functions, response_format: their
// texts are collected by shape), the OpenAI / OpenRouter parameters whose
// strings are words or enumerations (`tool_choice`, `service_tier`, ...)
// and the routing members the gateway strips (`plugins`, `provider`,
// ...). Every other member's strings are texts (3. above) -- `metadata`
// included: the model does not read it, but a secret there leaves the
// building all the same; so are the free-form strings a caller writes and
// the upstream receives (`user`, `stop`, `safety_identifier`,
// `prompt_cache_key`: an e-mail address in `user` is common), listed here
// before content format 6. INVARIANT: sorted (binary search). The audit's
// retention reads this list and kMessageMembers too (content format 4,
// runtime/audit/internal/content.cc: a record's texts are the strings of the
// members not listed): changing either changes which strings a record holds
// as texts, so it needs a new content format, with the old lists kept for
// replaying the records of the old one.
inline constexpr std::string_view kBodyMembers[] = {
    "audio", "debug", "frequency_penalty", "function_call", "functions", "include_reasoning",
    "logit_bias", "logprobs", "max_completion_tokens", "max_tokens", "messages", "min_p",
    "modalities", "model", "models", "n", "parallel_tool_calls", "plugins", "prediction",
    "presence_penalty", "preset", "provider", "reasoning", "reasoning_effort",
    "repetition_penalty", "response_format", "route", "seed", "service_tier",
    "session_id", "store", "stream", "stream_options", "structured_outputs", "temperature",
    "tool_choice", "tools", "top_a", "top_k", "top_logprobs", "top_p", "transforms", "usage",
    "verbosity", "web_search_options",
};
// A message's members whose strings are no texts of their own (`content`,
// `name`, `refusal`, the calls' arguments are read above; `role`,
// `tool_call_id` and an assistant `audio` reference are ids).
// INVARIANT: sorted.
inline constexpr std::string_view kMessageMembers[] = {
    "audio", "content", "function_call", "name", "refusal", "role", "tool_call_id", "tool_calls",
};
// A content part's members whose strings are no texts: its `type`, ids
// (`id`, `tool_use_id`), a thinking block's `signature` (opaque), the
// binary payloads, references and formats of image, audio and file parts
// (`image_url`, `input_audio`, `file`, and `image_url` / `file_data` /
// `file_id` / `file_url` / `audio_url` / `video_url` / `detail` /
// `media_type` / `mime_type` / `source_type` of the Responses-style and
// other media parts) and `cache_control`. Every other member's strings
// are texts (3. above). INVARIANT: sorted. The audit's retention reads
// this list, kMediaParts and kSourceSkipped's meaning too (content format 5,
// runtime/audit/internal/content.cc): changing them needs a new content
// format, like kBodyMembers.
inline constexpr std::string_view kPartSkipped[] = {
    "audio_url", "cache_control", "detail", "file", "file_data", "file_id", "file_url", "id",
    "image_url", "input_audio", "media_type", "mime_type", "signature", "source_type",
    "tool_use_id", "type", "video_url",
};
// The part types whose `data` member is a media payload (LangChain-style
// `{"type": "image", "source_type": "base64", "data": ...}`); another
// part's `data` (a `redacted_thinking` block's) is a text.
inline constexpr std::string_view kMediaParts[] = {"audio", "file", "image", "input_audio",
                                                   "input_file", "input_image", "video"};
// The `source` types of a part (`document`, `image`) that hold a binary
// payload or a reference, not text.
inline constexpr std::string_view kSourceSkipped[] = {"base64", "file", "url"};
static_assert(std::ranges::is_sorted(kBodyMembers) && std::ranges::is_sorted(kMessageMembers) &&
              std::ranges::is_sorted(kPartSkipped));
// Member-name lookup in a sorted list: the names that start with the same
// byte are contiguous, so one table of ranges per list (built at compile
// time) leaves a few length checks per lookup.
template <size_t N>
struct KnownMembers {
  const std::string_view (&names)[N];
  uint8_t first[257] = {};  // names starting with byte c: [first[c], first[c + 1])
  constexpr explicit KnownMembers(const std::string_view (&n)[N]) : names(n) {
    size_t i = 0;
    for (size_t c = 0; c < 256; ++c) {
      first[c] = static_cast<uint8_t>(i);
      while (i < N && static_cast<unsigned char>(names[i][0]) == c) ++i;
    }
    first[256] = static_cast<uint8_t>(i);
  }
  bool Has(std::string_view key) const {
    if (key.empty()) return false;
    const unsigned char c = static_cast<unsigned char>(key[0]);
    for (size_t i = first[c]; i < first[c + 1]; ++i)
      if (names[i].size() == key.size() && std::memcmp(names[i].data(), key.data(), key.size()) == 0)
        return true;
    return false;
  }
};
inline constexpr KnownMembers kKnownBodyMembers{kBodyMembers};
inline constexpr KnownMembers kKnownMessageMembers{kMessageMembers};
inline constexpr KnownMembers kKnownPartSkipped{kPartSkipped};

// `V` is a rapidjson value type, const or not.
template <class V>
class RequestTexts {
 public:
  // Collects the texts of the chat body `body` (see above). `unknown`
  // false: the caller has checked that no member of 3. is present (the
  // decoder, which looks at every member anyway), so 3. is skipped.
  template <class IsText>
  void Collect(V& body, const IsText& is_text, bool unknown = true) {
    joined_.clear();
    ranges_.clear();
    values_.clear();
    schema_bytes_ = 0;
    if (!body.IsObject()) return;
    V* msgs = Member(body, "messages");
    if (msgs && msgs->IsArray()) {
      bool first_message = true;
      for (V* m = msgs->Begin(); m != msgs->End(); ++m) {
        if (!m->IsObject()) continue;
        if (!first_message) joined_ += '\n';
        first_message = false;
        Message(*m, is_text);
      }
      for (V* m = msgs->Begin(); m != msgs->End(); ++m)
        if (m->IsObject()) Extra(Member(*m, "name"), is_text);
    }
    // Every member of a name (a duplicate one included: the decoder does
    // not refuse duplicates inside these objects, and a provider may read
    // either) is visited.
    Each(body, "prediction", [&](V& p) {
      Each(p, "content", [&](V& c) {
        if (!c.IsArray()) return Extra(&c, is_text);
        for (V* part = c.Begin(); part != c.End(); ++part) {
          if (!part->IsObject()) Extra(part, is_text);
          else Each(*part, "text", [&](V& t) { Extra(&t, is_text); });
        }
      });
    });
    for (std::string_view list : {std::string_view("tools"), std::string_view("functions")}) {
      Each(body, list, [&](V& tools) {
        if (!tools.IsArray()) return;
        for (V* t = tools.Begin(); t != tools.End(); ++t) {
          if (!t->IsObject()) continue;
          Definition(*t, is_text);
          // The inner objects: the member the type names (type "function":
          // `function`), then `function` when the type names another one
          // (an API dispatching on `type` reads the first, another the
          // second: both are read).
          bool typed_function = false;
          Each(*t, "type", [&](V& type) {
            if (!type.IsString() || !is_text(type)) return;
            const std::string_view name(type.GetString(), type.GetStringLength());
            if (name == "function") typed_function = true;
            Each(*t, name, [&](V& f) { Definition(f, is_text); });
          });
          if (!typed_function)
            Each(*t, "function", [&](V& f) { Definition(f, is_text); });
        }
      });
    }
    Each(body, "response_format", [&](V& rf) {
      Each(rf, "json_schema", [&](V& js) {
        Each(js, "name", [&](V& v) { Extra(&v, is_text); });
        Each(js, "description", [&](V& v) { Extra(&v, is_text); });
        Each(js, "schema", [&](V& v) { Schema(&v, is_text); });
      });
    });
    // 3. The members nobody reads as anything else.
    if (unknown) Unknown(body, msgs, is_text);
  }

  // The texts joined, as request.content.
  const std::string& joined() const { return joined_; }
  // Swaps joined() with *other (the decoder hands a long one to the record
  // instead of copying it); ranges() and values() then describe *other.
  void SwapJoined(std::string* other) { joined_.swap(*other); }
  // Each text's [begin, end) in joined(), increasing and disjoint; the
  // bytes between them are separators.
  const std::vector<std::pair<size_t, size_t>>& ranges() const { return ranges_; }
  // The string value of each range.
  const std::vector<V*>& values() const { return values_; }
  // Bytes of the member names inside the definitions' schemas and of the
  // name and type strings there: what the model reads of them besides the
  // texts (counted by request.input_tokens).
  size_t schema_bytes() const { return schema_bytes_; }

 private:
  static V* Member(V& obj, std::string_view name) {
    if (!obj.IsObject()) return nullptr;
    for (auto m = obj.MemberBegin(); m != obj.MemberEnd(); ++m)
      if (SameName(Key(m->name), name)) return &m->value;
    return nullptr;
  }
  static V* Object(V* v) { return v && v->IsObject() ? v : nullptr; }
  template <class N>
  static std::string_view Key(const N& name) { return {name.GetString(), name.GetStringLength()}; }
  // fn(value) for every member of `obj` named `name`, in order.
  template <class F>
  static void Each(V& obj, std::string_view name, const F& fn) {
    if (!obj.IsObject()) return;
    for (auto m = obj.MemberBegin(); m != obj.MemberEnd(); ++m)
      if (SameName(Key(m->name), name)) fn(m->value);
  }

  template <class IsText>
  void Message(V& m, const IsText& is_text) {
    const size_t start = joined_.size();
    V* c = Member(m, "content");
    if (c && c->IsString() && is_text(*c)) {
      Add(c);
    } else if (c && c->IsArray()) {
      bool first = true;
      for (V* part = c->Begin(); part != c->End(); ++part) {
        V* text = nullptr;
        if (part->IsString()) {
          text = part;  // a bare string part
        } else if (V* type = Member(*part, "type"); type && type->IsString()) {
          // Every part's `text` whatever its type, a `refusal` part's `refusal`.
          const bool refusal = std::string_view(type->GetString(), type->GetStringLength()) == "refusal";
          text = Member(*part, refusal ? "refusal" : "text");
        }
        if (!text || !text->IsString() || !is_text(*text)) continue;
        if (!first) joined_ += '\n';
        first = false;
        Add(text);
      }
    }
    auto argument = [&](V* v) {
      if (!v || !v->IsString() || !is_text(*v) || v->GetStringLength() == 0) return;
      if (joined_.size() > start) joined_ += '\n';
      Add(v);
    };
    argument(Member(m, "refusal"));
    V* calls = Member(m, "tool_calls");
    if (calls && calls->IsArray()) {
      for (V* call = calls->Begin(); call != calls->End(); ++call) {
        if (!call->IsObject()) continue;
        if (V* f = Object(Member(*call, "function"))) argument(Member(*f, "arguments"));
        if (V* f = Object(Member(*call, "custom"))) argument(Member(*f, "input"));
      }
    }
    if (V* f = Object(Member(m, "function_call"))) argument(Member(*f, "arguments"));
  }

  // A tool definition's own texts: its description, then its schemas'.
  template <class IsText>
  void Definition(V& obj, const IsText& is_text) {
    Each(obj, "description", [&](V& v) { Extra(&v, is_text); });
    for (std::string_view s : {std::string_view("parameters"), std::string_view("input_schema"),
                               std::string_view("format")})
      Each(obj, s, [&](V& v) { Schema(&v, is_text); });
  }

  // The schema texts of `root` (see the header comment), in document order.
  template <class IsText>
  void Schema(V* root, const IsText& is_text) {
    if (!root) return;
    stack_.clear();
    stack_.push_back({root, false});
    while (!stack_.empty()) {
      auto [v, name] = stack_.back();
      stack_.pop_back();
      if (v->IsString()) {
        if (!is_text(*v)) continue;
        if (name) schema_bytes_ += v->GetStringLength();
        else Extra(v, is_text);
      } else if (v->IsArray()) {
        for (V* e = v->End(); e != v->Begin();) stack_.push_back({--e, name});
      } else if (v->IsObject()) {
        for (auto m = v->MemberEnd(); m != v->MemberBegin();) {
          --m;
          const std::string_view key(m->name.GetString(), m->name.GetStringLength());
          schema_bytes_ += key.size();
          stack_.push_back({&m->value, IsSchemaNameKeyword(key)});
        }
      }
    }
  }

  // The strings of the members nobody reads as anything else (3. above).
  template <class IsText>
  void Unknown(V& body, V* msgs, const IsText& is_text) {
    if (msgs && msgs->IsArray()) {
      for (V* m = msgs->Begin(); m != msgs->End(); ++m) {
        if (!m->IsObject()) continue;
        for (auto x = m->MemberBegin(); x != m->MemberEnd(); ++x) {
          const std::string_view name = Key(x->name);
          if (SameName(name, "content")) {
            if (x->value.IsArray()) PartTexts(x->value, is_text);
          } else if (!kKnownMessageMembers.Has(name)) [[unlikely]] {
            Strings(&x->value, is_text);
          }
        }
      }
    }
    for (auto x = body.MemberBegin(); x != body.MemberEnd(); ++x)
      if (!kKnownBodyMembers.Has(Key(x->name))) [[unlikely]] Strings(&x->value, is_text);
  }

  // The texts of a message's content parts besides the one 1. reads (3.
  // above): for each part object, in part order, the strings of its members
  // other than its type, the text 1. read (`text`, a `refusal` part's
  // `refusal`) and kPartSkipped; a `source` by SourceTexts, a `content` as
  // nested parts (a bare string is a text, an object a part whose `text` and
  // `refusal` are texts too), every other member's strings at any depth.
  enum class Walk : uint8_t { kStrings, kParts, kPart, kSource };
  template <class IsText>
  void PartTexts(V& parts, const IsText& is_text) {
    for (V* part = parts.Begin(); part != parts.End(); ++part) {
      if (!part->IsObject()) continue;
      V* type = Member(*part, "type");
      const bool refusal = type && type->IsString() &&
                           std::string_view(type->GetString(), type->GetStringLength()) == "refusal";
      walk_.clear();
      PushPart(*part, refusal ? "refusal" : "text");
      while (!walk_.empty()) {
        auto [v, how] = walk_.back();
        walk_.pop_back();
        if (v->IsString()) {
          Extra(v, is_text);
        } else if (how == Walk::kPart && v->IsObject()) {
          PushPart(*v, {});
        } else if (how == Walk::kSource && v->IsObject()) {
          PushSource(*v, is_text);
        } else if (v->IsArray()) {
          const Walk each = how == Walk::kParts ? Walk::kPart : Walk::kStrings;
          for (V* e = v->End(); e != v->Begin();) walk_.push_back({--e, each});
        } else if (v->IsObject()) {
          // kStrings, and kParts on an object (a single part).
          if (how == Walk::kParts) PushPart(*v, {});
          else
            for (auto m = v->MemberEnd(); m != v->MemberBegin();) walk_.push_back({&(--m)->value, how});
        }
      }
    }
  }
  // Pushes a part's members (last first), skipping `read` (the text 1. read).
  void PushPart(V& part, std::string_view read) {
    bool media = false;  // a media part's `data` is its payload
    if (V* type = Member(part, "type"); type && type->IsString()) {
      const std::string_view t(type->GetString(), type->GetStringLength());
      for (std::string_view m : kMediaParts) media = media || t == m;
    }
    for (auto m = part.MemberEnd(); m != part.MemberBegin();) {
      --m;
      const std::string_view name = Key(m->name);
      if (name == read || kKnownPartSkipped.Has(name) || (media && name == "data")) continue;
      walk_.push_back({&m->value, name == "source"    ? Walk::kSource
                                  : name == "content" ? Walk::kParts
                                                      : Walk::kStrings});
    }
  }
  // A `source`: nothing when its type is a binary payload or a reference
  // (kSourceSkipped: base64, url, file); else the strings of its members
  // other than `type` and `media_type`, its `content` as nested parts
  // (a `text` source's `data`, a `content` source's parts).
  template <class IsText>
  void PushSource(V& source, const IsText& is_text) {
    if (V* type = Member(source, "type"); type && type->IsString() && is_text(*type)) {
      const std::string_view t(type->GetString(), type->GetStringLength());
      for (std::string_view skipped : kSourceSkipped)
        if (t == skipped) return;
    }
    for (auto m = source.MemberEnd(); m != source.MemberBegin();) {
      --m;
      const std::string_view name = Key(m->name);
      if (name == "type" || name == "media_type") continue;
      walk_.push_back({&m->value, name == "content" ? Walk::kParts : Walk::kStrings});
    }
  }

  // Every string value of `root` (3. above), in document order.
  template <class IsText>
  void Strings(V* root, const IsText& is_text) {
    if (root->IsString()) return Extra(root, is_text);
    if (!root->IsObject() && !root->IsArray()) return;
    stack_.clear();
    stack_.push_back({root, false});
    while (!stack_.empty()) {
      V* v = stack_.back().first;
      stack_.pop_back();
      if (v->IsString()) {
        Extra(v, is_text);
      } else if (v->IsArray()) {
        for (V* e = v->End(); e != v->Begin();) stack_.push_back({--e, false});
      } else if (v->IsObject()) {
        for (auto m = v->MemberEnd(); m != v->MemberBegin();) stack_.push_back({&(--m)->value, false});
      }
    }
  }

  template <class IsText>
  void Extra(V* v, const IsText& is_text) {
    if (!v || !v->IsString() || !is_text(*v) || v->GetStringLength() == 0) return;
    if (!joined_.empty()) joined_ += '\n';
    Add(v);
  }
  void Add(V* v) {
    const size_t b = joined_.size();
    joined_.append(v->GetString(), v->GetStringLength());
    ranges_.emplace_back(b, joined_.size());
    values_.push_back(v);
  }

  std::string joined_;
  std::vector<std::pair<size_t, size_t>> ranges_;
  std::vector<V*> values_;
  std::vector<std::pair<V*, bool>> stack_;  // Schema's pending values (true: under a name keyword)
  std::vector<std::pair<V*, Walk>> walk_;   // PartTexts' pending values
  size_t schema_bytes_ = 0;
};

}  // namespace tollgate::runtime
