// A vocabulary and its embedding table W: the heart of an embedding model.
//
// A token's embedding is its one-hot vector times W, which is the token's row of
// W; EmbeddingTable stores W row-major and contiguous (vocab x dim float32), so
// a lookup is a pointer offset.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "relate/status.h"

namespace relate::embed {

// Token <-> id, with a count per token (0 when the source had none).
// Ids are dense: 0 .. size()-1, in insertion order. Not thread-safe to modify;
// const methods may be called concurrently.
class Vocabulary {
 public:
  Vocabulary() = default;
  // A copy re-keys its map on its own tokens (the source's views would dangle).
  Vocabulary(const Vocabulary& other);
  Vocabulary& operator=(const Vocabulary& other);
  Vocabulary(Vocabulary&&) = default;  // a deque's elements keep their addresses
  Vocabulary& operator=(Vocabulary&&) = default;

  // Adds a token and returns its id. AlreadyExists if it is there.
  Result<uint32_t> Add(std::string_view token, uint64_t count = 0);
  // The id of `token`, or nullopt.
  std::optional<uint32_t> Find(std::string_view token) const;
  const std::string& Token(uint32_t id) const { return tokens_[id]; }
  uint64_t Count(uint32_t id) const { return counts_[id]; }
  size_t size() const { return tokens_.size(); }
  void Reserve(size_t n);

 private:
  // A deque keeps each token at one address, so the map can key on views of them
  // and every token is stored once.
  std::deque<std::string> tokens_;
  std::vector<uint64_t> counts_;
  std::unordered_map<std::string_view, uint32_t> ids_;
};

// W: rows x dim float32, row-major and contiguous.
class EmbeddingTable {
 public:
  EmbeddingTable() = default;
  EmbeddingTable(size_t rows, uint32_t dim) : dim_(dim), data_(rows * dim) {}

  uint32_t dim() const { return dim_; }
  size_t rows() const { return dim_ == 0 ? 0 : data_.size() / dim_; }
  std::span<const float> Row(uint32_t id) const {
    return {data_.data() + static_cast<size_t>(id) * dim_, dim_};
  }
  std::span<float> MutableRow(uint32_t id) {
    return {data_.data() + static_cast<size_t>(id) * dim_, dim_};
  }
  // Appends a row; its size must be dim().
  void AppendRow(std::span<const float> row) { data_.insert(data_.end(), row.begin(), row.end()); }
  void Reserve(size_t rows) { data_.reserve(rows * dim_); }
  const std::vector<float>& data() const { return data_; }

 private:
  uint32_t dim_ = 0;
  std::vector<float> data_;
};

// Word vectors as files hold them: a vocabulary and W, row i belonging to token i.
struct WordVectors {
  Vocabulary vocabulary;
  EmbeddingTable table;
};

}  // namespace relate::embed
