// Search: the planner behind every DB search call, and the options that shape
// an answer after it (threshold, MMR, group-by, vectors, explain).
//
// A search with a filter runs one of these plans (QueryExplain::plan names it):
//  - "exact over candidates": the records the filter matches are few enough
//    to list from the secondary indexes (m^2 <= 4 k n, see ListCap in
//    filter_ids.cc): their vectors are compared with the query, all of them.
//    The answer is exact.
//  - "index search with filter": listed, but the index keeps only codes
//    (IVF, PQ, SQ), so reading many candidates' vectors from storage would
//    cost more: the index is searched skipping the others
//    (index::SearchParams::allowed), widening until k are found, with an
//    exhaustive pass if the widest search falls short.
//  - "index search, filter on hits": the matching records were not listed
//    (the filter reads fields without a secondary index, or matches too many
//    for listing to pay): the index is searched for more hits than asked and
//    each hit's metadata is checked, widening x4 until k match. Past an
//    eighth of the collection it lists without a cap if the secondary indexes
//    can, else reads every record ("scan records"), and searches exactly.
// Each plan ends exhaustively when it falls short, so whenever at least k
// records match, k are returned.
//
// How the secondary indexes list a filter's candidates: filter_ids.cc. Keyword
// and hybrid ranking, and the searches by text: keyword.cc.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <unordered_map>

#include "index/vector_index.h"
#include "query/db_impl.h"
#include "query/search_run.h"

namespace relate::query {

namespace {

// An index that keeps only codes (IVF, PQ, SQ) is searched exactly over at
// most this many candidates, whose vectors are read from storage (tens of us
// each); more go to the index search that skips the others.
constexpr size_t kExactFromStorage = 64;
// The widening search whose hits are checked stops at this fraction of the
// collection: reading every record's metadata once is cheaper then.
constexpr size_t kCheckFraction = 8;

}  // namespace

std::string WithThousands(uint64_t v) {
  std::string s = std::to_string(v);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<size_t>(i), ",");
  return s;
}

float Similarity(Metric metric, float score, float distance) {
  return metric == Metric::kL2 ? -distance : score;
}

static DBImpl::ScoredLists FromNeighbours(const index::Neighbours& nb, size_t n) {
  DBImpl::ScoredLists out(n);
  const size_t k = nb.k;
  for (size_t q = 0; q < n; ++q) {
    for (size_t j = 0; j < k; ++j) {
      const int64_t id = nb.ids[q * k + j];
      if (id < 0) continue;
      out[q].push_back({static_cast<uint64_t>(id), nb.scores[q * k + j], nb.distances[q * k + j]});
    }
  }
  return out;
}

static DBImpl::ScoredLists FromRange(const index::RangeResult& rr, size_t n) {
  DBImpl::ScoredLists out(n);
  for (size_t q = 0; q < n; ++q) {
    for (size_t j = rr.offsets[q]; j < rr.offsets[q + 1]; ++j) {
      out[q].push_back({static_cast<uint64_t>(rr.ids[j]), rr.scores[j], rr.distances[j]});
    }
  }
  return out;
}

// Exact search (or range search) over exactly these ids: with the index's
// own vectors when it keeps them, else with the stored ones.
static Result<DBImpl::ScoredLists> ExactOver(DBImpl::SearchRun& run, const storage::Store& store,
                                             std::span<const float> queries,
                                             std::span<const uint64_t> ids, size_t want) {
  const Collection& c = run.c;
  const CollectionSpec& spec = c.meta.spec;
  const uint32_t dim = spec.dimension;
  const size_t n = queries.size() / dim;
  const auto t = Clock::now();
  std::vector<float> rows;
  std::vector<uint64_t> row_ids;
  bool index_vectors = false;
  {
    IndexReadLock lock(&c.index_mu);
    if (run.TurnedStale()) return DBImpl::ScoredLists();
    index_vectors = c.index->keeps_exact_vectors();
    if (index_vectors) {
      if (!run.options.threshold) {
        RELATE_ASSIGN_OR_RETURN(auto nb, c.index->SearchExact(queries, want, ids, &run.stats));
        run.Stage("exact search",
                  WithThousands(ids.size()) + " candidates x " + std::to_string(n) +
                      " queries, index vectors",
                  ids.size(), t);
        return FromNeighbours(nb, n);
      }
      rows.reserve(ids.size() * dim);
      for (uint64_t id : ids) {
        auto v = c.index->Reconstruct(id);
        if (!v) continue;  // deleted meanwhile
        rows.insert(rows.end(), v->begin(), v->end());
        row_ids.push_back(id);
      }
    }
  }
  if (!index_vectors) {
    for (size_t at = 0; at < ids.size(); at += kFetchChunk) {
      auto chunk = ids.subspan(at, std::min(kFetchChunk, ids.size() - at));
      RELATE_ASSIGN_OR_RETURN(auto records, store.GetRecords(c.meta.id, chunk, true));
      for (auto& r : records) {
        if (!r || r->vector.size() != dim) continue;
        index::PrepareVectors(spec.metric, dim, r->vector);
        rows.insert(rows.end(), r->vector.begin(), r->vector.end());
        row_ids.push_back(r->id);
      }
    }
  }
  DBImpl::ScoredLists out;
  if (run.options.threshold) {
    out = FromRange(index::RangeSearchRows(spec.metric, dim, rows, row_ids, queries,
                                           *run.options.threshold, want, &run.stats),
                    n);
  } else {
    out = FromNeighbours(
        index::ExactSearchRows(spec.metric, dim, rows, row_ids, queries, want, &run.stats), n);
  }
  run.Stage(run.options.threshold ? "exact range search" : "exact search",
            WithThousands(row_ids.size()) + " candidates x " + std::to_string(n) + " queries, " +
                (index_vectors ? "index vectors" : "stored vectors"),
            row_ids.size(), t);
  return out;
}

// The index's answer for the queries (k-search or range search), skipping
// ids outside `allowed` if given.
static Result<DBImpl::ScoredLists> IndexSearch(DBImpl::SearchRun& run,
                                               std::span<const float> queries, size_t want,
                                               const index::IdSet* allowed) {
  const Collection& c = run.c;
  const size_t n = queries.size() / c.meta.spec.dimension;
  const auto t = Clock::now();
  index::SearchParams params = run.params;
  params.allowed = allowed;
  DBImpl::ScoredLists out;
  std::string spec;
  {
    IndexReadLock lock(&c.index_mu);
    if (run.TurnedStale()) return out;
    spec = c.index->spec();
    if (run.options.threshold) {
      RELATE_ASSIGN_OR_RETURN(
          auto rr, c.index->RangeSearch(queries, *run.options.threshold, want, params, &run.stats));
      out = FromRange(rr, n);
    } else {
      RELATE_ASSIGN_OR_RETURN(auto nb, c.index->Search(queries, want, params, &run.stats));
      out = FromNeighbours(nb, n);
    }
  }
  size_t found = 0;
  for (const auto& l : out) found += l.size();
  run.Stage(
      run.options.threshold ? "index range search" : "index search",
      spec + (allowed ? ", skipping ids outside " + WithThousands(allowed->size()) + " candidates"
                      : std::string()),
      found, t);
  return out;
}

// "index search, filter on hits" for one query: wider and wider index
// searches whose hits are checked against the filter; nullopt once a scan of
// every record is the cheaper way on.
static Result<std::optional<std::vector<DBImpl::Scored>>> FilterOnHits(DBImpl::SearchRun& run,
                                                                       const storage::Store& store,
                                                                       std::span<const float> query,
                                                                       size_t want, size_t live) {
  const Collection& c = run.c;
  std::unordered_map<uint64_t, bool> checked;
  size_t ask = std::min<size_t>(std::max<size_t>(want * 4, 64), std::max<size_t>(live, 1));
  for (;;) {
    RELATE_ASSIGN_OR_RETURN(auto lists, IndexSearch(run, query, ask, nullptr));
    if (lists.empty()) return std::optional<std::vector<DBImpl::Scored>>();  // stale
    const auto& hits = lists[0];
    std::vector<uint64_t> unchecked;
    for (const auto& h : hits) {
      if (!checked.contains(h.id)) unchecked.push_back(h.id);
    }
    const auto t = Clock::now();
    RELATE_ASSIGN_OR_RETURN(auto kept, CheckIds(store, c, run.options.filter, unchecked, 0));
    for (uint64_t id : unchecked) checked[id] = false;
    for (uint64_t id : kept) checked[id] = true;
    run.Stage("check hits", "read " + WithThousands(unchecked.size()) + " hits' metadata",
              kept.size(), t);
    std::vector<DBImpl::Scored> matched;
    for (const auto& h : hits) {
      if (checked[h.id]) matched.push_back(h);
      if (matched.size() == want) break;
    }
    // Enough, or nothing more to find: fewer hits than asked although every
    // vector was asked for (an IVF search returns fewer than asked when its
    // probed lists run out, while other lists hold more).
    if (matched.size() >= want || (hits.size() < ask && ask >= live)) {
      return std::optional(std::move(matched));
    }
    if (ask >= live || ask * 4 > live / kCheckFraction) {
      return std::optional<std::vector<DBImpl::Scored>>();
    }
    ask = std::min(ask * 4, live);
    ++run.stats.widenings;
  }
}

Result<DBImpl::Ranked> DBImpl::RankPrepared(const Collection& c, std::span<const float> queries,
                                            size_t want, const SearchKnobs& knobs,
                                            std::optional<uint64_t> generation, bool* stale,
                                            index::SearchStats* stats) {
  const storage::CollectionMeta meta = c.Meta();
  auto pick = [](uint32_t asked, uint32_t stored) { return asked ? asked : stored; };
  const uint32_t refine = std::max<uint32_t>(pick(knobs.refine, meta.knobs.refine), 1);
  const index::SearchParams params{.ef_search = pick(knobs.ef_search, meta.knobs.ef_search),
                                   .nprobe = pick(knobs.nprobe, meta.knobs.nprobe)};
  const size_t candidates = std::min(want * refine, index::VectorIndex::kMaxK);
  Ranked out;
  Result<index::Neighbours> found = Status::Internal("unset");
  {
    IndexReadLock lock(&c.index_mu);
    found = c.index->Search(queries, candidates, params, stats);
    // The query was embedded for another generation of the vectors (rare: an
    // apply or a SIF fit just swapped them): its answer is thrown away.
    if (stale != nullptr) *stale = generation && c.generation.load() != *generation;
  }
  if (stale != nullptr && *stale) return out;
  if (!found) return found.error();
  if (refine <= 1) {
    out.nb = std::move(*found);
    return out;
  }
  // Re-rank the candidates by their exact distance to the query, over the
  // vectors in storage (the index may hold only codes of them).
  const index::Neighbours& nb = *found;
  const uint32_t dim = meta.spec.dimension;
  const size_t n = candidates == 0 ? 0 : nb.ids.size() / candidates;
  std::vector<uint64_t> ids;
  for (int64_t id : nb.ids) {
    if (id >= 0) ids.push_back(static_cast<uint64_t>(id));
  }
  RELATE_ASSIGN_OR_RETURN(auto records, store_->GetRecords(meta.id, ids, true));
  out.nb.k = want;
  out.nb.ids.assign(n * want, -1);
  out.nb.scores.assign(n * want, 0);
  out.nb.distances.assign(n * want, std::numeric_limits<float>::infinity());
  out.records.resize(n * want);
  size_t r = 0;
  for (size_t q = 0; q < n; ++q) {
    struct Scored {
      float distance, score;
      size_t record;
    };
    std::vector<Scored> scored;
    for (size_t j = 0; j < candidates; ++j) {
      if (nb.ids[q * candidates + j] < 0) continue;
      auto& rec = records[r++];
      // A record deleted after the index answered is left out.
      if (!rec || rec->vector.size() != dim) continue;
      index::PrepareVectors(meta.spec.metric, dim, rec->vector);
      Scored s{0, 0, r - 1};
      index::ScorePair(meta.spec.metric, queries.data() + q * dim, rec->vector.data(), dim,
                       &s.score, &s.distance);
      scored.push_back(s);
    }
    std::sort(scored.begin(), scored.end(), [&](const Scored& a, const Scored& b) {
      return a.distance != b.distance ? a.distance < b.distance
                                      : records[a.record]->id < records[b.record]->id;
    });
    for (size_t j = 0; j < scored.size() && j < want; ++j) {
      const size_t slot = q * want + j;
      auto& rec = records[scored[j].record];
      out.nb.ids[slot] = static_cast<int64_t>(rec->id);
      out.nb.scores[slot] = scored[j].score;
      out.nb.distances[slot] = scored[j].distance;
      out.records[slot] = std::move(rec);
    }
  }
  return out;
}

Result<DBImpl::ScoredLists> DBImpl::FindIds(SearchRun& run, std::span<const float> queries,
                                            size_t want) {
  const Collection& c = run.c;
  const size_t n = queries.size() / c.meta.spec.dimension;
  size_t live = 0;
  bool flat = false;  // the index scans every vector anyway
  bool index_vectors = false;
  std::string spec;
  {
    IndexReadLock lock(&c.index_mu);
    live = c.index->size();
    flat = c.index->spec() == "Flat" || c.index->needs_training();
    index_vectors = c.index->keeps_exact_vectors();
    spec = c.index->spec();
    // An index made by Unusable says what is wrong with the collection's spec.
    if (Status s = c.index->CheckUsable(); !s.ok()) {
      return s.WithContext("collection " + Quote(c.meta.spec.name));
    }
  }
  if (run.options.explain != nullptr) run.options.explain->records = live;
  if (run.options.filter.empty()) {
    if (run.options.threshold) {
      run.Plan("index range search", "no filter");
      return IndexSearch(run, queries, want, nullptr);
    }
    run.Plan("index search", "no filter");
    const auto t = Clock::now();
    RELATE_ASSIGN_OR_RETURN(Ranked ranked, RankPrepared(c, queries, want, run.knobs, run.generation,
                                                        run.stale, &run.stats));
    if (run.stale != nullptr && *run.stale) return ScoredLists();
    ScoredLists out = FromNeighbours(ranked.nb, n);
    size_t found = 0;
    for (const auto& l : out) found += l.size();
    run.Stage("index search", spec, found, t);
    return out;
  }

  RELATE_RETURN_IF_ERROR(FindCandidates(run, *store_, false, want));
  if (!run.candidates.listed) {
    run.Plan("index search, filter on hits",
             "the filter's records are not listed by secondary indexes");
    ScoredLists out(n);
    bool all_done = true;
    for (size_t q = 0; q < n && all_done; ++q) {
      RELATE_ASSIGN_OR_RETURN(
          auto got, FilterOnHits(run, *store_,
                                 queries.subspan(q * c.meta.spec.dimension, c.meta.spec.dimension),
                                 want, live));
      if (run.stale != nullptr && *run.stale) return ScoredLists();
      if (!got) {
        all_done = false;
        break;
      }
      out[q] = std::move(*got);
    }
    if (all_done) return out;
    RELATE_RETURN_IF_ERROR(FindCandidates(run, *store_, true, want));
    run.Plan("scan records", "hits matched too rarely: every record was read");
    if (!index_vectors && run.candidates.ids.size() > kExactFromStorage) {
      index::IdSet allowed;
      for (uint64_t id : run.candidates.ids) allowed.Add(id);
      return IndexSearch(run, queries, want, &allowed);
    }
    return ExactOver(run, *store_, queries, run.candidates.ids, want);
  }
  const auto& ids = run.candidates.ids;
  if (ids.empty()) {
    run.Plan("exact over candidates", "no record matches");
    return ScoredLists(n);
  }
  if (index_vectors || ids.size() <= kExactFromStorage) {
    run.Plan("exact over candidates", WithThousands(ids.size()) + " of " + WithThousands(live) +
                                          " records match" +
                                          (flat ? " (the index is a flat scan)" : ""));
    return ExactOver(run, *store_, queries, ids, want);
  }
  run.Plan("index search with filter", WithThousands(ids.size()) + " of " + WithThousands(live) +
                                           " records match; the index keeps codes, not vectors");
  index::IdSet allowed;
  for (uint64_t id : ids) allowed.Add(id);
  return IndexSearch(run, queries, want, &allowed);
}

Result<std::vector<Hit>> DBImpl::MakeHits(const Collection& c, const std::vector<Scored>& scored,
                                          bool with_vector) {
  std::vector<uint64_t> ids;
  ids.reserve(scored.size());
  for (const auto& s : scored) ids.push_back(s.id);
  RELATE_ASSIGN_OR_RETURN(auto records, store_->GetRecords(c.meta.id, ids, with_vector));
  std::vector<Hit> hits;
  hits.reserve(scored.size());
  for (size_t i = 0; i < scored.size(); ++i) {
    auto& rec = records[i];
    if (!rec) continue;  // deleted after the index answered
    hits.push_back(Hit{.key = std::move(rec->key),
                       .id = rec->id,
                       .score = scored[i].score,
                       .distance = scored[i].distance,
                       .text = std::move(rec->text),
                       .metadata = std::move(rec->metadata),
                       .vector = with_vector ? std::move(rec->vector) : std::vector<float>()});
  }
  return hits;
}

// Maximal marginal relevance over `pool` (best first): picks k, each next one
// maximising lambda x relevance - (1 - lambda) x its highest similarity to
// those picked.
static Result<std::vector<DBImpl::Scored>> Mmr(const storage::Store& store, const Collection& c,
                                               const std::vector<DBImpl::Scored>& pool, size_t k,
                                               double lambda) {
  const CollectionSpec& spec = c.meta.spec;
  const uint32_t dim = spec.dimension;
  std::vector<uint64_t> ids;
  for (const auto& s : pool) ids.push_back(s.id);
  RELATE_ASSIGN_OR_RETURN(auto records, store.GetRecords(c.meta.id, ids, true));
  std::vector<size_t> alive;
  for (size_t i = 0; i < pool.size(); ++i) {
    if (records[i] && records[i]->vector.size() == dim) {
      index::PrepareVectors(spec.metric, dim, records[i]->vector);
      alive.push_back(i);
    }
  }
  std::vector<float> most_similar(pool.size(), -std::numeric_limits<float>::infinity());
  std::vector<bool> taken(pool.size(), false);
  std::vector<DBImpl::Scored> out;
  while (out.size() < k && out.size() < alive.size()) {
    size_t best = SIZE_MAX;
    double best_value = -std::numeric_limits<double>::infinity();
    for (size_t i : alive) {
      if (taken[i]) continue;
      const double relevance = Similarity(spec.metric, pool[i].score, pool[i].distance);
      const double value =
          out.empty() ? relevance : lambda * relevance - (1 - lambda) * most_similar[i];
      if (value > best_value) {
        best_value = value;
        best = i;
      }
    }
    if (best == SIZE_MAX) break;
    taken[best] = true;
    out.push_back(pool[best]);
    for (size_t i : alive) {
      if (taken[i]) continue;
      float score = 0, distance = 0;
      index::ScorePair(spec.metric, records[i]->vector.data(), records[best]->vector.data(), dim,
                       &score, &distance);
      most_similar[i] = std::max(most_similar[i], Similarity(spec.metric, score, distance));
    }
  }
  return out;
}

// The group a record's metadata puts it in, if any.
static std::optional<std::string> GroupOf(const Metadata& metadata, const std::string& field) {
  auto it = metadata.find(field);
  if (it == metadata.end()) return std::nullopt;
  return std::visit(
      [](const auto& v) -> std::optional<std::string> {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) {
          return "s" + v;
        } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
          if (v.empty()) return std::nullopt;
          return "s" + v[0];
        } else if constexpr (std::is_same_v<T, bool>) {
          return v ? std::string("btrue") : std::string("bfalse");
        } else if constexpr (std::is_same_v<T, int64_t>) {
          return "n" + std::to_string(v);
        } else {
          // A double equal to an integer groups with it.
          if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 9.0e18) {
            return "n" + std::to_string(static_cast<int64_t>(v));
          }
          char buf[40];
          std::snprintf(buf, sizeof buf, "d%.17g", v);
          return std::string(buf);
        }
      },
      it->second);
}

Result<std::vector<std::vector<Hit>>> DBImpl::SearchPrepared(
    const Collection& c, std::span<const float> queries, const SearchOptions& options,
    std::optional<uint64_t> exclude_id, std::optional<uint64_t> generation, bool* stale) {
  SearchRun run(c, options, generation, stale);
  const size_t dim = c.meta.spec.dimension;
  const size_t n = queries.size() / dim;
  const size_t extra = exclude_id ? 1 : 0;
  const size_t k = options.k;
  auto drop_excluded = [&](std::vector<Scored>& list) {
    if (!exclude_id) return;
    std::erase_if(list, [&](const Scored& s) { return s.id == *exclude_id; });
  };
  std::vector<std::vector<Hit>> out(n);
  if (!options.group_by.empty()) {
    // Widen until k groups are full or the collection has no more hits.
    for (size_t q = 0; q < n; ++q) {
      const auto query = queries.subspan(q * dim, dim);
      size_t want = std::min<size_t>(k * options.group_size * 4 + extra, index::VectorIndex::kMaxK);
      for (;;) {
        RELATE_ASSIGN_OR_RETURN(auto lists, FindIds(run, query, want));
        if (stale != nullptr && *stale) return std::vector<std::vector<Hit>>();
        drop_excluded(lists[0]);
        const bool exhausted = lists[0].size() + extra < want;
        RELATE_ASSIGN_OR_RETURN(auto hits, MakeHits(c, lists[0], options.with_vector));
        const auto t = Clock::now();
        std::vector<std::string> order;
        std::unordered_map<std::string, std::vector<Hit>> groups;
        for (auto& h : hits) {
          auto g = GroupOf(h.metadata, options.group_by);
          if (!g) continue;
          auto& members = groups[*g];
          if (members.empty()) order.push_back(*g);
          if (members.size() < options.group_size) members.push_back(std::move(h));
        }
        bool full = order.size() >= k;
        for (size_t i = 0; full && i < k; ++i) full = groups[order[i]].size() >= options.group_size;
        if (full || exhausted || want >= index::VectorIndex::kMaxK) {
          for (size_t i = 0; i < order.size() && i < k; ++i) {
            for (auto& h : groups[order[i]]) out[q].push_back(std::move(h));
          }
          run.Stage("group by",
                    "field " + Quote(options.group_by) + ": " +
                        std::to_string(std::min(order.size(), k)) + " groups",
                    out[q].size(), t);
          break;
        }
        want = std::min(want * 4, index::VectorIndex::kMaxK);
        ++run.stats.widenings;
      }
    }
    run.Finish();
    return out;
  }

  size_t want = k + extra;
  if (options.mmr_lambda) {
    want =
        std::max(options.mmr_candidates ? options.mmr_candidates : std::max<size_t>(4 * k, 40), k) +
        extra;
    want = std::min(want, index::VectorIndex::kMaxK);
  }
  RELATE_ASSIGN_OR_RETURN(auto lists, FindIds(run, queries, want));
  if (stale != nullptr && *stale) return std::vector<std::vector<Hit>>();
  for (size_t q = 0; q < n; ++q) {
    drop_excluded(lists[q]);
    if (options.mmr_lambda) {
      const auto t = Clock::now();
      const size_t pool = lists[q].size();
      RELATE_ASSIGN_OR_RETURN(lists[q], Mmr(*store_, c, lists[q], k, *options.mmr_lambda));
      run.Stage("mmr",
                "lambda " + std::to_string(*options.mmr_lambda) + " over " + std::to_string(pool) +
                    " hits",
                lists[q].size(), t);
    }
    if (lists[q].size() > k) lists[q].resize(k);
    const auto t = Clock::now();
    RELATE_ASSIGN_OR_RETURN(out[q], MakeHits(c, lists[q], options.with_vector));
    run.Stage("read records",
              options.with_vector ? "text, metadata and vector" : "text and metadata",
              out[q].size(), t);
  }
  run.Finish();
  return out;
}

Status CheckSearchOptions(const SearchOptions& options) {
  if (options.k == 0 || options.k > index::VectorIndex::kMaxK) {
    return Status::InvalidArgument("k is " + std::to_string(options.k) + "; it must be 1 to " +
                                   std::to_string(index::VectorIndex::kMaxK));
  }
  if (!options.filter.empty()) RELATE_RETURN_IF_ERROR(CheckFilterNode(*options.filter.root()));
  if (options.threshold && !std::isfinite(*options.threshold)) {
    return Status::InvalidArgument("the threshold must be a finite number");
  }
  if (options.mmr_lambda && !(*options.mmr_lambda >= 0 && *options.mmr_lambda <= 1)) {
    return Status::InvalidArgument("MMR lambda must be between 0 and 1");
  }
  if (options.mmr_lambda && !options.group_by.empty()) {
    return Status::InvalidArgument("MMR and group-by cannot be combined");
  }
  if (!options.group_by.empty() && options.group_size == 0) {
    return Status::InvalidArgument("group size must be at least 1");
  }
  if (!(options.hybrid_weight >= 0 && options.hybrid_weight <= 1)) {
    return Status::InvalidArgument("the hybrid weight must be between 0 and 1");
  }
  if (!(options.rrf_k >= 0)) return Status::InvalidArgument("rrf_k must not be negative");
  if (options.ranking != Ranking::kVector &&
      (options.mmr_lambda || !options.group_by.empty() || options.threshold)) {
    return Status::InvalidArgument("keyword and hybrid ranking take no MMR, group-by or threshold");
  }
  return CheckKnobs(options.knobs, options.k);
}

Status CheckKnobs(const SearchKnobs& knobs, size_t k) {
  const size_t most = index::VectorIndex::kMaxK;
  if (knobs.ef_search > most || knobs.nprobe > most || knobs.refine > 1024 ||
      std::max<size_t>(knobs.refine, 1) * k > most) {
    return Status::InvalidArgument(
        "knobs out of range: efSearch and nprobe at most " + std::to_string(most) +
        ", refine at most 1024, k x refine at most " + std::to_string(most));
  }
  return Status::OK();
}

Result<std::vector<std::vector<Hit>>> DBImpl::SearchBatch(std::string_view collection,
                                                          std::span<const float> queries,
                                                          const SearchOptions& options) {
  RELATE_ASSIGN_OR_RETURN(auto c, Find(collection));
  RELATE_RETURN_IF_ERROR(CheckSearchOptions(options).WithContext("search in " + Quote(collection)));
  const CollectionSpec& spec = c->meta.spec;
  const std::string where = "search in " + Quote(collection);
  if (queries.empty() || queries.size() % spec.dimension != 0) {
    return Status::InvalidArgument(where + ": queries hold " + std::to_string(queries.size()) +
                                   " values, not a positive multiple of the dimension " +
                                   std::to_string(spec.dimension));
  }
  const size_t n = queries.size() / spec.dimension;
  for (size_t q = 0; q < n; ++q) {
    Status s = index::CheckVector(queries.subspan(q * spec.dimension, spec.dimension),
                                  spec.dimension, spec.metric);
    if (!s.ok()) {
      return Status::InvalidArgument(where + ": query " + std::to_string(q) + ": " +
                                     std::string(s.message()));
    }
  }
  std::vector<float> prepared(queries.begin(), queries.end());
  index::PrepareVectors(spec.metric, spec.dimension, prepared);
  return SearchPrepared(*c, prepared, options, std::nullopt);
}

Result<std::vector<Hit>> DBImpl::Search(std::string_view collection, std::span<const float> query,
                                        const SearchOptions& options) {
  RELATE_ASSIGN_OR_RETURN(auto c, Find(collection));
  RELATE_RETURN_IF_ERROR(CheckSearchOptions(options).WithContext("search in " + Quote(collection)));
  const CollectionSpec& spec = c->meta.spec;
  RELATE_RETURN_IF_ERROR(
      CheckRecordVector(spec, query).WithContext("search in " + Quote(collection)));
  std::vector<float> prepared(query.begin(), query.end());
  index::PrepareVectors(spec.metric, spec.dimension, prepared);
  RELATE_ASSIGN_OR_RETURN(auto hits, SearchPrepared(*c, prepared, options, std::nullopt));
  return std::move(hits[0]);
}

Result<std::vector<Hit>> DBImpl::SearchByKey(std::string_view collection, std::string_view key,
                                             const SearchOptions& options) {
  RELATE_ASSIGN_OR_RETURN(auto c, Find(collection));
  RELATE_RETURN_IF_ERROR(CheckSearchOptions(options).WithContext("search in " + Quote(collection)));
  RELATE_ASSIGN_OR_RETURN(StoredRecord record, Get(collection, key));
  const CollectionSpec& spec = c->meta.spec;
  index::PrepareVectors(spec.metric, spec.dimension, record.vector);
  RELATE_ASSIGN_OR_RETURN(auto hits, SearchPrepared(*c, record.vector, options, record.id));
  return std::move(hits[0]);
}

}  // namespace relate::query
