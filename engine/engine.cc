// The embedding API (engine.h): parse -> check -> compile.
#include "engine/engine.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "engine/check/check.h"
#include "engine/compile/compile.h"
#include "engine/core/read_file.h"
#include "engine/parse/parse.h"

namespace tollgate {

Policy::Policy(std::unique_ptr<ast::Policy> ast, std::unique_ptr<vm::Program> program,
               const stdlib::Schema* schema, std::shared_ptr<const stdlib::Schema> owned)
    : ast_(std::move(ast)), program_(std::move(program)), schema_(schema),
      owned_schema_(std::move(owned)) {}
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

namespace {

template <typename T>
void MoveAll(std::vector<T>* from, std::vector<T>* to) {
  for (T& x : *from) to->push_back(std::move(x));
  from->clear();
}

// Appends `part`'s declarations to `into` (files in canonical order). The
// headers must name the same policy.
void Merge(ast::Policy* into, std::unique_ptr<ast::Policy> part, Diagnostics* diags) {
  if (part->name != into->name) {
    diags->ErrorWithNote(
        "tg_composition_error", part->name_span,
        "this file is part of policy `" + part->name + "`, the others of `" + into->name + "`",
        "every file of one policy starts with the same header: `policy \"" + into->name + "\"`",
        into->name_span, "the first file names the policy `" + into->name + "`");
  }
  // `retain content ...` (docs/audit.md): stated once, or the same in every file that states it.
  if (part->retain_span.file != nullptr) {
    if (into->retain_span.file == nullptr) {
      into->retain = part->retain;
      into->retain_span = part->retain_span;
    } else if (into->retain != part->retain) {
      diags->ErrorWithNote("tg_composition_error", part->retain_span,
                           std::string("this file retains content `") + ast::RetentionName(part->retain) +
                               "`, another file of the policy `" + ast::RetentionName(into->retain) + "`",
                           "state `retain content` in one file, or the same in every file",
                           into->retain_span, "the other `retain content` is here");
    }
  }
  MoveAll(&part->schemas, &into->schemas);
  MoveAll(&part->consts, &into->consts);
  MoveAll(&part->lets, &into->lets);
  MoveAll(&part->data, &into->data);
  MoveAll(&part->rules, &into->rules);
  MoveAll(&part->budgets, &into->budgets);
  MoveAll(&part->limits, &into->limits);
  MoveAll(&part->fixtures, &into->fixtures);
  MoveAll(&part->tests, &into->tests);
  into->more_files.push_back(std::move(part->file));
  MoveAll(&part->more_files, &into->more_files);
  into->more_arenas.push_back(std::move(part->arena));
  MoveAll(&part->more_arenas, &into->more_arenas);
}

// Applies the `schema "x.json"` headers: the base schema extended by each
// file (relative to the policy file naming it). Null when there is none;
// errors go to *diags.
std::shared_ptr<stdlib::Schema> ExtendSchema(ast::Policy* policy, const stdlib::Schema& base,
                                             Diagnostics* diags) {
  if (policy->schemas.empty()) return nullptr;
  auto schema = std::make_shared<stdlib::Schema>(base);
  bool ok = true;
  for (ast::SchemaRef& r : policy->schemas) {
    std::string path = r.file;
    if (!path.empty() && path[0] != '/' && r.span.file != nullptr) {
      std::string dir = DirOf(r.span.file->path);
      path = dir == "." ? path : dir + "/" + path;
    }
    std::string why;
    if (ReadCapped(path, Limits{}.max_schema_bytes, &r.json, &why) != ReadStatus::kOk) {
      diags->Error("tg_schema_error", r.span,
                   "cannot read schema extension `" + r.file + "`: " + why,
                   "the path is relative to the policy file's directory");
      ok = false;
      continue;
    }
    std::string error;
    if (!schema->MergeFromJson(r.json, &error)) {
      diags->Error("tg_schema_error", r.span, "invalid schema extension `" + r.file + "`: " + error,
                   "an extension adds fields to the standard schema; two extensions (or "
                   "--schema) may repeat a field only with the same definition");
      ok = false;
    }
  }
  return ok ? schema : nullptr;
}

}  // namespace

Compiled CompileSources(std::vector<SourceText> sources, const CompileOptions& options) {
  Compiled out;
  std::unique_ptr<ast::Policy> policy;
  try {
    std::stable_sort(sources.begin(), sources.end(),
                     [](const SourceText& a, const SourceText& b) { return a.path < b.path; });
    sources.erase(std::unique(sources.begin(), sources.end(),
                              [](const SourceText& a, const SourceText& b) { return a.path == b.path; }),
                  sources.end());
    if (sources.empty()) {
      out.diagnostics.Error("tg_io_error", Span{}, "no policy files", "name at least one `.tg` file");
      return out;
    }
    const stdlib::Schema& base = options.schema ? *options.schema : stdlib::Schema::Standard();
    bool parsed = true;
    for (SourceText& src : sources) {
      auto file = std::make_unique<SourceFile>(SourceFile{src.path, std::move(src.text)});
      std::unique_ptr<ast::Policy> part = parse::Parse(std::move(file), options.limits, &out.diagnostics);
      if (part == nullptr) {
        parsed = false;
      } else if (policy == nullptr) {
        policy = std::move(part);
      } else {
        Merge(policy.get(), std::move(part), &out.diagnostics);
      }
    }
    // A non-null AST may still carry value errors (parse.h): the checker runs
    // anyway so that one run reports every error of the files, and nothing
    // with an error is compiled.
    if (policy != nullptr && parsed) {
      std::shared_ptr<stdlib::Schema> extended = ExtendSchema(policy.get(), base, &out.diagnostics);
      const stdlib::Schema& schema = extended ? *extended : base;
      check::CheckOptions co;
      co.schema = &schema;
      co.base_dir = DirOf(sources.front().path);
      co.limits = options.limits;
      if (check::Check(policy.get(), co, &out.diagnostics) && !out.diagnostics.HasErrors()) {
        std::unique_ptr<vm::Program> program =
            compile::Compile(*policy, schema, options.limits, &out.diagnostics,
                             options.scan_engine);
        if (program != nullptr && !out.diagnostics.HasErrors()) {
          out.policy = std::make_shared<const Policy>(std::move(policy), std::move(program), &schema,
                                                      std::move(extended));
        }
      }
    }
  } catch (...) {
    // No exception leaves the engine (bad_alloc included): it becomes a
    // diagnostic. `policy` lives outside the try block, so the files the
    // diagnostics point into are kept alive below.
    out.policy = nullptr;
    try {
      throw;
    } catch (const std::bad_alloc&) {
      out.diagnostics.Error("tg_limit_exceeded", Span{}, "out of memory while compiling the policy",
                            "split the policy into smaller files");
    } catch (const std::exception& e) {
      out.diagnostics.Error("tg_internal_error", Span{}, std::string("compile failed: ") + e.what(),
                            "this is a bug in tollgate; please report it with the policy file");
    } catch (...) {
      out.diagnostics.Error("tg_internal_error", Span{}, "compile failed",
                            "this is a bug in tollgate; please report it with the policy file");
    }
  }
  // Diagnostics point into the sources: keep them alive when the policy is dropped.
  try {
    if (out.policy == nullptr && policy != nullptr) {
      if (policy->file != nullptr)
        out.diagnostics.KeepAlive(std::shared_ptr<const SourceFile>(std::move(policy->file)));
      for (auto& f : policy->more_files)
        if (f != nullptr) out.diagnostics.KeepAlive(std::shared_ptr<const SourceFile>(std::move(f)));
    }
    out.diagnostics.Sort();
  } catch (...) {
    // Out of memory while keeping the sources: the diagnostics may point into
    // files about to be freed, so they are replaced by one that points nowhere.
    out.policy = nullptr;
    out.diagnostics = Diagnostics{};
    try {
      out.diagnostics.Error("tg_limit_exceeded", Span{}, "out of memory while compiling the policy",
                            "split the policy into smaller files");
    } catch (...) {
    }
  }
  return out;
}

Compiled CompileSource(const std::string& path, std::string text, const CompileOptions& options) {
  std::vector<SourceText> one;
  try {
    one.push_back({path, std::move(text)});
  } catch (...) {
    Compiled out;
    try {
      out.diagnostics.Error("tg_limit_exceeded", Span{}, "out of memory while compiling the policy",
                            "split the policy into smaller files");
    } catch (...) {
    }
    return out;
  }
  return CompileSources(std::move(one), options);
}

// Reads one policy file, never more than max_source_bytes (engine/core/read_file.h).
static bool ReadSource(const std::string& path, const CompileOptions& options, std::string* text,
                       Compiled* out) {
  std::string why;
  switch (ReadCapped(path, options.limits.max_source_bytes, text, &why)) {
    case ReadStatus::kOk:
      return true;
    case ReadStatus::kTooLarge: {
      Diagnostic d = IoError(path, why);
      d.code = "tg_limit_exceeded";
      d.help = "split the policy or raise Limits::max_source_bytes";
      out->diagnostics.Add(std::move(d));
      return false;
    }
    case ReadStatus::kError:
      break;
  }
  out->diagnostics.Add(IoError(path, why));
  return false;
}

Compiled CompileFiles(const std::vector<std::string>& paths, const CompileOptions& options) {
  Compiled out;
  std::vector<SourceText> sources;
  for (const std::string& p : paths) {
    std::string text;
    if (ReadSource(p, options, &text, &out)) sources.push_back({p, std::move(text)});
  }
  if (out.diagnostics.HasErrors()) return out;
  return CompileSources(std::move(sources), options);
}

Compiled CompileFile(const std::string& path, const CompileOptions& options) {
  return CompileFiles({path}, options);
}

}  // namespace tollgate
