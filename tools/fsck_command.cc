// strongroom fsck / status.
//
// fsck checks a vault (fs/vault_check.h): an unmounted one here, holding
// the vault's lock and unlocking the keys with the passphrase; a mounted one
// through its daemon (control command "fsck"), which keeps off files being
// written. status lists the mounted vaults and asks each daemon for its
// counts (control command "status").
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "acl/audit_log.h"
#include "acl/store.h"
#include "fs/unique_fd.h"
#include "fs/vault_check.h"
#include "fs/vault_layout.h"
#include "tools/cli_error.h"
#include "tools/commands.h"
#include "tools/control_client.h"
#include "tools/mounts.h"
#include "tools/terminal_text.h"
#include "tools/vault_files.h"

namespace strongroom::tools {
namespace {

using nlohmann::json;
namespace stdfs = std::filesystem;

// The strongroom mountpoint `arg` names, if it is one.
std::optional<std::string> StrongroomMountpoint(const std::string& arg) {
  std::error_code ec;
  std::string mp = stdfs::absolute(arg, ec).lexically_normal().string();
  if (mp.size() > 1 && mp.back() == '/') mp.pop_back();
  for (const std::string& candidate : {mp, stdfs::weakly_canonical(mp, ec).string()}) {
    if (auto m = FindMount(candidate); m && m->fstype == kStrongroomFsType) return m->mountpoint;
  }
  return std::nullopt;
}

std::string LocalTime(int64_t t) {
  const time_t tt = static_cast<time_t>(t);
  struct tm tm {};
  ::localtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S%z", &tm);
  return buf;
}

uint64_t U(const json& j, const char* key) { return j.contains(key) && j[key].is_number() ? j[key].get<uint64_t>() : 0; }
std::string S(const json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
}

// The human-readable summary of a report (CheckReportJson's form).
void PrintReport(const json& r, const std::string& what) {
  std::ostringstream out;
  out << "Checked " << EscapeForTerminal(what) << "\n";
  out << "  objects:  " << U(r, "objects") << " (" << U(r, "files") << " files, " << U(r, "dirs") << " folders, "
      << U(r, "symlinks") << " symlinks; " << U(r, "rows") << " rows in the policy store)\n";
  out << "  blocks:   " << U(r, "blocks") << " authenticated (" << HumanBytes(static_cast<double>(U(r, "bytes"))) << ")\n";
  auto list = [&](const char* kind, const std::string& title) {
    size_t n = 0;
    for (const json& f : r["findings"]) n += S(f, "kind") == kind;
    out << "  " << title << n << "\n";
    for (const json& f : r["findings"]) {
      if (S(f, "kind") != kind) continue;
      out << "    " << EscapeForTerminal(S(f, "path")) << ": " << EscapeForTerminal(S(f, "reason")) << "\n";
    }
  };
  list("damaged", "damaged:  ");
  list("name", "name errors: ");
  list("skipped", "skipped:  ");
  out << "  orphaned rows: " << r["orphans"].size();
  if (U(r, "orphans_removed") > 0) out << " (" << U(r, "orphans_removed") << " removed)";
  out << "\n";
  for (const json& o : r["orphans"]) {
    out << "    " << S(o, "kind") << " " << S(o, "id") << (o.value("has_key", false) ? " (holds a data key)" : "");
    if (!S(o, "state").empty()) out << " [" << S(o, "state") << "]";
    out << "\n";
  }
  if (!r["pending"].empty()) {
    out << "  pending rows (the next mount's recovery settles them): " << r["pending"].size() << "\n";
    for (const json& o : r["pending"]) out << "    " << S(o, "kind") << " " << S(o, "id") << " [" << S(o, "state") << "]\n";
  }
  if (U(r, "unaccounted") > 0) {
    out << "  unreadable entries: " << U(r, "unaccounted") << " (orphaned rows may belong to them)\n";
  }
  const json& a = r["audit"];
  if (a.is_null()) {
    out << "  audit log: not checked\n";
  } else if (a.value("ok", false)) {
    out << "  audit log: ok (" << U(a, "records") << " records in " << U(a, "epochs")
        << " epochs; numbering and structure only: `strongroom audit verify --key FILE` checks the MACs)\n";
  } else {
    out << "  audit log: " << EscapeForTerminal(S(a, "problem")) << "\n";
  }
  out << (r.value("clean", false) ? "The vault is clean.\n" : "Damage found.\n");
  std::cout << out.str() << std::flush;
}

void Finish(const json& report, const FsckOptions& opts, const std::string& what) {
  if (opts.json_output) {
    std::cout << report.dump(2, ' ', true, json::error_handler_t::replace) << "\n" << std::flush;
  } else {
    PrintReport(report, what);
  }
  if (!report.value("clean", false)) {
    const bool audit_bad = report["audit"].is_object() && !report["audit"].value("ok", true);
    const uint64_t problems = U(report, "damaged") + U(report, "name_errors") + report["orphans"].size() -
                              U(report, "orphans_removed") + (audit_bad ? 1 : 0);
    Fail(kIntegrity, "the vault is damaged (problems found: " + std::to_string(problems) + ")");
  }
}

// Progress on one terminal line, at most ten times a second.
class Progress {
 public:
  Progress() : tty_(::isatty(STDERR_FILENO) == 1) {}
  ~Progress() { Clear(); }
  void Update(uint64_t done, uint64_t total) {
    if (!tty_) return;
    const auto now = std::chrono::steady_clock::now();
    if (shown_ && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    shown_ = true;
    std::cerr << "\rfsck: " << done << " / " << total << " objects checked" << std::flush;
  }
  void Clear() {
    if (tty_ && shown_) std::cerr << "\r\033[K" << std::flush;
    shown_ = false;
  }

 private:
  bool tty_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point last_;
};

void FsckMounted(const std::string& mountpoint, const FsckOptions& opts) {
  if (opts.repair_orphans) Fail(kUsage, "--repair-orphans works on an unmounted vault only");
  if (::isatty(STDERR_FILENO) == 1) std::cerr << "fsck: the daemon of " << EscapeForTerminal(mountpoint) << " is checking..." << std::flush;
  json report;
  try {
    report = CallDaemonSlow(mountpoint, {{"cmd", "fsck"}}, -1);
  } catch (...) {
    if (::isatty(STDERR_FILENO) == 1) std::cerr << "\r\033[K" << std::flush;
    throw;
  }
  if (::isatty(STDERR_FILENO) == 1) std::cerr << "\r\033[K" << std::flush;
  Finish(report, opts, mountpoint + " (mounted; checked by its daemon)");
}

}  // namespace

void RunFsck(const FsckOptions& opts) {
  if (auto mp = StrongroomMountpoint(opts.target)) return FsckMounted(*mp, opts);
  const VaultPaths paths = FindVault(opts.target);

  // The lock, as mount takes it: held means a daemon serves the vault.
  fs::UniqueFd lock(::open(paths.lock().c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC));
  if (!lock.valid()) Fail(kIntegrity, "cannot open the vault lock " + paths.lock() + ": " + std::strerror(errno));
  if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    if (auto m = MountOfVault(paths.dir)) return FsckMounted(m->mountpoint, opts);
    Fail(kConflict, "the vault " + paths.dir + " is in use (mounted where this process cannot see it, or being checked)");
  }
  {
    ConfigLock config_lock(paths);
    FinishPendingRekey(paths);
  }
  const crypto::VaultConfig config = LoadConfig(paths);

  Result<crypto::VaultKeys> keys = UnlockVault(config, opts.passfile, opts.key_file);
  keys->master = crypto::SecretKey();

  const crypto::SecretKey text_key = PolicyTextKey(*keys);
  Result<std::unique_ptr<acl::Store>> store = acl::OpenSqliteStore(paths.store(), config.vault_id(), &text_key);
  if (!store.ok()) Fail(ExitCodeFor(store.status()), "the policy store " + paths.store() + ": " + store.status().message());
  fs::UniqueFd tree(::open(paths.tree().c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!tree.valid()) Fail(kIntegrity, "the vault's tree directory is missing: " + paths.tree());
  std::string audit_path = paths.audit();
  if (Result<std::string> where = (*store)->GetMeta("audit_db"); where.ok() && !where->empty()) audit_path = *where;
  if (Result<std::string> mounted = (*store)->GetMeta("mounted"); mounted.ok() && *mounted == "1") {
    std::cerr << "strongroom: note: the vault was not unmounted cleanly; the next mount's recovery settles "
                 "pending rows\n";
  }

  fs::VaultChecker checker(*keys, **store, tree.get());
  checker.SetAuditDb(audit_path);
  Progress progress;
  checker.SetProgress([&progress](uint64_t done, uint64_t total) { progress.Update(done, total); });
  Result<fs::CheckReport> report = checker.Run();
  progress.Clear();
  if (!report.ok()) Fail(kIntegrity, report.status().message());
  if (opts.repair_orphans && !report->orphans.empty()) {
    // Deleting rows re-seals the policy when grants or labels go with them,
    // and deleting keys is recorded, ahead, like every key event.
    (*store)->policy().SetSealer(fs::PolicySealerFor(keys->rows));
    Result<std::unique_ptr<acl::AuditLog>> audit =
        acl::OpenAuditLog(audit_path, config.vault_id(), acl::AuditKeys::From(keys->audit));
    if (!audit.ok()) Fail(ExitCodeFor(audit.status()), "the audit log " + audit_path + ": " + audit.status().message());
    std::string reason = "removing " + std::to_string(report->orphans.size()) + " orphaned rows:";
    for (const fs::CheckRow& row : report->orphans) reason += " " + row.id;
    Status st = (*audit)->Append(acl::ProcessEntry("fsck.repair", std::move(reason)));
    if (!st.ok()) Fail(kInternal, "cannot write the audit log, so nothing was removed: " + st.message());
    st = checker.RemoveOrphans(&*report);
    (void)(*audit)->Flush();
    if (!st.ok()) Fail(ExitCodeFor(st), "orphaned rows not removed: " + st.message());
  }
  Finish(fs::CheckReportJson(*report), opts, paths.dir + " (unmounted)");
}

void RunStatus(const StatusOptions& opts) {
  json vaults = json::array();
  std::ostringstream text;
  const std::vector<MountEntry> mounts = StrongroomMounts(ReadMountinfo());
  for (const MountEntry& m : mounts) {
    json v = {{"mountpoint", m.mountpoint}};
    v["vault"] = m.source.rfind(kSourcePrefix, 0) == 0 ? json(m.source.substr(std::strlen(kSourcePrefix))) : json(nullptr);
    try {
      json r = CallDaemon(m.mountpoint, {{"cmd", "status"}});
      for (auto it = r.begin(); it != r.end(); ++it) {
        if (it.key() != "mountpoint") v[it.key()] = it.value();
      }
    } catch (const CliError& e) {
      v["error"] = e.what();
    }
    vaults.push_back(v);
  }
  if (opts.json_output) {
    std::cout << json{{"vaults", vaults}}.dump(2, ' ', true, json::error_handler_t::replace) << "\n";
    return;
  }
  if (vaults.empty()) {
    std::cout << "No strongroom vault is mounted.\n";
    return;
  }
  for (const json& v : vaults) {
    std::vector<std::pair<std::string, std::string>> fields;
    fields.emplace_back("Vault", v["vault"].is_string() ? v["vault"].get<std::string>() : "?");
    fields.emplace_back("Mountpoint", S(v, "mountpoint"));
    if (v.contains("error")) {
      fields.emplace_back("Daemon", S(v, "error"));
    } else {
      fields.emplace_back("Daemon pid", std::to_string(U(v, "pid")));
      fields.emplace_back("Users", std::to_string(U(v, "users")));
      fields.emplace_back("Open files", std::to_string(U(v, "open_files")) + " (" + std::to_string(U(v, "open_handles")) +
                                            " handles, " + std::to_string(U(v, "open_for_writing")) +
                                            " for writing)");
      const json& a = v.contains("audit") ? v["audit"] : json(nullptr);
      if (a.is_object()) {
        std::string size = HumanBytes(static_cast<double>(U(a, "total_bytes")));
        if (U(a, "segments") > 0) size += " (" + std::to_string(U(a, "segments")) + " sealed segments)";
        fields.emplace_back("Audit log", size);
        const json& lv = a.contains("last_verified") ? a["last_verified"] : json(nullptr);
        fields.emplace_back("Last verified",
                            lv.is_object() ? LocalTime(lv.value("time", int64_t{0})) + " (" +
                                                 std::to_string(U(lv, "records")) + " records)"
                                           : std::string("never (strongroom audit verify --key FILE)"));
      }
    }
    text << FormatFields(fields);
    if (v.contains("files") && v["files"].is_array() && !v["files"].empty()) {
      std::vector<std::vector<std::string>> rows;
      for (const json& f : v["files"]) {
        rows.push_back({S(f, "path") + (f.value("deleted", false) ? " (deleted)" : ""), std::to_string(U(f, "handles")),
                        std::to_string(U(f, "writers"))});
      }
      text << FormatTable({"OPEN FILE", "HANDLES", "WRITING"}, rows);
    }
    text << "\n";
  }
  std::string out = text.str();
  if (!out.empty() && out.back() == '\n') out.pop_back();
  std::cout << out << std::flush;
}

}  // namespace strongroom::tools
