// Prompt-injection heuristics: weighted phrase patterns in nine groups.
//
// The text is normalised first (invisible and decorating code points removed,
// accented Latin letters and look-alike letters folded: Unhide; letter spacing "i g n o r e"
// collapsed, scrambled-letter variants of eight target words restored), then
// matched case-insensitively; in the phrases addressed to the model `_`
// separates words as a space does (Expand). Long base64 and hex runs are decoded and the decoded
// text is matched as well. The score is the sum of the weights of the
// distinct groups that matched, capped at 1.0 -- integer micros, so the same
// text always gets the same score.
//
// Speed: one linear pass (internal::FindInjectionTriggers, 64 bytes
// per step with AVX-512BW, AVX2 or SSE2 compares, no branch on the text in
// its inner loop) tells whether any preprocessing can change
// the text: a run of three spaced single characters (collapse), a
// scrambled target word, a base64/hex run long enough to decode. Only the
// passes whose trigger fired run, so their results are exactly the old
// passes' results. The phrases then run through the key-word prefilter
// (internal/injection_prefilter.h, stdlib/injection_prefilter.cc): one
// Hyperscan literal pass finds each phrase's key words (chosen from the
// phrase's own source: a slot every match goes through; keys shorter than
// four bytes by AVX-512 VBMI table lookups instead), a hit whose
// neighbouring partner word is missing is dropped by a compare, and RE2
// confirms each group over windows around the remaining hits that provably
// hold every match through them (letter/digit budgets from the phrase's
// source, the whole text as context). So RE2 reads a few KB of a 64 KB
// prompt instead of all of it. A text the prefilter declines (U+017F or
// U+212A in it, which RE2 folds to s and k; too many key hits; windows
// covering it twice over) and every text in a build without Hyperscan run
// on one scan::Scanner (RE2's DFA with per-thread copies) over every byte,
// as before. MatchedGroupsReference keeps the old path (RE2::Set, every
// pass) as the differential baseline.
#include <re2/re2.h>
#include <re2/set.h>

#include "engine/scan/escapes.h"
#include "engine/scan/scanner.h"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <cstdio>
#include <cstdlib>
#include <string>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "stdlib/builtins.h"
#include "stdlib/internal/injection_classes.h"
#include "stdlib/internal/injection_prefilter.h"
#include "stdlib/internal/injection_triggers.h"

namespace tollgate::stdlib {

namespace {

// One phrase: its pattern (a space stands for `\W*`, NOUNS for kNouns), and
// whether `_` separates its words too (Expand).
struct Phrase {
  Phrase(const char* re) : re(re) {}  // NOLINT: the table's plain entries
  Phrase(const char* re, bool underscore) : re(re), underscore(underscore) {}
  std::string_view re;
  bool underscore = false;
};

// A phrase addressed to the model as an instruction: `_` separates its words
// ("ignore_previous_instructions"). The other phrases name settings, modes
// and constants that code spells in snake_case (`enable_debug_mode`,
// `new_system_prompt`, `FORMAT_MESSAGE_FROM_SYSTEM`, `disable_content_filter`,
// `jailbreak_prompt`, `skip_rules`) and keep needing another separator.
Phrase U(const char* re) { return Phrase(re, true); }

struct Group {
  std::string_view name;
  int64_t weight;  // micros
  std::vector<Phrase> patterns;
};

// A literal space in a phrase stands for "any run of non-word characters,
// possibly empty", so "ignore previous" also matches "ignore... previous" and
// the collapsed "ignoreprevious".
constexpr std::string_view kNouns =
    "(?:instructions?|prompts?|rules|directions|directives|guidelines|guardrails|programming|"
    "constraints|commands)";

const std::vector<Group>& Groups() {
  static const std::vector<Group> groups = {
      {"instruction_override", 800000,
       {R"(\bignore (?:all |any |every )?(?:of )?(?:the |your |my |these |those )?(?:previous|prior|above|earlier|preceding|former|original|initial|system|all) NOUNS)",
        R"(\b(?:disregard|forget|skip|abandon|discard) (?:all |any |every )?(?:of )?(?:the |your |my )?(?:previous|prior|above|earlier|preceding|original|initial|system)? ?NOUNS)",
        // The two above with `_` separating, when the instructions are
        // earlier ones: `skip_rules`, `ignore_system_prompt`, `ignore_all_rules`
        // are common settings in code.
        U(R"(\bignore (?:all |any |every )?(?:of )?(?:the |your |my |these |those )?(?:previous|prior|above|earlier|preceding|former|original|initial) NOUNS)"),
        U(R"(\b(?:disregard|forget|skip|abandon|discard) (?:all |any |every )?(?:of )?(?:the |your |my )?(?:previous|prior|above|earlier|preceding|original|initial) NOUNS)"),
        U(R"(\bforget (?:everything|all|what) (?:you (?:were|have been) told|above|before|previously))"),
        U(R"(\bdo not (?:follow|obey) (?:your|the|any) (?:previous |prior |original |system )?NOUNS)"),
        R"(\b(?:override|overwrite) (?:your|the|all|any) (?:previous |prior |original )?NOUNS)",
        U(R"(\b(?:ignore|disregard|forget) (?:all |everything |the )?(?:above|previous|prior)(?: text| content| message)? and (?:instead|now|just|only|say|print|tell|output|respond|write|repeat)\b)"),
        U(R"(\b(?:ignore|disregard) (?:all )?(?:of )?(?:your|the|these|those|any) NOUNS (?:above|before|so far|you were given|you have been given|and (?:instead|say|print|tell|output|respond))\b)"),
        U(R"(\b(?:ignore|disregard) (?:all )?(?:of )?your (?:instructions|programming|guidelines|rules|system prompt)\b)")}},
      {"dev_mode", 500000,
       {R"(\b(?:enable|activate|enter|switch to|switch into|turn on|unlock) (?:the )?(?:developer|dev|admin|administrator|god|debug|maintenance|sudo|root) mode)",
        R"(\b(?:developer|admin|god|debug|sudo) mode (?:is )?(?:now )?(?:enabled|activated|on|unlocked))",
        R"(\byou are (?:now )?in (?:developer|dev|admin|god|debug|sudo) mode)"}},
      {"system_override", 600000,
       {R"(\b(?:system|admin|administrator|developer|root|sudo) override\b)",
        R"(\bnew system (?:prompt|instructions?|message|rules)\b)",
        R"(\boverride (?:the )?system (?:prompt|instructions?|message)\b)",
        R"(\b(?:message|instruction|notice|directive|update) from (?:the |your )?(?:system|developers?|administrator|admin|creators?|openai|anthropic)\b)"}},
      {"prompt_extraction", 500000,
       {U(R"(\b(?:reveal|show|print|repeat|output|display|leak|dump|tell me|give me|share|expose|write out|spell out) (?:me )?(?:all )?(?:of )?your (?:(?:full|complete|entire|exact|original|initial|hidden|secret|internal) )*(?:system|initial|original|hidden|secret|internal|developer) (?:prompt|instructions?|message|rules|configuration))"),
        U(R"(\b(?:reveal|show|print|repeat|output|display|leak|dump|tell me|give me|share|expose|write out|spell out) (?:me )?(?:all )?(?:of )?the (?:(?:full|complete|entire|exact) )*(?:system|hidden|secret|internal|developer) (?:prompt|instructions|message))"),
        U(R"(\bwhat (?:is|are|was|were) (?:your (?:system|initial|original|hidden|secret)|the (?:system|hidden|secret)) (?:prompt|instructions?))"),
        U(R"(\brepeat (?:everything|all|the (?:text|words|content)) (?:above|before|prior))"),
        U(R"(\bwhat were you told (?:before|at the (?:start|beginning)))"),
        // `(?:_|...)`: in "what_your_system_prompt" one `_` is both
        // boundaries, which Expand's `(?:\b|_)` cannot share.
        U(R"(\b(?:what|tell me|print|show|reveal|repeat|output)(?:_|\b[^.?!\n]{0,30}\b)your (?:initial|original|hidden|secret|system) (?:prompt|instructions)\b)"),
        U(R"(\b(?:print|reveal|show|repeat|output|display|dump|leak) (?:me )?(?:all )?your (?:instructions|prompt)\b)")}},
      {"role_manipulation", 300000,
       {U(R"(\byou are now (?:a|an|my|the|called|named|no longer)\b)"),
        U(R"(\byou are no longer (?:an? )?(?:ai|assistant|bound|restricted|chatgpt|claude|limited)\b)"),
        U(R"(\b(?:pretend|imagine) (?:that )?(?:you are|you're|to be) (?:an? )?(?:unrestricted|unfiltered|uncensored|evil|malicious|jailbroken|rogue)\b)"),
        U(R"(\bact as (?:an? )?(?:unrestricted|unfiltered|uncensored|evil|jailbroken|rogue)\b)"),
        U(R"(\bfrom now on (?:you|your) (?:are|will be|must act|new role|name is)\b)"),
        U(R"(\bi am (?:your|the) (?:developer|creator|administrator|admin|owner|programmer)\b)")}},
      {"dan", 800000,
       {U(R"(\bdo anything now\b)"),
        R"(\b(?:dan|stan|dude) (?:mode|prompt|jailbreak)\b)",
        R"(\bjailbr(?:oken|eak mode|eak prompt)\b)",
        R"(\b(?:dan|stan)\b[^.\n]{0,40}\bstands for\b)"}},
      {"safety_bypass", 600000,
       {R"(\b(?:bypass|disable|ignore|turn off|remove|circumvent|evade|deactivate|get around) (?:(?:all|any|your|the|its) )*(?:safety|content|ethical|ethics|moral|openai|anthropic) (?:filters?|guidelines|restrictions|guardrails|protocols|policies|policy|measures|constraints|rules|settings|checks)\b)",
        R"(\bwithout (?:any )?(?:restrictions|limitations|filters|censorship|ethical guidelines|ethical constraints)\b)",
        R"(\b(?:unfiltered|uncensored|unrestricted|unaligned) (?:mode|ai|assistant|model|chatbot|response)\b)",
        R"(\bno (?:ethical|moral|safety) (?:guidelines|constraints|restrictions|limits)\b)",
        R"(\b(?:you are|you're|now|be) (?:now )?freed? from (?:all |any |your |the )?(?:restrictions|guidelines|rules|constraints|limitations)\b)",
        R"(\bfreed from the (?:typical )?confines\b)"}},
      {"tag_spoofing", 500000,
       {R"(</?(?:system|sys)>\s*(?:</?(?:user|assistant|human)>|you\b|ignore|new\b|from now|always|never|do not))",
        R"(</?(?:system_prompt|sys_prompt|instructions?)>)",
        R"(\[/?(?:inst|sys|system)\])",
        R"(<</?sys>>)",
        R"((?m:^)[#*>\t\x20]*(?:system|assistant|developer)[\t\x20]*:\s*(?:you\b|ignore|disregard|forget|from now|new\b|always|never|do not|don't|override|the user|sure|certainly|of course|okay|i will|i'll))",
        R"((?m:^)#{2,}[\t\x20]*(?:system|instruction|response)[\t\x20]*:?[\t\x20]*(?m:$))"}},
      {"control_tokens", 900000,
       {R"(<\|im_(?:start|end|sep)\|>)",
        R"(<\|(?:begin_of_text|end_of_text|start_header_id|end_header_id|eot_id|eom_id|python_tag|endoftext|fim_prefix|fim_middle|fim_suffix)\|>)",
        R"(<｜[^｜>\n]{1,40}｜>)",
        R"(<\|(?:begin|end)[_▁]of[_▁]sentence\|>)"}},
  };
  return groups;
}

// Expands a phrase: NOUNS -> kNouns, ' ' -> "\W*". In a phrase where `_`
// separates words (Phrase::underscore) ' ' -> "(?:\W|_)*" and every `\b` ->
// "(?:\b|_)": RE2's `\b` is an ASCII word boundary and `_` a word
// character, so "x_ignore" and "ignore_" hold no boundary at the `_`; the
// alternative takes the `_` itself as the phrase's edge, before a phrase
// ("please_ignore ...") and after it ("... and_say_hi"). On a text without
// `_` both expansions match the same.
std::string Expand(const Phrase& phrase) {
  const std::string_view p = phrase.re;
  std::string out;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p.substr(i, 5) == "NOUNS") {
      out += kNouns;
      i += 4;
    } else if (p[i] == ' ') {
      // (?:\W|_), not [\W_]: the same to RE2 (it merges the two into one
      // class), and Hyperscan takes no \W inside a caseless class.
      out += phrase.underscore ? "(?:\\W|_)*" : "\\W*";
    } else if (phrase.underscore && p.substr(i, 2) == "\\b") {
      out += "(?:\\b|_)";
      ++i;
    } else {
      out += p[i];
    }
  }
  return out;
}

constexpr int64_t kSetMaxMem = 32 << 20;  // DFA budget of the fused set

struct Matcher {
  std::unique_ptr<RE2::Set> set;
  std::vector<int> group_of;  // pattern index -> group index
  // The same patterns one by one: used only when the set's DFA runs out of
  // memory on a pathological text (RE2 then falls back to its NFA).
  std::vector<std::unique_ptr<RE2>> single;
};

const Matcher& GetMatcher() {
  static const Matcher* matcher = [] {
    RE2::Options opt;
    opt.set_case_sensitive(false);
    opt.set_log_errors(false);
    opt.set_max_mem(kSetMaxMem);
    auto* m = new Matcher{std::make_unique<RE2::Set>(opt, RE2::UNANCHORED), {}, {}};
    const auto& groups = Groups();
    for (size_t g = 0; g < groups.size(); ++g) {
      for (const Phrase& phrase : groups[g].patterns) {
        const Phrase& p = phrase;
        std::string error;
        if (m->set->Add(Expand(p), &error) < 0) {
          // A defect in the table above; tests/stdlib compiles every pattern.
          std::fprintf(stderr, "tollgate: bad injection pattern %s: %s\n", Expand(p).c_str(),
                       error.c_str());
          std::abort();
        }
        m->group_of.push_back(static_cast<int>(g));
        m->single.push_back(std::make_unique<RE2>(Expand(p), opt));
      }
    }
    if (!m->set->Compile()) std::abort();
    return m;
  }();
  return *matcher;
}

bool IsAlnum(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool IsLetter(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
bool IsSpacer(char c) { return c == ' ' || c == '.' || c == '-' || c == '_' || c == '*'; }

// "i g n o r e  a l l" -> "ignore  all": runs of at least three single
// characters, each separated by one spacer, are joined. Returns false (and
// leaves *out alone) when there is nothing to collapse.
bool CollapseSpacing(std::string_view t, std::string* out) {
  const size_t n = t.size();
  auto single = [&](size_t i) {
    return IsAlnum(t[i]) && (i == 0 || !IsAlnum(t[i - 1])) && (i + 1 == n || !IsAlnum(t[i + 1]));
  };
  bool changed = false;
  size_t copied = 0;  // t[0, copied) is already in *out
  for (size_t i = 0; i + 2 < n; ++i) {
    // Cheap filter first: "x<spacer>y" with x a single character.
    if (!IsSpacer(t[i + 1]) || !IsAlnum(t[i]) || !single(i)) continue;
    size_t j = i;
    size_t count = 1;
    while (j + 2 < n && IsSpacer(t[j + 1]) && single(j + 2)) {
      j += 2;
      ++count;
    }
    if (count < 3) continue;
    if (!changed) {
      out->clear();
      out->reserve(n);
      changed = true;
    }
    out->append(t.substr(copied, i - copied));
    for (size_t k = i; k <= j; k += 2) out->push_back(t[k]);
    copied = j + 1;
    i = j;
  }
  if (changed) out->append(t.substr(copied));
  return changed;
}

// The words RestoreScrambled restores.
constexpr std::string_view kTargets[] = {"ignore", "previous", "instructions", "bypass",
                                         "override", "reveal", "system", "prompt"};

// The index of the target word RestoreScrambled would rewrite the letter
// run `w` to, or -1 (the same target walk, without copying).
int RestoreTarget(std::string_view w) {
  const size_t len = w.size();
  for (size_t t = 0; t < std::size(kTargets); ++t) {
    const std::string_view target = kTargets[t];
    if (target.size() != len || Lower(w.front()) != target.front() ||
        Lower(w.back()) != target.back()) {
      continue;
    }
    int counts[26] = {};
    bool same = true;
    for (size_t k = 1; k + 1 < len; ++k) {
      ++counts[Lower(w[k]) - 'a'];
      --counts[target[k] - 'a'];
      same = same && Lower(w[k]) == target[k];
    }
    if (same) return -1;
    if (std::all_of(std::begin(counts), std::end(counts), [](int c) { return c == 0; })) {
      return static_cast<int>(t);
    }
  }
  return -1;
}

// True when RestoreScrambled would rewrite the letter run `w`.
bool WouldRestore(std::string_view w) { return RestoreTarget(w) >= 0; }

// Scrambled-letter variants ("ignroe", "instrcutions") of the target words:
// same length, first and last letter, and the same middle letters. Rewrites
// *text in place (same length); returns true when something was restored.
bool RestoreScrambled(std::string* text) {
  bool changed = false;
  std::string& t = *text;
  size_t i = 0;
  while (i < t.size()) {
    if (!IsLetter(t[i])) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < t.size() && IsLetter(t[j])) ++j;
    const size_t len = j - i;
    for (std::string_view target : kTargets) {
      if (target.size() != len || Lower(t[i]) != target.front() ||
          Lower(t[j - 1]) != target.back()) {
        continue;
      }
      // Compare the middle letters as multisets.
      int counts[26] = {};
      bool same = true;
      for (size_t k = 1; k + 1 < len; ++k) {
        ++counts[Lower(t[i + k]) - 'a'];
        --counts[target[k] - 'a'];
        same = same && Lower(t[i + k]) == target[k];
      }
      if (same) break;  // the word itself (any case): nothing to restore
      if (std::all_of(std::begin(counts), std::end(counts), [](int c) { return c == 0; })) {
        t.replace(i, len, target);
        changed = true;
        break;
      }
    }
    i = j;
  }
  return changed;
}

int B64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = Lower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Mostly printable text (decoded payloads that are binary are ignored).
bool Printable(std::string_view s) {
  if (s.size() < 8) return false;
  size_t ok = 0;
  for (unsigned char c : s) ok += (c >= 0x20 && c < 0x7f) || c == '\n' || c == '\t' || c >= 0x80;
  return ok * 10 >= s.size() * 9;
}

constexpr size_t kMinBase64Run = 20;
constexpr size_t kMinHexRun = 24;

// Appends the decoding of one maximal base64-alphabet run to *decoded (hex
// when it reads as hex, base64 when long enough; printable results only,
// each followed by a newline).
void DecodeRun(std::string_view run, std::string* decoded) {
  if (run.size() >= kMinHexRun && run.size() % 2 == 0 &&
      std::all_of(run.begin(), run.end(), [](char c) { return HexValue(c) >= 0; })) {
    std::string out;
    for (size_t k = 0; k + 1 < run.size(); k += 2) {
      out += static_cast<char>(HexValue(run[k]) * 16 + HexValue(run[k + 1]));
    }
    if (Printable(out)) decoded->append(out).push_back('\n');
    return;
  }
  if (run.size() < kMinBase64Run) return;
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : run) {
    acc = (acc << 6) | static_cast<uint32_t>(B64Value(c));
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  if (Printable(out)) decoded->append(out).push_back('\n');
}

// Decodes every long base64 or hex run of `text`; returns the printable
// results joined by newlines.
std::string DecodeRuns(std::string_view text) {
  std::string decoded;
  size_t i = 0;
  while (i < text.size()) {
    if (B64Value(text[i]) < 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < text.size() && B64Value(text[j]) >= 0) ++j;
    std::string_view run = text.substr(i, j - i);
    i = j;
    while (i < text.size() && text[i] == '=') ++i;
    DecodeRun(run, &decoded);
  }
  return decoded;
}

// DecodeRuns over the runs starting at `starts` only: the starts of the
// maximal runs of at least kMinBase64Run bytes (shorter runs decode to
// nothing), increasing. The same result.
std::string DecodeRunsAt(std::string_view text, const std::vector<size_t>& starts) {
  std::string decoded;
  for (size_t i : starts) {
    size_t j = i;
    while (j < text.size() && B64Value(text[j]) >= 0) ++j;
    DecodeRun(text.substr(i, j - i), &decoded);
  }
  return decoded;
}

#if !defined(__SSE2__)
// The text to match: `text` itself when normalisation changes nothing (the
// common case, no copy), else the normalised copy in *storage. With
// `may_collapse` / `may_scramble` false the caller knows (from the exact
// triggers below) that CollapseSpacing / the scrambled-word probe would find
// nothing, and the pass is skipped.
std::string_view NormalizeWith(std::string_view text, std::string* storage, bool may_collapse,
                               bool may_scramble) {
  bool collapsed = may_collapse && CollapseSpacing(text, storage);
  if (!collapsed) {
    if (!may_scramble) return text;
    // Scrambled words are rare: only copy when one is present.
    bool any = false;
    for (size_t i = 0; i < text.size() && !any;) {
      if (!IsLetter(text[i])) {
        ++i;
        continue;
      }
      size_t j = i;
      while (j < text.size() && IsLetter(text[j])) ++j;
      size_t len = j - i;
      if (len == 6 || len == 8 || len == 12) any = WouldRestore(text.substr(i, len));
      i = j;
    }
    if (!any) return text;
    storage->assign(text);
  }
  RestoreScrambled(storage);
  return *storage;
}
#endif

// The reference path's normalisation (unchanged). The text to match: `text` itself when normalisation changes nothing (the
// common case, no copy), else the normalised copy in *storage.
std::string_view Normalize(std::string_view text, std::string* storage) {
  bool collapsed = CollapseSpacing(text, storage);
  if (!collapsed) {
    // Scrambled words are rare: only copy when one is present.
    std::string probe;
    bool any = false;
    for (size_t i = 0; i < text.size() && !any;) {
      if (!IsLetter(text[i])) {
        ++i;
        continue;
      }
      size_t j = i;
      while (j < text.size() && IsLetter(text[j])) ++j;
      size_t len = j - i;
      if (len == 6 || len == 8 || len == 12) {
        probe.assign(text.substr(i, len));
        any = RestoreScrambled(&probe);
      }
      i = j;
    }
    if (!any) return text;
    storage->assign(text);
  }
  RestoreScrambled(storage);
  return *storage;
}

// Cyrillic and Greek letters that look like Latin ones, as those Latin
// letters: "іgnоrе" written with Cyrillic і, о and е reads as "ignore".
// Two-byte UTF-8 only (U+0370-U+04FF), sorted by code point.
struct Homoglyph {
  uint16_t cp;
  char as;
};
constexpr Homoglyph kHomoglyphs[] = {
    {0x0391, 'A'}, {0x0392, 'B'}, {0x0395, 'E'}, {0x0396, 'Z'}, {0x0397, 'H'}, {0x0399, 'I'},
    {0x039A, 'K'}, {0x039C, 'M'}, {0x039D, 'N'}, {0x039F, 'O'}, {0x03A1, 'P'}, {0x03A4, 'T'},
    {0x03A5, 'Y'}, {0x03A7, 'X'}, {0x03B1, 'a'}, {0x03B9, 'i'}, {0x03BD, 'v'}, {0x03BF, 'o'},
    {0x03C1, 'p'}, {0x03C5, 'u'}, {0x0405, 'S'}, {0x0406, 'I'}, {0x0408, 'J'}, {0x0410, 'A'},
    {0x0412, 'B'}, {0x0415, 'E'}, {0x041A, 'K'}, {0x041C, 'M'}, {0x041D, 'H'}, {0x041E, 'O'},
    {0x0420, 'P'}, {0x0421, 'C'}, {0x0422, 'T'}, {0x0423, 'Y'}, {0x0425, 'X'}, {0x0430, 'a'},
    {0x0435, 'e'}, {0x043E, 'o'}, {0x0440, 'p'}, {0x0441, 'c'}, {0x0443, 'y'}, {0x0445, 'x'},
    {0x0455, 's'}, {0x0456, 'i'}, {0x0458, 'j'}, {0x04BB, 'h'}, {0x04CF, 'l'}};

// The ASCII letter the two-byte character u[0] u[1] stands for, or 0.
char HomoglyphOf(const unsigned char* u) {
  return LatinLookAlike(((u[0] & 0x1Fu) << 6) | (u[1] & 0x3Fu));
}

// Latin letters with diacritics as their base letter: U+00C0-U+017F (Latin-1
// Supplement letters and Latin Extended-A, the precomposed forms of "ígnöre
// prévious"), '_' where there is none (Æ, ×, ß, Œ, ...). Indexed by code
// point - 0xC0.
constexpr std::string_view kAccented =
    "AAAAAA_CEEEEIIIIDNOOOOO_OUUUUY__aaaaaa_ceeeeiiiidnooooo_ouuuuy_y"  // U+00C0-U+00FF
    "AaAaAaCcCcCcCcDdDdEeEeEeEeEeGgGgGgGgHhHhIiIiIiIiIi__JjKk_LlLlLlL"  // U+0100-U+013F
    "lLlNnNnNn___OoOoOo__RrRrRrSsSsSsSsTtTtTtUuUuUuUuUuUuWwYyYZzZzZzs";  // U+0140-U+017F
static_assert(kAccented.size() == 0x180 - 0xC0);

// A character Unhide rewrites, at a lead byte: its length (0: none) and what
// it becomes (0: nothing).
struct Hidden {
  size_t len = 0;
  char as = 0;
};
bool Cont(unsigned char c) { return (c & 0xC0) == 0x80; }
bool InRange(unsigned char c, unsigned char lo, unsigned char hi) { return c >= lo && c <= hi; }
// The code points Unhide removes (`Hidden{len, 0}`), as UTF-8: every
// Default_Ignorable_Code_Point (Unicode 14's list: U+00AD, U+034F, U+061C,
// U+115F-U+1160, U+17B4-U+17B5, U+180B-U+180F, U+200B-U+200F, U+202A-U+202E,
// U+2060-U+206F, U+3164, U+FE00-U+FE0F, U+FEFF, U+FFA0, U+FFF0-U+FFF8,
// U+1BCA0-U+1BCA3, U+1D173-U+1D17A, U+E0000-U+E0FFF: tag characters and
// variation selectors among them) and the combining diacritical marks
// (U+0300-U+036F, U+1AB0-U+1AFF, U+1DC0-U+1DFF, U+20D0-U+20FF,
// U+FE20-U+FE2F).
Hidden HiddenAt(const unsigned char* u, size_t left) {
  switch (u[0]) {
    case 0xC2:  // U+00AD
      if (left >= 2 && u[1] == 0xAD) return {2, 0};
      return {};
    case 0xC3: case 0xC4: case 0xC5:  // U+00C0-U+017F: kAccented
      if (left >= 2 && Cont(u[1])) {
        const size_t cp = ((u[0] & 0x1Fu) << 6) | (u[1] & 0x3Fu);
        if (cp >= 0xC0 && kAccented[cp - 0xC0] != '_') return {2, kAccented[cp - 0xC0]};
      }
      return {};
    case 0xCC:  // U+0300-U+033F
      if (left >= 2 && Cont(u[1])) return {2, 0};
      return {};
    case 0xCD:  // U+0340-U+036F (U+034F among them)
      if (left >= 2 && InRange(u[1], 0x80, 0xAF)) return {2, 0};
      return {};
    case 0xCE: case 0xCF: case 0xD0: case 0xD1: case 0xD2: case 0xD3:
      if (left >= 2 && Cont(u[1])) {
        if (char c = HomoglyphOf(u)) return {2, c};
      }
      return {};
    case 0xD8:  // U+061C
      if (left >= 2 && u[1] == 0x9C) return {2, 0};
      return {};
    case 0xE1:
      if (left < 3 || !Cont(u[2])) return {};
      if ((u[1] == 0x85 && (u[2] == 0x9F || u[2] == 0xA0)) ||  // U+115F-U+1160
          (u[1] == 0x9E && (u[2] == 0xB4 || u[2] == 0xB5)) ||  // U+17B4-U+17B5
          (u[1] == 0xA0 && InRange(u[2], 0x8B, 0x8F)) ||       // U+180B-U+180F
          (u[1] == 0xAA && u[2] >= 0xB0) || u[1] == 0xAB ||     // U+1AB0-U+1AFF
          u[1] == 0xB7) {                                       // U+1DC0-U+1DFF
        return {3, 0};
      }
      return {};
    case 0xE2:
      if (left < 3) return {};
      if ((u[1] == 0x80 && (InRange(u[2], 0x8B, 0x8F) ||     // U+200B-U+200F
                            InRange(u[2], 0xAA, 0xAE))) ||   // U+202A-U+202E
          (u[1] == 0x81 && InRange(u[2], 0xA0, 0xAF)) ||     // U+2060-U+206F
          (u[1] == 0x83 && InRange(u[2], 0x90, 0xBF))) {     // U+20D0-U+20FF
        return {3, 0};
      }
      return {};
    case 0xE3:  // U+3164
      if (left >= 3 && u[1] == 0x85 && u[2] == 0xA4) return {3, 0};
      return {};
    case 0xEF:
      if (left < 3) return {};
      if ((u[1] == 0xB8 && (InRange(u[2], 0x80, 0x8F) ||     // U+FE00-U+FE0F
                            InRange(u[2], 0xA0, 0xAF))) ||   // U+FE20-U+FE2F
          (u[1] == 0xBB && u[2] == 0xBF) ||                  // U+FEFF
          (u[1] == 0xBE && u[2] == 0xA0) ||                  // U+FFA0
          (u[1] == 0xBF && InRange(u[2], 0xB0, 0xB8))) {     // U+FFF0-U+FFF8
        return {3, 0};
      }
      // U+FF01..U+FF3F = EF BC 81..BF, U+FF40..U+FF5E = EF BD 80..9E
      if ((u[1] == 0xBC && u[2] >= 0x81 && u[2] <= 0xBF) || (u[1] == 0xBD && u[2] >= 0x80 && u[2] <= 0x9E)) {
        const unsigned cp = ((u[1] & 0x03u) << 6) + (u[2] & 0x3Fu);  // - 0xFF00
        return {3, static_cast<char>(cp + 0x20u)};
      }
      return {};
    case 0xF0:
      if (left < 4 || !Cont(u[3])) return {};
      if ((u[1] == 0x9B && u[2] == 0xB2 && InRange(u[3], 0xA0, 0xA3)) ||  // U+1BCA0-U+1BCA3
          (u[1] == 0x9D && u[2] == 0x85 && InRange(u[3], 0xB3, 0xBA))) {  // U+1D173-U+1D17A
        return {4, 0};
      }
      return {};
    case 0xF3:  // U+E0000-U+E0FFF
      if (left >= 4 && u[1] == 0xA0 && Cont(u[2]) && Cont(u[3])) return {4, 0};
      return {};
    default:
      return {};
  }
}

// The offset of the first byte from `i` on that can start a character
// HiddenAt rewrites, or n: ASCII, continuation bytes and the lead bytes of
// other scripts (CJK text, say) are skipped 16 at a time. Lead bytes that
// mostly start ordinary letters (D8 Arabic, E1 Vietnamese, E3 kana, F0
// emoji, F3) count with their second byte only, so text in those scripts
// stays on the fast path; every other candidate HiddenAt checks.
bool MayHide(const unsigned char* u, size_t i, size_t n) {
  const unsigned char c = u[i];
  if (c < 0xC2) return false;
  const unsigned char w = i + 1 < n ? u[i + 1] : 0;
  switch (c) {
    case 0xC2: case 0xC3: case 0xC4: case 0xC5: case 0xCC: case 0xCD: case 0xCE: case 0xCF:
    case 0xD0: case 0xD1: case 0xD2: case 0xD3: case 0xE2: case 0xEF:
      return true;
    case 0xD8: return w == 0x9C;
    case 0xE1:
      return w == 0x85 || w == 0x9E || w == 0xA0 || w == 0xAA || w == 0xAB || w == 0xB7;
    case 0xE3: return w == 0x85;
    case 0xF0: return w == 0x9B || w == 0x9D;
    case 0xF3: return w == 0xA0;
    default: return false;
  }
}
size_t NextCandidate(const unsigned char* u, size_t i, size_t n) {
#if defined(__SSE2__)
  // The next few bytes one by one first: in Cyrillic or Greek text, where
  // nearly every letter is a candidate, the next one is a byte or two away.
  for (const size_t end = std::min(n, i + 3); i < end; ++i) {
    if (MayHide(u, i, n)) return i;
  }
  // Whole ASCII blocks (no byte of a candidate, >= 0xC2) 64 bytes a step.
  i = internal::SkipAsciiBlocks(u, i, n);
  auto splat = [](int c) { return _mm_set1_epi8(static_cast<char>(c)); };
  auto eq = [&](__m128i v, int c) { return _mm_cmpeq_epi8(v, splat(c)); };
  auto either = [](__m128i a, __m128i b) { return _mm_or_si128(a, b); };
  auto both = [](__m128i a, __m128i b) { return _mm_and_si128(a, b); };
  for (; i + 17 <= n; i += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(u + i));
    if (_mm_movemask_epi8(v) == 0) continue;  // ASCII
    const __m128i d = _mm_sub_epi8(v, splat(0xCC));  // CC-D3 -> 0-7 (unsigned)
    const __m128i l = _mm_sub_epi8(v, splat(0xC2));  // C2-C5 -> 0-3
    __m128i hit = either(either(_mm_cmpeq_epi8(_mm_min_epu8(l, splat(3)), l), eq(v, 0xE2)),
                         either(eq(v, 0xEF), _mm_cmpeq_epi8(_mm_min_epu8(d, splat(7)), d)));
    // The leads that count with their second byte only (w: the byte after
    // each byte of v), looked at when the block has one.
    const __m128i d8 = eq(v, 0xD8), e1 = eq(v, 0xE1), e3 = eq(v, 0xE3), f0 = eq(v, 0xF0),
                  f3 = eq(v, 0xF3);
    if (_mm_movemask_epi8(either(either(d8, e1), either(e3, either(f0, f3)))) != 0) {
      const __m128i w = _mm_loadu_si128(reinterpret_cast<const __m128i*>(u + i + 1));
      const __m128i w85 = eq(w, 0x85), wa0 = eq(w, 0xA0);
      hit = either(hit, either(both(d8, eq(w, 0x9C)), both(e3, w85)));
      hit = either(hit, either(both(f3, wa0), both(f0, either(eq(w, 0x9B), eq(w, 0x9D)))));
      const __m128i e1w = either(either(either(w85, eq(w, 0x9E)), either(wa0, eq(w, 0xB7))),
                                 either(eq(w, 0xAA), eq(w, 0xAB)));
      hit = either(hit, both(e1, e1w));
    }
    const int m = _mm_movemask_epi8(hit);
    if (m != 0) return i + static_cast<size_t>(__builtin_ctz(static_cast<unsigned>(m)));
  }
#endif
  for (; i < n; ++i) {
    if (MayHide(u, i, n)) return i;
  }
  return n;
}

bool WordByte(unsigned char c) { return IsAlnum(c) || c == '_'; }

// The old path: bit g set when group g matched the text or its decoded runs.
// Characters that hide a phrase from the patterns are rewritten first:
// code points a reader never sees or that only decorate a letter
// ("ig\u200bnore previous instructions", "i\u0301gnore", tag characters,
// variation selectors: HiddenAt) are removed; full-width ASCII
// (U+FF01-U+FF5E, "Ｉｇｎｏｒｅ"), accented Latin letters (kAccented, "ìgnörè")
// and Cyrillic or Greek letters that look like Latin ones (kHomoglyphs,
// "іgnоrе") become those ASCII letters. Returns
// `text` itself (no copy) when it holds none of them; bytes that cannot start
// one are skipped 16 at a time (NextCandidate).
//
// `removed_as` (0 or ' ') is what a removed character becomes. *joined (when
// given) is set when a removed character sat between two ASCII word
// characters of the result: "Hello\u200bignore" reads as "Helloignore", and
// the callers match the text with the removed characters as spaces too.
std::string_view Unhide(std::string_view text, std::string* storage, bool* joined = nullptr,
                        char removed_as = 0) {
  const auto* u = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = NextCandidate(u, 0, n);
  Hidden h;
  while (i < n && (h = HiddenAt(u + i, n - i)).len == 0) i = NextCandidate(u, i + 1, n);
  if (i >= n) return text;
  storage->assign(text.substr(0, i));
  storage->reserve(n);
  while (i < n) {
    if (h.as != 0) {
      storage->push_back(h.as);
    } else {
      if (joined != nullptr && !*joined && !storage->empty() &&
          WordByte(static_cast<unsigned char>(storage->back())) && i + h.len < n) {
        // The next character: an ASCII byte, or one HiddenAt folds to one.
        const unsigned char next = u[i + h.len];
        const char folded = next >= 0x80 ? HiddenAt(u + i + h.len, n - i - h.len).as : 0;
        *joined = WordByte(next) || (folded != 0 && WordByte(static_cast<unsigned char>(folded)));
      }
      if (removed_as != 0) storage->push_back(removed_as);
    }
    i += h.len;
    size_t j = i;
    for (;;) {  // copy up to the next rewritten character
      j = NextCandidate(u, j, n);
      if (j >= n || (h = HiddenAt(u + j, n - j)).len != 0) break;
      ++j;
    }
    storage->append(text.substr(i, j - i));
    i = j;
  }
  return *storage;
}

uint32_t MatchedGroupsReferenceOne(std::string_view input) {
  std::string unhidden;
  bool joined = false;
  const std::string_view text = Unhide(input, &unhidden, &joined);
  const Matcher& m = GetMatcher();
  uint32_t mask = 0;
  std::vector<int> hits;
  std::string storage;
  auto scan = [&](std::string_view s) {
    hits.clear();
    re2::StringPiece sp(s.data(), s.size());
    RE2::Set::ErrorInfo info;
    if (m.set->Match(sp, &hits, &info)) {
      for (int h : hits) mask |= 1u << m.group_of[h];
    } else if (info.kind != RE2::Set::kNoError) {
      // INVARIANT: a DFA failure never reads as "no injection" (fail closed
      // on the heuristic, not open): match the patterns one by one.
      for (size_t p = 0; p < m.single.size(); ++p) {
        if (!(mask & (1u << m.group_of[p])) && RE2::PartialMatch(sp, *m.single[p])) {
          mask |= 1u << m.group_of[p];
        }
      }
    }
  };
  auto scan_all = [&](std::string_view t) {
    scan(Normalize(t, &storage));
    std::string decoded = DecodeRuns(t);
    if (!decoded.empty()) scan(Normalize(decoded, &storage));
  };
  scan_all(text);
  if (joined) {  // the removed characters as spaces too
    std::string spaced;
    scan_all(Unhide(input, &spaced, nullptr, ' '));
  }
  return mask;
}

using internal::InjectionTriggers;

// Character classes of the reference trigger finder, one table lookup per byte.
enum : uint8_t { kLetterC = 1, kAlnumC = 2, kB64C = 4, kSpacerC = 8 };
struct ClassTable {
  uint8_t c[256] = {};
  ClassTable() {
    for (int b = 0; b < 256; ++b) {
      const char ch = static_cast<char>(b);
      c[b] = static_cast<uint8_t>((IsLetter(static_cast<unsigned char>(b)) ? kLetterC : 0) |
                                  (IsAlnum(static_cast<unsigned char>(b)) ? kAlnumC : 0) |
                                  (B64Value(ch) >= 0 ? kB64C : 0) | (IsSpacer(ch) ? kSpacerC : 0));
    }
  }
};

#if defined(__SSE2__)
// The word-parallel trigger finder. Bit i of a mask word k stands for byte
// 64 * k + i of the text; bytes past the end have no class (as the
// reference's end-of-text sentinel).
using internal::TriggerBlocks;
using internal::TriggerClassRows;
using internal::Classifier;

// The kTargets words as the candidate check (MayRestore) reads them. A
// target is known by its length and first letter (INVARIANT, checked here),
// so a run of 6, 8 or 12 letters can be the scrambled form of one target
// only: by_first[g][c & 31] is the target of length group g (0: 6 letters,
// 1: 8, 2: 12) beginning with letter c, or kNoTarget; word/mask: the target
// in lower case / 0xFF over its letters, zero padded to 16 bytes; sum: the
// sum of its letters; last: bit L - 1 (its last letter).
constexpr int kNoTarget = static_cast<int>(std::size(kTargets));
struct TargetTable {
  uint8_t by_first[3][32];
  alignas(16) uint8_t word[kNoTarget + 1][16] = {};
  alignas(16) uint8_t mask[kNoTarget + 1][16] = {};
  uint32_t sum[kNoTarget + 1] = {}, last[kNoTarget + 1] = {};
  TargetTable() {
    std::memset(by_first, kNoTarget, sizeof by_first);
    for (int t = 0; t < kNoTarget; ++t) {
      const std::string_view w = kTargets[t];
      // INVARIANT: FindTriggersSse2 looks for runs of these lengths.
      const int g = w.size() == 6 ? 0 : w.size() == 8 ? 1 : w.size() == 12 ? 2 : -1;
      if (g < 0 || by_first[g][w.front() & 31] != kNoTarget) std::abort();  // INVARIANT above
      by_first[g][w.front() & 31] = static_cast<uint8_t>(t);
      for (size_t k = 0; k < w.size(); ++k) {
        word[t][k] = static_cast<uint8_t>(w[k]);
        mask[t][k] = 0xFF;
        sum[t] += static_cast<uint8_t>(w[k]);
      }
      last[t] = 1u << (w.size() - 1);
    }
  }
};

inline bool LetterByte(unsigned char c) { return static_cast<unsigned char>((c | 0x20) - 'a') < 26; }

// False when RestoreTarget would not rewrite the letter run at p (known to
// hold exactly 6, 8 or 12 letters, with 16 bytes readable at p); *len: the
// run's length. No branch on the text: the one target of the run's length
// and first letter is compared whole (| 0x20 lower-cases a letter); when the
// run is that target spelled as is, or its last letter or its letter sum
// differs, no rewrite is possible. True (rare in prose): RestoreTarget
// decides. Inlined into the finder's loop, with RestoreTarget out of line
// (RestoreTargetCold): a call per run cost the score path about 10 % more.
inline bool MayRestore(const unsigned char* p, const TargetTable& tt, size_t* len) {
  const int ge8 = LetterByte(p[6]), ge12 = ge8 & static_cast<int>(LetterByte(p[8]));
  const int g = ge8 + ge12;
  const int target = tt.by_first[g][p[0] & 31];
  const __m128i v = _mm_and_si128(
      _mm_or_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), _mm_set1_epi8(0x20)),
      _mm_load_si128(reinterpret_cast<const __m128i*>(tt.mask[target])));
  const auto same = static_cast<uint32_t>(_mm_movemask_epi8(
      _mm_cmpeq_epi8(v, _mm_load_si128(reinterpret_cast<const __m128i*>(tt.word[target])))));
  const __m128i s = _mm_sad_epu8(v, _mm_setzero_si128());
  const auto sum = static_cast<uint32_t>(_mm_cvtsi128_si32(s) + _mm_extract_epi16(s, 4));
  *len = 6 + 2 * static_cast<size_t>(g) + 2 * static_cast<size_t>(ge12);
  return (static_cast<int>((same & tt.last[target]) != 0) & static_cast<int>(same != 0xFFFF) &
          static_cast<int>(sum == tt.sum[target])) != 0;
}

// RestoreTarget out of line (rarely called from the finder's loop).
__attribute__((noinline)) int RestoreTargetCold(std::string_view w) { return RestoreTarget(w); }

// RestoreTarget of the run at `at` near the end of the text (fewer than 16
// bytes readable).
int ScrambleCheckTail(std::string_view t, size_t at) {
  size_t len = 0;
  while (at + len < t.size() && IsLetter(t[at + len])) ++len;
  return RestoreTarget(t.substr(at, len));
}

// Bit i: the class of byte i + s (0 <= s < 64) of the two words cur, next.
inline uint64_t Ahead(uint64_t cur, uint64_t next, size_t s) {
  return s == 0 ? cur : (cur >> s) | (next << (64 - s));
}

// Bit i: the class of byte i - 1.
inline uint64_t Behind(uint64_t cur, uint64_t prev) { return (cur << 1) | (prev >> 63); }
#endif

#if defined(__SSE2__)
// Where preprocessing changes a text (internal/injection_triggers.h).
using TriggerSites = internal::InjectionTriggerSites;

// The word-parallel finder. The text is classified a chunk of 64 blocks of
// 64 bytes at a time (bit masks, internal/injection_classes.h), then per
// block from the masks alone and without a branch on the text: the decode
// and collapse probes (their hits are rare: one branch for both), and the
// starts of the letter runs of exactly 6, 8 or 12 letters (the target
// lengths) -- with AVX-512 VBMI only those whose first and last letters are
// a target's of that length (the pairs row) -- written to a buffer, four
// slots unconditionally (a block holds about two in prose without the
// pairs). The buffer is checked once per chunk
// (MayRestore): one long predictable loop rather than a short one per
// block.
// The eight-block kernel this CPU has (null: the per-block shifts below).
TriggerBlocks BestTriggerBlocks() {
  static const TriggerBlocks best = internal::TriggerBlocksAvx512();
  return best;
}

InjectionTriggers FindTriggersSse2(std::string_view t, TriggerSites* sites,
                                   Classifier classify = internal::BestTriggerClassifier(),
                                   TriggerBlocks kernel = BestTriggerBlocks()) {
  static const TargetTable targets;
  static_assert(kMinBase64Run < 64, "the run must fit in two mask words");
  InjectionTriggers out;
  const size_t n = t.size();
  const size_t words = (n + 63) / 64, full = n / 64;
  const auto* data = reinterpret_cast<const unsigned char*>(t.data());
  constexpr size_t kChunk = 64;
  static_assert(kChunk % 8 == 0, "the kernel takes eight blocks at a time");
  // Row j: the classes of block k0 - 1 + j (one array per class, so that
  // eight neighbouring blocks are one load for the kernel). Zeroed once:
  // the kernel may read the rows past a short last chunk (their results are
  // not used).
  uint64_t alnum[kChunk + 2] = {}, letter[kChunk + 2] = {}, b64[kChunk + 2] = {},
           spacer[kChunk + 2] = {}, pairs[kChunk + 2] = {};
  uint64_t backslash = 0;
  const TriggerClassRows m{alnum, letter, b64, spacer, pairs, &backslash};
  auto clear = [&](size_t j) { alnum[j] = letter[j] = b64[j] = spacer[j] = pairs[j] = 0; };
  auto move = [&](size_t to, size_t from) {
    alnum[to] = alnum[from];
    letter[to] = letter[from];
    b64[to] = b64[from];
    spacer[to] = spacer[from];
    pairs[to] = pairs[from];
  };
  // The classes of blocks [first, first + count) into rows [j, j + count):
  // bytes past the end have no class (as the reference's end-of-text
  // sentinel; NUL has none either).
  auto fill = [&](size_t first, size_t j, size_t count) {
    const size_t whole = first < full ? std::min(count, full - first) : 0;
    if (whole != 0) classify(data + 64 * first, whole, m, j, data + n);
    for (size_t q = whole; q < count; ++q) {
      const size_t at = 64 * (first + q);
      clear(j + q);
      if (at < n) {
        unsigned char tail[64] = {};
        std::memcpy(tail, data + at, n - at);
        classify(tail, 1, m, j + q, tail + (n - at));
      }
    }
  };
  const bool want_collapse = sites != nullptr && sites->want_collapse;
  const bool want_scramble = sites != nullptr && sites->want_scramble;
  const bool want_decode = sites != nullptr && sites->want_decode;
  // Run starts to check: a block holds at most 10 (a run of 6 letters and
  // the byte before it take 7 bytes) and writes 4 slots at least.
  size_t batch[10 * kChunk + 4];
  // The kernel's words for the chunk's blocks: [j - 1] for row j.
  uint64_t k_run[kChunk], k_hit[kChunk], k_runs[kChunk];
  clear(0);
  fill(0, 1, kChunk + 1);
  for (size_t k0 = 0; k0 < words; k0 += kChunk) {
    const size_t blocks = std::min(kChunk, words - k0);
    const bool decode = !out.decode || want_decode, collapse = !out.collapse || want_collapse;
    const bool scramble = !out.scramble || want_scramble;
    if (kernel != nullptr) kernel(m, 1, (blocks + 7) / 8 * 8, k_run, k_hit, k_runs);
    size_t queued = 0;
    for (size_t j = 1; j <= blocks; ++j) {
      const size_t k = k0 + j - 1;
      // Both probes: kMinBase64Run base64 bytes from a byte (runs of at
      // least 2, 4, 8, 16, 20 by doubling, as the letter runs below), and
      // single, spacer, single, spacer, single.
      static_assert(kMinBase64Run == 20, "the doubling below");
      const uint64_t x = b64[j], xn = b64[j + 1];
      uint64_t run = 0;
      if (decode) {
        if (kernel != nullptr) {
          run = k_run[j - 1];
        } else {
          const uint64_t g2 = x & Ahead(x, xn, 1), g2n = xn & (xn >> 1);
          const uint64_t g4 = g2 & Ahead(g2, g2n, 2), g4n = g2n & (g2n >> 2);
          const uint64_t g8 = g4 & Ahead(g4, g4n, 4), g8n = g4n & (g4n >> 4);
          run = g8 & Ahead(g8, g8n, 8) & Ahead(g4, g4n, 16);
        }
      }
      uint64_t hit = 0;
      if (collapse) {
        if (kernel != nullptr) {
          hit = k_hit[j - 1];
        } else {
          const uint64_t a = alnum[j], an = alnum[j + 1], sp = spacer[j], sn = spacer[j + 1];
          hit = a & ~Behind(a, alnum[j - 1]) & Ahead(sp, sn, 1) & Ahead(a, an, 2) &
                Ahead(sp, sn, 3) & Ahead(a, an, 4) & ~Ahead(a, an, 5);
        }
      }
      if ((run | hit) != 0) {
        out.decode = out.decode || run != 0;
        if (want_decode) {
          for (uint64_t h = run & ~Behind(x, b64[j - 1]); h != 0; h &= h - 1) {
            sites->decode.push_back(64 * k + static_cast<size_t>(std::countr_zero(h)));
          }
        }
        out.collapse = out.collapse || hit != 0;
        if (want_collapse) {
          for (uint64_t h = hit; h != 0; h &= h - 1) {
            sites->collapse.push_back(64 * k + static_cast<size_t>(std::countr_zero(h)));
          }
        }
      }
    if (scramble) {
        uint64_t runs;
        if (kernel != nullptr) {
          runs = k_runs[j - 1];
        } else {
          const uint64_t l = letter[j], ln = letter[j + 1];
          const uint64_t starts = l & ~Behind(l, letter[j - 1]);
          // Runs of exactly 6, 8 and 12 letters: runs of at least 2, 4, 6,
          // 8, 12 letters by doubling (a few shifts instead of one per
          // letter; the next word's masks only matter in their low bits,
          // which need no third word), then not one letter more.
          const uint64_t ge2 = l & Ahead(l, ln, 1), ge2n = ln & (ln >> 1);
          const uint64_t ge4 = ge2 & Ahead(ge2, ge2n, 2), ge4n = ge2n & (ge2n >> 2);
          const uint64_t ge6 = ge4 & Ahead(ge2, ge2n, 4);
          const uint64_t ge8 = ge4 & Ahead(ge4, ge4n, 4);
          const uint64_t ge12 = ge8 & Ahead(ge4, ge4n, 8);
          runs = starts & pairs[j] &
                 ((ge6 & ~Ahead(l, ln, 6)) | (ge8 & ~Ahead(l, ln, 8)) | (ge12 & ~Ahead(l, ln, 12)));
        }
        size_t* slot = batch + queued;
        queued += static_cast<size_t>(std::popcount(runs));
        // The top bit keeps the count of zeros defined (no branch for an
        // empty mask): a slot past the count.
        for (int s = 0; s < 4; ++s) {
          slot[s] = 64 * k + static_cast<size_t>(std::countr_zero(runs | (uint64_t{1} << 63)));
          runs &= runs - 1;
        }
        for (slot += 4; runs != 0; runs &= runs - 1) {
          *slot++ = 64 * k + static_cast<size_t>(std::countr_zero(runs));
        }
      }
    }
    for (size_t q = 0; q < queued && (!out.scramble || want_scramble); ++q) {
      const size_t at = batch[q];
      int target = -1;
      size_t len;
      if (at + 16 > n) {
        target = ScrambleCheckTail(t, at);
      } else if (MayRestore(data + at, targets, &len)) {
        target = RestoreTargetCold(t.substr(at, len));
      }
      if (target < 0) continue;
      out.scramble = true;
      if (want_scramble) sites->scramble.emplace_back(at, target);
    }
    if (out.collapse && out.scramble && out.decode && sites == nullptr) break;
    if (blocks < kChunk) break;
    move(0, kChunk);
    move(1, kChunk + 1);
    fill(k0 + kChunk + 1, 2, kChunk);
  }
  // With sites every block was classified (without, the loop may stop early).
  if (sites != nullptr) sites->backslash = backslash != 0;
  return out;
}


// One collapsed chain: text[from, to) became out[at, at + len) (the chain's
// characters without their spacers).
struct Collapsed {
  size_t from, to, at, len;
};

// CollapseSpacing over the chains starting at `starts` only (the collapse
// hits, increasing): the same output. A chain the byte walk would collapse
// starts at a hit, and the walk changes nothing between hits. Each chain
// collapsed is appended to *chains.
bool CollapseAt(std::string_view t, const std::vector<size_t>& starts, std::string* out,
                std::vector<Collapsed>* chains) {
  const size_t n = t.size();
  auto single = [&](size_t i) {
    return IsAlnum(t[i]) && (i == 0 || !IsAlnum(t[i - 1])) && (i + 1 == n || !IsAlnum(t[i + 1]));
  };
  bool changed = false;
  size_t copied = 0;  // t[0, copied) is already in *out
  for (size_t i : starts) {
    if (i < copied) continue;  // inside a chain already collapsed
    size_t j = i;
    size_t count = 1;
    while (j + 2 < n && IsSpacer(t[j + 1]) && single(j + 2)) {
      j += 2;
      ++count;
    }
    if (count < 3) continue;  // INVARIANT: never, a hit starts three singles
    if (!changed) {
      out->clear();
      out->reserve(n);
      changed = true;
    }
    out->append(t.substr(copied, i - copied));
    chains->push_back(Collapsed{i, j + 1, out->size(), count});
    for (size_t k = i; k <= j; k += 2) out->push_back(t[k]);
    copied = j + 1;
  }
  if (changed) out->append(t.substr(copied));
  return changed;
}

// NormalizeWith's text from the trigger sites of one pass over `text`
// (FindTriggersSse2 with want_collapse and want_scramble): the collapse at
// the chain starts only, then the scrambled runs of the result rewritten in
// place. The scrambled runs of the collapsed text are those of `text`
// (moved left by the bytes collapsed before them: a chain is bounded by
// non-alphanumerics on both sides and holds only single characters, so no
// letter run outside a chain changes, and none lies inside one) plus those
// inside a collapsed chain, found by scanning the chains' output only.
std::string_view NormalizeAtSites(std::string_view text, std::string* storage,
                                  const InjectionTriggers& trig, const TriggerSites& sites) {
  if (!trig.collapse && !trig.scramble) return text;
  std::string_view base = text;
  thread_local std::vector<Collapsed> chains;
  thread_local std::vector<std::pair<size_t, int>> scramble;
  chains.clear();
  scramble.clear();
  if (trig.collapse && CollapseAt(text, sites.collapse, storage, &chains)) {
    base = *storage;
    scramble.assign(sites.scramble.begin(), sites.scramble.end());  // in text order
    const size_t original = scramble.size();
    size_t c = 0, removed = 0;
    auto chain_runs = [&](const Collapsed& k) {
      TriggerSites inside;
      inside.want_scramble = true;
      FindTriggersSse2(base.substr(k.at, k.len), &inside);
      for (auto [at, target] : inside.scramble) scramble.emplace_back(k.at + at, target);
    };
    for (size_t r = 0; r < original; ++r) {
      const size_t at = scramble[r].first;
      for (; c < chains.size() && chains[c].to <= at; ++c) {
        chain_runs(chains[c]);
        removed += (chains[c].to - chains[c].from) - chains[c].len;
      }
      scramble[r].first = at - removed;
    }
    for (; c < chains.size(); ++c) chain_runs(chains[c]);
  } else {
    scramble = sites.scramble;
  }
  if (scramble.empty()) return base;
  if (base.data() == text.data()) {
    storage->assign(text);
    base = *storage;
  }
  for (auto [at, target] : scramble) {  // same length: base stays valid
    storage->replace(at, kTargets[target].size(), kTargets[target]);
  }
  return *storage;
}
#endif

}  // namespace

char LatinLookAlike(uint32_t cp) {
  const auto* end = std::end(kHomoglyphs);
  const auto* h = std::lower_bound(std::begin(kHomoglyphs), end, cp,
                                   [](const Homoglyph& g, uint32_t c) { return g.cp < c; });
  return h != end && h->cp == cp ? h->as : 0;
}

namespace internal {

const TriggerPairTables& InjectionTriggerPairTables() {
  static const TriggerPairTables tables = [] {
    TriggerPairTables t{};
    static_assert(std::size(kTargets) <= 8, "one bit per target in a byte");
    for (size_t k = 0; k < std::size(kTargets); ++k) {
      const std::string_view w = kTargets[k];
      const auto bit = static_cast<uint8_t>(1u << k);
      for (char c : {w.front(), static_cast<char>(w.front() - 'a' + 'A')}) t.first[c & 63] |= bit;
      for (char c : {w.back(), static_cast<char>(w.back() - 'a' + 'A')}) t.last[c & 63] |= bit;
      // INVARIANT: the targets are 6, 8 or 12 letters (TargetTable checks it).
      (w.size() == 6 ? t.len6 : w.size() == 8 ? t.len8 : t.len12) |= bit;
    }
    return t;
  }();
  return tables;
}

std::string InjectionUnhidden(std::string_view text) {
  std::string storage;
  return std::string(Unhide(text, &storage));
}

InjectionTriggers FindInjectionTriggersReference(std::string_view t) {
  static const ClassTable table;
  InjectionTriggers out;
  const size_t n = t.size();
  size_t letters = 0, b64 = 0, alnum = 0;  // lengths of the current runs
  size_t last_single = SIZE_MAX;           // position of the last single character
  int chain = 0;                           // singles joined by one spacer, ending there
  for (size_t i = 0; i <= n; ++i) {
    const uint8_t k = i < n ? table.c[static_cast<unsigned char>(t[i])] : 0;
    if (k & kLetterC) {
      ++letters;
    } else if (letters > 0) {
      if (!out.scramble && (letters == 6 || letters == 8 || letters == 12)) {
        out.scramble = WouldRestore(t.substr(i - letters, letters));
      }
      letters = 0;
    }
    if (k & kB64C) {
      if (++b64 >= kMinBase64Run) out.decode = true;
    } else {
      b64 = 0;
    }
    if (k & kAlnumC) {
      ++alnum;
      continue;
    }
    if (alnum == 1) {  // t[i - 1] is a single character
      const size_t s = i - 1;
      chain = last_single != SIZE_MAX && last_single + 2 == s &&
                      (table.c[static_cast<unsigned char>(t[s - 1])] & kSpacerC)
                  ? chain + 1
                  : 1;
      last_single = s;
      if (chain >= 3) out.collapse = true;
    }
    alnum = 0;
  }
  return out;
}

std::string InjectionNormalized(std::string_view text) {
  std::string storage;
#if defined(__SSE2__)
  TriggerSites sites;
  sites.want_collapse = true;
  sites.want_scramble = true;
  const InjectionTriggers trig = FindTriggersSse2(text, &sites);
  return std::string(NormalizeAtSites(text, &storage, trig, sites));
#else
  const InjectionTriggers trig = FindInjectionTriggers(text);
  return std::string(NormalizeWith(text, &storage, trig.collapse, trig.scramble));
#endif
}

std::string InjectionDecoded(std::string_view text) {
#if defined(__SSE2__)
  TriggerSites sites;
  sites.want_decode = true;
  FindTriggersSse2(text, &sites);
  return DecodeRunsAt(text, sites.decode);
#else
  return DecodeRuns(text);
#endif
}

std::string InjectionDecodedReference(std::string_view text) { return DecodeRuns(text); }

std::string InjectionNormalizedReference(std::string_view text) {
  std::string storage;
  return std::string(Normalize(text, &storage));
}

InjectionTriggers FindInjectionTriggersSse2(std::string_view t) {
#if defined(__SSE2__)
  return FindTriggersSse2(t, nullptr, internal::TriggerClassifier(0), nullptr);
#else
  return FindInjectionTriggersReference(t);
#endif
}

InjectionTriggers FindInjectionTriggers(std::string_view t) {
#if defined(__SSE2__)
  return FindTriggersSse2(t, nullptr);
#else
  return FindInjectionTriggersReference(t);
#endif
}

#if !defined(__SSE2__)
// The reference's sites, the lists asked for only.
InjectionTriggers SitesAsked(std::string_view t, InjectionTriggerSites* sites) {
  InjectionTriggerSites all;
  const InjectionTriggers out = FindInjectionTriggerSitesReference(t, &all);
  auto append = [](auto* to, const auto& from) { to->insert(to->end(), from.begin(), from.end()); };
  if (sites->want_collapse) append(&sites->collapse, all.collapse);
  if (sites->want_scramble) append(&sites->scramble, all.scramble);
  if (sites->want_decode) append(&sites->decode, all.decode);
  sites->backslash = all.backslash;
  return out;
}
#endif

InjectionTriggers FindInjectionTriggerSites(std::string_view t, InjectionTriggerSites* sites) {
#if defined(__SSE2__)
  return FindTriggersSse2(t, sites);
#else
  return SitesAsked(t, sites);
#endif
}

InjectionTriggers FindInjectionTriggerSitesSse2(std::string_view t, InjectionTriggerSites* sites) {
#if defined(__SSE2__)
  return FindTriggersSse2(t, sites, internal::TriggerClassifier(0), nullptr);
#else
  return SitesAsked(t, sites);
#endif
}

bool FindInjectionTriggerSitesIsa(std::string_view t, int isa, InjectionTriggerSites* sites,
                                  InjectionTriggers* out) {
#if defined(__SSE2__)
  if (isa == 3 || isa == 5) {  // the eight-block kernel: the widest classes, or AVX-512BW's
    const Classifier classify =
        isa == 3 ? internal::BestTriggerClassifier() : internal::TriggerClassifier(2);
    if (BestTriggerBlocks() == nullptr || classify == nullptr) return false;
    *out = FindTriggersSse2(t, sites, classify, BestTriggerBlocks());
    return true;
  }
  const Classifier classify = internal::TriggerClassifier(isa == 4 ? 3 : isa);
  if (classify == nullptr) return false;
  *out = FindTriggersSse2(t, sites, classify, nullptr);
  return true;
#else
  if (isa != 0) return false;
  *out = SitesAsked(t, sites);
  return true;
#endif
}

InjectionTriggers FindInjectionTriggerSitesReference(std::string_view t,
                                                     InjectionTriggerSites* sites) {
  static const ClassTable table;
  const size_t n = t.size();
  auto is = [&](size_t i, uint8_t c) {
    return i < n && (table.c[static_cast<unsigned char>(t[i])] & c) != 0;
  };
  auto single = [&](size_t i) {
    return is(i, kAlnumC) && (i == 0 || !is(i - 1, kAlnumC)) && !is(i + 1, kAlnumC);
  };
  // The end of the run of class c starting at i.
  auto end = [&](size_t i, uint8_t c) {
    while (is(i, c)) ++i;
    return i;
  };
  for (size_t i = 0; i < n; ++i) {
    if (single(i) && is(i + 1, kSpacerC) && single(i + 2) && is(i + 3, kSpacerC) &&
        single(i + 4)) {
      sites->collapse.push_back(i);
    }
    if (is(i, kB64C) && (i == 0 || !is(i - 1, kB64C)) && end(i, kB64C) - i >= kMinBase64Run) {
      sites->decode.push_back(i);
    }
    if (is(i, kLetterC) && (i == 0 || !is(i - 1, kLetterC))) {
      const size_t len = end(i, kLetterC) - i;
      if (len == 6 || len == 8 || len == 12) {
        const int target = RestoreTarget(t.substr(i, len));
        if (target >= 0) sites->scramble.emplace_back(i, target);
      }
    }
  }
  sites->backslash = t.find('\\') != std::string_view::npos;
  InjectionTriggers out;
  out.collapse = !sites->collapse.empty();
  out.scramble = !sites->scramble.empty();
  out.decode = !sites->decode.empty();
  return out;
}

}  // namespace internal

namespace {

struct FastMatcher {
  std::unique_ptr<scan::Scanner> phrases;  // case-insensitive, ids = pattern index
  // Null when this build has no Hyperscan: every byte runs through `phrases`.
  std::unique_ptr<internal::PhrasePrefilter> prefilter;
};

// The phrases as the prefilter reads them.
std::vector<internal::PrefilterPhrase> PrefilterPhrases() {
  std::vector<internal::PrefilterPhrase> out;
  const auto& groups = Groups();
  for (size_t g = 0; g < groups.size(); ++g) {
    for (const Phrase& p : groups[g].patterns) {
      std::string source;
      for (size_t i = 0; i < p.re.size(); ++i) {
        if (p.re.substr(i, 5) == "NOUNS") {
          source += kNouns;
          i += 4;
        } else {
          source += p.re[i];
        }
      }
      out.push_back(internal::PrefilterPhrase{std::move(source), Expand(p), static_cast<int>(g)});
    }
  }
  return out;
}

const FastMatcher& GetFastMatcher() {
  static const FastMatcher* fast = [] {
    auto* f = new FastMatcher;
    std::string error;
    scan::Options ci;
    ci.case_insensitive = true;
    // RE2's DFA, per thread: on English prose these `\W*`-joined, caseless
    // phrases run faster on it than on Hyperscan (about 1.4 against 2.4 ns
    // per byte here; tests/bench BM_InjectionScore).
    ci.engine = scan::Engine::kRE2;
    f->phrases = scan::Scanner::Build(InjectionPatterns(), ci, &error);
    if (!f->phrases) {
      // A defect in the table above; tests/stdlib builds it.
      std::fprintf(stderr, "tollgate: injection scanner: %s\n", error.c_str());
      std::abort();
    }
    // Null without Hyperscan (or should Hyperscan refuse the literals on
    // this CPU): the scan above then reads every byte, with the same
    // results. tests/stdlib checks that this build has it.
    if (scan::HaveHyperscan()) f->prefilter = internal::PhrasePrefilter::Build(PrefilterPhrases(), &error);
    return f;
  }();
  return *fast;
}

// The groups matched in an unhidden text or its decoded runs, or'd into
// *mask; false when the engine failed. *backslash (when not null): whether
// the text holds a backslash, from the trigger pass (set before any engine
// runs).
bool MatchUnhidden(std::string_view text, uint32_t* mask, bool* backslash = nullptr) {
  const FastMatcher& f = GetFastMatcher();
  const Matcher& m = GetMatcher();
  thread_local std::vector<int> ids;
  // The normalised copy: this thread's buffer, reused (a fresh 1 MB string
  // per call cost a page fault per 4 KB), dropped past 8 MiB.
  thread_local std::string storage;
  struct Trim {
    std::string& s;
    ~Trim() {
      if (s.capacity() > (size_t{8} << 20)) std::string().swap(s);
    }
  } trim{storage};
  auto scan = [&](std::string_view s) {
    if (f.prefilter != nullptr && f.prefilter->Match(s, mask)) return true;
    if (!f.phrases->Scan(s, &ids)) return false;
    for (int id : ids) *mask |= 1u << m.group_of[id];
    return true;
  };
#if defined(__SSE2__)
  // One pass: the triggers, and where the collapse chains start.
  thread_local TriggerSites sites;
  sites.want_collapse = true;
  sites.want_scramble = true;
  sites.want_decode = true;
  sites.collapse.clear();
  sites.scramble.clear();
  sites.decode.clear();
  const InjectionTriggers trig = FindTriggersSse2(text, &sites);
  if (backslash != nullptr) *backslash = sites.backslash;
#else
  const InjectionTriggers trig = internal::FindInjectionTriggers(text);
  if (backslash != nullptr) *backslash = scan::MayHoldEscapes(text);
#endif
#if defined(__SSE2__)
  const std::string_view normalized = NormalizeAtSites(text, &storage, trig, sites);
#else
  const std::string_view normalized = NormalizeWith(text, &storage, trig.collapse, trig.scramble);
#endif
  if (!scan(normalized)) return false;
  if (trig.decode) {
#if defined(__SSE2__)
    std::string decoded = DecodeRunsAt(text, sites.decode);
#else
    std::string decoded = DecodeRuns(text);
#endif
    if (!decoded.empty() && !scan(Normalize(decoded, &storage))) return false;
  }
  return true;
}

// Bit g set when group g matched the text or its decoded runs: the same as
// MatchedGroupsReferenceOne (tests/stdlib/injection_test.cc checks it).
// *backslash: true when the input may hold JSON string escapes -- whenever
// it holds a backslash (the unhidden text's, from the trigger pass: Unhide
// only removes or rewrites non-ASCII characters, so it keeps every
// backslash; one it made itself would cost a reading of nothing).
uint32_t MatchedGroupsOne(std::string_view input, bool* backslash) {
  // The unhidden copies: this thread's buffers, reused as the normalised
  // copy is (a fresh 1 MB string per call can pay a page fault per 4 KB:
  // over 1 MB of this repository's docs and code that copy alone once cost
  // about three times the rest of the score), dropped past 8 MiB.
  thread_local std::string unhidden;
  thread_local std::string spaced;
  struct Trim {
    ~Trim() {
      for (std::string* s : {&unhidden, &spaced}) {
        if (s->capacity() > (size_t{8} << 20)) std::string().swap(*s);
      }
    }
  } trim;
  bool joined = false;
  const std::string_view text = Unhide(input, &unhidden, &joined);
  uint32_t mask = 0;
  // INVARIANT: an engine failure never reads as "no injection": the old
  // path (whose RE2 fallback matches pattern by pattern) answers instead.
  auto fallback = [&] {
    *backslash = scan::MayHoldEscapes(input);
    return MatchedGroupsReferenceOne(input);
  };
  if (!MatchUnhidden(text, &mask, backslash)) return fallback();
  if (joined) {  // the removed characters as spaces too
    if (!MatchUnhidden(Unhide(input, &spaced, nullptr, ' '), &mask)) return fallback();
  }
  return mask;
}

}  // namespace

namespace {

// The groups matched in the text or in any of its readings (its JSON
// string escapes decoded, up to scan::kMaxReadings levels:
// engine/scan/escapes.h): a tool result or tool call's arguments that are
// JSON text spell `Ignore\nprevious\ninstructions` with escapes the model
// reads as line breaks. `one(text, &backslash)` matches one text and says
// whether it may hold escapes. A text without a backslash is matched once,
// as before.
template <typename One>
uint32_t ReadThrough(std::string_view input, One one) {
  bool backslash = false;
  uint32_t mask = one(input, &backslash);
  if (!backslash) return mask;
  const uint32_t all = (1u << Groups().size()) - 1;
  thread_local scan::Readings readings;  // its buffers are reused
  const size_t n = readings.Read(input);
  for (size_t i = 0; i < n && mask != all; ++i) mask |= one(readings.text(i), &backslash);
  return mask;
}

uint32_t MatchedGroups(std::string_view input) { return ReadThrough(input, MatchedGroupsOne); }

uint32_t MatchedGroupsReference(std::string_view input) {
  return ReadThrough(input, [](std::string_view t, bool* backslash) {
    *backslash = scan::MayHoldEscapes(t);  // the reference asks a memchr
    return MatchedGroupsReferenceOne(t);
  });
}

}  // namespace

int64_t InjectionScoreMicros(std::string_view text) {
  uint32_t mask = MatchedGroups(text);
  int64_t score = 0;
  const auto& groups = Groups();
  for (size_t g = 0; g < groups.size(); ++g) {
    if (mask & (1u << g)) score += groups[g].weight;
  }
  return std::min<int64_t>(score, 1000000);
}

std::vector<std::string_view> InjectionGroups(std::string_view text) {
  uint32_t mask = MatchedGroups(text);
  std::vector<std::string_view> names;
  const auto& groups = Groups();
  for (size_t g = 0; g < groups.size(); ++g) {
    if (mask & (1u << g)) names.push_back(groups[g].name);
  }
  return names;
}


std::vector<std::string> InjectionPatterns() {
  std::vector<std::string> out;
  for (const auto& g : Groups()) {
    for (const Phrase& p : g.patterns) out.push_back(Expand(p));
  }
  return out;
}

void PrepareInjectionScore() {
  GetFastMatcher();
  GetMatcher();  // its pattern -> group table is read by every score
}

namespace internal {
void WarmInjectionScoreThread() {
  PrepareInjectionScore();
  const FastMatcher& f = GetFastMatcher();
  f.phrases->WarmThread();
  if (f.prefilter != nullptr) f.prefilter->WarmThread();
}

std::vector<PrefilterPhrase> InjectionPrefilterPhrases() { return PrefilterPhrases(); }
const PhrasePrefilter* InjectionPrefilter() { return GetFastMatcher().prefilter.get(); }
}  // namespace internal


int64_t InjectionScoreMicrosReference(std::string_view text) {
  uint32_t mask = MatchedGroupsReference(text);
  int64_t score = 0;
  const auto& groups = Groups();
  for (size_t g = 0; g < groups.size(); ++g) {
    if (mask & (1u << g)) score += groups[g].weight;
  }
  return std::min<int64_t>(score, 1000000);
}

std::vector<std::string> InjectionGroupNames() {
  std::vector<std::string> names;
  for (const auto& g : Groups()) names.emplace_back(g.name);
  return names;
}

}  // namespace tollgate::stdlib
