#include "acl/audit_verify.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>

#include "acl/audit_ahead.h"
#include "acl/audit_log.h"
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

namespace {

// Walks the chain through one source after another, holding one record and
// the current epoch's key at a time.
class ChainWalk {
 public:
  // Without `k0` the walk checks the structure only (numbering, fields,
  // epochs, link sizes), not the links themselves.
  ChainWalk(const crypto::SecretKey* k0, const std::optional<AuditSeal>& seal)
      : key_(k0 != nullptr ? k0->Clone() : crypto::SecretKey()), have_key_(k0 != nullptr), seal_(seal) {}

  AuditVerifyReport& report() { return report_; }
  uint64_t expected() const { return expected_; }
  bool failed() const { return !report_.problem.empty(); }

  // Starts at record `first` after `previous` (earlier records are elsewhere).
  void StartAt(uint64_t first, const crypto::audit::Link& previous) {
    expected_ = first;
    previous_ = previous;
    report_.first_seq = first;
  }

  // Checks record `expected()` (r) against its stored link; false (and the
  // report says why) when it does not hold.
  bool Check(const crypto::audit::RecordFields& r, crypto::ByteView stored_link) {
    const std::string n = std::to_string(expected_);
    if (r.epoch < epoch_) {
      return Fail("record " + n + " was edited (its epoch " + std::to_string(r.epoch) +
                  " is below the previous record's " + std::to_string(epoch_) + ")");
    }
    if (r.epoch > epoch_) {
      if (r.epoch - epoch_ > kMaxEpochJump) {
        return Fail("record " + n + " was edited (its epoch jumps from " + std::to_string(epoch_) + " to " +
                    std::to_string(r.epoch) + ")");
      }
      if (have_key_) {
        key_ = crypto::audit::EvolveTo(key_, epoch_, r.epoch);  // the older key is wiped
        epoch_mac_.reset();
      }
    }
    crypto::audit::Link link{};
    if (!have_key_) {
      if (stored_link.size() != link.size()) return Fail("record " + n + " was edited (its link is not 32 bytes)");
      std::memcpy(link.data(), stored_link.data(), link.size());
    } else {
      if (!epoch_mac_) epoch_mac_.emplace(key_.span());
      link = crypto::audit::NextLink(*epoch_mac_, previous_, r);
    }
    if (have_key_ && !SameLink(stored_link, link)) {
      return Fail(expected_ == 1 ? "record 1 was edited, or the key is not this log's initial key"
                  : report_.records == 0 ? "record " + n + " was edited, or the key is not this log's initial key"
                                         : "record " + n + " was edited");
    }
    if (report_.records == 0 || r.epoch != epoch_) ++report_.epochs;
    epoch_ = r.epoch;
    previous_ = link;
    ++report_.records;
    if (seal_ && seal_->seq == expected_ && CRYPTO_memcmp(link.data(), seal_->digest.data(), link.size()) != 0) {
      return Fail("record " + n + " does not match the seal");
    }
    ++expected_;
    return true;
  }

  bool Fail(std::string problem) {
    report_.ok = false;
    report_.first_bad_seq = expected_;
    report_.problem = std::move(problem);
    return false;
  }

 private:
  crypto::SecretKey key_;
  std::optional<crypto::HmacSha256Key> epoch_mac_;  // HMAC under key_, kept for the epoch
  bool have_key_ = true;
  const std::optional<AuditSeal>& seal_;
  AuditVerifyReport report_;
  uint64_t epoch_ = 0;
  crypto::audit::Link previous_{};  // link_0: 32 zero bytes
  uint64_t expected_ = 1;
};

sqlite::DbPtr OpenReadOnly(const std::string& path, Status* st) {
  *st = CheckFile(path);
  if (!st->ok()) return nullptr;
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_NOMUTEX,
                                 nullptr);
  sqlite::DbPtr db(raw);
  if (rc != SQLITE_OK) {
    *st = Status::Integrity("cannot open the audit database " + path + ": " + ErrMsg(raw, rc));
    return nullptr;
  }
  // The daemon holds short write transactions; wait them out. The file is
  // not trusted: no functions from its schema run.
  sqlite3_busy_timeout(db.get(), 5000);
  sqlite3_db_config(db.get(), SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, nullptr);
  sqlite3_db_config(db.get(), SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
  return db;
}

// Where a database that does not start at record 1 says the chain stands
// before it (meta: first_seq, prev_link). Not trusted: the first record's
// link decides.
bool StartOf(sqlite3* db, uint64_t* first, crypto::audit::Link* previous) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT key, value FROM meta WHERE key IN ('first_seq', 'prev_link')", -1, &raw,
                         nullptr) != SQLITE_OK) {
    return false;
  }
  StmtPtr s(raw);
  bool have_first = false, have_link = false;
  while (sqlite3_step(s.get()) == SQLITE_ROW) {
    const auto* k = reinterpret_cast<const char*>(sqlite3_column_text(s.get(), 0));
    const auto* v = reinterpret_cast<const char*>(sqlite3_column_text(s.get(), 1));
    if (k == nullptr || v == nullptr) continue;
    if (std::strcmp(k, "first_seq") == 0) {
      char* end = nullptr;
      errno = 0;
      const unsigned long long n = std::strtoull(v, &end, 10);
      if (errno != 0 || end == v || *end != '\0' || n == 0) return false;
      *first = n;
      have_first = true;
    } else {
      crypto::Bytes b;
      if (!crypto::HexDecode(v, &b) || b.size() != previous->size()) return false;
      std::memcpy(previous->data(), b.data(), b.size());
      have_link = true;
    }
  }
  return have_first && have_link;
}

// Walks one database's records in seq order; false when the walk failed (the
// report says why) or the database could not be read (`st`).
bool WalkDb(sqlite3* db, const std::string& path, ChainWalk& walk, Status* st) {
  sqlite3_stmt* raw_stmt = nullptr;
  const int prep_rc = sqlite3_prepare_v2(db, kSelectRecords, -1, &raw_stmt, nullptr);
  StmtPtr stmt(raw_stmt);
  if (prep_rc != SQLITE_OK) {
    *st = SqliteStatus(db, prep_rc, path);
    return false;
  }
  // One statement: one read transaction, so one consistent snapshot of the
  // database even while the daemon appends.
  crypto::audit::RecordFields r;
  for (;;) {
    const int rc = sqlite3_step(stmt.get());
    if (rc == SQLITE_DONE) return true;
    if (rc != SQLITE_ROW) {
      *st = SqliteStatus(db, rc, path);
      return false;
    }
    const std::string n = std::to_string(walk.expected());
    if (sqlite3_column_type(stmt.get(), kSeq) != SQLITE_INTEGER) {
      return walk.Fail("record " + n + " was edited (its number is not an integer)");
    }
    const int64_t seq = sqlite3_column_int64(stmt.get(), kSeq);
    if (seq < 0 || static_cast<uint64_t>(seq) != walk.expected()) {
      return walk.Fail("record " + n + " is missing (deleted, or " + std::to_string(seq) + " inserted/reordered)");
    }
    r.seq = walk.expected();
    crypto::ByteView stored_link;
    if (!ReadRow(stmt.get(), &r, &stored_link)) {
      return walk.Fail("record " + n + " was edited (a field has the wrong type or range)");
    }
    if (!walk.Check(r, stored_link)) return false;
  }
}

// The sealed segments in the log's directory and in `archive_dirs`, oldest
// first, each once.
std::vector<AuditSegment> SegmentsOf(const std::string& db_path, const std::vector<std::string>& archive_dirs) {
  std::vector<AuditSegment> all = ListAuditSegments(db_path);
  for (const std::string& dir : archive_dirs) {
    for (AuditSegment& seg : ListAuditSegments(db_path, dir)) all.push_back(std::move(seg));
  }
  std::stable_sort(all.begin(), all.end(), [](const AuditSegment& a, const AuditSegment& b) { return a.first < b.first; });
  all.erase(std::unique(all.begin(), all.end(),
                        [](const AuditSegment& a, const AuditSegment& b) { return a.first == b.first && a.last == b.last; }),
            all.end());
  return all;
}

Result<AuditVerifyReport> VerifyOnce(const std::string& db_path, const crypto::SecretKey* k0,
                                     const std::optional<AuditSeal>& seal,
                                     const std::vector<AuditSegment>& segments) {
  ChainWalk walk(k0, seal);
  AuditVerifyReport& report = walk.report();
  std::vector<std::string> sources;
  for (const AuditSegment& seg : segments) sources.push_back(seg.path);
  sources.push_back(db_path);  // the live database last
  bool started = false;
  for (const std::string& path : sources) {
    Status st;
    sqlite::DbPtr db = OpenReadOnly(path, &st);
    if (!st.ok()) return st;
    if (!started) {
      started = true;
      uint64_t first = 1;
      crypto::audit::Link previous{};
      if (StartOf(db.get(), &first, &previous) && first > 1) walk.StartAt(first, previous);
    }
    if (!WalkDb(db.get(), path, walk, &st)) {
      if (!st.ok()) return st;
      return report;
    }
  }

  // Records written ahead and not yet in the database (the daemon is
  // running, or stopped before moving them) continue the chain. Read after
  // the database: what the daemon moved meanwhile is in both.
  Result<std::string> ahead = ReadAheadFile(AheadPathFor(db_path));
  if (!ahead.ok()) return ahead.status();
  if (!ahead->empty()) {
    const AheadParse parse = ParseAheadFile(crypto::AsBytes(*ahead));
    for (const AheadRecord& a : parse.records) {
      if (a.fields.seq < walk.expected()) continue;
      if (a.fields.seq != walk.expected()) {
        walk.Fail("record " + std::to_string(walk.expected()) + " is missing (the write-ahead file goes on at " +
                  std::to_string(a.fields.seq) + ")");
        return report;
      }
      if (!walk.Check(a.fields, a.link)) return report;
      ++report.written_ahead;
    }
  }

  if (seal && seal->seq >= walk.expected()) {
    const std::string s = std::to_string(seal->seq);
    if (report.records == 0) {
      walk.Fail("the log is empty but the seal names record " + s + ": it was truncated");
    } else {
      walk.Fail("the log ends at record " + std::to_string(walk.expected() - 1) + " but the seal names record " + s +
                ": its tail was truncated");
    }
    return report;
  }
  if (seal && seal->seq < report.first_seq) {
    walk.Fail("the seal names record " + std::to_string(seal->seq) + ", which is in an archived segment: give "
              "its directory with --archive");
    return report;
  }
  report.ok = true;
  return report;
}

// Both entry points: with the auditors' key (`k0`) or, without it, the
// structure only.
Result<AuditVerifyReport> Walk(const std::string& db_path, const crypto::SecretKey* k0,
                               const std::optional<AuditSeal>& seal, const std::vector<std::string>& archive_dirs) {
  SR_RETURN_IF_ERROR(CheckFile(db_path));
  const std::vector<AuditSegment> segments = SegmentsOf(db_path, archive_dirs);
  Result<AuditVerifyReport> r = VerifyOnce(db_path, k0, seal, segments);
  // The daemon sealed a segment while we read: once more, with it.
  if (r.ok() && !r->ok) {
    const std::vector<AuditSegment> now = SegmentsOf(db_path, archive_dirs);
    if (now.size() != segments.size()) r = VerifyOnce(db_path, k0, seal, now);
  }
  if (r.ok()) r->segments = SegmentsOf(db_path, archive_dirs).size();
  return r;
}

}  // namespace

Result<AuditVerifyReport> VerifyAuditLog(const std::string& db_path, const crypto::SecretKey& k0,
                                         const std::optional<AuditSeal>& seal,
                                         const std::vector<std::string>& archive_dirs) {
  if (k0.size() != crypto::audit::kKeySize) return Status::Invalid("the audit key must be 32 bytes");
  return Walk(db_path, &k0, seal, archive_dirs);
}

Result<AuditVerifyReport> CheckAuditLogStructure(const std::string& db_path) {
  return Walk(db_path, nullptr, std::nullopt, {});
}

std::string AuditVerifiedPath(const std::string& db_path) { return db_path + "-verified"; }

Status WriteAuditVerifiedMark(const std::string& db_path, const AuditVerifiedMark& mark) {
  const std::string path = AuditVerifiedPath(db_path);
  const std::string tmp = path + ".tmp";
  const std::string line = "{\"time\": " + std::to_string(mark.time) + ", \"records\": " +
                           std::to_string(mark.records) + ", \"uid\": " + std::to_string(mark.uid) + "}\n";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) return Status::Io(errno, "write " + tmp);
  const bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  const int err = errno;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const int rename_err = ok ? errno : err;
    ::unlink(tmp.c_str());
    return Status::Io(rename_err, "write " + path);
  }
  return Status::Ok();
}

Result<AuditVerifiedMark> ReadAuditVerifiedMark(const std::string& db_path) {
  const std::string path = AuditVerifiedPath(db_path);
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return Status::NotFound("audit verify has not succeeded here");
  char buf[256] = {};
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  long long time = 0;
  unsigned long long records = 0;
  unsigned long uid = 0;
  if (n <= 0 || std::sscanf(buf, "{\"time\": %lld, \"records\": %llu, \"uid\": %lu}", &time, &records, &uid) != 3) {
    return Status::NotFound("the audit verify mark " + path + " is unreadable");
  }
  AuditVerifiedMark mark;
  mark.time = time;
  mark.records = records;
  mark.uid = static_cast<uint32_t>(uid);
  return mark;
}

}  // namespace strongroom::acl
