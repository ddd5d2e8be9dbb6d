// Retention holds and witnessed requests in the SQLite policy store
// (acl/sqlite_policy.cc, schema 3): stored sealed, sealed with the policy
// (an edited row loads as kIntegrity), state changes only from the states
// they are allowed from; protections in the decision snapshot; the
// certificate's canonical form.
#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <string>
#include <vector>

#include "acl/certificate.h"
#include "acl/decision.h"
#include "acl/policy.h"
#include "acl/store.h"
#include "crypto/primitives.h"
#include "fs/vault_layout.h"
#include "tests/unit/test_util.h"

namespace strongroom::acl {
namespace {

using testing::TempDir;
using Code = Status::Code;

constexpr char kVaultId[] = "00112233445566778899aabbccddeeff";
constexpr Uid kAdmin = 1000, kLead = 1001, kAuditor = 1002;

struct Fixture {
  TempDir dir;
  std::string path = dir.Sub("policy.db");
  crypto::SecretKey key = crypto::SecretKey::Random(64);
  crypto::SecretKey rows = crypto::SecretKey::Random(32);
  std::unique_ptr<Store> store;

  Fixture() { Open(true); }

  void Open(bool create) {
    store.reset();
    Result<std::unique_ptr<Store>> r = create ? CreateSqliteStore(path, kVaultId, &key) : OpenSqliteStore(path, kVaultId, &key);
    INFO(r.status().ToString());
    REQUIRE(r.ok());
    store = std::move(*r);
    store->policy().SetSealer(fs::PolicySealerFor(rows));
    if (create) {
      for (auto [uid, name, role] : {std::tuple{kAdmin, "dora", Role::kAdmin}, std::tuple{kLead, "lena", Role::kStaff},
                                     std::tuple{kAuditor, "alex", Role::kAuditor}}) {
        User u;
        u.uid = uid;
        u.name = name;
        u.role = role;
        u.created_at = 1700000000;
        if (uid != kAdmin) u.created_by = kAdmin;
        REQUIRE(store->policy().AddUser(u).ok());
      }
    }
  }

  ObjectId NewObject(ObjectKind kind = ObjectKind::kFile) {
    ObjectRow row;
    crypto::RandomBytes(row.id);
    row.kind = kind;
    crypto::RandomBytes(row.place.parent);
    crypto::RandomBytes(row.place.name_tag);
    row.wrapped_key.assign(60, 7);
    row.mac.assign(32, 1);
    REQUIRE(store->InsertObject(row).ok());
    return row.id;
  }

  void Exec(const char* sql) {
    store.reset();
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    char* err = nullptr;
    const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
    INFO((err != nullptr ? err : "") << " in " << sql);
    sqlite3_free(err);
    sqlite3_close(db);
    REQUIRE(rc == SQLITE_OK);
    Open(false);
  }
};

Destruction MakeRequest(const ObjectId& dir, const ObjectId& file) {
  Destruction d;
  d.uid = kLead;
  d.reason = "retention ended";
  d.witnesses_needed = 2;
  d.created_at = 1700001000;
  d.items.push_back({0, 0, dir, ObjectKind::kDirectory, "/clients/old", std::nullopt, {}, ItemState::kListed});
  d.items.push_back({1, 0, file, ObjectKind::kFile, "/clients/old/a.txt", std::nullopt, {}, ItemState::kListed});
  return d;
}

TEST_CASE("destruction: requests, witnesses, progress and certificates round-trip, sealed", "[acl][destruction]") {
  Fixture f;
  PolicyStore& ps = f.store->policy();
  const ObjectId dir = f.NewObject(ObjectKind::kDirectory), file = f.NewObject();
  Result<int64_t> id = ps.AddDestruction(MakeRequest(dir, file));
  REQUIRE(id.ok());

  Result<PolicyData> data = ps.LoadPolicy();
  REQUIRE(data.ok());
  REQUIRE(data->frozen.size() == 1);  // the requested folder, not what is below it
  CHECK(data->frozen[0].object == dir);
  CHECK_FALSE(data->frozen[0].executing);
  CHECK(data->witnessed_digest.size() == 32);

  // Not the requester's business here: the store refuses a second witness
  // by the same user and moves only from pending.
  REQUIRE(ps.AddWitness(*id, {kAuditor, 1700001100}, WitnessedState::kPending, std::nullopt).ok());
  CHECK(ps.AddWitness(*id, {kAuditor, 1700001101}, WitnessedState::kExecuting, std::nullopt).code() == Code::kExists);
  REQUIRE(ps.AddWitness(*id, {kAdmin, 1700001200}, WitnessedState::kExecuting, std::nullopt).ok());
  CHECK(ps.CloseDestruction(*id, WitnessedState::kRejected, kAuditor, 1700001300, "no").code() == Code::kExists);

  Result<Destruction> d = ps.GetDestruction(*id, true);
  REQUIRE(d.ok());
  CHECK(d->state == WitnessedState::kExecuting);
  CHECK(d->reason == "retention ended");
  CHECK(d->approved_at == 1700001200);
  REQUIRE(d->witnesses.size() == 2);
  REQUIRE(d->items.size() == 2);
  CHECK(d->items[1].path == "/clients/old/a.txt");
  CHECK(d->items[1].root == 0);

  DestructionItem item = d->items[1];
  item.ciphertext_size = 4173;
  item.sha256.assign(32, 0xab);
  item.state = ItemState::kMeasured;
  REQUIRE(ps.UpdateDestructionItems(*id, {item}).ok());
  REQUIRE(ps.StoreCertificate(*id, "{\"request\":1}", Blob(32, 9), 1700001400).ok());
  REQUIRE(ps.MarkDestructionDone(*id).ok());
  CHECK(ps.MarkDestructionDone(*id).code() == Code::kExists);

  f.Open(false);
  d = f.store->policy().GetDestruction(*id, true);
  REQUIRE(d.ok());
  CHECK(d->state == WitnessedState::kDone);
  CHECK(d->certificate == "{\"request\":1}");
  CHECK(d->items[1].ciphertext_size == 4173u);
  CHECK(d->items[1].state == ItemState::kMeasured);
  data = f.store->policy().LoadPolicy();
  REQUIRE(data.ok());
  CHECK(data->frozen.empty());

  // Nothing in plaintext: not the reason, the path or the certificate.
  f.store.reset();
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(f.path.c_str(), &db) == SQLITE_OK);
  sqlite3_close(db);
  std::string bytes;
  {
    FILE* fp = std::fopen(f.path.c_str(), "rb");
    REQUIRE(fp != nullptr);
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, fp)) > 0) bytes.append(buf, n);
    std::fclose(fp);
  }
  for (const char* plain : {"retention ended", "/clients/old", "\"request\""}) {
    INFO(plain);
    CHECK(bytes.find(plain) == std::string::npos);
  }
}

TEST_CASE("destruction: edited holds, requests, items or the witnesses setting load as kIntegrity", "[acl][destruction]") {
  const char* edits[] = {
      "UPDATE holds SET until = until - 86400",
      "DELETE FROM holds",
      "UPDATE destructions SET state = 3",
      "UPDATE destruction_items SET state = 4",
      "DELETE FROM destruction_witnesses",
      "UPDATE meta SET value = '1' WHERE key = 'setting.witnesses'",
  };
  for (const char* edit : edits) {
    INFO(edit);
    Fixture f;
    const ObjectId dir = f.NewObject(ObjectKind::kDirectory), file = f.NewObject();
    REQUIRE(f.store->policy().SetWitnessesNeeded(3).ok());
    REQUIRE(f.store->policy().PutHold({f.NewObject(ObjectKind::kDirectory), 1900000000, kLead, 1700000500}).ok());
    Result<int64_t> id = f.store->policy().AddDestruction(MakeRequest(dir, file));
    REQUIRE(id.ok());
    REQUIRE(f.store->policy().AddWitness(*id, {kAuditor, 1700001100}, WitnessedState::kPending, std::nullopt).ok());
    REQUIRE(f.store->policy().LoadPolicy().ok());
    f.Exec(edit);
    Result<PolicyData> data = f.store->policy().LoadPolicy();
    CHECK(data.status().code() == Code::kIntegrity);
  }
}

TEST_CASE("destruction: holds and freezes protect the object and what is below it", "[acl][destruction]") {
  Fixture f;
  PolicyStore& ps = f.store->policy();
  const ObjectId root = f.NewObject(ObjectKind::kDirectory), held = f.NewObject(ObjectKind::kDirectory);
  const ObjectId file = f.NewObject(), doomed = f.NewObject(ObjectKind::kDirectory), other = f.NewObject();
  REQUIRE(ps.PutHold({held, 2000, kLead, 1000}).ok());
  Destruction d = MakeRequest(doomed, other);
  REQUIRE(ps.AddDestruction(d).ok());
  Result<PolicyData> data = ps.LoadPolicy();
  REQUIRE(data.ok());
  CHECK(data->witnesses_needed == 1);
  PolicySnapshot snap(std::move(*data), [](const ObjectId&) { return std::optional<ObjectInfo>(); }, 1);
  const std::vector<ObjectId> under_hold{file, held, root}, under_freeze{other, doomed, root}, free_chain{file, root};
  auto p = snap.ProtectionOf(under_hold, 1999);
  REQUIRE(p);
  CHECK(p->kind == Protection::Kind::kHold);
  CHECK(p->until == 2000);
  CHECK_FALSE(snap.ProtectionOf(under_hold, 2001));            // past its date
  CHECK_FALSE(snap.ProtectionOf(under_hold, 1999, false, true));  // freezes only
  p = snap.ProtectionOf(under_freeze, 1999);
  REQUIRE(p);
  CHECK(p->kind == Protection::Kind::kFrozen);
  CHECK_FALSE(snap.ProtectionOf(under_freeze, 1999, true, false));
  CHECK_FALSE(snap.ProtectionOf(free_chain, 1999));
  REQUIRE(ps.DeleteHold(held).ok());
  CHECK(ps.DeleteHold(held).code() == Code::kNotFound);
  CHECK(ps.SetWitnessesNeeded(0).code() == Code::kInvalid);
  CHECK(ps.SetWitnessesNeeded(kMaxWitnesses + 1).code() == Code::kInvalid);
}

TEST_CASE("destruction: a release approved drops its hold in the same transaction", "[acl][destruction]") {
  Fixture f;
  PolicyStore& ps = f.store->policy();
  const ObjectId held = f.NewObject(ObjectKind::kDirectory);
  REQUIRE(ps.PutHold({held, 2000000000, kLead, 1000}).ok());
  Destruction d;
  d.kind = WitnessedKind::kRelease;
  d.uid = kLead;
  d.reason = "case closed";
  d.created_at = 1500;
  d.hold_until = 2000000000;
  d.items.push_back({0, 0, held, ObjectKind::kDirectory, "/records", std::nullopt, {}, ItemState::kListed});
  Result<int64_t> id = ps.AddDestruction(d);
  REQUIRE(id.ok());
  CHECK(ps.LoadPolicy()->frozen.empty());  // a release freezes nothing
  REQUIRE(ps.AddWitness(*id, {kAuditor, 1600}, WitnessedState::kDone, held).ok());
  CHECK(ps.LoadPolicy()->holds.empty());
  CHECK(ps.GetDestruction(*id, false)->state == WitnessedState::kDone);
}

TEST_CASE("destruction: a sealed version-3 store keeps its seal after the migration to version 4",
          "[acl][destruction][migrate]") {
  Fixture f;
  const ObjectId object = f.NewObject(ObjectKind::kDirectory);
  Grant g;
  g.object = object;
  g.subject.user = kLead;
  g.mode = Mode::kWrite;
  g.granted_by = kAdmin;
  g.granted_at = 1700000100;
  REQUIRE(f.store->policy().PutGrant(g).ok());
  REQUIRE(f.store->policy().LoadPolicy().ok());
  f.Exec("DROP TABLE destruction_witnesses; DROP TABLE destruction_items; DROP TABLE destructions; "
         "DROP TABLE holds; UPDATE meta SET value = '3' WHERE key = 'schema_version'");
  CHECK(*f.store->GetMeta("schema_version") == "4");
  Result<PolicyData> data = f.store->policy().LoadPolicy();
  INFO(data.status().ToString());
  REQUIRE(data.ok());  // the seal of the version-3 policy still verifies
  CHECK(data->witnessed_digest.empty());
  CHECK(data->grants.size() == 1);
}

TEST_CASE("destruction: a certificate's canonical form ignores layout and escapes non-ASCII", "[acl][destruction]") {
  const nlohmann::json a = nlohmann::json::parse(R"({"b": 1, "a": "Zoë", "c": [1, 2]})");
  const nlohmann::json b = nlohmann::json::parse("{\"c\":[1,2],\n  \"a\":\"Zo\\u00eb\",\"b\":1}");
  CHECK(CanonicalCertificate(a) == CanonicalCertificate(b));
  CHECK(CanonicalCertificate(a) == R"({"a":"Zo\u00eb","b":1,"c":[1,2]})");
  CHECK(CertificateDigestHex(CanonicalCertificate(a)).size() == 64);
  const crypto::SecretKey k = CertificateMacKey(crypto::SecretKey::Random(32));
  CHECK(CertificateMac(k, "x") != CertificateMac(k, "y"));
  CHECK(CertificateAuditOp("ab") == "destroy.certificate:ab");
}

}  // namespace
}  // namespace strongroom::acl
