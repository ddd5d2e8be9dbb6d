// The vault's config file and key hierarchy.
//
//   passphrase --scrypt(salt, N, r, p)--> KEK --AES-256-GCM wrap--> master key
//   master key --wrap--> independent random subkeys: names, files, audit, certificates
//   subkeys --HKDF-SHA256(label)--> anything derived (e.g. the place-binding key)
//
// The master key's wrap takes the canonical serialisation of every other
// config field as associated data, so editing any field (KDF parameters
// included) makes the wrap fail to open. KDF parameters are bounds-checked
// before scrypt runs, so an edited config cannot exhaust memory.
// VaultConfig is a value type; VaultKeys owns locked key memory.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "crypto/primitives.h"
#include "crypto/secret.h"
#include "crypto/status.h"

namespace strongroom::crypto {

// The unwrapped keys of a vault.
struct VaultKeys {
  SecretKey master;        // 32 bytes
  SecretKey names;         // 64 bytes, AES-256-SIV
  SecretKey files;         // 32 bytes, wraps per-file data keys
  SecretKey audit;         // 32 bytes
  SecretKey certificates;  // 32 bytes
  SecretKey binding;       // 32 bytes, HKDF(names, "strongroom/v1/binding")
  SecretKey rows;          // 32 bytes, HKDF(files, "strongroom/v1/object-rows")
};

class VaultConfig {
 public:
  static constexpr int kVersion = 1;

  // Creates a new config with fresh random keys, wrapped under `passphrase`.
  static VaultConfig Create(std::string_view passphrase, const ScryptParams& params,
                            VaultKeys* keys);
  // Checks structure, version and KDF bounds; does not need the passphrase.
  static Result<VaultConfig> Parse(std::string_view text);
  std::string Serialize() const;

  // kWrongPassphrase when the wrap does not open (wrong passphrase or an
  // edited header: they cannot be told apart); kIntegrity for a subkey that
  // does not open under a master key that did.
  Result<VaultKeys> Unlock(std::string_view passphrase) const;
  // Re-wraps the same master key under a new passphrase (fresh salt).
  Status ChangePassphrase(std::string_view old_passphrase, std::string_view new_passphrase,
                          const ScryptParams& params);

  const std::string& vault_id() const { return vault_id_; }
  const ScryptParams& scrypt() const { return scrypt_; }

 private:
  std::string HeaderAad() const;
  void WrapMaster(std::string_view passphrase, const SecretKey& master);

  std::string vault_id_;  // hex, 16 random bytes
  std::string created_;   // ISO 8601 UTC
  ScryptParams scrypt_;
  Bytes salt_;
  Bytes wrapped_master_;
  std::map<std::string, Bytes> wrapped_subkeys_;  // label -> wrap under master
};

}  // namespace strongroom::crypto
