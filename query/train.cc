// Models trained inside the database (DB::TrainModel).
//
// Training reads its corpus twice (vocabulary, then ids into a scratch file in
// <db>/training/) and trains without holding any database lock: reads and
// writes go on meanwhile. Only the commit of the new version takes the writer
// lock. A stopped training leaves <db>/training/<model>.ckpt, which a resume
// continues from and a finished training removes.
#include <cstdio>
#include <sstream>

#include "embed/trainer.h"
#include "query/db_impl.h"

namespace relate::query {
namespace {

namespace fs = std::filesystem;

// A file name for a model name of any bytes: FNV-1a of the name, in hex.
std::string FileStem(std::string_view name) {
  uint64_t h = 14695981039346656037ULL;
  for (char c : name) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "model-%016llx", static_cast<unsigned long long>(h));
  return buf;
}

// What identifies a corpus of files: their paths, sizes and modification times.
Result<std::string> FilesFingerprint(const std::vector<fs::path>& files, const std::string& where) {
  std::string out = "files";
  for (const auto& file : files) {
    std::error_code ec;
    if (!fs::exists(file, ec)) {
      return Status::NotFound(where + ": corpus file " + file.string() + " does not exist");
    }
    if (!fs::is_regular_file(file, ec)) {
      return Status::InvalidArgument(where + ": corpus file " + file.string() +
                                     " is not a regular file");
    }
    const auto size = fs::file_size(file, ec);
    const auto modified =
        std::chrono::duration_cast<std::chrono::nanoseconds>(
            std::chrono::file_clock::to_sys(fs::last_write_time(file, ec)).time_since_epoch())
            .count();
    out += " " + fs::absolute(file, ec).string() + " (" + std::to_string(size) +
           " bytes, modified at unix ns " + std::to_string(modified) + ")";
  }
  return out;
}

std::string Describe(const TrainOptions& o, float learning_rate) {
  std::ostringstream s;
  s << o.architecture << ", dimension " << o.dimension << ", window " << o.window << ", negative "
    << o.negative << ", sample " << o.sample << ", min_count " << o.min_count << ", epochs "
    << o.epochs << ", learning rate " << learning_rate << ", seed " << o.seed;
  if (o.max_ngram > 0) {
    s << ", subwords " << o.min_ngram << "-" << o.max_ngram << " in " << o.buckets << " buckets";
  }
  return s.str();
}

}  // namespace

Status DBImpl::TrainModel(std::string_view name, const TrainOptions& options) {
  if (store_->read_only()) return Status::FailedPrecondition("the database is open read-only");
  const std::string where = "training model " + Quote(name);
  RELATE_RETURN_IF_ERROR(CheckName(name, where + ": a model name"));
  if (options.corpus.empty() == options.collection.empty()) {
    return Status::InvalidArgument(where +
                                   ": give either corpus files or a collection to learn from");
  }
  if (!options.resume)
    RELATE_RETURN_IF_ERROR(embed::ValidateTrainOptions(options).WithContext(where));
  {
    util::MutexLock lock(&training_mu_);
    if (!training_.emplace(name).second) {
      return Status::Busy(where + ": it is being trained already");
    }
  }
  struct Done {
    DBImpl* db;
    std::string name;
    ~Done() {
      util::MutexLock lock(&db->training_mu_);
      db->training_.erase(name);
    }
  } done{this, std::string(name)};

  embed::TextSource source;
  std::string fingerprint;
  if (!options.corpus.empty()) {
    RELATE_ASSIGN_OR_RETURN(fingerprint, FilesFingerprint(options.corpus, where));
    source = embed::FileTextSource(options.corpus);
  } else {
    RELATE_ASSIGN_OR_RETURN(auto c, Find(options.collection));
    const storage::CollectionMeta meta = c->Meta();
    fingerprint = "collection " + Quote(meta.spec.name) + " (id " + std::to_string(meta.id) +
                  ", change " + std::to_string(meta.last_change) + ")";
    const uint32_t id = meta.id;
    source = [this, id](const embed::TextVisitor& visit) {
      return store_->ScanRecords(id, false, [&](StoredRecord&& r) {
        return r.text.empty() ? Status::OK() : visit(r.text);
      });
    };
  }

  std::error_code ec;
  const fs::path scratch = paths::Training(dir_);
  fs::create_directories(scratch, ec);
  if (ec)
    return Status::IOError(where + ": cannot create " + scratch.string() + ": " + ec.message());
  const std::string stem = FileStem(name);
  const fs::path checkpoint = scratch / (stem + ".ckpt");
  const fs::path ids = scratch / (stem + ".ids");

  Result<std::unique_ptr<embed::Trainer>> trainer =
      options.resume ? embed::Trainer::Resume(checkpoint, source, options, fingerprint, ids)
                     : embed::Trainer::Prepare(source, options, fingerprint, ids);
  if (!trainer) return trainer.error().WithContext(where);
  RELATE_RETURN_IF_ERROR((*trainer)->Train(checkpoint).WithContext(where));
  const double seconds = (*trainer)->stats().seconds;  // this call's training phase
  RELATE_ASSIGN_OR_RETURN(embed::TrainedModel trained, (*trainer)->Model());

  const TrainOptions& used = (*trainer)->options();
  LoadedModel model;
  if (trained.fasttext) {
    model.fasttext.emplace(std::move(*trained.fasttext));
  } else {
    model.plain = std::move(trained.plain);
  }
  storage::ModelMeta& meta = model.meta;
  meta.info.name = std::string(name);
  meta.info.dimension = used.dimension;
  meta.info.words = model.words().vocabulary.size();
  meta.info.format = "trained";
  const float learning_rate =
      used.learning_rate > 0 ? used.learning_rate : (used.architecture == "cbow" ? 0.05f : 0.025f);
  meta.info.source =
      Describe(used, learning_rate) + "; " + fingerprint + "; " +
      std::to_string((*trainer)->corpus_words()) + " words an epoch, trained in " +
      std::to_string(static_cast<int64_t>(seconds)) + " s at " +
      std::to_string(static_cast<int64_t>((*trainer)->stats().words_per_second_per_thread())) +
      " words/s per thread, mean loss " + std::to_string((*trainer)->stats().loss);
  meta.info.lowercase = used.lowercase;
  meta.info.keep_numbers = used.keep_numbers;
  meta.info.keep_punctuation = used.keep_punctuation;
  meta.info.pooling = used.pooling;
  RELATE_RETURN_IF_ERROR(CommitModel(std::move(model), /*replace=*/true, where));
  fs::remove(checkpoint, ec);
  return Status::OK();
}

}  // namespace relate::query
