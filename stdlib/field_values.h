// The values of the enumerated and shaped fields of the standard schema.
//
// Some decision-input fields hold a few words only, or one spelling of a
// name. The catalog refuses any other (runtime/router/catalog.cc), the
// decoder refuses them in a decision input's `candidate` member and the
// checker in a test's `candidate` block (both read ShapedField::candidate),
// and the checker warns when a policy compares a field with a value it never
// holds (engine/check/names.cc, tg_name_never_matches: ShapedField::holds).
// The one table, kShapedFields in field_values.cc:
//
//   field                               holds                            e.g.
//   provider.name                       a base provider slug             deepseek
//   provider.slug                       a provider slug                  azure/sweden
//   provider.jurisdiction               an assigned ISO 3166-1 alpha-2   DE
//   principal.jurisdiction              an assigned ISO 3166-1 alpha-2   DE
//   provider.data_collection            allow | deny
//   endpoint.tier                       standard | priority | flex
//   endpoint.quantization               int4 | int8 | fp8 | ... | unknown
//   request.model, request.models,      a model id without its variant   openai/gpt-4o
//     endpoint.model
//   endpoint.model_full                 a model slug, at most one variant openai/gpt-4o:free
//   request.model_variant, endpoint.model_variant,
//     request.variants                  a variant without the `:`        free
//   request.provider.sort               price | latency | throughput
//   request.provider.sort_partition     model | none
//   request.service_tier                auto | default | flex | priority
//   request.provider.data_collection    allow | deny
//   request.provider.quantizations      int4 | int8 | fp8 | ... | unknown
//   request.provider.only, .order,      a lower-case provider slug       deepseek
//     .ignore
//   context.data_class, .environment,   lower-case text                  confidential
//     .tags
//   request.parameters                  a body member that is a model    temperature
//                                       parameter, as endpoints list it
//
// The request.provider.* preferences (OpenRouter's) other than
// sort_partition, and request.service_tier, are not checked by the decoder
// but by the router: a request with another value (`"sort": "cheapest"`,
// `"INT4"`, `"service_tier": "Flex"`) is refused (route_invalid_preference), so a rule comparing them with one only ever
// sees requests that are refused anyway. `order`, `only` and `ignore` are
// lower-cased (ASCII) by the decoder, as the router matches them in any
// case, so `"DeepSeek"` there never matches. `context.data_class`,
// `environment` and `tags` are labels the decoder lower-cases too (a caller's
// `x-tollgate-data-class: Confidential` is the `confidential` a ZDR rule
// tests), so `"Confidential"` there never matches either.
//
// Slugs are lower case (a-z 0-9 - / . _); words and quantizations too;
// country codes upper case. Variants and model ids follow stdlib/names.h.
//
//   Fits(Shape::kQuantization, "INT4")    == false
//   Respell(Shape::kQuantization, "INT4") == "int4"
//   Respell(Shape::kVariant, ":free")     == "free"
//
// Cost: O(length of the value). Thread safety: pure functions, constant table.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace tollgate::stdlib {

enum class Shape : uint8_t {
  kNone,
  kBaseProvider,     // a provider slug without region or tier (no `/`)
  kProviderSlug,     // a non-empty lower-case slug (IsSlugText)
  kModelId,          // a non-empty model id without a variant suffix
  kModelSlug,        // a non-empty model slug with at most one variant suffix
  kVariant,          // a variant suffix without its `:` ("" for none)
  kCountry,          // two upper-case ASCII letters (IsCountryCode)
  kAssignedCountry,  // an officially assigned ISO 3166-1 alpha-2 code
  kDataCollection,   // allow | deny
  kTier,             // standard | priority | flex
  kQuantization,     // a known quantization name
  kSortBy,           // price | latency | throughput
  kSortPartition,    // model | none
  kServiceTier,      // auto | default | flex | priority (OpenAI's service_tier)
  kLowerText,        // any text without an upper-case ASCII letter (lower-cased labels)
  kParameterName,    // a body member as request.parameters names it (ParameterAlias, IsNotParameter)
};

struct ShapedField {
  std::string_view path;  // schema path
  // What the field holds once decoded: the values a policy compares it with.
  // For a list or set field, what its elements hold.
  Shape holds;
  // What the decoder demands of the field in a `candidate` (the decision
  // input's, a test block's): a value the catalog would refuse is
  // input_invalid_value. kNone for request fields.
  Shape candidate;
  // The field holding the full name (provider.slug for provider.name,
  // request.model_full for request.model), or "".
  std::string_view full;
};

// The table row of the schema field `path`, or null when its values have no
// shape (a schema extension's fields never have one).
const ShapedField* FindShapedField(std::string_view path);
// Every row, in table order.
std::span<const ShapedField> ShapedFields();

// True when `v` is a value of shape `s` (always true for kNone).
bool Fits(Shape s, std::string_view v);

// The value of shape `s` that `v` was evidently meant to be: `v` with its
// case, surrounding spaces or a leading `:` of a variant fixed (`INT4` ->
// `int4`, `de` -> `DE`, `:Free` -> `free`, `UK` -> `GB`). "" when no such
// value fits, or when `v` already does.
std::string Respell(Shape s, std::string_view v);

// What a value of shape `s` must be, for messages ("`allow` or `deny`",
// "one of int4, int8, ..."): the text after "must be" in the decoder's and
// the catalog's errors.
std::string Describe(Shape s);

// The values a number field of the standard schema can hold, as far as
// the decoder and the catalog enforce them: both ends included, in the
// field's units (ints as they are, money and decimals in micros), INT64_MAX
// as `hi` for no upper end. The checker reports a comparison with a constant
// that can never hold over them (tg_unreachable_comparison: `request.n < 1`,
// `endpoint.price_input < 0 usd`). The table, kFieldRanges in
// field_values.cc, lists only what is refused elsewhere:
//
//   request.max_tokens      0..    the decoder refuses a negative one
//   request.n               1..    the decoder refuses less (absent: 1)
//   request.input_tokens    0..    derived: an estimate of the request's size
//   provider.retention_days, endpoint.context_length, endpoint.max_output_tokens,
//   endpoint.price_input, _output, _request, endpoint.estimated_cost,
//   endpoint.throughput
//                           0..    the catalog refuses a negative one, and so
//                                  does the decoder in a decision input's
//                                  `candidate` (the catalog's narrower bounds,
//                                  context_length >= 1 or throughput <= 10^6,
//                                  are not enforced there, so not claimed)
//   endpoint.uptime         0..1   a fraction (0.999 is 99.9%): the catalog
//                                  and the candidate decoder refuse more
//   endpoint.latency_p50    0..3600  seconds (an hour at most, as in the
//                                  catalog): the candidate decoder refuses
//                                  more; `< 5000` is milliseconds misread
//
// Other number fields (request.temperature, the caller's max_price
// preferences) are not checked by the decoder and have no range here:
// temperature is 0..2 for OpenAI but 0..1 for Anthropic and unbounded for
// some OpenAI-compatible servers, so the gateway passes any value on, and a
// rule guarding it (`request.temperature > 2`) does see requests above 2.
struct FieldRange {
  std::string_view path;  // schema path
  int64_t lo;
  int64_t hi;
  std::string_view why;   // "the decoder refuses a negative `request.max_tokens`"
  // A figure in seconds (endpoint.latency_p50): a number above `hi` that
  // fits as milliseconds gets the help "write `0.5` for 500 ms".
  bool seconds = false;
};

// The range of the standard schema field `path`, or null when none is
// enforced (a schema extension's fields never have one).
const FieldRange* FindFieldRange(std::string_view path);
// Every row, in table order.
std::span<const FieldRange> FieldRanges();

// What a request that leaves an optional field out asks for, where the
// gateway gives that a meaning: OpenAI's API streams only when `stream` is
// true, OpenRouter's router allows fallbacks unless `allow_fallbacks` is
// false, and so on (the router reads these fields so: runtime/router). Such
// a field compared with that very value (`request.stream == false`) or
// defaulted to another (`request.provider.allow_fallbacks ?? false`) reads
// a request that leaves it out unlike one that sends what it means: the
// checker warns (tg_absent_means_default) and its help for an unguarded read
// writes this value as the default. The table, kAbsentMeanings in
// field_values.cc:
//
//   request.stream                       false    no streaming
//   request.service_tier                 "auto"   the tier the model suffix says
//   request.provider.allow_fallbacks     true     other providers after `order`
//   request.provider.require_parameters  false
//   request.provider.zdr                 false    (an account may still demand it)
//   request.provider.data_collection     "allow"  (an account may still deny it)
//
// request.temperature is not listed: its default is the upstream's (1 for
// OpenAI, other values elsewhere), not the gateway's.
struct AbsentMeaning {
  std::string_view path;   // schema path of an optional bool or string field
  std::string_view value;  // what absence means: `true` / `false`, or the string
  bool is_bool;
  std::string_view what;   // "does not stream"
};
// The row of the schema field `path`, or null when absence means nothing
// the gateway defines (a schema extension's fields never have one).
const AbsentMeaning* FindAbsentMeaning(std::string_view path);
// The value as a policy writes it: `false`, `"allow"`.
std::string AbsentLiteral(const AbsentMeaning& m);

// request.parameters: the names of the body's model parameters, as
// endpoints list them in `supported_parameters` (what require_parameters
// compares). The decoder writes an alias under the parameter it stands for
// and leaves out the members that are no model parameter, so a policy
// comparing request.parameters with one of those never matches
// (`"functions" in request.parameters`: Shape::kParameterName).
//
// The parameter the body member `member` stands for: `max_tokens` for
// `max_completion_tokens`, `tools` for the deprecated `functions`,
// `tool_choice` for `function_call`; "" for any other member.
std::string_view ParameterAlias(std::string_view member);
// True for a body member that is a transport, routing or metadata option,
// never a model parameter: `debug`, `messages`, `metadata`, `model`,
// `models`, `plugins`, `preset`, `provider`, `route`, `service_tier`,
// `session_id`, `store`, `stream`, `stream_options`, `transforms`, `usage`,
// `user`. Cost: O(log n).
bool IsNotParameter(std::string_view member);

// The catalog's quantization names, in its order ("int4", ..., "unknown").
bool IsKnownQuantization(std::string_view q);
// ISO 3166-1 alpha-2 codes, officially assigned, upper case ("DE"; not "UK", "EU").
bool IsAssignedCountry(std::string_view cc);

// What `date(t)` / `date(t, zone)` returns: a calendar day `yyyy-mm-dd`,
// zero-padded, that exists (2026-02-29 does not; the year 0001..9999).
bool IsIsoDate(std::string_view s);
// The `yyyy-mm-dd` spelling of a day written `yyyy-m-d`, `yyyy/mm/dd` or
// `dd.mm.yyyy` (one or two digits for day and month); "" when `s` is not
// one of those or names no day (so `12/25/2026`, ambiguous, gets none).
std::string IsoDateOf(std::string_view s);

}  // namespace tollgate::stdlib
