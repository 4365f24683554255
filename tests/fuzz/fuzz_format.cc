// libFuzzer target: the formatter. For any text that formats, formatting the
// output again changes nothing (format twice == format once) and the output
// parses to the same AST (ast::Dump) as the input. Built by -DTOLLGATE_FUZZ=ON
// (docs/fuzzing.md).
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <memory>
#include <string>

#include "engine/ast/ast.h"
#include "engine/parse/format.h"
#include "engine/parse/parse.h"

namespace {

std::string DumpOf(const std::string& text) {
  using namespace tollgate;
  Diagnostics d;
  auto p = parse::Parse(std::make_unique<SourceFile>(SourceFile{"f.tg", text}), Limits{}, &d);
  return p ? ast::Dump(*p) : std::string("<no ast>");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tollgate;
  SourceFile in{"f.tg", std::string(reinterpret_cast<const char*>(data), size)};
  Diagnostics diags;
  std::optional<std::string> once = parse::Format(in, &diags);
  (void)diags.Render();
  if (!once) return 0;
  Diagnostics diags2;
  std::optional<std::string> twice = parse::Format(SourceFile{"f.tg", *once}, &diags2);
  if (!twice || *twice != *once) {
    std::fprintf(stderr, "format is not idempotent\n--- once:\n%s\n--- twice:\n%s\n", once->c_str(),
                 twice ? twice->c_str() : "<failed>");
    std::abort();
  }
  if (DumpOf(in.text) != DumpOf(*once)) {
    std::fprintf(stderr, "formatting changed the AST\n--- formatted:\n%s\n", once->c_str());
    std::abort();
  }
  return 0;
}
