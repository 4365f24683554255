// Internal to stdlib: the byte classes of dlp.injection_score's trigger pass
// (stdlib/injection.cc FindTriggersSse2), 64 bytes at a time, as bit masks:
// bit i of each mask stands for byte i of the block. SSE2 compares, or AVX2
// or AVX-512BW compares where the CPU has them (chosen once at run time);
// all give the same masks (tests/stdlib/injection_test.cc runs the pass with
// each the CPU has).
#pragma once

#include <cstddef>
#include <cstdint>

namespace tollgate::stdlib::internal {

struct TriggerClasses {
  uint64_t alnum = 0, letter = 0, b64 = 0, spacer = 0;
};

// The classes of the `blocks` 64-byte blocks from `p`, into out[0, blocks).
using Classifier = void (*)(const unsigned char* p, size_t blocks, TriggerClasses* out);

#if defined(__SSE2__)
// With SSE2 compares.
void TriggerClassesSse2(const unsigned char* p, size_t blocks, TriggerClasses* out);
// The classifier of one instruction set (0: SSE2, 1: AVX2, 2: AVX-512BW), or
// nullptr when this CPU or build lacks it.
Classifier TriggerClassifier(int isa);
// The widest this CPU has.
Classifier BestTriggerClassifier();
#endif

}  // namespace tollgate::stdlib::internal
