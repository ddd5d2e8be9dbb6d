// Block format and size arithmetic (crypto/content.h).
#include <catch2/catch.hpp>

#include <cstring>

#include "crypto/content.h"
#include "tests/unit/test_util.h"

namespace strongroom::crypto {
namespace {

TEST_CASE("content: format constants", "[content]") {
  CHECK(kBlockSize == 4096);
  CHECK(kBlockOverhead == 28);
  CHECK(kCipherBlockSize == 4124);
  CHECK(kHeaderSize == 20);
  CHECK(BlockOffset(0) == 20);
  CHECK(BlockOffset(3) == 20 + 3 * 4124);
  CHECK(BlockCount(0) == 0);
  CHECK(BlockCount(1) == 1);
  CHECK(BlockCount(4096) == 1);
  CHECK(BlockCount(4097) == 2);
}

TEST_CASE("content: CipherSize and PlainSize at block boundaries", "[content][size]") {
  const std::pair<uint64_t, uint64_t> cases[] = {
      {0, 20 + 28},  // header and one empty final block
      {1, 20 + 1 + 28},
      {4095, 20 + 4095 + 28},
      {4096, 20 + 4124},
      {4097, 20 + 4124 + 1 + 28},
      {8192, 20 + 2 * 4124},
      {8193, 20 + 2 * 4124 + 1 + 28},
      {1ULL << 40, 20 + (1ULL << 28) * 4124},
  };
  for (const auto& [plain, cipher] : cases) {
    INFO("plain size " << plain);
    CHECK(CipherSize(plain) == cipher);
    REQUIRE(PlainSize(cipher).has_value());
    CHECK(*PlainSize(cipher) == plain);
  }
}

TEST_CASE("content: PlainSize inverts CipherSize for every size up to 3 blocks",
          "[content][size]") {
  for (uint64_t p = 0; p <= 3 * kBlockSize + 5; ++p) {
    const auto back = PlainSize(CipherSize(p));
    REQUIRE(back.has_value());
    REQUIRE(*back == p);
  }
}

TEST_CASE("content: impossible cipher sizes give nullopt", "[content][size]") {
  // Up to and including the bare header: every file has a final block.
  for (uint64_t c = 0; c <= kHeaderSize; ++c) {
    INFO("cipher size " << c);
    CHECK_FALSE(PlainSize(c).has_value());
  }
  // An empty file is exactly the header and one empty block.
  CHECK(PlainSize(kHeaderSize + kBlockOverhead) == 0);
  for (uint64_t full = 0; full < 4; ++full) {
    for (uint64_t rest = 1; rest <= kBlockOverhead; ++rest) {
      // Only the empty file ends in an empty block.
      if (full == 0 && rest == kBlockOverhead) continue;
      const uint64_t c = kHeaderSize + full * kCipherBlockSize + rest;
      INFO("cipher size " << c << " (" << full << " blocks + " << rest << ")");
      CHECK_FALSE(PlainSize(c).has_value());
    }
    // One byte past the overhead is the smallest possible partial block.
    CHECK(PlainSize(kHeaderSize + full * kCipherBlockSize + kBlockOverhead + 1) ==
          full * kBlockSize + 1);
  }
}

TEST_CASE("content: header encode and decode", "[content]") {
  FileId id;
  for (size_t i = 0; i < id.size(); ++i) id[i] = static_cast<uint8_t>(0xa0 + i);
  uint8_t header[kHeaderSize];
  EncodeHeader(id, header);
  CHECK(std::memcmp(header, "SRF1", 4) == 0);
  const auto back = DecodeHeader(header);
  REQUIRE(back.has_value());
  CHECK(*back == id);

  uint8_t bad[kHeaderSize];
  std::memcpy(bad, header, sizeof bad);
  bad[3] = '2';
  CHECK_FALSE(DecodeHeader(bad).has_value());
  CHECK_FALSE(DecodeHeader(std::span<const uint8_t>(header, kHeaderSize - 1)).has_value());
  CHECK_FALSE(DecodeHeader({}).has_value());
}

struct BlockFixture {
  SecretKey key = SecretKey::Random(kDataKeySize);
  FileId id{};
  BlockFixture() { RandomBytes(id); }
};

Bytes Pattern(size_t n, uint8_t seed) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(seed + i * 31 + (i >> 8));
  return b;
}

TEST_CASE("content: EncryptBlock/DecryptBlock round trip", "[content][block]") {
  BlockFixture f;
  for (size_t n : {size_t{1}, size_t{2}, size_t{100}, size_t{4095}, size_t{4096}}) {
    for (bool last : {false, true}) {
      INFO("size " << n << " last " << last);
      const Bytes plain = Pattern(n, static_cast<uint8_t>(n));
      Bytes cipher(n + kBlockOverhead);
      EncryptBlock(f.key, f.id, 7, last, plain, cipher.data());
      // The plaintext does not appear in the ciphertext.
      if (n >= 16) CHECK_FALSE(testing::Contains(cipher, std::span(plain).first(16)));
      Bytes out(n);
      REQUIRE(DecryptBlock(f.key, f.id, 7, last, cipher, out.data()));
      CHECK(out == plain);
      // A fresh random nonce each time: the same block encrypts differently.
      Bytes cipher2(n + kBlockOverhead);
      EncryptBlock(f.key, f.id, 7, last, plain, cipher2.data());
      CHECK(cipher2 != cipher);
    }
  }
}

TEST_CASE("content: an empty final block authenticates like any other", "[content][block]") {
  BlockFixture f;
  Bytes cipher(kBlockOverhead);
  EncryptBlock(f.key, f.id, 0, true, {}, cipher.data());
  uint8_t unused = 0;
  CHECK(DecryptBlock(f.key, f.id, 0, true, cipher, &unused));
  CHECK_FALSE(DecryptBlock(f.key, f.id, 0, false, cipher, &unused));
  CHECK_FALSE(DecryptBlock(f.key, f.id, 1, true, cipher, &unused));
  FileId other = f.id;
  other[0] ^= 1;
  CHECK_FALSE(DecryptBlock(f.key, other, 0, true, cipher, &unused));
  CHECK_FALSE(DecryptBlock(f.key, f.id, 0, true, Bytes(kBlockOverhead, 0), &unused));
  for (size_t i = 0; i < cipher.size(); ++i) {
    Bytes t = cipher;
    t[i] ^= 1;
    INFO("byte " << i);
    CHECK_FALSE(DecryptBlock(f.key, f.id, 0, true, t, &unused));
  }
  // Shorter than a nonce and a tag is never a block.
  CHECK_FALSE(DecryptBlock(f.key, f.id, 0, true, std::span(cipher).first(kBlockOverhead - 1),
                           &unused));
}

TEST_CASE("content: a block bound to another position, file, flag or key fails",
          "[content][block][tamper]") {
  BlockFixture f;
  const Bytes plain = Pattern(4096, 9);
  Bytes cipher(kCipherBlockSize);
  EncryptBlock(f.key, f.id, 5, false, plain, cipher.data());
  Bytes out(4096);
  REQUIRE(DecryptBlock(f.key, f.id, 5, false, cipher, out.data()));

  SECTION("wrong block number") {
    CHECK_FALSE(DecryptBlock(f.key, f.id, 4, false, cipher, out.data()));
    CHECK_FALSE(DecryptBlock(f.key, f.id, 6, false, cipher, out.data()));
    CHECK_FALSE(DecryptBlock(f.key, f.id, 5 + (1ULL << 32), false, cipher, out.data()));
    CHECK_FALSE(DecryptBlock(f.key, f.id, 5ULL << 56, false, cipher, out.data()));
  }
  SECTION("wrong file ID") {
    for (size_t i = 0; i < f.id.size(); ++i) {
      FileId other = f.id;
      other[i] ^= 1;
      INFO("file ID byte " << i);
      CHECK_FALSE(DecryptBlock(f.key, other, 5, false, cipher, out.data()));
    }
  }
  SECTION("wrong last flag") {
    CHECK_FALSE(DecryptBlock(f.key, f.id, 5, true, cipher, out.data()));
    Bytes last_cipher(kCipherBlockSize);
    EncryptBlock(f.key, f.id, 5, true, plain, last_cipher.data());
    CHECK(DecryptBlock(f.key, f.id, 5, true, last_cipher, out.data()));
    CHECK_FALSE(DecryptBlock(f.key, f.id, 5, false, last_cipher, out.data()));
  }
  SECTION("wrong key") {
    const SecretKey other = SecretKey::Random(kDataKeySize);
    CHECK_FALSE(DecryptBlock(other, f.id, 5, false, cipher, out.data()));
  }
  SECTION("all-zero block") {
    const Bytes zeros(kCipherBlockSize, 0);
    for (bool last : {false, true}) {
      for (uint64_t b : {uint64_t{0}, uint64_t{5}}) {
        CHECK_FALSE(DecryptBlock(f.key, f.id, b, last, zeros, out.data()));
      }
    }
    CHECK_FALSE(DecryptBlock(f.key, f.id, 0, true, Bytes(kBlockOverhead + 1, 0), out.data()));
  }
  SECTION("flipped bytes in nonce, body and tag") {
    for (size_t pos : {size_t{0}, size_t{11}, size_t{12}, size_t{2000}, size_t{4107},
                       size_t{4108}, size_t{4123}}) {
      Bytes t = cipher;
      t[pos] ^= 0x20;
      INFO("byte " << pos);
      CHECK_FALSE(DecryptBlock(f.key, f.id, 5, false, t, out.data()));
    }
  }
  SECTION("truncated or oversize block") {
    CHECK_FALSE(DecryptBlock(f.key, f.id, 5, false, std::span(cipher).first(4123), out.data()));
    CHECK_FALSE(DecryptBlock(f.key, f.id, 5, false, std::span(cipher).first(kBlockOverhead),
                             out.data()));
    CHECK_FALSE(DecryptBlock(f.key, f.id, 5, false, {}, out.data()));
    Bytes big = cipher;
    big.push_back(0);
    Bytes big_out(4097);
    CHECK_FALSE(DecryptBlock(f.key, f.id, 5, false, big, big_out.data()));
  }
}

}  // namespace
}  // namespace strongroom::crypto
