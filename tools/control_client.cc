// The control socket client: discovery, ownership checks, one round trip.
#include "tools/control_client.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "crypto/primitives.h"
#include "tools/cli_error.h"
#include "tools/terminal_text.h"

namespace strongroom::tools {
namespace {

// Owns a socket descriptor.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

constexpr int kSendTimeoutSeconds = 30;
// Some commands make the daemon drop cached pages of many files.
constexpr int kReplyTimeoutSeconds = 300;

std::string NotRunning(const std::string& mountpoint) {
  return "the daemon for " + EscapeForTerminal(mountpoint) + " is not running";
}

// /run/strongroom must be a real directory of root's that only root can
// change: otherwise anyone could have put a socket there.
void CheckControlDir(const std::string& dir, const std::string& mountpoint) {
  struct stat st;
  if (::lstat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT) Fail(kNotMounted, NotRunning(mountpoint) + " (" + dir + " does not exist)");
    Fail(kInternal, "cannot examine " + dir + ": " + std::strerror(errno));
  }
  if (!S_ISDIR(st.st_mode)) Fail(kRefused, "the control directory " + dir + " is not a directory; refusing to use it");
  if (st.st_uid != 0) Fail(kRefused, "the control directory " + dir + " is not owned by root; refusing to use it");
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    Fail(kRefused, "the control directory " + dir + " is writable by group or others; refusing to use it");
  }
}

void CheckSocketFile(const std::string& path, const std::string& mountpoint) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) Fail(kNotMounted, NotRunning(mountpoint));
    Fail(kInternal, "cannot examine the control socket " + path + ": " + std::strerror(errno));
  }
  if (!S_ISSOCK(st.st_mode)) Fail(kRefused, "the control socket " + path + " is not a socket; refusing to talk to it");
  if (st.st_uid != 0) Fail(kRefused, "the control socket " + path + " is not owned by root; refusing to talk to it");
}

void SetTimeout(int fd, int option, int seconds) {
  timeval tv{};
  tv.tv_sec = seconds;
  (void)::setsockopt(fd, SOL_SOCKET, option, &tv, sizeof tv);
}

void SendAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      // The daemon may have answered already (a refusal) and closed: read it.
      if (errno == EPIPE || errno == ECONNRESET) return;
      if (errno == EAGAIN || errno == EWOULDBLOCK) Fail(kInternal, "the daemon does not read its control socket");
      Fail(kInternal, std::string("cannot send to the daemon: ") + std::strerror(errno));
    }
    off += static_cast<size_t>(n);
  }
}

std::string ReceiveAll(int fd) {
  std::string reply;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) Fail(kInternal, "the daemon did not answer in time");
      if (errno == ECONNRESET) break;
      Fail(kInternal, std::string("cannot read the daemon's answer: ") + std::strerror(errno));
    }
    reply.append(buf, static_cast<size_t>(n));
    if (reply.size() > kMaxReplyBytes) Fail(kInternal, "the daemon's answer is larger than 16 MiB");
  }
  return reply;
}

}  // namespace

std::string ControlSocketPath(std::string_view mountpoint, std::string_view control_dir) {
  uint8_t digest[32];
  crypto::Sha256(crypto::AsBytes(mountpoint), digest);
  const std::string hex = crypto::HexEncode(crypto::ByteView(digest, sizeof digest));
  return std::string(control_dir) + "/" + hex.substr(0, 16) + ".sock";
}

ExitCode ExitCodeForReplyCode(std::string_view code) {
  if (code == "usage") return kUsage;
  if (code == "refused") return kRefused;
  if (code == "not_found") return kNotFound;
  if (code == "integrity") return kIntegrity;
  if (code == "conflict") return kConflict;
  return kInternal;
}

std::string EncodeRequest(const nlohmann::json& request) {
  std::string line;
  try {
    line = request.dump();
  } catch (const nlohmann::json::type_error&) {
    Fail(kUsage, "names, paths and reasons must be valid UTF-8 (the control protocol carries UTF-8 text only)");
  }
  line += '\n';
  if (line.size() > kMaxRequestBytes) Fail(kUsage, "the request is larger than 64 KiB");
  return line;
}

nlohmann::json InterpretReply(std::string_view reply) {
  if (reply.empty()) Fail(kInternal, "the daemon closed the connection without answering");
  nlohmann::json j = nlohmann::json::parse(reply.begin(), reply.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) Fail(kInternal, "the daemon's answer is not a JSON object");
  const auto ok = j.find("ok");
  if (ok == j.end() || !ok->is_boolean()) Fail(kInternal, "the daemon's answer has no \"ok\" field");
  if (ok->get<bool>()) {
    const auto result = j.find("result");
    return result == j.end() ? nlohmann::json() : *result;
  }
  std::string code = "internal";
  if (const auto c = j.find("code"); c != j.end() && c->is_string()) code = c->get<std::string>();
  std::string message;
  if (const auto e = j.find("error"); e != j.end() && e->is_string()) message = e->get<std::string>();
  if (message.empty()) message = "the daemon refused the request (" + code + ")";
  Fail(ExitCodeForReplyCode(code), EscapeForTerminal(message));
}

nlohmann::json CallDaemon(const std::string& mountpoint, const nlohmann::json& request) {
  return CallDaemonIn(kControlDir, mountpoint, request);
}

nlohmann::json CallDaemonSlow(const std::string& mountpoint, const nlohmann::json& request,
                              int reply_timeout_seconds) {
  return CallDaemonIn(kControlDir, mountpoint, request, reply_timeout_seconds);
}

nlohmann::json CallDaemonIn(const std::string& control_dir, const std::string& mountpoint,
                            const nlohmann::json& request, int reply_timeout_seconds) {
  const std::string line = EncodeRequest(request);
  const std::string path = ControlSocketPath(mountpoint, control_dir);
  CheckControlDir(control_dir, mountpoint);
  CheckSocketFile(path, mountpoint);

  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) Fail(kInternal, "the control socket path is too long");
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);

  Fd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (sock.get() < 0) Fail(kInternal, std::string("socket failed: ") + std::strerror(errno));
  int rc;
  do {
    rc = ::connect(sock.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    if (errno == ECONNREFUSED || errno == ENOENT) Fail(kNotMounted, NotRunning(mountpoint));
    if (errno == EACCES || errno == EPERM) {
      Fail(kRefused, "cannot connect to the control socket " + path + ": " + std::strerror(errno));
    }
    Fail(kInternal, "cannot connect to the control socket " + path + ": " + std::strerror(errno));
  }

  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(sock.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof cred) {
    Fail(kRefused, "cannot tell who serves the control socket " + path + "; refusing to talk to it");
  }
  if (cred.uid != 0) {
    Fail(kRefused, "the process behind the control socket " + path + " does not run as root; refusing to talk to it");
  }

  SetTimeout(sock.get(), SO_SNDTIMEO, kSendTimeoutSeconds);
  if (reply_timeout_seconds >= 0) {
    SetTimeout(sock.get(), SO_RCVTIMEO, reply_timeout_seconds > 0 ? reply_timeout_seconds : kReplyTimeoutSeconds);
  }
  SendAll(sock.get(), line);
  (void)::shutdown(sock.get(), SHUT_WR);
  return InterpretReply(ReceiveAll(sock.get()));
}

}  // namespace strongroom::tools
