// Exact fixed-point arithmetic in micro-units. All intermediate products use
// __int128 so that nothing overflows before the final range check.
#include "engine/core/money.h"

#include <limits>

namespace tollgate {

namespace {

using i128 = __int128;

std::optional<int64_t> Narrow(i128 v) {
  if (v > std::numeric_limits<int64_t>::max() || v < std::numeric_limits<int64_t>::min()) {
    return std::nullopt;
  }
  return static_cast<int64_t>(v);
}

// n / d rounded half to even. d != 0.
i128 DivHalfEven(i128 n, i128 d) {
  if (d < 0) {
    n = -n;
    d = -d;
  }
  i128 q = n / d;  // truncates toward zero
  i128 r = n % d;  // same sign as n
  if (r == 0) return q;
  i128 twice = (r < 0 ? -r : r) * 2;
  bool away = twice > d || (twice == d && (q % 2 != 0));
  if (away) q += (n < 0) ? -1 : 1;
  return q;
}

}  // namespace

std::optional<int64_t> ParseMicros(std::string_view text) {
  size_t i = 0;
  bool neg = false;
  if (i < text.size() && text[i] == '-') {
    neg = true;
    ++i;
  }
  i128 whole = 0;
  size_t int_digits = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    whole = whole * 10 + (text[i] - '0');
    if (whole > (i128)std::numeric_limits<int64_t>::max()) return std::nullopt;
    ++i;
    ++int_digits;
  }
  if (int_digits == 0) return std::nullopt;
  i128 frac = 0;
  int frac_digits = 0;
  if (i < text.size() && text[i] == '.') {
    ++i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (frac_digits == 6) return std::nullopt;
      frac = frac * 10 + (text[i] - '0');
      ++frac_digits;
      ++i;
    }
    if (frac_digits == 0) return std::nullopt;
  }
  if (i != text.size()) return std::nullopt;
  for (int k = frac_digits; k < 6; ++k) frac *= 10;
  i128 v = whole * kMicros + frac;
  return Narrow(neg ? -v : v);
}

std::string FormatMicros(int64_t micros, int min_frac) {
  if (min_frac < 0) min_frac = 0;
  if (min_frac > 6) min_frac = 6;
  bool neg = micros < 0;
  // Work in unsigned so INT64_MIN does not overflow.
  uint64_t mag = neg ? (~static_cast<uint64_t>(micros) + 1) : static_cast<uint64_t>(micros);
  uint64_t whole = mag / kMicros;
  uint64_t frac = mag % kMicros;
  std::string out = neg ? "-" : "";
  out += std::to_string(whole);
  std::string f = std::to_string(frac);
  f.insert(0, 6 - f.size(), '0');
  size_t keep = 6;
  while (keep > static_cast<size_t>(min_frac) && f[keep - 1] == '0') --keep;
  if (keep > 0) {
    out += '.';
    out.append(f, 0, keep);
  }
  return out;
}

std::optional<int64_t> AddChecked(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
  return r;
}

std::optional<int64_t> SubChecked(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_sub_overflow(a, b, &r)) return std::nullopt;
  return r;
}

std::optional<int64_t> MulChecked(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}

std::optional<int64_t> MulMicros(int64_t a, int64_t b) {
  return Narrow(DivHalfEven(static_cast<i128>(a) * b, kMicros));
}

std::optional<int64_t> DivMicros(int64_t a, int64_t b) {
  if (b == 0) return std::nullopt;
  return Narrow(DivHalfEven(static_cast<i128>(a) * kMicros, b));
}

std::optional<int64_t> DivRound(int64_t a, int64_t b) {
  if (b == 0) return std::nullopt;
  return Narrow(DivHalfEven(a, b));
}

}  // namespace tollgate
