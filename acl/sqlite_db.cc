// The shared SQLite connection (acl/sqlite_db.h).
#include "acl/sqlite_db.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace strongroom::acl::sqlite {

Db::~Db() {
  for (auto& [sql, stmt] : stmts_) sqlite3_finalize(stmt);
}

sqlite3_stmt* Db::Prepare(const char* sql) {
  auto it = stmts_.find(sql);
  if (it != stmts_.end()) return it->second;
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v3(db_.get(), sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK) {
    return nullptr;
  }
  stmts_.emplace(sql, s);
  return s;
}

Status Db::Exec(const char* sql) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db_.get(), sql, nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err != nullptr ? err : "unknown error";
    sqlite3_free(err);
    const int primary = rc & 0xff;
    if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
      return Status::Exists("policy store: " + msg + " (is another process using it?)");
    }
    if (primary == SQLITE_FULL) return Status::Io(ENOSPC, "policy store: " + msg);
    if (primary == SQLITE_IOERR) return Status::Io(EIO, "policy store: " + msg);
    return Status::Integrity("policy store: " + msg);
  }
  return Status::Ok();
}

int Stmt::Step() {
  const int rc = sqlite3_step(s_);
  if (rc == SQLITE_ROW) return rc;
  if (rc == SQLITE_DONE) {
    if (sqlite3_stmt_readonly(s_) == 0) db_.set_dirty(true);
    return rc;
  }
  // The connection reports primary codes only; the extended one says which
  // constraint failed.
  return sqlite3_extended_errcode(db_.handle());
}

Status StepStatus(int rc, const std::string& what) {
  switch (rc & 0xff) {
    case SQLITE_FULL:
      return Status::Io(ENOSPC, what);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Status::Integrity(what + ": the policy store is corrupt");
    case SQLITE_CONSTRAINT:
      return Status::Exists(what + ": already exists");
    default:
      return Status::Io(EIO, what + ": " + sqlite3_errstr(rc));
  }
}

Status SchemaDamaged(const std::string& what) {
  return Status::Integrity(what + ": the policy store's schema is damaged");
}

Status BackupTo(sqlite3* src, const std::string& dst_path) {
  sqlite3* raw = nullptr;
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOFOLLOW;
  if (::access(dst_path.c_str(), F_OK) == 0) return Status::Exists(dst_path + " already exists");
  if (sqlite3_open_v2(dst_path.c_str(), &raw, flags, nullptr) != SQLITE_OK) {
    std::string msg = raw != nullptr ? sqlite3_errmsg(raw) : "out of memory";
    sqlite3_close_v2(raw);
    return Status::Io(EIO, "cannot create " + dst_path + ": " + msg);
  }
  DbPtr dst(raw);
  sqlite3_backup* b = sqlite3_backup_init(dst.get(), "main", src, "main");
  if (b == nullptr) return Status::Io(EIO, "cannot back up to " + dst_path + ": " + sqlite3_errmsg(dst.get()));
  int rc;
  // All pages in one step: the caller holds the source's lock, so the
  // snapshot is taken at one point in time.
  while ((rc = sqlite3_backup_step(b, -1)) == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
    sqlite3_sleep(5);
  }
  sqlite3_backup_finish(b);
  if (rc != SQLITE_DONE) return Status::Io(EIO, "backup to " + dst_path + " failed: " + sqlite3_errstr(rc));
  // A self-contained file: no WAL left beside it.
  if (sqlite3_exec(dst.get(), "PRAGMA journal_mode=DELETE", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return Status::Io(EIO, "backup to " + dst_path + ": " + sqlite3_errmsg(dst.get()));
  }
  dst.reset();
  const int fd = ::open(dst_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    const int err = errno;
    if (fd >= 0) ::close(fd);
    return Status::Io(err, "cannot sync " + dst_path);
  }
  ::close(fd);
  ::chmod(dst_path.c_str(), 0600);
  return Status::Ok();
}

}  // namespace strongroom::acl::sqlite
