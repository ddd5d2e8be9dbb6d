// VaultFs: policy in force. Decisions come from an in-memory snapshot of the
// policy store (acl::PolicySnapshot), replaced as a whole after each change;
// each request walks its inode's parents in memory to build the chain of
// object IDs the decision needs. No decision queries the store.
#include <dirent.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <limits>

#include "fs/vault_fs.h"
#include "fs/vault_layout.h"

namespace strongroom::fs {
namespace {

bool IsZeroId(const acl::ObjectId& id) {
  for (uint8_t b : id) {
    if (b != 0) return false;
  }
  return true;
}

constexpr acl::Time kNever = std::numeric_limits<acl::Time>::max();

// What a handle's reads and writes need.
Need HandleNeed(const Handle& h) { return h.write ? Need::kWrite : h.view ? Need::kView : Need::kRead; }

// A viewer's handle lives only while its viewer is on the allow-list.
bool ViewerStillListed(const Handle& h, const acl::PolicySnapshot& policy) {
  return !h.view || policy.FindViewer(h.viewer) != nullptr;
}

}  // namespace

acl::Time VaultFs::Now() const {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return std::chrono::duration_cast<std::chrono::seconds>(now).count() + clock_offset_.load();
}

#ifdef STRONGROOM_TEST_HOOKS
void VaultFs::SetClockOffset(acl::Time seconds) {
  clock_offset_.store(seconds);
  // Expiries the jump passed take effect before this returns.
  auto policy = policy_.Get();
  std::optional<acl::Time> next = policy ? policy->NextExpiry(expiries_done_.load()) : std::nullopt;
  if (next && Now() > *next) {
    Status st = ReloadPolicy();
    if (!st.ok()) spdlog::error("cannot put an expiry in force: {}", st.ToString());
  }
  {
    std::lock_guard lock(expiry_mu_);
  }
  expiry_cv_.notify_all();
}
#endif

Status VaultFs::ReloadPolicy() {
  std::lock_guard lock(reload_mu_);
  expiries_done_.store(Now());
  Result<acl::PolicyData> data = store_->policy().LoadPolicy();
  if (!data.ok()) return data.status();
  auto info = [this](const acl::ObjectId& id) -> std::optional<acl::ObjectInfo> {
    Result<acl::ObjectRow> row = store_->GetObject(id);
    if (!row.ok() || row->unlinked || !RowMacValid(*row)) return std::nullopt;
    return acl::ObjectInfo{row->place.parent, row->kind, IsZeroId(row->place.parent)};
  };
  auto snapshot = std::make_shared<const acl::PolicySnapshot>(std::move(*data), info, ++generation_);
  policy_.Set(snapshot);
  MarkRevokedHandles(*snapshot);
  // The kernel's cached pages of open files were read under the old policy:
  // reads from them now come back to be checked.
  std::lock_guard invalidating(invalidate_mu_);
  if (invalidate_) {
    std::vector<uint64_t> open;
    {
      std::lock_guard table(table_mu_);
      for (auto& [ino, inode] : inodes_) {
        if (S_ISREG(inode->type)) open.push_back(ino);
      }
    }
    for (uint64_t ino : open) {
      auto inode = Get(ino);
      if (!inode) continue;
      bool is_open;
      {
        std::lock_guard open_lock(inode->open_mu);
        is_open = inode->open_count > 0;
      }
      if (is_open) invalidate_(ino);
    }
  }
  {
    std::lock_guard wake(expiry_mu_);  // no lost wake-up of the expiry thread
  }
  expiry_cv_.notify_all();
  return Status::Ok();
}

// Finds the open handles that lost their access under `policy`: their
// inodes' attributes stop being cached until those handles are closed.
void VaultFs::MarkRevokedHandles(const acl::PolicySnapshot& policy) {
  std::vector<std::shared_ptr<Inode>> open;
  {
    std::lock_guard table(table_mu_);
    for (auto& [ino, inode] : inodes_) {
      if (S_ISREG(inode->type)) open.push_back(inode);
    }
  }
  std::vector<acl::ObjectId> chain;
  for (auto& inode : open) {
    std::lock_guard lock(inode->open_mu);
    if (inode->handles.empty()) continue;
    bool any = false;
    const bool placed = ChainOf(inode, policy, &chain);
    for (Handle* h : inode->handles) {
      const bool ok = placed && ViewerStillListed(*h, policy) &&
                      Authorize(Caller{h->uid, 0, 0}, policy, chain, false, HandleNeed(*h)).ok();
      h->revoked.store(!ok);
      any = any || !ok;
    }
    inode->volatile_attrs.store(any);
  }
}

void VaultFs::PolicyObjectsChanged(const acl::ObjectId& id) {
  auto policy = policy_.Get();
  if (!policy || (!policy->HasPolicy(id) && !policy->PolicyBelow(id))) return;
  Status st = ReloadPolicy();
  if (!st.ok()) spdlog::error("cannot reload the policy: {}", st.ToString());
}

void VaultFs::StartExpiryWatch() {
  expiry_thread_ = std::thread([this] { ExpiryLoop(); });
}

void VaultFs::StopExpiryWatch() {
  {
    std::lock_guard lock(expiry_mu_);
    expiry_stop_ = true;
  }
  expiry_cv_.notify_all();
  if (expiry_thread_.joinable()) expiry_thread_.join();
}

void VaultFs::ExpiryLoop() {
  std::unique_lock lock(expiry_mu_);
  while (!expiry_stop_) {
    auto policy = policy_.Get();
    const acl::Time now = Now();
    // The first expiry not yet put in force (it may have passed already).
    std::optional<acl::Time> next = policy ? policy->NextExpiry(expiries_done_.load()) : std::nullopt;
    if (next && now > *next) {
      lock.unlock();
      Status st = ReloadPolicy();
      if (!st.ok()) spdlog::error("cannot put an expiry in force: {}", st.ToString());
      lock.lock();
      continue;
    }
    // Wake at the expiry (or within a minute, or when the policy or the
    // test clock changes).
    // Counted refusals whose window ended are written within a second.
    lock.unlock();
    FlushEndedRefusals();
    lock.lock();
    const acl::Time wait = next ? std::min<acl::Time>(*next + 1 - now, 1) : 1;
    const uint64_t gen = generation_.load();
    const acl::Time offset = clock_offset_.load();
    expiry_cv_.wait_for(lock, std::chrono::seconds(std::max<acl::Time>(wait, 1)), [&] {
      return expiry_stop_ || generation_.load() != gen || clock_offset_.load() != offset;
    });
  }
}

bool VaultFs::ChainOf(const std::shared_ptr<Inode>& inode, const acl::PolicySnapshot& policy,
                      std::vector<acl::ObjectId>* chain, bool force_leaf) {
  chain->clear();
  if (!S_ISDIR(inode->type) && (force_leaf || policy.HasLeafPolicy())) {
    std::shared_ptr<Inode> parent;
    std::string name;
    bool known;
    {
      std::lock_guard lock(table_mu_);
      known = inode->object_id_known;
      parent = inode->parent;
      name = inode->name;
    }
    if (!known) {
      std::optional<acl::ObjectId> id;
      if (parent) {
        Result<acl::ObjectRow> row = store_->FindObjectAt(PlaceOf(parent->dir_id, name));
        if (row.ok() && RowMacValid(*row) && row->kind == KindOf(inode->type)) id = row->id;
      }
      if (!id) id = ObjectIdOf(*inode);  // renamed meanwhile, say: ask the object itself
      if (id) {
        std::lock_guard lock(table_mu_);
        inode->object_id = *id;
        inode->object_id_known = true;
      }
    }
    std::lock_guard lock(table_mu_);
    // Policy may be attached to this very object: deciding without its ID
    // could miss a `none` or a label on it.
    if (!inode->object_id_known) return false;
  }
  std::lock_guard lock(table_mu_);
  const Inode* n = inode.get();
  if (!S_ISDIR(n->type)) {
    if (n->object_id_known) chain->push_back(n->object_id);
    // A file whose last name is gone is judged where it was.
    const Inode* up = n->parent ? n->parent.get() : n->former_parent.get();
    if (up == nullptr) return false;
    n = up;
  }
  // A folder removed while a file in it stayed open is judged where it was.
  for (int depth = 0; n != nullptr && depth < 4096; ++depth) {
    chain->push_back(n->dir_id);
    if (n->ino == 1) return true;
    n = n->parent ? n->parent.get() : n->former_parent.get();
  }
  return false;
}

bool VaultFs::Visible(uid_t uid, const acl::PolicySnapshot& policy, std::span<const acl::ObjectId> chain,
                      bool is_dir, const acl::Decision& d) const {
  if (is_dir && chain.size() == 1) return true;  // the root: the mountpoint itself
  if (!d.known()) return false;
  const acl::User* user = policy.FindUser(uid);
  // Admins manage every folder: they see folder names, not file names.
  if (is_dir && user != nullptr && user->role == acl::Role::kAdmin) return true;
  if (d.mode >= acl::Mode::kView) return true;
  return is_dir && policy.OnTheWay(uid, chain.front(), Now());
}

Status VaultFs::Authorize(const Caller& caller, const acl::PolicySnapshot& policy,
                          std::span<const acl::ObjectId> chain, bool is_dir, Need need) const {
  const acl::Decision d = policy.Decide(caller.uid, chain, Now());
  if (!Visible(caller.uid, policy, chain, is_dir, d)) return Status::NotFound("not visible to this user");
  if (!d.known()) return Status::Denied(d.why == acl::Decision::Why::kDisabled ? "user disabled" : "unknown user");
  const acl::Mode mode = d.effective();
  switch (need) {
    case Need::kSee:
      return Status::Ok();
    case Need::kList: {
      if (mode >= acl::Mode::kView) return Status::Ok();
      const acl::User* user = policy.FindUser(caller.uid);
      if (user != nullptr && user->role == acl::Role::kAdmin) return Status::Ok();
      if (is_dir && policy.OnTheWay(caller.uid, chain.front(), Now())) return Status::Ok();
      // Every user may list the root: they see what is on their way.
      if (is_dir && chain.size() == 1) return Status::Ok();
      break;
    }
    case Need::kView:
      if (mode >= acl::Mode::kView) return Status::Ok();
      break;
    case Need::kRead:
      if (mode >= acl::Mode::kRead) return Status::Ok();
      if (mode == acl::Mode::kView) return Status::Denied("view-only: only an allow-listed viewer may open this");
      break;
    case Need::kWrite:
      if (mode >= acl::Mode::kWrite) return Status::Ok();
      break;
    case Need::kManage:
      if (mode >= acl::Mode::kManage) return Status::Ok();
      break;
  }
  if (!d.cleared() && d.mode >= acl::Mode::kView) return Status::Denied("clearance below the level");
  return Status::Denied("no grant for this");
}

Status VaultFs::CheckViewer(const Caller& caller, const acl::PolicySnapshot& policy, const acl::Viewer** viewer) {
  return viewer_gate_.Check(caller.pid, caller.gid, policy, viewer);
}

Status VaultFs::AuthorizeRead(const Caller& caller, const acl::PolicySnapshot& policy,
                              std::span<const acl::ObjectId> chain, const acl::Viewer** viewer) {
  *viewer = nullptr;
  Status st = Authorize(caller, policy, chain, false, Need::kRead);
  // Only a refusal for `view` mode gets a second look: a `read` user's
  // opens cost nothing more, and nothing else is opened up.
  if (st.ok() || st.code() != Status::Code::kDenied ||
      policy.Decide(caller.uid, chain, Now()).effective() != acl::Mode::kView) {
    return st;
  }
  return CheckViewer(caller, policy, viewer);
}

Status VaultFs::Authorize(const Caller& caller, const std::shared_ptr<Inode>& inode, Need need) {
  auto policy = policy_.Get();
  std::vector<acl::ObjectId> chain;
  if (!ChainOf(inode, *policy, &chain)) return Status::NotFound("no name any more");
  return Authorize(caller, *policy, chain, S_ISDIR(inode->type), need);
}

void VaultFs::RefreshHandle(Handle* handle, const acl::PolicySnapshot& policy) {
  handle->generation.store(policy.generation());
  std::optional<acl::Time> next = policy.NextExpiry(Now());
  handle->recheck_at.store(next ? *next + 1 : kNever);
}

Status VaultFs::CheckHandle(Handle* handle) {
  auto policy = policy_.Get();
  if (handle->generation.load() == policy->generation() && Now() < handle->recheck_at.load()) {
    return Status::Ok();
  }
  std::vector<acl::ObjectId> chain;
  // An open file is judged where it is, or where it was when its name (or
  // its folder) was removed.
  if (!ChainOf(handle->inode, *policy, &chain)) return Status::Denied("access revoked: the file has no place");
  if (!ViewerStillListed(*handle, *policy)) return Status::Denied("access revoked: the viewer was taken off the allow-list");
  Status st = Authorize(Caller{handle->uid, 0, 0}, *policy, chain, false, HandleNeed(*handle));
  if (!st.ok()) return Status::Denied("access revoked: " + st.message());
  RefreshHandle(handle, *policy);
  return Status::Ok();
}

Result<VaultFs::Resolved> VaultFs::ResolvePath(const Caller& caller, std::string_view vault_path, bool see_all) {
  if (vault_path.empty() || vault_path[0] != '/') return Status::Invalid("a vault path starts with /");
  std::vector<std::string> parts;
  size_t pos = 1;
  while (pos <= vault_path.size()) {
    size_t end = vault_path.find('/', pos);
    if (end == std::string_view::npos) end = vault_path.size();
    std::string_view part = vault_path.substr(pos, end - pos);
    if (!part.empty()) {
      if (part == "." || part == ".." || !crypto::IsValidName(part)) return Status::Invalid("invalid path component");
      parts.emplace_back(part);
    }
    pos = end + 1;
  }
  auto policy = policy_.Get();
  std::vector<std::shared_ptr<Inode>> held;  // looked up here, forgotten at the end
  struct Release {
    VaultFs* fs;
    std::vector<std::shared_ptr<Inode>>& held;
    ~Release() {
      for (auto& i : held) fs->Forget(i->ino, 1);
    }
  } release{this, held};
  std::shared_ptr<Inode> cur = Get(1);
  for (const std::string& part : parts) {
    if (!S_ISDIR(cur->type)) return Status::NotFound("no such path");
    Result<Entry> e = LookupUnchecked(cur->ino, part);
    if (!e.ok()) return e.status().code() == Status::Code::kIntegrity ? e.status() : Status::NotFound("no such path");
    cur = Get(e->ino);
    if (!cur) return Status::NotFound("no such path");
    held.push_back(cur);
    if (!see_all) {
      std::vector<acl::ObjectId> chain;
      if (!ChainOf(cur, *policy, &chain)) return Status::NotFound("no such path");
      Status st = Authorize(caller, *policy, chain, S_ISDIR(cur->type), Need::kSee);
      if (!st.ok()) return Status::NotFound("no such path");
    }
  }
  Resolved out;
  if (!ChainOf(cur, *policy, &out.chain, true)) return Status::NotFound("no such path");
  if (!S_ISDIR(cur->type) && out.chain.size() == held.size()) {
    return Status::Integrity("the object at that path has no authentic row");
  }
  out.kind = KindOf(cur->type);
  return out;
}

Result<std::vector<acl::ObjectRow>> VaultFs::RowsUp(const acl::ObjectId& id) {
  std::vector<acl::ObjectRow> rows;
  acl::ObjectId at = id;
  for (int depth = 0;; ++depth) {
    if (depth > 4096) return Status::Integrity("the place chain loops");
    Result<acl::ObjectRow> row = store_->GetObject(at);
    if (!row.ok()) return Status::NotFound("object has no row");
    if (!RowMacValid(*row)) return Status::Integrity("the policy store's row was modified");
    if (row->unlinked) return Status::NotFound("object was deleted");
    const bool root = IsZeroId(row->place.parent);
    at = row->place.parent;
    rows.push_back(std::move(*row));
    if (root) return rows;
  }
}

Result<std::vector<acl::ObjectId>> VaultFs::ChainOfObject(const acl::ObjectId& id) {
  Result<std::vector<acl::ObjectRow>> rows = RowsUp(id);
  if (!rows.ok()) return rows.status();
  std::vector<acl::ObjectId> chain;
  for (const auto& row : *rows) chain.push_back(row.id);
  return chain;
}

Result<std::string> VaultFs::PathOf(const acl::ObjectId& id) {
  Result<std::vector<acl::ObjectRow>> all = RowsUp(id);
  if (!all.ok()) return all.status();
  std::vector<acl::ObjectRow> rows = std::move(*all);
  rows.pop_back();  // the root has no name
  // Down from the root: find each row's name among its parent's entries.
  std::string path;
  UniqueFd dir(::openat(root_fd_.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  for (auto it = rows.rbegin(); it != rows.rend(); ++it) {
    if (!dir.valid()) return Errno("open directory");
    const crypto::DirId dir_id = it->place.parent;
    DIR* d = ::fdopendir(::dup(dir.get()));
    if (d == nullptr) return Errno("opendir");
    std::optional<std::pair<std::string, std::string>> found;  // name, backing
    while (struct dirent* e = ::readdir(d)) {
      const std::string backing = e->d_name;
      if (backing == "." || backing == ".." || backing == kDirIdName) continue;
      auto name = Decode(dir_id, backing);
      if (name && PlaceOf(dir_id, *name).name_tag == it->place.name_tag) {
        found.emplace(std::move(*name), backing);
        break;
      }
    }
    ::closedir(d);
    if (!found) return Status::NotFound("object has no name");
    path += "/" + found->first;
    if (std::next(it) != rows.rend()) {
      dir = UniqueFd(::openat(dir.get(), found->second.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    }
  }
  return path.empty() ? std::string("/") : path;
}

}  // namespace strongroom::fs
