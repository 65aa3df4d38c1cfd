// Search: the planner behind every DB search call, and the options that shape
// an answer after it (threshold, MMR, group-by, vectors, explain).
//
// A search with a filter runs one of these plans (QueryExplain::plan names it):
//  - "exact over candidates": the records the filter matches are few enough
//    to list from the secondary indexes (m^2 <= 4 k n, see ListCap): their
//    vectors are compared with the query, all of them. The answer is exact.
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
// The filter's candidates come from the secondary indexes of the fields the
// collection declares filterable: a comparison on such a field is one or more
// value ranges scanned in storage; and / or combine the id sets; a part that
// cannot be listed (another field, a `not`, a list over the cap) leaves a
// superset whose records are checked against the whole filter.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <unordered_map>
#include <unordered_set>

#include "index/vector_index.h"
#include "query/db_impl.h"

namespace relate::query {

namespace {

using Clock = std::chrono::steady_clock;

double MsSince(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// How many ids a filter's secondary-index scans may list before the planner
// gives up listing and checks hits instead. Listing costs about 1 us an id
// (the scan, then the exact comparison); an index search whose hits are
// checked looks at about k / selectivity hits at about 4 us each (reading the
// record, the wider search). They cost the same at m^2 = 4 k n for m matching
// records of n: fewer are listed (and searched exactly), more are checked on
// the hits. relate_query_bench measured both sides (bench/README.md).
size_t ListCap(size_t want, size_t live) {
  constexpr size_t kListAlways = 2048;
  return std::max<size_t>(kListAlways,
                          static_cast<size_t>(std::sqrt(4.0 * static_cast<double>(want) *
                                                        static_cast<double>(live))));
}
// An index that keeps only codes (IVF, PQ, SQ) is searched exactly over at
// most this many candidates, whose vectors are read from storage (tens of us
// each); more go to the index search that skips the others.
constexpr size_t kExactFromStorage = 64;
// The widening search whose hits are checked stops at this fraction of the
// collection: reading every record's metadata once is cheaper then.
constexpr size_t kCheckFraction = 8;
// Records read per storage call when hits or candidates are checked.
constexpr size_t kFetchChunk = 4096;

std::string WithThousands(uint64_t v) {
  std::string s = std::to_string(v);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<size_t>(i), ",");
  return s;
}

bool IsList(const MetadataValue& v) { return std::holds_alternative<std::vector<std::string>>(v); }

// Builders can put a list where one value goes, or leave and / or without
// operands; the parser cannot.
Status CheckFilterNode(const Filter::Node& n) {
  switch (n.op) {
    case Filter::Op::kAnd:
    case Filter::Op::kOr:
    case Filter::Op::kNot:
      if (n.children.empty()) return Status::InvalidArgument("filter: and / or / not without operands");
      for (const auto& child : n.children) {
        if (child == nullptr) return Status::InvalidArgument("filter: an empty operand");
        RELATE_RETURN_IF_ERROR(CheckFilterNode(*child));
      }
      return Status::OK();
    case Filter::Op::kIn:
    case Filter::Op::kNotIn:
      for (const auto& v : n.values) {
        if (IsList(v)) {
          return Status::InvalidArgument("filter: field " + Quote(n.field) +
                                         ": an in list holds single values, not lists");
        }
      }
      return Status::OK();
    case Filter::Op::kExists:
      return Status::OK();
    default:
      if (n.values.size() != 1 || IsList(n.values[0])) {
        return Status::InvalidArgument("filter: field " + Quote(n.field) +
                                       ": a comparison takes one value, not a list");
      }
      return Status::OK();
  }
}

std::vector<uint64_t> SortedUnique(std::vector<uint64_t> ids) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

std::vector<uint64_t> Intersect(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
  std::vector<uint64_t> out;
  std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

std::vector<uint64_t> Unite(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
  std::vector<uint64_t> out;
  std::set_union(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

std::vector<uint64_t> Subtract(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
  std::vector<uint64_t> out;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

// Relevance as "higher is more related", for MMR: the score for cosine and
// inner product, the negated distance for L2.
float Similarity(Metric metric, float score, float distance) {
  return metric == Metric::kL2 ? -distance : score;
}

}  // namespace

// What the filter's secondary indexes say about the matching records.
struct FilterIds {
  bool listed = false;        // `ids` holds every matching record (and maybe others)
  bool exact = false;         // `ids` holds exactly the matching records
  std::vector<uint64_t> ids;  // sorted, distinct
};

// One search call: the collection, the options, what has been worked out for
// the filter, and the explain being filled in.
class DBImpl::SearchRun {
 public:
  SearchRun(const Collection& c, const SearchOptions& options, std::optional<uint64_t> generation,
            bool* stale)
      : c(c), options(options), generation(generation), stale(stale) {
    if (options.explain != nullptr) {
      *options.explain = QueryExplain{};
      options.explain->filter = options.filter.ToString();
    }
    const storage::CollectionMeta meta = c.Meta();
    auto pick = [](uint32_t asked, uint32_t stored) { return asked ? asked : stored; };
    params.ef_search = pick(options.knobs.ef_search, meta.knobs.ef_search);
    params.nprobe = pick(options.knobs.nprobe, meta.knobs.nprobe);
    knobs = options.knobs;
    knobs.ef_search = params.ef_search;
    knobs.nprobe = params.nprobe;
    knobs.refine = pick(options.knobs.refine, meta.knobs.refine);
    records = meta.count;
  }

  const Collection& c;
  const SearchOptions& options;
  std::optional<uint64_t> generation;
  bool* stale;
  index::SearchParams params;
  SearchKnobs knobs;
  uint64_t records = 0;
  index::SearchStats stats;
  Clock::time_point start = Clock::now();

  // The records the filter matches, exactly, once worked out (Candidates()).
  bool have_candidates = false;
  bool capped = false;  // a secondary index held more ids than the planner listed
  FilterIds candidates;

  // Whether the collection's texts embed differently now than the query was
  // embedded; call with the index lock held.
  bool TurnedStale() {
    if (stale != nullptr && generation && c.generation.load() != *generation) *stale = true;
    return stale != nullptr && *stale;
  }
  void Stage(std::string name, std::string detail, uint64_t items, Clock::time_point since) {
    if (options.explain == nullptr) return;
    options.explain->stages.push_back(QueryStage{.name = std::move(name),
                                                 .detail = std::move(detail),
                                                 .items = items,
                                                 .ms = MsSince(since)});
  }
  // Fills in the explain's totals at the end of the call.
  void Finish() {
    if (options.explain == nullptr) return;
    QueryExplain& e = *options.explain;
    e.distance_computations = stats.distances;
    e.widenings = stats.widenings;
    e.knobs = knobs;
    if (stats.ef_search) e.knobs.ef_search = stats.ef_search;
    if (stats.nprobe) e.knobs.nprobe = stats.nprobe;
    e.total_ms = MsSince(start);
  }
  void Plan(std::string plan, std::string why) {
    if (options.explain == nullptr) return;
    if (!options.explain->plan.empty()) {
      // A search that ran more than one plan (a widening that fell back).
      options.explain->plan += " -> ";
      options.explain->why += "; ";
    }
    options.explain->plan += plan;
    options.explain->why += why;
  }
};

// Whether a field has a secondary index in this collection.
static bool IsFilterable(const Collection& c, std::string_view field) {
  const auto& f = c.meta.spec.filterable;
  return std::find(f.begin(), f.end(), field) != f.end();
}

// The ids of the records whose field has a value in one of `ranges`, sorted
// and distinct; nullopt if they are more than `cap`.
static Result<std::optional<std::vector<uint64_t>>> ScanRanges(
    const storage::Store& store, uint32_t collection, std::string_view field,
    const std::vector<storage::FieldRange>& ranges, size_t cap) {
  std::vector<uint64_t> ids;
  bool over = false;
  for (const auto& range : ranges) {
    RELATE_RETURN_IF_ERROR(store.ScanField(collection, field, range, [&](uint64_t id) {
      ids.push_back(id);
      if (ids.size() > cap) over = true;
      return !over;
    }));
    if (over) return std::optional<std::vector<uint64_t>>();
  }
  return std::optional<std::vector<uint64_t>>(SortedUnique(std::move(ids)));
}

// What the secondary indexes give for one node of the filter.
// *capped is set when a list was left out for being longer than `cap`.
static Result<FilterIds> ListFilterIds(const storage::Store& store, const Collection& c,
                                       const Filter::Node& n, size_t cap, std::string* detail,
                                       bool* capped) {
  using Op = Filter::Op;
  FilterIds out;
  switch (n.op) {
    case Op::kAnd: {
      bool all_exact = true, any_listed = false;
      for (const auto& child : n.children) {
        RELATE_ASSIGN_OR_RETURN(FilterIds part, ListFilterIds(store, c, *child, cap, detail, capped));
        all_exact = all_exact && part.exact;
        if (!part.listed) continue;
        out.ids = any_listed ? Intersect(out.ids, part.ids) : std::move(part.ids);
        any_listed = true;
      }
      out.listed = any_listed;
      out.exact = any_listed && all_exact;
      return out;
    }
    case Op::kOr: {
      bool all_exact = true;
      for (const auto& child : n.children) {
        RELATE_ASSIGN_OR_RETURN(FilterIds part, ListFilterIds(store, c, *child, cap, detail, capped));
        if (!part.listed) return FilterIds{};
        all_exact = all_exact && part.exact;
        out.ids = Unite(out.ids, part.ids);
        if (out.ids.size() > cap) {
          *capped = true;
          return FilterIds{};
        }
      }
      out.listed = true;
      out.exact = all_exact;
      return out;
    }
    case Op::kNot:
      return out;  // its complement is most of the collection: not listed
    default:
      break;
  }
  if (!IsFilterable(c, n.field)) {
    *detail += (detail->empty() ? "" : "; ") + ("field " + Quote(n.field) + ": not filterable");
    return out;
  }
  auto point = [](const MetadataValue& v) {
    return storage::FieldRange{.lower = storage::FieldBound{v, true},
                               .upper = storage::FieldBound{v, true}};
  };
  const bool is_bool = !n.values.empty() && std::holds_alternative<bool>(n.values[0]);
  std::vector<storage::FieldRange> ranges;
  switch (n.op) {
    case Op::kEq:
    case Op::kNe:
      ranges.push_back(point(n.values[0]));
      break;
    case Op::kIn:
    case Op::kNotIn:
      for (const auto& v : n.values) ranges.push_back(point(v));
      break;
    case Op::kLt:
    case Op::kLe:
    case Op::kGt:
    case Op::kGe: {
      if (is_bool) {  // booleans are not ordered: nothing matches
        out.listed = out.exact = true;
        return out;
      }
      storage::FieldRange r;
      storage::FieldBound b{n.values[0], n.op == Op::kLe || n.op == Op::kGe};
      if (n.op == Op::kLt || n.op == Op::kLe) {
        r.upper = b;
      } else {
        r.lower = b;
      }
      ranges.push_back(r);
      break;
    }
    case Op::kExists:
      ranges.push_back(storage::FieldRange{});
      break;
    default:
      break;
  }
  RELATE_ASSIGN_OR_RETURN(auto ids, ScanRanges(store, c.meta.id, n.field, ranges, cap));
  if (!ids) {
    *detail += (detail->empty() ? "" : "; ") +
               ("field " + Quote(n.field) + ": more than " + WithThousands(cap) + " ids");
    *capped = true;
    return out;
  }
  if (n.op == Op::kNe || n.op == Op::kNotIn) {
    // exists(field) and not (field == v): the field's ids minus the equal ones.
    RELATE_ASSIGN_OR_RETURN(auto all,
                            ScanRanges(store, c.meta.id, n.field, {storage::FieldRange{}}, cap));
    if (!all) {
      *detail += (detail->empty() ? "" : "; ") +
                 ("field " + Quote(n.field) + ": more than " + WithThousands(cap) + " ids");
      *capped = true;
      return out;
    }
    *ids = Subtract(*all, *ids);
  }
  *detail += (detail->empty() ? "" : "; ") +
             ("field " + Quote(n.field) + ": " + WithThousands(ids->size()) + " ids");
  out.listed = out.exact = true;
  out.ids = std::move(*ids);
  return out;
}

// Keeps the ids (in order) whose records match the filter, reading their
// metadata in chunks; stops once `enough` are kept (0: check all).
static Result<std::vector<uint64_t>> CheckIds(const storage::Store& store, const Collection& c,
                                              const Filter& filter, std::span<const uint64_t> ids,
                                              size_t enough) {
  std::vector<uint64_t> kept;
  for (size_t at = 0; at < ids.size(); at += kFetchChunk) {
    auto chunk = ids.subspan(at, std::min(kFetchChunk, ids.size() - at));
    RELATE_ASSIGN_OR_RETURN(auto records, store.GetRecords(c.meta.id, chunk, false));
    for (size_t i = 0; i < chunk.size(); ++i) {
      if (records[i] && filter.Matches(records[i]->metadata)) {
        kept.push_back(chunk[i]);
        if (enough != 0 && kept.size() >= enough) return kept;
      }
    }
  }
  return kept;
}

// Every record the filter matches, listed from the secondary indexes where it
// can be and checked against the records where it must, or read from every
// record. Worked out once per call.
static Status FindCandidates(DBImpl::SearchRun& run, const storage::Store& store, bool scan_all,
                             size_t want) {
  const Filter& filter = run.options.filter;
  const Collection& c = run.c;
  if (run.have_candidates && (run.candidates.listed || !scan_all)) return Status::OK();
  auto t = Clock::now();
  // Lists what the secondary indexes give, at most `cap` ids a list, and
  // checks a superset against the records.
  auto list = [&](size_t cap, bool* capped) -> Status {
    std::string detail;
    RELATE_ASSIGN_OR_RETURN(run.candidates,
                            ListFilterIds(store, c, *filter.root(), cap, &detail, capped));
    run.Stage("secondary indexes", detail.empty() ? "no filterable field in the filter" : detail,
              run.candidates.listed ? run.candidates.ids.size() : 0, t);
    if (run.candidates.listed && !run.candidates.exact) {
      t = Clock::now();
      const size_t listed = run.candidates.ids.size();
      RELATE_ASSIGN_OR_RETURN(run.candidates.ids,
                              CheckIds(store, c, filter, run.candidates.ids, 0));
      run.candidates.exact = true;
      run.Stage("check records", "read " + WithThousands(listed) + " listed records' metadata",
                run.candidates.ids.size(), t);
    }
    return Status::OK();
  };
  if (!run.have_candidates) {
    RELATE_RETURN_IF_ERROR(list(ListCap(want, run.records), &run.capped));
    run.have_candidates = true;
  }
  if (!run.candidates.listed && scan_all && run.capped) {
    // Lists too long to be worth it before are cheaper than reading every record.
    t = Clock::now();
    bool capped = false;
    RELATE_RETURN_IF_ERROR(list(SIZE_MAX, &capped));
  }
  if (!run.candidates.listed && scan_all) {
    t = Clock::now();
    std::vector<uint64_t> ids;
    uint64_t read = 0;
    RELATE_RETURN_IF_ERROR(store.ScanRecords(c.meta.id, false, [&](StoredRecord&& r) {
      ++read;
      if (filter.Matches(r.metadata)) ids.push_back(r.id);
      return Status::OK();
    }));
    run.candidates.ids = SortedUnique(std::move(ids));
    run.candidates.listed = run.candidates.exact = true;
    run.Stage("scan records", "read all " + WithThousands(read) + " records' metadata",
              run.candidates.ids.size(), t);
  }
  if (run.options.explain != nullptr && run.candidates.exact) {
    run.options.explain->candidates = run.candidates.ids.size();
    run.options.explain->candidates_counted = true;
  }
  return Status::OK();
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
    std::shared_lock lock(c.index_mu);
    if (run.TurnedStale()) return DBImpl::ScoredLists();
    index_vectors = c.index->keeps_exact_vectors();
    if (index_vectors) {
      if (!run.options.threshold) {
        RELATE_ASSIGN_OR_RETURN(auto nb, c.index->SearchExact(queries, want, ids, &run.stats));
        run.Stage("exact search", WithThousands(ids.size()) + " candidates x " +
                                      std::to_string(n) + " queries, index vectors",
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
    std::shared_lock lock(c.index_mu);
    if (run.TurnedStale()) return out;
    spec = c.index->spec();
    if (run.options.threshold) {
      RELATE_ASSIGN_OR_RETURN(auto rr, c.index->RangeSearch(queries, *run.options.threshold, want,
                                                            params, &run.stats));
      out = FromRange(rr, n);
    } else {
      RELATE_ASSIGN_OR_RETURN(auto nb, c.index->Search(queries, want, params, &run.stats));
      out = FromNeighbours(nb, n);
    }
  }
  size_t found = 0;
  for (const auto& l : out) found += l.size();
  run.Stage(run.options.threshold ? "index range search" : "index search",
            spec + (allowed ? ", skipping ids outside " + WithThousands(allowed->size()) +
                                             " candidates"
                                       : std::string()),
            found, t);
  return out;
}

// "index search, filter on hits" for one query: wider and wider index
// searches whose hits are checked against the filter; nullopt once a scan of
// every record is the cheaper way on.
static Result<std::optional<std::vector<DBImpl::Scored>>> FilterOnHits(
    DBImpl::SearchRun& run, const storage::Store& store, std::span<const float> query,
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

Result<DBImpl::ScoredLists> DBImpl::FindIds(SearchRun& run, std::span<const float> queries,
                                            size_t want) {
  const Collection& c = run.c;
  const size_t n = queries.size() / c.meta.spec.dimension;
  size_t live = 0;
  bool flat = false;  // the index scans every vector anyway
  bool index_vectors = false;
  std::string spec;
  {
    std::shared_lock lock(c.index_mu);
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
    RELATE_ASSIGN_OR_RETURN(Ranked ranked,
                            RankPrepared(c, queries, want, run.knobs, run.generation, run.stale,
                                         &run.stats));
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
      RELATE_ASSIGN_OR_RETURN(auto got,
                              FilterOnHits(run, *store_, queries.subspan(q * c.meta.spec.dimension,
                                                                         c.meta.spec.dimension),
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
    run.Plan("exact over candidates",
             WithThousands(ids.size()) + " of " + WithThousands(live) + " records match" +
                 (flat ? " (the index is a flat scan)" : ""));
    return ExactOver(run, *store_, queries, ids, want);
  }
  run.Plan("index search with filter",
           WithThousands(ids.size()) + " of " + WithThousands(live) +
               " records match; the index keeps codes, not vectors");
  index::IdSet allowed;
  for (uint64_t id : ids) allowed.Add(id);
  return IndexSearch(run, queries, want, &allowed);
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
    RELATE_RETURN_IF_ERROR(store_->ScanPostings(c.meta.id, term.term,
                                                [&](uint64_t id, uint32_t count, uint32_t len) {
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
      run.Stage("check hits", "read keyword hits' metadata until " + std::to_string(want) + " matched",
                ranked.size(), t);
    }
  }
  if (ranked.size() > want) ranked.resize(want);
  return ranked;
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
      const double value = out.empty() ? relevance
                                       : lambda * relevance - (1 - lambda) * most_similar[i];
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
          run.Stage("group by", "field " + Quote(options.group_by) + ": " +
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
    want = std::max(options.mmr_candidates ? options.mmr_candidates : std::max<size_t>(4 * k, 40),
                    k) + extra;
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
      run.Stage("mmr", "lambda " + std::to_string(*options.mmr_lambda) + " over " +
                           std::to_string(pool) + " hits",
                lists[q].size(), t);
    }
    if (lists[q].size() > k) lists[q].resize(k);
    const auto t = Clock::now();
    RELATE_ASSIGN_OR_RETURN(out[q], MakeHits(c, lists[q], options.with_vector));
    run.Stage("read records", options.with_vector ? "text, metadata and vector" : "text and metadata",
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

// Fuses a vector list and a keyword list (each best first) into one.
static std::vector<DBImpl::Scored> Fuse(const std::vector<DBImpl::Scored>& by_vector,
                                        const std::vector<DBImpl::Scored>& by_keyword,
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
