// The C API (tollgate.h) over the engine and runtime. Every entry point is a
// try/catch fence: no exception crosses into C.
#include "runtime/capi/tollgate.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <system_error>

#include "engine/core/read_file.h"
#include "engine/engine.h"
#include "engine/vm/vm.h"
#include "runtime/router/accounts.h"
#include "runtime/router/bare_models.h"
#include "runtime/router/catalog.h"
#include "runtime/decide/decide.h"
#include "runtime/decide/decision_json.h"
#include "runtime/input/input.h"
#include "runtime/router/router.h"
#include "stdlib/schema.h"

#ifndef TOLLGATE_VERSION
#define TOLLGATE_VERSION "0.0.0"
#endif

namespace {

using namespace tollgate;

constexpr uint32_t kPolicyMagic = 0x54475031;     // "TGP1"
constexpr uint32_t kEvaluatorMagic = 0x54474531;  // "TGE1"
constexpr uint32_t kDead = 0xdeadbeef;

}  // namespace

struct tollgate_policy {
  uint32_t magic = kPolicyMagic;
  // INVARIANT: declaration order = destruction order reversed; the router
  // refers to the catalog, accounts and policy, the policy and catalog to
  // the schema.
  std::unique_ptr<stdlib::Schema> schema;  // set when extended
  std::shared_ptr<const Policy> policy;
  std::unique_ptr<runtime::Catalog> catalog;
  std::unique_ptr<runtime::Accounts> accounts;
  std::unique_ptr<runtime::Router> router;
  std::string version;
  Limits limits;
};

struct tollgate_evaluator {
  uint32_t magic = kEvaluatorMagic;
  runtime::DecideScratch scratch;
  std::string input;  // the input with bare model names resolved (Run)
};

namespace {

// Copies `s` into a malloc'd C string; null when out of memory.
char* Dup(std::string_view s) {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  if (!p) return nullptr;
  std::memcpy(p, s.data(), s.size());
  p[s.size()] = '\0';
  return p;
}

// Sets *slot (when the caller asked) to a copy of `text`; returns `status`.
tollgate_status Fail(char** slot, tollgate_status status, std::string_view text) {
  if (slot) *slot = Dup(text);
  return status;
}

// The stages below this API report memory running out as data, not as an
// exception: a tg_limit_exceeded diagnostic, catalog_too_large,
// accounts_too_large, a schema or router error, input_too_large -- each
// with a message that starts "out of memory while". Here it is
// TOLLGATE_ERR_NO_MEMORY (tollgate.h), not a status that blames the
// caller's policy, documents or input.
bool OutOfMemory(std::string_view message) { return message.starts_with("out of memory while"); }

bool ValidPolicy(const tollgate_policy* p) { return p && p->magic == kPolicyMagic; }
bool ValidEvaluator(const tollgate_evaluator* e) { return e && e->magic == kEvaluatorMagic; }

// Reads a file of at most `max` bytes, as the CLI reads its documents
// (engine/core/read_file.h: capped while reading, so a FIFO or a file in
// /proc reads too; lowercase messages). Returns TOLLGATE_OK or an error with
// *error set.
tollgate_status ReadFile(const char* path, size_t max, std::string* out, std::string* error) {
  // ReadCapped reads standard input for "-"; a library reads the file.
  const std::string p = std::string_view(path) == "-" ? "./-" : path;
  switch (ReadCapped(p, max, out, error)) {
    case ReadStatus::kOk: return TOLLGATE_OK;
    case ReadStatus::kTooLarge: return TOLLGATE_ERR_TOO_LARGE;
    case ReadStatus::kError: break;
  }
  return TOLLGATE_ERR_IO;
}

// One optional document of tollgate_options: a path or text, not both.
// *present says whether one was given.
// `max`: the document's limit (engine/core/limits.h: max_schema_bytes,
// max_catalog_bytes, max_accounts_bytes; the CLI's and the gateway's too).
tollgate_status LoadDoc(const char* path, const char* json, const char* what, size_t max,
                        std::string* out, bool* present, std::string* error) {
  *present = path || json;
  if (path && json) {
    *error = std::string("give either ") + what + "_path or " + what + "_json, not both";
    return TOLLGATE_ERR_INVALID_ARGUMENT;
  }
  if (path) return ReadFile(path, max, out, error);
  if (json) {
    size_t n = strnlen(json, max + 1);
    if (n > max) {
      *error = std::string(what) + " document is more than the limit of " + std::to_string(max) +
               " bytes";
      return TOLLGATE_ERR_TOO_LARGE;
    }
    out->assign(json, n);
  }
  return TOLLGATE_OK;
}

// Resolves a (text, len) pair; TOLLGATE_NUL_TERMINATED means strlen up to
// `max` + 1. False when the text is longer than `max`.
bool TextOf(const char* text, size_t len, size_t max, std::string_view* out) {
  if (len == TOLLGATE_NUL_TERMINATED) len = strnlen(text, max + 1);
  if (len > max) return false;
  *out = std::string_view(text, len);
  return true;
}

// Builds the policy handle: schema, compile (by `compile`), catalog,
// accounts, router.
template <typename CompileFn>
tollgate_status Build(const tollgate_options* options, CompileFn compile, tollgate_policy** out,
                      char** message) {
  tollgate_options none{};
  const tollgate_options& o = options ? *options : none;
  auto h = std::make_unique<tollgate_policy>();
  std::string error, text;
  bool present = false;
  tollgate_status s;

  if ((s = LoadDoc(o.schema_path, o.schema_json, "schema", h->limits.max_schema_bytes, &text, &present,
                   &error)))
    return Fail(message, s, error);
  CompileOptions copts;
  copts.limits = h->limits;
  if (present) {
    h->schema = std::make_unique<stdlib::Schema>(stdlib::Schema::Standard());
    if (!h->schema->AddFromJson(text, &error))
      return Fail(message, OutOfMemory(error) ? TOLLGATE_ERR_NO_MEMORY : TOLLGATE_ERR_SCHEMA,
                  "invalid schema: " + error);
    copts.schema = h->schema.get();
  }

  Compiled c = compile(copts);
  std::string rendered = c.diagnostics.Render();
  if (!c.policy) {
    tollgate_status st = TOLLGATE_ERR_POLICY;
    for (const Diagnostic& d : c.diagnostics.items()) {
      if (d.code == "tg_limit_exceeded" && OutOfMemory(d.message)) {
        st = TOLLGATE_ERR_NO_MEMORY;
        break;
      }
      if (d.code == "tg_io_error") st = TOLLGATE_ERR_IO;
    }
    return Fail(message, st, rendered);
  }
  h->policy = std::move(c.policy);
  h->version = h->policy->version_id();

  if ((s = LoadDoc(o.catalog_path, o.catalog_json, "catalog", h->limits.max_catalog_bytes, &text, &present,
                   &error)))
    return Fail(message, s, error);
  if (present) {
    h->catalog = std::make_unique<runtime::Catalog>();
    runtime::CatalogError cerr;
    if (!runtime::Catalog::Load(text, h->policy->schema(), h->catalog.get(), &cerr))
      return Fail(message, OutOfMemory(cerr.message) ? TOLLGATE_ERR_NO_MEMORY : TOLLGATE_ERR_CATALOG,
                  "error[" + cerr.code + "]: " + cerr.message);
  }
  if ((s = LoadDoc(o.accounts_path, o.accounts_json, "accounts", h->limits.max_accounts_bytes, &text, &present,
                   &error)))
    return Fail(message, s, error);
  if (present) {
    if (!h->catalog)
      return Fail(message, TOLLGATE_ERR_INVALID_ARGUMENT, "accounts need a catalog");
    h->accounts = std::make_unique<runtime::Accounts>();
    runtime::AccountsError aerr;
    if (!runtime::Accounts::Load(text, *h->catalog, h->accounts.get(), &aerr))
      return Fail(message, OutOfMemory(aerr.message) ? TOLLGATE_ERR_NO_MEMORY : TOLLGATE_ERR_ACCOUNTS,
                  "error[" + aerr.code + "]: " + aerr.message);
  }
  if (h->catalog) {
    h->router = runtime::Router::Create(*h->policy, *h->catalog, h->accounts.get(), {}, &error);
    if (!h->router)
      return Fail(message, OutOfMemory(error) ? TOLLGATE_ERR_NO_MEMORY : TOLLGATE_ERR_CATALOG, error);
  }

  if (message) {
    *message = nullptr;
    if (!rendered.empty() && !(*message = Dup(rendered))) return TOLLGATE_ERR_NO_MEMORY;
  }
  *out = h.release();
  return TOLLGATE_OK;
}

// The fence around every entry point that returns a status.
template <typename Fn>
tollgate_status Guard(char** message, Fn fn) {
  try {
    return fn();
  } catch (const std::bad_alloc&) {
    if (message) *message = nullptr;  // reporting would allocate
    return TOLLGATE_ERR_NO_MEMORY;
  } catch (...) {
    if (message) *message = nullptr;
    return TOLLGATE_ERR_INTERNAL;
  }
}

// Whether the decoded request names a model by a bare name the catalog
// resolves (`gpt-4o` for `openai/gpt-4o`; the decoder has split off any
// variant): request.model or an entry of request.models.
bool NamesBareModel(const runtime::Catalog& catalog, const stdlib::Schema& schema,
                    const vm::Record& request) {
  auto slot = [&](std::string_view path) -> const Value* {
    const int id = schema.Find(path);
    if (id < 0) return nullptr;
    const int k = schema.field(id).slot;
    return k >= 0 && static_cast<size_t>(k) < request.slots.size() ? &request.slots[k] : nullptr;
  };
  auto bare = [&](const Value& v) { return v.kind == Kind::kString && !catalog.BareModel(v.sv()).empty(); };
  if (const Value* m = slot("request.model"); m && bare(*m)) return true;
  if (const Value* ms = slot("request.models"); ms && ms->kind == Kind::kList && ms->list) {
    for (const Value& v : ms->list->items)
      if (bare(v)) return true;
  }
  return false;
}

tollgate_status Run(tollgate_evaluator* ev, const tollgate_policy* p, const char* input,
                    size_t input_len, unsigned flags, bool route, char** decision_json,
                    char** error) {
  if (decision_json) *decision_json = nullptr;
  if (error) *error = nullptr;
  return Guard(error, [&]() -> tollgate_status {
    if (!decision_json) return Fail(error, TOLLGATE_ERR_INVALID_ARGUMENT, "decision_json is null");
    if (!ValidEvaluator(ev))
      return Fail(error, TOLLGATE_ERR_INVALID_ARGUMENT, "evaluator is null or not an evaluator");
    if (!ValidPolicy(p))
      return Fail(error, TOLLGATE_ERR_INVALID_ARGUMENT, "policy is null or not a policy");
    if (!input) return Fail(error, TOLLGATE_ERR_INVALID_ARGUMENT, "input is null");
    const unsigned known = TOLLGATE_EXPLAIN | TOLLGATE_PRETTY | TOLLGATE_APPLY_REDACTIONS;
    if (flags & ~known) return Fail(error, TOLLGATE_ERR_INVALID_ARGUMENT, "unknown flag");
    if (route && !p->router)
      return Fail(error, TOLLGATE_ERR_NO_CATALOG, "the policy was compiled without a catalog");
    std::string_view text;
    runtime::InputError ierr;
    if (!TextOf(input, input_len, p->limits.max_input_bytes, &text)) {
      ierr.code = "input_too_large";
      ierr.message = "decision input is more than the limit of " +
                     std::to_string(p->limits.max_input_bytes) + " bytes";
      return Fail(error, TOLLGATE_ERR_INPUT, runtime::InputErrorJson(ierr));
    }
    const bool explain = flags & TOLLGATE_EXPLAIN;
    runtime::DecideScratch& s = ev->scratch;
    const runtime::Router* router = route ? p->router.get() : nullptr;
    bool decided = runtime::Decide(*p->policy, text, p->limits, explain, router, &s, &ierr);
    // With a catalog, a bare model name (`gpt-4o`) that names one catalog
    // model is read as its id, as the gateway and `tollgate eval --catalog` /
    // `tollgate route` read it (runtime/router/bare_models.h): the input is
    // rewritten and decided again. Asked of the decoded request, so an input
    // without one pays nothing (a rewrite first cost every call a parse and
    // a copy); an invalid one is decoded again from the rewritten text, so
    // that its error is the CLI's.
    if (p->catalog && (!decided || NamesBareModel(*p->catalog, p->policy->schema(), s.request))) {
      ev->input.assign(text);
      runtime::ResolveBareModelsInInput(*p->catalog, &ev->input);
      if (ev->input != text) {
        text = ev->input;
        decided = runtime::Decide(*p->policy, text, p->limits, explain, router, &s, &ierr);
      }
    }
    if (!decided)
      return Fail(error, OutOfMemory(ierr.message) ? TOLLGATE_ERR_NO_MEMORY : TOLLGATE_ERR_INPUT,
                  runtime::InputErrorJson(ierr));
    runtime::RenderOptions ro;
    ro.explain = explain;
    ro.pretty = flags & TOLLGATE_PRETTY;
    std::string redacted;
    if (flags & TOLLGATE_APPLY_REDACTIONS) {
      std::string rerr;
      if (!runtime::ApplyRedactions(text, s.decision, p->policy->program(), &redacted, &rerr))
        return Fail(error, TOLLGATE_ERR_INPUT, "cannot apply redactions: " + rerr);
    }
    const std::string* with = flags & TOLLGATE_APPLY_REDACTIONS ? &redacted : nullptr;
    const std::string out = route ? runtime::RenderRoute(*p->policy, *p->router, s, ro, with)
                                  : runtime::RenderEval(*p->policy, s.decision, ro, with);
    if (!(*decision_json = Dup(out))) return TOLLGATE_ERR_NO_MEMORY;
    return TOLLGATE_OK;
  });
}

}  // namespace

extern "C" {

const char* tollgate_version(void) { return TOLLGATE_VERSION; }

const char* tollgate_status_name(tollgate_status status) {
  // From C any int may arrive here; in C++ reading a value outside the
  // enumeration's range as the enum is undefined behaviour, so it is read
  // as the int it is.
  int code = 0;
  static_assert(sizeof code == sizeof status);
  std::memcpy(&code, &status, sizeof code);
  switch (code) {
    case TOLLGATE_OK: return "TOLLGATE_OK";
    case TOLLGATE_ERR_INVALID_ARGUMENT: return "TOLLGATE_ERR_INVALID_ARGUMENT";
    case TOLLGATE_ERR_POLICY: return "TOLLGATE_ERR_POLICY";
    case TOLLGATE_ERR_IO: return "TOLLGATE_ERR_IO";
    case TOLLGATE_ERR_SCHEMA: return "TOLLGATE_ERR_SCHEMA";
    case TOLLGATE_ERR_CATALOG: return "TOLLGATE_ERR_CATALOG";
    case TOLLGATE_ERR_ACCOUNTS: return "TOLLGATE_ERR_ACCOUNTS";
    case TOLLGATE_ERR_INPUT: return "TOLLGATE_ERR_INPUT";
    case TOLLGATE_ERR_NO_CATALOG: return "TOLLGATE_ERR_NO_CATALOG";
    case TOLLGATE_ERR_TOO_LARGE: return "TOLLGATE_ERR_TOO_LARGE";
    case TOLLGATE_ERR_NO_MEMORY: return "TOLLGATE_ERR_NO_MEMORY";
    case TOLLGATE_ERR_INTERNAL: return "TOLLGATE_ERR_INTERNAL";
  }
  return "TOLLGATE_UNKNOWN";
}

tollgate_status tollgate_compile_file(const char* path, const tollgate_options* options,
                                      tollgate_policy** out, char** message) {
  if (out) *out = nullptr;
  if (message) *message = nullptr;
  return Guard(message, [&]() -> tollgate_status {
    if (!out) return Fail(message, TOLLGATE_ERR_INVALID_ARGUMENT, "out is null");
    if (!path) return Fail(message, TOLLGATE_ERR_INVALID_ARGUMENT, "path is null");
    std::string p(path);
    // The engine reports a file over the limit as a policy diagnostic
    // (tg_limit_exceeded, TOLLGATE_ERR_POLICY); this API's contract is
    // TOLLGATE_ERR_TOO_LARGE, as for source text and the documents. The
    // engine's read stays capped (a file that grows, or is not a regular file).
    const size_t max = Limits{}.max_source_bytes;
    std::error_code ec;
    if (const uintmax_t size = std::filesystem::file_size(p, ec); !ec && size > max)
      return Fail(message, TOLLGATE_ERR_TOO_LARGE,
                  "`" + p + "` is larger than the limit of " + std::to_string(max) + " bytes");
    return Build(options, [&](const CompileOptions& o) { return CompileFile(p, o); }, out,
                 message);
  });
}

tollgate_status tollgate_compile_source(const char* name, const char* source, size_t source_len,
                                        const tollgate_options* options, tollgate_policy** out,
                                        char** message) {
  if (out) *out = nullptr;
  if (message) *message = nullptr;
  return Guard(message, [&]() -> tollgate_status {
    if (!out) return Fail(message, TOLLGATE_ERR_INVALID_ARGUMENT, "out is null");
    if (!source) return Fail(message, TOLLGATE_ERR_INVALID_ARGUMENT, "source is null");
    const size_t max = Limits{}.max_source_bytes;
    std::string_view text;
    if (!TextOf(source, source_len, max, &text))
      return Fail(message, TOLLGATE_ERR_TOO_LARGE,
                  "policy source is more than the limit of " + std::to_string(max) + " bytes");
    std::string n = name && *name ? name : "<source>";  // "": diagnostics would start `:1:`
    return Build(options,
                 [&](const CompileOptions& o) { return CompileSource(n, std::string(text), o); },
                 out, message);
  });
}

void tollgate_policy_free(tollgate_policy* policy) {
  if (!ValidPolicy(policy)) return;
  policy->magic = kDead;
  delete policy;  // destructors do not throw
}

const char* tollgate_policy_name(const tollgate_policy* policy) {
  return ValidPolicy(policy) ? policy->policy->name().c_str() : nullptr;
}

const char* tollgate_policy_version(const tollgate_policy* policy) {
  return ValidPolicy(policy) ? policy->version.c_str() : nullptr;
}

void tollgate_warm_thread(const tollgate_policy* policy) {
  if (!ValidPolicy(policy)) return;
  try {
    vm::WarmThread(policy->policy->program());
    runtime::WarmDecoderThread(policy->policy->schema());
  } catch (...) {
    // Out of memory: the first evaluation builds them instead.
  }
}

tollgate_evaluator* tollgate_evaluator_new(void) {
  try {
    return new tollgate_evaluator();
  } catch (...) {
    return nullptr;
  }
}

void tollgate_evaluator_free(tollgate_evaluator* evaluator) {
  if (!ValidEvaluator(evaluator)) return;
  evaluator->magic = kDead;
  delete evaluator;
}

tollgate_status tollgate_eval(tollgate_evaluator* evaluator, const tollgate_policy* policy,
                              const char* input, size_t input_len, unsigned flags,
                              char** decision_json, char** error) {
  return Run(evaluator, policy, input, input_len, flags, false, decision_json, error);
}

tollgate_status tollgate_route(tollgate_evaluator* evaluator, const tollgate_policy* policy,
                               const char* input, size_t input_len, unsigned flags,
                               char** decision_json, char** error) {
  return Run(evaluator, policy, input, input_len, flags, true, decision_json, error);
}

void tollgate_free(char* text) { std::free(text); }

}  // extern "C"
