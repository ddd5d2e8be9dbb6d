// Helpers shared by the unit tests: hex literals, temporary directories and
// raw file access.
#pragma once

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace strongroom::testing {

using Bytes = std::vector<uint8_t>;

// Decodes hex, ignoring spaces (so vectors can be pasted as printed).
inline Bytes Hex(std::string_view hex) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    throw std::invalid_argument("bad hex digit");
  };
  Bytes out;
  int hi = -1;
  for (char c : hex) {
    if (c == ' ' || c == '\n') continue;
    const int v = nibble(c);
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<uint8_t>(hi << 4 | v));
      hi = -1;
    }
  }
  if (hi >= 0) throw std::invalid_argument("odd number of hex digits");
  return out;
}

inline Bytes ToBytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

// A fresh directory under $TMPDIR (or /tmp), removed with its contents.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base != nullptr && *base != '\0' ? base : "/tmp") +
                       "/strongroom-unit-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string Sub(std::string_view name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// The whole file's bytes; empty when it does not exist.
inline Bytes ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void WriteAll(const std::string& path, std::span<const uint8_t> data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

inline bool Contains(std::span<const uint8_t> haystack, std::span<const uint8_t> needle) {
  return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end()) !=
         haystack.end();
}

// "" when equal, else where they first differ: for REQUIRE(Diff(a, b).empty()),
// which stays readable (and fast) when the buffers are megabytes long.
inline std::string Diff(std::span<const uint8_t> got, std::span<const uint8_t> want) {
  const size_t n = std::min(got.size(), want.size());
  const auto mismatch = std::mismatch(got.begin(), got.begin() + static_cast<ptrdiff_t>(n), want.begin());
  const size_t at = static_cast<size_t>(mismatch.first - got.begin());
  if (at == n && got.size() == want.size()) return "";
  std::string out = "got " + std::to_string(got.size()) + " bytes, want " +
                    std::to_string(want.size());
  if (at < n) {
    out += "; first difference at byte " + std::to_string(at) + " (got " +
           std::to_string(got[at]) + ", want " + std::to_string(want[at]) + ")";
  }
  return out;
}

}  // namespace strongroom::testing
