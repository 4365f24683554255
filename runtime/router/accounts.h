// Account-level routing defaults, per workspace (policies/accounts.json).
//
// ## Format
//
//   {"default":    {"ignore": ["cheapcloud"]},
//    "workspaces": {"acme": {"only": ["azure", "google-vertex"], "zdr": true,
//                            "data_collection": "deny",
//                            "max_price": {"prompt": "5", "completion": "20", "request": "0"},
//                            "quantizations": ["fp8", "bf16"], "sort": "price"}}}
//
// Every member is optional. `default` applies to every workspace; a
// workspace entry can only tighten it (the same merge rules as below).
//
// ## Tightening: an account can only narrow what a request may reach
//   only           both lists filter (an endpoint must match each: intersection)
//   ignore         union
//   zdr            OR
//   data_collection  `deny` wins
//   max_price      the lowest of each component
//   quantizations  both lists filter (intersection)
//   sort           the account's sort replaces the request's (the policy's wins over both)
// The router applies the account's filters in addition to the request's, so
// no request field can loosen them (`zdr: false` does not relax an account's
// `zdr: true`).
//
// Loading fails with a clear message (workspace and field) on unknown fields,
// wrong types, bad words (`sort`, `data_collection`), unknown quantizations
// and negative or malformed prices, and on a member name repeated in any
// object (two entries for one workspace, `zdr` twice), with its JSON path
// ("duplicate key `w` at `workspaces.w`"). Loaded with the catalog it routes over,
// it also fails on an `only` / `ignore` entry that names no provider of that
// catalog by the router's rule (runtime::ProviderMatches: the slug in any
// case, or a base slug naming its variants): `"cheapcloud "` or a misspelt
// slug would otherwise ignore nothing. The message names the entry's JSON
// path (`workspaces.acme.ignore[0]`) and the closest catalog slug.
//
// Thread safety: immutable after Load; share freely.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "engine/vm/decision.h"

namespace tollgate::runtime {

struct AccountPrefs {
  bool has_only = false;
  std::vector<std::vector<std::string>> only;  // each list must be matched (intersection)
  std::vector<std::string> ignore;             // union
  bool zdr = false;
  bool deny_data_collection = false;
  int64_t max_prompt = -1;       // money micros per million tokens; -1 = none
  int64_t max_completion = -1;
  int64_t max_request = -1;      // money micros per-request price
  std::vector<std::vector<std::string>> quantizations;  // each list must be matched
  vm::SortBy sort = vm::SortBy::kNone;

  // Merges `other` in; the result is at least as strict as both.
  void Tighten(const AccountPrefs& other);
};

struct AccountsError {
  std::string code = "accounts_invalid";  // accounts_invalid | accounts_io_error | accounts_too_large
  std::string message;
};

// Parses "price" | "latency" | "throughput"; false on any other word.
bool ParseSortWord(std::string_view word, vm::SortBy* out);

class Catalog;

class Accounts {
 public:
  // An `only` / `ignore` entry as written, for CheckProviders.
  struct ProviderEntry {
    std::string slug;
    std::string where;  // "default" | "workspace `acme`"
    std::string path;   // JSON path: "workspaces.acme.ignore[0]"
    bool ignore = false;
  };

  // The entry points of the CLI, `tollgate serve` and the C API: parse, then
  // CheckProviders against `catalog`. On failure *out is empty and *error set
  // (code accounts_invalid | accounts_io_error | accounts_too_large; LoadFile
  // puts the path in front of the message).
  static bool Load(std::string_view json, const Catalog& catalog, Accounts* out,
                   AccountsError* error);
  static bool LoadFile(const std::string& path, const Catalog& catalog, Accounts* out,
                       AccountsError* error);
  // Parse only, no catalog check: for replaying a stored accounts file that
  // was accepted when it was recorded, and for tests.
  static bool Load(std::string_view json, Accounts* out, AccountsError* error);
  static bool LoadFile(const std::string& path, Accounts* out, AccountsError* error);

  // False with *error (accounts_invalid) at the first `only` / `ignore` entry,
  // in file order, that names no provider of `catalog`. Cost: O(entries *
  // endpoints).
  bool CheckProviders(const Catalog& catalog, AccountsError* error) const;

  // The effective (default-tightened) preferences of a workspace; the
  // default's when the workspace has no entry. Never null.
  const AccountPrefs& For(std::string_view workspace) const;
  size_t workspace_count() const { return workspaces_.size(); }
  // The workspace names that have an entry, sorted.
  std::vector<std::string_view> workspace_names() const;

 private:
  static bool LoadUnguarded(std::string_view json, Accounts* out, AccountsError* error);
  AccountPrefs default_;
  std::map<std::string, AccountPrefs, std::less<>> workspaces_;
  std::vector<ProviderEntry> providers_;  // file order
};

}  // namespace tollgate::runtime
