// Internal to stdlib: the literal prefilter of dlp.injection_score's phrases.
//
// Every phrase match begins with one of a few *leads*: literal segments
// joined by `\W*` ("you are now", "ignore"), after a word boundary, or a
// punctuation token ("<|"), or a line start and a few spacing bytes before a
// word. One Hyperscan literal pass (scan::LiteralFinder) finds the rarest
// segment of every lead; each occurrence is checked in place (the other
// segments, the boundary, the line start), and only then does RE2 confirm
// the phrases of that lead, anchored at the lead's start with the whole
// text as context (so `\b` and `(?m:^)` see the bytes before it). A text
// in which RE2's Unicode case folding could reach an ASCII letter from
// elsewhere (U+017F, U+212A) or with too many confirmations for its size is
// reported as kWholeText: the caller then runs the phrases over the whole
// text, as before. Exposed for tests/stdlib/injection_test.cc.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tollgate::scan {
class LiteralFinder;
}

namespace tollgate::stdlib::internal {

// One way a phrase match can begin.
struct PhraseLead {
  std::vector<std::string> segments;  // lower case; joined in the phrase by \W*
  size_t anchor = 0;                  // the segment the literal pass looks for
  bool word_boundary = false;         // `\b` before segments[0]
  // Non-empty: the match begins at a line start, then bytes of this set,
  // then segments[0] (`(?m:^)[#*>\t ]*system`).
  std::string line_prefix;
};

// The leads of a phrase as written in the table (before ' ' becomes `\W*`):
// `\b`, then words, spaces and `(?:a|b c|d )` groups (optional ones too),
// as far as they go (at most 32 alternatives). Empty when the phrase does
// not begin that way.
std::vector<PhraseLead> DeriveLeads(std::string_view phrase);

class LeadMatcher {
 public:
  // `patterns`: the expanded phrases (RE2 syntax, matched caseless);
  // `leads[p]`: every way a match of pattern p begins; `group_of[p]`: its
  // group (< 32). Null when some pattern has no lead or the literal finder
  // cannot be built (no Hyperscan in this build).
  static std::unique_ptr<LeadMatcher> Build(const std::vector<std::string>& patterns,
                                            const std::vector<std::vector<PhraseLead>>& leads,
                                            const std::vector<int>& group_of);
  ~LeadMatcher();

  enum class Result { kDone, kWholeText };
  // kDone: *groups has bit g set for each group g with a pattern matching
  // somewhere in `text` (added to the bits already there). kWholeText: the
  // prefilter cannot answer for this text (see above); *groups unchanged.
  Result Match(std::string_view text, uint32_t* groups) const;

  // The literals the pass looks for (tests, docs).
  const std::vector<std::string>& literals() const { return literals_; }

  struct Local;

 private:
  LeadMatcher() = default;
  const Local& ThisThread() const;
  struct Entry {
    PhraseLead lead;
    int pattern;
  };
  std::vector<std::string> patterns_;
  std::vector<int> group_of_;
  std::vector<std::string> literals_;
  std::vector<std::vector<Entry>> by_literal_;  // literal id -> the leads anchored on it
  std::vector<uint64_t> literal_patterns_;      // literal id -> patterns of those leads
  int fold_literals_ = 0;                       // ids >= literals_.size() - fold: U+017F, U+212A
  uint64_t serial_ = 0;
  std::unique_ptr<scan::LiteralFinder> finder_;
};

// The leads of every injection phrase, in InjectionPatterns() order
// (stdlib/injection.cc: derived, or written beside the phrase).
std::vector<std::vector<PhraseLead>> InjectionLeads();
// True when dlp.injection_score runs the prefilter (a build with Hyperscan).
bool InjectionPrefilterEnabled();

}  // namespace tollgate::stdlib::internal
