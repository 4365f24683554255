// Opening a ledger by URL.
//
//   memory:                 in-process only (nothing persisted)
//   sqlite:PATH             the embedded ledger file (sqlite_ledger.h); PATH
//                           relative to the working directory
//   redis://HOST[:PORT][/DB]  a Redis server shared by replicas
//                           (redis_ledger.h); PORT defaults to 6379, DB to 0
//   ...?NAME=VALUE&...      parameters over the caller's Options:
//                           sqlite `mode=strict|batched`, redis
//                           `fail_open=true|false`, any `reservation_ttl_ms=N`
//
//   std::string err;
//   auto ledger = ledger::OpenLedger("sqlite:/var/lib/tollgate/ledger.db", {}, &err);
//   if (!ledger) Die(err);   // "ledger `...` is owned by pid 4242 on host gw-1 since ..."
//
// Errors: a malformed URL gets one line naming what is wrong ("ledger url
// `redis://h:99999` has an invalid port `99999`") and the accepted forms.
// Thread safety: the functions are reentrant.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "runtime/ledger/ledger.h"

namespace tollgate::ledger {

struct LedgerUrl {
  enum class Kind : uint8_t { kMemory, kSqlite, kRedis } kind = Kind::kMemory;
  std::string path;    // sqlite
  std::string host;    // redis
  int port = 6379;
  int db = 0;
  // Parameters after `?` (NAME=VALUE joined by `&`); -1 = not given, the
  // caller's Options stand. sqlite: mode=strict|batched; redis:
  // fail_open=true|false; any: reservation_ttl_ms=N (N >= 1).
  int strict = -1;
  int fail_open = -1;
  int64_t reservation_ttl_ms = -1;
  // Sets the given parameters on *o.
  void Apply(Options* o) const;
};

// Parses a ledger URL. False with *error (one line) on anything malformed.
bool ParseLedgerUrl(std::string_view url, LedgerUrl* out, std::string* error);

// Parses and opens. Null with *error when the URL is malformed or the store
// cannot be opened (a Redis ledger opens even when the server is down: its
// calls then answer 503 or fail open, per Options::fail_open).
std::unique_ptr<Ledger> OpenLedger(std::string_view url, const Options& options, std::string* error);

// The `memory:` ledger.
std::unique_ptr<Ledger> NewMemoryLedger(const Options& options);

}  // namespace tollgate::ledger
