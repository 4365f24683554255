// Internal to stdlib: the key-word prefilter's finder for its short
// literals (stdlib/injection_prefilter.cc). Hyperscan's literal matcher
// slows down sharply with literals shorter than four bytes in its set
// (measured on the injection phrases' keys: 0.88 -> 0.59 ns per byte over
// the bench prose, 0.50 -> 0.35 over English docs, with the six keys of two
// and three letters and the two fold literals left out), and such keys (`you`,
// `act`, `dan`, `##`) hit often in prose. The few literals of one to three
// bytes (up to eight) are found here instead. With AVX-512 VBMI, 64 starts
// at a time: for each of the three offsets one 256-entry table lookup per
// byte (two vpermi2b, the byte's top bit picking) gives the literals that
// accept that byte there (bit q: literal q; both cases of a letter; every
// byte past a literal's end), the three and'ed: bit q at start j exactly
// when literal q occurs there; one branch per block, taken only when the
// block holds a hit. Without VBMI the SSE2 loop (one compare per byte of
// each literal, 16 starts at a time) is tested but not used: it cost more
// than it saved, and the shipped prefilter then leaves the short literals
// in Hyperscan's set.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "engine/scan/scanner.h"

namespace tollgate::stdlib::internal {

class ShortLiteralFinder {
 public:
  static constexpr size_t kMaxLen = 3;
  static constexpr size_t kMaxLiterals = 8;  // one bit each in a byte

  // Adds a literal of 1..kMaxLen bytes, reported with `id`; ASCII letters
  // match either case, every other byte itself (Hyperscan's caseless
  // literals, as the prefilter builds them). False (nothing added) when it
  // is empty, too long, or the finder is full.
  bool Add(std::string_view literal, uint32_t id);
  size_t size() const { return count_; }

  // Appends Hit{id, end} for every occurrence of every literal in `text`
  // (overlapping ones too), in no particular order. False when that would
  // make *hits longer than `max_hits` (it then holds a prefix of them).
  // `isa`: -1 the best this CPU runs, 0 byte by byte, 1 SSE2, 2
  // AVX-512BW; false when this build or CPU lacks it (tests).
  bool Find(std::string_view text, size_t max_hits, std::vector<scan::LiteralScanner::Hit>* hits,
            int isa = -1) const;
  static bool HaveIsa(int isa);

 private:
  struct Lit {
    uint8_t len = 0;
    uint8_t want[kMaxLen] = {};  // the byte, lower case for a letter
    uint8_t fold[kMaxLen] = {};  // 0x20 for a letter (or'd into the text's byte), else 0
    uint32_t id = 0;
  };
  Lit lits_[kMaxLiterals];
  // tables_[k][b], bit q: literal q accepts byte b at offset k (every byte
  // past its end): the AVX-512 VBMI lookups.
  alignas(64) uint8_t tables_[kMaxLen][256] = {};
  size_t count_ = 0;

  bool FindScalar(std::string_view text, size_t from, size_t max_hits,
                  std::vector<scan::LiteralScanner::Hit>* hits) const;
  bool FindSse2(std::string_view text, size_t max_hits, std::vector<scan::LiteralScanner::Hit>* hits) const;
  bool FindAvx512(std::string_view text, size_t max_hits,
                  std::vector<scan::LiteralScanner::Hit>* hits) const;
};

}  // namespace tollgate::stdlib::internal
