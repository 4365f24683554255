// Deterministic random generators for the differential test and benchmarks:
// well-typed policies as SOURCE TEXT, decision inputs as JSON, and candidate
// endpoint records.
//
//   gen::Rng rng(seed);
//   std::string src = gen::RandomPolicy(rng);    // compiles against the standard schema
//   std::string json = gen::RandomInput(rng);    // decodes with runtime::DecodeInput
//   vm::Record cand; gen::RandomCandidate(rng, schema, &cand);
//
// The generators aim at the corners of the runtime semantics: optional fields
// that are absent (read under `exists` guards or with `??` defaults, so that
// policies check), map lookups with missing keys (defaulted with `??`/get or
// guarded with `in`), a data document with optional members and sets,
// optional sets that read as empty, quantifiers, detectors and requires,
// arithmetic that overflows or divides by zero (the remaining runtime
// errors), strings that hit (and miss) the regexes and detectors the policies
// use, empty and non-empty message lists.
// Same seed, same output (std::mt19937_64 and no unordered iteration).
// Thread safety: none needed; each caller owns its Rng.
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <string_view>

#include "engine/vm/record.h"
#include "stdlib/schema.h"

namespace tollgate::gen {

class Rng {
 public:
  explicit Rng(uint64_t seed) : e_(seed) {}
  // Draws every choice from `below` (a value in [0, n) for n > 0) instead:
  // tests/fuzz feeds the fuzzer's bytes through it (FuzzedDataProvider).
  explicit Rng(std::function<uint64_t(uint64_t n)> below) : below_(std::move(below)) {}
  // Uniform in [0, n).
  uint64_t Below(uint64_t n) { return n == 0 ? 0 : below_ ? below_(n) % n : e_() % n; }
  bool Chance(int percent) { return Below(100) < static_cast<uint64_t>(percent); }
  template <typename T, size_t N>
  const T& Pick(const T (&a)[N]) { return a[Below(N)]; }

 private:
  std::mt19937_64 e_;
  std::function<uint64_t(uint64_t)> below_;
};

struct PolicyShape {
  int min_rules = 1;
  int max_rules = 8;
  int max_depth = 3;   // expression nesting
  bool data = false;   // may declare the data document (see DataDocument)
};

// Policies may declare `data tenants from DataFileName()`: compile them with
// a path in a directory holding that file with DataDocument()'s contents.
std::string RandomPolicy(Rng& rng, const PolicyShape& shape = {});
std::string DataFileName();
std::string DataDocument();
// `model` (when not empty) replaces the random request.model.
std::string RandomInput(Rng& rng, std::string_view model = {});
// Fills one slot per candidate-scoped field of `schema` (some null).
void RandomCandidate(Rng& rng, const stdlib::Schema& schema, vm::Record* out);

// Benchmark policies: `rules` rules, each with a top-level equality test on
// principal.workspace plus a structured condition (no content scan).
std::string StructuredPolicy(int rules);

}  // namespace tollgate::gen
