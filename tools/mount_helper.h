// mount.strongroom: the helper mount(8) runs for an /etc/fstab line of type
// `strongroom`, as
//   mount.strongroom VAULT MOUNTPOINT [-sfnv] [-N NAMESPACE] [-o OPTIONS] [-t TYPE]
// The same binary as `strongroom`, recognised by the name it is called by
// (a symlink). It mounts in the background like `strongroom mount` and
// returns once the mount is ready. The parsing is kept apart from the
// mounting so that it can be tested without a mount.
#pragma once

#include <string>
#include <vector>

#include "tools/commands.h"

namespace strongroom::tools {

inline constexpr char kMountHelperName[] = "mount.strongroom";

struct MountHelperCall {
  MountOptions mount;  // foreground is false
  bool fake = false;   // -f: mount(8)'s "do everything but the mount"
  bool verbose = false;
};

// Parses the arguments after argv[0]. Options of -o:
//   passfile=FILE, credential=NAME, log_file=PATH, log_level=LEVEL,
//   posix_permissions                                   -> strongroom's own;
//   defaults, auto, noauto, user, nouser, users, owner, group, _netdev,
//   nofail, comment=..., x-... (x-systemd.* among them) -> mount(8)'s and
//                                     systemd's business, ignored here;
//   anything else (ro, rw, nosuid, nodev, noexec, noatime, ...) is passed to
//   FUSE as a mount option.
// Fails with kUsage (a CliError) on a malformed call.
MountHelperCall ParseMountHelperArgs(const std::vector<std::string>& args);

}  // namespace strongroom::tools
