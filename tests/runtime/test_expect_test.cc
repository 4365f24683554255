// Tests that fail when they should (issue 6, item 4): a deny caused by an
// error, a require that errors and a redaction that replaced nothing never
// satisfy an expectation; the code, reason, errors and redacted content can
// be asserted; fixtures share `given` bindings; required fields of a schema
// extension are not silently defaulted.
#include <gtest/gtest.h>

#include <string>

#include "engine/engine.h"
#include "runtime/decide/test_runner.h"

namespace tollgate::runtime {
namespace {

std::shared_ptr<const Policy> Compile(const std::string& src, const stdlib::Schema* schema = nullptr) {
  CompileOptions o;
  o.schema = schema;
  Compiled c = CompileSource("t.tg", src, o);
  EXPECT_TRUE(c.policy) << c.diagnostics.Render();
  return c.policy;
}

const TestResult& Find(const TestReport& r, const std::string& name) {
  for (const TestResult& t : r.tests)
    if (t.name == name) return t;
  ADD_FAILURE() << "no test " << name;
  static TestResult none;
  return none;
}

std::string Failures(const TestResult& t) {
  std::string out;
  for (const std::string& f : t.failures) out += f + "\n";
  return out;
}

// `on_error deny` (the default): a missing max_tokens makes `big` divide by zero,
// which denies 403 with code rule_error.
constexpr const char* kPolicy = R"(policy "expect"
rule big { when 100 / (request.max_tokens ?? 0) < 1 deny 403 "too big" }
rule ratio { when request.model == "r" require provider.zdr or 1 / (request.max_tokens ?? 0) > 1 }
rule mail { redact dlp.email as "[EMAIL]" }
)";

TEST(TestExpect, DenyCausedByAnErrorDoesNotSatisfyExpectDeny) {
  auto p = Compile(std::string(kPolicy) + R"(
test "error deny" { given { request.model: "m" } expect deny 403 }
test "real deny" { given { request.max_tokens: 500 } expect deny 403 }
test "error deny by code" { given { request.model: "m" } expect code "rule_error" }
)");
  ASSERT_TRUE(p);
  TestReport r = RunTests(*p, Limits{});
  const TestResult& err = Find(r, "error deny");
  EXPECT_FALSE(err.pass);
  EXPECT_NE(Failures(err).find("rule_error"), std::string::npos) << Failures(err);
  EXPECT_NE(Failures(err).find("expect code \"rule_error\""), std::string::npos) << Failures(err);
  EXPECT_TRUE(Find(r, "real deny").pass) << Failures(Find(r, "real deny"));
  EXPECT_TRUE(Find(r, "error deny by code").pass) << Failures(Find(r, "error deny by code"));
}

TEST(TestExpect, RejectedByDoesNotPassWhenThePredicateErrored) {
  auto p = Compile(std::string(kPolicy) + R"(
test "errors" {
  given { request.model: "r", request.max_tokens: 0 }
  candidate { provider.zdr: false }
  expect rejected_by ratio
}
test "rejects" {
  given { request.model: "r", request.max_tokens: 5 }
  candidate { provider.zdr: false }
  expect rejected_by ratio
}
)");
  ASSERT_TRUE(p);
  TestReport r = RunTests(*p, Limits{});
  // 1 / 0 errors: the candidate is rejected in production (fail closed), but
  // not for the reason the test states.
  const TestResult& e = Find(r, "errors");
  EXPECT_FALSE(e.pass);
  EXPECT_NE(Failures(e).find("failed with an error"), std::string::npos) << Failures(e);
  // 1 / 5 > 1 is false: a real rejection.
  EXPECT_TRUE(Find(r, "rejects").pass) << Failures(Find(r, "rejects"));
}

// A require that errors on the candidate is an error for `expect no_errors`,
// whatever its `on_error`: under `skip` the router keeps the candidate (so
// `expect accepted` holds and `rejected_by` does not), under `deny` it
// rejects it for the error (so `expect accepted` fails, and `rejected_by`
// does not pass on the error either). Before, no_errors looked at the
// rules' errors only and passed in both cases.
TEST(TestExpect, NoErrorsCountsTheErrorsOfTheCandidatesRequires) {
  auto p = Compile(R"(policy "retention"
rule short_retention_skip on_error skip { when request.model == "s" require 365 / provider.retention_days > 12 }
rule short_retention_deny { when request.model == "d" require 365 / provider.retention_days > 12 }
rule shadowed mode shadow { when request.model == "h" require 365 / provider.retention_days > 12 }
test "skip: accepted" {
  given { request.model: "s" }
  candidate { provider.name: "azure", provider.retention_days: 0 }
  expect accepted
}
test "skip: no errors" {
  given { request.model: "s" }
  candidate { provider.name: "azure", provider.retention_days: 0 }
  expect no_errors
}
test "skip: rejected_by" {
  given { request.model: "s" }
  candidate { provider.name: "azure", provider.retention_days: 0 }
  expect rejected_by short_retention_skip
}
test "deny: accepted" {
  given { request.model: "d" }
  candidate { provider.name: "azure", provider.retention_days: 0 }
  expect accepted
}
test "deny: no errors" {
  given { request.model: "d" }
  candidate { provider.name: "azure", provider.retention_days: 0 }
  expect no_errors
}
test "deny: rejected_by" {
  given { request.model: "d" }
  candidate { provider.name: "azure", provider.retention_days: 0 }
  expect rejected_by short_retention_deny
}
test "shadow: no errors" {
  given { request.model: "h" }
  candidate { provider.name: "azure", provider.retention_days: 0 }
  expect no_errors
}
test "clean candidate" {
  given { request.model: "d" }
  candidate { provider.name: "azure", provider.retention_days: 30 }
  expect accepted
  expect no_errors
}
)");
  ASSERT_TRUE(p);
  TestReport r = RunTests(*p, Limits{});
  EXPECT_TRUE(Find(r, "skip: accepted").pass) << Failures(Find(r, "skip: accepted"));
  const TestResult& skip = Find(r, "skip: no errors");
  EXPECT_FALSE(skip.pass);
  EXPECT_NE(Failures(skip).find("expected no errors, got the require of rule `short_retention_skip` on "
                                "the candidate: eval_arithmetic_error (division by zero), skipped by "
                                "`on_error skip`"),
            std::string::npos)
      << Failures(skip);
  const TestResult& skip_rej = Find(r, "skip: rejected_by");
  EXPECT_FALSE(skip_rej.pass);
  EXPECT_NE(Failures(skip_rej).find("`on_error skip` keeps the candidate"), std::string::npos)
      << Failures(skip_rej);
  const TestResult& deny_acc = Find(r, "deny: accepted");
  EXPECT_FALSE(deny_acc.pass);
  EXPECT_NE(Failures(deny_acc).find("rejects it"), std::string::npos) << Failures(deny_acc);
  const TestResult& deny = Find(r, "deny: no errors");
  EXPECT_FALSE(deny.pass);
  EXPECT_NE(Failures(deny).find("rule `short_retention_deny` on the candidate: eval_arithmetic_error"),
            std::string::npos)
      << Failures(deny);
  EXPECT_NE(Failures(deny).find("which rejects it"), std::string::npos) << Failures(deny);
  const TestResult& deny_rej = Find(r, "deny: rejected_by");
  EXPECT_FALSE(deny_rej.pass);
  EXPECT_NE(Failures(deny_rej).find("rejects the candidate for the error"), std::string::npos)
      << Failures(deny_rej);
  const TestResult& shadow = Find(r, "shadow: no errors");
  EXPECT_FALSE(shadow.pass);
  EXPECT_NE(Failures(shadow).find("the require of shadow rule `shadowed`"), std::string::npos)
      << Failures(shadow);
  EXPECT_TRUE(Find(r, "clean candidate").pass) << Failures(Find(r, "clean candidate"));
}

TEST(TestExpect, RedactsFailsWhenNothingWasReplaced) {
  auto p = Compile(std::string(kPolicy) + R"(
test "nothing" { given { request.content: "no address", request.max_tokens: 1 } expect redacts "[EMAIL]" }
test "something" { given { request.content: "to bob@example.com", request.max_tokens: 1 } expect redacts "[EMAIL]" }
)");
  ASSERT_TRUE(p);
  TestReport r = RunTests(*p, Limits{});
  const TestResult& n = Find(r, "nothing");
  EXPECT_FALSE(n.pass);
  EXPECT_NE(Failures(n).find("nothing in the content matched"), std::string::npos) << Failures(n);
  EXPECT_TRUE(Find(r, "something").pass) << Failures(Find(r, "something"));
}

// A denied request sends nothing upstream: `expect redacts` on it would
// pass on a redaction that redacts nothing and hide the deny.
TEST(TestExpect, RedactsFailsWhenTheRequestWasDenied) {
  auto p = Compile(std::string(kPolicy) + R"(
test "denied" { given { request.content: "to bob@example.com", request.max_tokens: 500 } expect redacts "[EMAIL]" }
test "allowed" { given { request.content: "to bob@example.com", request.max_tokens: 1 } expect redacts "[EMAIL]" }
test "denied, asserted" {
  given { request.content: "to bob@example.com", request.max_tokens: 500 }
  expect deny 403
}
)");
  ASSERT_TRUE(p);
  TestReport r = RunTests(*p, Limits{});
  const TestResult& d = Find(r, "denied");
  EXPECT_FALSE(d.pass);
  ASSERT_EQ(d.failures.size(), 1u) << Failures(d);
  EXPECT_NE(d.failures[0].find("expected a redaction as \"[EMAIL]\", but the request was denied, "
                               "deny 403 (policy_denied by rule `big`: \"too big\")"),
            std::string::npos)
      << Failures(d);
  EXPECT_NE(d.failures[0].find("sends nothing upstream"), std::string::npos) << Failures(d);
  EXPECT_TRUE(Find(r, "allowed").pass) << Failures(Find(r, "allowed"));
  EXPECT_TRUE(Find(r, "denied, asserted").pass) << Failures(Find(r, "denied, asserted"));
}

TEST(TestExpect, CodeReasonNoErrorsAndRedactedText) {
  auto p = Compile(std::string(kPolicy) + R"(
test "pass" {
  given { request.max_tokens: 500, request.content: "mail ann@example.org" }
  expect code "policy_denied"
  expect reason "too big"
  expect reason contains "big"
  expect no_errors
}
test "fail" {
  given { request.content: "mail ann@example.org" }
  expect code "policy_denied"
  expect reason "too big"
  expect reason contains "small"
  expect no_errors
}
test "redacted: pass" {
  given { request.max_tokens: 1, request.content: "mail ann@example.org" }
  expect redacted "mail [EMAIL]"
  expect redacted contains "[EMAIL]"
}
test "redacted: fail" {
  given { request.max_tokens: 1, request.content: "mail ann@example.org" }
  expect redacted "mail ann@example.org"
  expect redacted contains "ann@"
}
)");
  ASSERT_TRUE(p);
  TestReport r = RunTests(*p, Limits{});
  EXPECT_TRUE(Find(r, "pass").pass) << Failures(Find(r, "pass"));
  const TestResult& f = Find(r, "fail");
  EXPECT_FALSE(f.pass);
  ASSERT_EQ(f.failures.size(), 4u) << Failures(f);
  EXPECT_NE(f.failures[0].find("expected code \"policy_denied\""), std::string::npos);
  EXPECT_NE(f.failures[1].find("expected the reason to be \"too big\""), std::string::npos);
  EXPECT_NE(f.failures[2].find("to contain \"small\""), std::string::npos);
  EXPECT_NE(f.failures[3].find("expected no errors, got rule `big`: eval_arithmetic_error"), std::string::npos)
      << f.failures[3];
  EXPECT_TRUE(Find(r, "redacted: pass").pass) << Failures(Find(r, "redacted: pass"));
  const TestResult& rf = Find(r, "redacted: fail");
  EXPECT_FALSE(rf.pass);
  ASSERT_EQ(rf.failures.size(), 2u) << Failures(rf);
  EXPECT_NE(rf.failures[0].find("got \"mail [EMAIL]\""), std::string::npos) << rf.failures[0];
  EXPECT_NE(rf.failures[1].find("to contain \"ann@\""), std::string::npos);
}

// `expect redacted` on a denied request: nothing is sent upstream, so there
// is no redacted content. Before, the expectation compared the content the
// redactions would have produced (or the content as given, when no
// redaction was placed) and passed, hiding the deny -- a policy whose
// redaction rule also denied looked as if it redacted and let the request
// through.
TEST(TestExpect, RedactedFailsWhenTheRequestWasDenied) {
  auto p = Compile(std::string(kPolicy) + R"(
test "denied: redacted" {
  given { request.content: "to bob@example.com", request.max_tokens: 500 }
  expect redacted "to [EMAIL]"
}
test "denied: as given" {
  given { request.content: "no address", request.max_tokens: 500 }
  expect redacted contains "no address"
}
test "error deny" {
  given { request.content: "to bob@example.com" }
  expect redacted contains "[EMAIL]"
}
test "allowed" {
  given { request.content: "to bob@example.com", request.max_tokens: 1 }
  expect redacted "to [EMAIL]"
}
)");
  ASSERT_TRUE(p);
  TestReport r = RunTests(*p, Limits{});
  for (const char* name : {"denied: redacted", "denied: as given", "error deny"}) {
    const TestResult& d = Find(r, name);
    EXPECT_FALSE(d.pass) << name;
    ASSERT_EQ(d.failures.size(), 1u) << name << ": " << Failures(d);
    EXPECT_NE(d.failures[0].find("but the request was denied, deny 403"), std::string::npos)
        << Failures(d);
    EXPECT_NE(d.failures[0].find("sends nothing upstream"), std::string::npos) << Failures(d);
  }
  EXPECT_NE(Find(r, "denied: redacted").failures[0].find(
                "expected the redacted content to be \"to [EMAIL]\", but the request was denied, "
                "deny 403 (policy_denied by rule `big`: \"too big\")"),
            std::string::npos)
      << Failures(Find(r, "denied: redacted"));
  EXPECT_NE(Find(r, "error deny").failures[0].find("rule_error"), std::string::npos)
      << Failures(Find(r, "error deny"));
  EXPECT_TRUE(Find(r, "allowed").pass) << Failures(Find(r, "allowed"));
}

// `expect redacted` sees what goes upstream: a match across a message
// break is removed from both messages, which stay two messages.
TEST(TestExpect, RedactedAcrossMessagesIsWhatGoesUpstream) {
  auto p = Compile(R"(policy "split"
rule secret {
  when request.content matches "secret\\s+code"
  redact "secret\\s+code" as "[X]"
}
test "joined view" {
  given { request.messages: [{role: "user", content: "the secret"}, {role: "user", content: "code is 42"}] }
  expect redacts "[X]"
  expect redacted "the [X]\n is 42"
}
test "as if one text" {
  given { request.messages: [{role: "user", content: "the secret"}, {role: "user", content: "code is 42"}] }
  expect redacted "the [X] is 42"
}
)");
  ASSERT_TRUE(p);
  TestReport r = RunTests(*p, Limits{});
  EXPECT_TRUE(Find(r, "joined view").pass) << Failures(Find(r, "joined view"));
  const TestResult& f = Find(r, "as if one text");
  EXPECT_FALSE(f.pass);
  ASSERT_EQ(f.failures.size(), 1u) << Failures(f);
  EXPECT_NE(f.failures[0].find("got \"the [X]\n is 42\""), std::string::npos) << f.failures[0];
}

TEST(TestExpect, FixturesAreExtendedAndOverridden) {
  auto p = Compile(R"(policy "fx"
rule de { when principal.jurisdiction == "DE" and (request.max_tokens ?? 0) > 10 deny "de" }
fixture base { principal.workspace: "acme", request.max_tokens: 50 }
fixture german from base { principal.jurisdiction: "DE" }
test "inherits" { given german {} expect deny }
test "overrides" { given german { request.max_tokens: 5 } expect allow }
test "base only" { given base {} expect allow }
)");
  ASSERT_TRUE(p);
  TestReport r = RunTests(*p, Limits{});
  for (const char* n : {"inherits", "overrides", "base only"})
    EXPECT_TRUE(Find(r, n).pass) << n << ": " << Failures(Find(r, n));
  std::string json, error;
  ASSERT_TRUE(BuildTestInput(p->ast().tests[1], p->schema(), &json, &error)) << error;
  EXPECT_NE(json.find("\"workspace\":\"acme\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"max_tokens\":5"), std::string::npos) << json;
  EXPECT_EQ(json.find("\"max_tokens\":50"), std::string::npos) << json;
}

TEST(TestExpect, RequiredExtensionFieldsAreNotDefaulted) {
  stdlib::Schema schema = stdlib::Schema::Standard();
  std::string err;
  ASSERT_TRUE(schema.AddFromJson(R"({"fields": [{"path": "principal.cost_center", "type": "string",
                                    "scope": "request", "required": true}]})",
                                 &err))
      << err;
  auto p = Compile(R"(policy "ext"
rule cc { when principal.cost_center == "x" deny "x" }
test "left out" { given { request.model: "m" } expect allow }
test "given" { given { principal.cost_center: "y" } expect allow }
)",
                   &schema);
  ASSERT_TRUE(p);
  TestReport r = RunTests(*p, Limits{});
  const TestResult& out = Find(r, "left out");
  EXPECT_FALSE(out.pass);
  EXPECT_NE(Failures(out).find("missing required field `principal.cost_center`"), std::string::npos)
      << Failures(out);
  EXPECT_TRUE(Find(r, "given").pass) << Failures(Find(r, "given"));
}

}  // namespace
}  // namespace tollgate::runtime
