// The embedded ledger's change journal: batches of row changes appended to a
// file beside the SQLite ledger (`PATH-changes0` and `PATH-changes1`, used in
// turn: each commit switches files), one write() each, so that a
// change an async caller was told is durable survives kill -9 without
// waiting for a SQLite commit. The writer folds journaled batches into the
// database every commit interval and then empties the journal; opening the
// ledger applies what a crashed process left in it.
//
//   internal::Journal j;
//   if (!j.Open(path + "-changes0", &err)) ...
//   std::vector<Batch> left; j.ReadAll(&left, &torn);   // recovery
//   j.Append(batch);                                   // the writer thread
//   j.Clear();                                         // after a commit
//
// Format: frames of [u32 payload length][u64 FNV-1a of the payload][payload],
// little-endian; the payload is the Batch (integers as u64, strings
// length-prefixed). A frame cut by a crash fails its length or hash check
// and ends the read: everything before it is used, nothing after it.
// Batches hold absolute row values (counters' spent/reserved, whole
// reservations), so applying a batch twice gives the same rows, and applying
// them in order gives the state after the last.
//
// Durability: the OS has the frame when Append returns (not fsynced): it
// survives a crash of the process, not a power loss -- the same as the
// ledger's batched SQLite commits (synchronous=NORMAL).
// Thread safety: one thread (the ledger's writer) uses a Journal.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/ledger/internal/state.h"

namespace tollgate::ledger::internal {

// One batch with the effect of applying `batches` in order: each counter,
// limit entry and reservation in its last state (a reservation upserted and
// then erased is only erased); seq, next_id and now_ms of the last batch.
Batch Coalesce(std::vector<Batch>&& batches);

// The serialised form of a batch (exposed for tests).
std::string EncodeBatch(const Batch& b);
// False when `data` is not a whole encoded batch.
bool DecodeBatch(const std::string& data, Batch* b);

class Journal {
 public:
  Journal() = default;
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;
  ~Journal();

  bool Open(const std::string& path, std::string* error);
  // Every whole frame in the file, in order; *torn = a damaged or cut frame
  // ended the read (the rest of the file is ignored).
  bool ReadAll(std::vector<Batch>* out, bool* torn, std::string* error);
  // Appends one frame with one write(). False (errno in *error) on failure.
  bool Append(const Batch& b, std::string* error);
  // Empties the file (its batches are in the database).
  bool Clear(std::string* error);
  // Bytes appended since the last Clear.
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  int fd_ = -1;
  uint64_t size_ = 0;
  std::string path_;
  std::string frame_;  // reused
};

}  // namespace tollgate::ledger::internal
