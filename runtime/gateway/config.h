// The gateway's configuration: one JSON file, every member optional.
//
// ## Format (docs/gateway.md has the reference)
//
//   {"listen": "127.0.0.1:8080", "threads": 0,
//    "policy": ["policies/example.tg"], "schema": "",
//    "catalog": "policies/catalog.json", "accounts": "policies/accounts.json",
//    "keys": "policies/keys.json",
//    "ledger": "sqlite:tollgate-data/ledger.db", "audit": "tollgate-data/audit",
//    "admin_token_env": "TOLLGATE_ADMIN_TOKEN",
//    "limits":   {"max_body_bytes": 4194304, "max_header_bytes": 16384,
//                 "read_timeout_ms": 15000, "max_connections": 4096},
//    "upstream": {"connect_timeout_ms": 3000, "first_byte_timeout_ms": 60000,
//                 "idle_timeout_ms": 60000, "max_idle_per_endpoint": 64,
//                 "pool_idle_timeout_ms": 60000,
//                 "max_response_bytes": 16777216, "max_attempts": 3},
//    "drain_grace_ms": 5000, "drain_timeout_ms": 30000, "access_log": true, "trusted_proxies": []}
//
// Relative paths are resolved against the config file's directory. Without a
// config file (a bare `tollgate serve`) the defaults above apply, the shipped
// files are looked up in the working directory first and then in the source
// tree tollgate was built from; the ledger and audit paths stay relative to
// the working directory. "audit": "" and "ledger": "" turn those parts off.
//
// ## Errors
// LoadConfig returns false with a one-line *error naming the member
// ("config `gw.json`: `limits.max_body_bytes` must be a positive integer").
// Unknown members are errors (a typo must not silently keep a default), and
// so is a member repeated in an object ("config `gw.json`: duplicate
// top-level key `audit`"): jq shows its last copy, FindMember reads the first.
//
// Thread safety: plain data.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tollgate::gateway {

struct HttpLimits {
  uint64_t max_body_bytes = 4u << 20;    // request body; larger: 413 request_too_large
  uint32_t max_header_bytes = 16u << 10; // request line + headers; larger: 431
  int64_t read_timeout_ms = 15'000;      // headers + body of one request (slow clients)
  int64_t idle_timeout_ms = 60'000;      // keep-alive connection with no request
  uint32_t max_connections = 4096;       // above: the connection is closed at once
};

struct UpstreamOptions {
  int64_t connect_timeout_ms = 3'000;
  // request sent -> response headers: a non-streamed answer's head comes
  // with the whole answer, which a reasoning model may take minutes to
  // write (the OpenAI SDKs wait 10 minutes)
  int64_t first_byte_timeout_ms = 600'000;
  int64_t idle_timeout_ms = 300'000;       // between two reads of the body / stream
  uint32_t max_idle_per_endpoint = 64;     // pooled keep-alive connections per host
  // How long a pooled connection may sit idle before it is closed instead of
  // reused: a NAT or load balancer may have dropped it without a word, and
  // a request sent on it would wait out first_byte_timeout_ms.
  int64_t pool_idle_timeout_ms = 60'000;
  uint64_t max_response_bytes = 16u << 20; // a non-streamed upstream answer
  uint32_t max_attempts = 3;               // endpoints tried (primary + fallbacks)
  std::string ca_file;                     // extra trusted CAs (PEM), besides the system's
};

// Cross-origin requests from browsers (CORS). Off by default: a browser
// page may then call the gateway only from the gateway's own origin.
struct CorsOptions {
  // Origins allowed to call the API (`https://app.example.com`, exact
  // match), or one "*" for any origin. Empty: CORS off.
  std::vector<std::string> allow_origins;
  int64_t max_age_s = 600;  // how long a browser may cache a preflight answer
  bool allowed(std::string_view origin) const {
    for (const std::string& o : allow_origins) {
      if (o == "*" || o == origin) return true;
    }
    return false;
  }
};

struct Config {
  std::string listen = "127.0.0.1:8080";
  std::string host = "127.0.0.1";  // from listen
  uint16_t port = 8080;            // from listen; 0 = any free port
  int threads = 0;                 // 0 = one per core
  std::vector<std::string> policy = {"policies/example.tg"};
  std::string schema;
  std::string catalog = "policies/catalog.json";
  std::string accounts = "policies/accounts.json";
  std::string keys = "policies/keys.json";
  std::string ledger = "sqlite:tollgate-data/ledger.db";
  std::string audit = "tollgate-data/audit";
  // false (default): an answer waits until its record is written to the OS
  // (survives kill -9, like the ledger's settlements); true: until it is
  // fdatasync'ed (survives a power loss; group commit).
  bool audit_sync = false;
  std::string admin_token_env = "TOLLGATE_ADMIN_TOKEN";
  std::string decide_token_env;    // when set: /v1/decide needs this bearer token
  // SIGTERM (or Stop) starts a drain: for drain_grace_ms new connections
  // are still accepted -- /healthz answers 503 `draining`, so that a load
  // balancer takes the instance out, and new chat and decide requests 503
  // `draining` with Connection: close -- then the listener closes and
  // requests in flight get at most drain_timeout_ms more. SIGINT and a
  // second SIGTERM (or Stop) skip what is left of the grace period.
  int64_t drain_grace_ms = 5'000;
  int64_t drain_timeout_ms = 30'000;
  bool access_log = true;
  HttpLimits limits;
  UpstreamOptions upstream;
  CorsOptions cors;
  // Proxies (addresses or networks, "10.0.0.0/8") whose X-Forwarded-For
  // names the client for context.ip; empty (default): the peer address is
  // the client, X-Forwarded-For is ignored (context.h).
  std::vector<std::string> trusted_proxies;
  std::string source;              // the config file ("" = embedded defaults)
};

// Reads and validates `path`; relative paths in it become relative to its
// directory. False with *error (one line).
bool LoadConfig(const std::string& path, Config* out, std::string* error);

// The embedded defaults, with the shipped files found in the working
// directory or else in the source tree (see above).
Config DefaultConfig();

// Parses "HOST:PORT" (IPv4, a name, or [IPv6]). False with *error.
bool ParseListen(const std::string& listen, std::string* host, uint16_t* port, std::string* error);

}  // namespace tollgate::gateway
