// Workload generators for tollgate_bench (inputs.h).
#include "tests/bench/inputs.h"

#include <cstdio>
#include <string>
#include <vector>

namespace tollgate::bench {

std::string Structured20Policy() {
  return R"(policy "structured20"
const eu = {"AT", "BE", "DE", "DK", "ES", "FI", "FR", "IE", "IT", "NL", "PL", "PT", "SE"}
const banned_models = {"cheap/model-x", "opaque/model-y"}
const admins = {"admin", "sre"}
const model_caps = {"openai/gpt-4o": 16000, "anthropic/claude-3.5": 8000}
rule r01 { when request.model in banned_models deny 403 "model not allowed" }
rule r02 { when (request.max_tokens ?? 0) > 32000 deny 400 "max_tokens too large" }
rule r03 { when exists(principal.jurisdiction) and principal.jurisdiction in eu require provider.jurisdiction in eu }
rule r04 { when context.data_class == "confidential" require provider.zdr }
rule r05 { when (request.temperature ?? 0) > 1.8 warn "very high temperature" }
rule r06 { when principal.groups has "contractors" and context.data_class != "public" deny 403 "contractors: public data only" }
rule r07 { when request.stream == true and request.input_tokens > 100000 deny 413 "too large to stream" }
rule r08 { when context.environment == "staging" route sort price, max_price 0.50 usd }
rule r09 { when principal.groups has "batch" route sort price }
rule r10 mode shadow { when request.provider.zdr == false and context.data_class == "internal" deny 403 "internal data needs zdr" }
rule r11 mode advisory { when not ((principal.jurisdiction ?? "") in eu) and context.data_class == "confidential" warn "confidential outside eu" }
rule r12 { when request.model in model_caps and (request.max_tokens ?? 0) > model_caps[request.model] deny 400 "over the model cap" }
rule r13 { when request.tools has "shell" and not (principal.groups has "sre") deny 403 "shell tool needs sre" }
rule r14 { when principal.workspace == "suspended-ws" deny 402 "workspace suspended" }
rule r15 { when context.tags has "pii" require not provider.trains_on_data }
rule r16 { when (request.provider.max_price.request ?? 0 usd) > 5 usd warn "generous request price" }
rule r17 { when request.model == "openai/gpt-4o" and principal.user == "intern" tag tier = "limited" }
rule r18 { when length(request.messages) > 50 deny 400 "too many messages" }
rule r19 { when context.environment == "production" tag env = "prod" }
rule r20 { when principal.groups has "admin" tag admin = true }
)";
}

namespace {
std::string Message(const char* role, const std::string& content) {
  return std::string("{\"role\": \"") + role + "\", \"content\": \"" + content + "\"}";
}
}  // namespace

std::string OneKilobyteInput() {
  std::string s =
      R"({"principal": {"workspace": "acme-prod", "user": "u-48213", "key_id": "key-7731",
   "jurisdiction": "DE", "groups": ["eng", "ml-platform", "batch"]},
 "request": {"model": "openai/gpt-4o",
   "messages": [)";
  s += Message("system", "You are a helpful assistant for the acme engineering team.") + ", ";
  s += Message("user", "Summarise the attached design document in five bullet points, keeping "
                       "the terminology of the original and naming every open question.") + ", ";
  s += Message("user", "Now rewrite the third bullet for an executive audience.");
  s += R"(],
   "max_tokens": 1024, "temperature": 0.7, "stream": false,
   "tools": [{"type": "function", "function": {"name": "search_docs"}}],
   "provider": {"order": ["azure", "openai"], "allow_fallbacks": true, "zdr": true,
                "data_collection": "deny", "sort": "price",
                "max_price": {"prompt": 5, "completion": 15}}},
 "context": {"time": "2026-01-05T10:00:00Z", "data_class": "internal",
             "tags": ["interactive", "team-ml"], "environment": "production"}})";
  return s;
}

std::string IndexedPolicy(int n) {
  static const char* const conds[] = {
      "request.model == \"openai/gpt-4o\"", "principal.jurisdiction == \"DE\"",
      "context.data_class == \"confidential\"", "principal.user == \"intern\"",
      "context.environment == \"staging\""};
  std::string s = "policy \"indexed\"\n";
  s.reserve(static_cast<size_t>(n) * 120);
  for (int i = 0; i < n; ++i) {
    s += "rule w" + std::to_string(i) + " { when principal.workspace == \"ws" + std::to_string(i) +
         "\" and " + conds[i % 5] + " deny 403 \"workspace " + std::to_string(i) + " blocked\" }\n";
  }
  return s;
}

std::string WorkspaceInput(int ws) {
  return R"({"principal": {"workspace": "ws)" + std::to_string(ws) +
         R"(", "user": "u1", "jurisdiction": "DE"},
 "request": {"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hello"}]},
 "context": {"data_class": "internal", "environment": "production"}})";
}

const std::vector<std::string>& ScanPatterns() {
  static const std::vector<std::string> p = {
      R"(\b\d{3}-\d{2}-\d{4}\b)",                       // ssn-like
      R"([A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})",  // e-mail
      R"(\b(?:\d[ -]?){13,16}\b)",                      // card-like digits
      R"(sk-[A-Za-z0-9]{20,})",                         // api key
      R"(AKIA[0-9A-Z]{16})",                            // aws key id
      R"((?i)ignore (all )?previous instructions)",     // injection phrase
      R"((?i)system prompt)",
      R"(\b(?:\d{1,3}\.){3}\d{1,3}\b)",                 // ipv4
      R"((?i)password\s*[:=])",
      R"(-----BEGIN [A-Z ]*PRIVATE KEY-----)",
      R"((?i)\bconfidential\b)",
      R"(\bDE\d{2}[ ]?\d{4}[ ]?\d{4}[ ]?\d{4}[ ]?\d{4}[ ]?\d{2}\b)",  // iban-like
  };
  return p;
}

namespace {
std::string SourceString(const std::string& re) {  // policy string literal
  std::string s = "\"";
  for (char c : re) {
    if (c == '\\' || c == '"') s += '\\';
    s += c;
  }
  return s + "\"";
}
}  // namespace

std::string ScanPolicy() {
  std::string s = "policy \"scan\"\n";
  const auto& p = ScanPatterns();
  for (size_t i = 0; i < p.size(); ++i)
    s += "rule scan" + std::to_string(i) + " { when request.content matches " + SourceString(p[i]) +
         " tag hit" + std::to_string(i) + " = true }\n";
  return s;
}

std::string ScanText() {
  static const char* const words[] = {
      "the", "gateway", "routes", "each", "request", "to", "a", "provider", "after", "checking",
      "policy", "rules", "about", "cost", "residency", "and", "retention", "of", "prompt", "data",
      "engineers", "review", "quarterly", "numbers", "with", "finance", "before", "launch"};
  std::string s;
  uint64_t x = 12345;
  while (s.size() < 8192 - 40) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    s += words[(x >> 33) % 28];
    s += ((x >> 20) % 13 == 0) ? ". " : " ";
  }
  s += " contact ops@example.com today";  // one hit, near the end
  return s;
}

std::string ScanInput() {
  return R"({"principal": {"workspace": "acme"}, "request": {"model": "openai/gpt-4o",
 "messages": [{"role": "user", "content": ")" + ScanText() + R"("}]}})";
}

std::string CatalogJson(int n) {
  static const char* const countries[] = {"US", "DE", "FR", "IE", "SE", "NL", "GB", "JP", "CA",
                                          "SG"};
  static const char* const quants[] = {"fp16", "bf16", "fp8", "int8", "unknown"};
  std::string s = "{\"endpoints\": [";
  char buf[1024];
  for (int i = 0; i < n; ++i) {
    bool zdr = i % 3 == 0;
    snprintf(buf, sizeof buf,
             "%s{\"id\": \"openai/gpt-4o@p%d-%d\", \"model\": \"openai/gpt-4o\", "
             "\"provider\": \"p%d\", "
             "\"upstream\": {\"base_url\": \"https://p%d.example.com/v1\", "
             "\"auth\": {\"type\": \"bearer\", \"env\": \"P%d_KEY\"}}, "
             "\"pricing\": {\"input_per_mtok\": \"%d.%02d\", \"output_per_mtok\": \"%d\", "
             "\"per_request\": \"0\"}, "
             "\"context_length\": %d, \"max_output_tokens\": 16384, "
             "\"jurisdiction\": \"%s\", \"region\": \"r%d\", "
             "\"zdr\": %s, \"trains_on_data\": %s, \"data_collection\": \"%s\", "
             "\"retention_days\": %d, \"quantization\": \"%s\", "
             "\"supported_parameters\": [\"tools\", \"response_format\", \"temperature\"], "
             "\"observed\": {\"latency_p50\": 0.%03d, \"throughput\": %d.5, \"uptime\": 0.99%d}, "
             "\"tier\": \"standard\", \"byok\": false}",
             i ? ", " : "", i % 50, i, i % 50, i % 50, i % 50, 1 + i % 7, (i * 37) % 100,
             4 + i % 11, 32000 + (i % 4) * 32000, countries[i % 10], i % 5, zdr ? "true" : "false",
             (!zdr && i % 4 == 1) ? "true" : "false", zdr ? "deny" : "allow",
             zdr ? 0 : 30, quants[i % 5], 100 + i % 900, 20 + i % 150, i % 10);
    s += buf;
  }
  return s + "]}";
}

std::string RoutePolicy() {
  return R"(policy "route10"
const eu = {"AT", "BE", "DE", "DK", "ES", "FI", "FR", "IE", "IT", "NL", "PL", "PT", "SE"}
const blocked = {"p13", "p27"}
rule residency { when exists(principal.jurisdiction) and principal.jurisdiction in eu require provider.jurisdiction in eu or provider.jurisdiction == "US" }
rule confidential { when context.data_class == "internal" require provider.zdr or provider.retention_days <= 30 }
rule no_training { require not provider.trains_on_data }
rule blocked_providers { require not (provider.name in blocked) }
rule cost_cap { require endpoint.estimated_cost <= 0.50 usd }
rule context_fits { require endpoint.context_length >= request.input_tokens }
rule quant { require endpoint.quantization != "int4" }
rule uptime { require endpoint.uptime >= 0.99 }
rule latency { require endpoint.latency_p50 < 2.0 }
rule tools { when request.tools has "search_docs" require endpoint.parameters has "tools" }
)";
}

std::string RouteInput() { return OneKilobyteInput(); }

std::string GovernancePolicy() {
  std::string s = Structured20Policy();
  s = s.substr(0, s.find("rule r17"));
  s += R"(rule c1 { when request.content contains "internal use only" deny 403 "internal document" }
rule c2 { when request.content contains "do not distribute" deny 403 "restricted document" }
rule c3 { when request.content matches dlp.credit_card deny 422 "card number in the prompt" }
rule c4 { when request.content matches dlp.us_ssn deny 422 "ssn in the prompt" }
)";
  return s;
}

std::string Prose(size_t bytes, uint64_t seed) {
  static const char* const words[] = {
      "the", "gateway", "routes", "each", "request", "to", "a", "provider", "after", "checking",
      "policy", "rules", "about", "cost", "residency", "and", "retention", "of", "prompt", "data",
      "engineers", "review", "quarterly", "numbers", "with", "finance", "before", "launch",
      "you", "are", "system", "ignore", "please", "write", "code", "for", "me", "in", "2026",
      "42", "version", "3.10", "the", "is", "that", "this", "we", "our", "it", "will"};
  constexpr size_t kWords = sizeof(words) / sizeof(words[0]);
  std::string s;
  s.reserve(bytes + 16);
  uint64_t x = seed;
  while (s.size() < bytes) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    s += words[(x >> 33) % kWords];
    s += ((x >> 20) % 13 == 0) ? ". " : ((x >> 24) % 29 == 0) ? "\\n" : " ";
  }
  s.resize(bytes);
  while (!s.empty() && s.back() == '\\') s.pop_back();  // never cut a JSON escape
  return s;
}

std::string GovernanceInput(int kb) {
  std::string s = OneKilobyteInput();
  std::string msg = Message("user", Prose(static_cast<size_t>(kb) * 1024, 7)) + ", ";
  s.insert(s.find("\"messages\": [") + 13, msg);
  return s;
}

std::vector<std::string> GeneratedPatterns(int n) {
  static const char* const shapes[] = {
      R"(\bproject-%d-[a-z]{3}\d{2}\b)", R"(secret_%d_[A-Za-z0-9]{8,})", R"((?:alpha|beta|gamma)%d\d+)",
      R"(\bcase %d:\s*[A-Z]{2}-\d{4})", R"(tok%dx[0-9a-f]{16})", R"((?i)codename %d [a-z]+)",
      R"(\b%d-(?:red|green|blue)-\w+)", R"(user%d@corp\.example)"};
  std::vector<std::string> out;
  char buf[128];
  for (int i = 0; i < n; ++i) {
    std::snprintf(buf, sizeof buf, shapes[i % 8], i);
    out.emplace_back(buf);
  }
  return out;
}

std::string PatternsPolicy(int n) {
  std::string s = "policy \"patterns\"\n";
  const std::vector<std::string> p = GeneratedPatterns(n);
  for (size_t i = 0; i < p.size(); ++i) {
    s += "rule p" + std::to_string(i) + " { when request.content matches " + SourceString(p[i]) +
         " deny 403 \"pattern " + std::to_string(i) + "\" }\n";
  }
  return s;
}

std::string ExampleInput(size_t bytes) {
  return R"({"principal": {"workspace": "acme-eu", "user": "u-1042", "key_id": "key-eu-7",
   "jurisdiction": "DE", "groups": ["legal"]},
 "request": {"model": "anthropic/claude-3.5-sonnet",
   "messages": [{"role": "system", "content": "You are a careful legal assistant."},
                {"role": "user", "content": ")" + Prose(bytes, 11) + R"("}],
   "max_tokens": 1024, "temperature": 0.2, "provider": {"data_collection": "deny", "sort": "price"}},
 "context": {"time": "2026-11-25T10:00:00Z", "data_class": "confidential", "tags": ["contracts"],
             "environment": "production"}})";
}

}  // namespace tollgate::bench
