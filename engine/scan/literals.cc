// LiteralFinder (literals.h): one Hyperscan literal database, every match.
#include "engine/scan/literals.h"

#include <limits>
#include <utility>

#include "engine/scan/internal/re2_set.h"

#ifdef TOLLGATE_HAVE_HYPERSCAN
#include <hs/hs.h>
#endif

namespace tollgate::scan {

struct LiteralFinder::Impl {
  std::vector<size_t> length;  // per id
#ifdef TOLLGATE_HAVE_HYPERSCAN
  hs_database_t* db = nullptr;
  uint64_t serial = internal::NextSerial();
  ~Impl() { hs_free_database(db); }
#endif
};

LiteralFinder::LiteralFinder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LiteralFinder::~LiteralFinder() = default;

#ifdef TOLLGATE_HAVE_HYPERSCAN
namespace {

// This thread's scratch for one finder (by serial): finders are few and
// long-lived (one per process for the injection score).
struct LocalScratch {
  hs_scratch_t* scratch = nullptr;
  std::vector<uint64_t> sized;
  ~LocalScratch() { hs_free_scratch(scratch); }
};
thread_local LocalScratch tls_scratch;

hs_scratch_t* ScratchFor(const hs_database_t* db, uint64_t serial) {
  LocalScratch& t = tls_scratch;
  for (uint64_t s : t.sized) {
    if (s == serial) return t.scratch;
  }
  if (hs_alloc_scratch(db, &t.scratch) != HS_SUCCESS) return nullptr;
  if (t.sized.size() >= 64) t.sized.clear();
  t.sized.push_back(serial);
  return t.scratch;
}

struct Context {
  const size_t* length;
  LiteralFinder::OnHit on_hit;
  void* ctx;
};

int OnMatch(unsigned int id, unsigned long long, unsigned long long to, unsigned int, void* ctx) {
  auto* c = static_cast<Context*>(ctx);
  const size_t start = static_cast<size_t>(to) - c->length[id];
  return c->on_hit(c->ctx, static_cast<int>(id), start) ? 0 : 1;
}

}  // namespace
#endif

std::unique_ptr<LiteralFinder> LiteralFinder::Build(const std::vector<std::string>& literals,
                                                    bool caseless) {
#ifdef TOLLGATE_HAVE_HYPERSCAN
  if (literals.empty()) return nullptr;
  auto impl = std::make_unique<Impl>();
  std::vector<const char*> exprs;
  std::vector<size_t> lens;
  std::vector<unsigned> flags, ids;
  for (size_t i = 0; i < literals.size(); ++i) {
    if (literals[i].empty()) return nullptr;
    exprs.push_back(literals[i].data());
    lens.push_back(literals[i].size());
    flags.push_back(caseless ? HS_FLAG_CASELESS : 0);
    ids.push_back(static_cast<unsigned>(i));
  }
  impl->length = lens;
  hs_compile_error_t* err = nullptr;
  if (hs_compile_lit_multi(exprs.data(), flags.data(), ids.data(), lens.data(),
                           static_cast<unsigned>(exprs.size()), HS_MODE_BLOCK, nullptr,
                           &impl->db, &err) != HS_SUCCESS) {
    hs_free_compile_error(err);
    return nullptr;
  }
  return std::unique_ptr<LiteralFinder>(new LiteralFinder(std::move(impl)));
#else
  (void)literals;
  (void)caseless;
  return nullptr;
#endif
}

bool LiteralFinder::Find(std::string_view text, OnHit on_hit, void* ctx) const {
#ifdef TOLLGATE_HAVE_HYPERSCAN
  if (text.size() > std::numeric_limits<unsigned>::max()) return false;
  hs_scratch_t* scratch = ScratchFor(impl_->db, impl_->serial);
  if (scratch == nullptr) return false;
  Context c{impl_->length.data(), on_hit, ctx};
  return hs_scan(impl_->db, text.data(), static_cast<unsigned>(text.size()), 0, scratch, OnMatch,
                 &c) == HS_SUCCESS;
#else
  (void)text;
  (void)on_hit;
  (void)ctx;
  return false;
#endif
}

}  // namespace tollgate::scan
