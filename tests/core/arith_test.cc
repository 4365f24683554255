// engine/core/arith.h: the checked Value arithmetic shared by the VM and
// constant folding; and the typed ToJson used by traces.
#include "engine/core/arith.h"

#include <gtest/gtest.h>

#include "engine/core/money.h"

namespace tollgate {
namespace {

Value Calc(ArithOp op, Value a, Value b, ArithStatus want = ArithStatus::kOk) {
  Arena arena;
  Value out;
  EXPECT_EQ(Arith(op, a, b, &arena, &out), want);
  return out;
}

TEST(Arith, IntermediatesAreExactOnlyTheResultIsRangeChecked) {
  // 2^62 / (2^63 - 1): scaling 2^62 to micros does not fit in int64, the
  // result (0.5 at 6 digits) does.
  Value r = Calc(ArithOp::kDiv, Value::Int(int64_t{1} << 62), Value::Int(INT64_MAX));
  EXPECT_EQ(r.kind, Kind::kDecimal);
  EXPECT_EQ(r.i, 500000);
  Calc(ArithOp::kAdd, Value::Int(INT64_MAX), Value::Int(1), ArithStatus::kOverflow);
  Calc(ArithOp::kMul, Value::Int(INT64_MAX), Value::Decimal(kMicros), ArithStatus::kOverflow);
  EXPECT_EQ(Calc(ArithOp::kMod, Value::Int(INT64_MIN), Value::Int(-1)).i, 0);
}

TEST(Arith, KindsAndRounding) {
  EXPECT_EQ(Calc(ArithOp::kDiv, Value::Int(1), Value::Int(3)).i, 333333);
  EXPECT_EQ(Calc(ArithOp::kMul, Value::Decimal(500000), Value::Decimal(1)).i, 0);        // 0.0000005 -> 0 (even)
  EXPECT_EQ(Calc(ArithOp::kMul, Value::Decimal(1500000), Value::Decimal(1)).i, 2);       // 0.0000015 -> 0.000002
  EXPECT_EQ(Calc(ArithOp::kMul, Value::Int(3), Value::Decimal(2500000)).kind, Kind::kDecimal);
  EXPECT_EQ(Calc(ArithOp::kDiv, Value::Money(3000000), Value::Int(2)).kind, Kind::kMoney);
  EXPECT_EQ(Calc(ArithOp::kDiv, Value::Money(3000000), Value::Money(2000000)).i, 1500000);
  EXPECT_EQ(Calc(ArithOp::kSub, Value::Time(5000), Value::Time(2000)).kind, Kind::kDuration);
  EXPECT_EQ(Calc(ArithOp::kAdd, Value::Duration(1), Value::Time(2)).kind, Kind::kTime);
  Calc(ArithOp::kDiv, Value::Int(1), Value::Decimal(0), ArithStatus::kDivByZero);
  Calc(ArithOp::kMod, Value::Int(1), Value::Int(0), ArithStatus::kDivByZero);
  Calc(ArithOp::kMod, Value::Decimal(1), Value::Int(1), ArithStatus::kType);
  Calc(ArithOp::kAdd, Value::Money(1), Value::Int(1), ArithStatus::kType);
  Value neg;
  EXPECT_EQ(Negate(Value::Int(INT64_MIN), &neg), ArithStatus::kOverflow);
  EXPECT_EQ(Negate(Value::Money(5), &neg), ArithStatus::kOk);
  EXPECT_EQ(neg.i, -5);
}

TEST(TypedJson, RecordsGetFieldNamesAndOmitAbsentOptionals) {
  Type msg = Type::Record({{"role", Type(Kind::kString), false},
                           {"content", Type(Kind::kString), false},
                           {"name", Type(Kind::kString), true}});
  Arena a;
  Value list = a.MakeList({a.MakeRecord({a.String("system"), a.String("hi"), Value()}),
                           a.MakeRecord({a.String("user"), a.String("yo"), a.String("bob")})});
  EXPECT_EQ(ToJson(list, Type::List(msg)),
            R"([{"role":"system","content":"hi"},{"role":"user","content":"yo","name":"bob"}])");
  EXPECT_EQ(ToJson(list), R"([["system","hi",null],["user","yo","bob"]])");
  // A kind that does not match the type falls back to the untyped rendering.
  EXPECT_EQ(ToJson(a.String("x"), Type::List(msg)), R"("x")");
}

}  // namespace
}  // namespace tollgate
