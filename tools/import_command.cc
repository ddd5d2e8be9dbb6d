// strongroom import: copies an existing plaintext folder tree (or one file)
// into a mounted vault, through the mount and as the caller, so that grants
// apply and the audit log records every create.
//
// Each file is written to a hidden temporary name in its destination folder
// (".NAME.strongroom-import"), fsync'ed, read back through the mount (its
// cached pages dropped first) and compared by SHA-256 with what was read
// from the source, given the source's mode and times, and only then renamed
// onto NAME (RENAME_NOREPLACE). A file under its final name is therefore
// complete and verified, which makes a rerun after an interruption cheap and
// safe: a destination file whose size and mtime equal the source's is
// skipped as already imported, and a leftover temporary file is replaced.
//
// The source is never written: files and folders are opened read-only with
// O_NOFOLLOW and O_NOATIME (when the caller owns them; otherwise the kernel
// refuses O_NOATIME and the read may update an access time, as any reader
// would). Hard links in the source become separate files (the vault has no
// hard links); owners are not copied (the vault decides them).
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "crypto/primitives.h"
#include "fs/unique_fd.h"
#include "tools/cli_error.h"
#include "tools/commands.h"
#include "tools/mounts.h"
#include "tools/terminal_text.h"
#include "tools/vault_path.h"

namespace strongroom::tools {
namespace {

using fs::UniqueFd;
using Clock = std::chrono::steady_clock;

constexpr size_t kBufferSize = 1 << 20;
constexpr std::string_view kTempSuffix = ".strongroom-import";
constexpr std::string_view kLongTempPrefix = ".strongroom-import-";
constexpr size_t kNameMax = 255;
constexpr auto kProgressInterval = std::chrono::milliseconds(100);

// Set by SIGINT, SIGTERM and SIGHUP: the copy stops at the next chunk,
// removes its temporary file and reports how to resume.
volatile sig_atomic_t g_interrupted = 0;
extern "C" void OnInterrupt(int) { g_interrupted = 1; }

struct Interrupted {};

std::string Q(std::string_view s) { return EscapeForTerminal(s); }

std::string ErrnoText(int err) {
  return std::string(std::strerror(err)) + " (" + (strerrorname_np(err) ? strerrorname_np(err) : "?") + ")";
}

bool IsUnder(std::string_view path, std::string_view dir) {
  if (dir == "/") return true;
  if (path.size() < dir.size() || path.substr(0, dir.size()) != dir) return false;
  return path.size() == dir.size() || path[dir.size()] == '/';
}

bool IsDiskFull(int err) { return err == ENOSPC || err == EDQUOT; }

// The temporary name a file is written under before it is renamed onto
// `name`; names too long to take the suffix get a hash instead.
std::string TempName(const std::string& name) {
  std::string t = "." + name + std::string(kTempSuffix);
  if (t.size() <= kNameMax) return t;
  uint8_t digest[32];
  crypto::Sha256(crypto::AsBytes(name), digest);
  return std::string(kLongTempPrefix) + crypto::HexEncode(crypto::ByteView(digest, 16));
}

// Names import keeps for its temporary files; a source entry named so is
// skipped, so that it can never be mistaken for (or removed as) a leftover.
bool IsReservedName(std::string_view name) {
  if (name.substr(0, kLongTempPrefix.size()) == kLongTempPrefix) return true;
  return name.size() > kTempSuffix.size() + 1 && name.front() == '.' &&
         name.substr(name.size() - kTempSuffix.size()) == kTempSuffix;
}

const char* SpecialKind(mode_t mode) {
  if (S_ISFIFO(mode)) return "fifo";
  if (S_ISSOCK(mode)) return "socket";
  if (S_ISCHR(mode)) return "character device";
  if (S_ISBLK(mode)) return "block device";
  return "special file";
}

bool SameTime(const timespec& a, const timespec& b) { return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec; }

std::string HumanDuration(double seconds) {
  long s = std::lround(seconds);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s / 60) % 60);
  } else if (s >= 60) {
    std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%lds", s);
  }
  return buf;
}

// Opens read-only without following a symlink, without updating the access
// time when the kernel lets us (O_NOATIME needs the file's owner).
int OpenSource(int dirfd, const char* name, int flags) {
  flags |= O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY;
  int fd = ::openat(dirfd, name, flags | O_NOATIME);
  if (fd < 0 && errno == EPERM) fd = ::openat(dirfd, name, flags);
  return fd;
}

// Entry names of an open directory, sorted; nullopt with errno on failure.
std::optional<std::vector<std::string>> ListNames(int dirfd) {
  int dup = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return std::nullopt;
  DIR* d = ::fdopendir(dup);
  if (!d) {
    int e = errno;
    ::close(dup);
    errno = e;
    return std::nullopt;
  }
  ::rewinddir(d);
  std::vector<std::string> names;
  errno = 0;
  while (dirent* ent = ::readdir(d)) {
    std::string_view n = ent->d_name;
    if (n != "." && n != "..") names.emplace_back(n);
    errno = 0;
  }
  int e = errno;
  ::closedir(d);
  if (e != 0) {
    errno = e;
    return std::nullopt;
  }
  std::sort(names.begin(), names.end());
  return names;
}

// The progress line on stderr (a terminal): files and bytes done of the
// totals a first pass counted, the rate of this run's copying, time left.
class Progress {
 public:
  explicit Progress(bool enabled) : enabled_(enabled), start_(Clock::now()) {}
  bool enabled() const { return enabled_; }
  void SetTotals(uint64_t files, uint64_t bytes) {
    files_total_ = files;
    bytes_total_ = bytes;
  }
  // A file finished (copied, present, skipped or failed); `bytes` not yet
  // counted by Copied are counted as done.
  void FileDone(uint64_t bytes) {
    ++files_done_;
    bytes_done_ += bytes;
    Draw(false);
  }
  void Copied(uint64_t bytes) {
    bytes_done_ += bytes;
    bytes_copied_ += bytes;
    Draw(false);
  }
  void Clear() {
    if (enabled_ && drawn_) {
      std::cerr << "\r\033[K" << std::flush;
      drawn_ = false;
    }
  }
  void Draw(bool force) {
    if (!enabled_) return;
    const auto now = Clock::now();
    if (!force && drawn_ && now - last_ < kProgressInterval) return;
    last_ = now;
    const double secs = std::chrono::duration<double>(now - start_).count();
    const double rate = secs > 0.2 ? bytes_copied_ / secs : 0;
    std::string line = "\r" + std::to_string(files_done_) + "/" + std::to_string(files_total_) + " files  " +
                       HumanBytes(bytes_done_) + " / " + HumanBytes(bytes_total_);
    char buf[64];
    std::snprintf(buf, sizeof buf, "  %.1f MB/s", rate / 1e6);
    line += buf;
    if (rate > 0 && bytes_total_ > bytes_done_) {
      line += "  " + HumanDuration((bytes_total_ - bytes_done_) / rate) + " left";
    }
    std::cerr << line << "\033[K" << std::flush;
    drawn_ = true;
  }

 private:
  bool enabled_;
  bool drawn_ = false;
  Clock::time_point start_;
  Clock::time_point last_{};
  uint64_t files_total_ = 0, bytes_total_ = 0;
  uint64_t files_done_ = 0, bytes_done_ = 0, bytes_copied_ = 0;
};

// One import run. Not thread-safe.
class Importer {
 public:
  Importer(const ImportOptions& opts, bool progress) : opts_(opts), progress_(progress), buffer_(kBufferSize) {}

  // Imports entry `name` of the source folder `src_dir` into `dst_dir` (-1
  // in a dry run when the destination folder does not exist yet).
  void ImportEntry(int src_dir, const std::string& name, int dst_dir, const std::string& rel);
  // Imports the entries of the open source folder `src` into `dst`.
  void ImportChildren(int src, int dst, const std::string& rel);
  // First pass for the progress bar: regular files and their bytes.
  void Count(int src_dir, const std::string& name);
  void CountChildren(int src);

  void PrintSummary(const std::string& source, const std::string& destination, bool stopped) const;
  bool incomplete() const { return !skipped_.empty() || !failed_.empty(); }
  bool verify_failed() const { return verify_failures_ > 0; }
  size_t skipped() const { return skipped_.size(); }
  size_t failed() const { return failed_.size(); }
  Progress& progress() { return progress_; }
  uint64_t counted_files() const { return counted_files_; }
  uint64_t counted_bytes() const { return counted_bytes_; }

 private:
  void ImportFile(int src_dir, const std::string& name, const struct stat& st, int dst_dir, const std::string& rel);
  void ImportDirectory(int src_dir, const std::string& name, const struct stat& st, int dst_dir,
                       const std::string& rel);
  void ImportSymlink(int src_dir, const std::string& name, const struct stat& st, int dst_dir, const std::string& rel);
  // Copies, verifies and renames; false (reported) on failure.
  // `*copied`: the bytes written (and counted by the progress bar).
  bool CopyFile(int in, const std::string& name, const struct stat& st, int dst_dir, const std::string& rel,
                uint64_t* copied);

  void Skip(const std::string& rel, const std::string& reason) {
    skipped_.emplace_back(rel, reason);
    if (opts_.dry_run) Say("skip   " + Q(rel) + ": " + reason);
  }
  void Failed(const std::string& rel, const std::string& reason) {
    failed_.emplace_back(rel, reason);
    progress_.Clear();
    std::cerr << "strongroom: import: " << Q(rel) << ": " << reason << "\n";
  }
  // A full disk stops the whole import: nothing after it could be written.
  [[noreturn]] void DiskFull(const std::string& rel, int err, bool removed_temp) {
    failed_.emplace_back(rel, ErrnoText(err));
    Fail(kIncomplete, "import stopped: " + ErrnoText(err) + " while writing " + Q(rel) +
                          (removed_temp ? "; its partial copy was removed" : "") +
                          "; free space and run the same command again to resume");
  }
  void Say(const std::string& line) {
    progress_.Clear();
    std::cout << line << "\n";
  }
  void CheckInterrupted() {
    if (g_interrupted) throw Interrupted{};
  }

  const ImportOptions& opts_;
  Progress progress_;
  std::vector<uint8_t> buffer_;
  uint64_t files_ = 0, dirs_ = 0, symlinks_ = 0, bytes_ = 0, present_ = 0, replaced_temps_ = 0;
  uint64_t verify_failures_ = 0;
  uint64_t counted_files_ = 0, counted_bytes_ = 0;
  std::vector<std::pair<std::string, std::string>> skipped_;
  std::vector<std::pair<std::string, std::string>> failed_;
};

void Importer::Count(int src_dir, const std::string& name) {
  struct stat st;
  if (::fstatat(src_dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return;
  uint64_t files = 0, bytes = 0;
  if (S_ISREG(st.st_mode)) {
    files = 1;
    bytes = static_cast<uint64_t>(st.st_size);
  } else if (S_ISDIR(st.st_mode)) {
    UniqueFd fd(OpenSource(src_dir, name.c_str(), O_DIRECTORY));
    if (fd.valid()) CountChildren(fd.get());
  }
  counted_files_ += files;
  counted_bytes_ += bytes;
}

void Importer::CountChildren(int src) {
  CheckInterrupted();
  auto names = ListNames(src);
  if (!names) return;
  for (const std::string& n : *names) Count(src, n);
}

void Importer::ImportChildren(int src, int dst, const std::string& rel) {
  auto names = ListNames(src);
  if (!names) {
    Skip(rel, "cannot list the folder: " + ErrnoText(errno));
    return;
  }
  for (const std::string& n : *names) ImportEntry(src, n, dst, rel.empty() ? n : rel + "/" + n);
  // The renames into this folder durable (best effort: a folder fsync).
  if (dst >= 0 && !opts_.dry_run) ::fsync(dst);
}

void Importer::ImportEntry(int src_dir, const std::string& name, int dst_dir, const std::string& rel) {
  CheckInterrupted();
  struct stat st;
  if (::fstatat(src_dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    const int e = errno;
    if (e == EACCES) return Skip(rel, "unreadable: " + ErrnoText(e));
    if (e == ENOENT) return Skip(rel, "removed from the source while importing");
    return Failed(rel, "cannot stat the source: " + ErrnoText(e));
  }
  if (IsReservedName(name)) {
    if (S_ISREG(st.st_mode)) progress_.FileDone(static_cast<uint64_t>(st.st_size));
    return Skip(rel, "the name is reserved for import's temporary files");
  }
  if (S_ISREG(st.st_mode)) return ImportFile(src_dir, name, st, dst_dir, rel);
  if (S_ISDIR(st.st_mode)) return ImportDirectory(src_dir, name, st, dst_dir, rel);
  if (S_ISLNK(st.st_mode)) return ImportSymlink(src_dir, name, st, dst_dir, rel);
  Skip(rel, std::string("special file (") + SpecialKind(st.st_mode) + "): not imported");
}

void Importer::ImportDirectory(int src_dir, const std::string& name, const struct stat& st, int dst_dir,
                               const std::string& rel) {
  UniqueFd src(OpenSource(src_dir, name.c_str(), O_DIRECTORY));
  if (!src.valid()) {
    const int e = errno;
    if (e == EACCES) return Skip(rel + "/", "unreadable folder: " + ErrnoText(e));
    return Skip(rel + "/", "cannot open the folder: " + ErrnoText(e));
  }
  struct stat now;
  if (::fstat(src.get(), &now) != 0 || now.st_ino != st.st_ino || now.st_dev != st.st_dev) {
    return Skip(rel + "/", "changed in the source while importing");
  }

  bool created = false;
  UniqueFd dst;
  if (dst_dir >= 0) {
    struct stat dst_st;
    if (::fstatat(dst_dir, name.c_str(), &dst_st, AT_SYMLINK_NOFOLLOW) == 0) {
      if (!S_ISDIR(dst_st.st_mode))
        return Skip(rel + "/", "something that is not a folder exists at that name in the vault");
    } else if (errno != ENOENT) {
      return Skip(rel + "/", "the vault refused to look it up: " + ErrnoText(errno));
    } else if (!opts_.dry_run) {
      // 0700 while its contents are written; the source's mode afterwards.
      if (::mkdirat(dst_dir, name.c_str(), 0700) != 0) {
        const int e = errno;
        if (IsDiskFull(e)) DiskFull(rel + "/", e, false);
        return Skip(rel + "/", "the vault refused to create it: " + ErrnoText(e));
      }
      created = true;
      ++dirs_;
    } else {
      created = true;
      ++dirs_;
    }
    if (!opts_.dry_run || !created) {
      dst.Reset(::openat(dst_dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!dst.valid()) return Failed(rel + "/", "cannot open the folder in the vault: " + ErrnoText(errno));
    }
  } else {
    created = true;
    ++dirs_;
  }
  if (opts_.dry_run && created) Say("mkdir  " + Q(rel) + "/");

  ImportChildren(src.get(), dst.get(), rel);

  if (opts_.dry_run || !dst.valid()) return;
  // Post-order: the folder's own mode and times after its contents.
  struct stat dst_st;
  if (::fstat(dst.get(), &dst_st) != 0)
    return Failed(rel + "/", "cannot stat the folder in the vault: " + ErrnoText(errno));
  if ((dst_st.st_mode & 07777) != (st.st_mode & 07777)) {
    if (::fchmod(dst.get(), st.st_mode & 07777) != 0 && (st.st_mode & 07000)) ::fchmod(dst.get(), st.st_mode & 0777);
  }
  if (!SameTime(dst_st.st_mtim, st.st_mtim) || !SameTime(dst_st.st_atim, st.st_atim)) {
    const timespec times[2] = {st.st_atim, st.st_mtim};
    if (::futimens(dst.get(), times) != 0) {
      return Failed(rel + "/", "cannot set the folder's times in the vault: " + ErrnoText(errno));
    }
  }
}

void Importer::ImportSymlink(int src_dir, const std::string& name, const struct stat& st, int dst_dir,
                             const std::string& rel) {
  std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
  const ssize_t n = ::readlinkat(src_dir, name.c_str(), target.data(), target.size());
  if (n < 0) return Skip(rel, "unreadable symlink: " + ErrnoText(errno));
  if (static_cast<size_t>(n) >= target.size()) return Skip(rel, "changed in the source while importing");
  target.resize(static_cast<size_t>(n));

  if (dst_dir >= 0) {
    struct stat dst_st;
    if (::fstatat(dst_dir, name.c_str(), &dst_st, AT_SYMLINK_NOFOLLOW) == 0) {
      if (!S_ISLNK(dst_st.st_mode))
        return Skip(rel, "something that is not a symlink exists at that name in the vault");
      std::string existing(static_cast<size_t>(dst_st.st_size) + 1, '\0');
      const ssize_t m = ::readlinkat(dst_dir, name.c_str(), existing.data(), existing.size());
      if (m >= 0 && static_cast<size_t>(m) == target.size() && existing.compare(0, target.size(), target) == 0) {
        ++present_;
        if (opts_.dry_run) Say("exists " + Q(rel) + " (already imported)");
        return;
      }
      return Skip(rel, "a different symlink exists at that name in the vault (not replaced)");
    } else if (errno != ENOENT) {
      return Skip(rel, "the vault refused to look it up: " + ErrnoText(errno));
    }
  }
  if (opts_.dry_run) {
    ++symlinks_;
    return Say("link   " + Q(rel) + " -> " + Q(target));
  }
  if (::symlinkat(target.c_str(), dst_dir, name.c_str()) != 0) {
    const int e = errno;
    if (IsDiskFull(e)) DiskFull(rel, e, false);
    return Skip(rel, "the vault refused to create it: " + ErrnoText(e));
  }
  const timespec times[2] = {st.st_atim, st.st_mtim};
  ::utimensat(dst_dir, name.c_str(), times, AT_SYMLINK_NOFOLLOW);  // best effort
  ++symlinks_;
}

void Importer::ImportFile(int src_dir, const std::string& name, const struct stat& st, int dst_dir,
                          const std::string& rel) {
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (dst_dir >= 0) {
    struct stat dst_st;
    if (::fstatat(dst_dir, name.c_str(), &dst_st, AT_SYMLINK_NOFOLLOW) == 0) {
      progress_.FileDone(size);
      if (S_ISREG(dst_st.st_mode) && dst_st.st_size == st.st_size && SameTime(dst_st.st_mtim, st.st_mtim)) {
        ++present_;
        if (opts_.dry_run) Say("exists " + Q(rel) + " (already imported)");
        return;
      }
      return Skip(rel, S_ISREG(dst_st.st_mode)
                           ? "a different file (size or time) exists at that name in the vault (not overwritten)"
                           : "something that is not a file exists at that name in the vault");
    } else if (errno != ENOENT) {
      progress_.FileDone(size);
      return Skip(rel, "the vault refused to look it up: " + ErrnoText(errno));
    }
  }
  // O_NONBLOCK: a fifo swapped in after the stat must not block the open.
  UniqueFd in(OpenSource(src_dir, name.c_str(), O_NONBLOCK));
  if (!in.valid()) {
    const int e = errno;
    progress_.FileDone(size);
    if (e == EACCES) return Skip(rel, "unreadable: " + ErrnoText(e));
    return Skip(rel, "cannot open the source: " + ErrnoText(e));
  }
  struct stat now;
  if (::fstat(in.get(), &now) != 0 || !S_ISREG(now.st_mode) || now.st_ino != st.st_ino || now.st_dev != st.st_dev) {
    progress_.FileDone(size);
    return Skip(rel, "changed in the source while importing");
  }
  if (opts_.dry_run) {
    ++files_;
    bytes_ += size;
    return Say("copy   " + Q(rel) + " (" + HumanBytes(static_cast<double>(size)) + ")");
  }
  uint64_t copied = 0;
  if (CopyFile(in.get(), name, now, dst_dir, rel, &copied)) ++files_;
  progress_.FileDone(size - std::min(size, copied));
}

bool Importer::CopyFile(int in, const std::string& name, const struct stat& st, int dst_dir, const std::string& rel,
                        uint64_t* copied) {
  const std::string temp = TempName(name);
  // A leftover from an interrupted run is replaced.
  if (::unlinkat(dst_dir, temp.c_str(), 0) == 0) {
    ++replaced_temps_;
  } else if (errno != ENOENT) {
    Skip(rel, "cannot remove the leftover temporary file " + Q(temp) + " in the vault: " + ErrnoText(errno));
    return false;
  }
  UniqueFd out(::openat(dst_dir, temp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!out.valid()) {
    const int e = errno;
    if (IsDiskFull(e)) DiskFull(rel, e, false);
    Skip(rel, "the vault refused to create it: " + ErrnoText(e));
    return false;
  }
  // From here on, any way out but the final rename removes the temporary file.
  struct TempGuard {
    int dir;
    const std::string& name;
    bool armed = true;
    ~TempGuard() {
      if (armed) ::unlinkat(dir, name.c_str(), 0);
    }
  } guard{dst_dir, temp};

  crypto::Sha256Stream source_hash;
  uint64_t total = 0;
  for (;;) {
    CheckInterrupted();
    const ssize_t n = ::read(in, buffer_.data(), buffer_.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      Failed(rel, "read error in the source: " + ErrnoText(errno));
      return false;
    }
    if (n == 0) break;
    source_hash.Update(crypto::ByteView(buffer_.data(), static_cast<size_t>(n)));
    size_t off = 0;
    while (off < static_cast<size_t>(n)) {
      const ssize_t w = ::write(out.get(), buffer_.data() + off, static_cast<size_t>(n) - off);
      if (w < 0) {
        const int e = errno;
        if (e == EINTR) {
          CheckInterrupted();
          continue;
        }
        if (IsDiskFull(e)) {
          ::unlinkat(dst_dir, temp.c_str(), 0);
          guard.armed = false;
          DiskFull(rel, e, true);
        }
        Failed(rel, "write error in the vault: " + ErrnoText(e));
        return false;
      }
      off += static_cast<size_t>(w);
    }
    total += static_cast<uint64_t>(n);
    *copied = total;
    progress_.Copied(static_cast<uint64_t>(n));
  }
  struct stat after;
  if (::fstat(in, &after) != 0 || after.st_size != st.st_size || !SameTime(after.st_mtim, st.st_mtim) ||
      total != static_cast<uint64_t>(st.st_size)) {
    Failed(rel, "the source changed while it was read; run the import again");
    return false;
  }
  if (::fsync(out.get()) != 0) {
    const int e = errno;
    if (IsDiskFull(e)) {
      ::unlinkat(dst_dir, temp.c_str(), 0);
      guard.armed = false;
      DiskFull(rel, e, true);
    }
    Failed(rel, "fsync in the vault failed: " + ErrnoText(e));
    return false;
  }

  // Verify: drop the cached pages so that the read goes to the daemon,
  // which decrypts and authenticates what it stored.
  ::posix_fadvise(out.get(), 0, 0, POSIX_FADV_DONTNEED);
  crypto::Sha256Stream written_hash;
  uint64_t read_back = 0;
  for (;;) {
    CheckInterrupted();
    const ssize_t n = ::pread(out.get(), buffer_.data(), buffer_.size(), static_cast<off_t>(read_back));
    if (n < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      if (e == EIO) ++verify_failures_;
      Failed(rel, "reading the written file back failed: " + ErrnoText(e));
      return false;
    }
    if (n == 0) break;
    written_hash.Update(crypto::ByteView(buffer_.data(), static_cast<size_t>(n)));
    read_back += static_cast<uint64_t>(n);
  }
  uint8_t want[32], got[32];
  source_hash.Final(want);
  written_hash.Final(got);
  if (read_back != total || std::memcmp(want, got, sizeof want) != 0) {
    ++verify_failures_;
    Failed(rel, "verification failed: the file read back from the vault differs from the source (SHA-256)");
    return false;
  }

  // Mode (best effort: the vault may refuse set-id bits) and times last, so
  // that nothing after them changes the times.
  if (::fchmod(out.get(), st.st_mode & 07777) != 0 && (st.st_mode & 07000)) ::fchmod(out.get(), st.st_mode & 0777);
  const timespec times[2] = {st.st_atim, st.st_mtim};
  if (::futimens(out.get(), times) != 0 || ::fsync(out.get()) != 0) {
    Failed(rel, "cannot set the file's times in the vault: " + ErrnoText(errno));
    return false;
  }
  out.Reset();
  if (::renameat2(dst_dir, temp.c_str(), dst_dir, name.c_str(), RENAME_NOREPLACE) != 0) {
    const int e = errno;
    if (e == EEXIST) {
      Skip(rel, "something appeared at that name in the vault while importing (not overwritten)");
    } else {
      Failed(rel, "cannot rename the verified copy onto its name in the vault: " + ErrnoText(e));
    }
    return false;
  }
  guard.armed = false;
  bytes_ += total;
  return true;
}

void Importer::PrintSummary(const std::string& source, const std::string& destination, bool stopped) const {
  const std::string verb = opts_.dry_run ? "would be " : "";
  std::vector<std::pair<std::string, std::string>> fields = {
      {"files " + verb + "copied", std::to_string(files_)},
      {"bytes " + verb + "copied", std::to_string(bytes_) + " (" + HumanBytes(static_cast<double>(bytes_)) + ")"},
      {"folders " + verb + "created", std::to_string(dirs_)},
      {"symlinks " + verb + "created", std::to_string(symlinks_)},
      {"already imported", std::to_string(present_)},
      {"skipped", std::to_string(skipped_.size())},
      {"failed", std::to_string(failed_.size())},
  };
  if (replaced_temps_ > 0) fields.emplace_back("interrupted copies redone", std::to_string(replaced_temps_));
  std::cout << (opts_.dry_run ? "Dry run (nothing written): "
                : stopped     ? "Import stopped part-way: "
                              : "Imported ")
            << Q(source) << " into " << Q(destination) << "\n"
            << FormatFields(fields);
  if (!skipped_.empty()) {
    std::cout << "Skipped:\n";
    for (const auto& [rel, reason] : skipped_) std::cout << "  " << Q(rel) << ": " << reason << "\n";
  }
  if (!failed_.empty()) {
    std::cout << "Failed:\n";
    for (const auto& [rel, reason] : failed_) std::cout << "  " << Q(rel) << ": " << reason << "\n";
  }
}

}  // namespace

void RunImport(const ImportOptions& opts) {
  const std::string cwd = CurrentDirectory();
  const std::vector<MountEntry> entries = ReadMountinfo();

  // ---- the source
  const std::string src_abs = AbsoluteLexical(opts.source, cwd);
  const bool contents_only = opts.source.size() > 1 && (opts.source.back() == '/' || opts.source.ends_with("/."));
  struct stat src_st;
  if (::stat(src_abs.c_str(), &src_st) != 0) {
    const int e = errno;
    Fail(ExitCodeForErrno(e, kUsage), "cannot import " + Q(opts.source) + ": " + ErrnoText(e));
  }
  char* real = ::realpath(src_abs.c_str(), nullptr);
  if (!real) Fail(kUsage, "cannot resolve " + Q(opts.source) + ": " + ErrnoText(errno));
  const std::string src_real = real;
  ::free(real);
  if (!S_ISDIR(src_st.st_mode) && !S_ISREG(src_st.st_mode)) {
    Fail(kUsage, "cannot import " + Q(opts.source) + ": " + SpecialKind(src_st.st_mode) + " (only folders and files)");
  }
  if (contents_only && !S_ISDIR(src_st.st_mode)) Fail(kUsage, Q(opts.source) + " is not a folder");

  // ---- the destination: a folder inside a mounted vault
  std::string dst_abs;
  if (opts.destination.starts_with(kVaultPrefix)) {
    const std::string mp = ChooseMount(entries, opts.mount, cwd);
    const std::string vp = NormalizeVaultPath(std::string_view(opts.destination).substr(kVaultPrefix.size()));
    dst_abs = vp == "/" ? mp : (mp == "/" ? vp : mp + vp);
  } else {
    dst_abs = AbsoluteLexical(opts.destination, cwd);
  }
  const std::vector<MountEntry> visible = VisibleMounts(entries);
  const auto innermost = [&](const std::string& path) -> const MountEntry* {
    const MountEntry* best = nullptr;
    for (const MountEntry& m : visible) {
      if (IsUnder(path, m.mountpoint) && (!best || m.mountpoint.size() > best->mountpoint.size())) best = &m;
    }
    return best;
  };
  const auto not_in_vault = [&]() {
    Fail(kNotMounted, Q(opts.destination) + " is not inside a mounted strongroom vault");
  };
  {
    const MountEntry* m = innermost(dst_abs);
    if (!m || m->fstype != kStrongroomFsType) {
      // A symlink outside the vault pointing into it is fine; check again below.
      real = ::realpath(dst_abs.c_str(), nullptr);
      if (!real) not_in_vault();
      ::free(real);
    }
  }
  real = ::realpath(dst_abs.c_str(), nullptr);
  if (!real) {
    const int e = errno;
    if (e == ENOENT) Fail(kNotFound, Q(opts.destination) + ": no such folder in the vault (create it first)");
    if (e == EACCES) Fail(kRefused, Q(opts.destination) + ": the vault refused access: " + ErrnoText(e));
    if (e == ENOTDIR) Fail(kUsage, Q(opts.destination) + " is not a folder");
    Fail(kUsage, "cannot resolve " + Q(opts.destination) + ": " + ErrnoText(e));
  }
  const std::string dst_real = real;
  ::free(real);
  const MountEntry* vault = innermost(dst_real);
  if (!vault || vault->fstype != kStrongroomFsType) not_in_vault();
  const std::string mountpoint = vault->mountpoint;
  const std::string vault_devno = vault->devno;

  UniqueFd dst(::open(dst_real.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dst.valid()) {
    const int e = errno;
    if (e == ENOTDIR) Fail(kUsage, Q(opts.destination) + " is not a folder");
    if (e == EACCES) Fail(kRefused, Q(opts.destination) + ": the vault refused access: " + ErrnoText(e));
    if (e == ENOENT) Fail(kNotFound, Q(opts.destination) + ": no such folder in the vault");
    Fail(kInternal, "cannot open " + Q(opts.destination) + ": " + ErrnoText(e));
  }
  struct stat dst_st;
  if (::fstat(dst.get(), &dst_st) != 0) Fail(kInternal, "cannot stat " + Q(opts.destination) + ": " + ErrnoText(errno));
  if (std::to_string(major(dst_st.st_dev)) + ":" + std::to_string(minor(dst_st.st_dev)) != vault_devno) not_in_vault();
  if (IsUnder(dst_real, src_real)) {
    Fail(kUsage, "the destination " + Q(opts.destination) + " is inside the source " + Q(opts.source));
  }
  if (IsUnder(src_real, dst_real)) {
    Fail(kUsage, "the source " + Q(opts.source) + " is inside the destination " + Q(opts.destination));
  }
  if (::faccessat(dst.get(), ".", W_OK | X_OK, 0) != 0) {
    const int e = errno;
    Fail(ExitCodeForErrno(e, kInternal), "the vault refuses writes to " + Q(opts.destination) + ": " + ErrnoText(e) +
             (e == EACCES ? " (a write grant there is needed)" : ""));
  }
  std::string vault_path = dst_real.substr(mountpoint == "/" ? 0 : mountpoint.size());
  if (vault_path.empty()) vault_path = "/";

  // ---- the top of the source: its parent folder and the entry in it, or
  // the folder itself when only its contents are imported.
  std::string parent = src_real.substr(0, src_real.rfind('/'));
  if (parent.empty()) parent = "/";
  const std::string top_name = src_real == "/" ? "" : src_real.substr(src_real.rfind('/') + 1);
  UniqueFd src_parent;
  UniqueFd src_dir;
  if (contents_only || src_real == "/") {
    src_dir.Reset(OpenSource(AT_FDCWD, src_real.c_str(), O_DIRECTORY));
    if (!src_dir.valid())
      Fail(errno == EACCES ? kRefused : kInternal, "cannot read " + Q(opts.source) + ": " + ErrnoText(errno));
  } else {
    src_parent.Reset(::open(parent.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!src_parent.valid()) Fail(kInternal, "cannot open " + Q(parent) + ": " + ErrnoText(errno));
    UniqueFd probe(OpenSource(src_parent.get(), top_name.c_str(), S_ISDIR(src_st.st_mode) ? O_DIRECTORY : O_NONBLOCK));
    if (!probe.valid())
      Fail(errno == EACCES ? kRefused : kInternal, "cannot read " + Q(opts.source) + ": " + ErrnoText(errno));
  }

  const std::string shown_dst = "vault:" + vault_path + " (on " + mountpoint + ")";
  const bool progress = !opts.quiet && !opts.no_progress && !opts.dry_run && ::isatty(STDERR_FILENO);
  Importer importer(opts, progress);

  struct sigaction sa {};
  sa.sa_handler = OnInterrupt;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);

  if (!opts.quiet)
    std::cout << (opts.dry_run ? "Would import " : "Importing ") << Q(src_real) << " into " << shown_dst << "\n"
              << std::flush;
  std::optional<CliError> fatal;
  bool interrupted = false;
  try {
    if (progress) {
      std::cerr << "counting files..." << std::flush;
      if (src_dir.valid()) {
        importer.CountChildren(src_dir.get());
      } else {
        importer.Count(src_parent.get(), top_name);
      }
      importer.progress().SetTotals(importer.counted_files(), importer.counted_bytes());
      std::cerr << "\r\033[K";
      importer.progress().Draw(true);
    }
    if (src_dir.valid()) {
      importer.ImportChildren(src_dir.get(), dst.get(), "");
    } else {
      importer.ImportEntry(src_parent.get(), top_name, dst.get(), top_name);
    }
    importer.progress().Draw(true);
  } catch (const CliError& e) {
    fatal = e;
  } catch (const Interrupted&) {
    interrupted = true;
  }
  importer.progress().Clear();

  if (!opts.quiet) importer.PrintSummary(src_real, shown_dst, fatal.has_value() || interrupted);
  std::cout << "Reminder: the plaintext source " << Q(src_real)
            << " still exists; Strongroom cannot securely erase it. Once the import is checked, wipe it separately "
               "(e.g. shred -u each file, or destroy the volume it is on).\n"
            << std::flush;

  if (fatal) throw *fatal;
  if (interrupted) Fail(kIncomplete, "import interrupted; run the same command again to resume");
  if (importer.verify_failed()) {
    Fail(kIntegrity, std::to_string(importer.failed()) + " file(s) failed; at least one did not verify after writing");
  }
  if (importer.incomplete()) {
    Fail(kIncomplete, "import incomplete: " + std::to_string(importer.skipped()) + " skipped, " +
                          std::to_string(importer.failed()) + " failed" + (opts.quiet ? "" : " (listed above)"));
  }
}

}  // namespace strongroom::tools
