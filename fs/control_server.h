// ControlServer: the daemon's control socket. One Unix stream socket per
// mounted vault in the root-owned /run/strongroom/, one JSON request per
// connection (docs/control-protocol.md). The caller is identified by the
// kernel (SO_PEERCRED), never by what the request says.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "crypto/status.h"
#include "fs/unique_fd.h"
#include "fs/vault_fs.h"

namespace strongroom::fs {

inline constexpr char kControlDir[] = "/run/strongroom";

// The socket of the vault mounted on `mountpoint` (canonical absolute path).
std::string ControlSocketPath(const std::string& mountpoint);

// Runs one command for `caller` and returns the reply object
// ({"ok": true, "result": ...} or {"ok": false, "code": ..., "error": ...}).
nlohmann::json RunPolicyCommand(VaultFs& fs, const Caller& caller, const std::string& mountpoint,
                                const nlohmann::json& request);

class ControlServer {
 public:
  ControlServer(VaultFs* fs, std::string mountpoint) : fs_(fs), mountpoint_(std::move(mountpoint)) {}
  ~ControlServer() { Stop(); }

  // Creates the directory (or checks it is root's and not writable by
  // others), binds the socket and starts serving.
  Status Start();
  void Stop();

 private:
  void Loop();
  void Serve(UniqueFd conn);

  VaultFs* fs_;
  std::string mountpoint_;
  std::string path_;
  UniqueFd listen_fd_;
  UniqueFd wake_fd_;  // eventfd: wakes the loop to stop
  std::thread thread_;
  // Connections are read on threads of their own, with one deadline each,
  // so a slow client holds up nobody; commands then run one at a time.
  std::mutex mu_;
  std::condition_variable idle_;
  int active_ = 0;
  std::mutex command_mu_;
};

}  // namespace strongroom::fs
