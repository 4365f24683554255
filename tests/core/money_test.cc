#include "engine/core/money.h"

#include <gtest/gtest.h>

#include <limits>

namespace tollgate {
namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

TEST(ParseMicros, ValidInputs) {
  EXPECT_EQ(ParseMicros("2.50"), 2500000);
  EXPECT_EQ(ParseMicros("0"), 0);
  EXPECT_EQ(ParseMicros("-1.000001"), -1000001);
  EXPECT_EQ(ParseMicros("0.000001"), 1);
  EXPECT_EQ(ParseMicros("9223372036854.775807"), kMax);
}

TEST(ParseMicros, InvalidInputs) {
  EXPECT_EQ(ParseMicros(""), std::nullopt);
  EXPECT_EQ(ParseMicros("-"), std::nullopt);
  EXPECT_EQ(ParseMicros("1."), std::nullopt);
  EXPECT_EQ(ParseMicros(".5"), std::nullopt);
  EXPECT_EQ(ParseMicros("1.0000001"), std::nullopt);  // 7 fractional digits
  EXPECT_EQ(ParseMicros("1e3"), std::nullopt);
  EXPECT_EQ(ParseMicros("1 "), std::nullopt);
  EXPECT_EQ(ParseMicros("9223372036854.775808"), std::nullopt);
  EXPECT_EQ(ParseMicros("99999999999999999999999"), std::nullopt);
}

TEST(FormatMicros, TrimsAndKeepsMinimumDigits) {
  EXPECT_EQ(FormatMicros(2500000), "2.5");
  EXPECT_EQ(FormatMicros(0), "0");
  EXPECT_EQ(FormatMicros(2500000, 2), "2.50");
  EXPECT_EQ(FormatMicros(3000000, 2), "3.00");
  EXPECT_EQ(FormatMicros(1, 2), "0.000001");
  EXPECT_EQ(FormatMicros(-1500000), "-1.5");
  EXPECT_EQ(FormatMicros(-1), "-0.000001");
  EXPECT_EQ(FormatMicros(kMin), "-9223372036854.775808");
  EXPECT_EQ(FormatMicros(kMax), "9223372036854.775807");
}

TEST(Checked, OverflowIsNullopt) {
  EXPECT_EQ(AddChecked(kMax, 1), std::nullopt);
  EXPECT_EQ(SubChecked(kMin, 1), std::nullopt);
  EXPECT_EQ(MulChecked(kMax / 2 + 1, 2), std::nullopt);
  EXPECT_EQ(AddChecked(2, 3), 5);
  EXPECT_EQ(SubChecked(2, 3), -1);
  EXPECT_EQ(MulChecked(-4, 3), -12);
}

TEST(MulMicros, RoundsHalfToEven) {
  EXPECT_EQ(MulMicros(2500000, 2000000), 5000000);  // 2.5 * 2
  // 0.000001 * 0.5 = 0.0000005 -> 0 (even); 0.000003 * 0.5 = 0.0000015 -> 0.000002
  EXPECT_EQ(MulMicros(1, 500000), 0);
  EXPECT_EQ(MulMicros(3, 500000), 2);
  EXPECT_EQ(MulMicros(-3, 500000), -2);
  EXPECT_EQ(MulMicros(-1, 500000), 0);
  // Large intermediate products do not overflow before the division.
  EXPECT_EQ(MulMicros(kMax, 1000000), kMax);
  EXPECT_EQ(MulMicros(kMax, 2000000), std::nullopt);
}

TEST(DivMicros, RoundsHalfToEvenAndChecksZero) {
  EXPECT_EQ(DivMicros(1000000, 3000000), 333333);
  EXPECT_EQ(DivMicros(2000000, 3000000), 666667);
  EXPECT_EQ(DivMicros(1, 2000000), 0);   // 0.0000005 -> 0
  EXPECT_EQ(DivMicros(3, 2000000), 2);   // 0.0000015 -> 0.000002
  EXPECT_EQ(DivMicros(-3, 2000000), -2);
  EXPECT_EQ(DivMicros(3, -2000000), -2);
  EXPECT_EQ(DivMicros(1, 0), std::nullopt);
  EXPECT_EQ(DivMicros(kMax, 1), std::nullopt);
}

TEST(DivRound, IntegerDivisionHalfToEven) {
  EXPECT_EQ(DivRound(5, 2), 2);
  EXPECT_EQ(DivRound(7, 2), 4);
  EXPECT_EQ(DivRound(-5, 2), -2);
  EXPECT_EQ(DivRound(-7, 2), -4);
  EXPECT_EQ(DivRound(10, 3), 3);
  EXPECT_EQ(DivRound(11, 3), 4);
  EXPECT_EQ(DivRound(1, 0), std::nullopt);
  EXPECT_EQ(DivRound(kMin, -1), std::nullopt);
}

}  // namespace
}  // namespace tollgate
