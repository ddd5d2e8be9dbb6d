// The audit log's forward-secure MAC chain (Schneier–Kelsey). Pure crypto:
// no storage, no FUSE. docs/audit.md describes it.
//
//   K_0       the initial key: random, shown once at init to the auditors,
//             never stored in the vault
//   K_{e+1} = HMAC-SHA256(K_e, "strongroom/v1/audit-evolve")   (one way)
//   link_0  = 32 zero bytes
//   link_n  = HMAC-SHA256(K_{epoch(n)}, link_{n-1} || record_n)
//
// record_n (RecordBytes) holds the record's number, so a record cannot be
// removed, inserted or moved without breaking every later link. Whoever
// holds K_e can forge records from epoch e on, never before it: the daemon
// keeps only the current epoch's key and erases the previous one.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/primitives.h"
#include "crypto/secret.h"

namespace strongroom::crypto::audit {

inline constexpr size_t kKeySize = 32;
using Link = std::array<uint8_t, 32>;

// The next epoch's key.
SecretKey Evolve(const SecretKey& key);
// K_epoch from K_from (epoch >= from).
SecretKey EvolveTo(const SecretKey& key, uint64_t from, uint64_t epoch);

// The fields a record's link covers, as stored (the sealed fields stay
// sealed: auditors verify without the vault's keys).
struct RecordFields {
  uint64_t seq = 0;
  uint64_t epoch = 0;
  int64_t time_us = 0;
  uint32_t uid = 0;
  int32_t pid = 0;
  std::string op;
  int32_t result = 0;  // 0 or an errno
  uint32_t count = 1;
  Bytes user_tag;
  Bytes path_tag;
  Bytes sealed;
};

// The canonical encoding: integers big-endian, byte strings prefixed by
// their 4-byte length, after the label "strongroom/v1/audit-record".
Bytes RecordBytes(const RecordFields& r);
// `epoch_mac` is HMAC under the record's epoch key, kept for the epoch (the
// key form makes one for the call).
Link NextLink(HmacSha256Key& epoch_mac, const Link& previous, const RecordFields& r);
Link NextLink(const SecretKey& epoch_key, const Link& previous, const RecordFields& r);

std::string LinkHex(const Link& link);

}  // namespace strongroom::crypto::audit
