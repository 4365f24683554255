// The catalog's and the accounts' loading share one shape:
//
// LoadCappedFile (Catalog::LoadFile, Accounts::LoadFile) reads a capped file,
// then loads its text: `<what>_too_large` and `<what>_io_error` for the read
// (ReadCapped's message names the path), the loader's own code for the rest
// with "PATH: " in front of its message.
//
//   return internal::LoadCappedFile(path, Limits{}.max_catalog_bytes, "catalog", error,
//                                   [&](std::string_view text) { return Load(text, schema, out, error); });
//
// ParseJsonText parses the text as both parse it.
//
// Thread safety: reentrant.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include "engine/core/json_text.h"
#include "engine/core/read_file.h"

namespace tollgate::runtime::internal {

// `Error` has std::string members `code` and `message`; `load(text)` fills
// *error and returns false on failure. Cost: one read of at most
// max_bytes + 1 bytes, then the loader's.
template <typename Error, typename LoadText>
bool LoadCappedFile(const std::string& path, size_t max_bytes, std::string_view what, Error* error,
                    LoadText&& load) {
  std::string text, why;
  switch (ReadCapped(path, max_bytes, &text, &why)) {
    case ReadStatus::kOk: break;
    case ReadStatus::kTooLarge:
      error->code = std::string(what) + "_too_large";
      error->message = why;
      return false;
    case ReadStatus::kError:
      error->code = std::string(what) + "_io_error";
      error->message = why;
      return false;
  }
  if (!load(std::string_view(text))) {
    // (An I/O message already names the path.)
    if (error->code != std::string(what) + "_io_error") error->message = path + ": " + error->message;
    return false;
  }
  return true;
}

// Numbers kept as strings (exact money), encoding validated, iterative (no
// recursion on deep nesting), no member name repeated in an object. False
// with *message: "lone surrogate escape at byte N", "malformed JSON at byte
// N: <rapidjson's reason>" or "duplicate key `K` at `PATH`" (json_text.h).
inline bool ParseJsonText(std::string_view json, rapidjson::Document* doc, std::string* message) {
  if (size_t bad = FindLoneSurrogateEscape(json); bad != std::string_view::npos) {
    *message = "lone surrogate escape at byte " + std::to_string(bad);
    return false;
  }
  doc->Parse<rapidjson::kParseNumbersAsStringsFlag | rapidjson::kParseValidateEncodingFlag |
             rapidjson::kParseIterativeFlag>(json.data(), json.size());
  if (doc->HasParseError()) {
    *message = "malformed JSON at byte " + std::to_string(doc->GetErrorOffset()) + ": " +
               rapidjson::GetParseError_En(doc->GetParseError());
    return false;
  }
  if (DuplicateKey dup; FindDuplicateKey(*doc, &dup)) {
    *message = dup.Message();
    return false;
  }
  return true;
}

}  // namespace tollgate::runtime::internal
