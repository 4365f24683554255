// Digit runs of a text (internal/digit_runs.h).
#include "engine/scan/internal/digit_runs.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <optional>
#include <type_traits>

#ifdef __SSE2__
#include <emmintrin.h>
#endif
#ifdef __SSSE3__
#include <tmmintrin.h>
#endif
#if defined(__x86_64__) && defined(__SSSE3__)
#include <immintrin.h>
#define TOLLGATE_DIGIT_RUNS_AVX2 1
#endif

namespace tollgate::scan::internal {

namespace {

bool Digit(unsigned char c) { return static_cast<unsigned>(c - '0') < 10u; }
bool High(unsigned char c) { return c >= 0x80; }

struct Walker {
  Walker(std::string_view text, std::string_view separators, bool w, uint32_t gap, uint32_t min,
         Spans* o)
      : t(text), wide(w), max_gap(gap), min_digits(min), out(o) {
    for (char c : separators) sep[static_cast<unsigned char>(c)] = true;
  }
  std::string_view t;
  bool sep[256] = {};  // the separator bytes
  bool wide;           // bytes above 0x7F are gap bytes; full-width digits are digits
  uint32_t max_gap;    // bytes
  uint32_t min_digits;
  Spans* out;

  bool Sep(unsigned char c) const { return sep[c]; }
  unsigned char At(size_t i) const { return static_cast<unsigned char>(t[i]); }
  // Bytes of the digit at i: 1 (ASCII), 3 (wide: U+FF10..U+FF19), 0 (none).
  size_t DigitLen(size_t i) const {
    if (i >= t.size()) return 0;
    if (Digit(At(i))) return 1;
    if (wide && At(i) == 0xEF && i + 2 < t.size() && At(i + 1) == 0xBC &&
        static_cast<unsigned>(At(i + 2) - 0x90) < 10u) {
      return 3;
    }
    return 0;
  }
  bool GapByte(size_t i) const { return Sep(At(i)) || (wide && High(At(i))); }
  // Bytes of the gap at i that joins two digits (0: none): a maximal run of
  // 1..max_gap gap bytes with a digit right after it.
  size_t GapAt(size_t i) const {
    size_t k = 0;
    while (k <= max_gap && i + k < t.size() && DigitLen(i + k) == 0 && GapByte(i + k)) ++k;
    return k >= 1 && k <= max_gap && DigitLen(i + k) > 0 ? k : 0;
  }
  // A byte that may belong to a run (a superset: digits and gap bytes).
  bool MaybeInRun(size_t i) const { return Digit(At(i)) || GapByte(i); }

  // Walks the runs that start in [from, limit) and returns where the walk
  // stopped: the end of the last run seen (which may lie past `limit`), or
  // `limit`. `from` must not be inside a run unless at its first byte.
  size_t Walk(size_t from, size_t limit) const {
    const size_t n = t.size();
    size_t i = from;
    while (i < limit && i < n) {
      if (DigitLen(i) == 0) {
        ++i;
        continue;
      }
      const size_t start = i;
      uint32_t digits = 0;
      for (;;) {
        while (const size_t len = DigitLen(i)) {
          ++digits;
          i += len;
        }
        if (const size_t gap = i < n ? GapAt(i) : 0) {
          i += gap;
          continue;
        }
        break;
      }
      if (digits >= min_digits) out->emplace_back(start > 0 ? start - 1 : 0, i < n ? i + 1 : n);
    }
    return i;
  }
};

// Bit i of each mask: byte 64k + i of the text is an ASCII digit (d), a
// separator (s), above 0x7F (h), and -- wide only -- 0xEF (e), 0xBC (c),
// 0x90..0x99 (f): the bytes of the full-width digits EF BC 90..99.
struct BlockMasks {
  uint64_t d = 0, s = 0, h = 0, e = 0, c = 0, f = 0;
};

#ifdef __SSE2__
uint64_t Mask16(const __m128i& m, int q) {
  return static_cast<uint64_t>(static_cast<uint32_t>(_mm_movemask_epi8(m))) << (16 * q);
}
#endif

// Classifies 64 bytes at a time (BlockMasks) by SSE compares: the
// separators by a shuffle lookup with SSSE3 when they are all below 0x80
// (byte c is one when lo[c & 15] has bit c >> 4), else by compares when they
// fit in eight registers, else byte by byte.
class Classifier {
 public:
  // isa: the widest instructions to use (DigitRunsIsa).
  Classifier(std::string_view seps, bool wide, int isa = kDigitRunsBest) : seps_(seps), wide_(wide) {
    (void)isa;  // no choice without SSE2
#ifdef __SSE2__
    alignas(16) unsigned char lo[16] = {};
    bool table = true;
    for (char ch : seps) {
      const auto c = static_cast<unsigned char>(ch);
      if (c >= 0x80) table = false;
      else lo[c & 15] |= static_cast<unsigned char>(1u << (c >> 4));
    }
#ifdef __SSSE3__
    table_ = table;
    lo_table_ = _mm_load_si128(reinterpret_cast<const __m128i*>(lo));
#endif
    simd_ = table_ || seps.size() <= 8;
    for (size_t j = 0; j < seps.size() && j < 8; ++j) sep_[j] = _mm_set1_epi8(seps[j]);
#endif
#ifdef TOLLGATE_DIGIT_RUNS_AVX2
    static const bool cpu_avx2 = __builtin_cpu_supports("avx2");
    static const bool cpu_avx512 =
        __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
    avx2_ = simd_ && cpu_avx2 && isa >= kDigitRunsAvx2;
    // The lookup in one 64-byte register; the compares' masks are the bit
    // masks themselves (no movemask and shift per 16 or 32 bytes).
    avx512_ = table_ && cpu_avx512 && isa >= kDigitRunsBest;
#endif
  }

  BlockMasks operator()(const unsigned char* p) const {
#ifdef TOLLGATE_DIGIT_RUNS_AVX2
    if (avx512_) return Avx512(p);
    if (avx2_) return Avx2(p);
#endif
    BlockMasks m;
#ifdef __SSE2__
    if (simd_) {
      const __m128i zero = _mm_set1_epi8('0'), nine = _mm_set1_epi8(9);
      for (int q = 0; q < 4; ++q) {
        const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * q));
        const __m128i y = _mm_sub_epi8(x, zero);
        m.d |= Mask16(_mm_cmpeq_epi8(_mm_min_epu8(y, nine), y), q);  // x - '0' <= 9
        m.s |= Mask16(Separators(x), q);
        if (wide_ && _mm_movemask_epi8(x) != 0) {
          m.h |= Mask16(x, q);
          m.e |= Mask16(_mm_cmpeq_epi8(x, _mm_set1_epi8(static_cast<char>(0xEF))), q);
          m.c |= Mask16(_mm_cmpeq_epi8(x, _mm_set1_epi8(static_cast<char>(0xBC))), q);
          const __m128i z = _mm_sub_epi8(x, _mm_set1_epi8(static_cast<char>(0x90)));
          m.f |= Mask16(_mm_cmpeq_epi8(_mm_min_epu8(z, nine), z), q);
        }
      }
      return m;
    }
#endif
    for (int i = 0; i < 64; ++i) {
      m.d |= static_cast<uint64_t>(Digit(p[i])) << i;
      m.s |= static_cast<uint64_t>(!seps_.empty() && std::memchr(seps_.data(), p[i], seps_.size()) != nullptr) << i;
      if (!wide_) continue;
      m.h |= static_cast<uint64_t>(High(p[i])) << i;
      m.e |= static_cast<uint64_t>(p[i] == 0xEF) << i;
      m.c |= static_cast<uint64_t>(p[i] == 0xBC) << i;
      m.f |= static_cast<uint64_t>(static_cast<unsigned>(p[i] - 0x90) < 10u) << i;
    }
    return m;
  }

 private:
#ifdef TOLLGATE_DIGIT_RUNS_AVX2
  // As the SSE2 compares, 32 bytes at a time (separators: the same lookup,
  // its tables in both 16-byte lanes, or the same compares).
  __attribute__((target("avx2"))) BlockMasks Avx2(const unsigned char* p) const {
    BlockMasks m;
    auto mask = [](__m256i v, int q) __attribute__((target("avx2"))) {
      return static_cast<uint64_t>(static_cast<uint32_t>(_mm256_movemask_epi8(v))) << (32 * q);
    };
    const __m256i zero = _mm256_set1_epi8('0'), nine = _mm256_set1_epi8(9);
    const __m256i nibble = _mm256_set1_epi8(0x0F);
    const __m256i hi_bits = _mm256_broadcastsi128_si256(
        _mm_setr_epi8(1, 2, 4, 8, 16, 32, 64, -128, 0, 0, 0, 0, 0, 0, 0, 0));
    const __m256i lo_table = _mm256_broadcastsi128_si256(lo_table_);
    for (int q = 0; q < 2; ++q) {
      const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32 * q));
      const __m256i y = _mm256_sub_epi8(x, zero);
      m.d |= mask(_mm256_cmpeq_epi8(_mm256_min_epu8(y, nine), y), q);  // x - '0' <= 9
      __m256i sp;
      if (table_) {
        const __m256i lo = _mm256_shuffle_epi8(lo_table, _mm256_and_si256(x, nibble));
        const __m256i hi =
            _mm256_shuffle_epi8(hi_bits, _mm256_and_si256(_mm256_srli_epi16(x, 4), nibble));
        sp = _mm256_xor_si256(_mm256_cmpeq_epi8(_mm256_and_si256(lo, hi), _mm256_setzero_si256()),
                              _mm256_set1_epi8(-1));
      } else {
        sp = _mm256_setzero_si256();
        for (size_t j = 0; j < seps_.size(); ++j)
          sp = _mm256_or_si256(sp, _mm256_cmpeq_epi8(x, _mm256_set1_epi8(seps_[j])));
      }
      m.s |= mask(sp, q);
      if (wide_ && _mm256_movemask_epi8(x) != 0) {
        m.h |= mask(x, q);
        m.e |= mask(_mm256_cmpeq_epi8(x, _mm256_set1_epi8(static_cast<char>(0xEF))), q);
        m.c |= mask(_mm256_cmpeq_epi8(x, _mm256_set1_epi8(static_cast<char>(0xBC))), q);
        const __m256i z = _mm256_sub_epi8(x, _mm256_set1_epi8(static_cast<char>(0x90)));
        m.f |= mask(_mm256_cmpeq_epi8(_mm256_min_epu8(z, nine), z), q);
      }
    }
    return m;
  }
  bool avx2_ = false;  // simd_ and the CPU has AVX2

  // As Avx2, 64 bytes at once with AVX-512BW (the separator table only).
  __attribute__((target("avx512f,avx512bw"))) BlockMasks Avx512(const unsigned char* p) const {
    BlockMasks m;
    const __m512i x = _mm512_loadu_si512(p);
    const __m512i nibble = _mm512_set1_epi8(0x0F);
    m.d = _mm512_cmplt_epu8_mask(_mm512_sub_epi8(x, _mm512_set1_epi8('0')), _mm512_set1_epi8(10));
    // The 16-byte tables in all four lanes. A zero-masked broadcast that
    // keeps every lane is the plain broadcast (the same vbroadcasti32x4); it
    // only hands the builtin a zero instead of _mm512_undefined_epi32() for
    // the lanes it would replace, which GCC 12 reports as a use of an
    // uninitialized value (GCC bug 105593).
    constexpr __mmask16 kAll = 0xFFFF;
    const __m512i hi_bits = _mm512_maskz_broadcast_i32x4(
        kAll, _mm_setr_epi8(1, 2, 4, 8, 16, 32, 64, -128, 0, 0, 0, 0, 0, 0, 0, 0));
    const __m512i lo =
        _mm512_shuffle_epi8(_mm512_maskz_broadcast_i32x4(kAll, lo_table_), _mm512_and_si512(x, nibble));
    const __m512i hi = _mm512_shuffle_epi8(hi_bits, _mm512_and_si512(_mm512_srli_epi16(x, 4), nibble));
    m.s = _mm512_test_epi8_mask(lo, hi);
    if (wide_) {
      m.h = _mm512_movepi8_mask(x);
      if (m.h != 0) {
        m.e = _mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8(static_cast<char>(0xEF)));
        m.c = _mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8(static_cast<char>(0xBC)));
        m.f = _mm512_cmplt_epu8_mask(_mm512_sub_epi8(x, _mm512_set1_epi8(static_cast<char>(0x90))),
                                     _mm512_set1_epi8(10));
      }
    }
    return m;
  }
  bool avx512_ = false;  // table_ and the CPU has AVX-512BW
#endif
#ifdef __SSE2__
  // 0xFF where a byte of x is a separator.
  __m128i Separators(__m128i x) const {
#ifdef __SSSE3__
    if (table_) {
      const __m128i nibble = _mm_set1_epi8(0x0F);
      const __m128i hi_bits = _mm_setr_epi8(1, 2, 4, 8, 16, 32, 64, -128, 0, 0, 0, 0, 0, 0, 0, 0);
      const __m128i lo = _mm_shuffle_epi8(lo_table_, _mm_and_si128(x, nibble));
      const __m128i hi = _mm_shuffle_epi8(hi_bits, _mm_and_si128(_mm_srli_epi16(x, 4), nibble));
      return _mm_xor_si128(_mm_cmpeq_epi8(_mm_and_si128(lo, hi), _mm_setzero_si128()),
                           _mm_set1_epi8(-1));
    }
#endif
    __m128i sp = _mm_setzero_si128();
    for (size_t j = 0; j < seps_.size(); ++j) sp = _mm_or_si128(sp, _mm_cmpeq_epi8(x, sep_[j]));
    return sp;
  }
  __m128i lo_table_ = _mm_setzero_si128();
  __m128i sep_[8] = {};
  bool table_ = false;
  bool simd_ = false;
#endif
  std::string_view seps_;
  bool wide_;
};

// Bit i set when bits i .. i + len - 1 of x are all set (len 1..32).
uint64_t RunsAtLeast(uint64_t x, uint32_t len) {
  uint64_t t = x;
  uint32_t p = 1;
  while (p * 2 <= len) {
    t &= t >> p;
    p *= 2;
  }
  return t & (t >> (len - p));
}

// Bit i of the result: a bit of `cur` within `reach` (a power of two, <= 64)
// positions below i, or -- a superset -- i < reach and a bit in the top
// `reach` positions of `prev`.
inline uint64_t DigitBefore(uint64_t prev, uint64_t cur, uint32_t reach) {
  for (uint32_t p = 1; p < reach; p *= 2) cur |= cur << p;
  const uint64_t low = reach >= 64 ? ~uint64_t{0} : (uint64_t{1} << reach) - 1;
  return (cur << 1) | ((prev >> (64 - reach)) != 0 ? low : 0);
}
// Bit i of the result: a bit of `cur` within `reach` positions above i, or
// i >= 64 - reach and a bit in the low `reach` positions of `next`.
inline uint64_t DigitAfter(uint64_t cur, uint64_t next, uint32_t reach) {
  for (uint32_t p = 1; p < reach; p *= 2) cur |= cur >> p;
  const uint64_t high = reach >= 64 ? ~uint64_t{0} : ~((~uint64_t{0}) >> reach);
  const uint64_t low = reach >= 64 ? ~uint64_t{0} : (uint64_t{1} << reach) - 1;
  return (cur >> 1) | ((next & low) != 0 ? high : 0);
}


#ifdef TOLLGATE_DIGIT_RUNS_AVX2
// BlockPass's per-block words for narrow runs, eight blocks at a time with
// AVX-512F (block k in lane k % 8): for blocks first .. first + count - 1
// (a multiple of 8) of rows d (digits) and s (separators), row j holding
// block j with its neighbours in rows j - 1 and j + 1, in_run[j - first]
// (digits | gaps with a digit within `reach` bytes on both sides, as
// DigitBefore / DigitAfter) and long_stretches[j - first] (RunsAtLeast of
// it). The same words as the scalar formulas below.
#pragma GCC diagnostic push
// GCC 12: the unmasked shift intrinsics pass _mm512_undefined_epi32() as an
// unused merge source (a false positive).
#if !defined(__clang__)  // (clang has no such warning)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
__attribute__((target("avx512f"))) void NarrowBlocks512(const uint64_t* d, const uint64_t* s,
                                                        size_t first, size_t count, uint32_t reach,
                                                        uint32_t min_digits, uint64_t* in_run,
                                                        uint64_t* long_stretches) {
  const __m512i zero = _mm512_setzero_si512();
  const __m512i low = _mm512_set1_epi64(
      static_cast<long long>(reach >= 64 ? ~uint64_t{0} : (uint64_t{1} << reach) - 1));
  const __m512i high = _mm512_set1_epi64(
      static_cast<long long>(reach >= 64 ? ~uint64_t{0} : ~((~uint64_t{0}) >> reach)));
  auto by = [](uint32_t c) { return _mm_cvtsi32_si128(static_cast<int>(c)); };
  for (size_t q = 0; q < count; q += 8) {
    const size_t j = first + q;
    const __m512i cur = _mm512_loadu_si512(d + j), prev = _mm512_loadu_si512(d + j - 1);
    const __m512i next = _mm512_loadu_si512(d + j + 1), gaps = _mm512_loadu_si512(s + j);
    __m512i up = cur, down = cur;
    for (uint32_t p = 1; p < reach; p *= 2) {
      up = _mm512_or_si512(up, _mm512_sll_epi64(up, by(p)));
      down = _mm512_or_si512(down, _mm512_srl_epi64(down, by(p)));
    }
    // DigitBefore: (up << 1) | (the top `reach` bits of prev ? low : 0).
    const __mmask8 prev_near = _mm512_test_epi64_mask(_mm512_srl_epi64(prev, by(64 - reach)),
                                                      _mm512_set1_epi64(-1));
    const __m512i before = _mm512_or_si512(_mm512_slli_epi64(up, 1),
                                           _mm512_mask_mov_epi64(zero, prev_near, low));
    // DigitAfter: (down >> 1) | (the low `reach` bits of next ? high : 0).
    const __mmask8 next_near = _mm512_test_epi64_mask(next, low);
    const __m512i after = _mm512_or_si512(_mm512_srli_epi64(down, 1),
                                          _mm512_mask_mov_epi64(zero, next_near, high));
    const __m512i run =
        _mm512_or_si512(cur, _mm512_and_si512(gaps, _mm512_and_si512(before, after)));
    _mm512_storeu_si512(in_run + q, run);
    // RunsAtLeast(run, min_digits).
    __m512i t = run;
    uint32_t p = 1;
    while (p * 2 <= min_digits) {
      t = _mm512_and_si512(t, _mm512_srl_epi64(t, by(p)));
      p *= 2;
    }
    _mm512_storeu_si512(long_stretches + q,
                        _mm512_and_si512(t, _mm512_srl_epi64(t, by(min_digits - p))));
  }
}
#pragma GCC diagnostic pop
#endif
}  // namespace

void FindDigitRunsReference(std::string_view text, std::string_view separators, bool wide,
                            uint32_t max_gap, uint32_t min_digits, Spans* out) {
  Walker(text, separators, wide, std::max<uint32_t>(max_gap, 1), min_digits, out).Walk(0, text.size());
}

namespace {

// FindDigitRuns for one `wide` and one reach (bit_ceil(max_gap); 0: any).
template <bool kWide, uint32_t kReach>
void BlockPass(std::string_view text, std::string_view separators, uint32_t max_gap,
               uint32_t min_digits, int isa, Spans* out) {
  constexpr bool wide = kWide;
  // A run with N digits is at least N bytes long. One pass marks the bytes
  // that may be in runs (64 at a time: digits, and gap bytes with a digit
  // within max_gap bytes on both sides) and looks for N of them in a row;
  // only there is the text walked byte by byte, from the start of the run
  // the stretch lies in.
  std::optional<Walker> walker;  // built at the first walk
  const Classifier classify(separators, wide, isa);
  const uint32_t reach = kReach != 0 ? kReach : std::bit_ceil(max_gap);
  const size_t n = text.size();
  const size_t blocks = (n + 63) / 64;
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  auto load = [&](size_t k) -> BlockMasks {
    if (k >= blocks) return {};
    if (64 * k + 64 <= n) return classify(p + 64 * k);
    unsigned char tail[64] = {};
    std::memcpy(tail, p + 64 * k, n - 64 * k);
    BlockMasks m = classify(tail);
    const size_t valid = n - 64 * k;  // the padding is in no run
    const uint64_t keep = valid >= 64 ? ~uint64_t{0} : (uint64_t{1} << valid) - 1;
    m.d &= keep;
    m.s &= keep;
    m.h &= keep;
    m.e &= keep;
    m.c &= keep;
    m.f &= keep;
    return m;
  };
#ifdef TOLLGATE_DIGIT_RUNS_AVX2
  // Narrow runs with AVX-512: the classes of 64 blocks at a time into rows,
  // then in_run and its long stretches eight blocks at a time
  // (NarrowBlocks512); the walk below is the same.
  static const bool cpu_avx512 = __builtin_cpu_supports("avx512f");
  if (!wide && isa >= kDigitRunsBest && cpu_avx512) {
    constexpr size_t kChunk = 64;
    uint64_t d[kChunk + 2] = {}, s[kChunk + 2] = {};
    uint64_t in_runs[kChunk] = {}, longs[kChunk] = {};
    uint32_t carry = 0;
    size_t done = 0;
    for (size_t c0 = 0; c0 < blocks; c0 += kChunk) {
      const size_t count = std::min(kChunk, blocks - c0);
      for (size_t j = 0; j < count + 2; ++j) {  // row j: block c0 - 1 + j
        if (c0 + j == 0) {
          d[j] = s[j] = 0;
          continue;
        }
        const BlockMasks m = load(c0 + j - 1);
        d[j] = m.d;
        s[j] = m.s;
      }
      NarrowBlocks512(d, s, 1, (count + 7) / 8 * 8, reach, min_digits, in_runs, longs);
      for (size_t q = 0; q < count; ++q) {
        const size_t k = c0 + q;
        const uint64_t in_run = in_runs[q];
        const uint32_t lead = static_cast<uint32_t>(std::countr_one(in_run));
        const bool across = carry > 0 && carry + lead >= min_digits;
        if (across || longs[q] != 0) {
          const size_t stretch = across ? 64 * k - carry : 64 * k + std::countr_zero(longs[q]);
          size_t from = std::max(done, stretch);
          if (!walker) walker.emplace(text, separators, wide, max_gap, min_digits, out);
          while (from > done && walker->MaybeInRun(from - 1)) --from;
          if (from < n) done = walker->Walk(from, std::min(n, 64 * (k + 1)));
        }
        carry = lead == 64 ? carry + 64 : static_cast<uint32_t>(std::countl_one(in_run));
      }
    }
    return;
  }
#endif
  BlockMasks cur = load(0), next = load(1);
  uint64_t prev_digits = 0;    // the digit bytes (full-width ones too) of the previous block
  uint64_t prev_fw_start = 0;  // its full-width digits' first bytes
  uint32_t carry = 0;  // run bytes in a row at the end of the previous block
  size_t done = 0;     // the text before `done` is walked
  for (size_t k = 0; k < blocks; ++k) {
    uint64_t digits = cur.d, gaps = cur.s;
    uint64_t fw_start = 0;
    if (wide) {
      gaps |= cur.h;
      fw_start = cur.e & ((cur.c >> 1) | (next.c << 63)) & ((cur.f >> 2) | (next.f << 62));
      digits |= fw_start | (fw_start << 1) | (fw_start << 2) | ((prev_fw_start >> 62) & 1) |
                ((prev_fw_start >> 63) * 3);
    }
    // The next block's digits, a superset (its full-width digits' lead bytes
    // are enough: they only decide where to walk).
    const uint64_t next_digits = next.d | (wide ? next.e : 0);
    uint64_t in_run = digits;
    if (gaps != 0 && (digits | prev_digits | next_digits) != 0) {
      in_run |= gaps & DigitBefore(prev_digits, digits, reach) & DigitAfter(digits, next_digits, reach);
    }
    const uint32_t lead = static_cast<uint32_t>(std::countr_one(in_run));
    const uint64_t long_stretches = RunsAtLeast(in_run, min_digits);
    const bool across = carry > 0 && carry + lead >= min_digits;
    if (across || long_stretches != 0) {
      // From the first long stretch of run bytes: a run with enough digits
      // that ends before it was walked with the previous block.
      const size_t stretch = across ? 64 * k - carry : 64 * k + std::countr_zero(long_stretches);
      size_t from = std::max(done, stretch);
      if (!walker) walker.emplace(text, separators, wide, max_gap, min_digits, out);
      // Back to a byte that is in no run (the run's first byte or before).
      while (from > done && walker->MaybeInRun(from - 1)) --from;
      if (from < n) done = walker->Walk(from, std::min(n, 64 * (k + 1)));
    }
    carry = lead == 64 ? carry + 64 : static_cast<uint32_t>(std::countl_one(in_run));
    prev_digits = digits;
    prev_fw_start = fw_start;
    cur = next;
    next = load(k + 2);
  }
}

}  // namespace

void FindDigitRuns(std::string_view text, std::string_view separators, bool wide, uint32_t max_gap,
                   uint32_t min_digits, Spans* out) {
  FindDigitRunsIsa(text, separators, wide, max_gap, min_digits, kDigitRunsBest, out);
}

void FindDigitRunsIsa(std::string_view text, std::string_view separators, bool wide,
                      uint32_t max_gap, uint32_t min_digits, int isa, Spans* out) {
  max_gap = std::clamp<uint32_t>(max_gap, 1, 64);
  const uint32_t reach = std::bit_ceil(max_gap);
  auto pass = [&](auto wide_tag) {
    constexpr bool kWide = decltype(wide_tag)::value;
    switch (reach) {
      case 1: return BlockPass<kWide, 1>(text, separators, max_gap, min_digits, isa, out);
      case 2: return BlockPass<kWide, 2>(text, separators, max_gap, min_digits, isa, out);
      case 4: return BlockPass<kWide, 4>(text, separators, max_gap, min_digits, isa, out);
      case 8: return BlockPass<kWide, 8>(text, separators, max_gap, min_digits, isa, out);
      default: return BlockPass<kWide, 0>(text, separators, max_gap, min_digits, isa, out);
    }
  };
  if (wide) {
    pass(std::true_type{});
  } else {
    pass(std::false_type{});
  }
}

}  // namespace tollgate::scan::internal
