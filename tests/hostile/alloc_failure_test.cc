// Exception safety at the module boundaries: allocation failure injected at
// many points of compiling, decoding and loading must never let an exception
// out, and the diagnostics returned must stay renderable (under the ASan
// build a diagnostic pointing into a freed source file is a use-after-free:
// CompileSource used to free the file before its handler ran).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <optional>
#include <string>

#include "engine/engine.h"
#include "engine/vm/record.h"
#include "runtime/accounts.h"
#include "runtime/catalog.h"
#include "runtime/input.h"
#include "stdlib/schema.h"

namespace {
// < 0: off; otherwise the number of allocations left before one fails.
std::atomic<long> g_countdown{-1};
std::atomic<long> g_count{0};
}  // namespace

// Replaceable global allocation functions (this test binary only).
void* operator new(std::size_t n) {
  g_count.fetch_add(1, std::memory_order_relaxed);
  long left = g_countdown.load(std::memory_order_relaxed);
  if (left >= 0) {
    if (left == 0) {
      g_countdown.store(-1, std::memory_order_relaxed);  // fail once, then let the handler work
      throw std::bad_alloc();
    }
    g_countdown.store(left - 1, std::memory_order_relaxed);
  }
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
// GCC's -Wmismatched-new-delete cannot see that these pair with the
// malloc-based operator new above.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace tollgate {
namespace {

// Runs the test's own setup `f` with no failure injected (the allocation
// count keeps running down only for the code under test).
template <typename F>
void Unarmed(F f) {
  long saved = g_countdown.exchange(-1);
  f();
  g_countdown = saved;
}

// Runs `f` once to count its allocations, then again failing the k-th
// allocation for ~`points` values of k spread over that count.
template <typename F>
void AtEveryPoint(F f, int points = 120) {
  g_count = 0;
  f();
  const long total = g_count.load();
  ASSERT_GT(total, 0);
  const long step = total / points + 1;
  for (long k = 0; k < total; k += step) {
    g_countdown = k;
    f();
    g_countdown = -1;
  }
}

TEST(AllocFailure, CompileSourceNeverThrowsAndKeepsItsSource) {
  const std::string src =
      "policy \"p\"\nconst eu = {\"DE\", \"FR\"}\n"
      "rule a { when principal.jurisdiction in eu and request.modle == \"x\" deny \"no\" }\n"
      "rule b { when request.input_tokens > 10 deny 400 \"too many\" }\n";
  AtEveryPoint([&] {
    Compiled c;
    std::string text_in;
    Unarmed([&] { text_in = src; });
    EXPECT_NO_THROW(c = CompileSource("p.tg", std::move(text_in), {}));
    g_countdown = -1;
    EXPECT_EQ(c.policy, nullptr);  // the policy has an error, found or not
    std::string text = c.diagnostics.Render();
    for (const Diagnostic& d : c.diagnostics.items()) {
      if (d.code == "tg_unknown_field") {
        EXPECT_NE(text.find("request.modle == \"x\""), std::string::npos) << text;
      }
    }
  });
}

TEST(AllocFailure, DecodersAndLoadersNeverThrow) {
  const std::string input =
      R"({"principal":{"workspace":"w"},"request":{"model":"m","messages":[{"role":"user","content":"hi"}]}})";
  AtEveryPoint([&] {
    std::optional<vm::Record> rec;
    Unarmed([&] { rec.emplace(); });
    runtime::InputError err;
    EXPECT_NO_THROW((void)runtime::DecodeInput(input, stdlib::Schema::Standard(), {}, &*rec, &err));
  });
  const std::string catalog =
      R"({"endpoints":[{"id":"a","model":"m","provider":"p","upstream":{"base_url":"https://x/v1","auth":{"type":"bearer","env":"K"}},)"
      R"("pricing":{"input_per_mtok":"1","output_per_mtok":"2","per_request":"0"},"context_length":1000,)"
      R"("max_output_tokens":100,"jurisdiction":"US","region":"us","zdr":false,"trains_on_data":false,)"
      R"("data_collection":"allow","retention_days":30,"quantization":"unknown","supported_parameters":[]}]})";
  AtEveryPoint([&] {
    std::optional<runtime::Catalog> c;
    std::optional<runtime::CatalogError> e;
    Unarmed([&] { c.emplace(); e.emplace(); });
    EXPECT_NO_THROW((void)runtime::Catalog::Load(catalog, stdlib::Schema::Standard(), &*c, &*e));
  });
  AtEveryPoint([&] {
    std::optional<runtime::Accounts> a;
    std::optional<runtime::AccountsError> e;  // its default code is not a short string
    Unarmed([&] { a.emplace(); e.emplace(); });
    EXPECT_NO_THROW((void)runtime::Accounts::Load(R"({"default":{"ignore":["x"]}})", &*a, &*e));
  });
  const stdlib::Schema& base = stdlib::Schema::Standard();
  AtEveryPoint([&] {
    std::optional<stdlib::Schema> s;
    Unarmed([&] { s.emplace(base); });  // the caller's copy, not the code under test
    std::string error;
    EXPECT_NO_THROW((void)s->AddFromJson(
        R"({"fields":[{"path":"principal.department","type":"string","scope":"request","description":"d"}]})",
        &error));
  });
}

}  // namespace
}  // namespace tollgate
