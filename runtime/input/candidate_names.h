// Provider and model names of a candidate record, completed as the catalog
// fills them (stdlib/names.h).
//
// A catalog endpoint gives a policy its provider as `provider.name` (the base
// slug, "amazon-bedrock") and `provider.slug` (the full one,
// "amazon-bedrock/us-east-1"), and its model as `endpoint.model` (the
// canonical id, "openai/gpt-4o"), `endpoint.model_full` (the slug as written,
// "openai/gpt-4o:nitro") and `endpoint.model_variant` ("nitro"). A candidate
// the caller names itself -- a test block's `candidate { ... }`, the decision
// input's `candidate` member -- gives one name per field, often the full one
// in `provider.name` / `endpoint.model`. CompleteCandidateNames derives the
// others from it, so `require provider.name not in {"amazon-bedrock"}` and
// `require endpoint.model != "openai/gpt-4o"` judge such a candidate as the
// router judges the catalog's endpoints:
//
//   provider.name "amazon-bedrock/us-east-1" -> provider.name "amazon-bedrock",
//                                               provider.slug "amazon-bedrock/us-east-1"
//   endpoint.model "openai/gpt-4o:nitro"     -> endpoint.model "openai/gpt-4o",
//                                               endpoint.model_full "openai/gpt-4o:nitro",
//                                               endpoint.model_variant "nitro"
//
// A field the caller gave itself (`given(slot)`) is kept, except that
// provider.name becomes its base and endpoint.model its canonical id; when
// only provider.slug (endpoint.model_full) is given, provider.name
// (endpoint.model) is derived from it. Fields missing from the schema are
// skipped. Strings point into the ones already in the record.
//
// Cost: O(length of the names), no allocation. Thread safety: pure.
#pragma once

#include <functional>

#include "engine/vm/record.h"
#include "stdlib/schema.h"

namespace tollgate::runtime {

void CompleteCandidateNames(const stdlib::Schema& schema, const std::function<bool(int slot)>& given,
                            vm::Record* candidate);

}  // namespace tollgate::runtime
