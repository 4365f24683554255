// Shared fixtures of the audit tests: a temporary audit directory, traffic
// generators over the example policy and random policies, and a recorder
// that decides and records the way a gateway does (runtime/audit/log.h).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/vm/vm.h"
#include "runtime/router/accounts.h"
#include "runtime/audit/log.h"
#include "runtime/router/catalog.h"
#include "runtime/router/router.h"
#include "tests/differential/generate.h"

namespace tollgate::audit::testing {

// A fresh directory under /tmp, removed by the destructor.
struct TempDir {
  TempDir();
  ~TempDir();
  std::string path;
};

std::string ReadAll(const std::string& path);
void WriteAll(const std::string& path, const std::string& text);

// Compiles `path` (standard schema); fails the test on errors.
std::shared_ptr<const Policy> MustCompile(const std::string& path);

// A decision input over the example policy's world: one of
// policies/requests/*.json with workspace, jurisdiction, max_tokens, model
// and data_class varied at random.
std::string ExampleInput(gen::Rng& rng);

// Decides and records: evaluate, route (when a catalog is given), append.
class Recorder {
 public:
  Recorder(AuditLog* log, std::shared_ptr<const Policy> policy, const std::string& catalog_path,
           const std::string& accounts_path);
  // Returns the ticket; *decision gets what was decided (for comparisons).
  Ticket Decide(const std::string& input, vm::Decision* decision = nullptr,
                std::string* endpoints = nullptr);
  const Policy& policy() const { return *policy_; }

 private:
  AuditLog* log_;
  std::shared_ptr<const Policy> policy_;
  std::shared_ptr<const Subject> subject_;
  std::unique_ptr<runtime::Catalog> catalog_;
  std::unique_ptr<runtime::Accounts> accounts_;
  std::unique_ptr<runtime::Router> router_;
};

}  // namespace tollgate::audit::testing
