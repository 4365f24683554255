// Internal to engine/scan: RE2 pattern -> equivalent Hyperscan pattern, and
// the UTF-8 check that decides which engine may see a text.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tollgate::scan::internal {

// Rewrites `re2_pattern` (valid RE2 syntax, UTF-8 mode) into a Hyperscan
// pattern for HS_FLAG_UTF8 (plus HS_FLAG_CASELESS when `caseless`) that
// matches somewhere in a valid UTF-8 text exactly when the RE2 pattern does.
// Conservative: only a whitelist of constructs whose meaning is the same in
// both engines is accepted, and the few that differ are rewritten:
//   `$` (RE2: end of text only)          -> `\z`
//   `\s` (RE2: no vertical tab)          -> `[\t\n\f\r ]`
//   `\v` (PCRE: vertical-space class)    -> `\x{b}`
//   `(?m:^)` at the start of the pattern -> `(?:^|\n)`   (existence only)
//   `(?m:$)` at the end of the pattern   -> `(?:\n|\z)`  (existence only)
// Everything else that could differ (Unicode classes \p, flag groups, \Q..\E,
// \C, POSIX classes, case folding of non-ASCII letters, ...) is refused:
// returns false with *reason set, and the pattern stays on RE2.
// A leading `(?i)` (the whole pattern case-insensitive, as RE2 reads it) is
// dropped and *caseless_out set, so the caller compiles the pattern with
// HS_FLAG_CASELESS; *caseless_out is otherwise `caseless`.
// *ascii_out (optional) is set when the pattern can run without
// HS_FLAG_UTF8 (faster) and mean the same on well-formed UTF-8: every atom
// matches only ASCII bytes and folds only to ASCII (no `.`, negated classes,
// `\W \D \S`, classes with non-ASCII members, nor k/s under case folding),
// except non-ASCII characters outside classes, which *out then spells as
// their UTF-8 bytes (`\x{a0}` as `(?:\x{c2}\x{a0})`: a character's encoding
// matches only at a character boundary).
// *nonempty_out (optional) is set when no match of the pattern can be
// empty, by a token it must consume outside any group (no top-level `|`);
// unset, the pattern may or may not match the empty string.
// *fold_only_out (optional) is set when the pattern needs UTF-8 mode only
// for the non-ASCII case variants of k, s and `\w` (U+212A, U+017F) under
// case folding: its byte-mode form for ASCII texts then differs from the
// UTF-8 form by those two characters alone.
bool TranslateForHyperscan(std::string_view re2_pattern, bool caseless, std::string* out,
                           std::string* reason, bool* caseless_out = nullptr,
                           bool* ascii_out = nullptr, bool* nonempty_out = nullptr,
                           bool* fold_only_out = nullptr);

// Hyperscan's own minimum match width of a translated pattern (what the
// scanner asks when the translation cannot tell), or -1 without Hyperscan
// or when Hyperscan cannot read it. For tests of *nonempty_out.
int HyperscanMinWidth(const std::string& hs_pattern, bool utf8, bool caseless);

// The byte-mode Hyperscan form of `re2_pattern` for texts that are all
// ASCII (compile it without HS_FLAG_UTF8; the caller knows whether the
// pattern is caseless, a leading `(?i)` is dropped). On an ASCII text every
// character is one byte, so `.`, negated classes, `\W \S \D` mean the same
// in byte mode, and the non-ASCII case variants of k, s and \w (U+212A,
// U+017F) cannot occur. A non-ASCII character (which an ASCII text cannot
// hold) becomes `[^\x{0}-\x{7f}]` outside a class and leaves its class
// (an emptied class matches nothing, an emptied negated one any byte).
// Refused (false, *reason) when TranslateForHyperscan refuses the pattern.
bool TranslateForAsciiText(std::string_view re2_pattern, bool caseless, std::string* out,
                           std::string* reason);

// A cheaper form of `re2_pattern` for Hyperscan, when there is one. A
// leading `[class]+` becomes `[class]`: "matches somewhere" is the same, so
// *exact is set. A leading `\b[class]+` becomes `[class]` too: a superset
// (any match of the original contains a match of the rewrite, ending at the
// same place), so *exact is false and RE2 must confirm each pattern
// Hyperscan reports, on the whole text. Hyperscan runs such a prefix, which
// prose satisfies almost everywhere, as an automaton over the whole text,
// but a single class byte before a rare literal (`@` in dlp.email) as a
// literal search. Returns false when no rewrite applies.
bool PrefilterForm(std::string_view re2_pattern, std::string* out, bool* exact = nullptr);

// True when `cp` has no case variant under RE2's (simple) case folding, for
// the ranges Translate accepts in caseless patterns (punctuation, arrows,
// box drawing, CJK and fullwidth punctuation). Exhaustively tested against RE2.
bool NoCaseFolding(uint32_t cp);

// True when `text` is well-formed UTF-8 (no overlongs, surrogates or code
// points above U+10FFFF). ASCII runs are checked 16 bytes at a time.
bool ValidUtf8(std::string_view text);

// Incremental form of ValidUtf8 for streams: feed chunks, then Done().
class Utf8Checker {
 public:
  void Feed(std::string_view chunk);
  bool Done() const { return ok_ && need_ == 0; }
  // True while every byte fed was ASCII.
  bool Ascii() const { return ascii_; }
  // True when some byte fed was a backslash (exact while Done(); the text
  // may have readings, escapes.h): found in the same pass.
  bool Backslash() const { return backslash_; }

 private:
  bool ok_ = true;
  bool ascii_ = true;
  bool backslash_ = false;
  int need_ = 0;         // continuation bytes still expected
  uint8_t lo_ = 0x80, hi_ = 0xBF;  // allowed range of the next continuation byte
};

}  // namespace tollgate::scan::internal
