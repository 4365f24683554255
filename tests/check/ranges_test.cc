// The `ranges` pass: a comparison of a bounded number (a builtin's result,
// a number field whose range the decoder enforces) with a constant that can
// never hold over the range (tg_unreachable_comparison): an error when it
// makes a `when` or `require` never hold, a warning elsewhere.
#include <gtest/gtest.h>

#include <algorithm>

#include "tests/check/check_helpers.h"

namespace tollgate::checktest {
namespace {

using V = std::vector<std::string>;

// `source` checks with `errors` tg_unreachable_comparison errors and no
// other, and its rendered diagnostics hold each of `wants`.
void ExpectUnreachable(const char* source, size_t errors, std::initializer_list<const char*> wants) {
  auto c = CheckSource(source);
  EXPECT_FALSE(c.ok);
  EXPECT_EQ(c.ErrorCodes(), V(errors, "tg_unreachable_comparison")) << c.Render();
  const std::string r = c.Render();
  for (const char* want : wants) EXPECT_TRUE(Has(r, want)) << "`" << want << "` is not in:\n" << r;
}

// The reviewer's cases: each checked clean and could never fire.
TEST(Ranges, ConditionsThatCanNeverHoldAreErrors) {
  ExpectUnreachable(R"(policy "p"
rule injection { when dlp.injection_score(request.content) >= 80 deny "x" }
rule late { when hour(context.time) >= 24 deny "x" }
rule sunday { when weekday(context.time) == 0 deny "x" }
rule no_n { when request.n < 1 deny "x" }
rule negative { when exists(request.max_tokens) and request.max_tokens < 0 deny "x" }
rule tokens { when request.input_tokens < 0 deny "x" }
rule free { require endpoint.price_input < 0 usd }
)", 7, {
      "test.tg:2:23: error[tg_unreachable_comparison]: rule `injection` can never fire: "
      "`dlp.injection_score(request.content) >= 80` is always false "
      "(`dlp.injection_score(request.content)` is from 0 to 1)",
      "help: the score is a decimal from 0 to 1, not a percentage: write `0.8` for 80%",
      "test.tg:3:18: error[tg_unreachable_comparison]: rule `late` can never fire: "
      "`hour(context.time) >= 24` is always false (`hour(context.time)` is from 0 to 23)",
      "help: `hour` is the hour of the day, 0..23 (utc): compare with a whole number "
      "from 0 to 23",
      "test.tg:4:20: error[tg_unreachable_comparison]: rule `sunday` can never fire: "
      "`weekday(context.time) == 0` is always false (`weekday(context.time)` is from 1 to 7)",
      "1 = monday .. 7 = sunday",
      "test.tg:5:18: error[tg_unreachable_comparison]: rule `no_n` can never fire: "
      "`request.n < 1` is always false (`request.n` is 1 or more)",
      "help: the decoder refuses an `n` below 1",
      "test.tg:6:53: error[tg_unreachable_comparison]: rule `negative` can never fire: "
      "`request.max_tokens < 0` is always false",
      "test.tg:7:20: error[tg_unreachable_comparison]: rule `tokens` can never fire",
      "test.tg:8:21: error[tg_unreachable_comparison]: a require of rule `free` never "
      "holds, so it rejects every endpoint: `endpoint.price_input < 0 usd` is always "
      "false (`endpoint.price_input` is 0.00 usd or more)",
  });
}

// endpoint.uptime is a fraction (the catalog's observed.uptime, 0..1): a
// require written with a percentage rejects every endpoint of a real
// catalog. Before, the range claimed only "0 or more" and the policy checked
// clean (and its tests passed with candidates holding 99.9).
TEST(Ranges, UptimeIsAFractionNotAPercentage) {
  ExpectUnreachable(R"(policy "p"
rule reliable { when context.environment == "production" require endpoint.uptime >= 99.5 }
rule flaky { require endpoint.uptime < 0.95 or endpoint.uptime <= 2 }
)", 1, {
      "test.tg:2:66: error[tg_unreachable_comparison]: a require of rule `reliable` never "
      "holds, so it rejects every endpoint: `endpoint.uptime >= 99.5` is always false "
      "(`endpoint.uptime` is from 0 to 1)",
      "help: `endpoint.uptime` is a decimal from 0 to 1, not a percentage: write "
      "`0.995` for 99.5%",
      // One side of an `or`, always true: a warning.
      "test.tg:3:48: warning[tg_unreachable_comparison]",
  });
  auto ok = CheckSource(R"(policy "p"
rule reliable { require endpoint.uptime >= 0.995 }
)");
  EXPECT_TRUE(ok.ok) << ok.Render();
}

// endpoint.latency_p50 is in seconds, at most an hour (the catalog's
// observed.latency_p50, which the candidate decoder now bounds too): a
// comparison written in milliseconds is always false or always true. Before,
// the range was "0 or more" and `require endpoint.latency_p50 > 5000`
// checked clean and rejected every endpoint.
TEST(Ranges, LatencyIsInSecondsAtMostAnHour) {
  ExpectUnreachable(R"(policy "p"
rule slow_only { require endpoint.latency_p50 > 5000 }
rule fast { require endpoint.latency_p50 < 5000 }
)", 1, {
      "test.tg:2:26: error[tg_unreachable_comparison]: a require of rule `slow_only` never "
      "holds, so it rejects every endpoint: `endpoint.latency_p50 > 5000` is always false "
      "(`endpoint.latency_p50` is from 0 to 3600)",
      "help: `endpoint.latency_p50` is in seconds, not milliseconds: write `5` for 5000 ms",
      // Always true: a warning (the require keeps every endpoint).
      "test.tg:3:21: warning[tg_unreachable_comparison]: `endpoint.latency_p50 < 5000` is "
      "always true",
  });
  auto ok = CheckSource(R"(policy "p"
rule fast { require endpoint.latency_p50 < 2.5 }
rule patient { require endpoint.latency_p50 <= 600 }
)");
  EXPECT_TRUE(ok.ok) << ok.Render();
  EXPECT_EQ(ok.Render().find("tg_unreachable_comparison"), std::string::npos) << ok.Render();
}

// endpoint.throughput is at most 10^6 tokens per second (the catalog's
// observed.throughput, bounded by the candidate decoder too). Before, its
// range was "0 or more" and `require endpoint.throughput > 2000000` checked
// clean and rejected every endpoint.
TEST(Ranges, ThroughputIsAtMostTheCatalogs) {
  ExpectUnreachable(R"(policy "p"
rule fastest { require endpoint.throughput > 2000000 }
)", 1, {
      "test.tg:2:24: error[tg_unreachable_comparison]: a require of rule `fastest` never "
      "holds, so it rejects every endpoint: `endpoint.throughput > 2000000` is always false "
      "(`endpoint.throughput` is from 0 to 1000000)",
  });
  auto ok = CheckSource(R"(policy "p"
rule quick { require endpoint.throughput >= 50 }
)");
  EXPECT_TRUE(ok.ok) << ok.Render();
  EXPECT_EQ(ok.Render().find("tg_unreachable_comparison"), std::string::npos) << ok.Render();
}

// Either operand order, every operator, a constant folded from a const, a
// default, `not` and `not (a or b)`.
TEST(Ranges, AnyOperatorEitherOrderFoldedConstants) {
  auto c = CheckSource(R"(policy "p"
const threshold = 40 + 40
const last_hour = 24
rule a { when threshold <= dlp.injection_score(request.content) deny "x" }
rule b { when last_hour == hour(context.time, "Europe/Berlin") deny "x" }
rule c { when 7 < weekday(context.time) deny "x" }
rule d { when minute(context.time) > 59 deny "x" }
rule e { when month(context.time) <= 0 deny "x" }
rule f { when (request.max_tokens ?? 0) < 0 deny "x" }
rule g { when not (request.n >= 1) deny "x" }
rule h { when not (request.model == "m" or length(request.tools) >= 0) deny "x" }
rule i { when day(context.time) != 32 and hour(context.time) == 7.5 deny "x" }
rule j { when any m in request.messages: length(m.content ?? "") < 0 deny "x" }
)");
  EXPECT_FALSE(c.ok);
  const std::string r = c.Render();
  // a..j each cannot fire; `day(...) != 32` is only always true (a warning).
  EXPECT_EQ(Count(r, "error[tg_unreachable_comparison]"), 10u) << r;
  EXPECT_EQ(Count(r, "warning[tg_unreachable_comparison]"), 1u) << r;
  for (const char* rule : {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"})
    EXPECT_TRUE(Has(r, std::string("rule `") + rule + "` can never fire")) << rule << "\n" << r;
  EXPECT_TRUE(Has(r, "write `0.8` for 80%")) << r;
  EXPECT_TRUE(Has(r, "`(request.n >= 1)` is always true")) << r;
  EXPECT_TRUE(Has(r, "`day(context.time) != 32` is always true (`day(context.time)` is from 1 to 31)"))
      << r;
  EXPECT_TRUE(Has(r, "the decoder refuses a negative `max_tokens`; absent, it reads as 0")) << r;
}

// Where the comparison does not decide the condition -- one side of an
// `or`, a tag value, an always-true test, a partly impossible set -- the
// expression still means something: a warning, and the policy checks.
TEST(Ranges, ElsewhereItIsAWarning) {
  auto c = CheckSource(R"(policy "p"
rule weekend { when weekday(context.time) in {0, 6} deny "x" }
rule either { when request.input_tokens < 0 or principal.workspace == "w" deny "x" }
rule tagged { tag late = hour(context.time) >= 24 }
rule always { require endpoint.price_input >= 0 usd }
)");
  ASSERT_TRUE(c.ok) << c.Render();
  const std::string r = c.Render();
  EXPECT_EQ(Count(r, "warning[tg_unreachable_comparison]"), 4u) << r;
  EXPECT_TRUE(Has(r, "test.tg:2:21: warning[tg_unreachable_comparison]: `0` never matches "
                     "`weekday(context.time)`, which is from 1 to 7")) << r;
  EXPECT_TRUE(Has(r, "list only values from 1 to 7")) << r;
  EXPECT_TRUE(Has(r, "`request.input_tokens < 0` is always false")) << r;
  EXPECT_TRUE(Has(r, "`hour(context.time) >= 24` is always false")) << r;
  EXPECT_TRUE(Has(r, "`endpoint.price_input >= 0 usd` is always true")) << r;
}

// Every value in the set is impossible: the membership never holds.
TEST(Ranges, AWhollyImpossibleSetIsAnError) {
  auto c = CheckSource(R"(policy "p"
const closed = {0, 8}
rule r { when weekday(context.time) in closed deny "x" }
rule s { when weekday(context.time) not in closed deny "x" }
)");
  EXPECT_EQ(c.ErrorCodes(), V{"tg_unreachable_comparison"}) << c.Render();
  EXPECT_TRUE(Has(c.Render(), "rule `r` can never fire")) << c.Render();
  EXPECT_TRUE(Has(c.Render(), "warning[tg_unreachable_comparison]: `weekday(context.time) not in closed` "
            "is always true")) << c.Render();
}

// Comparisons that can hold stay quiet: inside the range, at its ends,
// fields with no enforced range (temperature, a schema extension's), and
// builtins with none (year, cost).
TEST(Ranges, ReachableComparisonsAreQuiet) {
  auto c = CheckSource(R"(policy "p"
rule a { when dlp.injection_score(request.content) >= 0.8 deny "x" }
rule b { when hour(context.time) >= 23 or hour(context.time) < 1 deny "x" }
rule c { when weekday(context.time) in {6, 7} deny "x" }
rule d { when request.n > 1 deny "x" }
rule e { when (request.max_tokens ?? -1) < 0 deny "x" }
rule f { when exists(request.temperature) and request.temperature < 0 deny "x" }
rule g { when year(context.time) < 2000 deny "x" }
rule h { when dlp.injection_score(request.content) >= 1 deny "x" }
rule i { require endpoint.price_input <= 0 usd }
rule j { when length(request.tools) == 0 deny "x" }
)");
  ASSERT_TRUE(c.ok) << c.Render();
  EXPECT_FALSE(Has(c.Render(), "tg_unreachable_comparison")) << c.Render();
}

// A let is expanded into each use: reported once, where it is written --
// as an error when some use makes a condition never hold, even when an
// earlier use is only a warning.
TEST(Ranges, ALetIsReportedOnce) {
  auto c = CheckSource(R"(policy "p"
let late = hour(context.time) >= 24
rule a { when late or principal.workspace == "w" deny "x" }
rule b { when late deny "x" }
rule c { when late and principal.workspace == "v" deny "x" }
)");
  EXPECT_EQ(c.ErrorCodes(), V{"tg_unreachable_comparison"}) << c.Render();
  EXPECT_TRUE(Has(c.Render(), "test.tg:2:12: error[tg_unreachable_comparison]: rule `b` can never fire"))
      << c.Render();
}

TEST(Ranges, RunsAfterNames) {
  V names;
  for (const auto& p : check::Passes()) names.push_back(p.name);
  auto at = std::find(names.begin(), names.end(), "ranges");
  ASSERT_NE(at, names.end());
  EXPECT_EQ(*(at - 1), "names");
}

// Prices per million tokens compared with a per-token price (OpenRouter's API
// and most price lists write `0.000005` for 5 usd per million): the require
// rejected every priced endpoint, the cap capped everything, and checked clean.
TEST(Ranges, PerTokenPricesAgainstPerMillionFieldsWarn) {
  auto c = CheckSource(R"(policy "p"
rule cheap { when principal.groups has "interns" require endpoint.price_input <= 0.000005 usd and 0.000015 usd >= endpoint.price_output }
rule cap { route max_price prompt 0.000003 usd, max_price completion 0.000012 usd }
rule est { when cost(request.input_tokens, 0.000005 usd) > 1 usd deny "x" }
rule pref { when exists(request.provider.max_price.prompt) and request.provider.max_price.prompt > 0.00001 usd deny "x" }
rule ok { require endpoint.price_input <= 5 usd and endpoint.price_output > 0 usd and endpoint.price_request <= 0.0001 usd }
rule ok2 { route max_price request 0.0005 usd, max_price prompt 0.01 usd }
)");
  EXPECT_TRUE(c.ok) << c.Render();  // warnings
  const std::string r = c.Render();
  EXPECT_TRUE(Has(r, "test.tg:2:82: warning[tg_price_per_token]: `endpoint.price_input` is usd per million tokens, "
                     "and `0.000005 usd` per million is below any model's price: it reads as a price per token"))
      << r;
  EXPECT_TRUE(Has(r, "help: write `5.00 usd` (per million tokens) for 0.000005 usd per token")) << r;
  EXPECT_TRUE(Has(r, "test.tg:2:99: warning[tg_price_per_token]: `endpoint.price_output`")) << r;
  EXPECT_TRUE(Has(r, "test.tg:3:35: warning[tg_price_per_token]: `max_price prompt` is usd per million tokens")) << r;
  EXPECT_TRUE(Has(r, "test.tg:3:70: warning[tg_price_per_token]: `max_price completion`")) << r;
  EXPECT_TRUE(Has(r, "test.tg:4:44: warning[tg_price_per_token]: the price of `cost(tokens, price)`")) << r;
  EXPECT_TRUE(Has(r, "test.tg:5:100: warning[tg_price_per_token]: `request.provider.max_price.prompt`")) << r;
  EXPECT_EQ(Count(r, "tg_price_per_token"), 6u) << r;
}

// `endpoint.latency_p50` is seconds: compared with a duration literal it was
// a type error whose help listed what `<=` orders, not the number to write.
TEST(Ranges, LatencyInSecondsAgainstADurationSaysTheNumber) {
  auto c = CheckSource(R"(policy "p"
rule slow { require endpoint.latency_p50 <= 500ms }
rule slow2 { require 2s > endpoint.latency_p50 }
)");
  EXPECT_FALSE(c.ok);
  const std::string r = c.Render();
  EXPECT_TRUE(Has(r, "test.tg:2:21: error[tg_type_error]: `<=` cannot order `decimal` and `duration`")) << r;
  EXPECT_TRUE(Has(r, "help: `endpoint.latency_p50` is a number of seconds, not a duration: write `0.5` for 500ms")) << r;
  EXPECT_TRUE(Has(r, "help: `endpoint.latency_p50` is a number of seconds, not a duration: write `2` for 2s")) << r;
}

// A division by a number whose range holds 0 (a ZDR endpoint's
// provider.retention_days, a free endpoint's price, max_tokens 0) errors for
// it, and an on_error deny rule fails closed: `require 365 /
// provider.retention_days > 12` (retention under a month) eliminated every
// zero-retention endpoint, the ones it meant most, and checked clean.
TEST(Ranges, DivisionByANumberThatMayBeZeroWarns) {
  auto c = CheckSource(R"(policy "p"
rule short_retention { require 365 / provider.retention_days > 12 }
rule cheap { when 1000 % (request.max_tokens ?? 0) > 1 deny "x" }
rule trial mode shadow when 1000 / (request.max_tokens ?? 0) > 1 { deny "y" }
)");
  const std::string r = c.Render();
  EXPECT_TRUE(c.ok) << r;
  EXPECT_TRUE(Has(r, "test.tg:2:38: warning[tg_division_by_zero]: `provider.retention_days` may be 0 "
                     "(it is 0 or more): the division fails for it with "
                     "eval_arithmetic_error, and a require of rule `short_retention` fails closed, "
                     "so it rejects such endpoints")) << r;
  EXPECT_TRUE(Has(r, "help: test it first -- `provider.retention_days > 0 and 365 / "
                     "provider.retention_days > 12`, or `provider.retention_days == 0 or ...` -- "
                     "or compare without dividing")) << r;
  EXPECT_TRUE(Has(r, "test.tg:3:")) << r;
  EXPECT_TRUE(Has(r, "and rule `cheap` fails closed, so it denies such requests with rule_error")) << r;
  // A mode condition that fails denies with rule_error too.
  EXPECT_TRUE(Has(r, "test.tg:4:")) << r;
  EXPECT_TRUE(Has(r, "and rule `trial` fails closed, so it denies such requests with rule_error")) << r;
}

TEST(Ranges, GuardedOrSkippedOrNonZeroDivisionsDoNotWarn) {
  auto c = CheckSource(R"(policy "p"
rule a { require provider.retention_days > 0 and 365 / provider.retention_days > 12 }
rule b { require provider.retention_days == 0 or 365 / provider.retention_days > 12 }
rule c on_error skip { require 365 / provider.retention_days > 12 }
rule d { when 100 / request.n > 1 deny "x" }
rule e { when 100 / 4 > request.n deny "x" }
rule f { require endpoint.price_input >= 0.01 usd and not (1 usd / endpoint.price_input > 50) }
)");
  const std::string r = c.Render();
  EXPECT_TRUE(c.ok) << r;
  EXPECT_FALSE(Has(r, "tg_division_by_zero")) << r;
}

// A budget alert written with a percentage: `remaining / limit` is the share
// left, 0 to 1, and `spent / limit` the share used, 1 at the limit. Before,
// "80 % of the daily budget spent" never fired, "under 20 % left" fired on
// every request, and a test `expect warns` passed on the second rule.
TEST(Ranges, ACounterOverItsLimitIsAShareNotAPercentage) {
  auto c = CheckSource(R"(policy "p"
budget ws_daily { key principal.workspace per day limit 5 usd }
limit rpm { key principal.workspace per minute max 60 requests }
rule eighty_percent { when budget.ws_daily.spent / budget.ws_daily.limit >= 80 warn "80% spent" }
rule low mode advisory { when budget.ws_daily.remaining / budget.ws_daily.limit < 20 warn "under 20% left" }
rule busy { when limit.rpm.used / limit.rpm.max >= 90 route sort price }
)");
  EXPECT_TRUE(c.ok) << c.Render();  // warnings
  EXPECT_EQ(c.Codes(), (V{"tg_unreachable_comparison", "tg_unreachable_comparison",
                          "tg_unreachable_comparison"})) << c.Render();
  const std::string r = c.Render();
  EXPECT_TRUE(Has(r, "test.tg:4:28: warning[tg_unreachable_comparison]: `budget.ws_daily.spent / "
                     "budget.ws_daily.limit >= 80` compares the share of the limit used (1 at the "
                     "limit) with 80: 80 times the limit, which admission does not let it reach")) << r;
  EXPECT_TRUE(Has(r, "help: `budget.ws_daily.spent / budget.ws_daily.limit` is a decimal, 1 at the "
                     "limit, not a percentage: write `0.8` for 80%")) << r;
  EXPECT_TRUE(Has(r, "test.tg:5:31: warning[tg_unreachable_comparison]: `budget.ws_daily.remaining / "
                     "budget.ws_daily.limit < 20` is always true (`budget.ws_daily.remaining / "
                     "budget.ws_daily.limit` is from 0 to 1)")) << r;
  EXPECT_TRUE(Has(r, "help: the share left, `budget.ws_daily.remaining / budget.ws_daily.limit`, is a "
                     "decimal from 0 to 1, not a percentage: write `0.2` for 20%")) << r;
  EXPECT_TRUE(Has(r, "test.tg:6:18: warning[tg_unreachable_comparison]: `limit.rpm.used / "
                     "limit.rpm.max >= 90`")) << r;

  // The share left never exceeds 1: a condition that needs it to is an error.
  auto e = CheckSource(R"(policy "p"
limit rpm { key principal.workspace per minute max 60 requests }
rule r { when limit.rpm.remaining / limit.rpm.max > 80 warn "x" }
)");
  EXPECT_FALSE(e.ok);
  EXPECT_TRUE(Has(e.Render(), "error[tg_unreachable_comparison]: rule `r` can never fire: "
                              "`limit.rpm.remaining / limit.rpm.max > 80` is always false")) << e.Render();
}

TEST(Ranges, SharesWrittenAsFractionsOrPercentagesOfAHundredAreQuiet) {
  auto c = CheckSource(R"(policy "p"
budget ws_daily { key principal.workspace per day limit 5 usd }
limit rpm { key principal.workspace per minute max 60 requests }
rule a { when budget.ws_daily.spent / budget.ws_daily.limit >= 0.8 warn "a" }
rule b { when budget.ws_daily.remaining / budget.ws_daily.limit < 0.2 warn "b" }
rule c { when limit.rpm.used / limit.rpm.max * 100 >= 90 warn "c" }
rule d { when budget.ws_daily.spent / budget.ws_daily.limit > 1 warn "d: the limit was lowered" }
rule e { when budget.ws_daily.spent / budget.ws_daily.limit > 1.5 warn "e" }
rule f { when budget.ws_daily.remaining / budget.ws_daily.spent < 20 warn "f" }
)");
  EXPECT_TRUE(c.ok) << c.Render();
  EXPECT_EQ(Count(c, "tg_unreachable_comparison"), 0u) << c.Render();
}

}  // namespace
}  // namespace tollgate::checktest
