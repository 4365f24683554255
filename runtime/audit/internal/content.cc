#include "runtime/audit/internal/content.h"

#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <re2/re2.h>

#include <algorithm>
#include <cstring>
#include <cctype>
#include <map>

#include "engine/scan/scanner.h"
#include "runtime/audit/internal/util.h"
#include "runtime/input/request_texts.h"
#include "stdlib/builtins.h"

namespace tollgate::audit::internal {
namespace rj = rapidjson;
namespace {

constexpr std::string_view kCredentialNames[] = {
    "authorization", "proxy-authorization", "api_key",       "api-key",
    "apikey",        "x-api-key",           "password",      "secret",
    "client_secret", "access_token",        "refresh_token", "cookie",
    "set-cookie",
};
// Cheap pre-filter over the raw text: a credential member name contains one of these.
constexpr std::string_view kCredentialStems[] = {"authorization", "api_key", "api-key", "apikey",
                                                 "password",      "secret",  "access_token",
                                                 "refresh_token", "cookie"};

int ApiKeyDetector() {
  static const int id = stdlib::FindDetector("dlp.api_key");
  return id;
}

std::string_view StripBom(std::string_view raw) {
  if (raw.size() >= 3 && static_cast<unsigned char>(raw[0]) == 0xEF &&
      static_cast<unsigned char>(raw[1]) == 0xBB && static_cast<unsigned char>(raw[2]) == 0xBF)
    raw.remove_prefix(3);
  return raw;
}

using Writer = rj::Writer<rj::StringBuffer>;

// ---- The allow-list of `retain content hash|none` (docs/audit.md) ----
//
// A value's shape is its member path with array indices dropped:
// request.messages[].content[].image_url.url. A field of the policy's
// schema is kept as received; else the rule of that shape says what the
// value becomes (a named member's rule before a `*` rule); else an object
// on the way to a schema field is walked, and anything else is omitted.
// Member names of a walked object are kept (the request body's are
// request.parameters), except inside a schema (but its keywords) and inside
// an unknown member: masked. The members of the body and of a message that
// runtime/input/request_texts.h does not know go to one recursive node
// (AllowList::unknown_node, since format 4) whose strings are texts; the
// known ones no rule names are omitted whole. A content part's members but
// its type, text and the ones request_texts.h skips (kPartSkipped) go to
// another (AllowList::part_unknown_node, since format 5). Null stays null everywhere
// (it carries nothing, and a null body member is not in
// request.parameters). AllowList::Of compiles
// the rules and a schema's fields into one tree, so that classifying a value
// is one lookup below its parent's node.

using Scalar = AllowList::Scalar;

struct Rule {
  std::string_view shape;  // members separated by '.', [] an array element, * any member
  Scalar scalar;
  bool open;                     // an object or array here is walked member by member (else omitted)
  std::string_view values = {};  // kEnum: the strings kept, space-separated
  int since = 1;                 // kText: the content format from which it is a text
};

// INVARIANT: every text the decoder scans (runtime/input/request_texts.h:
// message content, text parts, a message's refusal, tool-call arguments,
// ...) is a kText rule here, a schema node's text, an unknown member's
// string or a content part's (the part nodes of AllowList::Of, format 5),
// and every ancestor of one is an open rule.
constexpr Rule kRules[] = {
    {"request.messages", Scalar::kOmit, true},
    {"request.messages[]", Scalar::kOmit, true},
    {"request.messages[].role", Scalar::kEnum, false, "system developer user assistant tool function"},
    {"request.messages[].content", Scalar::kText, true},
    {"request.messages[].content[]", Scalar::kText, true},  // a bare string part is text
    {"request.messages[].content[].type", Scalar::kEnum, false,
     "text image_url input_audio file refusal input_text output_text input_image input_file image "
     "audio video document tool_use tool_result thinking redacted_thinking search_result"},
    {"request.messages[].content[].text", Scalar::kText, false},
    {"request.messages[].content[].refusal", Scalar::kText, false},
    {"request.messages[].content[].image_url", Scalar::kOmit, true},
    {"request.messages[].content[].image_url.detail", Scalar::kEnum, false, "auto low high"},
    {"request.messages[].content[].input_audio", Scalar::kOmit, true},
    {"request.messages[].content[].input_audio.format", Scalar::kEnum, false, "wav mp3"},
    {"request.messages[].content[].file", Scalar::kOmit, true},
    {"request.messages[].content[].file.file_id", Scalar::kKeep, false},
    {"request.messages[].tool_call_id", Scalar::kKeep, false},
    {"request.messages[].tool_calls", Scalar::kOmit, true},
    {"request.messages[].tool_calls[]", Scalar::kOmit, true},
    {"request.messages[].tool_calls[].id", Scalar::kKeep, false},
    {"request.messages[].tool_calls[].type", Scalar::kEnum, false, "function custom"},
    {"request.messages[].tool_calls[].function", Scalar::kOmit, true},
    {"request.messages[].tool_calls[].function.name", Scalar::kKeep, false},
    {"request.messages[].tool_calls[].function.arguments", Scalar::kText, false},
    {"request.messages[].tool_calls[].custom", Scalar::kOmit, true},
    {"request.messages[].tool_calls[].custom.name", Scalar::kKeep, false},
    {"request.messages[].tool_calls[].custom.input", Scalar::kText, false, {}, 2},
    {"request.messages[].function_call", Scalar::kOmit, true},
    {"request.messages[].function_call.name", Scalar::kKeep, false},
    {"request.messages[].function_call.arguments", Scalar::kText, false, {}, 2},
    {"request.messages[].refusal", Scalar::kText, false, {}, 2},  // an assistant's refusal
    {"request.messages[].name", Scalar::kText, false, {}, 3},
    // Tools: names and types are kept (request.tools); descriptions are
    // texts, and so are the schema texts of `parameters`, `input_schema` and
    // `format` (kSchemaMembers, linked in AllowList::Of).
    {"request.tools", Scalar::kOmit, true},
    {"request.tools[]", Scalar::kKeep, true},  // a bare string is a name
    {"request.tools[].type", Scalar::kKeep, false},
    {"request.tools[].name", Scalar::kKeep, false},
    {"request.tools[].description", Scalar::kText, false, {}, 3},
    {"request.tools[].function", Scalar::kOmit, true},
    {"request.tools[].function.name", Scalar::kKeep, false},
    {"request.tools[].function.strict", Scalar::kNum, false},
    {"request.tools[].function.description", Scalar::kText, false, {}, 3},
    // The member the tool's type names ({"type": "custom", "custom": {"name"}}):
    // the type may come after it, so any object member but the ones above.
    {"request.tools[].*", Scalar::kOmit, true},
    {"request.tools[].*.name", Scalar::kKeep, false},
    {"request.tools[].*.description", Scalar::kText, false, {}, 3},
    {"request.functions", Scalar::kOmit, true},
    {"request.functions[]", Scalar::kKeep, true},
    {"request.functions[].name", Scalar::kKeep, false},
    {"request.functions[].description", Scalar::kText, false, {}, 3},
    {"request.tool_choice", Scalar::kEnum, true, "none auto required"},
    {"request.tool_choice.type", Scalar::kEnum, false, "function custom allowed_tools"},
    {"request.tool_choice.function", Scalar::kOmit, true},
    {"request.tool_choice.function.name", Scalar::kKeep, false},
    {"request.tool_choice.custom", Scalar::kOmit, true},
    {"request.tool_choice.custom.name", Scalar::kKeep, false},
    {"request.function_call", Scalar::kEnum, true, "none auto"},
    {"request.function_call.name", Scalar::kKeep, false},
    {"request.response_format", Scalar::kOmit, true},
    {"request.response_format.type", Scalar::kEnum, false, "text json_object json_schema"},
    {"request.response_format.json_schema", Scalar::kOmit, true},
    {"request.response_format.json_schema.name", Scalar::kText, false, {}, 3},
    {"request.response_format.json_schema.description", Scalar::kText, false, {}, 3},
    {"request.response_format.json_schema.strict", Scalar::kNum, false},
    {"request.prediction", Scalar::kOmit, true},
    {"request.prediction.type", Scalar::kEnum, false, "content"},
    {"request.prediction.content", Scalar::kText, true, {}, 3},
    {"request.prediction.content[]", Scalar::kText, true, {}, 3},  // a bare string part
    {"request.prediction.content[].type", Scalar::kEnum, false, "text"},
    {"request.prediction.content[].text", Scalar::kText, false, {}, 3},
    {"request.stream_options", Scalar::kOmit, true},
    {"request.stream_options.include_usage", Scalar::kNum, false},
    {"request.reasoning_effort", Scalar::kEnum, false, "minimal low medium high"},
    {"request.service_tier", Scalar::kEnum, false, "auto default flex priority scale"},
    {"request.frequency_penalty", Scalar::kNum, false},
    {"request.presence_penalty", Scalar::kNum, false},
    {"request.repetition_penalty", Scalar::kNum, false},
    {"request.top_p", Scalar::kNum, false},
    {"request.top_k", Scalar::kNum, false},
    {"request.min_p", Scalar::kNum, false},
    {"request.top_a", Scalar::kNum, false},
    {"request.seed", Scalar::kNum, false},
    {"request.logprobs", Scalar::kNum, false},
    {"request.top_logprobs", Scalar::kNum, false},
    {"request.parallel_tool_calls", Scalar::kNum, false},
    {"request.store", Scalar::kNum, false},
};

// The members holding a JSON schema whose texts are the model's
// (runtime/input/request_texts.h): each is linked to one recursive schema
// node. Under it every string is a text, except below the keywords that hold
// names or types (runtime::kSchemaNameKeywords), at any depth: those, and
// the member names other than the keywords, are masked (same length).
constexpr std::string_view kSchemaMembers[] = {
    "request.tools[].parameters",          "request.tools[].input_schema",
    "request.tools[].format",              "request.tools[].function.parameters",
    "request.tools[].function.input_schema", "request.tools[].function.format",
    "request.tools[].*.parameters",        "request.tools[].*.input_schema",
    "request.tools[].*.format",            "request.functions[].parameters",
    "request.functions[].input_schema",    "request.functions[].format",
    "request.response_format.json_schema.schema",
};

bool InValues(std::string_view values, std::string_view s) {
  if (s.empty()) return false;
  size_t at = 0;
  while (at < values.size()) {
    size_t sp = values.find(' ', at);
    if (sp == std::string_view::npos) sp = values.size();
    if (values.substr(at, sp - at) == s) return true;
    at = sp + 1;
  }
  return false;
}

// A SAX pass-through from a reader to a writer that knows where it is in a
// decision input: texts (the kText rules) and credential members can be
// rewritten on the way, and under `hash`/`none` every value is classified
// by the allow-list above.
class Filter {
 public:
  enum class Mode { kRecord, kReplay };
  Filter(Writer* w, Mode mode) : w_(w), mode_(mode) {}

  // kRecord settings
  ast::Retention retain = ast::Retention::kFull;
  std::string_view key;
  const AllowList* allow = &AllowList::Standard();
  // kReplay settings
  const std::vector<uint64_t>* lengths = nullptr;
  int format = 1;
  std::string_view clock;

  // kRecord results
  struct Omitted {
    std::string path;
    uint64_t bytes;
    std::string hmac;  // `hash` only
  };
  std::vector<uint64_t> text_lengths;
  std::vector<std::string> hmacs;  // the first max_listed texts' (hash)
  // The texts after those (hash): how many, and the HMAC over each one's
  // bytes as its length in decimal, ':', then itself.
  uint64_t hmac_rest_count = 0;
  std::unique_ptr<HmacSha256> hmac_rest;
  std::map<std::string, int> detectors;
  // The first entries of `omitted` and `scrubbed`, and HMACs of `hmacs`,
  // are listed one by one: at most max_listed of each, and paths until
  // max_path_bytes of them were listed (content.h kMaxListed).
  size_t max_listed = kMaxListed, max_path_bytes = kMaxListedPathBytes;
  std::vector<Omitted> omitted;
  size_t omitted_path_bytes = 0;
  // The omitted values after the first max_listed: how many, their bytes,
  // and (hash) the HMAC over each one's path and bytes, each as its length
  // in decimal, ':', then itself.
  uint64_t rest_count = 0, rest_bytes = 0;
  std::unique_ptr<HmacSha256> rest_hmac;
  std::vector<std::string> scrubbed;
  size_t scrubbed_path_bytes = 0;
  uint64_t scrubbed_rest = 0;  // credentials cut out after those listed

  bool Null() {
    if (skip_) return true;
    if (omit_) return side_.Null();
    pending_cred_ = false;  // a null credential is no credential
    NoteContext();
    bool ok;
    if (ClockSlot()) {
      ok = w_->String(clock.data(), static_cast<rj::SizeType>(clock.size()));
    } else if (mode_ == Mode::kReplay && !clock.empty() && frames_.size() == 1 &&
               frames_[0].key == "context") {  // "context": null -> {"time": clock}
      w_->StartObject();
      w_->Key("time");
      w_->String(clock.data(), static_cast<rj::SizeType>(clock.size()));
      ok = w_->EndObject();
    } else {
      ok = w_->Null();
    }
    Advance();
    return ok;
  }
  bool Bool(bool b) {
    if (omit_) return side_.Bool(b);
    if (Handled()) return true;
    if (Classify(false, false) == Act::kOmit) return OmitScalar(b ? "true" : "false", Placeholder::kBool);
    return Done(w_->Bool(b));
  }
  bool Int(int i) { return Number(std::to_string(i)); }
  bool Uint(unsigned u) { return Number(std::to_string(u)); }
  bool Int64(int64_t i) { return Number(std::to_string(i)); }
  bool Uint64(uint64_t u) { return Number(std::to_string(u)); }
  bool Double(double d) {
    if (omit_) return side_.Double(d);
    if (Handled()) return true;
    if (Classify(false, false) == Act::kOmit) {
      rj::StringBuffer b;
      Writer n(b);
      n.Double(d);
      return OmitScalar(std::string_view(b.GetString(), b.GetSize()), Placeholder::kNumber);
    }
    return Done(w_->Double(d));
  }
  bool RawNumber(const char* s, rj::SizeType n, bool) {
    // (Writer::RawNumber would quote it: write the number's text as is.)
    if (omit_) return side_.RawValue(s, n, rj::kNumberType);
    if (Handled()) return true;
    if (Classify(false, false) == Act::kOmit) return OmitScalar(std::string_view(s, n), Placeholder::kNumber);
    return Done(w_->RawValue(s, n, rj::kNumberType));
  }
  bool String(const char* s, rj::SizeType n, bool) {
    if (omit_) return side_.String(s, n);
    if (Handled()) return true;
    std::string_view text(s, n);
    if (mode_ == Mode::kReplay) {
      if (IsText(text)) return Done(Text(text));
      return Done(w_->String(s, n));
    }
    switch (Classify(true, false, text)) {
      case Act::kText: return Done(Text(text));
      case Act::kOmit: return OmitScalar(text, Placeholder::kString);
      case Act::kMask: return Done(Masked(n));
      default: return Done(Secretless(text));
    }
  }
  bool StartObject() { return Start(false); }
  bool Key(const char* s, rj::SizeType n, bool) {
    if (skip_) return true;
    if (omit_) return side_.Key(s, n);
    Frame& f = frames_.back();
    f.key.assign(s, n);
    if (f.key == "time" && frames_.size() == 2 && frames_[0].key == "context") f.has_time = true;
    if (mode_ == Mode::kRecord && IsCredentialName(f.key)) pending_cred_ = true;
    // A schema's member names (a property's name) are masked, its keywords
    // kept; so are the member names inside an unknown member (caller text,
    // like `metadata`'s keys). The frame then holds the masked name, so
    // that paths (content.omitted) do not carry it either -- a credential's
    // name (one of a fixed list) stays in content.scrubbed; the node below
    // is the same (a masked name is no named member).
    if (Classifying() &&
        (f.node == allow->unknown_node || f.node == allow->part_unknown_node ||
         ((f.node == allow->schema_node || f.node == allow->name_node) &&
          !runtime::IsSchemaNameKeyword(f.key)))) {
      if (!pending_cred_) f.key.assign(std::min<size_t>(n, 64u << 20), '_');
      return Masked(n, true);
    }
    return w_->Key(s, n);
  }
  bool EndObject(rj::SizeType) {
    if (skip_) return EndSkipped();
    if (omit_) return side_.EndObject() && EndOmitted(Placeholder::kObject);
    // Replay: the clock goes into context (made when absent) unless it has a time.
    if (mode_ == Mode::kReplay && !clock.empty()) {
      if (frames_.size() == 2 && frames_[0].key == "context" && !frames_[1].has_time) {
        w_->Key("time");
        w_->String(clock.data(), static_cast<rj::SizeType>(clock.size()));
      }
      if (frames_.size() == 1 && !saw_context_) {
        w_->Key("context");
        w_->StartObject();
        w_->Key("time");
        w_->String(clock.data(), static_cast<rj::SizeType>(clock.size()));
        w_->EndObject();
      }
    }
    frames_.pop_back();
    Advance();
    return w_->EndObject();
  }
  bool StartArray() { return Start(true); }
  bool EndArray(rj::SizeType) {
    if (skip_) return EndSkipped();
    if (omit_) return side_.EndArray() && EndOmitted(Placeholder::kArray);
    frames_.pop_back();
    Advance();
    return w_->EndArray();
  }

 private:
  struct Frame {
    bool array;
    std::string key;   // current member (objects)
    size_t index;      // current element (arrays)
    bool has_time;     // context object: a "time" member was seen
    bool all;          // a kept subtree: nothing below is classified (every frame under full)
    int node;          // its allow-list node (-1: none, or `all`)
  };
  // kField: an object or array that is a schema field, kept as received.
  enum class Act { kKeep, kField, kOpen, kText, kOmit, kMask };
  enum class Placeholder { kString, kNumber, kBool, kObject, kArray };

  bool Number(const std::string& text) {
    return RawNumber(text.data(), static_cast<rj::SizeType>(text.size()), false);
  }

  // Whether the value about to be written is classified at all: only when
  // recording under hash/none, outside a kept subtree.
  bool Classifying() const {
    return mode_ == Mode::kRecord && retain != ast::Retention::kFull &&
           (frames_.empty() || !frames_.back().all);
  }

  // The allow-list node of the value about to be written (-1: none).
  int NodeHere() const {
    if (frames_.empty()) return 0;  // the document
    const Frame& f = frames_.back();
    return f.array ? allow->Element(f.node) : allow->Member(f.node, f.key);
  }

  // What the value about to be written becomes (kKeep when not classifying).
  Act Classify(bool is_string, bool container, std::string_view str = {}) {
    if (!Classifying()) return Act::kKeep;
    const int at = NodeHere();
    if (at < 0) return Act::kOmit;
    const AllowList::Node& n = allow->nodes[at];
    if (n.field) return container ? Act::kField : Act::kKeep;
    if (container) return n.open ? Act::kOpen : Act::kOmit;
    if (!n.rule) return Act::kOmit;
    switch (n.scalar) {
      case Scalar::kKeep: return Act::kKeep;
      case Scalar::kEnum: return is_string && InValues(n.values, str) ? Act::kKeep : Act::kOmit;
      case Scalar::kNum: return is_string ? Act::kOmit : Act::kKeep;
      case Scalar::kText: return is_string ? Act::kText : Act::kOmit;
      case Scalar::kMask: return is_string ? Act::kMask : Act::kOmit;
      case Scalar::kOmit: return Act::kOmit;
    }
    return Act::kOmit;
  }
  bool Start(bool array) {
    if (skip_) {
      ++skip_;
      return true;
    }
    if (omit_) {
      ++omit_;
      return array ? side_.StartArray() : side_.StartObject();
    }
    NoteContext();
    if (pending_cred_) {
      pending_cred_ = false;
      Removed();
      skip_ = 1;
      return true;
    }
    bool all = !frames_.empty() && frames_.back().all;
    if (mode_ == Mode::kRecord && !all) {
      Act a = Classify(false, true);
      if (a == Act::kOmit) {
        side_buf_.Clear();
        side_.Reset(side_buf_);
        omit_ = 1;
        return array ? side_.StartArray() : side_.StartObject();
      }
      all = a == Act::kKeep || a == Act::kField;
    }
    frames_.push_back({array, {}, 0, false, all, all ? -1 : NodeHere()});
    return array ? w_->StartArray() : w_->StartObject();
  }

  // Before every scalar: true when the value was swallowed (inside a
  // removed credential) or already replaced (a credential's value).
  bool Handled() {
    if (skip_) return true;
    NoteContext();
    if (pending_cred_) {
      pending_cred_ = false;
      Removed();
      Advance();
      return true;
    }
    return false;
  }
  bool Done(bool ok) {
    Advance();
    return ok;
  }
  void NoteContext() {
    if (frames_.size() == 1 && frames_[0].key == "context") saw_context_ = true;
  }
  bool EndSkipped() {
    if (--skip_ == 0) Advance();
    return true;
  }
  // An omitted value: its size (and HMAC) in `omitted`, a placeholder of
  // its JSON type in the input. The bytes are a string's own (UTF-8), a
  // number's text, or an object's or array's compact JSON.
  bool OmitScalar(std::string_view bytes, Placeholder p) {
    Omit(bytes, p);
    Advance();
    return true;
  }
  bool EndOmitted(Placeholder p) {
    if (--omit_ > 0) return true;
    Omit(std::string_view(side_buf_.GetString(), side_buf_.GetSize()), p);
    Advance();
    return true;
  }
  void Omit(std::string_view bytes, Placeholder p) {
    if (omitted.size() < max_listed && omitted_path_bytes < max_path_bytes) {
      omitted.push_back({Path(), bytes.size(),
                         retain == ast::Retention::kHash ? HmacSha256Hex(key, bytes) : std::string()});
      omitted_path_bytes += omitted.back().path.size();
    } else {
      ++rest_count;
      rest_bytes += bytes.size();
      if (retain == ast::Retention::kHash) {
        if (!rest_hmac) rest_hmac = std::make_unique<HmacSha256>(key);
        const std::string path = Path();
        for (std::string_view part : {std::string_view(path), bytes}) {
          const std::string n = std::to_string(part.size()) + ":";
          rest_hmac->Update(n);
          rest_hmac->Update(part);
        }
      }
    }
    switch (p) {
      case Placeholder::kString: w_->String(""); break;
      case Placeholder::kNumber: w_->RawValue("0", 1, rj::kNumberType); break;
      case Placeholder::kBool: w_->Bool(false); break;
      case Placeholder::kObject: w_->StartObject(); w_->EndObject(); break;
      case Placeholder::kArray: w_->StartArray(); w_->EndArray(); break;
    }
  }
  void Removed() {
    Scrubbed();
    w_->String("[removed]");
  }
  // A credential cut out here: its path in `scrubbed`, or counted past the
  // listed ones.
  void Scrubbed() {
    if (scrubbed.size() < max_listed && scrubbed_path_bytes < max_path_bytes) {
      scrubbed.push_back(Path());
      scrubbed_path_bytes += scrubbed.back().size();
    } else {
      ++scrubbed_rest;
    }
  }
  void Advance() {
    if (!frames_.empty() && frames_.back().array) ++frames_.back().index;
  }
  bool ClockSlot() const {
    // context.time: null -> the clock (replay)
    return mode_ == Mode::kReplay && !clock.empty() && frames_.size() == 2 &&
           frames_[0].key == "context" && !frames_[1].array && frames_[1].key == "time";
  }
  // Replay: whether the string being written was a text of the record's
  // content format (the kText rules in force for that format).
  // A text was recorded as "": anything else there ("[removed]", a
  // credential's value) took no length.
  bool IsText(std::string_view s) const {
    if (frames_.size() < 2 || !s.empty()) return false;  // request.prompt is the shallowest
    const int at = NodeHere();
    if (at < 0) return false;
    const AllowList::Node& n = allow->nodes[at];
    return n.rule && n.scalar == Scalar::kText && n.since <= format;
  }
  bool Text(std::string_view text) {
    if (mode_ == Mode::kReplay) {
      size_t i = filled_++;
      if (lengths == nullptr) return w_->String(text.data(), static_cast<rj::SizeType>(text.size()));
      uint64_t len = i < lengths->size() ? (*lengths)[i] : 0;
      std::string filler(std::min<uint64_t>(len, 64u << 20), '_');
      return w_->String(filler.data(), static_cast<rj::SizeType>(filler.size()));
    }
    text_lengths.push_back(text.size());
    if (retain == ast::Retention::kHash) {
      if (hmacs.size() < max_listed) {
        hmacs.push_back(HmacSha256Hex(key, text));
      } else {
        ++hmac_rest_count;
        if (!hmac_rest) hmac_rest = std::make_unique<HmacSha256>(key);
        hmac_rest->Update(std::to_string(text.size()) + ":");
        hmac_rest->Update(text);
      }
      const auto& decls = stdlib::Detectors();
      for (size_t d = 0; d < decls.size(); ++d) {
        if (!stdlib::DetectorMatches(static_cast<int>(d), text)) continue;
        detectors[std::string(decls[d].name)] +=
            static_cast<int>(stdlib::FindDetectorMatches(static_cast<int>(d), text).size());
      }
    }
    return w_->String("");
  }
  // `n` underscores, as a string or a member name: a schema's name whose
  // length (request.input_tokens counts it) is all the record keeps.
  bool Masked(size_t n, bool key = false) {
    std::string m(std::min<size_t>(n, 64u << 20), '_');
    const auto len = static_cast<rj::SizeType>(m.size());
    return key ? w_->Key(m.data(), len) : w_->String(m.data(), len);
  }
  // Writes a string with every dlp.api_key match cut out.
  bool Secretless(std::string_view s) {
    if (ApiKeyDetector() < 0 || !stdlib::DetectorMatches(ApiKeyDetector(), s))
      return w_->String(s.data(), static_cast<rj::SizeType>(s.size()));
    std::string out;
    size_t at = 0;
    for (auto [b, e] : stdlib::FindDetectorMatches(ApiKeyDetector(), s)) {
      out.append(s.substr(at, b - at));
      out += "[credential]";
      at = e;
    }
    out.append(s.substr(at));
    Scrubbed();
    return w_->String(out.data(), static_cast<rj::SizeType>(out.size()));
  }
  std::string Path() const {
    std::string p;
    for (size_t i = 0; i < frames_.size(); ++i) {
      const Frame& f = frames_[i];
      if (f.array) {
        // the element being written is index (Advance runs after the write for scalars)
        p += "[" + std::to_string(f.index) + "]";
      } else {
        p += (p.empty() ? "" : ".") + f.key;
      }
    }
    return p;
  }

  Writer* w_;
  Mode mode_;
  std::vector<Frame> frames_;
  bool pending_cred_ = false;
  int skip_ = 0;
  int omit_ = 0;  // depth inside an omitted object or array (its JSON goes to side_)
  rj::StringBuffer side_buf_;
  Writer side_{side_buf_};
  size_t filled_ = 0;
  bool saw_context_ = false;
};

void Str(Writer& w, std::string_view s) { w.String(s.data(), static_cast<rj::SizeType>(s.size())); }

}  // namespace

bool IsCredentialName(std::string_view name) {
  if (name.size() > 32) return false;
  std::string lower(name);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (std::string_view n : kCredentialNames)
    if (lower == n) return true;
  return false;
}

int AllowList::Member(int node, std::string_view name) const {
  if (node < 0) return -1;
  const Node& n = nodes[node];
  for (const auto& [member, at] : n.members)
    if (member == name) return at;
  return n.any;
}

std::shared_ptr<const AllowList> AllowList::Of(const stdlib::Schema& schema) {
  auto list = std::make_shared<AllowList>();
  std::vector<Node>& nodes = list->nodes;
  nodes.emplace_back();  // the document
  nodes[0].open = true;
  // The node of `name` below `parent` (`*`: any member, "[]": an element), made when absent.
  auto kid = [&](int parent, std::string_view name) {
    const bool element = name == "[]", any = name == "*";
    Node& p = nodes[parent];
    const int had = element ? p.element : any ? p.any : -1;
    if (had >= 0) return had;
    if (!element && !any)
      for (const auto& [member, at] : p.members)
        if (member == name) return at;
    const int at = static_cast<int>(nodes.size());
    nodes.emplace_back();  // (moves the nodes: `p` is not used below)
    Node& q = nodes[parent];
    if (element) q.element = at;
    else if (any) q.any = at;
    else q.members.emplace_back(std::string(name), at);
    return at;
  };
  // A path's nodes: dotted members, `[]` suffixes for elements.
  auto walk = [&](std::string_view path, bool prefixes_open) {
    int at = 0;
    size_t from = 0;
    for (;;) {
      size_t dot = path.find('.', from);
      std::string_view part = path.substr(from, dot == std::string_view::npos ? dot : dot - from);
      size_t elements = 0;
      while (part.size() >= 2 && part.substr(part.size() - 2) == "[]") {
        part.remove_suffix(2);
        ++elements;
      }
      at = kid(at, part);
      for (size_t i = 0; i < elements; ++i) at = kid(at, "[]");
      if (dot == std::string_view::npos) return at;
      // An object on the way to a schema field is walked (its rule, if any, decides otherwise).
      if (prefixes_open && !nodes[at].rule) nodes[at].open = true;
      from = dot + 1;
    }
  };
  for (const Rule& r : kRules) {
    Node& n = nodes[walk(r.shape, false)];
    n.rule = true;
    n.open = r.open;
    n.scalar = r.scalar;
    n.values = r.values;
    n.since = r.since;
  }
  // The schema node S (texts) and the name-keyword node K (kept); both walk
  // objects and arrays, their member names are kept. INVARIANT: as
  // RequestTexts::Schema classifies a string: by the nearest member name
  // (arrays are transparent), a name keyword or not.
  {
    const int S = static_cast<int>(nodes.size()), K = S + 1;
    nodes.resize(nodes.size() + 2);
    nodes[S].rule = nodes[K].rule = true;
    nodes[S].open = nodes[K].open = true;
    nodes[S].scalar = Scalar::kText;
    nodes[S].since = 3;
    nodes[K].scalar = Scalar::kMask;
    nodes[S].any = nodes[K].any = S;
    nodes[S].element = S;
    nodes[K].element = K;
    list->schema_node = S;
    list->name_node = K;
    for (std::string_view k : runtime::kSchemaNameKeywords) {
      nodes[S].members.emplace_back(std::string(k), K);
      nodes[K].members.emplace_back(std::string(k), K);
    }
    for (std::string_view shape : kSchemaMembers) {
      const size_t dot = shape.rfind('.');
      const int parent = walk(shape.substr(0, dot), false);
      nodes[parent].members.emplace_back(std::string(shape.substr(dot + 1)), S);
    }
  }
  // The unknown node U (format 4): every member of the body and of a
  // message that runtime/input/request_texts.h does not know -- whose
  // strings are texts of request.content (its 3.) -- at any depth: strings
  // are texts, numbers and booleans replaced, member names masked.
  // A node whose every member and element, at any depth, is itself: its
  // strings texts from content format `since` on.
  auto text_node = [&](int since) {
    const int n = static_cast<int>(nodes.size());
    nodes.emplace_back();
    nodes[n].rule = nodes[n].open = true;
    nodes[n].scalar = Scalar::kText;
    nodes[n].since = since;
    nodes[n].any = nodes[n].element = n;
    return n;
  };
  list->unknown_node = text_node(4);
  // The content parts (format 5): every string of a part that
  // request_texts.h reads as a text (RequestTexts::PartTexts) is a text of
  // the record. A part's members other than its type, `text`, `refusal`,
  // `source`, `content` and the ones it skips (runtime::kPartSkipped,
  // omitted whole) go to the node V: strings texts at any depth, member
  // names masked, like U but a text from format 5 only (an older record
  // holds an empty placeholder there). A `source` (node S) keeps its type
  // (its texts depend on it) and is otherwise V's, a base64 or URL source's
  // payload included: a text of the record whose filler replay skips as
  // the decoder skipped the payload; its `content` and a part's `content`
  // (node C) are nested parts, read as the top-level ones (node P).
  // INVARIANT: every string PartTexts reads is a text here, and every
  // value PartTexts decides by (a part's and a source's type) is kept.
  {
    const int P = walk("request.messages[].content[]", false);
    const int V = text_node(5);
    list->part_unknown_node = V;
    for (std::string_view name : runtime::kPartSkipped) {
      const int k = kid(P, name);
      if (!nodes[k].rule) nodes[k].rule = true;  // kOmit, closed (unless a rule above says more)
    }
    const int S = kid(P, "source"), C = kid(P, "content");
    for (int n : {S, C}) {
      nodes[n].rule = nodes[n].open = true;
      nodes[n].scalar = Scalar::kText;  // a bare string: a text
      nodes[n].since = 5;
      nodes[n].any = V;
    }
    const int st = kid(S, "type");
    nodes[st].rule = true;
    nodes[st].scalar = Scalar::kEnum;
    nodes[st].values = "base64 url file text content";
    nodes[kid(S, "media_type")].rule = true;  // kOmit
    nodes[S].members.emplace_back("content", C);
    nodes[C].element = P;  // a nested part
    nodes[P].element = V;  // (an array in a part's place: strings)
    nodes[P].any = V;
    nodes[C].members = nodes[P].members;  // a single part in `content`'s place
  }
  std::vector<std::string> fields;
  for (const stdlib::FieldDef& f : schema.fields()) {
    if (f.scope == ast::Scope::kCandidate) {
      fields.push_back("candidate." + f.path);  // given by the caller, derived ones too
    } else if (!f.derived && f.path != "request.messages" && f.path != "request.tools") {
      fields.push_back(f.path);  // (the messages and tools are the rules')
    }
  }
  // Tolerated in place of a field (runtime/input/input.cc BuildPlan).
  if (schema.Find("request.max_tokens") >= 0) fields.push_back("request.max_completion_tokens");
  if (schema.IsPrefix("request.provider.max_price")) fields.push_back("request.provider.max_price.image");
  for (const std::string& f : fields) nodes[walk(f, true)].field = true;
  // Every other member of the body and of a message goes to U, except the
  // ones request_texts.h knows (kBodyMembers, kMessageMembers): a known
  // member no rule or field names is replaced whole, as before.
  auto unknown_below = [&](int at, auto&& known) {
    for (std::string_view name : known) {
      if (nodes[at].members.end() !=
          std::find_if(nodes[at].members.begin(), nodes[at].members.end(),
                       [&](const auto& m) { return m.first == name; }))
        continue;
      const int k = kid(at, name);
      nodes[k].rule = true;  // kOmit, closed
    }
    nodes[at].any = list->unknown_node;
  };
  const int request = walk("request", false);
  unknown_below(request, runtime::kBodyMembers);
  unknown_below(walk("request.messages[]", false), runtime::kMessageMembers);
  // The members that became texts in format 6 (kTextsSince6): U's shape,
  // but texts from format 6 only, so that an older record's placeholders
  // (they were replaced whole) take no recorded length. A member a rule or
  // a field names keeps its own node.
  const int W = text_node(6);
  for (std::string_view name : kTextsSince6) {
    if (nodes[request].members.end() ==
        std::find_if(nodes[request].members.begin(), nodes[request].members.end(),
                     [&](const auto& m) { return m.first == name; }))
      nodes[request].members.emplace_back(std::string(name), W);
  }
  return list;
}

const AllowList& AllowList::Standard() {
  static const std::shared_ptr<const AllowList> standard = Of(stdlib::Schema::Standard());
  return *standard;
}

namespace {

// Every alternative of dlp.api_key (stdlib/detectors.cc) starts with one of
// these literals (case-sensitive, as the regex is).
constexpr std::string_view kApiKeyLiterals[] = {"sk-", "AKIA", "ASIA", "_live_", "AIza", "xox",
                                                "-----BEGIN ", "github_pat_"};

// The full-retention fast path's pre-check, one pass over the input
// (Hyperscan when built with it): pattern 0 matches wherever a credential
// stem occurs in any case (RE2's case folding: a superset of the ASCII
// folding the exact check uses), pattern 1 wherever a dlp.api_key literal
// does. A text neither matches needs no exact check. Null: not built
// (every input then gets the exact checks).
const scan::Scanner* CredentialPrecheck() {
  static const std::unique_ptr<scan::Scanner> scanner = [] {
    std::string stems = "(?i)(?:";
    for (std::string_view stem : kCredentialStems) {
      if (stems.size() > 7) stems += '|';
      stems += RE2::QuoteMeta(re2::StringPiece(stem.data(), stem.size()));
    }
    stems += ')';
    std::string keys = "gh[pousr]_";
    for (std::string_view lit : kApiKeyLiterals) {
      keys += '|';
      keys += RE2::QuoteMeta(re2::StringPiece(lit.data(), lit.size()));
    }
    std::string error;
    return scan::Scanner::Build({stems, keys}, {}, &error);
  }();
  return scanner.get();
}

}  // namespace

bool MayHoldApiKey(std::string_view s) {
  if (const scan::Scanner* pre = CredentialPrecheck()) {
    thread_local std::vector<int> ids;
    if (pre->Scan(s, &ids)) return std::find(ids.begin(), ids.end(), 1) != ids.end();
  }
  auto has = [&](std::string_view lit) {
    return memmem(s.data(), s.size(), lit.data(), lit.size()) != nullptr;
  };
  for (std::string_view lit : kApiKeyLiterals)
    if (has(lit)) return true;
  // gh[pousr]_
  for (const char* p = static_cast<const char*>(memchr(s.data(), '_', s.size())); p != nullptr;
       p = static_cast<const char*>(memchr(p + 1, '_', static_cast<size_t>(s.data() + s.size() - p - 1)))) {
    const size_t i = static_cast<size_t>(p - s.data());
    if (i >= 3 && s[i - 3] == 'g' && s[i - 2] == 'h' &&
        (s[i - 1] == 'p' || s[i - 1] == 'o' || s[i - 1] == 'u' || s[i - 1] == 's' || s[i - 1] == 'r'))
      return true;
  }
  return false;
}

namespace {

// Appends the input as received (raw CR/LF, which can only be white space
// between tokens in valid JSON, as spaces: a record is one line).
void AppendKept(std::string_view raw, std::string* out) {
  const size_t at = out->size();
  out->append(raw);
  char* b = out->data() + at;
  char* e = out->data() + out->size();
  for (char c : {'\n', '\r'})
    for (char* p = static_cast<char*>(memchr(b, c, static_cast<size_t>(e - b))); p != nullptr;
         p = static_cast<char*>(memchr(p + 1, c, static_cast<size_t>(e - p - 1))))
      *p = ' ';
}

}  // namespace

bool PrepareInput(std::string_view raw, ast::Retention retain, std::string_view hmac_key,
                  const AllowList* allow, std::string* input, std::string* content,
                  const ListLimits& limits) {
  input->clear();
  return AppendPreparedInput(raw, retain, hmac_key, allow, input, content, limits);
}

bool AppendPreparedInput(std::string_view raw, ast::Retention retain, std::string_view hmac_key,
                         const AllowList* allow, std::string* out, std::string* content,
                         const ListLimits& limits) {
  content->clear();
  raw = StripBom(raw);
  bool escaped = false;  // kept whole unless the exact path removes something
  if (retain == ast::Retention::kFull) {
    // A credential stem (any case) or an API key's literal somewhere? One
    // pass; only then the exact checks below (the same answer).
    bool stem = true, key = true;
    if (const scan::Scanner* pre = CredentialPrecheck()) {
      thread_local std::vector<int> ids;
      if (pre->Scan(raw, &ids)) {
        stem = std::find(ids.begin(), ids.end(), 0) != ids.end();
        key = std::find(ids.begin(), ids.end(), 1) != ids.end();
      }
    }
    bool suspicious = false;
    if (stem) {
      // One lowercase copy (reused by the thread), then a memchr-driven
      // find per stem.
      thread_local std::string lower;
      lower.resize(raw.size());
      {
        const unsigned char* in = reinterpret_cast<const unsigned char*>(raw.data());
        unsigned char* to = reinterpret_cast<unsigned char*>(lower.data());
        for (size_t i = 0, n = raw.size(); i < n; ++i) {
          const unsigned char c = in[i];
          to[i] = static_cast<unsigned char>(c | (static_cast<unsigned char>(c - 'A') < 26 ? 0x20 : 0));
        }
      }
      for (std::string_view s : kCredentialStems)
        if (memmem(lower.data(), lower.size(), s.data(), s.size()) != nullptr) {
          suspicious = true;
          break;
        }
      if (lower.capacity() > (1u << 20)) std::string().swap(lower);  // not kept for a huge input
    }
    if (!suspicious && key && ApiKeyDetector() >= 0 && stdlib::DetectorMatches(ApiKeyDetector(), raw))
      suspicious = true;
    if (!suspicious) {
      // A `\u` escape can spell any stem or key literal ("sk\u002d...",
      // "api\u005fkey") where the raw bytes show neither: the exact path
      // reads the decoded names and strings, and the bytes are kept when it
      // removes nothing. (No stem or literal holds a `/` or a character with
      // a short escape, so `\/`, `\n`, `\"` hide nothing.)
      escaped = memmem(raw.data(), raw.size(), "\\u", 2) != nullptr;
      if (!escaped) {
        AppendKept(raw, out);  // fast path: nothing to remove, keep the bytes
        return true;
      }
    }
  }
  rj::StringBuffer sb;
  Writer w(sb);
  Filter f(&w, Filter::Mode::kRecord);
  f.retain = retain;
  f.key = hmac_key;
  f.max_listed = limits.max_listed;
  f.max_path_bytes = limits.max_path_bytes;
  if (allow) f.allow = allow;
  rj::Reader reader;
  rj::StringStream ss(raw.data());
  // The input was decoded already, so it is complete JSON; NUL bytes inside
  // would stop a StringStream early, which the length check catches.
  bool ok = reader.Parse<rj::kParseNumbersAsStringsFlag | rj::kParseStopWhenDoneFlag>(ss, f) &&
            ss.Tell() <= raw.size();
  if (!ok) {
    sb.Clear();
    w.Reset(sb);
    Str(w, "[unparsable input]");
    out->append(sb.GetString(), sb.GetSize());
    *content = "{\"retain\":\"none\",\"unparsable\":true,\"scrubbed\":[]}";
    return false;
  }
  if (retain == ast::Retention::kFull && f.scrubbed.empty() && f.scrubbed_rest == 0) {
    if (escaped) {
      AppendKept(raw, out);
    } else {
      out->append(sb.GetString(), sb.GetSize());
    }
    return true;
  }
  out->append(sb.GetString(), sb.GetSize());
  sb.Clear();
  w.Reset(sb);
  w.StartObject();
  w.Key("retain");
  Str(w, ast::RetentionName(retain));
  if (retain != ast::Retention::kFull) {
    w.Key("format");
    w.Int(kContentFormat);
    w.Key("lengths");
    w.StartArray();
    for (uint64_t n : f.text_lengths) w.Uint64(n);
    w.EndArray();
  }
  if (retain == ast::Retention::kHash) {
    w.Key("hmac");
    w.StartArray();
    for (const std::string& h : f.hmacs) Str(w, h);
    w.EndArray();
    if (f.hmac_rest_count > 0) {  // (only then: a record under the cap is as before)
      w.Key("hmac_rest");
      w.StartObject();
      w.Key("count");
      w.Uint64(f.hmac_rest_count);
      w.Key("hmac");
      Str(w, f.hmac_rest->HexDigest());
      w.EndObject();
    }
    w.Key("detectors");
    w.StartObject();
    for (const auto& [name, count] : f.detectors) {
      Str(w, name);
      w.Int(count);
    }
    w.EndObject();
  }
  if (retain != ast::Retention::kFull) {
    w.Key("omitted");
    w.StartArray();
    for (const Filter::Omitted& o : f.omitted) {
      w.StartObject();
      w.Key("path");
      Str(w, o.path);
      w.Key("bytes");
      w.Uint64(o.bytes);
      if (retain == ast::Retention::kHash) {
        w.Key("hmac");
        Str(w, o.hmac);
      }
      w.EndObject();
    }
    w.EndArray();
    if (f.rest_count > 0) {  // (only then: a record under the cap is as before)
      w.Key("omitted_rest");
      w.StartObject();
      w.Key("count");
      w.Uint64(f.rest_count);
      w.Key("bytes");
      w.Uint64(f.rest_bytes);
      if (retain == ast::Retention::kHash) {
        w.Key("hmac");
        Str(w, f.rest_hmac->HexDigest());
      }
      w.EndObject();
    }
  }
  if (f.scrubbed_rest > 0) {  // before "scrubbed": the object ends with its `]}` (RecordSpans)
    w.Key("scrubbed_rest");
    w.Uint64(f.scrubbed_rest);
  }
  w.Key("scrubbed");
  w.StartArray();
  for (const std::string& p : f.scrubbed) Str(w, p);
  w.EndArray();
  w.EndObject();
  content->assign(sb.GetString(), sb.GetSize());
  return true;
}

bool RebuildInput(std::string_view recorded, const std::vector<uint64_t>* lengths, int format,
                  std::string_view clock, std::string* out, const AllowList* allow) {
  if (lengths == nullptr && clock.empty()) {
    out->assign(recorded);
    return true;
  }
  rj::StringBuffer sb;
  Writer w(sb);
  Filter f(&w, Filter::Mode::kReplay);
  f.lengths = lengths;
  f.format = format;
  if (allow) f.allow = allow;
  f.clock = clock;
  rj::Reader reader;
  std::string copy(recorded);
  rj::StringStream ss(copy.c_str());
  if (!reader.Parse<rj::kParseIterativeFlag | rj::kParseNumbersAsStringsFlag>(ss, f)) return false;
  out->assign(sb.GetString(), sb.GetSize());
  return true;
}

}  // namespace tollgate::audit::internal
