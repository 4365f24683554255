/* tollgate.h -- the C API of tollgate, a policy engine for AI model gateways.
 *
 * C99, no dependencies. Link with -ltollgate (libtollgate.so, which exports
 * only the tollgate_* symbols below; C++ code in this tree may link the
 * static tg_capi target instead). docs/capi.md is the full guide.
 *
 * ## Compiling a policy
 *
 *   tollgate_policy *p = NULL;
 *   char *msg = NULL;
 *   tollgate_options opt = {0};
 *   opt.catalog_path = "policies/catalog.json";      // optional: for routing
 *   if (tollgate_compile_file("policies/example.tg", &opt, &p, &msg) != TOLLGATE_OK) {
 *     fprintf(stderr, "%s", msg);                     // file:line:col diagnostics
 *     tollgate_free(msg);
 *     return 1;
 *   }
 *   tollgate_free(msg);                               // warnings, or NULL
 *
 * Compiling parses, type-checks and compiles to bytecode: milliseconds per
 * thousand rules. Do it at start-up or on reload, never per request.
 *
 * ## Evaluating
 *
 *   tollgate_evaluator *ev = tollgate_evaluator_new();   // one per thread
 *   char *decision = NULL, *err = NULL;
 *   tollgate_status s = tollgate_eval(ev, p, json, json_len, 0, &decision, &err);
 *   if (s == TOLLGATE_OK) { use(decision); tollgate_free(decision); }
 *   else if (s == TOLLGATE_ERR_INPUT) { reply_400(err); }  // {"error": {...}} JSON
 *   tollgate_free(err);
 *
 * `decision` is the document `tollgate eval --compact` prints (outcome,
 * status, code, reason, rules, ..., policy; docs/decision-input.md and
 * runtime/decide/decision_json.h); tollgate_route() returns the document
 * `tollgate route --compact` prints (the decision plus "endpoints"). A deny
 * is a successful evaluation: check "outcome" in the JSON.
 *
 * ## Errors
 * Every function that can fail returns a tollgate_status. Its message, when
 * the caller passed a `char **` for it, is a malloc'd NUL-terminated string
 * to release with tollgate_free(): compile errors are the rendered
 * diagnostics ("file:line:col: error[tg_type_error]: ..."), input errors
 * the JSON {"error": {"code", "message", "path"}} with the stable codes of
 * docs/decision-input.md, anything else one line of text. On failure every
 * other out-parameter is set to NULL. No C++ exception ever leaves this API;
 * running out of memory while compiling or decoding the input is
 * TOLLGATE_ERR_NO_MEMORY (message: "out of memory while ..." or NULL); while
 * evaluating or routing it is a rule or route error inside the decision.
 *
 * ## Limits
 * Policy source <= 1 MiB per file, decision input <= 4 MiB (TOLLGATE_ERR_INPUT
 * with code input_too_large), JSON nesting <= 128, messages <= 4096, VM
 * instructions per rule <= 1,000,000 (engine/core/limits.h). Schema
 * <= 1 MiB, catalog <= 16 MiB, accounts <= 4 MiB (as the CLI; a larger
 * source or document, as text or file, is TOLLGATE_ERR_TOO_LARGE). Lengths
 * may be TOLLGATE_NUL_TERMINATED for NUL-terminated text.
 *
 * ## Thread safety
 * A tollgate_policy is immutable: any number of threads may evaluate it at
 * once, without locks. A tollgate_evaluator holds the per-call scratch
 * (decoded input, decision, route) and must be used by one thread at a time;
 * give each thread its own. Compiles may run on any thread while others
 * evaluate (hot reload: compile, swap your pointer, free the old policy once
 * the calls in flight on it are done). Free a policy only once no call uses it.
 * NULL handles are rejected with TOLLGATE_ERR_INVALID_ARGUMENT; a handle of
 * the wrong kind or an already freed one is detected on a best-effort basis
 * (a magic number), not guaranteed.
 */
#ifndef TOLLGATE_H_
#define TOLLGATE_H_

#include <stddef.h>

#if defined(__GNUC__)
#define TOLLGATE_API __attribute__((visibility("default")))
#else
#define TOLLGATE_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Stable status codes; tollgate_status_name() gives their names. */
typedef enum tollgate_status {
  TOLLGATE_OK = 0,
  TOLLGATE_ERR_INVALID_ARGUMENT = 1, /* NULL or bad handle, unknown flag, missing text */
  TOLLGATE_ERR_POLICY = 2,           /* the policy has errors: message = diagnostics */
  TOLLGATE_ERR_IO = 3,               /* a file cannot be read */
  TOLLGATE_ERR_SCHEMA = 4,           /* the schema extension is invalid */
  TOLLGATE_ERR_CATALOG = 5,          /* the catalog is invalid */
  TOLLGATE_ERR_ACCOUNTS = 6,         /* the accounts file is invalid */
  TOLLGATE_ERR_INPUT = 7,            /* the decision input is invalid: message = error JSON */
  TOLLGATE_ERR_NO_CATALOG = 8,       /* tollgate_route on a policy compiled without catalog */
  TOLLGATE_ERR_TOO_LARGE = 9,        /* a text argument exceeds its limit */
  TOLLGATE_ERR_NO_MEMORY = 10,       /* allocation failed */
  TOLLGATE_ERR_INTERNAL = 11         /* a bug in tollgate */
} tollgate_status;

/* Length meaning "the text is NUL-terminated". */
#define TOLLGATE_NUL_TERMINATED ((size_t)-1)

/* Flags of tollgate_eval / tollgate_route (bitwise or). */
#define TOLLGATE_EXPLAIN 1u          /* add "trace" (route: also "eliminated", "shadow_eliminated") */
#define TOLLGATE_PRETTY 2u           /* indent with two spaces (default: one line) */
#define TOLLGATE_APPLY_REDACTIONS 4u /* add "redacted_request" (eval and route) */

/* Opaque handles. */
typedef struct tollgate_policy tollgate_policy;
typedef struct tollgate_evaluator tollgate_evaluator;

/* Optional inputs of a compile. Zero-initialise, then set what you need;
 * for each document give a file path or NUL-terminated text, not both.
 * Relative paths are relative to the working directory. */
typedef struct tollgate_options {
  const char *schema_path;   /* extends the standard decision-input schema */
  const char *schema_json;
  const char *catalog_path;  /* the model catalog; needed by tollgate_route */
  const char *catalog_json;
  const char *accounts_path; /* account defaults for routing (needs a catalog) */
  const char *accounts_json;
} tollgate_options;

/* tollgate's version ("0.1.0"); static, never NULL. Cost: none. */
TOLLGATE_API const char *tollgate_version(void);

/* Stable name of a status ("TOLLGATE_ERR_INPUT"); "TOLLGATE_UNKNOWN" for
 * values outside the enum. Static, never NULL. */
TOLLGATE_API const char *tollgate_status_name(tollgate_status status);

/* Compiles the policy file at `path` (data documents resolve relative to
 * its directory). `options` may be NULL. On success *out is the policy and
 * *message (if `message` is not NULL) the rendered warnings or NULL. On
 * failure *out is NULL and *message says why. Cost: reads and compiles the
 * file (milliseconds), loads and indexes the catalog. */
TOLLGATE_API tollgate_status tollgate_compile_file(const char *path,
                                                   const tollgate_options *options,
                                                   tollgate_policy **out, char **message);

/* Same for source text; `name` (NULL or "": "<source>") is the file name
 * used in diagnostics and the base for data documents. */
TOLLGATE_API tollgate_status tollgate_compile_source(const char *name, const char *source,
                                                     size_t source_len,
                                                     const tollgate_options *options,
                                                     tollgate_policy **out, char **message);

/* Releases a policy (NULL is ignored). No call may be using it. */
TOLLGATE_API void tollgate_policy_free(tollgate_policy *policy);

/* The policy's name and version id (the "policy" member of decisions:
 * "sha256:..."); owned by the policy. NULL for a NULL/bad handle. */
TOLLGATE_API const char *tollgate_policy_name(const tollgate_policy *policy);
TOLLGATE_API const char *tollgate_policy_version(const tollgate_policy *policy);

/* Per-thread scratch for evaluations; NULL when out of memory. Cost: a few
 * small allocations; buffers then grow to the largest input seen. */
TOLLGATE_API tollgate_evaluator *tollgate_evaluator_new(void);
TOLLGATE_API void tollgate_evaluator_free(tollgate_evaluator *evaluator);

/* Builds the calling thread's copies of what evaluating `policy` matches
 * with (its patterns' RE2 sets, Hyperscan scratch, the detectors and the
 * injection score) and its input decoding plan. Each thread otherwise
 * builds them on its first evaluation of the policy (no lock is shared
 * between threads), a few milliseconds for a policy with content rules;
 * a server calls this on each worker thread when it loads a policy. */
TOLLGATE_API void tollgate_warm_thread(const tollgate_policy *policy);

/* Decodes the decision input `input` (JSON, `input_len` bytes), evaluates
 * it and sets *decision_json to the decision document. `error` may be NULL.
 * A deny is TOLLGATE_OK. Cost: ~1-2 us per KB to decode, then the rules
 * that run, then rendering and one malloc for the result (docs/capi.md has
 * measured figures). Lock-free. */
TOLLGATE_API tollgate_status tollgate_eval(tollgate_evaluator *evaluator,
                                           const tollgate_policy *policy, const char *input,
                                           size_t input_len, unsigned flags,
                                           char **decision_json, char **error);

/* Like tollgate_eval, then routes over the policy's catalog: the document
 * adds "endpoints" (primary first); nothing eligible turns the decision into
 * a deny (route_no_eligible_endpoint; model_not_found, status 404, when no
 * catalog endpoint serves the model or the account excludes every one:
 * docs/routing.md section 7). TOLLGATE_ERR_NO_CATALOG when the
 * policy was compiled without one. Cost: tollgate_eval plus routing (linear
 * in the endpoints serving the requested models). */
TOLLGATE_API tollgate_status tollgate_route(tollgate_evaluator *evaluator,
                                            const tollgate_policy *policy, const char *input,
                                            size_t input_len, unsigned flags,
                                            char **decision_json, char **error);

/* Releases a string returned by this API (NULL is ignored). */
TOLLGATE_API void tollgate_free(char *text);

#ifdef __cplusplus
}
#endif

#endif /* TOLLGATE_H_ */
