// The checkpoint format: how VectorIndex::Save writes an index and
// VectorIndex::Load reads it back (both in checkpoint.cc). A checkpoint is
// derived state (DESIGN.md invariant 1): a file that fails any check is
// refused, never trusted, and the index is rebuilt from storage.
//
// Layout, little-endian:
//   header  magic "RLXCKPT2" | u32 collection id | u32 dimension | u32 metric |
//           u32 kind (index::Kind, family.h) | u64 last change
//   payload u32 spec bytes, spec | u32 ef_construction | u32 flags (1: staging) |
//           u64 positions, their record ids | u64 tombstone words, the words |
//           faiss::write_index of the family's indexes (Family::Write: Flat's
//           IndexFlat, relate's HNSW's IndexHNSWFlat, a code kind's index and,
//           while staging, the IndexFlat of its staged rows)
//   trailer u64 payload size | u64 XXH64 (seed 0) of everything before it
// The file is written through util::DurableFileWriter (a synced temporary
// moved over the target, the directory synced), so after a crash it is the
// old checkpoint or the new one, whole.
#pragma once

#include <cstddef>

namespace relate::index {

inline constexpr char kCheckpointMagic[8] = {'R', 'L', 'X', 'C', 'K', 'P', 'T', '2'};
// Format 1 (before kinds, specs, positions and tombstones): refused as "an older format".
inline constexpr char kCheckpointOldMagic[8] = {'R', 'L', 'X', 'C', 'K', 'P', 'T', '1'};
inline constexpr size_t kCheckpointHeaderSize = 32;
inline constexpr size_t kCheckpointTrailerSize = 16;

}  // namespace relate::index
