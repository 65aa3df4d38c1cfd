// Fuzzes the decoders of stored values (storage/codec.h): the first input byte picks
// DecodeRecord, DecodeCollection, DecodeModel or DecodeVector, the rest is the value.
// A value a decoder accepts must re-encode to bytes that decode to the same value
// (the second encoding equals the first).
#include <google/protobuf/stubs/logging.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "bench/fuzz/fuzz_util.h"
#include "storage/codec.h"

namespace {

using relate::Status;
using relate::fuzz::Check;
namespace storage = relate::storage;

void CheckRefused(const Status& s) {
  relate::fuzz::Verbose(s.ToString());
  Check(s.code() == Status::Code::kCorruption, "a bad value is not Corruption");
  Check(!s.message().empty(), "an error without a message");
}

std::string EncodeStored(const relate::StoredRecord& r) {
  relate::Record record{.key = r.key, .text = r.text, .metadata = r.metadata};
  return storage::EncodeRecord(r.id, r.version, record);
}

void FuzzRecord(std::string_view bytes) {
  relate::StoredRecord r;
  if (Status s = storage::DecodeRecord(bytes, &r); !s.ok()) return CheckRefused(s);
  relate::fuzz::Verbose("accepted record " + r.key);
  const std::string once = EncodeStored(r);
  relate::StoredRecord again;
  Check(storage::DecodeRecord(once, &again).ok(), "a re-encoded record does not decode");
  Check(EncodeStored(again) == once, "a record changes when re-encoded");
}

void FuzzCollection(std::string_view bytes) {
  storage::CollectionMeta m;
  if (Status s = storage::DecodeCollection(bytes, &m); !s.ok()) return CheckRefused(s);
  relate::fuzz::Verbose("accepted collection " + m.spec.name);
  const std::string once = storage::EncodeCollection(m);
  storage::CollectionMeta again;
  Check(storage::DecodeCollection(once, &again).ok(), "a re-encoded collection does not decode");
  Check(storage::EncodeCollection(again) == once, "a collection changes when re-encoded");
}

void FuzzModel(std::string_view bytes) {
  storage::ModelMeta m;
  if (Status s = storage::DecodeModel(bytes, &m); !s.ok()) return CheckRefused(s);
  relate::fuzz::Verbose("accepted model " + m.info.name);
  const std::string once = storage::EncodeModel(m);
  storage::ModelMeta again;
  Check(storage::DecodeModel(once, &again).ok(), "a re-encoded model does not decode");
  Check(storage::EncodeModel(again) == once, "a model changes when re-encoded");
}

void FuzzVector(std::string_view bytes) {
  std::vector<float> v;
  if (Status s = storage::DecodeVector(bytes, &v); !s.ok()) return CheckRefused(s);
  relate::fuzz::Verbose("accepted vector of " + std::to_string(v.size()));
  Check(v.size() * sizeof(float) == bytes.size(), "a vector has the wrong size");
  Check(v.empty() || std::memcmp(v.data(), bytes.data(), bytes.size()) == 0,
        "a vector's values differ from its bytes");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Protobuf logs every string field that is not UTF-8; refusing it is the point here.
  google::protobuf::SetLogHandler(
      [](google::protobuf::LogLevel, const char*, int, const std::string&) {});
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0:
      FuzzRecord(bytes);
      break;
    case 1:
      FuzzCollection(bytes);
      break;
    case 2:
      FuzzModel(bytes);
      break;
    default:
      FuzzVector(bytes);
      break;
  }
  return 0;
}
