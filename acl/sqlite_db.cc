// The shared SQLite connection (acl/sqlite_db.h).
#include "acl/sqlite_db.h"

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

}  // namespace strongroom::acl::sqlite
