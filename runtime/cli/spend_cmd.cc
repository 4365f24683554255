// `tollgate spend`: spent, reserved, remaining and limit per budget, key and
// window of a ledger; rate limits likewise. See docs/budgets.md.
//
//   tollgate spend --ledger URL [--policy FILE] [--json]
//
// A SQLite ledger is read without taking ownership (a gateway may be running
// on it). With --policy, only that policy's budgets and limits are listed.
// Exit codes: 0 printed, 1 policy errors, 2 usage, 3 the ledger cannot be read.
#include <algorithm>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "engine/core/money.h"
#include "runtime/cli/commands.h"
#include "runtime/cli/common.h"
#include "runtime/ledger/open.h"
#include "runtime/ledger/sqlite_ledger.h"

namespace tollgate::cli {
namespace {

constexpr const char* kSpendUsage =
    "usage: tollgate spend --ledger URL [--policy FILE] [--schema FILE] [--json]\n\n"
    "prints spent, reserved, remaining and limit per budget, key and window of the\n"
    "ledger (sqlite:PATH, redis://HOST:PORT/DB), and used/remaining per rate limit.\n"
    "money is in usd. a sqlite ledger is read without taking ownership. with --policy,\n"
    "only that policy's budgets and limits are listed. see docs/budgets.md.\n\n"
    "exit codes: 0 ok, 1 policy errors, 2 usage error, 3 the ledger cannot be read\n";

void Str(rapidjson::Writer<rapidjson::StringBuffer>* w, const char* k, const std::string& v) {
  w->Key(k);
  w->String(v.c_str(), static_cast<rapidjson::SizeType>(v.size()));
}

std::string Usd(int64_t micros) { return FormatMicros(micros, 2); }

// A key as the text table shows it: as it is, or, when it holds a control
// character (a line break or tab in a user name), as a JSON string, so that
// it can neither split its row nor forge another one.
std::string ShownKey(const std::string& key) {
  bool plain = std::none_of(key.begin(), key.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7F;
  });
  return plain ? key : JsonQuoted(key);
}

}  // namespace

int RunSpend(int argc, char** argv) {
  Args args;
  args.Flag("--json").Value("--ledger", "URL").Value("--policy", "FILE").Value("--schema", "FILE");
  if (int rc = args.Parse(argc, argv, kSpendUsage); rc >= 0) return rc;
  if (!args.positional().empty()) {
    return UsageError("unexpected argument `" + args.positional()[0] + "`", kSpendUsage);
  }
  if (args.Get("--ledger").empty()) return UsageError("`--ledger` is required", kSpendUsage);
  std::set<std::string> budgets, limits;
  const bool filter = args.Has("--policy");
  if (filter) {
    Loaded l;
    if (int rc = LoadPolicy(args.Get("--policy"), args.Get("--schema"), &l); rc) return rc;
    for (const auto& b : l.policy->program().budgets()) budgets.insert(b.name);
    for (const auto& x : l.policy->program().limits()) limits.insert(x.name);
  }
  ledger::LedgerUrl url;
  std::string err;
  if (!ledger::ParseLedgerUrl(args.Get("--ledger"), &url, &err)) return UsageError(err, kSpendUsage);
  std::vector<ledger::CounterView> views;
  const int64_t now = ledger::SystemClock::Get().NowMs();
  if (url.kind == ledger::LedgerUrl::Kind::kSqlite) {
    if (!ledger::SqliteLedger::ReadSnapshot(url.path, now, &views, &err)) {
      std::fprintf(stderr, "error: %s\n", err.c_str());
      return kExitIo;
    }
  } else {
    auto led = ledger::OpenLedger(args.Get("--ledger"), {}, &err);
    ledger::Status s = led ? led->Snapshot(&views) : ledger::Status::Error("", err);
    if (!s.ok) {
      std::fprintf(stderr, "error: %s\n", s.message.c_str());
      return kExitIo;
    }
  }
  if (filter) {
    views.erase(std::remove_if(views.begin(), views.end(),
                               [&](const ledger::CounterView& v) {
                                 return v.kind == ledger::CounterView::Kind::kBudget ? !budgets.count(v.name)
                                                                                      : !limits.count(v.name);
                               }),
                views.end());
  }
  using Kind = ledger::CounterView::Kind;
  if (args.Has("--json")) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    w.StartObject();
    for (Kind kind : {Kind::kBudget, Kind::kLimit}) {
      w.Key(kind == Kind::kBudget ? "budgets" : "limits");
      w.StartArray();
      for (const auto& v : views) {
        if (v.kind != kind) continue;
        w.StartObject();
        Str(&w, "name", v.name);
        Str(&w, "key", v.key);
        Str(&w, "window", v.window);
        Str(&w, "period", v.window_label);
        if (kind == Kind::kBudget) {
          for (auto [k, m] : {std::pair{"spent", v.spent}, {"reserved", v.reserved}, {"remaining", v.remaining},
                              {"limit", v.limit}}) {
            Str(&w, k, FormatMicros(m));
            w.Key((std::string(k) + "_micros").c_str());
            w.Int64(m);
          }
        } else {
          Str(&w, "unit", v.unit == ledger::LimitUnit::kTokens ? "tokens" : "requests");
          for (auto [k, m] : {std::pair{"used", v.spent}, {"reserved", v.reserved}, {"remaining", v.remaining},
                              {"max", v.limit}}) {
            w.Key(k);
            w.Int64(m);
          }
        }
        w.EndObject();
      }
      w.EndArray();
    }
    w.EndObject();
    std::printf("%s\n", sb.GetString());
    return kExitOk;
  }
  bool any_b = false, any_l = false;
  for (const auto& v : views) (v.kind == Kind::kBudget ? any_b : any_l) = true;
  if (any_b) {
    std::printf("%-20s %-20s %-8s %-18s %12s %12s %12s %12s\n", "budget", "key", "window", "period", "spent",
                "reserved", "remaining", "limit");
    for (const auto& v : views) {
      if (v.kind != Kind::kBudget) continue;
      std::printf("%-20s %-20s %-8s %-18s %12s %12s %12s %12s\n", v.name.c_str(), ShownKey(v.key).c_str(),
                  v.window.c_str(), v.window_label.c_str(), Usd(v.spent).c_str(), Usd(v.reserved).c_str(), Usd(v.remaining).c_str(),
                  Usd(v.limit).c_str());
    }
  }
  if (any_l) {
    if (any_b) std::printf("\n");
    std::printf("%-20s %-20s %-8s %-9s %10s %10s %10s %10s\n", "limit", "key", "window", "unit", "used", "reserved",
                "remaining", "max");
    for (const auto& v : views) {
      if (v.kind != Kind::kLimit) continue;
      std::printf("%-20s %-20s %-8s %-9s %10lld %10lld %10lld %10lld\n", v.name.c_str(), ShownKey(v.key).c_str(),
                  v.window.c_str(), v.unit == ledger::LimitUnit::kTokens ? "tokens" : "requests",
                  static_cast<long long>(v.spent), static_cast<long long>(v.reserved),
                  static_cast<long long>(v.remaining), static_cast<long long>(v.limit));
    }
  }
  if (!any_b && !any_l) std::printf("no budget or limit counters in the current windows\n");
  return kExitOk;
}

}  // namespace tollgate::cli
