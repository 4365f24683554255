// The values of the enumerated and shaped fields (see field_values.h).
#include "stdlib/field_values.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <string>

#include "engine/core/money.h"

#include "stdlib/names.h"

namespace tollgate::stdlib {
namespace {

// ISO 3166-1 alpha-2, officially assigned codes, sorted.
constexpr std::string_view kCountries =
    "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ "
    "BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM "
    "DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS "
    "GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN "
    "KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ "
    "MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM "
    "PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV "
    "SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI "
    "VN VU WF WS YE YT ZA ZM ZW";

// OpenRouter's quantization names plus the probe-observed ones.
constexpr std::string_view kQuantizations[] = {"int4", "int8",  "fp4",   "fp6",   "fp8",  "fp16",
                                               "bf16", "fp32",  "mxfp4", "nvfp4", "mxfp8",
                                               "unknown"};

using S = Shape;
// INVARIANT: every path is a field of stdlib/schema.json (tests check it).
constexpr ShapedField kShapedFields[] = {
    {"provider.name", S::kBaseProvider, S::kProviderSlug, "provider.slug"},
    {"provider.slug", S::kProviderSlug, S::kProviderSlug, ""},
    {"provider.jurisdiction", S::kAssignedCountry, S::kAssignedCountry, ""},
    {"principal.jurisdiction", S::kAssignedCountry, S::kNone, ""},
    {"provider.data_collection", S::kDataCollection, S::kDataCollection, ""},
    {"endpoint.tier", S::kTier, S::kTier, ""},
    {"endpoint.quantization", S::kQuantization, S::kQuantization, ""},
    {"request.model", S::kModelId, S::kNone, "request.model_full"},
    {"request.models", S::kModelId, S::kNone, "request.models_full"},
    {"endpoint.model", S::kModelId, S::kModelSlug, "endpoint.model_full"},
    {"endpoint.model_full", S::kModelSlug, S::kModelSlug, ""},
    {"request.model_variant", S::kVariant, S::kNone, ""},
    {"endpoint.model_variant", S::kVariant, S::kVariant, ""},
    {"request.variants", S::kVariant, S::kNone, ""},
    {"request.provider.sort", S::kSortBy, S::kNone, ""},
    {"request.provider.sort_partition", S::kSortPartition, S::kNone, ""},
    // Refused by the router otherwise (runtime/router/router.cc), as the sort.
    {"request.service_tier", S::kServiceTier, S::kNone, ""},
    {"request.provider.data_collection", S::kDataCollection, S::kNone, ""},
    {"request.provider.quantizations", S::kQuantization, S::kNone, ""},
    // Lower-cased by the decoder, as the router matches them (any case).
    {"request.provider.only", S::kProviderSlug, S::kNone, ""},
    {"request.provider.order", S::kProviderSlug, S::kNone, ""},
    {"request.provider.ignore", S::kProviderSlug, S::kNone, ""},
    // Lower-cased by the decoder: labels from callers, headers and keys.
    {"context.data_class", S::kLowerText, S::kNone, ""},
    {"context.environment", S::kLowerText, S::kNone, ""},
    {"context.tags", S::kLowerText, S::kNone, ""},
    // Written by the decoder under the parameter's name (ParameterAlias),
    // transport members left out (IsNotParameter).
    {"request.parameters", S::kParameterName, S::kNone, ""},
};

// Body members that are transport or routing options, not model parameters:
// they never go into request.parameters (require_parameters ignores them).
// INVARIANT: sorted (binary search).
constexpr std::string_view kNotParameters[] = {
    "debug", "messages", "metadata", "model", "models", "plugins", "preset", "provider",
    "route", "service_tier", "session_id", "store", "stream", "stream_options", "transforms",
    "usage", "user",
};

constexpr int64_t kNoEnd = INT64_MAX;
constexpr std::string_view kCatalogFigure =
    "the catalog holds no negative figure, and the decoder refuses one in a decision input's "
    "`candidate`";
// INVARIANT: every path is an int, money or decimal field of stdlib/schema.json,
// and the decoder refuses a value outside the range (tests check both).
constexpr FieldRange kFieldRanges[] = {
    {"request.max_tokens", 0, kNoEnd, "the decoder refuses a negative `max_tokens`"},
    {"request.n", 1, kNoEnd, "the decoder refuses an `n` below 1 and reads an absent one as 1"},
    {"request.input_tokens", 0, kNoEnd, "`request.input_tokens` is an estimate of the request's size"},
    {"provider.retention_days", 0, kNoEnd, kCatalogFigure},
    {"endpoint.context_length", 0, kNoEnd, kCatalogFigure},
    {"endpoint.max_output_tokens", 0, kNoEnd, kCatalogFigure},
    {"endpoint.price_input", 0, kNoEnd, kCatalogFigure},
    {"endpoint.price_output", 0, kNoEnd, kCatalogFigure},
    {"endpoint.price_request", 0, kNoEnd, kCatalogFigure},
    {"endpoint.estimated_cost", 0, kNoEnd, "`endpoint.estimated_cost` is computed from the endpoint's prices, none negative"},
    // Seconds, as the catalog's `observed.latency_p50` (at most an hour
    // there): `require endpoint.latency_p50 < 5000` meant milliseconds and
    // keeps every endpoint.
    {"endpoint.latency_p50", 0, 3600 * kMicros,
     "`endpoint.latency_p50` is the observed median latency in seconds, at most 3600 (an hour) as "
     "the catalog's `observed.latency_p50`; the catalog and the decoder refuse anything else",
     /*seconds=*/true},
    // Tokens per second, as the catalog's `observed.throughput` (at most a
    // million there): `require endpoint.throughput > 5000000` rejects every
    // endpoint of a real catalog.
    {"endpoint.throughput", 0, 1000000 * kMicros,
     "`endpoint.throughput` is the observed median output in tokens per second, at most 1000000 as "
     "the catalog's `observed.throughput`; the catalog and the decoder refuse anything else"},
    // A fraction, as the catalog's `observed.uptime` (0.999 is 99.9%): a
    // policy comparing it with a percentage (`>= 99.5`) rejects every
    // endpoint of a real catalog.
    {"endpoint.uptime", 0, kMicros,
     "`endpoint.uptime` is a fraction from 0 to 1, as the catalog's `observed.uptime` (0.999 is "
     "99.9%); the catalog and the decoder refuse anything else"},
};

// INVARIANT: every path is an optional request field of stdlib/schema.json
// of type bool (is_bool) or string, and the router (or the gateway, for
// `stream`) treats the field's absence as this value (tests check the types).
constexpr AbsentMeaning kAbsentMeanings[] = {
    {"request.stream", "false", true, "does not stream"},
    {"request.service_tier", "auto", false, "is routed to the tier its model suffix says, as `auto`"},
    {"request.provider.allow_fallbacks", "true", true, "lets the router try other providers"},
    {"request.provider.require_parameters", "false", true,
     "keeps endpoints that ignore some of its parameters"},
    {"request.provider.zdr", "false", true, "asks for no zero-data-retention endpoint"},
    {"request.provider.data_collection", "allow", false,
     "lets the router use endpoints that collect data"},
};

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  return out;
}

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A variant suffix as SplitModel finds one: a lower-case letter, then
// a-z 0-9 . _ -.
bool IsVariantText(std::string_view v) {
  if (v.empty() || v[0] < 'a' || v[0] > 'z') return false;
  for (char c : v)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
      return false;
  return true;
}

}  // namespace

std::span<const ShapedField> ShapedFields() { return kShapedFields; }

const ShapedField* FindShapedField(std::string_view path) {
  for (const ShapedField& f : kShapedFields)
    if (f.path == path) return &f;
  return nullptr;
}

std::span<const FieldRange> FieldRanges() { return kFieldRanges; }

const FieldRange* FindFieldRange(std::string_view path) {
  for (const FieldRange& f : kFieldRanges)
    if (f.path == path) return &f;
  return nullptr;
}

const AbsentMeaning* FindAbsentMeaning(std::string_view path) {
  for (const AbsentMeaning& m : kAbsentMeanings)
    if (m.path == path) return &m;
  return nullptr;
}

std::string AbsentLiteral(const AbsentMeaning& m) {
  return m.is_bool ? std::string(m.value) : "\"" + std::string(m.value) + "\"";
}

std::string_view ParameterAlias(std::string_view member) {
  if (member == "max_completion_tokens") return "max_tokens";
  if (member == "functions") return "tools";
  if (member == "function_call") return "tool_choice";
  return "";
}

bool IsNotParameter(std::string_view member) {
  return std::binary_search(std::begin(kNotParameters), std::end(kNotParameters), member);
}

bool IsKnownQuantization(std::string_view q) {
  for (std::string_view k : kQuantizations)
    if (k == q) return true;
  return false;
}

// kCountries as a table: bit (b - 'A') of entry a - 'A' is set for code
// "ab" (the decoder checks principal.jurisdiction of every input).
constexpr std::array<uint32_t, 26> kCountryBits = [] {
  std::array<uint32_t, 26> bits{};
  for (size_t i = 0; i + 1 < kCountries.size(); i += 3)
    bits[kCountries[i] - 'A'] |= uint32_t{1} << (kCountries[i + 1] - 'A');
  return bits;
}();

bool IsAssignedCountry(std::string_view cc) {
  if (!IsCountryCode(cc)) return false;
  return (kCountryBits[cc[0] - 'A'] >> (cc[1] - 'A')) & 1;
}

bool Fits(Shape s, std::string_view v) {
  switch (s) {
    case S::kNone: return true;
    case S::kBaseProvider:
      return !v.empty() && IsSlugText(v) && v.find('/') == std::string_view::npos;
    case S::kProviderSlug: return !v.empty() && IsSlugText(v);
    case S::kModelId: return !v.empty() && SplitModel(v).variant.empty();
    case S::kModelSlug: return !v.empty() && SplitModel(SplitModel(v).id).variant.empty();
    case S::kVariant: return v.empty() || IsVariantText(v);
    case S::kCountry: return IsCountryCode(v);
    case S::kAssignedCountry: return IsAssignedCountry(v);
    case S::kDataCollection: return v == "allow" || v == "deny";
    case S::kTier: return v == "standard" || v == "priority" || v == "flex";
    case S::kQuantization: return IsKnownQuantization(v);
    case S::kSortBy: return v == "price" || v == "latency" || v == "throughput";
    case S::kSortPartition: return v == "model" || v == "none";
    case S::kServiceTier: return v == "auto" || v == "default" || v == "flex" || v == "priority";
    case S::kLowerText:
      for (char c : v)
        if (c >= 'A' && c <= 'Z') return false;
      return true;
    case S::kParameterName: return ParameterAlias(v).empty() && !IsNotParameter(v);
  }
  return true;
}

std::string Respell(Shape s, std::string_view v) {
  if (Fits(s, v)) return "";
  std::string_view t = Trim(v);
  std::string r;
  switch (s) {
    case S::kNone: return "";
    case S::kBaseProvider:
    case S::kProviderSlug: r = Lower(t); break;
    case S::kModelId: r = std::string(SplitModel(t).id); break;
    case S::kModelSlug: return "";
    case S::kVariant:
      if (!t.empty() && t[0] == ':') t.remove_prefix(1);
      r = Lower(t);
      break;
    case S::kCountry:
    case S::kAssignedCountry:
      r = Upper(t);
      // The common codes that are not ISO's: the UK's, and the EU's for
      // Greece (VAT numbers, Eurostat).
      if (r == "UK") r = "GB";
      if (r == "EL") r = "GR";
      break;
    case S::kDataCollection:
    case S::kTier:
    case S::kQuantization:
    case S::kSortBy:
    case S::kSortPartition:
    case S::kServiceTier: r = Lower(t); break;
    case S::kLowerText: return Lower(v);  // as the decoder reads it: spaces kept
    case S::kParameterName: return std::string(ParameterAlias(v));  // "" for a transport member
  }
  return Fits(s, r) ? r : "";
}

std::string Describe(Shape s) {
  switch (s) {
    case S::kNone: return "any value";
    case S::kBaseProvider:
      return "a lower-case provider slug without region or tier such as `amazon-bedrock` "
             "(a-z, 0-9, `-`, `.`, `_`)";
    case S::kProviderSlug:
      return "a lower-case provider slug such as `amazon-bedrock/us-east-1` "
             "(a-z, 0-9, `-`, `/`, `.`, `_`)";
    case S::kModelId: return "a model id without a variant suffix such as `openai/gpt-4o`";
    case S::kModelSlug:
      return "a model slug such as `openai/gpt-4o` (at most one variant suffix such as `:free`)";
    case S::kVariant:
      return "a variant suffix without its `:` such as `free` or `nitro` (a lower-case letter, "
             "then a-z, 0-9, `.`, `_`, `-`), or empty";
    case S::kCountry: return "an ISO 3166-1 alpha-2 country code in upper case such as `DE`";
    case S::kAssignedCountry:
      return "an assigned ISO 3166-1 alpha-2 country code in upper case such as `DE`";
    case S::kDataCollection: return "`allow` or `deny`";
    case S::kTier: return "`standard`, `priority` or `flex`";
    case S::kSortBy: return "`price`, `latency` or `throughput`";
    case S::kSortPartition: return "`model` or `none`";
    case S::kServiceTier: return "`auto`, `default`, `flex` or `priority`";
    case S::kLowerText: return "lower case (the decoder lower-cases its ASCII letters)";
    case S::kParameterName:
      return "a model parameter of the body such as `temperature` or `tools`; a transport or "
             "routing member (`stream`, `service_tier`, `user`, `metadata`, ...) is never one: read "
             "`request.stream` or `request.service_tier` instead";
    case S::kQuantization: {
      std::string out = "one of ";
      for (std::string_view q : kQuantizations) {
        if (out.size() > 7) out += ", ";
        out += q;
      }
      return out;
    }
  }
  return "";
}

namespace {

bool Leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

bool ValidDay(int y, int m, int d) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (y < 1 || y > 9999 || m < 1 || m > 12 || d < 1) return false;
  return d <= kDays[m - 1] + (m == 2 && Leap(y) ? 1 : 0);
}

// The numbers of `s` split at `sep`: three runs of 1..4 digits.
bool Parts(std::string_view s, char sep, int out[3], size_t widths[3]) {
  size_t n = 0, i = 0;
  while (n < 3) {
    size_t j = i;
    int v = 0;
    while (j < s.size() && s[j] >= '0' && s[j] <= '9' && j - i < 4) v = v * 10 + (s[j++] - '0');
    if (j == i) return false;
    out[n] = v;
    widths[n++] = j - i;
    if (n == 3) return j == s.size();
    if (j >= s.size() || s[j] != sep) return false;
    i = j + 1;
  }
  return false;
}

std::string Iso(int y, int m, int d) {
  char buf[40];  // any three ints fit (GCC's -Wformat-truncation counts their widest)
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", y, m, d);
  return buf;
}

}  // namespace

bool IsIsoDate(std::string_view s) {
  int v[3];
  size_t w[3];
  return s.size() == 10 && Parts(s, '-', v, w) && w[0] == 4 && w[1] == 2 && w[2] == 2 &&
         ValidDay(v[0], v[1], v[2]);
}

std::string IsoDateOf(std::string_view s) {
  int v[3];
  size_t w[3];
  for (char sep : {'-', '/'})
    if (Parts(s, sep, v, w) && w[0] == 4 && w[1] <= 2 && w[2] <= 2 && ValidDay(v[0], v[1], v[2]))
      return Iso(v[0], v[1], v[2]);
  if (Parts(s, '.', v, w) && w[0] <= 2 && w[1] <= 2 && w[2] == 4 && ValidDay(v[2], v[1], v[0]))
    return Iso(v[2], v[1], v[0]);
  return "";
}

}  // namespace tollgate::stdlib
