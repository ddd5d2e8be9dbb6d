// Catch2 assertion helpers for system calls in the mounted tests.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <string>

#include "mount_fixture.h"

// `expr` (a system call returning -1 on error) must fail with errno `err`.
#define CHECK_ERRNO(expr, err)                                                         \
  do {                                                                                 \
    errno = 0;                                                                         \
    long rc_ = static_cast<long>(expr);                                                \
    int e_ = errno;                                                                    \
    INFO(#expr << " returned " << rc_ << ", errno " << e_ << " (" << std::strerror(e_) \
               << "), expected " << #err);                                             \
    CHECK(rc_ == -1);                                                                  \
    CHECK(e_ == (err));                                                                \
  } while (0)

#define REQUIRE_ERRNO(expr, err)                                                       \
  do {                                                                                 \
    errno = 0;                                                                         \
    long rc_ = static_cast<long>(expr);                                                \
    int e_ = errno;                                                                    \
    INFO(#expr << " returned " << rc_ << ", errno " << e_ << " (" << std::strerror(e_) \
               << "), expected " << #err);                                             \
    REQUIRE(rc_ == -1);                                                                \
    REQUIRE(e_ == (err));                                                              \
  } while (0)

// `expr` (a system call) must succeed (not return -1).
#define REQUIRE_SYS(expr)                                                                       \
  do {                                                                                          \
    errno = 0;                                                                                  \
    long rc_ = static_cast<long>(expr);                                                         \
    int e_ = errno;                                                                             \
    INFO(#expr << " returned " << rc_ << ", errno " << e_ << " (" << std::strerror(e_) << ")"); \
    REQUIRE(rc_ != -1);                                                                         \
  } while (0)

#define CHECK_SYS(expr)                                                                         \
  do {                                                                                          \
    errno = 0;                                                                                  \
    long rc_ = static_cast<long>(expr);                                                         \
    int e_ = errno;                                                                             \
    INFO(#expr << " returned " << rc_ << ", errno " << e_ << " (" << std::strerror(e_) << ")"); \
    CHECK(rc_ != -1);                                                                           \
  } while (0)

namespace strongroom::test {

// The exit codes as docs/cli-contract.md documents them (written out here,
// not taken from tools/exit_codes.h, so the tests hold the code to the
// contract).
namespace exit_code {
constexpr int kOk = 0;
constexpr int kInternal = 1;
constexpr int kUsage = 2;
constexpr int kWrongPassphrase = 3;
constexpr int kRefused = 4;
constexpr int kNotFound = 5;
constexpr int kNotMounted = 6;
constexpr int kIntegrity = 7;
constexpr int kConflict = 8;
constexpr int kIncomplete = 9;
}  // namespace exit_code

// Opens `path` and REQUIREs success.
inline int OpenOrDie(const std::string& path, int flags, mode_t mode = 0644) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  int e = errno;
  INFO("open(" << path << ") errno " << e << " (" << std::strerror(e) << ")");
  REQUIRE(fd >= 0);
  return fd;
}

inline struct stat StatOrDie(const std::string& path) {
  struct stat st {};
  int rc = ::lstat(path.c_str(), &st);
  int e = errno;
  INFO("lstat(" << path << ") errno " << e << " (" << std::strerror(e) << ")");
  REQUIRE(rc == 0);
  return st;
}

// Reads `path` and REQUIREs success.
inline std::string ReadOrDie(const std::string& path) {
  auto r = ReadFile(path);
  INFO("reading " << path << ": errno " << r.err << " (" << std::strerror(r.err) << ")");
  REQUIRE(r.err == 0);
  return r.data;
}

inline void WriteOrDie(const std::string& path, const std::string& data, mode_t mode = 0644) {
  int err = WriteFile(path, data, mode);
  INFO("writing " << path << ": errno " << err << " (" << std::strerror(err) << ")");
  REQUIRE(err == 0);
}

// Describes where two byte strings first differ (for failure messages).
inline std::string FirstDifference(const std::string& got, const std::string& want) {
  size_t n = std::min(got.size(), want.size());
  for (size_t i = 0; i < n; ++i) {
    if (got[i] != want[i]) {
      return "first difference at byte " + std::to_string(i) + " (got size " +
             std::to_string(got.size()) + ", want " + std::to_string(want.size()) + ")";
    }
  }
  if (got.size() != want.size()) {
    return "sizes differ: got " + std::to_string(got.size()) + ", want " +
           std::to_string(want.size());
  }
  return "identical";
}

}  // namespace strongroom::test

// Compares two (possibly large, binary) strings without printing them.
#define CHECK_BYTES(got, want)                                                   \
  do {                                                                           \
    const std::string& g_ = (got);                                               \
    const std::string& w_ = (want);                                              \
    INFO(#got " vs " #want ": " << ::strongroom::test::FirstDifference(g_, w_)); \
    CHECK(g_.size() == w_.size());                                               \
    CHECK((g_ == w_));                                                           \
  } while (0)

#define REQUIRE_BYTES(got, want)                                                 \
  do {                                                                           \
    const std::string& g_ = (got);                                               \
    const std::string& w_ = (want);                                              \
    INFO(#got " vs " #want ": " << ::strongroom::test::FirstDifference(g_, w_)); \
    REQUIRE(g_.size() == w_.size());                                             \
    REQUIRE((g_ == w_));                                                         \
  } while (0)
