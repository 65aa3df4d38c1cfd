// What commands print, written once: tables whose name and key columns are as
// wide as their widest cell (measured in terminal columns, not bytes) while
// free text is shortened, JSON of the API's types, sizes and times for people,
// and the caret under the column a filter error names.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "relate/relate.h"

namespace relate::tools {

using json = nlohmann::ordered_json;

// "512 B", "1.5 KiB", "2.0 GiB".
std::string HumanBytes(uint64_t bytes);
// "950", "12.3k", "1.25M".
std::string HumanCount(double n);
// "2024-05-01 12:00:00 UTC".
std::string FormatTime(int64_t unix_ms);
// "m:ss", or "h:mm:ss" from an hour on.
std::string Duration(double seconds);
// "m:ss" however many minutes: "75:03".
std::string MinutesSeconds(double seconds);

// The columns a terminal gives UTF-8 `text`: two for a wide or fullwidth
// character (CJK, most emoji), none for a combining mark, a format or a control
// character, one for anything else (a byte that is not UTF-8 too).
size_t DisplayWidth(std::string_view text);
// `text` on one line: line breaks and tabs become spaces.
std::string OneLine(std::string_view text);
// `text` on one line and at most `width` columns: a longer one is cut on a
// character boundary and ends in "...".
std::string Cell(std::string_view text, size_t width);
// `text` followed by spaces up to `width` columns (none if it is as wide).
std::string Pad(std::string_view text, size_t width);
// The width of a column that shows `cell(row)` of every row whole on one line,
// and at least `min_width`.
template <typename Rows, typename CellOf>
size_t ColumnWidth(const Rows& rows, size_t min_width, CellOf cell) {
  size_t width = min_width;
  for (const auto& row : rows) width = std::max(width, DisplayWidth(OneLine(cell(row))));
  return width;
}

// "[0.1200, -0.0300, 0.5000, ...]": the first values of a vector, for a table.
std::string VectorCell(const std::vector<float>& v);
// "model "name" version 2: 50130 words x 100 dimensions[, 2000000 subword rows]"
std::string ModelShape(const ModelInfo& m);
// "year, genre": the fields a collection keeps a secondary index of.
std::string FilterableText(const CollectionSpec& spec);

// The column N of an error message "column N: what" (Filter::Parse), or 0.
size_t ErrorColumn(std::string_view message);
// Two lines to print under an error: the expression, indented two spaces and
// with line breaks and tabs shown as spaces, and a caret under character
// `column` (counted in UTF-8 code points from 1, as Filter::Parse counts).
std::string CaretUnder(std::string_view expression, size_t column);

// What a hit list shows beyond key, score, distance, text and metadata.
struct HitColumns {
  bool vector = false;         // the stored vector (--with-vector)
  bool vector_score = false;   // the vector search's score (--hybrid)
  bool keyword_score = false;  // the BM25 score (--hybrid, --keyword)
};

json MetadataToJson(const Metadata& metadata);
json RecordToJson(const StoredRecord& r, bool with_vector);
json HitsToJson(const std::vector<Hit>& hits, const HitColumns& columns = {});
json KnobsToJson(const SearchKnobs& k);
json ExplainToJson(const QueryExplain& e);
json InfoToJson(const CollectionInfo& c);
json ModelToJson(const ModelInfo& m);

}  // namespace relate::tools
