// Bitsets over small integers (record ids, index rows), written once: a
// growable Bitset, and the test on raw 64-bit words that hot loops run over a
// Bitset's words().
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace relate::util {

// Bit i of the words at `words` (which must hold it).
inline bool TestBit(const uint64_t* words, uint64_t i) {
  return ((words[static_cast<size_t>(i >> 6)] >> (i & 63)) & 1) != 0;
}

// A set of integers as bits of 64-bit words; it grows as bits are set.
// Thread-safety: const methods from many threads; the others need exclusive access.
class Bitset {
 public:
  Bitset() = default;
  // Room for bits [0, bits), all clear.
  explicit Bitset(size_t bits) : words_((bits + 63) / 64, 0) {}
  // The bits of `words` (bit i is bit i % 64 of words[i / 64]), as words() gives them.
  static Bitset FromWords(std::vector<uint64_t> words) {
    Bitset b;
    b.words_ = std::move(words);
    return b;
  }

  // Whether bit i is set (false beyond the words held).
  bool Test(uint64_t i) const { return (i >> 6) < words_.size() && TestBit(words_.data(), i); }
  // Sets bit i, growing as needed; true if it was clear.
  bool Set(uint64_t i) {
    const size_t word = static_cast<size_t>(i >> 6);
    if (word >= words_.size()) words_.resize(std::max(word + 1, words_.size() * 2), 0);
    const uint64_t bit = uint64_t{1} << (i & 63);
    if ((words_[word] & bit) != 0) return false;
    words_[word] |= bit;
    return true;
  }
  // Makes room for bits [0, bits), the new ones clear; never shrinks.
  void Cover(size_t bits) {
    if ((bits + 63) / 64 > words_.size()) words_.resize((bits + 63) / 64, 0);
  }
  // Clears bit i (nothing beyond the words held).
  void Clear(uint64_t i) {
    if ((i >> 6) < words_.size()) words_[static_cast<size_t>(i >> 6)] &= ~(uint64_t{1} << (i & 63));
  }
  // Bits set.
  size_t Count() const {
    size_t n = 0;
    for (uint64_t w : words_) n += static_cast<size_t>(std::popcount(w));
    return n;
  }
  // Calls fn(i) for every bit i set, ascending.
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    for (size_t w = 0; w < words_.size(); ++w) {
      for (uint64_t b = words_[w]; b != 0; b &= b - 1) {
        fn(uint64_t{w} * 64 + static_cast<uint64_t>(std::countr_zero(b)));
      }
    }
  }
  const uint64_t* words() const { return words_.data(); }
  size_t word_count() const { return words_.size(); }

 private:
  std::vector<uint64_t> words_;
};

}  // namespace relate::util
