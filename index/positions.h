// Where each record's vector sits in an index: the id maps that VectorIndex
// keeps for every family, whatever it stores at a position.
//
// Invariants: `ids` has one entry per position a family holds (FAISS's labels
// are positions); `where` maps every live record id to its position, so a
// position is live when its id is not kNoId and it is not dead; `dead` has no
// words or words for at least every position (a search tests its words()
// directly); dead_count and holes count the set bits and the kNoId entries.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <unordered_map>
#include <vector>

#include "util/bitset.h"

namespace relate::index {

// The id of a position whose vector IVF removed for real (a hole).
inline constexpr uint64_t kNoId = std::numeric_limits<uint64_t>::max();

// The FAISS label of a position (record ids never reach FAISS).
inline int64_t Label(size_t position) { return static_cast<int64_t>(position); }

// Not thread-safe: const methods from many threads, the others exclusively.
struct Positions {
  std::vector<uint64_t> ids;                     // position -> record id (kNoId: removed)
  std::unordered_map<uint64_t, uint64_t> where;  // live record id -> position
  // Tombstones: a bitset over positions, with no words or covering every position.
  util::Bitset dead;
  size_t dead_count = 0;
  size_t holes = 0;  // positions whose IVF entry was removed (kNoId)

  bool IsDead(size_t pos) const { return dead.Test(pos); }
  // The tombstones a search skips; null when there are none.
  const uint64_t* dead_bits() const { return dead_count ? dead.words() : nullptr; }
  // The words of `dead` that cover every position, as a checkpoint stores
  // them: none until a position is marked dead. `dead` may hold more (zero) words.
  size_t dead_words() const { return dead.word_count() == 0 ? 0 : (ids.size() + 63) / 64; }
  // Keeps `dead` covering every position after positions were added.
  void CoverPositions() {
    if (dead.word_count() != 0) dead.Cover(ids.size());
  }
  void MarkDead(size_t pos) {
    if (dead.word_count() == 0) dead = util::Bitset(ids.size());
    if (dead.Set(pos)) ++dead_count;
  }
  // Moves the last position's id into `pos` and drops the last position, as
  // a family that keeps its rows dense moves its last row (Removal::kSwap).
  void SwapRemove(size_t pos) {
    const size_t last = ids.size() - 1;
    if (pos != last) {
      ids[pos] = ids[last];
      where[ids[pos]] = pos;
    }
    ids.pop_back();
  }
};

}  // namespace relate::index
