// Embedding models stored in the database: import, list, describe, drop, export;
// and the collections that embed their texts with one: embedding a text as the
// collection does, fitting SIF's component, applying a new model version.
//
// An import writes the model's data in chunks (several batches, so a large
// model does not need one giant write), and only then, in one last batch, its
// catalog entry: a model is visible whole or not at all. Data left by an import
// that did not finish has no catalog entry and is removed on the next open; its
// id is never reused, since the first batch already advances the next id.
#include <algorithm>
#include <fstream>

#include "embed/pooling.h"
#include "embed/vector_readers.h"
#include "query/db_impl.h"
#include "query/model_codec.h"

namespace relate::query {
namespace {

namespace fs = std::filesystem;

// Bytes of model data per write batch.
constexpr size_t kModelBatchBytes = 64 << 20;

// Whether `file` starts with fastText's magic number (files since 2017).
bool HasFastTextMagic(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  unsigned char magic[4] = {};
  in.read(reinterpret_cast<char*>(magic), 4);
  return in && magic[0] == 0xBA && magic[1] == 0x16 && magic[2] == 0x4F && magic[3] == 0x2F;
}

// Reads `file` in `format` into a model.
Result<LoadedModel> ReadModelFile(const fs::path& file, std::string_view format,
                                  const ModelOptions& options, std::string* format_used) {
  embed::VectorFormat vector_format = embed::VectorFormat::kAuto;
  if (format == "auto") {
    if (HasFastTextMagic(file)) format = "fasttext-bin";
  } else if (format == "word2vec-text") {
    vector_format = embed::VectorFormat::kWord2VecText;
  } else if (format == "word2vec-binary") {
    vector_format = embed::VectorFormat::kWord2VecBinary;
  } else if (format == "glove") {
    vector_format = embed::VectorFormat::kGloveText;
  } else if (format != "fasttext-bin") {
    return Status::InvalidArgument("unknown model format \"" + std::string(format) +
                                   "\"; expected auto, word2vec-text, word2vec-binary, glove or "
                                   "fasttext-bin");
  }
  LoadedModel model;
  if (format == "fasttext-bin") {
    RELATE_ASSIGN_OR_RETURN(auto ft, embed::FastTextModel::Read(file, options.progress));
    model.fasttext.emplace(std::move(ft));
    *format_used = "fasttext-bin";
    return model;
  }
  if (vector_format == embed::VectorFormat::kAuto) {
    RELATE_ASSIGN_OR_RETURN(vector_format, embed::DetectVectorFormat(file));
  }
  RELATE_ASSIGN_OR_RETURN(model.plain,
                          embed::ReadWordVectors(file, vector_format, options.progress));
  switch (vector_format) {
    case embed::VectorFormat::kWord2VecBinary:
      *format_used = "word2vec-binary";
      break;
    case embed::VectorFormat::kGloveText:
      *format_used = "glove";
      break;
    default:
      *format_used = "word2vec-text";
      break;
  }
  return model;
}

}  // namespace

Result<std::unique_ptr<embed::Embedder>> MakeEmbedder(const LoadedModel& model) {
  const storage::ModelMeta& m = model.meta;
  embed::EmbedderOptions options;
  options.tokenizer.lowercase = m.info.lowercase;
  options.tokenizer.keep_numbers = m.info.keep_numbers;
  options.tokenizer.keep_punctuation = m.info.keep_punctuation;
  RELATE_ASSIGN_OR_RETURN(options.activation, embed::ParseActivation(m.info.activation));
  options.pooling = m.info.pooling == "sif" ? embed::Pooling::kSif : embed::Pooling::kMean;
  options.sif_a = m.info.sif_a;
  embed::Embedder::OovFunction oov;
  if (model.fasttext) {
    const embed::FastTextModel* ft = &*model.fasttext;
    oov = [ft](std::string_view token) -> std::optional<std::vector<float>> {
      auto v = ft->WordVector(token);
      // A word without n-grams gets fastText's zero vector: no evidence, so skip it.
      if (!v || std::all_of(v->begin(), v->end(), [](float x) { return x == 0.0f; })) {
        return std::nullopt;
      }
      return std::move(*v);
    };
  }
  return std::make_unique<embed::Embedder>(model.words(), options, std::move(oov));
}

Status DBImpl::RefuseIfUsed(std::string_view model, const std::string& where) const {
  util::SharedLock lock(&catalog_mu_);
  auto users = CollectionsUsingLocked(model);
  if (users.empty()) return Status::OK();
  return Status::FailedPrecondition(
      where + ": collection " + Quote(users[0]) +
      (users.size() > 1 ? " and " + std::to_string(users.size() - 1) + " more use it"
                        : " uses it"));
}

Result<std::shared_ptr<ModelEntry>> DBImpl::FindModel(std::string_view name) const {
  util::SharedLock lock(&catalog_mu_);
  auto it = models_.find(name);
  if (it == models_.end() || it->second.empty()) {
    return Status::NotFound("no model named " + Quote(name));
  }
  return it->second.rbegin()->second;
}

Result<std::shared_ptr<ModelEntry>> DBImpl::FindModelVersion(std::string_view name,
                                                             uint64_t version) const {
  util::SharedLock lock(&catalog_mu_);
  auto it = models_.find(name);
  if (it != models_.end()) {
    auto v = it->second.find(version);
    if (v != it->second.end()) return v->second;
  }
  return Status::NotFound("no version " + std::to_string(version) + " of model " + Quote(name));
}

bool DBImpl::VersionInUseLocked(std::string_view model, uint64_t version,
                                const Collection* except) const {
  for (const auto& [_, c] : collections_) {
    if (c.get() != except && c->meta.spec.model == model && c->Meta().model_version == version) {
      return true;
    }
  }
  return false;
}

Status DBImpl::WriteModelData(const storage::ModelMeta& meta, const LoadedModel& model) {
  const embed::WordVectors& words = model.words();
  auto batch = std::make_unique<storage::Batch>(*store_);
  auto flush = [&]() -> Status {
    if (batch->ByteSize() == 0) return Status::OK();
    RELATE_RETURN_IF_ERROR(store_->Write(*batch, false));
    batch = std::make_unique<storage::Batch>(*store_);
    return Status::OK();
  };
  batch->PutNextModelId(meta.id + 1);
  auto put_table = [&](char part, const embed::EmbeddingTable& table) -> Status {
    for (size_t begin = 0, chunk = 0; begin < table.rows(); begin += kModelChunkRows, ++chunk) {
      const size_t end = std::min(table.rows(), begin + kModelChunkRows);
      batch->PutModelChunk(meta.id, part, static_cast<uint32_t>(chunk),
                           RowBytes(table, begin, end));
      if (part == kPartRows) {
        batch->PutModelChunk(meta.id, kPartWords, static_cast<uint32_t>(chunk),
                             EncodeWords(words.vocabulary, begin, end));
      }
      if (batch->ByteSize() >= kModelBatchBytes) RELATE_RETURN_IF_ERROR(flush());
    }
    return Status::OK();
  };
  RELATE_RETURN_IF_ERROR(put_table(kPartRows, words.table));
  if (model.fasttext) {
    RELATE_RETURN_IF_ERROR(put_table(kPartBuckets, model.fasttext->bucket_rows()));
    batch->PutModelChunk(meta.id, kPartLabels, 0, EncodeStrings(model.fasttext->labels()));
  }
  return flush();
}

Status DBImpl::ImportModel(std::string_view name, const std::filesystem::path& file,
                           const ModelOptions& options) {
  if (store_->read_only()) return Status::FailedPrecondition("the database is open read-only");
  const std::string where = "model import " + Quote(name);
  RELATE_RETURN_IF_ERROR(CheckName(name, where + ": a model name"));
  RELATE_RETURN_IF_ERROR(embed::ParseActivation(options.activation).error().WithContext(where));
  if (options.pooling != "mean" && options.pooling != "sif") {
    return Status::InvalidArgument(where + ": unknown pooling \"" + options.pooling +
                                   "\"; expected mean or sif");
  }
  if (!(options.sif_a > 0)) return Status::InvalidArgument(where + ": sif_a must be positive");
  std::error_code ec;
  if (!fs::exists(file, ec))
    return Status::NotFound(where + ": " + file.string() + " does not exist");
  {
    auto existing = FindModel(name);
    if (existing && !options.replace) {
      return Status::AlreadyExists(
          where +
          ": a model of that name exists (replace it with --replace, or ModelOptions::replace)");
    }
  }

  // Read the whole file before writing anything: a bad file imports nothing.
  std::string format_used;
  RELATE_ASSIGN_OR_RETURN(LoadedModel model,
                          ReadModelFile(file, options.format, options, &format_used));
  const embed::WordVectors& words = model.words();
  if (words.vocabulary.size() == 0) {
    return Status::InvalidArgument(where + ": " + file.string() + " holds no words");
  }

  storage::ModelMeta& meta = model.meta;
  meta.info.name = std::string(name);
  meta.info.dimension = words.table.dim();
  meta.info.words = words.vocabulary.size();
  meta.info.format = format_used;
  meta.info.source = fs::absolute(file, ec).string();
  meta.info.lowercase = options.lowercase;
  meta.info.keep_numbers = options.keep_numbers;
  meta.info.keep_punctuation = options.keep_punctuation;
  meta.info.activation = options.activation;
  meta.info.pooling = options.pooling;
  meta.info.sif_a = options.sif_a;
  if (model.fasttext) {
    meta.legacy_fasttext = model.fasttext->legacy();
    meta.labels = model.fasttext->labels().size();
  }
  return CommitModel(std::move(model), options.replace, where);
}

Status DBImpl::CommitModel(LoadedModel model, bool replace, const std::string& where) {
  storage::ModelMeta& meta = model.meta;
  const std::string name = meta.info.name;
  if (model.fasttext) {
    meta.info.subword_buckets = model.fasttext->buckets();
    meta.info.min_ngram = model.fasttext->minn();
    meta.info.max_ngram = model.fasttext->maxn();
  }
  util::MutexLock write(&write_mu_);
  auto existing = FindModel(name);
  if (existing && !replace) {
    return Status::AlreadyExists(
        where +
        ": a model of that name exists (replace it with --replace, or ModelOptions::replace)");
  }
  RELATE_ASSIGN_OR_RETURN(uint32_t id, store_->NextModelId());
  meta.id = id;
  meta.info.version = existing ? (*existing)->meta.info.version + 1 : 1;
  meta.info.created_unix_ms = NowUnixMs();
  RELATE_RETURN_IF_ERROR(WriteModelData(meta, model).WithContext(where));
  // The new version and, in the same batch, the end of every older version that
  // no collection holds vectors of; the others stay until `ApplyModel` moves
  // their collections on.
  storage::Batch commit(*store_);
  std::vector<uint64_t> retired;
  {
    util::SharedLock lock(&catalog_mu_);
    auto it = models_.find(name);
    if (it != models_.end()) {
      for (const auto& [version, entry] : it->second) {
        if (!VersionInUseLocked(name, version)) {
          commit.DeleteModel(entry->meta);
          retired.push_back(version);
        }
      }
    }
  }
  commit.PutModel(meta);
  RELATE_RETURN_IF_ERROR(store_->Write(commit, true).WithContext(where));

  auto entry = std::make_shared<ModelEntry>();
  entry->meta = meta;
  {
    util::MutexLock load(&entry->load_mu);
    entry->loaded = std::make_shared<const LoadedModel>(std::move(model));
  }
  util::ExclusiveLock lock(&catalog_mu_);
  auto& versions = models_[name];
  for (uint64_t v : retired) versions.erase(v);
  versions[meta.info.version] = std::move(entry);
  return Status::OK();
}

Result<std::shared_ptr<const LoadedModel>> DBImpl::LoadModel(ModelEntry& entry) {
  util::MutexLock lock(&entry.load_mu);
  if (entry.loaded) return entry.loaded;
  const storage::ModelMeta& meta = entry.meta;
  const std::string where = "loading model " + Quote(meta.info.name);
  embed::WordVectors words;
  words.table = embed::EmbeddingTable(0, meta.info.dimension);
  words.table.Reserve(meta.info.words);
  words.vocabulary.Reserve(meta.info.words);
  RELATE_RETURN_IF_ERROR(store_
                             ->ScanModelPart(meta.id, kPartWords,
                                             [&](uint32_t, std::string_view b) {
                                               return DecodeWords(b, &words.vocabulary);
                                             })
                             .WithContext(where));
  RELATE_RETURN_IF_ERROR(
      store_
          ->ScanModelPart(meta.id, kPartRows,
                          [&](uint32_t, std::string_view b) { return AppendRows(b, &words.table); })
          .WithContext(where));
  if (words.vocabulary.size() != meta.info.words || words.table.rows() != meta.info.words) {
    return Status::Corruption(where + ": the catalog says " + std::to_string(meta.info.words) +
                              " words, storage holds " + std::to_string(words.vocabulary.size()) +
                              " words and " + std::to_string(words.table.rows()) + " rows");
  }
  LoadedModel model;
  model.meta = meta;
  if (meta.info.format == "fasttext-bin" || meta.info.subword_buckets > 0) {
    embed::EmbeddingTable buckets(0, meta.info.dimension);
    buckets.Reserve(meta.info.subword_buckets);
    RELATE_RETURN_IF_ERROR(
        store_
            ->ScanModelPart(meta.id, kPartBuckets,
                            [&](uint32_t, std::string_view b) { return AppendRows(b, &buckets); })
            .WithContext(where));
    std::vector<std::string> labels;
    RELATE_RETURN_IF_ERROR(
        store_
            ->ScanModelPart(meta.id, kPartLabels,
                            [&](uint32_t, std::string_view b) { return DecodeStrings(b, &labels); })
            .WithContext(where));
    if (buckets.rows() != meta.info.subword_buckets || labels.size() != meta.labels) {
      return Status::Corruption(where + ": its n-gram rows or labels are incomplete");
    }
    RELATE_ASSIGN_OR_RETURN(
        auto ft, embed::FastTextModel::FromParts(std::move(words), std::move(buckets),
                                                 std::move(labels), meta.info.min_ngram,
                                                 meta.info.max_ngram, meta.legacy_fasttext));
    model.fasttext.emplace(std::move(ft));
  } else {
    model.plain = std::move(words);
  }
  entry.loaded = std::make_shared<const LoadedModel>(std::move(model));
  return entry.loaded;
}

Result<std::vector<ModelInfo>> DBImpl::ListModels() {
  util::SharedLock lock(&catalog_mu_);
  std::vector<ModelInfo> out;
  for (const auto& [_, versions] : models_) {
    if (!versions.empty()) out.push_back(versions.rbegin()->second->meta.info);
  }
  return out;
}

Result<ModelInfo> DBImpl::DescribeModel(std::string_view name) {
  RELATE_ASSIGN_OR_RETURN(auto entry, FindModel(name));
  return entry->meta.info;
}

Status DBImpl::DropModel(std::string_view name) {
  if (store_->read_only()) return Status::FailedPrecondition("the database is open read-only");
  util::MutexLock write(&write_mu_);
  RELATE_ASSIGN_OR_RETURN(auto entry, FindModel(name));
  RELATE_RETURN_IF_ERROR(RefuseIfUsed(name, "dropping model " + Quote(name)));
  storage::Batch batch(*store_);
  {
    util::SharedLock lock(&catalog_mu_);
    for (const auto& [_, version] : models_.find(name)->second) batch.DeleteModel(version->meta);
  }
  RELATE_RETURN_IF_ERROR(store_->Write(batch, true).WithContext("dropping model " + Quote(name)));
  util::ExclusiveLock lock(&catalog_mu_);
  models_.erase(models_.find(name));
  return Status::OK();
}

Status DBImpl::ExportModel(std::string_view name, const std::filesystem::path& file,
                           std::string_view format) {
  const std::string where = "model export " + Quote(name);
  if (format != "word2vec-text" && format != "word2vec-binary") {
    return Status::InvalidArgument(where + ": unknown format \"" + std::string(format) +
                                   "\"; expected word2vec-text or word2vec-binary");
  }
  RELATE_ASSIGN_OR_RETURN(auto entry, FindModel(name));
  RELATE_ASSIGN_OR_RETURN(auto model, LoadModel(*entry));
  Status s = format == "word2vec-text" ? embed::WriteWord2VecText(file, model->words())
                                       : embed::WriteWord2VecBinary(file, model->words());
  return s.WithContext(where);
}

Result<std::pair<std::vector<float>, uint64_t>> DBImpl::EmbedForCollection(Collection& c,
                                                                           std::string_view text) {
  while (true) {
    const uint64_t generation = c.generation.load();
    RELATE_ASSIGN_OR_RETURN(EmbedderHandle embedder, EmbedderFor(c));
    const std::vector<float> component = c.Component();
    RELATE_ASSIGN_OR_RETURN(std::vector<float> v, embedder->Embed(text, component));
    if (c.generation.load() == generation) return std::make_pair(std::move(v), generation);
  }
}

Result<std::vector<float>> DBImpl::EmbedText(std::string_view collection, std::string_view text) {
  RELATE_ASSIGN_OR_RETURN(auto c, Find(collection));
  RELATE_ASSIGN_OR_RETURN(auto embedded, EmbedForCollection(*c, text));
  return std::move(embedded.first);
}

Status DBImpl::FitSifComponent(std::string_view collection) {
  if (store_->read_only()) return Status::FailedPrecondition("the database is open read-only");
  RELATE_ASSIGN_OR_RETURN(auto c, Find(collection));
  const std::string where = "fitting the SIF component of " + Quote(collection);
  // Holding the write lock throughout: no record changes between the scan and
  // the commit, so every text-made record gets the new component.
  util::MutexLock write(&write_mu_);
  if (c->dropped) return Status::NotFound("no collection named " + Quote(collection));
  auto embedder = EmbedderFor(*c);
  if (!embedder) return embedder.error().WithContext(where);
  if (embedder->model->meta.info.pooling != "sif") {
    return Status::FailedPrecondition(where + ": model " + Quote(c->meta.spec.model) +
                                      " pools with " + embedder->model->meta.info.pooling +
                                      ", not sif");
  }
  RELATE_ASSIGN_OR_RETURN(auto entry,
                          FindModelVersion(c->meta.spec.model, c->Meta().model_version));
  return ReembedLocked(*c, entry, /*fit_component=*/true, where);
}

Status DBImpl::ReembedLocked(Collection& c, const std::shared_ptr<ModelEntry>& entry,
                             bool fit_component, const std::string& where) {
  const uint32_t dim = c.meta.spec.dimension;
  if (entry->meta.info.dimension != dim) {
    return Status::FailedPrecondition(
        where + ": model " + Quote(entry->meta.info.name) + " version " +
        std::to_string(entry->meta.info.version) + " has dimension " +
        std::to_string(entry->meta.info.dimension) + ", the collection " + std::to_string(dim) +
        "; its vectors are left as they are (create a new collection for this model)");
  }
  RELATE_ASSIGN_OR_RETURN(auto model, LoadModel(*entry));
  RELATE_ASSIGN_OR_RETURN(std::shared_ptr<const embed::Embedder> embedder, MakeEmbedder(*model));
  std::vector<StoredRecord> stored;
  RELATE_RETURN_IF_ERROR(store_->ScanRecords(c.meta.id, false, [&](StoredRecord&& r) {
    if (!r.text.empty()) stored.push_back(std::move(r));
    return Status::OK();
  }));

  // Without a component first: SIF's component is fitted on these vectors.
  std::vector<std::vector<float>> vectors(stored.size());
  std::vector<Status> errors(stored.size());
  const auto n = static_cast<int64_t>(stored.size());
#pragma omp parallel for schedule(dynamic, 16) if (n >= 64)
  for (int64_t i = 0; i < n; ++i) {
    const auto j = static_cast<size_t>(i);
    auto v = embedder->Embed(stored[j].text);
    if (v) {
      vectors[j] = std::move(*v);
    } else {
      errors[j] = v.error();
    }
  }
  std::vector<float> component;
  if (fit_component) {
    std::vector<float> all;
    for (const auto& v : vectors) all.insert(all.end(), v.begin(), v.end());
    if (all.size() < 2 * static_cast<size_t>(dim)) {
      return Status::FailedPrecondition(where + ": fewer than two records have text to embed");
    }
    component = embed::FirstPrincipalComponent(all, dim);
    if (component.empty())
      return Status::FailedPrecondition(where + ": the texts have no direction");
  }
  if (entry->meta.info.version != c.Meta().model_version) {
    // A new model version: its vectors must all come from it, or none.
    for (size_t j = 0; j < stored.size(); ++j) {
      if (errors[j].ok()) continue;
      return Status::FailedPrecondition(where + ": record " + Quote(stored[j].key) + ": " +
                                        std::string(errors[j].message()) +
                                        "; the collection keeps its vectors");
    }
  }

  storage::CollectionMeta meta = c.Meta();
  meta.sif_component = component;
  meta.model_version = entry->meta.info.version;
  storage::Batch batch(*store_);
  std::vector<uint64_t> ids;
  std::vector<float> prepared;
  ids.reserve(stored.size());
  prepared.reserve(stored.size() * dim);
  for (size_t i = 0; i < stored.size(); ++i) {
    if (vectors[i].empty()) continue;  // fitting: text the model cannot embed keeps its vector
    StoredRecord& r = stored[i];
    std::vector<float> v = std::move(vectors[i]);
    if (!component.empty()) {
      auto with = embedder->Embed(r.text, component);
      if (!with) return with.error().WithContext(where + ": record " + Quote(r.key));
      v = std::move(*with);
    }
    Record record{.key = std::move(r.key),
                  .text = std::move(r.text),
                  .metadata = std::move(r.metadata),
                  .vector = std::move(v)};
    batch.PutRecord(meta.id, r.id, r.version + 1, record);
    batch.PutChange(meta.id, ++meta.last_change, r.id);
    ids.push_back(r.id);
    prepared.insert(prepared.end(), record.vector.begin(), record.vector.end());
  }
  index::PrepareVectors(meta.spec.metric, dim, prepared);
  // The model version this collection leaves goes with it if no one else holds it.
  const uint64_t old_version = c.Meta().model_version;
  std::shared_ptr<ModelEntry> retiring;
  if (old_version != meta.model_version) {
    retiring = RetiringVersion(c);
    if (retiring) batch.DeleteModel(retiring->meta);
  }
  RELATE_RETURN_IF_ERROR(
      CommitLocked(c, batch, meta, {.sync = true}, where, ids, ids, prepared, [&] {
        // Queries see the new vectors, component and
        // embedder together.
        c.SetComponent(component);
        c.SetModelVersion(meta.model_version);
        util::MutexLock lock(&c.embed_mu);
        c.model = model;
        c.embedder = embedder;
        c.generation.fetch_add(1);
      }));
  if (retiring) ForgetVersion(*retiring);
  return MaybeCheckpointLocked(c);
}

std::shared_ptr<ModelEntry> DBImpl::RetiringVersion(const Collection& leaving) const {
  const std::string& model = leaving.meta.spec.model;
  if (model.empty()) return nullptr;
  const uint64_t version = leaving.Meta().model_version;
  util::SharedLock lock(&catalog_mu_);
  auto it = models_.find(model);
  if (it == models_.end() || it->second.rbegin()->first == version ||
      VersionInUseLocked(model, version, &leaving)) {
    return nullptr;
  }
  auto v = it->second.find(version);
  return v == it->second.end() ? nullptr : v->second;
}

void DBImpl::ForgetVersion(const ModelEntry& entry) {
  util::ExclusiveLock lock(&catalog_mu_);
  auto it = models_.find(entry.meta.info.name);
  if (it != models_.end()) it->second.erase(entry.meta.info.version);
}

Result<std::vector<std::string>> DBImpl::ApplyModel(std::string_view name) {
  if (store_->read_only()) return Status::FailedPrecondition("the database is open read-only");
  util::MutexLock write(&write_mu_);
  RELATE_ASSIGN_OR_RETURN(auto latest, FindModel(name));
  std::vector<std::shared_ptr<Collection>> stale;
  {
    util::SharedLock lock(&catalog_mu_);
    for (const auto& [_, c] : collections_) {
      if (c->meta.spec.model == name && c->Meta().model_version != latest->meta.info.version) {
        stale.push_back(c);
      }
    }
  }
  std::vector<std::string> moved;
  for (const auto& c : stale) {
    const std::string where = "applying model " + Quote(name) + " version " +
                              std::to_string(latest->meta.info.version) + " to collection " +
                              Quote(c->meta.spec.name);
    // A fitted SIF component belongs to the old vectors: fit it again on the new ones.
    const bool refit = !c->Component().empty() && latest->meta.info.pooling == "sif";
    RELATE_RETURN_IF_ERROR(ReembedLocked(*c, latest, refit, where));
    moved.push_back(c->meta.spec.name);
  }
  return moved;
}

Result<DBImpl::EmbedderHandle> DBImpl::EmbedderFor(Collection& c) {
  const CollectionSpec& spec = c.meta.spec;
  if (spec.model.empty()) {
    return Status::FailedPrecondition("collection " + Quote(spec.name) +
                                      " has no model to embed text; give vectors, or create it "
                                      "with a model");
  }
  util::MutexLock lock(&c.embed_mu);
  if (!c.embedder) {
    RELATE_ASSIGN_OR_RETURN(auto entry, FindModelVersion(spec.model, c.Meta().model_version));
    RELATE_ASSIGN_OR_RETURN(auto model, LoadModel(*entry));
    RELATE_ASSIGN_OR_RETURN(auto embedder, MakeEmbedder(*model));
    c.model = std::move(model);
    c.embedder = std::move(embedder);
  }
  return EmbedderHandle{c.model, c.embedder};
}

std::vector<std::string> DBImpl::CollectionsUsingLocked(std::string_view model) const {
  std::vector<std::string> names;
  for (const auto& [name, c] : collections_) {
    if (c->meta.spec.model == model) names.push_back(name);
  }
  return names;
}

}  // namespace relate::query
