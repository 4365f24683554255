// The prefilter's finder for its longer literals (internal/injection_long_keys.h).
#include "stdlib/internal/injection_long_keys.h"

#include <algorithm>
#include <array>
#include <bit>
#include <bitset>
#include <numeric>

#if defined(__SSE2__) && defined(__x86_64__) && defined(__GNUC__)
#define TG_LONG_KEYS_AVX512 1
#include <immintrin.h>
#endif

namespace tollgate::stdlib::internal {

using Hit = scan::LiteralScanner::Hit;

namespace {
bool Letter(uint8_t c) { return static_cast<uint8_t>((c | 0x20) - 'a') < 26; }

// How often a byte occurs in English prose (either case of a letter
// together), only for laying out the buckets: any table is exact, a good
// one just sends fewer starts to the compare.
std::array<double, 256> ByteWeights() {
  static const double letters[26] = {8.2, 1.5, 2.8, 4.3, 12.7, 2.2, 2.0, 6.1, 7.0, 0.15, 0.8, 4.0, 2.4,
                                     6.7, 7.5, 1.9, 0.1, 6.0, 6.3, 9.1, 2.8, 1.0, 2.4, 0.15, 2.0, 0.07};
  std::array<double, 256> w{};
  w.fill(0.0002);
  for (int c = 0; c < 26; ++c) w['a' + c] = w['A' + c] = letters[c] / 100 * 0.78 / 2;
  w[' '] = 0.16;
  for (int c = '0'; c <= '9'; ++c) w[c] = 0.001;
  for (char c : {'.', ',', '\n', '-', '\'', '"'}) w[static_cast<uint8_t>(c)] = 0.004;
  return w;
}

using ByteSet = std::bitset<256>;

// A byte's entry in the 64-entry tables: the low five bits, and bit 6 moved
// to bit 5, so both cases of a letter share an entry (0x21..0x3A) that no
// other ASCII byte but @ [ \ ] ^ _ ` { | } ~ DEL reaches.
uint8_t Index6(uint8_t c) { return static_cast<uint8_t>((c & 0x1F) | ((c & 0x40) >> 1)); }

// Whether literal l's bytes from `from` on occur at p + from (the caller
// has checked that it fits): its first 16 bytes, then the rest.
template <typename Lit>
bool EqualFrom(const Lit& l, const uint8_t* p, size_t from) {
  for (size_t k = from; k < l.len; ++k) {
    const uint8_t want = k < 16 ? l.want[k] : static_cast<uint8_t>(l.rest_want[k - 16]);
    const uint8_t fold = k < 16 ? l.fold[k] : static_cast<uint8_t>(l.rest_fold[k - 16]);
    if ((p[k] | fold) != want) return false;
  }
  return true;
}

// The bytes a literal accepts at offset k (< 16): every byte past its end.
ByteSet Accepts(const uint8_t* want, const uint8_t* fold, size_t len, size_t k) {
  ByteSet s;
  if (k >= len) return s.set();
  s.set(want[k]);
  if (fold[k] != 0) s.set(want[k] & ~0x20u);
  return s;
}
}  // namespace

bool LongLiteralFinder::Add(std::string_view literal, uint32_t id) {
  if (literal.empty() || literal.size() > kMaxLen || sealed_ || lits_.size() >= kMaxLiterals) return false;
  Lit l;
  l.id = id;
  l.len = static_cast<uint32_t>(literal.size());
  for (size_t k = 0; k < literal.size(); ++k) {
    const auto c = static_cast<uint8_t>(literal[k]);
    const uint8_t f = Letter(c) ? 0x20 : 0;
    if (k < 16) {
      l.fold[k] = f;
      l.want[k] = static_cast<uint8_t>(c | f);
    } else {
      l.rest_fold.push_back(static_cast<char>(f));
      l.rest_want.push_back(static_cast<char>(c | f));
    }
  }
  lits_.push_back(std::move(l));
  return true;
}

void LongLiteralFinder::Seal() {
  if (sealed_) return;
  sealed_ = true;
  const std::array<double, 256> weight = ByteWeights();
  // A bucket: the bytes it accepts at each offset, how likely a byte of
  // prose is one of them, and its literals.
  struct Bucket {
    ByteSet accepts[kOffsets];
    double p[kOffsets] = {};
    size_t count = 0;
    // What adding the bytes of `add` (per offset) makes of each p.
    void With(const ByteSet* add, const std::array<double, 256>& w, double* out) const {
      for (size_t k = 0; k < kOffsets; ++k) {
        if (add[k].all()) {
          out[k] = 1;
          continue;
        }
        out[k] = p[k];
        for (size_t c = 0; c < 256; ++c) out[k] += add[k][c] && !accepts[k][c] ? w[c] : 0;
        out[k] = std::min(out[k], 1.0);
      }
    }
    // How many starts reach the compare, times the literals compared there.
    static double Cost(const double* p, size_t count) {
      double x = static_cast<double>(count);
      for (size_t k = 0; k < kOffsets; ++k) x *= p[k];
      return count == 0 ? 0 : x;
    }
  };
  std::vector<std::array<ByteSet, kOffsets>> adds(lits_.size());
  std::vector<double> own(lits_.size());
  for (size_t q = 0; q < lits_.size(); ++q) {
    for (size_t k = 0; k < kOffsets; ++k) adds[q][k] = Accepts(lits_[q].want, lits_[q].fold, lits_[q].len, k);
    double p[kOffsets];
    Bucket().With(adds[q].data(), weight, p);
    own[q] = Bucket::Cost(p, 1);
  }
  // Least selective literals first (each then takes the bucket it costs
  // least in; the first ones get buckets of their own).
  std::vector<size_t> order(lits_.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return own[a] > own[b]; });
  Bucket buckets[kBuckets];
  std::vector<size_t> bucket_of(lits_.size());
  for (size_t q : order) {
    size_t best = kBuckets;
    double best_delta = 0, best_p[kOffsets] = {};
    for (size_t b = 0; b < kBuckets; ++b) {
      if (buckets[b].count == kPerBucket) continue;
      double p[kOffsets];
      buckets[b].With(adds[q].data(), weight, p);
      const double delta = Bucket::Cost(p, buckets[b].count + 1) - Bucket::Cost(buckets[b].p, buckets[b].count);
      if (best == kBuckets || delta < best_delta) {
        best = b;
        best_delta = delta;
        std::copy(p, p + kOffsets, best_p);
      }
    }
    for (size_t k = 0; k < kOffsets; ++k) buckets[best].accepts[k] |= adds[q][k];
    std::copy(best_p, best_p + kOffsets, buckets[best].p);
    ++buckets[best].count;
    bucket_of[q] = best;
  }
  // The literals in bucket order, the tables by bucket.
  std::vector<Lit> sorted;
  for (size_t b = 0; b < kBuckets; ++b) {
    bucket_first_[b] = static_cast<uint32_t>(sorted.size());
    for (size_t q = 0; q < lits_.size(); ++q) {
      if (bucket_of[q] != b) continue;
      const Lit& l = lits_[q];
      const size_t lane = sorted.size() - bucket_first_[b];
      for (size_t k = 0; k < 4; ++k) {
        const uint32_t want = k < l.len ? l.want[k] : 0xFF, fold = k < l.len ? l.fold[k] : 0xFF;
        heads_[b].want[lane] |= want << (8 * k);
        heads_[b].fold[lane] |= fold << (8 * k);
      }
      sorted.push_back(l);
    }
    for (size_t k = 0; k < kOffsets; ++k) {
      for (size_t c = 0; c < 256; ++c) {
        if (buckets[b].accepts[k][c]) {
          tables_[b / 8][k][Index6(static_cast<uint8_t>(c))] |= static_cast<uint8_t>(1u << (b % 8));
        }
      }
    }
  }
  bucket_first_[kBuckets] = static_cast<uint32_t>(sorted.size());
  lits_ = std::move(sorted);
}

std::vector<std::vector<std::string>> LongLiteralFinder::Buckets() const {
  std::vector<std::vector<std::string>> out(kBuckets);
  for (size_t b = 0; b < kBuckets; ++b) {
    for (size_t i = bucket_first_[b]; i < bucket_first_[b + 1]; ++i) {
      const Lit& l = lits_[i];
      std::string w(reinterpret_cast<const char*>(l.want), std::min<size_t>(l.len, 16));
      out[b].push_back(w + l.rest_want);
    }
  }
  return out;
}

bool LongLiteralFinder::HaveIsa(int isa) {
  switch (isa) {
    case 0:
      return true;
#if defined(TG_LONG_KEYS_AVX512)
    case 2:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vbmi");
#endif
    default:
      return false;
  }
}

bool LongLiteralFinder::Find(std::string_view text, size_t max_hits, std::vector<Hit>* hits,
                             int isa) const {
  static const int best = HaveIsa(2) ? 2 : 0;
  if (isa < 0) isa = best;
  if (lits_.empty()) return true;
  if (!sealed_ || text.size() > UINT32_MAX) return false;
  return isa == 2 ? FindAvx512(text, max_hits, hits) : FindScalar(text, max_hits, hits);
}

bool LongLiteralFinder::FindScalar(std::string_view text, size_t max_hits, std::vector<Hit>* hits) const {
  const auto* p = reinterpret_cast<const uint8_t*>(text.data());
  const size_t n = text.size();
  for (size_t i = 0; i < n; ++i) {
    for (const Lit& l : lits_) {
      if (n - i < l.len || !EqualFrom(l, p + i, 0)) continue;
      if (hits->size() >= max_hits) return false;
      hits->push_back(Hit{l.id, static_cast<uint32_t>(i + l.len)});
    }
  }
  return true;
}

#if defined(TG_LONG_KEYS_AVX512)
namespace {
#define TG_VBMI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi")))

// GCC 12's intrinsic headers leave the undefined vector of the unmasked
// forms "maybe uninitialized" (a false alarm, as in injection_classes.cc).
#pragma GCC diagnostic push
#if !defined(__clang__)  // (clang has no such warning)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
// Appends buf[0, n) to *hits (out of the loop below: a call there would make
// the compiler save the lookup tables' registers around every start).
__attribute__((noinline, cold)) void Flush(const Hit* buf, size_t n, std::vector<Hit>* hits) {
  hits->insert(hits->end(), buf, buf + n);
}

// The AVX-512 VBMI loop, out of the class so that it alone is compiled for
// it. Per block of 64 starts: per offset k the bytes p[start + k] (bytes
// past the text read as 0: masked loads touch nothing beyond it), their
// 6-bit indexes, one vpermb per group of eight buckets; the and over the
// offsets holds the buckets that may start there. Such starts are queued
// and their buckets' literals compared (`start` below). Appends the hits to
// *hits; false when there would be more than max_hits (*hits then holds at
// most max_hits).
template <typename Lit, typename Heads>
TG_VBMI bool VbmiFind(const uint8_t* p, size_t n, const uint8_t (*tables)[LongLiteralFinder::kOffsets][64],
                      const Heads* heads, const Lit* lits, const uint32_t* first, size_t max_hits,
                      std::vector<Hit>* hits) {
  constexpr size_t kOff = LongLiteralFinder::kOffsets;
  __m512i t[2][kOff];
  for (size_t g = 0; g < 2; ++g) {
    for (size_t k = 0; k < kOff; ++k) t[g][k] = _mm512_loadu_si512(tables[g][k]);
  }
  const __m512i low5 = _mm512_set1_epi8(0x1F), bit6 = _mm512_set1_epi8(0x40);
  // Hits go to a local buffer first, written out when it fills and at the end.
  constexpr size_t kBuf = 256;
  Hit buf[kBuf];
  size_t nbuf = 0;
  size_t room = max_hits > hits->size() ? max_hits - hits->size() : 0;
  // One block of 64 starts from i: the buckets that may start at each (a0:
  // buckets 0-7, a1: 8-15). `whole`: all its bytes are in the text, else
  // those past it read as 0 (masked loads touch nothing beyond it).
  auto block = [&](size_t i, bool whole, __m512i* a0, __m512i* a1) TG_VBMI {
    *a0 = _mm512_set1_epi8(-1);
    *a1 = *a0;
#pragma GCC unroll 8
    for (size_t k = 0; k < kOff; ++k) {
      __m512i v;
      if (whole) {
        v = _mm512_loadu_si512(p + i + k);
      } else {
        const size_t left = i + k < n ? n - i - k : 0;
        const __mmask64 m = left >= 64 ? ~__mmask64{0} : (__mmask64{1} << left) - 1;
        v = _mm512_maskz_loadu_epi8(m, p + i + k);
      }
      // Index6: (v & 0x1F) | (v & 0x40) >> 1 (the 16-bit shift moves no
      // other set bit across bytes), as one ternary-logic op: (a & b) | c.
      const __m512i s = _mm512_srli_epi16(_mm512_and_si512(v, bit6), 1);
      const __m512i idx = _mm512_ternarylogic_epi32(v, low5, s, 0xEA);
      *a0 = _mm512_and_si512(*a0, _mm512_permutexvar_epi8(idx, t[0][k]));
      *a1 = _mm512_and_si512(*a1, _mm512_permutexvar_epi8(idx, t[1][k]));
    }
  };
  // The starts of block i that some bucket accepts: their literals compared.
  // One start `at` that buckets `bs` accept: their literals compared.
  auto start = [&](size_t at, unsigned bs) TG_VBMI {
    const size_t left = n - at;
    const __mmask16 in = left >= 16 ? __mmask16{0xFFFF} : static_cast<__mmask16>((1u << left) - 1);
    const __m128i text = _mm_maskz_loadu_epi8(in, p + at);
    const __m512i head = _mm512_broadcastd_epi32(text);
    for (; bs != 0; bs &= bs - 1) {
      const auto b = static_cast<size_t>(std::countr_zero(bs));
      // The bucket's literals whose first four bytes are here, at once.
      const __m512i folded = _mm512_or_si512(head, _mm512_load_si512(heads[b].fold));
      const unsigned lanes = (1u << (first[b + 1] - first[b])) - 1;  // at most 16 literals
      for (unsigned m = _mm512_cmpeq_epi32_mask(folded, _mm512_load_si512(heads[b].want)) & lanes; m != 0;
           m &= m - 1) {
        const Lit& l = lits[first[b] + static_cast<uint32_t>(std::countr_zero(m))];
        if (left < l.len) continue;
        const __m128i f = _mm_or_si128(text, _mm_load_si128(reinterpret_cast<const __m128i*>(l.fold)));
        const auto eq = static_cast<uint32_t>(
            _mm_cmpeq_epi8_mask(f, _mm_load_si128(reinterpret_cast<const __m128i*>(l.want))));
        const uint32_t need = l.len >= 16 ? 0xFFFFu : (1u << l.len) - 1;
        if ((eq & need) != need || (l.len > 16 && !EqualFrom(l, p + at, 16))) continue;
        if (room == 0) return false;
        --room;
        buf[nbuf++] = Hit{l.id, static_cast<uint32_t>(at + l.len)};
        if (nbuf == kBuf) {
          Flush(buf, nbuf, hits);
          nbuf = 0;
        }
      }
    }
    return true;
  };
  // The starts some bucket accepts, queued: a block's first two without a
  // branch on the text (a slot with no bucket is overwritten next; about
  // half the blocks of prose hold a start, which made a branch per block
  // mispredict), a third or more with one; compared when the queue fills
  // and at the end.
  struct Queued {
    uint32_t at;
    uint32_t buckets;
  };
  constexpr size_t kQueue = 256;
  Queued queue[kQueue + 64];
  size_t queued = 0;
  auto drain = [&]() TG_VBMI {
    for (size_t e = 0; e < queued; ++e) {
      if (!start(queue[e].at, queue[e].buckets)) return false;
    }
    queued = 0;
    return true;
  };
  auto enqueue = [&](size_t i, uint64_t cand, __m512i a0, __m512i a1) TG_VBMI {
    alignas(64) uint8_t b0[64], b1[64];
    _mm512_store_si512(b0, a0);
    _mm512_store_si512(b1, a1);
    // With cand empty both slots read byte 63, which is 0 in both then;
    // with one start the second slot is masked to no bucket.
    const uint64_t cand2 = cand & (cand - 1);
    const auto j0 = static_cast<uint32_t>(std::countr_zero(cand | uint64_t{1} << 63));
    const auto j1 = static_cast<uint32_t>(std::countr_zero(cand2 | uint64_t{1} << 63));
    const uint32_t s0 = b0[j0] | uint32_t{b1[j0]} << 8;
    const uint32_t s1 = (b0[j1] | uint32_t{b1[j1]} << 8) & (cand2 != 0 ? 0xFFFFu : 0u);
    queue[queued] = Queued{static_cast<uint32_t>(i) + j0, s0};
    queued += s0 != 0;
    queue[queued] = Queued{static_cast<uint32_t>(i) + j1, s1};
    queued += s1 != 0;
    for (uint64_t more = cand2 & (cand2 - 1); more != 0; more &= more - 1) {
      const auto j = static_cast<uint32_t>(std::countr_zero(more));
      queue[queued++] = Queued{static_cast<uint32_t>(i) + j, b0[j] | uint32_t{b1[j]} << 8};
    }
    return queued < kQueue || drain();
  };
  size_t i = 0;
  bool ok = true;
  for (; ok && i + 64 + kOff - 1 <= n; i += 64) {
    __m512i a0, a1;
    block(i, true, &a0, &a1);
    const __m512i any = _mm512_or_si512(a0, a1);
    ok = enqueue(i, _mm512_test_epi8_mask(any, any), a0, a1);
  }
  for (; ok && i < n; i += 64) {
    __m512i a0, a1;
    block(i, false, &a0, &a1);
    const __m512i any = _mm512_or_si512(a0, a1);
    uint64_t cand = _mm512_test_epi8_mask(any, any);
    if (n - i < 64) cand &= (uint64_t{1} << (n - i)) - 1;
    ok = enqueue(i, cand, a0, a1);
  }
  ok = ok && drain();
  Flush(buf, nbuf, hits);
  return ok;
}
#pragma GCC diagnostic pop
#undef TG_VBMI
}  // namespace
#endif

bool LongLiteralFinder::FindAvx512(std::string_view text, size_t max_hits, std::vector<Hit>* hits) const {
#if defined(TG_LONG_KEYS_AVX512)
  return VbmiFind(reinterpret_cast<const uint8_t*>(text.data()), text.size(), tables_, heads_, lits_.data(),
                  bucket_first_, max_hits, hits);
#else
  return FindScalar(text, max_hits, hits);
#endif
}

}  // namespace tollgate::stdlib::internal
