// Differential test: the VM and the reference interpreter (reference.h) must
// produce the same decision for random well-typed policies and random decision
// inputs, and for every example policy in policies/ on its example requests.
//
// Default: >= 100,000 evaluations (10,000 in the sanitizer build), each also
// checking every require predicate on two random candidates. Long mode:
// TOLLGATE_DIFF_ITERATIONS=N evaluations;
// TOLLGATE_DIFF_SEED=S changes the first seed. A mismatch prints the seed, the
// policy source, the input and both decisions.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <unistd.h>

#include "engine/engine.h"
#include "engine/vm/vm.h"
#include "runtime/input/input.h"
#include "tests/differential/generate.h"
#include "tests/differential/reference.h"

namespace tollgate {
namespace {

constexpr int kInputsPerPolicy = 20;
constexpr int kMaxReports = 5;

// A directory holding the generator's data document, so that generated
// policies can declare `data tenants from "tenants.json"`.
const std::string& GenDir() {
  static const std::string dir = [] {
    std::filesystem::path d = std::filesystem::temp_directory_path() /
                              ("tollgate-diff-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    std::ofstream(d / gen::DataFileName()) << gen::DataDocument();
    return d.string();
  }();
  return dir;
}

// Inputs without context.time get this instant (reproducible runs).
constexpr int64_t kClockMs = 1767268800000;  // 2026-01-01T12:00:00Z

// The default number of evaluations. Under AddressSanitizer (the sanitizer
// build of .ci/run) an evaluation costs ~40 x more: a tenth keeps that suite
// within CI's time budget (the release build runs the full default).
#if defined(__SANITIZE_ADDRESS__)
#define TG_DIFF_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TG_DIFF_SANITIZED 1
#endif
#endif
#ifdef TG_DIFF_SANITIZED
constexpr uint64_t kDefaultIterations = 10000;
#else
constexpr uint64_t kDefaultIterations = 100000;
#endif

uint64_t EnvOr(const char* name, uint64_t def) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : def;
}

struct Stats {
  uint64_t evaluations = 0, require_checks = 0, mismatches = 0, rejected = 0, bad_inputs = 0;
  uint64_t composed = 0;  // policies compiled from two files
  uint64_t lets = 0;      // policies declaring a let
  uint64_t denies = 0, errors = 0, fired = 0, rule_error_denies = 0, require_errors = 0;
  uint64_t data_policies = 0, clock_filled = 0;
  int reported = 0;
  std::map<std::string, std::pair<uint64_t, std::string>> kinds;  // differing field -> count, first label
};

std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Compares one request (and its require verdicts on `candidates`); reports
// the first kMaxReports mismatches in full.
void CompareOne(const std::string& label, const Policy& policy, const std::string& source,
                const std::string& json, const vm::Record& rec,
                const std::vector<const vm::Record*>& candidates, Stats* st) {
  vm::Decision vd, rd;
  vm::Evaluate(policy.program(), rec, {}, &vd);
  ref::Evaluate(policy.ast(), policy.schema(), rec, &rd);
  ++st->evaluations;
  st->denies += rd.outcome == vm::Outcome::kDeny;
  st->errors += !rd.errors.empty();
  st->rule_error_denies += rd.code == vm::kCodeRuleError;
  st->clock_filled += rd.time_from_clock;
  st->fired += rd.fired.size();
  std::string diff = ref::Diff(rd, vd, policy.ast());
  if (st->evaluations % 7 == 0) {  // tracing must not change the decision
    vm::EvalOptions traced;
    traced.trace = true;
    vm::Decision td;
    vm::Evaluate(policy.program(), rec, traced, &td);
    std::string t = ref::Diff(rd, td, policy.ast());
    if (!t.empty()) diff += "with trace on:\n" + t;
  }
  uint32_t n = ref::RequireCount(policy.ast());
  for (uint32_t k = 0; k < n; ++k) {
    for (size_t c = 0; c < candidates.size(); ++c) {
      ++st->require_checks;
      vm::RequireResult v = vm::EvalRequire(policy.program(), k, rec, *candidates[c], {});
      ref::RequireResult r = ref::EvalRequire(policy.ast(), policy.schema(), k, rec, *candidates[c]);
      st->require_errors += r.error;
      if (v.pass != r.pass || v.error != r.error || (r.error && v.code != r.code)) {
        diff += "require " + std::to_string(k) + " candidate " + std::to_string(c) +
                ": ref pass=" + std::to_string(r.pass) + " error=" + r.code + " (" + r.message +
                ")  vm pass=" + std::to_string(v.pass) + " error=" + std::string(v.code) + " (" +
                v.message + ")\n";
      }
    }
  }
  if (diff.empty()) return;
  ++st->mismatches;
  for (size_t pos = 0; pos < diff.size();) {
    size_t nl = diff.find('\n', pos);
    std::string line = diff.substr(pos, nl - pos);
    std::string kind = line.substr(0, line.find_first_of(": "));
    auto& k = st->kinds[kind];
    if (k.first++ == 0) k.second = label;
    pos = nl == std::string::npos ? diff.size() : nl + 1;
  }
  if (st->reported++ >= kMaxReports) return;
  ADD_FAILURE() << "MISMATCH " << label << "\n--- policy ---\n" << source << "--- input ---\n"
                << json << "\n--- differences ---\n" << diff << "--- reference ---\n"
                << ref::Render(rd, policy.ast()) << "--- vm ---\n" << ref::Render(vd, policy.ast());
}

TEST(Differential, RandomPoliciesAgree) {
  const uint64_t total = EnvOr("TOLLGATE_DIFF_ITERATIONS", kDefaultIterations);
  const uint64_t first_seed = EnvOr("TOLLGATE_DIFF_SEED", 1);
  const stdlib::Schema& schema = stdlib::Schema::Standard();
  Stats st;
  std::vector<std::string> rejections, decode_failures;
  std::map<std::string, uint64_t> reject_kinds;
  uint64_t policies = 0;
  for (uint64_t seed = first_seed; st.evaluations < total; ++seed) {
    gen::Rng rng(seed);
    ++policies;
    gen::PolicyShape shape;
    shape.data = true;
    std::string src = gen::RandomPolicy(rng, shape);
    // Every third policy is composed of two files (its last rule in the
    // second): one program, the same decisions as the reference's merged AST.
    size_t split = src.rfind("\nrule ");
    Compiled c;
    if (seed % 3 == 0 && split != std::string::npos && src.find("\nrule ") < split) {
      std::vector<SourceText> files;
      files.push_back({GenDir() + "/gen.tg", src.substr(0, split + 1)});
      files.push_back({GenDir() + "/gen_more.tg", "policy \"gen\"\n" + src.substr(split + 1)});
      c = CompileSources(std::move(files), {});
      ++st.composed;
    } else {
      c = CompileSource(GenDir() + "/gen.tg", src, {});
    }
    st.data_policies += src.find("\ndata tenants") != std::string::npos;
    st.lets += src.find("\nlet c0 = ") != std::string::npos;
    if (!c.policy) {
      ++st.rejected;
      for (const Diagnostic& d : c.diagnostics.items()) {
        if (d.severity != Severity::kError) continue;
        std::string kind = d.code + ": " + d.message.substr(0, d.message.find('`'));
        if (std::getenv("TOLLGATE_DIFF_SHOW_REJECTED")) std::printf("%s\n", c.diagnostics.Render().c_str());
        if (reject_kinds[kind]++ == 0 && rejections.size() < 6)
          rejections.push_back("seed " + std::to_string(seed) + ":\n" + src + c.diagnostics.Render());
      }
      // Keep the evaluation count moving even if everything is rejected.
      st.evaluations += kInputsPerPolicy / 4;
      continue;
    }
    vm::Record cand[2];
    gen::RandomCandidate(rng, schema, &cand[0]);
    gen::RandomCandidate(rng, schema, &cand[1]);
    std::vector<const vm::Record*> cands = {&cand[0], &cand[1]};
    for (int i = 0; i < kInputsPerPolicy; ++i) {
      std::string json = gen::RandomInput(rng);
      vm::Record rec;
      runtime::InputError err;
      runtime::DecodeOptions dopts;
      dopts.now_ms = kClockMs;
      if (!runtime::DecodeInput(json, schema, {}, dopts, &rec, &err)) {
        ++st.bad_inputs;
        if (decode_failures.size() < 3) decode_failures.push_back(json + "\n  " + err.code + ": " + err.message);
        continue;
      }
      CompareOne("seed " + std::to_string(seed) + " input " + std::to_string(i), *c.policy, src,
                 json, rec, cands, &st);
    }
  }
  const uint64_t compared = st.evaluations - st.rejected * (kInputsPerPolicy / 4);
  std::printf("differential: %llu evaluations, %llu require checks, %llu mismatches, "
              "%llu policies rejected, %llu inputs rejected; %llu denies (%llu rule_error), "
              "%llu ended with a runtime error (%.1f%% completed without error), "
              "%llu require checks errored, %llu rules fired, %llu policies with data, "
              "%llu inputs with context.time from the clock, %llu policies of two files, "
              "%llu with a let\n",
              (unsigned long long)st.evaluations, (unsigned long long)st.require_checks,
              (unsigned long long)st.mismatches, (unsigned long long)st.rejected,
              (unsigned long long)st.bad_inputs, (unsigned long long)st.denies,
              (unsigned long long)st.rule_error_denies, (unsigned long long)st.errors,
              compared ? 100.0 * double(compared - st.errors) / double(compared) : 0.0,
              (unsigned long long)st.require_errors, (unsigned long long)st.fired,
              (unsigned long long)st.data_policies, (unsigned long long)st.clock_filled,
              (unsigned long long)st.composed, (unsigned long long)st.lets);
  for (const auto& [kind, v] : st.kinds)
    std::printf("  mismatching %-16s %8llu times, first at %s\n", kind.c_str(),
                (unsigned long long)v.first, v.second.c_str());
  for (const auto& [kind, n] : reject_kinds)
    std::printf("  rejected %6llu x %s\n", (unsigned long long)n, kind.c_str());
  // A few generated policies are rightly rejected (constant folding finds an
  // overflow, e.g. `4611686018427387904 / big`); more means a generator bug.
  if (st.rejected * 10 > policies)
    for (const std::string& r : rejections) ADD_FAILURE() << "generated policy rejected, " << r;
  EXPECT_LE(st.rejected * 10, policies) << "more than 10% of generated policies rejected";
  for (const std::string& r : decode_failures) ADD_FAILURE() << "generated input rejected: " << r;
  EXPECT_EQ(st.mismatches, 0u);
  EXPECT_GT(st.denies, 0u);
  // Runtime errors still happen (overflow, division by zero) but most
  // evaluations complete: absent values are handled by the checker.
  EXPECT_GT(st.errors, 0u);
  EXPECT_GE((compared - st.errors) * 2, compared) << "fewer than 50% of evaluations completed without error";
  EXPECT_GT(st.data_policies, 0u);
  EXPECT_GT(st.clock_filled, 0u);
  EXPECT_GT(st.composed, 0u);
  EXPECT_GT(st.lets, 0u);
}

// Every example policy on every example request (policies/requests/*.json).
TEST(Differential, ExamplePoliciesAgree) {
  namespace fs = std::filesystem;
  if (!fs::is_directory("policies")) GTEST_SKIP() << "run from the repository root";
  std::vector<fs::path> policies, requests;
  for (const auto& e : fs::directory_iterator("policies"))
    if (e.path().extension() == ".tg") policies.push_back(e.path());
  if (fs::is_directory("policies/requests"))
    for (const auto& e : fs::directory_iterator("policies/requests"))
      if (e.path().extension() == ".json") requests.push_back(e.path());
  std::sort(policies.begin(), policies.end());
  std::sort(requests.begin(), requests.end());
  if (policies.empty() || requests.empty()) GTEST_SKIP() << "no example policies/requests yet";
  const stdlib::Schema& schema = stdlib::Schema::Standard();
  gen::Rng rng(7);
  std::vector<std::unique_ptr<vm::Record>> cand_store;
  std::vector<const vm::Record*> cands;
  for (int i = 0; i < 8; ++i) {
    cand_store.push_back(std::make_unique<vm::Record>());
    gen::RandomCandidate(rng, schema, cand_store.back().get());
    cands.push_back(cand_store.back().get());
  }
  Stats st;
  for (const fs::path& p : policies) {
    Compiled c = CompileFile(p.string(), {});
    ASSERT_TRUE(c.policy) << p << "\n" << c.diagnostics.Render();
    for (const fs::path& r : requests) {
      std::string json = ReadFile(r);
      vm::Record rec;
      runtime::InputError err;
      if (!runtime::DecodeInput(json, schema, {}, &rec, &err)) continue;  // malformed examples
      CompareOne(p.string() + " on " + r.string(), *c.policy, ReadFile(p), json, rec, cands, &st);
    }
  }
  std::printf("examples: %llu evaluations, %llu require checks, %llu mismatches\n",
              (unsigned long long)st.evaluations, (unsigned long long)st.require_checks,
              (unsigned long long)st.mismatches);
  EXPECT_GT(st.evaluations, 0u);
  EXPECT_EQ(st.mismatches, 0u);
}

}  // namespace
}  // namespace tollgate

namespace tollgate {
namespace {

// Hand-picked corners of the runtime semantics, compared like the random ones.
TEST(Differential, EdgeCasesAgree) {
  const char* const rules[] = {
      "rule a { when (request.max_tokens ?? 7) / 4611686018427387904 == 0.5 deny 401 \"half\" }",
      "rule a { when (request.max_tokens ?? 7) * 0.5 > 1 deny 401 \"x\" }",
      "rule a { when exists(request.max_tokens) and request.max_tokens > 0.5 deny 401 \"x\" }",
      "rule a { when request.max_tokens != null and request.max_tokens + 1 > 0 deny 401 \"x\" }",
      "rule a { when not exists(request.max_tokens) or -request.max_tokens < 0 deny 401 \"x\" }",
      "rule a { when (request.max_tokens ?? 8) % 7 == 1 deny 401 \"x\" }",
      "rule a { when exists(request.max_tokens) and request.max_tokens % (request.max_tokens - request.max_tokens) == 0 deny \"x\" }",
      "rule a { when (request.provider.max_price.request ?? 1 usd) / 3 == 0.166667 usd deny 401 \"x\" }",
      "rule a { when exists(request.provider.max_price.request) and exists(request.temperature) "
      "and request.provider.max_price.request * request.temperature > 0 usd deny \"x\" }",
      "rule a { when exists(request.provider.max_price.request) and exists(request.provider.max_price.prompt) "
      "and request.provider.max_price.request / request.provider.max_price.prompt > 1 deny \"x\" }",
      "rule a { when (request.temperature ?? 0.3) / 3 * 3 == (request.temperature ?? 0.3) deny 401 \"x\" }",
      "rule a { when exists(request.temperature) and request.temperature * request.temperature == 0.49 "
      "tag t = request.temperature / 7 }",
      "rule a { when context.time - context.time == 0ms and context.time + 9223372036854775807ms > context.time deny \"x\" }",
      "rule a { when exists(request.messages[5]) and request.messages[5].content == \"\" deny \"x\" }",
      "rule a { when exists(request.messages[request.input_tokens]) and request.messages[request.input_tokens].role == \"user\" deny \"x\" }",
      "rule a { when all m in request.messages: (any n in request.messages: (n.name ?? \"\") == (m.name ?? \"\")) deny \"x\" }",
      "rule a { when any m in request.messages: exists(m.name) and m.name contains \"b\" deny \"x\" }",
      "rule a { when request.content matches dlp.credit_card and request.content matches \"4111\" "
      "redact dlp.credit_card as \"[C]\" redact \"4111\" as \"[D]\" }\n"
      "rule b { when request.content matches dlp.email or request.content contains \"card\" tag e = 1 }",
      "rule a { when exists(request.max_tokens) and not exists(request.temperature) deny \"x\" }",
      "rule a { when request.stream ?? false deny \"x\" }\nrule b on_error skip { when not (request.stream ?? true) deny 402 \"y\" }",
      "rule a mode advisory { when request.stream == null warn \"w\" tag t = 1 }\n"
      "rule b mode shadow { when true require provider.zdr tag t = (request.max_tokens ?? 0) + 1 }",
      // error precedence: a real deny wins over an earlier or later rule error
      "rule a { when 1 / (request.input_tokens - request.input_tokens) > 0 deny 401 \"err\" }\n"
      "rule b { when (request.max_tokens ?? 0) > 1 deny 402 \"real\" }",
      "rule b { when (request.max_tokens ?? 0) > 1 deny 402 \"real\" }\n"
      "rule a { when 1 / (request.input_tokens - request.input_tokens) > 0 deny 401 \"err\" }",
      // a tag error drops the tag only
      "rule a { tag t = 1 / (request.input_tokens - request.input_tokens) tag u = 2 deny 409 \"x\" }",
      // on_error decides for a require that errors
      "rule a on_error skip { require 1 / (provider.retention_days - provider.retention_days) > 0 }\n"
      "rule b { require 1 / (provider.retention_days - provider.retention_days) > 0 }",
      // map misses read as null: ?? and get
      "const m = {\"a\": 1, \"b\": 2}\nrule a { when (m[request.model] ?? 0) + get(m, principal.workspace, 5) > 4 deny \"x\" }",
      // Named conditions (inlined) and a mode chosen per request.
      "let big = (request.max_tokens ?? 0) > 1\nlet hot = (request.temperature ?? 0.0) > 0.5\n"
      "rule a mode shadow when hot { when big deny 413 \"x\" tag t = 1 }\n"
      "rule b mode advisory when request.stream ?? false on_error skip { when big or hot warn \"w\" }",
      "rule a mode shadow when 1 / (request.input_tokens - request.input_tokens) > 0 "
      "{ when true deny \"x\" }\n"
      "rule b mode shadow when request.stream ?? false { require provider.zdr }",
  };
  const char* const inputs[] = {
      R"("max_tokens": 2305843009213693952, "temperature": 0.7, "provider": {"max_price": {"request": 0.5, "prompt": "0.25"}})",
      R"("max_tokens": 9223372036854775807, "temperature": "0.000001")",
      R"("max_tokens": 4611686018427387904, "stream": true)",
      R"("max_tokens": 1, "temperature": -1.5, "provider": {"max_price": {"request": "9000000000000"}})",
      R"("max_tokens": 0, "provider": {"max_price": {"request": 1, "prompt": 0}})",
      "",
  };
  const char* const messages[] = {
      R"([{"role": "user", "content": "card 4111 1111 1111 1111 to bob@example.com", "name": "bob"}, {"role": "assistant", "content": "ok"}])",
      "[]",
  };
  Stats st;
  const stdlib::Schema& schema = stdlib::Schema::Standard();
  gen::Rng rng(3);
  vm::Record cand;
  gen::RandomCandidate(rng, schema, &cand);
  for (const char* r : rules) {
    std::string src = std::string("policy \"edge\"\n") + r + "\n";
    Compiled c = CompileSource("edge.tg", src, {});
    ASSERT_TRUE(c.policy) << src << c.diagnostics.Render();
    for (const char* in : inputs) {
      for (const char* msgs : messages) {
        std::string json = std::string(R"({"principal": {"workspace": "w"}, "request": {"model": "m", "messages": )") +
                           msgs + (*in ? ", " : "") + in +
                           R"(}, "context": {"time": "2026-01-05T10:00:00Z"}})";
        vm::Record rec;
        runtime::InputError err;
        runtime::DecodeOptions dopts;
        dopts.now_ms = kClockMs;
        ASSERT_TRUE(runtime::DecodeInput(json, schema, {}, dopts, &rec, &err)) << json << err.message;
        CompareOne("edge case", *c.policy, src, json, rec, {&cand}, &st);
      }
    }
  }
  EXPECT_EQ(st.mismatches, 0u);
}

}  // namespace
}  // namespace tollgate
