// Small text helpers of the gateway server (http_text.h).
#include "runtime/gateway/internal/http_text.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>

namespace tollgate::gateway::internal {
namespace {

// A non-negative decimal number of `unit` milliseconds (a fraction rounded
// up) capped at kMaxUpstreamRetryAfterMs; -1 when `v` is not one.
int64_t DecimalMs(std::string_view v, double unit) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  double x = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), x, std::chars_format::fixed);
  if (v.empty() || ec != std::errc() || end != v.data() + v.size() || !(x >= 0)) return -1;
  const double ms = std::ceil(x * unit);
  if (ms >= static_cast<double>(kMaxUpstreamRetryAfterMs)) return kMaxUpstreamRetryAfterMs;
  return static_cast<int64_t>(ms);
}

// An HTTP-date (RFC 9110 5.6.7, the IMF-fixdate form every current server
// sends: "Sun, 06 Nov 1994 08:49:37 GMT") as Unix seconds; false otherwise.
bool HttpDateSeconds(std::string_view v, int64_t* out) {
  const std::string s(v);
  std::tm tm{};
  const char* end = ::strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') return false;
  *out = static_cast<int64_t>(::timegm(&tm));
  return true;
}

// A JSON value's kind as a message names it.
const char* JsonKind(const rapidjson::Value& v) {
  if (v.IsNull()) return "null";
  if (v.IsBool()) return "a boolean";
  if (v.IsNumber()) return "a number";
  if (v.IsString()) return "a string";
  if (v.IsArray()) return "an array";
  return "an object";
}

}  // namespace

std::string HttpDate(int64_t unix_s) {
  static const char kDays[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char kMonths[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::time_t t = static_cast<std::time_t>(unix_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday], tm.tm_mday,
                kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::string CapExplain(std::string eliminated) {
  if (eliminated.size() <= kMaxExplainBytes) return eliminated;
  rapidjson::Document d;
  d.Parse<rapidjson::kParseIterativeFlag>(eliminated.data(), eliminated.size());
  if (d.HasParseError() || !d.IsArray()) return "[]";
  const size_t n = d.Size();
  // Room for the last entry: `,{"truncated":N}]` with N at most 20 digits.
  constexpr size_t kMarker = 40;
  std::string out = "[";
  size_t kept = 0;
  for (const auto& e : d.GetArray()) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    e.Accept(w);
    if (out.size() + 1 + sb.GetSize() + kMarker > kMaxExplainBytes) break;
    if (kept > 0) out += ',';
    out.append(sb.GetString(), sb.GetSize());
    ++kept;
  }
  if (kept > 0) out += ',';
  out += "{\"truncated\":" + std::to_string(n - kept) + "}]";
  return out;
}

int64_t UpstreamRetryAfterMs(std::string_view after_ms, std::string_view after, int64_t now_s) {
  if (int64_t ms = DecimalMs(after_ms, 1); ms >= 0) return ms;
  if (int64_t ms = DecimalMs(after, 1000); ms >= 0) return ms;
  int64_t at = 0;
  if (!HttpDateSeconds(after, &at)) return -1;
  if (at <= now_s) return 0;
  return std::min<int64_t>((at - now_s) * 1000, kMaxUpstreamRetryAfterMs);
}

std::string_view OriginForm(std::string_view target) {
  for (std::string_view scheme : {"http://", "https://"}) {
    if (target.size() < scheme.size() || !IEquals(target.substr(0, scheme.size()), scheme)) continue;
    const size_t slash = target.find_first_of("/?", scheme.size());
    if (slash == std::string_view::npos) return "/";
    if (target[slash] == '?') return "/";  // no path; the query is not read by any endpoint with this one
    return target.substr(slash);
  }
  return target;
}

std::string_view EndpointPath(std::string_view target) {
  std::string_view path = OriginForm(target);
  path = path.substr(0, path.find('?'));
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  return path;
}

bool QueryFlag(std::string_view target, std::string_view name, bool* value) {
  *value = false;
  size_t q = target.find('?');
  if (q == std::string_view::npos) return true;
  std::string_view qs = target.substr(q + 1);
  bool seen = false;
  while (!qs.empty()) {
    const size_t amp = qs.find('&');
    const std::string_view kv = qs.substr(0, amp);
    const size_t eq = kv.find('=');
    if (kv.substr(0, eq) == name) {
      bool v;
      const std::string_view text = eq == std::string_view::npos ? "true" : kv.substr(eq + 1);
      if (IEquals(text, "1") || IEquals(text, "true") || IEquals(text, "yes") ||
          IEquals(text, "on")) {
        v = true;
      } else if (IEquals(text, "0") || IEquals(text, "false") || IEquals(text, "no") ||
                 IEquals(text, "off")) {
        v = false;
      } else {
        return false;
      }
      if (seen && v != *value) return false;
      seen = true;
      *value = v;
    }
    if (amp == std::string_view::npos) break;
    qs.remove_prefix(amp + 1);
  }
  return true;
}

bool PolicyFilesOf(std::string_view body, bool* is_json, std::vector<SourceText>* out, std::string* error) {
  const size_t first = body.find_first_not_of(" \t\r\n");
  *is_json = first != std::string_view::npos && body[first] == '{';
  if (!*is_json) return true;
  rapidjson::Document d;
  d.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag>(body.data(), body.size());
  if (d.HasParseError()) {
    *error = std::string("the body is not valid JSON at byte ") + std::to_string(d.GetErrorOffset()) + ": " +
             rapidjson::GetParseError_En(d.GetParseError());
    return false;
  }
  const rapidjson::Value* files = nullptr;
  for (auto m = d.MemberBegin(); m != d.MemberEnd(); ++m) {
    const std::string_view name(m->name.GetString(), m->name.GetStringLength());
    if (name != "files") {
      *error = "unknown member `" + std::string(name) + "` in the body; it takes only `files`";
      return false;
    }
    if (files) {
      *error = "the member `files` is repeated";
      return false;
    }
    files = &m->value;
  }
  if (!files) {
    *error = "the body has no `files` member: an object of path -> policy source";
    return false;
  }
  if (!files->IsObject()) {
    *error = std::string("`files` must be an object of path -> policy source, not ") + JsonKind(*files);
    return false;
  }
  if (files->MemberCount() == 0) {
    *error = "`files` is empty: it needs at least one path -> policy source";
    return false;
  }
  std::vector<SourceText> sources;
  for (auto m = files->MemberBegin(); m != files->MemberEnd(); ++m) {
    const std::string path(m->name.GetString(), m->name.GetStringLength());
    if (path.empty()) {
      *error = "`files` has an empty path";
      return false;
    }
    for (const SourceText& s : sources) {
      if (s.path == path) {
        *error = "`files` repeats the path `" + path + "`";
        return false;
      }
    }
    if (!m->value.IsString()) {
      *error = "`files[\"" + path + "\"]` must be a string (the policy source), not " + JsonKind(m->value);
      return false;
    }
    sources.push_back({path, std::string(m->value.GetString(), m->value.GetStringLength())});
  }
  *out = std::move(sources);
  return true;
}

bool PercentDecode(std::string_view in, std::string* out) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    const int hi = i + 2 < in.size() ? hex(in[i + 1]) : -1, lo = hi >= 0 ? hex(in[i + 2]) : -1;
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

}  // namespace tollgate::gateway::internal
