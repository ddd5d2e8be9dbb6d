// VaultFs's side of `strongroom fsck` and `strongroom status`: the checker
// of fs/vault_check.h run inside the daemon, and the open-file table.
#include <algorithm>
#include <mutex>
#include <shared_mutex>

#include "fs/vault_check.h"
#include "fs/vault_fs.h"

namespace strongroom::fs {

// Keeps a check of the mounted vault off what the daemon is changing: a
// rename waits while an entry's binding is checked (places_mu_, shared, as
// a binding check at open takes it), a write waits while a file's content is
// read (content_mu, shared, taken after open_mu as OpenData does), and files
// open for writing are not read at all.
class MountedCheckGuard : public CheckGuard {
 public:
  explicit MountedCheckGuard(VaultFs& fs) : fs_(fs) {}

  void WithPlaces(const std::function<void()>& fn) override {
    std::shared_lock lock(fs_.places_mu_);
    fn();
  }

  bool WithFile(ino_t backing_ino, const std::function<void()>& fn) override {
    std::shared_ptr<Inode> inode;
    {
      std::lock_guard lock(fs_.table_mu_);
      if (auto it = fs_.by_backing_.find(backing_ino); it != fs_.by_backing_.end()) {
        if (auto in = fs_.inodes_.find(it->second); in != fs_.inodes_.end()) inode = in->second;
      }
    }
    if (!inode) {
      fn();
      return true;
    }
    std::unique_lock open(inode->open_mu);
    if (std::any_of(inode->handles.begin(), inode->handles.end(), [](const Handle* h) { return h->write; })) {
      return false;
    }
    std::shared_lock content(inode->content_mu);
    open.unlock();
    fn();
    return true;
  }

  bool StillThere(const acl::ObjectId& id) override { return fs_.PathOf(id).ok(); }

  void Quiesced(const std::function<void()>& fn) override {
    const auto pause = fs_.PauseChanges();
    fn();
  }

 private:
  VaultFs& fs_;
};

Result<CheckReport> VaultFs::CheckVault() {
  MountedCheckGuard guard(*this);
  VaultChecker checker(keys_, *store_, root_fd_.get(), &guard);
  checker.SetAuditDb(audit_db_path_);
  return checker.Run();
}

std::vector<VaultFs::OpenFile> VaultFs::OpenFiles() {
  std::vector<std::shared_ptr<Inode>> all;
  {
    std::lock_guard lock(table_mu_);
    for (const auto& [ino, inode] : inodes_) {
      if (S_ISREG(inode->type)) all.push_back(inode);
    }
  }
  std::vector<OpenFile> out;
  for (const auto& inode : all) {
    OpenFile f;
    {
      std::lock_guard lock(inode->open_mu);
      if (inode->open_count == 0) continue;
      f.handles = static_cast<int>(inode->handles.size());
      f.writers = static_cast<int>(
          std::count_if(inode->handles.begin(), inode->handles.end(), [](const Handle* h) { return h->write; }));
      f.deleted = inode->unlinked;
    }
    f.path = VaultPathOf(inode);
    out.push_back(std::move(f));
  }
  std::sort(out.begin(), out.end(), [](const OpenFile& a, const OpenFile& b) { return a.path < b.path; });
  return out;
}

}  // namespace strongroom::fs
