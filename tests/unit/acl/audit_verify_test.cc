// acl/audit_verify.h against synthetic audit databases: the schema of
// docs/audit.md filled with records chained by crypto::audit::NextLink, the
// key evolving every 256 records, then edited, deleted, inserted, reordered
// and truncated the way someone with write access to the file could.
#include <catch2/catch.hpp>
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "acl/audit_verify.h"
#include "crypto/audit_chain.h"
#include "crypto/primitives.h"
#include "tests/unit/test_util.h"

namespace strongroom::acl {
namespace {

using crypto::Bytes;
using crypto::SecretKey;
using crypto::audit::Link;
using crypto::audit::RecordFields;

constexpr uint64_t kRecordsPerEpoch = 256;

constexpr char kSchema[] = R"sql(
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
CREATE TABLE records (
  seq      INTEGER PRIMARY KEY,
  epoch    INTEGER NOT NULL,
  time_us  INTEGER NOT NULL,
  uid      INTEGER NOT NULL,
  pid      INTEGER NOT NULL,
  op       TEXT NOT NULL,
  result   INTEGER NOT NULL,
  count    INTEGER NOT NULL,
  user_tag BLOB NOT NULL,
  path_tag BLOB NOT NULL,
  sealed   BLOB NOT NULL,
  link     BLOB NOT NULL
) STRICT;
CREATE INDEX records_by_time ON records (time_us);
CREATE INDEX records_by_user ON records (user_tag, time_us);
CREATE TABLE record_prefixes (
  prefix_tag BLOB NOT NULL,
  seq        INTEGER NOT NULL,
  PRIMARY KEY (prefix_tag, seq)
) STRICT, WITHOUT ROWID;
)sql";

constexpr char kInsert[] =
    "INSERT INTO records (seq, epoch, time_us, uid, pid, op, result, count, user_tag, path_tag, sealed, link) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";

// Plausible, varied field values for record `seq` (the content does not
// matter to the chain, only that every field is covered).
RecordFields MakeRecord(uint64_t seq) {
  static const char* const kOps[] = {"open", "create", "rename", "unlink", "policy.grant", "setattr"};
  RecordFields r;
  r.seq = seq;
  r.epoch = (seq - 1) / kRecordsPerEpoch;
  r.time_us = 1'700'000'000'000'000 + static_cast<int64_t>(seq) * 1000;
  r.uid = 1000 + static_cast<uint32_t>(seq % 5);
  r.pid = 100 + static_cast<int32_t>(seq % 300);
  r.op = kOps[seq % 6];
  r.result = seq % 7 == 0 ? 13 : 0;
  r.count = seq % 11 == 0 ? 3 : 1;
  r.user_tag = Bytes(16, static_cast<uint8_t>(seq % 5));
  if (seq % 3 != 0) r.path_tag = Bytes(16, static_cast<uint8_t>(seq * 31));
  r.sealed = Bytes(48);
  for (size_t i = 0; i < r.sealed.size(); ++i) r.sealed[i] = static_cast<uint8_t>(seq * 131 + i * 7);
  return r;
}

// A writable audit database as the daemon would leave it (WAL, normal
// locking), kept open while the tests verify it, plus raw edits.
class AuditDb {
 public:
  explicit AuditDb(const std::string& path, const SecretKey& k0) : path_(path), key_(k0.Clone()) {
    REQUIRE(sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) == SQLITE_OK);
    Exec("PRAGMA journal_mode=WAL");
    Exec("PRAGMA synchronous=OFF");
    Exec(kSchema);
  }
  ~AuditDb() { sqlite3_close_v2(db_); }
  AuditDb(const AuditDb&) = delete;
  AuditDb& operator=(const AuditDb&) = delete;

  const std::string& path() const { return path_; }
  sqlite3* handle() { return db_; }

  void Exec(const std::string& sql) {
    char* err = nullptr;
    const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
    const std::string message = err != nullptr ? err : "";
    sqlite3_free(err);
    if (rc != SQLITE_OK) FAIL("SQL failed: " << sql << ": " << message);
  }

  // Appends `n` records in one transaction, as the daemon would: the key
  // moves to the next epoch every kRecordsPerEpoch records.
  void Append(uint64_t n) {
    Exec("BEGIN");
    sqlite3_stmt* s = nullptr;
    REQUIRE(sqlite3_prepare_v2(db_, kInsert, -1, &s, nullptr) == SQLITE_OK);
    for (uint64_t i = 0; i < n; ++i) {
      const RecordFields r = MakeRecord(next_seq_++);
      if (r.epoch != epoch_) {
        key_ = crypto::audit::EvolveTo(key_, epoch_, r.epoch);
        epoch_ = r.epoch;
      }
      last_ = crypto::audit::NextLink(key_, last_, r);
      links_.push_back(last_);
      Insert(s, r, last_);
    }
    sqlite3_finalize(s);
    Exec("COMMIT");
  }

  // Inserts one record as given (for forgeries).
  void InsertRaw(const RecordFields& r, const Link& link) {
    sqlite3_stmt* s = nullptr;
    REQUIRE(sqlite3_prepare_v2(db_, kInsert, -1, &s, nullptr) == SQLITE_OK);
    Insert(s, r, link);
    sqlite3_finalize(s);
  }

  Bytes GetBlob(uint64_t seq, const std::string& column) {
    sqlite3_stmt* s = nullptr;
    const std::string sql = "SELECT " + column + " FROM records WHERE seq = ?1";
    REQUIRE(sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr) == SQLITE_OK);
    sqlite3_bind_int64(s, 1, static_cast<int64_t>(seq));
    REQUIRE(sqlite3_step(s) == SQLITE_ROW);
    const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(s, 0));
    Bytes out(p, p + sqlite3_column_bytes(s, 0));
    sqlite3_finalize(s);
    return out;
  }

  void SetBlob(uint64_t seq, const std::string& column, const Bytes& value) {
    sqlite3_stmt* s = nullptr;
    const std::string sql = "UPDATE records SET " + column + " = ?1 WHERE seq = ?2";
    REQUIRE(sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr) == SQLITE_OK);
    sqlite3_bind_blob(s, 1, value.empty() ? "" : static_cast<const void*>(value.data()),
                      static_cast<int>(value.size()), SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, static_cast<int64_t>(seq));
    REQUIRE(sqlite3_step(s) == SQLITE_DONE);
    REQUIRE(sqlite3_changes(db_) == 1);
    sqlite3_finalize(s);
  }

  // link of record `seq` as written (1-based).
  const Link& LinkOf(uint64_t seq) const { return links_.at(seq - 1); }

 private:
  static void BindBlob(sqlite3_stmt* s, int i, const Bytes& b) {
    sqlite3_bind_blob(s, i, b.empty() ? "" : static_cast<const void*>(b.data()), static_cast<int>(b.size()),
                      SQLITE_TRANSIENT);
  }
  void Insert(sqlite3_stmt* s, const RecordFields& r, const Link& link) {
    sqlite3_bind_int64(s, 1, static_cast<int64_t>(r.seq));
    sqlite3_bind_int64(s, 2, static_cast<int64_t>(r.epoch));
    sqlite3_bind_int64(s, 3, r.time_us);
    sqlite3_bind_int64(s, 4, r.uid);
    sqlite3_bind_int64(s, 5, r.pid);
    sqlite3_bind_text(s, 6, r.op.data(), static_cast<int>(r.op.size()), SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 7, r.result);
    sqlite3_bind_int64(s, 8, r.count);
    BindBlob(s, 9, r.user_tag);
    BindBlob(s, 10, r.path_tag);
    BindBlob(s, 11, r.sealed);
    sqlite3_bind_blob(s, 12, link.data(), static_cast<int>(link.size()), SQLITE_TRANSIENT);
    REQUIRE(sqlite3_step(s) == SQLITE_DONE);
    sqlite3_reset(s);
  }

  std::string path_;
  sqlite3* db_ = nullptr;
  SecretKey key_;  // the current epoch's
  uint64_t epoch_ = 0;
  uint64_t next_seq_ = 1;
  Link last_{};
  std::vector<Link> links_;
};

AuditVerifyReport Verify(const AuditDb& db, const SecretKey& k0, const std::optional<AuditSeal>& seal = {}) {
  const Result<AuditVerifyReport> r = VerifyAuditLog(db.path(), k0, seal);
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  return *r;
}

// A log of 1000 records in epochs 0..3, its K_0, and the database open.
struct Fixture {
  testing::TempDir dir;
  SecretKey k0 = SecretKey::Random(32);
  AuditDb db{dir.Sub("strongroom-audit.db"), k0};
  Fixture() { db.Append(1000); }
};

void RequireFailsAt(const AuditVerifyReport& r, uint64_t seq) {
  INFO("problem: " << r.problem);
  REQUIRE_FALSE(r.ok);
  CHECK(r.first_bad_seq == seq);
  CHECK(r.records == seq - 1);
  CHECK(r.problem.find("record " + std::to_string(seq)) != std::string::npos);
  CHECK(r.problem.find('\n') == std::string::npos);
}

TEST_CASE("audit verify: an intact log passes, records and epochs counted", "[audit][verify]") {
  Fixture f;
  const AuditVerifyReport r = Verify(f.db, f.k0);
  CHECK(r.ok);
  CHECK(r.records == 1000);
  CHECK(r.epochs == 4);  // 1..256, 257..512, 513..768, 769..1000
  CHECK(r.problem.empty());
  CHECK(r.first_bad_seq == 0);

  // Seals at the end, at an epoch boundary and at the first record.
  for (const uint64_t n : {1000u, 256u, 1u}) {
    INFO("seal " << n);
    CHECK(Verify(f.db, f.k0, AuditSeal{n, f.db.LinkOf(n)}).ok);
  }
}

TEST_CASE("audit verify: an edit of any stored field names the record", "[audit][verify]") {
  struct Edit {
    const char* what;
    std::function<void(AuditDb&)> apply;
  };
  auto flip = [](const char* column, size_t byte) {
    return [column, byte](AuditDb& db) {
      Bytes b = db.GetBlob(500, column);
      b.at(byte) ^= 0x01;
      db.SetBlob(500, column, b);
    };
  };
  const std::vector<Edit> edits = {
      {"op", [](AuditDb& db) { db.Exec("UPDATE records SET op = 'rmdir' WHERE seq = 500"); }},
      {"uid", [](AuditDb& db) { db.Exec("UPDATE records SET uid = 0 WHERE seq = 500"); }},
      {"pid", [](AuditDb& db) { db.Exec("UPDATE records SET pid = pid + 1 WHERE seq = 500"); }},
      {"time", [](AuditDb& db) { db.Exec("UPDATE records SET time_us = time_us - 1 WHERE seq = 500"); }},
      {"result", [](AuditDb& db) { db.Exec("UPDATE records SET result = 13 WHERE seq = 500"); }},
      {"count", [](AuditDb& db) { db.Exec("UPDATE records SET count = count + 1 WHERE seq = 500"); }},
      {"epoch up", [](AuditDb& db) { db.Exec("UPDATE records SET epoch = epoch + 1 WHERE seq = 500"); }},
      {"epoch down", [](AuditDb& db) { db.Exec("UPDATE records SET epoch = 0 WHERE seq = 500"); }},
      {"epoch far", [](AuditDb& db) { db.Exec("UPDATE records SET epoch = 1 << 62 WHERE seq = 500"); }},
      {"uid out of range", [](AuditDb& db) { db.Exec("UPDATE records SET uid = 1 << 40 WHERE seq = 500"); }},
      {"user_tag", flip("user_tag", 3)},
      {"path_tag emptied", [](AuditDb& db) { db.SetBlob(500, "path_tag", {}); }},
      {"sealed byte", flip("sealed", 20)},
      {"link", flip("link", 31)},
      {"link shortened",
       [](AuditDb& db) {
         Bytes b = db.GetBlob(500, "link");
         b.pop_back();
         db.SetBlob(500, "link", b);
       }},
  };
  for (const Edit& e : edits) {
    DYNAMIC_SECTION(e.what) {
      Fixture f;
      e.apply(f.db);
      const AuditVerifyReport r = Verify(f.db, f.k0);
      RequireFailsAt(r, 500);
      CHECK(r.problem.find("edited") != std::string::npos);
    }
  }
}

TEST_CASE("audit verify: a deleted record is missing", "[audit][verify]") {
  Fixture f;
  f.db.Exec("DELETE FROM records WHERE seq = 500");
  const AuditVerifyReport r = Verify(f.db, f.k0);
  RequireFailsAt(r, 500);
  CHECK(r.problem == "record 500 is missing (deleted, or 501 inserted/reordered)");

  Fixture g;
  g.db.Exec("DELETE FROM records WHERE seq = 1");
  RequireFailsAt(Verify(g.db, g.k0), 1);
}

TEST_CASE("audit verify: inserted or renumbered records fail", "[audit][verify]") {
  SECTION("two records' numbers swapped") {
    Fixture f;
    f.db.Exec("UPDATE records SET seq = 100000 WHERE seq = 10");
    f.db.Exec("UPDATE records SET seq = 10 WHERE seq = 20");
    f.db.Exec("UPDATE records SET seq = 20 WHERE seq = 100000");
    RequireFailsAt(Verify(f.db, f.k0), 10);
  }
  SECTION("a forged record appended with a wrong link") {
    Fixture f;
    RecordFields forged = MakeRecord(1001);
    Link link = f.db.LinkOf(1000);
    link[0] ^= 1;
    f.db.InsertRaw(forged, link);
    RequireFailsAt(Verify(f.db, f.k0), 1001);
  }
  SECTION("a forged record appended, chained with a key from the wrong epoch") {
    Fixture f;
    const SecretKey wrong = crypto::audit::EvolveTo(f.k0, 0, 4);  // record 1001 belongs to epoch 3
    RecordFields forged = MakeRecord(1001);
    f.db.InsertRaw(forged, crypto::audit::NextLink(wrong, f.db.LinkOf(1000), forged));
    RequireFailsAt(Verify(f.db, f.k0), 1001);
  }
  SECTION("a record inserted in the middle, the rest renumbered") {
    Fixture f;
    f.db.Exec("UPDATE records SET seq = seq + 100000 WHERE seq >= 500");
    f.db.Exec("UPDATE records SET seq = seq - 100000 + 1 WHERE seq >= 100000");
    RecordFields forged = MakeRecord(500);
    forged.op = "open";
    f.db.InsertRaw(forged, f.db.LinkOf(500));
    RequireFailsAt(Verify(f.db, f.k0), 500);
  }
  SECTION("a record inserted with a number past a gap") {
    Fixture f;
    f.db.InsertRaw(MakeRecord(1002), f.db.LinkOf(1000));
    const AuditVerifyReport r = Verify(f.db, f.k0);
    RequireFailsAt(r, 1001);
    CHECK(r.problem == "record 1001 is missing (deleted, or 1002 inserted/reordered)");
  }
}

TEST_CASE("audit verify: two records' contents swapped fail at the first", "[audit][verify]") {
  Fixture f;
  const char* const kSwap =
      "UPDATE records SET (epoch, time_us, uid, pid, op, result, count, user_tag, path_tag, sealed, link) = "
      "(SELECT epoch, time_us, uid, pid, op, result, count, user_tag, path_tag, sealed, link FROM records AS o "
      " WHERE o.seq = 21 - records.seq) WHERE seq IN (10, 11)";
  f.db.Exec(kSwap);
  REQUIRE(f.db.GetBlob(10, "link") == Bytes(f.db.LinkOf(11).begin(), f.db.LinkOf(11).end()));
  RequireFailsAt(Verify(f.db, f.k0), 10);
}

TEST_CASE("audit verify: a truncated tail passes alone but not against a seal", "[audit][verify]") {
  Fixture f;
  f.db.Exec("DELETE FROM records WHERE seq >= 900");
  const AuditVerifyReport alone = Verify(f.db, f.k0);
  CHECK(alone.ok);
  CHECK(alone.records == 899);

  const AuditVerifyReport sealed = Verify(f.db, f.k0, AuditSeal{1000, f.db.LinkOf(1000)});
  REQUIRE_FALSE(sealed.ok);
  CHECK(sealed.problem == "the log ends at record 899 but the seal names record 1000: its tail was truncated");
  CHECK(sealed.first_bad_seq == 900);
  CHECK(sealed.records == 899);

  // A seal inside what is left still passes.
  CHECK(Verify(f.db, f.k0, AuditSeal{768, f.db.LinkOf(768)}).ok);
}

TEST_CASE("audit verify: a record that does not match the seal", "[audit][verify]") {
  Fixture f;
  Link digest = f.db.LinkOf(768);
  digest[5] ^= 0x40;
  const AuditVerifyReport r = Verify(f.db, f.k0, AuditSeal{768, digest});
  REQUIRE_FALSE(r.ok);
  CHECK(r.problem == "record 768 does not match the seal");
  CHECK(r.first_bad_seq == 768);
  // The seal of another record is not this one's.
  CHECK_FALSE(Verify(f.db, f.k0, AuditSeal{768, f.db.LinkOf(767)}).ok);
}

TEST_CASE("audit verify: only the log's own K_0 verifies it", "[audit][verify]") {
  Fixture f;
  SECTION("a key derived from something else") {
    const SecretKey other = crypto::Hkdf(SecretKey::Random(32), "strongroom/v1/audit", 32);
    const AuditVerifyReport r = Verify(f.db, other);
    RequireFailsAt(r, 1);
    CHECK(r.problem.find("key") != std::string::npos);
  }
  SECTION("the key of a later epoch (what the daemon holds)") {
    RequireFailsAt(Verify(f.db, crypto::audit::Evolve(f.k0)), 1);
    RequireFailsAt(Verify(f.db, crypto::audit::EvolveTo(f.k0, 0, 3)), 1);
  }
  SECTION("a key of the wrong size") {
    const Result<AuditVerifyReport> r = VerifyAuditLog(f.db.path(), SecretKey::Random(16), std::nullopt);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Status::Code::kInvalid);
  }
}

TEST_CASE("audit verify: an empty log passes only without a seal", "[audit][verify]") {
  testing::TempDir dir;
  const SecretKey k0 = SecretKey::Random(32);
  AuditDb db(dir.Sub("a.db"), k0);
  const AuditVerifyReport r = Verify(db, k0);
  CHECK(r.ok);
  CHECK(r.records == 0);
  CHECK(r.epochs == 0);
  const AuditVerifyReport sealed = Verify(db, k0, AuditSeal{5, Link{}});
  REQUIRE_FALSE(sealed.ok);
  CHECK(sealed.problem == "the log is empty but the seal names record 5: it was truncated");
}

TEST_CASE("audit verify: reads a committed snapshot while a writer holds a transaction", "[audit][verify]") {
  Fixture f;
  f.db.Exec("BEGIN IMMEDIATE");
  f.db.Exec("DELETE FROM records WHERE seq = 3");  // not committed: invisible to the verifier
  const AuditVerifyReport r = Verify(f.db, f.k0);
  CHECK(r.ok);
  CHECK(r.records == 1000);
  f.db.Exec("ROLLBACK");
}

TEST_CASE("audit verify: a missing or foreign database is an error, not a verdict", "[audit][verify]") {
  testing::TempDir dir;
  const SecretKey k0 = SecretKey::Random(32);

  const Result<AuditVerifyReport> missing = VerifyAuditLog(dir.Sub("none.db"), k0, std::nullopt);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == Status::Code::kNotFound);

  testing::WriteAll(dir.Sub("garbage.db"), testing::ToBytes("this is not a database at all, not at all"));
  const Result<AuditVerifyReport> garbage = VerifyAuditLog(dir.Sub("garbage.db"), k0, std::nullopt);
  REQUIRE_FALSE(garbage.ok());
  CHECK(garbage.status().code() == Status::Code::kIntegrity);

  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(dir.Sub("other.db").c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, "CREATE TABLE t (x INTEGER)", nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  const Result<AuditVerifyReport> other = VerifyAuditLog(dir.Sub("other.db"), k0, std::nullopt);
  REQUIRE_FALSE(other.ok());
  CHECK(other.status().code() == Status::Code::kIntegrity);

  REQUIRE(::symlink(dir.Sub("other.db").c_str(), dir.Sub("link.db").c_str()) == 0);
  const Result<AuditVerifyReport> link = VerifyAuditLog(dir.Sub("link.db"), k0, std::nullopt);
  REQUIRE_FALSE(link.ok());
  CHECK(link.status().code() == Status::Code::kIntegrity);

  // A file cut short in the middle of its pages.
  Fixture f;
  f.db.Exec("PRAGMA wal_checkpoint(TRUNCATE)");
  Bytes bytes = testing::ReadAll(f.db.path());
  REQUIRE(bytes.size() > 8192);
  bytes.resize(bytes.size() / 2);
  testing::WriteAll(dir.Sub("cut.db"), bytes);
  const Result<AuditVerifyReport> cut = VerifyAuditLog(dir.Sub("cut.db"), f.k0, std::nullopt);
  INFO(cut.status().ToString());
  REQUIRE_FALSE(cut.ok());
  CHECK(cut.status().code() == Status::Code::kIntegrity);
}

TEST_CASE("audit verify: a million records", "[audit][verify][million]") {
  testing::TempDir dir;
  const SecretKey k0 = SecretKey::Random(32);
  AuditDb db(dir.Sub("big.db"), k0);
  const auto t0 = std::chrono::steady_clock::now();
  db.Append(1'000'000);
  const auto t1 = std::chrono::steady_clock::now();
  const AuditVerifyReport r = Verify(db, k0, AuditSeal{1'000'000, db.LinkOf(1'000'000)});
  const auto t2 = std::chrono::steady_clock::now();
  using ms = std::chrono::milliseconds;
  WARN("generated 1,000,000 records in " << std::chrono::duration_cast<ms>(t1 - t0).count() << " ms, verified in "
                                         << std::chrono::duration_cast<ms>(t2 - t1).count() << " ms");
  CHECK(r.ok);
  CHECK(r.records == 1'000'000);
  CHECK(r.epochs == (1'000'000 + kRecordsPerEpoch - 1) / kRecordsPerEpoch);
}

}  // namespace
}  // namespace strongroom::acl
