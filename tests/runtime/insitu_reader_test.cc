// InsituReader (runtime/input/insitu_reader.h) against rapidjson's own reader
// on the same in-situ parse: the same events with the same strings, the same
// error code and offset. Random documents of strings with escapes, at every
// alignment; texts hold no raw byte 0x1A-0x1F (the decoder refuses those
// before parsing: insitu_reader.h).

// As in runtime/input/input.cc (which defines these for itself in every
// build): the specializations of insitu_reader.h need them, and this file
// must see the reader input.cc sees.
#if defined(__SSE4_2__) && !defined(RAPIDJSON_SSE42)
#define RAPIDJSON_SSE42
#elif defined(__SSE2__) && !defined(RAPIDJSON_SSE2)
#define RAPIDJSON_SSE2
#endif
#include "runtime/input/insitu_reader.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace tollgate::runtime {
namespace {

namespace rj = rapidjson;

// Every event, strings with their length and bytes.
struct Events : rj::BaseReaderHandler<rj::UTF8<>, Events> {
  std::string log;
  bool Default() { log += "?"; return true; }
  bool Null() { log += "n"; return true; }
  bool Bool(bool b) { log += b ? "t" : "f"; return true; }
  bool RawNumber(const char* s, rj::SizeType n, bool copy) {
    log += "N" + std::to_string(n) + ":" + std::string(s, n) + (copy ? "c" : "");
    return true;
  }
  bool String(const char* s, rj::SizeType n, bool copy) {
    log += "S" + std::to_string(n) + ":" + std::string(s, n) + (copy ? "c" : "");
    return true;
  }
  bool Key(const char* s, rj::SizeType n, bool copy) {
    log += "K" + std::to_string(n) + ":" + std::string(s, n) + (copy ? "c" : "");
    return true;
  }
  bool StartObject() { log += "{"; return true; }
  bool EndObject(rj::SizeType n) { log += "}" + std::to_string(n); return true; }
  bool StartArray() { log += "["; return true; }
  bool EndArray(rj::SizeType n) { log += "]" + std::to_string(n); return true; }
};

constexpr unsigned kFlags = rj::kParseInsituFlag | rj::kParseNumbersAsStringsFlag;

template <class Reader, class Stack>
std::string Parse(const std::string& text, size_t shift, int wide = 0) {
  // The decoder's buffer: NUL-terminated with 16 bytes of slack; `shift`
  // leading spaces move the strings across 16-byte boundaries.
  std::string buf;
  buf.reserve(shift + text.size() + 16);
  buf.assign(shift, ' ');
  buf += text;
  Stack stack;
  Reader reader(&stack);
  Events h;
  rj::ParseResult r;
  size_t end;
  if (wide != 0) {  // the decoder's stream: 64-byte steps up to the end of the allocation
    // (1: AVX2 steps while clean; 2: AVX-512 steps to the stop; 3: AVX-512
    // VBMI2 steps unescaping as they go -- each where the CPU has it)
    internal::InsituStream is(buf.data(), buf.data() + buf.capacity(),
                              wide == 1   ? internal::InsituSteps::kWide64
                              : wide == 2 ? internal::InsituSteps::kToStop64
                                          : internal::InsituSteps::kUnescape64);
    r = reader.template Parse<kFlags>(is, h);
    end = is.Tell();
  } else {
    rj::InsituStringStream is(buf.data());
    r = reader.template Parse<kFlags>(is, h);
    end = is.Tell();
  }
  return h.log + "|" + std::to_string(r.Code()) + "@" + std::to_string(r.Offset()) + "|" +
         std::to_string(end);
}

std::string Diff(const std::string& text) {
  for (size_t shift = 0; shift < 16; ++shift) {
    const std::string want = Parse<rj::GenericReader<rj::UTF8<>, rj::UTF8<>, rj::CrtAllocator>,
                                   rj::CrtAllocator>(text, shift);
    for (const int wide : {0, 1, 2, 3}) {
      const std::string got = Parse<internal::InsituReader, internal::InsituStack>(text, shift, wide);
      if (got != want)
        return "shift " + std::to_string(shift) +
               (wide == 1 ? " (wide)" : wide == 2 ? " (to stop)" : wide == 3 ? " (unescaping)" : "") +
               ": got " + got + "\nwant " + want;
    }
  }
  return "";
}

// A string body: plain runs of every length around 16, escapes (the copy
// path), multi-byte characters, and now and then a raw control byte, a
// stray quote or a cut escape (errors).
std::string Body(std::mt19937_64& rng) {
  static const std::vector<std::string> pieces = {
      "\\n", "\\\"", "\\\\", "\\/", "\\u0041", "\\u00e9", "\\uD83D\\uDE00", "\xC3\xA9", "\xE2\x82\xAC",
      "\xF0\x9F\x98\x80", " ", "\\t", "x"};
  std::string s;
  const int parts = static_cast<int>(rng() % 6);
  for (int k = 0; k < parts; ++k) {
    const uint64_t r = rng();
    if (r % 3 == 0) s += pieces[(r >> 8) % pieces.size()];
    else if (r % 7 == 1) s += std::string(40 + (r >> 8) % 260, static_cast<char>('a' + (r >> 16) % 26));  // 64-byte steps
    else s += std::string((r >> 8) % 40, static_cast<char>('a' + (r >> 16) % 26));
  }
  const uint64_t e = rng() % 60;
  if (e == 0) s.insert(rng() % (s.size() + 1), 1, static_cast<char>(1 + rng() % 0x19));  // raw control
  if (e == 1) s.insert(rng() % (s.size() + 1), "\\");  // an escape cut or invalid
  if (e == 2) s.insert(rng() % (s.size() + 1), "\\q");
  if (e == 3) s.insert(rng() % (s.size() + 1), "\\uZZ");
  return s;
}

std::string Value(std::mt19937_64& rng, int depth) {
  const uint64_t r = rng() % (depth > 3 ? 3 : 6);
  if (r == 0) return "\"" + Body(rng) + "\"";
  if (r == 1) return std::to_string(static_cast<int64_t>(rng() % 100000) - 500) + (rng() % 2 ? ".25e3" : "");
  if (r == 2) return rng() % 2 ? "true" : "null";
  if (r == 3) {
    std::string a = "[";
    for (int n = static_cast<int>(rng() % 4), k = 0; k < n; ++k) a += (k ? ", " : "") + Value(rng, depth + 1);
    return a + "]";
  }
  std::string o = "{";
  for (int n = static_cast<int>(rng() % 5), k = 0; k < n; ++k)
    o += std::string(k ? ",\n  " : "") + "\"" + Body(rng) + "\": " + Value(rng, depth + 1);
  return o + "}";
}

TEST(InsituReader, SameAsRapidjsonOnStrings) {
  for (const std::string& t :
       {std::string(R"("")"), std::string(R"({"a": "b"})"), std::string(R"("abc\ndef")"),
        std::string(R"(["0123456789abcdef0123456789", "x\"y", "\\\\"])"), std::string(R"("unterminated)"),
        std::string("\"a\x01\""), std::string(R"({"k\u00e9y": "v\uD83D\uDE00al"})")}) {
    EXPECT_EQ(Diff(t), "") << t;
  }
}

TEST(InsituReader, SameAsRapidjsonOnRandomDocuments) {
  std::mt19937_64 rng(1201);
  for (int iter = 0; iter < 20000; ++iter) {
    std::string t = Value(rng, 0);
    if (rng() % 50 == 0) t.resize(rng() % (t.size() + 1));  // cut: errors at the end
    ASSERT_EQ(Diff(t), "") << t;
  }
}

// Long strings where the 64-byte steps matter: after 0 to 70 escapes (the
// bytes then move down by that many: the copy path), a stop (an escape, a
// closing quote, a raw control byte, a cut text) at every offset of the
// two 64-byte steps that follow, with and without the bytes after it
// (where a store past the stop would overwrite unread text).
TEST(InsituReader, SameAsRapidjsonAroundEveryStepOffset) {
  for (const int escapes : {0, 1, 2, 15, 16, 17, 63, 64, 70}) {
    for (size_t at = 0; at < 140; ++at) {
      for (const char* stop : {"\\n", "\"", "\x01", "\\u00e9", ""}) {
        std::string body;
        for (int e = 0; e < escapes; ++e) body += "\\t";
        std::string run(at, 'a');
        for (size_t k = 0; k < run.size(); ++k) run[k] = static_cast<char>('a' + k % 26);
        body += run + stop;
        std::string tail(90, 'z');
        for (size_t k = 0; k < tail.size(); k += 7) tail[k] = static_cast<char>('A' + k % 26);
        for (const bool more : {false, true}) {
          const std::string t = "[\"" + body + (more ? tail + "\\/" + tail : "") + (*stop == '"' ? "" : "\"") +
                                (*stop == '"' ? ", \"after\"]" : "]");
          ASSERT_EQ(Diff(t), "") << "escapes " << escapes << " at " << at << " stop " << stop;
        }
      }
    }
  }
}

// Long strings dense with escapes, where the unescaping steps take most
// steps whole: every one-character escape, escaped backslashes and quotes
// (a step holding two backslashes in a row goes the reader's way), `\u`
// escapes, multi-byte characters, and a backslash as a step's last byte
// (the pieces' lengths vary, so escapes fall at every offset of the steps);
// now and then an invalid escape or a raw control byte (errors).
TEST(InsituReader, SameAsRapidjsonOnLongStringsDenseWithEscapes) {
  static const std::vector<std::string> pieces = {
      "\\n", "\\t", "\\r", "\\b", "\\f", "\\/", "\\\"", "\\\\", "\\u00e9", "\\uD83D\\uDE00",
      "\xC3\xA9", "\xE2\x82\xAC", " ", "x", "ab", "abcdefg", "0123456789abcdefghij", "\\n\\n"};
  std::mt19937_64 rng(1202);
  for (int iter = 0; iter < 3000; ++iter) {
    std::string body;
    const size_t len = 60 + rng() % 600;
    while (body.size() < len) {
      const uint64_t r = rng();
      body += r % 4 == 0 ? std::string((r >> 8) % 70, static_cast<char>('a' + (r >> 16) % 26))
                         : pieces[(r >> 8) % pieces.size()];
    }
    const uint64_t e = rng() % 40;
    if (e == 0) body.insert(rng() % (body.size() + 1), "\\q");
    if (e == 1) body.insert(rng() % (body.size() + 1), 1, static_cast<char>(1 + rng() % 0x19));
    const std::string t = "{\"a\": \"\\n" + body + "\", \"b\": [\"" + body + "\"]}";
    ASSERT_EQ(Diff(t), "") << t;
  }
}

}  // namespace
}  // namespace tollgate::runtime
