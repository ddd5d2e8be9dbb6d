#include "fs/vault_check.h"

#include <dirent.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "acl/audit_verify.h"
#include "crypto/content.h"
#include "fs/encrypted_file.h"
#include "fs/unique_fd.h"
#include "fs/vault_layout.h"

namespace strongroom::fs {
namespace {

std::string IdHex(std::span<const uint8_t> id) { return crypto::HexEncode(id); }

bool IsZero(const acl::ObjectId& id) {
  return std::all_of(id.begin(), id.end(), [](uint8_t b) { return b == 0; });
}

std::string Child(const std::string& dir, const std::string& name) {
  return dir == "/" ? "/" + name : dir + "/" + name;
}

const char* KindName(acl::ObjectKind kind) {
  switch (kind) {
    case acl::ObjectKind::kFile: return "file";
    case acl::ObjectKind::kDirectory: return "directory";
    case acl::ObjectKind::kSymlink: return "symlink";
  }
  return "object";
}

const char* FindingName(CheckFinding::Kind kind) {
  switch (kind) {
    case CheckFinding::Kind::kDamaged: return "damaged";
    case CheckFinding::Kind::kName: return "name";
    case CheckFinding::Kind::kSkipped: return "skipped";
  }
  return "damaged";
}

// How often progress is reported (entries).
constexpr uint64_t kProgressEvery = 64;

}  // namespace

size_t CheckReport::Count(CheckFinding::Kind kind) const {
  return static_cast<size_t>(
      std::count_if(findings.begin(), findings.end(), [kind](const CheckFinding& f) { return f.kind == kind; }));
}

bool CheckReport::Clean() const {
  return Count(CheckFinding::Kind::kDamaged) == 0 && Count(CheckFinding::Kind::kName) == 0 &&
         orphans.size() == orphans_removed && (!audit.checked || audit.ok);
}

nlohmann::json CheckReportJson(const CheckReport& r) {
  using nlohmann::json;
  json findings = json::array();
  for (const CheckFinding& f : r.findings) {
    findings.push_back({{"kind", FindingName(f.kind)}, {"path", f.path}, {"reason", f.reason}});
  }
  auto rows = [](const std::vector<CheckRow>& list) {
    json out = json::array();
    for (const CheckRow& row : list) {
      json j = {{"id", row.id}, {"kind", KindName(row.kind)}, {"has_key", row.has_key}};
      if (!row.state.empty()) j["state"] = row.state;
      out.push_back(std::move(j));
    }
    return out;
  };
  json audit = nullptr;
  if (r.audit.checked) {
    audit = {{"ok", r.audit.ok},
             {"records", r.audit.records},
             {"epochs", r.audit.epochs},
             {"segments", r.audit.segments},
             {"problem", r.audit.ok ? json(nullptr) : json(r.audit.problem)}};
  }
  return {{"clean", r.Clean()},
          {"rows", r.rows},
          {"objects", r.objects},
          {"files", r.files},
          {"dirs", r.dirs},
          {"symlinks", r.symlinks},
          {"blocks", r.blocks},
          {"bytes", r.bytes},
          {"damaged", r.Count(CheckFinding::Kind::kDamaged)},
          {"name_errors", r.Count(CheckFinding::Kind::kName)},
          {"skipped", r.Count(CheckFinding::Kind::kSkipped)},
          {"findings", findings},
          {"orphans", rows(r.orphans)},
          {"orphans_removed", r.orphans_removed},
          {"pending", rows(r.pending)},
          {"unaccounted", r.unaccounted},
          {"audit", audit}};
}

VaultChecker::VaultChecker(const crypto::VaultKeys& keys, acl::Store& store, int tree_fd, CheckGuard* guard)
    : keys_(keys), names_(keys.names.Clone()), store_(store), tree_fd_(tree_fd), guard_(guard) {}

acl::Place VaultChecker::PlaceOf(const crypto::DirId& dir, std::string_view name) const {
  return PlaceFor(keys_.binding, dir, name);
}

bool VaultChecker::RowMacValid(const acl::ObjectRow& row) const {
  const acl::Blob mac = ObjectRowMac(keys_.rows, row);
  return row.mac.size() == mac.size() && CRYPTO_memcmp(row.mac.data(), mac.data(), mac.size()) == 0;
}

void VaultChecker::Add(CheckFinding::Kind kind, const std::string& path, std::string reason) {
  report_.findings.push_back({kind, path, std::move(reason)});
}

void VaultChecker::Tick() {
  ++report_.objects;
  if (progress_ && report_.objects % kProgressEvery == 0) progress_(report_.objects, report_.rows);
}

std::optional<std::string> VaultChecker::CheckRowOf(const acl::ObjectId& id, acl::ObjectKind kind,
                                                    const std::optional<acl::Place>& here, acl::ObjectRow* out) {
  Result<acl::ObjectRow> row = store_.GetObject(id);
  if (!row.ok()) {
    if (row.status().code() == Status::Code::kNotFound) {
      return std::string(kind == acl::ObjectKind::kFile ? "its key row is missing" : "its row is missing") +
             " (object " + IdHex(id) + ")";
    }
    return "its row cannot be read: " + row.status().message();
  }
  *out = *row;
  if (!RowMacValid(*row)) return "its row in the policy store was modified (object " + IdHex(id) + ")";
  if (row->kind != kind) {
    return std::string("its row is for a ") + KindName(row->kind) + ", not a " + KindName(kind) + " (object " +
           IdHex(id) + ")";
  }
  if (here && row->place != *here && !(row->previous_place && *row->previous_place == *here)) {
    return "it was moved or swapped in the backing directory: its row binds object " + IdHex(id) +
           " to another place";
  }
  return std::nullopt;
}

std::optional<crypto::DirId> VaultChecker::ReadDirId(int dir_fd, const std::string& path) {
  UniqueFd fd(::openat(dir_fd, kDirIdName, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
  if (!fd.valid()) {
    const int err = errno;
    Add(CheckFinding::Kind::kName, path,
        err == ENOENT ? "its .dirid is missing"
        : err == ELOOP ? "its .dirid is a symbolic link"
                       : std::string("its .dirid cannot be read: ") + std::strerror(err));
    return std::nullopt;
  }
  struct stat st;
  crypto::DirId id;
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size != static_cast<off_t>(id.size()) ||
      ::pread(fd.get(), id.data(), id.size(), 0) != static_cast<ssize_t>(id.size())) {
    Add(CheckFinding::Kind::kName, path, "its .dirid is malformed (not a regular file of 16 bytes)");
    return std::nullopt;
  }
  return id;
}

std::optional<std::string> VaultChecker::CheckContent(int fd, const acl::ObjectRow& row, uint64_t plain_size) {
  if (row.wrapped_key.empty()) return "its data key was destroyed (a witnessed destruction not finished?)";
  crypto::SecretKey key;
  if (!crypto::Unwrap(keys_.files, row.id, row.wrapped_key, &key) || key.size() != crypto::kDataKeySize) {
    return "its data key does not authenticate";
  }
  EncryptedFile file(fd, key, row.id);
  if (plain_size == 0) {
    Status st = file.Verify(0);
    if (!st.ok()) return "block 0 does not authenticate (" + st.message() + ")";
    ++report_.blocks;
    return std::nullopt;
  }
  const uint64_t blocks = crypto::BlockCount(plain_size);
  std::vector<uint8_t> buf(crypto::kBlockSize);
  uint64_t first_bad = 0, bad = 0;
  std::string first_reason;
  for (uint64_t i = 0; i < blocks; ++i) {
    const uint64_t offset = i * crypto::kBlockSize;
    const uint64_t len = std::min<uint64_t>(crypto::kBlockSize, plain_size - offset);
    Result<size_t> n = file.Read(offset, {buf.data(), static_cast<size_t>(len)}, plain_size);
    if (n.ok() && *n == len) {
      ++report_.blocks;
      report_.bytes += len;
      continue;
    }
    if (bad++ == 0) {
      first_bad = i;
      first_reason = n.ok() ? "short read" : n.status().message();
    }
  }
  crypto::Wipe(buf.data(), buf.size());
  if (bad == 0) return std::nullopt;
  std::string what = "block " + std::to_string(first_bad) + " does not authenticate";
  if (bad > 1) what += " (and " + std::to_string(bad - 1) + " more of " + std::to_string(blocks) + ")";
  // EncryptedFile's message already names the block when it is the tag.
  if (first_reason.rfind("block", 0) == 0) return what;
  return what + ": " + first_reason;
}

void VaultChecker::CheckEntry(const Dir& dir, const std::string& backing, std::vector<Dir>* stack) {
  // The name.
  std::optional<std::string> name;
  std::string encoded = backing;
  bool name_ok = true;
  if (crypto::IsLongBackingName(backing)) {
    Result<std::string> full = store_.GetLongName(backing);
    if (!full.ok()) {
      Add(CheckFinding::Kind::kName, Child(dir.path, backing), "a long name without its long_names row");
      name_ok = false;
    } else if (crypto::LongBackingName(*full) != backing) {
      Add(CheckFinding::Kind::kName, Child(dir.path, backing), "its long_names row belongs to another name");
      name_ok = false;
    } else {
      encoded = *full;
    }
  }
  if (name_ok) {
    name = names_.Decrypt(dir.id, encoded);
    if (!name) Add(CheckFinding::Kind::kName, Child(dir.path, backing), "the name does not decode in this directory");
  }
  const std::string path = Child(dir.path, name ? *name : backing);
  std::optional<acl::Place> here;
  if (name) here = PlaceOf(dir.id, *name);

  // The object and its row, with no rename in between (mounted).
  struct stat st {};
  UniqueFd fd;
  bool vanished = false, have_id = false;
  bool retry = false, retried = false;  // mounted: a header that did not read is read again
  acl::ObjectId id{};
  acl::ObjectRow row;
  std::optional<std::string> row_problem;
  std::optional<std::string> link_target;
  auto examine = [&] {
    if (::fstatat(dir.fd.get(), backing.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      vanished = errno == ENOENT;
      if (!vanished) Add(CheckFinding::Kind::kDamaged, path, std::string("cannot stat it: ") + std::strerror(errno));
      return;
    }
    if (S_ISREG(st.st_mode)) {
      fd = UniqueFd(::openat(dir.fd.get(), backing.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
      if (!fd.valid() || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
        vanished = !fd.valid() && errno == ENOENT;
        if (!vanished) Add(CheckFinding::Kind::kDamaged, path, "cannot open the backing file");
        fd.Reset();
        return;
      }
      Result<crypto::FileId> fid = ReadFileId(fd.get());
      if (!fid.ok()) {
        // Mounted: a file being created has no header for a moment.
        if (guard_ != nullptr && !retried) {
          retry = true;
          return;
        }
        Add(CheckFinding::Kind::kDamaged, path, fid.status().message());
        return;
      }
      id = *fid;
      have_id = true;
      row_problem = CheckRowOf(id, acl::ObjectKind::kFile, here, &row);
    } else if (S_ISDIR(st.st_mode)) {
      fd = UniqueFd(::openat(dir.fd.get(), backing.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!fd.valid()) {
        vanished = errno == ENOENT;
        if (!vanished) Add(CheckFinding::Kind::kDamaged, path, std::string("cannot open it: ") + std::strerror(errno));
        return;
      }
      std::optional<crypto::DirId> dir_id = ReadDirId(fd.get(), path);
      if (!dir_id) return;
      id = *dir_id;
      have_id = true;
      row_problem = CheckRowOf(id, acl::ObjectKind::kDirectory, here, &row);
    } else if (S_ISLNK(st.st_mode)) {
      std::string target(4096, '\0');
      const ssize_t n = ::readlinkat(dir.fd.get(), backing.c_str(), target.data(), target.size());
      if (n < 0) {
        vanished = errno == ENOENT;
        if (!vanished) Add(CheckFinding::Kind::kDamaged, path, std::string("cannot read it: ") + std::strerror(errno));
        return;
      }
      target.resize(static_cast<size_t>(n));
      std::optional<acl::ObjectId> sid = SymlinkObjectId(target);
      if (!sid) {
        Add(CheckFinding::Kind::kName, path, "the symlink's target does not decode");
        return;
      }
      id = *sid;
      have_id = true;
      link_target = std::move(target);
      row_problem = CheckRowOf(id, acl::ObjectKind::kSymlink, here, &row);
    }
  };
  if (guard_ != nullptr) {
    guard_->WithPlaces(examine);
    if (retry) {
      // Its header did not read: with changes paused (a create in flight
      // finishes first), skip it if it is open for writing, else look once
      // more and report what is found then.
      bool writing = false;
      guard_->Quiesced([&] {
        if (!guard_->WithFile(st.st_ino, [] {})) {
          writing = true;
          return;
        }
        retried = true;
        retry = false;
        fd.Reset();
        guard_->WithPlaces(examine);
      });
      if (writing) {
        Tick();
        ++report_.files;
        ++report_.unaccounted;
        Add(CheckFinding::Kind::kSkipped, path, "open for writing");
        return;
      }
    }
  } else {
    examine();
  }
  if (vanished) return;  // removed while we looked (mounted vaults)
  Tick();
  if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode) && !S_ISLNK(st.st_mode)) {
    ++report_.unaccounted;
    Add(CheckFinding::Kind::kName, path, "not a file, directory or symlink: nothing Strongroom writes");
    return;
  }
  if (S_ISREG(st.st_mode)) ++report_.files;
  if (S_ISDIR(st.st_mode)) ++report_.dirs;
  if (S_ISLNK(st.st_mode)) ++report_.symlinks;
  if (!have_id) {
    ++report_.unaccounted;
    return;
  }
  found_.push_back(id);
  if (row_problem) Add(CheckFinding::Kind::kDamaged, path, *row_problem);

  if (S_ISDIR(st.st_mode)) {
    stack->push_back(Dir{std::move(fd), id, path});
    return;
  }
  if (S_ISLNK(st.st_mode)) {
    if (!DecodeSymlinkTarget(keys_.names, *link_target)) {
      Add(CheckFinding::Kind::kName, path, "the symlink's target does not decode");
    }
    return;
  }
  // A file: its content, unless its row already failed (no key to trust).
  if (st.st_nlink > 1) {
    Add(CheckFinding::Kind::kDamaged, path, "the backing file has " + std::to_string(st.st_nlink) + " links");
  }
  if (row_problem) return;
  std::optional<std::string> problem;
  auto content = [&] {
    struct stat now;
    if (::fstat(fd.get(), &now) != 0) {
      problem = std::string("cannot stat it: ") + std::strerror(errno);
      return;
    }
    const std::optional<uint64_t> plain = crypto::PlainSize(static_cast<uint64_t>(now.st_size));
    if (!plain) {
      problem = "its ciphertext size (" + std::to_string(now.st_size) + " bytes) is not a valid block layout";
      return;
    }
    problem = CheckContent(fd.get(), row, *plain);
  };
  if (guard_ == nullptr) {
    content();
  } else {
    const uint64_t blocks_before = report_.blocks, bytes_before = report_.bytes;
    bool checked = guard_->WithFile(st.st_ino, content);
    if (checked && problem) {
      // A file the daemon had not opened yet may have been opened and
      // written while we read it: look once more, with changes paused.
      report_.blocks = blocks_before;
      report_.bytes = bytes_before;
      problem.reset();
      guard_->Quiesced([&] { checked = guard_->WithFile(st.st_ino, content); });
    }
    if (!checked) {
      Add(CheckFinding::Kind::kSkipped, path, "open for writing");
      return;
    }
  }
  if (problem) Add(CheckFinding::Kind::kDamaged, path, *problem);
}

void VaultChecker::CheckAudit() {
  if (audit_db_.empty()) return;
  report_.audit.checked = true;
  Result<acl::AuditVerifyReport> r = acl::CheckAuditLogStructure(audit_db_);
  if (!r.ok()) {
    report_.audit.ok = false;
    report_.audit.problem = "cannot read the audit log: " + r.status().message();
    return;
  }
  report_.audit.ok = r->ok;
  report_.audit.records = r->records;
  report_.audit.epochs = r->epochs;
  report_.audit.segments = r->segments;
  report_.audit.problem = r->problem;
}

Result<CheckReport> VaultChecker::Run() {
  report_ = CheckReport();
  found_.clear();
  // The rows first: a row inserted while a mounted vault is walked is not
  // taken for an orphan.
  Result<std::vector<acl::ObjectRow>> rows = store_.ListObjects();
  if (!rows.ok()) return rows.status();
  rows_ = std::move(*rows);
  report_.rows = rows_.size();

  UniqueFd root(::openat(tree_fd_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) return Status::Io(errno, "open the vault's tree");
  std::optional<crypto::DirId> root_id = ReadDirId(root.get(), "/");
  if (!root_id) return Status::Integrity("the vault's root directory: " + report_.findings.back().reason);
  acl::ObjectRow root_row;
  if (std::optional<std::string> problem = CheckRowOf(*root_id, acl::ObjectKind::kDirectory, std::nullopt, &root_row)) {
    return Status::Integrity("the vault's root directory: " + *problem);
  }
  if (!IsZero(root_row.place.parent)) return Status::Integrity("the vault's root directory is not the vault's root");
  found_.push_back(*root_id);
  ++report_.dirs;
  Tick();

  std::vector<Dir> stack;
  stack.push_back(Dir{std::move(root), *root_id, "/"});
  while (!stack.empty()) {
    Dir dir = std::move(stack.back());
    stack.pop_back();
    DIR* d = ::fdopendir(::dup(dir.fd.get()));
    if (d == nullptr) {
      ++report_.unaccounted;
      Add(CheckFinding::Kind::kDamaged, dir.path, std::string("cannot list it: ") + std::strerror(errno));
      continue;
    }
    std::vector<std::string> entries;
    while (struct dirent* e = ::readdir(d)) {
      std::string backing = e->d_name;
      if (backing == "." || backing == ".." || backing == kDirIdName) continue;
      entries.push_back(std::move(backing));
    }
    ::closedir(d);
    std::sort(entries.begin(), entries.end());
    for (const std::string& backing : entries) CheckEntry(dir, backing, &stack);
  }

  // Rows whose object the walk did not meet.
  std::set<acl::ObjectId> found(found_.begin(), found_.end());
  for (const acl::ObjectRow& row : rows_) {
    if (found.count(row.id) != 0) continue;
    CheckRow out{IdHex(row.id), row.kind, !row.wrapped_key.empty(), ""};
    const bool authentic = RowMacValid(row);
    if (authentic && (row.unlinked || row.previous_place)) {
      out.state = row.unlinked ? "unlinked" : "rename in flight";
      report_.pending.push_back(std::move(out));
      continue;
    }
    if (guard_ != nullptr) {
      // Mounted: it may have been deleted, marked for deletion (still open)
      // or moved while we walked. Looked at as it is now, with changes
      // paused so that none is half done.
      bool settled = false;
      guard_->Quiesced([&] {
        Result<acl::ObjectRow> now = store_.GetObject(row.id);
        settled = !now.ok() || now->unlinked || now->previous_place.has_value() || guard_->StillThere(row.id);
      });
      if (settled) continue;
    }
    if (!authentic) out.state = "modified";
    report_.orphans.push_back(std::move(out));
  }
  CheckAudit();
  if (progress_) progress_(report_.objects, report_.rows);
  return report_;
}

Status VaultChecker::RemoveOrphans(CheckReport* report) {
  if (report->unaccounted > 0) {
    return Status::Exists(std::to_string(report->unaccounted) +
                          " backing entries could not be read, so their rows may look orphaned; nothing removed");
  }
  std::vector<acl::ObjectId> ids;
  for (const CheckRow& row : report->orphans) {
    if (row.state == "modified") continue;  // an edited row: evidence, left for a person to look at
    crypto::Bytes raw;
    acl::ObjectId id{};
    if (!crypto::HexDecode(row.id, &raw) || raw.size() != id.size()) continue;
    std::memcpy(id.data(), raw.data(), id.size());
    ids.push_back(id);
  }
  if (ids.empty()) return Status::Ok();
  SR_RETURN_IF_ERROR(store_.DeleteObjects(ids));
  SR_RETURN_IF_ERROR(store_.CheckpointTruncate());
  report->orphans_removed = ids.size();
  return Status::Ok();
}

}  // namespace strongroom::fs
