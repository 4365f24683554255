// The gateway's metrics, rendered in the Prometheus text format (GET /metrics).
//
//   tollgate_http_requests_total{path,status}       every HTTP request answered
//   tollgate_decisions_total{outcome,code,rule}      every decision (chat + decide)
//   tollgate_processing_seconds                      tollgate's own time per request
//                                                    (everything but waiting for upstream)
//   tollgate_upstream_seconds                        request sent -> answer complete
//   tollgate_request_seconds{path}                   every chat, decide and models request,
//                                                    whatever its answer: handler start ->
//                                                    last byte out (path: a Route's name)
//   tollgate_durability_wait_seconds                 waiting for the ledger settlement and
//                                                    the audit record to be durable
//   tollgate_upstream_errors_total{endpoint,kind}    connect, timeout, status_429, status_5xx, ...
//   tollgate_fallbacks_total                         attempts moved to the next endpoint
//   tollgate_handler_errors_total                    requests whose handler failed (a bug:
//                                                    answered 500 internal_error)
//   tollgate_spend_usd_total{budget}                 settled spend charged to each budget
//   tollgate_shadow_differences_total{kind,rule}     live vs shadow policy (outcome, status,
//                                                    route, redactions)
//   tollgate_client_timeouts_total{stage}            connections closed unanswered on a read
//                                                    timeout (idle, request)
//   tollgate_connections                             open client connections
//   tollgate_policy_info{version,shadow}             the live (and shadow) version
//
// Thread safety: every method may be called from any thread. Cost: a
// histogram observation is two relaxed atomic adds; a labelled counter takes
// one short mutex.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

namespace tollgate::gateway {

class Histogram {
 public:
  // 12.5 and 30 us: the gateway's processing (tollgate_processing_seconds)
  // lies around there, so its p50 can be read to within a few us.
  static constexpr std::array<int64_t, 31> kBoundsNs = {
      2'500,         5'000,         7'500,         10'000,      12'500,      15'000,     20'000,
      25'000,        30'000,        35'000,        50'000,        75'000,        100'000,     150'000,     250'000,    500'000,
      1'000'000,     2'500'000,     5'000'000,     10'000'000,  25'000'000,  50'000'000, 100'000'000,
      250'000'000,   500'000'000,   1'000'000'000, 2'500'000'000, 5'000'000'000, 10'000'000'000,
      30'000'000'000, 60'000'000'000};
  void Observe(int64_t ns);
  void Render(std::string_view name, std::string_view help, std::string* out) const;
  // The series alone (no HELP / TYPE lines), each line labelled with
  // `labels` (`path="/v1/decide"`) before `le`; "" = no labels.
  void RenderSeries(std::string_view name, std::string_view labels, std::string* out) const;
  // Approximate quantile (upper bound of the bucket), ns; 0 when empty.
  int64_t Quantile(double q) const;

 private:
  std::array<std::atomic<uint64_t>, kBoundsNs.size() + 1> buckets_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<int64_t> sum_ns_{0};
};

// A counter family keyed by its rendered label set (`outcome="deny",code="x"`).
class CounterFamily {
 public:
  void Add(const std::string& labels, int64_t n = 1);
  // The same with the labels as (name, value) pairs, rendered (Label) into
  // a per-thread string: no allocation once the set exists.
  void Add(std::initializer_list<std::pair<std::string_view, std::string_view>> labels, int64_t n = 1);
  void Render(std::string_view name, std::string_view help, std::string* out,
              bool money = false) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, int64_t> values_;
};

// `name="value"` with the value escaped for the text format.
std::string Label(std::string_view name, std::string_view value);
// The same, appended to *out.
void AppendLabel(std::string* out, std::string_view name, std::string_view value);

// The routes whose requests tollgate_request_seconds times, each its own
// series labelled `path` with the route's name: a fixed set, so no
// client-chosen string becomes a label (an alias such as `/chat/completions`
// counts under its canonical name; every model id under `/v1/models/{id}`).
enum class Route : uint8_t { kChat, kDecide, kModels, kModel };
inline constexpr std::array<std::string_view, 4> kRouteNames = {
    "/v1/chat/completions", "/v1/decide", "/v1/models", "/v1/models/{id}"};

struct Metrics {
  CounterFamily http_requests;
  CounterFamily decisions;
  CounterFamily upstream_errors;
  CounterFamily spend_micros;  // rendered as USD
  CounterFamily shadow_differences;
  CounterFamily client_timeouts;  // stage: idle (between requests) or request (head or body)
  std::atomic<uint64_t> fallbacks{0};
  std::atomic<uint64_t> handler_errors{0};
  std::atomic<int64_t> connections{0};
  Histogram processing, upstream, durability;
  std::array<Histogram, kRouteNames.size()> total;  // by Route

  Histogram& request_seconds(Route r) { return total[static_cast<size_t>(r)]; }

  // The whole exposition; `version` and `shadow` label tollgate_policy_info.
  std::string Render(std::string_view version, std::string_view shadow) const;
};

}  // namespace tollgate::gateway
