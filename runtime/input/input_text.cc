// CheckInputText: the decoder's checks on the raw text in one pass (see input_text.h).
#include "runtime/input/input_text.h"

#include <cstdint>
#include <cstring>
#if defined(__x86_64__)
#include <immintrin.h>
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace tollgate::runtime {
namespace {

// The 4 hex digits at p[i..i+4) as a number, or -1 (json_text.cc's Hex4).
long Hex4(const unsigned char* p, size_t n, size_t i) {
  if (i + 4 > n) return -1;
  long v = 0;
  for (size_t k = i; k < i + 4; ++k) {
    const unsigned char c = p[k];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

class Scan {
 public:
  Scan(const unsigned char* p, size_t n, char* copy = nullptr)
      : p_(p), n_(n), dst_(reinterpret_cast<unsigned char*>(copy)) {}

  InputTextCheck Run(InputTextSteps steps) {
    size_t i = 0;
#if defined(__x86_64__)
    static const bool avx2 = __builtin_cpu_supports("avx2");
    static const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
    if (avx512 && steps == InputTextSteps::kBest) {
      i = Avx512Blocks(i);
    } else if (avx2 && (steps == InputTextSteps::kBest || steps == InputTextSteps::kAvx2)) {
      i = Avx2Blocks(i);
    }
#endif
#if defined(__SSE2__)
    if (i != std::string_view::npos && steps != InputTextSteps::kBytes) i = Sse2Blocks(i);
#endif
    while (i != std::string_view::npos && i < n_) i = Byte(i);
    // The bytes the 64-byte steps did not store (all of them on the other paths).
    if (dst_ != nullptr && i != std::string_view::npos && copied_ < n_)
      std::memcpy(dst_ + copied_, p_ + copied_, n_ - copied_);
    return r_;
  }

 private:
  // The bytes looked at alone are those below 0x20 but newlines (pretty
  // printed JSON has many), those from 0x80 on (one signed compare takes
  // both ranges) and backslashes. Byte() passes over the controls that are
  // no finding (tab, CR: whitespace here, rapidjson's to refuse elsewhere).

#if defined(__x86_64__)
  // 64 bytes a step in one register, compares straight into bit masks; as
  // Avx2Blocks, but a backslash is looked at only when the byte after it is
  // `u` or a backslash, or lies in the next step. Backslash() does nothing
  // else that matters for the others: their escape consumes a byte that is
  // not a backslash, and the `after_high_` they clear is only read for a
  // `\u` starting at `high_end_`, where they are not. A prompt's `\n`
  // escapes then cost no branch taken (one every ~150 bytes of prose made
  // the step's branch unpredictable).
  __attribute__((target("avx512f,avx512bw"))) size_t Avx512Blocks(size_t i) {
    const __m512i k20 = _mm512_set1_epi8(0x20), kbs = _mm512_set1_epi8('\\'),
                  knl = _mm512_set1_epi8('\n'), ku = _mm512_set1_epi8('u');
    while (i + 64 <= n_) {
      const __m512i x = _mm512_loadu_si512(p_ + i);
      if (dst_ != nullptr) {  // the copy rides along: the step is stored as read
        // A character that ran past the last step left bytes unstored.
        if (i > copied_) std::memcpy(dst_ + copied_, p_ + copied_, i - copied_);
        _mm512_storeu_si512(dst_ + i, x);
        copied_ = i + 64;
      }
      const uint64_t bs = _mm512_cmpeq_epi8_mask(x, kbs);
      const uint64_t next = (_mm512_cmpeq_epi8_mask(x, ku) | bs) >> 1 | uint64_t{1} << 63;
      // Signed x < 0x20: the bytes below 0x20 and those from 0x80 on.
      const uint64_t m = (_mm512_cmplt_epi8_mask(x, k20) & ~_mm512_cmpeq_epi8_mask(x, knl)) | (bs & next);
      if (m == 0) {
        i += 64;
        continue;
      }
      i = Flagged(i, m, 64);
      if (i == std::string_view::npos) break;
    }
    return i;
  }

  // 64 bytes a step; returns where it stopped (npos: invalid UTF-8).
  __attribute__((target("avx2"))) size_t Avx2Blocks(size_t i) {
    const __m256i k20 = _mm256_set1_epi8(0x20), kbs = _mm256_set1_epi8('\\'),
                  knl = _mm256_set1_epi8('\n');
    auto flags = [](__m256i x, __m256i k20, __m256i kbs, __m256i knl) __attribute__((target("avx2"))) {
      const __m256i low = _mm256_andnot_si256(_mm256_cmpeq_epi8(x, knl), _mm256_cmpgt_epi8(k20, x));
      return static_cast<uint32_t>(_mm256_movemask_epi8(_mm256_or_si256(low, _mm256_cmpeq_epi8(x, kbs))));
    };
    while (i + 64 <= n_) {
      const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p_ + i));
      const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p_ + i + 32));
      const uint32_t ma = flags(a, k20, kbs, knl);
      const uint32_t mb = flags(b, k20, kbs, knl);
      const uint64_t m = ma | static_cast<uint64_t>(mb) << 32;
      if (m == 0) {
        i += 64;
        continue;
      }
      i = Flagged(i, m, 64);
      if (i == std::string_view::npos) break;
    }
    return i;
  }
#endif

#if defined(__SSE2__)
  // 32 bytes a step, as Avx2Blocks.
  size_t Sse2Blocks(size_t i) {
    const __m128i k20 = _mm_set1_epi8(0x20), kbs = _mm_set1_epi8('\\'), knl = _mm_set1_epi8('\n');
    auto flags = [&](__m128i x) {
      const __m128i low = _mm_andnot_si128(_mm_cmpeq_epi8(x, knl), _mm_cmplt_epi8(x, k20));
      return static_cast<uint32_t>(_mm_movemask_epi8(_mm_or_si128(low, _mm_cmpeq_epi8(x, kbs))));
    };
    while (i + 32 <= n_) {
      const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p_ + i));
      const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p_ + i + 16));
      const uint32_t ma = flags(a);
      const uint32_t mb = flags(b);
      const uint64_t m = ma | static_cast<uint64_t>(mb) << 16;
      if (m == 0) {
        i += 32;
        continue;
      }
      i = Flagged(i, m, 32);
      if (i == std::string_view::npos) break;
    }
    return i;
  }
#endif

  // Each flagged byte of the `step` bytes at `base` (bit k: byte base + k)
  // in order; the bytes between them are plain ASCII. A multi-byte
  // character's continuation bytes (flagged: >= 0x80) are consumed with its
  // lead byte, and one may run past the step. Returns where to go on, or npos.
  size_t Flagged(size_t base, uint64_t m, size_t step) {
    size_t i = base;
    do {
      const size_t at = base + static_cast<size_t>(__builtin_ctzll(m));
      m &= m - 1;
      if (at < i) continue;
      i = Byte(at);
      if (i == std::string_view::npos) return i;
    } while (m != 0);
    return i < base + step ? base + step : i;
  }

  // Looks at the byte at i; returns the offset after it (after its whole
  // character), or npos on invalid UTF-8 (r_.invalid_utf8 set).
  size_t Byte(size_t i) {
    const unsigned char c = p_[i];
    if (c < 0x80) {
      if (c == 0) {
        if (r_.nul == std::string_view::npos) r_.nul = i;
      } else if (static_cast<unsigned>(c - 0x1A) < 6u) {
        if (r_.control == std::string_view::npos) r_.control = i;
      } else if (c == '\\') {
        Backslash(i);
      }
      return i + 1;
    }
    // The validation FindInvalidUtf8 made (input.cc before CheckInputText).
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c == 0xE0) { len = 3; lo = 0xA0; }
    else if (c == 0xED) { len = 3; hi = 0x9F; }
    else if (c >= 0xE1 && c <= 0xEF) len = 3;
    else if (c == 0xF0) { len = 4; lo = 0x90; }
    else if (c >= 0xF1 && c <= 0xF3) len = 4;
    else if (c == 0xF4) { len = 4; hi = 0x8F; }
    else return Invalid(i);
    if (i + len > n_) return Invalid(i);
    if (p_[i + 1] < lo || p_[i + 1] > hi) return Invalid(i);
    for (size_t k = 2; k < len; ++k)
      if ((p_[i + k] & 0xC0) != 0x80) return Invalid(i);
    return i + len;
  }

  size_t Invalid(size_t i) {
    r_.invalid_utf8 = i;
    return std::string_view::npos;
  }

  // FindLoneSurrogateEscape's step at the backslash at `at`: it walks escape
  // by escape, each backslash it looks at consuming the byte after it.
  void Backslash(size_t at) {
    if (esc_done_ || at < esc_from_) return;
    if (at + 1 >= n_) {
      esc_done_ = true;
      return;
    }
    if (p_[at + 1] != 'u') {
      after_high_ = false;
      esc_from_ = at + 2;
      return;
    }
    const long cp = Hex4(p_, n_, at + 2);
    if (cp >= 0xDC00 && cp <= 0xDFFF && !(after_high_ && high_end_ == at)) {
      r_.lone_surrogate = at;
      esc_done_ = true;
      return;
    }
    after_high_ = cp >= 0xD800 && cp <= 0xDBFF;
    high_end_ = at + 6;
    esc_from_ = at + 2;
  }

  const unsigned char* const p_;
  const size_t n_;
  unsigned char* const dst_;  // the copy's destination, or null
  size_t copied_ = 0;          // dst_[0, copied_) holds the text's bytes
  InputTextCheck r_;
  bool esc_done_ = false;   // the lone-surrogate answer is known
  size_t esc_from_ = 0;     // the next backslash looked at is at or after this
  bool after_high_ = false;  // the last escape looked at was a high surrogate
  size_t high_end_ = 0;      // ... ending here
};

}  // namespace

InputTextCheck CheckInputText(std::string_view json, InputTextSteps steps, char* copy) {
  return Scan(reinterpret_cast<const unsigned char*>(json.data()), json.size(), copy).Run(steps);
}

}  // namespace tollgate::runtime
