// Name encryption (crypto/names.h).
#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "crypto/names.h"
#include "tests/unit/test_util.h"

namespace strongroom::crypto {
namespace {

DirId MakeDir(uint8_t seed) {
  DirId d;
  for (size_t i = 0; i < d.size(); ++i) d[i] = static_cast<uint8_t>(seed * 17 + i);
  return d;
}

struct NamesFixture {
  NameCipher cipher{SecretKey::Random(kNameKeySize)};
  DirId dir = MakeDir(1);
  DirId other_dir = MakeDir(2);
};

TEST_CASE("names: round trip of assorted names", "[names]") {
  NamesFixture f;
  const std::string names[] = {"a", "file.txt", "...", ".hidden", "with space",
                               "caf\xc3\xa9", std::string(255, 'x'), "~tilde", "-dash",
                               std::string("\x01\x7f\xff", 3)};
  for (const std::string& name : names) {
    INFO(name);
    const auto enc = f.cipher.Encrypt(f.dir, name);
    REQUIRE(enc.has_value());
    CHECK(enc->find_first_not_of(
              "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
          std::string::npos);
    // Long enough that a chance match in random base64 is negligible.
    if (name.size() >= 5) CHECK(enc->find(name) == std::string::npos);
    const auto dec = f.cipher.Decrypt(f.dir, *enc);
    REQUIRE(dec.has_value());
    CHECK(*dec == name);
  }
}

TEST_CASE("names: deterministic within a directory, different across directories", "[names]") {
  NamesFixture f;
  const auto a1 = f.cipher.Encrypt(f.dir, "report.pdf");
  const auto a2 = f.cipher.Encrypt(f.dir, "report.pdf");
  const auto b = f.cipher.Encrypt(f.other_dir, "report.pdf");
  REQUIRE(a1);
  REQUIRE(a2);
  REQUIRE(b);
  CHECK(*a1 == *a2);
  CHECK(*a1 != *b);
  // A name encrypted for one directory does not open in another.
  CHECK_FALSE(f.cipher.Decrypt(f.other_dir, *a1).has_value());
  CHECK_FALSE(f.cipher.Decrypt(f.dir, *b).has_value());
  // Different names differ; a separate key gives separate names.
  CHECK(*f.cipher.Encrypt(f.dir, "report.pdf ") != *a1);
  NameCipher other(SecretKey::Random(kNameKeySize));
  CHECK(*other.Encrypt(f.dir, "report.pdf") != *a1);
  CHECK_FALSE(other.Decrypt(f.dir, *a1).has_value());
}

TEST_CASE("names: distinct names in one directory never collide", "[names]") {
  NamesFixture f;
  std::set<std::string> seen;
  for (int i = 0; i < 500; ++i) {
    const auto enc = f.cipher.Encrypt(f.dir, "n" + std::to_string(i));
    REQUIRE(enc);
    CHECK(seen.insert(*enc).second);
  }
}

TEST_CASE("names: tampered encodings do not decrypt", "[names][tamper]") {
  NamesFixture f;
  const auto enc = f.cipher.Encrypt(f.dir, "secret-plans.odt");
  REQUIRE(enc);
  for (size_t i = 0; i < enc->size(); ++i) {
    std::string t = *enc;
    t[i] = t[i] == 'A' ? 'B' : 'A';
    INFO("position " << i);
    CHECK_FALSE(f.cipher.Decrypt(f.dir, t).has_value());
  }
  CHECK_FALSE(f.cipher.Decrypt(f.dir, enc->substr(0, enc->size() - 1)).has_value());
  CHECK_FALSE(f.cipher.Decrypt(f.dir, enc->substr(1)).has_value());
  CHECK_FALSE(f.cipher.Decrypt(f.dir, *enc + "A").has_value());
  CHECK_FALSE(f.cipher.Decrypt(f.dir, *enc + "AAAA").has_value());
  CHECK_FALSE(f.cipher.Decrypt(f.dir, "").has_value());
  CHECK_FALSE(f.cipher.Decrypt(f.dir, "AAAA").has_value());
  CHECK_FALSE(f.cipher.Decrypt(f.dir, std::string(24, 'A')).has_value());
  CHECK_FALSE(f.cipher.Decrypt(f.dir, LongBackingName(*enc)).has_value());
  CHECK_FALSE(f.cipher.Decrypt(f.dir, "..").has_value());
}

TEST_CASE("names: invalid plaintext names are rejected", "[names]") {
  NamesFixture f;
  const std::string invalid[] = {"", ".", "..", "a/b", "/", "a/", "/a",
                                 std::string("a\0b", 3), std::string(1, '\0'),
                                 std::string(256, 'y'), std::string(1000, 'z')};
  for (const std::string& name : invalid) {
    INFO("name of " << name.size() << " bytes: " << name);
    CHECK_FALSE(IsValidName(name));
    CHECK_FALSE(f.cipher.Encrypt(f.dir, name).has_value());
  }
  CHECK(IsValidName("a"));
  CHECK(IsValidName("..."));
  CHECK(IsValidName(".a"));
  CHECK(IsValidName(std::string(255, 'y')));
}

TEST_CASE("names: a name that decrypts to an invalid name is refused", "[names][tamper]") {
  // Someone holding the key could seal "a/b" or ".." directly; Decrypt must
  // still refuse what Encrypt would never produce.
  const SecretKey key = SecretKey::Random(kNameKeySize);
  NameCipher cipher(key.Clone());
  const DirId dir = MakeDir(3);
  for (std::string_view bad : {std::string_view("a/b"), std::string_view(".."),
                               std::string_view("."), std::string_view("x\0y", 3)}) {
    Bytes sealed;
    REQUIRE(siv::Seal(key.span(), dir, AsBytes(bad), &sealed));
    CHECK_FALSE(cipher.Decrypt(dir, Base64UrlEncode(sealed)).has_value());
  }
}

TEST_CASE("names: a 255-byte name needs a long backing name", "[names][long]") {
  NamesFixture f;
  const std::string name(255, 'L');
  const auto enc = f.cipher.Encrypt(f.dir, name);
  REQUIRE(enc);
  // 16-byte SIV + 255 bytes, base64url without padding.
  CHECK(enc->size() == ((16 + 255) * 4 + 2) / 3);
  CHECK(IsLongName(*enc));
  const std::string backing = LongBackingName(*enc);
  CHECK(backing.size() == 44);
  CHECK(backing[0] == '~');
  CHECK(IsLongBackingName(backing));
  CHECK_FALSE(IsLongBackingName(*enc));
  CHECK(LongBackingName(*enc) == backing);  // deterministic
  CHECK(backing.find_first_not_of(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", 1) ==
        std::string::npos);
  // Still decrypts from the full encoding.
  CHECK(f.cipher.Decrypt(f.dir, *enc) == name);
  // Another long name gets another backing name.
  const auto enc2 = f.cipher.Encrypt(f.dir, std::string(254, 'L') + "M");
  REQUIRE(enc2);
  CHECK(LongBackingName(*enc2) != backing);
}

TEST_CASE("names: the long-name threshold sits where the encoding passes 255", "[names][long]") {
  NamesFixture f;
  // Encoded length is ceil((16 + n) * 4 / 3): 255 chars at n = 175, 256 at n = 176.
  const auto at = f.cipher.Encrypt(f.dir, std::string(175, 'q'));
  const auto over = f.cipher.Encrypt(f.dir, std::string(176, 'q'));
  REQUIRE(at);
  REQUIRE(over);
  CHECK(at->size() == 255);
  CHECK_FALSE(IsLongName(*at));
  CHECK(over->size() == 255 + 1);
  CHECK(IsLongName(*over));
  // Short names are never mistaken for long backing names.
  const auto shortname = f.cipher.Encrypt(f.dir, "x");
  REQUIRE(shortname);
  CHECK_FALSE(IsLongName(*shortname));
  CHECK_FALSE(IsLongBackingName(*shortname));
}

}  // namespace
}  // namespace strongroom::crypto
