#include "runtime/audit/internal/content.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <vector>

#include "runtime/audit/internal/util.h"
#include "stdlib/builtins.h"

namespace tollgate::audit::internal {
namespace rj = rapidjson;
namespace {

constexpr std::string_view kCredentialNames[] = {
    "authorization", "proxy-authorization", "api_key",       "api-key",
    "apikey",        "x-api-key",           "password",      "secret",
    "client_secret", "access_token",        "refresh_token", "cookie",
    "set-cookie",
};
// Cheap pre-filter over the raw text: a credential member name must contain one of these.
constexpr std::string_view kCredentialStems[] = {"authorization", "api", "password", "secret",
                                                 "token", "cookie"};

bool ContainsNoCase(std::string_view hay, std::string_view needle) {
  if (needle.size() > hay.size()) return false;
  auto it = std::search(hay.begin(), hay.end(), needle.begin(), needle.end(), [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) == b;
  });
  return it != hay.end();
}

int ApiKeyDetector() {
  static const int id = stdlib::FindDetector("dlp.api_key");
  return id;
}

// Every message text of a decision input, in document order: string
// contents, text parts, tool-call argument strings.
void ForEachText(rj::Value* input, const std::function<void(rj::Value*)>& fn) {
  if (!input->IsObject()) return;
  auto req = input->FindMember("request");
  if (req == input->MemberEnd() || !req->value.IsObject()) return;
  auto msgs = req->value.FindMember("messages");
  if (msgs == req->value.MemberEnd() || !msgs->value.IsArray()) return;
  for (rj::Value& m : msgs->value.GetArray()) {
    if (!m.IsObject()) continue;
    auto c = m.FindMember("content");
    if (c != m.MemberEnd()) {
      if (c->value.IsString()) {
        fn(&c->value);
      } else if (c->value.IsArray()) {
        for (rj::Value& part : c->value.GetArray()) {
          if (!part.IsObject()) continue;
          auto t = part.FindMember("text");
          if (t != part.MemberEnd() && t->value.IsString()) fn(&t->value);
        }
      }
    }
    auto calls = m.FindMember("tool_calls");
    if (calls == m.MemberEnd() || !calls->value.IsArray()) continue;
    for (rj::Value& call : calls->value.GetArray()) {
      if (!call.IsObject()) continue;
      auto f = call.FindMember("function");
      if (f == call.MemberEnd() || !f->value.IsObject()) continue;
      auto a = f->value.FindMember("arguments");
      if (a != f->value.MemberEnd() && a->value.IsString()) fn(&a->value);
    }
  }
}

// Removes credential members' values and dlp.api_key matches, at any depth.
void Scrub(rj::Value* v, std::string* path, std::vector<std::string>* scrubbed,
           rj::Document::AllocatorType& alloc) {
  if (v->IsObject()) {
    for (auto& m : v->GetObject()) {
      size_t len = path->size();
      if (!path->empty()) *path += '.';
      path->append(m.name.GetString(), m.name.GetStringLength());
      if (IsCredentialName({m.name.GetString(), m.name.GetStringLength()}) && !m.value.IsNull()) {
        m.value.SetString("[removed]", alloc);
        scrubbed->push_back(*path);
      } else {
        Scrub(&m.value, path, scrubbed, alloc);
      }
      path->resize(len);
    }
  } else if (v->IsArray()) {
    size_t i = 0;
    for (rj::Value& e : v->GetArray()) {
      size_t len = path->size();
      *path += "[" + std::to_string(i++) + "]";
      Scrub(&e, path, scrubbed, alloc);
      path->resize(len);
    }
  } else if (v->IsString()) {
    std::string_view s(v->GetString(), v->GetStringLength());
    if (ApiKeyDetector() < 0 || !stdlib::DetectorMatches(ApiKeyDetector(), s)) return;
    std::string out;
    size_t at = 0;
    for (auto [b, e] : stdlib::FindDetectorMatches(ApiKeyDetector(), s)) {
      out.append(s.substr(at, b - at));
      out += "[credential]";
      at = e;
    }
    out.append(s.substr(at));
    v->SetString(out.data(), static_cast<rj::SizeType>(out.size()), alloc);
    scrubbed->push_back(*path);
  }
}

std::string OneLine(std::string_view raw) {
  if (raw.size() >= 3 && static_cast<unsigned char>(raw[0]) == 0xEF &&
      static_cast<unsigned char>(raw[1]) == 0xBB && static_cast<unsigned char>(raw[2]) == 0xBF)
    raw.remove_prefix(3);
  std::string out(raw);
  // Raw CR/LF can only be white space between tokens in valid JSON.
  for (char& c : out)
    if (c == '\n' || c == '\r') c = ' ';
  return out;
}

template <typename W>
void Str(W& w, std::string_view s) {
  w.String(s.data(), static_cast<rj::SizeType>(s.size()));
}

}  // namespace

bool IsCredentialName(std::string_view name) {
  if (name.size() > 32) return false;
  std::string lower(name);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (std::string_view n : kCredentialNames)
    if (lower == n) return true;
  return false;
}

bool PrepareInput(std::string_view raw, ast::Retention retain, std::string_view hmac_key,
                  std::string* input, std::string* content) {
  content->clear();
  if (retain == ast::Retention::kFull) {
    bool suspicious = false;
    for (std::string_view stem : kCredentialStems)
      if (ContainsNoCase(raw, stem)) { suspicious = true; break; }
    if (!suspicious && ApiKeyDetector() >= 0 && stdlib::DetectorMatches(ApiKeyDetector(), raw))
      suspicious = true;
    if (!suspicious) {  // fast path: nothing to remove, keep the bytes
      *input = OneLine(raw);
      return true;
    }
  }
  rj::Document doc;
  std::string copy(raw);
  doc.Parse<rj::kParseNumbersAsStringsFlag>(copy.c_str(), copy.size());
  if (doc.HasParseError()) {
    rj::StringBuffer sb;
    rj::Writer<rj::StringBuffer> w(sb);
    Str(w, "[unparsable input]");
    input->assign(sb.GetString(), sb.GetSize());
    *content = "{\"retain\":\"none\",\"unparsable\":true}";
    return false;
  }
  auto& alloc = doc.GetAllocator();
  std::vector<std::string> scrubbed;
  std::vector<size_t> lengths;
  std::vector<std::string> hmacs;
  std::map<std::string, int> detectors;
  if (retain != ast::Retention::kFull) {
    ForEachText(&doc, [&](rj::Value* v) {
      std::string_view s(v->GetString(), v->GetStringLength());
      lengths.push_back(s.size());
      if (retain == ast::Retention::kHash) {
        hmacs.push_back(HmacSha256Hex(hmac_key, s));
        const auto& decls = stdlib::Detectors();
        for (size_t i = 0; i < decls.size(); ++i) {
          if (!stdlib::DetectorMatches(static_cast<int>(i), s)) continue;
          detectors[std::string(decls[i].name)] +=
              static_cast<int>(stdlib::FindDetectorMatches(static_cast<int>(i), s).size());
        }
      }
      v->SetString("", alloc);
    });
  }
  std::string path;
  Scrub(&doc, &path, &scrubbed, alloc);
  rj::StringBuffer sb;
  rj::Writer<rj::StringBuffer> w(sb);
  doc.Accept(w);
  input->assign(sb.GetString(), sb.GetSize());
  if (retain == ast::Retention::kFull && scrubbed.empty()) return true;
  sb.Clear();
  w.Reset(sb);
  w.StartObject();
  w.Key("retain");
  Str(w, ast::RetentionName(retain));
  if (retain != ast::Retention::kFull) {
    w.Key("lengths");
    w.StartArray();
    for (size_t n : lengths) w.Uint64(n);
    w.EndArray();
  }
  if (retain == ast::Retention::kHash) {
    w.Key("hmac");
    w.StartArray();
    for (const std::string& h : hmacs) Str(w, h);
    w.EndArray();
    w.Key("detectors");
    w.StartObject();
    for (const auto& [name, count] : detectors) {
      Str(w, name);
      w.Int(count);
    }
    w.EndObject();
  }
  w.Key("scrubbed");
  w.StartArray();
  for (const std::string& p : scrubbed) Str(w, p);
  w.EndArray();
  w.EndObject();
  content->assign(sb.GetString(), sb.GetSize());
  return true;
}

bool RestoreContent(rj::Value* input, const rj::Value* content,
                    rj::Document::AllocatorType& alloc) {
  if (content == nullptr || !content->IsObject()) return false;
  auto lengths = content->FindMember("lengths");
  if (lengths != content->MemberEnd() && lengths->value.IsArray()) {
    size_t i = 0;
    const auto& arr = lengths->value;
    ForEachText(input, [&](rj::Value* v) {
      if (i >= arr.Size()) return;
      const rj::Value& n = arr[static_cast<rj::SizeType>(i++)];
      uint64_t len = 0;
      if (n.IsUint64()) len = n.GetUint64();
      else if (n.IsString()) len = std::strtoull(n.GetString(), nullptr, 10);  // raw-number parse
      if (len > (64u << 20)) len = 0;
      std::string filler(len, '_');
      v->SetString(filler.data(), static_cast<rj::SizeType>(filler.size()), alloc);
    });
  }
  return true;
}

}  // namespace tollgate::audit::internal
