// Pass `operands` (engine/check/operands.cc): a constant negative list
// position is an error (the element is always absent), and money divided by
// a constant of 10^4 or more -- or multiplied by 10^-4 or less -- before it
// is used warns tg_money_precision (the quotient is rounded to whole
// micro-dollars: 0.15 usd / 1000000 is 0), and a default written
// `x ?? 0 + y` -- which is `x ?? (0 + y)` -- warns tg_default_precedence.
#include <gtest/gtest.h>

#include "tests/check/check_helpers.h"

namespace tollgate::checktest {
namespace {

using V = std::vector<std::string>;

std::string Rule(const std::string& body) { return "policy \"p\"\nrule r {\n  " + body + "\n}\n"; }

TEST(Operands, ANegativeListPositionIsAnError) {
  auto c = CheckSource(Rule(
      "when exists(request.messages[-1]) and request.messages[-1].content contains \"secret\"\n"
      "  deny 403 \"the last message mentions a secret\""));
  EXPECT_FALSE(c.ok);
  EXPECT_EQ(c.ErrorCodes(), (V{"tg_invalid_value", "tg_invalid_value"})) << c.Render();
  const std::string r = c.Render();
  EXPECT_NE(r.find("test.tg:3:32: error[tg_invalid_value]: list position -1 is negative, so "
                   "`request.messages[-1]` is always absent"),
            std::string::npos) << r;
  EXPECT_NE(r.find("positions start at 0"), std::string::npos) << r;
  EXPECT_NE(r.find("`any x in request.messages: ...`"), std::string::npos) << r;

  for (const char* when : {"when exists(request.messages[1 - 3]) deny 403 \"x\"",
                           "when exists(request.models[-2]) deny 403 \"x\"",
                           "when (request.models[-1] ?? \"\") == \"a\" deny 403 \"x\""}) {
    auto n = CheckSource(Rule(when));
    EXPECT_EQ(n.ErrorCodes(), V{"tg_invalid_value"}) << when << "\n" << n.Render();
  }
  for (const char* when : {"when exists(request.messages[0]) deny 403 \"x\"",
                           "when exists(request.messages[request.max_tokens ?? 0]) deny 403 \"x\""}) {
    auto ok = CheckSource(Rule(when));
    EXPECT_TRUE(ok.ok) << when << "\n" << ok.Render();
  }
}

TEST(Operands, MoneyDividedBeforeItIsUsedWarns) {
  auto c = CheckSource(Rule("require endpoint.price_input / 1000000 * request.input_tokens <= 0.01 usd"));
  EXPECT_TRUE(c.ok) << c.Render();
  EXPECT_EQ(c.Codes(), V{"tg_money_precision"}) << c.Render();
  const std::string r = c.Render();
  EXPECT_NE(r.find("test.tg:3:11: warning[tg_money_precision]: `endpoint.price_input / 1000000` is "
                   "rounded to whole micro-dollars before it is used: every amount under 0.5 usd "
                   "becomes 0"),
            std::string::npos) << r;
  EXPECT_NE(r.find("`cost(request.input_tokens, endpoint.price_input)`"), std::string::npos) << r;

  for (const char* req : {"require endpoint.price_input * 0.000001 * request.input_tokens <= 0.01 usd",
                          "require 0.0001 * endpoint.price_input < 1 usd",
                          "require endpoint.price_input / 10000 < 1 usd",
                          "require endpoint.price_input / 1000000.0 * 3 < 1 usd"}) {
    auto w = CheckSource(Rule(req));
    EXPECT_EQ(w.Codes(), V{"tg_money_precision"}) << req << "\n" << w.Render();
  }
  // Exact or rounded once at the end: quiet.
  for (const char* req : {"require cost(request.input_tokens, endpoint.price_input) <= 0.01 usd",
                          "require endpoint.price_input * request.input_tokens / 1000000 <= 0.01 usd",
                          "require endpoint.price_input / 1000 < 1 usd",
                          "require endpoint.price_input / 2 < 1 usd",
                          "require endpoint.price_input * 0.001 < 1 usd",
                          "require endpoint.price_output > 0 usd and endpoint.price_input / endpoint.price_output < 2"}) {
    auto q = CheckSource(Rule(req));
    EXPECT_TRUE(q.ok) << req << "\n" << q.Render();
    EXPECT_EQ(q.Codes(), V{}) << req << "\n" << q.Render();
  }
}

// The author's "prompt and output above 100000 tokens": `??` binds looser
// than `+`, so with max_tokens present only max_tokens was compared, and a
// 120000-token prompt asking for 4000 tokens passed. It checked clean.
TEST(Operands, ADefaultStartingWithAConstantThenArithmeticWarns) {
  auto c = CheckSource(Rule("when request.max_tokens ?? 0 + request.input_tokens > 100000\n"
                            "  deny 400 \"request too large\""));
  EXPECT_TRUE(c.ok) << c.Render();
  EXPECT_EQ(c.Codes(), V{"tg_default_precedence"}) << c.Render();
  const std::string r = c.Render();
  EXPECT_TRUE(Has(r, "test.tg:3:30: warning[tg_default_precedence]: `??` binds looser than `+`: this "
                     "is `request.max_tokens ?? (0 + request.input_tokens)`, so `+ request.input_tokens` "
                     "applies only when `request.max_tokens` is absent")) << r;
  EXPECT_TRUE(Has(r, "help: write `(request.max_tokens ?? 0) + request.input_tokens`; if the whole "
                     "default is meant, write it in parentheses: `request.max_tokens ?? (0 + "
                     "request.input_tokens)`")) << r;

  // A const as the constant; `*` and a longer chain: the help keeps the rest.
  auto k = CheckSource("policy \"p\"\nconst base = 1024\nrule r {\n  when request.max_tokens ?? base * "
                       "request.n + 10 > 4096\n  deny 400 \"x\"\n}\n");
  EXPECT_EQ(k.Codes(), V{"tg_default_precedence"}) << k.Render();
  EXPECT_TRUE(Has(k.Render(), "write `(request.max_tokens ?? base) * request.n + 10`")) << k.Render();

  // Parenthesised either way, a constant default, a default not starting
  // with a constant: quiet.
  for (const char* when : {"when request.max_tokens ?? (0 + request.input_tokens) > 100000",
                           "when (request.max_tokens ?? 0) + request.input_tokens > 100000",
                           "when request.max_tokens ?? 4 * 1024 > 100000",
                           "when request.max_tokens ?? request.input_tokens + 5 > 100000",
                           "when request.max_tokens ?? 0 > request.input_tokens + 5"}) {
    auto q = CheckSource(Rule(std::string(when) + "\n  deny 400 \"x\""));
    EXPECT_TRUE(q.ok) << when << "\n" << q.Render();
    EXPECT_EQ(q.Codes(), V{}) << when << "\n" << q.Render();
  }
}

}  // namespace
}  // namespace tollgate::checktest
