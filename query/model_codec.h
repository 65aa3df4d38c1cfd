// How a model's vocabulary and tables are laid out as chunks of the model_data
// column family: part 'v' holds words (u32 LE length, bytes, u64 LE count), part
// 'w' the rows of W and part 'b' the fastText n-gram rows (float32 LE, row after
// row), part 'l' the labels of a fastText model (u32 LE length, bytes).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "embed/embedding_table.h"
#include "relate/status.h"

namespace relate::query {

// Rows (and words) per chunk: chunks of about a megabyte for 300-d models.
inline constexpr size_t kModelChunkRows = 1024;

inline constexpr char kPartWords = 'v';
inline constexpr char kPartRows = 'w';
inline constexpr char kPartBuckets = 'b';
inline constexpr char kPartLabels = 'l';

// Words [begin, end) of `vocabulary` as one chunk.
std::string EncodeWords(const embed::Vocabulary& vocabulary, size_t begin, size_t end);
// Appends a chunk's words to `vocabulary`. Corruption if the bytes are malformed
// or a word repeats.
Status DecodeWords(std::string_view bytes, embed::Vocabulary* vocabulary);

std::string EncodeStrings(const std::vector<std::string>& strings);
Status DecodeStrings(std::string_view bytes, std::vector<std::string>* strings);

// Rows [begin, end) of `table` as one chunk.
std::string_view RowBytes(const embed::EmbeddingTable& table, size_t begin, size_t end);
// Appends a chunk's rows to `table`. Corruption if it is not whole rows.
Status AppendRows(std::string_view bytes, embed::EmbeddingTable* table);

}  // namespace relate::query
