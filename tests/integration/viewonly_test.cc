// View-only ("no copy") mode on a real mount, as real uids (issue 5,
// PRODUCT.md "View-only mode", docs/threat-model.md §7c).
//
// A tiny viewer (tests/integration/test_viewer.c) is installed root-owned
// and setgid to the vault's viewer group in a root-owned directory of the
// test's temp dir and allow-listed by the admin. User vic has `view` on
// /docs, user rhea `read`; both have `write` on /drop. The viewer reads a
// view file; cat, cp, dd, copies of the viewer without the setgid bit, the
// viewer under LD_PRELOAD of a library that copies
// (tests/integration/test_copy_preload.c), a traced viewer,
// copy_file_range out of the viewer's own handle, a viewer changed on disk
// (mtime put back with touch -r) and every kind of change are refused and
// recorded; rhea is not affected. `viewer add` refuses shells,
// interpreters (by name and as renamed copies), programs that are not
// setgid, programs in user-writable directories, scripts and smbd, and
// only admins may use it. An allow-list edited in strongroom.db makes the
// mount fail like any other policy edit.
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "integration_assert.h"
#include "mount_fixture.h"

#ifndef SR_TEST_VIEWER
#error "SR_TEST_VIEWER must be defined by the build"
#endif
#ifndef SR_TEST_PRELOAD
#error "SR_TEST_PRELOAD must be defined by the build"
#endif

namespace strongroom::test {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

using namespace exit_code;
constexpr char kViewerGroup[] = "strongroom-viewers";

const Identity kAdminId = MountedVault::Admin();
constexpr Identity kVic{4501, 4501};   // view on /docs, write on /drop
constexpr Identity kRhea{4502, 4502};  // read on /docs, write on /drop

gid_t ViewerGid() {
  struct group* g = ::getgrnam(kViewerGroup);
  REQUIRE(g != nullptr);
  return g->gr_gid;
}

// Copies `from` to `to` and gives it owner, group and mode (chown first: it
// would clear the setgid bit).
void Install(const std::string& from, const std::string& to, uid_t uid, gid_t gid, mode_t mode) {
  ::unlink(to.c_str());
  WriteOrDie(to, ReadOrDie(from), 0700);
  REQUIRE_SYS(::chown(to.c_str(), uid, gid));
  REQUIRE_SYS(::chmod(to.c_str(), mode));
}

std::string Fnv1a64(const std::string& data) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : data) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::string Describe(const CommandResult& r) {
  return "exit " + std::to_string(r.exit_code) + "\nstdout: " + r.out + "\nstderr: " + r.err;
}

// `strongroom ARGS --mount MNT` as `who`, success or not.
CommandResult Cli(const MountedVault& v, const Identity& who, std::vector<std::string> args) {
  args.push_back("--mount");
  args.push_back(v.mnt());
  return RunStrongroomAs(who, args, 30s);
}

// Checks that `r` failed with "Permission denied" (EACCES).
void ExpectRefused(const CommandResult& r, const std::string& what) {
  INFO(what << ": " << Describe(r));
  CHECK_FALSE(r.timed_out);
  CHECK(r.exit_code != 0);
  CHECK(r.err.find("Permission denied") != std::string::npos);
}

struct ViewOnly {
  MountedVault v;
  gid_t gid = ViewerGid();  // init made the group if it was missing
  std::string bin = v.root() + "/viewers";
  std::string viewer = bin + "/sr-test-viewer";
  std::string out = v.root() + "/out";  // outside the mount, writable by everyone
  std::string doc = v.Path("docs/report.txt");
  std::string content;

  ViewOnly() {
    std::mt19937_64 rng(5);
    content = "VIEW-ONLY-MARKER quarterly report\n" + RandomBytes(10000, rng);
    REQUIRE_SYS(::mkdir(bin.c_str(), 0755));
    Install(SR_TEST_VIEWER, viewer, 0, gid, 02755);
    REQUIRE_SYS(::mkdir(out.c_str(), 0755));
    REQUIRE_SYS(::chmod(out.c_str(), 01777));
    v.Policy(kAdminId, {"user", "add", "vic", "--uid", "4501"});
    v.Policy(kAdminId, {"user", "add", "rhea", "--uid", "4502"});
    REQUIRE_SYS(::mkdir(v.Path("docs").c_str(), 0755));
    REQUIRE_SYS(::mkdir(v.Path("drop").c_str(), 0755));
    WriteOrDie(doc, content);
    v.Policy(kAdminId, {"grant", v.Path("docs"), "vic", "view"});
    v.Policy(kAdminId, {"grant", v.Path("docs"), "rhea", "read"});
    v.Policy(kAdminId, {"grant", v.Path("drop"), "vic", "write"});
    v.Policy(kAdminId, {"grant", v.Path("drop"), "rhea", "write"});
    const std::string added = v.Policy(kAdminId, {"viewer", "add", viewer});
    INFO(added);
    CHECK(added.find("Added viewer sr-test-viewer: " + viewer) != std::string::npos);
  }

  // The viewer (or `program`) run as `who` on the document.
  CommandResult View(const Identity& who, const std::string& program = "") {
    return RunCommandAs(who, {program.empty() ? viewer : program, doc}, 30s);
  }
  bool ViewedDoc(const CommandResult& r) const {
    return r.exit_code == 0 && r.out.find(std::to_string(content.size()) + " bytes, fnv1a64 " + Fnv1a64(content)) !=
                                   std::string::npos;
  }

  // The audit records of the document (and below `prefix`), oldest first.
  std::vector<json> Records(const std::string& prefix = "vault:/docs/report.txt") {
    const CommandResult r = Cli(v, kAdminId, {"audit", "--path", prefix, "--json", "--limit", "1000"});
    INFO(Describe(r));
    REQUIRE(r.exit_code == 0);
    std::vector<json> recs = json::parse(r.out).at("records").get<std::vector<json>>();
    std::reverse(recs.begin(), recs.end());
    return recs;
  }
};

// The record of a refused open by `exe` (a refusal naming the program).
const json* CopyRefusal(const std::vector<json>& recs, const std::string& exe) {
  for (const json& r : recs) {
    if (r.value("op", "") == "open" && r.value("result", 0) == EACCES && r.value("exe", "") == exe &&
        r.value("reason", "").rfind("copy refused: ", 0) == 0) {
      return &r;
    }
  }
  return nullptr;
}

std::string RealPath(const std::string& p) {
  char buf[PATH_MAX];
  REQUIRE(::realpath(p.c_str(), buf) != nullptr);
  return buf;
}

// ---------------------------------------------------------------------------

TEST_CASE("the viewer reads a view file while cat and cp and dd and copies of the viewer are refused and recorded",
          "[viewonly]") {
  ViewOnly t;
  const CommandResult viewed = t.View(kVic);
  INFO(Describe(viewed));
  CHECK(t.ViewedDoc(viewed));

  // Ordinary programs: refused, nothing copied.
  const std::string cat = RealPath("/bin/cat"), cp = RealPath("/bin/cp"), dd = RealPath("/bin/dd");
  ExpectRefused(RunCommandAs(kVic, {cat, t.doc}), "cat");
  ExpectRefused(RunCommandAs(kVic, {cp, t.doc, t.out + "/cp-copy"}), "cp");
  ExpectRefused(RunCommandAs(kVic, {dd, "if=" + t.doc, "of=" + t.out + "/dd-copy"}), "dd");
  CHECK(ReadFile(t.out + "/cp-copy").err == ENOENT);
  struct stat st;
  CHECK((::stat((t.out + "/dd-copy").c_str(), &st) != 0 || st.st_size == 0));

  // The same binary without the setgid bit: in the user's own directory,
  // and installed by root but not setgid.
  const std::string home = t.v.root() + "/home-vic";
  REQUIRE_SYS(::mkdir(home.c_str(), 0755));
  REQUIRE_SYS(::chown(home.c_str(), kVic.uid, kVic.gid));
  const std::string own_copy = home + "/sr-test-viewer";
  Install(SR_TEST_VIEWER, own_copy, kVic.uid, kVic.gid, 0755);
  ExpectRefused(t.View(kVic, own_copy), "the viewer copied into the user's directory");
  const std::string root_copy = t.bin + "/plain-viewer";
  Install(SR_TEST_VIEWER, root_copy, 0, 0, 0755);
  ExpectRefused(t.View(kVic, root_copy), "the viewer installed by root without setgid");
  // The test process itself (a forked child as vic).
  CHECK(RunAs(kVic.uid, kVic.gid, [&] { return ReadFile(t.doc).err; }) == EACCES);
  // access(R_OK) answers like an open.
  CHECK(RunAs(kVic.uid, kVic.gid, [&] { return ::access(t.doc.c_str(), R_OK) == 0 ? 0 : errno; }) == EACCES);
  // The allowed viewer still works after all that.
  CHECK(t.ViewedDoc(t.View(kVic)));

  // The audit log names each refused program and says "copy refused"; the
  // viewer's opens are recorded as view opens by the viewer.
  const std::vector<json> recs = t.Records();
  std::string all;
  for (const json& r : recs) all += r.dump() + "\n";
  INFO("records:\n" << all);
  for (const std::string& exe : {cat, cp, dd, own_copy, root_copy}) {
    INFO(exe);
    const json* r = CopyRefusal(recs, exe);
    REQUIRE(r != nullptr);
    CHECK(r->value("user", "") == "vic");
    CHECK(r->value("uid", 0) == static_cast<int>(kVic.uid));
    CHECK(r->value("access", "") == "view");
    CHECK(r->value("reason", "").find(exe) != std::string::npos);
  }
  bool viewer_open = false;
  for (const json& r : recs) {
    viewer_open = viewer_open || (r.value("op", "") == "open" && r.value("result", -1) == 0 &&
                                  r.value("exe", "") == t.viewer && r.value("access", "") == "view" &&
                                  r.value("reason", "") == "viewer sr-test-viewer");
  }
  CHECK(viewer_open);
}

TEST_CASE("a user with read is not affected", "[viewonly]") {
  ViewOnly t;
  const CommandResult cat = RunCommandAs(kRhea, {RealPath("/bin/cat"), t.doc});
  INFO(Describe(cat));
  CHECK(cat.exit_code == 0);
  CHECK(cat.out == t.content);
  const CommandResult cp = RunCommandAs(kRhea, {RealPath("/bin/cp"), t.doc, t.out + "/rhea-copy"});
  CHECK(cp.exit_code == 0);
  CHECK(ReadOrDie(t.out + "/rhea-copy") == t.content);
  CHECK(t.ViewedDoc(t.View(kRhea)));  // the viewer too
  // copy_file_range from a read handle is not refused (the kernel or the
  // program copies through reads and writes).
  const CommandResult range = RunCommandAs(kRhea, {t.viewer, "--copy-range", t.doc, t.v.Path("drop/rhea-range")});
  INFO(Describe(range));
  CHECK((range.exit_code == 0 || range.err.find("errno 95") != std::string::npos));
  CHECK(range.err.find("Permission denied") == std::string::npos);
  const std::vector<json> recs = t.Records();
  bool read_open = false;
  for (const json& r : recs) {
    read_open = read_open || (r.value("op", "") == "open" && r.value("result", -1) == 0 &&
                              r.value("user", "") == "rhea" && r.value("access", "") == "read");
  }
  CHECK(read_open);
}

TEST_CASE("the viewer under LD_PRELOAD: the library does not load, or its copy is refused", "[viewonly]") {
  ViewOnly t;
  const std::string env = "/usr/bin/env";
  auto preloaded = [&](const std::string& program, const std::string& target) {
    return RunCommandAs(kVic, {env, std::string("LD_PRELOAD=") + SR_TEST_PRELOAD, "SR_PRELOAD_SOURCE=" + t.doc,
                               "SR_PRELOAD_TARGET=" + target, program, t.doc},
                        30s);
  };
  // The allow-listed, setgid viewer: the loader ignores LD_PRELOAD; the
  // viewer works and nothing was copied.
  {
    const std::string target = t.out + "/leak-setgid";
    const CommandResult r = preloaded(t.viewer, target);
    INFO(Describe(r));
    CHECK(t.ViewedDoc(r));
    CHECK(ReadFile(target + ".loaded").err == ENOENT);
    CHECK(ReadFile(target).err == ENOENT);
  }
  // A copy without the setgid bit loads the library: its copy is refused
  // (EACCES), and so is the viewer's own open.
  {
    const std::string home = t.v.root() + "/home-vic";
    REQUIRE_SYS(::mkdir(home.c_str(), 0755));
    const std::string copy = home + "/sr-test-viewer";
    Install(SR_TEST_VIEWER, copy, kVic.uid, kVic.gid, 0755);
    const std::string target = t.out + "/leak-plain";
    const CommandResult r = preloaded(copy, target);
    INFO(Describe(r));
    CHECK(ReadFile(target + ".loaded").err == 0);  // the control: it did load here
    CHECK(ReadOrDie(target + ".err") == std::to_string(EACCES) + "\n");
    CHECK(ReadFile(target).err == ENOENT);
    ExpectRefused(r, "the non-setgid viewer under LD_PRELOAD");
  }
}

TEST_CASE("copy_file_range out of the viewer's own handle onto a file in the mount is refused", "[viewonly]") {
  ViewOnly t;
  const std::string dest = t.v.Path("drop/copied");
  const CommandResult r = RunCommandAs(kVic, {t.viewer, "--copy-range", t.doc, dest}, 30s);
  INFO(Describe(r));
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("copy_file_range: Permission denied") != std::string::npos);
  // The destination was created (vic may write in /drop) but is empty.
  CHECK(ReadOrDie(dest).empty());
  const std::vector<json> recs = t.Records();
  bool recorded = false;
  for (const json& rec : recs) {
    recorded = recorded || (rec.value("op", "") == "copy_file_range" && rec.value("result", 0) == EACCES &&
                            rec.value("exe", "") == t.viewer && rec.value("path2", "") == "/drop/copied" &&
                            rec.value("reason", "").rfind("copy refused", 0) == 0);
  }
  CHECK(recorded);
  // Repeatedly, and the viewer still reads.
  CHECK(RunCommandAs(kVic, {t.viewer, "--copy-range", t.doc, dest}, 30s).exit_code == 1);
  CHECK(ReadOrDie(dest).empty());
  CHECK(t.ViewedDoc(t.View(kVic)));
}

TEST_CASE("writes, truncation, attribute changes, links, renames and moves of a view file are refused",
          "[viewonly]") {
  ViewOnly t;
  const std::string doc = t.doc;
  const std::string docs = t.v.Path("docs");
  const std::string drop = t.v.Path("drop");
  // Each check returns 0 when refused as expected, else its number.
  const int rc = RunAs(kVic.uid, kVic.gid, [&]() -> int {
    auto refused = [](int result, int err) { return result < 0 && errno == err; };
    // A hard link is EPERM from the daemon (or EACCES from the kernel's
    // protected_hardlinks check first).
    auto no_link = [](int result) { return result < 0 && (errno == EPERM || errno == EACCES); };
    if (!refused(::open(doc.c_str(), O_WRONLY | O_CLOEXEC), EACCES)) return 1;
    if (!refused(::open(doc.c_str(), O_RDWR | O_CLOEXEC), EACCES)) return 2;
    if (!refused(::open(doc.c_str(), O_RDONLY | O_TRUNC | O_CLOEXEC), EACCES)) return 3;
    if (!refused(::open(doc.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC), EACCES)) return 4;
    if (!refused(::truncate(doc.c_str(), 0), EACCES)) return 5;
    if (!refused(::chmod(doc.c_str(), 0600), EACCES)) return 6;
    if (!refused(::utimensat(AT_FDCWD, doc.c_str(), nullptr, 0), EACCES)) return 7;
    const struct timespec times[2] = {{1, 0}, {1, 0}};
    if (!refused(::utimensat(AT_FDCWD, doc.c_str(), times, 0), EACCES)) return 8;
    if (!refused(::chown(doc.c_str(), kVic.uid, kVic.gid), EACCES)) return 9;
    if (!no_link(::link(doc.c_str(), (drop + "/linked").c_str()))) return 10;
    if (!no_link(::link(doc.c_str(), (docs + "/linked").c_str()))) return 11;
    if (!refused(::rename(doc.c_str(), (docs + "/renamed.txt").c_str()), EACCES)) return 12;
    if (!refused(::rename(doc.c_str(), (drop + "/moved.txt").c_str()), EACCES)) return 13;
    if (!refused(::unlink(doc.c_str()), EACCES)) return 14;
    if (!refused(::open((docs + "/new.txt").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644), EACCES)) return 15;
    if (!refused(::access(doc.c_str(), W_OK), EACCES)) return 16;
    if (!refused(::mkdir((docs + "/sub").c_str(), 0755), EACCES)) return 17;
    return 0;
  });
  CHECK(rc == 0);
  // Nor from the viewer.
  ExpectRefused(RunCommandAs(kVic, {t.viewer, "--write", doc}), "the viewer opening for writing");
  // Nothing changed; the viewer still reads it; rhea (read) reads it too.
  CHECK(ReadOrDie(doc) == t.content);
  CHECK((StatOrDie(doc).st_mode & 07777) == 0644);
  CHECK(t.ViewedDoc(t.View(kVic)));
  CHECK(RunAs(kRhea.uid, kRhea.gid, [&] {
          auto r = ReadFile(doc);
          return r.err != 0 ? r.err : r.data == t.content ? 0 : 200;
        }) == 0);
}

TEST_CASE("a viewer changed on disk (mtime put back with touch -r) is refused until added again", "[viewonly]") {
  ViewOnly t;
  CHECK(t.ViewedDoc(t.View(kVic)));  // its digest is cached now
  const std::string ref = t.v.root() + "/viewer-times";
  WriteOrDie(ref, "");
  REQUIRE(RunCommand({"/usr/bin/touch", "-r", t.viewer, ref}).exit_code == 0);
  const struct stat before = StatOrDie(t.viewer);
  // Same size is not needed, but keep the change small: one byte appended
  // (as root, which keeps the setgid bit).
  std::this_thread::sleep_for(20ms);
  {
    const int fd = OpenOrDie(t.viewer, O_WRONLY | O_APPEND | O_CLOEXEC);
    REQUIRE(::write(fd, "\n", 1) == 1);
    ::close(fd);
  }
  const CommandResult touched = RunCommand({"/usr/bin/touch", "-r", ref, t.viewer});
  REQUIRE(touched.exit_code == 0);
  const struct stat after = StatOrDie(t.viewer);
  REQUIRE(after.st_mtim.tv_sec == before.st_mtim.tv_sec);
  REQUIRE(after.st_mtim.tv_nsec == before.st_mtim.tv_nsec);
  REQUIRE((after.st_mode & 07777) == 02755);
  REQUIRE(after.st_gid == t.gid);

  ExpectRefused(t.View(kVic), "the changed viewer");
  const std::vector<json> recs = t.Records();
  const json* refusal = CopyRefusal(recs, t.viewer);
  REQUIRE(refusal != nullptr);
  CHECK(refusal->value("reason", "").find("changed since it was allow-listed") != std::string::npos);

  // Added again by the admin: it works again.
  const std::string readded = t.v.Policy(kAdminId, {"viewer", "add", t.viewer});
  CHECK(readded.find("Updated viewer sr-test-viewer") != std::string::npos);
  CHECK(t.ViewedDoc(t.View(kVic)));
  // A binary swapped in by rename (a new inode with the old name) is the
  // same story: refused until added again.
  const std::string tmp = t.bin + "/.new-viewer";
  Install(SR_TEST_VIEWER, tmp, 0, t.gid, 02755);
  {
    const int fd = OpenOrDie(tmp, O_WRONLY | O_APPEND | O_CLOEXEC);
    REQUIRE(::write(fd, "xx", 2) == 2);
    ::close(fd);
  }
  REQUIRE_SYS(::rename(tmp.c_str(), t.viewer.c_str()));
  ExpectRefused(t.View(kVic), "a viewer replaced by rename");
}

TEST_CASE("a traced viewer is refused", "[viewonly]") {
  ViewOnly t;
  const int err_fd = ::memfd_create("stderr", MFD_CLOEXEC);
  REQUIRE(err_fd >= 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setresgid(kVic.gid, kVic.gid, kVic.gid) != 0 ||
        ::setresuid(kVic.uid, kVic.uid, kVic.uid) != 0) {
      ::_exit(125);
    }
    ::dup2(err_fd, 2);
    const int null_fd = ::open("/dev/null", O_RDWR);
    ::dup2(null_fd, 0);
    ::dup2(null_fd, 1);
    ::execl(t.viewer.c_str(), t.viewer.c_str(), "--delay-ms", "700", t.doc.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  // Root attaches while the viewer waits (nobody else could: the setgid
  // viewer is not dumpable).
  std::this_thread::sleep_for(200ms);
  const long attached = ::ptrace(PTRACE_SEIZE, pid, nullptr, nullptr);
  const int attach_err = errno;
  int status = 0;
  for (;;) {
    const pid_t w = ::waitpid(pid, &status, 0);
    if (w < 0 && errno == EINTR) continue;
    REQUIRE(w == pid);
    if (WIFEXITED(status) || WIFSIGNALED(status)) break;
    if (WIFSTOPPED(status)) {
      const int sig = WSTOPSIG(status);
      ::ptrace(PTRACE_CONT, pid, nullptr, reinterpret_cast<void*>(static_cast<long>(sig == SIGTRAP ? 0 : sig)));
    }
  }
  INFO("PTRACE_SEIZE: " << attached << " (" << std::strerror(attach_err) << ")");
  REQUIRE(attached == 0);
  std::string err(4096, '\0');
  err.resize(std::max<ssize_t>(0, ::pread(err_fd, err.data(), err.size(), 0)));
  ::close(err_fd);
  INFO("viewer stderr: " << err);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 1);
  CHECK(err.find("Permission denied") != std::string::npos);
  const std::vector<json> recs = t.Records();
  const json* refusal = CopyRefusal(recs, t.viewer);
  REQUIRE(refusal != nullptr);
  CHECK(refusal->value("reason", "").find("being traced") != std::string::npos);
  // Untraced, it works.
  CHECK(t.ViewedDoc(t.View(kVic)));
}

// Runs the viewer as vic in the background, holding the document open for
// `hold_ms` before reading it; `during` runs meanwhile. Returns the viewer's
// result.
CommandResult ViewWhile(ViewOnly& t, int hold_ms, const std::function<void()>& during) {
  CommandResult result;
  std::thread viewer([&] {
    result = RunCommandAs(kVic, {t.viewer, "--hold-ms", std::to_string(hold_ms), t.doc}, 30s);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(hold_ms / 3));
  during();
  viewer.join();
  return result;
}

TEST_CASE("an open viewer's reads stop when the viewer is taken off the allow-list or view is revoked",
          "[viewonly]") {
  ViewOnly t;
  SECTION("the viewer removed") {
    const CommandResult r = ViewWhile(t, 1500, [&] { t.v.Policy(kAdminId, {"viewer", "remove", "sr-test-viewer"}); });
    ExpectRefused(r, "reading after the viewer was removed");
  }
  SECTION("the grant revoked") {
    const CommandResult r = ViewWhile(t, 1500, [&] { t.v.Policy(kAdminId, {"revoke", t.v.Path("docs"), "vic"}); });
    ExpectRefused(r, "reading after view was revoked");
  }
  SECTION("another viewer added: the open one keeps reading") {
    const std::string other = t.bin + "/other-viewer";
    Install(SR_TEST_VIEWER, other, 0, t.gid, 02755);
    {
      const int fd = OpenOrDie(other, O_WRONLY | O_APPEND | O_CLOEXEC);
      REQUIRE(::write(fd, "x", 1) == 1);  // another digest
      ::close(fd);
    }
    const CommandResult r = ViewWhile(t, 1500, [&] { t.v.Policy(kAdminId, {"viewer", "add", other}); });
    INFO(Describe(r));
    CHECK(t.ViewedDoc(r));
  }
}

TEST_CASE("viewer add refuses interpreters, non-setgid programs, user-writable directories, scripts and smbd",
          "[viewonly]") {
  ViewOnly t;
  auto add = [&](const Identity& who, const std::string& program) {
    return Cli(t.v, who, {"viewer", "add", program});
  };
  auto expect = [&](const CommandResult& r, int code, const std::string& text, const std::string& what) {
    INFO(what << ": " << Describe(r));
    CHECK(r.exit_code == code);
    CHECK(r.err.rfind("strongroom: ", 0) == 0);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(r.err.find(text) != std::string::npos);
  };
  // A shell, installed exactly like a viewer.
  const std::string bash = t.bin + "/bash";
  Install(RealPath("/bin/bash"), bash, 0, t.gid, 02755);
  expect(add(kAdminId, bash), kRefused, "shell", "bash");
  // An interpreter renamed: caught by its content.
  const std::string renamed = t.bin + "/docview";
  Install(RealPath("/usr/bin/perl"), renamed, 0, t.gid, 02755);
  expect(add(kAdminId, renamed), kRefused, "copy of", "perl renamed docview");
  const std::string python = t.bin + "/python3.11";
  Install(SR_TEST_VIEWER, python, 0, t.gid, 02755);
  expect(add(kAdminId, python), kRefused, "interpreter", "a program named like python");
  // Not setgid (and not in the viewer group): says what to change.
  const std::string plain = t.bin + "/plainview";
  Install(SR_TEST_VIEWER, plain, 0, 0, 0755);
  const CommandResult r_plain = add(kAdminId, plain);
  expect(r_plain, kRefused, "chmod g+s " + plain, "not setgid");
  CHECK(r_plain.err.find("chgrp strongroom-viewers " + plain) != std::string::npos);
  // Owned by a user and writable by the group.
  const std::string owned = t.bin + "/ownedview";
  Install(SR_TEST_VIEWER, owned, kVic.uid, t.gid, 02775);
  const CommandResult r_owned = add(kAdminId, owned);
  expect(r_owned, kRefused, "chown root " + owned, "owned by a user");
  CHECK(r_owned.err.find("chmod go-w " + owned) != std::string::npos);
  // In a directory others may write.
  const std::string open_dir = t.v.root() + "/shared";
  REQUIRE_SYS(::mkdir(open_dir.c_str(), 0755));
  REQUIRE_SYS(::chmod(open_dir.c_str(), 0777));
  const std::string in_open = open_dir + "/sr-test-viewer";
  Install(SR_TEST_VIEWER, in_open, 0, t.gid, 02755);
  expect(add(kAdminId, in_open), kRefused, "chmod go-w " + open_dir, "in a world-writable directory");
  const std::string user_dir = t.v.root() + "/vics";
  REQUIRE_SYS(::mkdir(user_dir.c_str(), 0755));
  REQUIRE_SYS(::chown(user_dir.c_str(), kVic.uid, kVic.gid));
  const std::string in_user = user_dir + "/sr-test-viewer";
  Install(SR_TEST_VIEWER, in_user, 0, t.gid, 02755);
  expect(add(kAdminId, in_user), kRefused, "chown root " + user_dir, "in a user's directory");
  // On a filesystem mounted nosuid (the setgid bit would be ignored).
  const std::string nosuid = t.v.root() + "/nosuid";
  REQUIRE_SYS(::mkdir(nosuid.c_str(), 0755));
  REQUIRE_SYS(::mount("tmpfs", nosuid.c_str(), "tmpfs", MS_NOSUID, "mode=0755,size=8m"));
  struct Unmount {
    std::string dir;
    ~Unmount() { ::umount2(dir.c_str(), MNT_DETACH); }
  } unmount{nosuid};
  const std::string on_nosuid = nosuid + "/sr-test-viewer";
  Install(SR_TEST_VIEWER, on_nosuid, 0, t.gid, 02755);
  expect(add(kAdminId, on_nosuid), kRefused, "nosuid", "on a nosuid filesystem");
  // A script (Linux ignores setgid on scripts).
  const std::string script = t.bin + "/showdoc";
  WriteOrDie(script, "#!/bin/sh\nexec cat \"$@\"\n", 0700);
  REQUIRE_SYS(::chown(script.c_str(), 0, t.gid));
  REQUIRE_SYS(::chmod(script.c_str(), 02755));
  expect(add(kAdminId, script), kRefused, "script", "a script");
  // smbd is never a viewer: view files are not available over Samba.
  const std::string smbd = t.bin + "/smbd";
  Install(SR_TEST_VIEWER, smbd, 0, t.gid, 02755);
  expect(add(kAdminId, smbd), kRefused, "Samba", "smbd");
  // Missing; relative paths are taken from the working directory.
  expect(add(kAdminId, t.bin + "/nothing-here"), kNotFound, "no such program", "missing");
  // Admins only.
  const CommandResult by_vic = add(kVic, t.viewer);
  expect(by_vic, kRefused, "only admins", "vic");
  expect(Cli(t.v, kRhea, {"viewer", "list"}), kRefused, "only admins", "rhea listing");
  expect(Cli(t.v, kVic, {"viewer", "remove", "sr-test-viewer"}), kRefused, "only admins", "vic removing");

  // The one allowed viewer is listed with its digest; none of the refused
  // programs is.
  const CommandResult list = Cli(t.v, kAdminId, {"viewer", "list", "--json"});
  INFO(Describe(list));
  REQUIRE(list.exit_code == 0);
  const json listed = json::parse(list.out);
  CHECK(listed.at("group").at("name") == kViewerGroup);
  CHECK(listed.at("group").at("gid") == t.gid);
  REQUIRE(listed.at("viewers").size() == 1);
  const CommandResult sha = RunCommand({RealPath("/usr/bin/sha256sum"), t.viewer});
  REQUIRE(sha.exit_code == 0);
  CHECK(listed.at("viewers")[0].at("sha256") == sha.out.substr(0, 64));
  CHECK(listed.at("viewers")[0].at("path") == t.viewer);
  CHECK(listed.at("viewers")[0].at("added_by") == "sr-admin");
  const CommandResult table = Cli(t.v, kAdminId, {"viewer", "list"});
  CHECK(table.out.find("sr-test-viewer") != std::string::npos);

  // Removed: the viewer's opens stop at once.
  CHECK(t.ViewedDoc(t.View(kVic)));
  const std::string removed = t.v.Policy(kAdminId, {"viewer", "remove", "sr-test-viewer"});
  CHECK(removed.find("Removed viewer sr-test-viewer") != std::string::npos);
  ExpectRefused(t.View(kVic), "a removed viewer");
  expect(Cli(t.v, kAdminId, {"viewer", "remove", "sr-test-viewer"}), kNotFound, "no viewer", "removed twice");

  // Every viewer command is in the audit log, refused ones too.
  const CommandResult q = Cli(t.v, kAdminId, {"audit", "--op", "policy.viewer.add", "--json", "--limit", "100"});
  REQUIRE(q.exit_code == 0);
  const json recs = json::parse(q.out).at("records");
  int ok = 0, refused = 0;
  for (const json& r : recs) (r.value("result", -1) == 0 ? ok : refused) += 1;
  CHECK(ok == 1);
  CHECK(refused >= 10);
  const CommandResult q2 = Cli(t.v, kAdminId, {"audit", "--op", "policy.viewer.remove", "--json"});
  REQUIRE(q2.exit_code == 0);
  CHECK(json::parse(q2.out).at("records").size() >= 2);
}

TEST_CASE("an allow-list edited in strongroom.db while unmounted is refused at mount", "[viewonly]") {
  ViewOnly t;
  const char* edit = GENERATE("UPDATE viewers SET sha256 = zeroblob(32)",
                              "UPDATE meta SET value = '0' WHERE key = 'viewer_gid'",
                              "DELETE FROM viewers");
  INFO(edit);
  t.v.Unmount();
  const std::string db_path = t.v.vault() + "/strongroom.db";
  struct stat wal_st;
  REQUIRE(::stat((db_path + "-wal").c_str(), &wal_st) != 0);  // a clean stop leaves everything in the file
  const std::string pristine = ReadOrDie(db_path);
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
    char* err = nullptr;
    const int rc = sqlite3_exec(db, edit, nullptr, nullptr, &err);
    INFO((err != nullptr ? err : "ok"));
    sqlite3_free(err);
    CHECK(sqlite3_changes(db) >= 1);
    sqlite3_close_v2(db);
    REQUIRE(rc == SQLITE_OK);
  }
  const CommandResult r = RunStrongroom({"mount", "--passfile", t.v.passfile(), t.v.vault(), t.v.mnt()}, 60s);
  if (IsMountpoint(t.v.mnt())) RunCommand({"/usr/bin/fusermount3", "-u", t.v.mnt()}, 10s);
  INFO(Describe(r));
  CHECK(r.exit_code == kIntegrity);
  CHECK(r.err.find("viewers") != std::string::npos);
  CHECK_FALSE(IsMountpoint(t.v.mnt()));
  // The untouched store mounts, and the viewer works.
  WriteOrDie(db_path, pristine, 0600);
  ::unlink((db_path + "-wal").c_str());
  ::unlink((db_path + "-shm").c_str());
  t.v.Mount();
  CHECK(t.ViewedDoc(t.View(kVic)));
}

}  // namespace
}  // namespace strongroom::test
