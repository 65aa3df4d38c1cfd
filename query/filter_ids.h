// The records a search's filter matches: what the secondary indexes list for
// it, and the check of records against it (query/filter_ids.cc).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "query/db_impl.h"

namespace relate::query {

// What the filter's secondary indexes say about the matching records.
struct FilterIds {
  bool listed = false;        // `ids` holds every matching record (and maybe others)
  bool exact = false;         // `ids` holds exactly the matching records
  std::vector<uint64_t> ids;  // sorted, distinct
};

// Keeps the ids (in order) whose records match the filter, reading their
// metadata in chunks; stops once `enough` are kept (0: check all).
Result<std::vector<uint64_t>> CheckIds(const storage::Store& store, const Collection& c,
                                       const Filter& filter, std::span<const uint64_t> ids,
                                       size_t enough);

// Every record the filter matches, listed from the secondary indexes where it
// can be and checked against the records where it must, or read from every
// record. Worked out once per call.
Status FindCandidates(DBImpl::SearchRun& run, const storage::Store& store, bool scan_all,
                      size_t want);

}  // namespace relate::query
