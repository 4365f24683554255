// The checks the decision-input decoder makes on the raw JSON text before
// rapidjson parses it, in one pass (runtime/input/input.cc, Decode):
//
//   - UTF-8 well-formedness (overlongs, surrogates and code points above
//     U+10FFFF refused): validating the whole text up front lets rapidjson
//     use its SIMD string scanner, which its own per-character validation
//     disables;
//   - raw NUL bytes (the in-situ parser would stop there);
//   - raw bytes 0x1A-0x1F: JSON allows no raw control character anywhere,
//     and rapidjson's SIMD string scanner (1.1) does not stop at these (it
//     tests for bytes below 0x1A), so without this check such a byte in a
//     string would be refused or not depending on where it falls;
//   - `\uDC00`..`\uDFFF` escapes that follow no high-surrogate escape
//     (engine/core/json_text.h FindLoneSurrogateEscape, exactly).
//
//   InputTextCheck c = CheckInputText(json);
//   if (c.invalid_utf8 != npos) ... else if (c.nul != npos) ... else if ...
//
// Each offset is the first such byte (npos: none). When invalid_utf8 is set
// the scan stopped there and the other three are unspecified (the decoder
// reports invalid UTF-8 first). Otherwise each equals what a separate pass
// gives: nul the first 0x00, control the first 0x1A-0x1F byte, lone_surrogate
// FindLoneSurrogateEscape(json).
//
// Cost: one pass, 64 bytes per step (AVX-512BW or AVX2, chosen at run time) or 32 (SSE2),
// with no branch taken per step unless the step holds a byte >= 0x80, below
// 0x20 but a newline (tabs, CRs included) or a backslash (with AVX-512BW:
// a backslash before `u` or a backslash, or at the step's end); each such
// byte is then looked at alone. Thread safety: pure.
#pragma once

#include <cstddef>
#include <string_view>

namespace tollgate::runtime {

struct InputTextCheck {
  size_t invalid_utf8 = std::string_view::npos;
  size_t nul = std::string_view::npos;
  size_t control = std::string_view::npos;
  size_t lone_surrogate = std::string_view::npos;
};

// How many bytes a step takes: kBest (what the CPU offers: AVX-512BW or
// AVX2, 64 bytes), kAvx2 (64 bytes where the CPU has AVX2, else as kSse2),
// kSse2 (32 bytes), kBytes (one). The same results; the others are for tests.
enum class InputTextSteps { kBest, kAvx2, kSse2, kBytes };

// `copy` (null: none): also copies the text to copy[0, json.size()) in the
// same pass (the decoder's padded buffer: one read of the text instead of
// two), unless invalid UTF-8 stops the scan (the copy is then partial).
InputTextCheck CheckInputText(std::string_view json, InputTextSteps steps = InputTextSteps::kBest,
                              char* copy = nullptr);

}  // namespace tollgate::runtime
