// The vault config and key hierarchy (crypto/vault_config.h).
#include <catch2/catch.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "crypto/vault_config.h"
#include "tests/unit/test_util.h"

namespace strongroom::crypto {
namespace {

using nlohmann::json;

// Small scrypt cost so the tests run quickly; still within the bounds.
constexpr ScryptParams kFast{10, 8, 1};
constexpr char kPass[] = "correct horse battery staple";

Bytes KeyBytes(const SecretKey& k) { return Bytes(k.span().begin(), k.span().end()); }

void CheckSameKeys(const VaultKeys& a, const VaultKeys& b) {
  CHECK(KeyBytes(a.master) == KeyBytes(b.master));
  CHECK(KeyBytes(a.names) == KeyBytes(b.names));
  CHECK(KeyBytes(a.files) == KeyBytes(b.files));
  CHECK(KeyBytes(a.audit) == KeyBytes(b.audit));
  CHECK(KeyBytes(a.certificates) == KeyBytes(b.certificates));
  CHECK(KeyBytes(a.binding) == KeyBytes(b.binding));
  CHECK(KeyBytes(a.rows) == KeyBytes(b.rows));
}

struct ConfigFixture {
  VaultKeys keys;
  VaultConfig config = VaultConfig::Create(kPass, kFast, &keys);
  std::string text = config.Serialize();
};

// Parses `text`, applies `edit` to the JSON and serialises it again.
std::string Edit(const std::string& text, const std::function<void(json&)>& edit) {
  json j = json::parse(text);
  edit(j);
  return j.dump(2);
}

// A base64url field with one decoded byte flipped (still canonical).
std::string FlipB64(const std::string& b64, size_t index) {
  Bytes raw;
  REQUIRE(Base64UrlDecode(b64, &raw));
  raw.at(index) ^= 0x01;
  return Base64UrlEncode(raw);
}

TEST_CASE("vault_config: Create gives distinct keys of the documented sizes", "[vault_config]") {
  ConfigFixture f;
  CHECK(f.keys.master.size() == 32);
  CHECK(f.keys.names.size() == 64);
  CHECK(f.keys.files.size() == 32);
  CHECK(f.keys.audit.size() == 32);
  CHECK(f.keys.certificates.size() == 32);
  CHECK(f.keys.binding.size() == 32);
  CHECK(f.keys.rows.size() == 32);
  CHECK(KeyBytes(f.keys.binding) == KeyBytes(Hkdf(f.keys.names, "strongroom/v1/binding", 32)));
  CHECK(KeyBytes(f.keys.rows) == KeyBytes(Hkdf(f.keys.files, "strongroom/v1/object-rows", 32)));
  CHECK(KeyBytes(f.keys.rows) != KeyBytes(f.keys.binding));
  CHECK(KeyBytes(f.keys.files) != KeyBytes(f.keys.audit));
  CHECK(KeyBytes(f.keys.master) != KeyBytes(f.keys.files));
  CHECK(f.config.vault_id().size() == 32);
  CHECK(f.config.scrypt().log_n == kFast.log_n);

  VaultKeys other_keys;
  const VaultConfig other = VaultConfig::Create(kPass, kFast, &other_keys);
  CHECK(other.vault_id() != f.config.vault_id());
  CHECK(KeyBytes(other_keys.master) != KeyBytes(f.keys.master));
}

TEST_CASE("vault_config: Create, Serialize, Parse, Unlock round trip", "[vault_config]") {
  ConfigFixture f;
  // No key material in the clear.
  const Bytes text = testing::ToBytes(f.text);
  CHECK_FALSE(testing::Contains(text, f.keys.master.span()));
  CHECK_FALSE(testing::Contains(text, testing::ToBytes(Base64UrlEncode(f.keys.master.span()))));
  CHECK_FALSE(testing::Contains(text, testing::ToBytes(HexEncode(f.keys.master.span()))));
  CHECK(f.text.find(kPass) == std::string::npos);

  Result<VaultConfig> parsed = VaultConfig::Parse(f.text);
  REQUIRE(parsed.ok());
  CHECK(parsed->vault_id() == f.config.vault_id());
  CHECK(parsed->scrypt().log_n == 10);
  CHECK(parsed->scrypt().r == 8);
  CHECK(parsed->scrypt().p == 1);
  CHECK(parsed->Serialize() == f.text);

  Result<VaultKeys> unlocked = parsed->Unlock(kPass);
  REQUIRE(unlocked.ok());
  CheckSameKeys(*unlocked, f.keys);
  // The in-memory config unlocks too.
  Result<VaultKeys> direct = f.config.Unlock(kPass);
  REQUIRE(direct.ok());
  CheckSameKeys(*direct, f.keys);
}

TEST_CASE("vault_config: a wrong passphrase gives kWrongPassphrase", "[vault_config]") {
  ConfigFixture f;
  Result<VaultConfig> parsed = VaultConfig::Parse(f.text);
  REQUIRE(parsed.ok());
  for (std::string_view wrong : {std::string_view("correct horse battery stapl"),
                                 std::string_view("Correct horse battery staple"),
                                 std::string_view(""), std::string_view("x")}) {
    Result<VaultKeys> r = parsed->Unlock(wrong);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Status::Code::kWrongPassphrase);
  }
}

TEST_CASE("vault_config: editing any field makes Unlock fail", "[vault_config][tamper]") {
  ConfigFixture f;
  const json original = json::parse(f.text);
  std::vector<std::pair<std::string, std::function<void(json&)>>> edits = {
      {"vault_id",
       [](json& j) {
         std::string id = j["vault_id"];
         id[0] = id[0] == 'a' ? 'b' : 'a';
         j["vault_id"] = id;
       }},
      {"created", [](json& j) { j["created"] = "2000-01-01T00:00:00Z"; }},
      {"salt", [](json& j) { j["kdf"]["salt"] = FlipB64(j["kdf"]["salt"], 0); }},
      {"salt (other length)", [](json& j) { j["kdf"]["salt"] = Base64UrlEncode(Bytes(16, 3)); }},
      {"log_n 10 -> 11", [](json& j) { j["kdf"]["log_n"] = 11; }},
      {"r 8 -> 9", [](json& j) { j["kdf"]["r"] = 9; }},
      {"r 8 -> 1", [](json& j) { j["kdf"]["r"] = 1; }},
      {"p 1 -> 2", [](json& j) { j["kdf"]["p"] = 2; }},
      {"subkeys.names", [](json& j) { j["subkeys"]["names"] = FlipB64(j["subkeys"]["names"], 20); }},
      {"subkeys.files", [](json& j) { j["subkeys"]["files"] = FlipB64(j["subkeys"]["files"], 0); }},
      {"subkeys swapped",
       [](json& j) {
         json audit = j["subkeys"]["audit"];
         j["subkeys"]["audit"] = j["subkeys"]["files"];
         j["subkeys"]["files"] = audit;
       }},
      {"master_key nonce", [](json& j) { j["master_key"] = FlipB64(j["master_key"], 0); }},
      {"master_key body", [](json& j) { j["master_key"] = FlipB64(j["master_key"], 20); }},
      {"master_key tag", [](json& j) { j["master_key"] = FlipB64(j["master_key"], 59); }},
  };
  for (const auto& [what, edit] : edits) {
    INFO("edited " << what);
    json j = original;
    edit(j);
    REQUIRE(j != original);
    Result<VaultConfig> parsed = VaultConfig::Parse(j.dump(2));
    if (!parsed.ok()) {
      CHECK(parsed.status().code() == Status::Code::kIntegrity);
      continue;
    }
    Result<VaultKeys> r = parsed->Unlock(kPass);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Status::Code::kWrongPassphrase);
  }
}

TEST_CASE("vault_config: out-of-bounds KDF parameters fail Parse with kIntegrity",
          "[vault_config][tamper]") {
  ConfigFixture f;
  const std::pair<const char*, json> cases[] = {
      {"log_n", 40},   {"log_n", 64},  {"log_n", 9},     {"log_n", -1}, {"log_n", 23},
      {"log_n", 1000}, {"r", 0},       {"r", 33},        {"r", 1 << 20}, {"r", -8},
      {"p", 0},        {"p", 17},      {"p", 1 << 20},   {"log_n", 10.5}, {"log_n", "10"},
      {"r", nullptr},  {"p", true},    {"log_n", 1ULL << 63},
  };
  for (const auto& [field, value] : cases) {
    INFO(field << " = " << value.dump());
    const std::string edited = Edit(f.text, [&](json& j) { j["kdf"][field] = value; });
    const auto start = std::chrono::steady_clock::now();
    Result<VaultConfig> parsed = VaultConfig::Parse(edited);
    const auto took = std::chrono::steady_clock::now() - start;
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.status().code() == Status::Code::kIntegrity);
    // Parse never runs scrypt.
    CHECK(took < std::chrono::seconds(1));
  }
  // Each within its own range, but 128 * r * N over the memory cap.
  const std::string combo = Edit(f.text, [](json& j) {
    j["kdf"]["log_n"] = 22;
    j["kdf"]["r"] = 32;
  });
  Result<VaultConfig> parsed = VaultConfig::Parse(combo);
  REQUIRE_FALSE(parsed.ok());
  CHECK(parsed.status().code() == Status::Code::kIntegrity);
}

TEST_CASE("vault_config: truncated or malformed JSON fails Parse with kIntegrity",
          "[vault_config]") {
  ConfigFixture f;
  // Every proper prefix of the JSON object (the text ends in "}\n").
  for (size_t n = 0; n + 1 < f.text.size(); ++n) {
    Result<VaultConfig> parsed = VaultConfig::Parse(std::string_view(f.text).substr(0, n));
    INFO("prefix of " << n << " bytes");
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.status().code() == Status::Code::kIntegrity);
  }
  for (const char* text : {"", "null", "[]", "42", "\"x\"", "{}", "{\"format\":\"strongroom-vault\"}",
                           "\xff\xfe"}) {
    INFO(text);
    Result<VaultConfig> parsed = VaultConfig::Parse(text);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.status().code() == Status::Code::kIntegrity);
  }
}

TEST_CASE("vault_config: structural edits fail Parse with kIntegrity", "[vault_config][tamper]") {
  ConfigFixture f;
  std::vector<std::pair<std::string, std::function<void(json&)>>> edits = {
      {"no format", [](json& j) { j.erase("format"); }},
      {"other format", [](json& j) { j["format"] = "gocryptfs"; }},
      {"version 2", [](json& j) { j["version"] = 2; }},
      {"version string", [](json& j) { j["version"] = "1"; }},
      {"no vault_id", [](json& j) { j.erase("vault_id"); }},
      {"vault_id number", [](json& j) { j["vault_id"] = 5; }},
      {"no created", [](json& j) { j.erase("created"); }},
      {"no kdf", [](json& j) { j.erase("kdf"); }},
      {"kdf array", [](json& j) { j["kdf"] = json::array(); }},
      {"other kdf", [](json& j) { j["kdf"]["alg"] = "argon2id"; }},
      {"short salt", [](json& j) { j["kdf"]["salt"] = Base64UrlEncode(Bytes(15, 1)); }},
      {"salt not base64url", [](json& j) { j["kdf"]["salt"] = "not base64!"; }},
      {"no master_key", [](json& j) { j.erase("master_key"); }},
      {"short master_key",
       [](json& j) {
         Bytes raw;
         REQUIRE(Base64UrlDecode(j["master_key"].get<std::string>(), &raw));
         raw.pop_back();
         j["master_key"] = Base64UrlEncode(raw);
       }},
      {"no subkeys", [](json& j) { j.erase("subkeys"); }},
      {"missing subkey", [](json& j) { j["subkeys"].erase("audit"); }},
      {"extra subkey", [](json& j) { j["subkeys"]["extra"] = j["subkeys"]["audit"]; }},
      {"subkey wrong size", [](json& j) { j["subkeys"]["names"] = j["subkeys"]["files"]; }},
  };
  for (const auto& [what, edit] : edits) {
    INFO(what);
    Result<VaultConfig> parsed = VaultConfig::Parse(Edit(f.text, edit));
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.status().code() == Status::Code::kIntegrity);
  }
}

TEST_CASE("vault_config: non-string format or kdf.alg fails Parse without throwing",
          "[vault_config][tamper]") {
  // An edited config must give kIntegrity, not an exception out of Parse
  // (which would terminate the mount or passwd command).
  ConfigFixture f;
  const std::pair<std::string, std::function<void(json&)>> edits[] = {
      {"format number", [](json& j) { j["format"] = 1; }},
      {"format null", [](json& j) { j["format"] = nullptr; }},
      {"kdf.alg number", [](json& j) { j["kdf"]["alg"] = 7; }},
      {"kdf.alg object", [](json& j) { j["kdf"]["alg"] = json::object(); }},
  };
  for (const auto& [what, edit] : edits) {
    INFO(what);
    const std::string text = Edit(f.text, edit);
    bool threw = false;
    Status st;
    try {
      Result<VaultConfig> parsed = VaultConfig::Parse(text);
      st = parsed.status();
    } catch (const std::exception& e) {
      threw = true;
      UNSCOPED_INFO("Parse threw: " << e.what());
    }
    CHECK_FALSE(threw);
    if (!threw) CHECK(st.code() == Status::Code::kIntegrity);
  }
}

TEST_CASE("vault_config: ChangePassphrase keeps the master key and every subkey",
          "[vault_config]") {
  ConfigFixture f;
  VaultConfig config = *VaultConfig::Parse(f.text);
  const ScryptParams new_params{11, 8, 1};
  REQUIRE(config.ChangePassphrase(kPass, "new passphrase", new_params).ok());
  CHECK(config.scrypt().log_n == 11);
  CHECK(config.vault_id() == f.config.vault_id());

  const std::string text = config.Serialize();
  CHECK(text != f.text);
  // Subkey wraps are untouched; the salt and master wrap are new.
  const json before = json::parse(f.text), after = json::parse(text);
  CHECK(after["subkeys"] == before["subkeys"]);
  CHECK(after["kdf"]["salt"] != before["kdf"]["salt"]);
  CHECK(after["master_key"] != before["master_key"]);

  Result<VaultConfig> parsed = VaultConfig::Parse(text);
  REQUIRE(parsed.ok());
  Result<VaultKeys> old_try = parsed->Unlock(kPass);
  REQUIRE_FALSE(old_try.ok());
  CHECK(old_try.status().code() == Status::Code::kWrongPassphrase);
  Result<VaultKeys> unlocked = parsed->Unlock("new passphrase");
  REQUIRE(unlocked.ok());
  CheckSameKeys(*unlocked, f.keys);
}

TEST_CASE("vault_config: ChangePassphrase with the wrong old passphrase changes nothing",
          "[vault_config]") {
  ConfigFixture f;
  VaultConfig config = *VaultConfig::Parse(f.text);
  Status st = config.ChangePassphrase("not it", "new passphrase", kFast);
  REQUIRE_FALSE(st.ok());
  CHECK(st.code() == Status::Code::kWrongPassphrase);
  CHECK(config.Serialize() == f.text);
  REQUIRE(config.Unlock(kPass).ok());
}


// ---- key slots and rekey ----

const std::string kKeyFile(48, 'k');
constexpr char kPass2[] = "second admin's passphrase";

VaultConfig::Unlocked OpenPass(const VaultConfig& c, std::string_view pass) {
  Result<VaultConfig::Unlocked> u = c.Open({KeySlot::Kind::kPassphrase, pass});
  REQUIRE(u.ok());
  return std::move(u).value();
}

TEST_CASE("vault_config: key slots: each secret unlocks the same keys, through text", "[vault_config]") {
  ConfigFixture f;
  CHECK(f.config.version() == VaultConfig::kVersion);
  const VaultConfig::Unlocked by = OpenPass(f.config, kPass);
  CHECK(by.slot == 1);
  Result<int> file_slot = f.config.AddSlot(by, {KeySlot::Kind::kKeyFile, kKeyFile}, kFast, "backup key");
  REQUIRE(file_slot.ok());
  Result<int> pass_slot = f.config.AddSlot(by, {KeySlot::Kind::kPassphrase, kPass2}, kFast, "bob");
  REQUIRE(pass_slot.ok());
  CHECK(f.config.version() == VaultConfig::kSlotsVersion);
  Result<VaultConfig> parsed = VaultConfig::Parse(f.config.Serialize());
  REQUIRE(parsed.ok());
  REQUIRE(parsed->slots().size() == 3);
  CHECK(parsed->slots()[1].label == "backup key");
  for (const UnlockSecret& secret : {UnlockSecret{KeySlot::Kind::kPassphrase, kPass},
                                     UnlockSecret{KeySlot::Kind::kKeyFile, kKeyFile},
                                     UnlockSecret{KeySlot::Kind::kPassphrase, kPass2}}) {
    Result<VaultConfig::Unlocked> u = parsed->Open(secret);
    REQUIRE(u.ok());
    CheckSameKeys(u->keys, f.keys);
  }
  CHECK(parsed->Open({KeySlot::Kind::kPassphrase, "wrong"}).status().code() == Status::Code::kWrongPassphrase);
  CHECK(parsed->Open({KeySlot::Kind::kKeyFile, std::string(48, 'x')}).status().code() ==
        Status::Code::kWrongPassphrase);
  // A key file too short to be a key is refused before anything is tried.
  CHECK(parsed->Open({KeySlot::Kind::kKeyFile, "short"}).status().code() == Status::Code::kInvalid);
}

TEST_CASE("vault_config: key slots: removing one, never the last; an edited slot breaks only itself",
          "[vault_config]") {
  ConfigFixture f;
  const VaultConfig::Unlocked by = OpenPass(f.config, kPass);
  REQUIRE(f.config.AddSlot(by, {KeySlot::Kind::kPassphrase, kPass2}, kFast, "").ok());
  // Editing slot 2's parameters: slot 2 no longer opens, slot 1 still does.
  const std::string edited = Edit(f.config.Serialize(), [](json& j) { j["keyslots"][1]["label"] = "mallory"; });
  Result<VaultConfig> e = VaultConfig::Parse(edited + "\n");
  REQUIRE(e.ok());
  CHECK_FALSE(e->Open({KeySlot::Kind::kPassphrase, kPass2}).ok());
  CHECK(e->Open({KeySlot::Kind::kPassphrase, kPass}).ok());
  // Editing the common header breaks every slot.
  const std::string header = Edit(f.config.Serialize(), [](json& j) { j["created"] = "2000-01-01T00:00:00Z"; });
  Result<VaultConfig> h = VaultConfig::Parse(header + "\n");
  REQUIRE(h.ok());
  CHECK_FALSE(h->Open({KeySlot::Kind::kPassphrase, kPass}).ok());
  CHECK_FALSE(h->Open({KeySlot::Kind::kPassphrase, kPass2}).ok());

  REQUIRE(f.config.RemoveSlot(1).ok());
  CHECK_FALSE(f.config.Open({KeySlot::Kind::kPassphrase, kPass}).ok());
  CHECK(f.config.Open({KeySlot::Kind::kPassphrase, kPass2}).ok());
  CHECK(f.config.RemoveSlot(2).code() == Status::Code::kInvalid);  // the last
  CHECK(f.config.RemoveSlot(7).code() == Status::Code::kNotFound);
  REQUIRE(f.config.slots().size() == 1);
}

TEST_CASE("vault_config: key slots added and removed over and over: the config still parses and opens",
          "[vault_config]") {
  ConfigFixture f;
  VaultConfig::Unlocked by = OpenPass(f.config, kPass);
  // A second slot replaced 1100 times (key rotation): ids stay in range.
  Result<int> current = f.config.AddSlot(by, {KeySlot::Kind::kPassphrase, kPass2}, kFast, "rotating");
  REQUIRE(current.ok());
  for (int i = 0; i < 1100; ++i) {
    Result<int> next = f.config.AddSlot(by, {KeySlot::Kind::kPassphrase, kPass2}, kFast, "rotating");
    REQUIRE(next.ok());
    REQUIRE(f.config.RemoveSlot(*current).ok());
    current = next;
  }
  Result<VaultConfig> parsed = VaultConfig::Parse(f.config.Serialize());
  INFO(parsed.status().ToString());
  REQUIRE(parsed.ok());
  REQUIRE(parsed->slots().size() == 2);
  CHECK(parsed->slots()[0].id != parsed->slots()[1].id);
  CHECK(parsed->Open({KeySlot::Kind::kPassphrase, kPass2}).ok());
  CHECK(parsed->Open({KeySlot::Kind::kPassphrase, kPass}).ok());
}

TEST_CASE("vault_config: a passphrase change re-wraps only the slot it opens", "[vault_config]") {
  ConfigFixture f;
  const VaultConfig::Unlocked by = OpenPass(f.config, kPass);
  REQUIRE(f.config.AddSlot(by, {KeySlot::Kind::kPassphrase, kPass2}, kFast, "").ok());
  REQUIRE(f.config.ChangePassphrase(kPass2, "brand new", kFast).ok());
  CHECK(f.config.Open({KeySlot::Kind::kPassphrase, kPass}).ok());
  CHECK(f.config.Open({KeySlot::Kind::kPassphrase, "brand new"}).ok());
  CHECK_FALSE(f.config.Open({KeySlot::Kind::kPassphrase, kPass2}).ok());
}

TEST_CASE("vault_config: rekey: a new master and files key, the others kept, every slot still opens",
          "[vault_config]") {
  ConfigFixture f;
  const VaultConfig::Unlocked by = OpenPass(f.config, kPass);
  REQUIRE(f.config.AddSlot(by, {KeySlot::Kind::kKeyFile, kKeyFile}, kFast, "").ok());
  std::map<int, SecretKey> keks;
  keks.emplace(1, OpenPass(f.config, kPass).kek.Clone());
  // Not every slot opened: refused.
  VaultKeys unused;
  CHECK_FALSE(f.config.Rekeyed(f.keys, keks, &unused).ok());
  Result<VaultConfig::Unlocked> file = f.config.Open({KeySlot::Kind::kKeyFile, kKeyFile});
  REQUIRE(file.ok());
  keks.emplace(2, std::move(file->kek));
  VaultKeys fresh;
  Result<VaultConfig> next = f.config.Rekeyed(f.keys, keks, &fresh);
  REQUIRE(next.ok());
  CHECK(KeyBytes(fresh.master) != KeyBytes(f.keys.master));
  CHECK(KeyBytes(fresh.files) != KeyBytes(f.keys.files));
  CHECK(KeyBytes(fresh.rows) != KeyBytes(f.keys.rows));
  CHECK(KeyBytes(fresh.names) == KeyBytes(f.keys.names));
  CHECK(KeyBytes(fresh.audit) == KeyBytes(f.keys.audit));
  CHECK(KeyBytes(fresh.certificates) == KeyBytes(f.keys.certificates));
  Result<VaultConfig> parsed = VaultConfig::Parse(next->Serialize());
  REQUIRE(parsed.ok());
  for (const UnlockSecret& secret :
       {UnlockSecret{KeySlot::Kind::kPassphrase, kPass}, UnlockSecret{KeySlot::Kind::kKeyFile, kKeyFile}}) {
    Result<VaultConfig::Unlocked> u = parsed->Open(secret);
    REQUIRE(u.ok());
    CheckSameKeys(u->keys, fresh);
  }
}

}  // namespace
}  // namespace strongroom::crypto
