// The SAX decoder (runtime::DecodeInput / DecodeCandidate) against the DOM
// decoder it replaced (runtime/internal/input_dom.h): on the shipped request
// files, the fuzz corpus and many generated and mutated inputs -- shaped by
// the schema, with wrong types, nulls, duplicate and unknown members, too
// many elements, deep nesting, numbers beyond double range, bad UTF-8 and
// broken syntax -- both must return the same result, bit for bit: the same
// error code, message and path, or records whose every slot is the same
// value of the same kind, with the same clock.
//
// TOLLGATE_INPUT_DIFF_CASES=N runs N generated cases (default 20000).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/input.h"
#include "runtime/internal/input_dom.h"
#include "stdlib/schema.h"

namespace tollgate::runtime {
namespace {

// Strict equality: same kinds (an int is not a decimal here), same bytes.
bool Same(const Value& a, const Value& b, std::string* why, const std::string& at) {
  if (a.kind != b.kind) { *why = at + ": kind " + std::to_string(static_cast<int>(a.kind)) + " vs " + std::to_string(static_cast<int>(b.kind)); return false; }
  switch (a.kind) {
    case Kind::kNull: return true;
    case Kind::kBool:
      if (a.b != b.b) { *why = at + ": bool"; return false; }
      return true;
    case Kind::kString:
      if (a.sv() != b.sv()) { *why = at + ": `" + std::string(a.sv()) + "` vs `" + std::string(b.sv()) + "`"; return false; }
      return true;
    case Kind::kSet:
    case Kind::kList: {
      const auto& x = a.kind == Kind::kSet ? a.set->items : a.list->items;
      const auto& y = b.kind == Kind::kSet ? b.set->items : b.list->items;
      if (x.size() != y.size()) { *why = at + ": size"; return false; }
      for (size_t i = 0; i < x.size(); ++i)
        if (!Same(x[i], y[i], why, at + "[" + std::to_string(i) + "]")) return false;
      return true;
    }
    case Kind::kMap: {
      if (a.map->keys != b.map->keys) { *why = at + ": keys"; return false; }
      for (std::string_view k : a.map->keys)
        if (!Same(a.map->entries.at(k), b.map->entries.at(k), why, at + "." + std::string(k)))
          return false;
      return true;
    }
    case Kind::kRecord: {
      const auto& x = a.rec->fields;
      const auto& y = b.rec->fields;
      if (x.size() != y.size()) { *why = at + ": fields"; return false; }
      for (size_t i = 0; i < x.size(); ++i)
        if (!Same(x[i], y[i], why, at + "." + std::to_string(i))) return false;
      return true;
    }
    default:
      if (a.i != b.i) { *why = at + ": " + std::to_string(a.i) + " vs " + std::to_string(b.i); return false; }
      return true;
  }
}

struct Outcome {
  bool ok = false, present = false;
  vm::Record rec;
  InputError err;
};

// Both decoders on `json`; an empty string when they agree, else what differs.
std::string Compare(const std::string& json, const stdlib::Schema& s, const Limits& limits,
                    bool candidate) {
  Outcome n, o;
  DecodeOptions opts;
  opts.now_ms = 1767607200000;
  if (candidate) {
    n.ok = DecodeCandidate(json, s, limits, &n.rec, &n.present, &n.err);
    o.ok = internal::DecodeCandidateDom(json, s, limits, &o.rec, &o.present, &o.err);
  } else {
    n.ok = DecodeInput(json, s, limits, opts, &n.rec, &n.err);
    o.ok = internal::DecodeInputDom(json, s, limits, opts, &o.rec, &o.err);
  }
  if (n.ok != o.ok)
    return std::string("ok ") + (n.ok ? "new" : "old") + " only; error: " + (n.ok ? o.err : n.err).code +
           " " + (n.ok ? o.err : n.err).message;
  if (!n.ok) {
    if (n.err.code != o.err.code || n.err.message != o.err.message || n.err.path != o.err.path)
      return "errors differ:\n  new " + n.err.code + " " + n.err.message + " @" + n.err.path +
             "\n  old " + o.err.code + " " + o.err.message + " @" + o.err.path;
    return "";
  }
  if (n.present != o.present) return "present differs";
  if (n.rec.slots.size() != o.rec.slots.size()) return "slot counts differ";
  std::string why;
  for (size_t i = 0; i < n.rec.slots.size(); ++i)
    if (!Same(n.rec.slots[i], o.rec.slots[i], &why, "slot " + std::to_string(i))) return why;
  if (n.rec.time.has_value() != o.rec.time.has_value() ||
      (n.rec.time && (n.rec.time->unix_ms != o.rec.time->unix_ms ||
                      n.rec.time->from_clock != o.rec.time->from_clock)))
    return "time differs";
  if (n.rec.clock_ms != o.rec.clock_ms) return "clock differs";
  return "";
}

// A JSON tree the generator builds and mutates, then prints.
struct J {
  enum K { kRaw, kObject, kArray } k = kRaw;
  std::string raw;  // a scalar's JSON text
  std::vector<std::pair<std::string, J>> members;
  std::vector<J> elems;
  static J Raw(std::string s) { J j; j.raw = std::move(s); return j; }
  static J Str(const std::string& s) { return Raw("\"" + s + "\""); }
  void Print(std::string* out) const {
    switch (k) {
      case kRaw: *out += raw; return;
      case kObject:
        *out += '{';
        for (size_t i = 0; i < members.size(); ++i) {
          if (i) *out += ", ";
          *out += "\"" + members[i].first + "\": ";
          members[i].second.Print(out);
        }
        *out += '}';
        return;
      case kArray:
        *out += '[';
        for (size_t i = 0; i < elems.size(); ++i) {
          if (i) *out += ',';
          elems[i].Print(out);
        }
        *out += ']';
        return;
    }
  }
};

class Gen {
 public:
  Gen(const stdlib::Schema& s, uint64_t seed) : s_(s), rng_(seed) {}

  std::string Document() {
    J root;
    root.k = J::kObject;
    for (const stdlib::FieldDef& f : s_.fields()) {
      if (f.derived || Chance(0.15)) continue;
      if (f.path == "context.time" && Chance(0.5)) continue;  // from the clock
      std::string path = f.scope == ast::Scope::kCandidate ? "candidate." + f.path : f.path;
      Put(&root, path, ForField(f));
    }
    if (Chance(0.3)) Put(&root, "request.max_completion_tokens", Chance(0.8) ? J::Raw("64") : Number());
    if (Chance(0.2)) Put(&root, "request.provider.max_price.image", Number());
    if (Chance(0.3)) Put(&root, "request.temperature", Chance(0.8) ? J::Raw("0.7") : Number());
    if (Chance(0.2)) Put(&root, "request.stream", J::Raw("true"));
    if (Chance(0.6))
      for (int n = Int(1, 3); n > 0; --n) Mutate(&root, 0);
    std::string out;
    if (Chance(0.05)) out = "\xEF\xBB\xBF";
    root.Print(&out);
    if (Chance(0.12)) TextMutation(&out);
    return out;
  }

 private:
  bool Chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  int Int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  template <typename T> const T& Pick(const std::vector<T>& v) { return v[Int(0, static_cast<int>(v.size()) - 1)]; }

  void Put(J* root, const std::string& path, J value) {
    J* at = root;
    size_t start = 0;
    for (;;) {
      size_t dot = path.find('.', start);
      std::string name = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      J* kid = nullptr;
      for (auto& m : at->members)
        if (m.first == name) kid = &m.second;
      if (dot == std::string::npos) {
        if (kid) *kid = std::move(value);
        else at->members.emplace_back(name, std::move(value));
        return;
      }
      if (!kid) {
        J o;
        o.k = J::kObject;
        at->members.emplace_back(name, o);
        kid = &at->members.back().second;
      }
      if (kid->k != J::kObject) return;
      at = kid;
      start = dot + 1;
    }
  }

  J Number() {
    static const std::vector<std::string> n = {
        "0", "1", "-1", "7", "256", "1024", "-5", "0.5", "0.25", "2.5", "1e3", "1.0", "1.5e-7",
        "12.3456789", "9223372036854775807", "9223372036854775808", "-9223372036854775809",
        "1e19", "1e400", "-1e309", "123456789012345678901234567890", "0.0000005", "0.0000015",
        "9223372036854.775807", "9223372036854.775808", "1E2", "-0", "4e-1"};
    return J::Raw(Pick(n));
  }
  J String() {
    static const std::vector<std::string> s = {
        "", "x", "gpt-4o", "openai/gpt-4o:nitro", "anthropic/claude:free", "user", "assistant",
        "system", "tool", "text", "image_url", "function", "price", "latency", "model", "none",
        "2026-01-05T10:00:00Z", "2026-13-05T10:00:00Z", "0.25", "1.1234567", "-3", "abc\\n\\u00e9",
        "\\ud83d\\ude00", "DE", "US", "internal", "\xc3\xa9t\xc3\xa9", "a\\\"b", "{\\\"k\\\": 1}"};
    return J::Str(Pick(s));
  }
  J Scalar() {
    switch (Int(0, 5)) {
      case 0: return J::Raw("null");
      case 1: return J::Raw(Chance(0.5) ? "true" : "false");
      case 2: case 3: return Number();
      default: return String();
    }
  }
  std::string Key() {
    static const std::vector<std::string> k = {
        "role", "content", "name", "type", "text", "function", "arguments", "tool_calls", "by",
        "partition", "p50", "p75", "p90", "p99", "p42", "foo", "model", "messages", "workspace",
        "user", "zdr", "sort", "order", "image", "prompt", "tool_call_id", "max_tokens", "x"};
    return Pick(k);
  }
  J Any(int depth) {
    if (depth > 3 || Chance(0.6)) return Scalar();
    J j;
    if (Chance(0.5)) {
      j.k = J::kObject;
      for (int n = Int(0, 3); n > 0; --n) j.members.emplace_back(Key(), Any(depth + 1));
    } else {
      j.k = J::kArray;
      for (int n = Int(0, 3); n > 0; --n) j.elems.push_back(Any(depth + 1));
    }
    return j;
  }

  J Message() {
    J m;
    m.k = J::kObject;
    static const std::vector<std::string> roles = {"user", "assistant", "system", "tool"};
    m.members.emplace_back("role", J::Str(Pick(roles)));
    if (Chance(0.8)) {
      m.members.emplace_back("content", Chance(0.95) ? String() : Scalar());
    } else if (Chance(0.8)) {
      J parts;
      parts.k = J::kArray;
      for (int n = Int(0, 3); n > 0; --n) {
        if (Chance(0.2)) { parts.elems.push_back(String()); continue; }
        J p;
        p.k = J::kObject;
        if (Chance(0.9)) p.members.emplace_back("type", J::Str(Chance(0.8) ? "text" : "image_url"));
        if (Chance(0.9)) p.members.emplace_back("text", String());
        parts.elems.push_back(p);
      }
      m.members.emplace_back("content", parts);
    }
    if (Chance(0.2)) m.members.emplace_back("name", String());
    if (Chance(0.3)) {
      J calls;
      calls.k = J::kArray;
      for (int n = Int(0, 3); n > 0; --n) {
        J c, fn;
        c.k = fn.k = J::kObject;
        c.members.emplace_back("id", J::Str("call_1"));
        if (Chance(0.9)) fn.members.emplace_back("name", J::Str("search"));
        if (Chance(0.9)) fn.members.emplace_back("arguments", Chance(0.8) ? J::Str("{\\\"q\\\": 1}") : Scalar());
        c.members.emplace_back("function", fn);
        calls.elems.push_back(c);
      }
      m.members.emplace_back("tool_calls", calls);
    }
    if (Chance(0.1)) m.members.emplace_back("tool_call_id", String());
    return m;
  }

  J ForField(const stdlib::FieldDef& f) {
    const std::string& p = f.path;
    if (p == "request.messages") {
      J a;
      a.k = J::kArray;
      for (int n = Int(0, 4); n > 0; --n) a.elems.push_back(Message());
      return a;
    }
    if (p == "request.tools") {
      J a;
      a.k = J::kArray;
      for (int n = Int(0, 3); n > 0; --n) {
        if (Chance(0.2)) { a.elems.push_back(String()); continue; }
        J t, fn;
        t.k = fn.k = J::kObject;
        t.members.emplace_back("type", J::Str("function"));
        if (Chance(0.9)) {
          fn.members.emplace_back("name", Chance(0.9) ? J::Str("search_docs") : Scalar());
          if (Chance(0.1)) fn.members.emplace_back("name", J::Str("again"));
          t.members.emplace_back("function", fn);
        }
        a.elems.push_back(t);
      }
      return a;
    }
    if (p == "request.provider.sort" && Chance(0.5)) {
      J o;
      o.k = J::kObject;
      if (Chance(0.8)) o.members.emplace_back("by", J::Str(Chance(0.5) ? "price" : "latency"));
      if (Chance(0.5)) o.members.emplace_back("partition", J::Str(Chance(0.7) ? "model" : "none"));
      return o;
    }
    if (p.find("preferred_m") != std::string::npos && Chance(0.5)) {
      J o;
      o.k = J::kObject;
      static const std::vector<std::string> ps = {"p50", "p75", "p90", "p99"};
      for (int n = Int(1, 3); n > 0; --n) o.members.emplace_back(Pick(ps), Number());
      return o;
    }
    return OfType(f.type, 0);
  }

  J OfType(const Type& t, int depth) {
    switch (t.kind()) {
      case Kind::kString: return String();
      case Kind::kBool: return J::Raw(Chance(0.5) ? "true" : "false");
      case Kind::kInt: case Kind::kDuration:
        if (Chance(0.95)) return J::Raw(Pick(std::vector<std::string>{"0", "1", "7", "256", "1e3", "2.0", "40"}));
        return Chance(0.5) ? Number() : String();
      case Kind::kDecimal: case Kind::kMoney:
        if (Chance(0.95)) return Pick(std::vector<J>{J::Raw("0.5"), J::Raw("3"), J::Raw("1.25e1"), J::Str("0.000001"), J::Raw("0.0000015")});
        return Chance(0.5) ? Number() : String();
      case Kind::kTime: return J::Str(Chance(0.97) ? "2026-01-05T10:00:00Z" : "2026-01-05");
      case Kind::kSet: case Kind::kList: {
        J a;
        a.k = J::kArray;
        for (int n = Int(0, Chance(0.9) ? 2 : 5); n > 0; --n) a.elems.push_back(OfType(t.elem(), depth + 1));
        return a;
      }
      case Kind::kMap: {
        J o;
        o.k = J::kObject;
        for (int n = Int(0, 4); n > 0; --n) o.members.emplace_back(Key(), OfType(t.elem(), depth + 1));
        return o;
      }
      case Kind::kRecord: {
        J o;
        o.k = J::kObject;
        for (const auto& f : t.fields())
          if (Chance(0.85)) o.members.emplace_back(f.name, OfType(f.type, depth + 1));
        return o;
      }
      default: return Scalar();
    }
  }

  // One structural change somewhere in the tree.
  void Mutate(J* j, int depth) {
    bool here = (depth > 0 && Chance(0.3)) || (j->k == J::kObject ? j->members.empty() : j->k == J::kArray ? j->elems.empty() : true);
    if (!here) {
      if (j->k == J::kObject) Mutate(&j->members[Int(0, static_cast<int>(j->members.size()) - 1)].second, depth + 1);
      else Mutate(&j->elems[Int(0, static_cast<int>(j->elems.size()) - 1)], depth + 1);
      return;
    }
    switch (Int(0, 9)) {
      case 0: *j = Scalar(); return;
      case 1: *j = Any(2); return;
      case 2:  // a duplicate member
        if (j->k == J::kObject && !j->members.empty()) j->members.push_back(j->members[Int(0, static_cast<int>(j->members.size()) - 1)]);
        return;
      case 3:  // an unknown or special member
        if (j->k == J::kObject) j->members.emplace_back(Key(), Any(1));
        return;
      case 4:  // remove one
        if (j->k == J::kObject && !j->members.empty()) j->members.erase(j->members.begin() + Int(0, static_cast<int>(j->members.size()) - 1));
        if (j->k == J::kArray && !j->elems.empty()) j->elems.erase(j->elems.begin() + Int(0, static_cast<int>(j->elems.size()) - 1));
        return;
      case 5: {  // nest deeply
        for (int n = Int(1, 40); n > 0; --n) {
          J w;
          w.k = Chance(0.5) ? J::kArray : J::kObject;
          if (w.k == J::kArray) w.elems.push_back(*j);
          else w.members.emplace_back(Key(), *j);
          *j = w;
        }
        return;
      }
      case 6:  // grow an array or object past small limits
        if (j->k == J::kArray && !j->elems.empty()) for (int n = Int(1, 20); n > 0; --n) j->elems.push_back(j->elems[0]);
        if (j->k == J::kObject) for (int n = Int(10, 20); n > 0; --n) j->members.emplace_back("k" + std::to_string(Int(0, 30)), Scalar());
        return;
      case 7: *j = J::Raw(Chance(0.5) ? "1e400" : "-2.5e99999"); return;
      case 8: *j = J::Raw("null"); return;
      default:
        if (j->k == J::kArray) j->elems.push_back(Any(1));
        return;
    }
  }

  void TextMutation(std::string* s) {
    if (s->empty()) return;
    size_t at = static_cast<size_t>(Int(0, static_cast<int>(s->size()) - 1));
    switch (Int(0, 6)) {
      case 0: s->resize(at); return;
      case 1: (*s)[at] = static_cast<char>(Int(1, 255)); return;
      case 2: s->erase(at, 1); return;
      case 3: s->insert(at, Pick(std::vector<std::string>{"{", "}", "[", "]", ",", ":", "\"", "\\", "\\udc00", "\xff", "\xc0\xaf", "\xed\xa0\x80", "1e999", " null", std::string(1, '\0')})); return;
      case 4: *s += Pick(std::vector<std::string>{" ", " x", "{}", "\n"}); return;
      case 5: s->insert(0, Pick(std::vector<std::string>{"[", " ", "\"x\"", "1", "null"})); return;
      default: s->insert(at, "\\u00e9"); return;
    }
  }

  const stdlib::Schema& s_;
  std::mt19937_64 rng_;
};

stdlib::Schema Extended() {
  stdlib::Schema s = stdlib::Schema::Standard();
  std::string error;
  bool ok = s.AddFromJson(R"({"fields": [
      {"path": "principal.department", "type": "string", "scope": "request"},
      {"path": "context.quotas", "type": "map<int>", "scope": "request"},
      {"path": "context.window", "type": "duration", "scope": "request"},
      {"path": "context.owner", "type": "{name: string, level?: int, tags?: set<string>, limits?: map<decimal>}", "scope": "request"},
      {"path": "context.risks", "type": "list<decimal>", "scope": "request"},
      {"path": "principal.teams", "type": "list<{name: string, tags?: set<string>}>", "scope": "request"},
      {"path": "request.metadata.team", "type": "string", "scope": "request"}]})",
                          &error);
  EXPECT_TRUE(ok) << error;
  return s;
}

std::vector<Limits> LimitSets() {
  Limits small;
  small.max_list_elements = 3;
  small.max_messages = 2;
  small.max_input_depth = 6;
  Limits tight;
  tight.max_input_bytes = 600;
  tight.max_input_depth = 4;
  tight.max_list_elements = 1;
  return {Limits{}, small, tight};
}

std::vector<std::string> Files() {
  std::vector<std::string> out;
  for (const char* dir : {"policies/requests", "tests/fuzz/corpus/fuzz_decode_input"}) {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
      std::ifstream in(e.path());
      std::stringstream ss;
      ss << in.rdbuf();
      out.push_back(ss.str());
    }
  }
  return out;
}

TEST(InputDifferential, FilesAgree) {
  const stdlib::Schema ext = Extended();
  std::vector<std::string> files = Files();
  ASSERT_GT(files.size(), 10u);
  for (const std::string& json : files)
    for (const stdlib::Schema* s : {&stdlib::Schema::Standard(), &ext})
      for (const Limits& l : LimitSets())
        for (bool cand : {false, true}) {
          std::string diff = Compare(json, *s, l, cand);
          EXPECT_EQ(diff, "") << json.substr(0, 300);
        }
}

// Edge cases written by hand: each must agree, and (where noted) the error
// is the one the DOM walk reports, not the first one a streaming reader sees.
TEST(InputDifferential, OrderingEdgeCases) {
  const stdlib::Schema ext = Extended();
  const std::vector<std::string> cases = {
      // duplicate keys after an error inside the object: the duplicate wins
      R"({"principal": {"workspace": 1, "user": "a", "user": "b"}, "request": {"model": "m", "messages": []}})",
      // an error before an object with duplicates: the first error wins
      R"({"principal": {"workspace": 1}, "request": {"model": "m", "messages": [], "provider": {"zdr": true, "zdr": false}}})",
      // duplicates in the document itself
      R"({"principal": {"workspace": 1}, "request": {"model": "m", "messages": []}, "principal": {}})",
      // more than 16 members with duplicates: the smallest duplicated name
      R"({"principal": {"workspace": "w"}, "request": {"model": "m", "messages": [], "a1": 1, "a2": 1, "a3": 1, "a4": 1, "a5": 1, "a6": 1, "a7": 1, "a8": 1, "zz": 1, "zz": 2, "b1": 1, "b2": 1, "b3": 1, "b4": 1, "b5": 1, "b6": 1, "b7": 1, "bb": 1, "bb": 2}})",
      // too many elements beats an error inside the array
      R"({"principal": {"workspace": "w", "groups": [1, "a", "b", "c", "d"]}, "request": {"model": "m", "messages": []}})",
      // tool_calls are read after the message's other members
      R"({"principal": {"workspace": "w"}, "request": {"model": "m", "messages": [{"tool_calls": 5, "role": 7, "content": "x"}]}})",
      R"({"principal": {"workspace": "w"}, "request": {"model": "m", "messages": [{"tool_calls": [1], "role": "assistant"}]}})",
      R"({"principal": {"workspace": "w"}, "request": {"model": "m", "messages": [{"tool_calls": [{"function": {"arguments": 3}}], "content": "c"}, {"role": 1}]}})",
      R"({"principal": {"workspace": "w"}, "request": {"model": "m", "messages": [{"role": "assistant", "tool_calls": [{"function": {"arguments": "{}"}}, {"function": {"arguments": "", "arguments": "x"}}]}]}})",
      R"({"principal": {"workspace": "w"}, "request": {"model": "m", "messages": [{"role": "assistant", "content": "a", "tool_calls": [{"function": {"arguments": "{}"}}, {"function": null}, {"id": 1}]}]}})",
      // a missing role after content parts and a bad part
      R"({"principal": {"workspace": "w"}, "request": {"model": "m", "messages": [{"content": [{"type": "text"}, {"text": "x"}]}]}})",
      R"({"principal": {"workspace": "w"}, "request": {"model": "m", "messages": [{"role": "user", "content": [{"text": 5, "type": "text"}, "s", {"type": "image_url"}]}]}})",
      // a schema error before a syntax error: the syntax error wins
      R"({"principal": {"workspace": 1}, "request": {"model": "m", "messages": []}, )",
      // ... and before a nesting error
      R"({"principal": {"workspace": 1}, "x": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]})",
      // numbers beyond double range: ignored where unread, refused where read
      R"({"principal": {"workspace": "w"}, "request": {"model": "m", "messages": [], "logit_bias": {"1": 1e400}, "max_tokens": 1e999}})",
      R"({"principal": {"workspace": "w"}, "request": {"model": "m", "messages": [], "temperature": -1e400}})",
      // tools: the first `name` of a function wins; a missing one is an error
      R"({"principal": {"workspace": "w"}, "request": {"model": "m", "messages": [], "tools": [{"type": "function", "function": {"name": "a", "name": 5}}, {"type": "web"}, {"function": {}}]}})",
      // sort and percentiles as objects
      R"({"principal": {"workspace": "w"}, "request": {"model": "m", "messages": [], "provider": {"sort": {"partition": "none", "by": null}, "preferred_max_latency": {"p90": 2, "p50": 1.5}}}})",
      R"({"principal": {"workspace": "w"}, "request": {"model": "m", "messages": [], "provider": {"sort": {"by": "price", "extra": null}}}})",
      R"({"principal": {"workspace": "w"}, "request": {"model": "m", "messages": [], "provider": {"preferred_min_throughput": {"p42": null}}}})",
      // aliases: the real name wins whichever comes first
      R"({"principal": {"workspace": "w"}, "request": {"model": "m", "messages": [], "max_tokens": 5, "max_completion_tokens": "bad"}})",
      R"({"principal": {"workspace": "w"}, "request": {"model": "m", "messages": [], "max_completion_tokens": -3, "max_tokens": 5}})",
      // extended schema: maps, records, durations
      R"({"principal": {"workspace": "w"}, "request": {"model": "m", "messages": []}, "context": {"quotas": {"a": 1, "b": null, "a": 2}, "window": 1.5}})",
      R"({"principal": {"workspace": "w"}, "request": {"model": "m", "messages": []}, "context": {"owner": {"level": 2, "tags": ["x", "x"], "limits": {"a": "0.5"}}}})",
      R"({"principal": {"workspace": "w"}, "request": {"model": "m", "messages": []}, "context": {"owner": {"name": "n", "limits": {"a": "0.1234567"}}, "risks": [1, null]}})",
      R"({"principal": {"workspace": "w", "teams": [{"name": "a"}, {"name": "b", "tags": ["x"]}]}, "request": {"model": "m", "messages": []}})",
      // the root
      "[1, 2]", "\"x\"", "null", "", " ", "{}", "{\"candidate\": null, \"candidate\": 1}",
      R"({"candidate": {"provider": {"name": "p", "name": "q"}}})",
      R"({"candidate": {"provider": {"name": 1}}, "principal": {"workspace": "w"}, "request": {"model": "m", "messages": []}})",
  };
  for (const std::string& json : cases)
    for (const stdlib::Schema* s : {&stdlib::Schema::Standard(), &ext})
      for (const Limits& l : LimitSets())
        for (bool cand : {false, true}) EXPECT_EQ(Compare(json, *s, l, cand), "") << json;
}

TEST(InputDifferential, GeneratedAgree) {
  const stdlib::Schema ext = Extended();
  int cases = 20000;
  if (const char* n = std::getenv("TOLLGATE_INPUT_DIFF_CASES")) cases = std::atoi(n);
  const std::vector<Limits> limits = LimitSets();
  int failures = 0, decoded = 0;
  for (int i = 0; i < cases && failures < 5; ++i) {
    const stdlib::Schema& s = i % 3 == 2 ? ext : stdlib::Schema::Standard();
    Gen g(s, static_cast<uint64_t>(i) * 7919 + 1);
    std::string json = g.Document();
    const Limits& l = limits[static_cast<size_t>(i) % limits.size()];
    bool cand = i % 5 == 4;
    std::string diff = Compare(json, s, l, cand);
    if (!diff.empty()) {
      ++failures;
      ADD_FAILURE() << "case " << i << ": " << diff << "\n" << json;
    }
    vm::Record rec;
    InputError err;
    if (DecodeInput(json, s, l, &rec, &err)) ++decoded;
    else if (std::getenv("TOLLGATE_INPUT_DIFF_VERBOSE")) std::fprintf(stderr, "%s %s\n", err.code.c_str(), err.message.c_str());
  }
  // The generator must reach both outcomes often.
  EXPECT_GT(decoded, cases / 20);
  EXPECT_LT(decoded, cases - cases / 20);
}

}  // namespace
}  // namespace tollgate::runtime
