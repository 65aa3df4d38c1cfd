// Collections: create, list, describe, drop.
#include <fmt/format.h>

#include <algorithm>
#include <ostream>

#include "tools/command.h"
#include "tools/output.h"
#include "util/quote.h"

namespace relate::tools {
namespace {

class CreateCommand : public Command {
 public:
  void AddFlags(CLI::App& sub) override {
    sub.add_option("collection", name_, "Collection name")->required();
    sub.add_option("--dim", dimension_, "Vector dimension (taken from --model if given)")
        ->check(CLI::PositiveNumber);
    sub.add_option("--model", model_, "Embedding model that turns text into vectors");
    sub.add_option("--metric", metric_, "cosine (default), ip or l2");
    sub.add_option("--index", index_spec_, "FAISS index_factory string or auto (default Flat)");
    sub.add_option("--filterable", filterable_,
                   "Metadata fields to keep a secondary index of, for fast --where filters "
                   "(comma-separated; repeatable)")
        ->delimiter(',')
        ->allow_extra_args(false)
        ->type_name("FIELD[,FIELD...]");
    sub.add_flag("--keyword-index", keyword_index_,
                 "Keep an inverted index of the text for query --keyword and --hybrid "
                 "(ingest writes a key per distinct word: several times slower)");
  }

  void DoCommand(Context& ctx) override {
    auto db = ctx.OpenDb(true);
    CollectionSpec spec;
    spec.name = name_;
    spec.dimension = dimension_;
    spec.model = model_;
    if (dimension_ == 0 && model_.empty()) {
      throw Failure{kExitUsage, "create: give --dim N, or --model NAME to take it from a model"};
    }
    spec.metric = Check(ParseMetric(metric_));
    spec.index_spec = index_spec_;
    for (const auto& field : filterable_) {
      if (field.empty()) throw Failure{kExitUsage, "create: --filterable: an empty field name"};
      if (std::find(spec.filterable.begin(), spec.filterable.end(), field) ==
          spec.filterable.end()) {
        spec.filterable.push_back(field);
      }
    }
    spec.keyword_index = keyword_index_;
    Check(db->CreateCollection(spec));
    auto info = Check(db->DescribeCollection(name_));
    if (ctx.json()) {
      ctx.out() << InfoToJson(info).dump() << "\n";
      return;
    }
    ctx.out() << fmt::format(
        "created collection {} ({} dimensions, {}, index {}{}{}{})\n", util::Quote(info.spec.name),
        info.spec.dimension, MetricName(info.spec.metric), info.spec.index_spec,
        info.spec.model.empty() ? std::string() : ", model " + util::Quote(info.spec.model),
        info.spec.filterable.empty()
            ? std::string()
            : fmt::format(", filterable {}", fmt::join(info.spec.filterable, ", ")),
        info.spec.keyword_index ? "" : ", no keyword index");
  }

 private:
  std::string name_;
  uint32_t dimension_ = 0;
  std::string model_;
  std::string metric_ = "cosine";
  std::string index_spec_ = "Flat";
  std::vector<std::string> filterable_;
  bool keyword_index_ = false;
};

class ListCommand : public Command {
 public:
  void AddFlags(CLI::App&) override {}

  void DoCommand(Context& ctx) override {
    auto db = ctx.OpenDb(false);
    auto all = Check(db->ListCollections());
    std::ostream& out = ctx.out();
    if (ctx.json()) {
      json arr = json::array();
      for (const auto& c : all) arr.push_back(InfoToJson(c));
      out << arr.dump() << "\n";
      return;
    }
    // Names and index specs whole, however long.
    const size_t name_width =
        ColumnWidth(all, 24, [](const CollectionInfo& c) { return c.spec.name; });
    const size_t index_width =
        ColumnWidth(all, 16, [](const CollectionInfo& c) { return c.spec.index_spec; });
    out << fmt::format("{} {:>9} {:<7} {} {:>12}  {:<8}  {}\n", Pad("collection", name_width),
                       "dimension", "metric", Pad("index", index_width), "records", "keywords",
                       "filterable");
    for (const auto& c : all) {
      out << fmt::format("{} {:>9} {:<7} {} {:>12}  {:<8}  {}\n",
                         Pad(OneLine(c.spec.name), name_width), c.spec.dimension,
                         MetricName(c.spec.metric), Pad(OneLine(c.spec.index_spec), index_width),
                         c.count, c.spec.keyword_index ? "on" : "off",
                         c.spec.filterable.empty() ? "-" : OneLine(FilterableText(c.spec)));
    }
  }
};

class DescribeCommand : public Command {
 public:
  void AddFlags(CLI::App& sub) override { sub.add_option("collection", name_)->required(); }

  void DoCommand(Context& ctx) override {
    auto db = ctx.OpenDb(false);
    auto c = Check(db->DescribeCollection(name_));
    std::ostream& out = ctx.out();
    if (ctx.json()) {
      out << InfoToJson(c).dump() << "\n";
      return;
    }
    out << fmt::format(
        "collection  {}\ndimension   {}\nmetric      {}\nindex       {}\nrecords     {}\n"
        "created     {}\nfilterable  {}\nkeywords    {}\n",
        c.spec.name, c.spec.dimension, MetricName(c.spec.metric), c.spec.index_spec, c.count,
        FormatTime(c.created_unix_ms),
        c.spec.filterable.empty() ? std::string("none") : FilterableText(c.spec),
        c.spec.keyword_index ? "on (BM25 index of the text: query --keyword, --hybrid)" : "off");
    if (c.spec.model.empty()) return;
    auto model = db->DescribeModel(c.spec.model);
    const bool stale = model && model->version != c.model_version;
    out << fmt::format("model       {} version {}{}\n", c.spec.model, c.model_version,
                       stale ? fmt::format(" (version {} is newer: `relate model apply {}` "
                                           "re-embeds)",
                                           model->version, c.spec.model)
                             : std::string());
  }

 private:
  std::string name_;
};

class DropCommand : public Command {
 public:
  void AddFlags(CLI::App& sub) override { sub.add_option("collection", name_)->required(); }

  void DoCommand(Context& ctx) override {
    auto db = ctx.OpenDb(true);
    auto info = Check(db->DescribeCollection(name_));
    Check(db->DropCollection(name_));
    if (ctx.json()) {
      ctx.out() << json{{"dropped", name_}, {"records", info.count}}.dump() << "\n";
    } else {
      ctx.out() << fmt::format("dropped collection {} ({} records)\n", util::Quote(name_),
                               info.count);
    }
  }

 private:
  std::string name_;
};

}  // namespace

void AddCollectionCommands(CLI::App& app, CommandSet& commands) {
  commands.Add<CreateCommand>(app, "create", "Create a collection");
  commands.Add<ListCommand>(app, "list", "List collections");
  commands.Add<DescribeCommand>(app, "describe", "Describe a collection");
  commands.Add<DropCommand>(app, "drop", "Drop a collection and all its records");
}

}  // namespace relate::tools
