// Known-answer vectors and misuse tests for crypto/primitives.h.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <set>
#include <vector>
#include <random>
#include <string>
#include <thread>

#include "crypto/primitives.h"
#include "crypto/secret.h"
#include "tests/unit/test_util.h"

namespace strongroom::crypto {
namespace {

using testing::Hex;
using testing::ToBytes;

// ---------------------------------------------------------------------------
// AES-256-GCM: McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)",
// test cases 13-16 (256-bit keys).

struct GcmVector {
  int number;
  Bytes key, iv, plain, aad, ct, tag;
};

std::vector<GcmVector> GcmVectors() {
  const Bytes zero_key(32, 0);
  const Bytes k15 = Hex("feffe9928665731c6d6a8f9467308308 feffe9928665731c6d6a8f9467308308");
  const Bytes iv15 = Hex("cafebabefacedbaddecaf888");
  const Bytes p15 = Hex(
      "d9313225f88406e5a55909c5aff5269a 86a7a9531534f7da2e4c303d8a318a72"
      "1c3c0c95956809532fcf0e2449a6b525 b16aedf5aa0de657ba637b391aafd255");
  const Bytes c15 = Hex(
      "522dc1f099567d07f47f37a32a84427d 643a8cdcbfe5c0c97598a2bd2555d1aa"
      "8cb08e48590dbb3da7b08b1056828838 c5f61e6393ba7a0abcc9f662898015ad");
  return {
      {13, zero_key, Bytes(12, 0), {}, {}, {}, Hex("530f8afbc74536b9a963b4f1c4cb738b")},
      {14, zero_key, Bytes(12, 0), Bytes(16, 0), {}, Hex("cea7403d4d606b6e074ec5d3baf39d18"),
       Hex("d0d1c8a799996bf0265b98b5d48ab919")},
      {15, k15, iv15, p15, {}, c15, Hex("b094dac5d93471bdec1a502270e3cc6c")},
      {16, k15, iv15, Bytes(p15.begin(), p15.begin() + 60),
       Hex("feedfacedeadbeeffeedfacedeadbeef abaddad2"), Bytes(c15.begin(), c15.begin() + 60),
       Hex("76fc6ece0f4e1768cddf8853bb2d551b")},
  };
}

void CheckGcmSeal(const GcmVector& v) {
  INFO("GCM test case " << v.number);
  Bytes ct(v.plain.size());
  Bytes tag(gcm::kTagSize);
  REQUIRE(gcm::Seal(v.key, v.iv, v.aad, v.plain, ct.data(), tag.data()));
  CHECK(ct == v.ct);
  CHECK(tag == v.tag);
}

void CheckGcmOpen(const GcmVector& v) {
  INFO("GCM test case " << v.number);
  Bytes plain(v.ct.size());
  REQUIRE(gcm::Open(v.key, v.iv, v.aad, v.ct, v.tag, plain.data()));
  CHECK(plain == v.plain);
}

TEST_CASE("gcm: NIST GCM spec test cases 13-16 seal to the published ciphertext and tag",
          "[crypto][gcm]") {
  for (const GcmVector& v : GcmVectors()) CheckGcmSeal(v);
}

TEST_CASE("gcm: NIST GCM spec test cases 13-16 open to the published plaintext", "[crypto][gcm]") {
  for (const GcmVector& v : GcmVectors()) CheckGcmOpen(v);
}

TEST_CASE("gcm: vectors stay correct when keys, AAD and direction alternate", "[crypto][gcm]") {
  // Per-thread contexts may cache a key schedule; alternating keys, with and
  // without AAD, and failed opens in between must not leak state.
  const auto vs = GcmVectors();
  const int order[] = {3, 2, 0, 3, 1, 2, 2, 0, 0, 1, 3, 3};
  for (int i : order) {
    CheckGcmSeal(vs[i]);
    CheckGcmOpen(vs[i]);
    // A failed open with the same key must not disturb the next operation.
    Bytes bad_tag = vs[i].tag;
    bad_tag[0] ^= 1;
    Bytes plain(vs[i].ct.size());
    CHECK_FALSE(gcm::Open(vs[i].key, vs[i].iv, vs[i].aad, vs[i].ct, bad_tag, plain.data()));
  }
}

TEST_CASE("gcm: vectors stay correct after ForgetThreadKeys", "[crypto][gcm]") {
  const auto vs = GcmVectors();
  gcm::ForgetThreadKeys();  // nothing cached yet on a fresh thread is fine too
  for (int round = 0; round < 3; ++round) {
    for (const GcmVector& v : vs) {
      CheckGcmSeal(v);
      gcm::ForgetThreadKeys();
      CheckGcmOpen(v);
      gcm::ForgetThreadKeys();
      gcm::ForgetThreadKeys();
    }
  }
  // On another thread, with its own contexts (Catch2 asserts on this one only).
  int good = 0;
  std::thread t([&] {
    for (const GcmVector& v : vs) {
      Bytes plain(v.ct.size()), ct(v.plain.size()), tag(gcm::kTagSize);
      if (gcm::Open(v.key, v.iv, v.aad, v.ct, v.tag, plain.data()) && plain == v.plain) ++good;
      gcm::ForgetThreadKeys();
      if (gcm::Seal(v.key, v.iv, v.aad, v.plain, ct.data(), tag.data()) && ct == v.ct &&
          tag == v.tag) {
        ++good;
      }
    }
  });
  t.join();
  CHECK(good == 2 * static_cast<int>(vs.size()));
}

TEST_CASE("gcm: flipping any bit of ciphertext, tag, AAD or nonce makes Open fail",
          "[crypto][gcm][tamper]") {
  const GcmVector v = GcmVectors()[3];  // test case 16: has plaintext and AAD
  Bytes plain(v.ct.size());
  REQUIRE(gcm::Open(v.key, v.iv, v.aad, v.ct, v.tag, plain.data()));

  for (size_t i = 0; i < v.ct.size(); ++i) {
    Bytes ct = v.ct;
    ct[i] ^= 0x01;
    INFO("ciphertext byte " << i);
    CHECK_FALSE(gcm::Open(v.key, v.iv, v.aad, ct, v.tag, plain.data()));
  }
  for (size_t i = 0; i < v.tag.size(); ++i) {
    Bytes tag = v.tag;
    tag[i] ^= 0x80;
    INFO("tag byte " << i);
    CHECK_FALSE(gcm::Open(v.key, v.iv, v.aad, v.ct, tag, plain.data()));
  }
  for (size_t i = 0; i < v.aad.size(); ++i) {
    Bytes aad = v.aad;
    aad[i] ^= 0x10;
    INFO("aad byte " << i);
    CHECK_FALSE(gcm::Open(v.key, v.iv, aad, v.ct, v.tag, plain.data()));
  }
  for (size_t i = 0; i < v.iv.size(); ++i) {
    Bytes iv = v.iv;
    iv[i] ^= 0x04;
    INFO("nonce byte " << i);
    CHECK_FALSE(gcm::Open(v.key, iv, v.aad, v.ct, v.tag, plain.data()));
  }
  Bytes key = v.key;
  key[31] ^= 1;
  CHECK_FALSE(gcm::Open(key, v.iv, v.aad, v.ct, v.tag, plain.data()));
  // Dropping or adding AAD fails too.
  CHECK_FALSE(gcm::Open(v.key, v.iv, {}, v.ct, v.tag, plain.data()));
  Bytes longer_aad = v.aad;
  longer_aad.push_back(0);
  CHECK_FALSE(gcm::Open(v.key, v.iv, longer_aad, v.ct, v.tag, plain.data()));
  // Truncated ciphertext fails.
  CHECK_FALSE(gcm::Open(v.key, v.iv, v.aad, ByteView(v.ct).first(59), v.tag, plain.data()));
  // And the untouched message still opens afterwards.
  REQUIRE(gcm::Open(v.key, v.iv, v.aad, v.ct, v.tag, plain.data()));
  CHECK(plain == v.plain);
}

TEST_CASE("gcm: wrong key, nonce or tag sizes are refused", "[crypto][gcm]") {
  const Bytes key(32, 7), nonce(12, 1), plain(10, 2);
  Bytes ct(10), tag(16);
  CHECK_FALSE(gcm::Seal(Bytes(16, 7), nonce, {}, plain, ct.data(), tag.data()));
  CHECK_FALSE(gcm::Seal(key, Bytes(16, 1), {}, plain, ct.data(), tag.data()));
  REQUIRE(gcm::Seal(key, nonce, {}, plain, ct.data(), tag.data()));
  Bytes out(10);
  CHECK_FALSE(gcm::Open(key, nonce, {}, ct, ByteView(tag).first(12), out.data()));
  CHECK_FALSE(gcm::Open(Bytes(24, 7), nonce, {}, ct, tag, out.data()));
  REQUIRE(gcm::Open(key, nonce, {}, ct, tag, out.data()));
  CHECK(out == plain);
}

// ---------------------------------------------------------------------------
// AES-SIV: RFC 5297.

TEST_CASE("siv: RFC 5297 A.1 deterministic AES-128-SIV vector", "[crypto][siv]") {
  const Bytes key = Hex(
      "fffefdfc fbfaf9f8 f7f6f5f4 f3f2f1f0"
      "f0f1f2f3 f4f5f6f7 f8f9fafb fcfdfeff");
  const Bytes ad = Hex(
      "10111213 14151617 18191a1b 1c1d1e1f"
      "20212223 24252627");
  const Bytes plain = Hex("11223344 55667788 99aabbcc ddee");
  const Bytes expected = Hex(
      "85632d07 c6e8f37f 950acd32 0a2ecc93"  // V (the SIV)
      "40c02b96 90c4dc04 daef7f6a fe5c");    // C
  Bytes sealed;
  REQUIRE(siv::Seal(key, ad, plain, &sealed));
  CHECK(sealed == expected);
  // Deterministic: sealing again gives the same bytes.
  Bytes again;
  REQUIRE(siv::Seal(key, ad, plain, &again));
  CHECK(again == expected);

  Bytes opened;
  REQUIRE(siv::Open(key, ad, expected, &opened));
  CHECK(opened == plain);
}

TEST_CASE("siv: AES-256-SIV (64-byte key) round trip, determinism and tamper", "[crypto][siv]") {
  Bytes key(64);
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(i * 7 + 3);
  const Bytes ad = ToBytes("directory-id-0001");
  const Bytes plain = ToBytes("a plaintext file name.txt");

  Bytes sealed;
  REQUIRE(siv::Seal(key, ad, plain, &sealed));
  REQUIRE(sealed.size() == plain.size() + siv::kTagSize);
  Bytes again;
  REQUIRE(siv::Seal(key, ad, plain, &again));
  CHECK(sealed == again);

  // AES-256-SIV must differ from AES-128-SIV under the first half of the key.
  Bytes sealed128;
  REQUIRE(siv::Seal(ByteView(key).first(32), ad, plain, &sealed128));
  CHECK(sealed128 != sealed);

  Bytes opened;
  REQUIRE(siv::Open(key, ad, sealed, &opened));
  CHECK(opened == plain);

  for (size_t i = 0; i < sealed.size(); ++i) {
    Bytes t = sealed;
    t[i] ^= 0x01;
    INFO("sealed byte " << i);
    CHECK_FALSE(siv::Open(key, ad, t, &opened));
  }
  Bytes other_ad = ad;
  other_ad.back() ^= 1;
  CHECK_FALSE(siv::Open(key, other_ad, sealed, &opened));
  Bytes other_key = key;
  other_key[63] ^= 1;
  CHECK_FALSE(siv::Open(other_key, ad, sealed, &opened));
  // Different plaintexts or AD give different output.
  Bytes s2;
  REQUIRE(siv::Seal(key, other_ad, plain, &s2));
  CHECK(s2 != sealed);
}

TEST_CASE("siv: bad key sizes, empty plaintext and short input are refused", "[crypto][siv]") {
  Bytes out;
  CHECK_FALSE(siv::Seal(Bytes(16, 1), {}, ToBytes("x"), &out));
  CHECK_FALSE(siv::Seal(Bytes(48, 1), {}, ToBytes("x"), &out));
  CHECK_FALSE(siv::Seal(Bytes(64, 1), {}, {}, &out));
  CHECK_FALSE(siv::Open(Bytes(64, 1), {}, Bytes(16, 0), &out));
  CHECK_FALSE(siv::Open(Bytes(64, 1), {}, Bytes(3, 0), &out));
  CHECK_FALSE(siv::Open(Bytes(20, 1), {}, Bytes(40, 0), &out));
}

// ---------------------------------------------------------------------------
// scrypt: RFC 7914 section 12.

TEST_CASE("scrypt: RFC 7914 vector N=1024 r=8 p=16 password/NaCl", "[crypto][scrypt]") {
  const ScryptParams params{10, 8, 16};
  REQUIRE(ScryptParamsInBounds(params));
  SecretKey key;
  REQUIRE(Scrypt("password", ToBytes("NaCl"), params, &key));
  REQUIRE(key.size() == 32);
  const Bytes expected = Hex(
      "fdbabe1c9d3472007856e7190d01e9fe"
      "7c6ad7cbc8237830e77376634b373162");
  CHECK(Bytes(key.span().begin(), key.span().end()) == expected);
}

TEST_CASE("scrypt: parameters outside the bounds are rejected before any work",
          "[crypto][scrypt]") {
  CHECK(ScryptParamsInBounds({10, 8, 1}));
  CHECK(ScryptParamsInBounds({17, 8, 1}));
  CHECK(ScryptParamsInBounds({20, 8, 1}));
  CHECK_FALSE(ScryptParamsInBounds({40, 8, 1}));
  CHECK_FALSE(ScryptParamsInBounds({9, 8, 1}));
  CHECK_FALSE(ScryptParamsInBounds({0, 8, 1}));
  CHECK_FALSE(ScryptParamsInBounds({-1, 8, 1}));
  CHECK_FALSE(ScryptParamsInBounds({23, 1, 1}));
  CHECK_FALSE(ScryptParamsInBounds({64, 8, 1}));
  CHECK_FALSE(ScryptParamsInBounds({14, 1 << 20, 1}));  // huge r
  CHECK_FALSE(ScryptParamsInBounds({14, 33, 1}));
  CHECK_FALSE(ScryptParamsInBounds({14, 0, 1}));
  CHECK_FALSE(ScryptParamsInBounds({14, 8, 0}));
  CHECK_FALSE(ScryptParamsInBounds({14, 8, 17}));
  CHECK_FALSE(ScryptParamsInBounds({14, 8, 1 << 30}));
  // In range individually, but 128 * r * N = 4 GiB is over the memory cap.
  CHECK_FALSE(ScryptParamsInBounds({20, 32, 1}));
  CHECK(ScryptParamsInBounds({18, 32, 1}));  // exactly 1 GiB

  SecretKey key = SecretKey::FromBytes(Bytes(32, 0xaa));
  CHECK_FALSE(Scrypt("pw", ToBytes("salt"), {40, 8, 1}, &key));
  CHECK_FALSE(Scrypt("pw", ToBytes("salt"), {14, 1 << 20, 1}, &key));
  // The output is left alone on failure.
  CHECK(Bytes(key.span().begin(), key.span().end()) == Bytes(32, 0xaa));
}

TEST_CASE("scrypt: passphrase, salt and parameters all change the key", "[crypto][scrypt]") {
  SecretKey a, b, c, d, e;
  REQUIRE(Scrypt("pw", ToBytes("salt-1"), {10, 8, 1}, &a));
  REQUIRE(Scrypt("pw", ToBytes("salt-1"), {10, 8, 1}, &b));
  REQUIRE(Scrypt("pW", ToBytes("salt-1"), {10, 8, 1}, &c));
  REQUIRE(Scrypt("pw", ToBytes("salt-2"), {10, 8, 1}, &d));
  REQUIRE(Scrypt("pw", ToBytes("salt-1"), {11, 8, 1}, &e));
  auto bytes = [](const SecretKey& k) { return Bytes(k.span().begin(), k.span().end()); };
  CHECK(bytes(a) == bytes(b));
  CHECK(bytes(a) != bytes(c));
  CHECK(bytes(a) != bytes(d));
  CHECK(bytes(a) != bytes(e));
}

// ---------------------------------------------------------------------------
// HKDF, HMAC, SHA-256.

TEST_CASE("hkdf: labels separate keys and the same label is deterministic", "[crypto][hkdf]") {
  const SecretKey ikm = SecretKey::FromBytes(Hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"));
  const SecretKey a = Hkdf(ikm, "strongroom/v1/a", 32);
  const SecretKey a2 = Hkdf(ikm, "strongroom/v1/a", 32);
  const SecretKey b = Hkdf(ikm, "strongroom/v1/b", 32);
  const SecretKey empty = Hkdf(ikm, "", 32);
  const SecretKey long_a = Hkdf(ikm, "strongroom/v1/a", 64);
  auto bytes = [](const SecretKey& k) { return Bytes(k.span().begin(), k.span().end()); };
  REQUIRE(a.size() == 32);
  REQUIRE(long_a.size() == 64);
  CHECK(bytes(a) == bytes(a2));
  CHECK(bytes(a) != bytes(b));
  CHECK(bytes(a) != bytes(empty));
  CHECK(bytes(a) != Bytes(32, 0));
  // HKDF-Expand: a longer output extends the shorter one.
  CHECK(Bytes(long_a.span().begin(), long_a.span().begin() + 32) == bytes(a));
  // A different input key gives a different output under the same label.
  const SecretKey ikm2 = SecretKey::FromBytes(Hex("0c0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"));
  CHECK(bytes(Hkdf(ikm2, "strongroom/v1/a", 32)) != bytes(a));
}

TEST_CASE("hkdf: RFC 5869 test case 3 (empty salt and info)", "[crypto][hkdf]") {
  const SecretKey ikm = SecretKey::FromBytes(Hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"));
  const SecretKey okm = Hkdf(ikm, "", 42);
  CHECK(Bytes(okm.span().begin(), okm.span().end()) ==
        Hex("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
            "9d201395faa4b61a96c8"));
}

TEST_CASE("hmac: RFC 4231 test case 2", "[crypto][hmac]") {
  uint8_t mac[32];
  HmacSha256(ToBytes("Jefe"), ToBytes("what do ya want for nothing?"), mac);
  CHECK(Bytes(mac, mac + 32) ==
        Hex("5bdcc146bf60754e6a042426089575c7 5a003f089d2739839dec58b964ec3843"));
}

TEST_CASE("sha256: FIPS 180-2 'abc' and empty input", "[crypto][sha256]") {
  uint8_t d[32];
  Sha256(ToBytes("abc"), d);
  CHECK(Bytes(d, d + 32) ==
        Hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
  Sha256({}, d);
  CHECK(Bytes(d, d + 32) ==
        Hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
}

// ---------------------------------------------------------------------------
// Key wrapping.

TEST_CASE("wrap: round trip, and wrong AAD, wrong KEK or any flipped byte fails", "[crypto][wrap]") {
  const SecretKey kek = SecretKey::Random(32);
  const SecretKey secret = SecretKey::Random(64);
  const Bytes aad = ToBytes("strongroom/v1/subkey/names");
  const Bytes wrapped = Wrap(kek, aad, secret.span());
  REQUIRE(wrapped.size() == secret.size() + kWrapOverhead);
  // The secret does not appear in the wrap.
  CHECK_FALSE(testing::Contains(wrapped, secret.span().first(16)));
  // Fresh nonce each time.
  CHECK(Wrap(kek, aad, secret.span()) != wrapped);

  SecretKey out;
  REQUIRE(Unwrap(kek, aad, wrapped, &out));
  CHECK(Bytes(out.span().begin(), out.span().end()) ==
        Bytes(secret.span().begin(), secret.span().end()));

  SecretKey untouched = SecretKey::FromBytes(Bytes(8, 0x55));
  Bytes wrong_aad = aad;
  wrong_aad.back() ^= 1;
  CHECK_FALSE(Unwrap(kek, wrong_aad, wrapped, &untouched));
  CHECK_FALSE(Unwrap(kek, {}, wrapped, &untouched));
  CHECK_FALSE(Unwrap(SecretKey::Random(32), aad, wrapped, &untouched));
  for (size_t i = 0; i < wrapped.size(); ++i) {
    Bytes t = wrapped;
    t[i] ^= 0x40;
    INFO("wrapped byte " << i);
    CHECK_FALSE(Unwrap(kek, aad, t, &untouched));
  }
  CHECK_FALSE(Unwrap(kek, aad, ByteView(wrapped).first(wrapped.size() - 1), &untouched));
  CHECK_FALSE(Unwrap(kek, aad, ByteView(wrapped).first(kWrapOverhead - 1), &untouched));
  // Larger than any key the arena holds.
  CHECK_FALSE(Unwrap(kek, aad, Bytes(kWrapOverhead + kMaxSecretSize + 1, 0), &untouched));
  CHECK(Bytes(untouched.span().begin(), untouched.span().end()) == Bytes(8, 0x55));
}

// ---------------------------------------------------------------------------
// Base64url.

TEST_CASE("base64url: RFC 4648 vectors, unpadded", "[crypto][base64]") {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""},         {"f", "Zg"},         {"fo", "Zm8"},        {"foo", "Zm9v"},
      {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : vectors) {
    INFO(plain);
    CHECK(Base64UrlEncode(ToBytes(plain)) == encoded);
    Bytes out{1, 2, 3};
    REQUIRE(Base64UrlDecode(encoded, &out));
    CHECK(out == ToBytes(plain));
  }
  // The URL-safe alphabet: '-' and '_' instead of '+' and '/'.
  CHECK(Base64UrlEncode(Hex("fbff")) == "-_8");
  CHECK(Base64UrlEncode(Hex("fbefbe")) == "----");
  CHECK(Base64UrlEncode(Hex("ffffff")) == "____");
}

TEST_CASE("base64url: random round trips at every length 0..200", "[crypto][base64]") {
  std::mt19937 rng(42);
  for (size_t n = 0; n <= 200; ++n) {
    Bytes data(n);
    for (auto& b : data) b = static_cast<uint8_t>(rng());
    const std::string text = Base64UrlEncode(data);
    INFO("length " << n);
    CHECK(text.size() == (n * 4 + 2) / 3);
    CHECK(text.find_first_not_of(
              "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
          std::string::npos);
    Bytes back;
    REQUIRE(Base64UrlDecode(text, &back));
    CHECK(back == data);
  }
}

TEST_CASE("base64url: non-canonical and invalid encodings are rejected", "[crypto][base64]") {
  Bytes out;
  // Stray low bits in the final character: each byte string has one name.
  CHECK_FALSE(Base64UrlDecode("Zh", &out));      // "f" is "Zg"
  CHECK_FALSE(Base64UrlDecode("Zm9", &out));     // "fo" is "Zm8"
  CHECK_FALSE(Base64UrlDecode("Zm9vYh", &out));  // "foob" is "Zm9vYg"
  CHECK_FALSE(Base64UrlDecode("-_9", &out));     // fb ff is "-_8"
  CHECK_FALSE(Base64UrlDecode("AB", &out));
  // Impossible lengths.
  CHECK_FALSE(Base64UrlDecode("Z", &out));
  CHECK_FALSE(Base64UrlDecode("Zm9vY", &out));
  // ...even when the lone character carries no bits that would be stray.
  CHECK_FALSE(Base64UrlDecode("A", &out));
  CHECK_FALSE(Base64UrlDecode("AAAAA", &out));
  CHECK_FALSE(Base64UrlDecode("Zm9vYmFyA", &out));
  // Characters outside the url-safe alphabet: standard alphabet, padding,
  // whitespace, NUL, high bytes.
  CHECK_FALSE(Base64UrlDecode("Zg==", &out));
  CHECK_FALSE(Base64UrlDecode("+_8", &out));
  CHECK_FALSE(Base64UrlDecode("-/8", &out));
  CHECK_FALSE(Base64UrlDecode("Zm9v ", &out));
  CHECK_FALSE(Base64UrlDecode(" Zm9v", &out));
  CHECK_FALSE(Base64UrlDecode("Zm\n9v", &out));
  CHECK_FALSE(Base64UrlDecode(std::string_view("Zm\0v", 4), &out));
  CHECK_FALSE(Base64UrlDecode("Zm9\xc3\xa9", &out));
  CHECK_FALSE(Base64UrlDecode("~abc", &out));
  CHECK_FALSE(Base64UrlDecode(".", &out));
  // Every single-character substitution by a byte outside the alphabet fails.
  const std::string good = Base64UrlEncode(ToBytes("strongroom"));
  for (int c = 0; c < 256; ++c) {
    const char ch = static_cast<char>(c);
    if (std::isalnum(c) || ch == '-' || ch == '_') continue;
    std::string bad = good;
    bad[3] = ch;
    INFO("character " << c);
    CHECK_FALSE(Base64UrlDecode(bad, &out));
  }
}

TEST_CASE("hex: lowercase encoding", "[crypto]") {
  CHECK(HexEncode(Hex("00ff10ab")) == "00ff10ab");
  CHECK(HexEncode({}).empty());
}


TEST_CASE("RandomNonce: no nonce repeats, across pool refills, threads and a fork", "[crypto]") {
  std::set<std::string> seen;
  auto take = [&] {
    std::array<uint8_t, gcm::kNonceSize> n{};
    RandomNonce(n);
    return std::string(n.begin(), n.end());
  };
  for (int i = 0; i < 5000; ++i) CHECK(seen.insert(take()).second);  // several refills of the pool
  std::vector<std::string> other;
  std::thread t([&] {
    for (int i = 0; i < 1000; ++i) other.push_back(take());
  });
  t.join();
  for (const std::string& n : other) CHECK(seen.insert(n).second);

  // The child's next nonces are not the parent's next ones.
  int pipefd[2];
  REQUIRE(::pipe(pipefd) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    std::string out;
    for (int i = 0; i < 16; ++i) out += take();
    const bool ok = ::write(pipefd[1], out.data(), out.size()) == static_cast<ssize_t>(out.size());
    ::_exit(ok ? 0 : 1);
  }
  ::close(pipefd[1]);
  std::string child(16 * gcm::kNonceSize, '\0');
  size_t got = 0;
  while (got < child.size()) {
    const ssize_t n = ::read(pipefd[0], child.data() + got, child.size() - got);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(pipefd[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  REQUIRE(got == child.size());
  for (int i = 0; i < 16; ++i) CHECK(seen.insert(take()).second);
  for (size_t i = 0; i < 16; ++i) CHECK(seen.insert(child.substr(i * gcm::kNonceSize, gcm::kNonceSize)).second);
}

}  // namespace
}  // namespace strongroom::crypto
