#include "fs/viewer_program.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string_view>
#include <vector>

#include "fs/unique_fd.h"
#include "fs/viewer_gate.h"

namespace strongroom::fs {
namespace {

// Programs that can never be viewers, by what they are. A name matches an
// entry exactly, or followed by a version ("python3.11", "perl5.36.0").
struct Refusal {
  std::vector<std::string_view> names;
  const char* why;
};

const std::vector<Refusal>& Refusals() {
  static const std::vector<Refusal> kRefusals = {
      {{"sh", "bash", "rbash", "dash", "zsh", "ksh", "ksh93", "mksh", "pdksh", "csh", "tcsh", "fish", "yash", "posh",
        "busybox", "toybox", "screen", "tmux", "script", "su", "sudo", "env", "xargs", "nohup", "setpriv", "sg",
        "newgrp", "runuser", "chroot", "nice", "timeout", "watch", "flock", "find"},
       "it is a shell or runs other commands: whatever it runs would inherit the viewer group"},
      {{"python", "pypy", "perl", "ruby", "irb", "node", "nodejs", "deno", "bun", "php", "php-cgi", "lua", "luajit",
        "tclsh", "wish", "expect", "guile", "awk", "gawk", "mawk", "nawk", "original-awk", "sed", "gdb", "lldb",
        "strace", "ltrace", "java", "jshell", "julia", "R", "Rscript", "sbcl", "clisp", "ghci", "runghc", "osascript",
        "bc", "dc", "m4", "make", "gcc", "cc", "tcc", "ld.so", "ld-linux.so", "ld-linux-x86-64.so", "ld-linux-aarch64.so"},
       "it is a general-purpose interpreter: it would run any script, and the script could copy what it reads"},
      {{"cat", "tac", "cp", "mv", "dd", "install", "tar", "cpio", "pax", "rsync", "scp", "sftp", "ssh", "curl", "wget",
        "ftp", "nc", "netcat", "ncat", "socat", "tee", "head", "tail", "split", "csplit", "base64", "base32", "xxd",
        "od", "hexdump", "zip", "unzip", "gzip", "bzip2", "xz", "zstd", "7z", "lz4", "less", "more", "most", "vi", "vim",
        "nvim", "view", "ex", "emacs", "nano", "pico", "ed", "joe", "mcedit", "mc", "mutt", "neomutt", "mail", "mailx",
        "sendmail", "lp", "lpr", "rclone", "git", "sqlite3", "openssl", "gpg", "shred", "ln", "strings", "sort", "uniq",
        "cut", "paste", "tr", "grep", "egrep", "fgrep", "rg", "diff", "cmp", "file", "dump", "truncate"},
       "it copies, prints, edits or sends files: exactly what view-only mode stops"},
      {{"smbd", "nmbd", "samba", "winbindd", "nfsd", "rpc.nfsd", "ganesha.nfsd", "vsftpd", "proftpd", "pure-ftpd",
        "in.ftpd", "sftp-server", "sshd", "httpd", "apache2", "nginx", "lighttpd", "caddy", "webdavd", "afpd",
        "netatalk", "minidlna", "syncthing", "nextcloud", "owncloud"},
       "it serves files to other machines: view-only files are not available over Samba or any other file server"},
  };
  return kRefusals;
}

bool VersionSuffix(std::string_view rest) {
  return std::all_of(rest.begin(), rest.end(), [](char c) { return (c >= '0' && c <= '9') || c == '.' || c == '-'; });
}

// Why a program of this file name can never be a viewer, or nullptr.
const char* RefusedName(std::string_view name) {
  for (const Refusal& r : Refusals()) {
    for (std::string_view n : r.names) {
      if (name.size() >= n.size() && name.substr(0, n.size()) == n && VersionSuffix(name.substr(n.size()))) {
        return r.why;
      }
    }
  }
  return nullptr;
}

std::string Basename(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// A renamed copy of a refused program: same size and digest as one of the
// refused programs found in the system's bin directories.
const char* RefusedContent(off_t size, const acl::Sha256Digest& digest, std::string* which) {
  std::set<std::pair<dev_t, ino_t>> seen;
  for (const char* dir : {"/usr/local/bin", "/usr/local/sbin", "/usr/bin", "/usr/sbin", "/bin", "/sbin"}) {
    DIR* d = ::opendir(dir);
    if (d == nullptr) continue;
    while (struct dirent* e = ::readdir(d)) {
      const char* why = RefusedName(e->d_name);
      if (why == nullptr) continue;
      // Symlinks (python3 -> python3.11) are followed: the content matters.
      const std::string path = std::string(dir) + "/" + e->d_name;
      struct stat st;
      if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size != size) continue;
      if (!seen.insert({st.st_dev, st.st_ino}).second) continue;
      UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
      if (!fd.valid()) continue;
      Result<acl::Sha256Digest> other = Sha256OfFile(fd.get());
      if (other.ok() && *other == digest) {
        ::closedir(d);
        *which = path;
        return why;
      }
    }
    ::closedir(d);
  }
  return nullptr;
}

}  // namespace

bool ValidGroupName(const std::string& name) {
  if (name.empty() || name.size() > 32 || name[0] == '-') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '.';
  });
}

namespace {

std::optional<acl::ViewerGroup> LookUpGroup(const std::string& name) {
  struct group grp;
  struct group* found = nullptr;
  std::vector<char> buf(16384);
  while (::getgrnam_r(name.c_str(), &grp, buf.data(), buf.size(), &found) == ERANGE && buf.size() < (1 << 22)) {
    buf.resize(buf.size() * 2);
  }
  if (found == nullptr) return std::nullopt;
  return acl::ViewerGroup{static_cast<acl::Gid>(found->gr_gid), name};
}

}  // namespace

Result<acl::ViewerGroup> ResolveViewerGroup(const std::string& name, bool create) {
  if (!ValidGroupName(name)) {
    return Status::Invalid("a viewer group name is 1 to 32 letters, digits, '_', '-' or '.', not starting with '-'");
  }
  if (auto g = LookUpGroup(name)) return *g;
  if (!create) return Status::NotFound("there is no group " + name);
  if (::geteuid() != 0) {
    return Status::Denied("the viewer group " + name + " does not exist and only root can create it (groupadd --system " +
                          name + ")");
  }
  const char* tool = ::access("/usr/sbin/groupadd", X_OK) == 0 ? "/usr/sbin/groupadd" : "/sbin/groupadd";
  std::string arg0 = "groupadd", arg1 = "--system", arg2 = name;
  char* argv[] = {arg0.data(), arg1.data(), arg2.data(), nullptr};
  char path_env[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
  char* envp[] = {path_env, nullptr};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, tool, &actions, nullptr, argv, envp);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return Status::Denied("cannot run " + std::string(tool) + " to create the group " + name + ": " + std::strerror(rc));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  // Created by someone else meanwhile is fine too (a concurrent groupadd
  // holds the lock on /etc/group, so ours fails: wait for theirs).
  for (int i = 0; i < 30; ++i) {
    if (auto g = LookUpGroup(name)) return *g;
    ::usleep(100 * 1000);
  }
  return Status::Denied("groupadd --system " + name + " failed (exit " +
                        std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + ")");
}

Result<ViewerProgram> InspectViewerProgram(const std::string& path, const acl::ViewerGroup& group) {
  if (path.empty() || path[0] != '/') return Status::Invalid("the program must be given as an absolute path");
  char resolved[PATH_MAX];
  if (::realpath(path.c_str(), resolved) == nullptr) {
    if (errno == ENOENT || errno == ENOTDIR) return Status::NotFound("no such program: " + path);
    return Status::Io(errno, "resolve " + path);
  }
  ViewerProgram out;
  out.path = resolved;
  const std::string& p = out.path;
  const std::string name = Basename(p);
  std::vector<std::string> fixes;

  // Refused for what it is, whatever its ownership.
  for (const std::string& n : {Basename(path), name}) {
    if (const char* why = RefusedName(n)) {
      return Status::Denied(p + " cannot be a viewer: " + why + " (use a minimal viewer without export)");
    }
  }

  // Every directory from / down: owned by root; writable by nobody else,
  // except a root-owned sticky directory above the program's own (nobody
  // but root can rename or replace a root-owned entry there).
  UniqueFd dir(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) return Status::Io(errno, "open /");
  std::string at = "/";
  size_t pos = 1;
  for (;;) {
    struct stat st;
    if (::fstat(dir.get(), &st) != 0) return Status::Io(errno, "stat " + at);
    const size_t slash = p.find('/', pos);
    const bool parent_of_program = slash == std::string::npos;
    if (st.st_uid != 0) fixes.push_back(at + " is not owned by root (chown root " + at + ")");
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) && (parent_of_program || !(st.st_mode & S_ISVTX))) {
      fixes.push_back(at + " is writable by others than root (chmod go-w " + at + ")");
    }
    if (parent_of_program) break;
    const std::string component = p.substr(pos, slash - pos);
    dir = UniqueFd(::openat(dir.get(), component.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dir.valid()) return Status::Io(errno, "open " + p.substr(0, slash));
    at = p.substr(0, slash);
    pos = slash + 1;
  }

  UniqueFd file(::openat(dir.get(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  struct stat st;
  if (!file.valid() || ::fstat(file.get(), &st) != 0) return Status::Io(errno, "open " + p);
  if (!S_ISREG(st.st_mode)) return Status::Denied(p + " cannot be a viewer: it is not a regular file");
  if (st.st_uid != 0) fixes.push_back("it is not owned by root (chown root " + p + ")");
  if (st.st_gid != group.gid) {
    fixes.push_back("its group is not the viewer group (chgrp " + group.name + " " + p + ")");
  }
  if (!(st.st_mode & S_ISGID)) fixes.push_back("it is not setgid (chmod g+s " + p + ")");
  if (st.st_mode & S_ISUID) fixes.push_back("it is setuid (chmod u-s " + p + ")");
  if (st.st_mode & (S_IWGRP | S_IWOTH)) fixes.push_back("it is writable by others than root (chmod go-w " + p + ")");
  struct statvfs sv;
  if (::fstatvfs(file.get(), &sv) == 0 && (sv.f_flag & ST_NOSUID)) {
    fixes.push_back("its filesystem is mounted nosuid, so its setgid bit would be ignored (install it on one that is not)");
  }

  UniqueFd data(::open(("/proc/self/fd/" + std::to_string(file.get())).c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (!data.valid()) return Status::Io(errno, "read " + p);
  std::array<char, 4> magic{};
  const ssize_t n = ::pread(data.get(), magic.data(), magic.size(), 0);
  if (n >= 2 && magic[0] == '#' && magic[1] == '!') {
    return Status::Denied(p + " cannot be a viewer: it is a script, and Linux runs a script's interpreter, without "
                              "its setgid bit (allow-list a compiled viewer)");
  }
  if (n != 4 || std::memcmp(magic.data(), "\x7f" "ELF", 4) != 0) {
    return Status::Denied(p + " cannot be a viewer: it is not an ELF executable");
  }
  if (!fixes.empty()) {
    std::string msg = p + " cannot be a viewer yet: ";
    for (size_t i = 0; i < fixes.size(); ++i) msg += (i > 0 ? "; " : "") + fixes[i];
    return Status::Denied(msg);
  }

  Result<acl::Sha256Digest> digest = Sha256OfFile(data.get());
  if (!digest.ok()) return digest.status();
  struct stat after;
  if (::fstat(data.get(), &after) != 0) return Status::Io(errno, "stat " + p);
  if (after.st_ino != st.st_ino || after.st_size != st.st_size || after.st_ctim.tv_sec != st.st_ctim.tv_sec ||
      after.st_ctim.tv_nsec != st.st_ctim.tv_nsec) {
    return Status::Io(EAGAIN, p + " changed while it was checked; try again");
  }
  std::string twin;
  if (const char* why = RefusedContent(st.st_size, *digest, &twin)) {
    return Status::Denied(p + " cannot be a viewer: it is a copy of " + twin + ", and " + why);
  }
  out.sha256 = *digest;
  return out;
}

}  // namespace strongroom::fs
