// The audit commands (docs/audit.md):
//
//   tollgate replay --audit DIR [--policy FILE | --version ID] [--json]
//   tollgate audit verify DIR|FILE...
//   tollgate audit show ID --audit DIR
//   tollgate audit export --audit DIR [--since T] [--until T] [--json]
//   tollgate store list --audit DIR
//   tollgate store show ID --audit DIR
//
// and the `--audit DIR` hook of eval and route (audit_hook.h).
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "engine/core/sha256.h"
#include "engine/core/value.h"
#include "runtime/audit/internal/util.h"
#include "runtime/audit/reader.h"
#include "runtime/audit/replay.h"
#include "runtime/audit/store.h"
#include "runtime/cli/audit_hook.h"
#include "runtime/cli/commands.h"
#include "runtime/cli/common.h"

namespace tollgate::cli {

int AuditHook::Open(const std::string& dir, const Policy& policy, const std::string& schema_path,
                    const std::string& catalog_path, const std::string& accounts_path) {
  std::string error;
  audit::SubjectSources src;
  auto read = [&](const std::string& path, std::string* out) {
    // The largest of the schema, catalog and accounts limits (docs/limits.md).
    if (path.empty() || ReadFile(path, Limits{}.max_catalog_bytes, out, &error) == ReadStatus::kOk)
      return true;
    std::fprintf(stderr, "error: %s\n", error.c_str());
    return false;
  };
  if (!read(schema_path, &src.schema_json) || !read(catalog_path, &src.catalog_json) ||
      !read(accounts_path, &src.accounts_json))
    return kExitIo;
  log = audit::AuditLog::Open(dir, {}, &error);
  if (log) subject = log->Register(policy, src, &error);
  if (!log || !subject) {
    std::fprintf(stderr, "error[audit_io_error]: %s\n", error.c_str());
    log.reset();
    return kExitIo;
  }
  return kExitOk;
}

std::string AuditHook::ClockOf(const vm::Decision& d) {
  return d.time && d.time_from_clock ? FormatRfc3339(*d.time) : std::string();
}

std::string AuditHook::Record(std::string input, std::string decision, std::string endpoints,
                              std::string clock, std::string counters, std::string admission) {
  audit::Entry e;
  e.subject = subject;
  e.input = std::move(input);
  e.decision = std::move(decision);
  e.endpoints = std::move(endpoints);
  e.clock = std::move(clock);
  e.counters = std::move(counters);
  e.admission = std::move(admission);
  audit::Ticket t = log->Append(std::move(e));
  if (t.seq) last_seq = t.seq;
  return t.id;
}

bool AuditHook::Commit() {
  if (log->WaitDurable(last_seq) && !log->failed()) return true;
  std::fprintf(stderr, "error[audit_io_error]: cannot write the audit log in `%s`\n", log->dir().c_str());
  return false;
}

namespace {

constexpr const char* kReplayUsage =
    "usage: tollgate replay --audit DIR [--policy FILE | --version ID] [--json]\n\n"
    "re-evaluates every decision recorded in DIR. without --policy/--version each record\n"
    "is replayed against the policy version (schema, catalog, accounts) that made it,\n"
    "from DIR's version store, and must come out identical byte for byte; a difference\n"
    "names the record and the first differing field. with --policy FILE or --version ID\n"
    "prints an impact report: decisions that would change (allow->deny, deny->allow,\n"
    "status/code, route, redactions, shadow), grouped by rule and by workspace.\n"
    "records whose message text was not retained are reported as not replayable when a\n"
    "rule reads the text.\n\n"
    "exit codes: 0 replayed (determinism: all identical), 1 a difference or a record that\n"
    "could not be replayed, 2 usage error, 3 I/O error\n";

constexpr const char* kAuditUsage =
    "usage: tollgate audit verify DIR|FILE...\n"
    "       tollgate audit show ID --audit DIR\n"
    "       tollgate audit verify --export FILE...\n"
    "       tollgate audit export --audit DIR [--since T] [--until T] [--json]\n\n"
    "verify   checks the hash chain of every log file; names the first broken record\n"
    "         and why (exit 1 on any break). files given by name are checked as one\n"
    "         chain in the order of their numbers; with --export, the output of\n"
    "         `audit export --json` (the hashes, the links, its edges)\n"
    "show     one decision explained: the record, and the decision recomputed from\n"
    "         the stored version with every rule's trace and eliminated endpoints\n"
    "export   the records whose time is in [since, until) (RFC 3339 or YYYY-MM-DD):\n"
    "         one summary line each, or with --json the records as JSON lines\n"
    "         (verbatim: a stretch of the chain that `verify --export` checks)\n\n"
    "exit codes: 0 ok, 1 a broken chain / unknown id, 2 usage error, 3 I/O error\n";

constexpr const char* kStoreUsage =
    "usage: tollgate store list --audit DIR\n"
    "       tollgate store show ID --audit DIR\n\n"
    "the version store of an audit directory: every policy version, schema, catalog\n"
    "and accounts file its decisions used, by content hash.\n"
    "list  one line per object: id, kind, name, first-seen time\n"
    "show  the object's manifest and the text of each of its files\n\n"
    "exit codes: 0 ok, 1 unknown id, 2 usage error, 3 I/O error\n";

std::string Str(const rapidjson::Value& v, const char* key) {
  if (!v.IsObject()) return {};
  auto it = v.FindMember(key);
  return it != v.MemberEnd() && it->value.IsString()
             ? std::string(it->value.GetString(), it->value.GetStringLength())
             : std::string();
}

// A summary field as is when it is one plain token, else as a JSON string
// (quoted, escaped): a caller-supplied value (the workspace of a decision
// input) must not split a summary line or forge another one.
std::string SummaryField(const std::string& v) {
  bool plain = !v.empty();
  for (unsigned char c : v)
    if (c <= 0x20 || c == 0x7f || c == '"' || c == '\\') plain = false;
  return plain ? v : JsonQuoted(v);
}

// DIR given with --audit must be a directory that can be read: anything else
// is an I/O error (exit 3), before any lookup in it.
int NeedAuditDir(const std::string& dir) {
  std::error_code ec;
  if (std::filesystem::is_directory(dir, ec)) return kExitOk;
  std::fprintf(stderr, "error: cannot read the audit directory `%s`: %s\n", dir.c_str(),
               ec ? ec.message().c_str()
                  : std::filesystem::exists(dir, ec) ? "Not a directory" : "No such file or directory");
  return kExitIo;
}

int Verify(const std::vector<std::string>& paths, bool exported) {
  // A path that is not there at all is an I/O error (exit 3, as for replay
  // and export), not a broken chain; a directory without its files is one.
  for (const std::string& p : paths) {
    std::error_code ec;
    if (!std::filesystem::exists(p, ec)) {
      std::fprintf(stderr, "error: cannot read `%s`: %s\n", p.c_str(),
                   ec ? ec.message().c_str() : "No such file or directory");
      return kExitIo;
    }
  }
  audit::VerifyReport r;
  if (exported) audit::VerifyExport(paths, &r);
  else audit::Verify(paths, &r);
  const audit::Problem* first = nullptr;
  for (const audit::Problem& p : r.problems) {
    if (p.error && first == nullptr) first = &p;
    std::printf("%s[%s]: %s%s%s: %s\n", p.error ? "error" : "warning", p.code.c_str(),
                p.file.c_str(), p.line ? (":" + std::to_string(p.line)).c_str() : "",
                p.id.empty() ? "" : (" (" + p.id + ")").c_str(), p.message.c_str());
  }
  for (const std::string& n : r.notes) std::printf("note: %s\n", n.c_str());
  if (first != nullptr) {
    std::printf("chain broken: first at %s%s%s (%s); %llu records verified in %llu files\n",
                first->file.c_str(), first->line ? (":" + std::to_string(first->line)).c_str() : "",
                first->id.empty() ? "" : (" record " + first->id).c_str(), first->code.c_str(),
                static_cast<unsigned long long>(r.records), static_cast<unsigned long long>(r.files));
    return kExitFailed;
  }
  std::printf("ok: %llu records in %llu files verified%s%s\n",
              static_cast<unsigned long long>(r.records), static_cast<unsigned long long>(r.files),
              r.last_id.empty() ? "" : "; last ", r.last_id.c_str());
  return kExitOk;
}

int Export(const Args& args) {
  int64_t since = INT64_MIN, until = INT64_MAX;
  if (args.Has("--since") && !audit::internal::ParseMillis(args.Get("--since"), &since))
    return UsageError("`--since` must be an RFC 3339 time or a date, got `" + args.Get("--since") + "`", kAuditUsage);
  if (args.Has("--until") && !audit::internal::ParseMillis(args.Get("--until"), &until))
    return UsageError("`--until` must be an RFC 3339 time or a date, got `" + args.Get("--until") + "`", kAuditUsage);
  audit::RecordReader reader;
  std::string error;
  if (!reader.Open(args.Get("--audit"), &error)) {
    std::fprintf(stderr, "error: %s\n", error.c_str());
    return kExitIo;
  }
  audit::RecordLine rec;
  const bool json = args.Has("--json");
  // --json copies a stretch of the chain, so that `audit verify --export`
  // can check it: every line from the one after the last decision before the
  // window (the file and seal records in between included) to the last
  // decision in the window. A decision outside the window in the middle of
  // that stretch (the clock stepped back) is copied too: the chain has no
  // gaps. Lines after the last decision in the window are held back until
  // the next one in the window shows they are inside the stretch.
  constexpr size_t kMaxHeld = 64 << 20;
  std::string held;
  bool started = false;
  reader.IncludeStructural(json);
  while (reader.Next(&rec)) {
    const bool decision = rec.Raw("kind") == "\"decision\"";
    int64_t t;
    const bool in_window = decision && audit::internal::ParseMillis(Str(rec.doc, "time"), &t) &&
                           t >= since && t < until;
    if (json) {
      if (in_window) {
        std::fwrite(held.data(), 1, held.size(), stdout);
        held.clear();
        std::fwrite(rec.text.data(), 1, rec.text.size(), stdout);
        std::fputc('\n', stdout);
        started = true;
        continue;
      }
      if (decision && !started) {  // the stretch starts after it
        held.clear();
        continue;
      }
      held.append(rec.text).push_back('\n');
      if (started && held.size() > kMaxHeld) {
        // The window ended long ago: a later decision in it would start a new
        // stretch, which verify --export reports as a gap.
        std::fprintf(stderr, "warning: more than 64 MiB of records follow the window; "
                             "records in it after them start a new stretch of the chain\n");
        held.clear();
        started = false;
      }
      continue;
    }
    if (!in_window) continue;
    const rapidjson::Value& d = rec.doc.HasMember("decision") ? rec.doc["decision"] : rec.doc;
    std::string ws;
    if (rec.doc.HasMember("input") && rec.doc["input"].IsObject() && rec.doc["input"].HasMember("principal"))
      ws = Str(rec.doc["input"]["principal"], "workspace");
    // Numbers are parsed as strings in place: not NUL-terminated, the length counts.
    std::string status = Str(d, "status");
    if (status.empty()) status = "?";
    std::printf("%s %s %-5s %s %s policy=%s workspace=%s\n", Str(rec.doc, "time").c_str(),
                Str(rec.doc, "id").c_str(), Str(d, "outcome").c_str(), status.c_str(),
                SummaryField(Str(d, "code")).c_str(),
                SummaryField(rec.doc.HasMember("policy") ? Str(rec.doc["policy"], "name") : "?").c_str(),
                SummaryField(ws.empty() ? "-" : ws).c_str());
  }
  for (const audit::Problem& p : reader.problems())
    std::fprintf(stderr, "warning[%s]: %s:%llu: %s\n", p.code.c_str(), p.file.c_str(),
                 static_cast<unsigned long long>(p.line), p.message.c_str());
  return kExitOk;
}

}  // namespace

int RunReplay(int argc, char** argv) {
  Args args;
  args.Value("--audit", "DIR").Value("--policy", "FILE").Value("--version", "ID").Flag("--json");
  if (int rc = args.Parse(argc, argv, kReplayUsage); rc >= 0) return rc;
  if (!args.positional().empty())
    return UsageError("unexpected argument `" + args.positional()[0] + "`", kReplayUsage);
  if (args.Get("--audit").empty()) return UsageError("`--audit DIR` is required", kReplayUsage);
  if (args.Has("--policy") && args.Has("--version"))
    return UsageError("give either `--policy` or `--version`, not both", kReplayUsage);
  if (int rc = NeedAuditDir(args.Get("--audit")); rc != kExitOk) return rc;
  // A candidate file that cannot be read is an I/O error (3), not a policy
  // that does not compile (1).
  if (args.Has("--policy")) {
    const std::string& file = args.Get("--policy");
    std::FILE* f = std::fopen(file.c_str(), "rb");
    std::error_code ec;
    if (f == nullptr || std::filesystem::is_directory(file, ec)) {
      std::fprintf(stderr, "error: cannot read `%s`: %s\n", file.c_str(),
                   f == nullptr ? std::strerror(errno) : "Is a directory");
      if (f != nullptr) std::fclose(f);
      return kExitIo;
    }
    std::fclose(f);
  }
  audit::ReplayOptions o;
  o.dir = args.Get("--audit");
  o.candidate_file = args.Get("--policy");
  o.candidate_version = args.Get("--version");
  audit::ReplayReport r;
  std::string error;
  if (!audit::Replay(o, &r, &error)) {
    std::fprintf(stderr, "error: %s\n", error.c_str());
    return error.rfind("cannot list", 0) == 0 ? kExitIo : kExitFailed;
  }
  std::string out = args.Has("--json") ? audit::ReportJson(r) : audit::ReportText(r);
  // A line that is not a decision record (a damaged one), a log file that
  // cannot be read, or bytes that are no part of the chain (a file numbered
  // 0, a partial line after a seal) were skipped: not replayed, so the
  // answer is not "all identical". (A crash's incomplete last record is not
  // a decision anyone was answered about: a warning only.)
  size_t skipped = 0;
  for (const audit::Problem& p : r.problems)
    skipped += p.code == "audit_malformed_line" || p.code == "audit_missing_file" ||
               p.code == "audit_unexpected_record";
  if (skipped && !args.Has("--json"))
    out += "error[audit_replay_failed]: " + std::to_string(skipped) +
           (skipped == 1 ? " line or file of the log could not be read as a decision record and was"
                         : " lines or files of the log could not be read as decision records and were") +
           " not replayed: run `tollgate audit verify " + o.dir + "`\n";
  // No decision file at all: no log (a log has its file 1 from the start).
  const bool no_log = std::any_of(r.problems.begin(), r.problems.end(),
                                  [](const audit::Problem& p) { return p.code == "audit_no_files"; });
  if (no_log && !args.Has("--json"))
    out += "error[audit_replay_failed]: `" + o.dir + "` holds no decision files (a log has " +
           "decisions-000001.jsonl from its start): nothing was replayed\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
  if (r.failed || skipped || no_log) return kExitFailed;
  return !r.impact_mode && r.mismatched ? kExitFailed : kExitOk;
}

int RunAudit(int argc, char** argv) {
  if (argc < 1) return UsageError("give a subcommand: verify, show or export", kAuditUsage);
  std::string sub = argv[0];
  if (sub == "--help" || sub == "-h") {
    std::fputs(kAuditUsage, stdout);
    return kExitOk;
  }
  Args args;
  args.Value("--audit", "DIR").Value("--since", "T").Value("--until", "T").Flag("--json").Flag("--export");
  if (int rc = args.Parse(argc - 1, argv + 1, kAuditUsage); rc >= 0) return rc;
  if (sub == "verify") {
    if (args.positional().empty() && !args.Has("--audit"))
      return UsageError("give the audit directories or log files to verify", kAuditUsage);
    std::vector<std::string> paths = args.positional();
    if (args.Has("--export")) {
      if (args.Has("--audit") || paths.empty())
        return UsageError("give the exported files to verify: audit verify --export FILE...", kAuditUsage);
      return Verify(paths, true);
    }
    if (args.Has("--audit")) paths.push_back(args.Get("--audit"));
    return Verify(paths, false);
  }
  if (sub == "show") {
    if (args.positional().size() != 1 || args.Get("--audit").empty())
      return UsageError("usage: tollgate audit show ID --audit DIR", kAuditUsage);
    if (int rc = NeedAuditDir(args.Get("--audit")); rc != kExitOk) return rc;
    std::string json, error;
    if (!audit::ExplainRecord(args.Get("--audit"), args.positional()[0], &json, &error)) {
      std::fprintf(stderr, "error: %s\n", error.c_str());
      return kExitFailed;
    }
    std::fwrite(json.data(), 1, json.size(), stdout);
    return kExitOk;
  }
  if (sub == "export") {
    if (args.Get("--audit").empty()) return UsageError("`--audit DIR` is required", kAuditUsage);
    return Export(args);
  }
  return UsageError("unknown subcommand `" + sub + "`", kAuditUsage);
}

int RunStore(int argc, char** argv) {
  if (argc < 1) return UsageError("give a subcommand: list or show", kStoreUsage);
  std::string sub = argv[0];
  if (sub == "--help" || sub == "-h") {
    std::fputs(kStoreUsage, stdout);
    return kExitOk;
  }
  Args args;
  args.Value("--audit", "DIR");
  if (int rc = args.Parse(argc - 1, argv + 1, kStoreUsage); rc >= 0) return rc;
  if (args.Get("--audit").empty()) return UsageError("`--audit DIR` is required", kStoreUsage);
  const std::string dir = args.Get("--audit");
  if (sub != "list" && sub != "show") return UsageError("unknown subcommand `" + sub + "`", kStoreUsage);
  if (int rc = NeedAuditDir(dir); rc != kExitOk) return rc;
  std::string error;
  if (sub == "list") {
    std::vector<audit::StoredObject> objs;
    std::vector<std::string> unreadable;
    if (!audit::ListObjects(dir, &objs, &error, &unreadable)) {
      std::fprintf(stderr, "error: %s\n", error.c_str());
      return kExitIo;
    }
    for (const audit::StoredObject& o : objs)
      std::printf("%s  %-8s  %-24s  %s\n", o.id.c_str(), o.kind.c_str(), o.name.c_str(),
                  o.first_seen.c_str());
    // A damaged object is not silently left out: replay would fail on it.
    for (const std::string& why : unreadable)
      std::fprintf(stderr, "error[store_bad_manifest]: %s\n", why.c_str());
    return unreadable.empty() ? kExitOk : kExitFailed;
  }
  if (sub == "show") {
    if (args.positional().size() != 1) return UsageError("usage: tollgate store show ID --audit DIR", kStoreUsage);
    audit::StoredObject o;
    if (!audit::LoadObject(dir, args.positional()[0], true, &o, &error)) {
      std::fprintf(stderr, "error: %s\n", error.c_str());
      return kExitFailed;
    }
    std::printf("id: %s\nkind: %s\nname: %s\nfirst seen: %s\n", o.id.c_str(), o.kind.c_str(),
                o.name.c_str(), o.first_seen.c_str());
    for (const audit::StoredFile& f : o.files) {
      std::printf("\n== %s (%s)\n", f.path.c_str(), f.role.c_str());
      std::fwrite(f.text.data(), 1, f.text.size(), stdout);
      if (!f.text.empty() && f.text.back() != '\n') std::fputc('\n', stdout);
    }
    // The id is the content hash: files edited after they were stored are
    // not that version (replay refuses them too).
    std::string now;
    if (o.kind == "policy") {
      Compiled c = audit::CompileStored(dir, o.id, stdlib::Schema::Standard());
      // A policy decided with a `--schema` extension compiles only with it:
      // that schema is stored beside it (its own `schema` object). One that
      // compiles with no stored schema was edited (or the files damaged).
      bool with_schema = false;
      if (!c.policy) {
        std::vector<audit::StoredObject> objs;
        std::string ignored;
        audit::ListObjects(dir, &objs, &ignored, nullptr);
        for (const audit::StoredObject& s : objs) {
          audit::StoredObject so;
          if (s.kind != "schema" || !audit::LoadObject(dir, s.id, true, &so, &ignored) || so.files.size() != 1)
            continue;
          stdlib::Schema ext = stdlib::Schema::Standard();
          if (!ext.AddFromJson(so.files[0].text, &ignored)) continue;
          Compiled with = audit::CompileStored(dir, o.id, ext);
          if (with.policy) {
            now = with.policy->version_id();
            with_schema = true;
            break;
          }
        }
        if (!with_schema) {
          std::string why = c.diagnostics.Render();
          while (!why.empty() && why.back() == '\n') why.pop_back();
          std::fprintf(stderr, "error[store_mismatch]: the stored files of `%s` do not compile (with the standard schema or any schema stored beside it): they were edited after they were stored\n%s\n",
                       o.id.c_str(), why.c_str());
          return kExitFailed;
        }
      }
      if (c.policy) now = c.policy->version_id();
    } else if (o.files.size() == 1) {
      now = "sha256:" + Sha256Hex(o.files[0].text);
    }
    if (!now.empty() && now != o.id) {
      std::fprintf(stderr, "error[store_mismatch]: the stored files of `%s` hash to `%s`: they were edited after they were stored\n",
                   o.id.c_str(), now.c_str());
      return kExitFailed;
    }
    return kExitOk;
  }
  return UsageError("unknown subcommand `" + sub + "`", kStoreUsage);
}

}  // namespace tollgate::cli
