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
    if (e.kind == ExprKind::kBinary && e.op == ast::Op::kMatches && e.kids.size() == 2) {
      Pattern(*e.kids[1], "the pattern of `matches`");
      JoinedAnchor(*e.kids[0], *e.kids[1]);
    }
    if (e.kind == ExprKind::kCall && (e.name == "starts_with" || e.name == "ends_with") &&
        e.kids.size() == 2)
      JoinedEdge(e);
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

  // `request.content matches "^/admin"`: request.content is every text of
  // the request joined with "\n", and RE2's `^` / `$` (without the `m` flag)
  // anchor at the start / end of that whole text -- the first message's start
  // (usually the system prompt's), the last text's end -- so a command or a
  // marker in any other message passes unseen.
  void JoinedAnchor(const Expr& subject, Expr& p) {
    if (subject.ref != RefKind::kField || subject.index < 0 ||
        ctx_.schema->field(subject.index).path != "request.content" || p.ref == RefKind::kDetector)
      return;
    auto v = FoldExpr(ctx_, p);
    if (!v || v->kind != Kind::kString) return;
    const char anchor = TextAnchor(v->sv());
    if (anchor == 0 || !anchored_.insert(std::string(v->sv())).second) return;
    const std::string pattern(v->sv());
    ctx_.Warning("tg_joined_text_anchor", p.span,
                 "`" + std::string(1, anchor) + "` in `" + pattern + "` anchors at the " +
                     (anchor == '^' ? "start" : "end") +
                     " of `request.content`, every text of the request joined with newlines, so it sees only the " +
                     (anchor == '^' ? "start of the first message (often the system prompt)"
                                    : "end of the last text"),
                 "write `(?m)` first for every line (`(?m)" + pattern +
                     "`), or test each message: `any m in request.messages: m.content matches \"" + pattern +
                     "\"`");
  }

  // `request.content starts_with "/admin"` (or `ends_with`, also through
  // `lower`, `upper`, `trim`): the joined text starts with the first
  // message's text -- usually the system prompt -- and ends with the last
  // text, so the test is the one `matches "^/admin"` makes, and a user's
  // `/admin` passes. As for `^`, the help tests each message.
  void JoinedEdge(Expr& call) {
    const Expr* subject = call.kids[0].get();
    while (subject->kind == ExprKind::kCall && subject->kids.size() == 1 &&
           (subject->name == "lower" || subject->name == "upper" || subject->name == "trim"))
      subject = subject->kids[0].get();
    if (subject->ref != RefKind::kField || subject->index < 0 ||
        ctx_.schema->field(subject->index).path != "request.content")
      return;
    auto v = FoldExpr(ctx_, *call.kids[1]);
    if (!v || v->kind != Kind::kString || v->sv().empty()) return;
    const bool start = call.name == "starts_with";
    std::string lit = "\"";
    for (char c : v->sv()) lit += c == '"' || c == '\\' ? std::string("\\") + c : std::string(1, c);
    lit += '"';
    // The subject as written, with the message's text for the joined one.
    std::string each(ctx_.Text(call.kids[0]->span));
    const size_t at = each.find("request.content");
    if (at == std::string::npos) each = "m.content";
    else each.replace(at, std::string("request.content").size(), "m.content");
    ctx_.Warning("tg_joined_text_anchor", call.span,
                 "`" + call.name + "` tests the " + (start ? "start" : "end") +
                     " of `request.content`, every text of the request joined with newlines, so it "
                     "sees only the " +
                     (start ? "start of the first message (often the system prompt)"
                            : "end of the last text"),
                 "test each message: `any m in request.messages: " + each + " " + call.name + " " +
                     lit + "`");
  }

  // `^` or `$` outside a character class and not escaped, in a pattern
  // without the multi-line flag; 0 when none.
  static char TextAnchor(std::string_view re) {
    bool in_class = false;
    char found = 0;
    for (size_t i = 0; i < re.size(); ++i) {
      const char c = re[i];
      if (c == '\\') {
        ++i;  // an escaped character (\A and \z are explicit)
        continue;
      }
      if (in_class) {
        if (c == ']') in_class = false;
        continue;
      }
      if (c == '[') {
        in_class = true;
        if (i + 1 < re.size() && re[i + 1] == '^') ++i;
        if (i + 1 < re.size() && re[i + 1] == ']') ++i;  // `[]` and `[^]` start with a literal `]`
        continue;
      }
      if (c == '(' && i + 1 < re.size() && re[i + 1] == '?') {
        // A flag group `(?flags)` / `(?flags:...)`: `m` before any `-` turns
        // the multi-line mode on.
        for (size_t j = i + 2; j < re.size() && re[j] != ')' && re[j] != ':' && re[j] != '-'; ++j)
          if (re[j] == 'm') return 0;
        continue;
      }
      if ((c == '^' || c == '$') && found == 0) {
        // `(^|\n)`, `(\s|$)`: the author joined the anchor with a line
        // break or another edge, as the joined text needs.
        const char before = i > 0 ? re[i - 1] : 0, after = i + 1 < re.size() ? re[i + 1] : 0;
        if (!((before == '(' && after == '|') || (before == '|' && after == ')'))) found = c;
      }
    }
    return found;
  }

  void TooLarge(const Expr& p, const std::string& pattern) {
    ctx_.Error("tg_limit_exceeded", p.span,
               "regular expression `" + pattern + "` is too large (limit " +
                   std::to_string(ctx_.options.limits.max_regex_program_size) + " instructions)",
               "simplify it, or split it into several rules");
  }

  Context& ctx_;
  std::set<std::string> checked_;
  std::set<std::string> anchored_;
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
