// What `strongroom viewer add` checks before a program joins the allow-list
// (docs/threat-model.md §7c), and the vault's viewer group. The daemon runs
// these as root for an admin's command; `init --viewer-group` uses
// ResolveViewerGroup too.
#pragma once

#include <string>

#include "acl/policy.h"
#include "crypto/status.h"

namespace strongroom::fs {

inline constexpr char kDefaultViewerGroup[] = "strongroom-viewers";

// A system group name: 1 to 32 of [A-Za-z0-9_.-], not starting with '-'.
bool ValidGroupName(const std::string& name);

// The group named `name`; when it does not exist and `create`, it is made
// with `groupadd --system NAME` (root only). kNotFound when it does not
// exist (and is not made), kDenied when creating it failed.
Result<acl::ViewerGroup> ResolveViewerGroup(const std::string& name, bool create);

struct ViewerProgram {
  std::string path;  // canonical: symlinks resolved
  acl::Sha256Digest sha256{};
};

// Checks that the program at `path` (absolute) may be allow-listed for
// `group`: a regular ELF executable (not a script), owned by root, setgid
// to the group, not setuid, writable by nobody but root, on a filesystem
// not mounted nosuid, in a directory only root can write (every directory
// above it owned by root and not writable by others, or root's sticky
// directories such as /tmp); and not a shell, a general-purpose
// interpreter, a copying or editing tool or a file server (by name, or by
// content when it is a renamed copy of one found in the system's bin
// directories). kNotFound when there is no such file; kDenied with every
// change needed, on one line, otherwise.
Result<ViewerProgram> InspectViewerProgram(const std::string& path, const acl::ViewerGroup& group);

}  // namespace strongroom::fs
