// A decision input's `candidate` (issue 6, item 5): the endpoint a gateway
// that routes itself has already chosen. Requires are evaluated against it;
// a failing require denies 403 `require_failed`, naming the rule.
#include <gtest/gtest.h>

#include <string>

#include "engine/engine.h"
#include "engine/vm/vm.h"
#include "runtime/input/input.h"

namespace tollgate::runtime {
namespace {

constexpr const char* kPolicy = R"(policy "cand"
rule eu { when principal.jurisdiction == "DE" require provider.jurisdiction in {"DE", "FR"} }
rule ratio on_error skip { require provider.zdr or 1 / (request.max_tokens ?? 0) > 0 }
)";

struct Result {
  bool decoded = false;
  bool present = false;
  InputError err;
  vm::Decision d;
};

void Decide(const Policy& p, const std::string& json, Result* r) {
  vm::Record req, cand;
  if (!DecodeInput(json, p.schema(), Limits{}, &req, &r->err)) return;
  if (!DecodeCandidate(json, p.schema(), Limits{}, &cand, &r->present, &r->err)) return;
  r->decoded = true;
  vm::Evaluate(p.program(), req, {}, &r->d);
  if (r->present) vm::CheckCandidate(p.program(), req, cand, {}, &r->d);
}

TEST(Candidate, AFailingRequireDeniesNamingTheRule) {
  Compiled c = CompileSource("t.tg", kPolicy, {});
  ASSERT_TRUE(c.policy) << c.diagnostics.Render();
  const std::string base =
      R"({"principal": {"workspace": "w", "jurisdiction": "DE"}, "request": {"model": "m", "max_tokens": 5, "messages": []})";
  Result us;
  Decide(*c.policy, base + R"(, "candidate": {"provider": {"name": "p", "jurisdiction": "US", "zdr": true}}})", &us);
  ASSERT_TRUE(us.decoded) << us.err.message;
  EXPECT_TRUE(us.present);
  EXPECT_EQ(us.d.outcome, vm::Outcome::kDeny);
  EXPECT_EQ(us.d.status, 403);
  EXPECT_EQ(us.d.code, vm::kCodeRequireFailed);
  EXPECT_EQ(c.policy->program().rules()[us.d.deny_rule].name, "eu");
  EXPECT_NE(us.d.reason.find("rule `eu`"), std::string::npos) << us.d.reason;

  Result fr;
  Decide(*c.policy, base + R"(, "candidate": {"provider": {"name": "p", "jurisdiction": "FR", "zdr": true}}})", &fr);
  ASSERT_TRUE(fr.decoded) << fr.err.message;
  EXPECT_EQ(fr.d.outcome, vm::Outcome::kAllow);

  // No candidate: the requires are only listed, as before.
  Result none;
  Decide(*c.policy, base + "}", &none);
  ASSERT_TRUE(none.decoded) << none.err.message;
  EXPECT_FALSE(none.present);
  EXPECT_EQ(none.d.outcome, vm::Outcome::kAllow);
  EXPECT_EQ(none.d.require_refs.size(), 2u);
}

TEST(Candidate, AnErroringPredicateHonoursOnError) {
  Compiled c = CompileSource("t.tg", kPolicy, {});
  ASSERT_TRUE(c.policy) << c.diagnostics.Render();
  // 1 / 0 errors in `ratio` (on_error skip): recorded, not eliminating.
  Result r;
  Decide(*c.policy,
                 R"({"principal": {"workspace": "w"}, "request": {"model": "m", "max_tokens": 0, "messages": []},
                     "candidate": {"provider": {"name": "p", "zdr": false}}})", &r);
  ASSERT_TRUE(r.decoded) << r.err.message;
  EXPECT_EQ(r.d.outcome, vm::Outcome::kAllow);
  ASSERT_EQ(r.d.errors.size(), 1u);
  EXPECT_EQ(c.policy->program().rules()[r.d.errors[0].rule].name, "ratio");
}

TEST(Candidate, DecodingIsStrict) {
  Compiled c = CompileSource("t.tg", kPolicy, {});
  ASSERT_TRUE(c.policy);
  Result bad;
  Decide(*c.policy,
                   R"({"principal": {"workspace": "w"}, "request": {"model": "m", "messages": []},
                       "candidate": {"provider": {"name": "p", "zdr": "yes"}}})", &bad);
  EXPECT_FALSE(bad.decoded);
  EXPECT_EQ(bad.err.code, "input_wrong_type");
  EXPECT_EQ(bad.err.path, "candidate.provider.zdr");
  Result unknown;
  Decide(*c.policy,
                       R"({"principal": {"workspace": "w"}, "request": {"model": "m", "messages": []},
                           "candidate": {"provider": {"nmae": "p"}}})", &unknown);
  EXPECT_FALSE(unknown.decoded);
  EXPECT_EQ(unknown.err.code, "input_unknown_field");
}

}  // namespace
}  // namespace tollgate::runtime
