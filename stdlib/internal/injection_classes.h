// Internal to stdlib: the byte classes of dlp.injection_score's trigger pass
// (stdlib/injection.cc FindTriggersSse2), 64 bytes at a time, as bit masks:
// bit i of each mask stands for byte i of the block. SSE2 compares, or AVX2
// compares where the CPU has them (chosen once at run time); both give the
// same masks (tests/stdlib/injection_test.cc runs the pass with each).
#pragma once

#include <cstdint>

namespace tollgate::stdlib::internal {

struct TriggerClasses {
  uint64_t alnum = 0, letter = 0, b64 = 0, spacer = 0;
};

using Classifier = TriggerClasses (*)(const unsigned char* block);

#if defined(__SSE2__)
// The classes of the 64 bytes at `block` with SSE2 compares.
TriggerClasses TriggerClassesSse2(const unsigned char* block);
// AVX2 when the CPU has it, else TriggerClassesSse2.
Classifier BestTriggerClassifier();
#endif

}  // namespace tollgate::stdlib::internal
