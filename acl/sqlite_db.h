// Internal to acl/: the one SQLite connection that SqliteStore (objects,
// names, meta) and SqlitePolicyStore (users, teams, grants, labels,
// requests) share, with its prepared-statement cache, and the schema
// migrations. Not part of the store's interface: only acl/sqlite_*.cc
// include it.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "acl/store.h"
#include "crypto/secret.h"

namespace strongroom::acl {

class PolicyStore;

namespace sqlite {

// Copies the open database `src` into a new file `dst_path` with SQLite's
// online backup (a consistent snapshot), synced; `dst_path` must not exist.
Status BackupTo(sqlite3* src, const std::string& dst_path);

struct DbClose {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
using DbPtr = std::unique_ptr<sqlite3, DbClose>;

// The connection and its statement cache. Thread-compatible only: callers
// hold mu() for every call (and for the whole of a transaction), so that one
// connection serves all threads in turn.
class Db {
 public:
  explicit Db(DbPtr db) : db_(std::move(db)) {}
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  std::mutex& mu() { return mu_; }
  sqlite3* handle() { return db_.get(); }

  // A cached statement for `sql` (a named constant: the cache is keyed by
  // its address), or nullptr when it does not compile (a damaged schema).
  sqlite3_stmt* Prepare(const char* sql);
  // Runs SQL without parameters (pragmas, DDL, BEGIN/COMMIT).
  Status Exec(const char* sql);

  // Set by every successful write; cleared once a sync made it durable.
  bool dirty() const { return dirty_; }
  void set_dirty(bool dirty) { dirty_ = dirty; }

 private:
  std::mutex mu_;
  DbPtr db_;
  std::map<const char*, sqlite3_stmt*> stmts_;
  bool dirty_ = false;
};

// A cached statement in use: reset and unbound when it goes out of scope, so
// that no early return leaves it mid-step (holding a read open).
class Stmt {
 public:
  Stmt(Db& db, const char* sql) : db_(db), s_(db.Prepare(sql)) {}
  ~Stmt() {
    if (s_ != nullptr) {
      sqlite3_reset(s_);
      sqlite3_clear_bindings(s_);
    }
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  // False when the statement did not compile.
  bool ok() const { return s_ != nullptr; }
  sqlite3_stmt* get() { return s_; }

  void Bind(int i, int64_t v) { sqlite3_bind_int64(s_, i, v); }
  void BindNull(int i) { sqlite3_bind_null(s_, i); }
  void BindBlob(int i, std::span<const uint8_t> b) {
    // A zero-length blob, not NULL, even for an empty span.
    sqlite3_bind_blob(s_, i, b.empty() ? "" : static_cast<const void*>(b.data()), static_cast<int>(b.size()),
                      SQLITE_TRANSIENT);
  }
  void BindText(int i, const std::string& t) {
    sqlite3_bind_text(s_, i, t.data(), static_cast<int>(t.size()), SQLITE_TRANSIENT);
  }

  // One step: SQLITE_ROW, SQLITE_DONE, or the error's extended code (for
  // example SQLITE_CONSTRAINT_UNIQUE). A successful write marks the
  // database dirty.
  int Step();

  int64_t Int(int col) { return sqlite3_column_int64(s_, col); }
  bool IsNull(int col) { return sqlite3_column_type(s_, col) == SQLITE_NULL; }
  bool IsBlob(int col) { return sqlite3_column_type(s_, col) == SQLITE_BLOB; }
  std::span<const uint8_t> Blob(int col) {
    const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(s_, col));
    const int n = sqlite3_column_bytes(s_, col);
    return {p, p == nullptr ? 0 : static_cast<size_t>(n)};
  }

 private:
  Db& db_;
  sqlite3_stmt* s_;
};

// The Status for a failed step that no caller-specific mapping took:
// kIo (ENOSPC when the disk is full), or kIntegrity for a corrupt file.
Status StepStatus(int rc, const std::string& what);
// The Status for a statement that did not compile.
Status SchemaDamaged(const std::string& what);

// A write transaction (BEGIN IMMEDIATE) under the caller's lock; rolled back
// unless Commit() succeeded.
class Transaction {
 public:
  explicit Transaction(Db& db) : db_(db) {}
  ~Transaction() {
    if (open_) (void)db_.Exec("ROLLBACK");
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  Status Begin(const char* sql = "BEGIN IMMEDIATE") {
    SR_RETURN_IF_ERROR(db_.Exec(sql));
    open_ = true;
    return Status::Ok();
  }
  Status Commit() {
    Status st = db_.Exec("COMMIT");
    if (st.ok()) open_ = false;
    return st;
  }

 private:
  Db& db_;
  bool open_ = false;
};

// The schema: the version-1 tables, then one migration step per later
// version. kMigrations[v - 1] takes a store from version v to v + 1.
inline constexpr int kSchemaVersion = 4;
extern const char kSchemaV1[];
extern const char kPolicyTablesV2[];       // acl/sqlite_policy.cc
extern const char kViewerTablesV3[];       // acl/sqlite_policy.cc
extern const char kDestructionTablesV4[];  // acl/sqlite_policy.cc
inline constexpr const char* kMigrations[] = {kPolicyTablesV2, kViewerTablesV3, kDestructionTablesV4};
static_assert(std::size(kMigrations) == kSchemaVersion - 1, "one migration per version after the first");

// The policy half, sharing `db` (which must outlive it). `text_key` is
// cloned; without one every call fails with kInvalid.
std::unique_ptr<PolicyStore> NewPolicyStore(Db& db, const crypto::SecretKey* text_key);
// For deletions of objects (grants and labels go with them by cascade):
// whether policy is attached to `id`, and re-sealing the policy afterwards.
// Both under the connection's lock, inside the caller's transaction.
Result<bool> PolicyOnObjectLocked(PolicyStore& store, const ObjectId& id);
Status ResealPolicyLocked(PolicyStore& store);
// PolicyStore::SetSealer, for a caller holding the connection's lock.
PolicySealer SetSealerLocked(PolicyStore& store, PolicySealer sealer);

}  // namespace sqlite
}  // namespace strongroom::acl
