// The decision-input decoder frozen before issue 10's speed work
// (input_reference_helpers.cc): the same contract as runtime::DecodeInput and
// DecodeCandidate (runtime/input/input.h), for the equivalence test only.
#pragma once

#include <string_view>

#include "runtime/input/input.h"

namespace tollgate::runtime::testing {

bool DecodeInputReference(std::string_view json, const stdlib::Schema& schema, const Limits& limits,
                          const DecodeOptions& options, vm::Record* out, InputError* err);
bool DecodeCandidateReference(std::string_view json, const stdlib::Schema& schema,
                              const Limits& limits, vm::Record* out, bool* present,
                              InputError* err);

}  // namespace tollgate::runtime::testing
