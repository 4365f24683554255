// Bare model names rewritten to the catalog's (bare_models.h).
#include "runtime/router/bare_models.h"

#include <rapidjson/reader.h>

#include <algorithm>

#include "stdlib/names.h"

namespace tollgate::runtime {

namespace rj = rapidjson;

void ModelNameSpans::String(size_t n) {
  const bool name = InBody() && ((depth_ == BodyDepth() && at_model_) ||
                                 (depth_ == BodyDepth() + 1 && in_models_));
  if (name) {
    // The string just read (n bytes decoded) ends at the stream's position;
    // it was written without escapes when its opening quote is the first
    // byte after the previous token that is not a separator (`:`, `,`, `[`,
    // whitespace) and exactly n bytes precede the closing quote.
    const char* text = is_.begin_;
    const size_t close = is_.Tell() - 1;
    size_t q = after_;
    auto separator = [](char c) {
      return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ':' || c == ',' || c == '[';
    };
    while (q < close && separator(text[q])) ++q;
    if (text[q] == '"' && q + 1 + n == close) spans.push_back({q + 1, n});
  }
  Default();
}

void ModelNameSpans::Key(std::string_view k) {
  if (depth_ == 1) at_request_ = k == "request";
  if (InBody() && depth_ == BodyDepth()) {
    at_model_ = k == "model";
    at_models_ = k == "models";
  }
  after_ = is_.Tell();
}

void ModelNameSpans::StartObject() {
  if (where_ == Where::kDecisionInput && depth_ == 1) in_request_ = at_request_;
  ++depth_;
  Default();
}

void ModelNameSpans::EndObject() {
  if (--depth_ <= 1) in_request_ = false;
  if (depth_ <= BodyDepth()) in_models_ = false;
  Default();
}

void ModelNameSpans::StartArray() {
  if (InBody() && depth_ == BodyDepth()) in_models_ = at_models_;
  ++depth_;
  Default();
}

void ModelNameSpans::EndArray() {
  if (--depth_ <= BodyDepth()) in_models_ = false;
  Default();
}

void ResolveBareModels(const Catalog& catalog, const std::vector<ModelNameSpans::Span>& names,
                       std::string* text) {
  for (auto it = names.rbegin(); it != names.rend(); ++it) {
    const stdlib::ModelName m = stdlib::SplitModel(std::string_view(*text).substr(it->begin, it->size));
    const std::string_view id = catalog.BareModel(m.id);
    if (id.empty()) continue;
    std::string full(id);
    if (!m.variant.empty()) full.append(":").append(m.variant);
    text->replace(it->begin, it->size, full);
  }
}

namespace {

// ModelNameSpans as a SAX handler on its own.
class InputNames : public rj::BaseReaderHandler<rj::UTF8<>, InputNames> {
 public:
  explicit InputNames(const rj::MemoryStream& is) : names(is, ModelNameSpans::Where::kDecisionInput) {}
  bool Null() { return names.Null(), true; }
  bool Bool(bool) { return names.Bool(), true; }
  bool RawNumber(const char*, rj::SizeType, bool) { return names.RawNumber(), true; }
  bool String(const char*, rj::SizeType n, bool) { return names.String(n), true; }
  bool Key(const char* s, rj::SizeType n, bool) { return names.Key(std::string_view(s, n)), true; }
  bool StartObject() { return names.StartObject(), true; }
  bool EndObject(rj::SizeType) { return names.EndObject(), true; }
  bool StartArray() { return names.StartArray(), true; }
  bool EndArray(rj::SizeType) { return names.EndArray(), true; }
  ModelNameSpans names;
};

// The model name spans of a decision input; false when it does not parse.
bool InputNameSpans(std::string_view input, std::vector<ModelNameSpans::Span>* out) {
  rj::MemoryStream is(input.data(), input.size());
  InputNames h(is);
  rj::Reader reader;
  constexpr unsigned kFlags = rj::kParseIterativeFlag | rj::kParseNumbersAsStringsFlag;
  if (reader.Parse<kFlags>(is, h).IsError()) return false;
  *out = std::move(h.names.spans);
  return true;
}

}  // namespace

void ResolveBareModelsInInput(const Catalog& catalog, std::string* input) {
  std::vector<ModelNameSpans::Span> spans;
  if (InputNameSpans(*input, &spans)) ResolveBareModels(catalog, spans, input);
}

std::vector<std::string> BareModelNamesInInput(std::string_view input) {
  std::vector<ModelNameSpans::Span> spans;
  std::vector<std::string> out;
  if (!InputNameSpans(input, &spans)) return out;
  for (const ModelNameSpans::Span& s : spans) {
    const std::string_view name = input.substr(s.begin, s.size);
    if (name.empty() || name.find('/') != std::string_view::npos) continue;
    if (std::find(out.begin(), out.end(), name) == out.end()) out.emplace_back(name);
  }
  return out;
}

}  // namespace tollgate::runtime
