#include "tools/vault_files.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string_view>

#include "crypto/secret.h"
#include "tools/cli_error.h"

namespace strongroom::tools {

VaultPaths FindVault(const std::string& vault) {
  std::error_code ec;
  const auto abs = std::filesystem::absolute(vault, ec);
  struct stat st;
  if (ec || ::stat(abs.c_str(), &st) != 0) Fail(kNotFound, "vault " + vault + " not found");
  if (!S_ISDIR(st.st_mode)) Fail(kNotFound, vault + " is not a vault directory");
  VaultPaths paths{std::filesystem::weakly_canonical(abs).string()};
  if (::access(paths.config().c_str(), F_OK) != 0) {
    Fail(kNotFound, vault + " is not a strongroom vault (no strongroom.conf)");
  }
  return paths;
}

ConfigLock::ConfigLock(const VaultPaths& paths) {
  fd_ = ::open(paths.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd_ < 0) Fail(kNotFound, "cannot open the vault " + paths.dir + ": " + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    std::cerr << "Waiting for another command changing the keys of " << paths.dir << "...\n";
    if (::flock(fd_, LOCK_EX) != 0) Fail(kInternal, std::string("cannot lock the vault: ") + std::strerror(errno));
  }
}

ConfigLock::~ConfigLock() { ::close(fd_); }

crypto::VaultConfig LoadConfig(const VaultPaths& paths) {
  const int fd = ::open(paths.config().c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) Fail(kIntegrity, "cannot read " + paths.config() + ": " + std::strerror(errno));
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) {
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > (1 << 20)) break;
  }
  ::close(fd);
  if (text.size() > (1 << 20)) Fail(kIntegrity, "corrupt config: " + paths.config() + " is too large");
  Result<crypto::VaultConfig> config = crypto::VaultConfig::Parse(text);
  if (!config.ok()) Fail(kIntegrity, config.status().message() + " (" + paths.config() + ")");
  return std::move(config).value();
}

void SaveConfig(const std::string& path, const crypto::VaultConfig& config) {
  const std::string tmp = path + ".tmp";
  const std::string text = config.Serialize();
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) Fail(kInternal, "cannot write " + tmp + ": " + std::strerror(errno));
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    Fail(kInternal, "cannot write " + path + ": " + std::strerror(errno));
  }
  const std::string dir = std::filesystem::path(path).parent_path().string();
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

namespace {

std::string AskHidden(const std::string& prompt) {
  const int tty = ::open("/dev/tty", O_RDWR | O_CLOEXEC);
  if (tty < 0) Fail(kUsage, "no terminal to ask for the passphrase; use --passfile FILE");
  termios old{};
  const bool have_term = ::tcgetattr(tty, &old) == 0;
  if (have_term) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(tty, TCSAFLUSH, &quiet);
  }
  (void)!::write(tty, prompt.data(), prompt.size());
  std::string line;
  char c;
  while (::read(tty, &c, 1) == 1 && c != '\n') line += c;
  if (have_term) ::tcsetattr(tty, TCSAFLUSH, &old);
  (void)!::write(tty, "\n", 1);
  ::close(tty);
  return line;
}

}  // namespace

// A passphrase or key file at rest must be its reader's alone: owned by the
// caller (root, for the daemon) and with no permission for group or others,
// the way ssh treats private keys. Pipes (--passfile /dev/stdin) hold
// nothing at rest and are not checked.
void CheckSecretFileOwnership(int fd, const std::string& path, const std::string& what) {
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return;
  const uid_t me = ::geteuid();
  std::string problem;
  if (st.st_uid != me) {
    problem = "is owned by uid " + std::to_string(st.st_uid) + ", not by " +
              (me == 0 ? std::string("root") : "uid " + std::to_string(me)) + " (chown it)";
  } else if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    problem = std::string("is accessible by group or others (mode ") + mode + "; chmod 600 it)";
  }
  if (problem.empty()) return;
  ::close(fd);
  Fail(kRefused, "refusing " + what + " " + path + ": it " + problem);
}

std::string ReadPassphrase(const std::string& passfile, const std::string& prompt, bool confirm) {
  std::string pass;
  if (!passfile.empty()) {
    // Read with plain read(2) into a buffer we wipe, not through a stream
    // whose internal buffer would keep a copy.
    const int fd = ::open(passfile.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) Fail(kNotFound, "cannot read passphrase file " + passfile);
    CheckSecretFileOwnership(fd, passfile, "passphrase file");
    char buf[4096];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    ::close(fd);
    if (n < 0) Fail(kNotFound, "cannot read passphrase file " + passfile);
    const std::string_view text(buf, static_cast<size_t>(n));
    pass.assign(text.substr(0, text.find('\n')));
    crypto::Wipe(buf, sizeof buf);
    if (!pass.empty() && pass.back() == '\r') pass.pop_back();
  } else {
    pass = AskHidden(prompt + ": ");
    if (confirm && AskHidden("Repeat " + prompt + ": ") != pass) {
      Fail(kUsage, "the passphrases do not match");
    }
  }
  if (pass.empty()) Fail(kUsage, "the passphrase is empty");
  return pass;
}

void SyncDir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    (void)::fsync(fd);
    ::close(fd);
  }
}

}  // namespace strongroom::tools
