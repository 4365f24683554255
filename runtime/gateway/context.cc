// The decision input's context of a chat request (context.h).
#include "runtime/gateway/context.h"

#include <boost/asio/ip/address.hpp>

#include <algorithm>
#include <optional>

#include "engine/scan/scanner.h"
#include "runtime/gateway/internal/http_text.h"

namespace tollgate::gateway {
namespace {

namespace ip = boost::asio::ip;

std::string_view Trim(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

bool Fail(runtime::InputError* err, std::string code, std::string path, std::string message) {
  err->code = std::move(code);
  err->path = std::move(path);
  err->message = std::move(message);
  return false;
}

// One header's text, shown in a message: printable ASCII kept, the rest
// escaped (a refused value may not be UTF-8).
std::string Shown(std::string_view v) {
  std::string out;
  for (unsigned char c : v.substr(0, 64)) {
    if (c >= 0x20 && c < 0x7f && c != '`') {
      out += static_cast<char>(c);
    } else {
      static const char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  if (v.size() > 64) out += "...";
  return out;
}

// The single value of a header given at most once; false with *err.
bool OneValue(const std::vector<std::string_view>& values, const char* header, const char* member,
              std::optional<std::string_view>* out, runtime::InputError* err) {
  if (values.empty()) return true;
  const std::string path = std::string("context.") + member;
  if (values.size() > 1) {
    return Fail(err, "input_invalid_header", path, std::string("`") + header + "` is given more than once");
  }
  const std::string_view v = Trim(values[0]);
  if (v.empty()) return Fail(err, "input_invalid_header", path, std::string("`") + header + "` is empty");
  if (!scan::ValidUtf8(v)) {
    return Fail(err, "input_invalid_header", path,
                std::string("`") + header + "` is not valid UTF-8: `" + Shown(v) + "`");
  }
  *out = v;
  return true;
}

bool ParseAddress(std::string_view text, ip::address* out) {
  boost::system::error_code ec;
  *out = ip::make_address(std::string(Trim(text)), ec);
  if (ec) return false;
  if (out->is_v6() && out->to_v6().is_v4_mapped()) {
    *out = ip::make_address_v4(ip::v4_mapped, out->to_v6());
  }
  return true;
}

// An X-Forwarded-For entry: an address, or one with a port as some proxies
// write it (`203.0.113.7:41234`, `[2001:db8::1]:41234`).
bool ParseHop(std::string_view text, ip::address* out) {
  text = Trim(text);
  if (ParseAddress(text, out)) return true;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    return close != std::string_view::npos &&
           (close + 1 == text.size() || text[close + 1] == ':') && ParseAddress(text.substr(1, close - 1), out);
  }
  const size_t colon = text.find(':');
  return colon != std::string_view::npos && text.find(':', colon + 1) == std::string_view::npos &&
         ParseAddress(text.substr(0, colon), out) && out->is_v4();
}

std::array<uint8_t, 16> Bytes(const ip::address& a) {
  if (a.is_v6()) return a.to_v6().to_bytes();
  return ip::make_address_v6(ip::v4_mapped, a.to_v4()).to_bytes();
}

}  // namespace

bool ComposeContext(const Identity& who, const ContextHeaders& h, const std::string* ip,
                    std::string* json, runtime::InputError* err) {
  const KeyContext& key = who.context;
  std::optional<std::string_view> data_class, environment;
  if (!OneValue(h.data_class, "x-tollgate-data-class", "data_class", &data_class, err) ||
      !OneValue(h.environment, "x-tollgate-environment", "environment", &environment, err)) {
    return false;
  }
  // A list header may come in several lines (RFC 9110 5.3): one list.
  std::vector<std::string_view> tags;
  for (const std::string_view whole : h.tags) {
    std::string_view line = whole;
    if (!scan::ValidUtf8(line)) {
      return Fail(err, "input_invalid_header", "context.tags",
                  "`x-tollgate-tags` is not valid UTF-8: `" + Shown(line) + "`");
    }
    for (;;) {
      const size_t comma = line.find(',');
      const std::string_view tag = Trim(line.substr(0, comma));
      if (tag.empty()) {
        return Fail(err, "input_invalid_header", "context.tags",
                    "`x-tollgate-tags` must be a comma-separated list of non-empty tags, got `" + Shown(whole) + "`");
      }
      tags.push_back(tag);
      if (comma == std::string_view::npos) break;
      line.remove_prefix(comma + 1);
    }
  }
  // The decoder lower-cases these members (ASCII), so `Confidential` in a
  // header is the key's `confidential`: compared as the policy will see them.
  using internal::IEquals;
  auto pinned = [&](const char* member, const char* header, const std::optional<std::string>& kept) {
    return Fail(err, "context_pinned", std::string("context.") + member,
                std::string("the API key pins `context.") + member + "` to " +
                    (kept ? "`" + Shown(*kept) + "`" : std::string("no value")) + "; `" + header +
                    "` cannot change it");
  };
  if (data_class && key.pin_data_class && (!key.data_class || !IEquals(*key.data_class, *data_class))) {
    return pinned("data_class", "x-tollgate-data-class", key.data_class);
  }
  if (environment && key.pin_environment && (!key.environment || !IEquals(*key.environment, *environment))) {
    return pinned("environment", "x-tollgate-environment", key.environment);
  }
  std::vector<std::string_view> more;
  for (std::string_view t : tags) {
    if (std::any_of(key.tags.begin(), key.tags.end(), [&](const std::string& k) { return IEquals(k, t); })) {
      continue;  // the key's already
    }
    if (key.pin_tags) {
      return Fail(err, "context_pinned", "context.tags",
                  "the API key pins `context.tags`; `x-tollgate-tags` cannot add `" + Shown(t) + "`");
    }
    more.push_back(t);
  }
  if (!ip && !h.any() && key.empty()) {
    json->clear();
    return true;
  }
  *json = RenderContext(key, data_class, environment, more, ip);
  return true;
}

bool TrustedProxies::Parse(const std::vector<std::string>& entries, TrustedProxies* out,
                           std::string* error) {
  TrustedProxies t;
  for (const std::string& e : entries) {
    const size_t slash = e.find('/');
    ip::address a;
    if (!ParseAddress(std::string_view(e).substr(0, slash), &a) || Trim(e).size() != e.size()) {
      *error = "`" + e + "` is not an IP address or network such as `10.0.0.0/8` or `::1`";
      return false;
    }
    Net n;
    n.bytes = Bytes(a);
    const int max = a.is_v4() ? 32 : 128;
    int bits = max;
    if (slash != std::string::npos) {
      const std::string b = e.substr(slash + 1);
      if (b.empty() || b.size() > 3 || b.find_first_not_of("0123456789") != std::string::npos ||
          std::stoi(b) > max) {
        *error = "`" + e + "`: the prefix length must be 0 to " + std::to_string(max);
        return false;
      }
      bits = std::stoi(b);
    }
    n.bits = a.is_v4() ? 96 + bits : bits;
    t.nets_.push_back(n);
  }
  *out = std::move(t);
  return true;
}

bool TrustedProxies::Contains(std::string_view address) const {
  ip::address a;
  if (nets_.empty() || !ParseAddress(address, &a)) return false;
  const std::array<uint8_t, 16> b = Bytes(a);
  for (const Net& n : nets_) {
    int bits = n.bits, i = 0;
    bool match = true;
    for (; bits >= 8 && match; bits -= 8, ++i) match = b[i] == n.bytes[i];
    if (match && bits > 0) {
      const uint8_t mask = static_cast<uint8_t>(0xff << (8 - bits));
      match = (b[i] & mask) == (n.bytes[i] & mask);
    }
    if (match) return true;
  }
  return false;
}

std::string ClientIp(std::string_view peer, const std::vector<std::string_view>& forwarded_for,
                     const TrustedProxies& trusted) {
  ip::address a;
  std::string client = ParseAddress(peer, &a) ? a.to_string() : std::string(peer);
  if (forwarded_for.empty() || !trusted.Contains(client)) return client;
  std::vector<std::string_view> hops;  // left to right, over every header line
  for (std::string_view line : forwarded_for) {
    for (;;) {
      const size_t comma = line.find(',');
      hops.push_back(Trim(line.substr(0, comma)));
      if (comma == std::string_view::npos) break;
      line.remove_prefix(comma + 1);
    }
  }
  for (auto it = hops.rbegin(); it != hops.rend(); ++it) {
    if (!ParseHop(*it, &a)) break;  // not an address: the last good hop stands
    client = a.to_string();
    if (!trusted.Contains(client)) break;
  }
  return client;
}

}  // namespace tollgate::gateway
