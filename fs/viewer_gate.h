// ViewerGate: whether the thread behind a filesystem request runs an
// allow-listed viewer program (PRODUCT.md, "View-only mode";
// docs/threat-model.md §7c). A user whose mode on a file is `view` may open
// it, read-only, only from such a program.
//
// What is checked, cheapest first, for the thread `tid` the kernel names in
// the request (the FUSE header's pid is the calling thread's id):
//   - there is a thread (pid 0: the caller is in another pid namespace, or
//     the request came from the kernel itself);
//   - the request's group (the caller's fsgid) is the vault's viewer group;
//   - the thread is not dumpable: /proc/TID/status is owned by root, which
//     the kernel does for a process that gained its group through a setgid
//     exec (so the loader ignored LD_PRELOAD and its user cannot ptrace it
//     or read /proc/PID/mem);
//   - it is not traced (TracerPid in /proc/TID/status) and its real group
//     is not the viewer group. Reading the status file costs more than all
//     the rest, so it is read again for a thread only kThreadRecheck after
//     the last time (every other check runs on every open): only root can
//     attach to a thread that is not dumpable, and a tracer root attaches
//     to a viewer that already opened files is noticed within that time;
//   - its executable, reached through /proc/TID/exe (never by path), is a
//     regular file owned by root, setgid to the viewer group and writable
//     by nobody else, whose SHA-256 is on the allow-list (hashed from a
//     descriptor opened through that link).
// Digests are cached by (device, inode, ctime, size): a binary changed in
// place gets a new ctime however its mtime is set back, so it is hashed
// again and refused until it is re-added; repeat opens cost no hashing.
//
// Thread-safe.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <unordered_map>
#include <mutex>
#include <string>
#include <tuple>

#include "acl/decision.h"
#include "crypto/status.h"
#include "fs/unique_fd.h"

namespace strongroom::fs {

class ViewerGate {
 public:
  ViewerGate();

  // Ok when thread `tid`, whose request carried group `request_gid`, runs
  // an allow-listed viewer of `policy` (`*viewer` then names it); else
  // kDenied with a one-line reason starting "copy refused: " and naming the
  // program.
  Status Check(pid_t tid, gid_t request_gid, const acl::PolicySnapshot& policy, const acl::Viewer** viewer);

  // How many digests were computed (not answered from the cache).
  uint64_t hashes() const;

 private:
  struct FileKey {
    dev_t dev;
    ino_t ino;
    int64_t ctime_sec;
    int64_t ctime_nsec;
    off_t size;
    auto Tie() const { return std::tie(dev, ino, ctime_sec, ctime_nsec, size); }
    bool operator<(const FileKey& o) const { return Tie() < o.Tie(); }
  };
  static FileKey KeyOf(const struct stat& st);
  // The digest of the executable of the thread whose /proc directory is
  // `proc_dir` (its stat is `st`), from the cache, or opened through
  // /proc/TID/exe and hashed; kIo when it cannot be read or changes.
  Result<acl::Sha256Digest> DigestOf(int proc_dir, const struct stat& st);

  // A thread's status as last read: not traced, and its real group.
  struct ThreadFacts {
    ino_t link_ino;  // of /proc/TID/exe: another thread with the same id has another
    gid_t real_gid;
    std::chrono::steady_clock::time_point checked;
  };
  static constexpr std::chrono::milliseconds kThreadRecheck{100};

  UniqueFd proc_;  // /proc, O_PATH
  mutable std::mutex mu_;
  std::map<FileKey, acl::Sha256Digest> cache_;     // guarded by mu_
  std::unordered_map<pid_t, ThreadFacts> threads_;  // guarded by mu_
  uint64_t hashes_ = 0;                            // guarded by mu_
};

// The digest of a whole file read through `fd` from offset 0.
Result<acl::Sha256Digest> Sha256OfFile(int fd);

}  // namespace strongroom::fs
