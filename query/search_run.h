// One search call's state (DBImpl::SearchRun) and what the files that plan
// and run a search share: search.cc, filter_ids.cc and keyword.cc.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "query/db_impl.h"
#include "query/filter_ids.h"

namespace relate::query {

using Clock = std::chrono::steady_clock;

inline double MsSince(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// Records read per storage call when hits or candidates are checked.
inline constexpr size_t kFetchChunk = 4096;

// `v` with a comma between each three digits, for the explain's details.
std::string WithThousands(uint64_t v);

// Relevance as "higher is more related", for MMR: the score for cosine and
// inner product, the negated distance for L2.
float Similarity(Metric metric, float score, float distance);

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

}  // namespace relate::query
