// A collection's FAISS index: the only code that includes faiss/.
//
// The index is derived state (DESIGN.md invariant 1): it holds, under each
// record's internal id, the record's vector as prepared for the metric (unit
// length for cosine). It persists as a checkpoint file that names the last
// change it contains; a file that fails any check is refused, never trusted.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "relate/status.h"
#include "relate/types.h"

namespace relate::index {

// Checks one vector for a collection: `dimension` values, all finite, and for
// cosine a non-zero norm. InvalidArgument says what is wrong, without context.
Status CheckVector(std::span<const float> vector, uint32_t dimension, Metric metric);

// Prepares `n` vectors laid end to end for the metric, in place: cosine scales
// each to unit length, the others leave them as they are.
void PrepareVectors(Metric metric, uint32_t dimension, std::span<float> vectors);

// The result of searching `n` queries for k neighbours: row i holds query i's
// hits, best first; an id of -1 marks an empty slot (fewer than k vectors).
struct Neighbours {
  size_t k = 0;
  std::vector<int64_t> ids;
  std::vector<float> scores;     // see Metric
  std::vector<float> distances;  // lower is more related
};

// Thread-safety: const methods may run concurrently with each other; anything
// else needs exclusive access.
class VectorIndex {
 public:
  // The index_factory spec relate uses for "auto" (for now "Flat").
  static std::string ResolveSpec(std::string_view spec);
  // Builds an empty index. InvalidArgument if FAISS cannot build `spec`, or the
  // index would need training, which relate does not do yet.
  static Result<std::unique_ptr<VectorIndex>> Create(uint32_t dimension, Metric metric,
                                                     std::string_view spec);

  ~VectorIndex();

  uint32_t dimension() const { return dimension_; }
  Metric metric() const { return metric_; }
  const std::string& spec() const { return spec_; }
  size_t size() const;
  // Whether Remove works for this kind of index (FAISS HNSW cannot remove).
  bool supports_remove() const;
  // Whether the index keeps vectors exactly, so Reconstruct returns them bit for bit.
  bool keeps_exact_vectors() const;
  bool Contains(uint64_t id) const;

  // Adds prepared vectors (see PrepareVectors) under the given ids, which must not
  // be in the index.
  Status Add(std::span<const uint64_t> ids, std::span<const float> vectors);
  // Removes the ids that are present; returns how many were.
  Result<size_t> Remove(std::span<const uint64_t> ids);
  // Searches prepared queries laid end to end.
  Result<Neighbours> Search(std::span<const float> queries, size_t k) const;
  // The vector stored under `id`; NotFound if absent.
  Result<std::vector<float>> Reconstruct(uint64_t id) const;
  // Every id in the index, in insertion order.
  std::vector<uint64_t> Ids() const;

  // Writes a checkpoint atomically (temporary file, fsync, rename) that records
  // `collection_id` and `last_change`.
  Status Save(const std::filesystem::path& path, uint32_t collection_id,
              uint64_t last_change) const;

  struct Loaded {
    std::unique_ptr<VectorIndex> index;
    uint64_t last_change = 0;
  };
  // Reads a checkpoint. NotFound if the file is missing; Corruption if it is
  // truncated, fails its checksum, or belongs to another collection or shape.
  static Result<Loaded> Load(const std::filesystem::path& path, uint32_t collection_id,
                             uint32_t dimension, Metric metric, std::string_view spec);

 private:
  struct Rep;
  explicit VectorIndex(std::unique_ptr<Rep> rep, uint32_t dimension, Metric metric,
                       std::string spec);
  std::unique_ptr<Rep> rep_;
  uint32_t dimension_;
  Metric metric_;
  std::string spec_;
};

}  // namespace relate::index
