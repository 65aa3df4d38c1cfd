// What a VectorIndex holds (shared by vector_index.cc, which runs it, and
// checkpoint.cc, which saves and loads it): the id maps, the family that
// keeps the vectors, and what every use of an unusable index returns.
#pragma once

#include <memory>

#include "index/family.h"
#include "index/positions.h"
#include "index/vector_index.h"

namespace relate::index {

struct VectorIndex::Rep {
  // Not OK for an index made by Unusable (an empty Flat otherwise): what every
  // use of it returns.
  Status unusable;
  Positions positions;
  std::unique_ptr<Family> family;
};

}  // namespace relate::index
