// The DOM-based decision-input decoder that runtime/input.cc replaced (a
// rapidjson Document, then a walk over it guided by the plan). It is kept
// only as the reference of the differential test (tests/runtime/
// input_differential_test.cc: both decoders agree on records and errors)
// and as the baseline of the decoder benchmarks; nothing else calls it.
// Same contract as runtime::DecodeInput / DecodeCandidate (input.h).
#pragma once

#include <string_view>

#include "runtime/input.h"

namespace tollgate::runtime::internal {

bool DecodeInputDom(std::string_view json, const stdlib::Schema& schema, const Limits& limits,
                    const DecodeOptions& options, vm::Record* out, InputError* err);
bool DecodeCandidateDom(std::string_view json, const stdlib::Schema& schema, const Limits& limits,
                        vm::Record* out, bool* present, InputError* err);

}  // namespace tollgate::runtime::internal
