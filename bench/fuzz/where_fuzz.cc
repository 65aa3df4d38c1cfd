// Fuzzes the `--where` filter language (relate::Filter::Parse). An accepted filter
// prints to text that parses back to the same tree (and prints the same again), and
// both match the same records; a refused one is InvalidArgument "column N: ..." with
// N within [1, length + 1].
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "bench/fuzz/fuzz_util.h"
#include "relate/filter.h"

namespace {

// Records with single-letter fields (what short fuzz inputs name) of every type,
// plus the fields of the seeds.
const std::vector<relate::Metadata>& Records() {
  using relate::Metadata;
  using Strings = std::vector<std::string>;
  static const std::vector<Metadata> records = {
      {},
      {{"a", int64_t{1}},
       {"b", 2.5},
       {"c", std::string("x")},
       {"d", true},
       {"e", Strings{"x", "jazz"}},
       {"year", int64_t{2000}},
       {"genre", std::string("jazz")}},
      {{"a", std::numeric_limits<int64_t>::min()},
       {"b", std::numeric_limits<double>::quiet_NaN()},
       {"c", std::string("")},
       {"d", false},
       {"e", Strings{}},
       {"x", int64_t{1} << 53},
       {"", std::string("a")}},
      {{"a", 0.0},
       {"b", int64_t{-3}},
       {"c", Strings{"a", "b"}},
       {"d", std::string("true")},
       {"year", 1999.5},
       {"tags", Strings{"new"}},
       {"price", 9.49},
       {"on_sale", true}},
  };
  return records;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using relate::fuzz::Check;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = relate::Filter::Parse(text);
  if (!parsed.has_value()) {
    const relate::Status& s = parsed.error();
    relate::fuzz::Verbose(s.ToString());
    Check(s.code() == relate::Status::Code::kInvalidArgument,
          "a bad filter is not InvalidArgument");
    const std::string_view m = s.message();
    Check(m.substr(0, 7) == "column ", "the error does not start with \"column \"");
    size_t column = 0, i = 7;
    while (i < m.size() && m[i] >= '0' && m[i] <= '9' && column <= size + 1) {
      column = column * 10 + static_cast<size_t>(m[i] - '0');
      ++i;
    }
    Check(i > 7 && i < m.size() && m[i] == ':', "the error has no \"column N:\"");
    Check(column >= 1 && column <= size + 1, "the error's column is outside the expression");
    return 0;
  }
  const relate::Filter& filter = *parsed;
  const std::string printed = filter.ToString();
  relate::fuzz::Verbose(printed);
  Check(filter.empty() == printed.empty(), "only the empty filter prints as \"\"");
  auto again = relate::Filter::Parse(printed);
  Check(again.has_value(), "ToString gave text that does not parse");
  Check(*again == filter, "Parse(ToString()) is another filter");
  Check(again->ToString() == printed, "ToString of the reparsed filter differs");
  for (const relate::Metadata& record : Records()) {
    Check(filter.Matches(record) == again->Matches(record),
          "the reparsed filter matches differently");
  }
  return 0;
}
