// Shared fixture and helpers for the mounted end-to-end tests.
//
// MountedVault owns one temporary directory /tmp/strongroom-test.XXXXXX with
//   passfile        the vault passphrase (one line)
//   vault/          the backing directory made by `strongroom init`
//   mnt/            the mountpoint
//   daemon.log      stdout/stderr of every daemon this fixture started
//   owner.pid       pid of the test process (read by cleanup_mounts.sh)
// It runs `strongroom mount -f` as a child process that gets SIGTERM if the
// test process dies, waits until the mount is live, and on destruction
// unmounts, reaps the daemon and removes the directory.  A detached watchdog
// process (outside ctest's process tree) aborts the FUSE connections and
// removes the directory if the test process dies or is being killed (ctest's
// TIMEOUT) while a deadlocked daemon keeps it stuck in a FUSE request, or
// after STRONGROOM_TEST_TIMEOUT seconds (default 900).  Not thread-safe: use
// one fixture from one thread.
//
// Every helper that runs code as another uid (RunAs) or runs a command
// (RunCommand) forks; the child never touches Catch2 state.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

namespace strongroom::test {

// ctest treats this exit code as "skipped" (SKIP_RETURN_CODE).
inline constexpr int kSkipExitCode = 77;

// The strongroom binary under test (STRONGROOM_BIN at compile time, or the
// environment variable STRONGROOM_BIN if set, for running a copy elsewhere).
std::string StrongroomBin();

// Mounted tests need /dev/fuse, root and the binary.  When something is
// missing: in CI (CI=true) the current test fails; elsewhere the process exits
// with kSkipExitCode, which ctest reports as skipped.
void RequireMountEnvironment();

struct CommandResult {
  int exit_code = -1;  // exit status, or 128 + signal number
  bool timed_out = false;
  std::string out;
  std::string err;
  double seconds = 0;
};

// Runs argv (argv[0] is a path) with stdin from /dev/null in a new session (so
// it can never prompt on a terminal).  Output is captured in memory files, so a
// daemon that inherits them cannot block the caller.  The child is killed
// after `timeout`.
// `cwd`, if not empty, is the child's working directory.
CommandResult RunCommand(const std::vector<std::string>& argv,
                         std::chrono::milliseconds timeout = std::chrono::seconds(60),
                         const std::string& cwd = "");

// Runs `strongroom args...`.
CommandResult RunStrongroom(const std::vector<std::string>& args,
                            std::chrono::milliseconds timeout = std::chrono::seconds(60),
                            const std::string& cwd = "");

// Who runs a command: a uid and gid (no supplementary groups).
struct Identity {
  uid_t uid = 0;
  gid_t gid = 0;
};
// Like RunCommand / RunStrongroom, as `who` (setgroups, setresgid, setresuid
// in the child before exec).
CommandResult RunCommandAs(const Identity& who, const std::vector<std::string>& argv,
                           std::chrono::milliseconds timeout = std::chrono::seconds(60),
                           const std::string& cwd = "");
CommandResult RunStrongroomAs(const Identity& who, const std::vector<std::string>& args,
                              std::chrono::milliseconds timeout = std::chrono::seconds(60),
                              const std::string& cwd = "");

// The vault's first admin in every fixture (`init --admin`), and the uid
// that holds it. Root (uid 0) is added as a user with `manage` on the
// vault's root by this admin when the fixture bootstraps.
inline constexpr char kAdminName[] = "sr-admin";
inline constexpr uid_t kAdminUid = 4200;

// Forks; the child sets its supplementary groups (setgroups, empty list
// allowed), then setresgid and setresuid, runs fn and _exits with its return
// value.  Returns that value, 128 + signal if the child was killed, or 125 if
// switching identity failed.  Convention in these tests: fn returns 0 on
// success or the errno of the failing call.
int RunAs(uid_t uid, gid_t gid, const std::function<int()>& fn,
          const std::vector<gid_t>& groups = {});

// Forks and runs fn in the child with unchanged identity; returns its status
// like RunAs.  For "another process" tests.
int RunInChild(const std::function<int()>& fn);

// True if `path` is a mountpoint according to /proc/self/mountinfo (never
// touches the filesystem itself, so a dead FUSE daemon cannot block it).
bool IsMountpoint(const std::string& path);

// Mountpoints listed in /proc/self/mountinfo that are `dir` or lie below it.
std::vector<std::string> MountsUnder(const std::string& dir);

// Pids (other than this process) whose command line mentions `needle`.
std::vector<pid_t> ProcessesMentioning(const std::string& needle);

// Removes a directory tree without crossing into other filesystems and
// without following symlinks.  Best effort.
void RemoveTree(const std::string& path);

// Temporary directory /tmp/strongroom-test.XXXXXX (mode 0755), removed on
// destruction (after lazily unmounting anything still mounted inside it).
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class MountedVault {
 public:
  struct Options {
    bool init = true;   // run `strongroom init`
    bool mount = true;  // and mount it
    int scrypt_logn = 12;
    // After the first mount: user `root` (uid 0) with `manage` on the root,
    // given by the admin, so tests running as root may do everything.
    bool bootstrap = true;
    // Mount with --posix-permissions (the kernel checks mode bits too).
    bool posix_permissions = false;
    // init --audit-db PATH (default: the audit log inside the vault).
    std::string audit_db;
  };

  MountedVault();
  explicit MountedVault(Options options);
  ~MountedVault();
  MountedVault(const MountedVault&) = delete;
  MountedVault& operator=(const MountedVault&) = delete;

  const std::string& root() const { return dir_.path(); }
  std::string vault() const { return root() + "/vault"; }
  std::string tree() const { return vault() + "/tree"; }
  std::string mnt() const { return root() + "/mnt"; }
  std::string passfile() const { return root() + "/passfile"; }
  // The auditors' initial audit key (init --audit-key-out), for audit verify.
  std::string audit_key() const { return root() + "/audit-initial.key"; }
  const std::string& passphrase() const { return passphrase_; }
  // Path of `rel` inside the mount.
  std::string Path(const std::string& rel) const { return mnt() + "/" + rel; }

  // Runs `strongroom init`; REQUIREs success.
  void Init();
  // Runs a policy command (`strongroom ARGS... --mount MNT`) as `who`;
  // REQUIREs success and returns stdout.
  std::string Policy(const Identity& who, const std::vector<std::string>& args);
  // The admin's and root's identities.
  static Identity Admin() { return {kAdminUid, kAdminUid}; }
  static Identity Root() { return {0, 0}; }
  // Starts `strongroom mount -f` (with `passfile`, default this vault's) on
  // `mountpoint` (default mnt()) and REQUIREs that the mount becomes live
  // within 10 s.
  void Mount();
  void Mount(const std::string& passfile, const std::string& mountpoint);
  // Unmounts with fusermount3 -u and REQUIREs the daemon to exit with 0.
  void Unmount();
  bool mounted() const { return daemon_pid_ > 0; }
  pid_t daemon_pid() const { return daemon_pid_; }
  // Sends `sig` to the daemon and reaps it (the mount stays, stale, after
  // SIGKILL).  Returns the wait status.
  int KillDaemon(int sig);
  // Everything the daemons wrote to stdout/stderr so far.
  std::string DaemonLog() const;

 private:
  void Cleanup() noexcept;
  bool WaitDaemon(std::chrono::milliseconds timeout, int* status);

  TempDir dir_;
  std::string passphrase_;
  std::string mountpoint_;
  pid_t daemon_pid_ = -1;
  Options options_;
  bool bootstrapped_ = false;
};

// ---- small file helpers (no Catch2 inside; errors as errno) ----

std::string RandomHex(size_t bytes);
std::string RandomBytes(size_t n, std::mt19937_64& rng);

struct ReadResult {
  int err = 0;  // 0 or errno
  std::string data;
};
// Reads the whole file (open + read loop).
ReadResult ReadFile(const std::string& path);
// pread up to `len` bytes at `off` (loops until len or EOF).
ReadResult PRead(int fd, off_t off, size_t len);
// Creates/truncates and writes; returns 0 or errno.
int WriteFile(const std::string& path, const std::string& data, mode_t mode = 0644);
// pwrite everything; returns 0 or errno.
int PWriteAll(int fd, const std::string& data, off_t off);

struct DirEntry {
  std::string name;
  unsigned char type;  // DT_*
};
// Directory entries except "." and "..", sorted by name; nullopt + errno on error.
std::optional<std::vector<DirEntry>> ListDir(const std::string& path, int* err = nullptr);
std::vector<std::string> Names(const std::vector<DirEntry>& entries);

// Sends one request to the daemon serving `mountpoint` over its control
// socket, bypassing the CLI (test-only commands such as test.clock), and
// returns the reply, which must say ok.
nlohmann::json SendControl(const std::string& mountpoint, const nlohmann::json& request);

// The names in a backing directory (a vault's encrypted tree).
std::set<std::string> BackingNames(const std::string& dir);
// Runs `create`, which must add exactly one entry to the backing directory
// `backing_dir`, and returns the backing path of that new entry.
std::string Locate(const std::string& backing_dir, const std::function<void()>& create);

// Snapshot of a directory tree: relative path -> "type|mode|size|content or
// link target".  Used to prove that a command modified nothing.
std::map<std::string, std::string> SnapshotTree(const std::string& root);

// Backing layout arithmetic (docs/cli-contract.md, issue 2).
inline constexpr size_t kBlockSize = 4096;

}  // namespace strongroom::test
