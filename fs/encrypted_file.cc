#include "fs/encrypted_file.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace strongroom::fs {
namespace {

using crypto::kBlockOverhead;
using crypto::kBlockSize;
using crypto::kCipherBlockSize;

// Blocks encrypted per pwrite when a write or truncate spans many blocks.
constexpr uint64_t kChunkBlocks = 256;

// Per-thread scratch buffers, grown once to the largest request and reused.
std::vector<uint8_t>& CipherScratch() {
  thread_local std::vector<uint8_t> buf;
  return buf;
}
std::vector<uint8_t>& PlainScratch() {
  thread_local std::vector<uint8_t> buf;
  return buf;
}
uint8_t* Grow(std::vector<uint8_t>& buf, size_t n) {
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

Status PreadFull(int fd, uint8_t* buf, size_t n, uint64_t off, const char* what) {
  size_t done = 0;
  while (done < n) {
    const ssize_t r = ::pread(fd, buf + done, n - done, static_cast<off_t>(off + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      return Status::Io(errno, what);
    }
    if (r == 0) return Status::Integrity(std::string(what) + ": ciphertext is shorter than expected");
    done += static_cast<size_t>(r);
  }
  return Status::Ok();
}

Status PwriteFull(int fd, const uint8_t* buf, size_t n, uint64_t off) {
  size_t done = 0;
  while (done < n) {
    const ssize_t r = ::pwrite(fd, buf + done, n - done, static_cast<off_t>(off + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      return Status::Io(errno, "write ciphertext");
    }
    done += static_cast<size_t>(r);
  }
  return Status::Ok();
}

uint64_t PlainLen(uint64_t block, uint64_t size) {
  const uint64_t start = block * kBlockSize;
  return start >= size ? 0 : std::min<uint64_t>(kBlockSize, size - start);
}

}  // namespace

Result<crypto::FileId> ReadFileId(int fd) {
  uint8_t header[crypto::kHeaderSize];
  Status st = PreadFull(fd, header, sizeof header, 0, "read file header");
  if (!st.ok()) {
    if (st.code() == Status::Code::kIntegrity) return Status::Integrity("file header is missing");
    return st;
  }
  auto id = crypto::DecodeHeader(header);
  if (!id) return Status::Integrity("file header is not a strongroom header");
  return *id;
}

Status EncryptedFile::ReadBlock(uint64_t block, uint64_t plain_len, bool last, uint8_t* out) const {
  uint8_t cipher[kCipherBlockSize];
  SR_RETURN_IF_ERROR(PreadFull(fd_, cipher, plain_len + kBlockOverhead, crypto::BlockOffset(block),
                               "read ciphertext"));
  if (!crypto::DecryptBlock(key_, id_, block, last, {cipher, plain_len + kBlockOverhead}, out)) {
    return Status::Integrity("block " + std::to_string(block) + " does not authenticate");
  }
  return Status::Ok();
}

Result<size_t> EncryptedFile::Read(uint64_t offset, std::span<uint8_t> out, uint64_t size) const {
  if (offset >= size || out.empty()) return size_t{0};
  const uint64_t end = std::min<uint64_t>(size, offset + out.size());
  const uint64_t first = offset / kBlockSize;
  const uint64_t last = (end - 1) / kBlockSize;
  const uint64_t final_block = (size - 1) / kBlockSize;
  const uint64_t nblocks = last - first + 1;
  const uint64_t last_len = PlainLen(last, size);
  const uint64_t cipher_len = (nblocks - 1) * kCipherBlockSize + last_len + kBlockOverhead;

  uint8_t* cipher = Grow(CipherScratch(), cipher_len);
  SR_RETURN_IF_ERROR(PreadFull(fd_, cipher, cipher_len, crypto::BlockOffset(first), "read ciphertext"));
  // Decrypt straight into `out` where a block lies wholly inside it; the
  // partial first and last blocks go through a scratch block.
  uint8_t* scratch = Grow(PlainScratch(), kBlockSize);
  for (uint64_t b = first; b <= last; ++b) {
    const uint64_t plen = PlainLen(b, size);
    const uint64_t bstart = b * kBlockSize;
    const uint64_t copy_from = std::max(bstart, offset);
    const uint64_t copy_to = std::min(bstart + plen, end);
    const bool whole = copy_from == bstart && copy_to == bstart + plen;
    uint8_t* dst = whole ? out.data() + (bstart - offset) : scratch;
    if (!crypto::DecryptBlock(key_, id_, b, b == final_block,
                              {cipher + (b - first) * kCipherBlockSize, plen + kBlockOverhead}, dst)) {
      return Status::Integrity("block " + std::to_string(b) + " does not authenticate");
    }
    if (!whole) std::memcpy(out.data() + (copy_from - offset), scratch + (copy_from - bstart), copy_to - copy_from);
  }
  return static_cast<size_t>(end - offset);
}

Status EncryptedFile::Write(uint64_t offset, std::span<const uint8_t> data, uint64_t* size) {
  if (data.empty()) return Status::Ok();
  return WriteRange(offset, data.size(), data.data(), size);
}

Status EncryptedFile::WriteRange(uint64_t offset, uint64_t length, const uint8_t* data, uint64_t* size) {
  const uint64_t old_size = *size;
  const uint64_t new_size = std::max(old_size, offset + length);
  const uint64_t first = offset / kBlockSize;
  const uint64_t hi = (offset + length - 1) / kBlockSize;
  const uint64_t new_last = (new_size - 1) / kBlockSize;
  // When the file grows, its old final block changes too: its last flag
  // clears and a partial one is padded with zeros; a gap becomes zero blocks.
  uint64_t lo = first;
  if (new_size > old_size) lo = old_size == 0 ? 0 : std::min(first, (old_size - 1) / kBlockSize);
  const uint64_t old_last = old_size == 0 ? UINT64_MAX : (old_size - 1) / kBlockSize;

  for (uint64_t chunk = lo; chunk <= hi; chunk += kChunkBlocks) {
    const uint64_t chunk_hi = std::min(hi, chunk + kChunkBlocks - 1);
    const uint64_t chunk_len =
        (chunk_hi - chunk) * kCipherBlockSize + PlainLen(chunk_hi, new_size) + kBlockOverhead;
    uint8_t* cipher = Grow(CipherScratch(), chunk_len);
    uint8_t plain[kBlockSize];
    for (uint64_t b = chunk; b <= chunk_hi; ++b) {
      const uint64_t bstart = b * kBlockSize;
      const uint64_t plen = PlainLen(b, new_size);
      const uint64_t from = std::max(bstart, offset);
      const uint64_t to = std::min(bstart + plen, offset + length);
      const bool covered = from == bstart && to == bstart + plen;
      const uint64_t old_len = PlainLen(b, old_size);
      std::memset(plain, 0, plen);
      if (!covered && old_len > 0) SR_RETURN_IF_ERROR(ReadBlock(b, old_len, b == old_last, plain));
      if (to > from) {
        if (data != nullptr) {
          std::memcpy(plain + (from - bstart), data + (from - offset), to - from);
        } else {
          std::memset(plain + (from - bstart), 0, to - from);
        }
      }
      crypto::EncryptBlock(key_, id_, b, b == new_last, {plain, plen},
                           cipher + (b - chunk) * kCipherBlockSize);
    }
    crypto::Wipe(plain, sizeof plain);
    SR_RETURN_IF_ERROR(PwriteFull(fd_, cipher, chunk_len, crypto::BlockOffset(chunk)));
  }
  *size = new_size;
  return Status::Ok();
}

Status EncryptedFile::Truncate(uint64_t new_size, uint64_t* size) {
  const uint64_t old_size = *size;
  if (new_size == old_size) return Status::Ok();
  if (new_size > old_size) return WriteRange(old_size, new_size - old_size, nullptr, size);
  if (new_size > 0) {
    // Re-encrypt the new final block, cut and flagged last.
    const uint64_t b = (new_size - 1) / kBlockSize;
    const uint64_t old_len = PlainLen(b, old_size);
    const uint64_t new_len = PlainLen(b, new_size);
    uint8_t plain[kBlockSize];
    uint8_t cipher[kCipherBlockSize];
    Status st = ReadBlock(b, old_len, b == (old_size - 1) / kBlockSize, plain);
    if (st.ok()) {
      crypto::EncryptBlock(key_, id_, b, true, {plain, new_len}, cipher);
      st = PwriteFull(fd_, cipher, new_len + kBlockOverhead, crypto::BlockOffset(b));
    }
    crypto::Wipe(plain, sizeof plain);
    SR_RETURN_IF_ERROR(st);
  }
  if (::ftruncate(fd_, static_cast<off_t>(crypto::CipherSize(new_size))) != 0) {
    return Status::Io(errno, "truncate ciphertext");
  }
  *size = new_size;
  return Status::Ok();
}

}  // namespace strongroom::fs
