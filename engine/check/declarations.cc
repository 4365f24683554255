// Pass `declarations`: duplicate names, reserved names, the rule-count limit.
#include <map>
#include <string>

#include "engine/check/passes.h"
#include "stdlib/redact.h"

namespace tollgate::check {
namespace {

// " on line 3", or " in `legal.tg` on line 3" when `s` is in another file
// than `from` (a policy composed of several files).
std::string Where(const Span& s, const Span& from) {
  if (s.line == 0) return "";
  std::string file;
  if (s.file != nullptr && s.file != from.file) file = " in `" + s.file->path + "`";
  return file + " on line " + std::to_string(s.line);
}

// One namespace of declaration names. Reports the second and later
// declarations of a name, pointing back at the first.
class NameSpace {
 public:
  NameSpace(Context& ctx, const char* what) : ctx_(ctx), what_(what) {}
  void Declare(const std::string& name, const Span& span, const char* kind) {
    if (name.empty()) return;
    auto [it, inserted] = first_.emplace(name, std::make_pair(span, kind));
    if (inserted) return;
    ctx_.ErrorWithNote("tg_duplicate_name", span,
                       std::string(what_) + " `" + name + "` is already declared",
                       std::string("the first ") + it->second.second + " `" + name + "` is declared" +
                           Where(it->second.first, span) + "; rename one of them",
                       it->second.first,
                       std::string("the first ") + it->second.second + " `" + name + "` is here");
  }

 private:
  Context& ctx_;
  const char* what_;
  std::map<std::string, std::pair<Span, const char*>> first_;
};

}  // namespace

bool Declarations(Context& ctx) {
  int before = ctx.errors;
  ast::Policy& p = *ctx.policy;

  if (p.rules.size() > ctx.options.limits.max_rules) {
    ctx.Error("tg_limit_exceeded", p.rules[ctx.options.limits.max_rules].name_span,
              "policy has " + std::to_string(p.rules.size()) + " rules, more than the limit of " +
                  std::to_string(ctx.options.limits.max_rules),
              "split the policy or raise Limits::max_rules");
  }

  // Consts and data documents share one namespace: both are value names.
  NameSpace values(ctx, "name");
  for (auto& c : p.consts) {
    if (ctx.IsRoot(c.name)) {
      ctx.Error("tg_duplicate_name", c.span, "const `" + c.name + "` uses a reserved name",
                "`" + c.name + "` is the root of schema fields; choose another name");
      continue;
    }
    values.Declare(c.name, c.span, "const");
  }
  for (auto& l : p.lets) {
    if (ctx.IsRoot(l.name)) {
      ctx.Error("tg_duplicate_name", l.span, "let `" + l.name + "` uses a reserved name",
                "`" + l.name + "` is the root of schema fields; choose another name");
      continue;
    }
    values.Declare(l.name, l.span, "let");
  }
  for (auto& d : p.data) {
    if (ctx.IsRoot(d.name)) {
      ctx.Error("tg_duplicate_name", d.span, "data `" + d.name + "` uses a reserved name",
                "`" + d.name + "` is the root of schema fields; choose another name");
      continue;
    }
    values.Declare(d.name, d.span, "data");
  }

  NameSpace rules(ctx, "rule");
  for (auto& r : p.rules) {
    rules.Declare(r.name, r.name_span, "rule");
    // Checked here, not first when a decision is redacted: a replacement the
    // redactor would refuse must not pass `check`.
    for (const auto& ef : r.effects) {
      if (ef.kind == ast::EffectKind::kRedact && ef.text.size() > stdlib::kMaxRedactReplacementBytes)
        ctx.Error("tg_limit_exceeded", ef.span,
                  "redaction replacement is " + std::to_string(ef.text.size()) +
                      " bytes, more than the limit of " +
                      std::to_string(stdlib::kMaxRedactReplacementBytes),
                  "use a short marker such as \"[redacted]\"");
    }
  }
  NameSpace budgets(ctx, "budget");
  for (auto& b : p.budgets) budgets.Declare(b.name, b.span, "budget");
  NameSpace limits(ctx, "limit");
  for (auto& l : p.limits) limits.Declare(l.name, l.span, "limit");
  NameSpace fixtures(ctx, "fixture");
  for (auto& f : p.fixtures) fixtures.Declare(f.name, f.name_span, "fixture");
  NameSpace tests(ctx, "test");
  for (auto& t : p.tests) tests.Declare(t.name, t.span, "test");

  return ctx.errors == before;
}

}  // namespace tollgate::check
