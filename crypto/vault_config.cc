#include "crypto/vault_config.h"

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

}  // namespace

std::string VaultConfig::HeaderAad() const {
  json j;
  j["format"] = kFormat;
  j["version"] = kVersion;
  j["vault_id"] = vault_id_;
  j["created"] = created_;
  j["kdf"] = {{"alg", "scrypt"}, {"log_n", scrypt_.log_n}, {"r", scrypt_.r}, {"p", scrypt_.p},
              {"salt", Base64UrlEncode(salt_)}};
  json sub = json::object();
  for (const auto& [label, wrapped] : wrapped_subkeys_) sub[label] = Base64UrlEncode(wrapped);
  j["subkeys"] = sub;
  return j.dump();  // nlohmann orders keys, so this is canonical
}

void VaultConfig::WrapMaster(std::string_view passphrase, const SecretKey& master) {
  salt_.assign(32, 0);
  RandomBytes(salt_);
  SecretKey kek;
  if (!Scrypt(passphrase, salt_, scrypt_, &kek)) std::abort();
  const std::string aad = HeaderAad();
  wrapped_master_ = Wrap(kek, AsBytes(aad), master.span());
}

VaultConfig VaultConfig::Create(std::string_view passphrase, const ScryptParams& params,
                                VaultKeys* keys) {
  VaultConfig config;
  Bytes id(16);
  RandomBytes(id);
  config.vault_id_ = HexEncode(id);
  config.created_ = NowUtc();
  config.scrypt_ = params;
  keys->master = SecretKey::Random(32);
  for (const auto& spec : kSubkeys) {
    keys->*spec.member = SecretKey::Random(spec.size);
    config.wrapped_subkeys_[spec.label] =
        Wrap(keys->master, AsBytes(SubkeyAad(spec.label)), (keys->*spec.member).span());
  }
  DeriveKeys(keys);
  config.WrapMaster(passphrase, keys->master);
  return config;
}

Result<VaultConfig> VaultConfig::Parse(std::string_view text) {
  // Serialize() ends the file with a newline; without it the file was cut short.
  if (text.empty() || text.back() != '\n') return Status::Integrity("corrupt config: the file is truncated");
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Status::Integrity("the config is not valid JSON");
  auto bad = [](const char* what) { return Status::Integrity(std::string("corrupt config: ") + what); };
  if (GetString(j, "format") != kFormat) return bad("not a strongroom vault config");
  if (!j.contains("version") || !j["version"].is_number_integer() || j["version"] != kVersion) {
    return bad("unsupported version");
  }
  VaultConfig c;
  if (!j.contains("vault_id") || !j["vault_id"].is_string()) return bad("vault_id");
  c.vault_id_ = j["vault_id"];
  if (!j.contains("created") || !j["created"].is_string()) return bad("created");
  c.created_ = j["created"];
  if (!j.contains("kdf") || !j["kdf"].is_object()) return bad("kdf");
  const json& kdf = j["kdf"];
  if (GetString(kdf, "alg") != "scrypt") return bad("kdf algorithm");
  for (const char* k : {"log_n", "r", "p"}) {
    if (!kdf.contains(k) || !kdf[k].is_number_integer()) return bad("kdf parameters");
  }
  const int64_t log_n = kdf["log_n"], r = kdf["r"], p = kdf["p"];
  if (log_n < 0 || log_n > 64 || r < 0 || r > 1024 || p < 0 || p > 1024) {
    return bad("kdf parameters out of bounds");
  }
  c.scrypt_ = {static_cast<int>(log_n), static_cast<int>(r), static_cast<int>(p)};
  if (!ScryptParamsInBounds(c.scrypt_)) return bad("kdf parameters out of bounds");
  if (!GetB64(kdf, "salt", &c.salt_) || c.salt_.size() < 16) return bad("kdf salt");
  if (!GetB64(j, "master_key", &c.wrapped_master_) ||
      c.wrapped_master_.size() != 32 + kWrapOverhead) {
    return bad("master_key");
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
  json j = json::parse(HeaderAad());
  j["master_key"] = Base64UrlEncode(wrapped_master_);
  return j.dump(2) + "\n";
}

Result<VaultKeys> VaultConfig::Unlock(std::string_view passphrase) const {
  SecretKey kek;
  if (!Scrypt(passphrase, salt_, scrypt_, &kek)) return Status::Integrity("scrypt failed");
  VaultKeys keys;
  const std::string aad = HeaderAad();
  if (!Unwrap(kek, AsBytes(aad), wrapped_master_, &keys.master)) {
    return Status::WrongPassphrase("wrong passphrase (or the config header was modified)");
  }
  for (const auto& spec : kSubkeys) {
    if (!Unwrap(keys.master, AsBytes(SubkeyAad(spec.label)), wrapped_subkeys_.at(spec.label),
                &(keys.*spec.member))) {
      return Status::Integrity(std::string("the ") + spec.label + " subkey does not authenticate");
    }
  }
  DeriveKeys(&keys);
  return keys;
}

Status VaultConfig::ChangePassphrase(std::string_view old_passphrase,
                                     std::string_view new_passphrase, const ScryptParams& params) {
  Result<VaultKeys> keys = Unlock(old_passphrase);
  if (!keys.ok()) return keys.status();
  scrypt_ = params;
  WrapMaster(new_passphrase, keys->master);
  return Status::Ok();
}

}  // namespace strongroom::crypto
