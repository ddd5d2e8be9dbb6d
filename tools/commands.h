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
  std::string key_file;  // unlock with a key file instead of a passphrase
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

struct KeyslotOptions {
  std::string vault;
  std::string passfile;  // unlock with a passphrase (first line of the file)...
  std::string key_file;  // ...or with a key file
  std::string new_passfile;
  std::string new_key_file;  // add: create this new random key file
  std::string label;
  int slot = 0;  // remove
  bool json = false;
};
void RunKeyslotList(const KeyslotOptions& opts);
void RunKeyslotAdd(const KeyslotOptions& opts);
void RunKeyslotRemove(const KeyslotOptions& opts);

struct BackupOptions {
  std::string vault;
  std::string dest;
};
// Root only. A consistent copy of VAULT (mounted or not) in the new directory DEST.
void RunBackup(const BackupOptions& opts);

struct RekeyOptions {
  std::string vault;
  std::vector<std::string> passfiles;  // one per passphrase slot
  std::vector<std::string> key_files;  // one per key-file slot
};
void RunRekey(const RekeyOptions& opts);
struct FsckOptions {
  std::string target;  // a vault directory, or the mountpoint of a mounted one
  std::string passfile;
  std::string key_file;  // unlock with a key file instead
  bool json_output = false;
  bool repair_orphans = false;  // delete orphaned rows (unmounted vaults only)
};
// Exit 0 when the vault is clean, kIntegrity (after the summary) when not.
void RunFsck(const FsckOptions& opts);

struct StatusOptions {
  bool json_output = false;
};
void RunStatus(const StatusOptions& opts);
struct ImportOptions {
  std::string source;       // a plaintext folder or file; a trailing "/" imports a folder's contents
  std::string destination;  // a folder in a mounted vault (a path under a mountpoint, or vault:/PATH)
  std::string mount;        // --mount, for vault:/PATH when several vaults are mounted
  bool quiet = false;       // no summary (errors and the wipe reminder only)
  bool dry_run = false;     // list what would be done, write nothing
  bool no_progress = false; // no progress bar even on a terminal
};
// Copies `source` into the vault through the mount, as the caller. Throws
// CliError with kIncomplete when something was skipped or failed (after
// printing the summary), kIntegrity when a written file did not verify.
void RunImport(const ImportOptions& opts);
// mount.strongroom (tools/mount_helper.h): mounts in the background, or
// does nothing when the vault is already mounted there (so that `mount -a`
// may run twice).
struct MountHelperCall;
void RunMountHelper(const MountHelperCall& call);

}  // namespace strongroom::tools
