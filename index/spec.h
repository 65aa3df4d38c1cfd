// The index spec parser: which FAISS index_factory strings relate builds, and
// the refusals of those that break its contract or that FAISS 1.7.3 asserts
// on, divides by zero for or allocates without bound (VectorIndex::CheckSpec,
// ResolveSpec and AutoSpec are defined beside these, in spec.cc).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace relate::index {

// What is wrong with `spec` (resolved: not "auto") for vectors of
// `dimension`; empty if nothing.
std::string SpecProblem(uint64_t dimension, const std::string& spec);

// M of "HNSW<M>" or "HNSW<M>,Flat" (2 to 1024): the graphs relate builds and
// searches itself; nullopt for every other spec.
std::optional<int> NativeHnswM(const std::string& spec);

}  // namespace relate::index
