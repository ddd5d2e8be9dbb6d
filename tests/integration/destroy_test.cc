// Witnessed destruction, retention holds and destruction certificates on a
// real mount, as real uids (PRODUCT.md "Witnessed destruction"): an admin,
// a lead, staff and two auditors; freezes and holds refused with EACCES and
// recorded; the wrapped key gone from the store, its WAL and a backup taken
// afterwards; a ciphertext copy taken before left undecryptable; a crash in
// the middle of an execution finished by the next mount; certificates
// verified on the mount and offline with the auditors' key, and a tampered
// one refused.
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "crypto/content.h"
#include "crypto/primitives.h"
#include "crypto/vault_config.h"
#include "integration_assert.h"
#include "mount_fixture.h"

namespace strongroom::test {
namespace {

using json = nlohmann::json;

constexpr uid_t kLead = 4611, kStaff = 4612, kAuditor1 = 4613, kAuditor2 = 4614;
const Identity kLeadId{kLead, kLead}, kStaffId{kStaff, kStaff}, kAlex{kAuditor1, kAuditor1}, kAva{kAuditor2, kAuditor2};

int As(uid_t uid, const std::function<int()>& fn) { return RunAs(uid, uid, fn); }
int Err(long rc) { return rc == -1 ? errno : 0; }
int StatErrno(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 ? 0 : errno;
}
std::string ErrName(int e) { return e == 0 ? "success" : std::string(std::strerror(e)) + " (" + std::to_string(e) + ")"; }

#define CHECK_AS(uid, expected, expr)                                                                  \
  do {                                                                                                 \
    int got_ = As((uid), [&] { return (expr); });                                                      \
    INFO("as uid " << (uid) << ": " #expr " gave " << ErrName(got_) << ", expected " << ErrName(expected)); \
    CHECK(got_ == (expected));                                                                         \
  } while (0)

int OpenWith(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
  if (fd < 0) return errno;
  ::close(fd);
  return 0;
}

int WriteInto(const std::string& path, const std::string& data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  int e = PWriteAll(fd, data, 0);
  ::close(fd);
  return e;
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  REQUIRE(out.good());
}

bool Contains(const std::string& hay, const std::string& needle) {
  return !needle.empty() && hay.find(needle) != std::string::npos;
}

std::string Sha256Hex(const std::string& data) {
  uint8_t d[32];
  crypto::Sha256(crypto::AsBytes(data), d);
  return crypto::HexEncode(d);
}

// Every regular file of the backing tree but the directory IDs: path -> bytes.
std::map<std::string, std::string> BackingFiles(const std::string& dir) {
  std::map<std::string, std::string> out;
  std::function<void(const std::string&)> walk = [&](const std::string& d) {
    DIR* h = ::opendir(d.c_str());
    if (h == nullptr) return;
    while (struct dirent* e = ::readdir(h)) {
      const std::string name = e->d_name;
      if (name == "." || name == ".." || name == ".dirid") continue;
      const std::string path = d + "/" + name;
      struct stat st;
      if (::lstat(path.c_str(), &st) != 0) continue;
      if (S_ISDIR(st.st_mode)) walk(path);
      if (S_ISREG(st.st_mode)) out[path] = ReadText(path);
    }
    ::closedir(h);
  };
  walk(dir);
  return out;
}

// The file ID in a ciphertext's header, hex.
std::string HeaderId(const std::string& ciphertext) {
  if (ciphertext.size() < 20) return {};
  return crypto::HexEncode(crypto::AsBytes(std::string_view(ciphertext).substr(4, 16)));
}

// id (hex) -> wrapped key, from the store (the vault must be unmounted).
std::map<std::string, std::string> WrappedKeys(const std::string& db_path) {
  std::map<std::string, std::string> out;
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "SELECT id, wrapped_key FROM objects WHERE wrapped_key IS NOT NULL", -1, &s,
                             nullptr) == SQLITE_OK);
  while (sqlite3_step(s) == SQLITE_ROW) {
    std::string id(static_cast<const char*>(sqlite3_column_blob(s, 0)), sqlite3_column_bytes(s, 0));
    std::string key(static_cast<const char*>(sqlite3_column_blob(s, 1)), sqlite3_column_bytes(s, 1));
    out[crypto::HexEncode(crypto::AsBytes(id))] = key;
  }
  sqlite3_finalize(s);
  sqlite3_close(db);
  return out;
}

// A vault initialised with the auditors' key written to `key_file`, mounted,
// with a lead, staff and two auditors.
struct Scene {
  MountedVault v{MountedVault::Options{.init = false, .mount = false}};
  std::string key_file = v.root() + "/audit.key";

  Scene() {
    auto r = RunStrongroom({"init", "--passfile", v.passfile(), "--scrypt-logn", "12", "--admin", kAdminName, "--uid",
                            std::to_string(kAdminUid), "--audit-key-out", key_file, v.vault()});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    v.Mount();
    v.Policy(MountedVault::Admin(), {"user", "add", "lena", "--uid", std::to_string(kLead)});
    v.Policy(MountedVault::Admin(), {"user", "add", "sam", "--uid", std::to_string(kStaff)});
    v.Policy(MountedVault::Admin(), {"user", "add", "alex", "--uid", std::to_string(kAuditor1), "--role", "auditor"});
    v.Policy(MountedVault::Admin(), {"user", "add", "ava", "--uid", std::to_string(kAuditor2), "--role", "auditor"});
  }

  CommandResult Run(const Identity& who, std::vector<std::string> args) {
    args.push_back("--mount");
    args.push_back(v.mnt());
    CommandResult r = RunStrongroomAs(who, args, std::chrono::seconds(120));
    std::string line;
    for (const auto& a : args) line += " " + a;
    UNSCOPED_INFO("as uid " << who.uid << ":" << line << " -> exit " << r.exit_code << "\nstdout: " << r.out
                            << "\nstderr: " << r.err);
    return r;
  }
  json Json(const Identity& who, std::vector<std::string> args) {
    args.push_back("--json");
    CommandResult r = Run(who, args);
    REQUIRE(r.exit_code == 0);
    json j = json::parse(r.out, nullptr, false);
    REQUIRE(!j.is_discarded());
    return j;
  }
  void MakeFile(const std::string& rel, const std::string& content) { REQUIRE(WriteFile(v.Path(rel), content) == 0); }
};

TEST_CASE("witnessed destruction with two witnesses: freeze, separation of duties, key gone, certificate", "[destroy]") {
  Scene s;
  MountedVault& v = s.v;
  REQUIRE(::mkdir(v.Path("clients").c_str(), 0755) == 0);
  REQUIRE(::mkdir(v.Path("clients/acme").c_str(), 0755) == 0);
  REQUIRE(::mkdir(v.Path("clients/acme/old").c_str(), 0755) == 0);
  REQUIRE(::mkdir(v.Path("clients/acme/old/sub").c_str(), 0755) == 0);
  const std::string a_text = "contract of 2011 " + std::string(9000, 'a');
  const std::string b_text = "id copy " + std::string(100, 'b');
  s.MakeFile("clients/acme/old/a.txt", a_text);
  s.MakeFile("clients/acme/old/sub/b.txt", b_text);
  s.MakeFile("clients/acme/keep.txt", "current");
  v.Policy(MountedVault::Root(), {"grant", v.Path("clients/acme"), "lena", "manage"});
  v.Policy(kLeadId, {"grant", v.Path("clients/acme"), "sam", "write"});
  v.Policy(MountedVault::Admin(), {"config", "set", "witnesses", "2"});
  CHECK(s.Json(kAlex, {"config", "get", "witnesses"})["value"] == "2");
  CHECK(s.Run(kStaffId, {"config", "set", "witnesses", "1"}).exit_code == 4);
  CHECK(s.Run(MountedVault::Admin(), {"config", "set", "witnesses", "0"}).exit_code == 2);

  // The wrapped keys and the ciphertext, as a backup taken now would hold them.
  v.Unmount();
  const std::map<std::string, std::string> keys_before = WrappedKeys(v.vault() + "/strongroom.db");
  const std::map<std::string, std::string> tree_before = BackingFiles(v.tree());
  v.Mount();

  // Staff may not ask; the lead may, for what they lead.
  CHECK(s.Run(kStaffId, {"destroy", "request", v.Path("clients/acme/old"), "--reason", "tidy"}).exit_code == 4);
  CHECK(s.Run(kLeadId, {"destroy", "request", v.Path("clients/acme/old")}).exit_code == 2);  // no --reason
  json req = s.Json(kLeadId, {"destroy", "request", v.Path("clients/acme/old"), "--reason", "retention of 10 years ended"});
  const std::string id = std::to_string(req["id"].get<int64_t>());
  CHECK(req["state"] == "pending");
  CHECK(req["files"] == 2);
  CHECK(req["folders"] == 2);
  CHECK(s.Run(kLeadId, {"destroy", "request", v.Path("clients/acme/old/a.txt"), "--reason", "again"}).exit_code == 8);

  // Frozen: no write, delete, truncation, move, or new file; reads still work.
  const std::string a = v.Path("clients/acme/old/a.txt");
  CHECK_AS(kStaff, 0, ReadFile(a).err);
  CHECK_AS(kStaff, EACCES, WriteInto(a, "x"));
  CHECK_AS(kStaff, EACCES, OpenWith(a, O_WRONLY | O_TRUNC));
  CHECK_AS(kStaff, EACCES, Err(::truncate(a.c_str(), 0)));
  CHECK_AS(kStaff, EACCES, Err(::unlink(a.c_str())));
  CHECK_AS(kStaff, EACCES, Err(::rename(a.c_str(), v.Path("clients/acme/a.txt").c_str())));
  CHECK_AS(kLead, EACCES, Err(::rename(v.Path("clients/acme/old").c_str(), v.Path("clients/acme/old2").c_str())));
  CHECK_AS(kStaff, EACCES, OpenWith(v.Path("clients/acme/old/new.txt"), O_CREAT | O_WRONLY));
  CHECK_AS(kStaff, EACCES, Err(::mkdir(v.Path("clients/acme/old/new").c_str(), 0755)));
  CHECK_AS(kStaff, EACCES,
           Err(::rename(v.Path("clients/acme/keep.txt").c_str(), v.Path("clients/acme/old/keep.txt").c_str())));
  CHECK_AS(kStaff, EACCES, Err(::rmdir(v.Path("clients/acme/old/sub").c_str())));
  CHECK_AS(kStaff, 0, WriteInto(v.Path("clients/acme/keep.txt"), "still current"));

  // Separation of duties: the requester never witnesses; only auditors do.
  CHECK(s.Run(kLeadId, {"destroy", "approve", id}).exit_code == 4);
  CHECK(s.Run(MountedVault::Admin(), {"destroy", "approve", id}).exit_code == 4);
  CHECK(s.Run(kStaffId, {"destroy", "approve", id}).exit_code == 5);  // staff do not even see it
  json first = s.Json(kAlex, {"destroy", "approve", id});
  CHECK(first["state"] == "pending");
  CHECK(first["witnesses"].size() == 1);
  CHECK(s.Run(kAlex, {"destroy", "approve", id}).exit_code == 8);  // the same witness twice
  CHECK(ReadFile(a).data == a_text);
  json list = s.Json(kAva, {"destroy", "list"});
  REQUIRE(list["requests"].size() == 1);
  CHECK(list["requests"][0]["paths"][0] == "/clients/acme/old");

  CommandResult approve = s.Run(kAva, {"destroy", "approve", id});
  REQUIRE(approve.exit_code == 0);
  CHECK(Contains(approve.out, "destroyed 2 files"));
  json shown = s.Json(kLeadId, {"destroy", "show", id});
  CHECK(shown["state"] == "done");
  CHECK(StatErrno(v.Path("clients/acme/old")) == ENOENT);
  CHECK(ReadFile(v.Path("clients/acme/keep.txt")).data == "still current");

  // The certificate.
  json cert = s.Json(kAlex, {"destroy", "certificate", id});
  const json& c = cert["certificate"];
  CHECK(c["request"] == std::stoll(id));
  CHECK(c["reason"] == "retention of 10 years ended");
  CHECK(c["requested_by"]["name"] == "lena");
  CHECK(c["witnesses_needed"] == 2);
  REQUIRE(c["witnesses"].size() == 2);
  for (const json& w : c["witnesses"]) {
    CHECK((w["name"] == "alex" || w["name"] == "ava"));
    CHECK(w["account_created_by"] == kAdminName);
    CHECK(w["account_created_at"].is_string());
    CHECK(w["witnessed_at"].is_string());
  }
  CHECK(c["requested_at"].is_string());
  CHECK(c["approved_at"].is_string());
  CHECK(c["completed_at"].is_string());
  CHECK(Contains(c["backups"].get<std::string>(), "taken before"));
  CHECK(Contains(c["method"].get<std::string>(), "overwritten"));
  REQUIRE(c["files"].size() == 2);
  std::map<std::string, json> files;
  for (const json& f : c["files"]) files[f["path"].get<std::string>()] = f;
  REQUIRE(files.count("/clients/acme/old/a.txt") == 1);
  REQUIRE(files.count("/clients/acme/old/sub/b.txt") == 1);
  CHECK(files["/clients/acme/old/a.txt"]["size"] == a_text.size());
  CHECK(files["/clients/acme/old/sub/b.txt"]["size"] == b_text.size());
  CHECK(c["folders"].size() == 2);
  std::vector<std::string> destroyed_ids;
  for (auto& [path, f] : files) {
    const std::string fid = f["file_id"].get<std::string>();
    destroyed_ids.push_back(fid);
    // The hash recorded is the hash of the ciphertext a backup taken before held.
    bool matched = false;
    for (const auto& [backing, bytes] : tree_before) {
      if (HeaderId(bytes) != fid) continue;
      matched = true;
      CHECK(f["ciphertext_sha256"] == Sha256Hex(bytes));
      CHECK(f["ciphertext_size"] == bytes.size());
      CHECK(StatErrno(backing) == ENOENT);  // removed from the backing tree
    }
    CHECK(matched);
    REQUIRE(keys_before.count(fid) == 1);
  }
  CommandResult human = s.Run(kAlex, {"destroy", "certificate", id});
  CHECK(human.exit_code == 0);
  CHECK(Contains(human.out, "DESTRUCTION CERTIFICATE"));
  CHECK(Contains(human.out, "/clients/acme/old/sub/b.txt"));

  // Verified on the mount, and offline with the auditors' key.
  const std::string cert_file = v.root() + "/cert.json";
  WriteText(cert_file, cert.dump(2));
  CHECK(s.Run(kAlex, {"destroy", "certificate", id, "--verify"}).exit_code == 0);
  CHECK(s.Run(kAlex, {"destroy", "certificate", id, "--verify", "--file", cert_file}).exit_code == 0);
  CommandResult offline = RunStrongroom({"destroy", "certificate", id, "--verify", "--file", cert_file, "--audit-key",
                                         s.key_file, "--vault", v.vault()});
  INFO(offline.out << offline.err);
  CHECK(offline.exit_code == 0);
  CHECK(Contains(offline.out, "verified with the auditors' key"));
  // A tampered certificate: one size changed, its digest recomputed to match.
  json forged = cert;
  forged["certificate"]["files"][0]["size"] = 1;
  forged["digest"] = Sha256Hex(forged["certificate"].dump(-1, ' ', true));
  const std::string forged_file = v.root() + "/forged.json";
  WriteText(forged_file, forged.dump(2));
  CommandResult bad = s.Run(kAlex, {"destroy", "certificate", id, "--verify", "--file", forged_file});
  CHECK(bad.exit_code == 7);
  CHECK(Contains(bad.err, "does not verify"));
  CommandResult bad_offline = RunStrongroom({"destroy", "certificate", id, "--verify", "--file", forged_file,
                                             "--audit-key", s.key_file, "--vault", v.vault()});
  CHECK(bad_offline.exit_code == 7);
  CHECK(Contains(bad_offline.err, "does not verify"));

  // The audit log: the steps, the certificate's digest, and the refusals with their reason.
  json steps = s.Json(kAlex, {"audit", "--op", "destroy.file"});
  CHECK(steps["records"].size() == 2);
  json sealed = s.Json(kAlex, {"audit", "--op", cert["audit_op"].get<std::string>()});
  CHECK(sealed["records"].size() == 1);
  json denied = s.Json(kAlex, {"audit", "--denied", "--limit", "1000"});
  bool frozen_reason = false;
  for (const json& r : denied["records"]) {
    frozen_reason = frozen_reason || Contains(r.value("reason", ""), "frozen by destruction request " + id);
  }
  CHECK(frozen_reason);

  // The wrapped keys are nowhere in the store, its WAL or shared memory, or
  // in a backup copied now; a ciphertext copy taken before decrypts with no
  // key the vault still has.
  auto scan = [&](const std::string& dir, const std::string& when) {
    for (const char* file : {"strongroom.db", "strongroom.db-wal", "strongroom.db-shm"}) {
      auto r = ReadFile(dir + "/" + file);
      if (r.err == ENOENT) continue;
      REQUIRE(r.err == 0);
      for (const auto& fid : destroyed_ids) {
        INFO(when << ": wrapped key of " << fid << " in " << file);
        CHECK_FALSE(Contains(r.data, keys_before.at(fid)));
        CHECK_FALSE(Contains(r.data, keys_before.at(fid).substr(12, 32)));
      }
    }
  };
  scan(v.vault(), "while mounted");
  // A backup taken now, by the backup command (the store's online copy).
  const std::string backup = v.root() + "/backup";
  {
    CommandResult r = RunStrongroom({"backup", v.vault(), backup}, std::chrono::seconds(120));
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    REQUIRE(ReadFile(backup + "/strongroom.db").err == 0);
  }
  scan(backup, "backup taken after");
  v.Unmount();
  scan(v.vault(), "after unmount");
  const std::map<std::string, std::string> keys_after = WrappedKeys(v.vault() + "/strongroom.db");
  crypto::VaultConfig config = *crypto::VaultConfig::Parse(ReadText(v.vault() + "/strongroom.conf"));
  auto unlocked = config.Unlock(v.passphrase());
  REQUIRE(unlocked.ok());
  // The ciphertext a backup taken before held: its first block opens with
  // the key it had then (the control), and with no key the vault still has.
  for (const auto& fid : destroyed_ids) {
    INFO("destroyed file " << fid);
    CHECK(keys_after.count(fid) == 0);
    crypto::Bytes raw_id;
    REQUIRE(crypto::HexDecode(fid, &raw_id));
    REQUIRE(raw_id.size() == crypto::FileId{}.size());
    crypto::FileId file_id;
    std::copy(raw_id.begin(), raw_id.end(), file_id.begin());
    const std::string* cipher = nullptr;
    for (const auto& [backing, bytes] : tree_before) {
      if (HeaderId(bytes) == fid) cipher = &bytes;
    }
    REQUIRE(cipher != nullptr);
    REQUIRE(cipher->size() > crypto::kHeaderSize + crypto::kBlockOverhead);
    const size_t body = cipher->size() - crypto::kHeaderSize;
    const auto block = crypto::AsBytes(std::string_view(*cipher).substr(crypto::kHeaderSize, std::min<size_t>(body, crypto::kCipherBlockSize)));
    const bool last = body <= crypto::kCipherBlockSize;
    auto opens = [&](const crypto::SecretKey& key) {
      std::vector<uint8_t> plain(block.size() - crypto::kBlockOverhead);
      return crypto::DecryptBlock(key, file_id, 0, last, block, plain.data());
    };
    crypto::SecretKey then;
    REQUIRE(crypto::Unwrap(unlocked->files, raw_id, crypto::AsBytes(keys_before.at(fid)), &then));
    CHECK(opens(then));
    size_t tried = 0;
    for (const auto& [other, wrapped] : keys_after) {
      crypto::Bytes other_id;
      REQUIRE(crypto::HexDecode(other, &other_id));
      crypto::SecretKey key;
      REQUIRE(crypto::Unwrap(unlocked->files, other_id, crypto::AsBytes(wrapped), &key));
      CHECK_FALSE(opens(key));
      ++tried;
    }
    CHECK(tried == keys_after.size());
  }
}

TEST_CASE("retention holds refuse ordinary deletes, overwrites and moves, and block destruction", "[destroy]") {
  Scene s;
  MountedVault& v = s.v;
  REQUIRE(::mkdir(v.Path("records").c_str(), 0755) == 0);
  REQUIRE(::mkdir(v.Path("records/sub").c_str(), 0755) == 0);
  REQUIRE(::mkdir(v.Path("other").c_str(), 0755) == 0);
  s.MakeFile("records/r1.txt", "ledger 1");
  s.MakeFile("records/sub/r2.txt", "ledger 2");
  s.MakeFile("records/incoming.txt", "new");
  v.Policy(MountedVault::Root(), {"grant", v.Path("records"), "lena", "manage"});
  v.Policy(MountedVault::Root(), {"grant", v.Path("other"), "sam", "write"});
  v.Policy(kLeadId, {"grant", v.Path("records"), "sam", "write"});
  v.Policy(MountedVault::Root(), {"grant", v.Path("other"), "lena", "manage"});
  // A descriptor opened for writing before the hold.
  const int early = ::open(v.Path("records/r1.txt").c_str(), O_WRONLY | O_CLOEXEC);
  REQUIRE(early >= 0);

  CHECK(s.Run(kStaffId, {"retain", v.Path("records"), "--until", "2099-12-31"}).exit_code == 4);
  CHECK(s.Run(kLeadId, {"retain", v.Path("records"), "--until", "2001-01-01"}).exit_code == 2);
  v.Policy(kLeadId, {"retain", v.Path("records"), "--until", "2099-12-31"});

  const std::string r1 = v.Path("records/r1.txt");
  CHECK_AS(kStaff, 0, ReadFile(r1).err);
  CHECK_AS(kStaff, EACCES, Err(::unlink(r1.c_str())));
  CHECK_AS(kStaff, EACCES, Err(::truncate(r1.c_str(), 0)));
  CHECK_AS(kStaff, EACCES, OpenWith(r1, O_WRONLY | O_TRUNC));
  CHECK_AS(kStaff, EACCES, WriteInto(r1, "overwritten"));
  CHECK_AS(kStaff, EACCES, Err(::rename(r1.c_str(), v.Path("records/r1b.txt").c_str())));
  CHECK_AS(kStaff, EACCES, Err(::rename(v.Path("records/incoming.txt").c_str(), r1.c_str())));  // rename-over
  CHECK_AS(kLead, EACCES, Err(::rename(r1.c_str(), v.Path("other/r1.txt").c_str())));          // move out
  CHECK_AS(kStaff, EACCES, Err(::unlink(v.Path("records/sub/r2.txt").c_str())));               // below the hold
  CHECK_AS(kStaff, 0, WriteFile(v.Path("records/added.txt"), "a new record"));                 // adding is fine
  CHECK_AS(kStaff, EACCES, WriteInto(v.Path("records/added.txt"), "changed"));                  // then it is held
  CHECK_AS(kStaff, EACCES, Err(::unlink(v.Path("records/added.txt").c_str())));
  CHECK(::pwrite(early, "x", 1, 0) == -1);
  CHECK(errno == EACCES);
  ::close(early);
  CHECK(ReadFile(r1).data == "ledger 1");

  json denied = s.Json(kAlex, {"audit", "--denied", "--limit", "1000"});
  bool hold_reason = false;
  for (const json& r : denied["records"]) hold_reason = hold_reason || Contains(r.value("reason", ""), "retention hold until");
  CHECK(hold_reason);

  // No destruction while a hold covers a path (or something below it).
  CommandResult blocked = s.Run(kLeadId, {"destroy", "request", v.Path("records/sub"), "--reason", "clean up"});
  CHECK(blocked.exit_code == 4);
  CHECK(Contains(blocked.err, "retention hold"));
  REQUIRE(::mkdir(v.Path("other/box").c_str(), 0755) == 0);
  s.MakeFile("other/box/x.txt", "x");
  v.Policy(kLeadId, {"retain", v.Path("other/box/x.txt"), "--until", "2099-12-31"});
  CHECK(s.Run(kLeadId, {"destroy", "request", v.Path("other/box"), "--reason", "clean up"}).exit_code == 4);

  // Early release: refused without a witness, requested with a reason,
  // never witnessed by the requester, done by an auditor.
  CommandResult early_release = s.Run(kLeadId, {"release", v.Path("records")});
  CHECK(early_release.exit_code == 4);
  CHECK(Contains(early_release.err, "needs a witness"));
  json rel = s.Json(kLeadId, {"release", v.Path("records"), "--reason", "the case was closed"});
  CHECK(rel["released"] == false);
  const std::string rid = std::to_string(rel["id"].get<int64_t>());
  CHECK_AS(kStaff, EACCES, Err(::unlink(r1.c_str())));
  CHECK(s.Run(kLeadId, {"destroy", "approve", rid}).exit_code == 4);
  json done = s.Json(kAlex, {"destroy", "approve", rid});
  CHECK(done["state"] == "done");
  CHECK_AS(kStaff, 0, Err(::unlink(r1.c_str())));
  CHECK(s.Run(kLeadId, {"release", v.Path("records")}).exit_code == 5);  // nothing held any more

  // A hold past its date no longer holds, and is released without a witness.
  v.Policy(kLeadId, {"retain", v.Path("records/sub"), "--until", "2030-01-01"});
  CHECK_AS(kStaff, EACCES, Err(::unlink(v.Path("records/sub/r2.txt").c_str())));
  SendControl(v.mnt(), {{"cmd", "test.clock"}, {"offset", int64_t{40} * 365 * 86400}});
  CHECK_AS(kStaff, 0, Err(::unlink(v.Path("records/sub/r2.txt").c_str())));
  json late = s.Json(kLeadId, {"release", v.Path("records/sub")});
  CHECK(late["released"] == true);
}

TEST_CASE("a crash part-way through a destruction is finished by the next mount", "[destroy]") {
  Scene s;
  MountedVault& v = s.v;
  REQUIRE(::mkdir(v.Path("doomed").c_str(), 0755) == 0);
  std::map<std::string, std::string> content;
  for (int i = 0; i < 6; ++i) {
    const std::string rel = "doomed/f" + std::to_string(i) + ".txt";
    content[rel] = "file " + std::to_string(i) + " " + std::string(5000 * (i + 1), 'z');
    s.MakeFile(rel, content[rel]);
  }
  s.MakeFile("survivor.txt", "stays");
  const std::map<std::string, std::string> tree_before = BackingFiles(v.tree());
  json req = s.Json(MountedVault::Admin(), {"destroy", "request", v.Path("doomed"), "--reason", "end of retention"});
  const std::string id = std::to_string(req["id"].get<int64_t>());
  // The daemon kills itself after overwriting three files.
  SendControl(v.mnt(), {{"cmd", "test.fail-point"}, {"name", "destroy.overwrite"}, {"after", 2}});
  CommandResult approve = s.Run(kAlex, {"destroy", "approve", id});
  CHECK(approve.exit_code != 0);
  v.KillDaemon(SIGKILL);
  REQUIRE(RunCommand({"/usr/bin/fusermount3", "-u", v.mnt()}, std::chrono::seconds(10)).exit_code == 0);
  v.Mount();
  CHECK(Contains(v.DaemonLog(), "Finished destruction request " + id));
  CHECK(s.Json(kAlex, {"destroy", "show", id})["state"] == "done");
  CHECK(StatErrno(v.Path("doomed")) == ENOENT);
  CHECK(ReadFile(v.Path("survivor.txt")).data == "stays");
  json cert = s.Json(kAlex, {"destroy", "certificate", id});
  REQUIRE(cert["certificate"]["files"].size() == 6);
  const std::map<std::string, std::string> tree_after = BackingFiles(v.tree());
  for (const json& f : cert["certificate"]["files"]) {
    const std::string rel = f["path"].get<std::string>().substr(1);
    CHECK(f["size"] == content[rel].size());
    CHECK(f["result"] == "destroyed");
    bool matched = false;
    for (const auto& [backing, bytes] : tree_before) {
      if (HeaderId(bytes) != f["file_id"]) continue;
      matched = true;
      CHECK(f["ciphertext_sha256"] == Sha256Hex(bytes));
      CHECK(tree_after.count(backing) == 0);
    }
    CHECK(matched);
  }
  CHECK(s.Run(kAlex, {"destroy", "certificate", id, "--verify"}).exit_code == 0);
  CHECK(s.Json(kAlex, {"audit", "--op", "destroy.resume"})["records"].size() == 1);
}

}  // namespace
}  // namespace strongroom::test
