// Digit runs of a text (internal/digit_runs.h).
#include "engine/scan/internal/digit_runs.h"

#include <algorithm>
#include <bit>
#include <cstring>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

namespace tollgate::scan::internal {

namespace {

bool Digit(unsigned char c) { return static_cast<unsigned>(c - '0') < 10u; }

// The longest gap of bytes above 0x7F that joins two digits in wide mode:
// U+2007, U+2009 and U+202F are three bytes in UTF-8.
constexpr size_t kMaxWideGap = 3;

bool High(unsigned char c) { return c >= 0x80; }

struct Walker {
  std::string_view t;
  std::string_view seps;
  bool wide;  // gaps of 1..kMaxWideGap bytes above 0x7F join digits too
  uint32_t min_digits;
  Spans* out;

  bool Sep(unsigned char c) const { return std::memchr(seps.data(), c, seps.size()) != nullptr; }
  bool DigitAt(size_t i) const { return i < t.size() && Digit(static_cast<unsigned char>(t[i])); }
  bool HighAt(size_t i) const { return i < t.size() && High(static_cast<unsigned char>(t[i])); }
  // Bytes of the gap at i that join two digits (0: none): one separator
  // byte, or (wide) a maximal run of 1..kMaxWideGap bytes above 0x7F.
  size_t GapAt(size_t i) const {
    if (i + 1 < t.size() && Sep(static_cast<unsigned char>(t[i])) && DigitAt(i + 1)) return 1;
    if (!wide) return 0;
    size_t k = 0;
    while (k <= kMaxWideGap && HighAt(i + k)) ++k;
    return k >= 1 && k <= kMaxWideGap && DigitAt(i + k) ? k : 0;
  }
  // Byte i belongs to a digit run.
  bool InRun(size_t i) const {
    const auto c = static_cast<unsigned char>(t[i]);
    if (Digit(c)) return true;
    if (i > 0 && Sep(c) && DigitAt(i - 1) && DigitAt(i + 1)) return true;
    if (!wide || !High(c)) return false;
    size_t b = i;  // the high run holding i
    while (b > 0 && HighAt(b - 1) && i - b < kMaxWideGap) --b;
    return b > 0 && DigitAt(b - 1) && GapAt(b) > i - b;
  }

  // Walks the runs that start in [from, limit) and returns where the walk
  // stopped: the end of the last run seen (which may lie past `limit`), or
  // `limit`. `from` must not be inside a run unless at its first byte.
  size_t Walk(size_t from, size_t limit) const {
    const size_t n = t.size();
    size_t i = from;
    while (i < limit && i < n) {
      if (!DigitAt(i)) {
        ++i;
        continue;
      }
      const size_t start = i;
      uint32_t digits = 0;
      for (;;) {
        while (DigitAt(i)) {
          ++digits;
          ++i;
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

// Bit i of d / s: byte 64k + i of the text is a digit / a separator.
struct BlockMasks {
  uint64_t d = 0, s = 0, h = 0;  // h: bytes above 0x7F
};

// The masks of the 64 bytes at p, by SSE2 compares when the separators fit
// in four registers.
BlockMasks Classify(const unsigned char* p, std::string_view seps, bool wide) {
  BlockMasks m;
#ifdef __SSE2__
  if (seps.size() <= 4) {
    const __m128i zero = _mm_set1_epi8('0'), nine = _mm_set1_epi8(9);
    __m128i sep[4];
    for (size_t j = 0; j < 4; ++j) sep[j] = _mm_set1_epi8(seps[j < seps.size() ? j : 0]);
    for (int q = 0; q < 4; ++q) {
      const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * q));
      const __m128i y = _mm_sub_epi8(x, zero);
      const __m128i digit = _mm_cmpeq_epi8(_mm_min_epu8(y, nine), y);  // x - '0' <= 9
      __m128i sp = _mm_setzero_si128();
      for (size_t j = 0; j < seps.size(); ++j) sp = _mm_or_si128(sp, _mm_cmpeq_epi8(x, sep[j]));
      m.d |= static_cast<uint64_t>(static_cast<uint32_t>(_mm_movemask_epi8(digit))) << (16 * q);
      if (wide) m.h |= static_cast<uint64_t>(static_cast<uint32_t>(_mm_movemask_epi8(x))) << (16 * q);
      m.s |= static_cast<uint64_t>(static_cast<uint32_t>(_mm_movemask_epi8(sp))) << (16 * q);
    }
    return m;
  }
#endif
  for (int i = 0; i < 64; ++i) {
    m.d |= static_cast<uint64_t>(Digit(p[i])) << i;
    m.h |= static_cast<uint64_t>(wide && High(p[i])) << i;
    m.s |= static_cast<uint64_t>(!seps.empty() && std::memchr(seps.data(), p[i], seps.size()) != nullptr) << i;
  }
  return m;
}

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

}  // namespace

void FindDigitRunsReference(std::string_view text, std::string_view separators, bool wide,
                            uint32_t min_digits, Spans* out) {
  Walker{text, separators, wide, min_digits, out}.Walk(0, text.size());
}

void FindDigitRuns(std::string_view text, std::string_view separators, bool wide,
                   uint32_t min_digits, Spans* out) {
  // A run with N digits is at least N bytes long. One pass marks the bytes
  // in runs (64 at a time: digits, and separators between two digits) and
  // looks for N of them in a row; only there is the text walked byte by
  // byte, from the start of the run the stretch lies in.
  const Walker w{text, separators, wide, min_digits, out};
  const size_t n = text.size();
  const size_t blocks = (n + 63) / 64;
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  auto load = [&](size_t k) -> BlockMasks {
    if (k >= blocks) return {};
    if (64 * k + 64 <= n) return Classify(p + 64 * k, separators, wide);
    unsigned char tail[64] = {};
    std::memcpy(tail, p + 64 * k, n - 64 * k);
    BlockMasks m = Classify(tail, separators, wide);
    const size_t valid = n - 64 * k;  // the padding is in no run
    const uint64_t keep = valid >= 64 ? ~uint64_t{0} : (uint64_t{1} << valid) - 1;
    m.d &= keep;
    m.s &= keep;
    m.h &= keep;
    return m;
  };
  BlockMasks prev, cur = load(0), next = load(1);
  uint32_t carry = 0;  // run bytes in a row at the end of the previous block
  size_t done = 0;     // the text before `done` is walked
  for (size_t k = 0; k < blocks; ++k) {
    const uint64_t before = (cur.d << 1) | (prev.d >> 63);
    const uint64_t after = (cur.d >> 1) | (next.d << 63);
    uint64_t in_run = cur.d | (cur.s & before & after);
    if (wide && cur.h != 0) {
      // A superset of the wide gaps' bytes (a digit within kMaxWideGap
      // high bytes on both sides): it only decides where to walk.
      static_assert(kMaxWideGap == 3, "three shifts each side");
      const uint64_t hb1 = (cur.h << 1) | (prev.h >> 63), hb2 = (cur.h << 2) | (prev.h >> 62);
      const uint64_t ha1 = (cur.h >> 1) | (next.h << 63), ha2 = (cur.h >> 2) | (next.h << 62);
      const uint64_t db2 = (cur.d << 2) | (prev.d >> 62), db3 = (cur.d << 3) | (prev.d >> 61);
      const uint64_t da2 = (cur.d >> 2) | (next.d << 62), da3 = (cur.d >> 3) | (next.d << 61);
      const uint64_t left = before | (db2 & hb1) | (db3 & hb2 & hb1);
      const uint64_t right = after | (da2 & ha1) | (da3 & ha2 & ha1);
      in_run |= cur.h & left & right;
    }
    const uint32_t lead = static_cast<uint32_t>(std::countr_one(in_run));
    if ((carry > 0 && carry + lead >= min_digits) || RunsAtLeast(in_run, min_digits) != 0) {
      size_t from = std::max(done, k > 0 ? 64 * (k - 1) : 0);
      while (from > done && w.InRun(from - 1)) --from;  // back to the run's first byte
      if (from < n) done = w.Walk(from, std::min(n, 64 * (k + 1)));
    }
    carry = lead == 64 ? carry + 64 : static_cast<uint32_t>(std::countl_one(in_run));
    prev = cur;
    cur = next;
    next = load(k + 2);
  }
}

}  // namespace tollgate::scan::internal
