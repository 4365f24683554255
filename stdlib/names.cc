// Model and provider names (see names.h).
#include "stdlib/names.h"

namespace tollgate::stdlib {

// INVARIANT: `variant` always points into `slug` (empty: at its end), never
// null, so callers may store it as a string Value.
ModelName SplitModel(std::string_view slug) {
  size_t colon = slug.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 >= slug.size()) return {slug, slug.substr(slug.size())};
  size_t slash = slug.rfind('/');
  if (slash != std::string_view::npos && slash > colon) return {slug, slug.substr(slug.size())};
  std::string_view v = slug.substr(colon + 1);
  if (v[0] < 'a' || v[0] > 'z') return {slug, slug.substr(slug.size())};
  for (char c : v) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) return {slug, slug.substr(slug.size())};
  }
  return {slug.substr(0, colon), v};
}

std::string_view ProviderBase(std::string_view slug) {
  size_t slash = slug.find('/');
  return slash == std::string_view::npos ? slug : slug.substr(0, slash);
}

}  // namespace tollgate::stdlib
