// SqlitePolicyStore: the policy half of the SQLite store (acl/policy.h):
// users, teams, grants, labels, access requests, the viewer group and the
// viewer allow-list, in the same database as
// the object rows and on the same connection, serialised by the same mutex,
// so that a grant or label goes with its object (ON DELETE CASCADE).
//
// Names and reasons are sealed with AES-SIV under the text key. Names are
// sealed deterministically under a fixed AAD, so that UNIQUE constraints and
// lookups by name work on the sealed form; the price is that equal names
// have equal blobs, and that a blob moved to another row of the same table
// still opens (the AAD does not name the row). Reasons are bound to their
// request's ID. Viewer paths are sealed like names (UNIQUE on the sealed
// form), their labels bound to the viewer's ID.
#include <sqlite3.h>

#include <charconv>
#include <limits>
#include <map>
#include <mutex>
#include <string_view>

#include "acl/policy.h"
#include "acl/sqlite_db.h"
#include "crypto/primitives.h"

namespace strongroom::acl {
namespace sqlite {

// Schema version 2: the policy tables. Every foreign key column that a
// delete of an object cascades through has an index of its own, so deleting
// objects stays a lookup per table rather than a scan.
const char kPolicyTablesV2[] = R"sql(
CREATE TABLE users (
  uid        INTEGER PRIMARY KEY CHECK (uid >= 0),
  name       BLOB NOT NULL UNIQUE,
  role       INTEGER NOT NULL CHECK (role IN (0, 1, 2)),
  clearance  INTEGER NOT NULL CHECK (clearance BETWEEN 1 AND 3),
  enabled    INTEGER NOT NULL CHECK (enabled IN (0, 1)),
  created_at INTEGER NOT NULL,
  created_by INTEGER REFERENCES users (uid)
) STRICT;
CREATE TABLE teams (
  id         INTEGER PRIMARY KEY,
  name       BLOB NOT NULL UNIQUE,
  created_at INTEGER NOT NULL
) STRICT;
CREATE TABLE team_members (
  team INTEGER NOT NULL REFERENCES teams (id),
  uid  INTEGER NOT NULL REFERENCES users (uid),
  PRIMARY KEY (team, uid)
) STRICT, WITHOUT ROWID;
CREATE TABLE grants (
  object       BLOB NOT NULL REFERENCES objects (id) ON DELETE CASCADE,
  subject_uid  INTEGER REFERENCES users (uid),
  subject_team INTEGER REFERENCES teams (id),
  mode         INTEGER NOT NULL CHECK (mode BETWEEN 0 AND 4),
  until        INTEGER,
  granted_by   INTEGER NOT NULL REFERENCES users (uid),
  granted_at   INTEGER NOT NULL,
  CHECK ((subject_uid IS NULL) <> (subject_team IS NULL))
) STRICT;
CREATE INDEX grants_by_object ON grants (object);
CREATE UNIQUE INDEX grants_by_user ON grants (object, subject_uid) WHERE subject_uid IS NOT NULL;
CREATE UNIQUE INDEX grants_by_team ON grants (object, subject_team) WHERE subject_team IS NOT NULL;
CREATE TABLE labels (
  object BLOB PRIMARY KEY REFERENCES objects (id) ON DELETE CASCADE,
  level  INTEGER NOT NULL CHECK (level BETWEEN 1 AND 3),
  set_by INTEGER NOT NULL REFERENCES users (uid),
  set_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE TABLE requests (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  object          BLOB NOT NULL REFERENCES objects (id) ON DELETE CASCADE,
  uid             INTEGER NOT NULL REFERENCES users (uid),
  mode            INTEGER NOT NULL CHECK (mode BETWEEN 0 AND 4),
  reason          BLOB NOT NULL,
  state           INTEGER NOT NULL DEFAULT 0 CHECK (state IN (0, 1, 2)),
  created_at      INTEGER NOT NULL,
  decided_by      INTEGER REFERENCES users (uid),
  decided_at      INTEGER,
  decision_reason BLOB
) STRICT;
CREATE INDEX requests_by_object ON requests (object);
)sql";

// Schema version 3: the viewer allow-list (view-only mode). The viewer
// group is kept in meta ('viewer_gid', 'viewer_group'); both are sealed
// with the rest of the policy.
const char kViewerTablesV3[] = R"sql(
CREATE TABLE viewers (
  id       INTEGER PRIMARY KEY AUTOINCREMENT,
  path     BLOB NOT NULL UNIQUE,
  label    BLOB NOT NULL,
  sha256   BLOB NOT NULL CHECK (length(sha256) = 32),
  added_by INTEGER NOT NULL REFERENCES users (uid),
  added_at INTEGER NOT NULL
) STRICT;
)sql";

// Schema version 4: retention holds and witnessed requests (destructions
// and early releases), their items and witnesses. Items keep the object ID
// of what they destroyed (no foreign key: the object goes, the record
// stays).
const char kDestructionTablesV4[] = R"sql(
CREATE TABLE holds (
  object BLOB PRIMARY KEY REFERENCES objects (id) ON DELETE CASCADE,
  until  INTEGER NOT NULL,
  set_by INTEGER NOT NULL REFERENCES users (uid),
  set_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE TABLE destructions (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
  kind             INTEGER NOT NULL CHECK (kind IN (0, 1)),
  uid              INTEGER NOT NULL REFERENCES users (uid),
  reason           BLOB NOT NULL,
  state            INTEGER NOT NULL DEFAULT 0 CHECK (state BETWEEN 0 AND 4),
  witnesses_needed INTEGER NOT NULL CHECK (witnesses_needed BETWEEN 1 AND 16),
  created_at       INTEGER NOT NULL,
  approved_at      INTEGER,
  completed_at     INTEGER,
  closed_by        INTEGER REFERENCES users (uid),
  close_reason     BLOB,
  hold_until       INTEGER,
  certificate      BLOB,
  certificate_mac  BLOB
) STRICT;
CREATE INDEX destructions_open ON destructions (state) WHERE state IN (0, 1);
CREATE TABLE destruction_items (
  destruction     INTEGER NOT NULL REFERENCES destructions (id),
  seq             INTEGER NOT NULL,
  root            INTEGER NOT NULL,
  object          BLOB NOT NULL CHECK (length(object) = 16),
  kind            INTEGER NOT NULL CHECK (kind IN (1, 2, 3)),
  path            BLOB NOT NULL,
  ciphertext_size INTEGER,
  sha256          BLOB,
  state           INTEGER NOT NULL DEFAULT 0 CHECK (state BETWEEN 0 AND 5),
  PRIMARY KEY (destruction, seq)
) STRICT, WITHOUT ROWID;
CREATE TABLE destruction_witnesses (
  destruction INTEGER NOT NULL REFERENCES destructions (id),
  uid         INTEGER NOT NULL REFERENCES users (uid),
  at          INTEGER NOT NULL,
  PRIMARY KEY (destruction, uid)
) STRICT, WITHOUT ROWID;
)sql";

}  // namespace sqlite

namespace {

using sqlite::Stmt;
using sqlite::Transaction;

constexpr const char* kInsertUser =
    "INSERT INTO users (uid, name, role, clearance, enabled, created_at, created_by) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
constexpr const char* kUpdateUser = "UPDATE users SET role = ?2, clearance = ?3, enabled = ?4 WHERE uid = ?1";
constexpr const char* kListUsers =
    "SELECT uid, name, role, clearance, enabled, created_at, created_by FROM users ORDER BY uid";
constexpr const char* kInsertTeam = "INSERT INTO teams (name, created_at) VALUES (?1, ?2)";
constexpr const char* kListTeams = "SELECT id, name FROM teams ORDER BY id";
constexpr const char* kInsertTeamMember = "INSERT INTO team_members (team, uid) VALUES (?1, ?2)";
constexpr const char* kDeleteTeamMember = "DELETE FROM team_members WHERE team = ?1 AND uid = ?2";
constexpr const char* kListTeamMembers = "SELECT team, uid FROM team_members ORDER BY team, uid";
constexpr const char* kInsertGrant =
    "INSERT INTO grants (object, subject_uid, subject_team, mode, until, granted_by, granted_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
constexpr const char* kDeleteUserGrant = "DELETE FROM grants WHERE object = ?1 AND subject_uid = ?2";
constexpr const char* kDeleteTeamGrant = "DELETE FROM grants WHERE object = ?1 AND subject_team = ?2";
constexpr const char* kListGrants =
    "SELECT object, subject_uid, subject_team, mode, until, granted_by, granted_at FROM grants ORDER BY rowid";
constexpr const char* kPutLabel =
    "INSERT INTO labels (object, level, set_by, set_at) VALUES (?1, ?2, ?3, ?4) "
    "ON CONFLICT (object) DO UPDATE SET level = excluded.level, set_by = excluded.set_by, "
    "set_at = excluded.set_at";
constexpr const char* kDeleteLabel = "DELETE FROM labels WHERE object = ?1";
constexpr const char* kListLabels = "SELECT object, level, set_by, set_at FROM labels";
constexpr const char* kInsertRequest =
    "INSERT INTO requests (object, uid, mode, reason, created_at) VALUES (?1, ?2, ?3, ?4, ?5)";
constexpr const char* kSetRequestReason = "UPDATE requests SET reason = ?2 WHERE id = ?1";
constexpr const char* kGetRequest =
    "SELECT id, object, uid, mode, reason, state, created_at, decided_by, decided_at, decision_reason "
    "FROM requests WHERE id = ?1";
constexpr const char* kListRequests =
    "SELECT id, object, uid, mode, reason, state, created_at, decided_by, decided_at, decision_reason "
    "FROM requests ORDER BY id";
constexpr const char* kListPendingRequests =
    "SELECT id, object, uid, mode, reason, state, created_at, decided_by, decided_at, decision_reason "
    "FROM requests WHERE state = 0 ORDER BY id";
constexpr const char* kDecideRequest =
    "UPDATE requests SET state = ?2, decided_by = ?3, decided_at = ?4, decision_reason = ?5 "
    "WHERE id = ?1 AND state = 0";
constexpr const char* kRequestExists = "SELECT 1 FROM requests WHERE id = ?1";
constexpr const char* kGetPolicySeal = "SELECT value FROM meta WHERE key = 'policy_mac'";
constexpr const char* kPutPolicySeal =
    "INSERT INTO meta (key, value) VALUES ('policy_mac', ?1) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value";
constexpr const char* kGetViewerGroup =
    "SELECT (SELECT value FROM meta WHERE key = 'viewer_gid'), (SELECT value FROM meta WHERE key = 'viewer_group')";
constexpr const char* kPutViewerGid =
    "INSERT INTO meta (key, value) VALUES ('viewer_gid', ?1) ON CONFLICT (key) DO UPDATE SET value = excluded.value";
constexpr const char* kPutViewerGroupName =
    "INSERT INTO meta (key, value) VALUES ('viewer_group', ?1) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value";
constexpr const char* kInsertViewer =
    "INSERT INTO viewers (path, label, sha256, added_by, added_at) VALUES (?1, x'', ?2, ?3, ?4) "
    "ON CONFLICT (path) DO UPDATE SET sha256 = excluded.sha256, added_by = excluded.added_by, "
    "added_at = excluded.added_at RETURNING id";
constexpr const char* kSetViewerLabel = "UPDATE viewers SET label = ?2 WHERE id = ?1";
constexpr const char* kDeleteViewer = "DELETE FROM viewers WHERE id = ?1";
constexpr const char* kListViewers = "SELECT id, path, label, sha256, added_by, added_at FROM viewers ORDER BY id";
constexpr const char* kPolicyOnObject =
    "SELECT EXISTS (SELECT 1 FROM grants WHERE object = ?1) OR EXISTS (SELECT 1 FROM labels WHERE object = ?1) "
    "OR EXISTS (SELECT 1 FROM holds WHERE object = ?1)";
constexpr const char* kPutHold =
    "INSERT INTO holds (object, until, set_by, set_at) VALUES (?1, ?2, ?3, ?4) "
    "ON CONFLICT (object) DO UPDATE SET until = excluded.until, set_by = excluded.set_by, set_at = excluded.set_at";
constexpr const char* kDeleteHold = "DELETE FROM holds WHERE object = ?1";
constexpr const char* kListHolds = "SELECT object, until, set_by, set_at FROM holds ORDER BY object";
constexpr const char* kGetWitnessesSetting = "SELECT value FROM meta WHERE key = 'setting.witnesses'";
constexpr const char* kPutWitnessesSetting =
    "INSERT INTO meta (key, value) VALUES ('setting.witnesses', ?1) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value";
constexpr const char* kListFrozen =
    "SELECT d.id, d.state, i.object FROM destructions d JOIN destruction_items i ON i.destruction = d.id "
    "WHERE d.state IN (0, 1) AND d.kind = 0 AND i.root = i.seq ORDER BY d.id, i.seq";
constexpr const char* kInsertDestruction =
    "INSERT INTO destructions (kind, uid, reason, witnesses_needed, created_at, hold_until) "
    "VALUES (?1, ?2, x'', ?3, ?4, ?5)";
constexpr const char* kSetDestructionReason = "UPDATE destructions SET reason = ?2 WHERE id = ?1";
constexpr const char* kInsertItem =
    "INSERT INTO destruction_items (destruction, seq, root, object, kind, path) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
constexpr const char* kGetDestruction =
    "SELECT id, kind, uid, reason, state, witnesses_needed, created_at, approved_at, completed_at, closed_by, "
    "close_reason, hold_until, certificate, certificate_mac, "
    "(SELECT count(*) FROM destruction_items i WHERE i.destruction = destructions.id) FROM destructions WHERE id = ?1";
constexpr const char* kListDestructions =
    "SELECT id, kind, uid, reason, state, witnesses_needed, created_at, approved_at, completed_at, closed_by, "
    "close_reason, hold_until, certificate, certificate_mac, "
    "(SELECT count(*) FROM destruction_items i WHERE i.destruction = destructions.id) FROM destructions ORDER BY id";
constexpr const char* kListOpenDestructions =
    "SELECT id, kind, uid, reason, state, witnesses_needed, created_at, approved_at, completed_at, closed_by, "
    "close_reason, hold_until, certificate, certificate_mac, "
    "(SELECT count(*) FROM destruction_items i WHERE i.destruction = destructions.id) FROM destructions "
    "WHERE state IN (0, 1) ORDER BY id";
constexpr const char* kListItems =
    "SELECT seq, root, object, kind, path, ciphertext_size, sha256, state FROM destruction_items "
    "WHERE destruction = ?1 ORDER BY seq";
constexpr const char* kListWitnesses =
    "SELECT uid, at FROM destruction_witnesses WHERE destruction = ?1 ORDER BY at, uid";
constexpr const char* kInsertWitness = "INSERT INTO destruction_witnesses (destruction, uid, at) VALUES (?1, ?2, ?3)";
constexpr const char* kDestructionState = "SELECT state FROM destructions WHERE id = ?1";
constexpr const char* kSetDestructionState =
    "UPDATE destructions SET state = ?2, approved_at = coalesce(approved_at, ?3), completed_at = ?4 "
    "WHERE id = ?1 AND state = ?5";
constexpr const char* kCloseDestruction =
    "UPDATE destructions SET state = ?2, closed_by = ?3, completed_at = ?4, close_reason = ?5 "
    "WHERE id = ?1 AND state = 0";
constexpr const char* kUpdateItem =
    "UPDATE destruction_items SET path = ?3, ciphertext_size = ?4, sha256 = ?5, state = ?6 "
    "WHERE destruction = ?1 AND seq = ?2";
constexpr const char* kStoreCertificate =
    "UPDATE destructions SET certificate = ?2, certificate_mac = ?3, completed_at = ?4 WHERE id = ?1 AND state = 1";
constexpr const char* kMarkDone = "UPDATE destructions SET state = 2 WHERE id = ?1 AND state = 1";
// What the seal covers of the retention and destruction tables: every row
// as stored, in a fixed order.
constexpr const char* kWitnessedTables[] = {
    "SELECT object, until, set_by, set_at FROM holds ORDER BY object",
    "SELECT id, kind, uid, reason, state, witnesses_needed, created_at, approved_at, completed_at, closed_by, "
    "close_reason, hold_until, certificate, certificate_mac FROM destructions ORDER BY id",
    "SELECT destruction, seq, root, object, kind, path, ciphertext_size, sha256, state FROM destruction_items "
    "ORDER BY destruction, seq",
    "SELECT destruction, uid, at FROM destruction_witnesses ORDER BY destruction, uid",
};

constexpr std::string_view kUserNameAad = "strongroom/v1/user-name";
constexpr std::string_view kTeamNameAad = "strongroom/v1/team-name";
constexpr std::string_view kViewerPathAad = "strongroom/v1/viewer-path";

std::string RequestReasonAad(int64_t id) { return "strongroom/v1/request-reason/" + std::to_string(id); }
std::string DecisionReasonAad(int64_t id) { return "strongroom/v1/decision-reason/" + std::to_string(id); }
std::string ViewerLabelAad(int64_t id) { return "strongroom/v1/viewer-label/" + std::to_string(id); }
std::string DestructionReasonAad(int64_t id) { return "strongroom/v1/destruction-reason/" + std::to_string(id); }
std::string CloseReasonAad(int64_t id) { return "strongroom/v1/destruction-close-reason/" + std::to_string(id); }
std::string ItemPathAad(int64_t id, int64_t seq) {
  return "strongroom/v1/destruction-path/" + std::to_string(id) + "/" + std::to_string(seq);
}
std::string CertificateAad(int64_t id) { return "strongroom/v1/destruction-certificate/" + std::to_string(id); }

// Appends a value to a canonical encoding: a type byte, then 8-byte
// big-endian integers or length-prefixed bytes.
void EncodeColumn(sqlite3_stmt* s, int col, crypto::Bytes* out) {
  const int type = sqlite3_column_type(s, col);
  out->push_back(static_cast<uint8_t>(type));
  auto put64 = [out](uint64_t v) {
    for (int i = 7; i >= 0; --i) out->push_back(static_cast<uint8_t>(v >> (8 * i)));
  };
  if (type == SQLITE_INTEGER) {
    put64(static_cast<uint64_t>(sqlite3_column_int64(s, col)));
  } else if (type == SQLITE_BLOB || type == SQLITE_TEXT) {
    const auto* p = static_cast<const uint8_t*>(type == SQLITE_BLOB ? sqlite3_column_blob(s, col)
                                                                    : sqlite3_column_text(s, col));
    const int n = sqlite3_column_bytes(s, col);
    put64(static_cast<uint64_t>(n));
    if (p != nullptr) out->insert(out->end(), p, p + n);
  } else if (type == SQLITE_FLOAT) {
    // Not stored by Strongroom (STRICT tables have no REAL columns): encoded
    // as its text, so a planted one still changes the digest.
    const auto* t = sqlite3_column_text(s, col);
    const int n = sqlite3_column_bytes(s, col);
    put64(static_cast<uint64_t>(n));
    if (t != nullptr) out->insert(out->end(), t, t + n);
  }
}


// A CHECK or NOT NULL refusal is a bad argument; anything else goes to the
// generic mapping.
Status WriteError(int rc, const std::string& what) {
  if (rc == SQLITE_CONSTRAINT_CHECK || rc == SQLITE_CONSTRAINT_NOTNULL) {
    return Status::Invalid(what + ": a value is out of range");
  }
  return sqlite::StepStatus(rc, what);
}

Status Malformed(const char* table) {
  return Status::Integrity(std::string("malformed ") + table + " row in the policy store");
}

bool ReadUid(Stmt& s, int col, Uid* out) {
  if (sqlite3_column_type(s.get(), col) != SQLITE_INTEGER) return false;
  const int64_t v = s.Int(col);
  if (v < 0 || v > std::numeric_limits<Uid>::max()) return false;
  *out = static_cast<Uid>(v);
  return true;
}

bool ReadOptionalUid(Stmt& s, int col, std::optional<Uid>* out) {
  if (s.IsNull(col)) {
    out->reset();
    return true;
  }
  Uid uid;
  if (!ReadUid(s, col, &uid)) return false;
  *out = uid;
  return true;
}

bool ReadInRange(Stmt& s, int col, int lo, int hi, int* out) {
  if (sqlite3_column_type(s.get(), col) != SQLITE_INTEGER) return false;
  const int64_t v = s.Int(col);
  if (v < lo || v > hi) return false;
  *out = static_cast<int>(v);
  return true;
}

bool ReadObjectId(Stmt& s, int col, ObjectId* out) {
  if (!s.IsBlob(col)) return false;
  const std::span<const uint8_t> b = s.Blob(col);
  if (b.size() != out->size()) return false;
  std::copy(b.begin(), b.end(), out->begin());
  return true;
}

std::optional<int64_t> ReadOptionalInt(Stmt& s, int col) {
  if (s.IsNull(col)) return std::nullopt;
  return s.Int(col);
}

// Keeps the database's single connection (shared with SqliteStore) for the
// policy tables. Thread-safe: every call holds the connection's mutex; names
// and reasons are sealed and opened with the text key, a private clone.
class SqlitePolicyStore final : public PolicyStore {
 public:
  SqlitePolicyStore(sqlite::Db& db, const crypto::SecretKey* text_key) : db_(db) {
    if (text_key != nullptr) key_ = text_key->Clone();
  }

  PolicySealer SetSealer(PolicySealer sealer) override {
    std::lock_guard lock(db_.mu());
    return SetSealerLocked(std::move(sealer));
  }
  PolicySealer SetSealerLocked(PolicySealer sealer) { return std::exchange(sealer_, std::move(sealer)); }

  Result<PolicyData> LoadPolicy() override {
    SR_RETURN_IF_ERROR(CheckKey());
    PolicyData data;
    std::lock_guard lock(db_.mu());
    // One read transaction, so the tables are seen at one point in time.
    Transaction txn(db_);
    SR_RETURN_IF_ERROR(txn.Begin("BEGIN"));
    SR_RETURN_IF_ERROR(LoadAllLocked(&data));
    Result<std::optional<std::string>> sealed = GetSealLocked();
    if (!sealed.ok()) return sealed.status();
    SR_RETURN_IF_ERROR(txn.Commit());
    if (!sealer_) return data;
    const std::string mac = crypto::HexEncode(sealer_(data));
    if (!*sealed) {
      // Never sealed: a store migrated from schema 1, whose policy is empty.
      // A policy with anything in it and no seal was tampered with.
      if (!data.users.empty() || !data.teams.empty() || !data.grants.empty() || !data.labels.empty() ||
          data.viewer_group || !data.viewers.empty() || !data.witnessed_digest.empty()) {
        return Status::Integrity("the policy (users, teams, grants, labels, viewers, holds or destruction records) "
                                 "has lost its seal");
      }
      Transaction seal(db_);
      SR_RETURN_IF_ERROR(seal.Begin());
      SR_RETURN_IF_ERROR(PutSealLocked(mac));
      SR_RETURN_IF_ERROR(seal.Commit());
      return data;
    }
    if (**sealed != mac) {
      return Status::Integrity(
          "the policy (users, teams, grants, labels or viewers) was changed outside Strongroom");
    }
    return data;
  }

  // Stores the MAC of the policy as it is now; inside the caller's
  // transaction, under its lock.
  Status ResealLocked() {
    if (!sealer_) return Status::Ok();
    PolicyData data;
    SR_RETURN_IF_ERROR(LoadAllLocked(&data));
    return PutSealLocked(crypto::HexEncode(sealer_(data)));
  }

  Result<bool> PolicyOnLocked(const ObjectId& id) {
    Stmt s(db_, kPolicyOnObject);
    if (!s.ok()) return sqlite::SchemaDamaged("look up policy on an object");
    s.BindBlob(1, id);
    const int rc = s.Step();
    if (rc != SQLITE_ROW) return sqlite::StepStatus(rc, "look up policy on an object");
    return s.Int(0) != 0;
  }

  Status AddUser(const User& user) override {
    SR_RETURN_IF_ERROR(CheckKey());
    Result<crypto::Bytes> name = SealName(kUserNameAad, user.name, "user name");
    if (!name.ok()) return name.status();
    std::lock_guard lock(db_.mu());
    return Sealed([&]() -> Status {
      Stmt s(db_, kInsertUser);
      if (!s.ok()) return sqlite::SchemaDamaged("add user");
      s.Bind(1, user.uid);
      s.BindBlob(2, *name);
      s.Bind(3, static_cast<int>(user.role));
      s.Bind(4, user.clearance);
      s.Bind(5, user.enabled ? 1 : 0);
      s.Bind(6, user.created_at);
      if (user.created_by) {
        s.Bind(7, *user.created_by);
      } else {
        s.BindNull(7);
      }
      const int rc = s.Step();
      if (rc == SQLITE_DONE) return Status::Ok();
      if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
        return Status::Exists("uid " + std::to_string(user.uid) + " is already taken");
      }
      if (rc == SQLITE_CONSTRAINT_UNIQUE) return Status::Exists("user name is already taken");
      if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
        return Status::NotFound("add user: no user with uid " + std::to_string(user.created_by.value_or(0)));
      }
      return WriteError(rc, "add user");
    });
  }

  Status UpdateUser(const User& user) override {
    SR_RETURN_IF_ERROR(CheckKey());
    std::lock_guard lock(db_.mu());
    return Sealed([&]() -> Status {
      Stmt s(db_, kUpdateUser);
      if (!s.ok()) return sqlite::SchemaDamaged("update user");
      s.Bind(1, user.uid);
      s.Bind(2, static_cast<int>(user.role));
      s.Bind(3, user.clearance);
      s.Bind(4, user.enabled ? 1 : 0);
      const int rc = s.Step();
      if (rc != SQLITE_DONE) return WriteError(rc, "update user");
      if (sqlite3_changes(db_.handle()) == 0) {
        return Status::NotFound("no user with uid " + std::to_string(user.uid));
      }
      return Status::Ok();
    });
  }

  Result<TeamId> AddTeam(const std::string& name, Time now) override {
    SR_RETURN_IF_ERROR(CheckKey());
    Result<crypto::Bytes> sealed = SealName(kTeamNameAad, name, "team name");
    if (!sealed.ok()) return sealed.status();
    std::lock_guard lock(db_.mu());
    TeamId id = 0;
    Status st = Sealed([&]() -> Status {
      Stmt s(db_, kInsertTeam);
      if (!s.ok()) return sqlite::SchemaDamaged("add team");
      s.BindBlob(1, *sealed);
      s.Bind(2, now);
      const int rc = s.Step();
      if (rc == SQLITE_CONSTRAINT_UNIQUE) return Status::Exists("team name is already taken");
      if (rc != SQLITE_DONE) return WriteError(rc, "add team");
      id = static_cast<TeamId>(sqlite3_last_insert_rowid(db_.handle()));
      return Status::Ok();
    });
    if (!st.ok()) return st;
    return id;
  }

  Status AddTeamMember(TeamId team, Uid uid) override {
    SR_RETURN_IF_ERROR(CheckKey());
    std::lock_guard lock(db_.mu());
    return Sealed([&]() -> Status {
      Stmt s(db_, kInsertTeamMember);
      if (!s.ok()) return sqlite::SchemaDamaged("add team member");
      s.Bind(1, team);
      s.Bind(2, uid);
      const int rc = s.Step();
      if (rc == SQLITE_DONE) return Status::Ok();
      if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
        return Status::Exists("uid " + std::to_string(uid) + " is already a member of team " + std::to_string(team));
      }
      if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
        return Status::NotFound("add team member: no team " + std::to_string(team) + " or no user with uid " +
                                std::to_string(uid));
      }
      return WriteError(rc, "add team member");
    });
  }

  Status RemoveTeamMember(TeamId team, Uid uid) override {
    SR_RETURN_IF_ERROR(CheckKey());
    std::lock_guard lock(db_.mu());
    return Sealed([&]() -> Status {
      Stmt s(db_, kDeleteTeamMember);
      if (!s.ok()) return sqlite::SchemaDamaged("remove team member");
      s.Bind(1, team);
      s.Bind(2, uid);
      const int rc = s.Step();
      if (rc != SQLITE_DONE) return WriteError(rc, "remove team member");
      if (sqlite3_changes(db_.handle()) == 0) {
        return Status::NotFound("uid " + std::to_string(uid) + " is not a member of team " + std::to_string(team));
      }
      return Status::Ok();
    });
  }

  Status PutGrant(const Grant& grant) override {
    SR_RETURN_IF_ERROR(CheckKey());
    SR_RETURN_IF_ERROR(CheckSubject(grant.subject));
    std::lock_guard lock(db_.mu());
    Transaction txn(db_);
    SR_RETURN_IF_ERROR(txn.Begin());
    SR_RETURN_IF_ERROR(PutGrantLocked(grant));
    SR_RETURN_IF_ERROR(ResealLocked());
    return txn.Commit();
  }

  Status DeleteGrant(const ObjectId& object, const Subject& subject) override {
    SR_RETURN_IF_ERROR(CheckKey());
    SR_RETURN_IF_ERROR(CheckSubject(subject));
    std::lock_guard lock(db_.mu());
    return Sealed([&]() -> Status {
      SR_RETURN_IF_ERROR(DeleteGrantLocked(object, subject));
      if (sqlite3_changes(db_.handle()) == 0) return Status::NotFound("no such grant");
      return Status::Ok();
    });
  }

  Status PutLabel(const Label& label) override {
    SR_RETURN_IF_ERROR(CheckKey());
    if (label.level < kMinLevel || label.level > kMaxLevel) {
      return Status::Invalid("label level " + std::to_string(label.level) + " is out of range");
    }
    std::lock_guard lock(db_.mu());
    return Sealed([&]() -> Status {
      if (label.level == kMinLevel) {
        Stmt s(db_, kDeleteLabel);
        if (!s.ok()) return sqlite::SchemaDamaged("remove label");
        s.BindBlob(1, label.object);
        const int rc = s.Step();
        return rc == SQLITE_DONE ? Status::Ok() : WriteError(rc, "remove label");
      }
      Stmt s(db_, kPutLabel);
      if (!s.ok()) return sqlite::SchemaDamaged("set label");
      s.BindBlob(1, label.object);
      s.Bind(2, label.level);
      s.Bind(3, label.set_by);
      s.Bind(4, label.set_at);
      const int rc = s.Step();
      if (rc == SQLITE_DONE) return Status::Ok();
      if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
        return Status::NotFound("set label: the object or the user setting it does not exist");
      }
      return WriteError(rc, "set label");
    });
  }

  Result<int64_t> AddRequest(const AccessRequest& request) override {
    SR_RETURN_IF_ERROR(CheckKey());
    std::lock_guard lock(db_.mu());
    // The reason is sealed to the request's ID, known once the row exists.
    Transaction txn(db_);
    SR_RETURN_IF_ERROR(txn.Begin());
    int64_t id;
    {
      Stmt s(db_, kInsertRequest);
      if (!s.ok()) return sqlite::SchemaDamaged("add request");
      s.BindBlob(1, request.object);
      s.Bind(2, request.uid);
      s.Bind(3, static_cast<int>(request.mode));
      s.BindBlob(4, std::span<const uint8_t>());
      s.Bind(5, request.created_at);
      const int rc = s.Step();
      if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
        return Status::NotFound("add request: the object or the requesting user does not exist");
      }
      if (rc != SQLITE_DONE) return WriteError(rc, "add request");
      id = sqlite3_last_insert_rowid(db_.handle());
    }
    if (!request.reason.empty()) {
      Result<crypto::Bytes> reason = SealText(RequestReasonAad(id), request.reason);
      if (!reason.ok()) return reason.status();
      Stmt s(db_, kSetRequestReason);
      if (!s.ok()) return sqlite::SchemaDamaged("add request");
      s.Bind(1, id);
      s.BindBlob(2, *reason);
      const int rc = s.Step();
      if (rc != SQLITE_DONE) return WriteError(rc, "add request");
    }
    SR_RETURN_IF_ERROR(txn.Commit());
    return id;
  }

  Result<AccessRequest> GetRequest(int64_t id) override {
    SR_RETURN_IF_ERROR(CheckKey());
    std::lock_guard lock(db_.mu());
    Stmt s(db_, kGetRequest);
    if (!s.ok()) return sqlite::SchemaDamaged("read request");
    s.Bind(1, id);
    const int rc = s.Step();
    if (rc == SQLITE_DONE) return Status::NotFound("no request " + std::to_string(id));
    if (rc != SQLITE_ROW) return sqlite::StepStatus(rc, "read request");
    AccessRequest request;
    SR_RETURN_IF_ERROR(ReadRequest(s, &request));
    return request;
  }

  Result<std::vector<AccessRequest>> ListRequests(bool pending_only) override {
    SR_RETURN_IF_ERROR(CheckKey());
    std::lock_guard lock(db_.mu());
    Stmt s(db_, pending_only ? kListPendingRequests : kListRequests);
    if (!s.ok()) return sqlite::SchemaDamaged("list requests");
    std::vector<AccessRequest> requests;
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) {
      AccessRequest request;
      SR_RETURN_IF_ERROR(ReadRequest(s, &request));
      requests.push_back(std::move(request));
    }
    if (rc != SQLITE_DONE) return sqlite::StepStatus(rc, "list requests");
    return requests;
  }

  Status DecideRequest(const AccessRequest& decided, const std::optional<Grant>& grant) override {
    SR_RETURN_IF_ERROR(CheckKey());
    if (decided.state == RequestState::kPending) {
      return Status::Invalid("a decision must approve or deny the request");
    }
    if (grant) SR_RETURN_IF_ERROR(CheckSubject(grant->subject));
    const std::string what = "decide request " + std::to_string(decided.id);
    Result<crypto::Bytes> reason = SealText(DecisionReasonAad(decided.id), decided.decision_reason);
    if (!reason.ok()) return reason.status();
    std::lock_guard lock(db_.mu());
    Transaction txn(db_);
    SR_RETURN_IF_ERROR(txn.Begin());
    {
      Stmt s(db_, kDecideRequest);
      if (!s.ok()) return sqlite::SchemaDamaged(what);
      s.Bind(1, decided.id);
      s.Bind(2, static_cast<int>(decided.state));
      if (decided.decided_by) {
        s.Bind(3, *decided.decided_by);
      } else {
        s.BindNull(3);
      }
      if (decided.decided_at) {
        s.Bind(4, *decided.decided_at);
      } else {
        s.BindNull(4);
      }
      s.BindBlob(5, *reason);
      const int rc = s.Step();
      if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
        return Status::NotFound(what + ": the deciding user does not exist");
      }
      if (rc != SQLITE_DONE) return WriteError(rc, what);
    }
    if (sqlite3_changes(db_.handle()) == 0) {
      Stmt s(db_, kRequestExists);
      if (!s.ok()) return sqlite::SchemaDamaged(what);
      s.Bind(1, decided.id);
      const int rc = s.Step();
      if (rc == SQLITE_DONE) return Status::NotFound("no request " + std::to_string(decided.id));
      if (rc != SQLITE_ROW) return sqlite::StepStatus(rc, what);
      return Status::Exists("request " + std::to_string(decided.id) + " was already decided");
    }
    if (grant) {
      SR_RETURN_IF_ERROR(PutGrantLocked(*grant));
      SR_RETURN_IF_ERROR(ResealLocked());
    }
    return txn.Commit();
  }

  Status SetViewerGroup(const ViewerGroup& group) override {
    SR_RETURN_IF_ERROR(CheckKey());
    if (group.name.empty()) return Status::Invalid("a viewer group needs a name");
    std::lock_guard lock(db_.mu());
    return Sealed([&]() -> Status {
      for (auto [sql, value] : {std::pair{kPutViewerGid, std::to_string(group.gid)}, std::pair{kPutViewerGroupName, group.name}}) {
        Stmt s(db_, sql);
        if (!s.ok()) return sqlite::SchemaDamaged("set the viewer group");
        s.BindText(1, value);
        const int rc = s.Step();
        if (rc != SQLITE_DONE) return WriteError(rc, "set the viewer group");
      }
      return Status::Ok();
    });
  }

  Result<int64_t> PutViewer(const Viewer& viewer) override {
    SR_RETURN_IF_ERROR(CheckKey());
    Result<crypto::Bytes> path = SealName(kViewerPathAad, viewer.path, "viewer path");
    if (!path.ok()) return path.status();
    if (viewer.label.empty()) return Status::Invalid("a viewer needs a label");
    std::lock_guard lock(db_.mu());
    int64_t id = 0;
    Status st = Sealed([&]() -> Status {
      {
        Stmt s(db_, kInsertViewer);
        if (!s.ok()) return sqlite::SchemaDamaged("add viewer");
        s.BindBlob(1, *path);
        s.BindBlob(2, viewer.sha256);
        s.Bind(3, viewer.added_by);
        s.Bind(4, viewer.added_at);
        const int rc = s.Step();
        if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) return Status::NotFound("add viewer: the adding user does not exist");
        if (rc != SQLITE_ROW) return WriteError(rc, "add viewer");
        id = s.Int(0);
      }
      // The label is sealed to the viewer's ID, known once the row exists.
      Result<crypto::Bytes> label = SealText(ViewerLabelAad(id), viewer.label);
      if (!label.ok()) return label.status();
      Stmt s(db_, kSetViewerLabel);
      if (!s.ok()) return sqlite::SchemaDamaged("add viewer");
      s.Bind(1, id);
      s.BindBlob(2, *label);
      const int rc = s.Step();
      return rc == SQLITE_DONE ? Status::Ok() : WriteError(rc, "add viewer");
    });
    if (!st.ok()) return st;
    return id;
  }

  Status RemoveViewer(int64_t id) override {
    SR_RETURN_IF_ERROR(CheckKey());
    std::lock_guard lock(db_.mu());
    return Sealed([&]() -> Status {
      Stmt s(db_, kDeleteViewer);
      if (!s.ok()) return sqlite::SchemaDamaged("remove viewer");
      s.Bind(1, id);
      const int rc = s.Step();
      if (rc != SQLITE_DONE) return WriteError(rc, "remove viewer");
      if (sqlite3_changes(db_.handle()) == 0) return Status::NotFound("no viewer " + std::to_string(id));
      return Status::Ok();
    });
  }

  Status PutHold(const Hold& hold) override {
    SR_RETURN_IF_ERROR(CheckKey());
    std::lock_guard lock(db_.mu());
    return Sealed([&]() -> Status {
      Stmt s(db_, kPutHold);
      if (!s.ok()) return sqlite::SchemaDamaged("put hold");
      s.BindBlob(1, hold.object);
      s.Bind(2, hold.until);
      s.Bind(3, hold.set_by);
      s.Bind(4, hold.set_at);
      const int rc = s.Step();
      if (rc == SQLITE_DONE) return Status::Ok();
      if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) return Status::NotFound("put hold: the object or the user does not exist");
      return WriteError(rc, "put hold");
    });
  }

  Status DeleteHold(const ObjectId& object) override {
    SR_RETURN_IF_ERROR(CheckKey());
    std::lock_guard lock(db_.mu());
    return Sealed([&]() -> Status { return DeleteHoldLocked(object); });
  }

  Status SetWitnessesNeeded(int n) override {
    SR_RETURN_IF_ERROR(CheckKey());
    if (n < 1 || n > kMaxWitnesses) return Status::Invalid("witnesses must be 1 to " + std::to_string(kMaxWitnesses));
    std::lock_guard lock(db_.mu());
    return Sealed([&]() -> Status {
      Stmt s(db_, kPutWitnessesSetting);
      if (!s.ok()) return sqlite::SchemaDamaged("set witnesses");
      s.BindText(1, std::to_string(n));
      const int rc = s.Step();
      return rc == SQLITE_DONE ? Status::Ok() : WriteError(rc, "set witnesses");
    });
  }

  Result<int64_t> AddDestruction(const Destruction& d) override {
    SR_RETURN_IF_ERROR(CheckKey());
    std::lock_guard lock(db_.mu());
    int64_t id = 0;
    Status st = Sealed([&]() -> Status {
      {
        Stmt s(db_, kInsertDestruction);
        if (!s.ok()) return sqlite::SchemaDamaged("add destruction request");
        s.Bind(1, static_cast<int>(d.kind));
        s.Bind(2, d.uid);
        s.Bind(3, d.witnesses_needed);
        s.Bind(4, d.created_at);
        if (d.hold_until) {
          s.Bind(5, *d.hold_until);
        } else {
          s.BindNull(5);
        }
        const int rc = s.Step();
        if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) return Status::NotFound("add destruction request: no such user");
        if (rc != SQLITE_DONE) return WriteError(rc, "add destruction request");
        id = sqlite3_last_insert_rowid(db_.handle());
      }
      Result<crypto::Bytes> reason = SealText(DestructionReasonAad(id), d.reason);
      if (!reason.ok()) return reason.status();
      {
        Stmt s(db_, kSetDestructionReason);
        if (!s.ok()) return sqlite::SchemaDamaged("add destruction request");
        s.Bind(1, id);
        s.BindBlob(2, *reason);
        const int rc = s.Step();
        if (rc != SQLITE_DONE) return WriteError(rc, "add destruction request");
      }
      for (const DestructionItem& item : d.items) {
        Result<crypto::Bytes> path = SealText(ItemPathAad(id, item.seq), item.path);
        if (!path.ok()) return path.status();
        Stmt s(db_, kInsertItem);
        if (!s.ok()) return sqlite::SchemaDamaged("add destruction item");
        s.Bind(1, id);
        s.Bind(2, item.seq);
        s.Bind(3, item.root);
        s.BindBlob(4, item.object);
        s.Bind(5, static_cast<int>(item.kind));
        s.BindBlob(6, *path);
        const int rc = s.Step();
        if (rc != SQLITE_DONE) return WriteError(rc, "add destruction item");
      }
      return Status::Ok();
    });
    if (!st.ok()) return st;
    return id;
  }

  Result<Destruction> GetDestruction(int64_t id, bool with_items) override {
    SR_RETURN_IF_ERROR(CheckKey());
    std::lock_guard lock(db_.mu());
    Destruction d;
    {
      Stmt s(db_, kGetDestruction);
      if (!s.ok()) return sqlite::SchemaDamaged("read destruction request");
      s.Bind(1, id);
      const int rc = s.Step();
      if (rc == SQLITE_DONE) return Status::NotFound("no destruction request " + std::to_string(id));
      if (rc != SQLITE_ROW) return sqlite::StepStatus(rc, "read destruction request");
      SR_RETURN_IF_ERROR(ReadDestruction(s, &d));
    }
    SR_RETURN_IF_ERROR(LoadWitnessesLocked(&d));
    if (with_items) SR_RETURN_IF_ERROR(LoadItemsLocked(&d));
    return d;
  }

  Result<std::vector<Destruction>> ListDestructions(bool open_only) override {
    SR_RETURN_IF_ERROR(CheckKey());
    std::lock_guard lock(db_.mu());
    std::vector<Destruction> out;
    {
      Stmt s(db_, open_only ? kListOpenDestructions : kListDestructions);
      if (!s.ok()) return sqlite::SchemaDamaged("list destruction requests");
      int rc;
      while ((rc = s.Step()) == SQLITE_ROW) {
        Destruction d;
        SR_RETURN_IF_ERROR(ReadDestruction(s, &d));
        out.push_back(std::move(d));
      }
      if (rc != SQLITE_DONE) return sqlite::StepStatus(rc, "list destruction requests");
    }
    for (Destruction& d : out) SR_RETURN_IF_ERROR(LoadWitnessesLocked(&d));
    return out;
  }

  Status AddWitness(int64_t id, const Witness& witness, WitnessedState then,
                    const std::optional<ObjectId>& drop_hold) override {
    SR_RETURN_IF_ERROR(CheckKey());
    const std::string what = "witness request " + std::to_string(id);
    std::lock_guard lock(db_.mu());
    return Sealed([&]() -> Status {
      SR_RETURN_IF_ERROR(RequireStateLocked(id, WitnessedState::kPending));
      {
        Stmt s(db_, kInsertWitness);
        if (!s.ok()) return sqlite::SchemaDamaged(what);
        s.Bind(1, id);
        s.Bind(2, witness.uid);
        s.Bind(3, witness.at);
        const int rc = s.Step();
        if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) return Status::Exists("this user already witnessed request " + std::to_string(id));
        if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) return Status::NotFound(what + ": no such user");
        if (rc != SQLITE_DONE) return WriteError(rc, what);
      }
      if (then != WitnessedState::kPending) {
        SR_RETURN_IF_ERROR(SetStateLocked(id, WitnessedState::kPending, then, witness.at,
                                          then == WitnessedState::kDone ? std::optional<Time>(witness.at) : std::nullopt));
      }
      if (drop_hold) SR_RETURN_IF_ERROR(DeleteHoldLocked(*drop_hold));
      return Status::Ok();
    });
  }

  Status CloseDestruction(int64_t id, WitnessedState state, Uid by, Time at, const std::string& reason) override {
    SR_RETURN_IF_ERROR(CheckKey());
    if (state != WitnessedState::kRejected && state != WitnessedState::kCancelled) {
      return Status::Invalid("a request is closed by rejecting or cancelling it");
    }
    Result<crypto::Bytes> sealed = SealText(CloseReasonAad(id), reason);
    if (!sealed.ok()) return sealed.status();
    std::lock_guard lock(db_.mu());
    return Sealed([&]() -> Status {
      SR_RETURN_IF_ERROR(RequireStateLocked(id, WitnessedState::kPending));
      Stmt s(db_, kCloseDestruction);
      if (!s.ok()) return sqlite::SchemaDamaged("close request");
      s.Bind(1, id);
      s.Bind(2, static_cast<int>(state));
      s.Bind(3, by);
      s.Bind(4, at);
      s.BindBlob(5, *sealed);
      const int rc = s.Step();
      if (rc != SQLITE_DONE) return WriteError(rc, "close request");
      return Status::Ok();
    });
  }

  Status UpdateDestructionItems(int64_t id, const std::vector<DestructionItem>& items) override {
    SR_RETURN_IF_ERROR(CheckKey());
    if (items.empty()) return Status::Ok();
    std::lock_guard lock(db_.mu());
    return Sealed([&]() -> Status {
      SR_RETURN_IF_ERROR(RequireStateLocked(id, WitnessedState::kExecuting));
      for (const DestructionItem& item : items) {
        Result<crypto::Bytes> path = SealText(ItemPathAad(id, item.seq), item.path);
        if (!path.ok()) return path.status();
        Stmt s(db_, kUpdateItem);
        if (!s.ok()) return sqlite::SchemaDamaged("update destruction item");
        s.Bind(1, id);
        s.Bind(2, item.seq);
        s.BindBlob(3, *path);
        if (item.ciphertext_size) {
          s.Bind(4, static_cast<int64_t>(*item.ciphertext_size));
        } else {
          s.BindNull(4);
        }
        if (item.sha256.empty()) {
          s.BindNull(5);
        } else {
          s.BindBlob(5, item.sha256);
        }
        s.Bind(6, static_cast<int>(item.state));
        const int rc = s.Step();
        if (rc != SQLITE_DONE) return WriteError(rc, "update destruction item");
        if (sqlite3_changes(db_.handle()) == 0) return Status::NotFound("no item " + std::to_string(item.seq));
      }
      return Status::Ok();
    });
  }

  Status StoreCertificate(int64_t id, const std::string& certificate, const Blob& mac, Time completed_at) override {
    SR_RETURN_IF_ERROR(CheckKey());
    Result<crypto::Bytes> sealed = SealText(CertificateAad(id), certificate);
    if (!sealed.ok()) return sealed.status();
    std::lock_guard lock(db_.mu());
    return Sealed([&]() -> Status {
      Stmt s(db_, kStoreCertificate);
      if (!s.ok()) return sqlite::SchemaDamaged("store certificate");
      s.Bind(1, id);
      s.BindBlob(2, *sealed);
      s.BindBlob(3, mac);
      s.Bind(4, completed_at);
      const int rc = s.Step();
      if (rc != SQLITE_DONE) return WriteError(rc, "store certificate");
      if (sqlite3_changes(db_.handle()) == 0) return Status::Exists("request " + std::to_string(id) + " is not executing");
      return Status::Ok();
    });
  }

  Status MarkDestructionDone(int64_t id) override {
    SR_RETURN_IF_ERROR(CheckKey());
    std::lock_guard lock(db_.mu());
    return Sealed([&]() -> Status {
      Stmt s(db_, kMarkDone);
      if (!s.ok()) return sqlite::SchemaDamaged("finish request");
      s.Bind(1, id);
      const int rc = s.Step();
      if (rc != SQLITE_DONE) return WriteError(rc, "finish request");
      if (sqlite3_changes(db_.handle()) == 0) return Status::Exists("request " + std::to_string(id) + " is not executing");
      return Status::Ok();
    });
  }

 private:
  // Runs one change and the new seal in one write transaction (the caller
  // holds the lock).
  template <typename Fn>
  Status Sealed(Fn&& change) {
    Transaction txn(db_);
    SR_RETURN_IF_ERROR(txn.Begin());
    SR_RETURN_IF_ERROR(change());
    SR_RETURN_IF_ERROR(ResealLocked());
    return txn.Commit();
  }

  Status LoadAllLocked(PolicyData* data) {
    SR_RETURN_IF_ERROR(LoadUsersLocked(&data->users));
    SR_RETURN_IF_ERROR(LoadTeamsLocked(&data->teams));
    SR_RETURN_IF_ERROR(LoadGrantsLocked(&data->grants));
    SR_RETURN_IF_ERROR(LoadLabelsLocked(&data->labels));
    SR_RETURN_IF_ERROR(LoadViewerGroupLocked(&data->viewer_group));
    SR_RETURN_IF_ERROR(LoadViewersLocked(&data->viewers));
    return LoadWitnessedLocked(data);
  }
  // Holds, frozen objects, the witnesses setting, and the digest of the
  // retention and destruction tables that the seal covers.
  Status LoadWitnessedLocked(PolicyData* data) {
    {
      Stmt s(db_, kListHolds);
      if (!s.ok()) return sqlite::SchemaDamaged("load holds");
      int rc;
      while ((rc = s.Step()) == SQLITE_ROW) {
        Hold h;
        if (!ReadObjectId(s, 0, &h.object) || !ReadUid(s, 2, &h.set_by)) return Malformed("holds");
        h.until = s.Int(1);
        h.set_at = s.Int(3);
        data->holds.push_back(h);
      }
      if (rc != SQLITE_DONE) return sqlite::StepStatus(rc, "load holds");
    }
    {
      Stmt s(db_, kListFrozen);
      if (!s.ok()) return sqlite::SchemaDamaged("load frozen objects");
      int rc;
      while ((rc = s.Step()) == SQLITE_ROW) {
        Freeze f;
        f.request = s.Int(0);
        f.executing = s.Int(1) == static_cast<int>(WitnessedState::kExecuting);
        if (!ReadObjectId(s, 2, &f.object)) return Malformed("destruction_items");
        data->frozen.push_back(f);
      }
      if (rc != SQLITE_DONE) return sqlite::StepStatus(rc, "load frozen objects");
    }
    crypto::Bytes enc;
    bool any = false;
    {
      Stmt s(db_, kGetWitnessesSetting);
      if (!s.ok()) return sqlite::SchemaDamaged("read the witnesses setting");
      const int rc = s.Step();
      if (rc == SQLITE_ROW) {
        const unsigned char* text = sqlite3_column_text(s.get(), 0);
        const std::string v = text != nullptr ? reinterpret_cast<const char*>(text) : "";
        int n = 0;
        for (char c : v) n = (c >= '0' && c <= '9' && n < 1000) ? n * 10 + (c - '0') : 1000;
        if (v.empty() || n < 1 || n > kMaxWitnesses) return Malformed("meta (witnesses setting)");
        data->witnesses_needed = n;
        EncodeColumn(s.get(), 0, &enc);
        any = true;
      } else if (rc != SQLITE_DONE) {
        return sqlite::StepStatus(rc, "read the witnesses setting");
      }
    }
    for (const char* sql : kWitnessedTables) {
      Stmt s(db_, sql);
      if (!s.ok()) return sqlite::SchemaDamaged("load destruction records");
      const int columns = sqlite3_column_count(s.get());
      int rc;
      uint64_t rows = 0;
      while ((rc = s.Step()) == SQLITE_ROW) {
        for (int c = 0; c < columns; ++c) EncodeColumn(s.get(), c, &enc);
        ++rows;
      }
      if (rc != SQLITE_DONE) return sqlite::StepStatus(rc, "load destruction records");
      for (int i = 7; i >= 0; --i) enc.push_back(static_cast<uint8_t>(rows >> (8 * i)));
      any = any || rows > 0;
    }
    if (any) {
      data->witnessed_digest.resize(32);
      crypto::Sha256(enc, data->witnessed_digest.data());
    }
    return Status::Ok();
  }


  Result<std::optional<std::string>> GetSealLocked() {
    Stmt s(db_, kGetPolicySeal);
    if (!s.ok()) return sqlite::SchemaDamaged("read the policy seal");
    const int rc = s.Step();
    if (rc == SQLITE_DONE) return std::optional<std::string>();
    if (rc != SQLITE_ROW) return sqlite::StepStatus(rc, "read the policy seal");
    const unsigned char* text = sqlite3_column_text(s.get(), 0);
    return std::optional<std::string>(text != nullptr ? reinterpret_cast<const char*>(text) : "");
  }

  Status PutSealLocked(const std::string& mac) {
    Stmt s(db_, kPutPolicySeal);
    if (!s.ok()) return sqlite::SchemaDamaged("write the policy seal");
    s.BindText(1, mac);
    const int rc = s.Step();
    return rc == SQLITE_DONE ? Status::Ok() : WriteError(rc, "write the policy seal");
  }

  Status CheckKey() const {
    if (!key_) return Status::Invalid("the policy store was opened without its text key");
    return Status::Ok();
  }

  static Status CheckSubject(const Subject& subject) {
    if (subject.user.has_value() == subject.team.has_value()) {
      return Status::Invalid("a grant is for exactly one user or one team");
    }
    return Status::Ok();
  }

  // An empty text is stored as an empty blob (SIV needs a non-empty
  // plaintext; an empty reason has nothing to hide).
  Result<crypto::Bytes> SealText(std::string_view aad, std::string_view text) const {
    crypto::Bytes out;
    if (text.empty()) return out;
    if (!crypto::siv::Seal(key_->span(), crypto::AsBytes(aad), crypto::AsBytes(text), &out)) {
      return Status::Invalid("the policy store could not seal a text");
    }
    return out;
  }

  Result<crypto::Bytes> SealName(std::string_view aad, std::string_view name, const char* what) const {
    if (name.empty()) return Status::Invalid(std::string("a ") + what + " must not be empty");
    return SealText(aad, name);
  }

  // Opens a sealed name (non-empty by construction) or reason (may be empty).
  Status OpenText(std::string_view aad, std::span<const uint8_t> sealed, bool may_be_empty, const char* what,
                  std::string* out) const {
    out->clear();
    if (sealed.empty() && may_be_empty) return Status::Ok();
    crypto::Bytes plain;
    if (!crypto::siv::Open(key_->span(), crypto::AsBytes(aad), sealed, &plain)) {
      return Status::Integrity(std::string("the policy store's ") + what + " does not authenticate");
    }
    out->assign(plain.begin(), plain.end());
    crypto::Wipe(plain.data(), plain.size());
    return Status::Ok();
  }

  Status PutGrantLocked(const Grant& grant) {
    SR_RETURN_IF_ERROR(DeleteGrantLocked(grant.object, grant.subject));
    Stmt s(db_, kInsertGrant);
    if (!s.ok()) return sqlite::SchemaDamaged("put grant");
    s.BindBlob(1, grant.object);
    if (grant.subject.user) {
      s.Bind(2, *grant.subject.user);
      s.BindNull(3);
    } else {
      s.BindNull(2);
      s.Bind(3, *grant.subject.team);
    }
    s.Bind(4, static_cast<int>(grant.mode));
    if (grant.until) {
      s.Bind(5, *grant.until);
    } else {
      s.BindNull(5);
    }
    s.Bind(6, grant.granted_by);
    s.Bind(7, grant.granted_at);
    const int rc = s.Step();
    if (rc == SQLITE_DONE) return Status::Ok();
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
      return Status::NotFound("put grant: the object, user, team or granter does not exist");
    }
    return WriteError(rc, "put grant");
  }

  // Leaves the number of deleted rows in sqlite3_changes().
  Status DeleteGrantLocked(const ObjectId& object, const Subject& subject) {
    Stmt s(db_, subject.user ? kDeleteUserGrant : kDeleteTeamGrant);
    if (!s.ok()) return sqlite::SchemaDamaged("delete grant");
    s.BindBlob(1, object);
    if (subject.user) {
      s.Bind(2, *subject.user);
    } else {
      s.Bind(2, *subject.team);
    }
    const int rc = s.Step();
    return rc == SQLITE_DONE ? Status::Ok() : WriteError(rc, "delete grant");
  }

  Status DeleteHoldLocked(const ObjectId& object) {
    Stmt s(db_, kDeleteHold);
    if (!s.ok()) return sqlite::SchemaDamaged("delete hold");
    s.BindBlob(1, object);
    const int rc = s.Step();
    if (rc != SQLITE_DONE) return WriteError(rc, "delete hold");
    if (sqlite3_changes(db_.handle()) == 0) return Status::NotFound("no retention hold there");
    return Status::Ok();
  }

  // kNotFound when there is no such request, kExists when it is in another state.
  Status RequireStateLocked(int64_t id, WitnessedState want) {
    Stmt s(db_, kDestructionState);
    if (!s.ok()) return sqlite::SchemaDamaged("read request state");
    s.Bind(1, id);
    const int rc = s.Step();
    if (rc == SQLITE_DONE) return Status::NotFound("no destruction request " + std::to_string(id));
    if (rc != SQLITE_ROW) return sqlite::StepStatus(rc, "read request state");
    const int64_t state = s.Int(0);
    if (state != static_cast<int>(want)) {
      return Status::Exists("request " + std::to_string(id) + " is " +
                            std::string(WitnessedStateName(static_cast<WitnessedState>(state))));
    }
    return Status::Ok();
  }

  Status SetStateLocked(int64_t id, WitnessedState from, WitnessedState to, Time approved_at,
                        std::optional<Time> completed_at) {
    Stmt s(db_, kSetDestructionState);
    if (!s.ok()) return sqlite::SchemaDamaged("set request state");
    s.Bind(1, id);
    s.Bind(2, static_cast<int>(to));
    s.Bind(3, approved_at);
    if (completed_at) {
      s.Bind(4, *completed_at);
    } else {
      s.BindNull(4);
    }
    s.Bind(5, static_cast<int>(from));
    const int rc = s.Step();
    if (rc != SQLITE_DONE) return WriteError(rc, "set request state");
    if (sqlite3_changes(db_.handle()) == 0) return Status::Exists("request " + std::to_string(id) + " changed state");
    return Status::Ok();
  }

  Status ReadDestruction(Stmt& s, Destruction* d) const {
    int kind = 0, state = 0;
    d->id = s.Int(0);
    if (!ReadInRange(s, 1, 0, 1, &kind) || !ReadUid(s, 2, &d->uid) || !s.IsBlob(3) || !ReadInRange(s, 4, 0, 4, &state) ||
        !ReadInRange(s, 5, 1, kMaxWitnesses, &d->witnesses_needed) || !ReadOptionalUid(s, 9, &d->closed_by) ||
        !(s.IsNull(10) || s.IsBlob(10)) || !(s.IsNull(12) || s.IsBlob(12)) || !(s.IsNull(13) || s.IsBlob(13))) {
      return Malformed("destructions");
    }
    d->kind = static_cast<WitnessedKind>(kind);
    d->state = static_cast<WitnessedState>(state);
    d->created_at = s.Int(6);
    d->approved_at = ReadOptionalInt(s, 7);
    d->completed_at = ReadOptionalInt(s, 8);
    d->hold_until = ReadOptionalInt(s, 11);
    d->item_count = s.Int(14);
    SR_RETURN_IF_ERROR(OpenText(DestructionReasonAad(d->id), s.Blob(3), true, "destruction reason", &d->reason));
    SR_RETURN_IF_ERROR(OpenText(CloseReasonAad(d->id), s.IsNull(10) ? std::span<const uint8_t>() : s.Blob(10), true,
                                "destruction decision reason", &d->close_reason));
    SR_RETURN_IF_ERROR(OpenText(CertificateAad(d->id), s.IsNull(12) ? std::span<const uint8_t>() : s.Blob(12), true,
                                "destruction certificate", &d->certificate));
    d->certificate_mac.clear();
    if (s.IsBlob(13)) d->certificate_mac.assign(s.Blob(13).begin(), s.Blob(13).end());
    return Status::Ok();
  }

  Status LoadWitnessesLocked(Destruction* d) {
    Stmt s(db_, kListWitnesses);
    if (!s.ok()) return sqlite::SchemaDamaged("load witnesses");
    s.Bind(1, d->id);
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) {
      Witness w;
      if (!ReadUid(s, 0, &w.uid)) return Malformed("destruction_witnesses");
      w.at = s.Int(1);
      d->witnesses.push_back(w);
    }
    return rc == SQLITE_DONE ? Status::Ok() : sqlite::StepStatus(rc, "load witnesses");
  }

  Status LoadItemsLocked(Destruction* d) {
    Stmt s(db_, kListItems);
    if (!s.ok()) return sqlite::SchemaDamaged("load destruction items");
    s.Bind(1, d->id);
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) {
      DestructionItem item;
      int kind = 0, state = 0;
      item.seq = s.Int(0);
      item.root = s.Int(1);
      if (!ReadObjectId(s, 2, &item.object) || !ReadInRange(s, 3, 1, 3, &kind) || !s.IsBlob(4) ||
          !(s.IsNull(6) || s.IsBlob(6)) || !ReadInRange(s, 7, 0, 5, &state)) {
        return Malformed("destruction_items");
      }
      item.kind = static_cast<ObjectKind>(kind);
      item.state = static_cast<ItemState>(state);
      if (auto size = ReadOptionalInt(s, 5)) item.ciphertext_size = static_cast<uint64_t>(*size);
      if (s.IsBlob(6)) item.sha256.assign(s.Blob(6).begin(), s.Blob(6).end());
      SR_RETURN_IF_ERROR(OpenText(ItemPathAad(d->id, item.seq), s.Blob(4), false, "destruction path", &item.path));
      d->items.push_back(std::move(item));
    }
    return rc == SQLITE_DONE ? Status::Ok() : sqlite::StepStatus(rc, "load destruction items");
  }

  Status LoadUsersLocked(std::vector<User>* users) {
    Stmt s(db_, kListUsers);
    if (!s.ok()) return sqlite::SchemaDamaged("load users");
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) {
      User user;
      int role = 0;
      if (!ReadUid(s, 0, &user.uid) || !s.IsBlob(1) || !ReadInRange(s, 2, 0, 2, &role) ||
          !ReadInRange(s, 3, kMinLevel, kMaxLevel, &user.clearance) || !ReadOptionalUid(s, 6, &user.created_by)) {
        return Malformed("users");
      }
      SR_RETURN_IF_ERROR(OpenText(kUserNameAad, s.Blob(1), false, "user name", &user.name));
      user.role = static_cast<Role>(role);
      user.enabled = s.Int(4) != 0;
      user.created_at = s.Int(5);
      users->push_back(std::move(user));
    }
    return rc == SQLITE_DONE ? Status::Ok() : sqlite::StepStatus(rc, "load users");
  }

  Status LoadTeamsLocked(std::vector<Team>* teams) {
    std::map<TeamId, size_t> index;
    {
      Stmt s(db_, kListTeams);
      if (!s.ok()) return sqlite::SchemaDamaged("load teams");
      int rc;
      while ((rc = s.Step()) == SQLITE_ROW) {
        Team team;
        team.id = s.Int(0);
        if (!s.IsBlob(1)) return Malformed("teams");
        SR_RETURN_IF_ERROR(OpenText(kTeamNameAad, s.Blob(1), false, "team name", &team.name));
        index[team.id] = teams->size();
        teams->push_back(std::move(team));
      }
      if (rc != SQLITE_DONE) return sqlite::StepStatus(rc, "load teams");
    }
    Stmt s(db_, kListTeamMembers);
    if (!s.ok()) return sqlite::SchemaDamaged("load team members");
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) {
      Uid uid;
      auto it = index.find(s.Int(0));
      if (it == index.end() || !ReadUid(s, 1, &uid)) return Malformed("team_members");
      (*teams)[it->second].members.push_back(uid);
    }
    return rc == SQLITE_DONE ? Status::Ok() : sqlite::StepStatus(rc, "load team members");
  }

  Status LoadGrantsLocked(std::vector<Grant>* grants) {
    Stmt s(db_, kListGrants);
    if (!s.ok()) return sqlite::SchemaDamaged("load grants");
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) {
      Grant grant;
      int mode = 0;
      if (!ReadObjectId(s, 0, &grant.object) || !ReadOptionalUid(s, 1, &grant.subject.user) ||
          !ReadInRange(s, 3, 0, 4, &mode) || !ReadUid(s, 5, &grant.granted_by)) {
        return Malformed("grants");
      }
      grant.subject.team = ReadOptionalInt(s, 2);
      if (grant.subject.user.has_value() == grant.subject.team.has_value()) return Malformed("grants");
      grant.mode = static_cast<Mode>(mode);
      grant.until = ReadOptionalInt(s, 4);
      grant.granted_at = s.Int(6);
      grants->push_back(std::move(grant));
    }
    return rc == SQLITE_DONE ? Status::Ok() : sqlite::StepStatus(rc, "load grants");
  }

  Status LoadLabelsLocked(std::vector<Label>* labels) {
    Stmt s(db_, kListLabels);
    if (!s.ok()) return sqlite::SchemaDamaged("load labels");
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) {
      Label label;
      if (!ReadObjectId(s, 0, &label.object) || !ReadInRange(s, 1, kMinLevel, kMaxLevel, &label.level) ||
          !ReadUid(s, 2, &label.set_by)) {
        return Malformed("labels");
      }
      label.set_at = s.Int(3);
      labels->push_back(label);
    }
    return rc == SQLITE_DONE ? Status::Ok() : sqlite::StepStatus(rc, "load labels");
  }

  Status LoadViewerGroupLocked(std::optional<ViewerGroup>* group) {
    group->reset();
    Stmt s(db_, kGetViewerGroup);
    if (!s.ok()) return sqlite::SchemaDamaged("load the viewer group");
    const int rc = s.Step();
    if (rc != SQLITE_ROW) return sqlite::StepStatus(rc, "load the viewer group");
    if (s.IsNull(0) && s.IsNull(1)) return Status::Ok();
    const unsigned char* gid_text = sqlite3_column_text(s.get(), 0);
    const unsigned char* name_text = sqlite3_column_text(s.get(), 1);
    if (gid_text == nullptr || name_text == nullptr) return Malformed("meta (viewer group)");
    const std::string gid = reinterpret_cast<const char*>(gid_text);
    int64_t v = 0;
    const auto [end, ec] = std::from_chars(gid.data(), gid.data() + gid.size(), v);
    if (ec != std::errc() || end != gid.data() + gid.size() || gid.empty() || v < 0 ||
        v > std::numeric_limits<Gid>::max()) {
      return Malformed("meta (viewer group)");
    }
    *group = ViewerGroup{static_cast<Gid>(v), reinterpret_cast<const char*>(name_text)};
    return Status::Ok();
  }

  Status LoadViewersLocked(std::vector<Viewer>* viewers) {
    Stmt s(db_, kListViewers);
    if (!s.ok()) return sqlite::SchemaDamaged("load viewers");
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) {
      Viewer viewer;
      viewer.id = s.Int(0);
      if (!s.IsBlob(1) || !s.IsBlob(2) || !s.IsBlob(3) || s.Blob(3).size() != viewer.sha256.size() ||
          !ReadUid(s, 4, &viewer.added_by)) {
        return Malformed("viewers");
      }
      SR_RETURN_IF_ERROR(OpenText(kViewerPathAad, s.Blob(1), false, "viewer path", &viewer.path));
      SR_RETURN_IF_ERROR(OpenText(ViewerLabelAad(viewer.id), s.Blob(2), false, "viewer label", &viewer.label));
      std::copy(s.Blob(3).begin(), s.Blob(3).end(), viewer.sha256.begin());
      viewer.added_at = s.Int(5);
      viewers->push_back(std::move(viewer));
    }
    return rc == SQLITE_DONE ? Status::Ok() : sqlite::StepStatus(rc, "load viewers");
  }

  Status ReadRequest(Stmt& s, AccessRequest* request) const {
    int mode = 0, state = 0;
    request->id = s.Int(0);
    if (!ReadObjectId(s, 1, &request->object) || !ReadUid(s, 2, &request->uid) || !ReadInRange(s, 3, 0, 4, &mode) ||
        !s.IsBlob(4) || !ReadInRange(s, 5, 0, 2, &state) || !ReadOptionalUid(s, 7, &request->decided_by) ||
        !(s.IsNull(9) || s.IsBlob(9))) {
      return Malformed("requests");
    }
    request->mode = static_cast<Mode>(mode);
    request->state = static_cast<RequestState>(state);
    request->created_at = s.Int(6);
    request->decided_at = ReadOptionalInt(s, 8);
    SR_RETURN_IF_ERROR(OpenText(RequestReasonAad(request->id), s.Blob(4), true, "request reason", &request->reason));
    return OpenText(DecisionReasonAad(request->id), s.IsNull(9) ? std::span<const uint8_t>() : s.Blob(9), true,
                    "decision reason", &request->decision_reason);
  }

  sqlite::Db& db_;
  std::optional<crypto::SecretKey> key_;
  PolicySealer sealer_;
};

}  // namespace

namespace sqlite {

Result<bool> PolicyOnObjectLocked(PolicyStore& store, const ObjectId& id) {
  return static_cast<SqlitePolicyStore&>(store).PolicyOnLocked(id);
}

Status ResealPolicyLocked(PolicyStore& store) { return static_cast<SqlitePolicyStore&>(store).ResealLocked(); }

PolicySealer SetSealerLocked(PolicyStore& store, PolicySealer sealer) {
  return static_cast<SqlitePolicyStore&>(store).SetSealerLocked(std::move(sealer));
}

std::unique_ptr<PolicyStore> NewPolicyStore(Db& db, const crypto::SecretKey* text_key) {
  return std::make_unique<SqlitePolicyStore>(db, text_key);
}

}  // namespace sqlite
}  // namespace strongroom::acl
