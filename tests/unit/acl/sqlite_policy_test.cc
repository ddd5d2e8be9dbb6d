// The SQLite policy store (acl/policy.h, acl/sqlite_policy.cc): users, teams,
// grants, labels and requests in the object store's database.
#include <catch2/catch.hpp>
#include <sqlite3.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "acl/policy.h"
#include "acl/store.h"
#include "crypto/primitives.h"
#include "fs/vault_layout.h"
#include "tests/unit/test_util.h"

namespace strongroom::acl {
namespace {

using testing::TempDir;
using Code = Status::Code;

constexpr char kVaultId[] = "00112233445566778899aabbccddeeff";
constexpr Uid kAdmin = 1000;

// The version-1 schema exactly as strongroom wrote it (acl/sqlite_store.cc
// before the policy tables), to build stores that need migrating.
constexpr const char* kSchemaV1 = R"sql(
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

template <size_t N>
std::array<uint8_t, N> RandomArray() {
  std::array<uint8_t, N> a;
  crypto::RandomBytes(a);
  return a;
}

Blob RandomBlob(size_t n) {
  Blob b(n);
  crypto::RandomBytes(b);
  return b;
}

ObjectRow MakeRow() {
  ObjectRow row;
  row.id = RandomArray<16>();
  row.kind = ObjectKind::kFile;
  row.place = {RandomArray<16>(), RandomArray<16>()};
  row.wrapped_key = RandomBlob(60);
  row.mac = RandomBlob(32);
  return row;
}

User MakeUser(Uid uid, std::string name, Role role = Role::kStaff, int clearance = 1) {
  User user;
  user.uid = uid;
  user.name = std::move(name);
  user.role = role;
  user.clearance = clearance;
  user.created_at = 1700000000 + uid;
  user.created_by = kAdmin;
  return user;
}

Grant UserGrant(const ObjectId& object, Uid uid, Mode mode) {
  Grant grant;
  grant.object = object;
  grant.subject.user = uid;
  grant.mode = mode;
  grant.granted_by = kAdmin;
  grant.granted_at = 1700000100;
  return grant;
}

Grant TeamGrant(const ObjectId& object, TeamId team, Mode mode) {
  Grant grant = UserGrant(object, 0, mode);
  grant.subject = Subject{std::nullopt, team};
  return grant;
}

AccessRequest MakeRequest(const ObjectId& object, Uid uid, std::string reason) {
  AccessRequest request;
  request.object = object;
  request.uid = uid;
  request.mode = Mode::kRead;
  request.reason = std::move(reason);
  request.created_at = 1700000200;
  return request;
}

// A store with its text key, an admin (uid 1000, "root-admin") and objects.
struct Fixture {
  TempDir dir;
  std::string path = dir.Sub("policy.db");
  crypto::SecretKey key = crypto::SecretKey::Random(64);
  std::unique_ptr<Store> store;

  Fixture() {
    Result<std::unique_ptr<Store>> r = CreateSqliteStore(path, kVaultId, &key);
    INFO(r.status().ToString());
    REQUIRE(r.ok());
    store = std::move(*r);
    User admin = MakeUser(kAdmin, "root-admin", Role::kAdmin, 3);
    admin.created_by.reset();
    REQUIRE(policy().AddUser(admin).ok());
  }

  PolicyStore& policy() { return store->policy(); }

  ObjectId NewObject() {
    const ObjectRow row = MakeRow();
    REQUIRE(store->InsertObject(row).ok());
    return row.id;
  }

  PolicyData Load() {
    Result<PolicyData> r = policy().LoadPolicy();
    INFO(r.status().ToString());
    REQUIRE(r.ok());
    return std::move(*r);
  }

  void Reopen(const crypto::SecretKey* text_key) {
    store.reset();
    Result<std::unique_ptr<Store>> r = OpenSqliteStore(path, kVaultId, text_key);
    INFO(r.status().ToString());
    REQUIRE(r.ok());
    store = std::move(*r);
  }
};

void CheckCode(const Status& st, Code code) {
  INFO(st.ToString());
  CHECK(st.code() == code);
}

// A plain connection to a closed store, for building and inspecting files.
class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    REQUIRE(sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) == SQLITE_OK);
  }
  ~RawDb() { sqlite3_close_v2(db_); }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  void Exec(const char* sql) {
    char* err = nullptr;
    const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
    INFO((err != nullptr ? err : "") << " in " << sql);
    sqlite3_free(err);
    REQUIRE(rc == SQLITE_OK);
  }

  // Column `col` of every row of a query without parameters.
  std::vector<std::string> Column(const char* sql, int col = 0) {
    sqlite3_stmt* s = nullptr;
    INFO(sql);
    REQUIRE(sqlite3_prepare_v2(db_, sql, -1, &s, nullptr) == SQLITE_OK);
    std::vector<std::string> out;
    while (sqlite3_step(s) == SQLITE_ROW) {
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(s, col));
      out.emplace_back(text != nullptr ? text : "");
    }
    sqlite3_finalize(s);
    return out;
  }

  void InsertObject(const ObjectRow& row) {
    sqlite3_stmt* s = nullptr;
    REQUIRE(sqlite3_prepare_v2(db_,
                               "INSERT INTO objects (id, kind, parent, name_tag, wrapped_key, mac) "
                               "VALUES (?1, 1, ?2, ?3, ?4, ?5)",
                               -1, &s, nullptr) == SQLITE_OK);
    sqlite3_bind_blob(s, 1, row.id.data(), 16, SQLITE_TRANSIENT);
    sqlite3_bind_blob(s, 2, row.place.parent.data(), 16, SQLITE_TRANSIENT);
    sqlite3_bind_blob(s, 3, row.place.name_tag.data(), 16, SQLITE_TRANSIENT);
    sqlite3_bind_blob(s, 4, row.wrapped_key.data(), static_cast<int>(row.wrapped_key.size()), SQLITE_TRANSIENT);
    sqlite3_bind_blob(s, 5, row.mac.data(), static_cast<int>(row.mac.size()), SQLITE_TRANSIENT);
    CHECK(sqlite3_step(s) == SQLITE_DONE);
    sqlite3_finalize(s);
  }

 private:
  sqlite3* db_ = nullptr;
};

// A version-1 store as strongroom used to create it, with one object row.
void CreateV1Store(const std::string& path, const ObjectRow& row) {
  RawDb db(path);
  db.Exec("PRAGMA journal_mode=WAL");
  db.Exec("BEGIN");
  db.Exec(kSchemaV1);
  db.Exec("INSERT INTO meta (key, value) VALUES ('schema_version', '1')");
  db.Exec("INSERT INTO meta (key, value) VALUES ('vault_id', '00112233445566778899aabbccddeeff')");
  db.InsertObject(row);
  db.Exec("COMMIT");
}

// Every byte the store keeps on disk: the database, its WAL and its index.
Blob AllStoreBytes(const std::string& path) {
  Blob all;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    const Blob b = testing::ReadAll(path + suffix);
    all.insert(all.end(), b.begin(), b.end());
  }
  return all;
}

TEST_CASE("policy: without a text key every call fails with kInvalid", "[acl][policy]") {
  TempDir dir;
  Result<std::unique_ptr<Store>> r = CreateSqliteStore(dir.Sub("policy.db"), kVaultId);
  REQUIRE(r.ok());
  PolicyStore& policy = (*r)->policy();
  const ObjectId object = RandomArray<16>();
  const std::string message = "the policy store was opened without its text key";
  std::vector<Status> results = {
      policy.LoadPolicy().status(),
      policy.AddUser(MakeUser(1, "a")),
      policy.UpdateUser(MakeUser(1, "a")),
      policy.AddTeam("t", 1).status(),
      policy.AddTeamMember(1, 1),
      policy.RemoveTeamMember(1, 1),
      policy.PutGrant(UserGrant(object, 1, Mode::kRead)),
      policy.DeleteGrant(object, Subject{1, std::nullopt}),
      policy.PutLabel(Label{object, 2, 1, 1}),
      policy.AddRequest(MakeRequest(object, 1, "why")).status(),
      policy.GetRequest(1).status(),
      policy.ListRequests(false).status(),
      policy.DecideRequest(AccessRequest{}, std::nullopt),
  };
  for (const Status& st : results) {
    CheckCode(st, Code::kInvalid);
    CHECK(st.message() == message);
  }
  // The object half works without it.
  CHECK((*r)->InsertObject(MakeRow()).ok());
}

TEST_CASE("policy: a text key of the wrong size is refused", "[acl][policy]") {
  TempDir dir;
  const crypto::SecretKey short_key = crypto::SecretKey::Random(32);
  Result<std::unique_ptr<Store>> r = CreateSqliteStore(dir.Sub("policy.db"), kVaultId, &short_key);
  REQUIRE_FALSE(r.ok());
  CheckCode(r.status(), Code::kInvalid);
}

TEST_CASE("policy: users are added, updated and never reused", "[acl][policy]") {
  Fixture f;
  User alice = MakeUser(1001, "alice", Role::kStaff, 2);
  REQUIRE(f.policy().AddUser(alice).ok());
  User auditor = MakeUser(1002, "audrey", Role::kAuditor, 1);
  auditor.created_at = 42;
  REQUIRE(f.policy().AddUser(auditor).ok());
  REQUIRE(f.policy().AddUser(MakeUser(4294967295u, "max-uid")).ok());

  PolicyData data = f.Load();
  REQUIRE(data.users.size() == 4);  // ordered by uid
  CHECK(data.users[0].uid == kAdmin);
  CHECK(data.users[0].name == "root-admin");
  CHECK(data.users[0].role == Role::kAdmin);
  CHECK_FALSE(data.users[0].created_by.has_value());
  CHECK(data.users[1].uid == 1001);
  CHECK(data.users[1].name == "alice");
  CHECK(data.users[1].role == Role::kStaff);
  CHECK(data.users[1].clearance == 2);
  CHECK(data.users[1].enabled);
  CHECK(data.users[1].created_at == alice.created_at);
  CHECK(data.users[1].created_by == std::optional<Uid>(kAdmin));
  CHECK(data.users[2].role == Role::kAuditor);
  CHECK(data.users[2].created_at == 42);
  CHECK(data.users[3].uid == 4294967295u);

  SECTION("a taken uid or name is kExists") {
    Status st = f.policy().AddUser(MakeUser(1001, "someone-else"));
    CheckCode(st, Code::kExists);
    CHECK(st.message() == "uid 1001 is already taken");
    st = f.policy().AddUser(MakeUser(1003, "alice"));
    CheckCode(st, Code::kExists);
    CHECK(st.message() == "user name is already taken");
    CHECK(f.Load().users.size() == 4);
  }
  SECTION("bad values are kInvalid, an unknown creator kNotFound") {
    CheckCode(f.policy().AddUser(MakeUser(1003, "")), Code::kInvalid);
    CheckCode(f.policy().AddUser(MakeUser(1003, "c", Role::kStaff, 0)), Code::kInvalid);
    CheckCode(f.policy().AddUser(MakeUser(1003, "c", Role::kStaff, 4)), Code::kInvalid);
    CheckCode(f.policy().AddUser(MakeUser(1003, "c", static_cast<Role>(7))), Code::kInvalid);
    User orphan = MakeUser(1003, "c");
    orphan.created_by = 999;
    CheckCode(f.policy().AddUser(orphan), Code::kNotFound);
    CHECK(f.Load().users.size() == 4);
  }
  SECTION("update changes role, clearance and enabled only") {
    User changed = alice;
    changed.name = "ignored";
    changed.role = Role::kAdmin;
    changed.clearance = 3;
    changed.enabled = false;
    REQUIRE(f.policy().UpdateUser(changed).ok());
    data = f.Load();
    CHECK(data.users[1].name == "alice");
    CHECK(data.users[1].role == Role::kAdmin);
    CHECK(data.users[1].clearance == 3);
    CHECK_FALSE(data.users[1].enabled);

    CheckCode(f.policy().UpdateUser(MakeUser(2000, "nobody")), Code::kNotFound);
    changed.clearance = 9;
    CheckCode(f.policy().UpdateUser(changed), Code::kInvalid);
    CHECK(f.Load().users[1].clearance == 3);
  }
  SECTION("a disabled user keeps their uid and name") {
    alice.enabled = false;
    REQUIRE(f.policy().UpdateUser(alice).ok());
    Status st = f.policy().AddUser(MakeUser(1001, "alice-2"));
    CheckCode(st, Code::kExists);
    CHECK(st.message() == "uid 1001 is already taken");
    CheckCode(f.policy().AddUser(MakeUser(1005, "alice")), Code::kExists);
    f.Reopen(&f.key);
    CheckCode(f.policy().AddUser(MakeUser(1001, "alice-2")), Code::kExists);
    data = f.Load();
    REQUIRE(data.users.size() == 4);
    CHECK_FALSE(data.users[1].enabled);
  }
}

TEST_CASE("policy: teams and their members", "[acl][policy]") {
  Fixture f;
  REQUIRE(f.policy().AddUser(MakeUser(1001, "alice")).ok());
  REQUIRE(f.policy().AddUser(MakeUser(1002, "bob")).ok());
  Result<TeamId> red = f.policy().AddTeam("red", 10);
  Result<TeamId> blue = f.policy().AddTeam("blue", 11);
  REQUIRE(red.ok());
  REQUIRE(blue.ok());
  CHECK(*red != *blue);

  Result<TeamId> dup = f.policy().AddTeam("red", 12);
  REQUIRE_FALSE(dup.ok());
  CheckCode(dup.status(), Code::kExists);
  CHECK(dup.status().message() == "team name is already taken");
  CheckCode(f.policy().AddTeam("", 12).status(), Code::kInvalid);

  REQUIRE(f.policy().AddTeamMember(*red, 1002).ok());
  REQUIRE(f.policy().AddTeamMember(*red, 1001).ok());
  REQUIRE(f.policy().AddTeamMember(*blue, 1001).ok());
  CheckCode(f.policy().AddTeamMember(*red, 1001), Code::kExists);
  CheckCode(f.policy().AddTeamMember(*red + *blue + 100, 1001), Code::kNotFound);
  CheckCode(f.policy().AddTeamMember(*red, 4242), Code::kNotFound);

  PolicyData data = f.Load();
  REQUIRE(data.teams.size() == 2);
  CHECK(data.teams[0].id == *red);
  CHECK(data.teams[0].name == "red");
  CHECK(data.teams[0].members == std::vector<Uid>{1001, 1002});
  CHECK(data.teams[1].name == "blue");
  CHECK(data.teams[1].members == std::vector<Uid>{1001});

  REQUIRE(f.policy().RemoveTeamMember(*red, 1001).ok());
  CheckCode(f.policy().RemoveTeamMember(*red, 1001), Code::kNotFound);
  CheckCode(f.policy().RemoveTeamMember(*red + *blue + 100, 1001), Code::kNotFound);
  data = f.Load();
  CHECK(data.teams[0].members == std::vector<Uid>{1002});
  CHECK(data.teams[1].members == std::vector<Uid>{1001});

  // A team with no members is still loaded.
  REQUIRE(f.policy().RemoveTeamMember(*blue, 1001).ok());
  data = f.Load();
  REQUIRE(data.teams.size() == 2);
  CHECK(data.teams[1].members.empty());
}

TEST_CASE("policy: grants are put, replaced and deleted", "[acl][policy]") {
  Fixture f;
  REQUIRE(f.policy().AddUser(MakeUser(1001, "alice")).ok());
  Result<TeamId> team = f.policy().AddTeam("red", 10);
  REQUIRE(team.ok());
  const ObjectId object = f.NewObject();
  const ObjectId other = f.NewObject();

  Grant to_user = UserGrant(object, 1001, Mode::kRead);
  to_user.until = 1800000000;
  REQUIRE(f.policy().PutGrant(to_user).ok());
  REQUIRE(f.policy().PutGrant(TeamGrant(object, *team, Mode::kNone)).ok());
  REQUIRE(f.policy().PutGrant(UserGrant(other, 1001, Mode::kManage)).ok());

  PolicyData data = f.Load();
  REQUIRE(data.grants.size() == 3);
  CHECK(data.grants[0].object == object);
  CHECK(data.grants[0].subject == Subject{1001, std::nullopt});
  CHECK(data.grants[0].mode == Mode::kRead);
  CHECK(data.grants[0].until == std::optional<Time>(1800000000));
  CHECK(data.grants[0].granted_by == kAdmin);
  CHECK(data.grants[0].granted_at == to_user.granted_at);
  CHECK(data.grants[1].subject == Subject{std::nullopt, *team});
  CHECK(data.grants[1].mode == Mode::kNone);
  CHECK_FALSE(data.grants[1].until.has_value());

  // Putting again replaces the grant for that (object, subject).
  Grant wider = UserGrant(object, 1001, Mode::kWrite);
  REQUIRE(f.policy().PutGrant(wider).ok());
  data = f.Load();
  REQUIRE(data.grants.size() == 3);
  int found = 0;
  for (const Grant& g : data.grants) {
    if (g.object == object && g.subject.user == std::optional<Uid>(1001)) {
      ++found;
      CHECK(g.mode == Mode::kWrite);
      CHECK_FALSE(g.until.has_value());
    }
  }
  CHECK(found == 1);

  SECTION("unknown object, user, team or granter is kNotFound") {
    CheckCode(f.policy().PutGrant(UserGrant(RandomArray<16>(), 1001, Mode::kRead)), Code::kNotFound);
    CheckCode(f.policy().PutGrant(UserGrant(object, 4242, Mode::kRead)), Code::kNotFound);
    CheckCode(f.policy().PutGrant(TeamGrant(object, *team + 100, Mode::kRead)), Code::kNotFound);
    Grant bad_granter = UserGrant(other, 1001, Mode::kRead);
    bad_granter.granted_by = 4242;
    CheckCode(f.policy().PutGrant(bad_granter), Code::kNotFound);
    // A failed replacement leaves the old grant in place.
    data = f.Load();
    REQUIRE(data.grants.size() == 3);
  }
  SECTION("a subject must be exactly one user or team; modes are checked") {
    Grant both = UserGrant(object, 1001, Mode::kRead);
    both.subject.team = *team;
    CheckCode(f.policy().PutGrant(both), Code::kInvalid);
    Grant neither = UserGrant(object, 1001, Mode::kRead);
    neither.subject = Subject{};
    CheckCode(f.policy().PutGrant(neither), Code::kInvalid);
    CheckCode(f.policy().PutGrant(UserGrant(object, 1001, static_cast<Mode>(5))), Code::kInvalid);
    CheckCode(f.policy().DeleteGrant(object, Subject{}), Code::kInvalid);
    CHECK(f.Load().grants.size() == 3);
  }
  SECTION("delete") {
    REQUIRE(f.policy().DeleteGrant(object, Subject{1001, std::nullopt}).ok());
    CheckCode(f.policy().DeleteGrant(object, Subject{1001, std::nullopt}), Code::kNotFound);
    REQUIRE(f.policy().DeleteGrant(object, Subject{std::nullopt, *team}).ok());
    CheckCode(f.policy().DeleteGrant(object, Subject{std::nullopt, *team}), Code::kNotFound);
    CheckCode(f.policy().DeleteGrant(RandomArray<16>(), Subject{1001, std::nullopt}), Code::kNotFound);
    data = f.Load();
    REQUIRE(data.grants.size() == 1);
    CHECK(data.grants[0].object == other);
  }
}

TEST_CASE("policy: labels are set, replaced and removed by level 1", "[acl][policy]") {
  Fixture f;
  const ObjectId object = f.NewObject();
  REQUIRE(f.policy().PutLabel(Label{object, 3, kAdmin, 50}).ok());
  PolicyData data = f.Load();
  REQUIRE(data.labels.size() == 1);
  CHECK(data.labels[0].object == object);
  CHECK(data.labels[0].level == 3);
  CHECK(data.labels[0].set_by == kAdmin);
  CHECK(data.labels[0].set_at == 50);

  REQUIRE(f.policy().PutLabel(Label{object, 2, kAdmin, 60}).ok());
  data = f.Load();
  REQUIRE(data.labels.size() == 1);
  CHECK(data.labels[0].level == 2);
  CHECK(data.labels[0].set_at == 60);

  CheckCode(f.policy().PutLabel(Label{object, 0, kAdmin, 70}), Code::kInvalid);
  CheckCode(f.policy().PutLabel(Label{object, 4, kAdmin, 70}), Code::kInvalid);
  CheckCode(f.policy().PutLabel(Label{RandomArray<16>(), 2, kAdmin, 70}), Code::kNotFound);
  CheckCode(f.policy().PutLabel(Label{object, 3, 4242, 70}), Code::kNotFound);
  CHECK(f.Load().labels[0].level == 2);

  REQUIRE(f.policy().PutLabel(Label{object, 1, kAdmin, 80}).ok());
  CHECK(f.Load().labels.empty());
  // Level 1 where there is no label is fine.
  CHECK(f.policy().PutLabel(Label{object, 1, kAdmin, 90}).ok());
}

TEST_CASE("policy: access requests are added, listed and decided once", "[acl][policy]") {
  Fixture f;
  REQUIRE(f.policy().AddUser(MakeUser(1001, "alice")).ok());
  const ObjectId object = f.NewObject();

  Result<int64_t> first = f.policy().AddRequest(MakeRequest(object, 1001, "for the Q3 audit"));
  Result<int64_t> second = f.policy().AddRequest(MakeRequest(object, 1001, ""));
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  CHECK(*second > *first);

  Result<AccessRequest> got = f.policy().GetRequest(*first);
  REQUIRE(got.ok());
  CHECK(got->id == *first);
  CHECK(got->object == object);
  CHECK(got->uid == 1001);
  CHECK(got->mode == Mode::kRead);
  CHECK(got->reason == "for the Q3 audit");
  CHECK(got->state == RequestState::kPending);
  CHECK(got->created_at == 1700000200);
  CHECK_FALSE(got->decided_by.has_value());
  CHECK_FALSE(got->decided_at.has_value());
  CHECK(got->decision_reason.empty());
  got = f.policy().GetRequest(*second);
  REQUIRE(got.ok());
  CHECK(got->reason.empty());

  CheckCode(f.policy().GetRequest(*second + 100).status(), Code::kNotFound);
  CheckCode(f.policy().AddRequest(MakeRequest(RandomArray<16>(), 1001, "x")).status(), Code::kNotFound);
  CheckCode(f.policy().AddRequest(MakeRequest(object, 4242, "x")).status(), Code::kNotFound);
  AccessRequest bad_mode = MakeRequest(object, 1001, "x");
  bad_mode.mode = static_cast<Mode>(9);
  CheckCode(f.policy().AddRequest(bad_mode).status(), Code::kInvalid);

  // Approve the first with a grant, in one step.
  AccessRequest approve = *f.policy().GetRequest(*first);
  approve.state = RequestState::kApproved;
  approve.decided_by = kAdmin;
  approve.decided_at = 1700000300;
  approve.decision_reason = "ok until the end of the audit";
  Grant grant = UserGrant(object, 1001, Mode::kRead);
  grant.until = 1700100000;
  REQUIRE(f.policy().DecideRequest(approve, grant).ok());

  got = f.policy().GetRequest(*first);
  REQUIRE(got.ok());
  CHECK(got->state == RequestState::kApproved);
  CHECK(got->decided_by == std::optional<Uid>(kAdmin));
  CHECK(got->decided_at == std::optional<Time>(1700000300));
  CHECK(got->decision_reason == "ok until the end of the audit");
  CHECK(got->reason == "for the Q3 audit");
  PolicyData data = f.Load();
  REQUIRE(data.grants.size() == 1);
  CHECK(data.grants[0].until == std::optional<Time>(1700100000));

  Status again = f.policy().DecideRequest(approve, std::nullopt);
  CheckCode(again, Code::kExists);
  CHECK(again.message() == "request " + std::to_string(*first) + " was already decided");

  AccessRequest missing = approve;
  missing.id = *second + 100;
  CheckCode(f.policy().DecideRequest(missing, std::nullopt), Code::kNotFound);

  AccessRequest still_pending = *f.policy().GetRequest(*second);
  CheckCode(f.policy().DecideRequest(still_pending, std::nullopt), Code::kInvalid);

  // A grant that cannot be stored undoes the decision.
  AccessRequest deny = still_pending;
  deny.state = RequestState::kApproved;
  deny.decided_by = kAdmin;
  deny.decided_at = 1700000400;
  CheckCode(f.policy().DecideRequest(deny, TeamGrant(object, 777, Mode::kRead)), Code::kNotFound);
  CHECK(f.policy().GetRequest(*second)->state == RequestState::kPending);
  // So does an unknown decider.
  deny.decided_by = 4242;
  CheckCode(f.policy().DecideRequest(deny, std::nullopt), Code::kNotFound);
  CHECK(f.policy().GetRequest(*second)->state == RequestState::kPending);

  Result<std::vector<AccessRequest>> pending = f.policy().ListRequests(true);
  REQUIRE(pending.ok());
  REQUIRE(pending->size() == 1);
  CHECK((*pending)[0].id == *second);

  // Deny with an empty reason.
  deny.state = RequestState::kDenied;
  deny.decided_by = kAdmin;
  REQUIRE(f.policy().DecideRequest(deny, std::nullopt).ok());
  got = f.policy().GetRequest(*second);
  REQUIRE(got.ok());
  CHECK(got->state == RequestState::kDenied);
  CHECK(got->decision_reason.empty());
  CHECK(f.Load().grants.size() == 1);

  Result<int64_t> third = f.policy().AddRequest(MakeRequest(object, 1001, "once more"));
  REQUIRE(third.ok());
  Result<std::vector<AccessRequest>> all = f.policy().ListRequests(false);
  REQUIRE(all.ok());
  REQUIRE(all->size() == 3);
  CHECK((*all)[0].id == *first);
  CHECK((*all)[1].id == *second);
  CHECK((*all)[2].id == *third);
  CHECK((*all)[2].reason == "once more");
  pending = f.policy().ListRequests(true);
  REQUIRE(pending.ok());
  REQUIRE(pending->size() == 1);
  CHECK((*pending)[0].id == *third);
}

TEST_CASE("policy: everything survives reopening", "[acl][policy]") {
  Fixture f;
  REQUIRE(f.policy().AddUser(MakeUser(1001, "alice")).ok());
  Result<TeamId> team = f.policy().AddTeam("red", 10);
  REQUIRE(team.ok());
  REQUIRE(f.policy().AddTeamMember(*team, 1001).ok());
  const ObjectId object = f.NewObject();
  REQUIRE(f.policy().PutGrant(TeamGrant(object, *team, Mode::kWrite)).ok());
  REQUIRE(f.policy().PutLabel(Label{object, 2, kAdmin, 5}).ok());
  Result<int64_t> id = f.policy().AddRequest(MakeRequest(object, 1001, "please"));
  REQUIRE(id.ok());

  f.Reopen(&f.key);
  PolicyData data = f.Load();
  CHECK(data.users.size() == 2);
  REQUIRE(data.teams.size() == 1);
  CHECK(data.teams[0].name == "red");
  CHECK(data.teams[0].members == std::vector<Uid>{1001});
  CHECK(data.grants.size() == 1);
  CHECK(data.labels.size() == 1);
  CHECK(f.policy().GetRequest(*id)->reason == "please");
  CHECK(*f.store->GetMeta("schema_version") == "4");
}

TEST_CASE("policy: names and reasons are stored sealed", "[acl][policy][erase]") {
  Fixture f;
  const std::string user_name = "marker-user-6b1f0c2e";
  const std::string team_name = "marker-team-93d4aa71";
  const std::string reason = "marker-reason-0e5c7712";
  const std::string decision = "marker-decision-47b2d9e0";
  REQUIRE(f.policy().AddUser(MakeUser(1001, user_name)).ok());
  REQUIRE(f.policy().AddTeam(team_name, 1).ok());
  const ObjectId object = f.NewObject();
  Result<int64_t> id = f.policy().AddRequest(MakeRequest(object, 1001, reason));
  REQUIRE(id.ok());
  AccessRequest decided = *f.policy().GetRequest(*id);
  decided.state = RequestState::kDenied;
  decided.decided_by = kAdmin;
  decided.decided_at = 2;
  decided.decision_reason = decision;
  REQUIRE(f.policy().DecideRequest(decided, std::nullopt).ok());

  // The sealed form (deterministic) is what the files hold.
  crypto::Bytes sealed_name;
  REQUIRE(crypto::siv::Seal(f.key.span(), crypto::AsBytes("strongroom/v1/user-name"), crypto::AsBytes(user_name),
                            &sealed_name));
  auto check_files = [&] {
    const Blob bytes = AllStoreBytes(f.path);
    REQUIRE_FALSE(bytes.empty());
    CHECK(testing::Contains(bytes, sealed_name));
    for (const std::string& marker : {user_name, team_name, reason, decision}) {
      INFO(marker);
      CHECK_FALSE(testing::Contains(bytes, crypto::AsBytes(marker)));
      // Nor a distinctive part of it.
      CHECK_FALSE(testing::Contains(bytes, crypto::AsBytes(marker.substr(marker.size() - 8))));
    }
  };
  SECTION("in the WAL, while open") {
    REQUIRE(testing::ReadAll(f.path + "-wal").size() > 0);
    check_files();
  }
  SECTION("in the database file, after a checkpoint and close") {
    REQUIRE(f.store->CheckpointTruncate().ok());
    check_files();
    f.store.reset();
    check_files();
  }
}

TEST_CASE("policy: a wrong text key fails with kIntegrity", "[acl][policy][integrity]") {
  Fixture f;
  REQUIRE(f.policy().AddUser(MakeUser(1001, "alice")).ok());
  const ObjectId object = f.NewObject();
  Result<int64_t> id = f.policy().AddRequest(MakeRequest(object, 1001, "a reason"));
  REQUIRE(id.ok());

  const crypto::SecretKey other = crypto::SecretKey::Random(64);
  f.Reopen(&other);
  Result<PolicyData> data = f.policy().LoadPolicy();
  REQUIRE_FALSE(data.ok());
  CheckCode(data.status(), Code::kIntegrity);
  CHECK(data.status().message() == "the policy store's user name does not authenticate");
  Result<AccessRequest> request = f.policy().GetRequest(*id);
  REQUIRE_FALSE(request.ok());
  CheckCode(request.status(), Code::kIntegrity);
  CHECK(request.status().message() == "the policy store's request reason does not authenticate");
  CheckCode(f.policy().ListRequests(false).status(), Code::kIntegrity);
  // Under the wrong key a name seals differently, so it does not collide.
  CHECK(f.policy().AddUser(MakeUser(1002, "alice")).ok());

  f.Reopen(&f.key);
  CheckCode(f.policy().LoadPolicy().status(), Code::kIntegrity);  // the user added under the wrong key
  CHECK(f.policy().GetRequest(*id)->reason == "a reason");
}

TEST_CASE("policy: a reason moved to another request does not open", "[acl][policy][integrity]") {
  Fixture f;
  REQUIRE(f.policy().AddUser(MakeUser(1001, "alice")).ok());
  const ObjectId object = f.NewObject();
  Result<int64_t> a = f.policy().AddRequest(MakeRequest(object, 1001, "reason a"));
  Result<int64_t> b = f.policy().AddRequest(MakeRequest(object, 1001, "reason b"));
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  f.store.reset();
  {
    RawDb raw(f.path);
    raw.Exec("UPDATE requests SET reason = (SELECT reason FROM requests WHERE id = 1) WHERE id = 2");
  }
  f.Reopen(&f.key);
  CHECK(f.policy().GetRequest(*a)->reason == "reason a");
  CheckCode(f.policy().GetRequest(*b).status(), Code::kIntegrity);
}

TEST_CASE("policy: a version-1 store is migrated to the current version on open", "[acl][policy][migrate]") {
  TempDir dir;
  const std::string path = dir.Sub("policy.db");
  const ObjectRow row = MakeRow();
  CreateV1Store(path, row);
  const crypto::SecretKey key = crypto::SecretKey::Random(64);

  {
    Result<std::unique_ptr<Store>> r = OpenSqliteStore(path, kVaultId, &key);
    INFO(r.status().ToString());
    REQUIRE(r.ok());
    Store& store = **r;
    CHECK(*store.GetMeta("schema_version") == "4");
    Result<ObjectRow> got = store.GetObject(row.id);
    REQUIRE(got.ok());
    CHECK(got->wrapped_key == row.wrapped_key);
    CHECK(got->mac == row.mac);

    // The policy tables work, and reference the old object rows.
    User admin = MakeUser(kAdmin, "admin", Role::kAdmin, 3);
    admin.created_by.reset();
    REQUIRE(store.policy().AddUser(admin).ok());
    REQUIRE(store.policy().PutGrant(UserGrant(row.id, kAdmin, Mode::kManage)).ok());
    REQUIRE(store.policy().PutLabel(Label{row.id, 3, kAdmin, 1}).ok());
    REQUIRE(store.policy().AddTeam("t", 1).ok());
    REQUIRE(store.policy().AddRequest(MakeRequest(row.id, kAdmin, "r")).ok());
    Result<PolicyData> data = store.policy().LoadPolicy();
    REQUIRE(data.ok());
    CHECK(data->grants.size() == 1);
  }
  // Reopening does not migrate again.
  {
    Result<std::unique_ptr<Store>> r = OpenSqliteStore(path, kVaultId, &key);
    REQUIRE(r.ok());
    CHECK((*r)->policy().LoadPolicy()->users.size() == 1);
  }

  // The migrated schema is the one a new store gets.
  const std::string fresh = dir.Sub("fresh.db");
  REQUIRE(CreateSqliteStore(fresh, kVaultId, &key).ok());
  const char* schema_sql =
      "SELECT type || ' ' || name || ': ' || coalesce(sql, '') FROM sqlite_schema ORDER BY type, name";
  std::vector<std::string> migrated_schema, fresh_schema;
  {
    RawDb raw(path);
    migrated_schema = raw.Column(schema_sql);
    const std::vector<std::string> tables = raw.Column("SELECT name FROM sqlite_schema WHERE type = 'table'");
    for (const char* table : {"users", "teams", "team_members", "grants", "labels", "requests", "viewers"}) {
      INFO(table);
      CHECK(std::find(tables.begin(), tables.end(), table) != tables.end());
    }
    CHECK(raw.Column("PRAGMA foreign_key_check").empty());
  }
  {
    RawDb raw(fresh);
    fresh_schema = raw.Column(schema_sql);
  }
  CHECK(migrated_schema == fresh_schema);
}

TEST_CASE("policy: a version-1 store is migrated without a text key", "[acl][policy][migrate]") {
  TempDir dir;
  const std::string path = dir.Sub("policy.db");
  const ObjectRow row = MakeRow();
  CreateV1Store(path, row);
  Result<std::unique_ptr<Store>> r = OpenSqliteStore(path, kVaultId);
  REQUIRE(r.ok());
  CHECK(*(*r)->GetMeta("schema_version") == "4");
  CHECK((*r)->GetObject(row.id).ok());
}

TEST_CASE("policy: a failed migration leaves the version-1 store as it was", "[acl][policy][migrate]") {
  TempDir dir;
  const std::string path = dir.Sub("policy.db");
  const ObjectRow row = MakeRow();
  CreateV1Store(path, row);
  {
    // A table in the way of the migration's third step.
    RawDb raw(path);
    raw.Exec("CREATE TABLE team_members (x INTEGER)");
  }
  const crypto::SecretKey key = crypto::SecretKey::Random(64);
  Result<std::unique_ptr<Store>> r = OpenSqliteStore(path, kVaultId, &key);
  REQUIRE_FALSE(r.ok());
  CheckCode(r.status(), Code::kIntegrity);
  CHECK_THAT(r.status().message(), Catch::Contains("migration to schema version 2"));

  RawDb raw(path);
  CHECK(raw.Column("SELECT value FROM meta WHERE key = 'schema_version'") == std::vector<std::string>{"1"});
  CHECK(raw.Column("SELECT name FROM sqlite_schema WHERE name IN ('users', 'teams', 'grants')").empty());
  CHECK(raw.Column("SELECT count(*) FROM objects") == std::vector<std::string>{"1"});
}

TEST_CASE("policy: a store from a newer strongroom is refused", "[acl][policy][migrate]") {
  Fixture f;
  REQUIRE(f.store->SetMeta("schema_version", "5").ok());
  f.store.reset();
  Result<std::unique_ptr<Store>> r = OpenSqliteStore(f.path, kVaultId, &f.key);
  REQUIRE_FALSE(r.ok());
  CheckCode(r.status(), Code::kIntegrity);
  CHECK(r.status().message() == "the policy store has schema version 5, newer than this strongroom");

  {
    RawDb raw(f.path);
    raw.Exec("UPDATE meta SET value = 'two' WHERE key = 'schema_version'");
  }
  r = OpenSqliteStore(f.path, kVaultId, &f.key);
  REQUIRE_FALSE(r.ok());
  CheckCode(r.status(), Code::kIntegrity);
}

TEST_CASE("policy: a corrupt database fails with kIntegrity", "[acl][policy][integrity]") {
  Fixture f;
  for (Uid uid = 1001; uid < 1200; ++uid) {
    REQUIRE(f.policy().AddUser(MakeUser(uid, "user-" + std::to_string(uid))).ok());
  }
  REQUIRE(f.store->CheckpointTruncate().ok());
  f.store.reset();
  Blob bytes = testing::ReadAll(f.path);
  REQUIRE(bytes.size() > 8192);

  SECTION("a sealed name altered in place") {
    crypto::Bytes sealed;
    REQUIRE(crypto::siv::Seal(f.key.span(), crypto::AsBytes("strongroom/v1/user-name"), crypto::AsBytes("user-1100"),
                              &sealed));
    int altered = 0;
    for (auto it = bytes.begin(); (it = std::search(it, bytes.end(), sealed.begin(), sealed.end())) != bytes.end();
         ++it) {
      it[20] ^= 0x01;
      ++altered;
    }
    REQUIRE(altered >= 1);
    testing::WriteAll(f.path, bytes);
    // The b-trees are intact (quick_check passes); the name does not open.
    Result<std::unique_ptr<Store>> r = OpenSqliteStore(f.path, kVaultId, &f.key);
    INFO(r.status().ToString());
    REQUIRE(r.ok());
    Result<PolicyData> data = (*r)->policy().LoadPolicy();
    REQUIRE_FALSE(data.ok());
    CheckCode(data.status(), Code::kIntegrity);
    CHECK(data.status().message() == "the policy store's user name does not authenticate");
  }
  SECTION("pages overwritten with junk") {
    std::mt19937 rng(11);
    for (size_t i = 4096; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(rng());
    testing::WriteAll(f.path, bytes);
    Result<std::unique_ptr<Store>> r = OpenSqliteStore(f.path, kVaultId, &f.key);
    REQUIRE_FALSE(r.ok());
    CheckCode(r.status(), Code::kIntegrity);
  }
}

TEST_CASE("policy: deleting objects deletes their grants, labels and requests", "[acl][policy][cascade]") {
  Fixture f;
  REQUIRE(f.policy().AddUser(MakeUser(1001, "alice")).ok());
  Result<TeamId> team = f.policy().AddTeam("red", 1);
  REQUIRE(team.ok());
  const ObjectId doomed = f.NewObject();
  const ObjectId kept = f.NewObject();
  for (const ObjectId& object : {doomed, kept}) {
    REQUIRE(f.policy().PutGrant(UserGrant(object, 1001, Mode::kRead)).ok());
    REQUIRE(f.policy().PutGrant(TeamGrant(object, *team, Mode::kWrite)).ok());
    REQUIRE(f.policy().PutLabel(Label{object, 2, kAdmin, 1}).ok());
    REQUIRE(f.policy().AddRequest(MakeRequest(object, 1001, "why")).ok());
  }
  REQUIRE(f.store->DeleteObject(doomed).ok());

  PolicyData data = f.Load();
  REQUIRE(data.grants.size() == 2);
  for (const Grant& g : data.grants) CHECK(g.object == kept);
  REQUIRE(data.labels.size() == 1);
  CHECK(data.labels[0].object == kept);
  Result<std::vector<AccessRequest>> requests = f.policy().ListRequests(false);
  REQUIRE(requests.ok());
  REQUIRE(requests->size() == 1);
  CHECK((*requests)[0].object == kept);
  // Users and teams stay.
  CHECK(data.users.size() == 2);
  CHECK(data.teams.size() == 1);

  SECTION("a bulk delete stays fast") {
    constexpr int kObjects = 4000;
    std::vector<ObjectId> ids;
    for (int i = 0; i < kObjects; ++i) {
      ids.push_back(f.NewObject());
      REQUIRE(f.policy().PutGrant(UserGrant(ids.back(), 1001, Mode::kRead)).ok());
      REQUIRE(f.policy().PutGrant(TeamGrant(ids.back(), *team, Mode::kRead)).ok());
      REQUIRE(f.policy().PutLabel(Label{ids.back(), 3, kAdmin, 1}).ok());
      REQUIRE(f.policy().AddRequest(MakeRequest(ids.back(), 1001, "")).ok());
    }
    const auto start = std::chrono::steady_clock::now();
    REQUIRE(f.store->DeleteObjects(ids).ok());
    const auto elapsed = std::chrono::steady_clock::now() - start;
    INFO(std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count() << " ms");
    // A scan per deleted row would take seconds (12000 rows, 4000 times);
    // with the indexes it takes milliseconds.
    CHECK(elapsed < std::chrono::seconds(1));
    data = f.Load();
    CHECK(data.grants.size() == 2);
    CHECK(data.labels.size() == 1);
    CHECK(f.policy().ListRequests(false)->size() == 1);

    // Each cascade finds its rows through an index.
    f.store.reset();
    RawDb raw(f.path);
    for (const char* query : {"EXPLAIN QUERY PLAN SELECT 1 FROM grants WHERE object = x'00'",
                              "EXPLAIN QUERY PLAN SELECT 1 FROM labels WHERE object = x'00'",
                              "EXPLAIN QUERY PLAN SELECT 1 FROM requests WHERE object = x'00'"}) {
      INFO(query);
      std::string plan;
      for (const std::string& line : raw.Column(query, 3)) plan += line + "; ";  // the `detail` column
      CHECK_THAT(plan, Catch::Contains("SEARCH") && !Catch::Contains("SCAN"));
    }
  }
}

TEST_CASE("policy: concurrent calls from several threads", "[acl][policy][threads]") {
  Fixture f;
  constexpr int kThreads = 8;
  constexpr int kUsersPerThread = 25;
  std::vector<ObjectId> objects;
  for (int i = 0; i < 10; ++i) objects.push_back(f.NewObject());

  std::atomic<bool> failed{false};
  std::vector<int64_t> request_ids[kThreads];
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      PolicyStore& policy = f.policy();
      auto expect = [&](bool ok) {
        if (!ok) failed = true;
      };
      Result<TeamId> team = policy.AddTeam("team-" + std::to_string(t), t);
      expect(team.ok());
      if (!team.ok()) return;
      for (int i = 0; i < kUsersPerThread; ++i) {
        const Uid uid = static_cast<Uid>(2000 + t * 100 + i);
        expect(policy.AddUser(MakeUser(uid, "user-" + std::to_string(uid))).ok());
        expect(policy.AddTeamMember(*team, uid).ok());
        const ObjectId& object = objects[static_cast<size_t>(i) % objects.size()];
        expect(policy.PutGrant(UserGrant(object, uid, Mode::kRead)).ok());
        Result<int64_t> id = policy.AddRequest(MakeRequest(object, uid, "r" + std::to_string(uid)));
        expect(id.ok());
        if (id.ok()) request_ids[t].push_back(*id);
        if (i % 5 == 0) expect(policy.LoadPolicy().ok());
        // A taken uid is refused, whichever thread got it.
        expect(policy.AddUser(MakeUser(uid, "dup-" + std::to_string(uid))).code() == Code::kExists);
      }
      expect(policy.PutGrant(TeamGrant(objects[static_cast<size_t>(t)], *team, Mode::kWrite)).ok());
    });
  }
  // Object churn (with cascades) alongside.
  threads.emplace_back([&] {
    for (int i = 0; i < 50; ++i) {
      const ObjectRow row = MakeRow();
      if (!f.store->InsertObject(row).ok()) failed = true;
      if (!f.policy().PutLabel(Label{row.id, 2, kAdmin, i}).ok()) failed = true;
      if (!f.store->DeleteObject(row.id).ok()) failed = true;
    }
  });
  for (std::thread& thread : threads) thread.join();
  CHECK_FALSE(failed);

  PolicyData data = f.Load();
  CHECK(data.users.size() == 1 + kThreads * kUsersPerThread);
  REQUIRE(data.teams.size() == kThreads);
  for (const Team& team : data.teams) CHECK(team.members.size() == kUsersPerThread);
  CHECK(data.grants.size() == kThreads * kUsersPerThread + kThreads);
  CHECK(data.labels.empty());
  std::set<int64_t> ids;
  for (const auto& per_thread : request_ids) ids.insert(per_thread.begin(), per_thread.end());
  CHECK(ids.size() == kThreads * kUsersPerThread);
  Result<std::vector<AccessRequest>> requests = f.policy().ListRequests(true);
  REQUIRE(requests.ok());
  REQUIRE(requests->size() == kThreads * kUsersPerThread);
  for (const AccessRequest& r : *requests) CHECK(r.reason == "r" + std::to_string(r.uid));
}

}  // namespace
}  // namespace strongroom::acl

namespace strongroom::acl {
namespace {

// ---- the policy seal (PolicyStore::SetSealer, meta key 'policy_mac') ----
//
// These tests use the product's sealer (fs::PolicySealerFor: HMAC-SHA256
// over a canonical encoding, keyed like the object row MACs), so what is
// checked here is what a mounted vault stores.

// A store whose policy is sealed from the start, as `strongroom init` makes
// it: the sealer is set before the first admin is added. Closed and
// reopened like the daemon does (a new store object, the sealer set again).
struct SealedFixture {
  TempDir dir;
  std::string path = dir.Sub("policy.db");
  crypto::SecretKey key = crypto::SecretKey::Random(64);
  crypto::SecretKey row_key = crypto::SecretKey::Random(32);
  std::unique_ptr<Store> store;

  SealedFixture() {
    Result<std::unique_ptr<Store>> r = CreateSqliteStore(path, kVaultId, &key);
    INFO(r.status().ToString());
    REQUIRE(r.ok());
    store = std::move(*r);
    store->policy().SetSealer(fs::PolicySealerFor(row_key));
    User admin = MakeUser(kAdmin, "root-admin", Role::kAdmin, 3);
    admin.created_by.reset();
    REQUIRE(policy().AddUser(admin).ok());
  }

  PolicyStore& policy() { return store->policy(); }

  ObjectId NewObject() {
    const ObjectRow row = MakeRow();
    REQUIRE(store->InsertObject(row).ok());
    return row.id;
  }

  void Close() { store.reset(); }

  void Open() {
    Result<std::unique_ptr<Store>> r = OpenSqliteStore(path, kVaultId, &key);
    INFO(r.status().ToString());
    REQUIRE(r.ok());
    store = std::move(*r);
    store->policy().SetSealer(fs::PolicySealerFor(row_key));
  }

  // The seal as stored (empty when there is none); only while closed.
  std::string StoredSeal() {
    REQUIRE(store == nullptr);
    RawDb raw(path);
    const std::vector<std::string> v = raw.Column("SELECT value FROM meta WHERE key = 'policy_mac'");
    return v.empty() ? std::string() : v.front();
  }

  // LoadPolicy works now, and the stored seal is the MAC of what it loaded.
  PolicyData LoadSealed() {
    Result<PolicyData> r = policy().LoadPolicy();
    INFO(r.status().ToString());
    REQUIRE(r.ok());
    Close();
    CHECK(StoredSeal() == crypto::HexEncode(fs::PolicyMac(row_key, *r)));
    Open();
    return std::move(*r);
  }

  // Runs `sql` on the closed store through a second connection, then
  // reopens it and returns what LoadPolicy says.
  Status TamperAndLoad(const char* sql) {
    Close();
    {
      RawDb raw(path);
      raw.Exec(sql);
    }
    Open();
    Result<PolicyData> r = policy().LoadPolicy();
    return r.status();
  }
};

TEST_CASE("policy seal: every change is sealed and the policy keeps loading", "[acl][policy][seal]") {
  SealedFixture f;
  std::string last_seal;
  // After each step: the policy loads (in this store object and after a
  // reopen), the stored seal is the MAC of it, and it differs from the
  // seal before the step (a change that left the old seal would load as
  // tampered). A step back to an earlier policy gets that policy's seal.
  auto step = [&](const char* what) {
    INFO(what);
    f.LoadSealed();
    f.Close();
    const std::string seal = f.StoredSeal();
    CHECK(seal.size() == 64);
    CHECK(seal != last_seal);
    last_seal = seal;
    f.Open();
  };
  step("first admin");

  REQUIRE(f.policy().AddUser(MakeUser(1001, "alice")).ok());
  step("add user");
  User alice = MakeUser(1001, "alice", Role::kAuditor, 2);
  REQUIRE(f.policy().UpdateUser(alice).ok());
  step("update user");
  alice.enabled = false;
  REQUIRE(f.policy().UpdateUser(alice).ok());
  step("disable user");
  REQUIRE(f.policy().AddUser(MakeUser(1002, "bob")).ok());
  step("add another user");

  Result<TeamId> team = f.policy().AddTeam("red", 10);
  REQUIRE(team.ok());
  step("add team");
  REQUIRE(f.policy().AddTeamMember(*team, 1001).ok());
  step("add member");
  REQUIRE(f.policy().AddTeamMember(*team, 1002).ok());
  step("add another member");
  REQUIRE(f.policy().RemoveTeamMember(*team, 1001).ok());
  step("remove member");

  const ObjectId object = f.NewObject();
  const ObjectId other = f.NewObject();
  REQUIRE(f.policy().PutGrant(UserGrant(object, 1002, Mode::kRead)).ok());
  step("user grant");
  REQUIRE(f.policy().PutGrant(UserGrant(object, 1002, Mode::kWrite)).ok());
  step("grant replaced");
  Grant expiring = TeamGrant(other, *team, Mode::kView);
  expiring.until = 1800000000;
  REQUIRE(f.policy().PutGrant(expiring).ok());
  step("team grant with an expiry");
  REQUIRE(f.policy().DeleteGrant(object, Subject{1002, std::nullopt}).ok());
  step("grant deleted");
  REQUIRE(f.policy().PutLabel(Label{object, 3, kAdmin, 7}).ok());
  step("label set");
  REQUIRE(f.policy().PutLabel(Label{object, 2, kAdmin, 8}).ok());
  step("label replaced");
  REQUIRE(f.policy().PutLabel(Label{object, 1, kAdmin, 9}).ok());
  step("label removed");

  Result<int64_t> approved = f.policy().AddRequest(MakeRequest(object, 1002, "need it"));
  REQUIRE(approved.ok());
  AccessRequest decided = *f.policy().GetRequest(*approved);
  decided.state = RequestState::kApproved;
  decided.decided_by = kAdmin;
  decided.decided_at = 1700000300;
  REQUIRE(f.policy().DecideRequest(decided, UserGrant(object, 1002, Mode::kRead)).ok());
  step("request approved with a grant");

  // Requests are not part of the sealed policy: adding or denying one
  // leaves the seal as it was, and the policy still loads.
  Result<int64_t> denied = f.policy().AddRequest(MakeRequest(other, 1002, "and this"));
  REQUIRE(denied.ok());
  decided = *f.policy().GetRequest(*denied);
  decided.state = RequestState::kDenied;
  decided.decided_by = kAdmin;
  decided.decided_at = 1700000400;
  REQUIRE(f.policy().DecideRequest(decided, std::nullopt).ok());
  f.LoadSealed();
  f.Close();
  CHECK(f.StoredSeal() == last_seal);
  f.Open();

  // A refused change leaves the policy and its seal as they were.
  const std::string before = [&] {
    f.Close();
    std::string s = f.StoredSeal();
    f.Open();
    return s;
  }();
  CheckCode(f.policy().AddUser(MakeUser(1001, "alice-again")), Code::kExists);
  CheckCode(f.policy().PutGrant(UserGrant(RandomArray<16>(), 1002, Mode::kRead)), Code::kNotFound);
  CheckCode(f.policy().PutGrant(UserGrant(object, 9999, Mode::kRead)), Code::kNotFound);
  CheckCode(f.policy().DeleteGrant(other, Subject{1002, std::nullopt}), Code::kNotFound);
  CheckCode(f.policy().UpdateUser(MakeUser(9999, "nobody")), Code::kNotFound);
  CheckCode(f.policy().RemoveTeamMember(*team, 1001), Code::kNotFound);
  PolicyData data = f.LoadSealed();
  f.Close();
  CHECK(f.StoredSeal() == before);
  f.Open();
  CHECK(data.users.size() == 3);
  REQUIRE(data.grants.size() == 2);
}

TEST_CASE("policy seal: a policy edited outside Strongroom loads as kIntegrity", "[acl][policy][seal][integrity]") {
  SealedFixture f;
  REQUIRE(f.policy().AddUser(MakeUser(1001, "alice")).ok());
  REQUIRE(f.policy().AddUser(MakeUser(1002, "bob")).ok());
  Result<TeamId> team = f.policy().AddTeam("red", 10);
  REQUIRE(team.ok());
  REQUIRE(f.policy().AddTeamMember(*team, 1001).ok());
  REQUIRE(f.policy().AddTeamMember(*team, 1002).ok());
  const ObjectId object = f.NewObject();
  REQUIRE(f.policy().PutGrant(UserGrant(object, 1001, Mode::kRead)).ok());
  REQUIRE(f.policy().PutGrant(TeamGrant(object, *team, Mode::kView)).ok());
  REQUIRE(f.policy().PutLabel(Label{object, 2, kAdmin, 1}).ok());
  f.LoadSealed();

  // Each edit is made on the closed store and undone by restoring the file
  // (the edits are independent of each other).
  f.Close();
  const Blob pristine = testing::ReadAll(f.path);
  for (const char* suffix : {"-wal", "-shm"}) {
    struct stat st;
    REQUIRE(::stat((f.path + suffix).c_str(), &st) != 0);  // closed cleanly: all in the main file
  }

  const char* edit = GENERATE(
      "UPDATE users SET role = 1 WHERE uid = 1001",
      "UPDATE users SET clearance = 3 WHERE uid = 1002",
      "UPDATE users SET enabled = 0 WHERE uid = 1000",
      "INSERT INTO grants (object, subject_uid, subject_team, mode, until, granted_by, granted_at) "
      "SELECT object, 1002, NULL, 4, NULL, 1000, 1700000100 FROM grants LIMIT 1",
      "DELETE FROM grants WHERE subject_uid = 1001",
      "UPDATE grants SET mode = 4",
      "UPDATE grants SET until = 1 WHERE subject_team IS NOT NULL",
      "UPDATE grants SET granted_by = 1001",
      "DELETE FROM team_members WHERE uid = 1002",
      "INSERT INTO team_members (team, uid) VALUES (1, 1000)",
      "DELETE FROM labels",
      "UPDATE labels SET level = 1",
      "UPDATE meta SET value = '00' WHERE key = 'policy_mac'",
      // Two users' sealed names swapped: both still open (the name's AAD
      // does not name the row), so only the seal tells.
      "CREATE TEMP TABLE old_names AS SELECT uid, name FROM users WHERE uid IN (1001, 1002); "
      "UPDATE users SET name = x'00' WHERE uid = 1001; "
      "UPDATE users SET name = (SELECT name FROM old_names WHERE uid = 1001) WHERE uid = 1002; "
      "UPDATE users SET name = (SELECT name FROM old_names WHERE uid = 1002) WHERE uid = 1001");
  INFO(edit);
  // The restored file loads (the control), then the edit is made.
  testing::WriteAll(f.path, pristine);
  REQUIRE(f.TamperAndLoad("SELECT 1").ok());
  f.Close();
  testing::WriteAll(f.path, pristine);
  const Status st = f.TamperAndLoad(edit);
  CheckCode(st, Code::kIntegrity);
  CHECK_THAT(st.message(), Catch::Contains("policy") && Catch::Contains("changed outside Strongroom"));
  // A store without the sealer (not what the daemon does) loads anything.
  f.Close();
  Result<std::unique_ptr<Store>> unsealed = OpenSqliteStore(f.path, kVaultId, &f.key);
  REQUIRE(unsealed.ok());
  CHECK((*unsealed)->policy().LoadPolicy().ok());
}

TEST_CASE("policy seal: a missing seal is refused unless the policy is empty", "[acl][policy][seal][integrity]") {
  // acl/policy.h: a store that was never sealed (one migrated from schema 1)
  // is sealed on load while its policy is empty; a policy with anything in
  // it and no seal is refused, so deleting the meta row does not launder
  // an edit.
  SECTION("the seal deleted") {
    SealedFixture f;
    REQUIRE(f.policy().AddUser(MakeUser(1001, "alice")).ok());
    f.LoadSealed();
    const Status st = f.TamperAndLoad("DELETE FROM meta WHERE key = 'policy_mac'");
    CheckCode(st, Code::kIntegrity);
    CHECK_THAT(st.message(), Catch::Contains("policy") && Catch::Contains("lost its seal"));
    // Refusing it wrote nothing: still no seal.
    f.Close();
    CHECK(f.StoredSeal().empty());
  }
  SECTION("the seal deleted together with an edit") {
    SealedFixture f;
    REQUIRE(f.policy().AddUser(MakeUser(1001, "alice")).ok());
    f.LoadSealed();
    CheckCode(f.TamperAndLoad("UPDATE users SET role = 1 WHERE uid = 1001; "
                              "DELETE FROM meta WHERE key = 'policy_mac'"),
              Code::kIntegrity);
  }
  SECTION("an empty seal") {
    SealedFixture f;
    f.LoadSealed();
    CheckCode(f.TamperAndLoad("UPDATE meta SET value = '' WHERE key = 'policy_mac'"), Code::kIntegrity);
  }
  SECTION("a migrated version-1 store (empty policy) is sealed on its first load") {
    TempDir dir;
    const std::string path = dir.Sub("policy.db");
    CreateV1Store(path, MakeRow());
    const crypto::SecretKey key = crypto::SecretKey::Random(64);
    const crypto::SecretKey row_key = crypto::SecretKey::Random(32);
    PolicyData empty;
    {
      Result<std::unique_ptr<Store>> r = OpenSqliteStore(path, kVaultId, &key);
      REQUIRE(r.ok());
      (*r)->policy().SetSealer(fs::PolicySealerFor(row_key));
      Result<PolicyData> data = (*r)->policy().LoadPolicy();
      INFO(data.status().ToString());
      REQUIRE(data.ok());
      CHECK(data->users.empty());
    }
    {
      RawDb raw(path);
      CHECK(raw.Column("SELECT value FROM meta WHERE key = 'policy_mac'") ==
            std::vector<std::string>{crypto::HexEncode(fs::PolicyMac(row_key, empty))});
      // From then on an edit is caught like in any sealed store.
      raw.Exec("INSERT INTO users (uid, name, role, clearance, enabled, created_at) VALUES (7, x'00', 1, 3, 1, 0)");
    }
    Result<std::unique_ptr<Store>> r = OpenSqliteStore(path, kVaultId, &key);
    REQUIRE(r.ok());
    (*r)->policy().SetSealer(fs::PolicySealerFor(row_key));
    CheckCode((*r)->policy().LoadPolicy().status(), Code::kIntegrity);
  }
  SECTION("a store written without a sealer is refused once a sealer checks it") {
    // What a vault made by a strongroom from before the seal looks like
    // (schema version 2, its first admin, no 'policy_mac'): it is refused
    // like a tampered one, since it cannot be told apart from one.
    Fixture plain;
    plain.store.reset();
    plain.Reopen(&plain.key);
    plain.policy().SetSealer(fs::PolicySealerFor(crypto::SecretKey::Random(32)));
    Result<PolicyData> r = plain.policy().LoadPolicy();
    CheckCode(r.status(), Code::kIntegrity);
    CHECK_THAT(r.status().message(), Catch::Contains("lost its seal"));
  }
  SECTION("every policy row and the seal deleted: an empty policy is accepted") {
    // The one missing seal still taken as an upgrade. It grants nobody
    // anything (no user is left, not even an admin): it is a wipe, which
    // anyone who can write the database can do anyway.
    SealedFixture f;
    REQUIRE(f.policy().AddUser(MakeUser(1001, "alice")).ok());
    f.LoadSealed();
    const Status st = f.TamperAndLoad(
        "DELETE FROM grants; DELETE FROM labels; DELETE FROM team_members; DELETE FROM teams; DELETE FROM requests; "
        "DELETE FROM users; DELETE FROM meta WHERE key = 'policy_mac'");
    INFO(st.ToString());
    REQUIRE(st.ok());
    CHECK(f.LoadSealed().users.empty());
  }
}

TEST_CASE("policy seal: deleting objects with grants and labels keeps the seal valid", "[acl][policy][seal][cascade]") {
  SealedFixture f;
  REQUIRE(f.policy().AddUser(MakeUser(1001, "alice")).ok());
  Result<TeamId> team = f.policy().AddTeam("red", 1);
  REQUIRE(team.ok());
  const ObjectId granted = f.NewObject();
  const ObjectId labelled = f.NewObject();
  const ObjectId plain = f.NewObject();
  const ObjectId kept = f.NewObject();
  REQUIRE(f.policy().PutGrant(UserGrant(granted, 1001, Mode::kManage)).ok());
  REQUIRE(f.policy().PutGrant(TeamGrant(granted, *team, Mode::kRead)).ok());
  REQUIRE(f.policy().PutLabel(Label{labelled, 3, kAdmin, 1}).ok());
  REQUIRE(f.policy().PutGrant(UserGrant(kept, 1001, Mode::kRead)).ok());
  f.LoadSealed();

  SECTION("one object carrying grants") {
    REQUIRE(f.store->DeleteObject(granted).ok());
    PolicyData data = f.LoadSealed();
    REQUIRE(data.grants.size() == 1);
    CHECK(data.grants[0].object == kept);
    CHECK(data.labels.size() == 1);
  }
  SECTION("one object carrying only a label") {
    REQUIRE(f.store->DeleteObject(labelled).ok());
    PolicyData data = f.LoadSealed();
    CHECK(data.grants.size() == 3);
    CHECK(data.labels.empty());
  }
  SECTION("a batch mixing objects with and without policy") {
    REQUIRE(f.store->DeleteObjects({plain, granted, labelled}).ok());
    PolicyData data = f.LoadSealed();
    REQUIRE(data.grants.size() == 1);
    CHECK(data.grants[0].object == kept);
    CHECK(data.labels.empty());
  }
  SECTION("an object without policy leaves the seal alone") {
    f.Close();
    const std::string before = f.StoredSeal();
    f.Open();
    REQUIRE(f.store->DeleteObject(plain).ok());
    f.LoadSealed();
    f.Close();
    CHECK(f.StoredSeal() == before);
    f.Open();
  }
  // And the renewed seal still catches an edit afterwards.
  CheckCode(f.TamperAndLoad("UPDATE grants SET mode = 4"), Code::kIntegrity);
}

TEST_CASE("policy seal: a store without a sealer loads any edit", "[acl][policy][seal]") {
  Fixture f;
  REQUIRE(f.policy().AddUser(MakeUser(1001, "alice")).ok());
  const ObjectId object = f.NewObject();
  REQUIRE(f.policy().PutGrant(UserGrant(object, 1001, Mode::kRead)).ok());
  f.store.reset();
  {
    RawDb raw(f.path);
    CHECK(raw.Column("SELECT value FROM meta WHERE key = 'policy_mac'").empty());
    raw.Exec("UPDATE users SET role = 1 WHERE uid = 1001");
    raw.Exec("UPDATE grants SET mode = 4");
    raw.Exec("INSERT INTO meta (key, value) VALUES ('policy_mac', 'junk')");
  }
  f.Reopen(&f.key);
  PolicyData data = f.Load();
  REQUIRE(data.grants.size() == 1);
  CHECK(data.grants[0].mode == Mode::kManage);
  CHECK(data.users[1].role == Role::kAdmin);
}

TEST_CASE("policy seal: a seal made under another key does not verify", "[acl][policy][seal][integrity]") {
  SealedFixture f;
  REQUIRE(f.policy().AddUser(MakeUser(1001, "alice")).ok());
  f.LoadSealed();
  f.Close();
  Result<std::unique_ptr<Store>> r = OpenSqliteStore(f.path, kVaultId, &f.key);
  REQUIRE(r.ok());
  (*r)->policy().SetSealer(fs::PolicySealerFor(crypto::SecretKey::Random(32)));
  Result<PolicyData> data = (*r)->policy().LoadPolicy();
  CheckCode(data.status(), Code::kIntegrity);
}

TEST_CASE("policy seal: a rekey that does not commit keeps sealing with the old key",
          "[acl][policy][seal]") {
  SealedFixture f;
  REQUIRE(f.policy().AddUser(MakeUser(1001, "alice")).ok());
  f.NewObject();
  // One row short: the store refuses the rekey and rolls it back.
  const crypto::SecretKey new_row_key = crypto::SecretKey::Random(32);
  const Status st = f.store->Rekey({}, fs::PolicySealerFor(new_row_key), "rekey_config", "x");
  CheckCode(st, Code::kIntegrity);
  // A change after it is sealed as the store on disk is: under the old key.
  REQUIRE(f.policy().AddUser(MakeUser(1002, "bob")).ok());
  const PolicyData data = f.LoadSealed();
  CHECK(data.users.size() == 3);

  SECTION("and one that commits seals with the new key from then on") {
    Result<std::vector<ObjectRow>> rows = f.store->ListObjects();
    REQUIRE(rows.ok());
    REQUIRE(f.store->Rekey(*rows, fs::PolicySealerFor(new_row_key), "rekey_config", "y").ok());
    REQUIRE(f.policy().AddUser(MakeUser(1003, "carol")).ok());
    f.Close();
    Result<std::unique_ptr<Store>> r = OpenSqliteStore(f.path, kVaultId, &f.key);
    REQUIRE(r.ok());
    (*r)->policy().SetSealer(fs::PolicySealerFor(new_row_key));
    Result<PolicyData> loaded = (*r)->policy().LoadPolicy();
    INFO(loaded.status().ToString());
    REQUIRE(loaded.ok());
    CHECK(loaded->users.size() == 4);
  }
}

// ---- the viewer group and the viewer allow-list (schema 3, view-only mode) ----

Viewer MakeViewer(const std::string& path, const std::string& label, uint8_t fill) {
  Viewer v;
  v.path = path;
  v.label = label;
  v.sha256.fill(fill);
  v.added_by = kAdmin;
  v.added_at = 1700000500;
  return v;
}

TEST_CASE("viewers: added, replaced by path, removed, sealed and stored sealed", "[acl][policy][viewers][seal]") {
  SealedFixture f;
  REQUIRE(f.policy().SetViewerGroup(ViewerGroup{995, "strongroom-viewers"}).ok());
  Result<int64_t> a = f.policy().PutViewer(MakeViewer("/opt/viewers/marker-pdfview-5e1c", "pdf", 0xaa));
  REQUIRE(a.ok());
  Result<int64_t> b = f.policy().PutViewer(MakeViewer("/opt/viewers/imgview", "img", 0xbb));
  REQUIRE(b.ok());
  PolicyData data = f.LoadSealed();
  REQUIRE(data.viewer_group);
  CHECK(data.viewer_group->gid == 995);
  CHECK(data.viewer_group->name == "strongroom-viewers");
  REQUIRE(data.viewers.size() == 2);
  CHECK(data.viewers[0].path == "/opt/viewers/marker-pdfview-5e1c");
  CHECK(data.viewers[0].label == "pdf");
  CHECK(data.viewers[0].sha256[0] == 0xaa);
  CHECK(data.viewers[0].added_by == kAdmin);

  // The same path again: the row is replaced (new digest), not added.
  Result<int64_t> again = f.policy().PutViewer(MakeViewer("/opt/viewers/marker-pdfview-5e1c", "pdf2", 0xcc));
  REQUIRE(again.ok());
  CHECK(*again == *a);
  data = f.LoadSealed();
  REQUIRE(data.viewers.size() == 2);
  CHECK(data.viewers[0].sha256[0] == 0xcc);
  CHECK(data.viewers[0].label == "pdf2");

  REQUIRE(f.policy().RemoveViewer(*b).ok());
  CheckCode(f.policy().RemoveViewer(*b), Code::kNotFound);
  data = f.LoadSealed();
  REQUIRE(data.viewers.size() == 1);
  CheckCode(f.policy().PutViewer(MakeViewer("", "x", 1)).status(), Code::kInvalid);
  CheckCode(f.policy().PutViewer(MakeViewer("/x", "", 1)).status(), Code::kInvalid);
  Viewer stranger = MakeViewer("/opt/viewers/other", "other", 1);
  stranger.added_by = 4242;
  CheckCode(f.policy().PutViewer(stranger).status(), Code::kNotFound);

  // No plaintext path or label in the files.
  REQUIRE(f.store->CheckpointTruncate().ok());
  f.Close();
  const Blob bytes = AllStoreBytes(f.path);
  CHECK_FALSE(testing::Contains(bytes, crypto::AsBytes("marker-pdfview-5e1c")));
  CHECK_FALSE(testing::Contains(bytes, crypto::AsBytes("pdf2")));
  f.Open();
}

TEST_CASE("viewers: an allow-list edited outside Strongroom loads as kIntegrity", "[acl][policy][viewers][seal][integrity]") {
  SealedFixture f;
  REQUIRE(f.policy().SetViewerGroup(ViewerGroup{995, "strongroom-viewers"}).ok());
  REQUIRE(f.policy().PutViewer(MakeViewer("/opt/viewers/pdfview", "pdf", 0xaa)).ok());
  REQUIRE(f.policy().PutViewer(MakeViewer("/opt/viewers/imgview", "img", 0xbb)).ok());
  f.LoadSealed();
  f.Close();
  const Blob pristine = testing::ReadAll(f.path);
  const char* edit = GENERATE(
      "UPDATE viewers SET sha256 = zeroblob(32) WHERE id = 1",
      "INSERT INTO viewers (path, label, sha256, added_by, added_at) "
      "SELECT x'0102', label, zeroblob(32), added_by, added_at FROM viewers WHERE id = 1",
      "DELETE FROM viewers WHERE id = 2",
      "UPDATE viewers SET added_by = 1001 WHERE id = 1",
      "UPDATE meta SET value = '100' WHERE key = 'viewer_gid'",
      "UPDATE meta SET value = 'users' WHERE key = 'viewer_group'",
      "DELETE FROM meta WHERE key IN ('viewer_gid', 'viewer_group')",
      // The two viewers' digests swapped.
      "UPDATE viewers SET sha256 = CASE id WHEN 1 THEN (SELECT sha256 FROM viewers WHERE id = 2) "
      "ELSE (SELECT sha256 FROM viewers WHERE id = 1) END");
  INFO(edit);
  testing::WriteAll(f.path, pristine);
  REQUIRE(f.TamperAndLoad("SELECT 1").ok());
  f.Close();
  testing::WriteAll(f.path, pristine);
  const Status st = f.TamperAndLoad(edit);
  CheckCode(st, Code::kIntegrity);
  f.Close();
}

TEST_CASE("viewers: a sealed version-2 store keeps its seal after the migration to version 3",
          "[acl][policy][viewers][migrate][seal]") {
  // A vault sealed before view-only mode (no viewer group, no viewers) must
  // still mount: its policy encodes as it did, so the old seal verifies.
  SealedFixture f;
  REQUIRE(f.policy().AddUser(MakeUser(1001, "alice")).ok());
  const ObjectId object = f.NewObject();
  REQUIRE(f.policy().PutGrant(UserGrant(object, 1001, Mode::kView)).ok());
  f.LoadSealed();
  f.Close();
  const std::string seal = f.StoredSeal();
  {
    RawDb raw(f.path);
    raw.Exec("DROP TABLE viewers");
    for (const char* table : {"destruction_witnesses", "destruction_items", "destructions", "holds"}) {
      raw.Exec(("DROP TABLE " + std::string(table)).c_str());
    }
    raw.Exec("UPDATE meta SET value = '2' WHERE key = 'schema_version'");
  }
  f.Open();
  CHECK(*f.store->GetMeta("schema_version") == "4");
  PolicyData data = f.LoadSealed();
  CHECK_FALSE(data.viewer_group);
  CHECK(data.viewers.empty());
  f.Close();
  CHECK(f.StoredSeal() == seal);
  f.Open();
  // The first viewer (and group) change the seal like any change.
  REQUIRE(f.policy().SetViewerGroup(ViewerGroup{995, "strongroom-viewers"}).ok());
  REQUIRE(f.policy().PutViewer(MakeViewer("/opt/viewers/pdfview", "pdf", 0xaa)).ok());
  f.LoadSealed();
  f.Close();
  CHECK(f.StoredSeal() != seal);
  f.Open();
}

}  // namespace
}  // namespace strongroom::acl
