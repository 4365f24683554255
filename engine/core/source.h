// Source text, spans and diagnostics: the data every stage uses to talk about
// a policy author's mistakes.
//
// A policy author's mistake is never an exception or a status: it is a
// Diagnostic in a list, with a stable code, a span and a help line. Stages
// append to a Diagnostics list and keep going, so one run reports every error
// of a file. Render() prints them the way `tollgate check` does:
//
//   policies/eu.tg:12:8: error[tg_unknown_field]: unknown field `request.modle`
//      12 |   when request.modle == "gpt-4o"
//         |        ^^^^^^^^^^^^^
//      = help: did you mean `request.model`?
//
// Thread safety: plain values; no shared state.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tollgate {

// One loaded source file. Shared (read-only) by every span that points into it.
struct SourceFile {
  std::string path;
  std::string text;
};

// A half-open byte range [begin, end) of a file, plus the 1-based line and
// column of `begin` (columns count bytes).
struct Span {
  const SourceFile* file = nullptr;
  uint32_t begin = 0;
  uint32_t end = 0;
  uint32_t line = 0;
  uint32_t col = 0;
};

enum class Severity : uint8_t { kError, kWarning, kNote };

// A second location that explains a diagnostic ("the first rule `x` is
// declared here"), rendered below it with its own source line.
struct Note {
  Span span;
  std::string message;
};

struct Diagnostic {
  Severity severity = Severity::kError;
  std::string code;     // stable, e.g. "tg_parse_error", "tg_type_error"
  Span span;
  std::string message;  // lowercase, one line, no final period; input in backticks
  std::string help;     // may be empty
  std::vector<Note> notes = {};  // rendered after the help line
};

// At most kMaxDiagnostics are kept (a hostile file can cause one mistake per
// few bytes); later ones are counted, not stored, and Render() ends with one
// `note: N more diagnostics not shown` line. HasErrors() counts them all.
class Diagnostics {
 public:
  static constexpr size_t kMaxDiagnostics = 100;

  void Error(std::string code, Span span, std::string message, std::string help = {});
  void Warning(std::string code, Span span, std::string message, std::string help = {});
  void Add(Diagnostic d);
  // An error with a note pointing at a second location.
  void ErrorWithNote(std::string code, Span span, std::string message, std::string help,
                     Span note_span, std::string note);

  bool HasErrors() const { return errors_ > 0; }
  // Errors reported so far, those past the cap included.
  size_t error_count() const { return errors_; }
  // Diagnostics past the cap (not in items()).
  size_t dropped() const { return dropped_; }
  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  const std::vector<Diagnostic>& items() const { return items_; }

  // Sorts by file, then position (stable for equal positions), and drops
  // exact repeats (same severity, code, span, message): an expression that
  // appears in several places, such as a `let` used twice, reports once.
  void Sort();
  // Renders every diagnostic as shown at the top of this header.
  std::string Render() const;

  // Keeps `file` alive as long as this list (and its copies): spans may point
  // into a file whose owner (say, a policy that failed to parse) is gone.
  void KeepAlive(std::shared_ptr<const SourceFile> file) { files_.push_back(std::move(file)); }

 private:
  std::vector<Diagnostic> items_;
  size_t errors_ = 0;
  size_t dropped_ = 0;
  std::vector<std::shared_ptr<const SourceFile>> files_;
};

// Renders one diagnostic (with caret line when the span has a file). The
// echoed line is cut to a window of at most 120 columns around the caret
// (`...` marks the cut), invalid UTF-8 and control bytes are shown as `\xNN`
// with the carets kept aligned, and a span that runs past its first line is
// underlined to the end of that line followed by ` ...`.
std::string RenderDiagnostic(const Diagnostic& d);

// "did you mean" helper: the candidate closest to `name` by optimal string
// alignment distance (insert, delete, substitute, swap two adjacent letters:
// one edit each; at most max(1, |name|/3) edits; a case-only difference wins).
// Unless that match is one edit away, a dotted `name` prefers the closest
// candidate with the same last segment (`request.user` -> `principal.user`).
// Empty when none is plausible.
// Cost: O(candidates * |name|^2).
std::string ClosestMatch(std::string_view name, const std::vector<std::string>& candidates);

}  // namespace tollgate
