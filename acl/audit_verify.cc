#include "acl/audit_verify.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <memory>

#include "acl/audit_ahead.h"
#include "acl/sqlite_db.h"

namespace strongroom::acl {
namespace {

// Columns in the order RecordFields lists them, then the link.
constexpr char kSelectRecords[] =
    "SELECT seq, epoch, time_us, uid, pid, op, result, count, user_tag, path_tag, sealed, link "
    "FROM records ORDER BY seq";
enum Col { kSeq, kEpoch, kTimeUs, kUid, kPid, kOp, kResult, kCount, kUserTag, kPathTag, kSealed, kLink };

// The daemon moves to the next epoch every few hundred records, so between
// two records the epoch grows by one at most. A larger jump is still
// followed (the MAC decides), up to this many key evolutions (about a
// second's work): beyond it an edited epoch could keep us hashing for ages.
constexpr uint64_t kMaxEpochJump = uint64_t{1} << 20;

struct StmtFinalize {
  void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
};
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalize>;

std::string ErrMsg(sqlite3* db, int rc) {
  return db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
}

// A failed prepare or step, as a Status about the audit database.
Status SqliteStatus(sqlite3* db, int rc, const std::string& path) {
  switch (rc & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Status::Integrity("the audit database " + path + " is corrupt: " + ErrMsg(db, rc));
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::Io(EBUSY, "the audit database " + path + " is locked: " + ErrMsg(db, rc));
    case SQLITE_NOMEM:
      return Status::Io(ENOMEM, "reading the audit database " + path);
    case SQLITE_ERROR:  // no such table or column: not an audit database
      return Status::Integrity("the audit database " + path + " has no valid records table: " + ErrMsg(db, rc));
    default:
      return Status::Io(EIO, "reading the audit database " + path + ": " + ErrMsg(db, rc));
  }
}

// Only a file that exists, is not a symlink and starts like an SQLite
// database is handed to SQLite.
Status CheckFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return Status::NotFound("the audit database " + path + " does not exist");
    if (err == ELOOP) return Status::Integrity("the audit database " + path + " is a symbolic link");
    return Status::Io(err, "open the audit database " + path);
  }
  char magic[16] = {};
  const ssize_t n = ::pread(fd, magic, sizeof magic, 0);
  ::close(fd);
  if (n != static_cast<ssize_t>(sizeof magic) || std::memcmp(magic, "SQLite format 3", 16) != 0) {
    return Status::Integrity("the audit database " + path + " is not an SQLite database");
  }
  return Status::Ok();
}

// Reads one row's fields into `r` and its link into `link`; false when a
// column has the wrong type or a value out of its field's range (which only
// an edit of the file can cause: the table is STRICT).
bool ReadRow(sqlite3_stmt* s, crypto::audit::RecordFields* r, crypto::ByteView* link) {
  auto integer = [s](int col, int64_t min, int64_t max, int64_t* out) {
    if (sqlite3_column_type(s, col) != SQLITE_INTEGER) return false;
    *out = sqlite3_column_int64(s, col);
    return *out >= min && *out <= max;
  };
  auto blob = [s](int col, crypto::ByteView* out) {
    if (sqlite3_column_type(s, col) != SQLITE_BLOB) return false;
    const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(s, col));
    const int n = sqlite3_column_bytes(s, col);
    *out = p == nullptr ? crypto::ByteView() : crypto::ByteView(p, static_cast<size_t>(n));
    return true;
  };
  constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max();
  constexpr int64_t kI64Min = std::numeric_limits<int64_t>::min();
  constexpr int64_t kI32Min = std::numeric_limits<int32_t>::min();
  constexpr int64_t kI32Max = std::numeric_limits<int32_t>::max();
  constexpr int64_t kU32Max = std::numeric_limits<uint32_t>::max();
  int64_t epoch = 0, time_us = 0, uid = 0, pid = 0, result = 0, count = 0;
  crypto::ByteView user_tag, path_tag, sealed;
  if (!integer(kEpoch, 0, kI64Max, &epoch) || !integer(kTimeUs, kI64Min, kI64Max, &time_us) ||
      !integer(kUid, 0, kU32Max, &uid) || !integer(kPid, kI32Min, kI32Max, &pid) ||
      !integer(kResult, kI32Min, kI32Max, &result) || !integer(kCount, 0, kU32Max, &count) ||
      sqlite3_column_type(s, kOp) != SQLITE_TEXT || !blob(kUserTag, &user_tag) || !blob(kPathTag, &path_tag) ||
      !blob(kSealed, &sealed) || !blob(kLink, link)) {
    return false;
  }
  r->epoch = static_cast<uint64_t>(epoch);
  r->time_us = time_us;
  r->uid = static_cast<uint32_t>(uid);
  r->pid = static_cast<int32_t>(pid);
  const auto* op = reinterpret_cast<const char*>(sqlite3_column_text(s, kOp));
  r->op.assign(op == nullptr ? "" : op, static_cast<size_t>(sqlite3_column_bytes(s, kOp)));
  r->result = static_cast<int32_t>(result);
  r->count = static_cast<uint32_t>(count);
  r->user_tag.assign(user_tag.begin(), user_tag.end());
  r->path_tag.assign(path_tag.begin(), path_tag.end());
  r->sealed.assign(sealed.begin(), sealed.end());
  return true;
}

// The write-ahead file's bytes; empty when there is none.
Result<std::string> ReadAheadFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::string();
    if (errno == ELOOP) return Status::Integrity("the audit write-ahead file " + path + " is a symbolic link");
    return Status::Io(errno, "open the audit write-ahead file " + path);
  }
  std::string data;
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return Status::Io(err, "read the audit write-ahead file " + path);
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return data;
}

bool SameLink(crypto::ByteView stored, const crypto::audit::Link& computed) {
  return stored.size() == computed.size() && CRYPTO_memcmp(stored.data(), computed.data(), computed.size()) == 0;
}

}  // namespace

Result<AuditVerifyReport> VerifyAuditLog(const std::string& db_path, const crypto::SecretKey& k0,
                                         const std::optional<AuditSeal>& seal) {
  if (k0.size() != crypto::audit::kKeySize) return Status::Invalid("the audit key must be 32 bytes");
  SR_RETURN_IF_ERROR(CheckFile(db_path));

  sqlite3* raw = nullptr;
  const int open_rc = sqlite3_open_v2(db_path.c_str(), &raw,
                                      SQLITE_OPEN_READONLY | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_NOMUTEX, nullptr);
  sqlite::DbPtr db(raw);
  if (open_rc != SQLITE_OK) {
    return Status::Integrity("cannot open the audit database " + db_path + ": " + ErrMsg(raw, open_rc));
  }
  // The daemon holds short write transactions; wait them out. The file is
  // not trusted: no functions from its schema run.
  sqlite3_busy_timeout(db.get(), 5000);
  sqlite3_db_config(db.get(), SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, nullptr);
  sqlite3_db_config(db.get(), SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);

  sqlite3_stmt* raw_stmt = nullptr;
  const int prep_rc = sqlite3_prepare_v2(db.get(), kSelectRecords, -1, &raw_stmt, nullptr);
  StmtPtr stmt(raw_stmt);
  if (prep_rc != SQLITE_OK) return SqliteStatus(db.get(), prep_rc, db_path);

  AuditVerifyReport report;
  auto fail = [&report](uint64_t seq, std::string problem) {
    report.ok = false;
    report.first_bad_seq = seq;
    report.problem = std::move(problem);
    return report;
  };

  // One statement: one read transaction, so one consistent snapshot of the
  // log even while the daemon appends.
  crypto::SecretKey key = k0.Clone();
  uint64_t epoch = 0;
  crypto::audit::Link previous{};  // link_0: 32 zero bytes
  crypto::audit::RecordFields r;
  uint64_t expected = 1;
  // Checks record `expected` (r) against its stored link; a problem or "".
  auto check = [&](crypto::ByteView stored_link) -> std::string {
    const std::string n = std::to_string(expected);
    if (r.epoch < epoch) {
      return "record " + n + " was edited (its epoch " + std::to_string(r.epoch) + " is below the previous record's " +
             std::to_string(epoch) + ")";
    }
    if (r.epoch > epoch) {
      if (r.epoch - epoch > kMaxEpochJump) {
        return "record " + n + " was edited (its epoch jumps from " + std::to_string(epoch) + " to " +
               std::to_string(r.epoch) + ")";
      }
      key = crypto::audit::EvolveTo(key, epoch, r.epoch);  // the older key is wiped
    }
    const crypto::audit::Link link = crypto::audit::NextLink(key, previous, r);
    if (!SameLink(stored_link, link)) {
      return expected == 1 ? "record 1 was edited, or the key is not this log's initial key"
                           : "record " + n + " was edited";
    }
    if (report.records == 0 || r.epoch != epoch) ++report.epochs;
    epoch = r.epoch;
    previous = link;
    ++report.records;
    if (seal && seal->seq == expected && CRYPTO_memcmp(link.data(), seal->digest.data(), link.size()) != 0) {
      return "record " + n + " does not match the seal";
    }
    ++expected;
    return {};
  };
  for (;;) {
    const int rc = sqlite3_step(stmt.get());
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) return SqliteStatus(db.get(), rc, db_path);
    const std::string n = std::to_string(expected);

    if (sqlite3_column_type(stmt.get(), kSeq) != SQLITE_INTEGER) {
      return fail(expected, "record " + n + " was edited (its number is not an integer)");
    }
    const int64_t seq = sqlite3_column_int64(stmt.get(), kSeq);
    if (seq < 0 || static_cast<uint64_t>(seq) != expected) {
      return fail(expected, "record " + n + " is missing (deleted, or " + std::to_string(seq) +
                                " inserted/reordered)");
    }
    r.seq = expected;
    crypto::ByteView stored_link;
    if (!ReadRow(stmt.get(), &r, &stored_link)) {
      return fail(expected, "record " + n + " was edited (a field has the wrong type or range)");
    }
    const uint64_t at = expected;
    if (std::string problem = check(stored_link); !problem.empty()) return fail(at, std::move(problem));
  }
  stmt.reset();
  db.reset();

  // Records written ahead and not yet in the database (the daemon is
  // running, or stopped before moving them) continue the chain. Read after
  // the database: what the daemon moved meanwhile is in both.
  if (Result<std::string> ahead = ReadAheadFile(AheadPathFor(db_path)); !ahead.ok()) {
    return ahead.status();
  } else if (!ahead->empty()) {
    const AheadParse parse = ParseAheadFile(crypto::AsBytes(*ahead));
    for (const AheadRecord& a : parse.records) {
      if (a.fields.seq < expected) continue;
      if (a.fields.seq != expected) {
        return fail(expected, "record " + std::to_string(expected) + " is missing (the write-ahead file goes on at " +
                                  std::to_string(a.fields.seq) + ")");
      }
      r = a.fields;
      const uint64_t at = expected;
      if (std::string problem = check(a.link); !problem.empty()) return fail(at, std::move(problem));
      ++report.written_ahead;
    }
  }

  if (seal && seal->seq >= expected) {
    const std::string s = std::to_string(seal->seq);
    if (report.records == 0) return fail(1, "the log is empty but the seal names record " + s + ": it was truncated");
    return fail(expected, "the log ends at record " + std::to_string(report.records) + " but the seal names record " +
                              s + ": its tail was truncated");
  }
  report.ok = true;
  return report;
}

}  // namespace strongroom::acl
