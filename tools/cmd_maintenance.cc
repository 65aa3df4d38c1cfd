// The state of the indexes and their upkeep: stats, tune, compact.
#include <fmt/format.h>

#include <ostream>

#include "tools/command.h"
#include "tools/output.h"

namespace relate::tools {
namespace {

// "ef 64 nprobe 8": the knobs that are set, or "defaults".
std::string KnobText(const SearchKnobs& k) {
  std::string t;
  if (k.ef_search) t += fmt::format("ef {} ", k.ef_search);
  if (k.nprobe) t += fmt::format("nprobe {} ", k.nprobe);
  if (k.refine > 1) t += fmt::format("refine {} ", k.refine);
  return t.empty() ? std::string("defaults") : t.substr(0, t.size() - 1);
}

// "HNSW32" or, while an index of another kind stands in for the spec, "SPEC:IN_USE".
std::string IndexText(const CollectionStats& st) {
  return st.index_spec == st.index_in_use ? st.index_in_use : st.index_spec + ":" + st.index_in_use;
}

class StatsCommand : public Command {
 public:
  void AddFlags(CLI::App& sub) override { sub.add_option("collection", collection_); }

  void DoCommand(Context& ctx) override {
    auto db = ctx.OpenDb(false);
    std::vector<CollectionInfo> all;
    if (collection_.empty()) {
      all = Check(db->ListCollections());
    } else {
      all.push_back(Check(db->DescribeCollection(collection_)));
    }
    std::vector<CollectionStats> stats;
    for (const auto& c : all) stats.push_back(Check(db->Stats(c.spec.name)));
    const std::string dir = ctx.DbDir();
    const SpaceUsage space = Check(db->SpaceUsed());
    if (ctx.json()) {
      PrintJson(ctx, dir, space, all, stats);
      return;
    }
    std::ostream& out = ctx.out();
    out << fmt::format("database {}: storage {}, index checkpoints {}\n", dir,
                       HumanBytes(space.storage_bytes), HumanBytes(space.index_checkpoint_bytes));
    const size_t name_width =
        ColumnWidth(all, 20, [](const CollectionInfo& c) { return c.spec.name; });
    const size_t index_width = ColumnWidth(stats, 16, IndexText);
    out << fmt::format("{} {:>10} {} {:<8} {:>6} {:>10} {:>10} {:<22} {}\n",
                       Pad("collection", name_width), "records", Pad("index", index_width),
                       "trained", "dead", "memory", "unckpt", "knobs", "tuned recall");
    for (size_t i = 0; i < all.size(); ++i) {
      const auto& c = all[i];
      const auto& st = stats[i];
      const std::string tuned = st.tuned_unix_ms == 0
                                    ? "never"
                                    : fmt::format("{:.3f} (target {:.2f}, {})", st.tuned_recall,
                                                  st.tuned_target, FormatTime(st.tuned_unix_ms));
      out << fmt::format("{} {:>10} {} {:<8} {:>5.1f}% {:>10} {:>10} {:<22} {}\n",
                         Pad(OneLine(c.spec.name), name_width), c.count,
                         Pad(OneLine(IndexText(st)), index_width), st.trained ? "yes" : "no",
                         100 * st.dead_fraction, HumanBytes(st.memory_bytes),
                         c.last_change - c.index_checkpoint, KnobText(st.knobs), tuned);
      out << fmt::format("  filterable: {}; keyword index: {}\n",
                         c.spec.filterable.empty() ? std::string("none") : FilterableText(c.spec),
                         c.spec.keyword_index ? "on" : "off");
      if (st.rebuilding) out << "  rebuilding its index now\n";
      if (!st.last_rebuild.empty()) out << "  last rebuild: " << st.last_rebuild << "\n";
    }
  }

 private:
  static void PrintJson(const Context& ctx, const std::string& dir, const SpaceUsage& space,
                        const std::vector<CollectionInfo>& all,
                        const std::vector<CollectionStats>& stats) {
    json arr = json::array();
    for (size_t i = 0; i < all.size(); ++i) {
      const auto& c = all[i];
      const auto& st = stats[i];
      json j = InfoToJson(c);
      j["changes_since_checkpoint"] = c.last_change - c.index_checkpoint;
      j["index"] = json{{"spec", st.index_spec},
                        {"in_use", st.index_in_use},
                        {"trained", st.trained},
                        {"live", st.live},
                        {"dead", st.dead},
                        {"dead_fraction", st.dead_fraction},
                        {"memory_bytes", st.memory_bytes},
                        {"knobs", KnobsToJson(st.knobs)},
                        {"tuned_recall", st.tuned_recall},
                        {"tuned_target", st.tuned_target},
                        {"tuned_unix_ms", st.tuned_unix_ms},
                        {"rebuilding", st.rebuilding},
                        {"last_rebuild", st.last_rebuild}};
      arr.push_back(j);
    }
    ctx.out() << json{{"database", dir},
                      {"storage_bytes", space.storage_bytes},
                      {"index_checkpoint_bytes", space.index_checkpoint_bytes},
                      {"collections", arr}}
                     .dump()
              << "\n";
  }

  std::string collection_;
};

class TuneCommand : public Command {
 public:
  TuneCommand() { options_.target_recall = 0; }

  void AddFlags(CLI::App& sub) override {
    sub.add_option("collection", collection_)->required();
    sub.add_option("--recall", options_.target_recall, "Recall@k to reach, e.g. 0.95")
        ->check(CLI::Range(0.0, 1.0));
    sub.add_option("-k", options_.k, "Recall at k (default 10)")->check(CLI::PositiveNumber);
    sub.add_option("--sample", options_.sample, "Stored vectors used as queries (default 200)")
        ->check(CLI::PositiveNumber);
    sub.add_option("--seed", options_.seed, "Seed of the sample (default 1)");
    AddKnobFlags(sub, knobs_);
  }

  void DoCommand(Context& ctx) override {
    const bool set = knobs_.ef_search || knobs_.nprobe || knobs_.refine;
    if (set == (options_.target_recall > 0)) {
      throw Failure{kExitUsage,
                    "tune: give --recall TARGET to measure, or knobs (--ef-search, --nprobe, "
                    "--refine) to set them"};
    }
    auto db = ctx.OpenDb(true);
    std::ostream& out = ctx.out();
    if (set) {
      Check(db->SetSearchKnobs(collection_, knobs_));
      if (!ctx.json()) out << "set the default knobs of " << collection_ << "\n";
      return;
    }
    const TuneReport r = Check(db->Tune(collection_, options_));
    if (ctx.json()) {
      json trials = json::array();
      for (const auto& t : r.trials) {
        trials.push_back({{"knobs", KnobsToJson(t.knobs)},
                          {"recall", t.recall},
                          {"ms_per_query", t.ms_per_query}});
      }
      out << json{{"knobs", KnobsToJson(r.knobs)},
                  {"recall", r.recall},
                  {"ms_per_query", r.ms_per_query},
                  {"reached", r.reached},
                  {"trials", trials}}
                 .dump()
          << "\n";
    } else {
      out << fmt::format("{:>10} {:>8} {:>8} {:>10} {:>12}\n", "ef_search", "nprobe", "refine",
                         "recall@" + std::to_string(options_.k), "ms/query");
      for (const auto& t : r.trials) {
        out << fmt::format("{:>10} {:>8} {:>8} {:>10.4f} {:>12.3f}\n", t.knobs.ef_search,
                           t.knobs.nprobe, t.knobs.refine, t.recall, t.ms_per_query);
      }
      out << fmt::format(
          "{} {}: ef_search {}, nprobe {}, refine {} (recall@{} {:.4f}, {:.3f} ms per query), "
          "stored as its defaults\n",
          r.reached ? "reached the target with" : "NO setting reached the target; best recall with",
          collection_, r.knobs.ef_search, r.knobs.nprobe, r.knobs.refine, options_.k, r.recall,
          r.ms_per_query);
    }
    if (!r.reached) throw Failure{kExitBadInput, ""};
  }

 private:
  std::string collection_;
  TuneOptions options_;
  SearchKnobs knobs_;
};

class CompactCommand : public Command {
 public:
  void AddFlags(CLI::App& sub) override { sub.add_option("collection", collection_)->required(); }

  void DoCommand(Context& ctx) override {
    auto db = ctx.OpenDb(true);
    Check(db->Compact(collection_));
    const CollectionStats st = Check(db->Stats(collection_));
    if (ctx.json()) {
      ctx.out() << json{{"collection", collection_},
                        {"live", st.live},
                        {"dead", st.dead},
                        {"memory_bytes", st.memory_bytes},
                        {"index", st.index_in_use}}
                       .dump()
                << "\n";
    } else {
      ctx.out() << fmt::format("compacted {}: {} vectors in {} ({})\n", collection_, st.live,
                               st.index_in_use, HumanBytes(st.memory_bytes));
    }
  }

 private:
  std::string collection_;
};

}  // namespace

void AddMaintenanceCommands(CLI::App& app, CommandSet& commands) {
  commands.Add<StatsCommand>(
      app, "stats", "Counts, sizes and index state (kind, trained, dead, memory, knobs, recall)");
  commands.Add<TuneCommand>(app, "tune",
                            "Measure recall against exact search and store the cheapest knobs "
                            "that reach --recall (or set knobs)");
  commands.Add<CompactCommand>(app, "compact",
                               "Rebuild a collection's index now, without deleted vectors");
}

}  // namespace relate::tools
