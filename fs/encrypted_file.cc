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

uint64_t FinalBlock(uint64_t size) { return size == 0 ? 0 : (size - 1) / kBlockSize; }

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

Status EncryptedFile::Initialize(int fd, const crypto::SecretKey& key, const crypto::FileId& id) {
  uint8_t buf[crypto::kHeaderSize + kBlockOverhead];
  crypto::EncodeHeader(id, buf);
  crypto::EncryptBlock(key, id, 0, true, {}, buf + crypto::kHeaderSize);
  return PwriteFull(fd, buf, sizeof buf, 0);
}

bool EncryptedFile::Decrypt(uint64_t block, bool final, std::span<const uint8_t> cipher, uint8_t* out) const {
  if (crypto::DecryptBlock(key_, id_, block, final, cipher, out)) return true;
  if (final) return false;  // always strict: a cut at a block boundary is detected
  // A crash can cut short a write that grew the file past this block: the
  // new blocks are written first, and this block, the old final one, is
  // rewritten last. Until then it still carries the last flag...
  if (crypto::DecryptBlock(key_, id_, block, true, cipher, out)) return true;
  // ...and if it was partial, it is still its short old self, followed by
  // the zeros of the gap the new blocks left: it decrypts at its old length
  // (where the zeros begin, or a few bytes later when the tag itself ends in
  // zeros) and reads as its old content padded with zeros, which is what the
  // interrupted write would have made of it.
  if (cipher.size() != kCipherBlockSize) return false;
  size_t zeros_from = cipher.size();
  while (zeros_from > 0 && cipher[zeros_from - 1] == 0) --zeros_from;
  if (zeros_from == cipher.size()) return false;
  for (size_t len = std::max<size_t>(zeros_from, kBlockOverhead + 1);
       len <= std::min(zeros_from + 3, cipher.size() - 1); ++len) {
    if (crypto::DecryptBlock(key_, id_, block, true, cipher.first(len), out)) {
      std::memset(out + (len - kBlockOverhead), 0, kBlockSize - (len - kBlockOverhead));
      return true;
    }
  }
  return false;
}

Status EncryptedFile::ReadBlock(uint64_t block, uint64_t plain_len, bool final, uint8_t* out) const {
  uint8_t cipher[kCipherBlockSize];
  SR_RETURN_IF_ERROR(PreadFull(fd_, cipher, plain_len + kBlockOverhead, crypto::BlockOffset(block),
                               "read ciphertext"));
  if (!Decrypt(block, final, {cipher, plain_len + kBlockOverhead}, out)) {
    return Status::Integrity("block " + std::to_string(block) + " does not authenticate");
  }
  return Status::Ok();
}

Status EncryptedFile::Verify(uint64_t size) const {
  uint8_t plain[kBlockSize];
  Status st = ReadBlock(FinalBlock(size), PlainLen(FinalBlock(size), size), true, plain);
  crypto::Wipe(plain, sizeof plain);
  return st;
}

Result<size_t> EncryptedFile::Read(uint64_t offset, std::span<uint8_t> out, uint64_t size) const {
  if (offset >= size || out.empty()) return size_t{0};
  const uint64_t end = std::min<uint64_t>(size, offset + out.size());
  const uint64_t first = offset / kBlockSize;
  const uint64_t last = (end - 1) / kBlockSize;
  const uint64_t final_block = FinalBlock(size);
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
    if (!Decrypt(b, b == final_block, {cipher + (b - first) * kCipherBlockSize, plen + kBlockOverhead}, dst)) {
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

Status EncryptedFile::EncodeBlocks(uint64_t from_block, uint64_t to_block, uint64_t offset, uint64_t length,
                                   const uint8_t* data, uint64_t old_size, uint64_t new_size) {
  const uint64_t old_final = FinalBlock(old_size);
  const uint64_t new_final = FinalBlock(new_size);
  for (uint64_t chunk = from_block; chunk <= to_block; chunk += kChunkBlocks) {
    const uint64_t chunk_hi = std::min(to_block, chunk + kChunkBlocks - 1);
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
      const uint64_t old_len = b <= old_final ? PlainLen(b, old_size) : 0;
      std::memset(plain, 0, plen);
      if (!covered && old_len > 0) {
        Status st = ReadBlock(b, old_len, b == old_final, plain);
        if (!st.ok()) {
          crypto::Wipe(plain, sizeof plain);
          return st;
        }
      }
      if (to > from && data != nullptr) std::memcpy(plain + (from - bstart), data + (from - offset), to - from);
      if (to > from && data == nullptr) std::memset(plain + (from - bstart), 0, to - from);
      crypto::EncryptBlock(key_, id_, b, b == new_final, {plain, plen}, cipher + (b - chunk) * kCipherBlockSize);
    }
    crypto::Wipe(plain, sizeof plain);
    SR_RETURN_IF_ERROR(PwriteFull(fd_, cipher, chunk_len, crypto::BlockOffset(chunk)));
  }
  return Status::Ok();
}

Status EncryptedFile::WriteRange(uint64_t offset, uint64_t length, const uint8_t* data, uint64_t* size) {
  const uint64_t old_size = *size;
  const uint64_t new_size = std::max(old_size, offset + length);
  const uint64_t old_final = FinalBlock(old_size);
  const uint64_t hi = (offset + length - 1) / kBlockSize;
  // When the file grows, its old final block changes too (its last flag
  // clears and a partial one is padded with zeros) and a gap becomes zero blocks.
  const uint64_t lo = new_size > old_size ? std::min(offset / kBlockSize, old_final) : offset / kBlockSize;
  if (new_size == old_size) return EncodeBlocks(lo, hi, offset, length, data, old_size, new_size);

  // Growing: keep the old final block's ciphertext to undo a failed write
  // (ENOSPC half-way), and write the new blocks before rewriting existing ones.
  const uint64_t old_final_len = PlainLen(old_final, old_size) + kBlockOverhead;
  uint8_t saved[kCipherBlockSize];
  SR_RETURN_IF_ERROR(PreadFull(fd_, saved, old_final_len, crypto::BlockOffset(old_final), "read ciphertext"));
  Status st;
  if (hi > old_final) st = EncodeBlocks(std::max(lo, old_final + 1), hi, offset, length, data, old_size, new_size);
  if (st.ok()) st = EncodeBlocks(lo, std::min(hi, old_final), offset, length, data, old_size, new_size);
  if (!st.ok()) {
    (void)PwriteFull(fd_, saved, old_final_len, crypto::BlockOffset(old_final));
    (void)::ftruncate(fd_, static_cast<off_t>(crypto::CipherSize(old_size)));
    return st;
  }
  *size = new_size;
  return Status::Ok();
}

Status EncryptedFile::Truncate(uint64_t new_size, uint64_t* size) {
  const uint64_t old_size = *size;
  if (new_size == old_size) return Status::Ok();
  if (new_size > old_size) return WriteRange(old_size, new_size - old_size, nullptr, size);
  // Re-encrypt the new final block, cut and flagged last, then drop the rest.
  const uint64_t b = FinalBlock(new_size);
  const uint64_t new_len = PlainLen(b, new_size);
  uint8_t plain[kBlockSize];
  uint8_t cipher[kCipherBlockSize];
  Status st = new_len > 0 ? ReadBlock(b, PlainLen(b, old_size), b == FinalBlock(old_size), plain) : Status::Ok();
  if (st.ok()) {
    crypto::EncryptBlock(key_, id_, b, true, {plain, new_len}, cipher);
    st = PwriteFull(fd_, cipher, new_len + kBlockOverhead, crypto::BlockOffset(b));
  }
  crypto::Wipe(plain, sizeof plain);
  SR_RETURN_IF_ERROR(st);
  if (::ftruncate(fd_, static_cast<off_t>(crypto::CipherSize(new_size))) != 0) {
    return Status::Io(errno, "truncate ciphertext");
  }
  *size = new_size;
  return Status::Ok();
}

}  // namespace strongroom::fs
