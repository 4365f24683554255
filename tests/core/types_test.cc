#include "engine/core/types.h"

#include <gtest/gtest.h>

namespace tollgate {
namespace {

Type Parse(std::string_view s) {
  Type t;
  std::string err;
  EXPECT_TRUE(ParseTypeString(s, &t, &err)) << s << ": " << err;
  return t;
}

std::string ParseError(std::string_view s) {
  Type t;
  std::string err;
  EXPECT_FALSE(ParseTypeString(s, &t, &err)) << s;
  return err;
}

TEST(Types, KindNames) {
  EXPECT_STREQ(KindName(Kind::kMoney), "money");
  EXPECT_STREQ(KindName(Kind::kDuration), "duration");
  EXPECT_STREQ(KindName(Kind::kAny), "any");
}

TEST(Types, ToString) {
  EXPECT_EQ(Type::Set(Type(Kind::kString)).ToString(), "set<string>");
  EXPECT_EQ(Type::Map(Type(Kind::kInt)).ToString(), "map<int>");
  Type msg = Type::Record({{"role", Type(Kind::kString), false},
                           {"content", Type(Kind::kString), false},
                           {"name", Type(Kind::kString), true}});
  EXPECT_EQ(Type::List(msg).ToString(), "list<{role: string, content: string, name?: string}>");
  EXPECT_EQ(Type().ToString(), "any");
}

TEST(Types, ParseRoundTrips) {
  for (const char* s : {"bool", "int", "decimal", "money", "string", "duration", "time",
                        "set<string>", "set<int>", "list<money>", "map<list<string>>",
                        "list<{role: string, content: string, name?: string}>",
                        "map<{allowed_models: set<string>, suspended?: bool}>", "{}"}) {
    EXPECT_EQ(Parse(s).ToString(), s);
  }
}

TEST(Types, ParseIsWhitespaceTolerant) {
  EXPECT_EQ(Parse("  map < { a : int , b ? : set< string > , } >  ").ToString(),
            "map<{a: int, b?: set<string>}>");
}

TEST(Types, ParseErrorsAreClear) {
  EXPECT_NE(ParseError("strng").find("unknown type name `strng`"), std::string::npos);
  EXPECT_NE(ParseError("set<string").find("expected `>`"), std::string::npos);
  EXPECT_NE(ParseError("list<>").find("expected a type name"), std::string::npos);
  EXPECT_NE(ParseError("set<bool>").find("set elements"), std::string::npos);
  EXPECT_NE(ParseError("{a: int, a: int}").find("duplicate field `a`"), std::string::npos);
  EXPECT_NE(ParseError("int int").find("unexpected"), std::string::npos);
  EXPECT_NE(ParseError("").find("expected a type name"), std::string::npos);
  EXPECT_NE(ParseError("{a int}").find("expected `:`"), std::string::npos);
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += "list<";
  deep += "int";
  for (int i = 0; i < 100; ++i) deep += ">";
  EXPECT_NE(ParseError(deep).find("nested too deeply"), std::string::npos);
}

TEST(Types, EqualityIsStructural) {
  EXPECT_EQ(Parse("list<{a: int}>"), Parse("list<{a:int}>"));
  EXPECT_NE(Parse("list<{a: int}>"), Parse("list<{a?: int}>"));
  EXPECT_NE(Parse("set<string>"), Parse("list<string>"));
  EXPECT_NE(Parse("{a: int, b: int}"), Parse("{b: int, a: int}"));
}

TEST(Types, Accepts) {
  EXPECT_TRUE(Type(Kind::kDecimal).Accepts(Type(Kind::kInt)));
  EXPECT_FALSE(Type(Kind::kInt).Accepts(Type(Kind::kDecimal)));
  EXPECT_FALSE(Type(Kind::kMoney).Accepts(Type(Kind::kDecimal)));
  EXPECT_TRUE(Type().Accepts(Type(Kind::kMoney)));
  EXPECT_TRUE(Type(Kind::kMoney).Accepts(Type()));
  EXPECT_TRUE(Parse("list<decimal>").Accepts(Parse("list<int>")));
  Type want = Parse("{a: int, b?: string}");
  EXPECT_TRUE(want.Accepts(Parse("{a: int}")));
  EXPECT_TRUE(want.Accepts(Parse("{b: string, a: int}")));
  EXPECT_FALSE(want.Accepts(Parse("{b: string}")));
  EXPECT_FALSE(want.Accepts(Parse("{a: int, c: int}")));
  EXPECT_FALSE(want.Accepts(Parse("{a: string}")));
}

TEST(Types, FieldsAndElems) {
  Type t = Parse("{a: int, b?: string}");
  EXPECT_EQ(t.FieldIndex("b"), 1);
  EXPECT_EQ(t.FieldIndex("c"), -1);
  EXPECT_TRUE(t.fields()[1].optional);
  EXPECT_TRUE(Parse("set<int>").elem().is(Kind::kInt));
  EXPECT_TRUE(Type(Kind::kInt).elem().is(Kind::kAny));
  EXPECT_TRUE(Type(Kind::kInt).fields().empty());
}

}  // namespace
}  // namespace tollgate

TEST(SameName, AgreesWithStringEqualityAtEveryLength) {
  std::string base = "abcdefghijklmnopqrstuvwxyz0123456789";
  for (size_t n = 0; n <= base.size(); ++n) {
    std::string a = base.substr(0, n);
    EXPECT_TRUE(tollgate::SameName(a, std::string(a))) << n;
    for (size_t i = 0; i < n; ++i) {
      std::string b = a;
      b[i] = '_';
      EXPECT_FALSE(tollgate::SameName(a, b)) << n << " " << i;  // differs at every position
    }
    if (n > 0) {
      EXPECT_FALSE(tollgate::SameName(a, a.substr(0, n - 1)));
    }
  }
}
