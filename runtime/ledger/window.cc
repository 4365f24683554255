#include "runtime/ledger/window.h"

#include "engine/core/civil.h"

#include <charconv>
#include <chrono>
#include <climits>
#include <cstdio>
#include <string>

namespace tollgate::ledger {
namespace {

constexpr int64_t kMinuteMs = 60'000;
constexpr int64_t kHourMs = 3'600'000;
constexpr int64_t kDayMs = 86'400'000;


}  // namespace


Interval CalendarWindow(Window w, int64_t now) {
  auto aligned = [now](int64_t len) {
    int64_t s = FloorDiv(now, len) * len;
    return Interval{s, s + len};
  };
  switch (w.kind) {
    case WindowKind::kMinute: return aligned(kMinuteMs);
    case WindowKind::kHour: return aligned(kHourMs);
    case WindowKind::kDay: return aligned(kDayMs);
    case WindowKind::kDuration: return aligned(w.duration_ms > 0 ? w.duration_ms : 1);
    case WindowKind::kWeek: {
      const int64_t days = FloorDiv(now, kDayMs);
      // 1970-01-01 was a Thursday: (days + 3) mod 7 is 0 on Mondays.
      const int64_t monday = days - ((days + 3) % 7 + 7) % 7;
      return Interval{monday * kDayMs, (monday + 7) * kDayMs};
    }
    case WindowKind::kMonth: {
      int64_t y;
      unsigned m, d;
      CivilFromDays(FloorDiv(now, kDayMs), &y, &m, &d);
      const int64_t first = DaysFromCivil(y, m, 1);
      const int64_t next = m == 12 ? DaysFromCivil(y + 1, 1, 1) : DaysFromCivil(y, m + 1, 1);
      return Interval{first * kDayMs, next * kDayMs};
    }
    case WindowKind::kLifetime: return Interval{0, INT64_MAX};
  }
  return Interval{0, INT64_MAX};
}

int64_t SlidingLength(Window w) {
  switch (w.kind) {
    case WindowKind::kMinute: return kMinuteMs;
    case WindowKind::kHour: return kHourMs;
    case WindowKind::kDay: return kDayMs;
    case WindowKind::kWeek: return 7 * kDayMs;
    case WindowKind::kMonth: return 30 * kDayMs;
    case WindowKind::kDuration: return w.duration_ms > 0 ? w.duration_ms : 1;
    case WindowKind::kLifetime: return INT64_MAX;
  }
  return INT64_MAX;
}

std::string WindowName(Window w) {
  switch (w.kind) {
    case WindowKind::kMinute: return "minute";
    case WindowKind::kHour: return "hour";
    case WindowKind::kDay: return "day";
    case WindowKind::kWeek: return "week";
    case WindowKind::kMonth: return "month";
    case WindowKind::kLifetime: return "lifetime";
    case WindowKind::kDuration: break;
  }
  const int64_t ms = w.duration_ms;
  struct U { int64_t len; const char* s; };
  for (U u : {U{7 * kDayMs, "w"}, U{kDayMs, "d"}, U{kHourMs, "h"}, U{kMinuteMs, "m"}, U{1000, "s"}}) {
    if (ms > 0 && ms % u.len == 0) return std::to_string(ms / u.len) + u.s;
  }
  return std::to_string(ms) + "ms";
}

bool ParseWindowName(const std::string& t, Window* out) {
  static const std::pair<const char*, WindowKind> kNamed[] = {
      {"minute", WindowKind::kMinute}, {"hour", WindowKind::kHour}, {"day", WindowKind::kDay},
      {"week", WindowKind::kWeek},     {"month", WindowKind::kMonth}, {"lifetime", WindowKind::kLifetime}};
  for (const auto& [n, k] : kNamed) {
    if (t == n) {
      *out = Window{k, 0};
      return true;
    }
  }
  size_t i = 0;
  while (i < t.size() && t[i] >= '0' && t[i] <= '9') ++i;
  if (i == 0 || i > 15) return false;
  int64_t n = 0;
  std::from_chars(t.data(), t.data() + i, n);  // at most 15 digits: never overflows
  const std::string unit = t.substr(i);
  int64_t mul = 0;
  if (unit == "ms") mul = 1;
  else if (unit == "s") mul = 1000;
  else if (unit == "m") mul = kMinuteMs;
  else if (unit == "h") mul = kHourMs;
  else if (unit == "d") mul = kDayMs;
  else if (unit == "w") mul = 7 * kDayMs;
  if (mul == 0 || n <= 0 || n > INT64_MAX / mul) return false;
  *out = Window{WindowKind::kDuration, n * mul};
  return true;
}

std::string FormatUtc(int64_t ms) { return FormatUtcMillis(ms); }

std::string WindowLabel(Window w, int64_t start) {
  const std::string iso = FormatUtc(start);
  switch (w.kind) {
    case WindowKind::kDay: return iso.substr(0, 10);
    case WindowKind::kWeek: return "week of " + iso.substr(0, 10);
    case WindowKind::kMonth: return iso.substr(0, 7);
    case WindowKind::kLifetime: return "lifetime";
    case WindowKind::kMinute:
    case WindowKind::kHour: return iso.substr(0, 16) + "Z";
    case WindowKind::kDuration:
      return w.duration_ms % 60'000 == 0 ? iso.substr(0, 16) + "Z" : iso;
  }
  return iso;
}

int64_t SystemClock::NowMs() const {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

const SystemClock& SystemClock::Get() {
  static const SystemClock clock;
  return clock;
}

}  // namespace tollgate::ledger
