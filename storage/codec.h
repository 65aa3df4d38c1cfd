// Records and catalog entries to and from their stored bytes (records.proto).
#pragma once

#include <string>
#include <string_view>

#include "relate/status.h"
#include "relate/types.h"
#include "storage/store.h"

namespace relate::storage {

// The records CF value of a record: everything but its vector.
std::string EncodeRecord(uint64_t id, uint64_t version, const Record& record);
// Corruption if the bytes do not parse. Leaves record->vector alone.
Status DecodeRecord(std::string_view bytes, StoredRecord* record);

// The vectors CF value: float32 values, little-endian, laid end to end.
Status DecodeVector(std::string_view bytes, std::vector<float>* vector);

std::string EncodeCollection(const CollectionMeta& meta);
Status DecodeCollection(std::string_view bytes, CollectionMeta* meta);

std::string EncodeModel(const ModelMeta& meta);
Status DecodeModel(std::string_view bytes, ModelMeta* meta);

}  // namespace relate::storage
