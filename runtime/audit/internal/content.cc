#include "runtime/audit/internal/content.h"

#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cctype>
#include <map>

#include "runtime/audit/internal/util.h"
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

// A SAX pass-through from a reader to a writer that knows where it is in a
// decision input: message texts (request.messages[i].content, ...content[j]
// when a string, ...content[j].text and .refusal,
// ...tool_calls[k].function.arguments) and credential
// members can be rewritten on the way.
class Filter {
 public:
  enum class Mode { kRecord, kReplay };
  Filter(Writer* w, Mode mode) : w_(w), mode_(mode) {}

  // kRecord settings
  ast::Retention retain = ast::Retention::kFull;
  std::string_view key;
  // kReplay settings
  const std::vector<uint64_t>* lengths = nullptr;
  std::string_view clock;

  // kRecord results
  std::vector<uint64_t> text_lengths;
  std::vector<std::string> hmacs;
  std::map<std::string, int> detectors;
  std::vector<std::string> scrubbed;

  bool Null() {
    if (skip_) return true;
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
  bool Bool(bool b) { return Handled() || Done(w_->Bool(b)); }
  bool Int(int i) { return Handled() || Done(w_->Int(i)); }
  bool Uint(unsigned u) { return Handled() || Done(w_->Uint(u)); }
  bool Int64(int64_t i) { return Handled() || Done(w_->Int64(i)); }
  bool Uint64(uint64_t u) { return Handled() || Done(w_->Uint64(u)); }
  bool Double(double d) { return Handled() || Done(w_->Double(d)); }
  bool RawNumber(const char* s, rj::SizeType n, bool) {
    // (Writer::RawNumber would quote it: write the number's text as is.)
    return Handled() || Done(w_->RawValue(s, n, rj::kNumberType));
  }
  bool String(const char* s, rj::SizeType n, bool) {
    if (Handled()) return true;
    std::string_view text(s, n);
    if (IsText()) return Done(Text(text));
    if (mode_ == Mode::kRecord) return Done(Secretless(text));
    return Done(w_->String(s, n));
  }
  bool StartObject() {
    if (Container()) return true;
    frames_.push_back({false, {}, 0, false});
    return w_->StartObject();
  }
  bool Key(const char* s, rj::SizeType n, bool) {
    if (skip_) return true;
    Frame& f = frames_.back();
    f.key.assign(s, n);
    if (f.key == "time" && frames_.size() == 2 && frames_[0].key == "context") f.has_time = true;
    if (mode_ == Mode::kRecord && IsCredentialName(f.key)) pending_cred_ = true;
    return w_->Key(s, n);
  }
  bool EndObject(rj::SizeType) {
    if (skip_) return EndSkipped();
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
  bool StartArray() {
    if (Container()) return true;
    frames_.push_back({true, {}, 0, false});
    return w_->StartArray();
  }
  bool EndArray(rj::SizeType) {
    if (skip_) return EndSkipped();
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
  };

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
  bool Container() {
    if (skip_) {
      ++skip_;
      return true;
    }
    NoteContext();
    if (pending_cred_) {
      pending_cred_ = false;
      Removed();
      skip_ = 1;
      return true;
    }
    return false;
  }
  bool EndSkipped() {
    if (--skip_ == 0) Advance();
    return true;
  }
  void Removed() {
    scrubbed.push_back(Path());
    w_->String("[removed]");
  }
  void Advance() {
    if (!frames_.empty() && frames_.back().array) ++frames_.back().index;
  }
  bool ClockSlot() const {
    // context.time: null -> the clock (replay)
    return mode_ == Mode::kReplay && !clock.empty() && frames_.size() == 2 &&
           frames_[0].key == "context" && !frames_[1].array && frames_[1].key == "time";
  }
  // Whether the string being written is a message text. Frames: root{request}
  // {messages} [i] {content | tool_calls} ...
  bool IsText() const {
    const size_t n = frames_.size();
    if (n < 4 || frames_[0].key != "request" || frames_[1].key != "messages" || !frames_[2].array ||
        frames_[3].array)
      return false;
    if (n == 4) return frames_[3].key == "content";
    // A bare string part, and the parts the decoder scans as text: `text`
    // (text, input_text, output_text parts) and `refusal` (docs/decision-input.md).
    if (n == 5 && frames_[3].key == "content" && frames_[4].array) return true;
    if (n == 6 && frames_[3].key == "content" && frames_[4].array && !frames_[5].array)
      return frames_[5].key == "text" || frames_[5].key == "refusal";
    if (n == 7 && frames_[3].key == "tool_calls" && frames_[4].array && !frames_[5].array &&
        frames_[5].key == "function" && !frames_[6].array)
      return frames_[6].key == "arguments";
    return false;
  }
  bool Text(std::string_view text) {
    if (mode_ == Mode::kReplay) {
      size_t i = filled_++;
      if (lengths == nullptr) return w_->String(text.data(), static_cast<rj::SizeType>(text.size()));
      uint64_t len = i < lengths->size() ? (*lengths)[i] : 0;
      std::string filler(std::min<uint64_t>(len, 64u << 20), '_');
      return w_->String(filler.data(), static_cast<rj::SizeType>(filler.size()));
    }
    if (retain == ast::Retention::kFull) return Secretless(text);
    text_lengths.push_back(text.size());
    if (retain == ast::Retention::kHash) {
      hmacs.push_back(HmacSha256Hex(key, text));
      const auto& decls = stdlib::Detectors();
      for (size_t d = 0; d < decls.size(); ++d) {
        if (!stdlib::DetectorMatches(static_cast<int>(d), text)) continue;
        detectors[std::string(decls[d].name)] +=
            static_cast<int>(stdlib::FindDetectorMatches(static_cast<int>(d), text).size());
      }
    }
    return w_->String("");
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
    scrubbed.push_back(Path());
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

bool PrepareInput(std::string_view raw, ast::Retention retain, std::string_view hmac_key,
                  std::string* input, std::string* content) {
  content->clear();
  raw = StripBom(raw);
  if (retain == ast::Retention::kFull) {
    // One lowercase copy, then a memchr-driven find per stem (~1 us per KB).
    std::string lower(raw);
    for (char& c : lower)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c | 0x20);
    bool suspicious = false;
    for (std::string_view stem : kCredentialStems)
      if (lower.find(stem) != std::string::npos) { suspicious = true; break; }
    if (!suspicious && ApiKeyDetector() >= 0 && stdlib::DetectorMatches(ApiKeyDetector(), raw))
      suspicious = true;
    if (!suspicious) {  // fast path: nothing to remove, keep the bytes
      input->assign(raw);
      // Raw CR/LF can only be white space between tokens in valid JSON.
      for (char& c : *input)
        if (c == '\n' || c == '\r') c = ' ';
      return true;
    }
  }
  rj::StringBuffer sb;
  Writer w(sb);
  Filter f(&w, Filter::Mode::kRecord);
  f.retain = retain;
  f.key = hmac_key;
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
    input->assign(sb.GetString(), sb.GetSize());
    *content = "{\"retain\":\"none\",\"unparsable\":true,\"scrubbed\":[]}";
    return false;
  }
  input->assign(sb.GetString(), sb.GetSize());
  if (retain == ast::Retention::kFull && f.scrubbed.empty()) return true;
  sb.Clear();
  w.Reset(sb);
  w.StartObject();
  w.Key("retain");
  Str(w, ast::RetentionName(retain));
  if (retain != ast::Retention::kFull) {
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
    w.Key("detectors");
    w.StartObject();
    for (const auto& [name, count] : f.detectors) {
      Str(w, name);
      w.Int(count);
    }
    w.EndObject();
  }
  w.Key("scrubbed");
  w.StartArray();
  for (const std::string& p : f.scrubbed) Str(w, p);
  w.EndArray();
  w.EndObject();
  content->assign(sb.GetString(), sb.GetSize());
  return true;
}

bool RebuildInput(std::string_view recorded, const std::vector<uint64_t>* lengths,
                  std::string_view clock, std::string* out) {
  if (lengths == nullptr && clock.empty()) {
    out->assign(recorded);
    return true;
  }
  rj::StringBuffer sb;
  Writer w(sb);
  Filter f(&w, Filter::Mode::kReplay);
  f.lengths = lengths;
  f.clock = clock;
  rj::Reader reader;
  std::string copy(recorded);
  rj::StringStream ss(copy.c_str());
  if (!reader.Parse<rj::kParseNumbersAsStringsFlag>(ss, f)) return false;
  out->assign(sb.GetString(), sb.GetSize());
  return true;
}

}  // namespace tollgate::audit::internal
