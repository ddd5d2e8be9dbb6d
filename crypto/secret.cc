#include "crypto/secret.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <sys/mman.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

namespace strongroom::crypto {
namespace {

// Slots of kMaxSecretSize bytes carved from chunks of locked pages.
class LockedArena {
 public:
  static LockedArena& Get() {
    static LockedArena* arena = new LockedArena();  // never destroyed: keys may outlive statics
    return *arena;
  }

  uint8_t* Allocate() {
    std::lock_guard lock(mu_);
    if (free_.empty()) Grow();
    uint8_t* p = free_.back();
    free_.pop_back();
    return p;
  }

  void Relock() {
    std::lock_guard lock(mu_);
    for (void* chunk : chunks_) {
      if (mlock(chunk, kChunkSize) != 0) locked_ = false;
    }
  }

  void Free(uint8_t* p) {
    Wipe(p, kMaxSecretSize);
    std::lock_guard lock(mu_);
    free_.push_back(p);
  }

 private:
  static constexpr size_t kChunkSize = 64 * 1024;

  void Grow() {
    void* mem = mmap(nullptr, kChunkSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
      std::fputs("strongroom: cannot allocate memory for keys\n", stderr);
      std::abort();
    }
    // Locking can fail for an unprivileged user over RLIMIT_MEMLOCK; keys
    // then still never reach a core dump (MADV_DONTDUMP) but may be swapped.
    if (mlock(mem, kChunkSize) != 0) locked_ = false;
    (void)madvise(mem, kChunkSize, MADV_DONTDUMP);
    chunks_.push_back(mem);
    auto* base = static_cast<uint8_t*>(mem);
    for (size_t off = 0; off + kMaxSecretSize <= kChunkSize; off += kMaxSecretSize) {
      free_.push_back(base + off);
    }
  }

  std::mutex mu_;
  std::vector<uint8_t*> free_;
  std::vector<void*> chunks_;

 public:
  std::atomic<bool> locked_{true};
};

}  // namespace

void Wipe(void* p, size_t n) { OPENSSL_cleanse(p, n); }

void RelockSecrets() { LockedArena::Get().Relock(); }

bool SecretsLocked() { return LockedArena::Get().locked_.load(); }

void RandomBytes(std::span<uint8_t> out) {
  if (out.empty()) return;
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) {
    std::fputs("strongroom: the random number generator failed\n", stderr);
    std::abort();
  }
}

namespace {

// Bumped in every forked child, so that a pool filled before the fork is
// dropped rather than used by both processes.
std::atomic<uint64_t> fork_generation{0};

struct NoncePool {
  static constexpr size_t kSize = 4096;
  uint8_t bytes[kSize];
  size_t used = kSize;
  uint64_t generation = 0;
};

}  // namespace

void RandomNonce(std::span<uint8_t> out) {
  static const bool registered = [] {
    return ::pthread_atfork(nullptr, nullptr, [] { fork_generation.fetch_add(1, std::memory_order_relaxed); }) == 0;
  }();
  thread_local NoncePool pool;
  if (!registered || out.size() > NoncePool::kSize / 4) {
    RandomBytes(out);
    return;
  }
  const uint64_t generation = fork_generation.load(std::memory_order_relaxed);
  if (pool.generation != generation || NoncePool::kSize - pool.used < out.size()) {
    RandomBytes(pool.bytes);
    pool.used = 0;
    pool.generation = generation;
  }
  std::memcpy(out.data(), pool.bytes + pool.used, out.size());
  // What was handed out is not kept.
  OPENSSL_cleanse(pool.bytes + pool.used, out.size());
  pool.used += out.size();
}

SecretKey::SecretKey(size_t size) : size_(size) {
  if (size > kMaxSecretSize) std::abort();
  data_ = LockedArena::Get().Allocate();
  std::memset(data_, 0, kMaxSecretSize);
}

SecretKey SecretKey::Random(size_t size) {
  SecretKey key(size);
  RandomBytes({key.data_, size});
  return key;
}

SecretKey SecretKey::FromBytes(std::span<const uint8_t> bytes) {
  SecretKey key(bytes.size());
  if (!bytes.empty()) std::memcpy(key.data_, bytes.data(), bytes.size());
  return key;
}

SecretKey::SecretKey(SecretKey&& other) noexcept : data_(other.data_), size_(other.size_) {
  other.data_ = nullptr;
  other.size_ = 0;
}

SecretKey& SecretKey::operator=(SecretKey&& other) noexcept {
  if (this != &other) {
    Release();
    data_ = other.data_;
    size_ = other.size_;
    other.data_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

SecretKey::~SecretKey() { Release(); }

void SecretKey::Release() {
  if (data_ != nullptr) LockedArena::Get().Free(data_);
  data_ = nullptr;
  size_ = 0;
}

}  // namespace strongroom::crypto
