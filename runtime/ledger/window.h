// Budget and rate-limit windows, and the clock the ledger reads.
//
// Budgets use CALENDAR windows that roll over exactly at their boundary, in
// UTC (no daylight saving time exists in UTC):
//   minute, hour   -- aligned to the UTC minute / hour
//   day            -- 00:00 UTC to 00:00 UTC
//   week           -- Monday 00:00 UTC to the next Monday
//   month          -- the 1st 00:00 UTC to the next 1st (28..31 days)
//   lifetime       -- one window forever
//   a duration     -- `per 30m`: consecutive windows of that length aligned
//                     to the Unix epoch (1970-01-01 00:00 UTC)
//
// Rate limits use SLIDING windows of the window's length (minute = 60 s,
// hour, day = 24 h, week = 7 d, month = 30 d, a duration); `lifetime` is a
// plain total. See runtime/ledger/ledger.h for the exact bound.
//
// Times are milliseconds since the Unix epoch, UTC. Thread safety: the free
// functions are pure; SystemClock is thread-safe, ManualClock too (atomic).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace tollgate::ledger {

enum class WindowKind : uint8_t { kMinute, kHour, kDay, kWeek, kMonth, kLifetime, kDuration };

struct Window {
  WindowKind kind = WindowKind::kDay;
  int64_t duration_ms = 0;  // kDuration only; > 0
  bool operator==(const Window&) const = default;
};

// [start_ms, end_ms); end_ms is INT64_MAX for lifetime.
struct Interval {
  int64_t start_ms = 0;
  int64_t end_ms = 0;
};

// The calendar window containing now_ms. Cost: O(1).
Interval CalendarWindow(Window w, int64_t now_ms);
// The sliding length of a rate-limit window in ms; INT64_MAX for lifetime.
int64_t SlidingLength(Window w);
// "minute", "hour", "day", "week", "month", "lifetime" or the duration as
// written by the language ("30m", "90s", "1500ms").
std::string WindowName(Window w);
// Parses WindowName's output back. False on anything else.
bool ParseWindowName(const std::string& text, Window* out);
// A human label of the window starting at start_ms: "2026-11-30" (day),
// "2026-11-30T14:00Z" (minute/hour/duration), "week of 2026-11-30",
// "2026-11" (month), "lifetime".
std::string WindowLabel(Window w, int64_t start_ms);
// "2026-11-30T14:05:09.120Z".
std::string FormatUtc(int64_t ms);

// The time source of a ledger. Injected so tests roll windows over exactly.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t NowMs() const = 0;
};

// Wall clock (CLOCK_REALTIME), milliseconds.
class SystemClock : public Clock {
 public:
  int64_t NowMs() const override;
  static const SystemClock& Get();  // a shared immutable instance
};

// A clock tests set by hand.
class ManualClock : public Clock {
 public:
  explicit ManualClock(int64_t now_ms = 0) : now_(now_ms) {}
  int64_t NowMs() const override { return now_.load(std::memory_order_relaxed); }
  void Set(int64_t ms) { now_.store(ms, std::memory_order_relaxed); }
  void Advance(int64_t ms) { now_.fetch_add(ms, std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> now_;
};

}  // namespace tollgate::ledger
