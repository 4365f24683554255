// RE2 -> Hyperscan pattern translation (see internal/translate.h).
//
// This is not a regex parser: RE2 has already parsed and accepted the
// pattern. It is a token whitelist over RE2's syntax that copies the tokens
// whose meaning Hyperscan shares, rewrites the few that differ, and refuses
// everything else, so that the refusal (an RE2 fallback) is the default.
#include "engine/scan/internal/translate.h"

#include <algorithm>
#include <cstring>
#ifdef __SSE2__
#include <emmintrin.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif
#endif

namespace tollgate::scan::internal {

namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlnum(char c) { return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
int HexDigit(char c) {
  if (IsDigit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes the (valid) UTF-8 character at p[*i]; advances *i.
uint32_t DecodeAt(std::string_view p, size_t* i) {
  auto b = static_cast<unsigned char>(p[*i]);
  int n = b < 0x80 ? 0 : b < 0xE0 ? 1 : b < 0xF0 ? 2 : 3;
  uint32_t cp = n == 0 ? b : n == 1 ? (b & 0x1F) : n == 2 ? (b & 0x0F) : (b & 0x07);
  ++*i;
  for (int k = 0; k < n && *i < p.size(); ++k, ++*i) cp = (cp << 6) | (p[*i] & 0x3F);
  return cp;
}

std::string Hex(uint32_t cp) {
  static const char kDigits[] = "0123456789abcdef";
  std::string h;
  do {
    h.insert(h.begin(), kDigits[cp & 0xF]);
    cp >>= 4;
  } while (cp != 0);
  return "\\x{" + h + "}";
}

// One character for a Hyperscan pattern: ASCII letters and digits as
// themselves, everything else as \x{..} (never ambiguous, NUL-safe).
std::string Char(uint32_t cp) {
  if (cp < 0x80 && IsAlnum(static_cast<char>(cp))) return std::string(1, static_cast<char>(cp));
  return Hex(cp);
}

struct Translator {
  std::string_view p;
  bool caseless;
  std::string* out;
  std::string* reason;
  // The form for texts that are all ASCII (TranslateForAsciiText): `\w` and
  // `\W` need not spell out U+017F and U+212A under case folding.
  bool ascii_text = false;
  size_t i = 0;
  // True while every atom matches ASCII bytes only (and, case-insensitively,
  // folds only to ASCII): on well-formed UTF-8 such a pattern means the same
  // byte by byte, so it can skip Hyperscan's UTF-8 mode (faster).
  bool ascii = true;
  // Some atom needs UTF-8 mode for more than the case variants of k, s and
  // \w (U+212A, U+017F): a non-ASCII class member, `.`, a negated class,
  // `\W \D \S`. Without it the UTF-8 form only adds those two characters'
  // encodings, and the byte-mode form for ASCII texts gains little.
  bool wide = false;
  void Wide() { ascii = false; wide = true; }
  // A non-ASCII character outside a class was seen. It alone needs no UTF-8
  // mode: on well-formed UTF-8 its encoding matches only at a character
  // boundary, so its bytes in sequence mean the same (never under case
  // folding: CheckCase refuses a caseless character with case variants).
  bool literal_non_ascii = false;
  // Emit such characters as their UTF-8 bytes (the byte-mode form; see
  // Translate).
  bool byte_literals = false;
  // Width: a token consuming a character (a character, a class, `.`) at the
  // top level (outside groups) and not under a quantifier allowing zero
  // makes every match at least one character wide, unless a top-level `|`
  // offers another branch. Groups are not looked into (so the answer is
  // "maybe empty" more often than needed, never less).
  int depth = 0;
  bool top_alternation = false;
  bool pending = false;       // the last token consumes, at the top level
  bool must_consume = false;  // a consuming top-level token without a zero quantifier

  // Before each token. A quantifier applies to the token before it: one
  // allowing zero (`*`, `?`, `{0...}`; also a lazy `?`) drops it, another
  // keeps it pending; any other token settles it.
  void Settle(bool quantifier, bool zero) {
    if (quantifier) {
      pending = pending && !zero;
      return;
    }
    must_consume = must_consume || pending;
    pending = false;
  }
  void Consumed(bool consumed) { pending = consumed && depth == 0; }

  bool Refuse(std::string why) {
    *reason = std::move(why);
    return false;
  }

  // Caseless patterns: a non-ASCII character must have no case variants
  // (RE2 folds Unicode case; refusing keeps us clear of table differences).
  bool CheckCase(uint32_t lo, uint32_t hi) {
    if (hi >= 0x80) Wide();
    // k/K and s/S fold to U+212A and U+017F: caseless, they are not ASCII-only.
    for (uint32_t c : {'K', 'S', 'k', 's'}) {
      if (caseless && lo <= c && c <= hi) ascii = false;
    }
    if (!caseless || hi < 0x80) return true;
    if (lo < 0x80) return Refuse("case folding of a range reaching beyond ASCII");
    for (uint32_t c = lo; c <= hi; ++c) {
      if (!NoCaseFolding(c)) return Refuse("case folding of non-ASCII " + Hex(c).substr(1));
    }
    return true;
  }

  // \xHH or \x{H...} at p[i] (just after "\x"); *cp = the code point.
  bool HexEscape(uint32_t* cp) {
    if (i < p.size() && p[i] == '{') {
      size_t close = p.find('}', i);
      if (close == std::string_view::npos || close == i + 1 || close - i > 7) {
        return Refuse("escape \\x{...}");
      }
      uint32_t v = 0;
      for (size_t k = i + 1; k < close; ++k) {
        int d = HexDigit(p[k]);
        if (d < 0) return Refuse("escape \\x{...}");
        v = v * 16 + static_cast<uint32_t>(d);
      }
      i = close + 1;
      *cp = v;
    } else {
      if (i + 1 >= p.size() || HexDigit(p[i]) < 0 || HexDigit(p[i + 1]) < 0) {
        return Refuse("escape \\x");
      }
      *cp = static_cast<uint32_t>(HexDigit(p[i]) * 16 + HexDigit(p[i + 1]));
      i += 2;
    }
    if (*cp > 0x10FFFF || (*cp >= 0xD800 && *cp <= 0xDFFF)) return Refuse("escape \\x{...}");
    return true;
  }

  // One escape after '\' (p[i] is the escaped character). Single characters
  // set *cp and return kChar; classes append their text to *set.
  enum Atom { kFail, kChar, kSet, kAssert };
  Atom Escape(bool in_class, uint32_t* cp, std::string* set) {
    if (i >= p.size()) {
      Refuse("trailing backslash");
      return kFail;
    }
    char c = p[i++];
    switch (c) {
      case 'd': case 'D':
        *set = std::string("\\") + c;
        if (c == 'D') Wide();
        return kSet;
      // RE2 folds \w under case folding (adding U+017F and U+212A, which
      // fold to s and k) and negates after folding; spell that out.
      case 'w':
        if (caseless) ascii = false;
        *set = !caseless || ascii_text ? "\\w" : in_class ? "\\w\\x{17f}\\x{212a}" : "[\\w\\x{17f}\\x{212a}]";
        return kSet;
      case 'W':
        Wide();
        if (!caseless || ascii_text) {
          *set = "\\W";
        } else if (in_class) {
          Refuse("\\W inside a case-insensitive class");
          return kFail;
        } else {
          *set = "[^\\w\\x{17f}\\x{212a}]";
        }
        return kSet;
      case 's':
        *set = in_class ? "\\x{9}\\x{a}\\x{c}\\x{d}\\x{20}" : "[\\x{9}\\x{a}\\x{c}\\x{d}\\x{20}]";
        return kSet;
      case 'S':
        Wide();
        if (in_class) {
          Refuse("\\S inside a class");
          return kFail;
        }
        *set = "[^\\x{9}\\x{a}\\x{c}\\x{d}\\x{20}]";
        return kSet;
      case 'b': case 'B': case 'A': case 'z':
        if (in_class) {
          Refuse(std::string("\\") + c + " inside a class");
          return kFail;
        }
        *set = std::string("\\") + c;
        return kAssert;
      case 't': *cp = '\t'; return kChar;
      case 'n': *cp = '\n'; return kChar;
      case 'r': *cp = '\r'; return kChar;
      case 'f': *cp = '\f'; return kChar;
      case 'v': *cp = 0x0B; return kChar;
      case 'a': *cp = 0x07; return kChar;
      case 'x': return HexEscape(cp) ? kChar : kFail;
      default:
        // RE2 reads `\` before any ASCII character that is not a letter or
        // digit as that character (QuoteMeta writes `\ `, `\_`, `\<NUL>`).
        if (static_cast<unsigned char>(c) < 0x80 && !IsAlnum(c)) {
          *cp = static_cast<unsigned char>(c);
          return kChar;
        }
        Refuse(std::string("escape \\") + c);
        return kFail;
    }
  }

  // A character outside a class. For ASCII texts a non-ASCII one never
  // matches: one byte above 0x7F says the same (and quantifies the same).
  std::string Lit(uint32_t cp) const {
    if (cp < 0x80) return Char(cp);
    if (ascii_text) return std::string(kNoAsciiByte);
    if (!byte_literals) return Char(cp);
    std::string utf8;
    if (cp < 0x800) {
      utf8 = {static_cast<char>(0xC0 | (cp >> 6)), static_cast<char>(0x80 | (cp & 0x3F))};
    } else if (cp < 0x10000) {
      utf8 = {static_cast<char>(0xE0 | (cp >> 12)), static_cast<char>(0x80 | ((cp >> 6) & 0x3F)),
              static_cast<char>(0x80 | (cp & 0x3F))};
    } else {
      utf8 = {static_cast<char>(0xF0 | (cp >> 18)), static_cast<char>(0x80 | ((cp >> 12) & 0x3F)),
              static_cast<char>(0x80 | ((cp >> 6) & 0x3F)), static_cast<char>(0x80 | (cp & 0x3F))};
    }
    std::string bytes = "(?:";  // one atom, as the character was
    for (char b : utf8) bytes += Hex(static_cast<unsigned char>(b));
    return bytes + ")";
  }

  // A character outside a class: checked, then emitted (Lit).
  bool OutsideLit(uint32_t cp) {
    const bool was_ascii = ascii, was_wide = wide;
    if (!CheckCase(cp, cp)) return false;
    if (cp >= 0x80) {
      ascii = was_ascii;  // the bytes in sequence will do (literal_non_ascii)
      wide = was_wide;
      literal_non_ascii = true;
    }
    *out += Lit(cp);
    return true;
  }
  static constexpr std::string_view kNoAsciiByte = "[^\\x{0}-\\x{7f}]";

  bool Class() {
    ++i;  // '['
    const size_t start = out->size();
    size_t members = 0;  // emitted (for ASCII texts, members above 0x7F are left out)
    bool negated = false;
    *out += '[';
    if (i < p.size() && p[i] == '^') {
      Wide();  // a negated class matches non-ASCII characters
      negated = true;
      *out += '^';
      ++i;
    }
    if (i < p.size() && p[i] == ']') return Refuse("class starting with ]");
    bool first = true;
    while (i < p.size() && p[i] != ']') {
      uint32_t lo = 0;
      std::string set;
      Atom a = ClassAtom(first, &lo, &set);
      first = false;
      if (a == kFail) return false;
      if (a == kSet) {
        if (i < p.size() && p[i] == '-' && i + 1 < p.size() && p[i + 1] != ']') {
          return Refuse("class range after a class escape");
        }
        *out += set;
        ++members;
        continue;
      }
      uint32_t hi = lo;
      if (i + 1 < p.size() && p[i] == '-' && p[i + 1] != ']') {
        ++i;
        if (ClassAtom(false, &hi, &set) != kChar) return Refuse("class range");
        if (hi < lo) return Refuse("class range");
      }
      if (!CheckCase(lo, hi)) return false;
      if (ascii_text) {  // only the ASCII part can match an ASCII text
        if (lo >= 0x80) continue;
        hi = std::min<uint32_t>(hi, 0x7F);
      }
      *out += Char(lo);
      if (hi != lo) *out += "-" + Char(hi);
      ++members;
    }
    if (i >= p.size()) return Refuse("unterminated class");
    ++i;
    *out += ']';
    if (members == 0) {  // every member was non-ASCII (ASCII texts only)
      out->resize(start);
      *out += negated ? "[\\x{0}-\\x{7f}]" : kNoAsciiByte;
    }
    return true;
  }

  Atom ClassAtom(bool first, uint32_t* cp, std::string* set) {
    char c = p[i];
    if (c == '[' && i + 1 < p.size() &&
        (p[i + 1] == ':' || p[i + 1] == '.' || p[i + 1] == '=')) {
      Refuse("POSIX class");
      return kFail;
    }
    if (c == '\\') {
      ++i;
      Atom a = Escape(true, cp, set);
      return a == kAssert ? kFail : a;
    }
    if (c == '-' && !first && !(i + 1 < p.size() && p[i + 1] == ']')) {
      Refuse("`-` inside a class");
      return kFail;
    }
    *cp = DecodeAt(p, &i);
    return kChar;
  }

  // `{n}`, `{n,}` or `{n,m}` at p[i]; false when the brace is a literal.
  bool Repeat(std::string* rep) {
    size_t k = i + 1;
    size_t d0 = k;
    while (k < p.size() && IsDigit(p[k])) ++k;
    if (k == d0) return false;
    if (k < p.size() && p[k] == ',') {
      ++k;
      while (k < p.size() && IsDigit(p[k])) ++k;
    }
    if (k >= p.size() || p[k] != '}') return false;
    *rep = std::string(p.substr(i, k + 1 - i));
    i = k + 1;
    return true;
  }

  bool Run() {
    static constexpr std::string_view kMultiBegin = "(?m:^)";
    static constexpr std::string_view kMultiEnd = "(?m:$)";
    while (i < p.size()) {
      char c = p[i];
      if (i == 0 && p.substr(0, kMultiBegin.size()) == kMultiBegin) {
        *out += "(?:^|\\n)";
        i += kMultiBegin.size();
        continue;
      }
      if (p.substr(i) == kMultiEnd) {
        Settle(false, false);
        *out += "(?:\\n|\\z)";
        i += kMultiEnd.size();
        continue;
      }
      const bool repeat = c == '{' && Repeats();
      Settle(c == '*' || c == '+' || c == '?' || repeat, c == '*' || c == '?' || (repeat && ZeroRepeat()));
      switch (c) {
        case '\\': {
          ++i;
          uint32_t cp = 0;
          std::string set;
          Atom a = Escape(false, &cp, &set);
          if (a == kFail) return false;
          if (a == kChar) {
            if (!OutsideLit(cp)) return false;
          } else {
            *out += set;
          }
          Consumed(a != kAssert);
          break;
        }
        case '[':
          if (!Class()) return false;
          Consumed(true);
          break;
        case '(':
          ++depth;
          if (i + 1 < p.size() && p[i + 1] == '?') {
            if (p.substr(i, 3) == "(?:") {
              *out += "(?:";
              i += 3;
            } else if (p.substr(i, 4) == "(?P<") {
              size_t close = p.find('>', i);
              if (close == std::string_view::npos) return Refuse("named group");
              *out += "(?:";
              i = close + 1;
            } else {
              return Refuse("flag group");
            }
          } else {
            *out += '(';
            ++i;
          }
          break;
        case '$':
          *out += "\\z";
          ++i;
          break;
        case '{': {
          std::string rep;
          if (Repeat(&rep)) {
            *out += rep;
          } else {
            *out += "\\x{7b}";
            ++i;
            Consumed(true);
          }
          break;
        }
        case ')': case '|': case '*': case '+': case '?': case '.': case '^':
          if (c == '.') Wide();
          if (c == ')') --depth;
          if (c == '|' && depth == 0) top_alternation = true;
          *out += c;
          ++i;
          if (c != '*' && c != '+' && c != '?') Consumed(c == '.');
          break;
        default: {
          uint32_t cp = DecodeAt(p, &i);
          if (!OutsideLit(cp)) return false;
          Consumed(true);
        }
      }
    }
    Settle(false, false);
    return true;
  }

  // p[i] is `{`: whether it opens a repeat (see Repeat; else it is a
  // literal), and whether that repeat's minimum is zero.
  bool Repeats() const { return RepeatAt(nullptr); }
  bool ZeroRepeat() const {
    bool zero = false;
    return RepeatAt(&zero) && zero;
  }
  bool RepeatAt(bool* zero) const {
    size_t k = i + 1;
    const size_t d0 = k;
    bool all_zero = true;
    for (; k < p.size() && IsDigit(p[k]); ++k) all_zero = all_zero && p[k] == '0';
    if (k == d0) return false;
    if (k < p.size() && p[k] == ',') {
      ++k;
      while (k < p.size() && IsDigit(p[k])) ++k;
    }
    if (k >= p.size() || p[k] != '}') return false;
    if (zero != nullptr) *zero = all_zero;
    return true;
  }
};

// Both translations: `(?i)` first is dropped when `strip_caseless` (RE2
// applies it to everything after it, which is the whole pattern -- the same
// as compiling it case-insensitively) and *caseless_out says so.
bool Translate(std::string_view re2_pattern, bool caseless, bool strip_caseless, bool ascii_text,
               std::string* out, std::string* reason, bool* caseless_out, bool* ascii_out,
               bool* nonempty_out = nullptr, bool* fold_only_out = nullptr) {
  out->clear();
  if (!ValidUtf8(re2_pattern)) {
    *reason = "pattern is not UTF-8";
    return false;
  }
  static constexpr std::string_view kCaseless = "(?i)";
  if (strip_caseless && re2_pattern.substr(0, kCaseless.size()) == kCaseless) {
    re2_pattern.remove_prefix(kCaseless.size());
    caseless = true;
  }
  if (caseless_out != nullptr) *caseless_out = caseless;
  Translator t{re2_pattern, caseless, out, reason};
  t.ascii_text = ascii_text;
  bool ok = t.Run();
  if (ok && t.ascii && t.literal_non_ascii && !ascii_text) {
    // Nothing else needs UTF-8 mode: the byte-mode form, with the non-ASCII
    // characters as their bytes (Hyperscan's byte mode is the faster).
    Translator bytes{re2_pattern, caseless, out, reason};
    bytes.byte_literals = true;
    out->clear();
    ok = bytes.Run();
  }
  if (ascii_out != nullptr) *ascii_out = ok && t.ascii;
  if (nonempty_out != nullptr) *nonempty_out = ok && t.must_consume && !t.top_alternation;
  if (fold_only_out != nullptr) *fold_only_out = ok && !t.ascii && !t.wide;
  return ok;
}

}  // namespace

bool TranslateForHyperscan(std::string_view re2_pattern, bool caseless, std::string* out,
                           std::string* reason, bool* caseless_out, bool* ascii_out,
                           bool* nonempty_out, bool* fold_only_out) {
  return Translate(re2_pattern, caseless, caseless_out != nullptr, false, out, reason, caseless_out,
                   ascii_out, nonempty_out, fold_only_out);
}

bool TranslateForAsciiText(std::string_view re2_pattern, bool caseless, std::string* out,
                           std::string* reason) {
  // Non-ASCII characters become kNoAsciiByte or leave their classes, so the
  // text is byte-mode text (\x{..} below 0x80 only).
  return Translate(re2_pattern, caseless, true, true, out, reason, nullptr, nullptr);
}

bool PrefilterForm(std::string_view re2_pattern, std::string* out, bool* exact) {
  static constexpr std::string_view kBoundary = "\\b";
  const bool boundary = re2_pattern.substr(0, kBoundary.size()) == kBoundary;
  size_t i = boundary ? kBoundary.size() : 0;
  const size_t open = i;
  if (i >= re2_pattern.size() || re2_pattern[i] != '[') return false;
  ++i;
  // A plain class: not negated, no `]` first, no POSIX `[:...:]`, escapes
  // taken as pairs.
  if (i >= re2_pattern.size() || re2_pattern[i] == '^' || re2_pattern[i] == ']') return false;
  for (; i < re2_pattern.size() && re2_pattern[i] != ']'; ++i) {
    if (re2_pattern[i] == '[') return false;
    if (re2_pattern[i] == '\\') ++i;
  }
  // i at the closing `]`: a `+` must follow, and no `?` (lazy) or `+` after it.
  if (i + 1 >= re2_pattern.size() || re2_pattern[i + 1] != '+') return false;
  if (i + 2 < re2_pattern.size() && (re2_pattern[i + 2] == '?' || re2_pattern[i + 2] == '+' ||
                                     re2_pattern[i + 2] == '*' || re2_pattern[i + 2] == '{')) {
    return false;
  }
  *out = std::string(re2_pattern.substr(open, i + 1 - open)) + std::string(re2_pattern.substr(i + 2));
  if (exact != nullptr) *exact = !boundary;
  return true;
}

bool NoCaseFolding(uint32_t cp) {
  struct Range {
    uint32_t lo, hi;
  };
  static constexpr Range kRanges[] = {
      {0x2010, 0x205E},  // general punctuation
      {0x2190, 0x23FF},  // arrows, mathematical operators, technical
      {0x2500, 0x25FF},  // box drawing, block elements, geometric shapes
      {0x3000, 0x303F},  // CJK symbols and punctuation
      {0xFF01, 0xFF20},  // fullwidth punctuation and digits
      {0xFF3B, 0xFF40},
      {0xFF5B, 0xFF65},
  };
  for (const Range& r : kRanges) {
    if (cp >= r.lo && cp <= r.hi) return true;
  }
  return false;
}

#if defined(__x86_64__) && defined(__GNUC__)
namespace {
// The ASCII fast path 64 bytes in one AVX-512BW register: from i, the first
// 64-byte block holding a byte >= 0x80 (or fewer than 64 bytes left);
// *backslash set when a block passed over, or that one, holds a backslash.
__attribute__((target("avx512f,avx512bw"))) size_t AsciiBlocks512(const unsigned char* b, size_t i,
                                                                  size_t n, bool* backslash) {
  const __m512i kbs = _mm512_set1_epi8('\\');
  uint64_t bs = 0;
  for (; i + 64 <= n; i += 64) {
    const __m512i v = _mm512_loadu_si512(b + i);
    bs |= _mm512_cmpeq_epi8_mask(v, kbs);
    if (_mm512_movepi8_mask(v) != 0) break;
  }
  if (bs != 0) *backslash = true;
  return i;
}
}  // namespace
#endif

void Utf8Checker::Feed(std::string_view s) {
  const auto* b = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size(), i = 0;
#if defined(__x86_64__) && defined(__GNUC__)
  static const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
#endif
  while (ok_ && i < n) {
    if (need_ == 0) {
      // ASCII fast path, 64 bytes at a time with AVX-512BW, 16 with SSE2,
      // then 8. Backslashes are looked for on the way (a block that breaks
      // out is looked at again below, so marking it too is harmless).
#if defined(__x86_64__) && defined(__GNUC__)
      if (avx512) i = AsciiBlocks512(b, i, n, &backslash_);
#endif
#ifdef __SSE2__
      const __m128i kbs = _mm_set1_epi8('\\');
      __m128i bs = _mm_setzero_si128();
      while (i + 64 <= n) {
        const auto* q = reinterpret_cast<const __m128i*>(b + i);
        const __m128i a0 = _mm_loadu_si128(q), a1 = _mm_loadu_si128(q + 1), a2 = _mm_loadu_si128(q + 2),
                      a3 = _mm_loadu_si128(q + 3);
        bs = _mm_or_si128(bs, _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(a0, kbs), _mm_cmpeq_epi8(a1, kbs)),
                                           _mm_or_si128(_mm_cmpeq_epi8(a2, kbs), _mm_cmpeq_epi8(a3, kbs))));
        __m128i v = _mm_or_si128(_mm_or_si128(a0, a1), _mm_or_si128(a2, a3));
        if (_mm_movemask_epi8(v) != 0) break;
        i += 64;
      }
      while (i + 16 <= n) {
        __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + i));
        bs = _mm_or_si128(bs, _mm_cmpeq_epi8(v, kbs));
        if (_mm_movemask_epi8(v) != 0) break;
        i += 16;
      }
      if (_mm_movemask_epi8(bs) != 0) backslash_ = true;
#endif
      while (i + 8 <= n) {
        uint64_t w;
        std::memcpy(&w, b + i, 8);
        const uint64_t x = w ^ 0x5C5C5C5C5C5C5C5Cull;  // a zero byte where w has '\\'
        if ((x - 0x0101010101010101ull) & ~x & 0x8080808080808080ull) backslash_ = true;
        if (w & 0x8080808080808080ull) break;
        i += 8;
      }
      if (i >= n) break;
      unsigned char c = b[i++];
      if (c == '\\') backslash_ = true;
      if (c < 0x80) continue;
      ascii_ = false;
      lo_ = 0x80;
      hi_ = 0xBF;
      if (c >= 0xC2 && c <= 0xDF) {
        need_ = 1;
      } else if (c >= 0xE0 && c <= 0xEF) {
        need_ = 2;
        if (c == 0xE0) lo_ = 0xA0;
        if (c == 0xED) hi_ = 0x9F;
      } else if (c >= 0xF0 && c <= 0xF4) {
        need_ = 3;
        if (c == 0xF0) lo_ = 0x90;
        if (c == 0xF4) hi_ = 0x8F;
      } else {
        ok_ = false;
      }
      continue;
    }
    unsigned char c = b[i++];
    if (c < lo_ || c > hi_) {
      ok_ = false;
      break;
    }
    lo_ = 0x80;
    hi_ = 0xBF;
    --need_;
  }
}

bool ValidUtf8(std::string_view text) {
  Utf8Checker c;
  c.Feed(text);
  return c.Done();
}

}  // namespace tollgate::scan::internal
