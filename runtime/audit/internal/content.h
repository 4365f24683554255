// Retention and credential scrubbing of decision inputs (log.h "Retention
// and credentials"), the inverse used by replay, and raw member spans of a
// record line. All streaming (rapidjson SAX): numbers keep their exact text.
// Not API. Thread safety: reentrant.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/ast/ast.h"
#include "runtime/audit/reader.h"
#include "stdlib/schema.h"

namespace tollgate::audit::internal {

// The record format of retained content: 1 (records without "format"):
// message texts and function.arguments of tool calls are the texts; 2 (the
// writer's): also custom.input of tool calls, a message's deprecated
// function_call.arguments and a message's refusal, and every other member
// outside the allow-list is omitted (docs/audit.md "Retention"); 3: also a
// message's name, the prediction's text, tool and function descriptions,
// response_format.json_schema's name and description, and the schema texts
// of tool parameters and the response schema (runtime/input/request_texts.h);
// 4 (the writer's): also every string, at any depth, of the body's and the
// messages' members tollgate does not know (request_texts.h 3.: `documents`,
// `prompt`, `metadata`, a message's `reasoning_content`, ...), which formats
// 1-3 replaced whole; their member names are masked; 5 (the writer's):
// also every string of a content part that request_texts.h reads besides
// its `text` (a document's text source, a tool_result's content, a
// tool_use's input, thinking, citations, any other member but the type, ids
// and media payloads: PartTexts), which formats 1-4 replaced whole; a
// base64 or URL `source`'s payload is a text of the record too (replay's
// filler is skipped as the payload was), and a part's and a source's type
// are kept when one of the known ones; 6 (the writer's): also every string
// of the body's `user`, `stop`, `safety_identifier` and `prompt_cache_key`
// (kTextsSince6), which request_texts.h read as parameters before and
// formats 1-5 replaced whole.
inline constexpr int kContentFormat = 6;
// The body members whose strings are texts from content format 6 on
// (request_texts.h knew them as parameters before: kBodyMembers).
inline constexpr std::string_view kTextsSince6[] = {"prompt_cache_key", "safety_identifier", "stop",
                                                    "user"};

// The entries a record lists one by one in each of `content.omitted` (the
// replaced values), `content.hmac` (the texts' HMACs, under hash) and
// `content.scrubbed` (the credentials cut out): at most kMaxListed of each,
// and in `omitted` and `scrubbed` paths only until kMaxListedPathBytes of
// them were listed (a path names the members above it, kept or masked, so
// a long member name repeats in every path below it). The ones after them,
// in document order, are summed up in `content.omitted_rest` ({"count",
// "bytes", "hmac"}), `content.hmac_rest` ({"count", "hmac"}) and
// `content.scrubbed_rest` (a count) (docs/audit.md "Retention"), so that a
// record stays within a small multiple of its input: a schema with an enum
// of 200,000 numbers listed 200,000 paths and HMACs, ~25 times the input;
// 100,000 one-character strings 100,000 HMACs, ~18 times. `lengths` is
// never cut (replay needs each; an entry is never longer than its text was
// in the input). audit::Options::max_listed and max_listed_path_bytes,
// docs/limits.md.
inline constexpr size_t kMaxListed = 1000;
inline constexpr size_t kMaxListedPathBytes = 64u << 10;
struct ListLimits {
  size_t max_listed = kMaxListed;
  size_t max_path_bytes = kMaxListedPathBytes;
};

// The allow-list of `retain content hash|none` for one schema (docs/audit.md
// "Retention"): a tree over member names and array elements, compiled from
// content.cc's rules (the chat body's identifiers and texts) and the
// schema's fields. Immutable once built; shared by the records of a Subject.
struct AllowList {
  // What a string, number or bool at a node becomes.
  enum class Scalar : uint8_t {
    kOmit,  // an empty placeholder of its type; path, size (and HMAC) in content.omitted
    kKeep,  // as received (an identifier: a name, an id, a type)
    kEnum,  // as received when a string among `values`, else omitted
    kNum,   // as received when a number or a bool, else omitted
    kText,  // a text: "" with its length (and HMAC) in content.lengths
    kMask,  // a name inside a schema: as many underscores as it has bytes
  };
  struct Node {
    bool field = false;    // a schema field: kept whole, as received
    bool rule = false;     // a rule says what it becomes (scalar, open)
    bool open = false;     // an object or array here is walked (else omitted)
    Scalar scalar = Scalar::kOmit;
    std::string_view values;  // kEnum: the strings kept, space-separated
    int since = 1;            // kText: the content format from which it is a text
    std::vector<std::pair<std::string, int>> members;  // member name -> node
    int any = -1;      // any other member (`*`)
    int element = -1;  // an array element (`[]`)
  };
  std::vector<Node> nodes;  // nodes[0]: the document
  // The recursive nodes of a tool's or response's JSON schema: its texts,
  // and the values below a name keyword (`type`, `required`, ...). Member
  // names of objects at either are masked unless they are such a keyword.
  int schema_node = -1, name_node = -1;
  // The node of every member of the body and of a message that
  // runtime/input/request_texts.h does not know, and of all below it: its
  // strings are texts (since format 4), its member names masked.
  int unknown_node = -1;
  // The node of a content part's members other than its type, `text`,
  // `refusal`, `source`, `content` and kPartSkipped (request_texts.h
  // PartTexts), and of all below them: strings texts (since format 5),
  // member names masked.
  int part_unknown_node = -1;

  // The node of member `name` (or of an element) below `node`; -1 = none.
  int Member(int node, std::string_view name) const;
  int Element(int node) const { return node < 0 ? -1 : nodes[node].element; }

  static std::shared_ptr<const AllowList> Of(const stdlib::Schema& schema);
  static const AllowList& Standard();  // Of(Schema::Standard())
};

// Rewrites the decision input `raw` (valid JSON, as decoded) for a record:
// one line, credentials removed, content kept per `retain`: with `full`
// everything; with `hash`/`none` what `allow` (null: the standard schema's)
// keeps as received -- schema fields and the chat body's identifiers --
// each text (message content, tool-call arguments) as "" with its length
// (and, for `hash`, its HMAC-SHA-256 under `hmac_key`), every other value
// as an empty placeholder of its JSON type with its path and size (and
// HMAC) -- the first of those, of the text HMACs and of the credentials
// cut out one by one (`limits`), the rest of each summed up. *input is the
// JSON to store; *content the "content" member's JSON (empty when the
// record keeps the input untouched). False when `raw` does not parse (it
// is then stored as a JSON string and *content says so).
bool PrepareInput(std::string_view raw, ast::Retention retain, std::string_view hmac_key,
                  const AllowList* allow, std::string* input, std::string* content,
                  const ListLimits& limits = {});
// The same, appending the input's JSON to *out (the record line being
// composed) instead of replacing *input.
bool AppendPreparedInput(std::string_view raw, ast::Retention retain, std::string_view hmac_key,
                         const AllowList* allow, std::string* out, std::string* content,
                         const ListLimits& limits = {});

// False only when `text` cannot hold a match of the dlp.api_key detector:
// none of the literals its alternatives start with occurs in it (sk-, AKIA,
// ASIA, gh[pousr]_, github_pat_, xox, AIza, _live_, -----BEGIN ). A cheap
// pre-check before the detector's regex.
bool MayHoldApiKey(std::string_view text);

// Replay: rebuilds the input to decode from a recorded one. `lengths` (from
// the record's "content") puts filler text of each recorded byte length back
// into every text of content format `format`, in document order, so that
// token estimates and costs come out as they did; `clock` (when not empty)
// becomes context.time unless the input has one. `allow` is the allow-list
// the record was written with (that of its schema; null: the standard
// schema's): which strings are texts depends on it (a schema extension's
// body field is kept, where the standard list has an unknown member's
// text). False when `recorded` does not parse.
bool RebuildInput(std::string_view recorded, const std::vector<uint64_t>* lengths, int format,
                  std::string_view clock, std::string* out, const AllowList* allow = nullptr);

// True when `name` (any case) names a credential: authorization,
// proxy-authorization, api_key, api-key, apikey, x-api-key, password,
// secret, client_secret, access_token, refresh_token, cookie, set-cookie.
bool IsCredentialName(std::string_view name);

// The raw text of each top-level member value of a JSON object line.
bool TopLevelSpans(std::string_view line, std::vector<RawMember>* out);

// TopLevelSpans for replay, fast on the lines log.cc writes: the members
// before "input" by SAX, "content"?, "decision", "endpoints" and "hash"
// located from the end of the line by the writer's fixed layout and each
// parsed by rapidjson to confirm it, "input" the text between (checked when
// it is decoded). Any other line gets TopLevelSpans. Same result either way
// for a valid record line.
bool RecordSpans(std::string_view line, std::vector<RawMember>* out);

}  // namespace tollgate::audit::internal
