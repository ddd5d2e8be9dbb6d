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
  mount_cmd
      ->add_option("--credential", mount.credential,
                   "Read the passphrase from the systemd credential NAME ($CREDENTIALS_DIRECTORY/NAME; "
                   "default: strongroom-passphrase when it exists)")
      ->type_name("NAME")
      ->excludes(mount_passfile);
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

  std::string umount_point;
  auto* umount_cmd = app.add_subcommand("umount", "Unmount a mounted vault");
  umount_cmd->add_option("MOUNTPOINT", umount_point, "The mountpoint")->required();

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
