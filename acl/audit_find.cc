#include "acl/audit_find.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>

#include "acl/audit_log.h"
#include "acl/sqlite_db.h"

namespace strongroom::acl {
namespace {

constexpr const char* kFindByOp = "SELECT seq FROM records WHERE op = ?1 ORDER BY seq";

Status FindIn(const std::string& path, const std::string& op, std::vector<uint64_t>* out) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOFOLLOW, nullptr);
  sqlite::DbPtr db(raw);
  if (rc != SQLITE_OK) return Status::Integrity("cannot open the audit database " + path);
  sqlite3_busy_timeout(db.get(), 2000);
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db.get(), kFindByOp, -1, &s, nullptr) != SQLITE_OK) {
    return Status::Integrity(path + " is not an audit database: " + sqlite3_errmsg(db.get()));
  }
  sqlite3_bind_text(s, 1, op.data(), static_cast<int>(op.size()), SQLITE_TRANSIENT);
  int step;
  while ((step = sqlite3_step(s)) == SQLITE_ROW) out->push_back(static_cast<uint64_t>(sqlite3_column_int64(s, 0)));
  sqlite3_finalize(s);
  if (step != SQLITE_DONE) return Status::Io(EIO, "cannot read the audit database " + path);
  return Status::Ok();
}

}  // namespace

Result<std::vector<uint64_t>> FindAuditRecordsByOp(const std::string& db_path, const std::string& op,
                                                   const std::vector<std::string>& archive_dirs) {
  struct stat st;
  if (::stat(db_path.c_str(), &st) != 0) return Status::NotFound("no audit database at " + db_path);
  std::vector<uint64_t> seqs;
  SR_RETURN_IF_ERROR(FindIn(db_path, op, &seqs));
  std::vector<AuditSegment> segments = ListAuditSegments(db_path);
  for (const std::string& dir : archive_dirs) {
    for (AuditSegment& seg : ListAuditSegments(db_path, dir)) segments.push_back(std::move(seg));
  }
  for (const AuditSegment& seg : segments) SR_RETURN_IF_ERROR(FindIn(seg.path, op, &seqs));
  std::sort(seqs.begin(), seqs.end());
  seqs.erase(std::unique(seqs.begin(), seqs.end()), seqs.end());
  return seqs;
}

}  // namespace strongroom::acl
