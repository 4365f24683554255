// compile::Compile: rules, entry points, effects, the rule index and the
// policy version id. Expressions are emitted by emit_expr.cc.
#include "engine/core/sha256.h"
#include "engine/compile/compile.h"


#include <algorithm>
#include <atomic>
#include <cstdio>
#include <new>

#include "engine/compile/emitter.h"
#include "engine/vm/vm.h"
#include "stdlib/builtins.h"

namespace tollgate::compile {

namespace {

using internal::Emitter;
using vm::internal::Code;
using vm::internal::Entry;
using vm::internal::EntryKind;
using vm::internal::Op;


int64_t WindowMs(ast::Window w, int64_t custom) {
  switch (w) {
    case ast::Window::kMinute: return 60'000;
    case ast::Window::kHour: return 3'600'000;
    case ast::Window::kDay: return 86'400'000;
    case ast::Window::kWeek: return 7 * 86'400'000LL;
    case ast::Window::kMonth: return 30 * 86'400'000LL;
    case ast::Window::kCustom: return custom;
    case ast::Window::kLifetime: return 0;  // never rolls over
  }
  return custom;
}

vm::SortBy SortOf(const std::string& w) {
  if (w == "price") return vm::SortBy::kPrice;
  if (w == "latency") return vm::SortBy::kLatency;
  if (w == "throughput") return vm::SortBy::kThroughput;
  return vm::SortBy::kNone;
}

// A top-level conjunct usable as an index key: `field == "c"`, `"c" == field`
// or `field in <constant set/list of strings>` on a request string field.
bool IndexKey(const ast::Expr& c, const stdlib::Schema& schema, int* field,
              std::vector<std::string_view>* values, bool* is_in) {
  if (c.kind != ast::ExprKind::kBinary || c.kids.size() != 2) return false;
  auto is_field = [&](const ast::Expr& e) {
    return e.kind == ast::ExprKind::kMember && e.ref == ast::RefKind::kField && e.index >= 0 &&
           schema.field(e.index).scope == ast::Scope::kRequest &&
           schema.field(e.index).type.is(Kind::kString);
  };
  const ast::Expr& a = *c.kids[0];
  const ast::Expr& b = *c.kids[1];
  values->clear();
  if (c.op == ast::Op::kEq) {
    const ast::Expr* f = is_field(a) ? &a : is_field(b) ? &b : nullptr;
    const ast::Expr* k = f == &a ? &b : &a;
    if (f == nullptr || !k->folded || k->folded->kind != Kind::kString) return false;
    *field = f->index;
    values->push_back(k->folded->sv());
    *is_in = false;
    return true;
  }
  if (c.op == ast::Op::kIn && is_field(a) && b.folded) {
    const Value& v = *b.folded;
    const std::vector<Value>* items = nullptr;
    if (v.kind == Kind::kSet) items = &v.set->items;
    if (v.kind == Kind::kList) items = &v.list->items;
    if (items == nullptr) return false;
    for (const Value& x : *items) {
      if (x.kind != Kind::kString) return false;
      values->push_back(x.sv());
    }
    *field = a.index;
    *is_in = true;
    return true;
  }
  return false;
}

// True when evaluating `c` can never raise a runtime error (so a later
// conjunct may serve as the index key without changing error behaviour).
bool CannotError(const ast::Expr& c) {
  if (c.folded) return true;
  if (c.kind != ast::ExprKind::kBinary || (c.op != ast::Op::kEq && c.op != ast::Op::kNe)) return false;
  for (const auto& k : c.kids) {
    bool simple = k->folded || (k->kind == ast::ExprKind::kMember && k->ref == ast::RefKind::kField);
    if (!simple) return false;
  }
  return true;
}

void Conjuncts(const ast::Expr& e, std::vector<const ast::Expr*>* out) {
  if (e.kind == ast::ExprKind::kBinary && e.op == ast::Op::kAnd && !e.folded) {
    Conjuncts(*e.kids[0], out);
    Conjuncts(*e.kids[1], out);
  } else {
    out->push_back(&e);
  }
}

class Compiler {
 public:
  Compiler(const ast::Policy& p, const stdlib::Schema& s, const Limits& l, Code* c, Diagnostics* d)
      : policy_(p), schema_(s), limits_(l), code_(c), diags_(d), em_(p, s, l, c, d) {}

  bool Run();
  void set_scan_engine(scan::Engine e) { em_.scan_engine = e; }

 private:
  // Emits one entry point computing `e`; returns its start pc.
  uint32_t EmitEntry(EntryKind kind, uint32_t owner, uint32_t index, const ast::Expr& e) {
    Entry en;
    en.kind = kind;
    en.owner = owner;
    en.index = index;
    en.begin = em_.pc();
    em_.request_read.clear();
    em_.candidate_read.clear();
    uint64_t c = em_.Expr(e);
    en.cost = c == UINT64_MAX ? c : c + 1;  // saturating: a bound of "too much" must not wrap to 0
    em_.Emit(Op::kRET, 0, 0, e.span.line);
    en.end = em_.pc();
    code_->entries.push_back(en);
    return en.begin;
  }
  void Rule(uint32_t id, const ast::Rule& r);
  // A deny/warn message: its text when it has no holes (or they fold), else
  // the pc of the kMessage entry that renders it.
  uint32_t Message(uint32_t rule, const ast::Effect& ef, std::string* text) {
    if (!ef.expr) {
      *text = ef.text;
      return vm::internal::kNoEntry;
    }
    if (ef.expr->folded && ef.expr->folded->kind == Kind::kString) {
      *text = std::string(ef.expr->folded->sv());
      return vm::internal::kNoEntry;
    }
    *text = ef.text;  // the template, for listings
    return EmitEntry(EntryKind::kMessage, rule, message_n_++, *ef.expr);
  }
  uint32_t message_n_ = 0;
  void WarnCost(const ast::Rule& r, size_t first_entry);
  void BuildIndex();
  bool Constant(const ast::Expr* e, Kind kind, const char* what, const Span& span, Value* out);

  const ast::Policy& policy_;
  const stdlib::Schema& schema_;
  const Limits& limits_;
  Code* code_;
  Diagnostics* diags_;
  Emitter em_;
};

bool Compiler::Constant(const ast::Expr* e, Kind kind, const char* what, const Span& span,
                        Value* out) {
  if (e == nullptr || !e->folded || (e->folded->kind != kind &&
                                     !(kind == Kind::kInt && e->folded->kind == Kind::kInt))) {
    em_.Fail(span, std::string(what) + " is not a folded constant");
    return false;
  }
  *out = *e->folded;
  return true;
}

void Compiler::Rule(uint32_t id, const ast::Rule& r) {
  vm::RuleInfo info;
  info.name = r.name;
  info.mode = r.mode;
  info.on_error = r.on_error;
  info.line = r.span.line;
  vm::internal::RuleCode rc;
  size_t first_entry = code_->entries.size();
  if (r.when) rc.when = EmitEntry(EntryKind::kWhen, id, 0, *r.when);
  if (r.mode_when) rc.mode_when = EmitEntry(EntryKind::kModeWhen, id, 0, *r.mode_when);
  uint32_t redact_n = 0;
  for (const ast::Effect& ef : r.effects) {
    switch (ef.kind) {
      case ast::EffectKind::kDeny:
        if (!rc.has_deny) {
          rc.has_deny = true;
          rc.status = ef.status;
          rc.reason_pc = Message(id, ef, &rc.reason);
        }
        break;
      case ast::EffectKind::kRequire: {
        uint32_t rq = static_cast<uint32_t>(code_->require_infos.size());
        uint32_t pc = EmitEntry(EntryKind::kRequire, id, rq, *ef.expr);
        vm::RequireInfo ri;
        ri.rule = id;
        ri.text = em_.SourceText(ef.expr->span);
        ri.request_slots.assign(em_.request_read.begin(), em_.request_read.end());
        ri.candidate_slots.assign(em_.candidate_read.begin(), em_.candidate_read.end());
        code_->require_infos.push_back(std::move(ri));
        code_->require_pc.push_back(pc);
        rc.require_ids.push_back(rq);
        break;
      }
      case ast::EffectKind::kRedact: {
        vm::RedactInfo ri;
        ri.rule = id;
        ri.effect = redact_n++;
        std::string text;
        if (!ef.expr || !em_.PatternOf(*ef.expr, &ri.detector, &text)) {
          em_.Fail(ef.span, "redact pattern is not constant");
          break;
        }
        ri.display = text;
        ri.regex = ri.detector >= 0 ? std::string(stdlib::Detectors()[ri.detector].regex) : text;
        ri.replacement = ef.text;
        rc.redacts.push_back(static_cast<uint32_t>(code_->redactions.size()));
        code_->redactions.push_back(std::move(ri));
        break;
      }
      case ast::EffectKind::kRoute:
        rc.has_route = true;
        for (const ast::RouteHint& h : ef.hints) {
          if (h.kind == ast::RouteHintKind::kSort) {
            if (rc.sort == vm::SortBy::kNone) rc.sort = SortOf(h.word);  // the first sort wins
          } else if (h.kind == ast::RouteHintKind::kMaxPrice) {
            Value v;
            if (!Constant(h.expr.get(), Kind::kMoney, "max_price", h.span, &v)) break;
            int64_t* slot = h.word == "prompt" ? &rc.max_prompt
                            : h.word == "completion" ? &rc.max_completion
                            : h.word == "request" ? &rc.max_request
                                                  : &rc.max_request_cost;
            *slot = *slot < 0 ? v.i : std::min(*slot, v.i);
          } else if (h.expr && h.expr->folded && h.expr->folded->kind == Kind::kList) {
            if (!rc.order.empty()) continue;  // the first order wins
            for (const Value& x : h.expr->folded->list->items) {
              if (x.kind == Kind::kString) rc.order.emplace_back(x.sv());
            }
          } else {
            em_.Fail(h.span, "route order is not a constant list");
          }
        }
        break;
      case ast::EffectKind::kTag: {
        vm::internal::TagCode t;
        t.key = ef.tag_key;
        t.pc = EmitEntry(EntryKind::kTag, id, static_cast<uint32_t>(rc.tags.size()), *ef.expr);
        if (ef.expr->folded) t.konst = static_cast<int32_t>(em_.Constant(*ef.expr->folded));
        rc.tags.push_back(std::move(t));
        break;
      }
      case ast::EffectKind::kWarn:
        rc.warnings.emplace_back();
        rc.warning_pc.push_back(Message(id, ef, &rc.warnings.back()));
        break;
    }
  }
  rc.rendered = rc.reason_pc != vm::internal::kNoEntry ||
                std::any_of(rc.warning_pc.begin(), rc.warning_pc.end(),
                            [](uint32_t pc) { return pc != vm::internal::kNoEntry; });
  rc.advisory_warning = !rc.warnings.empty() ? rc.warnings.front()
                        : rc.has_deny         ? rc.reason
                                              : "advisory rule `" + r.name + "` fired";
  uint64_t cost = 0;
  for (size_t i = first_entry; i < code_->entries.size(); ++i) {
    cost = cost > UINT64_MAX - code_->entries[i].cost ? UINT64_MAX : cost + code_->entries[i].cost;
  }
  info.cost_bound = cost;
  WarnCost(r, first_entry);
  code_->rules.push_back(std::move(info));
  code_->rule_code.push_back(std::move(rc));
}

// tg_cost_bound: a budgeted unit of rule `r` (its evaluation: `when` and
// tag values; or one `require` check) whose static instruction bound exceeds
// Limits::instruction_budget may fail with eval_budget_exceeded at run time.
void Compiler::WarnCost(const ast::Rule& r, size_t first_entry) {
  auto sat = [](uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; };
  uint64_t eval = 0, require = 0;
  size_t worst_require = first_entry;
  for (size_t i = first_entry; i < code_->entries.size(); ++i) {
    const Entry& en = code_->entries[i];
    if (en.kind == EntryKind::kRequire) {
      if (en.cost > require) worst_require = i;
      require = std::max(require, en.cost);
    } else {
      eval = sat(eval, en.cost);
    }
  }
  uint64_t budget = limits_.instruction_budget;
  if (eval <= budget && require <= budget) return;
  bool is_eval = eval > budget;
  std::string what = is_eval ? "evaluating rule `" + r.name + "`"
                             : "a `require` of rule `" + r.name + "`";
  std::string bound = std::to_string(is_eval ? eval : require);
  const Span& span = is_eval && r.when ? r.when->span : r.name_span;
  // The loop that costs the most in that unit (the outermost one on a tie):
  // what the author can change.
  const internal::Emitter::QuantCost* worst = nullptr;
  for (const auto& q : em_.quants) {
    bool in_unit = is_eval ? q.entry >= first_entry && code_->entries[q.entry].kind != EntryKind::kRequire
                           : q.entry == worst_require;
    if (in_unit && (worst == nullptr || q.total > worst->total)) worst = &q;
  }
  std::string help;
  if (worst != nullptr) {
    const ast::Expr& q = *worst->expr;
    std::string head = std::string(q.quant_all ? "all " : "any ") + q.name + " in " +
                       em_.SourceText(q.kids[0]->span);
    help = "`" + head + "` (line " + std::to_string(q.span.line) + ") may run its body " +
           std::to_string(worst->bound) + " times (" + worst->bound_why + "), each up to " +
           std::to_string(worst->body) + " instructions: iterate over a shorter const or data "
           "list (bounded by its size), move an inner quantifier into its own rule, or raise "
           "Limits::instruction_budget";
  } else {
    help = "split the rule's work into several rules, or raise Limits::instruction_budget";
  }
  diags_->Warning("tg_cost_bound", span,
                  what + " may take up to " + bound + " instructions, more than the instruction budget of " +
                      std::to_string(budget) + "; on large requests it fails with `eval_budget_exceeded`",
                  help);
}

void Compiler::BuildIndex() {
  std::vector<int> field_of_index;  // IndexField position -> schema field id
  std::vector<const ast::Expr*> conj;
  std::vector<std::string_view> values;
  for (uint32_t id = 0; id < policy_.rules.size(); ++id) {
    const ast::Rule& r = policy_.rules[id];
    bool indexed = false;
    if (r.when) {
      conj.clear();
      Conjuncts(*r.when, &conj);
      for (const ast::Expr* c : conj) {
        int field = -1;
        bool is_in = false;
        if (IndexKey(*c, schema_, &field, &values, &is_in)) {
          auto it = std::find(field_of_index.begin(), field_of_index.end(), field);
          size_t pos = static_cast<size_t>(it - field_of_index.begin());
          if (it == field_of_index.end()) {
            field_of_index.push_back(field);
            code_->index.emplace_back();
            code_->index.back().slot = static_cast<uint32_t>(schema_.field(field).slot);
            code_->index.back().path = schema_.field(field).path;
          }
          vm::internal::IndexField& f = code_->index[pos];
          for (std::string_view v : values) {
            // Keys point into the program arena (constants outlive the map).
            Value k = code_->constants[em_.Constant(code_->arena.String(v))];
            std::vector<uint32_t>& ids = f.by_value[k.sv()];
            if (ids.empty() || ids.back() != id) ids.push_back(id);
          }
          if (is_in) f.on_null.push_back(id);
          indexed = true;
          break;
        }
        if (!CannotError(*c)) break;
      }
    }
    if (!indexed) code_->unindexed.push_back(id);
  }
  for (vm::internal::IndexField& f : code_->index) {
    std::vector<std::pair<std::string_view, const std::vector<uint32_t>*>> items;
    for (const auto& [k, ids] : f.by_value) items.emplace_back(k, &ids);
    f.lookup.Build(items);
  }
}

bool Compiler::Run() {
  code_->name = policy_.name;
  code_->builtins = stdlib::Builtins().data();
  code_->request_paths.resize(schema_.slot_count(ast::Scope::kRequest));
  code_->candidate_paths.resize(schema_.slot_count(ast::Scope::kCandidate));
  code_->request_types.resize(code_->request_paths.size());
  code_->candidate_types.resize(code_->candidate_paths.size());
  for (const stdlib::FieldDef& f : schema_.fields()) {
    bool req = f.scope == ast::Scope::kRequest;
    auto& paths = req ? code_->request_paths : code_->candidate_paths;
    auto& types = req ? code_->request_types : code_->candidate_types;
    if (f.slot >= 0 && f.slot < static_cast<int>(paths.size())) {
      paths[f.slot] = f.path;
      types[f.slot] = f.type;
    }
  }
  if (policy_.rules.size() > limits_.max_rules) {
    diags_->Error("tg_limit_exceeded", policy_.name_span,
                  "policy has " + std::to_string(policy_.rules.size()) + " rules, more than the limit of " +
                      std::to_string(limits_.max_rules),
                  "split the policy or raise Limits::max_rules");
    return false;
  }
  for (const ast::BudgetDecl& b : policy_.budgets)
    for (const char* f : {"spent", "remaining", "limit"}) code_->counter_paths.push_back("budget." + b.name + "." + f);
  for (const ast::LimitDecl& l : policy_.limits)
    for (const char* f : {"used", "remaining", "max"}) code_->counter_paths.push_back("limit." + l.name + "." + f);
  internal::ChooseMemos(policy_, schema_, &em_, code_);
  for (uint32_t i = 0; i < policy_.rules.size(); ++i) Rule(i, policy_.rules[i]);
  for (uint32_t i = 0; i < policy_.budgets.size(); ++i) {
    const ast::BudgetDecl& b = policy_.budgets[i];
    vm::BudgetInfo bi{b.name, b.window, WindowMs(b.window, b.window_ms), 0};
    bi.has_when = b.when != nullptr;
    bi.per_endpoint = (b.when && b.when->scope == ast::Scope::kCandidate) ||
                      (b.key && b.key->scope == ast::Scope::kCandidate);
    uint32_t limit_pc = vm::internal::kNoEntry;
    Value v;
    if (b.limit && b.limit->folded) {
      if (Constant(b.limit.get(), Kind::kMoney, "budget limit", b.span, &v)) bi.limit_micros = v.i;
    } else if (b.limit) {
      bi.limit_computed = true;
      limit_pc = EmitEntry(EntryKind::kBudgetLimit, i, i, *b.limit);
    }
    code_->budgets.push_back(std::move(bi));
    code_->budget_pc.push_back(b.key ? EmitEntry(EntryKind::kBudgetKey, i, i, *b.key) : vm::internal::kNoEntry);
    code_->budget_when_pc.push_back(b.when ? EmitEntry(EntryKind::kBudgetWhen, i, i, *b.when)
                                           : vm::internal::kNoEntry);
    code_->budget_limit_pc.push_back(limit_pc);
  }
  for (uint32_t i = 0; i < policy_.limits.size(); ++i) {
    const ast::LimitDecl& l = policy_.limits[i];
    vm::LimitInfo li{l.name, l.window, WindowMs(l.window, l.window_ms), 0, l.unit};
    li.has_when = l.when != nullptr;
    li.per_endpoint = (l.when && l.when->scope == ast::Scope::kCandidate) ||
                      (l.key && l.key->scope == ast::Scope::kCandidate);
    uint32_t max_pc = vm::internal::kNoEntry;
    Value v;
    if (l.max && l.max->folded) {
      if (Constant(l.max.get(), Kind::kInt, "limit max", l.span, &v)) li.max = v.i;
    } else if (l.max) {
      li.max_computed = true;
      max_pc = EmitEntry(EntryKind::kLimitMax, i, i, *l.max);
    }
    code_->limits.push_back(std::move(li));
    code_->limit_pc.push_back(l.key ? EmitEntry(EntryKind::kLimitKey, i, i, *l.key) : vm::internal::kNoEntry);
    code_->limit_when_pc.push_back(l.when ? EmitEntry(EntryKind::kLimitWhen, i, i, *l.when)
                                          : vm::internal::kNoEntry);
    code_->limit_max_pc.push_back(max_pc);
  }
  if (em_.failed()) return false;
  BuildIndex();
  if (!em_.Finish()) return false;
  std::string err;
  if (!vm::internal::Verify(code_, limits_.max_stack, &err)) {
    diags_->Error(err.rfind("stack depth", 0) == 0 ? "tg_limit_exceeded" : "tg_internal_error",
                  policy_.name_span, "bytecode verification failed: " + err,
                  "simplify deeply nested expressions");
    return false;
  }
  std::string canon = "tollgate-bytecode " + std::to_string(vm::kBytecodeFormatVersion) + "\n";
  canon += ast::Dump(policy_);
  for (const ast::DataDecl& d : policy_.data) {
    canon += "\ndata " + d.name + "\n" + d.canonical_json;
  }
  std::string hex = Sha256Hex(canon);
  if (hex.empty()) {
    diags_->Error("tg_internal_error", policy_.name_span, "sha-256 is unavailable");
    return false;
  }
  code_->version_id = "sha256:" + hex;
  return true;
}

}  // namespace

std::unique_ptr<vm::Program> Compile(const ast::Policy& policy, const stdlib::Schema& schema,
                                     const Limits& limits, Diagnostics* diags,
                                     scan::Engine scan_engine) {
  try {
    static std::atomic<uint64_t> serial{0};
    auto code = std::make_unique<Code>();
    code->serial = ++serial;
    Compiler c(policy, schema, limits, code.get(), diags);
    c.set_scan_engine(scan_engine);
    if (!c.Run()) return nullptr;
    auto program = std::make_unique<vm::Program>(std::move(code));
#ifdef TOLLGATE_DEBUG
    std::fputs(vm::Disassemble(*program).c_str(), stderr);
#endif
    return program;
  } catch (const std::bad_alloc&) {
    // Memory running out is not a bug in tollgate (tg_internal_error): the
    // same diagnostic as the parser's and CompileSources'.
    diags->Error("tg_limit_exceeded", Span{}, "out of memory while compiling the policy",
                 "split the policy into smaller files");
    return nullptr;
  } catch (const std::exception& e) {
    diags->Error("tg_internal_error", policy.name_span, std::string("compile failed: ") + e.what());
    return nullptr;
  }
}

}  // namespace tollgate::compile
