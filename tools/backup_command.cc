// strongroom backup VAULT DEST: a consistent copy of a vault, mounted or not.
//
// DEST becomes a vault directory of its own: the config, the policy store
// and the audit log (SQLite online backups), the encrypted tree, and an
// empty lock file. Mounted, the daemon pauses changes while it copies;
// unmounted, this command holds the vault's lock. Either way the config is
// copied under the config lock, so no key change lands half in the copy.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "acl/audit_log.h"
#include "acl/store.h"
#include "fs/unique_fd.h"
#include "fs/vault_backup.h"
#include "tools/cli_error.h"
#include "tools/commands.h"
#include "tools/control_client.h"
#include "tools/mounts.h"
#include "tools/terminal_text.h"
#include "tools/vault_files.h"

namespace strongroom::tools {
namespace {

namespace stdfs = std::filesystem;

bool Inside(const std::string& path, const std::string& dir) {
  return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/');
}

// Removes a partial copy when the backup fails.
class PartialCopy {
 public:
  explicit PartialCopy(std::string dir) : dir_(std::move(dir)) {}
  ~PartialCopy() {
    if (dir_.empty()) return;
    std::error_code ec;
    stdfs::remove_all(dir_, ec);
  }
  void Keep() { dir_.clear(); }

 private:
  std::string dir_;
};

void Check(const Status& st, const std::string& what) {
  if (!st.ok()) Fail(ExitCodeFor(st) == kUsage ? kInternal : ExitCodeFor(st), what + ": " + st.message());
}


}  // namespace

void RunBackup(const BackupOptions& opts) {
  if (::geteuid() != 0) Fail(kRefused, "backup needs root: the copy holds every encrypted file and the policy store");
  const VaultPaths paths = FindVault(opts.vault);
  std::error_code ec;
  const std::string dest = stdfs::absolute(opts.dest, ec).lexically_normal().string();
  if (ec || dest.empty()) Fail(kUsage, "bad destination " + EscapeForTerminal(opts.dest));
  if (::access(dest.c_str(), F_OK) == 0) {
    Fail(kConflict, EscapeForTerminal(dest) + " already exists: a backup goes into a new directory");
  }
  if (Inside(dest, paths.dir)) Fail(kUsage, "the backup cannot go inside the vault it copies");
  std::optional<MountEntry> mount;
  for (const MountEntry& m : StrongroomMounts(ReadMountinfo())) {
    if (Inside(dest, m.mountpoint)) Fail(kUsage, "the backup cannot go inside a mounted vault (it is ciphertext already)");
    if (m.source == kSourcePrefix + paths.dir) mount = m;
  }

  ConfigLock config_lock(paths);
  int vault_lock = -1;
  if (!mount) {
    vault_lock = ::open(paths.lock().c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (vault_lock < 0) Fail(kIntegrity, "cannot open the vault lock " + paths.lock() + ": " + std::strerror(errno));
    if (::flock(vault_lock, LOCK_EX | LOCK_NB) != 0) {
      Fail(kConflict, "the vault " + paths.dir + " is busy (being mounted, or another command holds it)");
    }
    FinishPendingRekey(paths);
  }

  if (::mkdir(dest.c_str(), 0700) != 0) {
    Fail(errno == ENOENT ? kNotFound : kInternal, "cannot create " + EscapeForTerminal(dest) + ": " + std::strerror(errno));
  }
  (void)::chmod(dest.c_str(), 0700);
  PartialCopy partial(dest);
  Check(acl::CopyFileSynced(paths.config(), dest + "/strongroom.conf"), "cannot copy the config");
  {
    const int fd = ::open((dest + "/strongroom.lock").c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) Fail(kInternal, "cannot create the backup's lock file: " + std::string(std::strerror(errno)));
    ::close(fd);
  }

  const auto start = std::chrono::steady_clock::now();
  fs::BackupStats stats;
  if (mount) {
    const nlohmann::json r = CallDaemonSlow(mount->mountpoint, {{"cmd", "backup"}, {"dest", dest}}, -1);
    stats.files = r.value("files", uint64_t{0});
    stats.dirs = r.value("dirs", uint64_t{0});
    stats.symlinks = r.value("symlinks", uint64_t{0});
    stats.bytes = r.value("bytes", uint64_t{0});
  } else {
    std::string audit_path = paths.audit();
    {
      const crypto::VaultConfig config = LoadConfig(paths);
      Result<std::unique_ptr<acl::Store>> store = acl::OpenSqliteStore(paths.store(), config.vault_id(), nullptr);
      if (!store.ok()) Fail(ExitCodeFor(store.status()), "the policy store " + paths.store() + ": " + store.status().message());
      if (Result<std::string> where = (*store)->GetMeta("audit_db"); where.ok() && !where->empty()) audit_path = *where;
    }
    Check(acl::BackupDatabaseFile(paths.store(), dest + "/strongroom.db"), "cannot copy the policy store");
    if (::access(audit_path.c_str(), F_OK) == 0) {
      Check(acl::BackupAuditLogFiles(audit_path, dest), "cannot copy the audit log");
    }
    fs::UniqueFd tree(::open(paths.tree().c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!tree.valid()) Fail(kIntegrity, "the vault's tree directory is missing: " + paths.tree());
    Check(fs::CopyBackingTree(tree.get(), dest + "/tree", &stats), "cannot copy the encrypted tree");
  }
  SyncDir(dest);
  SyncDir(stdfs::path(dest).parent_path().string());
  partial.Keep();
  if (vault_lock >= 0) ::close(vault_lock);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "Backed up " << paths.dir << " to " << EscapeForTerminal(dest) << ": " << stats.files << " files, "
            << stats.dirs << " folders, " << stats.symlinks << " links, " << HumanBytes(static_cast<double>(stats.bytes)) << " of ciphertext";
  if (mount) std::cout << " (changes were paused for " << static_cast<int>(seconds * 1000) << " ms)";
  std::cout << "\nThe copy opens with the vault's passphrases and key files as they are now; keep it as safe as "
               "the vault (docs/backup.md says how to restore).\n";
}

}  // namespace strongroom::tools
