// A full disk: the vault's backing directory (tree, store and all) on a small
// tmpfs. Writes that do not fit fail with ENOSPC, never EIO; what was
// acknowledged before reads back intact; freeing space makes writes work again.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <random>
#include <string>

#include "mount_fixture.h"

using namespace strongroom::test;

namespace {

// Unmounts the small filesystem however the test ends.
class TmpfsGuard {
 public:
  explicit TmpfsGuard(std::string path) : path_(std::move(path)) {}
  ~TmpfsGuard() {
    if (mounted) umount2(path_.c_str(), MNT_DETACH);
  }
  bool mounted = false;

 private:
  std::string path_;
};

}  // namespace

TEST_CASE("a full disk gives ENOSPC, keeps acknowledged data and recovers when space is freed", "[enospc]") {
  // The audit log lives on another volume here: this test is about the
  // vault's disk (a full audit disk refuses changes with EIO: audit_test).
  MountedVault::Options options{false, false, 12};
  options.audit_db = "/var/tmp/strongroom-enospc-audit-" + std::to_string(getpid()) + ".db";
  for (const char* suffix : {"", "-wal", "-shm"}) unlink((options.audit_db + suffix).c_str());
  struct RemoveAudit {
    std::string path;
    ~RemoveAudit() {
      for (const char* suffix : {"", "-wal", "-shm"}) unlink((path + suffix).c_str());
    }
  } remove_audit{options.audit_db};
  MountedVault v(options);
  REQUIRE(mkdir(v.vault().c_str(), 0700) == 0);
  TmpfsGuard guard(v.vault());
  REQUIRE(mount("tmpfs", v.vault().c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=3m,mode=0700") == 0);
  guard.mounted = true;
  v.Init();
  v.Mount();

  std::mt19937_64 rng(7);
  const std::string keep = RandomBytes(100 * 1024, rng);
  {
    int fd = open(v.Path("keep").c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(PWriteAll(fd, keep, 0) == 0);
    REQUIRE(fsync(fd) == 0);
    REQUIRE(close(fd) == 0);
  }

  // Fill the disk through one file, 64 KiB at a time.
  const std::string chunk = RandomBytes(64 * 1024, rng);
  int fd = open(v.Path("fill").c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
  REQUIRE(fd >= 0);
  off_t written = 0;
  int err = 0;
  for (int i = 0; i < 200; ++i) {
    const ssize_t n = pwrite(fd, chunk.data(), chunk.size(), written);
    if (n < 0) {
      err = errno;
      break;
    }
    written += n;
    if (static_cast<size_t>(n) < chunk.size()) continue;
  }
  INFO("filled " << written << " bytes before the error");
  CHECK(err == ENOSPC);
  CHECK(close(fd) == 0);

  // Everything acknowledged reads back: the kept file, and the filled one up
  // to the size it reports, with no EIO anywhere.
  ReadResult k = ReadFile(v.Path("keep"));
  CHECK(k.err == 0);
  CHECK(k.data == keep);
  ReadResult f = ReadFile(v.Path("fill"));
  CHECK(f.err == 0);
  REQUIRE(f.data.size() >= static_cast<size_t>(written));
  for (size_t off = 0; off + chunk.size() <= static_cast<size_t>(written); off += chunk.size()) {
    CHECK(f.data.compare(off, chunk.size(), chunk) == 0);
  }

  // New files fail cleanly while the disk is full (ENOSPC, not EIO)...
  const int full_err = WriteFile(v.Path("more"), chunk);
  CHECK((full_err == 0 || full_err == ENOSPC));

  // ...and work again once space is freed. A deleted file's space comes
  // back when the kernel forgets its inode (the daemon keeps it until then,
  // so an open racing with the unlink still reads it), normally at once.
  REQUIRE(unlink(v.Path("fill").c_str()) == 0);
  if (full_err != 0) unlink(v.Path("more").c_str());
  int after_err = -1;
  for (int attempt = 0; attempt < 40 && after_err != 0; ++attempt) {
    after_err = WriteFile(v.Path("after"), chunk);
    if (after_err != 0) usleep(50 * 1000);
  }
  CHECK(after_err == 0);
  CHECK(ReadFile(v.Path("after")).data == chunk);
  CHECK(ReadFile(v.Path("keep")).data == keep);

  v.Unmount();
  // Remount: the store and tree are consistent after the full disk.
  v.Mount();
  CHECK(ReadFile(v.Path("keep")).data == keep);
  CHECK(ReadFile(v.Path("after")).data == chunk);
  INFO("daemon log:\n" << v.DaemonLog());
  CHECK(v.DaemonLog().find("integrity failure") == std::string::npos);
  v.Unmount();
  REQUIRE(umount2(v.vault().c_str(), 0) == 0);
  guard.mounted = false;
}
