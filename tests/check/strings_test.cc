// Checker: `{expr}` messages (names, witnesses, scopes, types), string `+`,
// composite keys and constant time-zone names.
#include <gtest/gtest.h>

#include "tests/check/check_helpers.h"

namespace tollgate::checktest {
namespace {

std::string Only(const Checked& c) {
  EXPECT_EQ(c.diags.items().size(), 1u) << c.Render();
  return c.diags.items().empty() ? "" : c.diags.items()[0].code;
}

TEST(Messages, HolesAreCheckedLikeExpressions) {
  Checked c = CheckSource("policy \"t\"\nrule r { deny \"model {request.modle}\" }\n");
  EXPECT_EQ(Only(c), "tg_unknown_field");
  EXPECT_EQ(c.diags.items()[0].span.line, 2u);
  EXPECT_EQ(c.diags.items()[0].span.col, 23u);  // at `request.modle`, inside the string
  Checked n = CheckSource("policy \"t\"\nrule r { warn \"{nope}\" }\n");
  EXPECT_EQ(Only(n), "tg_unknown_name");
}

TEST(Messages, OnlyWitnessesOfWhenAreInScope) {
  Checked ok = CheckSource(
      "policy \"t\"\n"
      "rule r {\n"
      "  when request.model != \"x\" and (any t in request.tools: (any m in request.models: m == t))\n"
      "  deny \"tool {t} and model {m}\"\n"
      "  tag tool = t\n"
      "}\n");
  EXPECT_TRUE(ok.ok) << ok.Render();
  // `all` and `or` do not name one element when the rule fires.
  Checked all = CheckSource(
      "policy \"t\"\nrule r { when all t in request.tools: t != \"x\" deny \"tool {t}\" }\n");
  EXPECT_EQ(Only(all), "tg_unknown_name");
  EXPECT_NE(all.diags.items()[0].help.find("`any` quantifier joined by `and`"), std::string::npos)
      << all.Render();
  Checked either = CheckSource(
      "policy \"t\"\n"
      "rule r { when (any t in request.tools: t == \"x\") or (request.stream ?? false) deny \"tool {t}\" }\n");
  EXPECT_EQ(Only(either), "tg_unknown_name");
  // Witnesses are not visible to `require` (evaluated per candidate).
  Checked req = CheckSource(
      "policy \"t\"\n"
      "rule r { when any t in request.tools: t == \"x\" require provider.name == t }\n");
  EXPECT_EQ(Only(req), "tg_unknown_name");
}

TEST(Messages, AQuantifierInATagMayReuseAWitnessName) {
  Checked c = CheckSource(
      "policy \"t\"\n"
      "rule r { when any t in request.tools: t == \"x\" tag all_short = all t in request.tools: t != \"\" }\n");
  EXPECT_TRUE(c.ok) << c.Render();
}

TEST(Messages, CandidateFieldsAreOutOfScope) {
  Checked c = CheckSource("policy \"t\"\nrule r { deny \"{provider.name}\" }\n");
  EXPECT_EQ(Only(c), "tg_scope_error");
}

TEST(Strings, PlusJoinsStringsOnly) {
  EXPECT_TRUE(CheckSource("policy \"t\"\nrule r { tag k = (principal.user ?? \"anon\") + \"/\" + request.model }\n").ok);
  Checked c = CheckSource("policy \"t\"\nrule r { tag k = principal.user + 1 }\n");
  EXPECT_EQ(Only(c), "tg_type_error");
  EXPECT_NE(c.diags.items()[0].help.find("`string(x)`"), std::string::npos) << c.Render();
  EXPECT_TRUE(CheckSource("policy \"t\"\nrule r { tag k = (principal.user ?? \"\") + string(request.max_tokens ?? 0) }\n").ok);
}

TEST(Keys, CompositeKeysHoldStrings) {
  EXPECT_TRUE(CheckSource(
      "policy \"t\"\nbudget b { key (principal.user ?? \"anonymous\", request.model) per day limit 5 usd }\n").ok);
  Checked c = CheckSource(
      "policy \"t\"\nlimit l { key (principal.workspace, principal.groups) per minute max 5 requests }\n");
  EXPECT_FALSE(c.ok);
  EXPECT_EQ(c.ErrorCodes(), std::vector<std::string>{"tg_type_error"}) << c.Render();
  EXPECT_NE(c.diags.items()[0].message.find("each part of a key must be `string`"), std::string::npos)
      << c.Render();
  Checked n = CheckSource(
      "policy \"t\"\nlimit l { key (principal.workspace, request.input_tokens) per minute max 5 requests }\n");
  EXPECT_NE(n.Render().find("each part of a key must be `string`, found `int`"), std::string::npos)
      << n.Render();
  EXPECT_NE(n.Render().find("`string(x)`"), std::string::npos) << n.Render();
  // A key part may read the serving endpoint's fields (charged per
  // endpoint, docs/budgets.md); the max may not.
  Checked s = CheckSource(
      "policy \"t\"\nlimit l { key (principal.workspace, provider.name) per minute max 5 requests }\n");
  EXPECT_EQ(s.ErrorCodes(), std::vector<std::string>{}) << s.Render();
  Checked m = CheckSource(
      "policy \"t\"\nlimit l { key principal.workspace per minute max endpoint.context_length requests }\n");
  EXPECT_EQ(m.ErrorCodes(), std::vector<std::string>{"tg_scope_error"}) << m.Render();
}

TEST(TimeZones, AConstantZoneMustExist) {
  Checked c = CheckSource(
      "policy \"t\"\nconst tz = \"Europe/Berln\"\n"
      "rule r { when weekday(context.time, tz) == 1 deny \"x\" }\n");
  EXPECT_EQ(Only(c), "tg_invalid_value");
  EXPECT_NE(c.diags.items()[0].message.find("unknown time zone `Europe/Berln`"), std::string::npos);
  EXPECT_TRUE(CheckSource("policy \"t\"\nrule r { when hour(context.time, \"America/New_York\") < 9 "
                          "deny \"x\" }\n").ok);
  // Not constant: checked when it runs (eval_builtin_error).
  EXPECT_TRUE(CheckSource("policy \"t\"\nrule r { when hour(context.time, principal.user ?? \"UTC\") < 9 "
                          "deny \"x\" }\n").ok);
  // A time literal that is not RFC 3339 is a check-time error.
  Checked t = CheckSource("policy \"t\"\nrule r { when context.time > time(\"2026-13-01\") deny \"x\" }\n");
  EXPECT_EQ(Only(t), "tg_invalid_value");
}

// Zone names the database knows that read as another offset: a Berlin
// business-hours rule written with `Etc/GMT+1` reads UTC-01:00 (two hours
// off), and one for New York written with `EST` is an hour off all summer.
// Both checked clean and decided by the wrong clock (tg_misleading_time_zone).
TEST(TimeZones, ZonesThatReadAsAnotherOffsetWarn) {
  Checked c = CheckSource(
      "policy \"t\"\nconst office = \"Etc/GMT+1\"\n"
      "rule berlin_hours { when hour(context.time, office) < 9 or weekday(context.time, office) >= 6 "
      "deny \"closed\" }\n"
      "rule ny_hours { when hour(context.time, \"EST\") >= 17 deny \"closed\" }\n"
      "rule denver { tag d = date(context.time, \"MST\") }\n");
  ASSERT_TRUE(c.ok) << c.Render();
  const std::string r = c.Render();
  EXPECT_NE(r.find("test.tg:3:45: warning[tg_misleading_time_zone]: `Etc/GMT+1` is UTC-01:00, not "
                   "UTC+01:00: the Etc/GMT zones are named with the POSIX sign, west of Greenwich "
                   "positive"), std::string::npos) << r;
  EXPECT_NE(r.find("help: for UTC+01:00 all year write `Etc/GMT-1`; for the time of a place write its "
                   "zone, such as `Europe/Berlin`"), std::string::npos) << r;
  EXPECT_NE(r.find("test.tg:3:82: warning[tg_misleading_time_zone]"), std::string::npos) << r;
  EXPECT_NE(r.find("test.tg:4:41: warning[tg_misleading_time_zone]: `EST` is UTC-05:00 all year, "
                   "without daylight saving time: New York is an hour later in summer"),
            std::string::npos) << r;
  EXPECT_NE(r.find("help: for the time in New York write `America/New_York`"), std::string::npos) << r;
  EXPECT_NE(r.find("`MST` is UTC-07:00 all year"), std::string::npos) << r;
  size_t n = 0;
  for (const auto& d : c.diags.items()) n += d.code == "tg_misleading_time_zone";
  EXPECT_EQ(n, 4u) << r;
  // Names that mean what they say.
  Checked ok = CheckSource(
      "policy \"t\"\n"
      "rule a { when hour(context.time, \"Europe/Berlin\") < 9 deny \"x\" }\n"
      "rule b { when hour(context.time, \"America/New_York\") < 9 deny \"x\" }\n"
      "rule c { when hour(context.time, \"Etc/GMT-0\") < 9 or hour(context.time, \"UTC\") < 8 deny \"x\" }\n"
      "rule d { when hour(context.time, \"EST5EDT\") < 9 or hour(context.time, \"America/Panama\") < 8 deny \"x\" }\n");
  EXPECT_TRUE(ok.ok) << ok.Render();
  EXPECT_EQ(ok.Render().find("tg_misleading_time_zone"), std::string::npos) << ok.Render();
}

}  // namespace
}  // namespace tollgate::checktest
