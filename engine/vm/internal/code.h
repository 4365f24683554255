// The inside of a vm::Program: bytecode, pools, scan groups and the rule
// index. Written once by compile::Compile, then only read (by the VM, the
// verifier and the disassembler). Not part of the public API.
//
// Thread safety: immutable after Compile returns.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <re2/re2.h>

#include "engine/core/value.h"
#include "engine/vm/decision.h"
#include "engine/vm/program.h"
#include "engine/vm/scan.h"

namespace tollgate::vm::internal {

// --- the instruction set (expanded from opcodes.def) ---
enum class Op : uint8_t {
#define X(name, fmt, ctrl, pop, push, jdelta, doc) k##name,
#include "engine/vm/opcodes.def"
#undef X
  kCount
};

enum class OperandFormat : uint8_t {
  kNONE,    // no operands
  kK,       // A = constant index
  kREQ,     // A = request slot
  kCAND,    // A = candidate slot
  kLOC,     // A = local slot
  kPAT,     // A = pattern index
  kSCAN,    // A = scan group, B = pattern index within the group
  kCALL,    // A = builtin id, B = argument count
  kMEMBER,  // A = record field index, B = name index (for messages)
  kKEY,     // A = constant index of the key string, B = name index
  kN,       // B = operand count
  kMAP,     // A = constant index of the key list, B = operand count
  kJMP,     // A = jump target
  kNEXT,    // A = jump target, B = local slot
  kCNT,     // A = counter slot (ast::CounterSlot)
  kMEMO,    // B = memo slot; MEMO: A = jump target (after the matching STMEMO)
  kREQK,    // A = constant index, B = request slot
};
enum class Control : uint8_t { kSEQ, kCOND, kGOTO, kRET };

struct OpInfo {
  const char* name;
  OperandFormat format;
  Control control;
  int8_t pop;      // -1: B operands
  int8_t push;
  int8_t jump_delta;
  const char* doc;
};
// Indexed by Op.
extern const OpInfo kOpInfo[static_cast<int>(Op::kCount)];

// INVARIANT: B fits in 24 bits; every emitter checks it.
struct Instr {
  uint32_t opb = 0;  // op in the low 8 bits, B above
  uint32_t a = 0;
  Op op() const { return static_cast<Op>(opb & 0xffu); }
  uint32_t b() const { return opb >> 8; }
  static Instr Make(Op op, uint32_t a = 0, uint32_t b = 0) {
    Instr i;
    i.opb = static_cast<uint32_t>(op) | (b << 8);
    i.a = a;
    return i;
  }
};
static_assert(sizeof(Instr) == 8, "instructions are 8 bytes");
inline constexpr uint32_t kMaxB = (1u << 24) - 1;
inline constexpr uint32_t kNoEntry = UINT32_MAX;

// A pattern used by MATCH (a `matches` outside a scan group).
struct Pattern {
  std::string text;             // the regex (the detector's regex for detectors)
  std::string display;          // detector name or the regex
  int detector = -1;
  std::unique_ptr<re2::RE2> re;
};

// One pattern of a scan group.
struct ScanPattern {
  // kCaseless: `lower(f) contains "k"` / `upper(f) contains "K"`, the
  // constant's letters in either case (vm::CaselessPattern), bytes compared
  // as `contains` compares them (no JSON escapes read through).
  enum Kind : uint8_t { kRegex, kDetector, kLiteral, kCaseless } kind = kRegex;
  std::string text;             // regex / literal / caseless constant as written, or detector name
  int detector = -1;
  std::unique_ptr<re2::RE2> confirm;  // detectors with a validator: finds the matches to validate
};

// Every constant `matches` / `contains` on one request string field.
struct ScanGroup {
  uint32_t slot = 0;            // request slot of the field
  std::string path;             // "request.content"
  uint32_t base = 0;            // first bit of this group in the per-evaluation scratch
  std::vector<ScanPattern> patterns;
  std::unique_ptr<Scanner> scanner;
};

// kMessage: a deny or warn message with `{...}` holes, rendered when the rule fires.
// kModeWhen: the condition of `mode shadow when C`.
enum class EntryKind : uint8_t {
  kWhen, kRequire, kTag, kBudgetKey, kLimitKey, kMessage, kModeWhen, kBudgetWhen, kBudgetLimit, kLimitWhen, kLimitMax,
};
struct Entry {
  EntryKind kind = EntryKind::kWhen;
  uint32_t owner = 0;           // rule / budget / limit id
  uint32_t index = 0;           // require id, tag index within the rule, ...
  uint32_t begin = 0, end = 0;  // code range [begin, end)
  uint32_t max_depth = 0;       // computed by the verifier
  uint64_t cost = 0;            // static instruction bound
};

struct TagCode {
  std::string key;
  uint32_t pc = kNoEntry;
  int32_t konst = -1;           // constant index when the value is folded (no code run)
};

struct RuleCode {
  uint32_t when = kNoEntry;     // entry pc; kNoEntry = always fires
  // `mode shadow when C`: entry pc of C (RuleInfo::mode where C holds,
  // enforce elsewhere); kNoEntry = RuleInfo::mode always.
  uint32_t mode_when = kNoEntry;
  bool has_deny = false;
  int status = 403;
  std::string reason;
  uint32_t reason_pc = kNoEntry;    // a reason with holes: its kMessage entry
  std::vector<uint32_t> require_ids;  // Program require ids
  std::vector<uint32_t> redacts;    // indices into Code::redactions
  bool has_route = false;
  SortBy sort = SortBy::kNone;
  int64_t max_request_cost = -1, max_prompt = -1, max_completion = -1, max_request = -1;
  std::vector<std::string> order;
  std::vector<TagCode> tags;
  std::vector<std::string> warnings;
  std::vector<uint32_t> warning_pc;  // parallel to warnings: kMessage entry or kNoEntry
  // The warning an advisory rule adds when it fires (its first warning, else
  // its deny reason, else a fixed text); rendered when that message has holes.
  std::string advisory_warning;
  bool rendered = false;            // some message has holes (reason_pc / warning_pc)
};

// A memo slot: one pure lookup (request fields, constants, data documents,
// member / key / index; no locals, counters, calls or candidate fields)
// that appears more than once in the entries one vm::Evaluate runs. Its code
// stays inline at every use, between MEMO and STMEMO.
// INVARIANT: that code is straight-line and its instruction count,
// MEMO/STMEMO excluded, is `cost`; its result, when null, leaves
// Frame::null_what naming the last lookup (what a MEMO hit restores).
struct Memo {
  uint32_t cost = 0;
  std::string text;             // source text of the first use, for listings
  uint32_t uses = 0;            // emitted uses
};

// Rules indexed by the value of one request string field.
struct IndexField {
  uint32_t slot = 0;
  std::string path;
  std::unordered_map<std::string_view, std::vector<uint32_t>, SvHash, SvEq> by_value;  // sorted ids
  StrTable<const std::vector<uint32_t>*> lookup;  // by_value for vm::Evaluate (built last)
  std::vector<uint32_t> on_null;    // `in`-indexed rules: they must run (and error) on null
};

struct Code {
  uint64_t serial = 0;              // unique per compiled program (scan caches key on it)
  std::string name;
  std::string version_id;
  std::vector<Instr> code;
  std::vector<uint32_t> lines;      // source line per instruction
  Arena arena;                      // constants and data documents
  std::vector<Value> constants;
  std::vector<std::string> names;   // member names / source text for messages
  std::vector<Pattern> patterns;
  std::vector<ScanGroup> groups;
  std::vector<Memo> memos;          // M[i] of MEMO / STMEMO
  uint32_t scan_bits = 0;           // total patterns over all groups
  std::vector<Entry> entries;

  std::vector<RuleInfo> rules;
  std::vector<RuleCode> rule_code;
  std::vector<RequireInfo> require_infos;
  std::vector<uint32_t> require_pc;
  std::vector<RedactInfo> redactions;
  std::vector<BudgetInfo> budgets;
  std::vector<uint32_t> budget_pc;        // key entry per budget
  std::vector<uint32_t> budget_when_pc;   // kNoEntry: applies to every request
  std::vector<uint32_t> budget_limit_pc;  // kNoEntry: BudgetInfo::limit_micros
  std::vector<LimitInfo> limits;
  std::vector<uint32_t> limit_pc;
  std::vector<uint32_t> limit_when_pc;
  std::vector<uint32_t> limit_max_pc;     // kNoEntry: LimitInfo::max

  std::vector<IndexField> index;
  std::vector<uint32_t> unindexed;  // sorted rule ids evaluated for every request

  std::vector<std::string> request_paths;    // by request slot
  std::vector<std::string> candidate_paths;  // by candidate slot
  std::vector<std::string> counter_paths;    // by counter slot: "budget.ws_daily.spent", ...
  // Schema types by slot (same sizes as the paths): traces render record
  // values with their field names (ToJson(v, type)).
  std::vector<Type> request_types;
  std::vector<Type> candidate_types;
  uint32_t max_depth = 0;           // deepest operand stack of any entry
  uint32_t max_locals = 0;
  const void* builtins = nullptr;   // stdlib::Builtins().data()
};

// Checks jump targets, stack depths (consistent at every pc, within
// `max_stack`), and constant/slot/pattern/builtin indices; fills
// Entry::max_depth and Code::max_depth. Returns false with *error set.
bool Verify(Code* code, uint32_t max_stack, std::string* error);

// One instruction rendered for listings and debug traces.
std::string FormatInstr(const Code& code, uint32_t pc);

}  // namespace tollgate::vm::internal
