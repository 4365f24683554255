// The embedding API (engine.h): parse -> check -> compile.
#include "engine/engine.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "engine/check/check.h"
#include "engine/compile/compile.h"
#include "engine/parse/parse.h"

namespace tollgate {

Policy::Policy(std::unique_ptr<ast::Policy> ast, std::unique_ptr<vm::Program> program,
               const stdlib::Schema* schema)
    : ast_(std::move(ast)), program_(std::move(program)), schema_(schema) {}
Policy::~Policy() = default;

const std::string& Policy::name() const { return program_->name(); }
const std::string& Policy::version_id() const { return program_->version_id(); }

namespace {

std::string DirOf(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Diagnostic IoError(const std::string& path, const std::string& message) {
  Diagnostic d;
  d.code = "tg_io_error";
  d.message = message;
  d.help = "check that `" + path + "` exists and is readable";
  return d;
}

}  // namespace

Compiled CompileSource(const std::string& path, std::string text, const CompileOptions& options) {
  Compiled out;
  try {
    const stdlib::Schema& schema = options.schema ? *options.schema : stdlib::Schema::Standard();
    auto file = std::make_unique<SourceFile>(SourceFile{path, std::move(text)});
    std::unique_ptr<ast::Policy> policy = parse::Parse(std::move(file), options.limits, &out.diagnostics);
    // A non-null AST may still carry value errors (parse.h): the checker runs
    // anyway so that one run reports every error of the file, and nothing
    // with an error is compiled.
    if (policy != nullptr) {
      check::CheckOptions co;
      co.schema = &schema;
      co.base_dir = DirOf(path);
      co.limits = options.limits;
      if (check::Check(policy.get(), co, &out.diagnostics) && !out.diagnostics.HasErrors()) {
        std::unique_ptr<vm::Program> program =
            compile::Compile(*policy, schema, options.limits, &out.diagnostics,
                             options.scan_engine);
        if (program != nullptr && !out.diagnostics.HasErrors()) {
          out.policy = std::make_shared<const Policy>(std::move(policy), std::move(program), &schema);
        }
      }
    }
    // Diagnostics point into the source: keep it alive when the policy is dropped.
    if (out.policy == nullptr && policy != nullptr && policy->file != nullptr) {
      out.diagnostics.KeepAlive(std::shared_ptr<const SourceFile>(std::move(policy->file)));
    }
  } catch (const std::exception& e) {
    out.diagnostics.Error("tg_internal_error", Span{}, std::string("compile failed: ") + e.what());
    out.policy = nullptr;
  }
  out.diagnostics.Sort();
  return out;
}

Compiled CompileFile(const std::string& path, const CompileOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    Compiled out;
    out.diagnostics.Add(IoError(path, "cannot open `" + path + "`: " + std::strerror(errno)));
    return out;
  }
  std::string text;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<size_t>(in.gcount()));
    if (text.size() > options.limits.max_source_bytes) {
      Compiled out;
      Diagnostic d = IoError(path, "`" + path + "` is larger than the limit of " +
                                       std::to_string(options.limits.max_source_bytes) + " bytes");
      d.code = "tg_limit_exceeded";
      d.help = "split the policy or raise Limits::max_source_bytes";
      out.diagnostics.Add(std::move(d));
      return out;
    }
  }
  if (in.bad()) {
    Compiled out;
    out.diagnostics.Add(IoError(path, "cannot read `" + path + "`"));
    return out;
  }
  return CompileSource(path, std::move(text), options);
}

}  // namespace tollgate
