// The strongroom subcommands. Each throws CliError on failure.
#pragma once

#include <string>
#include <vector>

namespace strongroom::tools {

struct InitOptions {
  std::string vault;
  std::string passfile;
  int scrypt_log_n = 17;
  std::string admin;   // the first admin's user name
  std::string audit_key_out;  // where to write the auditors' initial key (else shown only)
  std::string audit_db;       // the audit database's path (default: in the vault)
  std::string viewer_group;   // the viewer group (default strongroom-viewers), created if missing
  int admin_uid = -1;  // -1: the invoking user (SUDO_UID when run through sudo)
};
void RunInit(const InitOptions& opts);

struct PasswdOptions {
  std::string vault;
  std::string passfile;
  std::string new_passfile;
};
void RunPasswd(const PasswdOptions& opts);

struct MountOptions {
  std::string vault;
  std::string mountpoint;
  std::string passfile;
  // A systemd credential (LoadCredential=) holding the passphrase: the file
  // NAME in $CREDENTIALS_DIRECTORY. Without --passfile or --credential, the
  // credential "strongroom-passphrase" is used when it exists.
  std::string credential;
  bool foreground = false;
  // Operational log: also to this file (rotated at 10 MiB, 5 kept), at this
  // level or above (trace, debug, info, warn, error).
  std::string log_file;
  std::string log_level = "info";
  bool posix_permissions = false;  // mode bits checked by the kernel as well as grants
  // Benchmarks only: let the kernel cache entries (unsafe with several
  // users: one user's lookup would answer another's). Negative: default 0.
  double entry_timeout = -1;
  std::vector<std::string> fuse_options;
};
// Returns once the mount is ready (or, with foreground, once unmounted).
void RunMount(const MountOptions& opts);

void RunUmount(const std::string& mountpoint);

// mount.strongroom (tools/mount_helper.h): mounts in the background, or
// does nothing when the vault is already mounted there (so that `mount -a`
// may run twice).
struct MountHelperCall;
void RunMountHelper(const MountHelperCall& call);

}  // namespace strongroom::tools
