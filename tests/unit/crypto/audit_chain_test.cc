// crypto/audit_chain.h: key evolution, the record encoding and the links.
// The known answers were computed independently from docs/audit.md (Python
// hmac/struct), so they pin the format, not just this implementation.
#include <catch2/catch.hpp>

#include <functional>
#include <string>
#include <vector>

#include "crypto/audit_chain.h"
#include "tests/unit/test_util.h"

namespace strongroom::crypto::audit {
namespace {

using testing::Hex;

SecretKey CountingKey() {  // 00 01 02 ... 1f
  Bytes k(kKeySize);
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(i);
  return SecretKey::FromBytes(k);
}

Bytes KeyBytes(const SecretKey& k) { return Bytes(k.span().begin(), k.span().end()); }

RecordFields SampleRecord() {
  RecordFields r;
  r.seq = 1;
  r.epoch = 0;
  r.time_us = 1700000000123456;
  r.uid = 1000;
  r.pid = 4242;
  r.op = "open";
  r.result = 13;
  r.count = 2;
  r.user_tag = Bytes(16, 0xaa);
  r.path_tag = {};
  r.sealed = {1, 2, 3};
  return r;
}

Link ToLink(const Bytes& b) {
  Link l{};
  REQUIRE(b.size() == l.size());
  std::copy(b.begin(), b.end(), l.begin());
  return l;
}

TEST_CASE("audit chain: Evolve is HMAC(K, label), deterministic, and differs from its input", "[audit][chain]") {
  const SecretKey k0 = CountingKey();
  const SecretKey k1 = Evolve(k0);
  CHECK(k1.size() == kKeySize);
  CHECK(KeyBytes(k1) == Hex("bc929c5d2a345bded5df7e8307f1187ed65ceab1dae9f4445337f8196e4c475a"));
  CHECK(KeyBytes(Evolve(k0)) == KeyBytes(k1));
  CHECK(KeyBytes(k1) != KeyBytes(k0));
  const SecretKey k2 = Evolve(k1);
  CHECK(KeyBytes(k2) == Hex("e75d48c4a936b8011b1e004a1717043973958f0c7445ee28622197b70b56ded9"));
  CHECK(KeyBytes(k2) != KeyBytes(k1));
  CHECK(KeyBytes(k2) != KeyBytes(k0));
  // The input is left alone.
  CHECK(KeyBytes(k0) == KeyBytes(CountingKey()));
}

TEST_CASE("audit chain: EvolveTo composes", "[audit][chain]") {
  const SecretKey k0 = CountingKey();
  CHECK(KeyBytes(EvolveTo(k0, 0, 0)) == KeyBytes(k0));
  CHECK(KeyBytes(EvolveTo(k0, 5, 5)) == KeyBytes(k0));
  CHECK(KeyBytes(EvolveTo(k0, 0, 1)) == KeyBytes(Evolve(k0)));
  CHECK(KeyBytes(EvolveTo(k0, 0, 2)) == KeyBytes(Evolve(Evolve(k0))));
  // K_0 -> K_3 -> K_7 equals K_0 -> K_7, whatever the epoch numbers' origin.
  const SecretKey k3 = EvolveTo(k0, 0, 3);
  CHECK(KeyBytes(EvolveTo(k3, 3, 7)) == KeyBytes(EvolveTo(k0, 0, 7)));
  CHECK(KeyBytes(EvolveTo(k0, 10, 14)) == KeyBytes(EvolveTo(k0, 0, 4)));
  CHECK(KeyBytes(EvolveTo(k0, 0, 7)) != KeyBytes(EvolveTo(k0, 0, 6)));
}

TEST_CASE("audit chain: RecordBytes encodes the documented layout", "[audit][chain]") {
  CHECK(RecordBytes(SampleRecord()) ==
        Hex("0000001a7374726f6e67726f6f6d2f76312f61756469742d7265636f7264"  // label
            "0000000000000001 0000000000000000 00060a2418202240"             // seq, epoch, time_us
            "000003e8 00001092"                                                // uid, pid
            "00000004 6f70656e"                                                // op
            "0000000d 00000002"                                                // result, count
            "00000010 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"                        // user_tag
            "00000000"                                                         // path_tag
            "00000003 010203"));                                               // sealed
}

TEST_CASE("audit chain: RecordBytes changes when any field changes", "[audit][chain]") {
  struct Edit {
    const char* field;
    std::function<void(RecordFields&)> apply;
  };
  const std::vector<Edit> edits = {
      {"seq", [](RecordFields& r) { r.seq = 2; }},
      {"epoch", [](RecordFields& r) { r.epoch = 1; }},
      {"time_us", [](RecordFields& r) { r.time_us += 1; }},
      {"time_us sign", [](RecordFields& r) { r.time_us = -r.time_us; }},
      {"uid", [](RecordFields& r) { r.uid = 0; }},
      {"pid", [](RecordFields& r) { r.pid = 4243; }},
      {"op", [](RecordFields& r) { r.op = "opeN"; }},
      {"op length", [](RecordFields& r) { r.op = "ope"; }},
      {"result", [](RecordFields& r) { r.result = 0; }},
      {"count", [](RecordFields& r) { r.count = 1; }},
      {"user_tag", [](RecordFields& r) { r.user_tag[15] ^= 1; }},
      {"user_tag emptied", [](RecordFields& r) { r.user_tag.clear(); }},
      {"path_tag", [](RecordFields& r) { r.path_tag = Bytes(16, 0); }},
      {"sealed", [](RecordFields& r) { r.sealed[0] ^= 0x80; }},
      {"sealed longer", [](RecordFields& r) { r.sealed.push_back(0); }},
      // Bytes moved from one byte string to the next keep the same
      // concatenation: the length prefixes must tell them apart.
      {"user_tag/path_tag boundary",
       [](RecordFields& r) {
         r.path_tag.insert(r.path_tag.begin(), r.user_tag.back());
         r.user_tag.pop_back();
       }},
      {"path_tag/sealed boundary",
       [](RecordFields& r) {
         r.path_tag.push_back(r.sealed.front());
         r.sealed.erase(r.sealed.begin());
       }},
  };
  const Bytes original = RecordBytes(SampleRecord());
  for (const Edit& e : edits) {
    RecordFields r = SampleRecord();
    e.apply(r);
    INFO("field: " << e.field);
    CHECK(RecordBytes(r) != original);
  }
}

TEST_CASE("audit chain: NextLink matches the known answers", "[audit][chain]") {
  const SecretKey k0 = CountingKey();
  const Link l1 = NextLink(k0, Link{}, SampleRecord());
  CHECK(LinkHex(l1) == "0c711acab529593fe702ddeb31fc588c0441d7e27e4feffffadacd4556332a28");

  RecordFields r2;
  r2.seq = 2;
  r2.epoch = 2;
  r2.time_us = -5;
  r2.uid = 0xffffffff;
  r2.pid = -1;
  r2.op = "policy.grant";
  r2.result = 0;
  r2.count = 1;
  r2.path_tag = Bytes(16, 0xbb);
  const Link l2 = NextLink(EvolveTo(k0, 0, 2), l1, r2);
  CHECK(LinkHex(l2) == "4b41282e9987f43bed6a6956ac780f037400b68a7ccb9821ae253024dd0932c9");
  CHECK(l2 == ToLink(Hex("4b41282e9987f43bed6a6956ac780f037400b68a7ccb9821ae253024dd0932c9")));
}

TEST_CASE("audit chain: NextLink depends on the key, the previous link and every field", "[audit][chain]") {
  const SecretKey k0 = CountingKey();
  Link previous{};
  previous[31] = 7;
  const RecordFields base = SampleRecord();
  const Link link = NextLink(k0, previous, base);
  CHECK(NextLink(k0, previous, base) == link);

  CHECK(NextLink(Evolve(k0), previous, base) != link);
  Bytes other_key = KeyBytes(k0);
  other_key[0] ^= 1;
  CHECK(NextLink(SecretKey::FromBytes(other_key), previous, base) != link);

  Link other_previous = previous;
  other_previous[0] ^= 1;
  CHECK(NextLink(k0, other_previous, base) != link);
  CHECK(NextLink(k0, Link{}, base) != link);

  const std::vector<std::function<void(RecordFields&)>> edits = {
      [](RecordFields& r) { r.seq += 1; },          [](RecordFields& r) { r.epoch += 1; },
      [](RecordFields& r) { r.time_us += 1; },      [](RecordFields& r) { r.uid += 1; },
      [](RecordFields& r) { r.pid += 1; },          [](RecordFields& r) { r.op = "create"; },
      [](RecordFields& r) { r.result = 1; },        [](RecordFields& r) { r.count += 1; },
      [](RecordFields& r) { r.user_tag[0] ^= 1; },  [](RecordFields& r) { r.path_tag.push_back(0); },
      [](RecordFields& r) { r.sealed[2] ^= 1; },
  };
  for (size_t i = 0; i < edits.size(); ++i) {
    RecordFields r = base;
    edits[i](r);
    INFO("edit " << i);
    CHECK(NextLink(k0, previous, r) != link);
  }
}

}  // namespace
}  // namespace strongroom::crypto::audit
