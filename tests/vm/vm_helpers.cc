#include "tests/vm/vm_helpers.h"

#include <gtest/gtest.h>

#include "stdlib/schema.h"


namespace tollgate::vmtest {

namespace {
std::string Wrap(const std::string& body) {
  return body.rfind("policy", 0) == 0 ? body : "policy \"t\"\n" + body;
}
}  // namespace

// The standard schema with every field present (required): the opcode tests
// read absent fields on purpose to reach the VM's defensive null checks,
// which the checker keeps checked policies from reaching (tg_unguarded_optional).
const stdlib::Schema& AllPresentSchema() {
  static const stdlib::Schema* schema = [] {
    auto* s = new stdlib::Schema();
    for (stdlib::FieldDef f : stdlib::Schema::Standard().fields()) {
      f.required = true;
      f.slot = -1;
      std::string err;
      if (!s->Add(f, &err)) ADD_FAILURE() << err;
    }
    return s;
  }();
  return *schema;
}

std::shared_ptr<const Policy> CompileChecked(const std::string& body) {
  Compiled c = CompileSource("test.tg", Wrap(body), CompileOptions{});
  EXPECT_TRUE(c.policy != nullptr) << c.diagnostics.Render() << "\n" << body;
  return c.policy;
}

std::string CheckedErrors(const std::string& body) {
  Compiled c = CompileSource("test.tg", Wrap(body), CompileOptions{});
  return c.policy ? std::string() : c.diagnostics.Render();
}

std::shared_ptr<const Policy> Compile(const std::string& body, const Limits& limits) {
  CompileOptions o;
  o.limits = limits;
  o.schema = &AllPresentSchema();
  Compiled c = CompileSource("test.tg", Wrap(body), o);
  EXPECT_TRUE(c.policy != nullptr) << c.diagnostics.Render() << "\n" << body;
  return c.policy;
}

std::string CompileErrors(const std::string& body, const Limits& limits) {
  CompileOptions o;
  o.limits = limits;
  o.schema = &AllPresentSchema();
  Compiled c = CompileSource("test.tg", Wrap(body), o);
  return c.policy ? std::string() : c.diagnostics.Render();
}

Builder::Builder(ast::Scope scope) : scope_(scope), rec_(std::make_unique<vm::Record>()) {
  rec_->slots.assign(stdlib::Schema::Standard().slot_count(scope), Value());
  // Absent sets/lists are empty, as DecodeInput makes them.
  for (const stdlib::FieldDef& f : stdlib::Schema::Standard().fields()) {
    if (f.scope != scope) continue;
    if (f.type.is(Kind::kSet)) rec_->slots[f.slot] = rec_->arena.MakeSet({});
    if (f.type.is(Kind::kList)) rec_->slots[f.slot] = rec_->arena.MakeList({});
  }
}

int Builder::Slot(const std::string& path) {
  int id = stdlib::Schema::Standard().Find(path);
  EXPECT_GE(id, 0) << path;
  if (id < 0) return 0;
  const stdlib::FieldDef& f = stdlib::Schema::Standard().field(id);
  EXPECT_EQ(f.scope, scope_) << path;
  return f.slot;
}

Builder& Builder::Raw(const std::string& path, Value v) {
  rec_->slots[Slot(path)] = v;
  return *this;
}
Builder& Builder::Str(const std::string& path, const std::string& v) { return Raw(path, rec_->arena.String(v)); }
Builder& Builder::Int(const std::string& path, int64_t v) { return Raw(path, Value::Int(v)); }
Builder& Builder::Bool(const std::string& path, bool v) { return Raw(path, Value::Bool(v)); }
Builder& Builder::Money(const std::string& path, int64_t v) { return Raw(path, Value::Money(v)); }
Builder& Builder::Dec(const std::string& path, int64_t v) { return Raw(path, Value::Decimal(v)); }
Builder& Builder::Set(const std::string& path, const std::vector<std::string>& v) {
  std::vector<Value> items;
  for (const auto& s : v) items.push_back(rec_->arena.String(s));
  return Raw(path, rec_->arena.MakeSet(std::move(items)));
}
Builder& Builder::Messages(const std::vector<std::pair<std::string, std::string>>& msgs) {
  std::vector<Value> items;
  std::string content;
  for (const auto& [role, text] : msgs) {
    items.push_back(rec_->arena.MakeRecord({rec_->arena.String(role), rec_->arena.String(text), Value()}));
    if (!content.empty()) content += "\n";
    content += text;
  }
  Raw("request.messages", rec_->arena.MakeList(std::move(items)));
  return Str("request.content", content);
}

Builder Request() {
  Builder b(ast::Scope::kRequest);
  b.Str("principal.workspace", "ws").Str("request.model", "m").Messages({});
  return b;
}
Builder Candidate() { return Builder(ast::Scope::kCandidate); }

std::unique_ptr<vm::Decision> Eval(const Policy& p, const vm::Record& req, bool trace) {
  auto d = std::make_unique<vm::Decision>();
  vm::EvalOptions o;
  o.trace = trace;
  vm::Evaluate(p.program(), req, o, d.get());
  return d;
}

std::vector<std::string> Names(const Policy& p, const std::vector<uint32_t>& rules) {
  std::vector<std::string> out;
  for (uint32_t r : rules) out.push_back(p.program().rules()[r].name);
  return out;
}

}  // namespace tollgate::vmtest
