// `tollgate eval`: evaluate decision inputs against a policy.
//
//   tollgate eval --policy FILE [--request FILE|-] [--explain] [--apply-redactions]
//   tollgate eval --policy FILE --requests FILE.jsonl|- [--explain]
//
// Single mode prints the decision (decision_json.h) indented; an invalid
// input prints {"error": {"code", "message", "path"}} and exits 1. Batch mode
// streams one compact line per input line: the decision with a leading
// "line" member, or {"line": N, "error": {...}}; a bad line never stops the
// run. One Record and one Decision are reused for every line.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "engine/vm/vm.h"
#include "runtime/cli/commands.h"
#include "runtime/cli/common.h"
#include "runtime/decision_json.h"
#include "runtime/input.h"

namespace tollgate::cli {
namespace {

constexpr const char* kEvalUsage =
    "usage: tollgate eval --policy FILE [--request FILE|-] [--explain] [--apply-redactions]\n"
    "       tollgate eval --policy FILE --requests FILE.jsonl|- [--explain]\n\n"
    "evaluates decision inputs (docs/decision-input.md) against the policy and prints\n"
    "each decision as JSON: outcome, status, code, reason, rules, shadow, advisory,\n"
    "requires, redactions, route, tags, warnings, errors, policy.\n\n"
    "options:\n"
    "  --policy FILE       the policy file (required)\n"
    "  --schema FILE       extend the standard decision-input schema with FILE\n"
    "  --request FILE|-    one decision input (default: standard input)\n"
    "  --requests FILE|-   JSON lines, one decision input per line; prints one\n"
    "                      compact decision (or error) line per input line\n"
    "  --explain           add a trace of every rule and the values it read\n"
    "  --apply-redactions  add \"redacted_request\": the request body with the\n"
    "                      decision's redactions applied to message contents\n"
    "  --compact           print the single decision on one line\n\n"
    "exit codes: 0 decision made (allow or deny), 1 policy errors or an invalid\n"
    "input (batch: some line was invalid), 2 usage error, 3 I/O error\n";

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

int EvalOne(const Args& args, const Loaded& l) {
  std::string json, error;
  if (!ReadFile(args.Get("--request").empty() ? "-" : args.Get("--request"), &json, &error)) {
    std::fprintf(stderr, "error: %s\n", error.c_str());
    return kExitIo;
  }
  vm::Record rec;
  runtime::InputError ierr;
  if (!runtime::DecodeInput(json, *l.schema, Limits{}, &rec, &ierr)) {
    std::printf("%s\n", runtime::InputErrorJson(ierr).c_str());
    return kExitFailed;
  }
  vm::Decision d;
  vm::EvalOptions opts;
  opts.trace = args.Has("--explain");
  vm::Evaluate(l.policy->program(), rec, opts, &d);
  std::string redacted;
  if (args.Has("--apply-redactions") &&
      !runtime::ApplyRedactions(json, d, l.policy->program(), &redacted, &error)) {
    std::fprintf(stderr, "error: cannot apply redactions: %s\n", error.c_str());
    return kExitFailed;
  }
  rapidjson::StringBuffer sb;
  auto emit = [&](auto& w) {
    w.StartObject();
    runtime::WriteDecisionMembers(&w, d, l.policy->program(), args.Has("--explain"));
    if (args.Has("--apply-redactions")) {
      w.Key("redacted_request");
      w.RawValue(redacted.data(), redacted.size(), rapidjson::kObjectType);
    }
    w.EndObject();
  };
  if (args.Has("--compact")) {
    Writer w(sb);
    emit(w);
  } else {
    rapidjson::PrettyWriter<rapidjson::StringBuffer> w(sb);
    w.SetIndent(' ', 2);
    emit(w);
  }
  std::fwrite(sb.GetString(), 1, sb.GetSize(), stdout);
  std::fputc('\n', stdout);
  return kExitOk;
}

int EvalBatch(const Args& args, const Loaded& l) {
  const std::string& path = args.Get("--requests");
  FILE* in = path == "-" ? stdin : std::fopen(path.c_str(), "rb");
  if (!in) {
    std::fprintf(stderr, "error: cannot read `%s`\n", path.c_str());
    return kExitIo;
  }
  static char inbuf[1 << 16];
  std::setvbuf(in, inbuf, _IOFBF, sizeof inbuf);
  vm::Record rec;
  vm::Decision d;
  vm::EvalOptions opts;
  opts.trace = args.Has("--explain");
  runtime::InputError ierr;
  rapidjson::StringBuffer sb;
  std::string out;
  out.reserve(1 << 17);
  char* line = nullptr;
  size_t cap = 0;
  ssize_t n;
  uint64_t lineno = 0;
  bool any_bad = false;
  while ((n = getline(&line, &cap, in)) >= 0) {
    ++lineno;
    std::string_view text(line, static_cast<size_t>(n));
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
    sb.Clear();
    Writer w(sb);
    w.StartObject();
    w.Key("line");
    w.Uint64(lineno);
    if (runtime::DecodeInput(text, *l.schema, Limits{}, &rec, &ierr)) {
      vm::Evaluate(l.policy->program(), rec, opts, &d);
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
    if (out.size() >= (1 << 16)) {
      std::fwrite(out.data(), 1, out.size(), stdout);
      out.clear();
    }
  }
  std::free(line);
  bool read_error = std::ferror(in);
  if (in != stdin) std::fclose(in);
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
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
      .Value("--requests", "FILE").Flag("--explain").Flag("--apply-redactions").Flag("--compact");
  if (int rc = args.Parse(argc, argv, kEvalUsage); rc >= 0) return rc;
  if (!args.positional().empty())
    return UsageError("unexpected argument `" + args.positional()[0] + "`", kEvalUsage);
  if (args.Get("--policy").empty()) return UsageError("`--policy FILE` is required", kEvalUsage);
  if (args.Has("--request") && args.Has("--requests"))
    return UsageError("give either `--request` or `--requests`, not both", kEvalUsage);
  if (args.Has("--requests") && args.Has("--apply-redactions"))
    return UsageError("`--apply-redactions` works with a single `--request`", kEvalUsage);
  Loaded l;
  if (int rc = LoadPolicy(args.Get("--policy"), args.Get("--schema"), &l); rc != kExitOk) return rc;
  return args.Has("--requests") ? EvalBatch(args, l) : EvalOne(args, l);
}

}  // namespace tollgate::cli
