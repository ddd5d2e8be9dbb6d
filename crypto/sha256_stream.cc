#include "crypto/sha256_stream.h"

#include <openssl/evp.h>

#include <stdexcept>

namespace strongroom::crypto {

struct Sha256Stream::Ctx {
  struct Free {
    void operator()(EVP_MD_CTX* p) const noexcept { EVP_MD_CTX_free(p); }
  };
  std::unique_ptr<EVP_MD_CTX, Free> md{EVP_MD_CTX_new()};
};

Sha256Stream::Sha256Stream() : ctx_(std::make_unique<Ctx>()) {
  if (!ctx_->md || EVP_DigestInit_ex(ctx_->md.get(), EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("SHA-256 is not available");
  }
}

Sha256Stream::~Sha256Stream() = default;

void Sha256Stream::Update(ByteView data) {
  if (!data.empty()) EVP_DigestUpdate(ctx_->md.get(), data.data(), data.size());
}

void Sha256Stream::Final(uint8_t out[32]) {
  unsigned int n = 0;
  EVP_DigestFinal_ex(ctx_->md.get(), out, &n);
}

}  // namespace strongroom::crypto
