// VaultChecker: the checks behind `strongroom fsck`, in one place for both
// ways they run: on an unmounted vault (the CLI holds the vault's lock) and
// inside the daemon of a mounted one (VaultFs::CheckVault, through the
// control socket), where a CheckGuard keeps it off files being written.
//
// It walks the backing tree from `tree/` without following any symlink and
// checks, for every entry: the name decodes under its directory's ID (long
// names through their `long_names` row), each directory's `.dirid` is a
// regular file of 16 bytes, each object has its row in the store, the row's
// MAC verifies, its kind matches and it is bound to the place the entry is
// at (docs/format.md §8.2); for files: one link, a valid ciphertext size, the
// header, the data key's wrap, and every block authenticating exactly as a
// read through the mount would (fs/encrypted_file.h); for symlinks: the
// target decodes. Rows whose object is not in the tree are orphans, or
// pending when they carry an authentic write-ahead mark (unlinked, or a
// rename in flight) that the next mount's recovery settles.
//
// It reads only; RemoveOrphans is the one change, and only when asked.
// Plaintext paths appear in the report (for the admin running it), never in
// logs. Not thread-safe: one Run at a time per checker.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "acl/store.h"
#include "crypto/names.h"
#include "crypto/vault_config.h"
#include "fs/unique_fd.h"

namespace strongroom::fs {

struct CheckFinding {
  enum class Kind {
    kDamaged,  // an object that does not read back: content, key, row, binding
    kName,     // a name, .dirid, long name or symlink target that does not decode
    kSkipped,  // not checked: open for writing (mounted vaults only)
  };
  Kind kind = Kind::kDamaged;
  std::string path;    // the vault path (backing name for what does not decode)
  std::string reason;  // one line
};

struct CheckRow {
  std::string id;  // hex
  acl::ObjectKind kind = acl::ObjectKind::kFile;
  bool has_key = false;
  std::string state;  // "unlinked", "rename in flight", or "" for an orphan
};

struct CheckReport {
  uint64_t rows = 0;     // rows in the store when the check began
  uint64_t objects = 0;  // tree entries checked (the root included)
  uint64_t files = 0;
  uint64_t dirs = 0;
  uint64_t symlinks = 0;
  uint64_t blocks = 0;  // blocks that authenticated
  uint64_t bytes = 0;   // plaintext bytes in them
  std::vector<CheckFinding> findings;
  std::vector<CheckRow> orphans;  // rows whose object is not in the tree
  std::vector<CheckRow> pending;  // authentic write-ahead marks; the next mount settles them
  // Entries that could not be read far enough to learn their object ID: the
  // orphan list may then hold rows of objects the walk missed, and no
  // orphan is removed.
  uint64_t unaccounted = 0;
  uint64_t orphans_removed = 0;
  // The audit log's structure (acl::CheckAuditLogStructure), when checked.
  struct Audit {
    bool checked = false;
    bool ok = false;
    uint64_t records = 0;
    uint64_t epochs = 0;
    uint64_t segments = 0;
    std::string problem;  // the first problem, or why it could not be read
  } audit;

  size_t Count(CheckFinding::Kind kind) const;
  // Nothing damaged, no name errors, no orphaned rows, the audit log sound.
  bool Clean() const;
};

// The JSON form of a report (the `fsck` control command's result and
// `strongroom fsck --json`; docs/control-protocol.md).
nlohmann::json CheckReportJson(const CheckReport& report);

// What the daemon lends the checker of a mounted vault.
class CheckGuard {
 public:
  virtual ~CheckGuard() = default;
  // Runs `fn` (which reads one entry's object ID and row and compares
  // places) with no rename moving objects meanwhile.
  virtual void WithPlaces(const std::function<void()>& fn) = 0;
  // Runs `fn` (which reads the content of the backing file with inode
  // number `backing_ino`) while nobody writes it; false, without running
  // it, when the file is open for writing.
  virtual bool WithFile(ino_t backing_ino, const std::function<void()>& fn) = 0;
  // True when the object has a name in the vault now (a row the walk did
  // not meet may belong to an object that moved behind it).
  virtual bool StillThere(const acl::ObjectId& id) = 0;
  // Runs `fn` with every change to the vault paused (none in flight): a
  // second look at an entry that looked damaged, so that a file caught
  // half-created is not reported.
  virtual void Quiesced(const std::function<void()>& fn) = 0;
};

class VaultChecker {
 public:
  // `tree_fd`: a descriptor (O_PATH will do) of the vault's `tree/`.
  // Borrowed: keys, store and descriptor outlive the checker.
  VaultChecker(const crypto::VaultKeys& keys, acl::Store& store, int tree_fd, CheckGuard* guard = nullptr);

  // Called now and then with (entries checked, rows in the store).
  void SetProgress(std::function<void(uint64_t done, uint64_t total)> progress) { progress_ = std::move(progress); }
  // Also checks the audit log at `audit_db` (empty: not checked).
  void SetAuditDb(std::string audit_db) { audit_db_ = std::move(audit_db); }

  // kIntegrity only when the root itself cannot be checked (no .dirid, no
  // authentic root row); everything else is a finding in the report.
  Result<CheckReport> Run();

  // Deletes the orphaned rows of `report` (not the pending ones), in one
  // transaction, and purges them from the store's WAL. Refused (kExists)
  // when the walk left entries unaccounted for.
  Status RemoveOrphans(CheckReport* report);

 private:
  struct Dir {
    UniqueFd fd;  // O_RDONLY | O_DIRECTORY
    crypto::DirId id{};
    std::string path;
  };
  acl::Place PlaceOf(const crypto::DirId& dir, std::string_view name) const;
  bool RowMacValid(const acl::ObjectRow& row) const;
  // The row of `id` checked against `kind` and, when known, `here`; the
  // problem, or nullopt when it holds. `*row` receives the row when read.
  std::optional<std::string> CheckRowOf(const acl::ObjectId& id, acl::ObjectKind kind,
                                        const std::optional<acl::Place>& here, acl::ObjectRow* row);
  void CheckEntry(const Dir& dir, const std::string& backing, std::vector<Dir>* stack);
  // The problem with a file's content, or nullopt.
  std::optional<std::string> CheckContent(int fd, const acl::ObjectRow& row, uint64_t plain_size);
  std::optional<crypto::DirId> ReadDirId(int dir_fd, const std::string& path);
  void Add(CheckFinding::Kind kind, const std::string& path, std::string reason);
  void Tick();
  void CheckAudit();

  const crypto::VaultKeys& keys_;
  crypto::NameCipher names_;
  acl::Store& store_;
  int tree_fd_;
  CheckGuard* guard_;
  std::function<void(uint64_t, uint64_t)> progress_;
  std::string audit_db_;
  CheckReport report_;
  std::vector<acl::ObjectId> found_;  // IDs met in the tree
  std::vector<acl::ObjectRow> rows_;  // the store's rows when Run began
};

}  // namespace strongroom::fs
