#include "fs/vault_layout.h"

#include <cstring>

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

}  // namespace strongroom::fs
