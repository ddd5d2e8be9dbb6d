// VaultFs: what goes into the audit log. Changes are recorded ahead of the
// change and committed before it happens (a change never happens
// unrecorded; if the record cannot be written the call fails with EIO);
// opens and refusals are queued and committed within milliseconds.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include "fs/errno_map.h"
#include "fs/vault_fs.h"

namespace strongroom::fs {
namespace {

std::string ExeOf(pid_t pid) {
  if (pid <= 0) return {};
  char buf[4096];
  const ssize_t n = ::readlink(("/proc/" + std::to_string(pid) + "/exe").c_str(), buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

}  // namespace

std::string VaultFs::VaultPathOf(const std::shared_ptr<Inode>& inode) {
  std::vector<std::string> names;
  {
    std::lock_guard lock(table_mu_);
    for (const Inode* n = inode.get(); n != nullptr && n->ino != 1 && names.size() < 4096;) {
      names.push_back(n->name);
      n = n->parent ? n->parent.get() : n->former_parent.get();
    }
  }
  std::string path;
  for (auto it = names.rbegin(); it != names.rend(); ++it) path += "/" + *it;
  return path.empty() ? "/" : path;
}

std::string VaultFs::ChildPath(const std::shared_ptr<Inode>& dir, std::string_view name) {
  std::string path = VaultPathOf(dir);
  if (path != "/") path += "/";
  path.append(name);
  return path;
}

acl::AuditEntry VaultFs::AuditEntryFor(const Caller& caller, std::string op, std::string path, int result) {
  acl::AuditEntry e;
  e.uid = caller.uid;
  e.pid = caller.pid;
  e.op = std::move(op);
  e.path = std::move(path);
  e.result = result;
  e.exe = ExeOf(caller.pid);
  if (auto policy = policy_.Get()) {
    if (const acl::User* u = policy->FindUser(caller.uid)) e.user = u->name;
  }
  return e;
}

Status VaultFs::AuditAhead(acl::AuditEntry entry) {
  if (audit_ == nullptr) return Status::Ok();
  Status st = audit_->Append(std::move(entry));
  if (!st.ok()) {
    spdlog::error("refusing a change that cannot be recorded: {}", st.ToString());
    return Status::Io(EIO, "the audit log cannot be written");
  }
  return Status::Ok();
}

void VaultFs::AuditLater(acl::AuditEntry entry) {
  if (audit_ != nullptr) audit_->AppendAsync(std::move(entry));
}

Status VaultFs::AuditOutcome(const Caller& caller, const char* op, const std::string& path, const Status& st,
                             std::string access) {
  if (st.ok() || audit_ == nullptr) return st;
  const int err = ToErrno(st);
  // Identical refusals (same uid, operation, path, answer and reason)
  // within a short window are counted into one record, written when the
  // window ends. The reason keeps apart refusals that name different
  // programs (view-only: "copy refused: /usr/bin/cp ...").
  const std::string key = std::to_string(caller.uid) + '\0' + op + '\0' + path + '\0' + std::to_string(err) +
                          '\0' + access + '\0' + st.message();
  const auto now = std::chrono::steady_clock::now();
  std::optional<acl::AuditEntry> repeated;
  {
    std::lock_guard lock(refusals_mu_);
    auto it = refusals_.find(key);
    if (it != refusals_.end() && now - it->second.first < kRefusalWindow) {
      ++it->second.repeats;
      it->second.last_entry.time_us = 0;
      return st;
    }
    if (it != refusals_.end() && it->second.repeats > 0) {
      repeated = it->second.last_entry;
      repeated->count = it->second.repeats;
      repeated->reason = "repeated " + std::to_string(it->second.repeats) + " more times: " + repeated->reason;
    }
    if (refusals_.size() > 10000) FlushRefusalsLocked();
  }
  if (repeated) AuditLater(std::move(*repeated));
  acl::AuditEntry e = AuditEntryFor(caller, op, path, err);
  e.access = std::move(access);
  e.reason = st.message();
  {
    std::lock_guard lock(refusals_mu_);
    refusals_[key] = Refusal{now, 0, e};
  }
  AuditLater(std::move(e));
  return st;
}

void VaultFs::FlushRefusalsLocked() {
  for (auto& [key, r] : refusals_) {
    if (r.repeats == 0) continue;
    acl::AuditEntry e = r.last_entry;
    e.time_us = 0;
    e.count = r.repeats;
    e.reason = "repeated " + std::to_string(r.repeats) + " more times: " + e.reason;
    AuditLater(std::move(e));
  }
  refusals_.clear();
}

void VaultFs::FlushEndedRefusals() {
  std::vector<acl::AuditEntry> ended;
  {
    std::lock_guard lock(refusals_mu_);
    const auto now = std::chrono::steady_clock::now();
    for (auto it = refusals_.begin(); it != refusals_.end();) {
      if (now - it->second.first < kRefusalWindow) {
        ++it;
        continue;
      }
      if (it->second.repeats > 0) {
        acl::AuditEntry e = it->second.last_entry;
        e.time_us = 0;
        e.count = it->second.repeats;
        e.reason = "repeated " + std::to_string(it->second.repeats) + " more times: " + e.reason;
        ended.push_back(std::move(e));
      }
      it = refusals_.erase(it);
    }
  }
  for (auto& e : ended) AuditLater(std::move(e));
}

void VaultFs::FlushRefusals() {
  std::lock_guard lock(refusals_mu_);
  FlushRefusalsLocked();
}

}  // namespace strongroom::fs
