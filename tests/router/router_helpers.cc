#include <sstream>

#include "runtime/input/input.h"
#include "tests/router/router_env.h"

namespace tollgate::testing {

std::string Ep(const std::string& id, const std::string& model, const std::string& provider,
               const std::map<std::string, std::string>& set) {
  std::map<std::string, std::string> pricing = {
      {"input_per_mtok", "\"1\""}, {"output_per_mtok", "\"2\""}, {"per_request", "\"0\""}};
  std::map<std::string, std::string> observed = {
      {"latency_p50", "1"}, {"throughput", "50"}, {"uptime", "0.99"}};
  std::map<std::string, std::string> top = {
      {"context_length", "100000"}, {"max_output_tokens", "4096"}, {"jurisdiction", "\"US\""},
      {"region", "\"us-east\""}, {"zdr", "false"}, {"trains_on_data", "false"},
      {"data_collection", "\"allow\""}, {"retention_days", "30"},
      {"quantization", "\"unknown\""},
      {"supported_parameters", "[\"tools\", \"temperature\", \"max_tokens\"]"},
      {"upstream", "{\"base_url\": \"https://x.example/v1\", \"auth\": {\"type\": \"bearer\", "
                   "\"env\": \"X_KEY\"}}"}};
  top["id"] = "\"" + id + "\"";
  top["model"] = "\"" + model + "\"";
  top["provider"] = "\"" + provider + "\"";
  for (const auto& [k, v] : set) {
    if (k == "input") pricing["input_per_mtok"] = v;
    else if (k == "output") pricing["output_per_mtok"] = v;
    else if (k == "per_request") pricing["per_request"] = v;
    else if (k == "latency") observed["latency_p50"] = v;
    else if (k == "throughput") observed["throughput"] = v;
    else if (k == "uptime") observed["uptime"] = v;
    else top[k] = v;
  }
  auto obj = [](const std::map<std::string, std::string>& m) {
    std::string s = "{";
    for (const auto& [k, v] : m) {
      if (v == "<absent>") continue;
      if (s.size() > 1) s += ", ";
      s += "\"" + k + "\": " + v;
    }
    return s + "}";
  };
  top["pricing"] = obj(pricing);
  top["observed"] = obj(observed);
  return obj(top);
}

std::string CatalogOf(const std::vector<std::string>& endpoints) {
  std::string s = "{\"endpoints\": [";
  for (size_t i = 0; i < endpoints.size(); ++i) s += (i ? ", " : "") + endpoints[i];
  return s + "]}";
}

std::string Input(const std::string& model, const std::string& provider, const std::string& extra,
                  const std::string& ws) {
  std::string s = "{\"principal\": {\"workspace\": \"" + ws + "\"}, \"request\": {\"model\": \"" +
                  model + "\", \"messages\": [{\"role\": \"user\", \"content\": \"hello\"}]";
  if (!provider.empty()) s += ", \"provider\": " + provider;
  if (!extra.empty()) s += ", " + extra;
  return s + "}}";
}

bool RouteEnv::Setup(const std::string& policy_src, const std::string& catalog_json,
                     const std::string& accounts_json) {
  Compiled c = CompileSource("test.tg", policy_src, CompileOptions{});
  if (!c.policy) {
    error = c.diagnostics.Render();
    return false;
  }
  policy = c.policy;
  runtime::CatalogError ce;
  if (!runtime::Catalog::Load(catalog_json, policy->schema(), &catalog, &ce)) {
    error = ce.message;
    return false;
  }
  if (!accounts_json.empty()) {
    runtime::AccountsError ae;
    if (!runtime::Accounts::Load(accounts_json, catalog, &accounts, &ae)) {
      error = ae.message;
      return false;
    }
    use_accounts = true;
  }
  return true;
}

std::vector<std::string> RouteEnv::Route(const std::string& input, bool cached) {
  std::vector<std::string> ids;
  runtime::InputError ie;
  if (!runtime::DecodeInput(input, policy->schema(), Limits{}, &request, &ie)) {
    error = ie.code + ": " + ie.message;
    return ids;
  }
  vm::Evaluate(policy->program(), request, {}, &decision);
  runtime::RouteOptions opts;
  opts.use_require_cache = cached;
  auto router =
      runtime::Router::Create(*policy, catalog, use_accounts ? &accounts : nullptr, opts, &error);
  if (!router) return ids;
  router->Route(decision, request, &result);
  for (const auto& e : result.endpoints) ids.push_back(catalog.endpoint(e.endpoint).id);
  return ids;
}

std::vector<std::string> RouteEnv::Eliminated() const {
  std::vector<std::string> out;
  for (const auto& e : result.eliminated) {
    out.push_back(catalog.endpoint(e.endpoint).id + ":" + runtime::ElimCodeName(e.code));
  }
  return out;
}

std::string RouteEnv::CodeOf(const std::string& id) const {
  for (const auto& e : result.eliminated) {
    if (catalog.endpoint(e.endpoint).id == id) return runtime::ElimCodeName(e.code);
  }
  return "";
}

}  // namespace tollgate::testing
