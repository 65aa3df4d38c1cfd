// The hnswlib anchor; compiled into its own shared library with -O3 -march=native and
// hidden visibility (see hnswlib_engine.h). hnswlib's headers define non-inline
// functions (cpuid, AVXCapable, ...), so they are included in this file only.
#include "bench/hnswlib_engine.h"

#include <hnswlib/hnswlib.h>

#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#ifndef RELATE_BENCH_HNSWLIB_FLAGS
#define RELATE_BENCH_HNSWLIB_FLAGS "unknown"
#endif

namespace relate::bench {
namespace {

class HnswlibIndexImpl final : public HnswlibIndex {
 public:
  HnswlibIndexImpl(uint32_t dimension, size_t capacity, size_t m, size_t ef_construction,
                   uint64_t seed)
      : space_(dimension),
        dimension_(dimension),
        graph_(&space_, capacity, m, ef_construction, static_cast<size_t>(seed)) {}

  std::string Add(const float* vectors, size_t n, uint64_t first_label, unsigned threads) override {
    std::atomic<size_t> next{0};
    std::exception_ptr failure;
    std::mutex failure_mu;
    auto worker = [&] {
      for (;;) {
        const size_t row = next.fetch_add(1, std::memory_order_relaxed);
        if (row >= n) return;
        try {
          graph_.addPoint(vectors + row * dimension_, first_label + row);
        } catch (...) {
          std::lock_guard<std::mutex> lock(failure_mu);
          if (!failure) failure = std::current_exception();
          next.store(n, std::memory_order_relaxed);
          return;
        }
      }
    };
    if (threads <= 1) {
      worker();
    } else {
      std::vector<std::thread> pool;
      pool.reserve(threads);
      for (unsigned t = 0; t < threads; ++t) pool.emplace_back(worker);
      for (auto& t : pool) t.join();
    }
    if (!failure) return "";
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      return e.what();
    } catch (...) {
      return "unknown exception";
    }
  }

  void SetEf(size_t ef) override { graph_.setEf(ef); }

  void Search(const float* query, size_t k, int64_t* labels) const override {
    auto result = graph_.searchKnn(query, k);
    // searchKnn's queue pops the worst first.
    for (size_t i = result.size(); i < k; ++i) labels[i] = -1;
    while (!result.empty()) {
      labels[result.size() - 1] = static_cast<int64_t>(result.top().second);
      result.pop();
    }
  }

  size_t size() const override { return graph_.cur_element_count; }

 private:
  hnswlib::InnerProductSpace space_;
  size_t dimension_;
  hnswlib::HierarchicalNSW<float> graph_;
};

}  // namespace

std::unique_ptr<HnswlibIndex> HnswlibIndex::Create(uint32_t dimension, size_t capacity, size_t m,
                                                   size_t ef_construction, uint64_t seed,
                                                   std::string* error) {
  try {
    return std::make_unique<HnswlibIndexImpl>(dimension, capacity, m, ef_construction, seed);
  } catch (const std::exception& e) {
    if (error != nullptr) *error = e.what();
    return nullptr;
  }
}

std::string HnswlibIndex::SimdLevel() {
#if defined(USE_AVX512)
  return "AVX512";
#elif defined(USE_AVX)
  return "AVX";
#elif defined(USE_SSE)
  return "SSE";
#else
  return "none";
#endif
}

std::string HnswlibIndex::CompileFlags() { return RELATE_BENCH_HNSWLIB_FLAGS; }

HnswlibIndex::~HnswlibIndex() = default;

}  // namespace relate::bench
