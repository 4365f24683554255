// Regression tests for issue 7: hostile input never takes tollgate down.
// Each test reproduces one crash, hang or blow-up class at a small scale
// (a test at each limit and one past it lives in limits_test.cc).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <unistd.h>

#include "engine/core/json_text.h"
#include "engine/core/read_file.h"
#include "engine/core/types.h"
#include "engine/engine.h"
#include "engine/vm/vm.h"
#include "runtime/router/accounts.h"
#include "runtime/router/catalog.h"
#include "runtime/input/input.h"
#include "stdlib/schema.h"

namespace tollgate {
namespace {

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

bool HasCode(const Compiled& c, const std::string& code) {
  for (const Diagnostic& d : c.diagnostics.items())
    if (d.code == code) return true;
  return false;
}

runtime::InputError Decode(std::string_view json) {
  vm::Record rec;
  runtime::InputError err;
  if (runtime::DecodeInput(json, stdlib::Schema::Standard(), {}, &rec, &err)) err.code = "ok";
  return err;
}

// --- the decision-input decoder ---

// The SSE2 ASCII pre-check read one byte past an ASCII view whose length is a
// multiple of 32: here that byte is 0xFF, so the old decoder called the
// input invalid UTF-8 (and ASan reports the read).
TEST(Hostile, DecoderReadsNoByteBeyondItsView) {
  std::string body = R"({"request":{"model":"m","x":"aaaa"}})";
  while (body.size() % 32 != 0) body.insert(body.size() - 2, " ");
  std::string buffer = body + "\xFF";
  std::string_view view(buffer.data(), body.size());
  ASSERT_EQ(view.size() % 32, 0u);
  runtime::InputError e = Decode(view);
  EXPECT_NE(e.code, "input_invalid_utf8") << e.message;
}

TEST(Hostile, LoneSurrogateEscapeIsInvalidUtf8) {
  std::string lone = R"({"principal":{"workspace":"w"},"request":{"model":"m","messages":[{"role":"user","content":"a\udc00b"}]}})";
  EXPECT_EQ(Decode(lone).code, "input_invalid_utf8");
  std::string swapped = R"({"principal":{"workspace":"w"},"request":{"model":"m","messages":[{"role":"user","content":"\ude00\ud83d"}]}})";
  EXPECT_NE(Decode(swapped).code, "ok");
  std::string pair = R"({"principal":{"workspace":"w"},"request":{"model":"m","messages":[{"role":"user","content":"\ud83d\ude00 \\udc00"}]}})";
  EXPECT_EQ(Decode(pair).code, "ok") << Decode(pair).message;
}

TEST(Hostile, FindLoneSurrogateEscape) {
  EXPECT_EQ(FindLoneSurrogateEscape(R"("\udc00")"), 1u);
  EXPECT_EQ(FindLoneSurrogateEscape(R"("\uD83D\uDE00")"), std::string_view::npos);
  EXPECT_EQ(FindLoneSurrogateEscape(R"("\uD83D\uDE00\uDE00")"), 13u);
  EXPECT_EQ(FindLoneSurrogateEscape(R"("\\udc00")"), std::string_view::npos);
  EXPECT_EQ(FindLoneSurrogateEscape(R"("\ud83d x \udc00")"), 10u);
}

TEST(Hostile, NulInputIsMalformedNotEmpty) {
  runtime::InputError e = Decode(std::string_view("\0", 1));
  EXPECT_EQ(e.code, "input_malformed_json");
  EXPECT_NE(e.message.find("NUL byte"), std::string::npos) << e.message;
  EXPECT_EQ(e.message.find("empty"), std::string::npos) << e.message;
}

// Valid JSON numbers beyond double range (rapidjson refuses them even though
// the decoder keeps numbers as text): accepted where tollgate ignores them
// (an unknown OpenAI body parameter, nested anywhere); refused with the
// member's path where it reads them.
TEST(Hostile, NumberBeyondDoubleRangeInIgnoredMemberIsAccepted) {
  const std::string head = R"({"principal":{"workspace":"w"},"request":{"model":"m",)";
  const std::string msgs = R"("messages":[{"role":"user","content":"1e400 stays text"}]})";
  std::string json = head + R"("top_k": 1e400, "x": [1, -2.5e999, {"y": 1)" +
                     std::string(400, '0') + R"(}], "z": 0.1e309, )" + msgs + "}";
  vm::Record rec;
  runtime::InputError err;
  ASSERT_TRUE(runtime::DecodeInput(json, stdlib::Schema::Standard(), {}, &rec, &err))
      << err.code << " " << err.message;
  // The message text around the ignored numbers is intact.
  EXPECT_NE(std::string_view(rec.buffer).find("1e400 stays text"), std::string_view::npos);
  EXPECT_NE(std::string_view(rec.buffer).find("-2.5e999"), std::string_view::npos);
  // A tiny one was never a problem.
  EXPECT_EQ(Decode(head + R"("top_k": 1e-400, )" + msgs + "}").code, "ok");
}

TEST(Hostile, NumberBeyondDoubleRangeInReadMemberNamesItsPath) {
  const std::string head = R"({"principal":{"workspace":"w"},"request":{"model":"m",)";
  const std::string msgs = R"("messages":[{"role":"user","content":"hi"}]})";
  runtime::InputError e = Decode(head + R"("temperature": 1e400, )" + msgs + "}");
  EXPECT_EQ(e.code, "input_wrong_type");
  EXPECT_EQ(e.path, "request.temperature");
  EXPECT_NE(e.message.find("1e400"), std::string::npos) << e.message;
  e = Decode(head + R"("max_tokens": -1)" + std::string(400, '0') + ", " + msgs + "}");
  EXPECT_EQ(e.code, "input_wrong_type");
  EXPECT_EQ(e.path, "request.max_tokens");
  // A read one after ignored ones still names its own path.
  e = Decode(head + R"("top_k": 1e400, "max_tokens": 2e400, )" + msgs + "}");
  EXPECT_EQ(e.path, "request.max_tokens") << e.message;
}

TEST(Hostile, TooManyNumbersBeyondDoubleRangeAreRefusedWithAPath) {
  std::string list;
  for (int i = 0; i < 17; ++i) list += std::string(i ? "," : "") + "1e400";
  runtime::InputError e = Decode(R"({"request":{"model":"m","x":[)" + list + "]}}");
  EXPECT_EQ(e.code, "input_invalid_value");
  EXPECT_EQ(e.path, "request.x[16]");
  std::string sixteen = list.substr(0, list.rfind(','));
  EXPECT_NE(Decode(R"({"request":{"model":"m","x":[)" + sixteen + "]}}").code,
            "input_invalid_value");
}

// Found by fuzz_decode_input: the error path (PathAt) re-parsed the text
// before the offending number from a copy without slack, which rapidjson's
// SIMD string scanner over-read (ASan: heap-buffer-overflow). The input is
// the fuzzer's reproducer (tests/fuzz/corpus/fuzz_decode_input/).
TEST(Hostile, ErrorPathReadsNoByteBeyondItsCopy) {
  std::ifstream in("tests/fuzz/corpus/fuzz_decode_input/pathat-simd-overread.json", std::ios::binary);
  ASSERT_TRUE(in) << "run from the source directory";
  std::string json((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  runtime::InputError e = Decode(json);
  EXPECT_NE(e.code, "ok");
  // A long string before a number past the limit of numbers beyond range.
  std::string list;
  for (int i = 0; i < 17; ++i) list += std::string(i ? "," : "") + "1e400";
  for (size_t pad = 0; pad < 48; ++pad) {
    e = Decode(R"({"request":{"model":"m","s":")" + std::string(pad, 'a') + R"(","x":[)" + list + "]}}");
    EXPECT_EQ(e.path, "request.x[16]");
  }
}

// --- loaders: every read capped, no recursion on nesting ---

TEST(Hostile, ReadCappedStopsAtTheLimit) {
  std::string out, why;
  EXPECT_EQ(ReadCapped("/dev/zero", 1000, &out, &why), ReadStatus::kTooLarge);
  EXPECT_TRUE(out.empty());
  EXPECT_NE(why.find("limit of 1000 bytes"), std::string::npos) << why;
  EXPECT_EQ(ReadCapped("/nonexistent/x", 1000, &out, &why), ReadStatus::kError);
}

TEST(Hostile, EveryFileLoaderCapsItsRead) {
  Compiled c = CompileFile("/dev/zero", {});
  EXPECT_TRUE(HasCode(c, "tg_limit_exceeded")) << c.diagnostics.Render();
  runtime::Catalog cat;
  runtime::CatalogError cerr;
  EXPECT_FALSE(runtime::Catalog::LoadFile("/dev/zero", stdlib::Schema::Standard(), &cat, &cerr));
  EXPECT_EQ(cerr.code, "catalog_too_large");
  runtime::Accounts acc;
  runtime::AccountsError aerr;
  EXPECT_FALSE(runtime::Accounts::LoadFile("/dev/zero", &acc, &aerr));
  EXPECT_EQ(aerr.code, "accounts_too_large");
}

TEST(Hostile, DeeplyNestedJsonDoesNotRecurse) {
  const size_t n = 1000000;  // a recursive parser overflows the stack long before
  std::string deep = std::string(n, '[') + std::string(n, ']');
  stdlib::Schema schema = stdlib::Schema::Standard();
  std::string error;
  EXPECT_FALSE(schema.AddFromJson("{\"fields\": " + deep + "}", &error));
  runtime::Catalog cat;
  runtime::CatalogError cerr;
  EXPECT_FALSE(runtime::Catalog::Load(deep, stdlib::Schema::Standard(), &cat, &cerr));
  runtime::Accounts acc;
  runtime::AccountsError aerr;
  EXPECT_FALSE(runtime::Accounts::Load(deep, &acc, &aerr));
  EXPECT_EQ(Decode(deep).code, "input_too_deep");
}

// --- the compiler ---

// Each const nests the previous one: one level per declaration, so no single
// expression is deep, but the type (and its printing) was unbounded.
TEST(Hostile, TypesNestedAcrossConstsAreBounded) {
  std::string src = "policy \"p\"\nconst c0 = [1]\n";
  const int n = 3000;
  for (int i = 1; i < n; ++i)
    src += "const c" + std::to_string(i) + " = [c" + std::to_string(i - 1) + "]\n";
  src += "rule r { when c" + std::to_string(n - 1) + " == c" + std::to_string(n - 1) + " deny \"x\" }\n";
  auto t0 = std::chrono::steady_clock::now();
  Compiled c = CompileSource("deep.tg", src, {});
  EXPECT_EQ(c.policy, nullptr);
  EXPECT_TRUE(HasCode(c, "tg_limit_exceeded")) << c.diagnostics.Render().substr(0, 2000);
  EXPECT_LT(Seconds(t0), 20.0);
}

TEST(Hostile, TypeStringsAreShortened) {
  Type t(Kind::kInt);
  for (int i = 0; i < 20000; ++i) t = Type::List(t);  // ToString must not recurse 20000 deep
  EXPECT_EQ(t.depth(), 20000u);
  std::string s = t.ToString();
  EXPECT_LE(s.size(), Type::kMaxShownChars);
  EXPECT_EQ(s.substr(0, 10), "list<list<");
  std::vector<RecordField> fields;
  for (int i = 0; i < 1000; ++i) fields.push_back({"field_" + std::to_string(i), Type(Kind::kInt), false});
  std::string r = Type::Record(fields).ToString();
  EXPECT_LE(r.size(), Type::kMaxShownChars);
  EXPECT_EQ(r.substr(r.size() - 3), "...");
  // Tear-down of a very deep type chain is recursive in shared_ptr: keep it
  // within what the stack holds in this test.
  t = Type(Kind::kInt);
}

TEST(Hostile, ConstsThatDoubleAListHitTheFoldLimit) {
  std::string src = "policy \"p\"\nconst d0 = [1, 2]\n";
  for (int i = 1; i < 40; ++i)
    src += "const d" + std::to_string(i) + " = [d" + std::to_string(i - 1) + ", d" + std::to_string(i - 1) + "]\n";
  src += "rule r { when d39 == d39 deny \"x\" }\n";
  auto t0 = std::chrono::steady_clock::now();
  Compiled c = CompileSource("double.tg", src, {});
  EXPECT_EQ(c.policy, nullptr);
  EXPECT_TRUE(HasCode(c, "tg_limit_exceeded")) << c.diagnostics.Render();
  EXPECT_EQ(c.diagnostics.items().size(), 1u) << c.diagnostics.Render();  // one mistake, one diagnostic
  EXPECT_LT(Seconds(t0), 20.0);
}

TEST(Hostile, ConstsUsedManyTimesAreNotCopiedEachTime) {
  // A 100000-element const referenced by 2000 others: shared, not cloned.
  std::string src = "policy \"p\"\nconst big = [";
  for (int i = 0; i < 100000; ++i) src += (i ? ", " : "") + std::to_string(i);
  src += "]\n";
  for (int i = 0; i < 2000; ++i) src += "const u" + std::to_string(i) + " = big\n";
  src += "rule r { when request.input_tokens in u1999 deny \"x\" }\n";
  auto t0 = std::chrono::steady_clock::now();
  Compiled c = CompileSource("share.tg", src, {});
  EXPECT_NE(c.policy, nullptr) << c.diagnostics.Render().substr(0, 2000);
  EXPECT_LT(Seconds(t0), 30.0);
}

TEST(Hostile, DiagnosticsAreCappedPerFile) {
  std::string src = "policy \"p\"\nrule r { when request.model";
  for (int i = 0; i < 5000; ++i) src += "()";
  src += " == \"x\" deny \"x\" }\n";
  Compiled c = CompileSource("calls.tg", src, {});
  EXPECT_EQ(c.policy, nullptr);
  EXPECT_LE(c.diagnostics.items().size(), Diagnostics::kMaxDiagnostics);
  EXPECT_TRUE(c.diagnostics.HasErrors());
  EXPECT_NE(c.diagnostics.Render().find("more diagnostics not shown"), std::string::npos);
}

TEST(Hostile, ErrorsDisplaceWarningsPastTheCap) {
  Diagnostics d;
  for (size_t i = 0; i < Diagnostics::kMaxDiagnostics; ++i) d.Warning("tg_w", Span{}, "w");
  d.Error("tg_e", Span{}, "e");
  EXPECT_TRUE(d.HasErrors());
  EXPECT_EQ(d.items().size(), Diagnostics::kMaxDiagnostics);
  EXPECT_EQ(d.items().back().code, "tg_e");
  EXPECT_EQ(d.dropped(), 1u);
}

TEST(Hostile, DuplicateKeysAreFoundInLinearTime) {
  // 60000 distinct keys (within max_source_bytes): a pairwise check takes seconds, a hash set
  // milliseconds; the 300000-key data document below would take minutes pairwise.
  std::string src = "policy \"p\"\nconst m = {";
  for (int i = 0; i < 60000; ++i) src += (i ? ", " : "") + ("\"k" + std::to_string(i) + "\": 1");
  src += ", \"k7\": 2}\nrule r { when request.model in m deny \"x\" }\n";
  auto t0 = std::chrono::steady_clock::now();
  Compiled c = CompileSource("keys.tg", src, {});
  EXPECT_TRUE(HasCode(c, "tg_duplicate_name"));
  EXPECT_LT(Seconds(t0), 60.0);

  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("tg_hostile_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  {
    std::ofstream out(dir / "d.json", std::ios::binary);
    out << "{";
    for (int i = 0; i < 300000; ++i) out << (i ? "," : "") << "\"k" << i << "\":1";
    out << ",\"k5\":2}";
  }
  CompileOptions opts;
  t0 = std::chrono::steady_clock::now();
  Compiled d = CompileSource((dir / "p.tg").string(),
                             "policy \"p\"\ndata d from \"d.json\": map<int>\n"
                             "rule r { when request.model in d deny \"x\" }\n",
                             opts);
  EXPECT_TRUE(HasCode(d, "tg_data_error")) << d.diagnostics.Render();
  EXPECT_NE(d.diagnostics.Render().find("duplicate key `k5`"), std::string::npos);
  EXPECT_LT(Seconds(t0), 30.0);
  fs::remove_all(dir);
}

TEST(Hostile, CostBoundSaturatesInsteadOfWrapping) {
  // Six nested quantifiers over request lists: the static bound passes 2^64.
  // The body reads every variable (an unused one is tg_unused_variable).
  std::string cond =
      "m.content == \"x\" and m0.content == m1.content and m2.content == m3.content and "
      "m4.content == \"y\"";
  for (int i = 0; i < 6; ++i) cond = "any m" + std::to_string(i) + " in request.messages: " + cond;
  // innermost uses `m`: rename the innermost variable
  cond.replace(cond.find("any m5"), 6, "any m ");
  Compiled c = CompileSource("cost.tg", "policy \"p\"\nrule r { when " + cond + " deny \"x\" }\n", {});
  EXPECT_TRUE(HasCode(c, "tg_cost_bound")) << c.diagnostics.Render();
}

TEST(Hostile, OverlongRedactionReplacementFailsTheCheck) {
  std::string src = "policy \"p\"\nrule r { when true redact dlp.email as \"" + std::string(5000, 'x') + "\" }\n";
  Compiled c = CompileSource("redact.tg", src, {});
  EXPECT_EQ(c.policy, nullptr);
  EXPECT_TRUE(HasCode(c, "tg_limit_exceeded")) << c.diagnostics.Render().substr(0, 500);
}

// --- explain traces are bounded ---

TEST(Hostile, ExplainTraceValuesAreCut) {
  Compiled c = CompileSource("t.tg", "policy \"p\"\nrule r { when request.content contains \"zzz\" deny \"x\" }\n", {});
  ASSERT_NE(c.policy, nullptr) << c.diagnostics.Render();
  std::string content(200000, 'a');
  content += "\xC3\xA9";  // a multi-byte character near the cut is never split
  std::string json = std::string(R"({"principal":{"workspace":"w"},"request":{"model":"m","messages":[{"role":"user","content":")") +
                     content + R"("}]}})";
  vm::Record rec;
  runtime::InputError err;
  ASSERT_TRUE(runtime::DecodeInput(json, c.policy->schema(), {}, &rec, &err)) << err.message;
  vm::EvalOptions opts;
  opts.trace = true;
  vm::Decision d;
  vm::Evaluate(c.policy->program(), rec, opts, &d);
  ASSERT_FALSE(d.trace.empty());
  size_t total = 0;
  for (const auto& t : d.trace)
    for (const auto& [path, value] : t.values) total += value.size();
  EXPECT_GT(total, 0u);
  EXPECT_LT(total, 4 * Limits{}.max_trace_value_bytes + 200);
}

}  // namespace
}  // namespace tollgate
