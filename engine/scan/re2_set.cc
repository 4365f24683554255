// PerThreadSet (internal/re2_set.h).
#include "engine/scan/internal/re2_set.h"

#include "engine/scan/scanner.h"

#include <re2/re2.h>
#include <re2/set.h>

#include <cstddef>
#include <utility>

namespace tollgate::scan::internal {

namespace {

RE2::Options SetOptions(bool caseless) {
  RE2::Options o;
  o.set_log_errors(false);
  o.set_case_sensitive(!caseless);
  // Large alternations of many rules' patterns need a larger DFA budget than
  // RE2's default; the per-pattern program size is bounded by the checker
  // (Limits::max_regex_program_size).
  o.set_max_mem(64 << 20);
  return o;
}

// This thread's copies, by PerThreadSet serial, oldest first. Bounded: at
// kMaxLocalSets the older half goes (most likely sets of programs long gone); the
// newer half, which holds those just warmed for the live policy version
// (Scanner::WarmThread), stays.
struct LocalSets {
  std::vector<std::pair<uint64_t, std::unique_ptr<re2::RE2::Set>>> owned;
  std::vector<std::pair<uint64_t, const re2::RE2::Set*>> index;
};
thread_local LocalSets tls_sets;

}  // namespace

uint64_t NextSerial() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

PerThreadSet::PerThreadSet() : serial_(NextSerial()) {}
PerThreadSet::~PerThreadSet() = default;

std::unique_ptr<re2::RE2::Set> PerThreadSet::Make() const {
  auto set = std::make_unique<RE2::Set>(SetOptions(caseless_), RE2::UNANCHORED);
  for (const std::string& p : patterns_) {
    if (set->Add(p, nullptr) < 0) return nullptr;
  }
  if (!set->Compile()) return nullptr;
  return set;
}

bool PerThreadSet::Build(const std::vector<std::string>& patterns, const std::vector<int>& ids,
                         bool caseless, std::string* error) {
  patterns_ = patterns;
  ids_ = ids;
  caseless_ = caseless;
  if (patterns_.empty()) return true;
  first_ = std::make_unique<RE2::Set>(SetOptions(caseless_), RE2::UNANCHORED);
  for (const std::string& p : patterns_) {
    std::string e;
    if (first_->Add(p, &e) < 0) {
      *error = "invalid pattern `" + p + "`: " + e;
      return false;
    }
  }
  if (!first_->Compile()) {
    *error = "pattern set too large to compile";
    return false;
  }
  return true;
}

const re2::RE2::Set& PerThreadSet::Local() const {
  LocalSets& t = tls_sets;
  for (const auto& [serial, set] : t.index) {
    if (serial == serial_) return *set;
  }
  if (t.index.size() >= kMaxLocalSets) {
    const size_t drop = t.index.size() / 2;
    auto dropped = [&](uint64_t serial) {
      for (size_t i = 0; i < drop; ++i)
        if (t.index[i].first == serial) return true;
      return false;
    };
    std::erase_if(t.owned, [&](const auto& e) { return dropped(e.first); });
    t.index.erase(t.index.begin(), t.index.begin() + static_cast<std::ptrdiff_t>(drop));
  }
  const re2::RE2::Set* set = nullptr;
  bool expected = false;
  if (claimed_.compare_exchange_strong(expected, true)) {
    set = first_.get();
  } else {
    // Another thread owns first_: compile this thread's own copy (once).
    std::unique_ptr<re2::RE2::Set> own = Make();
    CountThreadLocalBuild();
    // INVARIANT: the patterns compiled in Build, so they compile again.
    set = own ? own.get() : first_.get();
    if (own) t.owned.emplace_back(serial_, std::move(own));
  }
  t.index.emplace_back(serial_, set);
  return *set;
}

bool PerThreadSet::Match(std::string_view text, std::vector<int>* out) const {
  if (ids_.empty()) return true;
  // Hits go to a reused per-thread buffer, then are mapped to the caller's ids.
  thread_local std::vector<int> hits;
  hits.clear();
  RE2::Set::ErrorInfo info;
  bool any = Local().Match(re2::StringPiece(text.data(), text.size()), &hits, &info);
  if (!any) return info.kind == RE2::Set::kNoError || info.kind == RE2::Set::kInconsistent;
  for (int h : hits) out->push_back(ids_[h]);
  return true;
}

}  // namespace tollgate::scan::internal
