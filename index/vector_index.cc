#include "index/vector_index.h"

#include <faiss/Index.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexFlatCodes.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/impl/AuxIndexStructures.h>
#include <faiss/impl/FaissException.h>
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
#include <fstream>

namespace relate::index {
namespace {

using idx_t = faiss::Index::idx_t;

// Checkpoint layout, little-endian:
//   header  magic "RLXCKPT1" | u32 collection id | u32 dimension | u32 metric | u32 0 |
//           u64 last change
//   payload faiss::write_index of the IndexIDMap2
//   trailer u64 payload size | u64 XXH64 of everything before it
constexpr char kMagic[8] = {'R', 'L', 'X', 'C', 'K', 'P', 'T', '1'};
constexpr size_t kHeaderSize = 32;
constexpr size_t kTrailerSize = 16;

faiss::MetricType FaissMetric(Metric m) {
  return m == Metric::kL2 ? faiss::METRIC_L2 : faiss::METRIC_INNER_PRODUCT;
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

// Reads FAISS's serialisation from memory already checked.
class SpanReader : public faiss::IOReader {
 public:
  explicit SpanReader(std::span<const char> data) : data_(data) {}
  size_t operator()(void* ptr, size_t size, size_t nitems) override {
    if (size == 0) return nitems;
    size_t n = std::min(nitems, (data_.size() - pos_) / size);
    std::memcpy(ptr, data_.data() + pos_, n * size);
    pos_ += n * size;
    return n;
  }

 private:
  std::span<const char> data_;
  size_t pos_ = 0;
};

Status Errno(const std::string& what) {
  return Status::IOError(what + ": " + std::strerror(errno));
}

}  // namespace

struct VectorIndex::Rep {
  std::unique_ptr<faiss::IndexIDMap2> map;  // owns the inner index
  faiss::Index* inner() const { return map->index; }
};

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

std::string VectorIndex::ResolveSpec(std::string_view spec) {
  return spec == "auto" || spec.empty() ? std::string("Flat") : std::string(spec);
}

VectorIndex::VectorIndex(std::unique_ptr<Rep> rep, uint32_t dimension, Metric metric,
                         std::string spec)
    : rep_(std::move(rep)), dimension_(dimension), metric_(metric), spec_(std::move(spec)) {}

VectorIndex::~VectorIndex() = default;

Result<std::unique_ptr<VectorIndex>> VectorIndex::Create(uint32_t dimension, Metric metric,
                                                         std::string_view spec) {
  std::string resolved = ResolveSpec(spec);
  if (resolved.rfind("IDMap", 0) == 0) {
    return Status::InvalidArgument("index spec \"" + resolved +
                                   "\": leave out IDMap, relate maps ids itself");
  }
  std::unique_ptr<faiss::Index> inner;
  try {
    inner.reset(
        faiss::index_factory(static_cast<int>(dimension), resolved.c_str(), FaissMetric(metric)));
  } catch (const faiss::FaissException& e) {
    return Status::InvalidArgument("index spec \"" + resolved +
                                   "\" is not one FAISS can build: " + e.msg);
  } catch (const std::exception& e) {
    return Status::InvalidArgument("index spec \"" + resolved + "\": " + e.what());
  }
  if (!inner->is_trained) {
    return Status::InvalidArgument("index spec \"" + resolved +
                                   "\" needs training, which relate does not do yet; use Flat, "
                                   "HNSW<M> or another spec that needs none");
  }
  auto rep = std::make_unique<Rep>();
  rep->map = std::make_unique<faiss::IndexIDMap2>(inner.release());
  rep->map->own_fields = true;
  return std::unique_ptr<VectorIndex>(
      new VectorIndex(std::move(rep), dimension, metric, std::move(resolved)));
}

size_t VectorIndex::size() const { return static_cast<size_t>(rep_->map->ntotal); }

bool VectorIndex::supports_remove() const {
  return dynamic_cast<const faiss::IndexFlatCodes*>(rep_->inner()) != nullptr;
}

bool VectorIndex::keeps_exact_vectors() const {
  return dynamic_cast<const faiss::IndexFlat*>(rep_->inner()) != nullptr ||
         dynamic_cast<const faiss::IndexHNSWFlat*>(rep_->inner()) != nullptr;
}

bool VectorIndex::Contains(uint64_t id) const {
  return rep_->map->rev_map.count(static_cast<idx_t>(id)) != 0;
}

Status VectorIndex::Add(std::span<const uint64_t> ids, std::span<const float> vectors) {
  if (vectors.size() != ids.size() * dimension_) {
    return Status::Internal("index add: " + std::to_string(vectors.size()) + " values for " +
                            std::to_string(ids.size()) + " ids");
  }
  if (ids.empty()) return Status::OK();
  static_assert(sizeof(idx_t) == sizeof(uint64_t));
  try {
    rep_->map->add_with_ids(static_cast<idx_t>(ids.size()), vectors.data(),
                            reinterpret_cast<const idx_t*>(ids.data()));
  } catch (const faiss::FaissException& e) {
    return Status::Internal("index add: " + e.msg);
  }
  return Status::OK();
}

Result<size_t> VectorIndex::Remove(std::span<const uint64_t> ids) {
  if (ids.empty()) return size_t{0};
  if (!supports_remove()) {
    return Status::FailedPrecondition("index \"" + spec_ + "\" cannot remove vectors");
  }
  try {
    faiss::IDSelectorBatch sel(static_cast<size_t>(ids.size()),
                               reinterpret_cast<const idx_t*>(ids.data()));
    return rep_->map->remove_ids(sel);
  } catch (const faiss::FaissException& e) {
    return Status::Internal("index remove: " + e.msg);
  }
}

Result<Neighbours> VectorIndex::Search(std::span<const float> queries, size_t k) const {
  if (dimension_ == 0 || queries.size() % dimension_ != 0) {
    return Status::InvalidArgument("queries hold " + std::to_string(queries.size()) +
                                   " values, not a multiple of the dimension " +
                                   std::to_string(dimension_));
  }
  const size_t n = queries.size() / dimension_;
  Neighbours out;
  out.k = k;
  out.ids.assign(n * k, -1);
  out.distances.resize(n * k);
  if (n == 0 || k == 0) return out;
  try {
    // The inner index, not IndexIDMap2::search: FAISS 1.7.3 translates ids there in
    // an OpenMP loop that wakes a second thread to map ten ids of one query.
    rep_->inner()->search(static_cast<idx_t>(n), queries.data(), static_cast<idx_t>(k),
                          out.distances.data(), out.ids.data());
  } catch (const faiss::FaissException& e) {
    return Status::Internal("index search: " + e.msg);
  }
  const std::vector<idx_t>& id_map = rep_->map->id_map;
  for (auto& id : out.ids) {
    if (id >= 0) id = id_map[static_cast<size_t>(id)];
  }
  out.scores.resize(n * k);
  for (size_t i = 0; i < n * k; ++i) {
    float raw = out.distances[i];
    switch (metric_) {
      case Metric::kCosine:
        out.scores[i] = raw;
        out.distances[i] = 1.0f - raw;
        break;
      case Metric::kInnerProduct:
        out.scores[i] = raw;
        out.distances[i] = -raw;
        break;
      case Metric::kL2:
        out.distances[i] = std::sqrt(std::max(raw, 0.0f));
        out.scores[i] = out.distances[i];
        break;
    }
  }
  return out;
}

Result<std::vector<float>> VectorIndex::Reconstruct(uint64_t id) const {
  if (!Contains(id)) return Status::NotFound("id " + std::to_string(id) + " is not in the index");
  std::vector<float> v(dimension_);
  try {
    rep_->map->reconstruct(static_cast<idx_t>(id), v.data());
  } catch (const faiss::FaissException& e) {
    return Status::FailedPrecondition("index \"" + spec_ + "\" cannot return vectors: " + e.msg);
  }
  return v;
}

std::vector<uint64_t> VectorIndex::Ids() const {
  return std::vector<uint64_t>(rep_->map->id_map.begin(), rep_->map->id_map.end());
}

Status VectorIndex::Save(const std::filesystem::path& path, uint32_t collection_id,
                         uint64_t last_change) const {
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
  Put64(header + 24, last_change);
  Status status;
  if (!w.Write(header, kHeaderSize)) status = Errno("writing " + tmp.string());
  if (status.ok()) {
    try {
      faiss::write_index(rep_->map.get(), &w);
    } catch (const faiss::FaissException& e) {
      status = w.failed() ? Errno("writing " + tmp.string())
                          : Status::Internal("serialising index: " + e.msg);
    }
  }
  if (status.ok()) {
    char trailer[kTrailerSize];
    Put64(trailer, w.written());  // counts only what FAISS wrote
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
                                              Metric metric, std::string_view spec) {
  std::vector<char> data;
  {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
      return Status::NotFound(path.string() + " does not exist");
    }
    const auto size = std::filesystem::file_size(path, ec);
    if (ec) return Status::IOError("reading " + path.string() + ": " + ec.message());
    std::ifstream in(path, std::ios::binary);
    data.resize(size);
    if (!in.read(data.data(), static_cast<std::streamsize>(size))) {
      return Errno("reading " + path.string());
    }
  }
  const std::string where = "index checkpoint " + path.string();
  if (data.size() < kHeaderSize + kTrailerSize) {
    return Status::Corruption(where + " is truncated (" + std::to_string(data.size()) + " bytes)");
  }
  if (std::memcmp(data.data(), kMagic, 8) != 0) {
    return Status::Corruption(where + " is not a relate checkpoint");
  }
  const char* trailer = data.data() + data.size() - kTrailerSize;
  uint64_t payload_size = Get64(trailer);
  if (payload_size != data.size() - kHeaderSize - kTrailerSize) {
    return Status::Corruption(where + " is truncated: it says " + std::to_string(payload_size) +
                              " bytes of index, it has " +
                              std::to_string(data.size() - kHeaderSize - kTrailerSize));
  }
  if (XXH64(data.data(), data.size() - 8, 0) != Get64(trailer + 8)) {
    return Status::Corruption(where + " fails its checksum");
  }
  if (Get32(data.data() + 8) != collection_id || Get32(data.data() + 12) != dimension ||
      Get32(data.data() + 16) != static_cast<uint32_t>(metric)) {
    return Status::Corruption(where + " belongs to another collection or shape");
  }
  Loaded out;
  out.last_change = Get64(data.data() + 24);
  std::unique_ptr<faiss::Index> read;
  try {
    SpanReader reader(std::span<const char>(data.data() + kHeaderSize, payload_size));
    read.reset(faiss::read_index(&reader));
  } catch (const faiss::FaissException& e) {
    return Status::Corruption(where + ": FAISS cannot read it: " + e.msg);
  }
  auto* map = dynamic_cast<faiss::IndexIDMap2*>(read.get());
  if (map == nullptr || map->d != static_cast<idx_t>(dimension) ||
      map->metric_type != FaissMetric(metric)) {
    return Status::Corruption(where + " holds an index of another kind");
  }
  auto rep = std::make_unique<Rep>();
  rep->map.reset(map);
  (void)read.release();  // now owned by rep->map
  out.index = std::unique_ptr<VectorIndex>(
      new VectorIndex(std::move(rep), dimension, metric, ResolveSpec(spec)));
  return out;
}

}  // namespace relate::index
