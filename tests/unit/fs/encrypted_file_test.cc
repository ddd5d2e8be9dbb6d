// EncryptedFile (fs/encrypted_file.h) on plain temporary files: reads,
// writes and truncates checked against an in-memory model, and tampering of
// the backing bytes detected as kIntegrity.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "crypto/content.h"
#include "fs/encrypted_file.h"
#include "tests/unit/test_util.h"

namespace strongroom::fs {
namespace {

using crypto::Bytes;
using crypto::BlockOffset;
using crypto::CipherSize;
using crypto::kBlockOverhead;
using crypto::kBlockSize;
using crypto::kCipherBlockSize;
using crypto::kHeaderSize;
using crypto::PlainSize;
using testing::TempDir;

// Deterministic, position-dependent content that is never all zeros.
Bytes Pattern(size_t n, uint32_t seed) {
  Bytes b(n);
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1103515245u + 12345u;
    b[i] = static_cast<uint8_t>((x >> 16) | 1);
  }
  return b;
}

// One encrypted backing file plus the plaintext it should hold.
class ModelFile {
 public:
  ModelFile(const TempDir& dir, const std::string& name,
            const crypto::SecretKey* shared_key = nullptr)
      : own_key_(crypto::SecretKey::Random(crypto::kDataKeySize)),
        key_(shared_key != nullptr ? *shared_key : own_key_) {
    crypto::RandomBytes(id_);
    path_ = dir.Sub(name);
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    REQUIRE(fd_ >= 0);
    Status st = EncryptedFile::Initialize(fd_, key_, id_);
    INFO(st.ToString());
    REQUIRE(st.ok());
    // The file starts with the header of content.h.
    uint8_t header[kHeaderSize];
    crypto::EncodeHeader(id_, header);
    REQUIRE(RawRead(0, kHeaderSize) == Bytes(header, header + kHeaderSize));
    file_ = std::make_unique<EncryptedFile>(fd_, key_, id_);
  }
  ~ModelFile() { ::close(fd_); }
  ModelFile(const ModelFile&) = delete;
  ModelFile& operator=(const ModelFile&) = delete;

  int fd() const { return fd_; }
  uint64_t size() const { return size_; }
  const Bytes& model() const { return model_; }
  const crypto::FileId& id() const { return id_; }
  const crypto::SecretKey& key() const { return key_; }
  EncryptedFile& file() { return *file_; }

  void Write(uint64_t offset, const Bytes& data) {
    INFO("write " << data.size() << " bytes at " << offset << " into " << size_);
    Status st = file_->Write(offset, data, &size_);
    INFO(st.ToString());
    REQUIRE(st.ok());
    if (!data.empty()) {
      if (model_.size() < offset + data.size()) model_.resize(offset + data.size(), 0);
      std::copy(data.begin(), data.end(), model_.begin() + static_cast<ptrdiff_t>(offset));
    }
    REQUIRE(size_ == model_.size());
  }

  void Truncate(uint64_t new_size) {
    INFO("truncate " << size_ << " -> " << new_size);
    Status st = file_->Truncate(new_size, &size_);
    INFO(st.ToString());
    REQUIRE(st.ok());
    model_.resize(new_size, 0);
    REQUIRE(size_ == model_.size());
  }

  // Reads through EncryptedFile; REQUIREs success.
  Bytes Read(uint64_t offset, size_t length) const {
    Bytes out(length, 0xee);
    Result<size_t> n = file_->Read(offset, out, size_);
    INFO("read " << length << " bytes at " << offset << " of " << size_ << ": "
                 << n.status().ToString());
    REQUIRE(n.ok());
    out.resize(*n);
    return out;
  }

  Bytes Expected(uint64_t offset, size_t length) const {
    if (offset >= model_.size()) return {};
    const size_t n = std::min<uint64_t>(length, model_.size() - offset);
    return Bytes(model_.begin() + static_cast<ptrdiff_t>(offset),
                 model_.begin() + static_cast<ptrdiff_t>(offset + n));
  }

  void CheckRead(uint64_t offset, size_t length) const {
    INFO("read " << length << " bytes at " << offset << " of " << size_);
    REQUIRE(testing::Diff(Read(offset, length), Expected(offset, length)).empty());
  }

  // The whole plaintext matches the model and the backing size matches the format.
  void Verify() const {
    REQUIRE(BackingSize() == CipherSize(size_));
    REQUIRE(PlainSize(BackingSize()) == size_);
    const Status final_ok = file_->Verify(size_);
    INFO(final_ok.ToString());
    REQUIRE(final_ok.ok());
    REQUIRE(testing::Diff(Read(0, static_cast<size_t>(size_) + 7), model_).empty());
  }

  // A whole-file read that must fail with kIntegrity; `size` defaults to ours.
  Status ReadAllStatus(std::optional<uint64_t> size = std::nullopt) const {
    const uint64_t n = size.value_or(size_);
    Bytes out(std::max<uint64_t>(n, 1));
    Result<size_t> r = file_->Read(0, out, n);
    return r.status();
  }

  uint64_t BackingSize() const {
    struct stat st {};
    REQUIRE(::fstat(fd_, &st) == 0);
    return static_cast<uint64_t>(st.st_size);
  }

  Bytes RawRead(uint64_t offset, size_t n) const {
    Bytes b(n);
    REQUIRE(::pread(fd_, b.data(), n, static_cast<off_t>(offset)) == static_cast<ssize_t>(n));
    return b;
  }
  void RawWrite(uint64_t offset, const Bytes& b) {
    REQUIRE(::pwrite(fd_, b.data(), b.size(), static_cast<off_t>(offset)) ==
            static_cast<ssize_t>(b.size()));
  }
  void FlipRawByte(uint64_t offset, uint8_t mask = 0x01) {
    Bytes b = RawRead(offset, 1);
    b[0] ^= mask;
    RawWrite(offset, b);
  }
  // The backing bytes of block `b` (shorter for a partial last block).
  uint64_t CipherBlockLen(uint64_t b) const {
    const uint64_t start = b * kBlockSize;
    return std::min<uint64_t>(kBlockSize, size_ - start) + kBlockOverhead;
  }

 private:
  crypto::SecretKey own_key_;
  const crypto::SecretKey& key_;
  crypto::FileId id_{};
  std::string path_;
  int fd_ = -1;
  std::unique_ptr<EncryptedFile> file_;
  uint64_t size_ = 0;
  Bytes model_;
};

void RequireIntegrity(const Status& st) {
  INFO(st.ToString());
  REQUIRE_FALSE(st.ok());
  REQUIRE(st.code() == Status::Code::kIntegrity);
}

const uint64_t kEdges[] = {0, 1, 4095, 4096, 4097};
const size_t kLengths[] = {1, 2, 4095, 4096, 4097, 8192, 8193};

// ---------------------------------------------------------------------------
// Reads and writes.

TEST_CASE("encrypted_file: an empty file has only its header and reads nothing",
          "[encrypted_file]") {
  TempDir dir;
  ModelFile f(dir, "f");
  f.Verify();
  // The header and one empty final block.
  CHECK(f.BackingSize() == kHeaderSize + kBlockOverhead);
  CHECK(f.Read(0, 10).empty());
  CHECK(f.Read(5000, 10).empty());
  // An empty write changes nothing.
  f.Write(100, {});
  CHECK(f.size() == 0);
  f.Verify();
  Result<crypto::FileId> id = ReadFileId(f.fd());
  REQUIRE(id.ok());
  CHECK(*id == f.id());
}

TEST_CASE("encrypted_file: writes at edge offsets and lengths into an empty file",
          "[encrypted_file][rw]") {
  for (uint64_t offset : kEdges) {
    for (size_t length : kLengths) {
      INFO("offset " << offset << " length " << length);
      TempDir dir;
      ModelFile f(dir, "f");
      f.Write(offset, Pattern(length, static_cast<uint32_t>(offset * 31 + length)));
      f.Verify();
      for (uint64_t ro : kEdges) {
        for (size_t rl : kLengths) f.CheckRead(ro, rl);
      }
    }
  }
}

TEST_CASE("encrypted_file: overwrites at edge offsets and lengths in a 10000-byte file",
          "[encrypted_file][rw]") {
  for (uint64_t offset : {uint64_t{0}, uint64_t{1}, uint64_t{4095}, uint64_t{4096},
                          uint64_t{4097}, uint64_t{8191}, uint64_t{9999}, uint64_t{10000},
                          uint64_t{12288}}) {
    for (size_t length : kLengths) {
      INFO("offset " << offset << " length " << length);
      TempDir dir;
      ModelFile f(dir, "f");
      f.Write(0, Pattern(10000, 1));
      f.Write(offset, Pattern(length, static_cast<uint32_t>(offset + length)));
      f.Verify();
    }
  }
}

TEST_CASE("encrypted_file: reads at every edge offset and length", "[encrypted_file][rw]") {
  TempDir dir;
  ModelFile f(dir, "f");
  f.Write(0, Pattern(3 * kBlockSize + 100, 5));
  const uint64_t offsets[] = {0,    1,    4095, 4096, 4097, 8191, 8192,
                              8193, 12287, 12288, 12289, 12387, 12388, 12389, 100000};
  for (uint64_t off : offsets) {
    for (size_t len : {size_t{0}, size_t{1}, size_t{4095}, size_t{4096}, size_t{4097},
                       size_t{8192}, size_t{20000}}) {
      f.CheckRead(off, len);
    }
  }
  // Reads ending at the end of the file and one byte short of it.
  for (uint64_t off = 0; off < f.size(); off += 997) {
    f.CheckRead(off, static_cast<size_t>(f.size() - off));
    if (f.size() - off > 1) f.CheckRead(off, static_cast<size_t>(f.size() - off - 1));
  }
}

TEST_CASE("encrypted_file: a write past the end leaves a hole that reads as zeros",
          "[encrypted_file][hole]") {
  TempDir dir;
  ModelFile f(dir, "f");
  f.Write(20000, {0x42});
  REQUIRE(f.size() == 20001);
  f.Verify();
  const Bytes head = f.Read(0, 20000);
  REQUIRE(head.size() == 20000);
  CHECK(std::all_of(head.begin(), head.end(), [](uint8_t b) { return b == 0; }));
  CHECK(f.Read(20000, 10) == Bytes{0x42});
  CHECK(f.BackingSize() == CipherSize(20001));
  // Holes are stored as encrypted zeros: no backing block is all zeros.
  for (uint64_t b = 0; b < crypto::BlockCount(f.size()); ++b) {
    const Bytes raw = f.RawRead(BlockOffset(b), f.CipherBlockLen(b));
    INFO("block " << b);
    CHECK_FALSE(std::all_of(raw.begin(), raw.end(), [](uint8_t x) { return x == 0; }));
  }
}

TEST_CASE("encrypted_file: holes after existing data keep the data", "[encrypted_file][hole]") {
  for (uint64_t old_size : {uint64_t{1}, uint64_t{100}, uint64_t{4095}, uint64_t{4096},
                            uint64_t{4097}, uint64_t{8192}}) {
    for (uint64_t at : {old_size + 1, old_size + 5000, uint64_t{4096 * 5}, uint64_t{4096 * 5 + 1}}) {
      INFO("old size " << old_size << ", write at " << at);
      TempDir dir;
      ModelFile f(dir, "f");
      f.Write(0, Pattern(old_size, 3));
      f.Write(at, Pattern(10, 4));
      f.Verify();
    }
  }
}

TEST_CASE("encrypted_file: truncate down and up at and inside block boundaries",
          "[encrypted_file][truncate]") {
  TempDir dir;
  ModelFile f(dir, "f");
  f.Write(0, Pattern(5 * kBlockSize + 123, 9));
  const uint64_t sizes[] = {5 * 4096 + 123, 5 * 4096 + 122, 5 * 4096, 4 * 4096 + 1, 4 * 4096,
                            4 * 4096 - 1,   10000,          8193,     8192,         8191,
                            4097,           4096,           4095,     1,            0,
                            0,              1,              4095,     4096,         4097,
                            8192,           3,              20000,    12288,        12289,
                            7000,           7001,           40000,    4096,         0};
  for (uint64_t s : sizes) {
    f.Truncate(s);
    f.Verify();
    // Writes after the truncate see the new end.
    if (s % 3 == 0) {
      f.Write(s / 2, Pattern(50, static_cast<uint32_t>(s)));
      f.Verify();
    }
  }
}

TEST_CASE("encrypted_file: truncate up fills with zeros after a partial last block",
          "[encrypted_file][truncate]") {
  for (uint64_t start : kEdges) {
    for (uint64_t grow_to : {uint64_t{4096}, uint64_t{4097}, uint64_t{8192}, uint64_t{9000}}) {
      if (grow_to <= start) continue;
      INFO("from " << start << " to " << grow_to);
      TempDir dir;
      ModelFile f(dir, "f");
      f.Write(0, Pattern(start, 11));
      f.Truncate(grow_to);
      f.Verify();
      // And back down, keeping the original bytes.
      f.Truncate(start);
      f.Verify();
    }
  }
}

TEST_CASE("encrypted_file: writes and truncates spanning many encryption chunks",
          "[encrypted_file][large]") {
  // EncryptedFile encrypts up to 256 blocks per pwrite; cross that several times.
  TempDir dir;
  ModelFile f(dir, "f");
  f.Write(3, Pattern(2 * 1024 * 1024 + 5, 21));
  f.Verify();
  f.Write(256 * kBlockSize - 10, Pattern(kBlockSize + 20, 22));  // straddles chunk edge
  f.Verify();
  f.Truncate(3 * 1024 * 1024 + 555);  // a hole of several chunks
  f.Verify();
  f.Write(5 * 1024 * 1024, Pattern(300 * kBlockSize, 23));  // past the end again
  f.Verify();
  f.Truncate(256 * kBlockSize);
  f.Verify();
  f.Truncate(256 * kBlockSize + 1);
  f.Verify();
  f.Truncate(0);
  f.Verify();
}

TEST_CASE("encrypted_file: random operations agree with an in-memory model",
          "[encrypted_file][random]") {
  uint64_t seed = 0x5eed2024;
  if (const char* env = std::getenv("STRONGROOM_TEST_SEED")) seed = std::strtoull(env, nullptr, 0);
  INFO("seed " << seed << " (set STRONGROOM_TEST_SEED to repeat another)");
  std::mt19937_64 rng(seed);
  auto uniform = [&](uint64_t lo, uint64_t hi) {
    return std::uniform_int_distribution<uint64_t>(lo, hi)(rng);
  };
  // Positions favour block edges, where the arithmetic is hardest.
  auto pick_pos = [&](uint64_t limit) -> uint64_t {
    if (uniform(0, 1) == 0) {
      const uint64_t k = uniform(0, limit / kBlockSize + 1);
      const int64_t delta = static_cast<int64_t>(uniform(0, 4)) - 2;
      return static_cast<uint64_t>(std::max<int64_t>(0, static_cast<int64_t>(k * kBlockSize) + delta));
    }
    return uniform(0, limit);
  };
  auto pick_len = [&]() -> size_t {
    const uint64_t r = uniform(0, 99);
    if (r < 2) return 0;
    if (r < 50) {
      const size_t edges[] = {1, 2, 4095, 4096, 4097, 8191, 8192, 8193, 12288};
      return edges[uniform(0, std::size(edges) - 1)];
    }
    return uniform(1, 10000);
  };
  constexpr uint64_t kSpan = 80000;

  TempDir dir;
  ModelFile f(dir, "f");
  constexpr int kOps = 4000;
  int writes = 0, truncates = 0, reads = 0, large = 0;
  for (int op = 0; op < kOps; ++op) {
    INFO("op " << op << ", size " << f.size());
    const uint64_t r = uniform(0, 999);
    if (r < 3) {
      // Now and then a write spanning several encryption chunks.
      f.Write(pick_pos(kSpan), Pattern(uniform(256 * kBlockSize, 600 * kBlockSize),
                                        static_cast<uint32_t>(op)));
      ++large;
    } else if (r < 450) {
      f.Write(pick_pos(std::min<uint64_t>(f.size() + 9000, kSpan)),
              Pattern(pick_len(), static_cast<uint32_t>(op)));
      ++writes;
    } else if (r < 650) {
      // Shrink large files quickly; otherwise anywhere around the current size.
      const uint64_t limit = f.size() > kSpan ? kSpan : f.size() + f.size() / 2 + 9000;
      f.Truncate(pick_pos(limit));
      ++truncates;
    } else {
      f.CheckRead(pick_pos(f.size() + 100), pick_len());
      ++reads;
    }
    if (f.size() <= 2 * kSpan || op % 50 == 0) f.Verify();
  }
  f.Verify();
  CHECK(writes > kOps / 3);
  CHECK(truncates > kOps / 10);
  CHECK(reads > kOps / 4);
  CHECK(large > 0);
}

TEST_CASE("encrypted_file: concurrent reads of one file agree with the model",
          "[encrypted_file][threads]") {
  TempDir dir;
  ModelFile f(dir, "f");
  f.Write(0, Pattern(200000, 31));
  std::atomic<int> mismatches{0}, failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<uint32_t>(t + 1));
      for (int i = 0; i < 400; ++i) {
        const uint64_t off = rng() % 210000;
        const size_t len = 1 + rng() % 20000;
        Bytes out(len);
        Result<size_t> n = f.file().Read(off, out, f.size());
        if (!n.ok()) {
          ++failures;
          continue;
        }
        out.resize(*n);
        if (out != f.Expected(off, len)) ++mismatches;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(failures == 0);
  CHECK(mismatches == 0);
}

TEST_CASE("encrypted_file: a growing write cut short by a crash keeps the old partial final block",
          "[encrypted_file][crash]") {
  // The old final block (block 1, 904 bytes) is rewritten last when the file
  // grows; a crash before that leaves its short old ciphertext followed by
  // the zeros of the gap. It must still read as its old content plus zeros.
  TempDir dir;
  ModelFile f(dir, "grow");
  f.Write(0, Pattern(5000, 1));
  const uint64_t old_len = 5000 - kBlockSize + kBlockOverhead;
  const Bytes old_block = f.RawRead(BlockOffset(1), old_len);
  f.Write(3 * kBlockSize, Pattern(kBlockSize, 2));  // grows past block 1
  // Put back the state of the crash: block 1 as it was, then zeros.
  Bytes crashed(kCipherBlockSize, 0);
  std::copy(old_block.begin(), old_block.end(), crashed.begin());
  f.RawWrite(BlockOffset(1), crashed);
  f.CheckRead(0, f.size());
  // A block of zeros there is still tampering.
  f.RawWrite(BlockOffset(1), Bytes(kCipherBlockSize, 0));
  Bytes out(f.size());
  CHECK(f.file().Read(0, out, f.size()).status().code() == Status::Code::kIntegrity);
}

TEST_CASE("encrypted_file: a growing write that fails half-way leaves the file as it was",
          "[encrypted_file][enospc]") {
  // RLIMIT_FSIZE makes the backing file refuse to grow past a limit (EFBIG),
  // standing in for a full disk: the new blocks fail to write after some of
  // them did.
  for (uint64_t old_size : {uint64_t{0}, uint64_t{1000}, uint64_t{4096}, uint64_t{10000}}) {
    INFO("old size " << old_size);
    TempDir dir;
    ModelFile f(dir, "f");
    f.Write(0, Pattern(old_size, 54));
    const Bytes before = f.RawRead(0, f.BackingSize());

    struct sigaction ignore {}, old_action {};
    ignore.sa_handler = SIG_IGN;
    REQUIRE(::sigaction(SIGXFSZ, &ignore, &old_action) == 0);
    struct rlimit old_limit {};
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &old_limit) == 0);
    struct rlimit limit = old_limit;
    limit.rlim_cur = CipherSize(old_size) + 3 * kCipherBlockSize + 100;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &limit) == 0);

    uint64_t size = f.size();
    const Status grow = f.file().Write(old_size == 0 ? 0 : old_size - 1,
                                       Pattern(10 * kBlockSize, 55), &size);
    const Status grow_hole = f.file().Write(old_size + 9 * kBlockSize, Pattern(5, 56), &size);
    const Status truncate_up = f.file().Truncate(old_size + 20 * kBlockSize, &size);

    REQUIRE(::setrlimit(RLIMIT_FSIZE, &old_limit) == 0);
    REQUIRE(::sigaction(SIGXFSZ, &old_action, nullptr) == 0);

    for (const Status* st : {&grow, &grow_hole, &truncate_up}) {
      INFO(st->ToString());
      REQUIRE_FALSE(st->ok());
      CHECK(st->code() == Status::Code::kIo);
      CHECK(st->sys_errno() == EFBIG);
    }
    CHECK(size == old_size);
    // Byte for byte the old ciphertext, and it still reads back.
    CHECK(testing::Diff(f.RawRead(0, f.BackingSize()), before).empty());
    f.Verify();
    // And it still grows once there is room.
    f.Write(old_size + 5000, Pattern(5 * kBlockSize, 57));
    f.Verify();
  }
}

TEST_CASE("encrypted_file: ReadFileId reads the header and refuses a bad one",
          "[encrypted_file][header]") {
  TempDir dir;
  ModelFile f(dir, "f");
  f.Write(0, Pattern(100, 1));
  Result<crypto::FileId> id = ReadFileId(f.fd());
  REQUIRE(id.ok());
  CHECK(*id == f.id());

  f.FlipRawByte(0);  // magic
  RequireIntegrity(ReadFileId(f.fd()).status());
  f.FlipRawByte(0);
  f.FlipRawByte(10);  // inside the file ID: a different file now
  id = ReadFileId(f.fd());
  REQUIRE(id.ok());
  CHECK(*id != f.id());
  // Blocks written under the real ID do not open under the header's.
  EncryptedFile other(f.fd(), f.key(), *id);
  Bytes out(100);
  RequireIntegrity(other.Read(0, out, 100).status());

  REQUIRE(::ftruncate(f.fd(), 7) == 0);
  RequireIntegrity(ReadFileId(f.fd()).status());
  REQUIRE(::ftruncate(f.fd(), 0) == 0);
  RequireIntegrity(ReadFileId(f.fd()).status());
}

// ---------------------------------------------------------------------------
// Tampering with the backing file.

// A file of three full blocks and a partial fourth.
constexpr uint64_t kTamperSize = 3 * kBlockSize + 1000;

TEST_CASE("encrypted_file: a flipped byte anywhere in a block is kIntegrity",
          "[encrypted_file][tamper]") {
  TempDir dir;
  ModelFile f(dir, "f");
  f.Write(0, Pattern(kTamperSize, 41));
  for (uint64_t b = 0; b < 4; ++b) {
    const uint64_t len = f.CipherBlockLen(b);
    // Nonce, first ciphertext byte, middle, last ciphertext byte, tag.
    for (uint64_t pos : {uint64_t{0}, uint64_t{11}, uint64_t{12}, len / 2, len - 17, len - 16,
                         len - 1}) {
      INFO("block " << b << " byte " << pos);
      f.FlipRawByte(BlockOffset(b) + pos, 0x80);
      RequireIntegrity(f.ReadAllStatus());
      // A read of just that block fails; a read of another block still works.
      Bytes one(10);
      RequireIntegrity(f.file().Read(b * kBlockSize + 5, one, f.size()).status());
      const uint64_t other = (b + 1) % 4;
      f.CheckRead(other * kBlockSize, 10);
      // A partial write into the block must not launder the damage.
      uint64_t size = f.size();
      RequireIntegrity(f.file().Write(b * kBlockSize + 1, Bytes{1}, &size));
      f.FlipRawByte(BlockOffset(b) + pos, 0x80);
      f.Verify();
    }
  }
}

TEST_CASE("encrypted_file: a zeroed block is kIntegrity", "[encrypted_file][tamper]") {
  for (uint64_t b = 0; b < 4; ++b) {
    INFO("block " << b);
    TempDir dir;
    ModelFile f(dir, "f");
    f.Write(0, Pattern(kTamperSize, 42));
    f.RawWrite(BlockOffset(b), Bytes(f.CipherBlockLen(b), 0));
    RequireIntegrity(f.ReadAllStatus());
    uint64_t size = f.size();
    if (b == 3) {
      // Truncating inside the damaged final block must notice too.
      RequireIntegrity(f.file().Truncate(3 * kBlockSize + 10, &size));
    }
  }
}

TEST_CASE("encrypted_file: truncating a damaged file to zero needs no decryption",
          "[encrypted_file][tamper]") {
  // O_TRUNC must work on a file whose content no longer authenticates, so a
  // damaged file can be overwritten.
  for (uint64_t b : {uint64_t{0}, uint64_t{3}}) {
    INFO("damaged block " << b);
    TempDir dir;
    ModelFile f(dir, "f");
    f.Write(0, Pattern(kTamperSize, 58));
    f.RawWrite(BlockOffset(b), Bytes(f.CipherBlockLen(b), 0));
    RequireIntegrity(f.ReadAllStatus());
    f.Truncate(0);
    f.Verify();
    f.Write(0, Pattern(5000, 59));
    f.Verify();
  }
}

TEST_CASE("encrypted_file: a sparse (all-zero) region from ftruncate is kIntegrity",
          "[encrypted_file][tamper]") {
  // Growing the backing file behind EncryptedFile's back, by whole blocks.
  TempDir dir;
  ModelFile f(dir, "f");
  f.Write(0, Pattern(2 * kBlockSize, 43));
  REQUIRE(::ftruncate(f.fd(), static_cast<off_t>(BlockOffset(4))) == 0);
  const auto plain = PlainSize(BlockOffset(4));
  REQUIRE(plain.has_value());
  RequireIntegrity(f.ReadAllStatus(*plain));
}

TEST_CASE("encrypted_file: chopping the tail at a block boundary is kIntegrity",
          "[encrypted_file][tamper]") {
  for (uint64_t original : {kTamperSize, uint64_t{4 * kBlockSize}}) {
    for (uint64_t keep = 1; keep < crypto::BlockCount(original); ++keep) {
      INFO("file of " << original << " bytes cut to " << keep << " blocks");
      TempDir dir;
      ModelFile f(dir, "f");
      f.Write(0, Pattern(original, 44));
      const uint64_t cut = kHeaderSize + keep * kCipherBlockSize;
      REQUIRE(::ftruncate(f.fd(), static_cast<off_t>(cut)) == 0);
      const auto new_size = PlainSize(cut);
      REQUIRE(new_size.has_value());
      REQUIRE(*new_size == keep * kBlockSize);
      RequireIntegrity(f.ReadAllStatus(*new_size));
      RequireIntegrity(f.file().Verify(*new_size));
      // Reading only the new final block fails as well.
      Bytes last(kBlockSize);
      RequireIntegrity(f.file().Read((keep - 1) * kBlockSize, last, *new_size).status());
    }
  }
}

TEST_CASE("encrypted_file: cutting a file down to its header is detected",
          "[encrypted_file][tamper]") {
  for (uint64_t original : {uint64_t{0}, uint64_t{1}, uint64_t{4096}, kTamperSize}) {
    for (bool keep_28 : {false, true}) {
      if (original == 0 && keep_28) continue;  // that is the intact empty file
      INFO("file of " << original << " bytes cut to the header"
                      << (keep_28 ? " and 28 bytes (an empty file's size)" : ""));
      TempDir dir;
      ModelFile f(dir, "f");
      f.Write(0, Pattern(original, 52));
      f.Verify();
      const uint64_t cut = kHeaderSize + (keep_28 ? kBlockOverhead : 0);
      REQUIRE(::ftruncate(f.fd(), static_cast<off_t>(cut)) == 0);
      if (keep_28) {
        REQUIRE(PlainSize(cut) == 0);
      } else {
        // No plaintext size has this length.
        CHECK_FALSE(PlainSize(cut).has_value());
      }
      // Either way the final block of an empty file is not there.
      RequireIntegrity(f.file().Verify(0));
    }
  }
}

TEST_CASE("encrypted_file: Verify checks only the final block", "[encrypted_file]") {
  TempDir dir;
  ModelFile f(dir, "f");
  f.Write(0, Pattern(kTamperSize, 53));
  CHECK(f.file().Verify(f.size()).ok());
  // Damage in the final block is found.
  f.FlipRawByte(BlockOffset(3) + 40);
  RequireIntegrity(f.file().Verify(f.size()));
  f.FlipRawByte(BlockOffset(3) + 40);
  CHECK(f.file().Verify(f.size()).ok());
  // A size that does not match the file is found.
  RequireIntegrity(f.file().Verify(f.size() - 1));
  RequireIntegrity(f.file().Verify(3 * kBlockSize));
  RequireIntegrity(f.file().Verify(0));
}

TEST_CASE("encrypted_file: chopping bytes off a partial last block is kIntegrity",
          "[encrypted_file][tamper]") {
  for (uint64_t chop : {uint64_t{1}, uint64_t{16}, uint64_t{100}, uint64_t{900}}) {
    INFO("chop " << chop);
    TempDir dir;
    ModelFile f(dir, "f");
    f.Write(0, Pattern(kTamperSize, 45));
    const uint64_t cut = f.BackingSize() - chop;
    REQUIRE(::ftruncate(f.fd(), static_cast<off_t>(cut)) == 0);
    const auto new_size = PlainSize(cut);
    REQUIRE(new_size.has_value());
    RequireIntegrity(f.ReadAllStatus(*new_size));
  }
}

TEST_CASE("encrypted_file: a short backing file read at the cached size is kIntegrity",
          "[encrypted_file][tamper]") {
  TempDir dir;
  ModelFile f(dir, "f");
  f.Write(0, Pattern(kTamperSize, 46));
  REQUIRE(::ftruncate(f.fd(), static_cast<off_t>(BlockOffset(2))) == 0);
  RequireIntegrity(f.ReadAllStatus());  // the caller still believes the old size
}

TEST_CASE("encrypted_file: an appended copy of the last block is kIntegrity",
          "[encrypted_file][tamper]") {
  TempDir dir;
  ModelFile f(dir, "f");
  f.Write(0, Pattern(2 * kBlockSize, 47));
  const Bytes last = f.RawRead(BlockOffset(1), kCipherBlockSize);
  f.RawWrite(BlockOffset(2), last);
  const auto new_size = PlainSize(f.BackingSize());
  REQUIRE(new_size == 3 * kBlockSize);
  RequireIntegrity(f.ReadAllStatus(*new_size));
}

TEST_CASE("encrypted_file: swapping two blocks is kIntegrity", "[encrypted_file][tamper]") {
  const std::pair<uint64_t, uint64_t> swaps[] = {{0, 1}, {1, 2}, {0, 2}};
  for (const auto& [a, b] : swaps) {
    INFO("swap blocks " << a << " and " << b);
    TempDir dir;
    ModelFile f(dir, "f");
    f.Write(0, Pattern(kTamperSize, 48));
    const Bytes ba = f.RawRead(BlockOffset(a), kCipherBlockSize);
    const Bytes bb = f.RawRead(BlockOffset(b), kCipherBlockSize);
    f.RawWrite(BlockOffset(a), bb);
    f.RawWrite(BlockOffset(b), ba);
    RequireIntegrity(f.ReadAllStatus());
    Bytes one(kBlockSize);
    RequireIntegrity(f.file().Read(a * kBlockSize, one, f.size()).status());
    RequireIntegrity(f.file().Read(b * kBlockSize, one, f.size()).status());
    // Swapping back restores the file.
    f.RawWrite(BlockOffset(a), ba);
    f.RawWrite(BlockOffset(b), bb);
    f.Verify();
  }
}

TEST_CASE("encrypted_file: a block moved in from another file is kIntegrity",
          "[encrypted_file][tamper]") {
  TempDir dir;
  const crypto::SecretKey key = crypto::SecretKey::Random(crypto::kDataKeySize);
  // Same key, different file IDs: only the ID in the AAD tells them apart.
  ModelFile a(dir, "a", &key);
  ModelFile b(dir, "b", &key);
  a.Write(0, Pattern(kTamperSize, 49));
  b.Write(0, Pattern(kTamperSize, 50));
  b.RawWrite(BlockOffset(1), a.RawRead(BlockOffset(1), kCipherBlockSize));
  RequireIntegrity(b.ReadAllStatus());
  // Or the whole body of another file under this file's header.
  b.RawWrite(BlockOffset(0), a.RawRead(BlockOffset(0), a.BackingSize() - kHeaderSize));
  RequireIntegrity(b.ReadAllStatus());
}

TEST_CASE("encrypted_file: the wrong key is kIntegrity", "[encrypted_file][tamper]") {
  TempDir dir;
  ModelFile f(dir, "f");
  f.Write(0, Pattern(5000, 51));
  const crypto::SecretKey other = crypto::SecretKey::Random(crypto::kDataKeySize);
  EncryptedFile wrong(f.fd(), other, f.id());
  Bytes out(5000);
  RequireIntegrity(wrong.Read(0, out, 5000).status());
}

}  // namespace
}  // namespace strongroom::fs
