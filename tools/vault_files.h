// Locating and reading a vault's files from the command line.
#pragma once

#include <string>

#include "crypto/primitives.h"
#include "crypto/vault_config.h"

namespace strongroom::tools {

struct VaultPaths {
  std::string dir;  // absolute
  std::string config() const { return dir + "/strongroom.conf"; }
  std::string store() const { return dir + "/strongroom.db"; }
  std::string lock() const { return dir + "/strongroom.lock"; }
  std::string tree() const { return dir + "/tree"; }
  // The audit database's default place (init --audit-db may put it elsewhere:
  // the policy store's meta key "audit_db" then names it).
  std::string audit() const { return dir + "/strongroom-audit.db"; }
};

// Resolves VAULT to an absolute path; fails (kNotFound) when it is missing
// or holds no config.
VaultPaths FindVault(const std::string& vault);
// Reads and parses the config (kIntegrity when corrupt).
crypto::VaultConfig LoadConfig(const VaultPaths& paths);
// Replaces the config atomically and durably (temp file, fsync, rename, fsync dir).
void SaveConfig(const std::string& path, const crypto::VaultConfig& config);

// The key that seals names and reasons in the policy store (AES-256-SIV).
inline crypto::SecretKey PolicyTextKey(const crypto::VaultKeys& keys) {
  return crypto::Hkdf(keys.names, "strongroom/v1/policy-text", 64);
}

// Serialises config changes (keyslot, passwd, rekey) on one vault: a lock
// on the vault directory itself, held while the command reads, checks and
// replaces the config. keyslot and passwd ask for passphrases before taking
// it; rekey asks under it (it needs the config to know which slots to ask
// for, and holds the vault's lock anyway: nothing mounts meanwhile).
class ConfigLock {
 public:
  explicit ConfigLock(const VaultPaths& paths);
  ~ConfigLock();
  ConfigLock(const ConfigLock&) = delete;
  ConfigLock& operator=(const ConfigLock&) = delete;

 private:
  int fd_ = -1;
};

// Finishes (or drops) a rekey a crash cut short; true when there was one.
// The caller holds the vault's lock (strongroom.lock) or its config lock.
bool FinishPendingRekey(const VaultPaths& paths);

// Records a change of keys (passwd, keyslot, rekey) in the audit log:
// through the daemon when mounted, else directly. Fails when it cannot.
void RecordKeyChange(const VaultPaths& paths, const std::string& vault_id, const crypto::VaultKeys& keys,
                     const std::string& op, const std::string& reason);

// Unlocks with the key file when one is given, else with the passphrase
// (from `passfile`, or asked on the terminal). Fails like the lower layers
// (kWrongPassphrase, ...); both given is a usage error.
crypto::VaultKeys UnlockVault(const crypto::VaultConfig& config, const std::string& passfile,
                              const std::string& key_file);

// Refuses (exit 4, closing `fd`) a regular file holding a secret that is
// not the caller's alone: another owner, or any group/other permission.
void CheckSecretFileOwnership(int fd, const std::string& path, const std::string& what);

// A key file's bytes (32 bytes to 64 KiB), to be wiped by the caller.
std::string ReadKeyFile(const std::string& path);

// The passphrase: the first line of `passfile`, or asked on the terminal
// (twice when `confirm`). Fails with kUsage when neither is possible.
std::string ReadPassphrase(const std::string& passfile, const std::string& prompt, bool confirm);

// fsyncs the directory `dir` (its new or renamed entries), ignoring errors.
void SyncDir(const std::string& dir);

}  // namespace strongroom::tools
