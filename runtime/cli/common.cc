// Shared CLI plumbing (see common.h).
#include "runtime/cli/common.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <system_error>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "runtime/cli/commands.h"
#include "runtime/input/input.h"

namespace tollgate::cli {

Args& Args::Flag(std::string name) {
  specs_.push_back({std::move(name), false, {}, false, {}});
  return *this;
}

Args& Args::Value(std::string name, std::string metavar) {
  specs_.push_back({std::move(name), true, {}, false, {}});
  return *this;
}

Args::Spec* Args::Find(std::string_view name) {
  for (Spec& s : specs_)
    if (s.name == name) return &s;
  return nullptr;
}

const Args::Spec* Args::Find(std::string_view name) const {
  for (const Spec& s : specs_)
    if (s.name == name) return &s;
  return nullptr;
}

int Args::Parse(int argc, char** argv, const char* usage) {
  bool only_positional = false;
  for (int i = 0; i < argc; ++i) {
    std::string_view a = argv[i];
    if (only_positional || a == "-" || !a.starts_with("-")) {
      positional_.emplace_back(a);
      continue;
    }
    if (a == "--") { only_positional = true; continue; }
    if (a == "--help" || a == "-h") {
      std::fputs(usage, stdout);
      return kExitOk;
    }
    std::string_view name = a, inline_value;
    bool has_inline = false;
    if (size_t eq = a.find('='); eq != std::string_view::npos) {
      name = a.substr(0, eq);
      inline_value = a.substr(eq + 1);
      has_inline = true;
    }
    Spec* s = Find(name);
    if (!s) return UsageError("unknown flag `" + std::string(name) + "`", usage);
    s->seen = true;
    if (!s->takes_value) {
      if (has_inline) return UsageError("`" + s->name + "` takes no value", usage);
      continue;
    }
    if (has_inline) {
      s->value = std::string(inline_value);
    } else {
      if (i + 1 >= argc) return UsageError("`" + s->name + "` needs a value", usage);
      s->value = argv[++i];
    }
    s->values.push_back(s->value);
  }
  return -1;
}

bool Args::Has(std::string_view name) const {
  const Spec* s = Find(name);
  return s && s->seen;
}

const std::string& Args::Get(std::string_view name) const {
  static const std::string kEmpty;
  const Spec* s = Find(name);
  return s ? s->value : kEmpty;
}

const std::vector<std::string>& Args::GetAll(std::string_view name) const {
  static const std::vector<std::string> kNone;
  const Spec* s = Find(name);
  return s ? s->values : kNone;
}

int UsageError(const std::string& message, const char* usage) {
  std::fprintf(stderr, "error: %s\n\n%s", message.c_str(), usage);
  return kExitUsage;
}

ReadStatus ReadFile(const std::string& path, size_t max_bytes, std::string* out,
                    std::string* error) {
  std::error_code ec;
  if (path != "-" && std::filesystem::is_directory(path, ec)) {
    *error = "cannot read `" + path + "`: it is a directory";
    return ReadStatus::kError;
  }
  return ReadCapped(path, max_bytes, out, error);
}

bool WriteFile(const std::string& path, std::string_view text, std::string* error) {
  std::string tmp = path + ".tmp-fmt";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) {
      *error = "cannot write `" + path + "`: " + std::strerror(errno);
      return false;
    }
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    if (!out) {
      *error = "cannot write `" + path + "`: " + std::strerror(errno);
      return false;
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    *error = "cannot write `" + path + "`: " + ec.message();
    return false;
  }
  return true;
}

int LoadSchema(const std::string& schema_path, Loaded* out) {
  out->schema = &stdlib::Schema::Standard();
  if (schema_path.empty()) return kExitOk;
  std::string text, error;
  if (ReadFile(schema_path, Limits{}.max_schema_bytes, &text, &error) != ReadStatus::kOk) {
    std::fprintf(stderr, "error: %s\n", error.c_str());
    return kExitIo;
  }
  out->extended = std::make_unique<stdlib::Schema>(stdlib::Schema::Standard());
  if (!out->extended->AddFromJson(text, &error)) {
    std::fprintf(stderr, "error: invalid schema `%s`: %s\n", schema_path.c_str(), error.c_str());
    return kExitFailed;
  }
  out->schema = out->extended.get();
  return kExitOk;
}

int LoadPolicy(const std::string& path, const std::string& schema_path, Loaded* out) {
  return LoadPolicy(std::vector<std::string>{path}, schema_path, out);
}

int LoadCatalog(const std::string& path, const stdlib::Schema& schema, runtime::Catalog* out) {
  runtime::CatalogError cerr;
  if (runtime::Catalog::LoadFile(path, schema, out, &cerr)) return kExitOk;
  std::fprintf(stderr, "error[%s]: %s\n", cerr.code.c_str(), cerr.message.c_str());
  return cerr.code == "catalog_io_error" ? kExitIo : kExitFailed;
}

int LoadPolicy(const std::vector<std::string>& paths, const std::string& schema_path, Loaded* out) {
  std::vector<std::string> files;
  if (paths.size() == 1) {
    std::error_code ec;
    if (std::filesystem::is_directory(paths[0], ec)) {
      if (!CollectPolicyFiles(paths, &files)) return kExitIo;
    } else {
      files = paths;  // a missing file is reported by the compiler (tg_io_error)
    }
  } else if (!CollectPolicyFiles(paths, &files)) {
    return kExitIo;
  }
  if (int rc = LoadSchema(schema_path, out); rc != kExitOk) return rc;
  CompileOptions opts;
  opts.schema = out->schema;
  Compiled c = CompileFiles(files, opts);
  if (!c.diagnostics.empty()) std::fputs(c.diagnostics.Render().c_str(), stderr);
  if (!c.policy) {
    for (const Diagnostic& d : c.diagnostics.items())
      if (d.code == "tg_io_error") return kExitIo;
    return kExitFailed;
  }
  out->policy = std::move(c.policy);
  out->schema = &out->policy->schema();
  return kExitOk;
}

bool CollectPolicyFiles(const std::vector<std::string>& paths, std::vector<std::string>* files) {
  std::vector<std::string> errors;
  const bool ok = ExpandPolicyPaths(paths, files, &errors);
  for (const std::string& e : errors) std::fprintf(stderr, "error: %s\n", e.c_str());
  return ok;
}

int ReadDecisionInput(const Args& args, std::string* out) {
  std::string error;
  const std::string path = args.Get("--request").empty() ? "-" : args.Get("--request");
  // + 3: a byte order mark does not count (DecodeInput skips it).
  ReadStatus rs = ReadFile(path, Limits{}.max_input_bytes + 3, out, &error);
  if (rs == ReadStatus::kOk) return 0;
  if (rs == ReadStatus::kTooLarge) {  // the decoder's own error, without reading it all
    runtime::InputError big{"input_too_large",
                            "decision input is more than the limit of " +
                                std::to_string(Limits{}.max_input_bytes) + " bytes",
                            ""};
    std::printf("%s\n", runtime::InputErrorJson(big).c_str());
    return kExitFailed;
  }
  std::fprintf(stderr, "error: %s\n", error.c_str());
  return kExitIo;
}

std::string JsonQuoted(std::string_view v) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
  std::string out(sb.GetString(), sb.GetSize());
  // rapidjson leaves DEL (0x7F) as it is.
  for (size_t p = 0; (p = out.find('\x7f', p)) != std::string::npos;) out.replace(p, 1, "\\u007f");
  return out;
}

}  // namespace tollgate::cli
