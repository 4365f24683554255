// The trigger pass's byte classes (internal/injection_classes.h).
#include "stdlib/internal/injection_classes.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__SSE2__) && defined(__x86_64__) && defined(__GNUC__)
#define TG_TRIGGERS_AVX2 1
#include <immintrin.h>
#endif

namespace tollgate::stdlib::internal {

#if defined(__SSE2__)
void TriggerClassesSse2(const unsigned char* p, size_t blocks, TriggerClasses* out) {
  auto eq = [](__m128i v, char c) { return _mm_cmpeq_epi8(v, _mm_set1_epi8(c)); };
  // lo <= v <= hi for ASCII bounds; bytes >= 0x80 compare as negative: never.
  auto in = [](__m128i v, char lo, char hi) {
    return _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8(static_cast<char>(lo - 1))),
                         _mm_cmplt_epi8(v, _mm_set1_epi8(static_cast<char>(hi + 1))));
  };
  for (size_t b = 0; b < blocks; ++b, p += 64) {
    TriggerClasses m;
    for (int q = 0; q < 4; ++q) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * q));
      // v | 0x20 is a lower-case letter exactly when v is a letter.
      const __m128i lower = _mm_or_si128(v, _mm_set1_epi8(0x20));
      const __m128i letter = in(lower, 'a', 'z');
      const __m128i alnum = _mm_or_si128(letter, in(v, '0', '9'));
      const __m128i dash = eq(v, '-'), under = eq(v, '_');
      const __m128i b64 = _mm_or_si128(_mm_or_si128(alnum, _mm_or_si128(eq(v, '+'), eq(v, '/'))),
                                       _mm_or_si128(dash, under));
      const __m128i spacer = _mm_or_si128(_mm_or_si128(eq(v, ' '), eq(v, '.')),
                                          _mm_or_si128(_mm_or_si128(dash, under), eq(v, '*')));
      auto bits = [q](__m128i x) {
        return static_cast<uint64_t>(static_cast<uint32_t>(_mm_movemask_epi8(x)) & 0xFFFFu)
               << (16 * q);
      };
      m.alnum |= bits(alnum);
      m.letter |= bits(letter);
      m.b64 |= bits(b64);
      m.spacer |= bits(spacer);
    }
    out[b] = m;
  }
}
#endif

#if defined(TG_TRIGGERS_AVX2)
namespace {

__attribute__((target("avx2"))) inline __m256i Splat(char c) { return _mm256_set1_epi8(c); }
__attribute__((target("avx2"))) inline __m256i Eq(__m256i v, char c) {
  return _mm256_cmpeq_epi8(v, Splat(c));
}
// lo <= v <= hi for ASCII bounds; bytes >= 0x80 compare as negative: never.
__attribute__((target("avx2"))) inline __m256i In(__m256i v, char lo, char hi) {
  return _mm256_and_si256(_mm256_cmpgt_epi8(v, Splat(static_cast<char>(lo - 1))),
                          _mm256_cmpgt_epi8(Splat(static_cast<char>(hi + 1)), v));
}
__attribute__((target("avx2"))) inline uint64_t Bits(__m256i x, int shift) {
  return static_cast<uint64_t>(static_cast<uint32_t>(_mm256_movemask_epi8(x))) << shift;
}

// TriggerClassesSse2 with AVX2 compares, 32 bytes at a time.
__attribute__((target("avx2"))) void TriggerClassesAvx2(const unsigned char* p, size_t blocks,
                                                        TriggerClasses* out) {
  for (size_t b = 0; b < blocks; ++b, p += 64) {
    TriggerClasses m;
    for (int h = 0; h < 2; ++h) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32 * h));
      const __m256i letter = In(_mm256_or_si256(v, Splat(0x20)), 'a', 'z');
      const __m256i alnum = _mm256_or_si256(letter, In(v, '0', '9'));
      const __m256i dash = Eq(v, '-'), under = Eq(v, '_');
      const __m256i b64 = _mm256_or_si256(
          _mm256_or_si256(alnum, _mm256_or_si256(Eq(v, '+'), Eq(v, '/'))), _mm256_or_si256(dash, under));
      const __m256i spacer = _mm256_or_si256(_mm256_or_si256(Eq(v, ' '), Eq(v, '.')),
                                             _mm256_or_si256(_mm256_or_si256(dash, under), Eq(v, '*')));
      m.alnum |= Bits(alnum, 32 * h);
      m.letter |= Bits(letter, 32 * h);
      m.b64 |= Bits(b64, 32 * h);
      m.spacer |= Bits(spacer, 32 * h);
    }
    out[b] = m;
  }
}

#define TG_AVX512 __attribute__((target("avx512f,avx512bw")))
TG_AVX512 inline __m512i Splat512(char c) { return _mm512_set1_epi8(c); }
TG_AVX512 inline uint64_t Eq512(__m512i v, char c) {
  return static_cast<uint64_t>(_mm512_cmpeq_epi8_mask(v, Splat512(c)));
}

// The same with AVX-512BW: one 64-byte vector per block, compares straight
// into 64-bit masks.
TG_AVX512 void TriggerClassesAvx512(const unsigned char* p, size_t blocks, TriggerClasses* out) {
  for (size_t b = 0; b < blocks; ++b, p += 64) {
    const __m512i v = _mm512_loadu_si512(p);
    // (v | 0x20) - 'a' <= 25 unsigned exactly for letters; v - '0' <= 9 for digits.
    const __m512i lower = _mm512_or_si512(v, Splat512(0x20));
    const uint64_t letter =
        _mm512_cmple_epu8_mask(_mm512_sub_epi8(lower, Splat512('a')), Splat512(25));
    const uint64_t digit = _mm512_cmple_epu8_mask(_mm512_sub_epi8(v, Splat512('0')), Splat512(9));
    const uint64_t dash = Eq512(v, '-'), under = Eq512(v, '_');
    TriggerClasses m;
    m.letter = letter;
    m.alnum = letter | digit;
    m.b64 = m.alnum | Eq512(v, '+') | Eq512(v, '/') | dash | under;
    m.spacer = Eq512(v, ' ') | Eq512(v, '.') | dash | under | Eq512(v, '*');
    out[b] = m;
  }
}
#undef TG_AVX512

}  // namespace
#endif

#if defined(__SSE2__)
Classifier TriggerClassifier(int isa) {
  switch (isa) {
    case 0:
      return TriggerClassesSse2;
#if defined(TG_TRIGGERS_AVX2)
    case 1:
      return __builtin_cpu_supports("avx2") ? TriggerClassesAvx2 : nullptr;
    case 2:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
                 ? TriggerClassesAvx512
                 : nullptr;
#endif
    default:
      return nullptr;
  }
}

Classifier BestTriggerClassifier() {
  static const Classifier best = [] {
    for (int isa = 2; isa > 0; --isa) {
      if (Classifier c = TriggerClassifier(isa)) return c;
    }
    return TriggerClassifier(0);
  }();
  return best;
}
#endif

}  // namespace tollgate::stdlib::internal
