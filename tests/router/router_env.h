// Test fixture helpers for the router suite: small catalogs written inline,
// policies compiled from source, decision inputs decoded, routed.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/vm/vm.h"
#include "runtime/router/accounts.h"
#include "runtime/router/catalog.h"
#include "runtime/router/router.h"

namespace tollgate::testing {

// One endpoint as catalog JSON. Defaults: upstream bearer, prices 1/2/0,
// context 100000, max output 4096, US, zdr false, trains false,
// data_collection allow, retention 30, quantization unknown, parameters
// tools+temperature+max_tokens, latency 1, throughput 50, uptime 0.99.
// `set` overrides top-level members with raw JSON; the shorthands `input`,
// `output`, `per_request`, `latency`, `throughput`, `uptime` go to pricing /
// observed.
std::string Ep(const std::string& id, const std::string& model, const std::string& provider,
               const std::map<std::string, std::string>& set = {});
std::string CatalogOf(const std::vector<std::string>& endpoints);

// A decision input for workspace `ws` and model `model`; `provider` is the raw
// JSON of request.provider (may be empty); `extra` raw members of request.
std::string Input(const std::string& model, const std::string& provider = "",
                  const std::string& extra = "", const std::string& ws = "acme");

struct RouteEnv {
  std::shared_ptr<const Policy> policy;
  runtime::Catalog catalog;
  runtime::Accounts accounts;
  bool use_accounts = false;
  vm::Record request;
  vm::Decision decision;
  runtime::RouteResult result;
  std::string error;  // setup failure

  // Compiles `policy_src` (a full policy) and loads the catalog. False with
  // `error` set on failure.
  bool Setup(const std::string& policy_src, const std::string& catalog_json,
             const std::string& accounts_json = "");
  // Decodes, evaluates and routes `input`; returns the routed ids in order
  // (empty on error, with `error` set). `cached` selects the require cache.
  std::vector<std::string> Route(const std::string& input, bool cached = true);
  // "id:code" for every elimination, in order.
  std::vector<std::string> Eliminated() const;
  std::string CodeOf(const std::string& id) const;  // elimination code of an endpoint or ""
};

inline const char* kNoRules = "policy \"none\"\n";

}  // namespace tollgate::testing
