// Checked arithmetic on runtime Values: the ONE implementation of the
// arithmetic rules of docs/architecture.md ("Runtime semantics"), used by
// the VM (engine/vm/interp.cc) at run time and by constant folding
// (engine/check/fold.cc) at check time, so that a folded constant is
// exactly what the VM would compute. (The reference interpreter in
// tests/differential keeps a deliberately independent copy.)
//
//   Value r;
//   ArithStatus st = Arith(ArithOp::kDiv, Value::Int(1), Value::Int(2), &arena, &r);
//   // st == ArithStatus::kOk, r == Decimal(500000)
//
// Semantics: int and decimal mix (the result is decimal); `/` always yields
// decimal (money / number -> money, money / money -> decimal); `%` is int
// only; money x number -> money; time/duration by kind; string + string
// concatenates (in *arena). Intermediate results are exact in 128-bit
// integers; only the final result is range-checked against int64, and
// decimal results round half to even at 6 digits.
//
// Failure: kOverflow (the exact result does not fit in int64), kDivByZero,
// kType (the operand kinds do not combine; *out untouched). Never throws.
// Cost: O(1) (string concatenation O(length) and one arena string).
// Thread safety: reentrant; *arena must not be shared while being written.
#pragma once

#include <cstddef>
#include <cstdint>

#include "engine/core/value.h"

namespace tollgate {

// Longest string `+` may build (16 MiB, as stdlib's kMaxBuiltinStringBytes);
// beyond it the result is kOverflow.
inline constexpr size_t kMaxConcatBytes = 16u << 20;

enum class ArithOp : uint8_t { kAdd, kSub, kMul, kDiv, kMod };
enum class ArithStatus : uint8_t { kOk, kOverflow, kDivByZero, kType };

// a op b for two non-null values. `arena` may be null when neither operand
// is a string (string + string then returns kType).
ArithStatus Arith(ArithOp op, const Value& a, const Value& b, Arena* arena, Value* out);

// -a for an int, decimal, money or duration value (kOverflow for INT64_MIN).
ArithStatus Negate(const Value& a, Value* out);

}  // namespace tollgate
