// strongroom mount / umount: unlock a vault and serve it with FUSE.
#include <fcntl.h>
#include <grp.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <thread>

#include "acl/audit_log.h"
#include "acl/store.h"
#include "crypto/primitives.h"
#include "fs/control_server.h"
#include "fs/fuse_bridge.h"
#include "fs/vault_fs.h"
#include "tools/cli_error.h"
#include "tools/commands.h"
#include "tools/daemon_log.h"
#include "tools/mount_helper.h"
#include "tools/mounts.h"
#include "tools/service_notify.h"
#include "tools/vault_files.h"

namespace strongroom::tools {
namespace {

namespace stdfs = std::filesystem;

// The systemd credential read when neither --passfile nor --credential is given.
constexpr char kDefaultCredential[] = "strongroom-passphrase";

// True when the FUSE mount on `mp` has lost its daemon. statfs always goes
// to the daemon (stat may be answered from the kernel's attribute cache).
bool IsStaleMount(const std::string& mp) {
  struct statfs sf;
  return ::statfs(mp.c_str(), &sf) != 0 && errno == ENOTCONN;
}

void DetachStale(const std::string& mp) {
  spdlog::warn("{} is a stale mount left by a stopped daemon; detaching it", mp);
  if (::umount2(mp.c_str(), MNT_DETACH) != 0) {
    Fail(kConflict, "cannot detach the stale mount at " + mp + ": " + std::strerror(errno));
  }
}

// Resolves MOUNTPOINT; a stale FUSE mount there (its daemon killed) is
// detached so that it can be used again.
std::string PrepareMountpoint(const std::string& arg) {
  std::error_code ec;
  const std::string abs = stdfs::absolute(arg, ec).lexically_normal().string();
  std::string mp = abs.size() > 1 && abs.back() == '/' ? abs.substr(0, abs.size() - 1) : abs;
  struct stat st;
  if (::stat(mp.c_str(), &st) != 0) {
    if (errno != ENOTCONN) Fail(kNotFound, "mountpoint " + arg + " not found");
    DetachStale(mp);
    if (::stat(mp.c_str(), &st) != 0) Fail(kNotFound, "mountpoint " + arg + " not found");
  }
  if (!S_ISDIR(st.st_mode)) Fail(kUsage, "mountpoint " + arg + " is not a directory");
  mp = stdfs::canonical(mp, ec).string();
  if (FindMount(mp)) {
    if (!IsStaleMount(mp)) Fail(kConflict, "something is already mounted on " + mp);
    DetachStale(mp);
  }
  return mp;
}

void RaiseFileLimit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
  rlimit want = lim;
  want.rlim_max = std::max<rlim_t>(lim.rlim_max, 1 << 20);
  want.rlim_cur = want.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &want) != 0) {
    lim.rlim_cur = lim.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &lim);
  }
}

// The kernel caps a FUSE mount's readahead at 128 KiB, so sequential reads
// arrive as 128 KiB requests; 1 MiB (the largest request libfuse takes)
// quarters the round trips. Read from mountinfo: a stat of the mountpoint
// here would wait on this very daemon, which is not serving yet.
void RaiseReadahead(const std::string& mountpoint) {
  auto mount = FindMount(mountpoint);
  if (!mount) return;
  std::ofstream ra("/sys/class/bdi/" + mount->devno + "/read_ahead_kb");
  ra << 1024 << std::endl;
  if (!ra) spdlog::debug("cannot raise the readahead of {}", mountpoint);
}

// Where the passphrase comes from: --passfile, --credential NAME (a file in
// the directory systemd's LoadCredential= fills), the default credential when
// the service has one, else "" (ask on the terminal).
std::string PassphraseFile(const MountOptions& opts) {
  if (!opts.passfile.empty()) return opts.passfile;
  const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
  const bool have_dir = dir != nullptr && *dir != '\0';
  if (!opts.credential.empty()) {
    if (opts.credential.find('/') != std::string::npos || opts.credential == "." || opts.credential == "..") {
      Fail(kUsage, "bad credential name '" + opts.credential + "'");
    }
    if (!have_dir) {
      Fail(kNotFound, "no credential " + opts.credential +
                          ": $CREDENTIALS_DIRECTORY is not set (LoadCredential= in the unit sets it)");
    }
    const std::string path = std::string(dir) + "/" + opts.credential;
    if (::access(path.c_str(), F_OK) != 0) Fail(kNotFound, "no credential " + opts.credential + " in " + dir);
    return path;
  }
  if (have_dir) {
    const std::string path = std::string(dir) + "/" + kDefaultCredential;
    if (::access(path.c_str(), F_OK) == 0) return path;
  }
  return "";
}

// Reports the daemon's start-up result to the waiting parent: one byte of
// exit code, then the message.
void ReportToParent(int fd, ExitCode code, const std::string& message) {
  if (fd < 0) return;
  std::string msg(1, static_cast<char>(code));
  msg += message;
  (void)!::write(fd, msg.data(), msg.size());
  ::close(fd);
}

// The daemon proper: everything after the keys are unlocked. Runs in the
// foreground process or in the forked child; `ready_fd` is the pipe to the
// parent (or -1).
int Serve(const VaultPaths& paths, const std::string& mountpoint, crypto::VaultKeys keys,
          const std::string& vault_id, const MountOptions& opts, int ready_fd) {
  const crypto::SecretKey text_key = PolicyTextKey(keys);
  Result<std::unique_ptr<acl::Store>> store = acl::OpenSqliteStore(paths.store(), vault_id, &text_key);
  if (!store.ok()) Fail(ExitCodeFor(store.status()), "the policy store " + paths.store() + ": " + store.status().message());
  fs::UniqueFd tree(::open(paths.tree().c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!tree.valid()) Fail(kIntegrity, "the vault's tree directory is missing: " + paths.tree());
  // The audit log: in the vault, or where init --audit-db put it.
  std::string audit_path = paths.audit();
  if (Result<std::string> where = (*store)->GetMeta("audit_db"); where.ok() && !where->empty()) audit_path = *where;
  Result<std::unique_ptr<acl::AuditLog>> audit =
      acl::OpenAuditLog(audit_path, vault_id, acl::AuditKeys::From(keys.audit));
  if (!audit.ok()) Fail(ExitCodeFor(audit.status()), audit.status().message());
  fs::Options fs_options;
  fs_options.posix_permissions = opts.posix_permissions;
  if (opts.entry_timeout >= 0) {
    spdlog::warn("--unsafe-entry-timeout {}: names looked up by one user may be shown to another", opts.entry_timeout);
    fs_options.entry_timeout = opts.entry_timeout;
  }
  spdlog::debug("starting the daemon for {} (pid {}, posix permissions {})", paths.dir, ::getpid(),
                opts.posix_permissions ? "on" : "off");
  fs::VaultFs vault(fs_options, std::move(keys), std::move(*store), std::move(tree));
  vault.SetAuditDbPath(audit_path);
#ifndef STRONGROOM_BENCH_NO_AUDIT
  vault.SetAuditLog(audit->get());
#else
  spdlog::warn("this daemon was built for benchmarks and records nothing in the audit log");
#endif
  Status st = vault.Start();
  if (!st.ok()) Fail(st);
  // View-only mode needs the viewer group the vault was made with.
  if (auto policy = vault.policy(); policy && policy->viewer_group()) {
    const acl::ViewerGroup& want = *policy->viewer_group();
    const struct group* g = ::getgrgid(static_cast<gid_t>(want.gid));
    if (g == nullptr) {
      spdlog::warn("the viewer group {} (gid {}) no longer exists: no viewer can open view files", want.name, want.gid);
    } else if (want.name != g->gr_name) {
      spdlog::warn("the viewer group's gid {} is now called {}, not {}", want.gid, g->gr_name, want.name);
    }
  }
  auto record = [&](const char* op, const std::string& reason) {
    acl::AuditEntry e = acl::ProcessEntry(op, reason);
    e.path2 = mountpoint;
    return (*audit)->Append(std::move(e));
  };
  if (Result<std::string> durability = vault.GetSetting("audit-durability"); durability.ok() && *durability == "power-loss") {
    st = (*audit)->SetPowerLossDurability(true);
    if (!st.ok()) {
      vault.Stop();
      Fail(kInternal, "cannot set the audit log's durability: " + st.message());
    }
  }
  if (Result<std::string> limit = vault.GetSetting("audit-segment-size"); limit.ok() && !limit->empty()) {
    char* end = nullptr;
    const unsigned long long bytes = std::strtoull(limit->c_str(), &end, 10);
    if (end != nullptr && *end == '\0') (*audit)->SetSegmentLimit(bytes);
  }
  st = record("mount", "mounted on " + mountpoint);
  if (!st.ok()) {
    vault.Stop();
    Fail(kInternal, "cannot write the audit log " + audit_path + ": " + st.message());
  }
  // Destructions a stop or crash interrupted are finished before anyone
  // can use the vault, and the mount says so.
  std::string notice;
  for (const auto& [id, result] : vault.ResumeDestructions()) {
    if (result.ok()) {
      notice += "Finished destruction request " + std::to_string(id) +
                ", which a stop or crash had interrupted (strongroom destroy certificate " + std::to_string(id) + ")\n";
    } else if (id != 0) {
      notice += "Could not finish destruction request " + std::to_string(id) + ": " + result.message() +
                " (its files stay frozen; the next mount tries again)\n";
    } else {
      notice += "Could not look for interrupted destructions: " + result.message() + "\n";
    }
  }
  if (!notice.empty()) {
    spdlog::warn("{}", notice.substr(0, notice.size() - 1));
    if (ready_fd < 0) std::cout << notice << std::flush;
  }

  // The control socket is up before the mount appears, so a command run as
  // soon as the mount is there finds it.
  fs::ControlServer control(&vault, mountpoint);
  st = control.Start();
  if (!st.ok()) {
    vault.Stop();
    Fail(kInternal, "cannot open the control socket: " + st.message());
  }

  fs::MountConfig config;
  config.mountpoint = mountpoint;
  config.fsname = kSourcePrefix + paths.dir;
  config.allow_other = ::geteuid() == 0;
  config.extra_options = opts.fuse_options;
  auto session = fs::FuseSession::Mount(&vault, config);
  if (!session.ok()) {
    control.Stop();
    vault.Stop();
    Fail(kInternal, session.status().message());
  }
  vault.StartExpiryWatch();
  spdlog::info("mounted {} on {}", paths.dir, mountpoint);
  NotifyReady("Mounted " + paths.dir + " on " + mountpoint);
  if (!crypto::SecretsLocked()) spdlog::warn("key memory could not be locked (RLIMIT_MEMLOCK); keys may be swapped");
  RaiseReadahead(mountpoint);
  if (ready_fd >= 0) {
    ReportToParent(ready_fd, kOk, notice);
    const int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, 0);
    ::dup2(null, 1);
    ::dup2(null, 2);
    if (null > 2) ::close(null);
  }
  st = (*session)->Serve();
  NotifyStopping();
  spdlog::debug("stopping: unmounting {}", mountpoint);
  control.Stop();
  vault.StopExpiryWatch();
  (*session)->Unmount();
  session->reset();
  vault.Stop();
  (void)record("unmount", "unmounted from " + mountpoint);
  (void)(*audit)->Flush();
  spdlog::info("unmounted {}", mountpoint);
  if (!st.ok()) {
    spdlog::error("{}", st.ToString());
    return kInternal;
  }
  return kOk;
}

}  // namespace

void RunMount(const MountOptions& opts) {
  const spdlog::level::level_enum log_level = ParseLogLevel(opts.log_level);
  ::umask(0);
  const VaultPaths paths = FindVault(opts.vault);
  const std::string mountpoint = PrepareMountpoint(opts.mountpoint);

  // One mount per vault: the lock is held by the daemon for its lifetime.
  const int lock_fd = ::open(paths.lock().c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (lock_fd < 0) Fail(kIntegrity, "cannot open the vault lock " + paths.lock() + ": " + std::strerror(errno));
  if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    Fail(kConflict, "the vault " + paths.dir + " is already mounted");
  }
  // A rekey a crash cut short is finished (or dropped) before unlocking.
  {
    ConfigLock config_lock(paths);
    FinishPendingRekey(paths);
  }
  const crypto::VaultConfig config = LoadConfig(paths);

  // The log file is opened here, before the fork, so that a bad path is
  // this command's error rather than a daemon's that nobody sees.
  std::shared_ptr<spdlog::sinks::sink> log_file;
  if (!opts.log_file.empty()) log_file = OpenLogFile(opts.log_file);

  if (!opts.key_file.empty() && !opts.credential.empty()) Fail(kUsage, "give --credential or --key-file, not both");
  Result<crypto::VaultKeys> keys =
      UnlockVault(config, opts.key_file.empty() ? PassphraseFile(opts) : opts.passfile, opts.key_file);
  // The daemon needs the subkeys only: the master key goes, and so does the
  // key schedule that unwrapping them left in this thread's cipher context.
  keys->master = crypto::SecretKey();
  crypto::gcm::ForgetThreadKeys();

  RaiseFileLimit();

  if (opts.foreground) {
    InstallDaemonLogger(false, std::move(log_file), log_level);
    const int rc = Serve(paths, mountpoint, std::move(keys).value(), config.vault_id(), opts, -1);
    if (rc != kOk) Fail(static_cast<ExitCode>(rc), "the daemon stopped with an error");
    return;
  }

  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) Fail(kInternal, "pipe failed");
  const pid_t pid = ::fork();
  if (pid < 0) Fail(kInternal, "fork failed");
  if (pid > 0) {
    ::close(pipefd[1]);
    std::string reply;
    char buf[512];
    ssize_t n;
    while ((n = ::read(pipefd[0], buf, sizeof buf)) > 0) reply.append(buf, static_cast<size_t>(n));
    ::close(pipefd[0]);
    // A daemon that failed to start has exited (or is exiting): wait for it,
    // so that its hold on the vault's lock is gone when we return.
    const auto reap = [pid] {
      int status = 0;
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
    };
    if (reply.empty()) {
      reap();
      Fail(kInternal, "the daemon died while starting");
    }
    const auto code = static_cast<ExitCode>(reply[0]);
    if (code != kOk) {
      reap();
      Fail(code, reply.substr(1));
    }
    std::cout << "Mounted " << paths.dir << " on " << mountpoint << "\n" << reply.substr(1);
    return;
  }

  // Child: the daemon.
  ::close(pipefd[0]);
  ::setsid();
  (void)!::chdir("/");
  crypto::RelockSecrets();
  InstallDaemonLogger(true, std::move(log_file), log_level);
  int rc;
  try {
    rc = Serve(paths, mountpoint, std::move(keys).value(), config.vault_id(), opts, pipefd[1]);
  } catch (const CliError& e) {
    ReportToParent(pipefd[1], e.code(), e.what());
    spdlog::error("{}", e.what());
    rc = e.code();
  }
  ::_exit(rc);
}

void RunMountHelper(const MountHelperCall& call) {
  if (call.fake) return;
  // Already mounted from this vault (a second `mount -a`): nothing to do,
  // as mount(8) does for the filesystems it recognises itself.
  std::error_code ec;
  std::string mp = stdfs::absolute(call.mount.mountpoint, ec).lexically_normal().string();
  if (mp.size() > 1 && mp.back() == '/') mp.pop_back();
  auto mount = FindMount(mp);
  if (!mount) mount = FindMount(mp = stdfs::weakly_canonical(mp, ec).string());
  if (mount && mount->fstype == kStrongroomFsType && !IsStaleMount(mp) &&
      mount->source == kSourcePrefix + FindVault(call.mount.vault).dir) {
    if (call.verbose) std::cout << call.mount.vault << " is already mounted on " << mp << "\n";
    return;
  }
  RunMount(call.mount);
}

void RunUmount(const std::string& arg) {
  std::error_code ec;
  std::string mp = stdfs::absolute(arg, ec).lexically_normal().string();
  if (mp.size() > 1 && mp.back() == '/') mp.pop_back();
  auto mount = FindMount(mp);
  if (!mount) {
    mp = stdfs::weakly_canonical(mp, ec).string();
    mount = FindMount(mp);
  }
  if (!mount || mount->fstype != kStrongroomFsType) Fail(kNotMounted, "no strongroom vault is mounted on " + arg);
  if (IsStaleMount(mp)) {
    if (::umount2(mp.c_str(), MNT_DETACH) != 0) Fail(kInternal, "cannot detach " + mp + ": " + std::strerror(errno));
    std::cout << "Detached the stale mount on " << mp << "\n";
    return;
  }
  if (::geteuid() == 0) {
    if (::umount2(mp.c_str(), 0) != 0) {
      if (errno == EBUSY) Fail(kConflict, mp + " is busy (files are open there)");
      Fail(kInternal, "cannot unmount " + mp + ": " + std::strerror(errno));
    }
  } else {
    // Not root: the setuid helper unmounts (no shell: the path is an argument).
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::execlp("fusermount3", "fusermount3", "-u", "--", mp.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    int status = 0;
    if (pid < 0 || ::waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      Fail(kConflict, "cannot unmount " + mp + " (busy, or not yours)");
    }
  }
  // Wait for the daemon to finish (it releases the vault lock when done).
  if (mount->source.rfind(kSourcePrefix, 0) == 0) {
    const std::string lock = mount->source.substr(std::strlen(kSourcePrefix)) + "/strongroom.lock";
    const int fd = ::open(lock.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
      for (int i = 0; i < 600 && ::flock(fd, LOCK_EX | LOCK_NB) != 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      ::close(fd);
    }
  }
  std::cout << "Unmounted " << mp << "\n";
}

}  // namespace strongroom::tools
