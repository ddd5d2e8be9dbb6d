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
#include <vector>

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

// One way to unlock the vault (like a LUKS key slot): the master key
// wrapped under a key derived from a passphrase (scrypt) or from a key
// file's bytes (HKDF; a key file holds at least 32 random bytes).
struct KeySlot {
  enum class Kind { kPassphrase, kKeyFile };
  int id = 0;
  Kind kind = Kind::kPassphrase;
  std::string label;    // free text, e.g. whose passphrase it is
  std::string created;  // ISO 8601 UTC
  ScryptParams scrypt;  // passphrase slots only
  Bytes salt;
  Bytes wrapped_master;
};

// What unlocks a slot: a passphrase, or a key file's contents.
struct UnlockSecret {
  KeySlot::Kind kind = KeySlot::Kind::kPassphrase;
  std::string_view bytes;
};

class VaultConfig {
 public:
  // Version 1 has exactly one passphrase slot, written as top-level "kdf"
  // and "master_key"; any change of slots writes version 2 ("keyslots").
  static constexpr int kVersion = 1;
  static constexpr int kSlotsVersion = 2;
  static constexpr size_t kMinKeyFileSize = 32;
  static constexpr size_t kMaxKeyFileSize = 64 * 1024;

  // Keys as unlocked through one slot, with that slot's key-encryption key
  // (needed to re-wrap the slot: passphrase change, upgrade, rekey).
  struct Unlocked {
    VaultKeys keys;
    int slot = 0;
    SecretKey kek;
  };

  // Creates a new config with fresh random keys, wrapped under `passphrase`.
  static VaultConfig Create(std::string_view passphrase, const ScryptParams& params,
                            VaultKeys* keys);
  // Checks structure, version and KDF bounds; does not need the passphrase.
  static Result<VaultConfig> Parse(std::string_view text);
  std::string Serialize() const;

  // kWrongPassphrase when no slot of the secret's kind opens (wrong secret
  // or an edited header: they cannot be told apart); kIntegrity for a
  // subkey that does not open under a master key that did.
  Result<VaultKeys> Unlock(std::string_view passphrase) const;
  Result<Unlocked> Open(const UnlockSecret& secret) const;
  // The same with one slot only (kNotFound when there is no such slot).
  Result<Unlocked> OpenSlotById(int id, const UnlockSecret& secret) const;
  // Re-wraps the same master key under a new passphrase (fresh salt), in
  // the slot the old passphrase opens.
  Status ChangePassphrase(std::string_view old_passphrase, std::string_view new_passphrase,
                          const ScryptParams& params);

  // Adds a slot for `secret` (a new passphrase with `params`, or a key
  // file's bytes); `by` is what the caller unlocked with. Returns its id.
  Result<int> AddSlot(const Unlocked& by, const UnlockSecret& secret, const ScryptParams& params,
                      std::string label);
  // Removes a slot; the last one cannot go (kConflict).
  Status RemoveSlot(int id);
  const std::vector<KeySlot>& slots() const { return slots_; }

  // A new master key and a new file-key-wrapping key ("files"); the other
  // subkeys are kept (names and the audit chain depend on them), re-wrapped
  // under the new master. Every slot is re-wrapped, so `keks` must hold the
  // key-encryption key of every slot (by id). `new_keys` gets the new keys.
  Result<VaultConfig> Rekeyed(const VaultKeys& old_keys, const std::map<int, SecretKey>& keks,
                              VaultKeys* new_keys) const;

  const std::string& vault_id() const { return vault_id_; }
  int version() const { return version_; }
  // The first passphrase slot's scrypt parameters.
  const ScryptParams& scrypt() const;

 private:
  std::string CommonHeader(int version) const;
  std::string SlotAad(const KeySlot& slot) const;
  static Result<SecretKey> DeriveKek(const KeySlot& slot, const UnlockSecret& secret);
  Result<Unlocked> OpenSlot(const KeySlot& slot, const UnlockSecret& secret) const;
  void RewrapSlot(KeySlot* slot, const SecretKey& kek, const SecretKey& master) const;
  void MoveToSlotsVersion(const Unlocked& by);

  int version_ = kVersion;
  std::string vault_id_;  // hex, 16 random bytes
  std::string created_;   // ISO 8601 UTC
  std::vector<KeySlot> slots_;
  std::map<std::string, Bytes> wrapped_subkeys_;  // label -> wrap under master
};

}  // namespace strongroom::crypto
