// Verification: every kind of tampering is detected and named; malformed and
// truncated lines are reported, never fatal.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <functional>

#include "engine/core/sha256.h"
#include "runtime/audit/internal/util.h"
#include "runtime/audit/reader.h"
#include "runtime/audit/replay.h"
#include "tests/audit/audit_helpers.h"

namespace tollgate::audit::testing {
namespace {
namespace fs = std::filesystem;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at < text.size()) {
    size_t nl = text.find('\n', at);
    if (nl == std::string::npos) nl = text.size();
    out.push_back(text.substr(at, nl - at));
    at = nl + 1;
  }
  return out;
}

std::string Join(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += l + "\n";
  return s;
}

// A log of 3+ files (small rotation size), 120 decisions.
class AuditVerify : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string err;
    Options o;
    o.max_file_bytes = 40 << 10;
    auto log = AuditLog::Open(dir_.path, o, &err);
    ASSERT_TRUE(log) << err;
    Recorder rec(log.get(), MustCompile("policies/example.tg"), "", "");
    gen::Rng rng(5);
    for (int i = 0; i < 120; ++i) {
      rec.Decide(ExampleInput(rng));
      if (i % 10 == 9) log->WaitDurable(i + 1);  // several batches, so rotation happens between them
    }
    ASSERT_TRUE(log->Close());
    ASSERT_TRUE(ListLogFiles(dir_.path, &seqs_, &err));
    ASSERT_GE(seqs_.size(), 3u);
    VerifyReport r;
    Verify({dir_.path}, &r);
    ASSERT_EQ(r.errors(), 0u) << (r.problems.empty() ? "" : r.problems[0].message);
    ASSERT_EQ(r.records, 120u);
  }
  std::string File(size_t i) { return LogFilePath(dir_.path, seqs_[i]); }
  // Reads the log through `in` (opened here; `with_dom` as RecordReader::Open):
  // how many records it gives; 0 when it does not open.
  uint64_t ReadEvery(RecordReader* in, bool with_dom = true) {
    std::string err;
    EXPECT_TRUE(in->Open(dir_.path, &err, with_dom)) << err;
    if (!err.empty()) return 0;
    RecordLine line;
    uint64_t n = 0;
    while (in->Next(&line)) ++n;
    return n;
  }
  void Edit(size_t i, const std::function<void(std::vector<std::string>&)>& fn) {
    auto lines = Lines(ReadAll(File(i)));
    fn(lines);
    WriteAll(File(i), Join(lines));
  }
  // The first error, which must exist.
  Problem FirstError() {
    VerifyReport r;
    Verify({dir_.path}, &r);
    for (const Problem& p : r.problems)
      if (p.error) return p;
    ADD_FAILURE() << "no error reported";
    return {};
  }
  TempDir dir_;
  std::vector<uint64_t> seqs_;
};

// Recomputes the hashes of lines[from..], each "prev" the hash of the line
// before it: what a script that rewrites the chain after an edit does.
void Rechain(std::vector<std::string>& lines, size_t from) {
  constexpr size_t kSuffix = 9 + 64 + 2;  // ,"hash":"<hex>"}
  for (size_t i = from; i < lines.size(); ++i) {
    std::string& l = lines[i];
    if (i > from) {
      const size_t at = l.find("\"prev\":\"");
      ASSERT_NE(at, std::string::npos) << l;
      l.replace(at + 8, 64, lines[i - 1].substr(lines[i - 1].size() - 66, 64));
    }
    const size_t body = l.size() - kSuffix;
    l.replace(body + 9, 64, Sha256Hex(l.substr(0, body)));
  }
}

// The writer writes `file`, `seal` and `decision` records only: a record of
// another kind (its chain rewritten) is named by verify, as replay refuses
// it. Before: verify said ok (until 2026-12-03).
TEST_F(AuditVerify, ARecordOfAnUnknownKindIsNamed) {
  Edit(seqs_.size() - 1, [](std::vector<std::string>& lines) {
    size_t i = lines.size() - 1;
    while (i > 0 && lines[i].rfind("{\"kind\":\"decision\"", 0) != 0) --i;
    ASSERT_GT(i, 0u);
    lines[i].replace(0, std::string("{\"kind\":\"decision\"").size(), "{\"kind\":\"decisionX\"");
    Rechain(lines, i);
  });
  const Problem p = FirstError();
  EXPECT_EQ(p.code, "audit_unexpected_record");
  EXPECT_NE(p.message.find("`decisionX`"), std::string::npos) << p.message;
}

TEST_F(AuditVerify, EditedByte) {
  std::string text = ReadAll(File(1));
  size_t at = text.find("\"outcome\":\"allow\"");
  if (at == std::string::npos) at = text.find("\"outcome\":\"deny\"");
  ASSERT_NE(at, std::string::npos);
  text[at + 12] = text[at + 12] == 'a' ? 'b' : 'a';  // still valid JSON
  WriteAll(File(1), text);
  Problem p = FirstError();
  EXPECT_EQ(p.code, "audit_hash_mismatch");
  EXPECT_EQ(p.file, File(1));
  EXPECT_FALSE(p.id.empty());
}

TEST_F(AuditVerify, DeletedRecord) {
  Edit(1, [](auto& l) { l.erase(l.begin() + 3); });
  Problem p = FirstError();
  EXPECT_EQ(p.code, "audit_chain_break");
  EXPECT_EQ(p.line, 4u);
}

TEST_F(AuditVerify, DuplicatedRecord) {
  Edit(0, [](auto& l) { l.insert(l.begin() + 5, l[4]); });
  Problem p = FirstError();
  EXPECT_EQ(p.code, "audit_chain_break");
  EXPECT_EQ(p.line, 6u);
  VerifyReport r;
  Verify({dir_.path}, &r);
  bool dup = false;
  for (const Problem& q : r.problems) dup = dup || q.code == "audit_duplicate_id";
  EXPECT_TRUE(dup);
}

TEST_F(AuditVerify, ReorderedRecords) {
  Edit(2, [](auto& l) { std::swap(l[2], l[3]); });
  Problem p = FirstError();
  EXPECT_EQ(p.code, "audit_chain_break");
  EXPECT_EQ(p.line, 3u);
}

TEST_F(AuditVerify, TruncatedFile) {
  // A closed file cut short loses its seal: detected even at a line boundary.
  Edit(1, [](auto& l) { l.resize(l.size() - 3); });
  Problem p = FirstError();
  EXPECT_EQ(p.file, File(1));
  EXPECT_TRUE(p.code == "audit_missing_seal" || p.code == "audit_chain_break") << p.code;
  // Cut in the middle of a record.
  std::string text = ReadAll(File(0));
  WriteAll(File(0), text.substr(0, text.size() / 2));
  VerifyReport r;
  Verify({dir_.path}, &r);
  ASSERT_GT(r.errors(), 0u);
  EXPECT_EQ(r.problems[0].code, "audit_truncated_record");
  EXPECT_EQ(r.problems[0].file, File(0));
}

TEST_F(AuditVerify, TruncatedNewestFileIsAnIncompleteTail) {
  std::string text = ReadAll(File(seqs_.size() - 1));
  WriteAll(File(seqs_.size() - 1), text.substr(0, text.size() - 10));
  VerifyReport r;
  Verify({dir_.path}, &r);
  ASSERT_FALSE(r.problems.empty());
  EXPECT_EQ(r.problems[0].code, "audit_incomplete_tail");
  EXPECT_FALSE(r.problems[0].error);  // what a crash leaves; every complete record verifies
}

// A sealed file was closed in order: no crash leaves a partial record after
// its seal, so bytes there were added afterwards -- an error, not a crash's
// incomplete tail. Before: a seal followed by bytes without a newline (the
// newest file, or one whose next file recovered) verified with a warning
// and exit 0.
TEST_F(AuditVerify, BytesAfterTheNewestFilesSealAreAnError) {
  const std::string text = ReadAll(File(seqs_.size() - 1));
  ASSERT_NE(Lines(text).back().find("\"kind\":\"seal\""), std::string::npos);
  WriteAll(File(seqs_.size() - 1), text + "{\"kind\":\"decision\",\"id\":\"01M8");
  VerifyReport r;
  Verify({dir_.path}, &r);
  ASSERT_FALSE(r.problems.empty());
  EXPECT_EQ(r.problems[0].code, "audit_unexpected_record");
  EXPECT_TRUE(r.problems[0].error);
  EXPECT_EQ(r.problems[0].file, File(seqs_.size() - 1));
  // The same bytes written in the files given by name.
  VerifyReport named;
  Verify({File(seqs_.size() - 1)}, &named);
  EXPECT_GT(named.errors(), 0u);
}

// A log file numbered 0 (a copy of file 1 put beside it) is named as an
// added file. Before: the message said the chain's first files "up to
// number 18446744073709551615" were missing (1 subtracted from 0), and
// file 0 was verified as the head of the chain.
TEST_F(AuditVerify, AFileNumberedZeroIsNamedAsAdded) {
  const std::string zero = LogFilePath(dir_.path, 0);
  WriteAll(zero, ReadAll(File(0)));
  VerifyReport r;
  Verify({dir_.path}, &r);
  ASSERT_FALSE(r.problems.empty());
  EXPECT_EQ(r.problems[0].code, "audit_unexpected_record");
  EXPECT_EQ(r.problems[0].file, zero);
  EXPECT_EQ(r.errors(), 1u) << r.problems.back().message;  // the chain from file 1 on verifies
  for (const auto& p : r.problems) EXPECT_EQ(p.message.find("18446744073709551615"), std::string::npos) << p.message;
  EXPECT_EQ(r.records, 120u);
}

// The reader (replay, audit export, show) skips a file numbered 0 and names
// it as verify does. Before: it read it as the chain's first file, so a
// copy of file 1 there counted file 1's records twice.
TEST_F(AuditVerify, TheReaderSkipsAFileNumberedZero) {
  const std::string zero = LogFilePath(dir_.path, 0);
  WriteAll(zero, ReadAll(File(0)));
  RecordReader in;
  EXPECT_EQ(ReadEvery(&in), 120u);
  ASSERT_EQ(in.problems().size(), 1u);
  EXPECT_EQ(in.problems()[0].code, "audit_unexpected_record");
  EXPECT_EQ(in.problems()[0].file, zero);
  EXPECT_TRUE(in.problems()[0].error);
}

// A file missing from the numbering (or the first files) is named by the
// reader, as verify names it: replay and export said nothing and replay
// exited 0 with that file's decisions left out (until 2026-12-03).
TEST_F(AuditVerify, TheReaderNamesAMissingFile) {
  const std::string gone = File(1);
  fs::remove(gone);
  RecordReader in;
  EXPECT_LT(ReadEvery(&in), 120u);
  ASSERT_EQ(in.problems().size(), 1u);
  EXPECT_EQ(in.problems()[0].code, "audit_missing_file");
  EXPECT_EQ(in.problems()[0].file, gone);
  EXPECT_EQ(in.problems()[0].message, "file " + std::to_string(seqs_[1]) + " of the chain is missing");

  ReplayOptions o;
  o.dir = dir_.path;
  ReplayReport rep;
  std::string err;
  ASSERT_TRUE(Replay(o, &rep, &err)) << err;
  EXPECT_TRUE(std::any_of(rep.problems.begin(), rep.problems.end(),
                          [](const Problem& p) { return p.code == "audit_missing_file"; }));

  fs::remove(File(0));
  RecordReader head;
  ReadEvery(&head);
  ASSERT_EQ(head.problems().size(), 1u);
  EXPECT_EQ(head.problems()[0].code, "audit_missing_file");
  EXPECT_EQ(head.problems()[0].file, LogFilePath(dir_.path, 1));
}

// A directory without decision files is no log: replay and export name it
// (audit_no_files, as verify does) instead of "replayed 0 records", exit 0
// (until 2026-12-03). A log that has recorded nothing yet has its file 1.
TEST(AuditReader, ADirectoryWithoutDecisionFilesIsNamed) {
  const std::string empty = ::testing::TempDir() + "/tg_audit_no_files";
  fs::remove_all(empty);
  fs::create_directories(empty);
  RecordReader in;
  std::string err;
  ASSERT_TRUE(in.Open(empty, &err)) << err;
  RecordLine line;
  EXPECT_FALSE(in.Next(&line));
  ASSERT_EQ(in.problems().size(), 1u);
  EXPECT_EQ(in.problems()[0].code, "audit_no_files");
  ReplayOptions o;
  o.dir = empty;
  ReplayReport rep;
  ASSERT_TRUE(Replay(o, &rep, &err)) << err;
  ASSERT_EQ(rep.problems.size(), 1u);
  EXPECT_EQ(rep.problems[0].code, "audit_no_files");
  fs::remove_all(empty);
}

// Only the writer's names are log files: a copy of file 2 named
// `decisions-2.jsonl` (or with seven digits) was listed as a second file 2,
// so verify read `decisions-000002.jsonl` twice and reported file 3 missing
// and every id of file 2 twice, and replay replayed file 2 twice (until
// 2026-12-03). Such a file is not read, as `decisions-000002.jsonl.bak` is not.
TEST_F(AuditVerify, OnlyTheWritersNamesAreLogFiles) {
  WriteAll(dir_.path + "/decisions-2.jsonl", ReadAll(File(1)));
  WriteAll(dir_.path + "/decisions-0000001.jsonl", ReadAll(File(0)));
  std::vector<uint64_t> seqs;
  std::string err;
  ASSERT_TRUE(ListLogFiles(dir_.path, &seqs, &err)) << err;
  EXPECT_EQ(seqs, seqs_);
  VerifyReport r;
  Verify({dir_.path}, &r);
  EXPECT_EQ(r.errors(), 0u) << (r.problems.empty() ? "" : r.problems[0].message);
  EXPECT_EQ(r.records, 120u);
  RecordReader in;
  EXPECT_EQ(ReadEvery(&in), 120u);
  EXPECT_TRUE(in.problems().empty()) << in.problems()[0].message;
}

// For the reader too, bytes without a newline after a file's seal were
// added after the writer closed the file: audit_unexpected_record, an
// error, as for verify. Before: the warning audit_incomplete_tail (a
// crash's), and replay exited 0.
TEST_F(AuditVerify, TheReaderNamesBytesAfterASeal) {
  const std::string text = ReadAll(File(0));
  ASSERT_NE(Lines(text).back().find("\"kind\":\"seal\""), std::string::npos);
  WriteAll(File(0), text + "{\"kind\":\"decision\",\"id\":\"01M8");
  RecordReader in;
  EXPECT_EQ(ReadEvery(&in), 120u);
  ASSERT_EQ(in.problems().size(), 1u);
  EXPECT_EQ(in.problems()[0].code, "audit_unexpected_record");
  EXPECT_EQ(in.problems()[0].file, File(0));
  EXPECT_TRUE(in.problems()[0].error);
}

// Regression: a whole record after a file's seal (verify's error
// audit_unexpected_record) was read by the reader, so replay replayed it
// and export listed it, exit 0. It is now skipped and named, as bytes
// without a newline there are.
TEST_F(AuditVerify, TheReaderSkipsARecordAfterASeal) {
  const std::string text = ReadAll(File(0));
  const std::vector<std::string> lines = Lines(text);
  ASSERT_NE(lines.back().find("\"kind\":\"seal\""), std::string::npos);
  // A copy of the file's second line (its first decision) after the seal.
  WriteAll(File(0), text + lines[1] + "\n");
  VerifyReport r;
  Verify({dir_.path}, &r);
  EXPECT_TRUE(std::any_of(r.problems.begin(), r.problems.end(),
                          [](const Problem& p) { return p.code == "audit_unexpected_record"; }));
  RecordReader in;
  EXPECT_EQ(ReadEvery(&in), 120u);
  ASSERT_EQ(in.problems().size(), 1u);
  EXPECT_EQ(in.problems()[0].code, "audit_unexpected_record");
  EXPECT_EQ(in.problems()[0].file, File(0));
  EXPECT_EQ(in.problems()[0].line, lines.size() + 1);
  EXPECT_TRUE(in.problems()[0].error);
}

// A file a crash left without its seal is followed by a `recovered` file
// chained to its last complete record. Records cut off the end of the
// crashed file (at a line boundary: nothing there says so) break the chain
// at the next file's header; the message says that records were cut off the
// end of the file before it, not that one was reordered.
TEST(AuditVerifyRecovered, RecordsCutOffTheEndOfACrashedFileAreNamedAsSuch) {
  TempDir dir;
  std::string err;
  auto log = AuditLog::Open(dir.path, {}, &err);
  ASSERT_TRUE(log) << err;
  {
    Recorder rec(log.get(), MustCompile("policies/example.tg"), "", "");
    gen::Rng rng(9);
    for (int i = 0; i < 8; ++i) rec.Decide(ExampleInput(rng));
    log->WaitDurable(8);
  }
  ASSERT_TRUE(log->Close());
  log.reset();
  std::vector<uint64_t> seqs;
  ASSERT_TRUE(ListLogFiles(dir.path, &seqs, &err));
  ASSERT_EQ(seqs.size(), 1u);
  const std::string first = LogFilePath(dir.path, seqs[0]);
  auto lines = Lines(ReadAll(first));
  ASSERT_NE(lines.back().find("\"kind\":\"seal\""), std::string::npos);
  lines.pop_back();  // the crash: no seal
  WriteAll(first, Join(lines));
  log = AuditLog::Open(dir.path, {}, &err);  // a new writer recovers
  ASSERT_TRUE(log) << err;
  {
    Recorder rec(log.get(), MustCompile("policies/example.tg"), "", "");
    gen::Rng rng(10);
    for (int i = 0; i < 3; ++i) rec.Decide(ExampleInput(rng));
    log->WaitDurable(3);
  }
  ASSERT_TRUE(log->Close());
  VerifyReport ok;
  Verify({dir.path}, &ok);
  ASSERT_EQ(ok.errors(), 0u) << (ok.problems.empty() ? "" : ok.problems[0].message);
  ASSERT_NE(ReadAll(LogFilePath(dir.path, seqs[0] + 1)).find("\"recovered\":true"), std::string::npos);

  lines.resize(lines.size() - 3);  // three records cut off the crashed file
  WriteAll(first, Join(lines));
  VerifyReport r;
  Verify({dir.path}, &r);
  ASSERT_GT(r.errors(), 0u);
  const Problem& p = r.problems[0];
  EXPECT_EQ(p.code, "audit_chain_break");
  EXPECT_EQ(p.file, LogFilePath(dir.path, seqs[0] + 1));
  EXPECT_EQ(p.line, 1u);
  EXPECT_NE(p.message.find("records were cut off the end of the file before it"), std::string::npos)
      << p.message;
}

TEST_F(AuditVerify, MissingFile) {
  fs::remove(File(1));
  Problem p = FirstError();
  EXPECT_EQ(p.code, "audit_missing_file");
  EXPECT_EQ(p.file, File(1));
}

TEST_F(AuditVerify, MissingFirstFile) {
  fs::remove(File(0));
  Problem p = FirstError();
  EXPECT_EQ(p.code, "audit_missing_file");
}

TEST_F(AuditVerify, SingleFileArgument) {
  VerifyReport r;
  Verify({File(1)}, &r);  // its own chain, the first prev taken as given
  EXPECT_EQ(r.errors(), 0u);
  Edit(1, [](auto& l) { l.erase(l.begin() + 2); });
  VerifyReport r2;
  Verify({File(1)}, &r2);
  EXPECT_GT(r2.errors(), 0u);
}

// Files given by name are one chain: a file left out, a non-newest file cut
// at a line boundary (its seal and last record gone) or in the middle of a
// record are breaks, not a shorter chain that verifies file by file.
TEST_F(AuditVerify, FileArgumentsAreOneChain) {
  ASSERT_GE(seqs_.size(), 3u);
  VerifyReport whole;
  Verify({File(2), File(0), File(1)}, &whole);  // sorted by number
  EXPECT_EQ(whole.errors(), 0u) << (whole.problems.empty() ? "" : whole.problems[0].message);
  if (seqs_.size() == 3) {
    EXPECT_TRUE(whole.notes.empty()) << whole.notes[0];
  }
  EXPECT_EQ(whole.files, 3u);

  VerifyReport gap;
  Verify({File(0), File(2)}, &gap);
  ASSERT_GT(gap.errors(), 0u);
  EXPECT_EQ(gap.problems[0].code, "audit_missing_file");
  EXPECT_EQ(gap.problems[0].file, File(1));

  // A non-newest file alone: verified inside, with a note on what was not.
  VerifyReport alone;
  Verify({File(1)}, &alone);
  EXPECT_EQ(alone.errors(), 0u);
  ASSERT_EQ(alone.notes.size(), 1u);
  EXPECT_NE(alone.notes[0].find("its links to file 1 and to file 3 were not checked"), std::string::npos)
      << alone.notes[0];
  EXPECT_NE(alone.notes[0].find("tollgate audit verify " + dir_.path + "`"), std::string::npos) << alone.notes[0];

  // Its last record and seal cut off at a line boundary.
  const std::string text = ReadAll(File(1));
  Edit(1, [](auto& l) { l.resize(l.size() - 2); });
  for (const auto& args : {std::vector<std::string>{File(1)}, std::vector<std::string>{File(0), File(1)}}) {
    VerifyReport r;
    Verify(args, &r);
    ASSERT_GT(r.errors(), 0u) << args.size();
    EXPECT_EQ(r.problems[0].code, "audit_missing_seal");
  }
  // Cut in the middle of a record: an error, not a crash's warning.
  WriteAll(File(1), text.substr(0, text.size() - 100));
  VerifyReport cut;
  Verify({File(1)}, &cut);
  ASSERT_GT(cut.errors(), 0u);
  EXPECT_EQ(cut.problems[0].code, "audit_truncated_record");
  EXPECT_TRUE(cut.problems[0].error);
  // The next file still chains to the file's original last line: given
  // together, the break shows there too.
  VerifyReport pair;
  Verify({File(1), File(2)}, &pair);
  EXPECT_GT(pair.errors(), 0u);
}

// A number given twice: the same file named twice (or a byte-identical copy)
// is read once; files of another log with that number are a break, not a
// gap after which the second file's "prev" is taken as given (until
// 2026-12-03 `verify a/decisions-000002.jsonl b/decisions-000002.jsonl`
// passed for two different logs).
TEST_F(AuditVerify, AFileNumberGivenTwiceIsOneFileOrABreak) {
  TempDir other;
  const std::string copy = other.path + "/decisions-000002.jsonl";
  WriteAll(copy, ReadAll(File(1)));
  VerifyReport same;
  Verify({File(1), copy, dir_.path + "/./" + fs::path(File(1)).filename().string()}, &same);
  EXPECT_EQ(same.errors(), 0u) << (same.problems.empty() ? "" : same.problems[0].message);
  EXPECT_EQ(same.files, 1u);

  // File 2 of another log (two writers, one after the other).
  TempDir fresh;
  for (int run = 0; run < 2; ++run) {
    std::string err;
    auto log = AuditLog::Open(fresh.path, Options{}, &err);
    ASSERT_TRUE(log) << err;
    Recorder rec(log.get(), MustCompile("policies/example.tg"), "", "");
    gen::Rng rng(6);
    rec.Decide(ExampleInput(rng));
    ASSERT_TRUE(log->Close());
  }
  VerifyReport alone;
  Verify({LogFilePath(fresh.path, 2)}, &alone);
  ASSERT_EQ(alone.errors(), 0u);
  fs::copy_file(LogFilePath(fresh.path, 2), copy, fs::copy_options::overwrite_existing);
  VerifyReport spliced;
  Verify({File(1), copy}, &spliced);
  ASSERT_GT(spliced.errors(), 0u);
  EXPECT_EQ(spliced.problems[0].code, "audit_chain_break");
  EXPECT_EQ(spliced.problems[0].file, copy);
  EXPECT_NE(spliced.problems[0].message.find("given twice"), std::string::npos) << spliced.problems[0].message;
}

// `audit export --json` writes a stretch of the chain (decisions with the file
// and seal records between them); VerifyExport checks it.
TEST_F(AuditVerify, ExportedStretchVerifies) {
  // The whole log as an export would copy it (every line from the first).
  std::string all;
  for (size_t i = 0; i < seqs_.size(); ++i) all += ReadAll(File(i));
  auto lines = Lines(all);
  TempDir out;
  const std::string path = out.path + "/export.jsonl";
  WriteAll(path, all);
  VerifyReport ok;
  VerifyExport({path}, &ok);
  EXPECT_EQ(ok.errors(), 0u) << (ok.problems.empty() ? "" : ok.problems[0].message);
  EXPECT_EQ(ok.records, 120u);
  EXPECT_EQ(ok.first_prev, std::string(internal::kGenesis));
  ASSERT_EQ(ok.notes.size(), 1u);
  EXPECT_NE(ok.notes[0].find(ok.last_hash), std::string::npos);

  // A stretch from the middle, split in two abutting parts: verified as one.
  const size_t a = 30, b = 70, c = lines.size() - 5;
  std::vector<std::string> p1(lines.begin() + a, lines.begin() + b), p2(lines.begin() + b, lines.begin() + c);
  WriteAll(out.path + "/p1.jsonl", Join(p1));
  WriteAll(out.path + "/p2.jsonl", Join(p2));
  VerifyReport parts;
  VerifyExport({out.path + "/p1.jsonl", out.path + "/p2.jsonl"}, &parts);
  EXPECT_EQ(parts.errors(), 0u) << (parts.problems.empty() ? "" : parts.problems[0].message);
  // A line missing where the two parts meet is a gap.
  WriteAll(out.path + "/p2.jsonl", Join(std::vector<std::string>(p2.begin() + 1, p2.end())));
  VerifyReport gap;
  VerifyExport({out.path + "/p1.jsonl", out.path + "/p2.jsonl"}, &gap);
  ASSERT_GT(gap.errors(), 0u);
  EXPECT_EQ(gap.problems[0].code, "audit_chain_break");

  auto first_error = [&](std::vector<std::string> edited) {
    WriteAll(path, Join(edited));
    VerifyReport r;
    VerifyExport({path}, &r);
    for (const Problem& p : r.problems)
      if (p.error) return p.code;
    return std::string("(none)");
  };
  // A deleted decision, an edited byte, a deleted file record, a deleted seal.
  auto find = [&](const char* kind, size_t from) {
    for (size_t i = from; i < lines.size(); ++i)
      if (lines[i].rfind(std::string("{\"kind\":\"") + kind + "\"", 0) == 0) return i;
    return lines.size();
  };
  auto without = [&](size_t i) {
    auto l = lines;
    l.erase(l.begin() + static_cast<ptrdiff_t>(i));
    return l;
  };
  EXPECT_EQ(first_error(without(find("decision", 10))), "audit_chain_break");
  auto edited = lines;
  size_t d = find("decision", 20);
  edited[d].replace(edited[d].find("\"time\":\"") + 8, 1, "3");
  EXPECT_EQ(first_error(edited), "audit_hash_mismatch");
  size_t seal = find("seal", 0);
  ASSERT_LT(seal + 1, lines.size());
  EXPECT_EQ(first_error(without(seal + 1)), "audit_chain_break");  // the next file's record
  EXPECT_EQ(first_error(without(seal)), "audit_missing_seal");
  // Both the seal and the next header cut: the hashes no longer link.
  auto two = without(seal);
  two.erase(two.begin() + static_cast<ptrdiff_t>(seal));
  EXPECT_EQ(first_error(two), "audit_chain_break");
  // A truncated last line.
  WriteAll(path, all.substr(0, all.size() - 10));
  VerifyReport cut;
  VerifyExport({path}, &cut);
  ASSERT_GT(cut.errors(), 0u);
  EXPECT_EQ(cut.problems.back().code, "audit_truncated_record");
}

TEST_F(AuditVerify, MalformedLinesAreReportedNotFatal) {
  Edit(1, [](auto& l) {
    l.insert(l.begin() + 2, "this is not json");
    l.insert(l.begin() + 4, "{\"kind\":\"decision\",\"id\":\"trunc");
  });
  VerifyReport r;
  Verify({dir_.path}, &r);
  EXPECT_GT(r.errors(), 0u);
  EXPECT_EQ(r.problems[0].code, "audit_malformed_line");
  // Reading and replaying go on past them.
  RecordReader in;
  EXPECT_EQ(ReadEvery(&in), 120u);
  EXPECT_EQ(in.problems().size(), 2u);
  ReplayOptions o;
  o.dir = dir_.path;
  ReplayReport rep;
  std::string err;
  ASSERT_TRUE(Replay(o, &rep, &err)) << err;
  EXPECT_EQ(rep.records, 120u);
  EXPECT_EQ(rep.mismatched, 0u);
  EXPECT_EQ(rep.problems.size(), 2u);
}

// A line nested a million levels deep -- an edited file; the writer never
// writes one (the decoder bounds an input at 128 levels) -- is a malformed
// line for verify, the reader (audit export, show) and replay alike, never
// a stack overflow. Before: each of them crashed (SIGSEGV) in rapidjson's
// recursive parse. Both shapes: bare brackets, and a record whose input
// holds them (parsed past its first members).
TEST_F(AuditVerify, ADeeplyNestedLineIsMalformedNotACrash) {
  const std::string deep = std::string(1'000'000, '[') + std::string(1'000'000, ']');
  Edit(1, [&](auto& l) {
    l.insert(l.begin() + 2, deep);
    l.insert(l.begin() + 4, "{\"kind\":\"decision\",\"id\":\"01M8DEEP\",\"input\":" + deep + ",\"hash\":\"00\"}");
  });
  VerifyReport r;
  Verify({dir_.path}, &r);
  ASSERT_GT(r.errors(), 0u);
  EXPECT_EQ(r.problems[0].code, "audit_malformed_line");
  for (bool dom : {true, false}) {
    RecordReader in;
    EXPECT_EQ(ReadEvery(&in, dom), 120u);
    EXPECT_EQ(in.problems().size(), 2u);
  }
  ReplayOptions o;
  o.dir = dir_.path;
  ReplayReport rep;
  std::string err;
  ASSERT_TRUE(Replay(o, &rep, &err)) << err;
  EXPECT_EQ(rep.records, 120u);
  EXPECT_EQ(rep.mismatched, 0u);
  EXPECT_EQ(rep.failed, 0u) << (rep.failures.empty() ? "" : rep.failures[0]);
  EXPECT_EQ(rep.problems.size(), 2u);
}

// Reading with the DOM (audit export, audit show) holds one record's document
// at a time: the reused document's pool does not keep every record read
// before (it grew with the whole log: ~470 MB for a 390 MB log).
TEST_F(AuditVerify, ReaderMemoryDoesNotGrowWithTheLog) {
  RecordReader in;
  std::string err;
  ASSERT_TRUE(in.Open(dir_.path, &err));
  RecordLine line;
  uint64_t n = 0;
  size_t largest = 0, most = 0;
  while (in.Next(&line)) {
    ++n;
    largest = std::max(largest, line.text.size());
    most = std::max(most, line.doc.GetAllocator().Capacity());
  }
  ASSERT_EQ(n, 120u);
  // One record's DOM is a few times its text; 120 records' would be far more.
  EXPECT_LT(most, 8 * largest + (64 << 10)) << "largest line " << largest;
}

}  // namespace
}  // namespace tollgate::audit::testing
