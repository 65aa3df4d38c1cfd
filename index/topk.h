// Keeping the k best of a stream of (distance, label) pairs, lower distance
// first: the selection step of every search in this module.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <utility>
#include <vector>

namespace relate::index {

// A bounded max-heap on distance: Push keeps a pair only while it is among the
// k best seen. Ties go to the smaller label, so results do not depend on the
// order pairs arrive in (threads, blocks). Not thread-safe.
class TopK {
 public:
  explicit TopK(size_t k) : k_(k) { heap_.reserve(k); }

  // The distance a pair must beat to be kept (+inf until k pairs are held).
  float threshold() const {
    return heap_.size() < k_ ? std::numeric_limits<float>::infinity() : heap_.front().first;
  }
  size_t size() const { return heap_.size(); }
  size_t k() const { return k_; }

  void Push(float distance, int64_t label) {
    if (k_ == 0) return;
    if (heap_.size() < k_) {
      heap_.emplace_back(distance, label);
      std::push_heap(heap_.begin(), heap_.end());
    } else if (std::pair(distance, label) < heap_.front()) {
      std::pop_heap(heap_.begin(), heap_.end());
      heap_.back() = {distance, label};
      std::push_heap(heap_.begin(), heap_.end());
    }
  }

  // Moves everything of `other` in (the merge of per-thread selections).
  void Merge(const TopK& other) {
    for (const auto& [d, l] : other.heap_) Push(d, l);
  }

  // Writes the pairs best first into k slots; unused slots get label -1 and
  // distance +inf. Empties the collector.
  void Drain(std::span<int64_t> labels, std::span<float> distances) {
    std::sort_heap(heap_.begin(), heap_.end());
    for (size_t i = 0; i < labels.size(); ++i) {
      if (i < heap_.size()) {
        distances[i] = heap_[i].first;
        labels[i] = heap_[i].second;
      } else {
        distances[i] = std::numeric_limits<float>::infinity();
        labels[i] = -1;
      }
    }
    heap_.clear();
  }

 private:
  size_t k_;
  std::vector<std::pair<float, int64_t>> heap_;
};

}  // namespace relate::index
