// StrTable<T>: a read-only hash table from strings to T, built once (sets,
// maps and the rule index of a compiled program; sets and maps of a request).
//
// Open addressing with linear probing over a power-of-two array, at most
// half full: a lookup is one hash (or none: Find takes a hash computed
// before, see StringHash), one mask, and usually one slot -- no division and
// no node to chase, which in std::unordered_map cost more than the hash.
//
//   StrTable<int> t;
//   t.Build({{"DE", 1}, {"FR", 2}});
//   const int* v = t.Find("FR");   // -> 2; nullptr when absent
//
// Keys are not copied (they must outlive the table) and must be distinct.
// Thread safety: immutable once built; any number of readers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <utility>
#include <vector>

namespace tollgate {

// Byte equality of two ranges of length n, inline: the short strings of
// policies (model ids, countries, group names) compare in two loads instead
// of a call to memcmp.
inline bool SameBytes(const char* a, const char* b, size_t n) noexcept {
  if (n >= 8 && n <= 16) {
    uint64_t x, y, z, w;
    std::memcpy(&x, a, 8);
    std::memcpy(&y, b, 8);
    std::memcpy(&z, a + n - 8, 8);
    std::memcpy(&w, b + n - 8, 8);
    return ((x ^ y) | (z ^ w)) == 0;
  }
  if (n >= 4 && n < 8) {
    uint32_t x, y, z, w;
    std::memcpy(&x, a, 4);
    std::memcpy(&y, b, 4);
    std::memcpy(&z, a + n - 4, 4);
    std::memcpy(&w, b + n - 4, 4);
    return ((x ^ y) | (z ^ w)) == 0;
  }
  if (n < 4) {
    for (size_t i = 0; i < n; ++i) {
      if (a[i] != b[i]) return false;
    }
    return true;
  }
  return std::memcmp(a, b, n) == 0;
}

// The hash of StrTable keys: computed once per string and passed to
// StrTable::Find when a caller looks the same string up twice. Inline and
// word at a time (a model id is two words), with a final avalanche so that
// the low bits StrTable masks depend on every byte.
inline size_t StringHash(std::string_view s) noexcept {
  constexpr uint64_t kMul = 0x9fb21c651e98df25ULL;
  const char* p = s.data();
  const size_t n = s.size();
  uint64_t h = 0x9e3779b97f4a7c15ULL ^ (n * 0xff51afd7ed558ccdULL);
  auto mix = [&h](uint64_t w) {
    h = (h ^ w) * kMul;
    h ^= h >> 29;
  };
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    mix(w);
  }
  if (i < n) {
    uint64_t w = 0;
    if (n >= 8) {
      std::memcpy(&w, p + n - 8, 8);  // the last 8 bytes (overlapping the loop's)
      w >>= 8 * (8 - (n - i));
    } else if (n >= 4) {
      uint32_t lo, hi;
      std::memcpy(&lo, p, 4);
      std::memcpy(&hi, p + n - 4, 4);
      w = (static_cast<uint64_t>(hi) << 32) | lo;
    } else {
      for (size_t j = 0; j < n; ++j) w |= static_cast<uint64_t>(static_cast<unsigned char>(p[j])) << (8 * j);
    }
    mix(w);
  }
  h ^= h >> 32;
  h *= 0xd6e8feb86659fd93ULL;
  h ^= h >> 32;
  return static_cast<size_t>(h);
}

template <typename T>
class StrTable {
 public:
  void Build(const std::vector<std::pair<std::string_view, T>>& items) {
    size_t cap = 4;
    while (cap < 2 * items.size()) cap *= 2;
    slots_.assign(cap, Slot{});
    mask_ = cap - 1;
    for (const auto& [key, value] : items) {
      const size_t h = StringHash(key);
      size_t i = h & mask_;
      while (slots_[i].used) i = (i + 1) & mask_;
      slots_[i] = Slot{key, h, value, true};
    }
    size_ = items.size();
  }

  // `hash` must be StringHash(key).
  const T* Find(std::string_view key, size_t hash) const noexcept {
    if (size_ == 0) return nullptr;
    for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (!s.used) return nullptr;
      if (s.hash == hash && s.key.size() == key.size() && SameKey(s.key, key)) return &s.value;
    }
  }
  const T* Find(std::string_view key) const noexcept { return Find(key, StringHash(key)); }

  size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

 private:
  struct Slot {
    std::string_view key;
    size_t hash = 0;
    T value{};
    bool used = false;
  };
  static bool SameKey(std::string_view a, std::string_view b) noexcept { return SameBytes(a.data(), b.data(), a.size()); }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace tollgate
