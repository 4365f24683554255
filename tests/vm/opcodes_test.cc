// Per-opcode behaviour through small policies: each test's `when` exercises
// one instruction (see engine/vm/opcodes.def) and checks the decision.
#include <gtest/gtest.h>

#include "tests/vm/vm_helpers.h"

namespace tollgate::vmtest {
namespace {

// True when rule `r` (the only rule) fires for `req`.
bool Fires(const std::string& when, const vm::Record& req, const std::string& prelude = "") {
  auto p = Compile(prelude + "rule r {\n  when " + when + "\n  deny 403 \"x\"\n}\n");
  if (!p) return false;
  auto d = Eval(*p, req);
  EXPECT_TRUE(d->errors.empty()) << when << ": " << (d->errors.empty() ? "" : d->errors[0].message);
  return d->outcome == vm::Outcome::kDeny;
}

// The error code of the only rule, or "" when it did not fail.
std::string ErrorOf(const std::string& when, const vm::Record& req, const std::string& prelude = "") {
  auto p = Compile(prelude + "rule r {\n  when " + when + "\n  deny 403 \"x\"\n}\n");
  if (!p) return "compile";
  auto d = Eval(*p, req);
  return d->errors.empty() ? "" : std::string(d->errors[0].code);
}

TEST(Opcodes, LoadsAndEquality) {
  auto req = Request().Str("request.model", "gpt-4o").Int("request.max_tokens", 100).Take();
  EXPECT_TRUE(Fires("request.model == \"gpt-4o\"", *req));       // LOADREQ, EQK
  EXPECT_FALSE(Fires("request.model == \"gpt-4\"", *req));
  EXPECT_TRUE(Fires("request.model != \"gpt-4\"", *req));        // NEK
  EXPECT_TRUE(Fires("\"gpt-4o\" == request.model", *req));
  EXPECT_TRUE(Fires("request.model == request.model", *req));    // EQ
  EXPECT_FALSE(Fires("request.model != request.model", *req));   // NE
  EXPECT_TRUE(Fires("request.max_tokens == 100", *req));
  EXPECT_TRUE(Fires("request.max_tokens == 100.0", *req));       // int == decimal
}

TEST(Opcodes, NullComparesWithoutError) {
  auto req = Request().Take();
  EXPECT_TRUE(Fires("request.max_tokens == null", *req));
  EXPECT_FALSE(Fires("request.max_tokens != null", *req));
  EXPECT_FALSE(Fires("principal.user == \"bob\"", *req));
  EXPECT_TRUE(Fires("principal.user != \"bob\"", *req));
}

TEST(Opcodes, Ordering) {
  auto req = Request().Int("request.max_tokens", 100).Dec("request.temperature", 700000).Take();
  EXPECT_TRUE(Fires("request.max_tokens > 99", *req));   // GT
  EXPECT_FALSE(Fires("request.max_tokens > 100", *req));
  EXPECT_TRUE(Fires("request.max_tokens >= 100", *req));  // GE
  EXPECT_TRUE(Fires("request.max_tokens < 101", *req));   // LT
  EXPECT_TRUE(Fires("request.max_tokens <= 100", *req));  // LE
  EXPECT_TRUE(Fires("request.temperature < 1", *req));    // decimal vs int
  EXPECT_TRUE(Fires("request.temperature > 0.69", *req));
}

TEST(Opcodes, MissingFieldIsAnError) {
  auto req = Request().Take();
  EXPECT_EQ(ErrorOf("request.max_tokens > 10", *req), "eval_missing_field");
  EXPECT_EQ(ErrorOf("not request.stream", *req), "eval_missing_field");
  EXPECT_EQ(ErrorOf("principal.user in {\"a\"}", *req), "eval_missing_field");
  EXPECT_EQ(ErrorOf("request.stream and true", *req), "eval_missing_field");
  EXPECT_EQ(ErrorOf("request.model == \"m\" and request.stream", *req), "eval_missing_field");  // CHKNULL
  EXPECT_EQ(ErrorOf("request.model == \"x\" and request.stream", *req), "");  // short-circuit
  EXPECT_EQ(ErrorOf("request.stream", *req), "eval_missing_field");
}

TEST(Opcodes, MissingFieldMessageNamesTheField) {
  auto p = Compile("rule r { when request.max_tokens > 10 deny \"x\" }");
  auto req = Request().Take();
  auto d = Eval(*p, *req);
  ASSERT_EQ(d->errors.size(), 1u);
  EXPECT_EQ(d->errors[0].message, "missing field `request.max_tokens`");
  EXPECT_EQ(d->code, vm::kCodeRuleError);
  EXPECT_EQ(d->status, 403);
}

TEST(Opcodes, LogicShortCircuit) {
  auto req = Request().Bool("request.stream", true).Take();
  EXPECT_TRUE(Fires("request.stream and request.model == \"m\"", *req));  // JFK
  EXPECT_FALSE(Fires("request.stream and request.model == \"x\"", *req));
  EXPECT_TRUE(Fires("request.model == \"x\" or request.stream", *req));     // JTK
  EXPECT_TRUE(Fires("request.stream or request.max_tokens > 1", *req));    // no error: skipped
  EXPECT_FALSE(Fires("not request.stream", *req));                         // NOT
  EXPECT_TRUE(Fires("not (request.model == \"x\")", *req));
}

TEST(Opcodes, Membership) {
  auto req = Request().Str("principal.jurisdiction", "DE").Set("principal.groups", {"eng", "ops"}).Take();
  const std::string eu = "const eu = {\"DE\", \"FR\"}\n";
  EXPECT_TRUE(Fires("principal.jurisdiction in eu", *req, eu));          // INK
  EXPECT_FALSE(Fires("principal.jurisdiction not in eu", *req, eu));     // INK, NOT
  EXPECT_TRUE(Fires("principal.jurisdiction in [\"US\", \"DE\"]", *req));
  EXPECT_TRUE(Fires("principal.groups has \"ops\"", *req));              // HAS
  EXPECT_FALSE(Fires("principal.groups has \"hr\"", *req));
  EXPECT_TRUE(Fires("\"eng\" in principal.groups", *req));               // IN
  EXPECT_TRUE(Fires("principal.jurisdiction in {principal.jurisdiction, \"x\"}", *req));  // MKSET
}

TEST(Opcodes, Arithmetic) {
  auto req = Request().Int("request.max_tokens", 7).Dec("request.temperature", 500000).Take();
  EXPECT_TRUE(Fires("request.max_tokens + 1 == 8", *req));      // ADD
  EXPECT_TRUE(Fires("request.max_tokens - 10 == -3", *req));    // SUB, NEG folded
  EXPECT_TRUE(Fires("request.max_tokens * 3 == 21", *req));     // MUL
  EXPECT_TRUE(Fires("request.max_tokens / 2 == 3.5", *req));    // DIV -> decimal
  EXPECT_TRUE(Fires("request.max_tokens % 4 == 3", *req));      // MOD
  EXPECT_TRUE(Fires("-request.max_tokens == -7", *req));        // NEG
  EXPECT_TRUE(Fires("request.temperature * 3 == 1.5", *req));   // decimal
  EXPECT_TRUE(Fires("request.temperature + request.max_tokens == 7.5", *req));
  EXPECT_EQ(ErrorOf("request.max_tokens / 0 > 1", *req), "eval_arithmetic_error");
  EXPECT_EQ(ErrorOf("request.max_tokens % 0 > 1", *req), "eval_arithmetic_error");
  EXPECT_EQ(ErrorOf("request.max_tokens * 9223372036854775807 > 1", *req), "eval_arithmetic_error");
}

TEST(Opcodes, Money) {
  auto req = Request().Take();
  auto cand = Candidate().Money("endpoint.price_input", 2500000).Money("endpoint.estimated_cost", 120000).Take();
  auto p = Compile(
      "rule cheap { require endpoint.price_input * 2 <= 5.00 usd and endpoint.estimated_cost < 0.50 usd }\n"
      "rule ratio { require endpoint.price_input / 2.50 usd == 1 }\n");
  ASSERT_TRUE(p);
  EXPECT_TRUE(vm::EvalRequire(p->program(), 0, *req, *cand, {}).pass);
  EXPECT_TRUE(vm::EvalRequire(p->program(), 1, *req, *cand, {}).pass);
}

TEST(Opcodes, TextAndPatterns) {
  auto req = Request().Str("principal.user", "alice@example.com").Messages({{"user", "hello SECRET world"}}).Take();
  EXPECT_TRUE(Fires("request.content contains \"SECRET\"", *req));        // SCAN literal
  EXPECT_FALSE(Fires("request.content contains \"secret\"", *req));
  EXPECT_TRUE(Fires("request.content matches \"S[A-Z]+T\"", *req));       // SCAN regex
  EXPECT_TRUE(Fires("principal.user matches dlp.email", *req));           // SCAN detector
  EXPECT_TRUE(Fires("any m in request.messages: m.content matches \"w.rld\"", *req));  // MATCH
  EXPECT_TRUE(Fires("any m in request.messages: m.content contains \"hello\"", *req));  // CONTAINS
}

TEST(Opcodes, DetectorValidation) {
  // 4111 1111 1111 1111 passes Luhn; ...1112 does not.
  auto good = Request().Messages({{"user", "card 4111 1111 1111 1111 thanks"}}).Take();
  auto bad = Request().Messages({{"user", "card 4111 1111 1111 1112 thanks"}}).Take();
  EXPECT_TRUE(Fires("request.content matches dlp.credit_card", *good));
  EXPECT_FALSE(Fires("request.content matches dlp.credit_card", *bad));
  EXPECT_TRUE(Fires("any m in request.messages: m.content matches dlp.credit_card", *good));
  EXPECT_FALSE(Fires("any m in request.messages: m.content matches dlp.credit_card", *bad));
}

TEST(Opcodes, Quantifiers) {
  auto req = Request().Messages({{"system", "be nice"}, {"user", "hi"}}).Take();
  EXPECT_TRUE(Fires("any m in request.messages: m.role == \"system\"", *req));   // ITER NEXT QANY
  EXPECT_FALSE(Fires("all m in request.messages: m.role == \"system\"", *req));  // QALL
  EXPECT_TRUE(Fires("all m in request.messages: m.content != \"\"", *req));
  auto empty = Request().Take();
  EXPECT_FALSE(Fires("any m in request.messages: m.role == \"system\"", *empty));
  EXPECT_TRUE(Fires("all m in request.messages: m.role == \"system\"", *empty));
  EXPECT_TRUE(Fires("any m in request.messages: (all n in request.messages: n.role != m.role or n.content == m.content)", *req));
}

TEST(Opcodes, CallsAndIndex) {
  auto req = Request().Str("request.model", "GPT-4o").Take();
  EXPECT_TRUE(Fires("lower(request.model) == \"gpt-4o\"", *req));  // CALL
  EXPECT_TRUE(Fires("length(request.model) == 6", *req));
  const std::string m = "const limits = {\"gpt-4o\": 10, \"other\": 2}\n";
  EXPECT_TRUE(Fires("limits[lower(request.model)] == 10", *req, m));  // INDEX on a map
  // A missing key reads as null (no error); ?? and get() give defaults.
  EXPECT_EQ(ErrorOf("limits[request.model] == 10", *req, m), "");
  EXPECT_TRUE(Fires("limits[request.model] == null", *req, m));
  EXPECT_TRUE(Fires("(limits[request.model] ?? 3) == 3", *req, m));              // JNNK
  EXPECT_TRUE(Fires("(limits[lower(request.model)] ?? 3) == 10", *req, m));
  EXPECT_TRUE(Fires("get(limits, request.model, 4) == 4", *req, m));            // CALL get
  EXPECT_TRUE(Fires("get(limits, lower(request.model), 4) == 10", *req, m));
  EXPECT_TRUE(Fires("[1, 2, 3][length(request.model) + 7] == null", *req));       // out of range
  EXPECT_TRUE(Fires("[1, 2, 3][1] == 2", *req));
  EXPECT_TRUE(Fires("[request.model, \"x\"][0] == \"GPT-4o\"", *req));  // MKLIST, INDEX
}

TEST(Opcodes, MapsAndMembers) {
  auto req = Request().Str("request.model", "gpt").Int("request.max_tokens", 5).Take();
  const std::string m = "const caps = {\"gpt\": 10, \"other\": 2}\n";
  EXPECT_TRUE(Fires("caps.gpt == 10", *req, m));                       // folded
  EXPECT_TRUE(Fires("{\"k\": request.model}[\"k\"] == \"gpt\"", *req));  // MKMAP, INDEX
  EXPECT_TRUE(Fires("{\"k\": request.max_tokens}.k == 5", *req));      // MKMAP, KEY
  EXPECT_EQ(ErrorOf("{\"k\": request.max_tokens}.j == 5", *req), "");  // KEY misses: null
  EXPECT_TRUE(Fires("({\"k\": request.max_tokens}.j ?? 6) == 6", *req));
}

}  // namespace
}  // namespace tollgate::vmtest
