// The SQLite policy store (acl/store.h).
#include <catch2/catch.hpp>

#include <chrono>
#include <random>
#include <thread>
#include <string>

#include "acl/store.h"
#include "crypto/primitives.h"
#include "tests/unit/test_util.h"

namespace strongroom::acl {
namespace {

using testing::TempDir;

constexpr char kVaultId[] = "00112233445566778899aabbccddeeff";

template <size_t N>
std::array<uint8_t, N> RandomArray() {
  std::array<uint8_t, N> a;
  crypto::RandomBytes(a);
  return a;
}

Blob RandomBlob(size_t n) {
  Blob b(n);
  crypto::RandomBytes(b);
  return b;
}

ObjectRow MakeRow(ObjectKind kind = ObjectKind::kFile) {
  ObjectRow row;
  row.id = RandomArray<16>();
  row.kind = kind;
  row.place = {RandomArray<16>(), RandomArray<16>()};
  if (kind == ObjectKind::kFile) row.wrapped_key = RandomBlob(32 + 28);
  row.mac = RandomBlob(32);
  return row;
}

std::unique_ptr<Store> MustCreate(const std::string& path, const std::string& vault_id = kVaultId) {
  Result<std::unique_ptr<Store>> r = CreateSqliteStore(path, vault_id);
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  return std::move(*r);
}

TEST_CASE("store: create, then open with the same vault ID", "[store]") {
  TempDir dir;
  const std::string path = dir.Sub("policy.db");
  const ObjectRow row = MakeRow();
  {
    auto store = MustCreate(path);
    REQUIRE(store->InsertObject(row).ok());
    Result<std::string> id = store->GetMeta("vault_id");
    REQUIRE(id.ok());
    CHECK(*id == kVaultId);
    REQUIRE(store->SyncDurable().ok());
  }
  // Creating over an existing store fails.
  CHECK_FALSE(CreateSqliteStore(path, kVaultId).ok());

  Result<std::unique_ptr<Store>> opened = OpenSqliteStore(path, kVaultId);
  INFO(opened.status().ToString());
  REQUIRE(opened.ok());
  Result<ObjectRow> got = (*opened)->GetObject(row.id);
  REQUIRE(got.ok());
  CHECK(got->wrapped_key == row.wrapped_key);
}

TEST_CASE("store: insert, get, list and delete object rows", "[store]") {
  TempDir dir;
  auto store = MustCreate(dir.Sub("policy.db"));
  const ObjectRow file = MakeRow(ObjectKind::kFile);
  const ObjectRow directory = MakeRow(ObjectKind::kDirectory);
  const ObjectRow link = MakeRow(ObjectKind::kSymlink);
  REQUIRE(store->InsertObject(file).ok());
  REQUIRE(store->InsertObject(directory).ok());
  REQUIRE(store->InsertObject(link).ok());

  Result<ObjectRow> got = store->GetObject(file.id);
  REQUIRE(got.ok());
  CHECK(got->id == file.id);
  CHECK(got->kind == ObjectKind::kFile);
  CHECK(got->place == file.place);
  CHECK_FALSE(got->previous_place.has_value());
  CHECK(got->wrapped_key == file.wrapped_key);
  CHECK(got->mac == file.mac);
  CHECK_FALSE(got->unlinked);

  got = store->GetObject(directory.id);
  REQUIRE(got.ok());
  CHECK(got->kind == ObjectKind::kDirectory);
  CHECK(got->wrapped_key.empty());
  got = store->GetObject(link.id);
  REQUIRE(got.ok());
  CHECK(got->kind == ObjectKind::kSymlink);

  // Duplicate IDs are refused.
  ObjectRow dup = MakeRow();
  dup.id = file.id;
  Status st = store->InsertObject(dup);
  REQUIRE_FALSE(st.ok());
  CHECK(st.code() == Status::Code::kExists);
  CHECK(store->GetObject(file.id)->wrapped_key == file.wrapped_key);

  Result<std::vector<ObjectRow>> all = store->ListObjects();
  REQUIRE(all.ok());
  CHECK(all->size() == 3);

  const Blob marked_mac = RandomBlob(32);
  REQUIRE(store->SetUnlinked(file.id, true, marked_mac).ok());
  CHECK(store->GetObject(file.id)->unlinked);
  CHECK(store->GetObject(file.id)->mac == marked_mac);
  REQUIRE(store->SetUnlinked(file.id, false, file.mac).ok());
  CHECK_FALSE(store->GetObject(file.id)->unlinked);
  CHECK(store->GetObject(file.id)->mac == file.mac);
  // Rebinding clears the mark.
  REQUIRE(store->SetUnlinked(file.id, true, marked_mac).ok());
  REQUIRE(store->Rebind(file.id, file.place, std::nullopt, file.mac).ok());
  CHECK_FALSE(store->GetObject(file.id)->unlinked);
  REQUIRE(store->SetUnlinked(file.id, true, marked_mac).ok());

  REQUIRE(store->DeleteObject(file.id).ok());
  Result<ObjectRow> gone = store->GetObject(file.id);
  REQUIRE_FALSE(gone.ok());
  CHECK(gone.status().code() == Status::Code::kNotFound);
  // Deleting a missing row is fine.
  CHECK(store->DeleteObject(file.id).ok());
  CHECK(store->DeleteObject(RandomArray<16>()).ok());
  CHECK(store->ListObjects()->size() == 2);

  Result<ObjectRow> missing = store->GetObject(RandomArray<16>());
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == Status::Code::kNotFound);
}

TEST_CASE("store: Rebind begins, finishes and undoes a move", "[store][move]") {
  TempDir dir;
  auto store = MustCreate(dir.Sub("policy.db"));
  const ObjectRow row = MakeRow();
  REQUIRE(store->InsertObject(row).ok());
  const Place from = row.place;
  const Place to{RandomArray<16>(), RandomArray<16>()};

  // Begin: bound to the new place, the old one remembered (write-ahead).
  const Blob moving_mac = RandomBlob(32);
  REQUIRE(store->Rebind(row.id, to, from, moving_mac).ok());
  Result<ObjectRow> got = store->GetObject(row.id);
  REQUIRE(got.ok());
  CHECK(got->place == to);
  REQUIRE(got->previous_place.has_value());
  CHECK(*got->previous_place == from);
  CHECK(got->mac == moving_mac);
  CHECK(got->wrapped_key == row.wrapped_key);
  CHECK(got->kind == row.kind);

  SECTION("finish forgets the previous place") {
    const Blob done_mac = RandomBlob(32);
    REQUIRE(store->Rebind(row.id, to, std::nullopt, done_mac).ok());
    got = store->GetObject(row.id);
    REQUIRE(got.ok());
    CHECK(got->place == to);
    CHECK_FALSE(got->previous_place.has_value());
    CHECK(got->mac == done_mac);
    CHECK(got->wrapped_key == row.wrapped_key);
  }
  SECTION("undo restores the previous place") {
    REQUIRE(store->Rebind(row.id, from, std::nullopt, row.mac).ok());
    got = store->GetObject(row.id);
    REQUIRE(got.ok());
    CHECK(got->place == from);
    CHECK_FALSE(got->previous_place.has_value());
    CHECK(got->mac == row.mac);
  }
  SECTION("the in-flight move survives reopening") {
    store.reset();
    Result<std::unique_ptr<Store>> reopened = OpenSqliteStore(dir.Sub("policy.db"), kVaultId);
    INFO(reopened.status().ToString());
    REQUIRE(reopened.ok());
    got = (*reopened)->GetObject(row.id);
    REQUIRE(got.ok());
    CHECK(got->place == to);
    REQUIRE(got->previous_place.has_value());
    CHECK(*got->previous_place == from);
    CHECK(got->mac == moving_mac);
    REQUIRE((*reopened)->Rebind(row.id, from, std::nullopt, row.mac).ok());
    CHECK((*reopened)->GetObject(row.id)->place == from);
  }
}

TEST_CASE("store: Rebind of one object leaves the others alone", "[store][move]") {
  TempDir dir;
  auto store = MustCreate(dir.Sub("policy.db"));
  const ObjectRow a = MakeRow(), b = MakeRow(ObjectKind::kDirectory);
  REQUIRE(store->InsertObject(a).ok());
  REQUIRE(store->InsertObject(b).ok());
  REQUIRE(store->Rebind(a.id, b.place, a.place, RandomBlob(32)).ok());
  Result<ObjectRow> got = store->GetObject(b.id);
  REQUIRE(got.ok());
  CHECK(got->place == b.place);
  CHECK_FALSE(got->previous_place.has_value());
  CHECK(got->mac == b.mac);
}

TEST_CASE("store: long names put, get, replace and delete", "[store][long]") {
  TempDir dir;
  auto store = MustCreate(dir.Sub("policy.db"));
  const std::string backing = "~" + std::string(43, 'b');
  const std::string encoded(362, 'E');
  REQUIRE(store->PutLongName(backing, encoded).ok());
  Result<std::string> got = store->GetLongName(backing);
  REQUIRE(got.ok());
  CHECK(*got == encoded);

  REQUIRE(store->PutLongName(backing, encoded + "F").ok());
  CHECK(*store->GetLongName(backing) == encoded + "F");

  Result<std::string> missing = store->GetLongName("~other");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == Status::Code::kNotFound);

  REQUIRE(store->DeleteLongName(backing).ok());
  got = store->GetLongName(backing);
  REQUIRE_FALSE(got.ok());
  CHECK(got.status().code() == Status::Code::kNotFound);
  CHECK(store->DeleteLongName(backing).ok());
}

TEST_CASE("store: meta values", "[store]") {
  TempDir dir;
  auto store = MustCreate(dir.Sub("policy.db"));
  REQUIRE(store->SetMeta("k", "v1").ok());
  CHECK(*store->GetMeta("k") == "v1");
  REQUIRE(store->SetMeta("k", "v2").ok());
  CHECK(*store->GetMeta("k") == "v2");
  Result<std::string> missing = store->GetMeta("nope");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == Status::Code::kNotFound);
}

TEST_CASE("store: opening with another vault ID fails with kIntegrity", "[store][integrity]") {
  TempDir dir;
  const std::string path = dir.Sub("policy.db");
  MustCreate(path).reset();
  Result<std::unique_ptr<Store>> r = OpenSqliteStore(path, "ffeeddccbbaa99887766554433221100");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Status::Code::kIntegrity);
  r = OpenSqliteStore(path, "");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Status::Code::kIntegrity);
  // The right ID still opens it.
  CHECK(OpenSqliteStore(path, kVaultId).ok());
}

TEST_CASE("store: a file of random bytes fails with kIntegrity", "[store][integrity]") {
  TempDir dir;
  const std::string path = dir.Sub("policy.db");
  std::mt19937 rng(7);
  for (size_t n : {size_t{100}, size_t{4096}, size_t{65536}}) {
    Blob junk(n);
    for (auto& b : junk) b = static_cast<uint8_t>(rng());
    testing::WriteAll(path, junk);
    Result<std::unique_ptr<Store>> r = OpenSqliteStore(path, kVaultId);
    INFO(n << " random bytes");
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Status::Code::kIntegrity);
  }
}

TEST_CASE("store: an empty file fails with kIntegrity", "[store][integrity]") {
  TempDir dir;
  const std::string path = dir.Sub("policy.db");
  testing::WriteAll(path, {});
  Result<std::unique_ptr<Store>> r = OpenSqliteStore(path, kVaultId);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Status::Code::kIntegrity);
}

TEST_CASE("store: a missing file fails with kIntegrity and is not created", "[store][integrity]") {
  TempDir dir;
  const std::string path = dir.Sub("policy.db");
  Result<std::unique_ptr<Store>> r = OpenSqliteStore(path, kVaultId);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Status::Code::kIntegrity);
  CHECK_FALSE(std::filesystem::exists(path));
}

TEST_CASE("store: a store with its header page damaged fails with kIntegrity",
          "[store][integrity]") {
  TempDir dir;
  const std::string path = dir.Sub("policy.db");
  MustCreate(path).reset();
  Blob bytes = testing::ReadAll(path);
  REQUIRE(bytes.size() > 100);
  for (size_t i = 0; i < 16; ++i) bytes[i] ^= 0xff;  // "SQLite format 3\0"
  testing::WriteAll(path, bytes);
  Result<std::unique_ptr<Store>> r = OpenSqliteStore(path, kVaultId);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Status::Code::kIntegrity);
}

// Every byte the store keeps on disk: the database, its WAL and its index.
Blob AllStoreBytes(const std::string& path) {
  Blob all;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    const Blob b = testing::ReadAll(path + suffix);
    all.insert(all.end(), b.begin(), b.end());
  }
  return all;
}

TEST_CASE("store: a deleted wrapped key is gone from the db, -wal and -shm files",
          "[store][erase]") {
  TempDir dir;
  const std::string path = dir.Sub("policy.db");
  auto store = MustCreate(path);

  const ObjectRow keep = MakeRow();
  const ObjectRow doomed = MakeRow();
  const ObjectRow doomed_late = MakeRow();
  REQUIRE(store->InsertObject(keep).ok());
  REQUIRE(store->InsertObject(doomed).ok());
  // This one reaches the main database file before it is deleted.
  REQUIRE(store->InsertObject(doomed_late).ok());
  REQUIRE(store->SyncDurable().ok());
  REQUIRE(store->CheckpointTruncate().ok());
  // Sanity check of the scan: live keys are found, raw, in the files.
  REQUIRE(testing::Contains(AllStoreBytes(path), doomed_late.wrapped_key));

  // Churn so the deleted row's page is rewritten in the WAL several times.
  for (int i = 0; i < 20; ++i) REQUIRE(store->InsertObject(MakeRow()).ok());
  REQUIRE(store->DeleteObject(doomed.id).ok());
  REQUIRE(store->DeleteObject(doomed_late.id).ok());
  REQUIRE(store->CheckpointTruncate().ok());

  SECTION("while the store is open") {
    const Blob bytes = AllStoreBytes(path);
    CHECK(testing::Contains(bytes, keep.wrapped_key));
    CHECK_FALSE(testing::Contains(bytes, doomed.wrapped_key));
    CHECK_FALSE(testing::Contains(bytes, doomed_late.wrapped_key));
    // Nor any 16-byte window of them (a row split over a page boundary).
    for (size_t off = 0; off + 16 <= doomed.wrapped_key.size(); off += 8) {
      CHECK_FALSE(testing::Contains(bytes, std::span(doomed.wrapped_key).subspan(off, 16)));
      CHECK_FALSE(testing::Contains(bytes, std::span(doomed_late.wrapped_key).subspan(off, 16)));
    }
  }
  SECTION("after closing") {
    store.reset();
    const Blob bytes = AllStoreBytes(path);
    CHECK(testing::Contains(bytes, keep.wrapped_key));
    CHECK_FALSE(testing::Contains(bytes, doomed.wrapped_key));
    CHECK_FALSE(testing::Contains(bytes, doomed_late.wrapped_key));
  }
}

TEST_CASE("store: deletions are checkpointed in the background soon after", "[store][erase]") {
  TempDir dir;
  const std::string path = dir.Sub("policy.db");
  auto store = MustCreate(path);
  const ObjectRow doomed = MakeRow();
  REQUIRE(store->InsertObject(doomed).ok());
  REQUIRE(store->DeleteObject(doomed.id).ok());
  // The batched checkpoint runs within ~200 ms; allow generous slack.
  bool gone = false;
  for (int i = 0; i < 50 && !gone; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    gone = !testing::Contains(AllStoreBytes(path), doomed.wrapped_key);
  }
  CHECK(gone);
}

}  // namespace
}  // namespace strongroom::acl
