// The rapidjson reader the decision-input decoder parses with (in situ,
// runtime/input/input.cc): rapidjson's GenericReader, with its two in-situ
// string scanning helpers replaced for this reader type only.
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
// INVARIANT (the caller's): the text is NUL-terminated and at least 15
// readable bytes follow the NUL (Record::buffer is reserved with 16 bytes
// of slack), since a 16-byte load may start at any byte up to the NUL.
//
// The specializations are for GenericReader<UTF8<>, UTF8<>, InsituStack>
// only: InsituStack is a type of this header, so no other reader in the
// program is affected (and no translation unit sees two definitions).
#pragma once

#include <rapidjson/allocators.h>
#include <rapidjson/reader.h>

#if defined(RAPIDJSON_SSE2) || defined(RAPIDJSON_SSE42)
#include <emmintrin.h>
#endif

namespace tollgate::runtime::internal {

// The parse stack's allocator: rapidjson's pool allocator, a type of its own.
struct InsituStack : rapidjson::MemoryPoolAllocator<rapidjson::CrtAllocator> {
  using rapidjson::MemoryPoolAllocator<rapidjson::CrtAllocator>::MemoryPoolAllocator;
};

using InsituReader = rapidjson::GenericReader<rapidjson::UTF8<>, rapidjson::UTF8<>, InsituStack>;

}  // namespace tollgate::runtime::internal

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
}  // namespace tollgate_insitu

// Nothing unescaped yet: the string stays where it is; skips to the first
// byte to look at.
template <>
inline void tollgate::runtime::internal::InsituReader::SkipUnescapedString(InsituStringStream& is) {
  char* p = is.src_;
  for (;; p += 16) {
    if (const unsigned m = tollgate_insitu::StopMask(p); m != 0) {
      p += __builtin_ctz(m);
      break;
    }
  }
  is.src_ = is.dst_ = p;
}

// After an escape: the bytes move down (dst_ < src_) up to the first byte
// to look at. A whole 16-byte step is stored at once (its bytes are already
// read, and the store ends before the next step's); a partial one bytewise,
// as it may overlap the unread text.
template <>
inline void tollgate::runtime::internal::InsituReader::ScanCopyUnescapedString(InsituStringStream& is,
                                                                               InsituStringStream& os) {
  (void)os;
  if (is.src_ == is.dst_) {
    SkipUnescapedString(is);
    return;
  }
  char* p = is.src_;
  char* q = is.dst_;
  for (;; p += 16, q += 16) {
    const __m128i s = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    if (const unsigned m = tollgate_insitu::StopMask(p); m != 0) {
      for (const char* end = p + __builtin_ctz(m); p != end;) *q++ = *p++;
      break;
    }
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q), s);
  }
  is.src_ = p;
  is.dst_ = q;
}

}  // namespace rapidjson
#endif
