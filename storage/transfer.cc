#include "storage/transfer.h"

#include <xxhash.h>

#include <istream>
#include <ostream>
#include <type_traits>

#include "export.pb.h"
#include "storage/proto_metadata.h"

namespace relate::storage {
namespace {

static_assert(sizeof(float) == 4, "vectors are exported as 4-byte floats");

void AppendVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

void ToProto(const MetadataValue& v, xpb::MetadataValue* out) { MetadataToProto(v, out); }

Status FromProto(const xpb::MetadataValue& v, MetadataValue* out) {
  return MetadataFromProto(v, out) ? Status::OK()
                                   : Status::InvalidArgument("a metadata value has no type");
}

void ToProto(const ExportHeader& h, xpb::Header* p) {
  p->set_magic(h.magic);
  p->set_format_version(h.format_version);
  p->set_relate_version(h.relate_version);
  p->set_created_unix_ms(h.created_unix_ms);
}

void ToProto(const ModelMeta& m, xpb::Model* p) {
  const ModelInfo& i = m.info;
  p->set_name(i.name);
  p->set_version(i.version);
  p->set_dimension(i.dimension);
  p->set_words(i.words);
  p->set_format(i.format);
  p->set_source(i.source);
  p->set_created_unix_ms(i.created_unix_ms);
  p->set_lowercase(i.lowercase);
  p->set_keep_numbers(i.keep_numbers);
  p->set_keep_punctuation(i.keep_punctuation);
  p->set_activation(i.activation);
  p->set_pooling(i.pooling);
  p->set_sif_a(i.sif_a);
  p->set_subword_buckets(i.subword_buckets);
  p->set_min_ngram(i.min_ngram);
  p->set_max_ngram(i.max_ngram);
  p->set_legacy_fasttext(m.legacy_fasttext);
  p->set_labels(m.labels);
}

void ToProto(const ExportModelChunk& c, xpb::ModelChunk* p) {
  p->set_part(static_cast<unsigned char>(c.part));
  p->set_chunk(c.chunk);
  p->set_data(c.data);
}

void ToProto(const CollectionMeta& m, xpb::Collection* p) {
  p->set_name(m.spec.name);
  p->set_dimension(m.spec.dimension);
  p->set_metric(std::string(MetricName(m.spec.metric)));
  p->set_index_spec(m.spec.index_spec);
  p->set_model(m.spec.model);
  p->set_model_version(m.model_version);
  p->mutable_sif_component()->Add(m.sif_component.begin(), m.sif_component.end());
  p->set_ef_search(m.knobs.ef_search);
  p->set_nprobe(m.knobs.nprobe);
  p->set_refine(m.knobs.refine);
  p->set_tuned_recall(m.tuned_recall);
  p->set_tuned_target(m.tuned_target);
  p->set_tuned_unix_ms(m.tuned_unix_ms);
  p->set_created_unix_ms(m.created_unix_ms);
  p->set_next_record_id(m.next_record_id);
  p->set_records(m.count);
  for (const auto& field : m.spec.filterable) p->add_filterable(field);
  p->set_keyword_index(m.spec.keyword_index);
}

void ToProto(const ExportRecord& r, xpb::Record* p) {
  p->set_collection(r.collection);
  p->set_key(r.record.key);
  p->set_id(r.record.id);
  p->set_version(r.record.version);
  p->set_text(r.record.text);
  for (const auto& [name, value] : r.record.metadata) {
    auto* e = p->add_metadata();
    e->set_name(name);
    ToProto(value, e->mutable_value());
  }
  p->mutable_vector()->Add(r.record.vector.begin(), r.record.vector.end());
}

void ToProto(const ExportEnd& e, xpb::End* p) {
  p->set_models(e.models);
  p->set_model_chunks(e.model_chunks);
  p->set_collections(e.collections);
  p->set_records(e.records);
  p->set_frames(e.frames);
  p->set_xxhash64(e.xxhash64);
}

ExportHeader FromProto(const xpb::Header& p) {
  return {.magic = p.magic(),
          .format_version = p.format_version(),
          .relate_version = p.relate_version(),
          .created_unix_ms = p.created_unix_ms()};
}

ModelMeta FromProto(const xpb::Model& p) {
  ModelMeta m;
  ModelInfo& i = m.info;
  i.name = p.name();
  i.version = p.version();
  i.dimension = p.dimension();
  i.words = p.words();
  i.format = p.format();
  i.source = p.source();
  i.created_unix_ms = p.created_unix_ms();
  i.lowercase = p.lowercase();
  i.keep_numbers = p.keep_numbers();
  i.keep_punctuation = p.keep_punctuation();
  i.activation = p.activation();
  i.pooling = p.pooling();
  i.sif_a = p.sif_a();
  i.subword_buckets = p.subword_buckets();
  i.min_ngram = p.min_ngram();
  i.max_ngram = p.max_ngram();
  m.legacy_fasttext = p.legacy_fasttext();
  m.labels = p.labels();
  return m;
}

Result<ExportModelChunk> FromProto(const xpb::ModelChunk& p) {
  if (p.part() > 0x7F) {
    return Status::InvalidArgument("model chunk part " + std::to_string(p.part()) +
                                   " is not an ASCII letter");
  }
  return ExportModelChunk{
      .part = static_cast<char>(p.part()), .chunk = p.chunk(), .data = p.data()};
}

Result<CollectionMeta> FromProto(const xpb::Collection& p) {
  CollectionMeta m;
  m.spec.name = p.name();
  m.spec.dimension = p.dimension();
  auto metric = ParseMetric(p.metric());
  if (!metric) return metric.error().WithContext("collection " + p.name());
  m.spec.metric = *metric;
  m.spec.index_spec = p.index_spec();
  m.spec.model = p.model();
  m.model_version = p.model_version();
  m.sif_component.assign(p.sif_component().begin(), p.sif_component().end());
  m.knobs = {.ef_search = p.ef_search(), .nprobe = p.nprobe(), .refine = p.refine()};
  m.tuned_recall = p.tuned_recall();
  m.tuned_target = p.tuned_target();
  m.tuned_unix_ms = p.tuned_unix_ms();
  m.created_unix_ms = p.created_unix_ms();
  m.next_record_id = p.next_record_id();
  m.count = p.records();
  m.spec.filterable.assign(p.filterable().begin(), p.filterable().end());
  m.spec.keyword_index = p.has_keyword_index() && p.keyword_index();
  return m;
}

Result<ExportRecord> FromProto(const xpb::Record& p) {
  ExportRecord r;
  r.collection = p.collection();
  r.record.key = p.key();
  r.record.id = p.id();
  r.record.version = p.version();
  r.record.text = p.text();
  for (const auto& e : p.metadata()) {
    MetadataValue v;
    RELATE_RETURN_IF_ERROR(FromProto(e.value(), &v).WithContext("record " + p.key()));
    if (!r.record.metadata.emplace(e.name(), std::move(v)).second) {
      return Status::InvalidArgument("record " + p.key() + ": metadata \"" + e.name() +
                                     "\" is given twice");
    }
  }
  r.record.vector.assign(p.vector().begin(), p.vector().end());
  return r;
}

ExportEnd FromProto(const xpb::End& p) {
  return {.models = p.models(),
          .model_chunks = p.model_chunks(),
          .collections = p.collections(),
          .records = p.records(),
          .frames = p.frames(),
          .xxhash64 = p.xxhash64()};
}

// A streaming XXH64 (seed 0).
class Hash {
 public:
  Hash() : state_(XXH64_createState()) { XXH64_reset(state_, 0); }
  ~Hash() { XXH64_freeState(state_); }
  Hash(const Hash&) = delete;
  Hash& operator=(const Hash&) = delete;
  void Update(std::string_view bytes) { XXH64_update(state_, bytes.data(), bytes.size()); }
  uint64_t Digest() const { return XXH64_digest(state_); }

 private:
  XXH64_state_t* state_;
};

void Count(const ExportFrame& frame, ExportEnd* counts) {
  ++counts->frames;
  switch (frame.index()) {
    case 1:
      ++counts->models;
      break;
    case 2:
      ++counts->model_chunks;
      break;
    case 3:
      ++counts->collections;
      break;
    case 4:
      ++counts->records;
      break;
    default:
      break;
  }
}

}  // namespace

struct ExportWriter::Rep {
  std::ostream* out = nullptr;
  Hash hash;
  ExportEnd counts;
  uint64_t bytes = 0;
  xpb::ExportFrame message;
  std::string payload, framed;

  Status Put() {
    payload.clear();
    if (!message.SerializeToString(&payload)) {
      return Status::Internal("an export frame does not serialise");
    }
    framed.clear();
    AppendVarint(&framed, payload.size());
    framed += payload;
    out->write(framed.data(), static_cast<std::streamsize>(framed.size()));
    if (!*out) {
      return Status::IOError("writing the export stream failed after " + std::to_string(bytes) +
                             " bytes");
    }
    bytes += framed.size();
    return Status::OK();
  }
};

ExportWriter::ExportWriter(std::ostream& out) : rep_(std::make_unique<Rep>()) { rep_->out = &out; }
ExportWriter::~ExportWriter() = default;

Status ExportWriter::Write(const ExportFrame& frame) {
  xpb::ExportFrame& m = rep_->message;
  m.Clear();
  std::visit(
      [&m](const auto& f) {
        using T = std::decay_t<decltype(f)>;
        if constexpr (std::is_same_v<T, ExportHeader>) {
          ToProto(f, m.mutable_header());
        } else if constexpr (std::is_same_v<T, ModelMeta>) {
          ToProto(f, m.mutable_model());
        } else if constexpr (std::is_same_v<T, ExportModelChunk>) {
          ToProto(f, m.mutable_model_chunk());
        } else if constexpr (std::is_same_v<T, CollectionMeta>) {
          ToProto(f, m.mutable_collection());
        } else if constexpr (std::is_same_v<T, ExportRecord>) {
          ToProto(f, m.mutable_record());
        }
      },
      frame);
  if (frame.index() == 5) return Status::Internal("ExportWriter::Write was given an end frame");
  RELATE_RETURN_IF_ERROR(rep_->Put());
  rep_->hash.Update(rep_->framed);
  Count(frame, &rep_->counts);
  return Status::OK();
}

Status ExportWriter::Finish() {
  ExportEnd end = rep_->counts;
  end.xxhash64 = rep_->hash.Digest();
  rep_->message.Clear();
  ToProto(end, rep_->message.mutable_end());
  RELATE_RETURN_IF_ERROR(rep_->Put());
  rep_->out->flush();
  if (!*rep_->out) return Status::IOError("flushing the export stream failed");
  return Status::OK();
}

uint64_t ExportWriter::bytes() const { return rep_->bytes; }
const ExportEnd& ExportWriter::counts() const { return rep_->counts; }

struct ExportReader::Rep {
  std::istream* in = nullptr;
  Hash hash;
  ExportEnd counts;  // of the frames returned so far
  uint64_t bytes = 0;
  uint64_t frame = 0;         // number of the frame being read, from 1
  uint64_t frame_offset = 0;  // where it starts
  bool ended = false;
  xpb::ExportFrame message;
  std::string framed;  // the current frame's bytes, length prefix included

  std::string Where() const {
    return "frame " + std::to_string(frame) + " at byte " + std::to_string(frame_offset);
  }
  Status Fail(std::string_view what) const {
    return Status::InvalidArgument(Where() + ": " + std::string(what));
  }
};

ExportReader::ExportReader(std::istream& in) : rep_(std::make_unique<Rep>()) { rep_->in = &in; }
ExportReader::~ExportReader() = default;

std::string ExportReader::Where() const { return rep_->Where(); }
uint64_t ExportReader::bytes() const { return rep_->bytes; }

Result<ExportFrame> ExportReader::Next() {
  Rep& r = *rep_;
  if (r.ended) return r.Fail("read past the end frame");
  ++r.frame;
  r.frame_offset = r.bytes;
  r.framed.clear();
  const uint64_t checksum_before = r.hash.Digest();

  // The length prefix: a varint of at most 10 bytes.
  uint64_t length = 0;
  for (int shift = 0;; shift += 7) {
    const int c = r.in->get();
    if (c == std::char_traits<char>::eof()) {
      if (r.in->bad()) return r.Fail("reading the stream failed");
      if (r.framed.empty()) {
        return r.Fail("the stream ends without an end frame after " + std::to_string(r.frame - 1) +
                      " frames: it was cut short");
      }
      return r.Fail("the stream ends inside the frame's length: it was cut short");
    }
    r.framed.push_back(static_cast<char>(c));
    if (shift > 63) return r.Fail("the frame's length is not a varint: the stream is damaged");
    length |= static_cast<uint64_t>(c & 0x7F) << shift;
    if ((c & 0x80) == 0) break;
  }
  if (length > kMaxExportFrameBytes) {
    return r.Fail("the frame claims " + std::to_string(length) + " bytes, more than the " +
                  std::to_string(kMaxExportFrameBytes) +
                  " a frame may have: the stream is damaged");
  }
  // Read in pieces, so that a damaged length does not allocate before the bytes are there.
  const size_t prefix = r.framed.size();
  for (uint64_t done = 0; done < length;) {
    const size_t piece = static_cast<size_t>(std::min<uint64_t>(length - done, 1u << 20));
    r.framed.resize(prefix + done + piece);
    r.in->read(r.framed.data() + prefix + done, static_cast<std::streamsize>(piece));
    const auto got = static_cast<uint64_t>(r.in->gcount());
    done += got;
    if (got < piece) {
      if (r.in->bad()) return r.Fail("reading the stream failed");
      return r.Fail("the stream ends " + std::to_string(done) + " bytes into the frame's " +
                    std::to_string(length) + ": it was cut short");
    }
  }
  r.bytes += r.framed.size();
  r.message.Clear();
  if (!r.message.ParseFromArray(r.framed.data() + prefix, static_cast<int>(length))) {
    return r.Fail("the frame does not parse: the stream is damaged");
  }

  ExportFrame out;
  switch (r.message.frame_case()) {
    case xpb::ExportFrame::kHeader:
      out = FromProto(r.message.header());
      break;
    case xpb::ExportFrame::kModel:
      out = FromProto(r.message.model());
      break;
    case xpb::ExportFrame::kModelChunk: {
      auto chunk = FromProto(r.message.model_chunk());
      if (!chunk) return r.Fail(chunk.error().message());
      out = std::move(*chunk);
      break;
    }
    case xpb::ExportFrame::kCollection: {
      auto meta = FromProto(r.message.collection());
      if (!meta) return r.Fail(meta.error().message());
      out = std::move(*meta);
      break;
    }
    case xpb::ExportFrame::kRecord: {
      auto record = FromProto(r.message.record());
      if (!record) return r.Fail(record.error().message());
      out = std::move(*record);
      break;
    }
    case xpb::ExportFrame::kEnd: {
      const ExportEnd end = FromProto(r.message.end());
      const ExportEnd& c = r.counts;
      if (end.frames != c.frames || end.models != c.models || end.model_chunks != c.model_chunks ||
          end.collections != c.collections || end.records != c.records) {
        return r.Fail("the end frame counts " + std::to_string(end.frames) + " frames (" +
                      std::to_string(end.models) + " models, " + std::to_string(end.model_chunks) +
                      " model chunks, " + std::to_string(end.collections) + " collections, " +
                      std::to_string(end.records) + " records), the stream has " +
                      std::to_string(c.frames) + " (" + std::to_string(c.models) + ", " +
                      std::to_string(c.model_chunks) + ", " + std::to_string(c.collections) + ", " +
                      std::to_string(c.records) + "): the stream is damaged");
      }
      if (end.xxhash64 != checksum_before) {
        return r.Fail("the checksum of the " + std::to_string(r.frame_offset) +
                      " bytes before the end frame is wrong: the stream is damaged");
      }
      if (r.in->peek() != std::char_traits<char>::eof()) {
        return r.Fail("bytes follow the end frame: the stream is damaged");
      }
      r.ended = true;
      out = end;
      return out;
    }
    case xpb::ExportFrame::FRAME_NOT_SET:
      return r.Fail("the frame is of no kind this relate knows (written by a newer one?)");
  }
  r.hash.Update(r.framed);
  Count(out, &r.counts);
  return out;
}

}  // namespace relate::storage
