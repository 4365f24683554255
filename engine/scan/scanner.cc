// Scanner (scanner.h): Hyperscan with per-pattern RE2 fallback, or RE2::Set.
#include "engine/scan/scanner.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <limits>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>

#include "engine/scan/escapes.h"
#include "engine/scan/internal/digit_runs.h"
#include "engine/scan/internal/re2_set.h"
#include "engine/scan/internal/translate.h"

#ifdef TOLLGATE_HAVE_HYPERSCAN
#include <hs/hs.h>
#endif

namespace tollgate::scan {

using internal::PerThreadSet;

namespace {
std::atomic<unsigned> compile_threads{0};  // SetCompileThreads
std::atomic<uint64_t> hs_compiles{0};      // HyperscanCompiles
}  // namespace

uint64_t HyperscanCompiles() { return hs_compiles.load(); }

void SetCompileThreads(unsigned threads) { compile_threads = threads; }

int internal::HyperscanMinWidth(const std::string& hs_pattern, bool utf8, bool caseless) {
#ifdef TOLLGATE_HAVE_HYPERSCAN
  hs_expr_info_t* info = nullptr;
  hs_compile_error_t* err = nullptr;
  const unsigned flags = (utf8 ? HS_FLAG_UTF8 : 0) | (caseless ? HS_FLAG_CASELESS : 0) | HS_FLAG_SINGLEMATCH;
  if (hs_expression_info(hs_pattern.c_str(), flags, &info, &err) != HS_SUCCESS) {
    hs_free_compile_error(err);
    return -1;
  }
  const int width = static_cast<int>(info->min_width);
  free(info);
  return width;
#else
  (void)hs_pattern, (void)utf8, (void)caseless;
  return -1;
#endif
}

bool HaveHyperscan() {
#ifdef TOLLGATE_HAVE_HYPERSCAN
  return true;
#else
  return false;
#endif
}

bool ValidUtf8(std::string_view text) { return internal::ValidUtf8(text); }

void DigitRunSpans(std::string_view text, const DigitRuns& p, std::vector<std::pair<size_t, size_t>>* out) {
  out->clear();
  internal::FindDigitRuns(text, p.separators, p.wide_separators, p.max_gap, p.min_digits, out);
}

namespace {

// The digits of a digit run (ASCII, and the full-width U+FF10..U+FF19:
// EF BC 90..99), at least as many as the run holds
// (exactly as many: in a run a byte 0x90..0x99 after EF BC is a
// full-width digit's last byte; a superset would still be exact, every
// match lying in a run with enough digits).
uint32_t RunDigits(std::string_view run) {
  uint32_t n = 0;
  for (size_t i = 0; i < run.size(); ++i) {
    const auto c = static_cast<unsigned char>(run[i]);
    n += (c >= '0' && c <= '9') || (c >= 0x90 && c <= 0x99 && i >= 2 &&
                                     static_cast<unsigned char>(run[i - 1]) == 0xBC &&
                                     static_cast<unsigned char>(run[i - 2]) == 0xEF);
  }
  return n;
}

}  // namespace

bool HoldsBackslash(std::string_view text, const FoundDigitRuns* found) {
  if (found != nullptr && found->backslash_known && found->text.data() == text.data() &&
      found->text.size() == text.size()) {
    return found->backslash;
  }
  return MayHoldEscapes(text);
}

void DigitRunSpans(std::string_view text, const DigitRuns& p, const FoundDigitRuns* found,
                   std::vector<std::pair<size_t, size_t>>* out) {
  if (found != nullptr && found->count != 0 && found->text.data() == text.data() &&
      found->text.size() == text.size()) {
    std::string seps = p.separators;
    std::sort(seps.begin(), seps.end());
    seps.erase(std::unique(seps.begin(), seps.end()), seps.end());
    const uint32_t max_gap = std::clamp<uint32_t>(p.max_gap, 1, 64);
    for (size_t i = 0; i < found->count; ++i) {
      const FoundDigitRuns::Set& s = found->sets[i];
      // A run is maximal whatever the digits asked for: the runs with
      // fewer digits than this promise asks are dropped, the rest are the
      // same runs (digits counted as FindDigitRuns counts them).
      if (s.promise.separators != seps || s.promise.max_gap != max_gap ||
          (s.promise.wide_separators != p.wide_separators && !s.ascii) ||
          s.promise.min_digits > p.min_digits) {
        continue;
      }
      out->clear();
      for (const auto& span : s.spans) {
        if (s.promise.min_digits == p.min_digits ||
            RunDigits(text.substr(span.first, span.second - span.first)) >= p.min_digits) {
          out->push_back(span);
        }
      }
      return;
    }
  }
  DigitRunSpans(text, p, out);
}

const char* DefaultEngineName() { return HaveHyperscan() ? "hyperscan" : "re2"; }

namespace {
thread_local uint64_t tls_builds = 0;
}  // namespace

uint64_t ThreadLocalBuilds() { return tls_builds; }
void CountThreadLocalBuild() { ++tls_builds; }

#ifdef TOLLGATE_HAVE_HYPERSCAN
namespace {

struct HsDatabase {
  hs_database_t* db = nullptr;
  ~HsDatabase() { hs_free_database(db); }
};

// The databases this process has compiled, serialized, by what they were
// compiled from (expressions, flags, ids, mode): compiling the same again
// (a policy reloaded, its next version, the detectors every policy with
// content rules shares, each version in a replayed log) copies the database
// instead. Hyperscan compiles the same input to the same database on one
// host. Bounded: past kMaxBytes the oldest entries go.
class CompiledCache {
 public:
  static constexpr size_t kMaxBytes = size_t{64} << 20;

  static std::string Key(const char* const* exprs, const unsigned* flags, const unsigned* ids,
                         unsigned count, unsigned mode) {
    std::string key = std::to_string(mode);
    for (unsigned i = 0; i < count; ++i) {
      const size_t len = std::strlen(exprs[i]);
      key += '|' + std::to_string(ids[i]) + ',' + std::to_string(flags[i]) + ',' + std::to_string(len) + ':';
      key.append(exprs[i], len);
    }
    return key;
  }

  // A fresh copy of the database compiled from `key`, or false.
  bool Get(const std::string& key, hs_database_t** db) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = bytes_.find(key);
    return it != bytes_.end() &&
           hs_deserialize_database(it->second.data(), it->second.size(), db) == HS_SUCCESS;
  }

  void Put(const std::string& key, const hs_database_t* db) {
    char* bytes = nullptr;
    size_t size = 0;
    if (hs_serialize_database(db, &bytes, &size) != HS_SUCCESS) return;
    std::string copy(bytes, size);
    free(bytes);
    std::lock_guard<std::mutex> lock(mu_);
    if (key.size() + size > kMaxBytes || bytes_.count(key) != 0) return;
    while (total_ + key.size() + size > kMaxBytes && !order_.empty()) {
      auto it = bytes_.find(order_.front());
      total_ -= it->first.size() + it->second.size();
      bytes_.erase(it);
      order_.pop_front();
    }
    total_ += key.size() + size;
    order_.push_back(key);
    bytes_.emplace(key, std::move(copy));
  }

  void Clear() {
    std::lock_guard<std::mutex> lock(mu_);
    bytes_.clear();
    order_.clear();
    total_ = 0;
  }

 private:
  std::mutex mu_;
  std::unordered_map<std::string, std::string> bytes_;
  std::deque<std::string> order_;  // keys, oldest first
  size_t total_ = 0;               // bytes of keys and databases
};

CompiledCache& Compiled() {
  static CompiledCache* cache = new CompiledCache;  // never destroyed: compiles may run at exit
  return *cache;
}

// hs_compile_multi (block or stream mode, for this host), or a copy of the
// database the same input compiled to before (CompiledCache). Compiles are
// counted (HyperscanCompiles).
hs_error_t CompileMulti(const char* const* exprs, const unsigned* flags, const unsigned* ids,
                        unsigned count, unsigned mode, hs_database_t** db, hs_compile_error_t** err) {
  const std::string key = CompiledCache::Key(exprs, flags, ids, count, mode);
  if (Compiled().Get(key, db)) return HS_SUCCESS;
  ++hs_compiles;
  const hs_error_t rc = hs_compile_multi(exprs, flags, ids, count, mode, nullptr, db, err);
  if (rc == HS_SUCCESS) Compiled().Put(key, *db);
  return rc;
}


// This thread's Hyperscan scratch, grown for every database it has scanned
// with (by database serial). Freed when the thread exits.
struct LocalScratch {
  static constexpr size_t kMaxSized = 256;
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
  CountThreadLocalBuild();
  if (t.sized.size() >= LocalScratch::kMaxSized) t.sized.clear();
  t.sized.push_back(serial);
  return t.scratch;
}

int OnMatch(unsigned int id, unsigned long long, unsigned long long, unsigned int, void* ctx) {
  static_cast<std::vector<int>*>(ctx)->push_back(static_cast<int>(id));
  return 0;  // HS_FLAG_SINGLEMATCH: each id is reported once
}

}  // namespace
#endif

struct Scanner::Impl {
  Options options;
  std::vector<std::string> patterns;
  std::vector<std::string> fallback;  // per pattern: "" = Hyperscan, else why RE2 runs it
  PerThreadSet all;                   // every pattern: the RE2 engine, non-UTF-8 texts
  PerThreadSet rest;                  // the patterns Hyperscan does not run
  // Patterns Hyperscan runs as a cheaper superset (PrefilterForm): RE2
  // confirms each one Hyperscan reports. Null for the others.
  std::vector<std::unique_ptr<PerThreadSet>> confirm;
  bool any_confirm = false;
  bool any_escapes = false;  // some pattern reads escapes (Options::read_escapes)
  bool use_hs = false;
  size_t hs_count = 0;
#ifdef TOLLGATE_HAVE_HYPERSCAN
  uint64_t block_serial = internal::NextSerial();
  uint64_t stream_serial = internal::NextSerial();
  HsDatabase block, stream;  // block: every Hyperscan pattern but the gated ones
  // The block database's patterns in byte mode, for texts that are all
  // ASCII (internal::TranslateForAsciiText): built only when some of them
  // need UTF-8 mode (caseless k or s, `.`, negated classes, non-ASCII
  // characters). Hyperscan's UTF-8 mode is markedly slower.
  HsDatabase ascii_block;
  uint64_t ascii_serial = internal::NextSerial();
  // Patterns with a digit-run promise (Options::digit_runs), one digit-run
  // pass per separator set, and one database per number of digits promised
  // (a run of 9 digits need not meet the 13-digit patterns).
  struct Gated {
    std::string separators;
    bool wide = false;  // DigitRuns::wide_separators
    uint32_t max_gap = 1;  // the largest of its patterns'
    uint32_t min_digits = 32;  // the least of its tiers'
    struct Tier {
      uint32_t min_digits = 0;
      std::vector<int> ids;
      HsDatabase db;
      uint64_t serial = internal::NextSerial();
    };
    std::vector<std::unique_ptr<Tier>> tiers;
  };
  std::vector<std::unique_ptr<Gated>> gated;
  std::vector<bool> is_gated;  // per pattern
#endif
};

namespace {

#ifdef TOLLGATE_HAVE_HYPERSCAN
// Compiles the accepted patterns into one database in `mode`. A pattern
// Hyperscan rejects moves to the fallback (reason in fallback[i]) and the
// rest is compiled again.
bool CompileHs(Scanner::Impl* impl, const std::vector<std::string>& hs_text,
               const std::vector<unsigned>& hs_flags, unsigned mode, hs_database_t** db) {
  for (;;) {
    std::vector<const char*> exprs;
    std::vector<unsigned> flags, ids;
    for (size_t i = 0; i < hs_text.size(); ++i) {
      if (!impl->fallback[i].empty()) continue;
      exprs.push_back(hs_text[i].c_str());
      flags.push_back(hs_flags[i]);
      ids.push_back(static_cast<unsigned>(i));
    }
    if (exprs.empty()) return true;
    hs_compile_error_t* err = nullptr;
    if (CompileMulti(exprs.data(), flags.data(), ids.data(), static_cast<unsigned>(exprs.size()),
                     mode, db, &err) == HS_SUCCESS) {
      return true;
    }
    std::string msg = err != nullptr && err->message != nullptr ? err->message : "error";
    int which = err != nullptr ? err->expression : -1;
    hs_free_compile_error(err);
    if (which < 0 || which >= static_cast<int>(ids.size())) {
      // The database as a whole failed (too large, say): everything on RE2.
      for (size_t i = 0; i < hs_text.size(); ++i) {
        if (impl->fallback[i].empty()) impl->fallback[i] = "hyperscan database: " + msg;
      }
      return true;
    }
    impl->fallback[ids[which]] = "hyperscan: " + msg;
  }
}

// A pattern's byte-mode form for ASCII texts (HsForm).
struct AsciiForm {
  std::string text;        // empty: none (the pattern runs in byte mode already, or has none)
  bool fold_only = false;  // it differs from the UTF-8 form only by U+212A and U+017F
};

// Translates pattern i for Hyperscan with its flags; false with *reason set
// when Hyperscan cannot run it with the same meaning.
// *ascii_form: the byte-mode form for ASCII texts when the pattern needs
// UTF-8 mode and has one.
bool HsForm(const std::string& pattern, bool case_insensitive, std::string* text, unsigned* flags,
            std::string* reason, AsciiForm* ascii_form) {
  bool caseless = false, ascii = false, nonempty = false, fold_only = false;
  *ascii_form = AsciiForm{};
  if (!internal::TranslateForHyperscan(pattern, case_insensitive, text, reason, &caseless, &ascii,
                                       &nonempty, &fold_only)) {
    return false;
  }
  std::string why;
  if (!ascii && !internal::TranslateForAsciiText(pattern, caseless, &ascii_form->text, &why))
    ascii_form->text.clear();
  ascii_form->fold_only = fold_only;
  // Texts reach Hyperscan only when they are well-formed UTF-8, where an
  // ASCII-only pattern means the same byte by byte.
  *flags = (ascii ? 0 : HS_FLAG_UTF8) | HS_FLAG_SINGLEMATCH | (caseless ? HS_FLAG_CASELESS : 0);
  // Hyperscan's own analysis (a tenth of a policy's load) only when the
  // translation could not tell: a pattern Hyperscan cannot parse then fails
  // its database's compile, and the step-by-step build moves it to RE2.
  if (nonempty) return true;
  hs_expr_info_t* info = nullptr;
  hs_compile_error_t* err = nullptr;
  if (hs_expression_info(text->c_str(), *flags, &info, &err) != HS_SUCCESS) {
    *reason = std::string("hyperscan: ") + (err && err->message ? err->message : "error");
    hs_free_compile_error(err);
    return false;
  }
  // Empty matches: RE2 reports them, Hyperscan's are another semantics.
  const bool empty = info->min_width == 0;
  free(info);
  if (empty) *reason = "can match the empty string";
  return !empty;
}

// Compiles `ids` (indices into hs_text) into one block-mode database.
bool CompileSubset(const std::vector<std::string>& hs_text, const std::vector<unsigned>& hs_flags,
                   const std::vector<int>& ids, hs_database_t** db) {
  std::vector<const char*> exprs;
  std::vector<unsigned> flags, hs_ids;
  for (int i : ids) {
    exprs.push_back(hs_text[static_cast<size_t>(i)].c_str());
    flags.push_back(hs_flags[static_cast<size_t>(i)]);
    hs_ids.push_back(static_cast<unsigned>(i));
  }
  hs_compile_error_t* err = nullptr;
  if (CompileMulti(exprs.data(), flags.data(), hs_ids.data(), static_cast<unsigned>(exprs.size()),
                   HS_MODE_BLOCK, db, &err) == HS_SUCCESS) {
    return true;
  }
  hs_free_compile_error(err);
  return false;
}

// Which Hyperscan patterns (not fallen back) go to the digit-run databases:
// those with a usable digit-run promise (Options::digit_runs), one set of
// databases per separator set. Usable: Hyperscan runs the pattern exactly
// (no RE2 confirmation) in byte mode (the runs' context bytes need not be
// whole UTF-8 characters), with 2 to 32 digits promised. The others stay in
// the block database (`rest`).
struct DigitRunPlan {
  std::vector<std::unique_ptr<Scanner::Impl::Gated>> gated;
  std::vector<bool> is_gated;  // per pattern
  std::vector<int> rest;
};

DigitRunPlan PlanDigitRuns(const Scanner::Impl& impl, const std::vector<unsigned>& hs_flags) {
  const auto& promises = impl.options.digit_runs;
  const size_t n = impl.patterns.size();
  DigitRunPlan plan;
  plan.is_gated.assign(n, false);
  for (size_t i = 0; i < n; ++i) {
    if (!impl.fallback[i].empty()) continue;
    if (promises.size() != n) {
      plan.rest.push_back(static_cast<int>(i));
      continue;
    }
    const DigitRuns& p = promises[i];
    std::string seps = p.separators;
    std::sort(seps.begin(), seps.end());
    seps.erase(std::unique(seps.begin(), seps.end()), seps.end());
    const bool usable = p.min_digits >= 2 && p.min_digits <= 32 && impl.confirm[i] == nullptr &&
                        (hs_flags[i] & HS_FLAG_UTF8) == 0 &&
                        std::none_of(seps.begin(), seps.end(), [](char c) {
                          return (c >= '0' && c <= '9') || static_cast<unsigned char>(c) >= 0x80;
                        });
    if (!usable) {
      plan.rest.push_back(static_cast<int>(i));
      continue;
    }
    auto& gated = plan.gated;
    // One pass per separator set: wide runs hold the narrow ones, so a
    // group with a wide promise runs wide for all its patterns.
    auto it = std::find_if(gated.begin(), gated.end(), [&](const auto& g) { return g->separators == seps; });
    if (it == gated.end()) {
      gated.push_back(std::make_unique<Scanner::Impl::Gated>());
      gated.back()->separators = seps;
      it = gated.end() - 1;
    }
    (*it)->wide = (*it)->wide || p.wide_separators;
    (*it)->max_gap = std::max((*it)->max_gap, std::clamp<uint32_t>(p.max_gap, 1, 64));
    (*it)->min_digits = std::min((*it)->min_digits, p.min_digits);
    auto& tiers = (*it)->tiers;
    auto tier = std::find_if(tiers.begin(), tiers.end(), [&](const auto& t) { return t->min_digits == p.min_digits; });
    if (tier == tiers.end()) {
      tiers.push_back(std::make_unique<Scanner::Impl::Gated::Tier>());
      tiers.back()->min_digits = p.min_digits;
      tier = tiers.end() - 1;
    }
    (*tier)->ids.push_back(static_cast<int>(i));
    plan.is_gated[i] = true;
  }
  return plan;
}

// Moves the planned digit-run patterns (PlanDigitRuns) out of the block
// database into their own databases. Leaves everything as it was if a
// database fails to build.
void GateDigitRuns(Scanner::Impl* impl, const std::vector<std::string>& hs_text,
                   const std::vector<unsigned>& hs_flags) {
  DigitRunPlan plan = PlanDigitRuns(*impl, hs_flags);
  if (plan.gated.empty()) return;
  for (auto& g : plan.gated) {
    for (auto& t : g->tiers) {
      if (!CompileSubset(hs_text, hs_flags, t->ids, &t->db.db)) return;
    }
  }
  hs_database_t* rest_db = nullptr;
  if (!plan.rest.empty() && !CompileSubset(hs_text, hs_flags, plan.rest, &rest_db)) return;
  hs_free_database(impl->block.db);
  impl->block.db = rest_db;  // null when every Hyperscan pattern is gated
  impl->block_serial = internal::NextSerial();
  impl->gated = std::move(plan.gated);
  impl->is_gated = std::move(plan.is_gated);
}

// The most patterns a database may hold and still get its byte-mode form
// for ASCII texts when its patterns need UTF-8 mode only for the case
// variants of k, s and \w. That form doubles the database's compile (1,000
// such patterns: 0.6 s more on one thread) and, in a set that large, scans
// no faster (measured equal at 2 KB and 64 KB); in a small set it is cheap
// to build and saves ~10 % (three caseless patterns in twelve). A database
// with a pattern that needs UTF-8 mode for more (a non-ASCII class, `.`, a
// negated class) always gets it: the example policy's detectors scan twice
// as fast with it.
constexpr size_t kFoldOnlyAsciiFormMax = 64;

// The block database's patterns (`ids`) in their byte-mode forms for ASCII
// texts (ascii_forms[i].text, or its own text when it already runs in byte
// mode): false when none of them needs UTF-8 mode, one has no such form, or
// the set is larger than kFoldOnlyAsciiFormMax and needs UTF-8 mode only
// for case variants.
bool AsciiForms(const std::vector<std::string>& hs_text, const std::vector<unsigned>& hs_flags,
                const std::vector<AsciiForm>& ascii_forms, const std::vector<int>& ids,
                std::vector<std::string>* text, std::vector<unsigned>* flags) {
  bool any_utf8 = false, any_wide = false;
  text->assign(hs_text.size(), "");
  flags->assign(hs_text.size(), 0);
  for (int i : ids) {
    const auto k = static_cast<size_t>(i);
    const bool utf8 = (hs_flags[k] & HS_FLAG_UTF8) != 0;
    if (utf8 && ascii_forms[k].text.empty()) return false;
    any_utf8 = any_utf8 || utf8;
    any_wide = any_wide || (utf8 && !ascii_forms[k].fold_only);
    (*text)[k] = utf8 ? ascii_forms[k].text : hs_text[k];
    (*flags)[k] = hs_flags[k] & ~static_cast<unsigned>(HS_FLAG_UTF8);
  }
  return any_utf8 && (any_wide || ids.size() <= kFoldOnlyAsciiFormMax);
}

// Builds Impl::ascii_block (AsciiForms) from the block database's
// patterns (neither fallen back nor gated).
void BuildAsciiBlock(Scanner::Impl* impl, const std::vector<std::string>& hs_text,
                     const std::vector<unsigned>& hs_flags, const std::vector<AsciiForm>& ascii_forms) {
  if (impl->block.db == nullptr) return;
  std::vector<int> ids;
  for (size_t i = 0; i < hs_text.size(); ++i) {
    if (!impl->fallback[i].empty() || (i < impl->is_gated.size() && impl->is_gated[i])) continue;
    ids.push_back(static_cast<int>(i));
  }
  std::vector<std::string> text;
  std::vector<unsigned> flags;
  if (!AsciiForms(hs_text, hs_flags, ascii_forms, ids, &text, &flags)) return;
  hs_database_t* db = nullptr;
  if (CompileSubset(text, flags, ids, &db)) impl->ascii_block.db = db;
}

// Runs the jobs on up to SetCompileThreads threads: a scanner's databases
// are independent, and Hyperscan's compiler keeps no shared state.
void RunConcurrently(std::vector<std::function<void()>>& jobs) {
  const unsigned want = compile_threads.load();
  const unsigned machine = std::clamp(std::thread::hardware_concurrency(), 1u, 8u);
  const size_t threads = std::min<size_t>(jobs.size(), want == 0 ? machine : want);
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t j; (j = next.fetch_add(1)) < jobs.size();) jobs[j]();
  };
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
}

// The block-mode databases built at once, each compiled once and all
// concurrently: the digit-run tiers, the block database (without them) and
// its ASCII-text form. False, with nothing changed, when one of them does
// not compile (a pattern Hyperscan refuses: the step-by-step build moves it
// to RE2) or there is nothing to compile.
bool BuildBlockDatabases(Scanner::Impl* impl, const std::vector<std::string>& hs_text,
                         const std::vector<unsigned>& hs_flags, const std::vector<AsciiForm>& ascii_forms) {
  DigitRunPlan plan = PlanDigitRuns(*impl, hs_flags);
  std::vector<std::string> atext;
  std::vector<unsigned> aflags;
  const bool want_ascii =
      !plan.rest.empty() && AsciiForms(hs_text, hs_flags, ascii_forms, plan.rest, &atext, &aflags);
  HsDatabase rest_db, ascii_db;
  std::vector<std::function<void()>> jobs;
  std::atomic<bool> failed{false};
  auto job = [&](const std::vector<std::string>& text, const std::vector<unsigned>& flags,
                 const std::vector<int>& ids, hs_database_t** db) {
    jobs.emplace_back([&text, &flags, &ids, db, &failed] {
      if (!CompileSubset(text, flags, ids, db)) failed = true;
    });
  };
  if (!plan.rest.empty()) job(hs_text, hs_flags, plan.rest, &rest_db.db);
  if (want_ascii) job(atext, aflags, plan.rest, &ascii_db.db);
  for (auto& g : plan.gated) {
    for (auto& t : g->tiers) job(hs_text, hs_flags, t->ids, &t->db.db);
  }
  if (jobs.empty()) return false;
  RunConcurrently(jobs);
  if (failed) return false;
  std::swap(impl->block.db, rest_db.db);  // null when every Hyperscan pattern is gated
  std::swap(impl->ascii_block.db, ascii_db.db);
  impl->block_serial = internal::NextSerial();
  impl->ascii_serial = internal::NextSerial();
  if (!plan.gated.empty()) {
    impl->gated = std::move(plan.gated);
    impl->is_gated = std::move(plan.is_gated);
  }
  impl->use_hs = true;
  return true;
}

// Drops the RE2 confirmations of the patterns RE2 runs whole.
void ResetUnusedConfirms(Scanner::Impl* impl) {
  impl->any_confirm = false;
  for (size_t i = 0; i < impl->confirm.size(); ++i) {
    if (!impl->fallback[i].empty()) impl->confirm[i].reset();
    impl->any_confirm = impl->any_confirm || impl->confirm[i] != nullptr;
  }
}

void BuildHyperscan(Scanner::Impl* impl) {
  const size_t n = impl->patterns.size();
  std::vector<std::string> hs_text(n);
  std::vector<AsciiForm> ascii_forms(n);
  std::vector<unsigned> hs_flags(n, 0);
  impl->confirm.resize(n);
  for (size_t i = 0; i < n; ++i) {
    std::string reason, pre;
    bool exact = false;
    // A cheaper form first (a superset: RE2 confirms its hits), else the pattern.
    if (internal::PrefilterForm(impl->patterns[i], &pre, &exact) &&
        HsForm(pre, impl->options.case_insensitive, &hs_text[i], &hs_flags[i], &reason,
               &ascii_forms[i])) {
      if (exact) continue;  // the same meaning: nothing to confirm
      auto set = std::make_unique<PerThreadSet>();
      std::string error;
      if (set->Build({impl->patterns[i]}, {static_cast<int>(i)}, impl->options.case_insensitive,
                     &error)) {
        impl->confirm[i] = std::move(set);
        impl->any_confirm = true;
        continue;
      }
    }
    if (!HsForm(impl->patterns[i], impl->options.case_insensitive, &hs_text[i], &hs_flags[i],
                &reason, &ascii_forms[i])) {
      impl->fallback[i] = reason;
    }
  }
  // Step by step (a pattern Hyperscan refuses moves to RE2 and the rest is
  // compiled again; the stream database must run the same patterns) only
  // when building every block database at once did not do.
  if (!impl->options.streaming && BuildBlockDatabases(impl, hs_text, hs_flags, ascii_forms)) {
    ResetUnusedConfirms(impl);
    return;
  }
  CompileHs(impl, hs_text, hs_flags, HS_MODE_BLOCK, &impl->block.db);
  if (impl->options.streaming) {
    size_t before = std::count_if(impl->fallback.begin(), impl->fallback.end(),
                                  [](const std::string& f) { return f.empty(); });
    CompileHs(impl, hs_text, hs_flags, HS_MODE_STREAM, &impl->stream.db);
    size_t after = std::count_if(impl->fallback.begin(), impl->fallback.end(),
                                 [](const std::string& f) { return f.empty(); });
    if (after != before) {  // stream mode refused more: both modes run the same patterns
      hs_free_database(impl->block.db);
      impl->block.db = nullptr;
      CompileHs(impl, hs_text, hs_flags, HS_MODE_BLOCK, &impl->block.db);
    }
  }
  impl->use_hs = impl->block.db != nullptr;
  if (impl->use_hs) GateDigitRuns(impl, hs_text, hs_flags);
  if (impl->use_hs) BuildAsciiBlock(impl, hs_text, hs_flags, ascii_forms);
  ResetUnusedConfirms(impl);
}

// Drops from *ids the prefiltered patterns RE2 does not confirm on `text`.
// False when RE2 gave up.
bool Confirm(const Scanner::Impl& m, std::string_view text, std::vector<int>* ids) {
  if (!m.any_confirm) return true;
  thread_local std::vector<int> hit;
  size_t kept = 0;
  for (int id : *ids) {
    const PerThreadSet* set = m.confirm[static_cast<size_t>(id)].get();
    if (set != nullptr) {
      hit.clear();
      if (!set->Match(text, &hit)) return false;
      if (hit.empty()) continue;
    }
    (*ids)[kept++] = id;
  }
  ids->resize(kept);
  return true;
}
#endif

}  // namespace

void ClearCompiledDatabases() {
#ifdef TOLLGATE_HAVE_HYPERSCAN
  Compiled().Clear();
#endif
}

Scanner::Scanner(std::unique_ptr<Impl> impl, size_t size) : impl_(std::move(impl)), size_(size) {}
Scanner::~Scanner() = default;

std::unique_ptr<Scanner> Scanner::Build(const std::vector<std::string>& patterns,
                                        const Options& options, std::string* error) {
  if (patterns.empty()) {
    *error = "empty pattern set";
    return nullptr;
  }
  if (!options.read_escapes.empty() && options.read_escapes.size() != patterns.size()) {
    *error = "read_escapes names " + std::to_string(options.read_escapes.size()) + " patterns of " +
             std::to_string(patterns.size());
    return nullptr;
  }
  const bool any_escapes =
      std::find(options.read_escapes.begin(), options.read_escapes.end(), true) != options.read_escapes.end();
  if (any_escapes && options.streaming) {
    *error = "a streaming scanner does not read escapes";
    return nullptr;
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->any_escapes = any_escapes;
  impl->patterns = patterns;
  impl->fallback.assign(patterns.size(), "");
  std::vector<int> ids(patterns.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int>(i);
  if (!impl->all.Build(patterns, ids, options.case_insensitive, error)) return nullptr;
  bool want_hs = options.engine != Engine::kRE2;
#ifdef TOLLGATE_HAVE_HYPERSCAN
  if (want_hs) BuildHyperscan(impl.get());
#endif
  if (!impl->use_hs) {
    for (std::string& f : impl->fallback) f = want_hs ? "no hyperscan in this build" : "re2 engine";
  } else {
    std::vector<std::string> rest;
    std::vector<int> rest_ids;
    for (size_t i = 0; i < patterns.size(); ++i) {
      if (impl->fallback[i].empty()) {
        ++impl->hs_count;
      } else {
        rest.push_back(patterns[i]);
        rest_ids.push_back(static_cast<int>(i));
      }
    }
    if (!impl->rest.Build(rest, rest_ids, options.case_insensitive, error)) return nullptr;
  }
  return std::unique_ptr<Scanner>(new Scanner(std::move(impl), patterns.size()));
}

namespace {

// Sets *ids (empty on entry) to the ids of the patterns matching somewhere
// in `text` itself, in increasing order. False when an engine gave up (*ids
// then unspecified). *backslash (when not null): whether `text` holds a
// backslash (from the UTF-8 pass Hyperscan needs anyway, else a memchr).
bool ScanText(const Scanner::Impl& m, std::string_view text, std::vector<int>* ids,
              bool* backslash = nullptr, FoundDigitRuns* found = nullptr) {
  bool ok = true;
#ifdef TOLLGATE_HAVE_HYPERSCAN
  internal::Utf8Checker utf8;
  if (m.use_hs && text.size() <= std::numeric_limits<unsigned>::max() &&
      (utf8.Feed(text), utf8.Done())) {
    if (backslash != nullptr) *backslash = utf8.Backslash();
    if (found != nullptr) {
      found->text = text;
      found->backslash_known = true;
      found->backslash = utf8.Backslash();
    }
    if (m.block.db != nullptr) {
      const bool ascii = m.ascii_block.db != nullptr && utf8.Ascii();
      const hs_database_t* db = ascii ? m.ascii_block.db : m.block.db;
      hs_scratch_t* scratch = ScratchFor(db, ascii ? m.ascii_serial : m.block_serial);
      ok = scratch != nullptr &&
           hs_scan(db, text.data(), static_cast<unsigned>(text.size()), 0, scratch,
                   OnMatch, ids) == HS_SUCCESS;
    }
    for (const auto& g : m.gated) {
      thread_local internal::Spans runs;
      runs.clear();
      // An ASCII text has no bytes above 0x7F: wide runs are narrow runs.
      internal::FindDigitRuns(text, g->separators, g->wide && !utf8.Ascii(), g->max_gap,
                              g->min_digits, &runs);
      if (found != nullptr) {
        if (found->sets.size() <= found->count) found->sets.emplace_back();
        FoundDigitRuns::Set& set = found->sets[found->count++];
        set.promise.separators = g->separators;
        set.promise.wide_separators = g->wide;
        set.promise.max_gap = g->max_gap;
        set.promise.min_digits = g->min_digits;
        set.ascii = utf8.Ascii();
        set.spans.assign(runs.begin(), runs.end());
      }
      if (runs.empty()) continue;
      // Many short runs (a table of numbers): one pass over the whole text
      // is cheaper than a call per run, and means the same.
      const bool whole = runs.size() > 8 && runs.size() * 256 > text.size();
      if (whole) runs.assign(1, {0, text.size()});
      for (const auto& t : g->tiers) {
        hs_scratch_t* scratch = nullptr;  // on the first run with enough digits
        for (size_t r = 0; ok && r < runs.size(); ++r) {
          const std::string_view run = text.substr(runs[r].first, runs[r].second - runs[r].first);
          if (!whole && t->min_digits > g->min_digits && RunDigits(run) < t->min_digits) continue;
          if (scratch == nullptr && (scratch = ScratchFor(t->db.db, t->serial)) == nullptr) {
            ok = false;
            break;
          }
          ok = hs_scan(t->db.db, run.data(), static_cast<unsigned>(run.size()), 0, scratch, OnMatch,
                       ids) == HS_SUCCESS;
        }
      }
    }
    ok = ok && Confirm(m, text, ids) && m.rest.Match(text, ids);
    if (!ok) return false;
    std::sort(ids->begin(), ids->end());
    if (!m.gated.empty()) ids->erase(std::unique(ids->begin(), ids->end()), ids->end());
    return true;
  }
#endif
  if (backslash != nullptr) *backslash = MayHoldEscapes(text);
  ok = m.all.Match(text, ids);
  if (!ok) return false;
  std::sort(ids->begin(), ids->end());
  return true;
}

}  // namespace

bool Scanner::Scan(std::string_view text, std::vector<int>* ids) const {
  return Scan(text, ids, nullptr);
}

bool Scanner::Scan(std::string_view text, std::vector<int>* ids, FoundDigitRuns* runs) const {
  ids->clear();
  if (runs != nullptr) runs->clear();
  const Impl& m = *impl_;
  bool backslash = false;
  if (!ScanText(m, text, ids, m.any_escapes ? &backslash : nullptr, runs)) {
    ids->clear();
    if (runs != nullptr) runs->clear();
    return false;
  }
  if (!backslash) return true;
  // The readings, for the patterns that read escapes and did not match yet.
  const std::vector<bool>& reads = m.options.read_escapes;
  size_t wanted = 0;
  for (size_t i = 0, k = 0; i < reads.size(); ++i) {
    while (k < ids->size() && (*ids)[k] < static_cast<int>(i)) ++k;
    wanted += reads[i] && !(k < ids->size() && (*ids)[k] == static_cast<int>(i));
  }
  if (wanted == 0) return true;
  thread_local Readings readings;
  thread_local std::vector<int> more;
  const size_t found = ids->size();
  for (size_t r = 0, n = readings.Read(text); r < n; ++r) {
    more.clear();
    if (!ScanText(m, readings.text(r), &more)) {
      ids->clear();
      return false;
    }
    for (int id : more)
      if (reads[static_cast<size_t>(id)]) ids->push_back(id);
  }
  if (ids->size() != found) {
    std::sort(ids->begin(), ids->end());
    ids->erase(std::unique(ids->begin(), ids->end()), ids->end());
  }
  return true;
}

std::string Scanner::PatternEngine(size_t i) const {
  if (i >= impl_->fallback.size()) return "";
  if (!impl_->fallback[i].empty()) return "re2 (" + impl_->fallback[i] + ")";
#ifdef TOLLGATE_HAVE_HYPERSCAN
  if (i < impl_->confirm.size() && impl_->confirm[i]) return "hyperscan (prefilter, re2 confirms)";
  if (i < impl_->is_gated.size() && impl_->is_gated[i]) return "hyperscan (digit runs)";
#endif
  return "hyperscan";
}

size_t Scanner::hyperscan_patterns() const { return impl_->hs_count; }

bool Scanner::ascii_database() const {
#ifdef TOLLGATE_HAVE_HYPERSCAN
  return impl_->ascii_block.db != nullptr;
#else
  return false;
#endif
}

// ---------------------------------------------------------------- streams

struct Scanner::Stream::Impl {
  const Scanner::Impl* scanner = nullptr;
  std::string buffered;  // the text so far, when some pattern runs on RE2
  bool need_text = false;
  internal::Utf8Checker utf8;
  std::vector<int> found;
  bool failed = false;
#ifdef TOLLGATE_HAVE_HYPERSCAN
  hs_stream_t* hs = nullptr;
#endif
};

Scanner::Stream::Stream(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Scanner::Stream::~Stream() {
#ifdef TOLLGATE_HAVE_HYPERSCAN
  if (impl_->hs != nullptr) hs_close_stream(impl_->hs, nullptr, nullptr, nullptr);
#endif
}

std::unique_ptr<Scanner::Stream> Scanner::NewStream() const {
  if (!impl_->options.streaming) return nullptr;
  auto s = std::make_unique<Stream::Impl>();
  s->scanner = impl_.get();
  s->need_text = true;
#ifdef TOLLGATE_HAVE_HYPERSCAN
  if (impl_->use_hs && impl_->stream.db != nullptr) {
    if (hs_open_stream(impl_->stream.db, 0, &s->hs) != HS_SUCCESS) return nullptr;
    s->need_text = !impl_->rest.empty() || impl_->any_confirm;
  }
#endif
  return std::unique_ptr<Stream>(new Stream(std::move(s)));
}

bool Scanner::Stream::Feed(std::string_view chunk) {
  Impl& s = *impl_;
  if (s.failed) return false;
  s.utf8.Feed(chunk);
  if (s.need_text) s.buffered.append(chunk);
#ifdef TOLLGATE_HAVE_HYPERSCAN
  if (s.hs != nullptr) {
    hs_scratch_t* scratch = ScratchFor(s.scanner->stream.db, s.scanner->stream_serial);
    if (scratch == nullptr || chunk.size() > std::numeric_limits<unsigned>::max() ||
        hs_scan_stream(s.hs, chunk.data(), static_cast<unsigned>(chunk.size()), 0, scratch,
                       OnMatch, &s.found) != HS_SUCCESS) {
      s.failed = true;
    }
  }
#endif
  return !s.failed;
}

bool Scanner::Stream::Finish(std::vector<int>* ids) {
  Impl& s = *impl_;
  ids->clear();
  bool ok = !s.failed;
#ifdef TOLLGATE_HAVE_HYPERSCAN
  if (s.hs != nullptr) {
    hs_scratch_t* scratch = ScratchFor(s.scanner->stream.db, s.scanner->stream_serial);
    // Closing reports the matches that need the end of the text (`\z`).
    ok = ok && scratch != nullptr &&
         hs_close_stream(s.hs, scratch, OnMatch, &s.found) == HS_SUCCESS;
    if (scratch == nullptr) hs_close_stream(s.hs, nullptr, nullptr, nullptr);
    s.hs = nullptr;
    // A text that is not UTF-8 has no defined Hyperscan result: the stream
    // fails rather than guess (Scan would have used RE2 on the whole text).
    ok = ok && s.utf8.Done() && Confirm(*s.scanner, s.buffered, &s.found) &&
         s.scanner->rest.Match(s.buffered, &s.found);
    if (ok) *ids = std::move(s.found);
  } else
#endif
  {
    ok = ok && s.scanner->all.Match(s.buffered, ids);
  }
  s.failed = true;  // one Finish per stream
  if (!ok) {
    ids->clear();
    return false;
  }
  std::sort(ids->begin(), ids->end());
  return true;
}

void Scanner::WarmThread() const {
  const Impl& m = *impl_;
  // With Hyperscan, `all` only reads texts that are not UTF-8 (rare): left
  // to its first use.
  if (!m.use_hs) m.all.WarmThread();
  m.rest.WarmThread();
  for (const auto& c : m.confirm)
    if (c) c->WarmThread();
#ifdef TOLLGATE_HAVE_HYPERSCAN
  auto scratch = [](const HsDatabase& d, uint64_t serial) {
    if (d.db != nullptr) ScratchFor(d.db, serial);
  };
  scratch(m.block, m.block_serial);
  scratch(m.ascii_block, m.ascii_serial);
  scratch(m.stream, m.stream_serial);
  for (const auto& g : m.gated)
    for (const auto& t : g->tiers) scratch(t->db, t->serial);
#endif
}

// LiteralScanner (scanner.h).
struct LiteralScanner::Impl {
#ifdef TOLLGATE_HAVE_HYPERSCAN
  HsDatabase db;
  uint64_t serial = internal::NextSerial();
#endif
};

void LiteralScanner::WarmThread() const {
#ifdef TOLLGATE_HAVE_HYPERSCAN
  if (impl_->db.db != nullptr) ScratchFor(impl_->db.db, impl_->serial);
#endif
}

LiteralScanner::LiteralScanner(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LiteralScanner::~LiteralScanner() = default;

std::unique_ptr<LiteralScanner> LiteralScanner::Build(const std::vector<std::string>& literals,
                                                      bool caseless, std::string* error) {
#ifdef TOLLGATE_HAVE_HYPERSCAN
  if (literals.empty()) {
    *error = "no literals";
    return nullptr;
  }
  // Each literal as a pattern of \xHH escapes: no byte has a meaning.
  std::vector<std::string> text;
  std::vector<const char*> exprs;
  std::vector<unsigned> flags, ids;
  for (size_t i = 0; i < literals.size(); ++i) {
    if (literals[i].empty()) {
      *error = "empty literal";
      return nullptr;
    }
    std::string p;
    for (unsigned char c : literals[i]) {
      static constexpr char kHex[] = "0123456789abcdef";
      p += "\\x";
      p += kHex[c >> 4];
      p += kHex[c & 15];
    }
    text.push_back(std::move(p));
  }
  for (size_t i = 0; i < text.size(); ++i) {
    exprs.push_back(text[i].c_str());
    flags.push_back(caseless ? HS_FLAG_CASELESS : 0);
    ids.push_back(static_cast<unsigned>(i));
  }
  auto impl = std::make_unique<Impl>();
  hs_compile_error_t* err = nullptr;
  if (CompileMulti(exprs.data(), flags.data(), ids.data(), static_cast<unsigned>(exprs.size()),
                   HS_MODE_BLOCK, &impl->db.db, &err) != HS_SUCCESS) {
    *error = std::string("hyperscan: ") + (err != nullptr && err->message != nullptr ? err->message : "error");
    hs_free_compile_error(err);
    return nullptr;
  }
  return std::unique_ptr<LiteralScanner>(new LiteralScanner(std::move(impl)));
#else
  (void)literals;
  (void)caseless;
  *error = "built without hyperscan";
  return nullptr;
#endif
}

bool LiteralScanner::Scan(std::string_view text, size_t max_hits, std::vector<Hit>* hits) const {
  hits->clear();
#ifdef TOLLGATE_HAVE_HYPERSCAN
  if (text.size() > std::numeric_limits<unsigned>::max()) return false;
  hs_scratch_t* scratch = ScratchFor(impl_->db.db, impl_->serial);
  if (scratch == nullptr) return false;
  struct Ctx {
    std::vector<Hit>* hits;
    size_t max;
  } ctx{hits, max_hits};
  auto on = [](unsigned int id, unsigned long long, unsigned long long to, unsigned int,
               void* p) -> int {
    auto* c = static_cast<Ctx*>(p);
    if (c->hits->size() >= c->max) return 1;  // too many: stop
    c->hits->push_back(Hit{id, static_cast<uint32_t>(to)});
    return 0;
  };
  return hs_scan(impl_->db.db, text.data(), static_cast<unsigned>(text.size()), 0, scratch, on,
                 &ctx) == HS_SUCCESS;
#else
  (void)text;
  (void)max_hits;
  return false;
#endif
}

}  // namespace tollgate::scan
