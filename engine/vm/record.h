// A decision input (or one candidate endpoint) resolved to slots.
//
// `slots[i]` is the value of the schema field whose slot in this scope is i
// (stdlib::Schema::FieldOfSlot). Absent optional fields are Null; absent sets
// are empty sets. Strings and containers live in `arena` (or in memory the
// producer keeps alive, such as a catalog).
//
// Produced by runtime::DecodeInput (requests) and by the router/catalog
// (candidates); read by the VM. Thread safety: read-only once filled.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/core/value.h"

namespace tollgate::vm {

struct Record {
  std::vector<Value> slots;
  Arena arena;
  std::string buffer;  // scratch the decoder may parse in place
  // request.content when the decoder joined several long texts: its joined
  // buffer, swapped in rather than copied (runtime/input/input.cc Derive).
  std::string content;

  // The request's instant (the schema's first clock field, `context.time`)
  // as the decoder settled it: from the input, or from the evaluating clock
  // when the input had none. vm::Evaluate copies it into Decision::time.
  struct TimeStamp {
    int64_t unix_ms = 0;
    bool from_clock = false;
  };
  std::optional<TimeStamp> time;
  std::optional<int64_t> clock_ms;  // the clock reading used (at most one per input)

  void Clear() {
    slots.clear();
    arena.Reset();
    buffer.clear();
    content.clear();
    time.reset();
    clock_ms.reset();
  }
};

}  // namespace tollgate::vm
