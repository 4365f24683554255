// The VM's view of content scanning: the multi-pattern scanner behind fused
// `matches` / `contains` scan groups (engine/scan/scanner.h: Hyperscan with
// per-pattern RE2 fallback, or RE2::Set), and the single RE2 patterns of
// MATCH and of detector confirmation.
//
// RE2 syntax and RE2 partial-match semantics are the reference for every
// pattern; spans and validators always run on RE2.
//
// Thread safety: everything here may run on any number of threads at once
// and takes no shared lock: MatchValidated matches with a per-thread copy of
// the RE2 object (RE2 objects guard their DFA cache with a mutex).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <re2/re2.h>

#include "engine/scan/scanner.h"
#include "stdlib/builtins.h"

namespace tollgate::vm {

using Scanner = scan::Scanner;

// RE2 options used for every policy pattern (UTF-8, case sensitive, quiet).
// Defined in scan.cc so that only one place decides them.
std::unique_ptr<re2::RE2> CompilePattern(std::string_view pattern, std::string* error);

// The pattern of a constant compared with lower()/upper() of a field
// (`lower(request.content) contains "k"`, ScanPattern::kCaseless): each
// ASCII letter of `constant` in either case (`[kK]`), every other byte
// quoted -- exactly where the mapped text holds `constant`, since lower()
// and upper() map ASCII letters only and keep every byte in place (no
// Unicode case folding: `(?i)k` would also take the Kelvin sign).
std::string CaselessPattern(std::string_view constant);

// True when `re` matches somewhere in `text` or in one of its readings
// (engine/scan/escapes.h: its JSON string escapes decoded, as `matches`
// reads a text); for a detector (`detector` >= 0, `re` compiled from its
// regex), when some candidate of stdlib::WalkDetector there passes its
// validator. Cost: one RE2 scan (of the digit runs only, for the card and
// SSN detectors), plus one more per rejected candidate, and the same per
// reading when the text holds a backslash and `re` did not match it; the
// first call per (thread, pattern) copies the RE2 object.
// `runs`, when not null: the digit runs a scan of this very text found
// (Scanner::Scan), which the walk then need not find again, and whether the
// text holds a backslash (no memchr over it then).
bool MatchValidated(const re2::RE2& re, int detector, std::string_view text,
                    const scan::FoundDigitRuns* runs = nullptr);

// This thread's copy of `re` (same pattern and options): matching it takes
// no lock shared with other threads. A thread keeps kMaxLocalCopies of
// them; at that many the older half goes.
inline constexpr size_t kMaxLocalCopies = 256;
const re2::RE2& ThreadLocalCopy(const re2::RE2& re);

}  // namespace tollgate::vm
