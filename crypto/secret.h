// SecretKey: key material kept in locked, non-dumpable memory and wiped when
// freed. Keys are small (at most kMaxSecretSize bytes); they live in slots of
// a process-wide arena whose pages are mlock()ed once and never unlocked
// while in use, so freeing one key never unlocks another's page.
// Thread-safe: the arena has its own lock; a SecretKey itself is not shared.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace strongroom::crypto {

inline constexpr size_t kMaxSecretSize = 64;

class SecretKey {
 public:
  SecretKey() = default;
  explicit SecretKey(size_t size);  // zero-filled
  static SecretKey Random(size_t size);
  static SecretKey FromBytes(std::span<const uint8_t> bytes);

  SecretKey(SecretKey&& other) noexcept;
  SecretKey& operator=(SecretKey&& other) noexcept;
  SecretKey(const SecretKey&) = delete;
  SecretKey& operator=(const SecretKey&) = delete;
  ~SecretKey();

  SecretKey Clone() const { return FromBytes(span()); }
  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }
  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  std::span<const uint8_t> span() const { return {data_, size_}; }

 private:
  void Release();
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Locks the key arena's pages again in a child process (memory locks are
// not inherited across fork).
void RelockSecrets();
// False when the OS refused to lock key memory (then it may be swapped).
bool SecretsLocked();

// Overwrites memory in a way the compiler cannot elide.
void Wipe(void* p, size_t n);

// Fills `out` from the OS CSPRNG (OpenSSL RAND_bytes); aborts on failure,
// since continuing without randomness would be unsafe.
void RandomBytes(std::span<uint8_t> out);

// Random bytes for nonces (never for keys): the same generator, drawn a few
// kilobytes at a time per thread, since a nonce is needed for every block
// and record written. A forked child never reuses its parent's bytes.
void RandomNonce(std::span<uint8_t> out);

}  // namespace strongroom::crypto
