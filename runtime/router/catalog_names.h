// Provider and model names of a policy checked against the catalog it routes
// over (docs/routing.md, "Names the catalog does not hold").
//
// A policy's names are checked for their spelling when it is compiled
// (tg_name_never_matches: `provider.name == "Azure/Sweden"`), but a name
// spelt right that no endpoint of the catalog holds (`"scalewai"`, `"mistral "`
// in a `route order`, `const banned = {"deep-seek"}` with `require
// provider.name not in banned`) matches nothing: the order orders nothing,
// the ban bans nothing, silently. Once the catalog is known (`tollgate route`,
// `tollgate serve` at every policy load) each such name gets a warning
// tg_name_not_in_catalog at its place in the policy, with the closest name
// the catalog has. Warnings only: a catalog may lack a provider for a while.
//
// Checked: the entries of every `route order` (named as the router matches
// them: a slug in any case, or a base slug naming its variants and tiers),
// and every constant compared by `==`, `!=`, `in`, `not in` or `has` with
// `provider.name` (base slugs), `provider.slug` (full slugs),
// `endpoint.model` (model ids without variant), `provider.region` and
// `endpoint.id` (free text, as the catalog writes them), or a requested model:
// `request.model`, `request.model_full`, an element of `request.models` /
// `request.models_full` (`in`, `has`, or the variable of a quantifier over
// them) -- by its model id, so a variant (`:free`) is legal there. Values read through a data
// document indexed at run time are not known here and are not checked.
// A model id compared so (with `endpoint.model` or a requested model) whose
// dated snapshots the catalog serves (`openai/gpt-4o-2024-08-06` for
// `openai/gpt-4o`) and the constants do not name gets the warning
// tg_model_snapshot_not_named: a ban of the alias lets the snapshots through.
// `provider.region starts_with` / `ends_with` / `contains` a constant (or
// `matches` a pattern) is
// warned when it holds for no region (tg_name_not_in_catalog), or when it
// holds for an endpoint of a country and not for another endpoint of the same
// country (tg_region_not_jurisdiction): region names are each cloud's own
// (`eu-west-2` is London, `fr-par` Paris), so residency written so keeps or
// drops endpoints by their cloud; the help writes `provider.jurisdiction in`.
// Cost: O(names x endpoints), once per policy load (a region part:
// O(endpoints^2), the catalog's size).
#pragma once

#include <string>

#include "engine/core/source.h"
#include "engine/engine.h"
#include "runtime/router/catalog.h"

namespace tollgate::runtime {

// Appends a tg_name_not_in_catalog warning to *out for every name of
// `policy` that names nothing in `catalog` (loaded for the policy's schema),
// and a tg_model_snapshot_not_named one for every model id whose dated
// snapshots the catalog serves unnamed;
// `catalog_path` is named in the messages. Never throws but std::bad_alloc.
void WarnNamesNotInCatalog(const Policy& policy, const Catalog& catalog,
                           const std::string& catalog_path, Diagnostics* out);

}  // namespace tollgate::runtime
