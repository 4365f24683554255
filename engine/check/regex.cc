// Pass `regex`: every pattern used by `matches` or `redact` is a detector or
// a constant string that compiles under RE2 (linear time by construction),
// within Limits::max_regex_program_size. RE2's own error text is reported.
#include <memory>
#include <set>

#include <re2/re2.h>

#include "engine/check/passes.h"

namespace tollgate::check {
namespace {

using ast::Expr;
using ast::ExprKind;
using ast::RefKind;

class RegexChecker {
 public:
  explicit RegexChecker(Context& ctx) : ctx_(ctx) {}

  void Root(const check::Root& root) {
    depth_reported_ = false;
    if (root.role == Role::kRedact) Pattern(*root.expr, "the pattern of `redact`");
    Walk(*root.expr, 1);
  }

 private:
  void Walk(Expr& e, uint32_t depth) {
    if (ctx_.DepthExceeded(depth, e.span, &depth_reported_)) return;
    if (e.kind == ExprKind::kBinary && e.op == ast::Op::kMatches && e.kids.size() == 2)
      Pattern(*e.kids[1], "the pattern of `matches`");
    for (auto& k : e.kids) Walk(*k, depth + 1);
  }

  void Pattern(Expr& p, const std::string& what) {
    if (p.ref == RefKind::kDetector || !p.type.is(Kind::kString)) return;  // detector, or reported
    auto v = FoldExpr(ctx_, p);
    if (!v) {
      if (FoldFailed(ctx_, p)) return;  // tg_invalid_value already reported
      ctx_.Error("tg_not_constant", p.span, what + " must be a detector or a constant string",
                 "patterns are compiled once, when the policy loads");
      return;
    }
    std::string pattern(v->sv());
    if (!checked_.insert(pattern).second) return;  // one report per distinct pattern
    RE2::Options opts;
    opts.set_log_errors(false);
    // Generous memory so that the explicit program-size limit decides.
    opts.set_max_mem(int64_t(ctx_.options.limits.max_regex_program_size) * 1024 + (1 << 20));
    RE2 re(pattern, opts);
    if (!re.ok()) {
      if (re.error_code() == RE2::ErrorPatternTooLarge) {
        TooLarge(p, pattern);
        return;
      }
      ctx_.Error("tg_invalid_regex", p.span, "invalid regular expression `" + pattern + "`: " + re.error(),
                 "patterns use RE2 syntax (no backreferences or lookaround)");
      return;
    }
    if (re.ProgramSize() > int(ctx_.options.limits.max_regex_program_size)) TooLarge(p, pattern);
  }

  void TooLarge(const Expr& p, const std::string& pattern) {
    ctx_.Error("tg_limit_exceeded", p.span,
               "regular expression `" + pattern + "` is too large (limit " +
                   std::to_string(ctx_.options.limits.max_regex_program_size) + " instructions)",
               "simplify it, or split it into several rules");
  }

  Context& ctx_;
  std::set<std::string> checked_;
  bool depth_reported_ = false;
};

}  // namespace

bool Regex(Context& ctx) {
  int before = ctx.errors;
  RegexChecker r(ctx);
  for (const auto& root : CollectRoots(*ctx.policy)) r.Root(root);
  return ctx.errors == before;
}

}  // namespace tollgate::check
