// Tests of SIMD loops that must not read past a text: a text placed so that
// it ends where an unreadable page begins (a load past its end faults).
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <string_view>

namespace tollgate::testing {

class GuardedText {
 public:
  // Two pages, the second unreadable; ok() false when that failed.
  GuardedText() : page_(static_cast<size_t>(sysconf(_SC_PAGESIZE))) {
    void* mem = mmap(nullptr, 2 * page_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) return;
    base_ = static_cast<char*>(mem);
    ok_ = mprotect(base_ + page_, page_, PROT_NONE) == 0;
  }
  ~GuardedText() {
    if (base_ != nullptr) munmap(base_, 2 * page_);
  }
  GuardedText(const GuardedText&) = delete;
  GuardedText& operator=(const GuardedText&) = delete;

  bool ok() const { return ok_; }
  // A copy of `t` (at most a page) ending at the unreadable page.
  std::string_view Place(std::string_view t) {
    char* at = base_ + page_ - t.size();
    std::memcpy(at, t.data(), t.size());
    return std::string_view(at, t.size());
  }

 private:
  size_t page_;
  char* base_ = nullptr;
  bool ok_ = false;
};

}  // namespace tollgate::testing
