// Reading an upstream's answer as it is relayed (relay.h).
#include "runtime/gateway/internal/relay.h"

#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include "runtime/gateway/internal/http_text.h"
#include "stdlib/builtins.h"

namespace tollgate::gateway::internal {
namespace {

// The members whose text the completion estimate counts when an answer
// comes without usage (docs/gateway.md, *Durability*): a message's or a
// stream delta's `content`, `refusal` and reasoning (`reasoning_content`,
// `reasoning`), a tool call's and a legacy function call's `arguments`, a
// legacy completion's `text`. One list for the non-streamed answer and the
// stream.
bool CountedTextKey(std::string_view key) {
  return key == "content" || key == "arguments" || key == "refusal" || key == "text" ||
         key == "reasoning_content" || key == "reasoning";
}

// The top-level `usage` member's token counts of an upstream answer (a whole
// answer, or one stream chunk), read with rapidjson's SAX reader: no
// document is built for an answer of up to upstream.max_response_bytes.
// Nothing is taken from a body that is not valid JSON.
class UsageReader : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, UsageReader> {
 public:
  // `per_text`: bytes added for each counted string besides its own (1 for
  // a whole answer: the boundary between its texts; 0 for stream chunks,
  // whose strings are pieces of one text).
  explicit UsageReader(int64_t per_text = 1) : per_text_(per_text) {}
  int64_t prompt = -1, completion = -1;
  // Bytes of the answer's text (CountedTextKey, outside `usage`): the
  // estimate without usage.
  int64_t text_bytes = 0;
  // A top-level `choices` array with no element and a `usage` object (a
  // stream's usage chunk).
  bool empty_choices = false, usage_object = false;
  // A top-level `error` member that is not null (a stream's error event,
  // `data: {"error": {...}}`).
  bool error = false;
  // A top-level `choices` array (a chat completion, or a chunk of one).
  bool choices_array = false;
  bool Default() { return Value(); }
  bool String(const char*, rapidjson::SizeType n, bool) {
    if (depth_ == 1 && at_error_) error = true;
    if (!in_usage_ && CountedTextKey(key_)) text_bytes += static_cast<int64_t>(n) + per_text_;
    return true;
  }
  bool Int(int v) { return Number(v); }
  bool Uint(unsigned v) { return Number(v); }
  bool Int64(int64_t v) { return Number(v); }
  bool Uint64(uint64_t v) { return v <= static_cast<uint64_t>(INT64_MAX) ? Number(static_cast<int64_t>(v)) : Value(); }
  bool Key(const char* s, rapidjson::SizeType n, bool) {
    key_.assign(s, n);
    if (depth_ == 1) {
      at_usage_ = key_ == "usage";
      at_choices_ = key_ == "choices";
      at_error_ = key_ == "error";
    }
    return true;
  }
  bool StartObject() {
    if (depth_ == 1 && at_usage_) usage_object = true;
    if (depth_ == 1 && at_error_) error = true;
    in_usage_ = in_usage_ || (depth_ == 1 && at_usage_);
    ++depth_;
    return true;
  }
  bool EndObject(rapidjson::SizeType) {
    if (--depth_ == 1) in_usage_ = false;
    return true;
  }
  bool StartArray() {
    if (depth_ == 1 && at_choices_) choices_array = true;
    ++depth_;
    return true;
  }
  bool EndArray(rapidjson::SizeType n) {
    if (--depth_ == 1 && at_choices_) empty_choices = n == 0;
    return true;
  }

 private:
  bool Value() { return true; }
  bool Number(int64_t v) {
    if (in_usage_ && depth_ == 2) {
      if (key_ == "prompt_tokens") pending_prompt_ = v;
      else if (key_ == "completion_tokens") pending_completion_ = v;
      prompt = pending_prompt_;
      completion = pending_completion_;
    }
    return true;
  }
  int64_t per_text_;
  int depth_ = 0;
  bool at_usage_ = false, in_usage_ = false, at_choices_ = false, at_error_ = false;
  int64_t pending_prompt_ = -1, pending_completion_ = -1;
  std::string key_;
};

}  // namespace

void SseTracker::Feed(std::string_view piece, std::string* out) {
  size_t used = 0;
  for (; used < piece.size() && !ended; ++used) {
    const char c = piece[used];
    if (drop_usage) event.push_back(c);
    if (c == '\n') {
      if (line.empty() || line == "\r") {  // a blank line ends an event
        if (drop_usage && !usage_event) Relay(event, out);
        event.clear();
        usage_event = false;
        ended = done || error_event;
      } else if (line.size() > max_line) {
        // Cut short when it was read: parsing the cut line would count
        // nothing (it is not JSON), as if no text had been delivered.
        if (line.rfind("data:", 0) == 0) {
          line_too_long = data_line = true;
          ++chunks;
        }
      } else {
        Line();
      }
      line.clear();
    } else if (line.size() <= max_line) {
      line.push_back(c);  // one byte over max_line marks the line too long
    }
  }
  if (!drop_usage) {  // whole lines on, the rest held
    const std::string_view read = piece.substr(0, used);
    const size_t nl = read.rfind('\n');
    if (nl == std::string_view::npos) {
      held.append(read);
    } else {
      held.append(read.substr(0, nl + 1));
      Relay(held, out);
      held.assign(read.substr(nl + 1));
    }
  }
  // No end in sight (never a usage chunk): what was read goes on.
  std::string& pending = drop_usage ? event : held;
  if (pending.size() > (1u << 20)) {
    Relay(pending, out);
    pending.clear();
  }
}

void SseTracker::End(std::string* out, bool clean) {
  std::string_view rest = drop_usage ? event : held;
  if (drop_usage && usage_event) rest = {};
  if (!clean && !done && !error_event) rest = rest.substr(0, rest.rfind('\n') + 1);  // npos + 1: nothing
  Relay(rest, out);
  event.clear();
  held.clear();
  if (!ended && at != At::kEventStart) out->append(at == At::kMidLine ? "\n\n" : "\n");
  at = At::kEventStart;
  ended = ended || done || error_event;
}

void SseTracker::Relay(std::string_view bytes, std::string* out) {
  if (bytes.empty()) return;
  out->append(bytes);
  if (bytes.back() != '\n') {
    at = At::kMidLine;
    return;
  }
  // The line the final '\n' ends: blank ends the event.
  const size_t prev = bytes.size() >= 2 ? bytes.rfind('\n', bytes.size() - 2) : std::string_view::npos;
  std::string_view last = bytes.substr(prev == std::string_view::npos ? 0 : prev + 1);
  last.remove_suffix(1);
  const bool blank = (last.empty() || last == "\r") && (prev != std::string_view::npos || at != At::kMidLine);
  at = blank ? At::kEventStart : At::kLineStart;
}

void SseTracker::Line() {
  std::string_view l = line;
  if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
  if (!l.empty() && l.front() == ':') comment_line = true;
  if (l.rfind("data:", 0) != 0) return;
  l.remove_prefix(5);
  data_line = true;
  while (!l.empty() && l.front() == ' ') l.remove_prefix(1);
  if (l == "[DONE]") {
    done = true;
    return;
  }
  ++chunks;
  UsageReader h(0);
  rapidjson::Reader reader;
  rapidjson::MemoryStream ms(l.data(), l.size());
  if (reader.Parse<rapidjson::kParseIterativeFlag>(ms, h).IsError()) return;
  if (h.prompt >= 0) prompt = h.prompt;
  if (h.completion >= 0) completion = h.completion;
  if (h.empty_choices && h.usage_object) usage_event = true;
  if (h.error) error_event = true;
  text_bytes += h.text_bytes;
}

// Whether a Content-Type names JSON (`application/json`, `...+json`, any
// parameters).
bool JsonMediaType(std::string_view type) {
  type = type.substr(0, type.find(';'));
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
  return IEquals(type, "application/json") ||
         (type.size() > 5 && IEquals(type.substr(type.size() - 5), "+json"));
}

// Returns whether `body` is a chat completion (JSON with a top-level
// `choices` array); nothing is taken from one that is not JSON.
bool UsageOf(std::string_view body, Outcome* o) {
  UsageReader h;
  rapidjson::Reader reader;
  rapidjson::MemoryStream ms(body.data(), body.size());
  if (reader.Parse<rapidjson::kParseIterativeFlag>(ms, h).IsError()) return false;  // no recursion: any depth
  if (h.prompt >= 0) o->prompt_tokens = h.prompt;
  if (h.completion >= 0) {
    o->completion_tokens = h.completion;
  } else if (h.text_bytes > 0) {  // no usage (some local servers): estimated from the text
    o->completion_tokens = stdlib::EstimateTokensOfBytes(static_cast<uint64_t>(h.text_bytes));
    o->usage_estimated = true;
  }
  return h.choices_array;
}

}  // namespace tollgate::gateway::internal
