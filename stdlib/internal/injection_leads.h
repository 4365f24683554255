// Internal to stdlib: the prefilter of dlp.injection_score's phrases.
//
// Every phrase match begins with one of a few *leads*: literal segments
// joined by `\W*` ("you are now", "ignore") after a word boundary, or a
// punctuation token ("<|"), or a line start and a few spacing bytes before a
// word. One pass over the text (64 bytes per step, SSE2 compares; with AVX2
// a Teddy-style bucket filter on the first three bytes of each word start
// first) stops at word starts whose first three bytes can begin a lead (a
// 32768-bit table), at line feeds and at the first bytes of the punctuation
// leads; there each
// lead is checked in place, and only then does RE2 confirm the phrases of
// that lead, anchored at the lead's start with the whole text as context
// (so `\b` and `(?m:^)` see the bytes before it). A text in which RE2's
// Unicode case folding could reach an ASCII letter from elsewhere (U+017F,
// U+212A) or that needs too many confirmations for its size is reported as
// kWholeText: the caller then runs the phrases over the whole text, as
// before.
//
// Off by default (internal::UseInjectionPrefilter): on this machine it is
// slower than RE2's DFA over the whole text on texts it has not seen before
// (docs/architecture.md, "Phrase prefilter"). Exposed for
// tests/stdlib/injection_leads_test.cc and the benchmark.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tollgate::stdlib::internal {

// One way a phrase match can begin.
struct PhraseLead {
  std::vector<std::string> segments;  // lower case; joined in the phrase by \W*
  bool word_boundary = false;         // `\b` before segments[0] (a letter)
  // Non-empty: the match begins at a line start, then bytes of this set,
  // then segments[0] (`(?m:^)[#*>\t ]*system`).
  std::string line_prefix;
};

// The leads of a phrase as written in the table (before ' ' becomes `\W*`):
// `\b`, then words, spaces and `(?:a|b c|d )` groups (optional ones too),
// as far as they go (at most 32 alternatives). Empty when the phrase does
// not begin that way.
std::vector<PhraseLead> DeriveLeads(std::string_view phrase);

// Built once (policy load); Match may run on any number of threads at once,
// taking no shared lock (each thread compiles its own RE2 copies on its
// first Match).
class LeadMatcher {
 public:
  // `patterns`: the expanded phrases (RE2 syntax, matched caseless, at most
  // 64); `leads[p]`: every way a match of pattern p begins; `group_of[p]`:
  // its group (< 32). Null when some pattern has no lead or a lead breaks
  // the invariants in Build.
  static std::unique_ptr<LeadMatcher> Build(const std::vector<std::string>& patterns,
                                            const std::vector<std::vector<PhraseLead>>& leads,
                                            const std::vector<int>& group_of);
  ~LeadMatcher();

  enum class Result { kDone, kWholeText };
  // kDone: *groups has bit g set for each group g with a pattern matching
  // somewhere in `text` (added to the bits already there). kWholeText: the
  // prefilter cannot answer for this text (see above); *groups unchanged.
  // `simd` false: word starts are filtered one by one even where the CPU
  // has AVX2 (the same answer; tests compare the two).
  Result Match(std::string_view text, uint32_t* groups, bool simd = true) const;

  struct Local;

 private:
  LeadMatcher() = default;
  const Local& ThisThread() const;
  struct Entry {
    PhraseLead lead;
    int pattern;
    uint64_t prefix_set[4] = {};  // lead.line_prefix as a byte set
  };
  // The first segment of some leads, and those leads.
  struct Anchor {
    enum Kind { kWord, kByte, kLine } kind = kWord;
    std::string text;
    std::vector<Entry> entries;
    uint64_t patterns = 0;  // of the entries
    // A quick test before the entries: some lead is this segment alone, or
    // the distinct second segments of the leads (after `\W*`).
    bool any_single = false;
    std::vector<std::string> seconds;
  };
  static constexpr size_t kKeyWords = 32768 / 64;
  static constexpr size_t kMaxFirstBytes = 5;
  std::vector<std::string> patterns_;
  std::vector<int> group_of_;
  std::vector<Anchor> anchors_;
  std::vector<uint64_t> key3_;              // word-start keys that can begin a word anchor
  std::vector<uint16_t> key_list_;          // word-start key -> its list in lists_
  std::vector<std::vector<size_t>> lists_;  // word anchors a key can begin
  std::vector<unsigned char> first_bytes_;  // of the punctuation anchors
  std::vector<size_t> byte_anchors_[256];   // punctuation anchors by first byte
  std::vector<size_t> line_anchors_;
  // The AVX2 word-start filter (Teddy-style): per key byte j, a bucket
  // mask for each letter (by high nibble 6/7 and low nibble), non-word
  // bytes and other word bytes; a word start is kept when the three masks
  // share a bucket (each bucket: the word anchors of a few first letters).
  uint8_t teddy_letter_[3][2][16] = {};
  uint8_t teddy_nonword_[3] = {}, teddy_digit_[3] = {};
  uint64_t serial_ = 0;
};

// The leads of every injection phrase, in InjectionPatterns() order
// (stdlib/injection.cc: derived, or written beside the phrase).
std::vector<std::vector<PhraseLead>> InjectionLeads();
// dlp.injection_score with the phrases over the whole text every time,
// whatever UseInjectionPrefilter says (the benchmark's baseline).
int64_t InjectionScoreMicrosWholeText(std::string_view text);
// Turns the prefilter on (true) or off (false, the default) for every later
// dlp.injection_score in the process: for the benchmark and the tests.
void UseInjectionPrefilter(bool on);
// True when dlp.injection_score runs the prefilter.
bool InjectionPrefilterEnabled();

}  // namespace tollgate::stdlib::internal
