#include "crypto/audit_chain.h"

#include <cstring>

namespace strongroom::crypto::audit {
namespace {

void PutU64(Bytes* out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out->push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void PutU32(Bytes* out, uint32_t v) {
  for (int i = 3; i >= 0; --i) out->push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void PutBytes(Bytes* out, ByteView b) {
  PutU32(out, static_cast<uint32_t>(b.size()));
  out->insert(out->end(), b.begin(), b.end());
}

}  // namespace

SecretKey Evolve(const SecretKey& key) {
  static constexpr std::string_view kLabel = "strongroom/v1/audit-evolve";
  SecretKey next(kKeySize);
  uint8_t mac[32];
  // A context of its own, wiped on return: the per-thread one of
  // HmacSha256() would keep the old key's states.
  HmacSha256Key(key.span()).Mac({AsBytes(kLabel)}, mac);
  std::memcpy(next.data(), mac, kKeySize);
  Wipe(mac, sizeof mac);
  return next;
}

SecretKey EvolveTo(const SecretKey& key, uint64_t from, uint64_t epoch) {
  SecretKey k = key.Clone();
  for (uint64_t e = from; e < epoch; ++e) k = Evolve(k);
  return k;
}

Bytes RecordBytes(const RecordFields& r) {
  Bytes out;
  out.reserve(96 + r.op.size() + r.user_tag.size() + r.path_tag.size() + r.sealed.size());
  PutBytes(&out, AsBytes("strongroom/v1/audit-record"));
  PutU64(&out, r.seq);
  PutU64(&out, r.epoch);
  PutU64(&out, static_cast<uint64_t>(r.time_us));
  PutU32(&out, r.uid);
  PutU32(&out, static_cast<uint32_t>(r.pid));
  PutBytes(&out, AsBytes(r.op));
  PutU32(&out, static_cast<uint32_t>(r.result));
  PutU32(&out, r.count);
  PutBytes(&out, r.user_tag);
  PutBytes(&out, r.path_tag);
  PutBytes(&out, r.sealed);
  return out;
}

Link NextLink(HmacSha256Key& epoch_mac, const Link& previous, const RecordFields& r) {
  Link out;
  epoch_mac.Mac({previous, RecordBytes(r)}, out.data());
  return out;
}

Link NextLink(const SecretKey& epoch_key, const Link& previous, const RecordFields& r) {
  HmacSha256Key mac(epoch_key.span());
  return NextLink(mac, previous, r);
}

std::string LinkHex(const Link& link) { return HexEncode(link); }

}  // namespace strongroom::crypto::audit
