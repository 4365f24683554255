// `tollgate eval`: evaluate decision inputs against a policy.
//
//   tollgate eval --policy FILE [--request FILE|-] [--explain] [--apply-redactions]
//   tollgate eval --policy FILE --requests FILE.jsonl|- [--explain]
//   ... [--audit DIR]: records each decision (runtime/audit/log.h) and adds
//   its "decision_id"; output is written only after its record is durable.
//
// Single mode prints the decision (decision_json.h) indented; an invalid
// input prints {"error": {"code", "message", "path"}} and exits 1. Batch mode
// streams one compact line per input line: the decision with a leading
// "line" member, or {"line": N, "error": {...}}; a bad line never stops the
// run, blank lines are skipped (line numbers still count them), a line
// longer than Limits::max_input_bytes is discarded while reading (never
// buffered whole) and answered with input_too_large, and the output is
// flushed whenever the input has no more buffered data. One Record and one
// Decision are reused for every line.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <memory>
#include <string>

#include "engine/vm/vm.h"
#include "runtime/cli/audit_hook.h"
#include "runtime/cli/commands.h"
#include "runtime/cli/common.h"
#include "runtime/decide/decide.h"
#include "runtime/decide/decision_json.h"
#include "runtime/input/input.h"
#include "runtime/router/bare_models.h"
#include "runtime/router/catalog.h"
#include "runtime/router/router.h"

namespace tollgate::cli {
namespace {

constexpr const char* kEvalUsage =
    "usage: tollgate eval --policy FILE [--request FILE|-] [--explain] [--apply-redactions]\n"
    "       tollgate eval --policy FILE --requests FILE.jsonl|- [--explain]\n"
    "       (either form takes --catalog FILE and --audit DIR)\n\n"
    "evaluates decision inputs (docs/decision-input.md) against the policy and prints\n"
    "each decision as JSON: outcome, status, code, reason, rules, shadow, advisory,\n"
    "requires, redactions, route, tags, warnings, errors, policy.\n\n"
    "options:\n"
    "  --policy FILE|DIR   the policy (required); given more than once, or a\n"
    "                      directory (every *.tg below it), the files are\n"
    "                      combined into one policy with one version id\n"
    "  --schema FILE       extend the standard decision-input schema with FILE\n"
    "  --catalog FILE      the gateway's model catalog: a bare model name\n"
    "                      (`gpt-4o`) that names one catalog model is read as\n"
    "                      that model (`openai/gpt-4o`), as `tollgate serve`\n"
    "                      reads it; without it such a name is decided as given\n"
    "                      and a warning says so\n"
    "  --request FILE|-    one decision input (default: standard input)\n"
    "  --requests FILE|-   JSON lines, one decision input per line; prints one\n"
    "                      compact decision (or error) line per input line;\n"
    "                      blank lines are skipped\n"
    "  --explain           add a trace of every rule and the values it read\n"
    "  --apply-redactions  add \"redacted_request\": the request body with the\n"
    "                      decision's redactions applied to message contents\n"
    "                      and tool-call arguments\n"
    "  --compact           print the single decision on one line\n"
    "  --audit DIR         record every decision in the audit log DIR (docs/audit.md);\n"
    "                      each output gets a \"decision_id\" and is printed only once\n"
    "                      its record is on disk\n\n"
    "exit codes: 0 decision made (allow or deny), 1 policy errors or an invalid\n"
    "input (batch: some line was invalid), 2 usage error, 3 I/O error\n";

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

// A bare model name (`gpt-4o`) is the catalog's model of that name, as the
// gateway reads it (docs/gateway.md, "Model names"): rewritten with
// --catalog (runtime::ResolveBareModelsInInput, the gateway's rewrite);
// without one the input is decided as given, and a warning says so, once.
class BareModels {
 public:
  explicit BareModels(const runtime::Catalog* catalog) : catalog_(catalog) {}
  void Resolve(std::string* input) {
    if (catalog_) return runtime::ResolveBareModelsInInput(*catalog_, input);
    if (warned_) return;
    const std::vector<std::string> names = runtime::BareModelNamesInInput(*input);
    if (names.empty()) return;
    warned_ = true;
    std::fprintf(stderr,
                 "warning: the request names the model `%s` without its author: `tollgate serve` "
                 "reads it as the catalog's one model of that name (`author/%s`), this decides on "
                 "the name as given\n  = help: give `--catalog FILE` to decide as the gateway does "
                 "(docs/gateway.md, \"Model names\")\n",
                 names[0].c_str(), names[0].c_str());
  }

 private:
  const runtime::Catalog* catalog_;
  bool warned_ = false;
};

// Decodes and evaluates one decision input; a `candidate` member (the
// endpoint the caller chose) is then checked against the placed requires
// (vm::CheckCandidate). False with *ierr on an invalid input. *has_cand
// tells whether the input had a candidate.
bool Decide(std::string_view json, const Loaded& l, const Limits& limits, const vm::EvalOptions& opts,
            vm::Record* rec, vm::Record* cand, bool* has_cand, vm::Decision* d,
            runtime::InputError* ierr) {
  if (!runtime::DecodeInput(json, *l.schema, limits, rec, ierr)) return false;
  *has_cand = false;
  if (!runtime::DecodeCandidate(json, *l.schema, limits, cand, has_cand, ierr)) return false;
  // endpoint.estimated_cost from the candidate's prices, as the router computes it.
  if (*has_cand) runtime::DeriveEstimatedCost(*l.schema, *rec, cand);
  vm::Evaluate(l.policy->program(), *rec, opts, d);
  if (*has_cand) vm::CheckCandidate(l.policy->program(), *rec, *cand, opts, d);
  return true;
}

// With --explain the trace run bypasses the rule index (different
// "instructions"): the audit record gets the decision of a plain run, which is
// what replay reproduces. `cand` (may be null) is the input's candidate.
std::string AuditedDecision(const Loaded& l, const vm::Record& rec, const vm::Record* cand,
                            const vm::Decision& d, bool traced) {
  if (!traced) return audit::RenderDecision(d, l.policy->program());
  vm::Decision plain;
  vm::Evaluate(l.policy->program(), rec, {}, &plain);
  if (cand != nullptr) vm::CheckCandidate(l.policy->program(), rec, *cand, {}, &plain);
  return audit::RenderDecision(plain, l.policy->program());
}

int EvalOne(const Args& args, const Loaded& l, BareModels& bare, AuditHook& hook) {
  std::string json, error;
  if (int rc = ReadDecisionInput(args, &json); rc != 0) return rc;
  bare.Resolve(&json);
  vm::Record rec, cand;
  runtime::InputError ierr;
  vm::Decision d;
  vm::EvalOptions opts;
  opts.trace = args.Has("--explain");
  bool has_cand = false;
  if (!Decide(json, l, Limits{}, opts, &rec, &cand, &has_cand, &d, &ierr)) {
    std::printf("%s\n", runtime::InputErrorJson(ierr).c_str());
    return kExitFailed;
  }
  std::string redacted;
  if (args.Has("--apply-redactions") &&
      !runtime::ApplyRedactions(json, d, l.policy->program(), &redacted, &error)) {
    std::fprintf(stderr, "error: cannot apply redactions: %s\n", error.c_str());
    return kExitFailed;
  }
  std::string decision_id;
  if (hook.enabled()) {
    decision_id = hook.Record(json, AuditedDecision(l, rec, has_cand ? &cand : nullptr, d, opts.trace), {}, AuditHook::ClockOf(d));
    if (!hook.Commit()) return kExitIo;
  }
  runtime::RenderOptions ro;
  ro.explain = args.Has("--explain");
  ro.pretty = !args.Has("--compact");
  ro.decision_id = decision_id;
  std::string out = runtime::RenderEval(*l.policy, d, ro,
                                        args.Has("--apply-redactions") ? &redacted : nullptr);
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fputc('\n', stdout);
  return kExitOk;
}

// Reads JSON lines from a file descriptor in 64 KiB chunks. A line longer
// than `max` bytes is never buffered whole: its bytes are counted and
// discarded up to the newline. `on_empty` runs whenever the buffered input
// is used up, before the next read() (so the caller can flush its output and
// an interactive client gets each answer as soon as its line is in).
class LineReader {
 public:
  LineReader(int fd, size_t max) : fd_(fd), max_(max) {}

  // Next line without its "\n" (and "\r"). Returns false at end of input or
  // on a read error (error() tells which). *overlong is set, with *bytes the
  // line's full length, when the line exceeded `max` (its text is then empty).
  template <typename OnEmpty>
  bool Next(std::string* line, bool* overlong, uint64_t* bytes, OnEmpty on_empty) {
    line->clear();
    *overlong = false;
    *bytes = 0;
    bool any = false;
    for (;;) {
      if (pos_ == end_) {
        if (eof_) break;
        on_empty();
        ssize_t n;
        do n = ::read(fd_, buf_, sizeof buf_); while (n < 0 && errno == EINTR);
        if (n < 0) { error_ = true; eof_ = true; break; }
        if (n == 0) { eof_ = true; break; }
        pos_ = 0;
        end_ = static_cast<size_t>(n);
      }
      any = true;
      const char* start = buf_ + pos_;
      const void* nl = std::memchr(start, '\n', end_ - pos_);
      size_t take = nl ? static_cast<size_t>(static_cast<const char*>(nl) - start) : end_ - pos_;
      *bytes += take;
      // INVARIANT: `line` never holds more than max_ + 1 bytes (one for a "\r").
      if (!*overlong && line->size() + take > max_ + 1) { *overlong = true; line->clear(); }
      if (!*overlong) line->append(start, take);
      pos_ += take;
      if (nl) { ++pos_; break; }
    }
    if (!any) return false;
    if (!line->empty() && line->back() == '\r') line->pop_back();
    return true;
  }
  bool error() const { return error_; }

 private:
  int fd_;
  size_t max_;
  char buf_[1 << 16];
  size_t pos_ = 0, end_ = 0;
  bool eof_ = false, error_ = false;
};

bool IsBlank(std::string_view s) {
  for (char c : s)
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') return false;
  return true;
}

int EvalBatch(const Args& args, const Loaded& l, BareModels& bare, AuditHook& hook) {
  const std::string& path = args.Get("--requests");
  int fd = path == "-" ? 0 : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    std::fprintf(stderr, "error: cannot read `%s`\n", path.c_str());
    return kExitIo;
  }
  const Limits limits{};
  auto reader = std::make_unique<LineReader>(fd, limits.max_input_bytes);
  vm::Record rec, cand;
  bool has_cand = false;
  vm::Decision d;
  vm::EvalOptions opts;
  opts.trace = args.Has("--explain");
  runtime::InputError ierr;
  rapidjson::StringBuffer sb;
  std::string out, text;
  out.reserve(1 << 17);
  uint64_t lineno = 0, bytes = 0;
  bool any_bad = false, overlong = false, audit_failed = false;
  auto flush = [&] {
    if (out.empty()) return;
    // Answers leave only once their records are on disk (group commit).
    if (hook.enabled() && !hook.Commit()) {
      audit_failed = true;
      out.clear();
      return;
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);
    out.clear();
  };
  while (!audit_failed && reader->Next(&text, &overlong, &bytes, flush)) {
    ++lineno;
    if (!overlong && IsBlank(text)) continue;  // blank lines are skipped, not errors
    sb.Clear();
    Writer w(sb);
    w.StartObject();
    w.Key("line");
    w.Uint64(lineno);
    bool ok = false;
    if (overlong) {
      ierr.code = "input_too_large";
      ierr.message = "decision input is " + std::to_string(bytes) +
                     " bytes, more than the limit of " + std::to_string(limits.max_input_bytes);
      ierr.path.clear();
    } else {
      bare.Resolve(&text);
      ok = Decide(text, l, limits, opts, &rec, &cand, &has_cand, &d, &ierr);
    }
    if (ok) {
      if (hook.enabled()) {
        std::string id = hook.Record(text, AuditedDecision(l, rec, has_cand ? &cand : nullptr, d, opts.trace), {}, AuditHook::ClockOf(d));
        w.Key("decision_id");
        w.String(id.c_str());
      }
      runtime::WriteDecisionMembers(&w, d, l.policy->program(), opts.trace);
    } else {
      any_bad = true;
      w.Key("error");
      w.StartObject();
      w.Key("code");
      w.String(ierr.code.c_str(), static_cast<rapidjson::SizeType>(ierr.code.size()));
      w.Key("message");
      w.String(ierr.message.c_str(), static_cast<rapidjson::SizeType>(ierr.message.size()));
      w.Key("path");
      w.String(ierr.path.c_str(), static_cast<rapidjson::SizeType>(ierr.path.size()));
      w.EndObject();
    }
    w.EndObject();
    out.append(sb.GetString(), sb.GetSize());
    out += '\n';
    if (out.size() >= (1 << 16)) flush();
  }
  bool read_error = reader->error();
  if (fd != 0) ::close(fd);
  flush();
  std::fflush(stdout);
  if (audit_failed) return kExitIo;
  if (read_error) {
    std::fprintf(stderr, "error: reading `%s` failed after line %llu\n", path.c_str(),
                 static_cast<unsigned long long>(lineno));
    return kExitIo;
  }
  return any_bad ? kExitFailed : kExitOk;
}

}  // namespace

int RunEval(int argc, char** argv) {
  Args args;
  args.Value("--policy", "FILE").Value("--schema", "FILE").Value("--request", "FILE")
      .Value("--requests", "FILE").Flag("--explain").Flag("--apply-redactions").Flag("--compact")
      .Value("--audit", "DIR").Value("--catalog", "FILE");
  if (int rc = args.Parse(argc, argv, kEvalUsage); rc >= 0) return rc;
  if (!args.positional().empty())
    return UsageError("unexpected argument `" + args.positional()[0] + "`", kEvalUsage);
  if (args.Get("--policy").empty()) return UsageError("`--policy FILE` is required", kEvalUsage);
  if (args.Has("--request") && args.Has("--requests"))
    return UsageError("give either `--request` or `--requests`, not both", kEvalUsage);
  if (args.Has("--requests") && args.Has("--apply-redactions"))
    return UsageError("`--apply-redactions` works with a single `--request`", kEvalUsage);
  Loaded l;
  if (int rc = LoadPolicy(args.GetAll("--policy"), args.Get("--schema"), &l); rc != kExitOk) return rc;
  runtime::Catalog catalog;
  if (args.Has("--catalog")) {
    if (int rc = LoadCatalog(args.Get("--catalog"), *l.schema, &catalog); rc != kExitOk) return rc;
  }
  BareModels bare(args.Has("--catalog") ? &catalog : nullptr);
  AuditHook hook;
  if (args.Has("--audit")) {
    if (int rc = hook.Open(args.Get("--audit"), *l.policy, args.Get("--schema"), "", ""); rc)
      return rc;
  }
  return args.Has("--requests") ? EvalBatch(args, l, bare, hook) : EvalOne(args, l, bare, hook);
}

}  // namespace tollgate::cli
