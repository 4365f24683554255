// Internal to engine/vm: the interpreter loop shared by vm.cc (Evaluate,
// EvalRequire, EvalKey). Not part of the public API.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/vm/decision.h"
#include "engine/vm/internal/code.h"

namespace tollgate::vm::internal {

// Per-thread scratch, grown on demand and reused across evaluations, so
// that evaluating allocates nothing once it has grown.
struct Scratch {
  uint64_t epoch = 0;                 // bumped per evaluation
  std::vector<uint64_t> group_epoch;  // scan group g is valid when == epoch
  std::vector<uint8_t> bits;          // per scan pattern: 0 no, 1 yes, 2 yes-unvalidated
  // Per scan group: the digit runs its scan found in the field's text this
  // evaluation (valid when runs_epoch[g] == epoch; not after a scan reused
  // from cache_text), for the card and SSN validators (MatchValidated).
  std::vector<scan::FoundDigitRuns> runs;
  std::vector<uint64_t> runs_epoch;
  std::vector<int> ids;
  std::vector<Value> stack;
  std::vector<Value> locals;
  std::vector<uint32_t> order;        // rules selected by the index, merged
  // StringHash of request slot i's string, computed at most once per
  // evaluation: valid when hash_epoch[i] == epoch (SlotHash).
  std::vector<uint64_t> hash_epoch;
  std::vector<size_t> hash;
  // Memo slots (Code::memos): slot i holds a value of this evaluation when
  // memo_epoch[i] == epoch; memo_null[i] is Frame::null_what for a null one.
  std::vector<uint64_t> memo_epoch;
  std::vector<Value> memo;
  std::vector<std::string_view> memo_null;
  // Scan results kept across EvalRequire calls (one request, many
  // candidates): valid for program `cache_serial` while the field text still
  // equals cache_text[g] byte for byte.
  uint64_t cache_serial = 0;
  std::vector<std::string> cache_text;
  std::vector<uint8_t> cache_ok;
  Arena arena;                        // builtin results outside Evaluate
  bool arena_dirty = false;           // `arena` holds something (Reset before reuse)
};
Scratch& ThreadScratch();

// StringHash(text) of request slot `slot` (whose string is `text`), once per
// evaluation: the rule index, `in` and map lookups of one field share it.
inline size_t SlotHash(Scratch* s, uint32_t slot, std::string_view text) {
  if (s->hash_epoch[slot] != s->epoch) {
    s->hash[slot] = StringHash(text);
    s->hash_epoch[slot] = s->epoch;
  }
  return s->hash[slot];
}
// Prepares `s` for one evaluation of `c` (bumps the epoch, grows buffers).
void BeginEvaluation(const Code& c, Scratch* s);

// A rule chain (vm::Evaluate without a trace): Run starts with the `when`
// of rules[pos]; each time a `when` returns false it goes on, inside the
// same Run, to the `when` of the next rule -- with the full budget and
// Frame::null_what cleared, as a separate Run would -- and returns with the
// first `when` that gives anything else (its value or its error; ran =
// true, pos = that rule), or with ran = false when it reaches the end or a
// rule without `when` (pos = that rule, not run).
struct Chain {
  const uint32_t* rules = nullptr;   // the selected rules, in rule order
  size_t n = 0;
  size_t pos = 0;
  bool ran = true;
  uint64_t full_budget = 0;          // each rule's budget
  uint64_t used = 0;                 // instructions of the rules passed over
};

// One activation of the interpreter.
struct Frame {
  const Code* code = nullptr;
  const Value* req = nullptr;
  uint32_t nreq = 0;
  const Value* cand = nullptr;
  uint32_t ncand = 0;
  const Value* cnt = nullptr;        // vm::Counters (EvalOptions::counters)
  uint32_t ncnt = 0;
  bool cnt_unavailable = false;      // vm::Counters::unavailable
  Scratch* s = nullptr;
  Arena* arena = nullptr;            // results of builtins and container literals
  bool arena_used = false;           // set when an instruction allocated in *arena
  bool reuse_scans = false;          // EvalRequire: reuse scans of an unchanged field text
  uint64_t budget = 0;               // instructions left
  TraceEntry* trace = nullptr;       // non-null: record the fields read
  Chain* chain = nullptr;            // non-null: a `when` that is false goes on to the next rule
  std::string_view null_what;        // what produced the last null (for messages)
  // Set when Run returns false:
  std::string_view err_code;
  std::string err_msg;
};

// Runs the entry point at `pc` to its RET; *out = the returned value.
// Returns false with f->err_code/err_msg set on a runtime error.
bool Run(Frame* f, uint32_t pc, Value* out);

}  // namespace tollgate::vm::internal
