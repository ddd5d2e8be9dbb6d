// Thin, allocation-free wrappers over OpenSSL 3 EVP for the primitives the
// vault uses: AES-256-GCM, AES-SIV, scrypt, HKDF-SHA256, HMAC-SHA256, SHA-256.
// Thread-safe: cipher contexts are per thread, fetched algorithms are shared
// read-only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/secret.h"

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX
struct evp_mac_ctx_st;  // OpenSSL's EVP_MAC_CTX

namespace strongroom::crypto {

using Bytes = std::vector<uint8_t>;
using ByteView = std::span<const uint8_t>;

inline ByteView AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

namespace gcm {
inline constexpr size_t kKeySize = 32;
inline constexpr size_t kNonceSize = 12;
inline constexpr size_t kTagSize = 16;

// Encrypts plain into out_ct (same length) and writes the tag. key: 32 bytes.
bool Seal(ByteView key, ByteView nonce, ByteView aad, ByteView plain, uint8_t* out_ct,
          uint8_t* out_tag);
// Decrypts and authenticates; false on any mismatch (out_plain then undefined).
bool Open(ByteView key, ByteView nonce, ByteView aad, ByteView ct, ByteView tag,
          uint8_t* out_plain);

// Erases the key schedules this thread's GCM contexts keep between blocks
// (they outlive a request otherwise). Cheap when nothing is cached.
void ForgetThreadKeys();
}  // namespace gcm

namespace siv {
inline constexpr size_t kTagSize = 16;
// Deterministic AEAD (RFC 5297). key: 32 bytes (AES-128-SIV) or 64 bytes
// (AES-256-SIV). Output is tag || ciphertext. Plaintext must be non-empty.
bool Seal(ByteView key, ByteView aad, ByteView plain, Bytes* out);
bool Open(ByteView key, ByteView aad, ByteView sealed, Bytes* out_plain);
}  // namespace siv

struct ScryptParams {
  int log_n = 17;
  int r = 8;
  int p = 1;
};
// Rejects parameters outside the bounds an edited config could abuse.
bool ScryptParamsInBounds(const ScryptParams& params);
bool Scrypt(std::string_view passphrase, ByteView salt, const ScryptParams& params, SecretKey* out);

// HKDF-SHA256 with an empty salt and `label` as info.
SecretKey Hkdf(const SecretKey& ikm, std::string_view label, size_t out_size);

void HmacSha256(ByteView key, ByteView data, uint8_t out[32]);
void Sha256(ByteView data, uint8_t out[32]);

// HMAC-SHA256 under one key, keyed once: each Mac() hashes only the message
// (the key's inner and outer states are kept), for keys used many times in
// a row. Freeing it wipes those states, so a key erased for forward
// security (the audit chain's) leaves nothing behind. Not thread-safe.
class HmacSha256Key {
 public:
  explicit HmacSha256Key(ByteView key);
  ~HmacSha256Key();
  HmacSha256Key(const HmacSha256Key&) = delete;
  HmacSha256Key& operator=(const HmacSha256Key&) = delete;
  // The MAC of the concatenation of `parts`.
  void Mac(std::initializer_list<ByteView> parts, uint8_t out[32]);

 private:
  struct CtxFree {
    void operator()(evp_mac_ctx_st* p) const noexcept;
  };
  std::unique_ptr<evp_mac_ctx_st, CtxFree> ctx_;
};

// SHA-256 over data given in pieces (a file read in chunks). Not
// thread-safe; one object per digest.
class Sha256Stream {
 public:
  Sha256Stream();
  ~Sha256Stream();
  Sha256Stream(const Sha256Stream&) = delete;
  Sha256Stream& operator=(const Sha256Stream&) = delete;
  void Update(ByteView data);
  void Final(uint8_t out[32]);

 private:
  struct CtxFree {
    void operator()(evp_md_ctx_st* p) const noexcept;
  };
  std::unique_ptr<evp_md_ctx_st, CtxFree> ctx_;
};

// Key wrapping: AES-256-GCM under `kek` with a random nonce; output is
// nonce || ciphertext || tag, and `aad` is bound.
Bytes Wrap(const SecretKey& kek, ByteView aad, ByteView secret);
bool Unwrap(const SecretKey& kek, ByteView aad, ByteView wrapped, SecretKey* out);
inline constexpr size_t kWrapOverhead = gcm::kNonceSize + gcm::kTagSize;

// Unpadded base64url (RFC 4648 §5).
std::string Base64UrlEncode(ByteView data);
bool Base64UrlDecode(std::string_view text, Bytes* out);
std::string HexEncode(ByteView data);
// Lowercase or uppercase hex of exactly out.size() bytes; false otherwise.
bool HexDecode(std::string_view hex, std::span<uint8_t> out);
// Hex of any even length into `out`; false on anything else.
bool HexDecode(std::string_view hex, Bytes* out);

}  // namespace strongroom::crypto
