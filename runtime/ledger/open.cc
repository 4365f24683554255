#include "runtime/ledger/open.h"

#include <charconv>

#include "runtime/ledger/internal/state.h"
#include "runtime/ledger/redis_ledger.h"
#include "runtime/ledger/sqlite_ledger.h"

namespace tollgate::ledger {
namespace {

constexpr const char* kForms = "; use `sqlite:PATH`, `redis://HOST:PORT/DB` or `memory:`";

class MemoryLedger : public Ledger {
 public:
  explicit MemoryLedger(const Options& o) : state_(o, false) {}
  Admission Reserve(const ReserveRequest& r) override {
    uint64_t seq;
    return state_.Reserve(r, &seq);
  }
  Status Settle(uint64_t id, Usage u) override {
    uint64_t seq;
    return state_.Settle(id, u, &seq);
  }
  Status Release(uint64_t id) override {
    uint64_t seq;
    return state_.Release(id, &seq);
  }
  Admission Move(uint64_t id, Usage u) override {
    uint64_t seq;
    return state_.Move(id, u, &seq);
  }
  Status Peek(const ReserveRequest& r, std::vector<CounterView>* out) override {
    state_.Peek(r, out);
    return Status::Ok();
  }
  Status Snapshot(std::vector<CounterView>* out) override {
    state_.Snapshot(out);
    return Status::Ok();
  }
  int ExpireDue() override {
    uint64_t seq;
    return state_.ExpireDue(&seq);
  }

 private:
  internal::State state_;
};

bool ParseInt(std::string_view s, int lo, int hi, int* out) {
  if (s.empty()) return false;
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < lo || v > hi) return false;
  *out = v;
  return true;
}

// Reads the parameters after `?` into *out (kind already set).
bool ParseParams(std::string_view query, const std::string& shown, LedgerUrl* out, std::string* error) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      *error = shown + " has an invalid parameter `" + std::string(item) + "` (NAME=VALUE)" + kForms;
      return false;
    }
    std::string_view name = item.substr(0, eq), value = item.substr(eq + 1);
    auto invalid = [&](const char* want) {
      *error = shown + " has an invalid `" + std::string(name) + "` `" + std::string(value) + "`" + want + kForms;
      return false;
    };
    if (name == "mode" && out->kind == LedgerUrl::Kind::kSqlite) {
      if (value != "strict" && value != "batched") return invalid(" (strict or batched)");
      out->strict = value == "strict";
    } else if (name == "fail_open" && out->kind == LedgerUrl::Kind::kRedis) {
      if (value != "true" && value != "false") return invalid(" (true or false)");
      out->fail_open = value == "true";
    } else if (name == "reservation_ttl_ms") {
      int64_t v = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
      if (value.empty() || ec != std::errc() || p != value.data() + value.size() || v < 1)
        return invalid(" (milliseconds, at least 1)");
      out->reservation_ttl_ms = v;
    } else {
      *error = shown + " has an unknown parameter `" + std::string(name) +
               "` (sqlite: mode, reservation_ttl_ms; redis: fail_open, reservation_ttl_ms)" + kForms;
      return false;
    }
  }
  return true;
}

}  // namespace

void LedgerUrl::Apply(Options* o) const {
  if (strict >= 0) o->strict = strict == 1;
  if (fail_open >= 0) o->fail_open = fail_open == 1;
  if (reservation_ttl_ms > 0) o->reservation_ttl_ms = reservation_ttl_ms;
}

bool ParseLedgerUrl(std::string_view url, LedgerUrl* out, std::string* error) {
  *out = LedgerUrl{};
  const std::string shown = "ledger url `" + std::string(url) + "`";
  std::string_view query;
  if (size_t q = url.find('?'); q != std::string_view::npos) {
    query = url.substr(q + 1);
    url = url.substr(0, q);
  }
  if (url == "memory:") {
    out->kind = LedgerUrl::Kind::kMemory;
    return ParseParams(query, shown, out, error);
  }
  if (url.substr(0, 7) == "sqlite:") {
    std::string_view path = url.substr(7);
    if (path.substr(0, 2) == "//") path.remove_prefix(2);  // sqlite://PATH is accepted too
    if (path.empty()) {
      *error = shown + " has no file path" + kForms;
      return false;
    }
    out->kind = LedgerUrl::Kind::kSqlite;
    out->path = std::string(path);
    return ParseParams(query, shown, out, error);
  }
  if (url.substr(0, 8) == "redis://") {
    std::string_view rest = url.substr(8);
    std::string_view authority = rest.substr(0, rest.find('/'));
    std::string_view db = rest.size() > authority.size() ? rest.substr(authority.size() + 1) : std::string_view();
    if (authority.find('@') != std::string_view::npos) {
      *error = shown + " has credentials; they are not supported" + kForms;
      return false;
    }
    std::string_view host = authority, port;
    if (size_t c = authority.rfind(':'); c != std::string_view::npos) {
      host = authority.substr(0, c);
      port = authority.substr(c + 1);
      if (!ParseInt(port, 1, 65535, &out->port)) {
        *error = shown + " has an invalid port `" + std::string(port) + "`" + kForms;
        return false;
      }
    }
    if (host.empty()) {
      *error = shown + " has no host" + kForms;
      return false;
    }
    if (!db.empty() && !ParseInt(db, 0, 1 << 20, &out->db)) {
      *error = shown + " has an invalid database number `" + std::string(db) + "`" + kForms;
      return false;
    }
    out->kind = LedgerUrl::Kind::kRedis;
    out->host = std::string(host);
    return ParseParams(query, shown, out, error);
  }
  *error = shown + " has an unknown scheme" + kForms;
  return false;
}

std::unique_ptr<Ledger> NewMemoryLedger(const Options& options) { return std::make_unique<MemoryLedger>(options); }

std::unique_ptr<Ledger> OpenLedger(std::string_view url, const Options& options, std::string* error) {
  LedgerUrl u;
  if (!ParseLedgerUrl(url, &u, error)) return nullptr;
  Options o = options;
  u.Apply(&o);
  switch (u.kind) {
    case LedgerUrl::Kind::kMemory: return NewMemoryLedger(o);
    case LedgerUrl::Kind::kSqlite: return SqliteLedger::Open(u.path, o, error);
    case LedgerUrl::Kind::kRedis: return RedisLedger::Open(u.host, u.port, u.db, o, error);
  }
  return nullptr;
}

}  // namespace tollgate::ledger
