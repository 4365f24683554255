// Internal to engine/vm: what `--explain` records of the fields a rule read.
//
// Ordinary fields are recorded as their JSON value. Raw content -- the
// message text (`request.content`, `request.messages`) and every field that
// a scan group of the program scans with `matches` / `contains` -- is never
// copied into the trace: it is recorded as a summary,
//
//   {"length": 812, "matches": [{"detector": "dlp.credit_card", "span": [16, 35],
//                                "excerpt": "41***************11"}]}
//
// (request.messages keeps its records -- role, name -- with each `content`
// replaced by {"length": n}), and each scan
// pattern that matched adds the detector name (`"detector"`) or the regex or
// literal as written (`"pattern"`),
// the byte span [begin, end) of its first (validated) match and a masked
// excerpt of the match: at most two characters at each end kept, the rest
// `*` (a match shorter than 8 characters is masked whole, at most 16 `*`).
//
// Cost: only with EvalOptions::trace; a match's span re-runs that one
// pattern over the text.
#pragma once

#include <string_view>

#include "engine/core/types.h"
#include "engine/core/value.h"
#include "engine/vm/internal/interp.h"

namespace tollgate::vm::internal {

// Records the first read of `path` in the rule being traced.
void TraceRead(Frame* f, std::string_view path, const Value& v, const Type* type);

// Adds pattern `pat` of scan group `group`, which matched `text`, to the
// group field's summary (once per pattern and rule).
void TraceMatch(Frame* f, uint32_t group, uint32_t pat, std::string_view text);

// "41***************11" (rules above). Exposed for tests.
std::string MaskExcerpt(std::string_view match);

}  // namespace tollgate::vm::internal
