// acl/audit_log.h through its API: a log created in a temporary directory
// with random keys and a random K_0, records of every kind appended and read
// back decrypted through each query filter (checked against a model of the
// filters), the chain verified from K_0 across epochs, reopening, concurrent
// and queued appends, no plaintext in the database files, and a full disk.
// The [.bench] case (hidden; run it explicitly) times filtered queries on a
// log of one million records (issue 4: each under 200 ms).
#include <catch2/catch.hpp>
#include <sqlite3.h>
#include <errno.h>
#include <spdlog/spdlog.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "acl/audit_ahead.h"
#include "acl/audit_log.h"
#include "acl/audit_verify.h"
#include "crypto/primitives.h"
#include "crypto/secret.h"
#include "tests/unit/test_util.h"

namespace strongroom::acl {
namespace {

using crypto::SecretKey;

std::string RandomHex(size_t n) {
  std::vector<uint8_t> b(n);
  crypto::RandomBytes(b);
  return crypto::HexEncode(b);
}

// Records 1..n: 1 (init, epoch 0), then kAuditRecordsPerEpoch per epoch.
uint64_t EpochsFor(uint64_t records) {
  return records == 0 ? 0
                      : 1 + (records - 1 + kAuditRecordsPerEpoch - 1) /
                                kAuditRecordsPerEpoch;
}

AuditEntry InitEntry() {
  AuditEntry e;
  e.time_us = 1'700'000'000'000'000;
  e.uid = 0;
  e.pid = 4242;
  e.op = "init";
  e.user = "admin";
  e.exe = "/usr/bin/strongroom";
  e.reason = "vault created";
  return e;
}

// A log in a fresh temporary directory: random vault id, audit subkey and K_0.
struct LogFixture {
  testing::TempDir dir;
  std::string db_path;
  std::string vault_id = RandomHex(16);
  SecretKey subkey = SecretKey::Random(32);
  SecretKey k0 = SecretKey::Random(32);
  std::unique_ptr<AuditLog> log;

  explicit LogFixture(std::optional<std::string> in_dir = std::nullopt)
      : db_path((in_dir ? std::filesystem::path(*in_dir) : dir.path()) /
                kAuditDbName) {
    const Status st = CreateAuditLog(db_path, vault_id, AuditKeys::From(subkey),
                                     k0, InitEntry());
    INFO(st.ToString());
    REQUIRE(st.ok());
    Open();
  }

  void Open() {
    log.reset();
    auto r = OpenAuditLog(db_path, vault_id, AuditKeys::From(subkey));
    INFO(r.status().ToString());
    REQUIRE(r.ok());
    log = std::move(*r);
  }

  AuditVerifyReport Verify() const {
    const Result<AuditVerifyReport> r =
        VerifyAuditLog(db_path, k0, std::nullopt);
    INFO(r.status().ToString());
    REQUIRE(r.ok());
    INFO("problem: " << r->problem);
    return *r;
  }

  std::vector<AuditRecord> Query(const AuditQuery &q) {
    auto r = log->Query(q);
    INFO(r.status().ToString());
    REQUIRE(r.ok());
    return *r;
  }

  std::vector<AuditRecord> All() {
    AuditQuery q;
    q.limit = 1'000'000;
    return Query(q);
  }
};

void CheckSame(const AuditEntry &got, const AuditEntry &want) {
  CHECK(got.time_us == want.time_us);
  CHECK(got.uid == want.uid);
  CHECK(got.pid == want.pid);
  CHECK(got.op == want.op);
  CHECK(got.result == want.result);
  CHECK(got.count == want.count);
  CHECK(got.user == want.user);
  CHECK(got.exe == want.exe);
  CHECK(got.path == want.path);
  CHECK(got.path2 == want.path2);
  CHECK(got.access == want.access);
  CHECK(got.reason == want.reason);
}

// Text a terminal, a CSV reader or a JSON encoder could trip over.
std::string FourKiB(char salt) {
  std::string s;
  for (size_t i = 0; s.size() < 4096; ++i) {
    const char c = static_cast<char>(i % 97 == 0   ? 0x1b
                                     : i % 89 == 0 ? '\n'
                                     : i % 83 == 0 ? '"'
                                                   : 0x20 + (i + salt) % 95);
    s.push_back(c);
  }
  return s;
}

const std::vector<std::string> &HostileTexts() {
  static const std::vector<std::string> texts = {
      "plain",
      "quo\"te's `back` \\ slash \\\" {\"json\": 1}",
      "line1\nline2\r\nline3\t",
      "\x1b[31mred\x1b[0m \x1b]0;title\x07",
      std::string("nul\0byte", 8),
      "Z\xc3\xbcrich \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80",
      "=cmd|' /C calc'!A0",
      FourKiB('a'),
  };
  return texts;
}

// Every kind of record docs/audit.md lists, with distinct field values.
std::vector<AuditEntry> EveryKind() {
  struct Kind {
    const char *op;
    int32_t result;
    const char *path;
    const char *path2;
    const char *access;
  };
  const Kind kinds[] = {
      {"mount", 0, "", "", ""},
      {"open", 0, "/a/b/report.pdf", "", "read"},
      {"open", 13, "/a/b/secret.xlsx", "", "write"},
      {"opendir", 0, "/a/b", "", "list"},
      {"opendir", 13, "/a/bc", "", "list"},
      {"create", 0, "/a/b/new.txt", "", "write"},
      {"mkdir", 0, "/a/b/c", "", ""},
      {"symlink", 0, "/a/b/link", "../x", ""},
      {"unlink", 0, "/a/b/old.txt", "", ""},
      {"rmdir", 0, "/a/b/c", "", ""},
      {"rename", 0, "/a/bc/from.txt", "/a/b/to.txt", ""},
      {"truncate", 0, "/a/b/report.pdf", "", "size=0"},
      {"setattr", 1, "/a/b/report.pdf", "", "mode=0600"},
      {"policy.grant", 0, "/a/b", "", "alice rw"},
      {"policy.user.add", 0, "", "", "carol"},
      {"policy.approve", 13, "", "", "request 7"},
      {"audit.query", 0, "/a", "", "--path /a"},
      {"passwd", 0, "", "", ""},
      {"integrity", 5, "/z/tampered.bin", "", "read"},
      {"unmount", 0, "", "", ""},
  };
  std::vector<AuditEntry> out;
  int i = 0;
  for (const Kind &k : kinds) {
    AuditEntry e;
    e.time_us = 1'700'000'100'000'000 + i * 1'000'003;
    e.uid = 1000 + static_cast<uint32_t>(i % 3);
    e.pid = 300 + i;
    e.op = k.op;
    e.result = k.result;
    e.count = k.result != 0 ? static_cast<uint32_t>(1 + i) : 1;
    e.user = i % 3 == 0 ? "alice" : i % 3 == 1 ? "bob" : "carol";
    e.exe = "/usr/bin/app" + std::to_string(i);
    e.path = k.path;
    e.path2 = k.path2;
    e.access = k.access;
    e.reason = k.result != 0 ? "no grant for " + e.user
                             : "grant #" + std::to_string(i);
    out.push_back(std::move(e));
    ++i;
  }
  return out;
}

TEST_CASE("audit log: records of every kind come back exactly, newest first",
          "[audit][log]") {
  LogFixture f;
  std::vector<AuditEntry> want = {InitEntry()};
  for (AuditEntry e : EveryKind()) {
    const Status st = f.log->Append(e);
    INFO(e.op << ": " << st.ToString());
    REQUIRE(st.ok());
    want.push_back(std::move(e));
  }
  const std::vector<AuditRecord> got = f.All();
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    const uint64_t seq = want.size() - i; // newest first
    INFO("record " << seq << " (" << want[seq - 1].op << ")");
    CHECK(got[i].seq == seq);
    CheckSame(got[i].entry, want[seq - 1]);
  }
  CHECK(got.back().epoch == 0);
  CHECK(got.front().epoch == 1);
  const AuditVerifyReport r = f.Verify();
  CHECK(r.ok);
  CHECK(r.records == want.size());
}

TEST_CASE("audit log: hostile text in every field round-trips",
          "[audit][log]") {
  LogFixture f;
  std::vector<AuditEntry> want;
  const auto &texts = HostileTexts();
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::string &t = texts[i];
    const std::string &u = texts[(i + 1) % texts.size()];
    AuditEntry e;
    e.time_us = 1'700'000'200'000'000 + static_cast<int64_t>(i);
    e.uid = 4'000'000'000u; // above INT32_MAX
    e.pid = -1;
    e.op = "open";
    e.result = i % 2 == 0 ? 0 : 13;
    e.count = 4'000'000'000u;
    e.user = t;
    e.exe = "/opt/" + u;
    e.path = "/a/b/" + t;
    e.path2 = "/a/bc/" + u;
    e.access = u;
    e.reason = t + u;
    REQUIRE(f.log->Append(e).ok());
    want.push_back(std::move(e));
  }
  const std::vector<AuditRecord> got = f.All();
  REQUIRE(got.size() == want.size() + 1);
  for (size_t i = 0; i < want.size(); ++i) {
    INFO("text " << i);
    CheckSame(got[want.size() - 1 - i].entry, want[i]);
  }
  // The keyed user and path tags find the same records.
  for (size_t i = 0; i < want.size(); ++i) {
    INFO("text " << i);
    AuditQuery by_user;
    by_user.user = want[i].user;
    const auto u = f.Query(by_user);
    REQUIRE(u.size() == 1);
    CheckSame(u[0].entry, want[i]);
    AuditQuery by_path;
    by_path.path_prefix = want[i].path;
    const auto p = f.Query(by_path);
    REQUIRE(p.size() == 1);
    CheckSame(p[0].entry, want[i]);
  }
  CHECK(f.Verify().ok);
}

TEST_CASE("audit log: a time of 0 is stamped with the current time",
          "[audit][log]") {
  LogFixture f;
  using namespace std::chrono;
  const int64_t before =
      duration_cast<microseconds>(system_clock::now().time_since_epoch())
          .count();
  AuditEntry e;
  e.op = "mount";
  REQUIRE(f.log->Append(e).ok());
  const int64_t after =
      duration_cast<microseconds>(system_clock::now().time_since_epoch())
          .count();
  const auto got = f.All();
  REQUIRE(got.size() == 2);
  CHECK(got[0].entry.time_us >= before);
  CHECK(got[0].entry.time_us <= after);
}

// The filters as docs/audit.md defines them, applied to the records in
// memory: the expected answer of Query.
std::vector<uint64_t> ModelQuery(const std::vector<AuditEntry> &entries,
                                 const AuditQuery &q) {
  std::vector<uint64_t> out;
  for (size_t i = entries.size(); i-- > 0 && out.size() < q.limit;) {
    const AuditEntry &e = entries[i];
    if (q.user && e.user != *q.user)
      continue;
    if (q.path_prefix && *q.path_prefix != "/") {
      // A record is found under its path and under a rename's destination.
      const std::string &p = *q.path_prefix;
      auto under = [&p](const std::string &path) {
        return path == p || (path.size() > p.size() && path.compare(0, p.size(), p) == 0 && path[p.size()] == '/');
      };
      if (!under(e.path) && !under(e.path2))
        continue;
    }
    if (q.since_us && e.time_us < *q.since_us)
      continue;
    if (q.until_us && e.time_us > *q.until_us)
      continue;
    if (q.op && e.op != *q.op)
      continue;
    if (q.denied && e.result == 0)
      continue;
    out.push_back(i + 1);
  }
  return out;
}

std::string Describe(const AuditQuery &q) {
  std::string s;
  if (q.user)
    s += " user=" + *q.user;
  if (q.path_prefix)
    s += " path=" + *q.path_prefix;
  if (q.since_us)
    s += " since=" + std::to_string(*q.since_us);
  if (q.until_us)
    s += " until=" + std::to_string(*q.until_us);
  if (q.op)
    s += " op=" + *q.op;
  if (q.denied)
    s += " denied";
  s += " limit=" + std::to_string(q.limit);
  return s;
}

TEST_CASE("audit log: each query filter, alone and combined, newest first",
          "[audit][log]") {
  LogFixture f;
  std::vector<AuditEntry> entries = {InitEntry()};
  const char *const users[] = {"alice", "bob", "carol", "al"};
  const char *const paths[] = {
      "/a/b",         "/a/b/x.txt", "/a/bc", "/a/bc/y.txt", "/a/b/c/d.txt",
      "/a/b/c",       "/a",         "/ab/b", "/z/q",        "",
      "/a/b/c/d/e/f", "/a/b.txt",   "/"};
  const char *const ops[] = {"open",   "open",   "opendir",      "create",
                             "rename", "unlink", "policy.grant", "setattr"};
  const int64_t t0 = 1'700'000'300'000'000;
  for (int i = 0; i < 300; ++i) {
    AuditEntry e;
    e.time_us = t0 + i * 1'000'000;
    e.uid = 1000 + static_cast<uint32_t>(i % 4);
    e.pid = 50 + i;
    e.op = ops[(i * 7) % 8];
    e.result = i % 9 == 4 ? 13 : 0;
    e.user = users[i % 4];
    e.exe = "/bin/x";
    e.path = paths[(i * 5) % 13];
    e.path2 = e.op == std::string("rename") ? "/a/b/renamed" : "";
    e.reason = "r" + std::to_string(i);
    REQUIRE(f.log->Append(e).ok());
    entries.push_back(std::move(e));
  }

  std::vector<AuditQuery> queries;
  auto add = [&](std::function<void(AuditQuery &)> set) {
    AuditQuery q;
    q.limit = 10'000;
    set(q);
    queries.push_back(q);
  };
  add([](AuditQuery &) {});
  for (const char *u : {"alice", "bob", "al", "nobody"})
    add([u](AuditQuery &q) { q.user = u; });
  for (const char *p : {"/a", "/a/b", "/a/bc", "/a/b/c", "/a/b/c/d", "/ab",
                        "/z", "/a/b.txt", "/nothing", "/a/b/x.txt"})
    add([p](AuditQuery &q) { q.path_prefix = p; });
  add([&](AuditQuery &q) { q.since_us = t0 + 250 * 1'000'000; });
  add([&](AuditQuery &q) { q.until_us = t0 + 20 * 1'000'000; });
  add([&](AuditQuery &q) { // inclusive bounds
    q.since_us = t0 + 100 * 1'000'000;
    q.until_us = t0 + 110 * 1'000'000;
  });
  add([&](AuditQuery &q) { q.since_us = t0 + 1'000 * 1'000'000; });
  for (const char *o : {"open", "rename", "policy.grant", "init", "nope"})
    add([o](AuditQuery &q) { q.op = o; });
  add([](AuditQuery &q) { q.denied = true; });
  for (size_t n : {0, 1, 7, 100})
    add([n](AuditQuery &q) { q.limit = n; });
  add([](AuditQuery &q) {
    q.user = "alice";
    q.path_prefix = "/a/b";
  });
  add([](AuditQuery &q) {
    q.op = "open";
    q.denied = true;
    q.limit = 5;
  });
  add([&](AuditQuery &q) {
    q.user = "bob";
    q.path_prefix = "/a";
    q.since_us = t0 + 50 * 1'000'000;
    q.until_us = t0 + 200 * 1'000'000;
    q.op = "open";
  });
  add([](AuditQuery &q) {
    q.path_prefix = "/a/bc";
    q.denied = true;
  });

  for (const AuditQuery &q : queries) {
    INFO("query" << Describe(q));
    const auto got = f.Query(q);
    const std::vector<uint64_t> want = ModelQuery(entries, q);
    std::vector<uint64_t> got_seqs;
    for (const AuditRecord &r : got)
      got_seqs.push_back(r.seq);
    CHECK(got_seqs == want);
    for (const AuditRecord &r : got) {
      INFO("record " << r.seq);
      REQUIRE(r.seq >= 1);
      REQUIRE(r.seq <= entries.size());
      CheckSame(r.entry, entries[r.seq - 1]);
    }
  }

  // "/" is the whole vault: every record whose path is in it.
  AuditQuery root;
  root.path_prefix = "/";
  root.limit = 10'000;
  size_t with_path = 0;
  for (const AuditEntry &e : entries)
    with_path += !e.path.empty() && e.path[0] == '/';
  const auto all = f.Query(root);
  CHECK(all.size() >= with_path);
  // A sibling never matches a folder: "/a/b" is not a prefix of "/a/bc".
  AuditQuery b;
  b.path_prefix = "/a/b";
  b.limit = 10'000;
  for (const AuditRecord &r : f.Query(b)) {
    INFO(r.entry.path << " -> " << r.entry.path2);
    const bool path_under = r.entry.path == "/a/b" || r.entry.path.rfind("/a/b/", 0) == 0;
    const bool path2_under = r.entry.path2 == "/a/b" || r.entry.path2.rfind("/a/b/", 0) == 0;
    CHECK((path_under || path2_under));
  }
}

TEST_CASE("audit log: verify with K_0 across epochs and after reopening",
          "[audit][log]") {
  LogFixture f;
  for (int i = 0; i < 1000; ++i) {
    AuditEntry e;
    e.time_us = 1'700'000'400'000'000 + i;
    e.uid = static_cast<uint32_t>(i);
    e.op = i % 2 == 0 ? "open" : "create";
    e.user = "u" + std::to_string(i % 10);
    e.path = "/d" + std::to_string(i % 10) + "/f" + std::to_string(i);
    REQUIRE(f.log->Append(e).ok());
  }
  AuditVerifyReport r = f.Verify();
  CHECK(r.ok);
  CHECK(r.records == 1001);
  CHECK(r.epochs == EpochsFor(1001));

  f.Open(); // reopen: the chain continues from the stored state
  for (int i = 0; i < 300; ++i) {
    AuditEntry e;
    e.op = "opendir";
    e.path = "/d1";
    REQUIRE(f.log->Append(e).ok());
  }
  r = f.Verify();
  CHECK(r.ok);
  CHECK(r.records == 1301);
  CHECK(r.epochs == EpochsFor(1301));

  // Reopening exactly at an epoch boundary.
  // Fill to the end of the current epoch, reopen, and start the next one.
  const uint64_t boundary_gap =
      ((1301 - 1) / kAuditRecordsPerEpoch + 1) * kAuditRecordsPerEpoch + 1 -
      1301;
  for (uint64_t i = 0; i < boundary_gap; ++i) {
    AuditEntry e;
    e.op = "open";
    REQUIRE(f.log->Append(e).ok());
  }
  f.Open();
  AuditEntry e;
  e.op = "unmount";
  REQUIRE(f.log->Append(e).ok());
  r = f.Verify();
  CHECK(r.ok);
  CHECK(r.records == 1301 + boundary_gap + 1);
  CHECK(r.epochs == EpochsFor(r.records));
  const auto last = f.All();
  REQUIRE(last.size() == r.records);
  CHECK(last.front().epoch == r.epochs - 1);
}

TEST_CASE("audit log: only the vault's audit subkey and vault id open it",
          "[audit][log]") {
  LogFixture f;
  REQUIRE(f.log->Append(EveryKind()[1]).ok());
  f.log.reset();
  SECTION("a wrong audit subkey") {
    auto r = OpenAuditLog(f.db_path, f.vault_id,
                          AuditKeys::From(SecretKey::Random(32)));
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Status::Code::kIntegrity);
    CHECK(r.status().message().find("epoch key does not authenticate") !=
          std::string::npos);
  }
  SECTION("another vault's id") {
    auto r = OpenAuditLog(f.db_path, RandomHex(16), AuditKeys::From(f.subkey));
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Status::Code::kIntegrity);
    CHECK(r.status().message().find("another vault") != std::string::npos);
  }
  SECTION("a missing file") {
    auto r = OpenAuditLog(f.dir.Sub("none.db"), f.vault_id,
                          AuditKeys::From(f.subkey));
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Status::Code::kNotFound);
  }
  SECTION("creating over an existing log") {
    const Status st = CreateAuditLog(
        f.db_path, f.vault_id, AuditKeys::From(f.subkey), f.k0, InitEntry());
    CHECK(st.code() == Status::Code::kExists);
    CHECK(f.Verify().records == 2);
  }
  SECTION("a wrong K_0 does not verify") {
    const Result<AuditVerifyReport> r =
        VerifyAuditLog(f.db_path, SecretKey::Random(32), std::nullopt);
    REQUIRE(r.ok());
    CHECK_FALSE(r->ok);
    CHECK(r->first_bad_seq == 1);
  }
  // The right keys still open it.
  f.Open();
  CHECK(f.All().size() == 2);
}

TEST_CASE("audit log: concurrent appends from 8 threads are all recorded, seq "
          "without gaps",
          "[audit][log]") {
  LogFixture f;
  constexpr int kThreads = 8;
  constexpr int kEach = 200;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        AuditEntry e;
        e.uid = 1000 + static_cast<uint32_t>(t);
        e.pid = i;
        e.op = i % 3 == 0 ? "create" : "open";
        e.user = "thread" + std::to_string(t);
        e.path = "/t" + std::to_string(t) + "/f" + std::to_string(i);
        e.reason = std::to_string(t) + ":" + std::to_string(i);
        if (!f.log->Append(e).ok())
          ++failures;
      }
    });
  }
  for (auto &th : threads)
    th.join();
  REQUIRE(failures == 0);

  const auto all = f.All();
  REQUIRE(all.size() == 1 + kThreads * kEach);
  std::set<std::string> seen;
  std::map<int, int> last_pid; // each thread's records in its own order
  for (size_t i = 0; i < all.size(); ++i) {
    CHECK(all[i].seq == all.size() - i);
    if (all[i].seq == 1)
      continue;
    seen.insert(all[i].entry.reason);
  }
  CHECK(seen.size() == kThreads * kEach);
  for (size_t i = all.size(); i-- > 0;) {
    if (all[i].seq == 1)
      continue;
    const int t = static_cast<int>(all[i].entry.uid) - 1000;
    auto it = last_pid.find(t);
    if (it != last_pid.end())
      CHECK(all[i].entry.pid > it->second);
    last_pid[t] = all[i].entry.pid;
  }
  for (int t = 0; t < kThreads; ++t) {
    AuditQuery q;
    q.user = "thread" + std::to_string(t);
    q.limit = 1000;
    CHECK(f.Query(q).size() == kEach);
  }
  const AuditVerifyReport r = f.Verify();
  CHECK(r.ok);
  CHECK(r.records == 1 + kThreads * kEach);
  CHECK(r.epochs == EpochsFor(r.records));
}

TEST_CASE("audit log: AppendAsync is committed by Flush and by closing",
          "[audit][log]") {
  LogFixture f;
  for (int i = 0; i < 600; ++i) {
    AuditEntry e;
    e.op = "open";
    e.access = "read";
    e.path = "/q/f" + std::to_string(i);
    e.reason = "async " + std::to_string(i);
    f.log->AppendAsync(e);
  }
  REQUIRE(f.log->Flush().ok());
  auto all = f.All();
  REQUIRE(all.size() == 601);
  CHECK(all[0].entry.reason == "async 599");
  CHECK(all[599].entry.reason == "async 0");
  CHECK(f.log->Flush().ok()); // nothing queued

  // Mixed with Append: the committed Append covers what was queued before it.
  AuditEntry a;
  a.op = "opendir";
  a.reason = "queued";
  f.log->AppendAsync(a);
  a.op = "unlink";
  a.reason = "committed";
  REQUIRE(f.log->Append(a).ok());
  all = f.All();
  REQUIRE(all.size() == 603);
  CHECK(all[0].entry.reason == "committed");
  CHECK(all[1].entry.reason == "queued");

  // Queued records are written when the log is closed.
  for (int i = 0; i < 50; ++i) {
    AuditEntry e;
    e.op = "open";
    e.reason = "at close " + std::to_string(i);
    f.log->AppendAsync(e);
  }
  f.Open();
  all = f.All();
  REQUIRE(all.size() == 653);
  CHECK(all[0].entry.reason == "at close 49");
  const AuditVerifyReport r = f.Verify();
  CHECK(r.ok);
  CHECK(r.records == 653);
}

TEST_CASE("audit log: power-loss durability can be switched on and off",
          "[audit][log]") {
  LogFixture f;
  REQUIRE(f.log->SetPowerLossDurability(true).ok());
  for (int i = 0; i < 20; ++i) {
    AuditEntry e;
    e.op = "create";
    e.path = "/p/" + std::to_string(i);
    REQUIRE(f.log->Append(e).ok());
  }
  REQUIRE(f.log->SetPowerLossDurability(false).ok());
  AuditEntry e;
  e.op = "unlink";
  REQUIRE(f.log->Append(e).ok());
  CHECK(f.All().size() == 22);
  CHECK(f.Verify().ok);
}

TEST_CASE(
    "audit log: the database files hold no plaintext name, path or reason",
    "[audit][log]") {
  LogFixture f;
  const std::string user = "Marker-User-q9XzL";
  const std::string folder = "/Marker-Folder-7f3aK";
  const std::string file = "Marker-File-plan-b2.docx";
  const std::string reason = "Marker-Reason-z4Wq";
  const std::string exe = "/opt/Marker-Exe-h8Rt";
  const std::string access = "Marker-Access-c1Vn";
  for (int i = 0; i < 40; ++i) {
    AuditEntry e;
    e.op = i % 2 == 0 ? "open" : "rename";
    e.result = i % 5 == 0 ? 13 : 0;
    e.user = user;
    e.exe = exe;
    e.path = folder + "/" + file;
    e.path2 = folder + "/sub/" + file;
    e.access = access;
    e.reason = reason;
    if (i % 2 == 0) {
      REQUIRE(f.log->Append(e).ok());
    } else {
      f.log->AppendAsync(e);
    }
  }
  REQUIRE(f.log->Flush().ok());
  AuditQuery q;
  q.user = user;
  q.path_prefix = folder;
  CHECK(f.Query(q).size() == 40);

  auto scan = [&](const char *when) {
    for (const char *suffix : {"", "-wal", "-shm", "-journal"}) {
      const std::string path = f.db_path + suffix;
      const testing::Bytes bytes = testing::ReadAll(path);
      INFO(when << ": " << path << " (" << bytes.size() << " bytes)");
      for (const std::string &marker :
           {user, folder.substr(1), file, reason, exe.substr(5), access,
            std::string("Marker")}) {
        INFO("marker " << marker);
        CHECK_FALSE(testing::Contains(bytes, testing::ToBytes(marker)));
      }
    }
  };
  scan("while open");
  CHECK(std::filesystem::exists(f.db_path + "-wal"));
  f.log.reset();
  scan("after closing");
}

// A size-limited tmpfs mounted on a directory, unmounted when done.
class SmallTmpfs {
public:
  SmallTmpfs(const std::string &dir, const char *size) : dir_(dir) {
    std::filesystem::create_directory(dir);
    const std::string opts = std::string("size=") + size + ",mode=0700";
    if (::mount("tmpfs", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV,
                opts.c_str()) == 0) {
      mounted_ = true;
    } else {
      error_ = errno;
    }
  }
  ~SmallTmpfs() {
    if (mounted_)
      ::umount2(dir_.c_str(), MNT_DETACH);
  }
  SmallTmpfs(const SmallTmpfs &) = delete;
  SmallTmpfs &operator=(const SmallTmpfs &) = delete;
  bool mounted() const { return mounted_; }
  int error() const { return error_; }

private:
  std::string dir_;
  bool mounted_ = false;
  int error_ = 0;
};

// Writes `path` until the file system is full; returns the bytes written.
size_t FillUp(const std::string &path) {
  std::FILE *out = std::fopen(path.c_str(), "wb");
  REQUIRE(out != nullptr);
  std::setvbuf(out, nullptr, _IONBF, 0);
  const std::vector<char> chunk(1024, 'F');
  size_t written = 0;
  for (;;) {
    const size_t n = std::fwrite(chunk.data(), 1, chunk.size(), out);
    written += n;
    if (n < chunk.size())
      break;
  }
  std::fclose(out);
  return written;
}

TEST_CASE("audit log: a full disk fails Append with kIo, and nothing "
          "acknowledged is lost",
          "[audit][log]") {
  testing::TempDir base;
  const std::string vol = base.Sub("vol");
  // 4 MiB: once the filler is removed, the volume has the 1 MiB free that
  // the log waits for after a failed write.
  SmallTmpfs tmpfs(vol, "4m");
  if (!tmpfs.mounted()) {
    WARN("cannot mount a tmpfs (" << std::strerror(tmpfs.error())
                                  << "): full-disk test skipped");
    return;
  }
  LogFixture f(vol);
  std::vector<std::string> acknowledged;
  int next = 0;
  auto entry = [&] {
    AuditEntry e;
    e.op = "create";
    e.user = "alice";
    e.path = "/full/f" + std::to_string(next);
    e.reason = "rec " + std::to_string(next) + " " + std::string(600, 'r');
    ++next;
    return e;
  };
  for (int i = 0; i < 5; ++i) {
    AuditEntry e = entry();
    REQUIRE(f.log->Append(e).ok());
    acknowledged.push_back(e.reason);
  }

  const std::string filler = vol + "/filler";
  FillUp(filler);
  // Pages already allocated may still take a few records; then it must fail.
  std::optional<Status> failure;
  for (int i = 0; i < 200 && !failure; ++i) {
    AuditEntry e = entry();
    const Status st = f.log->Append(e);
    if (st.ok()) {
      acknowledged.push_back(e.reason);
    } else {
      failure = st;
    }
  }
  REQUIRE(failure.has_value());
  INFO(failure->ToString());
  CHECK(failure->code() == Status::Code::kIo);
  CHECK(failure->sys_errno() != 0);
  // Still failing while full, also for a queued record.
  AuditEntry again = entry();
  CHECK(f.log->Append(again).code() == Status::Code::kIo);
  // Queries still work while the disk is full.
  {
    auto r = f.log->Query(AuditQuery{});
    CHECK(r.ok());
  }

  REQUIRE(std::filesystem::remove(filler));
  for (int i = 0; i < 30; ++i) {
    AuditEntry e = entry();
    const Status st = f.log->Append(e);
    INFO(st.ToString());
    REQUIRE(st.ok());
    acknowledged.push_back(e.reason);
  }
  auto check_all = [&] {
    const auto all = f.All();
    std::vector<std::string> got;
    for (auto it = all.rbegin(); it != all.rend(); ++it)
      if (it->seq != 1)
        got.push_back(it->entry.reason);
    CHECK(got == acknowledged);
    for (size_t i = 0; i < all.size(); ++i)
      CHECK(all[i].seq == all.size() - i);
    const AuditVerifyReport r = f.Verify();
    CHECK(r.ok);
    CHECK(r.records == acknowledged.size() + 1);
  };
  check_all();
  f.Open();
  check_all();
}

// Queued records a failed commit dropped: Flush should say so (today it
// returns Ok). Tagged  until acl/audit_log.cc reports it.
TEST_CASE("audit log: Flush reports queued records that could not be written",
          "[audit][log]") {
  testing::TempDir base;
  const std::string vol = base.Sub("vol");
  SmallTmpfs tmpfs(vol, "1m");
  if (!tmpfs.mounted()) {
    WARN("cannot mount a tmpfs (" << std::strerror(tmpfs.error())
                                  << "): test skipped");
    return;
  }
  LogFixture f(vol);
  FillUp(vol + "/filler");
  bool full = false;
  for (int i = 0; i < 200 && !full; ++i) {
    AuditEntry e;
    e.op = "open";
    e.reason = std::string(800, 'x');
    full = !f.log->Append(e).ok();
  }
  REQUIRE(full);
  AuditEntry e;
  e.op = "open";
  e.reason = "queued while full";
  f.log->AppendAsync(e);
  CHECK_FALSE(f.log->Flush().ok());
}

// Linux names are bytes, not necessarily UTF-8: the log should record the
// name that was used. Today the sealed JSON replaces invalid UTF-8 with
// U+FFFD (acl/audit_log.cc SealedJson), so "caf\xe9" and "caf\xe8" read back
// alike. Tagged  until the sealed encoding keeps raw bytes.
TEST_CASE("audit log: a path that is not UTF-8 reads back byte for byte",
          "[audit][log]") {
  LogFixture f;
  AuditEntry e;
  e.op = "open";
  e.user = "latin1-\xe9";
  e.path = "/a/caf\xe9.txt";
  e.path2 = "/a/\xff\xfe";
  REQUIRE(f.log->Append(e).ok());
  AuditQuery q;
  q.path_prefix = e.path;
  const auto got = f.Query(q);
  REQUIRE(got.size() == 1);
  CHECK(got[0].entry.path == e.path);
  CHECK(got[0].entry.path2 == e.path2);
  CHECK(got[0].entry.user == e.user);
}

// ---------------------------------------------------------------------------
// Query speed on one million records (issue 4: each filtered query < 200 ms).

double Ms(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

TEST_CASE("audit log bench: filtered queries on one million records",
          "[.bench]") {
  constexpr uint64_t kRecords = 1'000'000;
  constexpr int kUsers = 20;
  constexpr int kDepts = 10;
  constexpr int kProjects =
      100; // 1000 folders /org/deptD/projP, under 10 /org/deptD
  const char *const kOps[] = {
      "open", "open",    "open",   "open",   "open",   "open",    "open",
      "open", "opendir", "create", "rename", "unlink", "setattr", "mkdir"};
  constexpr int64_t kStep =
      600'000; // a record every 0.6 s: 1M records over ~7 days
  const int64_t t0 = 1'700'000'000'000'000;

  LogFixture f;
  // One seal line per epoch (3900) would drown the timings.
  const spdlog::level::level_enum level = spdlog::get_level();
  spdlog::set_level(spdlog::level::warn);
  struct Restore {
    spdlog::level::level_enum level;
    ~Restore() { spdlog::set_level(level); }
  } restore{level};
  uint64_t denied = 0;
  const auto fill_start = std::chrono::steady_clock::now();
  uint64_t x = 88172645463325252ull; // xorshift: reproducible
  auto rnd = [&x] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  for (uint64_t i = 0; i < kRecords; ++i) {
    AuditEntry e;
    e.time_us = t0 + static_cast<int64_t>(i) * kStep;
    const uint64_t r = rnd();
    const int user = static_cast<int>(r % kUsers);
    e.uid = 1000 + static_cast<uint32_t>(user);
    e.pid = static_cast<int32_t>(1000 + (r >> 8) % 30000);
    e.op = kOps[(r >> 24) % 14];
    e.result = (r >> 32) % 100 == 0 ? 13 : 0;
    denied += e.result != 0;
    e.user = "user" + std::to_string(user);
    e.exe = "/usr/bin/app" + std::to_string((r >> 40) % 8);
    e.path = "/org/dept" + std::to_string((r >> 44) % kDepts) + "/proj" +
             std::to_string((r >> 48) % kProjects) + "/file" +
             std::to_string((r >> 52) % 200) + ".dat";
    if (e.op == "rename")
      e.path2 = e.path + ".new";
    e.access = e.op == "open" ? "read" : "";
    e.reason = e.result != 0 ? "no grant on /org/dept" +
                                   std::to_string((r >> 44) % kDepts)
                             : "grant 17 (team rw)";
    f.log->AppendAsync(std::move(e));
    if ((i + 1) % 50'000 == 0)
      REQUIRE(f.log->Flush().ok());
  }
  REQUIRE(f.log->Flush().ok());
  const double fill_s =
      Ms(std::chrono::steady_clock::now() - fill_start) / 1000;
  f.Open(); // closes (checkpoint) and reopens
  const uint64_t db_bytes = std::filesystem::file_size(f.db_path);
  std::cout << "audit bench: " << kRecords << " records (" << denied
            << " refusals) appended in " << fill_s << " s ("
            << static_cast<uint64_t>(kRecords / fill_s) << " records/s)\n"
            << "audit bench: database " << db_bytes / (1024.0 * 1024.0)
            << " MiB, " << static_cast<double>(db_bytes) / (kRecords + 1)
            << " bytes per record\n";

  struct Named {
    const char *name;
    AuditQuery q;
    bool required; // issue 4: under 200 ms
  };
  std::vector<Named> queries;
  auto q = [&](const char *name, bool required,
               std::function<void(AuditQuery &)> set) {
    AuditQuery a;
    a.limit = 100;
    set(a);
    queries.push_back({name, a, required});
  };
  const int64_t mid = t0 + static_cast<int64_t>(kRecords / 2) * kStep;
  const int64_t hour = 3'600'000'000;
  q("no filter", false, [](AuditQuery &) {});
  q("user", true, [](AuditQuery &a) { a.user = "user7"; });
  q("path prefix (a folder)", true,
    [](AuditQuery &a) { a.path_prefix = "/org/dept3/proj42"; });
  q("path prefix (a department)", true,
    [](AuditQuery &a) { a.path_prefix = "/org/dept3"; });
  q("path prefix (the whole tree)", true,
    [](AuditQuery &a) { a.path_prefix = "/org"; });
  q("op (rename)", true, [](AuditQuery &a) { a.op = "rename"; });
  q("denied", true, [](AuditQuery &a) { a.denied = true; });
  q("since/until (1 hour)", true, [&](AuditQuery &a) {
    a.since_us = mid;
    a.until_us = mid + hour;
  });
  q("user + path", true, [](AuditQuery &a) {
    a.user = "user7";
    a.path_prefix = "/org/dept3/proj42";
  });
  q("since/until (1 day)", true, [&](AuditQuery &a) {
    a.since_us = mid;
    a.until_us = mid + 24 * hour;
  });
  q("path prefix (a department) + since/until (1 hour)", true,
    [&](AuditQuery &a) {
      a.path_prefix = "/org/dept3";
      a.since_us = mid;
      a.until_us = mid + hour;
    });
  q("since (last hour)", true, [&](AuditQuery &a) {
    a.since_us = t0 + static_cast<int64_t>(kRecords) * kStep - hour;
  });
  q("until (first hour)", true, [&](AuditQuery &a) { a.until_us = t0 + hour; });
  q("user + since/until (1 hour)", true, [&](AuditQuery &a) {
    a.user = "user7";
    a.since_us = mid;
    a.until_us = mid + hour;
  });
  q("path + since/until (1 hour)", true, [&](AuditQuery &a) {
    a.path_prefix = "/org/dept3/proj42";
    a.since_us = mid;
    a.until_us = mid + hour;
  });
  q("user + denied", true, [](AuditQuery &a) {
    a.user = "user7";
    a.denied = true;
  });
  q("path (folder) + denied", true, [](AuditQuery &a) {
    a.path_prefix = "/org/dept3/proj42";
    a.denied = true;
  });
  q("op (rename) + denied", true, [](AuditQuery &a) {
    a.op = "rename";
    a.denied = true;
  });
  q("user + op (mkdir)", true, [](AuditQuery &a) {
    a.user = "user7";
    a.op = "mkdir";
  });
  q("no match: user nobody", true, [](AuditQuery &a) { a.user = "nobody"; });
  q("no match: op policy.grant", true,
    [](AuditQuery &a) { a.op = "policy.grant"; });
  q("no match: user + path of another folder depth", true, [](AuditQuery &a) {
    a.user = "user7";
    a.path_prefix = "/org/dept3/proj42/file999.dat";
  });

  for (const Named &n : queries) {
    std::vector<double> times;
    size_t rows = 0;
    for (int rep = 0; rep < 5; ++rep) {
      const auto start = std::chrono::steady_clock::now();
      auto r = f.log->Query(n.q);
      times.push_back(Ms(std::chrono::steady_clock::now() - start));
      REQUIRE(r.ok());
      rows = r->size();
      // Results are newest first and match the filter.
      for (size_t i = 1; i < r->size(); ++i)
        REQUIRE((*r)[i - 1].seq > (*r)[i].seq);
      for (const AuditRecord &rec : *r) {
        if (n.q.user)
          REQUIRE(rec.entry.user == *n.q.user);
        if (n.q.path_prefix)
          REQUIRE(rec.entry.path.rfind(*n.q.path_prefix + "/", 0) == 0);
        if (n.q.op)
          REQUIRE(rec.entry.op == *n.q.op);
        if (n.q.denied)
          REQUIRE(rec.entry.result != 0);
        if (n.q.since_us)
          REQUIRE(rec.entry.time_us >= *n.q.since_us);
        if (n.q.until_us)
          REQUIRE(rec.entry.time_us <= *n.q.until_us);
      }
    }
    const double first = times[0];
    std::sort(times.begin(), times.end());
    std::cout << "audit bench: query " << n.name << ": " << rows
              << " rows, first " << first << " ms, median " << times[2]
              << " ms, max " << times[4] << " ms\n";
    if (n.required) {
      INFO("query " << n.name << Describe(n.q));
      CHECK(times[4] < 200.0);
    }
  }

  const auto verify_start = std::chrono::steady_clock::now();
  const AuditVerifyReport r = f.Verify();
  std::cout << "audit bench: verify " << r.records << " records in " << r.epochs
            << " epochs: "
            << Ms(std::chrono::steady_clock::now() - verify_start) << " ms\n";
  CHECK(r.ok);
  CHECK(r.records == kRecords + 1);
}

} // namespace
} // namespace strongroom::acl

namespace strongroom::acl {
namespace {

// A process that appends `n` records and dies without closing the log: what
// it wrote ahead is all there is of them.
// With `flush_after` > 0, the child flushes once after that many records
// (everything moves into the database and the write-ahead file, past its
// trim size, is emptied) and goes on appending.
void AppendAndDie(LogFixture &f, int n, int flush_after = 0) {
  f.log.reset();
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    auto r = OpenAuditLog(f.db_path, f.vault_id, AuditKeys::From(f.subkey));
    if (!r.ok()) ::_exit(2);
    for (int i = 0; i < n; ++i) {
      AuditEntry e = InitEntry();
      e.op = "create";
      e.path = "/crash/file" + std::to_string(i);
      if (!(*r)->Append(e).ok()) ::_exit(3);
      if (i + 1 == flush_after && !(*r)->Flush().ok()) ::_exit(4);
    }
    ::_exit(0);  // no destructor: nothing is moved or checkpointed
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
}

// Records already in the database (the dead process's writer thread may
// have moved some before it died).
uint64_t InDatabase(const std::string &db_path) {
  sqlite3 *db = nullptr;
  REQUIRE(sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) ==
          SQLITE_OK);
  sqlite3_stmt *s = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "SELECT count(*) FROM records", -1, &s,
                             nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(s) == SQLITE_ROW);
  const auto n = static_cast<uint64_t>(sqlite3_column_int64(s, 0));
  sqlite3_finalize(s);
  sqlite3_close(db);
  return n;
}

std::string ReadAll(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteAll(const std::string &path, const std::string &data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
  REQUIRE(out.good());
}

TEST_CASE("audit log: records written ahead by a process that died are "
          "verified, and moved into the database at the next open",
          "[audit]") {
  LogFixture f;
  AppendAndDie(f, 300);  // across an epoch change
  const std::string ahead = AheadPathFor(f.db_path);
  REQUIRE(std::filesystem::file_size(ahead) > kAheadMagic.size());

  AuditVerifyReport v = f.Verify();
  CHECK(v.ok);
  CHECK(v.records == 301);
  const uint64_t in_db = InDatabase(f.db_path);
  CHECK(v.written_ahead == 301 - in_db);

  SECTION("reopened: all of them are queryable, in order") {
    f.Open();
    const std::vector<AuditRecord> all = f.All();
    REQUIRE(all.size() == 301);
    for (size_t i = 0; i < all.size(); ++i) CHECK(all[i].seq == 301 - i);
    CHECK(all.front().entry.path == "/crash/file299");
    AuditQuery q;
    q.path_prefix = "/crash";
    q.limit = 1000;
    CHECK(f.Query(q).size() == 300);
    f.log.reset();
    v = f.Verify();
    CHECK(v.ok);
    CHECK(v.records == 301);
    CHECK(v.written_ahead == 0);
  }

  SECTION("a torn tail is left out and reported with an integrity record") {
    // The last entry cut in the middle, with no end marker after it.
    const AheadParse parse = ParseAheadFile(crypto::AsBytes(ReadAll(ahead)));
    REQUIRE(parse.records.size() >= 2);
    std::string cut(kAheadMagic);
    for (size_t i = 0; i + 1 < parse.records.size(); ++i) AppendAheadEntry(parse.records[i], &cut);
    std::string last;
    AppendAheadEntry(parse.records.back(), &last);
    cut += last.substr(0, last.size() / 2);
    WriteAll(ahead, cut);
    f.Open();
    const std::vector<AuditRecord> all = f.All();
    // 1 .. 300 (the cut one lost unless already in the database), then the
    // integrity record.
    REQUIRE(all.size() == std::max<uint64_t>(in_db, 300) + 1);
    CHECK(all.front().entry.op == "integrity");
    CHECK(all.front().entry.reason.find("do not parse") != std::string::npos);
    f.log.reset();
    CHECK(f.Verify().records == all.size());
  }

  SECTION("a record edited in the write-ahead file fails verify, and is "
          "left out at the next open") {
    const std::string data = ReadAll(ahead);
    AheadParse parse = ParseAheadFile(crypto::AsBytes(data));
    REQUIRE(parse.header_ok);
    REQUIRE(!parse.records.empty());
    // An edit with a checksum that matches: only the chain can tell.
    if (in_db >= 300) {
      WARN("the dead process moved every record into the database: nothing "
           "to edit in the write-ahead file");
      return;
    }
    AheadRecord &victim = parse.records[parse.records.size() - 10];
    REQUIRE(victim.fields.seq > in_db);
    const uint64_t bad = victim.fields.seq;
    victim.fields.uid ^= 1;
    std::string rewritten(kAheadMagic);
    for (const AheadRecord &r : parse.records) AppendAheadEntry(r, &rewritten);
    WriteAll(ahead, rewritten);

    v = f.Verify();
    CHECK_FALSE(v.ok);
    CHECK(v.first_bad_seq == bad);

    f.Open();
    const std::vector<AuditRecord> all = f.All();
    REQUIRE(all.size() == bad);  // 1 .. bad-1, then the integrity record
    CHECK(all.front().entry.op == "integrity");
    CHECK(all.front().entry.reason.find("does not authenticate") !=
          std::string::npos);
    f.log.reset();
    CHECK(f.Verify().ok);
  }
}

TEST_CASE("audit log: records written ahead after the write-ahead file was "
          "emptied survive a crash",
          "[audit]") {
  LogFixture f;
  // 4,000 records (over 1 MiB written ahead, so the file is emptied on the
  // way: by the flush, or earlier by the indexer), then 70 more, written
  // from the start of the file again and in whole pages (what followed in
  // the old file's pages is overwritten).
  AppendAndDie(f, 4070, 4000);
  const std::string ahead = AheadPathFor(f.db_path);
  const AheadParse parse = ParseAheadFile(crypto::AsBytes(ReadAll(ahead)));
  REQUIRE(parse.header_ok);
  CHECK(parse.damaged_bytes == 0);
  REQUIRE(!parse.records.empty());
  CHECK(parse.records.back().fields.seq == 4071);
  // Emptied at least once on the way (by the flush, or by the indexer
  // earlier): the file no longer starts at record 2.
  CHECK(parse.records.front().fields.seq > 2);
  AuditVerifyReport v = f.Verify();
  CHECK(v.ok);
  CHECK(v.records == 4071);

  f.Open();
  AuditQuery q;
  q.path_prefix = "/crash";
  q.limit = 5000;
  const std::vector<AuditRecord> all = f.Query(q);
  REQUIRE(all.size() == 4070);
  CHECK(all.front().entry.path == "/crash/file4069");
  f.log.reset();
  v = f.Verify();
  CHECK(v.ok);
  CHECK(v.written_ahead == 0);
}

TEST_CASE("audit log: a file in place of the write-ahead file that is not "
          "one stops the open with a clear error",
          "[audit]") {
  LogFixture f;
  f.log.reset();
  WriteAll(AheadPathFor(f.db_path), "not a write-ahead file");
  auto r = OpenAuditLog(f.db_path, f.vault_id, AuditKeys::From(f.subkey));
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().ToString().find("write-ahead") != std::string::npos);
}

}  // namespace
}  // namespace strongroom::acl

namespace strongroom::acl {
namespace {

AuditEntry Numbered(int i) {
  AuditEntry e = InitEntry();
  e.op = i % 2 == 0 ? "create" : "open";
  e.path = "/seg/d" + std::to_string(i % 7) + "/f" + std::to_string(i);
  return e;
}

TEST_CASE("audit log: the live database is sealed into segments at its size "
          "limit; queries and verify span them, archived or not",
          "[audit]") {
  LogFixture f;
  f.log->SetSegmentLimit(64 << 10);
  constexpr int kRecords = 3000;
  for (int i = 0; i < kRecords; ++i) REQUIRE(f.log->Append(Numbered(i)).ok());
  REQUIRE(f.log->Flush().ok());

  std::vector<AuditSegment> segs = ListAuditSegments(f.db_path);
  INFO(segs.size() << " segments");
  REQUIRE(segs.size() >= 5);
  // Whole epochs, contiguous, from record 1.
  CHECK(segs.front().first == 1);
  for (size_t i = 1; i < segs.size(); ++i) CHECK(segs[i].first == segs[i - 1].last + 1);
  for (const AuditSegment &s : segs) CHECK((s.last - 1) % kAuditRecordsPerEpoch == 0);

  // Queries reach into the sealed segments.
  CHECK(f.All().size() == kRecords + 1);
  AuditQuery q;
  q.path_prefix = "/seg/d3";
  q.limit = 100000;
  const std::vector<AuditRecord> d3 = f.Query(q);
  CHECK(d3.size() == static_cast<size_t>((kRecords + 3) / 7));
  for (size_t i = 1; i < d3.size(); ++i) CHECK(d3[i].seq < d3[i - 1].seq);

  f.log.reset();
  AuditVerifyReport v = f.Verify();
  CHECK(v.ok);
  CHECK(v.records == kRecords + 1);
  CHECK(v.segments == segs.size());
  CHECK(v.first_seq == 1);

  SECTION("archived elsewhere: verify starts at the live part, and with the "
          "archive checks it all") {
    testing::TempDir archive;
    for (const AuditSegment &s : segs) {
      std::filesystem::rename(s.path, archive.path() / std::filesystem::path(s.path).filename());
    }
    v = f.Verify();
    CHECK(v.ok);
    CHECK(v.first_seq == segs.back().last + 1);
    CHECK(v.records == kRecords + 1 - segs.back().last);

    Result<AuditVerifyReport> full = VerifyAuditLog(f.db_path, f.k0, std::nullopt, {archive.path().string()});
    REQUIRE(full.ok());
    CHECK(full->ok);
    CHECK(full->records == kRecords + 1);
    CHECK(full->first_seq == 1);

    // A seal inside the archived part needs the archive.
    AuditSeal seal;
    seal.seq = segs.front().last;
    Result<AuditVerifyReport> sealed = VerifyAuditLog(f.db_path, f.k0, seal);
    REQUIRE(sealed.ok());
    CHECK_FALSE(sealed->ok);
    CHECK(sealed->problem.find("--archive") != std::string::npos);

    // A wrong key still fails where the walk begins.
    Result<AuditVerifyReport> wrong = VerifyAuditLog(f.db_path, SecretKey::Random(32), std::nullopt);
    REQUIRE(wrong.ok());
    CHECK_FALSE(wrong->ok);
    CHECK(wrong->first_bad_seq == segs.back().last + 1);

    // The log goes on after reopening, in the live database.
    f.Open();
    REQUIRE(f.log->Append(Numbered(0)).ok());
    f.log.reset();
    full = VerifyAuditLog(f.db_path, f.k0, std::nullopt, {archive.path().string()});
    REQUIRE(full.ok());
    CHECK(full->ok);
    CHECK(full->records == kRecords + 2);
  }

  SECTION("a sealed segment missing from the middle is found") {
    std::filesystem::remove(segs[segs.size() / 2].path);
    if (segs.size() >= 3) {
      v = f.Verify();
      CHECK_FALSE(v.ok);
      CHECK(v.first_bad_seq == segs[segs.size() / 2].first);
    }
  }

  SECTION("a rotation cut between its two renames is finished at the next "
          "open") {
    // As if the daemon died after sealing: the live database renamed away,
    // the new one still under its temporary name.
    const std::string sealed = AuditSegmentPath(f.db_path, segs.back().last + 1, kRecords + 1);
    std::filesystem::copy_file(f.db_path, f.db_path + ".next");
    std::filesystem::rename(f.db_path, sealed);
    f.Open();
    f.log.reset();
    std::filesystem::remove(sealed);
    v = f.Verify();
    CHECK(v.ok);
    CHECK(v.records == kRecords + 1);
  }
}

}  // namespace
}  // namespace strongroom::acl
