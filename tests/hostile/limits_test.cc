// One test per row of docs/limits.md: each input channel accepted AT its
// limit and refused with its own code ONE PAST it. Small limits are set
// through Limits where the channel takes them; the file loaders use the
// defaults, so those tests write files of exactly the default size.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "engine/core/read_file.h"
#include "engine/engine.h"
#include "engine/vm/vm.h"
#include "runtime/router/accounts.h"
#include "runtime/router/catalog.h"
#include "runtime/input/input.h"
#include "stdlib/redact.h"
#include "stdlib/schema.h"

namespace tollgate {
namespace {

namespace fs = std::filesystem;

bool HasCode(const Compiled& c, const std::string& code) {
  for (const Diagnostic& d : c.diagnostics.items())
    if (d.code == code) return true;
  return false;
}

class Limit : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tg_limits_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  // `text` padded with trailing spaces to exactly `size` bytes.
  std::string Write(const std::string& name, std::string text, size_t size) {
    if (text.size() < size) text.append(size - text.size(), ' ');
    std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }
  fs::path dir_;
};

const std::string kPolicy = "policy \"p\"\nrule r { when request.model == \"x\" deny \"x\" }\n";

TEST_F(Limit, PolicySourceBytes) {
  CompileOptions o;
  o.limits.max_source_bytes = 4096;
  EXPECT_NE(CompileFile(Write("at.tg", kPolicy, 4096), o).policy, nullptr);
  EXPECT_TRUE(HasCode(CompileFile(Write("past.tg", kPolicy, 4097), o), "tg_limit_exceeded"));
}

TEST_F(Limit, PolicyNestingDepth) {
  CompileOptions o;
  o.limits.max_nesting_depth = 16;
  auto nested = [](int n) {
    std::string e = "request.input_tokens";
    for (int i = 0; i < n; ++i) e = "(" + e + " + 1)";
    return "policy \"p\"\nrule r { when " + e + " > 5 deny \"x\" }\n";
  };
  // The parser and the checker count levels slightly differently (brackets,
  // AST nodes), so find the deepest accepted n: n + 1 must then be refused,
  // and accepted once the limit is one higher.
  int at = 0;
  while (at < 30 && CompileSource("at.tg", nested(at + 1), o).policy != nullptr) ++at;
  EXPECT_GE(at, 10);
  EXPECT_TRUE(HasCode(CompileSource("past.tg", nested(at + 1), o), "tg_limit_exceeded"));
  o.limits.max_nesting_depth = 17;
  EXPECT_NE(CompileSource("raised.tg", nested(at + 1), o).policy, nullptr);
}

TEST_F(Limit, FoldedValueSize) {
  CompileOptions o;
  o.limits.max_folded_value_size = 100;  // the list itself counts 1, each element 1
  auto list = [](int n) {
    std::string s = "policy \"p\"\nconst l = [";
    for (int i = 0; i < n; ++i) s += (i ? ", " : "") + std::to_string(i);
    return s + "]\nrule r { when request.input_tokens in l deny \"x\" }\n";
  };
  Compiled at = CompileSource("at.tg", list(99), o);
  EXPECT_NE(at.policy, nullptr) << at.diagnostics.Render();
  EXPECT_TRUE(HasCode(CompileSource("past.tg", list(100), o), "tg_limit_exceeded"));
}

TEST_F(Limit, FoldWork) {
  CompileOptions o;
  o.limits.max_fold_work = 1000;
  Compiled past = CompileSource("w.tg", "policy \"p\"\nconst a = [1, 2, 3, 4, 5, 6, 7, 8]\n"
                                        "const b = [a, a, a, a, a, a, a, a]\nconst c = [b, b, b, b, b, b, b, b]\n"
                                        "rule r { when length(c) == 8 deny \"x\" }\n", o);
  EXPECT_TRUE(HasCode(past, "tg_limit_exceeded")) << past.diagnostics.Render();
  o.limits.max_fold_work = 100000;
  Compiled at = CompileSource("w.tg", "policy \"p\"\nconst a = [1, 2, 3, 4, 5, 6, 7, 8]\n"
                                      "const b = [a, a, a, a, a, a, a, a]\nconst c = [b, b, b, b, b, b, b, b]\n"
                                      "rule r { when length(c) == 8 deny \"x\" }\n", o);
  EXPECT_NE(at.policy, nullptr) << at.diagnostics.Render();
}

TEST_F(Limit, DataDocumentBytes) {
  CompileOptions o;
  o.limits.max_data_document_bytes = 1000;
  Write("d.json", "{\"a\": 1}", 1000);
  std::string src = "policy \"p\"\ndata d from \"d.json\": map<int>\nrule r { when request.model in d deny \"x\" }\n";
  Compiled at = CompileSource((dir_ / "p.tg").string(), src, o);
  EXPECT_NE(at.policy, nullptr) << at.diagnostics.Render();
  Write("d.json", "{\"a\": 1}", 1001);
  EXPECT_TRUE(HasCode(CompileSource((dir_ / "p.tg").string(), src, o), "tg_limit_exceeded"));
}

TEST_F(Limit, DataDocumentDepth) {
  CompileOptions o;
  o.limits.max_nesting_depth = 4;
  auto doc = [](int n) { return std::string(n, '[') + "1" + std::string(n, ']'); };
  std::string src = "policy \"p\"\ndata d from \"d.json\": list<list<list<list<int>>>>\n"
                    "rule r { when length(d) == 1 deny \"x\" }\n";
  Write("d.json", doc(4), 0);
  Compiled at = CompileSource((dir_ / "p.tg").string(), src, o);
  EXPECT_NE(at.policy, nullptr) << at.diagnostics.Render();
  Write("d.json", doc(6), 0);
  Compiled past = CompileSource((dir_ / "p.tg").string(), src, o);
  EXPECT_NE(past.diagnostics.Render().find("nests deeper"), std::string::npos) << past.diagnostics.Render();
}

TEST_F(Limit, Diagnostics) {
  Diagnostics at, past;
  for (size_t i = 0; i < Diagnostics::kMaxDiagnostics; ++i) at.Error("tg_e", Span{}, "e");
  EXPECT_EQ(at.dropped(), 0u);
  EXPECT_EQ(at.Render().find("not shown"), std::string::npos);
  for (size_t i = 0; i <= Diagnostics::kMaxDiagnostics; ++i) past.Error("tg_e", Span{}, "e");
  EXPECT_EQ(past.dropped(), 1u);
  EXPECT_NE(past.Render().find("note: 1 more diagnostics not shown"), std::string::npos);
}

TEST_F(Limit, RedactionReplacement) {
  auto src = [](size_t n) {
    return "policy \"p\"\nrule r { when true redact dlp.email as \"" + std::string(n, 'x') + "\" }\n";
  };
  Compiled at = CompileSource("at.tg", src(stdlib::kMaxRedactReplacementBytes), {});
  EXPECT_NE(at.policy, nullptr) << at.diagnostics.Render().substr(0, 300);
  EXPECT_TRUE(HasCode(CompileSource("past.tg", src(stdlib::kMaxRedactReplacementBytes + 1), {}),
                      "tg_limit_exceeded"));
}

TEST_F(Limit, SchemaBytes) {
  const size_t max = Limits{}.max_schema_bytes;
  std::string out, why;
  EXPECT_EQ(ReadCapped(Write("at.json", "{\"fields\": []}", max), max, &out, &why), ReadStatus::kOk);
  stdlib::Schema s = stdlib::Schema::Standard();
  EXPECT_TRUE(s.AddFromJson(out, &why)) << why;
  EXPECT_EQ(ReadCapped(Write("past.json", "{\"fields\": []}", max + 1), max, &out, &why),
            ReadStatus::kTooLarge);
}

TEST_F(Limit, CatalogBytes) {
  std::string one;
  {
    std::ifstream in("policies/catalog.json", std::ios::binary);
    one.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  ASSERT_FALSE(one.empty());
  const size_t max = Limits{}.max_catalog_bytes;
  runtime::Catalog c;
  runtime::CatalogError e;
  EXPECT_TRUE(runtime::Catalog::LoadFile(Write("at.json", one, max), stdlib::Schema::Standard(), &c, &e))
      << e.code << ": " << e.message;
  runtime::Catalog c2;
  EXPECT_FALSE(runtime::Catalog::LoadFile(Write("past.json", one, max + 1), stdlib::Schema::Standard(), &c2, &e));
  EXPECT_EQ(e.code, "catalog_too_large");
}

TEST_F(Limit, AccountsBytes) {
  const size_t max = Limits{}.max_accounts_bytes;
  runtime::Accounts a;
  runtime::AccountsError e;
  EXPECT_TRUE(runtime::Accounts::LoadFile(Write("at.json", "{\"default\": {}}", max), &a, &e))
      << e.code << ": " << e.message;
  EXPECT_FALSE(runtime::Accounts::LoadFile(Write("past.json", "{\"default\": {}}", max + 1), &a, &e));
  EXPECT_EQ(e.code, "accounts_too_large");
}

// --- the decision input ---

std::string InputCode(const std::string& json, const Limits& l) {
  vm::Record rec;
  runtime::InputError err;
  return runtime::DecodeInput(json, stdlib::Schema::Standard(), l, &rec, &err) ? "ok" : err.code;
}

std::string Messages(int n) {
  std::string m;
  for (int i = 0; i < n; ++i) m += std::string(i ? "," : "") + R"({"role":"user","content":"x"})";
  return R"({"principal":{"workspace":"w"},"request":{"model":"m","messages":[)" + m + "]}}";
}

TEST_F(Limit, DecisionInputBytes) {
  std::string json = Messages(1);
  Limits l;
  l.max_input_bytes = static_cast<uint32_t>(json.size());
  EXPECT_EQ(InputCode(json, l), "ok");
  EXPECT_EQ(InputCode(json + " ", l), "input_too_large");
}

TEST_F(Limit, DecisionInputDepth) {
  auto nested = [](int n) {  // request.metadata holds n - 3 more levels
    std::string v = "1";
    for (int i = 0; i < n - 3; ++i) v = "[" + v + "]";
    return R"({"principal":{"workspace":"w"},"request":{"model":"m","messages":[],"metadata":{"x":)" + v + "}}}";
  };
  Limits l;
  l.max_input_depth = 10;
  EXPECT_EQ(InputCode(nested(10), l), "ok");
  EXPECT_EQ(InputCode(nested(11), l), "input_too_deep");
}

TEST_F(Limit, DecisionInputMessages) {
  Limits l;
  l.max_messages = 50;
  EXPECT_EQ(InputCode(Messages(50), l), "ok");
  EXPECT_EQ(InputCode(Messages(51), l), "input_too_many_elements");
}

TEST_F(Limit, DecisionInputListElements) {
  auto tools = [](int n) {
    std::string t;
    for (int i = 0; i < n; ++i)
      t += std::string(i ? "," : "") + R"({"type":"function","function":{"name":"f)" + std::to_string(i) + "\"}}";
    return R"({"principal":{"workspace":"w"},"request":{"model":"m","messages":[],"tools":[)" + t + "]}}";
  };
  Limits l;
  l.max_list_elements = 20;
  EXPECT_EQ(InputCode(tools(20), l), "ok");
  EXPECT_EQ(InputCode(tools(21), l), "input_too_many_elements");
}

// --- evaluation ---

// The operand stack limit is enforced when the policy is compiled: the
// bytecode verifier computes every entry point's deepest stack and refuses
// the policy past max_stack (tg_limit_exceeded). At run time the VM's stack
// is sized from that proof, so a compiled policy never overflows it and no
// decision carries a stack error. `"x" in [request.model x n, "y"]` needs
// n + 2 slots.
TEST_F(Limit, OperandStack) {
  auto policy = [](int n, const std::string& where) {
    std::string list;
    for (int i = 0; i < n; ++i) list += "request.model, ";
    std::string in = "\"x\" in [" + list + "\"y\"]";
    return "policy \"p\"\nrule r { " + (where == "when" ? "when " + in + " deny \"x\"" : "require " + in) + " }\n";
  };
  const int n = static_cast<int>(Limits{}.max_stack) - 2;
  Compiled at = CompileSource("at.tg", policy(n, "when"), {});
  ASSERT_NE(at.policy, nullptr) << at.diagnostics.items().at(0).message;
  vm::Record rec;
  runtime::InputError err;
  ASSERT_TRUE(runtime::DecodeInput(R"({"principal":{"workspace":"w"},"request":{"model":"x","messages":[]}})",
                                   at.policy->schema(), {}, &rec, &err))
      << err.message;
  vm::Decision d;
  vm::Evaluate(at.policy->program(), rec, {}, &d);
  EXPECT_EQ(d.outcome, vm::Outcome::kDeny);
  EXPECT_EQ(d.code, "policy_denied");
  EXPECT_TRUE(d.errors.empty());
  for (const char* where : {"when", "require"}) {
    Compiled past = CompileSource("past.tg", policy(n + 1, where), {});
    EXPECT_EQ(past.policy, nullptr) << where;
    ASSERT_TRUE(HasCode(past, "tg_limit_exceeded")) << where;
    EXPECT_NE(past.diagnostics.items().at(0).message.find("stack depth 257 exceeds the limit of 256"),
              std::string::npos)
        << past.diagnostics.items().at(0).message;
  }
  CompileOptions small;
  small.limits.max_stack = 10;
  EXPECT_NE(CompileSource("at.tg", policy(8, "when"), small).policy, nullptr);
  EXPECT_TRUE(HasCode(CompileSource("past.tg", policy(9, "when"), small), "tg_limit_exceeded"));
}

// --- explain output ---

TEST_F(Limit, ExplainValueBytes) {
  Compiled c = CompileSource("t.tg", "policy \"p\"\nrule r { when request.model == \"zzz\" deny \"x\" }\n", {});
  ASSERT_NE(c.policy, nullptr);
  auto shown = [&](size_t n) {
    std::string json = R"({"principal":{"workspace":"w"},"request":{"model":")" + std::string(n, 'a') +
                       R"(","messages":[]}})";
    vm::Record rec;
    runtime::InputError err;
    EXPECT_TRUE(runtime::DecodeInput(json, c.policy->schema(), {}, &rec, &err)) << err.message;
    vm::EvalOptions o;
    o.trace = true;
    vm::Decision d;
    vm::Evaluate(c.policy->program(), rec, o, &d);
    return d.trace.at(0).values.at(0).second;
  };
  const size_t max = Limits{}.max_trace_value_bytes;
  EXPECT_EQ(shown(max), "\"" + std::string(max, 'a') + "\"");
  std::string cut = shown(max + 1);
  EXPECT_EQ(cut, "\"" + std::string(max, 'a') + "... (" + std::to_string(max + 1) + " bytes)\"");
}

}  // namespace
}  // namespace tollgate
