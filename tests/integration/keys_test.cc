// Key slots and rekey on real vaults: keyslot add|remove|list, mount with a
// key file, rekey (and a rekey killed part-way), as the CLI runs them.
#include <sqlite3.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "integration_assert.h"
#include "mount_fixture.h"

namespace strongroom::test {
namespace {

using namespace std::chrono_literals;
using namespace exit_code;

// `strongroom mount ARGS... VAULT MNT` in the background; on success, the
// content of `rel` read through the mount, then unmounted.
struct MountRead {
  int exit_code = -1;
  std::string content;
  std::string err;
};
MountRead MountAndRead(const MountedVault& v, std::vector<std::string> unlock, const std::string& rel) {
  std::vector<std::string> args{"mount"};
  args.insert(args.end(), unlock.begin(), unlock.end());
  args.push_back(v.vault());
  args.push_back(v.mnt());
  CommandResult r = RunStrongroom(args, 60s);
  MountRead out;
  out.exit_code = r.exit_code;
  out.err = r.err;
  if (r.exit_code != kOk) return out;
  out.content = ReadOrDie(v.Path(rel));
  CommandResult u = RunStrongroom({"umount", v.mnt()}, 60s);
  CHECK(u.exit_code == kOk);
  return out;
}

// The wrapped data keys in the policy store, as hex.
std::set<std::string> WrappedKeys(const std::string& db_path) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  std::set<std::string> out;
  sqlite3_stmt* s = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "SELECT hex(wrapped_key) FROM objects WHERE wrapped_key IS NOT NULL", -1, &s,
                             nullptr) == SQLITE_OK);
  while (sqlite3_step(s) == SQLITE_ROW) out.insert(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)));
  sqlite3_finalize(s);
  sqlite3_close(db);
  return out;
}

// The audit log verifies with the auditors' key, and holds `n` records of
// `op` (the vault unmounted; its audit database in the vault).
void CheckAuditLog(const MountedVault& v, const std::string& op, int n) {
  CommandResult r = RunStrongroom({"audit", "verify", v.vault(), "--key", v.audit_key()});
  INFO(r.out << r.err);
  CHECK(r.exit_code == kOk);
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2((v.vault() + "/strongroom-audit.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr) ==
          SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "SELECT count(*) FROM records WHERE op = ?1", -1, &s, nullptr) == SQLITE_OK);
  sqlite3_bind_text(s, 1, op.c_str(), -1, SQLITE_TRANSIENT);
  REQUIRE(sqlite3_step(s) == SQLITE_ROW);
  const int count = sqlite3_column_int(s, 0);
  sqlite3_finalize(s);
  sqlite3_close(db);
  INFO("records of " << op);
  CHECK(count == n);
}

// A vault holding the file "f" ("content"), unmounted: key commands work on
// the vault itself.
struct VaultWithFile : MountedVault {
  VaultWithFile() {
    WriteOrDie(Path("f"), "content");
    Unmount();
  }
};

std::vector<std::string> SlotLabels(const MountedVault& v) {
  CommandResult r = RunStrongroom({"keyslot", "list", v.vault(), "--json"});
  INFO(r.err);
  REQUIRE(r.exit_code == kOk);
  std::vector<std::string> out;
  for (const auto& slot : nlohmann::json::parse(r.out)) out.push_back(slot["label"].get<std::string>());
  return out;
}

TEST_CASE("keyslot: a key file and a second passphrase unlock, slots are removed, never the last one", "[keys]") {
  VaultWithFile v;
  const std::string key_file = v.root() + "/backup.key";
  const std::string second = v.root() + "/second.pass";
  WriteOrDie(second, "the second admin's passphrase\n", 0600);

  CommandResult r = RunStrongroom({"keyslot", "add", v.vault(), "--passfile", v.passfile(), "--new-key-file",
                                   key_file, "--label", "backup key"});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == kOk);
  struct stat st {};
  REQUIRE(::stat(key_file.c_str(), &st) == 0);
  CHECK(st.st_size == 64);
  CHECK((st.st_mode & 0777) == 0400);
  // A new key file never overwrites a file.
  r = RunStrongroom({"keyslot", "add", v.vault(), "--passfile", v.passfile(), "--new-key-file", key_file});
  CHECK(r.exit_code == kConflict);
  // A label is anyone's text: kept as given, escaped when shown.
  const std::string hostile_label = "bob\x1b[2J";
  r = RunStrongroom({"keyslot", "add", v.vault(), "--passfile", v.passfile(), "--new-passfile", second, "--label",
                     hostile_label});
  REQUIRE(r.exit_code == kOk);
  r = RunStrongroom({"keyslot", "list", v.vault()});
  INFO(r.out << r.err);
  CHECK(r.exit_code == kOk);
  CHECK(r.out.find('\x1b') == std::string::npos);
  CHECK(r.out.find("bob") != std::string::npos);
  CHECK(r.out.find("backup key") != std::string::npos);
  // Adding needs a secret that unlocks.
  r = RunStrongroom({"keyslot", "add", v.vault(), "--passfile", second + ".missing", "--new-passfile", second});
  CHECK(r.exit_code != kOk);
  CHECK(SlotLabels(v) == std::vector<std::string>{"", "backup key", hostile_label});
  // A slot that does not exist.
  r = RunStrongroom({"keyslot", "remove", v.vault(), "9", "--passfile", second});
  CHECK(r.exit_code == kNotFound);

  // Each unlocks the same vault.
  CHECK(MountAndRead(v, {"--key-file", key_file}, "f").content == "content");
  CHECK(MountAndRead(v, {"--passfile", second}, "f").content == "content");
  CHECK(MountAndRead(v, {"--passfile", v.passfile()}, "f").content == "content");
  // A wrong key file does not.
  const std::string wrong_key = v.root() + "/wrong.key";
  WriteOrDie(wrong_key, std::string(64, 'w'), 0600);
  CHECK(MountAndRead(v, {"--key-file", wrong_key}, "f").exit_code == kWrongPassphrase);

  // The first slot removed (by bob): its passphrase no longer unlocks.
  r = RunStrongroom({"keyslot", "remove", v.vault(), "1", "--passfile", second});
  INFO(r.err);
  REQUIRE(r.exit_code == kOk);
  CHECK(MountAndRead(v, {"--passfile", v.passfile()}, "f").exit_code == kWrongPassphrase);
  // The key file removes its own slot.
  r = RunStrongroom({"keyslot", "remove", v.vault(), "2", "--key-file", key_file});
  REQUIRE(r.exit_code == kOk);
  CHECK(MountAndRead(v, {"--key-file", key_file}, "f").exit_code == kWrongPassphrase);
  // The last slot stays, and so does the config.
  const std::string conf = ReadOrDie(v.vault() + "/strongroom.conf");
  r = RunStrongroom({"keyslot", "remove", v.vault(), "3", "--passfile", second});
  CHECK(r.exit_code == kConflict);
  CHECK(r.err.find("last") != std::string::npos);
  CHECK(ReadOrDie(v.vault() + "/strongroom.conf") == conf);
  CHECK(MountAndRead(v, {"--passfile", second}, "f").content == "content");

  // Every change is in the audit log, which verifies.
  CheckAuditLog(v, "keyslot.add", 2);
  CheckAuditLog(v, "keyslot.remove", 2);
}

TEST_CASE("keyslot and passwd: a command waiting for a passphrase holds up no mount and no other key command",
          "[keys]") {
  VaultWithFile v;
  // A passphrase file that is a FIFO: its reader waits as a person at the
  // prompt would, until someone writes.
  const std::string fifo = v.root() + "/typing.pass";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const std::string renewed = v.root() + "/renewed.pass";
  WriteOrDie(renewed, "a renewed passphrase\n", 0600);

  auto passwd = std::async(std::launch::async, [&] {
    return RunStrongroom({"passwd", v.vault(), "--passfile", fifo, "--new-passfile", renewed}, 60s);
  });
  std::this_thread::sleep_for(500ms);
  REQUIRE(passwd.wait_for(0s) == std::future_status::timeout);  // still waiting at its "prompt"

  // Meanwhile: a key command and a mount go ahead without waiting.
  CommandResult r = RunStrongroom({"keyslot", "list", v.vault()}, 20s);
  INFO(r.out << r.err);
  CHECK(r.exit_code == kOk);
  CHECK(r.err.find("Waiting") == std::string::npos);
  CHECK(MountAndRead(v, {"--passfile", v.passfile()}, "f").content == "content");

  // The passphrase is typed: the change goes through, under the lock.
  {
    std::ofstream typing(fifo);
    typing << ReadOrDie(v.passfile());
  }
  const CommandResult changed = passwd.get();
  INFO(changed.out << changed.err);
  REQUIRE(changed.exit_code == kOk);
  CHECK(MountAndRead(v, {"--passfile", renewed}, "f").content == "content");
  CHECK(MountAndRead(v, {"--passfile", v.passfile()}, "f").exit_code == kWrongPassphrase);
  CheckAuditLog(v, "passwd", 1);
}

TEST_CASE("rekey: every file key re-wrapped, contents and names untouched, the old keys no longer open the store",
          "[keys]") {
  MountedVault v;
  WriteOrDie(v.Path("f"), "content");
  REQUIRE_SYS(mkdir(v.Path("d").c_str(), 0755));
  WriteOrDie(v.Path("d/g"), std::string(200000, 'g'));
  // Refused while mounted.
  CommandResult r = RunStrongroom({"rekey", v.vault(), "--passfile", v.passfile()});
  CHECK(r.exit_code == kConflict);
  v.Unmount();

  const std::string key_file = v.root() + "/backup.key";
  REQUIRE(RunStrongroom({"keyslot", "add", v.vault(), "--passfile", v.passfile(), "--new-key-file", key_file})
              .exit_code == kOk);
  const std::string conf_before = ReadOrDie(v.vault() + "/strongroom.conf");
  const auto keys_before = WrappedKeys(v.vault() + "/strongroom.db");
  REQUIRE(keys_before.size() == 2);
  const auto tree_before = SnapshotTree(v.tree());

  // Every slot's secret is needed.
  r = RunStrongroom({"rekey", v.vault(), "--passfile", v.passfile()});
  CHECK(r.exit_code == kUsage);
  CHECK(r.err.find("key slot 2") != std::string::npos);
  CHECK(ReadOrDie(v.vault() + "/strongroom.conf") == conf_before);

  r = RunStrongroom({"rekey", v.vault(), "--passfile", v.passfile(), "--key-file", key_file});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == kOk);
  const auto keys_after = WrappedKeys(v.vault() + "/strongroom.db");
  CHECK(keys_after.size() == 2);
  for (const auto& k : keys_after) CHECK(keys_before.count(k) == 0);
  CHECK(SnapshotTree(v.tree()) == tree_before);  // no content or name rewritten
  const std::string conf_after = ReadOrDie(v.vault() + "/strongroom.conf");
  CHECK(conf_after != conf_before);

  CHECK(MountAndRead(v, {"--passfile", v.passfile()}, "d/g").content == std::string(200000, 'g'));
  CHECK(MountAndRead(v, {"--key-file", key_file}, "f").content == "content");
  // The old config (old master key) against the rekeyed store: refused.
  WriteOrDie(v.vault() + "/strongroom.conf", conf_before, 0600);
  MountRead old = MountAndRead(v, {"--passfile", v.passfile()}, "f");
  CHECK(old.exit_code != kOk);
  WriteOrDie(v.vault() + "/strongroom.conf", conf_after, 0600);
  // The audit log (older records included) still verifies, and has the rekey.
  CheckAuditLog(v, "rekey", 1);
}

TEST_CASE("rekey killed part-way: before the store commits the old keys stay, after it the next mount finishes",
          "[keys]") {
  VaultWithFile v;
  const std::string conf_before = ReadOrDie(v.vault() + "/strongroom.conf");
  const auto keys_before = WrappedKeys(v.vault() + "/strongroom.db");
  auto rekey_killed_at = [&](const std::string& point) {
    return RunCommand({"/usr/bin/env", "STRONGROOM_TEST_REKEY_KILL=" + point, StrongroomBin(), "rekey", v.vault(),
                       "--passfile", v.passfile()},
                      60s);
  };

  CommandResult r = rekey_killed_at("before-store");
  REQUIRE(r.exit_code == 128 + SIGKILL);
  CHECK(::access((v.vault() + "/strongroom.conf.rekey").c_str(), F_OK) == 0);
  MountRead m = MountAndRead(v, {"--passfile", v.passfile()}, "f");
  CHECK(m.content == "content");
  CHECK(::access((v.vault() + "/strongroom.conf.rekey").c_str(), F_OK) != 0);
  CHECK(ReadOrDie(v.vault() + "/strongroom.conf") == conf_before);
  CHECK(WrappedKeys(v.vault() + "/strongroom.db") == keys_before);

  r = rekey_killed_at("after-store");
  REQUIRE(r.exit_code == 128 + SIGKILL);
  // The store has the new keys, the config still the old: the next mount
  // installs the new config and opens the vault.
  CHECK(WrappedKeys(v.vault() + "/strongroom.db") != keys_before);
  CHECK(ReadOrDie(v.vault() + "/strongroom.conf") == conf_before);
  m = MountAndRead(v, {"--passfile", v.passfile()}, "f");
  INFO(m.err);
  CHECK(m.content == "content");
  CHECK(m.err.find("Finished an interrupted rekey") != std::string::npos);
  CHECK(ReadOrDie(v.vault() + "/strongroom.conf") != conf_before);
  CHECK(::access((v.vault() + "/strongroom.conf.rekey").c_str(), F_OK) != 0);
  r = RunStrongroom({"audit", "verify", v.vault(), "--key", v.audit_key()});
  CHECK(r.exit_code == kOk);
}

}  // namespace
}  // namespace strongroom::test
