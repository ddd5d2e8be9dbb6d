#include "fs/vault_backup.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "acl/audit_log.h"
#include "fs/unique_fd.h"
#include "fs/vault_fs.h"

namespace strongroom::fs {
namespace {

Status Err(const std::string& what, const std::string& name) {
  const int err = errno;
  return Status::Io(err, what + " " + name + ": " + std::strerror(err));
}

// Owner, mode and times of `st` onto the open `fd`.
Status CopyMetadata(int fd, const struct stat& st, const std::string& name) {
  if (::fchown(fd, st.st_uid, st.st_gid) != 0 && errno != EPERM) return Err("chown", name);
  if (::fchmod(fd, st.st_mode & 07777) != 0) return Err("chmod", name);
  const timespec times[2] = {st.st_atim, st.st_mtim};
  if (::futimens(fd, times) != 0) return Err("set times of", name);
  return Status::Ok();
}

Status CopyFile(int src_dir, int dst_dir, const char* name, const struct stat& st, const std::string& path,
                BackupStats* stats) {
  UniqueFd in(::openat(src_dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!in.valid()) return Err("open", path);
  UniqueFd out(::openat(dst_dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!out.valid()) return Err("create", path);
  std::vector<char> buf(1 << 20);
  for (;;) {
    const ssize_t n = ::read(in.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Err("read", path);
    if (n == 0) break;
    for (ssize_t done = 0; done < n;) {
      const ssize_t w = ::write(out.get(), buf.data() + done, static_cast<size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return Err("write", path);
      done += w;
    }
    stats->bytes += static_cast<uint64_t>(n);
  }
  SR_RETURN_IF_ERROR(CopyMetadata(out.get(), st, path));
  if (::fsync(out.get()) != 0) return Err("sync", path);
  ++stats->files;
  return Status::Ok();
}

Status CopyDir(int src_dir, int dst_dir, const std::string& path, BackupStats* stats,
               const std::function<void(const BackupStats&)>& progress, int depth) {
  if (depth > 4096) return Status::Integrity("the tree is nested too deep at " + path);
  const int list_fd = ::openat(src_dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (list_fd < 0) return Err("open", path);
  DIR* dir = ::fdopendir(list_fd);
  if (dir == nullptr) {
    ::close(list_fd);
    return Err("list", path);
  }
  std::vector<std::string> names;
  errno = 0;
  while (const dirent* e = ::readdir(dir)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) names.emplace_back(e->d_name);
  }
  const int list_err = errno;
  ::closedir(dir);
  if (list_err != 0) {
    errno = list_err;
    return Err("list", path);
  }
  for (const std::string& name : names) {
    const std::string sub = path + "/" + name;
    struct stat st;
    if (::fstatat(src_dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return Err("stat", sub);
    if (S_ISREG(st.st_mode)) {
      SR_RETURN_IF_ERROR(CopyFile(src_dir, dst_dir, name.c_str(), st, sub, stats));
      if (progress) progress(*stats);
    } else if (S_ISDIR(st.st_mode)) {
      if (::mkdirat(dst_dir, name.c_str(), 0700) != 0) return Err("create", sub);
      UniqueFd from(::openat(src_dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!from.valid()) return Err("open", sub);
      UniqueFd to(::openat(dst_dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!to.valid()) return Err("open", sub);
      SR_RETURN_IF_ERROR(CopyDir(from.get(), to.get(), sub, stats, progress, depth + 1));
      SR_RETURN_IF_ERROR(CopyMetadata(to.get(), st, sub));
      if (::fsync(to.get()) != 0) return Err("sync", sub);
      ++stats->dirs;
    } else if (S_ISLNK(st.st_mode)) {
      std::vector<char> target(static_cast<size_t>(st.st_size) + 2);
      const ssize_t n = ::readlinkat(src_dir, name.c_str(), target.data(), target.size());
      if (n < 0 || static_cast<size_t>(n) >= target.size()) return Err("read link", sub);
      target[static_cast<size_t>(n)] = '\0';
      if (::symlinkat(target.data(), dst_dir, name.c_str()) != 0) return Err("create link", sub);
      if (::fchownat(dst_dir, name.c_str(), st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) != 0 && errno != EPERM) {
        return Err("chown", sub);
      }
      const timespec times[2] = {st.st_atim, st.st_mtim};
      if (::utimensat(dst_dir, name.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) return Err("set times of", sub);
      ++stats->symlinks;
    } else {
      return Status::Integrity("a special file in the vault's tree: " + sub);
    }
  }
  return Status::Ok();
}

}  // namespace

Status CopyBackingTree(int src_dir, const std::string& dst, BackupStats* stats,
                       const std::function<void(const BackupStats&)>& progress) {
  struct stat st;
  if (::fstatat(src_dir, "", &st, AT_EMPTY_PATH) != 0) return Err("stat", "the tree");
  if (::mkdir(dst.c_str(), 0700) != 0) return Err("create", dst);
  UniqueFd to(::open(dst.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!to.valid()) return Err("open", dst);
  SR_RETURN_IF_ERROR(CopyDir(src_dir, to.get(), "tree", stats, progress, 0));
  SR_RETURN_IF_ERROR(CopyMetadata(to.get(), st, dst));
  if (::fsync(to.get()) != 0) return Err("sync", dst);
  return Status::Ok();
}

}  // namespace strongroom::fs

// ---- VaultFs::BackupTo (declared in fs/vault_fs.h) ----

namespace strongroom::fs {

Status VaultFs::BackupTo(const std::string& dest, BackupStats* stats) {
  // Changes in flight finish first; new ones wait until the copy is done.
  const auto pause = PauseChanges();
  SR_RETURN_IF_ERROR(store_->BackupTo(dest + "/strongroom.db"));
  if (audit_ != nullptr) SR_RETURN_IF_ERROR(audit_->BackupTo(dest));
  return CopyBackingTree(root_fd_.get(), dest + "/tree", stats);
}

}  // namespace strongroom::fs
