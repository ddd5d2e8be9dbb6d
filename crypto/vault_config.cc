#include "crypto/vault_config.h"

#include <algorithm>
#include <ctime>
#include <nlohmann/json.hpp>

#include "crypto/names.h"

namespace strongroom::crypto {
namespace {

using nlohmann::json;

constexpr char kFormat[] = "strongroom-vault";

struct SubkeySpec {
  const char* label;
  size_t size;
  SecretKey VaultKeys::*member;
};
constexpr SubkeySpec kSubkeys[] = {
    {"names", kNameKeySize, &VaultKeys::names},
    {"files", 32, &VaultKeys::files},
    {"audit", 32, &VaultKeys::audit},
    {"certificates", 32, &VaultKeys::certificates},
};

std::string SubkeyAad(std::string_view label) { return "strongroom/v1/subkey/" + std::string(label); }

std::string NowUtc() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// The string at `key`, or "" when it is missing or not a string (an edited
// config must fail cleanly, never throw).
std::string GetString(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

bool GetB64(const json& j, const char* key, Bytes* out) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() && Base64UrlDecode(it->get<std::string>(), out);
}

void DeriveKeys(VaultKeys* keys) {
  keys->binding = Hkdf(keys->names, "strongroom/v1/binding", 32);
  keys->rows = Hkdf(keys->files, "strongroom/v1/object-rows", 32);
}

constexpr size_t kMaxSlots = 32;
// Slot IDs run 1..kMaxSlotId (what Parse accepts).
constexpr int kMaxSlotId = 1000;

Bytes NewSalt() {
  Bytes salt(32);
  RandomBytes(salt);
  return salt;
}

json KdfJson(const KeySlot& slot) {
  return {{"alg", "scrypt"}, {"log_n", slot.scrypt.log_n}, {"r", slot.scrypt.r}, {"p", slot.scrypt.p},
          {"salt", Base64UrlEncode(slot.salt)}};
}

// A version-2 slot's fields, without its wrap.
json SlotJson(const KeySlot& slot) {
  json j;
  j["id"] = slot.id;
  j["label"] = slot.label;
  j["created"] = slot.created;
  if (slot.kind == KeySlot::Kind::kPassphrase) {
    j["type"] = "passphrase";
    j["kdf"] = KdfJson(slot);
  } else {
    j["type"] = "keyfile";
    j["salt"] = Base64UrlEncode(slot.salt);
  }
  return j;
}

// Scrypt parameters and salt, bounds-checked before scrypt can run.
Status ParseKdf(const json& kdf, KeySlot* slot) {
  auto bad = [](const char* what) { return Status::Integrity(std::string("corrupt config: ") + what); };
  if (GetString(kdf, "alg") != "scrypt") return bad("kdf algorithm");
  for (const char* k : {"log_n", "r", "p"}) {
    if (!kdf.contains(k) || !kdf[k].is_number_integer()) return bad("kdf parameters");
  }
  const int64_t log_n = kdf["log_n"], r = kdf["r"], p = kdf["p"];
  if (log_n < 0 || log_n > 64 || r < 0 || r > 1024 || p < 0 || p > 1024) {
    return bad("kdf parameters out of bounds");
  }
  slot->scrypt = {static_cast<int>(log_n), static_cast<int>(r), static_cast<int>(p)};
  if (!ScryptParamsInBounds(slot->scrypt)) return bad("kdf parameters out of bounds");
  if (!GetB64(kdf, "salt", &slot->salt) || slot->salt.size() < 16) return bad("kdf salt");
  return Status::Ok();
}

}  // namespace

// The fields every slot's wrap authenticates: everything but the slots.
std::string VaultConfig::CommonHeader(int version) const {
  json j;
  j["format"] = kFormat;
  j["version"] = version;
  j["vault_id"] = vault_id_;
  j["created"] = created_;
  json sub = json::object();
  for (const auto& [label, wrapped] : wrapped_subkeys_) sub[label] = Base64UrlEncode(wrapped);
  j["subkeys"] = sub;
  return j.dump();  // nlohmann orders keys, so this is canonical
}

// Version 1: the header with the single slot's "kdf". Version 2: the
// header with the slot's own fields under "slot"; editing a slot breaks
// that slot only, editing the header breaks all of them.
std::string VaultConfig::SlotAad(const KeySlot& slot) const {
  json j = json::parse(CommonHeader(version_));
  if (version_ == kVersion) {
    j["kdf"] = KdfJson(slot);
  } else {
    j["slot"] = SlotJson(slot);
  }
  return j.dump();
}

Result<SecretKey> VaultConfig::DeriveKek(const KeySlot& slot, const UnlockSecret& secret) {
  if (slot.kind == KeySlot::Kind::kPassphrase) {
    SecretKey kek;
    if (!Scrypt(secret.bytes, slot.salt, slot.scrypt, &kek)) return Status::Integrity("scrypt failed");
    return kek;
  }
  if (secret.bytes.size() < kMinKeyFileSize || secret.bytes.size() > kMaxKeyFileSize) {
    return Status::Invalid("a key file holds 32 bytes to 64 KiB");
  }
  const SecretKey ikm = SecretKey::FromBytes(AsBytes(secret.bytes));
  return Hkdf(ikm, "strongroom/v2/keyslot/keyfile/" + Base64UrlEncode(slot.salt), 32);
}

void VaultConfig::RewrapSlot(KeySlot* slot, const SecretKey& kek, const SecretKey& master) const {
  const std::string aad = SlotAad(*slot);
  slot->wrapped_master = Wrap(kek, AsBytes(aad), master.span());
}

Result<VaultConfig::Unlocked> VaultConfig::OpenSlot(const KeySlot& slot, const UnlockSecret& secret) const {
  Result<SecretKey> kek = DeriveKek(slot, secret);
  if (!kek.ok()) return kek.status();
  Unlocked out;
  const std::string aad = SlotAad(slot);
  if (!Unwrap(*kek, AsBytes(aad), slot.wrapped_master, &out.keys.master)) {
    return Status::WrongPassphrase("wrong passphrase (or the config header was modified)");
  }
  for (const auto& spec : kSubkeys) {
    if (!Unwrap(out.keys.master, AsBytes(SubkeyAad(spec.label)), wrapped_subkeys_.at(spec.label),
                &(out.keys.*spec.member))) {
      return Status::Integrity(std::string("the ") + spec.label + " subkey does not authenticate");
    }
  }
  DeriveKeys(&out.keys);
  out.slot = slot.id;
  out.kek = std::move(*kek);
  return out;
}

VaultConfig VaultConfig::Create(std::string_view passphrase, const ScryptParams& params,
                                VaultKeys* keys) {
  VaultConfig config;
  Bytes id(16);
  RandomBytes(id);
  config.vault_id_ = HexEncode(id);
  config.created_ = NowUtc();
  keys->master = SecretKey::Random(32);
  for (const auto& spec : kSubkeys) {
    keys->*spec.member = SecretKey::Random(spec.size);
    config.wrapped_subkeys_[spec.label] =
        Wrap(keys->master, AsBytes(SubkeyAad(spec.label)), (keys->*spec.member).span());
  }
  DeriveKeys(keys);
  KeySlot slot;
  slot.id = 1;
  slot.created = config.created_;
  slot.scrypt = params;
  slot.salt = NewSalt();
  Result<SecretKey> kek = DeriveKek(slot, {KeySlot::Kind::kPassphrase, passphrase});
  if (!kek.ok()) std::abort();
  config.RewrapSlot(&slot, *kek, keys->master);
  config.slots_.push_back(std::move(slot));
  return config;
}

Result<VaultConfig> VaultConfig::Parse(std::string_view text) {
  // Serialize() ends the file with a newline; without it the file was cut short.
  if (text.empty() || text.back() != '\n') return Status::Integrity("corrupt config: the file is truncated");
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Status::Integrity("the config is not valid JSON");
  auto bad = [](const char* what) { return Status::Integrity(std::string("corrupt config: ") + what); };
  if (GetString(j, "format") != kFormat) return bad("not a strongroom vault config");
  if (!j.contains("version") || !j["version"].is_number_integer() ||
      (j["version"] != kVersion && j["version"] != kSlotsVersion)) {
    return bad("unsupported version");
  }
  VaultConfig c;
  c.version_ = j["version"];
  if (!j.contains("vault_id") || !j["vault_id"].is_string()) return bad("vault_id");
  c.vault_id_ = j["vault_id"];
  if (!j.contains("created") || !j["created"].is_string()) return bad("created");
  c.created_ = j["created"];
  if (c.version_ == kVersion) {
    if (!j.contains("kdf") || !j["kdf"].is_object()) return bad("kdf");
    KeySlot slot;
    slot.id = 1;
    slot.created = c.created_;
    if (Status st = ParseKdf(j["kdf"], &slot); !st.ok()) return st;
    if (!GetB64(j, "master_key", &slot.wrapped_master) || slot.wrapped_master.size() != 32 + kWrapOverhead) {
      return bad("master_key");
    }
    c.slots_.push_back(std::move(slot));
  } else {
    if (!j.contains("keyslots") || !j["keyslots"].is_array() || j["keyslots"].empty()) return bad("keyslots");
    if (j["keyslots"].size() > kMaxSlots) return bad("too many keyslots");
    for (const json& js : j["keyslots"]) {
      if (!js.is_object()) return bad("keyslots");
      KeySlot slot;
      if (!js.contains("id") || !js["id"].is_number_integer() || js["id"] < 1 || js["id"] > kMaxSlotId) return bad("keyslot id");
      slot.id = js["id"];
      if (std::any_of(c.slots_.begin(), c.slots_.end(), [&](const KeySlot& s) { return s.id == slot.id; })) {
        return bad("duplicate keyslot id");
      }
      const std::string type = GetString(js, "type");
      if (type == "passphrase") {
        slot.kind = KeySlot::Kind::kPassphrase;
        if (!js.contains("kdf") || !js["kdf"].is_object()) return bad("keyslot kdf");
        if (Status st = ParseKdf(js["kdf"], &slot); !st.ok()) return st;
      } else if (type == "keyfile") {
        slot.kind = KeySlot::Kind::kKeyFile;
        if (!GetB64(js, "salt", &slot.salt) || slot.salt.size() < 16) return bad("keyslot salt");
      } else {
        return bad("keyslot type");
      }
      if (!js.contains("label") || !js["label"].is_string() || !js.contains("created") || !js["created"].is_string()) {
        return bad("keyslot label or created");
      }
      slot.label = js["label"];
      slot.created = js["created"];
      if (!GetB64(js, "master_key", &slot.wrapped_master) || slot.wrapped_master.size() != 32 + kWrapOverhead) {
        return bad("keyslot master_key");
      }
      c.slots_.push_back(std::move(slot));
    }
  }
  if (!j.contains("subkeys") || !j["subkeys"].is_object()) return bad("subkeys");
  for (const auto& spec : kSubkeys) {
    Bytes wrapped;
    if (!GetB64(j["subkeys"], spec.label, &wrapped) || wrapped.size() != spec.size + kWrapOverhead) {
      return bad("subkeys");
    }
    c.wrapped_subkeys_[spec.label] = std::move(wrapped);
  }
  if (j["subkeys"].size() != c.wrapped_subkeys_.size()) return bad("unknown subkeys");
  return c;
}

std::string VaultConfig::Serialize() const {
  json j = json::parse(CommonHeader(version_));
  if (version_ == kVersion) {
    j["kdf"] = KdfJson(slots_.front());
    j["master_key"] = Base64UrlEncode(slots_.front().wrapped_master);
  } else {
    json slots = json::array();
    for (const KeySlot& slot : slots_) {
      json js = SlotJson(slot);
      js["master_key"] = Base64UrlEncode(slot.wrapped_master);
      slots.push_back(std::move(js));
    }
    j["keyslots"] = std::move(slots);
  }
  return j.dump(2) + "\n";
}

Result<VaultConfig::Unlocked> VaultConfig::Open(const UnlockSecret& secret) const {
  const Status last = Status::WrongPassphrase(secret.kind == KeySlot::Kind::kPassphrase
                                            ? "wrong passphrase (or the config header was modified)"
                                            : "the key file opens no key slot (or the config header was modified)");
  for (const KeySlot& slot : slots_) {
    if (slot.kind != secret.kind) continue;
    Result<Unlocked> opened = OpenSlot(slot, secret);
    if (opened.ok()) return opened;
    if (opened.status().code() != Status::Code::kWrongPassphrase) return opened.status();
  }
  return last;
}

Result<VaultConfig::Unlocked> VaultConfig::OpenSlotById(int id, const UnlockSecret& secret) const {
  for (const KeySlot& slot : slots_) {
    if (slot.id != id) continue;
    if (slot.kind != secret.kind) return Status::WrongPassphrase("key slot " + std::to_string(id) + " is of another kind");
    return OpenSlot(slot, secret);
  }
  return Status::NotFound("no key slot " + std::to_string(id));
}

Result<VaultKeys> VaultConfig::Unlock(std::string_view passphrase) const {
  Result<Unlocked> opened = Open({KeySlot::Kind::kPassphrase, passphrase});
  if (!opened.ok()) return opened.status();
  return std::move(opened->keys);
}

Status VaultConfig::ChangePassphrase(std::string_view old_passphrase,
                                     std::string_view new_passphrase, const ScryptParams& params) {
  Result<Unlocked> opened = Open({KeySlot::Kind::kPassphrase, old_passphrase});
  if (!opened.ok()) return opened.status();
  for (KeySlot& slot : slots_) {
    if (slot.id != opened->slot) continue;
    slot.scrypt = params;
    slot.salt = NewSalt();
    Result<SecretKey> kek = DeriveKek(slot, {KeySlot::Kind::kPassphrase, new_passphrase});
    if (!kek.ok()) return kek.status();
    RewrapSlot(&slot, *kek, opened->keys.master);
  }
  return Status::Ok();
}

// Version 1 wraps its slot under the version-1 header; moving to version 2
// re-wraps it (with the key of the caller, who opened that single slot).
void VaultConfig::MoveToSlotsVersion(const Unlocked& by) {
  if (version_ == kSlotsVersion) return;
  version_ = kSlotsVersion;
  RewrapSlot(&slots_.front(), by.kek, by.keys.master);
}

Result<int> VaultConfig::AddSlot(const Unlocked& by, const UnlockSecret& secret, const ScryptParams& params,
                                 std::string label) {
  if (slots_.size() >= kMaxSlots) return Status::Invalid("a vault has at most " + std::to_string(kMaxSlots) + " key slots");
  if (by.keys.master.empty()) return Status::Invalid("the vault must be unlocked to add a key slot");
  MoveToSlotsVersion(by);
  KeySlot slot;
  // One more than the highest, so that a removed slot's ID is not soon
  // reused; after kMaxSlotId, the lowest free one.
  for (const KeySlot& s : slots_) slot.id = std::max(slot.id, s.id);
  ++slot.id;
  if (slot.id > kMaxSlotId) {
    slot.id = 1;
    while (std::any_of(slots_.begin(), slots_.end(), [&](const KeySlot& s) { return s.id == slot.id; })) ++slot.id;
  }
  slot.kind = secret.kind;
  slot.label = std::move(label);
  slot.created = NowUtc();
  slot.scrypt = params;
  slot.salt = NewSalt();
  Result<SecretKey> kek = DeriveKek(slot, secret);
  if (!kek.ok()) return kek.status();
  RewrapSlot(&slot, *kek, by.keys.master);
  slots_.push_back(std::move(slot));
  return slots_.back().id;
}

Status VaultConfig::RemoveSlot(int id) {
  auto it = std::find_if(slots_.begin(), slots_.end(), [id](const KeySlot& s) { return s.id == id; });
  if (it == slots_.end()) return Status::NotFound("no key slot " + std::to_string(id));
  if (slots_.size() == 1) return Status::Invalid("key slot " + std::to_string(id) + " is the last one: without it nothing unlocks the vault");
  slots_.erase(it);
  return Status::Ok();
}

Result<VaultConfig> VaultConfig::Rekeyed(const VaultKeys& old_keys, const std::map<int, SecretKey>& keks,
                                         VaultKeys* new_keys) const {
  for (const KeySlot& slot : slots_) {
    if (!keks.contains(slot.id)) return Status::Invalid("key slot " + std::to_string(slot.id) + " was not opened");
  }
  VaultConfig next = *this;
  next.version_ = kSlotsVersion;
  new_keys->master = SecretKey::Random(32);
  for (const auto& spec : kSubkeys) {
    new_keys->*spec.member =
        std::string_view(spec.label) == "files" ? SecretKey::Random(spec.size) : (old_keys.*spec.member).Clone();
    next.wrapped_subkeys_[spec.label] =
        Wrap(new_keys->master, AsBytes(SubkeyAad(spec.label)), (new_keys->*spec.member).span());
  }
  DeriveKeys(new_keys);
  for (KeySlot& slot : next.slots_) next.RewrapSlot(&slot, keks.at(slot.id), new_keys->master);
  return next;
}

const ScryptParams& VaultConfig::scrypt() const {
  for (const KeySlot& slot : slots_) {
    if (slot.kind == KeySlot::Kind::kPassphrase) return slot.scrypt;
  }
  return slots_.front().scrypt;
}

}  // namespace strongroom::crypto
