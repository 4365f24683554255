// TopLevelSpans (content.h): the raw text of each top-level member of a
// record line, for replay (which compares the recorded decision byte for
// byte and decodes the recorded input as it was written).
//
// A rapidjson SAX parse of a scratch copy in place (SSE4.2 string scanning,
// like runtime/input.cc). Positions come from the stream: rapidjson's
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

#include "runtime/audit/internal/content.h"

namespace tollgate::audit::internal {
namespace rj = rapidjson;
namespace {

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

}  // namespace

bool TopLevelSpans(std::string_view line, std::vector<RawMember>* out) {
  out->clear();
  thread_local std::string scratch;
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
