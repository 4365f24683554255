// Issue 6, item 5: a policy made of several files (engine.h CompileSources),
// named conditions (`let`) and the `schema` header.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "check_helpers.h"
#include "engine/engine.h"
#include "engine/vm/vm.h"

namespace tollgate::checktest {
namespace {

Compiled Compose(std::vector<SourceText> files, const CompileOptions& o = {}) {
  return CompileSources(std::move(files), o);
}

const Diagnostic* FindCode(const Diagnostics& d, const std::string& code) {
  for (const Diagnostic& x : d.items())
    if (x.code == code) return &x;
  return nullptr;
}

TEST(Compose, SeveralFilesAreOneProgramWithOneVersion) {
  std::vector<SourceText> files = {
      {"legal.tg", "policy \"acme\"\nrule eu { when principal.jurisdiction == \"DE\" deny \"eu\" }\n"},
      {"finance.tg", "policy \"acme\"\nrule big { when (request.max_tokens ?? 0) > 10 deny 413 \"big\" }\n"},
  };
  Compiled c = Compose(files);
  ASSERT_TRUE(c.policy) << c.diagnostics.Render();
  // Canonical order: by path, whatever order the files came in.
  ASSERT_EQ(c.policy->program().rules().size(), 2u);
  EXPECT_EQ(c.policy->program().rules()[0].name, "big");
  EXPECT_EQ(c.policy->program().rules()[1].name, "eu");
  Compiled reversed = Compose({files[1], files[0]});
  ASSERT_TRUE(reversed.policy);
  EXPECT_EQ(reversed.policy->version_id(), c.policy->version_id());
  // The hash covers every file: changing one changes the version.
  files[0].text += "rule extra { when request.model == \"x\" deny \"x\" }\n";
  Compiled changed = Compose(files);
  ASSERT_TRUE(changed.policy);
  EXPECT_NE(changed.policy->version_id(), c.policy->version_id());
  // One file alone is a different policy.
  Compiled alone = Compose({files[1]});
  ASSERT_TRUE(alone.policy);
  EXPECT_NE(alone.policy->version_id(), c.policy->version_id());
}

TEST(Compose, DuplicateNamesAcrossFilesNameBothLocations) {
  Compiled c = Compose({
      {"a.tg", "policy \"p\"\nconst cap = 5\nrule r { when (request.max_tokens ?? 0) > cap deny \"x\" }\n"},
      {"b.tg", "policy \"p\"\nconst cap = 6\nrule r { deny \"y\" }\n"},
  });
  EXPECT_FALSE(c.policy);
  int dups = 0;
  for (const Diagnostic& d : c.diagnostics.items()) {
    if (d.code != "tg_duplicate_name") continue;
    ++dups;
    ASSERT_NE(d.span.file, nullptr);
    EXPECT_EQ(d.span.file->path, "b.tg");
    EXPECT_NE(d.help.find("in `a.tg` on line"), std::string::npos) << d.help;
    ASSERT_EQ(d.notes.size(), 1u);
    ASSERT_NE(d.notes[0].span.file, nullptr);
    EXPECT_EQ(d.notes[0].span.file->path, "a.tg");
  }
  EXPECT_EQ(dups, 2) << c.diagnostics.Render();
  std::string text = c.diagnostics.Render();
  EXPECT_NE(text.find("a.tg:3:6: note: the first rule `r` is here"), std::string::npos) << text;
}

TEST(Compose, HeadersMustNameTheSamePolicy) {
  Compiled c = Compose({{"a.tg", "policy \"one\"\n"}, {"b.tg", "policy \"two\"\n"}});
  EXPECT_FALSE(c.policy);
  const Diagnostic* d = FindCode(c.diagnostics, "tg_composition_error");
  ASSERT_NE(d, nullptr) << c.diagnostics.Render();
  EXPECT_EQ(d->span.file->path, "b.tg");
  ASSERT_EQ(d->notes.size(), 1u);
  EXPECT_EQ(d->notes[0].span.file->path, "a.tg");
}

TEST(Compose, RetentionIsStatedOnceOrTheSameEverywhere) {
  Compiled one = Compose({{"a.tg", "policy \"p\" retain content hash\n"}, {"b.tg", "policy \"p\"\n"}});
  ASSERT_TRUE(one.policy) << one.diagnostics.Render();
  EXPECT_EQ(one.policy->ast().retain, ast::Retention::kHash);
  Compiled clash = Compose({{"a.tg", "policy \"p\" retain content hash\n"},
                            {"b.tg", "policy \"p\" retain content none\n"}});
  EXPECT_FALSE(clash.policy);
  EXPECT_NE(FindCode(clash.diagnostics, "tg_composition_error"), nullptr) << clash.diagnostics.Render();
}

TEST(Compose, ASyntaxErrorInOneFileIsReportedWithTheOthers) {
  Compiled c = Compose({{"a.tg", "policy \"p\"\nrule { }\n"}, {"b.tg", "policy \"p\"\nrule ok { deny \"x\" }\n"}});
  EXPECT_FALSE(c.policy);
  const Diagnostic* d = FindCode(c.diagnostics, "tg_parse_error");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->span.file->path, "a.tg");
  EXPECT_EQ(c.diagnostics.Render().find("b.tg"), std::string::npos);  // b itself is fine
}

TEST(Lets, ANamedConditionIsWrittenOnceAndInlined) {
  Compiled c = CompileSource("t.tg", R"(policy "lets"
const pilots = {"ws-1", "ws-2"}
let pilot = principal.workspace in pilots
let big = (request.max_tokens ?? 0) > 1000
let pilot_big = pilot and big
rule a { when pilot_big deny "a" }
rule b { when not pilot and big deny "b" }
test "pilot" { given { principal.workspace: "ws-1", request.max_tokens: 5000 } expect fired a expect not_fired b }
test "other" { given { principal.workspace: "ws-9", request.max_tokens: 5000 } expect fired b expect not_fired a }
)",
                               {});
  ASSERT_TRUE(c.policy) << c.diagnostics.Render();
  EXPECT_TRUE(c.diagnostics.empty()) << c.diagnostics.Render();
  // The let was expanded where it is used: rule b's `when` reads the field.
  const ast::Expr& when_b = *c.policy->ast().rules[1].when;
  EXPECT_NE(ast::Dump(when_b).find("(member (name principal) workspace)"), std::string::npos) << ast::Dump(when_b);
}

TEST(Lets, TypeCheckedUnusedWarnedAndDeclaredBeforeUse) {
  Checked c = CheckSource(R"(policy "lets"
let unused = (request.max_tokens ?? 0) > 3
let later = early
let early = true
let wrong = request.model + 1
rule r { when wrong deny "x" }
rule q { when later deny "y" }
)");
  std::string text = c.Render();
  EXPECT_NE(text.find("warning[tg_unused_let]: let `unused` is never used"), std::string::npos) << text;
  EXPECT_NE(text.find("let `early` is used before it is declared"), std::string::npos) << text;
  // The type error inside `wrong` is reported once, at the let.
  size_t first = text.find("error[tg_type_error]");
  ASSERT_NE(first, std::string::npos) << text;
  EXPECT_EQ(text.find("error[tg_type_error]", first + 1), std::string::npos) << text;
  EXPECT_NE(text.find("test.tg:5:"), std::string::npos) << text;
}

TEST(Lets, AQuantifierVariableMayNotCaptureWhatALetReads) {
  Checked c = CheckSource(R"(policy "lets"
const m = "gpt"
let is_m = request.model == m
rule r { when any m in request.models: is_m deny "x" }
)");
  EXPECT_NE(c.Render().find("the quantifier variable `m` hides the `m` that let `is_m` reads"),
            std::string::npos)
      << c.Render();
  // A let's name shares the namespace of consts and data.
  Checked d = CheckSource("policy \"p\"\nconst x = 1\nlet x = 2\nrule r { when x == 1 deny \"x\" }\n");
  EXPECT_NE(d.Render().find("name `x` is already declared"), std::string::npos) << d.Render();
}

TEST(Lets, ExpansionIsBounded) {
  std::string src = "policy \"p\"\nlet a0 = (request.max_tokens ?? 0) > 1\n";
  for (int i = 1; i <= 40; ++i)
    src += "let a" + std::to_string(i) + " = a" + std::to_string(i - 1) + " and a" + std::to_string(i - 1) + "\n";
  src += "rule r { when a40 deny \"x\" }\n";
  Checked c = CheckSource(src);
  EXPECT_FALSE(c.ok);
  EXPECT_NE(c.Render().find("tg_limit_exceeded"), std::string::npos) << c.Render().substr(0, 2000);
}

TEST(Lets, ALetReadingACandidateFieldOnlyInRequire) {
  Checked ok = CheckSource(R"(policy "p"
let eu_provider = provider.jurisdiction in {"DE", "FR"}
rule r { require eu_provider }
)");
  EXPECT_TRUE(ok.ok) << ok.Render();
  Checked bad = CheckSource(R"(policy "p"
let eu_provider = provider.jurisdiction in {"DE", "FR"}
rule r { when eu_provider deny "x" }
)");
  EXPECT_NE(bad.Render().find("tg_scope_error"), std::string::npos) << bad.Render();
}

TEST(ModeWhen, OneRuleShadowForSomeRequestsEnforcedForTheOthers) {
  Compiled c = CompileSource("t.tg", R"(policy "m"
let pilot = principal.workspace in {"ws-1", "ws-2"}
rule long mode shadow when pilot { when 10000 / (request.max_tokens ?? 0) < 100 deny 413 "too long" }
)",
                             {});
  ASSERT_TRUE(c.policy) << c.diagnostics.Render();
  const vm::Program& prog = c.policy->program();
  auto decide = [&](const std::string& ws, const std::string& extra, vm::Decision* d) {
    vm::Record rec;
    rec.slots.assign(c.policy->schema().slot_count(ast::Scope::kRequest), Value::Null());
    auto set = [&](const char* path, Value v) {
      rec.slots[c.policy->schema().field(c.policy->schema().Find(path)).slot] = v;
    };
    set("principal.workspace", Value::StringRef(ws));
    if (extra != "no tokens") set("request.max_tokens", Value::Int(500));
    vm::Evaluate(prog, rec, {}, d);
  };
  vm::Decision d;
  decide("ws-9", "", &d);
  EXPECT_EQ(d.outcome, vm::Outcome::kDeny);
  EXPECT_EQ(d.status, 413);
  EXPECT_EQ(d.fired.size(), 1u);
  decide("ws-1", "", &d);
  EXPECT_EQ(d.outcome, vm::Outcome::kAllow);
  EXPECT_EQ(d.shadow.size(), 1u);
  EXPECT_TRUE(d.fired.empty());
  // An error before the mode is known fails closed: the rule counts as enforced.
  decide("ws-1", "no tokens", &d);
  EXPECT_EQ(d.outcome, vm::Outcome::kDeny);
  EXPECT_EQ(d.code, vm::kCodeRuleError);
}

TEST(ModeWhen, CheckedLikeACondition) {
  Checked c = CheckSource(R"(policy "p"
rule r mode enforce when true { deny "x" }
rule s mode shadow when request.model { deny "x" }
rule t mode shadow when provider.zdr { deny "x" }
)");
  EXPECT_EQ(c.ErrorCodes(), (std::vector<std::string>{"tg_invalid_value", "tg_type_error", "tg_scope_error"}))
      << c.Render();
}

class SchemaHeader : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("tg_schema_header_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_ / "ext");
    Write("ext/cc.json", R"({"fields": [{"path": "principal.cost_center", "type": "string", "scope": "request"}]})");
    Write("ext/cc_int.json", R"({"fields": [{"path": "principal.cost_center", "type": "int", "scope": "request"}]})");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
  }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  std::filesystem::path dir_;
};

TEST_F(SchemaHeader, TheExtensionTravelsWithThePolicy) {
  Write("p.tg", "policy \"p\"\nschema \"ext/cc.json\"\nrule r { when principal.cost_center == \"x\" deny \"x\" }\n");
  Compiled c = CompileFile(Path("p.tg"), {});
  ASSERT_TRUE(c.policy) << c.diagnostics.Render();
  EXPECT_GE(c.policy->schema().Find("principal.cost_center"), 0);
  EXPECT_LT(stdlib::Schema::Standard().Find("principal.cost_center"), 0);
  // The extension's contents are part of the version id.
  Write("ext/cc.json", R"({"fields": [{"path": "principal.cost_center", "type": "string", "scope": "request", "description": "x"}]})");
  Compiled again = CompileFile(Path("p.tg"), {});
  ASSERT_TRUE(again.policy) << again.diagnostics.Render();
  EXPECT_NE(again.policy->version_id(), c.policy->version_id());
  // Without the header the field is unknown, and the help names extensions.
  Write("q.tg", "policy \"p\"\nrule r { when principal.cost_center == \"x\" deny \"x\" }\n");
  Compiled q = CompileFile(Path("q.tg"), {});
  EXPECT_FALSE(q.policy);
  const Diagnostic* d = FindCode(q.diagnostics, "tg_unknown_field");
  ASSERT_NE(d, nullptr) << q.diagnostics.Render();
  EXPECT_NE(d->help.find("schema extension"), std::string::npos) << d->help;
}

TEST_F(SchemaHeader, SameExtensionTwiceIsFineConflictingOnesAreErrors) {
  // Also given by the caller (--schema): identical fields merge.
  stdlib::Schema base = stdlib::Schema::Standard();
  std::string err;
  ASSERT_TRUE(base.AddFromJson(R"({"fields": [{"path": "principal.cost_center", "type": "string", "scope": "request"}]})", &err));
  CompileOptions o;
  o.schema = &base;
  Write("p.tg", "policy \"p\"\nschema \"ext/cc.json\"\nrule r { when principal.cost_center == \"x\" deny \"x\" }\n");
  Compiled same = CompileFile(Path("p.tg"), o);
  EXPECT_TRUE(same.policy) << same.diagnostics.Render();
  Write("c.tg", "policy \"p\"\nschema \"ext/cc.json\"\nschema \"ext/cc_int.json\"\n");
  Compiled conflict = CompileFile(Path("c.tg"), {});
  EXPECT_FALSE(conflict.policy);
  const Diagnostic* d = FindCode(conflict.diagnostics, "tg_schema_error");
  ASSERT_NE(d, nullptr) << conflict.diagnostics.Render();
  EXPECT_NE(d->message.find("already declared as a string"), std::string::npos) << d->message;
  Write("m.tg", "policy \"p\"\nschema \"ext/missing.json\"\n");
  Compiled missing = CompileFile(Path("m.tg"), {});
  EXPECT_FALSE(missing.policy);
  EXPECT_NE(FindCode(missing.diagnostics, "tg_schema_error"), nullptr) << missing.diagnostics.Render();
}

TEST_F(SchemaHeader, EachFileOfAComposedPolicyResolvesItsOwnPaths) {
  std::filesystem::create_directories(dir_ / "finance");
  Write("finance/f.tg", "policy \"p\"\nschema \"../ext/cc.json\"\nrule r { when principal.cost_center == \"x\" deny \"x\" }\n");
  Write("legal.tg", "policy \"p\"\nschema \"ext/cc.json\"\nrule s { when principal.cost_center == \"y\" deny \"y\" }\n");
  Compiled c = CompileFiles({Path("legal.tg"), Path("finance/f.tg")}, {});
  EXPECT_TRUE(c.policy) << c.diagnostics.Render();
}

}  // namespace
}  // namespace tollgate::checktest
