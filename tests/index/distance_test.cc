#include "index/distance.h"

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdlib>
#include <vector>

#include "tests/testutil/testutil.h"

using namespace relate;
using namespace relate::index;

namespace {

// The sums in double, and the sum of the terms' magnitudes, which bounds the
// rounding error of any float summation order.
struct Reference {
  double value = 0;
  double magnitude = 0;
};

Reference InnerProduct(const float* a, const float* b, size_t d) {
  Reference r;
  for (size_t i = 0; i < d; ++i) {
    r.value += double{a[i]} * b[i];
    r.magnitude += std::abs(double{a[i]} * b[i]);
  }
  return r;
}

Reference L2Squared(const float* a, const float* b, size_t d) {
  Reference r;
  for (size_t i = 0; i < d; ++i) {
    const double t = double{a[i]} - b[i];
    r.value += t * t;
    r.magnitude += t * t;
  }
  return r;
}

// Float rounding of a d-term sum: a few ulps per term of the magnitude.
bool Close(float got, const Reference& want, size_t d) {
  const double tolerance = 4 * (static_cast<double>(d) + 1) * 6e-8 * want.magnitude + 1e-30;
  return std::abs(static_cast<double>(got) - want.value) <= tolerance;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(DistanceKernelTest)

BOOST_AUTO_TEST_CASE(EveryLevelAgreesWithDoublePrecisionForEverySizeAndTail) {
  const auto data = testutil::RandomVectors(2, 1100, 5);
  const float* a = data.data();
  const float* b = data.data() + 1100;
  const auto levels = SupportedSimdLevels();
  BOOST_TEST_REQUIRE(!levels.empty());
  BOOST_TEST(SimdLevelName(levels.front()) == "scalar");
  for (SimdLevel level : levels) {
    const DistanceKernels& k = KernelsFor(level);
    BOOST_TEST_REQUIRE(SimdLevelName(k.level) == SimdLevelName(level));
    for (size_t d = 0; d <= 1100; d += (d < 140 ? 1 : 97)) {
      // Offsets of one float make the loads unaligned, as rows of a table are.
      for (size_t offset : {size_t{0}, size_t{1}}) {
        if (offset + d > 1100) continue;
        const float ip = k.inner_product(a + offset, b, d);
        BOOST_TEST(Close(ip, InnerProduct(a + offset, b, d), d),
                   SimdLevelName(level) << " inner product d=" << d << " offset " << offset);
        const float l2 = k.l2_squared(a + offset, b, d);
        BOOST_TEST(Close(l2, L2Squared(a + offset, b, d), d),
                   SimdLevelName(level) << " l2 d=" << d << " offset " << offset);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(EveryLevelScansRowsLikeItsSingleKernel) {
  const size_t n = 257, d = 100;
  const auto rows = testutil::RandomVectors(n, d, 6);
  const auto query = testutil::RandomVectors(1, d, 7);
  for (SimdLevel level : SupportedSimdLevels()) {
    const DistanceKernels& k = KernelsFor(level);
    std::vector<float> out(n, -1);
    k.inner_products(query.data(), rows.data(), n, d, out.data());
    for (size_t j = 0; j < n; ++j) {
      BOOST_TEST(Close(out[j], InnerProduct(query.data(), rows.data() + j * d, d), d),
                 SimdLevelName(level) << " row " << j);
    }
  }
}

BOOST_AUTO_TEST_CASE(TheBestLevelIsTheHighestTheCpuRuns) {
  if (std::getenv("RELATE_SIMD") == nullptr) {
    BOOST_TEST(SimdLevelName(BestKernels().level) == SimdLevelName(SupportedSimdLevels().back()));
  }
  BOOST_TEST_MESSAGE("distance kernels: " << SimdLevelName(BestKernels().level));
}

// The measured choice per dimension is a level the CPU runs, stays the same
// once made, and computes what the scalar kernel computes.
BOOST_AUTO_TEST_CASE(TheMeasuredLevelPerDimensionIsSupportedAndStable) {
  const auto supported = SupportedSimdLevels();
  for (size_t d : {1, 16, 100, 768}) {
    const DistanceKernels& k = KernelsForDimension(d);
    BOOST_TEST(std::count(supported.begin(), supported.end(), k.level) == 1);
    BOOST_TEST(&KernelsForDimension(d) == &k);
    const auto a = testutil::RandomVectors(1, d, 8), b = testutil::RandomVectors(1, d, 9);
    BOOST_TEST(
        Close(k.inner_product(a.data(), b.data(), d), InnerProduct(a.data(), b.data(), d), d));
    BOOST_TEST_MESSAGE("d " << d << ": " << SimdLevelName(k.level));
  }
}

BOOST_AUTO_TEST_SUITE_END()
