// Mounts: reads /proc/self/mountinfo and lists what is mounted where, the
// strongroom vaults (fstype fuse.strongroom) among them. Pure parsing is
// separate from reading the file so that it can be tested without a mount.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace strongroom::tools {

inline constexpr char kStrongroomFsType[] = "fuse.strongroom";
// A vault's mount names it as its source: this, then the vault directory.
inline constexpr char kSourcePrefix[] = "strongroom:";

// One line of mountinfo, with the octal escapes of its fields undone.
struct MountEntry {
  std::string mountpoint;
  std::string fstype;
  std::string source;
  std::string devno;  // major:minor
};

// Undoes the octal escapes (\040 for a space, \012 for a newline, \134 for a
// backslash, ...) of a mountinfo field. Anything else is kept as it is.
std::string UnescapeMountinfo(std::string_view field);

// Parses the text of a mountinfo file; malformed lines are skipped. Entries
// keep their order (later entries are mounted on top of earlier ones).
std::vector<MountEntry> ParseMountinfo(std::string_view text);

// The mounts that are visible: for each mountpoint the last (topmost) entry
// only, in the order of first appearance.
std::vector<MountEntry> VisibleMounts(const std::vector<MountEntry>& entries);

// The visible strongroom vaults among `entries`.
std::vector<MountEntry> StrongroomMounts(const std::vector<MountEntry>& entries);

// Every entry of /proc/self/mountinfo (empty when it cannot be read).
std::vector<MountEntry> ReadMountinfo();

// Where the vault in the directory `dir` is mounted (in this mount
// namespace), if it is.
std::optional<MountEntry> MountOfVault(const std::string& dir);

// The topmost entry mounted on `mountpoint`, if any.
std::optional<MountEntry> FindMount(const std::string& mountpoint);

}  // namespace strongroom::tools
