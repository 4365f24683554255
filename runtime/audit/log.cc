#include "engine/core/sha256.h"
#include "runtime/audit/log.h"

#include <dirent.h>
#include <fcntl.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "runtime/audit/internal/content.h"
#include "runtime/audit/internal/util.h"
#include "runtime/audit/reader.h"
#include "runtime/audit/store.h"
#include "runtime/decide/decision_json.h"

namespace tollgate::audit {

static_assert(Options{}.max_listed == internal::kMaxListed &&
              Options{}.max_listed_path_bytes == internal::kMaxListedPathBytes);
namespace rj = rapidjson;
using internal::FormatMillis;
using internal::NowMillis;

namespace {

struct Pending {
  Entry entry;
  std::string id;
  int64_t ms = 0;
  uint64_t seq = 0;
};

void AppendQuoted(std::string* out, std::string_view s) {
  // What rapidjson's Writer writes for a string without a character it
  // escapes (`"`, `\\`, control characters): the bytes in quotes.
  bool plain = true;
  for (char c : s)
    if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) {
      plain = false;
      break;
    }
  if (plain) {
    out->push_back('"');
    out->append(s);
    out->push_back('"');
    return;
  }
  rj::StringBuffer sb;
  rj::Writer<rj::StringBuffer> w(sb);
  w.String(s.data(), static_cast<rj::SizeType>(s.size()));
  out->append(sb.GetString(), sb.GetSize());
}

bool WriteAll(int fd, std::string_view data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

void TrimRight(std::string* s) {
  while (!s->empty() && (s->back() == '\n' || s->back() == ' ' || s->back() == '\r')) s->pop_back();
}

// The HMAC key of `retain content hash`: DIR/key, 32 random bytes in hex
// (the file's text without its trailing newline is the key).
bool LoadOrMakeKey(const std::string& dir, std::string* key, std::string* error) {
  const std::string path = dir + "/key";
  if (internal::ReadWholeFile(path, key, error) && key->size() >= 32) {
    TrimRight(key);
    return true;
  }
  unsigned char raw[32];
  if (getrandom(raw, sizeof raw, 0) != static_cast<ssize_t>(sizeof raw)) {
    *error = "no randomness for the audit key";
    return false;
  }
  static const char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char c : raw) {
    hex += kHex[c >> 4];
    hex += kHex[c & 15];
  }
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) {
    bool ok = WriteAll(fd, hex + "\n") && ::fsync(fd) == 0;
    ::close(fd);
    if (!ok) {
      *error = "cannot write `" + path + "`";
      return false;
    }
    internal::FsyncDir(dir);
  }
  // Another process may have created it first: read whatever is there.
  if (!internal::ReadWholeFile(path, key, error) || key->size() < 32) {
    *error = "cannot read the audit key `" + path + "`";
    return false;
  }
  TrimRight(key);
  return true;
}

}  // namespace

#ifndef TOLLGATE_VERSION
#define TOLLGATE_VERSION "unknown"
#endif
const char* TollgateVersion() { return TOLLGATE_VERSION; }

std::string RenderDecision(const vm::Decision& d, const vm::Program& program) {
  return runtime::DecisionToJson(d, program, {});
}

struct AuditLog::Impl {
  AuditLog* owner = nullptr;
  std::string dir;
  Options options;
  std::string hmac_key;

  // --- shared with Append ---
  std::mutex mu;
  std::condition_variable work_cv;
  std::condition_variable space_cv;  // Append waits here while the queue is full
  size_t blocked = 0;                // appenders waiting for space
  bool writer_waiting = false;
  bool stop = false;
  std::vector<Pending> queue;
  uint64_t next_seq = 0;
  internal::IdGenerator ids;

  std::mutex durable_mu;
  std::condition_variable durable_cv;
  std::function<void(uint64_t)> callback;  // guarded by durable_mu
  // OnDurable handlers by sequence number, guarded by durable_mu; run
  // outside it. `waiters_closed`: no more can be satisfied (failed or closed).
  std::multimap<uint64_t, std::function<void(bool)>> waiters;
  bool waiters_closed = false;

  std::mutex subjects_mu;
  std::map<std::string, std::shared_ptr<const Subject>> subjects;

  // --- the file: whoever holds write_mu (the writer thread, or a Drain
  // caller); taken before mu, never after ---
  std::mutex write_mu;
  std::thread thread;
  int fd = -1;
  uint64_t file_seq = 0;
  uint64_t file_bytes = 0;
  uint64_t file_records = 0;
  int64_t file_opened_ms = 0;
  std::string last_hash;
  std::string buf;
  bool dirty = false;  // written since the last sync
  bool closed = false;
  int lock_fd = -1;

  ~Impl() {
    if (lock_fd >= 0) ::close(lock_fd);
  }

  std::string FilePath(uint64_t seq) const { return LogFilePath(dir, seq); }

  void Fail() {
    owner->failed_.store(true, std::memory_order_release);
    std::multimap<uint64_t, std::function<void(bool)>> dropped;
    {
      std::lock_guard<std::mutex> lock(durable_mu);
      durable_cv.notify_all();
      if (callback) callback(owner->durable_.load(std::memory_order_acquire));
      waiters_closed = true;
      dropped.swap(waiters);
    }
    for (auto& [seq, done] : dropped) done(false);
  }

  // Every waiter left is told it will not become durable (Close).
  void DropWaiters() {
    std::multimap<uint64_t, std::function<void(bool)>> dropped;
    {
      std::lock_guard<std::mutex> lock(durable_mu);
      waiters_closed = true;
      dropped.swap(waiters);
    }
    for (auto& [seq, done] : dropped) done(false);
  }

  // Finishes the line that starts at buf[start] (buf holds everything of it
  // before the hash): appends its hash and the line's end.
  void SealAt(size_t start) {
    std::string h = Sha256Hex(std::string_view(buf).substr(start));
    buf += ",\"hash\":\"";
    buf += h;
    buf += "\"}\n";
    last_hash = std::move(h);
  }
  // Appends `line` (everything before the hash) to buf and seals it.
  void Seal(std::string* line) {
    const size_t start = buf.size();
    buf += *line;
    SealAt(start);
  }

  bool OpenFile(uint64_t seq, bool recovered) {
    const std::string path = FilePath(seq);
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0) return false;
    file_seq = seq;
    file_bytes = 0;
    file_records = 0;
    file_opened_ms = NowMillis();
    std::string line = "{\"kind\":\"file\",\"seq\":" + std::to_string(seq) + ",\"time\":\"" +
                       FormatMillis(file_opened_ms) + "\",\"prev\":\"" + last_hash +
                       "\",\"tollgate\":\"" + TollgateVersion() + "\",\"recovered\":" +
                       (recovered ? "true" : "false");
    Seal(&line);
    bool ok = Flush();
    internal::FsyncDir(dir);
    return ok;
  }

  // Writes buf out (no sync).
  bool WriteOut() {
    if (buf.empty()) return true;
    bool ok = WriteAll(fd, buf);
    file_bytes += buf.size();
    buf.clear();
    dirty = true;
    return ok;
  }
  // Writes buf out and makes everything written durable.
  bool Flush() {
    bool ok = WriteOut();
    if (options.sync) ok = Sync() && ok;
    return ok;
  }
  bool Sync() {
    bool ok = !dirty || ::fdatasync(fd) == 0;
    dirty = false;
    return ok;
  }

  bool CloseFile() {
    if (fd < 0) return true;
    std::string line = "{\"kind\":\"seal\",\"seq\":" + std::to_string(file_seq) + ",\"time\":\"" +
                       FormatMillis(NowMillis()) + "\",\"records\":" + std::to_string(file_records) +
                       ",\"prev\":\"" + last_hash + "\"";
    Seal(&line);
    bool ok = Flush();
    if (::close(fd) != 0) ok = false;
    fd = -1;
    return ok;
  }

  // Composes the record of `p` straight into buf (no copy of the line) and
  // seals it. A failure part-way (an allocation) leaves buf as it was.
  void Compose(Pending& p) {
    const size_t start = buf.size();
    try {
      ComposeAt(p, start);
    } catch (...) {
      buf.resize(start);
      throw;
    }
    ++file_records;
  }
  void ComposeAt(Pending& p, size_t start) {
    const Entry& e = p.entry;
    std::string& line = buf;
    line.reserve(start + 256 + (e.subject ? e.subject->header.size() : 0) + e.input.size() +
                 e.decision.size() + e.endpoints.size() + e.counters.size() + e.admission.size() +
                 e.gateway.size() + e.shadow.size() + e.clock.size());
    line += "{\"kind\":\"decision\",\"id\":\"";
    line += p.id;
    line += "\",\"time\":\"";
    line += FormatMillis(p.ms);
    line += "\",\"prev\":\"";
    line += last_hash;
    line += "\",";
    if (e.subject) line += e.subject->header;
    else line += "\"policy\":null";
    line += ",\"clock\":";
    if (e.clock.empty()) line += "null";
    else AppendQuoted(&line, e.clock);
    line += ",\"counters\":";
    line += e.counters.empty() ? std::string_view("null") : std::string_view(e.counters);
    if (!e.admission.empty()) {
      line += ",\"admission\":";
      line += e.admission;
    }
    line += ",\"input\":";
    internal::AppendPreparedInput(e.input, e.subject ? e.subject->retain : ast::Retention::kFull,
                                  hmac_key, e.subject ? e.subject->allow.get() : nullptr, &line,
                                  &content, {options.max_listed, options.max_listed_path_bytes});
    if (!content.empty()) {
      line += ",\"content\":";
      line += content;
    }
    line += ",\"decision\":";
    line += e.decision.empty() ? std::string_view("null") : std::string_view(e.decision);
    line += ",\"endpoints\":";
    line += e.endpoints.empty() ? std::string_view("null") : std::string_view(e.endpoints);
    if (!e.gateway.empty()) {
      line += ",\"gateway\":";
      line += e.gateway;
    }
    if (!e.shadow.empty()) {
      line += ",\"shadow\":";
      line += e.shadow;
    }
    SealAt(start);
  }

  // Takes what Append queued, in order. Caller holds write_mu.
  void TakeQueue(std::vector<Pending>* batch) {
    std::lock_guard<std::mutex> lock(mu);
    batch->swap(queue);
    if (blocked) space_cv.notify_all();
  }

  // Writes a batch (rotating first when due), publishes the new durable
  // sequence number and collects the OnDurable handlers it satisfies (run
  // them after releasing write_mu). Caller holds write_mu.
  void WriteBatch(std::vector<Pending>* batch, std::vector<std::function<void(bool)>>* ready) {
    if (owner->failed()) {
      batch->clear();
      return;
    }
    bool ok = true;
    const int64_t now = NowMillis();
    if (file_bytes >= options.max_file_bytes || now - file_opened_ms >= options.max_file_age_ms) {
      ok = CloseFile() && OpenFile(file_seq + 1, false);
    }
    uint64_t last = 0;
    for (Pending& p : *batch) {
      Compose(p);
      last = p.seq;
      // Large batches are written in 1 MiB pieces; one sync per batch.
      if (buf.size() >= (1u << 20)) ok = WriteOut() && ok;
    }
    ok = ok && Flush();
    batch->clear();
    if (!ok) {
      Fail();
      return;
    }
    std::lock_guard<std::mutex> lock(durable_mu);
    owner->durable_.store(last, std::memory_order_release);
    durable_cv.notify_all();
    if (callback) callback(last);
    if (!waiters.empty()) {
      auto end = waiters.upper_bound(last);
      for (auto it = waiters.begin(); it != end; ++it) ready->push_back(std::move(it->second));
      waiters.erase(waiters.begin(), end);
    }
  }

  // The writer thread: writes what Append queued (unless a Drain caller
  // already did); without per-batch sync, fdatasyncs what was written every
  // background_sync_ms while idle.
  void Run() {
    std::vector<Pending> batch;
    std::vector<std::function<void(bool)>> ready;
    const bool periodic = (!options.sync && options.background_sync_ms > 0) || options.caller_writes;
    for (;;) {
      bool timed_out = false;
      {
        std::unique_lock<std::mutex> lock(mu);
        while (queue.empty() && !stop && !timed_out) {
          writer_waiting = true;
          if (periodic) {
            timed_out = work_cv.wait_for(lock, std::chrono::milliseconds(std::max<int64_t>(
                                                   1, options.background_sync_ms > 0 ? options.background_sync_ms : 100))) ==
                        std::cv_status::timeout;
          } else {
            work_cv.wait(lock);
          }
          writer_waiting = false;
        }
        if (queue.empty() && stop) break;
      }
      int sync_fd = -1;
      {
        std::lock_guard<std::mutex> w(write_mu);
        TakeQueue(&batch);
        if (!batch.empty()) WriteBatch(&batch, &ready);
        if (timed_out && !options.sync && options.background_sync_ms > 0 && !owner->failed() && dirty) {
          sync_fd = ::dup(fd);  // synced outside write_mu: appenders never wait for the disk
          dirty = false;
        }
      }
      if (sync_fd >= 0) {
        if (::fdatasync(sync_fd) != 0) Fail();
        ::close(sync_fd);
      }
      for (auto& done : ready) done(true);
      ready.clear();
    }
  }

  std::string content;  // reused by Compose (under write_mu)
};

AuditLog::AuditLog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) { impl_->owner = this; }

AuditLog::~AuditLog() { Close(); }

const std::string& AuditLog::dir() const { return impl_->dir; }

std::unique_ptr<AuditLog> AuditLog::Open(const std::string& dir, const Options& options,
                                         std::string* error) {
  // An empty path would put the log, its key and its store in `/` (every
  // file is DIR + "/name"); an existing file would fail later, as an
  // unreadable key.
  if (dir.empty()) {
    *error = "the audit directory is an empty path";
    return nullptr;
  }
  if (!internal::MakeDirs(dir, error)) return nullptr;
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    *error = "the audit directory `" + dir + "` is not a directory";
    return nullptr;
  }
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  impl->options = options;
  if (!LoadOrMakeKey(dir, &impl->hmac_key, error)) return nullptr;
  // One writer per directory: an advisory lock held for the log's lifetime.
  impl->lock_fd = ::open((dir + "/lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (impl->lock_fd < 0) {
    *error = "cannot open `" + dir + "/lock`: " + std::strerror(errno);
    return nullptr;
  }
  if (::flock(impl->lock_fd, LOCK_EX | LOCK_NB) != 0) {
    *error = "the audit directory `" + dir + "` is in use by another writer";
    return nullptr;
  }
  // Chain to the last complete record of the newest file; always start a new
  // file (a file without its seal was cut short by a crash: "recovered").
  std::vector<uint64_t> seqs;
  if (!ListLogFiles(dir, &seqs, error)) return nullptr;
  impl->last_hash = std::string(internal::kGenesis);
  uint64_t next = seqs.empty() ? 1 : seqs.back() + 1;
  bool recovered = false;
  for (auto it = seqs.rbegin(); it != seqs.rend(); ++it) {
    TailInfo tail;
    if (!ReadTail(impl->FilePath(*it), &tail, error)) return nullptr;
    if (tail.last_hash.empty()) {
      // Not one complete record (a crash while creating it): reuse its number.
      if (*it + 1 == next) next = *it;
      recovered = true;
      continue;
    }
    impl->last_hash = tail.last_hash;
    recovered = recovered || !tail.sealed;
    break;
  }
  if (!impl->OpenFile(next, recovered)) {
    *error = "cannot create `" + impl->FilePath(next) + "`: " + std::strerror(errno);
    return nullptr;
  }
  std::unique_ptr<AuditLog> log(new AuditLog(std::move(impl)));
  Impl* p = log->impl_.get();
  p->thread = std::thread([p] { p->Run(); });
  return log;
}

std::shared_ptr<const Subject> AuditLog::Register(const Policy& policy,
                                                  const SubjectSources& sources,
                                                  std::string* error) {
  const std::string key = policy.version_id() + "|" + Sha256Hex(sources.schema_json) +
                          "|" + Sha256Hex(sources.catalog_json) + "|" +
                          Sha256Hex(sources.accounts_json);
  std::lock_guard<std::mutex> lock(impl_->subjects_mu);
  if (auto it = impl_->subjects.find(key); it != impl_->subjects.end()) return it->second;
  const std::string& dir = impl_->dir;
  std::string version, schema, catalog, accounts;
  if (!PutPolicy(dir, policy, policy.schema(), &version, error)) return nullptr;
  if (!sources.schema_json.empty() &&
      !PutDocument(dir, "schema", "schema", sources.schema_json, &schema, error))
    return nullptr;
  if (!sources.catalog_json.empty() &&
      !PutDocument(dir, "catalog", "catalog", sources.catalog_json, &catalog, error))
    return nullptr;
  if (!sources.accounts_json.empty() &&
      !PutDocument(dir, "accounts", "accounts", sources.accounts_json, &accounts, error))
    return nullptr;
  auto s = std::make_shared<Subject>();
  s->policy_version = version;
  s->retain = policy.ast().retain;
  s->allow = internal::AllowList::Of(policy.schema());
  auto id_or_null = [](const std::string& id) { return id.empty() ? std::string("null") : "\"" + id + "\""; };
  s->header = "\"policy\":{\"name\":";
  AppendQuoted(&s->header, policy.name());
  s->header += ",\"version\":\"" + version + "\",\"schema\":" + id_or_null(schema) +
               "},\"catalog\":" + id_or_null(catalog) + ",\"accounts\":" + id_or_null(accounts) +
               ",\"bytecode\":" + std::to_string(vm::kBytecodeFormatVersion) + ",\"tollgate\":\"" +
               TollgateVersion() + "\",\"retain\":\"" + ast::RetentionName(s->retain) + "\"";
  impl_->subjects.emplace(key, s);
  return s;
}

Ticket AuditLog::Append(Entry&& entry) {
  Ticket t;
  if (failed()) return t;
  const int64_t now = NowMillis();
  bool wake;
  {
    std::unique_lock<std::mutex> lock(impl_->mu);
    while (impl_->queue.size() >= impl_->options.max_queue && !impl_->stop && !failed()) {
      ++impl_->blocked;
      if (impl_->writer_waiting) impl_->work_cv.notify_one();
      impl_->space_cv.wait(lock);
      --impl_->blocked;
    }
    if (impl_->stop) return t;
    Pending& p = impl_->queue.emplace_back();
    p.entry = std::move(entry);
    p.seq = t.seq = ++impl_->next_seq;
    if (p.entry.id.empty()) {
      p.id = impl_->ids.Next(now, &p.ms);
    } else {  // an id handed out earlier by NewId (a streamed answer's headers carry it)
      p.id = std::move(p.entry.id);
      p.ms = internal::IdMillis(p.id);
    }
    t.id = p.id;
    wake = impl_->writer_waiting && !impl_->options.caller_writes;
  }
  if (wake) impl_->work_cv.notify_one();
  return t;
}

bool AuditLog::Drain() {
  std::vector<Pending> batch;
  std::vector<std::function<void(bool)>> ready;
  {
    std::lock_guard<std::mutex> w(impl_->write_mu);
    if (impl_->closed) return !failed();
    impl_->TakeQueue(&batch);
    if (!batch.empty()) impl_->WriteBatch(&batch, &ready);
  }
  for (auto& done : ready) done(true);
  return !failed();
}

std::string AuditLog::NewId() {
  int64_t ms;
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->ids.Next(NowMillis(), &ms);
}

bool AuditLog::WaitDurable(uint64_t seq) {
  if (durable_.load(std::memory_order_acquire) >= seq) return true;
  std::unique_lock<std::mutex> lock(impl_->durable_mu);
  impl_->durable_cv.wait(lock, [&] {
    return durable_.load(std::memory_order_acquire) >= seq || failed();
  });
  return durable_.load(std::memory_order_acquire) >= seq;
}

void AuditLog::OnDurable(uint64_t seq, std::function<void(bool)> done) {
  bool ok;
  {
    std::lock_guard<std::mutex> lock(impl_->durable_mu);
    if (seq != 0 && durable_.load(std::memory_order_acquire) >= seq) {
      ok = true;
    } else if (seq == 0 || impl_->waiters_closed || failed()) {
      ok = false;
    } else {
      impl_->waiters.emplace(seq, std::move(done));
      return;
    }
  }
  done(ok);
}

void AuditLog::SetDurableCallback(std::function<void(uint64_t)> callback) {
  std::lock_guard<std::mutex> lock(impl_->durable_mu);
  impl_->callback = std::move(callback);
}

bool AuditLog::Close() {
  if (impl_->closed) return !failed();
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stop = true;
    impl_->space_cv.notify_all();
  }
  impl_->work_cv.notify_one();
  if (impl_->thread.joinable()) impl_->thread.join();
  {
    std::lock_guard<std::mutex> w(impl_->write_mu);
    std::vector<Pending> rest;  // appended after the writer's last look (Drain callers)
    std::vector<std::function<void(bool)>> ready;
    impl_->TakeQueue(&rest);
    if (!rest.empty()) impl_->WriteBatch(&rest, &ready);
    for (auto& done : ready) done(true);
    if (!failed() && !impl_->CloseFile()) failed_.store(true);
    impl_->closed = true;
  }
  impl_->DropWaiters();
  if (impl_->lock_fd >= 0) {  // another writer may open the directory now
    ::close(impl_->lock_fd);
    impl_->lock_fd = -1;
  }
  {
    std::lock_guard<std::mutex> lock(impl_->durable_mu);
    impl_->durable_cv.notify_all();
  }
  return !failed();
}

}  // namespace tollgate::audit
