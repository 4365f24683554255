/* The C API from C (strict C99): compiles the shipped example policy,
 * evaluates and routes the example requests, compares every document with
 * what the `tollgate` binary prints (argv[1]), exercises every error path and
 * evaluates from several threads sharing one policy.
 *
 *   tg_capi_c_test build/tollgate      (run from the source root; ctest: capi_c)
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tollgate.h"

static int failures = 0;

#define CHECK(cond)                                                        \
  do {                                                                     \
    if (!(cond)) {                                                         \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                          \
    }                                                                      \
  } while (0)

#define CHECK_STATUS(got, want)                                                  \
  do {                                                                           \
    tollgate_status got_ = (got);                                                \
    if (got_ != (want)) {                                                        \
      fprintf(stderr, "%s:%d: got %s, want %s\n", __FILE__, __LINE__,            \
              tollgate_status_name(got_), tollgate_status_name(want));           \
      ++failures;                                                                \
    }                                                                            \
  } while (0)

#define MAX_REQUESTS 64

static const char *kPolicy = "policies/example.tg";
static const char *kCatalog = "policies/catalog.json";
static const char *kAccounts = "policies/accounts.json";

/* The example requests and their single-threaded results. */
struct request {
  char path[512];
  char *json;
  size_t len;
  char *eval;   /* decision JSON, or the input error JSON */
  char *route;
  tollgate_status eval_status, route_status;
};
static struct request requests[MAX_REQUESTS];
static int request_count = 0;

static char *read_all(FILE *f, size_t *len) {
  size_t cap = 4096, n = 0, got;
  char *buf = malloc(cap);
  if (!buf) return NULL;
  while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
    n += got;
    if (cap - n - 1 == 0) {
      char *bigger = realloc(buf, cap * 2);
      if (!bigger) { free(buf); return NULL; }
      buf = bigger;
      cap *= 2;
    }
  }
  buf[n] = '\0';
  if (len) *len = n;
  return buf;
}

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  char *text;
  if (!f) return NULL;
  text = read_all(f, len);
  fclose(f);
  return text;
}

/* Output of a shell command, without its final newline. */
static char *run(const char *command) {
  FILE *p = popen(command, "r");
  char *out;
  size_t n = 0;
  if (!p) return NULL;
  out = read_all(p, &n);
  pclose(p);
  if (out && n > 0 && out[n - 1] == '\n') out[n - 1] = '\0';
  return out;
}

static int compare_names(const void *a, const void *b) {
  return strcmp(((const struct request *)a)->path, ((const struct request *)b)->path);
}

static void load_requests(void) {
  DIR *d = opendir("policies/requests");
  struct dirent *e;
  CHECK(d != NULL);
  if (!d) return;
  while ((e = readdir(d)) != NULL && request_count < MAX_REQUESTS) {
    size_t n = strlen(e->d_name);
    struct request *r = &requests[request_count];
    if (n < 6 || strcmp(e->d_name + n - 5, ".json") != 0) continue;
    snprintf(r->path, sizeof r->path, "policies/requests/%s", e->d_name);
    r->json = read_file(r->path, &r->len);
    CHECK(r->json != NULL);
    if (r->json) ++request_count;
  }
  closedir(d);
  qsort(requests, (size_t)request_count, sizeof requests[0], compare_names);
  CHECK(request_count >= 10);
}

static const struct request *find(const char *name) {
  int i;
  for (i = 0; i < request_count; ++i) {
    const char *slash = strrchr(requests[i].path, '/');
    if (slash && strcmp(slash + 1, name) == 0) return &requests[i];
  }
  fprintf(stderr, "missing request %s\n", name);
  ++failures;
  return NULL;
}

static int contains(const char *text, const char *part) {
  return text && part && strstr(text, part) != NULL;
}

static void test_version_and_names(void) {
  CHECK(strlen(tollgate_version()) > 0);
  CHECK(strcmp(tollgate_status_name(TOLLGATE_OK), "TOLLGATE_OK") == 0);
  CHECK(strcmp(tollgate_status_name(TOLLGATE_ERR_INPUT), "TOLLGATE_ERR_INPUT") == 0);
  CHECK(strcmp(tollgate_status_name((tollgate_status)999), "TOLLGATE_UNKNOWN") == 0);
}

/* Every example request, eval and route, compared with the CLI. */
static void test_matches_cli(const char *tollgate_bin, tollgate_policy *p) {
  tollgate_evaluator *ev = tollgate_evaluator_new();
  char command[2048];
  int i;
  unsigned flags;
  CHECK(ev != NULL);
  for (i = 0; i < request_count; ++i) {
    struct request *r = &requests[i];
    char *err = NULL;
    r->eval_status = tollgate_eval(ev, p, r->json, r->len, 0, &r->eval, &err);
    if (r->eval_status == TOLLGATE_ERR_INPUT) { r->eval = err; err = NULL; }
    tollgate_free(err);
    err = NULL;
    r->route_status = tollgate_route(ev, p, r->json, r->len, 0, &r->route, &err);
    if (r->route_status == TOLLGATE_ERR_INPUT) { r->route = err; err = NULL; }
    tollgate_free(err);
    CHECK(r->eval != NULL && r->route != NULL);
    if (!tollgate_bin) continue;
    for (flags = 0; flags <= TOLLGATE_EXPLAIN; flags += TOLLGATE_EXPLAIN) {
      const char *explain = flags ? " --explain" : "";
      char *ours = NULL, *cli;
      err = NULL;
      snprintf(command, sizeof command, "%s eval --policy %s --request %s --compact%s",
               tollgate_bin, kPolicy, r->path, explain);
      cli = run(command);
      tollgate_eval(ev, p, r->json, r->len, flags, &ours, &err);
      if (!ours) { ours = err; err = NULL; }
      if (!cli || !ours || strcmp(cli, ours) != 0) {
        fprintf(stderr, "eval%s %s differs from the CLI:\n  capi: %s\n  cli:  %s\n", explain,
                r->path, ours ? ours : "(null)", cli ? cli : "(null)");
        ++failures;
      }
      free(cli);
      tollgate_free(ours);
      tollgate_free(err);
      ours = NULL;
      err = NULL;
      snprintf(command, sizeof command,
               "%s route --policy %s --catalog %s --accounts %s --request %s --compact%s",
               tollgate_bin, kPolicy, kCatalog, kAccounts, r->path, explain);
      cli = run(command);
      tollgate_route(ev, p, r->json, r->len, flags, &ours, &err);
      if (!ours) { ours = err; err = NULL; }
      if (!cli || !ours || strcmp(cli, ours) != 0) {
        fprintf(stderr, "route%s %s differs from the CLI:\n  capi: %s\n  cli:  %s\n", explain,
                r->path, ours ? ours : "(null)", cli ? cli : "(null)");
        ++failures;
      }
      free(cli);
      tollgate_free(ours);
      tollgate_free(err);
    }
    /* the redacted body, as `eval|route --apply-redactions` print it */
    for (flags = 0; flags < 2; ++flags) {
      char *ours = NULL, *cli;
      const char *cmd = flags ? "route" : "eval";
      err = NULL;
      snprintf(command, sizeof command,
               "%s %s --policy %s%s%s%s%s --request %s --apply-redactions --compact",
               tollgate_bin, cmd, kPolicy, flags ? " --catalog " : "", flags ? kCatalog : "",
               flags ? " --accounts " : "", flags ? kAccounts : "", r->path);
      cli = run(command);
      (flags ? tollgate_route : tollgate_eval)(ev, p, r->json, r->len, TOLLGATE_APPLY_REDACTIONS,
                                               &ours, &err);
      if (!ours) { ours = err; err = NULL; }
      if (!cli || !ours || strcmp(cli, ours) != 0) {
        fprintf(stderr, "%s --apply-redactions %s differs from the CLI:\n  capi: %s\n  cli:  %s\n",
                cmd, r->path, ours ? ours : "(null)", cli ? cli : "(null)");
        ++failures;
      }
      free(cli);
      tollgate_free(ours);
      tollgate_free(err);
    }
  }
  tollgate_evaluator_free(ev);
}

/* Outcomes of the shipped examples (policies/example.tg). */
static void test_outcomes(const tollgate_policy *p) {
  const struct request *r;
  char want[256];
  if ((r = find("us_simple.json")) != NULL) {
    CHECK(r->eval_status == TOLLGATE_OK);
    CHECK(contains(r->eval, "{\"outcome\":\"allow\",\"status\":200,\"code\":\"ok\""));
    CHECK(contains(r->route, "{\"outcome\":\"allow\",\"status\":200"));
    CHECK(contains(r->route, "\"endpoints\":[{\"id\":"));
    snprintf(want, sizeof want, "\"version\":\"%s\"", tollgate_policy_version(p));
    CHECK(contains(r->eval, want));
  }
  if ((r = find("huge_max_tokens.json")) != NULL)
    CHECK(contains(r->eval, "{\"outcome\":\"deny\",\"status\":400,\"code\":\"policy_denied\""));
  if ((r = find("secret_leak.json")) != NULL)
    CHECK(contains(r->eval, "{\"outcome\":\"deny\",\"status\":422"));
  if ((r = find("suspended_workspace.json")) != NULL)
    CHECK(contains(r->eval, "{\"outcome\":\"deny\",\"status\":402"));
  if ((r = find("unknown_workspace.json")) != NULL)
    CHECK(contains(r->eval, "{\"outcome\":\"deny\",\"status\":403"));
  if ((r = find("no_eligible_endpoint.json")) != NULL) {
    CHECK(contains(r->eval, "{\"outcome\":\"allow\",\"status\":200"));
    CHECK(contains(r->route,
                   "{\"outcome\":\"deny\",\"status\":403,\"code\":\"route_no_eligible_endpoint\""));
    CHECK(contains(r->route, "\"endpoints\":[]"));
  }
}

/* A model no endpoint of the catalog serves: 404 model_not_found, the code
 * the gateway's chat completions and /v1/decide give (docs/routing.md
 * section 7). Before: route_no_eligible_endpoint. */
static void test_model_not_found(const tollgate_policy *p) {
  static const char in[] =
      "{\"principal\": {\"workspace\": \"acme-batch\", \"user\": \"u-7\", \"jurisdiction\": \"US\"},"
      " \"request\": {\"model\": \"nobody/no-such-model\", \"max_tokens\": 20,"
      " \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]},"
      " \"context\": {\"time\": \"2026-11-25T15:30:00Z\", \"data_class\": \"public\"}}";
  tollgate_evaluator *ev = tollgate_evaluator_new();
  char *out = NULL, *err = NULL;
  if (!ev) { ++failures; return; }
  CHECK_STATUS(tollgate_route(ev, p, in, sizeof in - 1, 0, &out, &err), TOLLGATE_OK);
  CHECK(out && contains(out, "{\"outcome\":\"deny\",\"status\":404,\"code\":\"model_not_found\""));
  CHECK(out && contains(out, "the model `nobody/no-such-model` does not exist or you do not have access to it"));
  tollgate_free(out);
  tollgate_free(err);
  tollgate_evaluator_free(ev);
}

static void test_flags(tollgate_policy *p) {
  tollgate_evaluator *ev = tollgate_evaluator_new();
  const struct request *r = find("card_redaction.json");
  char *out = NULL, *err = NULL;
  if (!r || !ev) { tollgate_evaluator_free(ev); return; }
  CHECK_STATUS(tollgate_eval(ev, p, r->json, r->len, TOLLGATE_PRETTY, &out, &err), TOLLGATE_OK);
  CHECK(contains(out, "{\n  \"outcome\": "));
  tollgate_free(out);
  CHECK_STATUS(tollgate_eval(ev, p, r->json, r->len, TOLLGATE_EXPLAIN, &out, &err), TOLLGATE_OK);
  CHECK(contains(out, "\"trace\":["));
  tollgate_free(out);
  CHECK_STATUS(tollgate_eval(ev, p, r->json, r->len, TOLLGATE_APPLY_REDACTIONS, &out, &err),
               TOLLGATE_OK);
  CHECK(contains(out, "\"redacted_request\":{"));
  tollgate_free(out);
  CHECK_STATUS(tollgate_route(ev, p, r->json, r->len, TOLLGATE_EXPLAIN, &out, &err), TOLLGATE_OK);
  CHECK(contains(out, "\"eliminated\":["));
  tollgate_free(out);
  /* NUL-terminated input */
  CHECK_STATUS(tollgate_eval(ev, p, r->json, TOLLGATE_NUL_TERMINATED, 0, &out, &err),
               TOLLGATE_OK);
  tollgate_free(out);
  /* a gateway routes and forwards the redacted body: route takes the flag
     too, and its "redacted_request" (the last member) is eval's */
  {
    char *evaluated = NULL;
    const char *a, *b;
    CHECK_STATUS(tollgate_eval(ev, p, r->json, r->len, TOLLGATE_APPLY_REDACTIONS, &evaluated, &err),
                 TOLLGATE_OK);
    CHECK_STATUS(tollgate_route(ev, p, r->json, r->len, TOLLGATE_APPLY_REDACTIONS, &out, &err),
                 TOLLGATE_OK);
    CHECK(out && contains(out, "\"endpoints\":[{"));
    a = evaluated ? strstr(evaluated, ",\"redacted_request\":{") : NULL;
    b = out ? strstr(out, ",\"redacted_request\":{") : NULL;
    CHECK(a != NULL && b != NULL && strcmp(a, b) == 0 && contains(b, "[CARD]"));
    tollgate_free(evaluated);
    tollgate_free(out);
    out = NULL;
  }
  /* unknown bits are refused, and said to be unknown */
  CHECK_STATUS(tollgate_route(ev, p, r->json, r->len, 64u, &out, &err),
               TOLLGATE_ERR_INVALID_ARGUMENT);
  CHECK(out == NULL && err != NULL && contains(err, "unknown flag"));
  tollgate_free(err);
  CHECK_STATUS(tollgate_eval(ev, p, r->json, r->len, 64u, &out, NULL),
               TOLLGATE_ERR_INVALID_ARGUMENT);
  tollgate_evaluator_free(ev);
}

static void test_compile_errors(void) {
  tollgate_policy *p = (tollgate_policy *)1;
  char *msg = NULL;
  tollgate_options opt;
  static const char bad[] = "policy \"bad\"\nrule r {\n  when request.max_tokenz > 3\n  deny 403 \"x\"\n}\n";

  /* a type error: diagnostics rendered as file:line:col */
  CHECK_STATUS(tollgate_compile_source("bad.tg", bad, sizeof bad - 1, NULL, &p, &msg),
               TOLLGATE_ERR_POLICY);
  CHECK(p == NULL);
  CHECK(contains(msg, "bad.tg:3:"));
  CHECK(contains(msg, "error["));
  tollgate_free(msg);

  /* syntax error, NUL-terminated, no name */
  CHECK_STATUS(tollgate_compile_source(NULL, "rule {", TOLLGATE_NUL_TERMINATED, NULL, &p, &msg),
               TOLLGATE_ERR_POLICY);
  CHECK(contains(msg, "<source>:1:"));
  tollgate_free(msg);
  /* the same with an empty name (diagnostics started with `:1:`) */
  CHECK_STATUS(tollgate_compile_source("", "rule {", TOLLGATE_NUL_TERMINATED, NULL, &p, &msg),
               TOLLGATE_ERR_POLICY);
  CHECK(contains(msg, "<source>:1:"));
  tollgate_free(msg);

  CHECK_STATUS(tollgate_compile_file("policies/does-not-exist.tg", NULL, &p, &msg),
               TOLLGATE_ERR_IO);
  CHECK(msg != NULL);
  tollgate_free(msg);

  memset(&opt, 0, sizeof opt);
  opt.catalog_path = "policies"; /* a directory */
  CHECK_STATUS(tollgate_compile_file(kPolicy, &opt, &p, &msg), TOLLGATE_ERR_IO);
  CHECK(contains(msg, "directory"));
  tollgate_free(msg);

  memset(&opt, 0, sizeof opt);
  opt.catalog_path = "policies/no-such-catalog.json";
  CHECK_STATUS(tollgate_compile_file(kPolicy, &opt, &p, &msg), TOLLGATE_ERR_IO);
  CHECK(contains(msg, "no-such-catalog.json"));
  tollgate_free(msg);

  memset(&opt, 0, sizeof opt);
  opt.catalog_json = "{\"endpoints\": [{\"id\": 3}]}";
  CHECK_STATUS(tollgate_compile_file(kPolicy, &opt, &p, &msg), TOLLGATE_ERR_CATALOG);
  CHECK(p == NULL && contains(msg, "catalog"));
  tollgate_free(msg);

  memset(&opt, 0, sizeof opt);
  opt.catalog_path = kCatalog;
  opt.accounts_json = "[1, 2]";
  CHECK_STATUS(tollgate_compile_file(kPolicy, &opt, &p, &msg), TOLLGATE_ERR_ACCOUNTS);
  tollgate_free(msg);

  memset(&opt, 0, sizeof opt); /* an ignore entry that names no catalog provider */
  opt.catalog_path = kCatalog;
  opt.accounts_json = "{\"default\": {\"ignore\": [\"cheapcloud \"]}}";
  CHECK_STATUS(tollgate_compile_file(kPolicy, &opt, &p, &msg), TOLLGATE_ERR_ACCOUNTS);
  CHECK(p == NULL && contains(msg, "entry `cheapcloud ` (default.ignore[0]) names no provider"));
  tollgate_free(msg);

  memset(&opt, 0, sizeof opt);
  opt.accounts_path = kAccounts; /* accounts without a catalog */
  CHECK_STATUS(tollgate_compile_file(kPolicy, &opt, &p, &msg), TOLLGATE_ERR_INVALID_ARGUMENT);
  tollgate_free(msg);

  memset(&opt, 0, sizeof opt);
  opt.catalog_path = kCatalog;
  opt.catalog_json = "{}";
  CHECK_STATUS(tollgate_compile_file(kPolicy, &opt, &p, &msg), TOLLGATE_ERR_INVALID_ARGUMENT);
  tollgate_free(msg);

  memset(&opt, 0, sizeof opt);
  opt.schema_json = "not json";
  CHECK_STATUS(tollgate_compile_file(kPolicy, &opt, &p, &msg), TOLLGATE_ERR_SCHEMA);
  tollgate_free(msg);

  CHECK_STATUS(tollgate_compile_file(NULL, NULL, &p, &msg), TOLLGATE_ERR_INVALID_ARGUMENT);
  tollgate_free(msg);
  CHECK_STATUS(tollgate_compile_file(kPolicy, NULL, NULL, NULL), TOLLGATE_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(tollgate_compile_source("x.tg", NULL, 3, NULL, &p, NULL),
               TOLLGATE_ERR_INVALID_ARGUMENT);
}

static void test_source_and_schema(void) {
  static const char src[] =
      "policy \"mini\"\n"
      "rule big {\n  when (request.max_tokens ?? 0) > 1000\n  deny 400 \"too many tokens\"\n}\n"
      "rule dept {\n  when principal.department == \"lab\"\n  deny 403 \"lab is closed\"\n}\n";
  static const char schema[] =
      "{\"fields\": [{\"path\": \"principal.department\", \"type\": \"string\","
      " \"scope\": \"request\", \"required\": false, \"description\": \"cost centre\"}]}";
  tollgate_policy *p = NULL;
  tollgate_evaluator *ev = tollgate_evaluator_new();
  tollgate_options opt;
  char *msg = NULL, *out = NULL;
  const char *in = "{\"principal\": {\"workspace\": \"w\", \"department\": \"lab\"},"
                   " \"request\": {\"model\": \"m\", \"messages\": [], \"max_tokens\": 5}}";
  memset(&opt, 0, sizeof opt);
  opt.schema_json = schema;
  if (tollgate_compile_source("mini.tg", src, sizeof src - 1, &opt, &p, &msg) != TOLLGATE_OK) {
    /* the schema extension format is stdlib/schema.h's; report, do not crash */
    fprintf(stderr, "mini policy did not compile:\n%s\n", msg ? msg : "(null)");
    ++failures;
    tollgate_free(msg);
    tollgate_evaluator_free(ev);
    return;
  }
  tollgate_free(msg);
  CHECK(strcmp(tollgate_policy_name(p), "mini") == 0);
  CHECK_STATUS(tollgate_eval(ev, p, in, strlen(in), 0, &out, NULL), TOLLGATE_OK);
  CHECK(contains(out, "{\"outcome\":\"deny\",\"status\":403"));
  CHECK(contains(out, "\"rules\":[\"dept\"]"));
  tollgate_free(out);
  CHECK_STATUS(tollgate_route(ev, p, in, strlen(in), 0, &out, &msg), TOLLGATE_ERR_NO_CATALOG);
  CHECK(out == NULL && msg != NULL);
  tollgate_free(msg);
  tollgate_evaluator_free(ev);
  tollgate_policy_free(p);
}

static void test_eval_errors(tollgate_policy *p) {
  tollgate_evaluator *ev = tollgate_evaluator_new();
  char *out = (char *)1, *err = NULL;
  int not_a_handle = 42;
  size_t big_len = (4u << 20) + 1;
  char *big;

  CHECK_STATUS(tollgate_eval(ev, p, "{\"principal\": ", 14, 0, &out, &err), TOLLGATE_ERR_INPUT);
  CHECK(out == NULL);
  CHECK(contains(err, "{\"error\":{\"code\":\"input_malformed_json\""));
  tollgate_free(err);

  CHECK_STATUS(tollgate_route(ev, p, "{\"principal\": 3}", 16, 0, &out, &err), TOLLGATE_ERR_INPUT);
  CHECK(contains(err, "\"code\":\"input_wrong_type\""));
  tollgate_free(err);

  /* the evaluator is still usable after an error */
  if (request_count > 0) {
    CHECK_STATUS(tollgate_eval(ev, p, requests[0].json, requests[0].len, 0, &out, NULL),
                 requests[0].eval_status);
    if (out) CHECK(strcmp(out, requests[0].eval) == 0);
    tollgate_free(out);
  }

  big = malloc(big_len);
  if (big) {
    memset(big, ' ', big_len);
    CHECK_STATUS(tollgate_eval(ev, p, big, big_len, 0, &out, &err), TOLLGATE_ERR_INPUT);
    CHECK(contains(err, "input_too_large"));
    tollgate_free(err);
    free(big);
  }

  /* NULL and garbage arguments */
  CHECK_STATUS(tollgate_eval(NULL, p, "{}", 2, 0, &out, &err), TOLLGATE_ERR_INVALID_ARGUMENT);
  CHECK(contains(err, "evaluator"));
  tollgate_free(err);
  CHECK_STATUS(tollgate_eval(ev, NULL, "{}", 2, 0, &out, &err), TOLLGATE_ERR_INVALID_ARGUMENT);
  tollgate_free(err);
  CHECK_STATUS(tollgate_eval(ev, p, NULL, 2, 0, &out, &err), TOLLGATE_ERR_INVALID_ARGUMENT);
  tollgate_free(err);
  CHECK_STATUS(tollgate_eval(ev, p, "{}", 2, 0, NULL, NULL), TOLLGATE_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(tollgate_eval(ev, (const tollgate_policy *)&not_a_handle, "{}", 2, 0, &out, NULL),
               TOLLGATE_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(tollgate_route((tollgate_evaluator *)p, p, "{}", 2, 0, &out, NULL),
               TOLLGATE_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(tollgate_route(ev, (const tollgate_policy *)ev, "{}", 2, 0, &out, NULL),
               TOLLGATE_ERR_INVALID_ARGUMENT);
  CHECK(tollgate_policy_name(NULL) == NULL);
  CHECK(tollgate_policy_version((const tollgate_policy *)&not_a_handle) == NULL);
  tollgate_policy_free(NULL);
  tollgate_evaluator_free(NULL);
  tollgate_free(NULL);
  tollgate_evaluator_free(ev);
}

/* Every prefix of every example request and pseudo-random bytes: each call
 * returns TOLLGATE_OK or TOLLGATE_ERR_INPUT with an error document, never
 * anything else (and never crashes). */
static void test_hostile_inputs(const tollgate_policy *p) {
  tollgate_evaluator *ev = tollgate_evaluator_new();
  unsigned long seed = 12345;
  char junk[512];
  int i, k;
  size_t n;
  if (!ev) { ++failures; return; }
  for (i = 0; i < request_count; ++i) {
    for (n = 0; n < requests[i].len; ++n) {
      char *out = NULL, *err = NULL;
      tollgate_status s = (n % 2 ? tollgate_route : tollgate_eval)(ev, p, requests[i].json, n, 0,
                                                                   &out, &err);
      if (!(s == TOLLGATE_OK ? out != NULL
                             : s == TOLLGATE_ERR_INPUT && contains(err, "{\"error\":{\"code\":\"input_"))) {
        fprintf(stderr, "%s prefix %lu: %s\n", requests[i].path, (unsigned long)n,
                tollgate_status_name(s));
        ++failures;
      }
      tollgate_free(out);
      tollgate_free(err);
    }
  }
  for (i = 0; i < 2000; ++i) {
    char *out = NULL, *err = NULL;
    tollgate_status s;
    n = (size_t)(i % (int)sizeof junk);
    for (k = 0; k < (int)n; ++k) {
      seed = seed * 6364136223846793005ul + 1442695040888963407ul;
      junk[k] = (char)(seed >> 33);
      if (i % 3 == 0) junk[k] = "{}[]\":,0a \\"[(seed >> 40) % 12];
    }
    s = tollgate_eval(ev, p, junk, n, 0, &out, &err);
    if (s != TOLLGATE_ERR_INPUT && s != TOLLGATE_OK) ++failures;
    tollgate_free(out);
    tollgate_free(err);
  }
  tollgate_evaluator_free(ev);
}

/* Several threads share one policy, each with its own evaluator. */
#define THREADS 4
#define ROUNDS 50

struct worker {
  const tollgate_policy *p;
  int mismatches;
  long calls;
};

static void *work(void *arg) {
  struct worker *w = arg;
  tollgate_evaluator *ev = tollgate_evaluator_new();
  int round, i;
  if (!ev) { w->mismatches = -1; return NULL; }
  for (round = 0; round < ROUNDS; ++round) {
    for (i = 0; i < request_count; ++i) {
      const struct request *r = &requests[i];
      char *out = NULL, *err = NULL;
      tollgate_status s = (round + i) % 2 ? tollgate_route(ev, w->p, r->json, r->len, 0, &out, &err)
                                          : tollgate_eval(ev, w->p, r->json, r->len, 0, &out, &err);
      const char *want = (round + i) % 2 ? r->route : r->eval;
      tollgate_status want_s = (round + i) % 2 ? r->route_status : r->eval_status;
      const char *got = s == TOLLGATE_OK ? out : err;
      if (s != want_s || !got || strcmp(got, want) != 0) ++w->mismatches;
      ++w->calls;
      tollgate_free(out);
      tollgate_free(err);
    }
  }
  tollgate_evaluator_free(ev);
  return NULL;
}

static void test_threads(const tollgate_policy *p) {
  pthread_t t[THREADS];
  struct worker w[THREADS];
  int i;
  for (i = 0; i < THREADS; ++i) {
    w[i].p = p;
    w[i].mismatches = 0;
    w[i].calls = 0;
    CHECK(pthread_create(&t[i], NULL, work, &w[i]) == 0);
  }
  for (i = 0; i < THREADS; ++i) {
    pthread_join(t[i], NULL);
    CHECK(w[i].mismatches == 0);
    CHECK(w[i].calls == (long)ROUNDS * request_count);
  }
}

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Not a benchmark: prints the per-call cost so regressions are visible. */
static void report_cost(const tollgate_policy *p) {
  const struct request *r = find("us_simple.json");
  tollgate_evaluator *ev = tollgate_evaluator_new();
  const int n = 2000;
  int i;
  double t0, eval_us, route_us;
  char *out;
  if (!r || !ev) { tollgate_evaluator_free(ev); return; }
  t0 = now_us();
  for (i = 0; i < n; ++i) {
    out = NULL;
    tollgate_eval(ev, p, r->json, r->len, 0, &out, NULL);
    tollgate_free(out);
  }
  eval_us = (now_us() - t0) / n;
  t0 = now_us();
  for (i = 0; i < n; ++i) {
    out = NULL;
    tollgate_route(ev, p, r->json, r->len, 0, &out, NULL);
    tollgate_free(out);
  }
  route_us = (now_us() - t0) / n;
  printf("us_simple.json: tollgate_eval %.2f us/call, tollgate_route %.2f us/call\n", eval_us,
         route_us);
  tollgate_evaluator_free(ev);
}

int main(int argc, char **argv) {
  tollgate_policy *p = NULL;
  char *msg = NULL;
  tollgate_options opt;
  int i;

  test_version_and_names();
  load_requests();

  memset(&opt, 0, sizeof opt);
  opt.catalog_path = kCatalog;
  opt.accounts_path = kAccounts;
  CHECK_STATUS(tollgate_compile_file(kPolicy, &opt, &p, &msg), TOLLGATE_OK);
  if (!p) {
    fprintf(stderr, "%s\n", msg ? msg : "(no message)");
    return 1;
  }
  tollgate_free(msg);
  CHECK(strlen(tollgate_policy_name(p)) > 0);
  CHECK(strlen(tollgate_policy_version(p)) > 0);

  test_matches_cli(argc > 1 ? argv[1] : NULL, p);
  test_outcomes(p);
  test_model_not_found(p);
  test_flags(p);
  test_compile_errors();
  test_source_and_schema();
  test_eval_errors(p);
  test_hostile_inputs(p);
  test_threads(p);
  report_cost(p);

  tollgate_policy_free(p);
  for (i = 0; i < request_count; ++i) {
    free(requests[i].json);
    tollgate_free(requests[i].eval);
    tollgate_free(requests[i].route);
  }
  if (failures) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  printf("capi: all checks passed (%d requests, %d threads)\n", request_count, THREADS);
  return 0;
}
