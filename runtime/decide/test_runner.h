// Running a policy's `test` blocks (`tollgate test`).
//
//   test "confidential prompts never reach providers that train" {
//     given { context.data_class: "confidential", request.model: "gpt-4o" }
//     candidate { provider.name: "freetier", provider.trains_on_data: true }
//     expect rejected_by confidential_needs_zdr
//   }
//
// ## The given request
// Each `given` binding is a schema path and a constant (folded by the
// checker). The bindings become a decision-input JSON document (dotted path
// -> nested members) which is decoded exactly like a real request, so tests
// exercise the decoder too. A test's fixture chain (`given NAME { ... }`)
// contributes its bindings first; the checker merges them into
// TestDecl::effective. Required fields of the standard schema left out get
// neutral defaults: principal.workspace = "test", request.model =
// "test-model", request.messages = []. Required fields of a schema extension
// get none: the decoder reports them missing and the test fails, as `eval`
// would reject the request. Derived fields may be given directly:
// `request.content: "..."` becomes one user message when no messages are
// given, and its value (like request.input_tokens or request.parameters)
// overrides the derived slot after decoding. An absent `context.time` is
// kTestClockMs (2026-01-01T12:00:00Z, a Thursday), never the wall clock, so
// tests are reproducible.
//
// ## The candidate
// `candidate` bindings fill a candidate-scope record. Unspecified fields
// that every catalog endpoint has (required in the schema; sets) get neutral
// values ("", 0, false, empty); other unspecified fields are null.
// endpoint.estimated_cost (derived), unless bound, is the router's estimate
// from the bound prices and the request's tokens (DeriveEstimatedCost,
// runtime/router/router.h -- as `eval` computes it for a decision input's
// candidate), else null: never a neutral 0 that passes every cost ceiling.
// Paths are schema paths (`provider.zdr`); a bare `provider` or
// `endpoint` means provider.name / endpoint.id, and a bare field name is
// looked up under provider. then endpoint. The bindings become a decision
// input's `candidate` member, decoded by DecodeCandidate exactly as `eval`
// decodes one: values the catalog never holds are refused (the checker
// already reports most as tg_invalid_value, stdlib/field_values.h: names,
// and numbers out of range such as a negative price), and anything else
// the decoder refuses (names that disagree) fails the test with the
// binding's FILE:LINE:COL. Names are
// completed as the catalog does (runtime/input/candidate_names.h): a full
// slug bound to provider.name sets provider.name to its base and
// provider.slug to the slug; endpoint.model is split into endpoint.model /
// model_full / model_variant. Fields the test binds itself are kept.
//
// ## Expectations
//   allow | deny [status] (not a `rule_error` deny) | code "c" |
//   reason ["contains"] "r" | no_errors | fired a, b (the `when` held, in
//   any mode) | not_fired a, b | rejected_by r (some require of r, enforced
//   for this request, is false for the candidate; an error does not count)
//   | accepted (every enforced require passes) | redacts "replacement" (an
//   enforced redaction placed AND replaced something in request.content) |
//   redacted ["contains"] "t" (request.content after the redactions; fails
//   on a denied request, which sends nothing upstream) | tag k = v (`= null`:
//   no rule set k, or the first to set it tagged an absent value) |
//   route sort|max_price|order ... | warns
//   shadow fired a | shadow rejected_by r | shadow redacts "x": the same
//   about rules in shadow mode for this request (their would-be verdict).
// Expectations about effects judge what production enforces; a rule whose
// evaluation failed neither `fired` nor `not_fired` (the failure names the
// error).
//
// ## Results
// Per test: pass/fail and one readable message per failed expectation.
// Coverage: the rules that fired (in any mode) in no test of the file.
//
// Thread safety: reentrant; the Policy is only read.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/core/limits.h"
#include "engine/engine.h"
#include "runtime/router/catalog.h"

namespace tollgate::runtime {

// The instant a test sees as `context.time` when its `given` has none.
inline constexpr int64_t kTestClockMs = 1767268800000;  // 2026-01-01T12:00:00Z

struct TestResult {
  std::string name;
  std::string file;  // the file the test is in (a policy may be several files)
  uint32_t line = 0;
  bool pass = false;
  std::vector<std::string> failures;  // one per failed expectation (or setup error)
};

struct TestReport {
  std::vector<TestResult> tests;
  std::vector<std::string> unexercised;  // rule names, in rule order
  // Without a catalog: the bare model names (`gpt-4o`) the tests gave, which
  // the gateway would read as the catalog's (`openai/gpt-4o`), each once.
  std::vector<std::string> bare_models;
  int passed = 0;
  int failed = 0;
};

// Runs every test block of `policy` (which must be a compiled policy: tests
// read the checker's folded values). `catalog` (may be null): a bare model
// name a test gives (`request.model: "gpt-4o"`) is read as the catalog's
// model of that name, as the gateway reads it (runtime/router/bare_models.h).
TestReport RunTests(const Policy& policy, const Limits& limits, const Catalog* catalog = nullptr);

// Builds the decision-input JSON of one test's `given` bindings (defaults
// included). Returns false with *error set when a binding is not constant.
bool BuildTestInput(const ast::TestDecl& test, const stdlib::Schema& schema, std::string* json,
                    std::string* error);

}  // namespace tollgate::runtime
