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

// The passphrase: the first line of `passfile`, or asked on the terminal
// (twice when `confirm`). Fails with kUsage when neither is possible.
std::string ReadPassphrase(const std::string& passfile, const std::string& prompt, bool confirm);

}  // namespace strongroom::tools
