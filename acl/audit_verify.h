// Verifying the audit database's forward-secure MAC chain from the
// auditors' initial key K_0 alone (no passphrase, no vault key): the check
// behind `strongroom audit verify`. docs/audit.md defines the format.
//
// VerifyAuditLog opens the database read-only, so it can run while the
// daemon has the file open (WAL): it reads one snapshot of the log, record by
// record in seq order, holding one record and the current epoch's key at a
// time. It reports the first place where the log stops being the one the
// daemon wrote: a record edited (its link no longer matches), deleted,
// inserted or reordered (the seq numbers stop being 1, 2, 3, ...), and, with
// a seal the daemon logged elsewhere, a truncated or rewritten tail.
//
// Limits: whoever held the daemon's key for epoch e can rewrite the log from
// epoch e on consistently; only a seal from before that (kept outside the
// vault, e.g. in syslog) shows it. Without a seal a truncated tail looks like
// a shorter, intact log.
//
// Thread-safe: no shared state; each call opens its own connection.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "crypto/audit_chain.h"
#include "crypto/secret.h"
#include "crypto/status.h"

namespace strongroom::acl {

// A seal the daemon wrote to its operational log at an epoch change: record
// `seq`'s link.
struct AuditSeal {
  uint64_t seq = 0;
  crypto::audit::Link digest{};
};

struct AuditVerifyReport {
  bool ok = false;
  uint64_t records = 0;  // records whose link verified (all of them when ok)
  uint64_t epochs = 0;   // distinct epochs among those records
  uint64_t written_ahead = 0;  // of them, found in the write-ahead file only
  uint64_t first_seq = 1;      // where the walk began (> 1: earlier segments archived and not given)
  uint64_t segments = 0;       // sealed segments read
  // One line saying what is wrong, empty when ok: e.g. "record 17 was
  // edited", "record 17 is missing (deleted, or 18 inserted/reordered)", "the
  // log ends at record 40 but the seal names record 56: its tail was
  // truncated", "record 56 does not match the seal".
  std::string problem;
  uint64_t first_bad_seq = 0;  // 0 when ok
};

// Verifies the log at `db_path` from `k0` (the 32-byte key of epoch 0) and,
// when given, against `seal`. A log that fails verification is an ok
// Result with report.ok false; a non-ok Result means it could not be read:
// kNotFound (no such file), kIntegrity (not an SQLite database, no records
// table, corrupt), kInvalid (a key of the wrong size), kIo. An empty log
// verifies only without a seal.
//
// Sealed segments (ListAuditSegments) in the log's directory and in
// `archive_dirs` are read first, oldest first, then the live database, then
// the write-ahead file. When the oldest segment present does not begin at
// record 1 (older ones archived and not given), the walk begins at it,
// from the state its meta states, and report.first_seq says so: its first
// record's link still has to verify with a key evolved from K_0.
Result<AuditVerifyReport> VerifyAuditLog(const std::string& db_path, const crypto::SecretKey& k0,
                                         const std::optional<AuditSeal>& seal,
                                         const std::vector<std::string>& archive_dirs = {});

// The part of the check that needs no key (`strongroom fsck`): the same
// walk through the segments, the database and the write-ahead file, checking
// that records are numbered 1, 2, 3, ... without gaps, that every field has
// its type and range, that epochs never decrease or jump, and that every
// link is 32 bytes; the links themselves are not recomputed. It finds
// deleted, inserted and reordered records and damaged rows, not a record
// edited with its fields kept well-formed: only VerifyAuditLog, from K_0,
// finds that. Results as VerifyAuditLog's.
Result<AuditVerifyReport> CheckAuditLogStructure(const std::string& db_path);

// When `strongroom audit verify` last succeeded on a log: written by the
// verify command next to the database, as `<db>-verified` (one JSON line:
// {"time": UNIX SECONDS, "records": N, "uid": UID}, mode 0644, replaced
// atomically), and read by `strongroom status`. A note for operators, not
// evidence: whoever can write the log's directory can write it too.
struct AuditVerifiedMark {
  int64_t time = 0;
  uint64_t records = 0;
  uint32_t uid = 0;
};
std::string AuditVerifiedPath(const std::string& db_path);
Status WriteAuditVerifiedMark(const std::string& db_path, const AuditVerifiedMark& mark);
// kNotFound when verify never succeeded there (or the mark is unreadable).
Result<AuditVerifiedMark> ReadAuditVerifiedMark(const std::string& db_path);

}  // namespace strongroom::acl
