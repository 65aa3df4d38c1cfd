// hnswlib as a benchmark anchor, behind an interface that names no hnswlib type.
//
// hnswlib is header-only and is meant to be compiled with -O3 -march=native, while
// relate and FAISS are not. So it lives in its own shared library
// (relate_bench_hnswlib) built with those flags and hidden visibility: only what
// this header declares is exported, and the inline code hnswlib instantiates (its
// own and the standard library's) stays inside the library, where it cannot clash
// with the same inline functions compiled with other flags elsewhere in the
// program. Keep this header free of inline function bodies for the same reason.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#define RELATE_BENCH_HNSWLIB_API __attribute__((visibility("default")))

namespace relate::bench {

// An hnswlib::HierarchicalNSW<float> over hnswlib::InnerProductSpace.
// Thread-safety: Add may run from several threads at once (it does so itself);
// SetEf and Search must not run concurrently with anything else.
class RELATE_BENCH_HNSWLIB_API HnswlibIndex {
 public:
  // An empty index for up to `capacity` vectors of `dimension` floats, with M = `m`
  // and efConstruction = `ef_construction`; `seed` drives its level generator.
  // Returns null and sets `error` if hnswlib throws (out of memory).
  static std::unique_ptr<HnswlibIndex> Create(uint32_t dimension, size_t capacity, size_t m,
                                              size_t ef_construction, uint64_t seed,
                                              std::string* error);
  // The SIMD instruction set hnswlib's distance code was compiled for ("AVX512",
  // "AVX", "SSE" or "none"), and the compiler flags of the library.
  static std::string SimdLevel();
  static std::string CompileFlags();

  virtual ~HnswlibIndex();

  // Adds `n` vectors laid end to end under labels first_label, first_label + 1, ...,
  // from `threads` threads taking rows off an atomic counter (the ParallelFor of
  // hnswlib's Python bindings). Returns "" or what hnswlib threw.
  virtual std::string Add(const float* vectors, size_t n, uint64_t first_label,
                          unsigned threads) = 0;
  // Candidates kept while searching: hnswlib's setEf.
  virtual void SetEf(size_t ef) = 0;
  // The `k` nearest labels of one query, best first, into `labels`; -1 fills slots
  // hnswlib left empty.
  virtual void Search(const float* query, size_t k, int64_t* labels) const = 0;
  virtual size_t size() const = 0;
};

}  // namespace relate::bench
