// Kinds that keep codes, built and searched by FAISS (index_factory specs:
// IVF, IMI, PQ, SQ, LSH, HNSW over codes, after transforms). One that needs
// training holds its rows in an exact family (staging) and is searched
// exactly until Train moves them in. FAISS's labels are positions: IVF
// stores them and removes entries for real (holes); the other kinds number
// entries in the order they were added and keep removed ones as tombstones.
//
// Searches skip tombstones by asking FAISS for more (widening), and a
// filtered search hands FAISS a selector of the allowed live positions where
// the kind takes one, widening nprobe or efSearch until k are found.
#include <faiss/IVFlib.h>
#include <faiss/Index.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/IndexPQ.h>
#include <faiss/IndexPreTransform.h>
#include <faiss/IndexScalarQuantizer.h>
#include <faiss/impl/HNSW.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>
#include <faiss/invlists/InvertedLists.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <shared_mutex>
#include <vector>

#include "index/exact_family.h"
#include "index/family.h"
#include "index/hnsw.h"
#include "util/bitset.h"

namespace relate::index {
namespace {

using idx_t = faiss::Index::idx_t;

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

// Holds the efSearch lock (see CodeFamily::ef_mu_) through one FAISS HNSW
// search with efSearch `ef`: shared while the index already has that
// efSearch, else exclusively, setting it. Holds nothing for other kinds
// (null `hnsw`).
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
  AllowedSelector(const Positions& positions, const IdSet& allowed)
      : ids_(positions.ids.data()),
        n_(positions.ids.size()),
        dead_(positions.dead_bits()),
        allowed_(allowed) {}
  bool is_member(idx_t label) const override {
    if (label < 0 || static_cast<size_t>(label) >= n_) return false;
    const auto pos = static_cast<size_t>(label);
    if (dead_ != nullptr && util::TestBit(dead_, pos)) return false;
    return ids_[pos] != kNoId && allowed_.Contains(ids_[pos]);
  }

 private:
  const uint64_t* ids_;
  size_t n_;
  const uint64_t* dead_;
  const IdSet& allowed_;
};

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

// What a search looks through: the index, its pre-transform if any, and
// the index under it (`base`), which is IVF, HNSW or neither.
struct Layers {
  explicit Layers(faiss::Index* top) : index(top), base(top) {
    pre = dynamic_cast<faiss::IndexPreTransform*>(top);
    if (pre != nullptr) base = pre->index;
    ivf = dynamic_cast<faiss::IndexIVF*>(base);
    hnsw = dynamic_cast<faiss::IndexHNSW*>(base);
  }
  faiss::Index* index;
  faiss::Index* base;
  faiss::IndexPreTransform* pre = nullptr;
  faiss::IndexIVF* ivf = nullptr;
  faiss::IndexHNSW* hnsw = nullptr;
};

// The exact pass of a filtered search over codes: it scores the allowed
// vectors decoded in the space FAISS searches (after the pre-transform), so
// its values are the codes' distances.
class DecodedPass {
 public:
  DecodedPass(const Layers& layers, const SearchJob& job, AllowedPass& pass)
      : layers_(layers), job_(job), pass_(pass) {}
  // Answers the queries `which`.
  void Run(std::span<const size_t> which) {
    const faiss::Index* b = layers_.base;
    pass_.Exact(which, static_cast<size_t>(b->d), Queries(),
                [b](size_t p, float* out) { b->reconstruct(static_cast<idx_t>(p), out); });
  }

 private:
  // The queries moved through the pre-transform (once).
  const float* Queries() {
    if (layers_.pre == nullptr) return job_.queries;
    if (moved_.empty()) {
      const float* x = layers_.pre->apply_chain(static_cast<idx_t>(job_.n), job_.queries);
      moved_.assign(x, x + job_.n * static_cast<size_t>(layers_.base->d));
      if (x != job_.queries) delete[] x;
    }
    return moved_.data();
  }

  const Layers& layers_;
  const SearchJob& job_;
  AllowedPass& pass_;
  std::vector<float> moved_;
};

class CodeFamily final : public Family {
 public:
  CodeFamily(uint32_t dimension, Metric metric) : dimension_(dimension), metric_(metric) {}
  // Builds `spec` with FAISS's index_factory. InvalidArgument for inverted
  // lists that cannot remove vectors; throws what FAISS throws.
  Status Build(const std::string& spec, const BuildParams& build);

  Kind kind() const override { return Kind::kFaiss; }
  Removal removal() const override {
    return staging() ? Removal::kSwap : ivf_ ? Removal::kHole : Removal::kTombstone;
  }
  bool keeps_exact_vectors() const override { return false; }
  const float* rows() const override { return staging() ? staged_->rows() : nullptr; }
  const ExactFamily* scanned() const override { return staging() ? staged_.get() : nullptr; }
  bool needs_training() const override { return staging(); }
  size_t training_rows() const override;
  void Stats(IndexStats& stats) const override;

  void Train(size_t n, const float* vectors, size_t staged) override;
  void Reserve(size_t n) override {
    if (staging()) staged_->Reserve(n);
  }
  void Add(size_t first, size_t n, const float* vectors) override;
  void SwapRemove(size_t pos, size_t last) override { staged_->SwapRemove(pos, last); }
  void RemoveLabels(std::span<const int64_t> labels) override {
    faiss::IDSelectorBatch sel(labels.size(), labels.data());
    faiss_->remove_ids(sel);
  }

  void Search(const SearchJob& job) const override;
  void SearchAllowed(const SearchJob& job, AllowedPass& pass) const override;

  void Write(faiss::IOWriter* writer) const override;
  bool Read(faiss::IOReader* reader, uint32_t ef_construction, uint32_t flags) override;
  Status CheckLoaded(const Positions& positions) const override;
  const faiss::Index& held() const override { return staging() ? staged_->held() : *faiss_; }

 private:
  bool staging() const { return !faiss_->is_trained; }
  // The widening rounds of a filtered search through FAISS with a selector,
  // from efSearch `ef` and nprobe `nprobe`.
  void SearchSelected(const SearchJob& job, AllowedPass& pass, const Layers& layers,
                      DecodedPass& decoded, size_t ef, uint32_t nprobe) const;

  uint32_t dimension_;
  Metric metric_;
  std::unique_ptr<faiss::Index> faiss_;
  std::unique_ptr<ExactFamily> staged_;  // the rows held until Train
  bool ivf_ = false;     // FAISS removes entries for real (IVF keeps relate's labels)
  bool trains_ = false;  // created untrained
  // FAISS 1.7.3 takes efSearch partly from SearchParametersHNSW and partly
  // from the index (fixed upstream in 2024, PR #3233): a search with another
  // efSearch sets the index's under this lock held exclusively.
  mutable std::shared_mutex ef_mu_;
};

Status CodeFamily::Build(const std::string& spec, const BuildParams& build) {
  faiss_.reset(
      faiss::index_factory(static_cast<int>(dimension_), spec.c_str(), FaissMetric(metric_)));
  const faiss::IndexIVF* ivf = faiss::ivflib::try_extract_index_ivf(faiss_.get());
  if (ivf != nullptr && dynamic_cast<const faiss::ArrayInvertedLists*>(ivf->invlists) == nullptr) {
    return Status::InvalidArgument("index spec \"" + spec +
                                   "\": its inverted lists cannot remove vectors in FAISS "
                                   "1.7.3; use IVF<n>,Flat, SQ8 or PQ<m> codes");
  }
  ivf_ = faiss::ivflib::try_extract_index_ivf(faiss_.get()) != nullptr;
  if (auto* h = dynamic_cast<faiss::IndexHNSW*>(faiss_.get())) {
    h->hnsw.efConstruction = static_cast<int>(
        build.ef_construction ? build.ef_construction : VectorIndex::kDefaultEfConstruction);
  }
  trains_ = !faiss_->is_trained;
  if (!faiss_->is_trained) staged_ = std::make_unique<ExactFamily>(dimension_, metric_);
  return Status::OK();
}

size_t CodeFamily::training_rows() const {
  if (!staging()) return 0;
  // FAISS's k-means wants 39 points per centroid (and says so on stderr when
  // it gets fewer): IVF's coarse centroids, and PQ's 2^nbits per sub-quantizer.
  size_t centroids = 0;
  const faiss::Index* base = faiss_.get();
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

void CodeFamily::Stats(IndexStats& st) const {
  std::shared_lock ef_lock(ef_mu_);
  st.kind = "faiss";
  st.trained = !staging();
  st.trains = trains_;
  st.exact_vectors = false;
  if (staging()) {
    st.memory_bytes += staged_->bytes();
    return;
  }
  st.graph = dynamic_cast<const faiss::IndexHNSW*>(faiss_.get()) != nullptr;
  if (const faiss::IndexIVF* ivf = faiss::ivflib::try_extract_index_ivf(faiss_.get())) {
    st.nlist = ivf->nlist;
    st.memory_bytes += ivf->invlists->compute_ntotal() * (ivf->code_size + sizeof(int64_t)) +
                       static_cast<size_t>(ivf->quantizer->ntotal) * dimension_ * sizeof(float);
  } else if (auto* h = dynamic_cast<const faiss::IndexHNSW*>(faiss_.get())) {
    const auto* codes = dynamic_cast<const faiss::IndexFlatCodes*>(h->storage);
    st.memory_bytes +=
        (codes ? codes->codes.size() : 0) + h->hnsw.neighbors.size() * sizeof(int32_t) +
        h->hnsw.offsets.size() * sizeof(size_t) + h->hnsw.levels.size() * sizeof(int);
  } else if (auto* codes = dynamic_cast<const faiss::IndexFlatCodes*>(faiss_.get())) {
    st.memory_bytes += codes->codes.size();
  }
}

void CodeFamily::Train(size_t n, const float* vectors, size_t staged) {
  faiss_->train(static_cast<idx_t>(n), vectors);
  if (staged > 0) {
    if (ivf_) {
      std::vector<idx_t> labels(staged);
      for (size_t i = 0; i < staged; ++i) labels[i] = Label(i);
      faiss_->add_with_ids(static_cast<idx_t>(staged), staged_->rows(), labels.data());
    } else {
      faiss_->add(static_cast<idx_t>(staged), staged_->rows());
    }
  }
  staged_.reset();
}

void CodeFamily::Add(size_t first, size_t n, const float* vectors) {
  if (staging()) {
    staged_->Add(first, n, vectors);
  } else if (ivf_) {
    std::vector<idx_t> labels(n);
    for (size_t i = 0; i < n; ++i) labels[i] = Label(first + i);
    faiss_->add_with_ids(static_cast<idx_t>(n), vectors, labels.data());
  } else {
    faiss_->add(static_cast<idx_t>(n), vectors);
  }
}

void CodeFamily::Search(const SearchJob& job) const {
  if (staging()) {
    staged_->Search(job);
    return;
  }
  // FAISS's own search. Tombstones are filtered out of a wider search,
  // widened until k live ones are found or everything was asked for.
  const size_t n = job.n, k = job.k;
  const SearchParams& params = job.params;
  SearchStats& st = job.stats;
  FaissParams fp;
  const Layers layers(faiss_.get());
  const uint32_t nprobe = params.nprobe ? params.nprobe : VectorIndex::kDefaultNprobe;
  const auto total = static_cast<size_t>(faiss_->ntotal);
  size_t want = job.positions.dead_count ? std::min(total, 2 * k + 16) : k;
  for (;;) {
    want = std::max(want, k);
    const int ef = static_cast<int>(std::max<size_t>(
        params.ef_search ? params.ef_search : VectorIndex::kDefaultEfSearch, want));
    EfLock ef_lock(ef_mu_, layers.hnsw, ef);
    std::vector<int64_t> got(n * want);
    std::vector<float> got_raw(n * want);
    faiss_->search(static_cast<idx_t>(n), job.queries, static_cast<idx_t>(want), got_raw.data(),
                   got.data(), fp.Make(faiss_.get(), nprobe, ef, nullptr));
    st.distances += FaissDistances(layers.base, n, nprobe, ef);
    if (layers.hnsw != nullptr) st.ef_search = static_cast<uint32_t>(ef);
    if (layers.ivf != nullptr) st.nprobe = nprobe;
    bool short_of_k = false;
    for (size_t i = 0; i < n; ++i) {
      size_t filled = 0, returned = 0;
      for (size_t j = 0; j < want && filled < k; ++j) {
        const int64_t label = got[i * want + j];
        if (label < 0) continue;
        ++returned;
        if (job.positions.IsDead(static_cast<size_t>(label))) continue;
        job.labels[i * k + filled] = label;
        job.raw[i * k + filled] = got_raw[i * want + j];
        ++filled;
      }
      if (filled < k && returned == want) short_of_k = true;
    }
    if (!short_of_k || want >= total) break;
    want = std::min(total, want * 4);
    ++st.widenings;
  }
}

void CodeFamily::SearchAllowed(const SearchJob& job, AllowedPass& pass) const {
  if (staging()) {
    staged_->SearchAllowed(job, pass);
    return;
  }
  const Layers layers(faiss_.get());
  DecodedPass decoded(layers, job, pass);
  const bool takes_selector = layers.ivf != nullptr || layers.hnsw != nullptr ||
                              dynamic_cast<faiss::IndexScalarQuantizer*>(layers.base) != nullptr ||
                              dynamic_cast<faiss::IndexFlat*>(layers.base) != nullptr;
  if (!takes_selector) {
    // Flat codes whose FAISS search takes no selector (PQ): every allowed
    // vector decoded and scored, which is what an exhaustive search costs.
    decoded.Run(pass.Every());
    return;
  }
  const size_t ef = job.ef();
  uint32_t nprobe = job.params.nprobe ? job.params.nprobe : VectorIndex::kDefaultNprobe;
  if (layers.hnsw != nullptr && (pass.few() || pass.ExactCheaper(pass.allowed().size(), ef)) &&
      pass.ExactCheaper(pass.positions().size(), ef)) {
    decoded.Run(pass.Every());
    return;
  }
  if (layers.ivf != nullptr) {
    // Probing p of nlist lists meets about p / nlist of the allowed ids: start
    // where that is 2k.
    const size_t nlist = std::max<size_t>(layers.ivf->nlist, 1);
    const size_t live = job.positions.where.size();
    const double start = 2.0 * static_cast<double>(job.k) * static_cast<double>(nlist) /
                         static_cast<double>(std::min(pass.allowed().size(), live));
    nprobe = static_cast<uint32_t>(
        std::min<double>(static_cast<double>(nlist), std::max<double>(nprobe, std::ceil(start))));
  }
  SearchSelected(job, pass, layers, decoded, ef, nprobe);
}

void CodeFamily::SearchSelected(const SearchJob& job, AllowedPass& pass, const Layers& layers,
                                DecodedPass& decoded, size_t ef, uint32_t nprobe) const {
  const size_t d = job.d, k = job.k;
  SearchStats& st = job.stats;
  AllowedSelector sel(job.positions, pass.allowed());
  faiss::Index* index = layers.index;
  const auto total = static_cast<size_t>(index->ntotal);
  std::vector<size_t> pending = pass.Every();
  for (;;) {
    const size_t m = pending.size();
    std::vector<float> q(m * d);
    for (size_t i = 0; i < m; ++i) {
      std::memcpy(q.data() + i * d, job.queries + pending[i] * d, d * sizeof(float));
    }
    std::vector<int64_t> got(m * k);
    std::vector<float> got_raw(m * k);
    {
      FaissParams fp;
      EfLock ef_lock(ef_mu_, layers.hnsw, static_cast<int>(ef));
      index->search(static_cast<idx_t>(m), q.data(), static_cast<idx_t>(k), got_raw.data(),
                    got.data(), fp.Make(index, nprobe, static_cast<int>(ef), &sel));
    }
    st.distances += FaissDistances(layers.base, m, nprobe, static_cast<int>(ef));
    if (layers.hnsw != nullptr) st.ef_search = std::max(st.ef_search, static_cast<uint32_t>(ef));
    if (layers.ivf != nullptr) st.nprobe = std::max(st.nprobe, nprobe);
    std::vector<size_t> next;
    for (size_t i = 0; i < m; ++i) {
      std::copy_n(got.data() + i * k, k, job.labels + pending[i] * k);
      std::copy_n(got_raw.data() + i * k, k, job.raw + pending[i] * k);
      if (got[i * k + k - 1] < 0) next.push_back(pending[i]);
    }
    if (next.empty()) break;
    if (layers.ivf != nullptr && nprobe < layers.ivf->nlist) {
      nprobe = static_cast<uint32_t>(std::min<size_t>(layers.ivf->nlist, size_t{nprobe} * 4));
    } else if (layers.hnsw != nullptr && ef < total) {
      ef = std::max(k, std::min(total, ef * 4));
    } else {
      // IVF at nprobe = nlist and flat codes searched every entry: nothing
      // more exists. FAISS's HNSW walk stops early even at efSearch = every
      // vector: an exact pass completes it.
      if (layers.hnsw != nullptr) {
        const std::vector<size_t> rest = pass.StillShort(next);
        if (!rest.empty()) decoded.Run(rest);
      }
      break;
    }
    ++st.widenings;
    pending = std::move(next);
  }
}

void CodeFamily::Write(faiss::IOWriter* writer) const {
  // FAISS-run HNSW searches may set efSearch meanwhile (see ef_mu_).
  std::shared_lock ef_lock(ef_mu_);
  faiss::write_index(faiss_.get(), writer);
  if (staging()) staged_->Write(writer);
}

bool CodeFamily::Read(faiss::IOReader* reader, uint32_t /*ef_construction*/, uint32_t flags) {
  faiss_.reset(faiss::read_index(reader));
  ivf_ = faiss::ivflib::try_extract_index_ivf(faiss_.get()) != nullptr;
  if ((flags & 1) != 0) {
    staged_ = std::make_unique<ExactFamily>(dimension_, metric_);
    return staged_->Read(reader, 0, 0) && !faiss_->is_trained;
  }
  staged_.reset();
  return faiss_->is_trained;
}

Status CodeFamily::CheckLoaded(const Positions& positions) const {
  if (staging()) return Status::OK();
  const faiss::Index* base = faiss_.get();
  if (auto* t = dynamic_cast<const faiss::IndexPreTransform*>(base)) base = t->index;
  if (auto* h = dynamic_cast<const faiss::IndexHNSW*>(base)) {
    return CheckGraph(h->hnsw, static_cast<size_t>(h->ntotal));
  }
  if (auto* ivf = dynamic_cast<const faiss::IndexIVF*>(base)) {
    // IVF hands back the labels it stores: positions relate gave it.
    const size_t count = positions.ids.size();
    for (size_t list = 0; list < ivf->nlist; ++list) {
      const size_t size = ivf->invlists->list_size(list);
      faiss::InvertedLists::ScopedIds ids(ivf->invlists, list);
      for (size_t j = 0; j < size; ++j) {
        if (ids[j] < 0 || static_cast<size_t>(ids[j]) >= count ||
            positions.ids[static_cast<size_t>(ids[j])] == kNoId) {
          return Status::Corruption("its inverted list " + std::to_string(list) +
                                    " holds an unknown label " + std::to_string(ids[j]));
        }
      }
    }
  }
  return Status::OK();
}

}  // namespace

Result<std::unique_ptr<Family>> MakeCodeFamily(uint32_t dimension, Metric metric,
                                               const std::string& spec, const BuildParams& build) {
  auto family = std::make_unique<CodeFamily>(dimension, metric);
  if (Status s = family->Build(spec, build); !s.ok()) return s;
  return std::unique_ptr<Family>(std::move(family));
}

}  // namespace relate::index
