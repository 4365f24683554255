// Pass `zones`: one condition reading the calendar in two clocks
// (tg_mixed_time_zones). A business-hours rule that gives the office's zone
// to one calendar call and leaves another on UTC
//
//   when hour(context.time, "Europe/Paris") in 9..17 and weekday(context.time) <= 5
//
// checks clean and decides by the wrong day near midnight: Monday 00:30 in
// Paris is Sunday 23:30 UTC, so the rule does not hold on Monday morning
// and holds on Saturday morning before the UTC day turns. The warning names
// the UTC call (one without a zone argument) of a condition -- `when`, mode
// condition, `require`, budget or limit `when` -- whose other calendar call
// on the same time names a zone other than UTC. Calls that give different
// zones on purpose (`hour(t, "Europe/Paris")` or `hour(t,
// "America/New_York")`: either office open) and an explicit `"UTC"` are
// quiet; so are calls the checker folded (constant times) and zones computed
// per request. Runs after `fold`, which folds the zone arguments.
#include <set>
#include <string_view>
#include <tuple>

#include "engine/check/passes.h"
#include "stdlib/builtins.h"

namespace tollgate::check {
namespace {

using ast::Expr;
using ast::ExprKind;

// The calendar builtins: each has a UTC overload (time) and a zoned one
// (time, zone).
bool IsCalendar(std::string_view name) {
  for (std::string_view n : {"hour", "minute", "weekday", "day_of_month", "day", "month", "year", "date"})
    if (name == n) return true;
  return false;
}

// Names of the system database that read as UTC itself.
bool IsUtcName(std::string_view z) {
  for (std::string_view n : {"UTC", "Etc/UTC", "UCT", "Etc/UCT", "GMT", "Etc/GMT", "GMT0", "Etc/GMT0",
                             "GMT+0", "Etc/GMT+0", "GMT-0", "Etc/GMT-0", "Greenwich", "Etc/Greenwich",
                             "Universal", "Etc/Universal", "Zulu", "Etc/Zulu"})
    if (z == n) return true;
  return false;
}

struct Call {
  const Expr* call;
  std::string_view time;  // the time argument as written
  std::string zone;       // "" for the UTC overload
};

class ZoneChecker {
 public:
  explicit ZoneChecker(Context& ctx) : ctx_(ctx) {}

  void Root(const Expr& e) {
    calls_.clear();
    depth_reported_ = false;
    Collect(e, 1);
    for (const Call& utc : calls_) {
      if (!utc.zone.empty()) continue;
      for (const Call& zoned : calls_) {
        if (zoned.zone.empty() || IsUtcName(zoned.zone) || zoned.time != utc.time) continue;
        Report(utc, zoned);
        break;
      }
    }
  }

 private:
  void Collect(const Expr& e, uint32_t depth) {
    if (ctx_.DepthExceeded(depth, e.span, &depth_reported_)) return;
    for (const auto& k : e.kids) Collect(*k, depth + 1);
    if (e.kind != ExprKind::kCall || e.index < 0 || size_t(e.index) >= stdlib::Builtins().size()) return;
    const stdlib::BuiltinDecl& d = stdlib::Builtins()[e.index];
    if (!IsCalendar(d.name) || e.folded || e.kids.empty()) return;
    Call c{&e, ctx_.Text(e.kids[0]->span), ""};
    if (e.kids.size() == 2) {
      const Expr& z = *e.kids[1];
      if (!z.folded || z.folded->kind != Kind::kString) return;  // per request: unknown
      c.zone = std::string(z.folded->sv());
    }
    calls_.push_back(std::move(c));
  }

  void Report(const Call& utc, const Call& zoned) {
    // A let is expanded into every use: one report per place.
    const Span& at = utc.call->span;
    if (!reported_.insert(std::make_tuple(static_cast<const void*>(at.file), at.begin, at.end)).second)
      return;
    const std::string name(stdlib::Builtins()[utc.call->index].name);
    ctx_.Warning("tg_mixed_time_zones", at,
                 "`" + std::string(ctx_.Text(at)) + "` reads the UTC calendar, while `" +
                     std::string(ctx_.Text(zoned.call->span)) + "` in the same condition reads `" +
                     zoned.zone + "`",
                 "write `" + name + "(" + std::string(utc.time) + ", \"" + zoned.zone +
                     "\")` to read one clock: the UTC calendar is not the one in `" + zoned.zone +
                     "` (its day changes at another hour), so the condition holds at the wrong "
                     "times; give the zone `\"UTC\"` if UTC is meant");
  }

  Context& ctx_;
  std::vector<Call> calls_;
  bool depth_reported_ = false;
  std::set<std::tuple<const void*, uint32_t, uint32_t>> reported_;
};

}  // namespace

bool Zones(Context& ctx) {
  ZoneChecker z(ctx);
  for (const auto& root : CollectRoots(*ctx.policy)) {
    switch (root.role) {
      case Role::kWhen:
      case Role::kModeWhen:
      case Role::kRequire:
      case Role::kBudgetWhen:
      case Role::kLimitWhen: z.Root(*root.expr); break;
      default: break;
    }
  }
  return true;  // warnings only
}

}  // namespace tollgate::check
