// The multi-pattern scanner behind fused `matches` / `contains` scan groups.
//
// One small interface -- field bytes in, the ids of the patterns that match
// somewhere out -- so that a faster engine (Hyperscan, say) can replace the
// RE2::Set implementation without touching the compiler or the VM. RE2
// syntax and RE2 partial-match semantics are the reference for every pattern.
//
//   std::string err;
//   auto s = vm::Scanner::Build({"secret", "\\d{16}"}, &err);
//   std::vector<int> ids;
//   s->Scan(text, &ids);   // e.g. {1}
//
// Cost: Build compiles every pattern once (milliseconds); Scan is one linear
// pass over the text (RE2 DFA), allocating only when `ids` must grow.
// Thread safety: Build is reentrant; a built Scanner is immutable and Scan
// may run on any number of threads at once.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <re2/re2.h>

#include "stdlib/builtins.h"


namespace tollgate::vm {

class Scanner {
 public:
  // Compiles `patterns` (RE2 syntax). Returns nullptr with *error set when a
  // pattern does not compile or the set is empty.
  static std::unique_ptr<Scanner> Build(const std::vector<std::string>& patterns,
                                        std::string* error);
  ~Scanner();

  // Replaces *ids with the ids (indices into `patterns`) of every pattern
  // that matches somewhere in `text`, in increasing order. Returns false when
  // the engine gave up (out of DFA memory); *ids is then empty.
  bool Scan(std::string_view text, std::vector<int>* ids) const;
  size_t size() const { return size_; }

 private:
  struct Impl;
  explicit Scanner(std::unique_ptr<Impl> impl, size_t size);
  std::unique_ptr<Impl> impl_;
  size_t size_;
};

// RE2 options used for every policy pattern (UTF-8, case sensitive, quiet).
// Defined in scan.cc so that only one place decides them.
std::unique_ptr<re2::RE2> CompilePattern(std::string_view pattern, std::string* error);

// True when `re` matches somewhere in `text` and, with a non-null
// `validator`, some (leftmost, non-overlapping) match passes it.
bool MatchValidated(const re2::RE2& re, stdlib::Validator validator, std::string_view text);

}  // namespace tollgate::vm
