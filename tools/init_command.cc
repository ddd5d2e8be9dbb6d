// strongroom init / passwd: create a vault, change its passphrase.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <iostream>

#include "acl/audit_log.h"
#include "acl/policy.h"
#include "acl/store.h"
#include "crypto/audit_chain.h"
#include "crypto/names.h"
#include "fs/vault_layout.h"
#include "fs/viewer_program.h"
#include "tools/cli_error.h"
#include "tools/control_client.h"
#include "tools/mounts.h"
#include "tools/commands.h"
#include "tools/vault_files.h"

namespace strongroom::tools {
namespace {

namespace stdfs = std::filesystem;

// Removes what a failed init created, so a failed init changes nothing.
class InitRollback {
 public:
  explicit InitRollback(std::string dir, bool created_dir) : dir_(std::move(dir)), created_dir_(created_dir) {}
  ~InitRollback() {
    if (committed_) return;
    std::error_code ec;
    if (created_dir_) {
      stdfs::remove_all(dir_, ec);
    } else {
      for (const auto& e : stdfs::directory_iterator(dir_, ec)) stdfs::remove_all(e.path(), ec);
    }
  }
  void Commit() { committed_ = true; }

 private:
  std::string dir_;
  bool created_dir_;
  bool committed_ = false;
};


}  // namespace

void RunInit(const InitOptions& opts) {
  if (opts.admin.empty()) Fail(kUsage, "--admin NAME is required: the vault's first admin");
  if (opts.admin.size() > 64 || opts.admin[0] == '@' ||
      std::any_of(opts.admin.begin(), opts.admin.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u < 0x20 || u == 0x7f;
      })) {
    Fail(kUsage, "an admin name is 1 to 64 bytes, without control characters or a leading @");
  }
  // The first admin's uid: --uid, else whoever ran sudo, else the caller.
  long long admin_uid = opts.admin_uid;
  if (admin_uid < 0) {
    const char* sudo_uid = std::getenv("SUDO_UID");
    admin_uid = sudo_uid != nullptr ? std::atoll(sudo_uid) : static_cast<long long>(::getuid());
  }
  if (admin_uid < 0 || admin_uid > 0xfffffffeLL) Fail(kUsage, "--uid out of range");
  // The viewer group (view-only mode): checked, and made if missing, before
  // anything of the vault is.
  const std::string viewer_group_name = opts.viewer_group.empty() ? fs::kDefaultViewerGroup : opts.viewer_group;
  if (!fs::ValidGroupName(viewer_group_name)) {
    Fail(kUsage, "--viewer-group: a group name is 1 to 32 letters, digits, '_', '-' or '.', not starting with '-'");
  }
  Result<acl::ViewerGroup> viewer_group = fs::ResolveViewerGroup(viewer_group_name, true);
  if (!viewer_group.ok()) Fail(viewer_group.status());
  crypto::ScryptParams params;
  params.log_n = opts.scrypt_log_n;
  if (!crypto::ScryptParamsInBounds(params) || params.log_n > 20) {
    Fail(kUsage, "--scrypt-logn must be between 10 and 20");
  }
  std::error_code ec;
  const stdfs::path dir = stdfs::absolute(opts.vault, ec);
  if (ec) Fail(kUsage, "invalid vault path " + opts.vault);
  bool created = false;
  struct stat st;
  if (::lstat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) Fail(kConflict, opts.vault + " exists and is not a directory");
    if (!stdfs::is_empty(dir, ec) || ec) Fail(kConflict, opts.vault + " is not empty");
  } else {
    if (!stdfs::exists(dir.parent_path())) Fail(kNotFound, "parent directory of " + opts.vault + " not found");
    if (::mkdir(dir.c_str(), 0700) != 0) Fail(kInternal, "cannot create " + opts.vault + ": " + std::strerror(errno));
    created = true;
  }
  InitRollback rollback(dir.string(), created);
  // Where the audit database goes; it must not exist yet.
  std::string audit_db;
  if (!opts.audit_db.empty()) {
    audit_db = stdfs::absolute(opts.audit_db, ec).lexically_normal().string();
    struct stat ast;
    if (ec || ::lstat(audit_db.c_str(), &ast) == 0) Fail(kConflict, "--audit-db " + opts.audit_db + " already exists");
    if (!stdfs::is_directory(stdfs::path(audit_db).parent_path(), ec)) {
      Fail(kNotFound, "the directory of --audit-db " + opts.audit_db + " does not exist");
    }
  }
  // The auditors' key file is created first, so a bad path fails before
  // anything is made.
  int key_fd = -1;
  if (!opts.audit_key_out.empty()) {
    key_fd = ::open(opts.audit_key_out.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (key_fd < 0) Fail(kConflict, "cannot create --audit-key-out " + opts.audit_key_out + ": " + std::strerror(errno));
  }
  struct KeyFileGuard {
    int& fd;
    const std::string& path;
    bool keep = false;
    ~KeyFileGuard() {
      if (fd >= 0) ::close(fd);
      if (!keep && !path.empty()) ::unlink(path.c_str());
    }
  } key_guard{key_fd, opts.audit_key_out};
  if (::chmod(dir.c_str(), 0700) != 0) Fail(kInternal, "cannot set mode 0700 on " + opts.vault);

  std::string pass = ReadPassphrase(opts.passfile, "New passphrase", true);
  crypto::VaultKeys keys;
  const crypto::VaultConfig config = crypto::VaultConfig::Create(pass, params, &keys);
  crypto::Wipe(pass.data(), pass.size());
  const VaultPaths paths{stdfs::weakly_canonical(dir).string()};

  // The root directory: its ID file and its row (a root has no parent).
  if (::mkdir(paths.tree().c_str(), 0700) != 0) Fail(kInternal, "cannot create " + paths.tree());
  acl::ObjectRow root;
  crypto::RandomBytes(root.id);
  root.kind = acl::ObjectKind::kDirectory;
  root.mac = fs::ObjectRowMac(keys.rows, root);
  {
    const std::string idfile = paths.tree() + "/.dirid";
    const int fd = ::open(idfile.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0400);
    if (fd < 0 || ::write(fd, root.id.data(), root.id.size()) != static_cast<ssize_t>(root.id.size()) ||
        ::fsync(fd) != 0) {
      Fail(kInternal, "cannot write " + idfile);
    }
    ::close(fd);
    const int tree_fd = ::open(paths.tree().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (tree_fd < 0 || ::fsync(tree_fd) != 0) Fail(kInternal, "cannot sync " + paths.tree());
    ::close(tree_fd);
  }
  {
    const crypto::SecretKey text_key = PolicyTextKey(keys);
    Result<std::unique_ptr<acl::Store>> store = acl::CreateSqliteStore(paths.store(), config.vault_id(), &text_key);
    if (!store.ok()) Fail(store.status());
    (*store)->policy().SetSealer(fs::PolicySealerFor(keys.rows));
    Status inserted = (*store)->InsertObject(root);
    if (inserted.ok()) {
      acl::User admin;
      admin.uid = static_cast<acl::Uid>(admin_uid);
      admin.name = opts.admin;
      admin.role = acl::Role::kAdmin;
      admin.clearance = acl::kMaxLevel;
      admin.created_at = static_cast<acl::Time>(::time(nullptr));
      inserted = (*store)->policy().AddUser(admin);
    }
    if (inserted.ok()) inserted = (*store)->policy().SetViewerGroup(*viewer_group);
    if (inserted.ok() && !audit_db.empty()) inserted = (*store)->SetMeta("audit_db", audit_db);
    if (inserted.ok()) inserted = (*store)->SyncDurable();
    if (!inserted.ok()) Fail(inserted);
  }
  // The audit log, its first record MACed with the auditors' initial key,
  // which is shown once and never stored in the vault.
  const std::string audit_path = audit_db.empty() ? paths.audit() : audit_db;
  const crypto::SecretKey initial_audit_key = crypto::SecretKey::Random(crypto::audit::kKeySize);
  {
    acl::AuditEntry first;
    first.uid = static_cast<uint32_t>(admin_uid);
    first.pid = ::getpid();
    first.op = "init";
    first.user = opts.admin;
    first.path = "/";
    first.reason = "vault created; first admin " + opts.admin;
    Status created_log = acl::CreateAuditLog(audit_path, config.vault_id(), acl::AuditKeys::From(keys.audit),
                                             initial_audit_key, first);
    if (!created_log.ok()) {
      for (const char* suffix : {"", "-wal", "-shm"}) ::unlink((audit_path + suffix).c_str());
      Fail(created_log);
    }
  }
  const std::string audit_key_hex = crypto::HexEncode(initial_audit_key.span());
  if (key_fd >= 0) {
    const std::string line = audit_key_hex + "\n";
    if (::write(key_fd, line.data(), line.size()) != static_cast<ssize_t>(line.size()) || ::fsync(key_fd) != 0) {
      if (!audit_db.empty()) {
        for (const char* suffix : {"", "-wal", "-shm"}) ::unlink((audit_path + suffix).c_str());
      }
      Fail(kInternal, "cannot write --audit-key-out " + opts.audit_key_out);
    }
  }
  const int lock_fd = ::open(paths.lock().c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (lock_fd < 0) Fail(kInternal, "cannot create " + paths.lock());
  ::close(lock_fd);
  SaveConfig(paths.config(), config);
  rollback.Commit();
  key_guard.keep = true;
  std::cout << "Created vault " << paths.dir << " (vault ID " << config.vault_id() << ")\n"
            << "First admin: " << opts.admin << " (uid " << admin_uid << ")\n"
            << "Audit log: " << audit_path << "\n"
            << "Viewer group: " << viewer_group->name << " (gid " << viewer_group->gid
            << "; viewer programs are installed setgid to it, see strongroom viewer add)\n"
            << "Auditors' initial audit key (shown once, never stored in the vault; give it to the auditors):\n  "
            << audit_key_hex << "\n";
  if (!opts.audit_key_out.empty()) std::cout << "  (also written to " << opts.audit_key_out << ")\n";
  std::cout << "Keep the passphrase safe: without it the vault cannot be opened.\n";
}

void RunPasswd(const PasswdOptions& opts) {
  const VaultPaths paths = FindVault(opts.vault);
  // Both passphrases are asked for before the config lock is taken: a
  // person at a prompt holds up no mount and no other change of keys.
  crypto::VaultConfig config = LoadConfig(paths);
  std::string old_pass = ReadPassphrase(opts.passfile, "Current passphrase", false);
  std::string new_pass;
  // Both passphrases are wiped however this returns (errors throw).
  struct WipeOnExit {
    std::string& a;
    std::string& b;
    ~WipeOnExit() {
      crypto::Wipe(a.data(), a.size());
      crypto::Wipe(b.data(), b.size());
    }
  } wipe{old_pass, new_pass};
  if (!opts.passfile.empty() && opts.new_passfile.empty()) {
    Fail(kUsage, "--passfile needs --new-passfile for the new passphrase");
  }
  // Check the old passphrase before asking for the new one.
  Result<crypto::VaultKeys> keys = config.Unlock(old_pass);
  if (!keys.ok()) Fail(keys.status());
  new_pass = ReadPassphrase(opts.new_passfile, "New passphrase", true);
  ConfigLock lock(paths);
  FinishPendingRekey(paths);
  // The config as it is now (another change may have come meanwhile): the
  // old passphrase must still open it.
  config = LoadConfig(paths);
  Status st = config.ChangePassphrase(old_pass, new_pass, config.scrypt());
  if (!st.ok()) Fail(st);
  RecordKeyChange(paths, config.vault_id(), *keys, "passwd", "passphrase changed (the master key was re-wrapped)");
  SaveConfig(paths.config(), config);
  std::cout << "Passphrase changed for " << paths.dir << "\n";
}

}  // namespace strongroom::tools
