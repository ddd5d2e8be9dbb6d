// VaultFs: the filesystem operations of a mounted vault, independent of the
// FUSE wire protocol (fs/fuse_bridge.cc decodes requests, calls these, and
// maps Status to errno). Each inode holds an O_PATH descriptor on its backing
// object; every backing access is a *at() call with one encrypted name
// component and O_NOFOLLOW beneath such a descriptor, so nothing planted in
// the backing tree (a symlink as any component, a hard link) redirects it.
//
// Thread-safe. Lock order: Inode::open_mu, then places_mu_, then table_mu_
// (a rename holds places_mu_ and table_mu_ but never an open_mu);
// Inode::content_mu is taken without holding table_mu_.
#pragma once

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "acl/store.h"
#include "crypto/content.h"
#include "crypto/names.h"
#include "crypto/vault_config.h"
#include "fs/unique_fd.h"

namespace strongroom::fs {

// Who made a request, from the kernel.
struct Caller {
  uid_t uid = 0;
  gid_t gid = 0;
  pid_t pid = 0;
};

struct Inode {
  uint64_t ino = 0;
  dev_t backing_dev = 0;
  ino_t backing_ino = 0;
  mode_t type = 0;  // S_IFREG, S_IFDIR or S_IFLNK
  UniqueFd path_fd;  // O_PATH | O_NOFOLLOW
  crypto::DirId dir_id{};  // directories only; immutable
  std::atomic<uint64_t> nlookup{0};

  // Guarded by VaultFs::table_mu_.
  std::shared_ptr<Inode> parent;
  std::string name;          // plaintext, memory only
  bool entry_durable = true;  // false until the entry is fsynced after creation or a move

  // Open-file state, guarded by open_mu.
  std::mutex open_mu;
  int open_count = 0;
  UniqueFd data_fd;           // O_RDWR on the backing file while open
  crypto::SecretKey key;      // the unwrapped data key while open
  crypto::FileId file_id{};
  // The last name is gone. The row (key) goes once the file is closed and
  // the kernel has forgotten the inode: until then it may still open it
  // (an open that raced with the unlink), and POSIX says that works.
  bool unlinked = false;
  acl::ObjectId retired_id{};

  // Serialises writers against readers of the content; guards plain_size.
  std::shared_mutex content_mu;
  uint64_t plain_size = 0;
};

struct Handle {
  std::shared_ptr<Inode> inode;
  bool append = false;
};

struct Entry {
  uint64_t ino = 0;
  struct stat attr {};
};

struct DirEntry {
  std::string name;
  ino_t ino = 0;
  mode_t type = 0;
};

struct Options {
  double attr_timeout = 1.0;
  double entry_timeout = 1.0;
};

class VaultFs {
 public:
  VaultFs(Options options, crypto::VaultKeys keys, std::unique_ptr<acl::Store> store, UniqueFd root_fd);
  ~VaultFs();

  // Loads the root, finishes what a crash left (orphaned key rows, moves in
  // flight) and marks the vault mounted.
  Status Start();
  // Marks the vault cleanly unmounted and purges deleted keys from the WAL.
  void Stop();

  const Options& options() const { return options_; }

  Result<Entry> Lookup(uint64_t parent, std::string_view name);
  void Forget(uint64_t ino, uint64_t nlookup);
  // The kernel's batched forgets: deleted files' rows go in one transaction.
  void ForgetMany(std::span<const std::pair<uint64_t, uint64_t>> forgets);
  Result<struct stat> GetAttr(uint64_t ino);
  // `to_set` is a mask of the Set* flags below.
  Result<struct stat> SetAttr(uint64_t ino, const struct stat& attr, int to_set, Handle* handle);
  Status Access(uint64_t ino, int mask);

  Result<Entry> Mkdir(uint64_t parent, std::string_view name, mode_t mode, const Caller& caller);
  Result<Entry> Symlink(std::string_view target, uint64_t parent, std::string_view name,
                        const Caller& caller);
  Result<std::string> Readlink(uint64_t ino);
  Status Unlink(uint64_t parent, std::string_view name);
  Status Rmdir(uint64_t parent, std::string_view name);
  Status Rename(uint64_t parent, std::string_view name, uint64_t new_parent,
                std::string_view new_name, unsigned int flags);

  Result<std::pair<Entry, Handle*>> Create(uint64_t parent, std::string_view name, mode_t mode,
                                           int flags, const Caller& caller);
  Result<Handle*> Open(uint64_t ino, int flags);
  Result<size_t> Read(Handle* handle, uint64_t offset, std::span<uint8_t> out);
  Result<size_t> Write(Handle* handle, uint64_t offset, std::span<const uint8_t> data);
  Status Fsync(Handle* handle, bool datasync);
  Status Release(Handle* handle);
  Status Fallocate(Handle* handle, int mode, uint64_t offset, uint64_t length);
  Result<uint64_t> Lseek(Handle* handle, uint64_t offset, int whence);

  Result<std::vector<DirEntry>> ReadDir(uint64_t ino);
  Status FsyncDir(uint64_t ino);
  Result<struct statvfs> StatFs();

  static constexpr int kSetMode = 1 << 0;
  static constexpr int kSetUid = 1 << 1;
  static constexpr int kSetGid = 1 << 2;
  static constexpr int kSetSize = 1 << 3;
  static constexpr int kSetAtime = 1 << 4;
  static constexpr int kSetMtime = 1 << 5;
  static constexpr int kSetAtimeNow = 1 << 6;
  static constexpr int kSetMtimeNow = 1 << 7;
  static constexpr int kSetCtime = 1 << 8;

 private:
  struct BackingName {
    std::string encoded;  // the full encrypted name
    std::string backing;  // what the backing directory holds (hashed when long)
  };

  std::shared_ptr<Inode> Get(uint64_t ino);
  Result<std::shared_ptr<Inode>> GetDir(uint64_t ino);
  Result<BackingName> Encode(const Inode& dir, std::string_view name) const;
  // The plaintext name of a backing entry of directory `dir`, or nullopt when
  // it does not decode (no long-name row, or it does not authenticate).
  std::optional<std::string> Decode(const crypto::DirId& dir, const std::string& backing);
  acl::Place PlaceOf(const crypto::DirId& dir, std::string_view name) const;
  // Registers (or finds) the inode for a backing object opened as `fd`.
  // `moved` (when given) tells whether a known inode was found under another
  // parent or name than the one it had: a move the daemon did not make.
  Result<std::shared_ptr<Inode>> Intern(UniqueFd fd, const struct stat& st,
                                        const std::shared_ptr<Inode>& parent, std::string_view name,
                                        bool fresh, bool* moved = nullptr);
  Result<crypto::DirId> ReadDirId(int dir_fd) const;
  Result<struct stat> Stat(Inode& inode);
  Status FixAttr(Inode& inode, struct stat* st);
  // The entry for a lookup reply; `backing` is the object's stat when the
  // caller has just taken it (saves a second fstat).
  Result<Entry> MakeEntry(const std::shared_ptr<Inode>& inode, const struct stat* backing = nullptr);
  // Checks a row's MAC and that it binds the object to where the inode is.
  // `at` overrides the place the inode is known at.
  Status CheckBinding(const acl::ObjectRow& row, const Inode& inode, acl::ObjectKind kind,
                      const acl::Place* at = nullptr);
  // Reads the row of object `id` and checks its binding to `inode`, with no
  // rename changing places in between.
  Result<acl::ObjectRow> LoadBoundRow(const acl::ObjectId& id, const Inode& inode, acl::ObjectKind kind,
                                      const acl::Place* at = nullptr);
  bool RowMacValid(const acl::ObjectRow& row) const;
  // A fresh row (random ID, MAC) for a new object at `place`.
  acl::ObjectRow NewRow(acl::ObjectKind kind, const acl::Place& place) const;
  // Binds an object to `place` (clearing any unlinked mark), keeping
  // `previous` while a rename is in flight.
  Status Rebind(const acl::ObjectId& id, acl::ObjectKind kind, const acl::Place& place,
                const std::optional<acl::Place>& previous);
  // Sets or clears the write-ahead mark of an object bound to `place`.
  Status MarkUnlinked(const acl::ObjectId& id, acl::ObjectKind kind, const acl::Place& place, bool unlinked);
  // Opens the backing file and unwraps its key on first use; counted.
  Status OpenData(Inode& inode);
  Status CloseData(Inode& inode);
  void RetireFile(const std::shared_ptr<Inode>& inode, const acl::ObjectId& id);
  // Drops the row of a retired object once nothing can reach it any more.
  void DropIfUnreachable(Inode& inode);
  // The retired object's ID when nothing can reach it any more.
  std::optional<acl::ObjectId> UnreachableId(Inode& inode);
  // Lowers the lookup count; returns the inode when it leaves the table.
  std::shared_ptr<Inode> Unref(uint64_t ino, uint64_t nlookup);
  Status DropKeyRow(const acl::ObjectId& id);
  Status SyncEntries(Inode& inode);
  Result<std::optional<acl::ObjectId>> ObjectIdAt(int dir_fd, const std::string& backing,
                                                  const struct stat& st);
  // The ID of the object at `place`: from the store's index of places when
  // an authentic row is bound there (no read of the backing object, which
  // may be cold on disk), else from the object itself.
  Result<std::optional<acl::ObjectId>> ObjectIdFor(const acl::Place& place, int dir_fd,
                                                   const std::string& backing, const struct stat& st);
  Status RemoveName(uint64_t parent, std::string_view name, bool dir);
  Status Recover();
  Status IntegrityFailure(const Inode* inode, const std::string& what) const;

  Options options_;
  crypto::VaultKeys keys_;
  crypto::NameCipher names_;
  std::unique_ptr<acl::Store> store_;

  // Exclusive while a rename moves rows and inodes to their new places,
  // shared while a binding is checked, so no check sees a half-done move.
  std::shared_mutex places_mu_;
  std::mutex table_mu_;
  std::unordered_map<uint64_t, std::shared_ptr<Inode>> inodes_;
  std::unordered_map<uint64_t, uint64_t> by_backing_;  // backing inode number -> ino
  uint64_t next_ino_ = 2;
  dev_t backing_dev_ = 0;
  UniqueFd root_fd_;
};

}  // namespace strongroom::fs
