// Test blocks: build the input, evaluate, check expectations (see test_runner.h).
#include "runtime/decide/test_runner.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <set>

#include "engine/core/money.h"
#include "engine/vm/vm.h"
#include "runtime/decide/budgets.h"
#include "runtime/decide/decision_json.h"
#include "runtime/input/candidate_names.h"
#include "runtime/input/input.h"
#include "runtime/input/request_texts.h"
#include "runtime/ledger/open.h"
#include "runtime/router/bare_models.h"
#include "runtime/router/router.h"
#include "stdlib/redact.h"

namespace tollgate::runtime {
namespace {

namespace rj = rapidjson;
using W = rj::Writer<rj::StringBuffer>;

std::string Join(const std::vector<std::string>& parts, const char* sep = ".") {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out += sep;
    out += parts[i];
  }
  return out;
}

// Writes `v` as decision-input JSON, using `t` for record field names.
void WriteValue(W* w, const Value& v, const Type& t) {
  switch (v.kind) {
    case Kind::kNull: w->Null(); return;
    case Kind::kBool: w->Bool(v.b); return;
    case Kind::kInt:
    case Kind::kDuration: w->Int64(v.i); return;
    case Kind::kDecimal:
    case Kind::kMoney: {
      std::string s = FormatMicros(v.i);
      w->String(s.c_str(), static_cast<rj::SizeType>(s.size()));
      return;
    }
    case Kind::kString: w->String(v.str, v.size); return;
    case Kind::kTime: {
      std::string s = FormatRfc3339(v.i);
      w->String(s.c_str(), static_cast<rj::SizeType>(s.size()));
      return;
    }
    case Kind::kSet:
      w->StartArray();
      for (const Value& x : v.set->items) WriteValue(w, x, t.elem());
      w->EndArray();
      return;
    case Kind::kList:
      w->StartArray();
      for (const Value& x : v.list->items) WriteValue(w, x, t.elem());
      w->EndArray();
      return;
    case Kind::kMap:
      w->StartObject();
      for (std::string_view k : v.map->keys) {
        w->Key(k.data(), static_cast<rj::SizeType>(k.size()));
        const Value* x = MapFind(v, k);
        WriteValue(w, x ? *x : Value(), t.elem());
      }
      w->EndObject();
      return;
    case Kind::kRecord: {
      w->StartObject();
      const auto& fields = t.fields();
      for (size_t i = 0; i < v.rec->fields.size(); ++i) {
        if (v.rec->fields[i].is_null()) continue;
        std::string name = i < fields.size() ? fields[i].name : "field" + std::to_string(i);
        w->Key(name.c_str(), static_cast<rj::SizeType>(name.size()));
        WriteValue(w, v.rec->fields[i], i < fields.size() ? fields[i].type : Type());
      }
      w->EndObject();
      return;
    }
    default: w->Null(); return;
  }
}

// A JSON object tree built from dotted paths.
struct JNode {
  std::string key;
  std::string raw;  // leaf JSON (empty for inner nodes)
  std::vector<JNode> kids;
  JNode* Child(const std::string& k) {
    for (JNode& c : kids)
      if (c.key == k) return &c;
    kids.push_back({k, {}, {}});
    return &kids.back();
  }
  void Set(const std::vector<std::string>& path, std::string json) {
    JNode* at = this;
    for (const std::string& p : path) at = at->Child(p);
    at->raw = std::move(json);
    at->kids.clear();
  }
  bool Has(const std::vector<std::string>& path) const {
    const JNode* at = this;
    for (const std::string& p : path) {
      const JNode* next = nullptr;
      for (const JNode& c : at->kids)
        if (c.key == p) next = &c;
      if (!next) return false;
      at = next;
    }
    return true;
  }
  void Write(W* w) const {
    if (!raw.empty()) {
      w->RawValue(raw.data(), raw.size(), rj::kObjectType);
      return;
    }
    w->StartObject();
    for (const JNode& c : kids) {
      w->Key(c.key.c_str(), static_cast<rj::SizeType>(c.key.size()));
      c.Write(w);
    }
    w->EndObject();
  }
};

std::vector<std::string> Split(const std::string& path) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t dot = path.find('.', start);
    out.push_back(path.substr(start, dot == std::string::npos ? dot : dot - start));
    if (dot == std::string::npos) return out;
    start = dot + 1;
  }
}

std::string DefaultJson(const stdlib::FieldDef& f) {
  if (f.path == "principal.workspace") return "\"test\"";
  if (f.path == "request.model") return "\"test-model\"";
  switch (f.type.kind()) {
    case Kind::kString: return "\"\"";
    case Kind::kInt: case Kind::kDuration: case Kind::kDecimal: case Kind::kMoney: return "0";
    case Kind::kBool: return "false";
    case Kind::kTime: return "\"1970-01-01T00:00:00Z\"";
    case Kind::kSet: case Kind::kList: return "[]";
    case Kind::kMap: return "{}";
    default: return "null";
  }
}

// The value of a required candidate field a test leaves out (like DefaultJson).
Value NeutralValue(const Type& t, Arena* arena) {
  switch (t.kind()) {
    case Kind::kString: return arena->String("");
    case Kind::kBool: return Value::Bool(false);
    case Kind::kInt: return Value::Int(0);
    case Kind::kDecimal: return Value::Decimal(0);
    case Kind::kMoney: return Value::Money(0);
    case Kind::kDuration: return Value::Scalar(Kind::kDuration, 0);
    case Kind::kTime: return Value::Time(0);
    case Kind::kSet: return arena->MakeSet({});
    case Kind::kList: return arena->MakeList({});
    default: return Value::Null();
  }
}

// Converts a folded constant to the kind of the field it is bound to.
Value Coerce(const Value& v, const Type& t) {
  if (v.kind == Kind::kInt && (t.is(Kind::kDecimal) || t.is(Kind::kMoney)))
    return Value::Scalar(t.kind(), v.i * kMicros);
  if (v.kind == Kind::kDecimal && t.is(Kind::kMoney)) return Value::Money(v.i);
  return v;
}

int FindCandidateField(const stdlib::Schema& s, const std::vector<std::string>& path) {
  std::string joined = Join(path);
  auto cand = [&](const std::string& p) {
    int id = s.Find(p);
    return id >= 0 && s.field(id).scope == ast::Scope::kCandidate ? id : -1;
  };
  if (int id = cand(joined); id >= 0) return id;
  if (joined == "provider") return cand("provider.name");
  if (joined == "endpoint") return cand("endpoint.id");
  if (int id = cand("provider." + joined); id >= 0) return id;
  return cand("endpoint." + joined);
}

// The bindings a test runs with: the checker's fixture-merged list, or the
// test's own `given` when the test was not checked.
std::vector<const ast::Binding*> Given(const ast::TestDecl& t) {
  if (!t.effective.empty() || t.given.empty()) return t.effective;
  std::vector<const ast::Binding*> out;
  for (const ast::Binding& b : t.given) out.push_back(&b);
  return out;
}

// `budget.<name>.spent` / `limit.<name>.used` in a `given`: a ledger
// counter, not a request field (the checker has validated it).
bool IsCounterBinding(const ast::Binding& b, const stdlib::Schema& schema) {
  return b.path.size() == 3 && (b.path[0] == "budget" || b.path[0] == "limit") && schema.Find(Join(b.path)) < 0;
}

size_t Count(std::string_view text, std::string_view what) {
  if (what.empty()) return 0;
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string_view::npos; at = text.find(what, at + what.size()))
    ++n;
  return n;
}

struct Runner {
  const Policy& policy;
  const vm::Program& prog;
  const stdlib::Schema& schema;
  const Limits& limits;
  const Catalog* catalog;  // bare model names are resolved with it (may be null)
  std::vector<bool> exercised;
  std::vector<std::string> bare_models;  // without a catalog: the bare names tests gave
  std::string input_json;  // the decision input of the test being run (BuildTestInput)
  // The options the test's rules ran with (instruction budget, given
  // counters); requires are judged with the same ones.
  vm::EvalOptions eval;

  std::string RuleDesc(uint32_t id) const {
    return id < prog.rules().size() ? "`" + prog.rules()[id].name + "`" : "?";
  }

  std::string Outcome(const vm::Decision& d) const {
    if (d.outcome == vm::Outcome::kAllow) return "allow";
    std::string s = "deny " + std::to_string(d.status) + " (" + std::string(d.code);
    if (d.deny_rule != UINT32_MAX) s += " by rule " + RuleDesc(d.deny_rule);
    if (!d.reason.empty()) s += ": \"" + d.reason + "\"";
    s += ")";
    if (!d.errors.empty()) s += "; first error: " + d.errors[0].message;
    return s;
  }

  static bool In(const std::vector<uint32_t>& v, int id) {
    return id >= 0 && std::find(v.begin(), v.end(), static_cast<uint32_t>(id)) != v.end();
  }
  bool Fired(const vm::Decision& d, int id) const {
    return In(d.fired, id) || In(d.shadow, id) || In(d.advisory, id);
  }

  // The mode rule `id` fired in for this decision: "enforced", "shadow",
  // "advisory", or "" when it did not fire.
  std::string ModeOf(const vm::Decision& d, int id) const {
    return In(d.fired, id) ? "enforced" : In(d.shadow, id) ? "shadow" : In(d.advisory, id) ? "advisory" : "";
  }

  // The redactions the shadow rules of `d` would have placed, as an enforced
  // rule places them (vm::Evaluate): into out->redactions.
  void ShadowRedactions(const vm::Decision& d, vm::Decision* out) const {
    out->redactions.clear();
    for (uint32_t rule : d.shadow) {
      for (uint32_t i : prog.RuleRedactions(rule)) {
        const vm::RedactInfo& ri = prog.redactions()[i];
        out->redactions.push_back(vm::Redaction{rule, ri.effect, ri.display, ri.replacement});
      }
    }
  }

  // The runtime errors rule `id` reported ("" when none), as
  // "code (message)"; several joined by "; ".
  std::string ErrorsOf(const vm::Decision& d, int id) const {
    std::string out;
    for (const vm::RuleError& x : d.errors) {
      if (x.rule != static_cast<uint32_t>(id)) continue;
      out += (out.empty() ? "" : "; ") + std::string(x.code) + " (" + x.message + ")";
    }
    return out;
  }

  // The enforced rules that could deny (a `deny` effect; enforced, or
  // shadow/advisory only `when` a condition holds) whose evaluation failed
  // and so did not fire: with `on_error skip` the request went on as if they
  // had not matched. "" when none; else "the deny rule `r`, whose
  // evaluation failed: code (message)", several joined by "; ".
  std::string SkippedDenies(const vm::Decision& d) const {
    std::string out;
    for (size_t id = 0; id < prog.rules().size(); ++id) {
      if (Fired(d, static_cast<int>(id))) continue;
      std::string err = ErrorsOf(d, static_cast<int>(id));
      if (err.empty()) continue;
      const ast::Rule* rule = nullptr;
      for (const ast::Rule& x : policy.ast().rules)
        if (x.name == prog.rules()[id].name) rule = &x;
      if (!rule || (rule->mode != ast::Mode::kEnforce && !rule->mode_when)) continue;
      bool denies = false;
      for (const ast::Effect& eff : rule->effects) denies |= eff.kind == ast::EffectKind::kDeny;
      if (!denies) continue;
      out += (out.empty() ? "" : "; ") + std::string("the deny rule ") +
             RuleDesc(static_cast<uint32_t>(id)) + ", whose evaluation failed: " + err;
    }
    return out;
  }

  // The required request fields a test may leave out get the runner's
  // values (DefaultJson): "test" and "test-model" are no one's, so a rule
  // reading them (a workspace registry, a model allowlist) denies them. When
  // the decision's deny came from such a rule's condition and the test
  // neither gives the field nor names the rule (`expect fired r`, `expect
  // reason`), an `expect deny` would hold whatever the rule under test did:
  // returns "rule `r`, whose condition reads `f`, which the test does not
  // give (the runner's default `v`)", else "".
  std::string DefaultedDeny(const ast::TestDecl& t, const vm::Decision& d) const {
    if (d.outcome != vm::Outcome::kDeny || d.code != vm::kCodePolicyDenied ||
        d.deny_rule >= prog.rules().size())
      return "";
    const std::string& name = prog.rules()[d.deny_rule].name;
    for (const ast::Expect& e : t.expects) {
      if (e.kind == ast::ExpectKind::kReason) return "";
      if (e.kind == ast::ExpectKind::kFired && !e.shadow &&
          std::find(e.names.begin(), e.names.end(), name) != e.names.end())
        return "";
    }
    const ast::Rule* rule = nullptr;
    for (const ast::Rule& x : policy.ast().rules)
      if (x.name == name) rule = &x;
    if (!rule) return "";
    bool gives_workspace = false, gives_model = false;
    for (const ast::Binding* b : Given(t)) {
      const std::string path = Join(b->path);
      gives_workspace |= path == "principal.workspace";
      gives_model |= path == "request.model" || path == "request.model_full";
    }
    std::string found;
    std::function<void(const ast::Expr&, uint32_t)> walk = [&](const ast::Expr& e, uint32_t depth) {
      if (!found.empty() || depth > 512) return;
      if (e.ref == ast::RefKind::kField && e.index >= 0) {
        const std::string& path = schema.field(e.index).path;
        if (path == "principal.workspace" && !gives_workspace) found = path + "`, which the test does not give (the runner's default `\"test\"`)";
        if ((path == "request.model" || path == "request.model_full") && !gives_model)
          found = path + "`, which the test does not give (the runner's default `\"test-model\"`)";
      }
      for (const auto& k : e.kids) walk(*k, depth + 1);
    };
    for (const ast::Expr* e : {rule->when.get(), rule->mode_when.get()})
      if (e) walk(*e, 0);
    return found.empty() ? "" : "rule `" + name + "`, whose condition reads `" + found;
  }

  void FailDefaultedDeny(const ast::TestDecl& t, const ast::Expect& e, const vm::Decision& d, TestResult* r) {
    std::string why = DefaultedDeny(t, d);
    if (why.empty()) return;
    Fail(r, e, "the request was denied by " + why + " -- a deny for the wrong reason, which holds "
                   "whatever the rule under test does; give the field in `given` (or a fixture), "
                   "or name the rule the test is about: `expect fired " + prog.rules()[d.deny_rule].name +
                   "` or `expect reason \"...\"`");
  }

  // The candidate fields require `require` reads that the test's `candidate`
  // block does not give (they read as a neutral value: `""`, false, 0, an
  // empty set), named with the predicate: "require `P` does, which reads `f`
  // that the `candidate` block does not give (a neutral `v`)", else "".
  // Names the block completes count as given (`provider.name` and
  // `provider.slug`; `endpoint.model` and its `_full` / `_variant`);
  // `endpoint.estimated_cost` is computed or null, never neutral.
  std::string DefaultedCandidateFields(const ast::TestDecl& t, uint32_t require) const {
    if (require >= prog.require_infos().size()) return "";
    const vm::RequireInfo& info = prog.require_infos()[require];
    std::set<std::string> given;
    for (const ast::Binding& b : t.candidate) {
      int id = FindCandidateField(schema, b.path);
      if (id < 0) continue;
      const std::string& path = schema.field(id).path;
      given.insert(path);
      if (path == "provider.name" || path == "provider.slug") given.insert({"provider.name", "provider.slug"});
      if (path.starts_with("endpoint.model"))
        given.insert({"endpoint.model", "endpoint.model_full", "endpoint.model_variant"});
    }
    for (int slot : info.candidate_slots) {
      int fid = schema.FieldOfSlot(ast::Scope::kCandidate, slot);
      if (fid < 0) continue;
      const stdlib::FieldDef& f = schema.field(fid);
      if (!f.required || f.path == "endpoint.estimated_cost" || given.count(f.path)) continue;
      return "require `" + info.text + "` does, which reads `" + f.path +
             "` that the `candidate` block does not give (a neutral `" + DefaultJson(f) + "`)";
    }
    return "";
  }

  void Run(const ast::TestDecl& t, TestResult* r) {
    r->name = t.name;
    r->file = t.span.file ? t.span.file->path : "";
    r->line = t.span.line;
    std::string json, error;
    if (!BuildTestInput(t, schema, &json, &error)) {
      r->failures.push_back(error);
      return;
    }
    // A bare model name is the catalog's model of that name, as the gateway
    // reads it (runtime/router/bare_models.h).
    // The runner's neutral `test-model` is no name to resolve or warn of:
    // only a test that gives the model is looked at.
    const std::vector<const ast::Binding*> given = Given(t);
    auto gives = [&](std::string_view member) {
      return std::any_of(given.begin(), given.end(), [&](const ast::Binding* b) {
        return b->path.size() == 2 && b->path[0] == "request" && b->path[1] == member;
      });
    };
    const bool gives_model = gives("model");
    if (gives_model || gives("models")) {
      if (catalog) {
        ResolveBareModelsInInput(*catalog, &json);
      } else {
        for (std::string& n : BareModelNamesInInput(json))
          if ((gives_model || n != "test-model") &&
              std::find(bare_models.begin(), bare_models.end(), n) == bare_models.end())
            bare_models.push_back(std::move(n));
      }
    }
    input_json = json;
    vm::Record req;
    InputError ierr;
    // Tests are reproducible: an absent context.time is kTestClockMs, not
    // the wall clock.
    DecodeOptions dopts;
    dopts.now_ms = kTestClockMs;
    if (!DecodeInput(json, schema, limits, dopts, &req, &ierr)) {
      std::string help;
      if (ierr.code == "input_missing_field")
        help = " (as `eval` rejects such a request; bind `" + ierr.path +
               "` in the test's `given` or in its fixture)";
      r->failures.push_back("the given request is not a valid decision input: " + ierr.message + help);
      return;
    }
    // Derived fields given directly override what the decoder computed.
    for (const ast::Binding* b : Given(t)) {
      int id = schema.Find(Join(b->path));
      if (id < 0 || !schema.field(id).derived || !b->value || !b->value->folded) continue;
      req.slots[schema.field(id).slot] = Coerce(*b->value->folded, schema.field(id).type);
    }
    vm::Record cand;
    if (!DecodeTestCandidate(t, &cand, r)) return;
    // endpoint.estimated_cost, unless given, is computed as the router (and
    // `eval`, for a decision input's candidate) computes it: from the prices
    // the block gives and the request's tokens, before any neutral value is
    // filled in. A block without prices leaves it null, as `eval` does -- a
    // require reading it then errors instead of passing on a cost of 0.
    DeriveEstimatedCost(schema, req, &cand);
    // Fields every catalog endpoint has (required, sets) that the block
    // leaves out get neutral values, like required request fields. Derived
    // fields do not: the router computes them per request.
    for (const stdlib::FieldDef& f : schema.fields()) {
      if (f.scope != ast::Scope::kCandidate || !f.AlwaysPresent() || f.derived) continue;
      Value& v = cand.slots[f.slot];
      if (v.is_null()) v = NeutralValue(f.type, &cand.arena);
    }
    vm::Decision d;
    vm::EvalOptions opts;
    opts.instruction_budget = limits.instruction_budget;
    vm::Counters counters;
    if (!GivenCounters(t, req, &counters, r)) return;
    if (!counters.slots.empty()) opts.counters = &counters;
    vm::Evaluate(prog, req, opts, &d);
    eval = opts;
    for (uint32_t id : d.fired) exercised[id] = true;
    for (uint32_t id : d.shadow) exercised[id] = true;
    for (uint32_t id : d.advisory) exercised[id] = true;
    for (const ast::Expect& e : t.expects) Check(t, e, d, req, cand, r);
    eval = vm::EvalOptions{};  // points at `counters`, which ends here
  }

  // The counters a test gives (`budget.b.spent: 40 usd`, `limit.l.used: 3`)
  // are charged to a fresh in-memory ledger, at the request's time, on the
  // keys and windows the request's budgets and limits compute; the rules
  // then read every applicable counter as a gateway would (Peek +
  // FillCounters): spent, remaining and limit follow from the declarations.
  // A test giving no counter runs without a ledger (rules reading counters
  // see null, as with `eval`). False (with a failure) when a given counter's
  // declaration does not apply to the request or cannot be computed.
  bool GivenCounters(const ast::TestDecl& t, const vm::Record& req, vm::Counters* out, TestResult* r) const {
    std::vector<const ast::Binding*> given;
    for (const ast::Binding* b : Given(t))
      if (IsCounterBinding(*b, schema)) given.push_back(b);
    if (given.empty()) return true;
    BudgetPlan plan;
    if (!PlanBudgets(prog, req, &plan)) {
      r->failures.push_back("the given counters cannot be applied: " + plan.error_message);
      return false;
    }
    const int time_slot = schema.field(schema.Find("context.time")).slot;
    const Value& at = req.slots[time_slot];
    ledger::ManualClock clock(at.kind == Kind::kTime ? at.i : kTestClockMs);
    ledger::Options o;
    o.clock = &clock;
    std::unique_ptr<ledger::Ledger> led = ledger::NewMemoryLedger(o);
    for (const ast::Binding* b : given) {
      const std::string path = Join(b->path);
      const int64_t amount = b->value && b->value->folded ? b->value->folded->i : 0;
      ledger::ReserveRequest charge;
      if (b->path[0] == "budget") {
        for (const ledger::BudgetCharge& c : plan.reserve.budgets)
          if (c.budget == b->path[1]) charge.budgets.push_back({c.budget, c.key, c.window, INT64_MAX, amount});
      } else {
        for (const ledger::LimitCharge& c : plan.reserve.limits)
          if (c.limit == b->path[1]) charge.limits.push_back({c.limit, c.key, c.window, INT64_MAX, amount, c.unit});
      }
      bool per_endpoint = false;
      if (b->path[0] == "budget") {
        for (const vm::BudgetInfo& d : prog.budgets()) per_endpoint |= d.name == b->path[1] && d.per_endpoint;
      } else {
        for (const vm::LimitInfo& d : prog.limits()) per_endpoint |= d.name == b->path[1] && d.per_endpoint;
      }
      if (per_endpoint) {
        r->failures.push_back("`" + path + "` is given, but " + b->path[0] + " `" + b->path[1] +
                              "` is charged per endpoint (its `when` or key reads endpoint fields): "
                              "no rule reads its counters");
        return false;
      }
      if (charge.budgets.empty() && charge.limits.empty()) {
        r->failures.push_back("`" + path + "` is given, but " + b->path[0] + " `" + b->path[1] +
                              "` does not apply to the given request (its `when` is false)");
        return false;
      }
      ledger::Admission a = led->Reserve(charge);
      if (!a.admitted() || !led->Settle(a.reservation, {amount, amount}).ok) {
        r->failures.push_back("`" + path + "` cannot be charged: " + a.message);
        return false;
      }
    }
    std::vector<ledger::CounterView> views;
    led->Peek(plan.reserve, &views);
    FillCounters(prog, plan, views, out);
    return true;
  }

  // The `candidate` block becomes a decision input's `candidate` member and
  // is decoded by DecodeCandidate, so a test judges only candidates a
  // decision input may name: a value the decoder refuses (`"INT4"`, `"cn"`,
  // a negative price, names that disagree) fails the test at the binding
  // (FILE:LINE:COL), and names are completed as the catalog does
  // (runtime/input/candidate_names.h: `provider.name: "azure/sweden"` reads
  // as provider.name "azure" and provider.slug "azure/sweden").
  bool DecodeTestCandidate(const ast::TestDecl& t, vm::Record* cand, TestResult* r) const {
    JNode root;
    root.Child("candidate");
    for (const ast::Binding& b : t.candidate) {
      int id = FindCandidateField(schema, b.path);
      if (id < 0) {
        r->failures.push_back("candidate field `" + Join(b.path) + "` is not in the schema");
        return false;
      }
      if (!b.value || !b.value->folded) {
        r->failures.push_back("candidate value of `" + Join(b.path) + "` is not a constant");
        return false;
      }
      const stdlib::FieldDef& f = schema.field(id);
      rj::StringBuffer sb;
      W w(sb);
      WriteValue(&w, Coerce(*b.value->folded, f.type), f.type);
      std::vector<std::string> path = Split(f.path);
      path.insert(path.begin(), "candidate");
      root.Set(path, std::string(sb.GetString(), sb.GetSize()));
    }
    rj::StringBuffer sb;
    W w(sb);
    root.Write(&w);
    bool present = false;
    InputError err;
    if (DecodeCandidate(std::string_view(sb.GetString(), sb.GetSize()), schema, limits, cand,
                        &present, &err)) {
      if (!present) cand->slots.assign(schema.slot_count(ast::Scope::kCandidate), Value::Null());
      return true;
    }
    // The binding the error names (a derived name: the test's own line).
    Span at = t.span;
    for (const ast::Binding& b : t.candidate) {
      int id = FindCandidateField(schema, b.path);
      if (id >= 0 && "candidate." + schema.field(id).path == err.path)
        at = b.value ? b.value->span : b.span;
    }
    std::string where = at.file ? at.file->path + ":" : "";
    where += std::to_string(at.line) + ":" + std::to_string(at.col);
    r->failures.push_back(where + ": the candidate is not one a decision input may name: " +
                          err.message + " (" + err.code + ")");
    return false;
  }

  void Fail(TestResult* r, const ast::Expect& e, std::string msg) {
    r->failures.push_back("line " + std::to_string(e.span.line) + ": " + msg);
  }

  void Check(const ast::TestDecl& t, const ast::Expect& e, const vm::Decision& d,
             const vm::Record& req, const vm::Record& cand, TestResult* r) {
    switch (e.kind) {
      case ast::ExpectKind::kAllow: {
        if (d.outcome != vm::Outcome::kAllow) {
          Fail(r, e, "expected allow, got " + Outcome(d));
          return;
        }
        // An allow that only an `on_error skip` made is not the allow a test
        // expects: the rule that could deny never decided (no counters given,
        // a division by zero), and the test would pass for the wrong reason.
        // `expect code "ok"` tests the fail-open allow.
        std::string skipped = SkippedDenies(d);
        if (!skipped.empty())
          Fail(r, e, "expected allow: the request was allowed only because `on_error skip` "
                         "skipped " + skipped + " -- an allow for the wrong reason; give the request (or the "
                         "`budget.<name>.spent` / `limit.<name>.used` counters) the rule "
                         "needs to decide, or use `expect code \"ok\"` if the fail-open "
                         "allow is intended");
        return;
      }
      case ast::ExpectKind::kDeny:
        // A deny caused by a rule's error is not the deny a test expects: it
        // would pass for the wrong reason. `expect code "rule_error"` tests it.
        if (d.outcome != vm::Outcome::kDeny || (e.status != 0 && d.status != e.status) ||
            d.code == vm::kCodeRuleError)
          Fail(r, e,
               "expected deny" + (e.status ? " " + std::to_string(e.status) : std::string()) +
                   ", got " + Outcome(d) +
                   (d.code == vm::kCodeRuleError
                        ? " -- a deny caused by an error; use `expect code \"rule_error\"` if that is intended"
                        : ""));
        else
          FailDefaultedDeny(t, e, d, r);
        return;
      case ast::ExpectKind::kCode:
        if (!e.names.empty() && d.code != e.names[0])
          Fail(r, e, "expected code \"" + e.names[0] + "\", got " + Outcome(d));
        else if (!e.names.empty() && e.names[0] == vm::kCodePolicyDenied)
          FailDefaultedDeny(t, e, d, r);
        return;
      case ast::ExpectKind::kReason: {
        std::string want = e.names.empty() ? std::string() : e.names[0];
        bool ok = e.contains ? d.reason.find(want) != std::string::npos : d.reason == want;
        if (!ok)
          Fail(r, e, std::string("expected the reason ") + (e.contains ? "to contain" : "to be") +
                         " \"" + want + "\", got " +
                         (d.reason.empty() ? std::string("no reason") : "\"" + d.reason + "\"") +
                         " (" + Outcome(d) + ")");
        return;
      }
      case ast::ExpectKind::kNoErrors: {
        // The rules' errors, and with a `candidate` block those of the
        // requires judging it (enforced and shadow, as the router evaluates
        // them): an erroring require is an error whether its `on_error`
        // keeps the candidate (`skip`) or rejects it (`deny`).
        std::string list;
        for (const vm::RuleError& x : d.errors)
          list += (list.empty() ? "" : "; ") + std::string("rule ") + RuleDesc(x.rule) + ": " +
                  std::string(x.code) + " (" + x.message + ")";
        if (t.has_candidate) {
          for (const std::vector<vm::RequireRef>* refs : {&d.require_refs, &d.shadow_requires}) {
            for (const vm::RequireRef& q : *refs) {
              vm::RequireResult res = vm::EvalRequire(prog, q.require, req, cand, eval);
              if (!res.error) continue;
              list += (list.empty() ? "" : "; ") + std::string("the require of ") +
                      (refs == &d.shadow_requires ? "shadow " : "") + "rule " + RuleDesc(q.rule) +
                      " on the candidate: " + std::string(res.code) + " (" + res.message + ")" +
                      (res.pass ? ", skipped by `on_error skip`" : ", which rejects it");
            }
          }
        }
        if (!list.empty()) Fail(r, e, "expected no errors, got " + list);
        return;
      }
      case ast::ExpectKind::kRedacted: {
        std::string want = e.names.empty() ? std::string() : e.names[0];
        // As for `redacts`: a denied request sends nothing upstream, so there
        // is no redacted content to judge -- comparing the content as given
        // (or with redactions nothing applies) would pass and hide the deny.
        if (d.outcome == vm::Outcome::kDeny) {
          Fail(r, e, std::string("expected the redacted content ") +
                         (e.contains ? "to contain" : "to be") + " \"" + want +
                         "\", but the request was denied, " + Outcome(d) +
                         " -- a denied request sends nothing upstream, so nothing is redacted; "
                         "assert the deny (`expect deny`), or give a request the policy allows");
          return;
        }
        std::string got, err;
        if (!Redacted(d, req, &got, nullptr, &err)) { Fail(r, e, err); return; }
        bool ok = e.contains ? got.find(want) != std::string::npos : got == want;
        if (!ok)
          Fail(r, e, std::string("expected the redacted content ") +
                         (e.contains ? "to contain" : "to be") + " \"" + want + "\", got \"" + got + "\"");
        return;
      }
      case ast::ExpectKind::kFired:
      case ast::ExpectKind::kNotFired: {
        bool want = e.kind == ast::ExpectKind::kFired;
        for (const std::string& n : e.names) {
          int id = prog.FindRule(n);
          if (id < 0) { Fail(r, e, "no rule named `" + n + "`"); continue; }
          if (Fired(d, id)) {
            if (!want) Fail(r, e, "expected rule `" + n + "` not to fire, it fired");
            else if (e.shadow && !In(d.shadow, id))
              Fail(r, e, "expected rule `" + n + "` to fire in shadow mode, it fired in " +
                             ModeOf(d, id) + " mode");
            continue;
          }
          // A rule whose `when` (or mode condition) failed did not fire, but
          // not for the reason `not_fired` states: with `on_error deny` it
          // denied the request (rule_error). Test that with `expect code
          // "rule_error"` or fix the rule.
          std::string err = ErrorsOf(d, id);
          if (!err.empty())
            Fail(r, e, "expected rule `" + n + (want ? "` to fire" : "` not to fire") +
                           ", its evaluation failed: " + err + " (" + Outcome(d) + ")");
          else if (want)
            Fail(r, e, "expected rule `" + n + "` to fire, it did not");
        }
        return;
      }
      case ast::ExpectKind::kRejectedBy: {
        // `rejected_by` judges what production does: only the requires of
        // rules enforced for this request eliminate an endpoint. `expect
        // shadow rejected_by` judges a shadow rule's would-be verdict (the
        // decision's `shadow_requires`, which the router only reports).
        const std::string form = e.shadow ? "`expect shadow rejected_by`" : "`expect rejected_by`";
        if (!t.has_candidate) { Fail(r, e, form + " needs a `candidate` block"); return; }
        const std::vector<vm::RequireRef>& refs = e.shadow ? d.shadow_requires : d.require_refs;
        for (const std::string& n : e.names) {
          int id = prog.FindRule(n);
          if (id < 0) { Fail(r, e, "no rule named `" + n + "`"); continue; }
          bool placed = false, rejected = false;
          std::string errors, defaulted;
          for (const vm::RequireRef& q : refs) {
            if (q.rule != static_cast<uint32_t>(id)) continue;
            placed = true;
            vm::RequireResult res = vm::EvalRequire(prog, q.require, req, cand, eval);
            // A predicate that errors rejects the candidate in production
            // under `on_error deny` (fail closed) but is not the rejection
            // the test expects; under `on_error skip` production keeps it.
            if (res.error)
              errors += (errors.empty() ? "" : "; ") + res.message +
                        (res.pass ? " (`on_error skip` keeps the candidate)"
                                  : " (the rule's `on_error deny` rejects the candidate for the "
                                    "error, not by its condition)");
            else if (!res.pass) {
              // A rejection by a require reading a field the block leaves
              // at its neutral value holds whatever the rule lists.
              std::string d = DefaultedCandidateFields(t, q.require);
              if (d.empty()) rejected = true;
              else if (defaulted.empty()) defaulted = d;
            }
          }
          const std::string want = "expected rule `" + n + "` to reject the candidate" +
                                   (e.shadow ? " in shadow mode" : "");
          if (!placed) {
            const std::string mode = ModeOf(d, id);
            std::string err = ErrorsOf(d, id);
            if (!err.empty())
              Fail(r, e, want + ", but its evaluation failed: " + err);
            else if (mode.empty())
              Fail(r, e, want + ", but it did not fire (no requirement placed)");
            else if (!e.shadow && mode == "shadow")
              Fail(r, e, want + ", but it fired in shadow mode: its require is not enforced and "
                             "production accepts the candidate (write `expect shadow rejected_by " +
                             n + "` to test the shadow verdict)");
            else if (e.shadow && mode == "enforced")
              Fail(r, e, want + ", but it is enforced for this request (write `expect rejected_by " +
                             n + "`)");
            else
              Fail(r, e, want + ", but it fired in " + mode + " mode: its requires are not applied");
          } else if (!rejected && !defaulted.empty()) {
            Fail(r, e, want + ", but only its " + defaulted + " -- a rejection for the wrong "
                           "reason, which holds whatever the rule allows; give the field in `candidate`");
          } else if (!rejected && !errors.empty()) {
            Fail(r, e, want + ", but its require failed with an error: " + errors);
          } else if (!rejected) {
            Fail(r, e, want + ", but the candidate satisfies it");
          }
        }
        return;
      }
      case ast::ExpectKind::kAccepted: {
        if (!t.has_candidate) { Fail(r, e, "`expect accepted` needs a `candidate` block"); return; }
        for (const vm::RequireRef& q : d.require_refs) {
          // An erroring require rejects the candidate unless its rule says
          // `on_error skip`, as in the router (`expect no_errors` fails on
          // the error either way).
          vm::RequireResult res = vm::EvalRequire(prog, q.require, req, cand, eval);
          if (!res.pass) {
            std::string text = q.require < prog.require_infos().size() ? prog.require_infos()[q.require].text : "?";
            Fail(r, e, "expected the candidate to be accepted, rule " + RuleDesc(q.rule) +
                           " rejects it (require " + text + ")" +
                           (res.error ? ": " + res.message : std::string()));
          }
        }
        return;
      }
      case ast::ExpectKind::kRedacts: {
        // The redaction must be placed AND replace something in the content.
        // `redacts` judges the redactions production applies (enforced
        // rules); `expect shadow redacts` those shadow rules would apply.
        std::string want = e.names.empty() ? std::string() : e.names[0];
        vm::Decision shadow;
        if (e.shadow) ShadowRedactions(d, &shadow);
        const vm::Decision& placed_by = e.shadow ? shadow : d;
        const std::string what = std::string(e.shadow ? "a shadow-mode redaction" : "a redaction") +
                                 " as \"" + want + "\"";
        // A denied request sends nothing upstream: a redaction placed on it
        // redacts nothing, and a passing `redacts` would hide the deny.
        if (!e.shadow && d.outcome == vm::Outcome::kDeny) {
          Fail(r, e, "expected " + what + ", but the request was denied, " + Outcome(d) +
                         " -- a denied request sends nothing upstream, so nothing is redacted; "
                         "assert the deny (`expect deny`), or give a request the policy allows");
          return;
        }
        bool placed = false;
        for (const vm::Redaction& x : placed_by.redactions) placed = placed || x.replacement == want;
        if (placed) {
          std::string text, err;
          std::string_view before;
          if (!Redacted(placed_by, req, &text, &before, &err)) { Fail(r, e, err); return; }
          if (Count(text, want) > Count(before, want)) return;
          Fail(r, e, "expected " + what + ", rule placed it but nothing in the content matched");
          return;
        }
        std::string got;
        for (const vm::Redaction& x : placed_by.redactions)
          got += (got.empty() ? "" : ", ") + std::string("\"") + std::string(x.replacement) + "\"";
        std::string hint;
        if (!e.shadow) {
          ShadowRedactions(d, &shadow);
          for (const vm::Redaction& x : shadow.redactions)
            if (x.replacement == want && hint.empty())
              hint = " -- rule " + RuleDesc(x.rule) + " would redact as \"" + want +
                     "\" but fired in shadow mode, where nothing applies (write `expect shadow redacts \"" +
                     want + "\"` to test the shadow verdict)";
        } else {
          for (const vm::Redaction& x : d.redactions)
            if (x.replacement == want && hint.empty())
              hint = " -- rule " + RuleDesc(x.rule) + " redacts as \"" + want +
                     "\" enforced (write `expect redacts \"" + want + "\"`)";
        }
        Fail(r, e, "expected " + what + ", got " + (got.empty() ? "none" : got) + hint);
        return;
      }
      case ast::ExpectKind::kTag: {
        std::string key = e.names.empty() ? std::string() : e.names[0];
        if (!e.value || !e.value->folded) { Fail(r, e, "tag value is not a constant"); return; }
        // `expect tag k = null`: the decision has no value for `k` -- no rule
        // set it, or the first to set it tagged an absent value (the
        // decision's `tags` holds `"k": null`). The first tag of a key is the
        // one kept, as in the decision.
        if (e.value->folded->is_null()) {
          for (const vm::Tag& tg : d.tags) {
            if (tg.key != key) continue;
            if (!tg.value.is_null())
              Fail(r, e, "expected tag `" + key + "` to be absent or null, rule " + RuleDesc(tg.rule) +
                             " set it to " + ToDisplay(tg.value));
            return;
          }
          return;
        }
        for (const vm::Tag& tg : d.tags) {
          if (tg.key != key) continue;
          // Values, not their JSON texts: a decimal 2.5, a money 2.50 usd
          // and a string "2.5" all render `"2.5"`, and a rule's tag of one
          // type is not the other (ints and decimals compare by value).
          if (Equal(tg.value, *e.value->folded)) return;
          auto number = [](Kind k) { return k == Kind::kInt || k == Kind::kDecimal; };
          const Kind got = tg.value.kind, want = e.value->folded->kind;
          Fail(r, e, "expected tag `" + key + "` = " + ToDisplay(*e.value->folded) + ", got " +
                         ToDisplay(tg.value) +
                         (got != want && !(number(got) && number(want))
                              ? std::string(" (a ") + KindName(got) + ", not a " + KindName(want) + ")"
                              : std::string()));
          return;
        }
        Fail(r, e, "expected tag `" + key + "`, no rule set it");
        return;
      }
      case ast::ExpectKind::kRoute: CheckRoute(e, d, r); return;
      case ast::ExpectKind::kWarns:
        if (d.warnings.empty()) Fail(r, e, "expected a warning, got none");
        return;
    }
  }

  // request.content with the decision's redactions applied (*before: the
  // content as given). False with *error when a pattern does not compile.
  bool Redacted(const vm::Decision& d, const vm::Record& req, std::string* out,
                std::string_view* before, std::string* error) const {
    int id = schema.Find("request.content");
    std::string_view content;
    if (id >= 0 && size_t(schema.field(id).slot) < req.slots.size() &&
        req.slots[schema.field(id).slot].kind == Kind::kString)
      content = req.slots[schema.field(id).slot].sv();
    if (before) *before = content;
    std::vector<stdlib::RedactRule> rules;
    for (const vm::Redaction& x : d.redactions) {
      const auto& ids = prog.RuleRedactions(x.rule);
      if (x.effect >= ids.size()) continue;
      const vm::RedactInfo& info = prog.redactions()[ids[x.effect]];
      rules.push_back({info.detector >= 0 ? info.display : info.regex, info.replacement});
    }
    if (rules.empty()) {
      out->assign(content);
      return true;
    }
    std::string err;
    auto redactor = stdlib::Redactor::Build(rules, &err);
    if (!redactor) {
      *error = "cannot apply the redactions: " + err;
      return false;
    }
    // As the gateway redacts a request: runtime::ApplyRedactions rewrites
    // the texts of the body in place, and request.content is those texts
    // joined again (runtime/input/request_texts.h) -- what the upstream reads.
    auto texts_of = [](std::string_view json, bool whole_input, std::string* joined) {
      rj::Document doc;
      doc.Parse(json.data(), json.size());
      if (doc.HasParseError() || !doc.IsObject()) return false;
      const rj::Value* body = &doc;
      if (whole_input) {
        auto r = doc.FindMember("request");
        if (r == doc.MemberEnd()) return false;
        body = &r->value;
      }
      RequestTexts<const rj::Value> t;
      t.Collect(*body, [](const rj::Value&) { return true; });
      *joined = t.joined();
      return true;
    };
    std::string given, body;
    if (!texts_of(input_json, true, &given) || given != content) {  // request.content given on its own
      *out = redactor->Apply(content, nullptr);
      return true;
    }
    if (!ApplyRedactions(input_json, d, prog, &body, &err) || !texts_of(body, false, out)) {
      *error = "cannot apply the redactions: " + err;
      return false;
    }
    return true;
  }

  void CheckRoute(const ast::Expect& e, const vm::Decision& d, TestResult* r) {
    if (!e.hint) { Fail(r, e, "route expectation without a hint"); return; }
    const ast::RouteHint& h = *e.hint;
    switch (h.kind) {
      case ast::RouteHintKind::kSort: {
        std::string got = d.route.sort == vm::SortBy::kNone ? "none" : vm::SortName(d.route.sort);
        if (got != h.word) Fail(r, e, "expected route sort " + h.word + ", got " + got);
        return;
      }
      case ast::RouteHintKind::kMaxPrice: {
        if (!h.expr || !h.expr->folded) { Fail(r, e, "max_price is not a constant"); return; }
        int64_t want = AsMicros(*h.expr->folded);
        int64_t got = h.word == "prompt" ? d.route.max_prompt
                    : h.word == "completion" ? d.route.max_completion
                    : h.word == "request" ? d.route.max_request
                    : d.route.max_request_cost;
        if (got != want)
          Fail(r, e, "expected route max_price" + (h.word.empty() ? "" : " " + h.word) + " " +
                         FormatMicros(want, 2) + " usd, got " +
                         (got < 0 ? std::string("none") : FormatMicros(got, 2) + " usd"));
        return;
      }
      case ast::RouteHintKind::kOrder: {
        if (!h.expr || !h.expr->folded || h.expr->folded->kind != Kind::kList) {
          Fail(r, e, "route order is not a constant list");
          return;
        }
        std::vector<std::string_view> want;
        for (const Value& v : h.expr->folded->list->items) want.push_back(v.sv());
        if (want != d.route.order) {
          std::string got;
          for (std::string_view s : d.route.order) got += (got.empty() ? "" : ", ") + std::string(s);
          Fail(r, e, "expected route order " + ToDisplay(*h.expr->folded) + ", got [" + got + "]");
        }
        return;
      }
    }
  }
};

}  // namespace

bool BuildTestInput(const ast::TestDecl& test, const stdlib::Schema& schema, std::string* json,
                    std::string* error) {
  JNode root;
  bool has_messages = false;
  const Value* content = nullptr;
  for (const ast::Binding* bp : Given(test)) {
    const ast::Binding& b = *bp;
    std::string path = Join(b.path);
    if (!b.value || !b.value->folded) {
      *error = "given value of `" + path + "` is not a constant";
      return false;
    }
    if (IsCounterBinding(b, schema)) continue;  // a ledger counter (Runner::GivenCounters)
    int id = schema.Find(path);
    if (id >= 0 && schema.field(id).derived) {
      if (path == "request.content") content = &*b.value->folded;
      continue;  // applied after decoding
    }
    if (path == "request.messages") has_messages = true;
    rj::StringBuffer sb;
    W w(sb);
    WriteValue(&w, *b.value->folded, id >= 0 ? schema.field(id).type : b.value->type);
    root.Set(b.path, std::string(sb.GetString(), sb.GetSize()));
  }
  if (content && !has_messages && content->kind == Kind::kString) {
    rj::StringBuffer sb;
    W w(sb);
    w.StartArray();
    w.StartObject();
    w.Key("role");
    w.String("user");
    w.Key("content");
    w.String(content->str, content->size);
    w.EndObject();
    w.EndArray();
    root.Set({"request", "messages"}, std::string(sb.GetString(), sb.GetSize()));
  }
  for (const stdlib::FieldDef& f : schema.fields()) {
    if (!f.required || f.derived || f.scope != ast::Scope::kRequest) continue;
    // Required fields of a schema extension get no default: the decoder
    // reports them missing, as `eval` does (the deployment requires them).
    if (stdlib::Schema::Standard().Find(f.path) < 0) continue;
    std::vector<std::string> path = Split(f.path);
    if (!root.Has(path)) root.Set(path, DefaultJson(f));
  }
  rj::StringBuffer sb;
  W w(sb);
  root.Write(&w);
  json->assign(sb.GetString(), sb.GetSize());
  return true;
}

TestReport RunTests(const Policy& policy, const Limits& limits, const Catalog* catalog) {
  Runner runner{policy, policy.program(), policy.schema(), limits, catalog, {}, {}, {}, {}};
  runner.exercised.assign(policy.program().rules().size(), false);
  TestReport report;
  for (const ast::TestDecl& t : policy.ast().tests) {
    TestResult r;
    runner.Run(t, &r);
    r.pass = r.failures.empty();
    (r.pass ? report.passed : report.failed)++;
    report.tests.push_back(std::move(r));
  }
  for (size_t i = 0; i < runner.exercised.size(); ++i)
    if (!runner.exercised[i]) report.unexercised.push_back(policy.program().rules()[i].name);
  report.bare_models = std::move(runner.bare_models);
  return report;
}

}  // namespace tollgate::runtime
