// RE2::Set implementation of the Scanner interface (see scan.h).
#include "engine/vm/scan.h"

#include <re2/re2.h>
#include <re2/set.h>

#include <algorithm>

namespace tollgate::vm {

namespace {

RE2::Options PatternOptions() {
  RE2::Options o;
  o.set_log_errors(false);
  // Large alternations of many rules' patterns need a larger DFA budget than
  // RE2's default; the per-pattern program size is bounded by the checker
  // (Limits::max_regex_program_size).
  o.set_max_mem(64 << 20);
  return o;
}

}  // namespace

struct Scanner::Impl {
  explicit Impl(const RE2::Options& o) : set(o, RE2::UNANCHORED) {}
  RE2::Set set;
};

Scanner::Scanner(std::unique_ptr<Impl> impl, size_t size) : impl_(std::move(impl)), size_(size) {}
Scanner::~Scanner() = default;

std::unique_ptr<Scanner> Scanner::Build(const std::vector<std::string>& patterns,
                                        std::string* error) {
  if (patterns.empty()) {
    *error = "empty pattern set";
    return nullptr;
  }
  auto impl = std::make_unique<Impl>(PatternOptions());
  for (const std::string& p : patterns) {
    std::string e;
    if (impl->set.Add(p, &e) < 0) {
      *error = "invalid pattern `" + p + "`: " + e;
      return nullptr;
    }
  }
  if (!impl->set.Compile()) {
    *error = "pattern set too large to compile";
    return nullptr;
  }
  return std::unique_ptr<Scanner>(new Scanner(std::move(impl), patterns.size()));
}

bool Scanner::Scan(std::string_view text, std::vector<int>* ids) const {
  ids->clear();
  RE2::Set::ErrorInfo info;
  bool any = impl_->set.Match(re2::StringPiece(text.data(), text.size()), ids, &info);
  if (!any) {
    ids->clear();
    return info.kind == RE2::Set::kNoError || info.kind == RE2::Set::kInconsistent;
  }
  std::sort(ids->begin(), ids->end());
  return true;
}

std::unique_ptr<re2::RE2> CompilePattern(std::string_view pattern, std::string* error) {
  auto re = std::make_unique<RE2>(re2::StringPiece(pattern.data(), pattern.size()),
                                  PatternOptions());
  if (!re->ok()) {
    *error = re->error();
    return nullptr;
  }
  return re;
}

bool MatchValidated(const re2::RE2& re, stdlib::Validator validator, std::string_view text) {
  re2::StringPiece input(text.data(), text.size());
  if (validator == nullptr) return re.Match(input, 0, input.size(), RE2::UNANCHORED, nullptr, 0);
  size_t pos = 0;
  re2::StringPiece m;
  while (pos <= input.size() && re.Match(input, pos, input.size(), RE2::UNANCHORED, &m, 1)) {
    if (validator(std::string_view(m.data(), m.size()))) return true;
    size_t end = static_cast<size_t>(m.data() - input.data()) + m.size();
    pos = m.empty() ? end + 1 : end;
  }
  return false;
}

}  // namespace tollgate::vm
