#include "engine/core/sha256.h"
#include "runtime/audit/reader.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <unordered_set>

#include "runtime/audit/internal/content.h"
#include "runtime/audit/internal/util.h"

namespace tollgate::audit {
namespace rj = rapidjson;

namespace {

constexpr std::string_view kHashKey = ",\"hash\":\"";
constexpr size_t kSuffix = 9 + 64 + 2;  // ,"hash":" + hex + "}

// Bytes without a newline after a file's seal: the writer closed the file
// in order, and no crash leaves bytes after its seal, so they were added.
Problem AfterSeal(const std::string& path, uint64_t line, size_t bytes) {
  return {path, line, "", "audit_unexpected_record",
          "the file goes on after its seal (" + std::to_string(bytes) +
              " bytes without a newline): they were added after the writer closed it",
          true};
}

// A whole line after a file's seal: added after the writer closed the file,
// as verify says; the reader does not read it.
Problem LineAfterSeal(const std::string& path, uint64_t line) {
  return {path, line, "", "audit_unexpected_record",
          "a record follows the file's seal: it was added after the writer closed the file; it "
          "was not read",
          true};
}

// Drops a file numbered 0 from `seqs` (ascending) with its problem: the
// writer numbers its files from 1, so a file 0 (a copy of another, say) was
// put there and is no part of the chain.
void DropFileZero(const std::string& dir, std::vector<uint64_t>* seqs, std::vector<Problem>* problems,
                  std::string_view note) {
  if (seqs->empty() || seqs->front() != 0) return;
  problems->push_back({LogFilePath(dir, 0), 0, "", "audit_unexpected_record",
                       "a log file numbered 0: the writer numbers its files from 1, so it was added" +
                           std::string(note),
                       true});
  seqs->erase(seqs->begin());
}

bool IsHex64(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// The hash a line states, or "" when the line does not end the way records do.
std::string_view StatedHash(std::string_view line) {
  if (line.size() < kSuffix + 1 || line.substr(line.size() - 2) != "\"}" ||
      line.substr(line.size() - kSuffix, kHashKey.size()) != kHashKey)
    return {};
  std::string_view hex = line.substr(line.size() - 66, 64);
  return IsHex64(hex) ? hex : std::string_view{};
}

bool ParseSeq(const std::string& name, uint64_t* seq) {
  // decisions-NNNNNN.jsonl
  constexpr std::string_view kPrefix = "decisions-", kExt = ".jsonl";
  if (name.size() <= kPrefix.size() + kExt.size() || name.rfind(kPrefix, 0) != 0 ||
      name.substr(name.size() - kExt.size()) != kExt)
    return false;
  std::string digits = name.substr(kPrefix.size(), name.size() - kPrefix.size() - kExt.size());
  if (digits.empty() || digits.size() > 18) return false;
  uint64_t v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  // Only the name the writer gives file v (LogFilePath): `decisions-2.jsonl`
  // or `decisions-0000002.jsonl` beside `decisions-000002.jsonl` would be a
  // second file 2, and the one path LogFilePath builds was read twice.
  char canonical[40];
  std::snprintf(canonical, sizeof canonical, "decisions-%06llu.jsonl", static_cast<unsigned long long>(v));
  if (name != canonical) return false;
  *seq = v;
  return true;
}

std::string Str(const rj::Value& doc, const char* key) {
  if (!doc.IsObject()) return {};
  auto it = doc.FindMember(key);
  return it != doc.MemberEnd() && it->value.IsString()
             ? std::string(it->value.GetString(), it->value.GetStringLength())
             : std::string();
}

bool IsDirectory(const std::string& p) {
  struct stat st{};
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Verifies files in chain order. `expected` is the prev the first must have
// ("" = take it as given).
class Verifier {
 public:
  // `exported`: the lines are a stretch of the chain as `audit export --json`
  // writes it (file and seal records anywhere, checked against each other),
  // not one log file.
  explicit Verifier(VerifyReport* r, bool exported = false) : r_(r), export_(exported) {}

  // An export: every line in order, one chain with the lines before it.
  void Export(const std::string& path) {
    ++r_->files;
    std::string data, error;
    if (!internal::ReadWholeFile(path, &data, &error)) {
      Add(path, 0, "", "audit_missing_file", error, true);
      return;
    }
    size_t pos = 0;
    uint64_t lineno = 0;
    bool sealed = sealed_;
    while (pos < data.size()) {
      size_t nl = data.find('\n', pos);
      ++lineno;
      if (nl == std::string::npos) {
        Add(path, lineno, "", "audit_truncated_record",
            "the export ends in the middle of a record (" + std::to_string(data.size() - pos) +
                " bytes): it was truncated",
            true);
        break;
      }
      std::string_view line(data.data() + pos, nl - pos);
      pos = nl + 1;
      Line(path, 0, lineno, line, &sealed);
    }
    sealed_ = sealed;
  }

  void File(const std::string& path, uint64_t seq, bool last, std::string expected,
            bool next_recovered) {
    ++r_->files;
    std::string data, error;
    if (!internal::ReadWholeFile(path, &data, &error)) {
      Add(path, 0, "", "audit_missing_file", error, true);
      expected_ = "";
      return;
    }
    if (!expected.empty() || resync_) expected_ = expected;
    resync_ = false;
    size_t pos = 0;
    uint64_t lineno = 0;
    bool sealed = false;
    while (pos < data.size()) {
      size_t nl = data.find('\n', pos);
      ++lineno;
      if (nl == std::string::npos) {  // cut short: a crash or a truncation
        if (sealed) {
          r_->problems.push_back(AfterSeal(path, lineno, data.size() - pos));
          break;
        }
        bool crash = last || next_recovered;
        Add(path, lineno, "", crash ? "audit_incomplete_tail" : "audit_truncated_record",
            crash ? "the last record is incomplete (" + std::to_string(data.size() - pos) +
                        " bytes without a newline): the writer stopped while writing it"
                  : "the file ends in the middle of a record (" +
                        std::to_string(data.size() - pos) + " bytes): it was truncated",
            !crash);
        break;
      }
      std::string_view line(data.data() + pos, nl - pos);
      pos = nl + 1;
      Line(path, seq, lineno, line, &sealed);
    }
    if (lineno == 0) Add(path, 0, "", "audit_missing_header", "the file is empty", !last);
    if (!last && !sealed && !next_recovered)
      Add(path, 0, "", "audit_missing_seal",
          "the file ends without its seal record but is not the newest: records were cut off the end",
          true);
  }

  // The next file's header says whether it recovered from a crash.
  static bool Recovered(const std::string& path) {
    std::string data, error;
    if (!internal::ReadWholeFile(path, &data, &error)) return false;
    size_t nl = data.find('\n');
    std::string first = data.substr(0, nl);
    rj::Document d;
    d.Parse<rj::kParseIterativeFlag>(first.c_str(), first.size());
    return !d.HasParseError() && d.IsObject() && d.HasMember("recovered") &&
           d["recovered"].IsBool() && d["recovered"].GetBool();
  }

  void Resync() { resync_ = true; }

 private:
  void Line(const std::string& path, uint64_t seq, uint64_t lineno, std::string_view line,
            bool* sealed) {
    std::string copy(line);
    rj::Document doc;
    doc.Parse<rj::kParseIterativeFlag | rj::kParseNumbersAsStringsFlag>(copy.c_str(), copy.size());
    std::string_view stated = StatedHash(line);
    if (doc.HasParseError() || !doc.IsObject()) {
      Add(path, lineno, "", "audit_malformed_line",
          "the line is not a JSON record (offset " + std::to_string(doc.GetErrorOffset()) + ")", true);
      expected_ = std::string(stated);  // resynchronise on what it claims, if anything
      return;
    }
    const std::string kind = Str(doc, "kind"), id = Str(doc, "id"), prev = Str(doc, "prev");
    if (export_ && kind == "file") {
      // A file boundary inside an export: numbered on from the last one, the
      // file before it sealed unless this one recovered from a crash; file 1
      // chains to the genesis hash.
      const std::string seq_text = Str(doc, "seq");
      const bool recovered = doc.HasMember("recovered") && doc["recovered"].IsBool() && doc["recovered"].GetBool();
      if (seq_text == "1" && expected_.empty() && !started_) expected_ = std::string(internal::kGenesis);
      if (!file_seq_.empty() && seq_text != std::to_string(std::strtoull(file_seq_.c_str(), nullptr, 10) + 1))
        Add(path, lineno, id, "audit_missing_file",
            "file " + seq_text + " follows file " + file_seq_ + ": the files between them are missing", true);
      if (started_ && !*sealed && !recovered)
        Add(path, lineno, id, "audit_missing_seal",
            "file " + seq_text + " starts but the file before it has no seal: records were cut off its end", true);
      file_seq_ = seq_text;
      *sealed = false;
    }
    if (!started_) {
      started_ = true;
      r_->first_prev = prev;
    }
    if (stated.empty()) {
      Add(path, lineno, id, "audit_hash_mismatch", "the record has no valid \"hash\" member", true);
      expected_.clear();
      return;
    }
    std::string actual = Sha256Hex(line.substr(0, line.size() - kSuffix));
    if (actual != stated) {
      Add(path, lineno, id, "audit_hash_mismatch",
          "the record's bytes do not match its hash: it was edited", true);
    } else if (!expected_.empty() && prev != expected_) {
      // A file's header chains to the last record of the file before it;
      // when it does not, what is missing is usually that file's end.
      Add(path, lineno, id, "audit_chain_break",
          !export_ && lineno == 1 && kind == "file"
              ? "\"prev\" is not the hash of the last record of the file before it: records were "
                "cut off the end of the file before it, or a file was replaced"
              : "\"prev\" is not the hash of the record before it: a record was deleted, inserted, "
                "duplicated or reordered here",
          true);
    }
    if (kind != "file" && kind != "seal" && kind != "decision")
      Add(path, lineno, id, "audit_unexpected_record",
          "a record of kind `" + kind + "`: the writer writes only `file`, `seal` and `decision` records", true);
    if (*sealed && !(export_ && kind == "file"))
      Add(path, lineno, id, "audit_unexpected_record", "a record follows the file's seal", true);
    if (export_) {
      // file records were checked above
    } else if (lineno == 1) {
      if (kind != "file")
        Add(path, lineno, id, "audit_missing_header", "the file does not start with its \"file\" record", true);
      else if (seq != 0 && Str(doc, "seq") != std::to_string(seq))
        Add(path, lineno, id, "audit_missing_header", "the file record's seq does not match the file name", true);
    } else if (kind == "file") {
      Add(path, lineno, id, "audit_unexpected_record", "a \"file\" record in the middle of a file", true);
    }
    if (kind == "seal") *sealed = true;
    if (kind == "decision") {
      if (!ids_.insert(id).second)
        Add(path, lineno, id, "audit_duplicate_id", "decision id `" + id + "` appears twice", true);
      else if (actual == stated)
        ++r_->records;
      r_->last_id = id;
    }
    expected_ = std::string(stated);
    r_->last_hash = expected_;
  }

  void Add(const std::string& file, uint64_t line, const std::string& id, const char* code,
           std::string message, bool error) {
    r_->problems.push_back({file, line, id, code, std::move(message), error});
  }

  VerifyReport* r_;
  const bool export_;
  std::string expected_;
  bool resync_ = false;
  bool started_ = false;  // a line was seen
  bool sealed_ = false;   // (export) the last line so far is a seal
  std::string file_seq_;  // (export) the seq of the last file record seen
  std::unordered_set<std::string> ids_;
};

}  // namespace

std::string LogFilePath(const std::string& dir, uint64_t seq) {
  char name[40];
  std::snprintf(name, sizeof name, "decisions-%06llu.jsonl", static_cast<unsigned long long>(seq));
  return dir + "/" + name;
}

bool ListLogFiles(const std::string& dir, std::vector<uint64_t>* seqs, std::string* error) {
  seqs->clear();
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    *error = "cannot list `" + dir + "`: " + std::strerror(errno);
    return false;
  }
  while (dirent* e = ::readdir(d)) {
    uint64_t seq;
    if (ParseSeq(e->d_name, &seq)) seqs->push_back(seq);
  }
  ::closedir(d);
  std::sort(seqs->begin(), seqs->end());
  return true;
}

bool ReadTail(const std::string& path, TailInfo* out, std::string* error) {
  *out = TailInfo{};
  std::string data;
  if (!internal::ReadWholeFile(path, &data, error)) return false;
  size_t end = data.size();
  // Skip an incomplete last line.
  if (end > 0 && data[end - 1] != '\n') {
    size_t nl = data.rfind('\n');
    end = nl == std::string::npos ? 0 : nl + 1;
  }
  // data[0, end) is whole lines, each ending in "\n": walk them backwards.
  while (end > 0) {
    size_t prev_nl = end >= 2 ? data.rfind('\n', end - 2) : std::string::npos;
    size_t start = prev_nl == std::string::npos ? 0 : prev_nl + 1;
    std::string_view line(data.data() + start, end - 1 - start);
    std::string_view h = StatedHash(line);
    if (!h.empty()) {
      out->last_hash = std::string(h);
      out->sealed = line.rfind("{\"kind\":\"seal\"", 0) == 0;
      return true;
    }
    end = start;
  }
  return true;
}

size_t VerifyReport::errors() const {
  return static_cast<size_t>(std::count_if(problems.begin(), problems.end(),
                                           [](const Problem& p) { return p.error; }));
}

namespace {

// The files given by name, as one chain in the order of their numbers.
void VerifyFiles(std::vector<std::string> paths, VerifyReport* report) {
  struct Given {
    uint64_t seq = 0;  // 0: the name carries no number
    std::string path;
  };
  std::vector<Given> files;
  bool numbered = true;
  for (std::string& p : paths) {
    Given g;
    numbered = ParseSeq(internal::BaseName(p), &g.seq) && numbered;
    g.path = std::move(p);
    files.push_back(std::move(g));
  }
  if (numbered) {
    std::stable_sort(files.begin(), files.end(), [](const Given& a, const Given& b) { return a.seq < b.seq; });
    // INVARIANT: after this, the numbers are strictly ascending. A number
    // given twice is one file named twice (same bytes: read once) or files
    // of two logs (an error: one chain has one file of each number; reading
    // both as a gap would take the second's "prev" as given).
    std::vector<Given> distinct;
    for (Given& g : files) {
      if (!distinct.empty() && distinct.back().seq == g.seq) {
        std::string a, b, error;
        if (g.path == distinct.back().path ||
            (internal::ReadWholeFile(distinct.back().path, &a, &error) &&
             internal::ReadWholeFile(g.path, &b, &error) && a == b))
          continue;
        report->problems.push_back(
            {g.path, 0, "", "audit_chain_break",
             "file " + std::to_string(g.seq) + " is given twice, as `" + distinct.back().path + "` and as `" +
                 g.path + "`, with other contents: they are files of two logs, not one chain; this one was not read",
             true});
        continue;
      }
      distinct.push_back(std::move(g));
    }
    files = std::move(distinct);
  }
  // The newest file of the directory each given file sits in: a file with a
  // later one beside it is not the newest, so it must be sealed (or the next
  // one recovered) and must not end in the middle of a record.
  auto later_in_dir = [](const Given& g, uint64_t* next) {
    std::vector<uint64_t> seqs;
    std::string error;
    if (g.seq == 0 || !ListLogFiles(internal::DirName(g.path), &seqs, &error)) return false;
    auto it = std::upper_bound(seqs.begin(), seqs.end(), g.seq);
    if (it == seqs.end()) return false;
    *next = *it;
    return true;
  };
  Verifier v(report);
  for (size_t i = 0; i < files.size(); ++i) {
    const Given& f = files[i];
    if (i > 0 && numbered && f.seq != files[i - 1].seq + 1) {
      for (uint64_t m = files[i - 1].seq + 1; m < f.seq; ++m)
        report->problems.push_back({LogFilePath(internal::DirName(f.path), m), 0, "", "audit_missing_file",
                                    "file " + std::to_string(m) + " of the chain is missing (not given)",
                                    true});
      v.Resync();
    }
    uint64_t next_seq = 0;
    const bool later = i + 1 == files.size() && later_in_dir(f, &next_seq);
    bool last = i + 1 == files.size() && !later;
    bool next_recovered =
        i + 1 < files.size() ? Verifier::Recovered(files[i + 1].path)
                             : later && Verifier::Recovered(LogFilePath(internal::DirName(f.path), next_seq));
    std::string expected = i == 0 && f.seq == 1 ? std::string(internal::kGenesis) : std::string();
    v.File(f.path, f.seq, last, expected, next_recovered);
  }
  // What the given files cannot show.
  const Given& first = files.front();
  const Given& end = files.back();
  uint64_t next_seq = 0;
  const bool head = numbered && first.seq == 1, tail = numbered && !later_in_dir(end, &next_seq);
  if (!head || !tail) {
    std::string what = files.size() == 1 ? "the chain inside `" + first.path + "` only"
                                         : "the given files only, as one chain";
    std::string missing;
    if (!head) missing = numbered ? "to file " + std::to_string(first.seq - 1) : "to the file before it";
    if (!tail)
      missing += std::string(missing.empty() ? "" : " and ") +
                 (numbered && next_seq ? "to file " + std::to_string(next_seq) : "to the files after it");
    report->notes.push_back("verified " + what + "; " + (!head && !tail ? "its links " : "its link ") +
                            missing + (!head && !tail ? " were" : " was") +
                            " not checked: run `tollgate audit verify " +
                            (internal::DirName(first.path).empty() ? std::string(".") : internal::DirName(first.path)) +
                            "` to check the whole chain");
  }
}

}  // namespace

void Verify(const std::vector<std::string>& paths, VerifyReport* report) {
  std::vector<std::string> files;
  for (const std::string& path : paths) {
    if (!IsDirectory(path)) {
      files.push_back(path);
      continue;
    }
    Verifier v(report);
    std::vector<uint64_t> seqs;
    std::string error;
    if (!ListLogFiles(path, &seqs, &error)) {
      report->problems.push_back({path, 0, "", "audit_missing_file", error, true});
      continue;
    }
    if (seqs.empty()) {
      report->problems.push_back({path, 0, "", "audit_no_files", "no decision files in `" + path + "`", true});
      continue;
    }
    DropFileZero(path, &seqs, &report->problems, "");
    if (seqs.empty()) continue;
    if (seqs.front() != 1)
      report->problems.push_back({LogFilePath(path, 1), 0, "", "audit_missing_file",
                                  "the chain's first files (up to number " +
                                      std::to_string(seqs.front() - 1) + ") are missing",
                                  true});
    for (size_t i = 0; i < seqs.size(); ++i) {
      if (i > 0 && seqs[i] != seqs[i - 1] + 1) {
        report->problems.push_back({LogFilePath(path, seqs[i - 1] + 1), 0, "", "audit_missing_file",
                                    "file " + std::to_string(seqs[i - 1] + 1) + " of the chain is missing",
                                    true});
        v.Resync();
      }
      bool last = i + 1 == seqs.size();
      bool next_recovered = !last && Verifier::Recovered(LogFilePath(path, seqs[i + 1]));
      std::string expected = i == 0 && seqs[0] == 1 ? std::string(internal::kGenesis) : std::string();
      v.File(LogFilePath(path, seqs[i]), seqs[i], last, expected, next_recovered);
    }
  }
  if (!files.empty()) VerifyFiles(std::move(files), report);
}

void VerifyExport(const std::vector<std::string>& paths, VerifyReport* report) {
  Verifier v(report, /*exported=*/true);
  for (const std::string& path : paths) v.Export(path);
  report->notes.push_back(
      "the export chains to the record with hash " +
      (report->first_prev.empty() ? std::string("(none)") : report->first_prev) +
      " and ends with the record with hash " +
      (report->last_hash.empty() ? std::string("(none)") : report->last_hash) +
      ": compare them with the log (or with the previous export's last and the next export's first) "
      "to check that nothing was cut off at its edges");
}

std::string_view RecordLine::Raw(std::string_view key) const {
  for (const RawMember& m : members)  // size and first byte before the compare (replay's hot path)
    if (m.key.size() == key.size() && !key.empty() && m.key[0] == key[0] && m.key == key) return m.value;
  return {};
}

RecordReader::~RecordReader() { CloseFile(); }

void RecordReader::CloseFile() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool RecordReader::Open(const std::string& dir, std::string* error, bool with_dom,
                        bool fast_members) {
  with_dom_ = with_dom;
  fast_ = fast_members;
  dir_ = dir;
  file_ = 0;
  loaded_ = false;
  CloseFile();
  after_seal_ = false;
  if (!ListLogFiles(dir, &seqs_, error)) return false;
  // The writer makes file 1 when it opens a log: a directory without any
  // is no log (a mistyped path, a deleted log), not one with no decisions
  // -- named, as verify names it, where replay said "replayed 0 records".
  if (seqs_.empty())
    problems_.push_back({dir, 0, "", "audit_no_files", "no decision files in `" + dir + "`", true});
  DropFileZero(dir, &seqs_, &problems_, "; it was not read");
  // Files missing from the numbering hold records no one can read: named, as
  // verify names them (replay and export then say that records were left out).
  if (!seqs_.empty() && seqs_.front() != 1)
    problems_.push_back({LogFilePath(dir, 1), 0, "", "audit_missing_file",
                         "the chain's first files (up to number " + std::to_string(seqs_.front() - 1) +
                             ") are missing",
                         true});
  for (size_t i = 1; i < seqs_.size(); ++i)
    if (seqs_[i] != seqs_[i - 1] + 1)
      problems_.push_back({LogFilePath(dir, seqs_[i - 1] + 1), 0, "", "audit_missing_file",
                           seqs_[i] == seqs_[i - 1] + 2
                               ? "file " + std::to_string(seqs_[i - 1] + 1) + " of the chain is missing"
                               : "files " + std::to_string(seqs_[i - 1] + 1) + " to " +
                                     std::to_string(seqs_[i] - 1) + " of the chain are missing",
                           true});
  return true;
}

bool RecordReader::LoadFile() {
  constexpr size_t kChunk = 1 << 20;
  while (file_ < seqs_.size()) {
    path_ = LogFilePath(dir_, seqs_[file_]);
    CloseFile();
    fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ >= 0) {
      if (data_.size() < kChunk) data_.resize(kChunk);
      pos_ = end_ = 0;
      eof_ = false;
      line_ = 0;
      after_seal_ = false;
      loaded_ = true;
      return true;
    }
    problems_.push_back({path_, 0, "", "audit_missing_file",
                         "cannot read `" + path_ + "`: " + std::strerror(errno), false});
    ++file_;
  }
  return false;
}

bool RecordReader::Refill() {
  if (pos_ > 0) {  // keep the unfinished line, at the front
    std::memmove(data_.data(), data_.data() + pos_, end_ - pos_);
    end_ -= pos_;
    pos_ = 0;
  }
  if (end_ == data_.size()) data_.resize(data_.size() * 2);  // a line longer than the buffer
  ssize_t n;
  do n = ::read(fd_, data_.data() + end_, data_.size() - end_); while (n < 0 && errno == EINTR);
  if (n < 0) {
    problems_.push_back({path_, line_, "", "audit_missing_file",
                         "reading `" + path_ + "` failed: " + std::strerror(errno), false});
    eof_ = true;
    return false;
  }
  if (n == 0) {
    eof_ = true;
    return false;
  }
  end_ += static_cast<size_t>(n);
  return true;
}

bool RecordReader::Next(RecordLine* out) {
  size_t scanned = 0;  // bytes of [pos_, end_) known to hold no newline
  for (;;) {
    if (!loaded_ && !LoadFile()) return false;
    const char* base = data_.data();
    const void* nl = end_ > pos_ + scanned ? std::memchr(base + pos_ + scanned, '\n', end_ - pos_ - scanned)
                                           : nullptr;
    if (nl == nullptr) {
      scanned = end_ - pos_;
      if (!eof_ && Refill()) continue;
      if (pos_ < end_) {
        ++line_;
        // A crash leaves a partial last record; after a seal, the writer had
        // closed the file in order: the bytes were added (as for Verify).
        if (after_seal_) {
          problems_.push_back(AfterSeal(path_, line_, end_ - pos_));
        } else {
          problems_.push_back({path_, line_, "", "audit_incomplete_tail",
                               "an incomplete record (no newline) was skipped", false});
        }
      }
      CloseFile();
      loaded_ = false;
      ++file_;
      scanned = 0;
      continue;
    }
    const size_t at = static_cast<size_t>(static_cast<const char*>(nl) - base);
    std::string_view line(base + pos_, at - pos_);
    pos_ = at + 1;
    scanned = 0;
    ++line_;
    if (after_seal_) {  // and so is every line after it
      problems_.push_back(LineAfterSeal(path_, line_));
      continue;
    }
    // Only decision records are yielded; headers and seals are skipped cheaply.
    const bool seal = line.rfind("{\"kind\":\"seal\"", 0) == 0;
    const bool structural = seal || line.rfind("{\"kind\":\"file\"", 0) == 0;
    after_seal_ = seal;
    if (structural && !structural_) continue;
    out->file = path_;
    out->line = line_;
    out->text.assign(line);
    bool ok;
    if (with_dom_) {
      ok = internal::TopLevelSpans(out->text, &out->members) &&
           (structural || out->Raw("kind") == "\"decision\"");
      if (ok) {
        out->scratch.assign(line);
        // The document is reused: free the previous record's values, else its
        // pool keeps every record read so far (memory grew with the log).
        out->doc.SetNull();
        out->doc.GetAllocator().Clear();
        out->doc.ParseInsitu<rj::kParseIterativeFlag | rj::kParseNumbersAsStringsFlag>(out->scratch.data());
        ok = !out->doc.HasParseError() && out->doc.IsObject();
      }
    } else {
      ok = structural ? internal::TopLevelSpans(out->text, &out->members)
                      : (fast_ ? internal::RecordSpans(out->text, &out->members)
                               : internal::TopLevelSpans(out->text, &out->members)) &&
                            out->Raw("kind") == "\"decision\"";
    }
    if (!ok) {
      problems_.push_back({path_, line_, "", "audit_malformed_line",
                           "a line that is not a decision record was skipped", false});
      continue;
    }
    return true;
  }
}

}  // namespace tollgate::audit
