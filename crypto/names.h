// Name encryption: deterministic authenticated encryption of one path
// component under its directory's ID, AES-256-SIV with the directory ID as
// associated data, encoded as unpadded base64url. Equal names in one
// directory encrypt equally (so lookups need no scan); equal names in
// different directories do not. Names whose encoding exceeds the backing
// filesystem's limit are stored under a short hashed name, and the full
// encoding is kept in the store (see LongBackingName).
// Thread-safe after construction.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "crypto/primitives.h"
#include "crypto/secret.h"

namespace strongroom::crypto {

using DirId = std::array<uint8_t, 16>;

inline constexpr size_t kNameKeySize = 64;
inline constexpr size_t kMaxNameLength = 255;     // plaintext bytes
inline constexpr size_t kMaxBackingName = 255;    // encoded names longer than this are hashed
inline constexpr char kLongNamePrefix = '~';      // never produced by base64url

class NameCipher {
 public:
  explicit NameCipher(SecretKey key) : key_(std::move(key)) {}

  // The encoded (base64url) name, or nullopt for an invalid plaintext name.
  std::optional<std::string> Encrypt(const DirId& dir, std::string_view name) const;
  // nullopt when `encoded` does not authenticate under this directory.
  std::optional<std::string> Decrypt(const DirId& dir, std::string_view encoded) const;

 private:
  SecretKey key_;
};

// True when an encoded name must be stored under a hashed backing name.
inline bool IsLongName(std::string_view encoded) { return encoded.size() > kMaxBackingName; }
// "~" + base64url(SHA-256(encoded)): 44 bytes.
std::string LongBackingName(std::string_view encoded);
inline bool IsLongBackingName(std::string_view backing) {
  return !backing.empty() && backing[0] == kLongNamePrefix;
}
// A plaintext name the filesystem accepts: 1..255 bytes, no '/', no NUL, not "." or "..".
bool IsValidName(std::string_view name);

}  // namespace strongroom::crypto
