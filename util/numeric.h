// Exact comparison of an integer with a double, written once: filters and the
// fields family's range scans treat ints and doubles as one ordered space by
// mathematical value (9007199254740993 > 9007199254740992.0), which converting
// the integer to double would get wrong.
#pragma once

#include <cmath>
#include <cstdint>

namespace relate::util {

// The sign of i - d, exactly (-1, 0 or 1), for a d that is not NaN.
inline int CompareIntDouble(int64_t i, double d) {
  // 2^63 is exact in double: every double at or above it exceeds every int64,
  // every double below -2^63 is below every int64.
  constexpr double kTwo63 = 9223372036854775808.0;
  if (d >= kTwo63) return -1;
  if (d < -kTwo63) return 1;
  const double whole = std::trunc(d);  // in [-2^63, 2^63): an int64 exactly
  const auto whole_int = static_cast<int64_t>(whole);
  if (i != whole_int) return i < whole_int ? -1 : 1;
  return d > whole ? -1 : d < whole ? 1 : 0;
}

}  // namespace relate::util
