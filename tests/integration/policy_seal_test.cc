// The policy seal end to end (acl/policy.h, PolicyStore::SetSealer): a real
// vault's policy is set up through the CLI, the vault is unmounted, and
// strongroom.db is edited with the sqlite3 C API as someone with write access
// to the backing directory could. `strongroom mount` must then refuse the
// vault (exit 7, one line naming the policy); the untouched database mounts
// and its grants still hold. The daemon holds the database with
// locking_mode=EXCLUSIVE, so every edit is made while unmounted.
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "integration_assert.h"
#include "mount_fixture.h"

namespace strongroom::test {
namespace {

using namespace std::chrono_literals;

using namespace exit_code;

const Identity kAdminId = MountedVault::Admin();
constexpr Identity kStaff{5002, 5002};  // "staff": read on /proj
constexpr Identity kOther{5003, 5003};  // "other": member of @crew, view on /proj

// `strongroom ARGS --mount MNT` as `who`, success or not.
CommandResult Cli(const MountedVault& v, const Identity& who, std::vector<std::string> args) {
  args.push_back("--mount");
  args.push_back(v.mnt());
  return RunStrongroomAs(who, args, 30s);
}

// Reads `path` as `who`: 0 when the content is `want`, else errno (or 200).
int ReadAs(const Identity& who, const std::string& path, const std::string& want) {
  return RunAs(who.uid, who.gid, [&] {
    auto r = ReadFile(path);
    if (r.err != 0) return r.err;
    return r.data == want ? 0 : 200;
  });
}

int WriteAs(const Identity& who, const std::string& path, const std::string& data) {
  return RunAs(who.uid, who.gid, [&] {
    const int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0) return errno;
    const int err = PWriteAll(fd, data, 0);
    ::close(fd);
    return err;
  });
}

// Users staff and other, team @crew = {other}; /proj/doc.txt and
// /other/x.txt; staff may read /proj, @crew may view it, /proj is labelled 2
// and staff is cleared for 2.
void Setup(MountedVault& v) {
  v.Policy(kAdminId, {"user", "add", "staff", "--uid", "5002", "--clearance", "2"});
  v.Policy(kAdminId, {"user", "add", "other", "--uid", "5003"});
  v.Policy(kAdminId, {"team", "add", "crew"});
  v.Policy(kAdminId, {"team", "member", "add", "crew", "other"});
  REQUIRE_SYS(mkdir(v.Path("proj").c_str(), 0755));
  REQUIRE_SYS(mkdir(v.Path("other").c_str(), 0755));
  WriteOrDie(v.Path("proj/doc.txt"), "secret");
  WriteOrDie(v.Path("other/x.txt"), "x");
  v.Policy(kAdminId, {"grant", v.Path("proj"), "staff", "read"});
  v.Policy(kAdminId, {"grant", v.Path("proj"), "@crew", "view"});
  v.Policy(kAdminId, {"label", v.Path("proj"), "2"});
}

// What Setup's policy allows staff, checked through the mount.
void ExpectSetupPolicyHolds(MountedVault& v) {
  CHECK(ReadAs(kStaff, v.Path("proj/doc.txt"), "secret") == 0);
  CHECK(WriteAs(kStaff, v.Path("proj/doc.txt"), "changed") == EACCES);
  CHECK(ReadAs(kStaff, v.Path("other/x.txt"), "x") == ENOENT);  // hidden
  const CommandResult add = Cli(v, kStaff, {"user", "add", "mallory", "--uid", "6666"});
  INFO("staff adding a user: exit " << add.exit_code << "\nstderr: " << add.err);
  CHECK(add.exit_code == kRefused);
  CHECK(ReadAs(kAdminId, v.Path("proj/doc.txt"), "secret") == ENOENT);  // admins see no file without a grant
}

// The database files of an unmounted vault, to put back after an edit.
struct DbFiles {
  std::string db;
  std::optional<std::string> wal;
};

std::optional<std::string> ReadIfExists(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return std::nullopt;
  return ReadOrDie(path);
}

DbFiles SaveDb(const MountedVault& v) {
  const std::string db = v.vault() + "/strongroom.db";
  return DbFiles{ReadOrDie(db), ReadIfExists(db + "-wal")};
}

void RestoreDb(const MountedVault& v, const DbFiles& files) {
  const std::string db = v.vault() + "/strongroom.db";
  ::unlink((db + "-shm").c_str());
  ::unlink((db + "-wal").c_str());
  WriteOrDie(db, files.db, 0600);
  if (files.wal) WriteOrDie(db + "-wal", *files.wal, 0600);
}

// Runs `sql` on the unmounted vault's database with the sqlite3 C API and
// returns how many rows it changed.
int EditDb(const MountedVault& v, const std::string& sql) {
  REQUIRE_FALSE(v.mounted());
  sqlite3* db = nullptr;
  const std::string path = v.vault() + "/strongroom.db";
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  const int changed = sqlite3_total_changes(db);
  INFO(sql << ": " << (err != nullptr ? err : "ok"));
  sqlite3_free(err);
  sqlite3_close_v2(db);
  REQUIRE(rc == SQLITE_OK);
  return changed;
}

// One value of a query without parameters on the unmounted database.
std::string QueryDb(const MountedVault& v, const std::string& sql) {
  sqlite3* db = nullptr;
  const std::string path = v.vault() + "/strongroom.db";
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) == SQLITE_OK);
  std::string out;
  if (sqlite3_step(s) == SQLITE_ROW) {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    out = text != nullptr ? text : "";
  }
  sqlite3_finalize(s);
  sqlite3_close_v2(db);
  return out;
}

// `strongroom mount` (daemonizing) that is expected to fail; anything it
// mounted anyway is unmounted again.
CommandResult FailingMount(const MountedVault& v) {
  CommandResult r = RunStrongroom({"mount", "--passfile", v.passfile(), v.vault(), v.mnt()}, 60s);
  if (IsMountpoint(v.mnt())) RunCommand({"/usr/bin/fusermount3", "-u", v.mnt()}, 10s);
  // The refused daemon is gone.
  for (int i = 0; i < 50 && !ProcessesMentioning(v.vault()).empty(); ++i) std::this_thread::sleep_for(100ms);
  CHECK(ProcessesMentioning(v.vault()).empty());
  return r;
}

void ExpectPolicyRefused(const CommandResult& r, const MountedVault& v, const std::string& what) {
  INFO(what << "\nmount: exit " << r.exit_code << ", " << r.seconds << " s\nstdout: " << r.out
            << "\nstderr: " << r.err);
  CHECK_FALSE(r.timed_out);
  CHECK(r.exit_code == kIntegrity);
  std::string err = r.err;
  if (!err.empty() && err.back() == '\n') err.pop_back();
  CHECK(err.rfind("strongroom: ", 0) == 0);
  CHECK(err.find('\n') == std::string::npos);
  CHECK(err.find("policy") != std::string::npos);
  CHECK_FALSE(IsMountpoint(v.mnt()));
}

struct Edit {
  const char* what;
  const char* sql;
};

// ---------------------------------------------------------------------------

TEST_CASE("a policy edited in strongroom.db while unmounted is refused at mount", "[policy-seal]") {
  const Edit edit = GENERATE(
      Edit{"staff given the admin role", "UPDATE users SET role = 1 WHERE uid = 5002"},
      Edit{"staff given manage on the vault's root",
           "INSERT INTO grants (object, subject_uid, subject_team, mode, until, granted_by, granted_at) "
           "SELECT id, 5002, NULL, 4, NULL, 4200, 1700000000 FROM objects WHERE parent = zeroblob(16)"},
      Edit{"staff's read grant raised to manage", "UPDATE grants SET mode = 4 WHERE subject_uid = 5002"},
      Edit{"staff's clearance raised", "UPDATE users SET clearance = 3 WHERE uid = 5002"},
      Edit{"the label on /proj removed", "DELETE FROM labels"},
      Edit{"other taken out of @crew", "DELETE FROM team_members WHERE uid = 5003"},
      Edit{"root's grant on the vault's root deleted", "DELETE FROM grants WHERE subject_uid = 0"},
      Edit{"the seal replaced", "UPDATE meta SET value = lower(hex(randomblob(32))) WHERE key = 'policy_mac'"},
      // A policy without a seal is taken only while empty (a store just
      // migrated from schema 1): deleting the seal launders nothing.
      Edit{"the seal deleted", "DELETE FROM meta WHERE key = 'policy_mac'"},
      Edit{"staff made an admin and the seal deleted",
           "UPDATE users SET role = 1 WHERE uid = 5002; DELETE FROM meta WHERE key = 'policy_mac'"});
  INFO(edit.what);

  MountedVault v;
  Setup(v);
  ExpectSetupPolicyHolds(v);
  v.Unmount();
  // Exactly one root object (the row whose parent is the all-zero ID).
  REQUIRE(QueryDb(v, "SELECT count(*) FROM objects WHERE parent = zeroblob(16)") == "1");
  REQUIRE_FALSE(QueryDb(v, "SELECT value FROM meta WHERE key = 'policy_mac'").empty());
  const DbFiles original = SaveDb(v);

  REQUIRE(EditDb(v, edit.sql) >= 1);
  ExpectPolicyRefused(FailingMount(v), v, edit.what);
  // Refusing it changed nothing: the same edit is refused again.
  ExpectPolicyRefused(FailingMount(v), v, std::string(edit.what) + " (second try)");

  // The database as Strongroom left it mounts, and the policy is as set up.
  RestoreDb(v, original);
  v.Mount();
  ExpectSetupPolicyHolds(v);
  CHECK(ReadAs(kOther, v.Path("proj/doc.txt"), "secret") == EACCES);  // view only
}

TEST_CASE("changes made while mounted are sealed: every remount succeeds", "[policy-seal]") {
  MountedVault v;
  Setup(v);
  auto remount = [&](const char* after) {
    INFO("remount after: " << after);
    v.Unmount();
    v.Mount();  // REQUIREs the mount to come up
  };
  remount("setup");
  ExpectSetupPolicyHolds(v);
  // Root (the test process) works in /proj, labelled 2.
  v.Policy(kAdminId, {"user", "set", "root", "--clearance", "3"});

  // A file carrying a grant, and a folder carrying a label, are deleted: the
  // grant and label go with them (cascade), and the seal is renewed in the
  // same transaction.
  WriteOrDie(v.Path("proj/gone.txt"), "soon gone");
  REQUIRE_SYS(mkdir(v.Path("proj/gonedir").c_str(), 0755));
  v.Policy(kAdminId, {"grant", v.Path("proj/gone.txt"), "other", "write"});
  v.Policy(kAdminId, {"label", v.Path("proj/gonedir"), "3"});
  remount("a grant on a file, a label on a folder");
  REQUIRE_SYS(unlink(v.Path("proj/gone.txt").c_str()));
  REQUIRE_SYS(rmdir(v.Path("proj/gonedir").c_str()));
  remount("deleting the file and the folder that carried them");
  // A directory tree with grants on several objects, removed.
  REQUIRE_SYS(mkdir(v.Path("proj/tree").c_str(), 0755));
  WriteOrDie(v.Path("proj/tree/a"), "a");
  WriteOrDie(v.Path("proj/tree/b"), "b");
  v.Policy(kAdminId, {"grant", v.Path("proj/tree/a"), "other", "read"});
  v.Policy(kAdminId, {"grant", v.Path("proj/tree/b"), "@crew", "read"});
  REQUIRE_SYS(unlink(v.Path("proj/tree/a").c_str()));
  REQUIRE_SYS(unlink(v.Path("proj/tree/b").c_str()));
  REQUIRE_SYS(rmdir(v.Path("proj/tree").c_str()));
  remount("deleting a tree that carried grants");

  v.Policy(kAdminId, {"user", "set", "other", "--clearance", "3"});
  v.Policy(kAdminId, {"team", "member", "remove", "crew", "other"});
  v.Policy(kAdminId, {"revoke", v.Path("proj"), "@crew"});
  v.Policy(kAdminId, {"user", "disable", "other"});
  remount("user, team and revoke changes");
  v.Policy(kAdminId, {"user", "enable", "other"});
  v.Policy(kAdminId, {"grant", v.Path("other"), "other", "read", "--until", "2099-12-31"});
  remount("a grant with an expiry");
  CHECK(ReadAs(kOther, v.Path("other/x.txt"), "x") == 0);
  ExpectSetupPolicyHolds(v);

  // And the renewed seal still catches an edit.
  v.Unmount();
  REQUIRE(EditDb(v, "UPDATE grants SET mode = 4 WHERE subject_uid = 5003") == 1);
  ExpectPolicyRefused(FailingMount(v), v, "other's grant raised after the remounts");
}

}  // namespace
}  // namespace strongroom::test
