// The multi-pattern content scanner: field bytes in, the ids of the patterns
// that match somewhere out. Used by the VM's fused `matches` / `contains`
// scan groups and by the stdlib's injection score.
//
// ## Semantics
// RE2 syntax and RE2 partial-match semantics (UTF-8, leftmost-first, RE2's
// ASCII `\b \d \s \w`) are the reference for every pattern, whatever engine
// runs it. The scanner answers only "does pattern i match somewhere"; spans
// (redaction, validators) always come from RE2 (vm::MatchValidated,
// stdlib::FindDetectorMatches).
//
// ## Engines
// With Hyperscan (build option TOLLGATE_HYPERSCAN, on when pkg-config finds
// libhs) the default engine compiles every pattern it can prove equivalent
// into one Hyperscan block-mode database (UTF-8 mode, single-match); each
// other pattern falls back to RE2 -- one residual RE2::Set for the group --
// and PatternEngine(i) says why. A pattern that begins with `\b[class]+` runs
// on Hyperscan as a cheaper superset (internal PrefilterForm) and RE2
// confirms it on the whole text when Hyperscan reports it ("hyperscan
// (prefilter, re2 confirms)"). Patterns with an Options::digit_runs promise
// run on their own databases over the digit runs only ("hyperscan (digit
// runs)"). A text that is not valid UTF-8 is scanned by
// an RE2::Set of all the patterns. Without Hyperscan, or with Engine::kRE2,
// one RE2::Set runs everything.
//
// ## JSON string escapes
// A pattern built with Options::read_escapes matches a text when it
// matches the text or one of its readings (escapes.h: the text with its JSON
// string escapes decoded, up to three levels deep), so `4111\u00a01111...`
// is read as the card it spells. The readings are made only for a text
// holding a backslash, and scanned by the same engines as the text (so the
// engines agree on them as they do on any text); a text without one costs a
// memchr more.
//
//   std::string err;
//   auto s = scan::Scanner::Build({"secret", "\\d{16}"}, {}, &err);
//   std::vector<int> ids;
//   s->Scan(text, &ids);   // e.g. {1}
//
// ## Streaming
// Built with Options::streaming, a scanner also scans a text fed in chunks
// (Hyperscan stream mode): NewStream(), Feed() each chunk, Finish() -- the
// same ids as Scan over the concatenation. A stream keeps the text when
// some pattern runs on RE2 or is confirmed by it.
//
// ## Cost
// Build compiles every pattern once (policy load; about 1 ms per 10
// patterns with Hyperscan). Scan is one linear pass of Hyperscan (plus one
// RE2 DFA pass when some pattern fell back), allocating only when `ids` must
// grow or when a thread scans with this scanner for the first time.
//
// ## Thread safety
// Build is reentrant; a built Scanner is immutable and Scan may run on any
// number of threads at once, taking no shared lock: Hyperscan scratch and
// the RE2 sets are per thread (each thread's first Scan clones them).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tollgate::scan {

enum class Engine : uint8_t {
  kDefault,     // Hyperscan when built with it, else RE2
  kRE2,         // one RE2::Set for everything
  kHyperscan,   // Hyperscan with per-pattern RE2 fallback (RE2 when not built with it)
};

// A promise about one pattern that lets the scanner skip most of a text:
// every match of the pattern lies inside one digit run -- ASCII digits
// joined by gaps of 1 to `max_gap` bytes of `separators` (say " -" for
// "4111 1111-1111") -- and holds at least `min_digits` digits; the pattern
// has no `^ $ \A \z` (which mean the start or end of the whole text).
// Hyperscan then runs the pattern only over the runs with enough digits
// (plus one byte each side for `\b`), found by one cheap pass
// (internal/digit_runs.h), instead of over the whole text. The stdlib's
// card and SSN detectors make this promise (tests/scan check it against
// RE2). min_digits 0: no promise; only 2..32 are used.
struct DigitRuns {
  uint32_t min_digits = 0;
  std::string separators;
  // Also bytes above 0x7F in gaps (no-break, thin, ideographic and
  // zero-width spaces, Unicode dashes and minus signs in UTF-8), and the
  // full-width digits U+FF10..U+FF19 as digits.
  bool wide_separators = false;
  uint32_t max_gap = 1;  // bytes, 1..64
};

struct Options {
  Engine engine = Engine::kDefault;
  bool case_insensitive = false;  // every pattern (RE2 case folding rules)
  bool streaming = false;         // also compile the stream-mode database
  std::vector<DigitRuns> digit_runs;  // per pattern, or empty: no promises
  // Per pattern, or empty: none. True: the pattern also reads the text's
  // readings (see "JSON string escapes" above). Not with `streaming`.
  std::vector<bool> read_escapes;
};

// How many threads a scanner's build may compile its Hyperscan databases on
// (they are independent): 0, the default, is one per hardware thread, at
// most 8; 1 compiles them one after the other on the calling thread.
// Process-wide; a build reads it once.
void SetCompileThreads(unsigned threads);

// True when `text` is well-formed UTF-8 (the texts Hyperscan may see).
bool ValidUtf8(std::string_view text);

// The parts of `text` that hold every match of a pattern with promise `p`
// (p.min_digits 2..32): its digit runs with at least p.min_digits digits,
// widened by one byte on each side (the context of `\b`), in increasing
// order, replacing *out. One cheap pass (internal/digit_runs.h). RE2 run
// over these spans alone (with the whole text as context) finds the same
// matches as over the whole text.
void DigitRunSpans(std::string_view text, const DigitRuns& p,
                   std::vector<std::pair<size_t, size_t>>* out);

// The digit runs a Scanner::Scan found in its text (not its readings), per
// separator set of its patterns' promises: what DigitRunSpans computes
// again for the card and SSN validators, kept so that they need not make a
// second pass over a long text; and whether the text holds a backslash
// (MayHoldEscapes), which the scan's UTF-8 pass learns for free and the
// validators ask before reading escapes. Valid while that text is alive and
// unchanged (a caller keeps it for one evaluation). clear() keeps the
// buffers.
struct FoundDigitRuns {
  struct Set {
    DigitRuns promise;  // separators sorted, max_gap 1..64
    bool ascii = false;  // the text is all ASCII: wide and narrow runs are the same
    std::vector<std::pair<size_t, size_t>> spans;  // as DigitRunSpans gives them
  };
  std::string_view text;  // the text scanned (data and size), or empty: none
  std::vector<Set> sets;  // [0, count)
  size_t count = 0;
  bool backslash_known = false;  // backslash says whether `text` holds one
  bool backslash = false;
  void clear() {
    text = {};
    count = 0;
    backslash_known = false;
  }
};

// MayHoldEscapes(text), taken from *found when it knows it for this very
// text (same data and size).
bool HoldsBackslash(std::string_view text, const FoundDigitRuns* found);

// DigitRunSpans(text, p, out), taking the runs from *found when it holds
// them for this very text (same data and size) with the same separators,
// max_gap and width and no more digits required: those runs filtered by
// their digits. The same spans either way (tests/scan/digit_runs_test.cc).
void DigitRunSpans(std::string_view text, const DigitRuns& p, const FoundDigitRuns* found,
                   std::vector<std::pair<size_t, size_t>>* out);

// True when this build links Hyperscan.
bool HaveHyperscan();
// "hyperscan" or "re2": what Engine::kDefault means in this build.
const char* DefaultEngineName();

// How many per-thread builds (an RE2 set or pattern copied, Hyperscan
// scratch grown for a database) this thread has made so far: what the
// WarmThread functions move off the request path. For tests.
uint64_t ThreadLocalBuilds();
// Called by each per-thread cache when it builds (counted above).
void CountThreadLocalBuild();
// How many Hyperscan databases this process has compiled (every attempt,
// failed ones too; not the copies below). For tests of policy load.
uint64_t HyperscanCompiles();
// A database compiled from the same patterns, flags and mode as one this
// process compiled before is a copy of that one (a policy reloaded, its
// next version, the stdlib detectors every content policy shares, each
// version in a replayed log): at most 64 MiB are kept, oldest out first.
// Empties that store (benchmarks of a cold load, tests counting compiles).
void ClearCompiledDatabases();

class Scanner {
 public:
  // Compiles `patterns` (RE2 syntax). Returns nullptr with *error set when a
  // pattern does not compile under RE2, the set is empty, or a streaming
  // scanner is asked to read escapes.
  static std::unique_ptr<Scanner> Build(const std::vector<std::string>& patterns,
                                        const Options& options, std::string* error);
  ~Scanner();

  // Replaces *ids with the ids (indices into `patterns`) of every pattern
  // that matches somewhere in `text` (or, for a pattern that reads escapes,
  // in one of its readings), in increasing order. Returns false when
  // an engine gave up (RE2 out of DFA memory, a Hyperscan error); *ids is
  // then empty.
  bool Scan(std::string_view text, std::vector<int>* ids) const;
  // The same, also replacing *runs with the digit runs the scan found in
  // `text` (FoundDigitRuns above; none when it found them by no pass of its
  // own: the RE2 engine, a text that is not UTF-8, no digit-run promises).
  bool Scan(std::string_view text, std::vector<int>* ids, FoundDigitRuns* runs) const;
  // Builds this thread's copies (the RE2 sets it matches with, its Hyperscan
  // scratch for every database) now, so that its first Scan builds nothing:
  // a server calls it on each worker thread when a policy is loaded, not on
  // the first request (about 5-10 ms there for the example policy).
  void WarmThread() const;

  size_t size() const { return size_; }
  // True when texts that are all ASCII run on a byte-mode copy of the
  // Hyperscan database (some pattern needs UTF-8 mode for other texts:
  // caseless k or s, `.`, negated classes, non-ASCII characters).
  bool ascii_database() const;
  // Which engine runs pattern i: "hyperscan", or "re2" plus the reason the
  // pattern fell back ("re2 (unicode class \\pL)").
  std::string PatternEngine(size_t i) const;
  // Number of patterns Hyperscan runs.
  size_t hyperscan_patterns() const;

  // A text fed in chunks (Options::streaming). Not thread-safe itself (one
  // stream per text), but any number of streams may run at once.
  class Stream {
   public:
    ~Stream();
    // Scans the next chunk. Returns false when an engine gave up.
    bool Feed(std::string_view chunk);
    // Ends the text: *ids as Scan would give for the whole text.
    bool Finish(std::vector<int>* ids);

   private:
    friend class Scanner;
    struct Impl;
    explicit Stream(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
  };
  // Null when the scanner was not built with Options::streaming.
  std::unique_ptr<Stream> NewStream() const;

  struct Impl;

 private:
  Scanner(std::unique_ptr<Impl> impl, size_t size);
  std::unique_ptr<Impl> impl_;
  size_t size_;
};

// Where literal strings occur: one Hyperscan literal database (byte mode,
// every occurrence reported). The stdlib's injection score uses it to find
// the key words of its phrases (stdlib/internal/injection_prefilter.h).
// Thread-safe as Scanner is (per-thread Hyperscan scratch).
class LiteralScanner {
 public:
  // Null (with *error) when this build has no Hyperscan or Hyperscan
  // refuses the set. `caseless`: ASCII letters match either case (and only
  // ASCII ones: U+212A does not match k).
  static std::unique_ptr<LiteralScanner> Build(const std::vector<std::string>& literals,
                                               bool caseless, std::string* error);
  ~LiteralScanner();

  // One occurrence: literals[id] ends at byte offset `end`.
  struct Hit {
    uint32_t id;
    uint32_t end;
  };
  // Replaces *hits with every occurrence of every literal in `text`, in no
  // particular order. False (hits then partial) on a Hyperscan error, a
  // text of 4 GiB or more, or when there are more than `max_hits`. One
  // Hyperscan pass; allocates only when *hits must grow.
  bool Scan(std::string_view text, size_t max_hits, std::vector<Hit>* hits) const;
  // This thread's Hyperscan scratch for the database, now (Scanner::WarmThread).
  void WarmThread() const;

  struct Impl;

 private:
  explicit LiteralScanner(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tollgate::scan
