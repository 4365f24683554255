// AST utilities: operator names, structural equality and the canonical dump.
//
// Dump() is the canonical text hashed into the policy version id, so it
// contains every semantically relevant field and nothing position-dependent
// (no spans, no checker annotations). Keep SameTree() and Dump() in step.
#include "engine/ast/ast.h"

#include "engine/core/money.h"

namespace tollgate::ast {

const char* OpText(Op op) {
  switch (op) {
    case Op::kNone: return "";
    case Op::kNot: return "not";
    case Op::kNeg: return "-";
    case Op::kAnd: return "and";
    case Op::kOr: return "or";
    case Op::kEq: return "==";
    case Op::kNe: return "!=";
    case Op::kLt: return "<";
    case Op::kLe: return "<=";
    case Op::kGt: return ">";
    case Op::kGe: return ">=";
    case Op::kIn: return "in";
    case Op::kNotIn: return "not in";
    case Op::kHas: return "has";
    case Op::kMatches: return "matches";
    case Op::kContains: return "contains";
    case Op::kAdd: return "+";
    case Op::kSub: return "-";
    case Op::kMul: return "*";
    case Op::kDiv: return "/";
    case Op::kMod: return "%";
    case Op::kCoalesce: return "??";
  }
  return "";
}

const char* ModeName(Mode m) {
  switch (m) {
    case Mode::kEnforce: return "enforce";
    case Mode::kShadow: return "shadow";
    case Mode::kAdvisory: return "advisory";
  }
  return "enforce";
}

namespace {

// Appends pieces without building temporaries (and without the GCC 12
// -Wrestrict false positive that `a + b + c` on std::string triggers).
template <typename... A>
void Put(std::string* out, const A&... a) {
  (out->append(std::string_view(a)), ...);
}

const char* ExprKindName(ExprKind k) {
  switch (k) {
    case ExprKind::kLiteral: return "lit";
    case ExprKind::kName: return "name";
    case ExprKind::kMember: return "member";
    case ExprKind::kIndex: return "index";
    case ExprKind::kUnary: return "unary";
    case ExprKind::kBinary: return "binary";
    case ExprKind::kCall: return "call";
    case ExprKind::kList: return "list";
    case ExprKind::kSet: return "set";
    case ExprKind::kMap: return "map";
    case ExprKind::kQuantifier: return "quant";
  }
  return "?";
}

const char* OnErrorName(OnError e) { return e == OnError::kSkip ? "skip" : "deny"; }

const char* EffectName(EffectKind k) {
  switch (k) {
    case EffectKind::kDeny: return "deny";
    case EffectKind::kRequire: return "require";
    case EffectKind::kRedact: return "redact";
    case EffectKind::kRoute: return "route";
    case EffectKind::kTag: return "tag";
    case EffectKind::kWarn: return "warn";
  }
  return "?";
}

const char* HintName(RouteHintKind k) {
  switch (k) {
    case RouteHintKind::kSort: return "sort";
    case RouteHintKind::kMaxPrice: return "max_price";
    case RouteHintKind::kOrder: return "order";
  }
  return "?";
}

const char* WindowName(Window w) {
  switch (w) {
    case Window::kMinute: return "minute";
    case Window::kHour: return "hour";
    case Window::kDay: return "day";
    case Window::kWeek: return "week";
    case Window::kMonth: return "month";
    case Window::kCustom: return "custom";
    case Window::kLifetime: return "lifetime";
  }
  return "?";
}

const char* ExpectName(ExpectKind k) {
  switch (k) {
    case ExpectKind::kAllow: return "allow";
    case ExpectKind::kDeny: return "deny";
    case ExpectKind::kFired: return "fired";
    case ExpectKind::kNotFired: return "not_fired";
    case ExpectKind::kRejectedBy: return "rejected_by";
    case ExpectKind::kAccepted: return "accepted";
    case ExpectKind::kRedacts: return "redacts";
    case ExpectKind::kTag: return "tag";
    case ExpectKind::kRoute: return "route";
    case ExpectKind::kWarns: return "warns";
    case ExpectKind::kCode: return "code";
    case ExpectKind::kReason: return "reason";
    case ExpectKind::kRedacted: return "redacted";
    case ExpectKind::kNoErrors: return "no_errors";
  }
  return "?";
}

// --------------------------------------------------------------- SameTree

bool SameExpr(const Expr* a, const Expr* b);

bool SameExprs(const std::vector<ExprPtr>& a, const std::vector<ExprPtr>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!SameExpr(a[i].get(), b[i].get())) return false;
  }
  return true;
}

bool SameLiteral(const Value& a, const Value& b) { return a.kind == b.kind && Equal(a, b); }

bool SameExpr(const Expr* a, const Expr* b) {
  if (a == nullptr || b == nullptr) return a == b;
  if (a->kind != b->kind || a->op != b->op || a->name != b->name ||
      a->quant_all != b->quant_all || a->keys != b->keys) {
    return false;
  }
  if (a->kind == ExprKind::kLiteral && !SameLiteral(a->value, b->value)) return false;
  return SameExprs(a->kids, b->kids);
}

bool SameHint(const RouteHint& a, const RouteHint& b) {
  return a.kind == b.kind && a.word == b.word && SameExpr(a.expr.get(), b.expr.get());
}

bool SameEffect(const Effect& a, const Effect& b) {
  if (a.kind != b.kind || a.status != b.status || a.text != b.text || a.tag_key != b.tag_key ||
      !SameExpr(a.expr.get(), b.expr.get()) || a.hints.size() != b.hints.size()) {
    return false;
  }
  for (size_t i = 0; i < a.hints.size(); ++i) {
    if (!SameHint(a.hints[i], b.hints[i])) return false;
  }
  return true;
}

bool SameRule(const Rule& a, const Rule& b) {
  if (a.name != b.name || a.mode != b.mode || a.on_error != b.on_error ||
      !SameExpr(a.mode_when.get(), b.mode_when.get()) ||
      !SameExpr(a.when.get(), b.when.get()) || a.effects.size() != b.effects.size()) {
    return false;
  }
  for (size_t i = 0; i < a.effects.size(); ++i) {
    if (!SameEffect(a.effects[i], b.effects[i])) return false;
  }
  return true;
}

bool SameBindings(const std::vector<Binding>& a, const std::vector<Binding>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].path != b[i].path || !SameExpr(a[i].value.get(), b[i].value.get())) return false;
  }
  return true;
}

bool SameExpect(const Expect& a, const Expect& b) {
  if (a.kind != b.kind || a.status != b.status || a.names != b.names || a.contains != b.contains ||
      a.shadow != b.shadow ||
      !SameExpr(a.value.get(), b.value.get()) || a.hint.has_value() != b.hint.has_value()) {
    return false;
  }
  return !a.hint || SameHint(*a.hint, *b.hint);
}

bool SameTest(const TestDecl& a, const TestDecl& b) {
  if (a.name != b.name || a.fixture != b.fixture || a.has_candidate != b.has_candidate ||
      !SameBindings(a.given, b.given) ||
      !SameBindings(a.candidate, b.candidate) || a.expects.size() != b.expects.size()) {
    return false;
  }
  for (size_t i = 0; i < a.expects.size(); ++i) {
    if (!SameExpect(a.expects[i], b.expects[i])) return false;
  }
  return true;
}

template <typename T, typename F>
bool SameList(const std::vector<T>& a, const std::vector<T>& b, F same) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!same(a[i], b[i])) return false;
  }
  return true;
}

// ------------------------------------------------------------------- Dump

std::string Quote(std::string_view s) {
  // JSON string escaping: deterministic and unambiguous.
  return ToJson(Value::StringRef(s));
}

void DumpExpr(std::string* out, const Expr* e);

void DumpLiteral(std::string* out, const Value& v) {
  *out += "(lit ";
  *out += KindName(v.kind);
  if (v.kind != Kind::kNull) {
    *out += ' ';
    switch (v.kind) {
      case Kind::kDecimal:
      case Kind::kMoney: *out += FormatMicros(v.i); break;
      case Kind::kDuration: Put(out, std::to_string(v.i), "ms"); break;
      default: *out += ToJson(v); break;
    }
  }
  *out += ')';
}

void DumpExpr(std::string* out, const Expr* e) {
  if (e == nullptr) {
    *out += "nil";
    return;
  }
  switch (e->kind) {
    case ExprKind::kLiteral: DumpLiteral(out, e->value); return;
    case ExprKind::kName: Put(out, "(name ", e->name, ")"); return;
    case ExprKind::kMember:
      *out += "(member ";
      DumpExpr(out, e->kids.empty() ? nullptr : e->kids[0].get());
      Put(out, " ", e->name, ")");
      return;
    case ExprKind::kQuantifier:
      *out += e->quant_all ? "(all " : "(any ";
      *out += e->name;
      for (const ExprPtr& k : e->kids) {
        *out += ' ';
        DumpExpr(out, k.get());
      }
      *out += ')';
      return;
    case ExprKind::kMap:
      *out += "(map";
      for (size_t i = 0; i < e->kids.size(); ++i) {
        Put(out, " (", Quote(i < e->keys.size() ? e->keys[i] : ""), " ");
        DumpExpr(out, e->kids[i].get());
        *out += ")";
      }
      *out += ')';
      return;
    default:
      break;
  }
  *out += '(';
  *out += ExprKindName(e->kind);
  if (e->op != Op::kNone) Put(out, std::string(" "), OpText(e->op));
  if (e->kind == ExprKind::kCall) Put(out, " ", e->name);
  for (const ExprPtr& k : e->kids) {
    *out += ' ';
    DumpExpr(out, k.get());
  }
  *out += ')';
}

void DumpHint(std::string* out, const RouteHint& h) {
  *out += "(";
  *out += HintName(h.kind);
  if (!h.word.empty()) Put(out, " ", h.word);
  if (h.expr) {
    *out += ' ';
    DumpExpr(out, h.expr.get());
  }
  *out += ")";
}

void DumpEffect(std::string* out, const Effect& f) {
  *out += "    (";
  *out += EffectName(f.kind);
  switch (f.kind) {
    case EffectKind::kDeny:
      Put(out, " ", std::to_string(f.status), " ", Quote(f.text));
      if (f.expr) {  // a message with `{...}` holes: the expression that renders it
        *out += ' ';
        DumpExpr(out, f.expr.get());
      }
      break;
    case EffectKind::kRequire: *out += ' '; DumpExpr(out, f.expr.get()); break;
    case EffectKind::kRedact:
      *out += ' ';
      DumpExpr(out, f.expr.get());
      Put(out, " ", Quote(f.text));
      break;
    case EffectKind::kRoute:
      for (const RouteHint& h : f.hints) {
        *out += ' ';
        DumpHint(out, h);
      }
      break;
    case EffectKind::kTag:
      Put(out, " ", f.tag_key, " ");
      DumpExpr(out, f.expr.get());
      break;
    case EffectKind::kWarn:
      Put(out, " ", Quote(f.text));
      if (f.expr) {
        *out += ' ';
        DumpExpr(out, f.expr.get());
      }
      break;
  }
  *out += ")\n";
}

void DumpBindings(std::string* out, const char* head, const std::vector<Binding>& bs) {
  Put(out, std::string("    ("), head);
  for (const Binding& b : bs) {
    *out += " (";
    for (size_t i = 0; i < b.path.size(); ++i) {
      if (i) *out += '.';
      *out += b.path[i];
    }
    *out += ' ';
    DumpExpr(out, b.value.get());
    *out += ')';
  }
  *out += ")\n";
}

void DumpExpect(std::string* out, const Expect& x) {
  *out += "    (expect ";
  if (x.shadow) *out += "shadow ";
  *out += ExpectName(x.kind);
  switch (x.kind) {
    case ExpectKind::kDeny: Put(out, " ", std::to_string(x.status)); break;
    case ExpectKind::kRedacts:
    case ExpectKind::kCode:
    case ExpectKind::kReason:
    case ExpectKind::kRedacted:
      if (x.contains) *out += " contains";
      for (const std::string& n : x.names) Put(out, " ", Quote(n));
      break;
    default:
      for (const std::string& n : x.names) Put(out, " ", n);
      break;
  }
  if (x.value) {
    *out += ' ';
    DumpExpr(out, x.value.get());
  }
  if (x.hint) {
    *out += ' ';
    DumpHint(out, *x.hint);
  }
  *out += ")\n";
}

}  // namespace

const char* RetentionName(Retention r) {
  switch (r) {
    case Retention::kFull: return "full";
    case Retention::kHash: return "hash";
    case Retention::kNone: return "none";
  }
  return "full";
}

ExprPtr Clone(const Expr& e) {
  auto out = std::make_unique<Expr>();
  out->kind = e.kind;
  out->span = e.span;
  out->op = e.op;
  out->name = e.name;
  out->quant_all = e.quant_all;
  out->value = e.value;
  out->keys = e.keys;
  out->kids.reserve(e.kids.size());
  for (const ExprPtr& k : e.kids) out->kids.push_back(k ? Clone(*k) : nullptr);
  return out;
}

bool SameTree(const Policy& a, const Policy& b) {
  if (a.name != b.name || a.retain != b.retain) return false;
  if (!SameList(a.schemas, b.schemas,
                [](const SchemaRef& x, const SchemaRef& y) { return x.file == y.file; }))
    return false;
  if (!SameList(a.lets, b.lets, [](const LetDecl& x, const LetDecl& y) {
        return x.name == y.name && SameExpr(x.expr.get(), y.expr.get());
      }))
    return false;
  if (!SameList(a.fixtures, b.fixtures, [](const Fixture& x, const Fixture& y) {
        return x.name == y.name && x.base == y.base && SameBindings(x.given, y.given);
      }))
    return false;
  if (!SameList(a.consts, b.consts, [](const ConstDecl& x, const ConstDecl& y) {
        return x.name == y.name && x.declared == y.declared && SameExpr(x.expr.get(), y.expr.get());
      })) {
    return false;
  }
  if (!SameList(a.data, b.data, [](const DataDecl& x, const DataDecl& y) {
        return x.name == y.name && x.file == y.file && x.shape == y.shape;
      })) {
    return false;
  }
  if (!SameList(a.rules, b.rules, SameRule)) return false;
  if (!SameList(a.budgets, b.budgets, [](const BudgetDecl& x, const BudgetDecl& y) {
        return x.name == y.name && x.window == y.window && x.window_ms == y.window_ms &&
               SameExpr(x.when.get(), y.when.get()) && SameExpr(x.key.get(), y.key.get()) &&
               SameExpr(x.limit.get(), y.limit.get());
      })) {
    return false;
  }
  if (!SameList(a.limits, b.limits, [](const LimitDecl& x, const LimitDecl& y) {
        return x.name == y.name && x.window == y.window && x.window_ms == y.window_ms &&
               x.unit == y.unit && SameExpr(x.when.get(), y.when.get()) && SameExpr(x.key.get(), y.key.get()) &&
               SameExpr(x.max.get(), y.max.get());
      })) {
    return false;
  }
  return SameList(a.tests, b.tests, SameTest);
}

std::string Dump(const Expr& e) {
  std::string out;
  DumpExpr(&out, &e);
  return out;
}

std::string Dump(const Policy& p) {
  std::string out;
  Put(&out, "(policy ", Quote(p.name), "\n");
  // Only a non-default retention is dumped, so that the version ids of
  // policies without the clause stay what they were.
  if (p.retain != Retention::kFull) Put(&out, "  (retain content ", RetentionName(p.retain), ")\n");
  for (const SchemaRef& r : p.schemas) {
    Put(&out, "  (schema ", Quote(r.file));
    // The extension's contents are part of the version, like data documents.
    if (!r.json.empty()) Put(&out, " (json ", Quote(r.json), ")");
    out += ")\n";
  }
  for (const LetDecl& l : p.lets) {
    Put(&out, "  (let ", l.name, " ");
    DumpExpr(&out, l.expr.get());
    out += ")\n";
  }
  for (const ConstDecl& c : p.consts) {
    Put(&out, "  (const ", c.name);
    if (c.declared) Put(&out, " (type ", c.declared->ToString(), ")");
    out += ' ';
    DumpExpr(&out, c.expr.get());
    out += ")\n";
  }
  for (const DataDecl& d : p.data) {
    Put(&out, "  (data ", d.name, " ", Quote(d.file), " (type ", d.shape.ToString(), ")");
    // The checked document contents (empty before checking) are part of the
    // version: the same policy text with different data is a different policy.
    if (!d.canonical_json.empty()) Put(&out, " (json ", Quote(d.canonical_json), ")");
    out += ")\n";
  }
  for (const Rule& r : p.rules) {
    Put(&out, "  (rule ", r.name, " (mode ", ModeName(r.mode));
    if (r.mode_when) {
      out += " (when ";
      DumpExpr(&out, r.mode_when.get());
      out += ")";
    }
    Put(&out, ") (on_error ", OnErrorName(r.on_error), ")\n");
    out += "    (when ";
    DumpExpr(&out, r.when.get());
    out += ")\n";
    for (const Effect& f : r.effects) DumpEffect(&out, f);
    out += "  )\n";
  }
  for (const BudgetDecl& b : p.budgets) {
    Put(&out, "  (budget ", b.name, " ");
    if (b.when) {
      out += "(when ";
      DumpExpr(&out, b.when.get());
      out += ") ";
    }
    out += "(key ";
    DumpExpr(&out, b.key.get());
    Put(&out, ") (per ", std::string(WindowName(b.window)));
    if (b.window == Window::kCustom) Put(&out, " ", std::to_string(b.window_ms), "ms");
    out += ") (limit ";
    DumpExpr(&out, b.limit.get());
    out += "))\n";
  }
  for (const LimitDecl& l : p.limits) {
    Put(&out, "  (limit ", l.name, " ");
    if (l.when) {
      out += "(when ";
      DumpExpr(&out, l.when.get());
      out += ") ";
    }
    out += "(key ";
    DumpExpr(&out, l.key.get());
    Put(&out, ") (per ", std::string(WindowName(l.window)));
    if (l.window == Window::kCustom) Put(&out, " ", std::to_string(l.window_ms), "ms");
    out += ") (max ";
    DumpExpr(&out, l.max.get());
    Put(&out, " ", l.unit, "))\n");
  }
  for (const Fixture& f : p.fixtures) {
    Put(&out, "  (fixture ", f.name);
    if (!f.base.empty()) Put(&out, " (from ", f.base, ")");
    out += "\n";
    DumpBindings(&out, "given", f.given);
    out += "  )\n";
  }
  for (const TestDecl& t : p.tests) {
    Put(&out, "  (test ", Quote(t.name), "\n");
    if (!t.fixture.empty()) Put(&out, "    (fixture ", t.fixture, ")\n");
    DumpBindings(&out, "given", t.given);
    if (t.has_candidate) DumpBindings(&out, "candidate", t.candidate);
    for (const Expect& x : t.expects) DumpExpect(&out, x);
    out += "  )\n";
  }
  out += ")\n";
  return out;
}

}  // namespace tollgate::ast
