// Internal to engine/scan: an RE2::Set that each thread matches with its own
// copy, so that no two threads share RE2's DFA cache lock.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <re2/re2.h>
#include <re2/set.h>

namespace tollgate::scan::internal {

// How many sets' copies a thread keeps (PerThreadSet::Local); at this many
// the older half goes.
inline constexpr size_t kMaxLocalSets = 64;

class PerThreadSet {
 public:
  PerThreadSet();
  ~PerThreadSet();
  // Adds every pattern; returns false with *error set (the pattern and RE2's
  // message) when one does not compile. `ids[k]` is reported for patterns[k].
  bool Build(const std::vector<std::string>& patterns, const std::vector<int>& ids,
             bool caseless, std::string* error);
  bool empty() const { return ids_.empty(); }
  // Appends the ids of the patterns matching somewhere in `text` (unsorted).
  // Returns false when RE2 ran out of DFA memory.
  bool Match(std::string_view text, std::vector<int>* out) const;
  // Makes this thread's copy now (Scanner::WarmThread).
  void WarmThread() const {
    if (!ids_.empty()) Local();
  }

 private:
  const re2::RE2::Set& Local() const;
  std::unique_ptr<re2::RE2::Set> Make() const;
  uint64_t serial_ = 0;
  bool caseless_ = false;
  std::vector<std::string> patterns_;
  std::vector<int> ids_;
  std::unique_ptr<re2::RE2::Set> first_;       // handed to the first thread that matches
  mutable std::atomic<bool> claimed_{false};
};

// Process-unique serial numbers (per-thread caches key on them).
uint64_t NextSerial();

}  // namespace tollgate::scan::internal
