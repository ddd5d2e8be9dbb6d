// VaultFs: retention holds and freezes in force, and the execution of
// witnessed destructions (docs/destruction.md).
//
// An approved destruction is executed by one executor thread, in phases
// over all of its items; each item's state is recorded in the policy store
// (sealed) after each step, and every step is idempotent, so a stop or a
// crash anywhere leaves a state the next mount finishes
// (ResumeDestructions):
//
//   1. measure   every file: ciphertext size and SHA-256 recorded
//   2. keys      per batch: an audit record per file (written ahead), cached
//                keys wiped, the wrapped keys deleted (secure_delete), the
//                WAL checkpointed and truncated
//   3. overwrite every file's ciphertext with zeros, fdatasync
//   4. remove    every file's and symlink's name (and the parent synced),
//                then its row
//   5. folders   requested folders and the folders below them, deepest
//                first, once empty
//   6. certificate built, MACed, stored; its digest sealed into the audit
//                log (op destroy.certificate:<digest>); the request is done
#include <dirent.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>

#include "acl/certificate.h"
#include "crypto/primitives.h"
#include "fs/vault_fs.h"
#include "fs/vault_layout.h"

namespace strongroom::fs {
namespace {

using nlohmann::json;

using acl::IsoUtc;

std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> parts;
  size_t pos = 0;
  while (pos < path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string::npos) end = path.size();
    if (end > pos) parts.push_back(path.substr(pos, end - pos));
    pos = end + 1;
  }
  return parts;
}

bool IsEmptyBackingDir(int dir_fd, bool* empty) {
  DIR* d = ::fdopendir(::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (d == nullptr) return false;
  *empty = true;
  while (struct dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0 ||
        std::strcmp(e->d_name, kDirIdName) == 0) {
      continue;
    }
    *empty = false;
    break;
  }
  ::closedir(d);
  return true;
}

Status SyncDir(int dir_path_fd) {
  UniqueFd fd(::openat(dir_path_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return Errno("open directory");
  if (::fsync(fd.get()) != 0) return Errno("fsync directory");
  return Status::Ok();
}

// A crash injected here in test builds; nothing at all (not even the
// point's name) in a release build.
#ifdef STRONGROOM_TEST_HOOKS
#define SR_FAIL_POINT(name) FailPoint(name)
#else
#define SR_FAIL_POINT(name) ((void)0)
#endif

// How many items are recorded in one transaction while executing.
constexpr size_t kBatch = 64;

constexpr char kMethod[] =
    "For each file: the size and SHA-256 of its ciphertext were recorded; its wrapped data key was deleted from "
    "the policy store (SQLite secure_delete on, the write-ahead log then checkpointed and truncated) and copies of "
    "the key cached in the daemon's memory were wiped; its ciphertext was overwritten once with zeros and synced "
    "(fdatasync); its name was removed and its directory synced. Symlinks (which hold no data key) were removed. "
    "Then the requested folders and the folders below them were removed once empty.";

std::string BackupStatement(acl::Time completed) {
  return "Backups, snapshots and copies of the vault taken before " + IsoUtc(completed) +
         " still hold these files' wrapped data keys (strongroom.db) and ciphertext: with the vault's configuration "
         "and passphrase they can still decrypt them. The overwrite reaches the file's blocks only as the backing "
         "filesystem exposes them: copy-on-write filesystems, snapshots, journals and SSD remapping may keep older "
         "copies on the device.";
}

}  // namespace

Status VaultFs::Protected(const acl::PolicySnapshot& policy, std::span<const acl::ObjectId> chain, bool holds,
                          bool frozen) const {
  auto p = policy.ProtectionOf(chain, Now(), holds, frozen);
  if (!p) return Status::Ok();
  if (p->kind == acl::Protection::Kind::kHold) {
    return Status::Denied("under a retention hold until " + IsoUtc(p->until));
  }
  if (p->executing) return Status::Denied("being destroyed (destruction request " + std::to_string(p->request) + ")");
  return Status::Denied("frozen by destruction request " + std::to_string(p->request));
}

Status VaultFs::CheckWritable(Handle* handle) {
  auto policy = policy_.Get();
  if (!policy->HasProtections()) return Status::Ok();
  std::vector<acl::ObjectId> chain;
  if (!ChainOf(handle->inode, *policy, &chain)) return Status::Ok();
  // The handle that created the file writes it: a new record in a held
  // folder is held once it is closed.
  Status st = Protected(*policy, chain, !handle->created, true);
  if (!st.ok()) return AuditOutcome(Caller{handle->uid, 0, 0}, "write", VaultPathOf(handle->inode), st, "write");
  return st;
}

Status VaultFs::ProtectedAt(const std::shared_ptr<Inode>& inode, bool holds, bool frozen) {
  auto policy = policy_.Get();
  if (!policy->HasProtections()) return Status::Ok();
  std::vector<acl::ObjectId> chain;
  if (!ChainOf(inode, *policy, &chain)) return Status::Ok();
  return Protected(*policy, chain, holds, frozen);
}

Result<VaultFs::Located> VaultFs::Locate(const std::string& vault_path) {
  const std::vector<std::string> parts = SplitPath(vault_path);
  if (parts.empty()) return Status::Invalid("the vault's root cannot be located as an entry");
  Located loc;
  loc.dir = UniqueFd(::openat(root_fd_.get(), ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!loc.dir.valid()) return Errno("open the vault tree");
  loc.dir_id = Get(1)->dir_id;
  for (size_t i = 0; i < parts.size(); ++i) {
    Result<BackingName> bn = EncodeIn(loc.dir_id, parts[i]);
    if (!bn.ok()) return bn.status().code() == Status::Code::kInvalid ? Status::NotFound("no such name") : bn.status();
    if (i + 1 == parts.size()) {
      if (::fstatat(loc.dir.get(), bn->backing.c_str(), &loc.st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) return Status::NotFound("no such path: " + vault_path);
        return Errno("stat");
      }
      loc.name = parts[i];
      loc.bn = std::move(*bn);
      return loc;
    }
    UniqueFd next(::openat(loc.dir.get(), bn->backing.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next.valid()) {
      if (errno == ENOENT || errno == ENOTDIR) return Status::NotFound("no such path: " + vault_path);
      return Errno("open directory");
    }
    Result<crypto::DirId> id = ReadDirId(next.get());
    if (!id.ok()) return id.status();
    loc.dir = std::move(next);
    loc.dir_id = *id;
  }
  return loc;
}

Result<std::vector<VaultFs::SubtreeEntry>> VaultFs::ListSubtree(const std::string& vault_path, const acl::ObjectId& id,
                                                                acl::ObjectKind kind) {
  std::vector<SubtreeEntry> out{{id, kind, vault_path}};
  if (kind != acl::ObjectKind::kDirectory) return out;
  Result<Located> loc = Locate(vault_path);
  if (!loc.ok()) return loc.status();
  struct Dir {
    UniqueFd fd;
    crypto::DirId id;
    std::string path;
  };
  std::vector<Dir> stack;
  stack.push_back({UniqueFd(::openat(loc->dir.get(), loc->bn.backing.c_str(),
                                     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)),
                   id, vault_path});
  const auto unreadable = [&](const std::string& where) {
    return Status::Integrity("an entry in " + where + " cannot be read or has no authentic row: nothing below " +
                             vault_path + " may escape the request");
  };
  while (!stack.empty()) {
    Dir dir = std::move(stack.back());
    stack.pop_back();
    DIR* d = dir.fd.valid() ? ::fdopendir(::dup(dir.fd.get())) : nullptr;
    if (d == nullptr) return unreadable(dir.path);
    std::vector<std::string> backings;
    while (struct dirent* e = ::readdir(d)) {
      const std::string backing = e->d_name;
      if (backing == "." || backing == ".." || backing == kDirIdName) continue;
      backings.push_back(backing);
    }
    ::closedir(d);
    for (const std::string& backing : backings) {
      auto name = Decode(dir.id, backing);
      struct stat st;
      if (!name || ::fstatat(dir.fd.get(), backing.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return unreadable(dir.path);
      const acl::Place place = PlaceOf(dir.id, *name);
      Result<std::optional<acl::ObjectId>> child = ObjectIdFor(place, dir.fd.get(), backing, st);
      if (!child.ok() || !*child) return unreadable(dir.path);
      Result<acl::ObjectRow> row = store_->GetObject(**child);
      if (!row.ok() || !RowMacValid(*row) || row->unlinked || row->place != place || row->kind != KindOf(st.st_mode)) {
        return unreadable(dir.path);
      }
      const std::string path = (dir.path == "/" ? "" : dir.path) + "/" + *name;
      out.push_back({**child, row->kind, path});
      if (S_ISDIR(st.st_mode)) {
        stack.push_back({UniqueFd(::openat(dir.fd.get(), backing.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)),
                         **child, path});
      }
    }
  }
  return out;
}

void VaultFs::QueueDestruction(int64_t id) {
  std::lock_guard lock(exec_mu_);
  if (exec_stop_) return;  // the next mount resumes it
  if (std::find(exec_queue_.begin(), exec_queue_.end(), id) == exec_queue_.end()) exec_queue_.push_back(id);
  progress_[id] = DestructionProgress{"queued", 0, 0, {}};
  if (!exec_thread_.joinable()) exec_thread_ = std::thread([this] { ExecutorLoop(); });
  exec_cv_.notify_all();
}

void VaultFs::ExecutorLoop() {
  std::unique_lock lock(exec_mu_);
  while (true) {
    exec_cv_.wait(lock, [this] { return exec_stop_ || !exec_queue_.empty(); });
    if (exec_stop_) return;
    const int64_t id = exec_queue_.front();
    exec_queue_.pop_front();
    lock.unlock();
    Status st = ExecuteDestruction(id);
    crypto::gcm::ForgetThreadKeys();
    lock.lock();
    if (!st.ok()) {
      progress_[id].error = st.message();
      if (!exec_stop_) spdlog::error("destruction request {} stopped: {}", id, st.ToString());
    }
  }
}

std::optional<VaultFs::DestructionProgress> VaultFs::ProgressOf(int64_t id) {
  std::lock_guard lock(exec_mu_);
  auto it = progress_.find(id);
  if (it == progress_.end()) return std::nullopt;
  return it->second;
}

void VaultFs::SetProgress(int64_t id, const std::string& phase, uint64_t done, uint64_t total) {
  std::lock_guard lock(exec_mu_);
  DestructionProgress& p = progress_[id];
  if (p.phase != phase || done == total || done % 1000 == 0) {
    spdlog::info("destruction request {}: {} {}/{}", id, phase, done, total);
  }
  p.phase = phase;
  p.done = done;
  p.total = total;
  p.error.clear();
}

#ifdef STRONGROOM_TEST_HOOKS
void VaultFs::SetFailPoint(const std::string& name, int64_t after) {
  std::lock_guard lock(fail_mu_);
  fail_point_ = name;
  fail_after_ = after;
}
#endif

#ifdef STRONGROOM_TEST_HOOKS
// A crash injected at a named point (test builds only).
void VaultFs::FailPoint(const char* name) {
  std::lock_guard lock(fail_mu_);
  if (fail_point_ != name || fail_after_ < 0) return;
  if (fail_after_-- > 0) return;
  spdlog::warn("test failure point {} reached: the daemon kills itself", name);
  ::kill(::getpid(), SIGKILL);
  ::pause();
}
#endif

void VaultFs::WipeCachedKey(ino_t backing_ino) {
  std::shared_ptr<Inode> inode;
  {
    std::lock_guard lock(table_mu_);
    auto it = by_backing_.find(backing_ino);
    if (it != by_backing_.end()) inode = inodes_.at(it->second);
  }
  if (!inode) return;
  // open_mu before content_mu (the order OpenData takes them); exclusive:
  // no read is using the key while it is wiped.
  std::lock_guard open(inode->open_mu);
  std::unique_lock content(inode->content_mu);
  inode->destroyed.store(true);
  inode->key = crypto::SecretKey();  // wipes
  inode->data_fd.Reset();
}

void VaultFs::ForgetRemoved(ino_t backing_ino) {
  std::lock_guard lock(table_mu_);
  auto it = by_backing_.find(backing_ino);
  if (it == by_backing_.end()) return;
  auto inode = inodes_.at(it->second);
  by_backing_.erase(it);
  inode->former_parent = std::move(inode->parent);
}

std::vector<std::pair<int64_t, Status>> VaultFs::ResumeDestructions() {
  std::vector<std::pair<int64_t, Status>> out;
  Result<std::vector<acl::Destruction>> open = store_->policy().ListDestructions(true);
  if (!open.ok()) {
    out.emplace_back(0, open.status());
    return out;
  }
  for (const acl::Destruction& d : *open) {
    if (d.state != acl::WitnessedState::kExecuting) continue;
    spdlog::warn("destruction request {} was interrupted; finishing it now", d.id);
    Status st;
    if (audit_ != nullptr) {
      st = AuditAhead(acl::ProcessEntry(
          "destroy.resume", "request " + std::to_string(d.id) + ": finishing a destruction a stop or crash interrupted"));
    }
    if (st.ok()) st = ExecuteDestruction(d.id);
    crypto::gcm::ForgetThreadKeys();
    if (!st.ok()) {
      spdlog::error("destruction request {} could not be finished: {}", d.id, st.ToString());
      std::lock_guard lock(exec_mu_);
      progress_[d.id].error = st.message();
    }
    out.emplace_back(d.id, st);
  }
  return out;
}

Status VaultFs::ExecuteDestruction(int64_t id) {
  acl::PolicyStore& ps = store_->policy();
  Result<acl::Destruction> got = ps.GetDestruction(id, true);
  if (!got.ok()) return got.status();
  acl::Destruction d = std::move(*got);
  if (d.state != acl::WitnessedState::kExecuting || d.kind != acl::WitnessedKind::kDestroy) return Status::Ok();
  std::vector<acl::DestructionItem>& items = d.items;
  const auto stopping = [this] { return exec_stopping_.load(); };
  const auto stopped = [] { return Status::Io(EINTR, "stopped by the unmount; the next mount finishes it"); };

  auto record = [&](const std::string& op, const std::string& path, const std::string& reason) {
    return AuditAhead(acl::ProcessEntry(op, reason, path));
  };

  if (d.certificate.empty()) {
    size_t files = 0, folders = 0;
    for (const auto& item : items) (item.kind == acl::ObjectKind::kDirectory ? folders : files)++;
    SR_RETURN_IF_ERROR(record("destroy.start", items.empty() ? "/" : items.front().path,
                              "request " + std::to_string(id) + ": " + std::to_string(files) + " files and symlinks, " +
                                  std::to_string(folders) + " folders"));
  }

  // Each item's current path: its requested root's current path (a folder
  // above the root may have been renamed since the request) and the rest
  // as it was when the request froze it.
  std::map<int64_t, const acl::DestructionItem*> by_seq;
  for (const auto& item : items) by_seq[item.seq] = &item;
  std::map<int64_t, std::optional<std::string>> root_now;
  auto current_path = [&](const acl::DestructionItem& item, bool refresh) -> std::optional<std::string> {
    auto it = root_now.find(item.root);
    if (it == root_now.end() || refresh) {
      Result<std::string> p = PathOf(by_seq.at(item.root)->object);
      root_now[item.root] = p.ok() ? std::optional<std::string>(*p) : std::nullopt;
      it = root_now.find(item.root);
    }
    if (!it->second) return std::nullopt;
    const std::string& root_then = by_seq.at(item.root)->path;
    return *it->second + item.path.substr(std::min(root_then.size(), item.path.size()));
  };
  // The item's backing entry, checked to be bound to its authentic row;
  // kNotFound when its name is gone (or its row, or its root).
  auto locate = [&](const acl::DestructionItem& item) -> Result<Located> {
    Result<acl::ObjectRow> row = store_->GetObject(item.object);
    if (!row.ok()) return row.status();
    if (!RowMacValid(*row)) {
      return IntegrityFailure(nullptr, "the policy store's row for object " + crypto::HexEncode(item.object) +
                                           " was modified");
    }
    for (bool refresh : {false, true}) {
      auto path = current_path(item, refresh);
      if (!path) continue;
      Result<Located> loc = Locate(*path);
      if (!loc.ok()) {
        if (loc.status().code() == Status::Code::kNotFound) continue;
        return loc.status();
      }
      const acl::Place here = PlaceOf(loc->dir_id, loc->name);
      if (row->place != here && !(row->previous_place && *row->previous_place == here)) continue;
      if (KindOf(loc->st.st_mode) != item.kind) return IntegrityFailure(nullptr, "object kind does not match its row");
      return loc;
    }
    return Status::NotFound("the name is gone");
  };
  std::vector<acl::DestructionItem> dirty;
  auto save = [&](bool force) -> Status {
    if (dirty.empty() || (!force && dirty.size() < kBatch)) return Status::Ok();
    Status st = ps.UpdateDestructionItems(id, dirty);
    dirty.clear();
    return st;
  };
  auto count = [&](auto pred) {
    uint64_t n = 0;
    for (const auto& item : items) n += pred(item) ? 1 : 0;
    return n;
  };
  const auto is_leaf = [](const acl::DestructionItem& item) { return item.kind != acl::ObjectKind::kDirectory; };

  // 1. Measure.
  {
    const uint64_t total = count(is_leaf);
    uint64_t done = count([&](const auto& i) { return is_leaf(i) && i.state != acl::ItemState::kListed; });
    SetProgress(id, "measuring", done, total);
    for (auto& item : items) {
      if (!is_leaf(item) || item.state != acl::ItemState::kListed) continue;
      if (stopping()) return stopped();
      if (item.kind == acl::ObjectKind::kFile) {
        Result<Located> loc = locate(item);
        if (!loc.ok() && loc.status().code() != Status::Code::kNotFound) return loc.status();
        if (loc.ok()) {
          UniqueFd fd(::openat(loc->dir.get(), loc->bn.backing.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
          struct stat st;
          if (!fd.valid() || ::fstat(fd.get(), &st) != 0) return Errno("open a file to be destroyed");
          if (!S_ISREG(st.st_mode) || st.st_ino != loc->st.st_ino || st.st_nlink != 1) {
            return IntegrityFailure(nullptr, "the backing file of object " + crypto::HexEncode(item.object) +
                                                 " changed or has more than one link");
          }
          crypto::Sha256Stream hash;
          std::vector<uint8_t> buf(1 << 20);
          uint64_t size = 0;
          for (;;) {
            const ssize_t n = ::read(fd.get(), buf.data(), buf.size());
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) return Errno("read a file to be destroyed");
            if (n == 0) break;
            hash.Update({buf.data(), static_cast<size_t>(n)});
            size += static_cast<uint64_t>(n);
          }
          item.sha256.resize(32);
          hash.Final(item.sha256.data());
          item.ciphertext_size = size;
          item.state = acl::ItemState::kMeasured;
        } else {
          // Its name was gone before anything was done (removed from the
          // backing tree behind the daemon's back): nothing to measure.
          spdlog::error("destruction request {}: object {} is missing from the vault", id,
                        crypto::HexEncode(item.object));
          (void)store_->DeleteObject(item.object);
          item.state = acl::ItemState::kRemoved;
        }
      } else {
        item.state = acl::ItemState::kMeasured;
      }
      dirty.push_back(item);
      SR_RETURN_IF_ERROR(save(false));
      SetProgress(id, "measuring", ++done, total);
    }
    SR_RETURN_IF_ERROR(save(true));
  }

  // 2. Destroy the keys, a batch at a time: each file's record first.
  {
    const uint64_t total = count(is_leaf);
    uint64_t done = count([&](const auto& i) { return is_leaf(i) && i.state >= acl::ItemState::kKeyDestroyed; });
    SetProgress(id, "destroying keys", done, total);
    std::vector<acl::DestructionItem*> batch;
    auto flush = [&]() -> Status {
      if (batch.empty()) return Status::Ok();
      std::vector<acl::ObjectId> ids;
      for (auto* item : batch) {
        if (item->kind != acl::ObjectKind::kFile) continue;
        const std::string path = current_path(*item, false).value_or(item->path);
        SR_RETURN_IF_ERROR(record("destroy.file", path,
                                  "request " + std::to_string(id) + ": file " + crypto::HexEncode(item->object) + ", " +
                                      std::to_string(item->ciphertext_size.value_or(0)) + " bytes of ciphertext, sha256 " +
                                      crypto::HexEncode(item->sha256) +
                                      "; destroying its key, overwriting and removing it"));
        Result<Located> loc = locate(*item);
        if (loc.ok()) WipeCachedKey(loc->st.st_ino);
        ids.push_back(item->object);
      }
      {
        const auto gate = EnterChange();  // a backup sees the keys all there or all gone
        SR_RETURN_IF_ERROR(store_->DestroyKeys(ids));
      }
      SR_RETURN_IF_ERROR(store_->CheckpointTruncate());
      for (auto* item : batch) {
        item->state = acl::ItemState::kKeyDestroyed;
        dirty.push_back(*item);
      }
      done += batch.size();
      batch.clear();
      SR_RETURN_IF_ERROR(save(true));
      SetProgress(id, "destroying keys", done, total);
      SR_FAIL_POINT("destroy.keys");
      return Status::Ok();
    };
    for (auto& item : items) {
      if (!is_leaf(item) || item.state != acl::ItemState::kMeasured) continue;
      if (stopping()) return stopped();
      batch.push_back(&item);
      if (batch.size() >= 256) SR_RETURN_IF_ERROR(flush());
    }
    SR_RETURN_IF_ERROR(flush());
  }

  // 3. Overwrite the ciphertext.
  {
    const uint64_t total = count([](const auto& i) { return i.kind == acl::ObjectKind::kFile; });
    uint64_t done = count([](const auto& i) {
      return i.kind == acl::ObjectKind::kFile && i.state >= acl::ItemState::kOverwritten;
    });
    SetProgress(id, "overwriting", done, total);
    std::vector<uint8_t> zeros(1 << 20, 0);
    for (auto& item : items) {
      if (item.state != acl::ItemState::kKeyDestroyed) continue;
      if (stopping()) return stopped();
      // Each step on the tree is a change: a backup waits for it, and it
      // waits for a backup (the change gate).
      const auto gate = EnterChange();
      if (item.kind == acl::ObjectKind::kFile) {
        Result<Located> loc = locate(item);
        if (!loc.ok() && loc.status().code() != Status::Code::kNotFound) return loc.status();
        if (loc.ok()) {
          UniqueFd fd(::openat(loc->dir.get(), loc->bn.backing.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC));
          struct stat st;
          if (!fd.valid() || ::fstat(fd.get(), &st) != 0) return Errno("open a file to overwrite");
          if (!S_ISREG(st.st_mode) || st.st_ino != loc->st.st_ino) {
            return IntegrityFailure(nullptr, "the backing file of object " + crypto::HexEncode(item.object) + " changed");
          }
          for (off_t off = 0; off < st.st_size;) {
            const size_t n = static_cast<size_t>(std::min<off_t>(st.st_size - off, static_cast<off_t>(zeros.size())));
            const ssize_t w = ::pwrite(fd.get(), zeros.data(), n, off);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) return Errno("overwrite a file being destroyed");
            off += w;
          }
          if (::fdatasync(fd.get()) != 0) return Errno("sync an overwritten file");
        }
        ++done;
      }
      item.state = acl::ItemState::kOverwritten;
      dirty.push_back(item);
      SR_RETURN_IF_ERROR(save(false));
      SetProgress(id, "overwriting", done, total);
      if (item.kind == acl::ObjectKind::kFile) SR_FAIL_POINT("destroy.overwrite");
    }
    SR_RETURN_IF_ERROR(save(true));
  }

  // 4. Remove the names, then the rows.
  {
    const uint64_t total = count(is_leaf);
    uint64_t done = count([&](const auto& i) { return is_leaf(i) && i.state == acl::ItemState::kRemoved; });
    SetProgress(id, "removing", done, total);
    for (auto& item : items) {
      if (!is_leaf(item) || item.state != acl::ItemState::kOverwritten) continue;
      if (stopping()) return stopped();
      const auto gate = EnterChange();
      Result<Located> loc = locate(item);
      if (!loc.ok() && loc.status().code() != Status::Code::kNotFound) return loc.status();
      if (loc.ok()) {
        if (::unlinkat(loc->dir.get(), loc->bn.backing.c_str(), 0) != 0 && errno != ENOENT) {
          return Errno("remove a destroyed file");
        }
        SR_RETURN_IF_ERROR(SyncDir(loc->dir.get()));
        if (crypto::IsLongName(loc->bn.encoded)) (void)store_->DeleteLongName(loc->bn.backing);
        ForgetRemoved(loc->st.st_ino);
      }
      SR_RETURN_IF_ERROR(store_->DeleteObject(item.object));
      item.state = acl::ItemState::kRemoved;
      dirty.push_back(item);
      SR_RETURN_IF_ERROR(save(false));
      SetProgress(id, "removing", ++done, total);
    }
    SR_RETURN_IF_ERROR(save(true));
  }

  // 5. Folders, deepest first.
  {
    std::vector<acl::DestructionItem*> dirs;
    for (auto& item : items) {
      if (item.kind == acl::ObjectKind::kDirectory) dirs.push_back(&item);
    }
    std::stable_sort(dirs.begin(), dirs.end(), [](const auto* a, const auto* b) {
      return std::count(a->path.begin(), a->path.end(), '/') > std::count(b->path.begin(), b->path.end(), '/');
    });
    uint64_t done = 0;
    for (auto* item : dirs) done += item->state != acl::ItemState::kListed ? 1 : 0;
    SetProgress(id, "folders", done, dirs.size());
    for (auto* item : dirs) {
      if (item->state != acl::ItemState::kListed) continue;
      if (stopping()) return stopped();
      const auto gate = EnterChange();
      Result<Located> loc = locate(*item);
      if (!loc.ok() && loc.status().code() != Status::Code::kNotFound) return loc.status();
      acl::ItemState result = acl::ItemState::kRemoved;
      if (loc.ok()) {
        UniqueFd dfd(::openat(loc->dir.get(), loc->bn.backing.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!dfd.valid()) return Errno("open a folder being destroyed");
        std::unique_lock places(places_mu_);
        bool empty = false;
        if (!IsEmptyBackingDir(dfd.get(), &empty)) return Errno("list a folder being destroyed");
        if (!empty) {
          result = acl::ItemState::kKept;
        } else {
          if (::unlinkat(dfd.get(), kDirIdName, 0) != 0 && errno != ENOENT) return Errno("remove directory ID");
          if (::unlinkat(loc->dir.get(), loc->bn.backing.c_str(), AT_REMOVEDIR) != 0) {
            Status st = Errno("remove a folder being destroyed");
            (void)WriteDirId(dfd.get(), item->object);  // the folder stays whole
            return st;
          }
          places.unlock();
          SR_RETURN_IF_ERROR(SyncDir(loc->dir.get()));
          if (crypto::IsLongName(loc->bn.encoded)) (void)store_->DeleteLongName(loc->bn.backing);
          ForgetRemoved(loc->st.st_ino);
        }
      }
      if (result == acl::ItemState::kRemoved) SR_RETURN_IF_ERROR(store_->DeleteObject(item->object));
      item->state = result;
      dirty.push_back(*item);
      SR_RETURN_IF_ERROR(save(false));
      SetProgress(id, "folders", ++done, dirs.size());
    }
    SR_RETURN_IF_ERROR(save(true));
  }
  (void)store_->CheckpointTruncate();

  // 6. The certificate, and its digest sealed into the audit log.
  SetProgress(id, "certifying", 0, 1);
  if (d.certificate.empty()) {
    const auto snapshot = policy_.Get();
    auto user_json = [&](acl::Uid uid) -> json {
      const acl::User* u = snapshot->FindUser(uid);
      if (u == nullptr) return {{"uid", uid}, {"name", nullptr}};
      return {{"uid", uid}, {"name", u->name}, {"role", acl::RoleName(u->role)}};
    };
    const acl::Time completed = Now();
    json witnesses = json::array();
    for (const acl::Witness& w : d.witnesses) {
      json j = user_json(w.uid);
      j["witnessed_at"] = IsoUtc(w.at);
      const acl::User* u = snapshot->FindUser(w.uid);
      j["account_created_at"] = u != nullptr ? json(IsoUtc(u->created_at)) : json(nullptr);
      j["account_created_by"] = nullptr;
      if (u != nullptr && u->created_by) {
        const acl::User* by = snapshot->FindUser(*u->created_by);
        j["account_created_by"] = by != nullptr ? json(by->name) : json("uid " + std::to_string(*u->created_by));
      }
      witnesses.push_back(j);
    }
    json files = json::array(), folders = json::array();
    for (const auto& item : items) {
      if (item.kind == acl::ObjectKind::kDirectory) {
        folders.push_back({{"path", item.path},
                           {"folder_id", crypto::HexEncode(item.object)},
                           {"requested", item.requested()},
                           {"result", item.state == acl::ItemState::kKept ? "kept (not empty)" : "removed"}});
        continue;
      }
      json f = {{"path", item.path},
                {"file_id", crypto::HexEncode(item.object)},
                {"kind", item.kind == acl::ObjectKind::kSymlink ? "symlink" : "file"},
                {"requested", item.requested()}};
      if (item.kind == acl::ObjectKind::kFile) {
        if (item.ciphertext_size) {
          auto plain = crypto::PlainSize(*item.ciphertext_size);
          f["size"] = plain ? json(*plain) : json(nullptr);
          f["ciphertext_size"] = *item.ciphertext_size;
          f["ciphertext_sha256"] = crypto::HexEncode(item.sha256);
          f["result"] = "destroyed";
        } else {
          f["size"] = nullptr;
          f["ciphertext_size"] = nullptr;
          f["ciphertext_sha256"] = nullptr;
          f["result"] = "missing from the vault before the destruction";
        }
      } else {
        f["result"] = "removed";
      }
      files.push_back(f);
    }
    Result<std::string> vault_id = store_->GetMeta("vault_id");
    json body = {{"format", "strongroom-destruction-certificate-v1"},
                 {"vault_id", vault_id.ok() ? *vault_id : std::string()},
                 {"request", id},
                 {"reason", d.reason},
                 {"requested_by", user_json(d.uid)},
                 {"requested_at", IsoUtc(d.created_at)},
                 {"approved_at", d.approved_at ? json(IsoUtc(*d.approved_at)) : json(nullptr)},
                 {"completed_at", IsoUtc(completed)},
                 {"witnesses_needed", d.witnesses_needed},
                 {"witnesses", witnesses},
                 {"files", files},
                 {"folders", folders},
                 {"method", kMethod},
                 {"backups", BackupStatement(completed)}};
    std::string canonical;
    try {
      canonical = acl::CanonicalCertificate(body);
    } catch (const json::exception&) {
      // A name that is not UTF-8: its invalid bytes are shown as U+FFFD.
      canonical = body.dump(-1, ' ', true, json::error_handler_t::replace);
    }
    const crypto::Bytes mac = acl::CertificateMac(certificate_key_, canonical);
    SR_RETURN_IF_ERROR(ps.StoreCertificate(id, canonical, mac, completed));
    d.certificate = canonical;
  }
  const std::string digest = acl::CertificateDigestHex(d.certificate);
  SR_RETURN_IF_ERROR(record(acl::CertificateAuditOp(digest), items.empty() ? "/" : items.front().path,
                            "request " + std::to_string(id) + ": destruction certificate, sha256 " + digest));
  SR_RETURN_IF_ERROR(ps.MarkDestructionDone(id));
  SR_RETURN_IF_ERROR(ReloadPolicy());
  SetProgress(id, "done", 1, 1);
  spdlog::info("destruction request {} done; certificate sha256 {}", id, digest);
  return Status::Ok();
}

}  // namespace strongroom::fs
