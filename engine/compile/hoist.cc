// Memo slots: common pure lookups computed once per evaluation.
//
// A lookup such as `workspaces[principal.workspace]` that several rules (or
// one rule twice) compute is given a memo slot (vm::internal::Memo): its
// code stays inline at every use, wrapped in MEMO ... STMEMO, so the first
// use in an evaluation computes and stores it and later uses read it.
//
// Exactness. Only pure lookups qualify: request fields, constants, data
// documents, `.member`, `[key]`, `[index]` -- no locals, counters, candidate
// fields or calls -- so the value is the same wherever it is computed in one
// evaluation. Errors are never stored: a use whose lookup fails (a null
// container, a member of a non-record) recomputes and fails with the same
// code and message, in every rule that reaches it. A null result is stored
// with the `missing field` name it leaves behind. A hit charges the
// instructions it skips, so budgets and Decision::instructions are unchanged.
// Two uses share a slot only when their resolved structure and their source
// text are equal (error messages quote the source text).
#include <algorithm>
#include <cstdint>
#include <unordered_map>

#include "engine/compile/emitter.h"

namespace tollgate::compile::internal {

namespace {

class Chooser {
 public:
  Chooser(const stdlib::Schema& schema, const Emitter& em) : schema_(schema), em_(em) {}

  // Visits every node of `e` (pre-order), recording candidate occurrences.
  // Returns the pure-lookup key of `e`, or "" when `e` is not one.
  std::string Visit(const ast::Expr& e, uint32_t depth) {
    if (depth > 512) return {};  // deeper trees are emitted without memos
    std::vector<std::string> kid_keys;
    size_t at = occ_.size();
    bool candidate = !e.folded && e.scope != ast::Scope::kCandidate &&
                     (e.kind == ast::ExprKind::kIndex ||
                      (e.kind == ast::ExprKind::kMember && e.ref == ast::RefKind::kUnresolved));
    if (candidate) occ_.push_back(Occurrence{&e, {}, 0, 0});
    for (const auto& k : e.kids) kid_keys.push_back(Visit(*k, depth + 1));
    std::string key = KeyOf(e, kid_keys);
    if (candidate) {
      // (Left in place with an empty key when not a lookup: the `end` of
      // the occurrences below it stay valid.)
      occ_[at].end = occ_.size();
      if (!key.empty()) {
        occ_[at].key = key + '\x01' + em_.SourceText(e.span);
        occ_[at].size = key.size();
      }
    }
    return key;
  }

  // Slots for the keys that occur at least twice outside a chosen larger
  // lookup; numbered in order of first use.
  std::unordered_map<const ast::Expr*, uint32_t> Choose(std::vector<vm::internal::Memo>* memos) {
    std::unordered_map<std::string, std::vector<size_t>> by_key;
    for (size_t i = 0; i < occ_.size(); ++i) {
      if (!occ_[i].key.empty()) by_key[occ_[i].key].push_back(i);
    }
    std::vector<const std::vector<size_t>*> groups;
    for (const auto& [k, v] : by_key) {
      if (v.size() >= 2) groups.push_back(&v);
    }
    // Larger lookups first: one that contains another covers its uses there.
    std::sort(groups.begin(), groups.end(), [&](const auto* a, const auto* b) {
      const Occurrence& x = occ_[a->front()];
      const Occurrence& y = occ_[b->front()];
      return x.size != y.size ? x.size > y.size : a->front() < b->front();
    });
    std::vector<bool> covered(occ_.size(), false), chosen(occ_.size(), false);
    for (const auto* g : groups) {
      std::vector<size_t> free;
      for (size_t i : *g) if (!covered[i]) free.push_back(i);
      if (free.size() < 2) continue;
      for (size_t i : free) {
        chosen[i] = true;
        for (size_t j = i + 1; j < occ_[i].end; ++j) covered[j] = true;
      }
    }
    std::unordered_map<const ast::Expr*, uint32_t> out;
    std::unordered_map<std::string, uint32_t> slot_of;
    for (size_t i = 0; i < occ_.size(); ++i) {
      if (!chosen[i]) continue;
      auto [it, fresh] = slot_of.emplace(occ_[i].key, static_cast<uint32_t>(memos->size()));
      if (fresh) {
        memos->emplace_back();
        memos->back().text = em_.SourceText(occ_[i].e->span);
      }
      out.emplace(occ_[i].e, it->second);
    }
    return out;
  }

 private:
  struct Occurrence {
    const ast::Expr* e;
    std::string key;
    size_t size;  // key length: a larger lookup has a longer key
    size_t end;   // occurrences [this + 1, end) lie inside this one
  };

  // Resolved structure of a pure lookup, "" when `e` is not one.
  std::string KeyOf(const ast::Expr& e, const std::vector<std::string>& kids) const {
    if (e.scope == ast::Scope::kCandidate) return {};
    // Names first: a data document or const may also be folded (its key
    // then is its name, not its value).
    if (e.kind == ast::ExprKind::kName && e.ref == ast::RefKind::kData) return "D" + std::to_string(e.index);
    if (e.kind == ast::ExprKind::kName && e.ref == ast::RefKind::kConst) return "C" + std::to_string(e.index);
    // A field chain (`principal.workspace`): its inner nodes are namespaces.
    if ((e.kind == ast::ExprKind::kName || e.kind == ast::ExprKind::kMember) && e.ref == ast::RefKind::kField) {
      return FieldKey(e);
    }
    if (e.folded || e.kind == ast::ExprKind::kLiteral) {
      const Value& v = e.folded ? *e.folded : e.value;
      if (e.type.kind() == Kind::kPattern || v.kind == Kind::kPattern || v.kind == Kind::kAny) return {};
      std::string k = "K" + std::to_string(static_cast<int>(v.kind));
      // Containers by identity (equal values in two objects are two keys:
      // never wrong, and no rendering of a large document).
      if (v.kind >= Kind::kSet && v.kind <= Kind::kRecord) {
        return k + "@" + std::to_string(reinterpret_cast<uintptr_t>(v.set));
      }
      return k + ToJson(v);
    }
    for (const std::string& k : kids) {
      if (k.empty()) return {};
    }
    switch (e.kind) {
      case ast::ExprKind::kMember:
        if (e.ref != ast::RefKind::kUnresolved || e.kids.size() != 1) return {};
        return "(" + kids[0] + ").M" + std::to_string(e.index) + ":" + e.name;
      case ast::ExprKind::kIndex:
        if (e.kids.size() != 2) return {};
        return "(" + kids[0] + ")[" + kids[1] + "]";
      default:
        return {};
    }
  }

  std::string FieldKey(const ast::Expr& e) const {
    if (e.index < 0 || e.index >= static_cast<int>(schema_.fields().size())) return {};
    if (schema_.field(e.index).scope != ast::Scope::kRequest) return {};
    return "F" + std::to_string(e.index);
  }

  const stdlib::Schema& schema_;
  const Emitter& em_;
  std::vector<Occurrence> occ_;
};

}  // namespace

void ChooseMemos(const ast::Policy& policy, const stdlib::Schema& schema, Emitter* em,
                 vm::internal::Code* code) {
  Chooser ch(schema, *em);
  // The entries one vm::Evaluate runs: `when`, `mode ... when`, tag values
  // and messages. (A require runs per candidate, a declaration per call:
  // each in an evaluation of its own, where a shared slot would not help.)
  for (const ast::Rule& r : policy.rules) {
    if (r.when) ch.Visit(*r.when, 0);
    if (r.mode_when) ch.Visit(*r.mode_when, 0);
    for (const ast::Effect& ef : r.effects) {
      bool runs = ef.kind == ast::EffectKind::kTag || ef.kind == ast::EffectKind::kDeny ||
                  ef.kind == ast::EffectKind::kWarn;
      if (runs && ef.expr) ch.Visit(*ef.expr, 0);
    }
  }
  em->hoisted = ch.Choose(&code->memos);
}

}  // namespace tollgate::compile::internal
