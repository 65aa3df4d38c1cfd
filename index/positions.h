// Where each record's vector sits in an index: the id maps that VectorIndex
// keeps for every family, whatever it stores at a position.
//
// Invariants: `ids` has one entry per position a family holds (FAISS's labels
// are positions); `where` maps every live record id to its position, so a
// position is live when its id is not kNoId and it is not dead; `dead` is
// empty or covers every position; dead_count and holes count the set bits
// and the kNoId entries.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <unordered_map>
#include <vector>

namespace relate::index {

// The id of a position whose vector IVF removed for real (a hole).
inline constexpr uint64_t kNoId = std::numeric_limits<uint64_t>::max();

// The FAISS label of a position (record ids never reach FAISS).
inline int64_t Label(size_t position) { return static_cast<int64_t>(position); }

// Not thread-safe: const methods from many threads, the others exclusively.
struct Positions {
  std::vector<uint64_t> ids;                     // position -> record id (kNoId: removed)
  std::unordered_map<uint64_t, uint64_t> where;  // live record id -> position
  // Tombstones: a bitset over positions, empty or covering every position.
  std::vector<uint64_t> dead;
  size_t dead_count = 0;
  size_t holes = 0;  // positions whose IVF entry was removed (kNoId)

  bool IsDead(size_t pos) const {
    return pos / 64 < dead.size() && (dead[pos / 64] >> (pos % 64)) & 1;
  }
  // The tombstones a search skips; null when there are none.
  const uint64_t* dead_bits() const { return dead_count ? dead.data() : nullptr; }
  // Keeps `dead` covering every position after positions were added.
  void CoverPositions() {
    if (!dead.empty()) dead.resize((ids.size() + 63) / 64, 0);
  }
  void MarkDead(size_t pos) {
    if (dead.empty()) dead.assign((ids.size() + 63) / 64, 0);
    dead[pos / 64] |= uint64_t{1} << (pos % 64);
    ++dead_count;
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
