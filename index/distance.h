// Distance kernels with runtime CPU dispatch: one binary, built for baseline
// x86-64 like Debian's FAISS, that runs AVX-512 or AVX2+FMA code where the CPU
// has it. The level is chosen once, at first use, from what the CPU reports.
//
// Every level computes the same sums in a different order, so results agree
// with the scalar kernel to within float rounding, not bit for bit.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace relate::index {

enum class SimdLevel {
  kScalar,  // plain C++, any x86-64 (and any other CPU)
  kAvx2,    // AVX2 with FMA (x86-64-v3)
  kAvx512,  // AVX-512 F (x86-64-v4)
};

std::string_view SimdLevelName(SimdLevel level);

// The levels this CPU can run, kScalar first.
std::vector<SimdLevel> SupportedSimdLevels();

// The kernels of one level. Pointers, so a hot loop calls them without a
// second dispatch. `d` may be any size, 0 included.
struct DistanceKernels {
  SimdLevel level;
  // sum a[i] * b[i]
  float (*inner_product)(const float* a, const float* b, size_t d);
  // sum (a[i] - b[i])^2
  float (*l2_squared)(const float* a, const float* b, size_t d);
  // out[j] = inner_product(query, rows + j * d, d) for j < n: one query
  // against n contiguous rows, the inner loop of an exact scan.
  void (*inner_products)(const float* query, const float* rows, size_t n, size_t d, float* out);
};

// The kernels of `level`; a level the CPU cannot run falls back to kScalar
// (check SupportedSimdLevels first when the level matters).
const DistanceKernels& KernelsFor(SimdLevel level);

// The kernels of the highest level this CPU runs (or the level named by the
// environment variable RELATE_SIMD: scalar, avx2 or avx512), chosen at the first call.
const DistanceKernels& BestKernels();

// The fastest kernels for rows of `d` values on this CPU, measured at the
// first call for each d (well under a millisecond): wider is not always
// faster (AMD's Zen 4 runs AVX-512 at AVX2's width, and a 512-bit load of a
// row that starts mid-cache-line splits more often). RELATE_SIMD overrides.
const DistanceKernels& KernelsForDimension(size_t d);

}  // namespace relate::index
