// Built-in functions and content detectors, declared as data.
//
// Each builtin has exactly one declaration -- name, typed parameters, result
// type, description, cost class -- with its implementation registered beside
// it in builtins.cc. The checker resolves calls against these declarations,
// the VM calls `fn` by index, and docs/language.md lists them.
//
// Detectors (dlp.credit_card, ...) are named patterns with an optional
// validator (Luhn, IBAN mod-97); `x matches dlp.credit_card` is true when some
// match of the regex also passes the validator. RE2 syntax is the reference
// semantics of every pattern.
//
// Thread safety: the tables are immutable; builtins are pure functions of
// their arguments (plus a scratch arena for results).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/core/types.h"
#include "engine/core/value.h"

namespace re2 {
class RE2;
}

namespace tollgate::scan {
struct FoundDigitRuns;
}  // namespace tollgate::scan

namespace tollgate::stdlib {

enum class Cost : uint8_t {
  kConstant,  // O(1)
  kLinear,    // O(size of the arguments)
  kScan,      // regex scan over the argument text
};
const char* CostName(Cost c);

// Result of a builtin call. On failure return false and set *error to a
// lowercase one-line message; the VM records it as a rule runtime error.
using BuiltinFn = bool (*)(const Value* args, size_t argc, Arena& scratch, Value* out,
                           std::string* error);

// Largest string a builtin may produce (e.g. `replace`); beyond it the call
// fails with "replace result is too large".
inline constexpr size_t kMaxBuiltinStringBytes = 16u << 20;  // 16 MiB

// Every value an int or decimal result can take, both ends included, in the
// result's units: ints as they are, decimals in micros (0..1'000'000 is 0..1).
// kUnbounded as `hi`: no upper end. The checker reports a comparison with a
// constant that can never hold over it (tg_unreachable_comparison:
// `hour(t) >= 24`, `dlp.injection_score(x) >= 80`).
struct ValueRange {
  static constexpr int64_t kUnbounded = INT64_MAX;
  int64_t lo = 0;
  int64_t hi = kUnbounded;
};

struct BuiltinDecl {
  std::string_view name;           // "lower", "dlp.injection_score"
  std::vector<Type> params;        // Type() (any) accepts every type
  Type result;
  std::string_view description;
  Cost cost;
  BuiltinFn fn;
  // The values the result can take, when fewer than its type's (hour: 0..23).
  std::optional<ValueRange> range = std::nullopt;
  // When false (the default) the VM raises eval_missing_field before the call
  // if any argument is null; `exists` sets it to inspect null itself.
  bool accepts_null = false;
  // Pure functions over constant arguments are folded by the checker.
  bool pure = true;
  // Validates argument `arg` when the checker knows its value (a constant),
  // so that e.g. an unknown time-zone name is a check-time error; null when
  // every value is acceptable. Returns false with *error set.
  bool (*check_arg)(size_t arg, const Value& v, std::string* error) = nullptr;
};

// All declarations; overloads share a name and appear consecutively.
const std::vector<BuiltinDecl>& Builtins();
// Ids of every overload with this name (empty when unknown).
std::vector<int> FindBuiltin(std::string_view name);

// A validator returns true when the matched text really is an instance.
using Validator = bool (*)(std::string_view match);

struct DetectorDecl {
  std::string_view name;         // "dlp.credit_card"
  std::string_view regex;        // RE2 syntax
  Validator validate;            // may be null
  std::string_view description;
  // A digit-run promise (scan::DigitRuns): every match of `regex` lies in
  // one run of digits joined by gaps of 1..`run_max_gap` bytes, each one of
  // `run_separators` (or, with `run_wide`, above 0x7F; full-width digits
  // count as digits) and holds at least `run_digits` digits (0: no
  // promise). tests/scan checks it.
  uint32_t run_digits = 0;
  std::string_view run_separators = {};
  bool run_wide = false;
  uint32_t run_max_gap = 1;
};

const std::vector<DetectorDecl>& Detectors();
int FindDetector(std::string_view name);  // -1 when unknown
std::vector<std::string> DetectorNames();

// True when some match of detector `id` in `text`, or in one of its readings
// (engine/scan/escapes.h: its JSON string escapes decoded), passes its
// validator (the semantics of `text matches dlp.x`). Uses a regex compiled
// once per process; cost: one RE2 scan, plus one more per rejected
// candidate, and the same again per reading of a text holding a backslash.
// Thread-safe.
bool DetectorMatches(int id, std::string_view text);
// Every validated match of detector `id`, as [begin, end) byte offsets into
// `text`, increasing and disjoint. The walk is RE2's leftmost
// non-overlapping matches, resuming after each candidate whether or not it
// validated -- the same walk as the VM's `matches`. A validated candidate
// may be trimmed to the part that really is an instance (a card number
// after an extra digit group, an IBAN followed by a word), so the spans lie
// inside the candidates `matches` sees. Then the same in each reading of
// `text` (escapes.h), each span mapped back to the whole escapes it came
// from (`4111\u00a01111...` from its first digit to its last), and
// overlapping spans merged. The result is non-empty exactly when `matches`
// is true.
std::vector<std::pair<size_t, size_t>> FindDetectorMatches(int id, std::string_view text);

// The candidate walk behind DetectorMatches, FindDetectorMatches and the
// VM's `matches dlp.x`, over one text (the callers walk each reading too):
// RE2's leftmost non-overlapping matches of `re` (the
// regex of detector `id`, compiled by the caller: a per-thread copy takes no
// lock) in `text`, resuming after each one, passed to `each(begin, end)`
// until it returns true; returns whether it did. A detector with a
// digit-run promise is searched only inside the text's digit runs (the
// whole text as context): the same matches, since each lies inside one run
// (tests/scan check the promise) -- a 1 MB prompt with a few numbers costs
// one cheap pass instead of an RE2 scan of the megabyte. `runs`, when not
// null: the runs a scan of this very text found (scan::FoundDigitRuns),
// reused instead of that pass where their promise fits.
bool WalkDetector(const re2::RE2& re, int id, std::string_view text,
                  const std::function<bool(size_t begin, size_t end)>& each,
                  const scan::FoundDigitRuns* runs = nullptr);

// Validators, exposed for tests. LuhnValid: digits with optional spaces and
// dashes, at least two digits, Luhn checksum correct. IbanValid: a known
// country code with its IBAN length, spaces allowed, mod-97 remainder 1.
bool LuhnValid(std::string_view digits_and_separators);
bool IbanValid(std::string_view iban);

// Heuristic prompt-injection score in [0, 1] (micros, 0..1'000'000): weighted
// RE2::Set over instruction-override, role-manipulation, prompt-extraction,
// jailbreak and control-token phrases, after removing invisible code points
// and combining marks, folding look-alike letters and collapsing letter
// spacing (docs/language.md).
// Groups (from the nine: instruction_override, dev_mode, system_override,
// prompt_extraction, role_manipulation, dan, safety_bypass, tag_spoofing,
// control_tokens) are each counted once; score = min(1e6, sum of weights).
// Long base64/hex runs are decoded and checked too. Deterministic; thread-safe
// (the scanners are built once per process, see PrepareInjectionScore).
// Cost: two linear scans of the text (phrases, preprocessing triggers), plus
// the preprocessing passes and a rescan only when a trigger fires.
int64_t InjectionScoreMicros(std::string_view text);
// The ASCII letter a Cyrillic or Greek letter looks like (U+0430 `а` is 'a',
// U+03BF `ο` is 'o'; 47 of them, docs/language.md), or 0 for any other code
// point. The injection score reads them as that letter; the checker warns on
// one among Latin letters of a string constant (tg_look_alike_letter).
// Cost: a binary search of a constant table.
char LatinLookAlike(uint32_t cp);
// Names of the groups that matched, in the order above (for explanations).
std::vector<std::string_view> InjectionGroups(std::string_view text);
std::vector<std::string> InjectionGroupNames();
// The injection score's patterns (RE2 syntax, matched case-insensitively),
// for tests and benchmarks.
std::vector<std::string> InjectionPatterns();
// Compiles the injection score's scanners now (policy load) rather than on
// the first call; about 2 s with Hyperscan, once per process.
void PrepareInjectionScore();
// Builds this thread's copies of what the builtins match with -- the
// injection score's scanners (`injection_score`: PrepareInjectionScore
// first) and the detectors' RE2s (`detectors`) -- so that a worker thread's
// first request compiles nothing (vm::WarmThread).
void WarmThread(bool injection_score, bool detectors);
// The score by the pre-Hyperscan path (RE2::Set, every preprocessing pass):
// the differential baseline of tests and benchmarks.
int64_t InjectionScoreMicrosReference(std::string_view text);

// The canonical text of a value, as string(x) and message holes render it:
// a string as itself; bool, int and decimal as written in a policy (`0.8`);
// money as `2.50 usd`; a duration in its largest exact unit (`90s`, `2h`);
// a time as RFC 3339 UTC; lists `[..]`, sets `{..}` (sorted), maps
// `{"k": v}` and records `{v, ..}` with strings inside them quoted.
std::string RenderValue(const Value& v);

// True when `name` is a time zone of the system database (IANA names such
// as "Europe/Berlin", or "UTC"). Thread-safe; cached per thread.
bool KnownTimeZone(std::string_view name);

// What a known zone name means when it is not what it reads as, for the
// checker's tg_misleading_time_zone (empty when the name means what it
// says), with the names to write instead in *help:
//   "Etc/GMT+1"  UTC-01:00 all year (POSIX signs: west of Greenwich positive)
//   "EST", "MST" UTC-05:00 / UTC-07:00 all year, no daylight saving time,
//                while New York and Denver move an hour in summer
// Pure; O(length of the name).
std::string MisleadingTimeZone(std::string_view name, std::string* help);

// A rough token estimate: (bytes + 3) / 4, so 0 for empty text and at least
// 1 otherwise.
int64_t EstimateTokens(std::string_view text);
// EstimateTokens of a text of `bytes` bytes.
int64_t EstimateTokensOfBytes(uint64_t bytes);

// The tokens one image part of a message counts for in request.input_tokens:
// about the most one image costs at the common providers (Anthropic's
// largest image is about 1,600 tokens; GPT-4o's high detail at most 1,445),
// so that admission does not under-reserve an image request. Settlement
// charges the provider's real usage.
inline constexpr int64_t kImageTokens = 1600;

// The tokens one file part (a document: `file`, `input_file`, an
// Anthropic-style `document`) counts for in request.input_tokens: its
// decoded size in bytes / kFileBytesPerToken (a document's text at the
// usual 4 bytes a token; a PDF's page images are counted in its bytes), at
// least kFileMinTokens (a file sent by id or URL, whose size the request
// does not show, counts the minimum). An over- rather than an
// under-estimate: settlement charges the provider's real usage.
inline constexpr int64_t kFileBytesPerToken = 4;
inline constexpr int64_t kFileMinTokens = 1600;
// The tokens one audio part (`input_audio`) counts for: its decoded size in
// bytes / kAudioBytesPerToken, at least 1. 64 bytes a token over-estimates
// every common encoding: speech at the lowest common bitrate (16 kbit/s,
// 2,000 bytes a second) at the highest common token rate (Gemini's 32
// tokens a second; OpenAI's audio models about 10) is 62.5 bytes a token;
// 128 kbit/s MP3 is 500, 16-bit 16 kHz WAV 1,000.
inline constexpr int64_t kAudioBytesPerToken = 64;

// The decoded size in bytes of a media payload as sent: the base64 text of
// a `data:...;base64,` URL or of a bare base64 string is 3/4 of its length
// (rounded up); the data of a `data:` URL without `;base64` is its length.
uint64_t MediaPayloadBytes(std::string_view payload);

}  // namespace tollgate::stdlib
