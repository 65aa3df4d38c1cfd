#include "index/distance.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace relate::index {
namespace {

float InnerProductScalar(const float* a, const float* b, size_t d) {
  float s = 0;
  for (size_t i = 0; i < d; ++i) s += a[i] * b[i];
  return s;
}

float L2SquaredScalar(const float* a, const float* b, size_t d) {
  float s = 0;
  for (size_t i = 0; i < d; ++i) {
    const float t = a[i] - b[i];
    s += t * t;
  }
  return s;
}

void InnerProductsScalar(const float* q, const float* rows, size_t n, size_t d, float* out) {
  for (size_t j = 0; j < n; ++j) out[j] = InnerProductScalar(q, rows + j * d, d);
}

#if defined(__x86_64__)

// AVX2 + FMA: four 8-wide accumulators hide the FMA latency; the tail is scalar.
__attribute__((target("avx2,fma"))) float HorizontalSum(__m256 v) {
  const __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
  __m128 s = _mm_add_ps(lo, hi);
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

__attribute__((target("avx2,fma"))) float InnerProductAvx2(const float* a, const float* b,
                                                           size_t d) {
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  size_t i = 0;
  for (; i + 32 <= d; i += 32) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
    s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
  }
  for (; i + 8 <= d; i += 8) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
  }
  float s = HorizontalSum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  for (; i < d; ++i) s += a[i] * b[i];
  return s;
}

__attribute__((target("avx2,fma"))) float L2SquaredAvx2(const float* a, const float* b, size_t d) {
  __m256 s0 = _mm256_setzero_ps(), s1 = s0;
  size_t i = 0;
  for (; i + 16 <= d; i += 16) {
    const __m256 t0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    const __m256 t1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
    s0 = _mm256_fmadd_ps(t0, t0, s0);
    s1 = _mm256_fmadd_ps(t1, t1, s1);
  }
  for (; i + 8 <= d; i += 8) {
    const __m256 t = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    s0 = _mm256_fmadd_ps(t, t, s0);
  }
  float s = HorizontalSum(_mm256_add_ps(s0, s1));
  for (; i < d; ++i) {
    const float t = a[i] - b[i];
    s += t * t;
  }
  return s;
}

__attribute__((target("avx2,fma"))) void InnerProductsAvx2(const float* q, const float* rows,
                                                           size_t n, size_t d, float* out) {
  for (size_t j = 0; j < n; ++j) out[j] = InnerProductAvx2(q, rows + j * d, d);
}

// AVX-512: 16-wide, the tail under a mask, so no scalar loop.
// g++ 12 warns inside its own header for _mm512_reduce_add_ps (GCC bug 105593).
#if !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
__attribute__((target("avx512f"))) inline float HorizontalSum512(__m512 v) {
  return _mm512_reduce_add_ps(v);
}
#if !defined(__clang__)
#pragma GCC diagnostic pop
#endif

__attribute__((target("avx512f"))) float InnerProductAvx512(const float* a, const float* b,
                                                            size_t d) {
  __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  size_t i = 0;
  for (; i + 64 <= d; i += 64) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
    s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), s2);
    s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), s3);
  }
  for (; i + 16 <= d; i += 16) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
  }
  if (i < d) {
    const __mmask16 m = static_cast<__mmask16>((1u << (d - i)) - 1);
    s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s1);
  }
  return HorizontalSum512(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

__attribute__((target("avx512f"))) float L2SquaredAvx512(const float* a, const float* b, size_t d) {
  __m512 s0 = _mm512_setzero_ps(), s1 = s0;
  size_t i = 0;
  for (; i + 32 <= d; i += 32) {
    const __m512 t0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
    const __m512 t1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
    s0 = _mm512_fmadd_ps(t0, t0, s0);
    s1 = _mm512_fmadd_ps(t1, t1, s1);
  }
  for (; i + 16 <= d; i += 16) {
    const __m512 t = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
    s0 = _mm512_fmadd_ps(t, t, s0);
  }
  if (i < d) {
    const __mmask16 m = static_cast<__mmask16>((1u << (d - i)) - 1);
    const __m512 t =
        _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i));
    s1 = _mm512_fmadd_ps(t, t, s1);
  }
  return HorizontalSum512(_mm512_add_ps(s0, s1));
}

__attribute__((target("avx512f"))) void InnerProductsAvx512(const float* q, const float* rows,
                                                            size_t n, size_t d, float* out) {
  for (size_t j = 0; j < n; ++j) out[j] = InnerProductAvx512(q, rows + j * d, d);
}

#endif  // __x86_64__

constexpr DistanceKernels kScalarKernels{SimdLevel::kScalar, InnerProductScalar, L2SquaredScalar,
                                         InnerProductsScalar};
#if defined(__x86_64__)
constexpr DistanceKernels kAvx2Kernels{SimdLevel::kAvx2, InnerProductAvx2, L2SquaredAvx2,
                                       InnerProductsAvx2};
constexpr DistanceKernels kAvx512Kernels{SimdLevel::kAvx512, InnerProductAvx512, L2SquaredAvx512,
                                         InnerProductsAvx512};
#endif

bool Supported(SimdLevel level) {
  switch (level) {
    case SimdLevel::kScalar:
      return true;
#if defined(__x86_64__)
    case SimdLevel::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case SimdLevel::kAvx512:
      return __builtin_cpu_supports("avx512f");
#else
    default:
      return false;
#endif
  }
  return false;
}

}  // namespace

std::string_view SimdLevelName(SimdLevel level) {
  switch (level) {
    case SimdLevel::kScalar:
      return "scalar";
    case SimdLevel::kAvx2:
      return "avx2";
    case SimdLevel::kAvx512:
      return "avx512";
  }
  return "unknown";
}

std::vector<SimdLevel> SupportedSimdLevels() {
  std::vector<SimdLevel> out;
  for (SimdLevel level : {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    if (Supported(level)) out.push_back(level);
  }
  return out;
}

const DistanceKernels& KernelsFor(SimdLevel level) {
#if defined(__x86_64__)
  if (level == SimdLevel::kAvx512 && Supported(level)) return kAvx512Kernels;
  if (level == SimdLevel::kAvx2 && Supported(level)) return kAvx2Kernels;
#endif
  return kScalarKernels;
}

const DistanceKernels& BestKernels() {
  static const DistanceKernels& best = []() -> const DistanceKernels& {
    // RELATE_SIMD=scalar|avx2|avx512 caps the level (to compare, or to rule
    // the kernels out when chasing a problem).
    const std::vector<SimdLevel> levels = SupportedSimdLevels();
    SimdLevel level = levels.back();
    if (const char* cap = std::getenv("RELATE_SIMD")) {
      for (SimdLevel l : levels) {
        if (SimdLevelName(l) == cap) level = l;
      }
    }
    return KernelsFor(level);
  }();
  return best;
}

}  // namespace relate::index

namespace relate::index {

const DistanceKernels& KernelsForDimension(size_t d) {
  if (std::getenv("RELATE_SIMD") != nullptr) return BestKernels();
  static std::mutex mu;
  static std::map<size_t, const DistanceKernels*> chosen;
  std::lock_guard lock(mu);
  if (auto it = chosen.find(d); it != chosen.end()) return *it->second;
  // Rows laid end to end as an index keeps them, so they start where they
  // fall in cache lines; sized to stay in L2, so the kernels are compared
  // and not the memory.
  const size_t rows = std::max<size_t>(1, (size_t{128} << 10) / (std::max<size_t>(d, 1) * 4));
  std::vector<float> data(rows * d + d), out(rows);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<float>(i % 7) * 0.25f - 0.5f;
  const float* query = data.data() + rows * d;
  const DistanceKernels* best = &KernelsFor(SimdLevel::kScalar);
  double best_ns = 1e300;
  for (SimdLevel level : SupportedSimdLevels()) {
    const DistanceKernels& k = KernelsFor(level);
    double fastest = 1e300;
    for (int trial = 0; trial < 7; ++trial) {
      const auto start = std::chrono::steady_clock::now();
      for (size_t j = 0; j < rows; ++j) out[j] = k.inner_product(query, data.data() + j * d, d);
      const double ns =
          std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start)
              .count();
      fastest = std::min(fastest, ns);
    }
    // A higher level must win clearly: timing noise should not flip choices.
    if (fastest < best_ns * 0.97) {
      best_ns = fastest;
      best = &k;
    }
  }
  chosen.emplace(d, best);
  return *best;
}

}  // namespace relate::index
