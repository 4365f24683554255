#include "engine/core/sha256.h"
#include "runtime/audit/store.h"

#include <dirent.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "runtime/audit/internal/util.h"

namespace tollgate::audit {
namespace rj = rapidjson;
using internal::DirName;

namespace {

std::string HexOf(const std::string& id) {
  return id.rfind("sha256:", 0) == 0 ? id.substr(7) : id;
}

bool ValidHex(const std::string& hex) {
  if (hex.size() != 64) return false;
  for (char c : hex)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::string ObjectDir(const std::string& dir, const std::string& id) {
  return dir + "/store/" + HexOf(id);
}

bool Exists(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0;
}

// Normalises a relative path ("./a/../b.json" -> "b.json"); counts the
// leading ".." that remain in *up. False for absolute paths.
bool Normalize(const std::string& rel, std::string* out, int* up) {
  if (rel.empty() || rel[0] == '/') return false;
  std::vector<std::string> parts;
  *up = 0;
  size_t i = 0;
  while (i <= rel.size()) {
    size_t j = rel.find('/', i);
    if (j == std::string::npos) j = rel.size();
    std::string p = rel.substr(i, j - i);
    if (p == "..") {
      if (parts.empty()) ++*up;
      else parts.pop_back();
    } else if (!p.empty() && p != ".") {
      parts.push_back(p);
    }
    i = j + 1;
  }
  out->clear();
  for (const std::string& p : parts) *out += (out->empty() ? "" : "/") + p;
  return !out->empty();
}

std::string Manifest(const StoredObject& o, const std::vector<std::string>& hashes) {
  rj::StringBuffer sb;
  rj::Writer<rj::StringBuffer> w(sb);
  w.StartObject();
  w.Key("id"); w.String(o.id.c_str());
  w.Key("kind"); w.String(o.kind.c_str());
  w.Key("name"); w.String(o.name.c_str(), static_cast<rj::SizeType>(o.name.size()));
  w.Key("first_seen"); w.String(o.first_seen.c_str());
  w.Key("main"); w.String(o.main.c_str(), static_cast<rj::SizeType>(o.main.size()));
  w.Key("files");
  w.StartArray();
  for (size_t i = 0; i < o.files.size(); ++i) {
    w.StartObject();
    w.Key("path"); w.String(o.files[i].path.c_str(), static_cast<rj::SizeType>(o.files[i].path.size()));
    w.Key("role"); w.String(o.files[i].role.c_str());
    w.Key("sha256"); w.String(hashes[i].c_str());
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize()) + "\n";
}

// Writes the object into a private temporary directory, then renames it into
// place: readers never see half an object.
bool WriteObject(const std::string& dir, StoredObject o, std::string* error) {
  const std::string final_dir = ObjectDir(dir, o.id);
  if (Exists(final_dir + "/manifest.json")) return true;
  if (!internal::MakeDirs(dir + "/store", error)) return false;
  std::string tmp = dir + "/store/.tmp-" + HexOf(o.id).substr(0, 16) + "-" + std::to_string(getpid());
  o.first_seen = internal::FormatMillis(internal::NowMillis());
  std::vector<std::string> hashes;
  for (const StoredFile& f : o.files) {
    std::string path = tmp + "/files/" + f.path;
    if (!internal::MakeDirs(DirName(path), error)) return false;
    if (!internal::WriteFileDurable(path, f.text, error)) return false;
    hashes.push_back(Sha256Hex(f.text));
  }
  if (!internal::WriteFileDurable(tmp + "/manifest.json", Manifest(o, hashes), error)) return false;
  if (::rename(tmp.c_str(), final_dir.c_str()) != 0) {
    if (Exists(final_dir + "/manifest.json")) {  // another writer won the race
      std::string cmd_error;
      (void)cmd_error;
      return true;
    }
    *error = "cannot store `" + o.id + "`: " + std::strerror(errno);
    return false;
  }
  internal::FsyncDir(dir + "/store");
  return true;
}

}  // namespace

bool PutDocument(const std::string& dir, const std::string& kind, const std::string& name,
                 const std::string& bytes, std::string* id, std::string* error) {
  *id = "sha256:" + Sha256Hex(bytes);
  if (Exists(ObjectDir(dir, *id) + "/manifest.json")) return true;
  StoredObject o;
  o.id = *id;
  o.kind = kind;
  o.name = name;
  o.main = kind + ".json";
  o.files.push_back({o.main, "document", bytes});
  return WriteObject(dir, std::move(o), error);
}

namespace {

// What one source file of a policy needs next to it: its data documents and
// its `schema "x.json"` extensions, by their path relative to it.
struct Doc {
  std::string rel;   // normalised, without leading ".."
  int up = 0;        // leading ".." levels
  std::string role;  // "data" | "schema"
  std::string text;
};

std::string PartName(size_t i, size_t n) {
  std::string digits = std::to_string(i), width = std::to_string(n - 1);
  return "part" + std::string(width.size() - digits.size(), '0') + digits;
}

}  // namespace

bool PutPolicy(const std::string& dir, const Policy& policy, const stdlib::Schema& schema,
               std::string* id, std::string* error) {
  *id = policy.version_id();
  if (Exists(ObjectDir(dir, *id) + "/manifest.json")) return true;
  const ast::Policy& a = policy.ast();
  // The files in the compiler's canonical order: `file`, then `more_files`.
  std::vector<const SourceFile*> sources;
  if (a.file != nullptr) sources.push_back(a.file.get());
  for (const auto& f : a.more_files)
    if (f != nullptr) sources.push_back(f.get());
  if (sources.empty()) {
    *error = "policy `" + policy.name() + "` has no source text to store";
    return false;
  }
  auto owner = [&](const SourceFile* f) -> size_t {
    for (size_t i = 0; i < sources.size(); ++i)
      if (sources[i] == f) return i;
    return 0;  // the checker resolves such paths against the first file
  };
  std::vector<std::vector<Doc>> docs(sources.size());
  auto add = [&](size_t i, const std::string& file, const char* role, std::string text) {
    Doc doc;
    doc.role = role;
    doc.text = std::move(text);
    if (!Normalize(file, &doc.rel, &doc.up)) {
      *error = std::string(role) + " document `" + file +
               "` has an absolute path; the version store keeps relative ones only";
      return false;
    }
    docs[i].push_back(std::move(doc));
    return true;
  };
  for (const ast::DataDecl& d : a.data) {
    const size_t i = owner(d.span.file);
    std::string text;
    if (!internal::ReadWholeFile(DirName(sources[i]->path) + "/" + d.file, &text, error)) return false;
    if (!add(i, d.file, "data", std::move(text))) return false;
  }
  // The extensions' text as the compiler read it (SchemaRef::json).
  for (const ast::SchemaRef& r : a.schemas)
    if (!add(owner(r.span.file), r.file, "schema", r.json)) return false;
  StoredObject o;
  o.id = *id;
  o.kind = "policy";
  o.name = policy.name();
  // One file is stored as it was (files/NAME.tg, its documents beside it).
  // The files of a composed policy each get a subtree (files/partN/...),
  // numbered in canonical order so that the stored paths sort the way the
  // original ones did (the order decides the program and its version id).
  // Documents above a file's directory ("../data/x.json") nest the file deep
  // enough (`_/` levels) that every one lands inside its subtree.
  for (size_t i = 0; i < sources.size(); ++i) {
    const std::string part = sources.size() == 1 ? "" : PartName(i, sources.size()) + "/";
    int depth = 0;
    for (const Doc& d : docs[i]) depth = std::max(depth, d.up);
    std::string prefix;
    for (int k = 0; k < depth; ++k) prefix += "_/";
    std::string path = part + prefix + internal::BaseName(sources[i]->path);
    if (i == 0) o.main = path;
    o.files.push_back({path, "source", sources[i]->text});
    for (Doc& d : docs[i]) {
      std::string p = part + prefix.substr(0, 2 * static_cast<size_t>(depth - d.up)) + d.rel;
      bool dup = false;
      for (const StoredFile& f : o.files) dup = dup || f.path == p;
      if (!dup) o.files.push_back({p, d.role, std::move(d.text)});
    }
  }
  if (!WriteObject(dir, o, error)) return false;
  // The guarantee replay relies on: the stored copy compiles to this version.
  Compiled c = CompileStored(dir, *id, schema);
  if (!c.policy || c.policy->version_id() != *id) {
    std::string why = c.policy ? "it recompiles to " + c.policy->version_id() : c.diagnostics.Render();
    while (!why.empty() && why.back() == '\n') why.pop_back();
    std::error_code ec;  // never leave a copy that does not replay
    std::filesystem::remove_all(ObjectDir(dir, *id), ec);
    *error = "the stored copy of `" + policy.name() + "` does not recompile to " + *id +
             " (did a data document change after the policy was loaded?): " + why;
    return false;
  }
  return true;
}

bool LoadObject(const std::string& dir, const std::string& id, bool with_text, StoredObject* out,
                std::string* error) {
  const std::string hex = HexOf(id);
  if (!ValidHex(hex)) {
    *error = "`" + id + "` is not a version id (sha256:<64 hex digits>)";
    return false;
  }
  std::string text;
  const std::string odir = dir + "/store/" + hex;
  if (!internal::ReadWholeFile(odir + "/manifest.json", &text, error)) {
    *error = "version `" + id + "` is not in the store of `" + dir + "`";
    return false;
  }
  rj::Document doc;
  doc.Parse<rj::kParseIterativeFlag>(text.c_str(), text.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    *error = "the manifest of `" + id + "` does not parse";
    return false;
  }
  auto str = [&](const char* k) -> std::string {
    auto it = doc.FindMember(k);
    return it != doc.MemberEnd() && it->value.IsString() ? it->value.GetString() : std::string();
  };
  *out = StoredObject{};
  out->id = str("id");
  out->kind = str("kind");
  out->name = str("name");
  out->first_seen = str("first_seen");
  out->main = str("main");
  auto files = doc.FindMember("files");
  if (files != doc.MemberEnd() && files->value.IsArray()) {
    for (const auto& f : files->value.GetArray()) {
      if (!f.IsObject() || !f.HasMember("path") || !f["path"].IsString()) continue;
      StoredFile sf;
      sf.path = f["path"].GetString();
      if (f.HasMember("role") && f["role"].IsString()) sf.role = f["role"].GetString();
      if (with_text && !internal::ReadWholeFile(odir + "/files/" + sf.path, &sf.text, error))
        return false;
      out->files.push_back(std::move(sf));
    }
  }
  return true;
}

bool ListObjects(const std::string& dir, std::vector<StoredObject>* out, std::string* error,
                 std::vector<std::string>* unreadable) {
  out->clear();
  if (unreadable != nullptr) unreadable->clear();
  DIR* d = ::opendir((dir + "/store").c_str());
  if (d == nullptr) {
    if (errno == ENOENT) return true;  // nothing stored yet
    *error = "cannot list `" + dir + "/store`: " + std::strerror(errno);
    return false;
  }
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (!ValidHex(name)) continue;
    StoredObject o;
    std::string err;
    if (LoadObject(dir, "sha256:" + name, false, &o, &err)) out->push_back(std::move(o));
    else if (unreadable != nullptr)
      unreadable->push_back(Exists(ObjectDir(dir, "sha256:" + name) + "/manifest.json")
                                ? err
                                : "stored object `sha256:" + name + "` has no manifest");
  }
  ::closedir(d);
  if (unreadable != nullptr) std::sort(unreadable->begin(), unreadable->end());
  std::sort(out->begin(), out->end(), [](const StoredObject& a, const StoredObject& b) {
    return a.first_seen != b.first_seen ? a.first_seen < b.first_seen : a.id < b.id;
  });
  return true;
}

Compiled CompileStored(const std::string& dir, const std::string& id, const stdlib::Schema& schema) {
  StoredObject o;
  std::string error;
  if (!LoadObject(dir, id, false, &o, &error) || o.kind != "policy") {
    Compiled c;
    Diagnostic d;
    d.code = "tg_io_error";
    d.message = error.empty() ? "`" + id + "` is not a policy version" : error;
    d.help = "run `tollgate store list --audit " + dir + "` to see the stored versions";
    c.diagnostics.Add(std::move(d));
    return c;
  }
  CompileOptions opts;
  opts.schema = &schema;
  // Every source file, in the manifest's (canonical) order.
  std::vector<std::string> paths;
  for (const StoredFile& f : o.files)
    if (f.role == "source") paths.push_back(ObjectDir(dir, id) + "/files/" + f.path);
  if (paths.empty()) paths.push_back(ObjectDir(dir, id) + "/files/" + o.main);
  return CompileFiles(paths, opts);
}

}  // namespace tollgate::audit
