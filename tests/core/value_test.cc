#include "engine/core/value.h"

#include <gtest/gtest.h>

#include <limits>

namespace tollgate {
namespace {

TEST(Arena, StringsStayStableAcrossGrowth) {
  Arena a;
  Value first = a.String("hi");
  for (int i = 0; i < 10000; ++i) a.String(std::to_string(i));
  EXPECT_EQ(first.sv(), "hi");
}

TEST(Arena, LargeStringSetsAreHashed) {
  Arena a;
  std::vector<Value> items;
  for (int i = 0; i < 20; ++i) items.push_back(a.String("c" + std::to_string(i)));
  Value s = a.MakeSet(items);
  EXPECT_EQ(s.set->strings.size(), 20u);
  EXPECT_TRUE(SetContains(s, a.String("c13")));
  EXPECT_FALSE(SetContains(s, a.String("c20")));
}

TEST(Arena, MakeSetSortsDeduplicatesAndHashes) {
  Arena a;
  Value s = a.MakeSet({a.String("FR"), a.String("DE"), a.String("FR"), a.String("AT")});
  ASSERT_EQ(s.kind, Kind::kSet);
  EXPECT_EQ(s.size, 3u);
  EXPECT_EQ(ToJson(s), R"(["AT","DE","FR"])");
  EXPECT_TRUE(s.set->strings.empty());  // small: bisection, no hash table
  EXPECT_TRUE(SetContains(s, a.String("DE")));
  Arena other;
  EXPECT_TRUE(SetContains(s, other.String("FR")));  // by content, not pointer
  EXPECT_FALSE(SetContains(s, a.String("US")));
  EXPECT_FALSE(SetContains(s, Value::Int(1)));
  EXPECT_FALSE(SetContains(Value::Int(1), a.String("DE")));
}

TEST(Arena, IntSetsUseBinarySearchAndCompareNumerically) {
  Arena a;
  Value s = a.MakeSet({Value::Int(5), Value::Int(-2), Value::Int(5), Value::Int(10)});
  EXPECT_EQ(ToJson(s), "[-2,5,10]");
  EXPECT_TRUE(SetContains(s, Value::Int(10)));
  EXPECT_TRUE(SetContains(s, Value::Decimal(5000000)));
  EXPECT_FALSE(SetContains(s, Value::Int(6)));
  Value empty = a.MakeSet({});
  EXPECT_FALSE(SetContains(empty, a.String("x")));
  EXPECT_EQ(ToJson(empty), "[]");
}

TEST(Arena, MapKeysSortedAndLaterDuplicatesWin) {
  Arena a;
  std::string key = "b";
  Value m = a.MakeMap({{key, Value::Int(1)}, {"a", Value::Int(2)}, {"b", Value::Int(3)}});
  key = "zzz";  // the map copied its keys
  EXPECT_EQ(m.size, 2u);
  EXPECT_EQ(ToJson(m), R"({"a":2,"b":3})");
  ASSERT_NE(MapFind(m, "b"), nullptr);
  EXPECT_EQ(MapFind(m, "b")->i, 3);
  EXPECT_EQ(MapFind(m, "c"), nullptr);
  EXPECT_EQ(MapFind(Value::Int(1), "a"), nullptr);
}

TEST(Arena, CloneIsDeep) {
  Value copy;
  Arena dst;
  {
    Arena src;
    Value inner = src.MakeList({src.String("x"), Value::Money(1500000)});
    Value rec = src.MakeRecord({src.String("user"), Value::Null()});
    Value m = src.MakeMap({{"k", inner}, {"r", rec}, {"s", src.MakeSet({src.String("q")})}});
    copy = dst.Clone(m);
  }  // src is gone; copy must not point into it
  EXPECT_EQ(ToJson(copy), R"({"k":["x","1.5"],"r":["user",null],"s":["q"]})");
  EXPECT_TRUE(SetContains(*MapFind(copy, "s"), dst.String("q")));
}

TEST(Values, EqualityAcrossIntAndDecimal) {
  Arena a;
  EXPECT_TRUE(Equal(Value::Int(2), Value::Decimal(2000000)));
  EXPECT_FALSE(Equal(Value::Int(2), Value::Decimal(2000001)));
  EXPECT_FALSE(Equal(Value::Money(2000000), Value::Decimal(2000000)));
  EXPECT_FALSE(Equal(Value::Int(2), Value::Money(2000000)));
  EXPECT_TRUE(Equal(Value::Null(), Value::Null()));
  EXPECT_FALSE(Equal(Value::Null(), Value::Bool(false)));
  EXPECT_TRUE(Equal(a.String("x"), a.String("x")));
  EXPECT_FALSE(Equal(a.String("x"), a.String("xy")));
  EXPECT_TRUE(Equal(a.MakeList({Value::Int(1)}), a.MakeList({Value::Decimal(1000000)})));
  EXPECT_FALSE(Equal(a.MakeList({Value::Int(1)}), a.MakeList({})));
  EXPECT_TRUE(Equal(a.MakeMap({{"a", Value::Int(1)}}), a.MakeMap({{"a", Value::Int(1)}})));
  EXPECT_FALSE(Equal(a.MakeMap({{"a", Value::Int(1)}}), a.MakeMap({{"b", Value::Int(1)}})));
}

TEST(Values, HashAgreesWithEqual) {
  Arena a;
  EXPECT_EQ(Hash(Value::Int(2)), Hash(Value::Decimal(2000000)));
  EXPECT_EQ(Hash(Value::Int(std::numeric_limits<int64_t>::max())),
            Hash(Value::Int(std::numeric_limits<int64_t>::max())));
  EXPECT_EQ(Hash(a.String("abc")), Hash(a.String("abc")));
  EXPECT_EQ(Hash(a.MakeSet({a.String("b"), a.String("a")})),
            Hash(a.MakeSet({a.String("a"), a.String("b")})));
  EXPECT_NE(Hash(a.String("abc")), Hash(a.String("abd")));
}

TEST(Values, CompareOrdersWithinKindAndByKindOtherwise) {
  Arena a;
  EXPECT_LT(Compare(Value::Int(1), Value::Decimal(1500000)), 0);
  EXPECT_GT(Compare(Value::Decimal(-1), Value::Int(-1)), 0);
  // Huge ints compare correctly against decimals (no overflow in int * 1e6).
  EXPECT_GT(Compare(Value::Int(std::numeric_limits<int64_t>::max()), Value::Decimal(5)), 0);
  EXPECT_LT(Compare(Value::Int(std::numeric_limits<int64_t>::min()), Value::Decimal(5)), 0);
  EXPECT_LT(Compare(a.String("a"), a.String("b")), 0);
  EXPECT_LT(Compare(a.String("a"), a.String("ab")), 0);
  EXPECT_EQ(Compare(Value::Bool(true), Value::Bool(true)), 0);
  EXPECT_LT(Compare(Value::Bool(false), Value::Bool(true)), 0);
  EXPECT_LT(Compare(Value::Null(), Value::Bool(false)), 0);  // by kind
  EXPECT_LT(Compare(Value::Money(5), Value::Money(6)), 0);
  EXPECT_LT(Compare(a.MakeList({Value::Int(1)}), a.MakeList({Value::Int(1), Value::Int(0)})), 0);
}

TEST(ToJson, ScalarsAndEscaping) {
  Arena a;
  EXPECT_EQ(ToJson(Value::Null()), "null");
  EXPECT_EQ(ToJson(Value::Bool(true)), "true");
  EXPECT_EQ(ToJson(Value::Int(-42)), "-42");
  EXPECT_EQ(ToJson(Value::Decimal(2500000)), R"("2.5")");
  EXPECT_EQ(ToJson(Value::Money(100)), R"("0.0001")");
  EXPECT_EQ(ToJson(Value::Duration(30000)), R"("30000ms")");
  EXPECT_EQ(ToJson(Value::Time(1795600800000)), R"("2026-11-25T10:00:00Z")");
  EXPECT_EQ(ToJson(a.String("a\"b\\c\n\t\x01\x1f/é")), "\"a\\\"b\\\\c\\n\\t\\u0001\\u001f/é\"");
}

TEST(ToDisplay, HumanForms) {
  Arena a;
  EXPECT_EQ(ToDisplay(Value::Money(2500000)), "2.50 usd");
  EXPECT_EQ(ToDisplay(Value::Money(1)), "0.000001 usd");
  EXPECT_EQ(ToDisplay(a.String("gpt-4o")), "\"gpt-4o\"");
  EXPECT_EQ(ToDisplay(Value::Duration(30LL * 86400000)), "30d");
  EXPECT_EQ(ToDisplay(Value::Duration(1500)), "1500ms");
  EXPECT_EQ(ToDisplay(a.MakeSet({a.String("b"), a.String("a")})), "{\"a\", \"b\"}");
  EXPECT_EQ(ToDisplay(a.MakeList({Value::Int(1), Value::Decimal(500000)})), "[1, 0.5]");
  EXPECT_EQ(ToDisplay(a.MakeMap({{"k", Value::Bool(false)}})), "{\"k\": false}");
}

TEST(Rfc3339, RoundTrips) {
  struct Case { const char* text; int64_t ms; };
  for (const Case& c : {Case{"1970-01-01T00:00:00Z", 0},
                        Case{"2026-11-25T10:00:00Z", 1795600800000},
                        Case{"2026-11-25T10:00:00.250Z", 1795600800250},
                        Case{"2000-02-29T23:59:59Z", 951868799000},
                        Case{"1969-12-31T23:59:59.999Z", -1},
                        Case{"1900-01-01T00:00:00Z", -2208988800000}}) {
    int64_t ms = 0;
    ASSERT_TRUE(ParseRfc3339(c.text, &ms)) << c.text;
    EXPECT_EQ(ms, c.ms) << c.text;
    EXPECT_EQ(FormatRfc3339(c.ms), c.text);
  }
}

TEST(Rfc3339, OffsetsFractionsAndCase) {
  int64_t ms = 0;
  ASSERT_TRUE(ParseRfc3339("2026-11-25T12:00:00+02:00", &ms));
  EXPECT_EQ(FormatRfc3339(ms), "2026-11-25T10:00:00Z");
  ASSERT_TRUE(ParseRfc3339("2026-11-25T05:30:00-04:30", &ms));
  EXPECT_EQ(FormatRfc3339(ms), "2026-11-25T10:00:00Z");
  ASSERT_TRUE(ParseRfc3339("2026-11-25t10:00:00.1234567z", &ms));
  EXPECT_EQ(FormatRfc3339(ms), "2026-11-25T10:00:00.123Z");
  ASSERT_TRUE(ParseRfc3339("2026-11-25T10:00:00.5Z", &ms));
  EXPECT_EQ(FormatRfc3339(ms), "2026-11-25T10:00:00.500Z");
}

TEST(Rfc3339, RejectsBadInput) {
  int64_t ms = 7;
  for (const char* bad : {"", "2026-11-25", "2026-11-25T10:00:00", "2026-11-25T10:00Z",
                          "2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z", "2026-02-29T00:00:00Z",
                          "2026-04-31T00:00:00Z", "2026-11-25T24:00:00Z", "2026-11-25T10:60:00Z",
                          "2026-11-25T10:00:60Z", "2026-11-25T10:00:00.Z",
                          "2026-11-25T10:00:00+0200", "2026-11-25T10:00:00+24:00",
                          "2026-11-25T10:00:00Zjunk", "26-11-25T10:00:00Z", "2026/11/25T10:00:00Z",
                          "2026-11-25X10:00:00Z", "２026-11-25T10:00:00Z"}) {
    EXPECT_FALSE(ParseRfc3339(bad, &ms)) << bad;
  }
  EXPECT_EQ(ms, 7);  // untouched on failure
}

}  // namespace
}  // namespace tollgate
