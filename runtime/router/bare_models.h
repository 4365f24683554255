// Bare model names (docs/gateway.md, "Model names"): the catalog names
// models `author/name` (`openai/gpt-4o`), but an application written for one
// provider sends the bare name (`gpt-4o`). A bare `model`, or a bare entry of
// `models`, that names exactly one catalog model (Catalog::BareModel) is
// rewritten to that model's id, variant kept (`gpt-4o:nitro` becomes
// `openai/gpt-4o:nitro`), before anything reads the request: the policy
// (`request.model`), the router and the decision record all see the
// catalog's name. A name written with JSON escapes is left as sent.
//
// The one rewrite the gateway (a chat body, read in the same SAX pass as its
// other checks: ModelNameSpans inside gateway::CheckRequestBody) and the
// command line (`tollgate eval --catalog`, `tollgate route`: a decision
// input, ResolveBareModelsInInput) share, so both decide alike.
//
//   std::string input = R"({"request": {"model": "gpt-4o", "messages": []}})";
//   ResolveBareModelsInInput(catalog, &input);  // "model": "openai/gpt-4o"
//
// Thread safety: ModelNameSpans is one reader's; the functions are pure.
#pragma once

#include <rapidjson/memorystream.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/router/catalog.h"

namespace tollgate::runtime {

// Notes, as a rapidjson SAX reader reads a document from `is` (a
// MemoryStream read in place, so Tell() in a callback is the position after
// the token just read), the spans of the strings of the request's `model`
// and `models` entries written without escapes. Call each method from the
// handler's callback of the same name. `where`: the document is a chat body,
// or a decision input whose `request` member is one.
class ModelNameSpans {
 public:
  enum class Where { kChatBody, kDecisionInput };
  struct Span {
    size_t begin, size;  // the name's bytes, inside its quotes
  };
  ModelNameSpans(const rapidjson::MemoryStream& is, Where where) : is_(is), where_(where) {}

  void Null() { Default(); }
  void Bool() { Default(); }
  void RawNumber() { Default(); }
  void String(size_t n);
  void Key(std::string_view k);
  void StartObject();
  void EndObject();
  void StartArray();
  void EndArray();

  std::vector<Span> spans;

 private:
  void Default() {
    at_model_ = false;
    after_ = is_.Tell();
  }
  bool InBody() const { return where_ == Where::kChatBody || in_request_; }
  int BodyDepth() const { return where_ == Where::kChatBody ? 1 : 2; }

  const rapidjson::MemoryStream& is_;
  Where where_;
  size_t after_ = 0;  // the stream's position after the previous token
  int depth_ = 0;
  bool at_request_ = false, in_request_ = false;
  bool at_model_ = false, at_models_ = false, in_models_ = false;
};

// Replaces each span of `names` (increasing, as ModelNameSpans notes them)
// that names one catalog model by that model's id, variant kept; back to
// front, so that earlier spans stay valid. Cost: one hash lookup per name.
void ResolveBareModels(const Catalog& catalog, const std::vector<ModelNameSpans::Span>& names,
                       std::string* text);

// The rewrite for a decision input (`{"request": {"model": ...}}`), in
// place. An input that does not parse is left alone (the decoder reports
// it). Cost: one SAX pass.
void ResolveBareModelsInInput(const Catalog& catalog, std::string* input);

// The bare names (no `/`) of a decision input's `request.model` and
// `request.models`, each once, in document order: what the gateway would
// look up in its catalog. Cost: one SAX pass.
std::vector<std::string> BareModelNamesInInput(std::string_view input);

}  // namespace tollgate::runtime
