// The key-word prefilter of the injection phrases
// (internal/injection_prefilter.h says what it does and why it is exact).
#include "stdlib/internal/injection_prefilter.h"

#include <re2/re2.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdint>
#include <set>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "engine/scan/scanner.h"
#include "stdlib/internal/injection_long_keys.h"
#include "stdlib/internal/injection_short_keys.h"

namespace tollgate::stdlib::internal {

namespace {

constexpr int kInf = 1 << 28;  // "unbounded" letter/digit count

bool Alnum(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
char Low(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
int AddMax(int a, int b) { return std::min(kInf, a + b); }

// ---------------------------------------------------------------------------
// The phrase syntax, as far as the table uses it.

struct Node {
  enum Kind : uint8_t { kChar, kSep, kNothing, kClass, kGroup } kind = kNothing;
  char c = 0;
  int class_alnum = 0;  // kClass: 1 when it may match a letter or digit
  std::vector<std::vector<Node>> alts;  // kGroup
  int min = 1, max = 1;  // the quantifier; max -1: unbounded
};

class Parser {
 public:
  explicit Parser(std::string_view p) : p_(p) {}
  // False on syntax this reader does not know (the phrase then has no plan).
  bool Parse(std::vector<Node>* out) {
    *out = Seq();
    return ok_ && i_ == p_.size();
  }

 private:
  std::vector<Node> Seq() {
    std::vector<Node> seq;
    while (ok_ && i_ < p_.size() && p_[i_] != ')' && p_[i_] != '|') {
      Node n = Atom();
      if (ok_) Quant(&n);
      seq.push_back(std::move(n));
    }
    return seq;
  }

  Node Atom() {
    Node n;
    const char c = p_[i_];
    if (c == '(') {
      // (?: and flag groups such as (?m:; no capturing groups.
      const size_t colon = p_.find(':', i_);
      if (p_.substr(i_, 2) != "(?" || colon == std::string_view::npos) return Fail();
      for (size_t k = i_ + 2; k < colon; ++k) {
        if (p_[k] < 'a' || p_[k] > 'z') return Fail();
      }
      i_ = colon + 1;
      n.kind = Node::kGroup;
      for (;;) {
        n.alts.push_back(Seq());
        if (!ok_ || i_ >= p_.size()) return Fail();
        if (p_[i_++] == ')') break;  // else '|'
      }
      return n;
    }
    if (c == '[') return Class();
    if (c == '\\') return Escape();
    ++i_;
    if (c == ' ') {
      n.kind = Node::kSep;
    } else if (c == '^' || c == '$') {
      n.kind = Node::kNothing;
    } else if (c == '.') {
      n.kind = Node::kClass;
      n.class_alnum = 1;
    } else if (c == '*' || c == '+' || c == '?' || c == '{' || c == ')' || c == '|') {
      return Fail();
    } else {
      n.kind = Node::kChar;
      n.c = Low(c);
    }
    return n;
  }

  Node Escape() {
    Node n;
    if (i_ + 1 >= p_.size()) return Fail();
    const char e = p_[i_ + 1];
    i_ += 2;
    switch (e) {
      case 'b': case 'B':
        n.kind = Node::kNothing;
        return n;
      case 's': case 'W':
        n.kind = Node::kClass;
        n.class_alnum = 0;
        return n;
      case 'S': case 'w': case 'd': case 'D':
        n.kind = Node::kClass;
        n.class_alnum = 1;
        return n;
      case 't': n.c = '\t'; break;
      case 'n': n.c = '\n'; break;
      case 'r': n.c = '\r'; break;
      case 'f': n.c = '\f'; break;
      case 'x': {
        auto hex = [](char h) {
          h = Low(h);
          return h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : -1;
        };
        if (i_ + 1 >= p_.size() || hex(p_[i_]) < 0 || hex(p_[i_ + 1]) < 0) return Fail();
        n.c = static_cast<char>(hex(p_[i_]) * 16 + hex(p_[i_ + 1]));
        i_ += 2;
        break;
      }
      default:
        if (Alnum(static_cast<unsigned char>(e))) return Fail();  // \pL, \A, \z, ...
        n.c = e;  // escaped punctuation
    }
    n.kind = Node::kChar;
    n.c = Low(n.c);
    return n;
  }

  // A class: whether it may match an ASCII letter or digit (a negated one
  // is taken to).
  Node Class() {
    Node n;
    n.kind = Node::kClass;
    ++i_;
    bool negated = false;
    if (i_ < p_.size() && p_[i_] == '^') {
      negated = true;
      ++i_;
    }
    bool first = true;
    while (i_ < p_.size() && (p_[i_] != ']' || first)) {
      first = false;
      const char c = p_[i_];
      if (c == '\\' && i_ + 1 < p_.size()) {
        const char e = p_[i_ + 1];
        if (e == 'w' || e == 'd' || e == 'S' || e == 'D' || e == 'W') n.class_alnum = 1;
        i_ += (e == 'x') ? 4 : 2;
        continue;
      }
      if (c == '-' || c == '[') n.class_alnum = 1;  // ranges, nested classes: may
      if (Alnum(static_cast<unsigned char>(c))) n.class_alnum = 1;
      ++i_;
    }
    if (i_ >= p_.size()) return Fail();
    ++i_;  // ']'
    if (negated) n.class_alnum = 1;
    return n;
  }

  void Quant(Node* n) {
    if (i_ >= p_.size()) return;
    const char q = p_[i_];
    if (q == '?') {
      n->min = 0, n->max = 1;
    } else if (q == '*') {
      n->min = 0, n->max = -1;
    } else if (q == '+') {
      n->min = 1, n->max = -1;
    } else if (q == '{') {
      const size_t close = p_.find('}', i_);
      if (close == std::string_view::npos) {
        Fail();
        return;
      }
      const std::string body(p_.substr(i_ + 1, close - i_ - 1));
      const size_t comma = body.find(',');
      try {
        n->min = std::stoi(body.substr(0, comma));
        n->max = comma == std::string::npos ? n->min
                 : comma + 1 == body.size() ? -1
                                            : std::stoi(body.substr(comma + 1));
      } catch (...) {
        Fail();
        return;
      }
      i_ = close;
    } else {
      return;
    }
    ++i_;
    if (i_ < p_.size() && p_[i_] == '?') ++i_;  // lazy: the same set
  }

  Node Fail() {
    ok_ = false;
    i_ = p_.size();
    return Node{};
  }

  std::string_view p_;
  size_t i_ = 0;
  bool ok_ = true;
};

int MaxAlnum(const std::vector<Node>& seq);

int NodeMax(const Node& n) {
  int base = 0;
  switch (n.kind) {
    case Node::kChar: base = Alnum(static_cast<unsigned char>(n.c)) ? 1 : 0; break;
    case Node::kClass: base = n.class_alnum; break;
    case Node::kGroup:
      for (const auto& alt : n.alts) base = std::max(base, MaxAlnum(alt));
      break;
    default: break;
  }
  if (base == 0) return 0;
  if (n.max < 0) return kInf;
  return static_cast<int>(std::min<int64_t>(kInf, int64_t{base} * n.max));
}

int MaxAlnum(const std::vector<Node>& seq) {
  int m = 0;
  for (const Node& n : seq) m = AddMax(m, NodeMax(n));
  return m;
}

constexpr char kSepMark = '\x01';  // a separator inside an enumerated string
constexpr size_t kMaxStrings = 4096;

// Every string `seq` can spell (lower case, kSepMark for a separator), or
// false when it is not a finite set of literals.
bool Enumerate(const std::vector<Node>& seq, std::vector<std::string>* out) {
  std::set<std::string> cur = {""};
  for (const Node& n : seq) {
    std::vector<std::string> opts;
    if (n.kind == Node::kNothing) continue;
    if (n.kind == Node::kClass || n.max < 0 || n.max > 1) return false;
    if (n.kind == Node::kChar) {
      opts = {std::string(1, n.c)};
    } else if (n.kind == Node::kSep) {
      opts = {std::string(1, kSepMark)};
    } else {
      for (const auto& alt : n.alts) {
        std::vector<std::string> a;
        if (!Enumerate(alt, &a)) return false;
        opts.insert(opts.end(), a.begin(), a.end());
      }
    }
    if (n.min == 0) opts.emplace_back();
    std::set<std::string> next;
    for (const std::string& s : cur) {
      for (const std::string& o : opts) {
        std::string t = s;
        for (char c : o) {
          if (c == kSepMark && !t.empty() && t.back() == kSepMark) continue;  // one mark per run
          t.push_back(c);
        }
        next.insert(std::move(t));
        if (next.size() > kMaxStrings) return false;
      }
    }
    cur = std::move(next);
  }
  out->assign(cur.begin(), cur.end());
  return true;
}

// ---------------------------------------------------------------------------
// Units and plans.

struct Unit {
  enum Kind : uint8_t { kSlot, kSep, kZero, kStar, kOther } kind = kOther;
  std::vector<Node> nodes;
  std::vector<std::string> strings;  // kSlot: what it spells; kStar: its words
  int max_alnum = 0;
  // kSlot: every string is non-empty and starts and ends with a non-separator
  // (so it has a first and a last word).
  bool usable = false;
};

std::string FirstWord(const std::string& s) { return s.substr(0, s.find(kSepMark)); }
std::string LastWord(const std::string& s) {
  const size_t k = s.rfind(kSepMark);
  return k == std::string::npos ? s : s.substr(k + 1);
}

void FinishSlot(std::vector<Unit>* units, std::vector<Node>* pending) {
  if (pending->empty()) return;
  Unit u;
  u.nodes = std::move(*pending);
  pending->clear();
  u.max_alnum = MaxAlnum(u.nodes);
  if (Enumerate(u.nodes, &u.strings)) {
    u.kind = Unit::kSlot;
    u.usable = !u.strings.empty();
    for (const std::string& s : u.strings) {
      if (s.empty() || s.front() == kSepMark || s.back() == kSepMark) u.usable = false;
    }
  } else {
    u.kind = u.max_alnum == 0 ? Unit::kZero : Unit::kOther;
    u.strings.clear();
  }
  units->push_back(std::move(u));
}

std::vector<Unit> UnitsOf(const std::vector<Node>& seq) {
  std::vector<Unit> units;
  std::vector<Node> pending;
  for (const Node& n : seq) {
    const bool literal = (n.kind == Node::kChar || n.kind == Node::kGroup) && n.max >= 0 && n.max <= 1;
    if (literal) {
      pending.push_back(n);
      continue;
    }
    FinishSlot(&units, &pending);
    Unit u;
    u.nodes = {n};
    u.max_alnum = NodeMax(n);
    if (n.kind == Node::kSep) {
      u.kind = Unit::kSep;
    } else if (n.kind == Node::kChar && n.min >= 1) {
      // c{m,}, c{m,n}: every occurrence starts and ends with m copies of c.
      u.kind = Unit::kSlot;
      u.strings = {std::string(static_cast<size_t>(std::min(n.min, 8)), n.c)};
      u.usable = true;
    } else if (n.kind == Node::kGroup && n.max < 0) {
      // (?:(?:w1|w2) )*: walked back word by word when it stands just left
      // of the key (each iteration a word of letters and digits, then
      // separators).
      Node once = n;
      once.min = once.max = 1;
      std::vector<std::string> s;
      bool words = Enumerate({once}, &s);
      std::set<std::string> ws;
      for (const std::string& x : s) {
        std::string w = x;
        while (!w.empty() && w.back() == kSepMark) w.pop_back();
        words = words && !w.empty() &&
                std::all_of(w.begin(), w.end(), [](char c) { return Alnum(static_cast<unsigned char>(c)); });
        ws.insert(w);
      }
      u.kind = words ? Unit::kStar : (u.max_alnum == 0 ? Unit::kZero : Unit::kOther);
      if (words) u.strings.assign(ws.begin(), ws.end());
    } else {
      u.kind = u.max_alnum == 0 ? Unit::kZero : Unit::kOther;
    }
    units.push_back(std::move(u));
  }
  FinishSlot(&units, &pending);
  return units;
}

// Only non-alphanumeric bytes can lie in a match of this unit.
bool Transparent(const Unit& u) { return u.max_alnum == 0 && u.kind != Unit::kStar; }

// Very common English words: poor keys (speed only).
bool Common(std::string_view w) {
  static const std::set<std::string_view> kCommon = {
      "a",   "am",  "an",   "and",  "any", "are",  "as",   "at",   "be",  "by",   "do",
      "for", "from", "i",   "in",   "is",  "it",   "its",  "me",   "my",  "new",  "no",
      "not", "now", "of",   "on",   "or",  "so",   "the",  "this", "to",  "was",  "were",
      "what", "with", "you", "your", "all", "that", "will", "can",  "have", "been", "just"};
  return kCommon.count(w) != 0;
}

// Words that prompts to a model hold often: weaker keys (speed only).
bool Frequent(std::string_view w) {
  static const std::set<std::string_view> kFrequent = {
      "prompt", "prompts", "rules", "instruction", "instructions", "system", "message", "content",
      "mode",   "model",   "response", "text", "policy", "code", "data", "user", "assistant"};
  return kFrequent.count(w) != 0;
}

int Weight(const std::vector<std::string>& words) {
  int w = kInf;
  for (const std::string& s : words) {
    w = std::min(w, static_cast<int>(s.size()) - (Common(s) ? 10 : 0) - (Frequent(s) ? 4 : 0));
  }
  return w;
}

std::vector<std::string> Words(const Unit& u, bool first) {
  std::set<std::string> out;
  for (const std::string& s : u.strings) out.insert(first ? FirstWord(s) : LastWord(s));
  return {out.begin(), out.end()};
}

struct Plan : PrefilterPlan {
  std::vector<std::string> star_words;
  int group = 0;
  // The partner words by the byte the check reads first (their first byte
  // for a partner on the right, their last for one on the left, lower
  // case): partners[by_byte[c] .. by_byte[c + 1]) after sorting.
  std::vector<uint16_t> by_byte;
  bool punct_partner = false;  // some partner word has punctuation at the read end
};

// Sorts p->partners by the byte its check reads first and indexes them.
void IndexPartners(Plan* p) {
  auto byte_of = [&](const std::string& w) {
    return static_cast<unsigned char>(p->partner_left ? w.back() : w.front());
  };
  std::stable_sort(p->partners.begin(), p->partners.end(),
                   [&](const std::string& a, const std::string& b) { return byte_of(a) < byte_of(b); });
  p->by_byte.assign(257, 0);
  for (const std::string& w : p->partners) {
    ++p->by_byte[byte_of(w) + 1u];
    p->punct_partner = p->punct_partner || !Alnum(byte_of(w));
  }
  for (size_t c = 0; c < 256; ++c) p->by_byte[c + 1] += p->by_byte[c];
}

// The best plan for one phrase's units, or false when none is usable.
bool PlanOf(const std::vector<Unit>& units, Plan* best) {
  int best_score = -kInf - 1;
  for (size_t k = 0; k < units.size(); ++k) {
    const Unit& key = units[k];
    if (key.kind != Unit::kSlot || !key.usable) continue;
    int right = 0;
    for (size_t j = k; j < units.size(); ++j) right = AddMax(right, units[j].max_alnum);
    if (right >= kInf) continue;
    // Left: a word repeat just before the key is walked back.
    int left = 0;
    bool star = false;
    std::vector<std::string> star_words;
    size_t j = k;
    while (j > 0 && Transparent(units[j - 1])) --j;
    if (j > 0 && units[j - 1].kind == Unit::kStar) {
      star = true;
      star_words = units[j - 1].strings;
      j -= 1;
    } else {
      j = k;
    }
    for (size_t i = 0; i < j; ++i) left = AddMax(left, units[i].max_alnum);
    if (left >= kInf) continue;
    const std::vector<std::string> keys = Words(key, true);
    auto consider = [&](int score, const std::vector<std::string>& ks, bool at_end,
                        std::vector<std::string> partners, bool partner_left) {
      if (score <= best_score) return;
      best_score = score;
      best->keys = ks;
      best->key_at_end = at_end;
      best->partners = std::move(partners);
      best->partner_left = partner_left;
      best->star = star && !at_end;
      best->star_words = star_words;
      // A key at the slot's end: the slot lies left of it.
      best->left = at_end ? AddMax(left, key.max_alnum) : left;
      best->right = at_end ? right - key.max_alnum : right;
    };
    consider(Weight(keys), keys, false, {}, false);
    // Or its last words, where the slot ends (no word repeat walked then:
    // the slot's start is not known).
    const std::vector<std::string> last = Words(key, false);
    if (!star) consider(Weight(last), last, true, {}, false);
    // A partner: the nearest usable slot with only non-alphanumeric bytes
    // between (a required slot, so its words are there).
    size_t r = k + 1;
    while (r < units.size() && Transparent(units[r]) && !(units[r].kind == Unit::kSlot && units[r].usable)) ++r;
    // A partner right of a key at the slot's start only when the slot is
    // one word ("switch into": after "switch" comes "into", not the partner).
    const bool one_word = std::none_of(key.strings.begin(), key.strings.end(), [](const std::string& x) {
      return x.find(kSepMark) != std::string::npos;
    });
    if (r < units.size() && units[r].kind == Unit::kSlot && units[r].usable) {
      if (one_word) consider(Weight(keys) + 2, keys, false, Words(units[r], true), false);
      if (!star) consider(Weight(last) + 2, last, true, Words(units[r], true), false);
    }
    size_t l = k;
    while (l > 0 && Transparent(units[l - 1]) && !(units[l - 1].kind == Unit::kSlot && units[l - 1].usable)) --l;
    if (l > 0 && units[l - 1].kind == Unit::kSlot && units[l - 1].usable) {
      consider(Weight(keys) + 2, keys, false, Words(units[l - 1], false), true);
    }
  }
  return best_score > -kInf - 1;
}

// ---------------------------------------------------------------------------
// Matching.

bool EqualAt(std::string_view t, size_t at, std::string_view w) {
  if (at > t.size() || t.size() - at < w.size()) return false;
  for (size_t k = 0; k < w.size(); ++k) {
    if (Low(t[at + k]) != w[k]) return false;
  }
  return true;
}

constexpr size_t kMaxRun = 256;  // longer separator runs: the partner check passes

// The partner words of `p` whose byte `c` (lower case) is read first.
std::pair<const std::string*, const std::string*> Bucket(const Plan& p, unsigned char c) {
  const std::string* base = p.partners.data();
  return {base + p.by_byte[c], base + p.by_byte[c + 1u]};
}

// A partner word starts where the non-alphanumeric run from `e` on ends (or,
// for a word that starts with punctuation, anywhere in that run).
bool PartnerRight(std::string_view t, size_t e, const Plan& p) {
  size_t r = e;
  while (r < t.size() && !Alnum(static_cast<unsigned char>(t[r]))) ++r;
  if (r < t.size()) {
    for (auto [w, end] = Bucket(p, static_cast<unsigned char>(Low(t[r]))); w != end; ++w) {
      if (EqualAt(t, r, *w)) return true;
    }
  }
  if (!p.punct_partner) return false;
  if (r - e > kMaxRun) return true;
  for (size_t q = e; q < r; ++q) {
    for (auto [w, end] = Bucket(p, static_cast<unsigned char>(t[q])); w != end; ++w) {
      if (EqualAt(t, q, *w)) return true;
    }
  }
  return false;
}

// A partner word ends where the non-alphanumeric run before `s` starts (or,
// for a word that ends with punctuation, anywhere in that run).
bool PartnerLeft(std::string_view t, size_t s, const Plan& p) {
  size_t l = s;
  while (l > 0 && !Alnum(static_cast<unsigned char>(t[l - 1]))) --l;
  if (l > 0) {
    for (auto [w, end] = Bucket(p, static_cast<unsigned char>(Low(t[l - 1]))); w != end; ++w) {
      if (l >= w->size() && EqualAt(t, l - w->size(), *w)) return true;
    }
  }
  if (!p.punct_partner) return false;
  if (s - l > kMaxRun) return true;
  for (size_t q = l + 1; q <= s; ++q) {
    for (auto [w, end] = Bucket(p, static_cast<unsigned char>(t[q - 1])); w != end; ++w) {
      if (q >= w->size() && EqualAt(t, q - w->size(), *w)) return true;
    }
  }
  return false;
}

size_t WalkLeftScalar(std::string_view t, size_t i, int budget) {
  int count = 0;
  while (i > 0) {
    if (Alnum(static_cast<unsigned char>(t[i - 1]))) {
      if (count == budget) break;
      ++count;
    }
    --i;
  }
  return i;
}

size_t WalkRightScalar(std::string_view t, size_t i, int budget) {
  int count = 0;
  while (i < t.size()) {
    if (Alnum(static_cast<unsigned char>(t[i]))) {
      if (count == budget) break;
      ++count;
    }
    ++i;
  }
  return i;
}

#if defined(__SSE2__)
// Bit k: p[k] is an ASCII letter or digit (16 bytes).
unsigned AlnumBits(const char* p) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  auto in = [](__m128i x, char lo, char span) {  // lo <= x <= lo + span, unsigned
    const __m128i d = _mm_sub_epi8(x, _mm_set1_epi8(lo));
    return _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(span)), d);
  };
  const __m128i letter = in(_mm_or_si128(v, _mm_set1_epi8(0x20)), 'a', 25);
  return static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(letter, in(v, '0', 9))));
}
#endif

// WalkLeftScalar 16 bytes a step: the same result.
size_t WalkLeft(std::string_view t, size_t i, int budget) {
#if defined(__SSE2__)
  int count = 0;
  while (i >= 16) {
    unsigned m = AlnumBits(t.data() + i - 16);
    const int c = std::popcount(m);
    if (count + c <= budget) {
      count += c;
      i -= 16;
      continue;
    }
    // The (budget - count + 1)-th letter or digit from the top stops the walk.
    for (int k = count; k < budget; ++k) m &= ~(0x80000000u >> std::countl_zero(m));
    return i - 16 + static_cast<size_t>(31 - std::countl_zero(m)) + 1;
  }
  return WalkLeftScalar(t.substr(0, i), i, budget - count);
#else
  return WalkLeftScalar(t, i, budget);
#endif
}

// WalkRightScalar 16 bytes a step: the same result.
size_t WalkRight(std::string_view t, size_t i, int budget) {
#if defined(__SSE2__)
  int count = 0;
  while (i + 16 <= t.size()) {
    unsigned m = AlnumBits(t.data() + i);
    const int c = std::popcount(m);
    if (count + c <= budget) {
      count += c;
      i += 16;
      continue;
    }
    for (int k = count; k < budget; ++k) m &= m - 1;
    return i + static_cast<size_t>(std::countr_zero(m));
  }
  return WalkRightScalar(t, i, budget - count);
#else
  return WalkRightScalar(t, i, budget);
#endif
}

// What a key hit's neighbouring word must begin with (on the right; end
// with, on the left) for some partner of the key's entries on that side:
// a filter in front of PartnerRight / PartnerLeft. Those byte compares
// stop at the first differing byte and cost a mispredicted branch or two
// per entry and hit on prose the branch predictor has not seen (a key's
// neighbour is any word); the filter asks one bit, so a hit whose
// neighbour is no partner (most, in prose) skips its entries without a
// branch on the text. A superset by construction: each partner word sets
// the bit of its first (last) three bytes, every byte value where the word
// is shorter, and a word with punctuation where the check reads first may
// lie anywhere in the run between the two, so any of its first (last)
// bytes in the run passes.
struct PartnerFilter {
  std::vector<uint64_t> bits;  // kFilterBits, by FilterHash; empty: no partner on this side
  std::string punct;           // the read-first bytes of words with punctuation there
};

constexpr uint32_t kFilterLog = 13;

// Three bytes (their low five bits: a letter's case does not matter) to
// kFilterLog bits.
uint32_t FilterHash(unsigned char a, unsigned char b, unsigned char c) {
  const uint32_t x = (uint32_t{a} & 31u) << 10 | (uint32_t{b} & 31u) << 5 | (uint32_t{c} & 31u);
  return (x * 0x9E3779B1u) >> (32 - kFilterLog);
}

void AddToFilter(const std::string& w, bool left, PartnerFilter* f) {
  if (f->bits.empty()) f->bits.assign((size_t{1} << kFilterLog) / 64, 0);
  const unsigned char first = static_cast<unsigned char>(left ? w.back() : w.front());
  if (!Alnum(first)) {
    if (f->punct.find(static_cast<char>(first)) == std::string::npos) f->punct += static_cast<char>(first);
    return;
  }
  // The word's bytes in reading order (from the start on the right, from
  // the end on the left), lowered; a position past the word: any byte.
  auto choices = [&](size_t k) {
    std::vector<unsigned> out;
    if (k < w.size()) {
      out.push_back(static_cast<unsigned char>(left ? w[w.size() - 1 - k] : w[k]));
    } else {
      for (unsigned v = 0; v < 32; ++v) out.push_back(v);
    }
    return out;
  };
  for (unsigned a : choices(0)) {
    for (unsigned b : choices(1)) {
      for (unsigned c : choices(2)) {
        // On the left the bytes hash in text order: t[l-3], t[l-2], t[l-1].
        const uint32_t h = left ? FilterHash(static_cast<unsigned char>(c), static_cast<unsigned char>(b),
                                             static_cast<unsigned char>(a))
                                : FilterHash(static_cast<unsigned char>(a), static_cast<unsigned char>(b),
                                             static_cast<unsigned char>(c));
        f->bits[h / 64] |= uint64_t{1} << (h % 64);
      }
    }
  }
}

bool FilterHas(const PartnerFilter& f, uint32_t h) { return (f.bits[h / 64] >> (h % 64) & 1) != 0; }

#if defined(__SSE2__)
// Whether one of `bytes` is among the 16 at p where `run` has a bit.
bool AnyByteIn(const char* p, unsigned run, const std::string& bytes) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  unsigned found = 0;
  for (char c : bytes) found |= static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(c))));
  return (found & run) != 0;
}
#endif

// False only when no partner in `f` can start where the non-alphanumeric
// run from `e` on ends (nor, with punctuation, in it).
bool MayPartnerRight(std::string_view t, size_t e, const PartnerFilter& f) {
  if (f.bits.empty()) return false;
#if defined(__SSE2__)
  if (t.size() >= 32 && e <= t.size() - 32) {
    const unsigned m = AlnumBits(t.data() + e);
    if (m != 0) {  // else a run of 16 bytes or more: the byte compares decide
      const size_t r = e + static_cast<size_t>(std::countr_zero(m));
      const auto* u = reinterpret_cast<const unsigned char*>(t.data());
      bool may = FilterHas(f, FilterHash(u[r], u[r + 1], u[r + 2]));
      if (!f.punct.empty()) may |= AnyByteIn(t.data() + e, (m - 1) & ~m, f.punct);
      return may;
    }
  }
#endif
  return true;
}

// The same for a partner ending where the run before `s` starts.
bool MayPartnerLeft(std::string_view t, size_t s, const PartnerFilter& f) {
  if (f.bits.empty()) return false;
#if defined(__SSE2__)
  if (s >= 32 && s <= t.size()) {
    const unsigned m = AlnumBits(t.data() + s - 16);
    if (m != 0) {
      const int last = 31 - std::countl_zero(m);  // the run's last letter or digit
      const size_t l = s - 16 + static_cast<size_t>(last) + 1;
      const auto* u = reinterpret_cast<const unsigned char*>(t.data());
      bool may = FilterHas(f, FilterHash(u[l - 3], u[l - 2], u[l - 1]));
      if (!f.punct.empty()) may |= AnyByteIn(t.data() + s - 16, 0xFFFEu << last & 0xFFFFu, f.punct);
      return may;
    }
  }
#endif
  return true;
}

// The leftmost place a repeat of `words` (each followed by non-alphanumeric
// bytes) ending at `p` can start. Every word ending where the walk stands
// is followed (one may be a suffix of another: from `ab`, `xab` reads as
// `x`+`ab` or as `xa`+`b`), each start once.
size_t StarWalk(std::string_view t, size_t p, const std::vector<std::string>& words) {
  thread_local std::vector<size_t> todo;
  thread_local std::vector<size_t> seen;
  todo.assign(1, p);
  seen.assign(1, p);
  size_t least = p;
  while (!todo.empty()) {
    size_t q = todo.back();
    todo.pop_back();
    while (q > 0 && !Alnum(static_cast<unsigned char>(t[q - 1]))) --q;
    for (const std::string& w : words) {
      if (q < w.size() || !EqualAt(t, q - w.size(), w)) continue;
      const size_t start = q - w.size();
      if (std::find(seen.begin(), seen.end(), start) != seen.end()) continue;
      if (seen.size() > 256) return 0;  // pathological (a linear search each): from the text's start
      seen.push_back(start);
      todo.push_back(start);
      least = std::min(least, start);
    }
  }
  return least;
}

std::atomic<uint64_t> next_serial{1};


// What one key literal asks for one group: the plans of that group keyed by
// it, merged (partner words united, budgets the largest, word repeats
// united: a superset of each plan's test and window). A plan without a
// partner makes the entry partnerless.
struct Entry {
  int group = 0;
  bool at_end = false;      // the key ends its slot (else starts it)
  bool star = false;
  std::vector<std::string> star_words;
  int left = 0, right = 0;
  Plan partner;             // partners, partner_left, by_byte (empty: none)
};

}  // namespace

struct PhrasePrefilter::Impl {
  std::vector<PrefilterPlan> public_plans;
  std::vector<std::string> group_patterns;  // per group: its phrases' alternation, for RE2
  std::vector<std::string> literals;        // Hyperscan's, fold literals last
  std::vector<std::vector<Entry>> entries;  // per literal
  // Per literal: its size, whether some entry has no partner (every hit
  // then walks its entries), and its entries' partners as filters.
  struct Key {
    uint32_t size = 0;
    bool partnerless = false;
    PartnerFilter right, left;
  };
  std::vector<Key> keys;
  size_t fold_first = 0;                    // literals from here: U+212A, U+017F
  // With AVX-512 VBMI the literals shorter than four bytes (short_keys)
  // and the others (long_keys); without it, or for those the finders do not
  // take, Hyperscan's (null when none; hs_id: its ids -> literals).
  std::unique_ptr<scan::LiteralScanner> scanner;
  std::vector<uint32_t> hs_id;
  ShortLiteralFinder short_keys;
  LongLiteralFinder long_keys;
  uint64_t serial = next_serial++;
};

PhrasePrefilter::PhrasePrefilter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PhrasePrefilter::~PhrasePrefilter() = default;

const std::vector<PrefilterPlan>& PhrasePrefilter::plans() const { return impl_->public_plans; }

std::vector<std::string> PhrasePrefilter::hyperscan_literals() const {
  std::vector<std::string> out;
  for (uint32_t id : impl_->hs_id) out.push_back(impl_->literals[id]);
  return out;
}

std::vector<std::string> PhrasePrefilter::literals() const { return impl_->literals; }

std::vector<std::string> PhrasePrefilter::long_key_literals() const {
  std::vector<std::string> out;
  for (const auto& bucket : impl_->long_keys.Buckets()) out.insert(out.end(), bucket.begin(), bucket.end());
  return out;
}

std::unique_ptr<PhrasePrefilter> PhrasePrefilter::Build(const std::vector<PrefilterPhrase>& phrases,
                                                        std::string* error,
                                                        std::string_view drop_key, bool finders) {
  auto impl = std::make_unique<Impl>();
  for (const PrefilterPhrase& ph : phrases) {
    std::vector<Node> seq;
    Plan plan;
    if (ph.group < 0 || ph.group >= 32 || !Parser(ph.source).Parse(&seq) ||
        !PlanOf(UnitsOf(seq), &plan)) {
      *error = "no prefilter plan for `" + std::string(ph.source) + "`";
      return nullptr;
    }
    impl->public_plans.push_back(plan);
    const size_t g = static_cast<size_t>(ph.group);
    if (impl->group_patterns.size() <= g) impl->group_patterns.resize(g + 1);
    std::string& alt = impl->group_patterns[g];
    alt += (alt.empty() ? "(?:" : "|(?:") + ph.pattern + ")";
    for (const std::string& k : plan.keys) {
      if (k == drop_key) continue;
      auto it = std::find(impl->literals.begin(), impl->literals.end(), k);
      if (it == impl->literals.end()) {
        impl->literals.push_back(k);
        impl->entries.emplace_back();
        it = impl->literals.end() - 1;
      }
      std::vector<Entry>& es = impl->entries[static_cast<size_t>(it - impl->literals.begin())];
      auto e = std::find_if(es.begin(), es.end(), [&](const Entry& x) {
        return x.group == ph.group && x.at_end == plan.key_at_end &&
               (x.partner.partners.empty() || plan.partners.empty() ||
                x.partner.partner_left == plan.partner_left);
      });
      if (e == es.end()) {
        Entry n;
        n.group = ph.group;
        n.at_end = plan.key_at_end;
        n.star = plan.star;
        n.star_words = plan.star_words;
        n.left = plan.left;
        n.right = plan.right;
        n.partner.partners = plan.partners;
        n.partner.partner_left = plan.partner_left;
        es.push_back(std::move(n));
        continue;
      }
      const bool had_partner = !e->partner.partners.empty();
      e->star = e->star || plan.star;
      e->star_words.insert(e->star_words.end(), plan.star_words.begin(), plan.star_words.end());
      e->left = std::max(e->left, plan.left);
      e->right = std::max(e->right, plan.right);
      if (!had_partner || plan.partners.empty()) {
        e->partner.partners.clear();
      } else {
        e->partner.partners.insert(e->partner.partners.end(), plan.partners.begin(), plan.partners.end());
      }
    }
  }
  for (auto& es : impl->entries) {
    for (Entry& e : es) {
      auto& w = e.partner.partners;
      std::sort(w.begin(), w.end());
      w.erase(std::unique(w.begin(), w.end()), w.end());
      std::sort(e.star_words.begin(), e.star_words.end());
      e.star_words.erase(std::unique(e.star_words.begin(), e.star_words.end()), e.star_words.end());
      IndexPartners(&e.partner);
    }
  }
  impl->keys.resize(impl->entries.size());
  for (size_t i = 0; i < impl->entries.size(); ++i) {
    Impl::Key& key = impl->keys[i];
    key.size = static_cast<uint32_t>(impl->literals[i].size());
    for (const Entry& e : impl->entries[i]) {
      key.partnerless = key.partnerless || e.partner.partners.empty();
      for (const std::string& w : e.partner.partners) {
        AddToFilter(w, e.partner.partner_left, e.partner.partner_left ? &key.left : &key.right);
      }
    }
  }
  impl->fold_first = impl->literals.size();
  impl->literals.push_back("\xE2\x84\xAA");  // U+212A KELVIN SIGN: k to RE2
  impl->literals.push_back("\xC5\xBF");      // U+017F LATIN SMALL LETTER LONG S: s to RE2
  // Hyperscan's literal matcher is slow on these caseless letter words in
  // prose (0.33 ns per byte) and slower still with literals shorter than
  // four bytes in its set: with AVX-512 VBMI both kinds are found apart, by
  // table lookups (internal/injection_short_keys.h, injection_long_keys.h);
  // without it those SIMD loops cost more than they save, and Hyperscan
  // keeps every literal.
  std::vector<std::string> hs_literals;
  const bool split = finders && ShortLiteralFinder::HaveIsa(2) && LongLiteralFinder::HaveIsa(2);
  for (size_t i = 0; i < impl->literals.size(); ++i) {
    const std::string& lit = impl->literals[i];
    const auto id = static_cast<uint32_t>(i);
    if (!split || !(lit.size() < 4 ? impl->short_keys.Add(lit, id) : impl->long_keys.Add(lit, id))) {
      hs_literals.push_back(lit);
      impl->hs_id.push_back(id);
    }
  }
  impl->long_keys.Seal();
  if (!hs_literals.empty()) {
    impl->scanner = scan::LiteralScanner::Build(hs_literals, /*caseless=*/true, error);
    if (!impl->scanner) return nullptr;
  }
  return std::unique_ptr<PhrasePrefilter>(new PhrasePrefilter(std::move(impl)));
}

namespace {
// This thread's copies of the groups' RE2s (no lock shared with other
// threads on their DFA caches), made on first use or by WarmThread.
const std::vector<std::unique_ptr<RE2>>& LocalGroupRes(const PhrasePrefilter::Impl& m) {
  struct Local {
    uint64_t serial = 0;
    std::vector<std::unique_ptr<RE2>> re;
  };
  thread_local Local local;
  if (local.serial != m.serial) {
    RE2::Options opt;
    opt.set_case_sensitive(false);
    opt.set_log_errors(false);
    local.re.clear();
    for (const std::string& p : m.group_patterns) local.re.push_back(std::make_unique<RE2>(p, opt));
    local.serial = m.serial;
    scan::CountThreadLocalBuild();
  }
  return local.re;
}
}  // namespace

void PhrasePrefilter::WarmThread() const {
  LocalGroupRes(*impl_);
  if (impl_->scanner != nullptr) impl_->scanner->WarmThread();
}

bool PhrasePrefilter::Match(std::string_view text, uint32_t* mask) const {
  const Impl& m = *impl_;
  thread_local std::vector<scan::LiteralScanner::Hit> hits;
  // Prose holds about one key per 100 bytes; far more: scan in full.
  const size_t max_hits = text.size() / 16 + 256;
  hits.clear();
  if (text.size() > UINT32_MAX) return false;  // hits and windows hold 32-bit offsets
  if (m.scanner != nullptr) {
    if (!m.scanner->Scan(text, max_hits, &hits)) return false;
    for (auto& h : hits) h.id = m.hs_id[h.id];
  }
  if (!m.short_keys.Find(text, max_hits, &hits) || !m.long_keys.Find(text, max_hits, &hits)) return false;
  struct Window {
    uint32_t group, start, end;
  };
  thread_local std::vector<Window> windows;
  windows.clear();
  for (const auto& h : hits) {
    if (h.id >= m.fold_first) return false;
    const Impl::Key& key = m.keys[h.id];
    const size_t s = h.end - key.size;
    if (!key.partnerless && !MayPartnerRight(text, h.end, key.right) && !MayPartnerLeft(text, s, key.left)) {
      continue;  // no entry's partner is next to this hit
    }
    for (const Entry& e : m.entries[h.id]) {
      if ((*mask >> e.group & 1) != 0) continue;
      const Plan& p = e.partner;
      if (!p.partners.empty() &&
          !(p.partner_left ? PartnerLeft(text, s, p) : PartnerRight(text, h.end, p))) {
        continue;
      }
      // The key slot starts at s (its first words) or ends at h.end (its last).
      const size_t at = e.at_end ? h.end : s;
      const size_t from = e.star ? StarWalk(text, s, e.star_words) : at;
      windows.push_back(Window{static_cast<uint32_t>(e.group),
                               static_cast<uint32_t>(WalkLeft(text, from, e.left)),
                               static_cast<uint32_t>(WalkRight(text, at, e.right))});
    }
  }
  if (windows.empty()) return true;
  std::sort(windows.begin(), windows.end(), [](const Window& a, const Window& b) {
    return a.group != b.group ? a.group < b.group : a.start < b.start;
  });
  const std::vector<std::unique_ptr<RE2>>& group_res = LocalGroupRes(m);
  size_t total = 0;
  for (size_t i = 0; i < windows.size();) {
    Window w = windows[i++];
    while (i < windows.size() && windows[i].group == w.group && windows[i].start <= w.end) {
      w.end = std::max(w.end, windows[i++].end);
    }
    if ((*mask >> w.group & 1) != 0) continue;
    total += w.end - w.start;
    if (total > 2 * text.size() + 4096) return false;  // windows cover the text: scan in full
    const RE2& re = *group_res[w.group];
    if (!re.ok()) return false;
    if (re.Match(re2::StringPiece(text.data(), text.size()), w.start, w.end, RE2::UNANCHORED,
                 nullptr, 0)) {
      *mask |= 1u << w.group;
    }
  }
  return true;
}

bool PrefilterPartnerFilter(std::string_view text, size_t at, const std::vector<std::string>& partners,
                            bool left, bool* may) {
  Plan p;
  p.partners = partners;
  p.partner_left = left;
  IndexPartners(&p);
  PartnerFilter f;
  for (const std::string& w : partners) AddToFilter(w, left, &f);
  *may = left ? MayPartnerLeft(text, at, f) : MayPartnerRight(text, at, f);
  return left ? PartnerLeft(text, at, p) : PartnerRight(text, at, p);
}

size_t PrefilterWalk(std::string_view text, size_t at, int budget, bool left, bool scalar) {
  if (scalar) return left ? WalkLeftScalar(text, at, budget) : WalkRightScalar(text, at, budget);
  return left ? WalkLeft(text, at, budget) : WalkRight(text, at, budget);
}

}  // namespace tollgate::stdlib::internal
