// Workloads of tollgate_bench: generated policies, inputs and catalogs.
// All deterministic; see bench.cc for what is measured.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tollgate::bench {

// ~20 structured rules (no content scan) over principal/request/context fields.
std::string Structured20Policy();
// A decision input of about 1 KB (no sensitive content).
std::string OneKilobyteInput();
// `n` rules `when principal.workspace == "wsI" and ...` (rule-index friendly).
std::string IndexedPolicy(int n);
// A request for workspace "ws<ws>" (matches rule ws of IndexedPolicy).
std::string WorkspaceInput(int ws);

// The >= 10 regexes scanned over 8 KB of content, and the policy that uses
// each of them in a `when request.content matches ...` rule.
const std::vector<std::string>& ScanPatterns();
std::string ScanPolicy();
// A decision input whose request.content is ~8 KB of prose (one rare hit).
std::string ScanInput();
// The same content text as ScanInput() decodes to.
std::string ScanText();

// Issue 10 (content scanning). A 20-rule governance policy: 16 structured
// rules of Structured20Policy and 4 content rules (two literals, a card
// number, an SSN). Its input has a user prompt of `kb` KB of prose (no hit).
std::string GovernancePolicy();
std::string GovernanceInput(int kb);
// Prose of `bytes` bytes (no sensitive content, no injection phrase).
std::string Prose(size_t bytes, uint64_t seed);
// `n` distinct content patterns and a policy matching each on request.content.
std::vector<std::string> GeneratedPatterns(int n);
std::string PatternsPolicy(int n);
// A decision input for policies/example.tg whose user prompt is `bytes` of prose.
std::string ExampleInput(size_t bytes);

// A catalog of `n` endpoints, every one serving "openai/gpt-4o", and a policy
// with 10 `require` rules; RouteInput() asks for that model.
std::string CatalogJson(int n);
std::string RoutePolicy();
std::string RouteInput();

}  // namespace tollgate::bench
