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

#include <string>
#include <vector>

#include "engine/core/value.h"

namespace tollgate::vm {

struct Record {
  std::vector<Value> slots;
  Arena arena;
  std::string buffer;  // scratch the decoder may parse in place

  void Clear() {
    slots.clear();
    arena.Reset();
    buffer.clear();
  }
};

}  // namespace tollgate::vm
