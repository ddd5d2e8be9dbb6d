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
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <thread>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "acl/audit_log.h"
#include "acl/decision.h"
#include "acl/policy.h"
#include "acl/store.h"
#include "crypto/content.h"
#include "crypto/names.h"
#include "crypto/vault_config.h"
#include "fs/unique_fd.h"
#include "fs/vault_backup.h"
#include "fs/vault_check.h"
#include "fs/viewer_gate.h"

namespace strongroom::fs {

// Who made a request, from the kernel.
struct Caller {
  uid_t uid = 0;
  gid_t gid = 0;
  pid_t pid = 0;
};

struct Handle;

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
  // The object's ID: a directory's is dir_id; a file's or symlink's is
  // learnt when policy needs it (object_id_known).
  acl::ObjectId object_id{};
  bool object_id_known = false;
  // The folder it was in when its last name went: open handles (and an open
  // that raced with the removal) are judged by the policy there.
  std::shared_ptr<Inode> former_parent;
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
  // The open handles (guarded by open_mu). When one of them has lost its
  // access, the inode's attributes are not cached (volatile_attrs): every
  // read through the page cache then asks for them with the handle and is
  // refused, even while other users keep the cached pages warm.
  std::vector<Handle*> handles;
  std::atomic<bool> volatile_attrs{false};

  // Serialises writers against readers of the content; guards plain_size.
  std::shared_mutex content_mu;
  uint64_t plain_size = 0;
  // Set (under content_mu, exclusive) when a witnessed destruction deleted
  // the file's key: the cached key is wiped and reads answer EIO.
  std::atomic<bool> destroyed{false};
};

// An open file. Reads and writes are authorised by the identity that
// opened it, re-checked when the policy changed (generation) or a grant
// may have expired since (recheck_at).
struct Handle {
  std::shared_ptr<Inode> inode;
  bool append = false;
  uid_t uid = 0;
  bool write = false;  // opened for writing
  // Opened under `view` by an allow-listed viewer: reads need only `view`
  // and that viewer (its digest) still on the allow-list, and nothing is
  // copied out of it with copy_file_range.
  bool view = false;
  acl::Sha256Digest viewer{};
  // Made the file: it may write it under a retention hold until it is
  // closed (a new record added to a held folder), as nobody else can.
  bool created = false;
  std::atomic<uint64_t> generation{0};
  std::atomic<acl::Time> recheck_at{0};
  std::atomic<bool> revoked{false};  // lost its access at the last policy change
};

struct Entry {
  uint64_t ino = 0;
  struct stat attr {};
  double attr_timeout = 0;
};

struct DirEntry {
  std::string name;
  ino_t ino = 0;
  mode_t type = 0;
};

struct Options {
  // Attributes are the same for every user, so the kernel may cache them;
  // entries are not cached (0): which names a user may see depends on who
  // asks, and the kernel's dentry cache is shared by all users.
  double attr_timeout = 1.0;
  double entry_timeout = 0.0;
  // The kernel checks mode bits and ownership too (default_permissions).
  bool posix_permissions = false;
};

// What an operation needs of an object. kView: `view` or more, for reads
// through a handle an allow-listed viewer opened (and symlink targets);
// kRead: `read` or more, whatever the program.
enum class Need { kSee, kList, kView, kRead, kWrite, kManage };

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
  // How long the kernel may cache an inode's attributes.
  double AttrTimeout(uint64_t ino);

  // Loads the policy from the store and puts it in force: open handles are
  // re-checked on their next use, and the kernel drops cached pages of
  // open files. Called after every policy change.
  Status ReloadPolicy();
  std::shared_ptr<const acl::PolicySnapshot> policy() const { return policy_.Get(); }
  acl::PolicyStore& policy_store() { return store_->policy(); }
  // Tells the kernel to drop an inode's cached pages (set by the FUSE side).
  void SetInvalidator(std::function<void(uint64_t ino)> fn) {
    std::lock_guard lock(invalidate_mu_);
    invalidate_ = std::move(fn);
  }
  // The policy's clock: wall time, shifted in test builds.
  acl::Time Now() const;
#ifdef STRONGROOM_TEST_HOOKS
  void SetClockOffset(acl::Time seconds);
#endif
  // Records into `log` from now on (not owned; it outlives the mount).
  void SetAuditLog(acl::AuditLog* log) { audit_ = log; }
  // Vault settings (`strongroom config set`), kept in the policy store.
  Status SetSetting(const std::string& key, const std::string& value) { return store_->SetMeta("setting." + key, value); }
  Result<std::string> GetSetting(const std::string& key) { return store_->GetMeta("setting." + key); }
  // Writes the counts of repeated refusals still pending.
  void FlushRefusals();
  // Writes the counts of repeated refusals whose window has ended (every few
  // seconds, from the expiry thread).
  void FlushEndedRefusals();
  acl::AuditLog* audit_log() { return audit_; }

  // `strongroom fsck` of the mounted vault (fs/vault_check.h): files open
  // for writing are skipped (reported as such), other open files are read
  // under their content lock, and renames wait while an entry's binding is
  // checked. Also checks the audit log's structure when its path is known.
  Result<CheckReport> CheckVault();
  // The audit database this daemon writes (for fsck and status).
  void SetAuditDbPath(std::string path) { audit_db_path_ = std::move(path); }
  const std::string& audit_db_path() const { return audit_db_path_; }
  // The files open now, for `strongroom status`.
  struct OpenFile {
    std::string path;  // vault path (the last one, for a file deleted while open)
    int handles = 0;
    int writers = 0;   // handles open for writing
    bool deleted = false;
  };
  std::vector<OpenFile> OpenFiles();

  // Puts expiring grants in force when they expire (a thread; Stop ends it).
  void StartExpiryWatch();

  // A vault path resolved for a policy command: the object IDs from the
  // object up to the root, and each component's kind. Names the caller may
  // not see (unless `see_all`) resolve as missing.
  struct Resolved {
    std::vector<acl::ObjectId> chain;  // the object first, the root last
    acl::ObjectKind kind = acl::ObjectKind::kDirectory;
  };
  Result<Resolved> ResolvePath(const Caller& caller, std::string_view vault_path, bool see_all);
  // The vault path of an object, found by walking down from the root along
  // its place chain; kNotFound when it has no name any more.
  Result<std::string> PathOf(const acl::ObjectId& id);
  // The object's chain (it, its parent, ..., the root) from the store's rows.
  Result<std::vector<acl::ObjectId>> ChainOfObject(const acl::ObjectId& id);
  Result<std::vector<acl::ObjectRow>> RowsUp(const acl::ObjectId& id);
  void StopExpiryWatch();

  // Witnessed destruction (fs/vault_destroy.cc). Refuses (kDenied, with the
  // reason) a change to the object whose chain is given when a retention
  // hold (`holds`) or an open destruction request (`frozen`) covers it.
  Status Protected(const acl::PolicySnapshot& policy, std::span<const acl::ObjectId> chain, bool holds,
                   bool frozen) const;
  // An object and everything below it, for a destruction request: each
  // entry's ID, kind and vault path. kIntegrity when an entry below cannot
  // be read or has no authentic row (nothing may escape the request).
  struct SubtreeEntry {
    acl::ObjectId id{};
    acl::ObjectKind kind = acl::ObjectKind::kFile;
    std::string path;
  };
  Result<std::vector<SubtreeEntry>> ListSubtree(const std::string& vault_path, const acl::ObjectId& id,
                                                acl::ObjectKind kind);
  // Queues an approved destruction for the executor thread.
  void QueueDestruction(int64_t id);
  // At mount, before serving: finishes every destruction a stop or crash
  // interrupted; returns their IDs and how each went.
  std::vector<std::pair<int64_t, Status>> ResumeDestructions();
  // Where the execution of a destruction stands (while this daemon runs it).
  struct DestructionProgress {
    std::string phase;  // queued, measuring, destroying keys, overwriting, removing, folders, certifying, done
    uint64_t done = 0;
    uint64_t total = 0;
    std::string error;  // why it stopped, if it did
  };
  std::optional<DestructionProgress> ProgressOf(int64_t id);
  // The key that MACs destruction certificates.
  const crypto::SecretKey& certificate_key() const { return certificate_key_; }
#ifdef STRONGROOM_TEST_HOOKS
  // Test builds only: the daemon kills itself (SIGKILL) when the executor
  // reaches failure point `name` for the `after`-th time.
  void SetFailPoint(const std::string& name, int64_t after);
#endif

  Result<Entry> Lookup(const Caller& caller, uint64_t parent, std::string_view name);
  void Forget(uint64_t ino, uint64_t nlookup);
  // The kernel's batched forgets: deleted files' rows go in one transaction.
  void ForgetMany(std::span<const std::pair<uint64_t, uint64_t>> forgets);
  // `handle`: the open file the request came through, if any.
  Result<struct stat> GetAttr(const Caller& caller, uint64_t ino, Handle* handle = nullptr);
  // `to_set` is a mask of the Set* flags below.
  Result<struct stat> SetAttr(const Caller& caller, uint64_t ino, const struct stat& attr, int to_set,
                              Handle* handle);
  Status Access(const Caller& caller, uint64_t ino, int mask);

  Result<Entry> Mkdir(uint64_t parent, std::string_view name, mode_t mode, const Caller& caller);
  Result<Entry> Symlink(std::string_view target, uint64_t parent, std::string_view name,
                        const Caller& caller);
  Result<std::string> Readlink(const Caller& caller, uint64_t ino);
  Status Unlink(const Caller& caller, uint64_t parent, std::string_view name);
  Status Rmdir(const Caller& caller, uint64_t parent, std::string_view name);
  Status Rename(const Caller& caller, uint64_t parent, std::string_view name, uint64_t new_parent,
                std::string_view new_name, unsigned int flags);

  Result<std::pair<Entry, Handle*>> Create(uint64_t parent, std::string_view name, mode_t mode,
                                           int flags, const Caller& caller);
  Result<Handle*> Open(const Caller& caller, uint64_t ino, int flags);
  Result<size_t> Read(Handle* handle, uint64_t offset, std::span<uint8_t> out);
  Result<size_t> Write(Handle* handle, uint64_t offset, std::span<const uint8_t> data);
  // copy_file_range between two open files of the mount. Refused (EACCES,
  // recorded) out of a `view` handle; otherwise EOPNOTSUPP, so that the
  // kernel (or the caller) copies through reads and writes, each checked.
  Result<size_t> CopyFileRange(const Caller& caller, Handle* in, Handle* out);
  Status Fsync(Handle* handle, bool datasync);
  Status Release(Handle* handle);

  // Changes (creates, writes, deletes, renames, attribute changes, releases)
  // hold the change gate shared from the kernel's request to the reply
  // (EnterChange); a backup, or fsck's second look, holds it exclusively
  // (PauseChanges), so what it reads is of one point in time. A pause that
  // is waiting lets no new change in, so a stream of writes cannot starve it.
  std::shared_lock<std::shared_mutex> EnterChange() {
    // Only while a pause waits does a change queue behind it: no shared
    // mutex on the write path otherwise.
    if (pausing_.load(std::memory_order_acquire)) {
      std::lock_guard wait_for_pause(change_entry_);
    }
    return std::shared_lock(change_gate_);
  }
  std::unique_lock<std::shared_mutex> PauseChanges() {
    std::lock_guard entry(change_entry_);
    pausing_.store(true, std::memory_order_release);
    std::unique_lock pause(change_gate_);
    pausing_.store(false, std::memory_order_release);
    return pause;
  }
  // A consistent copy in `dest` (an existing directory): the policy store
  // and the audit log (SQLite online backups) and the encrypted tree, with
  // changes paused meanwhile; reads go on.
  Status BackupTo(const std::string& dest, BackupStats* stats);
  Status Fallocate(Handle* handle, int mode, uint64_t offset, uint64_t length);
  Result<uint64_t> Lseek(Handle* handle, uint64_t offset, int whence);

  Result<std::vector<DirEntry>> ReadDir(const Caller& caller, uint64_t ino);
  Status FsyncDir(uint64_t ino);
  Result<struct statvfs> StatFs(const Caller& caller);

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
  // `quiet_if_missing`: a missing ID file is kNotFound, not logged.
  Result<crypto::DirId> ReadDirId(int dir_fd, bool quiet_if_missing = false) const;
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
  Status RemoveName(const Caller& caller, uint64_t parent, std::string_view name, bool dir);
  Result<BackingName> EncodeIn(const crypto::DirId& dir, std::string_view name) const;
  // Writes through a handle are refused while a hold or freeze covers the file.
  Status CheckWritable(Handle* handle);
  Status ProtectedAt(const std::shared_ptr<Inode>& inode, bool holds, bool frozen);

  // Destruction (fs/vault_destroy.cc).
  struct Located {
    UniqueFd dir;  // O_PATH descriptor of the directory holding it
    crypto::DirId dir_id{};
    std::string name;
    BackingName bn;
    struct stat st {};
  };
  // Walks a vault path from the root, one encrypted component at a time
  // (no symlink followed); kNotFound when a component is missing.
  Result<Located> Locate(const std::string& vault_path);
  Status ExecuteDestruction(int64_t id);
  void ExecutorLoop();
  void SetProgress(int64_t id, const std::string& phase, uint64_t done, uint64_t total);
#ifdef STRONGROOM_TEST_HOOKS
  void FailPoint(const char* name);
#endif
  // Wipes the cached key of an open file being destroyed; reads then fail.
  void WipeCachedKey(ino_t backing_ino);
  // The inode table forgets a backing object removed by a destruction.
  void ForgetRemoved(ino_t backing_ino);
  Result<std::string> ReadlinkOf(const std::shared_ptr<Inode>& inode);

  // Policy. The chain of object IDs from `inode` up to the root; false
  // when the inode has no name any more.
  // `force_leaf` learns a file's own ID even when no file carries policy.
  bool ChainOf(const std::shared_ptr<Inode>& inode, const acl::PolicySnapshot& policy,
               std::vector<acl::ObjectId>* chain, bool force_leaf = false);
  Result<Entry> LookupUnchecked(uint64_t parent, std::string_view name);
  // A file's or symlink's ID, read from the object itself (header, target).
  std::optional<acl::ObjectId> ObjectIdOf(const Inode& inode);
  // Checks that the object found by a lookup at `name` in `parent` is bound
  // there (NotFound when a rename moved it since the lookup found it).
  Status CheckLookupBinding(Inode& inode, const Inode& parent, std::string_view name,
                            const std::string& backing, const struct stat& st);
  // Checks that `caller` may do `need` with the object whose chain is
  // given: ENOENT (kNotFound) when they may not even see it, else EACCES.
  Status Authorize(const Caller& caller, const acl::PolicySnapshot& policy,
                   std::span<const acl::ObjectId> chain, bool is_dir, Need need) const;
  Status Authorize(const Caller& caller, const std::shared_ptr<Inode>& inode, Need need);
  // For a read open (or access) by a caller whose mode is exactly `view`:
  // Ok when the request comes from an allow-listed viewer (ViewerGate),
  // else Denied "copy refused: ..." naming the program.
  Status CheckViewer(const Caller& caller, const acl::PolicySnapshot& policy, const acl::Viewer** viewer);
  // A read open, or access(R_OK): `read`, or `view` from an allow-listed
  // viewer (then `*viewer` names it; it lives as long as `policy`).
  Status AuthorizeRead(const Caller& caller, const acl::PolicySnapshot& policy, std::span<const acl::ObjectId> chain,
                       const acl::Viewer** viewer);
  // True when the name of the object is shown to `uid`.
  bool Visible(uid_t uid, const acl::PolicySnapshot& policy, std::span<const acl::ObjectId> chain,
               bool is_dir, const acl::Decision& d) const;
  // Re-checks an open handle against the current policy.
  Status CheckHandle(Handle* handle);
  void RefreshHandle(Handle* handle, const acl::PolicySnapshot& policy);
  void TrackHandle(Handle* handle);
  void MarkRevokedHandles(const acl::PolicySnapshot& policy);
  // After a change that moves or removes an object carrying policy.
  void PolicyObjectsChanged(const acl::ObjectId& id);
  void ExpiryLoop();

  // Audit (fs/vault_audit.cc).
  std::string VaultPathOf(const std::shared_ptr<Inode>& inode);
  std::string ChildPath(const std::shared_ptr<Inode>& dir, std::string_view name);
  acl::AuditEntry AuditEntryFor(const Caller& caller, std::string op, std::string path, int result);
  // True when a setattr of `to_set` would leave the mode and owner as they
  // are (and sets nothing else).
  bool SetsNothingNew(const Inode& inode, const struct stat& attr, int to_set) const;
  // Commits a record ahead of a change; EIO when it cannot be written.
  Status AuditAhead(acl::AuditEntry entry);
  // Queues a record (opens, refusals, failures after the record).
  void AuditLater(acl::AuditEntry entry);
  // Records a refused or failed call (queued) and returns its status;
  // identical refusals within kRefusalWindow are counted into one record.
  Status AuditOutcome(const Caller& caller, const char* op, const std::string& path, const Status& st,
                      std::string access = {});
  void FlushRefusalsLocked();
  Status Recover();
  Status IntegrityFailure(const Inode* inode, const std::string& what) const;

  friend class MountedCheckGuard;

  Options options_;
  acl::AuditLog* audit_ = nullptr;
  std::string audit_db_path_;
  struct Refusal {
    std::chrono::steady_clock::time_point first;
    uint32_t repeats = 0;
    acl::AuditEntry last_entry;
  };
  static constexpr std::chrono::seconds kRefusalWindow{10};
  std::mutex refusals_mu_;
  std::unordered_map<std::string, Refusal> refusals_;
  acl::PolicyHolder policy_;
  ViewerGate viewer_gate_;
  std::atomic<uint64_t> generation_{0};
  std::mutex reload_mu_;
  std::mutex invalidate_mu_;  // held while invalidate_ runs
  std::function<void(uint64_t)> invalidate_;
  std::atomic<acl::Time> clock_offset_{0};
  std::atomic<acl::Time> expiries_done_{0};  // expiries before this were put in force
  std::mutex expiry_mu_;
  std::condition_variable expiry_cv_;
  bool expiry_stop_ = false;
  std::thread expiry_thread_;
  crypto::VaultKeys keys_;
  crypto::SecretKey certificate_key_;
  crypto::NameCipher names_;

  std::mutex exec_mu_;
  std::condition_variable exec_cv_;
  std::deque<int64_t> exec_queue_;
  std::map<int64_t, DestructionProgress> progress_;
  std::thread exec_thread_;
  bool exec_stop_ = false;
  std::atomic<bool> exec_stopping_{false};
#ifdef STRONGROOM_TEST_HOOKS
  std::mutex fail_mu_;
  std::string fail_point_;
  int64_t fail_after_ = -1;
#endif
  std::unique_ptr<acl::Store> store_;
  std::mutex change_entry_;
  std::atomic<bool> pausing_{false};
  std::shared_mutex change_gate_;

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
