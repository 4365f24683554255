// Every occurrence of a set of literal strings in a text: Hyperscan's
// literal matchers (a fraction of the cost of an automaton per byte), for
// finders that confirm each occurrence themselves (the injection score's
// phrase anchors, stdlib/injection.cc).
//
//   auto f = scan::LiteralFinder::Build({"ignore", "<|"}, /*caseless=*/true);
//   if (f) f->Find(text, [](void* ctx, int id, size_t start) { ...; return true; }, &ctx);
//
// ## Semantics
// Byte strings, no UTF-8 decoding: caseless folds ASCII letters only (a
// caller that needs Unicode case folding must look for the characters that
// fold to ASCII itself, as literals). Every occurrence is reported,
// overlapping ones included, in increasing order of end offset.
//
// ## Cost
// Build compiles once (milliseconds); Find is one linear pass plus one
// callback per occurrence, allocating nothing after a thread's first call.
//
// ## Thread safety
// A built LiteralFinder is immutable; Find may run on any number of threads
// at once (per-thread Hyperscan scratch, no shared lock).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tollgate::scan {

class LiteralFinder {
 public:
  // Null when this build has no Hyperscan, `literals` is empty or holds an
  // empty string, or the database does not compile.
  static std::unique_ptr<LiteralFinder> Build(const std::vector<std::string>& literals,
                                              bool caseless);
  ~LiteralFinder();

  // Calls on_hit(ctx, id, start) for every occurrence of literals[id]
  // starting at byte `start`; on_hit returns false to stop. Returns false
  // when the scan failed or was stopped.
  using OnHit = bool (*)(void* ctx, int id, size_t start);
  bool Find(std::string_view text, OnHit on_hit, void* ctx) const;

  struct Impl;

 private:
  explicit LiteralFinder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tollgate::scan
