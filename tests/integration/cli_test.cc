// The strongroom command line on bad input: each failure is one line on
// stderr starting with "strongroom: ", the exit code of docs/cli-contract.md,
// and nothing in the vault modified.  Plus the mount lifecycle: background
// mount, umount, SIGTERM, stale mounts, passwd.
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "integration_assert.h"
#include "mount_fixture.h"

namespace strongroom::test {
namespace {

using namespace std::chrono_literals;

// Exit codes from docs/cli-contract.md.
using namespace exit_code;

MountedVault::Options Unmounted() {
  MountedVault::Options o;
  o.mount = false;
  return o;
}

// What the fixture does after its own mounts: the admin adds root and
// gives it `manage` on the vault mounted at `mnt`.
void GrantRootAt(const std::string& mnt) {
  for (std::vector<std::string> args : {std::vector<std::string>{"user", "add", "root", "--uid", "0"},
                                        std::vector<std::string>{"grant", mnt, "root", "manage"}}) {
    args.push_back("--mount");
    args.push_back(mnt);
    auto r = RunStrongroomAs(MountedVault::Admin(), args);
    INFO("policy command: " << r.err);
    REQUIRE(r.exit_code == 0);
  }
}

// The vault's files; an empty strongroom.lock (a lock file a command may
// create to take the lock) is not a modification.
std::map<std::string, std::string> VaultSnapshot(const std::string& vault) {
  auto snap = SnapshotTree(vault);
  auto lock = snap.find("strongroom.lock");
  if (lock != snap.end()) {
    struct stat st {};
    if (lstat((vault + "/strongroom.lock").c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        st.st_size == 0) {
      snap.erase(lock);
    }
  }
  return snap;
}

std::string DescribeDiff(const std::map<std::string, std::string>& before,
                         const std::map<std::string, std::string>& after) {
  std::string out;
  for (const auto& [k, v] : before) {
    auto it = after.find(k);
    if (it == after.end()) {
      out += "  removed: " + k + "\n";
    } else if (it->second != v) {
      out += "  changed: " + k + "\n";
    }
  }
  for (const auto& [k, v] : after) {
    if (!before.count(k)) out += "  added: " + k + "\n";
  }
  return out.empty() ? "  (none)\n" : out;
}

void WaitNoProcessMentions(const std::string& needle, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!ProcessesMentioning(needle).empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
}

// A failed command: expected exit code, a single "strongroom: " line on
// stderr, quick, and nothing in `vault` changed.
void ExpectFailure(const CommandResult& r, std::set<int> codes,
                   const std::map<std::string, std::string>& before, const std::string& vault,
                   std::chrono::milliseconds max_time = 20s) {
  std::string codes_text;
  for (int c : codes) codes_text += std::to_string(c) + " ";
  INFO("exit code " << r.exit_code << " (expected one of " << codes_text << "), " << r.seconds
                    << " s; stderr:\n"
                    << r.err << "stdout:\n"
                    << r.out);
  CHECK_FALSE(r.timed_out);
  CHECK(codes.count(r.exit_code) == 1);
  CHECK(r.seconds < std::chrono::duration<double>(max_time).count());
  std::string err = r.err;
  if (!err.empty() && err.back() == '\n') err.pop_back();
  CHECK(err.rfind("strongroom: ", 0) == 0);
  CHECK(err.find('\n') == std::string::npos);
  if (!vault.empty()) {
    WaitNoProcessMentions(vault, 5s);
    CHECK(ProcessesMentioning(vault).empty());
    auto after = VaultSnapshot(vault);
    INFO("vault changes:\n" << DescribeDiff(before, after));
    CHECK(after == before);
  }
}

CommandResult Mount(const std::string& passfile, const std::string& vault,
                    const std::string& mountpoint) {
  return RunStrongroom({"mount", "--passfile", passfile, vault, mountpoint}, 30s);
}

// Leaves nothing mounted at `mountpoint` (for commands that wrongly succeeded).
void EnsureUnmounted(const std::string& mountpoint) {
  if (IsMountpoint(mountpoint)) RunCommand({"/usr/bin/fusermount3", "-u", mountpoint}, 10s);
}

std::string WritePassfile(const MountedVault& v, const std::string& name, const std::string& pass) {
  std::string path = v.root() + "/" + name;
  REQUIRE(WriteFile(path, pass + "\n", 0600) == 0);
  return path;
}

// Mounts in the background, reads `rel`, unmounts with `strongroom umount`.
std::string MountReadUnmount(const MountedVault& v, const std::string& passfile,
                             const std::string& rel) {
  auto r = Mount(passfile, v.vault(), v.mnt());
  INFO("strongroom mount: exit " << r.exit_code << ", stderr: " << r.err);
  REQUIRE(r.exit_code == kOk);
  REQUIRE(IsMountpoint(v.mnt()));
  auto content = ReadFile(v.Path(rel));
  auto u = RunStrongroom({"umount", v.mnt()}, 30s);
  INFO("strongroom umount: exit " << u.exit_code << ", stderr: " << u.err);
  CHECK(u.exit_code == kOk);
  CHECK_FALSE(IsMountpoint(v.mnt()));
  INFO("reading " << rel << ": " << strerror(content.err));
  REQUIRE(content.err == 0);
  return content.data;
}

// Finds numeric JSON fields whose name matches `pred`; returns JSON pointers.
void FindFields(const nlohmann::json& j, const std::string& path,
                const std::function<bool(const std::string&, const nlohmann::json&)>& pred,
                std::vector<std::string>* out) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      std::string child = path + "/" + it.key();
      if (pred(it.key(), it.value())) out->push_back(child);
      FindFields(it.value(), child, pred, out);
    }
  } else if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i) {
      FindFields(j[i], path + "/" + std::to_string(i), pred, out);
    }
  }
}

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

TEST_CASE("init creates the documented vault layout", "[cli]") {
  MountedVault v(Unmounted());
  struct stat st = StatOrDie(v.vault());
  CHECK((st.st_mode & 07777) == 0700);
  CHECK(S_ISREG(StatOrDie(v.vault() + "/strongroom.conf").st_mode));
  CHECK(S_ISREG(StatOrDie(v.vault() + "/strongroom.db").st_mode));
  CHECK(S_ISDIR(StatOrDie(v.tree()).st_mode));
  CHECK(StatOrDie(v.tree() + "/.dirid").st_size == 16);
  // Every directory made through the mount gets its own ID.
  v.Mount();
  REQUIRE_SYS(mkdir(v.Path("d").c_str(), 0755));
  v.Unmount();
  std::vector<std::string> subdirs;
  auto entries = ListDir(v.tree());
  REQUIRE(entries);
  for (const auto& e : *entries) {
    if (e.name != ".dirid") subdirs.push_back(e.name);
  }
  REQUIRE(subdirs.size() == 1);
  std::string sub_id = ReadOrDie(v.tree() + "/" + subdirs[0] + "/.dirid");
  CHECK(sub_id.size() == 16);
  CHECK(sub_id != ReadOrDie(v.tree() + "/.dirid"));
}

TEST_CASE("usage errors exit 2", "[cli]") {
  RequireMountEnvironment();
  for (const auto& args : std::vector<std::vector<std::string>>{
           {}, {"no-such-command"}, {"mount"}, {"mount", "/tmp"}, {"init"}, {"umount"}}) {
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    INFO("strongroom " << joined);
    auto r = RunStrongroom(args, 20s);
    ExpectFailure(r, {kUsage}, {}, "");
  }
}

TEST_CASE("wrong passphrase on mount exits 3 and modifies nothing", "[cli]") {
  MountedVault v;
  WriteOrDie(v.Path("f"), "content");
  v.Unmount();
  std::string wrong = WritePassfile(v, "wrong", "not the passphrase");
  auto before = VaultSnapshot(v.vault());
  auto r = Mount(wrong, v.vault(), v.mnt());
  EnsureUnmounted(v.mnt());
  ExpectFailure(r, {kWrongPassphrase}, before, v.vault());
  CHECK_FALSE(IsMountpoint(v.mnt()));
  // The right passphrase still works.
  CHECK(MountReadUnmount(v, v.passfile(), "f") == "content");
}

TEST_CASE("wrong passphrase on passwd exits 3 and modifies nothing", "[cli]") {
  MountedVault v;
  WriteOrDie(v.Path("f"), "content");
  v.Unmount();
  std::string wrong = WritePassfile(v, "wrong", "not the passphrase");
  std::string fresh = WritePassfile(v, "fresh", "a new passphrase");
  auto before = VaultSnapshot(v.vault());
  auto r = RunStrongroom({"passwd", v.vault(), "--passfile", wrong, "--new-passfile", fresh}, 30s);
  ExpectFailure(r, {kWrongPassphrase}, before, v.vault());
  CHECK(MountReadUnmount(v, v.passfile(), "f") == "content");
  auto bad = Mount(fresh, v.vault(), v.mnt());
  EnsureUnmounted(v.mnt());
  CHECK(bad.exit_code == kWrongPassphrase);
}

TEST_CASE("passwd: the new passphrase works, the old one fails, content untouched", "[cli]") {
  MountedVault v;
  WriteOrDie(v.Path("f"), "content");
  REQUIRE_SYS(mkdir(v.Path("d").c_str(), 0755));
  WriteOrDie(v.Path("d/g"), "more");
  v.Unmount();
  auto tree_before = SnapshotTree(v.tree());
  auto db_before = ReadOrDie(v.vault() + "/strongroom.db");
  auto conf_before = ReadOrDie(v.vault() + "/strongroom.conf");
  std::string fresh = WritePassfile(v, "fresh", "a new passphrase " + RandomHex(4));
  auto r = RunStrongroom({"passwd", v.vault(), "--passfile", v.passfile(), "--new-passfile", fresh},
                         30s);
  INFO("passwd: exit " << r.exit_code << ", stderr: " << r.err);
  REQUIRE(r.exit_code == kOk);
  // Only the wrap of the master key changed.
  CHECK(SnapshotTree(v.tree()) == tree_before);
  CHECK(ReadOrDie(v.vault() + "/strongroom.db") == db_before);
  CHECK(ReadOrDie(v.vault() + "/strongroom.conf") != conf_before);

  CHECK(MountReadUnmount(v, fresh, "f") == "content");
  auto before = VaultSnapshot(v.vault());
  auto old = Mount(v.passfile(), v.vault(), v.mnt());
  EnsureUnmounted(v.mnt());
  ExpectFailure(old, {kWrongPassphrase}, before, v.vault());
  CHECK(MountReadUnmount(v, fresh, "d/g") == "more");
}

TEST_CASE("init refuses a non-empty directory and an existing vault with 8", "[cli]") {
  MountedVault v(Unmounted());
  const std::string dir = v.root() + "/nonempty";
  REQUIRE_SYS(mkdir(dir.c_str(), 0755));
  WriteOrDie(dir + "/keep.txt", "keep");
  auto before = SnapshotTree(dir);
  auto r = RunStrongroom({"init", "--admin", "sr-admin", "--passfile", v.passfile(), "--scrypt-logn", "12", dir});
  ExpectFailure(r, {kConflict}, before, dir);

  auto vault_before = VaultSnapshot(v.vault());
  r = RunStrongroom({"init", "--admin", "sr-admin", "--passfile", v.passfile(), "--scrypt-logn", "12", v.vault()});
  ExpectFailure(r, {kConflict}, vault_before, v.vault());
}

TEST_CASE("mount refuses a missing vault or a missing mountpoint with 5", "[cli]") {
  MountedVault v(Unmounted());
  auto r = Mount(v.passfile(), v.root() + "/no-such-vault", v.mnt());
  EnsureUnmounted(v.mnt());
  ExpectFailure(r, {kNotFound}, {}, "");
  CHECK_FALSE(IsMountpoint(v.mnt()));
  CHECK_ERRNO(access((v.root() + "/no-such-vault").c_str(), F_OK), ENOENT);

  auto before = VaultSnapshot(v.vault());
  r = Mount(v.passfile(), v.vault(), v.root() + "/no-such-mountpoint");
  ExpectFailure(r, {kNotFound}, before, v.vault());
  CHECK_ERRNO(access((v.root() + "/no-such-mountpoint").c_str(), F_OK), ENOENT);
}

TEST_CASE("mounting an already-mounted vault is refused with 8", "[cli]") {
  MountedVault v;
  WriteOrDie(v.Path("f"), "content");
  const std::string mnt2 = v.root() + "/mnt2";
  REQUIRE_SYS(mkdir(mnt2.c_str(), 0755));
  auto r = Mount(v.passfile(), v.vault(), mnt2);
  bool wrongly_mounted = IsMountpoint(mnt2);
  EnsureUnmounted(mnt2);
  INFO("exit " << r.exit_code << ", stderr: " << r.err);
  CHECK(r.exit_code == kConflict);
  CHECK_FALSE(wrongly_mounted);
  std::string err = r.err;
  if (!err.empty() && err.back() == '\n') err.pop_back();
  CHECK(err.rfind("strongroom: ", 0) == 0);
  CHECK(err.find('\n') == std::string::npos);
  // The first mount is unaffected.
  CHECK(ReadOrDie(v.Path("f")) == "content");
  WriteOrDie(v.Path("g"), "still writable");
  CHECK(ReadOrDie(v.Path("g")) == "still writable");
  v.Unmount();
}

TEST_CASE("a corrupt, truncated or empty config is refused with 7", "[cli]") {
  MountedVault v;
  WriteOrDie(v.Path("f"), "content");
  v.Unmount();
  const std::string conf = v.vault() + "/strongroom.conf";
  const std::string original = ReadOrDie(conf);
  std::mt19937_64 rng(21);
  const std::vector<std::pair<std::string, std::string>> variants = {
      {"random bytes", RandomBytes(original.size(), rng)},
      {"truncated to half", original.substr(0, original.size() / 2)},
      {"truncated by one byte", original.substr(0, original.size() - 1)},
      {"empty", ""},
      {"not an object", "[]"},
  };
  for (const auto& [what, content] : variants) {
    INFO("config: " << what);
    REQUIRE(WriteFile(conf, content, 0600) == 0);
    auto before = VaultSnapshot(v.vault());
    auto r = Mount(v.passfile(), v.vault(), v.mnt());
    EnsureUnmounted(v.mnt());
    ExpectFailure(r, {kIntegrity}, before, v.vault());
  }
  REQUIRE(WriteFile(conf, original, 0600) == 0);
  CHECK(MountReadUnmount(v, v.passfile(), "f") == "content");
}

TEST_CASE("a config with edited KDF parameters is refused quickly", "[cli]") {
  MountedVault v;
  WriteOrDie(v.Path("f"), "content");
  v.Unmount();
  const std::string conf = v.vault() + "/strongroom.conf";
  const std::string original = ReadOrDie(conf);
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(original);
  } catch (const std::exception& e) {
    FAIL("strongroom.conf is not JSON (docs/cli-contract.md): " << e.what());
  }
  // The scrypt cost is stored as log2 (12, as passed to init) or as N (4096).
  std::vector<std::string> logn_fields, n_fields, r_fields, p_fields, salt_fields;
  FindFields(
      json, "",
      [](const std::string& k, const nlohmann::json& val) {
        return val.is_number_integer() && val.get<long long>() == 12 &&
               Lower(k).find("log") != std::string::npos;
      },
      &logn_fields);
  FindFields(
      json, "",
      [](const std::string& k, const nlohmann::json& val) {
        return val.is_number_integer() && val.get<long long>() == 4096 &&
               (Lower(k) == "n" || Lower(k).find("cost") != std::string::npos);
      },
      &n_fields);
  FindFields(
      json, "",
      [](const std::string& k, const nlohmann::json& val) {
        return val.is_number_integer() &&
               (Lower(k) == "r" || Lower(k) == "scrypt_r" || Lower(k) == "block_size");
      },
      &r_fields);
  FindFields(
      json, "",
      [](const std::string& k, const nlohmann::json& val) {
        return val.is_number_integer() &&
               (Lower(k) == "p" || Lower(k) == "scrypt_p" || Lower(k) == "parallelism");
      },
      &p_fields);
  FindFields(
      json, "",
      [](const std::string& k, const nlohmann::json& val) {
        return val.is_string() && Lower(k).find("salt") != std::string::npos;
      },
      &salt_fields);
  INFO("config: " << original);
  REQUIRE(logn_fields.size() + n_fields.size() == 1);

  struct Edit {
    std::string what;
    std::string pointer;
    nlohmann::json value;
    std::set<int> codes;
  };
  std::vector<Edit> edits;
  if (!logn_fields.empty()) {
    for (long long bad : {40LL, 63LL, 64LL, 200LL, 0LL, -1LL, 9LL, 21LL}) {
      edits.push_back({"scrypt logn " + std::to_string(bad), logn_fields[0], bad, {kIntegrity}});
    }
    // Within the accepted range the config is still well-formed: the wrap
    // (which authenticates the header) fails, which cannot be told apart
    // from a wrong passphrase, so 3 is acceptable here.
    edits.push_back(
        {"scrypt logn 13 (in range)", logn_fields[0], 13, {kIntegrity, kWrongPassphrase}});
  } else {
    for (long long bad : {1LL << 40, 1LL << 62, 3LL, 0LL, 1LL << 21}) {
      edits.push_back({"scrypt N " + std::to_string(bad), n_fields[0], bad, {kIntegrity}});
    }
    edits.push_back(
        {"scrypt N 8192 (in range)", n_fields[0], 8192, {kIntegrity, kWrongPassphrase}});
  }
  for (const auto& f : r_fields) {
    edits.push_back({"scrypt r 2^30", f, 1LL << 30, {kIntegrity}});
    edits.push_back({"scrypt r 0", f, 0, {kIntegrity}});
  }
  for (const auto& f : p_fields) {
    edits.push_back({"scrypt p 2^30", f, 1LL << 30, {kIntegrity}});
    edits.push_back({"scrypt p 0", f, 0, {kIntegrity}});
  }
  for (const auto& f : salt_fields) {
    std::string salt = json[nlohmann::json::json_pointer(f)].get<std::string>();
    salt[salt.size() / 2] = salt[salt.size() / 2] == 'A' ? 'B' : 'A';
    edits.push_back({"salt changed", f, salt, {kIntegrity, kWrongPassphrase}});
  }
  for (const auto& e : edits) {
    INFO("edit: " << e.what << " at " << e.pointer);
    nlohmann::json edited = json;
    edited[nlohmann::json::json_pointer(e.pointer)] = e.value;
    REQUIRE(WriteFile(conf, edited.dump(2), 0600) == 0);
    auto before = VaultSnapshot(v.vault());
    auto r = Mount(v.passfile(), v.vault(), v.mnt());
    EnsureUnmounted(v.mnt());
    ExpectFailure(r, e.codes, before, v.vault(), 5s);
  }
  REQUIRE(WriteFile(conf, original, 0600) == 0);
  CHECK(MountReadUnmount(v, v.passfile(), "f") == "content");
}

TEST_CASE("a missing, empty or corrupt policy store is refused with 7", "[cli]") {
  MountedVault v;
  WriteOrDie(v.Path("f"), "content");
  v.Unmount();
  const std::string db = v.vault() + "/strongroom.db";
  const std::string original = ReadOrDie(db);
  REQUIRE(original.size() > 100);
  for (const char* side : {"-wal", "-shm"}) {
    CHECK_ERRNO(access((db + side).c_str(), F_OK), ENOENT);  // clean unmount checkpoints
  }
  std::mt19937_64 rng(22);

  SECTION("missing") { REQUIRE_SYS(unlink(db.c_str())); }
  SECTION("empty") { REQUIRE(WriteFile(db, "", 0600) == 0); }
  SECTION("random bytes") { REQUIRE(WriteFile(db, RandomBytes(original.size(), rng), 0600) == 0); }
  SECTION("header intact, pages garbage") {
    std::string corrupt = original.substr(0, 100) + RandomBytes(original.size() - 100, rng);
    REQUIRE(WriteFile(db, corrupt, 0600) == 0);
  }
  auto before = VaultSnapshot(v.vault());
  auto r = Mount(v.passfile(), v.vault(), v.mnt());
  EnsureUnmounted(v.mnt());
  ExpectFailure(r, {kIntegrity}, before, v.vault());
}

TEST_CASE("mount in the background, then strongroom umount waits for the daemon", "[cli]") {
  MountedVault v(Unmounted());
  auto r = Mount(v.passfile(), v.vault(), v.mnt());
  INFO("mount: exit " << r.exit_code << ", stderr: " << r.err);
  REQUIRE(r.exit_code == kOk);
  // Ready as soon as the command returns.
  REQUIRE(IsMountpoint(v.mnt()));
  GrantRootAt(v.mnt());
  WriteOrDie(v.Path("f"), "content");
  CHECK(ReadOrDie(v.Path("f")) == "content");
  CHECK_FALSE(ProcessesMentioning(v.vault()).empty());  // the daemon
  auto u = RunStrongroom({"umount", v.mnt()}, 30s);
  INFO("umount: exit " << u.exit_code << ", stderr: " << u.err);
  CHECK(u.exit_code == kOk);
  CHECK_FALSE(IsMountpoint(v.mnt()));
  CHECK(ProcessesMentioning(v.vault()).empty());  // umount waited for it
  // The lock was released: it mounts again.
  CHECK(MountReadUnmount(v, v.passfile(), "f") == "content");
}

TEST_CASE("SIGTERM to a foreground daemon unmounts cleanly", "[cli]") {
  MountedVault v;
  WriteOrDie(v.Path("f"), "content");
  int status = v.KillDaemon(SIGTERM);
  INFO("status " << status << "; daemon log:\n" << v.DaemonLog());
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK_FALSE(IsMountpoint(v.mnt()));
  v.Mount();
  CHECK(ReadOrDie(v.Path("f")) == "content");
  int st2 = v.KillDaemon(SIGINT);
  INFO("status " << st2 << "; daemon log:\n" << v.DaemonLog());
  CHECK(WIFEXITED(st2));
  CHECK(WEXITSTATUS(st2) == 0);
  CHECK_FALSE(IsMountpoint(v.mnt()));
}

TEST_CASE("a stale mount left by a killed daemon is cleaned up by the next mount", "[cli]") {
  MountedVault v;
  WriteOrDie(v.Path("f"), "content");
  {
    int fd = OpenOrDie(v.Path("f"), O_RDONLY);
    REQUIRE_SYS(fsync(fd));
    close(fd);
  }
  v.KillDaemon(SIGKILL);
  REQUIRE(IsMountpoint(v.mnt()));
  // Cached attributes may still answer stat(); opendir always asks the daemon.
  CHECK_ERRNO(opendir(v.mnt().c_str()) == nullptr ? -1 : 0, ENOTCONN);

  auto r = Mount(v.passfile(), v.vault(), v.mnt());
  INFO("mount over the stale mount: exit " << r.exit_code << ", stderr: " << r.err);
  REQUIRE(r.exit_code == kOk);
  REQUIRE(IsMountpoint(v.mnt()));
  CHECK(ReadOrDie(v.Path("f")) == "content");
  WriteOrDie(v.Path("g"), "after");
  auto u = RunStrongroom({"umount", v.mnt()}, 30s);
  INFO("umount: exit " << u.exit_code << ", stderr: " << u.err);
  CHECK(u.exit_code == kOk);
  // Exactly one mount was stacked and it is gone now: no stale layer remains.
  CHECK_FALSE(IsMountpoint(v.mnt()));
  CHECK(ProcessesMentioning(v.vault()).empty());
  CHECK(MountReadUnmount(v, v.passfile(), "g") == "after");
}

TEST_CASE("strongroom umount on something that is not mounted exits 6", "[cli]") {
  MountedVault v(Unmounted());
  const std::string dir = v.root() + "/plain-dir";
  REQUIRE_SYS(mkdir(dir.c_str(), 0755));
  auto r = RunStrongroom({"umount", dir}, 20s);
  ExpectFailure(r, {kNotMounted}, {}, "");
  r = RunStrongroom({"umount", v.mnt()}, 20s);
  ExpectFailure(r, {kNotMounted}, {}, "");
  r = RunStrongroom({"umount", v.root() + "/missing"}, 20s);
  ExpectFailure(r, {kNotMounted, kNotFound}, {}, "");
}

TEST_CASE("the mount is nosuid nodev allow_other and the daemon locks its memory", "[cli]") {
  MountedVault v;
  std::string options;
  {
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    while (std::getline(in, line)) {
      if (line.find(" " + v.mnt() + " ") != std::string::npos) options = line;
    }
  }
  INFO("mountinfo: " << options);
  REQUIRE_FALSE(options.empty());
  CHECK(options.find("nosuid") != std::string::npos);
  CHECK(options.find("nodev") != std::string::npos);
  CHECK(options.find("allow_other") != std::string::npos);
  // Keys live in locked memory (mlock): VmLck is not zero.
  std::ifstream status("/proc/" + std::to_string(v.daemon_pid()) + "/status");
  std::string line;
  long locked_kb = -1;
  while (std::getline(status, line)) {
    if (line.rfind("VmLck:", 0) == 0) locked_kb = std::atol(line.c_str() + 6);
  }
  INFO("daemon VmLck: " << locked_kb << " kB");
#if defined(STRONGROOM_SANITIZED)
  // AddressSanitizer turns mlock() into a no-op; this build's daemon has it too.
  WARN("ASan build: not checking that the daemon's memory is locked");
#else
  CHECK(locked_kb > 0);
#endif
}

// `out=$(strongroom mount ...)` in a script must return: the background
// daemon may not keep the caller's stdout or stderr open.
TEST_CASE("a background mount releases the caller's stdout and stderr", "[cli]") {
  MountedVault v(Unmounted());
  int out[2];
  REQUIRE_SYS(pipe2(out, O_CLOEXEC));
  std::cout.flush();
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    setsid();
    int null_fd = open("/dev/null", O_RDONLY);
    dup2(null_fd, 0);
    dup2(out[1], 1);
    dup2(out[1], 2);
    std::string bin = StrongroomBin();
    execl(bin.c_str(), bin.c_str(), "mount", "--passfile", v.passfile().c_str(), v.vault().c_str(),
          v.mnt().c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == kOk);
  CHECK(IsMountpoint(v.mnt()));
  // Drain what the command wrote; then the pipe must reach end-of-file.
  bool eof = false;
  auto deadline = std::chrono::steady_clock::now() + 5s;
  std::string output;
  while (!eof && std::chrono::steady_clock::now() < deadline) {
    struct pollfd p {
      out[0], POLLIN, 0
    };
    if (poll(&p, 1, 100) <= 0) continue;
    char buf[4096];
    ssize_t n = read(out[0], buf, sizeof buf);
    if (n == 0) eof = true;
    if (n > 0) output.append(buf, static_cast<size_t>(n));
  }
  close(out[0]);
  INFO("output: " << output);
  CHECK(eof);
  auto u = RunStrongroom({"umount", v.mnt()}, 30s);
  CHECK(u.exit_code == kOk);
}

TEST_CASE("init, mount and umount accept paths relative to the working directory", "[cli]") {
  MountedVault v(Unmounted());
  auto r = RunStrongroom({"init", "--admin", "sr-admin", "--uid", "4200", "--passfile", "passfile", "--scrypt-logn", "12", "rel-vault"},
                         30s, v.root());
  INFO("init: " << r.err);
  REQUIRE(r.exit_code == kOk);
  CHECK(S_ISDIR(StatOrDie(v.root() + "/rel-vault/tree").st_mode));
  REQUIRE_SYS(mkdir((v.root() + "/rel-mnt").c_str(), 0755));
  r = RunStrongroom({"mount", "--passfile", "passfile", "rel-vault", "rel-mnt"}, 30s, v.root());
  INFO("mount: " << r.err);
  REQUIRE(r.exit_code == kOk);
  REQUIRE(IsMountpoint(v.root() + "/rel-mnt"));
  GrantRootAt(v.root() + "/rel-mnt");
  WriteOrDie(v.root() + "/rel-mnt/f", "relative");
  CHECK(ReadOrDie(v.root() + "/rel-mnt/f") == "relative");
  r = RunStrongroom({"umount", "rel-mnt"}, 30s, v.root());
  INFO("umount: " << r.err);
  CHECK(r.exit_code == kOk);
  CHECK_FALSE(IsMountpoint(v.root() + "/rel-mnt"));
}

}  // namespace strongroom::test
