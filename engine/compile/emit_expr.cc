// Expression emission: checked AST expressions -> stack bytecode.
#include <re2/re2.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "engine/compile/emitter.h"
#include "engine/vm/scan.h"
#include "stdlib/builtins.h"

namespace tollgate::compile::internal {

namespace {

// Saturating arithmetic for static cost bounds.
uint64_t SatAdd(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }
uint64_t SatMul(uint64_t a, uint64_t b) {
  if (a == 0 || b == 0) return 0;
  return a > UINT64_MAX / b ? UINT64_MAX : a * b;
}

// Bool-typed operands that may evaluate to null (and so need CHKNULL after the
// right side of `and`/`or`): everything except operators, which always
// yield a bool or raise an error.
bool MayBeNull(const ast::Expr& e) {
  if (e.folded) return e.folded->is_null();
  switch (e.kind) {
    case ast::ExprKind::kBinary:
    case ast::ExprKind::kUnary:
    case ast::ExprKind::kQuantifier:
      return false;
    case ast::ExprKind::kLiteral:
      return e.value.is_null();
    default:
      return true;
  }
}

}  // namespace

void Emitter::Fail(const Span& span, const std::string& message) {
  if (!failed_) diags_->Error("tg_internal_error", span, message, "this is a bug in tollgate; please report it");
  failed_ = true;
}

void Emitter::Emit(Op op, uint32_t a, uint32_t b, uint32_t line) {
  if (b > vm::internal::kMaxB) {
    failed_ = true;
    diags_->Error("tg_limit_exceeded", Span{}, "operand too large for the bytecode format");
    b = 0;
  }
  code_->code.push_back(vm::internal::Instr::Make(op, a, b));
  code_->lines.push_back(line);
}

std::string Emitter::SourceText(const Span& s) const {
  if (s.file == nullptr || s.end > s.file->text.size() || s.begin > s.end) return {};
  return s.file->text.substr(s.begin, s.end - s.begin);
}

uint32_t Emitter::Constant(const Value& v) {
  std::string key;
  bool scalar = true;
  switch (v.kind) {
    case Kind::kNull: break;
    case Kind::kBool: key.assign(1, v.b ? '1' : '0'); break;
    case Kind::kString: key.assign(v.str, v.size); break;
    case Kind::kSet: case Kind::kList: case Kind::kMap: case Kind::kRecord:
      if (auto it = container_consts_.find(v.set); it != container_consts_.end()) return it->second;
      key = ToJson(v);  // containers dedupe by canonical JSON within their kind
      break;
    case Kind::kPattern: case Kind::kAny:
      scalar = false;
      break;
    default: key = std::to_string(v.i); break;
  }
  if (scalar) {
    auto [it, inserted] = scalar_consts_.emplace(std::make_pair(static_cast<int>(v.kind), key), 0);
    if (!inserted) return it->second;
    it->second = static_cast<uint32_t>(code_->constants.size());
    if (v.kind >= Kind::kSet && v.kind <= Kind::kRecord) container_consts_.emplace(v.set, it->second);
  }
  code_->constants.push_back(code_->arena.Clone(v));
  return static_cast<uint32_t>(code_->constants.size() - 1);
}

uint32_t Emitter::Name(std::string_view text) {
  auto it = names_.find(text);
  if (it != names_.end()) return it->second;
  uint32_t id = static_cast<uint32_t>(code_->names.size());
  code_->names.emplace_back(text);
  names_.emplace(std::string(text), id);
  return id;
}

uint64_t Emitter::CheckNotNull(const ast::Expr& e) {
  if (!MayBeNull(e)) return 0;
  Emit(Op::kCHKNULL, 0, 0, e.span.line);
  return 1;
}

uint64_t Emitter::Folded(const Value& v, uint32_t line) {
  if (v.kind == Kind::kNull) Emit(Op::kLOADNIL, 0, 0, line);
  else if (v.kind == Kind::kBool) Emit(v.b ? Op::kLOADTRUE : Op::kLOADFALSE, 0, 0, line);
  else Emit(Op::kLOADK, Constant(v), 0, line);
  return 1;
}

bool Emitter::IsRequestStringField(const ast::Expr& e) const {
  if (e.kind != ast::ExprKind::kMember || e.ref != ast::RefKind::kField) return false;
  if (e.index < 0 || e.index >= static_cast<int>(schema_.fields().size())) return false;
  const stdlib::FieldDef& f = schema_.field(e.index);
  return f.scope == ast::Scope::kRequest && f.type.is(Kind::kString);
}

int Emitter::RequestSlot(const ast::Expr& e) const {
  if (e.folded || (e.kind != ast::ExprKind::kMember && e.kind != ast::ExprKind::kName)) return -1;
  if (e.ref != ast::RefKind::kField || hoisted.count(&e) != 0) return -1;
  if (e.index < 0 || e.index >= static_cast<int>(schema_.fields().size())) return -1;
  const stdlib::FieldDef& f = schema_.field(e.index);
  return f.scope == ast::Scope::kRequest ? f.slot : -1;
}

// A folded operand that Expr() emits as LOADK (not LOADNIL/LOADTRUE/LOADFALSE).
bool Emitter::LoadsConstant(const ast::Expr& e) {
  return e.folded && e.type.kind() != Kind::kPattern && e.folded->kind != Kind::kNull &&
         e.folded->kind != Kind::kBool;
}

uint64_t Emitter::Fused(Op op, int slot, const Value& k, uint32_t line, uint64_t cost) {
  request_read.insert(slot);
  Emit(op, Constant(k), static_cast<uint32_t>(slot), line);
  return cost;
}

bool Emitter::PatternOf(const ast::Expr& e, int* detector, std::string* text) {
  if (e.ref == ast::RefKind::kDetector && e.index >= 0 &&
      e.index < static_cast<int>(stdlib::Detectors().size())) {
    *detector = e.index;
    *text = std::string(stdlib::Detectors()[e.index].name);
    return true;
  }
  if (e.folded && e.folded->kind == Kind::kString) {
    *detector = -1;
    *text = std::string(e.folded->sv());
    return true;
  }
  if (e.kind == ast::ExprKind::kLiteral && e.value.kind == Kind::kString) {
    *detector = -1;
    *text = std::string(e.value.sv());
    return true;
  }
  return false;
}

uint32_t Emitter::ScanPattern(uint32_t slot, int kind, int detector, const std::string& text) {
  auto g = group_of_slot_.find(slot);
  uint32_t group;
  if (g == group_of_slot_.end()) {
    group = static_cast<uint32_t>(code_->groups.size());
    code_->groups.emplace_back();
    code_->groups.back().slot = slot;
    code_->groups.back().path = code_->request_paths[slot];
    group_of_slot_.emplace(slot, group);
  } else {
    group = g->second;
  }
  auto key = std::make_tuple(group, kind * 1000000 + detector, text);
  auto it = scan_patterns_.find(key);
  if (it != scan_patterns_.end()) return it->second;
  auto& pats = code_->groups[group].patterns;
  vm::internal::ScanPattern p;
  p.kind = static_cast<vm::internal::ScanPattern::Kind>(kind);
  p.detector = detector;
  p.text = text;
  pats.push_back(std::move(p));
  uint32_t id = static_cast<uint32_t>(pats.size() - 1);
  scan_patterns_.emplace(key, id);
  return id;
}

uint32_t Emitter::MatchPattern(int detector, const std::string& text) {
  auto key = std::make_pair(detector, text);
  auto it = match_patterns_.find(key);
  if (it != match_patterns_.end()) return it->second;
  vm::internal::Pattern p;
  p.detector = detector;
  p.display = text;
  p.text = detector >= 0 ? std::string(stdlib::Detectors()[detector].regex) : text;
  code_->patterns.push_back(std::move(p));
  uint32_t id = static_cast<uint32_t>(code_->patterns.size() - 1);
  match_patterns_.emplace(key, id);
  return id;
}

uint64_t Emitter::Field(const ast::Expr& e) {
  if (e.index < 0 || e.index >= static_cast<int>(schema_.fields().size())) {
    Fail(e.span, "unresolved field `" + SourceText(e.span) + "`");
    return 0;
  }
  const stdlib::FieldDef& f = schema_.field(e.index);
  if (f.scope == ast::Scope::kRequest) {
    Emit(Op::kLOADREQ, static_cast<uint32_t>(f.slot), 0, e.span.line);
    request_read.insert(f.slot);
  } else {
    Emit(Op::kLOADCAND, static_cast<uint32_t>(f.slot), 0, e.span.line);
    candidate_read.insert(f.slot);
  }
  return 1;
}

namespace {

// Whether `lower(f) contains k` (upper(): `mapper` 'u') can be f's scan
// with the pattern vm::CaselessPattern(k): not when `k` has a letter of the
// case the call never leaves (it never matches: the generic path, and the
// checker's tg_name_never_matches), is empty, or makes no valid pattern
// (not UTF-8).
bool CaselessScans(char mapper, std::string_view k) {
  if (k.empty()) return false;
  for (char c : k)
    if (mapper == 'l' ? (c >= 'A' && c <= 'Z') : (c >= 'a' && c <= 'z')) return false;
  RE2::Options opts;
  opts.set_log_errors(false);
  return RE2(vm::CaselessPattern(k), opts).ok();
}

// The field whose mapped text `e` tests: X of `lower(X)` / `upper(X)`.
const ast::Expr* CaseMappedArgument(const ast::Expr& e) {
  if (e.kind != ast::ExprKind::kCall || e.kids.size() != 1 || e.folded) return nullptr;
  return e.name == "lower" || e.name == "upper" ? e.kids[0].get() : nullptr;
}

}  // namespace

uint64_t Emitter::Matches(const ast::Expr& e, bool literal) {
  const ast::Expr* lhs_p = e.kids[0].get();
  const ast::Expr& rhs = *e.kids[1];
  int detector = -1;
  std::string text;
  uint32_t line = e.span.line;
  // `lower(request.content) contains "..."`: the field's scan (no lowered
  // copy of a long prompt), with a pattern that ignores ASCII case.
  bool caseless = false;
  if (const ast::Expr* arg = CaseMappedArgument(*lhs_p);
      literal && arg && IsRequestStringField(*arg) && rhs.folded && rhs.folded->kind == Kind::kString &&
      CaselessScans(lhs_p->name[0], rhs.folded->sv())) {
    caseless = true;
    lhs_p = arg;
  }
  const ast::Expr& lhs = *lhs_p;
  if (literal) {
    if (!(rhs.folded && rhs.folded->kind == Kind::kString) || !IsRequestStringField(lhs)) {
      uint64_t c = Expr(lhs);  // emission order: left, then right
      c = SatAdd(c, Expr(rhs));
      Emit(Op::kCONTAINS, 0, 0, line);
      return SatAdd(c, 1);
    }
    text = std::string(rhs.folded->sv());
  } else if (!PatternOf(rhs, &detector, &text)) {
    Fail(rhs.span, "right side of `matches` is not a constant pattern");
    return 0;
  }
  if (IsRequestStringField(lhs)) {
    uint32_t slot = static_cast<uint32_t>(schema_.field(lhs.index).slot);
    request_read.insert(static_cast<int>(slot));
    int kind = caseless  ? vm::internal::ScanPattern::kCaseless
               : literal ? vm::internal::ScanPattern::kLiteral
               : detector >= 0 ? vm::internal::ScanPattern::kDetector
                               : vm::internal::ScanPattern::kRegex;
    uint32_t pat = ScanPattern(slot, kind, detector, text);
    Emit(Op::kSCAN, group_of_slot_[slot], pat, line);
    return 1;
  }
  uint64_t c = Expr(lhs);
  Emit(Op::kMATCH, MatchPattern(detector, text), 0, line);
  return SatAdd(c, 1);
}

uint64_t Emitter::Binary(const ast::Expr& e) {
  const ast::Expr& a = *e.kids[0];
  const ast::Expr& b = *e.kids[1];
  uint32_t line = e.span.line;
  switch (e.op) {
    case ast::Op::kAnd:
    case ast::Op::kOr: {
      uint64_t c = Expr(a);
      uint32_t jump = pc();
      Emit(e.op == ast::Op::kAnd ? Op::kJFK : Op::kJTK, 0, 0, line);
      c = SatAdd(c, 1);
      c = SatAdd(c, Expr(b));
      c = SatAdd(c, CheckNotNull(b));
      Patch(jump, pc());
      return c;
    }
    case ast::Op::kCoalesce: {
      // field ?? constant: one REQORK (LOADREQ; JNNK; LOADK).
      if (int slot = RequestSlot(a); slot >= 0 && LoadsConstant(b)) return Fused(Op::kREQORK, slot, *b.folded, line, 3);
      // a ?? b: keep a unless it is null, else evaluate b.
      uint64_t c = Expr(a);
      uint32_t jump = pc();
      Emit(Op::kJNNK, 0, 0, line);
      c += 1 + Expr(b);
      Patch(jump, pc());
      return c;
    }
    case ast::Op::kEq:
    case ast::Op::kNe: {
      Op k = e.op == ast::Op::kEq ? Op::kEQK : Op::kNEK;
      Op fused = e.op == ast::Op::kEq ? Op::kEQREQK : Op::kNEREQK;  // LOADREQ; EQK/NEK
      if (b.folded && b.folded->kind != Kind::kBool) {
        if (int slot = RequestSlot(a); slot >= 0) return Fused(fused, slot, *b.folded, line, 2);
        uint64_t c = Expr(a);
        Emit(k, Constant(*b.folded), 0, line);
        return SatAdd(c, 1);
      }
      if (a.folded && a.folded->kind != Kind::kBool) {
        if (int slot = RequestSlot(b); slot >= 0) return Fused(fused, slot, *a.folded, line, 2);
        uint64_t c = Expr(b);
        Emit(k, Constant(*a.folded), 0, line);
        return SatAdd(c, 1);
      }
      uint64_t c = Expr(a);  // emission order: a, then b
      c = SatAdd(c, Expr(b));
      Emit(e.op == ast::Op::kEq ? Op::kEQ : Op::kNE, 0, 0, line);
      return SatAdd(c, 1);
    }
    case ast::Op::kIn:
    case ast::Op::kNotIn: {
      uint64_t c;
      if (int slot = RequestSlot(a); slot >= 0 && b.folded) {
        c = Fused(Op::kINREQK, slot, *b.folded, line, 2);  // LOADREQ; INK
      } else {
        c = Expr(a);
        if (b.folded) {
          Emit(Op::kINK, Constant(*b.folded), 0, line);
        } else {
          c = SatAdd(c, Expr(b));
          Emit(Op::kIN, 0, 0, line);
        }
        ++c;
      }
      if (e.op == ast::Op::kNotIn) {
        Emit(Op::kNOT, 0, 0, line);
        ++c;
      }
      return c;
    }
    case ast::Op::kMatches: return Matches(e, false);
    case ast::Op::kContains: return Matches(e, true);
    default: break;
  }
  // field has constant; x < constant, ...: fused with the constant's LOADK.
  if (e.op == ast::Op::kHas && LoadsConstant(b)) {
    if (int slot = RequestSlot(a); slot >= 0) return Fused(Op::kHASREQK, slot, *b.folded, line, 3);
  }
  if (LoadsConstant(b)) {
    Op k = e.op == ast::Op::kGt ? Op::kGTK : e.op == ast::Op::kGe ? Op::kGEK
         : e.op == ast::Op::kLt ? Op::kLTK : e.op == ast::Op::kLe ? Op::kLEK : Op::kNOP;
    if (k != Op::kNOP) {
      uint64_t c = Expr(a);
      Emit(k, Constant(*b.folded), 0, line);
      return SatAdd(c, 2);
    }
  }
  Op op;
  switch (e.op) {
    case ast::Op::kHas: op = Op::kHAS; break;
    case ast::Op::kLt: op = Op::kLT; break;
    case ast::Op::kLe: op = Op::kLE; break;
    case ast::Op::kGt: op = Op::kGT; break;
    case ast::Op::kGe: op = Op::kGE; break;
    case ast::Op::kAdd: op = Op::kADD; break;
    case ast::Op::kSub: op = Op::kSUB; break;
    case ast::Op::kMul: op = Op::kMUL; break;
    case ast::Op::kDiv: op = Op::kDIV; break;
    case ast::Op::kMod: op = Op::kMOD; break;
    default:
      Fail(e.span, std::string("unexpected binary operator `") + ast::OpText(e.op) + "`");
      return 0;
  }
  uint64_t c = Expr(a);  // emission order: a, then b
  c = SatAdd(c, Expr(b));
  Emit(op, 0, 0, line);
  return SatAdd(c, 1);
}

uint64_t Emitter::Quantifier(const ast::Expr& e) {
  uint32_t line = e.span.line;
  if (e.index < 0) {
    Fail(e.span, "quantifier variable without a slot");
    return 0;
  }
  uint32_t slot = static_cast<uint32_t>(e.index);
  code_->max_locals = std::max(code_->max_locals, slot + 1);
  const ast::Expr& list = *e.kids[0];
  uint64_t bound = limits_.max_list_elements;
  std::string why = "Limits::max_list_elements, the longest list a request may hold";
  if (std::optional<uint64_t> n = StaticLength(list)) {
    bound = *n;
    why = "the most elements that list has in the policy's constants and data";
  } else if (list.kind == ast::ExprKind::kCall && list.name == "split") {
    // Parts are at least the separator apart: at most one more than bytes.
    bound = static_cast<uint64_t>(limits_.max_input_bytes) + 1;
    why = "a split of request text may have Limits::max_input_bytes + 1 parts";
  } else if (list.ref == ast::RefKind::kField && list.index >= 0 &&
             schema_.field(list.index).path == "request.messages") {
    bound = limits_.max_messages;
    why = "Limits::max_messages, the most messages a request may hold";
  }
  uint64_t c = Expr(list);
  Emit(Op::kITER, 0, 0, line);
  uint32_t loop = pc();
  Emit(Op::kNEXT, 0, slot, line);
  uint64_t body = Expr(*e.kids[1]);
  Emit(e.quant_all ? Op::kQALL : Op::kQANY, loop, 0, line);
  uint32_t jend = pc();
  Emit(Op::kJMP, 0, 0, line);
  Patch(loop, pc());
  Emit(e.quant_all ? Op::kLOADTRUE : Op::kLOADFALSE, 0, 0, line);
  Patch(jend, pc());
  // ITER + per element (NEXT + body + QANY) + final NEXT + exit path.
  uint64_t total = SatAdd(c, SatAdd(SatMul(bound, SatAdd(body, 2)), 4));
  quants.push_back(QuantCost{code_->entries.size(), &e, bound, why, SatAdd(body, 2), total});
  return total;
}

bool Emitter::PossibleValues(const ast::Expr& e, std::vector<Value>* out) const {
  constexpr size_t kMaxValues = 1u << 16;  // beyond this, give up (no static bound)
  if (e.folded) {
    out->push_back(*e.folded);
    return true;
  }
  if (e.kind == ast::ExprKind::kName) {
    if (e.ref == ast::RefKind::kData && e.index >= 0 && e.index < static_cast<int>(policy_.data.size())) {
      out->push_back(policy_.data[e.index].value);
      return true;
    }
    return false;
  }
  if ((e.kind != ast::ExprKind::kMember && e.kind != ast::ExprKind::kIndex) || e.ref != ast::RefKind::kUnresolved)
    return false;
  std::vector<Value> bases;
  if (!PossibleValues(*e.kids[0], &bases)) return false;
  const ast::Expr* key = e.kind == ast::ExprKind::kIndex ? e.kids[1].get() : nullptr;
  for (const Value& b : bases) {
    if (b.kind == Kind::kRecord && e.kind == ast::ExprKind::kMember) {
      if (e.index < 0 || static_cast<size_t>(e.index) >= b.rec->fields.size()) return false;
      out->push_back(b.rec->fields[e.index]);
    } else if (b.kind == Kind::kMap) {
      std::optional<std::string_view> k;
      if (e.kind == ast::ExprKind::kMember) k = e.name;
      else if (key->folded && key->folded->kind == Kind::kString) k = key->folded->sv();
      if (k) {
        if (const Value* v = MapFind(b, *k)) out->push_back(*v);
      } else {
        out->insert(out->end(), b.map->values.begin(), b.map->values.end());
      }
    } else if (b.kind == Kind::kList && key != nullptr) {
      out->insert(out->end(), b.list->items.begin(), b.list->items.end());
    } else if (!b.is_null()) {
      return false;
    }
    if (out->size() > kMaxValues) return false;
  }
  return true;
}

std::optional<uint64_t> Emitter::StaticLength(const ast::Expr& list) const {
  std::vector<Value> values;
  if (!PossibleValues(list, &values)) return std::nullopt;
  uint64_t most = 0;
  for (const Value& v : values) {
    if (v.kind == Kind::kList) most = std::max<uint64_t>(most, v.list ? v.list->items.size() : 0);
    else if (v.kind == Kind::kSet) most = std::max<uint64_t>(most, v.set ? v.set->items.size() : 0);
    else if (!v.is_null()) return std::nullopt;
  }
  return most;
}

uint64_t Emitter::Expr(const ast::Expr& e) {
  if (++depth_ > limits_.max_nesting_depth * 4 + 64) {
    --depth_;
    Fail(e.span, "expression nested too deeply");
    return 0;
  }
  struct Guard { uint32_t& d; ~Guard() { --d; } } guard{depth_};
  uint32_t line = e.span.line;
  if (e.folded && e.type.kind() != Kind::kPattern) return Folded(*e.folded, line);
  if (!hoisted.empty() && memo_open_ != &e) {
    auto it = hoisted.find(&e);
    if (it != hoisted.end()) {
      // MEMO -> end; the lookup; STMEMO (hoist.cc).
      const uint32_t slot = it->second;
      const uint32_t at = pc();
      Emit(Op::kMEMO, 0, slot, line);
      const ast::Expr* outer = memo_open_;
      memo_open_ = &e;
      uint64_t c = Expr(e);
      memo_open_ = outer;
      Emit(Op::kSTMEMO, 0, slot, line);
      Patch(at, pc());
      vm::internal::Memo& m = code_->memos[slot];
      if (m.uses++ == 0) m.cost = static_cast<uint32_t>(std::min<uint64_t>(c, UINT32_MAX));
      return c;
    }
  }
  switch (e.kind) {
    case ast::ExprKind::kLiteral:
      return Folded(e.value, line);
    case ast::ExprKind::kName:
      switch (e.ref) {
        case ast::RefKind::kLocal:
          Emit(Op::kLOADLOC, static_cast<uint32_t>(e.index), 0, line);
          code_->max_locals = std::max(code_->max_locals, static_cast<uint32_t>(e.index) + 1);
          return 1;
        case ast::RefKind::kConst:
          if (e.index >= 0 && e.index < static_cast<int>(policy_.consts.size()) &&
              policy_.consts[e.index].expr && policy_.consts[e.index].expr->folded) {
            return Folded(*policy_.consts[e.index].expr->folded, line);
          }
          Fail(e.span, "constant `" + e.name + "` was not folded");
          return 0;
        case ast::RefKind::kData: {
          if (e.index < 0 || e.index >= static_cast<int>(policy_.data.size())) break;
          auto it = data_consts_.find(e.index);
          uint32_t k;
          if (it == data_consts_.end()) {
            k = static_cast<uint32_t>(code_->constants.size());
            code_->constants.push_back(code_->arena.Clone(policy_.data[e.index].value));
            data_consts_.emplace(e.index, k);
          } else {
            k = it->second;
          }
          Emit(Op::kLOADK, k, 0, line);
          return 1;
        }
        case ast::RefKind::kField:
          return Field(e);
        default:
          break;
      }
      Fail(e.span, "unresolved name `" + e.name + "`");
      return 0;
    case ast::ExprKind::kMember: {
      if (e.ref == ast::RefKind::kField) return Field(e);
      if (e.ref == ast::RefKind::kCounter && e.index >= 0) {
        Emit(Op::kLOADCNT, static_cast<uint32_t>(e.index), 0, e.span.line);
        return 1;
      }
      if (e.ref == ast::RefKind::kDetector || e.ref == ast::RefKind::kNamespace) {
        {
          std::string msg = SourceText(e.span);
          msg.insert(0, 1, '`');
          Fail(e.span, msg.append("` is not a value"));
        }
        return 0;
      }
      uint64_t c = Expr(*e.kids[0]);
      uint32_t what = Name(SourceText(e.span));
      if (e.index >= 0) {
        Emit(Op::kMEMBER, static_cast<uint32_t>(e.index), what, line);
      } else {
        Emit(Op::kKEY, Constant(code_->arena.String(e.name)), what, line);
      }
      return SatAdd(c, 1);
    }
    case ast::ExprKind::kIndex: {
      // The container is checked before the key is evaluated (reference order).
      uint64_t c = Expr(*e.kids[0]);  // emission order matters
      c = SatAdd(c, CheckNotNull(*e.kids[0]));
      c = SatAdd(c, Expr(*e.kids[1]));
      Emit(Op::kINDEX, 0, Name(SourceText(e.span)), line);
      return SatAdd(c, 1);
    }
    case ast::ExprKind::kUnary: {
      uint64_t c = Expr(*e.kids[0]);
      Emit(e.op == ast::Op::kNot ? Op::kNOT : Op::kNEG, 0, 0, line);
      return SatAdd(c, 1);
    }
    case ast::ExprKind::kBinary:
      return Binary(e);
    case ast::ExprKind::kCall: {
      if (e.index < 0 || e.index >= static_cast<int>(stdlib::Builtins().size())) {
        Fail(e.span, "unresolved function `" + e.name + "`");
        return 0;
      }
      // Each argument is checked for null as soon as it is computed, unless
      // the builtin inspects null itself.
      bool check = !stdlib::Builtins()[e.index].accepts_null;
      uint64_t c = 0;
      // (CALL itself checks the last one.)
      for (size_t i = 0; i < e.kids.size(); ++i) {
        c = SatAdd(c, Expr(*e.kids[i]));
        if (check && i + 1 < e.kids.size()) c = SatAdd(c, CheckNotNull(*e.kids[i]));
      }
      Emit(Op::kCALL, static_cast<uint32_t>(e.index), static_cast<uint32_t>(e.kids.size()), line);
      // Compile the injection score's scanners at policy load, never on the
      // request path.
      if (stdlib::Builtins()[e.index].name == "dlp.injection_score") stdlib::PrepareInjectionScore();
      // Scan-class builtins are linear in the text; count them as one step.
      return SatAdd(c, 1);
    }
    case ast::ExprKind::kList:
    case ast::ExprKind::kSet:
    case ast::ExprKind::kMap: {
      uint64_t c = 0;
      for (const auto& k : e.kids) {
        c = SatAdd(c, Expr(*k));
        if (e.kind == ast::ExprKind::kSet) c = SatAdd(c, CheckNotNull(*k));
      }
      uint32_t n = static_cast<uint32_t>(e.kids.size());
      if (e.kind == ast::ExprKind::kList) {
        Emit(Op::kMKLIST, 0, n, line);
      } else if (e.kind == ast::ExprKind::kSet) {
        Emit(Op::kMKSET, 0, n, line);
      } else {
        std::vector<Value> keys;
        for (const std::string& k : e.keys) keys.push_back(code_->arena.String(k));
        code_->constants.push_back(code_->arena.MakeList(std::move(keys)));
        Emit(Op::kMKMAP, static_cast<uint32_t>(code_->constants.size() - 1), n, line);
      }
      return SatAdd(c, 1);
    }
    case ast::ExprKind::kQuantifier:
      return Quantifier(e);
  }
  Fail(e.span, "unexpected expression");
  return 0;
}

bool Emitter::Finish() {
  std::string err;
  for (vm::internal::Pattern& p : code_->patterns) {
    p.re = vm::CompilePattern(p.text, &err);
    if (!p.re) {
      diags_->Error("tg_invalid_regex", Span{}, "invalid pattern `" + p.display + "`: " + err);
      return false;
    }
  }
  uint32_t base = 0;
  for (vm::internal::ScanGroup& g : code_->groups) {
    g.base = base;
    base += static_cast<uint32_t>(g.patterns.size());
    std::vector<std::string> regexes;
    std::vector<scan::DigitRuns> runs(g.patterns.size());
    // `matches` reads JSON string escapes through; `contains` compares bytes.
    std::vector<bool> read_escapes(g.patterns.size(), true);
    bool any_runs = false;
    for (vm::internal::ScanPattern& p : g.patterns) {
      read_escapes[regexes.size()] =
          p.kind != vm::internal::ScanPattern::kLiteral && p.kind != vm::internal::ScanPattern::kCaseless;
      switch (p.kind) {
        case vm::internal::ScanPattern::kLiteral:
          regexes.push_back(RE2::QuoteMeta(p.text));
          break;
        case vm::internal::ScanPattern::kCaseless:
          regexes.push_back(vm::CaselessPattern(p.text));
          break;
        case vm::internal::ScanPattern::kRegex:
          regexes.push_back(p.text);
          break;
        case vm::internal::ScanPattern::kDetector: {
          const stdlib::DetectorDecl& d = stdlib::Detectors()[p.detector];
          if (d.run_digits > 0) {
            runs[regexes.size()] = {d.run_digits, std::string(d.run_separators), d.run_wide, d.run_max_gap};
            any_runs = true;
          }
          regexes.emplace_back(d.regex);
          if (d.validate != nullptr) {
            p.confirm = vm::CompilePattern(d.regex, &err);
            if (!p.confirm) {
              diags_->Error("tg_internal_error", Span{}, "detector `" + p.text + "`: " + err);
              return false;
            }
          }
          break;
        }
      }
    }
    scan::Options so;
    so.engine = scan_engine;
    if (any_runs) so.digit_runs = std::move(runs);
    so.read_escapes = std::move(read_escapes);
    g.scanner = vm::Scanner::Build(regexes, so, &err);
    if (!g.scanner) {
      diags_->Error("tg_limit_exceeded", Span{}, "scan of `" + g.path + "`: " + err);
      return false;
    }
  }
  code_->scan_bits = base;
  return true;
}

}  // namespace tollgate::compile::internal
