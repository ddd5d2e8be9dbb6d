// SqliteStore: the embedded Store. One connection, serialised by a mutex,
// holding the database exclusively (the daemon is its only user while
// mounted: no file-lock calls per transaction, no shared-memory index);
// WAL with synchronous=NORMAL so commits are cheap (no fsync each), made
// durable on demand by SyncDurable(); secure_delete on, and deleted key rows
// purged from the WAL by a batched TRUNCATE checkpoint on a background thread.
// The policy half (acl/sqlite_policy.cc) shares the connection and its lock.
#include <fcntl.h>
#include <unistd.h>
#include <sqlite3.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include "acl/policy.h"
#include "acl/sqlite_db.h"
#include "acl/store.h"

namespace strongroom::acl {
namespace sqlite {

// Schema version 1: objects, long names and meta.
const char kSchemaV1[] = R"sql(
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;
CREATE TABLE objects (
  id            BLOB PRIMARY KEY CHECK (length(id) = 16),
  kind          INTEGER NOT NULL CHECK (kind IN (1, 2, 3)),
  parent        BLOB NOT NULL,
  name_tag      BLOB NOT NULL,
  prev_parent   BLOB,
  prev_name_tag BLOB,
  wrapped_key   BLOB,
  unlinked      INTEGER NOT NULL DEFAULT 0,
  mac           BLOB NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX objects_by_place ON objects (parent, name_tag);
CREATE TABLE long_names (
  backing TEXT PRIMARY KEY,
  encoded TEXT NOT NULL
) STRICT, WITHOUT ROWID;
)sql";

}  // namespace sqlite

namespace {

using sqlite::kSchemaVersion;

constexpr const char* kInsertObject =
    "INSERT INTO objects (id, kind, parent, name_tag, wrapped_key, mac) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
constexpr const char* kGetObject =
    "SELECT id, kind, parent, name_tag, prev_parent, prev_name_tag, wrapped_key, unlinked, mac "
    "FROM objects WHERE id = ?1";
constexpr const char* kFindObjectAt =
    "SELECT id, kind, parent, name_tag, prev_parent, prev_name_tag, wrapped_key, unlinked, mac "
    "FROM objects WHERE parent = ?1 AND name_tag = ?2 AND unlinked = 0";
constexpr const char* kListObjects =
    "SELECT id, kind, parent, name_tag, prev_parent, prev_name_tag, wrapped_key, unlinked, mac "
    "FROM objects";
constexpr const char* kRebind =
    "UPDATE objects SET parent = ?2, name_tag = ?3, prev_parent = ?4, prev_name_tag = ?5, mac = ?6, "
    "unlinked = 0 WHERE id = ?1";
constexpr const char* kSetUnlinked = "UPDATE objects SET unlinked = ?2, mac = ?3 WHERE id = ?1";
constexpr const char* kDeleteObject = "DELETE FROM objects WHERE id = ?1";
constexpr const char* kDestroyKey = "UPDATE objects SET wrapped_key = NULL WHERE id = ?1";
constexpr const char* kRekeyRow = "UPDATE objects SET wrapped_key = ?2, mac = ?3 WHERE id = ?1";
constexpr const char* kPutLongName =
    "INSERT INTO long_names (backing, encoded) VALUES (?1, ?2) "
    "ON CONFLICT (backing) DO UPDATE SET encoded = excluded.encoded";
constexpr const char* kGetLongName = "SELECT encoded FROM long_names WHERE backing = ?1";
constexpr const char* kDeleteLongName = "DELETE FROM long_names WHERE backing = ?1";
constexpr const char* kGetMeta = "SELECT value FROM meta WHERE key = ?1";
constexpr const char* kSetMeta =
    "INSERT INTO meta (key, value) VALUES (?1, ?2) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value";

// The schema version a store records, or 0 when it is not a number.
int ParseVersion(const std::string& text) {
  int v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return 0;
  return v;
}

class SqliteStore final : public Store {
 public:
  SqliteStore(sqlite::DbPtr db, const crypto::SecretKey* text_key)
      : db_(std::move(db)), policy_(sqlite::NewPolicyStore(db_, text_key)) {
    checkpointer_ = std::thread([this] { CheckpointLoop(); });
  }

  ~SqliteStore() override {
    {
      std::lock_guard lock(db_.mu());
      stopping_ = true;
    }
    cv_.notify_all();
    checkpointer_.join();
    std::lock_guard lock(db_.mu());
    if (deletions_pending_) CheckpointLocked();
  }

  Status Init(const std::string& vault_id, bool create) {
    std::lock_guard lock(db_.mu());
    for (const char* pragma :
         {"PRAGMA busy_timeout=2000", "PRAGMA locking_mode=EXCLUSIVE", "PRAGMA journal_mode=WAL",
          "PRAGMA synchronous=NORMAL", "PRAGMA secure_delete=ON", "PRAGMA foreign_keys=ON", "PRAGMA trusted_schema=OFF"}) {
      SR_RETURN_IF_ERROR(ExecLocked(pragma));
    }
    if (create) {
      // A new store runs the same steps as a migrated one, so the two cannot
      // drift apart.
      sqlite::Transaction txn(db_);
      SR_RETURN_IF_ERROR(txn.Begin());
      SR_RETURN_IF_ERROR(ExecLocked(sqlite::kSchemaV1));
      for (const char* step : sqlite::kMigrations) SR_RETURN_IF_ERROR(ExecLocked(step));
      SR_RETURN_IF_ERROR(SetMetaLocked("schema_version", std::to_string(kSchemaVersion)));
      SR_RETURN_IF_ERROR(SetMetaLocked("vault_id", vault_id));
      SR_RETURN_IF_ERROR(txn.Commit());
      return SyncLocked();
    }
    SR_RETURN_IF_ERROR(QuickCheckLocked());
    Result<std::string> version_text = GetMetaLocked("schema_version");
    const int version = version_text.ok() ? ParseVersion(*version_text) : 0;
    if (version > kSchemaVersion) {
      return Status::Integrity("the policy store has schema version " + std::to_string(version) +
                               ", newer than this strongroom");
    }
    if (version < 1) return Status::Integrity("the policy store has an unknown schema version");
    Result<std::string> id = GetMetaLocked("vault_id");
    if (!id.ok() || *id != vault_id) {
      return Status::Integrity("the policy store belongs to another vault");
    }
    if (version < kSchemaVersion) SR_RETURN_IF_ERROR(MigrateLocked(version));
    return Status::Ok();
  }

  PolicyStore& policy() override { return *policy_; }

  Status InsertObject(const ObjectRow& row) override {
    std::lock_guard lock(db_.mu());
    sqlite3_stmt* s = Prepare(kInsertObject);
    BindBlob(s, 1, row.id);
    sqlite3_bind_int(s, 2, static_cast<int>(row.kind));
    BindBlob(s, 3, row.place.parent);
    BindBlob(s, 4, row.place.name_tag);
    if (row.wrapped_key.empty()) {
      sqlite3_bind_null(s, 5);
    } else {
      BindBlob(s, 5, row.wrapped_key);
    }
    BindBlob(s, 6, row.mac);
    return StepDone(s, "insert object");
  }

  Result<ObjectRow> GetObject(const ObjectId& id) override {
    std::lock_guard lock(db_.mu());
    sqlite3_stmt* s = Prepare(kGetObject);
    BindBlob(s, 1, id);
    return StepRow(s);
  }

  Result<ObjectRow> FindObjectAt(const Place& place) override {
    std::lock_guard lock(db_.mu());
    sqlite3_stmt* s = Prepare(kFindObjectAt);
    BindBlob(s, 1, place.parent);
    BindBlob(s, 2, place.name_tag);
    return StepRow(s);
  }

  Result<ObjectRow> StepRow(sqlite3_stmt* s) {
    const int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
      sqlite3_reset(s);
      return Status::NotFound("no key row for this file");
    }
    if (rc != SQLITE_ROW) return StepError(s, "read object");
    ObjectRow row;
    const bool ok = ReadRow(s, &row);
    if (sqlite3_step(s) == SQLITE_ROW) {
      sqlite3_reset(s);
      return Status::Integrity("two objects in the policy store claim the same place");
    }
    sqlite3_reset(s);
    if (!ok) return Status::Integrity("malformed object row in the policy store");
    return row;
  }

  Result<std::vector<ObjectRow>> ListObjects() override {
    std::lock_guard lock(db_.mu());
    sqlite3_stmt* s = Prepare(kListObjects);
    std::vector<ObjectRow> rows;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      ObjectRow row;
      if (!ReadRow(s, &row)) {
        sqlite3_reset(s);
        return Status::Integrity("malformed object row in the policy store");
      }
      rows.push_back(std::move(row));
    }
    if (rc != SQLITE_DONE) return StepError(s, "list objects");
    sqlite3_reset(s);
    return rows;
  }

  Status Rebind(const ObjectId& id, const Place& place, const std::optional<Place>& previous,
                const Blob& mac) override {
    std::lock_guard lock(db_.mu());
    sqlite3_stmt* s = Prepare(kRebind);
    BindBlob(s, 1, id);
    BindBlob(s, 2, place.parent);
    BindBlob(s, 3, place.name_tag);
    if (previous) {
      BindBlob(s, 4, previous->parent);
      BindBlob(s, 5, previous->name_tag);
    } else {
      sqlite3_bind_null(s, 4);
      sqlite3_bind_null(s, 5);
    }
    BindBlob(s, 6, mac);
    return StepDone(s, "rebind object");
  }

  Status SetUnlinked(const ObjectId& id, bool unlinked, const Blob& mac) override {
    std::lock_guard lock(db_.mu());
    sqlite3_stmt* s = Prepare(kSetUnlinked);
    BindBlob(s, 1, id);
    sqlite3_bind_int(s, 2, unlinked ? 1 : 0);
    BindBlob(s, 3, mac);
    return StepDone(s, "mark unlinked");
  }

  Status DeleteObjects(const std::vector<ObjectId>& ids) override {
    if (ids.empty()) return Status::Ok();
    std::lock_guard lock(db_.mu());
    // Grants and labels on these objects go with them (cascade): then the
    // policy's seal is renewed in the same transaction.
    bool policy_changes = false;
    for (const ObjectId& id : ids) {
      Result<bool> on = sqlite::PolicyOnObjectLocked(*policy_, id);
      if (!on.ok()) return on.status();
      policy_changes = policy_changes || *on;
    }
    const bool batch = ids.size() > 1 || policy_changes;
    if (batch) SR_RETURN_IF_ERROR(ExecLocked("BEGIN IMMEDIATE"));
    Status st;
    for (const ObjectId& id : ids) {
      sqlite3_stmt* s = Prepare(kDeleteObject);
      BindBlob(s, 1, id);
      st = StepDone(s, "delete object");
      if (!st.ok()) break;
    }
    if (st.ok() && policy_changes) st = sqlite::ResealPolicyLocked(*policy_);
    if (batch) {
      Status end = ExecLocked(st.ok() ? "COMMIT" : "ROLLBACK");
      if (st.ok()) st = end;
    }
    if (st.ok()) {
      deletions_ += ids.size();
      // Wake the checkpointer only when it is idle; while it is waiting for
      // a pause it reads the counter itself (no wake-up per deletion).
      if (!deletions_pending_) {
        deletions_pending_ = true;
        cv_.notify_all();
      }
    }
    return st;
  }

  Status DestroyKeys(const std::vector<ObjectId>& ids) override {
    if (ids.empty()) return Status::Ok();
    std::lock_guard lock(db_.mu());
    SR_RETURN_IF_ERROR(ExecLocked("BEGIN IMMEDIATE"));
    Status st;
    for (const ObjectId& id : ids) {
      sqlite3_stmt* s = Prepare(kDestroyKey);
      BindBlob(s, 1, id);
      st = StepDone(s, "destroy data key");
      if (!st.ok()) break;
    }
    Status end = ExecLocked(st.ok() ? "COMMIT" : "ROLLBACK");
    if (st.ok()) st = end;
    if (st.ok() && !deletions_pending_) {
      deletions_pending_ = true;
      cv_.notify_all();
    }
    return st;
  }

  Status BackupTo(const std::string& path) override {
    std::lock_guard lock(db_.mu());
    return sqlite::BackupTo(db_.handle(), path);
  }

  Status Rekey(const std::vector<ObjectRow>& rows, PolicySealer sealer, const std::string& mark,
               const std::string& mark_value) override {
    std::lock_guard lock(db_.mu());
    // A rekey that does not commit leaves the store as it was, its sealer
    // included (the old rows key still seals the policy on disk); the lock
    // is held throughout, so no other change is sealed meanwhile.
    PolicySealer previous = sqlite::SetSealerLocked(*policy_, std::move(sealer));
    Status st = RekeyRowsLocked(rows, mark, mark_value);
    if (!st.ok()) sqlite::SetSealerLocked(*policy_, std::move(previous));
    // Back to the usual durability; a failure here changes nothing of what
    // committed.
    if (Status normal = ExecLocked("PRAGMA synchronous=NORMAL"); !normal.ok()) {
      spdlog::warn("after the rekey: {}", normal.ToString());
    }
    return st;
  }

  // The rekey's transaction (Rekey() swaps the sealer around it): OK once
  // it has committed, else rolled back.
  Status RekeyRowsLocked(const std::vector<ObjectRow>& rows, const std::string& mark, const std::string& mark_value) {
    // Durable at COMMIT: the config is switched only after it.
    SR_RETURN_IF_ERROR(ExecLocked("PRAGMA synchronous=FULL"));
    SR_RETURN_IF_ERROR(ExecLocked("BEGIN IMMEDIATE"));
    Status st;
    int64_t total = 0;
    {
      sqlite3_stmt* s = Prepare("SELECT count(*) FROM objects");
      if (s != nullptr && sqlite3_step(s) == SQLITE_ROW) total = sqlite3_column_int64(s, 0);
      if (s != nullptr) sqlite3_reset(s);
    }
    if (total != static_cast<int64_t>(rows.size())) {
      st = Status::Integrity("the store changed during the rekey (" + std::to_string(total) + " rows, " +
                             std::to_string(rows.size()) + " re-wrapped)");
    }
    for (size_t i = 0; st.ok() && i < rows.size(); ++i) {
      sqlite3_stmt* s = Prepare(kRekeyRow);
      BindBlob(s, 1, rows[i].id);
      if (rows[i].wrapped_key.empty()) {
        sqlite3_bind_null(s, 2);
      } else {
        BindBlob(s, 2, rows[i].wrapped_key);
      }
      BindBlob(s, 3, rows[i].mac);
      st = StepDone(s, "re-wrap a data key");
      if (st.ok() && sqlite3_changes(db_.handle()) != 1) st = Status::Integrity("a row vanished during the rekey");
    }
    if (st.ok()) st = sqlite::ResealPolicyLocked(*policy_);
    if (st.ok()) st = SetMetaLocked(mark, mark_value);
    if (st.ok()) st = ExecLocked("COMMIT");
    // A failed statement or COMMIT (SQLITE_BUSY leaves it open) is undone.
    if (!st.ok() && !sqlite3_get_autocommit(db_.handle())) (void)ExecLocked("ROLLBACK");
    return st;
  }

  Status PutLongName(const std::string& backing, const std::string& encoded) override {
    std::lock_guard lock(db_.mu());
    sqlite3_stmt* s = Prepare(kPutLongName);
    BindText(s, 1, backing);
    BindText(s, 2, encoded);
    return StepDone(s, "store long name");
  }

  Result<std::string> GetLongName(const std::string& backing) override {
    std::lock_guard lock(db_.mu());
    sqlite3_stmt* s = Prepare(kGetLongName);
    BindText(s, 1, backing);
    return StepText(s, "read long name");
  }

  Status DeleteLongName(const std::string& backing) override {
    std::lock_guard lock(db_.mu());
    sqlite3_stmt* s = Prepare(kDeleteLongName);
    BindText(s, 1, backing);
    return StepDone(s, "delete long name");
  }

  Result<std::string> GetMeta(const std::string& key) override {
    std::lock_guard lock(db_.mu());
    return GetMetaLocked(key);
  }

  Status SetMeta(const std::string& key, const std::string& value) override {
    std::lock_guard lock(db_.mu());
    return SetMetaLocked(key, value);
  }

  Status SyncDurable() override {
    std::lock_guard lock(db_.mu());
    return SyncLocked();
  }

  Status CheckpointTruncate() override {
    std::lock_guard lock(db_.mu());
    return CheckpointLocked();
  }

 private:
  // All steps from `version` to kSchemaVersion in one transaction: a failed
  // step leaves the store as it was.
  Status MigrateLocked(int version) {
    sqlite::Transaction txn(db_);
    SR_RETURN_IF_ERROR(txn.Begin());
    for (int v = version; v < kSchemaVersion; ++v) {
      Status st = ExecLocked(sqlite::kMigrations[v - 1]);
      if (!st.ok()) {
        return Status::Integrity("the policy store's migration to schema version " + std::to_string(v + 1) +
                                 " failed: " + st.message());
      }
    }
    SR_RETURN_IF_ERROR(SetMetaLocked("schema_version", std::to_string(kSchemaVersion)));
    SR_RETURN_IF_ERROR(txn.Commit());
    return SyncLocked();
  }

  // With synchronous=FULL a WAL commit fsyncs the WAL file, which makes every
  // earlier commit durable too; NORMAL is restored after that one commit.
  Status SyncLocked() {
    if (!db_.dirty()) return Status::Ok();
    SR_RETURN_IF_ERROR(ExecLocked("PRAGMA synchronous=FULL"));
    Status st = SetMetaLocked("durable_sync", "1");
    Status restore = ExecLocked("PRAGMA synchronous=NORMAL");
    SR_RETURN_IF_ERROR(st);
    SR_RETURN_IF_ERROR(restore);
    db_.set_dirty(false);
    return Status::Ok();
  }

  Status CheckpointLocked() {
    int log = 0, done = 0;
    const int rc = sqlite3_wal_checkpoint_v2(db_.handle(), nullptr, SQLITE_CHECKPOINT_TRUNCATE, &log, &done);
    if (rc != SQLITE_OK) return Status::Io(EIO, std::string("checkpoint: ") + sqlite3_errmsg(db_.handle()));
    deletions_pending_ = false;
    db_.set_dirty(false);  // a checkpoint syncs the database file
    return Status::Ok();
  }

  // Batches the checkpoints that follow key deletions: one once deletions
  // pause for 250 ms, and at least one every 2 s while they go on, so rm -rf
  // of many files does not stall on a checkpoint's fsyncs every few files.
  void CheckpointLoop() {
    using std::chrono::milliseconds;
    std::unique_lock lock(db_.mu());
    while (!stopping_) {
      cv_.wait(lock, [this] { return stopping_ || deletions_pending_; });
      const auto deadline = std::chrono::steady_clock::now() + milliseconds(2000);
      uint64_t seen;
      do {
        seen = deletions_;
        if (cv_.wait_for(lock, milliseconds(250), [this] { return stopping_; })) break;
      } while (deletions_ != seen && std::chrono::steady_clock::now() < deadline);
      if (stopping_) break;
      if (deletions_pending_) (void)CheckpointLocked();
    }
  }

  Status QuickCheckLocked() {
    sqlite3_stmt* s = Prepare("PRAGMA quick_check");
    Result<std::string> r = StepText(s, "check the policy store");
    // One line: SQLite's report lists every damaged cell.
    auto first_line = [](const std::string& text) {
      const std::string line = text.substr(0, text.find('\n'));
      return line.size() > 200 ? line.substr(0, 200) + "..." : line;
    };
    if (!r.ok()) return Status::Integrity("the policy store is corrupt: " + first_line(r.status().message()));
    if (*r != "ok") return Status::Integrity("the policy store is corrupt: " + first_line(*r));
    return Status::Ok();
  }

  Result<std::string> GetMetaLocked(const std::string& key) {
    sqlite3_stmt* s = Prepare(kGetMeta);
    if (s == nullptr) return Status::Integrity("the policy store has no meta table");
    BindText(s, 1, key);
    return StepText(s, "read meta");
  }

  Status SetMetaLocked(const std::string& key, const std::string& value) {
    sqlite3_stmt* s = Prepare(kSetMeta);
    if (s == nullptr) return Status::Integrity("the policy store has no meta table");
    BindText(s, 1, key);
    BindText(s, 2, value);
    return StepDone(s, "write meta");
  }

  Status ExecLocked(const char* sql) { return db_.Exec(sql); }
  sqlite3_stmt* Prepare(const char* sql) { return db_.Prepare(sql); }

  template <typename Range>
  static void BindBlob(sqlite3_stmt* s, int i, const Range& r) {
    sqlite3_bind_blob(s, i, r.data(), static_cast<int>(r.size()), SQLITE_TRANSIENT);
  }
  static void BindText(sqlite3_stmt* s, int i, const std::string& t) {
    sqlite3_bind_text(s, i, t.data(), static_cast<int>(t.size()), SQLITE_TRANSIENT);
  }

  Status StepDone(sqlite3_stmt* s, const char* what) {
    if (s == nullptr) return Status::Integrity(std::string(what) + ": the policy store's schema is damaged");
    const int rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc == SQLITE_DONE) {
      db_.set_dirty(true);
      return Status::Ok();
    }
    if (rc == SQLITE_CONSTRAINT) return Status::Exists(std::string(what) + ": already exists");
    if (rc == SQLITE_FULL) return Status::Io(ENOSPC, what);
    return Status::Io(EIO, std::string(what) + ": " + sqlite3_errstr(rc));
  }

  Status StepError(sqlite3_stmt* s, const char* what) {
    const int rc = sqlite3_reset(s);
    return Status::Io(EIO, std::string(what) + ": " + sqlite3_errstr(rc));
  }

  Result<std::string> StepText(sqlite3_stmt* s, const char* what) {
    if (s == nullptr) return Status::Integrity(std::string(what) + ": the policy store's schema is damaged");
    const int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
      sqlite3_reset(s);
      return Status::NotFound(std::string(what) + ": not found");
    }
    if (rc != SQLITE_ROW) return StepError(s, what);
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    std::string out = text != nullptr ? text : "";
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return out;
  }

  template <size_t N>
  static bool ReadFixed(sqlite3_stmt* s, int col, std::array<uint8_t, N>* out) {
    if (sqlite3_column_type(s, col) != SQLITE_BLOB || sqlite3_column_bytes(s, col) != static_cast<int>(N)) {
      return false;
    }
    std::memcpy(out->data(), sqlite3_column_blob(s, col), N);
    return true;
  }

  static bool ReadRow(sqlite3_stmt* s, ObjectRow* row) {
    if (!ReadFixed(s, 0, &row->id)) return false;
    row->kind = static_cast<ObjectKind>(sqlite3_column_int(s, 1));
    if (!ReadFixed(s, 2, &row->place.parent) || !ReadFixed(s, 3, &row->place.name_tag)) return false;
    if (sqlite3_column_type(s, 4) != SQLITE_NULL) {
      Place prev;
      if (!ReadFixed(s, 4, &prev.parent) || !ReadFixed(s, 5, &prev.name_tag)) return false;
      row->previous_place = prev;
    }
    if (sqlite3_column_type(s, 6) == SQLITE_BLOB) {
      const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(s, 6));
      row->wrapped_key.assign(p, p + sqlite3_column_bytes(s, 6));
    }
    row->unlinked = sqlite3_column_int(s, 7) != 0;
    if (sqlite3_column_type(s, 8) != SQLITE_BLOB) return false;
    const auto* mac = static_cast<const uint8_t*>(sqlite3_column_blob(s, 8));
    row->mac.assign(mac, mac + sqlite3_column_bytes(s, 8));
    return true;
  }

  sqlite::Db db_;  // its mutex guards everything below
  std::unique_ptr<PolicyStore> policy_;
  std::condition_variable cv_;
  bool deletions_pending_ = false;
  uint64_t deletions_ = 0;
  bool stopping_ = false;
  std::thread checkpointer_;
};

Result<std::unique_ptr<Store>> OpenImpl(const std::string& path, const std::string& vault_id,
                                        const crypto::SecretKey* text_key, bool create) {
  if (text_key != nullptr && text_key->size() != 64) {
    return Status::Invalid("the policy store's text key must be 64 bytes");
  }
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_NOMUTEX;
  if (create) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return Status::Io(errno, "create " + path);
    ::close(fd);
  } else {
    // Only a file that looks like an SQLite database is opened read-write:
    // SQLite would otherwise turn an empty or foreign file into a new
    // database, modifying what it was asked to check.
    const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return Status::Integrity("the policy store " + path + " is missing or unreadable");
    char magic[16] = {};
    const ssize_t n = ::pread(fd, magic, sizeof magic, 0);
    ::close(fd);
    if (n != static_cast<ssize_t>(sizeof magic) || std::memcmp(magic, "SQLite format 3", 16) != 0) {
      return Status::Integrity("the policy store " + path + " is not an SQLite database");
    }
  }
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  sqlite::DbPtr db(raw);
  if (rc != SQLITE_OK) {
    return Status::Integrity("cannot open the policy store: " +
                             std::string(raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  }
  sqlite3_extended_result_codes(db.get(), 0);
  auto store = std::make_unique<SqliteStore>(std::move(db), text_key);
  Status st = store->Init(vault_id, create);
  if (!st.ok()) {
    // Damage, a lock held by another process, I/O errors: each as itself.
    if (st.code() == Status::Code::kIntegrity || st.code() == Status::Code::kExists || st.code() == Status::Code::kIo) {
      return st;
    }
    return Status::Integrity("the policy store is unusable: " + st.ToString());
  }
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace

Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path, const std::string& vault_id,
                                               const crypto::SecretKey* text_key) {
  return OpenImpl(path, vault_id, text_key, false);
}

Result<std::unique_ptr<Store>> CreateSqliteStore(const std::string& path, const std::string& vault_id,
                                                 const crypto::SecretKey* text_key) {
  return OpenImpl(path, vault_id, text_key, true);
}

}  // namespace strongroom::acl
