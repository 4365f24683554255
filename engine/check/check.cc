// check::Check(): builds the Context and runs the passes in order.
#include "engine/check/check.h"

#include <algorithm>

#include "engine/check/passes.h"

namespace tollgate::check {

const char* RoleName(Role r) {
  switch (r) {
    case Role::kConst: return "const";
    case Role::kLet: return "let";
    case Role::kWhen: return "when";
    case Role::kModeWhen: return "mode ... when";
    case Role::kRequire: return "require";
    case Role::kRedact: return "redact";
    case Role::kTag: return "tag";
    case Role::kMessage: return "message";
    case Role::kMaxPrice: return "max_price";
    case Role::kOrder: return "order";
    case Role::kBudgetWhen: return "when";
    case Role::kLimitWhen: return "when";
    case Role::kBudgetKey: return "key";
    case Role::kBudgetLimit: return "limit";
    case Role::kLimitKey: return "key";
    case Role::kLimitMax: return "max";
    case Role::kGiven: return "given";
    case Role::kCandidate: return "candidate";
    case Role::kExpectTag: return "expect tag";
    case Role::kExpectMaxPrice: return "max_price";
    case Role::kExpectOrder: return "order";
  }
  return "?";
}

std::string NeverHolds(const ast::Policy& p, const Root& root) {
  switch (root.role) {
    case Role::kWhen: return "rule `" + p.rules[root.owner].name + "` can never fire";
    case Role::kModeWhen:
      return "the mode condition of rule `" + p.rules[root.owner].name + "` never holds";
    case Role::kRequire:
      return "a require of rule `" + p.rules[root.owner].name +
             "` never holds, so it rejects every endpoint";
    case Role::kBudgetWhen: return "budget `" + p.budgets[root.owner].name + "` never applies";
    case Role::kLimitWhen: return "limit `" + p.limits[root.owner].name + "` never applies";
    default: return "";
  }
}

static void AddHints(std::vector<Root>* out, std::vector<ast::RouteHint>& hints, bool expect,
                     int owner) {
  for (auto& h : hints) {
    if (!h.expr) continue;
    if (h.kind == ast::RouteHintKind::kMaxPrice)
      out->push_back({expect ? Role::kExpectMaxPrice : Role::kMaxPrice, h.expr.get(), owner});
    else if (h.kind == ast::RouteHintKind::kOrder)
      out->push_back({expect ? Role::kExpectOrder : Role::kOrder, h.expr.get(), owner});
  }
}

std::vector<Root> CollectRoots(ast::Policy& p) {
  std::vector<Root> out;
  for (size_t i = 0; i < p.consts.size(); ++i)
    if (p.consts[i].expr) out.push_back({Role::kConst, p.consts[i].expr.get(), int(i)});
  for (size_t i = 0; i < p.lets.size(); ++i)
    if (p.lets[i].expr) out.push_back({Role::kLet, p.lets[i].expr.get(), int(i)});
  for (size_t i = 0; i < p.rules.size(); ++i) {
    auto& r = p.rules[i];
    if (r.when) out.push_back({Role::kWhen, r.when.get(), int(i)});
    if (r.mode_when) out.push_back({Role::kModeWhen, r.mode_when.get(), int(i)});
    for (auto& e : r.effects) {
      switch (e.kind) {
        case ast::EffectKind::kRequire:
          if (e.expr) out.push_back({Role::kRequire, e.expr.get(), int(i)});
          break;
        case ast::EffectKind::kRedact:
          if (e.expr) out.push_back({Role::kRedact, e.expr.get(), int(i)});
          break;
        case ast::EffectKind::kTag:
          if (e.expr) out.push_back({Role::kTag, e.expr.get(), int(i)});
          break;
        case ast::EffectKind::kDeny:
        case ast::EffectKind::kWarn:
          if (e.expr) out.push_back({Role::kMessage, e.expr.get(), int(i)});
          break;
        case ast::EffectKind::kRoute: AddHints(&out, e.hints, false, int(i)); break;
        default: break;
      }
    }
  }
  for (size_t i = 0; i < p.budgets.size(); ++i) {
    if (p.budgets[i].when) out.push_back({Role::kBudgetWhen, p.budgets[i].when.get(), int(i)});
    if (p.budgets[i].key) out.push_back({Role::kBudgetKey, p.budgets[i].key.get(), int(i)});
    if (p.budgets[i].limit) out.push_back({Role::kBudgetLimit, p.budgets[i].limit.get(), int(i)});
  }
  for (size_t i = 0; i < p.limits.size(); ++i) {
    if (p.limits[i].when) out.push_back({Role::kLimitWhen, p.limits[i].when.get(), int(i)});
    if (p.limits[i].key) out.push_back({Role::kLimitKey, p.limits[i].key.get(), int(i)});
    if (p.limits[i].max) out.push_back({Role::kLimitMax, p.limits[i].max.get(), int(i)});
  }
  for (auto& f : p.fixtures)
    for (auto& b : f.given)
      if (b.value) out.push_back({Role::kGiven, b.value.get(), -1});
  for (size_t i = 0; i < p.tests.size(); ++i) {
    auto& t = p.tests[i];
    for (auto& b : t.given)
      if (b.value) out.push_back({Role::kGiven, b.value.get(), int(i)});
    for (auto& b : t.candidate)
      if (b.value) out.push_back({Role::kCandidate, b.value.get(), int(i)});
    for (auto& x : t.expects) {
      if (x.value) out.push_back({Role::kExpectTag, x.value.get(), int(i)});
      if (x.hint && x.hint->expr) {
        if (x.hint->kind == ast::RouteHintKind::kMaxPrice)
          out.push_back({Role::kExpectMaxPrice, x.hint->expr.get(), int(i)});
        else if (x.hint->kind == ast::RouteHintKind::kOrder)
          out.push_back({Role::kExpectOrder, x.hint->expr.get(), int(i)});
      }
    }
  }
  return out;
}

static void CollectWitnesses(const ast::Expr* e,
                             std::vector<std::pair<std::string, const ast::Expr*>>* out) {
  if (e == nullptr) return;
  if (e->kind == ast::ExprKind::kBinary && e->op == ast::Op::kAnd && e->kids.size() == 2) {
    CollectWitnesses(e->kids[0].get(), out);
    CollectWitnesses(e->kids[1].get(), out);
  } else if (e->kind == ast::ExprKind::kQuantifier && !e->quant_all && e->kids.size() == 2) {
    out->emplace_back(e->name, e);
    CollectWitnesses(e->kids[1].get(), out);
  }
}

std::vector<std::pair<std::string, const ast::Expr*>> Witnesses(const ast::Expr* when) {
  std::vector<std::pair<std::string, const ast::Expr*>> out;
  CollectWitnesses(when, &out);
  return out;
}

const std::vector<std::string>& NamespaceRoots() {
  static const std::vector<std::string> roots = {"principal", "request",  "context",
                                                 "provider",  "endpoint", "dlp"};
  return roots;
}

bool Context::IsRoot(std::string_view name) const {
  return std::binary_search(roots.begin(), roots.end(), name);
}

namespace {

// Every diagnostic carries a help line. Passes give specific advice; this is
// the last resort for a call site that gave none (one line per code).
std::string DefaultHelp(std::string_view code) {
  if (code == "tg_invalid_value")
    return "this value is computed when the policy loads: change the constants so that it is valid";
  if (code == "tg_not_constant")
    return "use only literals, consts and data here; request fields are known only per request";
  if (code == "tg_type_error") return "see the types of the operands in the message";
  if (code == "tg_limit_exceeded") return "simplify the policy or raise the limit in Limits";
  if (code == "tg_unknown_field") return "the fields of the decision input are listed in docs/decision-input.md";
  return "see the diagnostic codes in docs/language.md";
}

}  // namespace

void Context::Error(std::string_view code, const Span& span, std::string message,
                    std::string help) {
  ++errors;
  if (help.empty()) help = DefaultHelp(code);
  diags->Error(std::string(code), span, std::move(message), std::move(help));
}

void Context::ErrorWithNote(std::string_view code, const Span& span, std::string message,
                            std::string help, const Span& note_span, std::string note) {
  ++errors;
  if (help.empty()) help = DefaultHelp(code);
  diags->ErrorWithNote(std::string(code), span, std::move(message), std::move(help), note_span,
                       std::move(note));
}

void Context::Warning(std::string_view code, const Span& span, std::string message,
                      std::string help) {
  if (help.empty()) help = DefaultHelp(code);
  diags->Warning(std::string(code), span, std::move(message), std::move(help));
}

bool Context::DepthExceeded(uint32_t depth, const Span& span, bool* reported) {
  if (depth <= options.limits.max_nesting_depth) return false;
  if ((reported == nullptr || !*reported) && depth_reported_at.insert(span.begin).second) {
    Error("tg_limit_exceeded", span,
          "expression nests deeper than " + std::to_string(options.limits.max_nesting_depth) +
              " levels",
          "split it into consts or smaller rules");
  }
  if (reported) *reported = true;
  return true;
}

bool Context::FoldWork(uint64_t units, const Span& span) {
  if (fold_exhausted) return false;
  fold_work += units;
  if (fold_work <= options.limits.max_fold_work) return true;
  fold_exhausted = true;
  Error("tg_limit_exceeded", span,
        "constant folding does more than " + std::to_string(options.limits.max_fold_work) +
            " steps",
        "the consts build very large values; build smaller ones");
  return false;
}

std::string_view Context::Text(const Span& span) const {
  if (span.file == nullptr || span.end > span.file->text.size() || span.begin > span.end)
    return {};
  return std::string_view(span.file->text).substr(span.begin, span.end - span.begin);
}

Span SubSpan(const Span& span, size_t offset, size_t len) {
  Span out = span;
  if (span.file == nullptr || span.begin + offset + len > span.end) return span;
  const std::string& text = span.file->text;
  for (size_t i = span.begin; i < span.begin + offset; ++i) {
    if (text[i] == '\n') {
      ++out.line;
      out.col = 1;
    } else {
      ++out.col;
    }
  }
  out.begin = static_cast<uint32_t>(span.begin + offset);
  out.end = static_cast<uint32_t>(out.begin + len);
  return out;
}

std::string ChainText(const ast::Expr& e) {
  if (e.kind == ast::ExprKind::kName) return e.name;
  if (e.kind == ast::ExprKind::kMember && !e.kids.empty()) {
    std::string base = ChainText(*e.kids[0]);
    if (base.empty()) return "";
    return base + "." + e.name;
  }
  return "";
}

Context MakeContext(ast::Policy* policy, const CheckOptions& options, Diagnostics* diags) {
  Context ctx;
  ctx.policy = policy;
  ctx.options = options;
  ctx.schema = options.schema ? options.schema : &stdlib::Schema::Standard();
  ctx.options.schema = ctx.schema;
  ctx.diags = diags;
  ctx.roots = NamespaceRoots();
  for (const auto& f : ctx.schema->fields()) ctx.roots.push_back(f.path.substr(0, f.path.find('.')));
  std::sort(ctx.roots.begin(), ctx.roots.end());
  ctx.roots.erase(std::unique(ctx.roots.begin(), ctx.roots.end()), ctx.roots.end());
  ctx.const_used.assign(policy->consts.size(), false);
  ctx.data_ok.assign(policy->data.size(), false);
  ctx.const_values.assign(policy->consts.size(), std::nullopt);
  ctx.fold_memo.reserve(policy->rules.size() * 16 + policy->consts.size() * 4);
  ctx.const_folding.assign(policy->consts.size(), false);
  return ctx;
}

const std::vector<Pass>& Passes() {
  static const std::vector<Pass> passes = {
      {"declarations", &Declarations}, {"lets", &Lets},     {"data", &Data},
      {"resolve", &Resolve},
      {"types", &Types},               {"scopes", &Scopes}, {"regex", &Regex},
      {"fold", &Fold},                 {"zones", &Zones},       {"optional", &Optional},
      {"operands", &Operands},
      {"names", &Names},               {"ranges", &Ranges},     {"contradictions", &Contradictions},
      {"tags", &Tags},
      {"route_hints", &RouteHints},    {"retention", &Retention},       {"tests", &Tests},
  };
  return passes;
}

bool Check(ast::Policy* policy, const CheckOptions& options, Diagnostics* diags) {
  if (policy == nullptr || diags == nullptr) return false;
  Context ctx = MakeContext(policy, options, diags);
  // Every pass runs even after errors: later passes skip what is `any`, so
  // one run reports every independent mistake of the file.
  for (const auto& pass : Passes()) pass.run(ctx);
  return ctx.errors == 0;
}

}  // namespace tollgate::check
