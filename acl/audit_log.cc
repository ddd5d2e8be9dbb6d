// The audit log's SQLite database (docs/audit.md): a writer thread commits
// queued records in batches (group commit), chaining each to the last.
#include "acl/audit_log.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <utility>

#include "acl/sqlite_db.h"
#include "crypto/primitives.h"

namespace strongroom::acl {
namespace {

using sqlite::Db;
using sqlite::Stmt;

constexpr int kAuditSchemaVersion = 1;

constexpr const char* kAuditSchema = R"sql(
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
CREATE INDEX records_by_user ON records (user_tag, seq);
CREATE INDEX records_by_op ON records (op, seq);
CREATE INDEX records_denied ON records (seq) WHERE result <> 0;
CREATE TABLE record_prefixes (
  prefix_tag BLOB NOT NULL,
  seq        INTEGER NOT NULL,
  PRIMARY KEY (prefix_tag, seq)
) STRICT, WITHOUT ROWID;
)sql";

constexpr const char* kInsertRecord =
    "INSERT INTO records (seq, epoch, time_us, uid, pid, op, result, count, user_tag, path_tag, sealed, link) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";
constexpr const char* kInsertPrefix = "INSERT OR IGNORE INTO record_prefixes (prefix_tag, seq) VALUES (?1, ?2)";
constexpr const char* kGetMeta = "SELECT value FROM meta WHERE key = ?1";
constexpr const char* kLastRecord = "SELECT seq, link FROM records ORDER BY seq DESC LIMIT 1";
constexpr const char* kSetMeta =
    "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value";

constexpr std::string_view kEpochKeyAad = "strongroom/v1/audit-epoch-key";
constexpr std::string_view kSealedAad = "strongroom/v1/audit-sealed";

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

crypto::Bytes Tag(const crypto::SecretKey& key, std::string_view kind, std::string_view text) {
  if (text.empty()) return {};
  std::string data(kind);
  data.push_back('\0');
  data.append(text);
  uint8_t mac[32];
  crypto::HmacSha256(key.span(), crypto::AsBytes(data), mac);
  return crypto::Bytes(mac, mac + 16);
}

crypto::Bytes SealText(const crypto::SecretKey& key, const std::string& plain) {
  crypto::Bytes out(crypto::gcm::kNonceSize + plain.size() + crypto::gcm::kTagSize);
  crypto::RandomBytes({out.data(), crypto::gcm::kNonceSize});
  crypto::gcm::Seal(key.span(), {out.data(), crypto::gcm::kNonceSize}, crypto::AsBytes(kSealedAad),
                    crypto::AsBytes(plain), out.data() + crypto::gcm::kNonceSize,
                    out.data() + crypto::gcm::kNonceSize + plain.size());
  return out;
}

std::optional<std::string> OpenText(const crypto::SecretKey& key, std::span<const uint8_t> sealed) {
  if (sealed.size() < crypto::gcm::kNonceSize + crypto::gcm::kTagSize) return std::nullopt;
  const size_t n = sealed.size() - crypto::gcm::kNonceSize - crypto::gcm::kTagSize;
  std::string plain(n, '\0');
  if (!crypto::gcm::Open(key.span(), sealed.first(crypto::gcm::kNonceSize), crypto::AsBytes(kSealedAad),
                         sealed.subspan(crypto::gcm::kNonceSize, n), sealed.last(crypto::gcm::kTagSize),
                         reinterpret_cast<uint8_t*>(plain.data()))) {
    return std::nullopt;
  }
  return plain;
}

// What JSON can carry: valid UTF-8, as nlohmann::json checks it.
bool ValidUtf8(const std::string& s) {
  try {
    (void)nlohmann::json(s).dump();
    return true;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

// The text fields as JSON; a field that is not valid UTF-8 (a file name can
// be any bytes) is kept exactly, in hex, under "<name>_hex".
std::string SealedJson(const AuditEntry& e) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [name, value] : {std::pair<const char*, const std::string*>{"user", &e.user},
                                    {"exe", &e.exe}, {"path", &e.path}, {"path2", &e.path2},
                                    {"access", &e.access}, {"reason", &e.reason}}) {
    if (ValidUtf8(*value)) {
      j[name] = *value;
    } else {
      j[std::string(name) + "_hex"] = crypto::HexEncode(crypto::AsBytes(*value));
    }
  }
  return j.dump();
}

std::string FieldOf(const nlohmann::json& j, const std::string& name) {
  if (auto it = j.find(name); it != j.end() && it->is_string()) return it->get<std::string>();
  if (auto it = j.find(name + "_hex"); it != j.end() && it->is_string()) {
    crypto::Bytes raw;
    if (crypto::HexDecode(it->get<std::string>(), &raw)) return std::string(raw.begin(), raw.end());
  }
  return {};
}

// Every prefix of a vault path: "/a/b" -> "/a", "/a/b".
std::vector<std::string> Prefixes(const std::string& path) {
  std::vector<std::string> out;
  for (size_t i = 1; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') out.push_back(path.substr(0, i));
  }
  return out;
}


// The stored fields of record `seq` of `epoch` (text sealed, tags keyed).
crypto::audit::RecordFields FieldsOf(const AuditKeys& keys, uint64_t seq, uint64_t epoch, const AuditEntry& e) {
  crypto::audit::RecordFields f;
  f.seq = seq;
  f.epoch = epoch;
  f.time_us = e.time_us;
  f.uid = e.uid;
  f.pid = e.pid;
  f.op = e.op;
  f.result = e.result;
  f.count = e.count;
  f.user_tag = Tag(keys.index, "user", e.user);
  f.path_tag = Tag(keys.index, "path", e.path);
  f.sealed = SealText(keys.content, SealedJson(e));
  return f;
}

// Inserts a record and the prefixes it is found under.
Status InsertRecord(Db& db, const crypto::SecretKey& index_key, const crypto::audit::RecordFields& f,
                  const crypto::audit::Link& link, const std::string& path, const std::string& path2) {
  Stmt s(db, kInsertRecord);
  if (!s.ok()) return Status::Io(EIO, "audit log: damaged schema");
  s.Bind(1, static_cast<int64_t>(f.seq));
  s.Bind(2, static_cast<int64_t>(f.epoch));
  s.Bind(3, f.time_us);
  s.Bind(4, f.uid);
  s.Bind(5, f.pid);
  s.BindText(6, f.op);
  s.Bind(7, f.result);
  s.Bind(8, f.count);
  s.BindBlob(9, f.user_tag);
  s.BindBlob(10, f.path_tag);
  s.BindBlob(11, f.sealed);
  s.BindBlob(12, link);
  int rc = s.Step();
  if (rc != SQLITE_DONE) return sqlite::StepStatus(rc, "audit log: insert");
  // A record is found under its path and under a rename's destination.
  std::vector<std::string> prefixes;
  for (const std::string* p : {&path, &path2}) {
    if (p->empty() || (*p)[0] != '/') continue;
    for (std::string& prefix : Prefixes(*p)) prefixes.push_back(std::move(prefix));
  }
  {
    for (const std::string& prefix : prefixes) {
      Stmt p(db, kInsertPrefix);
      if (!p.ok()) return Status::Io(EIO, "audit log: damaged schema");
      p.BindBlob(1, Tag(index_key, "path", prefix));
      p.Bind(2, static_cast<int64_t>(f.seq));
      rc = p.Step();
      if (rc != SQLITE_DONE) return sqlite::StepStatus(rc, "audit log: insert prefix");
    }
  }
  return Status::Ok();
}

// The chain's state, as kept in `meta`.
struct ChainState {
  uint64_t last_seq = 0;
  crypto::audit::Link last_link{};
  uint64_t epoch = 0;
  uint64_t epoch_start = 1;  // the first record of the current epoch
  uint64_t epoch_records() const { return last_seq + 1 - epoch_start; }
  crypto::SecretKey key;  // K_epoch
};

class SqliteAuditLog final : public AuditLog {
 public:
  SqliteAuditLog(std::unique_ptr<Db> db, AuditKeys keys, ChainState state)
      : db_(std::move(db)), keys_(std::move(keys)), state_(std::move(state)) {
    writer_ = std::thread([this] { WriterLoop(); });
  }

  ~SqliteAuditLog() override {
    (void)Flush();
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    writer_.join();
    std::lock_guard db_lock(db_->mu());
    (void)db_->Exec("PRAGMA wal_checkpoint(TRUNCATE)");
  }

  Status Append(AuditEntry entry) override {
    std::unique_lock lock(mu_);
    const uint64_t ticket = Enqueue(std::move(entry));
    // Group commit: the first waiter commits everything queued (its own
    // record and any that arrived meanwhile); the others wait for it. The
    // caller commits in its own thread: no hand-off to the writer.
    while (committed_ < ticket) {
      if (!committing_) {
        CommitQueuedLocked(lock);
      } else {
        done_cv_.wait(lock);
      }
    }
    auto it = failed_.find(ticket);
    if (it != failed_.end()) {
      Status st = it->second;
      failed_.erase(it);
      return st;
    }
    return Status::Ok();
  }

  void AppendAsync(AuditEntry entry) override {
    std::lock_guard lock(mu_);
    Enqueue(std::move(entry), /*report=*/false);
    cv_.notify_all();
  }

  Status Flush() override {
    std::unique_lock lock(mu_);
    const uint64_t ticket = next_ticket_;
    while (committed_ < ticket) {
      if (!committing_ && !queue_.empty()) {
        CommitQueuedLocked(lock);
      } else {
        done_cv_.wait(lock);
      }
    }
    // Queued records that could not be written since the last Flush.
    if (std::exchange(queued_lost_, false)) return Status::Io(EIO, "queued audit records could not be written");
    return Status::Ok();
  }

  Result<std::vector<AuditRecord>> Query(const AuditQuery& q) override {
    std::string sql =
        "SELECT r.seq, r.epoch, r.time_us, r.uid, r.pid, r.op, r.result, r.count, r.sealed FROM records r";
    std::vector<std::function<void(sqlite3_stmt*, int)>> binds;
    std::vector<std::string> where;
    crypto::Bytes prefix_tag, user_tag;
    if (q.path_prefix && *q.path_prefix != "/") {
      sql += " JOIN record_prefixes p ON p.seq = r.seq";
      prefix_tag = Tag(keys_.index, "path", *q.path_prefix);
      where.push_back("p.prefix_tag = ?");
      binds.push_back([&prefix_tag](sqlite3_stmt* s, int i) {
        sqlite3_bind_blob(s, i, prefix_tag.data(), static_cast<int>(prefix_tag.size()), SQLITE_TRANSIENT);
      });
    }
    if (q.user) {
      user_tag = Tag(keys_.index, "user", *q.user);
      where.push_back("r.user_tag = ?");
      binds.push_back([&user_tag](sqlite3_stmt* s, int i) {
        sqlite3_bind_blob(s, i, user_tag.data(), static_cast<int>(user_tag.size()), SQLITE_TRANSIENT);
      });
    }
    if (q.since_us) {
      where.push_back("r.time_us >= ?");
      binds.push_back([v = *q.since_us](sqlite3_stmt* s, int i) { sqlite3_bind_int64(s, i, v); });
    }
    if (q.until_us) {
      where.push_back("r.time_us <= ?");
      binds.push_back([v = *q.until_us](sqlite3_stmt* s, int i) { sqlite3_bind_int64(s, i, v); });
    }
    if (q.op) {
      where.push_back("r.op = ?");
      binds.push_back([v = *q.op](sqlite3_stmt* s, int i) {
        sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
      });
    }
    if (q.denied) where.push_back("r.result <> 0");
    for (size_t i = 0; i < where.size(); ++i) sql += (i == 0 ? " WHERE " : " AND ") + where[i];
    // Newest first, in an order an index gives without sorting: the prefix
    // table's (tag, seq) key when filtering by path, the time index when
    // filtering by time alone, else the records' own order.
    if (q.path_prefix && *q.path_prefix != "/") {
      sql += " ORDER BY p.seq DESC LIMIT ?";
    } else if ((q.since_us || q.until_us) && !q.user && !q.op && !q.denied) {
      sql += " ORDER BY r.time_us DESC, r.seq DESC LIMIT ?";
    } else {
      sql += " ORDER BY r.seq DESC LIMIT ?";
    }
    binds.push_back([n = static_cast<int64_t>(q.limit)](sqlite3_stmt* s, int i) { sqlite3_bind_int64(s, i, n); });

    std::lock_guard lock(db_->mu());
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_->handle(), sql.c_str(), -1, &s, nullptr) != SQLITE_OK) {
      return Status::Integrity("audit log: cannot query: " + std::string(sqlite3_errmsg(db_->handle())));
    }
    for (size_t i = 0; i < binds.size(); ++i) binds[i](s, static_cast<int>(i + 1));
    std::vector<AuditRecord> out;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      AuditRecord r;
      r.seq = static_cast<uint64_t>(sqlite3_column_int64(s, 0));
      r.epoch = static_cast<uint64_t>(sqlite3_column_int64(s, 1));
      r.entry.time_us = sqlite3_column_int64(s, 2);
      r.entry.uid = static_cast<uint32_t>(sqlite3_column_int64(s, 3));
      r.entry.pid = static_cast<int32_t>(sqlite3_column_int64(s, 4));
      const unsigned char* op = sqlite3_column_text(s, 5);
      r.entry.op = op != nullptr ? reinterpret_cast<const char*>(op) : "";
      r.entry.result = static_cast<int32_t>(sqlite3_column_int64(s, 6));
      r.entry.count = static_cast<uint32_t>(sqlite3_column_int64(s, 7));
      const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(s, 8));
      auto text = OpenText(keys_.content, {p, static_cast<size_t>(sqlite3_column_bytes(s, 8))});
      if (text) {
        auto j = nlohmann::json::parse(*text, nullptr, false);
        if (j.is_object()) {
          r.entry.user = FieldOf(j, "user");
          r.entry.exe = FieldOf(j, "exe");
          r.entry.path = FieldOf(j, "path");
          r.entry.path2 = FieldOf(j, "path2");
          r.entry.access = FieldOf(j, "access");
          r.entry.reason = FieldOf(j, "reason");
        }
      } else {
        r.entry.reason = "(sealed fields do not authenticate)";
      }
      out.push_back(std::move(r));
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return Status::Io(EIO, "audit log: query failed");
    return out;
  }

  Status SetPowerLossDurability(bool power_loss) override {
    std::lock_guard lock(db_->mu());
    return db_->Exec(power_loss ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
  }

 private:
  struct Pending {
    uint64_t ticket;
    bool report;
    AuditEntry entry;
  };

  uint64_t Enqueue(AuditEntry entry, bool report = true) {
    if (entry.time_us == 0) entry.time_us = NowMicros();
    const uint64_t ticket = ++next_ticket_;
    queue_.push_back({ticket, report, std::move(entry)});
    return ticket;
  }

  // Commits what is queued; `lock` (on mu_) is released meanwhile.
  void CommitQueuedLocked(std::unique_lock<std::mutex>& lock) {
    committing_ = true;
    std::deque<Pending> batch;
    batch.swap(queue_);
    lock.unlock();
    Status st = Commit(batch);
    lock.lock();
    for (const Pending& p : batch) {
      if (!st.ok() && p.report) failed_[p.ticket] = st;
      if (!st.ok() && !p.report) queued_lost_ = true;
    }
    committed_ = batch.back().ticket;
    committing_ = false;
    done_cv_.notify_all();
    cv_.notify_all();  // the writer may take what was queued meanwhile
  }

  // Commits queued records nobody waits for (opens, refusals), and runs
  // the checkpoints.
  void WriterLoop() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return stopping_ || checkpoint_due_ || (!queue_.empty() && !committing_); });
      if (checkpoint_due_) {
        checkpoint_due_ = false;
        lock.unlock();
        {
          std::lock_guard db_lock(db_->mu());
          const bool truncate = std::exchange(truncate_due_, false);
          (void)db_->Exec(truncate ? "PRAGMA wal_checkpoint(TRUNCATE)" : "PRAGMA wal_checkpoint(PASSIVE)");
          records_since_checkpoint_ = 0;
        }
        lock.lock();
        continue;
      }
      if (queue_.empty()) {
        if (stopping_) return;
        continue;
      }
      if (committing_) {
        done_cv_.wait(lock);
        continue;
      }
      CommitQueuedLocked(lock);
      cv_.notify_all();
    }
  }

  Status Commit(const std::deque<Pending>& batch) {
    std::lock_guard db_lock(db_->mu());
    // Work on a copy of the chain: a failed commit leaves the state as it was.
    ChainState next{state_.last_seq, state_.last_link, state_.epoch, state_.epoch_start, state_.key.Clone()};
    bool evolved = false;
    Status st = db_->Exec("BEGIN IMMEDIATE");
    std::vector<std::string> seals;
    for (const Pending& p : batch) {
      if (!st.ok()) break;
      if (next.epoch_records() >= kAuditRecordsPerEpoch) {
        seals.push_back(std::to_string(next.last_seq) + ":" + crypto::audit::LinkHex(next.last_link));
        next.key = crypto::audit::Evolve(next.key);
        ++next.epoch;
        next.epoch_start = next.last_seq + 1;
        evolved = true;
      }
      const crypto::audit::RecordFields f = FieldsOf(keys_, next.last_seq + 1, next.epoch, p.entry);
      const crypto::audit::Link link = crypto::audit::NextLink(next.key, next.last_link, f);
      st = InsertRecord(*db_, keys_.index, f, link, p.entry.path, p.entry.path2);
      if (st.ok()) {
        next.last_seq = f.seq;
        next.last_link = link;
      }
    }
    // The chain's end is the last record itself; only an epoch change (its
    // new key) is written to meta, so a commit touches as few pages as it can.
    if (st.ok() && evolved) st = SaveEpochLocked(next);
    if (st.ok()) st = db_->Exec("COMMIT");
    if (!st.ok()) {
      (void)db_->Exec("ROLLBACK");
      spdlog::error("the audit log cannot be written: {}", st.ToString());
      return Status::Io(EIO, "the audit log cannot be written");
    }
    state_ = std::move(next);  // the previous epoch's key is wiped here
    for (const std::string& seal : seals) spdlog::info("strongroom audit seal {}", seal);
    // Checkpoints run on the writer thread, not on the caller's path: after
    // a change of key (the old wrapped key out of the WAL, TRUNCATE) and
    // every 1000 records (the WAL kept short).
    records_since_checkpoint_ += batch.size();
    if (evolved) truncate_due_ = true;
    if (evolved || records_since_checkpoint_ >= 1000) {
      std::lock_guard lock(mu_);
      checkpoint_due_ = true;
      cv_.notify_all();
    }
    return Status::Ok();
  }


  Status SetMetaLocked(const std::string& key, const std::string& value) {
    Stmt s(*db_, kSetMeta);
    if (!s.ok()) return Status::Io(EIO, "audit log: damaged schema");
    s.BindText(1, key);
    s.BindText(2, value);
    const int rc = s.Step();
    return rc == SQLITE_DONE ? Status::Ok() : sqlite::StepStatus(rc, "audit log: meta");
  }

  Status SaveEpochLocked(const ChainState& st) {
    SR_RETURN_IF_ERROR(SetMetaLocked("epoch", std::to_string(st.epoch)));
    SR_RETURN_IF_ERROR(SetMetaLocked("epoch_start", std::to_string(st.epoch_start)));
    return SetMetaLocked("epoch_key",
                         crypto::HexEncode(crypto::Wrap(keys_.wrap, crypto::AsBytes(kEpochKeyAad), st.key.span())));
  }

  std::unique_ptr<Db> db_;
  AuditKeys keys_;
  ChainState state_;  // guarded by db_->mu()

  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable done_cv_;
  std::deque<Pending> queue_;
  uint64_t next_ticket_ = 0;
  uint64_t committed_ = 0;
  bool committing_ = false;
  bool queued_lost_ = false;
  bool checkpoint_due_ = false;       // guarded by mu_
  bool truncate_due_ = false;         // guarded by db_->mu()
  size_t records_since_checkpoint_ = 0;  // guarded by db_->mu()
  std::map<uint64_t, Status> failed_;
  bool stopping_ = false;
  std::thread writer_;
};

Result<std::unique_ptr<Db>> OpenDb(const std::string& path, bool create) {
  sqlite3* raw = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_FULLMUTEX;
  if (create) flags |= SQLITE_OPEN_CREATE;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  sqlite::DbPtr db(raw);
  if (rc != SQLITE_OK) {
    return Status::Integrity("cannot open the audit log " + path + ": " +
                             std::string(raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  }
  // Small pages: a record's commit rewrites one page of the table and of
  // each index, and each goes to the WAL whole.
  auto out = std::make_unique<Db>(std::move(db));
  if (create) SR_RETURN_IF_ERROR(out->Exec("PRAGMA page_size=1024"));
  // No automatic checkpoints inside commits: the writer thread runs them.
  for (const char* pragma : {"PRAGMA busy_timeout=2000", "PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL",
                             "PRAGMA secure_delete=ON", "PRAGMA trusted_schema=OFF", "PRAGMA wal_autocheckpoint=0"}) {
    SR_RETURN_IF_ERROR(out->Exec(pragma));
  }
  return out;
}

std::optional<std::string> MetaOf(Db& db, const char* key) {
  Stmt s(db, kGetMeta);
  if (!s.ok()) return std::nullopt;
  s.BindText(1, key);
  if (s.Step() != SQLITE_ROW) return std::nullopt;
  const unsigned char* t = sqlite3_column_text(s.get(), 0);
  return t != nullptr ? std::optional<std::string>(reinterpret_cast<const char*>(t)) : std::nullopt;
}

}  // namespace

AuditKeys AuditKeys::From(const crypto::SecretKey& audit_subkey) {
  return AuditKeys{audit_subkey.Clone(), crypto::Hkdf(audit_subkey, "strongroom/v1/audit-content", 32),
                   crypto::Hkdf(audit_subkey, "strongroom/v1/audit-index", 32)};
}

Status CreateAuditLog(const std::string& path, const std::string& vault_id, const AuditKeys& keys,
                      const crypto::SecretKey& initial_key, AuditEntry first) {
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) return Status::Exists("the audit log " + path + " already exists");
  auto db = OpenDb(path, true);
  if (!db.ok()) return db.status();
  ::chmod(path.c_str(), 0600);
  SR_RETURN_IF_ERROR((*db)->Exec("BEGIN IMMEDIATE"));
  SR_RETURN_IF_ERROR((*db)->Exec(kAuditSchema));
  // The first record, MACed with K_0; then only K_1 is kept.
  if (first.time_us == 0) first.time_us = NowMicros();
  const crypto::audit::RecordFields f = FieldsOf(keys, 1, 0, first);
  const crypto::audit::Link link = crypto::audit::NextLink(initial_key, crypto::audit::Link{}, f);
  SR_RETURN_IF_ERROR(InsertRecord(**db, keys.index, f, link, first.path, first.path2));
  const crypto::SecretKey k1 = crypto::audit::Evolve(initial_key);
  const std::pair<const char*, std::string> meta[] = {
      {"schema_version", std::to_string(kAuditSchemaVersion)},
      {"vault_id", vault_id},
      {"epoch", "1"},
      {"epoch_start", "2"},
      {"epoch_key", crypto::HexEncode(crypto::Wrap(keys.wrap, crypto::AsBytes(kEpochKeyAad), k1.span()))},
  };
  for (const auto& [k, v] : meta) {
    Stmt s(**db, kSetMeta);
    s.BindText(1, k);
    s.BindText(2, v);
    if (s.Step() != SQLITE_DONE) return Status::Io(EIO, "audit log: cannot write its state");
  }
  SR_RETURN_IF_ERROR((*db)->Exec("COMMIT"));
  return (*db)->Exec("PRAGMA wal_checkpoint(TRUNCATE)");
}

Result<std::unique_ptr<AuditLog>> OpenAuditLog(const std::string& path, const std::string& vault_id,
                                               AuditKeys keys) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return Status::NotFound("the audit log " + path + " is missing");
  auto db = OpenDb(path, false);
  if (!db.ok()) return db.status();
  auto version = MetaOf(**db, "schema_version");
  if (!version || *version != std::to_string(kAuditSchemaVersion)) {
    return Status::Integrity("the audit log " + path + " has an unknown schema version");
  }
  auto id = MetaOf(**db, "vault_id");
  if (!id || *id != vault_id) return Status::Integrity("the audit log " + path + " belongs to another vault");
  ChainState state;
  auto epoch = MetaOf(**db, "epoch");
  auto start = MetaOf(**db, "epoch_start");
  auto wrapped = MetaOf(**db, "epoch_key");
  // The chain's end: the last record.
  std::optional<std::string> seq, link;
  {
    Stmt s(**db, kLastRecord);
    if (s.ok() && s.Step() == SQLITE_ROW) {
      seq = std::to_string(s.Int(0));
      link = crypto::HexEncode(s.Blob(1));
    }
  }
  crypto::Bytes link_bytes, wrapped_bytes;
  if (!seq || !link || !epoch || !start || !wrapped || !crypto::HexDecode(*link, &link_bytes) || link_bytes.size() != 32 ||
      !crypto::HexDecode(*wrapped, &wrapped_bytes)) {
    return Status::Integrity("the audit log's state is damaged");
  }
  state.last_seq = std::stoull(*seq);
  std::memcpy(state.last_link.data(), link_bytes.data(), 32);
  state.epoch = std::stoull(*epoch);
  state.epoch_start = std::stoull(*start);
  if (state.epoch_start > state.last_seq + 1) return Status::Integrity("the audit log's state is damaged");
  if (!crypto::Unwrap(keys.wrap, crypto::AsBytes(kEpochKeyAad), wrapped_bytes, &state.key) ||
      state.key.size() != crypto::audit::kKeySize) {
    return Status::Integrity("the audit log's epoch key does not authenticate");
  }
  return std::unique_ptr<AuditLog>(new SqliteAuditLog(std::move(*db), std::move(keys), std::move(state)));
}

}  // namespace strongroom::acl
