// Salvage of a damaged write-ahead log: RocksDB's reader, meeting a record
// that fails its checksum, drops the rest of its 32 KiB block (the record's
// length may be the damaged part), so the whole batches after the damage in
// that block were lost with it. This reader finds where the records go on.
// Internal to storage/.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "relate/status.h"

namespace relate::storage {

struct LogSalvage {
  uint64_t batches = 0;            // whole batches kept
  uint64_t damaged_stretches = 0;  // runs of bytes that held no whole record
  uint64_t damaged_bytes = 0;
};

// Reads the log at `path` (RocksDB's log format: 32 KiB blocks of records with
// a 7-byte header of masked CRC-32C, length and type; a batch is one record or
// a FIRST, MIDDLE..., LAST run). Past damage, the reader goes on at the first
// place where a record passes its checksum (the one the damaged header's length
// points at, else the next in its block, else the next block): every batch
// whose records all pass their checksums is kept, in order, and a batch with a
// damaged record is dropped whole (a batch is all or nothing). If there was
// damage, rewrites `path` to hold just the kept batches (written beside it,
// synced and renamed over it); a whole log is left as it is. FailedPrecondition for
// a log this reader does not know (compressed or recycled records).
Result<LogSalvage> SalvageLog(const std::filesystem::path& path);

}  // namespace relate::storage
