#include "mount_fixture.h"


#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <thread>

#include "crypto/primitives.h"

#ifndef STRONGROOM_BIN
#error "STRONGROOM_BIN must be defined by the build"
#endif

namespace strongroom::test {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

int StatusToCode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// Reads everything from an fd from offset 0.
std::string ReadFdFromStart(int fd) {
  std::string out;
  char buf[65536];
  off_t off = 0;
  for (;;) {
    ssize_t n = pread(fd, buf, sizeof buf, off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
    off += n;
  }
  return out;
}

// Undoes the octal escapes (\040 etc.) of /proc/self/mountinfo.
std::string UnescapeMountinfo(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1]))) {
      out.push_back(static_cast<char>(std::stoi(s.substr(i + 1, 3), nullptr, 8)));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

struct MountEntry {
  std::string mountpoint;
  unsigned major = 0;
  unsigned minor = 0;
  std::string fstype;
};

std::vector<MountEntry> AllMounts() {
  std::vector<MountEntry> result;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, devno, root, mountpoint, field;
    fields >> id >> parent >> devno >> root >> mountpoint;
    MountEntry e;
    e.mountpoint = UnescapeMountinfo(mountpoint);
    std::sscanf(devno.c_str(), "%u:%u", &e.major, &e.minor);
    while (fields >> field && field != "-") {
    }
    fields >> e.fstype;
    result.push_back(e);
  }
  return result;
}

std::vector<std::string> AllMountpoints() {
  std::vector<std::string> result;
  for (const auto& e : AllMounts()) result.push_back(e.mountpoint);
  return result;
}

std::vector<MountEntry> MountEntriesUnder(const std::string& dir) {
  std::vector<MountEntry> result;
  for (const auto& e : AllMounts()) {
    if (e.mountpoint == dir || e.mountpoint.rfind(dir + "/", 0) == 0) result.push_back(e);
  }
  return result;
}

// Makes every pending and future request of a FUSE connection fail with
// ENOTCONN: the only way to free processes stuck on a deadlocked daemon.
void AbortFuseConnection(const MountEntry& e) {
  if (e.fstype.rfind("fuse", 0) != 0) return;
  const std::string conns = "/sys/fs/fuse/connections";
  std::string dir = conns + "/" + std::to_string((e.major << 20) | e.minor);
  if (access(dir.c_str(), F_OK) != 0) mount("fusectl", conns.c_str(), "fusectl", 0, nullptr);
  int fd = open((dir + "/abort").c_str(), O_WRONLY | O_CLOEXEC);
  if (fd >= 0) {
    (void)!write(fd, "1", 1);
    close(fd);
  }
}

// Lazily unmounts everything below `dir` after aborting FUSE connections, and
// kills every process whose command line names `dir`.
void ForceCleanup(const std::string& dir) {
  auto mounts = MountEntriesUnder(dir);
  for (auto it = mounts.rbegin(); it != mounts.rend(); ++it) {
    AbortFuseConnection(*it);
    umount2(it->mountpoint.c_str(), MNT_DETACH);
  }
  for (pid_t pid : ProcessesMentioning(dir)) kill(pid, SIGKILL);
}

// /proc/PID/status says the process is gone (or a zombie), or has a SIGKILL
// pending (it is being killed, maybe while stuck on a FUSE request).
bool DeadOrDying(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  if (!in) return true;
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("State:", 0) == 0 &&
        (line.find('Z') != std::string::npos || line.find('X') != std::string::npos)) {
      return true;
    }
    if (line.rfind("SigPnd:", 0) == 0 || line.rfind("ShdPnd:", 0) == 0) {
      unsigned long long mask = std::strtoull(line.substr(7).c_str(), nullptr, 16);
      if (mask & (1ULL << (SIGKILL - 1))) return true;
    }
  }
  return false;
}

// A detached process (not a descendant, so ctest's kill on timeout does not
// reach it) that cleans up `dir` when the test process dies or is being
// killed, or after `deadline_s` seconds.  It exits when `dir` is removed.
void StartWatchdog(const std::string& dir) {
  int deadline_s = 900;
  if (const char* env = std::getenv("STRONGROOM_TEST_TIMEOUT"); env && std::atoi(env) > 0) {
    deadline_s = std::atoi(env);
  }
  pid_t test_pid = getpid();
  std::cout.flush();
  std::cerr.flush();
  pid_t child = fork();
  if (child < 0) return;
  if (child > 0) {
    int status = 0;
    waitpid(child, &status, 0);
    return;
  }
  setsid();
  if (fork() != 0) _exit(0);
  // Hold nothing of the test's: an inherited descriptor on the mount would
  // keep it busy, an inherited pipe would keep ctest waiting.
  close_range(0, ~0U, 0);
  int null_fd = open("/dev/null", O_RDWR);
  dup2(null_fd, 1);
  dup2(null_fd, 2);
  (void)!chdir("/");
  auto deadline = Clock::now() + std::chrono::seconds(deadline_s);
  std::optional<Clock::time_point> dead_since;
  for (;;) {
    std::this_thread::sleep_for(200ms);
    if (access(dir.c_str(), F_OK) != 0) _exit(0);
    bool dying = DeadOrDying(test_pid);
    if (dying && !dead_since) dead_since = Clock::now();
    // Give the daemons of a dead test a moment to unmount on SIGTERM.
    bool act = (dying && Clock::now() - *dead_since > 2s) || Clock::now() > deadline;
    if (!act) continue;
    ForceCleanup(dir);
    if (DeadOrDying(test_pid)) {
      std::this_thread::sleep_for(1s);
      if (MountsUnder(dir).empty()) RemoveTree(dir);
      _exit(0);
    }
    deadline = Clock::now() + 10s;  // test still alive: let it fail and clean up
  }
}

void ExecOrDie(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execv(args[0], args.data());
  _exit(127);
}

void WriteText(const std::string& path, const std::string& text, mode_t mode) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) throw std::runtime_error("cannot write " + path + ": " + strerror(errno));
  if (write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    close(fd);
    throw std::runtime_error("short write to " + path);
  }
  close(fd);
}

}  // namespace

std::string StrongroomBin() {
  if (const char* env = std::getenv("STRONGROOM_BIN"); env && *env) return env;
  return STRONGROOM_BIN;
}

void RequireMountEnvironment() {
  std::string missing;
  if (access("/dev/fuse", R_OK | W_OK) != 0) {
    missing = "/dev/fuse is missing or not accessible";
  } else if (geteuid() != 0) {
    missing = "mounted tests must run as root (they mount with allow_other and switch uids)";
  } else if (access(StrongroomBin().c_str(), X_OK) != 0) {
    missing = "strongroom binary not found at " + StrongroomBin();
  }
  if (missing.empty()) return;
  const char* ci = std::getenv("CI");
  if (ci && std::string(ci) == "true") {
    FAIL("mounted test cannot run in CI: " << missing);
  }
  std::cout << "SKIP: " << missing << " (set CI=true to make this a failure)" << std::endl;
  std::exit(kSkipExitCode);
}

namespace {
CommandResult RunCommandImpl(const Identity* who, const std::vector<std::string>& argv,
                             std::chrono::milliseconds timeout, const std::string& cwd) {
  CommandResult result;
  int out_fd = memfd_create("stdout", MFD_CLOEXEC);
  int err_fd = memfd_create("stderr", MFD_CLOEXEC);
  if (out_fd < 0 || err_fd < 0) throw std::runtime_error("memfd_create failed");
  std::cout.flush();
  std::cerr.flush();
  auto start = Clock::now();
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    setsid();
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (who != nullptr) {
      if (setgroups(0, nullptr) != 0 || setresgid(who->gid, who->gid, who->gid) != 0 ||
          setresuid(who->uid, who->uid, who->uid) != 0) {
        _exit(125);
      }
    }
    if (!cwd.empty() && chdir(cwd.c_str()) != 0) _exit(127);
    int null_fd = open("/dev/null", O_RDONLY);
    dup2(null_fd, 0);
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    ExecOrDie(argv);
  }
  int status = 0;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) break;
    if (Clock::now() - start > timeout) {
      result.timed_out = true;
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(5ms);
  }
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  result.exit_code = StatusToCode(status);
  result.out = ReadFdFromStart(out_fd);
  result.err = ReadFdFromStart(err_fd);
  close(out_fd);
  close(err_fd);
  return result;
}

}  // namespace

CommandResult RunCommand(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                         const std::string& cwd) {
  return RunCommandImpl(nullptr, argv, timeout, cwd);
}

CommandResult RunCommandAs(const Identity& who, const std::vector<std::string>& argv,
                           std::chrono::milliseconds timeout, const std::string& cwd) {
  return RunCommandImpl(&who, argv, timeout, cwd);
}

CommandResult RunStrongroom(const std::vector<std::string>& args, std::chrono::milliseconds timeout,
                            const std::string& cwd) {
  std::vector<std::string> argv{StrongroomBin()};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, timeout, cwd);
}

CommandResult RunStrongroomAs(const Identity& who, const std::vector<std::string>& args,
                              std::chrono::milliseconds timeout, const std::string& cwd) {
  std::vector<std::string> argv{StrongroomBin()};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommandAs(who, argv, timeout, cwd);
}

int RunAs(uid_t uid, gid_t gid, const std::function<int()>& fn, const std::vector<gid_t>& groups) {
  std::cout.flush();
  std::cerr.flush();
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    if (setgroups(groups.size(), groups.empty() ? nullptr : groups.data()) != 0) _exit(125);
    if (setresgid(gid, gid, gid) != 0) _exit(125);
    if (setresuid(uid, uid, uid) != 0) _exit(125);
    int rc = 125;
    try {
      rc = fn();
    } catch (...) {
      rc = 124;
    }
    _exit(rc & 0xff);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return StatusToCode(status);
}

int RunInChild(const std::function<int()>& fn) {
  std::cout.flush();
  std::cerr.flush();
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    int rc = 124;
    try {
      rc = fn();
    } catch (...) {
    }
    _exit(rc & 0xff);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return StatusToCode(status);
}

bool IsMountpoint(const std::string& path) {
  auto all = AllMountpoints();
  return std::find(all.begin(), all.end(), path) != all.end();
}

std::vector<std::string> MountsUnder(const std::string& dir) {
  std::vector<std::string> result;
  for (const auto& m : AllMountpoints()) {
    if (m == dir || m.rfind(dir + "/", 0) == 0) result.push_back(m);
  }
  return result;
}

std::vector<pid_t> ProcessesMentioning(const std::string& needle) {
  std::vector<pid_t> result;
  std::unique_ptr<DIR, int (*)(DIR*)> proc(opendir("/proc"), closedir);
  if (!proc) return result;
  while (dirent* e = readdir(proc.get())) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (*end != '\0' || pid <= 0 || pid == getpid()) continue;
    // Plain read(2): a process that exits meanwhile makes the read fail
    // with ESRCH, which a stream would throw as an exception.
    const int fd = open((std::string("/proc/") + e->d_name + "/cmdline").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    std::string cmdline;
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) cmdline.append(buf, static_cast<size_t>(n));
    close(fd);
    if (cmdline.find(needle) != std::string::npos) result.push_back(static_cast<pid_t>(pid));
  }
  return result;
}

void RemoveTree(const std::string& path) {
  nftw(
      path.c_str(),
      [](const char* p, const struct stat*, int type, FTW*) {
        if (type == FTW_DP) {
          rmdir(p);
        } else {
          unlink(p);
        }
        return 0;
      },
      32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

TempDir::TempDir() {
  char templ[] = "/tmp/strongroom-test.XXXXXX";
  if (!mkdtemp(templ)) throw std::runtime_error("mkdtemp failed");
  path_ = templ;
  chmod(path_.c_str(), 0755);
  WriteText(path_ + "/owner.pid", std::to_string(getpid()) + "\n", 0644);
}

TempDir::~TempDir() {
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto mounts = MountsUnder(path_);
    if (mounts.empty()) break;
    for (auto it = mounts.rbegin(); it != mounts.rend(); ++it) {
      std::cerr << "TempDir: lazily unmounting leftover mount " << *it << std::endl;
      RunCommand({"/bin/umount", "-l", *it}, 10s);
    }
  }
  if (!MountsUnder(path_).empty()) {
    std::cerr << "TempDir: " << path_ << " still has mounts; not removing it" << std::endl;
    return;
  }
  RemoveTree(path_);
}

MountedVault::MountedVault() : MountedVault(Options{}) {}

MountedVault::MountedVault(Options options) : options_(options) {
  RequireMountEnvironment();
  StartWatchdog(root());
  passphrase_ = "correct horse " + RandomHex(12);
  WriteText(passfile(), passphrase_ + "\n", 0600);
  REQUIRE(mkdir(mnt().c_str(), 0755) == 0);
  if (options.init) Init();
  if (options.init && options.mount) Mount();
}

MountedVault::~MountedVault() { Cleanup(); }

std::string MountedVault::Policy(const Identity& who, const std::vector<std::string>& args) {
  std::vector<std::string> argv = args;
  argv.push_back("--mount");
  argv.push_back(mountpoint_.empty() ? mnt() : mountpoint_);
  CommandResult r = RunStrongroomAs(who, argv);
  std::string line = "strongroom";
  for (const auto& a : argv) line += " " + a;
  INFO("as uid " << who.uid << ": " << line << "\nstdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  return r.out;
}

void MountedVault::Init() {
  std::vector<std::string> args{"init",
                                "--passfile",
                                passfile(),
                                "--scrypt-logn",
                                std::to_string(options_.scrypt_logn),
                                "--admin",
                                kAdminName,
                                "--uid",
                                std::to_string(kAdminUid),
                                "--audit-key-out",
                                audit_key(),
                                vault()};
  if (!options_.audit_db.empty()) {
    args.push_back("--audit-db");
    args.push_back(options_.audit_db);
  }
  auto r = RunStrongroom(args);
  INFO("strongroom init stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
}

void MountedVault::Mount() { Mount(passfile(), mnt()); }

void MountedVault::Mount(const std::string& pass_file, const std::string& mountpoint) {
  REQUIRE(daemon_pid_ <= 0);
  REQUIRE_FALSE(IsMountpoint(mountpoint));
  std::string log_path = root() + "/daemon.log";
  int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  REQUIRE(log_fd >= 0);
  std::vector<std::string> argv{StrongroomBin(), "mount",   "--passfile", pass_file, "-f",
                                vault(),         mountpoint};
  if (options_.posix_permissions) argv.push_back("--posix-permissions");
  std::cout.flush();
  std::cerr.flush();
  pid_t parent = getpid();
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // A crashed or killed test must never leave a daemon behind.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(126);
    setsid();
    int null_fd = open("/dev/null", O_RDONLY);
    dup2(null_fd, 0);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    ExecOrDie(argv);
  }
  close(log_fd);
  daemon_pid_ = pid;
  mountpoint_ = mountpoint;

  auto deadline = Clock::now() + 10s;
  for (;;) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      daemon_pid_ = -1;
      FAIL("strongroom mount -f exited with " << StatusToCode(status)
                                              << " before the mount was ready; log:\n"
                                              << DaemonLog());
    }
    if (IsMountpoint(mountpoint)) {
      struct stat mnt_st {};
      struct stat parent_st {};
      if (stat(mountpoint.c_str(), &mnt_st) == 0 &&
          stat((mountpoint + "/..").c_str(), &parent_st) == 0 &&
          mnt_st.st_dev != parent_st.st_dev) {
        if (options_.bootstrap && !bootstrapped_ && mountpoint == mnt()) {
          bootstrapped_ = true;
          Policy(Admin(), {"user", "add", "root", "--uid", "0"});
          Policy(Admin(), {"grant", mnt(), "root", "manage"});
        }
        return;
      }
    }
    if (Clock::now() > deadline) {
      KillDaemon(SIGKILL);
      FAIL("mount did not become ready within 10 s; log:\n" << DaemonLog());
    }
    std::this_thread::sleep_for(10ms);
  }
}

bool MountedVault::WaitDaemon(std::chrono::milliseconds timeout, int* status) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    pid_t r = waitpid(daemon_pid_, status, WNOHANG);
    if (r == daemon_pid_ || (r < 0 && errno == ECHILD)) {
      daemon_pid_ = -1;
      return true;
    }
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
}

void MountedVault::Unmount() {
  REQUIRE(daemon_pid_ > 0);
  CommandResult r;
  for (int attempt = 0; attempt < 50; ++attempt) {
    r = RunCommand({"/usr/bin/fusermount3", "-u", mountpoint_}, 10s);
    if (r.exit_code == 0) break;
    std::this_thread::sleep_for(100ms);  // EBUSY: a child may still hold a file
  }
  INFO("fusermount3 -u: " << r.err);
  CHECK(r.exit_code == 0);
  int status = 0;
  bool exited = WaitDaemon(15s, &status);
  if (!exited) {
    kill(daemon_pid_, SIGKILL);
    WaitDaemon(5s, &status);
    FAIL("daemon did not exit within 15 s of fusermount3 -u; log:\n" << DaemonLog());
  }
  if (IsMountpoint(mountpoint_)) RunCommand({"/bin/umount", "-l", mountpoint_}, 10s);
  INFO("daemon log:\n" << DaemonLog());
  CHECK(StatusToCode(status) == 0);
  REQUIRE_FALSE(IsMountpoint(mountpoint_));
}

int MountedVault::KillDaemon(int sig) {
  if (daemon_pid_ <= 0) return -1;
  kill(daemon_pid_, sig);
  int status = 0;
  if (!WaitDaemon(15s, &status)) {
    kill(daemon_pid_, SIGKILL);
    WaitDaemon(5s, &status);
  }
  return status;
}

std::string MountedVault::DaemonLog() const {
  std::ifstream in(root() + "/daemon.log", std::ios::binary);
  std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  constexpr size_t kMax = 8000;
  if (log.size() > kMax) log = "...\n" + log.substr(log.size() - kMax);
  return log;
}

void MountedVault::Cleanup() noexcept {
  try {
    // Unmount everything below the temp dir (our mountpoint, and any mount a
    // test made with `strongroom mount` in the background).
    auto deadline = Clock::now() + 3s;
    while (!MountsUnder(root()).empty() && Clock::now() < deadline) {
      for (const auto& m : MountsUnder(root())) {
        RunCommand({"/usr/bin/fusermount3", "-u", m}, 10s);
      }
      if (!MountsUnder(root()).empty()) std::this_thread::sleep_for(100ms);
    }
    if (!MountsUnder(root()).empty()) {
      // Still busy (a leaked descriptor) or hung: abort and detach.
      for (const auto& m : MountsUnder(root())) {
        std::cerr << "MountedVault: aborting and detaching busy mount " << m << std::endl;
      }
      ForceCleanup(root());
    }
    if (daemon_pid_ > 0) {
      int status = 0;
      if (!WaitDaemon(10s, &status)) {
        std::cerr << "MountedVault: daemon " << daemon_pid_ << " did not exit; killing"
                  << std::endl;
        kill(daemon_pid_, SIGKILL);
        WaitDaemon(5s, &status);
      }
    }
    // Background daemons started by tests via `strongroom mount` (no -f).
    deadline = Clock::now() + 5s;
    while (!ProcessesMentioning(root()).empty() && Clock::now() < deadline) {
      std::this_thread::sleep_for(20ms);
    }
    for (pid_t pid : ProcessesMentioning(root())) {
      std::cerr << "MountedVault: killing leftover process " << pid << std::endl;
      kill(pid, SIGKILL);
    }
  } catch (...) {
  }
}

std::string RandomHex(size_t bytes) {
  static std::random_device rd;
  static const char* kDigits = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < bytes; ++i) {
    unsigned v = rd() & 0xff;
    s.push_back(kDigits[v >> 4]);
    s.push_back(kDigits[v & 15]);
  }
  return s;
}

std::string RandomBytes(size_t n, std::mt19937_64& rng) {
  std::string s(n, '\0');
  size_t i = 0;
  while (i < n) {
    uint64_t v = rng();
    for (int k = 0; k < 8 && i < n; ++k, ++i) {
      s[i] = static_cast<char>(v & 0xff);
      v >>= 8;
    }
  }
  return s;
}

ReadResult ReadFile(const std::string& path) {
  ReadResult r;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    r.err = errno;
    return r;
  }
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      r.err = errno;
      break;
    }
    if (n == 0) break;
    r.data.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return r;
}

ReadResult PRead(int fd, off_t off, size_t len) {
  ReadResult r;
  r.data.resize(len);
  size_t done = 0;
  while (done < len) {
    ssize_t n = pread(fd, r.data.data() + done, len - done, off + static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      r.err = errno;
      break;
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  r.data.resize(done);
  return r;
}

int WriteFile(const std::string& path, const std::string& data, mode_t mode) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return errno;
  int err = PWriteAll(fd, data, 0);
  if (close(fd) != 0 && err == 0) err = errno;
  return err;
}

int PWriteAll(int fd, const std::string& data, off_t off) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = pwrite(fd, data.data() + done, data.size() - done, off + static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) return EIO;
    done += static_cast<size_t>(n);
  }
  return 0;
}

std::optional<std::vector<DirEntry>> ListDir(const std::string& path, int* err) {
  DIR* d = opendir(path.c_str());
  if (!d) {
    if (err) *err = errno;
    return std::nullopt;
  }
  std::vector<DirEntry> entries;
  errno = 0;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") entries.push_back({name, e->d_type});
    errno = 0;
  }
  int read_err = errno;
  closedir(d);
  if (read_err != 0) {
    if (err) *err = read_err;
    return std::nullopt;
  }
  std::sort(entries.begin(), entries.end(),
            [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
  return entries;
}

std::vector<std::string> Names(const std::vector<DirEntry>& entries) {
  std::vector<std::string> names;
  for (const auto& e : entries) names.push_back(e.name);
  return names;
}

nlohmann::json SendControl(const std::string& mountpoint, const nlohmann::json& request) {
  // /run/strongroom/<first 8 bytes of SHA-256(canonical mountpoint), hex>.sock (docs/control-protocol.md)
  char real[PATH_MAX];
  const std::string canonical = ::realpath(mountpoint.c_str(), real) != nullptr ? real : mountpoint;
  uint8_t digest[32];
  crypto::Sha256(crypto::AsBytes(canonical), digest);
  const std::string path = "/run/strongroom/" + crypto::HexEncode({digest, 8}) + ".sock";
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  REQUIRE(path.size() < sizeof addr.sun_path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  INFO("control socket " << path);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  const std::string line = request.dump() + "\n";
  REQUIRE(::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()));
  ::shutdown(fd, SHUT_WR);
  std::string reply;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) reply.append(buf, static_cast<size_t>(n));
  ::close(fd);
  INFO("reply: " << reply);
  nlohmann::json parsed = nlohmann::json::parse(reply, nullptr, false);
  REQUIRE(parsed.is_object());
  REQUIRE(parsed.value("ok", false));
  return parsed;
}

std::set<std::string> BackingNames(const std::string& dir) {
  std::set<std::string> names;
  auto entries = ListDir(dir);
  REQUIRE(entries);
  for (const auto& e : *entries) names.insert(e.name);
  return names;
}

std::string Locate(const std::string& backing_dir, const std::function<void()>& create) {
  const auto before = BackingNames(backing_dir);
  create();
  std::vector<std::string> added;
  for (const auto& n : BackingNames(backing_dir)) {
    if (!before.count(n)) added.push_back(n);
  }
  INFO("backing entries added in " << backing_dir << ": " << added.size());
  REQUIRE(added.size() == 1);
  return backing_dir + "/" + added[0];
}

std::map<std::string, std::string> SnapshotTree(const std::string& root) {
  std::map<std::string, std::string> snap;
  std::function<void(const std::string&)> walk = [&](const std::string& rel) {
    std::string full = rel.empty() ? root : root + "/" + rel;
    struct stat st {};
    if (lstat(full.c_str(), &st) != 0) {
      snap[rel] = "lstat-error " + std::string(strerror(errno));
      return;
    }
    std::ostringstream desc;
    desc << std::oct << st.st_mode << std::dec << "|" << st.st_uid << ":" << st.st_gid << "|";
    if (S_ISREG(st.st_mode)) {
      auto r = ReadFile(full);
      desc << r.data.size() << "|" << r.err << "|" << r.data;
      snap[rel] = desc.str();
    } else if (S_ISLNK(st.st_mode)) {
      char buf[PATH_MAX];
      ssize_t n = readlink(full.c_str(), buf, sizeof buf);
      desc << "->" << std::string(buf, n > 0 ? static_cast<size_t>(n) : 0);
      snap[rel] = desc.str();
    } else if (S_ISDIR(st.st_mode)) {
      snap[rel] = desc.str() + "dir";
      auto entries = ListDir(full);
      if (!entries) return;
      for (const auto& e : *entries) walk(rel.empty() ? e.name : rel + "/" + e.name);
    } else {
      snap[rel] = desc.str() + "other";
    }
  };
  walk("");
  return snap;
}

}  // namespace strongroom::test
