#include "runtime/audit/replay.h"

#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <memory>
#include <set>
#include <unordered_map>

#include "engine/core/sha256.h"
#include "engine/vm/vm.h"
#include "runtime/router/accounts.h"
#include "runtime/audit/counters.h"
#include "runtime/audit/internal/content.h"
#include "runtime/audit/internal/util.h"
#include "runtime/audit/store.h"
#include "runtime/router/catalog.h"
#include "runtime/decide/decision_json.h"
#include "runtime/input/input.h"
#include "runtime/router/router.h"

namespace tollgate::audit {
namespace rj = rapidjson;

namespace {

using Writer = rj::Writer<rj::StringBuffer>;

std::string Str(const rj::Value& v, const char* key) {
  if (!v.IsObject()) return {};
  auto it = v.FindMember(key);
  return it != v.MemberEnd() && it->value.IsString()
             ? std::string(it->value.GetString(), it->value.GetStringLength())
             : std::string();
}

const rj::Value* Member(const rj::Value& v, const char* key) {
  if (!v.IsObject()) return nullptr;
  auto it = v.FindMember(key);
  return it == v.MemberEnd() ? nullptr : &it->value;
}

void Serialize(const rj::Value& v, std::string* out) {
  rj::StringBuffer sb;
  Writer w(sb);
  v.Accept(w);
  out->assign(sb.GetString(), sb.GetSize());
}

// Everything one record's evaluation needs, built once per combination of
// policy version, schema, catalog and accounts.
struct Env {
  std::string error;
  std::unique_ptr<stdlib::Schema> ext;
  const stdlib::Schema* schema = &stdlib::Schema::Standard();
  std::shared_ptr<const Policy> policy;
  std::unique_ptr<runtime::Catalog> catalog;
  std::unique_ptr<runtime::Accounts> accounts;
  std::unique_ptr<runtime::Router> router;
  // The retention allow-list of `schema` (what its records were written
  // with), made when a record needs it; null for the standard schema.
  std::shared_ptr<const internal::AllowList> allow;
  const internal::AllowList* Allow() {
    if (schema == &stdlib::Schema::Standard()) return nullptr;
    if (!allow) allow = internal::AllowList::Of(*schema);
    return allow.get();
  }
};

std::string RawString(std::string_view raw);

struct Ids {
  std::string version, schema, catalog, accounts;
  std::string Key() const { return version + "|" + schema + "|" + catalog + "|" + accounts; }
};

Ids RecordIds(const RecordLine& line) {
  Ids ids;
  rj::Document p;
  std::string copy(line.Raw("policy"));
  p.Parse<rj::kParseIterativeFlag>(copy.c_str(), copy.size());
  if (!p.HasParseError()) {
    ids.version = Str(p, "version");
    ids.schema = Str(p, "schema");
  }
  ids.catalog = RawString(line.Raw("catalog"));
  ids.accounts = RawString(line.Raw("accounts"));
  return ids;
}

bool StoredText(const std::string& dir, const std::string& id, std::string* text, std::string* error) {
  StoredObject o;
  if (!LoadObject(dir, id, true, &o, error)) return false;
  if (o.files.empty()) {
    *error = "stored object `" + id + "` has no files";
    return false;
  }
  *text = o.files[0].text;
  // The id is the content hash: a stored document edited afterwards is not
  // that version, and would silently change what replay recomputes.
  if (const std::string now = "sha256:" + Sha256Hex(*text); now != id) {
    *error = "stored " + (o.kind.empty() ? std::string("object") : o.kind) + " `" + id +
             "` hashes to `" + now + "` (its stored files were edited)";
    return false;
  }
  return true;
}

// Builds an Env. `policy_file` / `policy_version` select the policy (the
// record's version when both are empty).
void BuildEnv(const std::string& dir, const Ids& ids, const std::string& policy_file,
              const std::string& policy_version, Env* env) {
  std::string text;
  if (!ids.schema.empty()) {
    if (!StoredText(dir, ids.schema, &text, &env->error)) return;
    env->ext = std::make_unique<stdlib::Schema>(stdlib::Schema::Standard());
    if (!env->ext->AddFromJson(text, &env->error)) return;
    env->schema = env->ext.get();
  }
  Compiled c;
  if (!policy_file.empty()) {
    CompileOptions opts;
    opts.schema = env->schema;
    c = CompileFile(policy_file, opts);
  } else {
    c = CompileStored(dir, policy_version.empty() ? ids.version : policy_version, *env->schema);
  }
  if (!c.policy) {
    env->error = "cannot compile " + (policy_file.empty() ? "stored version `" + (policy_version.empty() ? ids.version : policy_version) + "`" : "`" + policy_file + "`") +
                 ": " + c.diagnostics.Render();
    while (!env->error.empty() && env->error.back() == '\n') env->error.pop_back();
    return;
  }
  // A stored policy (the record's, or the --version candidate) must still be
  // the version its id names.
  if (const std::string& want = policy_version.empty() ? ids.version : policy_version;
      policy_file.empty() && c.policy->version_id() != want) {
    env->error = "stored version `" + want + "` recompiles to `" + c.policy->version_id() +
                 "` (its stored files were edited, or another bytecode format or tollgate build)";
    return;
  }
  env->policy = c.policy;
  // The policy's schema: the base one plus its `schema "x.json"` extensions.
  env->schema = &env->policy->schema();
  if (ids.catalog.empty()) return;
  if (!StoredText(dir, ids.catalog, &text, &env->error)) return;
  env->catalog = std::make_unique<runtime::Catalog>();
  runtime::CatalogError cerr;
  if (!runtime::Catalog::Load(text, *env->schema, env->catalog.get(), &cerr)) {
    env->error = "stored catalog `" + ids.catalog + "`: " + cerr.message;
    return;
  }
  if (!ids.accounts.empty()) {
    if (!StoredText(dir, ids.accounts, &text, &env->error)) return;
    env->accounts = std::make_unique<runtime::Accounts>();
    runtime::AccountsError aerr;
    // Parse only: the stored file was accepted when its decisions were made
    // (an `ignore` entry naming no provider of its catalog then ignored nothing).
    if (!runtime::Accounts::Load(text, env->accounts.get(), &aerr)) {
      env->error = "stored accounts `" + ids.accounts + "`: " + aerr.message;
      return;
    }
  }
  env->router = runtime::Router::Create(*env->policy, *env->catalog, env->accounts.get(), {},
                                        &env->error);
}

// A raw JSON string member ("\"x\"") as text; "" for anything else.
std::string RawString(std::string_view raw) {
  if (raw.size() < 2 || raw.front() != '"') return {};
  if (raw.find('\\') == std::string_view::npos) return std::string(raw.substr(1, raw.size() - 2));
  rj::Document d;
  std::string copy(raw);
  d.Parse<rj::kParseIterativeFlag>(copy.c_str(), copy.size());
  return !d.HasParseError() && d.IsString() ? std::string(d.GetString(), d.GetStringLength()) : std::string();
}

// The decision input to decode again: the recorded input, with filler text
// where retention removed it; the recorded clock is the decoder's clock
// (runtime::DecodeOptions::now_ms), so context.time and the decision's
// `time`/`time_source` come out as recorded.
struct Rebuilt {
  std::string_view json;  // `recorded` itself, or `rebuilt`
  std::string rebuilt;
  runtime::DecodeOptions decode;  // now_ms = the recorded clock, if any
  bool content_missing = false;
  std::string_view decision, endpoints;  // raw recorded values
  std::string_view counters, admission;  // raw recorded ledger inputs ("" = none)
  std::vector<uint64_t> lengths;
  int format = 1;  // the content format (internal/content.h)
};

bool RebuildInput(const RecordLine& line, Env& env, Rebuilt* out) {
  out->content_missing = false;
  out->decision = line.Raw("decision");
  out->endpoints = line.Raw("endpoints");
  out->counters = line.Raw("counters");
  if (out->counters == "null") out->counters = {};
  out->admission = line.Raw("admission");
  if (out->admission == "null") out->admission = {};
  std::string_view input = line.Raw("input");
  std::string_view content = line.Raw("content");
  // The clock as text, without a copy when it has no escape (the usual case).
  std::string_view clock_raw = line.Raw("clock"), clock;
  std::string clock_text;
  if (clock_raw.size() >= 2 && clock_raw.front() == '"' && clock_raw.back() == '"' &&
      clock_raw.find('\\') == std::string_view::npos) {
    clock = clock_raw.substr(1, clock_raw.size() - 2);
  } else {
    clock_text = RawString(clock_raw);
    clock = clock_text;
  }
  out->decode.now_ms.reset();
  int64_t clock_ms = 0;
  if (!clock.empty()) {
    if (!ParseRfc3339(clock, &clock_ms)) return false;
    out->decode.now_ms = clock_ms;
  }
  const std::vector<uint64_t>* lengths = nullptr;
  if (!content.empty() && content != "null") {
    out->content_missing = true;
    out->lengths.clear();
    rj::Document c;
    std::string copy(content);
    c.Parse<rj::kParseIterativeFlag | rj::kParseNumbersAsStringsFlag>(copy.c_str(), copy.size());
    if (const rj::Value* l = c.HasParseError() ? nullptr : Member(c, "lengths"); l && l->IsArray()) {
      for (const auto& n : l->GetArray())
        out->lengths.push_back(n.IsString() ? std::strtoull(n.GetString(), nullptr, 10) : 0);
      lengths = &out->lengths;
    }
    out->format = 1;
    if (const rj::Value* f = c.HasParseError() ? nullptr : Member(c, "format"); f && f->IsString())
      out->format = static_cast<int>(std::strtol(f->GetString(), nullptr, 10));
  }
  if (lengths == nullptr) {  // the common case: decode the recorded bytes
    out->json = input;
    return true;
  }
  if (!internal::RebuildInput(input, lengths, out->format, "", &out->rebuilt, env.Allow()))
    return false;
  out->json = out->rebuilt;
  return true;
}

// One evaluation of a rebuilt input.
struct Outcome {
  bool ok = false;
  std::string error;        // input no longer decodes
  std::string decision;     // RenderDecision (Evaluator::keep_text)
  std::string_view view;    // the same text, valid until the next Run
  std::string endpoints;    // "" when not routed
  std::set<std::string> content_rules;  // rules that read message text (trace runs only)
};

bool IsContentPath(std::string_view p) {
  return p.rfind("request.content", 0) == 0 || p.rfind("request.messages", 0) == 0;
}

struct Evaluator {
  bool keep_text = true;  // fill Outcome::decision (else only Outcome::view)
  // Impact mode, the candidate's run: the recorded counters get the
  // candidate's bounds (RebindCounters); `rebound` names the declarations
  // whose bound differed from the recorded one.
  bool rebind = false;
  std::vector<std::string> rebound;
  vm::Record rec, cand;
  vm::Decision d;
  vm::Counters counters;
  std::string code_storage;
  runtime::RouteResult route;
  runtime::InputError ierr;
  rj::StringBuffer sb;  // reused: the decision is rendered as RenderDecision does

  void Run(const Env& env, const Rebuilt& in, bool routed, bool find_content, Outcome* out) {
    out->ok = false;
    out->content_rules.clear();
    if (!runtime::DecodeInput(in.json, *env.schema, Limits{}, in.decode, &rec, &ierr)) {
      out->error = ierr.code + ": " + ierr.message;
      return;
    }
    const vm::Program& program = env.policy->program();
    // The ledger's counters as the evaluation saw them (counters.h).
    vm::EvalOptions eo;
    if (!in.counters.empty()) {
      if (!ParseCounters(program, in.counters, &counters)) {
        out->error = "the recorded counters do not parse";
        return;
      }
      rebound.clear();
      if (rebind) RebindCounters(program, rec, &counters, &rebound);
      eo.counters = &counters;
    }
    vm::Evaluate(program, rec, eo, &d);
    // Every deciding path (eval, route, the C API, /v1/decide; runtime/decide/decide.cc)
    // checks an input's `candidate` (the endpoint the caller chose) against
    // the placed requires before routing: so does replay.
    if (runtime::MentionsCandidate(in.json)) {
      bool present = false;
      if (!runtime::DecodeCandidate(in.json, *env.schema, Limits{}, &cand, &present, &ierr)) {
        out->error = ierr.code + ": " + ierr.message;
        return;
      }
      if (present) runtime::DeriveEstimatedCost(*env.schema, rec, &cand);
      if (present) vm::CheckCandidate(program, rec, cand, eo, &d);
    }
    out->endpoints.clear();
    if (routed && env.router) {
      env.router->Route(d, rec, &route);
      runtime::ApplyRoute(route, &d);
      out->endpoints = runtime::EndpointsJson(*env.catalog, route);
    }
    if (!in.admission.empty() && !ApplyAdmission(program, rec, in.admission, &d, &code_storage)) {
      out->error = "the recorded admission does not parse";
      return;
    }
    sb.Clear();
    Writer w(sb);
    w.StartObject();
    runtime::WriteDecisionMembers(&w, d, program, false);
    w.EndObject();
    // The text is copied only when it outlives the next Run (impact mode);
    // a determinism check compares the buffer itself.
    out->view = std::string_view(sb.GetString(), sb.GetSize());
    if (keep_text) out->decision.assign(out->view);
    if (find_content) {
      vm::EvalOptions o = eo;
      o.trace = true;
      vm::Decision t;
      vm::Evaluate(program, rec, o, &t);
      for (const vm::TraceEntry& e : t.trace)
        for (const auto& [path, _] : e.values)
          if (IsContentPath(path)) out->content_rules.insert(std::string(runtime::RuleName(program, e.rule)));
    }
    out->ok = true;
  }
};

// The first place two JSON values differ, as a path.
bool FirstDifference(const rj::Value& a, const rj::Value& b, std::string* path, std::string* va,
                     std::string* vb) {
  auto fail = [&] {
    Serialize(a, va);
    Serialize(b, vb);
    return true;
  };
  if (a.GetType() != b.GetType()) return fail();
  if (a.IsObject()) {
    auto ia = a.MemberBegin(), ib = b.MemberBegin();
    for (; ia != a.MemberEnd() && ib != b.MemberEnd(); ++ia, ++ib) {
      std::string name(ia->name.GetString(), ia->name.GetStringLength());
      size_t len = path->size();
      if (name != std::string(ib->name.GetString(), ib->name.GetStringLength())) {
        *path += "." + name;
        Serialize(ia->value, va);
        *vb = "(member `" + std::string(ib->name.GetString()) + "` instead)";
        return true;
      }
      *path += "." + name;
      if (FirstDifference(ia->value, ib->value, path, va, vb)) return true;
      path->resize(len);
    }
    if (ia != a.MemberEnd() || ib != b.MemberEnd()) {
      *path += "." + std::string(ia != a.MemberEnd() ? ia->name.GetString() : ib->name.GetString());
      if (ia != a.MemberEnd()) Serialize(ia->value, va); else va->clear();
      if (ib != b.MemberEnd()) Serialize(ib->value, vb); else vb->clear();
      return true;
    }
    return false;
  }
  if (a.IsArray()) {
    rj::SizeType n = std::min(a.Size(), b.Size());
    for (rj::SizeType i = 0; i < n; ++i) {
      size_t len = path->size();
      *path += "[" + std::to_string(i) + "]";
      if (FirstDifference(a[i], b[i], path, va, vb)) return true;
      path->resize(len);
    }
    if (a.Size() != b.Size()) {
      *path += "[" + std::to_string(n) + "]";
      if (a.Size() > n) Serialize(a[n], va); else va->clear();
      if (b.Size() > n) Serialize(b[n], vb); else vb->clear();
      return true;
    }
    return false;
  }
  if (a.IsString()) {
    if (a.GetStringLength() != b.GetStringLength() ||
        std::memcmp(a.GetString(), b.GetString(), a.GetStringLength()) != 0)
      return fail();
    return false;
  }
  if (a.IsBool() && a.GetBool() != b.GetBool()) return fail();
  if (a.IsNumber() && a != b) return fail();
  return false;
}

std::vector<std::string> Names(const rj::Value* arr) {
  std::vector<std::string> out;
  if (arr == nullptr || !arr->IsArray()) return out;
  for (const auto& v : arr->GetArray()) {
    if (v.IsString()) out.emplace_back(v.GetString(), v.GetStringLength());
    else if (v.IsObject()) {
      std::string s;
      Serialize(v, &s);
      out.push_back(s);
    }
  }
  return out;
}

std::string JsonOf(const rj::Value* v) {
  std::string s;
  if (v) Serialize(*v, &s);
  return s;
}

void AddExample(std::vector<std::string>* ex, const std::string& id, size_t max) {
  if (ex->size() < max) ex->push_back(id);
}

// Impact of one record: the kinds of change between the recorded decision
// (and endpoints) and the candidate's.
void Compare(const RecordLine& line, const std::string& id, const Outcome& now,
             const ReplayOptions& o, ReplayReport* r) {
  rj::Document rec;  // the parts impact needs: decision, endpoints, input
  {
    std::string part = "{\"decision\":" + std::string(line.Raw("decision")) + ",\"endpoints\":" +
                       std::string(line.Raw("endpoints")) + ",\"input\":" + std::string(line.Raw("input")) + "}";
    rec.Parse<rj::kParseIterativeFlag | rj::kParseNumbersAsStringsFlag>(part.c_str(), part.size());
    if (rec.HasParseError()) rec.SetObject();
  }
  const rj::Value* old_d = Member(rec, "decision");
  rj::Document new_d;
  new_d.Parse<rj::kParseIterativeFlag | rj::kParseNumbersAsStringsFlag>(now.decision.c_str(), now.decision.size());
  if (old_d == nullptr || !old_d->IsObject() || new_d.HasParseError() || !new_d.IsObject()) {
    ++r->failed;
    if (r->failures.size() < 10) r->failures.push_back(id + ": the recorded decision is missing");
    return;
  }
  std::vector<std::string> kinds;
  const std::string oo = Str(*old_d, "outcome"), no = Str(new_d, "outcome");
  if (oo == "allow" && no == "deny") kinds.push_back("allow_to_deny");
  else if (oo == "deny" && no == "allow") kinds.push_back("deny_to_allow");
  else if (JsonOf(Member(*old_d, "status")) != JsonOf(Member(new_d, "status")) ||
           Str(*old_d, "code") != Str(new_d, "code"))
    kinds.push_back("status_code");
  const bool answer_changed = !kinds.empty();
  const rj::Value* old_e = Member(rec, "endpoints");
  std::string old_endpoints = old_e && !old_e->IsNull() ? JsonOf(old_e) : std::string();
  if (old_endpoints != now.endpoints) {
    // Compare endpoint ids in order (costs follow the catalog, not the policy).
    rj::Document ne;
    ne.Parse<rj::kParseIterativeFlag | rj::kParseNumbersAsStringsFlag>(now.endpoints.c_str(), now.endpoints.size());
    std::vector<std::string> a, b;
    if (old_e && old_e->IsArray())
      for (const auto& e : old_e->GetArray()) a.push_back(Str(e, "id"));
    if (!ne.HasParseError() && ne.IsArray())
      for (const auto& e : ne.GetArray()) b.push_back(Str(e, "id"));
    if (a != b) kinds.push_back("route");
  }
  if (JsonOf(Member(*old_d, "redactions")) != JsonOf(Member(new_d, "redactions")))
    kinds.push_back("redactions");
  if (Names(Member(*old_d, "shadow")) != Names(Member(new_d, "shadow")))
    kinds.push_back("shadow");
  // What the caller reads: the deny reason when outcome, status and code stay.
  if (!answer_changed && Str(*old_d, "reason") != Str(new_d, "reason"))
    kinds.push_back("reason");
  if (JsonOf(Member(*old_d, "tags")) != JsonOf(Member(new_d, "tags"))) kinds.push_back("tags");
  // Other rules fire with the same effects (a second deny rule behind the one
  // that answered, an advisory rule), or anything else of the decision differs
  // (requires, route hints, warnings, errors): the record changed all the
  // same. The version and the instruction count always differ: not compared.
  if (kinds.empty()) {
    if (Names(Member(*old_d, "rules")) != Names(Member(new_d, "rules")) ||
        Names(Member(*old_d, "advisory")) != Names(Member(new_d, "advisory"))) {
      kinds.push_back("rules");
    } else {
      auto differs = [](const rj::Value& a, const rj::Value& b) {
        for (const auto& m : a.GetObject()) {
          std::string k(m.name.GetString(), m.name.GetStringLength());
          if (k != "policy" && k != "instructions" && JsonOf(&m.value) != JsonOf(Member(b, k.c_str())))
            return true;
        }
        return false;
      };
      if (differs(*old_d, new_d) || differs(new_d, *old_d)) kinds.push_back("other");
    }
  }
  if (kinds.empty()) {
    ++r->identical;
    return;
  }
  Impact& im = r->impact;
  ++im.changed;
  for (const std::string& k : kinds) {
    ++im.kinds[k];
    AddExample(&im.kind_examples[k], id, o.max_examples);
  }
  // Rules whose firing differs (enforced, shadow, advisory).
  std::set<std::string> before, after;
  for (const char* key : {"rules", "shadow", "advisory"}) {
    for (auto& n : Names(Member(*old_d, key))) before.insert(n);
    for (auto& n : Names(Member(new_d, key))) after.insert(n);
  }
  std::set<std::string> diff;
  std::set_symmetric_difference(before.begin(), before.end(), after.begin(), after.end(),
                                std::inserter(diff, diff.begin()));
  if (diff.empty()) diff.insert("(same rules fired)");
  auto add = [&](ImpactGroup& g) {
    ++g.count;
    for (const std::string& k : kinds) ++g.kinds[k];
    AddExample(&g.examples, id, o.max_examples);
  };
  for (const std::string& rule : diff) add(im.by_rule[rule]);
  std::string ws;
  if (const rj::Value* in = Member(rec, "input"))
    if (const rj::Value* p = Member(*in, "principal")) ws = Str(*p, "workspace");
  add(im.by_workspace[ws.empty() ? "(none)" : ws]);
}

}  // namespace

bool Replay(const ReplayOptions& o, ReplayReport* r, std::string* error) {
  *r = ReplayReport{};
  r->impact_mode = !o.candidate_file.empty() || !o.candidate_version.empty();
  RecordReader reader;
  if (!reader.Open(o.dir, error, /*with_dom=*/false, o.fast_members)) return false;
  // Environments by the raw text of the record's policy/catalog/accounts
  // members (identical bytes for every record of one version).
  std::unordered_map<std::string, std::unique_ptr<Env>> envs, candidates;
  Evaluator ev;
  ev.keep_text = r->impact_mode;  // determinism checks compare the render buffer
  RecordLine line;
  Rebuilt input;
  Outcome recorded_now, candidate_now;
  std::string key;
  std::vector<Problem> bad_lines;  // decisions that do not parse (RecordSpans)
  auto env_for = [&](auto& cache, const std::string& file, const std::string& version) -> Env& {
    auto it = cache.find(key);
    if (it == cache.end()) {
      auto env = std::make_unique<Env>();
      BuildEnv(o.dir, RecordIds(line), file, version, env.get());
      it = cache.emplace(key, std::move(env)).first;
    }
    return *it->second;
  };
  // Consecutive records nearly always share their versions: the last
  // record's environment is reused while the raw members are the same bytes.
  std::string last_key;
  Env* last_env = nullptr;
  auto same_versions = [&] {
    std::string_view p = line.Raw("policy"), c = line.Raw("catalog"), a = line.Raw("accounts");
    return last_env != nullptr && last_key.size() == p.size() + c.size() + a.size() + 2 &&
           last_key.compare(0, p.size(), p) == 0 && last_key[p.size()] == '|' &&
           last_key.compare(p.size() + 1, c.size(), c) == 0 && last_key[p.size() + 1 + c.size()] == '|' &&
           last_key.compare(p.size() + c.size() + 2, a.size(), a) == 0;
  };
  while (reader.Next(&line)) {
    // The reader's fast spans (internal::RecordSpans) are confirmed by the
    // full parse before anything but "identical" is reported, and the record
    // is then replayed again; impact mode confirms every record first.
    bool checked = !o.fast_members;
    auto confirm = [&]() -> bool {  // false: not a decision record (reported)
      checked = true;
      if (internal::TopLevelSpans(line.text, &line.members) && line.Raw("kind") == "\"decision\"")
        return true;
      bad_lines.push_back({line.file, line.line, "", "audit_malformed_line",
                           "a line that is not a decision record was skipped", false});
      return false;
    };
    // 0: go on reporting; 1: replay the record again; 2: drop it.
    auto recheck = [&]() -> int {
      if (checked) return 0;
      if (confirm()) return 1;
      --r->records;
      return 2;
    };
    if (r->impact_mode && !confirm()) continue;
    ++r->records;
    for (;;) {
      const bool same = same_versions();
      if (!same) {
        key.assign(line.Raw("policy"));
        key += '|';
        key += line.Raw("catalog");
        key += '|';
        key += line.Raw("accounts");
      }
      const bool routed = !line.Raw("endpoints").empty() && line.Raw("endpoints").front() == '[';
      std::string id_text;  // the decision id, made only when a report needs it
      auto id_of = [&]() -> const std::string& {
        if (id_text.empty()) id_text = RawString(line.Raw("id"));
        return id_text;
      };
      auto fail = [&](const std::string& why) {
        ++r->failed;
        if (r->failures.size() < 10) r->failures.push_back(id_of() + ": " + why);
      };
      if (!same) {
        last_env = &env_for(envs, "", "");
        last_key = key;
      }
      Env& env = *last_env;
      if (!env.error.empty()) {
        if (int c = recheck()) {
          if (c == 1) continue;
          break;
        }
        fail(env.error);
        break;
      }
      if (routed && !env.router) {
        if (int c = recheck()) {
          if (c == 1) continue;
          break;
        }
        fail("the record was routed but names no stored catalog");
        break;
      }
      if (!RebuildInput(line, env, &input)) {
        if (int c = recheck()) {
          if (c == 1) continue;
          break;
        }
        fail("the recorded input does not parse");
        break;
      }
      if (!r->impact_mode) {
        ev.Run(env, input, routed, input.content_missing, &recorded_now);
        if (!recorded_now.ok) {
          if (int c = recheck()) {
            if (c == 1) continue;
            break;
          }
          fail("the recorded input no longer decodes: " + recorded_now.error);
          break;
        }
        if (input.content_missing && !recorded_now.content_rules.empty()) {
          if (int c = recheck()) {
            if (c == 1) continue;
            break;
          }
          ++r->not_replayable;
          for (const std::string& rule : recorded_now.content_rules) ++r->not_replayable_rules[rule];
          AddExample(&r->not_replayable_examples, id_of(), o.max_examples);
          break;
        }
        const std::string_view recorded_decision = input.decision;
        const std::string_view recorded_endpoints = routed ? input.endpoints : std::string_view();
        if (recorded_decision == recorded_now.view && recorded_endpoints == recorded_now.endpoints) {
          ++r->identical;
          break;
        }
        if (int c = recheck()) {
          if (c == 1) continue;
          break;
        }
        rj::Document a, b;
        std::string ra = "{\"decision\":" + std::string(recorded_decision) + ",\"endpoints\":" +
                         (routed ? std::string(recorded_endpoints) : "null") + "}";
        a.Parse<rj::kParseIterativeFlag | rj::kParseNumbersAsStringsFlag>(ra.c_str(), ra.size());
        ++r->mismatched;
        if (r->mismatched == 1) {
          Mismatch& m = r->first_mismatch;
          m.id = id_of();
          std::string rb = "{\"decision\":" + std::string(recorded_now.view) + ",\"endpoints\":" +
                           (routed ? recorded_now.endpoints : "null") + "}";
          b.Parse<rj::kParseIterativeFlag | rj::kParseNumbersAsStringsFlag>(rb.c_str(), rb.size());
          std::string path;
          if (!a.HasParseError() && !b.HasParseError() &&
              FirstDifference(a, b, &path, &m.recorded, &m.replayed))
            m.field = path.empty() ? "(record)" : path.substr(1);
          else
            m.field = "(bytes)";
        }
        break;
      }
      // Impact mode.
      Env& cand = env_for(candidates, o.candidate_file, o.candidate_version);
      if (!cand.error.empty()) {
        *error = cand.error;
        return false;
      }
      if (r->candidate.empty()) r->candidate = cand.policy->version_id();
      if (routed && !cand.router) {
        if (int c = recheck()) {
          if (c == 1) continue;
          break;
        }
        fail("the record was routed but names no stored catalog");
        break;
      }
      // A record that names a catalog was decided by a caller that routes
      // (the gateway, `route`). Both write a policy's deny with
      // "endpoints":null (it was never routed): a candidate that allows the
      // request is routed as that caller would route it, so that an allow
      // no endpoint can serve is reported as the deny it would be.
      const std::string_view catalog = line.Raw("catalog");
      const bool cand_routed = routed || (!catalog.empty() && catalog.front() == '"' && cand.router);
      ev.rebind = true;
      ev.rebound.clear();
      ev.Run(cand, input, cand_routed, input.content_missing, &candidate_now);
      ev.rebind = false;
      if (!candidate_now.ok) {
        if (int c = recheck()) {
          if (c == 1) continue;
          break;
        }
        fail("the recorded input does not decode for the candidate: " + candidate_now.error);
        break;
      }
      if (input.content_missing) {
        ev.Run(env, input, routed, true, &recorded_now);
        std::set<std::string> rules = candidate_now.content_rules;
        rules.insert(recorded_now.content_rules.begin(), recorded_now.content_rules.end());
        if (!rules.empty()) {
          if (int c = recheck()) {
            if (c == 1) continue;
            break;
          }
          ++r->not_replayable;
          for (const std::string& rule : rules) ++r->not_replayable_rules[rule];
          AddExample(&r->not_replayable_examples, id_of(), o.max_examples);
          break;
        }
      }
      if (!ev.rebound.empty()) {
        ++r->rebound;
        for (const std::string& n : ev.rebound) ++r->rebound_counters[n];
        if (!input.admission.empty()) {  // the ledger's verdict is the recorded one
          ++r->verdicts_kept;
          AddExample(&r->verdicts_kept_examples, id_of(), o.max_examples);
        }
      }
      Compare(line, id_of(), candidate_now, o, r);
      break;
    }
  }
  r->problems = reader.problems();
  r->problems.insert(r->problems.end(), bad_lines.begin(), bad_lines.end());
  return true;
}

namespace {

template <typename W>
void Group(W& w, const std::map<std::string, ImpactGroup>& groups) {
  w.StartObject();
  for (const auto& [name, g] : groups) {
    w.Key(name.c_str(), static_cast<rj::SizeType>(name.size()));
    w.StartObject();
    w.Key("count");
    w.Uint64(g.count);
    w.Key("kinds");
    w.StartObject();
    for (const auto& [k, n] : g.kinds) {
      w.Key(k.c_str());
      w.Uint64(n);
    }
    w.EndObject();
    w.Key("examples");
    w.StartArray();
    for (const std::string& e : g.examples) w.String(e.c_str());
    w.EndArray();
    w.EndObject();
  }
  w.EndObject();
}

std::string Joined(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

}  // namespace

std::string ReportJson(const ReplayReport& r) {
  rj::StringBuffer sb;
  rj::PrettyWriter<rj::StringBuffer> w(sb);
  w.SetIndent(' ', 2);
  w.StartObject();
  w.Key("mode");
  w.String(r.impact_mode ? "impact" : "determinism");
  if (r.impact_mode) {
    w.Key("candidate");
    w.String(r.candidate.c_str());
  }
  w.Key("records"); w.Uint64(r.records);
  w.Key(r.impact_mode ? "unchanged" : "identical"); w.Uint64(r.identical);
  if (r.impact_mode) { w.Key("changed"); w.Uint64(r.impact.changed); }
  else { w.Key("mismatched"); w.Uint64(r.mismatched); }
  w.Key("not_replayable"); w.Uint64(r.not_replayable);
  w.Key("failed"); w.Uint64(r.failed);
  if (!r.impact_mode && r.mismatched) {
    w.Key("first_mismatch");
    w.StartObject();
    w.Key("id"); w.String(r.first_mismatch.id.c_str());
    w.Key("field"); w.String(r.first_mismatch.field.c_str());
    w.Key("recorded"); w.String(r.first_mismatch.recorded.c_str());
    w.Key("replayed"); w.String(r.first_mismatch.replayed.c_str());
    w.EndObject();
  }
  if (r.impact_mode) {
    w.Key("changes");
    w.StartObject();
    for (const auto& [k, n] : r.impact.kinds) {
      w.Key(k.c_str());
      w.StartObject();
      w.Key("count"); w.Uint64(n);
      w.Key("examples");
      w.StartArray();
      for (const std::string& e : r.impact.kind_examples.at(k)) w.String(e.c_str());
      w.EndArray();
      w.EndObject();
    }
    w.EndObject();
    w.Key("by_rule");
    Group(w, r.impact.by_rule);
    w.Key("by_workspace");
    Group(w, r.impact.by_workspace);
    w.Key("rebound");
    w.Uint64(r.rebound);
    w.Key("rebound_counters");
    w.StartObject();
    for (const auto& [name, n] : r.rebound_counters) {
      w.Key(name.c_str(), static_cast<rj::SizeType>(name.size()));
      w.Uint64(n);
    }
    w.EndObject();
    w.Key("verdicts_not_recomputed");
    w.Uint64(r.verdicts_kept);
    w.Key("verdicts_not_recomputed_examples");
    w.StartArray();
    for (const std::string& e : r.verdicts_kept_examples) w.String(e.c_str());
    w.EndArray();
  }
  w.Key("not_replayable_rules");
  w.StartObject();
  for (const auto& [rule, n] : r.not_replayable_rules) {
    w.Key(rule.c_str(), static_cast<rj::SizeType>(rule.size()));
    w.Uint64(n);
  }
  w.EndObject();
  w.Key("not_replayable_examples");
  w.StartArray();
  for (const std::string& e : r.not_replayable_examples) w.String(e.c_str());
  w.EndArray();
  w.Key("failures");
  w.StartArray();
  for (const std::string& f : r.failures) w.String(f.c_str(), static_cast<rj::SizeType>(f.size()));
  w.EndArray();
  w.Key("problems");
  w.StartArray();
  for (const Problem& p : r.problems) {
    w.StartObject();
    w.Key("file"); w.String(p.file.c_str());
    w.Key("line"); w.Uint64(p.line);
    w.Key("code"); w.String(p.code.c_str());
    w.Key("message"); w.String(p.message.c_str(), static_cast<rj::SizeType>(p.message.size()));
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize()) + "\n";
}

std::string ReportText(const ReplayReport& r) {
  std::string s;
  auto line = [&](const std::string& x) { s += x + "\n"; };
  for (const Problem& p : r.problems)
    line("warning[" + p.code + "]: " + p.file + ":" + std::to_string(p.line) + ": " + p.message);
  if (!r.impact_mode) {
    line("replayed " + std::to_string(r.records) + " records against their deciding versions: " +
         std::to_string(r.identical) + " identical, " + std::to_string(r.mismatched) +
         " different, " + std::to_string(r.not_replayable) + " not replayable, " +
         std::to_string(r.failed) + " failed");
    if (r.mismatched) {
      const Mismatch& m = r.first_mismatch;
      line("error[audit_replay_mismatch]: decision `" + m.id + "` differs at `" + m.field + "`");
      line("  recorded: " + (m.recorded.empty() ? std::string("(absent)") : m.recorded));
      line("  replayed: " + (m.replayed.empty() ? std::string("(absent)") : m.replayed));
    }
  } else {
    line("impact of " + r.candidate + " on " + std::to_string(r.records) + " recorded decisions: " +
         std::to_string(r.impact.changed) + " changed, " + std::to_string(r.identical) +
         " unchanged, " + std::to_string(r.not_replayable) + " not replayable, " +
         std::to_string(r.failed) + " failed");
    for (const auto& [k, n] : r.impact.kinds)
      line("  " + k + ": " + std::to_string(n) + " (e.g. " + Joined(r.impact.kind_examples.at(k)) + ")");
    auto groups = [&](const char* title, const std::map<std::string, ImpactGroup>& g) {
      if (g.empty()) return;
      line(std::string("by ") + title + ":");
      for (const auto& [name, grp] : g) {
        std::string kinds;
        for (const auto& [k, n] : grp.kinds) kinds += (kinds.empty() ? "" : ", ") + k + " " + std::to_string(n);
        line("  " + name + ": " + std::to_string(grp.count) + " (" + kinds + "; e.g. " + Joined(grp.examples) + ")");
      }
    };
    groups("rule", r.impact.by_rule);
    groups("workspace", r.impact.by_workspace);
    if (r.rebound) {
      std::string names;
      for (const auto& [name, n] : r.rebound_counters)
        names += (names.empty() ? "" : ", ") + name + " " + std::to_string(n);
      line("note: on " + std::to_string(r.rebound) + " records the candidate's budget or limit bounds differ from "
           "the recorded ones (" + names + "): its rules read the candidate's limit and the remaining left "
           "under it after the recorded use");
    }
    if (r.verdicts_kept)
      line("warning: " + std::to_string(r.verdicts_kept) + " of them had a reservation; its verdict (admitted or "
           "refused) is the ledger's as recorded, not recomputed under the candidate's bounds, and the spend of "
           "later requests is not re-simulated (e.g. " + Joined(r.verdicts_kept_examples) + ")");
  }
  if (r.not_replayable) {
    std::string rules;
    for (const auto& [rule, n] : r.not_replayable_rules) rules += (rules.empty() ? "" : ", ") + rule + " " + std::to_string(n);
    line("not replayable (message text not kept whole in the record -- `retain content hash` or `none`, or a "
         "credential cut out of it; read by: " + rules + "), e.g. " +
         Joined(r.not_replayable_examples));
  }
  for (const std::string& f : r.failures) line("error[audit_replay_failed]: " + f);
  return s;
}

bool ExplainRecord(const std::string& dir, const std::string& id, std::string* json,
                   std::string* error) {
  RecordReader reader;
  if (!reader.Open(dir, error)) return false;
  RecordLine line;
  bool found = false;
  while (reader.Next(&line)) {
    if (Str(line.doc, "id") == id) {
      found = true;
      break;
    }
  }
  if (!found) {
    *error = "decision `" + id + "` is not in `" + dir + "`";
    return false;
  }
  Ids ids = RecordIds(line);
  Env env;
  BuildEnv(dir, ids, "", "", &env);
  if (!env.error.empty()) {
    *error = env.error;
    return false;
  }
  const bool routed = !line.Raw("endpoints").empty() && line.Raw("endpoints").front() == '[';
  Rebuilt input;
  if (!RebuildInput(line, env, &input)) {
    *error = "the recorded input does not parse";
    return false;
  }
  vm::Record request;
  runtime::InputError ierr;
  if (!runtime::DecodeInput(input.json, *env.schema, Limits{}, input.decode, &request, &ierr)) {
    *error = "the recorded input no longer decodes: " + ierr.message;
    return false;
  }
  const vm::Program& program = env.policy->program();
  // The decision as made (no trace: identical to the record), then the
  // trace; both with the recorded ledger counters.
  vm::Counters counters;
  vm::EvalOptions eo;
  if (!input.counters.empty()) {
    if (!ParseCounters(program, input.counters, &counters)) {
      *error = "the recorded counters do not parse";
      return false;
    }
    eo.counters = &counters;
  }
  vm::Decision d, traced;
  vm::Evaluate(program, request, eo, &d);
  vm::EvalOptions topts = eo;
  topts.trace = true;
  vm::Evaluate(program, request, topts, &traced);
  if (runtime::MentionsCandidate(input.json)) {  // as runtime::Decide does
    vm::Record cand;
    bool present = false;
    if (!runtime::DecodeCandidate(input.json, *env.schema, Limits{}, &cand, &present, &ierr)) {
      *error = "the recorded candidate no longer decodes: " + ierr.message;
      return false;
    }
    if (present) runtime::DeriveEstimatedCost(*env.schema, request, &cand);
    if (present) vm::CheckCandidate(program, request, cand, eo, &d);
  }
  runtime::RouteResult route;
  std::string endpoints_now;
  if (routed && env.router) {
    env.router->Route(d, request, &route);
    runtime::ApplyRoute(route, &d);
    endpoints_now = runtime::EndpointsJson(*env.catalog, route);
  }
  std::string code_storage;
  if (!ApplyAdmission(program, request, input.admission, &d, &code_storage)) {
    *error = "the recorded admission does not parse";
    return false;
  }
  std::string plain = runtime::DecisionToJson(d, program, {});
  const bool identical =
      input.decision == plain && (routed ? input.endpoints : std::string_view()) == endpoints_now;
  // Explained document: the trace of every rule plus, when routed, why each
  // other endpoint was eliminated.
  traced.route = d.route;
  rj::StringBuffer sb;
  Writer w(sb);
  w.StartObject();
  w.Key("record");
  w.RawValue(line.text.data(), line.text.size(), rj::kObjectType);
  // Without the text, a rule that read it was evaluated on filler: the
  // recomputation is not compared (as replay counts it not replayable).
  std::set<std::string> content_rules;
  if (input.content_missing)
    for (const vm::TraceEntry& e : traced.trace)
      for (const auto& [path, _] : e.values)
        if (IsContentPath(path)) content_rules.insert(std::string(runtime::RuleName(program, e.rule)));
  w.Key("identical");
  if (content_rules.empty()) w.Bool(identical);
  else w.Null();
  w.Key("content_retained");
  w.Bool(!input.content_missing);
  if (!content_rules.empty()) {
    w.Key("not_replayable");
    w.StartObject();
    w.Key("reason");
    w.String("message text not kept whole in the record (`retain content hash` or `none`, or a credential cut "
             "out of it): the rules below read it and were evaluated on what the record kept (filler of the "
             "recorded length, or the text with its credentials cut out)");
    w.Key("rules");
    w.StartArray();
    for (const std::string& rule : content_rules) w.String(rule.c_str(), static_cast<rj::SizeType>(rule.size()));
    w.EndArray();
    w.EndObject();
  }
  w.Key("recomputed");
  w.StartObject();
  runtime::WriteDecisionMembers(&w, d, program, false);
  w.Key("trace");
  {
    std::string t = runtime::DecisionToJson(traced, program, {true, false});
    rj::Document td;
    td.Parse<rj::kParseIterativeFlag>(t.c_str(), t.size());
    if (!td.HasParseError() && td.HasMember("trace")) td["trace"].Accept(w);
    else w.Null();
  }
  if (routed && env.router) {
    w.Key("endpoints");
    w.RawValue(endpoints_now.data(), endpoints_now.size(), rj::kArrayType);
    std::string elim = runtime::EliminatedJson(*env.catalog, program, route, false, &request);
    w.Key("eliminated");
    w.RawValue(elim.data(), elim.size(), rj::kArrayType);
  }
  w.EndObject();
  w.EndObject();
  // Pretty-print for people.
  rj::Document out;
  out.Parse<rj::kParseIterativeFlag | rj::kParseFullPrecisionFlag>(sb.GetString(), sb.GetSize());
  rj::StringBuffer pb;
  rj::PrettyWriter<rj::StringBuffer> pw(pb);
  pw.SetIndent(' ', 2);
  out.Accept(pw);
  json->assign(pb.GetString(), pb.GetSize());
  *json += "\n";
  return true;
}

}  // namespace tollgate::audit
