// vm::Evaluate, EvalRequire, EvalKey: rule selection (the rule index), the
// combining rules of docs/architecture.md, and Decision bookkeeping. The
// instruction loop itself is in interp.cc.
#include "engine/vm/vm.h"

#include <algorithm>
#include <new>
#include <vector>

#include "engine/vm/internal/interp.h"

namespace tollgate::vm {

using internal::Code;
using internal::Frame;
using internal::kNoEntry;
using internal::RuleCode;
using internal::Scratch;

const char* SortName(SortBy s) {
  switch (s) {
    case SortBy::kNone: return "none";
    case SortBy::kPrice: return "price";
    case SortBy::kLatency: return "latency";
    case SortBy::kThroughput: return "throughput";
  }
  return "none";
}

void Decision::Clear() {
  outcome = Outcome::kAllow;
  status = 200;
  code = kCodeOk;
  reason.clear();
  deny_rule = UINT32_MAX;
  fired.clear();
  shadow.clear();
  advisory.clear();
  require_refs.clear();
  shadow_requires.clear();
  redactions.clear();
  route.sort = SortBy::kNone;
  route.max_request_cost = route.max_prompt = route.max_completion = route.max_request = -1;
  route.max_request_cost_rule = route.max_prompt_rule = route.max_completion_rule =
      route.max_request_rule = UINT32_MAX;
  route.order.clear();
  route.rules.clear();
  tags.clear();
  warnings.clear();
  errors.clear();
  trace.clear();
  instructions = 0;
  time.reset();
  time_from_clock = false;
  arena.Reset();
}

namespace {

void InitFrame(const Code& c, const Record& request, const Record* candidate, Scratch* s,
               Arena* arena, uint64_t budget, Frame* f) {
  f->code = &c;
  f->req = request.slots.data();
  f->nreq = static_cast<uint32_t>(request.slots.size());
  if (candidate != nullptr) {
    f->cand = candidate->slots.data();
    f->ncand = static_cast<uint32_t>(candidate->slots.size());
  }
  f->s = s;
  f->arena = arena;
  f->budget = budget;
}

// A rule's own deny: the first in rule order wins, and it always replaces a
// deny that only came from a rule error (an error never masks a real deny).
void PolicyDeny(Decision* out, uint32_t rule, int status, std::string_view reason) {
  if (out->outcome == Outcome::kDeny && out->code == kCodePolicyDenied) return;
  out->outcome = Outcome::kDeny;
  out->status = status;
  out->code = kCodePolicyDenied;
  out->reason.assign(reason);
  out->deny_rule = rule;
}

// The chosen endpoint (a decision input's `candidate`) fails a require: a real
// deny, so it replaces a deny that only came from a rule error.
void RequireDeny(Decision* out, uint32_t rule, std::string_view reason) {
  if (out->outcome == Outcome::kDeny && out->code != kCodeRuleError) return;
  out->outcome = Outcome::kDeny;
  out->status = 403;
  out->code = kCodeRequireFailed;
  out->reason.assign(reason);
  out->deny_rule = rule;
}

// `mode` is the rule's mode for this request: a rule with `mode shadow when
// C` counts as enforced until C is known to hold (an error fails closed).
// Whether `what` (Frame::null_what) is a counter path: the null came from a
// counter the budget store could not give (Counters::unavailable).
bool UnavailableCounter(const Code& c, const Frame& f, std::string_view code) {
  if (!f.cnt_unavailable || code != kErrMissingField || f.null_what.empty()) return false;
  for (const std::string& p : c.counter_paths) {
    if (p.data() == f.null_what.data()) return true;
  }
  return false;
}

void RuleFailed(const Code& c, uint32_t r, Frame* f, Decision* out, ast::Mode mode) {
  out->errors.push_back(RuleError{r, f->err_code, f->err_msg});
  if (f->trace) f->trace->error = true;
  const RuleInfo& info = c.rules[r];
  if (UnavailableCounter(c, *f, f->err_code)) {
    out->errors.back().message += " (the budget store is unavailable: the rule is skipped)";
    return;
  }
  if (mode == ast::Mode::kEnforce && info.on_error == ast::OnError::kDeny &&
      out->outcome == Outcome::kAllow) {
    // Fail closed with a fixed public reason; the internal message stays in
    // `errors`. A later (or earlier) real deny replaces this one.
    out->outcome = Outcome::kDeny;
    out->status = 403;
    out->code = kCodeRuleError;
    out->reason.assign(kRuleErrorReason);
    out->deny_rule = r;
  }
}

void MergeRoute(const RuleCode& rc, uint32_t r, RouteHints* route) {
  if (route->sort == SortBy::kNone) route->sort = rc.sort;
  // The lowest cap wins; on a tie the first rule keeps it (and is named).
  auto lower = [r](int64_t* slot, uint32_t* rule, int64_t v) {
    if (v >= 0 && (*slot < 0 || v < *slot)) {
      *slot = v;
      *rule = r;
    }
  };
  lower(&route->max_request_cost, &route->max_request_cost_rule, rc.max_request_cost);
  lower(&route->max_prompt, &route->max_prompt_rule, rc.max_prompt);
  lower(&route->max_completion, &route->max_completion_rule, rc.max_completion);
  lower(&route->max_request, &route->max_request_rule, rc.max_request);
  if (route->order.empty()) {
    for (const std::string& o : rc.order) route->order.emplace_back(o);
  }
  route->rules.push_back(r);
}

[[gnu::cold]] bool NotBool(Frame* f) {
  f->err_code = kErrMissingField;
  f->err_msg = f->null_what.empty() ? "missing value" : "missing field `" + std::string(f->null_what) + "`";
  return false;
}

// Runs a `when`: false with the error in *f, or true with its value in *b.
inline bool Holds(Frame* f, uint32_t pc, bool* b) {
  Value v;
  if (!internal::Run(f, pc, &v)) return false;
  if (v.kind != Kind::kBool) return NotBool(f);
  *b = v.b;
  return true;
}

// Evaluates rule r and applies its effects to *out.
// The outcome of a rule's `when` already run (by a chained Run).
struct WhenRan {
  bool ok;      // Run's result (false: the error is in the Frame)
  Value value;  // when ok
};

// `ran`: the rule's `when` has been run (with its value or error; its
// Frame::null_what and budget left in *f), as a rule chain does.
void EvalRule(const Code& c, uint32_t r, Frame* f, Decision* out, const WhenRan* ran = nullptr) {
  const RuleCode& rc = c.rule_code[r];
  const RuleInfo& info = c.rules[r];
  if (f->trace != nullptr) {
    out->trace.emplace_back();
    f->trace = &out->trace.back();
    f->trace->rule = r;
  }
  if (ran == nullptr) f->null_what = {};
  ast::Mode mode = rc.mode_when != kNoEntry ? ast::Mode::kEnforce : info.mode;
  if (rc.when != kNoEntry) {
    bool b = false;
    bool ok;
    if (ran == nullptr) {
      ok = Holds(f, rc.when, &b);
    } else if (!ran->ok) {
      ok = false;
    } else if (ran->value.kind != Kind::kBool) {
      ok = NotBool(f);
    } else {
      ok = true;
      b = ran->value.b;
    }
    if (!ok) return RuleFailed(c, r, f, out, mode);
    if (!b) return;
  }
  if (rc.mode_when != kNoEntry) {
    bool b = false;
    if (!Holds(f, rc.mode_when, &b)) return RuleFailed(c, r, f, out, mode);
    if (b) mode = info.mode;
  }
  // Tag values: an error there drops that tag only and is reported; the
  // rule still fires (an effect's error never turns the rule into an error).
  size_t first_tag = out->tags.size();
  for (const internal::TagCode& t : rc.tags) {
    Value v;
    if (t.konst >= 0) {
      v = c.constants[t.konst];
    } else {
      if (!internal::Run(f, t.pc, &v)) {
        out->errors.push_back(RuleError{r, f->err_code, "tag `" + t.key + "` dropped: " + f->err_msg});
        continue;
      }
      v = out->arena.Clone(v);
    }
    out->tags.push_back(Tag{r, t.key, v});
  }
  // Messages with `{...}` holes next (the first deny's reason, then each
  // warning). An error there drops that message only and is reported, like
  // one in a tag value: a warning is left out, a deny keeps its template text
  // as reason (the deny itself is real). The texts live in Decision::arena.
  // (Cold path: rules without holes skip it.)
  std::string_view reason = rc.reason;
  std::string_view advisory = rc.advisory_warning;
  std::vector<std::string_view> warnings;
  if (rc.rendered) {
    auto render = [&](uint32_t pc, std::string_view* text, std::string_view what) {
      if (pc == kNoEntry) return true;
      Value v;
      if (!internal::Run(f, pc, &v)) {
        out->errors.push_back(RuleError{r, f->err_code, std::string(what) + ": " + f->err_msg});
        return false;
      }
      *text = out->arena.Clone(v).sv();
      return true;
    };
    if (rc.has_deny) render(rc.reason_pc, &reason, "deny reason left unrendered");
    for (size_t i = 0; i < rc.warnings.size(); ++i) {
      warnings.push_back(rc.warnings[i]);
      if (!render(rc.warning_pc[i], &warnings.back(), "warning dropped")) warnings.pop_back();
    }
    advisory = !warnings.empty() ? warnings.front() : rc.has_deny ? reason : advisory;
  }
  if (f->trace) f->trace->fired = true;
  if (mode == ast::Mode::kShadow) {
    out->tags.resize(first_tag);
    out->shadow.push_back(r);
    for (uint32_t rq : rc.require_ids) out->shadow_requires.push_back(RequireRef{r, rq});
    return;
  }
  if (mode == ast::Mode::kAdvisory) {
    out->tags.resize(first_tag);
    out->advisory.push_back(r);
    out->warnings.push_back(Warning{r, advisory});
    return;
  }
  out->fired.push_back(r);
  for (uint32_t rq : rc.require_ids) out->require_refs.push_back(RequireRef{r, rq});
  for (uint32_t i : rc.redacts) {
    const RedactInfo& ri = c.redactions[i];
    out->redactions.push_back(Redaction{r, ri.effect, ri.display, ri.replacement});
  }
  if (rc.has_route) MergeRoute(rc, r, &out->route);
  if (rc.rendered) {
    for (std::string_view w : warnings) out->warnings.push_back(Warning{r, w});
  } else {
    for (const std::string& w : rc.warnings) out->warnings.push_back(Warning{r, w});
  }
  // Last: PolicyDeny's only allocation (the reason) either happens whole or
  // leaves the reason as it was, so an allocation failure anywhere in this
  // rule can be undone by OutOfMemory (every effect above is a push_back).
  if (rc.has_deny) PolicyDeny(out, r, rc.status, reason);
}

// --- allocation failure (std::bad_alloc) during evaluation ---
//
// Evaluate never lets an exception out. A rule during which memory runs out
// has its partial effects undone (every vector of the Decision shrinks back
// to its size before the rule, which never allocates) and fails with
// eval_out_of_memory, handled by its `on_error` like any rule error. If
// recording that error needs memory that is not there either, or memory runs
// out outside any rule, the decision fails closed: a deny with code
// rule_error (FailClosed).

// INVARIANT: trivially copyable (no vectors), so saving one per rule is a
// few register moves (a RouteHints member here cost a `rep stos` per rule).
struct Mark {
  size_t fired, shadow, advisory, require_refs, shadow_requires, redactions, tags, warnings,
      errors, route_order, route_rules;
  int64_t max_request_cost, max_prompt, max_completion, max_request;
  uint32_t max_request_cost_rule, max_prompt_rule, max_completion_rule, max_request_rule;
  SortBy sort;
  Outcome outcome;
  int status;
  std::string_view code;
  uint32_t deny_rule;
};

Mark Save(const Decision& d) {
  return Mark{d.fired.size(), d.shadow.size(), d.advisory.size(), d.require_refs.size(),
              d.shadow_requires.size(), d.redactions.size(), d.tags.size(), d.warnings.size(),
              d.errors.size(), d.route.order.size(), d.route.rules.size(),
              d.route.max_request_cost, d.route.max_prompt, d.route.max_completion,
              d.route.max_request, d.route.max_request_cost_rule, d.route.max_prompt_rule,
              d.route.max_completion_rule, d.route.max_request_rule, d.route.sort, d.outcome,
              d.status, d.code, d.deny_rule};
}

// Shrinking a vector never allocates (and never throws).
void Restore(const Mark& m, Decision* d) {
  d->fired.resize(m.fired);
  d->shadow.resize(m.shadow);
  d->advisory.resize(m.advisory);
  d->require_refs.resize(m.require_refs);
  d->shadow_requires.resize(m.shadow_requires);
  d->redactions.resize(m.redactions);
  d->tags.resize(m.tags);
  d->warnings.resize(m.warnings);
  d->errors.resize(m.errors);
  d->route.order.resize(m.route_order);
  d->route.rules.resize(m.route_rules);
  d->route.sort = m.sort;
  d->route.max_request_cost = m.max_request_cost;
  d->route.max_prompt = m.max_prompt;
  d->route.max_completion = m.max_completion;
  d->route.max_request = m.max_request;
  d->route.max_request_cost_rule = m.max_request_cost_rule;
  d->route.max_prompt_rule = m.max_prompt_rule;
  d->route.max_completion_rule = m.max_completion_rule;
  d->route.max_request_rule = m.max_request_rule;
  d->outcome = m.outcome;
  d->status = m.status;
  d->code = m.code;
  d->deny_rule = m.deny_rule;
}

// The last resort: a deny with code rule_error that needs no memory beyond
// what the Decision already holds (the reason is left empty if even that
// fails). `rule` may be UINT32_MAX (no rule was running).
void FailClosed(Decision* out, uint32_t rule) noexcept {
  out->outcome = Outcome::kDeny;
  out->status = 403;
  out->code = kCodeRuleError;
  out->deny_rule = rule;
  try {
    out->reason.assign(kRuleErrorReason);
  } catch (...) {
    out->reason.clear();
  }
  try {
    out->errors.push_back(RuleError{rule, kErrOutOfMemory, "out of memory"});
  } catch (...) {
  }
}

// Memory ran out while rule r ran (see above).
void OutOfMemory(const Code& c, uint32_t r, const Mark& m, Frame* f, Decision* out) noexcept {
  Restore(m, out);
  const RuleCode& rc = c.rule_code[r];
  // As at the start of EvalRule: a rule with `mode ... when C` counts as
  // enforced (an error fails closed).
  ast::Mode mode = rc.mode_when != kNoEntry ? ast::Mode::kEnforce : c.rules[r].mode;
  try {
    f->err_code = kErrOutOfMemory;
    f->err_msg = "out of memory";  // fits the short-string buffer
    RuleFailed(c, r, f, out, mode);
  } catch (...) {
    Restore(m, out);
    FailClosed(out, r);
  }
}

constexpr size_t kSelectWords = 16;

// Rule ids to evaluate, in rule order: the unindexed rules merged with the
// rules indexed under the request's value of each index field.
const std::vector<uint32_t>* SelectRules(const Code& c, const Record& request, Scratch* s) {
  const std::vector<uint32_t>* lists[16];
  size_t n = 0;
  std::vector<uint32_t>& order = s->order;
  order.clear();
  if (!c.unindexed.empty()) lists[n++] = &c.unindexed;
  bool overflow = false;
  for (const internal::IndexField& f : c.index) {
    Value v = f.slot < request.slots.size() ? request.slots[f.slot] : Value();
    const std::vector<uint32_t>* hit = nullptr;
    if (v.kind == Kind::kString) {
      if (auto* ids = f.lookup.Find(v.sv(), internal::SlotHash(s, f.slot, v.sv()))) hit = *ids;
    } else if (!f.on_null.empty()) {
      hit = &f.on_null;
    }
    if (hit == nullptr) continue;
    if (n == 16) {
      overflow = true;
      order.insert(order.end(), hit->begin(), hit->end());
    } else {
      lists[n++] = hit;
    }
  }
  if (n == 1 && !overflow) return lists[0];
  if (c.rules.size() <= 64 * kSelectWords) {
    // A policy of up to 1,024 rules: the union as a bit set, read in rule
    // order (no sort, no data-dependent branches per element).
    uint64_t bits[kSelectWords] = {};
    for (uint32_t id : order) bits[id >> 6] |= uint64_t{1} << (id & 63);
    for (size_t i = 0; i < n; ++i) {
      for (uint32_t id : *lists[i]) bits[id >> 6] |= uint64_t{1} << (id & 63);
    }
    order.clear();
    const size_t words = (c.rules.size() + 63) / 64;
    for (size_t w = 0; w < words; ++w) {
      for (uint64_t b = bits[w]; b != 0; b &= b - 1) {
        order.push_back(static_cast<uint32_t>(w * 64 + static_cast<size_t>(__builtin_ctzll(b))));
      }
    }
    return &order;
  }
  size_t total = order.size();
  for (size_t i = 0; i < n; ++i) total += lists[i]->size();
  if (total <= 64) {
    // Few rules selected: concatenate and insertion-sort (cheaper than a merge).
    for (size_t i = 0; i < n; ++i) order.insert(order.end(), lists[i]->begin(), lists[i]->end());
    for (size_t i = 1; i < order.size(); ++i) {
      uint32_t x = order[i];
      size_t j = i;
      for (; j > 0 && order[j - 1] > x; --j) order[j] = order[j - 1];
      order[j] = x;
    }
    return &order;
  }
  // k-way merge of sorted, disjoint lists (k is small: one per index field).
  size_t pos[16] = {};
  for (;;) {
    size_t best = n;
    uint32_t best_id = UINT32_MAX;
    for (size_t i = 0; i < n; ++i) {
      if (pos[i] < lists[i]->size() && (*lists[i])[pos[i]] < best_id) {
        best = i;
        best_id = (*lists[i])[pos[i]];
      }
    }
    if (best == n) break;
    order.push_back(best_id);
    ++pos[best];
  }
  if (overflow) std::sort(order.begin(), order.end());
  return &order;
}

}  // namespace

void Evaluate(const Program& program, const Record& request, const EvalOptions& options,
              Decision* out) {
  out->Clear();
  if (request.time) {
    out->time = request.time->unix_ms;
    out->time_from_clock = request.time->from_clock;
  }
  const Code& c = program.code();
  Scratch* s = &internal::ThreadScratch();
  Frame f;
  InitFrame(c, request, nullptr, s, &out->arena, options.instruction_budget, &f);
  if (options.counters != nullptr) {
    f.cnt = options.counters->slots.data();
    f.ncnt = static_cast<uint32_t>(options.counters->slots.size());
    f.cnt_unavailable = options.counters->unavailable;
  }
  TraceEntry dummy;
  // The budget is per rule: each rule starts with the full
  // EvalOptions::instruction_budget, so a rule that exhausts it (a shadow
  // rule, say) fails alone and never changes the outcome of a later rule.
  // INVARIANT: out->instructions <= rules evaluated x instruction_budget.
  uint64_t used = 0;
  auto eval = [&](uint32_t r) {
    f.budget = options.instruction_budget;
    const Mark m = Save(*out);
    try {
      EvalRule(c, r, &f, out);
    } catch (const std::bad_alloc&) {
      OutOfMemory(c, r, m, &f, out);
    }
    used += options.instruction_budget - f.budget;
  };
  try {
    internal::BeginEvaluation(c, s);
    if (options.trace) {
      // INVARIANT: reserved whole, so that EvalRule's emplace_back never
      // moves the entry f.trace points to.
      out->trace.reserve(c.rules.size());
      f.trace = &dummy;
      for (uint32_t r = 0; r < c.rules.size(); ++r) eval(r);
    } else {
      // Rule chains: Run goes from one rule's `when` to the next's while
      // they are false (interp.h, Frame::chain), so a rule that does not
      // fire costs its instructions and no call. Any other outcome comes
      // back here and is finished by EvalRule as if it had run the `when`.
      const std::vector<uint32_t>& order = *SelectRules(c, request, s);
      size_t i = 0;
      while (i < order.size()) {
        const uint32_t first = c.rule_code[order[i]].when;
        if (first == kNoEntry) {
          eval(order[i++]);
          continue;
        }
        internal::Chain ch;
        ch.rules = order.data();
        ch.n = order.size();
        ch.pos = i;
        ch.full_budget = options.instruction_budget;
        // INVARIANT: a rule passed over (its `when` false) changes nothing
        // in *out, so this mark is also the mark of the rule the chain
        // stops at.
        const Mark m = Save(*out);
        WhenRan ran{false, Value()};
        f.budget = options.instruction_budget;
        f.null_what = {};
        f.chain = &ch;
        try {
          ran.ok = internal::Run(&f, first, &ran.value);
        } catch (const std::bad_alloc&) {
          f.chain = nullptr;
          used += ch.used;
          OutOfMemory(c, order[ch.pos], m, &f, out);
          used += options.instruction_budget - f.budget;
          i = ch.pos + 1;
          continue;
        }
        f.chain = nullptr;
        used += ch.used;
        if (!ch.ran) {  // the rule at ch.pos (if any) has no `when`: the loop takes it
          i = ch.pos;
          continue;
        }
        const uint32_t r = order[ch.pos];
        try {
          EvalRule(c, r, &f, out, &ran);
        } catch (const std::bad_alloc&) {
          OutOfMemory(c, r, m, &f, out);
        }
        used += options.instruction_budget - f.budget;
        i = ch.pos + 1;
      }
    }
  } catch (const std::bad_alloc&) {
    // Outside any rule (the trace, the rule selection): fail closed.
    FailClosed(out, UINT32_MAX);
  }
  out->instructions = used;
}

namespace {

// The rule's failure mode decides whether a require that errors keeps the
// candidate: `on_error skip` keeps it (the require is as if not there),
// `on_error deny` eliminates it.
bool PassOnError(const Code& c, uint32_t require) {
  uint32_t rule = require < c.require_infos.size() ? c.require_infos[require].rule : UINT32_MAX;
  return rule < c.rules.size() && c.rules[rule].on_error == ast::OnError::kSkip;
}

RequireResult EvalRequireOrThrow(const Program& program, uint32_t require, const Record& request,
                                 const Record& candidate, const EvalOptions& options) {
  RequireResult res;
  const Code& c = program.code();
  if (require >= c.require_pc.size()) {
    res.error = true;
    res.code = kErrBuiltin;
    res.message = "no require predicate #" + std::to_string(require);
    return res;
  }
  Scratch* s = &internal::ThreadScratch();
  internal::BeginEvaluation(c, s);
  if (s->arena_dirty) {
    s->arena.Reset();
    s->arena_dirty = false;
  }
  Frame f;
  InitFrame(c, request, &candidate, s, &s->arena, options.instruction_budget, &f);
  if (options.counters != nullptr) {
    f.cnt = options.counters->slots.data();
    f.ncnt = static_cast<uint32_t>(options.counters->slots.size());
    f.cnt_unavailable = options.counters->unavailable;
  }
  // One request is checked against many candidates: a scan of a request
  // field whose text has not changed is reused (compared byte for byte).
  f.reuse_scans = true;
  Value v;
  // Marked dirty first: an allocation failure in Run leaves it so.
  s->arena_dirty = true;
  bool ok = internal::Run(&f, c.require_pc[require], &v);
  s->arena_dirty = f.arena_used;
  if (ok && v.kind == Kind::kBool) {
    res.pass = v.b;
    return res;
  }
  res.error = true;
  if (!ok) {
    res.code = f.err_code;
    res.message = std::move(f.err_msg);
  } else {
    res.code = kErrMissingField;
    res.message = f.null_what.empty() ? "missing value" : "missing field `" + std::string(f.null_what) + "`";
  }
  res.pass = PassOnError(c, require) || UnavailableCounter(c, f, res.code);
  return res;
}

}  // namespace

RequireResult EvalRequire(const Program& program, uint32_t require, const Record& request,
                          const Record& candidate, const EvalOptions& options) {
  try {
    return EvalRequireOrThrow(program, require, request, candidate, options);
  } catch (const std::bad_alloc&) {
    RequireResult res;
    res.error = true;
    res.code = kErrOutOfMemory;
    res.message = "out of memory";  // fits the short-string buffer
    res.pass = PassOnError(program.code(), require);
    return res;
  }
}

namespace {

bool CheckCandidateOrThrow(const Program& program, const Record& request, const Record& candidate,
                           const EvalOptions& options, Decision* out) {
  for (const RequireRef& q : out->require_refs) {
    RequireResult res = EvalRequire(program, q.require, request, candidate, options);
    // An error is always reported; the rule's on_error already decided `pass`
    // (`skip` keeps the candidate, `deny` eliminates it).
    if (res.error) out->errors.push_back(RuleError{q.rule, res.code, res.message});
    if (res.pass) continue;
    const std::string& name = program.code().rules[q.rule].name;
    RequireDeny(out, q.rule,
         "the chosen endpoint does not satisfy rule `" + name + "`");
    return false;
  }
  return true;
}

}  // namespace

bool CheckCandidate(const Program& program, const Record& request, const Record& candidate,
                    const EvalOptions& options, Decision* out) {
  try {
    return CheckCandidateOrThrow(program, request, candidate, options, out);
  } catch (const std::bad_alloc&) {
    // Whether the candidate passes is unknown: fail closed.
    FailClosed(out, UINT32_MAX);
    return false;
  }
}


namespace {

// Runs entry point `pc` of a budget/limit declaration. *v lives in the
// thread's scratch arena until the next evaluation on this thread.
bool RunDeclarationEntry(const Code& c, const Record& request, const Record* candidate, uint32_t pc,
                         Value* v, RuleError* err) {
  Scratch* s = &internal::ThreadScratch();
  internal::BeginEvaluation(c, s);
  if (s->arena_dirty) {
    s->arena.Reset();
    s->arena_dirty = false;
  }
  Frame f;
  InitFrame(c, request, candidate, s, &s->arena, Limits{}.instruction_budget, &f);
  bool ok = internal::Run(&f, pc, v);
  s->arena_dirty = f.arena_used;
  if (!ok) {
    err->code = f.err_code;
    err->message = std::move(f.err_msg);
    return false;
  }
  // A composite key `(a, b)` is a list: every part must be present.
  bool null_part = false;
  if (v->kind == Kind::kList && v->list != nullptr) {
    for (const Value& part : v->list->items) null_part = null_part || part.is_null();
  }
  if (v->is_null() || null_part) {
    err->code = kErrMissingField;
    err->message = f.null_what.empty() ? "missing value" : "missing field `" + std::string(f.null_what) + "`";
    return false;
  }
  return true;
}

bool OutOfMemoryError(RuleError* err) noexcept {
  err->rule = UINT32_MAX;
  err->code = kErrOutOfMemory;
  err->message.clear();
  try {
    err->message = "out of memory";
  } catch (...) {
  }
  return false;
}

bool EvalKeyOrThrow(const Program& program, KeyKind kind, uint32_t index, const Record& request,
                    const Record* candidate, std::string* out, RuleError* err) {
  const Code& c = program.code();
  const std::vector<uint32_t>& pcs = kind == KeyKind::kBudget ? c.budget_pc : c.limit_pc;
  err->rule = UINT32_MAX;
  if (index >= pcs.size() || pcs[index] == kNoEntry) {
    err->code = kErrBuiltin;
    err->message = "no such key expression";
    return false;
  }
  Value v;
  if (!RunDeclarationEntry(c, request, candidate, pcs[index], &v, err)) return false;
  if (v.kind == Kind::kString) {
    out->assign(v.sv());
  } else {
    *out = ToJson(v);
  }
  return true;
}

bool EvalDeclarationOrThrow(const Program& program, KeyKind kind, uint32_t index,
                            const Record& request, const Record* candidate, DeclarationValue* out,
                            RuleError* err) {
  const Code& c = program.code();
  const bool budget = kind == KeyKind::kBudget;
  const std::vector<uint32_t>& when_pcs = budget ? c.budget_when_pc : c.limit_when_pc;
  const std::vector<uint32_t>& limit_pcs = budget ? c.budget_limit_pc : c.limit_max_pc;
  out->applies = false;
  out->key.clear();
  out->limit = 0;
  err->rule = UINT32_MAX;
  if (index >= when_pcs.size() || index >= limit_pcs.size()) {
    err->code = kErrBuiltin;
    err->message = "no such declaration";
    return false;
  }
  Value v;
  if (when_pcs[index] != kNoEntry) {
    if (!RunDeclarationEntry(c, request, candidate, when_pcs[index], &v, err)) return false;
    if (v.kind != Kind::kBool) {
      err->code = kErrMissingField;
      err->message = "`when` gave no bool";
      return false;
    }
    if (!v.b) return true;
  }
  if (!EvalKeyOrThrow(program, kind, index, request, candidate, &out->key, err)) return false;
  if (limit_pcs[index] == kNoEntry) {
    out->limit = budget ? c.budgets[index].limit_micros : c.limits[index].max;
  } else {
    if (!RunDeclarationEntry(c, request, candidate, limit_pcs[index], &v, err)) return false;
    if ((v.kind != Kind::kMoney && v.kind != Kind::kInt) || v.i < 0) {
      err->code = kErrArithmetic;
      err->message = std::string(budget ? "budget `" + c.budgets[index].name + "` limit"
                                        : "limit `" + c.limits[index].name + "` max") +
                     " is " + ToJson(v) + ", not a number of zero or more";
      return false;
    }
    out->limit = v.i;
  }
  out->applies = true;
  return true;
}

}  // namespace

bool EvalKey(const Program& program, KeyKind kind, uint32_t index, const Record& request,
             std::string* out, RuleError* err) {
  try {
    return EvalKeyOrThrow(program, kind, index, request, nullptr, out, err);
  } catch (const std::bad_alloc&) {
    return OutOfMemoryError(err);
  }
}

bool EvalDeclaration(const Program& program, KeyKind kind, uint32_t index, const Record& request,
                     DeclarationValue* out, RuleError* err, const Record* candidate) {
  try {
    return EvalDeclarationOrThrow(program, kind, index, request, candidate, out, err);
  } catch (const std::bad_alloc&) {
    out->applies = false;
    return OutOfMemoryError(err);
  }
}

}  // namespace tollgate::vm
