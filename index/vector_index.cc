#include "index/vector_index.h"

#include <faiss/IVFlib.h>
#include <faiss/Index.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/IndexPQ.h>
#include <faiss/IndexPreTransform.h>
#include <faiss/IndexScalarQuantizer.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/HNSW.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/impl/io.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>
#include <faiss/invlists/InvertedLists.h>
#include <faiss/utils/distances.h>
#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>

#include <cassert>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <limits>
#include <numeric>
#include <optional>
#include <regex>
#include <shared_mutex>
#include <tuple>
#include <unordered_map>

#include "index/distance.h"
#include "index/exact_search.h"
#include "index/hnsw.h"
#include "index/topk.h"

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
  if (metric == Metric::kCosine) {
    // Normalised (in double, PrepareVectors) before it is stored or searched.
    if (!(norm2 > 0)) {
      return Status::InvalidArgument("vector is all zeros, which has no direction for cosine");
    }
    return Status::OK();
  }
  // The distance of two vectors can reach (|a| + |b|)^2 = 4 |a|^2: kept in
  // float range, no L2 distance or inner product overflows to infinity.
  constexpr double kMaxNorm2 = std::numeric_limits<float>::max() / 4.0;
  if (!(norm2 <= kMaxNorm2)) {
    char what[160];
    std::snprintf(what, sizeof what,
                  "vector is too long (squared length %.3g, at most %.3g): distances between "
                  "such vectors overflow float; scale the vectors down",
                  norm2, kMaxNorm2);
    return Status::InvalidArgument(what);
  }
  return Status::OK();
}

void PrepareVectors(Metric metric, uint32_t dimension, std::span<float> vectors) {
  if (metric != Metric::kCosine || dimension == 0) return;
  // In double: FAISS's float renormalisation leaves a vector whose squared
  // length underflows (values near 1e-23) as it was.
  for (size_t start = 0; start + dimension <= vectors.size(); start += dimension) {
    double norm2 = 0;
    for (size_t i = start; i < start + dimension; ++i) {
      norm2 += static_cast<double>(vectors[i]) * vectors[i];
    }
    if (!(norm2 > 0)) continue;
    const double scale = 1.0 / std::sqrt(norm2);
    for (size_t i = start; i < start + dimension; ++i) {
      vectors[i] = static_cast<float>(vectors[i] * scale);
    }
  }
}

namespace {

// The limits CheckSpec applies. FAISS's k-means wants 39 training vectors a
// centroid: a million lists would train on 40 million, and FAISS allocates
// the lists (and PQ 2^bits centroids a part) when the index is made.
constexpr uint64_t kMaxLists = uint64_t{1} << 20;
constexpr uint64_t kMaxPqBits = 16;
constexpr uint64_t kMaxIvfPqBits = 8;  // FAISS 1.7.3's IndexIVFPQ throws beyond
constexpr uint64_t kMaxImiBits = 10;   // 2^(2 x bits) lists
constexpr uint64_t kMaxTransformDimension = 65536;
constexpr size_t kMaxSpecBytes = 256;

// `digits` as a number from lo to hi, or what is wrong with it (`what` names
// it: "IVF's list count").
std::optional<std::string> CountProblem(const std::string& digits, uint64_t lo, uint64_t hi,
                                        const std::string& what, uint64_t* out) {
  const std::string range = "from " + std::to_string(lo) + " to " + std::to_string(hi);
  // More digits than hi has: out of range, however many (std::stoull would throw).
  if (digits.size() > std::to_string(hi).size()) {
    return what + " must be " + range + ", not " + digits;
  }
  *out = std::stoull(digits);
  if (*out < lo || *out > hi) return what + " must be " + range + ", not " + digits;
  return std::nullopt;
}

// A PQ code of `m` parts of `bits` (empty: 8, at most max_bits) over `d` dimensions.
std::optional<std::string> PqProblem(const std::string& m, const std::string& bits, uint64_t d,
                                     uint64_t max_bits = kMaxPqBits) {
  uint64_t parts = 0, b = 8;
  if (auto p = CountProblem(m, 1, d, "PQ's part count (over " + std::to_string(d) + " dimensions)",
                            &parts)) {
    return p;
  }
  if (d % parts != 0) {
    return "PQ" + m + " splits " + std::to_string(d) + " dimensions into " + m +
           " parts: the part count must divide the dimension";
  }
  if (!bits.empty()) {
    if (auto p = CountProblem(bits, 1, max_bits, "PQ's bits a part", &b)) return p;
  }
  return std::nullopt;
}

std::optional<std::string> SqProblem(const std::string& code) {
  static const std::regex sq("SQ(4|6|8|fp16)");
  if (std::regex_match(code, sq)) return std::nullopt;
  return "\"" + code + "\" is not a scalar quantizer of FAISS 1.7.3: use SQ4, SQ6, SQ8 or SQfp16";
}

// An HNSW graph's M, the digits after "HNSW" (empty: FAISS's 32).
std::optional<std::string> HnswMProblem(const std::string& digits) {
  uint64_t m = 0;
  if (digits.empty()) return std::nullopt;
  return CountProblem(digits, 2, 1024, "HNSW's M", &m);
}

// What a refusal of an unknown part says relate takes.
constexpr const char* kGrammar =
    "relate takes Flat, HNSW<M>[,Flat|,PQ<m>|,SQ<type>], IVF<n>,{Flat|PQ<m>[x<bits>]|SQ<type>}, "
    "PQ<m>[x<bits>], SQ<type> or LSH, after any of PCA<d>, OPQ<m>[_<d>], RR<d>, L2norm, Pad<d>";

// The code after an inverted file: Flat, SQ<type> or PQ<m>[x<bits>][np] over d dimensions.
std::optional<std::string> IvfCodeProblem(const std::string& code, uint64_t d) {
  static const std::regex pq("PQ([0-9]+)(?:x([0-9]+))?(np)?");
  std::smatch m;
  if (code == "Flat") return std::nullopt;
  if (std::regex_match(code, m, pq)) return PqProblem(m[1].str(), m[2].str(), d, kMaxIvfPqBits);
  if (code.rfind("SQ", 0) == 0) return SqProblem(code);
  return "no code \"" + code + "\" after an inverted file; " + kGrammar;
}

// A transform before the index: nullopt if `part` is not one; else what is
// wrong with it (empty: nothing), with `d` moved to its output dimension.
std::optional<std::string> TransformProblem(const std::string& part, uint64_t& d) {
  static const std::regex pca("PCA(W?)(R?)([0-9]+)");
  static const std::regex opq("OPQ([0-9]+)(?:_([0-9]+))?");
  static const std::regex rr("RR([0-9]+)?");
  static const std::regex pad("Pad([0-9]+)");
  std::smatch m;
  uint64_t n = 0;
  if (std::regex_match(part, m, pca)) {
    if (auto p = CountProblem(m[3].str(), 1, d,
                              "PCA's output dimension (of " + std::to_string(d) + ")", &n)) {
      return p;
    }
    d = n;
    return std::string();
  }
  if (std::regex_match(part, m, opq)) {
    uint64_t parts = 0, out = d;
    if (m[2].matched) {
      if (auto p = CountProblem(m[2].str(), 1, d,
                                "OPQ's output dimension (of " + std::to_string(d) + ")", &out)) {
        return p;
      }
    }
    if (auto p = CountProblem(m[1].str(), 1, out,
                              "OPQ's part count (over " + std::to_string(out) + " dimensions)",
                              &parts)) {
      return p;
    }
    if (out % parts != 0) {
      return part + " splits " + std::to_string(out) + " dimensions into " + m[1].str() +
             " parts: the part count must divide the dimension";
    }
    d = out;
    return std::string();
  }
  if (std::regex_match(part, m, rr)) {
    if (!m[1].matched) return std::string();
    // (FAISS allows more, as a d_out x d_out matrix: 16 GiB at 65536.)
    if (auto p = CountProblem(m[1].str(), 1, d,
                              "RR's output dimension (of " + std::to_string(d) + ")", &n)) {
      return p;
    }
    d = n;
    return std::string();
  }
  if (std::regex_match(part, m, pad)) {
    if (auto p =
            CountProblem(m[1].str(), 1, kMaxTransformDimension, "Pad's output dimension", &n)) {
      return p;
    }
    d = std::max(d, n);
    return std::string();
  }
  if (part == "L2norm" || part == "L2Norm") return std::string();
  return std::nullopt;
}

// What is wrong with `spec` (see VectorIndex::CheckSpec); empty if nothing.
std::string SpecProblem(uint64_t dimension, const std::string& spec) {
  if (spec.size() > kMaxSpecBytes) {
    return "it has " + std::to_string(spec.size()) + " bytes, at most " +
           std::to_string(kMaxSpecBytes);
  }
  if (spec.find("IDMap") != std::string::npos) return "leave out IDMap, relate maps ids itself";
  // Kinds FAISS 1.7.3 builds but that break relate's contract (every vector can
  // be added one batch at a time and removed).
  if (spec.find("NSG") != std::string::npos) {
    return "NSG graphs cannot be added to in batches; use HNSW<M>";
  }
  if (std::regex_search(spec, std::regex("x[0-9]+fs"))) {
    return "fast-scan codes cannot remove vectors in FAISS 1.7.3; use PQ<m> or PQ<m>x<bits>";
  }
  if (spec.find("RFlat") != std::string::npos || spec.find("Refine") != std::string::npos) {
    return "leave refinement out of the spec and use relate's refine knob, which "
           "re-ranks over the vectors it stores";
  }
  static const std::regex hnsw("HNSW([0-9]*)");
  for (std::sregex_iterator it(spec.begin(), spec.end(), hnsw), end; it != end; ++it) {
    if (HnswMProblem((*it)[1].str())) return "HNSW needs M from 2 to 1024";
  }
  std::vector<std::string> parts;
  for (size_t start = 0;;) {
    const size_t comma = spec.find(',', start);
    parts.push_back(spec.substr(start, comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (std::find(parts.begin(), parts.end(), "") != parts.end()) {
    return "it has an empty part between commas (or a comma at an end)";
  }
  uint64_t d = dimension;
  size_t first = 0;
  // FAISS takes a part as a transform only when more parts follow.
  for (; first + 1 < parts.size(); ++first) {
    auto problem = TransformProblem(parts[first], d);
    if (!problem) break;
    if (!problem->empty()) return *problem;
  }
  const std::vector<std::string> rest(parts.begin() + static_cast<ptrdiff_t>(first), parts.end());
  const std::string& head = rest[0];
  static const std::regex pq("PQ([0-9]+)(?:x([0-9]+))?(np)?");
  static const std::regex hnsw_codes("HNSW([0-9]*)(?:[,_](.*))?");
  static const std::regex hnsw_pq("PQ([0-9]+)(np)?");
  static const std::regex ivf("IVF([0-9]+)(?:_HNSW([0-9]*))?");
  static const std::regex imi("IMI2x([0-9]+)");
  std::smatch m;
  uint64_t n = 0;
  if (rest.size() == 1) {
    static const std::regex lsh("LSHr?t?");
    if (head == "Flat" || std::regex_match(head, lsh)) return {};
    if (head.rfind("SQ", 0) == 0) return SqProblem(head).value_or("");
    if (std::regex_match(head, m, pq)) return PqProblem(m[1].str(), m[2].str(), d).value_or("");
  }
  std::string joined = head;
  for (size_t i = 1; i < rest.size(); ++i) joined += "," + rest[i];
  // FAISS takes "," or "_" between HNSW and its code.
  if (std::regex_match(joined, m, hnsw_codes) && m[2].str().find(',') == std::string::npos) {
    const std::string code = m[2].str();
    std::smatch c;
    if (code.empty() || code == "Flat") return {};
    if (code.rfind("SQ", 0) == 0) return SqProblem(code).value_or("");
    if (std::regex_match(code, c, hnsw_pq)) return PqProblem(c[1].str(), "", d).value_or("");
    return "no code \"" + code + "\" under an HNSW graph; " + kGrammar;
  }
  if (rest.size() == 2 && std::regex_match(head, m, ivf)) {
    if (auto p = CountProblem(m[1].str(), 1, kMaxLists, "IVF's list count", &n)) return *p;
    return IvfCodeProblem(rest[1], d).value_or("");
  }
  if (rest.size() == 2 && std::regex_match(head, m, imi)) {
    if (auto p = CountProblem(m[1].str(), 1, kMaxImiBits, "IMI's bits a half", &n)) return *p;
    if (d % 2 != 0) return "IMI2x splits vectors in halves: it needs an even dimension";
    return IvfCodeProblem(rest[1], d).value_or("");
  }
  if (rest.size() == 1 && (std::regex_match(head, ivf) || std::regex_match(head, imi))) {
    return "an inverted file needs a code after it: " + head + ",Flat, " + head + ",SQ8 or " +
           head + ",PQ<m>";
  }
  if (rest.size() == 1 && TransformProblem(head, d)) {
    return "it ends with the transform " + head + "; an index must follow it";
  }
  return "\"" + head + "\" is not an index relate builds; " + kGrammar;
}

// "HNSW<M>" or "HNSW<M>,Flat": relate builds and searches these itself.
std::optional<int> NativeHnswM(const std::string& spec) {
  static const std::regex re("HNSW([0-9]+)(,Flat)?");
  std::smatch m;
  if (!std::regex_match(spec, m, re) || m[1].str().size() > 4) return std::nullopt;
  const int value = std::stoi(m[1].str());
  if (value < 2 || value > 1024) return std::nullopt;
  return value;
}

// Record ids keyed by position: the FAISS labels of every kind.
int64_t Label(size_t position) { return static_cast<int64_t>(position); }

}  // namespace

struct VectorIndex::Rep {
  Kind kind = Kind::kFlat;
  BuildParams build;
  // Not OK for an index made by Unusable (an empty Flat otherwise): what every
  // use of it returns.
  Status unusable;
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

namespace {

// Score and distance (see Metric) of a value in FAISS's convention: the inner
// product, or the squared Euclidean distance.
void FromRaw(Metric metric, float v, float* score, float* distance) {
  switch (metric) {
    case Metric::kCosine:
      *score = v;
      *distance = 1.0f - v;
      break;
    case Metric::kInnerProduct:
      *score = v;
      *distance = -v;
      break;
    case Metric::kL2:
      *distance = std::sqrt(std::max(v, 0.0f));
      *score = *distance;
      break;
  }
}

}  // namespace

void ScorePair(Metric metric, const float* a, const float* b, size_t dimension, float* score,
               float* distance) {
  const DistanceKernels& k = BestKernels();
  const float raw = metric == Metric::kL2 ? k.l2_squared(a, b, dimension)
                                          : k.inner_product(a, b, dimension);
  FromRaw(metric, raw, score, distance);
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

Status VectorIndex::CheckSpec(uint32_t dimension, std::string_view spec) {
  const std::string resolved = ResolveSpec(spec);
  if (dimension == 0) return Status::InvalidArgument("index dimension is 0");
  const std::string problem = SpecProblem(dimension, resolved);
  if (problem.empty()) return Status::OK();
  return Status::InvalidArgument("index spec \"" + resolved + "\": " + problem);
}

std::unique_ptr<VectorIndex> VectorIndex::Unusable(uint32_t dimension, Metric metric,
                                                   std::string_view spec, std::string_view why) {
  auto rep = std::make_unique<Rep>();
  rep->flat = std::make_unique<faiss::IndexFlat>(static_cast<int>(std::max(dimension, 1u)),
                                                 FaissMetric(metric));
  rep->unusable = Status::FailedPrecondition(
      std::string(why) +
      "; relate cannot build this index: drop the collection and create it again with a "
      "valid index spec");
  return std::unique_ptr<VectorIndex>(
      new VectorIndex(std::move(rep), std::max(dimension, 1u), metric, std::string(spec)));
}

Status VectorIndex::CheckUsable() const { return rep_->unusable; }

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
  if (Status s = CheckSpec(dimension, resolved); !s.ok()) return s;
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
      st.kind = r.unusable.ok() ? "flat" : "unusable";
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
  if (!rep_->unusable.ok()) return rep_->unusable;
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
    // (At least 2: a graph read from a checkpoint has what the file says.)
    const size_t m = static_cast<size_t>(std::max(g.nb_neighbors(1), 2));
    const size_t links =
        static_cast<size_t>(std::max(g.nb_neighbors(0), 0)) + (m + m - 2) / (m - 1);
    g.neighbors.reserve(n * links + n / 64 + 1024);
    g.offsets.reserve(n + 1);
    g.levels.reserve(n);
  } else if (r.exact() != nullptr) {
    r.flat->codes.reserve(n * row_bytes);
  }
}

Status VectorIndex::TrainOnHeld(size_t max_rows) {
  if (!rep_->unusable.ok()) return rep_->unusable;
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
  if (!rep_->unusable.ok()) return rep_->unusable;
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
  if (!rep_->unusable.ok()) return rep_->unusable;
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

// FAISS's search knobs for an index of another kind, as far as it has them,
// with a selector of the labels it may return (null: all).
struct FaissParams {
  faiss::SearchParameters plain;
  faiss::SearchParametersIVF ivf;
  faiss::SearchParametersHNSW hnsw;
  faiss::SearchParametersPreTransform pre;
  const faiss::SearchParameters* Make(const faiss::Index* index, uint32_t nprobe, int ef,
                                      faiss::IDSelector* sel) {
    const faiss::SearchParameters* inner = nullptr;
    const faiss::Index* base = index;
    if (auto* t = dynamic_cast<const faiss::IndexPreTransform*>(index)) base = t->index;
    if (dynamic_cast<const faiss::IndexIVF*>(base) != nullptr) {
      ivf.nprobe = nprobe;
      ivf.sel = sel;
      inner = &ivf;
    } else if (dynamic_cast<const faiss::IndexHNSW*>(base) != nullptr) {
      hnsw.efSearch = ef;
      hnsw.sel = sel;
      inner = &hnsw;
    } else if (sel != nullptr) {
      plain.sel = sel;
      inner = &plain;
    }
    if (inner == nullptr || base == index) return inner;
    pre.index_params = const_cast<faiss::SearchParameters*>(inner);
    pre.sel = sel;
    return &pre;
  }
};

// Holds faiss_ef_mu through one FAISS HNSW search with efSearch `ef` (see
// faiss_ef_mu): shared while the index already has that efSearch, else
// exclusively, setting it. Holds nothing for other kinds (null `hnsw`).
class EfLock {
 public:
  EfLock(std::shared_mutex& mu, faiss::IndexHNSW* hnsw, int ef)
      : shared_(mu, std::defer_lock), unique_(mu, std::defer_lock) {
    if (hnsw == nullptr) return;
    shared_.lock();
    if (hnsw->hnsw.efSearch != ef) {
      shared_.unlock();
      unique_.lock();
      hnsw->hnsw.efSearch = ef;
    }
  }

 private:
  std::shared_lock<std::shared_mutex> shared_;
  std::unique_lock<std::shared_mutex> unique_;
};

// FAISS labels (positions) a filtered search may return: live and allowed.
class AllowedSelector final : public faiss::IDSelector {
 public:
  AllowedSelector(const std::vector<uint64_t>& ids, const std::vector<uint64_t>& dead,
                  const IdSet& allowed)
      : ids_(ids.data()),
        n_(ids.size()),
        dead_(dead.empty() ? nullptr : dead.data()),
        allowed_(allowed) {}
  bool is_member(idx_t label) const override {
    if (label < 0 || static_cast<size_t>(label) >= n_) return false;
    const auto pos = static_cast<size_t>(label);
    if (dead_ != nullptr && ((dead_[pos / 64] >> (pos % 64)) & 1) != 0) return false;
    return ids_[pos] != kNoId && allowed_.Contains(ids_[pos]);
  }

 private:
  const uint64_t* ids_;
  size_t n_;
  const uint64_t* dead_;
  const IdSet& allowed_;
};

// Rows (positions) whose record id is in a set: RowFilter's and HnswFilter's test.
struct IdsInSet {
  const uint64_t* ids;
  const IdSet* allowed;
  static bool Keep(const void* ctx, size_t row) {
    const auto* c = static_cast<const IdsInSet*>(ctx);
    return c->allowed->Contains(c->ids[row]);
  }
};

// FAISS's convention from ExactSearch's (lower is closer: the negated inner product).
float RawFromScan(ScanMetric scan, float v) { return scan == ScanMetric::kInnerProduct ? -v : v; }

// Rows per gathered block of an exact pass: 8 MiB of floats.
size_t GatherRows(size_t d) {
  return std::max<size_t>(256, (size_t{1} << 21) / std::max<size_t>(d, 1));
}

// Whether an exact search of `nq` queries over `allowed` of `positions` rows
// of `d` values should gather the allowed rows (a lookup of each id's
// position and a copy of its row) rather than scan every row, skipping the
// others. One query: a lookup and copy cost about as much as scanning 450
// values (on 100,000 x 100, gathering won below 18 % allowed: 1,462 queries/s
// at 15 % against 1,139 for a scan, 694 at 25 %). Many queries share one
// gather and multiply the gathered block, so they gather up to half the rows.
bool GatherAllowed(size_t allowed, size_t positions, size_t d, size_t nq) {
  if (nq >= kExactBatchQueries) return allowed * 2 <= positions;
  return static_cast<double>(allowed) * static_cast<double>(d + 450) <=
         static_cast<double>(positions) * static_cast<double>(d);
}

// Copies row `pos` of rows laid end to end.
struct CopyRow {
  const float* rows;
  size_t d;
  void operator()(size_t pos, float* out) const {
    std::memcpy(out, rows + pos * d, d * sizeof(float));
  }
};

// Exact k-search of `nq` queries over the rows at `positions` (ascending),
// each fetched by fetch(position, out): labels get positions (-1 past the
// last hit), raw FAISS's values (nq x k each). Blocks of gathered rows go
// through ExactSearch, so many queries run as matrix products; ties go to
// the lower position, as in a scan of every row.
template <class Fetch>
void ExactOverPositions(ScanMetric scan, size_t d, std::span<const size_t> positions,
                        const float* queries, size_t nq, size_t k, const Fetch& fetch,
                        int64_t* labels, float* raw) {
  std::fill(labels, labels + nq * k, -1);
  std::fill(raw, raw + nq * k, std::numeric_limits<float>::infinity());
  if (positions.empty() || k == 0) return;
  const size_t chunk = GatherRows(d);
  const bool several = positions.size() > chunk;
  std::vector<float> block(std::min(chunk, positions.size()) * d);
  std::vector<int64_t> got(nq * k);
  std::vector<float> got_d(nq * k);
  std::vector<TopK> tops(several ? nq : 0, TopK(k));
  for (size_t b = 0; b < positions.size(); b += chunk) {
    const size_t m = std::min(chunk, positions.size() - b);
    for (size_t i = 0; i < m; ++i) fetch(positions[b + i], block.data() + i * d);
    ExactSearch(scan, block.data(), m, d, queries, nq, k, got.data(), got_d.data());
    for (size_t i = 0; i < nq * k; ++i) {
      if (got[i] < 0) continue;
      const auto pos = static_cast<int64_t>(positions[b + static_cast<size_t>(got[i])]);
      if (several) {
        tops[i / k].Push(got_d[i], pos);
      } else {
        labels[i] = pos;
        raw[i] = RawFromScan(scan, got_d[i]);
      }
    }
  }
  if (!several) return;
  for (size_t q = 0; q < nq; ++q) {
    tops[q].Drain(std::span(labels + q * k, k), std::span(raw + q * k, k));
    for (size_t j = 0; j < k; ++j) raw[q * k + j] = RawFromScan(scan, raw[q * k + j]);
  }
}

// Range search over the rows at `positions` (ascending), as ExactOverPositions:
// hits[q] gets (ExactSearch distance, position) pairs, best first, at most `limit`.
template <class Fetch>
void RangeOverPositions(ScanMetric scan, size_t d, std::span<const size_t> positions,
                        const float* queries, size_t nq, float max_distance, size_t limit,
                        const Fetch& fetch,
                        std::vector<std::vector<std::pair<float, int64_t>>>& hits) {
  hits.assign(nq, {});
  const size_t chunk = GatherRows(d);
  std::vector<float> block(std::min(chunk, positions.size()) * d);
  std::vector<std::vector<std::pair<float, int64_t>>> got;
  for (size_t b = 0; b < positions.size(); b += chunk) {
    const size_t m = std::min(chunk, positions.size() - b);
    for (size_t i = 0; i < m; ++i) fetch(positions[b + i], block.data() + i * d);
    ExactRangeSearch(scan, block.data(), m, d, queries, nq, max_distance, limit, got);
    for (size_t q = 0; q < nq; ++q) {
      for (const auto& [dist, row] : got[q]) {
        hits[q].emplace_back(dist, static_cast<int64_t>(positions[b + static_cast<size_t>(row)]));
      }
    }
  }
  if (positions.size() <= chunk) return;
  for (auto& h : hits) {
    std::sort(h.begin(), h.end());
    if (h.size() > limit) h.resize(limit);
  }
}

// The estimated distance computations of a FAISS search of `nq` queries (see SearchStats).
uint64_t FaissDistances(const faiss::Index* base, size_t nq, uint32_t nprobe, int ef) {
  if (const auto* ivf = dynamic_cast<const faiss::IndexIVF*>(base)) {
    const size_t lists = std::max<size_t>(ivf->nlist, 1);
    const size_t probed = std::min<size_t>(nprobe, lists);
    return nq * (lists + static_cast<uint64_t>(ivf->ntotal) * probed / lists);
  }
  if (const auto* h = dynamic_cast<const faiss::IndexHNSW*>(base)) {
    return nq * static_cast<uint64_t>(std::max(ef, 1)) *
           static_cast<uint64_t>(std::max(h->hnsw.nb_neighbors(1), 1));
  }
  return nq * static_cast<uint64_t>(base->ntotal);
}

void AddStats(const SearchStats& from, SearchStats* to) {
  if (to == nullptr) return;
  to->distances += from.distances;
  to->widenings += from.widenings;
  to->ef_search = std::max(to->ef_search, from.ef_search);
  to->nprobe = std::max(to->nprobe, from.nprobe);
  to->exact_pass = to->exact_pass || from.exact_pass;
}

Status CheckQueries(size_t values, uint32_t dimension) {
  if (values % dimension == 0) return Status::OK();
  return Status::InvalidArgument("queries hold " + std::to_string(values) +
                                 " values, not a multiple of the dimension " +
                                 std::to_string(dimension));
}

Status CheckK(size_t n, size_t k) {
  if (k > VectorIndex::kMaxK || (k > 0 && n > VectorIndex::kMaxK / k * 64)) {
    return Status::InvalidArgument("search asks for " + std::to_string(n) + " x " +
                                   std::to_string(k) + " neighbours; at most " +
                                   std::to_string(VectorIndex::kMaxK) + " per query");
  }
  return Status::OK();
}

// Neighbours of n x k positions and FAISS-convention values.
Neighbours ToNeighbours(Metric metric, size_t n, size_t k, const int64_t* labels, const float* raw,
                        const uint64_t* ids) {
  Neighbours out;
  out.k = k;
  out.ids.assign(n * k, -1);
  out.distances.assign(n * k, std::numeric_limits<float>::infinity());
  out.scores.resize(n * k);
  for (size_t i = 0; i < n * k; ++i) {
    if (labels[i] < 0) continue;
    out.ids[i] = static_cast<int64_t>(ids[static_cast<size_t>(labels[i])]);
    FromRaw(metric, raw[i], &out.scores[i], &out.distances[i]);
  }
  return out;
}

// The ExactSearch distance a range search keeps up to: the negated threshold
// for scores, the squared one (a hair over, checked again on the distance)
// for L2; nullopt when nothing can be in range (a negative L2 threshold).
std::optional<float> RangeBound(Metric metric, float threshold) {
  if (metric != Metric::kL2) return -threshold;
  if (threshold < 0) return std::nullopt;
  return std::nextafter(threshold * threshold * (1 + 1e-6f),
                        std::numeric_limits<float>::infinity());
}

bool InRange(Metric metric, float threshold, float score, float distance) {
  return metric == Metric::kL2 ? distance <= threshold : score >= threshold;
}

// RangeResult from per-query (ExactSearch distance, row) hits, rows mapped to
// ids by `ids`, keeping those in range.
RangeResult ToRange(Metric metric, ScanMetric scan, float threshold,
                    const std::vector<std::vector<std::pair<float, int64_t>>>& hits,
                    const uint64_t* ids) {
  RangeResult out;
  out.offsets.push_back(0);
  for (const auto& list : hits) {
    for (const auto& [v, row] : list) {
      float score = 0, distance = 0;
      FromRaw(metric, RawFromScan(scan, v), &score, &distance);
      if (!InRange(metric, threshold, score, distance)) continue;
      out.ids.push_back(static_cast<int64_t>(ids[static_cast<size_t>(row)]));
      out.scores.push_back(score);
      out.distances.push_back(distance);
    }
    out.offsets.push_back(out.ids.size());
  }
  return out;
}

}  // namespace

std::vector<uint64_t> IdSet::Sorted() const {
  std::vector<uint64_t> out;
  out.reserve(size_);
  for (size_t w = 0; w < bits_.size(); ++w) {
    for (uint64_t b = bits_[w]; b != 0; b &= b - 1) {
      out.push_back(uint64_t{w} * 64 + static_cast<uint64_t>(__builtin_ctzll(b)));
    }
  }
  return out;
}

Result<Neighbours> VectorIndex::Search(std::span<const float> queries, size_t k,
                                       const SearchParams& params, SearchStats* stats) const {
  if (!rep_->unusable.ok()) return rep_->unusable;
  if (Status s = CheckQueries(queries.size(), dimension_); !s.ok()) return s;
  const Rep& r = *rep_;
  const size_t n = queries.size() / dimension_;
  if (Status s = CheckK(n, k); !s.ok()) return s;
  if (n == 0 || k == 0) return ToNeighbours(metric_, n, k, nullptr, nullptr, nullptr);
  // `labels` are positions; `raw` FAISS's values: inner product, or squared L2.
  std::vector<int64_t> labels(n * k, -1);
  std::vector<float> raw(n * k);
  const ScanMetric scan = MetricFor(metric_);
  const bool ip = scan == ScanMetric::kInnerProduct;
  SearchStats st;
  try {
    if (params.allowed != nullptr) {
      if (Status s = SearchAllowed(queries, k, params, st, labels.data(), raw.data()); !s.ok()) {
        return s;
      }
    } else if (const faiss::IndexFlat* flat = r.exact()) {
      ExactSearch(scan, flat->get_xb(), static_cast<size_t>(flat->ntotal), dimension_,
                  queries.data(), n, k, labels.data(), raw.data());
      if (ip) {
        for (float& v : raw) v = -v;
      }
      st.distances += n * static_cast<uint64_t>(flat->ntotal);
    } else if (r.kind == Kind::kHnsw) {
      const auto& storage = *static_cast<const faiss::IndexFlat*>(r.hnsw->storage);
      const HnswSpace space{scan, storage.get_xb(), dimension_};
      const size_t ef = std::max<size_t>(params.ef_search ? params.ef_search : kDefaultEfSearch, k);
      const uint64_t* dead = r.dead_count ? r.dead.data() : nullptr;
      std::exception_ptr failure;  // may not leave the OpenMP region: thrown after it
      uint64_t ndis = 0;
#pragma omp parallel for schedule(dynamic) if (n > 1) reduction(+ : ndis)
      for (size_t i = 0; i < n; ++i) {
        try {
          auto scratch = r.scratch.Acquire();
          ndis += HnswSearch(r.hnsw->hnsw, space, queries.data() + i * dimension_, k, ef, dead,
                             *scratch, labels.data() + i * k, raw.data() + i * k);
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
      st.distances += ndis;
      st.ef_search = static_cast<uint32_t>(ef);
    } else {
      // FAISS's own search. Tombstones are filtered out of a wider search,
      // widened until k live ones are found or everything was asked for.
      FaissParams fp;
      faiss::Index* base = r.faiss.get();
      if (auto* t = dynamic_cast<faiss::IndexPreTransform*>(base)) base = t->index;
      auto* hnsw = dynamic_cast<faiss::IndexHNSW*>(base);
      const bool is_ivf = dynamic_cast<faiss::IndexIVF*>(base) != nullptr;
      const uint32_t nprobe = params.nprobe ? params.nprobe : kDefaultNprobe;
      const size_t total = static_cast<size_t>(r.faiss->ntotal);
      size_t want = r.dead_count ? std::min(total, 2 * k + 16) : k;
      for (;;) {
        want = std::max(want, k);
        const int ef = static_cast<int>(
            std::max<size_t>(params.ef_search ? params.ef_search : kDefaultEfSearch, want));
        EfLock ef_lock(r.faiss_ef_mu, hnsw, ef);
        std::vector<int64_t> got(n * want);
        std::vector<float> got_raw(n * want);
        r.faiss->search(static_cast<faiss::Index::idx_t>(n), queries.data(),
                        static_cast<faiss::Index::idx_t>(want), got_raw.data(), got.data(),
                        fp.Make(r.faiss.get(), nprobe, ef, nullptr));
        st.distances += FaissDistances(base, n, nprobe, ef);
        if (hnsw != nullptr) st.ef_search = static_cast<uint32_t>(ef);
        if (is_ivf) st.nprobe = nprobe;
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
        ++st.widenings;
      }
    }
  } catch (const faiss::FaissException& e) {
    return Status::Internal("index search: " + e.msg);
  } catch (const std::exception& e) {
    return Status::Internal(std::string("index search: ") + e.what());
  }
  AddStats(st, stats);
  return ToNeighbours(metric_, n, k, labels.data(), raw.data(), r.ids.data());
}

Status VectorIndex::SearchAllowed(std::span<const float> queries, size_t k,
                                  const SearchParams& params, SearchStats& st, int64_t* labels,
                                  float* raw) const {
  const Rep& r = *rep_;
  const IdSet& allowed = *params.allowed;
  const size_t d = dimension_;
  const size_t n = queries.size() / d;
  const ScanMetric scan = MetricFor(metric_);
  const size_t positions = r.ids.size();
  const size_t live = r.where.size();
  if (allowed.size() == 0 || live == 0) return Status::OK();
  // A graph walk meets some multiple of ef x live / a nodes to collect ef of
  // a allowed ones, each dearer than a row of an exact pass, which scores a:
  // measured on 100,000 clustered 100-d vectors at ef 64, the walk answered
  // 1,617 queries/s at 5 % allowed (an exact pass 6,254) and 4,247 at 10 %
  // (an exact pass 2,243), a crossing near a^2 = 8 ef live.
  auto exact_cheaper = [live](size_t a, size_t ef) {
    return static_cast<double>(a) * static_cast<double>(a) <=
           8.0 * static_cast<double>(ef) * static_cast<double>(live);
  };
  // Allowed live positions: through `where` (a lookup per allowed id) for a
  // set small next to the index, else by a pass over the positions.
  std::vector<size_t> pos;
  bool have_pos = false;
  auto allowed_positions = [&]() -> const std::vector<size_t>& {
    if (have_pos) return pos;
    have_pos = true;
    if (allowed.size() * 16 <= positions) {
      for (uint64_t id : allowed.Sorted()) {
        if (auto it = r.where.find(id); it != r.where.end()) pos.push_back(it->second);
      }
      std::sort(pos.begin(), pos.end());
    } else {
      for (size_t p = 0; p < positions; ++p) {
        if (r.ids[p] != kNoId && !r.IsDead(p) && allowed.Contains(r.ids[p])) pos.push_back(p);
      }
    }
    return pos;
  };
  const IdsInSet in_set{r.ids.data(), &allowed};

  if (const faiss::IndexFlat* flat = r.exact()) {
    const float* rows = flat->get_xb();
    if (GatherAllowed(allowed.size(), positions, d, n)) {
      const auto& p = allowed_positions();
      ExactOverPositions(scan, d, p, queries.data(), n, k, CopyRow{rows, d}, labels, raw);
      st.distances += n * p.size();
    } else {
      ExactSearch(scan, rows, positions, d, queries.data(), n, k, labels, raw,
                  RowFilter{&IdsInSet::Keep, &in_set});
      for (size_t i = 0; i < n * k; ++i) raw[i] = RawFromScan(scan, raw[i]);
      st.distances += n * positions;
    }
    return Status::OK();
  }

  // The queries `which` by an exact pass over the allowed positions, each
  // fetched by fetch(position, out) in the space of `space_queries` (d_space values).
  auto exact_pass = [&](std::span<const size_t> which, size_t d_space, const float* space_queries,
                        const auto& fetch) {
    const auto& p = allowed_positions();
    const size_t m = which.size();
    std::vector<float> q(m * d_space);
    for (size_t i = 0; i < m; ++i) {
      std::memcpy(q.data() + i * d_space, space_queries + which[i] * d_space,
                  d_space * sizeof(float));
    }
    std::vector<int64_t> got(m * k);
    std::vector<float> got_raw(m * k);
    ExactOverPositions(scan, d_space, p, q.data(), m, k, fetch, got.data(), got_raw.data());
    for (size_t i = 0; i < m; ++i) {
      std::copy_n(got.data() + i * k, k, labels + which[i] * k);
      std::copy_n(got_raw.data() + i * k, k, raw + which[i] * k);
    }
    st.distances += m * p.size();
    st.exact_pass = true;
  };
  // Of `which`, the queries short of k hits while more allowed ones exist.
  auto still_short = [&](std::span<const size_t> which) {
    std::vector<size_t> out;
    for (size_t q : which) {
      if (labels[q * k + k - 1] >= 0) continue;
      size_t found = 0;
      while (found < k && labels[q * k + found] >= 0) ++found;
      if (found < allowed_positions().size()) out.push_back(q);
    }
    return out;
  };
  std::vector<size_t> every(n);
  std::iota(every.begin(), every.end(), size_t{0});

  if (r.kind == Kind::kHnsw) {
    const auto& storage = *static_cast<const faiss::IndexFlat*>(r.hnsw->storage);
    const float* rows = storage.get_xb();
    const HnswSpace space{scan, rows, d};
    const size_t ef = std::max<size_t>(params.ef_search ? params.ef_search : kDefaultEfSearch, k);
    std::vector<uint64_t> mask;
    HnswFilter filter;
    if (allowed.size() * 16 <= positions || exact_cheaper(allowed.size(), ef)) {
      const auto& p = allowed_positions();
      if (exact_cheaper(p.size(), ef)) {
        exact_pass(every, d, queries.data(), CopyRow{rows, d});
        return Status::OK();
      }
      mask.assign((positions + 63) / 64, 0);
      for (size_t x : p) mask[x / 64] |= uint64_t{1} << (x % 64);
      filter.rows = mask.data();
    } else {
      filter.dead = r.dead_count ? r.dead.data() : nullptr;
      filter.keep = &IdsInSet::Keep;
      filter.ctx = &in_set;
    }
    // The walk keeps going until it holds ef allowed rows, so one that ends
    // short of k has met every node it can reach: a wider ef would find
    // nothing more, and an exact pass completes it.
    std::exception_ptr failure;
    uint64_t ndis = 0;
#pragma omp parallel for schedule(dynamic) if (n > 1) reduction(+ : ndis)
    for (size_t i = 0; i < n; ++i) {
      try {
        auto scratch = r.scratch.Acquire();
        ndis += HnswSearch(r.hnsw->hnsw, space, queries.data() + i * d, k, ef, filter, *scratch,
                           labels + i * k, raw + i * k);
        r.scratch.Release(std::move(scratch));
      } catch (...) {
#pragma omp critical(relate_hnsw_search_failure)
        if (!failure) failure = std::current_exception();
      }
    }
    if (failure) std::rethrow_exception(failure);
    for (size_t i = 0; i < n * k; ++i) raw[i] = RawFromScan(scan, raw[i]);
    st.distances += ndis;
    st.ef_search = std::max(st.ef_search, static_cast<uint32_t>(ef));
    const std::vector<size_t> rest = still_short(every);
    if (!rest.empty()) exact_pass(rest, d, queries.data(), CopyRow{rows, d});
    return Status::OK();
  }

  // FAISS kinds: a selector of allowed live positions, where the kind takes one.
  faiss::Index* index = r.faiss.get();
  faiss::Index* base = index;
  auto* pre = dynamic_cast<faiss::IndexPreTransform*>(index);
  if (pre != nullptr) base = pre->index;
  auto* ivf = dynamic_cast<faiss::IndexIVF*>(base);
  auto* hnsw = dynamic_cast<faiss::IndexHNSW*>(base);
  const bool takes_selector = ivf != nullptr || hnsw != nullptr ||
                              dynamic_cast<faiss::IndexScalarQuantizer*>(base) != nullptr ||
                              dynamic_cast<faiss::IndexFlat*>(base) != nullptr;
  // The exact pass scores decoded vectors in the space FAISS searches (after
  // the pre-transform), so its values are the codes' distances.
  std::vector<float> moved;
  auto base_queries = [&]() -> const float* {
    if (pre == nullptr) return queries.data();
    if (moved.empty()) {
      const float* x = pre->apply_chain(static_cast<faiss::Index::idx_t>(n), queries.data());
      moved.assign(x, x + n * static_cast<size_t>(base->d));
      if (x != queries.data()) delete[] x;
    }
    return moved.data();
  };
  auto decoded_pass = [&](std::span<const size_t> which) {
    const faiss::Index* b = base;
    exact_pass(which, static_cast<size_t>(base->d), base_queries(), [b](size_t p, float* out) {
      b->reconstruct(static_cast<faiss::Index::idx_t>(p), out);
    });
  };
  if (!takes_selector) {
    // Flat codes whose FAISS search takes no selector (PQ): every allowed
    // vector decoded and scored, which is what an exhaustive search costs.
    decoded_pass(every);
    return Status::OK();
  }
  AllowedSelector sel(r.ids, r.dead, allowed);
  size_t ef = std::max<size_t>(params.ef_search ? params.ef_search : kDefaultEfSearch, k);
  uint32_t nprobe = params.nprobe ? params.nprobe : kDefaultNprobe;
  if (hnsw != nullptr && (allowed.size() * 16 <= positions || exact_cheaper(allowed.size(), ef)) &&
      exact_cheaper(allowed_positions().size(), ef)) {
    decoded_pass(every);
    return Status::OK();
  }
  if (ivf != nullptr) {
    // Probing p of nlist lists meets about p / nlist of the allowed ids: start
    // where that is 2k.
    const size_t nlist = std::max<size_t>(ivf->nlist, 1);
    const double start = 2.0 * static_cast<double>(k) * static_cast<double>(nlist) /
                         static_cast<double>(std::min(allowed.size(), live));
    nprobe = static_cast<uint32_t>(
        std::min<double>(static_cast<double>(nlist), std::max<double>(nprobe, std::ceil(start))));
  }
  const size_t total = static_cast<size_t>(index->ntotal);
  std::vector<size_t> pending = every;
  for (;;) {
    const size_t m = pending.size();
    std::vector<float> q(m * d);
    for (size_t i = 0; i < m; ++i) {
      std::memcpy(q.data() + i * d, queries.data() + pending[i] * d, d * sizeof(float));
    }
    std::vector<int64_t> got(m * k);
    std::vector<float> got_raw(m * k);
    {
      FaissParams fp;
      EfLock ef_lock(r.faiss_ef_mu, hnsw, static_cast<int>(ef));
      index->search(static_cast<faiss::Index::idx_t>(m), q.data(),
                    static_cast<faiss::Index::idx_t>(k), got_raw.data(), got.data(),
                    fp.Make(index, nprobe, static_cast<int>(ef), &sel));
    }
    st.distances += FaissDistances(base, m, nprobe, static_cast<int>(ef));
    if (hnsw != nullptr) st.ef_search = std::max(st.ef_search, static_cast<uint32_t>(ef));
    if (ivf != nullptr) st.nprobe = std::max(st.nprobe, nprobe);
    std::vector<size_t> next;
    for (size_t i = 0; i < m; ++i) {
      std::copy_n(got.data() + i * k, k, labels + pending[i] * k);
      std::copy_n(got_raw.data() + i * k, k, raw + pending[i] * k);
      if (got[i * k + k - 1] < 0) next.push_back(pending[i]);
    }
    if (next.empty()) break;
    if (ivf != nullptr && nprobe < ivf->nlist) {
      nprobe = static_cast<uint32_t>(std::min<size_t>(ivf->nlist, size_t{nprobe} * 4));
    } else if (hnsw != nullptr && ef < total) {
      ef = std::max(k, std::min(total, ef * 4));
    } else {
      // IVF at nprobe = nlist and flat codes searched every entry: nothing
      // more exists. FAISS's HNSW walk stops early even at efSearch = every
      // vector: an exact pass completes it.
      if (hnsw != nullptr) {
        const std::vector<size_t> rest = still_short(next);
        if (!rest.empty()) decoded_pass(rest);
      }
      break;
    }
    ++st.widenings;
    pending = std::move(next);
  }
  return Status::OK();
}

Result<Neighbours> VectorIndex::SearchExact(std::span<const float> queries, size_t k,
                                            std::span<const uint64_t> ids,
                                            SearchStats* stats) const {
  if (!rep_->unusable.ok()) return rep_->unusable;
  if (Status s = CheckQueries(queries.size(), dimension_); !s.ok()) return s;
  const Rep& r = *rep_;
  const size_t n = queries.size() / dimension_;
  if (Status s = CheckK(n, k); !s.ok()) return s;
  if (r.kind == Kind::kFaiss) {
    return Status::FailedPrecondition("index \"" + spec_ +
                                      "\" keeps codes, not vectors: exact search over ids "
                                      "needs the stored vectors (ExactSearchRows)");
  }
  const faiss::IndexFlat* rows =
      r.kind == Kind::kFlat ? r.flat.get() : static_cast<const faiss::IndexFlat*>(r.hnsw->storage);
  std::vector<size_t> pos;
  pos.reserve(ids.size());
  for (uint64_t id : ids) {
    if (auto it = r.where.find(id); it != r.where.end()) pos.push_back(it->second);
  }
  std::sort(pos.begin(), pos.end());
  pos.erase(std::unique(pos.begin(), pos.end()), pos.end());
  std::vector<int64_t> labels(n * k, -1);
  std::vector<float> raw(n * k);
  try {
    ExactOverPositions(MetricFor(metric_), dimension_, pos, queries.data(), n, k,
                       CopyRow{rows->get_xb(), dimension_}, labels.data(), raw.data());
  } catch (const std::exception& e) {
    return Status::Internal(std::string("index exact search: ") + e.what());
  }
  SearchStats st;
  st.distances = n * pos.size();
  AddStats(st, stats);
  return ToNeighbours(metric_, n, k, labels.data(), raw.data(), r.ids.data());
}

Result<RangeResult> VectorIndex::RangeSearch(std::span<const float> queries, float threshold,
                                             size_t limit, const SearchParams& params,
                                             SearchStats* stats) const {
  if (!rep_->unusable.ok()) return rep_->unusable;
  if (Status s = CheckQueries(queries.size(), dimension_); !s.ok()) return s;
  if (std::isnan(threshold)) return Status::InvalidArgument("range search threshold is NaN");
  const Rep& r = *rep_;
  const size_t d = dimension_;
  const size_t n = queries.size() / d;
  const ScanMetric scan = MetricFor(metric_);
  const std::optional<float> bound = RangeBound(metric_, threshold);
  if (n == 0 || limit == 0 || !bound || r.where.empty() ||
      (params.allowed != nullptr && params.allowed->size() == 0)) {
    RangeResult empty;
    empty.offsets.assign(n + 1, 0);
    return empty;
  }
  SearchStats st;
  if (const faiss::IndexFlat* flat = r.exact()) {
    const float* rows = flat->get_xb();
    const size_t positions = r.ids.size();
    std::vector<std::vector<std::pair<float, int64_t>>> hits;
    try {
      const IdSet* allowed = params.allowed;
      if (allowed == nullptr) {
        ExactRangeSearch(scan, rows, positions, d, queries.data(), n, *bound, limit, hits);
        st.distances += n * positions;
      } else if (GatherAllowed(allowed->size(), positions, d, n)) {
        std::vector<size_t> pos;
        for (uint64_t id : allowed->Sorted()) {
          if (auto it = r.where.find(id); it != r.where.end()) pos.push_back(it->second);
        }
        std::sort(pos.begin(), pos.end());
        RangeOverPositions(scan, d, pos, queries.data(), n, *bound, limit, CopyRow{rows, d}, hits);
        st.distances += n * pos.size();
      } else {
        const IdsInSet in_set{r.ids.data(), allowed};
        ExactRangeSearch(scan, rows, positions, d, queries.data(), n, *bound, limit, hits,
                         RowFilter{&IdsInSet::Keep, &in_set});
        st.distances += n * positions;
      }
    } catch (const std::exception& e) {
      return Status::Internal(std::string("index range search: ") + e.what());
    }
    AddStats(st, stats);
    return ToRange(metric_, scan, threshold, hits, r.ids.data());
  }
  // A k-search, widened for the queries whose k-th hit is still in range.
  const size_t live =
      params.allowed ? std::min(r.where.size(), params.allowed->size()) : r.where.size();
  const size_t cap = std::min({limit, kMaxK, std::max<size_t>(live, 1)});
  size_t k = std::min<size_t>(cap, 64);
  std::vector<std::vector<std::tuple<int64_t, float, float>>> found(n);
  std::vector<size_t> pending(n);
  std::iota(pending.begin(), pending.end(), size_t{0});
  for (;;) {
    std::vector<size_t> next;
    // Search takes at most kMaxK x 64 neighbours at once.
    const size_t batch = std::max<size_t>(1, kMaxK / k * 64);
    for (size_t b0 = 0; b0 < pending.size(); b0 += batch) {
      const size_t m = std::min(batch, pending.size() - b0);
      std::vector<float> q(m * d);
      for (size_t i = 0; i < m; ++i) {
        std::memcpy(q.data() + i * d, queries.data() + pending[b0 + i] * d, d * sizeof(float));
      }
      RELATE_ASSIGN_OR_RETURN(Neighbours nb, Search(q, k, params, &st));
      for (size_t i = 0; i < m; ++i) {
        const size_t last = i * k + k - 1;
        if (nb.ids[last] >= 0 && InRange(metric_, threshold, nb.scores[last], nb.distances[last]) &&
            k < cap) {
          next.push_back(pending[b0 + i]);
          continue;
        }
        auto& out = found[pending[b0 + i]];
        for (size_t j = i * k; j < i * k + k && out.size() < limit; ++j) {
          if (nb.ids[j] >= 0 && InRange(metric_, threshold, nb.scores[j], nb.distances[j])) {
            out.emplace_back(nb.ids[j], nb.scores[j], nb.distances[j]);
          }
        }
      }
    }
    if (next.empty()) break;
    k = std::min(cap, k * 4);
    ++st.widenings;
    pending = std::move(next);
  }
  AddStats(st, stats);
  RangeResult out;
  out.offsets.push_back(0);
  for (const auto& list : found) {
    for (const auto& [id, score, distance] : list) {
      out.ids.push_back(id);
      out.scores.push_back(score);
      out.distances.push_back(distance);
    }
    out.offsets.push_back(out.ids.size());
  }
  return out;
}

Neighbours ExactSearchRows(Metric metric, uint32_t dimension, std::span<const float> rows,
                           std::span<const uint64_t> ids, std::span<const float> queries, size_t k,
                           SearchStats* stats) {
  const size_t d = std::max<size_t>(dimension, 1);
  assert(rows.size() == ids.size() * d);
  const size_t n_rows = std::min(rows.size() / d, ids.size());
  const size_t nq = queries.size() / d;
  const ScanMetric scan = MetricFor(metric);
  std::vector<int64_t> labels(nq * k, -1);
  std::vector<float> raw(nq * k);
  if (k > 0) {
    ExactSearch(scan, rows.data(), n_rows, d, queries.data(), nq, k, labels.data(), raw.data());
  }
  for (float& v : raw) v = RawFromScan(scan, v);
  if (stats != nullptr) stats->distances += nq * n_rows;
  return ToNeighbours(metric, nq, k, labels.data(), raw.data(), ids.data());
}

RangeResult RangeSearchRows(Metric metric, uint32_t dimension, std::span<const float> rows,
                            std::span<const uint64_t> ids, std::span<const float> queries,
                            float threshold, size_t limit, SearchStats* stats) {
  const size_t d = std::max<size_t>(dimension, 1);
  assert(rows.size() == ids.size() * d);
  const size_t n_rows = std::min(rows.size() / d, ids.size());
  const size_t nq = queries.size() / d;
  const ScanMetric scan = MetricFor(metric);
  const std::optional<float> bound = RangeBound(metric, threshold);
  std::vector<std::vector<std::pair<float, int64_t>>> hits(nq);
  if (bound && !std::isnan(threshold)) {
    ExactRangeSearch(scan, rows.data(), n_rows, d, queries.data(), nq, *bound, limit, hits);
    if (stats != nullptr) stats->distances += nq * n_rows;
  }
  return ToRange(metric, scan, threshold, hits, ids.data());
}

Result<std::vector<float>> VectorIndex::Reconstruct(uint64_t id) const {
  if (!rep_->unusable.ok()) return rep_->unusable;
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
  if (!r.unusable.ok()) return Status::OK();  // Load never reads a checkpoint of its spec
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
  // A spec this version refuses (an older one took it): nothing in the file is
  // usable, and the database must still open.
  if (Status bad = CheckSpec(dimension, spec); !bad.ok()) {
    Loaded out;
    out.index = Unusable(dimension, metric, spec, bad.message());
    return out;
  }
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
