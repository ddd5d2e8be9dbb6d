// FuseSession: mounts a VaultFs with libfuse's low-level API and serves it
// on a multi-threaded loop. The only code that includes <fuse_lowlevel.h>.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "crypto/status.h"
#include "fs/vault_fs.h"

struct fuse_session;

namespace strongroom::fs {

struct MountConfig {
  std::string mountpoint;
  std::string fsname;             // shown as the mount's source
  bool allow_other = false;
  std::vector<std::string> extra_options;  // passed as -o
};

class FuseSession {
 public:
  // Creates the session, installs SIGTERM/SIGINT/SIGHUP handlers that stop
  // it, and mounts it; the mount is live when this returns.
  static Result<std::unique_ptr<FuseSession>> Mount(VaultFs* fs, const MountConfig& config);
  ~FuseSession();

  // Serves requests until unmounted or signalled (SIGTERM, SIGINT, SIGHUP).
  Status Serve();
  void Unmount();

 private:
  FuseSession() = default;
  fuse_session* session_ = nullptr;
  VaultFs* fs_ = nullptr;
  bool mounted_ = false;
  bool signals_ = false;
};

}  // namespace strongroom::fs
