// Records from JSON Lines: one object per line,
//   {"key": "a", "text": "...", "metadata": {"year": 2021, "tags": ["x"]}, "vector": [0.1, ...]}
// key is required; vector too, unless the collection has a model to embed the
// text; text and metadata are optional; any other field is refused so that a
// misspelt field does not pass unnoticed.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "relate/status.h"
#include "relate/types.h"

namespace relate::tools {

// One line of a `relate query --batch` file: a query by text, vector or key,
//   {"text": "ships in a storm"}  {"vector": [0.1, ...]}  {"key": "a"}
// with, optionally, its own "where" (a filter expression), "k" and "min_score".
struct QueryLine {
  enum class Kind { kText, kVector, kKey };
  Kind kind = Kind::kText;
  std::string text;           // kText
  std::vector<float> vector;  // kVector
  std::string key;            // kKey
  std::optional<std::string> where;
  std::optional<uint64_t> k;
  std::optional<double> min_score;
};

// Parses JSON text with simdjson. Not thread-safe: one parser per thread.
class JsonParser {
 public:
  JsonParser();
  ~JsonParser();

  // Parses one JSON Lines record. `line` may be padded in place (its capacity grows).
  // InvalidArgument says which field is wrong and how, without the file position.
  Status ParseRecord(std::string& line, Record* record);
  // Parses one line of a query batch (QueryLine). InvalidArgument says what is
  // wrong (bad JSON, no query or more than one kind, a field of the wrong type,
  // an unknown field), without the file position.
  Status ParseQuery(std::string& line, QueryLine* query);
  // Parses a JSON array of numbers, e.g. a --vector argument.
  Status ParseVector(std::string json, std::vector<float>* vector);

 private:
  struct Rep;
  std::unique_ptr<Rep> rep_;
};

}  // namespace relate::tools
