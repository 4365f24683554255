// The decision input's `context` of a chat request: the API key's defaults
// (keys.h), the caller's x-tollgate-* headers, the client's address. The
// gateway's clock fills `context.time` (the decoder's clock field), so a
// policy's `hour(context.time)` is the gateway's time and the record keeps it.
//
// ## Headers (docs/gateway.md)
//
//   x-tollgate-data-class: confidential      -> context.data_class
//   x-tollgate-environment: staging          -> context.environment
//   x-tollgate-tags: batch, nightly          -> context.tags (added to the key's)
//
// ## Precedence
// A header replaces the key's `data_class` / `environment`; header tags are
// added to the key's tags (a key's tags are never removed). A member the key
// pins (`"pin": ["data_class"]`) cannot change: a header with another value
// is refused (400 `context_pinned`), one with the same value is accepted.
// `ip` and `time` come from the gateway only.
//
//   gateway::ContextHeaders h;  h.data_class = {...every x-tollgate-data-class value...};
//   runtime::InputError err;
//   if (!gateway::ComposeContext(*who, h, &ip, &context_json, &err)) reply 400 err;
//   gateway::BuildInput(*who, context_json, body, &input);
//
// ## Errors
// ComposeContext fails with a runtime::InputError: `input_invalid_header` (a
// value that is empty, not UTF-8, given twice, a tag list with an empty
// element) or `context_pinned`; `path` is the context member
// (`context.data_class`) and the message names the header. Types and list
// lengths are the decoder's to check, as for any input.
//
// ## Client address
// `context.ip` is the connection's peer. Behind a proxy, list the proxy in
// the config's `trusted_proxies`: only then is X-Forwarded-For read, from the
// right, skipping trusted proxies (the first other address is the client).
//
// Thread safety: functions are pure; a TrustedProxies is immutable once parsed.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/gateway/keys.h"
#include "runtime/input/input.h"

namespace tollgate::gateway {

// Every occurrence of each header, in order (values as received).
struct ContextHeaders {
  std::vector<std::string_view> data_class, environment, tags;
  bool any() const { return !data_class.empty() || !environment.empty() || !tags.empty(); }
};

// The context object for `who` with the headers and the client address (ip
// may be null: left out). False with *err (see Errors). Cost: a pass over
// the header values and one small JSON write.
bool ComposeContext(const Identity& who, const ContextHeaders& headers, const std::string* ip,
                    std::string* json, runtime::InputError* err);

// Addresses and networks (`10.0.0.0/8`, `::1`, `fd00::/8`) allowed to state
// the client's address in X-Forwarded-For.
class TrustedProxies {
 public:
  // False with *error naming the entry that is not an address or network.
  static bool Parse(const std::vector<std::string>& entries, TrustedProxies* out, std::string* error);
  bool empty() const { return nets_.empty(); }
  bool Contains(std::string_view address) const;

 private:
  struct Net {
    std::array<uint8_t, 16> bytes{};  // IPv4 as IPv4-mapped IPv6
    int bits = 0;
  };
  std::vector<Net> nets_;
};

// The client's address: `peer` (the connection's), or, when the peer is a
// trusted proxy, the right-most X-Forwarded-For address that is not one
// (all trusted: the left-most). An X-Forwarded-For entry that is not an
// address (`IP:port`, `[IPv6]:port` are read as their address) ends the walk
// at the last good one. IPv4-mapped addresses are written as IPv4.
std::string ClientIp(std::string_view peer, const std::vector<std::string_view>& forwarded_for,
                     const TrustedProxies& trusted);

}  // namespace tollgate::gateway
