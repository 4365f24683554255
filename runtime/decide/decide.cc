// Shared decide-and-render path (see decide.h).
#include "runtime/decide/decide.h"

#include <rapidjson/document.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "engine/vm/vm.h"
#include "runtime/decide/decision_json.h"
#include "runtime/router/router.h"

namespace tollgate::runtime {

bool Decide(const Policy& policy, std::string_view input, const Limits& limits, bool trace,
            const Router* router, DecideScratch* s, InputError* err) {
  if (!DecodeInput(input, policy.schema(), limits, &s->request, err)) return false;
  s->has_candidate = false;
  // A candidate needs a second parse; most inputs have none.
  if (MentionsCandidate(input) &&
      !DecodeCandidate(input, policy.schema(), limits, &s->candidate, &s->has_candidate, err)) {
    return false;
  }
  // endpoint.estimated_cost from the candidate's prices, as the router computes it.
  if (s->has_candidate) DeriveEstimatedCost(policy.schema(), s->request, &s->candidate);
  vm::EvalOptions opts;
  opts.trace = trace;
  opts.instruction_budget = limits.instruction_budget;
  vm::Evaluate(policy.program(), s->request, opts, &s->decision);
  if (s->has_candidate) vm::CheckCandidate(policy.program(), s->request, s->candidate, opts, &s->decision);
  if (router) {
    router->Route(s->decision, s->request, &s->route);
    ApplyRoute(s->route, &s->decision);
  }
  return true;
}

namespace {

template <typename Emit>
std::string Render(bool pretty, Emit emit) {
  rapidjson::StringBuffer sb;
  if (pretty) {
    rapidjson::PrettyWriter<rapidjson::StringBuffer> w(sb);
    w.SetIndent(' ', 2);
    emit(w);
  } else {
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    emit(w);
  }
  return std::string(sb.GetString(), sb.GetSize());
}

template <typename W>
void Begin(W& w, const RenderOptions& o) {
  w.StartObject();
  if (!o.decision_id.empty()) {
    w.Key("decision_id");
    w.String(o.decision_id.data(), static_cast<rapidjson::SizeType>(o.decision_id.size()));
  }
}

// The router renders its arrays as JSON text; re-emitting them through the
// writer indents them like the decision members.
template <typename W>
void Member(W& w, const char* key, const std::string& json) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseNumbersAsStringsFlag>(json.data(), json.size());
  w.Key(key);
  doc.Accept(w);
}

}  // namespace

std::string RenderEval(const Policy& policy, const vm::Decision& d, const RenderOptions& o,
                       const std::string* redacted_request) {
  return Render(o.pretty, [&](auto& w) {
    Begin(w, o);
    WriteDecisionMembers(&w, d, policy.program(), o.explain);
    if (redacted_request) {
      w.Key("redacted_request");
      w.RawValue(redacted_request->data(), redacted_request->size(), rapidjson::kObjectType);
    }
    w.EndObject();
  });
}

std::string RenderRoute(const Policy& policy, const Router& router, const DecideScratch& s,
                        const RenderOptions& o, const std::string* redacted_request) {
  const Catalog& catalog = router.catalog();
  return Render(o.pretty, [&](auto& w) {
    Begin(w, o);
    WriteDecisionMembers(&w, s.decision, policy.program(), o.explain);
    Member(w, "endpoints", EndpointsJson(catalog, s.route));
    if (o.explain) {
      Member(w, "eliminated", EliminatedJson(catalog, policy.program(), s.route, false, &s.request));
      Member(w, "shadow_eliminated",
             EliminatedJson(catalog, policy.program(), s.route, true, &s.request));
    }
    if (redacted_request) {
      w.Key("redacted_request");
      w.RawValue(redacted_request->data(), redacted_request->size(), rapidjson::kObjectType);
    }
    w.EndObject();
  });
}

}  // namespace tollgate::runtime
