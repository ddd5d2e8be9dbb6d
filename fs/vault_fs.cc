#include "fs/vault_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <cstring>
#include <map>

#include "acl/certificate.h"
#include "fs/encrypted_file.h"
#include "fs/vault_layout.h"

namespace strongroom::fs {
namespace {

std::string ProcFdPath(int fd) { return "/proc/self/fd/" + std::to_string(fd); }


std::string IdHex(std::span<const uint8_t> id) { return crypto::HexEncode(id); }

bool IsZero(const acl::ObjectId& id) {
  for (uint8_t b : id) {
    if (b != 0) return false;
  }
  return true;
}

}  // namespace

VaultFs::VaultFs(Options options, crypto::VaultKeys keys, std::unique_ptr<acl::Store> store,
                 UniqueFd root_fd)
    : options_(options),
      keys_(std::move(keys)),
      certificate_key_(acl::CertificateMacKey(keys_.certificates)),
      names_(keys_.names.Clone()),
      store_(std::move(store)),
      root_fd_(std::move(root_fd)) {
  store_->policy().SetSealer(PolicySealerFor(keys_.rows));
}

VaultFs::~VaultFs() {
  StopExpiryWatch();
  {
    std::lock_guard lock(exec_mu_);
    exec_stop_ = true;
  }
  exec_stopping_.store(true);
  exec_cv_.notify_all();
  if (exec_thread_.joinable()) exec_thread_.join();
}

Status VaultFs::IntegrityFailure(const Inode* inode, const std::string& what) const {
  spdlog::error("integrity failure{}: {}",
                inode != nullptr ? fmt::format(" (inode {})", inode->ino) : std::string(), what);
  if (audit_ != nullptr) {
    acl::AuditEntry e;
    e.op = "integrity";
    e.result = EIO;
    e.reason = what;
    audit_->AppendAsync(std::move(e));
  }
  return Status::Integrity(what);
}

Result<crypto::DirId> VaultFs::ReadDirId(int dir_fd, bool quiet_if_missing) const {
  UniqueFd fd(::openat(dir_fd, kDirIdName, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
  if (!fd.valid()) {
    if (errno == ENOENT && quiet_if_missing) return Status::NotFound("directory ID file is missing");
    if (errno == ENOENT || errno == ELOOP) return IntegrityFailure(nullptr, "directory ID file is missing");
    return Errno("open directory ID");
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return Errno("stat directory ID");
  crypto::DirId id;
  // An empty one is being written by a mkdir (which holds places_mu_), on a
  // backing filesystem without O_TMPFILE (WriteDirId).
  if (quiet_if_missing && S_ISREG(st.st_mode) && st.st_size == 0) return Status::NotFound("directory ID file is empty");
  if (!S_ISREG(st.st_mode) || st.st_size != static_cast<off_t>(id.size()) ||
      ::pread(fd.get(), id.data(), id.size(), 0) != static_cast<ssize_t>(id.size())) {
    return IntegrityFailure(nullptr, "directory ID file is malformed");
  }
  return id;
}

acl::Place VaultFs::PlaceOf(const crypto::DirId& dir, std::string_view name) const {
  return PlaceFor(keys_.binding, dir, name);
}

Result<VaultFs::BackingName> VaultFs::Encode(const Inode& dir, std::string_view name) const {
  return EncodeIn(dir.dir_id, name);
}

Result<VaultFs::BackingName> VaultFs::EncodeIn(const crypto::DirId& dir_id, std::string_view name) const {
  if (name.size() > crypto::kMaxNameLength) return Status::Io(ENAMETOOLONG, "name too long");
  auto encoded = names_.Encrypt(dir_id, name);
  if (!encoded) return Status::Invalid("invalid name");
  BackingName out;
  out.backing = crypto::IsLongName(*encoded) ? crypto::LongBackingName(*encoded) : *encoded;
  out.encoded = std::move(*encoded);
  return out;
}

std::optional<std::string> VaultFs::Decode(const crypto::DirId& dir, const std::string& backing) {
  if (!crypto::IsLongBackingName(backing)) return names_.Decrypt(dir, backing);
  Result<std::string> full = store_->GetLongName(backing);
  if (!full.ok()) return std::nullopt;
  return names_.Decrypt(dir, *full);
}

std::shared_ptr<Inode> VaultFs::Get(uint64_t ino) {
  std::lock_guard lock(table_mu_);
  auto it = inodes_.find(ino);
  return it == inodes_.end() ? nullptr : it->second;
}

Result<std::shared_ptr<Inode>> VaultFs::GetDir(uint64_t ino) {
  auto inode = Get(ino);
  if (!inode) return Status::NotFound("stale inode");
  if (!S_ISDIR(inode->type)) return Status::Io(ENOTDIR, "not a directory");
  return inode;
}

bool VaultFs::RowMacValid(const acl::ObjectRow& row) const {
  const acl::Blob mac = ObjectRowMac(keys_.rows, row);
  return row.mac.size() == mac.size() && CRYPTO_memcmp(row.mac.data(), mac.data(), mac.size()) == 0;
}

acl::ObjectRow VaultFs::NewRow(acl::ObjectKind kind, const acl::Place& place) const {
  acl::ObjectRow row;
  crypto::RandomBytes(row.id);
  row.kind = kind;
  row.place = place;
  row.mac = ObjectRowMac(keys_.rows, row);
  return row;
}

Status VaultFs::Rebind(const acl::ObjectId& id, acl::ObjectKind kind, const acl::Place& place,
                       const std::optional<acl::Place>& previous) {
  acl::ObjectRow row{id, kind, place, previous};
  return store_->Rebind(id, place, previous, ObjectRowMac(keys_.rows, row));
}

Status VaultFs::MarkUnlinked(const acl::ObjectId& id, acl::ObjectKind kind, const acl::Place& place,
                             bool unlinked) {
  acl::ObjectRow row{id, kind, place, std::nullopt};
  row.unlinked = unlinked;
  return store_->SetUnlinked(id, unlinked, ObjectRowMac(keys_.rows, row));
}

Status VaultFs::CheckBinding(const acl::ObjectRow& row, const Inode& inode, acl::ObjectKind kind,
                             const acl::Place* at) {
  if (!RowMacValid(row)) {
    return IntegrityFailure(&inode, "the policy store's row for object " + IdHex(row.id) + " was modified");
  }
  if (row.kind != kind) return IntegrityFailure(&inode, "object kind does not match its key row");
  if (inode.ino == 1) {
    if (!IsZero(row.place.parent)) return IntegrityFailure(&inode, "root directory is not the vault's root");
    return Status::Ok();
  }
  acl::Place here;
  if (at != nullptr) {
    here = *at;
  } else {
    std::lock_guard lock(table_mu_);
    if (!inode.parent) {
      // Its last name is gone: only its (authentic) unlinked row fits, for
      // an open that raced with the unlink.
      if (row.unlinked) return Status::Ok();
      return Status::NotFound("object has no parent");
    }
    here = PlaceOf(inode.parent->dir_id, inode.name);
  }
  if (row.place == here || (row.previous_place && *row.previous_place == here)) return Status::Ok();
  return IntegrityFailure(&inode, "object " + IdHex(row.id) +
                                      " was moved or swapped in the backing directory");
}

Result<acl::ObjectRow> VaultFs::LoadBoundRow(const acl::ObjectId& id, const Inode& inode,
                                             acl::ObjectKind kind, const acl::Place* at) {
  std::shared_lock lock(places_mu_);
  Result<acl::ObjectRow> row = store_->GetObject(id);
  if (!row.ok()) {
    if (row.status().code() != Status::Code::kNotFound) return row.status();
    return IntegrityFailure(&inode, "object " + IdHex(id) + " has no row in the policy store");
  }
  SR_RETURN_IF_ERROR(CheckBinding(*row, inode, kind, at));
  return row;
}

Result<std::shared_ptr<Inode>> VaultFs::Intern(UniqueFd fd, const struct stat& st,
                                               const std::shared_ptr<Inode>& parent,
                                               std::string_view name, bool fresh, bool* moved) {
  if (st.st_dev != backing_dev_) return IntegrityFailure(nullptr, "backing object on another filesystem");
  const mode_t type = st.st_mode & S_IFMT;
  if (type != S_IFREG && type != S_IFDIR && type != S_IFLNK) {
    return IntegrityFailure(nullptr, "unexpected object type in the backing directory");
  }
  if (type == S_IFREG && st.st_nlink > 1) {
    return IntegrityFailure(nullptr, "backing file has more than one link");
  }
  {
    std::lock_guard lock(table_mu_);
    auto it = by_backing_.find(st.st_ino);
    if (it != by_backing_.end()) {
      auto& inode = inodes_.at(it->second);
      if (inode->type == type) {
        const bool elsewhere = inode->parent != parent || inode->name != name;
        if (moved != nullptr) *moved = elsewhere;
        // A known object keeps its place until its binding to the new one
        // is checked (Lookup): the lookup may be stale (a rename since).
        if (!elsewhere) {
          inode->parent = parent;
          inode->name = std::string(name);
        }
        if (fresh) inode->entry_durable = false;
        inode->nlookup.fetch_add(1);
        return inode;
      }
      by_backing_.erase(it);
    }
  }
  auto inode = std::make_shared<Inode>();
  inode->backing_dev = st.st_dev;
  inode->backing_ino = st.st_ino;
  inode->type = type;
  if (type == S_IFDIR) {
    Result<crypto::DirId> id = ReadDirId(fd.get(), true);
    if (!id.ok() && id.status().code() == Status::Code::kNotFound) {
      // A mkdir writes the ID file, and an rmdir removes it first and the
      // directory next, holding places_mu_ throughout: with it held, a
      // directory that is gone (no links) was removed meanwhile; one that
      // is still there without its ID is damaged.
      std::shared_lock places(places_mu_);
      id = ReadDirId(fd.get(), true);
      struct stat now;
      if (!id.ok() && ::fstat(fd.get(), &now) == 0 && now.st_nlink == 0) {
        return Status::NotFound("directory removed while being looked up");
      }
      if (!id.ok() && id.status().code() == Status::Code::kNotFound) id = ReadDirId(fd.get());
    }
    if (!id.ok()) return id.status();
    inode->dir_id = *id;
  }
  inode->path_fd = std::move(fd);
  std::lock_guard lock(table_mu_);
  auto it = by_backing_.find(st.st_ino);
  if (it != by_backing_.end()) {  // another thread won the race
    auto& existing = inodes_.at(it->second);
    existing->nlookup.fetch_add(1);
    return existing;
  }
  inode->parent = parent;
  inode->name = std::string(name);
  inode->entry_durable = !fresh;
  inode->ino = next_ino_++;
  inode->nlookup = 1;
  inodes_[inode->ino] = inode;
  by_backing_[st.st_ino] = inode->ino;
  return inode;
}

Status VaultFs::Start() {
  struct stat st;
  if (::fstat(root_fd_.get(), &st) != 0) return Errno("stat the vault tree");
  backing_dev_ = st.st_dev;
  auto root = std::make_shared<Inode>();
  root->ino = 1;
  root->backing_dev = st.st_dev;
  root->backing_ino = st.st_ino;
  root->type = S_IFDIR;
  root->nlookup = 1;
  root->path_fd = UniqueFd(::openat(root_fd_.get(), ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root->path_fd.valid()) return Errno("open the vault tree");
  Result<crypto::DirId> id = ReadDirId(root->path_fd.get());
  if (!id.ok()) return id.status();
  root->dir_id = *id;
  Result<acl::ObjectRow> row = store_->GetObject(root->dir_id);
  if (!row.ok()) return Status::Integrity("the vault's root directory has no row in the policy store");
  SR_RETURN_IF_ERROR(CheckBinding(*row, *root, acl::ObjectKind::kDirectory));
  {
    std::lock_guard lock(table_mu_);
    inodes_[1] = root;
    by_backing_[st.st_ino] = 1;
  }
  SR_RETURN_IF_ERROR(Recover());
  SR_RETURN_IF_ERROR(ReloadPolicy());
  SR_RETURN_IF_ERROR(store_->SetMeta("mounted", "1"));
  return store_->SyncDurable();
}

void VaultFs::Stop() {
  StopExpiryWatch();
  // A destruction being executed stops between two steps; the next mount
  // finishes it.
  {
    std::lock_guard lock(exec_mu_);
    exec_stop_ = true;
  }
  exec_stopping_.store(true);
  exec_cv_.notify_all();
  if (exec_thread_.joinable()) exec_thread_.join();
  FlushRefusals();
  // Files deleted while still open lose their key rows now: the kernel sends
  // no more releases once unmounted.
  std::vector<std::shared_ptr<Inode>> all;
  {
    std::lock_guard lock(table_mu_);
    for (auto& [ino, inode] : inodes_) all.push_back(inode);
  }
  // Files still open at unmount: the kernel sends no release for them.
  for (auto& inode : all) {
    std::vector<Handle*> open;
    {
      std::lock_guard lock(inode->open_mu);
      open = inode->handles;
    }
    for (Handle* handle : open) (void)Release(handle);
  }
  std::vector<acl::ObjectId> doomed;
  for (auto& inode : all) {
    std::lock_guard open_lock(inode->open_mu);
    if (inode->unlinked) doomed.push_back(inode->retired_id);
  }
  for (const auto& id : doomed) (void)DropKeyRow(id);
  (void)store_->SetMeta("mounted", "0");
  (void)store_->CheckpointTruncate();
}

// Finishes what a stop left in flight, from the rows' write-ahead marks:
// rows marked unlinked lose their key once the name is confirmed gone, and
// renames in flight are settled where the object really is. That needs a
// walk of the backing tree; if the walk cannot account for every entry
// (damage, I/O errors), nothing is deleted, so recovery never destroys the
// key of a file that still exists.
Status VaultFs::Recover() {
  Result<std::string> mounted = store_->GetMeta("mounted");
  if (mounted.ok() && *mounted == "1") spdlog::warn("the vault was not unmounted cleanly");
  Result<std::vector<acl::ObjectRow>> rows = store_->ListObjects();
  if (!rows.ok()) return rows.status();
  std::vector<const acl::ObjectRow*> pending;
  size_t forged = 0;
  for (const acl::ObjectRow& row : *rows) {
    if (!row.unlinked && !row.previous_place) continue;
    // Only authentic marks are acted on: a row edited in the store could
    // otherwise make recovery delete a key or settle a swap.
    if (RowMacValid(row)) {
      pending.push_back(&row);
    } else {
      ++forged;
    }
  }
  if (forged > 0) spdlog::error("integrity failure: {} rows in the policy store were modified; left as they are", forged);
  if (pending.empty()) return Status::Ok();

  std::map<acl::ObjectId, acl::Place> found;
  size_t unaccounted = 0;
  struct Pending {
    UniqueFd fd;
    crypto::DirId id;
  };
  std::vector<Pending> stack;
  stack.push_back({UniqueFd(::openat(root_fd_.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)),
                   Get(1)->dir_id});
  while (!stack.empty()) {
    Pending dir = std::move(stack.back());
    stack.pop_back();
    DIR* d = dir.fd.valid() ? ::fdopendir(::dup(dir.fd.get())) : nullptr;
    if (d == nullptr) {
      ++unaccounted;
      continue;
    }
    while (struct dirent* e = ::readdir(d)) {
      std::string backing = e->d_name;
      if (backing == "." || backing == ".." || backing == kDirIdName) continue;
      auto name = Decode(dir.id, backing);
      struct stat st;
      if (!name || ::fstatat(dir.fd.get(), backing.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        ++unaccounted;
        continue;
      }
      Result<std::optional<acl::ObjectId>> id = ObjectIdAt(dir.fd.get(), backing, st);
      if (!id.ok() || !*id) {
        ++unaccounted;
        continue;
      }
      found[**id] = PlaceOf(dir.id, *name);
      if (S_ISDIR(st.st_mode)) {
        stack.push_back({UniqueFd(::openat(dir.fd.get(), backing.c_str(),
                                           O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)),
                         **id});
      }
    }
    ::closedir(d);
  }

  size_t dropped = 0, kept = 0, settled = 0;
  for (const acl::ObjectRow* row : pending) {
    auto it = found.find(row->id);
    if (it == found.end()) {
      if (row->unlinked && unaccounted == 0) {
        SR_RETURN_IF_ERROR(DropKeyRow(row->id));
        ++dropped;
      } else {
        ++kept;
      }
      continue;
    }
    // Still in the tree: the unlink or rename stopped before or after the
    // backing call; bind the row to where the object is.
    if (it->second == row->place || (row->previous_place && it->second == *row->previous_place)) {
      SR_RETURN_IF_ERROR(Rebind(row->id, row->kind, it->second, std::nullopt));
      ++settled;
    }
  }
  if (unaccounted > 0) {
    spdlog::warn("recovery: {} backing entries could not be read; {} pending changes kept", unaccounted, kept);
  }
  spdlog::info("recovery: dropped {} key rows of deleted files, settled {} renames", dropped, settled);
  return store_->CheckpointTruncate();
}

Result<struct stat> VaultFs::Stat(Inode& inode) {
  struct stat st;
  if (::fstat(inode.path_fd.get(), &st) != 0) return Errno("stat");
  SR_RETURN_IF_ERROR(FixAttr(inode, &st));
  return st;
}

// Turns a backing stat into the plaintext view's: plaintext size, and our
// inode numbers stay the backing ones so they are stable across mounts.
Status VaultFs::FixAttr(Inode& inode, struct stat* st) {
  if (S_ISREG(st->st_mode)) {
    bool open = false;
    {
      std::lock_guard lock(inode.open_mu);
      open = inode.open_count > 0;
    }
    if (open) {
      std::shared_lock lock(inode.content_mu);
      st->st_size = static_cast<off_t>(inode.plain_size);
    } else {
      auto plain = crypto::PlainSize(static_cast<uint64_t>(st->st_size));
      st->st_size = plain ? static_cast<off_t>(*plain) : 0;
    }
  } else if (S_ISLNK(st->st_mode)) {
    Result<std::string> target = ReadlinkOf(Get(inode.ino));
    st->st_size = target.ok() ? static_cast<off_t>(target->size()) : 0;
  }
  return Status::Ok();
}

Status VaultFs::CheckLookupBinding(Inode& inode, const Inode& parent, std::string_view name,
                                   const std::string& backing, const struct stat& st) {
  const acl::Place here = PlaceOf(parent.dir_id, name);
  std::optional<acl::ObjectId> id;
  if (S_ISDIR(inode.type)) {
    id = inode.dir_id;
  } else {
    {
      std::lock_guard lock(table_mu_);
      if (inode.object_id_known) id = inode.object_id;
    }
    if (!id) {
      Result<std::optional<acl::ObjectId>> read = ObjectIdAt(parent.path_fd.get(), backing, st);
      if (!read.ok()) return read.status();
      if (!*read) return IntegrityFailure(&inode, "object has no readable ID");
      id = **read;
    }
  }
  // With renames held off, a name that no longer leads to this object was
  // renamed after the lookup found it: that is a race, not tampering.
  std::shared_lock places(places_mu_);
  struct stat now;
  if (::fstatat(parent.path_fd.get(), backing.c_str(), &now, AT_SYMLINK_NOFOLLOW) != 0 || now.st_ino != st.st_ino) {
    return Status::NotFound("renamed while being looked up");
  }
  Result<acl::ObjectRow> row = store_->GetObject(*id);
  if (!row.ok()) {
    if (row.status().code() != Status::Code::kNotFound) return row.status();
    return IntegrityFailure(&inode, "object " + IdHex(*id) + " has no row in the policy store");
  }
  return CheckBinding(*row, inode, KindOf(inode.type), &here);
}

Result<Entry> VaultFs::MakeEntry(const std::shared_ptr<Inode>& inode, const struct stat* backing) {
  Result<struct stat> st = backing != nullptr ? *backing : Stat(*inode);
  if (st.ok() && backing != nullptr) {
    Status fixed = FixAttr(*inode, &*st);
    if (!fixed.ok()) st = fixed;
  }
  if (!st.ok()) {
    Forget(inode->ino, 1);
    return st.status();
  }
  return Entry{inode->ino, *st, inode->volatile_attrs.load() ? 0.0 : options_.attr_timeout};
}

Result<Entry> VaultFs::Lookup(const Caller& caller, uint64_t parent_ino, std::string_view name) {
  Result<Entry> e = LookupUnchecked(parent_ino, name);
  if (!e.ok()) return e;
  auto inode = Get(e->ino);
  Status st = inode ? Authorize(caller, inode, Need::kSee) : Status::NotFound("stale inode");
  if (!st.ok()) {
    // The name exists but is hidden from this caller: a refusal, recorded.
    if (inode) (void)AuditOutcome(caller, "lookup", VaultPathOf(inode), Status::NotFound("hidden from this user"));
    Forget(e->ino, 1);
    return Status::NotFound("no such name");
  }
  return e;
}

Result<Entry> VaultFs::LookupUnchecked(uint64_t parent_ino, std::string_view name) {
  auto parent = GetDir(parent_ino);
  if (!parent.ok()) return parent.status();
  auto bn = Encode(**parent, name);
  if (!bn.ok()) return bn.status().code() == Status::Code::kInvalid ? Status::NotFound("no such name") : bn.status();
  UniqueFd fd(::openat((*parent)->path_fd.get(), bn->backing.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) return Errno("lookup");
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return Errno("stat");
  bool known = false;
  {
    std::lock_guard lock(table_mu_);
    known = by_backing_.count(st.st_ino) != 0;
  }
  bool moved = false;
  auto inode = Intern(std::move(fd), st, *parent, name, false, &moved);
  if (!inode.ok()) return inode.status();
  // A new directory, or a known object found under another name, must be
  // bound here by its row: a directory moved or swapped in the backing tree
  // is refused (a file's binding is checked again when it is opened).
  if ((!known && S_ISDIR(st.st_mode)) || moved) {
    Status bound = CheckLookupBinding(**inode, **parent, name, bn->backing, st);
    if (!bound.ok()) {
      Forget((*inode)->ino, 1);
      return bound;
    }
    if (moved) {
      std::lock_guard lock(table_mu_);
      (*inode)->parent = *parent;
      (*inode)->name = std::string(name);
      (*inode)->former_parent.reset();
    }
  }
  return MakeEntry(*inode, &st);
}

std::shared_ptr<Inode> VaultFs::Unref(uint64_t ino, uint64_t nlookup) {
  if (ino == 1) return nullptr;
  std::lock_guard lock(table_mu_);
  auto it = inodes_.find(ino);
  if (it == inodes_.end()) return nullptr;
  if (it->second->nlookup.fetch_sub(nlookup) > nlookup) return nullptr;
  std::shared_ptr<Inode> victim = it->second;
  auto b = by_backing_.find(victim->backing_ino);
  if (b != by_backing_.end() && b->second == ino) by_backing_.erase(b);
  inodes_.erase(it);
  return victim;
}

void VaultFs::Forget(uint64_t ino, uint64_t nlookup) {
  if (auto victim = Unref(ino, nlookup)) DropIfUnreachable(*victim);
}

void VaultFs::ForgetMany(std::span<const std::pair<uint64_t, uint64_t>> forgets) {
  std::vector<acl::ObjectId> doomed;
  for (const auto& [ino, nlookup] : forgets) {
    if (auto victim = Unref(ino, nlookup)) {
      if (auto id = UnreachableId(*victim)) doomed.push_back(*id);
    }
  }
  Status st = store_->DeleteObjects(doomed);
  if (!st.ok()) spdlog::error("cannot delete key rows: {}", st.ToString());
}

Result<struct stat> VaultFs::GetAttr(const Caller& caller, uint64_t ino, Handle* handle) {
  if (handle != nullptr) {
    // Asked through an open file (fstat, or the kernel before a read):
    // judged by the handle, as its reads are.
    SR_RETURN_IF_ERROR(CheckHandle(handle));
    return Stat(*handle->inode);
  }
  auto inode = Get(ino);
  if (!inode) return Status::NotFound("stale inode");
  if (ino != 1) SR_RETURN_IF_ERROR(Authorize(caller, inode, Need::kSee));
  return Stat(*inode);
}

Status VaultFs::Access(const Caller& caller, uint64_t ino, int mask) {
  auto inode = Get(ino);
  if (!inode) return Status::NotFound("stale inode");
  const bool dir = S_ISDIR(inode->type);
  Need need = Need::kSee;
  if (mask & W_OK) {
    need = Need::kWrite;
  } else if (mask & (R_OK | X_OK)) {
    need = dir ? Need::kList : Need::kRead;
  }
  if (need == Need::kRead) {
    // As an open for reading would be decided: `view` only from a viewer.
    auto policy = policy_.Get();
    std::vector<acl::ObjectId> chain;
    if (!ChainOf(inode, *policy, &chain)) return Status::NotFound("no name any more");
    const acl::Viewer* viewer = nullptr;
    return AuthorizeRead(caller, *policy, chain, &viewer);
  }
  return Authorize(caller, inode, need);
}

bool VaultFs::SetsNothingNew(const Inode& inode, const struct stat& attr, int to_set) const {
  if ((to_set & (kSetMode | kSetUid | kSetGid)) == 0 || (to_set & ~(kSetMode | kSetUid | kSetGid | kSetCtime)) != 0) {
    return false;
  }
  struct stat cur;
  if (::fstat(inode.path_fd.get(), &cur) != 0) return false;
  if ((to_set & kSetMode) && (attr.st_mode & 07777) != (cur.st_mode & 07777)) return false;
  if ((to_set & kSetUid) && attr.st_uid != cur.st_uid) return false;
  if ((to_set & kSetGid) && attr.st_gid != cur.st_gid) return false;
  // A chown clears the set-user-ID and set-group-ID bits even to the same
  // owner: that is a change.
  if ((to_set & (kSetUid | kSetGid)) && (cur.st_mode & (S_ISUID | S_ISGID)) && !S_ISDIR(cur.st_mode)) return false;
  return true;
}

Result<struct stat> VaultFs::SetAttr(const Caller& caller, uint64_t ino, const struct stat& attr, int to_set,
                                     Handle* handle) {
  auto inode = handle != nullptr ? handle->inode : Get(ino);
  if (!inode) return Status::NotFound("stale inode");
  const std::string path = VaultPathOf(inode);
  if (handle != nullptr && (to_set & ~kSetSize) == 0) {
    // ftruncate: judged by the handle, as its writes are.
    if (!handle->write) return Status::Io(EBADF, "handle not open for writing");
    SR_RETURN_IF_ERROR(CheckHandle(handle));
  } else {
    SR_RETURN_IF_ERROR(AuditOutcome(caller, "setattr", path, Authorize(caller, inode, Need::kWrite)));
  }
  // Held or frozen: no truncation, and no change of mode, owner or times.
  SR_RETURN_IF_ERROR(AuditOutcome(caller, "setattr", path, ProtectedAt(inode, true, true)));
  // Ownership is the server's business: only root gives files away.
  if ((to_set & (kSetUid | kSetGid)) && caller.uid != 0) {
    struct stat cur;
    if (::fstat(inode->path_fd.get(), &cur) != 0) return Errno("stat");
    if (((to_set & kSetUid) && attr.st_uid != cur.st_uid) || ((to_set & kSetGid) && attr.st_gid != cur.st_gid)) {
      return Status::Io(EPERM, "only root changes ownership");
    }
  }
  // chown to the owner it has, chmod to the mode it has (tar and cp -p do
  // both for every file) change nothing: recorded queued, like an open.
  // Still applied, since POSIX has them mark the ctime. The kernel holds the
  // inode's lock across a setattr, so no other change to this inode comes
  // between the look and the call.
  const bool unchanged = SetsNothingNew(*inode, attr, to_set);
  {
    acl::AuditEntry e = AuditEntryFor(caller, (to_set & kSetSize) ? "truncate" : "setattr", path, 0);
    std::string what;
    if (to_set & kSetMode) what += " mode";
    if (to_set & (kSetUid | kSetGid)) what += " owner";
    if (to_set & kSetSize) what += " size";
    if (to_set & (kSetAtime | kSetMtime | kSetAtimeNow | kSetMtimeNow)) what += " times";
    e.access = what.empty() ? what : what.substr(1);
    if (unchanged) {
      e.reason = "unchanged";
      AuditLater(std::move(e));
    } else {
      SR_RETURN_IF_ERROR(AuditAhead(std::move(e)));
    }
  }
  const std::string proc = ProcFdPath(inode->path_fd.get());
  const bool is_link = S_ISLNK(inode->type);
  if (to_set & kSetMode) {
    if (is_link) return Status::Io(EOPNOTSUPP, "chmod of a symlink");
    if (::chmod(proc.c_str(), attr.st_mode & 07777) != 0) return Errno("chmod");
  }
  if (to_set & (kSetUid | kSetGid)) {
    const uid_t uid = (to_set & kSetUid) ? attr.st_uid : static_cast<uid_t>(-1);
    const gid_t gid = (to_set & kSetGid) ? attr.st_gid : static_cast<gid_t>(-1);
    if (::fchownat(inode->path_fd.get(), "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0) {
      return Errno("chown");
    }
  }
  if (to_set & kSetSize) {
    if (!S_ISREG(inode->type)) return Status::Io(S_ISDIR(inode->type) ? EISDIR : EINVAL, "truncate");
    SR_RETURN_IF_ERROR(OpenData(*inode));
    Status st;
    {
      std::unique_lock lock(inode->content_mu);
      EncryptedFile file(inode->data_fd.get(), inode->key, inode->file_id);
      st = file.Truncate(static_cast<uint64_t>(attr.st_size), &inode->plain_size);
    }
    Status closed = CloseData(*inode);
    if (st.ok()) st = closed;
    if (!st.ok()) return st.code() == Status::Code::kIntegrity ? IntegrityFailure(inode.get(), st.message()) : st;
  }
  if (to_set & (kSetAtime | kSetMtime | kSetAtimeNow | kSetMtimeNow)) {
    struct timespec ts[2];
    ts[0].tv_nsec = UTIME_OMIT;
    ts[1].tv_nsec = UTIME_OMIT;
    if (to_set & kSetAtimeNow) ts[0].tv_nsec = UTIME_NOW;
    else if (to_set & kSetAtime) ts[0] = attr.st_atim;
    if (to_set & kSetMtimeNow) ts[1].tv_nsec = UTIME_NOW;
    else if (to_set & kSetMtime) ts[1] = attr.st_mtim;
    int rc;
    if (is_link) {
      std::shared_ptr<Inode> parent;
      std::string name;
      {
        std::lock_guard lock(table_mu_);
        parent = inode->parent;
        name = inode->name;
      }
      if (!parent) return Status::NotFound("unlinked");
      auto bn = Encode(*parent, name);
      if (!bn.ok()) return bn.status();
      rc = ::utimensat(parent->path_fd.get(), bn->backing.c_str(), ts, AT_SYMLINK_NOFOLLOW);
    } else {
      rc = ::utimensat(AT_FDCWD, proc.c_str(), ts, 0);
    }
    if (rc != 0) return Errno("utimens");
  }
  return Stat(*inode);
}

}  // namespace strongroom::fs
