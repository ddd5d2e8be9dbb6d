#include "crypto/content.h"

#include <cstring>

namespace strongroom::crypto {
namespace {

constexpr size_t kAadSize = 16 + 8 + 1;

void BuildAad(const FileId& id, uint64_t block, bool last, uint8_t aad[kAadSize]) {
  std::memcpy(aad, id.data(), id.size());
  for (int i = 0; i < 8; ++i) aad[16 + i] = static_cast<uint8_t>(block >> (56 - 8 * i));
  aad[24] = last ? 1 : 0;
}

}  // namespace

uint64_t CipherSize(uint64_t plain_size) {
  if (plain_size == 0) return kHeaderSize + kBlockOverhead;  // one empty final block
  return kHeaderSize + plain_size + BlockCount(plain_size) * kBlockOverhead;
}

std::optional<uint64_t> PlainSize(uint64_t cipher_size) {
  if (cipher_size < kHeaderSize + kBlockOverhead) return std::nullopt;
  const uint64_t body = cipher_size - kHeaderSize;
  if (body == kBlockOverhead) return 0;
  const uint64_t full = body / kCipherBlockSize;
  const uint64_t rest = body % kCipherBlockSize;
  if (rest == 0) return full * kBlockSize;
  if (rest <= kBlockOverhead) return std::nullopt;
  return full * kBlockSize + (rest - kBlockOverhead);
}

void EncodeHeader(const FileId& id, uint8_t out[kHeaderSize]) {
  std::memcpy(out, kFileMagic.data(), kFileMagic.size());
  std::memcpy(out + kFileMagic.size(), id.data(), id.size());
}

std::optional<FileId> DecodeHeader(std::span<const uint8_t> header) {
  if (header.size() < kHeaderSize || std::memcmp(header.data(), kFileMagic.data(), 4) != 0) {
    return std::nullopt;
  }
  FileId id;
  std::memcpy(id.data(), header.data() + 4, id.size());
  return id;
}

void EncryptBlock(const SecretKey& key, const FileId& id, uint64_t block, bool last,
                  std::span<const uint8_t> plain, uint8_t* out) {
  uint8_t aad[kAadSize];
  BuildAad(id, block, last, aad);
  RandomNonce({out, gcm::kNonceSize});
  // Fails only for a key of the wrong size or an OpenSSL fault: writing the
  // block unencrypted or half-written would be worse than stopping.
  if (!gcm::Seal(key.span(), {out, gcm::kNonceSize}, {aad, kAadSize}, plain, out + gcm::kNonceSize,
                 out + gcm::kNonceSize + plain.size())) {
    std::abort();
  }
}

bool DecryptBlock(const SecretKey& key, const FileId& id, uint64_t block, bool last,
                  std::span<const uint8_t> cipher, uint8_t* out) {
  if (cipher.size() < kBlockOverhead || cipher.size() > kCipherBlockSize) return false;
  uint8_t aad[kAadSize];
  BuildAad(id, block, last, aad);
  const size_t n = cipher.size() - kBlockOverhead;
  return gcm::Open(key.span(), cipher.first(gcm::kNonceSize), {aad, kAadSize},
                   cipher.subspan(gcm::kNonceSize, n), cipher.last(gcm::kTagSize), out);
}

}  // namespace strongroom::crypto
