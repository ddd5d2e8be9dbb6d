#include "fs/vault_layout.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <tuple>

#include "fs/unique_fd.h"

namespace strongroom::fs {
namespace {

crypto::Bytes SymlinkAad(const acl::ObjectId& id) {
  static constexpr char kLabel[] = "strongroom/v1/symlink";
  crypto::Bytes aad(sizeof kLabel - 1 + id.size());
  std::memcpy(aad.data(), kLabel, sizeof kLabel - 1);
  std::memcpy(aad.data() + sizeof kLabel - 1, id.data(), id.size());
  return aad;
}

bool Split(std::string_view backing_target, acl::ObjectId* id, crypto::Bytes* sealed) {
  crypto::Bytes raw;
  if (!crypto::Base64UrlDecode(backing_target, &raw) || raw.size() <= id->size() + crypto::siv::kTagSize) {
    return false;
  }
  std::memcpy(id->data(), raw.data(), id->size());
  sealed->assign(raw.begin() + static_cast<long>(id->size()), raw.end());
  return true;
}

}  // namespace

std::optional<std::string> EncodeSymlinkTarget(const crypto::SecretKey& names_key, const acl::ObjectId& id,
                                               std::string_view target) {
  crypto::Bytes sealed;
  if (!crypto::siv::Seal(names_key.span(), SymlinkAad(id), crypto::AsBytes(target), &sealed)) return std::nullopt;
  crypto::Bytes raw(id.begin(), id.end());
  raw.insert(raw.end(), sealed.begin(), sealed.end());
  return crypto::Base64UrlEncode(raw);
}

std::optional<acl::ObjectId> SymlinkObjectId(std::string_view backing_target) {
  acl::ObjectId id;
  crypto::Bytes sealed;
  if (!Split(backing_target, &id, &sealed)) return std::nullopt;
  return id;
}

std::optional<std::string> DecodeSymlinkTarget(const crypto::SecretKey& names_key,
                                               std::string_view backing_target) {
  acl::ObjectId id;
  crypto::Bytes sealed, plain;
  if (!Split(backing_target, &id, &sealed) || !crypto::siv::Open(names_key.span(), SymlinkAad(id), sealed, &plain)) {
    return std::nullopt;
  }
  return std::string(plain.begin(), plain.end());
}

acl::Place PlaceFor(const crypto::SecretKey& binding, const crypto::DirId& dir, std::string_view name) {
  std::string data(dir.begin(), dir.end());
  data.append(name);
  uint8_t mac[32];
  crypto::HmacSha256(binding.span(), crypto::AsBytes(data), mac);
  acl::Place place;
  place.parent = dir;
  std::memcpy(place.name_tag.data(), mac, place.name_tag.size());
  return place;
}

acl::Blob ObjectRowMac(const crypto::SecretKey& key, const acl::ObjectRow& row) {
  const acl::Place& place = row.place;
  const std::optional<acl::Place>& previous = row.previous_place;
  crypto::Bytes data;
  data.reserve(16 + 1 + 4 * 16 + 1);
  auto put = [&data](std::span<const uint8_t> b) { data.insert(data.end(), b.begin(), b.end()); };
  put(row.id);
  data.push_back(static_cast<uint8_t>(row.kind));
  put(place.parent);
  put(place.name_tag);
  data.push_back(previous ? 1 : 0);
  if (previous) {
    put(previous->parent);
    put(previous->name_tag);
  }
  data.push_back(row.unlinked ? 1 : 0);
  acl::Blob mac(32);
  crypto::HmacSha256(key.span(), data, mac.data());
  return mac;
}

namespace {

// Length-prefixed fields, so that no two policies encode alike.
class Encoder {
 public:
  void U64(uint64_t v) {
    for (int i = 7; i >= 0; --i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  void I64(int64_t v) { U64(static_cast<uint64_t>(v)); }
  void Bytes(std::span<const uint8_t> b) {
    U64(b.size());
    out.insert(out.end(), b.begin(), b.end());
  }
  void Str(const std::string& s) { Bytes(crypto::AsBytes(s)); }
  void Opt(const std::optional<int64_t>& v) {
    out.push_back(v ? 1 : 0);
    if (v) I64(*v);
  }
  crypto::Bytes out;
};

}  // namespace

acl::Blob PolicyMac(const crypto::SecretKey& key, const acl::PolicyData& policy) {
  acl::PolicyData p = policy;
  std::sort(p.users.begin(), p.users.end(), [](const auto& a, const auto& b) { return a.uid < b.uid; });
  std::sort(p.teams.begin(), p.teams.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  for (auto& t : p.teams) std::sort(t.members.begin(), t.members.end());
  auto grant_key = [](const acl::Grant& g) {
    return std::make_tuple(g.object, g.subject.user.has_value(), g.subject.user.value_or(0),
                           g.subject.team.value_or(0));
  };
  std::sort(p.grants.begin(), p.grants.end(), [&](const auto& a, const auto& b) { return grant_key(a) < grant_key(b); });
  std::sort(p.labels.begin(), p.labels.end(), [](const auto& a, const auto& b) { return a.object < b.object; });
  Encoder e;
  e.Str("strongroom/v1/policy");
  e.U64(p.users.size());
  for (const auto& u : p.users) {
    e.U64(u.uid);
    e.Str(u.name);
    e.I64(static_cast<int>(u.role));
    e.I64(u.clearance);
    e.U64(u.enabled ? 1 : 0);
    e.I64(u.created_at);
    e.Opt(u.created_by ? std::optional<int64_t>(*u.created_by) : std::nullopt);
  }
  e.U64(p.teams.size());
  for (const auto& t : p.teams) {
    e.I64(t.id);
    e.Str(t.name);
    e.U64(t.members.size());
    for (acl::Uid m : t.members) e.U64(m);
  }
  e.U64(p.grants.size());
  for (const auto& g : p.grants) {
    e.Bytes(g.object);
    e.Opt(g.subject.user ? std::optional<int64_t>(*g.subject.user) : std::nullopt);
    e.Opt(g.subject.team);
    e.I64(static_cast<int>(g.mode));
    e.Opt(g.until);
    e.U64(g.granted_by);
    e.I64(g.granted_at);
  }
  e.U64(p.labels.size());
  for (const auto& l : p.labels) {
    e.Bytes(l.object);
    e.I64(l.level);
    e.U64(l.set_by);
    e.I64(l.set_at);
  }
  // The viewer group and the allow-list (schema 3). A policy with neither
  // encodes as before, so that a vault sealed before view-only mode existed
  // keeps its seal.
  if (p.viewer_group || !p.viewers.empty()) {
    std::sort(p.viewers.begin(), p.viewers.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
    e.Str("strongroom/v1/viewers");
    e.out.push_back(p.viewer_group ? 1 : 0);
    if (p.viewer_group) {
      e.U64(p.viewer_group->gid);
      e.Str(p.viewer_group->name);
    }
    e.U64(p.viewers.size());
    for (const auto& v : p.viewers) {
      e.I64(v.id);
      e.Str(v.path);
      e.Str(v.label);
      e.Bytes(v.sha256);
      e.U64(v.added_by);
      e.I64(v.added_at);
    }
  }
  // Retention holds, witnessed requests and the witnesses setting (schema
  // 4), through the store's digest of their rows. A policy without them
  // encodes as before, so that a vault sealed earlier keeps its seal.
  if (!p.witnessed_digest.empty()) {
    e.Str("strongroom/v1/witnessed");
    e.Bytes(p.witnessed_digest);
  }
  acl::Blob mac(32);
  crypto::HmacSha256(key.span(), e.out, mac.data());
  return mac;
}

acl::PolicySealer PolicySealerFor(const crypto::SecretKey& key) {
  auto copy = std::make_shared<crypto::SecretKey>(key.Clone());
  return [copy](const acl::PolicyData& policy) { return PolicyMac(*copy, policy); };
}

int LinkUnnamed(int fd, int dir_fd, const std::string& name) {
  if (::linkat(fd, "", dir_fd, name.c_str(), AT_EMPTY_PATH) == 0) return 0;
  if (errno != ENOENT && errno != EPERM) return -1;
  // Without CAP_DAC_READ_SEARCH, AT_EMPTY_PATH is refused: through /proc.
  const std::string proc = "/proc/self/fd/" + std::to_string(fd);
  return ::linkat(AT_FDCWD, proc.c_str(), dir_fd, name.c_str(), AT_SYMLINK_FOLLOW);
}

Status WriteDirId(int dir_fd, const crypto::DirId& id) {
  UniqueFd fd(::openat(dir_fd, ".", O_WRONLY | O_TMPFILE | O_CLOEXEC, 0400));
  const bool unnamed = fd.valid();
  if (!unnamed) fd = UniqueFd(::openat(dir_fd, kDirIdName, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0400));
  if (!fd.valid()) return Errno("create directory ID");
  if (::pwrite(fd.get(), id.data(), id.size(), 0) != static_cast<ssize_t>(id.size())) {
    return Errno("write directory ID");
  }
  if (unnamed && LinkUnnamed(fd.get(), dir_fd, kDirIdName) != 0) return Errno("name directory ID");
  return Status::Ok();
}

}  // namespace strongroom::fs
