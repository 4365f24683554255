#include "tests/check/check_helpers.h"

#include "engine/parse/parse.h"

namespace tollgate::checktest {

std::vector<std::string> Checked::Codes() const {
  std::vector<std::string> out;
  for (const auto& d : diags.items()) out.push_back(d.code);
  return out;
}

std::vector<std::string> Checked::ErrorCodes() const {
  std::vector<std::string> out;
  for (const auto& d : diags.items())
    if (d.severity == Severity::kError) out.push_back(d.code);
  return out;
}

static Checked Run(const std::string& source, check::CheckOptions options, const std::string* last) {
  Checked c;
  if (options.base_dir.empty()) options.base_dir = "tests/check/data";
  c.policy = parse::Parse(std::make_unique<SourceFile>(SourceFile{"test.tg", source}),
                          options.limits, &c.diags);
  if (!c.policy) {
    c.diags.Sort();
    return c;
  }
  if (last == nullptr) {
    c.ok = check::Check(c.policy.get(), options, &c.diags);
  } else {
    check::Context ctx = check::MakeContext(c.policy.get(), options, &c.diags);
    for (const auto& pass : check::Passes()) {
      pass.run(ctx);
      if (*last == pass.name) break;
    }
    c.ok = ctx.errors == 0;
  }
  c.diags.Sort();
  return c;
}

Checked CheckSource(const std::string& source, check::CheckOptions options) {
  return Run(source, options, nullptr);
}

Checked CheckUntil(const std::string& source, const std::string& last_pass) {
  return Run(source, {}, &last_pass);
}

const ast::Expr& When(const ast::Policy& p, size_t rule) { return *p.rules.at(rule).when; }

const ast::Expr& EffectExpr(const ast::Policy& p, size_t rule, size_t effect) {
  return *p.rules.at(rule).effects.at(effect).expr;
}

const ast::Expr* FindByText(const ast::Expr& root, const std::string& text) {
  // A parenthesised node's span may include its parentheses.
  if (root.span.file && root.span.end <= root.span.file->text.size()) {
    std::string_view got(root.span.file->text.data() + root.span.begin, root.span.end - root.span.begin);
    if (got == text || got == "(" + text + ")") return &root;
  }
  for (const auto& k : root.kids)
    if (const ast::Expr* f = FindByText(*k, text)) return f;
  return nullptr;
}

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

size_t Count(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

size_t Count(const Checked& c, const std::string& code) {
  size_t n = 0;
  for (const auto& d : c.diags.items()) n += d.code == code;
  return n;
}

}  // namespace tollgate::checktest
