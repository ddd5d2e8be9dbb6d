// The policy store's narrow storage interface. Issue-2 scope: objects (files,
// directories, symlinks) with their stable IDs, wrapped data keys and the
// place each object is bound to, long encrypted names, and vault metadata.
// Nothing here holds a plaintext name or path: places are keyed hashes.
//
// Implementations must be thread-safe. SqliteStore is the embedded default;
// a PostgreSQL backend would implement the same interface.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "crypto/secret.h"
#include "crypto/status.h"

namespace strongroom::acl {

using ObjectId = std::array<uint8_t, 16>;
using NameTag = std::array<uint8_t, 16>;
using Blob = std::vector<uint8_t>;

enum class ObjectKind : int { kFile = 1, kDirectory = 2, kSymlink = 3 };

// Where an object lives: its parent directory's ID and a keyed hash of its name.
struct Place {
  ObjectId parent{};
  NameTag name_tag{};
  bool operator==(const Place&) const = default;
};

struct ObjectRow {
  ObjectId id{};
  ObjectKind kind = ObjectKind::kFile;
  Place place;
  // Set while a rename is in flight: the place the object is moving from.
  std::optional<Place> previous_place;
  Blob wrapped_key;  // files only
  // Set (write-ahead) before the object's last name is removed; the row goes
  // once the name is gone and no handle is open.
  bool unlinked = false;
  // A MAC by the caller over id, kind and places, so that rows edited in the
  // store (a swapped place, say) are detected. The store keeps it opaque.
  Blob mac;
};

class PolicyStore;
struct PolicyData;
// A MAC over the whole of a policy (users, teams, grants, labels, the
// viewer group and the viewers), from the layer that holds the keys.
using PolicySealer = std::function<Blob(const PolicyData&)>;

class Store {
 public:
  virtual ~Store() = default;

  // The policy half (users, teams, grants, labels, requests: acl/policy.h),
  // kept in the same database so that grants go with their objects.
  virtual PolicyStore& policy() = 0;

  virtual Status InsertObject(const ObjectRow& row) = 0;
  virtual Result<ObjectRow> GetObject(const ObjectId& id) = 0;
  // The live object bound to `place` (its current place, not a previous one;
  // rows marked unlinked are left out).
  virtual Result<ObjectRow> FindObjectAt(const Place& place) = 0;
  // Binds the object to `place`; `previous` is kept while a rename is in
  // flight (write-ahead), and cleared once it is done or undone.
  virtual Status Rebind(const ObjectId& id, const Place& place, const std::optional<Place>& previous,
                        const Blob& mac) = 0;
  // Binding also clears the unlinked mark.
  virtual Status SetUnlinked(const ObjectId& id, bool unlinked, const Blob& mac) = 0;
  // Deletes the rows (and with them the wrapped keys) in one transaction; a
  // missing row is fine.
  virtual Status DeleteObjects(const std::vector<ObjectId>& ids) = 0;
  Status DeleteObject(const ObjectId& id) { return DeleteObjects({id}); }
  // Deletes the wrapped data keys of these objects (their rows stay, so
  // that they stay bound to their places until their names go), in one
  // transaction. Callers checkpoint (CheckpointTruncate) afterwards to purge
  // the keys from the write-ahead log. A missing row is fine.
  virtual Status DestroyKeys(const std::vector<ObjectId>& ids) = 0;
  virtual Result<std::vector<ObjectRow>> ListObjects() = 0;
  // A consistent copy of the whole store in a new file (SQLite online
  // backup), synced.
  virtual Status BackupTo(const std::string& path) = 0;
  // A rekey, in one durable transaction: every row's wrapped key and MAC
  // replaced by those in `rows` (by id; every row must be there), the
  // policy resealed with `sealer`, and the meta key `mark` set to
  // `mark_value`, so a later open can tell it committed. `sealer` stays in
  // use if it commits; otherwise the store is as it was, sealer included.
  virtual Status Rekey(const std::vector<ObjectRow>& rows, PolicySealer sealer, const std::string& mark,
                       const std::string& mark_value) = 0;

  // Long encrypted names, keyed by their hashed backing name.
  virtual Status PutLongName(const std::string& backing, const std::string& encoded) = 0;
  virtual Result<std::string> GetLongName(const std::string& backing) = 0;
  virtual Status DeleteLongName(const std::string& backing) = 0;

  virtual Result<std::string> GetMeta(const std::string& key) = 0;
  virtual Status SetMeta(const std::string& key, const std::string& value) = 0;

  // Makes every committed change durable against power loss.
  virtual Status SyncDurable() = 0;
  // Erases deleted rows from the write-ahead log and its file; runs soon
  // after key deletions (batched), and at once when called.
  virtual Status CheckpointTruncate() = 0;
};

// Opens an existing store (fails with kIntegrity when missing or corrupt,
// or when it belongs to another vault), migrating an older schema.
// `text_key` (64 bytes, AES-SIV) seals user and team names and request
// reasons; without it the policy calls fail.
Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path, const std::string& vault_id,
                                               const crypto::SecretKey* text_key = nullptr);
// Creates a new store; fails if the file exists.
Result<std::unique_ptr<Store>> CreateSqliteStore(const std::string& path, const std::string& vault_id,
                                                 const crypto::SecretKey* text_key = nullptr);

}  // namespace strongroom::acl
