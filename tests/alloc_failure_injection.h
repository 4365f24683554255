// Allocation failure on demand for a test binary: replaces the global
// allocation functions (they behave as usual until a test arms them), so
// it is included by exactly one source file of the binary
// (tests/hostile/alloc_failure_test.cc, tests/capi/capi_alloc_failure_test.cc).
//
//   tollgate::testing::alloc_countdown = 10;  // the 11th allocation from now throws std::bad_alloc, once
//   tollgate::testing::alloc_count;           // allocations so far (any thread)
#pragma once

#include <atomic>
#include <cstdlib>
#include <new>

namespace tollgate::testing {
// < 0: off; otherwise the number of allocations left before one fails.
inline std::atomic<long> alloc_countdown{-1};
inline std::atomic<long> alloc_count{0};
}  // namespace tollgate::testing

void* operator new(std::size_t n) {
  tollgate::testing::alloc_count.fetch_add(1, std::memory_order_relaxed);
  long left = tollgate::testing::alloc_countdown.load(std::memory_order_relaxed);
  if (left >= 0) {
    if (left == 0) {
      tollgate::testing::alloc_countdown.store(-1, std::memory_order_relaxed);  // fail once, then let the handler work
      throw std::bad_alloc();
    }
    tollgate::testing::alloc_countdown.store(left - 1, std::memory_order_relaxed);
  }
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
// The nothrow forms too (std::stable_sort's temporary buffer): otherwise the
// sanitizer's own nothrow new would pair with the free() below.
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return operator new(n);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept { return operator new(n, t); }
// GCC's -Wmismatched-new-delete cannot see that these pair with the
// malloc-based operator new above.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
#pragma GCC diagnostic pop
