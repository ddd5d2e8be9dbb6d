// The audit log's SQLite database (docs/audit.md): a writer thread commits
// queued records in batches (group commit), chaining each to the last.
#include "acl/audit_log.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <functional>
#include <span>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <openssl/crypto.h>
#include <thread>
#include <unordered_map>
#include <utility>

#include "acl/audit_ahead.h"
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
constexpr const char* kPageCount = "PRAGMA page_count";
constexpr const char* kPageSize = "PRAGMA page_size";
// A new live database is built under this suffix while the log rotates.
constexpr char kNextSuffix[] = ".next";
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

crypto::Bytes Tag(crypto::HmacSha256Key& index_mac, std::string_view kind, std::string_view text) {
  if (text.empty()) return {};
  static constexpr uint8_t kSeparator = 0;
  uint8_t mac[32];
  index_mac.Mac({crypto::AsBytes(kind), {&kSeparator, 1}, crypto::AsBytes(text)}, mac);
  return crypto::Bytes(mac, mac + 16);
}

crypto::Bytes Tag(const crypto::SecretKey& key, std::string_view kind, std::string_view text) {
  crypto::HmacSha256Key mac(key.span());
  return Tag(mac, kind, text);
}

crypto::Bytes SealText(const crypto::SecretKey& key, const std::string& plain) {
  crypto::Bytes out(crypto::gcm::kNonceSize + plain.size() + crypto::gcm::kTagSize);
  crypto::RandomNonce({out.data(), crypto::gcm::kNonceSize});
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

// What JSON can carry: well-formed UTF-8 (no overlong forms, surrogates or
// code points past U+10FFFF), as nlohmann::json requires.
bool ValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<uint8_t>(s[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      n = 1, cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2, cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // truncated
    for (size_t k = 1; k <= n; ++k) {
      const auto d = static_cast<uint8_t>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

// `s` as a JSON string, escaped as nlohmann::json::dump() does.
void AppendJsonString(std::string_view s, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (const char ch : s) {
    const auto c = static_cast<uint8_t>(ch);
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (c < 0x20) {
          out->append("\\u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 0xF]);
        } else {
          out->push_back(ch);
        }
    }
  }
  out->push_back('"');
}

// The text fields as a JSON object; a field that is not valid UTF-8 (a file
// name can be any bytes) is kept exactly, in hex, under "<name>_hex". Keys
// in sorted order, byte for byte what nlohmann::json would write (this runs
// for every record, so without building a json object).
std::string SealedJson(const AuditEntry& e) {
  std::pair<std::string, const std::string*> fields[] = {{"access", &e.access}, {"exe", &e.exe},
                                                         {"path", &e.path},     {"path2", &e.path2},
                                                         {"reason", &e.reason}, {"user", &e.user}};
  std::string hex[std::size(fields)];
  for (size_t i = 0; i < std::size(fields); ++i) {
    if (ValidUtf8(*fields[i].second)) continue;
    hex[i] = crypto::HexEncode(crypto::AsBytes(*fields[i].second));
    fields[i] = {fields[i].first + "_hex", &hex[i]};
  }
  std::sort(std::begin(fields), std::end(fields), [](const auto& a, const auto& b) { return a.first < b.first; });
  size_t size = 64;
  for (const auto& f : fields) size += f.second->size();
  std::string out;
  out.reserve(size);
  out.push_back('{');
  for (const auto& [name, value] : fields) {
    if (out.size() > 1) out.push_back(',');
    AppendJsonString(name, &out);
    out.push_back(':');
    AppendJsonString(*value, &out);
  }
  out.push_back('}');
  return out;
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


// Keyed tags of texts that recur from record to record (user names,
// folders), each computed once; bounded. Not thread-safe.
class TagCache {
 public:
  explicit TagCache(const crypto::SecretKey& key) : mac_(key.span()) {}

  // A tag not worth keeping (a file's path).
  crypto::Bytes Uncached(std::string_view kind, std::string_view text) { return Tag(mac_, kind, text); }

  crypto::Bytes Get(std::string_view kind, std::string_view text) {
    std::string k;
    k.reserve(kind.size() + 1 + text.size());
    k.append(kind).push_back('\0');
    k.append(text);
    if (auto it = map_.find(k); it != map_.end()) return it->second;
    if (map_.size() >= kMaxEntries) map_.clear();
    return map_.emplace(std::move(k), Tag(mac_, kind, text)).first->second;
  }

 private:
  static constexpr size_t kMaxEntries = 4096;
  crypto::HmacSha256Key mac_;
  std::unordered_map<std::string, crypto::Bytes> map_;
};

// The stored fields of record `seq` of `epoch` (text sealed, tags keyed).
crypto::audit::RecordFields FieldsOf(const AuditKeys& keys, uint64_t seq, uint64_t epoch, const AuditEntry& e,
                                     TagCache& tags) {
  crypto::audit::RecordFields f;
  f.seq = seq;
  f.epoch = epoch;
  f.time_us = e.time_us;
  f.uid = e.uid;
  f.pid = e.pid;
  f.op = e.op;
  f.result = e.result;
  f.count = e.count;
  f.user_tag = tags.Get("user", e.user);
  f.path_tag = tags.Uncached("path", e.path);
  f.sealed = SealText(keys.content, SealedJson(e));
  return f;
}

// The tags a record is found under: every prefix of its path and of a
// rename's destination. `path_tag` is the tag of the whole path; folders'
// tags are kept in `cache`.
std::vector<crypto::Bytes> PrefixTags(const AuditEntry& e, const crypto::Bytes& path_tag, TagCache& cache) {
  std::vector<crypto::Bytes> tags;
  for (const std::string* p : {&e.path, &e.path2}) {
    if (p->empty() || (*p)[0] != '/') continue;
    for (const std::string& prefix : Prefixes(*p)) {
      if (prefix.size() < p->size()) {
        tags.push_back(cache.Get("path", prefix));
      } else {
        tags.push_back(p == &e.path ? path_tag : cache.Uncached("path", prefix));
      }
    }
  }
  return tags;
}

// Record `seq` of `epoch`, chained to `previous` with `epoch_mac` (HMAC
// under the epoch's key).
AheadRecord MakeRecord(const AuditKeys& keys, crypto::HmacSha256Key& epoch_mac, const crypto::audit::Link& previous,
                       uint64_t seq, uint64_t epoch, const AuditEntry& e, TagCache& tags) {
  AheadRecord r;
  r.fields = FieldsOf(keys, seq, epoch, e, tags);
  r.link = crypto::audit::NextLink(epoch_mac, previous, r.fields);
  r.prefix_tags = PrefixTags(e, r.fields.path_tag, tags);
  return r;
}

// Inserts a record and the prefixes it is found under.
Status InsertRecord(Db& db, const AheadRecord& r) {
  const crypto::audit::RecordFields& f = r.fields;
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
  s.BindBlob(12, r.link);
  int rc = s.Step();
  if (rc != SQLITE_DONE) return sqlite::StepStatus(rc, "audit log: insert");
  for (const crypto::Bytes& tag : r.prefix_tags) {
    Stmt p(db, kInsertPrefix);
    if (!p.ok()) return Status::Io(EIO, "audit log: damaged schema");
    p.BindBlob(1, tag);
    p.Bind(2, static_cast<int64_t>(f.seq));
    rc = p.Step();
    if (rc != SQLITE_DONE) return sqlite::StepStatus(rc, "audit log: insert prefix");
  }
  return Status::Ok();
}

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

std::optional<uint64_t> ParseU64(const std::optional<std::string>& text) {
  if (!text || text->empty() || text->size() > 19) return std::nullopt;
  uint64_t v = 0;
  for (char c : *text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

std::optional<std::string> MetaOf(Db& db, const char* key) {
  Stmt s(db, kGetMeta);
  if (!s.ok()) return std::nullopt;
  s.BindText(1, key);
  if (s.Step() != SQLITE_ROW) return std::nullopt;
  const unsigned char* t = sqlite3_column_text(s.get(), 0);
  return t != nullptr ? std::optional<std::string>(reinterpret_cast<const char*>(t)) : std::nullopt;
}

// The chain's state: its end, the current epoch and its key.
struct ChainState {
  uint64_t last_seq = 0;
  crypto::audit::Link last_link{};
  uint64_t epoch = 0;
  uint64_t epoch_start = 1;  // the first record of the current epoch
  uint64_t epoch_records() const { return last_seq + 1 - epoch_start; }
  crypto::SecretKey key;  // K_epoch
  ChainState Clone() const { return {last_seq, last_link, epoch, epoch_start, key.Clone()}; }
};

// `meta`'s record of the current epoch: its number, first record and key
// (wrapped under the audit subkey).
struct EpochMeta {
  uint64_t epoch = 0;
  uint64_t start = 0;
  std::string wrapped_key;  // hex
};

EpochMeta EpochMetaOf(const AuditKeys& keys, const ChainState& st) {
  return {st.epoch, st.epoch_start,
          crypto::HexEncode(crypto::Wrap(keys.wrap, crypto::AsBytes(kEpochKeyAad), st.key.span()))};
}

Status SetMeta(Db& db, const std::string& key, const std::string& value) {
  Stmt s(db, kSetMeta);
  if (!s.ok()) return Status::Io(EIO, "audit log: damaged schema");
  s.BindText(1, key);
  s.BindText(2, value);
  const int rc = s.Step();
  return rc == SQLITE_DONE ? Status::Ok() : sqlite::StepStatus(rc, "audit log: meta");
}

// A new database (the first at init, or the next after a rotation): the
// schema and what a verifier needs to start in it without earlier segments:
// its first record, the link before it.
Status InitSchema(Db& db, const std::string& vault_id, uint64_t first_seq, const crypto::audit::Link& prev_link) {
  SR_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  Status st = db.Exec(kAuditSchema);
  const std::pair<const char*, std::string> meta[] = {
      {"schema_version", std::to_string(kAuditSchemaVersion)},
      {"vault_id", vault_id},
      {"first_seq", std::to_string(first_seq)},
      {"prev_link", crypto::HexEncode(prev_link)},
  };
  for (const auto& [k, v] : meta) {
    if (st.ok()) st = SetMeta(db, k, v);
  }
  if (st.ok()) st = db.Exec("COMMIT");
  if (!st.ok()) (void)db.Exec("ROLLBACK");
  return st;
}

off_t FileSize(int fd) {
  struct stat st;
  return ::fstat(fd, &st) == 0 ? st.st_size : 0;
}

void SyncDirOf(const std::string& path) {
  const std::string dir = std::filesystem::path(path).parent_path().string();
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    (void)::fsync(fd);
    ::close(fd);
  }
}

Status SaveEpoch(Db& db, const EpochMeta& m) {
  SR_RETURN_IF_ERROR(SetMeta(db, "epoch", std::to_string(m.epoch)));
  SR_RETURN_IF_ERROR(SetMeta(db, "epoch_start", std::to_string(m.start)));
  return SetMeta(db, "epoch_key", m.wrapped_key);
}

// Writes all of `data` at `offset`.
bool WriteAllAt(int fd, std::string_view data, off_t offset) {
  while (!data.empty()) {
    const ssize_t n = ::pwrite(fd, data.data(), data.size(), offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
    offset += n;
  }
  return true;
}

constexpr std::string_view kAheadEnd("\0\0\0\0", 4);

// Free bytes on the volume holding `fd`, as this process may use them.
std::optional<uint64_t> FreeBytes(int fd) {
  struct statvfs sv {};
  if (::fstatvfs(fd, &sv) != 0) return std::nullopt;
  const uint64_t blocks = ::geteuid() == 0 ? sv.f_bfree : sv.f_bavail;
  return blocks * static_cast<uint64_t>(sv.f_frsize);
}

// Runs the calling thread at normal priority while it lives, if it was at
// SCHED_IDLE (the audit indexer), so that it never holds a lock others wait
// for at idle priority.
class NormalPriority {
 public:
  NormalPriority() {
    sched_param p{};
    idle_ = ::pthread_getschedparam(::pthread_self(), &policy_, &p) == 0 && policy_ == SCHED_IDLE;
    if (idle_) (void)::pthread_setschedparam(::pthread_self(), SCHED_OTHER, &p);
  }
  ~NormalPriority() {
    const sched_param p{};
    if (idle_) (void)::pthread_setschedparam(::pthread_self(), SCHED_IDLE, &p);
  }
  NormalPriority(const NormalPriority&) = delete;
  NormalPriority& operator=(const NormalPriority&) = delete;

 private:
  int policy_ = SCHED_OTHER;
  bool idle_ = false;
};

// Empties the write-ahead file: the magic and the end marker (the space
// beyond is kept for later appends), then a sync. False when the write
// failed: the file is as it was. Once written, the file is empty whether
// or not the sync succeeds (the next append goes after the magic).
bool ResetAhead(int fd) {
  if (!WriteAllAt(fd, std::string(kAheadMagic) + std::string(kAheadEnd), 0)) return false;
  if (::fdatasync(fd) != 0) spdlog::warn("cannot sync the emptied audit write-ahead file: {}", std::strerror(errno));
  return true;
}

// A record written ahead, waiting for its place in the database; the first
// record of an epoch carries the epoch's state for `meta`.
struct AheadItem {
  AheadRecord record;
  std::optional<EpochMeta> epoch;
};

// Moves records into the database in one transaction.
Status InsertBatch(Db& db, std::span<const AheadItem> items) {
  Status st = db.Exec("BEGIN IMMEDIATE");
  const EpochMeta* epoch = nullptr;
  for (const AheadItem& item : items) {
    if (!st.ok()) break;
    st = InsertRecord(db, item.record);
    if (item.epoch) epoch = &*item.epoch;
  }
  if (st.ok() && epoch != nullptr) st = SaveEpoch(db, *epoch);
  if (st.ok()) st = db.Exec("COMMIT");
  if (!st.ok()) (void)db.Exec("ROLLBACK");
  return st;
}

// Two stages (docs/audit.md): a record is chained and appended to the
// write-ahead file before Append() returns (one write per group commit),
// then the writer thread moves records into the indexed database in
// batches. Queries and Flush() move everything first.
class SqliteAuditLog final : public AuditLog {
 public:
  SqliteAuditLog(std::unique_ptr<Db> db, std::string path, std::string vault_id, uint64_t first_seq, AuditKeys keys,
                 ChainState state, int ahead_fd)
      : db_(std::move(db)),
        vault_id_(std::move(vault_id)),
        keys_(std::move(keys)),
        state_(std::move(state)),
        ahead_fd_(ahead_fd),
        ahead_path_(AheadPathFor(path)),
        ahead_size_(kAheadMagic.size()),
        ahead_allocated_(FileSize(ahead_fd_)),
        path_(std::move(path)),
        first_seq_(first_seq),
        applied_seq_(state_.last_seq),
        applied_link_(state_.last_link) {
    writer_ = std::thread([this] { WriterLoop(); });
    indexer_ = std::thread([this] { IndexerLoop(); });
  }

  ~SqliteAuditLog() override {
    (void)Flush();
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    index_cv_.notify_all();
    writer_.join();
    indexer_.join();
    const bool all_in = MoveIntoDatabase().ok();
    {
      std::lock_guard db_lock(db_mu_);
      (void)db_->Exec("PRAGMA wal_checkpoint(TRUNCATE)");
    }
    // Everything is in the database: the write-ahead file goes. Otherwise
    // it stays for the next open to finish the job.
    if (all_in && applied_seq_ == state_.last_seq) ::unlink(ahead_path_.c_str());
    ::close(ahead_fd_);
  }

  Status Append(AuditEntry entry) override {
    std::unique_lock lock(mu_);
    const uint64_t ticket = Enqueue(std::move(entry));
    // Group commit: the first waiter writes everything queued (its own
    // record and any that arrived meanwhile); the others wait for it. The
    // caller writes in its own thread: no hand-off to the writer.
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
    // The writer, when asleep with nothing to do, sets its timer at the
    // first queued record, and writes early when many are queued; otherwise
    // it is left alone (no wake-up per record: a caller that commits takes
    // the queue along, and the next queued record would wake it again).
    if ((queue_.size() == 1 && writer_idle_) || queue_.size() >= kAsyncBatch) cv_.notify_all();
  }

  Status BackupTo(const std::string& dir) override {
    (void)Flush();
    // Records only written ahead would be missing from the copy.
    SR_RETURN_IF_ERROR(MoveIntoDatabase());
    std::lock_guard db_lock(db_mu_);
    const std::string dst = dir + "/" + kAuditDbName;
    SR_RETURN_IF_ERROR(sqlite::BackupTo(db_->handle(), dst));
    // Sealed segments never change: copied as they are, renamed after the
    // default database name so that the copy is found where it lands.
    for (const AuditSegment& seg : ListAuditSegments(path_)) {
      SR_RETURN_IF_ERROR(CopyFileSynced(seg.path, AuditSegmentPath(dst, seg.first, seg.last)));
    }
    return Status::Ok();
  }

  Status Flush() override {
    {
      std::unique_lock lock(mu_);
      const uint64_t ticket = next_ticket_;
      while (committed_ < ticket) {
        if (!committing_ && !queue_.empty()) {
          CommitQueuedLocked(lock);
        } else {
          done_cv_.wait(lock);
        }
      }
    }
    // Records written ahead are safe even if the database cannot take them
    // now (the writer keeps trying; the next open finishes the job).
    (void)MoveIntoDatabase();
    std::lock_guard lock(mu_);
    // Queued records that could not be written since the last Flush.
    if (std::exchange(queued_lost_, false)) return Status::Io(EIO, "queued audit records could not be written");
    return Status::Ok();
  }

  Result<std::vector<AuditRecord>> Query(const AuditQuery& q) override {
    // What was written ahead is part of the answer.
    (void)Flush();
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

    // The live database, then sealed segments newest first, until the
    // limit is reached (segments hold older records).
    std::vector<AuditRecord> out;
    {
      std::lock_guard lock(db_mu_);
      SR_RETURN_IF_ERROR(RunQuery(db_->handle(), sql, binds, &out));
    }
    std::vector<AuditSegment> segments = ListAuditSegments(path_);
    for (auto it = segments.rbegin(); it != segments.rend() && out.size() < q.limit; ++it) {
      sqlite3* raw = nullptr;
      const int rc = sqlite3_open_v2(it->path.c_str(), &raw, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOFOLLOW, nullptr);
      sqlite::DbPtr seg(raw);
      if (rc != SQLITE_OK) continue;  // archived meanwhile
      sqlite3_busy_timeout(seg.get(), 2000);
      std::vector<AuditRecord> more;
      if (!RunQuery(seg.get(), sql, binds, &more).ok()) {
        spdlog::warn("the sealed audit segment {} cannot be queried", it->path);
        continue;
      }
      for (AuditRecord& r : more) out.push_back(std::move(r));
    }
    if (out.size() > q.limit) out.resize(q.limit);
    return out;
  }

  // Runs a query built by Query() on one database, appending the records.
  Status RunQuery(sqlite3* db, const std::string& sql,
                  const std::vector<std::function<void(sqlite3_stmt*, int)>>& binds,
                  std::vector<AuditRecord>* out) const {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) {
      return Status::Integrity("audit log: cannot query: " + std::string(sqlite3_errmsg(db)));
    }
    for (size_t i = 0; i < binds.size(); ++i) binds[i](s, static_cast<int>(i + 1));
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
      out->push_back(std::move(r));
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? Status::Ok() : Status::Io(EIO, "audit log: query failed");
  }

  Status SetPowerLossDurability(bool power_loss) override {
    power_loss_ = power_loss;
    std::lock_guard lock(db_mu_);
    return db_->Exec(power_loss ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
  }

  void SetSegmentLimit(uint64_t bytes) override { segment_limit_ = bytes; }

 private:
  struct Pending {
    uint64_t ticket;
    bool report;
    AuditEntry entry;
  };

  // The indexer moves records into the database when no record has come
  // for kIndexQuiet (the mount is quiet), or when kIndexBatch wait, or when
  // the oldest has waited kIndexMaxWait: indexing costs about as much CPU
  // as writing ahead, and is better spent between bursts of calls than
  // during them.
  static constexpr size_t kIndexBatch = 1 << 14;
  static constexpr std::chrono::milliseconds kIndexQuiet{250};
  static constexpr std::chrono::seconds kIndexMaxWait{10};
  // Records waiting for the database beyond which the writer moves them
  // itself, whatever the indexer's priority gets it.
  static constexpr size_t kIndexBacklog = 1 << 16;
  // Records nobody waits for (opens, refusals) are written ahead within
  // this long, or when this many are queued (or with the next record
  // someone waits for).
  static constexpr size_t kAsyncBatch = 128;
  static constexpr std::chrono::milliseconds kAsyncDelay{5};
  // The write-ahead file is emptied when everything in it is in the
  // database and it has grown past this.
  static constexpr off_t kAheadTrimBytes = 1 << 20;
  static constexpr size_t kAheadChunk = 64 << 10;
  // Writes cover whole pages of the page cache.
  const size_t page_size_ = static_cast<size_t>(std::max(4096L, ::sysconf(_SC_PAGESIZE)));
  // After a write failed, changes stay refused until the audit volume has
  // this much free again: a nearly full disk refuses steadily instead of
  // letting through whichever change happens to fit in space freed by
  // SQLite or the write-ahead file meanwhile.
  static constexpr uint64_t kResumeFreeBytes = 1 << 20;

  uint64_t Enqueue(AuditEntry entry, bool report = true) {
    if (entry.time_us == 0) entry.time_us = NowMicros();
    const uint64_t ticket = ++next_ticket_;
    if (queue_.empty()) queue_since_ = std::chrono::steady_clock::now();
    queue_.push_back({ticket, report, std::move(entry)});
    return ticket;
  }

  // Writes what is queued ahead; `lock` (on mu_) is released meanwhile.
  void CommitQueuedLocked(std::unique_lock<std::mutex>& lock) {
    committing_ = true;
    std::deque<Pending> batch;
    batch.swap(queue_);
    lock.unlock();
    std::vector<AheadItem> items;
    Status st = WriteAhead(batch, &items);
    lock.lock();
    bool wake_indexer = false;
    if (st.ok()) {
      apply_last_ = std::chrono::steady_clock::now();
      if (to_apply_.empty()) {
        apply_since_ = apply_last_;
        wake_indexer = true;  // to set its timer
      }
      for (AheadItem& item : items) to_apply_.push_back(std::move(item));
      if (to_apply_.size() >= kIndexBatch) wake_indexer = true;
    }
    // Queued meanwhile: the writer may be asleep waiting for this commit to
    // end. Past kIndexBacklog waiting records it moves them itself.
    const bool wake_writer = (!queue_.empty() || to_apply_.size() >= kIndexBacklog) && writer_idle_;
    for (const Pending& p : batch) {
      if (!st.ok() && p.report) failed_[p.ticket] = st;
      if (!st.ok() && !p.report) queued_lost_ = true;
    }
    committed_ = batch.back().ticket;
    committing_ = false;
    done_cv_.notify_all();
    if (wake_writer) cv_.notify_all();
    if (wake_indexer) index_cv_.notify_all();
  }

  // Chains the batch and appends it to the write-ahead file in one write
  // (synced in power-loss mode). Only the committing thread runs this.
  Status WriteAhead(const std::deque<Pending>& batch, std::vector<AheadItem>* items) {
    std::lock_guard ahead_lock(ahead_mu_);
    // Work on a copy of the chain: a failed write leaves the state as it was.
    ChainState next = state_.Clone();
    std::vector<std::string> seals;
    std::string data;
    for (const Pending& p : batch) {
      AheadItem item;
      if (next.epoch_records() >= kAuditRecordsPerEpoch) {
        seals.push_back(std::to_string(next.last_seq) + ":" + crypto::audit::LinkHex(next.last_link));
        next.key = crypto::audit::Evolve(next.key);  // the previous key is wiped
        ++next.epoch;
        next.epoch_start = next.last_seq + 1;
        item.epoch = EpochMetaOf(keys_, next);
      }
      if (!epoch_mac_ || epoch_mac_epoch_ != next.epoch) {
        epoch_mac_.emplace(next.key.span());  // the previous epoch's is wiped
        epoch_mac_epoch_ = next.epoch;
      }
      item.record = MakeRecord(keys_, *epoch_mac_, next.last_link, next.last_seq + 1, next.epoch, p.entry, tags_);
      AppendAheadEntry(item.record, &data);
      next.last_seq = item.record.fields.seq;
      next.last_link = item.record.link;
      items->push_back(std::move(item));
    }
    const size_t length = data.size();
    data.append(kAheadEnd);
    // Whole pages only, from the start of the page the entries begin in to
    // the end of the page they end in: a write into part of a page that is
    // no longer cached (memory pressure, a dropped cache) would first read
    // that page from disk, while the call being recorded waits.
    const off_t write_at = ahead_size_ - static_cast<off_t>(ahead_page_head_.size());
    std::string pages;
    pages.reserve(ahead_page_head_.size() + data.size() + page_size_);
    pages.append(ahead_page_head_).append(data);
    pages.resize((pages.size() + page_size_ - 1) / page_size_ * page_size_, '\0');
    int err = 0;
    if (write_failing_) {
      const std::optional<uint64_t> free = FreeBytes(ahead_fd_);
      if (free && *free < kResumeFreeBytes) err = ENOSPC;
    }
    // Room is made in chunks of zeros, so that each append overwrites
    // blocks in place and its sync writes no metadata.
    while (err == 0 && write_at + static_cast<off_t>(pages.size()) > ahead_allocated_) {
      errno = 0;
      if (WriteAllAt(ahead_fd_, std::string(kAheadChunk, '\0'), ahead_allocated_)) {
        ahead_allocated_ += static_cast<off_t>(kAheadChunk);
      } else {
        err = errno != 0 ? errno : EIO;
      }
    }
    errno = 0;
    if (err == 0 && !WriteAllAt(ahead_fd_, pages, write_at)) err = errno != 0 ? errno : EIO;
    if (err == 0 && power_loss_ && ::fdatasync(ahead_fd_) != 0) err = errno;
    if (err != 0) {
      (void)WriteAllAt(ahead_fd_, kAheadEnd, ahead_size_);  // no torn entry before the next one
      items->clear();
      if (!std::exchange(write_failing_, true)) {
        spdlog::error("the audit log cannot be written: {}: {}; changes are refused until it can{}", ahead_path_,
                      std::strerror(err),
                      err == ENOSPC ? " (and its volume has 1 MiB free)" : "");
      }
      return Status::Io(EIO, "the audit log cannot be written");
    }
    if (std::exchange(write_failing_, false)) spdlog::info("the audit log can be written again: {}", ahead_path_);
    ahead_size_ += static_cast<off_t>(length);
    const auto end = static_cast<size_t>(ahead_size_ - write_at);
    ahead_page_head_.assign(pages, end / page_size_ * page_size_, end % page_size_);
    state_ = std::move(next);
    for (const std::string& seal : seals) spdlog::info("strongroom audit seal {}", seal);
    return Status::Ok();
  }

  // Moves every record written ahead into the database; when the live
  // database has outgrown the segment limit, it is sealed at the next
  // change of epoch and a new one continues the chain (Rotate).
  Status MoveIntoDatabase() {
    std::lock_guard db_lock(db_mu_);
    std::vector<AheadItem> items;
    {
      std::lock_guard lock(mu_);
      items.swap(to_apply_);
    }
    if (items.empty()) return Status::Ok();
    // In runs that each begin where an epoch begins (or where the batch
    // does): a run that begins an epoch when the live database has reached
    // the limit goes into a new one.
    Status st = Status::Ok();
    for (size_t begin = 0; begin < items.size() && st.ok();) {
      size_t end = begin + 1;
      while (end < items.size() && !items[end].epoch) ++end;
      std::span<const AheadItem> run(items.data() + begin, end - begin);
      const bool rotate = run.front().epoch && run.front().record.fields.seq > first_seq_ && segment_limit_ > 0 &&
                          LiveBytes() >= segment_limit_;
      st = rotate ? Rotate(run) : InsertBatch(*db_, run);
      if (st.ok()) {
        applied_seq_ = run.back().record.fields.seq;
        applied_link_ = run.back().record.link;
      }
      begin = end;
    }
    if (!st.ok()) {
      // They stay written ahead; put back what did not go in, for the next try.
      std::lock_guard lock(mu_);
      std::vector<AheadItem> left;
      for (AheadItem& item : items) {
        if (item.record.fields.seq > applied_seq_) left.push_back(std::move(item));
      }
      for (AheadItem& item : to_apply_) left.push_back(std::move(item));
      to_apply_ = std::move(left);
      if (!std::exchange(apply_failing_, true)) {
        spdlog::error("the audit database cannot take records (they are kept in {}): {}", ahead_path_,
                      st.ToString());
      }
      return st;
    }
    if (std::exchange(apply_failing_, false)) spdlog::info("the audit database takes records again");
    // Checkpoints: after a change of key (the old wrapped key out of the
    // WAL, TRUNCATE) and every few thousand records (the WAL kept short).
    records_since_checkpoint_ += items.size();
    const bool evolved = std::any_of(items.begin(), items.end(), [](const AheadItem& i) { return i.epoch.has_value(); });
    if (evolved || records_since_checkpoint_ >= 4096) {
      (void)db_->Exec(evolved ? "PRAGMA wal_checkpoint(TRUNCATE)" : "PRAGMA wal_checkpoint(PASSIVE)");
      records_since_checkpoint_ = 0;
    }
    // Every change's commit needs ahead_mu_: the indexer does not hold it at
    // its idle priority.
    const NormalPriority boost;
    std::lock_guard ahead_lock(ahead_mu_);
    if (applied_seq_ == state_.last_seq && ahead_size_ > kAheadTrimBytes && ResetAhead(ahead_fd_)) {
      ahead_size_ = static_cast<off_t>(kAheadMagic.size());
      ahead_page_head_ = kAheadMagic;
    }
    return Status::Ok();
  }

  // The live database's size in bytes (pages, wherever they are).
  uint64_t LiveBytes() {
    int64_t pages = 0, size = 0;
    {
      Stmt s(*db_, kPageCount);
      if (s.ok() && s.Step() == SQLITE_ROW) pages = s.Int(0);
    }
    {
      Stmt s(*db_, kPageSize);
      if (s.ok() && s.Step() == SQLITE_ROW) size = s.Int(0);
    }
    return static_cast<uint64_t>(pages) * static_cast<uint64_t>(size);
  }

  // Seals the live database as segment first_seq_..applied_seq_ and starts
  // a new one holding `rest` (which begins an epoch). Crash-safe: the new
  // database is complete under a temporary name before the renames, and an
  // open finishes a rotation cut between them (RecoverRotation).
  Status Rotate(std::span<const AheadItem> rest) {
    const std::string next_path = path_ + kNextSuffix;
    ::unlink(next_path.c_str());
    {
      auto next = OpenDb(next_path, true);
      if (!next.ok()) return next.status();
      ::chmod(next_path.c_str(), 0600);
      Status st = InitSchema(**next, vault_id_, rest.front().record.fields.seq, applied_link_);
      if (st.ok()) st = InsertBatch(**next, rest);
      if (st.ok()) st = (*next)->Exec("PRAGMA wal_checkpoint(TRUNCATE)");
      if (!st.ok()) {
        next->reset();
        ::unlink(next_path.c_str());
        return st;
      }
    }  // closed: its WAL is gone
    const std::string sealed = AuditSegmentPath(path_, first_seq_, applied_seq_);
    (void)db_->Exec("PRAGMA wal_checkpoint(TRUNCATE)");
    db_.reset();
    Status st = Status::Ok();
    if (::rename(path_.c_str(), sealed.c_str()) != 0) {
      st = Status::Io(errno, "seal the audit database " + path_ + " as " + sealed);
      ::unlink(next_path.c_str());
    } else if (::rename(next_path.c_str(), path_.c_str()) != 0) {
      st = Status::Io(errno, "rotate the audit database " + path_);
      (void)::rename(sealed.c_str(), path_.c_str());  // back as it was
      ::unlink(next_path.c_str());
    }
    SyncDirOf(path_);
    auto reopened = OpenDb(path_, false);
    if (!reopened.ok()) {
      spdlog::critical("the audit database {} cannot be reopened after rotating: {}", path_,
                       reopened.status().ToString());
      std::abort();  // nothing may happen unrecorded; the next mount finishes the rotation
    }
    db_ = std::move(*reopened);
    if (power_loss_) (void)db_->Exec("PRAGMA synchronous=FULL");
    if (!st.ok()) return st;
    spdlog::info("the audit log sealed segment {} (records {} to {}) and continues in {}", sealed, first_seq_,
                 applied_seq_, path_);
    first_seq_ = rest.front().record.fields.seq;
    return Status::Ok();
  }

  // Writes queued records nobody waits for (opens, refusals) ahead, and
  // moves records into the database in batches.
  void WriterLoop() {
    using Clock = std::chrono::steady_clock;
    ::pthread_setname_np(::pthread_self(), "sr-audit");  // for top -H and profilers
    std::unique_lock lock(mu_);
    for (;;) {
      const auto now = Clock::now();
      if (!queue_.empty() && !committing_ &&
          (stopping_ || queue_.size() >= kAsyncBatch || now - queue_since_ >= kAsyncDelay)) {
        CommitQueuedLocked(lock);
        continue;
      }
      if (to_apply_.size() >= kIndexBacklog && !stopping_) {
        // The indexer cannot keep up (the machine is busy all the time):
        // the writer, at normal priority, moves records too.
        lock.unlock();
        const bool ok = MoveIntoDatabase().ok();
        lock.lock();
        if (!ok) cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_; });
        continue;
      }
      if (stopping_ && queue_.empty() && !committing_) return;
      // Asleep until the next deadline; while someone else commits, until
      // that commit ends (it wakes us when records are queued).
      auto deadline = Clock::time_point::max();
      if (!queue_.empty() && !committing_) deadline = std::min(deadline, queue_since_ + kAsyncDelay);
      if (deadline == Clock::time_point::max()) {
        writer_idle_ = true;
        cv_.wait(lock);
        writer_idle_ = false;
      } else {
        cv_.wait_until(lock, deadline);
      }
    }
  }

  // Moves records written ahead into the indexed database, in batches, when
  // the mount is quiet (see kIndexQuiet), at the lowest CPU priority
  // (SCHED_IDLE): the indexes cost CPU that calls on the mount would
  // otherwise wait for, and a record is durable once written ahead.
  // Queries, Flush and closing move what is left first.
  void IndexerLoop() {
    using Clock = std::chrono::steady_clock;
    ::pthread_setname_np(::pthread_self(), "sr-audit-index");
    const sched_param idle{};
    (void)::pthread_setschedparam(::pthread_self(), SCHED_IDLE, &idle);
    std::unique_lock lock(mu_);
    for (;;) {
      const auto now = Clock::now();
      if (!to_apply_.empty() && (stopping_ || to_apply_.size() >= kIndexBatch || now - apply_last_ >= kIndexQuiet ||
                                 now - apply_since_ >= kIndexMaxWait)) {
        lock.unlock();
        const bool ok = MoveIntoDatabase().ok();
        lock.lock();
        if (!ok) {
          if (stopping_) return;  // the destructor tries once more
          index_cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_; });
        }
        continue;
      }
      if (stopping_) return;
      if (to_apply_.empty()) {
        index_cv_.wait(lock);
      } else {
        index_cv_.wait_until(lock, std::min<Clock::time_point>(apply_last_ + kIndexQuiet, apply_since_ + kIndexMaxWait));
      }
    }
  }

  std::unique_ptr<Db> db_;
  const std::string vault_id_;
  const AuditKeys keys_;

  std::mutex ahead_mu_;  // the chain's end and the write-ahead file
  ChainState state_;
  // HMAC under the epoch key of epoch_mac_epoch_ (state_'s, or the next
  // one's after a write that failed).
  std::optional<crypto::HmacSha256Key> epoch_mac_;
  uint64_t epoch_mac_epoch_ = 0;
  TagCache tags_{keys_.index};
  const int ahead_fd_;
  const std::string ahead_path_;
  off_t ahead_size_;       // where the next entry goes
  off_t ahead_allocated_;  // bytes written so far (zeros beyond the entries)
  std::string ahead_page_head_{kAheadMagic};  // the file from the start of ahead_size_'s page to it
  bool write_failing_ = false;  // since the last write that failed, until one succeeds
  std::atomic<bool> power_loss_{false};

  std::mutex db_mu_;  // the live database (db_ is replaced when it rotates) and what follows
  const std::string path_;
  uint64_t first_seq_;  // of the live database
  uint64_t applied_seq_;
  crypto::audit::Link applied_link_;
  size_t records_since_checkpoint_ = 0;
  bool apply_failing_ = false;
  std::atomic<uint64_t> segment_limit_{kDefaultAuditSegmentBytes};

  std::mutex mu_;  // what follows
  std::condition_variable cv_;
  std::condition_variable done_cv_;
  std::deque<Pending> queue_;
  uint64_t next_ticket_ = 0;
  uint64_t committed_ = 0;
  bool committing_ = false;
  bool writer_idle_ = false;  // the writer sleeps until woken (no timer set)
  bool queued_lost_ = false;
  std::map<uint64_t, Status> failed_;
  std::chrono::steady_clock::time_point queue_since_;  // the oldest queued record's arrival
  std::vector<AheadItem> to_apply_;
  std::chrono::steady_clock::time_point apply_since_;  // when the oldest of to_apply_ was written ahead
  std::chrono::steady_clock::time_point apply_last_;   // when the newest was
  bool stopping_ = false;
  std::thread writer_;
  std::condition_variable index_cv_;  // wakes the indexer
  std::thread indexer_;
};

// Moves the records of the write-ahead file that the database lacks into it
// (each checked against the chain), then empties the file. What cannot be
// moved (a gap, a record that does not authenticate, a torn tail) is left
// out and described in `problem`.
Status ReplayAhead(Db& db, const AuditKeys& keys, ChainState* state, int fd, const std::string& path,
                   std::string* problem) {
  std::string data;
  {
    char buf[1 << 16];
    for (off_t off = 0;;) {
      const ssize_t n = ::pread(fd, buf, sizeof buf, off);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Status::Io(errno, "read the audit log's write-ahead file " + path);
      if (n == 0) break;
      data.append(buf, static_cast<size_t>(n));
      off += n;
    }
  }
  const AheadParse parse = ParseAheadFile(crypto::AsBytes(data));
  // A file cut inside its magic was being created: it holds nothing.
  const bool fresh = data.size() < kAheadMagic.size() && kAheadMagic.starts_with(data);
  if (!parse.header_ok && !fresh) {
    return Status::Integrity("the audit log's write-ahead file " + path +
                             " is not one (move it aside to mount; any records in it are then lost)");
  }
  ChainState next = state->Clone();
  std::vector<AheadItem> items;
  for (const AheadRecord& r : parse.records) {
    const crypto::audit::RecordFields& f = r.fields;
    if (f.seq <= next.last_seq) continue;  // already in the database
    const std::string n = std::to_string(next.last_seq + 1);
    if (f.seq != next.last_seq + 1) {
      *problem = "record " + n + " is missing (records from " + std::to_string(f.seq) + " on were left out)";
      break;
    }
    if (f.epoch < next.epoch || f.epoch - next.epoch > 1024) {
      *problem = "record " + n + " has an impossible epoch (it and what follows were left out)";
      break;
    }
    crypto::SecretKey key =
        f.epoch > next.epoch ? crypto::audit::EvolveTo(next.key, next.epoch, f.epoch) : next.key.Clone();
    const crypto::audit::Link link = crypto::audit::NextLink(key, next.last_link, f);
    if (CRYPTO_memcmp(link.data(), r.link.data(), link.size()) != 0) {
      *problem = "record " + n + " does not authenticate (it and what follows were left out)";
      break;
    }
    AheadItem item{r, std::nullopt};
    if (f.epoch != next.epoch) {
      next.epoch = f.epoch;
      next.epoch_start = f.seq;
      next.key = std::move(key);
      item.epoch = EpochMetaOf(keys, next);
    }
    next.last_seq = f.seq;
    next.last_link = r.link;
    items.push_back(std::move(item));
  }
  if (problem->empty() && parse.damaged_bytes > 0 && !fresh) {
    *problem = std::to_string(parse.damaged_bytes) + " bytes at its end do not parse (a write cut short)";
  }
  if (!items.empty()) {
    spdlog::info("moving {} audit records from {} into the database", items.size(), path);
    SR_RETURN_IF_ERROR(db.Exec("PRAGMA synchronous=FULL"));
    Status st = InsertBatch(db, items);
    SR_RETURN_IF_ERROR(db.Exec("PRAGMA synchronous=NORMAL"));
    if (!st.ok()) return Status::Io(EIO, "cannot move the write-ahead audit records into the database: " + st.ToString());
  }
  *state = std::move(next);
  if (!ResetAhead(fd)) return Status::Io(errno, "reset the audit log's write-ahead file " + path);
  return Status::Ok();
}

}  // namespace

AuditEntry ProcessEntry(std::string op, std::string reason, std::string path) {
  AuditEntry e;
  e.uid = ::getuid();
  e.pid = ::getpid();
  e.op = std::move(op);
  e.path = std::move(path);
  e.reason = std::move(reason);
  return e;
}

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
  SR_RETURN_IF_ERROR(InitSchema(**db, vault_id, 1, crypto::audit::Link{}));
  // The first record, MACed with K_0; then only K_1 is kept.
  if (first.time_us == 0) first.time_us = NowMicros();
  ChainState k1{1, {}, 1, 2, crypto::audit::Evolve(initial_key)};
  AheadItem item{{}, EpochMetaOf(keys, k1)};
  {
    crypto::HmacSha256Key k0_mac(initial_key.span());  // wiped at the end of the block
    TagCache tags(keys.index);
    item.record = MakeRecord(keys, k0_mac, crypto::audit::Link{}, 1, 0, first, tags);
  }
  SR_RETURN_IF_ERROR(InsertBatch(**db, {&item, 1}));
  // A write-ahead file left by an earlier log of this name is not this one's.
  ::unlink(AheadPathFor(path).c_str());
  return (*db)->Exec("PRAGMA wal_checkpoint(TRUNCATE)");
}

Result<std::unique_ptr<AuditLog>> OpenAuditLog(const std::string& path, const std::string& vault_id,
                                               AuditKeys keys) {
  // A rotation cut short: the new live database is complete under its
  // temporary name once the old one has been sealed (renamed away).
  struct stat st;
  const std::string next_path = path + kNextSuffix;
  if (::lstat(path.c_str(), &st) != 0 && errno == ENOENT && ::lstat(next_path.c_str(), &st) == 0) {
    spdlog::warn("finishing the rotation of the audit log {}", path);
    if (::rename(next_path.c_str(), path.c_str()) != 0) return Status::Io(errno, "finish rotating " + path);
    SyncDirOf(path);
  } else {
    ::unlink(next_path.c_str());  // a rotation that never got as far as sealing
    ::unlink((next_path + "-wal").c_str());
    ::unlink((next_path + "-shm").c_str());
  }
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
  const std::optional<uint64_t> last = ParseU64(seq), epoch_n = ParseU64(epoch), start_n = ParseU64(start),
                                first_seq = ParseU64(MetaOf(**db, "first_seq").value_or("1"));
  if (!last || !epoch_n || !start_n || !first_seq || !link || !wrapped || !crypto::HexDecode(*link, &link_bytes) ||
      link_bytes.size() != 32 || !crypto::HexDecode(*wrapped, &wrapped_bytes)) {
    return Status::Integrity("the audit log's state is damaged");
  }
  state.last_seq = *last;
  std::memcpy(state.last_link.data(), link_bytes.data(), 32);
  state.epoch = *epoch_n;
  state.epoch_start = *start_n;
  if (state.epoch_start > state.last_seq + 1) return Status::Integrity("the audit log's state is damaged");
  if (!crypto::Unwrap(keys.wrap, crypto::AsBytes(kEpochKeyAad), wrapped_bytes, &state.key) ||
      state.key.size() != crypto::audit::kKeySize) {
    return Status::Integrity("the audit log's epoch key does not authenticate");
  }
  // Records written ahead but not yet in the database (the daemon stopped
  // before it moved them) are moved now.
  const std::string ahead_path = AheadPathFor(path);
  const int fd = ::open(ahead_path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return Status::Io(errno, "open the audit log's write-ahead file " + ahead_path);
  std::string problem;
  Status replayed = ReplayAhead(**db, keys, &state, fd, ahead_path, &problem);
  if (!replayed.ok()) {
    ::close(fd);
    return replayed;
  }
  auto log = std::make_unique<SqliteAuditLog>(std::move(*db), path, vault_id, *first_seq, std::move(keys),
                                              std::move(state), fd);
  if (!problem.empty()) {
    spdlog::error("the audit log's write-ahead file {}: {}", ahead_path, problem);
    AuditEntry e;
    e.op = "integrity";
    e.result = EIO;
    e.reason = "audit write-ahead file: " + problem;
    SR_RETURN_IF_ERROR(log->Append(std::move(e)));
  }
  return std::unique_ptr<AuditLog>(std::move(log));
}

namespace {

std::string SegmentStem(const std::string& db_path) {
  std::string name = std::filesystem::path(db_path).filename().string();
  if (name.size() > 3 && name.ends_with(".db")) name.resize(name.size() - 3);
  return name;
}

}  // namespace

std::string AuditSegmentPath(const std::string& db_path, uint64_t first, uint64_t last) {
  char range[64];
  std::snprintf(range, sizeof range, ".%012llu-%012llu.db", static_cast<unsigned long long>(first),
                static_cast<unsigned long long>(last));
  return (std::filesystem::path(db_path).parent_path() / (SegmentStem(db_path) + range)).string();
}

Status CopyFileSynced(const std::string& from, const std::string& to) {
  const int in = ::open(from.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (in < 0) return Status::Io(errno, "cannot read " + from + ": " + std::strerror(errno));
  const int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (out < 0) {
    const int err = errno;
    ::close(in);
    if (err == EEXIST) return Status::Exists(to + " already exists");
    return Status::Io(err, "cannot create " + to + ": " + std::strerror(err));
  }
  std::vector<char> buf(1 << 20);
  int err = 0;
  for (;;) {
    const ssize_t n = ::read(in, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) err = errno;
    if (n <= 0) break;
    for (ssize_t done = 0; err == 0 && done < n;) {
      const ssize_t w = ::write(out, buf.data() + done, static_cast<size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) err = w < 0 ? errno : EIO;
      else done += w;
    }
    if (err != 0) break;
  }
  if (err == 0 && ::fsync(out) != 0) err = errno;
  ::close(in);
  ::close(out);
  if (err != 0) {
    ::unlink(to.c_str());
    return Status::Io(err, std::strerror(err));
  }
  return Status::Ok();
}

Status BackupDatabaseFile(const std::string& path, const std::string& dst) {
  sqlite3* raw = nullptr;
  if (sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, nullptr) != SQLITE_OK) {
    std::string msg = raw != nullptr ? sqlite3_errmsg(raw) : "out of memory";
    sqlite3_close_v2(raw);
    return Status::Integrity("cannot open " + path + ": " + msg);
  }
  sqlite::DbPtr db(raw);
  return sqlite::BackupTo(db.get(), dst);
}

Status BackupAuditLogFiles(const std::string& db_path, const std::string& dir) {
  const std::string dst = dir + "/" + kAuditDbName;
  SR_RETURN_IF_ERROR(BackupDatabaseFile(db_path, dst));
  for (const AuditSegment& seg : ListAuditSegments(db_path)) {
    SR_RETURN_IF_ERROR(CopyFileSynced(seg.path, AuditSegmentPath(dst, seg.first, seg.last)));
  }
  const std::string ahead = AheadPathFor(db_path);
  if (::access(ahead.c_str(), F_OK) == 0) SR_RETURN_IF_ERROR(CopyFileSynced(ahead, AheadPathFor(dst)));
  return Status::Ok();
}

std::vector<AuditSegment> ListAuditSegments(const std::string& db_path, const std::string& dir) {
  const std::string stem = SegmentStem(db_path) + ".";
  const std::filesystem::path where =
      dir.empty() ? std::filesystem::path(db_path).parent_path() : std::filesystem::path(dir);
  std::vector<AuditSegment> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(where.empty() ? "." : where, ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with(stem) || !name.ends_with(".db")) continue;
    const std::string range = name.substr(stem.size(), name.size() - stem.size() - 3);
    const size_t dash = range.find('-');
    if (dash == std::string::npos) continue;
    const auto first = ParseU64(range.substr(0, dash)), last = ParseU64(range.substr(dash + 1));
    if (!first || !last || *first == 0 || *last < *first) continue;
    if (!entry.is_regular_file(ec) || entry.is_symlink(ec)) continue;
    out.push_back({*first, *last, entry.path().string()});
  }
  std::sort(out.begin(), out.end(), [](const AuditSegment& a, const AuditSegment& b) { return a.first < b.first; });
  return out;
}

}  // namespace strongroom::acl
