// Reading and verifying decision logs (log.h writes them).
//
//   audit::VerifyReport r;
//   audit::Verify({"/var/lib/tollgate/audit"}, &r);
//   for (const audit::Problem& p : r.problems) Print(p.file, p.line, p.code, p.message);
//   return r.errors() ? 1 : 0;
//
//   audit::RecordReader in;
//   if (!in.Open(dir, &err)) Fail(err);
//   audit::RecordLine rec;
//   while (in.Next(&rec)) Use(rec.doc["id"], rec.doc["decision"]);
//   for (const audit::Problem& p : in.problems()) Warn(p.message);   // never fatal
//
// ## What verification checks
// Every line parses and ends with `,"hash":"<sha256>"}` over the bytes before
// it (an edited byte fails here); every record's "prev" is the hash of the
// line before it, across files (a deleted, duplicated, inserted or
// reordered record fails here); each file starts with its "file" record
// whose seq matches its name; files are numbered without gaps (a missing
// file); a file followed by another ends with its "seal" record (a
// truncated file) unless the next file says it "recovered" from a crash;
// decision ids are unique. Problem codes (stable): audit_malformed_line,
// audit_hash_mismatch, audit_chain_break, audit_missing_header,
// audit_missing_file, audit_missing_seal, audit_truncated_record,
// audit_duplicate_id, audit_unexpected_record, audit_no_files.
// A record cut short at the very end of the newest file (or of a file the
// next one recovered from) is what a crash leaves: reported as a warning
// (audit_incomplete_tail), not an error -- every complete record before it
// still verifies. Truncation of the newest file exactly at a line boundary
// cannot be told from a log that simply ended there (docs/audit.md).
// Log files given by name are one chain in the order of their numbers (see
// Verify); an export (`audit export --json`) is checked by VerifyExport.
//
// Cost: one SHA-256 and one JSON parse per line. Thread safety: none needed
// (each reader or report belongs to one thread).
#pragma once

#include <rapidjson/document.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tollgate::audit {

// DIR/decisions-NNNNNN.jsonl
std::string LogFilePath(const std::string& dir, uint64_t seq);
// The sequence numbers of DIR's log files, ascending. False with *error when
// DIR cannot be listed.
bool ListLogFiles(const std::string& dir, std::vector<uint64_t>* seqs, std::string* error);

// The end of one log file, for chaining a new writer to it.
struct TailInfo {
  std::string last_hash;  // of the last complete line; empty when none
  bool sealed = false;    // that line is a "seal" record
};
bool ReadTail(const std::string& path, TailInfo* out, std::string* error);

struct Problem {
  std::string file;
  uint64_t line = 0;      // 1-based; 0 = the file as a whole
  std::string id;         // the record's id when known
  std::string code;       // stable, see above
  std::string message;    // lowercase, one line
  bool error = true;      // false: a warning (a crash's incomplete tail)
};

struct VerifyReport {
  uint64_t files = 0;
  uint64_t records = 0;   // decision records that verified
  std::string last_id;    // of the last decision record seen
  std::string first_prev; // the "prev" of the first line checked (its link outside)
  std::string last_hash;  // the hash of the last line checked
  std::vector<Problem> problems;  // in file order; the first error is the first break
  // What was not checked (file arguments that are not the whole chain; an
  // export's edges): one line each, lowercase.
  std::vector<std::string> notes;
  size_t errors() const;
};

// Verifies each directory (every log file in order, as one chain) and the
// files given by name, together as one chain in the order of their numbers:
// each file's header linked to the seal of the file before it, the numbers
// without gaps (a file left out is audit_missing_file), and every file but
// the newest of its directory sealed (or followed by one that recovered)
// and not cut in the middle of a record. The first given file's "prev" is
// taken as given unless it is number 1; `notes` then says that its link to
// the file before it (and to the files after the last one given, when there
// are some) was not checked. Never stops at the first problem.
void Verify(const std::vector<std::string>& paths, VerifyReport* report);

// Verifies exports (`tollgate audit export --json`), in the order given, as
// one stretch of the chain: every line's hash, every "prev" the hash of the
// line before it (across the files), file records numbered on without gaps
// and each preceded by the previous file's seal (unless it recovered). The
// first line's "prev" (first_prev) and the last hash (last_hash) are what
// links the stretch to the rest of the log: `notes` names them, for
// comparison with the log or with the neighbouring exports.
void VerifyExport(const std::vector<std::string>& paths, VerifyReport* report);

// The raw text of one top-level member's value (points into RecordLine::text).
struct RawMember {
  std::string key;
  std::string_view value;
};

// One decision record: its raw members and, unless the reader was opened
// without it, the parsed document (numbers kept as their text).
struct RecordLine {
  std::string file;
  uint64_t line = 0;
  std::string text;       // the raw line (without "\n")
  std::vector<RawMember> members;
  rapidjson::Document doc;  // parsed in place from `scratch` (with_dom only)
  std::string scratch;
  // A member's raw JSON text ("" when absent).
  std::string_view Raw(std::string_view key) const;
};

// Streams the decision records of a directory in chain order. Lines that do
// not parse or are cut short become problems() and are skipped, and so do a
// file numbered 0 and every line or byte after a file's seal (no part of the
// chain: audit_unexpected_record, as verify says); a gap in the files'
// numbers, or a first file other than 1, is an audit_missing_file problem
// (the records read are those of the files that are there). Files are
// read in 1 MiB chunks into one reused buffer (never whole).
class RecordReader {
 public:
  RecordReader() = default;
  RecordReader(const RecordReader&) = delete;
  RecordReader& operator=(const RecordReader&) = delete;
  ~RecordReader();
  // `with_dom` = false skips the DOM (replay reads raw members only; their
  // spans are then found by the fast path of the writer's own layout, each
  // piece checked by rapidjson, the full SAX parse when the line differs).
  // `fast_members` = false: the full SAX parse for every line (without DOM).
  bool Open(const std::string& dir, std::string* error, bool with_dom = true,
            bool fast_members = true);
  // With `yes`, the "file" and "seal" records are yielded too (their "kind"
  // says which), for a caller that copies the chain itself (audit export).
  void IncludeStructural(bool yes) { structural_ = yes; }
  bool Next(RecordLine* out);
  const std::vector<Problem>& problems() const { return problems_; }

 private:
  bool LoadFile();
  bool Refill();      // more of the current file behind [pos_, end_)
  void CloseFile();
  std::string dir_;
  std::vector<uint64_t> seqs_;
  size_t file_ = 0;
  std::string path_, data_;
  size_t pos_ = 0, end_ = 0;
  int fd_ = -1;
  bool eof_ = false;
  uint64_t line_ = 0;
  bool loaded_ = false;
  bool with_dom_ = true;
  bool fast_ = true;
  bool structural_ = false;
  bool after_seal_ = false;  // the last whole line of the current file is its seal
  std::vector<Problem> problems_;
};

}  // namespace tollgate::audit
