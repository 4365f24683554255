// The `data` pass: JSON documents checked against their declared shape.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "tests/check/check_helpers.h"

namespace tollgate::checktest {
namespace {

namespace fs = std::filesystem;

class DataPass : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("tg_check_data_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Checks `data d from "d.json": SHAPE` (+ a rule using it) against `json`.
  Checked Load(const std::string& shape, const std::string& json, Limits limits = {}) {
    std::ofstream(dir_ / "d.json", std::ios::binary) << json;
    check::CheckOptions opts;
    opts.base_dir = dir_.string();
    opts.limits = limits;
    return CheckSource("policy \"p\"\ndata d from \"d.json\": " + shape +
                           "\nrule r { when exists(d) deny \"x\" }",
                       opts);
  }
  static std::string Message(const Checked& c) {
    return c.diags.empty() ? "" : c.diags.items()[0].message;
  }

  fs::path dir_;
};

TEST_F(DataPass, ExactDecimalsAndMoney) {
  auto c = Load("{d: decimal, m: money, s: money, i: int}",
                R"({"d": 0.1, "m": 12345678.123456, "s": "2.50 usd", "i": -9223372036854775808})");
  ASSERT_TRUE(c.ok) << c.Render();
  const Value& v = c.policy->data[0].value;
  EXPECT_EQ(v.rec->fields[0].i, 100000);
  EXPECT_EQ(v.rec->fields[1].kind, Kind::kMoney);
  EXPECT_EQ(v.rec->fields[1].i, 12345678123456);
  EXPECT_EQ(v.rec->fields[2].i, 2500000);
  EXPECT_EQ(v.rec->fields[3].i, INT64_MIN);
}

TEST_F(DataPass, TooManyFractionalDigits) {
  auto c = Load("{d: decimal}", R"({"d": 0.1234567})");
  EXPECT_EQ(c.ErrorCodes(), std::vector<std::string>{"tg_data_error"});
  EXPECT_NE(Message(c).find("at `$.d`"), std::string::npos) << Message(c);
}

TEST_F(DataPass, JsonPathOfNestedMismatch) {
  auto c = Load("map<{models: list<string>}>", R"({"acme": {"models": ["a", 2]}})");
  EXPECT_EQ(Message(c), "data `d` in `d.json`: at `$.acme.models[1]`: expected string, found `2`");
  auto q = Load("map<{models: list<string>}>", R"({"two words": {"models": 3}})");
  EXPECT_NE(Message(q).find(R"(at `$["two words"].models`)"), std::string::npos) << Message(q);
}

TEST_F(DataPass, RecordFields) {
  auto missing = Load("{a: int, b?: int}", R"({"b": 1})");
  EXPECT_NE(Message(missing).find("missing field `a`"), std::string::npos) << Message(missing);
  auto unknown = Load("{allowed: int}", R"({"alowed": 1})");
  EXPECT_NE(Message(unknown).find("unknown field `alowed`"), std::string::npos);
  EXPECT_EQ(unknown.diags.items()[0].help, "did you mean `allowed`?");
  auto nulls = Load("{a: int, b?: int}", R"({"a": 1, "b": null})");
  ASSERT_TRUE(nulls.ok) << nulls.Render();
  EXPECT_TRUE(nulls.policy->data[0].value.rec->fields[1].is_null());
  auto bad_null = Load("{a: int}", R"({"a": null})");
  EXPECT_FALSE(bad_null.ok);
}

TEST_F(DataPass, DurationsTimesAndSets) {
  auto c = Load("{w: duration, ms: duration, t: time, s: set<int>}",
                R"({"w": "2w", "ms": 1500, "t": "2025-01-06T09:00:00Z", "s": [3, 1, 3]})");
  ASSERT_TRUE(c.ok) << c.Render();
  const Value& v = c.policy->data[0].value;
  EXPECT_EQ(v.rec->fields[0].i, 14 * 86400000LL);
  EXPECT_EQ(v.rec->fields[1].i, 1500);
  EXPECT_EQ(FormatRfc3339(v.rec->fields[2].i), "2025-01-06T09:00:00Z");
  EXPECT_EQ(ToJson(v.rec->fields[3]), "[1,3]");
  auto bad = Load("{t: time}", R"({"t": "tomorrow"})");
  EXPECT_NE(Message(bad).find("expected an RFC 3339 time"), std::string::npos);
}

// A duration without its unit is milliseconds: a data document's
// `"max_age": 3600`, written for an hour, was 3.6 s, silently (a rule
// comparing it with `1h` checked clean). Warned once per document, with the
// value's path; a written unit and 0 are quiet.
TEST_F(DataPass, DurationsWithoutAUnitWarn) {
  auto c = Load("map<{max_age: duration}>", R"({"a": {"max_age": 3600}, "b": {"max_age": 7200}})");
  ASSERT_TRUE(c.ok) << c.Render();
  EXPECT_EQ(c.policy->data[0].value.map->values[0].rec->fields[0].i, 3600);
  ASSERT_EQ(c.diags.items().size(), 1u) << c.Render();
  EXPECT_EQ(c.diags.items()[0].code, "tg_duration_unit");
  EXPECT_EQ(c.diags.items()[0].message,
            "data `d` in `d.json`: at `$.a.max_age`: the duration `3600` has no unit and is read as "
            "milliseconds (3.6 s)");
  EXPECT_EQ(c.diags.items()[0].help,
            "write its unit in the document: `\"3600ms\"`, or `\"3600s\"` if seconds were meant (`\"30s\"`, "
            "`\"5m\"`, `\"1h\"`, `\"90d\"`)");
  auto quiet = Load("map<{max_age: duration}>", R"({"a": {"max_age": "1h"}, "b": {"max_age": 0}})");
  ASSERT_TRUE(quiet.ok) << quiet.Render();
  EXPECT_TRUE(quiet.diags.items().empty()) << quiet.Render();
}

TEST_F(DataPass, CanonicalJsonIsSortedAndCompact) {
  auto c = Load("map<int>", "{ \"b\" : 1,\n \"a\" : 2 }");
  ASSERT_TRUE(c.ok) << c.Render();
  EXPECT_EQ(c.policy->data[0].canonical_json, R"({"a":2,"b":1})");
}

TEST_F(DataPass, MalformedJson) {
  EXPECT_NE(Message(Load("map<int>", R"({"a": 1,})")).find("invalid JSON at byte"), std::string::npos);
  EXPECT_NE(Message(Load("map<int>", R"({"a": 1, "a": 2})")).find("duplicate key `a`"),
            std::string::npos);
  EXPECT_NE(Message(Load("map<int>", "")).find("invalid JSON"), std::string::npos);
  EXPECT_NE(Message(Load("map<string>", std::string("{\"a\": \"\xff\"}"))).find("invalid JSON"),
            std::string::npos);
  std::string deep(100000, '[');
  EXPECT_NE(Message(Load("list<int>", deep)).find("nests deeper"), std::string::npos);
}

// A byte order mark (Windows editors write one) is skipped, as in decision inputs.
TEST_F(DataPass, ByteOrderMarkIsSkipped) {
  auto c = Load("map<int>", "\xEF\xBB\xBF{\"a\": 1}");
  ASSERT_TRUE(c.ok) << c.Render();
  EXPECT_EQ(c.policy->data[0].value.map->keys.size(), 1u);
  EXPECT_NE(Message(Load("map<int>", "\xEF\xBB{\"a\": 1}")).find("invalid JSON"), std::string::npos);
}

TEST_F(DataPass, SizeLimit) {
  Limits limits;
  limits.max_data_document_bytes = 8;
  auto c = Load("map<int>", R"({"aaaa": 1, "bbbb": 2})", limits);
  EXPECT_EQ(c.ErrorCodes(), std::vector<std::string>{"tg_limit_exceeded"});
}

// A document that ends inside a multi-byte character (a lead byte of four,
// nothing after it) is refused as malformed, at that byte; the parse reads
// nothing past the text (the fuzz corpus's truncated_utf8_at_end.bin runs it
// under ASan, where the NUL-terminated stream read past its end).
TEST_F(DataPass, DocumentEndingInsideACharacterIsMalformed) {
  for (const std::string& json : {std::string("{\"a\": \"x\xF3"), std::string("[\"\xE2\x82"),
                                  std::string("\"\xF0")}) {
    auto c = Load("map<string>", json);
    EXPECT_EQ(c.ErrorCodes(), std::vector<std::string>{"tg_data_error"}) << c.Render();
    EXPECT_NE(Message(c).find("encoding"), std::string::npos) << Message(c);
  }
}

TEST_F(DataPass, MissingFileIsOneError) {
  check::CheckOptions opts;
  opts.base_dir = dir_.string();
  auto c = CheckSource(R"(policy "p"
data d from "absent.json": {x: bool}
rule r { when d.x deny "x" })", opts);
  EXPECT_EQ(c.ErrorCodes(), std::vector<std::string>{"tg_data_error"}) << c.Render();
  EXPECT_EQ(c.diags.items()[0].span.col, 13u);  // points at the file name
}

// A budget limit or limit max read out of a data document by a run-time key:
// a negative entry loaded fine, checked clean, and every request of that key
// was denied with rule_error at admission. A warning names the entry.
TEST(Data, NegativeLimitsReadOutOfADocumentWarn) {
  auto c = CheckSource(R"(policy "p"
data teams from "team_limits.json": map<{monthly: money, rpm: int}>
budget team_month { when principal.workspace in teams key principal.workspace per month limit teams[principal.workspace].monthly }
limit team_rpm { when principal.workspace in teams key principal.workspace per minute max teams[principal.workspace].rpm requests }
limit fine { key principal.workspace per minute max get(teams, principal.workspace, {monthly: 1 usd, rpm: 10}).rpm ?? 5 requests }
)");
  EXPECT_TRUE(c.ok) << c.Render();
  const std::string r = c.Render();
  EXPECT_NE(r.find("test.tg:3:95: warning[tg_negative_limit]: the limit of budget `team_month` is `-1.00 usd` for "
                   "`teams[\"ops\"].monthly`: a limit is zero or more, so every request it counts there fails "
                   "with `rule_error` (403)"),
            std::string::npos)
      << r;
  EXPECT_NE(r.find("help: change the value at `teams[\"ops\"].monthly` in the data document to zero or more"),
            std::string::npos)
      << r;
  EXPECT_NE(r.find("warning[tg_negative_limit]: the `max` of limit `team_rpm` is `-5` for `teams[\"qa\"].rpm`"),
            std::string::npos)
      << r;
}

}  // namespace
}  // namespace tollgate::checktest
