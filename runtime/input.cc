// DecodeInput: schema-driven decoding of the decision input (see input.h).
//
// The JSON is UTF-8 validated, copied into Record::buffer and read in place
// by rapidjson's SAX reader (numbers kept as their exact text) straight into
// the record: no DOM. A per-schema plan -- a tree of object nodes whose
// leaves are the request-scoped fields -- is built once per thread
// (input_plan.h); the handler below keeps a stack of frames, one per open
// object or array, each knowing what its members or elements become.
//
// ## The same answers as a walk over a DOM
// The decoder it replaced parsed the whole document first and then walked
// it (internal/input_dom.h, kept as the differential test's reference), and
// every error is still the one that walk reports:
// - syntax, depth and number-range errors win over every schema error, so a
//   schema error is only remembered (`pending_`) and the parse goes on;
// - the first schema error in document order wins, except that an object's
//   duplicate keys and an array's (or map's) element limit were checked
//   before its contents: they are checked when the object or array ends and
//   then replace any error found inside it (`tracked` frames collect keys
//   and counts even after an error);
// - a message's `tool_calls` were read after its other members: errors in
//   them go to `deferred_` and count only if the message has no other.
#include "runtime/input.h"

// SIMD string scanning and whitespace skipping: SSE4.2 where the build
// enables it for this file (CMakeLists.txt, x86-64 only), else SSE2 (baseline
// on x86-64).
#if defined(__SSE4_2__) && !defined(RAPIDJSON_SSE42)
#define RAPIDJSON_SSE42
#elif defined(__SSE2__) && !defined(RAPIDJSON_SSE2)
#define RAPIDJSON_SSE2
#endif
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <new>

#include "engine/core/json_text.h"
#include "engine/core/money.h"
#include "runtime/internal/input_plan.h"

namespace tollgate::runtime {
namespace {

namespace rj = rapidjson;
using Pool = rj::MemoryPoolAllocator<rj::CrtAllocator>;
using internal::Node;
using internal::Plan;
using internal::Special;

// A value as the reader announced it: enough to type a scalar and to name
// any value in a message.
enum class J : uint8_t { kAbsent, kNull, kFalse, kTrue, kNumber, kString, kObject, kArray };
struct Ev {
  J j = J::kAbsent;
  std::string_view text;  // numbers and strings
  bool container() const { return j == J::kObject || j == J::kArray; }
};

const char* TypeName(J j) {
  switch (j) {
    case J::kNull: return "null";
    case J::kFalse: case J::kTrue: return "a boolean";
    case J::kNumber: return "a number";
    case J::kString: return "a string";
    case J::kObject: return "an object";
    case J::kArray: return "an array";
    case J::kAbsent: break;
  }
  return "a value";
}

// The offending value for a message: a number's text, true/false/null, or
// the JSON type of strings, objects and arrays.
std::string Got(const Ev& v) {
  switch (v.j) {
    case J::kNumber: return std::string(internal::Clip(v.text, 40));
    case J::kTrue: return "true";
    case J::kFalse: return "false";
    default: return TypeName(v.j);
  }
}

// Values are written field by field where they are kept: a Value built on
// the stack and then copied as 16 bytes stalls store forwarding, once per
// decoded value.
inline void PutString(Value* d, std::string_view s) {
  d->kind = Kind::kString;
  d->size = static_cast<uint32_t>(s.size());
  d->str = s.data();
}
inline void PutScalar(Value* d, Kind k, int64_t i) {
  d->kind = k;
  d->size = 0;
  d->i = i;
}

struct Err {
  bool set = false;
  std::string code, message, path;
};

// What an open object or array is read as.
enum class F : uint8_t {
  kSkip,        // ignored (nested containers counted in skip_depth)
  kNode,        // an object of the plan (node)
  kList,        // set<T> / list<T> (type)
  kMap,         // map<T> (type)
  kRecord,      // a record (type); a message when `message`
  kMessages,    // request.messages (node)
  kTools,       // request.tools (node)
  kToolObj,     // one OpenAI tool object of request.tools
  kToolFn,      // its `function` (first `name` kept, in the kToolObj)
  kParts,       // a message's content parts
  kPart,        // one content part
  kToolCalls,   // a message's tool_calls (errors deferred)
  kCall,        // one tool call
  kCallFn,      // its `function`
  kSort,        // request.provider.sort as an object (node)
  kPercentile,  // preferred_max_latency / _min_throughput as an object (node)
};

struct Frame {
  F kind = F::kSkip;
  bool array = false;
  bool tracked = false;   // duplicate keys / element count checked at the end
  bool deferred = false;  // errors go to deferred_ (inside tool_calls)
  bool message = false;   // kRecord: a message
  bool fn_object = false;  // kToolObj: `function` is an object
  bool tool_calls = false;  // kRecord: has a non-null tool_calls member
  uint32_t skip_depth = 0;
  uint32_t max = 0;         // tracked arrays and maps: the element limit
  uint32_t count = 0;       // elements of an array
  uint32_t keys_begin = 0;  // tracked objects: their keys in keys_
  int64_t index = -1;       // arrays: the current element
  std::string_view key;     // objects: the current member
  const Node* node = nullptr;
  const Node* kid = nullptr;  // kNode: the current member's plan node
  const Type* type = nullptr;
  int idx = -1;  // kRecord: the current member's field
  int content = -1, role = -1;
  std::vector<Value> items;
  std::vector<std::pair<std::string_view, Value>> entries;
  Value out;
  Ev a, b;  // captured members (kToolObj: type / name; kPart: type, text; kCallFn: arguments)
};

// Per-thread scratch: the reader's stack, the frames and string scratch.
struct Scratch {
  std::unique_ptr<char[]> stack_buf{new char[16 * 1024]};
  Pool stack{stack_buf.get(), 16 * 1024};
  std::vector<Frame> frames;
  std::vector<std::string_view> keys;
  std::vector<std::string_view> names;  // duplicate-key check of large objects
  std::vector<std::string_view> texts;  // content parts of one message
  std::vector<std::string_view> args;   // tool call arguments of one message
  std::string join;
};

Scratch& GetScratch() {
  thread_local Scratch s;
  return s;
}

// The SAX handler: reads the document straight into the record.
class Reader {
 public:
  Reader(const Plan& plan, const Limits& limits, vm::Record* rec, Scratch& s, bool candidate,
         const internal::HugeNumbers& huge, std::string_view original)
      : plan_(plan), limits_(limits), rec_(rec), s_(s), candidate_(candidate), huge_(huge),
        original_(original), buf_(rec->buffer.data()), params_(rec->arena.TakeVector()) {
    s_.keys.clear();
    if (s_.frames.size() < 16) s_.frames.resize(16);
    frames_ = s_.frames.data();
  }

  bool too_deep() const { return too_deep_; }
  bool present() const { return present_; }
  bool root_object() const { return root_object_; }
  Err& error() { return pending_; }
  std::vector<Value>& params() { return params_; }

  // --- rapidjson's handler interface ---
  bool Null() { Scalar({J::kNull, {}}); return true; }
  bool Bool(bool b) { Scalar({b ? J::kTrue : J::kFalse, {}}); return true; }
  bool Int(int) { return true; }  // never called: numbers come as text
  bool Uint(unsigned) { return true; }
  bool Int64(int64_t) { return true; }
  bool Uint64(uint64_t) { return true; }
  bool Double(double) { return true; }
  bool RawNumber(const char* s, rj::SizeType n, bool) {
    // A number beyond double range was parsed as a placeholder: its text
    // goes back in place (the reader is past it and never writes there).
    if (huge_.n != 0) {
      size_t off = static_cast<size_t>(s - buf_);
      for (size_t i = 0; i < huge_.n; ++i)
        if (huge_.at[i].offset == off)
          std::memcpy(const_cast<char*>(s), original_.data() + off, huge_.at[i].length);
    }
    Scalar({J::kNumber, {s, n}});
    return true;
  }
  bool String(const char* s, rj::SizeType n, bool) {
    Scalar({J::kString, {s, n}});
    return true;
  }
  bool Key(const char* s, rj::SizeType n, bool) {
    Frame& f = frames_[depth_ - 1];
    if (f.kind == F::kSkip) return true;
    // From registers, not back from f.key (a 16-byte reload of two 8-byte
    // stores stalls store forwarding).
    const std::string_view key(s, n);
    f.key = key;
    if (f.tracked) s_.keys.push_back(key);
    return true;
  }
  bool StartObject() { return Open(J::kObject); }
  bool StartArray() { return Open(J::kArray); }
  bool EndObject(rj::SizeType) { Close(); return true; }
  bool EndArray(rj::SizeType) { Close(); return true; }

 private:
  // --- the frame stack ---
  Frame& Top() { return frames_[depth_ - 1]; }
  // INVARIANT: a Frame& taken before a Push is not used after it (the
  // frames may move when they grow).
  Frame& Push(F kind, bool array) {
    if (depth_ == s_.frames.size()) {
      s_.frames.resize(depth_ * 2);
      frames_ = s_.frames.data();
    }
    Frame& f = frames_[depth_++];
    f.kind = kind;
    f.array = array;
    f.tracked = false;
    f.deferred = depth_ > 1 && frames_[depth_ - 2].deferred;
    f.skip_depth = 0;
    f.count = 0;
    f.index = -1;
    // What each kind reads before writing it (the rest is set where the
    // frame is opened, or by the member or element being read).
    switch (kind) {
      case F::kToolObj: case F::kPart: case F::kCallFn:
        f.a = f.b = Ev{};
        f.fn_object = false;
        break;
      case F::kSort: case F::kPercentile: f.out = Value::Null(); break;
      case F::kList: case F::kMessages: case F::kTools: f.items.clear(); break;
      case F::kMap: f.entries.clear(); break;
      case F::kRecord: f.message = f.tool_calls = false; break;
      default: break;
    }
    return f;
  }
  Frame& PushTracked(F kind, bool array, uint32_t max = 0) {
    Frame& f = Push(kind, array);
    f.tracked = true;
    f.max = max;
    f.keys_begin = static_cast<uint32_t>(s_.keys.size());
    return f;
  }

  bool Open(J j) {
    if (++nesting_ > limits_.max_input_depth) {
      too_deep_ = true;
      return false;
    }
    if (depth_ > 0 && Top().kind == F::kSkip) {
      ++Top().skip_depth;
      return true;
    }
    Ev ev{j, {}};
    if (depth_ == 0) {  // the document
      if (j == J::kObject) {
        root_object_ = true;
        Frame& f = PushTracked(F::kNode, false);
        f.node = &plan_.root;
      } else {
        Fail(pending_, "input_wrong_type",
             std::string("the decision input must be a JSON object, got ") + TypeName(j), "");
        Push(F::kSkip, true);
      }
      return true;
    }
    size_t before = depth_;
    OnValue(ev);
    if (depth_ == before) Push(F::kSkip, j == J::kArray);
    return true;
  }

  void Scalar(const Ev& ev) {
    if (depth_ == 0) {
      Fail(pending_, "input_wrong_type",
           std::string("the decision input must be a JSON object, got ") + TypeName(ev.j), "");
      return;
    }
    if (Top().kind == F::kSkip) return;
    OnValue(ev);
  }

  Err& Sink(const Frame& f) { return f.deferred ? deferred_ : pending_; }
  bool Blocked(const Frame& f) { return pending_.set || (f.deferred && deferred_.set); }

  // The first error in a scope wins.
  [[gnu::cold, gnu::noinline]] static void Fail(Err& e, const char* code, std::string message, std::string path) {
    if (e.set) return;
    e.set = true;
    e.code = code;
    e.message = std::move(message);
    e.path = std::move(path);
  }
  // A check of a whole object or array (duplicate keys, element limit)
  // replaces any error found inside it.
  [[gnu::cold, gnu::noinline]] static void Override(Err& e, const char* code, std::string message, std::string path) {
    e.set = false;
    Fail(e, code, std::move(message), std::move(path));
  }

  // --- paths, built only for errors ---
  // The path of the value frames_[i] reads ("" for the document).
  [[gnu::cold, gnu::noinline]] std::string FramePath(size_t i) const {
    std::string out;
    for (size_t k = 1; k <= i; ++k) Step(frames_[k - 1], &out);
    return out;
  }
  static void Step(const Frame& container, std::string* out) {
    if (container.array) {
      *out += "[" + std::to_string(container.index) + "]";
    } else {
      if (!out->empty()) *out += ".";
      *out += container.key;
    }
  }
  static std::string Join(std::string base, std::string_view name) {
    if (!base.empty()) base += ".";
    base += name;
    return base;
  }
  // The path of the value being read in the top frame.
  [[gnu::cold, gnu::noinline]] std::string ValuePath() const {
    std::string out = FramePath(depth_ - 1);
    Step(frames_[depth_ - 1], &out);
    return out;
  }
  [[gnu::cold, gnu::noinline]] void WrongType(Err& e, const std::string& path, const char* want,
                                              const Ev& got) {
    Fail(e, "input_wrong_type", "`" + path + "` must be " + want + ", got " + Got(got), path);
  }
  [[gnu::cold, gnu::noinline]] void Missing(Err& e, const std::string& path) {
    Fail(e, "input_missing_field", "missing required field `" + path + "`", path);
  }

  // --- values ---
  [[gnu::always_inline]] void OnValue(const Ev& ev) {
    Frame& f = Top();
    if (f.array) {
      ++f.index;
      ++f.count;
    } else if (candidate_ && depth_ == 1 && !seen_candidate_ && f.key == "candidate") {
      seen_candidate_ = true;  // the first `candidate` member decides
      present_ = ev.j != J::kNull;
    }
    if (Blocked(f)) return;
    if (f.kind == F::kNode) return NodeMember(ev);
    if (f.kind == F::kRecord) return RecordMember(ev);
    OtherValue(ev);
  }

  [[gnu::noinline]] void OtherValue(const Ev& ev) {
    Frame& f = Top();
    switch (f.kind) {
      case F::kNode: return NodeMember(ev);
      case F::kList:
        if (ev.j == J::kNull) return WrongType(Sink(f), ValuePath(), internal::Want(f.type->elem()), ev);
        if (!Typed(ev, f.type->elem(), NewItem(f))) f.items.pop_back();
        return;
      case F::kMap:
        if (ev.j == J::kNull) return;
        if (Value v; Typed(ev, f.type->elem(), &v)) f.entries.emplace_back(f.key, v);
        return;
      case F::kRecord: return RecordMember(ev);
      case F::kMessages:
        if (ev.j != J::kObject) return WrongType(pending_, ValuePath(), "an object", ev);
        return OpenRecord(f.node->type.elem(), true);
      case F::kTools:
        if (ev.j == J::kString) return PutString(NewItem(f), ev.text);
        if (ev.j != J::kObject) return WrongType(pending_, ValuePath(), "a tool object", ev);
        PushTracked(F::kToolObj, false);
        return;
      case F::kToolObj:
        if (f.key == "function") {
          f.fn_object = ev.j == J::kObject;
          if (f.fn_object) Push(F::kToolFn, false);
        } else if (f.key == "type") {
          f.a = ev;
        }
        return;
      case F::kToolFn: {
        Frame& tool = frames_[depth_ - 2];
        if (f.key == "name" && tool.b.j == J::kAbsent) tool.b = ev;
        return;
      }
      case F::kParts:
        if (ev.j == J::kString) { s_.texts.push_back(ev.text); return; }
        if (ev.j != J::kObject) return WrongType(pending_, ValuePath(), "a content part object", ev);
        PushTracked(F::kPart, false);
        return;
      case F::kPart:
        if (f.key == "type") f.a = ev;
        else if (f.key == "text") f.b = ev;
        return;
      case F::kToolCalls:
        if (ev.j != J::kObject) return WrongType(deferred_, ValuePath(), "a tool call object", ev);
        PushTracked(F::kCall, false);
        return;
      case F::kCall:
        if (f.key != "function" || ev.j == J::kNull) return;
        if (ev.j != J::kObject) return WrongType(deferred_, ValuePath(), "an object", ev);
        PushTracked(F::kCallFn, false);
        return;
      case F::kCallFn:
        if (f.key == "arguments") f.a = ev;
        return;
      case F::kSort: return SortMember(ev);
      case F::kPercentile: return PercentileMember(ev);
      case F::kSkip: return;
    }
  }

  // Appends to an array frame's items (taken from the arena on first use).
  [[gnu::always_inline]] void Item(Frame& f, const Value& v) { *NewItem(f) = v; }
  [[gnu::always_inline]] Value* NewItem(Frame& f) {
    if (f.items.capacity() == 0) f.items = rec_->arena.TakeVector();
    return &f.items.emplace_back();
  }

  [[gnu::noinline]] void NodeMember(const Ev& ev) {
    Frame& f = Top();
    const Node& node = *f.node;
    std::string_view name = f.key;
    bool alias = false;
    const Node* kid = FindKid(node, name, &alias);
    if (node.is_body && ev.j != J::kNull &&
        !(kid ? kid->not_parameter : internal::IsReservedBodyMember(name))) {
      // max_completion_tokens is the same parameter as max_tokens.
      PutString(&params_.emplace_back(), name == "max_completion_tokens"
                                              ? std::string_view("max_tokens")
                                              : name);
    }
    if (!kid) {
      if (node.strict) {
        std::string path = ValuePath();
        Fail(pending_, "input_unknown_field", "unknown field `" + path + "`", path);
      }
      return;
    }
    if (ev.j == J::kNull || kid->special == Special::kIgnore) return;
    if (kid->is_object) {
      if (ev.j != J::kObject) return WrongType(pending_, ValuePath(), "an object", ev);
      Frame& k = PushTracked(F::kNode, false);
      k.node = kid;
      return;
    }
    if (alias && !rec_->slots[kid->slot].is_null()) return;  // the real name wins
    f.kid = kid;
    switch (kid->special) {
      case Special::kMessages:
        if (ev.j != J::kArray) return WrongType(pending_, ValuePath(), "an array", ev);
        PushTracked(F::kMessages, true, limits_.max_messages).node = kid;
        return;
      case Special::kTools:
        if (ev.j != J::kArray) return WrongType(pending_, ValuePath(), "an array", ev);
        PushTracked(F::kTools, true, limits_.max_list_elements).node = kid;
        return;
      case Special::kSort:
        if (ev.j == J::kObject) { PushTracked(F::kSort, false).node = kid; return; }
        break;
      case Special::kPercentile:
        if (ev.j == J::kObject) { PushTracked(F::kPercentile, false).node = kid; return; }
        break;
      default: break;
    }
    // Written in place: a Value built on the stack and copied costs a
    // store-forwarding stall per leaf.
    Value* slot = &rec_->slots[kid->slot];
    if (ev.j == J::kString && kid->type.is(Kind::kString) && kid->special == Special::kNone)
      return PutString(slot, ev.text);
    if (Typed(ev, kid->type, slot) && kid->non_negative && slot->kind == Kind::kInt && slot->i < 0)
      Negative(*slot);
  }

  static const Node* FindKid(const Node& n, std::string_view name, bool* alias) {
    for (const Node& k : n.kids)
      if (SameName(k.name, name)) return &k;
    for (const auto& [a, idx] : n.aliases)
      if (a == name) { *alias = true; return &n.kids[idx]; }
    return nullptr;
  }

  // A decoded value for the top frame's current member or element.
  void Deliver(const Value& v) {
    Frame& f = Top();
    switch (f.kind) {
      case F::kNode: return SetLeaf(f.kid, v);
      case F::kList: case F::kMessages: return Item(f, v);
      case F::kMap: f.entries.emplace_back(f.key, v); return;
      case F::kRecord: f.items[f.idx] = v; return;
      default: return;
    }
  }

  [[gnu::always_inline]] void SetLeaf(const Node* kid, const Value& v) {
    if (kid->non_negative && v.kind == Kind::kInt && v.i < 0) return Negative(v);
    rec_->slots[kid->slot] = v;
  }
  [[gnu::cold, gnu::noinline]] void Negative(const Value& v) {
    std::string path = ValuePath();
    Fail(pending_, "input_invalid_value",
         "`" + path + "` must not be negative, got " + std::to_string(v.i), path);
  }

  // Decodes a value of type `t`; JSON null must be handled by the caller.
  // True with *out set for a scalar; a container opens a frame (its value is
  // delivered when it ends); false too on an error.
  bool Typed(const Ev& v, const Type& t, Value* out) {
    switch (t.kind()) {
      case Kind::kString:
        if (v.j != J::kString) return Wrong(v, "a string");
        PutString(out, v.text);
        return true;
      case Kind::kBool:
        if (v.j != J::kTrue && v.j != J::kFalse) return Wrong(v, "a boolean");
        out->kind = Kind::kBool;
        out->size = 0;
        out->i = 0;
        out->b = v.j == J::kTrue;
        return true;
      case Kind::kInt:
      case Kind::kDuration: {
        if (v.j != J::kNumber) return Wrong(v, internal::Want(t));
        int64_t x;
        switch (internal::IntegralFromText(v.text, &x)) {
          case internal::IntText::kOk: break;
          case internal::IntText::kFraction: return Wrong(v, internal::Want(t));
          case internal::IntText::kRange:
            return Wrong(v, t.is(Kind::kInt)
                                ? "an integer between -9223372036854775808 and 9223372036854775807"
                                : "an integer (milliseconds) between -9223372036854775808 and "
                                  "9223372036854775807");
        }
        PutScalar(out, t.kind(), x);
        return true;
      }
      case Kind::kDecimal:
      case Kind::kMoney: {
        int64_t micros;
        if (v.j == J::kNumber) {
          if (!internal::NumberToMicros(v.text, &micros))
            return Wrong(v, "a number between -9223372036854.775808 and 9223372036854.775807");
        } else if (v.j == J::kString) {
          auto m = ParseMicros(v.text);
          if (!m) return WrongText(v, "a decimal number (at most 6 fractional digits)");
          micros = *m;
        } else {
          return Wrong(v, "a number");
        }
        PutScalar(out, t.kind(), micros);
        return true;
      }
      case Kind::kTime: {
        int64_t ms;
        if (v.j != J::kString || !ParseRfc3339(v.text, &ms))
          return WrongText(v, "an RFC 3339 time such as `2026-11-25T10:00:00Z`");
        PutScalar(out, Kind::kTime, ms);
        return true;
      }
      case Kind::kSet:
      case Kind::kList:
        if (v.j != J::kArray) return Wrong(v, "an array");
        PushTracked(F::kList, true, limits_.max_list_elements).type = &t;
        return false;
      case Kind::kMap:
        if (v.j != J::kObject) return Wrong(v, "an object");
        PushTracked(F::kMap, false, limits_.max_list_elements).type = &t;
        return false;
      case Kind::kRecord:
        if (v.j != J::kObject) return Wrong(v, "an object");
        OpenRecord(t, false);
        return false;
      default:
        return Wrong(v, "a supported value");
    }
  }
  // input_wrong_type for the value being read; returns false.
  [[gnu::cold, gnu::noinline]] bool Wrong(const Ev& v, const char* want) {
    WrongType(Sink(Top()), ValuePath(), want, v);
    return false;
  }
  // The same, naming a string by its (clipped) text.
  [[gnu::cold, gnu::noinline]] bool WrongText(const Ev& v, const char* want) {
    std::string path = ValuePath();
    Fail(Sink(Top()), "input_wrong_type",
         "`" + path + "` must be " + want + ", got " +
             (v.j == J::kString ? internal::Quoted(v.text) : Got(v)),
         path);
    return false;
  }

  void OpenRecord(const Type& t, bool message) {
    Frame& f = PushTracked(F::kRecord, false);
    f.type = &t;
    f.message = message;
    f.items = rec_->arena.TakeVector();
    f.items.resize(t.fields().size());
    f.content = f.role = -1;
    if (message) {
      f.content = t.FieldIndex("content");
      f.role = t.FieldIndex("role");
      deferred_.set = false;
      s_.args.clear();
    }
  }

  [[gnu::noinline]] void RecordMember(const Ev& ev) {
    Frame& f = Top();
    std::string_view name = f.key;
    int idx = f.type->FieldIndex(name);
    if (idx < 0 && f.message && name == "tool_calls" && ev.j != J::kNull) {
      f.tool_calls = true;
      if (ev.j != J::kArray) return WrongType(deferred_, ValuePath(), "an array", ev);
      PushTracked(F::kToolCalls, true, limits_.max_list_elements).deferred = true;
      return;
    }
    if (idx < 0 || ev.j == J::kNull) return;  // tool_call_id, ...
    f.idx = idx;
    if (idx == f.content && ev.j == J::kArray) {
      s_.texts.clear();
      PushTracked(F::kParts, true, limits_.max_list_elements);
      return;
    }
    const Type& t = f.type->fields()[idx].type;
    if (ev.j == J::kString && t.is(Kind::kString)) return PutString(&f.items[idx], ev.text);
    Typed(ev, t, &f.items[idx]);
  }

  void SortMember(const Ev& ev) {
    Frame& f = Top();
    std::string_view n = f.key;
    if (n == "by") {
      if (ev.j == J::kNull) return;
      if (ev.j != J::kString) return WrongType(pending_, ValuePath(), "a string", ev);
      f.out = Value::StringRef(ev.text);
    } else if (n == "partition") {
      // `model` (default): sort within each model, in `models` order;
      // `none`: one global sort across the fallback models.
      if (ev.j == J::kNull) return;
      if (ev.j != J::kString) return WrongType(pending_, ValuePath(), "a string", ev);
      if (ev.text != "model" && ev.text != "none") {
        std::string path = ValuePath();
        return Fail(pending_, "input_invalid_value",
                    "`" + path + "` must be `model` or `none`, got " + internal::Quoted(ev.text),
                    path);
      }
      if (plan_.partition_slot >= 0) rec_->slots[plan_.partition_slot] = Value::StringRef(ev.text);
    } else {
      std::string path = ValuePath();
      Fail(pending_, "input_unknown_field", "unknown field `" + path + "`", path);
    }
  }

  void PercentileMember(const Ev& ev) {
    // The catalog only has p50 figures: every given percentile is a
    // threshold against p50 and the strictest one is kept (the lowest
    // latency, the highest throughput).
    Frame& f = Top();
    std::string_view n = f.key;
    if (n != "p50" && n != "p75" && n != "p90" && n != "p99") {
      std::string path = ValuePath();
      return Fail(pending_, "input_unknown_field",
                  "unknown field `" + path + "` (percentiles are p50, p75, p90 and p99)", path);
    }
    if (ev.j == J::kNull) return;
    Value x;
    if (!Typed(ev, f.node->type, &x)) return;
    const bool latency = f.node->path.ends_with("latency");
    if (f.out.is_null() || (latency ? x.i < f.out.i : x.i > f.out.i)) f.out = x;
  }

  // --- closing a frame ---
  void Close() {
    --nesting_;
    Frame& f = Top();
    if (f.kind == F::kSkip && f.skip_depth > 0) {
      --f.skip_depth;
      return;
    }
    if (f.tracked) CheckWhole(f);
    Err& e = Sink(f);
    Value v;
    bool deliver = false;
    if (!e.set && !(f.deferred && pending_.set)) deliver = Finish(f, &v);
    if (f.tracked) s_.keys.resize(f.keys_begin);
    --depth_;
    if (deliver && depth_ > 0) Deliver(v);
  }

  // Duplicate keys, then the element or member limit.
  void CheckWhole(Frame& f) {
    Err& e = Sink(f);
    if (!f.array) {
      const std::string_view* keys = s_.keys.data() + f.keys_begin;
      const size_t n = s_.keys.size() - f.keys_begin;
      const std::string_view* dup = nullptr;
      if (n >= 2 && n <= 16) {
        for (size_t i = 1; i < n && !dup; ++i)
          for (size_t j = 0; j < i; ++j)
            if (SameName(keys[i], keys[j])) { dup = &keys[i]; break; }
      } else if (n > 16) {
        std::vector<std::string_view>& names = s_.names;
        names.assign(keys, keys + n);
        std::sort(names.begin(), names.end());
        auto d = std::adjacent_find(names.begin(), names.end());
        if (d != names.end()) dup = &*d;
      }
      if (dup) {
        const size_t fi = static_cast<size_t>(&f - frames_);
        std::string at = FramePath(fi);
        std::string where = fi == 0 ? std::string("the decision input") : "`" + at + "`";
        return Override(e, "input_duplicate_key",
                        "duplicate key `" + std::string(*dup) + "` in " + where, Join(at, *dup));
      }
      if (f.kind == F::kMap && n > f.max) {
        std::string path = FramePath(static_cast<size_t>(&f - frames_));
        return Override(e, "input_too_many_elements",
                        "`" + path + "` has " + std::to_string(n) + " members, more than the limit of " +
                            std::to_string(f.max),
                        path);
      }
      return;
    }
    if (f.count > f.max) {
      std::string path = FramePath(static_cast<size_t>(&f - frames_));
      Override(e, "input_too_many_elements",
               "`" + path + "` has " + std::to_string(f.count) + " elements, more than the limit of " +
                   std::to_string(f.max),
               path);
    }
  }

  // The value of a frame that ended without error (false: nothing to deliver).
  bool Finish(Frame& f, Value* v) {
    switch (f.kind) {
      case F::kList:
        if (f.count == 0) { *v = internal::EmptyOf(f.type->kind()); return true; }
        *v = f.type->is(Kind::kSet) ? rec_->arena.MakeSet(std::move(f.items))
                                    : rec_->arena.MakeList(std::move(f.items));
        f.items = {};
        return true;
      case F::kMessages:
        if (f.count == 0) { *v = internal::EmptyOf(Kind::kList); return true; }
        *v = rec_->arena.MakeList(std::move(f.items));
        f.items = {};
        return true;
      case F::kTools:
        if (f.items.empty()) { *v = internal::EmptyOf(f.node->type.kind()); return true; }
        *v = f.node->type.is(Kind::kSet) ? rec_->arena.MakeSet(std::move(f.items))
                                         : rec_->arena.MakeList(std::move(f.items));
        f.items = {};
        return true;
      case F::kMap:
        *v = rec_->arena.MakeMap(std::move(f.entries));
        f.entries = {};
        return true;
      case F::kRecord: return FinishRecord(f, v);
      case F::kToolObj: {
        Frame& tools = frames_[depth_ - 2];
        if (f.fn_object) {
          std::string path = FramePath(depth_ - 1) + ".function.name";
          if (f.b.j == J::kAbsent) { Missing(pending_, path); return false; }
          if (f.b.j != J::kString) { WrongType(pending_, path, "a string", f.b); return false; }
          Item(tools, Value::StringRef(f.b.text));
        } else if (f.a.j == J::kString) {
          Item(tools, Value::StringRef(f.a.text));
        }
        return false;
      }
      case F::kParts: {
        std::vector<std::string_view>& t = s_.texts;
        if (t.size() == 1) { *v = Value::StringRef(t[0]); return true; }
        std::string& j = s_.join;
        j.clear();
        for (size_t i = 0; i < t.size(); ++i) {
          if (i) j += '\n';
          j.append(t[i]);
        }
        *v = rec_->arena.String(j);
        return true;
      }
      case F::kPart: {
        std::string at = FramePath(depth_ - 1);
        if (f.a.j == J::kAbsent) { Missing(pending_, Join(at, "type")); return false; }
        if (f.a.j != J::kString) { WrongType(pending_, Join(at, "type"), "a string", f.a); return false; }
        if (f.a.text != "text") return false;  // image_url, input_audio, file
        if (f.b.j == J::kAbsent) { Missing(pending_, Join(at, "text")); return false; }
        if (f.b.j != J::kString) { WrongType(pending_, Join(at, "text"), "a string", f.b); return false; }
        s_.texts.push_back(f.b.text);
        return false;
      }
      case F::kCallFn:
        if (f.a.j == J::kAbsent || f.a.j == J::kNull) return false;
        if (f.a.j != J::kString) {
          WrongType(deferred_, Join(FramePath(depth_ - 1), "arguments"), "a string", f.a);
          return false;
        }
        if (!f.a.text.empty()) s_.args.push_back(f.a.text);
        return false;
      case F::kSort: case F::kPercentile:
        *v = f.out;
        return true;
      default:
        return false;
    }
  }

  bool FinishRecord(Frame& f, Value* out) {
    const auto& fields = f.type->fields();
    std::vector<Value>& vals = f.items;
    if (f.content >= 0 && vals[f.content].is_null() && f.role >= 0 &&
        vals[f.role].kind == Kind::kString && vals[f.role].sv() == "assistant")
      vals[f.content] = Value::StringRef(std::string_view("", 0));
    if (f.tool_calls && f.content >= 0) {
      // The arguments of the tool calls join the message's text.
      if (deferred_.set) {
        pending_ = deferred_;
        return false;
      }
      if (!s_.args.empty()) {
        std::string& j = s_.join;
        j.clear();
        Value& text = vals[f.content];
        if (text.kind == Kind::kString) j.append(text.str, text.size);
        for (std::string_view a : s_.args) {
          if (!j.empty()) j += '\n';
          j.append(a);
        }
        text = rec_->arena.String(j);
      }
    }
    for (size_t i = 0; i < fields.size(); ++i) {
      // An absent optional set or list reads as empty (docs/language.md).
      if (vals[i].is_null() && (fields[i].type.is(Kind::kSet) || fields[i].type.is(Kind::kList))) {
        vals[i] = internal::EmptyOf(fields[i].type.kind());
        continue;
      }
      if (!fields[i].optional && vals[i].is_null()) {
        Missing(pending_, Join(FramePath(depth_ - 1), fields[i].name));
        return false;
      }
    }
    *out = rec_->arena.MakeRecord(std::move(vals));
    f.items = {};
    return true;
  }

  const Plan& plan_;
  const Limits& limits_;
  vm::Record* rec_;
  Scratch& s_;
  const bool candidate_;
  const internal::HugeNumbers& huge_;
  const std::string_view original_;
  const char* const buf_;
  Frame* frames_;      // s_.frames
  size_t depth_ = 0;     // frames in use
  uint32_t nesting_ = 0;  // JSON nesting (skipped containers included)
  bool too_deep_ = false;
  bool root_object_ = false;
  bool seen_candidate_ = false, present_ = false;
  Err pending_;   // the first error (parse errors, checked later, win)
  Err deferred_;  // the current message's tool_calls error
  std::vector<Value> params_;
};

bool Decode(std::string_view json, const stdlib::Schema& schema, const Limits& limits,
            const DecodeOptions& options, bool candidate, vm::Record* out, bool* present,
            InputError* err) {
  out->Clear();
  if (!internal::PreCheck(&json, limits, err)) return false;
  Scratch& s = GetScratch();
  const Plan& plan = internal::PlanFor(schema, candidate);
  // INVARIANT: 16 bytes of slack after the text: rapidjson's SIMD scanner
  // reads whole aligned 16-byte blocks.
  out->buffer.reserve(json.size() + 16);

  // Numbers beyond double range (MaskNumberAt, json_text.h): each is parsed
  // as a same-length placeholder and its text put back when the reader
  // reports it, so in a member tollgate ignores it is accepted like any
  // other value, and in a member it reads the decoder sees the real text and
  // refuses it with the member's path. At most kMaxHugeNumbers (each costs a
  // re-parse).
  internal::HugeNumbers huge;
  for (;;) {
    out->slots.assign(plan.n_slots, Value::Null());
    if (huge.n != 0) out->arena.Reset();  // a retry
    out->buffer.assign(json.data(), json.size());
    for (size_t i = 0; i < huge.n; ++i)
      MaskNumberAt(out->buffer.data(), out->buffer.size(), huge.at[i].offset);
    s.stack.Clear();
    Reader r(plan, limits, out, s, candidate, huge, json);
    rj::InsituStringStream is(out->buffer.data());
    rj::GenericReader<rj::UTF8<>, rj::UTF8<>, Pool> reader(&s.stack);
    constexpr unsigned kFlags =
        rj::kParseInsituFlag | rj::kParseNumbersAsStringsFlag;  // UTF-8 checked above
    rj::ParseResult result = reader.Parse<kFlags>(is, r);
    const size_t end = is.Tell();
    if (!r.too_deep() && result.IsError() && result.Code() == rj::kParseErrorNumberTooBig &&
        huge.n < kMaxHugeNumbers) {
      // The failed parse wrote nothing at or after the number (in-situ
      // decoding only rewrites the strings before it): measure it there.
      size_t len = MaskNumberAt(out->buffer.data(), out->buffer.size(), result.Offset());
      if (len != 0) {  // always: rapidjson reports the number's first byte
        huge.at[huge.n++] = internal::HugeNumbers::At{result.Offset(), len};
        continue;
      }
    }
    if (!internal::CheckParse(json, limits, r.too_deep(), result.IsError() ? result.Code() : 0,
                              result.IsError() ? result.Offset() : 0, end, huge, err))
      return false;
    if (present != nullptr) {
      *present = r.root_object() && r.present();
      if (!*present) {
        out->slots.assign(plan.n_slots, Value::Null());
        return true;
      }
    }
    Err& e = r.error();
    if (e.set) {
      err->code = std::move(e.code);
      err->message = std::move(e.message);
      err->path = std::move(e.path);
      return false;
    }
    for (const Plan::Req& q : plan.required)
      if (out->slots[q.slot].is_null()) {
        err->code = "input_missing_field";
        err->message = "missing required field `" + q.path + "`";
        err->path = q.path;
        return false;
      }
    for (const auto& [slot, kind] : plan.empties)
      if (out->slots[slot].is_null()) out->slots[slot] = internal::EmptyOf(kind);
    internal::DeriveFields(plan, internal::ContentIndex(schema, plan), std::move(r.params()),
                           &s.join, out);
    internal::FillClock(plan, options, out);
    return true;
  }
}

// No exception leaves the decoder: memory running out is an input error.
bool DecodeGuarded(std::string_view json, const stdlib::Schema& schema, const Limits& limits,
                   const DecodeOptions& options, bool candidate, vm::Record* out, bool* present,
                   InputError* err) {
  try {
    return Decode(json, schema, limits, options, candidate, out, present, err);
  } catch (const std::bad_alloc&) {
    err->code = "input_too_large";
    err->message = "out of memory while decoding the decision input";
    err->path.clear();
    return false;
  }
}

}  // namespace

int64_t SystemClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool DecodeInput(std::string_view json, const stdlib::Schema& schema, const Limits& limits,
                 vm::Record* out, InputError* err) {
  return DecodeGuarded(json, schema, limits, DecodeOptions{}, false, out, nullptr, err);
}

bool DecodeInput(std::string_view json, const stdlib::Schema& schema, const Limits& limits,
                 const DecodeOptions& options, vm::Record* out, InputError* err) {
  return DecodeGuarded(json, schema, limits, options, false, out, nullptr, err);
}

bool DecodeCandidate(std::string_view json, const stdlib::Schema& schema, const Limits& limits,
                     vm::Record* out, bool* present, InputError* err) {
  return DecodeGuarded(json, schema, limits, DecodeOptions{}, true, out, present, err);
}

std::string InputErrorJson(const InputError& e) {
  rj::StringBuffer sb;
  rj::Writer<rj::StringBuffer> w(sb);
  w.StartObject();
  w.Key("error");
  w.StartObject();
  w.Key("code");
  w.String(e.code.c_str(), static_cast<rj::SizeType>(e.code.size()));
  w.Key("message");
  w.String(e.message.c_str(), static_cast<rj::SizeType>(e.message.size()));
  w.Key("path");
  w.String(e.path.c_str(), static_cast<rj::SizeType>(e.path.size()));
  w.EndObject();
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

}  // namespace tollgate::runtime
