// Internal to stdlib: the byte classes of dlp.injection_score's trigger pass
// (stdlib/injection.cc FindTriggersSse2), 64 bytes at a time, as bit masks:
// bit i of each mask stands for byte i of the block. SSE2 compares, or AVX2
// or AVX-512BW compares where the CPU has them (chosen once at run time);
// all give the same masks (tests/stdlib/injection_test.cc runs the pass with
// each the CPU has). With AVX-512 the pass's per-block shifts and ands run
// for eight blocks at once too (TriggerBlocksAvx512). With AVX-512 VBMI the
// classes also say where a letter run's first and last letters can be a
// scrambled target's (`pairs`), so that the pass checks only those runs.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tollgate::stdlib::internal {

// The classes of a run of blocks, one array per class (row[k]: block k), so
// that eight neighbouring blocks are one vector load.
struct TriggerClassRows {
  uint64_t* alnum;
  uint64_t* letter;
  uint64_t* b64;
  uint64_t* spacer;
  // Bit i set unless it is known that no target word of L letters (L = 6, 8
  // or 12: stdlib/injection.cc kTargets) has the byte at i as its first
  // letter and the byte at i + L - 1 as its last (either case): all ones
  // from the classifiers without VBMI. Only read at the start of a letter
  // run of exactly 6, 8 or 12 letters, where it keeps every run the
  // scrambled-word check could accept.
  uint64_t* pairs;
  // Or'd into by every classifier: a block's backslash bytes (nonzero when
  // some block classified holds one).
  uint64_t* backslash;
};

// The classes of the `blocks` 64-byte blocks from `p`, into rows [at, at + blocks).
// Bytes from `end` on (end >= p + 64 * blocks) are not read; the pairs row
// reads up to 11 bytes past a block, and counts those as no letter.
using Classifier = void (*)(const unsigned char* p, size_t blocks, const TriggerClassRows& out,
                            size_t at, const unsigned char* end);

// The first and last letters of the target words, for the pairs row: bit t
// of first[c & 63] / last[c & 63] for an ASCII letter c (either case) when
// it is target t's first / last letter; len6 / len8 / len12: the bits of the
// targets of that length (stdlib/injection.cc builds it from kTargets).
struct TriggerPairTables {
  alignas(64) uint8_t first[64];
  alignas(64) uint8_t last[64];
  uint8_t len6, len8, len12;
};
const TriggerPairTables& InjectionTriggerPairTables();

#if defined(__SSE2__)
// With SSE2 compares.
void TriggerClassesSse2(const unsigned char* p, size_t blocks, const TriggerClassRows& out,
                        size_t at, const unsigned char* end);
// The classifier of one instruction set (0: SSE2, 1: AVX2, 2: AVX-512BW, 3:
// AVX-512 VBMI, the only one that computes the pairs row), or nullptr when
// this CPU or build lacks it.
Classifier TriggerClassifier(int isa);
// The widest this CPU has.
Classifier BestTriggerClassifier();

// The per-block words of the trigger pass for `count` blocks (a multiple of
// 8), block j read from rows[j] with its neighbours rows[j - 1] and
// rows[j + 1] (j = first .. first + count - 1): `run` the starts of 20
// base64 bytes in a row, `hit` the starts of single, spacer, single, spacer,
// single, `runs` the starts of the letter runs of exactly 6, 8 or 12 letters
// (FindTriggersSse2 says how each is computed; this computes the same eight
// blocks at a time). Null when the CPU lacks AVX-512F or AVX-512BW.
using TriggerBlocks = void (*)(const TriggerClassRows& rows, size_t first, size_t count,
                               uint64_t* run, uint64_t* hit, uint64_t* runs);
TriggerBlocks TriggerBlocksAvx512();

// The first i' >= i, stepping 64 bytes at a time, with fewer than 64 bytes
// left or a byte >= 0x80 among u[i', i' + 64): every byte skipped is ASCII.
size_t SkipAsciiBlocks(const unsigned char* u, size_t i, size_t n);
#endif

}  // namespace tollgate::stdlib::internal
