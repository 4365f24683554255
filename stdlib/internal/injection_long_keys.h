// Internal to stdlib: the key-word prefilter's finder for its literals of
// four bytes or more (stdlib/injection_prefilter.cc), in place of a
// Hyperscan literal database. Hyperscan runs the injection phrases' ~110
// caseless key words with its FDR matcher at about 0.33 ns per byte of
// the bench prose (0.44-0.48 over a megabyte the branch predictor has not
// seen): letters-only literals in letter-dense text defeat its hashing,
// and the pass was the largest single cost of the example policy.
//
// Here the literals are put into 16 buckets of at most 16 and, with
// AVX-512 VBMI, 64 starts are tested at a time: for each of the first
// kOffsets bytes of a start, one 64-entry table lookup (vpermb on a 6-bit
// index of the byte, Index6 in the .cc: both cases of a letter share an
// entry) per group of eight buckets gives the buckets that accept that
// byte there (bit b: some literal of bucket b has that byte, or one
// sharing its entry, at that offset, or is shorter than it); the lookups
// and'ed give the buckets whose literals may start there. Such a start
// compares the first four bytes of all its bucket's literals at once (one
// 16-lane compare), then the literals whose four match, 16 bytes at once,
// so the hits are exactly the occurrences. Buckets are filled greedily so
// that each accepts few bytes at each offset (by English letter
// frequencies). A block's first two such starts are queued without a
// branch on the text and compared 256 at a time. On the bench prose about
// one start in 100 reaches the compare, two in three of them hits
// (`ignore`, `system`); over a megabyte the pass costs about 0.16-0.18 ns
// per byte (docs/architecture.md, "Key words without Hyperscan").
//
// Without AVX-512 VBMI (and VL) the finder is not used (the caller keeps
// Hyperscan); the byte-by-byte compare is the reference the tests hold
// the lookups to.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/scan/scanner.h"

namespace tollgate::stdlib::internal {

class LongLiteralFinder {
 public:
  static constexpr size_t kBuckets = 16;  // two groups of eight, one bit each in a byte
  static constexpr size_t kOffsets = 6;   // the bytes of a start looked up
  static constexpr size_t kMaxLen = 255;
  static constexpr size_t kPerBucket = 16;  // one 32-bit lane each in a vector
  static constexpr size_t kMaxLiterals = kBuckets * kPerBucket;

  // Adds a literal of 1..kMaxLen bytes, reported with `id`; ASCII letters
  // match either case, every other byte itself (Hyperscan's caseless
  // literals, as the prefilter builds them). False (nothing added) when it
  // is empty or too long, or the finder holds kMaxLiterals. The buckets are
  // laid out by Seal().
  bool Add(std::string_view literal, uint32_t id);
  // Fills the buckets and tables; call once, after the last Add.
  void Seal();
  size_t size() const { return lits_.size(); }

  // Appends Hit{id, end} for every occurrence of every literal in `text`
  // (overlapping ones too), in no particular order. False when that would
  // make *hits longer than `max_hits` (it then holds a prefix of them).
  // `isa`: -1 the best this CPU runs, 0 byte by byte, 2 AVX-512 VBMI;
  // false when this build or CPU lacks it (tests).
  bool Find(std::string_view text, size_t max_hits, std::vector<scan::LiteralScanner::Hit>* hits,
            int isa = -1) const;
  static bool HaveIsa(int isa);

  // The literals of each bucket (tests, docs).
  std::vector<std::vector<std::string>> Buckets() const;

 private:
  // A literal as compared: its first 16 bytes in one vector compare.
  struct alignas(16) Lit {
    uint8_t want[16] = {};  // lower case for a letter
    uint8_t fold[16] = {};  // 0x20 for a letter (or'd into the text's byte), else 0
    uint32_t id = 0;
    uint32_t len = 0;
    std::string rest_want, rest_fold;  // bytes 16.. of a longer literal
  };
  std::vector<Lit> lits_;  // by bucket once sealed
  // Bucket b: lits_[bucket_first_[b] .. bucket_first_[b + 1]).
  uint32_t bucket_first_[kBuckets + 1] = {};
  // tables_[g][k][Index6(c)], bit b: bucket 8g+b accepts byte c at offset
  // k, or a byte sharing its entry (Index6: both cases of a letter share
  // one; so do a few other bytes -- a superset, the compare decides).
  alignas(64) uint8_t tables_[2][kOffsets][64] = {};
  // Per bucket, its literals' first four bytes (lane q: lits_[first + q];
  // a byte past a literal's end wants 0xFF with fold 0xFF): a start that
  // passes the tables compares these first, all lanes at once.
  struct alignas(64) Heads {
    uint32_t want[kPerBucket] = {};
    uint32_t fold[kPerBucket] = {};
  };
  Heads heads_[kBuckets];
  bool sealed_ = false;

  bool FindScalar(std::string_view text, size_t max_hits, std::vector<scan::LiteralScanner::Hit>* hits) const;
  bool FindAvx512(std::string_view text, size_t max_hits, std::vector<scan::LiteralScanner::Hit>* hits) const;
};

}  // namespace tollgate::stdlib::internal
