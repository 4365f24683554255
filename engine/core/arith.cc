// Checked Value arithmetic shared by the VM and constant folding (arith.h).
#include "engine/core/arith.h"

#include <string>

#include "engine/core/money.h"

namespace tollgate {

namespace {

using i128 = __int128;

bool IsNum(const Value& v) { return v.kind == Kind::kInt || v.kind == Kind::kDecimal; }
// INVARIANT: exact; |int64| * 1e6 fits in 128 bits.
i128 Micros(const Value& v) { return v.kind == Kind::kInt ? i128(v.i) * kMicros : i128(v.i); }

// n / d rounded half to even. d != 0.
i128 DivHalfEven(i128 n, i128 d) {
  i128 q = n / d, r = n % d;
  if (r == 0) return q;
  i128 ar = r < 0 ? -r : r, ad = d < 0 ? -d : d;
  i128 sign = ((n < 0) != (d < 0)) ? -1 : 1;
  if (2 * ar > ad || (2 * ar == ad && (q % 2 != 0))) q += sign;
  return q;
}

ArithStatus Fit(Kind k, i128 x, Value* out) {
  if (x > INT64_MAX || x < INT64_MIN) return ArithStatus::kOverflow;
  *out = Value::Scalar(k, static_cast<int64_t>(x));
  return ArithStatus::kOk;
}

}  // namespace

ArithStatus Arith(ArithOp op, const Value& a, const Value& b, Arena* arena, Value* out) {
  Kind ka = a.kind, kb = b.kind;
  if (op == ArithOp::kMod) {
    if (ka != Kind::kInt || kb != Kind::kInt) return ArithStatus::kType;
    if (b.i == 0) return ArithStatus::kDivByZero;
    return Fit(Kind::kInt, i128(a.i) % i128(b.i), out);
  }
  if (IsNum(a) && IsNum(b)) {
    bool ints = ka == Kind::kInt && kb == Kind::kInt;
    switch (op) {
      case ArithOp::kAdd:
        return ints ? Fit(Kind::kInt, i128(a.i) + b.i, out) : Fit(Kind::kDecimal, Micros(a) + Micros(b), out);
      case ArithOp::kSub:
        return ints ? Fit(Kind::kInt, i128(a.i) - b.i, out) : Fit(Kind::kDecimal, Micros(a) - Micros(b), out);
      case ArithOp::kMul:
        if (ints) return Fit(Kind::kInt, i128(a.i) * b.i, out);
        // int x decimal: the int is not scaled, so the product is already in micros.
        if (ka == Kind::kInt || kb == Kind::kInt) return Fit(Kind::kDecimal, i128(a.i) * b.i, out);
        return Fit(Kind::kDecimal, DivHalfEven(i128(a.i) * b.i, kMicros), out);
      case ArithOp::kDiv:
        if (Micros(b) == 0) return ArithStatus::kDivByZero;
        return Fit(Kind::kDecimal, DivHalfEven(Micros(a) * kMicros, Micros(b)), out);
      default: return ArithStatus::kType;
    }
  }
  if (ka == Kind::kMoney && kb == Kind::kMoney) {
    if (op == ArithOp::kAdd) return Fit(Kind::kMoney, i128(a.i) + b.i, out);
    if (op == ArithOp::kSub) return Fit(Kind::kMoney, i128(a.i) - b.i, out);
    if (op == ArithOp::kDiv) {
      if (b.i == 0) return ArithStatus::kDivByZero;
      return Fit(Kind::kDecimal, DivHalfEven(i128(a.i) * kMicros, b.i), out);
    }
    return ArithStatus::kType;
  }
  if (ka == Kind::kMoney && IsNum(b)) {
    if (op == ArithOp::kMul) {
      return Fit(Kind::kMoney, kb == Kind::kInt ? i128(a.i) * b.i : DivHalfEven(i128(a.i) * b.i, kMicros), out);
    }
    if (op == ArithOp::kDiv) {
      if (b.i == 0) return ArithStatus::kDivByZero;
      return Fit(Kind::kMoney, DivHalfEven(i128(a.i) * kMicros, Micros(b)), out);
    }
    return ArithStatus::kType;
  }
  if (IsNum(a) && kb == Kind::kMoney && op == ArithOp::kMul) {
    return Fit(Kind::kMoney, ka == Kind::kInt ? i128(a.i) * b.i : DivHalfEven(i128(a.i) * b.i, kMicros), out);
  }
  bool add_sub = op == ArithOp::kAdd || op == ArithOp::kSub;
  auto sum = [&](Kind k) { return Fit(k, op == ArithOp::kAdd ? i128(a.i) + b.i : i128(a.i) - b.i, out); };
  if (ka == Kind::kTime && kb == Kind::kTime && op == ArithOp::kSub) return sum(Kind::kDuration);
  if (ka == Kind::kTime && kb == Kind::kDuration && add_sub) return sum(Kind::kTime);
  if (ka == Kind::kDuration && kb == Kind::kTime && op == ArithOp::kAdd) return sum(Kind::kTime);
  if (ka == Kind::kDuration && kb == Kind::kDuration && add_sub) return sum(Kind::kDuration);
  if (ka == Kind::kString && kb == Kind::kString && op == ArithOp::kAdd && arena != nullptr) {
    if (size_t(a.size) + b.size > kMaxConcatBytes) return ArithStatus::kOverflow;
    std::string s;
    s.reserve(a.size + b.size);
    s.append(a.sv()).append(b.sv());
    *out = arena->String(s);
    return ArithStatus::kOk;
  }
  return ArithStatus::kType;
}

ArithStatus Negate(const Value& a, Value* out) {
  switch (a.kind) {
    case Kind::kInt: case Kind::kDecimal: case Kind::kMoney: case Kind::kDuration:
      return Fit(a.kind, -i128(a.i), out);
    default:
      return ArithStatus::kType;
  }
}

}  // namespace tollgate
