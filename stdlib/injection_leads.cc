// The injection phrases' prefilter (internal/injection_leads.h).
#include "stdlib/internal/injection_leads.h"

#include <re2/re2.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstring>
#include <iterator>
#include <map>
#include <utility>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#define TG_LEADS_AVX2 1
#include <immintrin.h>
#endif

namespace tollgate::stdlib::internal {

namespace {

bool IsWordByte(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool IsLetterByte(unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
bool IsLowerLetter(char c) { return c >= 'a' && c <= 'z'; }
char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// A lead being derived: its segments, and whether the next letter extends
// the last segment (no `\W*` in between).
struct Partial {
  std::vector<std::string> segs;
  bool open = false;
  // Appends phrase text made of [a-z'] and ' ' (a `\W*`).
  void Append(std::string_view text) {
    for (char c : text) {
      if (c == ' ') {
        open = false;
      } else {
        if (!open || segs.empty()) segs.emplace_back();
        segs.back().push_back(c);
        open = true;
      }
    }
  }
};

bool LeadChar(char c) { return IsLowerLetter(c) || c == '\''; }

// The byte classes of the word-start key: letters 1-26 (either case), other
// word bytes 27, other bytes 0 (never a word byte).
struct KeyClasses {
  uint8_t c[256] = {};
  KeyClasses() {
    for (int b = 0; b < 256; ++b) {
      const auto u = static_cast<unsigned char>(b);
      c[b] = IsLetterByte(u) ? static_cast<uint8_t>((u | 0x20) - 'a' + 1) : IsWordByte(u) ? 27 : 0;
    }
  }
};
const KeyClasses kKey;

uint32_t Key3(uint8_t a, uint8_t b, uint8_t c) { return (uint32_t{a} << 10) | (uint32_t{b} << 5) | c; }

}  // namespace

std::vector<PhraseLead> DeriveLeads(std::string_view src) {
  if (src.substr(0, 2) != "\\b") return {};
  constexpr size_t kMaxAlternatives = 32;
  std::vector<Partial> cur(1);
  size_t i = 2;
  auto quantified = [&](size_t k) {
    return k < src.size() && (src[k] == '?' || src[k] == '*' || src[k] == '+' || src[k] == '{');
  };
  // Each alternative of `cur` followed by each of `alts`; false (cur kept)
  // when that would make too many.
  auto extend = [&](const std::vector<std::string>& alts) {
    if (cur.size() * alts.size() > kMaxAlternatives) return false;
    std::vector<Partial> next;
    for (const Partial& p : cur) {
      for (const std::string& a : alts) {
        Partial q = p;
        q.Append(a);
        next.push_back(std::move(q));
      }
    }
    cur = std::move(next);
    return true;
  };
  while (i < src.size()) {
    if (src[i] == ' ') {
      for (Partial& p : cur) p.open = false;
      ++i;
      continue;
    }
    if (src.compare(i, 3, "(?:") == 0) {
      const size_t close = src.find(')', i);
      if (close == std::string_view::npos) break;
      const std::string_view body = src.substr(i + 3, close - i - 3);
      if (!std::all_of(body.begin(), body.end(),
                       [](char c) { return LeadChar(c) || c == ' ' || c == '|'; })) {
        break;  // nested groups, classes, escapes: the lead ends here
      }
      std::vector<std::string> alts;
      size_t from = 0;
      for (;;) {
        const size_t bar = body.find('|', from);
        alts.emplace_back(body.substr(from, bar == std::string_view::npos ? bar : bar - from));
        if (bar == std::string_view::npos) break;
        from = bar + 1;
      }
      bool ok = std::none_of(alts.begin(), alts.end(), [](const std::string& a) {
        return a.empty() || a.front() == ' ' || a.find("  ") != std::string::npos;
      });
      if (!ok) break;
      size_t after = close + 1;
      if (after < src.size() && src[after] == '?' && !quantified(after + 1)) {
        alts.emplace_back();  // an optional group: also nothing
        ++after;
      } else if (quantified(after)) {
        break;
      }
      if (!extend(alts)) break;
      i = after;
      continue;
    }
    if (LeadChar(src[i])) {
      size_t j = i;
      while (j < src.size() && LeadChar(src[j])) ++j;
      std::string w(src.substr(i, j - i));
      const bool stop = quantified(j);  // its last letter is optional or repeated
      if (stop) w.pop_back();
      if (!w.empty() && !extend({w})) break;
      if (stop) break;
      i = j;
      continue;
    }
    break;
  }
  std::vector<PhraseLead> out;
  for (const Partial& p : cur) {
    if (p.segs.empty()) return {};
    for (const std::string& s : p.segs) {
      // INVARIANT: segments begin and end with a letter, so the `\W*` runs
      // between them are exactly the maximal non-word runs.
      if (s.empty() || !IsLowerLetter(s.front()) || !IsLowerLetter(s.back())) return {};
    }
    PhraseLead lead;
    lead.segments = p.segs;
    lead.word_boundary = true;
    out.push_back(std::move(lead));
  }
  // A lead that another lead of the phrase begins with adds nothing: a text
  // holding the longer one holds the shorter one.
  std::vector<PhraseLead> kept;
  for (const PhraseLead& l : out) {
    const bool implied = std::any_of(out.begin(), out.end(), [&](const PhraseLead& o) {
      return &o != &l && o.segments.size() <= l.segments.size() &&
             std::equal(o.segments.begin(), o.segments.end(), l.segments.begin()) &&
             (o.segments.size() < l.segments.size() || &o < &l);
    });
    if (!implied) kept.push_back(l);
  }
  return kept;
}

// This thread's RE2 objects: one per pattern, and one alternation of the
// patterns of each anchor (built on a thread's first match).
struct LeadMatcher::Local {
  uint64_t serial = 0;
  std::vector<std::unique_ptr<RE2>> single;
  std::vector<std::unique_ptr<RE2>> combo;  // by anchor
};

namespace {

RE2::Options Caseless() {
  RE2::Options o;
  o.set_case_sensitive(false);
  o.set_log_errors(false);
  o.set_max_mem(8 << 20);
  return o;
}

// Every class sequence the `count` bytes after `pos` bytes of a lead's first
// segment can have in a text the lead holds in (a superset: `\W*` gaps may
// hold any non-word byte, a finished lead anything), for the key bitmap.
void KeyClassesAfter(const PhraseLead& lead, size_t seg, size_t off, size_t count,
                     uint32_t prefix, std::vector<uint32_t>* out) {
  if (count == 0) {
    out->push_back(prefix);
    return;
  }
  auto next = [&](uint8_t cls, size_t s, size_t o) {
    KeyClassesAfter(lead, s, o, count - 1, (prefix << 5) | cls, out);
  };
  if (seg >= lead.segments.size()) {  // the lead is over: anything
    for (uint8_t cls = 0; cls < 28; ++cls) next(cls, seg, 0);
    return;
  }
  const std::string& s = lead.segments[seg];
  if (off < s.size()) {
    next(kKey.c[static_cast<unsigned char>(s[off])], seg, off + 1);
    return;
  }
  // Between segments: a non-word byte, or the next segment begins.
  next(0, seg, off);
  if (seg + 1 < lead.segments.size()) {
    next(kKey.c[static_cast<unsigned char>(lead.segments[seg + 1][0])], seg + 1, 1);
  } else {
    for (uint8_t cls = 1; cls < 28; ++cls) next(cls, seg + 1, 0);
  }
}

}  // namespace

LeadMatcher::~LeadMatcher() = default;

std::unique_ptr<LeadMatcher> LeadMatcher::Build(const std::vector<std::string>& patterns,
                                                const std::vector<std::vector<PhraseLead>>& leads,
                                                const std::vector<int>& group_of) {
  if (patterns.size() > 64 || leads.size() != patterns.size() ||
      group_of.size() != patterns.size()) {
    return nullptr;
  }
  std::unique_ptr<LeadMatcher> m(new LeadMatcher);
  m->patterns_ = patterns;
  m->group_of_ = group_of;
  m->key3_.assign(kKeyWords, 0);
  m->key_list_.assign(32768, 0);
  m->lists_.emplace_back();  // list 0: no anchor
  std::map<std::pair<std::string, bool>, size_t> id_of;
  for (size_t p = 0; p < patterns.size(); ++p) {
    if (leads[p].empty() || group_of[p] < 0 || group_of[p] >= 32) return nullptr;
    for (const PhraseLead& lead : leads[p]) {
      if (lead.segments.empty() || lead.segments[0].empty()) return nullptr;
      const std::string& first = lead.segments[0];
      const bool line = !lead.line_prefix.empty();
      const bool letter = IsLetterByte(static_cast<unsigned char>(first[0]));
      // INVARIANT: a line lead or a punctuation lead is one segment; a line
      // lead and a word lead begin with a letter, a punctuation lead not.
      if (line ? !letter || lead.segments.size() != 1 || lead.word_boundary
               : lead.word_boundary != letter || (!letter && lead.segments.size() != 1)) {
        return nullptr;
      }
      auto [it, fresh] = id_of.emplace(std::make_pair(first, line), m->anchors_.size());
      if (fresh) {
        Anchor a;
        a.text = first;
        a.kind = line ? Anchor::kLine : letter ? Anchor::kWord : Anchor::kByte;
        m->anchors_.push_back(std::move(a));
      }
      Anchor& a = m->anchors_[it->second];
      Entry e{lead, static_cast<int>(p)};
      for (char c : lead.line_prefix) {
        const auto b = static_cast<unsigned char>(c);
        e.prefix_set[b >> 6] |= uint64_t{1} << (b & 63);
      }
      a.entries.push_back(std::move(e));
      if (lead.segments.size() == 1) {
        a.any_single = true;
      } else if (std::find(a.seconds.begin(), a.seconds.end(), lead.segments[1]) == a.seconds.end()) {
        a.seconds.push_back(lead.segments[1]);
      }
      if (fresh && a.kind == Anchor::kLine) m->line_anchors_.push_back(it->second);
      if (fresh && a.kind == Anchor::kByte) {
        m->byte_anchors_[static_cast<unsigned char>(first[0])].push_back(it->second);
      }
      a.patterns |= uint64_t{1} << p;
      if (a.kind == Anchor::kWord) {
        // The key of a word start: the classes of its first three bytes.
        std::vector<uint32_t> keys;
        const size_t have = std::min<size_t>(3, first.size());
        uint32_t prefix = 0;
        for (size_t k = 0; k < have; ++k) {
          prefix = (prefix << 5) | kKey.c[static_cast<unsigned char>(first[k])];
        }
        KeyClassesAfter(lead, 0, have, 3 - have, prefix, &keys);
        for (uint32_t k : keys) {
          m->key3_[k >> 6] |= uint64_t{1} << (k & 63);
          if (m->key_list_[k] == 0) {
            m->lists_.emplace_back();
            m->key_list_[k] = static_cast<uint16_t>(m->lists_.size() - 1);
          }
          auto& list = m->lists_[m->key_list_[k]];
          if (std::find(list.begin(), list.end(), it->second) == list.end()) {
            list.push_back(it->second);
          }
        }
      } else if (a.kind == Anchor::kByte) {
        const auto b = static_cast<unsigned char>(first[0]);
        if (std::find(m->first_bytes_.begin(), m->first_bytes_.end(), b) == m->first_bytes_.end()) {
          if (m->first_bytes_.size() == kMaxFirstBytes) return nullptr;
          m->first_bytes_.push_back(b);
        }
      }
    }
  }
  // Teddy buckets: first letters spread over 8 buckets, most anchors first.
  size_t per_letter[28] = {};
  for (const Anchor& a : m->anchors_) {
    if (a.kind == Anchor::kWord) ++per_letter[kKey.c[static_cast<unsigned char>(a.text[0])]];
  }
  uint8_t bucket_of[28] = {};
  size_t load[8] = {};
  std::vector<int> order;
  for (int c = 1; c <= 26; ++c) {
    if (per_letter[c] > 0) order.push_back(c);
  }
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return per_letter[a] > per_letter[b]; });
  for (int c : order) {
    const size_t b = static_cast<size_t>(std::min_element(load, load + 8) - load);
    bucket_of[c] = static_cast<uint8_t>(b);
    load[b] += per_letter[c];
  }
  for (size_t k = 0; k < 32768; ++k) {
    if (!(m->key3_[k >> 6] >> (k & 63) & 1)) continue;
    const uint8_t cls[3] = {static_cast<uint8_t>(k >> 10), static_cast<uint8_t>((k >> 5) & 31),
                            static_cast<uint8_t>(k & 31)};
    const auto bit = static_cast<uint8_t>(1u << bucket_of[cls[0]]);
    for (size_t j = 0; j < 3; ++j) {
      if (cls[j] == 0) {
        m->teddy_nonword_[j] |= bit;
      } else if (cls[j] == 27) {
        m->teddy_digit_[j] |= bit;
      } else {
        const unsigned byte = 0x60u + cls[j];
        m->teddy_letter_[j][byte >= 0x70 ? 1 : 0][byte & 0xF] |= bit;
      }
    }
  }
  static std::atomic<uint64_t> serials{1};
  m->serial_ = serials.fetch_add(1);
  return m;
}

const LeadMatcher::Local& LeadMatcher::ThisThread() const {
  // A few matchers per process at most (tests build their own).
  thread_local std::vector<std::unique_ptr<Local>> locals;
  for (const auto& l : locals) {
    if (l->serial == serial_) return *l;
  }
  if (locals.size() >= 64) locals.clear();
  auto l = std::make_unique<Local>();
  l->serial = serial_;
  for (const std::string& p : patterns_) l->single.push_back(std::make_unique<RE2>(p, Caseless()));
  for (const Anchor& a : anchors_) {
    std::string alt;
    for (size_t p = 0; p < patterns_.size(); ++p) {
      if (!(a.patterns >> p & 1)) continue;
      if (!alt.empty()) alt += '|';
      alt += "(?:" + patterns_[p] + ")";
    }
    l->combo.push_back(std::make_unique<RE2>(alt, Caseless()));
  }
  locals.push_back(std::move(l));
  return *locals.back();
}

namespace {

// The byte masks of one 64-byte block: bit i for byte i.
struct BlockMasks {
  uint64_t letter = 0, word = 0, special = 0;
};

// Bytes the finder stops at besides word starts: line feeds (line leads),
// the first bytes of the other leads, and the first bytes of U+017F and
// U+212A.
struct Specials {
  unsigned char b[8];
  size_t n = 0;
};

#if !defined(__SSE2__)
BlockMasks MasksScalar(const unsigned char* p, const Specials& sp) {
  BlockMasks m;
  for (size_t i = 0; i < 64; ++i) {
    const uint64_t bit = uint64_t{1} << i;
    if (IsLetterByte(p[i])) m.letter |= bit;
    if (IsWordByte(p[i])) m.word |= bit;
    for (size_t k = 0; k < sp.n; ++k) {
      if (p[i] == sp.b[k]) m.special |= bit;
    }
  }
  return m;
}
#endif

#if defined(__SSE2__)
BlockMasks MasksSse2(const unsigned char* p, const Specials& sp) {
  auto in = [](__m128i v, char lo, char hi) {
    return _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8(static_cast<char>(lo - 1))),
                         _mm_cmplt_epi8(v, _mm_set1_epi8(static_cast<char>(hi + 1))));
  };
  BlockMasks m;
  for (int q = 0; q < 4; ++q) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * q));
    const __m128i letter = in(_mm_or_si128(v, _mm_set1_epi8(0x20)), 'a', 'z');
    const __m128i word =
        _mm_or_si128(_mm_or_si128(letter, in(v, '0', '9')), _mm_cmpeq_epi8(v, _mm_set1_epi8('_')));
    __m128i special = _mm_setzero_si128();
    for (size_t k = 0; k < sp.n; ++k) {
      special = _mm_or_si128(special, _mm_cmpeq_epi8(v, _mm_set1_epi8(static_cast<char>(sp.b[k]))));
    }
    auto bits = [q](__m128i x) {
      return static_cast<uint64_t>(static_cast<uint32_t>(_mm_movemask_epi8(x)) & 0xFFFFu) << (16 * q);
    };
    m.letter |= bits(letter);
    m.word |= bits(word);
    m.special |= bits(special);
  }
  return m;
}
#endif

#if defined(TG_LEADS_AVX2)
// MasksSse2's masks, and the Teddy filter (`teddy`: bit i when the key
// bytes at i, i + 1, i + 2 share a bucket), 32 bytes at a time. `p` has 66
// readable bytes.
struct TeddyTables {
  const uint8_t (*letter)[2][16];
  const uint8_t* nonword;
  const uint8_t* digit;
};

__attribute__((target("avx2"))) inline __m256i Set8(int c) {
  return _mm256_set1_epi8(static_cast<char>(c));
}
__attribute__((target("avx2"))) inline uint64_t Bits(__m256i x, int h) {
  return static_cast<uint64_t>(static_cast<uint32_t>(_mm256_movemask_epi8(x))) << (32 * h);
}

__attribute__((target("avx2"))) BlockMasks MasksAvx2(const unsigned char* p, const Specials& sp,
                                                     const TeddyTables& t, uint64_t* teddy) {
  BlockMasks m;
  *teddy = 0;
#define set Set8
  for (int h = 0; h < 2; ++h) {
    __m256i acc = set(-1);
    for (int j = 0; j < 3; ++j) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32 * h + j));
      const __m256i lc = _mm256_or_si256(v, set(0x20));
      const __m256i letter =
          _mm256_and_si256(_mm256_cmpgt_epi8(lc, set('a' - 1)), _mm256_cmpgt_epi8(set('z' + 1), lc));
      const __m256i digit =
          _mm256_or_si256(_mm256_and_si256(_mm256_cmpgt_epi8(v, set('0' - 1)),
                                           _mm256_cmpgt_epi8(set('9' + 1), v)),
                          _mm256_cmpeq_epi8(v, set('_')));
      const __m256i lo = _mm256_and_si256(lc, set(0x0F));
      const __m256i t6 = _mm256_broadcastsi128_si256(
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(t.letter[j][0])));
      const __m256i t7 = _mm256_broadcastsi128_si256(
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(t.letter[j][1])));
      const __m256i by_letter = _mm256_blendv_epi8(_mm256_shuffle_epi8(t6, lo),
                                                   _mm256_shuffle_epi8(t7, lo),
                                                   _mm256_cmpgt_epi8(lc, set(0x6F)));
      const __m256i other = _mm256_blendv_epi8(set(t.nonword[j]), set(t.digit[j]), digit);
      acc = _mm256_and_si256(acc, _mm256_blendv_epi8(other, by_letter, letter));
      if (j == 0) {
        __m256i special = _mm256_setzero_si256();
        for (size_t k = 0; k < sp.n; ++k) {
          special = _mm256_or_si256(special, _mm256_cmpeq_epi8(v, set(sp.b[k])));
        }
        m.letter |= Bits(letter, h);
        m.word |= Bits(_mm256_or_si256(letter, digit), h);
        m.special |= Bits(special, h);
      }
    }
    const auto none = static_cast<uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(acc, set(0))));
    *teddy |= static_cast<uint64_t>(~none) << (32 * h);
  }
#undef set
  return m;
}

bool HaveAvx2() {
  static const bool have = __builtin_cpu_supports("avx2");
  return have;
}
#endif

}  // namespace

LeadMatcher::Result LeadMatcher::Match(std::string_view text, uint32_t* groups, bool simd) const {
  const Local& local = ThisThread();
  const size_t n = text.size();
  const auto* data = reinterpret_cast<const unsigned char*>(text.data());
  // More RE2 confirmations than this and the whole-text pass is cheaper.
  const size_t budget = 32 + n / 128;
  size_t calls = 0;
  uint32_t found = *groups;
  uint64_t done = 0;  // patterns of the groups found
  auto mark_group = [&](int g) {
    found |= 1u << g;
    for (size_t q = 0; q < patterns_.size(); ++q) {
      if (group_of_[q] == g) done |= uint64_t{1} << q;
    }
  };
  for (size_t q = 0; q < patterns_.size(); ++q) {
    if (found >> group_of_[q] & 1) mark_group(group_of_[q]);
  }
  const re2::StringPiece all(text.data(), n);
  auto at = [&](const RE2& re, size_t start) {
    ++calls;
    return re.Match(all, start, n, RE2::ANCHOR_START, nullptr, 0);
  };
  // `seg` (lower case) at `pos`, in any case.
  auto same = [&](size_t pos, const std::string& seg) {
    if (pos + seg.size() > n) return false;
    for (size_t k = 0; k < seg.size(); ++k) {
      if (Lower(text[pos + k]) != seg[k]) return false;
    }
    return true;
  };
  // True when `lead` holds at `start` (its first segment checked already).
  auto holds = [&](const PhraseLead& lead, size_t start) {
    size_t pos = start + lead.segments[0].size();
    for (size_t j = 1; j < lead.segments.size(); ++j) {
      while (pos < n && !IsWordByte(data[pos])) ++pos;
      if (!same(pos, lead.segments[j])) return false;
      pos += lead.segments[j].size();
    }
    return true;
  };
  // The phrases of anchor `id` whose leads hold at `start`, confirmed by RE2.
  // False when the budget is spent.
  auto confirm = [&](size_t id, size_t start) {
    const Anchor& a = anchors_[id];
    if ((a.patterns & ~done) == 0) return true;
    if (!a.any_single) {
      size_t pos = start + a.text.size();
      while (pos < n && !IsWordByte(data[pos])) ++pos;
      if (std::none_of(a.seconds.begin(), a.seconds.end(),
                       [&](const std::string& seg) { return same(pos, seg); })) {
        return true;
      }
    }
    bool any = false;
    for (const Entry& e : a.entries) {
      if (!(done >> e.pattern & 1) && holds(e.lead, start)) {
        any = true;
        break;
      }
    }
    if (!any) return true;
    const uint64_t here = a.patterns & ~done;
    if (std::popcount(here) > 1 && !at(*local.combo[id], start)) return calls <= budget;
    for (uint64_t m = here; m != 0; m &= m - 1) {
      const int p = std::countr_zero(m);
      if (!(done >> p & 1) && at(*local.single[static_cast<size_t>(p)], start)) {
        mark_group(group_of_[static_cast<size_t>(p)]);
      }
    }
    return calls <= budget;
  };
  // A line starts at `q`: the line leads, after their prefix bytes.
  auto line_start = [&](size_t q) {
    for (size_t id : line_anchors_) {
      const Anchor& a = anchors_[id];
      if ((a.patterns & ~done) == 0) continue;
      for (const Entry& e : a.entries) {
        size_t pos = q;
        while (pos < n && (e.prefix_set[data[pos] >> 6] >> (data[pos] & 63) & 1)) ++pos;
        if (same(pos, a.text)) {
          if (!confirm(id, q)) return false;
          break;
        }
      }
    }
    return true;
  };
  Specials sp;
  sp.b[sp.n++] = '\n';
  sp.b[sp.n++] = 0xC5;  // U+017F: C5 BF
  sp.b[sp.n++] = 0xE2;  // U+212A: E2 84 AA
  for (unsigned char b : first_bytes_) sp.b[sp.n++] = b;
  if (!line_start(0)) return Result::kWholeText;
  uint64_t prev_word = 0;
#if defined(TG_LEADS_AVX2)
  const bool avx2 = simd && HaveAvx2();
  const TeddyTables tables{teddy_letter_, teddy_nonword_, teddy_digit_};
#else
  (void)simd;
#endif
  for (size_t at64 = 0; at64 < n; at64 += 64) {
    unsigned char tail[96];
    const unsigned char* p = data + at64;
    if (at64 + 66 > n) {
      std::memset(tail, 0, sizeof tail);  // NUL: no class
      std::memcpy(tail, p, n - at64);
      p = tail;
    }
    uint64_t cand = 0;
    BlockMasks m;
#if defined(TG_LEADS_AVX2)
    if (avx2) {
      // Word starts (a letter after a byte that is not a word byte) that
      // pass the Teddy filter, then the exact key test.
      uint64_t teddy;
      m = MasksAvx2(p, sp, tables, &teddy);
      const uint64_t ws = m.letter & ~((m.word << 1) | (prev_word >> 63));
      for (uint64_t w = ws & teddy; w != 0; w &= w - 1) {
        const size_t i = static_cast<size_t>(std::countr_zero(w));
        const uint32_t k = Key3(kKey.c[p[i]], kKey.c[p[i + 1]], kKey.c[p[i + 2]]);
        if (key3_[k >> 6] >> (k & 63) & 1) cand |= uint64_t{1} << i;
      }
    } else
#endif
    {
#if defined(__SSE2__)
      m = MasksSse2(p, sp);
#else
      m = MasksScalar(p, sp);
#endif
      // Word starts whose first three bytes can begin a word anchor: the
      // key test without branches.
      const uint64_t ws = m.letter & ~((m.word << 1) | (prev_word >> 63));
      for (uint64_t w = ws; w != 0; w &= w - 1) {
        const size_t i = static_cast<size_t>(std::countr_zero(w));
        const uint32_t k = Key3(kKey.c[p[i]], kKey.c[p[i + 1]], kKey.c[p[i + 2]]);
        cand |= (key3_[k >> 6] >> (k & 63) & 1) << i;
      }
    }
    for (; cand != 0; cand &= cand - 1) {
      const size_t i = at64 + static_cast<size_t>(std::countr_zero(cand));
      const uint32_t k = Key3(kKey.c[data[i]], i + 1 < n ? kKey.c[data[i + 1]] : 0,
                              i + 2 < n ? kKey.c[data[i + 2]] : 0);
      for (size_t id : lists_[key_list_[k]]) {
        if (same(i, anchors_[id].text) && !confirm(id, i)) return Result::kWholeText;
      }
    }
    for (uint64_t s = m.special; s != 0; s &= s - 1) {
      const size_t i = at64 + static_cast<size_t>(std::countr_zero(s));
      const unsigned char b = data[i];
      if (b == '\n') {
        if (!line_start(i + 1)) return Result::kWholeText;
      } else if (b == 0xC5 || b == 0xE2) {
        // RE2 folds these to ASCII letters under case folding (U+017F LONG
        // S to s, U+212A KELVIN SIGN to k); the checks here do not.
        if ((b == 0xC5 && i + 1 < n && data[i + 1] == 0xBF) ||
            (b == 0xE2 && i + 2 < n && data[i + 1] == 0x84 && data[i + 2] == 0xAA)) {
          return Result::kWholeText;
        }
      }
      for (size_t id : byte_anchors_[b]) {
        if (same(i, anchors_[id].text) && !confirm(id, i)) return Result::kWholeText;
      }
    }
    prev_word = m.word;
  }
  *groups = found;
  return Result::kDone;
}

}  // namespace tollgate::stdlib::internal
