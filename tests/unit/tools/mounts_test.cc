#include "tools/mounts.h"

#include <catch2/catch.hpp>

namespace strongroom::tools {
namespace {

constexpr char kMountinfo[] =
    "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
    "40 22 0:35 / /mnt/my\\040vault\\012x\\134y rw,nosuid,nodev,relatime shared:7 master:2 - fuse.strongroom "
    "strongroom:/srv/v\\040a rw,user_id=0,group_id=0\n"
    "41 22 0:36 / /srv/plain rw - fuse.sshfs host:/x rw\n"
    "garbage line\n"
    "\n"
    "42 22 0:37 / /srv/plain rw - fuse.strongroom strongroom:/srv/w rw\n"
    "43 22 0:38 / /mnt/over rw - fuse.strongroom strongroom:/srv/o rw\n"
    "44 43 0:39 / /mnt/over rw - tmpfs tmpfs rw\n";

TEST_CASE("mountinfo: octal escapes are undone", "[tools][mounts]") {
  CHECK(UnescapeMountinfo("a\\040b") == "a b");
  CHECK(UnescapeMountinfo("\\011\\012\\134") == "\t\n\\");
  CHECK(UnescapeMountinfo("\\303\\251") == "\xc3\xa9");
  // Not an escape: kept as it is.
  CHECK(UnescapeMountinfo("a\\04") == "a\\04");
  CHECK(UnescapeMountinfo("a\\9xx") == "a\\9xx");
  CHECK(UnescapeMountinfo("a\\") == "a\\");
  CHECK(UnescapeMountinfo("\\400") == "\\400");
}

TEST_CASE("mountinfo: entries with escaped mountpoints and optional fields", "[tools][mounts]") {
  const std::vector<MountEntry> entries = ParseMountinfo(kMountinfo);
  REQUIRE(entries.size() == 6);
  CHECK(entries[0].mountpoint == "/");
  CHECK(entries[0].fstype == "ext4");
  CHECK(entries[1].mountpoint == "/mnt/my vault\nx\\y");
  CHECK(entries[1].fstype == "fuse.strongroom");
  CHECK(entries[1].source == "strongroom:/srv/v a");
  CHECK(entries[1].devno == "0:35");
  CHECK(entries[2].fstype == "fuse.sshfs");
}

TEST_CASE("mountinfo: the topmost mount on a mountpoint is the one that counts", "[tools][mounts]") {
  const std::vector<MountEntry> entries = ParseMountinfo(kMountinfo);
  const std::vector<MountEntry> visible = VisibleMounts(entries);
  REQUIRE(visible.size() == 4);
  CHECK(visible[2].mountpoint == "/srv/plain");
  CHECK(visible[2].fstype == "fuse.strongroom");
  CHECK(visible[3].fstype == "tmpfs");

  const std::vector<MountEntry> vaults = StrongroomMounts(entries);
  REQUIRE(vaults.size() == 2);
  CHECK(vaults[0].mountpoint == "/mnt/my vault\nx\\y");
  CHECK(vaults[1].mountpoint == "/srv/plain");
}

TEST_CASE("mountinfo: this process's table parses", "[tools][mounts]") {
  const std::vector<MountEntry> entries = ReadMountinfo();
  REQUIRE_FALSE(entries.empty());
  bool root = false;
  for (const MountEntry& e : entries) root = root || e.mountpoint == "/";
  CHECK(root);
}

}  // namespace
}  // namespace strongroom::tools
