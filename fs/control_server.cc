#include "fs/control_server.h"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include "crypto/primitives.h"
#include "fs/vault_layout.h"

namespace strongroom::fs {
namespace {

constexpr size_t kMaxRequest = 64 * 1024;
constexpr auto kRequestDeadline = std::chrono::seconds(2);  // from accept to the whole request
constexpr int kMaxConnections = 16;

nlohmann::json Error(std::string_view code, const std::string& message) {
  return {{"ok", false}, {"code", code}, {"error", message}};
}

// Reads one request (up to a newline or the end), bounded in size and in
// total time.
std::optional<std::string> ReadRequest(int fd) {
  const auto deadline = std::chrono::steady_clock::now() + kRequestDeadline;
  std::string in;
  char buf[4096];
  while (in.size() <= kMaxRequest) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::nullopt;
    }
    if (n == 0) break;
    in.append(buf, static_cast<size_t>(n));
    if (in.find('\n') != std::string::npos) break;
  }
  if (in.size() > kMaxRequest) return std::nullopt;
  return in;
}

void WriteAll(int fd, const std::string& out) {
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::send(fd, out.data() + done, out.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

}  // namespace

std::string ControlSocketPath(const std::string& mountpoint) {
  uint8_t digest[32];
  crypto::Sha256(crypto::AsBytes(mountpoint), digest);
  return std::string(kControlDir) + "/" + crypto::HexEncode({digest, 8}) + ".sock";
}

Status ControlServer::Start() {
  if (::mkdir(kControlDir, 0755) != 0 && errno != EEXIST) return Errno("create the control directory");
  struct stat st;
  if (::lstat(kControlDir, &st) != 0) return Errno("stat the control directory");
  if (!S_ISDIR(st.st_mode) || st.st_uid != 0 || (st.st_mode & 022) != 0) {
    return Status::Denied(std::string(kControlDir) + " must be a directory owned by root and writable by root only");
  }
  path_ = ControlSocketPath(mountpoint_);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path_.size() >= sizeof addr.sun_path) return Status::Invalid("socket path too long");
  std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
  listen_fd_ = UniqueFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!listen_fd_.valid()) return Errno("socket");
  // A socket left by a daemon that died: nobody listens on it any more (one
  // mount per mountpoint, checked before this runs).
  if (::lstat(path_.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return Status::Exists(path_ + " exists and is not a socket");
    ::unlink(path_.c_str());
  }
  const mode_t old = ::umask(0111);  // the socket: rw for everyone; the daemon decides
  const int rc = ::bind(listen_fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::umask(old);
  if (rc != 0) return Errno("bind the control socket");
  if (::listen(listen_fd_.get(), 64) != 0) return Errno("listen");
  wake_fd_ = UniqueFd(::eventfd(0, EFD_CLOEXEC));
  if (!wake_fd_.valid()) return Errno("eventfd");
  thread_ = std::thread([this] { Loop(); });
  spdlog::info("control socket {}", path_);
  return Status::Ok();
}

void ControlServer::Stop() {
  if (!thread_.joinable()) return;
  const uint64_t one = 1;
  (void)!::write(wake_fd_.get(), &one, sizeof one);
  thread_.join();
  ::unlink(path_.c_str());
  // Connections still being served end within their deadline.
  std::unique_lock lock(mu_);
  idle_.wait(lock, [this] { return active_ == 0; });
}

void ControlServer::Loop() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_.get(), POLLIN, 0}, {wake_fd_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("control socket: poll failed: {}", std::strerror(errno));
      return;
    }
    if (fds[1].revents != 0) return;
    UniqueFd conn(::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn.valid()) continue;
    {
      std::lock_guard lock(mu_);
      if (active_ >= kMaxConnections) {
        WriteAll(conn.get(), Error("conflict", "the daemon is busy with other commands; try again").dump() + "\n");
        continue;
      }
      ++active_;
    }
    std::thread([this, c = std::move(conn)]() mutable {
      Serve(std::move(c));
      std::lock_guard lock(mu_);
      if (--active_ == 0) idle_.notify_all();
    }).detach();
  }
}

void ControlServer::Serve(UniqueFd conn) {
  const int fd = conn.get();
  const timeval send_timeout{2, 0};  // a client that does not read its reply is dropped
  (void)::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return;
  const Caller caller{cred.uid, cred.gid, cred.pid};
  nlohmann::json reply;
  std::optional<std::string> text = ReadRequest(fd);
  if (!text) {
    reply = Error("usage", "the request was too large, incomplete or too slow");
  } else {
    nlohmann::json request = nlohmann::json::parse(*text, nullptr, false);
    if (request.is_discarded() || !request.is_object()) {
      reply = Error("usage", "the request is not a JSON object (names must be UTF-8)");
    } else {
      try {
        // fsck and status only read, and fsck may take long: they run beside
        // the other commands rather than holding them up.
        const std::string cmd = request.value("cmd", std::string());
        std::unique_lock<std::mutex> one_at_a_time(command_mu_, std::defer_lock);
        if (cmd != "fsck" && cmd != "status") one_at_a_time.lock();
        reply = RunPolicyCommand(*fs_, caller, mountpoint_, request);
      } catch (const std::exception& e) {
        spdlog::error("control command failed: {}", e.what());
        reply = Error("internal", std::string("internal error: ") + e.what());
      }
    }
  }
  WriteAll(fd, reply.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

}  // namespace strongroom::fs
