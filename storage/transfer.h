// The export stream of a database (storage/export.proto; storage/EXPORT_FORMAT.md
// says what the frames mean and in which order they come): length-delimited
// ExportFrame messages, written and read one at a time, with the XXH64 of all
// the bytes before the end frame carried in it.
//
// This file only frames and checks bytes: that each frame parses, that the
// stream is not cut short, that the end frame's counts and checksum agree with
// what came before it and that nothing follows it. What the frames say (order,
// dimensions, names) is checked by the importer (query/transfer.cc).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include "relate/status.h"
#include "relate/types.h"
#include "storage/store.h"

namespace relate::storage {

inline constexpr std::string_view kExportMagic = "relate-export";
inline constexpr uint32_t kExportFormatVersion = 1;
// Longest frame a reader accepts; a longer length prefix is damage.
inline constexpr uint64_t kMaxExportFrameBytes = 256u << 20;

struct ExportHeader {
  std::string magic = std::string(kExportMagic);
  uint32_t format_version = kExportFormatVersion;
  std::string relate_version;
  int64_t created_unix_ms = 0;
};

// One stored chunk of a model's data (see query/model_codec.h for the parts).
struct ExportModelChunk {
  char part = 0;
  uint32_t chunk = 0;
  std::string data;
};

// A record of the `collection`-th collection frame of the stream (from 0).
struct ExportRecord {
  uint32_t collection = 0;
  StoredRecord record;
};

struct ExportEnd {
  uint64_t models = 0;
  uint64_t model_chunks = 0;
  uint64_t collections = 0;
  uint64_t records = 0;
  uint64_t frames = 0;  // before the end frame
  uint64_t xxhash64 = 0;
};

// A frame of the stream. A ModelMeta's id is not in the stream (read: 0); a
// CollectionMeta carries name, spec, model version, SIF component, knobs,
// tuning, creation time, next_record_id and, in `count`, how many record
// frames follow (read: id 0, last_change 0).
using ExportFrame = std::variant<ExportHeader, ModelMeta, ExportModelChunk, CollectionMeta,
                                 ExportRecord, ExportEnd>;

// Writes frames to a std::ostream. Not thread-safe.
class ExportWriter {
 public:
  // Writes to `out`, which must outlive the writer.
  explicit ExportWriter(std::ostream& out);
  ~ExportWriter();
  ExportWriter(const ExportWriter&) = delete;
  ExportWriter& operator=(const ExportWriter&) = delete;

  // Writes one frame (not an ExportEnd: Finish writes that). IOError if the
  // stream fails.
  Status Write(const ExportFrame& frame);
  // Writes the end frame (the counts of the frames written and their
  // checksum) and flushes. IOError if the stream fails.
  Status Finish();
  // Bytes written so far.
  uint64_t bytes() const;
  // Frames written so far, by kind.
  const ExportEnd& counts() const;

 private:
  struct Rep;
  std::unique_ptr<Rep> rep_;
};

// Reads frames from a std::istream. Not thread-safe.
class ExportReader {
 public:
  // Reads `in`, which must outlive the reader.
  explicit ExportReader(std::istream& in);
  ~ExportReader();
  ExportReader(const ExportReader&) = delete;
  ExportReader& operator=(const ExportReader&) = delete;

  // The next frame. InvalidArgument, its message starting with Where(), if the
  // stream ends before an end frame or inside a frame, a frame is longer than
  // kMaxExportFrameBytes, does not parse or is of no known kind, or for an end
  // frame whose counts or checksum disagree with the frames before it or that
  // bytes follow.
  Result<ExportFrame> Next();
  // "frame N at byte B" of the frame Next last returned (or failed on):
  // frames count from 1, bytes from 0 at the frame's length prefix.
  std::string Where() const;
  // Bytes read so far.
  uint64_t bytes() const;

 private:
  struct Rep;
  std::unique_ptr<Rep> rep_;
};

}  // namespace relate::storage
