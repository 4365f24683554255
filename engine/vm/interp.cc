// The bytecode interpreter: a computed-goto dispatch loop over opcodes.def.
//
// Semantics follow docs/architecture.md "Runtime semantics" (the reference
// interpreter in tests/differential is the executable statement of them):
// exact arithmetic in 128-bit integers, range-checked (engine/core/arith.h,
// shared with constant folding); null only compares.
#include <re2/re2.h>

#include <cassert>
#include <cstdio>
#include <cstring>

#include "engine/core/arith.h"
#include "engine/core/money.h"
#include "engine/vm/internal/interp.h"
#include "engine/vm/internal/trace.h"
#include "engine/vm/scan.h"
#include "stdlib/builtins.h"

namespace tollgate::vm::internal {

namespace {

using i128 = __int128;

bool IsNum(const Value& v) { return v.kind == Kind::kInt || v.kind == Kind::kDecimal; }
i128 Micros(const Value& v) { return v.kind == Kind::kInt ? i128(v.i) * kMicros : i128(v.i); }

bool Eq(const Value& a, const Value& b) {
  if (a.kind == Kind::kString && b.kind == Kind::kString) {
    return a.size == b.size && SameBytes(a.str, b.str, a.size);
  }
  if (a.is_null() || b.is_null()) return a.is_null() && b.is_null();
  if (IsNum(a) && IsNum(b)) return Micros(a) == Micros(b);
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Kind::kBool: return a.b == b.b;
    case Kind::kMoney: case Kind::kDuration: case Kind::kTime: return a.i == b.i;
    default: return Equal(a, b);
  }
}

int Cmp(const Value& a, const Value& b) {
  if (IsNum(a) && IsNum(b)) {
    i128 x = Micros(a), y = Micros(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.kind == Kind::kString && b.kind == Kind::kString) {
    int c = a.sv().compare(b.sv());
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  if (a.kind == Kind::kBool) return static_cast<int>(a.b) - static_cast<int>(b.b);
  return a.i < b.i ? -1 : a.i > b.i ? 1 : 0;
}

// x in c.
bool Member(const Value& c, const Value& x) {
  if (c.kind == Kind::kSet) {
    if (x.kind == Kind::kString && c.set->elem == Kind::kString) {
      if (c.set->items.size() > kSmallSetMax) return SetContains(c, x);
      for (const Value& e : c.set->items) {  // a request's groups, tags, tools: a few compares
        if (e.size == x.size && SameBytes(e.str, x.str, x.size)) return true;
      }
      return false;
    }
    for (const Value& e : c.set->items) if (Eq(e, x)) return true;
    return false;
  }
  if (c.kind == Kind::kList) {
    for (const Value& e : c.list->items) if (Eq(e, x)) return true;
    return false;
  }
  if (c.kind == Kind::kMap && x.kind == Kind::kString) return MapFind(c, x.sv()) != nullptr;
  return false;
}

[[gnu::cold]] bool Missing(Frame* f) {
  f->err_code = kErrMissingField;
  f->err_msg = f->null_what.empty() ? std::string("missing value")
                                    : "missing field `" + std::string(f->null_what) + "`";
  return false;
}

[[gnu::cold]] bool Fail(Frame* f, std::string_view code, std::string msg) {
  f->err_code = code;
  f->err_msg = std::move(msg);
  return false;
}

[[gnu::cold]] bool ArithFail(Frame* f, ArithStatus st) {
  switch (st) {
    case ArithStatus::kOverflow: return Fail(f, kErrArithmetic, "arithmetic overflow");
    case ArithStatus::kDivByZero: return Fail(f, kErrArithmetic, "division by zero");
    default: return Fail(f, kErrBuiltin, "unsupported operand types");
  }
}

// Trace: the first read of `path` in this rule, rendered with the field's
// schema type so that records show their field names; raw content is
// summarised, never copied (internal/trace.h).
void RecordRead(Frame* f, std::string_view path, const Value& v, const Type* type) {
  TraceRead(f, path, v, type);
}

const Type* SlotType(const std::vector<Type>& types, uint32_t slot) {
  return slot < types.size() ? &types[slot] : nullptr;
}

// Result of SCAN: runs the group's scanner at most once per evaluation.
bool ScanBit(Frame* f, uint32_t group, uint32_t pat, bool* out) {
  const Code& c = *f->code;
  const ScanGroup& g = c.groups[group];
  Value v = g.slot < f->nreq ? f->req[g.slot] : Value();
  if (f->trace) RecordRead(f, g.path, v, SlotType(c.request_types, g.slot));
  if (v.kind != Kind::kString) {
    f->null_what = g.path;
    return Missing(f);
  }
  Scratch& s = *f->s;
  if (s.group_epoch[group] != s.epoch) {
    bool cached = f->reuse_scans && s.cache_serial == c.serial && group < s.cache_ok.size() &&
                  s.cache_ok[group] && s.cache_text[group] == v.sv();
    if (!cached) {
      if (!g.scanner->Scan(v.sv(), &s.ids, &s.runs[group])) {
        return Fail(f, kErrBuiltin, "pattern scan of `" + g.path + "` ran out of memory");
      }
      s.runs_epoch[group] = s.epoch;
      std::memset(s.bits.data() + g.base, 0, g.patterns.size());
      for (int id : s.ids) s.bits[g.base + id] = g.patterns[id].confirm ? 2 : 1;
      if (f->reuse_scans) {
        // Ordered so that an allocation failure (std::bad_alloc, caught by
        // vm::EvalRequire) leaves no entry claiming bits of another text.
        if (s.cache_serial != c.serial || s.cache_ok.size() < c.groups.size()) {
          s.cache_serial = 0;
          s.cache_text.resize(c.groups.size());
          s.cache_ok.assign(c.groups.size(), 0);
          s.cache_serial = c.serial;
        }
        s.cache_ok[group] = 0;
        s.cache_text[group].assign(v.sv());
        s.cache_ok[group] = 1;
      } else if (s.cache_serial == c.serial) {
        if (group < s.cache_ok.size()) s.cache_ok[group] = 0;  // the bits now describe another text
      } else {
        s.cache_serial = 0;  // another program's bits may overlap the cached ones
      }
    }
    s.group_epoch[group] = s.epoch;
  }
  uint8_t& bit = s.bits[g.base + pat];
  if (bit == 2) {
    const ScanPattern& p = g.patterns[pat];
    // The runs are of this text: the record's strings do not change
    // during an evaluation.
    const scan::FoundDigitRuns* runs = s.runs_epoch[group] == s.epoch ? &s.runs[group] : nullptr;
    bit = MatchValidated(*p.confirm, p.detector, v.sv(), runs) ? 1 : 0;
  }
  *out = bit == 1;
  if (f->trace && *out) TraceMatch(f, group, pat, v.sv());
  return true;
}

// Out-of-line bodies of the opcodes that need objects with destructors
// (strings, vectors). INVARIANT: the dispatch loop in Run holds only trivially
// destructible locals, so no computed goto enters or leaves the scope of an
// object with a destructor: ISO C++ forbids such a jump, clang rejects it and
// GCC accepts it while skipping the destructor.
bool CallBuiltin(Frame* f, const stdlib::BuiltinDecl& d, Value* args, uint32_t argc, Value* r) {
  std::string err;
  f->arena_used = true;
  if (d.fn(args, argc, *f->arena, r, &err)) return true;
  return Fail(f, kErrBuiltin, "`" + std::string(d.name) + "`: " + err);
}

Value MakeSequence(Frame* f, const Value* items, uint32_t n, bool set) {
  std::vector<Value> v(items, items + n);
  f->arena_used = true;
  return set ? f->arena->MakeSet(std::move(v)) : f->arena->MakeList(std::move(v));
}

Value MakeMapOf(Frame* f, const Value& keys, const Value* items, uint32_t n) {
  std::vector<std::pair<std::string_view, Value>> entries;
  entries.reserve(n);
  f->arena_used = true;
  for (uint32_t i = 0; i < n; ++i) entries.emplace_back(keys.list->items[i].sv(), items[i]);
  return f->arena->MakeMap(std::move(entries));
}

}  // namespace

Scratch& ThreadScratch() {
  thread_local Scratch s;
  return s;
}

void BeginEvaluation(const Code& c, Scratch* s) {
  ++s->epoch;
  if (s->group_epoch.size() < c.groups.size()) s->group_epoch.resize(c.groups.size(), 0);
  if (s->runs.size() < c.groups.size()) {
    s->runs.resize(c.groups.size());
    s->runs_epoch.resize(c.groups.size(), 0);
  }
  if (s->bits.size() < c.scan_bits) s->bits.resize(c.scan_bits);
  if (s->stack.size() < c.max_depth + 1) s->stack.resize(c.max_depth + 1);
  if (s->locals.size() < c.max_locals) s->locals.resize(c.max_locals);
  if (s->hash.size() < c.request_paths.size()) {
    s->hash.resize(c.request_paths.size());
    s->hash_epoch.resize(c.request_paths.size(), 0);
  }
  if (s->memo.size() < c.memos.size()) {
    s->memo.resize(c.memos.size());
    s->memo_null.resize(c.memos.size());
    s->memo_epoch.resize(c.memos.size(), 0);
  }
}

bool Run(Frame* f, uint32_t start, Value* result) {
  const Code& c = *f->code;
  const Instr* code = c.code.data();
  const Value* K = c.constants.data();
  Value* const base = f->s->stack.data();
  Value* sp = base;  // INVARIANT: sp - base <= Code::max_depth (proved by Verify)
  Value* L = f->s->locals.data();
  const auto* builtins = static_cast<const stdlib::BuiltinDecl*>(c.builtins);
  uint64_t budget = f->budget;
  uint32_t pc = start;
  Instr in;
  // Stack overflow guard: Verify proved every entry stays within
  // Code::max_depth, and BeginEvaluation grew the scratch to that (and to
  // the locals and memo slots). INVARIANT: callers run BeginEvaluation(c, s)
  // before any Run of c.
  assert(f->s->stack.size() >= static_cast<size_t>(c.max_depth) + 1 && f->s->locals.size() >= c.max_locals &&
         f->s->memo.size() >= c.memos.size());

  static const void* const kLabels[] = {
#define X(name, fmt, ctrl, pop, push, jdelta, doc) &&L_##name,
#include "engine/vm/opcodes.def"
#undef X
  };

#define T (sp[-1])
#define S (sp[-2])
#define FAIL(expr)        \
  do {                    \
    f->budget = budget;   \
    return (expr);        \
  } while (0)
#ifdef TOLLGATE_DEBUG
#define DEBUG_TRACE()                                                                      \
  do {                                                                                     \
    assert(sp >= base && sp - base <= static_cast<long>(c.max_depth));                     \
    std::fprintf(stderr, "vm %-60s depth=%ld\n", FormatInstr(c, pc).c_str(), static_cast<long>(sp - base)); \
  } while (0)
#else
#define DEBUG_TRACE() ((void)0)
#endif
#define DISPATCH()                                   \
  do {                                               \
    if (budget == 0) goto out_of_budget;             \
    --budget;                                        \
    DEBUG_TRACE();                                   \
    in = code[pc++];                                 \
    goto* kLabels[in.opb & 0xffu];                   \
  } while (0)
#define NEED(v) \
  if ((v).is_null()) FAIL(Missing(f))

  DISPATCH();

L_NOP:
  DISPATCH();
L_LOADK:
  *sp++ = K[in.a];
  DISPATCH();
L_LOADNIL:
  *sp++ = Value();
  DISPATCH();
L_LOADTRUE:
  *sp++ = Value::Bool(true);
  DISPATCH();
L_LOADFALSE:
  *sp++ = Value::Bool(false);
  DISPATCH();
L_LOADREQ: {
  Value v = in.a < f->nreq ? f->req[in.a] : Value();
  if (v.is_null()) f->null_what = c.request_paths[in.a];
  if (f->trace) RecordRead(f, c.request_paths[in.a], v, SlotType(c.request_types, in.a));
  *sp++ = v;
  DISPATCH();
}
L_LOADCAND: {
  Value v = in.a < f->ncand ? f->cand[in.a] : Value();
  if (v.is_null()) f->null_what = c.candidate_paths[in.a];
  if (f->trace) RecordRead(f, c.candidate_paths[in.a], v, SlotType(c.candidate_types, in.a));
  *sp++ = v;
  DISPATCH();
}
L_LOADCNT: {
  Value v = in.a < f->ncnt ? f->cnt[in.a] : Value();
  if (v.is_null()) f->null_what = c.counter_paths[in.a];
  if (f->trace) RecordRead(f, c.counter_paths[in.a], v, nullptr);
  *sp++ = v;
  DISPATCH();
}
L_LOADLOC:
  *sp++ = L[in.a];
  DISPATCH();
L_POP:
  --sp;
  DISPATCH();
L_CHKNULL:
  NEED(T);
  DISPATCH();
L_EQ:
  S = Value::Bool(Eq(S, T));
  --sp;
  DISPATCH();
L_NE:
  S = Value::Bool(!Eq(S, T));
  --sp;
  DISPATCH();
L_EQK:
  T = Value::Bool(Eq(T, K[in.a]));
  DISPATCH();
L_NEK:
  T = Value::Bool(!Eq(T, K[in.a]));
  DISPATCH();
#define COMPARE(name, rel)                   \
  L_##name:                                  \
  NEED(S);                                   \
  NEED(T);                                   \
  S = Value::Bool(Cmp(S, T) rel 0);          \
  --sp;                                      \
  DISPATCH();
  COMPARE(LT, <)
  COMPARE(LE, <=)
  COMPARE(GT, >)
  COMPARE(GE, >=)
#undef COMPARE
L_IN:
  NEED(S);
  NEED(T);
  S = Value::Bool(Member(T, S));
  --sp;
  DISPATCH();
L_INK:
  NEED(T);
  T = Value::Bool(Member(K[in.a], T));
  DISPATCH();
L_HAS:
  NEED(S);
  NEED(T);
  S = Value::Bool(Member(S, T));
  --sp;
  DISPATCH();
L_CONTAINS:
  NEED(S);
  NEED(T);
  if (S.kind == Kind::kString && T.kind == Kind::kString) {
    S = Value::Bool(S.sv().find(T.sv()) != std::string_view::npos);
  } else {
    S = Value::Bool(Member(S, T));
  }
  --sp;
  DISPATCH();
L_MATCH: {
  NEED(T);
  const Pattern& p = c.patterns[in.a];
  T = Value::Bool(MatchValidated(*p.re, p.detector, T.sv()));
  DISPATCH();
}
L_SCAN: {
  bool hit = false;
  if (!ScanBit(f, in.a, in.b(), &hit)) FAIL(false);
  *sp++ = Value::Bool(hit);
  DISPATCH();
}
L_NOT:
  NEED(T);
  T = Value::Bool(!T.b);
  DISPATCH();
L_NEG: {
  NEED(T);
  Value r;
  ArithStatus st = Negate(T, &r);
  if (st != ArithStatus::kOk) FAIL(ArithFail(f, st));
  T = r;
  DISPATCH();
}
#define ARITH(name, aop)                                            \
  L_##name: {                                                       \
    NEED(S);                                                        \
    NEED(T);                                                        \
    if (S.kind == Kind::kInt && T.kind == Kind::kInt && Op::k##name == Op::kADD) { \
      int64_t r;                                                    \
      if (!__builtin_add_overflow(S.i, T.i, &r)) {                  \
        S.i = r;                                                    \
        --sp;                                                       \
        DISPATCH();                                                 \
      }                                                             \
    }                                                               \
    Value r;                                                        \
    f->arena_used = true;                                           \
    ArithStatus st = Arith(ArithOp::aop, S, T, f->arena, &r);       \
    if (st != ArithStatus::kOk) FAIL(ArithFail(f, st));             \
    S = r;                                                          \
    --sp;                                                           \
    DISPATCH();                                                     \
  }
  ARITH(ADD, kAdd)
  ARITH(SUB, kSub)
  ARITH(MUL, kMul)
  ARITH(DIV, kDiv)
  ARITH(MOD, kMod)
#undef ARITH
L_CALL: {
  const stdlib::BuiltinDecl& d = builtins[in.a];
  uint32_t argc = in.b();
  Value* args = sp - argc;
  if (!d.accepts_null) {
    for (uint32_t i = 0; i < argc; ++i) NEED(args[i]);
  }
  Value r;
  if (!CallBuiltin(f, d, args, argc, &r)) FAIL(false);
  sp = args;
  *sp++ = r;
  DISPATCH();
}
L_MEMBER: {
  NEED(T);
  if (T.kind != Kind::kRecord || in.a >= T.rec->fields.size()) {
    FAIL(Fail(f, kErrMissingKey, "missing field `" + c.names[in.b()] + "`"));
  }
  T = T.rec->fields[in.a];
  if (T.is_null()) f->null_what = c.names[in.b()];
  DISPATCH();
}
L_KEY: {
  NEED(T);
  if (T.kind != Kind::kMap) FAIL(Fail(f, kErrMissingKey, "missing key `" + std::string(K[in.a].sv()) + "`"));
  // An absent key reads as null, like an absent optional field.
  const Value* v = MapFind(T, K[in.a].sv());
  T = v != nullptr ? *v : Value();
  if (T.is_null()) f->null_what = c.names[in.b()];
  DISPATCH();
}
L_INDEX: {
  NEED(S);
  NEED(T);
  if (S.kind == Kind::kMap && T.kind == Kind::kString) {
    // An absent key reads as null, like an absent optional field.
    const Value* v = MapFind(S, T.sv());
    S = v != nullptr ? *v : Value();
  } else if (S.kind == Kind::kList && T.kind == Kind::kInt) {
    // So does a position past either end of the list.
    S = T.i >= 0 && static_cast<uint64_t>(T.i) < S.list->items.size() ? S.list->items[T.i] : Value();
  } else {
    FAIL(Fail(f, kErrBuiltin, "cannot index this value"));
  }
  --sp;
  if (T.is_null()) f->null_what = c.names[in.b()];
  DISPATCH();
}
L_MKLIST:
L_MKSET: {
  uint32_t n = in.b();
  Value* items = sp - n;
  bool set = in.op() == Op::kMKSET;
  if (set) {
    for (uint32_t i = 0; i < n; ++i) NEED(items[i]);
  }
  Value r = MakeSequence(f, items, n, set);
  sp = items;
  *sp++ = r;
  DISPATCH();
}
L_MKMAP: {
  uint32_t n = in.b();
  Value* items = sp - n;
  Value r = MakeMapOf(f, K[in.a], items, n);
  sp = items;
  *sp++ = r;
  DISPATCH();
}
L_JMP:
  pc = in.a;
  DISPATCH();
L_JFK:
  NEED(T);
  if (!T.b) {
    pc = in.a;
  } else {
    --sp;
  }
  DISPATCH();
L_JTK:
  NEED(T);
  if (T.b) {
    pc = in.a;
  } else {
    --sp;
  }
  DISPATCH();
L_JNNK:
  if (!T.is_null()) {
    pc = in.a;
  } else {
    --sp;
  }
  DISPATCH();
L_ITER:
  NEED(T);
  if (T.kind != Kind::kList && T.kind != Kind::kSet) FAIL(Fail(f, kErrBuiltin, "not a list"));
  *sp++ = Value::Int(0);
  DISPATCH();
L_NEXT: {
  const std::vector<Value>& items = S.kind == Kind::kList ? S.list->items : S.set->items;
  if (static_cast<uint64_t>(T.i) < items.size()) {
    L[in.b()] = items[T.i];
    ++T.i;
  } else {
    sp -= 2;
    pc = in.a;
  }
  DISPATCH();
}
L_QANY:
  NEED(T);
  if (!T.b) {
    --sp;
    pc = in.a;
  } else {
    sp -= 3;
    *sp++ = Value::Bool(true);
  }
  DISPATCH();
L_QALL:
  NEED(T);
  if (T.b) {
    --sp;
    pc = in.a;
  } else {
    sp -= 3;
    *sp++ = Value::Bool(false);
  }
  DISPATCH();
L_MEMO: {
  // Free (the budget DISPATCH took is given back). A hit charges what the
  // lookup's code would have cost, so budgets and Decision::instructions
  // do not depend on which rule computed the value first. A trace records
  // the fields each rule reads: with one, every use computes.
  ++budget;
  Scratch& s = *f->s;
  const uint32_t m = in.b();
  if (s.memo_epoch[m] == s.epoch && f->trace == nullptr) {
    const uint32_t cost = c.memos[m].cost;
    if (budget < cost) goto out_of_budget;
    budget -= cost;
    *sp++ = s.memo[m];
    if (s.memo[m].is_null()) f->null_what = s.memo_null[m];
    pc = in.a;
  }
  DISPATCH();
}
L_STMEMO: {
  ++budget;
  Scratch& s = *f->s;
  const uint32_t m = in.b();
  s.memo[m] = T;
  s.memo_null[m] = T.is_null() ? f->null_what : std::string_view();
  s.memo_epoch[m] = s.epoch;
  DISPATCH();
}
// Fused forms: the field read (as LOADREQ), then the budget of the rest of
// the instructions they replace (as their DISPATCHes), then the operation.
#define CHARGE(n)                                 \
  do {                                            \
    if (budget < (n)) goto out_of_budget;         \
    budget -= (n);                                \
  } while (0)
#define READREQ(v, slot)                                                          \
  Value v = (slot) < f->nreq ? f->req[slot] : Value();                           \
  if (v.is_null()) f->null_what = c.request_paths[slot];                         \
  if (f->trace) RecordRead(f, c.request_paths[slot], v, SlotType(c.request_types, slot))
L_EQREQK: {
  READREQ(v, in.b());
  CHARGE(1);
  *sp++ = Value::Bool(Eq(v, K[in.a]));
  DISPATCH();
}
L_NEREQK: {
  READREQ(v, in.b());
  CHARGE(1);
  *sp++ = Value::Bool(!Eq(v, K[in.a]));
  DISPATCH();
}
L_INREQK: {
  READREQ(v, in.b());
  CHARGE(1);
  NEED(v);
  const Value& k = K[in.a];
  bool hit;
  if (v.kind == Kind::kString && k.kind == Kind::kSet) {
    hit = SetContainsString(k, v.sv(), SlotHash(f->s, in.b(), v.sv()));
  } else if (v.kind == Kind::kString && k.kind == Kind::kMap) {
    hit = MapFind(k, v.sv(), SlotHash(f->s, in.b(), v.sv())) != nullptr;
  } else {
    hit = Member(k, v);
  }
  *sp++ = Value::Bool(hit);
  DISPATCH();
}
L_HASREQK: {
  READREQ(v, in.b());
  CHARGE(2);
  NEED(v);
  NEED(K[in.a]);
  *sp++ = Value::Bool(Member(v, K[in.a]));
  DISPATCH();
}
L_REQORK: {
  READREQ(v, in.b());
  CHARGE(1);
  if (v.is_null()) {
    CHARGE(1);
    v = K[in.a];
  }
  *sp++ = v;
  DISPATCH();
}
#define COMPAREK(name, rel)                  \
  L_##name: {                                \
    CHARGE(1);                               \
    const Value& k = K[in.a];                \
    NEED(T);                                 \
    NEED(k);                                 \
    T = Value::Bool(Cmp(T, k) rel 0);        \
    DISPATCH();                              \
  }
  COMPAREK(GTK, >)
  COMPAREK(GEK, >=)
  COMPAREK(LTK, <)
  COMPAREK(LEK, <=)
#undef COMPAREK
#undef READREQ
#undef CHARGE
L_RET:
  if (f->chain != nullptr && T.kind == Kind::kBool && !T.b) {
    // A rule chain (interp.h): this rule did not fire; on to the next.
    Chain& ch = *f->chain;
    ch.used += ch.full_budget - budget;
    if (++ch.pos < ch.n) {
      const uint32_t when = c.rule_code[ch.rules[ch.pos]].when;
      if (when != kNoEntry) {
        budget = ch.full_budget;
        f->null_what = {};
        sp = base;
        pc = when;
        DISPATCH();
      }
    }
    ch.ran = false;
    *result = Value();
    f->budget = budget;
    return true;
  }
  *result = T;
  f->budget = budget;
  return true;

out_of_budget:
  f->budget = 0;
  return Fail(f, kErrBudget, "instruction budget exhausted");

#undef T
#undef S
#undef FAIL
#undef DISPATCH
#undef NEED
#undef DEBUG_TRACE
}

}  // namespace tollgate::vm::internal
