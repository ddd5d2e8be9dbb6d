// Grants enforced in the mounted filesystem, end to end: real uids (RunAs and
// a long-lived user process for open handles) against a real mount, policy
// set with the `strongroom` CLI.  The rules under test are PRODUCT.md
// "Identity, grants and decisions" and "Errors and exit codes".
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <grp.h>
#include <time.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <climits>
#include <cstring>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "crypto/primitives.h"
#include "integration_assert.h"
#include "mount_fixture.h"

namespace strongroom::test {
namespace {

using json = nlohmann::json;

// ---- identities and policy ----

struct TestUser {
  std::string name;
  uid_t uid;
};

TestUser AddUser(MountedVault& v, const std::string& name, uid_t uid, int clearance = 0) {
  std::vector<std::string> args = {"user", "add", name, "--uid", std::to_string(uid)};
  if (clearance != 0) {
    args.push_back("--clearance");
    args.push_back(std::to_string(clearance));
  }
  v.Policy(MountedVault::Admin(), args);
  return {name, uid};
}

void Grant(MountedVault& v, const std::string& rel, const std::string& subject, const std::string& mode) {
  v.Policy(MountedVault::Root(), {"grant", rel.empty() ? v.mnt() : v.Path(rel), subject, mode});
}

void Revoke(MountedVault& v, const std::string& rel, const std::string& subject) {
  v.Policy(MountedVault::Root(), {"revoke", v.Path(rel), subject});
}

// Runs fn as `uid` (gid = uid, no supplementary groups); fn returns 0 or errno.
int As(uid_t uid, const std::function<int()>& fn) { return RunAs(uid, uid, fn); }

// ---- operations returning 0 or errno (safe in a forked child) ----

int Err(long rc) { return rc == -1 ? errno : 0; }

int OpenReadAll(const std::string& path) { return ReadFile(path).err; }

int OpenWith(const std::string& path, int flags, mode_t mode = 0644) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) return errno;
  ::close(fd);
  return 0;
}

int WriteInto(const std::string& path, const std::string& data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  int e = PWriteAll(fd, data, 0);
  ::close(fd);
  return e;
}

int StatErr(const std::string& path) {
  struct stat st;
  return Err(::lstat(path.c_str(), &st));
}

int ListErr(const std::string& path) {
  int e = 0;
  auto r = ListDir(path, &e);
  return r ? 0 : (e != 0 ? e : EIO);
}

int Utimens(const std::string& path) {
  struct timespec ts[2] = {{1000000, 0}, {2000000, 0}};
  return Err(::utimensat(AT_FDCWD, path.c_str(), ts, AT_SYMLINK_NOFOLLOW));
}

int RenameAt2(const std::string& from, const std::string& to, unsigned flags) {
  return Err(::syscall(SYS_renameat2, AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), flags));
}

int StatFsErr(const std::string& path) {
  struct statvfs sv;
  return Err(::statvfs(path.c_str(), &sv));
}

// Names listed by `uid`, or an empty set plus the errno in *err.
std::set<std::string> ListAs(uid_t uid, const std::string& path, int* err = nullptr) {
  int pipefd[2];
  REQUIRE(::pipe(pipefd) == 0);
  int rc = As(uid, [&] {
    ::close(pipefd[0]);
    int e = 0;
    auto r = ListDir(path, &e);
    if (!r) return e != 0 ? e : EIO;
    std::string all;
    for (const auto& n : Names(*r)) all += n + '\n';
    size_t off = 0;
    while (off < all.size()) {
      ssize_t n = ::write(pipefd[1], all.data() + off, all.size() - off);
      if (n <= 0) return EIO;
      off += static_cast<size_t>(n);
    }
    return 0;
  });
  ::close(pipefd[1]);
  std::string got;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(pipefd[0], buf, sizeof buf)) > 0) got.append(buf, static_cast<size_t>(n));
  ::close(pipefd[0]);
  if (err != nullptr) *err = rc;
  std::set<std::string> names;
  size_t start = 0;
  while (start < got.size()) {
    size_t end = got.find('\n', start);
    names.insert(got.substr(start, end - start));
    start = end + 1;
  }
  return names;
}

std::string ErrName(int e) { return e == 0 ? "success" : std::string(std::strerror(e)) + " (" + std::to_string(e) + ")"; }

#define CHECK_AS(uid, expected, expr)                                                          \
  do {                                                                                         \
    int got_ = As((uid), [&] { return (expr); });                                              \
    INFO("as uid " << (uid) << ": " #expr " gave " << ErrName(got_) << ", expected "           \
                   << ErrName(expected));                                                      \
    CHECK(got_ == (expected));                                                                 \
  } while (0)

// ---- the control socket (test-only clock) ----

void SetTestClock(MountedVault& v, int64_t offset) { SendControl(v.mnt(), {{"cmd", "test.clock"}, {"offset", offset}}); }

// YYYY-MM-DD, `days` from now, local time (the CLI's --until form).
std::string DateInDays(int days) {
  time_t t = ::time(nullptr) + static_cast<time_t>(days) * 86400;
  struct tm tm {};
  ::localtime_r(&t, &tm);
  char buf[32];
  ::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

// ---- a long-lived process as another uid, holding descriptors ----

// One child process running as `uid` that performs calls on request, so a
// descriptor it opened stays open while the test changes the policy.  The
// child only makes system calls; it never touches Catch2.
class UserProcess {
 public:
  explicit UserProcess(uid_t uid) {
    int to[2], from[2];
    REQUIRE(::pipe2(to, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(from, O_CLOEXEC) == 0);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::close(to[1]);
      ::close(from[0]);
      if (::setgroups(0, nullptr) != 0 || ::setresgid(uid, uid, uid) != 0 || ::setresuid(uid, uid, uid) != 0) {
        ::_exit(125);
      }
      Serve(to[0], from[1]);
      ::_exit(0);
    }
    ::close(to[0]);
    ::close(from[1]);
    to_ = to[1];
    from_ = from[0];
  }
  ~UserProcess() {
    Request r{};
    r.op = kExit;
    SendAll(to_, &r, sizeof r);
    ::close(to_);
    ::close(from_);
    int status;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  UserProcess(const UserProcess&) = delete;
  UserProcess& operator=(const UserProcess&) = delete;

  // A descriptor number (in the child) or -errno.
  int Open(const std::string& path, int flags) {
    Request r{};
    r.op = kOpen;
    r.flags = flags;
    std::snprintf(r.path, sizeof r.path, "%s", path.c_str());
    return Call(r).rc;
  }
  // 0 or errno; the bytes read in *data.
  int PRead(int fd, off_t off, size_t len, std::string* data = nullptr) {
    Request r{};
    r.op = kPRead;
    r.fd = fd;
    r.off = off;
    r.len = static_cast<uint32_t>(std::min(len, sizeof(Reply::data)));
    Reply rep = Call(r);
    if (data != nullptr) data->assign(rep.data, rep.n);
    return rep.rc;
  }
  int PWrite(int fd, const std::string& data, off_t off) {
    Request r{};
    r.op = kPWrite;
    r.fd = fd;
    r.off = off;
    r.len = static_cast<uint32_t>(std::min(data.size(), sizeof r.data));
    std::memcpy(r.data, data.data(), r.len);
    return Call(r).rc;
  }
  int Close(int fd) {
    Request r{};
    r.op = kClose;
    r.fd = fd;
    return Call(r).rc;
  }

 private:
  enum Op : int { kExit, kOpen, kPRead, kPWrite, kClose };
  struct Request {
    int op;
    int fd;
    int flags;
    int64_t off;
    uint32_t len;
    char path[1024];
    char data[512];
  };
  struct Reply {
    int rc;
    uint32_t n;
    char data[4096];
  };

  static bool SendAll(int fd, const void* p, size_t n) {
    const char* c = static_cast<const char*>(p);
    while (n > 0) {
      ssize_t w = ::write(fd, c, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return false;
      c += w;
      n -= static_cast<size_t>(w);
    }
    return true;
  }
  static bool RecvAll(int fd, void* p, size_t n) {
    char* c = static_cast<char*>(p);
    while (n > 0) {
      ssize_t r = ::read(fd, c, n);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return false;
      c += r;
      n -= static_cast<size_t>(r);
    }
    return true;
  }

  static void Serve(int in, int out) {
    for (;;) {
      Request r;
      if (!RecvAll(in, &r, sizeof r)) return;
      Reply rep{};
      switch (r.op) {
        case kExit:
          return;
        case kOpen: {
          int fd = ::open(r.path, r.flags);
          rep.rc = fd >= 0 ? fd : -errno;
          break;
        }
        case kPRead: {
          ssize_t n = ::pread(r.fd, rep.data, r.len, r.off);
          rep.rc = n < 0 ? errno : 0;
          rep.n = n < 0 ? 0 : static_cast<uint32_t>(n);
          break;
        }
        case kPWrite: {
          ssize_t n = ::pwrite(r.fd, r.data, r.len, r.off);
          rep.rc = n < 0 ? errno : (static_cast<uint32_t>(n) == r.len ? 0 : EIO);
          break;
        }
        case kClose:
          rep.rc = ::close(r.fd) == 0 ? 0 : errno;
          break;
      }
      if (!SendAll(out, &rep, sizeof rep)) return;
    }
  }

  Reply Call(const Request& r) {
    REQUIRE(SendAll(to_, &r, sizeof r));
    Reply rep{};
    REQUIRE(RecvAll(from_, &rep, sizeof rep));
    return rep;
  }

  pid_t pid_ = -1;
  int to_ = -1;
  int from_ = -1;
};

// ---- the mode table ----

enum Level { kNoGrant, kNoneGrant, kView, kRead, kWrite, kManage };
const char* const kLevelNames[] = {"nogrant", "none", "view", "read", "write", "manage"};

struct TableOp {
  const char* what;
  Level needs;
  // Runs as the user; `dir` is the user's folder, `dst` a folder where the
  // user has write.
  std::function<int(const std::string& dir, const std::string& dst)> run;
};

std::vector<TableOp> TableOps() {
  return {
      {"stat", kView, [](auto& d, auto&) { return StatErr(d + "/f"); }},
      // Under `view` a file opens only in an allow-listed viewer; this test
      // program is not one (tests/integration/viewonly_test.cc has the viewer).
      {"open O_RDONLY and read", kRead, [](auto& d, auto&) { return OpenReadAll(d + "/f"); }},
      {"access R_OK", kRead, [](auto& d, auto&) { return Err(::access((d + "/f").c_str(), R_OK)); }},
      {"readlink", kView,
       [](auto& d, auto&) {
         char buf[64];
         return Err(::readlink((d + "/lnk").c_str(), buf, sizeof buf));
       }},
      {"readdir", kView, [](auto& d, auto&) { return ListErr(d); }},
      {"open O_WRONLY and write", kWrite, [](auto& d, auto&) { return WriteInto(d + "/w", "written"); }},
      {"open O_RDONLY|O_TRUNC", kWrite, [](auto& d, auto&) { return OpenWith(d + "/t", O_RDONLY | O_TRUNC); }},
      {"truncate", kWrite, [](auto& d, auto&) { return Err(::truncate((d + "/tr").c_str(), 3)); }},
      {"utimensat", kWrite, [](auto& d, auto&) { return Utimens(d + "/ut"); }},
      {"chmod", kWrite, [](auto& d, auto&) { return Err(::chmod((d + "/ch").c_str(), 0600)); }},
      {"access W_OK", kWrite, [](auto& d, auto&) { return Err(::access((d + "/f").c_str(), W_OK)); }},
      {"create a file", kWrite,
       [](auto& d, auto&) { return OpenWith(d + "/newfile", O_WRONLY | O_CREAT | O_EXCL, 0644); }},
      {"mkdir", kWrite, [](auto& d, auto&) { return Err(::mkdir((d + "/newdir").c_str(), 0755)); }},
      {"symlink", kWrite, [](auto& d, auto&) { return Err(::symlink("f", (d + "/newlink").c_str())); }},
      {"rename within the folder", kWrite,
       [](auto& d, auto&) { return Err(::rename((d + "/ren").c_str(), (d + "/ren2").c_str())); }},
      {"unlink", kWrite, [](auto& d, auto&) { return Err(::unlink((d + "/del").c_str())); }},
      {"rmdir", kWrite, [](auto& d, auto&) { return Err(::rmdir((d + "/deld").c_str())); }},
      {"move to another folder", kManage,
       [](auto& d, auto& dst) { return Err(::rename((d + "/mv").c_str(), (dst + "/mv").c_str())); }},
  };
}

}  // namespace

TEST_CASE("every mode allowed and refused for every kind of operation", "[policy][modes]") {
  MountedVault v;
  const std::vector<std::string> initial = {"ch", "del", "deld", "f", "lnk", "mv", "ren", "t", "tr", "ut", "w"};
  std::vector<TestUser> users;
  for (int level = kNoGrant; level <= kManage; ++level) {
    const std::string mode = kLevelNames[level];
    const std::string dir = "m-" + mode;
    REQUIRE_SYS(::mkdir(v.Path(dir).c_str(), 0755));
    REQUIRE_SYS(::mkdir(v.Path("dst-" + mode).c_str(), 0755));
    for (const auto& name : initial) {
      if (name == "deld") {
        REQUIRE_SYS(::mkdir(v.Path(dir + "/deld").c_str(), 0755));
      } else if (name == "lnk") {
        REQUIRE_SYS(::symlink("f", v.Path(dir + "/lnk").c_str()));
      } else {
        WriteOrDie(v.Path(dir + "/" + name), "content of " + name);
      }
    }
    users.push_back(AddUser(v, "u-" + mode, 5100 + level));
    if (level != kNoGrant) Grant(v, dir, users.back().name, mode);
    Grant(v, "dst-" + mode, users.back().name, "write");
  }

  const auto ops = TableOps();
  for (int level = kNoGrant; level <= kManage; ++level) {
    const std::string mode = kLevelNames[level];
    const uid_t uid = users[level].uid;
    const std::string dir = v.Path("m-" + mode);
    const std::string dst = v.Path("dst-" + mode);
    const bool hidden = level == kNoGrant || level == kNoneGrant;

    // What the user sees at the top: their folders, nothing else.
    int err = 0;
    std::set<std::string> top = ListAs(uid, v.mnt(), &err);
    CHECK(err == 0);
    std::set<std::string> want_top = {"dst-" + mode};
    if (!hidden) want_top.insert("m-" + mode);
    CHECK(top == want_top);
    if (!hidden) {
      std::set<std::string> inside = ListAs(uid, dir, &err);
      CHECK(err == 0);
      CHECK(inside == std::set<std::string>(initial.begin(), initial.end()));
    }

    // cat, as a real program.
    {
      CommandResult r = RunCommandAs({uid, uid}, {"/bin/cat", dir + "/f"});
      INFO("cat as " << mode << ": exit " << r.exit_code << " err " << r.err);
      if (level >= kRead) {
        CHECK(r.exit_code == 0);
        CHECK(r.out == "content of f");
      } else if (level == kView) {  // cat is not a viewer
        CHECK(r.exit_code == 1);
        CHECK(r.err.find("Permission denied") != std::string::npos);
      } else {
        CHECK(r.exit_code == 1);
        CHECK(r.err.find("No such file or directory") != std::string::npos);
      }
    }

    for (const auto& op : ops) {
      const int expected = hidden ? ENOENT : (level >= op.needs ? 0 : EACCES);
      const int got = As(uid, [&] { return op.run(dir, dst); });
      INFO("mode " << mode << ", " << op.what << ": got " << ErrName(got) << ", expected " << ErrName(expected));
      CHECK(got == expected);
    }

    // The outcome as root: refused operations changed nothing, allowed ones
    // did what they said.
    const bool can_write = level >= kWrite;
    std::set<std::string> want(initial.begin(), initial.end());
    if (can_write) {
      for (const char* n : {"newfile", "newdir", "newlink", "ren2"}) want.insert(n);
      for (const char* n : {"ren", "del", "deld"}) want.erase(n);
    }
    if (level >= kManage) want.erase("mv");
    auto listed = ListDir(dir);
    REQUIRE(listed);
    auto names = Names(*listed);
    CHECK(std::set<std::string>(names.begin(), names.end()) == want);
    CHECK(ReadOrDie(dir + "/w") == (can_write ? "written of w" : "content of w"));
    CHECK(StatOrDie(dir + "/t").st_size == (can_write ? 0 : 12));
    CHECK(StatOrDie(dir + "/tr").st_size == (can_write ? 3 : 13));
    CHECK((StatOrDie(dir + "/ch").st_mode & 07777) == (can_write ? 0600u : 0644u));
    CHECK((StatOrDie(dir + "/ut").st_mtime == 2000000) == can_write);
    CHECK((StatErr(dst + "/mv") == 0) == (level >= kManage));
  }

  // O_RDONLY|O_TRUNC truncates on Linux (the kernel leaves it to the
  // daemon's open: atomic O_TRUNC), as root too.
  WriteOrDie(v.Path("rdonly-trunc"), "twelve bytes");
  CHECK(OpenWith(v.Path("rdonly-trunc"), O_RDONLY | O_TRUNC) == 0);
  CHECK(ReadOrDie(v.Path("rdonly-trunc")).empty());
  ::usleep(1200 * 1000);  // past the attribute timeout
  CHECK(StatOrDie(v.Path("rdonly-trunc")).st_size == 0);
}

TEST_CASE("team grants: user beats team, none on a team denies, strongest team grant, nearest grant", "[policy][teams]") {
  MountedVault v;
  TestUser u1 = AddUser(v, "tina", 5201);  // eng
  TestUser u2 = AddUser(v, "tom", 5202);   // eng and ops
  v.Policy(MountedVault::Admin(), {"team", "add", "eng"});
  v.Policy(MountedVault::Admin(), {"team", "add", "ops"});
  v.Policy(MountedVault::Admin(), {"team", "member", "add", "eng", u1.name});
  v.Policy(MountedVault::Admin(), {"team", "member", "add", "eng", u2.name});
  v.Policy(MountedVault::Admin(), {"team", "member", "add", "ops", u2.name});
  for (const char* d : {"T1", "T2", "T3", "T4", "T5", "T5/sub", "T5/sub2", "T6", "T6/sub"}) {
    REQUIRE_SYS(::mkdir(v.Path(d).c_str(), 0755));
  }
  for (const char* f : {"T1/f", "T2/f", "T3/f", "T4/f", "T5/g", "T5/sub/f", "T5/sub2/f", "T6/f", "T6/sub/f"}) {
    WriteOrDie(v.Path(f), "data");
  }

  SECTION("a direct none beats a team's read; the other member reads") {
    Grant(v, "T1", "@eng", "read");
    Grant(v, "T1", u1.name, "none");
    CHECK_AS(u1.uid, ENOENT, OpenReadAll(v.Path("T1/f")));
    CHECK_AS(u1.uid, ENOENT, StatErr(v.Path("T1")));
    CHECK_AS(u2.uid, 0, OpenReadAll(v.Path("T1/f")));
    CHECK_AS(u2.uid, EACCES, WriteInto(v.Path("T1/f"), "x"));
  }
  SECTION("a direct weaker grant decides over a stronger team grant") {
    Grant(v, "T2", "@eng", "write");
    Grant(v, "T2", u1.name, "read");
    CHECK_AS(u1.uid, 0, OpenReadAll(v.Path("T2/f")));
    CHECK_AS(u1.uid, EACCES, WriteInto(v.Path("T2/f"), "x"));
    CHECK_AS(u2.uid, 0, WriteInto(v.Path("T2/f"), "x"));
  }
  SECTION("none on one of the user's teams denies") {
    Grant(v, "T3", "@eng", "read");
    Grant(v, "T3", "@ops", "none");
    CHECK_AS(u2.uid, ENOENT, OpenReadAll(v.Path("T3/f")));
    CHECK_AS(u2.uid, ENOENT, StatErr(v.Path("T3")));
    CHECK(ListAs(u2.uid, v.mnt()).count("T3") == 0);
    CHECK_AS(u1.uid, 0, OpenReadAll(v.Path("T3/f")));
    CHECK(ListAs(u1.uid, v.mnt()).count("T3") == 1);
  }
  SECTION("the strongest team grant decides") {
    Grant(v, "T4", "@eng", "read");
    Grant(v, "T4", "@ops", "write");
    CHECK_AS(u2.uid, 0, WriteInto(v.Path("T4/f"), "x"));
    CHECK_AS(u2.uid, 0, OpenWith(v.Path("T4/new"), O_WRONLY | O_CREAT | O_EXCL));
    CHECK_AS(u1.uid, 0, OpenReadAll(v.Path("T4/f")));
    CHECK_AS(u1.uid, EACCES, WriteInto(v.Path("T4/f"), "x"));
  }
  SECTION("a deeper grant overrides the one above") {
    Grant(v, "T5", "@eng", "read");
    Grant(v, "T5/sub", "@eng", "none");
    Grant(v, "T5/sub2", u1.name, "write");
    CHECK_AS(u1.uid, 0, OpenReadAll(v.Path("T5/g")));
    CHECK_AS(u1.uid, ENOENT, OpenReadAll(v.Path("T5/sub/f")));
    CHECK_AS(u1.uid, ENOENT, StatErr(v.Path("T5/sub")));
    CHECK(ListAs(u1.uid, v.Path("T5")) == std::set<std::string>{"g", "sub2"});
    CHECK_AS(u1.uid, 0, WriteInto(v.Path("T5/sub2/f"), "x"));
    CHECK_AS(u2.uid, EACCES, WriteInto(v.Path("T5/sub2/f"), "x"));
    CHECK_AS(u2.uid, 0, OpenReadAll(v.Path("T5/sub2/f")));
  }
  SECTION("a nearer team grant decides over a user grant further up") {
    Grant(v, "T6", u1.name, "write");
    Grant(v, "T6/sub", "@eng", "read");
    CHECK_AS(u1.uid, 0, WriteInto(v.Path("T6/f"), "x"));
    CHECK_AS(u1.uid, 0, OpenReadAll(v.Path("T6/sub/f")));
    CHECK_AS(u1.uid, EACCES, WriteInto(v.Path("T6/sub/f"), "x"));
    CHECK_AS(u1.uid, EACCES, OpenWith(v.Path("T6/sub/new"), O_WRONLY | O_CREAT | O_EXCL));
  }
}

TEST_CASE("an expired grant acts as absent, open handles included", "[policy][expiry]") {
  MountedVault v;
  TestUser u = AddUser(v, "eve", 5301);
  TestUser w = AddUser(v, "wes", 5302);
  REQUIRE_SYS(::mkdir(v.Path("E").c_str(), 0755));
  REQUIRE_SYS(::mkdir(v.Path("W").c_str(), 0755));
  WriteOrDie(v.Path("E/f"), "expiring secret");
  WriteOrDie(v.Path("W/f"), "writable until");
  const std::string until = DateInDays(2);
  v.Policy(MountedVault::Root(), {"grant", v.Path("E"), u.name, "read", "--until", until});
  // wes: read for good on W, write on W/f until the date.
  Grant(v, "W", w.name, "read");
  v.Policy(MountedVault::Root(), {"grant", v.Path("W/f"), w.name, "write", "--until", until});

  // The admin sees every name but reads only through a grant: one that ends.
  REQUIRE_SYS(::mkdir(v.Path("X").c_str(), 0755));
  WriteOrDie(v.Path("X/f"), "admin may read");
  v.Policy(MountedVault::Root(), {"grant", v.Path("X"), kAdminName, "read", "--until", until});

  CHECK_AS(u.uid, 0, OpenReadAll(v.Path("E/f")));
  CHECK_AS(w.uid, 0, WriteInto(v.Path("W/f"), "WRITABLE"));
  CHECK_AS(kAdminUid, 0, OpenReadAll(v.Path("X/f")));
  UserProcess admin(kAdminUid);
  const int afd = admin.Open(v.Path("X/f"), O_RDONLY);
  REQUIRE(afd >= 0);
  std::string admin_got;
  REQUIRE(admin.PRead(afd, 0, 100, &admin_got) == 0);
  CHECK(admin_got == "admin may read");

  UserProcess reader(u.uid);
  const int rfd = reader.Open(v.Path("E/f"), O_RDONLY);
  REQUIRE(rfd >= 0);
  std::string got;
  REQUIRE(reader.PRead(rfd, 0, 100, &got) == 0);
  CHECK(got == "expiring secret");
  UserProcess writer(w.uid);
  const int wfd = writer.Open(v.Path("W/f"), O_RDWR);
  REQUIRE(wfd >= 0);
  CHECK(writer.PWrite(wfd, "w", 0) == 0);

  // Four days later the grants (ending with the day after tomorrow) are over.
  SetTestClock(v, 4 * 86400);

  // At once, and still after the daemon has had time to notice: the kernel's
  // cached pages of the handle must not answer.
  CHECK(reader.PRead(rfd, 0, 100, &got) == EACCES);
  ::usleep(2500 * 1000);
  CHECK(reader.PRead(rfd, 0, 100, &got) == EACCES);
  CHECK(reader.PRead(rfd, 3, 5, &got) == EACCES);
  // The admin's open handle is cut too; and with the grant over, the file's
  // name is hidden from the admin (admins see folder names only).
  CHECK(admin.PRead(afd, 0, 100, &admin_got) == EACCES);
  CHECK(admin.PRead(afd, 0, 5, &admin_got) == EACCES);
  CHECK_AS(kAdminUid, ENOENT, OpenReadAll(v.Path("X/f")));
  CHECK_AS(kAdminUid, ENOENT, StatErr(v.Path("X/f")));
  CHECK_AS(kAdminUid, 0, StatErr(v.Path("X")));
  CHECK(admin.Close(afd) == 0);
  CHECK(writer.PWrite(wfd, "x", 0) == EACCES);
  // Nothing else for eve: the names are gone.
  CHECK_AS(u.uid, ENOENT, OpenReadAll(v.Path("E/f")));
  CHECK_AS(u.uid, ENOENT, StatErr(v.Path("E")));
  CHECK(ListAs(u.uid, v.mnt()).empty());
  // wes still sees W/f through the folder's read: a refusal, not a hidden name.
  CHECK_AS(w.uid, EACCES, WriteInto(v.Path("W/f"), "y"));
  CHECK_AS(w.uid, 0, OpenReadAll(v.Path("W/f")));
  CHECK(ReadOrDie(v.Path("W/f")) == "wRITABLE until");
  CHECK(reader.Close(rfd) == 0);
  CHECK(writer.Close(wfd) == 0);

  // Back to today: the grant holds again.
  SetTestClock(v, 0);
  CHECK_AS(u.uid, 0, OpenReadAll(v.Path("E/f")));
}

TEST_CASE("clearance against labels", "[policy][clearance]") {
  MountedVault v;
  TestUser low = AddUser(v, "lou", 5401);
  TestUser high = AddUser(v, "hal", 5402, 2);
  REQUIRE_SYS(::mkdir(v.Path("L").c_str(), 0755));
  REQUIRE_SYS(::mkdir(v.Path("L/deep").c_str(), 0755));
  WriteOrDie(v.Path("L/f"), "sensitive");
  WriteOrDie(v.Path("L/deep/g"), "deeper");
  v.Policy(MountedVault::Admin(), {"label", v.Path("L"), "2"});
  // Root (clearance 1) is no lead of a level-2 folder: the admin grants.
  v.Policy(MountedVault::Admin(), {"grant", v.Path("L"), low.name, "write"});
  v.Policy(MountedVault::Admin(), {"grant", v.Path("L"), high.name, "read"});

  // Clearance 1 under level 2: the names show, nothing else is allowed.
  CHECK_AS(low.uid, 0, StatErr(v.Path("L/f")));
  CHECK_AS(low.uid, 0, StatErr(v.Path("L/deep/g")));
  CHECK_AS(low.uid, EACCES, OpenReadAll(v.Path("L/f")));
  CHECK_AS(low.uid, EACCES, OpenReadAll(v.Path("L/deep/g")));
  CHECK_AS(low.uid, EACCES, WriteInto(v.Path("L/f"), "x"));
  CHECK_AS(low.uid, EACCES, ListErr(v.Path("L")));
  CHECK_AS(low.uid, EACCES, OpenWith(v.Path("L/new"), O_WRONLY | O_CREAT | O_EXCL));
  CHECK(ListAs(low.uid, v.mnt()) == std::set<std::string>{"L"});
  // Clearance 2 reads.
  CHECK_AS(high.uid, 0, OpenReadAll(v.Path("L/f")));
  CHECK_AS(high.uid, 0, OpenReadAll(v.Path("L/deep/g")));
  CHECK_AS(high.uid, 0, ListErr(v.Path("L")));

  // Raising the clearance takes effect at once.
  v.Policy(MountedVault::Admin(), {"user", "set", low.name, "--clearance", "2"});
  CHECK_AS(low.uid, 0, OpenReadAll(v.Path("L/f")));
  CHECK_AS(low.uid, 0, WriteInto(v.Path("L/f"), "x"));
  CHECK_AS(low.uid, 0, ListErr(v.Path("L")));
}

TEST_CASE("hidden names stay hidden, also right after someone else used them", "[policy][hidden]") {
  MountedVault v;
  TestUser h = AddUser(v, "hana", 5501);
  TestUser other = AddUser(v, "otto", 5502);
  for (const char* d : {"A", "A/B", "A/otherdir", "A/B/nn", "hidden", "hidden/sub"}) {
    REQUIRE_SYS(::mkdir(v.Path(d).c_str(), 0755));
  }
  for (const char* f : {"A/B/f", "A/other", "A/otherdir/x", "A/B/nn/y", "hidden/x", "hidden/sub/y", "topfile"}) {
    WriteOrDie(v.Path(f), "data");
  }
  Grant(v, "A/B", h.name, "read");
  Grant(v, "A/B/nn", h.name, "none");
  Grant(v, "", other.name, "read");  // otto reads everything

  const std::vector<std::string> hidden = {"A/other", "A/otherdir", "A/otherdir/x", "A/B/nn",     "A/B/nn/y",
                                           "hidden",  "hidden/x",   "hidden/sub",   "hidden/sub/y", "topfile"};
  auto check_hidden = [&](const std::string& when) {
    INFO(when);
    CHECK(ListAs(h.uid, v.mnt()) == std::set<std::string>{"A"});
    CHECK(ListAs(h.uid, v.Path("A")) == std::set<std::string>{"B"});
    CHECK(ListAs(h.uid, v.Path("A/B")) == std::set<std::string>{"f"});
    CHECK_AS(h.uid, 0, OpenReadAll(v.Path("A/B/f")));
    for (const auto& rel : hidden) {
      INFO("hidden name " << rel);
      CHECK_AS(h.uid, ENOENT, StatErr(v.Path(rel)));
      CHECK_AS(h.uid, ENOENT, OpenWith(v.Path(rel), O_RDONLY));
      CHECK_AS(h.uid, ENOENT, Err(::access(v.Path(rel).c_str(), F_OK)));
    }
    // Folders where hana has nothing: not listable, as not there.
    CHECK_AS(h.uid, ENOENT, ListErr(v.Path("hidden")));
    CHECK_AS(h.uid, ENOENT, ListErr(v.Path("A/otherdir")));
    CHECK_AS(h.uid, ENOENT, ListErr(v.Path("A/B/nn")));
    // Creating over a hidden name does not reveal its content either.
    CHECK_AS(h.uid, ENOENT, OpenWith(v.Path("hidden/new"), O_WRONLY | O_CREAT));
  };
  check_hidden("before anyone else looked");

  // Root and otto look everything up, list, stat and open it; hana right after.
  for (int round = 0; round < 2; ++round) {
    for (const auto& rel : hidden) {
      // Root holds the name open while hana asks.
      int fd = ::open(v.Path(rel).c_str(), O_RDONLY | O_CLOEXEC);
      REQUIRE(fd >= 0);
      REQUIRE(StatErr(v.Path(rel)) == 0);
      CHECK_AS(other.uid, 0, StatErr(v.Path(rel)));
      CHECK_AS(other.uid, 0, OpenWith(v.Path(rel), O_RDONLY));
      INFO("round " << round << ", right after root and otto used " << rel);
      CHECK_AS(h.uid, ENOENT, StatErr(v.Path(rel)));
      CHECK_AS(h.uid, ENOENT, OpenWith(v.Path(rel), O_RDONLY));
      ::close(fd);
    }
    for (const char* d : {"", "A", "A/otherdir", "A/B", "A/B/nn", "hidden", "hidden/sub"}) {
      REQUIRE(ListDir(v.Path(d)));
      CHECK(ListAs(other.uid, v.Path(d)).size() > 0);
    }
    check_hidden("right after root and otto listed everything");
  }
}

// Another user who may still read the file keeps the kernel's cached pages
// warm (and its attributes fresh) after a revocation: the revoked handle must
// still be refused, not served from the cache.
TEST_CASE("a revoked handle is refused while another user keeps the file's pages cached", "[policy][handles]") {
  MountedVault v;
  TestUser r = AddUser(v, "rita", 5611);
  TestUser s = AddUser(v, "sam", 5612);
  REQUIRE_SYS(::mkdir(v.Path("A").c_str(), 0755));
  WriteOrDie(v.Path("A/f"), "abc");
  Grant(v, "A", r.name, "read");
  Grant(v, "A", s.name, "read");
  UserProcess rp(r.uid);
  const int rfd = rp.Open(v.Path("A/f"), O_RDONLY);
  REQUIRE(rfd >= 0);
  std::string got;
  REQUIRE(rp.PRead(rfd, 0, 100, &got) == 0);
  Revoke(v, "A", r.name);
  for (int i = 0; i < 5; ++i) {
    CHECK_AS(s.uid, 0, OpenReadAll(v.Path("A/f")));  // repopulates the cache
    CHECK(rp.PRead(rfd, 0, 100, &got) == EACCES);
  }
  // Granted again, the same handle reads again.
  Grant(v, "A", r.name, "read");
  CHECK(rp.PRead(rfd, 0, 100, &got) == 0);
  CHECK(got == "abc");
}

TEST_CASE("revocation, disabling and lowered clearance cut open handles", "[policy][handles]") {
  MountedVault v;
  TestUser r = AddUser(v, "rita", 5601);
  TestUser w = AddUser(v, "walt", 5602);
  TestUser d = AddUser(v, "dora", 5603);
  TestUser c = AddUser(v, "cleo", 5604, 2);
  for (const char* dir : {"R", "W", "D", "S"}) REQUIRE_SYS(::mkdir(v.Path(dir).c_str(), 0755));
  for (const char* f : {"R/f", "W/f", "D/f", "S/f"}) WriteOrDie(v.Path(f), std::string("content of ") + f);
  v.Policy(MountedVault::Admin(), {"label", v.Path("S"), "2"});
  Grant(v, "R", r.name, "read");
  Grant(v, "W", w.name, "write");
  Grant(v, "D", d.name, "read");
  v.Policy(MountedVault::Admin(), {"grant", v.Path("S"), c.name, "read"});

  UserProcess rp(r.uid), wp(w.uid), dp(d.uid), cp(c.uid);
  const int rfd = rp.Open(v.Path("R/f"), O_RDONLY);
  const int wfd = wp.Open(v.Path("W/f"), O_RDWR);
  const int dfd = dp.Open(v.Path("D/f"), O_RDONLY);
  const int cfd = cp.Open(v.Path("S/f"), O_RDONLY);
  REQUIRE(rfd >= 0);
  REQUIRE(wfd >= 0);
  REQUIRE(dfd >= 0);
  REQUIRE(cfd >= 0);
  std::string got;
  // Read first, so the kernel has the pages cached.
  REQUIRE(rp.PRead(rfd, 0, 100, &got) == 0);
  CHECK(got == "content of R/f");
  REQUIRE(wp.PWrite(wfd, "C", 0) == 0);
  REQUIRE(wp.PRead(wfd, 0, 100, &got) == 0);
  CHECK(got == "Content of W/f");
  REQUIRE(dp.PRead(dfd, 0, 100, &got) == 0);
  CHECK(got == "content of D/f");
  REQUIRE(cp.PRead(cfd, 0, 100, &got) == 0);
  CHECK(got == "content of S/f");

  SECTION("revoke a read grant") {
    Revoke(v, "R", r.name);
    CHECK(rp.PRead(rfd, 0, 100, &got) == EACCES);
    CHECK(got.empty());
    CHECK(rp.PRead(rfd, 5, 3, &got) == EACCES);
  }
  SECTION("revoke a write grant") {
    Revoke(v, "W", w.name);
    CHECK(wp.PWrite(wfd, "X", 0) == EACCES);
    CHECK(wp.PRead(wfd, 0, 100, &got) == EACCES);
    CHECK(ReadOrDie(v.Path("W/f")) == "Content of W/f");
  }
  SECTION("lower a write grant to read") {
    Grant(v, "W", w.name, "read");
    CHECK(wp.PWrite(wfd, "X", 0) == EACCES);
    CHECK(ReadOrDie(v.Path("W/f")) == "Content of W/f");
  }
  SECTION("disable the user") {
    v.Policy(MountedVault::Admin(), {"user", "disable", d.name});
    CHECK(dp.PRead(dfd, 0, 100, &got) == EACCES);
    CHECK_AS(d.uid, ENOENT, OpenReadAll(v.Path("D/f")));
    // The others are untouched.
    CHECK(rp.PRead(rfd, 0, 100, &got) == 0);
    CHECK(got == "content of R/f");
  }
  SECTION("lower the clearance") {
    v.Policy(MountedVault::Admin(), {"user", "set", c.name, "--clearance", "1"});
    CHECK(cp.PRead(cfd, 0, 100, &got) == EACCES);
    CHECK_AS(c.uid, EACCES, OpenReadAll(v.Path("S/f")));
  }
  rp.Close(rfd);
  wp.Close(wfd);
  dp.Close(dfd);
  cp.Close(cfd);
}

TEST_CASE("renames: the escape through a renamed folder, rename over, exchange, moves", "[policy][rename]") {
  MountedVault v;
  TestUser u = AddUser(v, "remy", 5701);
  for (const char* d : {"A", "A/B", "A/B/sdir", "D", "M"}) REQUIRE_SYS(::mkdir(v.Path(d).c_str(), 0755));
  for (const char* f : {"A/B/secret", "A/B/open", "A/B/sdir/x", "A/src", "A/ro", "A/hid", "A/x", "A/y", "A/m",
                        "A/m2", "D/d", "M/a"}) {
    WriteOrDie(v.Path(f), std::string("content of ") + f);
  }
  Grant(v, "A", u.name, "write");
  Grant(v, "D", u.name, "write");
  Grant(v, "A/B/secret", u.name, "none");
  Grant(v, "A/B/sdir", u.name, "none");
  Grant(v, "A/ro", u.name, "read");
  Grant(v, "A/hid", u.name, "none");
  Grant(v, "A/y", u.name, "read");
  Grant(v, "M", u.name, "manage");

  SECTION("a none grant travels with a renamed folder") {
    CHECK_AS(u.uid, ENOENT, StatErr(v.Path("A/B/secret")));
    CHECK_AS(u.uid, 0, Err(::rename(v.Path("A/B").c_str(), v.Path("A/C").c_str())));
    CHECK(StatErr(v.Path("A/C/secret")) == 0);
    CHECK_AS(u.uid, ENOENT, StatErr(v.Path("A/C/secret")));
    CHECK_AS(u.uid, ENOENT, OpenReadAll(v.Path("A/C/secret")));
    CHECK_AS(u.uid, ENOENT, StatErr(v.Path("A/C/sdir")));
    CHECK_AS(u.uid, ENOENT, OpenReadAll(v.Path("A/C/sdir/x")));
    CHECK(ListAs(u.uid, v.Path("A/C")) == std::set<std::string>{"open"});
    CHECK_AS(u.uid, 0, OpenReadAll(v.Path("A/C/open")));
    // And moving it on, into D (manage needed on the folder: write is not enough).
    CHECK_AS(u.uid, EACCES, Err(::rename(v.Path("A/C").c_str(), v.Path("D/C").c_str())));
  }
  SECTION("rename over an existing file needs write on it") {
    CHECK_AS(u.uid, EACCES, Err(::rename(v.Path("A/src").c_str(), v.Path("A/ro").c_str())));
    CHECK(ReadOrDie(v.Path("A/ro")) == "content of A/ro");
    // A target the user cannot see: EACCES (the name is taken), never replaced.
    CHECK_AS(u.uid, EACCES, Err(::rename(v.Path("A/src").c_str(), v.Path("A/hid").c_str())));
    CHECK(ReadOrDie(v.Path("A/hid")) == "content of A/hid");
    CHECK(ReadOrDie(v.Path("A/src")) == "content of A/src");
    CHECK_AS(u.uid, 0, Err(::rename(v.Path("A/src").c_str(), v.Path("A/x").c_str())));
    CHECK(ReadOrDie(v.Path("A/x")) == "content of A/src");
  }
  SECTION("RENAME_EXCHANGE is checked both ways") {
    // Within A: y is only readable.
    CHECK_AS(u.uid, EACCES, RenameAt2(v.Path("A/x"), v.Path("A/y"), RENAME_EXCHANGE));
    CHECK_AS(u.uid, EACCES, RenameAt2(v.Path("A/y"), v.Path("A/x"), RENAME_EXCHANGE));
    CHECK(ReadOrDie(v.Path("A/x")) == "content of A/x");
    // Across folders: M/a is managed, D/d only writable: d may not move to M.
    CHECK_AS(u.uid, EACCES, RenameAt2(v.Path("M/a"), v.Path("D/d"), RENAME_EXCHANGE));
    CHECK_AS(u.uid, EACCES, RenameAt2(v.Path("D/d"), v.Path("M/a"), RENAME_EXCHANGE));
    CHECK(ReadOrDie(v.Path("M/a")) == "content of M/a");
    CHECK(ReadOrDie(v.Path("D/d")) == "content of D/d");
    Grant(v, "D/d", u.name, "manage");
    CHECK_AS(u.uid, 0, RenameAt2(v.Path("D/d"), v.Path("M/a"), RENAME_EXCHANGE));
    CHECK(ReadOrDie(v.Path("M/a")) == "content of D/d");
    CHECK(ReadOrDie(v.Path("D/d")) == "content of M/a");
    // Within A with write on both: allowed.
    CHECK_AS(u.uid, 0, RenameAt2(v.Path("A/x"), v.Path("A/m"), RENAME_EXCHANGE));
    CHECK(ReadOrDie(v.Path("A/x")) == "content of A/m");
  }
  SECTION("moving to another folder needs manage on the object") {
    CHECK_AS(u.uid, EACCES, Err(::rename(v.Path("A/m").c_str(), v.Path("D/m").c_str())));
    CHECK(StatErr(v.Path("A/m")) == 0);
    CHECK(StatErr(v.Path("D/m")) == ENOENT);
    Grant(v, "A/m", u.name, "manage");
    CHECK_AS(u.uid, 0, Err(::rename(v.Path("A/m").c_str(), v.Path("D/m").c_str())));
    CHECK(ReadOrDie(v.Path("D/m")) == "content of A/m");
    // Manage on the object but nothing on the destination: it is not there.
    Grant(v, "A/m2", u.name, "manage");
    REQUIRE_SYS(::mkdir(v.Path("Z").c_str(), 0755));
    CHECK_AS(u.uid, ENOENT, Err(::rename(v.Path("A/m2").c_str(), v.Path("Z/m2").c_str())));
    // Read on the destination: refused.
    Grant(v, "Z", u.name, "read");
    CHECK_AS(u.uid, EACCES, Err(::rename(v.Path("A/m2").c_str(), v.Path("Z/m2").c_str())));
    CHECK(StatErr(v.Path("A/m2")) == 0);
  }
}

TEST_CASE("unknown and disabled users get nothing, admins see names but read nothing", "[policy][identity]") {
  MountedVault v;
  REQUIRE_SYS(::mkdir(v.Path("P").c_str(), 0755));
  WriteOrDie(v.Path("P/f"), "payload");
  WriteOrDie(v.Path("topfile"), "top");
  TestUser gone = AddUser(v, "dave", 5801);
  Grant(v, "", gone.name, "read");
  CHECK_AS(gone.uid, 0, OpenReadAll(v.Path("P/f")));
  v.Policy(MountedVault::Admin(), {"user", "disable", gone.name});

  for (uid_t uid : {static_cast<uid_t>(5999), gone.uid}) {
    INFO("uid " << uid << (uid == gone.uid ? " (disabled)" : " (unknown)"));
    CHECK_AS(uid, ENOENT, StatErr(v.Path("P")));
    CHECK_AS(uid, ENOENT, StatErr(v.Path("P/f")));
    CHECK_AS(uid, ENOENT, StatErr(v.Path("topfile")));
    CHECK_AS(uid, ENOENT, OpenReadAll(v.Path("P/f")));
    CHECK_AS(uid, ENOENT, OpenReadAll(v.Path("topfile")));
    CHECK_AS(uid, EACCES, ListErr(v.mnt()));
    CHECK_AS(uid, EACCES, StatFsErr(v.mnt()));
    CHECK_AS(uid, EACCES, Err(::mkdir(v.Path("newdir").c_str(), 0755)));
  }

  // The admin, with no grant: sees every folder name (not file names), may
  // make and rename folders anywhere, but move them only as anyone else
  // (a move could bring a folder under a grant the admin holds), and reads
  // no file.
  const uid_t admin = kAdminUid;
  CHECK_AS(admin, 0, StatErr(v.Path("P")));
  CHECK_AS(admin, ENOENT, StatErr(v.Path("P/f")));
  CHECK(ListAs(admin, v.mnt()) == std::set<std::string>{"P"});
  CHECK(ListAs(admin, v.Path("P")).empty());
  CHECK_AS(admin, 0, StatFsErr(v.mnt()));
  CHECK_AS(admin, 0, Err(::mkdir(v.Path("P/adminmade").c_str(), 0755)));
  CHECK_AS(admin, 0, Err(::mkdir(v.Path("adminmade").c_str(), 0755)));
  CHECK_AS(admin, 0, Err(::rename(v.Path("P/adminmade").c_str(), v.Path("P/renamed").c_str())));
  CHECK(StatErr(v.Path("P/renamed")) == 0);
  CHECK_AS(admin, EACCES, Err(::rename(v.Path("P/renamed").c_str(), v.Path("adminmade/moved").c_str())));
  CHECK(StatErr(v.Path("adminmade/moved")) == ENOENT);
  CHECK_AS(admin, ENOENT, OpenReadAll(v.Path("P/f")));
  CHECK_AS(admin, ENOENT, OpenReadAll(v.Path("topfile")));
  CHECK_AS(admin, ENOENT, WriteInto(v.Path("P/f"), "x"));
  CHECK_AS(admin, EACCES, OpenWith(v.Path("P/newfile"), O_WRONLY | O_CREAT | O_EXCL));
  CHECK(ReadOrDie(v.Path("P/f")) == "payload");
}

TEST_CASE("mounted with posix permissions: mode bits and grants must both allow", "[policy][posix]") {
  MountedVault::Options opts;
  opts.posix_permissions = true;
  MountedVault v(opts);
  REQUIRE_SYS(::chmod(v.mnt().c_str(), 0755));
  TestUser u = AddUser(v, "pat", 5901);
  TestUser nog = AddUser(v, "nora", 5902);
  REQUIRE_SYS(::mkdir(v.Path("P").c_str(), 0755));
  WriteOrDie(v.Path("P/private"), "root only", 0600);
  WriteOrDie(v.Path("P/public"), "for all", 0666);
  REQUIRE_SYS(::chmod(v.Path("P/private").c_str(), 0600));
  REQUIRE_SYS(::chmod(v.Path("P/public").c_str(), 0666));
  Grant(v, "P", u.name, "write");

  CHECK_AS(u.uid, EACCES, OpenReadAll(v.Path("P/private")));
  CHECK_AS(u.uid, EACCES, WriteInto(v.Path("P/private"), "x"));
  CHECK_AS(u.uid, 0, OpenReadAll(v.Path("P/public")));
  CHECK_AS(u.uid, 0, WriteInto(v.Path("P/public"), "FOR"));
  // The folder is 0755 root's: creating in it is refused by the mode bits.
  CHECK_AS(u.uid, EACCES, OpenWith(v.Path("P/new"), O_WRONLY | O_CREAT | O_EXCL));
  // Mode bits allow, no grant: hidden.
  CHECK_AS(nog.uid, ENOENT, OpenReadAll(v.Path("P/public")));
  // Mode bits allow, read grant only: the write is refused by the grant.
  Grant(v, "P/public", nog.name, "read");
  CHECK_AS(nog.uid, 0, OpenReadAll(v.Path("P/public")));
  CHECK_AS(nog.uid, EACCES, WriteInto(v.Path("P/public"), "x"));
  CHECK(ReadOrDie(v.Path("P/public")) == "FOR all");
}

TEST_CASE("mounted without posix permissions: mode bits do not matter", "[policy][posix]") {
  MountedVault v;
  TestUser u = AddUser(v, "pia", 5911);
  TestUser wr = AddUser(v, "will", 5912);
  REQUIRE_SYS(::mkdir(v.Path("P").c_str(), 0755));
  WriteOrDie(v.Path("P/zero"), "mode 0000");
  REQUIRE_SYS(::chmod(v.Path("P/zero").c_str(), 0000));
  REQUIRE_SYS(::chmod(v.Path("P").c_str(), 0700));
  Grant(v, "P", u.name, "read");
  Grant(v, "P", wr.name, "write");
  CHECK_AS(u.uid, 0, OpenReadAll(v.Path("P/zero")));
  CHECK_AS(u.uid, EACCES, WriteInto(v.Path("P/zero"), "x"));
  CHECK_AS(wr.uid, 0, WriteInto(v.Path("P/zero"), "MODE"));
  CHECK_AS(wr.uid, 0, OpenWith(v.Path("P/new"), O_WRONLY | O_CREAT | O_EXCL));
  CHECK(ReadOrDie(v.Path("P/zero")) == "MODE 0000");
}

TEST_CASE("the errno table: EPERM for links and device nodes, EOPNOTSUPP for xattrs", "[policy][errno]") {
  MountedVault v;
  TestUser u = AddUser(v, "erin", 5951);
  TestUser h = AddUser(v, "hugo", 5952);
  REQUIRE_SYS(::mkdir(v.Path("P").c_str(), 0755));
  REQUIRE_SYS(::mkdir(v.Path("Q").c_str(), 0755));
  WriteOrDie(v.Path("P/f"), "data");
  WriteOrDie(v.Path("Q/g"), "data");
  Grant(v, "P", u.name, "write");
  Grant(v, "Q", h.name, "read");

  // As root and as a user with write.
  CHECK_ERRNO(::link(v.Path("P/f").c_str(), v.Path("P/hard").c_str()), EPERM);
  CHECK_ERRNO(::mknod(v.Path("P/fifo").c_str(), S_IFIFO | 0644, 0), EPERM);
  CHECK_ERRNO(::mknod(v.Path("P/chr").c_str(), S_IFCHR | 0644, makedev(1, 3)), EPERM);
  CHECK_ERRNO(::mknod(v.Path("P/blk").c_str(), S_IFBLK | 0644, makedev(7, 0)), EPERM);
  CHECK_AS(u.uid, EPERM, Err(::link(v.Path("P/f").c_str(), v.Path("P/hard").c_str())));
  CHECK_AS(u.uid, EPERM, Err(::mknod(v.Path("P/fifo").c_str(), S_IFIFO | 0644, 0)));
  CHECK(StatErr(v.Path("P/hard")) == ENOENT);
  CHECK(StatErr(v.Path("P/fifo")) == ENOENT);

  // xattrs are not supported at all.
  CHECK_ERRNO(::setxattr(v.Path("P/f").c_str(), "user.k", "v", 1, 0), EOPNOTSUPP);
  CHECK_AS(u.uid, EOPNOTSUPP, Err(::setxattr(v.Path("P/f").c_str(), "user.k", "v", 1, 0)));
  char buf[16];
  CHECK_AS(u.uid, EOPNOTSUPP, Err(::getxattr(v.Path("P/f").c_str(), "user.k", buf, sizeof buf)));
  // A hidden name is not found before anything else is said about it.
  CHECK_AS(h.uid, ENOENT, Err(::setxattr(v.Path("P/f").c_str(), "user.k", "v", 1, 0)));
  CHECK_AS(h.uid, ENOENT, Err(::link(v.Path("P/f").c_str(), v.Path("Q/hard").c_str())));
  // A policy refusal is EACCES.
  CHECK_AS(h.uid, EACCES, WriteInto(v.Path("Q/g"), "x"));
  CHECK_AS(h.uid, EACCES, Err(::truncate(v.Path("Q/g").c_str(), 0)));
}

}  // namespace strongroom::test
