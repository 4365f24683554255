// Ledger counters and admissions in audit records (counters.h).
#include "runtime/audit/counters.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <charconv>

#include "engine/core/json_buffer.h"
#include "runtime/decide/budgets.h"
#include "runtime/ledger/ledger.h"

namespace tollgate::audit {
namespace rj = rapidjson;
namespace {

void AppendInt(std::string* out, int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, r.ptr);
}

// A JSON string: as it is when nothing needs escaping (names, most keys).
void AppendString(std::string* out, std::string_view s) {
  bool plain = true;
  for (unsigned char c : s) plain = plain && c >= 0x20 && c != '"' && c != '\\' && c < 0x7f;
  if (plain) {
    *out += '"';
    out->append(s);
    *out += '"';
    return;
  }
  rj::StringBuffer sb;
  rj::Writer<rj::StringBuffer> w(sb);
  w.String(s.data(), static_cast<rj::SizeType>(s.size()));
  out->append(sb.GetString(), sb.GetSize());
}

// Three slots (ast::CounterSlot) as {"key"?, a: .., b: .., c: ..}.
bool AppendCounter(std::string* out, const std::vector<Value>& slots, size_t base,
                   const char* const names[3], const std::string* key) {
  if (base + 3 > slots.size()) return false;
  bool any = false;
  for (int f = 0; f < 3; ++f) any = any || !slots[base + f].is_null();
  if (!any) return false;
  *out += '{';
  bool first = true;
  if (key != nullptr) {
    *out += "\"key\":";
    AppendString(out, *key);
    first = false;
  }
  for (int f = 0; f < 3; ++f) {
    const Value& v = slots[base + f];
    if (v.is_null()) continue;
    if (!first) *out += ',';
    first = false;
    *out += '"';
    *out += names[f];
    *out += "\":";
    AppendInt(out, v.i);
  }
  *out += '}';
  return true;
}

constexpr const char* kBudgetFields[3] = {"spent_micros", "remaining_micros", "limit_micros"};
constexpr const char* kLimitFields[3] = {"used", "remaining", "max"};

const std::string* KeyOf(const runtime::BudgetPlan* plan, bool budget, size_t decl) {
  if (plan == nullptr) return nullptr;
  const auto& ids = budget ? plan->budget_ids : plan->limit_ids;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] != decl) continue;
    if (budget && i < plan->reserve.budgets.size()) return &plan->reserve.budgets[i].key;
    if (!budget && i < plan->reserve.limits.size()) return &plan->reserve.limits[i].key;
  }
  return nullptr;
}

const rj::Value* Member(const rj::Value& v, const char* key) {
  if (!v.IsObject()) return nullptr;
  auto it = v.FindMember(key);
  return it == v.MemberEnd() ? nullptr : &it->value;
}

std::string_view KnownCode(std::string_view code, std::string* storage) {
  for (std::string_view k : {ledger::kCodeBudgetExceeded, ledger::kCodeRateLimited,
                             ledger::kCodeStoreUnavailable, std::string_view(vm::kCodeRuleError)})
    if (code == k) return k;
  *storage = std::string(code);
  return *storage;
}

}  // namespace

std::string RenderCounters(const vm::Program& program, const vm::Counters& counters,
                           const runtime::BudgetPlan* plan) {
  const auto& slots = counters.slots;
  const size_t nb = program.budgets().size(), nl = program.limits().size();
  std::string out;
  out.reserve(32 + 112 * (nb + nl));  // one allocation
  out += counters.unavailable ? "{\"unavailable\":true,\"budgets\":{" : "{\"budgets\":{";
  bool first = true;
  for (size_t i = 0; i < nb; ++i) {
    const size_t base = static_cast<size_t>(ast::CounterSlot(nb, true, i, 0));
    if (base + 3 > slots.size()) break;
    const size_t mark = out.size();
    if (!first) out += ',';
    AppendString(&out, program.budgets()[i].name);
    out += ':';
    if (AppendCounter(&out, slots, base, kBudgetFields, KeyOf(plan, true, i))) first = false;
    else out.resize(mark);
  }
  out += "},\"limits\":{";
  first = true;
  for (size_t i = 0; i < nl; ++i) {
    const size_t base = static_cast<size_t>(ast::CounterSlot(nb, false, i, 0));
    if (base + 3 > slots.size()) break;
    const size_t mark = out.size();
    if (!first) out += ',';
    AppendString(&out, program.limits()[i].name);
    out += ':';
    if (AppendCounter(&out, slots, base, kLimitFields, KeyOf(plan, false, i))) first = false;
    else out.resize(mark);
  }
  out += "}}";
  return out;
}

bool ParseCounters(const vm::Program& program, std::string_view json, vm::Counters* out) {
  rj::Document doc;
  doc.Parse<rj::kParseIterativeFlag>(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsObject()) return false;
  const size_t nb = program.budgets().size(), nl = program.limits().size();
  out->slots.assign(3 * (nb + nl), Value());
  const rj::Value* unavailable = Member(doc, "unavailable");
  if (unavailable != nullptr && !unavailable->IsBool()) return false;
  out->unavailable = unavailable != nullptr && unavailable->GetBool();
  auto fill = [&](const char* group, bool budget, const char* const names[3]) {
    const rj::Value* g = Member(doc, group);
    if (g == nullptr) return true;
    if (!g->IsObject()) return false;
    for (const auto& m : g->GetObject()) {
      std::string_view name(m.name.GetString(), m.name.GetStringLength());
      size_t n = budget ? nb : nl, decl = n;
      for (size_t i = 0; i < n; ++i) {
        const std::string& dn = budget ? program.budgets()[i].name : program.limits()[i].name;
        if (dn == name) decl = i;
      }
      if (decl == n) continue;  // a declaration this version does not have
      const size_t base = static_cast<size_t>(ast::CounterSlot(nb, budget, decl, 0));
      for (int f = 0; f < 3; ++f) {
        const rj::Value* v = Member(m.value, names[f]);
        if (v == nullptr) continue;
        if (!v->IsInt64()) return false;
        out->slots[base + f] = budget ? Value::Money(v->GetInt64()) : Value::Int(v->GetInt64());
      }
    }
    return true;
  };
  return fill("budgets", true, kBudgetFields) && fill("limits", false, kLimitFields);
}

bool RebindCounters(const vm::Program& program, const vm::Record& request, vm::Counters* counters,
                    std::vector<std::string>* changed) {
  runtime::BudgetPlan plan;
  if (!runtime::PlanBudgets(program, request, &plan)) return false;
  const size_t nb = program.budgets().size();
  auto rebind = [&](bool budget, uint32_t decl, int64_t bound) {
    const size_t base = static_cast<size_t>(ast::CounterSlot(nb, budget, decl, 0));
    if (base + 3 > counters->slots.size()) return;
    Value& remaining = counters->slots[base + 1];
    Value& limit = counters->slots[base + 2];
    if (limit.is_null() || limit.i == bound) return;
    // What the ledger counted against the bound: a budget's spent plus its
    // open reservations (limit - remaining), a limit's used.
    const Value& used_slot = counters->slots[base];
    int64_t used = budget ? (remaining.is_null() ? (used_slot.is_null() ? 0 : used_slot.i) : limit.i - remaining.i)
                          : (used_slot.is_null() ? 0 : used_slot.i);
    const int64_t left = bound > used ? bound - used : 0;
    limit = budget ? Value::Money(bound) : Value::Int(bound);
    if (!remaining.is_null()) remaining = budget ? Value::Money(left) : Value::Int(left);
    changed->push_back(budget ? program.budgets()[decl].name : program.limits()[decl].name);
  };
  for (size_t i = 0; i < plan.budget_ids.size() && i < plan.reserve.budgets.size(); ++i)
    rebind(true, plan.budget_ids[i], plan.reserve.budgets[i].limit_micros);
  for (size_t i = 0; i < plan.limit_ids.size() && i < plan.reserve.limits.size(); ++i)
    rebind(false, plan.limit_ids[i], plan.reserve.limits[i].max);
  return true;
}

void WriteAdmission(rj::Writer<rj::StringBuffer>* w, const ledger::Admission& a, bool with_reason,
                    const runtime::BudgetPlan* reserved) {
  auto str = [&](const char* k, std::string_view v) {
    w->Key(k);
    w->String(v.data(), static_cast<rj::SizeType>(v.size()));
  };
  auto charges = [&](const char* k, const auto& list, const char* amount_key, auto name, auto amount) {
    w->Key(k);
    w->StartArray();
    for (const auto& c : list) {
      w->StartObject();
      str("name", name(c));
      str("key", c.key);
      w->Key(amount_key);
      w->Int64(amount(c));
      w->EndObject();
    }
    w->EndArray();
  };
  w->StartObject();
  w->Key("admitted");
  w->Bool(a.admitted());
  if (a.admitted()) {
    w->Key("reservation");
    w->Uint64(a.reservation);
    if (a.unverified) {
      w->Key("unverified");
      w->Bool(true);
    }
    if (reserved) {
      charges("budgets", reserved->reserve.budgets, "reserved_micros",
              [](const ledger::BudgetCharge& b) -> const std::string& { return b.budget; },
              [](const ledger::BudgetCharge& b) { return b.amount_micros; });
      charges("limits", reserved->reserve.limits, "units",
              [](const ledger::LimitCharge& l) -> const std::string& { return l.limit; },
              [](const ledger::LimitCharge& l) { return l.amount; });
    }
  } else {
    if (with_reason) {
      w->Key("status");
      w->Int(a.status());
    }
    str("code", a.code());
    if (with_reason) str("reason", a.message);
    if (!a.name.empty()) {
      str(a.verdict == ledger::Verdict::kBudgetExceeded ? "budget" : "limit", a.name);
      str("key", a.key);
      str("window", a.window);
      str("period", a.window_label);
      // A budget's bound is its "limit", a rate limit's its "max" (as in the
      // counters): a rate limit's name is already under "limit".
      w->Key(a.verdict == ledger::Verdict::kBudgetExceeded ? "limit" : "max");
      w->Int64(a.limit);
      w->Key("remaining");
      w->Int64(a.remaining);
      w->Key("requested");
      w->Int64(a.requested);
    }
    if (a.verdict == ledger::Verdict::kRateLimited) {
      w->Key("retry_after");
      w->Int64(a.retry_after_s);
    }
  }
  w->EndObject();
}

std::string RenderAdmission(const ledger::Admission& a) {
  thread_local ReusedJsonWriter local;  // once per request on the gateway
  rj::Writer<rj::StringBuffer>& w = local.Begin();
  WriteAdmission(&w, a, /*with_reason=*/true, nullptr);
  return local.Take();
}

std::string RenderPlanFailure(const std::string& message, std::string_view stage) {
  rj::StringBuffer sb;
  rj::Writer<rj::StringBuffer> w(sb);
  w.StartObject();
  w.Key("admitted");
  w.Bool(false);
  w.Key("stage");
  w.String(stage.data(), static_cast<rj::SizeType>(stage.size()));
  w.Key("status");
  w.Int(403);
  w.Key("code");
  w.String(vm::kCodeRuleError.data(), static_cast<rj::SizeType>(vm::kCodeRuleError.size()));
  w.Key("reason");
  w.String(message.c_str(), static_cast<rj::SizeType>(message.size()));
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

bool ApplyAdmission(const vm::Program& program, const vm::Record& request, std::string_view json,
                    vm::Decision* d, std::string* storage) {
  if (json.empty() || json == "null") return true;
  rj::Document doc;
  doc.Parse<rj::kParseIterativeFlag>(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsObject()) return false;
  const rj::Value* admitted = Member(doc, "admitted");
  if (admitted == nullptr || !admitted->IsBool()) return false;
  if (admitted->GetBool() || d->outcome != vm::Outcome::kAllow) return true;
  const rj::Value* stage = Member(doc, "stage");
  if (stage != nullptr && stage->IsString() && std::string_view(stage->GetString()) == "plan") {
    // Recomputed, not trusted: the plan is the policy's own doing.
    runtime::BudgetPlan plan;
    if (runtime::PlanBudgets(program, request, &plan)) return true;  // replay shows the difference
    d->outcome = vm::Outcome::kDeny;
    d->status = 403;
    d->code = vm::kCodeRuleError;
    d->reason = plan.error_message;
    return true;
  }
  const rj::Value* status = Member(doc, "status");
  const rj::Value* code = Member(doc, "code");
  const rj::Value* reason = Member(doc, "reason");
  if (status == nullptr || !status->IsInt() || code == nullptr || !code->IsString() ||
      reason == nullptr || !reason->IsString())
    return false;
  d->outcome = vm::Outcome::kDeny;
  d->deny_rule = UINT32_MAX;  // the ledger's deny, no rule's
  d->status = status->GetInt();
  d->code = KnownCode(std::string_view(code->GetString(), code->GetStringLength()), storage);
  d->reason.assign(reason->GetString(), reason->GetStringLength());
  return true;
}

}  // namespace tollgate::audit
