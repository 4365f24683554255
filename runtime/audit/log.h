// The decision log: hash-chained, group-committed JSON-lines records of every
// decision, one writer per audit directory. docs/audit.md is the auditor's
// guide; this header is the embedder's.
//
// ## Recording decisions
//
//   std::string err;
//   auto log = audit::AuditLog::Open("/var/lib/tollgate/audit", {}, &err);
//   if (!log) Fail(err);
//   // once per policy (and catalog) version, at load time: stores the
//   // versions in the version store and pre-renders the record header
//   auto subject = log->Register(*policy, {.catalog_json = catalog_text}, &err);
//   ...
//   // per request, on the evaluating thread (any number of threads):
//   audit::Entry e;
//   e.subject = subject;
//   e.input = std::move(request_json);          // the decision input as received
//   e.decision = audit::RenderDecision(decision, policy->program());
//   // with a budget ledger (counters.h): what the evaluation read, what it said
//   e.counters = audit::RenderCounters(policy->program(), counters, &plan);
//   e.admission = audit::RenderAdmission(admission);
//   audit::Ticket t = log->Append(std::move(e));   // t.id goes in the response
//   ... send the response except its last byte ...
//   log->WaitDurable(t.seq);                      // record on disk (fdatasync)
//   ... send the last byte ...
//
// ## What a record holds
// One line: {"kind":"decision","id","time","prev","policy":{name, version,
// schema},"catalog","accounts","bytecode","tollgate","retain","clock",
// "counters","admission"?,"input","content"?,"decision","endpoints",
// "gateway"?,"shadow"?,"hash"}. "hash" is
// the SHA-256 of the line's bytes before `,"hash":`, which include "prev",
// the hash of the record before it. Each file opens with a "file" record
// whose "prev" is the last hash of the previous file and, when closed in
// order, ends with a "seal" record. docs/audit.md has every field.
//
// ## Retention and credentials
// The subject's policy declares `retain content full|hash|none`. The
// writer thread (never the evaluating thread) rewrites the input before it
// is written: members named like credentials (authorization, api_key, ...)
// lose their value at any depth; with `full`, any dlp.api_key match in any
// string is cut out (the record then says so in "content"); with `hash` and
// `none`, the input keeps only an allow-list -- the policy schema's fields
// and the chat body's identifiers (model, roles, part types, tool names,
// ids) -- every message text and tool-call argument is replaced by "" and
// "content" lists their byte lengths (so token estimates replay), every
// other value becomes an empty placeholder listed in "content.omitted" with
// its path and size; `hash` adds a keyed HMAC-SHA-256 of each (key: DIR/key,
// made on first open) and the detectors that matched the texts. Past
// Options::max_listed entries (or max_listed_path_bytes of paths) a list is
// summed up in one "..._rest" member (docs/audit.md "Long lists").
//
// ## Durability
// Append only queues. A writer thread takes everything queued, writes it
// with one write() per file, fdatasync()s, then publishes the highest
// durable sequence number. WaitDurable(seq) blocks until that covers seq;
// durable_seq() polls; OnDurable(seq, done) and SetDurableCallback() let an
// event-loop gateway be told instead of blocking. A gateway commits the
// record before the last byte of the response: it holds that byte until
// WaitDurable returns (or its OnDurable handler runs). After kill -9 every
// record whose WaitDurable had
// returned is on disk; a record cut mid-write is left as an incomplete last
// line that verification reports and the next Open steps past (a new file
// whose header chains to the last complete record).
//
// An Asio gateway never blocks an I/O thread on fdatasync:
//
//   audit::Ticket t = log->Append(std::move(e));      // queues; no I/O
//   log->OnDurable(t.seq, [conn](bool ok) {           // writer thread, after the sync
//     asio::post(conn->strand(), [conn, ok] { ok ? conn->SendLastByte() : conn->Abort(); });
//   });
//
// (Append blocks only under backpressure, Options::max_queue records
// waiting; size it above the writer's batch at peak load.)
//
// ## Rotation
// A new file (DIR/decisions-NNNNNN.jsonl) starts when the current one passes
// Options::max_file_bytes or is older than Options::max_file_age_ms, and on
// every Open. Rotation seals the old file and chains the new one to it.
//
// ## Errors
// Open and Register return null with *error set (I/O, a version the store
// cannot hold). A write or sync failure after Open is sticky: failed()
// turns true, WaitDurable returns false, and nothing more is written (a
// gateway must then stop answering: it can no longer prove its decisions).
//
// ## Cost
// Append on the evaluating thread: one clock read, one id, one mutex push of
// the moved strings (RenderDecision, if used, is extra: ~0.5 us for a small
// decision). tests/bench prints the amortized figure. Hashing, retention,
// writing and syncing run on the writer thread (or on a Drain caller's).
//
// ## Thread safety
// AuditLog is thread-safe: Register, Append, WaitDurable, OnDurable and
// durable_seq may be called from any number of threads. A Subject is immutable and shared.
// Close (or the destructor) must not race with Append.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "engine/engine.h"
#include "engine/vm/decision.h"

namespace tollgate::audit {
namespace internal {
struct AllowList;
}

// The tollgate version written into records (the project version).
const char* TollgateVersion();

struct Options {
  uint64_t max_file_bytes = 64ull << 20;  // rotate after 64 MiB
  int64_t max_file_age_ms = 24ll * 3600 * 1000;  // ... or after a day
  bool sync = true;                        // fdatasync each batch before it counts as durable
  // Without `sync`: records count as durable once written to the OS
  // (surviving a crash or kill -9 of the process, not a power loss); the
  // writer then fdatasyncs what was written every background_sync_ms while
  // idle (0 = never), bounding what a power loss can take.
  int64_t background_sync_ms = 1000;
  // The appending threads write their own records (Drain right after
  // Append, sync off): Append then does not wake the writer thread, which
  // only syncs periodically and writes what is left when it wakes.
  bool caller_writes = false;
  // Backpressure: Append blocks while this many records wait for the writer
  // (a sustained load above the writer's rate is then paced, not buffered
  // without bound).
  size_t max_queue = 65536;
  // What a record's "content" lists one by one: at most max_listed replaced
  // values (content.omitted), text HMACs (content.hmac) and credentials cut
  // out (content.scrubbed), and paths until max_listed_path_bytes of them;
  // the rest of each is summed up (content.omitted_rest, hmac_rest,
  // scrubbed_rest; internal::kMaxListed, docs/audit.md).
  size_t max_listed = 1000;
  size_t max_listed_path_bytes = 64u << 10;
};

// What made a decision, rendered once: policy version (and its schema
// extension), catalog, accounts. Built by AuditLog::Register.
struct Subject {
  std::string header;          // `"policy":{...},"catalog":..,...,"retain":".."`
  std::string policy_version;  // "sha256:..."
  ast::Retention retain = ast::Retention::kFull;
  // What a `hash`/`none` record keeps of the input (internal/content.h).
  std::shared_ptr<const internal::AllowList> allow;
};

// What Register stores besides the policy (empty = none / standard schema).
struct SubjectSources {
  std::string schema_json;     // the schema extension (--schema), if any
  std::string catalog_json;    // the catalog the router used, if any
  std::string accounts_json;   // the accounts file, if any
};

// One decision to record. Strings are moved in; nothing is kept by reference.
struct Entry {
  std::shared_ptr<const Subject> subject;
  std::string input;      // the decision input JSON exactly as decoded
  std::string decision;   // the decision object (RenderDecision); never traced
  std::string endpoints;  // JSON array of routed endpoints; empty = not routed (null)
  std::string clock;      // RFC 3339 instant filled into context.time; empty = none
  // Budget and limit counters as seen by the evaluation (a JSON object,
  // audit::RenderCounters in counters.h); empty = evaluated without them
  // (null). Replay feeds them back as the evaluation's counters.
  std::string counters;
  // The HTTP gateway's outcome of the request (a JSON object: endpoint that
  // answered, attempts, upstream status, usage, settled cost, stream state);
  // empty = none (CLI decisions). Replay ignores it.
  std::string gateway;
  // Whole-policy shadow: the candidate version's decision and how it differs
  // (a JSON object); empty = no shadow policy loaded. Replay ignores it.
  std::string shadow;
  // The decision id, when it had to be known before the record (NewId);
  // empty = Append makes one.
  std::string id;
  // The ledger's admission verdict (audit::RenderAdmission); empty = no
  // reservation was tried (the member is left out). Replay applies a
  // refused one to the re-evaluated decision.
  std::string admission;
};

struct Ticket {
  uint64_t seq = 0;   // 1-based position among this log's appends; 0 = not recorded
  std::string id;     // the decision id (26 characters, sortable)
};

// Renders a decision as the record wants it: the decision document of
// runtime/decide/decision_json.h without trace, one line.
std::string RenderDecision(const vm::Decision& d, const vm::Program& program);

class AuditLog {
 public:
  // Opens (creating) `dir`, starts a new log file chained to the last
  // complete record of the previous one, starts the writer thread.
  static std::unique_ptr<AuditLog> Open(const std::string& dir, const Options& options,
                                        std::string* error);
  ~AuditLog();  // Close()

  // Stores the policy's sources and data documents, and the given schema,
  // catalog and accounts, in the version store (checking that the stored
  // policy recompiles to the same version id), and returns the Subject to
  // put in entries. Null with *error on failure. Cost: one compile.
  std::shared_ptr<const Subject> Register(const Policy& policy, const SubjectSources& sources,
                                          std::string* error);

  // Queues one record; returns its ticket (seq 0 after a failure). Blocks
  // only while Options::max_queue records are already waiting.
  Ticket Append(Entry&& entry);

  // A decision id for a record appended later (Entry::id): a gateway sends
  // the id in a streamed answer's headers before the outcome is known.
  std::string NewId();

  // Writes every queued record from the calling thread, in order (what the
  // writer thread would do next), and returns !failed(). With
  // Options::sync off this is a write(2) to the page cache, no fsync: a
  // gateway calls it right after Append so that the answer need not wait
  // for the writer thread to wake (one syscall instead of two thread
  // switches). With sync on it would fdatasync on the calling thread --
  // leave that to the writer.
  bool Drain();

  // Blocks until record `seq` (and all before it) is durable. False when the
  // log failed. Cost: none when already durable.
  bool WaitDurable(uint64_t seq);
  uint64_t durable_seq() const { return durable_.load(std::memory_order_acquire); }
  // Called on the writer thread after each durable batch with the new
  // durable_seq(); must be quick and must not call Append, WaitDurable or
  // OnDurable (it runs under the log's durability lock). After a write
  // failure it is called once more with the unchanged durable_seq() and
  // failed() true, so that nothing waits for a callback that cannot come.
  void SetDurableCallback(std::function<void(uint64_t)> callback);
  // Runs done(true) once record `seq` (and every record before it) is
  // durable: at once, on the calling thread, when it already is; otherwise
  // on the writer thread right after the fdatasync that made it so (never
  // under a lock of the log: `done` may call OnDurable or durable_seq, but
  // must be quick -- post to an event loop -- and must not call Append or
  // WaitDurable). done(false) when the record cannot become durable: the
  // log failed (at once, or when it fails), it was closed, or seq is 0 (an
  // Append refused after a failure). Each `done` runs exactly once.
  // Thread-safe; cost: one lock and one ordered-map insert when not yet durable.
  void OnDurable(uint64_t seq, std::function<void(bool ok)> done);

  // Writes everything queued, seals the file, stops the writer. Idempotent.
  // False when some write failed.
  bool Close();
  bool failed() const { return failed_.load(std::memory_order_acquire); }
  const std::string& dir() const;

  struct Impl;

 private:
  explicit AuditLog(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::atomic<uint64_t> durable_{0};
  std::atomic<bool> failed_{false};
};

}  // namespace tollgate::audit
