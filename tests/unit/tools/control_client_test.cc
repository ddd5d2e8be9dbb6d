#include "tools/control_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <string>
#include <thread>

#include "tests/unit/test_util.h"
#include "tests/unit/tools/cli_test_util.h"

namespace strongroom::tools {
namespace {

using nlohmann::json;
using testing::OutcomeOf;
using testing::TempDir;

TEST_CASE("control: the socket is named after the mountpoint's hash", "[tools][control]") {
  // sha256("/mnt/vault") = e6acdd60f3e75ab8...
  CHECK(ControlSocketPath("/mnt/vault") == "/run/strongroom/e6acdd60f3e75ab8.sock");
  CHECK(ControlSocketPath("/mnt/vault", "/tmp/x") == "/tmp/x/e6acdd60f3e75ab8.sock");
  CHECK(ControlSocketPath("/mnt/vault/") != ControlSocketPath("/mnt/vault"));
}

TEST_CASE("control: reply codes map to exit codes", "[tools][control]") {
  CHECK(ExitCodeForReplyCode("usage") == kUsage);
  CHECK(ExitCodeForReplyCode("refused") == kRefused);
  CHECK(ExitCodeForReplyCode("not_found") == kNotFound);
  CHECK(ExitCodeForReplyCode("integrity") == kIntegrity);
  CHECK(ExitCodeForReplyCode("conflict") == kConflict);
  CHECK(ExitCodeForReplyCode("internal") == kInternal);
  CHECK(ExitCodeForReplyCode("something new") == kInternal);
}

TEST_CASE("control: replies", "[tools][control]") {
  CHECK(InterpretReply("{\"ok\": true, \"result\": {\"a\": 1}}\n") == json{{"a", 1}});
  CHECK(InterpretReply("{\"ok\": true}").is_null());

  const auto refused = OutcomeOf(
      [] { InterpretReply("{\"ok\": false, \"code\": \"refused\", \"error\": \"no \\u001b[2J way\\nreally\"}\n"); });
  CHECK(refused.code == kRefused);
  CHECK(refused.message == "no \\x1b[2J way\\nreally");

  CHECK(OutcomeOf([] { InterpretReply("{\"ok\": false, \"code\": \"not_found\", \"error\": \"x\"}"); }).code ==
        kNotFound);
  CHECK(OutcomeOf([] { InterpretReply("{\"ok\": false, \"code\": \"odd\", \"error\": \"x\"}"); }).code == kInternal);
  CHECK(OutcomeOf([] { InterpretReply("{\"ok\": false}"); }).code == kInternal);
  for (const char* bad : {"", "not json", "[1]", "{\"result\": 1}", "{\"ok\": \"yes\"}", "{\"ok\": true} {}"}) {
    INFO(bad);
    CHECK(OutcomeOf([&] { InterpretReply(bad); }).code == kInternal);
  }
}

TEST_CASE("control: requests are one line carrying names exactly", "[tools][control]") {
  const std::string name = "a \"quoted\"\nname\\ with\ttabs \x1b[0m \xc3\xa9";
  const std::string line = EncodeRequest({{"cmd", "grant"}, {"path", "/" + name}, {"subject", "@" + name}});
  REQUIRE(line.back() == '\n');
  CHECK(line.find('\n') == line.size() - 1);
  const json back = json::parse(line);
  CHECK(back["path"] == "/" + name);
  CHECK(back["subject"] == "@" + name);

  CHECK(OutcomeOf([] { EncodeRequest({{"cmd", "user.add"}, {"name", "\xff"}}); }).code == kUsage);
  CHECK(OutcomeOf([] {
          EncodeRequest({{"cmd", "x"}, {"reason", std::string(kMaxRequestBytes, 'a')}});
        }).code == kUsage);
}

// A listening socket in a fresh control directory, as the daemon would make.
class FakeDaemonSocket {
 public:
  FakeDaemonSocket(const std::string& dir, const std::string& mountpoint) : path_(ControlSocketPath(mountpoint, dir)) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd_, 4) == 0);
  }
  ~FakeDaemonSocket() { ::close(fd_); }
  FakeDaemonSocket(const FakeDaemonSocket&) = delete;
  FakeDaemonSocket& operator=(const FakeDaemonSocket&) = delete;

  int fd() const { return fd_; }
  const std::string& path() const { return path_; }
  // True when a client has connected (without waiting).
  bool Pending() const {
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, 0) == 1;
  }

 private:
  std::string path_;
  int fd_ = -1;
};

// Serves one connection: reads the request to EOF, answers `reply`.
std::string ServeOnce(int listen_fd, const std::string& reply) {
  const int c = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
  if (c < 0) return "";
  std::string request;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(c, buf, sizeof buf)) > 0) request.append(buf, static_cast<size_t>(n));
  (void)!::write(c, reply.data(), reply.size());
  ::close(c);
  return request;
}

TEST_CASE("control: one round trip to a root daemon", "[tools][control]") {
  if (::geteuid() != 0) {
    WARN("not root: the control directory cannot be root's; skipped");
    return;
  }
  TempDir tmp;
  const std::string dir = tmp.Sub("run");
  REQUIRE(::mkdir(dir.c_str(), 0755) == 0);
  FakeDaemonSocket sock(dir, "/mnt/vault");
  std::string got;
  std::thread server([&] { got = ServeOnce(sock.fd(), "{\"ok\":true,\"result\":{\"name\":\"alice\"}}\n"); });
  json result;
  const auto out = OutcomeOf([&] { result = CallDaemonIn(dir, "/mnt/vault", {{"cmd", "whoami"}}); });
  server.join();
  CHECK(out.code == 0);
  CHECK(result == json{{"name", "alice"}});
  CHECK(got == "{\"cmd\":\"whoami\"}\n");

  std::thread refusing([&] { ServeOnce(sock.fd(), "{\"ok\":false,\"code\":\"refused\",\"error\":\"no\"}\n"); });
  const auto refused = OutcomeOf([&] { CallDaemonIn(dir, "/mnt/vault", {{"cmd", "user.list"}}); });
  refusing.join();
  CHECK(refused.code == kRefused);
  CHECK(refused.message == "no");
}

TEST_CASE("control: no daemon means not mounted", "[tools][control]") {
  TempDir tmp;
  CHECK(OutcomeOf([&] { CallDaemonIn(tmp.Sub("missing"), "/mnt/vault", {{"cmd", "whoami"}}); }).code == kNotMounted);
  if (::geteuid() != 0) return;
  const std::string dir = tmp.Sub("run");
  REQUIRE(::mkdir(dir.c_str(), 0755) == 0);
  const auto missing = OutcomeOf([&] { CallDaemonIn(dir, "/mnt/vault", {{"cmd", "whoami"}}); });
  CHECK(missing.code == kNotMounted);
  CHECK(missing.message == "the daemon for /mnt/vault is not running");
  {
    FakeDaemonSocket gone(dir, "/mnt/vault");  // closed below: the file stays, nobody listens
  }
  CHECK(OutcomeOf([&] { CallDaemonIn(dir, "/mnt/vault", {{"cmd", "whoami"}}); }).code == kNotMounted);
}

TEST_CASE("control: sockets that are not root's are refused before connecting", "[tools][control]") {
  if (::geteuid() != 0) {
    WARN("not root: skipped");
    return;
  }
  TempDir tmp;
  const std::string dir = tmp.Sub("run");
  REQUIRE(::mkdir(dir.c_str(), 0755) == 0);
  FakeDaemonSocket sock(dir, "/mnt/vault");
  auto call = [&] { CallDaemonIn(dir, "/mnt/vault", {{"cmd", "whoami"}}); };

  REQUIRE(::chmod(dir.c_str(), 0775) == 0);
  CHECK(OutcomeOf(call).code == kRefused);
  REQUIRE(::chmod(dir.c_str(), 0757) == 0);
  CHECK(OutcomeOf(call).code == kRefused);
  REQUIRE(::chmod(dir.c_str(), 0755) == 0);

  REQUIRE(::chown(dir.c_str(), 65534, 65534) == 0);
  CHECK(OutcomeOf(call).code == kRefused);
  REQUIRE(::chown(dir.c_str(), 0, 0) == 0);

  REQUIRE(::lchown(sock.path().c_str(), 65534, 65534) == 0);
  const auto not_root = OutcomeOf(call);
  CHECK(not_root.code == kRefused);
  CHECK(not_root.message.find("is not owned by root; refusing to talk to it") != std::string::npos);
  REQUIRE(::lchown(sock.path().c_str(), 0, 0) == 0);
  CHECK_FALSE(sock.Pending());

  // A symlink in place of the directory is refused too.
  const std::string link = tmp.Sub("link");
  REQUIRE(::symlink(dir.c_str(), link.c_str()) == 0);
  CHECK(OutcomeOf([&] { CallDaemonIn(link, "/mnt/vault", {{"cmd", "whoami"}}); }).code == kRefused);
  CHECK_FALSE(sock.Pending());
}

TEST_CASE("control: a daemon that does not run as root is refused", "[tools][control]") {
  if (::geteuid() != 0) {
    WARN("not root: skipped");
    return;
  }
  TempDir tmp;
  const std::string dir = tmp.Sub("run");
  REQUIRE(::mkdir(dir.c_str(), 0755) == 0);
  const std::string path = ControlSocketPath("/mnt/vault", dir);
  int ready[2];
  REQUIRE(::pipe(ready) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // The socket file is root's, but the listener is nobody: its SO_PEERCRED.
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) ::_exit(2);
    if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) ::_exit(3);
    if (::listen(fd, 4) != 0) ::_exit(4);
    (void)!::write(ready[1], "x", 1);
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5000) == 1) {
      const int c = ::accept(fd, nullptr, nullptr);
      char buf[64];
      // The client must hang up without sending anything.
      ::_exit(::read(c, buf, sizeof buf) == 0 ? 0 : 5);
    }
    ::_exit(6);
  }
  ::close(ready[1]);
  char byte;
  REQUIRE(::read(ready[0], &byte, 1) == 1);
  ::close(ready[0]);
  const auto out = OutcomeOf([&] { CallDaemonIn(dir, "/mnt/vault", {{"cmd", "whoami"}}); });
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK(out.code == kRefused);
  CHECK(out.message.find("does not run as root") != std::string::npos);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

}  // namespace
}  // namespace strongroom::tools
