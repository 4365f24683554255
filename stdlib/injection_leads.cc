// The injection phrases' literal prefilter (internal/injection_leads.h).
#include "stdlib/internal/injection_leads.h"

#include <re2/re2.h>

#include <algorithm>
#include <atomic>
#include <iterator>
#include <bit>
#include <cstdint>
#include <map>
#include <set>
#include <utility>

#include "engine/scan/literals.h"

namespace tollgate::stdlib::internal {

namespace {

bool IsWordByte(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool IsLowerLetter(char c) { return c >= 'a' && c <= 'z'; }
char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// The cost of looking for `w` in the literal pass (speed only: any segment
// of a lead is a correct anchor): common English words hit often, and
// short literals slow Hyperscan's literal matcher down.
size_t LiteralCost(std::string_view w) {
  static constexpr std::string_view kVeryCommon[] = {"a", "an", "and", "in", "is", "it",
                                                     "of", "on", "the", "to"};
  static constexpr std::string_view kCommon[] = {
      "all", "am", "any", "are", "as", "at", "be", "do", "from", "get", "give", "i", "me",
      "my", "new", "no", "not", "now", "show", "tell", "turn", "was", "we", "were", "what",
      "will", "you", "you're", "your"};
  auto in = [&](const auto& list) {
    return std::find(std::begin(list), std::end(list), w) != std::end(list);
  };
  const size_t base = in(kVeryCommon) ? 5000 : in(kCommon) ? 1000 : 60;
  return base + (w.size() < 8 ? (8 - w.size()) * 15 : 0);
}

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
// patterns anchored on each literal (built on first use).
struct LeadMatcher::Local {
  uint64_t serial = 0;
  std::vector<std::unique_ptr<RE2>> single;
  std::vector<std::unique_ptr<RE2>> combo;  // by literal id
};

namespace {

RE2::Options Caseless() {
  RE2::Options o;
  o.set_case_sensitive(false);
  o.set_log_errors(false);
  o.set_max_mem(8 << 20);
  return o;
}

// Chooses the anchor of every lead: the segment whose literal costs least,
// a literal already looked for costing little (two rounds, the second
// preferring the first round's literals), so that the literal pass looks
// for few, rare words.
void ChooseAnchors(std::vector<std::vector<PhraseLead>>* leads) {
  std::set<std::string> previous;
  for (int round = 0; round < 2; ++round) {
    std::set<std::string> used;
    for (auto& of_pattern : *leads) {
      for (PhraseLead& l : of_pattern) {
        size_t best = 0, best_cost = SIZE_MAX;
        for (size_t k = 0; k < l.segments.size(); ++k) {
          const std::string& w = l.segments[k];
          // A literal already looked for adds no literal, but still adds
          // work at each of its hits (common words hit often).
          const size_t cost = used.count(w) || previous.count(w) ? LiteralCost(w) / 20 : LiteralCost(w);
          if (cost < best_cost) {
            best = k;
            best_cost = cost;
          }
        }
        l.anchor = best;
        used.insert(l.segments[best]);
      }
    }
    previous = std::move(used);
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
  std::vector<std::vector<PhraseLead>> chosen = leads;
  ChooseAnchors(&chosen);
  std::map<std::string, int> id_of;
  for (size_t p = 0; p < patterns.size(); ++p) {
    if (chosen[p].empty() || group_of[p] < 0 || group_of[p] >= 32) return nullptr;
    for (const PhraseLead& lead : chosen[p]) {
      if (lead.anchor >= lead.segments.size()) return nullptr;
      const std::string& lit = lead.segments[lead.anchor];
      auto [it, fresh] = id_of.emplace(lit, static_cast<int>(m->literals_.size()));
      if (fresh) {
        m->literals_.push_back(lit);
        m->by_literal_.emplace_back();
        m->literal_patterns_.push_back(0);
      }
      m->by_literal_[it->second].push_back({lead, static_cast<int>(p)});
      m->literal_patterns_[it->second] |= uint64_t{1} << p;
    }
  }
  // RE2 folds these to ASCII letters under case folding (U+017F LATIN SMALL
  // LETTER LONG S to s, U+212A KELVIN SIGN to k); the literal pass does not.
  m->literals_.push_back("\xC5\xBF");
  m->literals_.push_back("\xE2\x84\xAA");
  m->fold_literals_ = 2;
  m->finder_ = scan::LiteralFinder::Build(m->literals_, /*caseless=*/true);
  if (!m->finder_) return nullptr;
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
  if (locals.size() >= 8) locals.clear();
  auto l = std::make_unique<Local>();
  l->serial = serial_;
  for (const std::string& p : patterns_) l->single.push_back(std::make_unique<RE2>(p, Caseless()));
  l->combo.resize(by_literal_.size());
  for (size_t id = 0; id < by_literal_.size(); ++id) {
    std::string alt;
    for (size_t p = 0; p < patterns_.size(); ++p) {
      if (!(literal_patterns_[id] >> p & 1)) continue;
      if (!alt.empty()) alt += '|';
      alt += "(?:" + patterns_[p] + ")";
    }
    l->combo[id] = std::make_unique<RE2>(alt, Caseless());
  }
  locals.push_back(std::move(l));
  return *locals.back();
}

LeadMatcher::Result LeadMatcher::Match(std::string_view text, uint32_t* groups) const {
  const Local& local = ThisThread();
  const size_t n = text.size();
  const size_t first_fold = literals_.size() - static_cast<size_t>(fold_literals_);
  // More RE2 confirmations than this and the whole-text pass is cheaper.
  const size_t budget = 32 + n / 128;
  size_t calls = 0;
  bool whole = false;
  uint32_t found = *groups;
  uint64_t done = 0;  // patterns of the groups found
  for (size_t q = 0; q < patterns_.size(); ++q) {
    if (found >> group_of_[q] & 1) done |= uint64_t{1} << q;
  }
  auto mark = [&](int p) {
    const int g = group_of_[static_cast<size_t>(p)];
    found |= 1u << g;
    for (size_t q = 0; q < patterns_.size(); ++q) {
      if (group_of_[q] == g) done |= uint64_t{1} << q;
    }
  };
  const re2::StringPiece all(text.data(), n);
  auto at = [&](const RE2& re, size_t start) {
    ++calls;
    return re.Match(all, start, n, RE2::ANCHOR_START, nullptr, 0);
  };
  // Where the lead begins when `lit_at` holds its anchor segment, or npos.
  auto lead_start = [&](const PhraseLead& lead, size_t lit_at) -> size_t {
    auto same = [&](size_t pos, const std::string& seg) {
      if (pos + seg.size() > n) return false;
      for (size_t k = 0; k < seg.size(); ++k) {
        if (Lower(text[pos + k]) != seg[k]) return false;
      }
      return true;
    };
    size_t pos = lit_at + lead.segments[lead.anchor].size();
    for (size_t j = lead.anchor + 1; j < lead.segments.size(); ++j) {
      while (pos < n && !IsWordByte(static_cast<unsigned char>(text[pos]))) ++pos;
      if (!same(pos, lead.segments[j])) return std::string_view::npos;
      pos += lead.segments[j].size();
    }
    size_t start = lit_at;
    for (size_t j = lead.anchor; j-- > 0;) {
      while (start > 0 && !IsWordByte(static_cast<unsigned char>(text[start - 1]))) --start;
      const std::string& seg = lead.segments[j];
      if (start < seg.size() || !same(start - seg.size(), seg)) return std::string_view::npos;
      start -= seg.size();
    }
    if (lead.word_boundary && start > 0 && IsWordByte(static_cast<unsigned char>(text[start - 1]))) {
      return std::string_view::npos;
    }
    if (!lead.line_prefix.empty()) {
      while (start > 0 && lead.line_prefix.find(text[start - 1]) != std::string::npos) --start;
      if (start > 0 && text[start - 1] != '\n') return std::string_view::npos;
    }
    return start;
  };
  auto on_hit = [&](int id, size_t lit_at) {
    const auto lid = static_cast<size_t>(id);
    if (lid >= first_fold) {
      whole = true;
      return false;
    }
    const uint64_t todo = literal_patterns_[lid] & ~done;
    if (todo == 0) return true;
    // The starts of the leads that hold here (usually one).
    size_t starts[8];
    size_t count = 0;
    for (const Entry& e : by_literal_[lid]) {
      if (done >> e.pattern & 1) continue;
      const size_t start = lead_start(e.lead, lit_at);
      if (start == std::string_view::npos ||
          std::find(starts, starts + count, start) != starts + count) {
        continue;
      }
      if (count == std::size(starts)) {  // never with the table's leads
        whole = true;
        return false;
      }
      starts[count++] = start;
    }
    for (size_t k = 0; k < count; ++k) {
      // Every phrase anchored on this literal at once; then which ones.
      const uint64_t here = literal_patterns_[lid] & ~done;
      if (here == 0) break;
      if (std::popcount(here) > 1 && !at(*local.combo[lid], starts[k])) continue;
      for (uint64_t m = here; m != 0; m &= m - 1) {
        const int p = std::countr_zero(m);
        if (!(done >> p & 1) && at(*local.single[static_cast<size_t>(p)], starts[k])) mark(p);
      }
    }
    if (calls > budget) {
      whole = true;
      return false;
    }
    return true;
  };
  using OnHit = decltype(on_hit);
  const bool ok = finder_->Find(
      text, [](void* c, int id, size_t at) { return (*static_cast<OnHit*>(c))(id, at); }, &on_hit);
  if (whole || !ok) return Result::kWholeText;
  *groups = found;
  return Result::kDone;
}

}  // namespace tollgate::stdlib::internal
