// The worst-case prompt (prompt_bound.h).
#include "runtime/decide/prompt_bound.h"

#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include <algorithm>

#include "engine/core/money.h"

namespace tollgate::runtime {
namespace {

namespace rj = rapidjson;

// Members of the body the gateway never sends upstream (the routing members
// it strips) or replaces (`model`): not prompt text.
bool RoutingMember(std::string_view k) {
  return k == "model" || k == "models" || k == "provider" || k == "route" || k == "transforms" ||
         k == "plugins" || k == "preset";
}

int64_t Sat(int64_t a, int64_t b) { return AddChecked(a, b).value_or(INT64_MAX); }
int64_t SatMul(int64_t a, int64_t b) { return MulChecked(a, b).value_or(INT64_MAX); }

// rapidjson's events -> PromptMeter.
struct Adapter : rj::BaseReaderHandler<rj::UTF8<>, Adapter> {
  PromptMeter* m;
  explicit Adapter(PromptMeter* meter) : m(meter) {}
  bool Null() { m->Null(); return true; }
  bool Bool(bool b) { m->Bool(b); return true; }
  bool RawNumber(const char*, rj::SizeType n, bool) { m->Number(n); return true; }
  bool String(const char* s, rj::SizeType n, bool) { m->String({s, n}); return true; }
  bool Key(const char* s, rj::SizeType n, bool) { m->Key({s, n}); return true; }
  bool StartObject() { m->StartObject(); return true; }
  bool EndObject(rj::SizeType n) { m->EndObject(n); return true; }
  bool StartArray() { m->StartArray(); return true; }
  bool EndArray(rj::SizeType n) { m->EndArray(n); return true; }
};

}  // namespace

int64_t WorstCasePromptTokens(const PromptShape& s, const Endpoint& ep) {
  const int64_t cap = ep.context_length > 0 ? ep.context_length : INT64_MAX;
  if (!s.measured || s.unparsed || s.files > 0) return cap;
  int64_t t = Sat(std::max<int64_t>(0, s.text_bytes), kPromptBoundPerRequest);
  t = Sat(t, SatMul(s.messages, kPromptBoundPerMessage));
  if (s.tools > 0) t = Sat(t, Sat(kPromptBoundToolBlock, SatMul(s.tools, kPromptBoundPerTool)));
  t = Sat(t, SatMul(s.images, kPromptBoundPerImage));
  t = Sat(t, s.audio_bytes);
  t = Sat(t, ep.upstream.body_bytes);  // the catalog's members merged into the body sent
  return std::min(t, cap);
}

bool MeasurePrompt(std::string_view json, PromptSource source, PromptShape* out) {
  if (json.substr(0, 3) == "\xEF\xBB\xBF") json.remove_prefix(3);  // a byte order mark, as DecodeInput
  PromptMeter meter(source);
  Adapter h(&meter);
  rj::Reader reader;
  rj::MemoryStream is(json.data(), json.size());
  constexpr unsigned kFlags = rj::kParseIterativeFlag | rj::kParseNumbersAsStringsFlag;
  const bool ok = !reader.Parse<kFlags>(is, h).IsError();
  *out = meter.shape();
  out->unparsed = !ok;
  return ok;
}

// INVARIANT: frames_[d - 1] describes the container open at depth d, for
// d <= kFrames; a deeper container is counted iff deep_counted_.

PromptMeter::Role PromptMeter::TopRole() const {
  if (depth_ == 0) return Role::kNone;
  if (depth_ > kFrames) return deep_counted_ ? Role::kNone : Role::kOff;
  return frames_[depth_ - 1].role;
}

PromptMeter::Role PromptMeter::Next() const {
  if (depth_ == 0) return source_ == PromptSource::kBody ? Role::kBody : Role::kInputRoot;
  if (depth_ > kFrames) return deep_counted_ ? Role::kNone : Role::kOff;
  const Frame& f = frames_[depth_ - 1];
  if (f.object) return pending_;
  switch (f.role) {
    case Role::kOff: return Role::kOff;
    case Role::kMessages: return Role::kMessage;
    case Role::kContent: return Role::kPart;
    default: return Role::kNone;
  }
}

void PromptMeter::Comma() {
  Frame* top = Top();
  if (top != nullptr && top->items++ > 0) shape_.text_bytes += 1;
}

void PromptMeter::Key(std::string_view k) {
  const Role parent = TopRole();
  Role r = Role::kNone;
  Member m = Member::kPlain;
  Frame* top = Top();
  switch (parent) {
    case Role::kOff: r = Role::kOff; break;
    case Role::kInputRoot: r = depth_ == 1 && k == "request" ? Role::kBody : Role::kOff; break;
    case Role::kBody:
      if (RoutingMember(k)) r = Role::kOff;
      else if (k == "messages") r = Role::kMessages;
      else if (k == "tools" || k == "functions") r = Role::kTools;
      else if (k == "prediction") r = Role::kPrediction;
      break;
    case Role::kMessage:
      if (k == "content") r = Role::kContent;
      break;
    case Role::kPart:
      if (k == "image_url") {
        r = Role::kImage;
        m = Member::kImageUrl;
        top->has_image = true;
      } else if (k == "input_audio") {
        r = Role::kAudio;
      } else if (k == "file") {
        r = Role::kFile;
        top->has_file = true;
      } else if (k == "source") {
        r = Role::kSource;
        top->has_source = true;
      } else if (k == "file_data") {
        m = Member::kPayload;
        top->has_file = true;
      } else if (k == "file_id" || k == "file_url") {
        m = Member::kFileRef;
        top->has_file = true;
      } else if (k == "type") {
        m = Member::kType;
      }
      break;
    case Role::kImage:
      if (k == "url") m = Member::kPayload;
      break;
    case Role::kAudio:
      if (k == "data") m = Member::kAudioData;
      break;
    case Role::kFile:
      if (k == "file_data") m = Member::kPayload;
      break;
    case Role::kSource:
      if (k == "data") m = Member::kPayload;
      break;
    default: break;
  }
  pending_ = r;
  member_ = m;
  if (r != Role::kOff && parent != Role::kInputRoot) {
    Comma();
    shape_.text_bytes += static_cast<int64_t>(k.size()) + 3;  // "k":
  }
}

void PromptMeter::Scalar(int64_t bytes) {
  const Role r = Next();
  member_ = Member::kPlain;
  if (r == Role::kOff || r == Role::kInputRoot) return;
  if (InArray()) Comma();
  shape_.text_bytes += bytes;
  if (r == Role::kPrediction) shape_.prediction_bytes += bytes;
}

void PromptMeter::String(std::string_view s) {
  const Role r = Next();
  const Member m = depth_ >= 1 && depth_ <= kFrames && frames_[depth_ - 1].object ? member_ : Member::kPlain;
  if (r == Role::kOff || r == Role::kInputRoot) {
    member_ = Member::kPlain;
    return;
  }
  if (InArray()) Comma();
  int64_t bytes = static_cast<int64_t>(s.size()) + 2;
  switch (m) {
    case Member::kImageUrl:  // an image given as a bare URL string
    case Member::kPayload:   // a media payload: bounded by its own rule
      bytes = 2;
      break;
    case Member::kAudioData:
      // The decoded size of base64 text: at most 3 bytes per 4 characters.
      shape_.audio_bytes = Sat(shape_.audio_bytes, (static_cast<int64_t>(s.size()) * 3 + 3) / 4);
      bytes = 2;
      break;
    case Member::kType:
      if (s == "image") Top()->type_image = true;
      break;
    default: break;
  }
  member_ = Member::kPlain;
  shape_.text_bytes += bytes;
  if (r == Role::kPrediction) shape_.prediction_bytes += bytes;
}

void PromptMeter::Open(bool object) {
  const Role r = Next();
  member_ = Member::kPlain;
  if (object && depth_ >= 1 && depth_ <= kFrames && frames_[depth_ - 1].role == Role::kTools &&
      !frames_[depth_ - 1].object) {
    ++shape_.tools;
  }
  if (object && r == Role::kMessage) ++shape_.messages;
  const bool counted = r != Role::kOff && r != Role::kInputRoot;
  if (counted && InArray()) Comma();
  const int64_t start = shape_.text_bytes;
  if (counted) shape_.text_bytes += 1;
  ++depth_;
  if (depth_ <= kFrames) {
    frames_[depth_ - 1] = Frame{};
    frames_[depth_ - 1].role = r;
    frames_[depth_ - 1].object = object;
    frames_[depth_ - 1].start_bytes = start;
  } else if (depth_ == kFrames + 1) {
    deep_counted_ = counted;
  }
}

void PromptMeter::Close(size_t count) {
  const Role r = TopRole();
  member_ = Member::kPlain;
  if (depth_ == 0) return;
  if (r != Role::kOff && r != Role::kInputRoot) {
    // The closing bracket; below kFrames the commas were counted per
    // member / element, deeper ones are counted here (every one is).
    shape_.text_bytes += 1;
    if (depth_ > kFrames && count > 0) shape_.text_bytes += static_cast<int64_t>(count) - 1;
  }
  if (depth_ <= kFrames) {
    const Frame& f = frames_[depth_ - 1];
    if (r == Role::kPart) {
      if (f.has_image || (f.has_source && f.type_image)) ++shape_.images;
      if (f.has_file || (f.has_source && !f.type_image)) ++shape_.files;
    } else if (r == Role::kPrediction) {
      shape_.prediction_bytes += shape_.text_bytes - f.start_bytes;
    }
  }
  --depth_;
}

}  // namespace tollgate::runtime
