// Account defaults: loading and tightening. See accounts.h.
#include "runtime/router/accounts.h"


#include <rapidjson/document.h>

#include <algorithm>
#include <fstream>
#include <new>
#include <sstream>

#include "engine/core/limits.h"
#include "engine/core/money.h"
#include "engine/core/source.h"
#include "runtime/router/catalog.h"
#include "runtime/router/internal/load_file.h"
#include "stdlib/names.h"

namespace tollgate::runtime {

namespace {

namespace rj = rapidjson;

struct Ctx {
  std::string where;  // "default" or "workspace `acme`"
  std::string path;   // JSON path of the entry: "default", "workspaces.acme"
  AccountsError* error;
  std::vector<Accounts::ProviderEntry>* entries;  // every only / ignore entry, in file order
  bool Fail(std::string_view field, const std::string& what) {
    error->code = "accounts_invalid";
    error->message = where + ": field `" + std::string(field) + "` " + what;
    return false;
  }
};

bool StringList(Ctx* c, const rj::Value& v, std::string_view field, std::vector<std::string>* out) {
  if (!v.IsArray()) return c->Fail(field, "must be a list of strings");
  for (const rj::Value& s : v.GetArray()) {
    if (!s.IsString() || s.GetStringLength() == 0) {
      return c->Fail(field, "must be a list of non-empty strings");
    }
    out->emplace_back(s.GetString(), s.GetStringLength());
  }
  std::sort(out->begin(), out->end());
  out->erase(std::unique(out->begin(), out->end()), out->end());
  return true;
}

bool Price(Ctx* c, const rj::Value& obj, const char* name, int64_t* out) {
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd()) return true;
  std::string field = std::string("max_price.") + name;
  if (!it->value.IsString()) return c->Fail(field, "must be a number or a decimal string");
  std::string_view text(it->value.GetString(), it->value.GetStringLength());
  std::optional<int64_t> m = ParseMicros(text);
  if (!m) return c->Fail(field, "must be an exact decimal, got `" + std::string(text) + "`");
  if (*m < 0) return c->Fail(field, "must not be negative, got `" + std::string(text) + "`");
  *out = *m;
  return true;
}

// Notes the entries of a provider list (already checked to be non-empty
// strings) for CheckProviders, with their JSON paths.
void NoteProviders(Ctx* c, const rj::Value& list, std::string_view field, bool ignore) {
  unsigned i = 0;
  for (const rj::Value& s : list.GetArray()) {
    c->entries->push_back({std::string(s.GetString(), s.GetStringLength()), c->where,
                           c->path + "." + std::string(field) + "[" + std::to_string(i++) + "]",
                           ignore});
  }
}

bool ParsePrefs(Ctx* c, const rj::Value& v, AccountPrefs* p) {
  if (!v.IsObject()) return c->Fail("(account)", "must be an object");
  for (auto m = v.MemberBegin(); m != v.MemberEnd(); ++m) {
    std::string_view k(m->name.GetString(), m->name.GetStringLength());
    const rj::Value& x = m->value;
    if (k == "only") {
      std::vector<std::string> list;
      if (!StringList(c, x, k, &list)) return false;
      NoteProviders(c, x, k, false);
      p->has_only = true;
      p->only.push_back(std::move(list));
    } else if (k == "ignore") {
      if (!StringList(c, x, k, &p->ignore)) return false;
      NoteProviders(c, x, k, true);
    } else if (k == "zdr") {
      if (!x.IsBool()) return c->Fail(k, "must be true or false");
      p->zdr = x.GetBool();
    } else if (k == "data_collection") {
      std::string_view w = x.IsString() ? std::string_view(x.GetString(), x.GetStringLength()) : "";
      if (w != "allow" && w != "deny") {
        return c->Fail(k, "must be `allow` or `deny`, got `" + std::string(w) + "`");
      }
      p->deny_data_collection = w == "deny";
    } else if (k == "max_price") {
      if (!x.IsObject()) return c->Fail(k, "must be an object {prompt, completion, request}");
      for (auto pm = x.MemberBegin(); pm != x.MemberEnd(); ++pm) {
        std::string_view pk(pm->name.GetString(), pm->name.GetStringLength());
        if (pk != "prompt" && pk != "completion" && pk != "request") {
          return c->Fail("max_price." + std::string(pk), "is not a known field (prompt, completion, request)");
        }
      }
      if (!Price(c, x, "prompt", &p->max_prompt) || !Price(c, x, "completion", &p->max_completion) ||
          !Price(c, x, "request", &p->max_request)) {
        return false;
      }
    } else if (k == "quantizations") {
      std::vector<std::string> list;
      if (!StringList(c, x, k, &list)) return false;
      for (const std::string& q : list) {
        if (!IsKnownQuantization(q)) return c->Fail(k, "has an unknown quantization `" + q + "`");
      }
      p->quantizations.push_back(std::move(list));
    } else if (k == "sort") {
      std::string_view w = x.IsString() ? std::string_view(x.GetString(), x.GetStringLength()) : "";
      if (!ParseSortWord(w, &p->sort)) {
        return c->Fail(k, "must be `price`, `latency` or `throughput`, got `" + std::string(w) + "`");
      }
    } else {
      return c->Fail(k, "is not a known account field");
    }
  }
  return true;
}

int64_t MinPrice(int64_t a, int64_t b) {
  if (a < 0) return b;
  if (b < 0) return a;
  return std::min(a, b);
}

}  // namespace

bool ParseSortWord(std::string_view word, vm::SortBy* out) {
  if (word == "price") *out = vm::SortBy::kPrice;
  else if (word == "latency") *out = vm::SortBy::kLatency;
  else if (word == "throughput") *out = vm::SortBy::kThroughput;
  else return false;
  return true;
}

void AccountPrefs::Tighten(const AccountPrefs& o) {
  has_only = has_only || o.has_only;
  only.insert(only.end(), o.only.begin(), o.only.end());
  ignore.insert(ignore.end(), o.ignore.begin(), o.ignore.end());
  std::sort(ignore.begin(), ignore.end());
  ignore.erase(std::unique(ignore.begin(), ignore.end()), ignore.end());
  zdr = zdr || o.zdr;
  deny_data_collection = deny_data_collection || o.deny_data_collection;
  max_prompt = MinPrice(max_prompt, o.max_prompt);
  max_completion = MinPrice(max_completion, o.max_completion);
  max_request = MinPrice(max_request, o.max_request);
  quantizations.insert(quantizations.end(), o.quantizations.begin(), o.quantizations.end());
  if (o.sort != vm::SortBy::kNone) sort = o.sort;
}

bool Accounts::LoadUnguarded(std::string_view json, Accounts* out, AccountsError* error) {
  out->default_ = AccountPrefs();
  out->workspaces_.clear();
  out->providers_.clear();
  rj::Document doc;
  if (!internal::ParseJsonText(json, &doc, &error->message)) {
    error->code = "accounts_invalid";
    return false;
  }
  auto fail = [&](const std::string& msg) {
    error->code = "accounts_invalid";
    error->message = msg;
    return false;
  };
  if (!doc.IsObject()) return fail("the accounts file must be a JSON object");
  for (auto m = doc.MemberBegin(); m != doc.MemberEnd(); ++m) {
    std::string_view k(m->name.GetString(), m->name.GetStringLength());
    if (k != "default" && k != "workspaces" && k != "description") {
      return fail("unknown top-level accounts field `" + std::string(k) + "`");
    }
  }
  if (auto it = doc.FindMember("default"); it != doc.MemberEnd()) {
    Ctx c{"default", "default", error, &out->providers_};
    if (!ParsePrefs(&c, it->value, &out->default_)) return false;
  }
  if (auto it = doc.FindMember("workspaces"); it != doc.MemberEnd()) {
    if (!it->value.IsObject()) return fail("`workspaces` must be an object keyed by workspace");
    for (auto w = it->value.MemberBegin(); w != it->value.MemberEnd(); ++w) {
      std::string name(w->name.GetString(), w->name.GetStringLength());
      Ctx c{"workspace `" + name + "`", "workspaces." + name, error, &out->providers_};
      AccountPrefs p;
      if (!ParsePrefs(&c, w->value, &p)) return false;
      AccountPrefs eff = out->default_;
      eff.Tighten(p);
      out->workspaces_[name] = std::move(eff);
    }
  }
  return true;
}

bool Accounts::Load(std::string_view json, Accounts* out, AccountsError* error) {
  try {  // no exception leaves the loader: memory running out is a refusal
    return LoadUnguarded(json, out, error);
  } catch (const std::bad_alloc&) {
    out->default_ = AccountPrefs();
    out->workspaces_.clear();
    out->providers_.clear();
    error->code = "accounts_too_large";
    error->message = "out of memory while loading the accounts";
    return false;
  }
}

bool Accounts::LoadFile(const std::string& path, Accounts* out, AccountsError* error) {
  return internal::LoadCappedFile(path, Limits{}.max_accounts_bytes, "accounts", error,
                                  [&](std::string_view text) { return Load(text, out, error); });
}

std::vector<std::string_view> Accounts::workspace_names() const {
  std::vector<std::string_view> names;
  names.reserve(workspaces_.size());
  for (const auto& [name, prefs] : workspaces_) names.emplace_back(name);
  return names;
}

bool Accounts::CheckProviders(const Catalog& catalog, AccountsError* error) const {
  std::vector<std::string> known;  // for "did you mean": every slug and base slug
  for (const ProviderEntry& n : providers_) {
    bool named = false;
    for (const Endpoint& e : catalog.endpoints()) {
      if (ProviderMatches(n.slug, e, n.ignore)) {
        named = true;
        break;
      }
    }
    if (named) continue;
    if (known.empty()) {
      for (const Endpoint& e : catalog.endpoints()) {
        known.push_back(e.provider);
        known.emplace_back(stdlib::ProviderBase(e.provider));
      }
    }
    const char* field = n.ignore ? "ignore" : "only";
    std::string close = ClosestMatch(n.slug, known);
    error->code = "accounts_invalid";
    error->message = n.where + ": field `" + field + "` entry `" + n.slug + "` (" + n.path +
                     ") names no provider of the catalog" +
                     (n.ignore ? ", so it ignores nothing" : "") +
                     (close.empty() ? "" : "; did you mean `" + close + "`?");
    return false;
  }
  return true;
}

bool Accounts::Load(std::string_view json, const Catalog& catalog, Accounts* out,
                    AccountsError* error) {
  if (!Load(json, out, error)) return false;
  try {
    if (out->CheckProviders(catalog, error)) return true;
  } catch (const std::bad_alloc&) {
    error->code = "accounts_too_large";
    error->message = "out of memory while loading the accounts";
  }
  *out = Accounts();
  return false;
}

bool Accounts::LoadFile(const std::string& path, const Catalog& catalog, Accounts* out,
                        AccountsError* error) {
  return internal::LoadCappedFile(path, Limits{}.max_accounts_bytes, "accounts", error,
                                  [&](std::string_view text) { return Load(text, catalog, out, error); });
}

const AccountPrefs& Accounts::For(std::string_view workspace) const {
  auto it = workspaces_.find(workspace);
  return it == workspaces_.end() ? default_ : it->second;
}

}  // namespace tollgate::runtime
