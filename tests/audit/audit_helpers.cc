#include "tests/audit/audit_helpers.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "runtime/decide/decision_json.h"
#include "runtime/input/input.h"

namespace tollgate::audit::testing {
namespace fs = std::filesystem;
namespace rj = rapidjson;

TempDir::TempDir() {
  char tmpl[] = "/tmp/tg_audit_XXXXXX";
  path = mkdtemp(tmpl);
}
TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path, ec);
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteAll(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

std::shared_ptr<const Policy> MustCompile(const std::string& path) {
  Compiled c = CompileFile(path, {});
  EXPECT_TRUE(c.policy != nullptr) << c.diagnostics.Render();
  return c.policy;
}

std::string ExampleInput(gen::Rng& rng) {
  static const char* const kFiles[] = {
      "batch_cheap", "card_redaction", "eu_confidential", "health_restricted", "huge_max_tokens",
      "injection", "no_eligible_endpoint", "secret_leak", "tools_preferences", "us_simple"};
  static const char* const kWorkspaces[] = {"acme-eu", "acme-health", "acme-batch", "acme-labs",
                                            "acme-agents", "globex"};
  static const char* const kJurisdictions[] = {"US", "DE", "FR", "GB", "JP"};
  static const char* const kModels[] = {"openai/gpt-4o", "openai/gpt-4o-mini",
                                        "anthropic/claude-3.5-sonnet", "mistralai/mistral-large",
                                        "meta-llama/llama-3.1-70b-instruct", "deepseek/deepseek-chat"};
  static const char* const kClasses[] = {"public", "internal", "confidential", "restricted"};
  std::string text = ReadAll(std::string("policies/requests/") + rng.Pick(kFiles) + ".json");
  rj::Document d;
  d.Parse(text.c_str(), text.size());
  auto& a = d.GetAllocator();
  auto set = [&](rj::Value& obj, const char* key, rj::Value v) {
    if (!obj.IsObject()) return;
    obj.RemoveMember(key);
    obj.AddMember(rj::Value(key, a), v, a);
  };
  if (d.HasMember("principal")) {
    if (rng.Chance(70)) set(d["principal"], "workspace", rj::Value(rng.Pick(kWorkspaces), a));
    if (rng.Chance(50)) set(d["principal"], "jurisdiction", rj::Value(rng.Pick(kJurisdictions), a));
  }
  if (d.HasMember("request")) {
    if (rng.Chance(60)) set(d["request"], "max_tokens", rj::Value(static_cast<int64_t>(1 + rng.Below(40000))));
    if (rng.Chance(40)) set(d["request"], "model", rj::Value(rng.Pick(kModels), a));
  }
  if (d.HasMember("context") && rng.Chance(40))
    set(d["context"], "data_class", rj::Value(rng.Pick(kClasses), a));
  rj::StringBuffer sb;
  rj::Writer<rj::StringBuffer> w(sb);
  d.Accept(w);
  return sb.GetString();
}

Recorder::Recorder(AuditLog* log, std::shared_ptr<const Policy> policy,
                   const std::string& catalog_path, const std::string& accounts_path)
    : log_(log), policy_(std::move(policy)) {
  SubjectSources src;
  if (!catalog_path.empty()) {
    src.catalog_json = ReadAll(catalog_path);
    catalog_ = std::make_unique<runtime::Catalog>();
    runtime::CatalogError cerr;
    EXPECT_TRUE(runtime::Catalog::Load(src.catalog_json, policy_->schema(), catalog_.get(), &cerr))
        << cerr.message;
    if (!accounts_path.empty()) {
      src.accounts_json = ReadAll(accounts_path);
      accounts_ = std::make_unique<runtime::Accounts>();
      runtime::AccountsError aerr;
      EXPECT_TRUE(runtime::Accounts::Load(src.accounts_json, *catalog_, accounts_.get(), &aerr)) << aerr.message;
    }
    std::string err;
    router_ = runtime::Router::Create(*policy_, *catalog_, accounts_.get(), {}, &err);
    EXPECT_TRUE(router_ != nullptr) << err;
  }
  std::string err;
  subject_ = log_->Register(*policy_, src, &err);
  EXPECT_TRUE(subject_ != nullptr) << err;
}

Ticket Recorder::Decide(const std::string& input, vm::Decision* decision, std::string* endpoints) {
  vm::Record rec;
  runtime::InputError ierr;
  if (!runtime::DecodeInput(input, policy_->schema(), Limits{}, &rec, &ierr)) return {};
  vm::Decision local;
  vm::Decision& d = decision ? *decision : local;
  vm::Evaluate(policy_->program(), rec, {}, &d);
  Entry e;
  if (router_) {
    runtime::RouteResult route;
    router_->Route(d, rec, &route);
    runtime::ApplyRoute(route, &d);
    e.endpoints = runtime::EndpointsJson(*catalog_, route);
    if (endpoints) *endpoints = e.endpoints;
  }
  e.subject = subject_;
  e.input = input;
  e.decision = RenderDecision(d, policy_->program());
  // The instant the decoder's clock filled into context.time, for replay.
  if (d.time && d.time_from_clock) e.clock = FormatRfc3339(*d.time);
  return log_->Append(std::move(e));
}

}  // namespace tollgate::audit::testing
