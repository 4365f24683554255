// Field-by-field comparison and rendering of decisions (reference.h).
#include <sstream>
#include <string>
#include <vector>

#include "tests/differential/reference.h"

namespace tollgate::ref {
namespace {

template <typename T, typename F>
std::string List(const std::vector<T>& v, F f) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += ", ";
    s += f(v[i]);
  }
  return s + "]";
}

std::string Id(uint32_t x) { return std::to_string(x); }

std::string RuleName(const ast::Policy& p, uint32_t r) {
  return r < p.rules.size() ? p.rules[r].name : "#" + std::to_string(r);
}

bool IsAdvisory(const ast::Policy& p, uint32_t r) {
  return r < p.rules.size() && p.rules[r].mode == ast::Mode::kAdvisory;
}

struct Fields {
  std::vector<std::pair<std::string, std::string>> items;
  void Add(std::string k, std::string v) { items.emplace_back(std::move(k), std::move(v)); }
};

Fields Collect(const vm::Decision& d, const ast::Policy& p) {
  Fields f;
  f.Add("outcome", d.outcome == vm::Outcome::kDeny ? "deny" : "allow");
  f.Add("status", std::to_string(d.status));
  f.Add("code", std::string(d.code));
  // A rule error's reason is the fixed public text (never the message).
  f.Add("reason", d.reason);
  f.Add("time", d.time ? std::to_string(*d.time) + (d.time_from_clock ? " clock" : " input") : "-");
  f.Add("deny_rule", d.outcome == vm::Outcome::kDeny ? RuleName(p, d.deny_rule) : "-");
  auto name = [&](uint32_t r) { return RuleName(p, r); };
  f.Add("fired", List(d.fired, name));
  f.Add("shadow", List(d.shadow, name));
  f.Add("advisory", List(d.advisory, name));
  auto req = [&](const vm::RequireRef& r) { return RuleName(p, r.rule) + "/" + Id(r.require); };
  f.Add("requires", List(d.require_refs, req));
  f.Add("shadow_requires", List(d.shadow_requires, req));
  f.Add("redactions", List(d.redactions, [&](const vm::Redaction& r) {
          return RuleName(p, r.rule) + "/" + Id(r.effect) + " `" + std::string(r.pattern) +
                 "` as `" + std::string(r.replacement) + "`";
        }));
  f.Add("route.sort", std::to_string(static_cast<int>(d.route.sort)));
  f.Add("route.max", std::to_string(d.route.max_request_cost) + "/" +
                         std::to_string(d.route.max_prompt) + "/" +
                         std::to_string(d.route.max_completion) + "/" +
                         std::to_string(d.route.max_request));
  f.Add("route.order", List(d.route.order, [](std::string_view s) { return std::string(s); }));
  f.Add("route.rules", List(d.route.rules, name));
  f.Add("tags", List(d.tags, [&](const vm::Tag& t) {
          return RuleName(p, t.rule) + ":" + std::string(t.key) + "=" + ToJson(t.value);
        }));
  // An advisory rule's own warning text is the VM's choice; compare the rule.
  f.Add("warnings", List(d.warnings, [&](const vm::Warning& w) {
          return RuleName(p, w.rule) +
                 (IsAdvisory(p, w.rule) ? std::string() : ":" + std::string(w.message));
        }));
  f.Add("errors", List(d.errors, [&](const vm::RuleError& e) {
          return RuleName(p, e.rule) + ":" + std::string(e.code);
        }));
  return f;
}

}  // namespace

std::string Diff(const vm::Decision& ref, const vm::Decision& vm, const ast::Policy& policy) {
  Fields a = Collect(ref, policy), b = Collect(vm, policy);
  std::string out;
  for (size_t i = 0; i < a.items.size(); ++i)
    if (a.items[i].second != b.items[i].second)
      out += a.items[i].first + ": ref " + a.items[i].second + "  vm " + b.items[i].second + "\n";
  return out;
}

std::string Render(const vm::Decision& d, const ast::Policy& policy) {
  std::string out;
  for (const auto& [k, v] : Collect(d, policy).items) out += "  " + k + ": " + v + "\n";
  for (const vm::RuleError& e : d.errors)
    out += "  error " + RuleName(policy, e.rule) + ": " + e.message + "\n";
  return out;
}

}  // namespace tollgate::ref
