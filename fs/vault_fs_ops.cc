// VaultFs: operations that create, remove, rename, open and transfer data.
#include <dirent.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "fs/encrypted_file.h"
#include "fs/errno_map.h"
#include "fs/vault_fs.h"
#include "fs/vault_layout.h"

namespace strongroom::fs {
namespace {


// Group ownership of a new object: the directory's group when it is setgid.
gid_t NewGid(const Inode& parent, const Caller& caller) {
  struct stat st;
  if (::fstat(parent.path_fd.get(), &st) == 0 && (st.st_mode & S_ISGID)) return st.st_gid;
  return caller.gid;
}

// True when a backing directory holds nothing but its ID file.
Result<bool> BackingDirEmpty(int dir_fd) {
  DIR* d = ::fdopendir(::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (d == nullptr) return Errno("open directory");
  bool empty = true;
  while (struct dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0 ||
        std::strcmp(e->d_name, kDirIdName) == 0) {
      continue;
    }
    empty = false;
    break;
  }
  ::closedir(d);
  return empty;
}

// The chain of an object below a directory whose chain is `parent`.
std::vector<acl::ObjectId> ChildChain(const std::optional<acl::ObjectId>& id, const std::vector<acl::ObjectId>& parent) {
  std::vector<acl::ObjectId> chain;
  chain.reserve(parent.size() + 1);
  if (id) chain.push_back(*id);
  chain.insert(chain.end(), parent.begin(), parent.end());
  return chain;
}

bool IsAdmin(const acl::PolicySnapshot& policy, uid_t uid) {
  const acl::User* user = policy.FindUser(uid);
  return user != nullptr && user->enabled && user->role == acl::Role::kAdmin;
}

}  // namespace

Result<std::optional<acl::ObjectId>> VaultFs::ObjectIdAt(int dir_fd, const std::string& backing,
                                                         const struct stat& st) {
  if (S_ISREG(st.st_mode)) {
    UniqueFd fd(::openat(dir_fd, backing.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
    if (!fd.valid()) return Errno("open");
    Result<crypto::FileId> id = ReadFileId(fd.get());
    if (!id.ok()) return std::optional<acl::ObjectId>();  // damaged: nothing to retire
    return std::optional<acl::ObjectId>(*id);
  }
  if (S_ISDIR(st.st_mode)) {
    UniqueFd fd(::openat(dir_fd, backing.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) return Errno("open");
    Result<crypto::DirId> id = ReadDirId(fd.get());
    if (!id.ok()) return std::optional<acl::ObjectId>();
    return std::optional<acl::ObjectId>(*id);
  }
  if (S_ISLNK(st.st_mode)) {
    char buf[4096];
    const ssize_t n = ::readlinkat(dir_fd, backing.c_str(), buf, sizeof buf);
    if (n < 0) return Errno("readlink");
    return SymlinkObjectId({buf, static_cast<size_t>(n)});
  }
  return std::optional<acl::ObjectId>();
}

std::optional<acl::ObjectId> VaultFs::ObjectIdOf(const Inode& inode) {
  if (S_ISREG(inode.type)) {
    UniqueFd fd(::open(("/proc/self/fd/" + std::to_string(inode.path_fd.get())).c_str(),
                       O_RDONLY | O_CLOEXEC | O_NONBLOCK));
    if (!fd.valid()) return std::nullopt;
    Result<crypto::FileId> id = ReadFileId(fd.get());
    if (!id.ok()) return std::nullopt;
    return *id;
  }
  if (S_ISLNK(inode.type)) {
    char buf[4096];
    const ssize_t n = ::readlinkat(inode.path_fd.get(), "", buf, sizeof buf);
    if (n < 0) return std::nullopt;
    return SymlinkObjectId({buf, static_cast<size_t>(n)});
  }
  return std::nullopt;
}

Result<std::optional<acl::ObjectId>> VaultFs::ObjectIdFor(const acl::Place& place, int dir_fd,
                                                          const std::string& backing, const struct stat& st) {
  Result<acl::ObjectRow> row = store_->FindObjectAt(place);
  if (row.ok() && row->kind == KindOf(st.st_mode) && RowMacValid(*row)) {
    return std::optional<acl::ObjectId>(row->id);
  }
  return ObjectIdAt(dir_fd, backing, st);
}

Status VaultFs::DropKeyRow(const acl::ObjectId& id) { return store_->DeleteObject(id); }

// Called once an object's last name is gone (its row was marked unlinked
// before): the row and key go now, or when the kernel no longer holds the
// inode open or looked up (see Inode::unlinked).
void VaultFs::RetireFile(const std::shared_ptr<Inode>& inode, const acl::ObjectId& id) {
  if (inode) {
    {
      std::lock_guard lock(inode->open_mu);
      inode->unlinked = true;
      inode->retired_id = id;
    }
    DropIfUnreachable(*inode);
    return;
  }
  Status st = DropKeyRow(id);
  if (!st.ok()) spdlog::error("cannot delete a key row: {}", st.ToString());
}

// Called after the open count or the lookup count of an inode fell; both
// counts are read under open_mu after being lowered, so of two racing
// callers at least one sees both at zero (a second delete is harmless).
std::optional<acl::ObjectId> VaultFs::UnreachableId(Inode& inode) {
  std::lock_guard lock(inode.open_mu);
  if (!inode.unlinked || inode.open_count > 0 || inode.nlookup.load() > 0) return std::nullopt;
  return inode.retired_id;
}

void VaultFs::DropIfUnreachable(Inode& inode) {
  auto id = UnreachableId(inode);
  if (!id) return;
  Status st = DropKeyRow(*id);
  if (!st.ok()) spdlog::error("cannot delete a key row: {}", st.ToString());
}

Result<Entry> VaultFs::Mkdir(uint64_t parent_ino, std::string_view name, mode_t mode, const Caller& caller) {
  auto parent = GetDir(parent_ino);
  if (!parent.ok()) return parent.status();
  {
    // Writers create folders; admins create them anywhere (they still read
    // nothing without a grant from someone else).
    Status allowed = Authorize(caller, *parent, Need::kWrite);
    if (!allowed.ok() && !(allowed.code() == Status::Code::kDenied && IsAdmin(*policy_.Get(), caller.uid))) {
      return AuditOutcome(caller, "mkdir", ChildPath(*parent, name), allowed);
    }
    SR_RETURN_IF_ERROR(AuditOutcome(caller, "mkdir", ChildPath(*parent, name), ProtectedAt(*parent, false, true)));
    SR_RETURN_IF_ERROR(AuditAhead(AuditEntryFor(caller, "mkdir", ChildPath(*parent, name), 0)));
  }
  auto bn = Encode(**parent, name);
  if (!bn.ok()) return bn.status();
  const int pfd = (*parent)->path_fd.get();
  const acl::ObjectRow row = NewRow(acl::ObjectKind::kDirectory, PlaceOf((*parent)->dir_id, name));
  SR_RETURN_IF_ERROR(store_->InsertObject(row));
  Status named = crypto::IsLongName(bn->encoded) ? store_->PutLongName(bn->backing, bn->encoded) : Status::Ok();
  // The directory and its ID file appear together for a lookup, which
  // looks again under places_mu_ when it finds no ID (Intern).
  std::unique_lock places(places_mu_);
  if (!named.ok() || ::mkdirat(pfd, bn->backing.c_str(), 0700) != 0) {
    Status st = named.ok() ? Errno("mkdir") : named;
    places.unlock();
    (void)store_->DeleteObject(row.id);
    return st;
  }
  UniqueFd fd(::openat(pfd, bn->backing.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  Status st = fd.valid() ? WriteDirId(fd.get(), row.id) : Errno("open new directory");
  places.unlock();
  // As on Unix, a directory made in a setgid directory is setgid too.
  struct stat parent_st;
  if (::fstat(pfd, &parent_st) == 0 && (parent_st.st_mode & S_ISGID)) mode |= S_ISGID;
  // chmod through the descriptor we hold: a path call would follow a symlink
  // planted at that name in the meantime.
  if (st.ok() && ::chmod(("/proc/self/fd/" + std::to_string(fd.get())).c_str(), mode & 07777) != 0) {
    st = Errno("chmod");
  }
  if (st.ok() && ::fchownat(fd.get(), "", caller.uid, NewGid(**parent, caller), AT_EMPTY_PATH) != 0) {
    st = Errno("chown");
  }
  struct stat sb;
  if (st.ok() && ::fstat(fd.get(), &sb) != 0) st = Errno("stat");
  if (!st.ok()) {
    ::unlinkat(fd.get(), kDirIdName, 0);
    ::unlinkat(pfd, bn->backing.c_str(), AT_REMOVEDIR);
    (void)store_->DeleteObject(row.id);
    return st;
  }
  auto inode = Intern(std::move(fd), sb, *parent, name, true);
  if (!inode.ok()) return inode.status();
  return MakeEntry(*inode);
}

Result<Entry> VaultFs::Symlink(std::string_view target, uint64_t parent_ino, std::string_view name,
                               const Caller& caller) {
  auto parent = GetDir(parent_ino);
  if (!parent.ok()) return parent.status();
  const std::string path = ChildPath(*parent, name);
  SR_RETURN_IF_ERROR(AuditOutcome(caller, "symlink", path, Authorize(caller, *parent, Need::kWrite)));
  SR_RETURN_IF_ERROR(AuditOutcome(caller, "symlink", path, ProtectedAt(*parent, false, true)));
  auto bn = Encode(**parent, name);
  if (!bn.ok()) return bn.status();
  SR_RETURN_IF_ERROR(AuditAhead(AuditEntryFor(caller, "symlink", path, 0)));
  if (target.empty()) return Status::Io(ENOENT, "empty symlink target");
  if (target.size() > kMaxSymlinkTarget) return Status::Io(ENAMETOOLONG, "symlink target too long");
  const acl::ObjectRow row = NewRow(acl::ObjectKind::kSymlink, PlaceOf((*parent)->dir_id, name));
  auto encoded_target = EncodeSymlinkTarget(keys_.names, row.id, target);
  if (!encoded_target) return Status::Io(EIO, "encrypt symlink target");
  const int pfd = (*parent)->path_fd.get();
  SR_RETURN_IF_ERROR(store_->InsertObject(row));
  Status st = crypto::IsLongName(bn->encoded) ? store_->PutLongName(bn->backing, bn->encoded) : Status::Ok();
  if (st.ok() && ::symlinkat(encoded_target->c_str(), pfd, bn->backing.c_str()) != 0) st = Errno("symlink");
  if (!st.ok()) {  // nothing was created: leave whatever holds that name alone
    (void)store_->DeleteObject(row.id);
    return st;
  }
  UniqueFd fd;
  struct stat sb;
  if (st.ok()) {
    fd = UniqueFd(::openat(pfd, bn->backing.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) st = Errno("open new symlink");
  }
  if (st.ok() && ::fchownat(fd.get(), "", caller.uid, NewGid(**parent, caller), AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0) {
    st = Errno("chown");
  }
  if (st.ok() && ::fstat(fd.get(), &sb) != 0) st = Errno("stat");
  if (!st.ok()) {
    ::unlinkat(pfd, bn->backing.c_str(), 0);
    (void)store_->DeleteObject(row.id);
    return st;
  }
  auto inode = Intern(std::move(fd), sb, *parent, name, true);
  if (!inode.ok()) return inode.status();
  return MakeEntry(*inode);
}

Result<std::string> VaultFs::Readlink(const Caller& caller, uint64_t ino) {
  auto inode = Get(ino);
  if (!inode) return Status::NotFound("stale inode");
  // A symlink's target is a name, not a document: `view` shows it.
  SR_RETURN_IF_ERROR(Authorize(caller, inode, Need::kView));
  return ReadlinkOf(inode);
}

Result<std::string> VaultFs::ReadlinkOf(const std::shared_ptr<Inode>& inode) {
  if (!inode) return Status::NotFound("stale inode");
  if (!S_ISLNK(inode->type)) return Status::Io(EINVAL, "not a symlink");
  char buf[4096];
  const ssize_t n = ::readlinkat(inode->path_fd.get(), "", buf, sizeof buf);
  if (n < 0) return Errno("readlink");
  const std::string_view backing(buf, static_cast<size_t>(n));
  auto id = SymlinkObjectId(backing);
  if (!id) return IntegrityFailure(inode.get(), "symlink target is not an encrypted target");
  Result<acl::ObjectRow> row = LoadBoundRow(*id, *inode, acl::ObjectKind::kSymlink);
  if (!row.ok()) return row.status();
  auto target = DecodeSymlinkTarget(keys_.names, backing);
  if (!target) return IntegrityFailure(inode.get(), "symlink target does not authenticate");
  return *target;
}

Status VaultFs::Unlink(const Caller& caller, uint64_t parent, std::string_view name) {
  return RemoveName(caller, parent, name, false);
}
Status VaultFs::Rmdir(const Caller& caller, uint64_t parent, std::string_view name) {
  return RemoveName(caller, parent, name, true);
}

Status VaultFs::RemoveName(const Caller& caller, uint64_t parent_ino, std::string_view name, bool dir) {
  auto parent = GetDir(parent_ino);
  if (!parent.ok()) return parent.status();
  auto policy = policy_.Get();
  std::vector<acl::ObjectId> parent_chain;
  if (!ChainOf(*parent, *policy, &parent_chain)) return Status::NotFound("no such directory");
  auto bn = Encode(**parent, name);
  if (!bn.ok()) return bn.status().code() == Status::Code::kInvalid ? Status::NotFound("no such name") : bn.status();
  const int pfd = (*parent)->path_fd.get();
  struct stat st;
  if (::fstatat(pfd, bn->backing.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return Errno("stat");
  if (dir && !S_ISDIR(st.st_mode)) return Status::Io(ENOTDIR, "rmdir of a non-directory");
  if (!dir && S_ISDIR(st.st_mode)) return Status::Io(EISDIR, "unlink of a directory");
  const acl::Place place = PlaceOf((*parent)->dir_id, name);
  auto id = ObjectIdFor(place, pfd, bn->backing, st);
  if (!id.ok()) return id.status();
  {
    // Deleting needs write on the object and on its folder.
    const std::vector<acl::ObjectId> chain = ChildChain(*id, parent_chain);
    const std::string path = ChildPath(*parent, name);
    const char* op = dir ? "rmdir" : "unlink";
    SR_RETURN_IF_ERROR(AuditOutcome(caller, op, path, Authorize(caller, *policy, chain, S_ISDIR(st.st_mode), Need::kWrite)));
    SR_RETURN_IF_ERROR(AuditOutcome(caller, op, path, Authorize(caller, *policy, parent_chain, true, Need::kWrite)));
    // Retention and destruction requests protect the object and what is below it.
    SR_RETURN_IF_ERROR(AuditOutcome(caller, op, path, Protected(*policy, chain, true, true)));
    // Written ahead: a removal cannot be undone.
    SR_RETURN_IF_ERROR(AuditAhead(AuditEntryFor(caller, op, path, 0)));
  }
  std::shared_ptr<Inode> inode;
  {
    std::lock_guard lock(table_mu_);
    auto it = by_backing_.find(st.st_ino);
    if (it != by_backing_.end()) inode = inodes_.at(it->second);
  }
  if (dir) {
    UniqueFd dfd(::openat(pfd, bn->backing.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dfd.valid()) return Errno("open directory");
    // Held while the directory has no ID file (see Intern).
    std::unique_lock places(places_mu_);
    Result<bool> empty = BackingDirEmpty(dfd.get());
    if (!empty.ok()) return empty.status();
    if (!*empty) return Status::Io(ENOTEMPTY, "directory not empty");
    // The ID file goes first (rmdir needs an empty backing directory) and
    // comes back if the rmdir fails.
    if (::unlinkat(dfd.get(), kDirIdName, 0) != 0 && errno != ENOENT) return Errno("remove directory ID");
    if (::unlinkat(pfd, bn->backing.c_str(), AT_REMOVEDIR) != 0) {
      Status st2 = Errno("rmdir");
      if (*id) (void)WriteDirId(dfd.get(), **id);
      return st2;
    }
    if (*id) (void)DropKeyRow(**id);
  } else {
    // Write-ahead: the row is marked before the name goes, so a crash in
    // between leaves a mark that the next mount settles.
    Status marked = *id ? MarkUnlinked(**id, KindOf(st.st_mode), place, true) : Status::Ok();
    if (!marked.ok()) {
      // On a full disk the store cannot grow even to record the mark, and
      // deleting files is how space comes back: go ahead unmarked (a crash
      // in the next instant would leave this key row behind for fsck).
      const int err = marked.sys_errno();
      if (marked.code() != Status::Code::kIo || (err != ENOSPC && err != EDQUOT)) return marked;
      spdlog::warn("the policy store is full; deleting a file without its write-ahead mark");
    }
    if (::unlinkat(pfd, bn->backing.c_str(), 0) != 0) {
      Status st2 = Errno("unlink");
      if (*id && marked.ok()) (void)MarkUnlinked(**id, KindOf(st.st_mode), place, false);
      return st2;
    }
    if (*id) RetireFile(inode, **id);
  }
  if (crypto::IsLongName(bn->encoded)) (void)store_->DeleteLongName(bn->backing);
  if (inode) {
    std::lock_guard lock(table_mu_);
    auto b = by_backing_.find(st.st_ino);
    if (b != by_backing_.end() && b->second == inode->ino) by_backing_.erase(b);
    inode->former_parent = std::move(inode->parent);
  }
  if (*id) PolicyObjectsChanged(**id);
  return Status::Ok();
}

Status VaultFs::Rename(const Caller& caller, uint64_t parent_ino, std::string_view name, uint64_t new_parent_ino,
                       std::string_view new_name, unsigned int flags) {
  if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) return Status::Io(EINVAL, "unsupported rename flags");
  if ((flags & RENAME_NOREPLACE) && (flags & RENAME_EXCHANGE)) return Status::Io(EINVAL, "rename flags");
  const bool exchange = flags & RENAME_EXCHANGE;
  auto from_dir = GetDir(parent_ino);
  if (!from_dir.ok()) return from_dir.status();
  auto to_dir = GetDir(new_parent_ino);
  if (!to_dir.ok()) return to_dir.status();
  auto from = Encode(**from_dir, name);
  if (!from.ok()) return from.status().code() == Status::Code::kInvalid ? Status::NotFound("no such name") : from.status();
  auto to = Encode(**to_dir, new_name);
  if (!to.ok()) return to.status();
  const int ffd = (*from_dir)->path_fd.get();
  const int tfd = (*to_dir)->path_fd.get();

  struct stat src_st, dst_st;
  if (::fstatat(ffd, from->backing.c_str(), &src_st, AT_SYMLINK_NOFOLLOW) != 0) return Errno("stat");
  const bool dst_exists = ::fstatat(tfd, to->backing.c_str(), &dst_st, AT_SYMLINK_NOFOLLOW) == 0;
  if (!dst_exists && errno != ENOENT) return Errno("stat");
  if (dst_exists && (flags & RENAME_NOREPLACE)) return Status::Io(EEXIST, "target exists");
  if (!dst_exists && exchange) return Status::Io(ENOENT, "exchange target missing");
  if (dst_exists && dst_st.st_ino == src_st.st_ino) return Status::Ok();
  if (dst_exists && !exchange) {
    if (S_ISDIR(src_st.st_mode) && !S_ISDIR(dst_st.st_mode)) return Status::Io(ENOTDIR, "rename");
    if (!S_ISDIR(src_st.st_mode) && S_ISDIR(dst_st.st_mode)) return Status::Io(EISDIR, "rename");
  }

  const acl::Place src_place = PlaceOf((*from_dir)->dir_id, name);
  const acl::Place dst_place = PlaceOf((*to_dir)->dir_id, new_name);
  auto src_id = ObjectIdFor(src_place, ffd, from->backing, src_st);
  if (!src_id.ok()) return src_id.status();
  std::optional<acl::ObjectId> dst_id;
  if (dst_exists) {
    auto r = ObjectIdFor(dst_place, tfd, to->backing, dst_st);
    if (!r.ok()) return r.status();
    dst_id = *r;
  }
  const bool moving = *from_dir != *to_dir;
  const std::string from_path = ChildPath(*from_dir, name);
  const std::string to_path = ChildPath(*to_dir, new_name);
  Status allowed = [&]() -> Status {
    auto policy = policy_.Get();
    std::vector<acl::ObjectId> from_chain, to_chain;
    if (!ChainOf(*from_dir, *policy, &from_chain) || !ChainOf(*to_dir, *policy, &to_chain)) {
      return Status::NotFound("no such directory");
    }
    const bool admin = IsAdmin(*policy, caller.uid);
    const std::vector<acl::ObjectId> src_chain = ChildChain(*src_id, from_chain);
    SR_RETURN_IF_ERROR(Authorize(caller, *policy, src_chain, S_ISDIR(src_st.st_mode), Need::kSee));
    SR_RETURN_IF_ERROR(Authorize(caller, *policy, to_chain, true, Need::kSee));
    // May the object whose chain is `obj` leave the folder `from` for `to`?
    // Within one folder: write on both; to another: manage on the object,
    // write on the destination, and manage there when its level is lower.
    // Admins rename folders anywhere, but move them only as anyone else:
    // grants travel with objects, so a move could bring a folder under a
    // grant the admin holds (or out from under a label).
    auto may_move = [&](const std::vector<acl::ObjectId>& obj, bool is_dir, const std::vector<acl::ObjectId>& old_parent,
                        const std::vector<acl::ObjectId>& to_parent, const std::optional<acl::ObjectId>& id) -> Status {
      if (admin && is_dir && !moving) return Status::Ok();
      if (!moving) {
        SR_RETURN_IF_ERROR(Authorize(caller, *policy, obj, is_dir, Need::kWrite));
        return Authorize(caller, *policy, old_parent, true, Need::kWrite);
      }
      SR_RETURN_IF_ERROR(Authorize(caller, *policy, obj, is_dir, Need::kManage));
      SR_RETURN_IF_ERROR(Authorize(caller, *policy, to_parent, true, Need::kWrite));
      if (policy->LevelOf(ChildChain(id, to_parent)) < policy->LevelOf(obj)) {
        SR_RETURN_IF_ERROR(Authorize(caller, *policy, to_parent, true, Need::kManage));
      }
      return Status::Ok();
    };
    SR_RETURN_IF_ERROR(may_move(src_chain, S_ISDIR(src_st.st_mode), from_chain, to_chain, *src_id));
    if (dst_exists) {
      const std::vector<acl::ObjectId> dst_chain = ChildChain(dst_id, to_chain);
      Status seen = Authorize(caller, *policy, dst_chain, S_ISDIR(dst_st.st_mode), Need::kSee);
      if (!seen.ok()) return Status::Denied("the target name is taken by something this user may not see");
      if (exchange) {
        SR_RETURN_IF_ERROR(may_move(dst_chain, S_ISDIR(dst_st.st_mode), to_chain, from_chain, dst_id));
      } else {
        // Renaming over an object deletes it.
        SR_RETURN_IF_ERROR(Authorize(caller, *policy, dst_chain, S_ISDIR(dst_st.st_mode), Need::kWrite));
      }
      // A held or frozen target is neither replaced nor moved.
      SR_RETURN_IF_ERROR(Protected(*policy, dst_chain, true, true));
    }
    // Held or frozen objects do not move or change names, and nothing moves
    // into a frozen folder.
    SR_RETURN_IF_ERROR(Protected(*policy, src_chain, true, true));
    SR_RETURN_IF_ERROR(Protected(*policy, to_chain, false, true));
    if (exchange) SR_RETURN_IF_ERROR(Protected(*policy, from_chain, false, true));
    return Status::Ok();
  }();
  if (!allowed.ok()) {
    acl::AuditEntry e = AuditEntryFor(caller, "rename", from_path, ToErrno(allowed));
    e.path2 = to_path;
    e.reason = allowed.message();
    AuditLater(std::move(e));
    return allowed;
  }
  {
    // Written ahead: a rename (over a file) cannot be undone.
    acl::AuditEntry e = AuditEntryFor(caller, "rename", from_path, 0);
    e.path2 = to_path;
    SR_RETURN_IF_ERROR(AuditAhead(std::move(e)));
  }

  // A directory being replaced must be empty; its ID file is set aside.
  UniqueFd dst_dir_fd;
  if (dst_exists && !exchange && S_ISDIR(dst_st.st_mode)) {
    dst_dir_fd = UniqueFd(::openat(tfd, to->backing.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dst_dir_fd.valid()) return Errno("open directory");
    Result<bool> empty = BackingDirEmpty(dst_dir_fd.get());
    if (!empty.ok()) return empty.status();
    if (!*empty) return Status::Io(ENOTEMPTY, "target directory not empty");
  }

  // Write-ahead: the store learns the new places first, keeping the old
  // ones, so a crash at any point leaves every object bound to where it is.
  std::unique_lock places(places_mu_);
  const acl::ObjectKind src_kind = KindOf(src_st.st_mode);
  const acl::ObjectKind dst_kind = dst_exists ? KindOf(dst_st.st_mode) : src_kind;
  const bool replacing = dst_exists && !exchange && dst_id;
  if (*src_id) SR_RETURN_IF_ERROR(Rebind(**src_id, src_kind, dst_place, src_place));
  Status marked;
  if (exchange && dst_id) marked = Rebind(*dst_id, dst_kind, src_place, dst_place);
  if (replacing && !S_ISDIR(dst_st.st_mode)) marked = MarkUnlinked(*dst_id, dst_kind, dst_place, true);
  if (!marked.ok()) {
    if (*src_id) (void)Rebind(**src_id, src_kind, src_place, std::nullopt);
    return marked;
  }
  if (crypto::IsLongName(to->encoded)) (void)store_->PutLongName(to->backing, to->encoded);
  if (exchange && crypto::IsLongName(from->encoded)) (void)store_->PutLongName(from->backing, from->encoded);
  if (dst_dir_fd.valid()) (void)::unlinkat(dst_dir_fd.get(), kDirIdName, 0);

  if (::renameat2(ffd, from->backing.c_str(), tfd, to->backing.c_str(), flags) != 0) {
    Status st = Errno("rename");
    if (*src_id) (void)Rebind(**src_id, src_kind, src_place, std::nullopt);
    if (exchange && dst_id) (void)Rebind(*dst_id, dst_kind, dst_place, std::nullopt);
    if (replacing && !S_ISDIR(dst_st.st_mode)) (void)MarkUnlinked(*dst_id, dst_kind, dst_place, false);
    if (dst_dir_fd.valid() && dst_id) (void)WriteDirId(dst_dir_fd.get(), *dst_id);
    return st;
  }
  // The inodes learn their new places before the rows forget the old ones,
  // all under places_mu_, so a binding check never sees a half-done move. A
  // replaced file's row was marked unlinked above, which is what a check of
  // it (an open racing with this rename) accepts once its place is gone.
  std::shared_ptr<Inode> src_inode, dst_inode;
  {
    std::lock_guard lock(table_mu_);
    auto s = by_backing_.find(src_st.st_ino);
    if (s != by_backing_.end()) src_inode = inodes_.at(s->second);
    if (dst_exists) {
      auto d = by_backing_.find(dst_st.st_ino);
      if (d != by_backing_.end()) dst_inode = inodes_.at(d->second);
    }
    if (src_inode) {
      src_inode->parent = *to_dir;
      src_inode->name = std::string(new_name);
      src_inode->entry_durable = false;
    }
    if (dst_inode && exchange) {
      dst_inode->parent = *from_dir;
      dst_inode->name = std::string(name);
      dst_inode->entry_durable = false;
    } else if (dst_inode) {
      by_backing_.erase(dst_st.st_ino);
      dst_inode->former_parent = std::move(dst_inode->parent);
    }
  }
  if (*src_id) (void)Rebind(**src_id, src_kind, dst_place, std::nullopt);
  if (exchange && dst_id) (void)Rebind(*dst_id, dst_kind, src_place, std::nullopt);
  places.unlock();
  if (!exchange && crypto::IsLongName(from->encoded)) (void)store_->DeleteLongName(from->backing);
  if (replacing) {
    if (S_ISDIR(dst_st.st_mode)) {
      (void)DropKeyRow(*dst_id);
    } else {
      RetireFile(dst_inode, *dst_id);
    }
    PolicyObjectsChanged(*dst_id);
  }
  if (moving && *src_id) PolicyObjectsChanged(**src_id);
  if (moving && exchange && dst_id) PolicyObjectsChanged(*dst_id);
  return Status::Ok();
}

Status VaultFs::OpenData(Inode& inode) {
  if (!S_ISREG(inode.type)) return Status::Io(S_ISDIR(inode.type) ? EISDIR : ELOOP, "open");
  std::lock_guard lock(inode.open_mu);
  if (inode.open_count > 0) {
    ++inode.open_count;
    return Status::Ok();
  }
  // The magic link names exactly the inode our O_PATH descriptor holds; it
  // is not a path lookup an attacker can redirect.
  UniqueFd fd(::open(("/proc/self/fd/" + std::to_string(inode.path_fd.get())).c_str(), O_RDWR | O_CLOEXEC));
  if (!fd.valid()) return Errno("open backing file");
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return Errno("stat");
  if (!S_ISREG(st.st_mode) || st.st_ino != inode.backing_ino) return IntegrityFailure(&inode, "backing file changed type");
  if (st.st_nlink > 1) return IntegrityFailure(&inode, "backing file has more than one link");
  auto plain = crypto::PlainSize(static_cast<uint64_t>(st.st_size));
  if (!plain) return IntegrityFailure(&inode, "ciphertext size is not a valid block layout");
  Result<crypto::FileId> id = ReadFileId(fd.get());
  if (!id.ok()) return IntegrityFailure(&inode, id.status().message());
  Result<acl::ObjectRow> row = LoadBoundRow(*id, inode, acl::ObjectKind::kFile);
  if (!row.ok()) return row.status();
  crypto::SecretKey key;
  if (!crypto::Unwrap(keys_.files, *id, row->wrapped_key, &key) || key.size() != crypto::kDataKeySize) {
    return IntegrityFailure(&inode, "the data key of file " + crypto::HexEncode(*id) + " does not authenticate");
  }
  if (*plain == 0) {
    // An empty file's one block must authenticate: a longer file cut down to
    // its first bytes would otherwise pass for an empty one.
    Status verified = EncryptedFile(fd.get(), key, *id).Verify(0);
    if (!verified.ok()) return IntegrityFailure(&inode, "file " + crypto::HexEncode(*id) + ": " + verified.message());
  }
  inode.data_fd = std::move(fd);
  inode.key = std::move(key);
  inode.file_id = *id;
  {
    std::unique_lock content(inode.content_mu);
    inode.plain_size = *plain;
  }
  inode.open_count = 1;
  return Status::Ok();
}

Status VaultFs::CloseData(Inode& inode) {
  {
    std::lock_guard lock(inode.open_mu);
    if (inode.open_count == 0 || --inode.open_count > 0) return Status::Ok();
    inode.data_fd.Reset();
    inode.key = crypto::SecretKey();  // wipes
  }
  DropIfUnreachable(inode);
  return Status::Ok();
}

Result<std::pair<Entry, Handle*>> VaultFs::Create(uint64_t parent_ino, std::string_view name, mode_t mode,
                                                  int flags, const Caller& caller) {
  auto parent = GetDir(parent_ino);
  if (!parent.ok()) return parent.status();
  const std::string path = ChildPath(*parent, name);
  SR_RETURN_IF_ERROR(AuditOutcome(caller, "create", path, Authorize(caller, *parent, Need::kWrite)));
  SR_RETURN_IF_ERROR(AuditOutcome(caller, "create", path, ProtectedAt(*parent, false, true)));
  auto bn = Encode(**parent, name);
  if (!bn.ok()) return bn.status();
  const int pfd = (*parent)->path_fd.get();
  SR_RETURN_IF_ERROR(AuditAhead(AuditEntryFor(caller, "create", path, 0)));

  acl::ObjectRow row = NewRow(acl::ObjectKind::kFile, PlaceOf((*parent)->dir_id, name));
  crypto::SecretKey key = crypto::SecretKey::Random(crypto::kDataKeySize);
  row.wrapped_key = crypto::Wrap(keys_.files, row.id, key.span());
  SR_RETURN_IF_ERROR(store_->InsertObject(row));
  if (crypto::IsLongName(bn->encoded)) {
    Status st = store_->PutLongName(bn->backing, bn->encoded);
    if (!st.ok()) {
      (void)store_->DeleteObject(row.id);
      return st;
    }
  }
  // The name appears with the header (the file's ID) already written: the
  // file is made unnamed (O_TMPFILE) and linked in when ready, so a lookup
  // racing this create, or a crash, never meets a file without its ID.
  // Where the backing filesystem has no O_TMPFILE, it is made in place.
  UniqueFd fd(::openat(pfd, ".", O_RDWR | O_TMPFILE | O_CLOEXEC, 0600));
  const bool unnamed = fd.valid();
  if (!unnamed) fd = UniqueFd(::openat(pfd, bn->backing.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  int err = fd.valid() ? 0 : errno;
  bool named_here = !unnamed && fd.valid();  // a name this call made, removed if it fails
  Status st = err == 0 ? EncryptedFile::Initialize(fd.get(), key, row.id) : Status::Io(err, "create");
  if (st.ok() && ::fchmod(fd.get(), mode & 07777) != 0) st = Errno("chmod");
  if (st.ok() && ::fchown(fd.get(), caller.uid, NewGid(**parent, caller)) != 0) st = Errno("chown");
  if (st.ok() && unnamed) {
    if (LinkUnnamed(fd.get(), pfd, bn->backing) == 0) {
      named_here = true;
    } else {
      err = errno;
      st = Status::Io(err, "link new file");
    }
  }
  if (err == EEXIST) {
    (void)store_->DeleteObject(row.id);
    if (flags & O_EXCL) return Status::Io(EEXIST, "create");
    // Lost a race with another creator: open what is there.
    auto entry = Lookup(caller, parent_ino, name);
    if (!entry.ok()) {
      if (entry.status().code() != Status::Code::kNotFound) return entry.status();
      return Status::Denied("the name is taken by something this user may not see");
    }
    auto handle = Open(caller, entry->ino, flags);
    if (!handle.ok()) {
      Forget(entry->ino, 1);
      return handle.status();
    }
    return std::make_pair(*entry, *handle);
  }
  UniqueFd path_fd;
  struct stat sb;
  if (st.ok()) {
    path_fd = UniqueFd(::openat(pfd, bn->backing.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!path_fd.valid() || ::fstat(path_fd.get(), &sb) != 0) st = Errno("reopen new file");
  }
  if (!st.ok()) {
    if (named_here) ::unlinkat(pfd, bn->backing.c_str(), 0);
    (void)store_->DeleteObject(row.id);
    return st;
  }
  auto inode = Intern(std::move(path_fd), sb, *parent, name, true);
  if (!inode.ok()) return inode.status();
  {
    std::lock_guard lock((*inode)->open_mu);
    (*inode)->open_count = 1;
    (*inode)->unlinked = false;
    (*inode)->data_fd = std::move(fd);
    (*inode)->key = std::move(key);
    (*inode)->file_id = row.id;
  }
  {
    std::unique_lock lock((*inode)->content_mu);
    (*inode)->plain_size = 0;
  }
  {
    std::lock_guard lock(table_mu_);
    (*inode)->object_id = row.id;
    (*inode)->object_id_known = true;
  }
  auto entry = MakeEntry(*inode);
  if (!entry.ok()) {
    (void)CloseData(**inode);
    return entry.status();
  }
  auto* handle = new Handle{*inode, (flags & O_APPEND) != 0};
  handle->uid = caller.uid;
  handle->write = (flags & O_ACCMODE) != O_RDONLY;
  handle->created = true;
  RefreshHandle(handle, *policy_.Get());
  TrackHandle(handle);
  return std::make_pair(*entry, handle);
}

Result<Handle*> VaultFs::Open(const Caller& caller, uint64_t ino, int flags) {
  auto inode = Get(ino);
  if (!inode) return Status::NotFound("stale inode");
  const bool write = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
  auto policy = policy_.Get();
  std::vector<acl::ObjectId> chain;
  if (!ChainOf(inode, *policy, &chain)) return Status::NotFound("no name any more");
  const acl::Viewer* viewer = nullptr;
  Status allowed = write ? Authorize(caller, *policy, chain, false, Need::kWrite)
                         : AuthorizeRead(caller, *policy, chain, &viewer);
  // A `view` user's read open is recorded as "view", allowed or refused.
  const bool view_mode = viewer != nullptr || (!allowed.ok() && allowed.message().rfind("copy refused", 0) == 0);
  const std::string access = write ? "write" : view_mode ? "view" : "read";
  const std::string path = VaultPathOf(inode);
  SR_RETURN_IF_ERROR(AuditOutcome(caller, "open", path, allowed, access));
  if (write) {
    SR_RETURN_IF_ERROR(AuditOutcome(caller, "open", path, Protected(*policy, chain, true, true), access));
  } else if (auto p = policy->ProtectionOf(chain, Now(), false, true); p && p->executing) {
    // Its key is about to go: nothing new reads it.
    SR_RETURN_IF_ERROR(AuditOutcome(caller, "open", path, Protected(*policy, chain, false, true), access));
  }
  if (flags & O_TRUNC) SR_RETURN_IF_ERROR(AuditAhead(AuditEntryFor(caller, "truncate", path, 0)));
  {
    acl::AuditEntry e = AuditEntryFor(caller, "open", path, 0);
    e.access = access;
    if (viewer != nullptr) e.reason = "viewer " + viewer->label;
    AuditLater(std::move(e));
  }
  SR_RETURN_IF_ERROR(OpenData(*inode));
  if (flags & O_TRUNC) {  // Linux truncates even with O_RDONLY
    // libfuse enables atomic O_TRUNC: the kernel sends no separate truncate.
    Status st;
    {
      std::unique_lock lock(inode->content_mu);
      EncryptedFile file(inode->data_fd.get(), inode->key, inode->file_id);
      st = file.Truncate(0, &inode->plain_size);
    }
    if (!st.ok()) {
      (void)CloseData(*inode);
      return st;
    }
  }
  auto* handle = new Handle{inode, (flags & O_APPEND) != 0};
  handle->uid = caller.uid;
  handle->write = write;
  handle->view = viewer != nullptr;
  if (viewer != nullptr) handle->viewer = viewer->sha256;
  RefreshHandle(handle, *policy);
  TrackHandle(handle);
  return handle;
}

Result<size_t> VaultFs::Read(Handle* handle, uint64_t offset, std::span<uint8_t> out) {
  SR_RETURN_IF_ERROR(CheckHandle(handle));
  Inode& inode = *handle->inode;
  std::shared_lock lock(inode.content_mu);
  if (inode.destroyed.load()) return Status::Io(EIO, "the file's key was destroyed");
  EncryptedFile file(inode.data_fd.get(), inode.key, inode.file_id);
  Result<size_t> n = file.Read(offset, out, inode.plain_size);
  if (!n.ok() && n.status().code() == Status::Code::kIntegrity) {
    return IntegrityFailure(&inode, "file " + crypto::HexEncode(inode.file_id) + ": " + n.status().message());
  }
  return n;
}

Result<size_t> VaultFs::Write(Handle* handle, uint64_t offset, std::span<const uint8_t> data) {
  SR_RETURN_IF_ERROR(CheckHandle(handle));
  SR_RETURN_IF_ERROR(CheckWritable(handle));
  Inode& inode = *handle->inode;
  std::unique_lock lock(inode.content_mu);
  if (inode.destroyed.load()) return Status::Io(EIO, "the file's key was destroyed");
  if (handle->append) offset = inode.plain_size;
  EncryptedFile file(inode.data_fd.get(), inode.key, inode.file_id);
  Status st = file.Write(offset, data, &inode.plain_size);
  if (!st.ok()) {
    if (st.code() == Status::Code::kIntegrity) {
      return IntegrityFailure(&inode, "file " + crypto::HexEncode(inode.file_id) + ": " + st.message());
    }
    return st;
  }
  return data.size();
}

Result<size_t> VaultFs::CopyFileRange(const Caller& caller, Handle* in, Handle* out) {
  if (in->view) {
    acl::AuditEntry e = AuditEntryFor(caller, "copy_file_range", VaultPathOf(in->inode), EACCES);
    e.path2 = VaultPathOf(out->inode);
    e.access = "view";
    e.reason = "copy refused: copy_file_range out of a view-only file";
    AuditLater(std::move(e));
    return Status::Denied("copy refused: copy_file_range out of a view-only file");
  }
  // Not ENOSYS, which would make the kernel stop asking (and copy out of
  // view handles too, through reads it cannot tell from the viewer's own).
  return Status::Io(EOPNOTSUPP, "copy_file_range: copied through reads and writes");
}

// Makes the names leading to `inode` durable: every entry created or moved
// since the last sync, and the ID file of every new directory on the way.
Status VaultFs::SyncEntries(Inode& inode) {
  std::vector<std::shared_ptr<Inode>> chain;  // inodes whose entries are not yet durable
  {
    std::lock_guard lock(table_mu_);
    for (Inode* n = &inode; n != nullptr && n->parent && !n->entry_durable; n = n->parent.get()) {
      auto it = inodes_.find(n->ino);
      if (it != inodes_.end()) chain.push_back(it->second);
    }
  }
  for (auto& n : chain) {
    if (S_ISDIR(n->type)) {
      UniqueFd id(::openat(n->path_fd.get(), kDirIdName, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
      if (id.valid() && ::fdatasync(id.get()) != 0) return Errno("fsync directory ID");
      UniqueFd self(::openat(n->path_fd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (self.valid() && ::fsync(self.get()) != 0) return Errno("fsync directory");
    }
    std::shared_ptr<Inode> parent;
    {
      std::lock_guard lock(table_mu_);
      parent = n->parent;
    }
    if (parent) {
      UniqueFd fd(::openat(parent->path_fd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!fd.valid()) return Errno("open directory");
      if (::fsync(fd.get()) != 0) return Errno("fsync directory");
    }
    std::lock_guard lock(table_mu_);
    n->entry_durable = true;  // only once synced, so a failed sync is retried
  }
  return Status::Ok();
}

Status VaultFs::Fsync(Handle* handle, bool datasync) {
  Inode& inode = *handle->inode;
  if ((datasync ? ::fdatasync(inode.data_fd.get()) : ::fsync(inode.data_fd.get())) != 0) return Errno("fsync");
  SR_RETURN_IF_ERROR(SyncEntries(inode));
  return store_->SyncDurable();
}

Status VaultFs::Release(Handle* handle) {
  std::unique_ptr<Handle> owned(handle);
  Inode& inode = *owned->inode;
  {
    std::lock_guard lock(inode.open_mu);
    std::erase(inode.handles, handle);
    inode.volatile_attrs.store(
        std::any_of(inode.handles.begin(), inode.handles.end(), [](const Handle* h) { return h->revoked.load(); }));
  }
  return CloseData(inode);
}

void VaultFs::TrackHandle(Handle* handle) {
  std::lock_guard lock(handle->inode->open_mu);
  handle->inode->handles.push_back(handle);
}

double VaultFs::AttrTimeout(uint64_t ino) {
  auto inode = Get(ino);
  return inode && inode->volatile_attrs.load() ? 0.0 : options_.attr_timeout;
}

Status VaultFs::Fallocate(Handle* handle, int mode, uint64_t offset, uint64_t length) {
  if (mode != 0) return Status::Io(EOPNOTSUPP, "fallocate mode");
  if (!handle->write) return Status::Io(EBADF, "handle not open for writing");
  SR_RETURN_IF_ERROR(CheckHandle(handle));
  SR_RETURN_IF_ERROR(CheckWritable(handle));
  Inode& inode = *handle->inode;
  std::unique_lock lock(inode.content_mu);
  if (inode.destroyed.load()) return Status::Io(EIO, "the file's key was destroyed");
  if (offset + length <= inode.plain_size) return Status::Ok();
  EncryptedFile file(inode.data_fd.get(), inode.key, inode.file_id);
  return file.Truncate(offset + length, &inode.plain_size);
}

// Holes are stored as encrypted zeros, so the whole file is data.
Result<uint64_t> VaultFs::Lseek(Handle* handle, uint64_t offset, int whence) {
  SR_RETURN_IF_ERROR(CheckHandle(handle));
  Inode& inode = *handle->inode;
  std::shared_lock lock(inode.content_mu);
  if (offset >= inode.plain_size) return Status::Io(ENXIO, "seek past the end");
  if (whence == SEEK_DATA) return offset;
  if (whence == SEEK_HOLE) return inode.plain_size;
  return Status::Io(EINVAL, "lseek whence");
}

Result<std::vector<DirEntry>> VaultFs::ReadDir(const Caller& caller, uint64_t ino) {
  auto dir = GetDir(ino);
  if (!dir.ok()) return dir.status();
  auto policy = policy_.Get();
  std::vector<acl::ObjectId> chain;
  if (!ChainOf(*dir, *policy, &chain)) return Status::NotFound("no such directory");
  const std::string path = VaultPathOf(*dir);
  SR_RETURN_IF_ERROR(AuditOutcome(caller, "opendir", path, Authorize(caller, *policy, chain, true, Need::kList)));
  {
    acl::AuditEntry e = AuditEntryFor(caller, "opendir", path, 0);
    e.access = "list";
    AuditLater(std::move(e));
  }
  // Every entry is shown when the user sees the folder's content and no
  // policy below it can hide one; otherwise each entry is decided.
  const acl::Decision here = policy->Decide(caller.uid, chain, Now());
  const bool show_all = here.effective() >= acl::Mode::kView && !policy->PolicyBelow(chain.front());
  DIR* d = ::fdopendir(::openat((*dir)->path_fd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (d == nullptr) return Errno("opendir");
  std::vector<DirEntry> out;
  size_t damaged = 0;
  while (struct dirent* e = ::readdir(d)) {
    const std::string_view backing = e->d_name;
    if (backing == kDirIdName) continue;
    const mode_t type = DTTOIF(e->d_type);
    if (backing == "." || backing == "..") {
      out.push_back({std::string(backing), e->d_ino, type});
      continue;
    }
    auto name = Decode((*dir)->dir_id, e->d_name);
    if (!name) {
      // A long-named entry may have been removed (with its long-name row)
      // since the listing read it; only an entry still there is damaged.
      struct stat st;
      if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0) ++damaged;
      continue;
    }
    if (!show_all) {
      Result<acl::ObjectRow> row = store_->FindObjectAt(PlaceOf((*dir)->dir_id, *name));
      std::optional<acl::ObjectId> id;
      bool is_dir = type == S_IFDIR;
      if (row.ok() && RowMacValid(*row)) {
        id = row->id;
        is_dir = row->kind == acl::ObjectKind::kDirectory;
      }
      if (!Authorize(caller, *policy, ChildChain(id, chain), is_dir, Need::kSee).ok()) continue;
    }
    out.push_back({std::move(*name), e->d_ino, type});
  }
  ::closedir(d);
  if (damaged > 0) {
    IntegrityFailure(dir->get(), std::to_string(damaged) + " names in a directory do not authenticate");
  }
  return out;
}

Status VaultFs::FsyncDir(uint64_t ino) {
  auto dir = GetDir(ino);
  if (!dir.ok()) return dir.status();
  UniqueFd fd(::openat((*dir)->path_fd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return Errno("open directory");
  if (::fsync(fd.get()) != 0) return Errno("fsync directory");
  SR_RETURN_IF_ERROR(SyncEntries(**dir));
  return store_->SyncDurable();
}

Result<struct statvfs> VaultFs::StatFs(const Caller& caller) {
  const acl::User* user = policy_.Get()->FindUser(caller.uid);
  if (user == nullptr || !user->enabled) return Status::Denied("unknown or disabled user");
  struct statvfs sv;
  if (::fstatvfs(root_fd_.get(), &sv) != 0) return Errno("statfs");
  sv.f_namemax = crypto::kMaxNameLength;
  return sv;
}

}  // namespace strongroom::fs
