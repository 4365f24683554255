#include "runtime/ledger/ledger.h"

#include "engine/core/money.h"

namespace tollgate::ledger {

int Admission::status() const {
  switch (verdict) {
    case Verdict::kAdmitted: return 200;
    case Verdict::kBudgetExceeded: return 403;
    case Verdict::kRateLimited: return 429;
    case Verdict::kUnavailable: return 503;
  }
  return 503;
}

std::string_view Admission::code() const {
  switch (verdict) {
    case Verdict::kAdmitted: return kCodeAdmitted;
    case Verdict::kBudgetExceeded: return kCodeBudgetExceeded;
    case Verdict::kRateLimited: return kCodeRateLimited;
    case Verdict::kUnavailable: return kCodeStoreUnavailable;
  }
  return kCodeStoreUnavailable;
}

void DescribeDenial(Admission* a) {
  if (a->verdict == Verdict::kBudgetExceeded) {
    a->message = "budget `" + a->name + "` for key `" + a->key + "` (" + a->window + " " + a->window_label +
                 ") has " + FormatMicros(a->remaining) + " usd of " + FormatMicros(a->limit) +
                 " usd left; this request may cost up to " + FormatMicros(a->requested) + " usd";
  } else if (a->verdict == Verdict::kRateLimited) {
    a->message = "limit `" + a->name + "` for key `" + a->key + "` allows " + std::to_string(a->limit) +
                 " per " + a->window + "; " + std::to_string(a->remaining) + " left, this request needs " +
                 std::to_string(a->requested);
    if (a->requested > a->limit) {
      a->message += " (more than the limit: it can never be admitted)";
    } else if (a->retry_after_s > 0) {
      a->message += "; retry after " + std::to_string(a->retry_after_s) + " s";
    }
  }
}

}  // namespace tollgate::ledger
