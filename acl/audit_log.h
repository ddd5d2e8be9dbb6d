// The audit log: its own SQLite database (docs/audit.md), records chained
// with the forward-secure MAC of crypto/audit_chain.h, names and paths
// sealed (keyed tags where an index is needed). No FUSE.
//
// Thread-safe. Append() returns once the record is committed; concurrent
// callers share one transaction (group commit). AppendAsync() queues a
// record (opens) for the next commit without waiting.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "crypto/audit_chain.h"
#include "crypto/secret.h"
#include "crypto/status.h"

namespace strongroom::acl {

// What a caller records, in plaintext; the log seals the text fields.
struct AuditEntry {
  int64_t time_us = 0;  // 0: now
  uint32_t uid = 0;
  int32_t pid = 0;
  std::string op;
  int32_t result = 0;  // 0 or the errno answered
  uint32_t count = 1;
  std::string user;    // the user's name, if known
  std::string exe;     // the caller's executable
  std::string path;    // vault path
  std::string path2;   // a rename's destination
  std::string access;  // what was asked for (read, write, ...)
  std::string reason;  // which grant or rule decided
};

// A record of what this process does itself (mount, unmount, a change of
// keys, a destruction step): its own uid and pid, at `path`.
AuditEntry ProcessEntry(std::string op, std::string reason, std::string path = "/");

struct AuditRecord {
  uint64_t seq = 0;
  uint64_t epoch = 0;
  AuditEntry entry;
};

struct AuditQuery {
  std::optional<std::string> user;
  std::optional<std::string> path_prefix;
  std::optional<int64_t> since_us;
  std::optional<int64_t> until_us;
  std::optional<std::string> op;
  bool denied = false;
  size_t limit = 100;
};

// The keys the daemon needs (derived from the vault's audit subkey).
struct AuditKeys {
  crypto::SecretKey wrap;     // the audit subkey: wraps the epoch key
  crypto::SecretKey content;  // seals the text fields
  crypto::SecretKey index;    // keyed tags for the indexes
  static AuditKeys From(const crypto::SecretKey& audit_subkey);
};

class AuditLog {
 public:
  virtual ~AuditLog() = default;
  // Commits the record before returning (kIo on failure: the caller must
  // refuse what it was about to do).
  virtual Status Append(AuditEntry entry) = 0;
  // Queues the record for the next commit (within milliseconds).
  virtual void AppendAsync(AuditEntry entry) = 0;
  // Commits everything queued.
  virtual Status Flush() = 0;
  virtual Result<std::vector<AuditRecord>> Query(const AuditQuery& query) = 0;
  // power_loss: every commit is synced to disk (synchronous=FULL).
  virtual Status SetPowerLossDurability(bool power_loss) = 0;
  // The live database is sealed as a segment, at the next change of epoch,
  // once it holds this many bytes (0: never).
  virtual void SetSegmentLimit(uint64_t bytes) = 0;
  // Everything recorded so far, as a consistent copy in `dir`: the live
  // database (online backup, under its default file name) and the sealed
  // segments beside it.
  virtual Status BackupTo(const std::string& dir) = 0;
};

inline constexpr uint64_t kDefaultAuditSegmentBytes = uint64_t{256} << 20;

// A sealed segment: records first..last, in a database of its own next to
// the live one (or moved elsewhere by `audit archive`).
struct AuditSegment {
  uint64_t first = 0;
  uint64_t last = 0;
  std::string path;
};
// "DIR/NAME.db" -> "DIR/NAME.000000000001-000000045312.db" (a name without
// ".db" keeps all of it).
std::string AuditSegmentPath(const std::string& db_path, uint64_t first, uint64_t last);
// The sealed segments of the log at `db_path` found in `dir` (default: the
// log's own directory), oldest first.
std::vector<AuditSegment> ListAuditSegments(const std::string& db_path, const std::string& dir = {});

// Creates the database at `path` (it must not exist) and writes the first
// record with K_0 (`initial_key`), keeping only K_1.
Status CreateAuditLog(const std::string& path, const std::string& vault_id, const AuditKeys& keys,
                      const crypto::SecretKey& initial_key, AuditEntry first);
// Opens an existing log for appending.
Result<std::unique_ptr<AuditLog>> OpenAuditLog(const std::string& path, const std::string& vault_id,
                                               AuditKeys keys);

// Copies the file `from` to `to` (which must not exist; mode 0600) and
// syncs it; a failed copy leaves no `to` behind.
Status CopyFileSynced(const std::string& from, const std::string& to);

// A consistent copy of the SQLite database at `path` (nobody else has it
// open: the caller holds the vault's lock) in the new file `dst`.
Status BackupDatabaseFile(const std::string& path, const std::string& dst);
// The same for an audit log nobody has open: the database (as
// kAuditDbName in `dir`), its sealed segments and any write-ahead file a
// crash left.
Status BackupAuditLogFiles(const std::string& db_path, const std::string& dir);

inline constexpr uint64_t kAuditRecordsPerEpoch = 256;
inline constexpr char kAuditDbName[] = "strongroom-audit.db";

}  // namespace strongroom::acl
