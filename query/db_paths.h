// Every path inside a database directory, named once. Nothing outside query/
// builds these paths: tools and applications ask the API (DB::SpaceUsed, ...).
//
//   <db>/RELATE                     marker: a relate database, its format version
//   <db>/WRITER                     the writer's lock; holds its pid
//   <db>/store/                     RocksDB: records, vectors, models (storage/ owns its
//                                   inside, store/lost/ included)
//   <db>/index/collection-<id>.faiss  each collection's index checkpoint
//   <db>/training/                  resume checkpoints and scratch of trainings
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace relate::query::paths {

inline constexpr const char* kMarker = "RELATE";
inline constexpr const char* kWriterLock = "WRITER";
inline constexpr const char* kStore = "store";
inline constexpr const char* kIndex = "index";
inline constexpr const char* kTraining = "training";

inline std::filesystem::path Marker(const std::filesystem::path& db) { return db / kMarker; }
inline std::filesystem::path WriterLock(const std::filesystem::path& db) {
  return db / kWriterLock;
}
inline std::filesystem::path Store(const std::filesystem::path& db) { return db / kStore; }
inline std::filesystem::path Index(const std::filesystem::path& db) { return db / kIndex; }
inline std::filesystem::path Training(const std::filesystem::path& db) { return db / kTraining; }
inline std::filesystem::path Checkpoint(const std::filesystem::path& db, uint32_t collection_id) {
  return Index(db) / ("collection-" + std::to_string(collection_id) + ".faiss");
}

}  // namespace relate::query::paths
