// EncryptedFile: reads, writes and truncates the plaintext of one backing
// file through the block format of crypto/content.h. It works on a
// descriptor it does not own and knows nothing of FUSE, so it is unit-tested
// on plain temporary files.
//
// Not thread-safe: the caller serialises writers per file (reads may run
// concurrently with each other) and passes the current plaintext size, which
// the caller caches while the file is open.
#pragma once

#include <cstdint>
#include <span>

#include "crypto/content.h"
#include "crypto/status.h"

namespace strongroom::fs {

class EncryptedFile {
 public:
  EncryptedFile(int fd, const crypto::SecretKey& key, const crypto::FileId& id)
      : fd_(fd), key_(key), id_(id) {}

  // Reads up to out.size() bytes at `offset` of a file of `size` bytes into
  // `out`; returns the number of bytes read. kIntegrity on tampering.
  Result<size_t> Read(uint64_t offset, std::span<uint8_t> out, uint64_t size) const;
  // Writes `data` at `offset`; `*size` is updated. A gap past the old end is
  // filled with encrypted zeros.
  Status Write(uint64_t offset, std::span<const uint8_t> data, uint64_t* size);
  // Sets the plaintext size to `new_size`, growing with zeros.
  Status Truncate(uint64_t new_size, uint64_t* size);
  // Checks that the final block of a file of `size` bytes authenticates as
  // final (detects a file cut down at a block boundary, e.g. to its header).
  Status Verify(uint64_t size) const;

  // Writes the header and the empty final block of a new, empty file.
  static Status Initialize(int fd, const crypto::SecretKey& key, const crypto::FileId& id);

 private:
  // Writes `length` bytes at `offset`, taken from `data`, or zeros when data is null.
  Status WriteRange(uint64_t offset, uint64_t length, const uint8_t* data, uint64_t* size);
  Status EncodeBlocks(uint64_t from_block, uint64_t to_block, uint64_t offset, uint64_t length,
                      const uint8_t* data, uint64_t old_size, uint64_t new_size);
  Status ReadBlock(uint64_t block, uint64_t plain_len, bool final, uint8_t* out) const;
  bool Decrypt(uint64_t block, bool final, std::span<const uint8_t> cipher, uint8_t* out) const;

  int fd_;
  const crypto::SecretKey& key_;
  const crypto::FileId& id_;
};

// Reads the file ID from a backing file's header.
Result<crypto::FileId> ReadFileId(int fd);

}  // namespace strongroom::fs
