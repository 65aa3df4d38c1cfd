// Checks, backups and repair: verify, backup, restore, repair.
#include <fmt/format.h>

#include <ostream>

#include "tools/command.h"
#include "tools/files.h"
#include "tools/output.h"

namespace relate::tools {
namespace {

class VerifyCommand : public Command {
 public:
  void AddFlags(CLI::App& sub) override { sub.add_option("collection", collection_); }

  void DoCommand(Context& ctx) override {
    auto db = ctx.OpenDb(false);
    std::ostream& out = ctx.out();
    std::vector<std::string> names;
    bool all_ok = true;
    json storage;  // null unless the whole database is checked
    if (collection_.empty()) {
      // The whole database: every storage file's checksums and every record first.
      StorageReport r = Check(db->CheckStorage());
      all_ok = r.ok();
      if (ctx.json()) {
        storage = {{"ok", r.ok()},
                   {"records", r.records},
                   {"records_lost", r.records_lost},
                   {"damaged_files", r.damaged_files},
                   {"problems", r.problems}};
      } else {
        out << fmt::format("storage: {} (checksums of every file, {} whole records)\n",
                           r.ok() ? "ok" : "DAMAGED", r.records);
        for (const auto& f : r.damaged_files) out << "  damaged: " << f << "\n";
        for (const auto& p : r.problems) out << "  " << p << "\n";
      }
      for (const auto& c : Check(db->ListCollections())) names.push_back(c.spec.name);
    } else {
      names.push_back(collection_);
    }
    json arr = json::array();
    for (const auto& name : names) {
      VerifyReport r = Check(db->Verify(name));
      all_ok = all_ok && r.ok();
      if (ctx.json()) {
        arr.push_back({{"collection", name},
                       {"ok", r.ok()},
                       {"records", r.records},
                       {"indexed", r.indexed},
                       {"vectors_checked", r.vectors_checked},
                       {"problems", r.problems}});
        continue;
      }
      out << fmt::format("{}: {} ({} records, {} indexed, {} vectors compared)\n", name,
                         r.ok() ? "ok" : "PROBLEMS", r.records, r.indexed, r.vectors_checked);
      for (const auto& p : r.problems) out << "  " << p << "\n";
    }
    if (ctx.json()) out << json{{"storage", storage}, {"collections", arr}}.dump() << "\n";
    if (!all_ok) {
      throw Failure{kExitStorage,
                    "verify: the database has problems (listed above); `relate repair` recovers "
                    "what storage still holds, or restore a backup"};
    }
  }

 private:
  std::string collection_;
};

class BackupCommand : public Command {
 public:
  void AddFlags(CLI::App& sub) override {
    sub.add_option("dir", backup_dir_, "New directory for the backup")->required();
  }

  void DoCommand(Context& ctx) override {
    if (InsideDir(backup_dir_, ctx.DbDir())) {
      throw Failure{kExitBadInput, "backup: " + backup_dir_ + " is inside the database directory " +
                                       ctx.DbDir() + "; a backup goes outside it"};
    }
    auto db = ctx.OpenDb(false);  // a reader: backs up while another process writes
    BackupReport r = Check(db->Backup(backup_dir_));
    if (ctx.json()) {
      ctx.out() << json{{"backup", backup_dir_},
                        {"files", r.files},
                        {"bytes", r.bytes},
                        {"linked", r.linked},
                        {"collections", r.collections}}
                       .dump()
                << "\n";
      return;
    }
    ctx.out() << fmt::format("backed up {} collection{} to {}: {} files, {} ({} hard-linked)\n",
                             r.collections, r.collections == 1 ? "" : "s", backup_dir_, r.files,
                             HumanBytes(r.bytes), r.linked);
  }

 private:
  std::string backup_dir_;
};

class RestoreCommand : public Command {
 public:
  void AddFlags(CLI::App& sub) override {
    sub.add_option("backup", backup_dir_, "Directory written by `relate backup`")->required();
  }

  void DoCommand(Context& ctx) override {
    const std::string dir = ctx.DbDir();
    Check(RestoreBackup(backup_dir_, dir));
    if (ctx.json()) {
      ctx.out() << json{{"restored", dir}, {"from", backup_dir_}}.dump() << "\n";
    } else {
      ctx.out() << "restored " << backup_dir_ << " into " << dir << "\n";
    }
  }

 private:
  std::string backup_dir_;
};

class RepairCommand : public Command {
 public:
  void AddFlags(CLI::App&) override {}

  void DoCommand(Context& ctx) override {
    const std::string dir = ctx.DbDir();
    Options options;
    options.log = ctx.LogToErr();
    StorageReport r = Check(DB::Repair(dir, options));
    std::ostream& out = ctx.out();
    if (ctx.json()) {
      out << json{{"records_kept", r.records},
                  {"records_lost", r.records_lost},
                  {"entries_fixed", r.entries_fixed},
                  {"damaged_files", r.damaged_files},
                  {"actions", r.actions},
                  {"set_aside", r.set_aside},
                  {"problems", r.problems}}
                 .dump()
          << "\n";
      return;
    }
    if (r.actions.empty()) {
      out << fmt::format(
          "{}: storage files are whole and were not touched; {} records, {} lost, {} "
          "entries fixed\n",
          dir, r.records, r.records_lost, r.entries_fixed);
    } else {
      out << fmt::format("repaired {}: {} records kept, {} lost, {} entries fixed\n", dir,
                         r.records, r.records_lost, r.entries_fixed);
    }
    for (const auto& f : r.damaged_files) out << "  damaged: " << f << "\n";
    for (const auto& a : r.actions) out << "  done: " << a << "\n";
    if (!r.set_aside.empty()) {
      out << "  the files as they were before repair are in " << r.set_aside
          << " (delete them once the database has what you need)\n";
    }
    for (const auto& p : r.problems) out << "  " << p << "\n";
  }
};

}  // namespace

void AddReliabilityCommands(CLI::App& app, CommandSet& commands) {
  commands.Add<VerifyCommand>(
      app, "verify", "Check storage (checksums, whole records) and that the index agrees with it");
  commands.Add<BackupCommand>(app, "backup",
                              "Write a consistent backup of the database (writes may go on)");
  commands.Add<RestoreCommand>(app, "restore", "Restore a backup as a new database (--db DIR)");
  commands.Add<RepairCommand>(app, "repair",
                              "Recover what damaged storage still holds and rebuild the indexes");
}

}  // namespace relate::tools
