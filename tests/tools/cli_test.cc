#define BOOST_TEST_MODULE tools
#include "tools/cli.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "relate/relate.h"
#include "tests/testutil/testutil.h"

using namespace relate;
using json = nlohmann::json;

namespace {

struct Outcome {
  int code;
  std::string out;
  std::string err;
};

// A scratch directory with `db` the database path and helpers to run the CLI.
struct CliFixture {
  testutil::ScratchDir dir;
  std::string db = (dir.path() / "db").string();

  Outcome Run(std::vector<std::string> args) {
    std::ostringstream out, err;
    int code = tools::Run(args, out, err);
    return {code, out.str(), err.str()};
  }
  // Runs with --db and fails the test if the exit code is not `want`.
  Outcome Db(std::vector<std::string> args, int want = 0) {
    args.insert(args.begin(), {"--db", db});
    Outcome o = Run(args);
    BOOST_TEST(o.code == want, "exit " << o.code << ", stderr: " << o.err);
    return o;
  }
  std::string WriteFile(const std::string& name, const std::string& text) {
    const auto path = (dir.path() / name).string();
    std::ofstream(path) << text;
    return path;
  }
};

std::string Line(const std::string& key, const std::vector<float>& v,
                 const std::string& text = "some text") {
  json j = {{"key", key},
            {"text", text},
            {"metadata", {{"len", key.size()}, {"tag", "t"}}},
            {"vector", v}};
  return j.dump() + "\n";
}

std::string Lines(size_t n, size_t dim, uint32_t seed, const std::string& prefix = "k") {
  auto v = testutil::RandomVectors(n, dim, seed);
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out += Line(prefix + std::to_string(i),
                std::vector<float>(v.begin() + static_cast<ptrdiff_t>(i * dim),
                                   v.begin() + static_cast<ptrdiff_t>((i + 1) * dim)),
                "text " + std::to_string(i));
  }
  return out;
}

uint64_t CountOf(const std::string& db, const std::string& collection) {
  auto opened = DB::Open(db, {.read_only = true, .log = [](std::string_view) {}});
  BOOST_TEST_REQUIRE(opened.has_value(), opened.error().ToString());
  return (*opened)->Count(collection).value();
}

// Temporary files a write left next to its target.
size_t TempFilesIn(const std::filesystem::path& dir) {
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    n += e.path().filename().string().find(".tmp") != std::string::npos;
  }
  return n;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(CliTest, CliFixture)

BOOST_AUTO_TEST_CASE(HelpListsCommandsAndExitCodes) {
  Outcome o = Run({"--help"});
  BOOST_TEST(o.code == 0);
  for (const char* word : {"ingest", "query", "verify", "Exit codes", "in use", "RELATE_DB"}) {
    BOOST_TEST(o.out.find(word) != std::string::npos, word);
  }
}

BOOST_AUTO_TEST_CASE(UsageErrorsExitTwo) {
  BOOST_TEST(Run({"frobnicate"}).code == tools::kExitUsage);
  BOOST_TEST(Run({"--db", db, "--create", "create", "c"}).code == tools::kExitUsage);  // no --dim
  BOOST_TEST(Run({}).code == tools::kExitUsage);
  ::unsetenv("RELATE_DB");
  Outcome o = Run({"list"});
  BOOST_TEST(o.code == tools::kExitUsage);
  BOOST_TEST(o.err.find("--db") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(MissingDatabaseNeedsCreate) {
  Outcome o = Db({"create", "c", "--dim", "4"}, tools::kExitNotFound);
  BOOST_TEST(o.err.find("--create") != std::string::npos);
  BOOST_TEST(!std::filesystem::exists(db));
  Db({"--create", "create", "c", "--dim", "4"});
  BOOST_TEST(std::filesystem::exists(db));
}

BOOST_AUTO_TEST_CASE(DirectoryThatIsNotADatabaseIsBadInput) {
  WriteFile("notes.txt", "hello");
  Outcome o = Run({"--db", dir.path().string(), "--create", "list"});
  BOOST_TEST(o.code == tools::kExitBadInput);
  BOOST_TEST(o.err.find("not a relate database") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(DatabaseFromEnvironment) {
  ::setenv("RELATE_DB", db.c_str(), 1);
  BOOST_TEST(Run({"--create", "create", "c", "--dim", "3"}).code == 0);
  Outcome o = Run({"list"});
  ::unsetenv("RELATE_DB");
  BOOST_TEST(o.code == 0);
  BOOST_TEST(o.out.find("c ") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(CollectionsAreCreatedListedDescribedAndDropped) {
  Db({"--create", "create", "papers", "--dim", "4", "--metric", "l2"});
  Db({"create", "papers", "--dim", "4"}, tools::kExitBadInput);  // exists
  Db({"create", "x", "--dim", "4", "--metric", "manhattan"}, tools::kExitBadInput);
  Db({"create", "x", "--dim", "4", "--index", "Nonsense"}, tools::kExitBadInput);
  json list = json::parse(Db({"list", "--json"}).out);
  BOOST_TEST_REQUIRE(list.size() == 1u);
  BOOST_TEST(list[0]["name"] == "papers");
  BOOST_TEST(list[0]["metric"] == "l2");
  BOOST_TEST(list[0]["dimension"] == 4);
  BOOST_TEST(Db({"describe", "papers"}).out.find("dimension   4") != std::string::npos);
  Db({"describe", "nope"}, tools::kExitNotFound);
  Db({"drop", "papers"});
  Db({"drop", "papers"}, tools::kExitNotFound);
  BOOST_TEST(json::parse(Db({"list", "--json"}).out).empty());
}

BOOST_AUTO_TEST_CASE(IngestThenQueryGetAndDelete) {
  Db({"--create", "create", "docs", "--dim", "6"});
  const auto file = WriteFile("docs.jsonl", Lines(50, 6, 1));
  Outcome ingest = Db({"ingest", "docs", file, "--batch", "8"});
  BOOST_TEST(ingest.err.find("50 records") != std::string::npos, ingest.err);
  BOOST_TEST(CountOf(db, "docs") == 50u);

  json rec = json::parse(Db({"get", "docs", "k7", "--json", "--with-vector"}).out);
  BOOST_TEST(rec["text"] == "text 7");
  BOOST_TEST(rec["metadata"]["tag"] == "t");
  BOOST_TEST(rec["vector"].size() == 6u);

  // Querying with a record's own vector finds it first with cosine 1.
  json hits =
      json::parse(Db({"query", "docs", "--vector", rec["vector"].dump(), "-k", "3", "--json"}).out);
  BOOST_TEST_REQUIRE(hits.size() == 3u);
  BOOST_TEST(hits[0]["key"] == "k7");
  BOOST_TEST(hits[0]["score"].get<double>() == 1.0, boost::test_tools::tolerance(1e-5));
  BOOST_TEST(hits[0]["text"] == "text 7");

  json like = json::parse(Db({"query", "docs", "--key", "k7", "-k", "4", "--json"}).out);
  BOOST_TEST(like.size() == 4u);
  for (const auto& h : like) BOOST_TEST(h["key"] != "k7");
  BOOST_TEST(Db({"query", "docs", "--key", "k7"}).out.find("rank") != std::string::npos);

  Db({"delete", "docs", "k1", "k2"});
  Db({"get", "docs", "k1"}, tools::kExitNotFound);
  Db({"delete", "docs", "k1"}, tools::kExitNotFound);
  BOOST_TEST(CountOf(db, "docs") == 48u);

  Outcome verify = Db({"verify"});
  BOOST_TEST(verify.out.find("docs: ok (48 records, 48 indexed") != std::string::npos, verify.out);
  json stats = json::parse(Db({"stats", "--json"}).out);
  BOOST_TEST(stats["collections"][0]["records"] == 48);
  BOOST_TEST(stats["storage_bytes"].get<uint64_t>() > 0u);
}

// An HNSW collection end to end: deletes on a graph, knobs on the command
// line, `tune` storing what it measured, `stats` showing it, `compact`.
BOOST_AUTO_TEST_CASE(TuneStatsAndCompactOnAGraphIndex) {
  Db({"--create", "create", "g", "--dim", "16", "--index", "HNSW8"});
  const auto file = WriteFile("g.jsonl", Lines(1500, 16, 4));
  Db({"ingest", "g", file});
  Db({"delete", "g", "k1", "k2", "k3"});
  Db({"get", "g", "k1"}, tools::kExitNotFound);
  json own = json::parse(Db({"get", "g", "k10", "--json", "--with-vector"}).out);
  json hits = json::parse(Db({"query", "g", "--vector", own["vector"].dump(), "-k", "5",
                              "--ef-search", "200", "--json"})
                              .out);
  BOOST_TEST(hits[0]["key"] == "k10", hits.dump());
  for (const auto& h : hits) BOOST_TEST(h["key"] != "k1");

  json tuned = json::parse(Db({"tune", "g", "--recall", "0.9", "--sample", "50", "--json"}).out);
  BOOST_TEST(tuned["reached"] == true);
  BOOST_TEST(tuned["recall"].get<double>() >= 0.9);
  BOOST_TEST(tuned["trials"].size() >= 1u);
  const auto ef = tuned["knobs"]["ef_search"].get<uint32_t>();
  BOOST_TEST(ef >= 16u);

  json stats = json::parse(Db({"stats", "g", "--json"}).out);
  const json& index = stats["collections"][0]["index"];
  BOOST_TEST(index["in_use"] == "HNSW8");
  BOOST_TEST(index["live"] == 1497);
  BOOST_TEST(index["dead"] == 3);
  BOOST_TEST(index["knobs"]["ef_search"] == ef);
  BOOST_TEST(index["tuned_target"] == 0.9);
  BOOST_TEST(index["memory_bytes"].get<uint64_t>() > 1500u * 16 * 4);
  Outcome table = Db({"stats", "g"});
  BOOST_TEST(table.out.find("HNSW8") != std::string::npos, table.out);
  BOOST_TEST(table.out.find("ef " + std::to_string(ef)) != std::string::npos, table.out);

  json compacted = json::parse(Db({"compact", "g", "--json"}).out);
  BOOST_TEST(compacted["dead"] == 0);
  BOOST_TEST(compacted["live"] == 1497);
  BOOST_TEST(json::parse(Db({"stats", "g", "--json"}).out)["collections"][0]["index"]["dead"] == 0);
  Db({"verify", "g"});

  // Knobs set by hand; bad requests.
  Db({"tune", "g", "--ef-search", "40", "--refine", "2"});
  json after = json::parse(Db({"stats", "g", "--json"}).out)["collections"][0]["index"]["knobs"];
  BOOST_TEST(after["ef_search"] == 40);
  BOOST_TEST(after["refine"] == 2);
  Db({"tune", "g"}, tools::kExitUsage);                                         // neither
  Db({"tune", "g", "--recall", "0.9", "--ef-search", "5"}, tools::kExitUsage);  // both
  Db({"tune", "g", "--recall", "1.5"}, tools::kExitUsage);
  Db({"tune", "nope", "--recall", "0.9"}, tools::kExitNotFound);
  Db({"compact", "nope"}, tools::kExitNotFound);
  Db({"query", "g", "--vector", own["vector"].dump(), "--nprobe", "0"}, tools::kExitUsage);
}

BOOST_AUTO_TEST_CASE(QueryNeedsExactlyOneOfVectorAndKey) {
  Db({"--create", "create", "docs", "--dim", "2"});
  Db({"query", "docs"}, tools::kExitUsage);
  Db({"query", "docs", "--vector", "[1,0]", "--key", "a"}, tools::kExitUsage);
  Outcome o = Db({"query", "docs", "--vector", "[1,0,"}, tools::kExitBadInput);
  BOOST_TEST(o.err.find("--vector") != std::string::npos);
  o = Db({"query", "docs", "--vector", "[1,0,3]"}, tools::kExitBadInput);
  BOOST_TEST(o.err.find("3 values") != std::string::npos, o.err);
  Db({"query", "docs", "--key", "ghost"}, tools::kExitNotFound);
}

BOOST_AUTO_TEST_CASE(MalformedLineNamesFileAndLineAndKeepsEarlierBatches) {
  Db({"--create", "create", "docs", "--dim", "3"});
  std::string text = Lines(6, 3, 2);
  text += "{\"key\": \"bad\", \"vector\": [1, 2\n";  // line 7
  text += Lines(3, 3, 3, "late");
  const auto file = WriteFile("bad.jsonl", text);
  Outcome o = Db({"ingest", "docs", file, "--batch", "4"}, tools::kExitBadInput);
  BOOST_TEST(o.err.find("bad.jsonl:7: malformed JSON") != std::string::npos, o.err);
  BOOST_TEST(o.err.find("lines 1-4 are stored") != std::string::npos, o.err);
  BOOST_TEST(CountOf(db, "docs") == 4u);  // batch 1; lines 5-6 were in the failing batch
  Db({"get", "docs", "k3"});
  Db({"get", "docs", "k4"}, tools::kExitNotFound);
}

BOOST_AUTO_TEST_CASE(BadRecordsAreRefusedWithTheirLine) {
  Db({"--create", "create", "docs", "--dim", "3"});
  struct Case {
    std::string line, expect;
  };
  const std::vector<Case> cases = {
      {R"({"key": "a", "text": "no vector"})", "missing field \"vector\""},
      {R"({"text": "t", "vector": [1,2,3]})", "missing field \"key\""},
      {R"({"key": "a", "vector": [1,2]})", "vector has 2 values, collection \"docs\" expects 3"},
      {R"({"key": "a", "vector": []})", "vector is empty"},
      {R"({"key": "a", "vector": [0,0,0]})", "all zeros"},
      {R"({"key": "a", "vector": [1e39,0,0]})", "does not fit a float32"},
      {R"({"key": "a", "vector": [1,"x",0]})", "value 1 is not a number"},
      {R"({"key": 5, "vector": [1,2,3]})", "\"key\" must be a string"},
      {R"({"key": "a", "vectr": [1,2,3]})", "unknown field \"vectr\""},
      {R"({"key": "a", "vector": [1,2,3], "metadata": {"m": {"x": 1}}})", "metadata field \"m\""},
      {R"({"key": "", "vector": [1,2,3]})", "\"key\" is empty"},
      {R"([1,2,3])", "one JSON object"},
  };
  for (const auto& c : cases) {
    const auto file = WriteFile("one.jsonl", Line("good", {1, 2, 3}) + c.line + "\n");
    Outcome o = Db({"ingest", "docs", file}, tools::kExitBadInput);
    BOOST_TEST(o.err.find("one.jsonl:2: ") != std::string::npos, c.line << " -> " << o.err);
    BOOST_TEST(o.err.find(c.expect) != std::string::npos, c.line << " -> " << o.err);
  }
  BOOST_TEST(CountOf(db, "docs") == 0u);
}

BOOST_AUTO_TEST_CASE(DuplicateKeysInAFileEndWithTheLastLine) {
  Db({"--create", "create", "docs", "--dim", "2"});
  const auto file = WriteFile(
      "dup.jsonl", Line("a", {1, 0}, "first") + Line("b", {0, 1}) + Line("a", {1, 1}, "second"));
  Db({"ingest", "docs", file});
  BOOST_TEST(CountOf(db, "docs") == 2u);
  json rec = json::parse(Db({"get", "docs", "a", "--json"}).out);
  BOOST_TEST(rec["text"] == "second");
}

BOOST_AUTO_TEST_CASE(IngestIntoMissingCollectionOrFileIsNotFound) {
  Db({"--create", "create", "docs", "--dim", "2"});
  const auto file = WriteFile("x.jsonl", Line("a", {1, 0}));
  Db({"ingest", "nope", file}, tools::kExitNotFound);
  Db({"ingest", "docs", (dir.path() / "absent.jsonl").string()}, tools::kExitNotFound);
}

BOOST_AUTO_TEST_CASE(IngestJsonSummaryForScripts) {
  Db({"--create", "create", "docs", "--dim", "2"});
  const auto file = WriteFile("x.jsonl", Line("a", {1, 0}) + "\n" + Line("b", {0, 1}));
  json s = json::parse(Db({"ingest", "docs", file, "--json"}).out);
  BOOST_TEST(s["records"] == 2);
  BOOST_TEST(s["lines_committed"] == 3);
  BOOST_TEST(!s.contains("error"));
}

BOOST_AUTO_TEST_CASE(ModelsAreImportedListedDescribedExportedAndDropped) {
  const auto vec = WriteFile("m.vec", "3 2\nking 1 0\nqueen 0.5 0.5\napple 0 1\n");
  Outcome o = Db({"--create", "model", "import", vec, "--name", "m", "--pooling", "sif"});
  BOOST_TEST(
      o.out.find("imported model \"m\" version 1: 3 words x 2 dimensions") != std::string::npos,
      o.out);
  Db({"model", "import", vec, "--name", "m"}, tools::kExitBadInput);  // exists
  json replaced =
      json::parse(Db({"model", "import", vec, "--name", "m", "--replace", "--json"}).out);
  BOOST_TEST(replaced["version"] == 2);
  json list = json::parse(Db({"model", "list", "--json"}).out);
  BOOST_TEST_REQUIRE(list.size() == 1u);
  BOOST_TEST(list[0]["words"] == 3);
  BOOST_TEST(list[0]["format"] == "word2vec-text");
  BOOST_TEST(Db({"model", "describe", "m"}).out.find("pooling     mean") != std::string::npos);
  const auto out = (dir.path() / "out.vec").string();
  Db({"model", "export", "m", out});
  std::ifstream in(out);
  std::string header;
  std::getline(in, header);
  BOOST_TEST(header == "3 2");
  Db({"model", "drop", "m"});
  Db({"model", "describe", "m"}, tools::kExitNotFound);
  Db({"model", "drop", "m"}, tools::kExitNotFound);
}

BOOST_AUTO_TEST_CASE(CollectionWithAModelIngestsTextAndAnswersTextQueries) {
  const auto vec = WriteFile("m.vec", "4 2\nking 1 0.1\nqueen 0.9 0.2\napple 0 1\npear 0.1 0.9\n");
  Db({"--create", "model", "import", vec, "--name", "m"});
  Db({"create", "docs"}, tools::kExitUsage);  // neither --dim nor --model
  Outcome created = Db({"create", "docs", "--model", "m"});
  BOOST_TEST(created.out.find("2 dimensions") != std::string::npos, created.out);
  const auto file = WriteFile("docs.jsonl",
                              "{\"key\": \"royal\", \"text\": \"The king met the queen.\"}\n"
                              "{\"key\": \"fruit\", \"text\": \"An apple and a pear.\"}\n");
  Db({"ingest", "docs", file});
  json hits = json::parse(Db({"query", "docs", "Pear!", "-k", "1", "--json"}).out);
  BOOST_TEST_REQUIRE(hits.size() == 1u);
  BOOST_TEST(hits[0]["key"] == "fruit");
  Db({"query", "docs", "zebra"}, tools::kExitBadInput);
  Db({"query", "docs", "pear", "--key", "royal"}, tools::kExitUsage);
  Db({"model", "drop", "m"}, tools::kExitBadInput);  // in use
  Db({"fit-sif", "docs"}, tools::kExitBadInput);     // the model pools with mean
  const auto bad = WriteFile("bad.jsonl", "{\"key\": \"z\", \"text\": \"zebra crossing\"}\n");
  Outcome o = Db({"ingest", "docs", bad}, tools::kExitBadInput);
  BOOST_TEST(o.err.find("bad.jsonl:1: ") != std::string::npos, o.err);
  BOOST_TEST(o.err.find("vocabulary") != std::string::npos, o.err);
}

BOOST_AUTO_TEST_CASE(WordCommandsAnswerFromTheModel) {
  const auto vec =
      WriteFile("r.vec", "5 3\nman 1 0 0\nwoman 0 1 0\nking 1 0 1\nqueen 0 1 1\napple 0 0 -1\n");
  Db({"--create", "model", "import", vec, "--name", "r"});
  json similar = json::parse(Db({"similar", "r", "king", "-k", "2", "--json"}).out);
  BOOST_TEST(similar[0]["word"] == "man");
  BOOST_TEST(similar[1]["word"] == "queen");
  json analogy = json::parse(Db({"analogy", "r", "king", "-", "man", "+", "woman", "--json"}).out);
  BOOST_TEST(analogy[0]["word"] == "queen");
  Db({"analogy", "r", "king", "man", "woman"}, tools::kExitUsage);
  BOOST_TEST(Db({"odd-one-out", "r", "king", "queen", "man", "apple"}).out == "apple\n");
  json sim = json::parse(Db({"similarity", "r", "king", "king", "--json"}).out);
  BOOST_TEST(sim["cosine"].get<double>() == 1.0, boost::test_tools::tolerance(1e-5));
  const auto ws = WriteFile("ws.txt", "king\tman\t9\nking\tqueen\t7\nking\tapple\t1\n");
  json rho = json::parse(Db({"eval", "wordsim", "r", ws, "--json"}).out);
  BOOST_TEST(rho["spearman"].get<double>() == 1.0, boost::test_tools::tolerance(1e-9));
  BOOST_TEST(rho["covered"] == 3);
  const auto q = WriteFile("q.txt", ": royal\nman king woman queen\nman king woman apple\n");
  json acc = json::parse(Db({"eval", "analogy", "r", q, "--json"}).out);
  BOOST_TEST(acc["answered"] == 2);
  BOOST_TEST(acc["correct"] == 1);
  BOOST_TEST(Db({"eval", "analogy", "r", q}).out.find("total") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(BadModelFilesAreRefusedWithTheirLine) {
  const auto bad = WriteFile("bad.vec", "2 2\nking 1 0\nqueen 0.5 zz\n");
  Outcome o = Db({"--create", "model", "import", bad, "--name", "m"}, tools::kExitBadInput);
  BOOST_TEST(o.err.find("bad.vec:3") != std::string::npos, o.err);
  Db({"model", "import", (dir.path() / "none.vec").string(), "--name", "m"}, tools::kExitNotFound);
  Db({"model", "import", bad, "--name", "m", "--format", "pickle"}, tools::kExitBadInput);
  BOOST_TEST(json::parse(Db({"model", "list", "--json"}).out).empty());
}

BOOST_AUTO_TEST_CASE(IngestOnATerminalDrawsProgressWithRateAndEta) {
  Db({"--create", "create", "docs", "--dim", "4"});
  const auto file = WriteFile("p.jsonl", Lines(30, 4, 9));
  std::ostringstream out, err;
  int code = tools::Run(std::vector<std::string>{"--db", db, "ingest", "docs", file}, out, err,
                        /*err_is_terminal=*/true);
  BOOST_TEST(code == 0);
  const std::string e = err.str();
  BOOST_TEST(e.find("\r100% [") != std::string::npos, e);
  BOOST_TEST(e.find("/s  ETA ") != std::string::npos, e);
  BOOST_TEST(e.find("30 records from") != std::string::npos, e);  // and the summary line
}

BOOST_AUTO_TEST_CASE(IngestReadsStandardInput) {
  Db({"--create", "create", "docs", "--dim", "4"});
  const auto file = WriteFile("s.jsonl", Lines(12, 4, 10));
  const std::string command = std::string(RELATE_CLI_PATH) + " --db " + db + " ingest docs - < " +
                              file + " 2> " + file + ".err";
  BOOST_TEST(std::system(command.c_str()) == 0);
  BOOST_TEST(CountOf(db, "docs") == 12u);
}

BOOST_AUTO_TEST_CASE(ModelTrainReportsProgressAsJsonAndApplyMovesCollections) {
  const auto corpus = WriteFile("topics.txt", testutil::TopicText(3000, 1));
  Outcome trained =
      Db({"--create", "--json", "model", "train", "--name", "topics", "--corpus", corpus, "--dim",
          "8", "--epochs", "2", "--min-count", "1", "--threads", "1"});
  std::istringstream lines(trained.out);
  std::string line;
  std::set<std::string> phases;
  json last;
  while (std::getline(lines, line)) {
    last = json::parse(line);
    if (last.contains("phase")) phases.insert(last["phase"].get<std::string>());
  }
  BOOST_TEST(phases.count("counting") == 1u);
  BOOST_TEST(phases.count("training") == 1u);
  BOOST_TEST(last["name"] == "topics");
  BOOST_TEST(last["version"] == 1);
  BOOST_TEST(last["words"] == 300);
  BOOST_TEST(last["words_per_second_per_thread"].get<double>() > 0);

  Db({"create", "docs", "--model", "topics"});
  WriteFile("docs.jsonl", "{\"key\":\"a\",\"text\":\"t1w1 t1w2\"}\n");
  Db({"ingest", "docs", (dir.path() / "docs.jsonl").string()});
  Outcome again = Db({"model", "train", "--name", "topics", "--corpus", corpus, "--dim", "8",
                      "--epochs", "1", "--min-count", "1", "--seed", "5", "--apply"});
  BOOST_TEST(again.out.find("version 2") != std::string::npos, again.out);
  BOOST_TEST(again.out.find("collection \"docs\" re-embedded") != std::string::npos, again.out);
  Outcome applied = Db({"--json", "model", "apply", "topics"});
  BOOST_TEST(json::parse(applied.out)["applied"].empty());
  Outcome described = Db({"--json", "describe", "docs"});
  BOOST_TEST(json::parse(described.out)["model_version"] == 2, described.out);
}

BOOST_AUTO_TEST_CASE(ModelTrainRefusesBadInputWithClearErrors) {
  const auto corpus = WriteFile("topics.txt", testutil::TopicText(100, 2));
  Db({"--create", "list"});
  Outcome missing =
      Db({"model", "train", "--name", "m", "--corpus", (dir.path() / "nope.txt").string()},
         tools::kExitNotFound);
  BOOST_TEST(missing.err.find("nope.txt") != std::string::npos, missing.err);
  Outcome arch = Db({"model", "train", "--name", "m", "--corpus", corpus, "--arch", "glove"},
                    tools::kExitBadInput);
  BOOST_TEST(arch.err.find("architecture") != std::string::npos, arch.err);
  Outcome rare = Db({"model", "train", "--name", "m", "--corpus", corpus, "--min-count", "100000"},
                    tools::kExitBadInput);
  BOOST_TEST(rare.err.find("min_count") != std::string::npos, rare.err);
  Db({"model", "train", "--name", "m"}, tools::kExitBadInput);
  Db({"model", "train", "--name", "m", "--corpus", corpus, "--collection", "c"}, tools::kExitUsage);
  Outcome resume =
      Db({"model", "train", "--name", "m", "--corpus", corpus, "--resume"}, tools::kExitNotFound);
  BOOST_TEST(resume.err.find("no stopped training") != std::string::npos, resume.err);
  Db({"model", "apply", "m"}, tools::kExitNotFound);
  BOOST_TEST(Db({"--json", "model", "list"}).out == "[]\n");
}

// `relate export -o FILE` and `relate import -` (standard input): the copy
// holds the same records, exports to the same bytes, and a second import of
// it is refused without changing anything.
BOOST_AUTO_TEST_CASE(ExportToAFileAndImportFromStandardInput) {
  Db({"--create", "create", "docs", "--dim", "4"});
  Db({"create", "other", "--dim", "3", "--metric", "l2"});
  Db({"ingest", "docs", WriteFile("docs.jsonl", Lines(30, 4, 1))});
  Db({"ingest", "other", WriteFile("other.jsonl", Lines(5, 3, 2, "o"))});
  const std::string file = (dir.path() / "all.relate").string();
  Outcome exported = Db({"export", "-o", file});
  BOOST_TEST(exported.out.find("2 collection(s) (35 records)") != std::string::npos, exported.out);
  BOOST_TEST_REQUIRE(std::filesystem::exists(file));
  BOOST_TEST(TempFilesIn(dir.path()) == 0u);  // the durable writer's temporary is gone
  std::ifstream in(file, std::ios::binary);
  const std::string stream((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // To standard output, one collection: the summary goes to standard error.
  Outcome one = Db({"export", "other"});
  BOOST_TEST(one.err.find("1 collection(s) (5 records)") != std::string::npos, one.err);
  BOOST_TEST(one.out.size() < stream.size());
  BOOST_TEST(one.out.rfind("relate-export") != std::string::npos);

  const std::string copy = (dir.path() / "copy").string();
  auto import_stdin = [&](const std::string& bytes, int want) {
    std::istringstream piped(bytes);
    std::streambuf* saved = std::cin.rdbuf(piped.rdbuf());
    Outcome o = Run({"--db", copy, "--create", "import", "-"});
    std::cin.rdbuf(saved);
    BOOST_TEST(o.code == want, "exit " << o.code << ", stderr: " << o.err);
    return o;
  };
  Outcome imported = import_stdin(stream, 0);
  BOOST_TEST(imported.out.find("from <stdin>") != std::string::npos, imported.out);
  BOOST_TEST(CountOf(copy, "docs") == 30u);
  BOOST_TEST(CountOf(copy, "other") == 5u);
  Outcome got = Run({"--db", copy, "--json", "get", "docs", "k7", "--with-vector"});
  Outcome original = Db({"--json", "get", "docs", "k7", "--with-vector"});
  BOOST_TEST(got.out == original.out);
  Outcome again = Run({"--db", copy, "export", "-o", (dir.path() / "again.relate").string()});
  BOOST_TEST(again.code == 0, again.err);
  std::ifstream in2(dir.path() / "again.relate", std::ios::binary);
  BOOST_TEST((std::string((std::istreambuf_iterator<char>(in2)),
                          std::istreambuf_iterator<char>()) == stream));

  Outcome twice = import_stdin(stream, tools::kExitBadInput);
  BOOST_TEST(twice.err.find("\"docs\" exists") != std::string::npos, twice.err);
  Outcome cut = import_stdin(stream.substr(0, stream.size() - 3), tools::kExitBadInput);
  BOOST_TEST(cut.err.find("import: <stdin>: frame ") != std::string::npos, cut.err);
  BOOST_TEST(CountOf(copy, "docs") == 30u);
  BOOST_TEST(Run({"--db", copy, "import", (dir.path() / "missing.relate").string()}).code ==
             tools::kExitNotFound);
}

// A flipped byte in a storage file: `verify` names the file and exits 5
// pointing at repair; `repair` sets the file aside, says what was lost, and
// `verify` passes again.
BOOST_AUTO_TEST_CASE(DamagedStorageIsReportedByVerifyAndRepaired) {
  Db({"--create", "create", "docs", "--dim", "4"});
  for (uint32_t round = 0; round < 4; ++round) {
    // Each writing process's open flushes the previous one's log into table files.
    Db({"ingest", "docs",
        WriteFile("part.jsonl", Lines(300, 4, 10 + round, "r" + std::to_string(round) + "-"))});
  }
  Db({"create", "other", "--dim", "2"});
  std::filesystem::path largest;
  for (const auto& e : std::filesystem::directory_iterator(dir.path() / "db" / "store")) {
    if (e.path().extension() == ".sst" &&
        (largest.empty() || e.file_size() > std::filesystem::file_size(largest))) {
      largest = e.path();
    }
  }
  BOOST_TEST_REQUIRE(!largest.empty());
  {
    std::fstream f(largest, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(std::filesystem::file_size(largest) / 2));
    f.put('\x5a');
    f.put('\xa5');
  }
  Outcome damaged = Db({"verify"}, tools::kExitStorage);
  BOOST_TEST(damaged.out.find("storage: DAMAGED") != std::string::npos, damaged.out);
  BOOST_TEST(damaged.out.find(largest.filename().string()) != std::string::npos, damaged.out);
  BOOST_TEST(damaged.err.find("relate repair") != std::string::npos, damaged.err);
  Outcome repaired = Db({"repair"});
  BOOST_TEST(repaired.out.find("damaged: ") != std::string::npos, repaired.out);
  BOOST_TEST(repaired.out.find(largest.filename().string()) != std::string::npos, repaired.out);
  BOOST_TEST(repaired.out.find("done: ") != std::string::npos, repaired.out);
  BOOST_TEST(repaired.out.find("lost/repair-") != std::string::npos, repaired.out);
  // A second repair finds the database whole and touches nothing.
  Outcome again = Db({"repair"});
  BOOST_TEST(again.out.find("were not touched") != std::string::npos, again.out);
  BOOST_TEST(again.out.find("done: ") == std::string::npos, again.out);
  Outcome ok = Db({"verify"});
  BOOST_TEST(ok.out.find("storage: ok") != std::string::npos, ok.out);
  json report = json::parse(Db({"--json", "verify"}).out);
  BOOST_TEST(report["storage"]["ok"] == true);
  BOOST_TEST(report["collections"].size() == 2u);
}

std::string Slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// `export -o FILE` renames a temporary file over FILE: an existing file is
// refused unless --force, and what the rename would replace rather than
// write (a device, a FIFO, a symbolic link, a directory, a file of the
// database) is refused always; nothing of the target changes.
BOOST_AUTO_TEST_CASE(ExportRefusesTargetsItWouldClobber) {
  Db({"--create", "create", "docs", "--dim", "4"});
  Db({"ingest", "docs", WriteFile("docs.jsonl", Lines(10, 4, 1))});
  const std::string stream = Db({"export"}).out;
  const auto kept = WriteFile("kept.relate", "keep me\n");
  Outcome exists = Db({"export", "-o", kept}, tools::kExitBadInput);
  BOOST_TEST(exists.err.find(kept + " exists; pass --force to overwrite it") != std::string::npos,
             exists.err);
  BOOST_TEST(Slurp(kept) == "keep me\n");
  Db({"export", "-o", kept, "--force"});
  BOOST_TEST(Slurp(kept) == stream);

  Outcome device = Db({"export", "-o", "/dev/null", "--force"}, tools::kExitBadInput);
  BOOST_TEST(device.err.find("/dev/null is not a regular file") != std::string::npos, device.err);
  BOOST_TEST(std::filesystem::is_character_file("/dev/null"));
  const auto fifo = dir.path() / "fifo";
  BOOST_TEST_REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  Outcome piped = Db({"export", "-o", fifo.string(), "--force"}, tools::kExitBadInput);
  BOOST_TEST(piped.err.find("is not a regular file") != std::string::npos, piped.err);
  BOOST_TEST(std::filesystem::is_fifo(fifo));
  Outcome directory = Db({"export", "-o", dir.path().string()}, tools::kExitBadInput);
  BOOST_TEST(directory.err.find("is a directory") != std::string::npos, directory.err);

  const auto target = WriteFile("target.txt", "pointed at\n");
  const auto link = dir.path() / "link.relate";
  std::filesystem::create_symlink(target, link);
  for (bool force : {false, true}) {
    std::vector<std::string> args{"export", "-o", link.string()};
    if (force) args.push_back("--force");
    Outcome linked = Db(args, tools::kExitBadInput);
    BOOST_TEST(linked.err.find("is a symbolic link") != std::string::npos, linked.err);
    BOOST_TEST(std::filesystem::is_symlink(link));
    BOOST_TEST(Slurp(target) == "pointed at\n");
  }

  const auto current = std::filesystem::path(db) / "store" / "CURRENT";
  const std::string current_before = Slurp(current);
  for (const std::string& inside :
       {current.string(), db + "/new.relate", (dir.path() / "db" / "index" / ".." / "x").string(),
        (dir.path() / "." / "db").string()}) {
    Outcome refused = Db({"export", "-o", inside, "--force"}, tools::kExitBadInput);
    BOOST_TEST(refused.err.find("is inside the database directory") != std::string::npos,
               refused.err);
  }
  BOOST_TEST(Slurp(current) == current_before);
  BOOST_TEST(!std::filesystem::exists(db + "/new.relate"));
  // A backup inside the database is refused too.
  Db({"backup", db + "/index/backup"}, tools::kExitBadInput);
  BOOST_TEST(!std::filesystem::exists(db + "/index/backup"));
  BOOST_TEST(CountOf(db, "docs") == 10u);
  Db({"verify"});
  BOOST_TEST(TempFilesIn(dir.path()) == 0u);
  BOOST_TEST(TempFilesIn(std::filesystem::path(db) / "store") == 0u);
}

// `model export NAME FILE` refuses the same targets as export.
BOOST_AUTO_TEST_CASE(ModelExportRefusesTargetsItWouldClobber) {
  const auto vec = WriteFile("m.vec", "3 2\nking 1 0\nqueen 0.5 0.5\napple 0 1\n");
  Db({"--create", "model", "import", vec, "--name", "m"});
  const auto kept = WriteFile("kept.vec", "keep me\n");
  Outcome exists = Db({"model", "export", "m", kept}, tools::kExitBadInput);
  BOOST_TEST(exists.err.find(kept + " exists; pass --force to overwrite it") != std::string::npos,
             exists.err);
  BOOST_TEST(Slurp(kept) == "keep me\n");
  Db({"model", "export", "m", kept, "--force"});
  BOOST_TEST(Slurp(kept).rfind("3 2\n", 0) == 0u);
  Outcome device = Db({"model", "export", "m", "/dev/null", "--force"}, tools::kExitBadInput);
  BOOST_TEST(device.err.find("is not a regular file") != std::string::npos, device.err);
  const auto target = WriteFile("target.txt", "pointed at\n");
  const auto link = dir.path() / "link.vec";
  std::filesystem::create_symlink(target, link);
  Outcome linked = Db({"model", "export", "m", link.string(), "--force"}, tools::kExitBadInput);
  BOOST_TEST(linked.err.find("is a symbolic link") != std::string::npos, linked.err);
  BOOST_TEST(Slurp(target) == "pointed at\n");
  const auto current = std::filesystem::path(db) / "store" / "CURRENT";
  const std::string current_before = Slurp(current);
  Outcome inside = Db({"model", "export", "m", current.string(), "--force"}, tools::kExitBadInput);
  BOOST_TEST(inside.err.find("is inside the database directory") != std::string::npos, inside.err);
  BOOST_TEST(Slurp(current) == current_before);
  BOOST_TEST(json::parse(Db({"model", "list", "--json"}).out).size() == 1u);
  Db({"verify"});
  BOOST_TEST(TempFilesIn(dir.path()) == 0u);
}

// `eval wordsim` and `eval analogy` on what is not an evaluation file, or on
// one whose result is undefined: an error naming the file, never a 0.
BOOST_AUTO_TEST_CASE(EvalRefusesNonFilesEndlessLinesAndUndefinedResults) {
  const auto vec =
      WriteFile("r.vec", "5 3\nman 1 0 0\nwoman 0 1 0\nking 1 0 1\nqueen 0 1 1\napple 0 0 -1\n");
  Db({"--create", "model", "import", vec, "--name", "r"});
  const auto endless = WriteFile("endless.txt", std::string((1 << 20) + 10, 'x'));
  for (const std::string kind : {"wordsim", "analogy"}) {
    Outcome directory = Db({"eval", kind, "r", dir.path().string()}, tools::kExitBadInput);
    BOOST_TEST(directory.err.find(dir.path().string() + " is a directory") != std::string::npos,
               directory.err);
    Outcome zeros = Db({"eval", kind, "r", "/dev/zero"}, tools::kExitBadInput);
    BOOST_TEST(zeros.err.find("/dev/zero:1: line longer than 1048576 bytes") != std::string::npos,
               zeros.err);
    Outcome longline = Db({"eval", kind, "r", endless}, tools::kExitBadInput);
    BOOST_TEST(longline.err.find(endless + ":1: line longer than") != std::string::npos,
               longline.err);
    Db({"eval", kind, "r", (dir.path() / "absent.txt").string()}, tools::kExitNotFound);
  }
  for (const std::string& pairs : {std::string("king\tman\t9\n"), std::string(""),
                                   std::string("king\tzebra\t9\nking\tman\t3\n"),
                                   std::string("king\tman\t5\nking\tqueen\t5\n")}) {
    const auto file = WriteFile("ws.txt", pairs);
    for (bool as_json : {false, true}) {
      std::vector<std::string> args{"eval", "wordsim", "r", file};
      if (as_json) args.push_back("--json");
      Outcome undefined = Db(args, tools::kExitBadInput);
      BOOST_TEST(undefined.err.find(file + ": Spearman's rho is undefined") != std::string::npos,
                 undefined.err);
      BOOST_TEST(undefined.out.empty(), undefined.out);
    }
  }
  for (const std::string section : {":", ": ", ":  \t"}) {
    const auto file = WriteFile("q.txt", section + "\nman king woman queen\n");
    Outcome unnamed = Db({"eval", "analogy", "r", file}, tools::kExitBadInput);
    BOOST_TEST(unnamed.err.find(file + ":1: a section line needs a name") != std::string::npos,
               unnamed.err);
  }
  const auto unknown = WriteFile("q.txt", ": royal\nman king woman zebra\n");
  Outcome none = Db({"eval", "analogy", "r", unknown}, tools::kExitBadInput);
  BOOST_TEST(none.err.find("accuracy is undefined: none of its 1 questions") != std::string::npos,
             none.err);
  // A file that ends without a newline still counts its last line.
  const auto ws = WriteFile("ws.txt", "king\tman\t9\nking\tqueen\t7\nking\tapple\t1");
  BOOST_TEST(json::parse(Db({"eval", "wordsim", "r", ws, "--json"}).out)["covered"] == 3);
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

// A collection of records with metadata, made through `relate ingest`, and
// what the tests need to check answers by brute force.
struct QueryFixture : CliFixture {
  static constexpr size_t kN = 150, kDim = 8;
  std::vector<float> vectors = testutil::RandomVectors(kN, kDim, 21);

  static int64_t YearOf(size_t i) { return 1990 + static_cast<int64_t>(i % 30); }
  static std::string GenreOf(size_t i) {
    static const char* kGenres[] = {"jazz", "blues", "rock"};
    return kGenres[i % 3];
  }
  std::vector<float> VectorOf(size_t i) const {
    return {vectors.begin() + static_cast<ptrdiff_t>(i * kDim),
            vectors.begin() + static_cast<ptrdiff_t>((i + 1) * kDim)};
  }
  // Creates collection `name` with `create_args` and ingests the kN records
  // "r0".."r149": year 1990-2019, genre jazz/blues/rock, text "record i"
  // (record 37's text also has the rare word "zeppelin").
  void MakeCollection(const std::string& name, std::vector<std::string> create_args = {}) {
    std::vector<std::string> args = {"--create",           "create",         name, "--dim",
                                     std::to_string(kDim), "--keyword-index"};
    args.insert(args.end(), create_args.begin(), create_args.end());
    Db(args);
    std::string lines;
    for (size_t i = 0; i < kN; ++i) {
      json j = {{"key", "r" + std::to_string(i)},
                {"text", "record " + std::to_string(i) + (i == 37 ? " about a zeppelin" : "")},
                {"metadata", {{"year", YearOf(i)}, {"genre", GenreOf(i)}, {"n", i}}},
                {"vector", VectorOf(i)}};
      lines += j.dump() + "\n";
    }
    Db({"ingest", name, WriteFile(name + ".jsonl", lines)});
  }
  // The keys of the k records most similar (cosine) to `query` among those
  // `keep` accepts, best first.
  std::vector<std::string> Exact(const std::vector<float>& query, size_t k,
                                 const std::function<bool(size_t)>& keep) const {
    std::vector<std::pair<double, size_t>> scored;
    for (size_t i = 0; i < kN; ++i) {
      if (keep(i)) {
        scored.emplace_back(
            testutil::Score(Metric::kCosine, vectors.data() + i * kDim, query.data(), kDim), i);
      }
    }
    std::sort(scored.begin(), scored.end(), std::greater<>());
    std::vector<std::string> keys;
    for (size_t i = 0; i < scored.size() && i < k; ++i) {
      keys.push_back("r" + std::to_string(scored[i].second));
    }
    return keys;
  }
  static std::vector<std::string> Keys(const json& hits) {
    std::vector<std::string> keys;
    for (const auto& h : hits) keys.push_back(h["key"].get<std::string>());
    return keys;
  }
  // The 1-based column an error names as "--where: column N:" (0 if none).
  static size_t ColumnIn(const std::string& err, const std::string& after) {
    const size_t at = err.find(after + ": column ");
    if (at == std::string::npos) return 0;
    return std::stoul(err.substr(at + after.size() + 9));
  }
  // Imports a tiny word2vec model "m" and creates collection "t" bound to it,
  // with texts of three topics (royalty, fruit, the sea), one record a topic
  // word, plus records with the words mixed.
  void MakeTextCollection() {
    const auto vec = WriteFile(
        "m.vec",
        "8 3\nking 1 0.1 0\nqueen 0.9 0.2 0\ncrown 0.95 0 0.1\napple 0 1 0.1\npear 0.1 0.9 0\n"
        "plum 0 0.95 0.05\nship 0 0.1 1\nstorm 0.1 0 0.9\n");
    Db({"--create", "model", "import", vec, "--name", "m"});
    Db({"create", "t", "--model", "m", "--filterable", "topic", "--keyword-index"});
    std::string lines;
    const std::vector<std::tuple<std::string, std::string, std::string>> docs = {
        {"royal", "the king and the queen", "royalty"},
        {"crown", "a crown for a king", "royalty"},
        {"fruit", "an apple and a pear", "fruit"},
        {"plum", "plum plum plum", "fruit"},
        {"sea", "a ship in a storm", "sea"},
        {"storm", "storm storm", "sea"},
        {"mixed", "a pear on a ship", "sea"}};
    for (const auto& [key, text, topic] : docs) {
      lines += json{{"key", key}, {"text", text}, {"metadata", {{"topic", topic}}}}.dump() + "\n";
    }
    Db({"ingest", "t", WriteFile("t.jsonl", lines)});
  }
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(QueryFeaturesTest, QueryFixture)

BOOST_AUTO_TEST_CASE(CreateWithFilterableFieldsAndNoKeywordIndexShowsThemEverywhere) {
  json created = json::parse(Db({"--create", "--json", "create", "a", "--dim", "4", "--filterable",
                                 "year,genre", "--filterable", "tag", "--keyword-index"})
                                 .out);
  BOOST_TEST(created["filterable"] == json({"year", "genre", "tag"}), created.dump());
  BOOST_TEST(created["keyword_index"] == true);
  Outcome b = Db({"create", "b", "--dim", "4"});
  BOOST_TEST(b.out.find("no keyword index") != std::string::npos, b.out);
  Db({"create", "c", "--dim", "4", "--filterable", ""}, tools::kExitUsage);

  json list = json::parse(Db({"--json", "list"}).out);
  BOOST_TEST_REQUIRE(list.size() == 2u);
  BOOST_TEST(list[0]["filterable"] == json({"year", "genre", "tag"}));
  BOOST_TEST(list[1]["filterable"] == json::array());
  BOOST_TEST(list[1]["keyword_index"] == false);
  const std::string table = Db({"list"}).out;
  BOOST_TEST(table.find("year, genre, tag") != std::string::npos, table);
  BOOST_TEST(table.find("keywords") != std::string::npos, table);
  const std::string described = Db({"describe", "a"}).out;
  BOOST_TEST(described.find("filterable  year, genre, tag\n") != std::string::npos, described);
  BOOST_TEST(described.find("keywords    on") != std::string::npos, described);
  BOOST_TEST(Db({"describe", "b"}).out.find("keywords    off\n") != std::string::npos);
  json stats = json::parse(Db({"--json", "stats"}).out);
  BOOST_TEST(stats["collections"][0]["filterable"].size() == 3u);
  BOOST_TEST(stats["collections"][1]["keyword_index"] == false);
  const std::string stats_table = Db({"stats"}).out;
  BOOST_TEST(
      stats_table.find("filterable: year, genre, tag; keyword index: on") != std::string::npos,
      stats_table);
  BOOST_TEST(stats_table.find("filterable: none; keyword index: off") != std::string::npos,
             stats_table);
  // A collection without the keyword index refuses keyword ranking.
  Db({"query", "b", "--keyword", "word"}, tools::kExitBadInput);
}

// --where returns only matching records, and k of them whenever k match: the
// exact best k among the matching ones (the index is Flat), on a field with
// a secondary index and on one without.
BOOST_AUTO_TEST_CASE(WhereReturnsTheBestKMatchingRecords) {
  MakeCollection("m", {"--filterable", "year"});
  const std::vector<float> q = VectorOf(5);
  struct Case {
    std::string where;
    std::function<bool(size_t)> keep;
  };
  const std::vector<Case> cases = {
      {"year >= 2015 and genre == \"jazz\"",
       [](size_t i) { return YearOf(i) >= 2015 && GenreOf(i) == "jazz"; }},
      {"genre in ['blues', 'rock'] and not (year < 2000)",
       [](size_t i) { return GenreOf(i) != "jazz" && YearOf(i) >= 2000; }},
      {"year == 1993", [](size_t i) { return YearOf(i) == 1993; }},  // 5 records
      {"n < 3 or n == 149", [](size_t i) { return i < 3 || i == 149; }},
      {"exists(nothing)", [](size_t) { return false; }},
  };
  for (const auto& c : cases) {
    json hits = json::parse(
        Db({"--json", "query", "m", "--vector", json(q).dump(), "-k", "7", "--where", c.where})
            .out);
    const auto want = Exact(q, 7, c.keep);
    BOOST_TEST(Keys(hits) == want, c.where << " -> " << hits.dump());
    for (const auto& h : hits) {
      const size_t i = h["metadata"]["n"].get<size_t>();
      BOOST_TEST(c.keep(i), c.where << ": " << h.dump());
    }
  }
  // More like this with a filter: the record itself left out, k found.
  json like = json::parse(
      Db({"--json", "query", "m", "--key", "r5", "-k", "4", "--where", "genre == 'rock'"}).out);
  BOOST_TEST(Keys(like) == Exact(q, 4, [](size_t i) { return GenreOf(i) == "rock" && i != 5; }));
}

BOOST_AUTO_TEST_CASE(WhereSyntaxErrorNamesTheColumnWithACaret) {
  MakeCollection("m");
  // "é" is one character in two bytes: the caret counts characters.
  const std::string expression = "genre == \"café\" )";
  Outcome o = Db({"query", "m", "--vector", json(VectorOf(0)).dump(), "--where", expression},
                 tools::kExitBadInput);
  BOOST_TEST(o.out.empty());
  BOOST_TEST(o.err.rfind("relate: query: --where: column ", 0) == 0u, o.err);
  BOOST_TEST(ColumnIn(o.err, "--where") == 17u, o.err);
  std::istringstream lines(o.err);
  std::string first, shown, caret;
  std::getline(lines, first);
  std::getline(lines, shown);
  std::getline(lines, caret);
  BOOST_TEST(shown == "  " + expression);
  BOOST_TEST(caret == std::string(2 + 16, ' ') + "^", o.err);

  Outcome early = Db({"query", "m", "--key", "r1", "--where", "year >= "}, tools::kExitBadInput);
  const size_t column = ColumnIn(early.err, "--where");
  BOOST_TEST(column >= 8u, early.err);
  BOOST_TEST(early.err.find("\n  year >= \n" + std::string(2 + column - 1, ' ') + "^") !=
                 std::string::npos,
             early.err);
}

// --min-score: every hit at or above the score, the same set a full scan
// finds; without -k up to 1000 of them, not 10. On l2 it is a distance bound.
BOOST_AUTO_TEST_CASE(MinScoreReturnsEveryHitAtOrAboveIt) {
  MakeCollection("m");
  const std::vector<float> q = VectorOf(9);
  json all = json::parse(
      Db({"--json", "query", "m", "--vector", json(q).dump(), "-k", std::to_string(kN)}).out);
  BOOST_TEST_REQUIRE(all.size() == kN);
  const double threshold = all[14]["score"].get<double>() - 1e-4;  // 15 records qualify
  size_t want = 0;
  for (const auto& h : all) want += h["score"].get<double>() >= threshold;
  json hits = json::parse(Db({"--json", "query", "m", "--vector", json(q).dump(), "--min-score",
                              std::to_string(threshold)})
                              .out);
  BOOST_TEST(hits.size() == want);
  BOOST_TEST(hits.size() > 10u);
  for (const auto& h : hits) BOOST_TEST(h["score"].get<double>() >= threshold);
  json limited = json::parse(Db({"--json", "query", "m", "--vector", json(q).dump(), "--min-score",
                                 std::to_string(threshold), "-k", "4"})
                                 .out);
  const auto keys = Keys(hits);
  BOOST_TEST(Keys(limited) == std::vector<std::string>(keys.begin(), keys.begin() + 4));

  Db({"create", "l", "--dim", std::to_string(kDim), "--metric", "l2"});
  Db({"ingest", "l", WriteFile("l.jsonl", Lines(60, kDim, 3))});
  json near = json::parse(Db({"--json", "query", "l", "--key", "k0", "--min-score", "3.5"}).out);
  json every = json::parse(Db({"--json", "query", "l", "--key", "k0", "-k", "59"}).out);
  size_t within = 0;
  for (const auto& h : every) within += h["distance"].get<double>() <= 3.5;
  BOOST_TEST(near.size() == within);
  for (const auto& h : near) BOOST_TEST(h["distance"].get<double>() <= 3.5);
}

BOOST_AUTO_TEST_CASE(WithVectorReturnsTheStoredVector) {
  MakeCollection("m");
  json stored = json::parse(Db({"--json", "get", "m", "r12", "--with-vector"}).out)["vector"];
  json hits =
      json::parse(Db({"--json", "query", "m", "--key", "r11", "-k", "150", "--with-vector"}).out);
  bool found = false;
  for (const auto& h : hits) {
    BOOST_TEST(h["vector"].size() == kDim);
    if (h["key"] == "r12") {
      found = true;
      BOOST_TEST(h["vector"] == stored);
    }
  }
  BOOST_TEST(found);
  // Without the flag the hits carry no vector; the table shows the first values.
  json plain = json::parse(Db({"--json", "query", "m", "--key", "r11", "-k", "2"}).out);
  BOOST_TEST(!plain[0].contains("vector"));
  const std::string table = Db({"query", "m", "--key", "r11", "-k", "2", "--with-vector"}).out;
  char first[32];
  std::snprintf(first, sizeof first, "[%.4f, ", hits[0]["vector"][0].get<double>());
  BOOST_TEST(table.find(first) != std::string::npos, first << " in " << table);
  BOOST_TEST(table.find(", ...]") != std::string::npos, table);
}

BOOST_AUTO_TEST_CASE(GroupByGivesAtMostGroupSizeHitsPerGroup) {
  MakeCollection("m");
  json hits = json::parse(Db({"--json", "query", "m", "--key", "r0", "-k", "2", "--group-by",
                              "genre", "--group-size", "3"})
                              .out);
  std::map<std::string, size_t> per_genre;
  for (const auto& h : hits) ++per_genre[h["metadata"]["genre"].get<std::string>()];
  BOOST_TEST(per_genre.size() == 2u);  // k groups
  for (const auto& [genre, n] : per_genre) BOOST_TEST(n == 3u, genre);
  // The best hit overall leads the first group.
  json best = json::parse(Db({"--json", "query", "m", "--key", "r0", "-k", "1"}).out);
  BOOST_TEST(hits[0]["key"] == best[0]["key"]);
  json one = json::parse(
      Db({"--json", "query", "m", "--key", "r0", "-k", "5", "--group-by", "genre"}).out);
  BOOST_TEST(one.size() == 3u);  // three genres, one hit each
  Db({"query", "m", "--key", "r0", "--group-size", "2"}, tools::kExitUsage);  // no --group-by
}

// Near-duplicates: MMR swaps the second copy for a different record; lambda 1
// is the plain ranking.
BOOST_AUTO_TEST_CASE(MmrDiversifiesNearDuplicatesAndLambdaOneIsPlain) {
  Db({"--create", "create", "d", "--dim", "3"});
  Db({"ingest", "d",
      WriteFile("d.jsonl", Line("a1", {1, 0.05f, 0}) + Line("a2", {1, 0.06f, 0}) +
                               Line("a3", {1, 0.07f, 0}) + Line("b", {1, -0.5f, 0}) +
                               Line("c", {0, 1, 0}))});
  const std::string q = "[1, 0, 0]";
  json plain = json::parse(Db({"--json", "query", "d", "--vector", q, "-k", "3"}).out);
  BOOST_TEST(Keys(plain) == std::vector<std::string>({"a1", "a2", "a3"}));
  json mmr =
      json::parse(Db({"--json", "query", "d", "--vector", q, "-k", "2", "--mmr", "0.5"}).out);
  BOOST_TEST(Keys(mmr) == std::vector<std::string>({"a1", "b"}));
  json one = json::parse(Db({"--json", "query", "d", "--vector", q, "-k", "3", "--mmr", "1"}).out);
  BOOST_TEST(Keys(one) == Keys(plain));
  Db({"query", "d", "--vector", q, "--mmr", "1.5"}, tools::kExitBadInput);
  Db({"query", "d", "--vector", q, "--mmr-candidates", "9"}, tools::kExitUsage);  // no --mmr
}

BOOST_AUTO_TEST_CASE(KeywordRankingFindsTheRecordWithARareWordFirst) {
  MakeCollection("m");  // no model: keyword ranking needs none
  json hits = json::parse(Db({"--json", "query", "m", "--keyword", "zeppelin"}).out);
  BOOST_TEST_REQUIRE(!hits.empty());
  BOOST_TEST(hits[0]["key"] == "r37");
  BOOST_TEST(hits[0]["keyword_score"].get<double>() > 0);
  BOOST_TEST(hits[0]["score"] == hits[0]["keyword_score"]);
  json filtered = json::parse(
      Db({"--json", "query", "m", "--keyword", "record", "-k", "5", "--where", "genre == 'rock'"})
          .out);
  BOOST_TEST(filtered.size() == 5u);
  for (const auto& h : filtered) BOOST_TEST(h["metadata"]["genre"] == "rock");
  BOOST_TEST(!hits[0].contains("vector_score"));  // only hybrid ranking has both parts
  const std::string table = Db({"query", "m", "--keyword", "zeppelin"}).out;
  const size_t first_row = table.find("\n   1 ");
  BOOST_TEST(table.substr(first_row, table.find('\n', first_row + 1) - first_row).find("r37") !=
                 std::string::npos,
             table);
  // Keyword and hybrid ranking take a text.
  Db({"query", "m", "--keyword", "--key", "r1"}, tools::kExitUsage);
  Db({"query", "m", "--hybrid", "--vector", json(VectorOf(0)).dump()}, tools::kExitUsage);
  Db({"query", "m", "--keyword", "zeppelin", "--hybrid"}, tools::kExitUsage);
}

BOOST_AUTO_TEST_CASE(HybridRankingReturnsBothScores) {
  MakeTextCollection();
  for (const std::vector<std::string>& mode :
       {std::vector<std::string>{"--hybrid"}, std::vector<std::string>{"--hybrid", "rrf"},
        std::vector<std::string>{"--hybrid", "weighted"}}) {
    std::vector<std::string> args = {"--json", "query", "t", "storm"};
    args.insert(args.end(), mode.begin(), mode.end());
    json hits = json::parse(Db(args).out);
    BOOST_TEST_REQUIRE(!hits.empty());
    // "storm storm" is first by BM25 and by vector: first either way.
    BOOST_TEST(hits[0]["key"] == "storm", hits.dump());
    BOOST_TEST(hits[0]["vector_score"].get<double>() > 0.9);
    BOOST_TEST(hits[0]["keyword_score"].get<double>() > 0);
    for (const auto& h : hits) {
      BOOST_TEST(h.contains("vector_score"));
      BOOST_TEST(h.contains("keyword_score"));
      if (h["text"].get<std::string>().find("storm") == std::string::npos) {
        BOOST_TEST(h["keyword_score"].get<double>() == 0.0, h.dump());
      }
    }
    if (mode.size() == 1 || mode[1] == "rrf") {
      // Rank 1 in both lists: 2 / (60 + 1).
      BOOST_TEST(hits[0]["score"].get<double>() == 2.0 / 61, boost::test_tools::tolerance(1e-5));
    }
  }
  // Weighted with all the weight on the vector ranks as the vector search does.
  json vector_only = json::parse(Db({"--json", "query", "t", "pear", "-k", "3"}).out);
  json weighted = json::parse(Db({"--json", "query", "t", "pear", "-k", "3", "--hybrid", "weighted",
                                  "--hybrid-weight", "1"})
                                  .out);
  BOOST_TEST(Keys(weighted) == Keys(vector_only));
  // The query text after a bare --hybrid is the text, not the mode.
  json bare = json::parse(Db({"--json", "query", "t", "--hybrid", "ship", "-k", "2"}).out);
  BOOST_TEST(bare.size() == 2u);
  Db({"query", "t", "--hybrid", "sideways", "ship"}, tools::kExitUsage);
  Db({"query", "t", "ship", "--hybrid-weight", "0.3"}, tools::kExitUsage);  // not weighted
  Db({"query", "t", "ship", "--hybrid", "weighted", "--rrf-k", "10"}, tools::kExitUsage);
  Db({"query", "t", "ship", "--hybrid", "weighted", "--hybrid-weight", "2"}, tools::kExitBadInput);
}

BOOST_AUTO_TEST_CASE(ExplainPrintsThePlanAndItsStages) {
  MakeCollection("m", {"--filterable", "genre"});
  const std::string v = json(VectorOf(3)).dump();
  Outcome text =
      Db({"query", "m", "--vector", v, "-k", "3", "--where", "genre == 'jazz'", "--explain"});
  for (const char* word : {"rank", "explain\n", "  plan ", "  filter ", "  records ",
                           "  distance computations ", "  stage ", "  total "}) {
    BOOST_TEST(text.out.find(word) != std::string::npos, word << " in " << text.out);
  }
  BOOST_TEST(text.out.find("explain") > text.out.find("rank"));  // after the hits
  json j = json::parse(Db({"--json", "query", "m", "--vector", v, "-k", "3", "--where",
                           "genre == 'jazz'", "--explain"})
                           .out);
  BOOST_TEST(j["hits"].size() == 3u);
  const json& e = j["explain"];
  BOOST_TEST(!e["plan"].get<std::string>().empty(), e.dump());
  BOOST_TEST(e["records"] == kN);
  BOOST_TEST(!e["filter"].get<std::string>().empty());
  BOOST_TEST(e["stages"].size() >= 1u);
  for (const auto& st : e["stages"]) {
    BOOST_TEST(!st["name"].get<std::string>().empty());
    BOOST_TEST(st["ms"].get<double>() >= 0);
  }
  BOOST_TEST(e["total_ms"].get<double>() >= 0);
  if (!e["candidates"].is_null()) BOOST_TEST(e["candidates"] == 50);  // the jazz records
  // Without --explain the JSON stays a plain array of hits.
  BOOST_TEST(json::parse(Db({"--json", "query", "m", "--vector", v}).out).is_array());
}

// A batch file of texts, vectors and keys, some with their own where, k or
// min_score: one answer a line, each the answer of the same single query.
BOOST_AUTO_TEST_CASE(BatchAnswersTextsVectorsAndKeysWithTheirOwnOptions) {
  MakeTextCollection();
  json royal = json::parse(Db({"--json", "get", "t", "royal", "--with-vector"}).out)["vector"];
  const std::vector<std::string> queries = {
      R"({"text": "pear"})",
      R"({"text": "storm"})",
      "",
      R"({"text": "king", "where": "topic != 'royalty'", "k": 2})",
      json{{"vector", royal}}.dump(),
      json{{"vector", royal}, {"k", 1}}.dump(),
      R"({"key": "plum", "where": "topic == 'fruit'"})",
      R"({"text": "crown", "min_score": 0.5})",
  };
  std::string text;
  for (const auto& q : queries) text += q + "\n";
  const std::string file = WriteFile("q.jsonl", text);
  Outcome o = Db({"--json", "query", "t", "--batch", file, "-k", "3"});
  std::vector<json> answers;
  std::istringstream lines(o.out);
  for (std::string line; std::getline(lines, line);) answers.push_back(json::parse(line));
  BOOST_TEST_REQUIRE(answers.size() == 7u, o.out);
  const std::vector<int> numbers = {1, 2, 4, 5, 6, 7, 8};
  const std::vector<std::vector<std::string>> single = {
      {"t", "pear", "-k", "3"},
      {"t", "storm", "-k", "3"},
      {"t", "king", "-k", "2", "--where", "topic != 'royalty'"},
      {"t", "--vector", royal.dump(), "-k", "3"},
      {"t", "--vector", royal.dump(), "-k", "1"},
      {"t", "--key", "plum", "-k", "3", "--where", "topic == 'fruit'"},
      {"t", "crown", "-k", "3", "--min-score", "0.5"},
  };
  for (size_t i = 0; i < answers.size(); ++i) {
    BOOST_TEST(answers[i]["query"] == numbers[i]);
    std::vector<std::string> args = {"--json", "query"};
    args.insert(args.end(), single[i].begin(), single[i].end());
    json want = json::parse(Db(args).out);
    BOOST_TEST(Keys(answers[i]["hits"]) == Keys(want), "line " << numbers[i]);
  }
  for (const auto& h : answers[2]["hits"]) BOOST_TEST(h["metadata"]["topic"] != "royalty");
  BOOST_TEST(answers[3]["hits"][0]["key"] == "royal");
  BOOST_TEST(answers[4]["hits"].size() == 1u);
  BOOST_TEST(answers[5]["hits"].size() == 1u);  // the other fruit record; plum itself excluded
  for (const auto& h : answers[6]["hits"]) BOOST_TEST(h["score"].get<double>() >= 0.5);

  // The table: a block headed by each query's line; standard input works too.
  std::istringstream piped("{\"key\": \"sea\"}\n{\"text\": \"apple\", \"k\": 1}\n");
  std::streambuf* saved = std::cin.rdbuf(piped.rdbuf());
  Outcome table = Db({"query", "t", "--batch", "-"});
  std::cin.rdbuf(saved);
  BOOST_TEST(table.out.find("query 1\n") == 0u, table.out);
  BOOST_TEST(table.out.find("query 2\n") != std::string::npos, table.out);
  BOOST_TEST(table.out.find("fruit") != std::string::npos, table.out);
  // With --explain each answer carries the explain of the search that answered
  // it: lines 1 and 2 (texts, same options) were answered by one search, lines
  // 5 and 6 (vectors, another k each) by two.
  std::istringstream explained_out(
      Db({"--json", "query", "t", "--batch", file, "-k", "3", "--explain"}).out);
  std::vector<json> explained;
  for (std::string line; std::getline(explained_out, line);) explained.push_back(json::parse(line));
  BOOST_TEST_REQUIRE(explained.size() == 7u);
  BOOST_TEST(explained[0]["explain"]["stages"].size() >= 1u);
  BOOST_TEST(explained[0]["explain"] == explained[1]["explain"]);
  BOOST_TEST(explained[3]["explain"] != explained[4]["explain"]);
}

// A bad line stops the batch before any query is answered, naming the file
// and line (and, for a filter, the column).
BOOST_AUTO_TEST_CASE(BatchWithABadLineFailsWithFileAndLineBeforeAnswering) {
  MakeTextCollection();
  struct Case {
    std::string line, expect;
    int code;
  };
  const std::vector<Case> cases = {
      {"{\"text\": \"pear\"", "malformed JSON", tools::kExitBadInput},
      {"{\"k\": 3}", "no query", tools::kExitBadInput},
      {"{\"text\": \"pear\", \"key\": \"plum\"}", "ambiguous query", tools::kExitBadInput},
      {"{\"text\": \"pear\", \"kk\": 3}", "unknown field \"kk\"", tools::kExitBadInput},
      {"{\"text\": \"pear\", \"k\": 0}", "\"k\" must be a positive integer", tools::kExitBadInput},
      {"{\"text\": \"pear\", \"where\": 3}", "\"where\" must be a string", tools::kExitBadInput},
      {"{\"vector\": [1, 2]}", "vector has 2 values", tools::kExitBadInput},
      {"{\"key\": \"ghost\"}", "ghost", tools::kExitNotFound},
      {"{\"text\": \"zebra\"}", "vocabulary", tools::kExitBadInput},
      {"[1, 2]", "one JSON object", tools::kExitBadInput},
  };
  const std::string good = "{\"text\": \"pear\"}\n{\"key\": \"plum\"}\n";
  for (const auto& c : cases) {
    const auto file = WriteFile("bad.jsonl", good + c.line + "\n{\"text\": \"ship\"}\n");
    Outcome o = Db({"--json", "query", "t", "--batch", file}, c.code);
    BOOST_TEST(o.out.empty(), c.line << " -> " << o.out);
    BOOST_TEST(o.err.find("query: " + file + ":3: ") != std::string::npos,
               c.line << " -> " << o.err);
    BOOST_TEST(o.err.find(c.expect) != std::string::npos, c.line << " -> " << o.err);
  }
  // A filter that does not parse: its column, and a caret under it.
  const std::string expression = "topic == 'fruit' and";
  const auto file =
      WriteFile("where.jsonl", good + json{{"text", "pear"}, {"where", expression}}.dump() + "\n");
  Outcome o = Db({"query", "t", "--batch", file}, tools::kExitBadInput);
  BOOST_TEST(o.out.empty());
  const size_t column = ColumnIn(o.err, file + ":3: \"where\"");
  BOOST_TEST(column >= 17u, o.err);
  BOOST_TEST(o.err.find("\n  " + expression + "\n" + std::string(2 + column - 1, ' ') + "^") !=
                 std::string::npos,
             o.err);
  // Keyword ranking takes texts only; a batch takes no TEXT, --vector or --key.
  const auto keys = WriteFile("keys.jsonl", "{\"text\": \"ship\"}\n{\"key\": \"plum\"}\n");
  Outcome kw = Db({"query", "t", "--batch", keys, "--keyword"}, tools::kExitUsage);
  BOOST_TEST(kw.err.find("keys.jsonl:2: ") != std::string::npos, kw.err);
  BOOST_TEST(kw.out.empty());
  Db({"query", "t", "pear", "--batch", keys}, tools::kExitUsage);
  Db({"query", "t", "--batch", (dir.path() / "none.jsonl").string()}, tools::kExitNotFound);
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

// The columns a terminal gives `s`, for the scripts these tests use: CJK, kana
// and fullwidth forms two, combining accents none, any other character one.
size_t Columns(std::string_view s) {
  size_t width = 0;
  for (size_t i = 0; i < s.size();) {
    const auto lead = static_cast<unsigned char>(s[i]);
    const size_t n = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
    char32_t c = n == 1 ? lead : lead & (0x7F >> n);
    for (size_t j = 1; j < n && i + j < s.size(); ++j) c = (c << 6) | (s[i + j] & 0x3F);
    i += n;
    if (c >= 0x300 && c <= 0x36F) continue;
    const bool wide = (c >= 0x2E80 && c <= 0xA4CF) || (c >= 0xF900 && c <= 0xFAFF) ||
                      (c >= 0xFF00 && c <= 0xFF60);
    width += wide ? 2 : 1;
  }
  return width;
}

// The column at which `token` starts in `line`, or npos if it is not there.
size_t ColumnOf(const std::string& line, const std::string& token) {
  const size_t at = line.find(token);
  return at == std::string::npos ? std::string::npos
                                 : Columns(std::string_view(line).substr(0, at));
}

std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Names and keys a table used to cut to 20 or 24 bytes: ASCII ones that differ
// only at the end, Cyrillic (two bytes a letter), Japanese (two columns a
// character) and one with combining accents (U+0301: no column of its own).
const std::vector<std::string> kLongNames = {
    "a-rather-long-document-key-number-1",
    "a-rather-long-document-key-number-2",
    "a-rather-long-document-key-number-3",
    "ключ-документа-номер-один",
    "文書-キー-番号-二",
    "e\u0301clair-au-cafe\u0301-et-au-chocolat",
};

// The row of `table` that holds `name` whole and followed by a space.
const std::string* RowOf(const std::vector<std::string>& table, const std::string& name) {
  for (size_t i = 1; i < table.size(); ++i) {
    if (table[i].find(name + " ") != std::string::npos) return &table[i];
  }
  return nullptr;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(TableTest, CliFixture)

BOOST_AUTO_TEST_CASE(HitTablePrintsEveryKeyWholeInAlignedColumns) {
  Db({"--create", "create", "docs", "--dim", "3"});
  std::string lines;
  for (size_t i = 0; i < kLongNames.size(); ++i) {
    lines += Line(kLongNames[i], {1, 0.1f * static_cast<float>(i), 0},
                  "the text of document " + std::to_string(i) +
                      ", long enough that the table has to shorten it somewhere");
  }
  Db({"ingest", "docs", WriteFile("docs.jsonl", lines)});
  for (const std::vector<std::string>& extra :
       {std::vector<std::string>{}, std::vector<std::string>{"--with-vector"}}) {
    std::vector<std::string> args = {"query", "docs", "--vector", "[1, 0, 0]", "-k", "10"};
    args.insert(args.end(), extra.begin(), extra.end());
    const std::vector<std::string> table = SplitLines(Db(args).out);
    BOOST_TEST_REQUIRE(table.size() == kLongNames.size() + 1);
    const std::string& header = table[0];
    for (const auto& key : kLongNames) {
      const std::string* row = RowOf(table, key);
      BOOST_TEST_REQUIRE(row != nullptr, key << " whole in\n" << Db(args).out);
      BOOST_TEST(ColumnOf(*row, key) == ColumnOf(header, "key"), *row);
      BOOST_TEST(ColumnOf(*row, "the text of document") == ColumnOf(header, "text"), *row);
      BOOST_TEST(ColumnOf(*row, "{\"len\"") == ColumnOf(header, "metadata"), *row);
      BOOST_TEST(row->find("...  {") != std::string::npos, *row);  // the text is shortened
    }
  }
  // Each block of a batch is a table of its own, keys whole too.
  const std::string batch = WriteFile("q.jsonl", "{\"key\": \"" + kLongNames[0] + "\"}\n");
  const std::string out = Db({"query", "docs", "--batch", batch}).out;
  for (size_t i = 1; i < kLongNames.size(); ++i) {
    BOOST_TEST(out.find(kLongNames[i] + "  ") != std::string::npos, out);
  }
}

// A key wider than the whole table: the key stays whole, the text gives up
// its room down to a few columns, and the columns still line up.
BOOST_AUTO_TEST_CASE(AVeryLongKeyShortensTheTextNotTheKey) {
  Db({"--create", "create", "docs", "--dim", "3"});
  const std::string huge = "ключ-" + std::string(90, 'k');
  const std::string text = "a text of some sixty columns, cut when the keys are long";
  Db({"ingest", "docs",
      WriteFile("docs.jsonl", Line(huge, {1, 0, 0}, text) + Line("short", {0, 1, 0}, text))});
  const std::vector<std::string> table =
      SplitLines(Db({"query", "docs", "--vector", "[1, 0, 0]"}).out);
  BOOST_TEST_REQUIRE(table.size() == 3u);
  for (const auto& key : {huge, std::string("short")}) {
    const std::string* row = RowOf(table, key);
    BOOST_TEST_REQUIRE(row != nullptr, key);
    const size_t text_at = ColumnOf(*row, "a text");
    const size_t metadata_at = ColumnOf(*row, "{\"len\"");
    BOOST_TEST(text_at == ColumnOf(table[0], "text"), *row);
    BOOST_TEST(metadata_at == ColumnOf(table[0], "metadata"), *row);
    BOOST_TEST(metadata_at - text_at >= 10u, *row);  // some of the text is still shown
    BOOST_TEST(row->find(text) == std::string::npos, *row);
    BOOST_TEST(row->find("...  {") != std::string::npos, *row);
  }
}

BOOST_AUTO_TEST_CASE(ListAndStatsPrintLongCollectionNamesWholeAndAligned) {
  Db({"--create", "list"});
  std::vector<std::string> names = kLongNames;
  names.push_back("c");
  for (const auto& name : names) Db({"create", name, "--dim", "2"});
  const std::vector<std::string> list = SplitLines(Db({"list"}).out);
  BOOST_TEST_REQUIRE(list.size() == names.size() + 1);
  for (const auto& name : names) {
    const std::string* row = RowOf(list, name);
    BOOST_TEST_REQUIRE(row != nullptr, name);
    BOOST_TEST(ColumnOf(*row, name) == 0u, *row);
    BOOST_TEST(ColumnOf(*row, "cosine") == ColumnOf(list[0], "metric"), *row);
    BOOST_TEST(ColumnOf(*row, "Flat") == ColumnOf(list[0], "index"), *row);
  }
  const std::vector<std::string> stats = SplitLines(Db({"stats"}).out);
  BOOST_TEST_REQUIRE(stats.size() >= 2u);
  const std::vector<std::string> table(stats.begin() + 1, stats.end());  // below the sizes
  for (const auto& name : names) {
    const std::string* row = RowOf(table, name);
    BOOST_TEST_REQUIRE(row != nullptr, name);
    BOOST_TEST(ColumnOf(*row, name) == 0u, *row);
    BOOST_TEST(ColumnOf(*row, "Flat") == ColumnOf(table[0], "index"), *row);
    BOOST_TEST(ColumnOf(*row, "defaults") == ColumnOf(table[0], "knobs"), *row);
  }
}

BOOST_AUTO_TEST_CASE(ModelListAndEvalPrintLongNamesWholeAndAligned) {
  const auto vec = WriteFile("m.vec", "4 2\nman 1 0\nwoman 0 1\nking 1 0.1\nqueen 0.1 1\n");
  Db({"--create", "list"});
  std::vector<std::string> models = kLongNames;
  models.push_back("m");
  for (const auto& name : models) Db({"model", "import", vec, "--name", name});
  const std::vector<std::string> list = SplitLines(Db({"model", "list"}).out);
  BOOST_TEST_REQUIRE(list.size() == models.size() + 1);
  for (const auto& name : models) {
    const std::string* row = RowOf(list, name);
    BOOST_TEST_REQUIRE(row != nullptr, name);
    BOOST_TEST(ColumnOf(*row, "word2vec-text") == ColumnOf(list[0], "format"), *row);
  }
  // Analogy sections: named by the file, whole; every line ends in the same column.
  std::string questions;
  for (const auto& name : kLongNames) questions += ": " + name + "\nman king woman queen\n";
  const std::vector<std::string> eval =
      SplitLines(Db({"eval", "analogy", "m", WriteFile("q.txt", questions)}).out);
  BOOST_TEST_REQUIRE(eval.size() == kLongNames.size() + 2);  // a header and a total
  for (const auto& name : kLongNames) BOOST_TEST(RowOf(eval, name) != nullptr, name);
  for (const auto& line : eval) BOOST_TEST(Columns(line) == Columns(eval[0]), line);
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

// Runs the real `relate` binary; returns its pid.
pid_t Spawn(const std::vector<std::string>& args, const std::string& log) {
  pid_t pid = ::fork();
  if (pid == 0) {
    FILE* f = std::freopen(log.c_str(), "w", stderr);
    (void)f;
    std::freopen("/dev/null", "w", stdout);
    std::vector<char*> argv{const_cast<char*>(RELATE_CLI_PATH)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(RELATE_CLI_PATH, argv.data());
    ::_exit(127);
  }
  return pid;
}

int Wait(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(CrashTest, CliFixture)

// kill -9 of `relate ingest` at a random moment, several times over the same
// database: every record is wholly present (storage and index) or wholly absent,
// and `relate verify` passes.
BOOST_AUTO_TEST_CASE(KillDuringIngestLeavesEachRecordWholeOrAbsent) {
  const size_t n = 60000, dim = 48;
  Db({"--create", "create", "docs", "--dim", std::to_string(dim)});
  const auto vectors = testutil::RandomVectors(n, dim, 77);
  {
    std::ofstream out(dir.path() / "big.jsonl");
    for (size_t i = 0; i < n; ++i) {
      out << Line("k" + std::to_string(i),
                  std::vector<float>(vectors.begin() + static_cast<ptrdiff_t>(i * dim),
                                     vectors.begin() + static_cast<ptrdiff_t>((i + 1) * dim)),
                  "text " + std::to_string(i));
    }
  }
  const auto seed =
      static_cast<uint32_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  BOOST_TEST_MESSAGE("kill schedule seed " << seed);
  std::mt19937 rng(seed);
  const std::string log = (dir.path() / "ingest.log").string();
  int killed = 0;
  for (int round = 0; round < 6; ++round) {
    pid_t pid = Spawn(
        {"--db", db, "ingest", "docs", (dir.path() / "big.jsonl").string(), "--batch", "250"}, log);
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::uniform_int_distribution<int>(20, 700)(rng)));
    ::kill(pid, SIGKILL);
    int code = Wait(pid);
    killed += code == 128 + SIGKILL;
    BOOST_TEST((code == 128 + SIGKILL || code == 0),
               "round " << round << " exit " << code << ": " << ReadAll(log));

    auto opened = DB::Open(db, {.log = [](std::string_view) {}});
    BOOST_TEST_REQUIRE(opened.has_value(), opened.error().ToString());
    auto& d = **opened;
    size_t present = 0;
    for (size_t i = 0; i < n; ++i) {
      auto r = d.Get("docs", "k" + std::to_string(i));
      if (!r) {
        BOOST_TEST_REQUIRE(r.error().code() == Status::Code::kNotFound);
        continue;
      }
      ++present;
      BOOST_TEST_REQUIRE(r->text == "text " + std::to_string(i));
      BOOST_TEST_REQUIRE(r->vector.size() == dim);
      BOOST_TEST_REQUIRE(std::equal(r->vector.begin(), r->vector.end(),
                                    vectors.begin() + static_cast<ptrdiff_t>(i * dim)));
    }
    BOOST_TEST(d.Count("docs").value() == present);
    auto report = d.Verify("docs").value();
    BOOST_TEST(report.ok(), (report.problems.empty() ? "" : report.problems[0]));
    BOOST_TEST(report.indexed == present);
    // Records ingest in file order in whole batches: what is present is a prefix.
    BOOST_TEST(present % 250 == 0u);
    if (present > 0) {
      BOOST_TEST(d.Get("docs", "k" + std::to_string(present - 1)).has_value());
    }
    BOOST_TEST_MESSAGE("round " << round << ": " << present << " records present after kill");
  }
  BOOST_TEST(killed > 0);  // at least one kill landed mid-ingest
  pid_t verify = Spawn({"--db", db, "verify"}, log);
  BOOST_TEST(Wait(verify) == 0, ReadAll(log));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(InUseTest, CliFixture)

BOOST_AUTO_TEST_CASE(SecondProcessWritingGetsAClearInUseError) {
  auto holder = DB::Open(db, {.create_if_missing = true}).value();
  BOOST_TEST(holder->CreateCollection({.name = "c", .dimension = 2}).ok());
  const std::string log = (dir.path() / "cli.log").string();
  BOOST_TEST(Wait(Spawn({"--db", db, "create", "d", "--dim", "2"}, log)) == tools::kExitInUse);
  const std::string by_pid = "is in use by pid " + std::to_string(::getpid()) + ",";
  BOOST_TEST(ReadAll(log).find(by_pid) != std::string::npos, ReadAll(log));
  // Reading commands share the database with the writer.
  BOOST_TEST(Wait(Spawn({"--db", db, "list"}, log)) == 0, ReadAll(log));
}

// `relate query` and `relate stats` answer while `relate ingest` writes in
// another process, seeing more records as it goes; a second writer meanwhile
// is told the ingesting process's pid.
BOOST_AUTO_TEST_CASE(ReadersQueryWhileAnotherProcessIngests) {
  Db({"--create", "create", "docs", "--dim", "8", "--index", "HNSW16"});
  constexpr size_t kLines = 40000;
  const auto file = WriteFile("big.jsonl", Lines(kLines, 8, 5));
  const json first = json::parse(Lines(1, 8, 5))["vector"];
  const std::string log = (dir.path() / "ingest.log").string();
  const pid_t ingest = Spawn({"--db", db, "ingest", "docs", file, "--batch", "100"}, log);
  const std::string by_pid = "is in use by pid " + std::to_string(ingest) + ",";
  // Until the ingest holds the database, this process's own attempts to write
  // below could take it first and make the ingest fail (seen under ASan, where
  // the child starts slowly): wait for its pid in the lock file.
  for (int i = 0; i < 1200; ++i) {
    std::ifstream lock(dir.path() / "db" / "WRITER");
    long holder = 0;
    if (lock >> holder && holder == static_cast<long>(ingest)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::set<uint64_t> counts;
  size_t queries = 0, refused_writers = 0;
  int status = 0;
  while (::waitpid(ingest, &status, WNOHANG) == 0) {
    Outcome stats = Db({"--json", "stats"});
    const uint64_t count = json::parse(stats.out)["collections"][0]["records"].get<uint64_t>();
    BOOST_TEST(count <= kLines);
    counts.insert(count);
    if (count > 0) {
      Outcome q = Db({"--json", "query", "docs", "--vector", first.dump(), "-k", "3"});
      BOOST_TEST(json::parse(q.out)[0]["key"] == "k0", q.out);
      ++queries;
    }
    const std::string backup = (dir.path() / "backup").string();
    if (count > 0 && !std::filesystem::exists(backup)) Db({"backup", backup});
    Outcome w = Run({"--db", db, "create", "other", "--dim", "2"});
    if (w.code == tools::kExitInUse) {
      ++refused_writers;
      BOOST_TEST(w.err.find(by_pid) != std::string::npos, w.err);
    }
  }
  BOOST_TEST(WIFEXITED(status));
  BOOST_TEST(WEXITSTATUS(status) == 0, ReadAll(log));
  // The readers saw the ingest in progress, not only before and after.
  size_t in_between = 0;
  for (uint64_t c : counts) in_between += c > 0 && c < kLines;
  BOOST_TEST(in_between >= 2u, "counts seen: " << counts.size());
  BOOST_TEST(queries >= 2u);
  BOOST_TEST(refused_writers >= 1u);
  BOOST_TEST(CountOf(db, "docs") == kLines);
  Db({"verify"});
  // The backup taken mid-ingest restores to a whole database holding a prefix of the file.
  const std::string restored = (dir.path() / "restored").string();
  BOOST_TEST_REQUIRE(std::filesystem::exists(dir.path() / "backup"));
  BOOST_TEST(Run({"--db", restored, "restore", (dir.path() / "backup").string()}).code == 0);
  const uint64_t backed_up = CountOf(restored, "docs");
  BOOST_TEST(backed_up > 0u);
  BOOST_TEST(backed_up <= kLines);
  BOOST_TEST(backed_up % 100 == 0u);  // whole batches of --batch 100
  BOOST_TEST(Run({"--db", restored, "verify"}).code == 0);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(InterruptTest, CliFixture)

// Ctrl-C during `relate model train`: exit 130 with a checkpoint and the
// command that resumes; --resume then finishes the model.
BOOST_AUTO_TEST_CASE(CtrlCStopsTrainingCleanlyAndResumeFinishesIt) {
  const auto corpus = WriteFile("topics.txt", testutil::TopicText(30000, 3));
  Db({"--create", "list"});
  const std::string log = (dir.path() / "train.log").string();
  const std::vector<std::string> args{
      "--db",  db,   "model",    "train", "--name",      "topics", "--corpus",  corpus,
      "--dim", "32", "--epochs", "20",    "--min-count", "1",      "--threads", "1"};
  pid_t pid = Spawn(args, log);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  ::kill(pid, SIGINT);
  BOOST_TEST_REQUIRE(Wait(pid) == tools::kExitInterrupted, ReadAll(log));
  BOOST_TEST(ReadAll(log).find("--resume") != std::string::npos, ReadAll(log));
  Db({"model", "describe", "topics"}, tools::kExitNotFound);
  std::vector<std::string> resume = args;
  resume.push_back("--resume");
  BOOST_TEST(Wait(Spawn(resume, log)) == 0, ReadAll(log));
  Outcome described = Db({"--json", "model", "describe", "topics"});
  BOOST_TEST(json::parse(described.out)["words"] == 300, described.out);
}

BOOST_AUTO_TEST_SUITE_END()
