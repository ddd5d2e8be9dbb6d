#include "crypto/primitives.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <array>
#include <cstdlib>
#include <memory>

namespace strongroom::crypto {
namespace {

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* p) const noexcept { EVP_CIPHER_CTX_free(p); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

// Fetched once; EVP_CIPHER objects are immutable and may be shared.
const EVP_CIPHER* FetchCipher(const char* name) {
  EVP_CIPHER* c = EVP_CIPHER_fetch(nullptr, name, nullptr);
  if (c == nullptr) std::abort();
  return c;
}
const EVP_CIPHER* Aes256Gcm() {
  static const EVP_CIPHER* c = FetchCipher("AES-256-GCM");
  return c;
}
const EVP_CIPHER* AesSiv(size_t key_size) {
  static const EVP_CIPHER* c128 = FetchCipher("AES-128-SIV");
  static const EVP_CIPHER* c256 = FetchCipher("AES-256-SIV");
  return key_size == 64 ? c256 : c128;
}

// A per-thread GCM context that keeps its key schedule between calls: when
// consecutive blocks use the same key (every block of a read or write), only
// the nonce is set, which saves the AES key expansion and GHASH setup.
class ThreadGcm {
 public:
  static ThreadGcm& Encryptor() {
    thread_local ThreadGcm gcm(true);
    return gcm;
  }
  static ThreadGcm& Decryptor() {
    thread_local ThreadGcm gcm(false);
    return gcm;
  }

  // Prepares the context for one message under `key` and `nonce`.
  EVP_CIPHER_CTX* Start(ByteView key, ByteView nonce) {
    const bool same_key = key_.size() == key.size() && CRYPTO_memcmp(key_.data(), key.data(), key.size()) == 0;
    int ok;
    if (same_key) {
      ok = encrypt_ ? EVP_EncryptInit_ex2(ctx_.get(), nullptr, nullptr, nonce.data(), nullptr)
                    : EVP_DecryptInit_ex2(ctx_.get(), nullptr, nullptr, nonce.data(), nullptr);
    } else {
      ok = encrypt_ ? EVP_EncryptInit_ex2(ctx_.get(), Aes256Gcm(), key.data(), nonce.data(), nullptr)
                    : EVP_DecryptInit_ex2(ctx_.get(), Aes256Gcm(), key.data(), nonce.data(), nullptr);
      key_ = ok == 1 ? SecretKey::FromBytes(key) : SecretKey();
    }
    return ok == 1 ? ctx_.get() : nullptr;
  }

  void Forget() {
    if (key_.empty()) return;
    EVP_CIPHER_CTX_reset(ctx_.get());  // frees (and cleanses) the key schedule
    key_ = SecretKey();
  }

 private:
  explicit ThreadGcm(bool encrypt) : encrypt_(encrypt), ctx_(EVP_CIPHER_CTX_new()) {}
  bool encrypt_;
  CipherCtx ctx_;
  SecretKey key_;  // the key the context holds, to recognise it
};

}  // namespace

namespace gcm {

bool Seal(ByteView key, ByteView nonce, ByteView aad, ByteView plain, uint8_t* out_ct,
          uint8_t* out_tag) {
  if (key.size() != kKeySize || nonce.size() != kNonceSize) return false;
  EVP_CIPHER_CTX* ctx = ThreadGcm::Encryptor().Start(key, nonce);
  int len = 0;
  if (ctx == nullptr) return false;
  if (!aad.empty() &&
      EVP_EncryptUpdate(ctx, nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1) {
    return false;
  }
  if (!plain.empty() &&
      EVP_EncryptUpdate(ctx, out_ct, &len, plain.data(), static_cast<int>(plain.size())) != 1) {
    return false;
  }
  if (EVP_EncryptFinal_ex(ctx, out_ct + plain.size(), &len) != 1) return false;
  return EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, kTagSize, out_tag) == 1;
}

void ForgetThreadKeys() {
  ThreadGcm::Encryptor().Forget();
  ThreadGcm::Decryptor().Forget();
}

bool Open(ByteView key, ByteView nonce, ByteView aad, ByteView ct, ByteView tag,
          uint8_t* out_plain) {
  if (key.size() != kKeySize || nonce.size() != kNonceSize || tag.size() != kTagSize) return false;
  EVP_CIPHER_CTX* ctx = ThreadGcm::Decryptor().Start(key, nonce);
  int len = 0;
  if (ctx == nullptr) return false;
  if (!aad.empty() &&
      EVP_DecryptUpdate(ctx, nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1) {
    return false;
  }
  if (!ct.empty() &&
      EVP_DecryptUpdate(ctx, out_plain, &len, ct.data(), static_cast<int>(ct.size())) != 1) {
    return false;
  }
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, kTagSize,
                          const_cast<uint8_t*>(tag.data())) != 1) {
    return false;
  }
  return EVP_DecryptFinal_ex(ctx, out_plain + ct.size(), &len) == 1;
}

}  // namespace gcm

namespace siv {

bool Seal(ByteView key, ByteView aad, ByteView plain, Bytes* out) {
  if ((key.size() != 32 && key.size() != 64) || plain.empty()) return false;
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  out->resize(kTagSize + plain.size());
  if (EVP_EncryptInit_ex2(ctx.get(), AesSiv(key.size()), key.data(), nullptr, nullptr) != 1) {
    return false;
  }
  if (EVP_EncryptUpdate(ctx.get(), nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1) {
    return false;
  }
  if (EVP_EncryptUpdate(ctx.get(), out->data() + kTagSize, &len, plain.data(),
                        static_cast<int>(plain.size())) != 1) {
    return false;
  }
  if (EVP_EncryptFinal_ex(ctx.get(), out->data() + kTagSize + plain.size(), &len) != 1) {
    return false;
  }
  return EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_GET_TAG, kTagSize, out->data()) == 1;
}

bool Open(ByteView key, ByteView aad, ByteView sealed, Bytes* out_plain) {
  if ((key.size() != 32 && key.size() != 64) || sealed.size() <= kTagSize) return false;
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  const size_t n = sealed.size() - kTagSize;
  out_plain->resize(n);
  if (EVP_DecryptInit_ex2(ctx.get(), AesSiv(key.size()), key.data(), nullptr, nullptr) != 1) {
    return false;
  }
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_TAG, kTagSize,
                          const_cast<uint8_t*>(sealed.data())) != 1) {
    return false;
  }
  if (EVP_DecryptUpdate(ctx.get(), nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1) {
    return false;
  }
  if (EVP_DecryptUpdate(ctx.get(), out_plain->data(), &len, sealed.data() + kTagSize,
                        static_cast<int>(n)) != 1) {
    Wipe(out_plain->data(), n);
    return false;
  }
  if (EVP_DecryptFinal_ex(ctx.get(), out_plain->data() + n, &len) != 1) {
    Wipe(out_plain->data(), n);
    return false;
  }
  return true;
}

}  // namespace siv

bool ScryptParamsInBounds(const ScryptParams& params) {
  if (params.log_n < 10 || params.log_n > 22) return false;
  if (params.r < 1 || params.r > 32 || params.p < 1 || params.p > 16) return false;
  // Memory is 128 * r * N bytes; cap it at 1 GiB so an edited config cannot
  // exhaust the server's memory.
  const uint64_t mem = 128ULL * static_cast<uint64_t>(params.r) * (1ULL << params.log_n);
  return mem <= (1ULL << 30);
}

bool Scrypt(std::string_view passphrase, ByteView salt, const ScryptParams& params,
            SecretKey* out) {
  if (!ScryptParamsInBounds(params)) return false;
  SecretKey key(32);
  const uint64_t maxmem = (1ULL << 30) + (1ULL << 24);
  if (EVP_PBE_scrypt(passphrase.data(), passphrase.size(), salt.data(), salt.size(),
                     1ULL << params.log_n, params.r, params.p, maxmem, key.data(), key.size()) != 1) {
    return false;
  }
  *out = std::move(key);
  return true;
}

SecretKey Hkdf(const SecretKey& ikm, std::string_view label, size_t out_size) {
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  EVP_KDF_CTX* kctx = EVP_KDF_CTX_new(kdf);
  EVP_KDF_free(kdf);
  char digest[] = "SHA256";
  std::array<OSSL_PARAM, 4> params = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<uint8_t*>(ikm.data()),
                                        ikm.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(label.data()),
                                        label.size()),
      OSSL_PARAM_construct_end()};
  SecretKey out(out_size);
  const bool ok = kctx != nullptr && EVP_KDF_derive(kctx, out.data(), out_size, params.data()) == 1;
  EVP_KDF_CTX_free(kctx);
  if (!ok) std::abort();
  return out;
}

namespace {

// An HMAC context with its digest set and no key, to copy from (setting the
// digest fetches SHA-256 again; copying does not). Never keyed or changed
// after it is made, so copies may be taken from any thread.
const EVP_MAC_CTX* HmacTemplate() {
  static EVP_MAC_CTX* const ctx = [] {
    EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    EVP_MAC_CTX* c = mac != nullptr ? EVP_MAC_CTX_new(mac) : nullptr;
    EVP_MAC_free(mac);  // the context keeps its own reference
    char digest[] = "SHA256";
    const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                                 OSSL_PARAM_construct_end()};
    if (c == nullptr || EVP_MAC_CTX_set_params(c, params) != 1) std::abort();
    return c;
  }();
  return ctx;
}

}  // namespace

void HmacSha256Key::CtxFree::operator()(evp_mac_ctx_st* p) const noexcept { EVP_MAC_CTX_free(p); }

HmacSha256Key::HmacSha256Key(ByteView key) : ctx_(EVP_MAC_CTX_dup(HmacTemplate())) {
  if (!ctx_ || EVP_MAC_init(ctx_.get(), key.data(), key.size(), nullptr) != 1) std::abort();
}

HmacSha256Key::~HmacSha256Key() = default;  // EVP_MAC_CTX_free cleanses the key and its states

void HmacSha256Key::Mac(std::initializer_list<ByteView> parts, uint8_t out[32]) {
  // Without a key, init starts over from the kept inner state.
  size_t out_len = 0;
  bool ok = EVP_MAC_init(ctx_.get(), nullptr, 0, nullptr) == 1;
  for (ByteView part : parts) ok = ok && EVP_MAC_update(ctx_.get(), part.data(), part.size()) == 1;
  if (!ok || EVP_MAC_final(ctx_.get(), out, &out_len, 32) != 1 || out_len != 32) std::abort();
}

void HmacSha256(ByteView key, ByteView data, uint8_t out[32]) {
  // A per-thread context: this runs for every name lookup, so no per-call
  // fetch (and its locks and allocations); each call only re-keys it. The
  // last key's states stay in it: keys that must be erased use
  // HmacSha256Key.
  struct MacCtxFree {
    void operator()(EVP_MAC_CTX* p) const noexcept { EVP_MAC_CTX_free(p); }
  };
  thread_local std::unique_ptr<EVP_MAC_CTX, MacCtxFree> ctx(EVP_MAC_CTX_dup(HmacTemplate()));
  size_t out_len = 0;
  if (!ctx || EVP_MAC_init(ctx.get(), key.data(), key.size(), nullptr) != 1 ||
      EVP_MAC_update(ctx.get(), data.data(), data.size()) != 1 ||
      EVP_MAC_final(ctx.get(), out, &out_len, 32) != 1 || out_len != 32) {
    std::abort();
  }
}

namespace {
// SHA-256 fetched once (EVP_sha256() is fetched again at every use).
const EVP_MD* FetchedSha256() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (md == nullptr) std::abort();
  return md;
}
}  // namespace

void Sha256(ByteView data, uint8_t out[32]) {
  // A per-thread context: this runs for every audit record written ahead.
  struct MdCtxFree {
    void operator()(EVP_MD_CTX* p) const noexcept { EVP_MD_CTX_free(p); }
  };
  thread_local std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  unsigned int len = 0;
  if (!ctx || EVP_DigestInit_ex2(ctx.get(), FetchedSha256(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), data.data(), data.size()) != 1 || EVP_DigestFinal_ex(ctx.get(), out, &len) != 1 ||
      len != 32) {
    std::abort();
  }
}

void Sha256Stream::CtxFree::operator()(evp_md_ctx_st* p) const noexcept { EVP_MD_CTX_free(p); }

Sha256Stream::Sha256Stream() : ctx_(EVP_MD_CTX_new()) {
  if (!ctx_ || EVP_DigestInit_ex2(ctx_.get(), FetchedSha256(), nullptr) != 1) std::abort();
}

Sha256Stream::~Sha256Stream() = default;

void Sha256Stream::Update(ByteView data) {
  if (EVP_DigestUpdate(ctx_.get(), data.data(), data.size()) != 1) std::abort();
}

void Sha256Stream::Final(uint8_t out[32]) {
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx_.get(), out, &len) != 1 || len != 32) std::abort();
}

Bytes Wrap(const SecretKey& kek, ByteView aad, ByteView secret) {
  Bytes out(gcm::kNonceSize + secret.size() + gcm::kTagSize);
  RandomBytes({out.data(), gcm::kNonceSize});
  if (!gcm::Seal(kek.span(), {out.data(), gcm::kNonceSize}, aad, secret,
                 out.data() + gcm::kNonceSize, out.data() + gcm::kNonceSize + secret.size())) {
    std::abort();
  }
  return out;
}

bool Unwrap(const SecretKey& kek, ByteView aad, ByteView wrapped, SecretKey* out) {
  if (wrapped.size() < kWrapOverhead || wrapped.size() - kWrapOverhead > kMaxSecretSize) {
    return false;
  }
  const size_t n = wrapped.size() - kWrapOverhead;
  SecretKey key(n);
  if (!gcm::Open(kek.span(), wrapped.first(gcm::kNonceSize), aad,
                 wrapped.subspan(gcm::kNonceSize, n), wrapped.last(gcm::kTagSize), key.data())) {
    return false;
  }
  *out = std::move(key);
  return true;
}

namespace {
constexpr char kB64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
int B64UrlValue(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}
}  // namespace

std::string Base64UrlEncode(ByteView data) {
  std::string out;
  out.reserve((data.size() * 4 + 2) / 3);
  size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    const uint32_t v = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
    out += kB64Url[(v >> 18) & 63];
    out += kB64Url[(v >> 12) & 63];
    out += kB64Url[(v >> 6) & 63];
    out += kB64Url[v & 63];
  }
  const size_t rest = data.size() - i;
  if (rest == 1) {
    const uint32_t v = data[i] << 16;
    out += kB64Url[(v >> 18) & 63];
    out += kB64Url[(v >> 12) & 63];
  } else if (rest == 2) {
    const uint32_t v = (data[i] << 16) | (data[i + 1] << 8);
    out += kB64Url[(v >> 18) & 63];
    out += kB64Url[(v >> 12) & 63];
    out += kB64Url[(v >> 6) & 63];
  }
  return out;
}

bool Base64UrlDecode(std::string_view text, Bytes* out) {
  if (text.size() % 4 == 1) return false;
  out->clear();
  out->reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    const int v = B64UrlValue(c);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<uint8_t>((acc >> bits) & 0xff));
    }
  }
  // Non-canonical encodings (stray low bits) are rejected so each byte string
  // has exactly one name.
  return (acc & ((1u << bits) - 1)) == 0;
}

namespace {
int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

bool HexDecode(std::string_view hex, std::span<uint8_t> out) {
  if (hex.size() != 2 * out.size()) return false;
  for (size_t i = 0; i < out.size(); ++i) {
    const int hi = HexDigit(hex[2 * i]);
    const int lo = HexDigit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

bool HexDecode(std::string_view hex, Bytes* out) {
  if (hex.size() % 2 != 0) return false;
  out->resize(hex.size() / 2);
  return HexDecode(hex, std::span<uint8_t>(*out));
}

std::string HexEncode(ByteView data) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(data.size() * 2);
  for (uint8_t b : data) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

}  // namespace strongroom::crypto
