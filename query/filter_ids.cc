// A search filter's candidates, the records it matches.
//
// The filter's candidates come from the secondary indexes of the fields the
// collection declares filterable: a comparison on such a field is one or more
// value ranges scanned in storage; and / or combine the id sets; a part that
// cannot be listed (another field, a `not`, a list over the cap) leaves a
// superset whose records are checked against the whole filter. ListCap says
// how long a list may grow before checking hits pays more (the plans that use
// the candidates are described in search.cc).
#include "query/filter_ids.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iterator>

#include "query/search_run.h"

namespace relate::query {

namespace {

// How many ids a filter's secondary-index scans may list before the planner
// gives up listing and checks hits instead. Listing costs about 1 us an id
// (the scan, then the exact comparison); an index search whose hits are
// checked looks at about k / selectivity hits at about 4 us each (reading the
// record, the wider search). They cost the same at m^2 = 4 k n for m matching
// records of n: fewer are listed (and searched exactly), more are checked on
// the hits. relate_query_bench measured both sides (bench/README.md).
size_t ListCap(size_t want, size_t live) {
  constexpr size_t kListAlways = 2048;
  return std::max<size_t>(
      kListAlways,
      static_cast<size_t>(std::sqrt(4.0 * static_cast<double>(want) * static_cast<double>(live))));
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

}  // namespace

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
        RELATE_ASSIGN_OR_RETURN(FilterIds part,
                                ListFilterIds(store, c, *child, cap, detail, capped));
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
        RELATE_ASSIGN_OR_RETURN(FilterIds part,
                                ListFilterIds(store, c, *child, cap, detail, capped));
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

Result<std::vector<uint64_t>> CheckIds(const storage::Store& store, const Collection& c,
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

Status FindCandidates(DBImpl::SearchRun& run, const storage::Store& store, bool scan_all,
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

}  // namespace relate::query
