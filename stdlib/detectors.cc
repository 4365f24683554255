// Content detectors: named RE2 patterns with optional validators.
//
// Each regex finds candidates; the validator (when present) decides whether a
// candidate really is an instance (Luhn for cards, mod-97 for IBANs, the SSA
// rules for SSNs, digit counts for phone numbers, randomness for API keys).
//
// Some detectors also "refine" a validated candidate into the exact spans to
// report: a card-shaped digit run may hold the card in a sub-window of its
// digit groups ("1234 4111 1111 1111 1111"), an IBAN candidate may have
// swallowed a trailing short word ("ES91 ... 1332 OK"). A validator is true
// exactly when its refiner yields at least one span, so `matches` (regex +
// validator, as the VM runs it) and FindDetectorMatches (what `redact`
// replaces) always agree on whether there is a match.
#include <re2/re2.h>

#include <algorithm>
#include <cstdio>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <utility>

#include "engine/scan/escapes.h"
#include "engine/scan/scanner.h"
#include "stdlib/builtins.h"
#include "stdlib/internal/injection_prefilter.h"

namespace tollgate::stdlib {

namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// ---------------------------------------------------------------- validators

using Spans = std::vector<std::pair<size_t, size_t>>;  // [begin, end) in the match

// The invisible format characters the card, SSN, IBAN and e-mail detectors
// read through (docs/language.md, "Invisible characters"): the soft hyphen
// U+00AD, the zero-width space U+200B, non-joiner U+200C and joiner U+200D,
// the left-to-right and right-to-left marks U+200E and U+200F, the word
// joiner U+2060 and the zero-width no-break space (BOM) U+FEFF. Text copied
// from web pages, PDFs and word processors carries them inside numbers and
// addresses, and they show as nothing. The one definition of the set: the
// regexes (InvisibleRegex, GapRegex) and the validators (IsInvisible) read it.
constexpr char32_t kInvisible[] = {0xAD, 0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x2060, 0xFEFF};

bool IsInvisible(char32_t c) {
  for (char32_t x : kInvisible) {
    if (c == x) return true;
  }
  return false;
}

// The character at s[*i] (`s` is well-formed UTF-8: the regex matched it);
// advances *i past it.
char32_t DecodeAt(std::string_view s, size_t* i) {
  const auto b = static_cast<unsigned char>(s[*i]);
  const size_t len = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
  char32_t c = len == 1 ? b : b & (0xFF >> (len + 1));
  for (size_t k = 1; k < len && *i + k < s.size(); ++k) {
    c = (c << 6) | (static_cast<unsigned char>(s[*i + k]) & 0x3F);
  }
  *i += len;
  return c;
}

// Bytes of the invisible characters starting at m[i] (0: none).
size_t InvisibleRun(std::string_view m, size_t i) {
  size_t k = i;
  while (k < m.size()) {
    size_t next = k;
    if (!IsInvisible(DecodeAt(m, &next))) break;
    k = next;
  }
  return k - i;
}

// `text` without its invisible characters.
std::string Visible(std::string_view text) {
  std::string r;
  for (size_t i = 0; i < text.size();) {
    const size_t b = i;
    if (!IsInvisible(DecodeAt(text, &i))) r.append(text.substr(b, i - b));
  }
  return r;
}

// Bytes of the digit at m[i]: 1 (ASCII), 3 (full-width U+FF10..U+FF19, the
// UTF-8 bytes EF BC 90..99), 0 (none); *value its value.
size_t DigitLen(std::string_view m, size_t i, int* value = nullptr) {
  if (i >= m.size()) return 0;
  if (IsDigit(m[i])) {
    if (value != nullptr) *value = m[i] - '0';
    return 1;
  }
  const auto b = [&](size_t k) { return static_cast<unsigned char>(m[k]); };
  if (b(i) == 0xEF && i + 2 < m.size() && b(i + 1) == 0xBC && b(i + 2) >= 0x90 && b(i + 2) <= 0x99) {
    if (value != nullptr) *value = b(i + 2) - 0x90;
    return 3;
  }
  return 0;
}

// One digit group of a candidate: [begin, end) bytes, `n` digits (ASCII or
// full-width).
struct Group {
  size_t begin, end, n;
  size_t digits() const { return n; }
};

// Digit groups of `m`, split at any non-digit but invisible characters: a
// group reads through invisible characters between two of its digits
// ("41<U+200B>11" is one group of four digits), as if they were not there.
std::vector<Group> DigitGroups(std::string_view m) {
  std::vector<Group> g;
  for (size_t i = 0; i < m.size();) {
    if (DigitLen(m, i) == 0) {
      ++i;
      continue;
    }
    size_t b = i, n = 0;
    for (;;) {
      while (size_t len = DigitLen(m, i)) {
        i += len;
        ++n;
      }
      const size_t skip = InvisibleRun(m, i);
      if (skip == 0 || DigitLen(m, i + skip) == 0) break;
      i += skip;
    }
    g.push_back({b, i, n});
  }
  return g;
}

// The value of the digits of group x (up to 9 digits).
int GroupValue(std::string_view m, const Group& x) {
  int v = 0;
  for (size_t i = x.begin; i < x.end;) {
    int d = 0;
    i += DigitLen(m, i, &d);
    v = v * 10 + d;
  }
  return v;
}

// The text between two digit groups, as the detectors read it (the
// separator rules in docs/language.md, "Detectors").
struct Gap {
  char32_t dash = 0;        // its dash-like character ('-', '.', U+2013...), 0 if none
  int dashes = 0;           // how many (a gap holds at most one)
  bool line_break = false;  // holds a CR or LF
  bool visible = false;     // holds a character that is not invisible (kInvisible)
};

bool DashLike(char32_t c) {
  return c == '-' || c == '.' || (c >= 0x2010 && c <= 0x2015) || c == 0x2212 || c == 0xFE63 ||
         c == 0xFF0D;
}

// `gap` is well-formed UTF-8 (the regex matched it).
Gap ReadGap(std::string_view gap) {
  Gap r;
  for (size_t i = 0; i < gap.size();) {
    const char32_t c = DecodeAt(gap, &i);
    if (IsInvisible(c)) continue;
    r.visible = true;
    if (DashLike(c)) {
      if (r.dash == 0) r.dash = c;
      ++r.dashes;
    }
    r.line_break = r.line_break || c == '\n' || c == '\r';
  }
  return r;
}

// Calls visit(begin, length, value) for each digit of `m` (ASCII or
// full-width), in order, skipping everything else; stops, returning false,
// when visit does.
template <class Visit>
bool ForEachDigit(std::string_view m, Visit&& visit) {
  for (size_t i = 0; i < m.size();) {
    int v = 0;
    const size_t len = DigitLen(m, i, &v);
    if (len == 0) {
      ++i;
      continue;
    }
    if (!visit(i, len, v)) return false;
    i += len;
  }
  return true;
}

// The digits of `m` (ASCII or full-width; everything else skipped) as ASCII
// into out[0..cap): their count, or cap + 1 when `m` holds more.
size_t AsciiDigits(std::string_view m, char* out, size_t cap) {
  size_t n = 0;
  const bool fits = ForEachDigit(m, [&](size_t, size_t, int v) {
    if (n == cap) return false;
    out[n++] = static_cast<char>('0' + v);
    return true;
  });
  return fits ? n : cap + 1;
}

// Luhn over the digits only (ASCII or full-width), skipping the separators.
bool CardDigitsValid(std::string_view m) {
  char d[19];
  const size_t digits = AsciiDigits(m, d, sizeof d);
  if (digits > sizeof d) return false;
  bool all_same = true;
  for (size_t k = 1; k < digits; ++k) all_same = all_same && d[k] == d[0];
  return digits >= 13 && !all_same && LuhnValid(std::string_view(d, digits));
}

// True when `gap` is one of the separators cards were matched with before
// the wider set: one space or dash, or one no-break, figure, thin or narrow
// no-break space.
bool PlainGap(std::string_view gap) {
  return gap == " " || gap == "-" || gap == "\xC2\xA0" || gap == "\xE2\x80\x87" ||
         gap == "\xE2\x80\x89" || gap == "\xE2\x80\xAF";
}

// The separator rules of a card window g[i..j] beyond the regex's: no gap
// holds two dash-like characters ("4111--1111"); at most one gap breaks a
// line (a number wrapped once, not a column of numbers); a window with
// another gap than a plain one (PlainGap) has groups of three or more
// digits, so "2024-01-15 – 2024-01-16" is not a card; a window joined by
// dots ("4111.1111.1111.1111") also has three or more groups and that one
// separator throughout, so "3.1415..." or a list of dotted versions is not.
// Gaps are compared without their invisible characters ("4111 <U+200B>1111"
// has a plain gap).
bool CardGapsValid(std::string_view m, const std::vector<Group>& g, size_t i, size_t j) {
  bool dotted = false, plain = true;
  int line_breaks = 0;
  const auto gap_text = [&](size_t k) {
    return Visible(m.substr(g[k].end, g[k + 1].begin - g[k].end));
  };
  for (size_t k = i; k < j; ++k) {
    const std::string_view text = m.substr(g[k].end, g[k + 1].begin - g[k].end);
    const Gap gap = ReadGap(text);
    if (gap.dashes > 1) return false;
    dotted = dotted || gap.dash == '.';
    plain = plain && PlainGap(gap_text(k));
    line_breaks += gap.line_break;
  }
  if (line_breaks > 1) return false;
  if (plain) return true;
  for (size_t k = i; k <= j; ++k) {
    if (g[k].digits() < 3) return false;
  }
  if (!dotted) return true;
  if (j - i < 2) return false;
  const std::string first = gap_text(i);
  for (size_t k = i; k < j; ++k) {
    if (gap_text(k) != first) return false;
  }
  return true;
}

// The cards inside one digit run (groups joined by single spaces or dashes).
// Walk the groups left to right; at each group start try windows of whole
// groups with 13-19 digits, longest first, and take the first valid one,
// resuming after it. Windows are tried when they are "card-grouped" (every
// group has >= 3 digits, as in 4-4-4-4, 4-6-5, 4-4-4-4-3) or when they are
// the one candidate the plain regex walk would have produced (the longest
// window at a resume point) -- so "1 2 3 ... 20" keeps at most the old number
// of Luhn chances instead of one per group.
Spans CardSpans(std::string_view m) {
  Spans out;
  std::vector<Group> g = DigitGroups(m);
  size_t resume = 0;  // where the plain regex walk would start its next candidate
  for (size_t i = 0; i < g.size();) {
    // Longest window g[i..jmax] with <= 19 digits.
    size_t jmax = i, digits = g[i].digits();
    while (jmax + 1 < g.size() && digits + g[jmax + 1].digits() <= 19) {
      digits += g[++jmax].digits();
    }
    const size_t longest = digits;
    bool found = false;
    for (size_t j = jmax + 1; j-- > i;) {
      if (digits < 13) break;
      bool grouped = true;
      for (size_t k = i; k <= j; ++k) grouped = grouped && g[k].digits() >= 3;
      if ((grouped || (i == resume && j == jmax)) && CardGapsValid(m, g, i, j) &&
          CardDigitsValid(m.substr(g[i].begin, g[j].end - g[i].begin))) {
        out.emplace_back(g[i].begin, g[j].end);
        i = resume = j + 1;
        found = true;
        break;
      }
      digits -= g[j].digits();
    }
    if (found) continue;
    // The regex walk: a >= 13-digit candidate here is skipped as a whole;
    // otherwise there is no match here and it moves on to the next group.
    if (i == resume) resume = longest >= 13 ? jmax + 1 : i + 1;
    ++i;
  }
  return out;
}

bool CardValid(std::string_view m) { return !CardSpans(m).empty(); }

// AAA-GG-SSSS: nine digits with a gap after the third and the fifth (a gap
// of invisible characters only counts: "123<U+200B>45<U+200B>6789") and
// nothing but invisible characters between the others; both gaps use the
// same separator (the same dash-like character, or spaces only) and neither
// breaks a line, so "123-45 6789" or a column "123\n45\n6789" is not one
// number; then the SSA's rules.
bool SsnValid(std::string_view m) {
  char digits[9];
  size_t begin[9], end[9], n = 0;
  const bool fits = ForEachDigit(m, [&](size_t at, size_t len, int v) {
    if (n == sizeof digits) return false;
    begin[n] = at;
    end[n] = at + len;
    digits[n++] = static_cast<char>('0' + v);
    return true;
  });
  if (!fits || n != sizeof digits) return false;
  Gap a, b;
  for (size_t k = 0; k + 1 < n; ++k) {
    const std::string_view text = m.substr(end[k], begin[k + 1] - end[k]);
    if (k == 2 || k == 4) {
      if (text.empty()) return false;
      (k == 2 ? a : b) = ReadGap(text);
    } else if (ReadGap(text).visible) {
      return false;
    }
  }
  if (a.dashes > 1 || b.dashes > 1 || a.dash != b.dash || a.line_break || b.line_break) {
    return false;
  }
  const std::string_view d(digits, sizeof digits);
  const std::string_view area = d.substr(0, 3), group = d.substr(3, 2), serial = d.substr(5, 4);
  if (area == "000" || area == "666" || area[0] == '9') return false;
  if (group == "00" || serial == "0000") return false;
  // Numbers published in advertising and widely misused as examples.
  if (d == "078051120" || d == "219099999") return false;
  return true;
}

// True when groups a, b, c read as day/month (either order) and a 19xx/20xx year.
bool DateShaped(std::string_view m, const std::vector<Group>& g) {
  if (g.size() < 3 || g[0].digits() > 2 || g[1].digits() > 2 || g[2].digits() != 4) return false;
  int a = GroupValue(m, g[0]), b = GroupValue(m, g[1]), y = GroupValue(m, g[2]);
  bool dm = a >= 1 && a <= 31 && b >= 1 && b <= 12;
  bool md = a >= 1 && a <= 12 && b >= 1 && b <= 31;
  return (dm || md) && y >= 1900 && y <= 2099;
}

bool PhoneValid(std::string_view m) {
  int digits = 0;
  for (char c : m) digits += IsDigit(c);
  bool international = !m.empty() && m[0] == '+';
  if (digits < (international ? 8 : 9) || digits > 15) return false;
  if (international) return true;
  // National formats are loose; reject the shapes of other numbers.
  std::vector<Group> g = DigitGroups(m);
  // AAA-GG-SSSS is a social security number, not a phone number.
  if (g.size() == 3 && g[0].digits() == 3 && g[1].digits() == 2 && g[2].digits() == 4) {
    return false;
  }
  // "05.11.2026 08..." is a date (and time), not a phone number.
  if (DateShaped(m, g)) return false;
  // Three leading 4-digit groups are a card or IBAN digit run
  // ("5500 0000 0000 0004", "DE89 3704 0044 0532 0130 00"), unlike
  // "0049 30 1234 5678" or "0800 123 4567".
  if (g.size() >= 3 && g[0].digits() == 4 && g[1].digits() == 4 && g[2].digits() == 4) {
    return false;
  }
  // A dotted quad of <= 3-digit groups is a zero-padded IPv4 address.
  if (g.size() == 4 && m.find_first_of(" /-") == std::string_view::npos) {
    bool quad = true;
    for (const Group& x : g) quad = quad && x.digits() <= 3;
    if (quad) return false;
  }
  return true;
}

// The regex matches a whole run of dot-joined numbers; only a run of exactly
// four octets (0-255, no leading zero) is an address, so "1.2.3.4.5" and
// "1.2.3.4.5.6" are not addresses at all (rather than "[IP].5").
bool Ipv4Valid(std::string_view m) {
  std::vector<Group> g = DigitGroups(m);
  if (g.size() != 4) return false;
  for (const Group& x : g) {
    if (x.digits() > 3 || (x.digits() > 1 && m[x.begin] == '0')) return false;
    if (GroupValue(m, x) > 255) return false;
  }
  return true;
}

// Real keys are random: the part after the fixed prefix has letters and digits.
bool ApiKeyValid(std::string_view m) {
  if (m.starts_with("-----BEGIN")) return true;
  size_t start = 0;
  for (std::string_view prefix : {"github_pat_", "sk-proj-", "sk-ant-", "sk_live_", "rk_live_",
                                  "sk-", "AKIA", "ASIA", "AIza"}) {
    if (m.starts_with(prefix)) {
      start = prefix.size();
      break;
    }
  }
  if (start == 0) {
    size_t sep = m.find_first_of("_-");  // ghp_..., xoxb-...
    start = sep == std::string_view::npos ? 0 : sep + 1;
  }
  bool digit = false, alpha = false;
  for (char c : m.substr(start)) {
    digit = digit || IsDigit(c);
    alpha = alpha || IsAlpha(c);
  }
  return digit && alpha;
}

// IBAN length by country (SWIFT IBAN registry).
struct IbanCountry {
  char code[3];
  int length;
};
constexpr IbanCountry kIbanCountries[] = {
    {"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20}, {"BE", 16},
    {"BG", 22}, {"BH", 22}, {"BR", 29}, {"BY", 28}, {"CH", 21}, {"CR", 22}, {"CY", 28},
    {"CZ", 24}, {"DE", 22}, {"DK", 18}, {"DO", 28}, {"EE", 20}, {"EG", 29}, {"ES", 24},
    {"FI", 18}, {"FO", 18}, {"FR", 27}, {"GB", 22}, {"GE", 22}, {"GI", 23}, {"GL", 18},
    {"GR", 27}, {"GT", 28}, {"HR", 21}, {"HU", 28}, {"IE", 22}, {"IL", 23}, {"IQ", 23},
    {"IS", 26}, {"IT", 27}, {"JO", 30}, {"KW", 30}, {"KZ", 20}, {"LB", 28}, {"LC", 32},
    {"LI", 21}, {"LT", 20}, {"LU", 20}, {"LV", 21}, {"MC", 27}, {"MD", 24}, {"ME", 22},
    {"MK", 19}, {"MR", 27}, {"MT", 31}, {"MU", 30}, {"NL", 18}, {"NO", 15}, {"PK", 24},
    {"PL", 28}, {"PS", 29}, {"PT", 25}, {"QA", 29}, {"RO", 24}, {"RS", 22}, {"SA", 24},
    {"SC", 31}, {"SE", 24}, {"SI", 19}, {"SK", 24}, {"SM", 27}, {"TL", 23}, {"TN", 24},
    {"TR", 26}, {"UA", 29}, {"VA", 22}, {"VG", 24}, {"XK", 20},
};

int IbanLength(std::string_view country) {
  for (const auto& c : kIbanCountries) {
    if (country == c.code) return c.length;
  }
  return -1;
}

// The IBAN inside a candidate: the whole candidate, or -- when the regex also
// took a following short word or number ("ES91 2100 0418 4502 0005 1332 OK")
// -- the prefix with the country's length that ends right before a gap with
// a visible character. The candidate's letters and digits, upper-cased and
// without its separators and invisible characters, must have the country's
// length and pass mod-97 (IbanValid); its gaps follow the card rules: at
// most one dash-like character in a gap, at most one line break.
Spans IbanSpans(std::string_view m) {
  constexpr size_t kMax = 36;  // the regex takes 4 + 32 characters at most
  char chars[kMax];
  size_t end[kMax], n = 0;
  int line_breaks = 0;
  bool cut = false;  // a gap broke the rules: the characters before it are the candidate
  for (size_t i = 0; i < m.size() && !cut;) {
    const char c = m[i];
    if (!IsDigit(c) && !IsAlpha(c)) {  // a gap (the regex's separators, invisible characters)
      size_t j = i;
      while (j < m.size() && !IsDigit(m[j]) && !IsAlpha(m[j])) ++j;
      const Gap gap = ReadGap(m.substr(i, j - i));
      line_breaks += gap.line_break;
      cut = gap.dashes > 1 || line_breaks > 1;
      i = j;
      continue;
    }
    if (n == kMax) return {};
    chars[n] = c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
    end[n++] = ++i;
  }
  if (n < 2) return {};
  const int want = IbanLength(std::string_view(chars, 2));
  if (want < 0 || n < static_cast<size_t>(want)) return {};
  const auto w = static_cast<size_t>(want);
  if (!IbanValid(std::string_view(chars, w))) return {};
  if (n == w && !cut) return {{0, m.size()}};  // the regex ends at a letter or digit
  // A longer candidate: the IBAN ends before a visible gap.
  const size_t e = end[w - 1];
  size_t k = e;
  while (k < m.size() && !IsDigit(m[k]) && !IsAlpha(m[k])) ++k;
  if (ReadGap(m.substr(e, k - e)).visible) return {{0, e}};
  return {};
}

bool IbanCandidateValid(std::string_view m) { return !IbanSpans(m).empty(); }

// The spans a validated candidate of a detector stands for (see the top of
// this file). INVARIANT: for a validator v and its refiner r, v(m) is true
// exactly when r(m) is non-empty; detectors without a refiner report the
// whole candidate.
using Refiner = Spans (*)(std::string_view match);
Refiner RefinerFor(Validator v) {
  if (v == CardValid) return CardSpans;
  if (v == IbanCandidateValid) return IbanSpans;
  return nullptr;
}

// ---------------------------------------------------------------- the table

// The gaps that join the digit groups of a card, SSN or IBAN
// (docs/language.md, "Detectors"): one to three ASCII separators, or one
// non-ASCII separator with at most one ASCII separator on each side; at most
// one of the characters dash-like (the validators check that: a regex
// spelling it out is too large for Hyperscan).
// Spaces: ASCII space, tab, CR, LF; the no-break, typographic (U+2000 to
// U+200A), narrow no-break, medium mathematical and ideographic spaces; and
// the invisible characters (kInvisible). Dash-like: `-`, `.`, U+2010 to
// U+2015 (hyphen, non-breaking hyphen, figure dash, en and em dash,
// horizontal bar), U+2212 minus, U+FE63 small and U+FF0D full-width
// hyphen-minus. Non-ASCII characters are spelled as alternatives (not class
// ranges) so that Hyperscan runs the patterns in byte mode over digit runs.
constexpr char32_t kWideSeparators[] = {
    0xA0,   0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009,
    0x200A, 0x2010, 0x2011, 0x2012, 0x2013, 0x2014, 0x2015, 0x202F, 0x205F, 0x2212, 0x3000,
    0xFE63, 0xFF0D};

std::string Alternatives(std::string_view ascii_class, std::initializer_list<std::span<const char32_t>> lists) {
  std::string r = "(?:";
  r += ascii_class;
  for (std::span<const char32_t> cps : lists) {
    for (char32_t c : cps) {
      char buf[16];
      std::snprintf(buf, sizeof buf, "%s\\x{%X}", r.size() > 3 ? "|" : "", static_cast<unsigned>(c));
      r += buf;
    }
  }
  return r + ")";
}

// One invisible character.
std::string InvisibleRegex() { return Alternatives("", {kInvisible}); }

std::string GapRegex() {
  const std::string a = "[\\t\\n\\r .-]";
  const std::string n = Alternatives("", {kWideSeparators, kInvisible});
  return "(?:" + a + "{1,3}|" + a + "?" + n + a + "?)";
}

// A full-width digit.
std::string FullWidthDigit() {
  static constexpr char32_t kDigits[] = {0xFF10, 0xFF11, 0xFF12, 0xFF13, 0xFF14,
                                         0xFF15, 0xFF16, 0xFF17, 0xFF18, 0xFF19};
  return Alternatives("", {kDigits});
}

// The first and last digit of a number: an ASCII digit at a word boundary,
// or a full-width digit with no word character next to it.
//   \b\d|\Bf  (gap? digit){11,}  gap? \d\b|f\B       (13+ digits)
std::string_view CardRegex() {
  static const std::string r = [] {
    const std::string g = GapRegex(), f = FullWidthDigit(), d = "(?:\\d|" + f + ")";
    return "(?:\\b\\d|\\B" + f + ")(?:" + g + "?" + d + "){11,}" + g + "?(?:\\d\\b|" +
           f + "\\B)";
  }();
  return r;
}

// A dotted neighbour group is part of the candidate ("10.123.45.6789",
// "123.45.6789.1"), so that SsnValid sees more than nine digits and a longer
// dotted number is not read as an SSN. An invisible character may stand
// between two digits of a group (i); a gap may hold one itself, so that the
// gaps stay within the digit-run promise (kMaxGapBytes).
//   (\b(\d+\.)?\d|\Bf) (i? digit){2} gap digit i? digit gap digit (i? digit){2} i? (\d\b(\.\d+)?|f\B)
std::string_view SsnRegex() {
  static const std::string r = [] {
    const std::string g = GapRegex(), f = FullWidthDigit(), i = InvisibleRegex() + "?",
                      d = "(?:\\d|" + f + ")", id = "(?:" + i + d + ")";
    return "(?:\\b(?:\\d+\\.)?\\d|\\B" + f + ")" + id + "{2}" + g + d + id + g + d + id +
           "{2}" + i + "(?:\\d\\b(?:\\.\\d+)?|" + f + "\\B)";
  }();
  return r;
}

// Letters and digits in groups of four joined by the card gaps, in any case;
// an invisible character may stand before each character after the first
// (i). The validator upper-cases and checks the length and mod-97.
//   \b[A-Za-z] i?[A-Za-z] (i?\d){2} (gap? x (i? x){3}){2,7} (gap? x (i? x){0,3})? \b
std::string_view IbanRegex() {
  static const std::string r = [] {
    const std::string g = GapRegex(), i = InvisibleRegex() + "?", x = "[A-Za-z0-9]";
    return "\\b[A-Za-z]" + i + "[A-Za-z](?:" + i + "\\d){2}(?:" + g + "?" + x + "(?:" + i + x +
           "){3}){2,7}(?:" + g + "?" + x + "(?:" + i + x + "){0,3})?\\b";
  }();
  return r;
}

// The letters of internationalised e-mail addresses (RFC 6531 local parts,
// IDNA domain labels), as class ranges: Latin-1 letters, Latin Extended-A
// and -B, IPA, combining diacritical marks, Greek, Cyrillic, Armenian, Hebrew,
// Arabic and Latin Extended Additional (Vietnamese) -- the scripts that put
// spaces between words, so that an address's edges are where its letters
// end. Han, kana, Thai and other scripts written without spaces are left out:
// "メールはbob@example.com" must not take the Japanese words before the
// address (docs/language.md, "E-mail addresses").
constexpr std::string_view kIdnLetters =
    "\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{2AF}\\x{300}-\\x{36F}\\x{370}-\\x{373}"
    "\\x{376}-\\x{377}\\x{37B}-\\x{37D}\\x{386}\\x{388}-\\x{3FF}\\x{400}-\\x{481}"
    "\\x{483}-\\x{52F}\\x{531}-\\x{556}\\x{561}-\\x{587}\\x{5D0}-\\x{5EA}\\x{620}-\\x{64A}"
    "\\x{660}-\\x{669}\\x{671}-\\x{6D3}\\x{1E00}-\\x{1EFF}";

// local@label(.label)*.tld: the local part's characters (RFC 5322 atext's
// letters, digits and `._%+-`), labels of letters and digits with inner
// hyphens, a top-level domain of two or more letters (an ASCII one ending at
// a word boundary); an invisible character may stand between any two
// characters (i). No `\b` before the local part: its class holds every ASCII
// word character, so a match starts where the run of local-part characters
// does, and a leading non-ASCII letter is not cut off ("Östen@…"); the
// leading `[class]+` is Hyperscan's exact prefilter form (scanner.h).
//   [l]+(i[l]+)* i?@i? label (i?\.i? label)* i?\.i? [t](i?[t])* i? ([N]|[A-Za-z]\b)
std::string_view EmailRegex() {
  static const std::string r = [] {
    const std::string n(kIdnLetters), i = InvisibleRegex(), l = "[A-Za-z0-9._%+" + n + "-]",
                      a = "[A-Za-z0-9" + n + "]", ah = "[A-Za-z0-9" + n + "-]",
                      label = a + "(?:(?:" + ah + "|" + i + ")*" + a + ")?",
                      t = "[A-Za-z" + n + "]", dot = i + "?\\." + i + "?";
    return l + "+(?:" + i + l + "+)*" + i + "?@" + i + "?" + label + "(?:" + dot + label + ")*" +
           dot + t + "(?:" + i + "?" + t + ")*" + i + "?(?:[" + n + "]|[A-Za-z]\\b)";
  }();
  return r;
}

// The digit-run promise of both (scan::DigitRuns): the ASCII gap bytes, and
// gaps of up to five bytes (an ASCII byte, three bytes of U+2013, an ASCII
// byte; an invisible character inside a group is three bytes at most).
constexpr std::string_view kRunSeparators = "\t\n\r -.";
constexpr uint32_t kMaxGapBytes = 5;


std::vector<DetectorDecl> MakeDetectors() {
  return {
      // The regex takes the whole digit run; CardSpans finds the cards in it.
      {"dlp.credit_card", CardRegex(), CardValid,
       "payment card numbers: 13-19 digits (ASCII or full-width), optionally grouped by "
       "spaces, dashes or dots (Unicode spaces, dashes and zero-width characters included), "
       "Luhn-valid",
       13, kRunSeparators, true, kMaxGapBytes},
      {"dlp.email", EmailRegex(), nullptr,
       "e-mail addresses, with letters of the Latin, Greek, Cyrillic, Armenian, Hebrew and "
       "Arabic scripts in the local part and the domain (internationalised addresses); "
       "invisible characters read through"},
      {"dlp.phone",
       // E.164 / international with separators, US national "(415) 555-2671" or
       // "415-555-2671", European national "030 1234567" / "06 12 34 56 78".
       R"(\+[1-9]\d{0,2}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,4}\b|(?:\([2-9]\d{2}\) ?|\b[2-9]\d{2}[ .-])\d{3}[ .-]\d{4}\b|\b0\d{1,4}(?:[ /.-]\d{2,8}){1,4}\b)",
       PhoneValid,
       "phone numbers: international (+country code), US and European national formats with "
       "separators; 8-15 digits; not SSN-, date-, card/IBAN-group- or dotted-quad-shaped"},
      {"dlp.us_ssn", SsnRegex(), SsnValid,
       "US social security numbers AAA-GG-SSSS, separated by dashes, dots or spaces (Unicode "
       "spaces and dashes included), the same separator twice; no 000/666/9xx area, 00 group "
       "or 0000 serial",
       9, kRunSeparators, true, kMaxGapBytes},
      {"dlp.iban", IbanRegex(), IbanCandidateValid,
       "international bank account numbers in any case, the groups of four optionally "
       "separated like card numbers (spaces, dashes, dots, Unicode spaces and dashes); "
       "invisible characters read through; country length and mod-97 checked"},
      // The whole dotted-number run, so that Ipv4Valid sees its neighbours.
      {"dlp.ipv4", R"(\b\d+(?:\.\d+){3,}\b)", Ipv4Valid,
       "IPv4 addresses (dotted quad, octets 0-255, not part of a longer dotted number)"},
      {"dlp.api_key",
       R"(\bsk-(?:proj-|svcacct-|admin-|ant-(?:api|admin)\d{2}-)?[A-Za-z0-9_-]{20,})"
       R"(|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b)"
       R"(|\bgh[pousr]_[A-Za-z0-9]{36,}\b|\bgithub_pat_[A-Za-z0-9_]{22,})"
       R"(|\bxox[abprs]-[A-Za-z0-9-]{10,})"
       R"(|\bAIza[0-9A-Za-z_-]{35})"
       R"(|\b(?:sk|rk)_live_[0-9A-Za-z]{16,})"
       // A private key block: the BEGIN line, any header lines
       // ("Proc-Type: 4,ENCRYPTED"), the base64 body (lines joined by
       // newlines, spaces or the two characters `\n` of a JSON or .env
       // string) and the END line -- the whole block, so that redacting it
       // removes the key material, not just the line that names it. Without
       // an END line the body runs to the first character no body has.
       R"(|-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----)"
       R"((?:[\s\\]*[A-Za-z][A-Za-z0-9-]*: [^\r\n\\]*)*(?:[\s\\]*[A-Za-z0-9+/=]+)*)"
       R"((?:[\s\\]*-----END (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----)?)",
       ApiKeyValid,
       "API keys and secrets: OpenAI, Anthropic, AWS, GitHub, Slack, Google, Stripe, PEM "
       "private keys (the whole block, BEGIN to END)"},
  };
}

// Per thread: an RE2 object guards its DFA cache with a mutex, so threads
// sharing one would contend on every match. Each thread compiles the
// detectors once, on its first use (a few milliseconds).
const std::vector<std::unique_ptr<RE2>>& CompiledDetectors() {
  thread_local const std::vector<std::unique_ptr<RE2>> compiled = [] {
    scan::CountThreadLocalBuild();
    std::vector<std::unique_ptr<RE2>> v;
    RE2::Options opt;
    opt.set_log_errors(false);
    for (const auto& d : Detectors()) {
      v.push_back(std::make_unique<RE2>(re2::StringPiece(d.regex.data(), d.regex.size()), opt));
    }
    return v;
  }();
  return compiled;
}

}  // namespace

bool LuhnValid(std::string_view s) {
  int sum = 0, n = 0;
  for (size_t i = s.size(); i-- > 0;) {
    char c = s[i];
    if (c == ' ' || c == '-') continue;
    if (!IsDigit(c)) return false;
    int d = c - '0';
    if (n++ % 2 == 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return n >= 2 && sum % 10 == 0;
}

bool IbanValid(std::string_view iban) {
  std::string s;
  for (char c : iban) {
    if (c == ' ') continue;
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (!IsDigit(c) && !(c >= 'A' && c <= 'Z')) return false;
    s += c;
  }
  if (s.size() < 5 || !IsAlpha(s[0]) || !IsAlpha(s[1]) || !IsDigit(s[2]) || !IsDigit(s[3])) {
    return false;
  }
  if (IbanLength(std::string_view(s).substr(0, 2)) != static_cast<int>(s.size())) return false;
  // Move the first four characters to the end, letters -> 10..35, mod 97.
  std::string r = s.substr(4) + s.substr(0, 4);
  int mod = 0;
  for (char c : r) {
    int v = IsDigit(c) ? c - '0' : c - 'A' + 10;
    mod = (v >= 10 ? mod * 100 : mod * 10) + v;
    mod %= 97;
  }
  return mod == 1;
}

const std::vector<DetectorDecl>& Detectors() {
  static const std::vector<DetectorDecl> table = MakeDetectors();
  return table;
}

int FindDetector(std::string_view name) {
  const auto& t = Detectors();
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

std::vector<std::string> DetectorNames() {
  std::vector<std::string> names;
  for (const auto& d : Detectors()) names.emplace_back(d.name);
  return names;
}

bool WalkDetector(const RE2& re, int id, std::string_view text,
                  const std::function<bool(size_t, size_t)>& each, const scan::FoundDigitRuns* runs) {
  const DetectorDecl& d = Detectors()[static_cast<size_t>(id)];
  const re2::StringPiece input(text.data(), text.size());
  re2::StringPiece m;
  // INVARIANT: one walk for `matches`, redaction and the reference
  // interpreter: leftmost matches, resuming after each one (validated or
  // not); an empty match resumes one byte on.
  auto walk = [&](size_t pos, size_t end) {
    while (pos <= end && re.Match(input, pos, end, RE2::UNANCHORED, &m, 1)) {
      const size_t b = static_cast<size_t>(m.data() - text.data());
      const size_t e = b + m.size();
      if (each(b, e)) return true;
      pos = e > b ? e : e + 1;
    }
    return false;
  };
  if (d.run_digits == 0) return walk(0, text.size());
  thread_local std::vector<std::pair<size_t, size_t>> spans;
  scan::DigitRuns promise;
  promise.min_digits = d.run_digits;
  promise.separators = std::string(d.run_separators);
  promise.wide_separators = d.run_wide;
  promise.max_gap = d.run_max_gap;
  scan::DigitRunSpans(text, promise, runs, &spans);
  for (auto [b, e] : spans) {
    if (walk(b, e)) return true;
  }
  return false;
}

namespace {

// FindDetectorMatches in `text` itself (no readings).
std::vector<std::pair<size_t, size_t>> FindInText(int id, std::string_view text) {
  std::vector<std::pair<size_t, size_t>> out;
  Validator validate = Detectors()[id].validate;
  const Refiner refine = RefinerFor(validate);
  WalkDetector(*CompiledDetectors()[id], id, text, [&](size_t begin, size_t end) {
    const std::string_view cand = text.substr(begin, end - begin);
    if (refine) {
      for (auto [b, e] : refine(cand)) out.emplace_back(begin + b, begin + e);
    } else if (validate == nullptr || validate(cand)) {
      out.emplace_back(begin, end);
    }
    return false;
  });
  return out;
}

// DetectorMatches in `text` itself (no readings).
bool MatchesText(int id, std::string_view text) {
  const RE2& re = *CompiledDetectors()[id];
  Validator validate = Detectors()[id].validate;
  if (validate == nullptr && Detectors()[id].run_digits == 0) {
    return RE2::PartialMatch(re2::StringPiece(text.data(), text.size()), re);
  }
  return WalkDetector(re, id, text, [&](size_t b, size_t e) {
    return validate == nullptr || validate(text.substr(b, e - b));
  });
}

}  // namespace

// The text, then each of its readings (scan::Readings: JSON string escapes
// decoded), their spans mapped back to the text.
std::vector<std::pair<size_t, size_t>> FindDetectorMatches(int id, std::string_view text) {
  std::vector<std::pair<size_t, size_t>> out = FindInText(id, text);
  if (!scan::MayHoldEscapes(text)) return out;
  thread_local scan::Readings readings;
  const size_t n = readings.Read(text);
  if (n == 0) return out;
  for (size_t r = 0; r < n; ++r)
    for (auto [b, e] : FindInText(id, readings.text(r))) out.push_back(readings.ToText(r, b, e));
  // One span per overlapping group (the same instance, found in the text
  // and in a reading, is one match).
  std::sort(out.begin(), out.end());
  size_t kept = 0;
  for (const auto& s : out) {
    if (kept > 0 && s.first < out[kept - 1].second) {
      out[kept - 1].second = std::max(out[kept - 1].second, s.second);
      continue;
    }
    out[kept++] = s;
  }
  out.resize(kept);
  return out;
}

bool DetectorMatches(int id, std::string_view text) {
  if (MatchesText(id, text)) return true;
  if (!scan::MayHoldEscapes(text)) return false;
  thread_local scan::Readings readings;
  for (size_t r = 0, n = readings.Read(text); r < n; ++r)
    if (MatchesText(id, readings.text(r))) return true;
  return false;
}

void WarmThread(bool injection_score, bool detectors) {
  if (injection_score) internal::WarmInjectionScoreThread();
  if (detectors) CompiledDetectors();
}

}  // namespace tollgate::stdlib
