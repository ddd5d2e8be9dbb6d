// Content encryption: the file header and the block format.
//
// A backing file is   header || block 0 || block 1 || ...
//   header  = "SRF1" (4 bytes) || file ID (16 bytes)
//   block i = nonce (12) || AES-256-GCM(plaintext block, <= 4096 bytes) || tag (16)
// with associated data  file ID || block number (u64 big-endian) || last flag (1 byte),
// where the last flag is 1 for the file's final block. Every file has a
// final block: an empty file's is an empty block (28 bytes), so cutting a
// file down to its header is detected like any other cut at a block
// boundary. Holes are stored as encrypted zeros, so every block
// authenticates; a block that does not (an all-zero one included) is
// tampering. docs/format.md has the details.
// Stateless and thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>

#include "crypto/primitives.h"
#include "crypto/secret.h"

namespace strongroom::crypto {

using FileId = std::array<uint8_t, 16>;

inline constexpr uint64_t kBlockSize = 4096;
inline constexpr uint64_t kBlockOverhead = gcm::kNonceSize + gcm::kTagSize;  // 28
inline constexpr uint64_t kCipherBlockSize = kBlockSize + kBlockOverhead;    // 4124
inline constexpr uint64_t kHeaderSize = 20;
inline constexpr std::array<uint8_t, 4> kFileMagic = {'S', 'R', 'F', '1'};
inline constexpr size_t kDataKeySize = 32;

// Size arithmetic between plaintext and ciphertext.
uint64_t CipherSize(uint64_t plain_size);
// nullopt when no plaintext size maps to cipher_size (a chopped or padded file).
std::optional<uint64_t> PlainSize(uint64_t cipher_size);
inline uint64_t BlockOffset(uint64_t block) { return kHeaderSize + block * kCipherBlockSize; }
inline uint64_t BlockCount(uint64_t plain_size) { return (plain_size + kBlockSize - 1) / kBlockSize; }

void EncodeHeader(const FileId& id, uint8_t out[kHeaderSize]);
std::optional<FileId> DecodeHeader(std::span<const uint8_t> header);

// Encrypts one block; `out` receives plain.size() + kBlockOverhead bytes.
void EncryptBlock(const SecretKey& key, const FileId& id, uint64_t block, bool last,
                  std::span<const uint8_t> plain, uint8_t* out);
// Decrypts one block of `cipher` (kBlockOverhead <= size <= kCipherBlockSize)
// into `out` (cipher.size() - kBlockOverhead bytes). False on tampering.
bool DecryptBlock(const SecretKey& key, const FileId& id, uint64_t block, bool last,
                  std::span<const uint8_t> cipher, uint8_t* out);

}  // namespace strongroom::crypto
