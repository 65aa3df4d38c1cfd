// Keyword search: the records' secondary-index and keyword entries, written
// in the record's own batch, and BM25 ranking over the keyword index; and the
// searches by text, ranked by keyword, by vector (the text embedded as the
// collection's records are) or by both fused (hybrid).
//
// Keyword terms are the text's words as the default tokenizer gives them
// (Unicode word boundaries, lower case, numbers kept, punctuation dropped),
// whatever model the collection has: a new model version does not change
// which records a keyword search finds.
//
// BM25 (Robertson and Zaragoza 2009, with Lucene's non-negative idf):
//   score(d, q) = sum over distinct terms t of q in d of
//     idf(t) x tf (k1 + 1) / (tf + k1 (1 - b + b |d| / avgdl))
//   idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5))
// with N = records with indexed text, df = those containing t, |d| = d's terms,
// avgdl = the mean |d|.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <unordered_map>
#include <unordered_set>

#include "embed/tokenizer.h"
#include "query/db_impl.h"
#include "query/search_run.h"

namespace relate::query {

Result<std::vector<storage::TermCount>> KeywordTermsOf(std::string_view text, uint32_t* length) {
  static const embed::Tokenizer tokenizer{embed::TokenizerOptions{}};
  RELATE_ASSIGN_OR_RETURN(auto tokens, tokenizer.Tokenize(text));
  std::unordered_map<std::string, uint32_t> counts;
  for (auto& t : tokens) ++counts[std::move(t)];
  std::vector<storage::TermCount> terms;
  terms.reserve(counts.size());
  for (auto& [term, count] : counts) terms.push_back({term, count});
  std::sort(
      terms.begin(), terms.end(),
      [](const storage::TermCount& a, const storage::TermCount& b) { return a.term < b.term; });
  *length = static_cast<uint32_t>(std::min<size_t>(tokens.size(), UINT32_MAX));
  return terms;
}

Result<TextTerms> TextTermsFor(const CollectionSpec& spec, std::string_view text) {
  TextTerms out;
  if (!spec.keyword_index || text.empty()) return out;
  RELATE_ASSIGN_OR_RETURN(out.terms, KeywordTermsOf(text, &out.length));
  return out;
}

void DBImpl::PutSearchEntries(const Collection& c, storage::Batch& batch, uint64_t id,
                              const Record& record, const TextTerms& terms,
                              storage::CollectionMeta& meta) const {
  const CollectionSpec& spec = c.meta.spec;
  if (!spec.filterable.empty()) {
    batch.PutFieldEntries(c.meta.id, id, spec.filterable, record.metadata);
  }
  if (!terms.terms.empty()) {
    batch.PutPostings(c.meta.id, id, terms.terms, terms.length);
    ++meta.text_docs;
    meta.text_terms += terms.length;
  }
}

Status DBImpl::DeleteSearchEntries(const Collection& c, storage::Batch& batch,
                                   const StoredRecord& old, storage::CollectionMeta& meta) const {
  const CollectionSpec& spec = c.meta.spec;
  if (!spec.filterable.empty()) {
    batch.DeleteFieldEntries(c.meta.id, old.id, spec.filterable, old.metadata);
  }
  RELATE_ASSIGN_OR_RETURN(TextTerms terms, TextTermsFor(spec, old.text));
  if (!terms.terms.empty()) {
    batch.DeletePostings(c.meta.id, old.id, terms.terms);
    meta.text_docs -= std::min<uint64_t>(meta.text_docs, 1);
    meta.text_terms -= std::min<uint64_t>(meta.text_terms, terms.length);
  }
  return Status::OK();
}

Status DBImpl::DeleteOldSearchEntries(const Collection& c, storage::Batch& batch,
                                      std::span<const std::optional<storage::KeyEntry>> existing,
                                      storage::CollectionMeta& meta) {
  const CollectionSpec& spec = c.meta.spec;
  if (spec.filterable.empty() && !spec.keyword_index) return Status::OK();
  std::vector<uint64_t> ids;
  for (const auto& e : existing) {
    if (e) ids.push_back(e->id);
  }
  if (ids.empty()) return Status::OK();
  RELATE_ASSIGN_OR_RETURN(auto olds, store_->GetRecords(c.meta.id, ids, false));
  for (size_t i = 0; i < olds.size(); ++i) {
    if (!olds[i]) {
      return Status::Corruption("record id " + std::to_string(ids[i]) +
                                " has a key entry but no record (run `relate repair`)");
    }
    RELATE_RETURN_IF_ERROR(DeleteSearchEntries(c, batch, *olds[i], meta));
  }
  return Status::OK();
}

Result<std::vector<DBImpl::Scored>> DBImpl::KeywordIds(SearchRun& run, std::string_view text,
                                                       size_t want) {
  const Collection& c = run.c;
  const CollectionSpec& spec = c.meta.spec;
  if (!spec.keyword_index) {
    return Status::FailedPrecondition(
        "search in " + Quote(spec.name) +
        ": the collection has no keyword index (CollectionSpec::keyword_index, `relate create "
        "--keyword-index`); it is chosen when a collection is created");
  }
  auto t = Clock::now();
  uint32_t length = 0;
  RELATE_ASSIGN_OR_RETURN(auto terms, KeywordTermsOf(text, &length));
  const storage::CollectionMeta meta = c.Meta();
  const double docs = static_cast<double>(meta.text_docs);
  const double avgdl = meta.text_docs ? static_cast<double>(meta.text_terms) / docs : 1.0;
  const double k1 = run.options.bm25_k1, b = run.options.bm25_b;
  std::unordered_map<uint64_t, double> scores;
  uint64_t postings = 0;
  struct Posting {
    uint64_t id;
    uint32_t count, length;
  };
  std::vector<Posting> list;
  for (const auto& term : terms) {
    list.clear();
    RELATE_RETURN_IF_ERROR(
        store_->ScanPostings(c.meta.id, term.term, [&](uint64_t id, uint32_t count, uint32_t len) {
          list.push_back({id, count, len});
          return true;
        }));
    postings += list.size();
    const double df = static_cast<double>(list.size());
    const double idf = std::log(1 + (std::max(docs - df, 0.0) + 0.5) / (df + 0.5));
    for (const auto& p : list) {
      const double tf = p.count;
      scores[p.id] += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * p.length / avgdl));
    }
  }
  std::vector<Scored> ranked;
  ranked.reserve(scores.size());
  for (const auto& [id, score] : scores) ranked.push_back({id, static_cast<float>(score), 0});
  std::sort(ranked.begin(), ranked.end(), [](const Scored& x, const Scored& y) {
    return x.score != y.score ? x.score > y.score : x.id < y.id;
  });
  run.Stage("keyword postings",
            std::to_string(terms.size()) + " terms, " + WithThousands(postings) + " postings",
            ranked.size(), t);
  if (!run.options.filter.empty()) {
    RELATE_RETURN_IF_ERROR(FindCandidates(run, *store_, false, want));
    t = Clock::now();
    if (run.candidates.listed) {
      std::erase_if(ranked, [&](const Scored& s) {
        return !std::binary_search(run.candidates.ids.begin(), run.candidates.ids.end(), s.id);
      });
      if (ranked.size() > want) ranked.resize(want);
      run.Stage("filter", "kept the keyword hits among the candidates", ranked.size(), t);
    } else {
      std::vector<uint64_t> ids;
      ids.reserve(ranked.size());
      for (const auto& s : ranked) ids.push_back(s.id);
      RELATE_ASSIGN_OR_RETURN(auto kept, CheckIds(*store_, c, run.options.filter, ids, want));
      std::unordered_set<uint64_t> keep(kept.begin(), kept.end());
      std::erase_if(ranked, [&](const Scored& s) { return !keep.contains(s.id); });
      run.Stage("check hits",
                "read keyword hits' metadata until " + std::to_string(want) + " matched",
                ranked.size(), t);
    }
  }
  if (ranked.size() > want) ranked.resize(want);
  return ranked;
}

// Fuses a vector list and a keyword list (each best first) into one.
static std::vector<DBImpl::Scored> Fuse(
    const std::vector<DBImpl::Scored>& by_vector, const std::vector<DBImpl::Scored>& by_keyword,
    const SearchOptions& options, Metric metric,
    std::unordered_map<uint64_t, std::pair<float, float>>* parts) {
  std::unordered_map<uint64_t, double> fused;
  auto add_rrf = [&](const std::vector<DBImpl::Scored>& list) {
    for (size_t rank = 0; rank < list.size(); ++rank) {
      fused[list[rank].id] += 1.0 / (options.rrf_k + static_cast<double>(rank + 1));
    }
  };
  // Min-max scaling of a list's relevance to [0, 1] (a list of one scales to 1).
  auto add_weighted = [&](const std::vector<DBImpl::Scored>& list, double weight, bool vector) {
    if (list.empty()) return;
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (const auto& s : list) {
      const double r = vector ? Similarity(metric, s.score, s.distance) : s.score;
      lo = std::min(lo, r);
      hi = std::max(hi, r);
    }
    for (const auto& s : list) {
      const double r = vector ? Similarity(metric, s.score, s.distance) : s.score;
      fused[s.id] += weight * (hi > lo ? (r - lo) / (hi - lo) : 1.0);
    }
  };
  if (options.ranking == Ranking::kHybridRrf) {
    add_rrf(by_vector);
    add_rrf(by_keyword);
  } else {
    add_weighted(by_vector, options.hybrid_weight, true);
    add_weighted(by_keyword, 1 - options.hybrid_weight, false);
  }
  for (const auto& s : by_vector) (*parts)[s.id].first = s.score;
  for (const auto& s : by_keyword) (*parts)[s.id].second = s.score;
  std::vector<DBImpl::Scored> out;
  out.reserve(fused.size());
  for (const auto& [id, score] : fused) out.push_back({id, static_cast<float>(score), 0});
  std::sort(out.begin(), out.end(), [](const DBImpl::Scored& a, const DBImpl::Scored& b) {
    return a.score != b.score ? a.score > b.score : a.id < b.id;
  });
  return out;
}

Result<std::vector<Hit>> DBImpl::SearchText(std::string_view collection, std::string_view text,
                                            const SearchOptions& options) {
  const std::string where = "search in " + Quote(collection);
  RELATE_RETURN_IF_ERROR(CheckSearchOptions(options).WithContext(where));
  RELATE_ASSIGN_OR_RETURN(auto c, Find(collection));
  if (options.ranking == Ranking::kKeyword) {
    SearchRun run(*c, options, std::nullopt, nullptr);
    run.Plan("keyword", "BM25 over the keyword index");
    if (options.explain != nullptr) options.explain->records = c->Meta().count;
    RELATE_ASSIGN_OR_RETURN(auto ids, KeywordIds(run, text, options.k));
    const auto t = Clock::now();
    RELATE_ASSIGN_OR_RETURN(auto hits, MakeHits(*c, ids, options.with_vector));
    for (auto& h : hits) h.keyword_score = h.score;
    run.Stage("read records", "text and metadata", hits.size(), t);
    run.Finish();
    return hits;
  }
  const bool hybrid =
      options.ranking == Ranking::kHybridRrf || options.ranking == Ranking::kHybridWeighted;
  // Embedded and searched in one generation: a query never meets vectors of
  // another model version than its own, even while ApplyModel swaps them.
  while (true) {
    auto embedded = EmbedForCollection(*c, text);
    if (!embedded) return embedded.error().WithContext(where);
    auto& [vector, generation] = *embedded;
    index::PrepareVectors(c->meta.spec.metric, c->meta.spec.dimension, vector);
    bool stale = false;
    if (!hybrid) {
      RELATE_ASSIGN_OR_RETURN(
          auto hits, SearchPrepared(*c, vector, options, std::nullopt, generation, &stale));
      if (!stale) return std::move(hits[0]);
      continue;
    }
    SearchRun run(*c, options, generation, &stale);
    const size_t pool = std::min(
        options.hybrid_candidates ? options.hybrid_candidates : std::max<size_t>(4 * options.k, 50),
        index::VectorIndex::kMaxK);
    RELATE_ASSIGN_OR_RETURN(auto by_vector, FindIds(run, vector, pool));
    if (stale) continue;
    RELATE_ASSIGN_OR_RETURN(auto by_keyword, KeywordIds(run, text, pool));
    const auto t = Clock::now();
    std::unordered_map<uint64_t, std::pair<float, float>> parts;
    auto fused = Fuse(by_vector[0], by_keyword, options, c->meta.spec.metric, &parts);
    if (fused.size() > options.k) fused.resize(options.k);
    run.Plan(options.ranking == Ranking::kHybridRrf ? "hybrid (reciprocal rank fusion)"
                                                    : "hybrid (weighted)",
             std::to_string(by_vector[0].size()) + " vector and " +
                 std::to_string(by_keyword.size()) + " keyword hits fused");
    run.Stage("fuse", std::to_string(parts.size()) + " distinct hits", fused.size(), t);
    RELATE_ASSIGN_OR_RETURN(auto hits, MakeHits(*c, fused, options.with_vector));
    for (auto& h : hits) {
      h.distance = 0;
      h.vector_score = parts[h.id].first;
      h.keyword_score = parts[h.id].second;
    }
    run.Finish();
    return hits;
  }
}

Result<std::vector<std::vector<Hit>>> DBImpl::SearchTextBatch(std::string_view collection,
                                                              std::span<const std::string> texts,
                                                              const SearchOptions& options) {
  const std::string where = "search in " + Quote(collection);
  RELATE_RETURN_IF_ERROR(CheckSearchOptions(options).WithContext(where));
  RELATE_ASSIGN_OR_RETURN(auto c, Find(collection));
  if (texts.empty()) return std::vector<std::vector<Hit>>();
  if (options.ranking != Ranking::kVector) {
    std::vector<std::vector<Hit>> out;
    for (size_t i = 0; i < texts.size(); ++i) {
      auto hits = SearchText(collection, texts[i], options);
      if (!hits) return hits.error().WithContext("text " + std::to_string(i));
      out.push_back(std::move(*hits));
    }
    return out;
  }
  const uint32_t dim = c->meta.spec.dimension;
  while (true) {
    std::vector<float> queries;
    queries.reserve(texts.size() * dim);
    std::optional<uint64_t> generation;
    bool mixed = false;
    for (size_t i = 0; i < texts.size(); ++i) {
      auto embedded = EmbedForCollection(*c, texts[i]);
      if (!embedded) {
        return embedded.error().WithContext(where + ": text " + std::to_string(i));
      }
      if (generation && *generation != embedded->second) mixed = true;
      generation = embedded->second;
      queries.insert(queries.end(), embedded->first.begin(), embedded->first.end());
    }
    if (mixed) continue;  // a new model version arrived midway: embed them all again
    index::PrepareVectors(c->meta.spec.metric, dim, queries);
    bool stale = false;
    RELATE_ASSIGN_OR_RETURN(auto hits,
                            SearchPrepared(*c, queries, options, std::nullopt, generation, &stale));
    if (!stale) return hits;
  }
}

}  // namespace relate::query
