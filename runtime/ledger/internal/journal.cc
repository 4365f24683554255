#include "runtime/ledger/internal/journal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <optional>
#include <tuple>

namespace tollgate::ledger::internal {

namespace {

// Frames larger than this are refused on read (a damaged length): a batch
// holds one commit interval's changes, far below it.
constexpr uint32_t kMaxFrame = 256u << 20;
constexpr size_t kHeader = 4 + 8;

uint64_t Fnv1a(const char* p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; ++i) {
    h ^= static_cast<unsigned char>(p[i]);
    h *= 1099511628211ull;
  }
  return h;
}

void PutU64(std::string* out, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out->append(b, 8);
}
void PutI64(std::string* out, int64_t v) { PutU64(out, static_cast<uint64_t>(v)); }
void PutStr(std::string* out, const std::string& s) {
  PutU64(out, s.size());
  out->append(s);
}

class Reader {
 public:
  explicit Reader(const std::string& d) : p_(d.data()), end_(d.data() + d.size()) {}
  bool U64(uint64_t* v) {
    if (end_ - p_ < 8) return false;
    uint64_t r = 0;
    for (int i = 0; i < 8; ++i) r |= static_cast<uint64_t>(static_cast<unsigned char>(p_[i])) << (8 * i);
    p_ += 8;
    *v = r;
    return true;
  }
  bool I64(int64_t* v) {
    uint64_t u = 0;
    if (!U64(&u)) return false;
    *v = static_cast<int64_t>(u);
    return true;
  }
  bool Str(std::string* s) {
    uint64_t n = 0;
    if (!U64(&n) || n > static_cast<uint64_t>(end_ - p_)) return false;
    s->assign(p_, n);
    p_ += n;
    return true;
  }
  // A count of items each at least `min_bytes` long (bounds allocation).
  bool Count(uint64_t* n, size_t min_bytes) {
    return U64(n) && *n <= static_cast<uint64_t>(end_ - p_) / min_bytes;
  }
  bool done() const { return p_ == end_; }

 private:
  const char* p_;
  const char* end_;
};

}  // namespace

Batch Coalesce(std::vector<Batch>&& batches) {
  Batch out;
  if (batches.empty()) return out;
  std::map<std::tuple<std::string, std::string, std::string, int64_t>, CounterRow> counters;
  std::map<std::tuple<std::string, std::string, std::string, uint64_t>, LimitRow> limits;
  std::map<uint64_t, std::optional<ReservationRow>> reservations;  // nullopt = erased
  for (Batch& b : batches) {
    for (CounterRow& c : b.counters) {
      auto key = std::make_tuple(c.budget, c.key, c.window, c.start_ms);
      counters.insert_or_assign(std::move(key), std::move(c));
    }
    for (LimitRow& l : b.limits) {
      auto key = std::make_tuple(l.limit, l.key, l.window, l.reservation);
      limits.insert_or_assign(std::move(key), std::move(l));
    }
    // Within a batch erasures are applied before upserts (SqliteLedger::Write).
    for (uint64_t id : b.erase_reservations) reservations.insert_or_assign(id, std::nullopt);
    for (ReservationRow& r : b.upsert_reservations) {
      const uint64_t id = r.id;
      reservations.insert_or_assign(id, std::move(r));
    }
  }
  const Batch& last = batches.back();
  out.seq = last.seq;
  out.next_id = last.next_id;
  out.now_ms = last.now_ms;
  for (auto& [k, c] : counters) out.counters.push_back(std::move(c));
  for (auto& [k, l] : limits) out.limits.push_back(std::move(l));
  for (auto& [id, r] : reservations) {
    if (r) out.upsert_reservations.push_back(std::move(*r));
    else out.erase_reservations.push_back(id);
  }
  return out;
}

std::string EncodeBatch(const Batch& b) {
  std::string out;
  out.reserve(64 + 96 * (b.counters.size() + b.limits.size() + b.upsert_reservations.size()));
  PutU64(&out, b.seq);
  PutU64(&out, b.next_id);
  PutI64(&out, b.now_ms);
  PutU64(&out, b.counters.size());
  for (const CounterRow& c : b.counters) {
    PutStr(&out, c.budget);
    PutStr(&out, c.key);
    PutStr(&out, c.window);
    for (int64_t v : {c.start_ms, c.end_ms, c.limit, c.spent, c.reserved}) PutI64(&out, v);
  }
  PutU64(&out, b.limits.size());
  for (const LimitRow& l : b.limits) {
    PutStr(&out, l.limit);
    PutStr(&out, l.key);
    PutStr(&out, l.window);
    PutU64(&out, l.reservation);
    for (int64_t v : {l.at_ms, l.expires_ms, l.amount, l.max}) PutI64(&out, v);
    PutU64(&out, l.unit == LimitUnit::kTokens ? 1 : 0);
    PutU64(&out, l.erase ? 1 : 0);
  }
  PutU64(&out, b.upsert_reservations.size());
  for (const ReservationRow& r : b.upsert_reservations) {
    PutU64(&out, r.id);
    PutI64(&out, r.created_ms);
    PutI64(&out, r.expires_ms);
    PutU64(&out, r.charges.size());
    for (const ChargeRow& c : r.charges) {
      PutU64(&out, c.is_budget ? 1 : 0);
      PutStr(&out, c.name);
      PutStr(&out, c.key);
      PutStr(&out, c.window);
      PutI64(&out, c.window_start_ms);
      PutI64(&out, c.amount);
    }
  }
  PutU64(&out, b.erase_reservations.size());
  for (uint64_t id : b.erase_reservations) PutU64(&out, id);
  return out;
}

bool DecodeBatch(const std::string& data, Batch* b) {
  Reader r(data);
  *b = Batch{};
  uint64_t n = 0;
  if (!r.U64(&b->seq) || !r.U64(&b->next_id) || !r.I64(&b->now_ms) || !r.Count(&n, 8 * 8)) return false;
  b->counters.resize(n);
  for (CounterRow& c : b->counters) {
    if (!r.Str(&c.budget) || !r.Str(&c.key) || !r.Str(&c.window)) return false;
    for (int64_t* v : {&c.start_ms, &c.end_ms, &c.limit, &c.spent, &c.reserved})
      if (!r.I64(v)) return false;
  }
  if (!r.Count(&n, 8 * 10)) return false;
  b->limits.resize(n);
  for (LimitRow& l : b->limits) {
    uint64_t unit = 0, erase = 0;
    if (!r.Str(&l.limit) || !r.Str(&l.key) || !r.Str(&l.window) || !r.U64(&l.reservation)) return false;
    for (int64_t* v : {&l.at_ms, &l.expires_ms, &l.amount, &l.max})
      if (!r.I64(v)) return false;
    if (!r.U64(&unit) || !r.U64(&erase) || unit > 1 || erase > 1) return false;
    l.unit = unit ? LimitUnit::kTokens : LimitUnit::kRequests;
    l.erase = erase != 0;
  }
  if (!r.Count(&n, 8 * 4)) return false;
  b->upsert_reservations.resize(n);
  for (ReservationRow& res : b->upsert_reservations) {
    uint64_t m = 0;
    if (!r.U64(&res.id) || !r.I64(&res.created_ms) || !r.I64(&res.expires_ms) || !r.Count(&m, 8 * 6))
      return false;
    res.charges.resize(m);
    for (ChargeRow& c : res.charges) {
      uint64_t is_budget = 0;
      if (!r.U64(&is_budget) || is_budget > 1 || !r.Str(&c.name) || !r.Str(&c.key) || !r.Str(&c.window) ||
          !r.I64(&c.window_start_ms) || !r.I64(&c.amount))
        return false;
      c.is_budget = is_budget != 0;
    }
  }
  if (!r.Count(&n, 8)) return false;
  b->erase_reservations.resize(n);
  for (uint64_t& id : b->erase_reservations)
    if (!r.U64(&id)) return false;
  return r.done();
}

Journal::~Journal() {
  if (fd_ >= 0) ::close(fd_);
}

bool Journal::Open(const std::string& path, std::string* error) {
  path_ = path;
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    *error = "cannot open ledger journal `" + path + "`: " + std::strerror(errno);
    return false;
  }
  struct stat st;
  size_ = ::fstat(fd_, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  return true;
}

bool Journal::ReadAll(std::vector<Batch>* out, bool* torn, std::string* error) {
  out->clear();
  *torn = false;
  std::string data;
  char buf[1 << 16];
  for (off_t off = 0;;) {
    ssize_t n = ::pread(fd_, buf, sizeof buf, off);
    if (n < 0) {
      if (errno == EINTR) continue;
      *error = "cannot read ledger journal `" + path_ + "`: " + std::strerror(errno);
      return false;
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
    off += n;
  }
  size_t at = 0;
  std::string payload;
  while (at < data.size()) {
    if (data.size() - at < kHeader) {
      *torn = true;
      break;
    }
    uint32_t len = 0;
    uint64_t hash = 0;
    for (int i = 0; i < 4; ++i) len |= static_cast<uint32_t>(static_cast<unsigned char>(data[at + i])) << (8 * i);
    for (int i = 0; i < 8; ++i) hash |= static_cast<uint64_t>(static_cast<unsigned char>(data[at + 4 + i])) << (8 * i);
    Batch b;
    if (len > kMaxFrame || data.size() - at - kHeader < len ||
        Fnv1a(data.data() + at + kHeader, len) != hash ||
        !DecodeBatch(payload.assign(data, at + kHeader, len), &b)) {
      *torn = true;
      break;
    }
    out->push_back(std::move(b));
    at += kHeader + len;
  }
  return true;
}

bool Journal::Append(const Batch& b, std::string* error) {
  const std::string payload = EncodeBatch(b);
  frame_.clear();
  const uint32_t len = static_cast<uint32_t>(payload.size());
  for (int i = 0; i < 4; ++i) frame_.push_back(static_cast<char>(len >> (8 * i)));
  PutU64(&frame_, Fnv1a(payload.data(), payload.size()));
  frame_ += payload;
  size_t off = 0;
  while (off < frame_.size()) {
    ssize_t n = ::write(fd_, frame_.data() + off, frame_.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      *error = "cannot write ledger journal `" + path_ + "`: " + std::strerror(n < 0 ? errno : ENOSPC);
      return false;
    }
    off += static_cast<size_t>(n);
  }
  size_ += frame_.size();
  return true;
}

bool Journal::Clear(std::string* error) {
  if (size_ == 0) return true;
  if (::ftruncate(fd_, 0) != 0) {
    *error = "cannot empty ledger journal `" + path_ + "`: " + std::strerror(errno);
    return false;
  }
  size_ = 0;
  return true;
}

}  // namespace tollgate::ledger::internal
