// Vault paths from the command line: which mounted vault a command acts on
// and which path inside it a PATH argument names. Resolution is lexical (no
// stat through the mount: the caller may not be allowed to see the path,
// and the CLI must not reveal more than the filesystem does). The functions
// take the mount list and the working directory as parameters; they throw
// CliError (kUsage or kNotMounted) with a one-line message.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "tools/mounts.h"

namespace strongroom::tools {

inline constexpr std::string_view kVaultPrefix = "vault:";

struct VaultTarget {
  std::string mountpoint;  // as in mountinfo
  std::string vault_path;  // absolute inside the vault, "/" for its root
};

// `arg` made absolute against `cwd` and normalised lexically (no ".", "..",
// repeated or trailing slashes). Throws kUsage for an empty argument, a NUL
// byte, or a relative one when `cwd` is empty (unknown).
std::string AbsoluteLexical(std::string_view arg, std::string_view cwd);

// Normalises the part after "vault:": it must start with "/"; "." is
// dropped, ".." goes up but never above the root, and a trailing slash is
// allowed; empty components in the middle ("a//b") are refused.
std::string NormalizeVaultPath(std::string_view path);

// The mountpoint of the vault a command acts on. `mount_option` (--mount,
// empty when not given) must name a mounted vault, made absolute against
// `cwd`; without it there must be exactly one vault mounted. `entries` is
// every mountinfo entry.
std::string ChooseMount(const std::vector<MountEntry>& entries, std::string_view mount_option, std::string_view cwd);

// Resolves a PATH argument: "vault:/a/b" inside the chosen vault, or a
// filesystem path lying under a vault's mountpoint (the innermost mount
// containing it must be a vault). With --mount, the path must be inside that
// vault.
VaultTarget ResolveVaultPath(std::string_view arg, std::string_view mount_option,
                             const std::vector<MountEntry>& entries, std::string_view cwd);

// The process's working directory, or "" when it cannot be determined.
std::string CurrentDirectory();

// --mount as given, or its canonical form when the literal path is not a
// vault's mountpoint but the canonical one is (a symlink to a mountpoint).
std::string CanonicalMountOption(const std::vector<MountEntry>& entries, const std::string& mount_option,
                                 std::string_view cwd);

}  // namespace strongroom::tools
