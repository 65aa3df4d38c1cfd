// Fuzzes the reader of export streams (storage/transfer.h), what `relate import`
// parses: length-delimited ExportFrame messages ending in a checksummed end
// frame. A refused stream must be InvalidArgument naming the frame and byte
// ("frame N at byte B: ..."); an accepted one must write back to the same bytes.
// With RELATE_FUZZ_SEED_DIR set, writes a valid stream there first as a seed (a
// valid checksum is out of the fuzzer's reach without one).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include "bench/fuzz/fuzz_util.h"
#include "storage/transfer.h"

namespace {

using relate::Status;
using relate::fuzz::Check;
namespace storage = relate::storage;

// A small stream of every kind of frame.
std::string SeedStream() {
  std::ostringstream out;
  storage::ExportWriter writer(out);
  storage::ModelMeta model;
  model.info.name = "m";
  model.info.version = 1;
  model.info.dimension = 2;
  storage::CollectionMeta collection;
  collection.spec.name = "c";
  collection.spec.dimension = 2;
  collection.count = 2;
  collection.next_record_id = 3;
  std::vector<storage::ExportFrame> frames{storage::ExportHeader{}, model,
                                           storage::ExportModelChunk{'v', 0, "abcd"}, collection};
  for (uint64_t id = 1; id <= 2; ++id) {
    storage::ExportRecord r{.collection = 0};
    r.record.key = "k" + std::to_string(id);
    r.record.id = id;
    r.record.version = 1;
    r.record.text = "text";
    r.record.metadata = {{"n", int64_t{7}}};
    r.record.vector = {0.6f, 0.8f};
    frames.push_back(r);
  }
  for (const auto& f : frames) Check(writer.Write(f).ok(), "writing the seed failed");
  Check(writer.Finish().ok(), "finishing the seed failed");
  return out.str();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("RELATE_FUZZ_SEED_DIR")) {
    const std::filesystem::path path = std::filesystem::path(dir) / "export_stream";
    std::filesystem::create_directories(path);
    std::ofstream(path / "valid-stream", std::ios::binary) << SeedStream();
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  std::istringstream in(bytes);
  storage::ExportReader reader(in);
  std::vector<storage::ExportFrame> frames;
  while (true) {
    auto frame = reader.Next();
    if (!frame) {
      const Status& s = frame.error();
      relate::fuzz::Verbose(s.ToString());
      Check(s.code() == Status::Code::kInvalidArgument, "a bad stream is not InvalidArgument");
      Check(s.message().rfind("frame ", 0) == 0, "an error that does not name the frame");
      return 0;
    }
    if (std::holds_alternative<storage::ExportEnd>(*frame)) break;
    frames.push_back(std::move(*frame));
  }
  relate::fuzz::Verbose("accepted a stream of " + std::to_string(frames.size()) + " frames");
  std::ostringstream out;
  storage::ExportWriter writer(out);
  for (const auto& f : frames) Check(writer.Write(f).ok(), "an accepted frame does not write");
  Check(writer.Finish().ok(), "an accepted stream does not finish");
  Check(out.str() == bytes, "an accepted stream does not write back to the same bytes");
  return 0;
}
