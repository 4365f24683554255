// Pass `tests`: `test` blocks name real rules, bind real fields of the right
// scope to constant values of the right type, and expect tags that rules set
// (`expect tag k = null`, no value for `k`, only of a key some rule sets).
// A `given` may also set ledger counters: `budget.<name>.spent` (money) and
// `limit.<name>.used` (int) of declared budgets and limits.
//
// A number a binding gives outside the range the decoder and the catalog
// enforce (stdlib/field_values.h FieldRange: a negative price, `request.n:
// 0`, `endpoint.uptime: 99.5`) is tg_invalid_value at the value.
//
// After this pass every binding value has `type` = the field's type and
// `folded` = the value converted to it (map literals become records, ints
// become decimals, RFC 3339 strings become times), ready for the test runner.
#include <algorithm>
#include <map>
#include <set>

#include "engine/check/passes.h"
#include "engine/core/money.h"
#include "stdlib/builtins.h"
#include "stdlib/field_values.h"

namespace tollgate::check {
namespace {

using ast::Expr;
using ast::ExprKind;

std::string Join(const std::vector<std::string>& path) {
  std::string out;
  for (const auto& p : path) out += (out.empty() ? "" : ".") + p;
  return out;
}

class TestChecker {
 public:
  explicit TestChecker(Context& ctx) : ctx_(ctx) {
    const auto& p = *ctx.policy;
    for (size_t i = 0; i < p.rules.size(); ++i) {
      rule_names_.push_back(p.rules[i].name);
      rules_.emplace(p.rules[i].name, int(i));
      for (const auto& e : p.rules[i].effects)
        if (e.kind == ast::EffectKind::kTag) {
          tags_.insert(e.tag_key);
          if (e.expr) tag_types_[e.tag_key].push_back(e.expr->type);
        }
    }
    for (const auto& f : ctx.schema->fields())
      (f.scope == ast::Scope::kRequest ? request_paths_ : candidate_paths_).push_back(f.path);
  }

  void Fixtures() {
    auto& fx = ctx_.policy->fixtures;
    for (size_t i = 0; i < fx.size(); ++i) {
      fixture_names_.push_back(fx[i].name);
      fixtures_.emplace(fx[i].name, int(i));  // duplicates: reported by `declarations`
      std::set<std::string> seen;
      for (auto& b : fx[i].given) Binding(b, ast::Scope::kRequest, &seen);
    }
    for (auto& f : fx)
      if (!f.base.empty()) FindFixture(f.base, f.base_span);
  }

  void Test(ast::TestDecl& t) {
    std::set<std::string> seen;
    for (auto& b : t.given) Binding(b, ast::Scope::kRequest, &seen);
    seen.clear();
    Effective(t);
    for (auto& b : t.candidate) Binding(b, ast::Scope::kCandidate, &seen);
    for (auto& x : t.expects) Expect(x);
  }

 private:
  int FindFixture(const std::string& name, const Span& at) {
    auto it = fixtures_.find(name);
    if (it != fixtures_.end()) return it->second;
    std::string m = ClosestMatch(name, fixture_names_);
    ctx_.Error("tg_test_error", at, "unknown fixture `" + name + "`",
               m.empty() ? "declare it: `fixture " + name + " { principal.workspace: \"acme\" }`"
                         : "did you mean `" + m + "`?");
    return -1;
  }

  // t.effective: the fixture chain's bindings (the base's first), each
  // overridden by a later binding of the same path, then the test's own.
  void Effective(ast::TestDecl& t) {
    t.effective.clear();
    std::vector<const ast::Fixture*> chain;
    if (!t.fixture.empty()) {
      int i = FindFixture(t.fixture, t.fixture_span);
      std::set<int> visited;
      while (i >= 0) {
        if (!visited.insert(i).second) {
          const ast::Fixture& f = ctx_.policy->fixtures[i];
          ctx_.Error("tg_test_error", f.base_span.file ? f.base_span : f.span,
                     "fixture `" + f.name + "` extends itself through `" + f.base + "`",
                     "a fixture chain must end in a fixture without `from`");
          chain.clear();
          break;
        }
        const ast::Fixture& f = ctx_.policy->fixtures[i];
        chain.insert(chain.begin(), &f);
        i = f.base.empty() ? -1 : fixtures_.count(f.base) ? fixtures_[f.base] : -1;
      }
    }
    std::map<std::string, size_t> at;
    auto add = [&](const ast::Binding& b) {
      std::string path = Join(b.path);
      auto it = at.find(path);
      if (it != at.end()) {
        t.effective[it->second] = &b;
        return;
      }
      at.emplace(path, t.effective.size());
      t.effective.push_back(&b);
    };
    for (const ast::Fixture* f : chain)
      for (const auto& b : f->given) add(b);
    for (const auto& b : t.given) add(b);
    // request.content is derived from the messages (their texts joined) and
    // only becomes a user message when none are given: both at once would
    // judge a text the request does not send.
    auto content = at.find("request.content");
    if (content != at.end() && at.count("request.messages")) {
      const ast::Binding& b = *t.effective[content->second];
      ctx_.Error("tg_test_error", t.span,
                 "test `" + t.name + "` gives both `request.messages` and `request.content`" +
                     (b.span.line ? " (line " + std::to_string(b.span.line) + ")" : std::string()) +
                     ": `request.content` is derived from the messages, so the rules would read a "
                     "text the request does not send",
                 "remove `request.content` (a fixture's too), or put that text in a message");
    }
  }

  // `budget.<name>.spent: 12 usd` / `limit.<name>.used: 3` in a `given`:
  // what the ledger already holds when the test's request arrives (the
  // counters rules read). True when `b` is such a binding (checked here).
  bool CounterBinding(ast::Binding& b, std::set<std::string>* seen) {
    if (b.path.size() != 3 || (b.path[0] != "budget" && b.path[0] != "limit")) return false;
    if (ctx_.schema->Find(Join(b.path)) >= 0) return false;  // a real field of that name wins
    const bool budget = b.path[0] == "budget";
    std::vector<std::string> names;
    if (budget) {
      for (const auto& d : ctx_.policy->budgets) names.push_back(d.name);
    } else {
      for (const auto& d : ctx_.policy->limits) names.push_back(d.name);
    }
    const std::string& name = b.path[1];
    const std::string path = Join(b.path);
    const char* kind = budget ? "budget" : "limit";
    const char* field = budget ? "spent" : "used";
    if (std::find(names.begin(), names.end(), name) == names.end()) {
      std::string m = ClosestMatch(name, names);
      ctx_.Error("tg_unknown_field", b.span, std::string("unknown ") + kind + " `" + name + "`",
                 m.empty() ? std::string("declare it, or give the counter of a declared ") + kind
                           : "did you mean `" + m + "`?");
      return true;
    }
    if (b.path[2] != field) {
      ctx_.Error("tg_test_error", b.span, "`" + path + "` cannot be given",
                 std::string("give what the ledger holds, `") + kind + "." + name + "." + field + "`; " +
                     (budget ? "remaining and limit" : "remaining and max") + " follow from the declaration");
      return true;
    }
    if (!seen->insert(path).second) {
      ctx_.Error("tg_duplicate_name", b.span, "`" + path + "` is bound twice in this block",
                 "remove one of the bindings");
      return true;
    }
    if (!b.value) return true;
    Expr& v = *b.value;
    const Type want(budget ? Kind::kMoney : Kind::kInt);
    if (!Conform(ctx_, want, v, "the value of `" + path + "`")) return true;
    if (!v.folded) return true;  // not constant: reported by the fold pass
    std::string err;
    Value out;
    if (!CoerceValue(ctx_, want, v.type, *v.folded, &out, &err) || out.i < 0) {
      ctx_.Error("tg_invalid_value", v.span, err.empty() ? "`" + path + "` cannot be negative" : err,
                 budget ? "give an amount such as `12.50 usd`" : "give a count such as `3`");
      return true;
    }
    v.folded = out;
    v.type = want;
    return true;
  }

  void Binding(ast::Binding& b, ast::Scope scope, std::set<std::string>* seen) {
    std::string path = Join(b.path);
    bool request = scope == ast::Scope::kRequest;
    if (request && CounterBinding(b, seen)) return;
    int id = ctx_.schema->Find(path);
    if (!request && (id < 0 || ctx_.schema->field(id).scope != scope)) {
      // Candidate shorthand, as in the design sketch and the test runner:
      // `provider` = provider.name, `endpoint` = endpoint.id, `zdr` = provider.zdr.
      int alt = CandidateShorthand(path);
      if (alt >= 0) {
        id = alt;
        path = ctx_.schema->field(id).path;
      }
    }
    if (id < 0) {
      std::string m = ClosestMatch(path, request ? request_paths_ : candidate_paths_);
      ctx_.Error("tg_unknown_field", b.span, "unknown field `" + path + "`",
                 m.empty() ? std::string(request ? "bind request fields such as `request.model` or "
                                                   "`principal.workspace`"
                                                 : "bind candidate fields such as `provider.name` or "
                                                   "`endpoint.id`")
                           : "did you mean `" + m + "`?");
      return;
    }
    const stdlib::FieldDef& f = ctx_.schema->field(id);
    if (f.scope != scope) {
      ctx_.Error("tg_test_error", b.span,
                 "`" + path + "` is a " + (request ? "candidate" : "request") + " field",
                 request ? "set candidate fields in the test's `candidate { ... }` block"
                         : "set request fields in the test's `given { ... }` block");
      return;
    }
    if (!seen->insert(path).second) {
      ctx_.Error("tg_duplicate_name", b.span, "`" + path + "` is bound twice in this block",
                 "remove one of the bindings");
      return;
    }
    if (!b.value) return;
    Expr& v = *b.value;
    bool is_null = v.kind == ExprKind::kLiteral && v.value.kind == Kind::kNull;
    if (is_null) {
      if (f.required)
        ctx_.Error("tg_test_error", v.span, "`" + path + "` is required and cannot be null",
                   "give it a value of type `" + f.type.ToString() + "`");
      return;
    }
    if (!Conform(ctx_, f.type, v, "the value of `" + path + "`")) return;
    if (!v.folded) return;  // not constant: reported by the fold pass
    std::string err;
    Value out;
    if (!CoerceValue(ctx_, f.type, v.type, *v.folded, &out, &err)) {
      ctx_.Error("tg_invalid_value", v.span, err,
                 "give `" + path + "` a value of type `" + f.type.ToString() + "`" +
                     (f.type.is(Kind::kTime) ? ", such as \"2025-01-06T09:00:00Z\"" : ""));
      return;
    }
    v.folded = out;
    v.type = f.type;
    if (RangeValue(f, v)) return;
    if (!request) CandidateValue(f, v);
  }

  // A number outside the range the decoder and the catalog enforce
  // (stdlib/field_values.h FieldRange): a negative price, `request.n: 0`, an
  // uptime written as a percentage (`99.5`). A test with one judges a
  // request or an endpoint that cannot exist -- and `require endpoint.uptime
  // >= 99.5` would pass it. True when reported.
  bool RangeValue(const stdlib::FieldDef& f, const Expr& v) {
    if (!v.folded || stdlib::Schema::Standard().Find(f.path) < 0) return false;
    const stdlib::FieldRange* range = stdlib::FindFieldRange(f.path);
    const Value& x = *v.folded;
    if (!range || (x.kind != Kind::kInt && x.kind != Kind::kDecimal && x.kind != Kind::kMoney))
      return false;
    if (x.i >= range->lo && x.i <= range->hi) return false;
    auto bound = [&](int64_t n) { return stdlib::RenderValue(Value::Scalar(x.kind, n)); };
    const std::string what = x.i > range->hi    ? "must be at most " + bound(range->hi)
                             : range->lo == 0 ? std::string("must not be negative")
                                              : "must be at least " + bound(range->lo);
    std::string help = std::string(range->why);
    if (x.kind == Kind::kDecimal && range->lo == 0 && range->hi == kMicros && x.i <= 100 * kMicros)
      help = "`" + f.path + "` is a fraction from 0 to 1, not a percentage: write `" +
             stdlib::RenderValue(Value::Decimal(x.i / 100)) + "` for " + stdlib::RenderValue(x) + "%";
    else if (range->seconds && x.i > range->hi && x.i / 1000 <= range->hi)
      help = "`" + f.path + "` is in seconds, not milliseconds: write `" +
             stdlib::RenderValue(Value::Decimal(x.i / 1000)) + "` for " + stdlib::RenderValue(x) + " ms";
    ctx_.Error("tg_invalid_value", v.span,
               "`" + f.path + "` " + what + ", got `" + std::string(ctx_.Text(v.span)) + "`",
               help + (f.scope == ast::Scope::kCandidate && help.find("decoder") == std::string::npos
                           ? "; a decision input's candidate with this value is refused "
                             "(input_invalid_value)"
                           : std::string()));
    return true;
  }

  // A candidate value the catalog never holds, and the decoder refuses in a
  // decision input's `candidate` (input_invalid_value): `"INT4"`, `"cn"`,
  // `"Amazon-Bedrock"`. A test with one would judge an endpoint that cannot
  // exist (stdlib/field_values.h, ShapedField::candidate).
  void CandidateValue(const stdlib::FieldDef& f, const Expr& v) {
    const stdlib::ShapedField* sf = stdlib::FindShapedField(f.path);
    if (!sf || sf->candidate == stdlib::Shape::kNone || v.folded->kind != Kind::kString) return;
    const std::string_view s = v.folded->sv();
    if (stdlib::Fits(sf->candidate, s)) return;
    const std::string fix = stdlib::Respell(sf->candidate, s);
    ctx_.Error("tg_invalid_value", v.span,
               "`" + f.path + "` must be " + stdlib::Describe(sf->candidate) + ", got `" +
                   std::string(s) + "`",
               (fix.empty() ? std::string("give a value the catalog holds")
                            : "write `" + fix + "`, as the catalog does") +
                   "; a decision input's candidate with this value is refused (input_invalid_value)");
  }

  static bool IsNullLiteral(const Expr& e) {
    return e.kind == ExprKind::kLiteral && e.value.kind == Kind::kNull;
  }

  int CandidateShorthand(const std::string& path) const {
    auto cand = [&](const std::string& p) {
      int id = ctx_.schema->Find(p);
      return id >= 0 && ctx_.schema->field(id).scope == ast::Scope::kCandidate ? id : -1;
    };
    if (path == "provider") return cand("provider.name");
    if (path == "endpoint") return cand("endpoint.id");
    if (int id = cand("provider." + path); id >= 0) return id;
    return cand("endpoint." + path);
  }

  void Expect(ast::Expect& x) {
    switch (x.kind) {
      case ast::ExpectKind::kFired:
      case ast::ExpectKind::kNotFired:
      case ast::ExpectKind::kRejectedBy:
        for (size_t i = 0; i < x.names.size(); ++i) {
          const Span& at = i < x.name_spans.size() ? x.name_spans[i] : x.span;
          auto it = rules_.find(x.names[i]);
          if (it == rules_.end()) {
            std::string m = ClosestMatch(x.names[i], rule_names_);
            ctx_.Error("tg_test_error", at, "unknown rule `" + x.names[i] + "`",
                       m.empty() ? "name a rule declared in this policy" : "did you mean `" + m + "`?");
            continue;
          }
          if (x.kind == ast::ExpectKind::kRejectedBy) {
            const auto& effects = ctx_.policy->rules[it->second].effects;
            bool has_require = std::any_of(effects.begin(), effects.end(), [](const ast::Effect& e) {
              return e.kind == ast::EffectKind::kRequire;
            });
            if (!has_require)
              ctx_.Error("tg_test_error", at,
                         "rule `" + x.names[i] + "` has no `require`, so it cannot reject a candidate",
                         "use `expect fired " + x.names[i] + "` for rules that deny or tag");
          }
        }
        return;
      case ast::ExpectKind::kTag:
        if (!x.names.empty() && !tags_.count(x.names[0]) && x.value && IsNullLiteral(*x.value)) {
          // `= null` holds when the decision has no value for the key: for a
          // key no rule sets it always holds, whatever the policy does (a
          // misspelt key would pass silently).
          std::vector<std::string> keys(tags_.begin(), tags_.end());
          std::string m = ClosestMatch(x.names[0], keys);
          ctx_.Error("tg_test_error", !x.name_spans.empty() ? x.name_spans[0] : x.span,
                     "no rule sets tag `" + x.names[0] + "`, so `expect tag " + x.names[0] +
                         " = null` always holds",
                     m.empty() ? "expect a tag some rule sets" : "did you mean `" + m + "`?");
        } else if (!x.names.empty() && x.value && IsNullLiteral(*x.value)) {
          // `expect tag k = null`: the decision has no value for `k` (no rule
          // set it, or the first to set it tagged an absent value). Any tag
          // type may be null, so there is no type to check.
        } else if (!x.names.empty() && !tags_.count(x.names[0])) {
          std::vector<std::string> keys(tags_.begin(), tags_.end());
          std::string m = ClosestMatch(x.names[0], keys);
          ctx_.Warning("tg_test_error", !x.name_spans.empty() ? x.name_spans[0] : x.span,
                       "no rule sets tag `" + x.names[0] + "`",
                       m.empty() ? "this expectation can never hold" : "did you mean `" + m + "`?");
        } else if (!x.names.empty() && x.value && !x.value->type.is(Kind::kAny)) {
          // The expected value must be comparable with what some rule tags.
          const Type& want = x.value->type;
          bool fits = false;
          for (const Type& t : tag_types_[x.names[0]])
            fits = fits || t.is(Kind::kAny) || Fits(t, want) || Fits(want, t) ||
                   (t.IsNumeric() && want.IsNumeric());
          if (!fits)
            ctx_.Error("tg_test_error", x.value->span,
                       "tag `" + x.names[0] + "` is set to `" + tag_types_[x.names[0]][0].ToString() +
                           "`, but the expected value is `" + want.ToString() + "`",
                       "expect a `" + tag_types_[x.names[0]][0].ToString() + "` value, as the rule tags it");
        }
        return;
      case ast::ExpectKind::kCode:
        if (!x.names.empty()) Code(x.names[0], x.span);
        return;
      default:
        return;
    }
  }

  // `expect code "..."` judges the request's decision before routing and
  // without a ledger, so its code is one of three (engine/vm/decision.h);
  // any other can never hold. The admission codes read as the budget's own
  // deny, which a test does not run: its failure said "got allow" where the
  // gateway denies.
  void Code(const std::string& code, const Span& at) {
    static const std::vector<std::string> kTestCodes = {"ok", "policy_denied", "rule_error"};
    if (std::find(kTestCodes.begin(), kTestCodes.end(), code) != kTestCodes.end()) return;
    std::string help;
    if (code == "budget_exceeded" || code == "rate_limited" || code == "budget_store_unavailable") {
      help = "a test evaluates the policy with the counters it gives (`budget.<name>.spent`, "
             "`limit.<name>.used`) but admits nothing against a ledger, as the gateway and "
             "`tollgate route --ledger` do: expect what a rule reading the counter does (`expect fired r`), "
             "or replay traffic with `tollgate route --requests FILE --ledger memory:`";
    } else if (code == "require_failed" || code == "route_no_eligible_endpoint" || code == "model_not_found") {
      help = "a test judges the request before an endpoint is chosen: judge a candidate with "
             "`expect rejected_by r` or `expect accepted`";
    } else {
      std::string m = ClosestMatch(code, kTestCodes);
      help = m.empty() ? "a test's decision code is `ok`, `policy_denied` or `rule_error`"
                       : "did you mean `" + m + "`?";
    }
    ctx_.Error("tg_test_error", at,
               "a test's decision never has code `" + code + "`, so this expectation can never hold", help);
  }

  Context& ctx_;
  std::map<std::string, int> fixtures_;
  std::vector<std::string> fixture_names_;
  std::vector<std::string> rule_names_;
  std::map<std::string, int> rules_;
  std::set<std::string> tags_;
  std::map<std::string, std::vector<Type>> tag_types_;
  std::vector<std::string> request_paths_, candidate_paths_;
};

}  // namespace

bool Tests(Context& ctx) {
  int before = ctx.errors;
  TestChecker checker(ctx);
  checker.Fixtures();
  for (auto& t : ctx.policy->tests) checker.Test(t);
  for (size_t i = 0; i < ctx.policy->fixtures.size(); ++i) {
    const ast::Fixture& f = ctx.policy->fixtures[i];
    bool used = false;
    for (const auto& t : ctx.policy->tests) used = used || t.fixture == f.name;
    for (const auto& g : ctx.policy->fixtures) used = used || g.base == f.name;
    if (!used)
      ctx.Warning("tg_unused_fixture", f.name_span, "fixture `" + f.name + "` is never used",
                  "extend it in a test: `given " + f.name + " { ... }`");
  }
  return ctx.errors == before;
}

}  // namespace tollgate::check
