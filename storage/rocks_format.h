// The pieces of RocksDB's on-disk formats that repair reads without RocksDB:
// masked CRC-32C, fixed-width little-endian integers and varints
// (RocksDB util/crc32c.h and util/coding.h). Internal to storage/.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "util/coding.h"

namespace relate::storage {

// CRC-32C (Castagnoli) of n bytes.
inline uint32_t Crc32c(const char* data, size_t n) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    crc = table[(crc ^ static_cast<uint8_t>(data[i])) & 0xFF] ^ (crc >> 8);
  }
  return crc ^ 0xFFFFFFFFu;
}

// RocksDB stores CRCs masked, so that a CRC of data holding CRCs stays strong.
constexpr uint32_t kCrcMaskDelta = 0xa282ead8u;
inline uint32_t MaskCrc(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + kCrcMaskDelta; }
inline uint32_t Unmask(uint32_t masked) {
  const uint32_t rot = masked - kCrcMaskDelta;
  return (rot >> 17) | (rot << 15);
}

inline uint32_t Fixed32(const char* p) { return util::ReadLittleEndian32(p); }
inline uint64_t Fixed64(const char* p) { return util::ReadLittleEndian64(p); }
// Reads a varint at *p (not past `end`), advancing *p; false if it is cut short.
inline bool Varint64(const char** p, const char* end, uint64_t* v) {
  return util::ReadVarint(p, end, v);
}

}  // namespace relate::storage
