// Helpers for the VM tests: compile policy text, build request/candidate
// records by field path, evaluate.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/engine.h"
#include "engine/vm/record.h"
#include "engine/vm/vm.h"
#include "stdlib/schema.h"

namespace tollgate::vmtest {

// Compiles `body` (prefixed with `policy "t"` unless it starts with
// "policy"); fails the current test with the diagnostics on error. It checks
// against AllPresentSchema(): the standard fields (same slots), all marked
// required, so that opcode tests may read absent fields and reach the VM's
// defensive null checks (eval_missing_field).
std::shared_ptr<const Policy> Compile(const std::string& body, const Limits& limits = Limits{});
// Diagnostics of a failed compile ("" when it compiled).
std::string CompileErrors(const std::string& body, const Limits& limits = Limits{});
const stdlib::Schema& AllPresentSchema();
// The same against the standard schema (optional fields must be guarded).
std::shared_ptr<const Policy> CompileChecked(const std::string& body);
std::string CheckedErrors(const std::string& body);

// A record builder. Set() takes a schema path and a value built in the
// record's arena with the helpers below.
class Builder {
 public:
  explicit Builder(ast::Scope scope);
  Builder& Str(const std::string& path, const std::string& v);
  Builder& Int(const std::string& path, int64_t v);
  Builder& Bool(const std::string& path, bool v);
  Builder& Money(const std::string& path, int64_t micros);
  Builder& Dec(const std::string& path, int64_t micros);
  Builder& Set(const std::string& path, const std::vector<std::string>& v);
  // request.messages from (role, content) pairs; also fills request.content.
  Builder& Messages(const std::vector<std::pair<std::string, std::string>>& msgs);
  Builder& Raw(const std::string& path, Value v);
  vm::Record& record() { return *rec_; }
  std::unique_ptr<vm::Record> Take() { return std::move(rec_); }

 private:
  int Slot(const std::string& path);
  ast::Scope scope_;
  std::unique_ptr<vm::Record> rec_;
};

// A request with the required fields set (workspace "ws", model "m", no messages).
Builder Request();
Builder Candidate();

std::unique_ptr<vm::Decision> Eval(const Policy& p, const vm::Record& req, bool trace = false);
std::vector<std::string> Names(const Policy& p, const std::vector<uint32_t>& rules);

}  // namespace tollgate::vmtest
