// Destruction certificates (docs/destruction.md): the canonical form that
// is MACed and hashed, and the audit record that seals its digest. Shared
// by the daemon (which writes and checks certificates) and the command
// line (which checks a certificate file offline with the auditors' key).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "crypto/primitives.h"
#include "crypto/secret.h"

namespace strongroom::acl {

// The canonical bytes of a certificate's body: compact JSON, object keys
// sorted, every non-ASCII character escaped (\uXXXX), so that the same body
// always gives the same bytes, however the file was re-indented.
inline std::string CanonicalCertificate(const nlohmann::json& body) {
  return body.dump(-1, ' ', true, nlohmann::json::error_handler_t::strict);
}

// SHA-256 of the canonical body, lowercase hex.
inline std::string CertificateDigestHex(std::string_view canonical) {
  uint8_t digest[32];
  crypto::Sha256(crypto::AsBytes(canonical), digest);
  return crypto::HexEncode(digest);
}

// The key that MACs certificates, from the vault's certificates subkey.
inline crypto::SecretKey CertificateMacKey(const crypto::SecretKey& certificates_subkey) {
  return crypto::Hkdf(certificates_subkey, "strongroom/v1/certificate-mac", 32);
}

// HMAC-SHA256 of the canonical body under the certificate MAC key.
inline crypto::Bytes CertificateMac(const crypto::SecretKey& mac_key, std::string_view canonical) {
  crypto::Bytes mac(32);
  crypto::HmacSha256(mac_key.span(), crypto::AsBytes(canonical), mac.data());
  return mac;
}

// The audit record that seals a certificate carries its digest in the one
// text field the log keeps in the clear and chains: the operation. So an
// auditor holding only the initial audit key can find it after verifying
// the chain.
inline constexpr std::string_view kCertificateAuditOpPrefix = "destroy.certificate:";
inline std::string CertificateAuditOp(const std::string& digest_hex) {
  return std::string(kCertificateAuditOpPrefix) + digest_hex;
}

}  // namespace strongroom::acl
