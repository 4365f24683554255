// Every explicit limit of tollgate in one place. Defaults are in the comments
// and in the initialisers; `tollgate --help` and docs/language.md list them.
//
// Exceeding a parse/compile limit is a diagnostic (tg_limit_exceeded);
// exceeding an evaluation limit is a decision error with its own code
// (eval_budget_exceeded) handled by the rule's failure mode; exceeding a
// decoding limit is an input error (input_too_large, input_too_deep).
#pragma once

#include <cstdint>

namespace tollgate {

struct Limits {
  // --- policy source ---
  // 1 MiB: parsing costs ~250 bytes of memory per source byte (ANTLR), and
  // any policy within the limits must load in 512 MiB (docs/limits.md).
  uint32_t max_source_bytes = 1u << 20;       // 1 MiB per policy file
  uint32_t max_nesting_depth = 64;            // expression / type nesting
  uint32_t max_syntax_errors = 50;            // parser stops reporting after this many
  uint32_t max_data_document_bytes = 16u << 20;  // 16 MiB per `data` JSON file
  uint32_t max_regex_program_size = 4096;     // RE2 program size per pattern
  uint32_t max_rules = 100000;
  // Constant folding: the size of one folded value (each element, key and
  // field counts 1, a string 1 + bytes/16; shared parts count every time
  // they appear) and the steps of all folding in a policy.
  uint32_t max_folded_value_size = 1000000;
  uint64_t max_fold_work = 20000000;

  // --- evaluation ---
  // VM instructions per rule: each rule's evaluation (when, tags, effects)
  // and each require/key evaluation gets the whole budget, so one rule's
  // exhaustion fails only that rule; an evaluation runs at most
  // (rules evaluated) x instruction_budget instructions. Rules whose static
  // cost bound exceeds it get the compile warning tg_cost_bound.
  uint64_t instruction_budget = 1000000;      // VM instructions per rule
  // VM operand stack slots of any entry point: checked when the policy is
  // compiled (the bytecode verifier; tg_limit_exceeded), never at run time.
  uint32_t max_stack = 256;

  // --- decision input ---
  uint32_t max_input_bytes = 4u << 20;        // 4 MiB per decision input
  // JSON nesting depth. 128: the JSON schemas of tools and structured
  // outputs nest deeply (OpenAI allows 10 levels of objects; as Pydantic and
  // zod write an optional list of the next level, that is 5 JSON levels per
  // schema level, ~56 in the decision input), and 32 refused them.
  uint32_t max_input_depth = 128;
  uint32_t max_messages = 4096;               // entries of request.messages
  uint32_t max_list_elements = 4096;          // entries of any other list

  // --- deployment files (read capped: never more than the limit is read) ---
  uint32_t max_schema_bytes = 1u << 20;       // 1 MiB --schema document
  uint32_t max_catalog_bytes = 16u << 20;     // 16 MiB --catalog document
  uint32_t max_accounts_bytes = 4u << 20;     // 4 MiB --accounts document

  // --- explain traces (Decision::trace) ---
  uint32_t max_trace_value_bytes = 1024;      // one shown value (longer ones are cut)
  uint32_t max_trace_values = 64;             // values shown per rule
};

}  // namespace tollgate
