// The prefilter's short-literal finder (internal/injection_short_keys.h).
#include "stdlib/internal/injection_short_keys.h"

#include <bit>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__SSE2__) && defined(__x86_64__) && defined(__GNUC__)
#define TG_SHORT_KEYS_AVX512 1
#include <immintrin.h>
#endif

namespace tollgate::stdlib::internal {

using Hit = scan::LiteralScanner::Hit;

namespace {
bool Letter(uint8_t c) { return static_cast<uint8_t>((c | 0x20) - 'a') < 26; }
}  // namespace

bool ShortLiteralFinder::Add(std::string_view literal, uint32_t id) {
  if (literal.empty() || literal.size() > kMaxLen || count_ == kMaxLiterals) return false;
  Lit& l = lits_[count_++];
  l.len = static_cast<uint8_t>(literal.size());
  l.id = id;
  for (size_t k = 0; k < literal.size(); ++k) {
    const auto c = static_cast<uint8_t>(literal[k]);
    l.fold[k] = Letter(c) ? 0x20 : 0;
    l.want[k] = static_cast<uint8_t>(c | l.fold[k]);
  }
  const auto bit = static_cast<uint8_t>(1u << (count_ - 1));
  for (size_t k = 0; k < kMaxLen; ++k) {
    for (unsigned b = 0; b < 256; ++b) {
      if (k >= l.len || (b | l.fold[k]) == l.want[k]) tables_[k][b] |= bit;
    }
  }
  return true;
}

bool ShortLiteralFinder::HaveIsa(int isa) {
  switch (isa) {
    case 0:
      return true;
#if defined(__SSE2__)
    case 1:
      return true;
#endif
#if defined(TG_SHORT_KEYS_AVX512)
    case 2:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vbmi");
#endif
    default:
      return false;
  }
}

bool ShortLiteralFinder::Find(std::string_view text, size_t max_hits, std::vector<Hit>* hits,
                              int isa) const {
  static const int best = HaveIsa(2) ? 2 : HaveIsa(1) ? 1 : 0;
  if (isa < 0) isa = best;
  if (count_ == 0) return true;
  switch (isa) {
    case 0: return FindScalar(text, 0, max_hits, hits);
    case 1: return FindSse2(text, max_hits, hits);
    default: return FindAvx512(text, max_hits, hits);
  }
}

// Every occurrence ending in text[from, ...) -- starting at `from` or later.
bool ShortLiteralFinder::FindScalar(std::string_view text, size_t from, size_t max_hits,
                                    std::vector<Hit>* hits) const {
  const auto* p = reinterpret_cast<const uint8_t*>(text.data());
  const size_t n = text.size();
  for (size_t i = from; i < n; ++i) {
    for (size_t q = 0; q < count_; ++q) {
      const Lit& l = lits_[q];
      if (n - i < l.len) continue;
      bool eq = true;
      for (size_t k = 0; k < l.len; ++k) eq = eq && (p[i + k] | l.fold[k]) == l.want[k];
      if (!eq) continue;
      if (hits->size() >= max_hits) return false;
      hits->push_back(Hit{l.id, static_cast<uint32_t>(i + l.len)});
    }
  }
  return true;
}

bool ShortLiteralFinder::FindSse2(std::string_view text, size_t max_hits, std::vector<Hit>* hits) const {
#if defined(__SSE2__)
  const auto* p = reinterpret_cast<const uint8_t*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  // Blocks of 16 starts whose literals lie wholly in the text.
  unsigned masks[kMaxLiterals];
  auto lowered = [&](size_t at) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + at));
    const __m128i o = _mm_or_si128(v, _mm_set1_epi8(0x20));
    // o - 'a' <= 25 unsigned: a letter (min(x, 25) == x).
    const __m128i d = _mm_sub_epi8(o, _mm_set1_epi8('a'));
    const __m128i letter = _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(25)), d);
    return _mm_or_si128(v, _mm_and_si128(letter, _mm_set1_epi8(0x20)));
  };
  for (; i + 16 + kMaxLen - 1 <= n; i += 16) {
    const __m128i low[kMaxLen] = {lowered(i), lowered(i + 1), lowered(i + 2)};
    unsigned any = 0;
    for (size_t q = 0; q < count_; ++q) {
      const Lit& l = lits_[q];
      unsigned m = 0xFFFF;
      for (size_t k = 0; k < l.len; ++k) {
        m &= static_cast<unsigned>(
            _mm_movemask_epi8(_mm_cmpeq_epi8(low[k], _mm_set1_epi8(static_cast<char>(l.want[k])))));
      }
      masks[q] = m;
      any |= m;
    }
    if (any == 0) continue;
    for (size_t q = 0; q < count_; ++q) {
      for (unsigned m = masks[q]; m != 0; m &= m - 1) {
        if (hits->size() >= max_hits) return false;
        hits->push_back(Hit{lits_[q].id, static_cast<uint32_t>(i + static_cast<size_t>(std::countr_zero(m)) + lits_[q].len)});
      }
    }
  }
  return FindScalar(text, i, max_hits, hits);
#else
  return FindScalar(text, 0, max_hits, hits);
#endif
}

#if defined(TG_SHORT_KEYS_AVX512)
namespace {
#define TG_VBMI __attribute__((target("avx512f,avx512bw,avx512vbmi")))
// table[b]: its 256 bytes as four vectors; bit q: literal q accepts byte b
// at this offset. One lookup per 64 bytes: vpermi2b over the low and the
// high 128 entries, the byte's top bit picks.
TG_VBMI inline __m512i Lookup(const __m512i* t, __m512i v) {
  const __m512i lo = _mm512_permutex2var_epi8(t[0], v, t[1]);
  const __m512i hi = _mm512_permutex2var_epi8(t[2], v, t[3]);
  return _mm512_mask_blend_epi8(_mm512_movepi8_mask(v), lo, hi);
}

// The AVX-512 VBMI loop, out of the class so that it alone is compiled for
// it: per block of 64 starts, the and of the three offsets' lookups holds
// bit q at start j exactly when literal q occurs there (a literal of fewer
// than three bytes accepts every byte past its end). No branch on the text
// per block: the first two starts that hold a hit are queued whatever the
// block holds (an empty slot has no literal bits and is overwritten next;
// prose has a short key in about one block of four, which made a branch
// per block mispredict), a third or more takes a branch; the queue is
// turned into hits, in start order as before, when it fills and at the end.
// Returns where it stopped.
TG_VBMI size_t VbmiBlocks(const uint8_t* p, size_t n, const uint8_t (*tables)[256],
                          const uint8_t* lens, const uint32_t* ids, size_t max_hits,
                          std::vector<Hit>* hits, bool* full) {
  constexpr size_t kLen = ShortLiteralFinder::kMaxLen;
  static_assert(kLen == 3, "three offsets below");
  __m512i t[kLen][4];
  for (size_t k = 0; k < kLen; ++k) {
    for (size_t h = 0; h < 4; ++h) t[k][h] = _mm512_loadu_si512(tables[k] + 64 * h);
  }
  // Queued starts: the end offset base (start) and the literals there.
  constexpr size_t kFlushAt = 256;
  struct Start {
    uint32_t at;
    uint32_t lits;
  };
  Start queue[kFlushAt + 64];
  size_t queued = 0;
  auto flush = [&]() {
    for (size_t e = 0; e < queued; ++e) {
      for (unsigned b = queue[e].lits; b != 0; b &= b - 1) {
        const auto q = static_cast<size_t>(std::countr_zero(b));
        if (hits->size() >= max_hits) return false;
        hits->push_back(Hit{ids[q], queue[e].at + lens[q]});
      }
    }
    queued = 0;
    return true;
  };
  size_t i = 0;
  for (; i + 64 + kLen - 1 <= n; i += 64) {
    const __m512i r = _mm512_and_si512(
        _mm512_and_si512(Lookup(t[0], _mm512_loadu_si512(p + i)), Lookup(t[1], _mm512_loadu_si512(p + i + 1))),
        Lookup(t[2], _mm512_loadu_si512(p + i + 2)));
    const uint64_t at = _mm512_test_epi8_mask(r, r);
    alignas(64) uint8_t bits[64];
    _mm512_store_si512(bits, r);
    // With `at` empty both slots read byte 63, which is 0 then; with one
    // start the second slot is masked to no literal.
    const uint64_t at2 = at & (at - 1);
    const auto j0 = static_cast<uint32_t>(std::countr_zero(at | uint64_t{1} << 63));
    const auto j1 = static_cast<uint32_t>(std::countr_zero(at2 | uint64_t{1} << 63));
    const uint32_t b0 = bits[j0];
    const uint32_t b1 = bits[j1] & (at2 != 0 ? 0xFFu : 0u);
    queue[queued] = Start{static_cast<uint32_t>(i) + j0, b0};
    queued += b0 != 0;
    queue[queued] = Start{static_cast<uint32_t>(i) + j1, b1};
    queued += b1 != 0;
    for (uint64_t more = at2 & (at2 - 1); more != 0; more &= more - 1) {
      const auto j = static_cast<uint32_t>(std::countr_zero(more));
      queue[queued++] = Start{static_cast<uint32_t>(i) + j, bits[j]};
    }
    if (queued >= kFlushAt && !flush()) {
      *full = true;
      return i;
    }
  }
  if (!flush()) *full = true;
  return i;
}
#undef TG_VBMI
}  // namespace
#endif

bool ShortLiteralFinder::FindAvx512(std::string_view text, size_t max_hits, std::vector<Hit>* hits) const {
#if defined(TG_SHORT_KEYS_AVX512)
  uint8_t lens[kMaxLiterals];
  uint32_t ids[kMaxLiterals];
  for (size_t q = 0; q < count_; ++q) {
    lens[q] = lits_[q].len;
    ids[q] = lits_[q].id;
  }
  bool full = false;
  const size_t i = VbmiBlocks(reinterpret_cast<const uint8_t*>(text.data()), text.size(), tables_,
                              lens, ids, max_hits, hits, &full);
  if (full) return false;
  return FindScalar(text, i, max_hits, hits);
#else
  return FindSse2(text, max_hits, hits);
#endif
}

}  // namespace tollgate::stdlib::internal
