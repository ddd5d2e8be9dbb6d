#include "acl/audit_ahead.h"

#include <cstring>
#include <limits>

namespace strongroom::acl {
namespace {

// No single entry is anywhere near this: a length beyond it is damage.
constexpr uint32_t kMaxEntry = 1u << 24;
constexpr size_t kChecksumSize = 8;

void PutU32(std::string* out, uint32_t v) {
  for (int i = 3; i >= 0; --i) out->push_back(static_cast<char>(v >> (8 * i)));
}
void PutU64(std::string* out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out->push_back(static_cast<char>(v >> (8 * i)));
}
void PutBytes(std::string* out, crypto::ByteView b) {
  PutU32(out, static_cast<uint32_t>(b.size()));
  out->append(reinterpret_cast<const char*>(b.data()), b.size());
}

// Reads big-endian integers and length-prefixed byte strings, failing
// (and staying failed) past the end.
class Reader {
 public:
  explicit Reader(crypto::ByteView data) : data_(data) {}
  bool ok() const { return ok_; }
  bool done() const { return ok_ && pos_ == data_.size(); }

  uint64_t U(size_t n) {
    if (!ok_ || data_.size() - pos_ < n) {
      ok_ = false;
      return 0;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v = (v << 8) | data_[pos_ + i];
    pos_ += n;
    return v;
  }
  crypto::ByteView Raw(size_t n) {
    if (!ok_ || data_.size() - pos_ < n) {
      ok_ = false;
      return {};
    }
    crypto::ByteView out = data_.subspan(pos_, n);
    pos_ += n;
    return out;
  }
  crypto::Bytes Blob() {
    crypto::ByteView b = Raw(static_cast<size_t>(U(4)));
    return crypto::Bytes(b.begin(), b.end());
  }

 private:
  crypto::ByteView data_;
  size_t pos_ = 0;
  bool ok_ = true;
};

bool ParseBody(crypto::ByteView body, AheadRecord* r) {
  Reader in(body);
  crypto::audit::RecordFields& f = r->fields;
  f.seq = in.U(8);
  f.epoch = in.U(8);
  f.time_us = static_cast<int64_t>(in.U(8));
  f.uid = static_cast<uint32_t>(in.U(4));
  f.pid = static_cast<int32_t>(static_cast<uint32_t>(in.U(4)));
  const crypto::Bytes op = in.Blob();
  f.op.assign(op.begin(), op.end());
  f.result = static_cast<int32_t>(static_cast<uint32_t>(in.U(4)));
  f.count = static_cast<uint32_t>(in.U(4));
  f.user_tag = in.Blob();
  f.path_tag = in.Blob();
  f.sealed = in.Blob();
  crypto::ByteView link = in.Raw(r->link.size());
  if (in.ok()) std::memcpy(r->link.data(), link.data(), link.size());
  const uint64_t tags = in.U(4);
  for (uint64_t i = 0; in.ok() && i < tags; ++i) r->prefix_tags.push_back(in.Blob());
  return in.done() && f.seq > 0 && f.seq <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) &&
         f.epoch <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
}

}  // namespace

void AppendAheadEntry(const AheadRecord& r, std::string* out) {
  const crypto::audit::RecordFields& f = r.fields;
  std::string body;
  body.reserve(128 + f.sealed.size() + 20 * r.prefix_tags.size());
  PutU64(&body, f.seq);
  PutU64(&body, f.epoch);
  PutU64(&body, static_cast<uint64_t>(f.time_us));
  PutU32(&body, f.uid);
  PutU32(&body, static_cast<uint32_t>(f.pid));
  PutBytes(&body, crypto::AsBytes(f.op));
  PutU32(&body, static_cast<uint32_t>(f.result));
  PutU32(&body, f.count);
  PutBytes(&body, f.user_tag);
  PutBytes(&body, f.path_tag);
  PutBytes(&body, f.sealed);
  body.append(reinterpret_cast<const char*>(r.link.data()), r.link.size());
  PutU32(&body, static_cast<uint32_t>(r.prefix_tags.size()));
  for (const crypto::Bytes& tag : r.prefix_tags) PutBytes(&body, tag);

  uint8_t sum[32];
  crypto::Sha256(crypto::AsBytes(body), sum);
  PutU32(out, static_cast<uint32_t>(body.size()));
  out->append(body);
  out->append(reinterpret_cast<const char*>(sum), kChecksumSize);
}

AheadParse ParseAheadFile(crypto::ByteView file) {
  AheadParse out;
  if (file.size() < kAheadMagic.size() ||
      std::memcmp(file.data(), kAheadMagic.data(), kAheadMagic.size()) != 0) {
    out.damaged_bytes = file.size();
    return out;
  }
  out.header_ok = true;
  size_t pos = kAheadMagic.size();
  while (file.size() - pos >= 4) {
    Reader len(file.subspan(pos, 4));
    const uint64_t n = len.U(4);
    if (n == 0) {  // the end marker: what follows is space kept for later
      out.good_bytes = file.size();
      return out;
    }
    if (n > kMaxEntry || file.size() - pos - 4 < n + kChecksumSize) break;
    crypto::ByteView body = file.subspan(pos + 4, n);
    uint8_t sum[32];
    crypto::Sha256(body, sum);
    if (std::memcmp(sum, file.data() + pos + 4 + n, kChecksumSize) != 0) break;
    AheadRecord r;
    if (!ParseBody(body, &r)) break;
    out.records.push_back(std::move(r));
    pos += 4 + n + kChecksumSize;
  }
  out.good_bytes = pos;
  out.damaged_bytes = file.size() - pos;
  return out;
}

}  // namespace strongroom::acl
