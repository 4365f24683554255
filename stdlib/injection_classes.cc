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

namespace {
inline void Store(const TriggerClassRows& out, size_t k, uint64_t alnum, uint64_t letter,
                  uint64_t b64, uint64_t spacer, uint64_t pairs = ~uint64_t{0}) {
  out.alnum[k] = alnum;
  out.letter[k] = letter;
  out.b64[k] = b64;
  out.spacer[k] = spacer;
  out.pairs[k] = pairs;
}
}  // namespace

#if defined(__SSE2__)
void TriggerClassesSse2(const unsigned char* p, size_t blocks, const TriggerClassRows& out,
                        size_t at, const unsigned char* /*end*/) {
  auto eq = [](__m128i v, char c) { return _mm_cmpeq_epi8(v, _mm_set1_epi8(c)); };
  // lo <= v <= hi for ASCII bounds; bytes >= 0x80 compare as negative: never.
  auto in = [](__m128i v, char lo, char hi) {
    return _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8(static_cast<char>(lo - 1))),
                         _mm_cmplt_epi8(v, _mm_set1_epi8(static_cast<char>(hi + 1))));
  };
  uint64_t backslash = 0;
  for (size_t b = 0; b < blocks; ++b, p += 64) {
    uint64_t alnum_bits = 0, letter_bits = 0, b64_bits = 0, spacer_bits = 0;
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
      alnum_bits |= bits(alnum);
      letter_bits |= bits(letter);
      b64_bits |= bits(b64);
      spacer_bits |= bits(spacer);
      backslash |= bits(eq(v, '\\'));
    }
    Store(out, at + b, alnum_bits, letter_bits, b64_bits, spacer_bits);
  }
  *out.backslash |= backslash;
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
                                                        const TriggerClassRows& out, size_t at,
                                                        const unsigned char* /*end*/) {
  uint64_t backslash = 0;
  for (size_t b = 0; b < blocks; ++b, p += 64) {
    uint64_t alnum_bits = 0, letter_bits = 0, b64_bits = 0, spacer_bits = 0;
    for (int h = 0; h < 2; ++h) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32 * h));
      const __m256i letter = In(_mm256_or_si256(v, Splat(0x20)), 'a', 'z');
      const __m256i alnum = _mm256_or_si256(letter, In(v, '0', '9'));
      const __m256i dash = Eq(v, '-'), under = Eq(v, '_');
      const __m256i b64 = _mm256_or_si256(
          _mm256_or_si256(alnum, _mm256_or_si256(Eq(v, '+'), Eq(v, '/'))), _mm256_or_si256(dash, under));
      const __m256i spacer = _mm256_or_si256(_mm256_or_si256(Eq(v, ' '), Eq(v, '.')),
                                             _mm256_or_si256(_mm256_or_si256(dash, under), Eq(v, '*')));
      alnum_bits |= Bits(alnum, 32 * h);
      letter_bits |= Bits(letter, 32 * h);
      b64_bits |= Bits(b64, 32 * h);
      spacer_bits |= Bits(spacer, 32 * h);
      backslash |= Bits(Eq(v, '\\'), 32 * h);
    }
    Store(out, at + b, alnum_bits, letter_bits, b64_bits, spacer_bits);
  }
  *out.backslash |= backslash;
}

#define TG_AVX512 __attribute__((target("avx512f,avx512bw")))
TG_AVX512 inline __m512i Splat512(char c) { return _mm512_set1_epi8(c); }
TG_AVX512 inline uint64_t Eq512(__m512i v, char c) {
  return static_cast<uint64_t>(_mm512_cmpeq_epi8_mask(v, Splat512(c)));
}

// The classes of one 64-byte vector (all but pairs), by AVX-512BW compares
// straight into 64-bit masks.
struct Classes512 {
  uint64_t alnum, letter, b64, spacer, backslash;
};
TG_AVX512 inline Classes512 Classify512(__m512i v) {
  // (v | 0x20) - 'a' <= 25 unsigned exactly for letters; v - '0' <= 9 for digits.
  const __m512i lower = _mm512_or_si512(v, Splat512(0x20));
  const uint64_t letter = _mm512_cmple_epu8_mask(_mm512_sub_epi8(lower, Splat512('a')), Splat512(25));
  const uint64_t digit = _mm512_cmple_epu8_mask(_mm512_sub_epi8(v, Splat512('0')), Splat512(9));
  const uint64_t dash = Eq512(v, '-'), under = Eq512(v, '_');
  const uint64_t alnum = letter | digit;
  return {alnum, letter, alnum | Eq512(v, '+') | Eq512(v, '/') | dash | under,
          Eq512(v, ' ') | Eq512(v, '.') | dash | under | Eq512(v, '*'), Eq512(v, '\\')};
}

// TriggerClassesSse2 with AVX-512BW compares: one 64-byte vector per block.
TG_AVX512 void TriggerClassesAvx512(const unsigned char* p, size_t blocks, const TriggerClassRows& out,
                                    size_t at, const unsigned char* /*end*/) {
  uint64_t backslash = 0;
  for (size_t b = 0; b < blocks; ++b, p += 64) {
    const Classes512 c = Classify512(_mm512_loadu_si512(p));
    Store(out, at + b, c.alnum, c.letter, c.b64, c.spacer);
    backslash |= c.backslash;
  }
  *out.backslash |= backslash;
}

// The same with the pairs row, by AVX-512 VBMI byte lookups: per byte, the
// targets whose first letter it is (first[byte & 63]), and for the bytes 5,
// 7 and 11 further on the targets of 6, 8 and 12 letters whose last letter
// that is; bit i of pairs: some target in both. The lookup reads only the
// low six bits, so a byte that is no letter may look like one: the row is
// only read at letter runs, whose letters it reads right. The bytes past a
// block are loaded masked at `end` (nothing past it is read: a byte there
// counts as zero, no letter).
// (GCC 12: the unmasked permute intrinsics pass _mm512_undefined_epi32() as
// an unused merge source, the same false positive as below.)
#pragma GCC diagnostic push
#if !defined(__clang__)  // (clang has no such warning)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#define TG_VBMI __attribute__((target("avx512f,avx512bw,avx512vbmi")))
TG_VBMI inline __m512i LoadUpTo(const unsigned char* q, const unsigned char* end) {
  if (q + 64 <= end) return _mm512_loadu_si512(q);
  const auto left = static_cast<size_t>(end > q ? end - q : 0);
  return _mm512_maskz_loadu_epi8(left >= 64 ? ~__mmask64{0} : (__mmask64{1} << left) - 1, q);
}
TG_VBMI void TriggerClassesVbmi(const unsigned char* p, size_t blocks, const TriggerClassRows& out,
                                size_t at, const unsigned char* end) {
  const TriggerPairTables& t = InjectionTriggerPairTables();
  const __m512i first = _mm512_load_si512(t.first), last = _mm512_load_si512(t.last);
  const __m512i len6 = _mm512_set1_epi8(static_cast<char>(t.len6));
  const __m512i len8 = _mm512_set1_epi8(static_cast<char>(t.len8));
  const __m512i len12 = _mm512_set1_epi8(static_cast<char>(t.len12));
  uint64_t backslash = 0;
  for (size_t b = 0; b < blocks; ++b, p += 64) {
    const __m512i v = _mm512_loadu_si512(p);
    const Classes512 c = Classify512(v);
    const __m512i l5 = _mm512_permutexvar_epi8(LoadUpTo(p + 5, end), last);
    const __m512i l7 = _mm512_permutexvar_epi8(LoadUpTo(p + 7, end), last);
    const __m512i l11 = _mm512_permutexvar_epi8(LoadUpTo(p + 11, end), last);
    const __m512i ends = _mm512_or_si512(_mm512_and_si512(l5, len6),
                                         _mm512_or_si512(_mm512_and_si512(l7, len8),
                                                         _mm512_and_si512(l11, len12)));
    const uint64_t pairs = _mm512_test_epi8_mask(_mm512_permutexvar_epi8(v, first), ends);
    Store(out, at + b, c.alnum, c.letter, c.b64, c.spacer, pairs);
    backslash |= c.backslash;
  }
  *out.backslash |= backslash;
}
#undef TG_VBMI
#pragma GCC diagnostic pop

// GCC 12 warns that the shift and and-not intrinsics read an uninitialised
// vector: their unmasked forms pass _mm512_undefined_epi32() as the unused
// merge source (a false positive; nothing reads it).
#pragma GCC diagnostic push
#if !defined(__clang__)  // (clang has no such warning)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
// TriggerBlocks for eight blocks at a time: FindTriggersSse2's shifts and
// ands (stdlib/injection.cc) on eight 64-bit lanes, block j in lane j.
TG_AVX512 inline __m512i Load8(const uint64_t* p) { return _mm512_loadu_si512(p); }
// Bit i: the class of byte i + S of the two words cur, next (1 <= S < 64).
template <int S>
TG_AVX512 inline __m512i Ahead8(__m512i cur, __m512i next) {
  return _mm512_or_si512(_mm512_srli_epi64(cur, S), _mm512_slli_epi64(next, 64 - S));
}
// Bit i: the class of byte i - 1.
TG_AVX512 inline __m512i Behind8(__m512i cur, __m512i prev) {
  return _mm512_or_si512(_mm512_slli_epi64(cur, 1), _mm512_srli_epi64(prev, 63));
}
TG_AVX512 inline __m512i both(__m512i a, __m512i b) { return _mm512_and_si512(a, b); }
TG_AVX512 inline __m512i but(__m512i a, __m512i b) { return _mm512_andnot_si512(b, a); }  // a & ~b
TG_AVX512 void TriggerBlocks512(const TriggerClassRows& r, size_t first, size_t count,
                                uint64_t* run_out, uint64_t* hit_out, uint64_t* runs_out) {
  for (size_t q = 0; q < count; q += 8) {
    const size_t j = first + q;
    // 20 base64 bytes in a row: runs of 2, 4, 8, 16, 20 by doubling.
    const __m512i x = Load8(r.b64 + j), xn = Load8(r.b64 + j + 1);
    const __m512i g2 = both(x, Ahead8<1>(x, xn)), g2n = both(xn, _mm512_srli_epi64(xn, 1));
    const __m512i g4 = both(g2, Ahead8<2>(g2, g2n)), g4n = both(g2n, _mm512_srli_epi64(g2n, 2));
    const __m512i g8 = both(g4, Ahead8<4>(g4, g4n)), g8n = both(g4n, _mm512_srli_epi64(g4n, 4));
    _mm512_storeu_si512(run_out + q, both(both(g8, Ahead8<8>(g8, g8n)), Ahead8<16>(g4, g4n)));
    // Single, spacer, single, spacer, single.
    const __m512i a = Load8(r.alnum + j), an = Load8(r.alnum + j + 1), ap = Load8(r.alnum + j - 1);
    const __m512i sp = Load8(r.spacer + j), sn = Load8(r.spacer + j + 1);
    __m512i hit = but(a, Behind8(a, ap));
    hit = both(both(hit, Ahead8<1>(sp, sn)), both(Ahead8<2>(a, an), Ahead8<3>(sp, sn)));
    hit = but(both(hit, Ahead8<4>(a, an)), Ahead8<5>(a, an));
    _mm512_storeu_si512(hit_out + q, hit);
    // Letter runs of exactly 6, 8 or 12 letters.
    const __m512i l = Load8(r.letter + j), ln = Load8(r.letter + j + 1);
    const __m512i starts = but(l, Behind8(l, Load8(r.letter + j - 1)));
    const __m512i ge2 = both(l, Ahead8<1>(l, ln)), ge2n = both(ln, _mm512_srli_epi64(ln, 1));
    const __m512i ge4 = both(ge2, Ahead8<2>(ge2, ge2n));
    const __m512i ge4n = both(ge2n, _mm512_srli_epi64(ge2n, 2));
    const __m512i ge6 = both(ge4, Ahead8<4>(ge2, ge2n));
    const __m512i ge8 = both(ge4, Ahead8<4>(ge4, ge4n));
    const __m512i ge12 = both(ge8, Ahead8<8>(ge4, ge4n));
    const __m512i exact = _mm512_or_si512(
        _mm512_or_si512(but(ge6, Ahead8<6>(l, ln)), but(ge8, Ahead8<8>(l, ln))),
        but(ge12, Ahead8<12>(l, ln)));
    _mm512_storeu_si512(runs_out + q, both(both(starts, exact), Load8(r.pairs + j)));
  }
}

TG_AVX512 size_t SkipAscii512(const unsigned char* u, size_t i, size_t n) {
  for (; i + 256 <= n; i += 256) {
    const __m512i v = _mm512_or_si512(
        _mm512_or_si512(_mm512_loadu_si512(u + i), _mm512_loadu_si512(u + i + 64)),
        _mm512_or_si512(_mm512_loadu_si512(u + i + 128), _mm512_loadu_si512(u + i + 192)));
    if (_mm512_movepi8_mask(v) != 0) break;
  }
  for (; i + 64 <= n; i += 64) {
    if (_mm512_movepi8_mask(_mm512_loadu_si512(u + i)) != 0) break;
  }
  return i;
}
#pragma GCC diagnostic pop
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
    case 3:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                     __builtin_cpu_supports("avx512vbmi")
                 ? TriggerClassesVbmi
                 : nullptr;
#endif
    default:
      return nullptr;
  }
}

Classifier BestTriggerClassifier() {
  static const Classifier best = [] {
    for (int isa = 3; isa > 0; --isa) {
      if (Classifier c = TriggerClassifier(isa)) return c;
    }
    return TriggerClassifier(0);
  }();
  return best;
}

TriggerBlocks TriggerBlocksAvx512() {
#if defined(TG_TRIGGERS_AVX2)
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")) return TriggerBlocks512;
#endif
  return nullptr;
}

size_t SkipAsciiBlocks(const unsigned char* u, size_t i, size_t n) {
#if defined(TG_TRIGGERS_AVX2)
  static const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
  if (avx512) return SkipAscii512(u, i, n);
#endif
  for (; i + 64 <= n; i += 64) {
    const __m128i v = _mm_or_si128(
        _mm_or_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(u + i)),
                     _mm_loadu_si128(reinterpret_cast<const __m128i*>(u + i + 16))),
        _mm_or_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(u + i + 32)),
                     _mm_loadu_si128(reinterpret_cast<const __m128i*>(u + i + 48))));
    if (_mm_movemask_epi8(v) != 0) break;
  }
  return i;
}
#endif

}  // namespace tollgate::stdlib::internal
