// The version store: every policy version, schema extension, catalog and
// accounts file a decision log has used, content-addressed, inside the audit
// directory (DIR/store/<hex>/manifest.json + files/). A record names its
// versions by id; replay and `audit show` recompile from here, never from
// the working tree.
//
//   audit::StoredObject o;
//   std::string err;
//   if (!audit::LoadObject(dir, "sha256:ab12...", &o, &err)) Fail(err);
//   for (const auto& f : o.files) Print(f.path, f.text);
//
// Ids: a policy's is its version id (engine.h: the hash of the canonical
// source and data documents); any other object's is "sha256:" + the SHA-256
// of its bytes. Objects are written once (write to a temporary name, fsync,
// rename) and never changed; "first_seen" is the time of that write.
//
// Errors: functions return false with *error set (I/O, an unknown id, a
// manifest that does not parse). Thread safety: safe to call concurrently
// (objects are immutable; concurrent puts of one id write identical bytes).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "stdlib/schema.h"

namespace tollgate::audit {

struct StoredFile {
  std::string path;   // relative to the object's files/ directory
  std::string role;   // "source" | "data" | "schema" | "document"
  std::string text;   // filled by LoadObject with `with_text`
};

struct StoredObject {
  std::string id;          // "sha256:..."
  std::string kind;        // "policy" | "schema" | "catalog" | "accounts"
  std::string name;        // policy name, or the file name it came from
  std::string first_seen;  // RFC 3339
  std::string main;        // the file to compile / load (relative path)
  std::vector<StoredFile> files;
};

// Stores `policy` unless present: every source file of it (a composed
// policy's too, role "source", in canonical order), every data document
// (role "data", read again from beside the file that names it) and every
// `schema "x.json"` extension of its header (role "schema", the text the
// compiler read), at their relative places; then recompiles the stored copy
// with `schema` and checks the version id (on a mismatch the copy is removed
// again). Data and schema paths must be relative. Cost: one compile the
// first time, one stat after.
bool PutPolicy(const std::string& dir, const Policy& policy, const stdlib::Schema& schema,
               std::string* id, std::string* error);
// Stores a document (schema extension, catalog, accounts) by content.
bool PutDocument(const std::string& dir, const std::string& kind, const std::string& name,
                 const std::string& bytes, std::string* id, std::string* error);

bool LoadObject(const std::string& dir, const std::string& id, bool with_text, StoredObject* out,
                std::string* error);
// Every object, oldest first (then by id). An object whose manifest is
// missing or does not parse is left out and, when `unreadable` is given, named
// there (one message each, by id). False with *error when DIR/store exists
// but cannot be listed (no store yet: true, nothing listed).
bool ListObjects(const std::string& dir, std::vector<StoredObject>* out, std::string* error,
                 std::vector<std::string>* unreadable = nullptr);

// Compiles stored policy `id` against `schema`. The result's diagnostics
// carry a tg_io_error when the object is missing.
Compiled CompileStored(const std::string& dir, const std::string& id, const stdlib::Schema& schema);

}  // namespace tollgate::audit
