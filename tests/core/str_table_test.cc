// StrTable (engine/core/str_table.h): every key found with its value, every
// other string absent, whatever the lengths (the hash reads words, then the
// tail); a precomputed StringHash gives the same answers; SameBytes agrees
// with memcmp at every length and difference position.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "engine/core/str_table.h"
#include "engine/core/value.h"

namespace tollgate {
namespace {

TEST(StrTable, FindsEveryKeyAndNothingElse) {
  std::mt19937_64 rng(7);
  for (size_t n : {0u, 1u, 2u, 3u, 9u, 17u, 100u, 1000u}) {
    std::set<std::string> keys;
    while (keys.size() < n) {
      std::string k(rng() % 40, 'a');
      for (char& ch : k) ch = static_cast<char>('a' + rng() % 3);  // near-identical keys
      keys.insert(k);
    }
    std::vector<std::string> owned(keys.begin(), keys.end());
    std::vector<std::pair<std::string_view, int>> items;
    for (size_t i = 0; i < owned.size(); ++i) items.emplace_back(owned[i], static_cast<int>(i));
    StrTable<int> t;
    t.Build(items);
    EXPECT_EQ(t.size(), n);
    for (size_t i = 0; i < owned.size(); ++i) {
      const int* v = t.Find(owned[i]);
      ASSERT_NE(v, nullptr) << owned[i];
      EXPECT_EQ(*v, static_cast<int>(i));
      std::string copy = owned[i];  // another buffer, same bytes
      EXPECT_EQ(t.Find(copy, StringHash(copy)), v);
    }
    for (int probe = 0; probe < 2000; ++probe) {
      std::string k(rng() % 40, 'a');
      for (char& ch : k) ch = static_cast<char>('a' + rng() % 3);
      EXPECT_EQ(t.Find(k) != nullptr, keys.count(k) == 1) << k;
    }
  }
}

TEST(StrTable, HashDependsOnEveryByte) {
  for (size_t len = 1; len <= 24; ++len) {
    std::string a(len, 'x');
    for (size_t i = 0; i < len; ++i) {
      std::string b = a;
      b[i] = 'y';
      EXPECT_NE(StringHash(a), StringHash(b)) << len << " " << i;
    }
    EXPECT_NE(StringHash(a), StringHash(a + '\0'));  // lengths differ
  }
}

TEST(SameBytes, AgreesWithMemcmp) {
  for (size_t len = 0; len <= 40; ++len) {
    std::string a(len, 'q');
    EXPECT_TRUE(SameBytes(a.data(), std::string(a).data(), len));
    for (size_t i = 0; i < len; ++i) {
      std::string b = a;
      b[i] = 'r';
      EXPECT_FALSE(SameBytes(a.data(), b.data(), len)) << len << " " << i;
    }
  }
}

TEST(StrTable, SetsAndMapsOfEveryKindLookUp) {
  Arena arena;
  std::vector<Value> items;
  for (int i = 0; i < 30; ++i) items.push_back(arena.String("k" + std::to_string(i)));
  Value big = arena.MakeSet(items);
  Value small = arena.MakeSet({arena.String("a"), arena.String("b")});
  Value map = arena.MakeMap({{"x", Value::Int(1)}, {"y", Value::Int(2)}, {"x", Value::Int(3)}});
  for (int i = 0; i < 30; ++i) {
    std::string k = "k" + std::to_string(i);
    EXPECT_TRUE(SetContains(big, Value::StringRef(k)));
    EXPECT_TRUE(SetContainsString(big, k, StringHash(k)));
  }
  EXPECT_FALSE(SetContains(big, Value::StringRef("k30")));
  EXPECT_FALSE(SetContainsString(big, "k30", StringHash("k30")));
  EXPECT_TRUE(SetContainsString(small, "b", StringHash("b")));
  EXPECT_FALSE(SetContainsString(small, "c", StringHash("c")));
  ASSERT_NE(MapFind(map, "x"), nullptr);
  EXPECT_EQ(MapFind(map, "x")->i, 3);  // the later duplicate
  EXPECT_EQ(MapFind(map, "y", StringHash("y"))->i, 2);
  EXPECT_EQ(MapFind(map, "z"), nullptr);
  Value copy = arena.Clone(map);
  EXPECT_EQ(MapFind(copy, "y")->i, 2);
}

}  // namespace
}  // namespace tollgate
