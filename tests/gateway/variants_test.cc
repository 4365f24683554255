// The gateway routes through the same router as `tollgate route`: a
// `:nitro` fallback entry adds its priority-tier endpoint after the plain
// primary's endpoints, so the first upstream attempt is the plain model's
// (docs/routing.md, "Variants apply per entry").
#include <gtest/gtest.h>

#include "runtime/gateway/config.h"
#include "runtime/gateway/service.h"
#include "tests/gateway/gateway_helpers.h"

namespace tollgate::gateway {
namespace {

class GatewayVariants : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testkit::MakeTempDir("gateway");
    testkit::WriteFile(dir_ + "/p.tg", "policy \"t\"\n");
    testkit::WriteFile(
        dir_ + "/c.json",
        testkit::CatalogJson({
            testkit::TestEndpoint("m/x@slow", "slowco").Upstream("x-slow").Price("1").Throughput(10).Tier("standard"),
            testkit::TestEndpoint("m/x@fast", "fastco").Upstream("x-fast").Price("3").Throughput(300).Tier("standard"),
            testkit::TestEndpoint("m/x@prio", "fastco/priority").Upstream("x-prio").Price("2").Throughput(200).Tier("priority"),
        }));
    testkit::WriteFile(dir_ + "/k.json", testkit::OneKeyJson());
    cfg_ = testkit::DirConfig(dir_);
    std::string err;
    svc_ = Service::Create(cfg_, &err);
    ASSERT_TRUE(svc_) << err;
  }
  void TearDown() override { testkit::RemoveDir(dir_); }
  // The upstream model names of the routed endpoints, in attempt order.
  std::vector<std::string> Attempts(const std::string& body) {
    std::unique_ptr<Exchange> started = testkit::StartExchange(*svc_, body);
    Exchange& x = *started;
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
