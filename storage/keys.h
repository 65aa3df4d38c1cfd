// Key encodings of the column families (see store.h). Big-endian numbers, so
// RocksDB's bytewise order is numeric order and a collection's keys are one range.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace relate::storage {

inline void AppendBigEndian32(std::string* out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}
inline void AppendBigEndian64(std::string* out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}
inline uint32_t ReadBigEndian32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
inline uint64_t ReadBigEndian64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
inline void AppendLittleEndian64(std::string* out, uint64_t v) {
  for (int shift = 0; shift < 64; shift += 8) out->push_back(static_cast<char>(v >> shift));
}
inline uint64_t ReadLittleEndian64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

// The first key of the collection's range in every per-collection family.
inline std::string CollectionPrefix(uint32_t collection) {
  std::string k;
  AppendBigEndian32(&k, collection);
  return k;
}
// The key just past the collection's range.
inline std::string CollectionEnd(uint32_t collection) {
  std::string k;
  AppendBigEndian32(&k, collection + 1);  // ids are allocated below UINT32_MAX
  return k;
}
inline std::string RecordKey(uint32_t collection, uint64_t id) {
  std::string k = CollectionPrefix(collection);
  AppendBigEndian64(&k, id);
  return k;
}
inline std::string UserKey(uint32_t collection, std::string_view key) {
  std::string k = CollectionPrefix(collection);
  k.append(key);
  return k;
}
inline std::string ChangeKey(uint32_t collection, uint64_t seq) {
  std::string k = CollectionPrefix(collection);
  AppendBigEndian64(&k, seq);
  return k;
}

}  // namespace relate::storage
