// TopLevelSpans (content.h): the raw text of each top-level member of a
// record line, for replay (which compares the recorded decision byte for
// byte and decodes the recorded input as it was written).
//
// A rapidjson SAX parse of a scratch copy in place (SSE4.2 string scanning,
// like runtime/input/input.cc). Positions come from the stream: rapidjson's
// string and number parsers work on a local copy of the stream and write it
// back after the handler returns, so inside a String/Key/RawNumber callback
// Tell() is where that token STARTS; object, array, null and boolean
// callbacks see the position just after their token. A scalar member ends
// where the next key starts (minus the comma and white space) or at the
// closing brace. tests/audit covers every member kind through replay.
#if defined(__SSE4_2__) && !defined(RAPIDJSON_SSE42)
#define RAPIDJSON_SSE42
#elif defined(__SSE2__) && !defined(RAPIDJSON_SSE2)
#define RAPIDJSON_SSE2
#endif
#include <rapidjson/reader.h>
#include <string.h>

#include <algorithm>

#include "runtime/audit/internal/content.h"

namespace tollgate::audit::internal {
namespace rj = rapidjson;
namespace {

// The deepest nesting a record line may have for the SAX passes below, which
// use rapidjson's recursive descent (its iterative parser reports other
// stream offsets, which the spans are made of): far above any record the
// writer writes (an input is at most Limits::max_input_depth, 128 levels by
// default, two levels down), and shallow enough that the descent cannot run
// out of stack. A deeper line was edited: it is malformed.
constexpr int kMaxLineDepth = 4096;

struct SpanHandler : rj::BaseReaderHandler<rj::UTF8<>, SpanHandler> {
  rj::InsituStringStream* is = nullptr;
  std::string_view line;
  std::vector<RawMember>* out = nullptr;
  int depth = 0;
  std::string key;
  bool pending = false;   // a scalar member whose end is not known yet
  size_t start = 0;

  bool IsSpace(char c) const { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
  void Push(size_t b, size_t e) {
    if (e > line.size() || b > e) return;
    out->push_back({key, line.substr(b, e - b)});
  }
  // Ends a pending scalar at `end` (the next key's quote or the closing brace).
  void Close(size_t end) {
    if (!pending) return;
    pending = false;
    while (end > start && (IsSpace(line[end - 1]) || line[end - 1] == ',')) --end;
    Push(start, end);
  }
  bool Starts() {  // String / RawNumber: Tell() is the token's start
    if (depth == 1) {
      pending = true;
      start = is->Tell();
    }
    return true;
  }
  bool Literal(size_t len) {  // null / true / false: Tell() is the token's end
    if (depth == 1) Push(is->Tell() - len, is->Tell());
    return true;
  }
  bool Null() { return Literal(4); }
  bool Bool(bool b) { return Literal(b ? 4 : 5); }
  bool String(const char*, rj::SizeType, bool) { return Starts(); }
  bool RawNumber(const char*, rj::SizeType, bool) { return Starts(); }
  bool Default() { return Starts(); }  // other number forms (not used with raw numbers)
  bool Key(const char* s, rj::SizeType n, bool) {
    if (depth == 1) {
      Close(is->Tell());
      key.assign(s, n);
    }
    return true;
  }
  bool Open() {
    if (depth >= kMaxLineDepth) return false;  // an edited line: refused before the stack runs out
    if (depth == 1) start = is->Tell() - 1;
    ++depth;
    return true;
  }
  bool Shut() {
    --depth;
    if (depth == 1) Push(start, is->Tell());
    if (depth == 0) Close(is->Tell() - 1);
    return true;
  }
  bool StartObject() { return Open(); }
  bool StartArray() { return Open(); }
  bool EndObject(rj::SizeType) { return Shut(); }
  bool EndArray(rj::SizeType) { return Shut(); }
};

// The members before "input": SpanHandler that stops at the key "input".
struct PrefixHandler : SpanHandler {
  size_t input_key = std::string_view::npos;  // where `"input"` starts
  bool Key(const char* s, rj::SizeType n, bool copy) {
    if (depth == 1 && std::string_view(s, n) == "input") {
      Close(is->Tell());
      input_key = is->Tell();
      return false;  // stop: the rest is found from the end
    }
    return SpanHandler::Key(s, n, copy);
  }
};

struct Skip : rj::BaseReaderHandler<rj::UTF8<>, Skip> {
  int depth = 0;
  bool StartObject() { return ++depth <= kMaxLineDepth; }
  bool StartArray() { return ++depth <= kMaxLineDepth; }
  bool EndObject(rj::SizeType) { return --depth, true; }
  bool EndArray(rj::SizeType) { return --depth, true; }
};

// Whether line[begin, end) is exactly one JSON value (rapidjson, on a copy).
bool OneValue(std::string_view line, size_t begin, size_t end) {
  thread_local std::string copy;
  copy.reserve(end - begin + 16);  // SIMD slack (see TopLevelSpans)
  copy.assign(line.substr(begin, end - begin));
  rj::InsituStringStream ss(copy.data());
  Skip h;
  rj::Reader reader;
  constexpr unsigned kFlags =
      rj::kParseInsituFlag | rj::kParseNumbersAsStringsFlag | rj::kParseStopWhenDoneFlag;
  return !reader.Parse<kFlags>(ss, h).IsError() && ss.Tell() == end - begin;
}

// The last `pat` (which starts with ',') starting at or before `before`:
// memrchr for the comma, then one compare (string_view::rfind compares at
// every position).
size_t LastAt(std::string_view line, std::string_view pat, size_t before) {
  size_t end = std::min(before + 1, line.size());
  while (end > 0) {
    const void* p = ::memrchr(line.data(), ',', end);
    if (p == nullptr) return std::string_view::npos;
    const size_t at = static_cast<size_t>(static_cast<const char*>(p) - line.data());
    if (at + pat.size() <= line.size() && line[at + 2] == pat[2] &&
        std::memcmp(line.data() + at, pat.data(), pat.size()) == 0)
      return at;
    end = at;
  }
  return std::string_view::npos;
}

// Text a JSON string may hold as it is (no quote, backslash or control);
// branch-free over a table (this runs on ~180 bytes of every record).
struct PlainTable {
  bool ok[256];
  constexpr PlainTable() : ok() {
    for (int c = 0; c < 256; ++c) ok[c] = c >= 0x20 && c != '"' && c != '\\';
  }
};
constexpr PlainTable kPlain;
bool PlainText(std::string_view s) {
  bool all = true;
  for (unsigned char c : s) all &= kPlain.ok[c];
  return all;
}

// The members before "input", SAX-parsed from `from` (a line offset whose
// byte is `{` or the comma before a key) with PrefixHandler. Returns the
// offset of `"input":`, or npos.
size_t ParsePrefix(std::string_view line, size_t from, std::vector<RawMember>* out) {
  // A copy to parse in place: up to the first `"input":` (the member is the
  // first such key at the top level; one inside "counters" ends the copy
  // early, the parse then fails and the full parse takes over).
  thread_local std::string scratch;
  size_t upto = line.find("\"input\":", from);
  upto = upto == std::string_view::npos ? line.size() : upto + 8;
  scratch.reserve(upto - from + 16);  // SIMD slack (see TopLevelSpans)
  scratch.assign(line.substr(from, upto - from));
  scratch[0] = '{';
  rj::InsituStringStream ss(scratch.data());
  PrefixHandler h;
  h.is = &ss;
  h.line = line.substr(from);
  h.out = out;
  rj::Reader reader;
  constexpr unsigned kFlags = rj::kParseInsituFlag | rj::kParseNumbersAsStringsFlag;
  rj::ParseResult r = reader.Parse<kFlags>(ss, h);
  if (r.Code() != rj::kParseErrorTermination || h.input_key == std::string_view::npos)
    return std::string_view::npos;
  return from + h.input_key;
}

// The record header of log.cc: four fixed-width members, then the subject's
// header (`"policy":...,"retain":".."`, the same bytes for every record of
// one version), then "clock", "counters", "admission"? and "input". The
// subject's members are remembered (per thread) from the last line that had
// them, so that only the few bytes from "clock" on are parsed per record.
struct HeaderCache {
  std::string text;                                  // `"policy":...,` up to `"clock":`
  std::vector<std::pair<std::string, std::pair<size_t, size_t>>> members;  // offsets in text
};

size_t Prefix(std::string_view line, std::vector<RawMember>* out) {
  // {"kind":"decision","id":"<26>","time":"<24>","prev":"<64>",
  constexpr std::string_view kHead = "{\"kind\":\"decision\",\"id\":\"", kTime = "\",\"time\":\"",
                             kPrev = "\",\"prev\":\"", kPolicy = "\",\"policy\":";
  constexpr size_t kIdAt = kHead.size(), kTimeAt = kIdAt + 26, kPrevAt = kTimeAt + kTime.size() + 24,
                   kPolicyAt = kPrevAt + kPrev.size() + 64;
  thread_local HeaderCache cache;
  const bool fixed = line.size() > kPolicyAt + kPolicy.size() && line.substr(0, kHead.size()) == kHead &&
                     line.substr(kTimeAt, kTime.size()) == kTime &&
                     line.substr(kPrevAt, kPrev.size()) == kPrev &&
                     line.substr(kPolicyAt, kPolicy.size()) == kPolicy &&
                     PlainText(line.substr(kIdAt, 26)) &&
                     PlainText(line.substr(kTimeAt + kTime.size(), 24)) &&
                     PlainText(line.substr(kPrevAt + kPrev.size(), 64));
  const size_t hdr_at = kPolicyAt + 2;  // `"policy":`
  if (fixed && !cache.text.empty() && line.compare(hdr_at, cache.text.size(), cache.text) == 0) {
    out->push_back({"kind", line.substr(8, 10)});
    out->push_back({"id", line.substr(kIdAt - 1, 28)});
    out->push_back({"time", line.substr(kTimeAt + kTime.size() - 1, 26)});
    out->push_back({"prev", line.substr(kPrevAt + kPrev.size() - 1, 66)});
    for (const auto& [key, span] : cache.members)
      out->push_back({key, line.substr(hdr_at + span.first, span.second)});
    // From the comma before "clock" on.
    return ParsePrefix(line, hdr_at + cache.text.size() - 1, out);
  }
  const size_t input_at = ParsePrefix(line, 0, out);
  if (input_at == std::string_view::npos || !fixed) return input_at;
  // Remember the subject's members: from "policy" to the comma before "clock".
  constexpr std::string_view kClock = "\"clock\":";
  const size_t policy_i = 4;
  size_t clock_i = policy_i;
  while (clock_i < out->size() && (*out)[clock_i].key != "clock") ++clock_i;
  if (out->size() <= policy_i || clock_i == out->size() || (*out)[policy_i].key != "policy") return input_at;
  const size_t clock_at = static_cast<size_t>((*out)[clock_i].value.data() - line.data()) - kClock.size();
  if (line.substr(clock_at, kClock.size()) != kClock || line[clock_at - 1] != ',' ||
      static_cast<size_t>((*out)[policy_i].value.data() - line.data()) != hdr_at + 9)
    return input_at;
  cache.text.assign(line.substr(hdr_at, clock_at - hdr_at));
  cache.members.clear();
  for (size_t i = policy_i; i < clock_i; ++i)
    cache.members.push_back({(*out)[i].key, {static_cast<size_t>((*out)[i].value.data() - line.data()) - hdr_at,
                                             (*out)[i].value.size()}});
  return input_at;
}

bool FastSpans(std::string_view line, std::vector<RawMember>* out) {
  out->clear();
  // 1. The members before "input".
  const size_t input_key = Prefix(line, out);
  constexpr std::string_view kInputKey = "\"input\":";
  if (input_key == std::string_view::npos || line.substr(input_key, kInputKey.size()) != kInputKey)
    return false;
  const size_t input_begin = input_key + kInputKey.size();
  // 2. The end: ,"hash":"<64 hex>"}
  constexpr std::string_view kHash = ",\"hash\":\"";
  if (line.size() < input_begin + kHash.size() + 66) return false;
  const size_t hash_at = line.size() - 66 - kHash.size();
  // (The hash's digits are verify's business; here the string must only end
  // where it seems to, like the full parse would see it.)
  if (line.substr(hash_at, kHash.size()) != kHash || line.substr(line.size() - 2) != "\"}" ||
      !PlainText(line.substr(hash_at + kHash.size(), 64)))
    return false;
  // 3. ,"decision":<value>,"endpoints":<value> right before it: the last
  //    `,"endpoints":` (an endpoint has no such key) and the last
  //    `,"decision":` before it (a decision has no such key; a quote inside a
  //    string is always escaped, so neither can be string text). The
  //    endpoints value is checked here; the decision's text is compared
  //    byte for byte with the replayed one (replay parses it only when they
  //    differ, and reports a line whose decision does not parse as malformed).
  //    A gateway's record has "gateway" and maybe "shadow" objects between
  //    the endpoints and the hash (the byte before `,"hash"` is then `}`,
  //    never so after "endpoints"): each is the last such key whose value
  //    runs exactly to where the next member starts (a few tries: a
  //    shadow's decision has a "shadow" member of its own).
  constexpr std::string_view kDecision = ",\"decision\":", kEndpoints = ",\"endpoints\":";
  size_t tail_at = hash_at;  // where the member after "endpoints" starts
  std::string_view gateway, shadow;
  if (line[hash_at - 1] == '}') {
    auto member_to = [&](std::string_view pat, size_t end, std::string_view* value) {
      size_t at = end;
      for (int tries = 0; tries < 4 && at > input_begin; ++tries) {
        at = LastAt(line, pat, at - 1);
        if (at == std::string_view::npos || at < input_begin) return end;
        if (OneValue(line, at + pat.size(), end)) {
          *value = line.substr(at + pat.size(), end - at - pat.size());
          return at;
        }
      }
      return end;
    };
    tail_at = member_to(",\"shadow\":", tail_at, &shadow);
    tail_at = member_to(",\"gateway\":", tail_at, &gateway);
    if (tail_at == hash_at) return false;
  }
  const size_t ep_at = LastAt(line, kEndpoints, tail_at);
  if (ep_at == std::string_view::npos || ep_at < input_begin) return false;
  const size_t ep_begin = ep_at + kEndpoints.size();
  if (!OneValue(line, ep_begin, tail_at)) return false;
  const size_t dec_at = ep_at == 0 ? std::string_view::npos : LastAt(line, kDecision, ep_at - 1);
  if (dec_at == std::string_view::npos || dec_at < input_begin) return false;
  const size_t dec_begin = dec_at + kDecision.size();
  const size_t dec_end = ep_at;
  if (dec_end <= dec_begin) return false;
  // 4. ,"content":{...} between the input and the decision: the writer's
  //    content object ends with its "scrubbed" array (`]}`); when the text
  //    before the decision ends so, the last `,"content":` key before it is
  //    the member if its object ends right there (one inside the input ends
  //    before the input's own closing brace).
  constexpr std::string_view kContent = ",\"content\":";
  size_t input_end = dec_at;
  size_t con_at = std::string_view::npos;
  if (dec_at >= 2 && line.compare(dec_at - 2, 2, "]}") == 0) {
    con_at = LastAt(line, kContent, dec_at - 1);
    if (con_at != std::string_view::npos && con_at > input_begin &&
        OneValue(line, con_at + kContent.size(), dec_at))
      input_end = con_at;
  }
  if (input_end <= input_begin) return false;
  out->push_back({"input", line.substr(input_begin, input_end - input_begin)});
  if (input_end != dec_at) {
    const size_t b = con_at + kContent.size();
    out->push_back({"content", line.substr(b, dec_at - b)});
  }
  out->push_back({"decision", line.substr(dec_begin, dec_end - dec_begin)});
  out->push_back({"endpoints", line.substr(ep_begin, tail_at - ep_begin)});
  if (!gateway.empty()) out->push_back({"gateway", gateway});
  if (!shadow.empty()) out->push_back({"shadow", shadow});
  out->push_back({"hash", line.substr(hash_at + kHash.size() - 1, 66)});
  return true;
}

}  // namespace

bool RecordSpans(std::string_view line, std::vector<RawMember>* out) {
  return FastSpans(line, out) || TopLevelSpans(line, out);
}

bool TopLevelSpans(std::string_view line, std::vector<RawMember>* out) {
  out->clear();
  thread_local std::string scratch;
  // INVARIANT: 16 bytes of slack after the text: rapidjson's SIMD scanner
  // reads whole 16-byte blocks (as in runtime/input/input.cc).
  scratch.reserve(line.size() + 16);
  scratch.assign(line);  // parsed in place; spans point into `line`
  rj::InsituStringStream ss(scratch.data());
  SpanHandler h;
  h.is = &ss;
  h.line = line;
  h.out = out;
  rj::Reader reader;
  constexpr unsigned kFlags =
      rj::kParseInsituFlag | rj::kParseNumbersAsStringsFlag | rj::kParseStopWhenDoneFlag;
  return !reader.Parse<kFlags>(ss, h).IsError() && h.depth == 0;
}

}  // namespace tollgate::audit::internal
