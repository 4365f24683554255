// The gateway's request pipeline (service.h).
#include "runtime/gateway/service.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <set>

#include "engine/core/json_buffer.h"
#include "engine/core/json_text.h"
#include "engine/core/money.h"
#include "engine/core/read_file.h"
#include "engine/core/source.h"
#include "engine/vm/vm.h"
#include "runtime/audit/counters.h"
#include "stdlib/names.h"
#include "runtime/audit/internal/util.h"
#include "runtime/decide/decision_json.h"
#include "runtime/input/input.h"
#include "runtime/ledger/open.h"
#include "runtime/router/bare_models.h"
#include "runtime/router/catalog_names.h"
#include "runtime/router/router.h"

namespace tollgate::gateway {
namespace {

namespace fs = std::filesystem;
namespace rj = rapidjson;
using JsonWriter = rj::Writer<rj::StringBuffer>;

int64_t MonoNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void Str(JsonWriter* w, const char* key, std::string_view v) {
  w->Key(key);
  w->String(v.data(), static_cast<rj::SizeType>(v.size()));
}

std::string RenderDiagnostics(const Diagnostics& diags) {
  std::string out;
  for (const Diagnostic& d : diags.items()) {
    out += RenderDiagnostic(d);
    if (!out.empty() && out.back() != '\n') out += '\n';
  }
  return out;
}


// The body for one upstream: top-level members rewritten in one SAX pass
// (numbers are copied as written, never through a double). The endpoint's
// `upstream.body` members replace the caller's of the same name and are
// written last.
class BodyRewriter : public rj::BaseReaderHandler<rj::UTF8<>, BodyRewriter> {
 public:
  BodyRewriter(JsonWriter* w, const runtime::Upstream& up, bool stream)
      : w_(w), model_(up.model), extra_(up.body), stream_(stream) {}

  bool Null() { return Value([&] { return w_->Null(); }); }
  bool Bool(bool b) { return Value([&] { return w_->Bool(b); }); }
  // Writer::RawNumber of rapidjson 1.1 quotes its text; RawValue does not.
  bool RawNumber(const char* s, rj::SizeType n, bool) {
    return Value([&] { return w_->RawValue(s, n, rj::kNumberType); });
  }
  bool String(const char* s, rj::SizeType n, bool) { return Value([&] { return w_->String(s, n); }); }
  bool StartObject() {
    ++depth_;
    if (skip_) return true;
    if (options_pending_) {  // the caller's stream_options object: kept, see Key
      options_pending_ = false;
      in_options_ = saw_options_ = true;
      w_->Key("stream_options");
    }
    return w_->StartObject();
  }
  bool Key(const char* s, rj::SizeType n, bool) {
    if (skip_) return true;
    std::string_view k(s, n);
    if (in_options_ && depth_ == 2 && k == "include_usage") {  // ours replaces it
      skip_ = true;
      skip_depth_ = depth_;
      return true;
    }
    if (depth_ == 1) {
      // A stream keeps the caller's other stream_options members
      // (include_usage is set: the gateway settles from the usage chunk);
      // a stream_options that is not an object is replaced.
      if (k == "stream_options" && stream_) {
        options_pending_ = true;
        return true;
      }
      static const std::set<std::string_view> kStrip = {"models", "provider", "route", "transforms",
                                                        "plugins", "preset", "stream_options"};
      if (kStrip.count(k) || k == "model" || Overridden(k)) {
        skip_ = true;
        skip_depth_ = depth_;
        if (k == "model") {
          w_->Key("model");
          w_->String(model_.data(), static_cast<rj::SizeType>(model_.size()));
          saw_model_ = true;
        }
        return true;
      }
    }
    return w_->Key(s, n);
  }
  bool EndObject(rj::SizeType) {
    --depth_;
    if (skip_) {
      if (depth_ == skip_depth_) skip_ = false;
      return true;
    }
    if (in_options_ && depth_ == 1) {
      in_options_ = false;
      w_->Key("include_usage");
      w_->Bool(true);
    }
    if (depth_ == 0) {
      if (!saw_model_) {
        w_->Key("model");
        w_->String(model_.data(), static_cast<rj::SizeType>(model_.size()));
      }
      if (stream_ && !saw_options_) {
        w_->Key("stream_options");
        w_->StartObject();
        w_->Key("include_usage");
        w_->Bool(true);
        w_->EndObject();
      }
      for (const runtime::Upstream::BodyMember& m : extra_) {
        w_->Key(m.name.data(), static_cast<rj::SizeType>(m.name.size()));
        // INVARIANT: m.json is one compact JSON value (Catalog::Load wrote it).
        w_->RawValue(m.json.data(), m.json.size(), RawType(m.json));
      }
    }
    return w_->EndObject();
  }
  bool StartArray() {
    ++depth_;
    if (skip_) return true;
    if (options_pending_) {  // not an object: dropped, ours is added at the end
      options_pending_ = false;
      skip_ = true;
      skip_depth_ = depth_ - 1;
      return true;
    }
    return w_->StartArray();
  }
  bool EndArray(rj::SizeType) {
    --depth_;
    if (skip_) {
      if (depth_ == skip_depth_) skip_ = false;
      return true;
    }
    return w_->EndArray();
  }

 private:
  bool Overridden(std::string_view k) const {
    for (const runtime::Upstream::BodyMember& m : extra_) {
      if (m.name == k) return true;
    }
    return false;
  }
  static rj::Type RawType(std::string_view json) {
    switch (json.empty() ? 'n' : json[0]) {
      case '{': return rj::kObjectType;
      case '[': return rj::kArrayType;
      case '"': return rj::kStringType;
      case 't': return rj::kTrueType;
      case 'f': return rj::kFalseType;
      case 'n': return rj::kNullType;
      default: return rj::kNumberType;
    }
  }
  template <typename F>
  bool Value(F f) {
    if (skip_) {
      if (depth_ == skip_depth_) skip_ = false;  // a scalar member value
      return true;
    }
    if (options_pending_) {  // a scalar stream_options: dropped, ours is added at the end
      options_pending_ = false;
      return true;
    }
    return f();
  }
  JsonWriter* w_;
  std::string_view model_;
  const std::vector<runtime::Upstream::BodyMember>& extra_;
  bool stream_;
  int depth_ = 0;
  bool skip_ = false;
  int skip_depth_ = 0;
  bool saw_model_ = false;
  // stream_options of a stream: its key was read (its value comes next); we
  // are inside its object; it was an object (so none is appended at the end).
  bool options_pending_ = false, in_options_ = false, saw_options_ = false;
};

// A standard request field of a decoded record; null when absent.
const Value* StandardField(const vm::Record& request, int slot) {
  if (slot < 0 || slot >= static_cast<int>(request.slots.size())) return nullptr;
  return &request.slots[slot];
}
int StandardSlot(std::string_view path) {
  const stdlib::Schema& s = stdlib::Schema::Standard();
  return s.field(s.Find(path)).slot;
}

bool StreamRequested(const vm::Record& request) {
  static const int slot = StandardSlot("request.stream");
  const Value* v = StandardField(request, slot);
  return v && v->kind == Kind::kBool && v->b;
}

const char* ErrorType(int status) {
  switch (status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 429: return "rate_limit_error";
    default: return status >= 500 ? "api_error" : "invalid_request_error";
  }
}

std::string_view OutcomeName(const Exchange& x) {
  if (x.invalid) return "invalid";
  switch (x.s.decision.outcome) {
    case vm::Outcome::kAllow: return "allow";
    case vm::Outcome::kDeny: return "deny";
    default: return "allow";
  }
}

}  // namespace

PolicySet::~PolicySet() = default;

void Exchange::Reset() {
  live.reset();
  shadow.reset();
  keys.reset();
  who = nullptr;
  path.clear();
  body.clear();
  input.clear();
  stream = false;
  include_usage = false;
  prompt = runtime::PromptShape{};
  redacted.clear();
  redacted_ready = false;
  start_ns = 0;
  wait_ns = 0;
  plan.Clear();
  admission = {};
  reserved = false;
  replan = false;
  failed_cost = 0;
  rereserve = false;
  attempt_charged = false;
  attempt = 0;
  cost = 0;
  shadow_json.clear();
  counted = false;
  counters_read = ledger::Status::Ok();
  admission_json.clear();
  decision_id.clear();
  invalid = false;
}

namespace {

// CheckRequestBody's SAX handler: accepts every value, notes
// stream_options.include_usage, feeds the prompt meter when there is one,
// and notes the model names a catalog may rewrite (runtime::ModelNameSpans).
class BodyCheck : public rj::BaseReaderHandler<rj::UTF8<>, BodyCheck> {
 public:
  // `is` (when not null) is the stream being parsed: the top-level `model`
  // string and the strings of the top-level `models` array that are written
  // without escapes are noted in names()->spans.
  BodyCheck(runtime::PromptMeter* meter, const rj::MemoryStream* is, runtime::ModelNameSpans::Where where)
      : meter_(meter) {
    if (is) names_.emplace(*is, where);
  }
  bool include_usage = false;
  runtime::ModelNameSpans* names() { return names_ ? &*names_ : nullptr; }
  bool Default() {
    at_usage_ = false;
    return true;
  }
  bool Null() {
    if (meter_) meter_->Null();
    if (names_) names_->Null();
    return Default();
  }
  bool Bool(bool b) {
    if (meter_) meter_->Bool(b);
    if (names_) names_->Bool();
    if (at_usage_ && b) include_usage = true;
    return Default();
  }
  bool RawNumber(const char*, rj::SizeType n, bool) {
    if (meter_) meter_->Number(n);
    if (names_) names_->RawNumber();
    return Default();
  }
  bool String(const char* s, rj::SizeType n, bool) {
    if (meter_) meter_->String(std::string_view(s, n));
    if (names_) names_->String(n);
    return Default();
  }
  bool Key(const char* s, rj::SizeType n, bool) {
    std::string_view k(s, n);
    if (meter_) meter_->Key(k);
    if (names_) names_->Key(k);
    if (depth_ == 1) at_options_ = k == "stream_options";
    at_usage_ = depth_ == 2 && in_options_ && k == "include_usage";
    return true;
  }
  bool StartObject() {
    if (meter_) meter_->StartObject();
    if (names_) names_->StartObject();
    if (depth_ == 1) in_options_ = at_options_;
    ++depth_;
    return Default();
  }
  bool EndObject(rj::SizeType n) {
    if (meter_) meter_->EndObject(n);
    if (names_) names_->EndObject();
    if (--depth_ <= 1) in_options_ = false;
    return Default();
  }
  bool StartArray() {
    if (meter_) meter_->StartArray();
    if (names_) names_->StartArray();
    ++depth_;
    return Default();
  }
  bool EndArray(rj::SizeType n) {
    if (meter_) meter_->EndArray(n);
    if (names_) names_->EndArray();
    --depth_;
    return Default();
  }

 private:
  runtime::PromptMeter* meter_;
  std::optional<runtime::ModelNameSpans> names_;
  int depth_ = 0;
  bool at_options_ = false, in_options_ = false, at_usage_ = false;
};

}  // namespace

bool CheckRequestBody(std::string* body, bool* include_usage, runtime::InputError* err,
                      runtime::PromptShape* prompt, const runtime::Catalog* catalog,
                      runtime::ModelNameSpans::Where where) {
  *include_usage = false;
  if (prompt) *prompt = runtime::PromptShape{};
  if (body->size() >= 3 && std::string_view(*body).substr(0, 3) == "\xEF\xBB\xBF") body->erase(0, 3);
  auto fail = [&](std::string code, std::string message) {
    err->code = std::move(code);
    err->message = std::move(message);
    err->path.clear();
    return false;
  };
  if (const void* nul = std::memchr(body->data(), 0, body->size()); nul != nullptr) {
    return fail("input_malformed_json", "malformed JSON at byte " +
                                            std::to_string(static_cast<const char*>(nul) - body->data()) +
                                            ": NUL byte");
  }
  runtime::PromptMeter meter(runtime::PromptSource::kBody);
  rj::Reader reader;
  // Iterative: no recursion however deep the body nests (the decoder bounds
  // the depth); a MemoryStream: rapidjson's byte loop, which refuses every
  // raw control byte in a string.
  rj::MemoryStream is(body->data(), body->size());
  BodyCheck h(prompt ? &meter : nullptr, catalog ? &is : nullptr, where);
  constexpr unsigned kFlags = rj::kParseIterativeFlag | rj::kParseNumbersAsStringsFlag | rj::kParseValidateEncodingFlag;
  rj::ParseResult r = reader.Parse<kFlags>(is, h);
  // Half of a UTF-16 pair alone (`"\ud83d"`: JSON.stringify of a string
  // cut mid-emoji) is no character. A lone low half passes rapidjson and
  // was refused by the decoder at its offset in the wrapped input; both
  // halves are refused here, at the body's offset, with one code.
  auto lone_surrogate = [&](size_t at) {
    return fail("input_invalid_utf8",
                "lone surrogate escape at byte " + std::to_string(at) + " (not a unicode character)");
  };
  if (!r.IsError()) {
    if (const size_t at = FindLoneSurrogateEscape(*body); at != std::string_view::npos) return lone_surrogate(at);
    *include_usage = h.include_usage;
    if (prompt) *prompt = meter.shape();
    if (catalog) runtime::ResolveBareModels(*catalog, h.names()->spans, body);
    return true;
  }
  const size_t off = r.Offset();
  const unsigned char at = off < body->size() ? static_cast<unsigned char>((*body)[off]) : 0;
  switch (r.Code()) {
    case rj::kParseErrorStringInvalidEncoding:
      return fail("input_invalid_utf8", "invalid UTF-8 at byte " + std::to_string(off));
    case rj::kParseErrorStringUnicodeSurrogateInvalid:  // a high half without its low one
      return lone_surrogate(off);
    case rj::kParseErrorNumberTooBig:
      return fail("input_invalid_value", "number at byte " + std::to_string(off) +
                                             " is out of range (beyond 1.8e308)");
    case rj::kParseErrorDocumentRootNotSingular:
      return fail("input_malformed_json", "malformed JSON at byte " + std::to_string(off) +
                                              ": content after the JSON document");
    default:
      break;
  }
  if (at > 0 && at < 0x20 && at != '\t' && at != '\n' && at != '\r') {
    return fail("input_malformed_json", "malformed JSON at byte " + std::to_string(off) +
                                            ": raw control character (JSON text needs it escaped)");
  }
  std::string what = rj::GetParseError_En(r.Code());
  for (char& c : what) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  while (!what.empty() && what.back() == '.') what.pop_back();
  return fail("input_malformed_json", "malformed JSON at byte " + std::to_string(off) + ": " + what);
}

void BuildInput(const Identity& who, std::string_view body, std::string* out) {
  BuildInput(who, who.context_json, body, out);
}

void BuildInput(const Identity& who, std::string_view context_json, std::string_view body,
                std::string* out) {
  out->clear();
  out->reserve(body.size() + who.principal_json.size() + context_json.size() + 48);
  out->append("{\"principal\":");
  out->append(who.principal_json);
  // The context before the body: the record's input reads who and in what
  // circumstances, then the (possibly large) request.
  if (!context_json.empty()) {
    out->append(",\"context\":");
    out->append(context_json);
  }
  out->append(",\"request\":");
  out->append(body);
  out->append("}");
}

namespace {

// A decoder path as OpenAI writes a `param`: an index as a member of its
// own (`messages[0].content` -> `messages.[0].content`).
std::string OpenAIPath(std::string_view path) {
  std::string out;
  out.reserve(path.size() + 4);
  for (char c : path) {
    if (c == '[' && !out.empty()) out += '.';
    out += c;
  }
  return out;
}

}  // namespace

std::string OpenAIParam(std::string_view path) {
  constexpr std::string_view kRequest = "request.";
  if (path.substr(0, kRequest.size()) != kRequest) return {};
  return OpenAIPath(path.substr(kRequest.size()));
}

std::string OpenAIError(int status, std::string_view code, std::string_view message,
                        std::string_view rule, std::string_view decision_id, std::string_view param) {
  rj::StringBuffer sb;
  JsonWriter w(sb);
  w.StartObject();
  w.Key("error");
  w.StartObject();
  Str(&w, "message", message);
  // OpenAI's model_not_found is an invalid_request_error, not a not_found_error.
  Str(&w, "type", code == vm::kCodeModelNotFound ? "invalid_request_error" : ErrorType(status));
  Str(&w, "code", code);
  w.Key("param");
  if (param.empty()) {
    w.Null();
  } else {
    w.String(param.data(), static_cast<rj::SizeType>(param.size()));
  }
  if (!rule.empty()) Str(&w, "rule", rule);
  if (!decision_id.empty()) Str(&w, "decision_id", decision_id);
  w.EndObject();
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

std::string DecideInputErrorJson(const runtime::InputError& e) {
  rj::StringBuffer sb;
  JsonWriter w(sb);
  w.StartObject();
  w.Key("error");
  w.StartObject();
  Str(&w, "message", e.message);
  Str(&w, "type", ErrorType(400));
  Str(&w, "code", e.code);
  w.Key("param");
  if (e.path.empty()) {
    w.Null();
  } else {
    const std::string param = OpenAIPath(e.path);
    w.String(param.data(), static_cast<rj::SizeType>(param.size()));
  }
  Str(&w, "path", e.path);  // the decoder's (tollgate eval, the C API)
  w.EndObject();
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

bool ParseTarget(const runtime::Endpoint& e, UpstreamTarget* t, std::string* error) {
  std::string_view url = e.upstream.base_url;
  if (url.rfind("https://", 0) == 0) {
    t->tls = true;
    url.remove_prefix(8);
  } else if (url.rfind("http://", 0) == 0) {
    url.remove_prefix(7);
  } else {
    *error = "endpoint `" + e.id + "`: base_url must start with http:// or https://";
    return false;
  }
  // A query (Azure OpenAI's `?api-version=...`) goes after the path the
  // gateway appends, as the SDKs put it; a fragment is never sent.
  url = url.substr(0, url.find('#'));
  if (const size_t q = url.find('?'); q != std::string_view::npos) {
    t->query = std::string(url.substr(q));
    url = url.substr(0, q);
  }
  size_t slash = url.find('/');
  std::string_view hostport = url.substr(0, slash);
  t->path_prefix = slash == std::string_view::npos ? "" : std::string(url.substr(slash));
  while (!t->path_prefix.empty() && t->path_prefix.back() == '/') t->path_prefix.pop_back();
  // host, [v6], host:port, [v6]:port
  size_t colon = hostport.rfind(':');
  size_t bracket = hostport.find(']');
  if (colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket)) {
    t->host = std::string(hostport.substr(0, colon));
    t->port = std::string(hostport.substr(colon + 1));
  } else {
    t->host = std::string(hostport);
    t->port = t->tls ? "443" : "80";
  }
  if (t->host.size() > 2 && t->host.front() == '[') t->host = t->host.substr(1, t->host.size() - 2);
  if (t->host.empty() || t->port.empty() ||
      t->port.find_first_not_of("0123456789") != std::string::npos) {
    *error = "endpoint `" + e.id + "`: base_url `" + e.upstream.base_url + "` has no valid host:port";
    return false;
  }
  t->host_header = std::string(hostport);
  t->pool_key = (t->tls ? "https://" : "http://") + t->host + ":" + t->port;
  if (e.upstream.auth != runtime::AuthType::kNone) {
    const char* key = std::getenv(e.upstream.env.c_str());
    if (key && *key) {
      if (e.upstream.auth == runtime::AuthType::kBearer) {
        t->auth_header = "authorization";
        t->auth_value = std::string("Bearer ") + key;
      } else {
        t->auth_header = e.upstream.header;
        t->auth_value = key;
      }
    }
  }
  return true;
}

// ---------------------------------------------------------------------------
// Loading

// The limits of a decision input the gateway decodes: a chat request's is
// the body the client sent (at most limits.max_body_bytes, else 413
// request_too_large) wrapped with the key's principal and the context, so
// its size limit is max_body_bytes + kMaxInputWrapperBytes (never below
// Limits::max_input_bytes): a body within its limit is never refused for
// the bytes the gateway adds.
tollgate::Limits GatewayInputLimits(const Config& c) {
  tollgate::Limits l;
  const uint64_t wrapped = c.limits.max_body_bytes + kMaxInputWrapperBytes;
  l.max_input_bytes = static_cast<uint32_t>(
      std::min<uint64_t>(UINT32_MAX, std::max<uint64_t>(l.max_input_bytes, wrapped)));
  return l;
}

Service::Service(Config config)
    : config_(std::move(config)), input_limits_(GatewayInputLimits(config_)) {}

Service::~Service() {
  if (audit_) audit_->Close();
  if (ledger_) ledger_->Flush();
}

std::unique_ptr<Service> Service::Create(const Config& config, std::string* error) {
  std::unique_ptr<Service> svc(new Service(config));
  svc->log_ = spdlog::get("tollgate");
  if (!svc->log_) {
    svc->log_ = spdlog::stderr_logger_mt("tollgate");
    svc->log_->set_pattern("%v");
  }
  if (!config.ledger.empty()) {
    ledger::Options lo;
    lo.group_linger_us = 0;  // answers wait for their settlement: commit at once
    auto* log = svc->log_.get();
    lo.on_fail_open = [log](const std::string& m) { log->warn("{{\"event\":\"ledger_fail_open\",\"message\":\"{}\"}}", m); };
    if (config.ledger.rfind("sqlite:", 0) == 0) {
      std::error_code ec;
      fs::path parent = fs::path(config.ledger.substr(7)).parent_path();
      if (!parent.empty()) fs::create_directories(parent, ec);
    }
    svc->ledger_ = ledger::OpenLedger(config.ledger, lo, error);
    if (!svc->ledger_) return nullptr;
  }
  if (!config.audit.empty()) {
    audit::Options ao;
    ao.sync = config.audit_sync;
    ao.caller_writes = !config.audit_sync;  // Server::Durable drains after each append
    svc->audit_ = audit::AuditLog::Open(config.audit, ao, error);
    if (!svc->audit_) return nullptr;
  }
  if (!svc->ReloadFromDisk(error)) return nullptr;
  return svc;
}

bool Service::Load(std::vector<SourceText>* sources, std::shared_ptr<const PolicySet>* out,
                   std::string* error, const PolicySet* base, const PolicySet* policy_of) {
  auto set = std::make_shared<PolicySet>();
  audit::SubjectSources subj;
  if (policy_of) {
    set->extended = policy_of->extended;
    set->policy = policy_of->policy;
    subj.schema_json = policy_of->sources.schema_json;
  } else {
    CompileOptions opts;
    if (!config_.schema.empty()) {
      std::string text, why;
      if (ReadCapped(config_.schema, tollgate::Limits{}.max_schema_bytes, &text, &why) != ReadStatus::kOk) {
        *error = why;
        return false;
      }
      auto ext = std::make_shared<stdlib::Schema>(stdlib::Schema::Standard());
      if (!ext->AddFromJson(text, &why)) {
        *error = "invalid schema `" + config_.schema + "`: " + why;
        return false;
      }
      set->extended = ext;
      opts.schema = ext.get();
      subj.schema_json = std::move(text);
    }
    Compiled c;
    if (sources) {
      c = CompileSources(std::move(*sources), opts);
    } else {
      std::vector<std::string> files;
      std::vector<std::string> errors;
      if (!ExpandPolicyPaths(config_.policy, &files, &errors)) {
        *error = "policy: " + errors.front();
        return false;
      }
      c = CompileFiles(files, opts);
    }
    if (!c.policy || c.diagnostics.HasErrors()) {
      *error = RenderDiagnostics(c.diagnostics);
      if (error->empty()) *error = "the policy did not compile";
      return false;
    }
    set->policy = c.policy;
  }
  set->version = set->policy->version_id();
  set->catalog = std::make_unique<runtime::Catalog>();
  std::string text, why;
  if (base) {
    text = base->sources.catalog_json;
  } else if (ReadCapped(config_.catalog, tollgate::Limits{}.max_catalog_bytes, &text, &why) != ReadStatus::kOk) {
    *error = why;
    return false;
  }
  runtime::CatalogError cerr;
  if (!runtime::Catalog::Load(text, set->policy->schema(), set->catalog.get(), &cerr)) {
    *error = "catalog `" + config_.catalog + "`: " + cerr.message;
    return false;
  }
  subj.catalog_json = std::move(text);
  {  // names of the policy that no endpoint of the catalog holds: logged, not refused
    Diagnostics names;
    runtime::WarnNamesNotInCatalog(*set->policy, *set->catalog, config_.catalog, &names);
    names.Sort();
    for (const Diagnostic& d : names.items()) {
      rj::StringBuffer sb;
      JsonWriter w(sb);
      w.StartObject();
      Str(&w, "event", "policy_warning");
      Str(&w, "code", d.code);
      Str(&w, "message", RenderDiagnostic(d));
      w.EndObject();
      log_->warn("{}", sb.GetString());
    }
  }
  if (!config_.accounts.empty()) {
    set->accounts = std::make_unique<runtime::Accounts>();
    text.clear();
    if (base) {
      text = base->sources.accounts_json;
    } else if (ReadCapped(config_.accounts, tollgate::Limits{}.max_catalog_bytes, &text, &why) != ReadStatus::kOk) {
      *error = why;
      return false;
    }
    runtime::AccountsError aerr;
    if (!runtime::Accounts::Load(text, *set->catalog, set->accounts.get(), &aerr)) {
      *error = "accounts `" + config_.accounts + "`: " + aerr.message;
      return false;
    }
    subj.accounts_json = std::move(text);
  }
  set->router = runtime::Router::Create(*set->policy, *set->catalog, set->accounts.get(), {}, error);
  if (!set->router) return false;
  std::set<std::string> models;
  for (const runtime::Endpoint& e : set->catalog->endpoints()) {
    UpstreamTarget t;
    if (!ParseTarget(e, &t, error)) return false;
    if (!base && e.upstream.auth != runtime::AuthType::kNone && t.auth_value.empty()) {
      log_->warn("{{\"event\":\"upstream_key_missing\",\"endpoint\":\"{}\",\"env\":\"{}\"}}", e.id,
                 e.upstream.env);
    }
    set->targets.push_back(std::move(t));
    models.insert(e.model);
  }
  set->models.assign(models.begin(), models.end());
  if (audit_) {
    set->subject = audit_->Register(*set->policy, subj, error);
    if (!set->subject) return false;
  }
  set->sources = std::move(subj);
  *out = std::move(set);
  return true;
}

bool Service::Rebase(const PolicySet& set, const PolicySet& base, std::shared_ptr<const PolicySet>* out,
                     std::string* error) {
  return Load(nullptr, out, error, &base, &set);
}

void Service::RebaseShadow() {
  std::shared_ptr<const PolicySet> old = shadow(), live_set = live();
  if (!old || !live_set) return;
  if (old->sources.catalog_json == live_set->sources.catalog_json &&
      old->sources.accounts_json == live_set->sources.accounts_json)
    return;
  std::shared_ptr<const PolicySet> rebuilt;
  std::string why;
  if (!Rebase(*old, *live_set, &rebuilt, &why)) {
    rj::StringBuffer sb;
    rj::Writer<rj::StringBuffer> w(sb);
    w.StartObject();
    w.Key("event");
    w.String("shadow_dropped");
    w.Key("version");
    w.String(old->version.c_str());
    w.Key("message");
    w.String(why.data(), static_cast<rj::SizeType>(why.size()));
    w.EndObject();
    log_->warn("{}", std::string_view(sb.GetString(), sb.GetSize()));
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (shadow_ == old) shadow_ = std::move(rebuilt);  // null when it did not load: dropped
}

// Each key's principal and context decoded as the policy's decoder will:
// a key whose every request would be refused (an unknown principal member,
// a context member of the wrong type) is found at load instead.
bool Service::CheckKeys(const KeyStore& keys, const PolicySet& set, std::string* error) const {
  static const char kProbe[] = R"({"model":"probe","messages":[{"role":"user","content":""}]})";
  std::string input;
  runtime::InputError err;
  vm::Record record;
  for (const Identity* who : keys.All()) {
    BuildInput(*who, kProbe, &input);
    if (!runtime::DecodeInput(input, set.policy->schema(), tollgate::Limits{}, &record, &err)) {
      *error = "keys `" + config_.keys + "`: key `" + who->id + "`: " + err.message;
      return false;
    }
  }
  return true;
}

std::vector<std::string> UnusedAccountWorkspaces(const runtime::Accounts& accounts,
                                                 const KeyStore& keys) {
  std::set<std::string, std::less<>> used;
  for (const Identity* who : keys.All()) used.insert(who->workspace);
  std::vector<std::string> unused;
  for (std::string_view name : accounts.workspace_names())
    if (used.find(name) == used.end()) unused.emplace_back(name);
  return unused;
}

bool Service::ReloadFromDisk(std::string* error) {
  std::lock_guard<std::mutex> reload(reload_mu_);
  std::shared_ptr<const KeyStore> keys;
  if (!config_.keys.empty()) {
    auto ks = std::make_shared<KeyStore>();
    if (!KeyStore::LoadFile(config_.keys, ks.get(), error)) return false;
    keys = std::move(ks);
  } else {
    keys = std::make_shared<KeyStore>();
  }
  std::shared_ptr<const PolicySet> set;
  if (!Load(nullptr, &set, error)) return false;
  if (!CheckKeys(*keys, *set, error)) return false;
  if (!config_.keys.empty() && set->accounts) WarnUnusedWorkspaces(*set->accounts, *keys);
  {
    std::lock_guard<std::mutex> lock(mu_);
    live_ = std::move(set);
    keys_ = std::move(keys);
  }
  RebaseShadow();  // the shadow is judged against the catalog and accounts now loaded
  return true;
}

// One `accounts_workspace_unused` line per entry no key carries (the first
// 16; then one line with the number left out), with the closest key
// workspace (a case or blank slip: `W`, `w `).
void Service::WarnUnusedWorkspaces(const runtime::Accounts& accounts, const KeyStore& keys) const {
  constexpr size_t kMaxLines = 16;
  constexpr size_t kMaxNameForClosest = 256;  // ClosestMatch is quadratic in the name
  std::vector<std::string> unused = UnusedAccountWorkspaces(accounts, keys);
  if (unused.empty()) return;
  const size_t omitted = unused.size() > kMaxLines ? unused.size() - kMaxLines : 0;
  unused.resize(unused.size() - omitted);
  std::vector<std::string> known;
  for (const Identity* who : keys.All()) known.push_back(who->workspace);
  std::sort(known.begin(), known.end());
  known.erase(std::unique(known.begin(), known.end()), known.end());
  for (const std::string& name : unused) {
    rj::StringBuffer sb;
    rj::Writer<rj::StringBuffer> w(sb);
    auto str = [&](std::string_view v) { w.String(v.data(), static_cast<rj::SizeType>(v.size())); };
    w.StartObject();
    w.Key("event");
    str("accounts_workspace_unused");
    w.Key("workspace");
    str(name);
    w.Key("accounts");
    str(config_.accounts);
    w.Key("keys");
    str(config_.keys);
    std::string close = name.size() <= kMaxNameForClosest ? ClosestMatch(name, known) : "";
    if (!close.empty()) {
      w.Key("closest");
      str(close);
    }
    w.EndObject();
    log_->warn("{}", std::string_view(sb.GetString(), sb.GetSize()));
  }
  if (omitted > 0) log_->warn("{{\"event\":\"accounts_workspace_unused\",\"omitted\":{}}}", omitted);
}

bool Service::LoadSources(std::vector<SourceText> sources, bool shadow, std::string* error) {
  std::lock_guard<std::mutex> reload(reload_mu_);
  std::shared_ptr<const PolicySet> set;
  // A shadow is built over the live version's catalog and accounts (not the
  // files, which may have changed since they were loaded).
  std::shared_ptr<const PolicySet> base = shadow ? live() : nullptr;
  if (!Load(&sources, &set, error, base.get())) return false;
  // A live version must decode every key as at startup; a shadow one only
  // compares, and is checked when promoted.
  if (!shadow && !CheckKeys(*keys(), *set, error)) return false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    (shadow ? shadow_ : live_) = std::move(set);
  }
  if (!shadow) RebaseShadow();
  return true;
}

bool Service::Promote(std::string* error, bool* refused) {
  if (refused) *refused = false;
  // No reload between the check and the swap: the keys checked are the ones
  // the promoted version serves.
  std::lock_guard<std::mutex> reload(reload_mu_);
  RebaseShadow();  // over the catalog and accounts loaded now, should they differ
  std::shared_ptr<const PolicySet> candidate = shadow();
  if (!candidate) {
    *error = "no shadow policy is loaded";
    return false;
  }
  if (!CheckKeys(*keys(), *candidate, error)) {
    if (refused) *refused = true;
    return false;
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (shadow_ != candidate) {  // dropped (DELETE /admin/policy/shadow) meanwhile
    *error = "no shadow policy is loaded";
    return false;
  }
  live_ = std::move(shadow_);
  shadow_.reset();
  return true;
}

void Service::DropShadow() {
  std::lock_guard<std::mutex> lock(mu_);
  shadow_.reset();
}

void Service::WarmThread() const {
  for (const std::shared_ptr<const PolicySet>& set : {live(), shadow()}) {
    if (!set) continue;
    vm::WarmThread(set->policy->program());
    runtime::WarmDecoderThread(set->policy->schema());
  }
}

std::shared_ptr<const PolicySet> Service::live() const {
  std::lock_guard<std::mutex> lock(mu_);
  return live_;
}
std::shared_ptr<const PolicySet> Service::shadow() const {
  std::lock_guard<std::mutex> lock(mu_);
  return shadow_;
}
std::shared_ptr<const KeyStore> Service::keys() const {
  std::lock_guard<std::mutex> lock(mu_);
  return keys_;
}

// ---------------------------------------------------------------------------
// The request path

namespace {

// Evaluates and routes x->input against `set` into *s (counters from the
// ledger when it has one). Returns false when the input does not decode.
// `with_candidate`: a top-level `candidate` (the /v1/decide caller's chosen
// endpoint) is checked against the requires. `read` (may be null): the
// counters' Peek status; not ok = the store could not be read, the counters
// are unknown (vm::Counters::unavailable) and the caller answers as the
// ledger's admission would.
bool Evaluate(const PolicySet& set, ledger::Ledger* led, const tollgate::Limits& limits,
              const std::string& input, runtime::DecideScratch* s, runtime::BudgetPlan* plan,
              vm::Counters* counters, std::vector<ledger::CounterView>* views, bool* planned,
              runtime::InputError* err, bool with_candidate = false, bool* counted = nullptr,
              ledger::Status* read = nullptr) {
  if (!runtime::DecodeInput(input, set.policy->schema(), limits, &s->request, err)) return false;
  s->has_candidate = false;
  if (with_candidate && runtime::MentionsCandidate(input) &&
      !runtime::DecodeCandidate(input, set.policy->schema(), limits, &s->candidate,
                                &s->has_candidate, err)) {
    return false;
  }
  // endpoint.estimated_cost from the candidate's prices, as the router computes it.
  if (s->has_candidate) runtime::DeriveEstimatedCost(set.policy->schema(), s->request, &s->candidate);
  const vm::Program& program = set.policy->program();
  vm::EvalOptions eopts;
  *planned = false;
  if (led) {
    plan->Clear();
    *planned = runtime::PlanBudgets(program, s->request, plan);
    const bool any = !plan->reserve.budgets.empty() || !plan->reserve.limits.empty();
    if (*planned && any) {
      ledger::Status st = runtime::ReadCounters(led, program, *plan, views, counters);
      eopts.counters = counters;
      if (read) *read = std::move(st);
    }
  }
  if (counted) *counted = eopts.counters != nullptr;
  vm::Evaluate(program, s->request, eopts, &s->decision);
  if (s->has_candidate) vm::CheckCandidate(program, s->request, s->candidate, eopts, &s->decision);
  s->route.Clear();
  set.router->Route(s->decision, s->request, &s->route);
  runtime::ApplyRoute(s->route, &s->decision);
  return true;
}

void Deny(vm::Decision* d, int status, std::string_view code, std::string reason) {
  d->outcome = vm::Outcome::kDeny;
  d->status = status;
  d->code = code;
  d->reason = std::move(reason);
  d->deny_rule = UINT32_MAX;
}

}  // namespace

void Service::Decide(Exchange* x) {
  const PolicySet& set = *x->live;
  bool planned = false;
  if (!Evaluate(set, ledger_.get(), input_limits_, x->input, &x->s, &x->plan, &x->counters, &x->views, &planned,
                &x->input_error, false, &x->counted, &x->counters_read)) {
    x->invalid = true;
    if (x->input_error.code == "input_too_large" && x->input.size() > x->body.size()) {
      // Say what was measured: the body the client sent, wrapped.
      x->input_error.message =
          "the decision input (the request body of " + std::to_string(x->body.size()) +
          " bytes with the principal and context the gateway adds) is " +
          std::to_string(x->input.size()) + " bytes, more than the limit of " +
          std::to_string(input_limits_.max_input_bytes) + " (limits.max_body_bytes + " +
          std::to_string(kMaxInputWrapperBytes) + " for the principal and context)";
    }
    return;
  }
  x->stream = StreamRequested(x->s.request);
  if (x->shadow) CompareShadow(x);
  vm::Decision& d = x->s.decision;
  if (StoreUnreadable(x)) return;
  if (d.outcome == vm::Outcome::kDeny || x->s.route.endpoints.empty() || !ledger_) return;
  const runtime::RoutedEndpoint& primary = x->s.route.endpoints[0];
  // Budgets and limits scoped by endpoint fields charge the endpoint that
  // serves: the primary now, a fallback's own when the gateway moves to it.
  std::string_view stage = "plan";
  if (planned) {
    stage = "endpoint_plan";
    planned = runtime::PlanEndpointBudgets(set.policy->program(), x->s.request, *set.catalog,
                                           primary, &x->plan);
  }
  if (!planned) {
    Deny(&d, 403, vm::kCodeRuleError, x->plan.error_message);
    if (audit_) x->admission_json = audit::RenderPlanFailure(x->plan.error_message, stage);
    return;
  }
  // The reservation bounds what the body as sent upstream can be billed:
  // redactions may lengthen the text, so a redacting decision measures the
  // redacted body (kept for UpstreamBody).
  if (!d.redactions.empty()) {
    std::string error;
    x->redacted_ready =
        runtime::ApplyRedactions(x->body, d, set.policy->program(), &x->redacted, &error);
    if (x->redacted_ready) x->prompt = runtime::PromptShape{};
  }
  if (!x->prompt.measured) {
    runtime::MeasurePrompt(x->redacted_ready ? x->redacted : x->body, runtime::PromptSource::kBody,
                           &x->prompt);
  }
  const ledger::Usage worst =
      runtime::WorstCaseUsage(x->prompt, set.catalog->endpoint(primary.endpoint), x->s.request);
  runtime::SetWorstCase(worst.cost_micros, worst.tokens, &x->plan);
  x->admission = ledger_->Reserve(x->plan.reserve);
  if (audit_) x->admission_json = audit::RenderAdmission(x->admission);
  if (!x->admission.admitted()) {
    Deny(&d, x->admission.status(), x->admission.code(), x->admission.message);
    return;
  }
  x->reserved = x->admission.reservation != 0;
  x->replan = runtime::HasEndpointBudgets(set.policy->program());
}

bool Service::StoreUnreadable(Exchange* x) {
  if (x->counters_read.ok || !ledger_) return false;
  vm::Decision& d = x->s.decision;
  if (ledger_->fail_open()) {
    // As the admission does: go on, unverified, and say so.
    log_->warn("{{\"event\":\"ledger_fail_open\",\"message\":\"{}; rules reading its counters are "
               "skipped (counters unknown); evaluated unverified (fail open)\"}}",
               x->counters_read.message);
    return false;
  }
  // Fail closed, as the admission would: 503, left to the client's backoff.
  // A request the policy denies anyway keeps that answer (no admission).
  if (d.outcome == vm::Outcome::kDeny) return false;
  x->admission = runtime::StoreUnavailable(x->counters_read);
  if (audit_) x->admission_json = audit::RenderAdmission(x->admission);
  Deny(&d, x->admission.status(), x->admission.code(), x->admission.message);
  return true;
}

void Service::CompareShadow(Exchange* x) {
  const PolicySet& sh = *x->shadow;
  runtime::DecideScratch s;
  runtime::BudgetPlan plan;
  vm::Counters counters;
  std::vector<ledger::CounterView> views;
  runtime::InputError err;
  bool planned = false;
  rj::StringBuffer sb;
  JsonWriter w(sb);
  w.StartObject();
  Str(&w, "version", sh.version);
  if (!Evaluate(sh, ledger_.get(), input_limits_, x->input, &s, &plan, &counters, &views, &planned, &err)) {
    Str(&w, "error", err.code);
    w.EndObject();
    x->shadow_json.assign(sb.GetString(), sb.GetSize());
    metrics_.shadow_differences.Add(Label("kind", "input") + "," + Label("rule", ""));
    return;
  }
  const vm::Decision& live = x->s.decision;
  const vm::Decision& cand = s.decision;
  std::vector<std::string_view> kinds;
  if (live.outcome != cand.outcome) kinds.push_back("outcome");
  if (live.status != cand.status || live.code != cand.code) kinds.push_back("status");
  auto primary = [](const runtime::RouteResult& r) {
    return r.endpoints.empty() ? UINT32_MAX : r.endpoints[0].endpoint;
  };
  const std::string live_ep = primary(x->s.route) == UINT32_MAX
                                  ? std::string()
                                  : x->live->catalog->endpoint(primary(x->s.route)).id;
  const std::string cand_ep =
      primary(s.route) == UINT32_MAX ? std::string() : sh.catalog->endpoint(primary(s.route)).id;
  if (live_ep != cand_ep) kinds.push_back("route");
  bool red_diff = live.redactions.size() != cand.redactions.size();
  for (size_t i = 0; !red_diff && i < live.redactions.size(); ++i) {
    red_diff = live.redactions[i].replacement != cand.redactions[i].replacement;
  }
  if (red_diff) kinds.push_back("redactions");
  const vm::Program& program = sh.policy->program();
  Str(&w, "outcome", cand.outcome == vm::Outcome::kDeny ? "deny" : "allow");
  w.Key("status");
  w.Int(cand.status);
  Str(&w, "code", cand.code);
  if (cand.deny_rule != UINT32_MAX) Str(&w, "rule", runtime::RuleName(program, cand.deny_rule));
  Str(&w, "endpoint", cand_ep);
  w.Key("redactions");
  w.Uint(static_cast<unsigned>(cand.redactions.size()));
  w.Key("differences");
  w.StartArray();
  for (std::string_view k : kinds) w.String(k.data(), static_cast<rj::SizeType>(k.size()));
  w.EndArray();
  w.EndObject();
  x->shadow_json.assign(sb.GetString(), sb.GetSize());
  std::string rule;
  if (cand.deny_rule != UINT32_MAX) {
    rule = std::string(runtime::RuleName(program, cand.deny_rule));
  } else if (live.deny_rule != UINT32_MAX) {
    rule = std::string(runtime::RuleName(x->live->policy->program(), live.deny_rule));
  }
  for (std::string_view k : kinds) {
    metrics_.shadow_differences.Add(Label("kind", k) + "," + Label("rule", rule));
  }
}

std::string Service::DecideOnly(Exchange* x, uint64_t* seq) {
  *seq = 0;
  const PolicySet& set = *x->live;
  bool planned = false;
  if (!Evaluate(set, ledger_.get(), input_limits_, x->input, &x->s, &x->plan, &x->counters, &x->views, &planned,
                &x->input_error, /*with_candidate=*/true, &x->counted, &x->counters_read)) {
    x->invalid = true;
    return DecideInputErrorJson(x->input_error);
  }
  if (x->shadow) CompareShadow(x);
  StoreUnreadable(x);
  Outcome o;
  o.http_status = 200;
  *seq = Finish(x, o);
  runtime::RenderOptions ro;
  ro.decision_id = x->decision_id;
  return runtime::RenderRoute(*set.policy, *set.router, x->s, ro);
}

bool Service::UpstreamBody(const Exchange& x, size_t attempt, std::string* out,
                           std::string* error) {
  const PolicySet& set = *x.live;
  const runtime::Endpoint& ep = set.catalog->endpoint(x.s.route.endpoints[attempt].endpoint);
  std::string redacted;
  std::string_view body = x.body;
  if (x.redacted_ready) {
    body = x.redacted;
  } else if (!x.s.decision.redactions.empty()) {
    if (!runtime::ApplyRedactions(x.body, x.s.decision, set.policy->program(), &redacted, error)) {
      return false;
    }
    body = redacted;
  }
  rj::StringBuffer sb;
  JsonWriter w(sb);
  BodyRewriter h(&w, ep.upstream, x.stream);
  rj::Reader reader;
  // Both bodies are std::strings (NUL-terminated), so rapidjson's SSE4.2
  // string scanning applies (it has none for MemoryStream). A NUL inside the
  // document cannot occur: the decoder refused such a body already.
  rj::StringStream ss(body.data());
  if (!reader.Parse<rj::kParseNumbersAsStringsFlag | rj::kParseStopWhenDoneFlag>(ss, h)) {
    *error = "the request body could not be rewritten";
    return false;
  }
  out->assign(sb.GetString(), sb.GetSize());
  return true;
}

namespace {

// A refused move: what refused it, the reservation kept (it is still open
// when only its amounts could not move).
void KeepRefusal(const ledger::Admission& a, ledger::Admission* out) {
  const uint64_t id = out->reservation;
  *out = a;
  out->reservation = id;
}

}  // namespace

bool Service::PlanMove(Exchange* x, size_t attempt, ledger::Usage* worst, bool* same) {
  const PolicySet& set = *x->live;
  const runtime::RoutedEndpoint& ep = x->s.route.endpoints[attempt];
  *worst = runtime::WorstCaseUsage(x->prompt, set.catalog->endpoint(ep.endpoint), x->s.request);
  *same = true;
  if (!x->replan) {
    runtime::SetWorstCase(worst->cost_micros, worst->tokens, &x->plan);
    return true;
  }
  runtime::BudgetPlan next = x->plan;
  if (!runtime::PlanEndpointBudgets(set.policy->program(), x->s.request, *set.catalog, ep, &next)) {
    ledger::Admission refused;
    refused.verdict = ledger::Verdict::kBudgetExceeded;
    refused.message = next.error_message;
    KeepRefusal(refused, &x->admission);
    return false;
  }
  runtime::SetWorstCase(worst->cost_micros, worst->tokens, &next);
  *same = runtime::SameCounters(x->plan, next);
  x->plan = std::move(next);
  return true;
}

void Service::MoveToAsync(Exchange* x, size_t attempt, std::function<void(const bool&)> done) {
  x->attempt = attempt;
  if (!x->reserved && !x->replan && !x->rereserve) {
    done(true);
    return;
  }
  ledger::Usage worst;
  bool same = true;
  if (!PlanMove(x, attempt, &worst, &same)) {
    done(false);
    return;
  }
  // The callbacks may run on the ledger's thread; the exchange waits for
  // `done` and is touched by nobody else meanwhile. After a failed attempt
  // settled its reported usage (ChargeFailedAttempt) there is no
  // reservation to move: the plan is reserved anew, as at admission.
  if (same && !x->rereserve) {
    if (!x->reserved) {
      done(true);
      return;
    }
    ledger::Admission* admission = &x->admission;
    ledger_->MoveAsync(x->admission.reservation, worst,
                       [admission, done = std::move(done)](const ledger::Admission& a) {
                         if (!a.admitted()) KeepRefusal(a, admission);
                         done(a.admitted());
                       });
    return;
  }
  // Other counters (a per-endpoint budget applies to one endpoint and not
  // the other, or under another key): the old reservation is released and
  // the new plan reserved, as at admission. Nothing was delivered from the
  // endpoint left, so nothing is lost by releasing first.
  ledger::Ledger* led = ledger_.get();
  auto reserve = [x, led](std::function<void(const bool&)> done) {
    led->ReserveAsync(x->plan.reserve, [x, done = std::move(done)](const ledger::Admission& a) {
      x->admission = a;
      x->reserved = a.admitted() && a.reservation != 0;
      done(a.admitted());
    });
  };
  if (!x->reserved) {
    x->rereserve = false;
    reserve(std::move(done));
    return;
  }
  led->ReleaseAsync(x->admission.reservation,
                    [x, reserve, done = std::move(done)](const ledger::Status& s) mutable {
                      if (!s.ok) {  // the old one stays (released or expired later)
                        ledger::Admission refused;
                        refused.verdict = ledger::Verdict::kUnavailable;
                        refused.message = s.message;
                        KeepRefusal(refused, &x->admission);
                        done(false);
                        return;
                      }
                      x->reserved = false;
                      x->admission.reservation = 0;
                      reserve(std::move(done));
                    });
}

bool Service::MoveTo(Exchange* x, size_t attempt) {
  bool admitted = false;
  // Every ledger calls an async callback before returning or from its own
  // thread; wait for it.
  std::mutex mu;
  std::condition_variable cv;
  bool called = false;
  MoveToAsync(x, attempt, [&](const bool& ok) {
    std::lock_guard<std::mutex> lock(mu);
    admitted = ok;
    called = true;
    cv.notify_one();
  });
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return called; });
  return admitted;
}

uint64_t Service::Finish(Exchange* x, const Outcome& o) {
  Charge(x, o, nullptr);
  return Record(x, o);
}

namespace {

// The cost (money micros) of `o`'s usage at `ep` and its tokens (*tokens);
// *capped when a reported count was bounded. Charge's rules, below.
int64_t UsageCost(Exchange* x, const runtime::Endpoint& ep, const Outcome& o, int64_t* tokens, bool* capped) {
  // Unknown usage is never charged as less than the request could be
  // billed: an unknown prompt at the worst-case prompt (the bound the
  // reservation holds), an unknown completion (an answer cut or too large,
  // or one with neither usage nor text) at the worst-case completion.
  // A reported usage is bounded by what the request could be billed (a
  // provider's bug or a hostile upstream must not drain a budget): the
  // prompt by the endpoint's context length, the completion by the
  // reservation's completion (max_tokens x n, else the endpoint's maximum
  // output, plus a prediction's bytes). A capped value is marked in the
  // record and logged (Record).
  int64_t in = 0, out = 0;
  *capped = false;
  if (!x->prompt.measured) runtime::MeasurePrompt(x->body, runtime::PromptSource::kBody, &x->prompt);
  if (o.prompt_tokens >= 0) {
    in = o.prompt_tokens;
    if (ep.context_length > 0 && in > ep.context_length) {
      in = ep.context_length;
      *capped = true;
    }
  } else {
    in = runtime::WorstCasePromptTokens(x->prompt, ep);
  }
  const int64_t most_out = runtime::WorstCaseCompletion(x->s.request, &ep);
  if (o.completion_tokens >= 0) {
    const int64_t bound =
        AddChecked(most_out, static_cast<int64_t>(x->prompt.prediction_bytes)).value_or(INT64_MAX);
    out = o.completion_tokens;
    if (out > bound) {
      out = bound;
      *capped = true;
    }
  } else {
    out = most_out;
  }
  *tokens = AddChecked(in, out).value_or(INT64_MAX);
  return runtime::CostCeil(in, out, ep);
}

}  // namespace

int64_t Service::ChargeFailedAttempt(Exchange* x, const Outcome& usage, ledger::Ledger::StatusCallback done) {
  const runtime::Endpoint& ep = x->live->catalog->endpoint(x->s.route.endpoints[x->attempt].endpoint);
  int64_t tokens = 0;
  bool capped = false;
  const int64_t cost = UsageCost(x, ep, usage, &tokens, &capped);
  x->failed_cost = AddChecked(x->failed_cost, cost).value_or(INT64_MAX);
  x->attempt_charged = true;
  if (!x->reserved) {
    done(ledger::Status::Ok());
    return cost;
  }
  for (const ledger::BudgetCharge& b : x->plan.reserve.budgets) {
    metrics_.spend_micros.Add({{"budget", b.budget}}, cost);
  }
  const uint64_t id = x->admission.reservation;
  x->reserved = false;
  x->admission.reservation = 0;
  x->rereserve = true;
  ledger_->SettleAsync(id, {cost, tokens}, std::move(done));
  return cost;
}

void Service::Charge(Exchange* x, const Outcome& o, ledger::Ledger::StatusCallback done) {
  const PolicySet& set = *x->live;
  const bool routed = !x->s.route.endpoints.empty() && x->attempt < x->s.route.endpoints.size();
  const runtime::Endpoint* ep =
      routed ? &set.catalog->endpoint(x->s.route.endpoints[x->attempt].endpoint) : nullptr;
  // Unknown usage is never charged as less than the request could be
  // billed (UsageCost). Failed attempts that reported usage were settled
  // already (ChargeFailedAttempt): only added to the recorded cost.
  int64_t here = 0, tokens = 0;
  x->usage_capped = false;
  if (ep && o.started && !x->attempt_charged) here = UsageCost(x, *ep, o, &tokens, &x->usage_capped);
  x->cost = AddChecked(here, x->failed_cost).value_or(INT64_MAX);
  if (!x->reserved) {
    if (done) done(ledger::Status::Ok());
    return;
  }
  x->reserved = false;
  const uint64_t id = x->admission.reservation;
  if (o.started) {
    for (const ledger::BudgetCharge& b : x->plan.reserve.budgets) {
      metrics_.spend_micros.Add({{"budget", b.budget}}, here);
    }
    if (done) {
      ledger_->SettleAsync(id, {here, tokens}, std::move(done));
    } else {
      ledger_->Settle(id, {here, tokens});
    }
  } else if (done) {
    ledger_->ReleaseAsync(id, std::move(done));
  } else {
    ledger_->Release(id);
  }
}

uint64_t Service::Record(Exchange* x, const Outcome& o) {
  const PolicySet& set = *x->live;
  const vm::Program& program = set.policy->program();
  const vm::Decision& d = x->s.decision;
  const int64_t cost = x->cost;
  const bool routed = !x->s.route.endpoints.empty() && x->attempt < x->s.route.endpoints.size();
  const runtime::Endpoint* ep =
      routed ? &set.catalog->endpoint(x->s.route.endpoints[x->attempt].endpoint) : nullptr;
  // The gateway part of the record.
  std::string gw;
  if (audit_ && (ep || o.http_status)) {  // only records carry it
    thread_local ReusedJsonWriter local;
    JsonWriter& w = local.Begin();
    w.StartObject();
    local.String("status");
    w.Int(o.http_status);
    if (!o.error_code.empty()) {
      local.String("error");
      local.String(o.error_code);
    }
    if (ep && (o.started || o.upstream_status)) {
      local.String("endpoint");
      local.String(ep->id);
      local.String("upstream_status");
      w.Int(o.upstream_status);
      local.String("attempts");
      w.Uint(static_cast<unsigned>(x->attempt + 1));
      if (o.prompt_tokens >= 0) {
        local.String("prompt_tokens");
        w.Int64(o.prompt_tokens);
      }
      if (o.completion_tokens >= 0) {
        local.String("completion_tokens");
        w.Int64(o.completion_tokens);
      }
      if (o.usage_estimated) {
        local.String("usage_estimated");
        w.Bool(true);
      }
      if (x->usage_capped) {  // the reported usage above exceeded the bound: charged at the bound
        local.String("usage_capped");
        w.Bool(true);
      }
      local.String("cost");
      local.String(FormatMicros(cost));
    }
    if (o.stream) {
      local.String("stream");
      w.Bool(true);
      local.String("stream_complete");
      w.Bool(o.stream_complete);
      if (o.event_too_large) {  // some text went uncounted: the completion is the worst case
        local.String("event_too_large");
        w.Bool(true);
      }
    }
    if (!o.upstream_errors.empty()) {
      local.String("failed_attempts");
      w.RawValue(o.upstream_errors.data(), o.upstream_errors.size(), rj::kArrayType);
    }
    w.EndObject();
    gw = local.Take();
  }
  uint64_t seq = 0;
  if (audit_ && set.subject) {
    audit::Entry e;
    e.subject = set.subject;
    e.input = std::move(x->input);
    e.decision = audit::RenderDecision(d, program);
    if (x->s.route.outcome != runtime::RouteResult::Outcome::kNotRouted) {
      e.endpoints = runtime::EndpointsJson(*set.catalog, x->s.route);
    }
    if (d.time_from_clock && d.time) e.clock = audit::internal::FormatMillis(*d.time);
    if (x->counted) e.counters = audit::RenderCounters(program, x->counters, &x->plan);
    e.admission = std::move(x->admission_json);
    e.gateway = std::move(gw);
    e.shadow = x->shadow_json;
    e.id = x->decision_id;
    audit::Ticket t = audit_->Append(std::move(e));
    seq = t.seq;
    x->decision_id = std::move(t.id);
  } else if (x->decision_id.empty()) {
    NewDecisionId(x);
  }
  if (x->usage_capped && ep) {
    log_->warn("{{\"event\":\"usage_capped\",\"decision_id\":\"{}\",\"endpoint\":\"{}\",\"prompt_tokens\":{},"
               "\"completion_tokens\":{},\"cost\":\"{}\"}}",
               x->decision_id, ep->id, o.prompt_tokens, o.completion_tokens, FormatMicros(cost));
  }
  const std::string_view rule = d.deny_rule != UINT32_MAX ? runtime::RuleName(program, d.deny_rule) : "";
  metrics_.decisions.Add({{"outcome", OutcomeName(*x)}, {"code", d.code}, {"rule", rule}});
  if (config_.access_log) {
    thread_local ReusedJsonWriter local;
    JsonWriter& w = local.Begin();
    w.StartObject();
    Str(&w, "event", "request");
    Str(&w, "decision_id", x->decision_id);
    Str(&w, "path", x->path);
    Str(&w, "workspace", x->who ? x->who->workspace : "");
    Str(&w, "key_id", x->who ? x->who->id : "");
    Str(&w, "outcome", OutcomeName(*x));
    Str(&w, "code", d.code);
    if (!rule.empty()) Str(&w, "rule", rule);
    w.Key("status");
    w.Int(o.http_status);
    Str(&w, "endpoint", ep && (o.started || o.upstream_status) ? ep->id : "");  // as the record's
    Str(&w, "cost", FormatMicros(cost));
    w.Key("latency_us");
    w.Int64((MonoNs() - x->start_ns) / 1000);
    w.EndObject();
    log_->info(local.View());
  }
  return seq;
}

void Service::LogWithoutDecision(std::string_view path, const Identity* who, std::string_view outcome,
                         std::string_view code, int status, int64_t start_ns) {
  if (!config_.access_log) return;
  thread_local ReusedJsonWriter local;
  JsonWriter& w = local.Begin();
  w.StartObject();
  Str(&w, "event", "request");
  Str(&w, "path", path);
  Str(&w, "workspace", who ? who->workspace : "");
  Str(&w, "key_id", who ? who->id : "");
  Str(&w, "outcome", outcome);
  Str(&w, "code", code);
  w.Key("status");
  w.Int(status);
  w.Key("latency_us");
  w.Int64((MonoNs() - start_ns) / 1000);
  w.EndObject();
  log_->info(local.View());
}

void Service::NewDecisionId(Exchange* x) {
  if (audit_) {
    x->decision_id = audit_->NewId();
    return;
  }
  static std::mutex id_mu;
  static audit::internal::IdGenerator ids;
  std::lock_guard<std::mutex> lock(id_mu);
  int64_t used;
  x->decision_id = ids.Next(audit::internal::NowMillis(), &used);
}

int Service::Status(const Exchange& x) const {
  return x.invalid ? 400 : x.s.decision.status;
}

std::string Service::ErrorJson(const Exchange& x) const {
  if (x.invalid) {
    std::string msg = x.input_error.message;
    if (!x.input_error.path.empty()) msg += " (at `" + x.input_error.path + "`)";
    return OpenAIError(400, x.input_error.code, msg, {}, {}, OpenAIParam(x.input_error.path));
  }
  const vm::Decision& d = x.s.decision;
  std::string rule;
  if (d.deny_rule != UINT32_MAX) rule = std::string(runtime::RuleName(x.live->policy->program(), d.deny_rule));
  return OpenAIError(d.status, d.code, d.reason, rule, x.decision_id);
}

std::string Service::ModelsJson(const Identity& who) {
  auto set = live();
  rj::StringBuffer sb;
  JsonWriter w(sb);
  w.StartObject();
  Str(&w, "object", "list");
  w.Key("data");
  w.StartArray();
  runtime::DecideScratch s;
  runtime::BudgetPlan plan;
  vm::Counters counters;
  std::vector<ledger::CounterView> views;
  runtime::InputError err;
  std::string input, body;
  for (const std::string& m : set->models) {
    rj::StringBuffer mb;
    JsonWriter mw(mb);
    mw.StartObject();
    Str(&mw, "model", m);
    mw.Key("messages");
    mw.StartArray();
    mw.StartObject();
    Str(&mw, "role", "user");
    Str(&mw, "content", "");
    mw.EndObject();
    mw.EndArray();
    mw.EndObject();
    BuildInput(who, std::string_view(mb.GetString(), mb.GetSize()), &input);
    bool planned = false;
    if (!Evaluate(*set, ledger_.get(), input_limits_, input, &s, &plan, &counters, &views, &planned, &err)) continue;
    if (s.decision.outcome == vm::Outcome::kDeny || s.route.endpoints.empty()) continue;
    w.StartObject();
    Str(&w, "id", m);
    Str(&w, "object", "model");
    w.Key("created");
    w.Int(0);
    size_t slash = m.find('/');
    Str(&w, "owned_by", slash == std::string::npos ? std::string_view("tollgate") : std::string_view(m).substr(0, slash));
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

}  // namespace tollgate::gateway
