#include "tools/mount_helper.h"

#include <catch2/catch.hpp>

#include "tests/unit/tools/cli_test_util.h"

namespace strongroom::tools {
namespace {

using testing::OutcomeOf;

TEST_CASE("mount helper: what mount(8) passes for an fstab line", "[tools][mount-helper]") {
  const MountHelperCall call = ParseMountHelperArgs(
      {"/srv/vault", "/srv/confidential", "-o",
       "rw,passfile=/etc/strongroom/main.pass,nofail,_netdev,x-systemd.requires-mounts-for=/srv,noatime,"
       "log_level=debug,log_file=/var/log/sr.log,posix_permissions,defaults,comment=x,noauto"});
  CHECK(call.mount.vault == "/srv/vault");
  CHECK(call.mount.mountpoint == "/srv/confidential");
  CHECK(call.mount.passfile == "/etc/strongroom/main.pass");
  CHECK(call.mount.log_level == "debug");
  CHECK(call.mount.log_file == "/var/log/sr.log");
  CHECK(call.mount.posix_permissions);
  CHECK_FALSE(call.mount.foreground);
  CHECK(call.mount.fuse_options == std::vector<std::string>{"rw", "noatime"});
  CHECK_FALSE(call.fake);
}

TEST_CASE("mount helper: flags, -oOPTS, -t and the credential", "[tools][mount-helper]") {
  const MountHelperCall call =
      ParseMountHelperArgs({"-sv", "v", "m", "-ocredential=sr-pass", "-t", "strongroom", "-n", "-o", "ro"});
  CHECK(call.verbose);
  CHECK_FALSE(call.fake);
  CHECK(call.mount.credential == "sr-pass");
  CHECK(call.mount.fuse_options == std::vector<std::string>{"ro"});
  CHECK(ParseMountHelperArgs({"v", "m", "-f"}).fake);
  CHECK(ParseMountHelperArgs({"v", "m"}).mount.log_level == "info");
}

TEST_CASE("mount helper: malformed calls are usage errors", "[tools][mount-helper]") {
  for (const std::vector<std::string>& bad : std::vector<std::vector<std::string>>{
           {},
           {"v"},
           {"v", "m", "x"},
           {"v", "m", "-o"},
           {"v", "m", "-x"},
           {"v", "m", "-N", "/proc/1/ns/mnt"},
           {"v", "m", "-o", "passfile"},
           {"v", "m", "-o", "passfile="},
           {"v", "m", "-o", "posix_permissions=1"},
       }) {
    CAPTURE(bad);
    CHECK(OutcomeOf([&] { ParseMountHelperArgs(bad); }).code == kUsage);
  }
}

}  // namespace
}  // namespace strongroom::tools
