// Embedding models stored in the database: import, list, describe, drop, export.
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
  std::shared_lock lock(catalog_mu_);
  auto users = CollectionsUsingLocked(model);
  if (users.empty()) return Status::OK();
  return Status::FailedPrecondition(
      where + ": collection " + Quote(users[0]) +
      (users.size() > 1 ? " and " + std::to_string(users.size() - 1) + " more use it"
                        : " uses it"));
}

Result<std::shared_ptr<ModelEntry>> DBImpl::FindModel(std::string_view name) const {
  std::shared_lock lock(catalog_mu_);
  auto it = models_.find(name);
  if (it == models_.end() || it->second.empty()) {
    return Status::NotFound("no model named " + Quote(name));
  }
  return it->second.rbegin()->second;
}

Result<std::shared_ptr<ModelEntry>> DBImpl::FindModelVersion(std::string_view name,
                                                             uint64_t version) const {
  std::shared_lock lock(catalog_mu_);
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
  std::lock_guard write(write_mu_);
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
    std::shared_lock lock(catalog_mu_);
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
  entry->loaded = std::make_shared<const LoadedModel>(std::move(model));
  std::unique_lock lock(catalog_mu_);
  auto& versions = models_[name];
  for (uint64_t v : retired) versions.erase(v);
  versions[meta.info.version] = std::move(entry);
  return Status::OK();
}

Result<std::shared_ptr<const LoadedModel>> DBImpl::LoadModel(ModelEntry& entry) {
  std::lock_guard lock(entry.load_mu);
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
  std::shared_lock lock(catalog_mu_);
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
  std::lock_guard write(write_mu_);
  RELATE_ASSIGN_OR_RETURN(auto entry, FindModel(name));
  RELATE_RETURN_IF_ERROR(RefuseIfUsed(name, "dropping model " + Quote(name)));
  storage::Batch batch(*store_);
  {
    std::shared_lock lock(catalog_mu_);
    for (const auto& [_, version] : models_.find(name)->second) batch.DeleteModel(version->meta);
  }
  RELATE_RETURN_IF_ERROR(store_->Write(batch, true).WithContext("dropping model " + Quote(name)));
  std::unique_lock lock(catalog_mu_);
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

}  // namespace relate::query
