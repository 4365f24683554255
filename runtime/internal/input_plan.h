// Internal to the decision-input decoder (runtime/input.cc) and its DOM
// reference (input_dom.h): the per-schema decoding plan, the checks every
// decoder makes on the raw text before parsing, and the number conversions.
// Nothing here is API; see runtime/input.h for the contract.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/core/json_text.h"
#include "engine/core/limits.h"
#include "engine/core/value.h"
#include "engine/vm/record.h"
#include "runtime/input.h"
#include "stdlib/schema.h"

namespace tollgate::runtime::internal {

enum class Special : uint8_t {
  kNone,
  kMessages,  // request.messages: content parts, null assistant content
  kTools,     // request.tools: OpenAI tool objects -> names
  kSort,      // request.provider.sort: "price" or {"by": "price"}
  kPercentile,  // preferred_max_latency / _min_throughput: n or {"p50": n, "p90": m, ...}
  kIgnore,    // tolerated but not in the schema (provider.max_price.image)
};

struct Node {
  std::string name;
  std::string path;  // dotted schema path
  bool is_object = false;
  bool strict = true;  // unknown members are errors
  bool is_body = false;  // the top-level request body (collects parameters)
  int slot = -1;
  Type type;
  Special special = Special::kNone;
  bool non_negative = false;  // request.max_tokens: a negative value is input_invalid_value
  bool not_parameter = false;  // a body member that is not a model parameter (kNotParameters)
  std::vector<Node> kids;
  // alias member name -> index into kids (max_completion_tokens)
  std::vector<std::pair<std::string, int>> aliases;
};

struct Plan {
  Node root;
  int n_slots = 0;
  struct Req { int slot; std::string path; };
  std::vector<Req> required;
  std::vector<std::pair<int, Kind>> empties;  // slots defaulting to empty set/list
  std::vector<int> clock_slots;  // time slots filled from the clock when absent
  int content_slot = -1, tokens_slot = -1, params_slot = -1, messages_slot = -1;
  int partition_slot = -1;  // request.provider.sort_partition, from provider.sort.partition
  // Model names (stdlib/names.h): request.model / request.models are decoded
  // as sent, then split into canonical ids and the derived *_full / variant fields.
  int model_slot = -1, models_slot = -1;
  int model_full_slot = -1, model_variant_slot = -1, models_full_slot = -1, variants_slot = -1;
};

// Offset of the first byte that is not well-formed UTF-8 (overlongs,
// surrogates and code points above U+10FFFF included), or npos.
size_t FindInvalidUtf8(std::string_view s);

// An empty set or list (static storage).
Value EmptyOf(Kind k);

// Whether a top-level body member is a transport or routing option rather
// than a model parameter (never in request.parameters).
bool IsReservedBodyMember(std::string_view n);

// The plan of `schema` (request scope, or the `candidate` member), built on
// first use and cached per thread (keyed by Schema::id()).
const Plan& PlanFor(const stdlib::Schema& schema, bool candidate);

// The JSON path of the value starting at byte `offset` of `json`
// ("request.metadata.x", "request.messages[2]"), from a SAX pass over the
// text before it. Only for error messages (rare): costs O(offset).
std::string PathAt(std::string_view json, size_t offset);

// Exact decimal text ("-1.25e3") -> micros, rounded half-even at 6 digits.
// Returns false on overflow.
bool NumberToMicros(std::string_view t, int64_t* out);

enum class IntText { kOk, kFraction, kRange };
// Exact decimal text ("12", "1.0", "2e3", "1.5") -> int64. kFraction when the
// value is not integral, kRange when it does not fit in int64.
IntText IntegralFromText(std::string_view t, int64_t* out);

// What a value of type `t` looks like, for "must be ..." messages.
const char* Want(const Type& t);

// At most `n` bytes of `s`, cut at a UTF-8 character boundary.
std::string_view Clip(std::string_view s, size_t n);
// `s` in backticks, clipped to 64 bytes ("...`" when clipped).
std::string Quoted(std::string_view s);

// The checks made on the raw text before any parse, in this order: a leading
// byte order mark is dropped from *json; input_too_large, input_invalid_utf8,
// input_malformed_json (a NUL byte), input_invalid_utf8 (a lone surrogate
// escape). Returns false with *err filled.
bool PreCheck(std::string_view* json, const Limits& limits, InputError* err);

// Numbers beyond double range found by the parser (json_text.h MaskNumberAt).
struct HugeNumbers {
  struct At { size_t offset, length; };
  At at[kMaxHugeNumbers];
  size_t n = 0;
};

// The error of a parse that failed or stopped (`result_code`/`result_offset`
// from rapidjson, 0 = no error; `end` = bytes consumed), in the order the
// decoders report them: input_too_deep, too many numbers beyond range,
// input_malformed_json. Returns false (with *err filled) on an error.
bool CheckParse(std::string_view json, const Limits& limits, bool too_deep, int result_code,
                size_t result_offset, size_t end, const HugeNumbers& huge, InputError* err);

// The index of `content` in the message record type (-1 without messages).
int ContentIndex(const stdlib::Schema& schema, const Plan& plan);

// The derived fields, once the slots are decoded: request.content (message
// texts joined with "\n", `content_index` from ContentIndex),
// request.input_tokens, request.parameters (from `params`, the body member
// names), and the model names (names.h). `join` is scratch.
void DeriveFields(const Plan& plan, int content_index, std::vector<Value> params,
                  std::string* join, vm::Record* rec);

// Fills absent clock fields (context.time) and Record::time.
void FillClock(const Plan& plan, const DecodeOptions& options, vm::Record* out);

}  // namespace tollgate::runtime::internal
