// `strongroom fsck` and `strongroom status` on real vaults: a clean vault,
// a tampered block, an orphaned key row, a wrong passphrase, a mounted vault
// checked through its daemon while a file is being written, and status with
// a file held open.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstring>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "integration_assert.h"
#include "mount_fixture.h"

namespace strongroom::test {
namespace {

using nlohmann::json;


// The file ID in a backing file's header, as hex.
std::string FileIdHex(const std::string& backing) {
  const ReadResult r = ReadFile(backing);
  REQUIRE(r.err == 0);
  REQUIRE(r.data.size() >= 20);
  static const char kHex[] = "0123456789abcdef";
  std::string hex;
  for (size_t i = 4; i < 20; ++i) {
    const auto b = static_cast<unsigned char>(r.data[i]);
    hex += kHex[b >> 4];
    hex += kHex[b & 15];
  }
  return hex;
}

CommandResult Fsck(const MountedVault& v, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"fsck", v.vault(), "--passfile", v.passfile()};
  args.insert(args.end(), extra.begin(), extra.end());
  return RunStrongroom(args, std::chrono::seconds(120));
}

json ParseJson(const CommandResult& r) {
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  json j = json::parse(r.out, nullptr, false);
  REQUIRE_FALSE(j.is_discarded());
  return j;
}

// A vault with files (empty, one block, several blocks), folders, a long
// name and symlinks.
void Populate(MountedVault& v) {
  WriteOrDie(v.Path("empty"), "");
  WriteOrDie(v.Path("small"), "hello");
  REQUIRE_SYS(mkdir(v.Path("clients").c_str(), 0755));
  REQUIRE_SYS(mkdir(v.Path("clients/acme").c_str(), 0755));
  WriteOrDie(v.Path("clients/acme/contract.pdf"), std::string(3 * kBlockSize + 123, 'c'));
  WriteOrDie(v.Path("clients/" + std::string(200, 'n')), "a long name");
  REQUIRE_SYS(symlink("acme/contract.pdf", v.Path("clients/latest").c_str()));
  REQUIRE_SYS(symlink("/elsewhere/entirely", v.Path("outside-link").c_str()));
}

}  // namespace

TEST_CASE("fsck of a clean unmounted vault exits 0 and says so", "[fsck]") {
  MountedVault v;
  Populate(v);
  v.Unmount();

  const CommandResult r = Fsck(v);
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("The vault is clean.") != std::string::npos);
  CHECK(r.out.find("audit log: ok") != std::string::npos);
  CHECK(r.err.empty());  // not a terminal: no progress line

  const json j = ParseJson(Fsck(v, {"--json"}));
  CHECK(j["clean"] == true);
  CHECK(j["files"] == 4);
  CHECK(j["dirs"] == 3);  // the root, clients, clients/acme
  CHECK(j["symlinks"] == 2);
  CHECK(j["blocks"] == 1 + 1 + 4 + 1);
  CHECK(j["orphans"].empty());
  CHECK(j["findings"].empty());
  CHECK(j["audit"]["ok"] == true);

  // It changed nothing: the vault still mounts and reads.
  v.Mount();
  CHECK(ReadOrDie(v.Path("small")) == "hello");
}

TEST_CASE("fsck reports a tampered block by the file's path and exits 7", "[fsck]") {
  MountedVault v;
  const std::string deals_backing =
      Locate(v.tree(), [&] { REQUIRE_SYS(mkdir(v.Path("deals").c_str(), 0755)); });
  const std::string victim = Locate(deals_backing, [&] {
    WriteOrDie(v.Path("deals/victim.xlsx"), std::string(3 * kBlockSize + 10, 'v'));
  });
  WriteOrDie(v.Path("deals/bystander"), "fine");
  v.Unmount();

  // Flip one byte of block 1's ciphertext (header 20 + block 0 of 4124 +
  // nonce 12, then a few bytes in).
  {
    const int fd = OpenOrDie(victim, O_RDWR);
    const off_t off = 20 + 4124 + 12 + 100;
    char c;
    REQUIRE(pread(fd, &c, 1, off) == 1);
    c = static_cast<char>(c ^ 0x20);
    REQUIRE(pwrite(fd, &c, 1, off) == 1);
    close(fd);
  }
  const CommandResult r = Fsck(v);
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.exit_code == exit_code::kIntegrity);
  CHECK(r.out.find("/deals/victim.xlsx: block 1 does not authenticate") != std::string::npos);
  CHECK(r.out.find("bystander") == std::string::npos);
  CHECK(r.out.find("Damage found.") != std::string::npos);
  CHECK(r.err.rfind("strongroom: the vault is damaged", 0) == 0);

  const CommandResult rj = Fsck(v, {"--json"});
  CHECK(rj.exit_code == exit_code::kIntegrity);
  const json j = ParseJson(rj);
  CHECK(j["clean"] == false);
  CHECK(j["damaged"] == 1);
  REQUIRE(j["findings"].size() == 1);
  CHECK(j["findings"][0]["path"] == "/deals/victim.xlsx");
  CHECK(j["findings"][0]["kind"] == "damaged");
}

TEST_CASE("fsck reports an orphaned key row, and removes it only when asked", "[fsck]") {
  MountedVault v;
  const std::string gone = Locate(v.tree(), [&] { WriteOrDie(v.Path("gone"), "soon deleted behind our back"); });
  WriteOrDie(v.Path("kept"), "stays");
  const std::string id = FileIdHex(gone);
  v.Unmount();
  REQUIRE_SYS(unlink(gone.c_str()));

  const CommandResult r = Fsck(v);
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.exit_code == exit_code::kIntegrity);
  CHECK(r.out.find("orphaned rows: 1") != std::string::npos);
  CHECK(r.out.find("file " + id + " (holds a data key)") != std::string::npos);

  // Read-only by default: the same again.
  CHECK(Fsck(v).exit_code == exit_code::kIntegrity);

  const CommandResult repair = Fsck(v, {"--repair-orphans", "--json"});
  CHECK(repair.exit_code == 0);
  const json j = ParseJson(repair);
  CHECK(j["orphans_removed"] == 1);
  CHECK(j["orphans"][0]["id"] == id);

  const CommandResult after = Fsck(v);
  INFO("after: " << after.out << after.err);
  CHECK(after.exit_code == 0);
  CHECK(after.out.find("orphaned rows: 0") != std::string::npos);
  CHECK(after.out.find("audit log: ok") != std::string::npos);

  // The repair was recorded, and the vault mounts as before.
  v.Mount();
  const CommandResult audit =
      RunStrongroomAs(MountedVault::Admin(), {"audit", "--op", "fsck.repair", "--json", "--mount", v.mnt()});
  INFO("audit: " << audit.out << audit.err);
  CHECK(audit.exit_code == 0);
  CHECK(audit.out.find(id) != std::string::npos);
  CHECK(ReadOrDie(v.Path("kept")) == "stays");
}

TEST_CASE("fsck with a wrong passphrase exits 3 with one line", "[fsck]") {
  MountedVault v;
  v.Unmount();
  const std::string wrong = v.root() + "/wrong-pass";
  WriteOrDie(wrong, "not the passphrase\n", 0600);
  const auto before = SnapshotTree(v.vault());
  const CommandResult r = RunStrongroom({"fsck", v.vault(), "--passfile", wrong});
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.exit_code == exit_code::kWrongPassphrase);
  CHECK(r.out.empty());
  CHECK(r.err.rfind("strongroom: ", 0) == 0);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK(SnapshotTree(v.vault()) == before);
}

TEST_CASE("fsck of a mounted vault runs in its daemon and skips a file being written", "[fsck]") {
  MountedVault v;
  Populate(v);
  // Writes go on in the background the whole time fsck runs.
  const int fd = OpenOrDie(v.Path("clients/acme/being-written.docx"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> writes{0};
  std::thread writer([&] {
    std::string chunk(3000, 'w');
    off_t off = 0;
    while (!stop.load()) {
      if (PWriteAll(fd, chunk, off) != 0) break;
      off = (off + 3000) % (64 * kBlockSize);
      writes.fetch_add(1);
    }
  });
  while (writes.load() < 20) std::this_thread::sleep_for(std::chrono::milliseconds(5));

  // Through the mountpoint, as the admin.
  const CommandResult by_mount = RunStrongroomAs(MountedVault::Admin(), {"fsck", v.mnt(), "--json"});
  // Through the vault directory (only root can reach it; its lock is held,
  // so the daemon is asked): root is a staff user in this vault, refused.
  const CommandResult by_vault = RunStrongroomAs(MountedVault::Root(), {"fsck", v.vault()});
  // Someone who is no user of the vault is refused too.
  const CommandResult refused = RunStrongroomAs({65534, 65534}, {"fsck", v.mnt()});
  stop.store(true);
  writer.join();
  REQUIRE_SYS(close(fd));

  {
    INFO("stdout: " << by_mount.out << "\nstderr: " << by_mount.err);
    CHECK(by_mount.exit_code == 0);
    const json j = ParseJson(by_mount);
    CHECK(j["clean"] == true);
    CHECK(j["damaged"] == 0);
    CHECK(j["files"] == 5);
    bool skipped = false;
    for (const json& f : j["findings"]) {
      CHECK(f["kind"] == "skipped");
      if (f["path"] == "/clients/acme/being-written.docx") skipped = f["reason"] == "open for writing";
    }
    CHECK(skipped);
    CHECK(j["audit"]["ok"] == true);
  }
  {
    INFO("stdout: " << by_vault.out << "\nstderr: " << by_vault.err);
    CHECK(by_vault.exit_code == exit_code::kRefused);
    CHECK(by_vault.err.find("only admins may check the vault") != std::string::npos);
  }
  {
    INFO("stdout: " << refused.out << "\nstderr: " << refused.err);
    CHECK(refused.exit_code == exit_code::kRefused);
    CHECK(refused.err.find("is not a Strongroom user") != std::string::npos);
  }
  // With the admin role, root checks it through the vault directory.
  v.Policy(MountedVault::Admin(), {"user", "set", "root", "--role", "admin"});
  {
    const CommandResult r = RunStrongroom({"fsck", v.vault()});
    INFO("stdout: " << r.out << "\nstderr: " << r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("checked by its daemon") != std::string::npos);
    CHECK(r.out.find("The vault is clean.") != std::string::npos);
  }
  // Once closed, it is checked like any other file.
  const CommandResult after = RunStrongroomAs(MountedVault::Admin(), {"fsck", v.mnt(), "--json"});
  INFO("stdout: " << after.out << "\nstderr: " << after.err);
  CHECK(after.exit_code == 0);
  const json j = ParseJson(after);
  CHECK(j["findings"].empty());
}

TEST_CASE("fsck of a mounted vault reports nothing while files are created, renamed and deleted", "[fsck]") {
  MountedVault v;
  Populate(v);
  REQUIRE_SYS(mkdir(v.Path("churn").c_str(), 0755));
  std::atomic<bool> stop{false};
  std::thread churn([&] {
    for (int i = 0; !stop.load(); ++i) {
      const std::string a = v.Path("churn/f" + std::to_string(i % 7));
      const std::string b = v.Path("churn/g" + std::to_string(i % 5));
      (void)WriteFile(a, std::string(static_cast<size_t>(i % 3) * kBlockSize + 5, 'x'));
      (void)rename(a.c_str(), b.c_str());
      if (i % 2 == 0) (void)unlink(b.c_str());
    }
  });
  std::vector<CommandResult> runs;
  for (int i = 0; i < 4; ++i) runs.push_back(RunStrongroomAs(MountedVault::Admin(), {"fsck", v.mnt(), "--json"}));
  stop.store(true);
  churn.join();
  for (const CommandResult& r : runs) {
    INFO("stdout: " << r.out << "\nstderr: " << r.err);
    CHECK(r.exit_code == 0);
    const json j = ParseJson(r);
    CHECK(j["damaged"] == 0);
    CHECK(j["name_errors"] == 0);
    CHECK(j["orphans"].empty());
  }
}

TEST_CASE("status lists the mounted vault, its open files (names for admins only)", "[status]") {
  MountedVault::Options options;
  options.init = false;
  options.mount = false;
  MountedVault v(options);
  // init by hand, to keep the auditors' key for `audit verify`.
  const std::string key_file = v.root() + "/audit-key";
  const CommandResult init =
      RunStrongroom({"init", "--passfile", v.passfile(), "--scrypt-logn", "12", "--admin", kAdminName, "--uid",
                     std::to_string(kAdminUid), "--audit-key-out", key_file, v.vault()});
  INFO("init: " << init.out << init.err);
  REQUIRE(init.exit_code == 0);
  v.Mount();
  Populate(v);
  const int held = OpenOrDie(v.Path("clients/acme/contract.pdf"), O_RDONLY);

  auto find_vault = [&](const json& all) -> json {
    for (const json& x : all["vaults"]) {
      if (x["mountpoint"] == v.mnt()) return x;
    }
    return nullptr;
  };
  const CommandResult admin = RunStrongroomAs(MountedVault::Admin(), {"status", "--json"});
  const CommandResult staff = RunStrongroomAs(MountedVault::Root(), {"status", "--json"});
  const CommandResult table = RunStrongroomAs(MountedVault::Admin(), {"status"});
  const CommandResult nobody = RunStrongroomAs({65534, 65534}, {"status"});
  REQUIRE_SYS(close(held));

  {
    INFO("stdout: " << admin.out << "\nstderr: " << admin.err);
    REQUIRE(admin.exit_code == 0);
    const json x = find_vault(ParseJson(admin));
    REQUIRE(x.is_object());
    CHECK(x["vault"] == v.vault());
    CHECK(x["pid"] == v.daemon_pid());
    CHECK(x["users"] == 2);  // the admin and root
    CHECK(x["open_files"] == 1);
    REQUIRE(x["files"].size() == 1);
    CHECK(x["files"][0]["path"] == "/clients/acme/contract.pdf");
    CHECK(x["audit"]["total_bytes"].get<uint64_t>() > 0);
    CHECK(x["audit"]["last_verified"].is_null());
  }
  {
    INFO("stdout: " << staff.out << "\nstderr: " << staff.err);
    REQUIRE(staff.exit_code == 0);
    const json x = find_vault(ParseJson(staff));
    REQUIRE(x.is_object());
    CHECK(x["open_files"] == 1);
    CHECK_FALSE(x.contains("files"));
    CHECK(staff.out.find("contract.pdf") == std::string::npos);
  }
  {
    INFO("stdout: " << table.out << "\nstderr: " << table.err);
    CHECK(table.exit_code == 0);
    CHECK(table.out.find(v.mnt()) != std::string::npos);
    CHECK(table.out.find("/clients/acme/contract.pdf") != std::string::npos);
    CHECK(table.out.find("never") != std::string::npos);
  }
  {
    INFO("stdout: " << nobody.out << "\nstderr: " << nobody.err);
    CHECK(nobody.exit_code == 0);
    CHECK(nobody.out.find(v.mnt()) != std::string::npos);
    CHECK(nobody.out.find("contract.pdf") == std::string::npos);
  }

  // A successful `audit verify` is what "last verified" shows.
  {
    const CommandResult verify = RunStrongroom({"audit", "verify", "--key", key_file, v.vault()});
    INFO("verify: " << verify.out << verify.err);
    REQUIRE(verify.exit_code == 0);
    const json x = find_vault(ParseJson(RunStrongroomAs(MountedVault::Admin(), {"status", "--json"})));
    REQUIRE(x.is_object());
    CHECK(x["audit"]["last_verified"].is_object());
  }
}

}  // namespace strongroom::test
