#include "crypto/names.h"

namespace strongroom::crypto {

bool IsValidName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength || name == "." || name == "..") return false;
  return name.find('/') == std::string_view::npos && name.find('\0') == std::string_view::npos;
}

std::optional<std::string> NameCipher::Encrypt(const DirId& dir, std::string_view name) const {
  if (!IsValidName(name)) return std::nullopt;
  Bytes sealed;
  if (!siv::Seal(key_.span(), dir, AsBytes(name), &sealed)) return std::nullopt;
  return Base64UrlEncode(sealed);
}

std::optional<std::string> NameCipher::Decrypt(const DirId& dir, std::string_view encoded) const {
  Bytes sealed;
  if (!Base64UrlDecode(encoded, &sealed)) return std::nullopt;
  Bytes plain;
  if (!siv::Open(key_.span(), dir, sealed, &plain)) return std::nullopt;
  std::string name(plain.begin(), plain.end());
  if (!IsValidName(name)) return std::nullopt;
  return name;
}

std::string LongBackingName(std::string_view encoded) {
  uint8_t digest[32];
  Sha256(AsBytes(encoded), digest);
  return std::string(1, kLongNamePrefix) + Base64UrlEncode({digest, sizeof digest});
}

}  // namespace strongroom::crypto
