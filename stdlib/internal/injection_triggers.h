// Internal to stdlib: which preprocessing passes of dlp.injection_score can
// change a text (letter-spacing collapse, scrambled-word restoration,
// base64/hex decoding), found in one linear pass. Exposed for the
// differential test (tests/stdlib/injection_test.cc) and the benchmark.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tollgate::stdlib::internal {

// Each flag is true whenever the pass it guards would change something:
//   collapse: three single characters (an alphanumeric byte between
//     non-alphanumerics), each pair joined by one spacer (` . - _ *`);
//   scramble: a letter run that the scrambled-word pass would rewrite;
//   decode: a run of 20 base64-alphabet bytes (hex runs are such runs too).
struct InjectionTriggers {
  bool collapse = false, scramble = false, decode = false;
  bool operator==(const InjectionTriggers&) const = default;
};

// The word-parallel finder: 64 bytes per step, byte classes from AVX-512BW
// or AVX2 compares where the CPU has them (chosen at run time), else SSE2.
InjectionTriggers FindInjectionTriggers(std::string_view text);
// The same with the SSE2 byte classes whatever the CPU (tests compare them).
InjectionTriggers FindInjectionTriggersSse2(std::string_view text);

// Where preprocessing changes a text, as the same pass locates it: the lists
// asked for (want_*), each increasing.
struct InjectionTriggerSites {
  bool want_collapse = false, want_scramble = false, want_decode = false;
  // Every start of three single characters joined by single spacers (a
  // chain of four has two): where a collapse chain can start.
  std::vector<size_t> collapse;
  // (start, target word index) of every letter run the scrambled-word pass
  // rewrites, in text order.
  std::vector<std::pair<size_t, int>> scramble;
  // The starts of the maximal runs of at least 20 base64-alphabet bytes.
  std::vector<size_t> decode;
  // Whether the text holds a backslash (whatever was asked): the score then
  // reads its JSON string escapes (scan::MayHoldEscapes, from the same pass).
  bool backslash = false;
};

// FindInjectionTriggers with the sites asked for in *sites (appended).
InjectionTriggers FindInjectionTriggerSites(std::string_view text, InjectionTriggerSites* sites);
// The same with the SSE2 byte classes and per-block shifts whatever the CPU.
InjectionTriggers FindInjectionTriggerSitesSse2(std::string_view text,
                                                InjectionTriggerSites* sites);
// The same with the byte classes of one instruction set (0: SSE2, 1: AVX2,
// 2: AVX-512BW, 4: AVX-512 VBMI, with the first/last-letter pairs) and the
// per-block shifts, or with the eight-block AVX-512 kernel and (3) the
// widest classes (what FindInjectionTriggerSites uses where the CPU has
// them) or (5) the AVX-512BW ones, into *out; false when this CPU or build
// lacks it.
bool FindInjectionTriggerSitesIsa(std::string_view text, int isa, InjectionTriggerSites* sites,
                                  InjectionTriggers* out);
// The sites by a byte walk written from the definitions above (the
// differential test's reference; every list is filled).
InjectionTriggers FindInjectionTriggerSitesReference(std::string_view text,
                                                     InjectionTriggerSites* sites);

// The byte-at-a-time finder it replaced (about 3 ns per byte): the
// differential test's reference; also what runs without SSE2.
InjectionTriggers FindInjectionTriggersReference(std::string_view text);

// `text` with the characters that hide a phrase rewritten (default-ignorable
// code points such as zero-width characters, tag characters and variation
// selectors, and combining diacritical marks removed; full-width ASCII and
// Cyrillic/Greek look-alike letters as ASCII): the first step of the score,
// before the triggers, on both paths.
std::string InjectionUnhidden(std::string_view text);

// The text the phrases are matched on (letter spacing collapsed, scrambled
// target words restored): from the trigger sites only (the collapse chains
// and scrambled runs the word-parallel finder locates), and by the full
// passes it replaced (the reference).
std::string InjectionNormalized(std::string_view text);
std::string InjectionNormalizedReference(std::string_view text);

// The decoded base64 / hex runs of `text` (printable results joined by
// newlines): from the long runs the word-parallel finder locates, and by the
// full byte walk it replaced (the reference).
std::string InjectionDecoded(std::string_view text);
std::string InjectionDecodedReference(std::string_view text);

}  // namespace tollgate::stdlib::internal
