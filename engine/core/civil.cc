#include "engine/core/civil.h"

#include <cstdio>

namespace tollgate {

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<int64_t>(yoe) + era * 400 + (*m <= 2);
}

std::string FormatUtcMillis(int64_t unix_ms) {
  const int64_t days = FloorDiv(unix_ms, 86'400'000);
  const int64_t rem = unix_ms - days * 86'400'000;
  int64_t y;
  unsigned m, d;
  CivilFromDays(days, &y, &m, &d);
  const unsigned hh = static_cast<unsigned>(rem / 3'600'000), mm = static_cast<unsigned>(rem / 60'000 % 60),
                 ss = static_cast<unsigned>(rem / 1000 % 60), ms = static_cast<unsigned>(rem % 1000);
  char buf[64];
  if (y < 0 || y > 9999) {
    int n = std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02u:%02u:%02u.%03uZ", static_cast<long long>(y), m, d,
                          hh, mm, ss, ms);
    return std::string(buf, n > 0 ? static_cast<size_t>(n) : 0);
  }
  auto put = [](char* p, unsigned v, int width) {
    for (int i = width - 1; i >= 0; --i, v /= 10) p[i] = static_cast<char>('0' + v % 10);
  };
  put(buf, static_cast<unsigned>(y), 4);
  buf[4] = '-';
  put(buf + 5, m, 2);
  buf[7] = '-';
  put(buf + 8, d, 2);
  buf[10] = 'T';
  put(buf + 11, hh, 2);
  buf[13] = ':';
  put(buf + 14, mm, 2);
  buf[16] = ':';
  put(buf + 17, ss, 2);
  buf[19] = '.';
  put(buf + 20, ms, 3);
  buf[23] = 'Z';
  return std::string(buf, 24);
}

}  // namespace tollgate
