// Records and catalog entries to and from their stored bytes (records.proto).
#pragma once

#include <string>
#include <string_view>

#include "relate/status.h"
#include "relate/types.h"
#include "storage/store.h"

namespace relate::storage {

std::string EncodeRecord(const StoredRecord& record);
// Corruption if the bytes do not parse. Without `with_vector` the vector is left empty.
Status DecodeRecord(std::string_view bytes, bool with_vector, StoredRecord* record);

std::string EncodeCollection(const CollectionMeta& meta);
Status DecodeCollection(std::string_view bytes, CollectionMeta* meta);

}  // namespace relate::storage
