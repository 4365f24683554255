// Single-pattern RE2 helpers of the VM (see scan.h).
#include "engine/vm/scan.h"

#include <re2/re2.h>

#include <utility>

#include "engine/scan/escapes.h"
#include "engine/vm/internal/code.h"
#include "engine/vm/vm.h"

namespace tollgate::vm {

namespace {

RE2::Options PatternOptions() {
  RE2::Options o;
  o.set_log_errors(false);
  o.set_max_mem(64 << 20);
  return o;
}

// Per-thread copies of shared RE2 objects, keyed by address. An address may
// be reused by a later pattern once a program is freed, so a hit also checks
// that the pattern and case sensitivity are the same -- then the copy means
// the same thing whatever object it was made from. Oldest first; bounded: at
// kMaxLocalCopies entries the older half goes (the newer, just warmed, stays).
struct LocalCopies {
  struct Entry {
    const re2::RE2* key;
    std::unique_ptr<re2::RE2> copy;
  };
  std::vector<Entry> entries;
  size_t last = 0;
};
thread_local LocalCopies tls_copies;

bool Same(const re2::RE2& a, const re2::RE2& b) {
  return a.pattern() == b.pattern() &&
         a.options().case_sensitive() == b.options().case_sensitive() &&
         a.options().encoding() == b.options().encoding() &&
         a.options().longest_match() == b.options().longest_match() &&
         a.options().posix_syntax() == b.options().posix_syntax() &&
         a.options().dot_nl() == b.options().dot_nl() &&
         a.options().never_nl() == b.options().never_nl() &&
         a.options().literal() == b.options().literal();
}

}  // namespace

const re2::RE2& ThreadLocalCopy(const re2::RE2& re) {
  LocalCopies& t = tls_copies;
  if (t.last < t.entries.size() && t.entries[t.last].key == &re && Same(*t.entries[t.last].copy, re)) {
    return *t.entries[t.last].copy;
  }
  for (size_t i = 0; i < t.entries.size(); ++i) {
    if (t.entries[i].key == &re) {
      if (!Same(*t.entries[i].copy, re)) {
        t.entries[i].copy = std::make_unique<re2::RE2>(re.pattern(), re.options());
        scan::CountThreadLocalBuild();
      }
      t.last = i;
      return *t.entries[i].copy;
    }
  }
  if (t.entries.size() >= kMaxLocalCopies)
    t.entries.erase(t.entries.begin(), t.entries.begin() + kMaxLocalCopies / 2);
  t.entries.push_back({&re, std::make_unique<re2::RE2>(re.pattern(), re.options())});
  scan::CountThreadLocalBuild();
  t.last = t.entries.size() - 1;
  return *t.entries.back().copy;
}

std::unique_ptr<re2::RE2> CompilePattern(std::string_view pattern, std::string* error) {
  auto re = std::make_unique<RE2>(re2::StringPiece(pattern.data(), pattern.size()),
                                  PatternOptions());
  if (!re->ok()) {
    *error = re->error();
    return nullptr;
  }
  return re;
}

std::string CaselessPattern(std::string_view constant) {
  std::string out, run;
  auto flush = [&] {
    out += RE2::QuoteMeta(run);
    run.clear();
  };
  for (char c : constant) {
    if ((c | 0x20) < 'a' || (c | 0x20) > 'z') {
      run.push_back(c);
      continue;
    }
    flush();
    out += {'[', c, static_cast<char>(c ^ 0x20), ']'};
  }
  flush();
  return out;
}

bool MatchValidated(const re2::RE2& shared, int detector, std::string_view text,
                    const scan::FoundDigitRuns* runs) {
  const re2::RE2& re = ThreadLocalCopy(shared);
  const stdlib::Validator validator =
      detector < 0 ? nullptr : stdlib::Detectors()[static_cast<size_t>(detector)].validate;
  auto match = [&](std::string_view t, const scan::FoundDigitRuns* found) {
    if (detector < 0) return re.Match(re2::StringPiece(t.data(), t.size()), 0, t.size(), RE2::UNANCHORED, nullptr, 0);
    return stdlib::WalkDetector(
        re, detector, t,
        [&](size_t b, size_t e) { return validator == nullptr || validator(t.substr(b, e - b)); },
        found);
  };
  if (match(text, runs)) return true;
  if (!scan::HoldsBackslash(text, runs)) return false;
  thread_local scan::Readings readings;
  for (size_t r = 0, n = readings.Read(text); r < n; ++r)
    if (match(readings.text(r), nullptr)) return true;
  return false;
}

void WarmThread(const Program& program) {
  const internal::Code& code = program.code();
  bool detectors = false;
  for (const internal::Pattern& p : code.patterns) {
    if (p.re) ThreadLocalCopy(*p.re);
    detectors = detectors || p.detector >= 0;
  }
  for (const internal::ScanGroup& g : code.groups) {
    if (g.scanner) g.scanner->WarmThread();
    for (const internal::ScanPattern& p : g.patterns) {
      if (p.confirm) ThreadLocalCopy(*p.confirm);
      detectors = detectors || p.detector >= 0;
    }
  }
  for (const RedactInfo& r : code.redactions) detectors = detectors || r.detector >= 0;
  bool injection_score = false;
  const std::vector<stdlib::BuiltinDecl>& builtins = stdlib::Builtins();
  for (const internal::Instr& in : code.code) {
    if (in.op() == internal::Op::kCALL && in.a < builtins.size() &&
        builtins[in.a].name == "dlp.injection_score") {
      injection_score = true;
      break;
    }
  }
  stdlib::WarmThread(injection_score, detectors);
}

}  // namespace tollgate::vm
