// The gateway routes through the same router as `tollgate route`: a
// `:nitro` fallback entry adds its priority-tier endpoint after the plain
// primary's endpoints, so the first upstream attempt is the plain model's
// (docs/routing.md, "Variants apply per entry").
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "engine/core/sha256.h"
#include "runtime/gateway/config.h"
#include "runtime/gateway/keys.h"
#include "runtime/gateway/service.h"

namespace tollgate::gateway {
namespace {

namespace fs = std::filesystem;

// One endpoint of model m/x as catalog JSON.
std::string Endpoint(const std::string& id, const std::string& provider, const std::string& up,
                     const std::string& price, int throughput, const std::string& tier) {
  return R"({"id": ")" + id + R"(", "model": "m/x", "provider": ")" + provider + R"(", "tier": ")" +
         tier + R"(",
      "upstream": {"base_url": "http://127.0.0.1:9/v1", "auth": {"type": "none"}, "model": ")" + up +
         R"("},
      "pricing": {"input_per_mtok": ")" + price + R"(", "output_per_mtok": ")" + price +
         R"(", "per_request": "0"},
      "context_length": 100000, "max_output_tokens": 100, "jurisdiction": "US", "region": "r",
      "zdr": false, "trains_on_data": false, "data_collection": "deny", "retention_days": 1,
      "quantization": "unknown", "supported_parameters": [],
      "observed": {"latency_p50": 0.5, "throughput": )" +
         std::to_string(throughput) + R"(, "uptime": 0.99}})";
}

class GatewayVariants : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string t = (fs::temp_directory_path() / "tg_gateway_XXXXXX").string();
    dir_ = mkdtemp(t.data());
    std::ofstream(dir_ + "/p.tg") << "policy \"t\"\n";
    std::ofstream(dir_ + "/c.json")
        << "{\"endpoints\": [" << Endpoint("m/x@slow", "slowco", "x-slow", "1", 10, "standard") << ", "
        << Endpoint("m/x@fast", "fastco", "x-fast", "3", 300, "standard") << ", "
        << Endpoint("m/x@prio", "fastco/priority", "x-prio", "2", 200, "priority") << "]}";
    std::ofstream(dir_ + "/k.json") << R"({"keys": [{"id": "k", "sha256": ")" + Sha256Hex("sk") +
                                           R"(", "workspace": "w"}]})";
    cfg_.policy = {dir_ + "/p.tg"};
    cfg_.catalog = dir_ + "/c.json";
    cfg_.accounts = "";
    cfg_.keys = dir_ + "/k.json";
    cfg_.ledger = "memory:";
    cfg_.audit = dir_ + "/audit";
    cfg_.audit_sync = false;
    cfg_.access_log = false;
    std::string err;
    svc_ = Service::Create(cfg_, &err);
    ASSERT_TRUE(svc_) << err;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  // The upstream model names of the routed endpoints, in attempt order.
  std::vector<std::string> Attempts(const std::string& body) {
    Exchange x;
    x.live = svc_->live();
    x.keys = svc_->keys();
    x.who = x.keys->Find("sk");
    x.body = body;
    BuildInput(*x.who, x.body, &x.input);
    svc_->Decide(&x);
    std::vector<std::string> out;
    EXPECT_TRUE(x.allowed()) << svc_->ErrorJson(x);
    for (size_t i = 0; i < x.s.route.endpoints.size(); ++i) {
      std::string up, err;
      EXPECT_TRUE(svc_->UpstreamBody(x, i, &up, &err)) << err;
      const size_t at = up.find(R"("model":")");
      out.push_back(at == std::string::npos ? up : up.substr(at + 9, up.find('"', at + 9) - at - 9));
    }
    svc_->Finish(&x, Outcome{});
    return out;
  }
  std::string dir_;
  Config cfg_;
  std::unique_ptr<Service> svc_;
};

TEST_F(GatewayVariants, NitroFallbackComesAfterThePlainPrimary) {
  using Ids = std::vector<std::string>;
  const std::string msg = R"("messages": [{"role": "user", "content": "hi"}], "max_tokens": 10)";
  // Plain primary: cheapest first; the priority endpoint only for :nitro.
  // Before, one :nitro flag for the whole request sorted all three by
  // throughput (x-fast, x-prio, x-slow): the plain model was not tried first.
  EXPECT_EQ(Attempts(R"({"model": "m/x", "models": ["m/x:nitro"], )" + msg + "}"),
            (Ids{"x-slow", "x-fast", "x-prio"}));
  // :nitro primary: throughput over standard and priority endpoints.
  EXPECT_EQ(Attempts(R"({"model": "m/x:nitro", "models": ["m/x"], )" + msg + "}"),
            (Ids{"x-fast", "x-prio", "x-slow"}));
}

}  // namespace
}  // namespace tollgate::gateway
