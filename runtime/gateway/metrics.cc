// Prometheus metrics (metrics.h).
#include "runtime/gateway/metrics.h"

#include <algorithm>
#include <cstdio>

#include "engine/core/money.h"

namespace tollgate::gateway {

void Histogram::Observe(int64_t ns) {
  size_t i = std::lower_bound(kBoundsNs.begin(), kBoundsNs.end(), ns) - kBoundsNs.begin();
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(ns, std::memory_order_relaxed);
}

int64_t Histogram::Quantile(double q) const {
  uint64_t n = count_.load(std::memory_order_relaxed);
  if (n == 0) return 0;
  uint64_t want = static_cast<uint64_t>(q * static_cast<double>(n) + 0.5), seen = 0;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    seen += buckets_[i].load(std::memory_order_relaxed);
    if (seen >= want) return i < kBoundsNs.size() ? kBoundsNs[i] : kBoundsNs.back();
  }
  return kBoundsNs.back();
}

void Histogram::Render(std::string_view name, std::string_view help, std::string* out) const {
  std::string n(name);
  out->append("# HELP " + n + " " + std::string(help) + "\n# TYPE " + n + " histogram\n");
  RenderSeries(name, "", out);
}

void Histogram::RenderSeries(std::string_view name, std::string_view labels, std::string* out) const {
  char buf[64];
  // `{labels}` for _sum and _count; `labels,` before a bucket's `le`.
  const std::string n(name), set = labels.empty() ? "" : "{" + std::string(labels) + "}",
                             lead = labels.empty() ? "" : std::string(labels) + ",";
  uint64_t cum = 0;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    cum += buckets_[i].load(std::memory_order_relaxed);
    out->append(n + "_bucket{" + lead + "le=\"");
    if (i < kBoundsNs.size()) {
      std::snprintf(buf, sizeof buf, "%g", static_cast<double>(kBoundsNs[i]) / 1e9);
      out->append(buf);
    } else {
      out->append("+Inf");
    }
    std::snprintf(buf, sizeof buf, "\"} %llu\n", static_cast<unsigned long long>(cum));
    out->append(buf);
  }
  std::snprintf(buf, sizeof buf, " %.9f\n", static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9);
  out->append(n + "_sum" + set + buf);
  std::snprintf(buf, sizeof buf, " %llu\n", static_cast<unsigned long long>(count_.load(std::memory_order_relaxed)));
  out->append(n + "_count" + set + buf);
}

void AppendLabel(std::string* s, std::string_view name, std::string_view value) {
  s->append(name);
  *s += "=\"";
  for (char c : value) {
    if (c == '\\' || c == '"') {
      *s += '\\';
      *s += c;
    } else if (c == '\n') {
      *s += "\\n";
    } else {
      *s += c;
    }
  }
  *s += '"';
}

std::string Label(std::string_view name, std::string_view value) {
  std::string s;
  AppendLabel(&s, name, value);
  return s;
}

void CounterFamily::Add(const std::string& labels, int64_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  values_[labels] += n;
}

void CounterFamily::Add(std::initializer_list<std::pair<std::string_view, std::string_view>> labels,
                        int64_t n) {
  thread_local std::string s;
  s.clear();
  for (const auto& [name, value] : labels) {
    if (!s.empty()) s += ',';
    AppendLabel(&s, name, value);
  }
  Add(s, n);
}

void CounterFamily::Render(std::string_view name, std::string_view help, std::string* out,
                           bool money) const {
  std::string n(name);
  out->append("# HELP " + n + " " + std::string(help) + "\n# TYPE " + n + " counter\n");
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [labels, v] : values_) {
    out->append(n);
    if (!labels.empty()) out->append("{" + labels + "}");
    out->push_back(' ');
    out->append(money ? FormatMicros(v) : std::to_string(v));
    out->push_back('\n');
  }
}

std::string Metrics::Render(std::string_view version, std::string_view shadow) const {
  std::string out;
  out.reserve(8192);
  http_requests.Render("tollgate_http_requests_total", "HTTP requests answered, by path and status",
                       &out);
  decisions.Render("tollgate_decisions_total", "decisions by outcome, code and deciding rule", &out);
  upstream_errors.Render("tollgate_upstream_errors_total", "failed upstream attempts by endpoint and kind",
                         &out);
  spend_micros.Render("tollgate_spend_usd_total", "settled spend charged to each budget (USD)", &out,
                      true);
  shadow_differences.Render("tollgate_shadow_differences_total",
                            "requests the shadow policy decided differently, by kind and rule", &out);
  client_timeouts.Render("tollgate_client_timeouts_total",
                         "client connections closed without an answer on a read timeout, by stage (idle: "
                         "between requests; request: a head or body that did not arrive in time)",
                         &out);
  out.append("# HELP tollgate_fallbacks_total attempts moved to the next endpoint\n"
             "# TYPE tollgate_fallbacks_total counter\ntollgate_fallbacks_total " +
             std::to_string(fallbacks.load()) + "\n");
  out.append("# HELP tollgate_handler_errors_total requests whose handler failed (answered 500 "
             "internal_error unless the answer had begun)\n"
             "# TYPE tollgate_handler_errors_total counter\ntollgate_handler_errors_total " +
             std::to_string(handler_errors.load()) + "\n");
  out.append("# HELP tollgate_connections open client connections\n"
             "# TYPE tollgate_connections gauge\ntollgate_connections " +
             std::to_string(connections.load()) + "\n");
  out.append("# HELP tollgate_policy_info the live and shadow policy versions\n"
             "# TYPE tollgate_policy_info gauge\ntollgate_policy_info{" + Label("version", version) +
             "," + Label("shadow", shadow) + "} 1\n");
  processing.Render("tollgate_processing_seconds",
                    "tollgate's own processing per request (all but waiting for the upstream)", &out);
  upstream.Render("tollgate_upstream_seconds", "upstream time per request (sent to complete)", &out);
  out.append("# HELP tollgate_request_seconds total time per request, by route (handler start to last "
             "byte out)\n# TYPE tollgate_request_seconds histogram\n");
  for (size_t r = 0; r < total.size(); ++r) {
    total[r].RenderSeries("tollgate_request_seconds", Label("path", kRouteNames[r]), &out);
  }
  durability.Render("tollgate_durability_wait_seconds",
                    "time an answer waited for its settlement and decision record to be durable", &out);
  return out;
}

}  // namespace tollgate::gateway
