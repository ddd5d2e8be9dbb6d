// strongroom: the command line. One composition root per subcommand.
#include <sys/prctl.h>

#include <CLI/CLI.hpp>
#include <cstring>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "tools/audit_cli.h"
#include "tools/cli_error.h"
#include "tools/commands.h"
#include "tools/crash_report.h"
#include "tools/mount_helper.h"
#include "tools/policy_cli.h"

namespace {

// Called as mount.strongroom (by mount(8), for an fstab line of type
// strongroom): errors are prefixed with that name, as mount(8) shows them.
int MountHelperMain(int argc, char** argv) {
  using namespace strongroom::tools;
  try {
    RunMountHelper(ParseMountHelperArgs(std::vector<std::string>(argv + 1, argv + argc)));
  } catch (const CliError& e) {
    std::cerr << kMountHelperName << ": " << e.what() << "\n";
    return e.code();
  } catch (const std::exception& e) {
    std::cerr << kMountHelperName << ": internal error: " << e.what() << "\n";
    return kInternal;
  }
  return kOk;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace strongroom::tools;
  // Every subcommand may hold a passphrase or keys: no core dumps, no ptrace
  // by the same user.
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  InstallCrashReport();
  if (argc > 0) {
    const char* slash = std::strrchr(argv[0], '/');
    if (std::string_view(slash != nullptr ? slash + 1 : argv[0]) == kMountHelperName) {
      return MountHelperMain(argc, argv);
    }
  }
  CLI::App app{"Strongroom: an encrypted, policy-enforcing filesystem for confidential documents"};
  app.require_subcommand(1);

  InitOptions init;
  auto* init_cmd = app.add_subcommand("init", "Create a new vault");
  init_cmd->add_option("VAULT", init.vault, "Vault directory (missing or empty)")->required();
  init_cmd->add_option("--passfile", init.passfile, "Read the passphrase from the first line of FILE");
  init_cmd->add_option("--scrypt-logn", init.scrypt_log_n, "scrypt cost as log2(N), 10..20")->capture_default_str();
  init_cmd->add_option("--admin", init.admin, "User name of the vault's first admin");
  init_cmd->add_option("--audit-key-out", init.audit_key_out,
                       "Also write the auditors' initial audit key to FILE (created, mode 0600)");
  init_cmd->add_option("--audit-db", init.audit_db, "Put the audit database at PATH (e.g. another volume)");
  init_cmd->add_option("--viewer-group", init.viewer_group,
                       "The group viewer programs are setgid to (default strongroom-viewers; created if missing)")
      ->type_name("NAME");
  init_cmd->add_option("--uid", init.admin_uid, "The first admin's uid (default: the user running sudo, else you)")
      ->check(CLI::NonNegativeNumber);

  PasswdOptions passwd;
  auto* passwd_cmd = app.add_subcommand("passwd", "Change the vault's passphrase");
  passwd_cmd->add_option("VAULT", passwd.vault, "Vault directory")->required();
  passwd_cmd->add_option("--passfile", passwd.passfile, "Current passphrase from FILE");
  passwd_cmd->add_option("--new-passfile", passwd.new_passfile, "New passphrase from FILE");

  MountOptions mount;
  auto* mount_cmd = app.add_subcommand("mount", "Unlock a vault and mount it");
  mount_cmd->add_option("VAULT", mount.vault, "Vault directory")->required();
  mount_cmd->add_option("MOUNTPOINT", mount.mountpoint, "Where to mount it")->required();
  auto* mount_passfile =
      mount_cmd->add_option("--passfile", mount.passfile, "Read the passphrase from the first line of FILE");
  auto* mount_key_file =
      mount_cmd->add_option("--key-file", mount.key_file, "Unlock with a key file (see keyslot add --new-key-file)")
          ->excludes(mount_passfile);
  mount_cmd
      ->add_option("--credential", mount.credential,
                   "Read the passphrase from the systemd credential NAME ($CREDENTIALS_DIRECTORY/NAME; "
                   "default: strongroom-passphrase when it exists)")
      ->type_name("NAME")
      ->excludes(mount_passfile)
      ->excludes(mount_key_file);
  mount_cmd->add_flag("-f,--foreground", mount.foreground, "Stay in the foreground");
  mount_cmd->add_option("--log-file", mount.log_file, "Also log to FILE (rotated at 10 MiB, 5 files kept)")
      ->envname("STRONGROOM_LOG_FILE")
      ->type_name("FILE");
  mount_cmd->add_option("--log-level", mount.log_level, "trace, debug, info, warn or error")
      ->envname("STRONGROOM_LOG_LEVEL")
      ->type_name("LEVEL")
      ->capture_default_str();
  mount_cmd->add_flag("--posix-permissions", mount.posix_permissions,
                      "Check Unix mode bits and ownership as well as grants (both must allow)");
  mount_cmd->add_option("--unsafe-entry-timeout", mount.entry_timeout,
                        "Benchmarks only: seconds the kernel may cache names (hides nothing from other users)")
      ->group("");
  mount_cmd->add_option("-o", mount.fuse_options, "Extra FUSE mount options")->take_all();

  KeyslotOptions keyslot;
  auto* keyslot_cmd = app.add_subcommand("keyslot", "Passphrases and key files that unlock a vault");
  keyslot_cmd->require_subcommand(1);
  auto add_unlock = [&keyslot](CLI::App* cmd) {
    cmd->add_option("VAULT", keyslot.vault, "Vault directory")->required();
    cmd->add_option("--passfile", keyslot.passfile, "Unlock with the passphrase in FILE (else asked)");
    cmd->add_option("--key-file", keyslot.key_file, "Unlock with this key file");
  };
  auto* keyslot_list = keyslot_cmd->add_subcommand("list", "List the key slots");
  keyslot_list->add_option("VAULT", keyslot.vault, "Vault directory")->required();
  keyslot_list->add_flag("--json", keyslot.json, "JSON output");
  auto* keyslot_add = keyslot_cmd->add_subcommand("add", "Add a passphrase or a new key file");
  add_unlock(keyslot_add);
  keyslot_add->add_option("--new-passfile", keyslot.new_passfile, "The new passphrase from FILE (else asked twice)");
  keyslot_add->add_option("--new-key-file", keyslot.new_key_file, "Create FILE, a new random key file, and add it");
  keyslot_add->add_option("--label", keyslot.label, "Whose or what it is, e.g. \"backup key in the safe\"");
  auto* keyslot_remove = keyslot_cmd->add_subcommand("remove", "Remove a key slot (never the last)");
  add_unlock(keyslot_remove);
  keyslot_remove->add_option("SLOT", keyslot.slot, "The slot's number (keyslot list)")->required();

  BackupOptions backup;
  auto* backup_cmd = app.add_subcommand(
      "backup", "Copy a vault (config, policy store, audit log, encrypted tree) consistently, mounted or not");
  backup_cmd->add_option("VAULT", backup.vault, "Vault directory")->required();
  backup_cmd->add_option("DEST", backup.dest, "A new directory for the copy (itself a vault)")->required();

  RekeyOptions rekey;
  auto* rekey_cmd = app.add_subcommand(
      "rekey", "Replace the master key and re-wrap every file key (unmounted vault; every slot's secret needed)");
  rekey_cmd->add_option("VAULT", rekey.vault, "Vault directory")->required();
  rekey_cmd->add_option("--passfile", rekey.passfiles, "A slot's passphrase from FILE (repeat for each slot)");
  rekey_cmd->add_option("--key-file", rekey.key_files, "A slot's key file (repeat for each)");

  std::string umount_point;
  auto* umount_cmd = app.add_subcommand("umount", "Unmount a mounted vault");
  umount_cmd->add_option("MOUNTPOINT", umount_point, "The mountpoint")->required();

  FsckOptions fsck;
  auto* fsck_cmd = app.add_subcommand(
      "fsck", "Check a vault: every block, key row and binding, orphaned rows, names, the audit log's structure");
  fsck_cmd->add_option("VAULT", fsck.target, "Vault directory, or the mountpoint of a mounted vault")->required();
  fsck_cmd->add_option("--passfile", fsck.passfile, "Read the passphrase from the first line of FILE (unmounted vault)");
  fsck_cmd->add_option("--key-file", fsck.key_file, "Unlock with a key file instead (unmounted vault)");
  fsck_cmd->add_flag("--json", fsck.json_output, "Print the report as JSON");
  fsck_cmd->add_flag("--repair-orphans", fsck.repair_orphans,
                     "Delete orphaned rows (and their keys) found in an unmounted vault");

  StatusOptions status;
  auto* status_cmd = app.add_subcommand("status", "List the mounted vaults, their users, open files and audit log");
  status_cmd->add_flag("--json", status.json_output, "Print the result as JSON");
  ImportOptions import;
  auto* import_cmd = app.add_subcommand(
      "import", "Copy a plaintext folder or file into a mounted vault (verified, resumable; the source is not wiped)");
  import_cmd->add_option("SRC", import.source,
                         "Folder or file to import; a folder goes in as VAULT_PATH/NAME, its contents only "
                         "with a trailing slash (SRC/)")
      ->required();
  import_cmd->add_option("VAULT_PATH", import.destination,
                         "Existing folder in a mounted vault (a path under the mountpoint, or vault:/PATH)")
      ->required();
  import_cmd->add_option("--mount", import.mount, "The vault's mountpoint, for vault:/PATH when several are mounted");
  import_cmd->add_flag("-q,--quiet", import.quiet, "No summary: only errors and the wipe reminder");
  import_cmd->add_flag("-n,--dry-run", import.dry_run, "List what would be copied and skipped; write nothing");
  import_cmd->add_flag("--no-progress", import.no_progress, "No progress bar, even on a terminal");

  // whoami, user, team, label, grant, revoke, access, request(s), approve, deny.
  PolicyCommands policy(&app);
  // audit verify.
  AuditCommands audit(&app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    std::cerr << "strongroom: " << e.what() << " (see --help)\n";
    return kUsage;
  }

  try {
    if (*init_cmd) RunInit(init);
    if (*passwd_cmd) RunPasswd(passwd);
    if (*mount_cmd) RunMount(mount);
    if (*umount_cmd) RunUmount(umount_point);
    if (*keyslot_list) RunKeyslotList(keyslot);
    if (*keyslot_add) RunKeyslotAdd(keyslot);
    if (*keyslot_remove) RunKeyslotRemove(keyslot);
    if (*rekey_cmd) RunRekey(rekey);
    if (*backup_cmd) RunBackup(backup);
    if (*fsck_cmd) RunFsck(fsck);
    if (*status_cmd) RunStatus(status);
    if (*import_cmd) RunImport(import);
    policy.Run();
    audit.Run();
  } catch (const CliError& e) {
    std::cerr << "strongroom: " << e.what() << "\n";
    return e.code();
  } catch (const std::exception& e) {
    std::cerr << "strongroom: internal error: " << e.what() << "\n";
    return kInternal;
  }
  return kOk;
}
