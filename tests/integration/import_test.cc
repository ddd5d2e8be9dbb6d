// strongroom import on a real mount, run as a user with a write grant: a
// tree with every kind of entry arrives identical (content, modes, times),
// what cannot be imported is skipped with its reason, the source is left
// exactly as it was, an import killed part-way completes on a rerun without
// copying again what was done, and bad destinations are refused with one
// clear line.
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <random>
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

constexpr Identity kAlice{5701, 5701};  // write grant on /in
constexpr Identity kBob{5702, 5702};    // read grant on /in

// Users, the folder /in and the grants on it.
void SetUpUsers(MountedVault& v) {
  v.Policy(MountedVault::Admin(), {"user", "add", "alice", "--uid", "5701"});
  v.Policy(MountedVault::Admin(), {"user", "add", "bob", "--uid", "5702"});
  REQUIRE_SYS(mkdir(v.Path("in").c_str(), 0755));
  v.Policy(MountedVault::Root(), {"grant", v.Path("in"), "alice", "write"});
  v.Policy(MountedVault::Root(), {"grant", v.Path("in"), "bob", "read"});
}

void SetTimes(const std::string& path, time_t atime, time_t mtime) {
  const timespec ts[2] = {{atime, 123456789}, {mtime, 987654321}};
  REQUIRE_SYS(utimensat(AT_FDCWD, path.c_str(), ts, AT_SYMLINK_NOFOLLOW));
}

void ChownTree(const std::string& root, const Identity& who) {
  REQUIRE_SYS(lchown(root.c_str(), who.uid, who.gid));
  auto entries = ListDir(root);
  if (!entries) return;
  for (const auto& e : *entries) {
    const std::string p = root + "/" + e.name;
    if (e.type == DT_DIR) {
      ChownTree(p, who);
    } else {
      REQUIRE_SYS(lchown(p.c_str(), who.uid, who.gid));
    }
  }
}

// Reads a file without touching its access time (root may use O_NOATIME on
// any file).
std::string ReadNoAtime(int dirfd, const std::string& name) {
  int fd = openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NOATIME | O_CLOEXEC);
  if (fd < 0) return "<unreadable " + std::to_string(errno) + ">";
  std::string out;
  char buf[65536];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}

std::string ReadPathNoAtime(const std::string& path) { return ReadNoAtime(AT_FDCWD, path); }

// Everything about a tree that import must not change: per relative path,
// type, mode, owner, size, times to the nanosecond, content or link target.
// Reads without updating access times.
void SnapshotInto(int dirfd, const std::string& rel, std::map<std::string, std::string>* out) {
  int dup = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  DIR* d = fdopendir(dup);
  REQUIRE(d != nullptr);
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) names.emplace_back(e->d_name);
  }
  closedir(d);
  for (const std::string& name : names) {
    struct stat st;
    REQUIRE_SYS(fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW));
    const std::string key = rel.empty() ? name : rel + "/" + name;
    // A symlink's access time is left out: readlink may update it (the
    // kernel has no O_NOATIME for it), for import as for this snapshot.
    const std::string atime =
        S_ISLNK(st.st_mode) ? "-" : std::to_string(st.st_atim.tv_sec) + "." + std::to_string(st.st_atim.tv_nsec);
    std::string v = std::to_string(st.st_mode) + "|" + std::to_string(st.st_uid) + "|" + std::to_string(st.st_size) +
                    "|" + std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) + "|" + atime +
                    "|" + std::to_string(st.st_ino) + "|";
    if (S_ISREG(st.st_mode)) {
      v += ReadNoAtime(dirfd, name);
    } else if (S_ISLNK(st.st_mode)) {
      char buf[4096];
      ssize_t n = readlinkat(dirfd, name.c_str(), buf, sizeof buf);
      v += n >= 0 ? std::string(buf, static_cast<size_t>(n)) : "<unreadable>";
    } else if (S_ISDIR(st.st_mode)) {
      int sub = openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NOATIME | O_CLOEXEC);
      REQUIRE(sub >= 0);
      SnapshotInto(sub, key, out);
      close(sub);
    }
    (*out)[key] = v;
  }
}

std::map<std::string, std::string> Snapshot(const std::string& root) {
  std::map<std::string, std::string> out;
  int fd = open(root.c_str(), O_RDONLY | O_DIRECTORY | O_NOATIME | O_CLOEXEC);
  REQUIRE(fd >= 0);
  SnapshotInto(fd, "", &out);
  struct stat st;
  REQUIRE_SYS(fstat(fd, &st));
  out["."] = std::to_string(st.st_mode) + "|" + std::to_string(st.st_mtim.tv_sec) + "." +
             std::to_string(st.st_mtim.tv_nsec) + "|" + std::to_string(st.st_atim.tv_sec) + "." +
             std::to_string(st.st_atim.tv_nsec);
  close(fd);
  return out;
}

// What differs between two snapshots, for the failure message.
std::string Diff(const std::map<std::string, std::string>& a, const std::map<std::string, std::string>& b) {
  std::string out;
  for (const auto& [k, v] : a) {
    auto it = b.find(k);
    if (it == b.end()) {
      out += "  removed: " + k + "\n";
    } else if (it->second != v) {
      out += "  changed: " + k + ": " + v.substr(0, 80) + " -> " + it->second.substr(0, 80) + "\n";
    }
  }
  for (const auto& [k, v] : b) {
    if (!a.count(k)) out += "  added: " + k + "\n";
  }
  return out;
}

// Relative paths under `root` whose name marks an import's temporary file.
std::vector<std::string> TempFiles(const std::string& root, const std::string& rel = "") {
  std::vector<std::string> found;
  auto entries = ListDir(root + (rel.empty() ? "" : "/" + rel));
  if (!entries) return found;
  for (const auto& e : *entries) {
    const std::string p = rel.empty() ? e.name : rel + "/" + e.name;
    if (e.name.find("strongroom-import") != std::string::npos) found.push_back(p);
    if (e.type == DT_DIR) {
      auto sub = TempFiles(root, p);
      found.insert(found.end(), sub.begin(), sub.end());
    }
  }
  return found;
}

// One error line on stderr starting with "strongroom: ".
void ExpectOneErrorLine(const CommandResult& r, const std::string& contains) {
  INFO("exit " << r.exit_code << "\nstdout:\n" << r.out << "stderr:\n" << r.err);
  std::string err = r.err;
  if (!err.empty() && err.back() == '\n') err.pop_back();
  CHECK(err.rfind("strongroom: ", 0) == 0);
  CHECK(err.find('\n') == std::string::npos);
  CHECK(err.find(contains) != std::string::npos);
}

// The value of a summary field ("files copied  3" -> "3").
std::string Field(const std::string& out, const std::string& name) {
  size_t pos = 0;
  while ((pos = out.find(name, pos)) != std::string::npos) {
    if (pos == 0 || out[pos - 1] == '\n') {
      size_t v = out.find_first_not_of(' ', pos + name.size());
      size_t end = out.find('\n', v);
      return out.substr(v, end - v);
    }
    pos += name.size();
  }
  return "<missing " + name + ">";
}

void ExpectReminder(const CommandResult& r) {
  INFO("stdout:\n" << r.out);
  CHECK(r.out.find("still exists") != std::string::npos);
  CHECK(r.out.find("cannot securely erase") != std::string::npos);
  CHECK(r.out.find("shred") != std::string::npos);
}

struct StatOf {
  struct stat st {};
  int err = 0;
};
StatOf LStat(const std::string& path) {
  StatOf s;
  if (lstat(path.c_str(), &s.st) != 0) s.err = errno;
  return s;
}

// Starts `strongroom args...` as `who` with output discarded; returns its pid.
pid_t SpawnStrongroomAs(const Identity& who, const std::vector<std::string>& args) {
  const std::string bin = StrongroomBin();
  std::vector<std::string> argv = {bin};
  argv.insert(argv.end(), args.begin(), args.end());
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int null = open("/dev/null", O_RDWR);
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    if (setgroups(0, nullptr) != 0 || setresgid(who.gid, who.gid, who.gid) != 0 ||
        setresuid(who.uid, who.uid, who.uid) != 0) {
      _exit(125);
    }
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    execv(bin.c_str(), cargv.data());
    _exit(127);
  }
  return pid;
}

}  // namespace

TEST_CASE("import copies a tree identically, skips what it cannot import and leaves the source unchanged", "[import]") {
  MountedVault v;
  SetUpUsers(v);
  std::mt19937_64 rng(42);

  // The plaintext source, owned by alice (so that she may open it with
  // O_NOATIME), with old times to the nanosecond.
  const std::string src = v.root() + "/src";
  REQUIRE_SYS(mkdir(src.c_str(), 0750));
  REQUIRE_SYS(mkdir((src + "/sub").c_str(), 0755));
  REQUIRE_SYS(mkdir((src + "/sub/deeper").c_str(), 0700));
  REQUIRE_SYS(mkdir((src + "/emptydir").c_str(), 0750));
  const std::string big = RandomBytes(5 * 1024 * 1024 + 123, rng);
  REQUIRE(WriteFile(src + "/a.txt", "hello, vault\n", 0640) == 0);
  REQUIRE(WriteFile(src + "/empty", "", 0600) == 0);
  REQUIRE(WriteFile(src + "/sub/big.bin", big, 0644) == 0);
  REQUIRE(WriteFile(src + "/sub/deeper/run.sh", "#!/bin/sh\necho hi\n", 0755) == 0);
  REQUIRE(WriteFile(src + "/sub/deeper/empty2", "", 0644) == 0);
  REQUIRE(WriteFile(src + "/secret.txt", "not for you", 0644) == 0);
  REQUIRE_SYS(symlink("sub/big.bin", (src + "/link").c_str()));
  REQUIRE_SYS(symlink("/nowhere/at/all", (src + "/dangling").c_str()));
  REQUIRE_SYS(mkfifo((src + "/pipe").c_str(), 0644));
  ChownTree(src, kAlice);
  REQUIRE_SYS(chmod((src + "/secret.txt").c_str(), 0));  // unreadable for alice
  time_t t = 1600000000;
  for (const char* rel : {"a.txt", "empty", "sub/big.bin", "sub/deeper/run.sh", "sub/deeper/empty2", "secret.txt",
                          "link", "dangling", "pipe", "sub/deeper", "sub", "emptydir", ""}) {
    SetTimes(src + (*rel ? "/" : "") + rel, t + 5000, t);
    t += 86400;
  }
  const auto before = Snapshot(src);

  // A dry run lists and writes nothing.
  auto dry = RunStrongroomAs(kAlice, {"import", "--dry-run", src, v.Path("in")});
  {
    INFO("dry run: exit " << dry.exit_code << "\nstdout:\n" << dry.out << "stderr:\n" << dry.err);
    CHECK(dry.exit_code == kIncomplete);
    CHECK(dry.out.find("copy   src/sub/big.bin") != std::string::npos);
    CHECK(dry.out.find("skip   src/pipe") != std::string::npos);
    CHECK(Field(dry.out, "files would be copied") == "5");
    auto listing = ListDir(v.Path("in"));
    REQUIRE(listing);
    CHECK(listing->empty());
  }

  auto r = RunStrongroomAs(kAlice, {"import", src, v.Path("in")});
  INFO("import: exit " << r.exit_code << "\nstdout:\n" << r.out << "stderr:\n" << r.err);
  CHECK(r.exit_code == kIncomplete);
  CHECK(r.err.find("import incomplete: 2 skipped, 0 failed") != std::string::npos);
  CHECK(r.out.find("vault:/in") != std::string::npos);
  CHECK(Field(r.out, "files copied") == "5");
  CHECK(Field(r.out, "folders created") == "4");
  CHECK(Field(r.out, "symlinks created") == "2");
  CHECK(Field(r.out, "already imported") == "0");
  CHECK(Field(r.out, "skipped") == "2");
  CHECK(Field(r.out, "failed") == "0");
  CHECK(r.out.find("  src/pipe: special file (fifo)") != std::string::npos);
  CHECK(r.out.find("  src/secret.txt: unreadable") != std::string::npos);
  ExpectReminder(r);

  // The source: byte for byte, time for time (access times too), unchanged.
  {
    const auto after = Snapshot(src);
    INFO("source changes:\n" << Diff(before, after));
    CHECK(after == before);
  }

  // The destination, compared with the source (as root, who has `manage`).
  const std::string dst = v.Path("in/src");
  for (const char* rel : {"", "sub", "sub/deeper", "emptydir", "a.txt", "empty", "sub/big.bin", "sub/deeper/run.sh",
                          "sub/deeper/empty2", "link", "dangling"}) {
    INFO("entry " << rel);
    const std::string suffix = *rel ? std::string("/") + rel : "";
    StatOf s = LStat(src + suffix), d = LStat(dst + suffix);
    REQUIRE(d.err == 0);
    CHECK((s.st.st_mode & S_IFMT) == (d.st.st_mode & S_IFMT));
    if (!S_ISLNK(s.st.st_mode)) CHECK((s.st.st_mode & 07777) == (d.st.st_mode & 07777));
    // A directory's size is its filesystem's business (tmpfs counts entries).
    if (!S_ISDIR(s.st.st_mode)) CHECK(s.st.st_size == d.st.st_size);
    CHECK(s.st.st_mtim.tv_sec == d.st.st_mtim.tv_sec);
    CHECK(s.st.st_mtim.tv_nsec == d.st.st_mtim.tv_nsec);
    if (S_ISREG(s.st.st_mode)) {
      CHECK(s.st.st_atim.tv_sec == d.st.st_atim.tv_sec);
      auto got = ReadFile(dst + suffix);
      REQUIRE(got.err == 0);
      CHECK(got.data == ReadPathNoAtime(src + suffix));
    }
  }
  char target[256] = {};
  REQUIRE_SYS(readlink((dst + "/link").c_str(), target, sizeof target - 1));
  CHECK(std::string(target) == "sub/big.bin");
  CHECK(ReadFile(dst + "/link").data == big);
  CHECK(LStat(dst + "/pipe").err == ENOENT);
  CHECK(LStat(dst + "/secret.txt").err == ENOENT);
  CHECK(TempFiles(v.Path("in")).empty());

  // A rerun copies nothing: every file and symlink is already imported, and
  // the files are the same ones (not written again).
  const StatOf big_before = LStat(dst + "/sub/big.bin");
  auto again = RunStrongroomAs(kAlice, {"import", src, v.Path("in")});
  {
    INFO("rerun: exit " << again.exit_code << "\nstdout:\n" << again.out << "stderr:\n" << again.err);
    CHECK(again.exit_code == kIncomplete);  // the fifo and the unreadable file again
    CHECK(Field(again.out, "files copied") == "0");
    CHECK(Field(again.out, "bytes copied") == "0 (0 B)");
    CHECK(Field(again.out, "folders created") == "0");
    CHECK(Field(again.out, "symlinks created") == "0");
    CHECK(Field(again.out, "already imported") == "7");
    ExpectReminder(again);
    const StatOf big_after = LStat(dst + "/sub/big.bin");
    CHECK(big_after.st.st_ino == big_before.st.st_ino);
    CHECK(big_after.st.st_ctim.tv_sec == big_before.st.st_ctim.tv_sec);
    CHECK(big_after.st.st_ctim.tv_nsec == big_before.st.st_ctim.tv_nsec);
  }
  {
    const auto after = Snapshot(src);
    INFO("source changes:\n" << Diff(before, after));
    CHECK(after == before);
  }

  // --quiet: no summary, still the reminder and the one-line verdict.
  auto quiet = RunStrongroomAs(kAlice, {"import", "--quiet", src, v.Path("in")});
  CHECK(quiet.exit_code == kIncomplete);
  CHECK(quiet.out.find("already imported") == std::string::npos);
  ExpectReminder(quiet);
  ExpectOneErrorLine(quiet, "import incomplete");
}

TEST_CASE("an import killed part-way completes on a rerun without copying finished files again", "[import]") {
  MountedVault v;
  SetUpUsers(v);
  std::mt19937_64 rng(7);
  const std::string src = v.root() + "/many";
  REQUIRE_SYS(mkdir(src.c_str(), 0755));
  constexpr int kDirs = 4, kPerDir = 60;
  for (int d = 0; d < kDirs; ++d) {
    const std::string dir = src + "/d" + std::to_string(d);
    REQUIRE_SYS(mkdir(dir.c_str(), 0755));
    for (int f = 0; f < kPerDir; ++f) {
      REQUIRE(WriteFile(dir + "/f" + std::to_string(f), RandomBytes(96 * 1024 + f, rng), 0644) == 0);
    }
  }
  ChownTree(src, kAlice);
  const auto before = Snapshot(src);
  const std::string dst = v.Path("in/many");

  // Kill it (SIGKILL: no cleanup) once a few files have arrived.
  const pid_t pid = SpawnStrongroomAs(kAlice, {"import", src, v.Path("in")});
  int status = 0;
  bool exited = false;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;
      break;
    }
    auto listing = ListDir(dst + "/d0");
    if (listing && listing->size() >= 4) break;
    std::this_thread::sleep_for(2ms);
  }
  if (!exited) {
    kill(pid, SIGKILL);
    REQUIRE(waitpid(pid, &status, 0) == pid);
  }
  REQUIRE(WIFSIGNALED(status));
  REQUIRE(WTERMSIG(status) == SIGKILL);

  // What has its final name is complete; remember it to see it is not
  // copied again.
  std::map<std::string, StatOf> finished;
  for (int d = 0; d < kDirs; ++d) {
    auto listing = ListDir(dst + "/d" + std::to_string(d));
    if (!listing) continue;
    for (const auto& e : *listing) {
      if (e.name.find("strongroom-import") != std::string::npos) continue;
      const std::string rel = "d" + std::to_string(d) + "/" + e.name;
      finished[rel] = LStat(dst + "/" + rel);
    }
  }
  INFO(finished.size() << " files finished, leftovers: " << TempFiles(dst).size());
  REQUIRE(finished.size() >= 3);
  REQUIRE(finished.size() < static_cast<size_t>(kDirs * kPerDir));

  auto r = RunStrongroomAs(kAlice, {"import", src, v.Path("in")}, 120s);
  INFO("rerun: exit " << r.exit_code << "\nstdout:\n" << r.out << "stderr:\n" << r.err);
  REQUIRE(r.exit_code == kOk);
  CHECK(Field(r.out, "already imported") == std::to_string(finished.size()));
  CHECK(Field(r.out, "files copied") == std::to_string(kDirs * kPerDir - finished.size()));
  CHECK(Field(r.out, "skipped") == "0");
  CHECK(Field(r.out, "failed") == "0");
  ExpectReminder(r);
  CHECK(TempFiles(dst).empty());
  for (const auto& [rel, st] : finished) {
    INFO(rel);
    const StatOf now = LStat(dst + "/" + rel);
    CHECK(now.st.st_ino == st.st.st_ino);
    CHECK(now.st.st_ctim.tv_sec == st.st.st_ctim.tv_sec);
    CHECK(now.st.st_ctim.tv_nsec == st.st.st_ctim.tv_nsec);
  }
  for (int d = 0; d < kDirs; ++d) {
    for (int f = 0; f < kPerDir; ++f) {
      const std::string rel = "/d" + std::to_string(d) + "/f" + std::to_string(f);
      auto got = ReadFile(dst + rel);
      INFO(rel);
      REQUIRE(got.err == 0);
      REQUIRE(got.data == ReadPathNoAtime(src + rel));
      CHECK(LStat(src + rel).st.st_mtim.tv_nsec == LStat(dst + rel).st.st_mtim.tv_nsec);
    }
  }

  // Finished: a third run copies nothing and exits 0.
  auto third = RunStrongroomAs(kAlice, {"import", src, v.Path("in")}, 120s);
  INFO("third run: stdout:\n" << third.out << "stderr:\n" << third.err);
  CHECK(third.exit_code == kOk);
  CHECK(Field(third.out, "files copied") == "0");
  CHECK(Field(third.out, "already imported") == std::to_string(kDirs * kPerDir));
  {
    const auto after = Snapshot(src);
    INFO("source changes:\n" << Diff(before, after));
    CHECK(after == before);
  }
}

TEST_CASE("import refuses bad sources and destinations with one clear line", "[import]") {
  MountedVault v;
  SetUpUsers(v);
  const std::string src = v.root() + "/src";
  REQUIRE_SYS(mkdir(src.c_str(), 0755));
  REQUIRE(WriteFile(src + "/a.txt", "a", 0644) == 0);
  ChownTree(src, kAlice);
  const std::string outside = v.root() + "/outside";
  REQUIRE_SYS(mkdir(outside.c_str(), 0777));

  {
    auto r = RunStrongroomAs(kAlice, {"import", src, outside});
    CHECK(r.exit_code == kNotMounted);
    ExpectOneErrorLine(r, "is not inside a mounted strongroom vault");
    auto listing = ListDir(outside);
    REQUIRE(listing);
    CHECK(listing->empty());
  }
  {
    auto r = RunStrongroomAs(kAlice, {"import", v.root() + "/missing", v.Path("in")});
    CHECK(r.exit_code == kNotFound);
    ExpectOneErrorLine(r, "No such file or directory");
  }
  {
    auto r = RunStrongroomAs(kAlice, {"import", src, v.Path("in/missing")});
    CHECK(r.exit_code == kNotFound);
    ExpectOneErrorLine(r, "no such folder in the vault");
  }
  {
    REQUIRE(WriteFile(v.Path("in/file"), "x", 0644) == 0);
    auto r = RunStrongroomAs(kAlice, {"import", src, v.Path("in/file")});
    CHECK(r.exit_code == kUsage);
    ExpectOneErrorLine(r, "is not a folder");
  }
  {
    // The destination inside the source (the mount is under the fixture's
    // directory), and the source inside the destination.
    auto r = RunStrongroom({"import", v.root(), v.Path("in")});
    CHECK(r.exit_code == kUsage);
    ExpectOneErrorLine(r, "is inside the source");
    REQUIRE_SYS(mkdir(v.Path("in/sub").c_str(), 0755));
    auto r2 = RunStrongroom({"import", v.Path("in/sub"), v.Path("in")});
    CHECK(r2.exit_code == kUsage);
    ExpectOneErrorLine(r2, "is inside the destination");
  }
  {
    // Bob may read /in but not write there: the vault's refusal, nothing created.
    auto r = RunStrongroomAs(kBob, {"import", src, v.Path("in")});
    CHECK(r.exit_code == kRefused);
    ExpectOneErrorLine(r, "the vault refuses writes");
    CHECK(LStat(v.Path("in/src")).err == ENOENT);
  }
  {
    // A folder in the vault where alice may only read: what goes there is
    // skipped with the vault's refusal, the rest is imported.
    const std::string src2 = v.root() + "/src2";
    REQUIRE_SYS(mkdir(src2.c_str(), 0755));
    REQUIRE_SYS(mkdir((src2 + "/ro").c_str(), 0755));
    REQUIRE(WriteFile(src2 + "/ro/x", "x", 0644) == 0);
    REQUIRE(WriteFile(src2 + "/y", "y", 0644) == 0);
    ChownTree(src2, kAlice);
    REQUIRE_SYS(mkdir(v.Path("in/src2").c_str(), 0755));
    REQUIRE_SYS(mkdir(v.Path("in/src2/ro").c_str(), 0755));
    v.Policy(MountedVault::Root(), {"grant", v.Path("in/src2/ro"), "alice", "read"});
    auto r = RunStrongroomAs(kAlice, {"import", src2, v.Path("in")});
    INFO("stdout:\n" << r.out << "stderr:\n" << r.err);
    CHECK(r.exit_code == kIncomplete);
    CHECK(r.out.find("  src2/ro/x: the vault refused to create it: Permission denied (EACCES)") != std::string::npos);
    CHECK(ReadFile(v.Path("in/src2/y")).data == "y");
    CHECK(LStat(v.Path("in/src2/ro/x")).err == ENOENT);
    CHECK(TempFiles(v.Path("in/src2")).empty());
  }
  {
    // A folder bob may not see at all is "not found", as for everything else.
    REQUIRE_SYS(mkdir(v.Path("hidden").c_str(), 0755));
    auto r = RunStrongroomAs(kBob, {"import", src, v.Path("hidden")});
    CHECK(r.exit_code == kNotFound);
    ExpectOneErrorLine(r, "no such folder in the vault");
  }
  {
    // vault:/PATH works too, and a single file lands as PATH/NAME.
    auto r = RunStrongroomAs(kAlice, {"import", src + "/a.txt", "vault:/in", "--mount", v.mnt()});
    INFO("stdout:\n" << r.out << "stderr:\n" << r.err);
    CHECK(r.exit_code == kOk);
    CHECK(ReadFile(v.Path("in/a.txt")).data == "a");
    // A trailing slash imports a folder's contents.
    REQUIRE_SYS(mkdir(v.Path("in/contents").c_str(), 0755));
    auto r2 = RunStrongroomAs(kAlice, {"import", src + "/", v.Path("in/contents")});
    CHECK(r2.exit_code == kOk);
    CHECK(ReadFile(v.Path("in/contents/a.txt")).data == "a");
  }
}

TEST_CASE("a full disk stops the import with ENOSPC and removes the partial copy", "[import]") {
  // As enospc_test: the vault on a small tmpfs, the audit log elsewhere.
  MountedVault::Options options{false, false, 12};
  options.audit_db = "/var/tmp/strongroom-import-audit-" + std::to_string(getpid()) + ".db";
  struct RemoveAudit {
    std::string path;
    ~RemoveAudit() {
      for (const char* suffix : {"", "-wal", "-shm"}) unlink((path + suffix).c_str());
    }
  } remove_audit{options.audit_db};
  MountedVault v(options);
  REQUIRE(mkdir(v.vault().c_str(), 0700) == 0);
  REQUIRE(mount("tmpfs", v.vault().c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=3m,mode=0700") == 0);
  struct Unmount {
    std::string path;
    ~Unmount() { umount2(path.c_str(), MNT_DETACH); }
  } unmount{v.vault()};
  v.Init();
  v.Mount();
  SetUpUsers(v);

  std::mt19937_64 rng(3);
  const std::string src = v.root() + "/src";
  REQUIRE_SYS(mkdir(src.c_str(), 0755));
  REQUIRE(WriteFile(src + "/small", "fits", 0644) == 0);
  REQUIRE(WriteFile(src + "/too-big", RandomBytes(6 * 1024 * 1024, rng), 0644) == 0);
  ChownTree(src, kAlice);

  auto r = RunStrongroomAs(kAlice, {"import", src + "/", v.Path("in")});
  INFO("exit " << r.exit_code << "\nstdout:\n" << r.out << "stderr:\n" << r.err);
  CHECK(r.exit_code == kIncomplete);
  ExpectOneErrorLine(r, "No space left on device (ENOSPC) while writing too-big; its partial copy was removed");
  ExpectReminder(r);
  CHECK(ReadFile(v.Path("in/small")).data == "fits");
  CHECK(LStat(v.Path("in/too-big")).err == ENOENT);
  CHECK(TempFiles(v.Path("in")).empty());
}

}  // namespace strongroom::test
