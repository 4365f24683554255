// runtime::DecodeInput and DecodeCandidate against the decoder frozen before
// issue 10's speed work (input_reference.h): the same result, the same
// record (every slot, deeply, strings byte for byte; the instant and its
// source) and the same error (code, message, path) on the test corpus --
// policies/requests, the JSON texts of the decoder's tests -- on generated
// requests, and on mutations of all of them (bytes cut, doubled or
// replaced, JSON fragments, bad UTF-8, escapes, huge numbers, duplicate
// members), under the default limits and tight ones.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/input/input.h"
#include "stdlib/schema.h"
#include "tests/differential/generate.h"
#include "tests/runtime/input_reference.h"

namespace tollgate::runtime {
namespace {

std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The raw string literals of a test source: most are JSON documents or
// fragments of one.
std::vector<std::string> RawLiterals(const std::string& src) {
  std::vector<std::string> out;
  for (size_t at = src.find("R\"("); at != std::string::npos; at = src.find("R\"(", at)) {
    const size_t begin = at + 3;
    const size_t end = src.find(")\"", begin);
    if (end == std::string::npos) break;
    out.push_back(src.substr(begin, end - begin));
    at = end + 2;
  }
  return out;
}

std::vector<std::string> Corpus() {
  std::vector<std::string> docs;
  for (const auto& e : std::filesystem::directory_iterator("policies/requests")) {
    const std::string text = ReadFile(e.path());
    if (e.path().extension() == ".jsonl") {
      std::istringstream lines(text);
      for (std::string line; std::getline(lines, line);) docs.push_back(line);
    } else {
      docs.push_back(text);
    }
  }
  for (const char* test : {"tests/runtime/input_test.cc", "tests/runtime/candidate_test.cc",
                           "tests/runtime/request_texts_test.cc", "tests/hostile/hostile_test.cc",
                           "tests/hostile/limits_test.cc", "tests/audit/content_retention_test.cc"}) {
    for (std::string lit : RawLiterals(ReadFile(test))) {
      const size_t first = lit.find_first_not_of(" \n\t");
      if (first == std::string::npos) continue;
      if (lit[first] == '{' || lit[first] == '[') docs.push_back(lit);
      // A request fragment (input_test.cc's Input()): inside a whole document.
      if (lit[first] == ',' || lit[first] == '"') {
        docs.push_back(R"({"principal": {"workspace": "acme"}, "request": {"model": "gpt-4o", )"
                       R"("messages": [{"role": "user", "content": "hi"}])" +
                       (lit[first] == ',' ? lit : ", " + lit) + "}}");
        docs.push_back(R"({"principal": {"workspace": "acme"}, "request": {"model": "gpt-4o")" +
                       (lit[first] == ',' ? lit : ", " + lit) + "}}");
      }
    }
  }
  return docs;
}

bool SameValue(const Value& a, const Value& b, std::string* why, const std::string& at);

bool SameItems(const std::vector<Value>& a, const std::vector<Value>& b, std::string* why,
               const std::string& at) {
  if (a.size() != b.size()) {
    *why = at + ": " + std::to_string(a.size()) + " vs " + std::to_string(b.size()) + " items";
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i)
    if (!SameValue(a[i], b[i], why, at + "[" + std::to_string(i) + "]")) return false;
  return true;
}

bool SameValue(const Value& a, const Value& b, std::string* why, const std::string& at) {
  if (a.kind != b.kind) {
    *why = at + ": kind " + KindName(a.kind) + " vs " + KindName(b.kind);
    return false;
  }
  switch (a.kind) {
    case Kind::kNull: return true;
    case Kind::kBool:
      if (a.b == b.b) return true;
      break;
    case Kind::kString:
      if (a.sv() == b.sv()) return true;
      *why = at + ": `" + std::string(a.sv()) + "` vs `" + std::string(b.sv()) + "`";
      return false;
    case Kind::kSet:
      if (a.set->elem != b.set->elem) break;
      return SameItems(a.set->items, b.set->items, why, at);
    case Kind::kList: return SameItems(a.list->items, b.list->items, why, at);
    case Kind::kMap:
      if (a.map->keys != b.map->keys) break;
      return SameItems(a.map->values, b.map->values, why, at);
    case Kind::kRecord: return SameItems(a.rec->fields, b.rec->fields, why, at);
    default:
      if (a.i == b.i) return true;
      break;
  }
  *why = at + ": values differ (" + KindName(a.kind) + ")";
  return false;
}

struct Run {
  bool ok = false;
  bool present = false;
  InputError err;
  vm::Record rec;
};

// Decodes `json` both ways and reports the first difference ("" when none).
// How often the reference gave each error code (and "ok"): printed, so that
// a change of the corpus or the mutations that stops exercising an error
// shows.
std::map<std::string, int>& Outcomes() {
  static std::map<std::string, int> m;
  return m;
}

std::string Compare(const std::string& json, const stdlib::Schema& schema, const Limits& limits,
                    bool candidate, bool* ok) {
  Run now, ref;
  DecodeOptions options;
  options.now_ms = 1767607200000;
  if (candidate) {
    now.ok = DecodeCandidate(json, schema, limits, &now.rec, &now.present, &now.err);
    ref.ok = testing::DecodeCandidateReference(json, schema, limits, &ref.rec, &ref.present, &ref.err);
  } else {
    now.ok = DecodeInput(json, schema, limits, options, &now.rec, &now.err);
    ref.ok = testing::DecodeInputReference(json, schema, limits, options, &ref.rec, &ref.err);
  }
  *ok = ref.ok;
  ++Outcomes()[ref.ok ? "ok" : ref.err.code];
  if (now.ok != ref.ok)
    return std::string("result ") + (now.ok ? "ok" : now.err.code + " " + now.err.message) +
           " vs reference " + (ref.ok ? "ok" : ref.err.code + " " + ref.err.message);
  if (!now.ok) {
    if (now.err.code != ref.err.code || now.err.message != ref.err.message ||
        now.err.path != ref.err.path)
      return "error " + now.err.code + " `" + now.err.message + "` at `" + now.err.path +
             "` vs reference " + ref.err.code + " `" + ref.err.message + "` at `" + ref.err.path + "`";
    return "";
  }
  if (candidate && now.present != ref.present) return "present differs";
  if (candidate && !now.present) return "";
  if (now.rec.slots.size() != ref.rec.slots.size()) return "slot count differs";
  std::string why;
  for (size_t i = 0; i < now.rec.slots.size(); ++i)
    if (!SameValue(now.rec.slots[i], ref.rec.slots[i], &why, "slot " + std::to_string(i)))
      return why;
  if (now.rec.time.has_value() != ref.rec.time.has_value() ||
      (now.rec.time && (now.rec.time->unix_ms != ref.rec.time->unix_ms ||
                        now.rec.time->from_clock != ref.rec.time->from_clock)))
    return "time differs";
  if (now.rec.clock_ms != ref.rec.clock_ms) return "clock reading differs";
  return "";
}

std::vector<Limits> LimitSets() {
  Limits tight;
  tight.max_input_depth = 4;
  tight.max_list_elements = 2;
  tight.max_messages = 2;
  tight.max_input_bytes = 600;
  return {Limits{}, tight};
}

void ExpectSame(const std::string& json, int* checked, int* decoded) {
  for (const Limits& limits : LimitSets())
    for (bool candidate : {false, true}) {
      bool ok = false;
      const std::string diff = Compare(json, stdlib::Schema::Standard(), limits, candidate, &ok);
      ++*checked;
      *decoded += ok;
      ASSERT_EQ(diff, "") << (candidate ? "DecodeCandidate" : "DecodeInput") << " on:\n" << json;
    }
}

// One random edit of `s`.
std::string Mutate(gen::Rng& rng, std::string s) {
  static const std::vector<std::string> kPieces = {
      "\"", "\\", "{", "}", "[", "]", ",", ":", "null", "true", "0", "-1", "1e400", "-1e400",
      "1.0000005", "2e3", "9223372036854775808", "\"\\u00e9\"", "\"\\uDC00\"", "\"\\uD800\"",
      "\"\\n\"", "\xC3\x28", "\xED\xA0\x80", std::string(1, '\0'), "\x1B", "\t",
      "\"x\": 1", "\"role\": \"assistant\"", "\"role\": \"function\"", "\"content\": null", "\"content\": [{\"type\": \"text\", \"text\": \"t\"}]",
      "\"type\": \"function\"", "\"name\": \"n\"", "\"max_completion_tokens\": 5", "\"tools\": []",
      "\"functions\": [{\"name\": \"f\"}]", "\"provider\": {\"sort\": {\"by\": \"price\"}}",
      "\"metadata\": {\"k\": \"secret\"}", "\"candidate\": {}", "\"n\": 0", "\"model\": \"a/b:free\"",
      "\"time\": \"2026-01-01T00:00:00Z\"", "\xEF\xBB\xBF"};
  auto piece = [&] { return kPieces[rng.Below(kPieces.size())]; };
  if (s.empty()) return piece();
  const size_t at = rng.Below(s.size() + 1);
  switch (rng.Below(7)) {
    case 0: s.erase(at, 1 + rng.Below(8)); break;                           // cut
    case 1: s.insert(at, piece()); break;                          // insert a piece
    case 2: if (at < s.size()) s[at] = static_cast<char>(rng.Below(256)); break;  // one byte
    case 3: {                                                                 // double a span
      const size_t n = std::min<size_t>(s.size() - std::min(at, s.size()), 1 + rng.Below(40));
      s.insert(at, s.substr(at, n));
      break;
    }
    case 4: s.resize(at); break;                                              // truncate
    case 5: {                                                                 // a member again
      const size_t q = s.find('"', at);
      const size_t e = q == std::string::npos ? q : s.find_first_of(",}", q);
      if (e != std::string::npos) s.insert(e, ", " + s.substr(q, e - q));
      break;
    }
    default: {                                                                // a value replaced
      const size_t c = s.find(": ", at);
      if (c != std::string::npos) {
        const size_t e = s.find_first_of(",}]", c + 2);
        s.replace(c + 2, (e == std::string::npos ? s.size() : e) - c - 2, piece());
      }
      break;
    }
  }
  return s;
}

TEST(InputEquivalence, Corpus) {
  const std::vector<std::string> docs = Corpus();
  ASSERT_GT(docs.size(), 100u);
  int checked = 0, decoded = 0;
  for (const std::string& d : docs) ExpectSame(d, &checked, &decoded);
  std::printf("%d decodings of %zu corpus documents agree (%d without error)\n", checked,
              docs.size(), decoded);
}

TEST(InputEquivalence, GeneratedAndMutated) {
  const std::vector<std::string> docs = Corpus();
  gen::Rng rng(20261201);
  int checked = 0, decoded = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string d = rng.Chance(40) ? gen::RandomInput(rng) : docs[rng.Below(docs.size())];
    const int edits = static_cast<int>(rng.Below(4));
    for (int k = 0; k < edits; ++k) d = Mutate(rng, d);
    ExpectSame(d, &checked, &decoded);
    if (::testing::Test::HasFatalFailure()) return;
  }
  std::printf("%d decodings of generated and mutated documents agree (%d without error)\n",
              checked, decoded);
  for (const auto& [code, n] : Outcomes()) std::printf("  %s: %d\n", code.c_str(), n);
}

// Objects of 0 to 24 members (both sides of NoDuplicates' 16), names from a
// small pool so that some repeat (at any two positions), in each object the
// decoder reads: the top level, principal, the body, provider, a message, a
// tool, a content part.
TEST(InputEquivalence, DuplicateMembers) {
  static const char* const kNames[] = {
      "a", "b", "ab", "ba", "abc", "abcd", "abce", "abcdefg", "abcdefgh", "abcdefgi", "bbcdefgh",
      "abcdefghi", "abcdefghijklmnopq", "abcdefghijklmnopr", "x_abcdefghijklmnop", "role",
      "name", "user", "zdr", "sort", "n", "seed", "stream", "metadata", "\u0061", "a\u0000"};
  gen::Rng rng(7);
  auto members = [&](int max) {
    std::string out;
    const int k = static_cast<int>(rng.Below(static_cast<uint64_t>(max) + 1));
    for (int i = 0; i < k; ++i) {
      out += std::string(", \"") + rng.Pick(kNames) + "\": ";
      out += rng.Chance(70) ? "null" : rng.Chance(50) ? "\"v\"" : "1";
    }
    return out;
  };
  int checked = 0, decoded = 0;
  for (int i = 0; i < 4000; ++i) {
    const int max = rng.Chance(50) ? 6 : 24;
    const std::string d =
        R"({"principal": {"workspace": "acme")" + members(max) +
        R"(}, "request": {"model": "gpt-4o", "messages": [{"role": "user", "content": [{"type": "text", "text": "hi")" +
        members(max) + R"(}])" + members(max) +
        R"(}], "tools": [{"type": "function", "function": {"name": "f")" + members(max) + R"(})" +
        members(max) + R"(}], "provider": {"zdr": true)" + members(max) + R"(})" + members(max) +
        R"(}, "context": {"data_class": "internal"})" + members(max) + "}";
    ExpectSame(d, &checked, &decoded);
    if (::testing::Test::HasFatalFailure()) return;
  }
  std::printf("%d decodings of objects with repeated names agree (%d without error)\n", checked,
              decoded);
}

}  // namespace
}  // namespace tollgate::runtime
