// Constant folding (engine/check/fold.cc) and the VM compute arithmetic with
// the one implementation in engine/core/arith.h: a folded constant is
// exactly what the VM computes at run time from request fields, including
// which operations overflow or divide by zero.
#include <gtest/gtest.h>

#include "tests/vm/vm_helpers.h"

namespace tollgate::vmtest {
namespace {

struct Operand {
  const char* literal;  // policy text
  Kind kind;
  int64_t raw;          // Value::i
};

// Request fields per kind (two each, for the left and right operand).
const char* FieldFor(Kind k, int side) {
  switch (k) {
    case Kind::kInt: return side == 0 ? "request.max_tokens" : "request.input_tokens";
    case Kind::kDecimal: return side == 0 ? "request.temperature" : "request.provider.preferred_max_latency";
    default: return side == 0 ? "request.provider.max_price.prompt" : "request.provider.max_price.completion";
  }
}

// The outcome of `a op b`: canonical JSON of the value, or the error kind.
std::string Folded(const Operand& a, const char* op, const Operand& b) {
  std::string body = std::string("rule r { tag v = (") + a.literal + ") " + op + " (" + b.literal + ") }\n";
  CompileOptions o;
  Compiled c = CompileSource("test.tg", "policy \"t\"\n" + body, o);
  if (!c.policy) {
    std::string r = c.diagnostics.Render();
    if (r.find("divides by zero") != std::string::npos) return "zero";
    if (r.find("overflows") != std::string::npos) return "overflow";
    return "compile error: " + r;
  }
  auto d = Eval(*c.policy, *Request().Take());
  if (!d->errors.empty()) return "runtime error on a constant: " + d->errors[0].message;
  if (d->tags.size() != 1) return "no tag";
  return ToJson(d->tags[0].value);
}

std::string AtRunTime(const Operand& a, const char* op, const Operand& b) {
  auto p = Compile(std::string("rule r { tag v = ") + FieldFor(a.kind, 0) + " " + op + " " +
                   FieldFor(b.kind, 1) + " }\n");
  if (!p) return "compile error";
  auto req = Request().Raw(FieldFor(a.kind, 0), Value::Scalar(a.kind, a.raw))
                 .Raw(FieldFor(b.kind, 1), Value::Scalar(b.kind, b.raw))
                 .Take();
  auto d = Eval(*p, *req);
  if (!d->errors.empty()) {
    std::string m = d->errors[0].message;
    const std::string dropped = "tag `v` dropped: ";  // a tag's error drops the tag only
    if (m.rfind(dropped, 0) == 0) m = m.substr(dropped.size());
    if (m == "division by zero") return "zero";
    if (m == "arithmetic overflow") return "overflow";
    return "error: " + m;
  }
  if (d->tags.size() != 1) return "no tag";
  return ToJson(d->tags[0].value);
}

const int64_t kMax = INT64_MAX;

TEST(FoldAgreement, TheAuditCase) {
  // 2^62 / (2^63 - 1) is a little over 0.5: exactly 0.5 at 6 digits. The
  // old folder scaled the int to micros in int64 first and overflowed.
  Operand a{"4611686018427387904", Kind::kInt, 4611686018427387904};
  Operand b{"9223372036854775807", Kind::kInt, kMax};
  EXPECT_EQ(Folded(a, "/", b), "\"0.5\"");
  EXPECT_EQ(AtRunTime(a, "/", b), "\"0.5\"");
  auto p = Compile("rule a { when 4611686018427387904 / 9223372036854775807 == 0.5 deny \"x\" }\n");
  ASSERT_TRUE(p);
  EXPECT_EQ(Eval(*p, *Request().Take())->outcome, vm::Outcome::kDeny);
}

TEST(FoldAgreement, EveryOperatorOnEdgeValues) {
  const std::vector<Operand> nums = {
      {"0", Kind::kInt, 0},
      {"7", Kind::kInt, 7},
      {"-3", Kind::kInt, -3},
      {"9223372036854775807", Kind::kInt, kMax},
      {"4611686018427387904", Kind::kInt, 4611686018427387904},
      {"9223372036854", Kind::kInt, 9223372036854},
      {"0.0", Kind::kDecimal, 0},
      {"2.5", Kind::kDecimal, 2500000},
      {"-0.000001", Kind::kDecimal, -1},
      {"0.000003", Kind::kDecimal, 3},
      {"9223372036854.775807", Kind::kDecimal, kMax},
  };
  const std::vector<Operand> money = {
      {"0 usd", Kind::kMoney, 0},
      {"1.25 usd", Kind::kMoney, 1250000},
      {"9223372036854.775807 usd", Kind::kMoney, kMax},
  };
  int compared = 0;
  auto check = [&](const Operand& a, const char* op, const Operand& b) {
    std::string f = Folded(a, op, b), r = AtRunTime(a, op, b);
    EXPECT_EQ(f, r) << a.literal << " " << op << " " << b.literal;
    ++compared;
  };
  for (const Operand& a : nums) {
    for (const Operand& b : nums) {
      for (const char* op : {"+", "-", "*", "/"}) check(a, op, b);
      if (a.kind == Kind::kInt && b.kind == Kind::kInt) check(a, "%", b);
    }
  }
  for (const Operand& a : money) {
    for (const Operand& b : money) {
      for (const char* op : {"+", "-", "/"}) check(a, op, b);
    }
    for (const Operand& n : nums) {
      check(a, "*", n);
      check(n, "*", a);
      check(a, "/", n);
    }
  }
  EXPECT_GT(compared, 500);
}

}  // namespace
}  // namespace tollgate::vmtest
