#include "storage/codec.h"

#include <google/protobuf/arena.h>

#include <cstring>

#include "records.pb.h"
#include "storage/proto_metadata.h"

namespace relate::storage {
namespace {

static_assert(sizeof(float) == 4, "vectors are stored as 4-byte floats");

void ToProto(const MetadataValue& v, pb::MetadataValue* out) { MetadataToProto(v, out); }

Status FromProto(const pb::MetadataValue& v, MetadataValue* out) {
  return MetadataFromProto(v, out) ? Status::OK()
                                   : Status::Corruption("metadata value has no type");
}

}  // namespace

std::string EncodeRecord(uint64_t id, uint64_t version, const Record& record) {
  pb::Record p;
  p.set_key(record.key);
  p.set_id(id);
  p.set_text(record.text);
  for (const auto& [name, value] : record.metadata) {
    auto* e = p.add_metadata();
    e->set_name(name);
    ToProto(value, e->mutable_value());
  }
  p.set_version(version);
  return p.SerializeAsString();
}

Status DecodeRecord(std::string_view bytes, StoredRecord* record) {
  // Parsing on a stack arena spares a heap allocation per field; searches decode
  // every hit they return.
  alignas(8) char initial_block[4096];
  google::protobuf::ArenaOptions arena_options;
  arena_options.initial_block = initial_block;
  arena_options.initial_block_size = sizeof initial_block;
  google::protobuf::Arena arena(arena_options);
  auto* p = google::protobuf::Arena::CreateMessage<pb::Record>(&arena);
  if (!p->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Status::Corruption("record does not parse");
  }
  record->key = p->key();
  record->id = p->id();
  record->text = p->text();
  record->metadata.clear();
  for (const auto& e : p->metadata()) {
    MetadataValue v;
    if (Status s = FromProto(e.value(), &v); !s.ok()) return s.WithContext("record " + record->key);
    record->metadata.emplace_hint(record->metadata.end(), e.name(), std::move(v));
  }
  record->version = p->version();
  return Status::OK();
}

Status DecodeVector(std::string_view bytes, std::vector<float>* vector) {
  if (bytes.size() % sizeof(float) != 0) {
    return Status::Corruption("vector of " + std::to_string(bytes.size()) +
                              " bytes is not a whole number of float32 values");
  }
  vector->resize(bytes.size() / sizeof(float));
  // An empty vector's data() may be null, which memcpy must not get even for 0 bytes.
  if (!bytes.empty()) std::memcpy(vector->data(), bytes.data(), bytes.size());
  return Status::OK();
}

std::string EncodeCollection(const CollectionMeta& meta) {
  pb::Collection p;
  p.set_id(meta.id);
  p.set_name(meta.spec.name);
  p.set_dimension(meta.spec.dimension);
  p.set_metric(std::string(MetricName(meta.spec.metric)));
  p.set_index_spec(meta.spec.index_spec);
  p.set_created_unix_ms(meta.created_unix_ms);
  p.set_count(meta.count);
  p.set_next_record_id(meta.next_record_id);
  p.set_last_change(meta.last_change);
  p.set_model(meta.spec.model);
  p.set_model_version(meta.model_version);
  for (float x : meta.sif_component) p.add_sif_component(x);
  p.set_ef_search(meta.knobs.ef_search);
  p.set_nprobe(meta.knobs.nprobe);
  p.set_refine(meta.knobs.refine);
  p.set_tuned_recall(meta.tuned_recall);
  p.set_tuned_target(meta.tuned_target);
  p.set_tuned_unix_ms(meta.tuned_unix_ms);
  for (const auto& field : meta.spec.filterable) p.add_filterable(field);
  p.set_keyword_index(meta.spec.keyword_index);
  p.set_text_docs(meta.text_docs);
  p.set_text_terms(meta.text_terms);
  return p.SerializeAsString();
}

Status DecodeCollection(std::string_view bytes, CollectionMeta* meta) {
  pb::Collection p;
  if (!p.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Status::Corruption("catalog entry does not parse");
  }
  auto metric = ParseMetric(p.metric());
  if (!metric) return Status::Corruption("catalog entry " + p.name() + ": bad metric");
  meta->id = p.id();
  meta->spec.name = p.name();
  meta->spec.dimension = p.dimension();
  meta->spec.metric = *metric;
  meta->spec.index_spec = p.index_spec();
  meta->created_unix_ms = p.created_unix_ms();
  meta->count = p.count();
  meta->next_record_id = p.next_record_id();
  meta->last_change = p.last_change();
  meta->spec.model = p.model();
  meta->model_version = p.model_version();
  meta->sif_component.assign(p.sif_component().begin(), p.sif_component().end());
  meta->knobs = SearchKnobs{.ef_search = p.ef_search(), .nprobe = p.nprobe(), .refine = p.refine()};
  meta->tuned_recall = p.tuned_recall();
  meta->tuned_target = p.tuned_target();
  meta->tuned_unix_ms = p.tuned_unix_ms();
  meta->spec.filterable.assign(p.filterable().begin(), p.filterable().end());
  meta->spec.keyword_index = p.has_keyword_index() && p.keyword_index();
  meta->text_docs = p.text_docs();
  meta->text_terms = p.text_terms();
  return Status::OK();
}

std::string EncodeModel(const ModelMeta& meta) {
  pb::Model p;
  p.set_id(meta.id);
  p.set_name(meta.info.name);
  p.set_version(meta.info.version);
  p.set_dimension(meta.info.dimension);
  p.set_words(meta.info.words);
  p.set_format(meta.info.format);
  p.set_source(meta.info.source);
  p.set_created_unix_ms(meta.info.created_unix_ms);
  p.set_lowercase(meta.info.lowercase);
  p.set_keep_numbers(meta.info.keep_numbers);
  p.set_keep_punctuation(meta.info.keep_punctuation);
  p.set_activation(meta.info.activation);
  p.set_pooling(meta.info.pooling);
  p.set_sif_a(meta.info.sif_a);
  p.set_buckets(meta.info.subword_buckets);
  p.set_minn(meta.info.min_ngram);
  p.set_maxn(meta.info.max_ngram);
  p.set_legacy_fasttext(meta.legacy_fasttext);
  p.set_labels(meta.labels);
  return p.SerializeAsString();
}

Status DecodeModel(std::string_view bytes, ModelMeta* meta) {
  pb::Model p;
  if (!p.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Status::Corruption("model catalog entry does not parse");
  }
  meta->id = p.id();
  meta->info.name = p.name();
  meta->info.version = p.version();
  meta->info.dimension = p.dimension();
  meta->info.words = p.words();
  meta->info.format = p.format();
  meta->info.source = p.source();
  meta->info.created_unix_ms = p.created_unix_ms();
  meta->info.lowercase = p.lowercase();
  meta->info.keep_numbers = p.keep_numbers();
  meta->info.keep_punctuation = p.keep_punctuation();
  meta->info.activation = p.activation();
  meta->info.pooling = p.pooling();
  meta->info.sif_a = p.sif_a();
  meta->info.subword_buckets = p.buckets();
  meta->info.min_ngram = p.minn();
  meta->info.max_ngram = p.maxn();
  meta->legacy_fasttext = p.legacy_fasttext();
  meta->labels = p.labels();
  return Status::OK();
}

}  // namespace relate::storage
