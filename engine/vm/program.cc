// vm::Program accessors and the opcode table expanded from opcodes.def.
#include "engine/vm/program.h"

#include "engine/vm/internal/code.h"

namespace tollgate::vm {

namespace internal {

const OpInfo kOpInfo[static_cast<int>(Op::kCount)] = {
#define X(name, fmt, ctrl, pop, push, jdelta, doc) \
  {#name, OperandFormat::k##fmt, Control::k##ctrl, pop, push, jdelta, doc},
#include "engine/vm/opcodes.def"
#undef X
};

}  // namespace internal

Program::Program(std::unique_ptr<internal::Code> code) : code_(std::move(code)) {}
Program::~Program() = default;

const std::string& Program::name() const { return code_->name; }
const std::string& Program::version_id() const { return code_->version_id; }
const std::vector<RuleInfo>& Program::rules() const { return code_->rules; }
const std::vector<RequireInfo>& Program::require_infos() const { return code_->require_infos; }
const std::vector<BudgetInfo>& Program::budgets() const { return code_->budgets; }
const std::vector<LimitInfo>& Program::limits() const { return code_->limits; }
const std::vector<RedactInfo>& Program::redactions() const { return code_->redactions; }
size_t Program::instruction_count() const { return code_->code.size(); }

int Program::FindRule(std::string_view name) const {
  for (size_t i = 0; i < code_->rules.size(); ++i) {
    if (code_->rules[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

const std::vector<uint32_t>& Program::RuleRequires(uint32_t rule) const {
  return code_->rule_code[rule].require_ids;
}

const std::vector<uint32_t>& Program::RuleRedactions(uint32_t rule) const {
  return code_->rule_code[rule].redacts;
}

}  // namespace tollgate::vm
