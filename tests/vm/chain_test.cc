// Rule chains (engine/vm/internal/interp.h, Chain): vm::Evaluate runs the
// `when` of consecutive rules in one interpreter activation while they are
// false. Evaluating with a trace takes the rule-by-rule path, so every
// decision -- fired, shadow and advisory rules, tags, warnings, errors and
// their messages, the deny, the instruction count -- must be the same both
// ways, over random policies mixing rules that fire, do not fire, have no
// `when`, fail (absent fields, overflow, budget), and choose their mode
// per request.
#include <gtest/gtest.h>

#include <random>

#include "engine/vm/vm.h"
#include "tests/vm/vm_helpers.h"

namespace tollgate::vmtest {
namespace {

// None of these is a rule-index key (trace mode evaluates every rule, the
// index only the selected ones; an index key would change the count).
const char* kRules[] = {
    "when request.max_tokens > 100 deny 400 \"big\"",
    "when request.max_tokens > 100000 deny 400 \"huge\"",
    "when principal.user != \"bob\" warn \"not bob\"",
    "when principal.groups has \"eng\" tag team = \"eng\"",
    "when principal.groups has \"ops\" tag team = \"ops\"",
    "deny 402 \"always\"",
    "tag always = true",
    "when request.max_tokens * 4611686018427387904 > 1 deny 500 \"overflow\"",
    "on_error skip { when request.max_tokens * 4611686018427387904 > 1 deny 500 \"skip\"",
    "when context.data_class != \"public\" and request.temperature > 0.5 deny 403 \"temp\"",
    "mode shadow { when request.max_tokens > 10 deny 403 \"shadow\"",
    "mode advisory { when request.max_tokens > 10 deny 403 \"advisory\"",
    "mode shadow when principal.user != \"bob\" { when request.max_tokens > 10 deny 403 \"maybe\"",
    "when any g in principal.groups: g != \"x\" and g != \"y\" warn \"groups\"",
    "when (request.temperature ?? 0) > 2 deny 400 \"hot\"",
    "when principal.user != \"bob\" and (request.max_tokens ?? 0) + 1 > 0 tag plus = request.max_tokens + 1",
};

std::string Policy(std::mt19937_64& rng, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) {
    std::string body = kRules[rng() % std::size(kRules)];
    std::string name = "r" + std::to_string(i);
    // Templates starting with a modifier carry their own opening brace.
    if (body.rfind("when", 0) == 0 || body.rfind("deny", 0) == 0 || body.rfind("tag", 0) == 0) {
      s += "rule " + name + " { " + body + " }\n";
    } else {
      s += "rule " + name + " " + body + " }\n";
    }
  }
  return s;
}

std::string Render(const vm::Decision& d) {
  std::string s = std::string(d.outcome == vm::Outcome::kDeny ? "deny " : "allow ") + std::to_string(d.status) +
                  " " + std::string(d.code) + " `" + d.reason + "` " + std::to_string(d.deny_rule) + "\n";
  for (uint32_t r : d.fired) s += "fired " + std::to_string(r) + "\n";
  for (uint32_t r : d.shadow) s += "shadow " + std::to_string(r) + "\n";
  for (uint32_t r : d.advisory) s += "advisory " + std::to_string(r) + "\n";
  for (const auto& t : d.tags) s += "tag " + std::to_string(t.rule) + " " + std::string(t.key) + "=" + ToJson(t.value) + "\n";
  for (const auto& w : d.warnings) s += "warning " + std::to_string(w.rule) + " " + std::string(w.message) + "\n";
  for (const auto& e : d.errors) s += "error " + std::to_string(e.rule) + " " + std::string(e.code) + " " + e.message + "\n";
  return s + "instructions " + std::to_string(d.instructions) + "\n";
}

TEST(Chain, DecisionsEqualRuleByRule) {
  std::mt19937_64 rng(20261130);
  std::vector<std::unique_ptr<vm::Record>> requests;
  requests.push_back(Request().Int("request.max_tokens", 500).Set("principal.groups", {"eng"}).Take());
  requests.push_back(Request().Int("request.max_tokens", 5).Str("principal.user", "bob").Take());
  requests.push_back(Request().Str("principal.user", "amy").Dec("request.temperature", 900000).Take());
  requests.push_back(Request().Take());  // absent fields: errors
  int evaluations = 0;
  for (int round = 0; round < 120; ++round) {
    std::string src = Policy(rng, 1 + static_cast<int>(rng() % 12));
    auto p = Compile(src);
    ASSERT_TRUE(p) << src;
    for (const auto& req : requests) {
      for (uint64_t budget : {uint64_t{1}, uint64_t{3}, uint64_t{6}, Limits{}.instruction_budget}) {
        SCOPED_TRACE(src + "budget " + std::to_string(budget));
        vm::EvalOptions chained, by_rule;
        chained.instruction_budget = by_rule.instruction_budget = budget;
        by_rule.trace = true;
        vm::Decision a, b;
        vm::Evaluate(p->program(), *req, chained, &a);
        vm::Evaluate(p->program(), *req, by_rule, &b);
        ASSERT_EQ(Render(a), Render(b));
        ++evaluations;
      }
    }
  }
  EXPECT_EQ(evaluations, 120 * 4 * 4);
}

}  // namespace
}  // namespace tollgate::vmtest
