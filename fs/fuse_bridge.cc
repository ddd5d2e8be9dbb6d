#define FUSE_USE_VERSION 314
#include "fs/fuse_bridge.h"

#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <spdlog/spdlog.h>

#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "crypto/primitives.h"
#include "fs/errno_map.h"

namespace strongroom::fs {
namespace {

VaultFs* Fs(fuse_req_t req) { return static_cast<VaultFs*>(fuse_req_userdata(req)); }

Caller CallerOf(fuse_req_t req) {
  const fuse_ctx* ctx = fuse_req_ctx(req);
  return Caller{ctx->uid, ctx->gid, ctx->pid};
}

Handle* HandleOf(fuse_file_info* fi) { return reinterpret_cast<Handle*>(fi->fh); }

void ReplyStatus(fuse_req_t req, const Status& st) { fuse_reply_err(req, ToErrno(st)); }

// Runs one request body; any exception becomes EIO so every request gets
// exactly one reply.
// Keys used by the request are wiped from this thread's cipher contexts
// afterwards, so no data key outlives its request there.
template <typename Fn>
void Guard(fuse_req_t req, Fn&& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    spdlog::error("internal error: {}", e.what());
    fuse_reply_err(req, EIO);
  }
  crypto::gcm::ForgetThreadKeys();
}

// Guard for a request that changes the vault: it holds the change gate
// shared, so a backup (which holds it exclusively) waits for it and it
// waits for the backup.
template <typename Fn>
void GuardChange(fuse_req_t req, Fn&& fn) {
  const auto gate = Fs(req)->EnterChange();
  Guard(req, std::forward<Fn>(fn));
}

fuse_entry_param ToEntryParam(VaultFs* fs, const Entry& e) {
  fuse_entry_param p{};
  p.ino = e.ino;
  p.attr = e.attr;
  p.attr_timeout = e.attr_timeout;
  p.entry_timeout = fs->options().entry_timeout;
  return p;
}

void ReplyEntry(fuse_req_t req, const Result<Entry>& e) {
  if (!e.ok()) return ReplyStatus(req, e.status());
  fuse_entry_param p = ToEntryParam(Fs(req), *e);
  if (fuse_reply_entry(req, &p) != 0) Fs(req)->Forget(e->ino, 1);
}

void OpInit(void* /*userdata*/, fuse_conn_info* conn) {
  // Large requests: up to 1 MiB per read and write, decrypted in one pass.
  conn->max_write = 1 << 20;
  conn->max_readahead = 1 << 20;
  if (conn->capable & FUSE_CAP_READDIRPLUS) conn->want |= FUSE_CAP_READDIRPLUS;
  if (conn->capable & FUSE_CAP_READDIRPLUS_AUTO) conn->want |= FUSE_CAP_READDIRPLUS_AUTO;
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  conn->want &= ~(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
}

void OpLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Guard(req, [&] {
    Result<Entry> e = Fs(req)->Lookup(CallerOf(req), parent, name);
    if (!e.ok() && e.status().code() == Status::Code::kNotFound) {
      // No negative caching: a name's absence is not remembered by the kernel.
      return ReplyStatus(req, e.status());
    }
    ReplyEntry(req, e);
  });
}

void OpForget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  Fs(req)->Forget(ino, nlookup);
  fuse_reply_none(req);
}

void OpForgetMulti(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
  std::vector<std::pair<uint64_t, uint64_t>> batch(count);
  for (size_t i = 0; i < count; ++i) batch[i] = {forgets[i].ino, forgets[i].nlookup};
  Fs(req)->ForgetMany(batch);
  fuse_reply_none(req);
}

void OpGetattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Guard(req, [&] {
    Result<struct stat> st = Fs(req)->GetAttr(CallerOf(req), ino, fi != nullptr ? HandleOf(fi) : nullptr);
    if (!st.ok()) return ReplyStatus(req, st.status());
    fuse_reply_attr(req, &*st, Fs(req)->AttrTimeout(ino));
  });
}

void OpSetattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi) {
  GuardChange(req, [&] {
    int mask = 0;
    if (to_set & FUSE_SET_ATTR_MODE) mask |= VaultFs::kSetMode;
    if (to_set & FUSE_SET_ATTR_UID) mask |= VaultFs::kSetUid;
    if (to_set & FUSE_SET_ATTR_GID) mask |= VaultFs::kSetGid;
    if (to_set & FUSE_SET_ATTR_SIZE) mask |= VaultFs::kSetSize;
    if (to_set & FUSE_SET_ATTR_ATIME) mask |= VaultFs::kSetAtime;
    if (to_set & FUSE_SET_ATTR_MTIME) mask |= VaultFs::kSetMtime;
    if (to_set & FUSE_SET_ATTR_ATIME_NOW) mask |= VaultFs::kSetAtimeNow;
    if (to_set & FUSE_SET_ATTR_MTIME_NOW) mask |= VaultFs::kSetMtimeNow;
    Result<struct stat> st = Fs(req)->SetAttr(CallerOf(req), ino, *attr, mask, fi != nullptr ? HandleOf(fi) : nullptr);
    if (!st.ok()) return ReplyStatus(req, st.status());
    fuse_reply_attr(req, &*st, Fs(req)->AttrTimeout(ino));
  });
}

void OpAccess(fuse_req_t req, fuse_ino_t ino, int mask) {
  Guard(req, [&] { ReplyStatus(req, Fs(req)->Access(CallerOf(req), ino, mask)); });
}

void OpReadlink(fuse_req_t req, fuse_ino_t ino) {
  Guard(req, [&] {
    Result<std::string> target = Fs(req)->Readlink(CallerOf(req), ino);
    if (!target.ok()) return ReplyStatus(req, target.status());
    fuse_reply_readlink(req, target->c_str());
  });
}

void OpMknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t /*rdev*/) {
  GuardChange(req, [&] {
    if (!S_ISREG(mode)) {  // devices, FIFOs, sockets
      fuse_reply_err(req, EPERM);
      return;
    }
    auto r = Fs(req)->Create(parent, name, mode, O_EXCL, CallerOf(req));
    if (!r.ok()) return ReplyStatus(req, r.status());
    (void)Fs(req)->Release(r->second);
    ReplyEntry(req, r->first);
  });
}

void OpMkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  GuardChange(req, [&] { ReplyEntry(req, Fs(req)->Mkdir(parent, name, mode, CallerOf(req))); });
}

void OpUnlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  GuardChange(req, [&] { ReplyStatus(req, Fs(req)->Unlink(CallerOf(req), parent, name)); });
}

void OpRmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  GuardChange(req, [&] { ReplyStatus(req, Fs(req)->Rmdir(CallerOf(req), parent, name)); });
}

void OpSymlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name) {
  GuardChange(req, [&] { ReplyEntry(req, Fs(req)->Symlink(link, parent, name, CallerOf(req))); });
}

void OpRename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
              const char* newname, unsigned int flags) {
  GuardChange(req, [&] { ReplyStatus(req, Fs(req)->Rename(CallerOf(req), parent, name, newparent, newname, flags)); });
}

void OpLink(fuse_req_t req, fuse_ino_t, fuse_ino_t, const char*) { fuse_reply_err(req, EPERM); }

void OpOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto open = [&] {
    Result<Handle*> h = Fs(req)->Open(CallerOf(req), ino, fi->flags);
    if (!h.ok()) return ReplyStatus(req, h.status());
    fi->fh = reinterpret_cast<uint64_t>(*h);
    if (fuse_reply_open(req, fi) != 0) (void)Fs(req)->Release(*h);
  };
  // An open that truncates is a change.
  if ((fi->flags & O_TRUNC) != 0) {
    GuardChange(req, open);
  } else {
    Guard(req, open);
  }
}

void OpCreate(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi) {
  GuardChange(req, [&] {
    auto r = Fs(req)->Create(parent, name, mode, fi->flags, CallerOf(req));
    if (!r.ok()) return ReplyStatus(req, r.status());
    fi->fh = reinterpret_cast<uint64_t>(r->second);
    fuse_entry_param p = ToEntryParam(Fs(req), r->first);
    if (fuse_reply_create(req, &p, fi) != 0) {
      (void)Fs(req)->Release(r->second);
      Fs(req)->Forget(r->first.ino, 1);
    }
  });
}

std::vector<uint8_t>& ReadBuffer() {
  thread_local std::vector<uint8_t> buf;
  return buf;
}

void OpRead(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  Guard(req, [&] {
    auto& buf = ReadBuffer();
    if (buf.size() < size) buf.resize(size);
    Result<size_t> n = Fs(req)->Read(HandleOf(fi), static_cast<uint64_t>(off), {buf.data(), size});
    if (!n.ok()) return ReplyStatus(req, n.status());
    fuse_reply_buf(req, reinterpret_cast<const char*>(buf.data()), *n);
  });
}

void OpWrite(fuse_req_t req, fuse_ino_t, const char* data, size_t size, off_t off, fuse_file_info* fi) {
  GuardChange(req, [&] {
    Result<size_t> n = Fs(req)->Write(HandleOf(fi), static_cast<uint64_t>(off),
                                      {reinterpret_cast<const uint8_t*>(data), size});
    if (!n.ok()) return ReplyStatus(req, n.status());
    fuse_reply_write(req, *n);
  });
}

// Implemented (never ENOSYS): the kernel would otherwise copy out of any
// handle through reads, a viewer's handle on a `view` file included.
void OpCopyFileRange(fuse_req_t req, fuse_ino_t, off_t, fuse_file_info* fi_in, fuse_ino_t, off_t,
                     fuse_file_info* fi_out, size_t, int) {
  GuardChange(req, [&] {
    Result<size_t> n = Fs(req)->CopyFileRange(CallerOf(req), HandleOf(fi_in), HandleOf(fi_out));
    if (!n.ok()) return ReplyStatus(req, n.status());
    fuse_reply_write(req, *n);
  });
}

void OpRelease(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  GuardChange(req, [&] { ReplyStatus(req, Fs(req)->Release(HandleOf(fi))); });
}

void OpFsync(fuse_req_t req, fuse_ino_t, int datasync, fuse_file_info* fi) {
  Guard(req, [&] { ReplyStatus(req, Fs(req)->Fsync(HandleOf(fi), datasync != 0)); });
}

void OpFallocate(fuse_req_t req, fuse_ino_t, int mode, off_t offset, off_t length, fuse_file_info* fi) {
  GuardChange(req, [&] {
    ReplyStatus(req, Fs(req)->Fallocate(HandleOf(fi), mode, static_cast<uint64_t>(offset),
                                        static_cast<uint64_t>(length)));
  });
}

void OpLseek(fuse_req_t req, fuse_ino_t, off_t off, int whence, fuse_file_info* fi) {
  Guard(req, [&] {
    Result<uint64_t> r = Fs(req)->Lseek(HandleOf(fi), static_cast<uint64_t>(off), whence);
    if (!r.ok()) return ReplyStatus(req, r.status());
    fuse_reply_lseek(req, static_cast<off_t>(*r));
  });
}

struct DirHandle {
  std::vector<DirEntry> entries;
  bool served = false;  // a later read from offset 0 is a rewinddir
  uint64_t generation = 0;  // the policy the listing was made under
};

// Directory handles the kernel has not released yet; those still open at
// unmount (no releasedir comes after it) are freed with the session.
class OpenDirs {
 public:
  DirHandle* Add(std::unique_ptr<DirHandle> dh) {
    std::lock_guard lock(mu_);
    DirHandle* raw = dh.get();
    open_.emplace(raw, std::move(dh));
    return raw;
  }
  void Remove(DirHandle* dh) {
    std::lock_guard lock(mu_);
    open_.erase(dh);
  }
  void Clear() {
    std::lock_guard lock(mu_);
    open_.clear();
  }

 private:
  std::mutex mu_;
  std::unordered_map<DirHandle*, std::unique_ptr<DirHandle>> open_;
};
OpenDirs open_dirs;

void OpOpendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Guard(req, [&] {
    auto entries = Fs(req)->ReadDir(CallerOf(req), ino);
    if (!entries.ok()) return ReplyStatus(req, entries.status());
    DirHandle* dh = open_dirs.Add(
        std::make_unique<DirHandle>(DirHandle{std::move(*entries), false, Fs(req)->policy()->generation()}));
    fi->fh = reinterpret_cast<uint64_t>(dh);
    if (fuse_reply_open(req, fi) != 0) open_dirs.Remove(dh);
  });
}

void DoReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi, bool plus) {
  Guard(req, [&] {
    auto* dh = reinterpret_cast<DirHandle*>(fi->fh);
    const uint64_t generation = Fs(req)->policy()->generation();
    if ((off == 0 && dh->served) || generation != dh->generation) {
      // rewinddir, or the policy changed since the listing was made: list
      // the directory afresh, for this caller, or refuse.
      auto fresh = Fs(req)->ReadDir(CallerOf(req), ino);
      if (!fresh.ok()) {
        dh->entries.clear();
        return ReplyStatus(req, fresh.status());
      }
      dh->entries = std::move(*fresh);
      dh->generation = generation;
    }
    std::vector<char> buf(size);
    size_t used = 0;
    for (size_t i = static_cast<size_t>(off); i < dh->entries.size(); ++i) {
      const DirEntry& e = dh->entries[i];
      size_t n;
      if (plus) {
        fuse_entry_param p{};
        const bool dots = e.name == "." || e.name == "..";
        if (dots) {
          p.attr.st_ino = e.ino;
          p.attr.st_mode = e.type;
        } else {
          Result<Entry> entry = Fs(req)->Lookup(CallerOf(req), ino, e.name);
          if (!entry.ok()) continue;  // vanished or damaged since opendir
          p = ToEntryParam(Fs(req), *entry);
        }
        n = fuse_add_direntry_plus(req, buf.data() + used, size - used, e.name.c_str(), &p,
                                   static_cast<off_t>(i + 1));
        if (n > size - used) {
          if (!dots) Fs(req)->Forget(p.ino, 1);
          break;
        }
      } else {
        struct stat st {};
        st.st_ino = e.ino;
        st.st_mode = e.type;
        n = fuse_add_direntry(req, buf.data() + used, size - used, e.name.c_str(), &st,
                              static_cast<off_t>(i + 1));
        if (n > size - used) break;
      }
      used += n;
    }
    dh->served = true;
    fuse_reply_buf(req, buf.data(), used);
  });
}

void OpReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  DoReaddir(req, ino, size, off, fi, false);
}

void OpReaddirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  DoReaddir(req, ino, size, off, fi, true);
}

void OpReleasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  open_dirs.Remove(reinterpret_cast<DirHandle*>(fi->fh));
  fuse_reply_err(req, 0);
}

void OpFsyncdir(fuse_req_t req, fuse_ino_t ino, int, fuse_file_info*) {
  Guard(req, [&] { ReplyStatus(req, Fs(req)->FsyncDir(ino)); });
}

void OpStatfs(fuse_req_t req, fuse_ino_t) {
  Guard(req, [&] {
    Result<struct statvfs> sv = Fs(req)->StatFs(CallerOf(req));
    if (!sv.ok()) return ReplyStatus(req, sv.status());
    fuse_reply_statfs(req, &*sv);
  });
}

// Extended attributes are not supported. ENOSYS makes the kernel remember
// that and answer EOPNOTSUPP itself from then on, without a round trip.
void OpSetxattr(fuse_req_t req, fuse_ino_t, const char*, const char*, size_t, int) {
  fuse_reply_err(req, ENOSYS);
}
void OpGetxattr(fuse_req_t req, fuse_ino_t, const char*, size_t) { fuse_reply_err(req, ENOSYS); }
void OpListxattr(fuse_req_t req, fuse_ino_t, size_t) { fuse_reply_err(req, ENOSYS); }
void OpRemovexattr(fuse_req_t req, fuse_ino_t, const char*) { fuse_reply_err(req, ENOSYS); }

const fuse_lowlevel_ops kOps = [] {
  fuse_lowlevel_ops ops{};
  ops.init = OpInit;
  ops.lookup = OpLookup;
  ops.forget = OpForget;
  ops.forget_multi = OpForgetMulti;
  ops.getattr = OpGetattr;
  ops.setattr = OpSetattr;
  ops.access = OpAccess;
  ops.readlink = OpReadlink;
  ops.mknod = OpMknod;
  ops.mkdir = OpMkdir;
  ops.unlink = OpUnlink;
  ops.rmdir = OpRmdir;
  ops.symlink = OpSymlink;
  ops.rename = OpRename;
  ops.link = OpLink;
  ops.open = OpOpen;
  ops.create = OpCreate;
  ops.read = OpRead;
  ops.write = OpWrite;
  // No flush: writes are synchronous, so close() has nothing to report, and
  // without the op the kernel stops sending one request per close.
  ops.release = OpRelease;
  ops.fsync = OpFsync;
  ops.fallocate = OpFallocate;
  ops.lseek = OpLseek;
  ops.copy_file_range = OpCopyFileRange;
  ops.opendir = OpOpendir;
  ops.readdir = OpReaddir;
  ops.readdirplus = OpReaddirplus;
  ops.releasedir = OpReleasedir;
  ops.fsyncdir = OpFsyncdir;
  ops.statfs = OpStatfs;
  ops.setxattr = OpSetxattr;
  ops.getxattr = OpGetxattr;
  ops.listxattr = OpListxattr;
  ops.removexattr = OpRemovexattr;
  return ops;
}();

// Escapes a value for libfuse's comma-separated -o option syntax.
std::string EscapeOption(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == ',' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<FuseSession>> FuseSession::Mount(VaultFs* fs, const MountConfig& config) {
  // Grants decide; with posix_permissions the kernel checks mode bits and
  // ownership as well (both must allow).
  std::string opts = "fsname=" + EscapeOption(config.fsname) + ",subtype=strongroom,nosuid,nodev,noatime";
  if (fs->options().posix_permissions) opts += ",default_permissions";
  if (config.allow_other) opts += ",allow_other";
  for (const auto& o : config.extra_options) opts += "," + o;
  std::vector<std::string> args = {"strongroom", "-o", opts};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  fuse_args fargs = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  std::unique_ptr<FuseSession> s(new FuseSession());
  s->session_ = fuse_session_new(&fargs, &kOps, sizeof kOps, fs);
  fuse_opt_free_args(&fargs);
  if (s->session_ == nullptr) return Status::Invalid("cannot create the FUSE session (bad mount options?)");
  // Signals stop the session from before the mount exists, so a SIGTERM
  // that arrives as soon as the mount appears still unmounts cleanly.
  if (fuse_set_signal_handlers(s->session_) != 0) return Status::Io(EIO, "cannot install signal handlers");
  s->signals_ = true;
  if (fuse_session_mount(s->session_, config.mountpoint.c_str()) != 0) {
    return Status::Io(EIO, "cannot mount on " + config.mountpoint);
  }
  s->mounted_ = true;
  fuse_session* session = s->session_;
  fs->SetInvalidator([session](uint64_t ino) {
    // Drops the inode's cached pages (and attributes); failures (the inode
    // unknown to the kernel) are harmless.
    (void)fuse_lowlevel_notify_inval_inode(session, ino, 0, 0);
  });
  s->fs_ = fs;
  return s;
}

Status FuseSession::Serve() {
  fuse_loop_config* cfg = fuse_loop_cfg_create();
  fuse_loop_cfg_set_clone_fd(cfg, 1);
  fuse_loop_cfg_set_idle_threads(cfg, 8);
  fuse_loop_cfg_set_max_threads(cfg, 16);
  const int rc = fuse_session_loop_mt(session_, cfg);
  fuse_loop_cfg_destroy(cfg);
  // A positive result is the signal that stopped the loop: a normal stop.
  return rc >= 0 ? Status::Ok() : Status::Io(-rc, "the FUSE loop failed");
}

void FuseSession::Unmount() {
  if (mounted_) fuse_session_unmount(session_);
  mounted_ = false;
}

FuseSession::~FuseSession() {
  if (session_ == nullptr) return;
  if (fs_ != nullptr) fs_->SetInvalidator(nullptr);
  if (signals_) fuse_remove_signal_handlers(session_);
  Unmount();
  fuse_session_destroy(session_);
  open_dirs.Clear();
}

}  // namespace strongroom::fs
