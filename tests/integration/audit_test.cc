// The audit log on a real mount (issue 4, docs/audit.md): which records real
// calls from several uids write (op, uid, pid, result, time), refusals,
// `strongroom audit verify` with the auditors' key on intact and tampered
// logs (edited, deleted, swapped, inserted, truncated against a seal), wrong
// keys, the key never in the vault, records surviving SIGKILL, a full disk
// under the audit database (EIO, nothing done unrecorded, the daemon keeps
// running) and no plaintext names in the audit database.
//
// The raw fields are read straight from the database with the sqlite3 C API;
// the sealed fields (user, exe, paths) cannot be read without the vault's
// keys, so records are matched by op, uid, pid, result and order.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "integration_assert.h"
#include "mount_fixture.h"

namespace strongroom::test {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

constexpr char kAuditDbName[] = "strongroom-audit.db";

int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// ---- the audit database, read raw ----

struct Rec {
  int64_t seq = 0;
  int64_t epoch = 0;
  int64_t time_us = 0;
  int64_t uid = 0;
  int64_t pid = 0;
  std::string op;
  int64_t result = 0;
  int64_t count = 0;
  std::string link;  // 32 raw bytes
};

std::string Hex(const std::string& bytes) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

std::string Describe(const Rec& r) {
  return "#" + std::to_string(r.seq) + " e" + std::to_string(r.epoch) + " " + r.op + " uid " +
         std::to_string(r.uid) + " pid " + std::to_string(r.pid) + " result " + std::to_string(r.result) +
         " count " + std::to_string(r.count) + " t " + std::to_string(r.time_us);
}

std::string Describe(const std::vector<Rec>& recs) {
  std::string out;
  for (const Rec& r : recs) out += Describe(r) + "\n";
  return out;
}

struct DbCloser {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;

DbPtr OpenDb(const std::string& path) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr);
  DbPtr db(raw);
  INFO("opening " << path << ": " << (raw ? sqlite3_errmsg(raw) : "no memory"));
  REQUIRE(rc == SQLITE_OK);
  sqlite3_busy_timeout(db.get(), 5000);
  return db;
}

void ExecSql(const std::string& path, const std::string& sql) {
  DbPtr db = OpenDb(path);
  char* err = nullptr;
  int rc = sqlite3_exec(db.get(), sql.c_str(), nullptr, nullptr, &err);
  std::string msg = err ? err : "";
  sqlite3_free(err);
  INFO(sql << ": " << msg);
  REQUIRE(rc == SQLITE_OK);
}

std::vector<Rec> ReadRecords(const std::string& path) {
  DbPtr db = OpenDb(path);
  sqlite3_stmt* s = nullptr;
  REQUIRE(sqlite3_prepare_v2(db.get(),
                             "SELECT seq, epoch, time_us, uid, pid, op, result, count, link FROM records ORDER BY seq",
                             -1, &s, nullptr) == SQLITE_OK);
  std::vector<Rec> out;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    Rec r;
    r.seq = sqlite3_column_int64(s, 0);
    r.epoch = sqlite3_column_int64(s, 1);
    r.time_us = sqlite3_column_int64(s, 2);
    r.uid = sqlite3_column_int64(s, 3);
    r.pid = sqlite3_column_int64(s, 4);
    const unsigned char* op = sqlite3_column_text(s, 5);
    r.op = op ? reinterpret_cast<const char*>(op) : "";
    r.result = sqlite3_column_int64(s, 6);
    r.count = sqlite3_column_int64(s, 7);
    const void* link = sqlite3_column_blob(s, 8);
    r.link.assign(static_cast<const char*>(link), static_cast<size_t>(sqlite3_column_bytes(s, 8)));
    out.push_back(std::move(r));
  }
  sqlite3_finalize(s);
  REQUIRE(rc == SQLITE_DONE);
  return out;
}

std::string MetaValue(const std::string& path, const std::string& key) {
  DbPtr db = OpenDb(path);
  sqlite3_stmt* s = nullptr;
  REQUIRE(sqlite3_prepare_v2(db.get(), "SELECT value FROM meta WHERE key = ?1", -1, &s, nullptr) == SQLITE_OK);
  sqlite3_bind_text(s, 1, key.c_str(), -1, SQLITE_TRANSIENT);
  std::string value;
  if (sqlite3_step(s) == SQLITE_ROW) value = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
  sqlite3_finalize(s);
  return value;
}

struct Match {
  std::string op;
  int64_t uid = -1;     // -1: any
  int64_t pid = -1;     // -1: any
  int64_t result = 0;   // -1: any
  int64_t after = 0;    // only records with seq > after
};

const Rec* Find(const std::vector<Rec>& recs, const Match& m) {
  for (const Rec& r : recs) {
    if (r.seq <= m.after || r.op != m.op) continue;
    if (m.uid >= 0 && r.uid != m.uid) continue;
    if (m.pid >= 0 && r.pid != m.pid) continue;
    if (m.result >= 0 && r.result != m.result) continue;
    return &r;
  }
  return nullptr;
}

size_t CountOf(const std::vector<Rec>& recs, const Match& m) {
  size_t n = 0;
  for (const Rec& r : recs) {
    if (r.seq <= m.after || r.op != m.op) continue;
    if (m.uid >= 0 && r.uid != m.uid) continue;
    if (m.pid >= 0 && r.pid != m.pid) continue;
    if (m.result >= 0 && r.result != m.result) continue;
    ++n;
  }
  return n;
}

// Polls the database until a record matching `m` is there (queued records
// are committed within milliseconds).
std::vector<Rec> WaitFor(const std::string& db, const Match& m, std::chrono::milliseconds timeout = 3s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    std::vector<Rec> recs = ReadRecords(db);
    if (Find(recs, m) != nullptr || std::chrono::steady_clock::now() > deadline) return recs;
    std::this_thread::sleep_for(20ms);
  }
}

// The records are numbered 1, 2, 3, ... with non-decreasing epochs and times.
void CheckWellFormed(const std::vector<Rec>& recs) {
  INFO("records:\n" << Describe(recs));
  for (size_t i = 0; i < recs.size(); ++i) {
    CHECK(recs[i].seq == static_cast<int64_t>(i + 1));
    CHECK(recs[i].link.size() == 32);
    CHECK(recs[i].count >= 1);
    if (i > 0) {
      CHECK(recs[i].epoch >= recs[i - 1].epoch);
      CHECK(recs[i].time_us >= recs[i - 1].time_us);
    }
  }
}

// ---- processes ----

// RunAs, also giving the child's pid (what the daemon sees as the caller).
int RunAsPid(uid_t uid, const std::function<int()>& fn, pid_t* child_pid) {
  int p[2];
  REQUIRE(pipe(p) == 0);
  int rc = RunAs(uid, uid, [&] {
    pid_t me = getpid();
    if (write(p[1], &me, sizeof me) != sizeof me) return 124;
    return fn();
  });
  close(p[1]);
  pid_t pid = -1;
  if (read(p[0], &pid, sizeof pid) != sizeof pid) pid = -1;
  close(p[0]);
  *child_pid = pid;
  return rc;
}

int CreateFile(const std::string& path, const std::string& data = "x") {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return errno;
  int err = 0;
  if (!data.empty() && write(fd, data.data(), data.size()) != static_cast<ssize_t>(data.size())) err = errno;
  if (close(fd) != 0 && err == 0) err = errno;
  return err;
}

int OpenClose(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return errno;
  close(fd);
  return 0;
}

int ListDirErr(const std::string& path) {
  int err = 0;
  return ListDir(path, &err) ? 0 : err;
}

// ---- the auditors' key and verify ----

// Runs init by hand (the fixture does not pass --audit-key-out) with the
// fixture's passphrase and admin; returns init's stdout.
std::string InitWithKey(MountedVault& v, const std::string& key_file, const std::string& audit_db = "") {
  std::vector<std::string> args{"init",  "--passfile", v.passfile(),       "--scrypt-logn", "12",
                                "--admin", kAdminName, "--uid", std::to_string(kAdminUid), "--audit-key-out",
                                key_file};
  if (!audit_db.empty()) {
    args.push_back("--audit-db");
    args.push_back(audit_db);
  }
  args.push_back(v.vault());
  auto r = RunStrongroom(args);
  INFO("strongroom init: exit " << r.exit_code << "\nstdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  return r.out;
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string KeyHex(const std::string& key_file) {
  std::string hex = Trim(ReadText(key_file));
  REQUIRE(std::regex_match(hex, std::regex("[0-9a-f]{64}")));
  return hex;
}

std::string Unhex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

struct VerifyResult {
  int exit_code = -1;
  bool ok = false;
  int64_t records = 0;
  int64_t first_bad = 0;
  std::string problem;
  std::string raw;
};

// `strongroom audit verify --json --key KEY` on --db DB (or VAULT).
VerifyResult Verify(const std::string& key_file, const std::string& db, const std::string& seal = "",
                    bool db_is_vault = false) {
  std::vector<std::string> args{"audit", "verify", "--json", "--key", key_file};
  if (!seal.empty()) {
    args.push_back("--seal");
    args.push_back(seal);
  }
  if (db_is_vault) {
    args.push_back(db);
  } else {
    args.push_back("--db");
    args.push_back(db);
  }
  auto r = RunStrongroom(args);
  VerifyResult v;
  v.exit_code = r.exit_code;
  v.raw = "exit " + std::to_string(r.exit_code) + "\nstdout: " + r.out + "\nstderr: " + r.err;
  json j = json::parse(r.out, nullptr, false);
  if (j.is_object()) {
    v.ok = j.value("ok", false);
    v.records = j.value("records", int64_t{0});
    if (j.contains("first_bad_seq") && j["first_bad_seq"].is_number()) v.first_bad = j["first_bad_seq"].get<int64_t>();
    if (j.contains("problem") && j["problem"].is_string()) v.problem = j["problem"].get<std::string>();
  }
  return v;
}

// A copy of the (unmounted) audit database to tamper with; the WAL, if any,
// goes with it.
std::string CopyDb(const std::string& db, const std::string& dest) {
  for (const char* suffix : {"", "-wal", "-shm"}) ::unlink((dest + suffix).c_str());
  for (const char* suffix : {"", "-wal"}) {
    std::string from = db + suffix;
    if (access(from.c_str(), F_OK) != 0) continue;
    auto r = RunCommand({"/bin/cp", from, dest + suffix});
    REQUIRE(r.exit_code == 0);
  }
  return dest;
}

// Every regular file under `dir` (recursively, symlinks not followed).
std::vector<std::string> FilesUnder(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    std::string path = dir + "/" + name;
    struct stat st;
    if (lstat(path.c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      auto sub = FilesUnder(path);
      out.insert(out.end(), sub.begin(), sub.end());
    } else if (S_ISREG(st.st_mode)) {
      out.push_back(path);
    }
  }
  closedir(d);
  return out;
}

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Files among `files` whose bytes contain `needle` (case-insensitively when
// `fold`).
std::vector<std::string> FilesContaining(const std::vector<std::string>& files, const std::string& needle,
                                         bool fold = false) {
  std::vector<std::string> hits;
  for (const auto& f : files) {
    std::string data = ReadText(f);
    if (fold ? Lower(data).find(Lower(needle)) != std::string::npos : data.find(needle) != std::string::npos) {
      hits.push_back(f);
    }
  }
  return hits;
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += s + "\n";
  return out;
}

// Runs at scope exit (the tmpfs under a full-disk test is unmounted even
// when a REQUIRE fails).
struct ScopeExit {
  std::function<void()> fn;
  ~ScopeExit() {
    if (fn) fn();
  }
};

std::string DbOf(const MountedVault& v) { return v.vault() + "/" + kAuditDbName; }

MountedVault::Options NotInitialised() {
  MountedVault::Options o;
  o.init = false;
  return o;
}

}  // namespace

TEST_CASE("every kind of record is written by real calls with the caller's uid and pid", "[audit]") {
  const int64_t t_start = NowUs();
  MountedVault v;
  const pid_t daemon = v.daemon_pid();
  const pid_t me = getpid();
  const std::string db = DbOf(v);
  const int64_t t_mounted = NowUs();

  // Policy commands, by the admin.
  v.Policy(MountedVault::Admin(), {"user", "add", "alice", "--uid", "5601"});
  v.Policy(MountedVault::Admin(), {"user", "set", "alice", "--clearance", "2"});
  v.Policy(MountedVault::Admin(), {"team", "add", "eng"});
  v.Policy(MountedVault::Admin(), {"team", "member", "add", "eng", "alice"});

  // Changes by root (the test process). Root has clearance 1: the labelled
  // folder is another one.
  REQUIRE_SYS(mkdir(v.Path("L").c_str(), 0755));
  v.Policy(MountedVault::Admin(), {"label", v.Path("L"), "2"});
  REQUIRE_SYS(mkdir(v.Path("A").c_str(), 0755));
  v.Policy(MountedVault::Root(), {"grant", v.Path("A"), "alice", "write"});
  v.Policy(MountedVault::Root(), {"grant", v.Path("A"), "@eng", "read"});
  v.Policy(MountedVault::Root(), {"revoke", v.Path("A"), "@eng"});
  v.Policy(Identity{5601, 5601}, {"whoami"});

  REQUIRE_SYS(mkdir(v.Path("A/sub").c_str(), 0755));
  REQUIRE(CreateFile(v.Path("A/f"), "hello") == 0);
  REQUIRE_SYS(symlink("f", v.Path("A/l").c_str()));
  REQUIRE_SYS(rename(v.Path("A/f").c_str(), v.Path("A/g").c_str()));
  REQUIRE_SYS(truncate(v.Path("A/g").c_str(), 2));
  REQUIRE(OpenClose(v.Path("A/g"), O_WRONLY | O_TRUNC) == 0);
  REQUIRE_SYS(chmod(v.Path("A/g").c_str(), 0600));
  {
    struct timespec ts[2] = {{1000000, 0}, {2000000, 0}};
    REQUIRE_SYS(utimensat(AT_FDCWD, v.Path("A/g").c_str(), ts, 0));
  }
  // To the owner and mode it has (tar and cp -p do this for every file):
  // recorded too, queued like an open since nothing changes.
  REQUIRE_SYS(chown(v.Path("A/g").c_str(), 0, 0));
  REQUIRE_SYS(chmod(v.Path("A/g").c_str(), 0600));
  REQUIRE(OpenClose(v.Path("A/g"), O_RDONLY) == 0);
  REQUIRE(ListDirErr(v.Path("A")) == 0);
  REQUIRE_SYS(unlink(v.Path("A/l").c_str()));
  REQUIRE_SYS(rmdir(v.Path("A/sub").c_str()));

  // Alice, in a child process, with her write grant on A.
  pid_t alice_pid = -1;
  int rc = RunAsPid(
      5601,
      [&] {
        if (int e = CreateFile(v.Path("A/al"), "alice")) return e;
        if (chmod(v.Path("A/al").c_str(), 0640) != 0) return errno;
        if (rename(v.Path("A/al").c_str(), v.Path("A/al2").c_str()) != 0) return errno;
        if (int e = OpenClose(v.Path("A/al2"), O_RDONLY)) return e;
        if (int e = ListDirErr(v.Path("A"))) return e;
        if (mkdir(v.Path("A/ad").c_str(), 0755) != 0) return errno;
        if (rmdir(v.Path("A/ad").c_str()) != 0) return errno;
        if (unlink(v.Path("A/al2").c_str()) != 0) return errno;
        return 0;
      },
      &alice_pid);
  INFO("alice's calls: " << strerror(rc));
  REQUIRE(rc == 0);
  REQUIRE(alice_pid > 0);
  const int64_t t_before_unmount = NowUs();
  v.Unmount();
  const int64_t t_end = NowUs();

  const std::vector<Rec> recs = ReadRecords(db);
  INFO("records:\n" << Describe(recs));
  CheckWellFormed(recs);
  REQUIRE(recs.size() >= 30);
  for (const Rec& r : recs) {
    CHECK(r.time_us >= t_start);
    CHECK(r.time_us <= t_end);
    // Record 1 (init) is epoch 0, MACed with the auditors' key; the daemon
    // starts at epoch 1 (fewer than 256 records here: one epoch).
    CHECK(r.epoch == (r.seq == 1 ? 0 : 1));
    CHECK(r.count == 1);
    CHECK(r.pid > 0);
  }

  // init: record 1, by the first admin; mount: record 2, by the daemon.
  CHECK(recs[0].op == "init");
  CHECK(recs[0].uid == kAdminUid);
  CHECK(recs[0].result == 0);
  CHECK(recs[0].time_us <= t_mounted);
  CHECK(recs[0].pid != me);
  CHECK(recs[1].op == "mount");
  CHECK(recs[1].uid == 0);
  CHECK(recs[1].pid == daemon);
  CHECK(recs[1].time_us <= t_mounted);
  // unmount: the last record, by the daemon.
  CHECK(recs.back().op == "unmount");
  CHECK(recs.back().uid == 0);
  CHECK(recs.back().pid == daemon);
  CHECK(recs.back().time_us >= t_before_unmount);

  // Policy commands, in order, with the caller's uid (the CLI's pid: neither
  // the daemon's nor ours).
  int64_t after = 2;
  for (const auto& [op, uid] : std::vector<std::pair<std::string, int64_t>>{{"policy.user.add", kAdminUid},  // root
                                                                             {"policy.grant", kAdminUid},     // bootstrap
                                                                             {"policy.user.add", kAdminUid},
                                                                             {"policy.user.set", kAdminUid},
                                                                             {"policy.team.add", kAdminUid},
                                                                             {"policy.team.member.add", kAdminUid},
                                                                             {"mkdir", 0},
                                                                             {"policy.label", kAdminUid},
                                                                             {"mkdir", 0},
                                                                             {"policy.grant", 0},
                                                                             {"policy.grant", 0},
                                                                             {"policy.revoke", 0}}) {
    const Rec* r = Find(recs, {op, uid, -1, 0, after});
    INFO("expected " << op << " by uid " << uid << " after record " << after);
    REQUIRE(r != nullptr);
    if (op.rfind("policy.", 0) == 0) {
      CHECK(r->pid != daemon);
      CHECK(r->pid != me);
    }
    after = r->seq;
  }
  {
    const Rec* r = Find(recs, {"policy.whoami", 5601, -1, 0, 0});
    CHECK(r != nullptr);
  }

  // Root's changes, in order, with our pid.
  after = Find(recs, {"policy.revoke", 0, -1, 0, 0})->seq;
  for (const char* op :
       {"mkdir", "create", "symlink", "rename", "truncate", "truncate", "setattr", "setattr", "unlink", "rmdir"}) {
    const Rec* r = Find(recs, {op, 0, me, 0, after});
    INFO("expected " << op << " by root (pid " << me << ") after record " << after);
    REQUIRE(r != nullptr);
    after = r->seq;
  }
  // Queued: opens (one for writing with O_TRUNC, one for reading) and the
  // listing.
  CHECK(CountOf(recs, {"open", 0, me, 0, 0}) >= 2);
  CHECK(Find(recs, {"opendir", 0, me, 0, 0}) != nullptr);
  CHECK(CountOf(recs, {"setattr", 0, me, 0, 0}) == 4);  // chmod, utimens, and the two that changed nothing

  // Alice's, with her child's pid.
  after = 0;
  for (const char* op : {"create", "setattr", "rename", "mkdir", "rmdir", "unlink"}) {
    const Rec* r = Find(recs, {op, 5601, alice_pid, 0, after});
    INFO("expected " << op << " by alice (pid " << alice_pid << ") after record " << after);
    REQUIRE(r != nullptr);
    after = r->seq;
  }
  CHECK(Find(recs, {"open", 5601, alice_pid, 0, 0}) != nullptr);
  CHECK(Find(recs, {"opendir", 5601, alice_pid, 0, 0}) != nullptr);
  // Nothing by alice was refused, nothing is attributed to another pid.
  for (const Rec& r : recs) {
    if (r.uid == 5601 && r.op.rfind("policy.", 0) != 0) CHECK(r.pid == alice_pid);
  }
}

TEST_CASE("refused opens and changes are recorded with the refused user's uid and the errno", "[audit]") {
  MountedVault v;
  const std::string db = DbOf(v);
  v.Policy(MountedVault::Admin(), {"user", "add", "bob", "--uid", "5602"});
  v.Policy(MountedVault::Admin(), {"user", "add", "carol", "--uid", "5603"});
  REQUIRE_SYS(mkdir(v.Path("R").c_str(), 0755));
  REQUIRE(CreateFile(v.Path("R/f"), "secret") == 0);
  v.Policy(MountedVault::Root(), {"grant", v.Path("R"), "bob", "read"});

  pid_t bob = -1;
  int rc = RunAsPid(
      5602,
      [&] {
        // Reading is allowed; every write is refused.
        if (int e = OpenClose(v.Path("R/f"), O_RDONLY)) return 100 + e;
        if (OpenClose(v.Path("R/f"), O_WRONLY) != EACCES) return 1;
        if (OpenClose(v.Path("R/f"), O_RDONLY | O_TRUNC) != EACCES) return 2;
        if (unlink(v.Path("R/f").c_str()) == 0 || errno != EACCES) return 3;
        if (rename(v.Path("R/f").c_str(), v.Path("R/g").c_str()) == 0 || errno != EACCES) return 4;
        if (truncate(v.Path("R/f").c_str(), 0) == 0 || errno != EACCES) return 5;
        if (chmod(v.Path("R/f").c_str(), 0600) == 0 || errno != EACCES) return 6;
        if (CreateFile(v.Path("R/new")) != EACCES) return 7;
        if (mkdir(v.Path("R/d").c_str(), 0755) == 0 || errno != EACCES) return 8;
        return 0;
      },
      &bob);
  INFO("bob's calls: step " << rc);
  REQUIRE(rc == 0);
  // Carol has no grant: R is hidden from her (ENOENT), the root listing is
  // allowed but filtered.
  pid_t carol = -1;
  rc = RunAsPid(
      5603,
      [&] {
        if (OpenClose(v.Path("R/f"), O_RDONLY) != ENOENT) return 1;
        if (ListDirErr(v.Path("R")) != ENOENT) return 2;
        return 0;
      },
      &carol);
  INFO("carol's calls: step " << rc);
  REQUIRE(rc == 0);
  // A policy command refused: bob is not an admin.
  auto r = RunStrongroomAs(Identity{5602, 5602}, {"user", "add", "mallory", "--uid", "5609", "--mount", v.mnt()});
  CHECK(r.exit_code == 4);

  // Refusals are queued, identical ones counted (the count written when
  // the window ends, or at unmount).
  v.Unmount();
  std::vector<Rec> recs = ReadRecords(db);
  INFO("records:\n" << Describe(recs));
  CHECK(Find(recs, {"open", 5602, bob, 0, 0}) != nullptr);  // the allowed read
  CHECK(CountOf(recs, {"open", 5602, bob, EACCES, 0}) >= 1);
  CHECK(Find(recs, {"unlink", 5602, bob, EACCES, 0}) != nullptr);
  CHECK(Find(recs, {"rename", 5602, bob, EACCES, 0}) != nullptr);
  CHECK(CountOf(recs, {"setattr", 5602, bob, EACCES, 0}) >= 1);  // truncate(), chmod
  CHECK(Find(recs, {"create", 5602, bob, EACCES, 0}) != nullptr);
  CHECK(Find(recs, {"mkdir", 5602, bob, EACCES, 0}) != nullptr);
  CHECK(Find(recs, {"policy.user.add", 5602, -1, EACCES, 0}) != nullptr);
  // The refused policy command left no record saying it succeeded.
  CHECK(Find(recs, {"policy.user.add", 5602, -1, 0, 0}) == nullptr);
  // Nothing by bob succeeded except his read (and his open of it).
  for (const Rec& rec : recs) {
    if (rec.uid != 5602 || rec.op.rfind("policy.", 0) == 0) continue;
    INFO(Describe(rec));
    CHECK((rec.result != 0 || rec.op == "open" || rec.op == "opendir"));
    CHECK(rec.op != "truncate");
  }
  // Identical refusals are counted into one record: the totals cover both
  // of bob's refused opens for writing and both refused setattrs.
  auto total = [&](const char* op) {
    int64_t n = 0;
    for (const Rec& rec : recs) {
      if (rec.op == op && rec.uid == 5602 && rec.result == EACCES) n += rec.count;
    }
    return n;
  };
  CHECK(total("open") == 2);
  CHECK(total("setattr") == 2);
  CHECK(total("unlink") == 1);
  // Carol's refused open of a name hidden from her is recorded too (ENOENT).
  bool carol_recorded = false;
  for (const Rec& rec : recs) {
    if (rec.uid == 5603 && rec.result == ENOENT) carol_recorded = true;
  }
  INFO("carol (uid 5603, pid " << carol << ") opened R/f, hidden from her, and got ENOENT");
  CHECK(carol_recorded);
}

TEST_CASE("repeated identical refusals are counted into one record written when the window ends", "[audit]") {
  MountedVault v;
  const std::string db = DbOf(v);
  v.Policy(MountedVault::Admin(), {"user", "add", "gina", "--uid", "5608"});
  REQUIRE_SYS(mkdir(v.Path("G").c_str(), 0755));
  REQUIRE(CreateFile(v.Path("G/f"), "x") == 0);
  v.Policy(MountedVault::Root(), {"grant", v.Path("G"), "gina", "read"});
  pid_t gina = -1;
  REQUIRE(RunAsPid(
              5608,
              [&] {
                for (int i = 0; i < 5; ++i) {
                  if (OpenClose(v.Path("G/f"), O_WRONLY) != EACCES) return 1;
                }
                return 0;
              },
              &gina) == 0);
  // One record at once; the other four counted, in the log once the 10 s
  // window is over (the daemon keeps running: no unmount to flush them).
  std::vector<Rec> recs = WaitFor(db, {"open", 5608, gina, EACCES, 0});
  CHECK(CountOf(recs, {"open", 5608, gina, EACCES, 0}) == 1);
  std::this_thread::sleep_for(12s);
  REQUIRE(CreateFile(v.Path("G/later")) == 0);  // any activity
  auto refused_total = [](const std::vector<Rec>& rs) {
    int64_t n = 0;
    for (const Rec& rec : rs) {
      if (rec.op == "open" && rec.uid == 5608 && rec.result == EACCES) n += rec.count;
    }
    return n;
  };
  // In the database once the mount has been quiet for a moment.
  for (int i = 0; i < 50; ++i) {
    recs = ReadRecords(db);
    if (refused_total(recs) == 5) break;
    std::this_thread::sleep_for(100ms);
  }
  INFO("records 12 s after the refusals (daemon still running):\n" << Describe(recs));
  int64_t total = refused_total(recs);
  CHECK(total == 5);
  v.Unmount();
  recs = ReadRecords(db);
  total = 0;
  for (const Rec& rec : recs) {
    if (rec.op == "open" && rec.uid == 5608 && rec.result == EACCES) total += rec.count;
  }
  INFO("records after unmount:\n" << Describe(recs));
  CHECK(total == 5);
}

TEST_CASE("audit verify passes on an intact log and names the record edited, deleted, swapped or truncated",
          "[audit]") {
  MountedVault v(NotInitialised());
  const std::string key_file = v.root() + "/auditors.key";
  const std::string init_out = InitWithKey(v, key_file);
  const std::string key_hex = KeyHex(key_file);
  // init shows the key once, the same as the file.
  CHECK(init_out.find(key_hex) != std::string::npos);
  struct stat st;
  REQUIRE(stat(key_file.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  const std::string db = DbOf(v);
  // Right after init: record 1 alone verifies.
  {
    VerifyResult r = Verify(key_file, v.vault(), "", true);
    INFO(r.raw);
    CHECK(r.exit_code == 0);
    CHECK(r.records == 1);
  }

  v.Mount();
  v.Policy(MountedVault::Admin(), {"user", "add", "dave", "--uid", "5604"});
  REQUIRE_SYS(mkdir(v.Path("D").c_str(), 0755));
  v.Policy(MountedVault::Root(), {"grant", v.Path("D"), "dave", "write"});
  // Enough activity to cross an epoch (256 records): the daemon logs a seal.
  for (int i = 0; i < 150; ++i) {
    std::string p = v.Path("D/f" + std::to_string(i));
    REQUIRE(CreateFile(p) == 0);
    REQUIRE(unlink(p.c_str()) == 0);
  }
  REQUIRE(RunAs(5604, 5604, [&] { return CreateFile(v.Path("D/dave")); }) == 0);
  REQUIRE(RunAs(5604, 5604, [&] { return OpenClose(v.Path("D/dave"), O_RDONLY); }) == 0);
  REQUIRE(CreateFile(v.Path("D/keep"), "kept") == 0);

  // While mounted (the daemon holds the database, with its WAL).
  {
    VerifyResult r = Verify(key_file, v.vault(), "", true);
    INFO(r.raw);
    CHECK(r.exit_code == 0);
    CHECK(r.ok);
    CHECK(r.records > 300);
  }
  // The initial key is nowhere in the vault (databases, -wal and -shm
  // included), neither raw nor as hex text, while mounted and after.
  const std::string key_raw = Unhex(key_hex);
  REQUIRE(key_raw.size() == 32);
  auto scan_for_key = [&] {
    std::vector<std::string> files = FilesUnder(v.vault());
    INFO("vault files:\n" << Join(files));
    CHECK(files.size() >= 4);
    CHECK(std::find(files.begin(), files.end(), db + "-wal") != files.end());
    INFO("files holding the auditors' key:");
    CHECK(FilesContaining(files, key_raw).empty());
    CHECK(FilesContaining(files, key_hex, /*fold=*/true).empty());
  };
  scan_for_key();
  v.Unmount();
  {
    std::vector<std::string> files = FilesUnder(v.vault());
    CHECK(FilesContaining(files, key_raw).empty());
    CHECK(FilesContaining(files, key_hex, true).empty());
  }

  const std::vector<Rec> recs = ReadRecords(db);
  CheckWellFormed(recs);
  const int64_t n = static_cast<int64_t>(recs.size());
  REQUIRE(n > 300);
  CHECK(recs.back().epoch >= 1);
  {
    VerifyResult r = Verify(key_file, db);
    INFO(r.raw);
    CHECK(r.exit_code == 0);
    CHECK(r.ok);
    CHECK(r.records == n);
  }

  // The seal the daemon logged at the epoch change matches record 256.
  std::smatch m;
  const std::string log = ReadText(v.root() + "/daemon.log");
  REQUIRE(std::regex_search(log, m, std::regex("strongroom audit seal ([0-9]+):([0-9a-f]{64})")));
  const int64_t seal_seq = std::stoll(m[1].str());
  const std::string seal = m[1].str() + ":" + m[2].str();
  CHECK(seal_seq == 257);  // record 1 (epoch 0) and 256 of epoch 1
  REQUIRE(seal_seq < n);
  CHECK(Hex(recs[static_cast<size_t>(seal_seq - 1)].link) == m[2].str());
  {
    VerifyResult r = Verify(key_file, db, seal);
    INFO(r.raw);
    CHECK(r.exit_code == 0);
  }

  const std::string work = v.root() + "/tampered.db";
  SECTION("a field edited") {
    for (int64_t k : {int64_t{1}, int64_t{2}, int64_t{77}, seal_seq + 3, n}) {
      CopyDb(db, work);
      ExecSql(work, "UPDATE records SET uid = uid + 1 WHERE seq = " + std::to_string(k));
      VerifyResult r = Verify(key_file, work);
      INFO("uid of record " << k << " edited: " << r.raw);
      CHECK(r.exit_code == exit_code::kIntegrity);
      CHECK(r.first_bad == k);
      CHECK(r.problem.find("record " + std::to_string(k)) != std::string::npos);
    }
    for (const char* edit : {"result = 13", "op = 'open'", "time_us = time_us + 1", "pid = pid + 1",
                             "count = 2", "sealed = randomblob(length(sealed))",
                             "path_tag = x''", "epoch = epoch + 1"}) {
      CopyDb(db, work);
      ExecSql(work, std::string("UPDATE records SET ") + edit + " WHERE seq = 100");
      VerifyResult r = Verify(key_file, work);
      INFO(edit << ": " << r.raw);
      CHECK(r.exit_code == exit_code::kIntegrity);
      CHECK(r.first_bad == 100);
    }
  }
  SECTION("a record deleted") {
    for (int64_t k : {int64_t{1}, int64_t{50}, seal_seq, seal_seq + 1}) {
      CopyDb(db, work);
      ExecSql(work, "DELETE FROM records WHERE seq = " + std::to_string(k));
      VerifyResult r = Verify(key_file, work);
      INFO("record " << k << " deleted: " << r.raw);
      CHECK(r.exit_code == exit_code::kIntegrity);
      CHECK(r.first_bad == k);
    }
    // Deleted and the later ones renumbered: the chain breaks there.
    CopyDb(db, work);
    ExecSql(work, "DELETE FROM records WHERE seq = 40; UPDATE records SET seq = seq - 1 WHERE seq > 40");
    VerifyResult r = Verify(key_file, work);
    INFO(r.raw);
    CHECK(r.exit_code == exit_code::kIntegrity);
    CHECK(r.first_bad == 40);
  }
  SECTION("two records' contents swapped") {
    CopyDb(db, work);
    ExecSql(work,
            "UPDATE records SET seq = -1 WHERE seq = 30; UPDATE records SET seq = 30 WHERE seq = 35;"
            "UPDATE records SET seq = 35 WHERE seq = -1;");
    VerifyResult r = Verify(key_file, work);
    INFO(r.raw);
    CHECK(r.exit_code == exit_code::kIntegrity);
    CHECK(r.first_bad == 30);
    // Adjacent records swapped, links and all.
    CopyDb(db, work);
    ExecSql(work,
            "UPDATE records SET seq = -1 WHERE seq = 10; UPDATE records SET seq = 10 WHERE seq = 11;"
            "UPDATE records SET seq = 11 WHERE seq = -1;");
    r = Verify(key_file, work);
    INFO(r.raw);
    CHECK(r.exit_code == exit_code::kIntegrity);
    CHECK(r.first_bad == 10);
  }
  SECTION("a record inserted") {
    // A copy of the last record appended as the next one.
    CopyDb(db, work);
    ExecSql(work, "INSERT INTO records SELECT seq + 1, epoch, time_us, uid, pid, op, result, count, user_tag, "
                  "path_tag, sealed, link FROM records WHERE seq = " + std::to_string(n));
    VerifyResult r = Verify(key_file, work);
    INFO(r.raw);
    CHECK(r.exit_code == exit_code::kIntegrity);
    CHECK(r.first_bad == n + 1);
    // One inserted in the middle (the later ones renumbered).
    CopyDb(db, work);
    ExecSql(work, "UPDATE records SET seq = -seq WHERE seq >= 20; UPDATE records SET seq = -seq + 1 WHERE seq < 0;"
                  "INSERT INTO records SELECT 20, epoch, time_us, uid, pid, op, result, count, user_tag, path_tag, "
                  "sealed, link FROM records WHERE seq = 19");
    r = Verify(key_file, work);
    INFO(r.raw);
    CHECK(r.exit_code == exit_code::kIntegrity);
    CHECK(r.first_bad == 20);
  }
  SECTION("the tail truncated") {
    // Without a seal a shorter log looks intact; with the seal taken before
    // the truncation it does not.
    const int64_t keep = seal_seq - 6;
    const std::string late_seal = std::to_string(n - 2) + ":" + Hex(recs[static_cast<size_t>(n - 3)].link);
    CopyDb(db, work);
    ExecSql(work, "DELETE FROM records WHERE seq > " + std::to_string(keep));
    VerifyResult r = Verify(key_file, work);
    INFO(r.raw);
    CHECK(r.exit_code == 0);
    CHECK(r.records == keep);
    for (const std::string& s : {seal, late_seal}) {
      r = Verify(key_file, work, s);
      INFO("seal " << s << ": " << r.raw);
      CHECK(r.exit_code == exit_code::kIntegrity);
      CHECK(r.first_bad == keep + 1);
      CHECK(r.problem.find("truncated") != std::string::npos);
    }
    // Everything deleted.
    CopyDb(db, work);
    ExecSql(work, "DELETE FROM records");
    r = Verify(key_file, work, seal);
    INFO(r.raw);
    CHECK(r.exit_code == exit_code::kIntegrity);
    // A truncation after the seal's record is not detected by that seal, but
    // by a later one.
    CopyDb(db, work);
    ExecSql(work, "DELETE FROM records WHERE seq > " + std::to_string(n - 2));
    r = Verify(key_file, work, seal);
    INFO(r.raw);
    CHECK(r.exit_code == 0);
    r = Verify(key_file, work, std::to_string(n) + ":" + Hex(recs.back().link));
    INFO(r.raw);
    CHECK(r.exit_code == exit_code::kIntegrity);
    CHECK(r.first_bad == n - 1);
    // A seal whose digest does not match its record.
    std::string wrong = Hex(recs[static_cast<size_t>(seal_seq - 1)].link);
    wrong[0] = wrong[0] == '0' ? '1' : '0';
    r = Verify(key_file, db, std::to_string(seal_seq) + ":" + wrong);
    INFO(r.raw);
    CHECK(r.exit_code == exit_code::kIntegrity);
    CHECK(r.first_bad == seal_seq);
  }
  SECTION("a key other than the auditors' initial key fails") {
    std::vector<std::pair<std::string, std::string>> keys;
    keys.emplace_back("zeros", std::string(64, '0'));
    // The passphrase's bytes as hex (first 32 bytes), and its SHA-256.
    std::string pass_hex = Hex(v.passphrase());
    pass_hex.resize(64, '0');
    keys.emplace_back("passphrase hex", pass_hex);
    {
      auto r = RunCommand({"/bin/sh", "-c", "printf %s \"$0\" | sha256sum", v.passphrase()});
      REQUIRE(r.exit_code == 0);
      keys.emplace_back("sha256(passphrase)", r.out.substr(0, 64));
    }
    // Things found in the vault: the audit log's last record's link and the
    // first 32 bytes of its wrapped epoch key; record 1's link.
    keys.emplace_back("last link", Hex(recs.back().link));
    keys.emplace_back("wrapped epoch key", MetaValue(db, "epoch_key").substr(0, 64));
    keys.emplace_back("record 1's link", Hex(recs[0].link));
    // The right key with one bit flipped.
    std::string flipped = key_hex;
    flipped[63] = flipped[63] == '0' ? '1' : '0';
    keys.emplace_back("one bit off", flipped);
    for (const auto& [what, hex] : keys) {
      REQUIRE(hex.size() == 64);
      const std::string file = v.root() + "/other.key";
      REQUIRE(WriteFile(file, hex + "\n", 0600) == 0);
      VerifyResult r = Verify(file, db);
      INFO("key from " << what << " (" << hex << "): " << r.raw);
      CHECK(r.exit_code == exit_code::kIntegrity);
      CHECK(r.first_bad == 1);
    }
  }
}

TEST_CASE("a change whose call returned is in the log after the daemon is killed with SIGKILL", "[audit]") {
  MountedVault v(NotInitialised());
  const std::string key_file = v.root() + "/auditors.key";
  InitWithKey(v, key_file);
  v.Mount();
  const std::string db = DbOf(v);
  v.Policy(MountedVault::Admin(), {"user", "add", "erin", "--uid", "5605"});
  REQUIRE_SYS(mkdir(v.Path("K").c_str(), 0755));
  REQUIRE(CreateFile(v.Path("K/old"), "old") == 0);
  // Counted by verify: the newest records may still be in the write-ahead
  // file only (docs/audit.md).
  const int64_t before = Verify(key_file, db).records;
  REQUIRE(before > 0);

  SECTION("a create") {
    REQUIRE(CreateFile(v.Path("K/new")) == 0);
  }
  SECTION("an unlink") {
    REQUIRE_SYS(unlink(v.Path("K/old").c_str()));
  }
  SECTION("a rename") {
    REQUIRE_SYS(rename(v.Path("K/old").c_str(), v.Path("K/renamed").c_str()));
  }
  SECTION("a policy change") {
    v.Policy(MountedVault::Root(), {"grant", v.Path("K"), "erin", "read"});
  }
  v.KillDaemon(SIGKILL);
  REQUIRE(IsMountpoint(v.mnt()));  // stale

  // The record is there (written ahead before the call returned), and the
  // log verifies up to it.
  VerifyResult r = Verify(key_file, db);
  INFO(r.raw);
  CHECK(r.exit_code == 0);
  REQUIRE(r.records == before + 1);

  // Mounting again (over the stale mount) moves it into the database and
  // continues the chain.
  auto m = RunStrongroom({"mount", "--passfile", v.passfile(), v.vault(), v.mnt()}, 30s);
  INFO("mount over the stale mount: " << m.err);
  REQUIRE(m.exit_code == 0);
  CHECK(OpenClose(v.Path("K"), O_RDONLY | O_DIRECTORY) == 0);
  auto u = RunStrongroom({"umount", v.mnt()}, 30s);
  CHECK(u.exit_code == 0);
  std::vector<Rec> after = ReadRecords(db);
  INFO("records after remount:\n" << Describe(after));
  CheckWellFormed(after);
  const auto n = static_cast<size_t>(before);
  REQUIRE(after.size() >= n + 3);
  const std::string op = after[n].op;
  CHECK((op == "create" || op == "unlink" || op == "rename" || op == "policy.grant"));
  CHECK(after[n].result == 0);
  CHECK(after[n].uid == 0);
  CHECK(after[n + 1].op == "mount");
  CHECK(after.back().op == "unmount");
  r = Verify(key_file, db);
  INFO(r.raw);
  CHECK(r.exit_code == 0);
  CHECK(r.records == static_cast<int64_t>(after.size()));
}

TEST_CASE("a full disk under the audit database refuses changes with EIO and the daemon keeps running",
          "[audit]") {
  RequireMountEnvironment();
  TempDir small;
  const std::string dir = small.path() + "/auditfs";
  REQUIRE(mkdir(dir.c_str(), 0700) == 0);
  if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=4m,mode=0700") != 0) {
    FAIL("cannot mount a tmpfs on " << dir << ": " << strerror(errno));
  }
  ScopeExit unmount_tmpfs{[&] {
    if (::umount2(dir.c_str(), 0) != 0) ::umount2(dir.c_str(), MNT_DETACH);
  }};
  const std::string db = dir + "/audit.db";
  const std::string filler = dir + "/filler";

  MountedVault v(NotInitialised());
  const std::string key_file = v.root() + "/auditors.key";
  InitWithKey(v, key_file, db);
  CHECK(access(DbOf(v).c_str(), F_OK) != 0);  // not in the vault
  v.Mount();
  REQUIRE(CreateFile(v.Path("existing"), "still readable") == 0);
  REQUIRE(CreateFile(v.Path("victim"), "must survive") == 0);
  REQUIRE_SYS(mkdir(v.Path("dir").c_str(), 0755));
  int created_before = 2;

  // Fill the tmpfs.
  {
    int fd = ::open(filler.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    std::string block(4096, 'f');
    for (int i = 0; i < 4096; ++i) {
      if (write(fd, block.data(), block.size()) < 0) break;
    }
    while (write(fd, "f", 1) == 1) {
    }
    close(fd);
  }
  // Until the log cannot grow any more, creates may still fit in space the
  // write-ahead file already holds; the first refused one fails with EIO,
  // and from then on every change is refused until the volume has room
  // again (1 MiB), whatever the daemon frees meanwhile.
  bool refused = false;
  int created_full = 0;
  for (int i = 0; i < 500 && !refused; ++i) {
    int e = CreateFile(v.Path("full" + std::to_string(i)));
    if (e == 0) {
      ++created_full;
      continue;
    }
    INFO("create on a full audit disk: " << strerror(e));
    REQUIRE(e == EIO);
    refused = true;
    CHECK(access(v.Path("full" + std::to_string(i)).c_str(), F_OK) != 0);
  }
  INFO(created_full << " creates fit before the disk was full");
  REQUIRE(refused);

  // An unlink, a rename, a mkdir, a truncate, a chmod whose record cannot be
  // written do not happen.
  CHECK_ERRNO(unlink(v.Path("victim").c_str()), EIO);
  CHECK(access(v.Path("victim").c_str(), F_OK) == 0);
  CHECK_ERRNO(rename(v.Path("victim").c_str(), v.Path("moved").c_str()), EIO);
  CHECK(access(v.Path("victim").c_str(), F_OK) == 0);
  CHECK(access(v.Path("moved").c_str(), F_OK) != 0);
  CHECK_ERRNO(mkdir(v.Path("newdir").c_str(), 0755), EIO);
  CHECK(access(v.Path("newdir").c_str(), F_OK) != 0);
  CHECK_ERRNO(rmdir(v.Path("dir").c_str()), EIO);
  CHECK(access(v.Path("dir").c_str(), F_OK) == 0);
  CHECK_ERRNO(truncate(v.Path("victim").c_str(), 0), EIO);
  CHECK_ERRNO(symlink("x", v.Path("link").c_str()), EIO);
  CHECK(ReadFile(v.Path("victim")).data == "must survive");
  // A policy change is refused too.
  {
    auto r = RunStrongroomAs(MountedVault::Admin(), {"user", "add", "frank", "--uid", "5606", "--mount", v.mnt()});
    INFO("user add on a full audit disk: " << r.err);
    CHECK(r.exit_code != 0);
  }
  // The daemon keeps running: reads work.
  CHECK(kill(v.daemon_pid(), 0) == 0);
  CHECK(ReadFile(v.Path("existing")).data == "still readable");
  CHECK(ListDirErr(v.mnt()) == 0);
  CHECK(v.DaemonLog().find("audit log cannot be written") != std::string::npos);

  // A moment later (the daemon's writer may have freed a little), still refused.
  std::this_thread::sleep_for(300ms);
  CHECK_ERRNO(unlink(v.Path("victim").c_str()), EIO);
  CHECK(access(v.Path("victim").c_str(), F_OK) == 0);

  // Space again: calls work again.
  INFO("daemon log while the disk was full:\n" << v.DaemonLog());
  REQUIRE(::unlink(filler.c_str()) == 0);
  CHECK(CreateFile(v.Path("after")) == 0);
  CHECK_SYS(unlink(v.Path("victim").c_str()));
  CHECK_SYS(rename(v.Path("existing").c_str(), v.Path("renamed").c_str()));
  v.Policy(MountedVault::Admin(), {"user", "add", "frank", "--uid", "5606"});
  CHECK(kill(v.daemon_pid(), 0) == 0);
  v.Unmount();

  // Nothing acknowledged is missing, and the log verifies.
  std::vector<Rec> recs = ReadRecords(db);
  INFO("records:\n" << Describe(recs));
  CheckWellFormed(recs);
  CHECK(CountOf(recs, {"create", 0, -1, 0, 0}) == static_cast<size_t>(created_before + created_full + 1));
  CHECK(CountOf(recs, {"unlink", 0, -1, 0, 0}) == 1);
  CHECK(CountOf(recs, {"rename", 0, -1, 0, 0}) == 1);
  CHECK(CountOf(recs, {"mkdir", 0, -1, 0, 0}) == 1);
  CHECK(CountOf(recs, {"rmdir", 0, -1, -1, 0}) == 0);
  CHECK(CountOf(recs, {"policy.user.add", kAdminUid, -1, 0, 0}) == 2);  // root, frank
  CHECK(recs.back().op == "unmount");
  VerifyResult r = Verify(key_file, db);
  INFO(r.raw);
  CHECK(r.exit_code == 0);
  CHECK(r.records == static_cast<int64_t>(recs.size()));
}

// `python3` parses `file` as CSV (csv.DictReader) or JSON Lines and prints
// the rows as one JSON array: what a standard tool makes of the export.
json ParsedByPython(const std::string& file, const std::string& format) {
  const std::string script = format == "csv"
                                 ? "import csv,json,sys\n"
                                   "with open(sys.argv[1], newline='') as f:\n"
                                   "    r = csv.DictReader(f)\n"
                                   "    rows = list(r)\n"
                                   "    print(json.dumps({'columns': r.fieldnames, 'rows': rows}))\n"
                                 : "import json,sys\n"
                                   "rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]\n"
                                   "print(json.dumps({'columns': None, 'rows': rows}))\n";
  CommandResult r = RunCommand({"/usr/bin/python3", "-c", script, file}, 30s);
  INFO("python3 on " << file << ": " << r.err);
  REQUIRE(r.exit_code == 0);
  json j = json::parse(r.out, nullptr, false);
  REQUIRE(!j.is_discarded());
  return j;
}

TEST_CASE("audit queries and exports: filters, CSV and JSON Lines that standard tools parse, who may ask", "[audit]") {
  MountedVault v;
  const Identity auditor{5620, 5620}, lead{5621, 5621}, staff{5622, 5622};
  v.Policy(MountedVault::Admin(), {"user", "add", "aud", "--uid", "5620", "--role", "auditor"});
  v.Policy(MountedVault::Admin(), {"user", "add", "lea", "--uid", "5621"});
  v.Policy(MountedVault::Admin(), {"user", "add", "sam", "--uid", "5622"});
  REQUIRE_SYS(mkdir(v.Path("P").c_str(), 0755));
  REQUIRE_SYS(mkdir(v.Path("Q").c_str(), 0755));
  REQUIRE(CreateFile(v.Path("Q/x"), "q") == 0);
  v.Policy(MountedVault::Root(), {"grant", v.Path("P"), "lea", "manage"});
  v.Policy(lead, {"grant", v.Path("P"), "sam", "write"});
  v.Policy(MountedVault::Root(), {"grant", v.Path("Q"), "sam", "read"});
  v.Policy(MountedVault::Root(), {"grant", v.Path("Q"), "lea", "read"});
  // Sam makes a file whose name a spreadsheet would take for a formula, and
  // is refused a write open in Q.
  const std::string formula = "=HYPERLINK(\"x\")";
  REQUIRE(RunAs(staff.uid, staff.gid, [&] { return CreateFile(v.Path("P/" + formula), "s"); }) == 0);
  REQUIRE(RunAs(staff.uid, staff.gid, [&] {
            const int fd = ::open(v.Path("Q/x").c_str(), O_WRONLY | O_CLOEXEC);
            if (fd >= 0) ::close(fd);
            return fd < 0 && errno == EACCES ? 0 : 1;
          }) == 0);

  auto run = [&](const Identity& who, std::vector<std::string> args) {
    args.push_back("--mount");
    args.push_back(v.mnt());
    CommandResult r = RunStrongroomAs(who, args, 60s);
    std::string line;
    for (const auto& a : args) line += " " + a;
    UNSCOPED_INFO("as uid " << who.uid << ":" << line << " -> exit " << r.exit_code << "\nstdout: " << r.out
                            << "\nstderr: " << r.err);
    return r;
  };
  auto records = [&](const Identity& who, std::vector<std::string> args) {
    args.insert(args.begin(), "audit");
    args.push_back("--json");
    CommandResult r = run(who, args);
    REQUIRE(r.exit_code == exit_code::kOk);
    json j = json::parse(r.out, nullptr, false);
    REQUIRE(!j.is_discarded());
    REQUIRE(j.contains("records"));
    return j["records"];
  };

  // --user: only sam's records, among them the create.
  json sams = records(auditor, {"--user", "sam", "--limit", "1000"});
  REQUIRE(!sams.empty());
  bool created = false;
  for (const json& r : sams) {
    CHECK(r["user"] == "sam");
    CHECK(r["uid"] == 5622);
    if (r["op"] == "create" && r["path"] == "/P/" + formula) created = true;
  }
  CHECK(created);
  // --denied: only refusals, sam's write open among them.
  json denied = records(auditor, {"--denied", "--limit", "1000"});
  bool refused_open = false;
  for (const json& r : denied) {
    CHECK(r["result"] != 0);
    if (r["op"] == "open" && r["uid"] == 5622 && r["path"] == "/Q/x" && r["result"] == EACCES) refused_open = true;
  }
  CHECK(refused_open);
  // --op and --path together; newest first.
  json creates = records(auditor, {"--op", "create", "--path", v.Path("P")});
  REQUIRE(creates.size() == 1);
  CHECK(creates[0]["path"] == "/P/" + formula);
  json all = records(auditor, {"--limit", "1000"});
  REQUIRE(all.size() >= 10);
  for (size_t i = 1; i < all.size(); ++i) CHECK(all[i - 1]["seq"].get<int64_t>() > all[i]["seq"].get<int64_t>());
  // --limit, --since and --until.
  CHECK(records(auditor, {"--limit", "3"}).size() == 3);
  CHECK(records(auditor, {"--since", "2099-01-01"}).empty());
  CHECK(records(auditor, {"--until", "2000-01-01T00:00:00Z"}).empty());
  CHECK(records(auditor, {"--since", "2000-01-01", "--user", "sam", "--limit", "1000"}).size() == sams.size());
  CHECK(run(auditor, {"audit", "--since", "yesterday-ish"}).exit_code == exit_code::kUsage);

  // Who may ask: staff never; a lead only about a folder they lead; admins
  // everything.
  CHECK(run(staff, {"audit"}).exit_code == exit_code::kRefused);
  CHECK(run(staff, {"audit", "--path", v.Path("P")}).exit_code == exit_code::kRefused);
  CHECK(run(lead, {"audit"}).exit_code == exit_code::kRefused);
  CHECK(run(lead, {"audit", "--path", v.Path("Q")}).exit_code == exit_code::kRefused);  // sees it, does not lead it
  CHECK(run(staff, {"audit", "--path", v.Path("nowhere")}).exit_code == exit_code::kNotFound);
  for (const json& r : records(lead, {"--path", v.Path("P"), "--limit", "1000"})) {
    CHECK(r["path"].get<std::string>().rfind("/P", 0) == 0);
  }
  CHECK(!records(MountedVault::Admin(), {"--user", "sam"}).empty());

  // --csv and export FILE (CSV, JSON Lines) parse with Python's csv and json
  // modules, with the same records; a formula-like cell is neutralised.
  sams = records(auditor, {"--user", "sam", "--limit", "1000"});  // with sam's refused queries since
  CommandResult csv_out = run(auditor, {"audit", "--user", "sam", "--limit", "1000", "--csv"});
  REQUIRE(csv_out.exit_code == exit_code::kOk);
  // The auditor writes the exports in a directory of their own.
  TempDir out_dir;
  REQUIRE_SYS(chown(out_dir.path().c_str(), auditor.uid, auditor.gid));
  REQUIRE_SYS(chmod(out_dir.path().c_str(), 0700));
  const std::string stdout_csv = out_dir.path() + "/query.csv";
  REQUIRE(WriteFile(stdout_csv, csv_out.out) == 0);
  const std::string csv_file = out_dir.path() + "/export.csv";
  const std::string jsonl_file = out_dir.path() + "/export.jsonl";
  REQUIRE(run(auditor, {"audit", "export", csv_file, "--user", "sam"}).exit_code == exit_code::kOk);
  REQUIRE(run(auditor, {"audit", "export", jsonl_file, "--format", "jsonl", "--user", "sam"}).exit_code ==
          exit_code::kOk);
  const std::vector<std::string> columns = {"seq",  "time",   "user",   "uid",   "pid",   "exe",   "op",
                                            "path", "path2",  "access", "result", "count", "reason"};
  for (const std::string& file : {stdout_csv, csv_file}) {
    INFO(file);
    json parsed = ParsedByPython(file, "csv");
    CHECK(parsed["columns"] == json(columns));
    REQUIRE(parsed["rows"].size() == sams.size());
    for (const json& row : parsed["rows"]) {
      CHECK(row["user"] == "sam");
      CHECK(row["uid"] == "5622");
      if (row["op"] == "create") {
        CHECK(row["path"] == "/P/" + formula);  // does not start with '=': the path begins with '/'
      }
    }
  }
  // A user whose name a spreadsheet would run as a formula: the cell gets a
  // leading apostrophe, in the query's CSV and in the export.
  const std::string eq_name = "=SUM(A1:A9)";
  v.Policy(MountedVault::Admin(), {"user", "add", eq_name, "--uid", "5623"});
  v.Policy(MountedVault::Root(), {"grant", v.Path("Q"), eq_name, "read"});
  REQUIRE(RunAs(5623, 5623, [&] { return ReadFile(v.Path("Q/x")).data == "q" ? 0 : 1; }) == 0);
  const std::string eq_file = out_dir.path() + "/formula.csv";
  REQUIRE(run(auditor, {"audit", "export", eq_file, "--user", eq_name}).exit_code == exit_code::kOk);
  json eq_rows = ParsedByPython(eq_file, "csv")["rows"];
  REQUIRE(!eq_rows.empty());
  for (const json& row : eq_rows) CHECK(row["user"] == "'" + eq_name);
  json lines = ParsedByPython(jsonl_file, "jsonl");
  REQUIRE(lines["rows"].size() == sams.size());
  for (size_t i = 0; i < sams.size(); ++i) {
    CHECK(lines["rows"][i]["seq"] == sams[i]["seq"]);
    CHECK(lines["rows"][i]["path"] == sams[i]["path"]);
    CHECK(lines["rows"][i]["user"] == "sam");
  }
  // export never overwrites.
  const std::string before = ReadFile(csv_file).data;
  CHECK(run(auditor, {"audit", "export", csv_file}).exit_code == exit_code::kConflict);
  CHECK(ReadFile(csv_file).data == before);
  // Nor writes where the auditor may not.
  CHECK(run(auditor, {"audit", "export", v.root() + "/elsewhere.csv"}).exit_code == exit_code::kRefused);
  CHECK(access((v.root() + "/elsewhere.csv").c_str(), F_OK) != 0);
  // Every query is itself recorded, with who asked.
  json queries = records(auditor, {"--op", "audit.query", "--limit", "1000"});
  bool staff_refused = false, lead_asked = false;
  for (const json& r : queries) {
    if (r["uid"] == 5622 && r["result"] == EACCES) staff_refused = true;
    if (r["uid"] == 5621 && r["result"] == 0) lead_asked = true;
  }
  CHECK(staff_refused);
  CHECK(lead_asked);
}

TEST_CASE("no plaintext name or user in the audit database", "[audit]") {
  MountedVault v;
  const std::string db = DbOf(v);
  const std::string marker = "MARKERx9q";
  v.Policy(MountedVault::Admin(), {"user", "add", "markeruser", "--uid", "5607"});
  v.Policy(MountedVault::Admin(), {"team", "add", "markerteam"});
  v.Policy(MountedVault::Admin(), {"team", "member", "add", "markerteam", "markeruser"});
  REQUIRE_SYS(mkdir(v.Path(marker).c_str(), 0755));
  REQUIRE_SYS(mkdir(v.Path(marker + "/" + marker + "-sub").c_str(), 0755));
  REQUIRE(CreateFile(v.Path(marker + "/" + marker + ".txt"), "content " + marker) == 0);
  REQUIRE_SYS(symlink((marker + "-target").c_str(), v.Path(marker + "/" + marker + "-link").c_str()));
  REQUIRE_SYS(rename(v.Path(marker + "/" + marker + ".txt").c_str(), v.Path(marker + "/" + marker + "-2.txt").c_str()));
  REQUIRE(OpenClose(v.Path(marker + "/" + marker + "-2.txt"), O_RDONLY) == 0);
  REQUIRE(ListDirErr(v.Path(marker)) == 0);
  v.Policy(MountedVault::Root(), {"grant", v.Path(marker), "markeruser", "read"});
  v.Policy(MountedVault::Root(), {"grant", v.Path(marker + "/" + marker + "-sub"), "@markerteam", "write"});
  v.Policy(MountedVault::Root(), {"revoke", v.Path(marker), "markeruser"});
  // Refusals (queued) by the marker user.
  RunAs(5607, 5607, [&] {
    (void)OpenClose(v.Path(marker + "/" + marker + "-2.txt"), O_WRONLY);
    (void)CreateFile(v.Path(marker + "/" + marker + "-new"));
    return 0;
  });
  (void)RunStrongroomAs(Identity{5607, 5607}, {"request", v.Path(marker), "read", "--reason", marker + " reason",
                                               "--mount", v.mnt()});
  REQUIRE(CreateFile(v.Path(marker + "/" + marker + "-sub/last")) == 0);
  // Last: root's clearance (1) is below the label's level.
  v.Policy(MountedVault::Admin(), {"label", v.Path(marker), "2"});

  auto files_of_db = [&] {
    std::vector<std::string> files;
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
      if (access((db + suffix).c_str(), F_OK) == 0) files.push_back(db + suffix);
    }
    return files;
  };
  auto scan = [&](const char* when) {
    std::vector<std::string> files = files_of_db();
    INFO(when << ": audit database files:\n" << Join(files));
    REQUIRE(!files.empty());
    for (const std::string& needle : {marker, std::string("markeruser"), std::string("markerteam")}) {
      std::vector<std::string> hits = FilesContaining(files, needle, /*fold=*/true);
      INFO("files holding " << needle << ":\n" << Join(hits));
      CHECK(hits.empty());
    }
    // The whole vault directory holds no plaintext name either.
    std::vector<std::string> all = FilesUnder(v.vault());
    std::vector<std::string> hits = FilesContaining(all, marker, true);
    INFO("vault files holding the marker:\n" << Join(hits));
    CHECK(hits.empty());
  };
  // Queued records are written ahead within milliseconds and moved into
  // the database once the mount has been quiet for a moment.
  for (int i = 0; i < 100 && ReadRecords(db).size() <= 20; ++i) std::this_thread::sleep_for(100ms);
  REQUIRE(ReadRecords(db).size() > 20);
  scan("mounted");
  v.Unmount();
  scan("unmounted");
}

TEST_CASE("sealed segments rotate at the configured size, move out with audit archive, and still verify",
          "[audit]") {
  MountedVault v(NotInitialised());
  const std::string key_file = v.root() + "/auditors.key";
  InitWithKey(v, key_file);
  v.Mount();
  const std::string db = DbOf(v);

  // Admins only, sizes only, and at least 64 KiB.
  {
    auto r = RunStrongroomAs(MountedVault::Admin(), {"config", "set", "audit-segment-size", "1K", "--mount", v.mnt()});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("64K") != std::string::npos);
    r = RunStrongroomAs(MountedVault::Admin(), {"config", "set", "audit-segment-size", "lots", "--mount", v.mnt()});
    CHECK(r.exit_code == 2);
  }
  v.Policy(MountedVault::Admin(), {"config", "set", "audit-segment-size", "64K"});
  {
    auto r = RunStrongroomAs(MountedVault::Admin(), {"config", "get", "audit-segment-size", "--mount", v.mnt()});
    CHECK(r.out.find("65536") != std::string::npos);
  }

  // About 2,000 records: several segments of 64 KiB.
  REQUIRE_SYS(mkdir(v.Path("S").c_str(), 0755));
  for (int i = 0; i < 500; ++i) REQUIRE(CreateFile(v.Path("S/f" + std::to_string(i)), "x") == 0);
  for (int i = 0; i < 500; ++i) REQUIRE(ReadFile(v.Path("S/f" + std::to_string(i))).err == 0);
  v.Unmount();

  auto segments = [&v] {
    std::vector<std::string> out;
    for (const std::string& f : FilesUnder(v.vault())) {
      if (std::regex_search(f, std::regex(R"(/strongroom-audit\.[0-9]{12}-[0-9]{12}\.db$)"))) out.push_back(f);
    }
    return out;
  };
  const std::vector<std::string> sealed = segments();
  INFO(sealed.size() << " sealed segments");
  REQUIRE(sealed.size() >= 3);
  VerifyResult all = Verify(key_file, v.vault(), "", /*db_is_vault=*/true);
  INFO(all.raw);
  REQUIRE(all.exit_code == 0);
  CHECK(all.raw.find("\"segments\": " + std::to_string(sealed.size())) != std::string::npos);

  // Archived to another directory while mounted: recorded, and the live
  // part still verifies; with --archive, all of it does.
  v.Mount();
  TempDir archive;
  auto a = RunStrongroom({"audit", "archive", v.vault(), archive.path(), "--keep", "1"});
  INFO("audit archive: " << a.out << a.err);
  REQUIRE(a.exit_code == 0);
  CHECK(segments().size() == 1);
  auto q = RunStrongroomAs(MountedVault::Admin(), {"audit", "--op", "audit.archive", "--json", "--mount", v.mnt()});
  INFO(q.out << q.err);
  CHECK(q.exit_code == 0);
  CHECK(q.out.find("moved " + std::to_string(sealed.size() - 1) + " sealed segments") != std::string::npos);
  v.Unmount();

  VerifyResult live = Verify(key_file, v.vault(), "", true);
  INFO(live.raw);
  CHECK(live.exit_code == 0);
  CHECK(live.records < all.records);
  CHECK(live.raw.find("\"first_seq\": 1,") == std::string::npos);

  auto full = RunStrongroom({"audit", "verify", "--json", "--key", key_file, "--archive", archive.path(), v.vault()});
  INFO(full.out << full.err);
  REQUIRE(full.exit_code == 0);
  json j = json::parse(full.out);
  CHECK(j["ok"] == true);
  CHECK(j["first_seq"] == 1);
  CHECK(j["records"].get<int64_t>() > all.records);  // and the mount, archive and unmount records

  // An archived segment edited: verify with the archive names the record.
  // The oldest segment (the archive may hold other files, e.g. SQLite's
  // -shm of a verify, and a directory lists in no particular order).
  std::vector<std::string> moved;
  for (const std::string& f : FilesUnder(archive.path())) {
    if (f.ends_with(".db")) moved.push_back(f);
  }
  std::sort(moved.begin(), moved.end());
  REQUIRE(!moved.empty());
  {
    DbPtr adb = OpenDb(moved.front());
    REQUIRE(sqlite3_exec(adb.get(), "UPDATE records SET uid = uid + 1 WHERE seq = 5", nullptr, nullptr, nullptr) ==
            SQLITE_OK);
  }
  auto bad = RunStrongroom({"audit", "verify", "--json", "--key", key_file, "--archive", archive.path(), v.vault()});
  CHECK(bad.exit_code == exit_code::kIntegrity);
  CHECK(bad.out.find("\"first_bad_seq\": 5") != std::string::npos);
}

}  // namespace strongroom::test
