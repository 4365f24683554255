// Stage 1: source text -> AST. The one translation unit that includes the
// ANTLR-generated lexer and parser (grammar/Tollgate.g4).
//
// Steps: size and UTF-8 checks -> lex everything -> pre-scan the tokens (bad
// characters, unterminated strings and comments, nesting depth) -> parse
// (fast SLL first; full LL with our error strategy when SLL fails) -> build
// the AST from the parse tree (literal values, types, windows, options).
// No exception leaves this file; nothing is printed.
#include "engine/parse/parse.h"

#include <antlr4-runtime.h>

#include <algorithm>
#include <new>
#include <unordered_map>
#include <unordered_set>

#include "TollgateLexer.h"
#include "TollgateParser.h"
#include "engine/core/money.h"
#include "engine/parse/text.h"

namespace tollgate::parse {
namespace {

namespace gen = tollgate::internal::antlr;
using gen::TollgateLexer;
using gen::TollgateParser;
using internal::Ticked;

// Token types by literal text ("(", "rule", ...), read once from the
// generated vocabulary so this file never names T__17-style constants.
class TokenTypes {
 public:
  explicit TokenTypes(const antlr4::dfa::Vocabulary& v) {
    text_.resize(v.getMaxTokenType() + 1);
    for (size_t i = 1; i <= v.getMaxTokenType(); ++i) {
      std::string lit = v.getLiteralName(i);
      if (lit.size() >= 2 && lit.front() == '\'') {
        text_[i] = lit.substr(1, lit.size() - 2);
        by_text_[text_[i]] = i;
      }
    }
  }
  size_t Of(std::string_view lit) const {
    auto it = by_text_.find(std::string(lit));
    return it == by_text_.end() ? 0 : it->second;
  }
  // Literal text of a keyword or punctuation type; "" for INT, IDENT, ...
  const std::string& Text(size_t type) const {
    static const std::string kEmpty;
    return type < text_.size() ? text_[type] : kEmpty;
  }
  bool IsKeyword(size_t type) const {
    const std::string& t = Text(type);
    return !t.empty() && t[0] >= 'a' && t[0] <= 'z';
  }

 private:
  std::unordered_map<std::string, size_t> by_text_;
  std::vector<std::string> text_;
};

const TokenTypes& Types() {
  static const TokenTypes* types = [] {
    antlr4::ANTLRInputStream in(std::string{});
    TollgateLexer lexer(&in);
    return new TokenTypes(lexer.getVocabulary());
  }();
  return *types;
}

// Where things are: code-point indices (ANTLR) -> bytes -> line/col.
// A Locator for a part of the file (a `{...}` hole of a message string, parsed
// on its own) maps the part's code points and adds the part's byte offset.
struct Locator {
  const SourceFile* file;
  internal::CodePointMap cps;
  internal::LineMap own_lines;
  const internal::LineMap* lines;
  uint32_t base = 0;  // byte offset of the parsed text within the file
  explicit Locator(const SourceFile* f)
      : file(f), cps(f->text), own_lines(f->text), lines(&own_lines) {}
  Locator(const Locator& whole, std::string_view part, uint32_t part_begin)
      : file(whole.file), cps(part), own_lines(std::string_view()), lines(whole.lines),
        base(part_begin) {}
  Locator(const Locator&) = delete;
  Locator& operator=(const Locator&) = delete;

  Span Bytes(uint32_t begin, uint32_t end) const {
    Span s;
    s.file = file;
    s.begin = begin;
    s.end = std::max(begin, end);
    lines->Locate(begin, &s.line, &s.col);
    return s;
  }
  Span Of(const antlr4::Token* t) const {
    if (t->getType() == antlr4::Token::EOF) {
      auto n = static_cast<uint32_t>(base == 0 ? file->text.size() : base + cps.Byte(t->getStartIndex()));
      return Bytes(n, n);
    }
    return Bytes(base + cps.Byte(t->getStartIndex()), base + cps.Byte(t->getStopIndex() + 1));
  }
  Span Of(const antlr4::Token* a, const antlr4::Token* b) const {
    Span s = Of(a);
    if (b != nullptr && b->getType() != antlr4::Token::EOF && b->getStopIndex() + 1 > a->getStartIndex()) {
      s.end = base + cps.Byte(b->getStopIndex() + 1);
    }
    return s;
  }
  Span Of(antlr4::ParserRuleContext* c) const { return Of(c->getStart(), c->getStop()); }
};

// ---------------------------------------------------------------------------
// Syntax errors

// Readable names for the expected-token part of a message.
std::string Describe(size_t type) {
  switch (type) {
    case antlr4::Token::EOF: return "end of file";
    case TollgateLexer::INT: case TollgateLexer::DECIMAL: return "a number";
    case TollgateLexer::DURATION: return "a duration";
    case TollgateLexer::STRING: return "a string";
    case TollgateLexer::IDENT: return "a name";
    default: break;
  }
  const std::string& t = Types().Text(type);
  return t.empty() ? "a token" : "`" + t + "`";
}

// Collapses well-known groups of expected tokens into words, so a message
// reads "expected an expression" instead of listing 16 tokens.
std::string ExpectedText(const antlr4::misc::IntervalSet& set) {
  const TokenTypes& T = Types();
  std::vector<size_t> types;
  for (const auto& iv : set.getIntervals()) {
    for (ssize_t t = iv.a; t <= iv.b; ++t) {
      types.push_back(t < 0 ? antlr4::Token::EOF : static_cast<size_t>(t));  // EOF is -1 here
    }
  }
  std::unordered_set<size_t> have(types.begin(), types.end());
  std::vector<std::string> words;
  auto group = [&](std::initializer_list<size_t> must, std::initializer_list<size_t> also,
                   const char* word) {
    for (size_t t : must) if (!have.count(t)) return;
    for (size_t t : must) have.erase(t);
    for (size_t t : also) have.erase(t);
    words.push_back(word);
  };
  auto k = [&](const char* s) { return T.Of(s); };
  group({TollgateLexer::IDENT, TollgateLexer::INT, TollgateLexer::STRING, k("("), k("-")},
        {TollgateLexer::DECIMAL, TollgateLexer::DURATION, k("["), k("{"), k("not"), k("any"),
         k("all"), k("true"), k("false"), k("null"), k("max"), k("contains"), k("starts_with"),
         k("ends_with"), k("budget"), k("limit")},
        "an expression");
  group({k("and"), k("or"), k("=="), k("+")},
        {k("!="), k("<"), k("<="), k(">"), k(">="), k("in"), k("not"), k("matches"),
         k("contains"), k("has"), k("starts_with"), k("ends_with"), k("-"), k("*"), k("/"), k("%"),
         k("."), k("["), k("(")},
        "an operator");
  group({k("const"), k("data"), k("rule"), k("budget"), k("limit"), k("test")}, {},
        "a declaration");
  group({k("deny"), k("require"), k("redact"), k("route"), k("tag"), k("warn")}, {k("when")},
        "an effect");
  group({k("allow"), k("fired"), k("not_fired"), k("rejected_by"), k("accepted")},
        {k("deny"), k("redacts"), k("tag"), k("route"), k("warns"), k("shadow")}, "an expectation");
  if (have.count(TollgateLexer::IDENT) && have.count(k("accepted")) && have.count(k("usd"))) {
    for (auto it = have.begin(); it != have.end();) {
      it = T.IsKeyword(*it) ? have.erase(it) : std::next(it);
    }
    have.erase(TollgateLexer::IDENT);
    words.push_back("a name");
  }
  std::vector<size_t> rest(have.begin(), have.end());
  std::sort(rest.begin(), rest.end());
  for (size_t t : rest) {
    std::string d = Describe(t);
    if (std::find(words.begin(), words.end(), d) == words.end()) words.push_back(d);
  }
  if (words.empty()) return "";
  // A longer list does not help anyone read the error.
  constexpr size_t kMaxWords = 5;
  if (words.size() > kMaxWords) return "";
  std::string s = "expected ";
  for (size_t i = 0; i < words.size(); ++i) {
    if (i > 0) s += i + 1 == words.size() ? " or " : ", ";
    s += words[i];
  }
  return s;
}

// What a duration literal is, for help lines.
constexpr const char* kDurationUnits = "a number and one of `ms`, `s`, `m` (minutes), `h`, `d`, `w`";

// Money is US dollars only, written `100 usd` (lower case, after the
// number). A currency or money unit where the parser wanted something else
// -- `100 eur`, `100 USD`, `250 cents`, `10000 micros` -- gets the spelling
// tollgate reads instead of "write `}` here"; "" for any other word.
std::string MoneyWordHelp(const std::string& text) {
  std::string w;
  for (char c : text) w += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  const std::string money = "money is US dollars, written with a lower-case `usd` after the number "
                            "(`100 usd`, `0.50 usd`)";
  if (w == "usd" || w == "dollar" || w == "dollars") return money;
  if (w == "cent" || w == "cents") return money + "; write cents as a fraction: `2.50 usd` for 250 cents";
  if (w == "micros" || w == "microdollars" || w == "micro_usd")
    return money + "; micro-dollars are the sixth decimal: `0.000001 usd` is one";
  static const char* kCurrencies[] = {"eur", "euro", "euros", "gbp", "chf", "jpy", "cad", "aud",
                                      "cny", "inr", "sek", "nok", "dkk", "pln", "usdc", "usdt"};
  for (const char* c : kCurrencies)
    if (w == c)
      return money + "; there is no other currency: convert the amount to usd (ledgers, catalog "
                     "prices and budgets all count US micro-dollars)";
  return "";
}

// The help line of a syntax error: what may appear at this point.
std::string SyntaxHelp(const antlr4::Token* tok, const std::string& expected) {
  const std::string text = tok->getType() == antlr4::Token::EOF ? "" : tok->getText();
  if (text == "=") return "use `==` to compare values";
  if (std::string h = MoneyWordHelp(text); !h.empty()) return h;
  // `max 1M tokens`, `max 10k requests`: the suffix was read as the unit.
  if (text == "tokens" || text == "requests")
    return "a limit reads `max N requests` or `max N tokens`, the number written in full right "
           "before the unit: `max 1000000 tokens` for 1M (no `k` or `M` suffix, no `_` or `,` "
           "between digits)";
  if (text.size() > 1 && text[0] == '_' &&
      std::all_of(text.begin() + 1, text.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return "write numbers without separators: `1000`, not `1_000`";
  const bool keyword = !text.empty() && Types().IsKeyword(tok->getType());
  auto has = [&](const char* w) { return expected.find(w) != std::string::npos; };
  if (tok->getType() == antlr4::Token::EOF) {
    if (has("`policy`")) return "a policy file starts with a header such as `policy \"acme\"`";
    return "the file ends in the middle of a declaration: finish it and close every `{`, `(` and `[`";
  }
  if (has("an expression")) {
    std::string h = "an expression is a literal (`\"text\"`, `42`, `2.50 usd`, `30d`, `true`), a field "
                    "such as `request.model`, a call such as `lower(x)`, or `(...)`";
    if (keyword) h = Ticked(text) + " is a keyword and cannot start an expression; " + h;
    return h;
  }
  if (expected == "expected a string") return "write it in double quotes, such as \"" + text + "\"";
  if (expected == "expected a name") {
    return keyword ? Ticked(text) + " is a keyword; choose another name"
                   : "a name is letters, digits and `_`, starting with a letter";
  }
  if (has("an effect")) {
    if (text == "on_error" || text == "mode")
      return Ticked(text) + " goes in the rule's header, before `{`: `rule r " + text +
             (text == "on_error" ? " skip {" : " shadow {") + " ... }`";
    return "a rule holds `when` and effects: `deny`, `require`, `redact`, `route`, `tag` or `warn`";
  }
  if (has("a declaration"))
    return "after the header come `const`, `data`, `rule`, `budget`, `limit` and `test` declarations";
  if (has("an expectation"))
    return "a test expects `allow`, `deny`, `fired`, `not_fired`, `rejected_by`, `accepted`, "
           "`redacts`, `tag`, `route` or `warns` (and `shadow fired`, `shadow rejected_by`, "
           "`shadow redacts`)";
  if (expected == "expected a duration or a name")
    // Only a budget's or limit's window expects exactly these (`per 1M`, `per 30 days`).
    return std::string("a window is `minute`, `hour`, `day`, `week`, `month`, `lifetime` or a duration "
                       "written without a space: ") +
           kDurationUnits + " (`per 10m`, `per 30d`); a calendar month is `per month`";
  if (expected == "expected `:`")
    return "write `:` before " + Ticked(text) + ": a quantifier reads `any x in list: condition`, "
           "a map entry `key: value`";
  if (!expected.empty()) return "write " + expected.substr(9) + " here, before " + Ticked(text);
  if (text == ",") return "remove the extra `,`: elements are separated by one comma";
  return "remove " + Ticked(text) + " or check the syntax around it (see docs/language.md)";
}

struct StopParsing {};  // thrown through ANTLR by the reporter once the cap is hit

// Collects syntax errors as Diagnostics; at most one per offending token.
class SyntaxReporter {
 public:
  SyntaxReporter(const Locator* loc, const Limits& limits, Diagnostics* diags)
      : loc_(loc), limits_(limits), diags_(diags) {}

  void Report(const antlr4::Token* tok, const std::string& message, std::string help = {}) {
    Report(tok, tok ? loc_->Of(tok) : loc_->Bytes(0, 0), message, std::move(help));
  }
  void Report(const antlr4::Token* tok, Span span, const std::string& message, std::string help) {
    if (tok != nullptr && tok->getTokenIndex() == last_index_) return;
    if (count_ >= limits_.max_syntax_errors) {
      capped_ = true;
      throw StopParsing{};
    }
    ++count_;
    last_index_ = tok ? tok->getTokenIndex() : last_index_;
    diags_->Error("tg_parse_error", span, message, std::move(help));
  }
  // A token right after a bad character or unterminated string: the parser's
  // complaint about it would only repeat the lexical error.
  void Shadow(size_t token_index) { shadowed_.insert(token_index); }

  void Unexpected(const antlr4::Token* tok, const antlr4::misc::IntervalSet* expected) {
    if (shadowed_.count(tok->getTokenIndex())) return;
    std::string msg = tok->getType() == antlr4::Token::EOF
                          ? "unexpected end of file"
                          : "unexpected " + Ticked(tok->getText());
    std::string e = expected != nullptr ? ExpectedText(*expected) : "";
    if (!e.empty()) msg += ", " + e;
    Report(tok, msg, SyntaxHelp(tok, e));
  }
  uint32_t count() const { return count_; }
  bool capped() const { return capped_; }

 private:
  const Locator* loc_;
  const Limits& limits_;
  Diagnostics* diags_;
  uint32_t count_ = 0;
  size_t last_index_ = static_cast<size_t>(-1);
  bool capped_ = false;
  std::unordered_set<size_t> shadowed_;
};

// ANTLR's default recovery, with our messages instead of its console text.
class ErrorStrategy : public antlr4::DefaultErrorStrategy {
 public:
  explicit ErrorStrategy(SyntaxReporter* r) : rep_(r) {}

 protected:
  void reportNoViableAlternative(antlr4::Parser* p, const antlr4::NoViableAltException& e) override {
    // The expected set belongs to where the decision started; only quote it
    // when the parser failed right there.
    antlr4::misc::IntervalSet expected = e.getExpectedTokens();
    bool here = e.getStartToken() == e.getOffendingToken();
    rep_->Unexpected(e.getOffendingToken(), here ? &expected : nullptr);
  }
  void reportInputMismatch(antlr4::Parser* p, const antlr4::InputMismatchException& e) override {
    antlr4::misc::IntervalSet expected = e.getExpectedTokens();
    rep_->Unexpected(e.getOffendingToken(), &expected);
  }
  void reportFailedPredicate(antlr4::Parser* p, const antlr4::FailedPredicateException& e) override {
    rep_->Unexpected(e.getOffendingToken(), nullptr);
  }
  void reportUnwantedToken(antlr4::Parser* p) override {
    if (inErrorRecoveryMode(p)) return;
    beginErrorCondition(p);
    antlr4::misc::IntervalSet expected = getExpectedTokens(p);
    rep_->Unexpected(p->getCurrentToken(), &expected);
  }
  void reportMissingToken(antlr4::Parser* p) override {
    if (inErrorRecoveryMode(p)) return;
    beginErrorCondition(p);
    antlr4::misc::IntervalSet expected = getExpectedTokens(p);
    rep_->Unexpected(p->getCurrentToken(), &expected);
  }

 private:
  SyntaxReporter* rep_;
};

// Fallback for anything ANTLR reports through listeners instead of the strategy.
class Listener : public antlr4::BaseErrorListener {
 public:
  explicit Listener(SyntaxReporter* r) : rep_(r) {}
  void syntaxError(antlr4::Recognizer*, antlr4::Token* tok, size_t, size_t, const std::string&,
                   std::exception_ptr) override {
    if (tok != nullptr) rep_->Unexpected(tok, nullptr);
  }

 private:
  SyntaxReporter* rep_;
};

// ---------------------------------------------------------------------------
// Pre-scan: lexical errors and nesting depth, before the recursive parser runs.

bool IsHiddenError(size_t type) {
  return type == TollgateLexer::ERROR_CHAR || type == TollgateLexer::UNTERMINATED_STRING ||
         type == TollgateLexer::UNTERMINATED_COMMENT;
}

// Advice for characters that people bring from other languages.
std::string HelpFor(const std::string& bad) {
  if (bad == "&&" || bad == "&") return "use `and`";
  if (bad == "||" || bad == "|") return "use `or`";
  if (bad == "!") return "use `not`, or `!=` to compare";
  if (bad == ";") return "clauses need no separator: start each on its own line";
  if (bad[0] == '\'') return "strings use double quotes: \"...\"";
  if (bad == "$" || bad == "\u20ac" || bad == "\u00a3")
    return "money is US dollars, written with a lower-case `usd` after the number (`5 usd`, "
           "`0.50 usd`), never a currency sign";
  return "remove it: outside strings and comments a policy uses letters, digits, `_` and the "
         "operators of the language";
}

// A bad escape in a string literal: a value error (tg_invalid_value), found
// here on the tokens so that it is reported even when the file also has
// syntax errors, and not counted as one (the AST is still built, with the
// string's value cut at the bad escape).
void CheckEscapes(antlr4::Token* t, const Locator& loc, Diagnostics* diags) {
  std::string text = t->getText(), out, why;
  size_t b = 0, e = 0;
  if (internal::Unescape(text, &out, &b, &e, &why)) return;
  Span s = loc.Of(t);
  // The token's bytes equal `text` (UTF-8 in, UTF-8 out), so offsets add.
  diags->Error("tg_invalid_value",
               loc.Bytes(s.begin + static_cast<uint32_t>(b), s.begin + static_cast<uint32_t>(e)),
               why + " " + Ticked(text.substr(b, e - b)),
               "valid escapes are \\\" \\\\ \\/ \\n \\r \\t and \\uXXXX; write `\\\\` for a backslash");
}

// Reports bad characters (runs of them as one error), unterminated strings
// and comments, and bad escapes; hides the error tokens from the parser.
// `expect WORD`: the expectations spelled as plain words (code, reason,
// redacted, no_errors) parse as any identifier; another word is a syntax
// error, reported here so that it counts like one (and with the others).
void ReportExpectWord(const std::vector<antlr4::Token*>& toks, size_t i, SyntaxReporter* rep) {
  static const std::vector<std::string> kWords = {"code", "reason", "redacted", "no_errors"};
  static const std::vector<std::string> kAll = {
      "allow", "deny", "fired", "not_fired", "rejected_by", "accepted", "redacts", "tag",
      "route", "warns", "code", "reason", "redacted", "no_errors"};
  size_t p = i;
  while (p > 0 && toks[p - 1]->getChannel() != antlr4::Token::DEFAULT_CHANNEL) --p;
  if (p == 0 || toks[p - 1]->getText() != "expect") return;
  std::string word = toks[i]->getText();
  if (std::find(kWords.begin(), kWords.end(), word) != kWords.end()) return;
  std::string close = ClosestMatch(word, kAll);
  std::string help = "an expectation is one of";
  for (size_t k = 0; k < kAll.size(); ++k) help += (k ? ", `" : " `") + kAll[k] + "`";
  rep->Report(toks[i], "unexpected " + Ticked(word) + ", expected an expectation",
              close.empty() ? help : "did you mean `" + close + "`?");
}

// The duration unit a word written after a number means (`min` -> `m`,
// `hours` -> `h`), "month" for a month, "" for none.
std::string UnitMeant(std::string word) {
  for (char& c : word) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  static const std::vector<std::pair<std::vector<std::string>, std::string>> kUnits = {
      {{"mo", "mos", "mon", "mons", "mth", "mths", "month", "months"}, "month"},
      {{"msec", "msecs", "millis", "millisecond", "milliseconds"}, "ms"},
      {{"sec", "secs", "second", "seconds"}, "s"},
      {{"min", "mins", "minute", "minutes"}, "m"},
      {{"hr", "hrs", "hour", "hours"}, "h"},
      {{"day", "days"}, "d"},
      {{"wk", "wks", "week", "weeks"}, "w"},
  };
  for (const auto& [words, unit] : kUnits)
    if (std::find(words.begin(), words.end(), word) != words.end()) return unit;
  return "";
}

// `per 1mo`, `5mins`, `2days`: a duration whose unit runs on into a word.
// The lexer takes the longest duration (`1m`) and then a name (`o`), so the
// parser would complain about the name ("unexpected `o`"); this reports what
// was written, `1mo`, at all of it. A word that completes a unit (`o` of
// `mo`) is hidden from the parser; another (`1mlimit`: a missing space?)
// stays, and the parser's complaint about it is not repeated. A month has
// no fixed length, so it is no duration unit: a window of a calendar month
// is `per month`, a fixed length a number of days.
bool ReportGluedUnit(const std::vector<antlr4::Token*>& toks, size_t i, const Locator& loc,
                     SyntaxReporter* rep) {
  antlr4::Token* t = toks[i];
  if (i + 1 >= toks.size()) return false;
  antlr4::Token* word = toks[i + 1];
  const std::string w = word->getText();
  if (word->getChannel() != antlr4::Token::DEFAULT_CHANNEL ||
      word->getStartIndex() != t->getStopIndex() + 1 ||
      (word->getType() != TollgateLexer::IDENT && !Types().IsKeyword(word->getType())) || w.empty() ||
      !((w[0] >= 'a' && w[0] <= 'z') || (w[0] >= 'A' && w[0] <= 'Z')))
    return false;
  const std::string dur = t->getText();
  const size_t digits = dur.find_first_not_of("0123456789");
  const std::string number = dur.substr(0, digits), unit = UnitMeant(dur.substr(digits) + w);
  if (unit.empty()) {
    rep->Shadow(i + 1);
  } else if (auto* h = dynamic_cast<antlr4::WritableToken*>(word)) {
    h->setChannel(antlr4::Token::HIDDEN_CHANNEL);
  }
  size_t p = i;
  while (p > 0 && toks[p - 1]->getChannel() != antlr4::Token::DEFAULT_CHANNEL) --p;
  const bool window = p > 0 && toks[p - 1]->getType() == Types().Of("per");
  const std::string units = std::string("a duration is ") + kDurationUnits;
  std::string message = Ticked(dur + w) + " is not a duration", help;
  if (unit == "month") {
    // N months as days for the example: 30 each (what a `per month` limit counts).
    const std::string days = number.size() <= 6 ? std::to_string(std::stoul(number) * 30) + "d" : "30d";
    message += ": a month is not a fixed length of time";
    help = window ? "a calendar month is `per month`; a fixed window is a number of days (`per " + days + "`)"
                  : "write a number of days (`" + days + "`): " + units;
  } else if (!unit.empty()) {
    help = "write " + Ticked(number + unit) + ": " + units;
  } else {
    help = units + " (`10m`, `30d`); put a space after " + Ticked(dur) + " if " + Ticked(w) +
           " is the next word";
  }
  rep->Report(t, loc.Of(t, word), message, help);
  return true;
}

void ReportLexErrors(const std::vector<antlr4::Token*>& toks, const Locator& loc,
                     SyntaxReporter* rep, Diagnostics* diags) {
  for (size_t i = 0; i < toks.size(); ++i) {
    antlr4::Token* t = toks[i];
    size_t type = t->getType();
    if (type == TollgateLexer::IDENT) ReportExpectWord(toks, i, rep);
    if (type == TollgateLexer::DURATION && ReportGluedUnit(toks, i, loc, rep)) {
      ++i;  // the word: hidden, or its complaint shadowed
      continue;
    }
    if (type == TollgateLexer::STRING) CheckEscapes(t, loc, diags);
    if (!IsHiddenError(type)) continue;
    for (size_t n = i + 1; n < toks.size(); ++n) {
      if (toks[n]->getChannel() == antlr4::Token::DEFAULT_CHANNEL && !IsHiddenError(toks[n]->getType())) {
        rep->Shadow(n);
        break;
      }
    }
    if (auto* w = dynamic_cast<antlr4::WritableToken*>(t)) w->setChannel(antlr4::Token::HIDDEN_CHANNEL);
    if (type == TollgateLexer::UNTERMINATED_STRING) {
      rep->Report(t, "unterminated string", "add the closing `\"` on the same line");
    } else if (type == TollgateLexer::UNTERMINATED_COMMENT) {
      rep->Report(t, "unterminated comment", "close it with `*/`");
    } else {
      size_t j = i;
      std::string text = t->getText();
      while (j + 1 < toks.size() && toks[j + 1]->getType() == TollgateLexer::ERROR_CHAR &&
             toks[j + 1]->getStartIndex() == toks[j]->getStopIndex() + 1) {
        ++j;
        if (auto* w = dynamic_cast<antlr4::WritableToken*>(toks[j])) {
          w->setChannel(antlr4::Token::HIDDEN_CHANNEL);
        }
        text += toks[j]->getText();
      }
      Span span = loc.Of(t, toks[j]);
      std::string msg = (j > i ? "unexpected characters " : "unexpected character ") + Ticked(text);
      rep->Report(t, span, msg, HelpFor(text));
      i = j;
    }
  }
}

// Returns the first token at which ( [ { nesting, plus open quantifier bodies,
// plus a run of consecutive unary `not`/`-`, exceeds `max_depth`; null if none.
// Generic types (`set<list<...>>`) count as well, one level per `name <`.
const antlr4::Token* FindTooDeep(const std::vector<antlr4::Token*>& toks, uint32_t max_depth) {
  const TokenTypes& T = Types();
  const size_t lparen = T.Of("("), lbrack = T.Of("["), lbrace = T.Of("{");
  const size_t rparen = T.Of(")"), rbrack = T.Of("]"), rbrace = T.Of("}");
  const size_t kw_not = T.Of("not"), minus = T.Of("-"), dot = T.Of("."), comma = T.Of(",");
  const size_t kw_any = T.Of("any"), kw_all = T.Of("all"), lt = T.Of("<");
  // Keywords that may appear inside an expression; any other keyword ends it.
  std::unordered_set<size_t> in_expr = {kw_any, kw_all, T.Of("in"), kw_not, T.Of("and"),
                                        T.Of("or"), T.Of("matches"), T.Of("contains"),
                                        T.Of("starts_with"), T.Of("ends_with"),
                                        T.Of("has"), T.Of("true"), T.Of("false"),
                                        T.Of("null"), T.Of("usd")};
  std::vector<uint32_t> quants = {0};  // open quantifier bodies per bracket level
  uint64_t brackets = 0, quant_sum = 0, unary_run = 0, generic_run = 0;
  size_t prev = 0;
  for (antlr4::Token* t : toks) {
    if (t->getChannel() != antlr4::Token::DEFAULT_CHANNEL) continue;
    size_t type = t->getType();
    bool after_dot = prev == dot;
    unary_run = (type == kw_not || type == minus) ? unary_run + 1 : 0;
    if (type == lt && prev == TollgateLexer::IDENT) {
      ++generic_run;
    } else if (type != TollgateLexer::IDENT) {
      generic_run = type == lt ? generic_run : 0;
    }
    if (type == lparen || type == lbrack || type == lbrace) {
      ++brackets;
      quants.push_back(0);
    } else if (type == rparen || type == rbrack || type == rbrace) {
      if (brackets > 0) {
        --brackets;
        quant_sum -= quants.back();
        quants.pop_back();
      }
    } else if ((type == kw_any || type == kw_all) && !after_dot) {
      ++quants.back();
      ++quant_sum;
    } else if (type == comma || (T.IsKeyword(type) && !in_expr.count(type) && !after_dot)) {
      quant_sum -= quants.back();
      quants.back() = 0;
    }
    if (brackets + quant_sum + unary_run + generic_run > max_depth) return t;
    prev = type;
  }
  return nullptr;
}

// The parse tree -> AST builder (class Builder, BuildPolicy()). A separate
// file for size only: it is part of this translation unit.
#include "engine/parse/build_ast.inc"

// ---------------------------------------------------------------------------

bool CheckSource(const SourceFile& file, const Limits& limits, Diagnostics* diags) {
  if (file.text.size() > limits.max_source_bytes) {
    Span s{&file, 0, 0, 1, 1};
    diags->Error("tg_limit_exceeded", s,
                 "policy file is " + std::to_string(file.text.size()) + " bytes, over the limit of " +
                     std::to_string(limits.max_source_bytes),
                 "split the policy into smaller files or raise Limits::max_source_bytes");
    return false;
  }
  size_t bad = internal::FirstInvalidUtf8(file.text);
  if (bad != std::string::npos) {
    internal::LineMap lines(file.text);
    Span s{&file, static_cast<uint32_t>(bad), static_cast<uint32_t>(bad + 1), 0, 0};
    lines.Locate(s.begin, &s.line, &s.col);
    diags->Error("tg_parse_error", s, "invalid utf-8 in source", "policy files must be UTF-8 text");
    return false;
  }
  return true;
}

// Runs lexer + parser; returns the parse tree or null (errors in *diags).
// `parser` and `stream` own the tree's tokens and must outlive it.
TollgateParser::PolicyContext* RunParser(TollgateParser* parser, antlr4::CommonTokenStream* stream,
                                         const Locator& loc, const Limits& limits,
                                         Diagnostics* diags) {
  SyntaxReporter rep(&loc, limits, diags);
  try {
    stream->fill();
    std::vector<antlr4::Token*> toks = stream->getTokens();
    ReportLexErrors(toks, loc, &rep, diags);
    if (const antlr4::Token* deep = FindTooDeep(toks, limits.max_nesting_depth)) {
      diags->Error("tg_limit_exceeded", loc.Of(deep),
                   "expression nests deeper than " + std::to_string(limits.max_nesting_depth) +
                       " levels",
                   "move inner parts into `let` bindings (or `const` declarations for constant parts)");
      return nullptr;
    }
    stream->seek(0);
    // Stage 1: SLL, bail at the first error (fast path for valid files).
    parser->removeErrorListeners();
    parser->setErrorHandler(std::make_shared<antlr4::BailErrorStrategy>());
    parser->getInterpreter<antlr4::atn::ParserATNSimulator>()->setPredictionMode(
        antlr4::atn::PredictionMode::SLL);
    TollgateParser::PolicyContext* tree = nullptr;
    try {
      tree = parser->policy();
    } catch (const antlr4::ParseCancellationException&) {
      tree = nullptr;
    }
    if (tree == nullptr) {
      // Stage 2: full LL with recovery, so every error is reported.
      stream->seek(0);
      parser->reset();
      Listener listener(&rep);
      parser->addErrorListener(&listener);
      parser->setErrorHandler(std::make_shared<ErrorStrategy>(&rep));
      parser->getInterpreter<antlr4::atn::ParserATNSimulator>()->setPredictionMode(
          antlr4::atn::PredictionMode::LL);
      try {
        tree = parser->policy();
      } catch (const StopParsing&) {
        tree = nullptr;
      }
      parser->removeErrorListeners();
      // If SLL failed but LL reports nothing, LL's tree is the valid one.
    }
    if (rep.count() == 0) return tree;
  } catch (const StopParsing&) {
    // The cap was hit (reported below).
  }
  if (rep.capped()) {
    diags->Add(Diagnostic{Severity::kNote, "tg_parse_error", loc.Bytes(0, 0),
                          "stopped after " + std::to_string(limits.max_syntax_errors) +
                              " syntax errors",
                          "fix these first; later errors are often caused by earlier ones"});
  }
  return nullptr;
}

}  // namespace

std::unique_ptr<ast::Policy> Parse(std::unique_ptr<SourceFile> file, const Limits& limits,
                                   Diagnostics* diags) {
  if (!file) return nullptr;
  std::unique_ptr<ast::Policy> policy;
  bool ok = false;
  try {
    policy = std::make_unique<ast::Policy>();
    policy->file = std::move(file);
    const SourceFile* f = policy->file.get();
    if (CheckSource(*f, limits, diags)) {
      Locator loc(f);
      antlr4::ANTLRInputStream input(f->text);
      TollgateLexer lexer(&input);
      lexer.removeErrorListeners();
      antlr4::CommonTokenStream stream(&lexer);
      TollgateParser parser(&stream);
      parser.removeErrorListeners();
      TollgateParser::PolicyContext* tree = RunParser(&parser, &stream, loc, limits, diags);
      // Value errors (tg_invalid_value, ...) leave a placeholder in the AST
      // and do not stop here; only syntax errors and limits do.
      ok = tree != nullptr && BuildPolicy(tree, loc, limits, policy.get(), diags);
    }
  } catch (const std::bad_alloc&) {
    diags->Error("tg_limit_exceeded", Span{}, "out of memory while parsing the policy",
                 "split the policy into smaller files");
  } catch (const std::exception& e) {
    diags->Error("tg_internal_error", Span{}, std::string("parser failure: ") + e.what(),
                 "this is a bug in tollgate; please report it with the policy file");
  } catch (...) {
    diags->Error("tg_internal_error", Span{}, "parser failure",
                 "this is a bug in tollgate; please report it with the policy file");
  }
  if (ok) return policy;
  // The diagnostics point into the file: it lives on with them.
  std::shared_ptr<const SourceFile> keep(policy ? std::move(policy->file) : std::move(file));
  if (keep) diags->KeepAlive(std::move(keep));
  return nullptr;
}

std::vector<Token> Lex(const SourceFile& file, Diagnostics* diags) {
  std::vector<Token> out;
  try {
    if (!CheckSource(file, Limits{}, diags)) return out;
    Locator loc(&file);
    antlr4::ANTLRInputStream input(file.text);
    TollgateLexer lexer(&input);
    lexer.removeErrorListeners();
    const TokenTypes& T = Types();
    uint32_t prev_end = 0;
    for (auto t = lexer.nextToken(); t->getType() != antlr4::Token::EOF; t = lexer.nextToken()) {
      Span s = loc.Of(t.get());
      Token tok;
      size_t type = t->getType();
      switch (type) {
        case TollgateLexer::IDENT: tok.kind = Token::kWord; break;
        case TollgateLexer::STRING: tok.kind = Token::kString; break;
        case TollgateLexer::INT: case TollgateLexer::DECIMAL: case TollgateLexer::DURATION:
          tok.kind = Token::kNumber; break;
        case TollgateLexer::LINE_COMMENT: case TollgateLexer::BLOCK_COMMENT:
          tok.kind = Token::kComment; break;
        default:
          if (IsHiddenError(type)) tok.kind = Token::kError;
          else tok.kind = T.IsKeyword(type) ? Token::kWord : Token::kPunct;
      }
      tok.text = file.text.substr(s.begin, s.end - s.begin);
      tok.line = s.line;
      tok.col = s.col;
      int newlines = 0;
      for (uint32_t i = prev_end; i < s.begin; ++i) {
        if (file.text[i] == '\n') ++newlines;
      }
      tok.newline_before = newlines > 0;
      tok.blank_line_before = newlines > 1 && !out.empty();
      if (tok.kind == Token::kError) {
        diags->Error("tg_parse_error", s,
                     type == TollgateLexer::UNTERMINATED_STRING    ? "unterminated string"
                     : type == TollgateLexer::UNTERMINATED_COMMENT ? "unterminated comment"
                                                                    : "unexpected character " +
                                                                          Ticked(tok.text),
                     type == TollgateLexer::UNTERMINATED_STRING    ? "add the closing `\"` on the same line"
                     : type == TollgateLexer::UNTERMINATED_COMMENT ? "close it with `*/`"
                                                                    : HelpFor(tok.text));
      }
      prev_end = s.end;
      out.push_back(std::move(tok));
    }
  } catch (const std::bad_alloc&) {
    diags->Error("tg_limit_exceeded", Span{}, "out of memory while reading the policy",
                 "split the policy into smaller files");
  } catch (const std::exception& e) {
    diags->Error("tg_internal_error", Span{}, std::string("lexer failure: ") + e.what(),
                 "this is a bug in tollgate; please report it with the policy file");
  }
  return out;
}

}  // namespace tollgate::parse
