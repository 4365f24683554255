// The worst-case prompt: an upper bound of the prompt tokens a provider can
// bill for a chat request, for budget reservations (docs/budgets.md, "How a
// reservation is computed"). Not an estimate: request.input_tokens and the
// router's `endpoint.estimated_cost` ((bytes + 3) / 4) stay the estimate for
// ranking and for policies; only the ledger reserves this bound.
//
// ## The bound
// A tokenizer never makes more than one token of one byte of text (BPE with
// byte fallback: every token covers at least one byte), so the prompt is
// bounded by the bytes of every text the provider may render into it, plus
// the chat template's own tokens:
//
//   text bytes        the body as minified JSON (keys, strings, numbers,
//                     punctuation): message contents and parts, names,
//                     tool calls, tool / function definitions, response
//                     format schemas... Routing members the gateway strips
//                     (model, models, provider, route, transforms, plugins,
//                     preset) and the media payloads below are left out.
//   + the endpoint's `upstream.body` members merged into the body sent
//     (Upstream::body_bytes)
//   + kPromptBoundPerRequest + kPromptBoundPerMessage x messages
//   + kPromptBoundToolBlock (once, when tools or functions are offered)
//     + kPromptBoundPerTool x tools
//   + kPromptBoundPerImage x image parts (`image_url`, Anthropic-style
//     `source` of an `image` part)
//   + the decoded size in bytes of every `input_audio` part's data
//   a `file` part (or a `source` that is not an image: a document) makes the
//   prompt unbounded by the request alone: a PDF is billed as its extracted
//   text plus an image per page, neither bounded by its byte size.
// Capped by the endpoint's `context_length` (a provider bills no prompt it
// cannot accept); an unbounded prompt is the context length.
//
//   runtime::PromptShape shape;
//   runtime::MeasurePrompt(body, runtime::PromptSource::kBody, &shape);
//   int64_t p = runtime::WorstCasePromptTokens(shape, catalog.endpoint(e));
//
// ## Cost
// One SAX pass over the JSON, no allocation (MeasurePrompt); the gateway
// feeds PromptMeter from the body check it already makes (no second pass).
//
// Thread safety: plain data and functions; a PromptMeter is used by one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "runtime/router/catalog.h"

namespace tollgate::runtime {

// Tokens of the chat template per request (OpenAI primes every reply with
// 3; the rest is margin).
inline constexpr int64_t kPromptBoundPerRequest = 16;
// Tokens of the chat template per message (OpenAI: 3 to 4 for the role and
// the start / end markers; the role's text is counted as bytes).
inline constexpr int64_t kPromptBoundPerMessage = 8;
// Tokens of the tool-use preamble a provider adds once when tools are
// offered (Anthropic documents 159 to 530 for its tool-use system prompt;
// OpenAI's `namespace functions` wrapper is about 20).
inline constexpr int64_t kPromptBoundToolBlock = 1024;
// Tokens of the per-tool wrapper (OpenAI renders each function as
// `type name = (_: {...}) => any;`; its JSON keys are counted as bytes).
inline constexpr int64_t kPromptBoundPerTool = 16;
// Tokens of one image, the most OpenAI documents for a high-detail image:
// gpt-4o-mini bills 2,833 + 5,667 per 512-px tile, and a high-detail image
// (scaled into 2048 x 2048, then its short side to 768 px) has at most
// 2 x 4 = 8 tiles: 2,833 + 8 x 5,667 = 48,169 (gpt-4o: 85 + 8 x 170 = 1,445;
// patch-billed models at most 1,536 patches x 2.46 = 3,779; Anthropic about
// 1,600).
inline constexpr int64_t kPromptBoundPerImage = 48'169;

// What the bound is computed from (MeasurePrompt / PromptMeter).
struct PromptShape {
  bool measured = false;       // false: nothing measured yet
  int64_t text_bytes = 0;      // minified JSON bytes, payloads and routing members left out
  int64_t messages = 0;        // objects of `messages`
  int64_t tools = 0;           // entries of `tools` and `functions`
  int64_t images = 0;          // image parts
  int64_t audio_bytes = 0;     // decoded size of `input_audio` data (base64: 3/4 of its length)
  int64_t files = 0;           // file and document parts: unbounded (the context length)
  int64_t prediction_bytes = 0;  // bytes of `prediction` (billed as completion when rejected)
  bool unparsed = false;       // the JSON did not parse: unbounded
};

// The worst-case prompt tokens of `shape` at `ep` (see the overview); the
// context length when the shape is unbounded or not measured. Saturating.
int64_t WorstCasePromptTokens(const PromptShape& shape, const Endpoint& ep);

// Where the chat body is in the JSON given to MeasurePrompt / PromptMeter.
enum class PromptSource : uint8_t {
  kBody,           // the JSON is the chat-completions body
  kDecisionInput,  // a decision input: the body is its top-level `request`
};

// Measures `json` into *out (reset first). False (and out->unparsed) when it
// is not JSON. Cost: one SAX pass, iterative (any nesting depth).
bool MeasurePrompt(std::string_view json, PromptSource source, PromptShape* out);

// The measuring as SAX events, for a caller that already parses the JSON
// (rapidjson's event order; numbers as their text, kParseNumbersAsStringsFlag).
// Call shape() after the last event.
class PromptMeter {
 public:
  explicit PromptMeter(PromptSource source) : source_(source) { shape_.measured = true; }

  void Null() { Scalar(4); }
  void Bool(bool b) { Scalar(b ? 4 : 5); }
  void Number(size_t text_length) { Scalar(static_cast<int64_t>(text_length)); }
  void String(std::string_view s);
  void Key(std::string_view k);
  void StartObject() { Open(true); }
  void EndObject(size_t members) { Close(members); }
  void StartArray() { Open(false); }
  void EndArray(size_t elements) { Close(elements); }

  const PromptShape& shape() const { return shape_; }

 private:
  enum class Role : uint8_t {
    kNone,        // counted as text
    kOff,         // not sent upstream / not part of the body: not counted
    kInputRoot,   // a decision input's top level
    kBody,
    kMessages, kMessage, kContent, kPart,
    kImage, kAudio, kFile, kSource,  // a part's media object
    kTools,
    kPrediction,
  };
  struct Frame {
    Role role = Role::kNone;
    bool object = false;
    // A content part: what it carries (settled when it closes).
    bool has_image = false, has_file = false, has_source = false, type_image = false;
    int64_t start_bytes = 0;  // text_bytes when a `prediction` opened
    int64_t items = 0;        // counted members / elements so far (their commas)
  };
  // Frames kept for the outermost levels only: every role that matters is
  // at most 7 deep (input > request > messages > message > content > part >
  // media object); deeper containers inherit whether they are counted.
  static constexpr int kFrames = 10;

  // What a member name means inside its object (Key), for the value after it.
  enum class Member : uint8_t { kPlain, kImageUrl, kPayload, kAudioData, kFileRef, kType };

  Frame* Top() { return depth_ >= 1 && depth_ <= kFrames ? &frames_[depth_ - 1] : nullptr; }
  Role TopRole() const;
  Role Next() const;  // the role of the value about to start
  void Comma();       // before a counted member or element of the top frame
  bool InArray() const { return depth_ >= 1 && depth_ <= kFrames && !frames_[depth_ - 1].object; }
  void Scalar(int64_t bytes);
  void Open(bool object);
  void Close(size_t count);

  PromptSource source_;
  PromptShape shape_;
  Frame frames_[kFrames];
  int64_t depth_ = 0;
  bool deep_counted_ = true;  // whether containers deeper than kFrames are counted
  Role pending_ = Role::kNone;          // set by Key: the role of the member's value
  Member member_ = Member::kPlain;      // set by Key
};

}  // namespace tollgate::runtime
