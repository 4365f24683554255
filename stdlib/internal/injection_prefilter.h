// Internal to stdlib: the key-word prefilter of dlp.injection_score's
// phrases (stdlib/injection.cc). Instead of walking RE2's DFA over every byte,
// a literal pass finds each phrase's key words: with AVX-512 VBMI two table
// lookup finders (the keys shorter than four bytes: ShortLiteralFinder,
// internal/injection_short_keys.h; the others: LongLiteralFinder,
// internal/injection_long_keys.h), else one Hyperscan literal database
// (scan::LiteralScanner); a key hit whose partner word (the phrase's neighbouring word, when
// only non-alphanumeric bytes can separate the two) is not there is dropped
// by one bit of a filter of its neighbour's first three bytes (else by two
// short compares); RE2 then confirms each phrase over a window around
// its remaining hits that provably holds every match through that hit.
//
// ## Why this is exact
// Each phrase's source is read as a sequence of units (PhraseUnits): literal
// slots (their words enumerated: alternatives, options), separators (a
// space: any run of non-word bytes, possibly empty), zero-width assertions,
// classes and repeats. For every unit the most ASCII letters and digits a
// match of it can hold is computed (MaxAlnum; unbounded for a repeat of
// something that holds any). The key slot is a slot every match goes
// through: a match holds one of its first words where that slot's part
// starts, so Hyperscan reports it. The partner check reads only what a match
// must hold next to it, and the filter in front of it drops a hit only when
// no partner word's first (last) three bytes can be next to it. The window around a key starting at s reaches left
// past at most L letters or digits (L: the units before the key slot) and
// right past at most R (the key slot and the units after it), skipping any
// number of other bytes; every match through that key lies inside, and RE2
// matches with the whole text as context, so `\b` and `(?m:^)` read the
// bytes beyond the window. A repeat of words just left of the key slot
// (`(?:(?:full|complete) )*`) is walked back word by word instead.
// Which slot is the key is chosen by the score below (speed only: any
// required slot is exact). Caseless RE2 also matches U+017F for s and U+212A
// for k, which Hyperscan's caseless literals do not: a text holding either
// is not answered (Match returns false) and the caller runs the full scan.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tollgate::stdlib::internal {

struct PrefilterPhrase {
  std::string source;   // the table's syntax (NOUNS expanded): a space separates words
  std::string pattern;      // the RE2 pattern it expands to
  int group = 0;            // bit of the result mask
};

// How one phrase is prefiltered (for tests and docs).
struct PrefilterPlan {
  std::vector<std::string> keys;      // the literals Hyperscan looks for
  std::vector<std::string> partners;  // empty: no partner check
  bool partner_left = false;          // the partner precedes the key
  bool key_at_end = false;            // the keys are the slot's last words
  bool star = false;                  // a word repeat is walked back
  int left = 0, right = 0;            // the window's letter/digit budgets
};

class PhrasePrefilter {
 public:
  // Null with *error when a phrase has no usable key slot or Hyperscan is
  // not available (the caller then scans every byte, as before).
  // `drop_key` (tests only): a literal left out of every key set, which
  // makes the prefilter miss phrases (the tests show they notice).
  // `finders` false (tests only): Hyperscan looks for every literal even
  // where the CPU runs the table-lookup finders.
  static std::unique_ptr<PhrasePrefilter> Build(const std::vector<PrefilterPhrase>& phrases,
                                                std::string* error,
                                                std::string_view drop_key = {}, bool finders = true);
  ~PhrasePrefilter();

  // Or's into *mask the group bit of every phrase matching `text`. False
  // when it cannot answer (a long s or Kelvin sign in the text, too many
  // key hits, an engine error): *mask then holds only groups that did
  // match, and the caller scans in full. No lock; allocates only when a
  // thread's buffers grow (and on its first call).
  bool Match(std::string_view text, uint32_t* mask) const;
  // Builds this thread's copies (its group RE2s, Hyperscan scratch) now.
  void WarmThread() const;

  const std::vector<PrefilterPlan>& plans() const;
  // Every literal looked for (the keys, then U+212A and U+017F), those of
  // them Hyperscan looks for, and those a LongLiteralFinder looks for (four
  // bytes or longer; internal/injection_long_keys.h, in its buckets' order;
  // lower case). With AVX-512 VBMI the finders take every literal: the
  // shorter ones (`you`, `##`, the two fold characters) a
  // ShortLiteralFinder (internal/injection_short_keys.h), the others the
  // long one, and Hyperscan none; without it Hyperscan all.
  std::vector<std::string> literals() const;
  std::vector<std::string> hyperscan_literals() const;
  std::vector<std::string> long_key_literals() const;

  struct Impl;

 private:
  explicit PhrasePrefilter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A window's edge (tests): from `at`, left or right past at most `budget`
// ASCII letters and digits (and any other bytes), to just before the next
// one; `scalar` byte by byte, else 16 bytes a step (the prefilter's).
size_t PrefilterWalk(std::string_view text, size_t at, int budget, bool left, bool scalar);

// A key's partner check (tests): whether one of `partners` (lower case)
// ends where the non-alphanumeric run before `at` starts (`left`) or starts
// where the run from `at` on ends (or, for a word with punctuation at that
// end, anywhere in the run), by byte compares; *may: what the prefilter's
// filter in front of that check says (false: surely not).
bool PrefilterPartnerFilter(std::string_view text, size_t at, const std::vector<std::string>& partners,
                            bool left, bool* may);

// The injection score's phrases (stdlib/injection.cc) and its prefilter
// (null when built without Hyperscan).
std::vector<PrefilterPhrase> InjectionPrefilterPhrases();
const PhrasePrefilter* InjectionPrefilter();

// This thread's copies of the injection score's scanners, now
// (stdlib::WarmThread; defined in stdlib/injection.cc).
void WarmInjectionScoreThread();

}  // namespace tollgate::stdlib::internal
