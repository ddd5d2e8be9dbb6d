// Sha256Stream: SHA-256 over data given in pieces (a file read in chunks),
// for the ciphertext hashes of destruction certificates. Not thread-safe:
// one per hash.
#pragma once

#include <cstdint>
#include <memory>

#include "crypto/primitives.h"

namespace strongroom::crypto {

class Sha256Stream {
 public:
  Sha256Stream();
  ~Sha256Stream();
  Sha256Stream(const Sha256Stream&) = delete;
  Sha256Stream& operator=(const Sha256Stream&) = delete;

  void Update(ByteView data);
  // The digest of everything given; the stream is finished.
  void Final(uint8_t out[32]);

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

}  // namespace strongroom::crypto
