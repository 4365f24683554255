// Static types: factories, compatibility, printing and parsing.
#include "engine/core/types.h"

#include <algorithm>
#include <cctype>
#include <unordered_set>

namespace tollgate {

const char* KindName(Kind k) {
  switch (k) {
    case Kind::kNull: return "null";
    case Kind::kBool: return "bool";
    case Kind::kInt: return "int";
    case Kind::kDecimal: return "decimal";
    case Kind::kMoney: return "money";
    case Kind::kString: return "string";
    case Kind::kDuration: return "duration";
    case Kind::kTime: return "time";
    case Kind::kSet: return "set";
    case Kind::kList: return "list";
    case Kind::kMap: return "map";
    case Kind::kRecord: return "record";
    case Kind::kPattern: return "pattern";
    case Kind::kAny: return "any";
  }
  return "any";
}

namespace {
const Type& AnyType() {
  static const Type* any = new Type(Kind::kAny);
  return *any;
}
const std::vector<RecordField>& NoFields() {
  static const auto* none = new std::vector<RecordField>();
  return *none;
}
}  // namespace

Type Type::Set(Type elem) {
  Type t(Kind::kSet);
  t.depth_ = elem.depth_ + 1;
  t.elem_ = std::make_shared<const Type>(std::move(elem));
  return t;
}

Type Type::List(Type elem) {
  Type t(Kind::kList);
  t.depth_ = elem.depth_ + 1;
  t.elem_ = std::make_shared<const Type>(std::move(elem));
  return t;
}

Type Type::Map(Type value) {
  Type t(Kind::kMap);
  t.depth_ = value.depth_ + 1;
  t.elem_ = std::make_shared<const Type>(std::move(value));
  return t;
}

Type Type::Record(std::vector<RecordField> fields) {
  Type t(Kind::kRecord);
  for (const RecordField& f : fields) t.depth_ = std::max(t.depth_, f.type.depth_ + 1);
  if (fields.empty()) t.depth_ = 1;
  t.fields_ = std::make_shared<const std::vector<RecordField>>(std::move(fields));
  return t;
}

const Type& Type::elem() const { return elem_ ? *elem_ : AnyType(); }

const std::vector<RecordField>& Type::fields() const { return fields_ ? *fields_ : NoFields(); }

int Type::FieldIndex(std::string_view name) const {
  const auto& fs = fields();
  for (size_t i = 0; i < fs.size(); ++i) {
    if (SameName(fs[i].name, name)) return static_cast<int>(i);
  }
  return -1;
}

bool Type::Accepts(const Type& other) const {
  if (kind_ == Kind::kAny || other.kind_ == Kind::kAny) return true;
  if (kind_ == Kind::kDecimal && other.kind_ == Kind::kInt) return true;
  if (kind_ != other.kind_) return false;
  switch (kind_) {
    case Kind::kSet:
    case Kind::kList:
    case Kind::kMap:
      // Containers are immutable, so covariance is sound (list<int> as list<decimal>).
      return elem().Accepts(other.elem());
    case Kind::kRecord: {
      // Every field of `this` must be present in `other` with an accepted
      // type (optional fields may be absent); `other` may not carry fields
      // `this` does not know.
      for (const RecordField& f : fields()) {
        int j = other.FieldIndex(f.name);
        if (j < 0) {
          if (!f.optional) return false;
          continue;
        }
        const RecordField& g = other.fields()[j];
        if (g.optional && !f.optional) return false;
        if (!f.type.Accepts(g.type)) return false;
      }
      for (const RecordField& g : other.fields()) {
        if (FieldIndex(g.name) < 0) return false;
      }
      return true;
    }
    default:
      return true;
  }
}

std::string Type::ToString() const {
  std::string s;
  Render(&s, 0);
  if (s.size() > kMaxShownChars) {
    s.resize(kMaxShownChars - 3);
    s += "...";
  }
  return s;
}

void Type::Render(std::string* out, int depth) const {
  if (out->size() > kMaxShownChars) return;  // cut by ToString
  if (depth > kMaxShownDepth && (IsContainer() || kind_ == Kind::kRecord)) {
    *out += "...";
    return;
  }
  switch (kind_) {
    case Kind::kSet: case Kind::kList: case Kind::kMap:
      *out += KindName(kind_);
      *out += '<';
      elem().Render(out, depth + 1);
      *out += '>';
      return;
    case Kind::kRecord: {
      *out += '{';
      bool first = true;
      for (const RecordField& f : fields()) {
        if (out->size() > kMaxShownChars) return;
        if (!first) *out += ", ";
        first = false;
        *out += f.name;
        if (f.optional) *out += '?';
        *out += ": ";
        f.type.Render(out, depth + 1);
      }
      *out += '}';
      return;
    }
    default:
      *out += KindName(kind_);
  }
}

bool Type::operator==(const Type& o) const {
  if (kind_ != o.kind_) return false;
  switch (kind_) {
    case Kind::kSet:
    case Kind::kList:
    case Kind::kMap:
      return elem() == o.elem();
    case Kind::kRecord: {
      const auto& a = fields();
      const auto& b = o.fields();
      if (a.size() != b.size()) return false;
      for (size_t i = 0; i < a.size(); ++i) {
        if (a[i].name != b[i].name || a[i].optional != b[i].optional || a[i].type != b[i].type) {
          return false;
        }
      }
      return true;
    }
    default:
      return true;
  }
}

namespace {

constexpr int kMaxTypeDepth = 64;

class TypeParser {
 public:
  TypeParser(std::string_view text, std::string* error) : text_(text), error_(error) {}

  bool ParseAll(Type* out) {
    if (!ParseType(out, 0)) return false;
    SkipWs();
    if (pos_ != text_.size()) return Fail("unexpected `" + std::string(text_.substr(pos_)) + "`");
    return true;
  }

 private:
  void SkipWs() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool Fail(std::string msg) {
    if (error_) *error_ = "invalid type `" + std::string(text_) + "`: " + msg;
    return false;
  }
  bool Eat(char c) {
    SkipWs();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool Expect(char c) {
    if (Eat(c)) return true;
    if (pos_ >= text_.size()) return Fail(std::string("expected `") + c + "` at end");
    return Fail(std::string("expected `") + c + "` at offset " + std::to_string(pos_));
  }
  std::string Ident() {
    SkipWs();
    size_t b = pos_;
    while (pos_ < text_.size() &&
           (std::isalnum(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '_')) {
      ++pos_;
    }
    return std::string(text_.substr(b, pos_ - b));
  }

  bool ParseType(Type* out, int depth) {
    if (depth > kMaxTypeDepth) return Fail("nested too deeply");
    SkipWs();
    if (Eat('{')) return ParseRecord(out, depth);
    std::string name = Ident();
    if (name.empty()) {
      if (pos_ >= text_.size()) return Fail("expected a type name at end");
      return Fail("expected a type name at offset " + std::to_string(pos_));
    }
    static const std::pair<const char*, Kind> kNamed[] = {
        {"bool", Kind::kBool},     {"int", Kind::kInt},   {"decimal", Kind::kDecimal},
        {"money", Kind::kMoney},   {"string", Kind::kString},
        {"duration", Kind::kDuration}, {"time", Kind::kTime},
    };
    for (const auto& [n, k] : kNamed) {
      if (name == n) {
        *out = Type(k);
        return true;
      }
    }
    if (name == "set" || name == "list" || name == "map") {
      if (!Expect('<')) return false;
      Type elem;
      if (!ParseType(&elem, depth + 1)) return false;
      if (!Expect('>')) return false;
      if (name == "set") {
        if (!elem.is(Kind::kString) && !elem.is(Kind::kInt)) {
          return Fail("set elements must be `string` or `int`, not `" + elem.ToString() + "`");
        }
        *out = Type::Set(std::move(elem));
      } else if (name == "list") {
        *out = Type::List(std::move(elem));
      } else {
        *out = Type::Map(std::move(elem));
      }
      return true;
    }
    return Fail("unknown type name `" + name + "`");
  }

  bool ParseRecord(Type* out, int depth) {
    std::vector<RecordField> fields;
    std::unordered_set<std::string> names;  // linear duplicate detection
    if (Eat('}')) {
      *out = Type::Record(std::move(fields));
      return true;
    }
    while (true) {
      RecordField f;
      f.name = Ident();
      if (f.name.empty()) return Fail("expected a field name at offset " + std::to_string(pos_));
      if (!names.insert(f.name).second) return Fail("duplicate field `" + f.name + "`");
      f.optional = Eat('?');
      if (!Expect(':')) return false;
      if (!ParseType(&f.type, depth + 1)) return false;
      fields.push_back(std::move(f));
      if (Eat(',')) {
        if (Eat('}')) break;  // trailing comma
        continue;
      }
      if (!Expect('}')) return false;
      break;
    }
    *out = Type::Record(std::move(fields));
    return true;
  }

  std::string_view text_;
  std::string* error_;
  size_t pos_ = 0;
};

}  // namespace

bool ParseTypeString(std::string_view text, Type* out, std::string* error) {
  Type t;
  TypeParser p(text, error);
  if (!p.ParseAll(&t)) return false;
  *out = std::move(t);
  return true;
}

}  // namespace tollgate
