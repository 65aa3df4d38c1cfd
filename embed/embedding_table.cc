#include "embed/embedding_table.h"

namespace relate::embed {

Result<uint32_t> Vocabulary::Add(std::string_view token, uint64_t count) {
  if (ids_.find(token) != ids_.end()) {
    return Status::AlreadyExists("token \"" + std::string(token) +
                                 "\" is already in the vocabulary");
  }
  const auto id = static_cast<uint32_t>(tokens_.size());
  tokens_.emplace_back(token);
  counts_.push_back(count);
  ids_.emplace(tokens_.back(), id);
  return id;
}

std::optional<uint32_t> Vocabulary::Find(std::string_view token) const {
  auto it = ids_.find(token);
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

Vocabulary::Vocabulary(const Vocabulary& other) { *this = other; }

Vocabulary& Vocabulary::operator=(const Vocabulary& other) {
  if (this == &other) return *this;
  tokens_ = other.tokens_;
  counts_ = other.counts_;
  ids_.clear();
  ids_.reserve(tokens_.size());
  for (uint32_t id = 0; id < tokens_.size(); ++id) ids_.emplace(tokens_[id], id);
  return *this;
}

void Vocabulary::Reserve(size_t n) {
  counts_.reserve(n);
  ids_.reserve(n);
}

}  // namespace relate::embed
