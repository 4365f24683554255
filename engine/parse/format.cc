// `tollgate fmt`: canonical layout from the token stream (format.h).
//
// The input is parsed first (nothing is formatted unless it parses), then
// re-laid out token by token by a small recursive walker that follows the
// grammar's block structure: declarations, blocks, clauses, and expression
// "flows" in which only spacing changes. Comments are emitted where they
// were relative to the code: trailing (same line as the code before them) or
// standalone (own line). Finally the output is parsed again and must give the
// same AST and the same comments, or nothing is returned.
#include "engine/parse/format.h"

#include <algorithm>
#include <functional>
#include <unordered_set>
#include <vector>

#include "engine/ast/ast.h"
#include "engine/core/limits.h"
#include "engine/parse/parse.h"

namespace tollgate::parse {
namespace {

constexpr int kIndent = 2;

bool IsKeyword(const std::string& s) {
  static const std::unordered_set<std::string> kWords = {
      "accepted", "advisory", "all", "allow", "and", "any", "as", "budget", "candidate", "const",
      "contains", "data", "deny", "enforce", "expect", "false", "fired", "fixture", "from", "given",
      "has", "in", "key", "let", "limit", "matches", "max", "max_price", "mode", "not", "not_fired", "null",
      "on_error", "or", "order", "per", "policy", "redact", "redacts", "rejected_by", "require",
      "retain", "route", "rule", "schema", "shadow", "skip", "sort", "tag", "test", "true", "usd",
      "warn", "warns", "when", "starts_with", "ends_with"};
  return kWords.count(s) > 0;
}

bool IsLineComment(const Token& t) { return t.text[0] == '#' || t.text.rfind("//", 0) == 0; }

std::string CommentText(const Token& t) {
  if (!IsLineComment(t)) return t.text;
  std::string s = t.text;
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.pop_back();
  return s;
}

// Lines under construction, with one pending line break at a time.
class Writer {
 public:
  // True when the current line has text and may take more (no line comment yet).
  bool line_open() const { return open_ && !sealed_; }
  bool pending() const { return pending_; }
  int pending_indent() const { return p_indent_; }
  int indent() const { return indent_; }

  void Break(int indent, bool blank = false) {
    pending_ = true;
    p_indent_ = indent;
    p_blank_ = p_blank_ || blank;
  }
  void Put(const std::string& s, bool space) {
    if (pending_ || !open_ || sealed_) {
      StartLine();
    } else if (space) {
      line_ += ' ';
    }
    line_ += s;
  }
  // Appends to the current line even when a break is pending (trailing comments).
  void Append(const std::string& s) { line_ += " " + s; }
  // Nothing more may follow on this line (it ends in a line comment).
  void Seal() { sealed_ = true; }
  std::string Finish() {
    if (open_) out_ += std::string(indent_, ' ') + line_ + "\n";
    open_ = false;
    return out_;
  }

 private:
  void StartLine() {
    if (open_) out_ += std::string(indent_, ' ') + line_ + "\n";
    if (p_blank_ && !out_.empty()) out_ += "\n";
    line_.clear();
    indent_ = p_indent_;
    open_ = true;
    sealed_ = false;
    pending_ = false;
    p_blank_ = false;
  }

  std::string out_, line_;
  int indent_ = 0, p_indent_ = 0;
  bool open_ = false, pending_ = false, p_blank_ = false, sealed_ = false;
};

enum class Sp { kAuto, kSpace, kNone };

class Formatter {
 public:
  explicit Formatter(std::vector<Token> toks) : t_(std::move(toks)) {
    for (size_t i = 0; i < t_.size(); ++i) {
      if (t_[i].kind != Token::kComment) sig_.push_back(i);
    }
    // Matching brackets over significant tokens.
    match_.assign(sig_.size(), 0);
    std::vector<size_t> stack;
    for (size_t k = 0; k < sig_.size(); ++k) {
      const std::string& s = t_[sig_[k]].text;
      if (s == "(" || s == "[" || s == "{") stack.push_back(k);
      if ((s == ")" || s == "]" || s == "}") && !stack.empty()) {
        match_[stack.back()] = k;
        match_[k] = stack.back();
        stack.pop_back();
      }
    }
  }

  std::optional<std::string> Run() {
    Line(0, true, false);
    Take(Sp::kSpace);  // policy
    Take(Sp::kSpace);  // name
    if (Is("retain")) {  // retain content full|hash|none, on the header line
      Take(Sp::kSpace);
      Take(Sp::kSpace);
      Take(Sp::kSpace);
    }
    while (Is("schema") && ok_) {  // schema "ext.json", one per line
      Line(0, true, false);
      Take(Sp::kSpace);
      Take(Sp::kSpace);
    }
    while (k_ < sig_.size() && ok_) Decl();
    Line(0, true, true);
    FlushComments(t_.size());
    if (!ok_) return std::nullopt;
    return w_.Finish();
  }

 private:
  // ---- cursor ----
  bool AtEnd() const { return k_ >= sig_.size(); }
  const Token& Peek(size_t ahead = 0) const {
    static const Token kEnd{Token::kPunct, "", 0, 0, true, false};
    return k_ + ahead < sig_.size() ? t_[sig_[k_ + ahead]] : kEnd;
  }
  bool Is(const char* s, size_t ahead = 0) const { return Peek(ahead).text == s; }
  bool AfterDot() const { return k_ > 0 && t_[sig_[k_ - 1]].text == "."; }

  // ---- layout ----
  // Starts a new item line: blank lines kept (at most one) where the author
  // had them if `allow_blank`, forced before the first line if `force_blank`.
  void Line(int indent, bool allow_blank, bool force_blank) {
    w_.Break(indent);
    allow_blank_ = allow_blank;
    force_blank_ = force_blank;
    cont_ = indent + kIndent;
  }
  bool TakeBlank(const Token& t) {
    bool b = force_blank_ || (allow_blank_ && t.blank_line_before);
    force_blank_ = false;
    return b;
  }

  void Comment(size_t i) {
    const Token& c = t_[i];
    const Token* next = i + 1 < t_.size() ? &t_[i + 1] : nullptr;
    std::string text = CommentText(c);
    if (w_.line_open() && !c.newline_before) {
      w_.Append(text);
      if (IsLineComment(c)) w_.Seal();
      bool breaks = IsLineComment(c) || next == nullptr || next->newline_before;
      if (breaks && !w_.pending()) w_.Break(cont_);
      return;
    }
    int indent = w_.pending() ? w_.pending_indent() : cont_;
    w_.Break(indent, TakeBlank(c));
    w_.Put(text, false);
    if (IsLineComment(c)) w_.Seal();
    w_.Break(indent);
  }

  void FlushComments(size_t upto) {
    for (; ti_ < upto; ++ti_) {
      if (t_[ti_].kind == Token::kComment) Comment(ti_);
    }
  }

  // Emits the next significant token (after the comments before it).
  void Take(Sp sp) {
    if (AtEnd()) {
      ok_ = false;
      return;
    }
    size_t i = sig_[k_];
    FlushComments(i);
    const Token& t = t_[i];
    if (w_.pending()) {
      w_.Break(w_.pending_indent(), TakeBlank(t));
    }
    allow_blank_ = false;
    force_blank_ = false;
    bool space = sp == Sp::kSpace || (sp == Sp::kAuto && AutoSpace(t)) || space_next_;
    space_next_ = false;
    w_.Put(t.text, space);
    Remember(t);
    ti_ = i + 1;
    ++k_;
  }
  // Consumes a token without printing it (a comma the layout re-creates).
  void Skip() { ++k_; }
  void PutText(const char* s) {
    w_.Put(s, false);
    Token t{Token::kPunct, s, 0, 0, false, false};
    Remember(t);
  }

  void Remember(const Token& t) {
    bool after_dot = prev_text_ == ".";
    unary_ = t.text == "-" && !prev_operand_;
    // `max` and `contains` are keywords and built-in functions: in prefix
    // position (not after an operand) they are a call's name, `max(a, b)`.
    bool call_keyword = (t.text == "max" || t.text == "contains" || t.text == "starts_with" ||
                         t.text == "ends_with") &&
                        !prev_operand_;
    prev_name_ = t.kind == Token::kWord && (!IsKeyword(t.text) || after_dot || call_keyword);
    prev_operand_ = prev_name_ || t.kind == Token::kString || t.kind == Token::kNumber ||
                    t.text == "true" || t.text == "false" || t.text == "null" ||
                    t.text == "usd" || t.text == ")" || t.text == "]" || t.text == "}";
    prev_text_ = t.text;
  }

  bool AutoSpace(const Token& t) const {
    const std::string& c = t.text;
    if (c == ")" || c == "]" || c == "}" || c == "," || c == "." || c == ":" || c == "?") return false;
    const std::string& p = prev_text_;
    if (p == "(" || p == "[" || p == "{" || p == "." || unary_) return false;
    if (c == "(") return !prev_name_;
    if (c == "[") return !prev_operand_;
    return true;
  }

  // ---- structure ----
  void Decl() {
    std::string kw = Peek().text;
    // A blank line between declarations, except inside a run of one-line
    // `const`/`data` declarations that the author wrote without one.
    bool one_line = kw == "const" || kw == "let" || kw == "data";
    Line(0, true, !(one_line && prev_one_line_));
    prev_one_line_ = one_line;
    if (kw == "const" || kw == "let") {
      Take(Sp::kSpace);
      Take(Sp::kSpace);
      if (Is(":")) {
        Take(Sp::kNone);
        Type(Sp::kSpace);
      }
      Take(Sp::kSpace);  // =
      Flow([this] {
        static const std::unordered_set<std::string> kDecl = {
            "const", "let", "data", "rule", "budget", "limit", "fixture", "test"};
        return kDecl.count(Peek().text) > 0 && !AfterDot();
      });
    } else if (kw == "data") {
      Take(Sp::kSpace);  // data
      Take(Sp::kSpace);  // name
      Take(Sp::kSpace);  // from
      Take(Sp::kSpace);  // "file"
      Take(Sp::kNone);   // :
      Type(Sp::kSpace);
    } else if (kw == "fixture") {  // fixture name [from base] { bindings }
      while (!AtEnd() && !Is("{")) Take(Sp::kSpace);
      Bindings(0);
    } else if (kw == "rule") {
      // The body's `{` is the one whose `}` ends the declaration (a set
      // literal in `mode shadow when x in {...}` is followed by the body).
      size_t body = k_;
      for (size_t k = k_; k < sig_.size(); ++k) {
        if (t_[sig_[k]].text != "{") continue;
        size_t m = match_[k];
        static const std::unordered_set<std::string> kDecl = {
            "const", "let", "data", "rule", "budget", "limit", "fixture", "test"};
        if (m <= k || m + 1 >= sig_.size() || kDecl.count(t_[sig_[m + 1]].text) > 0) {
          body = k;
          break;
        }
        k = m;
      }
      while (!AtEnd() && k_ < body && ok_) {
        bool cond = Is("when");
        Take(Sp::kSpace);
        if (cond) Flow([this, body] { return k_ >= body; });
      }
      Block(kw, 0);
    } else if (kw == "budget" || kw == "limit" || kw == "test") {
      while (!AtEnd() && !Is("{")) Take(Sp::kSpace);
      Block(kw, 0);
    } else {
      ok_ = false;  // cannot happen on a file that parsed
    }
  }

  // Clause keywords of each block kind.
  static const std::unordered_set<std::string>& Clauses(const std::string& kind) {
    static const std::unordered_set<std::string> kRule = {"when", "deny", "require", "redact",
                                                          "route", "tag", "warn"};
    static const std::unordered_set<std::string> kBudget = {"key", "per", "limit"};
    static const std::unordered_set<std::string> kLimit = {"key", "per", "max"};
    static const std::unordered_set<std::string> kTest = {"given", "candidate", "expect"};
    return kind == "rule" ? kRule : kind == "budget" ? kBudget : kind == "limit" ? kLimit : kTest;
  }

  void Block(const std::string& kind, int outer) {
    int inner = outer + kIndent;
    Take(Sp::kSpace);  // {
    const auto& clauses = Clauses(kind);
    bool first = true;
    while (!AtEnd() && !Is("}") && ok_) {
      Line(inner, !first, false);
      first = false;
      std::string kw = Peek().text;
      Take(Sp::kSpace);
      if (kind == "test" && (kw == "given" || kw == "candidate")) {
        if (!Is("{")) Take(Sp::kSpace);  // given FIXTURE { ... }
        Bindings(inner);
        continue;
      }
      Flow([&] { return Is("}") || (clauses.count(Peek().text) > 0 && !AfterDot()); });
    }
    Close(inner, outer);
  }

  // Comments before a closing bracket stay inside; the bracket goes on its own line.
  void Close(int inner, int outer) {
    if (AtEnd()) {
      ok_ = false;
      return;
    }
    Line(inner, true, false);
    FlushComments(sig_[k_]);
    Line(outer, false, false);
    Take(Sp::kNone);
  }

  // given { path: value, ... }: a collection whose one-line form has spaces
  // inside the braces.
  void Bindings(int outer) {
    Collection(Sp::kSpace, /*spaced=*/true, outer, [this] {
      Take(Sp::kAuto);  // first name of the path
      Flow([this] { return Is(",") || Is("}"); });
    });
  }

  bool HasCommentBetween(size_t ka, size_t kb) const {
    for (size_t i = sig_[ka] + 1; i < sig_[kb]; ++i) {
      if (t_[i].kind == Token::kComment) return true;
    }
    return false;
  }
  bool HasNewlineInside(size_t ka, size_t kb) const {
    for (size_t i = sig_[ka] + 1; i <= sig_[kb]; ++i) {
      if (t_[i].newline_before) return true;
    }
    return false;
  }

  // Elements each followed by a comma, on the lines where the author started
  // them (the first one always on a new line).
  void Elements(int inner, const std::function<void()>& element) {
    bool first = true;
    int saved = cont_;
    size_t last = k_;  // last token of the previous element
    while (!AtEnd() && !Is("}") && !Is("]") && ok_) {
      if (first || Peek().newline_before || HasCommentBetween(last, k_)) {
        Line(inner, !first, false);
      } else {
        space_next_ = true;
      }
      first = false;
      element();
      last = k_ - 1;
      PutText(",");
      if (Is(",")) Skip();
    }
    cont_ = saved;
  }

  // A list, set, map, record type or binding block: one line, or when the
  // author wrote it over several lines, one line per group of elements with
  // a trailing comma and the closing bracket on its own line.
  // `outer` is the indentation of the closing bracket; -1: that of the line
  // holding the opening one.
  void Collection(Sp open_space, bool spaced, int outer, const std::function<void()>& element) {
    size_t open = k_, close = match_[k_];
    bool empty = close == open + 1;
    bool multi = close > open && HasNewlineInside(open, close) &&
                 (!empty || HasCommentBetween(open, close));
    if (!multi) {
      int saved = cont_;
      Take(open_space);
      space_next_ = spaced && !empty;
      while (!AtEnd() && k_ < close && ok_) {
        element();
        if (Is(",")) {
          if (k_ + 1 == close) Skip();
          else Take(Sp::kNone);
        }
      }
      cont_ = saved;
      Take(spaced && !empty ? Sp::kSpace : Sp::kNone);
      return;
    }
    if (outer < 0) outer = w_.line_open() && !w_.pending() ? w_.indent() : w_.pending_indent();
    int saved = cont_;
    Take(open_space);
    Elements(outer + kIndent, element);
    Close(outer + kIndent, outer);
    cont_ = saved;
  }

  // An expression (or the rest of a clause): tokens with canonical spacing
  // until `stop()` holds outside any bracket.
  // Lines continued inside `(...)` / `[...]` are indented by nesting depth
  // (as `opa fmt` does): one level deeper than the line that opened the
  // innermost bracket, and a line starting with the closing bracket at the
  // opening line's indentation.
  void Flow(const std::function<bool()>& stop) {
    int depth = 0;
    std::vector<int> opened_at;  // per open bracket: indentation of its line
    while (!AtEnd() && ok_) {
      if (depth == 0 && stop()) return;
      const std::string& s = Peek().text;
      // The author's line breaks inside an expression are kept.
      if (Peek().newline_before && !w_.pending()) {
        bool closing = (s == ")" || s == "]") && !opened_at.empty();
        w_.Break(opened_at.empty() ? cont_ : closing ? opened_at.back() : opened_at.back() + kIndent);
      }
      if (s == "{" || (s == "[" && !prev_operand_)) {
        Collection(Sp::kAuto, false, -1,
                   [this] { Flow([this] { return Is(",") || Is("]") || Is("}"); }); });
        continue;
      }
      if (s == ")" || s == "]" || s == "}") {
        if (depth == 0) return;  // a bracket that is not ours
        --depth;
        if (!opened_at.empty()) opened_at.pop_back();
      } else if (s == "(" || s == "[") {
        ++depth;
        opened_at.push_back(w_.line_open() && !w_.pending() ? w_.indent() : w_.pending_indent());
      }
      Take(Sp::kAuto);
    }
  }

  void Type(Sp sp) {
    if (Is("{")) {
      Collection(sp, false, -1, [this] {
        Take(Sp::kAuto);  // field name
        if (Is("?")) Take(Sp::kNone);
        Take(Sp::kNone);  // :
        Type(Sp::kSpace);
      });
      return;
    }
    Take(sp);
    if (Is("<")) {
      Take(Sp::kNone);
      Type(Sp::kNone);
      while (Is(",")) {
        Take(Sp::kNone);
        Type(Sp::kSpace);
      }
      Take(Sp::kNone);  // >
    }
  }

  std::vector<Token> t_;
  std::vector<size_t> sig_, match_;
  size_t k_ = 0;   // next significant token (index into sig_)
  size_t ti_ = 0;  // next token not yet emitted or flushed (index into t_)
  Writer w_;
  int cont_ = kIndent;
  bool allow_blank_ = false, force_blank_ = false, ok_ = true;
  std::string prev_text_;
  bool prev_name_ = false, prev_operand_ = false, unary_ = false, space_next_ = false;
  bool prev_one_line_ = false;
};

std::vector<std::string> Comments(const std::vector<Token>& toks) {
  std::vector<std::string> out;
  for (const Token& t : toks) {
    if (t.kind == Token::kComment) out.push_back(CommentText(t));
  }
  return out;
}

}  // namespace

std::optional<std::string> Format(const SourceFile& file, Diagnostics* diags) {
  try {
    const size_t first = diags->error_count();
    auto before = Parse(std::make_unique<SourceFile>(file), Limits{}, diags);
    bool had_errors = diags->error_count() > first;
    // A file with any parse-stage error (value errors included) is left alone.
    if (before == nullptr || had_errors) {
      if (before != nullptr) diags->KeepAlive(std::shared_ptr<const SourceFile>(std::move(before->file)));
      return std::nullopt;
    }
    Diagnostics lex_diags;
    std::vector<Token> toks = Lex(file, &lex_diags);
    std::vector<std::string> comments = Comments(toks);
    std::optional<std::string> out = Formatter(std::move(toks)).Run();
    // INVARIANT: formatting changes layout only. Checked on every run: the
    // output must parse to the same tree and keep every comment, in order.
    bool same = false;
    if (out) {
      Diagnostics check;
      SourceFile formatted{file.path, *out};
      auto after = Parse(std::make_unique<SourceFile>(formatted), Limits{}, &check);
      same = after != nullptr && ast::SameTree(*before, *after) &&
             Comments(Lex(formatted, &check)) == comments;
    }
    if (!same) {
      Span at{before->file.get(), 0, 0, 1, 1};
      diags->KeepAlive(std::shared_ptr<const SourceFile>(std::move(before->file)));
      diags->Error("tg_internal_error", at, "the formatter could not lay out this file safely",
                   "please report this file; it was left unchanged");
      return std::nullopt;
    }
    return out;
  } catch (const std::exception& e) {
    diags->Error("tg_internal_error", Span{}, std::string("formatter failure: ") + e.what(),
                 "please report this file; it was left unchanged");
  } catch (...) {
    diags->Error("tg_internal_error", Span{}, "formatter failure",
                 "please report this file; it was left unchanged");
  }
  return std::nullopt;
}

}  // namespace tollgate::parse
