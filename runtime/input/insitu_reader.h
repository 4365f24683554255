// The rapidjson reader the decision-input decoder parses with (in situ,
// runtime/input/input.cc): rapidjson's GenericReader, with its in-situ
// string scanning helpers replaced for this reader type only, and a stream
// type of its own (InsituStream) whose whitespace skipping is inline.
//
// rapidjson 1.1's helpers (reader.h SkipUnescapedString,
// ScanCopyUnescapedString for InsituStringStream) walk each string byte by
// byte up to a 16-byte boundary before their SIMD loop: most member names
// and values of a decision input are shorter than that, so they were
// scanned a byte at a time. These take 16 bytes a step from the first byte
// (unaligned loads). They stop where rapidjson's do or earlier -- at the
// first `"`, `\` or byte below 0x20 (rapidjson's SIMD loop does not stop at
// 0x1A-0x1F; the decoder refuses those before parsing, CheckInputText) --
// and the reader then handles that byte as before: the parse, its values
// and its errors (code and offset) are rapidjson's.
//
// With an InsituStream that says where its buffer's readable bytes end,
// long strings (a prompt) go 64 bytes a step (AVX2, chosen at run time)
// once their first 16 bytes hold no stop: a step is taken only when all of
// its 64 bytes are readable and none is a stop, and the 16-byte steps go
// on from the first step that holds one, so they still find it. With
// AVX-512BW (InsituSteps, chosen at run time) the 64-byte steps go on to
// the step that holds the stop and stop there: one loop exit per string
// piece instead of two or three (64-byte steps, 16-byte steps, the bytes
// before the stop), each mispredicted on prose -- a prompt's `\n` escapes
// make every line a piece -- so that a 1 MB prompt with an escape every
// ~150 bytes decoded in about half the time. Its
// whitespace is skipped by an inline loop (rapidjson's SIMD skip for
// InsituStringStream is a call per token, for the one space usual between
// tokens). rapidjson::InsituStringStream (the frozen reference decoder,
// tests) keeps 16-byte steps and rapidjson's whitespace skip.
//
// INVARIANT (the caller's): the text is NUL-terminated and at least 15
// readable bytes follow the NUL (Record::buffer is reserved with 16 bytes
// of slack), since a 16-byte load may start at any byte up to the NUL.
//
// The specializations are for GenericReader<UTF8<>, UTF8<>, InsituStack>
// and InsituStream only: both are types of this header, so no other reader
// in the program is affected (and no translation unit sees two definitions).
#pragma once

#include <rapidjson/allocators.h>
#include <rapidjson/reader.h>

#if defined(RAPIDJSON_SSE2) || defined(RAPIDJSON_SSE42)
#include <emmintrin.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#endif

namespace tollgate::runtime::internal {

// The parse stack's allocator: rapidjson's pool allocator, a type of its own.
struct InsituStack : rapidjson::MemoryPoolAllocator<rapidjson::CrtAllocator> {
  using rapidjson::MemoryPoolAllocator<rapidjson::CrtAllocator>::MemoryPoolAllocator;
};

using InsituReader = rapidjson::GenericReader<rapidjson::UTF8<>, rapidjson::UTF8<>, InsituStack>;

// The decoder's stream: rapidjson's in-situ stream over `src`, plus one
// past the last byte of its buffer that may be loaded (at or after the
// NUL + 16; null: 16-byte steps only).
// How long strings are stepped through when readable_end is set:
// kWide64 (AVX2: 64-byte steps while a step holds no stop, then 16-byte
// steps to the stop), kToStop64 (AVX-512BW: 64-byte steps up to and
// including the one that holds the stop, whose bytes before it are stored
// with one masked store), kUnescape64 (AVX-512 VBMI2: once the bytes move,
// the 64-byte steps also unescape one-character escapes -- `\n`, `\"`...
// -- themselves, see CopyUnescape64), kBest (the widest the CPU has). The
// same parse; the others are for tests and benchmarks.
enum class InsituSteps { kBest, kWide64, kToStop64, kUnescape64 };

struct InsituStream : rapidjson::InsituStringStream {
  explicit InsituStream(char* src, const char* readable = nullptr, InsituSteps steps = InsituSteps::kBest)
      : rapidjson::InsituStringStream(src), readable_end(readable), steps(steps) {}
  const char* readable_end;
  InsituSteps steps;
};

}  // namespace tollgate::runtime::internal

namespace rapidjson {

// Copied by value inside the reader's loops, as InsituStringStream is.
template <>
struct StreamTraits<tollgate::runtime::internal::InsituStream> {
  enum { copyOptimization = 1 };
};

// JSON whitespace (space, tab, CR, LF), a byte at a time, inline.
template <>
inline void SkipWhitespace(tollgate::runtime::internal::InsituStream& is) {
  char* p = is.src_;
  while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') ++p;
  is.src_ = p;
}

}  // namespace rapidjson

#if defined(RAPIDJSON_SSE2) || defined(RAPIDJSON_SSE42)
namespace rapidjson {

namespace tollgate_insitu {
// Bit k: byte k of the 16 at p is `"`, `\` or below 0x20.
inline unsigned StopMask(const char* p) {
  const __m128i s = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i quote = _mm_cmpeq_epi8(s, _mm_set1_epi8('"'));
  const __m128i backslash = _mm_cmpeq_epi8(s, _mm_set1_epi8('\\'));
  const __m128i x1f = _mm_set1_epi8(0x1F);
  const __m128i control = _mm_cmpeq_epi8(_mm_max_epu8(s, x1f), x1f);  // s <= 0x1F
  return static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control)));
}

#if defined(__x86_64__)
// (__builtin_cpu_init first: this may run before libgcc's constructor.)
inline const bool kWideSteps = (__builtin_cpu_init(), __builtin_cpu_supports("avx2"));

// Whether none of the 64 bytes at p is `"`, `\` or below 0x20.
__attribute__((target("avx2"))) inline bool Clean64(const char* p) {
  const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32));
  const __m256i quote = _mm256_set1_epi8('"'), backslash = _mm256_set1_epi8('\\');
  const __m256i x1f = _mm256_set1_epi8(0x1F);
  auto stops = [&](__m256i s) __attribute__((target("avx2"))) {
    return _mm256_or_si256(_mm256_or_si256(_mm256_cmpeq_epi8(s, quote), _mm256_cmpeq_epi8(s, backslash)),
                           _mm256_cmpeq_epi8(_mm256_max_epu8(s, x1f), x1f));
  };
  return _mm256_testz_si256(_mm256_or_si256(stops(a), stops(b)), _mm256_set1_epi8(-1)) != 0;
}

// Past the whole 64-byte steps from p that hold no stop and end at or
// before `end`; returns where the first other step starts.
[[gnu::noinline]] __attribute__((target("avx2"))) inline char* SkipClean64(char* p, const char* end) {
  while (end - p >= 64 && Clean64(p)) p += 64;
  return p;
}

// The same, moving each clean step down from *p to *q (*q < *p: a step is
// read whole before its store, which ends before the next step).
[[gnu::noinline]] __attribute__((target("avx2"))) inline void CopyClean64(char** p, char** q,
                                                                           const char* end) {
  char* s = *p;
  char* d = *q;
  while (end - s >= 64 && Clean64(s)) {
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s));
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + 32));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(d), a);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + 32), b);
    s += 64;
    d += 64;
  }
  *p = s;
  *q = d;
}

inline const bool kToStopSteps =
    (__builtin_cpu_init(), __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw"));

// Bit k: byte k of the 64 in x is `"`, `\` or below 0x20 (StopMask's).
__attribute__((target("avx512f,avx512bw"))) inline uint64_t StopMask64(__m512i x) {
  return _mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8('"')) |
         _mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8('\\')) |
         _mm512_cmplt_epu8_mask(x, _mm512_set1_epi8(0x20));
}

// The first stop from p, 64 bytes a step while all 64 are readable (before
// `end`); null when the readable steps hold none (the caller goes on from
// *rest with 16-byte steps). One branch per step and one mispredicted exit
// per string, where SkipClean64 and the 16-byte steps after it had two.
[[gnu::noinline]] __attribute__((target("avx512f,avx512bw"))) inline char* SkipToStop64(
    char* p, const char* end, char** rest) {
  while (end - p >= 64) {
    if (const uint64_t m = StopMask64(_mm512_loadu_si512(p)); m != 0) return p + __builtin_ctzll(m);
    p += 64;
  }
  *rest = p;
  return nullptr;
}

// The same, moving the bytes down from *p to *q (*q < *p) up to the stop:
// a step without one is stored whole (read whole before its store, which
// ends before the next step's load); the step holding it stores only the
// bytes before the stop (a masked store: the bytes from the stop on are
// not read yet and must not be overwritten). Moves *p and *q to the stop
// and returns true; false when the readable steps hold none (*p, *q: where
// the 16-byte steps go on). The bytes written are exactly CopyClean64's
// and ScanCopy's 16-byte steps' together.
[[gnu::noinline]] __attribute__((target("avx512f,avx512bw"))) inline bool CopyToStop64(char** p, char** q,
                                                                                     const char* end) {
  char* s = *p;
  char* d = *q;
  while (end - s >= 64) {
    const __m512i x = _mm512_loadu_si512(s);
    if (const uint64_t m = StopMask64(x); m != 0) {
      const unsigned k = static_cast<unsigned>(__builtin_ctzll(m));
      _mm512_mask_storeu_epi8(d, (uint64_t{1} << k) - 1, x);
      *p = s + k;
      *q = d + k;
      return true;
    }
    _mm512_storeu_si512(d, x);
    s += 64;
    d += 64;
  }
  *p = s;
  *q = d;
  return false;
}
inline const bool kUnescapeSteps = (__builtin_cpu_init(), kToStopSteps && __builtin_cpu_supports("avx512vbmi") &&
                                                               __builtin_cpu_supports("avx512vbmi2"));

// CopyToStop64's move, unescaping as it goes. In a step whose stops are
// all backslashes of one-character escapes (`\"` `\\` `\/` `\b` `\f` `\n`
// `\r` `\t`, rapidjson's escape table; no two backslashes in a row, no
// unescaped quote, no byte below 0x20), each escaped character becomes its
// byte and the backslashes are dropped (one vpcompressb): the 64 bytes are
// stored at once and the next step follows, so a prompt's `\n` escapes
// (one every line) cost no loop exit each. Any other step is taken as CopyToStop64
// takes it: its bytes up to the first stop are stored and the reader
// handles that stop (*p, *q there; true). False when the readable steps hold
// no stop (*p, *q: where the 16-byte steps go on). The bytes written are
// exactly those of rapidjson's reader over the same string.
[[gnu::noinline]] __attribute__((target("avx512f,avx512bw,avx512vbmi,avx512vbmi2"))) inline bool CopyUnescape64(
    char** p, char** q, const char* end) {
  // Byte c < 0x80: what `\c` unescapes to, 0 when that is no one-character escape.
  alignas(64) static constexpr char kEscape[128] = {
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
      0, 0, '"', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, '/', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, '\\', 0, 0, 0,
      0, 0, '\b', 0, 0, 0, '\f', 0, 0, 0, 0, 0, 0, 0, '\n', 0, 0, 0, '\r', 0, '\t', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  const __m512i t0 = _mm512_load_si512(kEscape), t1 = _mm512_load_si512(kEscape + 64);
  char* s = *p;
  char* d = *q;
  while (end - s >= 64) {
    const __m512i x = _mm512_loadu_si512(s);
    const uint64_t bs = _mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8('\\'));
    const uint64_t quote = _mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8('"'));
    const uint64_t control = _mm512_cmplt_epu8_mask(x, _mm512_set1_epi8(0x20));
    const uint64_t escaped = bs << 1;  // the characters after the backslashes
    const __m512i value = _mm512_maskz_permutex2var_epi8(~_mm512_movepi8_mask(x), t0, x, t1);
    const uint64_t simple = _mm512_test_epi8_mask(value, value);
    // (A backslash as the step's last byte goes the reader's way too: the
    // next step then always starts 64 bytes on, so no load waits for this
    // step's masks.)
    if ((bs & (escaped | uint64_t{1} << 63)) != 0 || (quote & ~escaped) != 0 || control != 0 ||
        (escaped & ~simple) != 0) {
      const unsigned k = static_cast<unsigned>(__builtin_ctzll(bs | quote | control));
      _mm512_mask_storeu_epi8(d, (uint64_t{1} << k) - 1, x);
      *p = s + k;
      *q = d + k;
      return true;
    }
    // Stored whole (d < s: these bytes are read; the compressed ones lead).
    _mm512_storeu_si512(d, _mm512_maskz_compress_epi8(~bs, _mm512_mask_mov_epi8(x, escaped, value)));
    d += 64 - __builtin_popcountll(bs);
    s += 64;
  }
  *p = s;
  *q = d;
  return false;
}
#endif

// Nothing unescaped yet (*src == *dst): the string stays where it is; skips
// to the first byte to look at. `end`: as InsituStream::readable_end.
inline void Skip(char** src, char** dst, const char* end,
                 tollgate::runtime::internal::InsituSteps steps = tollgate::runtime::internal::InsituSteps::kBest) {
  using tollgate::runtime::internal::InsituSteps;
  char* p = *src;
  if (const unsigned m = StopMask(p); m != 0) {
    *src = *dst = p + __builtin_ctz(m);
    return;
  }
  p += 16;
#if defined(__x86_64__)
  if (end && kToStopSteps && steps != InsituSteps::kWide64) {
    if (char* stop = SkipToStop64(p, end, &p)) {
      *src = *dst = stop;
      return;
    }
  } else if (end && kWideSteps) {
    p = SkipClean64(p, end);
  }
#else
  (void)end;
  (void)steps;
#endif
  for (;; p += 16) {
    if (const unsigned m = StopMask(p); m != 0) {
      p += __builtin_ctz(m);
      break;
    }
  }
  *src = *dst = p;
}

// After an escape: the bytes move down (*dst < *src) up to the first byte
// to look at. A whole 16-byte step is stored at once (its bytes are already
// read, and the store ends before the next step's); a partial one bytewise,
// as it may overlap the unread text.
inline void ScanCopy(char** src, char** dst, const char* end,
                     tollgate::runtime::internal::InsituSteps steps = tollgate::runtime::internal::InsituSteps::kBest) {
  using tollgate::runtime::internal::InsituSteps;
  if (*src == *dst) return Skip(src, dst, end, steps);
  char* p = *src;
  char* q = *dst;
#if defined(__x86_64__)
  if (end && kUnescapeSteps && (steps == InsituSteps::kBest || steps == InsituSteps::kUnescape64)) {
    if (CopyUnescape64(&p, &q, end)) {
      *src = p;
      *dst = q;
      return;
    }
  } else if (end && kToStopSteps && steps != InsituSteps::kWide64) {
    if (CopyToStop64(&p, &q, end)) {
      *src = p;
      *dst = q;
      return;
    }
  } else if (end && kWideSteps) {
    CopyClean64(&p, &q, end);
  }
#else
  (void)end;
  (void)steps;
#endif
  for (;; p += 16, q += 16) {
    const __m128i s = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    if (const unsigned m = StopMask(p); m != 0) {
      for (const char* stop = p + __builtin_ctz(m); p != stop;) *q++ = *p++;
      break;
    }
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q), s);
  }
  *src = p;
  *dst = q;
}
}  // namespace tollgate_insitu

template <>
inline void tollgate::runtime::internal::InsituReader::SkipUnescapedString(InsituStringStream& is) {
  tollgate_insitu::Skip(&is.src_, &is.dst_, nullptr);
}

template <>
inline void tollgate::runtime::internal::InsituReader::ScanCopyUnescapedString(InsituStringStream& is,
                                                                               InsituStringStream& os) {
  (void)os;
  tollgate_insitu::ScanCopy(&is.src_, &is.dst_, nullptr);
}

// The decoder's stream (reader.h picks the member template for it, whose
// primary is a no-op: this specialization is what scans its strings).
template <>
template <>
inline void tollgate::runtime::internal::InsituReader::ScanCopyUnescapedString(
    tollgate::runtime::internal::InsituStream& is, tollgate::runtime::internal::InsituStream& os) {
  (void)os;
  tollgate_insitu::ScanCopy(&is.src_, &is.dst_, is.readable_end, is.steps);
}

}  // namespace rapidjson
#endif
