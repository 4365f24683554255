// CheckInputText (runtime/input/input_text.h) against the separate passes the
// decoder made before it: FindInvalidUtf8 (copied below as it was in
// input.cc), memchr for NUL, and FindLoneSurrogateEscape. Random and
// adversarial byte strings; every special byte at every position of a block,
// both sides of the 32-byte steps.
#include "runtime/input/input_text.h"

#include <gtest/gtest.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/core/json_text.h"

namespace tollgate::runtime {
namespace {

constexpr size_t npos = std::string_view::npos;

// The reference: input.cc's FindInvalidUtf8 before CheckInputText replaced
// it (commit 1b0e76f), verbatim. *control: the first byte 0x1A-0x1F.
size_t RefInvalidUtf8(std::string_view s, size_t* control) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size(), i = 0;
  *control = std::string_view::npos;
  auto note = [&](size_t at) {
    if (at < *control) *control = at;
  };
  while (i < n) {
#if defined(__SSE2__)
    // ASCII runs 32 bytes at a time: no byte has its high bit set.
    const __m128i k1a = _mm_set1_epi8(0x1A), k5 = _mm_set1_epi8(5);
    while (i + 32 <= n) {
      __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
      __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i + 16));
      if (_mm_movemask_epi8(_mm_or_si128(a, b)) != 0) break;
      if (*control == std::string_view::npos) {
        // byte - 0x1A <= 5, unsigned: 0x1A-0x1F
        __m128i ya = _mm_sub_epi8(a, k1a), yb = _mm_sub_epi8(b, k1a);
        const unsigned m = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(ya, k5), ya))) |
                           static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(yb, k5), yb))) << 16;
        if (m != 0) note(i + static_cast<size_t>(__builtin_ctz(m)));
      }
      i += 32;
    }
    if (i >= n) break;  // the SIMD loop may end exactly at the end: p[n] is not ours
#endif
    if (i + 8 <= n) {
      uint64_t w;
      std::memcpy(&w, p + i, 8);
      if ((w & 0x8080808080808080ull) == 0) {
        // ASCII bytes b: b + 0x66 has its high bit set from 0x1A on, b + 0x60 from 0x20 on.
        const uint64_t m = (w + 0x6666666666666666ull) & ~(w + 0x6060606060606060ull) & 0x8080808080808080ull;
        if (m != 0) note(i + static_cast<size_t>(__builtin_ctzll(m)) / 8);
        i += 8;
        continue;
      }
    }
    unsigned char c = p[i];
    if (c < 0x80) {
      if (static_cast<unsigned>(c - 0x1A) < 6u) note(i);
      ++i;
      continue;
    }
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c == 0xE0) { len = 3; lo = 0xA0; }
    else if (c == 0xED) { len = 3; hi = 0x9F; }
    else if (c >= 0xE1 && c <= 0xEF) len = 3;
    else if (c == 0xF0) { len = 4; lo = 0x90; }
    else if (c >= 0xF1 && c <= 0xF3) len = 4;
    else if (c == 0xF4) { len = 4; hi = 0x8F; }
    else return i;
    if (i + len > n) return i;
    if (p[i + 1] < lo || p[i + 1] > hi) return i;
    for (size_t k = 2; k < len; ++k)
      if ((p[i + k] & 0xC0) != 0x80) return i;
    i += len;
  }
  return std::string_view::npos;
}

// Compares the fused pass (each step width) with the reference passes;
// returns a description of the first difference, or "".
std::string Diff(const std::string& s, InputTextSteps steps);
std::string Diff(const std::string& s) {
  for (InputTextSteps steps : {InputTextSteps::kAvx2, InputTextSteps::kSse2, InputTextSteps::kBytes})
    if (std::string d = Diff(s, steps); !d.empty()) return d;
  return Diff(s, InputTextSteps::kBest);
}

std::string Diff(const std::string& s, InputTextSteps steps) {
  const InputTextCheck got = CheckInputText(s, steps);
  size_t control = npos;
  const size_t bad = RefInvalidUtf8(s, &control);
  auto show = [](size_t v) { return v == npos ? std::string("npos") : std::to_string(v); };
  const std::string how = steps == InputTextSteps::kBest   ? "best: "
                          : steps == InputTextSteps::kAvx2 ? "avx2: "
                          : steps == InputTextSteps::kSse2 ? "sse2: "
                                                           : "bytes: ";
  if (got.invalid_utf8 != bad)
    return how + "invalid_utf8 " + show(got.invalid_utf8) + " want " + show(bad);
  if (bad != npos) return "";  // the others are unspecified then
  const void* z = std::memchr(s.data(), 0, s.size());
  const size_t nul = z ? static_cast<size_t>(static_cast<const char*>(z) - s.data()) : npos;
  if (got.nul != nul) return how + "nul " + show(got.nul) + " want " + show(nul);
  if (got.control != control) return how + "control " + show(got.control) + " want " + show(control);
  const size_t lone = FindLoneSurrogateEscape(s);
  if (got.lone_surrogate != lone)
    return how + "lone_surrogate " + show(got.lone_surrogate) + " want " + show(lone);
  // With a copy (the decoder's padded buffer): the same findings, and the
  // copy is the text (every byte written: the buffer starts as 0xEE).
  std::string copy(s.size() + 64, '\xEE');
  const InputTextCheck with = CheckInputText(s, steps, copy.data());
  if (with.invalid_utf8 != got.invalid_utf8 || with.nul != got.nul || with.control != got.control ||
      with.lone_surrogate != got.lone_surrogate)
    return how + "findings differ with a copy";
  if (copy.compare(0, s.size(), s) != 0) return how + "the copy differs from the text";
  if (copy.find_first_not_of('\xEE', s.size()) != std::string::npos) return how + "the copy wrote past the text";
  return "";
}

std::string Hex(const std::string& s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7F && c != '\\') out += static_cast<char>(c);
    else { out += "\\x"; out += kHex[c >> 4]; out += kHex[c & 15]; }
  }
  return out;
}

// Pieces that matter to one of the checks, valid and invalid.
const std::vector<std::string>& Pieces() {
  static const std::vector<std::string> p = {
      // ASCII, JSON structure, the bytes around the control range
      "a", " ", "\"", "{", "}", ":", ",", "0", "u", "D", "d", "C", "c", "8", "F",
      std::string(1, '\0'), "\x01", "\x09", "\x0a", "\x19", "\x1a", "\x1b", "\x1f", "\x20", "\x7f",
      // escapes
      "\\", "\\\\", "\\n", "\\\"", "\\u", "\\u0041", "\\uD800", "\\ud800", "\\uDBFF", "\\uDC00",
      "\\udfff", "\\uDFFF", "\\uE000", "\\uD83D\\uDE00", "\\uD800\\uDC00", "\\uD800\\n\\uDC00",
      "\\uD800\\\\uDC00", "\\\\uDC00", "\\uDC0", "\\uDCXY", "\\u\\uDC00", "\\uD80",
      // well-formed UTF-8 at each length and boundary
      "\xC2\x80", "\xDF\xBF", "\xE0\xA0\x80", "\xED\x9F\xBF", "\xEE\x80\x80", "\xEF\xBF\xBF",
      "\xF0\x90\x80\x80", "\xF4\x8F\xBF\xBF", "\xF3\xBF\xBF\xBF", "\xC3\xA9", "\xE2\x82\xAC",
      // ill-formed: stray continuation, overlongs, surrogates, beyond U+10FFFF, truncations
      "\x80", "\xBF", "\xC0\x80", "\xC1\xBF", "\xE0\x80\x80", "\xE0\x9F\xBF", "\xED\xA0\x80",
      "\xED\xBF\xBF", "\xF0\x80\x80\x80", "\xF0\x8F\xBF\xBF", "\xF4\x90\x80\x80", "\xF5\x80\x80\x80",
      "\xF8", "\xFE", "\xFF", "\xC2", "\xE2\x82", "\xF0\x90\x80", "\xC2\x41", "\xE2\x41\x80",
      "\xF0\x90\x41\x80", "\xF0\x90\x80\xC0",
  };
  return p;
}

TEST(InputText, EmptyAndPlain) {
  EXPECT_EQ(Diff(""), "");
  const InputTextCheck c = CheckInputText(R"({"a": "b\n", "c": [1, 2.5e3, true]})");
  EXPECT_EQ(c.invalid_utf8, npos);
  EXPECT_EQ(c.nul, npos);
  EXPECT_EQ(c.control, npos);
  EXPECT_EQ(c.lone_surrogate, npos);
}

TEST(InputText, EachFinding) {
  EXPECT_EQ(CheckInputText("ab\xC3" "c").invalid_utf8, 2u);
  EXPECT_EQ(CheckInputText(std::string("abc\0d", 5)).nul, 3u);
  EXPECT_EQ(CheckInputText("ab\x1f").control, 2u);
  EXPECT_EQ(CheckInputText(R"("\uDC00")").lone_surrogate, 1u);
  EXPECT_EQ(CheckInputText(R"("\uD800\uDC00")").lone_surrogate, npos);
  EXPECT_EQ(CheckInputText(R"("\\uDC00")").lone_surrogate, npos);
  // Past a 32-byte step, and a character straddling one.
  const std::string pad(31, 'x');
  EXPECT_EQ(CheckInputText(pad + "\xE2\x82\xAC" + pad + "\xFF").invalid_utf8, 65u);
  EXPECT_EQ(CheckInputText(pad + "\xE2\x82\xAC" + pad + "\x1a").control, 65u);
  EXPECT_EQ(CheckInputText(pad + "\xE2\x82\xAC" + pad + "\\uDFFF").lone_surrogate, 65u);
}

// Each piece at every offset of an ASCII run of each length around the
// 32- and 64-byte steps (and in a run of multi-byte characters), alone and twice.
TEST(InputText, EveryPieceAtEveryPosition) {
  int cases = 0;
  for (const std::string& fill : {std::string("x"), std::string("\xC3\xA9")}) {
    for (size_t len : {0u, 1u, 15u, 16u, 17u, 31u, 32u, 33u, 63u, 64u, 65u, 70u, 97u, 127u, 128u, 130u}) {
      std::string base;
      while (base.size() < len) base += fill;
      for (const std::string& piece : Pieces()) {
        for (size_t at = 0; at <= base.size(); ++at) {
          std::string s = base;
          s.insert(at, piece);
          ASSERT_EQ(Diff(s), "") << Hex(s);
          for (size_t at2 : {at + piece.size(), s.size(), size_t{31}, size_t{32}, size_t{33}, size_t{63},
                             size_t{64}, size_t{65}}) {
            if (at2 > s.size()) continue;
            std::string t = s;
            t.insert(at2, piece);
            ASSERT_EQ(Diff(t), "") << Hex(t);
            ++cases;
          }
        }
      }
    }
  }
  EXPECT_GT(cases, 10000);
}

// Random strings of pieces and random bytes, lengths up to 300.
TEST(InputText, RandomPiecesAndBytes) {
  std::mt19937_64 rng(20261201);
  const auto& pieces = Pieces();
  for (int iter = 0; iter < 200000; ++iter) {
    std::string s;
    const size_t len = rng() % 300;
    const int mode = static_cast<int>(rng() % 4);
    while (s.size() < len) {
      const uint64_t r = rng();
      if (mode == 0) {
        s += static_cast<char>(r & 0xFF);  // any byte
      } else if (mode == 1 || r % 8 == 0) {
        s += pieces[(r >> 8) % pieces.size()];
      } else {
        // mostly ASCII text, so that the 32-byte steps run
        s += static_cast<char>(0x20 + (r >> 8) % 0x5F);
      }
    }
    ASSERT_EQ(Diff(s), "") << Hex(s);
  }
}

// Strings with only valid UTF-8 and escapes: the NUL, control and surrogate
// findings are all compared (invalid UTF-8 would hide them).
TEST(InputText, RandomValidUtf8) {
  std::mt19937_64 rng(7);
  std::vector<std::string> valid;
  for (const std::string& p : Pieces()) {
    size_t c;
    if (RefInvalidUtf8(p, &c) == npos) valid.push_back(p);
  }
  int findings = 0;
  for (int iter = 0; iter < 200000; ++iter) {
    std::string s;
    const size_t len = rng() % 200;
    while (s.size() < len) {
      const uint64_t r = rng();
      if (r % 6 == 0) s += valid[(r >> 8) % valid.size()];
      else s += static_cast<char>(0x20 + (r >> 8) % 0x5F);
    }
    ASSERT_EQ(Diff(s), "") << Hex(s);
    const InputTextCheck c = CheckInputText(s);
    findings += c.nul != npos || c.control != npos || c.lone_surrogate != npos;
  }
  EXPECT_GT(findings, 1000);  // the comparisons saw findings, not only npos
}

}  // namespace
}  // namespace tollgate::runtime
