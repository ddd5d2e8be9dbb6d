#include "fs/viewer_gate.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <string_view>
#include <vector>

#include "crypto/primitives.h"

namespace strongroom::fs {
namespace {

// Digests kept; the cache is emptied when it grows past this (a few
// viewers and the programs refused recently are all it needs).
constexpr size_t kMaxCached = 1024;
// Threads whose status was read recently; emptied when it grows past this.
constexpr size_t kMaxThreads = 4096;
// A viewer larger than this is not hashed (refused).
constexpr off_t kMaxProgramSize = off_t{1} << 30;

Status Refused(const std::string& why) { return Status::Denied("copy refused: " + why); }

// The value of the first "Key:\t..." line of a /proc status text.
std::string_view Field(std::string_view text, std::string_view key) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    if (line.size() > key.size() && line.substr(0, key.size()) == key && line[key.size()] == ':') {
      line.remove_prefix(key.size() + 1);
      while (!line.empty() && (line.front() == '\t' || line.front() == ' ')) line.remove_prefix(1);
      return line;
    }
    pos = end + 1;
  }
  return {};
}

// The first number of a field ("Gid:\t1000\t1000\t..." -> 1000); -1 if none.
int64_t FirstNumber(std::string_view v) {
  int64_t n = -1;
  const char* end = v.data() + v.size();
  const char* p = v.data();
  while (p < end && (*p < '0' || *p > '9')) ++p;
  if (p == end) return -1;
  std::from_chars(p, end, n);
  return n;
}

}  // namespace

ViewerGate::ViewerGate() : proc_(::open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC)) {}

uint64_t ViewerGate::hashes() const {
  std::lock_guard lock(mu_);
  return hashes_;
}

ViewerGate::FileKey ViewerGate::KeyOf(const struct stat& st) {
  return FileKey{st.st_dev, st.st_ino, st.st_ctim.tv_sec, st.st_ctim.tv_nsec, st.st_size};
}

Result<acl::Sha256Digest> Sha256OfFile(int fd) {
  crypto::Sha256Stream sha;
  std::vector<uint8_t> buf(1 << 20);
  off_t off = 0;
  for (;;) {
    const ssize_t n = ::pread(fd, buf.data(), buf.size(), off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::Io(errno, "read the program");
    if (n == 0) break;
    sha.Update({buf.data(), static_cast<size_t>(n)});
    off += n;
  }
  acl::Sha256Digest out;
  sha.Final(out.data());
  return out;
}

Result<acl::Sha256Digest> ViewerGate::DigestOf(int proc_dir, const struct stat& st) {
  const FileKey key = KeyOf(st);
  {
    std::lock_guard lock(mu_);
    auto it = cache_.find(key);
    if (it != cache_.end()) return it->second;
  }
  if (st.st_size > kMaxProgramSize) return Status::Io(EFBIG, "the program is too large to hash");
  UniqueFd exe(::openat(proc_dir, "exe", O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  struct stat opened;
  if (!exe.valid() || ::fstat(exe.get(), &opened) != 0) return Status::Io(errno, "open the program");
  if (KeyOf(opened).Tie() != key.Tie()) return Status::Io(EAGAIN, "the program changed while it was checked");
  Result<acl::Sha256Digest> digest = Sha256OfFile(exe.get());
  if (!digest.ok()) return digest;
  // Changed while it was read: the digest may mix two versions.
  struct stat after;
  if (::fstat(exe.get(), &after) != 0) return Status::Io(errno, "stat the program");
  if (KeyOf(after).Tie() != key.Tie()) return Status::Io(EAGAIN, "the program changed while it was hashed");
  std::lock_guard lock(mu_);
  ++hashes_;
  if (cache_.size() >= kMaxCached) cache_.clear();
  cache_.emplace(key, *digest);
  return digest;
}

Status ViewerGate::Check(pid_t tid, gid_t request_gid, const acl::PolicySnapshot& policy,
                         const acl::Viewer** viewer) {
  *viewer = nullptr;
  if (tid <= 0) return Refused("the request names no process (pid 0)");
  const std::optional<acl::ViewerGroup>& group = policy.viewer_group();
  if (!group || policy.data().viewers.empty()) return Refused("this vault has no allow-listed viewer");
  if (!proc_.valid()) return Refused("/proc is not available to check the program");
  UniqueFd dir(::openat(proc_.get(), std::to_string(tid).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) return Refused("the calling thread " + std::to_string(tid) + " is gone");
  // The program, for the messages (the link's text; nothing is followed).
  auto program = [&dir]() -> std::string {
    char buf[4096];
    const ssize_t n = ::readlinkat(dir.get(), "exe", buf, sizeof buf);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string("(unknown program)");
  };
  if (request_gid != group->gid) {
    return Refused(program() + " is not an allow-listed viewer (it does not run setgid to the viewer group " +
                   group->name + ")");
  }
  // Not dumpable: the kernel makes a non-dumpable thread's /proc entries
  // root's (task_dump_owner), which is what a setgid exec leaves. Checked
  // on every open (a program may make itself dumpable at any time); the
  // link's inode names this thread (a new thread reusing the id gets new
  // /proc inodes).
  struct stat link;
  if (::fstatat(dir.get(), "exe", &link, AT_SYMLINK_NOFOLLOW) != 0) {
    return Refused("the calling thread " + std::to_string(tid) + " has no program");
  }
  if (link.st_uid != 0) {
    return Refused(program() + " is dumpable: its user could trace it or preload code into it (a viewer keeps "
                   "the group its setgid bit gave it)");
  }
  // Not traced, and its real group is not the viewer group: from
  // /proc/TID/status, read again at most kThreadRecheck after the last time
  // for this thread (reading it costs more than the rest of the check).
  const auto now = std::chrono::steady_clock::now();
  bool fresh = false;
  {
    std::lock_guard lock(mu_);
    auto it = threads_.find(tid);
    fresh = it != threads_.end() && it->second.link_ino == link.st_ino && now - it->second.checked < kThreadRecheck &&
            it->second.real_gid != group->gid;
  }
  if (!fresh) {
    UniqueFd status(::openat(dir.get(), "status", O_RDONLY | O_CLOEXEC));
    char buf[4096];
    const ssize_t n = status.valid() ? ::read(status.get(), buf, sizeof buf) : -1;
    if (n <= 0) return Refused("cannot read the status of thread " + std::to_string(tid));
    const std::string_view text(buf, static_cast<size_t>(n));
    const int64_t tracer = FirstNumber(Field(text, "TracerPid"));
    if (tracer != 0) {
      return Refused(program() + " is being traced" + (tracer > 0 ? " (by pid " + std::to_string(tracer) + ")" : ""));
    }
    const int64_t real_gid = FirstNumber(Field(text, "Gid"));
    if (real_gid < 0 || static_cast<uint64_t>(real_gid) == group->gid) {
      return Refused(program() + " runs with the viewer group as its real group (not gained through a setgid viewer)");
    }
    std::lock_guard lock(mu_);
    if (threads_.size() >= kMaxThreads) threads_.clear();
    threads_[tid] = ThreadFacts{link.st_ino, static_cast<gid_t>(real_gid), now};
  }
  // The executable, through the magic link (never by path): stat first, and
  // opened only to hash it when its digest is not cached.
  struct stat st;
  if (::fstatat(dir.get(), "exe", &st, 0) != 0) return Refused("the calling thread " + std::to_string(tid) + " has no program");
  if (!S_ISREG(st.st_mode) || st.st_uid != 0 || st.st_gid != group->gid || !(st.st_mode & S_ISGID) ||
      (st.st_mode & (S_IWGRP | S_IWOTH))) {
    return Refused(program() + " is not an allow-listed viewer (not owned by root and setgid to the viewer group " +
                   group->name + ")");
  }
  Result<acl::Sha256Digest> digest = DigestOf(dir.get(), st);
  if (!digest.ok()) return Refused(program() + ": " + digest.status().message());
  const acl::Viewer* found = policy.FindViewer(*digest);
  if (found == nullptr) {
    const std::string path = program();
    if (policy.FindViewerByPath(path) != nullptr) {
      return Refused(path + " changed since it was allow-listed (an admin must add it again)");
    }
    return Refused(path + " is not an allow-listed viewer");
  }
  *viewer = found;
  return Status::Ok();
}

}  // namespace strongroom::fs
