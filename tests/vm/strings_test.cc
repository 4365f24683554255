// Strings in the VM: `+`, string()/split/join, `{expr}` messages in deny,
// warn and tag (with `any` witnesses), composite budget/limit keys, time
// zones, and the tg_cost_bound of quantifiers over constant data.
#include <gtest/gtest.h>

#include "engine/core/value.h"
#include "tests/vm/vm_helpers.h"

namespace tollgate::vmtest {
namespace {

Value Time(const char* rfc3339) {
  int64_t ms = 0;
  EXPECT_TRUE(ParseRfc3339(rfc3339, &ms)) << rfc3339;
  return Value::Time(ms);
}

TEST(Strings, ConcatenationBuildsStrings) {
  auto p = Compile(
      "rule r { when principal.user + \"/\" + request.model == \"alice/m\" deny \"x\" }\n");
  EXPECT_EQ(Eval(*p, *Request().Str("principal.user", "alice").Take())->outcome, vm::Outcome::kDeny);
  EXPECT_EQ(Eval(*p, *Request().Str("principal.user", "bob").Take())->outcome, vm::Outcome::kAllow);
}

TEST(Strings, SplitJoinAndInfixPrefixTests) {
  auto p = Compile(
      "rule r {\n"
      "  when request.model starts_with \"openai/\" and request.model ends_with \":free\"\n"
      "    and split(request.model, \"/\")[1] == \"gpt-4o:free\"\n"
      "    and join(split(request.model, \"/\"), \"|\") == \"openai|gpt-4o:free\"\n"
      "  deny \"x\"\n"
      "}\n");
  EXPECT_EQ(Eval(*p, *Request().Str("request.model", "openai/gpt-4o:free").Take())->outcome,
            vm::Outcome::kDeny);
  EXPECT_EQ(Eval(*p, *Request().Str("request.model", "openai/gpt-4o").Take())->outcome,
            vm::Outcome::kAllow);
}

TEST(Messages, DenyReasonNamesTheWitnessOfAny) {
  auto p = Compile(
      "const approved = {\"search\", \"calc\"}\n"
      "rule tools {\n"
      "  when any t in request.tools: t not in approved\n"
      "  deny 403 \"tool {t} is not approved for {principal.workspace} {{sic}}\"\n"
      "}\n");
  auto d = Eval(*p, *Request().Set("request.tools", {"calc", "shell", "zap"}).Take());
  EXPECT_EQ(d->outcome, vm::Outcome::kDeny);
  // The first element (sets iterate in sorted order) for which the body held.
  EXPECT_EQ(d->reason, "tool shell is not approved for ws {sic}");
  EXPECT_TRUE(d->errors.empty());
}

TEST(Messages, WarnAndTagRenderValuesCanonically) {
  auto p = Compile(
      "const cap = 2.5 usd\n"
      "rule w {\n"
      "  when request.max_tokens > 10\n"
      "  warn \"max_tokens {request.max_tokens} over cap {cap} at {context.time}, {1.50} {90s} {true}\"\n"
      "  tag note = \"user={principal.user}\"\n"
      "}\n");
  auto d = Eval(*p, *Request()
                         .Int("request.max_tokens", 20)
                         .Str("principal.user", "alice")
                         .Raw("context.time", Time("2026-11-28T10:00:00Z"))
                         .Take());
  ASSERT_EQ(d->warnings.size(), 1u);
  EXPECT_EQ(d->warnings[0].message,
            "max_tokens 20 over cap 2.50 usd at 2026-11-28T10:00:00Z, 1.5 90s true");
  ASSERT_EQ(d->tags.size(), 1u);
  EXPECT_EQ(d->tags[0].value.sv(), "user=alice");
}

TEST(Messages, AdvisoryWarningIsRendered) {
  auto p = Compile("rule a mode advisory { deny \"model {request.model} is old\" }\n");
  auto d = Eval(*p, *Request().Str("request.model", "gpt-3").Take());
  EXPECT_EQ(d->outcome, vm::Outcome::kAllow);
  ASSERT_EQ(d->warnings.size(), 1u);
  EXPECT_EQ(d->warnings[0].message, "model gpt-3 is old");
}

// Issue 6 item 2: an error inside a message drops that message (a deny keeps
// its template text), is reported, and never turns the rule into an error.
TEST(Messages, AnErrorWhileRenderingDropsTheMessageNotTheDecision) {
  // request.max_tokens is absent (AllPresentSchema lets the read through to
  // the VM's defensive check): rendering it fails.
  auto p = Compile(
      "rule r on_error skip {\n"
      "  deny 409 \"too many: {request.max_tokens}\"\n"
      "  warn \"tokens {request.max_tokens}\"\n"
      "  warn \"model {request.model}\"\n"
      "}\n");
  auto d = Eval(*p, *Request().Take());
  EXPECT_EQ(d->outcome, vm::Outcome::kDeny);
  EXPECT_EQ(d->status, 409);
  EXPECT_EQ(d->code, vm::kCodePolicyDenied);
  EXPECT_EQ(d->reason, "too many: {request.max_tokens}");
  ASSERT_EQ(d->warnings.size(), 1u);
  EXPECT_EQ(d->warnings[0].message, "model m");
  ASSERT_EQ(d->errors.size(), 2u);
  EXPECT_EQ(d->errors[0].code, vm::kErrMissingField);
  EXPECT_EQ(d->errors[1].message.rfind("warning dropped: ", 0), 0u) << d->errors[1].message;
}

TEST(Messages, ConstantHolesAreFolded) {
  auto p = Compile("const most = 32000\nrule r { deny \"at most {most} tokens\" }\n");
  auto d = Eval(*p, *Request().Take());
  EXPECT_EQ(d->reason, "at most 32000 tokens");
}

TEST(Keys, CompositeKeyIsATupleOfStrings) {
  auto p = Compile(
      "budget per_user_model { key (principal.user, request.model) per day limit 5 usd }\n"
      "limit joined { key principal.user + \"/\" + request.model per minute max 10 requests }\n"
      "rule r { deny \"x\" }\n");
  std::string key;
  vm::RuleError err;
  auto req = Request().Str("principal.user", "a/b").Str("request.model", "c").Take();
  ASSERT_TRUE(vm::EvalKey(p->program(), vm::KeyKind::kBudget, 0, *req, &key, &err)) << err.message;
  EXPECT_EQ(key, "[\"a/b\",\"c\"]");
  // The tuple cannot collide the way a joined string can.
  auto other = Request().Str("principal.user", "a").Str("request.model", "b/c").Take();
  std::string key2;
  ASSERT_TRUE(vm::EvalKey(p->program(), vm::KeyKind::kBudget, 0, *other, &key2, &err));
  EXPECT_NE(key, key2);
  ASSERT_TRUE(vm::EvalKey(p->program(), vm::KeyKind::kLimit, 0, *req, &key, &err));
  EXPECT_EQ(key, "a/b/c");
  // A missing part is a missing field, as for a single key.
  EXPECT_FALSE(vm::EvalKey(p->program(), vm::KeyKind::kBudget, 0, *Request().Take(), &key, &err));
  EXPECT_EQ(err.code, vm::kErrMissingField);
}

TEST(TimeZones, HourAndWeekdayInAZone) {
  auto p = Compile(
      "rule berlin_evening {\n"
      "  when hour(context.time, \"Europe/Berlin\") >= 19 and weekday(context.time, \"Europe/Berlin\") == 5\n"
      "  deny \"x\"\n"
      "}\n");
  // 18:30 UTC on Friday 2026-11-27 is 19:30 in Berlin (CET, UTC+1).
  EXPECT_EQ(Eval(*p, *Request().Raw("context.time", Time("2026-11-27T18:30:00Z")).Take())->outcome,
            vm::Outcome::kDeny);
  // In summer (CEST, UTC+2) 17:30 UTC is already 19:30.
  EXPECT_EQ(Eval(*p, *Request().Raw("context.time", Time("2026-07-03T17:30:00Z")).Take())->outcome,
            vm::Outcome::kDeny);
  EXPECT_EQ(Eval(*p, *Request().Raw("context.time", Time("2026-11-27T17:30:00Z")).Take())->outcome,
            vm::Outcome::kAllow);
}

TEST(TimeZones, AZoneFromTheRequestThatDoesNotExistIsABuiltinError) {
  auto p = Compile(
      "rule r on_error skip { when hour(context.time, principal.user) > 3 deny \"x\" }\n");
  auto d = Eval(*p, *Request()
                         .Raw("context.time", Time("2026-11-27T18:30:00Z"))
                         .Str("principal.user", "Mars/Olympus")
                         .Take());
  ASSERT_EQ(d->errors.size(), 1u);
  EXPECT_EQ(d->errors[0].code, vm::kErrBuiltin);
  EXPECT_NE(d->errors[0].message.find("unknown time zone `Mars/Olympus`"), std::string::npos);
}

TEST(TimeZones, AConstantZoneThatDoesNotExistIsACheckError) {
  std::string errs = CompileErrors("rule r { when hour(context.time, \"Europe/Berln\") > 3 deny \"x\" }\n");
  EXPECT_NE(errs.find("tg_invalid_value"), std::string::npos) << errs;
  EXPECT_NE(errs.find("unknown time zone `Europe/Berln`"), std::string::npos) << errs;
}

TEST(CostBound, QuantifiersOverConstantDataCostTheirSize) {
  Limits l;
  l.max_messages = 100;
  auto p = Compile(
      "const allowed = [\"a\", \"b\", \"c\", \"d\", \"e\"]\n"
      "rule r { when any m in request.messages: (any t in allowed: m.content == t) deny \"x\" }\n",
      l);
  ASSERT_TRUE(p);
  uint64_t bound = p->program().rules()[0].cost_bound;
  // 100 messages x 5 elements, not 100 x max_list_elements.
  EXPECT_GE(bound, 100u * 5);
  EXPECT_LT(bound, 100u * 5 * 20);
}

TEST(CostBound, TheHelpNamesTheLoopAndItsBound) {
  Compiled c = CompileSource(
      "t.tg",
      "policy \"t\"\n"
      "rule big { when any m in request.messages: (any n in request.messages: m.content == n.content) "
      "deny \"x\" }\n",
      CompileOptions{});
  ASSERT_TRUE(c.policy) << c.diagnostics.Render();
  const Diagnostic* w = nullptr;
  for (const Diagnostic& d : c.diagnostics.items())
    if (d.code == "tg_cost_bound") w = &d;
  ASSERT_NE(w, nullptr) << c.diagnostics.Render();
  EXPECT_NE(w->help.find("`any m in request.messages` (line 2) may run its body 4096 times"),
            std::string::npos)
      << w->help;
  EXPECT_NE(w->help.find("Limits::max_messages"), std::string::npos) << w->help;
  EXPECT_NE(w->help.find("const or data list"), std::string::npos) << w->help;
  // Over a five-element const list the same nesting stays under the budget.
  Compiled small = CompileSource(
      "t.tg",
      "policy \"t\"\nconst five = [\"a\", \"b\", \"c\", \"d\", \"e\"]\n"
      "rule ok { when any m in request.messages: (any t in five: (any u in five: m.content == t + u)) "
      "deny \"x\" }\n",
      CompileOptions{});
  ASSERT_TRUE(small.policy) << small.diagnostics.Render();
  for (const Diagnostic& d : small.diagnostics.items()) EXPECT_NE(d.code, "tg_cost_bound") << d.message;
}

}  // namespace
}  // namespace tollgate::vmtest
