// strongroom backup on real vaults, mounted (with a writer running) and not,
// and restores from the copies: back up, change and delete, restore, compare.
#include <signal.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "integration_assert.h"
#include "mount_fixture.h"

namespace strongroom::test {
namespace {

using namespace std::chrono_literals;

using namespace exit_code;

// Plaintext view of a mounted tree: relative path -> content ("->target"
// for symlinks, "<dir>" for folders).
std::map<std::string, std::string> PlainView(const std::string& root, const std::string& rel = "") {
  std::map<std::string, std::string> out;
  const std::string dir = rel.empty() ? root : root + "/" + rel;
  auto entries = ListDir(dir);
  REQUIRE(entries.has_value());
  for (const auto& name : Names(*entries)) {
    const std::string r = rel.empty() ? name : rel + "/" + name;
    struct stat st {};
    REQUIRE(lstat((root + "/" + r).c_str(), &st) == 0);
    if (S_ISDIR(st.st_mode)) {
      out[r] = "<dir>";
      for (auto& [k, v] : PlainView(root, r)) out[k] = v;
    } else if (S_ISLNK(st.st_mode)) {
      char buf[4096];
      const ssize_t n = readlink((root + "/" + r).c_str(), buf, sizeof buf);
      REQUIRE(n >= 0);
      out[r] = "->" + std::string(buf, static_cast<size_t>(n));
    } else {
      out[r] = ReadOrDie(root + "/" + r);
    }
  }
  return out;
}

// Moves the vault aside and puts the backup in its place (docs/backup.md).
void Restore(const MountedVault& v, const std::string& backup) {
  const std::string aside = v.root() + "/vault.before-restore";
  REQUIRE(rename(v.vault().c_str(), aside.c_str()) == 0);
  CommandResult r = RunCommand({"/bin/cp", "-a", backup, v.vault()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
}

TEST_CASE("backup of a mounted vault while a file is being written, then changes undone by a restore",
          "[backup]") {
  MountedVault v;
  WriteOrDie(v.Path("contract.txt"), "signed version");
  REQUIRE_SYS(mkdir(v.Path("clients").c_str(), 0755));
  WriteOrDie(v.Path("clients/acme.xlsx"), std::string(300000, 'a'));
  REQUIRE_SYS(symlink("contract.txt", v.Path("latest").c_str()));
  const auto before = PlainView(v.mnt());

  // A writer appends to its own file during the backup.
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    const int fd = open(v.Path("busy.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return;
    const std::string line(4096, 'w');
    while (!stop.load()) {
      if (write(fd, line.data(), line.size()) < 0) break;
    }
    close(fd);
  });
  std::this_thread::sleep_for(100ms);
  const std::string dest = v.root() + "/backup-1";
  CommandResult r = RunStrongroom({"backup", v.vault(), dest}, 120s);
  stop = true;
  writer.join();
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == kOk);
  CHECK(r.out.find("paused") != std::string::npos);
  struct stat st {};
  REQUIRE(stat(dest.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);

  // After the backup: an edit, a delete, a new file.
  WriteOrDie(v.Path("contract.txt"), "tampered version");
  REQUIRE_SYS(unlink(v.Path("clients/acme.xlsx").c_str()));
  WriteOrDie(v.Path("after.txt"), "made after the backup");
  v.Unmount();

  Restore(v, dest);
  // The restored copy checks clean: no block of the file being written is
  // torn, no row lacks its file.
  r = RunStrongroom({"fsck", v.vault(), "--passfile", v.passfile()}, 120s);
  INFO(r.out << r.err);
  CHECK(r.exit_code == kOk);
  r = RunStrongroom({"audit", "verify", v.vault(), "--key", v.audit_key()});
  INFO(r.out << r.err);
  CHECK(r.exit_code == kOk);

  v.Mount();
  auto after = PlainView(v.mnt());
  CHECK(after.count("busy.log") == 1);  // as far as it had got
  after.erase("busy.log");
  CHECK(after == before);
  CHECK(ReadOrDie(v.Path("contract.txt")) == "signed version");
  CHECK(access(v.Path("after.txt").c_str(), F_OK) != 0);
  // The backup itself is in the restored audit log.
  r = RunStrongroomAs(MountedVault::Admin(), {"audit", "--op", "backup", "--mount", v.mnt()});
  INFO(r.out << r.err);
  CHECK(r.out.find("backup") != std::string::npos);
}

TEST_CASE("backup of an unmounted vault, and refusals that leave nothing behind", "[backup]") {
  MountedVault v;
  WriteOrDie(v.Path("f"), "content");
  REQUIRE_SYS(mkdir(v.Path("d").c_str(), 0755));
  WriteOrDie(v.Path("d/g"), "more");
  v.Unmount();
  const auto tree_before = SnapshotTree(v.tree());

  const std::string dest = v.root() + "/backup-2";
  CommandResult r = RunStrongroom({"backup", v.vault(), dest});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == kOk);
  CHECK(SnapshotTree(dest + "/tree") == tree_before);
  CHECK(ReadOrDie(dest + "/strongroom.conf") == ReadOrDie(v.vault() + "/strongroom.conf"));

  // An existing destination, one inside the vault, and a non-root caller.
  r = RunStrongroom({"backup", v.vault(), dest});
  CHECK(r.exit_code == kConflict);
  r = RunStrongroom({"backup", v.vault(), v.vault() + "/inside"});
  CHECK(r.exit_code == kUsage);
  CHECK(access((v.vault() + "/inside").c_str(), F_OK) != 0);
  r = RunStrongroomAs(MountedVault::Admin(), {"backup", v.vault(), v.root() + "/by-admin"});
  CHECK(r.exit_code == kRefused);
  CHECK(access((v.root() + "/by-admin").c_str(), F_OK) != 0);

  // Changes after it; the restore brings back the state of the backup.
  v.Mount();
  REQUIRE_SYS(unlink(v.Path("d/g").c_str()));
  WriteOrDie(v.Path("f"), "changed");
  v.Unmount();
  Restore(v, dest);
  v.Mount();
  CHECK(ReadOrDie(v.Path("f")) == "content");
  CHECK(ReadOrDie(v.Path("d/g")) == "more");
}

}  // namespace
}  // namespace strongroom::test
