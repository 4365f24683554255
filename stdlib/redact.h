// Redaction: replace every match of an ordered list of patterns.
//
// A Redactor is built once (per compiled program, say) from rules of the form
// {pattern, replacement}. `pattern` is a detector name ("dlp.credit_card") or,
// when no detector has that name, an RE2 regular expression. Detector matches
// count only when they pass the detector's validator (a Luhn-invalid card
// number is left alone).
//
//   std::string error;
//   auto r = Redactor::Build({{"dlp.email", "[EMAIL]"}, {"secret-\\d+", "[X]"}}, &error);
//   int n = 0;
//   std::string clean = r->Apply("mail bob@example.com secret-42", &n);
//   // clean == "mail [EMAIL] [X]", n == 2
//
// Semantics (deterministic): every rule is matched against the original text,
// never against another rule's replacement. Matches that overlap (share at
// least one byte) are merged into one span -- the union, so no part of any
// match survives -- and that span gets the replacement of ONE of them, chosen
// by, in order: the longest match, then the earliest start, then the earliest
// rule in list order. So a valid IBAN whose digit run also looks like a phone
// number becomes "[IBAN]", whatever the rule order. Overlap is transitive: a
// chain of overlapping matches is one span. Each merged span counts once in
// *replaced. Matches that only touch (one ends where the next begins) are not
// merged.
//
// JSON string escapes: a rule also matches each reading of the text (the
// text with its JSON string escapes decoded, engine/scan/escapes.h), and
// such a match is the span of the text it was decoded from, widened to
// whole escapes: `4111\u00a01111\u00a01111\u00a01111` is replaced whole.
//
// JSON texts: a text that is a JSON object or array (a tool call's
// arguments, a tool's JSON result, JSON a user pasted) stays valid JSON.
// A span's part inside a string is widened to whole escapes and its
// replacement written JSON-escaped; a number or literal (`true`, `false`,
// `null`) a span touches is replaced whole by the replacement as a JSON
// string (`{"card": 4111111111111111}` gives `{"card": "[CARD]"}`); the
// structure between tokens (`{`, `:`, `,`, whitespace, quotes) is kept. A
// span over several tokens leaves its replacement in the first and empties
// its part of the others, as a match across pieces does (ApplyJoined). A
// string whose content is itself a JSON object or array (JSON in JSON, as
// an MCP tool result wraps it; as deep as readings go) is redacted as that
// JSON text and written escaped again (other escapes in it may then be
// spelled differently), unless a match of its content as written would
// survive that: then it is redacted as written.
//
// Failure: Build returns null and sets *error (lowercase, one line) when a
// regex does not compile under RE2 or a replacement is too long.
// Cost: Apply is one RE2 scan per rule plus O(matches log matches), and
// the same per reading of a text holding a backslash.
// Thread safety: immutable after Build; Apply is const and may run on many
// threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace re2 {
class RE2;
}

namespace tollgate::stdlib {

// The longest redaction replacement; the checker refuses longer ones
// (tg_limit_exceeded), Redactor::Build too.
inline constexpr size_t kMaxRedactReplacementBytes = 4096;

struct RedactRule {
  std::string pattern;      // detector name or RE2 regex
  std::string replacement;  // literal text, no group references
};

class Redactor {
 public:
  static std::unique_ptr<Redactor> Build(const std::vector<RedactRule>& rules, std::string* error);
  ~Redactor();

  // `text` with every match replaced; *replaced (may be null) = spans replaced.
  std::string Apply(std::string_view text, int* replaced) const;

  // One replaced span of a text: [begin, end) and what replaces it (the
  // merged, winning match as Apply replaces it).
  struct Span {
    size_t begin, end;
    std::string_view replacement;
  };
  // The spans Apply replaces, in increasing order, disjoint.
  std::vector<Span> Find(std::string_view text) const;

  // What a piece of a joined text is (ApplyJoined). kText: a text, or a
  // JSON text when it is a JSON object or array (see Apply). kName: a
  // name an upstream checks against ^[a-zA-Z0-9_-]{1,64}$ (a message's
  // `name`, OpenAI's json_schema `name`): each replaced span, a crossing
  // match's part included, becomes the replacement's letters, digits, `_`
  // and `-` (runs of other characters one `_`), prefixed `REDACTED_`
  // unless they start with "redacted" in any case, at most 64 bytes, and
  // `REDACTED` when nothing is left: "[CARD]" gives `REDACTED_CARD`.
  enum class Piece : uint8_t { kText, kName };

  // A text made of pieces -- a request's message texts, content parts and
  // tool-call arguments, which request.content joins with "\n" -- redacted
  // piece by piece: each piece as Apply redacts it alone, and each match of
  // the joined text that crosses from one piece into another (a pattern
  // that can match "\n") is removed from every piece it touches: the first
  // keeps its replacement, the others lose the matched bytes. So nothing a
  // rule `matches` in request.content survives in any piece. `pieces` are
  // disjoint [begin, end) ranges of `joined`, increasing; the bytes between
  // them are separators. `kinds`: each piece's Piece (empty: all kText).
  // Returns the redacted pieces; *replaced (may be null) = spans replaced
  // (a crossing match counts once).
  std::vector<std::string> ApplyJoined(std::string_view joined,
                                       const std::vector<std::pair<size_t, size_t>>& pieces,
                                       int* replaced, const std::vector<Piece>& kinds = {}) const;
  size_t size() const { return rules_.size(); }

 private:
  struct Compiled {
    int detector = -1;                  // detector id, or -1 for a regex
    std::unique_ptr<re2::RE2> regex;    // set when detector == -1
    std::string replacement;
  };
  Redactor() = default;
  std::vector<Compiled> rules_;
};

}  // namespace tollgate::stdlib
