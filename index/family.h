// An index family: what VectorIndex holds under its id maps, one file each,
// as FAISS keeps one file per index kind.
//  - exact_family.cc: exact vectors (Flat rows), searched by relate's scans.
//  - graph_family.cc: relate's HNSW graph over exact vectors (index/hnsw.h).
//  - code_family.cc: kinds that keep codes, built and searched by FAISS (IVF,
//    PQ, SQ, LSH, HNSW over codes, after transforms); rows wait in an exact
//    family until the kind is trained.
// A new kind is a new file with a class that implements Family, a Make
// function below, and its name in MakeFamily and the spec parser (spec.h).
//
// VectorIndex owns one family and the Positions beside it (index/positions.h):
// a family holds vectors (or codes) by position and never sees record ids
// except through a SearchJob's Positions. It checks nothing the owner checks
// (sizes, ids, usability); its methods may throw what FAISS throws, and the
// owner turns that into a Status.
// Thread-safety: const methods may run concurrently with each other; anything
// else needs exclusive access (as VectorIndex).
#pragma once

#include <faiss/MetricType.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "index/exact_pass.h"
#include "index/positions.h"
#include "index/vector_index.h"
#include "relate/status.h"

namespace faiss {
struct Index;
struct IOReader;
struct IOWriter;
}  // namespace faiss

namespace relate::index {

class ExactFamily;

// A family's tag in a checkpoint's header (index/checkpoint.h): never renumbered.
enum class Kind : uint32_t { kFlat = 1, kHnsw = 2, kFaiss = 3 };

// How a family forgets the vector at a position.
enum class Removal {
  kSwap,       // rows stay dense: the last row moves into the freed position
  kHole,       // FAISS removes the entry for real; the position stays, without an id
  kTombstone,  // the vector stays, marked dead, until a rebuild drops it
};

inline faiss::MetricType FaissMetric(Metric m) {
  return m == Metric::kL2 ? faiss::METRIC_L2 : faiss::METRIC_INNER_PRODUCT;
}

class Family {
 public:
  virtual ~Family() = default;

  virtual Kind kind() const = 0;
  virtual Removal removal() const = 0;
  // Whether the family keeps vectors, not codes (even while codes wait for training).
  virtual bool keeps_exact_vectors() const = 0;
  // The exact vectors by position (row p at rows() + p x d), or null for codes.
  virtual const float* rows() const = 0;
  // The rows an exact scan answers every search over: Flat's, or the rows a
  // code family holds until it is trained; null otherwise.
  virtual const ExactFamily* scanned() const { return nullptr; }
  // Whether the family waits for Train before it searches approximately, and
  // the vectors Train wants (see VectorIndex::training_rows).
  virtual bool needs_training() const { return false; }
  virtual size_t training_rows() const { return 0; }
  // Fills what the family knows: kind, trains, trained, graph, nlist,
  // exact_vectors; adds what its vectors, codes or graph take to memory_bytes.
  virtual void Stats(IndexStats& stats) const = 0;

  // Trains on `n` prepared vectors and moves the `staged` rows held so far
  // into the trained index. Called only while needs_training().
  virtual void Train(size_t n, const float* vectors, size_t staged) {
    (void)n, (void)vectors, (void)staged;
  }
  virtual void Reserve(size_t n) = 0;
  // Adds `n` vectors at positions first, first + 1, ...
  virtual void Add(size_t first, size_t n, const float* vectors) = 0;
  // Removal::kSwap: moves row `last` (the last) into `pos` and drops it.
  virtual void SwapRemove(size_t pos, size_t last) { (void)pos, (void)last; }
  // Removal::kHole: removes the entries of these labels (positions).
  virtual void RemoveLabels(std::span<const int64_t> labels) { (void)labels; }

  // A search of every live position.
  virtual void Search(const SearchJob& job) const = 0;
  // A search of the allowed live positions (see SearchParams::allowed for
  // what it guarantees); the owner has checked that some may exist.
  virtual void SearchAllowed(const SearchJob& job, AllowedPass& pass) const = 0;

  // The checkpoint's ef_construction field: relate's HNSW keeps its own.
  virtual uint32_t saved_ef_construction() const { return 0; }
  // Writes the family's FAISS indexes, in the checkpoint's order.
  virtual void Write(faiss::IOWriter* writer) const = 0;
  // Replaces what the family holds with what Write wrote (flags: the
  // checkpoint's, 1 while staging); false if the file holds other kinds.
  virtual bool Read(faiss::IOReader* reader, uint32_t ef_construction, uint32_t flags) = 0;
  // After Read: the structures agree with themselves and with `positions`
  // (their id list read; where, dead_count and holes not yet).
  virtual Status CheckLoaded(const Positions& positions) const {
    (void)positions;
    return Status::OK();
  }
  // The FAISS index whose entries are the positions (for the checks of Load).
  virtual const faiss::Index& held() const = 0;
};

// The family that builds `spec` (resolved, and passing CheckSpec).
// InvalidArgument if FAISS cannot build it.
Result<std::unique_ptr<Family>> MakeFamily(uint32_t dimension, Metric metric,
                                           const std::string& spec, const BuildParams& build);

// Each may throw what FAISS throws.
std::unique_ptr<Family> MakeExactFamily(uint32_t dimension, Metric metric);
std::unique_ptr<Family> MakeGraphFamily(uint32_t dimension, Metric metric, int m,
                                        const BuildParams& build);
Result<std::unique_ptr<Family>> MakeCodeFamily(uint32_t dimension, Metric metric,
                                               const std::string& spec, const BuildParams& build);

}  // namespace relate::index
