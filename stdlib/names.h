// Model and provider names as the router reads them.
//
// ## Models
// A model slug is `author/name` with an optional variant suffix:
// `openai/gpt-4o:nitro`, `meta-llama/llama-3.1-8b-instruct:free`. The variant
// is the text after the last `:` of the last path segment when it starts
// with a lower-case ASCII letter and holds only `a-z 0-9 . _ -`
// (`:nitro`, `:floor`, `:free`, `:online`, `:thinking`, `:extended`,
// `:beta`, ...). Anything else stays part of the id, so a Bedrock-style id
// `anthropic.claude-3-sonnet-20240229-v1:0` has no variant.
//
//   SplitModel("openai/gpt-4o:floor") == {"openai/gpt-4o", "floor"}
//   SplitModel("openai/gpt-4o")       == {"openai/gpt-4o", ""}
//
// Policies see the canonical id in `request.model`, `request.models` and
// `endpoint.model`, so a ban on `openai/gpt-4o` also bans every variant; the
// slug as written is in `request.model_full` / `request.models_full` /
// `endpoint.model_full` and the suffix in `request.model_variant` /
// `endpoint.model_variant` (docs/decision-input.md). The decoder refuses a
// request slug whose id still has a variant after the split (`m:free:nitro`),
// so a canonical id in a request never carries one.
//
// ## Providers
// A provider slug is `base` or `base/variant` (regions, service tiers:
// `amazon-bedrock/us-east-1`, `google-vertex/europe`, `openai/priority`).
// ProviderBase is the part before the first `/`: the name that `ignore`
// matches every variant of. Policies see it in `provider.name`; the full
// slug is `provider.slug`.
//
// Cost: O(length), no allocation (results point into the argument).
// Thread safety: pure functions.
#pragma once

#include <string_view>

namespace tollgate::stdlib {

struct ModelName {
  std::string_view id;       // canonical: without the variant suffix
  std::string_view variant;  // without the `:`; empty when none
};

// Splits a model slug into its canonical id and variant (rules above).
ModelName SplitModel(std::string_view slug);

// The base slug of a provider slug: "amazon-bedrock/us-east-1" -> "amazon-bedrock".
std::string_view ProviderBase(std::string_view slug);

// True for a jurisdiction as the catalog and the decision input hold it: an
// ISO 3166-1 alpha-2 code in upper case ("DE").
inline bool IsCountryCode(std::string_view s) {
  return s.size() == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z';
}

// True when every character of `s` is one a provider slug holds: lower-case
// ASCII letters, digits, `-`, `/`, `.` and `_` (the catalog refuses any
// other: `DeepSeek`, `amazon-bedrock ` are no slugs). True for "".
inline bool IsSlugText(std::string_view s) {
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '/' || c == '.' ||
          c == '_'))
      return false;
  return true;
}

}  // namespace tollgate::stdlib
