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
#include "util/bitset.h"

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

// The record ids a search may return: a bitmap over record ids (ids are small,
// dense-ish integers allocated upward from 1 per collection), so it takes
// (largest id) / 8 bytes.
// Thread-safety: const methods from many threads; Add needs exclusive access.
class IdSet {
 public:
  IdSet() = default;
  // Adds `id`; the bitmap grows as needed.
  void Add(uint64_t id) {
    if (bits_.Set(id)) ++size_;
  }
  // Whether `id` was added (false beyond the bitmap).
  bool Contains(uint64_t id) const { return bits_.Test(id); }
  // Distinct ids added.
  size_t size() const { return size_; }
  // Every id added, ascending.
  std::vector<uint64_t> Sorted() const;

 private:
  util::Bitset bits_;
  size_t size_ = 0;
};

// Per-search knobs; 0 means the index's default.
struct SearchParams {
  // HNSW: candidates kept while walking the graph (at least k). Default:
  // VectorIndex::kDefaultEfSearch.
  uint32_t ef_search = 0;
  // IVF: inverted lists visited. Default: VectorIndex::kDefaultNprobe.
  uint32_t nprobe = 0;
  // Only ids in this set; null: every live id. Whenever at least k ids of the
  // set are live in the index, k are returned (best first): the search widens
  // (IVF: nprobe x4 up to nlist; FAISS HNSW: efSearch x4 up to every vector)
  // while it finds fewer than k allowed ids and has not looked at every
  // vector, and ends with an exact pass over the allowed ids if it still falls
  // short. relate's HNSW needs no widening: its walk goes on until it holds ef
  // allowed rows, so one that ends short has met every node it can reach, and
  // the exact pass follows. A set so small that walking a graph to collect it
  // costs more than scoring it (see VectorIndex::Search) gets the exact pass
  // straight away. Must outlive the call.
  const IdSet* allowed = nullptr;
};

// What a search did, for --explain. Search functions add to it (one search at
// a time: not thread-safe).
struct SearchStats {
  // Distance computations: exact for relate's scans and HNSW. For FAISS kinds
  // an estimate per query: IVF, the coarse centroids plus the probed share of
  // the entries (nlist + nprobe / nlist x entries; with `allowed`, FAISS skips
  // the distance of an entry the set rejects, so fewer happen); HNSW over
  // codes, efSearch x M; other codes, every entry.
  uint64_t distances = 0;
  // Times a FAISS search was repeated wider (once per round, for the queries
  // still short), or a range search asked for more neighbours.
  uint32_t widenings = 0;
  // Largest efSearch used, the last of the widenings (0: no graph was walked).
  uint32_t ef_search = 0;
  // Largest nprobe used, the last of the widenings (0: no IVF was searched).
  uint32_t nprobe = 0;
  // Some query ended with (or went straight to) an exact pass over the allowed ids.
  bool exact_pass = false;
};

// Per-query hit lists of different lengths: query i's hits are
// [offsets[i], offsets[i+1]) of ids, scores and distances (see Metric), best first.
struct RangeResult {
  std::vector<size_t> offsets;
  std::vector<int64_t> ids;
  std::vector<float> scores;
  std::vector<float> distances;
};

// How an index is built.
struct BuildParams {
  // HNSW: candidates kept while linking a new vector. Default:
  // VectorIndex::kDefaultEfConstruction.
  uint32_t ef_construction = 0;
  // Threads that Add may use (0: OpenMP's default, one per core).
  uint32_t threads = 0;
};

// What an index holds and costs.
struct IndexStats {
  std::string kind;           // "flat", "hnsw", "faiss" or "unusable" (see VectorIndex::Unusable)
  size_t live = 0;            // vectors searches can return
  size_t dead = 0;            // deleted vectors still held (tombstones) until a rebuild
  size_t holes = 0;           // IVF: positions of removed entries, dropped by a rebuild
  bool trains = false;        // a kind that needs training (IVF, PQ, SQ ...)
  bool trained = true;        // false while a trainable index searches exactly
  size_t memory_bytes = 0;    // vectors, graph or codes, and id maps (an estimate)
  bool graph = false;         // an HNSW graph: ef_search applies
  size_t nlist = 0;           // IVF lists (nprobe applies), 0 for other kinds
  bool exact_vectors = true;  // keeps vectors, not codes: refining changes nothing
};

// The score and distance (see Neighbours) of prepared vectors a and b.
void ScorePair(Metric metric, const float* a, const float* b, size_t dimension, float* score,
               float* distance);

// A collection's vectors, searchable by similarity. Kinds (a family file each, index/family.h):
//  - "Flat": exact search with relate's SIMD scan (one query) or BLAS (many).
//  - "HNSW<M>" / "HNSW<M>,Flat": FAISS's HNSW graph and flat storage, built and
//    searched by relate's own loops (index/hnsw.h).
//  - these FAISS index_factory specs, built and searched by FAISS: IVF<n>,
//    IVF<n>_HNSW<M> or IMI2x<bits> over Flat, SQ<type> or PQ<m>[x<bits>];
//    PQ<m>[x<bits>]; SQ<type> (SQ4, SQ6, SQ8, SQfp16); LSH; HNSW<M> over
//    PQ<m> or SQ<type>; each after any of the transforms PCA<d>, OPQ<m>[_<d>],
//    RR<d>, L2norm and Pad<d> (CheckSpec has the limits). One that needs
//    training searches exactly until Train is called.
// Remove deletes Flat rows and IVF entries for real; in the other kinds it
// leaves a tombstone that searches skip, and a rebuild drops it.
//
// Thread-safety: const methods may run concurrently with each other; anything
// else needs exclusive access.
class VectorIndex {
 public:
  static constexpr uint32_t kDefaultEfSearch = 64;
  static constexpr uint32_t kDefaultNprobe = 16;
  static constexpr uint32_t kDefaultEfConstruction = 100;
  // Most neighbours one query may ask for (k, or k x refine).
  static constexpr size_t kMaxK = 1 << 20;

  // "auto" uses Flat below this many values (rows x dimension: a scan of 32 MiB
  // takes a few milliseconds), then a graph.
  static constexpr double kAutoGraphValues = 1 << 23;
  // The spec an empty index is created with: "auto" starts as "Flat".
  static std::string ResolveSpec(std::string_view spec);
  // What "auto" wants for `rows` vectors: "Flat" or "HNSW32".
  static std::string AutoSpec(size_t rows, uint32_t dimension);
  // Whether relate builds `spec` for vectors of `dimension`: the kinds above in
  // FAISS 1.7.3's grammar, with every count in range (FAISS asserts, divides by
  // zero or allocates without bound on some that it parses). InvalidArgument
  // naming the spec and what is wrong with it.
  static Status CheckSpec(uint32_t dimension, std::string_view spec);
  // Builds an empty index. InvalidArgument if `spec` fails CheckSpec or FAISS
  // cannot build it.
  static Result<std::unique_ptr<VectorIndex>> Create(uint32_t dimension, Metric metric,
                                                     std::string_view spec,
                                                     const BuildParams& build = {});
  // An index for a stored collection whose spec fails CheckSpec (`why`, its
  // message): a database written by a version that took the spec still opens,
  // and the collection can be listed and dropped. It holds nothing; Add,
  // Remove, Train, the searches and Reconstruct return FailedPrecondition
  // (see CheckUsable), and Save writes nothing.
  static std::unique_ptr<VectorIndex> Unusable(uint32_t dimension, Metric metric,
                                               std::string_view spec, std::string_view why);
  // OK, or the FailedPrecondition of an index made by Unusable: what is wrong
  // with its spec and what to do.
  Status CheckUsable() const;

  ~VectorIndex();

  uint32_t dimension() const { return dimension_; }
  Metric metric() const { return metric_; }
  const std::string& spec() const { return spec_; }
  // Live vectors (tombstones not counted).
  size_t size() const;
  IndexStats Stats() const;
  // Whether the index keeps vectors exactly, so Reconstruct returns them bit for bit.
  bool keeps_exact_vectors() const;
  bool Contains(uint64_t id) const;

  // Whether the index waits for Train before it searches approximately.
  bool needs_training() const;
  // Vectors Train wants at least (FAISS's 39 per centroid for IVF, 256 per
  // code for PQ); 0 when the index needs no training.
  size_t training_rows() const;
  // Trains on prepared vectors laid end to end (a sample of the collection)
  // and moves the vectors held so far into the trained index.
  // FailedPrecondition if the index needs no training or is trained.
  Status Train(std::span<const float> vectors);
  // Train on (up to `max_rows` of, evenly spread) the vectors it holds.
  Status TrainOnHeld(size_t max_rows);

  // Makes room for `n` vectors in all, so that adding them does not grow
  // buffers by doubling (which leaves up to half of them unused).
  void Reserve(size_t n);
  // Adds prepared vectors (see PrepareVectors) under the given ids, which must not
  // be in the index.
  Status Add(std::span<const uint64_t> ids, std::span<const float> vectors);
  // Removes the ids that are present; returns how many were.
  Result<size_t> Remove(std::span<const uint64_t> ids);
  // Searches prepared queries laid end to end for k neighbours each, only
  // among `params.allowed` if set (see SearchParams for the k guarantee).
  // Plans with `allowed`: Flat scores only the allowed rows (gathered when the
  // set is small next to the index, else a scan that skips the others); HNSW
  // and FAISS HNSW go straight to an exact pass when the allowed live ids, a,
  // are few: a^2 <= 8 x ef x live (a walk meets a multiple of ef x live / a
  // nodes to collect ef of them); IVF starts at nprobe >= 2k x nlist / |allowed|.
  // InvalidArgument if the queries are not whole vectors or k is too large;
  // Internal if FAISS fails.
  Result<Neighbours> Search(std::span<const float> queries, size_t k,
                            const SearchParams& params = {}, SearchStats* stats = nullptr) const;
  // Exact search over the given ids only (ids not live in the index, and
  // repeats, are skipped), for indexes that keep vectors (keeps_exact_vectors():
  // Flat, HNSW): many queries run as matrix products (index::ExactSearch over a
  // gathered block of rows). FailedPrecondition for kinds that keep codes (even
  // while untrained), InvalidArgument as Search.
  Result<Neighbours> SearchExact(std::span<const float> queries, size_t k,
                                 std::span<const uint64_t> ids, SearchStats* stats = nullptr) const;
  // Range search: per query, every live (and allowed) id whose score >=
  // threshold (cosine, inner product) or distance <= threshold (L2), best
  // first, at most `limit`. Flat (and untrained kinds): an exact scan. Other
  // kinds: a k-search widened (k x4 from min(limit, 64)) until its last hit
  // falls outside the threshold, or limit or every vector is reached (k stops
  // at kMaxK). InvalidArgument if the queries are not whole vectors.
  Result<RangeResult> RangeSearch(std::span<const float> queries, float threshold, size_t limit,
                                  const SearchParams& params = {},
                                  SearchStats* stats = nullptr) const;
  // The vector stored under `id`; NotFound if absent, FailedPrecondition if the
  // index keeps only codes.
  Result<std::vector<float>> Reconstruct(uint64_t id) const;
  // Every live id in the index.
  std::vector<uint64_t> Ids() const;

  // Writes a checkpoint that records `collection_id` and `last_change`, whole
  // or not at all (through util::DurableFileWriter: a synced temporary file
  // moved over the target, then the directory synced). IOError if the file
  // cannot be written, Internal if FAISS cannot serialise the index. An
  // unusable index writes nothing.
  Status Save(const std::filesystem::path& path, uint32_t collection_id,
              uint64_t last_change) const;

  struct Loaded {
    std::unique_ptr<VectorIndex> index;
    uint64_t last_change = 0;
  };
  // Reads a checkpoint. NotFound if the file is missing; Corruption if it is
  // truncated, fails its checksum, is of an older format, or belongs to another
  // collection, shape or spec. A `spec` that fails CheckSpec gives an index
  // made by Unusable (last change 0) whatever the file holds, or if it is missing.
  static Result<Loaded> Load(const std::filesystem::path& path, uint32_t collection_id,
                             uint32_t dimension, Metric metric, std::string_view spec,
                             const BuildParams& build = {});

 private:
  // The id maps and the index family (index/vector_index_rep.h).
  struct Rep;
  explicit VectorIndex(std::unique_ptr<Rep> rep, uint32_t dimension, Metric metric,
                       std::string spec);
  std::unique_ptr<Rep> rep_;
  uint32_t dimension_;
  Metric metric_;
  std::string spec_;
};

// Exact search over caller-held rows (prepared for the metric, laid end to
// end) that carry record ids (ids[i] for row i): for kinds that keep codes,
// the query layer gathers stored vectors and calls these. Same scores and
// distances as VectorIndex; many queries run as matrix products.
Neighbours ExactSearchRows(Metric metric, uint32_t dimension, std::span<const float> rows,
                           std::span<const uint64_t> ids, std::span<const float> queries, size_t k,
                           SearchStats* stats = nullptr);
// Range search over caller-held rows, as VectorIndex::RangeSearch on Flat.
RangeResult RangeSearchRows(Metric metric, uint32_t dimension, std::span<const float> rows,
                            std::span<const uint64_t> ids, std::span<const float> queries,
                            float threshold, size_t limit, SearchStats* stats = nullptr);

}  // namespace relate::index
