#include "tools/vault_path.h"

#include <catch2/catch.hpp>

#include "tests/unit/tools/cli_test_util.h"

namespace strongroom::tools {
namespace {

using testing::OutcomeOf;

MountEntry Mount(std::string mountpoint, std::string fstype) {
  MountEntry e;
  e.mountpoint = std::move(mountpoint);
  e.fstype = std::move(fstype);
  return e;
}

const std::vector<MountEntry> kOneVault = {
    Mount("/", "ext4"),
    Mount("/mnt/vault", "fuse.strongroom"),
    Mount("/mnt/vault/inner", "nfs"),
    Mount("/mnt/vaultx", "ext4"),
};

const std::vector<MountEntry> kTwoVaults = {
    Mount("/", "ext4"),
    Mount("/mnt/vault", "fuse.strongroom"),
    Mount("/srv/other vault", "fuse.strongroom"),
};

std::string VaultPathOf(const std::string& arg, const std::string& cwd = "/home/alice",
                        const std::vector<MountEntry>& mounts = kOneVault) {
  const VaultTarget t = ResolveVaultPath(arg, "", mounts, cwd);
  return t.vault_path;
}

TEST_CASE("vault path: filesystem paths under the mountpoint", "[tools][vault_path]") {
  CHECK(VaultPathOf("/mnt/vault") == "/");
  CHECK(VaultPathOf("/mnt/vault/") == "/");
  CHECK(VaultPathOf("/mnt/vault/clients/acme") == "/clients/acme");
  CHECK(VaultPathOf("/mnt/vault/clients/acme/") == "/clients/acme");
  CHECK(VaultPathOf("//mnt//vault//clients///acme") == "/clients/acme");
  CHECK(VaultPathOf("/mnt/vault/./clients/./acme/.") == "/clients/acme");
  CHECK(VaultPathOf("/mnt/vault/clients/../hr") == "/hr");
  CHECK(VaultPathOf("/mnt/other/../vault/hr") == "/hr");
  CHECK(VaultPathOf("acme", "/mnt/vault/clients") == "/clients/acme");
  CHECK(VaultPathOf(".", "/mnt/vault/clients") == "/clients");
  CHECK(VaultPathOf("..", "/mnt/vault/clients") == "/");
  CHECK(VaultPathOf("../hr/./x/", "/mnt/vault/clients") == "/hr/x");
  CHECK(VaultPathOf("vault/a", "/mnt") == "/a");
  CHECK(ResolveVaultPath("/mnt/vault/a", "", kOneVault, "/").mountpoint == "/mnt/vault");
}

TEST_CASE("vault path: paths outside every vault are usage errors", "[tools][vault_path]") {
  for (const char* arg : {"/mnt", "/mnt/vaultx/a", "/mnt/vault/..", "/mnt/vault/inner/a", "/mnt/vault/inner"}) {
    const auto out = OutcomeOf([&] { VaultPathOf(arg); });
    CHECK(out.code == kUsage);
    CHECK(out.message.find("is not inside a mounted vault") != std::string::npos);
  }
  CHECK(OutcomeOf([] { VaultPathOf("../../x", "/mnt/vault/a"); }).code == kUsage);
  CHECK(OutcomeOf([] { VaultPathOf("x", "/home/alice"); }).code == kUsage);
  // The inner mount's own siblings are still in the vault.
  CHECK(VaultPathOf("/mnt/vault/innerx") == "/innerx");
}

TEST_CASE("vault path: vault: names a path explicitly", "[tools][vault_path]") {
  CHECK(VaultPathOf("vault:/") == "/");
  CHECK(VaultPathOf("vault:/clients/acme") == "/clients/acme");
  CHECK(VaultPathOf("vault:/clients/acme/") == "/clients/acme");
  CHECK(VaultPathOf("vault:/a/./b/../c") == "/a/c");
  CHECK(VaultPathOf("vault:/a/..") == "/");
  CHECK(ResolveVaultPath("vault:/x", "", kOneVault, "").mountpoint == "/mnt/vault");

  for (const char* arg : {"vault:", "vault:clients", "vault:/..", "vault:/a/../..", "vault:/a//b", "vault://",
                          "vault://a", "vault:/a//"}) {
    INFO(arg);
    CHECK(OutcomeOf([&] { VaultPathOf(arg); }).code == kUsage);
  }
  CHECK(OutcomeOf([] { VaultPathOf("vault:/../x"); }).message.find("climbs above") != std::string::npos);
  // A file literally named "vault:x" is reached as ./vault:x.
  CHECK(VaultPathOf("./vault:x", "/mnt/vault") == "/vault:x");
}

TEST_CASE("vault path: hostile names are kept byte for byte", "[tools][vault_path]") {
  const std::string name = "it's \"q\" \\ \n\t\x1b[31mred\x7f \xc3\xa9 $(x) ; `y` *";
  CHECK(VaultPathOf("/mnt/vault/" + name) == "/" + name);
  CHECK(VaultPathOf("vault:/" + name + "/..." + "/ ..") == "/" + name + "/.../ ..");
  CHECK(VaultPathOf(name, "/mnt/vault/d") == "/d/" + name);
  CHECK(VaultPathOf("-rf", "/mnt/vault") == "/-rf");

  // Bytes JSON cannot carry, NUL and empty arguments are refused.
  CHECK(OutcomeOf([] { VaultPathOf("/mnt/vault/\xff"); }).code == kUsage);
  CHECK(OutcomeOf([] { VaultPathOf("vault:/\xc0\xaf"); }).code == kUsage);
  CHECK(OutcomeOf([] { VaultPathOf(std::string("/mnt/vault/a\0b", 14)); }).code == kUsage);
  CHECK(OutcomeOf([] { VaultPathOf(std::string("vault:/a\0b", 10)); }).code == kUsage);
  CHECK(OutcomeOf([] { VaultPathOf(""); }).code == kUsage);
  // Error messages escape what they echo.
  const auto out = OutcomeOf([] { VaultPathOf("/elsewhere/\x1b[2J"); });
  CHECK(out.message.find('\x1b') == std::string::npos);
  CHECK(out.message.find("\\x1b[2J") != std::string::npos);
}

TEST_CASE("vault path: a relative path needs the working directory", "[tools][vault_path]") {
  CHECK(OutcomeOf([] { VaultPathOf("a", ""); }).code == kUsage);
  CHECK(VaultPathOf("/mnt/vault/a", "") == "/a");
}

TEST_CASE("vault path: choosing the vault", "[tools][vault_path]") {
  CHECK(ChooseMount(kOneVault, "", "/") == "/mnt/vault");
  CHECK(ChooseMount(kOneVault, "/mnt/vault/", "/") == "/mnt/vault");
  CHECK(ChooseMount(kOneVault, "vault", "/mnt") == "/mnt/vault");
  CHECK(OutcomeOf([] { ChooseMount(kOneVault, "/mnt", "/"); }).code == kNotMounted);

  const auto several = OutcomeOf([] { ChooseMount(kTwoVaults, "", "/"); });
  CHECK(several.code == kUsage);
  CHECK(several.message.find("/mnt/vault") != std::string::npos);
  CHECK(several.message.find("/srv/other vault") != std::string::npos);
  CHECK(several.message.find("--mount") != std::string::npos);
  CHECK(ChooseMount(kTwoVaults, "/srv/other vault", "/") == "/srv/other vault");

  const auto none = OutcomeOf([] { ChooseMount({Mount("/", "ext4")}, "", "/"); });
  CHECK(none.code == kNotMounted);
  CHECK(none.message == "no strongroom vault is mounted");
  CHECK(OutcomeOf([] { ResolveVaultPath("/mnt/vault/a", "", {Mount("/", "ext4")}, "/"); }).code == kNotMounted);
}

TEST_CASE("vault path: a path picks its vault among several", "[tools][vault_path]") {
  const VaultTarget t = ResolveVaultPath("/srv/other vault/x", "", kTwoVaults, "/");
  CHECK(t.mountpoint == "/srv/other vault");
  CHECK(t.vault_path == "/x");
  CHECK(ResolveVaultPath("/srv/other vault/x", "/srv/other vault", kTwoVaults, "/").vault_path == "/x");
  CHECK(OutcomeOf([] { ResolveVaultPath("/srv/other vault/x", "/mnt/vault", kTwoVaults, "/"); }).code == kUsage);
  CHECK(OutcomeOf([] { ResolveVaultPath("vault:/x", "", kTwoVaults, "/"); }).code == kUsage);
  CHECK(ResolveVaultPath("vault:/x", "/mnt/vault", kTwoVaults, "/").mountpoint == "/mnt/vault");
}

TEST_CASE("vault path: a vault mounted on / or with an odd mountpoint", "[tools][vault_path]") {
  const std::vector<MountEntry> root = {Mount("/", "fuse.strongroom")};
  CHECK(ResolveVaultPath("/a/b", "", root, "/").vault_path == "/a/b");
  CHECK(ResolveVaultPath("/", "", root, "/").vault_path == "/");
  const std::vector<MountEntry> odd = {Mount("/", "ext4"), Mount("/mnt/a\nb\\c", "fuse.strongroom")};
  CHECK(ResolveVaultPath("/mnt/a\nb\\c/d", "", odd, "/").vault_path == "/d");
}

}  // namespace
}  // namespace strongroom::tools
