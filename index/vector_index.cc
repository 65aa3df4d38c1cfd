#include "index/vector_index.h"

#include <faiss/IVFlib.h>
#include <faiss/Index.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVF.h>
#include <faiss/invlists/InvertedLists.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/IndexPQ.h>
#include <faiss/IndexPreTransform.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/HNSW.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/impl/io.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>
#include <faiss/utils/distances.h>
#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <limits>
#include <optional>
#include <regex>
#include <shared_mutex>
#include <unordered_map>

#include "index/distance.h"
#include "index/exact_search.h"
#include "index/hnsw.h"

namespace relate::index {
namespace {

using idx_t = faiss::Index::idx_t;

// Checkpoint layout, little-endian:
//   header  magic "RLXCKPT2" | u32 collection id | u32 dimension | u32 metric | u32 kind |
//           u64 last change
//   payload u32 spec bytes, spec | u32 ef_construction | u32 flags (1: staging) |
//           u64 positions, their record ids | u64 tombstone words, the words |
//           faiss::write_index of the index (kFlat: flat, kHnsw: hnsw, kFaiss: faiss,
//           then flat while staging)
//   trailer u64 payload size | u64 XXH64 of everything before it
constexpr char kMagic[8] = {'R', 'L', 'X', 'C', 'K', 'P', 'T', '2'};
constexpr char kOldMagic[8] = {'R', 'L', 'X', 'C', 'K', 'P', 'T', '1'};
// A position whose vector IVF removed for real.
constexpr uint64_t kNoId = std::numeric_limits<uint64_t>::max();

enum class Kind : uint32_t { kFlat = 1, kHnsw = 2, kFaiss = 3 };
constexpr size_t kHeaderSize = 32;
constexpr size_t kTrailerSize = 16;

faiss::MetricType FaissMetric(Metric m) {
  return m == Metric::kL2 ? faiss::METRIC_L2 : faiss::METRIC_INNER_PRODUCT;
}

ScanMetric MetricFor(Metric m) {
  return m == Metric::kL2 ? ScanMetric::kL2 : ScanMetric::kInnerProduct;
}

void Put32(char* p, uint32_t v) { std::memcpy(p, &v, 4); }
void Put64(char* p, uint64_t v) { std::memcpy(p, &v, 8); }
uint32_t Get32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint64_t Get64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// Streams FAISS's serialisation to a file descriptor while hashing it.
class HashingWriter : public faiss::IOWriter {
 public:
  HashingWriter(int fd, XXH64_state_t* state) : fd_(fd), state_(state) {}
  size_t operator()(const void* ptr, size_t size, size_t nitems) override {
    size_t bytes = size * nitems;
    if (!Write(ptr, bytes)) return 0;
    written_ += bytes;
    return nitems;
  }
  bool Write(const void* ptr, size_t bytes) {
    XXH64_update(state_, ptr, bytes);
    const char* p = static_cast<const char*>(ptr);
    while (bytes > 0) {
      ssize_t n = ::write(fd_, p, bytes);
      if (n < 0) {
        if (errno == EINTR) continue;
        failed_ = true;
        return false;
      }
      p += n;
      bytes -= static_cast<size_t>(n);
    }
    return true;
  }
  uint64_t written() const { return written_; }
  bool failed() const { return failed_; }

 private:
  int fd_;
  XXH64_state_t* state_;
  uint64_t written_ = 0;
  bool failed_ = false;
};

// Reads FAISS's serialisation (and relate's sections) from a file whose
// checksum was checked, never past the payload's end.
class FileReader : public faiss::IOReader {
 public:
  FileReader(std::FILE* file, uint64_t bytes) : file_(file), left_(bytes) {}
  size_t operator()(void* ptr, size_t size, size_t nitems) override {
    if (size == 0) return nitems;
    const size_t n = static_cast<size_t>(std::min<uint64_t>(nitems, left_ / size));
    const size_t got = std::fread(ptr, size, n, file_);
    left_ -= got * size;
    return got;
  }
  bool Read(void* ptr, size_t bytes) { return (*this)(ptr, 1, bytes) == bytes; }
  uint64_t left() const { return left_; }

 private:
  std::FILE* file_;
  uint64_t left_;
};

Status Errno(const std::string& what) {
  return Status::IOError(what + ": " + std::strerror(errno));
}

}  // namespace


Status CheckVector(std::span<const float> vector, uint32_t dimension, Metric metric) {
  if (vector.empty()) return Status::InvalidArgument("vector is empty");
  if (vector.size() != dimension) {
    return Status::InvalidArgument("vector has " + std::to_string(vector.size()) +
                                   " values, expected " + std::to_string(dimension));
  }
  double norm2 = 0;
  for (size_t i = 0; i < vector.size(); ++i) {
    if (!std::isfinite(vector[i])) {
      return Status::InvalidArgument("vector value " + std::to_string(i) + " is " +
                                     (std::isnan(vector[i]) ? "NaN" : "infinite"));
    }
    norm2 += static_cast<double>(vector[i]) * vector[i];
  }
  if (metric == Metric::kCosine && !(norm2 > 0)) {
    return Status::InvalidArgument("vector is all zeros, which has no direction for cosine");
  }
  if (!std::isfinite(static_cast<float>(norm2))) {
    return Status::InvalidArgument("vector norm overflows float");
  }
  return Status::OK();
}

void PrepareVectors(Metric metric, uint32_t dimension, std::span<float> vectors) {
  if (metric != Metric::kCosine || dimension == 0) return;
  faiss::fvec_renorm_L2(dimension, vectors.size() / dimension, vectors.data());
}

namespace {

// "HNSW<M>" or "HNSW<M>,Flat": relate builds and searches these itself.
std::optional<int> NativeHnswM(const std::string& spec) {
  static const std::regex re("HNSW([0-9]+)(,Flat)?");
  std::smatch m;
  if (!std::regex_match(spec, m, re) || m[1].str().size() > 4) return std::nullopt;
  const int value = std::stoi(m[1].str());
  if (value < 2 || value > 1024) return std::nullopt;
  return value;
}

// Kinds FAISS 1.7.3 builds but that break relate's contract (every vector can
// be added one batch at a time and removed): refused up front, with the reason.
Status RefuseSpec(const std::string& spec) {
  auto refuse = [&](const std::string& why) {
    return Status::InvalidArgument("index spec \"" + spec + "\": " + why);
  };
  static const std::regex hnsw("HNSW([0-9]+)");
  for (std::sregex_iterator it(spec.begin(), spec.end(), hnsw), end; it != end; ++it) {
    const std::string m = (*it)[1].str();
    if (m.size() > 4 || std::stoi(m) < 2 || std::stoi(m) > 1024) {
      return refuse("HNSW needs M from 2 to 1024");
    }
  }
  if (spec.find("NSG") != std::string::npos) {
    return refuse("NSG graphs cannot be added to in batches; use HNSW<M>");
  }
  if (std::regex_search(spec, std::regex("x[0-9]+fs"))) {
    return refuse("fast-scan codes cannot remove vectors in FAISS 1.7.3; use PQ<m> or PQ<m>x<bits>");
  }
  if (spec.find("RFlat") != std::string::npos || spec.find("Refine") != std::string::npos) {
    return refuse("leave refinement out of the spec and use relate's refine knob, which "
                  "re-ranks over the vectors it stores");
  }
  return Status::OK();
}

// Record ids keyed by position: the FAISS labels of every kind.
int64_t Label(size_t position) { return static_cast<int64_t>(position); }

}  // namespace

struct VectorIndex::Rep {
  Kind kind = Kind::kFlat;
  BuildParams build;
  std::unique_ptr<faiss::IndexFlat> flat;      // kFlat; kFaiss while staging
  std::unique_ptr<faiss::IndexHNSWFlat> hnsw;  // kHnsw
  std::unique_ptr<faiss::Index> faiss;         // kFaiss
  bool ivf = false;  // kFaiss: FAISS removes entries for real (IVF keeps relate's labels)
  bool trains = false;  // kFaiss created untrained
  // FAISS 1.7.3 takes efSearch partly from SearchParametersHNSW and partly
  // from the index (fixed upstream in 2024, PR #3233): a search with another
  // efSearch sets the index's under this lock held exclusively.
  mutable std::shared_mutex faiss_ef_mu;
  std::vector<uint64_t> ids;                   // position -> record id (kNoId: removed)
  std::unordered_map<uint64_t, uint64_t> where;  // live record id -> position
  // Tombstones: a bitset over positions, empty or covering every position.
  std::vector<uint64_t> dead;
  size_t dead_count = 0;
  size_t holes = 0;  // positions whose IVF entry was removed (kNoId)
  mutable HnswScratchPool scratch;

  bool staging() const { return kind == Kind::kFaiss && !faiss->is_trained; }
  // The rows exact search scans: Flat's, or the staged ones.
  const faiss::IndexFlat* exact() const {
    return kind == Kind::kFlat || staging() ? flat.get() : nullptr;
  }
  bool IsDead(size_t pos) const {
    return pos / 64 < dead.size() && (dead[pos / 64] >> (pos % 64)) & 1;
  }
  void CoverPositions() {
    if (!dead.empty()) dead.resize((ids.size() + 63) / 64, 0);
  }
  void MarkDead(size_t pos) {
    if (dead.empty()) dead.assign((ids.size() + 63) / 64, 0);
    dead[pos / 64] |= uint64_t{1} << (pos % 64);
    ++dead_count;
  }
  // Moves the last row of `flat` into `pos` (exact kinds keep rows dense).
  void SwapRemove(size_t pos) {
    const size_t last = ids.size() - 1;
    const size_t row_bytes = flat->code_size;
    if (pos != last) {
      std::memcpy(flat->codes.data() + pos * row_bytes, flat->codes.data() + last * row_bytes,
                  row_bytes);
      ids[pos] = ids[last];
      where[ids[pos]] = pos;
    }
    ids.pop_back();
    flat->codes.resize(last * row_bytes);
    flat->ntotal = static_cast<faiss::Index::idx_t>(last);
  }
};

void ScorePair(Metric metric, const float* a, const float* b, size_t dimension, float* score,
               float* distance) {
  const DistanceKernels& k = BestKernels();
  switch (metric) {
    case Metric::kCosine:
      *score = k.inner_product(a, b, dimension);
      *distance = 1.0f - *score;
      break;
    case Metric::kInnerProduct:
      *score = k.inner_product(a, b, dimension);
      *distance = -*score;
      break;
    case Metric::kL2:
      *distance = std::sqrt(std::max(k.l2_squared(a, b, dimension), 0.0f));
      *score = *distance;
      break;
  }
}

namespace {

// A graph FAISS read is only as good as the file: every link, level and
// offset must be in range before a search follows them.
Status CheckGraph(const faiss::HNSW& g, size_t n) {
  const size_t level_count = g.cum_nneighbor_per_level.size();
  if (g.levels.size() != n || g.offsets.size() != n + 1 || g.offsets[0] != 0 ||
      g.offsets[n] != g.neighbors.size() || level_count < 2) {
    return Status::Corruption("its graph's tables disagree with its " + std::to_string(n) +
                              " vectors");
  }
  int top = -1;
  for (size_t i = 0; i < n; ++i) {
    const int levels = g.levels[i];
    if (levels < 1 || static_cast<size_t>(levels) >= level_count ||
        g.offsets[i + 1] - g.offsets[i] !=
            static_cast<size_t>(g.cum_nneighbor_per_level[static_cast<size_t>(levels)])) {
      return Status::Corruption("its graph's node " + std::to_string(i) + " is malformed");
    }
    top = std::max(top, levels - 1);
  }
  for (int32_t link : g.neighbors) {
    if (link < -1 || (link >= 0 && static_cast<size_t>(link) >= n)) {
      return Status::Corruption("its graph links to node " + std::to_string(link) + " of " +
                                std::to_string(n));
    }
  }
  const bool empty = n == 0;
  if (empty ? g.entry_point != -1
            : g.entry_point < 0 || static_cast<size_t>(g.entry_point) >= n ||
                  g.max_level != top || g.levels[static_cast<size_t>(g.entry_point)] - 1 != top) {
    return Status::Corruption("its graph's entry point is malformed");
  }
  return Status::OK();
}

}  // namespace

Status VectorIndex::CheckLoaded(const Rep& r, size_t positions) {
  // Tombstone bits only where tombstones are kept, and none past the last position.
  if (!r.dead.empty()) {
    if (r.kind == Kind::kFlat || r.staging() || r.ivf) {
      return Status::Corruption("it has tombstones in a kind that removes vectors");
    }
    const size_t tail = positions % 64;
    if (tail != 0 && (r.dead.back() >> tail) != 0) {
      return Status::Corruption("it has tombstones past its last vector");
    }
  }
  if (r.kind == Kind::kHnsw) {
    return CheckGraph(r.hnsw->hnsw, static_cast<size_t>(r.hnsw->storage->ntotal));
  }
  if (r.kind != Kind::kFaiss || r.staging()) return Status::OK();
  const faiss::Index* base = r.faiss.get();
  if (auto* t = dynamic_cast<const faiss::IndexPreTransform*>(base)) base = t->index;
  if (auto* h = dynamic_cast<const faiss::IndexHNSW*>(base)) {
    return CheckGraph(h->hnsw, static_cast<size_t>(h->ntotal));
  }
  if (auto* ivf = dynamic_cast<const faiss::IndexIVF*>(base)) {
    // IVF hands back the labels it stores: positions relate gave it.
    for (size_t list = 0; list < ivf->nlist; ++list) {
      const size_t size = ivf->invlists->list_size(list);
      faiss::InvertedLists::ScopedIds ids(ivf->invlists, list);
      for (size_t j = 0; j < size; ++j) {
        if (ids[j] < 0 || static_cast<size_t>(ids[j]) >= positions ||
            r.ids[static_cast<size_t>(ids[j])] == kNoId) {
          return Status::Corruption("its inverted list " + std::to_string(list) +
                                    " holds an unknown label " + std::to_string(ids[j]));
        }
      }
    }
  }
  return Status::OK();
}

std::string VectorIndex::ResolveSpec(std::string_view spec) {
  return spec == "auto" || spec.empty() ? std::string("Flat") : std::string(spec);
}

std::string VectorIndex::AutoSpec(size_t rows, uint32_t dimension) {
  const double values = static_cast<double>(rows) * dimension;
  return values < kAutoGraphValues ? "Flat" : "HNSW32";
}

VectorIndex::VectorIndex(std::unique_ptr<Rep> rep, uint32_t dimension, Metric metric,
                         std::string spec)
    : rep_(std::move(rep)), dimension_(dimension), metric_(metric), spec_(std::move(spec)) {}

VectorIndex::~VectorIndex() = default;

Result<std::unique_ptr<VectorIndex>> VectorIndex::Create(uint32_t dimension, Metric metric,
                                                         std::string_view spec,
                                                         const BuildParams& build) {
  std::string resolved = ResolveSpec(spec);
  if (resolved.rfind("IDMap", 0) == 0) {
    return Status::InvalidArgument("index spec \"" + resolved +
                                   "\": leave out IDMap, relate maps ids itself");
  }
  if (dimension == 0) return Status::InvalidArgument("index dimension is 0");
  auto rep = std::make_unique<Rep>();
  rep->build = build;
  const int d = static_cast<int>(dimension);
  try {
    if (resolved == "Flat") {
      rep->kind = Kind::kFlat;
      rep->flat = std::make_unique<faiss::IndexFlat>(d, FaissMetric(metric));
    } else if (auto m = NativeHnswM(resolved)) {
      rep->kind = Kind::kHnsw;
      rep->hnsw = std::make_unique<faiss::IndexHNSWFlat>(d, *m, FaissMetric(metric));
      rep->hnsw->hnsw.efConstruction = static_cast<int>(
          build.ef_construction ? build.ef_construction : kDefaultEfConstruction);
    } else {
      if (Status refused = RefuseSpec(resolved); !refused.ok()) return refused;
      rep->kind = Kind::kFaiss;
      rep->faiss.reset(faiss::index_factory(d, resolved.c_str(), FaissMetric(metric)));
      const faiss::IndexIVF* ivf = faiss::ivflib::try_extract_index_ivf(rep->faiss.get());
      if (ivf != nullptr &&
          dynamic_cast<const faiss::ArrayInvertedLists*>(ivf->invlists) == nullptr) {
        return Status::InvalidArgument("index spec \"" + resolved +
                                       "\": its inverted lists cannot remove vectors in FAISS "
                                       "1.7.3; use IVF<n>,Flat, SQ8 or PQ<m> codes");
      }
      rep->ivf = faiss::ivflib::try_extract_index_ivf(rep->faiss.get()) != nullptr;
      if (auto* h = dynamic_cast<faiss::IndexHNSW*>(rep->faiss.get())) {
        h->hnsw.efConstruction = static_cast<int>(
            build.ef_construction ? build.ef_construction : kDefaultEfConstruction);
      }
      rep->trains = !rep->faiss->is_trained;
      if (!rep->faiss->is_trained) {
        rep->flat = std::make_unique<faiss::IndexFlat>(d, FaissMetric(metric));
      }
    }
  } catch (const faiss::FaissException& e) {
    return Status::InvalidArgument("index spec \"" + resolved +
                                   "\" is not one FAISS can build: " + e.msg);
  } catch (const std::exception& e) {
    return Status::InvalidArgument("index spec \"" + resolved + "\": " + e.what());
  }
  return std::unique_ptr<VectorIndex>(
      new VectorIndex(std::move(rep), dimension, metric, std::move(resolved)));
}

size_t VectorIndex::size() const { return rep_->where.size(); }

bool VectorIndex::keeps_exact_vectors() const { return rep_->kind != Kind::kFaiss; }

bool VectorIndex::Contains(uint64_t id) const { return rep_->where.count(id) != 0; }

bool VectorIndex::needs_training() const { return rep_->staging(); }

size_t VectorIndex::training_rows() const {
  if (!rep_->staging()) return 0;
  // FAISS's k-means wants 39 points per centroid (and says so on stderr when
  // it gets fewer): IVF's coarse centroids, and PQ's 2^nbits per sub-quantizer.
  size_t centroids = 0;
  const faiss::Index* base = rep_->faiss.get();
  if (auto* t = dynamic_cast<const faiss::IndexPreTransform*>(base)) base = t->index;
  if (auto* ivf = dynamic_cast<const faiss::IndexIVF*>(base)) {
    centroids = ivf->nlist;
    if (auto* ivfpq = dynamic_cast<const faiss::IndexIVFPQ*>(base)) {
      centroids = std::max(centroids, ivfpq->pq.ksub);
    }
  } else if (auto* pq = dynamic_cast<const faiss::IndexPQ*>(base)) {
    centroids = pq->pq.ksub;
  }
  return std::max<size_t>(39 * centroids, 1000);
}

IndexStats VectorIndex::Stats() const {
  const Rep& r = *rep_;
  std::shared_lock ef_lock(r.faiss_ef_mu);
  IndexStats st;
  st.live = r.where.size();
  st.dead = r.dead_count;
  st.holes = r.holes;
  st.trained = !r.staging();
  st.trains = r.trains;
  st.exact_vectors = r.kind != Kind::kFaiss;
  if (!r.staging()) {
    st.graph = r.kind == Kind::kHnsw || dynamic_cast<const faiss::IndexHNSW*>(r.faiss.get());
    if (r.kind == Kind::kFaiss) {
      if (const auto* ivf = faiss::ivflib::try_extract_index_ivf(r.faiss.get())) st.nlist = ivf->nlist;
    }
  }
  size_t bytes = r.ids.size() * sizeof(uint64_t) + r.dead.size() * sizeof(uint64_t) +
                 // an unordered_map node: key, value, next pointer, cached hash, bucket
                 r.where.size() * 40;
  switch (r.kind) {
    case Kind::kFlat:
      st.kind = "flat";
      bytes += r.flat->codes.size();
      break;
    case Kind::kHnsw: {
      st.kind = "hnsw";
      const faiss::HNSW& g = r.hnsw->hnsw;
      bytes += static_cast<const faiss::IndexFlat*>(r.hnsw->storage)->codes.size() +
               g.neighbors.size() * sizeof(int32_t) + g.offsets.size() * sizeof(size_t) +
               g.levels.size() * sizeof(int);
      break;
    }
    case Kind::kFaiss:
      st.kind = "faiss";
      if (r.staging()) {
        bytes += r.flat->codes.size();
      } else if (const faiss::IndexIVF* ivf = faiss::ivflib::try_extract_index_ivf(r.faiss.get())) {
        bytes += ivf->invlists->compute_ntotal() * (ivf->code_size + sizeof(int64_t)) +
                 static_cast<size_t>(ivf->quantizer->ntotal) * dimension_ * sizeof(float);
      } else if (auto* h = dynamic_cast<const faiss::IndexHNSW*>(r.faiss.get())) {
        const auto* codes = dynamic_cast<const faiss::IndexFlatCodes*>(h->storage);
        bytes += (codes ? codes->codes.size() : 0) + h->hnsw.neighbors.size() * sizeof(int32_t) +
                 h->hnsw.offsets.size() * sizeof(size_t) + h->hnsw.levels.size() * sizeof(int);
      } else if (auto* codes = dynamic_cast<const faiss::IndexFlatCodes*>(r.faiss.get())) {
        bytes += codes->codes.size();
      }
      break;
  }
  st.memory_bytes = bytes;
  return st;
}

Status VectorIndex::Train(std::span<const float> vectors) {
  Rep& r = *rep_;
  if (!r.staging()) {
    return Status::FailedPrecondition("index \"" + spec_ + "\" needs no training");
  }
  const size_t n = vectors.size() / dimension_;
  if (n == 0) return Status::InvalidArgument("training index \"" + spec_ + "\": no vectors");
  try {
    r.faiss->train(static_cast<faiss::Index::idx_t>(n), vectors.data());
    const size_t staged = r.ids.size();
    if (staged > 0) {
      if (r.ivf) {
        std::vector<faiss::Index::idx_t> labels(staged);
        for (size_t i = 0; i < staged; ++i) labels[i] = Label(i);
        r.faiss->add_with_ids(static_cast<faiss::Index::idx_t>(staged), r.flat->get_xb(),
                              labels.data());
      } else {
        r.faiss->add(static_cast<faiss::Index::idx_t>(staged), r.flat->get_xb());
      }
    }
  } catch (const faiss::FaissException& e) {
    return Status::Internal("training index \"" + spec_ + "\": " + e.msg);
  } catch (const std::exception& e) {
    return Status::Internal("training index \"" + spec_ + "\": " + e.what());
  }
  r.flat.reset();
  return Status::OK();
}

void VectorIndex::Reserve(size_t n) {
  Rep& r = *rep_;
  r.ids.reserve(n);
  r.where.reserve(n);
  const size_t row_bytes = size_t{dimension_} * sizeof(float);
  if (r.kind == Kind::kHnsw) {
    static_cast<faiss::IndexFlat*>(r.hnsw->storage)->codes.reserve(n * row_bytes);
    faiss::HNSW& g = r.hnsw->hnsw;
    // Level 0 holds 2M links; a node reaches level l >= 1 with probability
    // M^-l, each upper level holding M: about M / (M - 1) more per node.
    const size_t m = static_cast<size_t>(g.nb_neighbors(1));
    const size_t links = static_cast<size_t>(g.nb_neighbors(0)) + (m + m - 2) / (m - 1);
    g.neighbors.reserve(n * links + n / 64 + 1024);
    g.offsets.reserve(n + 1);
    g.levels.reserve(n);
  } else if (r.exact() != nullptr) {
    r.flat->codes.reserve(n * row_bytes);
  }
}

Status VectorIndex::TrainOnHeld(size_t max_rows) {
  const Rep& r = *rep_;
  if (!r.staging()) {
    return Status::FailedPrecondition("index \"" + spec_ + "\" needs no training");
  }
  const size_t n = r.ids.size();
  const size_t take = std::min(n, std::max<size_t>(max_rows, 1));
  std::vector<float> sample(take * dimension_);
  const float* rows = r.flat->get_xb();
  for (size_t i = 0; i < take; ++i) {
    const size_t row = i * n / take;
    std::memcpy(sample.data() + i * dimension_, rows + row * dimension_,
                dimension_ * sizeof(float));
  }
  return Train(sample);
}

Status VectorIndex::Add(std::span<const uint64_t> ids, std::span<const float> vectors) {
  if (vectors.size() != ids.size() * dimension_) {
    return Status::Internal("index add: " + std::to_string(vectors.size()) + " values for " +
                            std::to_string(ids.size()) + " ids");
  }
  if (ids.empty()) return Status::OK();
  Rep& r = *rep_;
  for (uint64_t id : ids) {
    if (r.where.count(id)) {
      return Status::Internal("index add: id " + std::to_string(id) + " is in the index");
    }
  }
  const size_t first = r.ids.size();
  const auto n = static_cast<faiss::Index::idx_t>(ids.size());
  if (first + ids.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    return Status::FailedPrecondition("index holds 2^31 positions; rebuild it");
  }
  try {
    switch (r.kind) {
      case Kind::kFlat:
        r.flat->add(n, vectors.data());
        break;
      case Kind::kHnsw: {
        faiss::IndexFlat& storage = *static_cast<faiss::IndexFlat*>(r.hnsw->storage);
        storage.add(n, vectors.data());
        r.hnsw->ntotal = storage.ntotal;
        const HnswSpace space{MetricFor(metric_), storage.get_xb(), dimension_};
        HnswAdd(r.hnsw->hnsw, space, static_cast<size_t>(storage.ntotal),
                static_cast<uint32_t>(r.hnsw->hnsw.efConstruction), r.build.threads);
        break;
      }
      case Kind::kFaiss:
        if (r.staging()) {
          r.flat->add(n, vectors.data());
        } else if (r.ivf) {
          std::vector<faiss::Index::idx_t> labels(ids.size());
          for (size_t i = 0; i < ids.size(); ++i) labels[i] = Label(first + i);
          r.faiss->add_with_ids(n, vectors.data(), labels.data());
        } else {
          r.faiss->add(n, vectors.data());
        }
        break;
    }
  } catch (const faiss::FaissException& e) {
    return Status::Internal("index add: " + e.msg);
  } catch (const std::exception& e) {
    return Status::Internal(std::string("index add: ") + e.what());
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    r.ids.push_back(ids[i]);
    r.where[ids[i]] = first + i;
  }
  r.CoverPositions();
  return Status::OK();
}

Result<size_t> VectorIndex::Remove(std::span<const uint64_t> ids) {
  Rep& r = *rep_;
  size_t removed = 0;
  std::vector<faiss::Index::idx_t> ivf_labels;
  for (uint64_t id : ids) {
    auto it = r.where.find(id);
    if (it == r.where.end()) continue;
    const size_t pos = it->second;
    r.where.erase(it);
    ++removed;
    if (r.exact() != nullptr) {
      r.SwapRemove(pos);
    } else if (r.kind == Kind::kFaiss && r.ivf) {
      r.ids[pos] = kNoId;
      ++r.holes;
      ivf_labels.push_back(Label(pos));
    } else {
      r.MarkDead(pos);
    }
  }
  if (!ivf_labels.empty()) {
    try {
      faiss::IDSelectorBatch sel(ivf_labels.size(), ivf_labels.data());
      r.faiss->remove_ids(sel);
    } catch (const faiss::FaissException& e) {
      return Status::Internal("index remove: " + e.msg);
    } catch (const std::exception& e) {
      return Status::Internal(std::string("index remove: ") + e.what());
    }
  }
  return removed;
}

namespace {

// FAISS's search knobs for an index of another kind, as far as it has them.
struct FaissParams {
  faiss::SearchParametersIVF ivf;
  faiss::SearchParametersHNSW hnsw;
  faiss::SearchParametersPreTransform pre;
  const faiss::SearchParameters* Make(const faiss::Index* index, const SearchParams& p, size_t k) {
    const faiss::SearchParameters* inner = nullptr;
    const faiss::Index* base = index;
    if (auto* t = dynamic_cast<const faiss::IndexPreTransform*>(index)) base = t->index;
    if (dynamic_cast<const faiss::IndexIVF*>(base) != nullptr) {
      ivf.nprobe = p.nprobe ? p.nprobe : VectorIndex::kDefaultNprobe;
      inner = &ivf;
    } else if (dynamic_cast<const faiss::IndexHNSW*>(base) != nullptr) {
      hnsw.efSearch = static_cast<int>(
          std::max<size_t>(p.ef_search ? p.ef_search : VectorIndex::kDefaultEfSearch, k));
      inner = &hnsw;
    }
    if (inner == nullptr || base == index) return inner;
    pre.index_params = const_cast<faiss::SearchParameters*>(inner);
    return &pre;
  }
};

}  // namespace

Result<Neighbours> VectorIndex::Search(std::span<const float> queries, size_t k,
                                       const SearchParams& params) const {
  if (queries.size() % dimension_ != 0) {
    return Status::InvalidArgument("queries hold " + std::to_string(queries.size()) +
                                   " values, not a multiple of the dimension " +
                                   std::to_string(dimension_));
  }
  const Rep& r = *rep_;
  const size_t n = queries.size() / dimension_;
  if (k > kMaxK || (k > 0 && n > kMaxK / k * 64)) {
    return Status::InvalidArgument("search asks for " + std::to_string(n) + " x " +
                                   std::to_string(k) + " neighbours; at most " +
                                   std::to_string(kMaxK) + " per query");
  }
  Neighbours out;
  out.k = k;
  out.ids.assign(n * k, -1);
  out.distances.assign(n * k, std::numeric_limits<float>::infinity());
  out.scores.resize(n * k);
  if (n == 0 || k == 0) return out;
  // `labels` are positions; `raw` FAISS's values: inner product, or squared L2.
  std::vector<int64_t> labels(n * k, -1);
  std::vector<float> raw(n * k);
  const ScanMetric scan = MetricFor(metric_);
  const bool ip = scan == ScanMetric::kInnerProduct;
  try {
    if (const faiss::IndexFlat* flat = r.exact()) {
      ExactSearch(scan, flat->get_xb(), static_cast<size_t>(flat->ntotal), dimension_,
                  queries.data(), n, k, labels.data(), raw.data());
      if (ip) {
        for (float& v : raw) v = -v;
      }
    } else if (r.kind == Kind::kHnsw) {
      const auto& storage = *static_cast<const faiss::IndexFlat*>(r.hnsw->storage);
      const HnswSpace space{scan, storage.get_xb(), dimension_};
      const size_t ef = std::max<size_t>(params.ef_search ? params.ef_search : kDefaultEfSearch, k);
      const uint64_t* dead = r.dead_count ? r.dead.data() : nullptr;
      std::exception_ptr failure;  // may not leave the OpenMP region: thrown after it
#pragma omp parallel for schedule(dynamic) if (n > 1)
      for (size_t i = 0; i < n; ++i) {
        try {
          auto scratch = r.scratch.Acquire();
          HnswSearch(r.hnsw->hnsw, space, queries.data() + i * dimension_, k, ef, dead, *scratch,
                     labels.data() + i * k, raw.data() + i * k);
          r.scratch.Release(std::move(scratch));
        } catch (...) {
#pragma omp critical(relate_hnsw_search_failure)
          if (!failure) failure = std::current_exception();
        }
      }
      if (failure) std::rethrow_exception(failure);
      if (ip) {
        for (float& v : raw) v = -v;
      }
    } else {
      // FAISS's own search. Tombstones are filtered out of a wider search,
      // widened until k live ones are found or everything was asked for.
      FaissParams fp;
      faiss::Index* base = r.faiss.get();
      if (auto* t = dynamic_cast<faiss::IndexPreTransform*>(base)) base = t->index;
      auto* hnsw = dynamic_cast<faiss::IndexHNSW*>(base);
      const size_t total = static_cast<size_t>(r.faiss->ntotal);
      size_t want = r.dead_count ? std::min(total, 2 * k + 16) : k;
      for (;;) {
        want = std::max(want, k);
        std::shared_lock ef_shared(r.faiss_ef_mu, std::defer_lock);
        std::unique_lock ef_unique(r.faiss_ef_mu, std::defer_lock);
        if (hnsw != nullptr) {
          const int ef = static_cast<int>(
              std::max<size_t>(params.ef_search ? params.ef_search : kDefaultEfSearch, want));
          ef_shared.lock();
          if (hnsw->hnsw.efSearch != ef) {
            ef_shared.unlock();
            ef_unique.lock();
            hnsw->hnsw.efSearch = ef;
          }
        }
        std::vector<int64_t> got(n * want);
        std::vector<float> got_raw(n * want);
        r.faiss->search(static_cast<faiss::Index::idx_t>(n), queries.data(),
                        static_cast<faiss::Index::idx_t>(want), got_raw.data(), got.data(),
                        fp.Make(r.faiss.get(), params, want));
        bool short_of_k = false;
        for (size_t i = 0; i < n; ++i) {
          size_t filled = 0, returned = 0;
          for (size_t j = 0; j < want && filled < k; ++j) {
            const int64_t label = got[i * want + j];
            if (label < 0) continue;
            ++returned;
            if (r.IsDead(static_cast<size_t>(label))) continue;
            labels[i * k + filled] = label;
            raw[i * k + filled] = got_raw[i * want + j];
            ++filled;
          }
          if (filled < k && returned == want) short_of_k = true;
        }
        if (!short_of_k || want >= total) break;
        want = std::min(total, want * 4);
      }
    }
  } catch (const faiss::FaissException& e) {
    return Status::Internal("index search: " + e.msg);
  } catch (const std::exception& e) {
    return Status::Internal(std::string("index search: ") + e.what());
  }
  for (size_t i = 0; i < n * k; ++i) {
    if (labels[i] < 0) continue;
    out.ids[i] = static_cast<int64_t>(r.ids[static_cast<size_t>(labels[i])]);
    const float v = raw[i];
    switch (metric_) {
      case Metric::kCosine:
        out.scores[i] = v;
        out.distances[i] = 1.0f - v;
        break;
      case Metric::kInnerProduct:
        out.scores[i] = v;
        out.distances[i] = -v;
        break;
      case Metric::kL2:
        out.distances[i] = std::sqrt(std::max(v, 0.0f));
        out.scores[i] = out.distances[i];
        break;
    }
  }
  return out;
}

Result<std::vector<float>> VectorIndex::Reconstruct(uint64_t id) const {
  const Rep& r = *rep_;
  auto it = r.where.find(id);
  if (it == r.where.end()) {
    return Status::NotFound("id " + std::to_string(id) + " is not in the index");
  }
  const faiss::IndexFlat* rows = r.exact();
  if (rows == nullptr && r.kind == Kind::kHnsw) {
    rows = static_cast<const faiss::IndexFlat*>(r.hnsw->storage);
  }
  if (rows == nullptr) {
    return Status::FailedPrecondition("index \"" + spec_ + "\" keeps codes, not vectors");
  }
  const float* v = rows->get_xb() + it->second * dimension_;
  return std::vector<float>(v, v + dimension_);
}

std::vector<uint64_t> VectorIndex::Ids() const {
  std::vector<uint64_t> out;
  out.reserve(rep_->where.size());
  for (size_t pos = 0; pos < rep_->ids.size(); ++pos) {
    if (rep_->ids[pos] != kNoId && !rep_->IsDead(pos)) out.push_back(rep_->ids[pos]);
  }
  return out;
}

Status VectorIndex::Save(const std::filesystem::path& path, uint32_t collection_id,
                         uint64_t last_change) const {
  const Rep& r = *rep_;
  // FAISS-run HNSW searches may set efSearch meanwhile (see faiss_ef_mu).
  std::shared_lock ef_lock(r.faiss_ef_mu);
  const std::filesystem::path tmp = path.string() + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("writing index checkpoint " + tmp.string());
  XXH64_state_t* state = XXH64_createState();
  XXH64_reset(state, 0);
  HashingWriter w(fd, state);
  char header[kHeaderSize] = {};
  std::memcpy(header, kMagic, 8);
  Put32(header + 8, collection_id);
  Put32(header + 12, dimension_);
  Put32(header + 16, static_cast<uint32_t>(metric_));
  Put32(header + 20, static_cast<uint32_t>(r.kind));
  Put64(header + 24, last_change);
  Status status;
  if (!w.Write(header, kHeaderSize)) status = Errno("writing " + tmp.string());
  auto put = [&](const void* p, size_t bytes) {
    if (status.ok() && w(p, 1, bytes) != bytes) status = Errno("writing " + tmp.string());
  };
  auto put32 = [&](uint32_t v) { put(&v, 4); };
  auto put64 = [&](uint64_t v) { put(&v, 8); };
  put32(static_cast<uint32_t>(spec_.size()));
  put(spec_.data(), spec_.size());
  put32(r.kind == Kind::kHnsw ? static_cast<uint32_t>(r.hnsw->hnsw.efConstruction) : 0);
  put32(r.staging() ? 1 : 0);
  put64(r.ids.size());
  put(r.ids.data(), r.ids.size() * sizeof(uint64_t));
  put64(r.dead.size());
  put(r.dead.data(), r.dead.size() * sizeof(uint64_t));
  if (status.ok()) {
    try {
      switch (r.kind) {
        case Kind::kFlat:
          faiss::write_index(r.flat.get(), &w);
          break;
        case Kind::kHnsw:
          faiss::write_index(r.hnsw.get(), &w);
          break;
        case Kind::kFaiss:
          faiss::write_index(r.faiss.get(), &w);
          if (r.staging()) faiss::write_index(r.flat.get(), &w);
          break;
      }
    } catch (const faiss::FaissException& e) {
      status = w.failed() ? Errno("writing " + tmp.string())
                          : Status::Internal("serialising index: " + e.msg);
    }
  }
  if (status.ok()) {
    char trailer[kTrailerSize];
    Put64(trailer, w.written());  // the payload: everything after the header
    XXH64_update(state, trailer, 8);
    Put64(trailer + 8, XXH64_digest(state));
    // The hash is not part of itself: write it directly.
    const char* p = trailer;
    size_t left = kTrailerSize;
    while (left > 0) {
      ssize_t n = ::write(fd, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        status = Errno("writing " + tmp.string());
        break;
      }
      p += n;
      left -= static_cast<size_t>(n);
    }
  }
  XXH64_freeState(state);
  if (status.ok() && ::fsync(fd) != 0) status = Errno("syncing " + tmp.string());
  ::close(fd);
  if (status.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    status = Errno("renaming " + tmp.string());
  }
  if (!status.ok()) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    return status;
  }
  // The rename is durable only once the directory is synced.
  int dir = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return Errno("opening " + path.parent_path().string());
  const bool synced = ::fsync(dir) == 0;
  ::close(dir);
  return synced ? Status::OK() : Errno("syncing " + path.parent_path().string());
}

Result<VectorIndex::Loaded> VectorIndex::Load(const std::filesystem::path& path,
                                              uint32_t collection_id, uint32_t dimension,
                                              Metric metric, std::string_view spec,
                                              const BuildParams& build) {
  // Two passes over one open file, never holding it in memory: the checksum
  // first, then FAISS parses the payload straight from the file.
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return Status::NotFound(path.string() + " does not exist");
  }
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                       &std::fclose);
  if (file == nullptr) return Errno("reading " + path.string());
  const std::string where = "index checkpoint " + path.string();
  if (std::fseek(file.get(), 0, SEEK_END) != 0) return Errno("reading " + path.string());
  const long end = std::ftell(file.get());
  if (end < 0) return Errno("reading " + path.string());
  const auto size = static_cast<uint64_t>(end);
  if (size < kHeaderSize + kTrailerSize) {
    return Status::Corruption(where + " is truncated (" + std::to_string(size) + " bytes)");
  }
  char header[kHeaderSize], trailer[kTrailerSize];
  auto read_at = [&](uint64_t offset, char* out, size_t bytes) {
    return std::fseek(file.get(), static_cast<long>(offset), SEEK_SET) == 0 &&
           std::fread(out, 1, bytes, file.get()) == bytes;
  };
  if (!read_at(0, header, kHeaderSize) || !read_at(size - kTrailerSize, trailer, kTrailerSize)) {
    return Errno("reading " + path.string());
  }
  if (std::memcmp(header, kOldMagic, 8) == 0) {
    return Status::Corruption(where + " has an older format");
  }
  if (std::memcmp(header, kMagic, 8) != 0) {
    return Status::Corruption(where + " is not a relate checkpoint");
  }
  uint64_t payload_size = Get64(trailer);
  if (payload_size != size - kHeaderSize - kTrailerSize) {
    return Status::Corruption(where + " is truncated: it says " + std::to_string(payload_size) +
                              " bytes of index, it has " +
                              std::to_string(size - kHeaderSize - kTrailerSize));
  }
  {
    XXH64_state_t* state = XXH64_createState();
    XXH64_reset(state, 0);
    std::vector<char> chunk(1 << 20);
    bool read_ok = std::fseek(file.get(), 0, SEEK_SET) == 0;
    for (uint64_t left = size - 8; read_ok && left > 0;) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(left, chunk.size()));
      read_ok = std::fread(chunk.data(), 1, n, file.get()) == n;
      XXH64_update(state, chunk.data(), n);
      left -= n;
    }
    const uint64_t digest = XXH64_digest(state);
    XXH64_freeState(state);
    if (!read_ok) return Errno("reading " + path.string());
    if (digest != Get64(trailer + 8)) return Status::Corruption(where + " fails its checksum");
  }
  if (Get32(header + 8) != collection_id || Get32(header + 12) != dimension ||
      Get32(header + 16) != static_cast<uint32_t>(metric)) {
    return Status::Corruption(where + " belongs to another collection or shape");
  }
  if (std::fseek(file.get(), kHeaderSize, SEEK_SET) != 0) return Errno("reading " + path.string());
  FileReader reader(file.get(), payload_size);
  const Status bad = Status::Corruption(where + " is malformed");
  uint32_t spec_bytes = 0, ef_construction = 0, flags = 0;
  uint64_t positions = 0, dead_words = 0;
  if (!reader.Read(&spec_bytes, 4) || spec_bytes > reader.left()) return bad;
  std::string saved_spec(spec_bytes, '\0');
  if (!reader.Read(saved_spec.data(), spec_bytes)) return bad;
  // "auto" takes what it had resolved to; any other spec must be the saved one.
  const bool auto_choice = spec == "auto" && (saved_spec == AutoSpec(0, dimension) ||
                                              saved_spec == AutoSpec(SIZE_MAX, dimension));
  const std::string wanted = auto_choice ? saved_spec : ResolveSpec(spec);
  if (saved_spec != wanted) {
    return Status::Corruption(where + " holds index \"" + saved_spec + "\", not \"" + wanted +
                              "\"");
  }
  auto fresh = Create(dimension, metric, wanted, build);
  if (!fresh) return fresh.error();
  std::unique_ptr<VectorIndex> index = std::move(*fresh);
  Rep& r = *index->rep_;
  if (Get32(header + 20) != static_cast<uint32_t>(r.kind)) {
    return Status::Corruption(where + " holds an index of another kind");
  }
  Loaded out;
  out.last_change = Get64(header + 24);
  if (!reader.Read(&ef_construction, 4) || !reader.Read(&flags, 4)) return bad;
  if (!reader.Read(&positions, 8) || positions > reader.left() / 8) return bad;
  r.ids.resize(positions);
  if (!reader.Read(r.ids.data(), positions * 8)) return bad;
  if (!reader.Read(&dead_words, 8) || dead_words > reader.left() / 8) return bad;
  if (dead_words != 0 && dead_words != (positions + 63) / 64) return bad;
  r.dead.resize(dead_words);
  if (!reader.Read(r.dead.data(), dead_words * 8)) return bad;
  try {
    auto read = [&reader]() { return std::unique_ptr<faiss::Index>(faiss::read_index(&reader)); };
    auto as_flat = [&](std::unique_ptr<faiss::Index> idx) -> std::unique_ptr<faiss::IndexFlat> {
      auto* f = dynamic_cast<faiss::IndexFlat*>(idx.get());
      if (f == nullptr) return nullptr;
      (void)idx.release();
      return std::unique_ptr<faiss::IndexFlat>(f);
    };
    switch (r.kind) {
      case Kind::kFlat:
        r.flat = as_flat(read());
        if (r.flat == nullptr) return bad;
        break;
      case Kind::kHnsw: {
        auto idx = read();
        auto* h = dynamic_cast<faiss::IndexHNSWFlat*>(idx.get());
        if (h == nullptr || dynamic_cast<faiss::IndexFlat*>(h->storage) == nullptr) return bad;
        (void)idx.release();
        r.hnsw.reset(h);
        if (ef_construction > 0) r.hnsw->hnsw.efConstruction = static_cast<int>(ef_construction);
        break;
      }
      case Kind::kFaiss:
        r.faiss = read();
        r.ivf = faiss::ivflib::try_extract_index_ivf(r.faiss.get()) != nullptr;
        if ((flags & 1) != 0) {
          r.flat = as_flat(read());
          if (r.flat == nullptr || r.faiss->is_trained) return bad;
        } else {
          r.flat.reset();
          if (!r.faiss->is_trained) return bad;
        }
        break;
    }
  } catch (const faiss::FaissException& e) {
    return Status::Corruption(where + ": FAISS cannot read it: " + e.msg);
  } catch (const std::exception& e) {
    return Status::Corruption(where + ": FAISS cannot read it: " + e.what());
  }
  if (reader.left() != 0) return bad;
  if (Status s = CheckLoaded(r, positions); !s.ok()) {
    return Status::Corruption(where + ": " + std::string(s.message()));
  }
  const faiss::Index* main = r.kind == Kind::kFlat   ? static_cast<faiss::Index*>(r.flat.get())
                             : r.kind == Kind::kHnsw ? r.hnsw.get()
                             : r.staging()           ? r.flat.get()
                                                     : r.faiss.get();
  if (main->d != static_cast<int>(dimension) || main->metric_type != FaissMetric(metric)) {
    return Status::Corruption(where + " holds an index of another shape");
  }
  // Every position FAISS holds has an id; IVF may hold fewer (removed entries).
  const size_t held = static_cast<size_t>(main->ntotal);
  if (r.ivf && !r.staging() ? held > positions : held != positions) return bad;
  for (size_t pos = 0; pos < positions; ++pos) {
    if (r.ids[pos] == kNoId) {
      ++r.holes;
      continue;
    }
    if (r.IsDead(pos)) {
      ++r.dead_count;
      continue;
    }
    if (!r.where.emplace(r.ids[pos], pos).second) {
      return Status::Corruption(where + ": id " + std::to_string(r.ids[pos]) + " appears twice");
    }
  }
  out.index = std::move(index);
  return out;
}

}  // namespace relate::index
