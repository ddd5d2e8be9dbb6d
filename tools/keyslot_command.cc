// strongroom keyslot add|remove|list, strongroom rekey, and finishing a
// rekey a crash interrupted.
//
// Rekey order (each step durable before the next):
//   1. the new config is written as strongroom.conf.rekey;
//   2. one store transaction re-wraps every file key, re-MACs every row,
//      reseals the policy and sets meta "rekey_config" to the new config's
//      SHA-256;
//   3. strongroom.conf.rekey is renamed over strongroom.conf.
// Whoever next holds the vault finishes a cut rekey: the pending config is
// installed when the store has its digest (step 2 committed), else dropped;
// so the old keys open the vault until step 2 and the new ones after it.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "acl/audit_log.h"
#include "acl/policy.h"
#include "acl/store.h"
#include "crypto/primitives.h"
#include "crypto/vault_config.h"
#include "fs/vault_layout.h"
#include "tools/cli_error.h"
#include "tools/commands.h"
#include "tools/control_client.h"
#include "tools/mounts.h"
#include "tools/terminal_text.h"
#include "tools/vault_files.h"

namespace strongroom::tools {
namespace {

using crypto::KeySlot;
using crypto::UnlockSecret;
using crypto::VaultConfig;

constexpr char kRekeyMark[] = "rekey_config";

std::string PendingRekeyPath(const VaultPaths& paths) { return paths.config() + ".rekey"; }

// A secret read into memory that is wiped when it goes.
struct Secret {
  KeySlot::Kind kind = KeySlot::Kind::kPassphrase;
  std::string bytes;
  std::string source;  // for messages: the file, or "the passphrase typed"
  Secret() = default;
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;
  Secret(Secret&& o) noexcept : kind(o.kind), bytes(std::move(o.bytes)), source(std::move(o.source)) {}
  Secret& operator=(Secret&& o) noexcept {
    crypto::Wipe(bytes.data(), bytes.size());
    kind = o.kind;
    bytes = std::move(o.bytes);
    source = std::move(o.source);
    return *this;
  }
  ~Secret() { crypto::Wipe(bytes.data(), bytes.size()); }
  UnlockSecret view() const { return {kind, bytes}; }
};

enum class Holds { kSecret, kPublic };

// The file's bytes (up to `max` + 1); `what` names it in errors. A file
// holding a secret must be the caller's alone.
std::string ReadWholeFile(const std::string& path, size_t max, bool* too_large, const std::string& what,
                          Holds holds) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) Fail(kNotFound, "cannot read " + what + " " + path + ": " + std::strerror(errno));
  if (holds == Holds::kSecret) CheckSecretFileOwnership(fd, path, what);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) {
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > max) break;
  }
  const int err = errno;
  crypto::Wipe(buf, sizeof buf);
  ::close(fd);
  if (n < 0) Fail(kNotFound, "cannot read " + what + " " + path + ": " + std::strerror(err));
  *too_large = out.size() > max;
  return out;
}

Secret KeyFileSecret(const std::string& path) {
  Secret s;
  s.kind = KeySlot::Kind::kKeyFile;
  s.source = "key file " + path;
  s.bytes = ReadKeyFile(path);
  return s;
}

Secret PassphraseSecret(const std::string& passfile, const std::string& prompt, bool confirm) {
  Secret s;
  s.bytes = ReadPassphrase(passfile, prompt, confirm);
  s.source = passfile.empty() ? "the passphrase given" : "passphrase file " + passfile;
  return s;
}

// What the caller unlocks with: a key file, else a passphrase.
Secret UnlockingSecret(const std::string& passfile, const std::string& key_file) {
  if (!key_file.empty()) {
    if (!passfile.empty()) Fail(kUsage, "give --passfile or --key-file, not both");
    return KeyFileSecret(key_file);
  }
  return PassphraseSecret(passfile, "Passphrase", false);
}

VaultConfig::Unlocked OpenOrFail(const VaultConfig& config, const Secret& secret) {
  Result<VaultConfig::Unlocked> opened = config.Open(secret.view());
  if (!opened.ok()) Fail(opened.status());
  return std::move(opened).value();
}

// A config opened before the config lock was taken, so that the secret is
// checked before anything more is asked for; under the lock, Relock()
// gives the config as it is then and the secret opened on it (opened
// again only if the config changed meanwhile). Prompts are answered
// without the lock: a person at one holds up no mount and no other change.
struct EarlyOpen {
  VaultConfig config;
  VaultConfig::Unlocked by;

  EarlyOpen(const VaultPaths& paths, const Secret& secret)
      : config(LoadConfig(paths)), by(OpenOrFail(config, secret)) {}

  // Call with the config lock held.
  void Relock(const VaultPaths& paths, const Secret& secret) {
    FinishPendingRekey(paths);
    VaultConfig now = LoadConfig(paths);
    if (now.Serialize() != config.Serialize()) by = OpenOrFail(now, secret);
    config = std::move(now);
  }
};

std::string Sha256Hex(const std::string& text) {
  uint8_t digest[32];
  crypto::Sha256(crypto::AsBytes(text), digest);
  return crypto::HexEncode({digest, 32});
}

// Appends a record of a change of keys to the audit database at `audit_path`.
void AppendKeyChange(const std::string& audit_path, const std::string& vault_id, const crypto::VaultKeys& keys,
                     const std::string& op, const std::string& reason) {
  Result<std::unique_ptr<acl::AuditLog>> log = acl::OpenAuditLog(audit_path, vault_id, acl::AuditKeys::From(keys.audit));
  if (!log.ok()) Fail(ExitCodeFor(log.status()), "cannot record the change in the audit log: " + log.status().message());
  Status st = (*log)->Append(acl::ProcessEntry(op, reason));
  if (!st.ok()) Fail(kInternal, "cannot record the change in the audit log; nothing was changed");
}

std::string AuditPathOf(const VaultPaths& paths, acl::Store& store) {
  Result<std::string> where = store.GetMeta("audit_db");
  return where.ok() && !where->empty() ? *where : paths.audit();
}

std::string KindName(KeySlot::Kind kind) { return kind == KeySlot::Kind::kPassphrase ? "passphrase" : "keyfile"; }

std::string SlotName(const KeySlot& slot) {
  return "key slot " + std::to_string(slot.id) + (slot.label.empty() ? "" : " (" + EscapeForTerminal(slot.label) + ")");
}

}  // namespace

std::string ReadKeyFile(const std::string& path) {
  bool too_large = false;
  std::string bytes = ReadWholeFile(path, VaultConfig::kMaxKeyFileSize, &too_large, "key file", Holds::kSecret);
  if (too_large || bytes.size() < VaultConfig::kMinKeyFileSize) {
    crypto::Wipe(bytes.data(), bytes.size());
    Fail(kUsage, "key file " + path + " must hold 32 bytes to 64 KiB (make one with keyslot add --new-key-file)");
  }
  return bytes;
}

crypto::VaultKeys UnlockVault(const crypto::VaultConfig& config, const std::string& passfile,
                              const std::string& key_file) {
  const Secret secret = UnlockingSecret(passfile, key_file);
  return OpenOrFail(config, secret).keys;
}

void RecordKeyChange(const VaultPaths& paths, const std::string& vault_id, const crypto::VaultKeys& keys,
                     const std::string& op, const std::string& reason) {
  if (const std::optional<MountEntry> m = MountOfVault(paths.dir)) {
    (void)CallDaemon(m->mountpoint, {{"cmd", "audit.record"}, {"op", op}, {"reason", reason}});
    return;
  }
  std::string audit_path;
  {
    const crypto::SecretKey text_key = PolicyTextKey(keys);
    Result<std::unique_ptr<acl::Store>> store = acl::OpenSqliteStore(paths.store(), vault_id, &text_key);
    if (!store.ok()) Fail(store.status());
    audit_path = AuditPathOf(paths, **store);
  }
  AppendKeyChange(audit_path, vault_id, keys, op, reason);
}

bool FinishPendingRekey(const VaultPaths& paths) {
  const std::string pending = PendingRekeyPath(paths);
  struct stat st;
  if (::lstat(pending.c_str(), &st) != 0) return false;
  std::string text;
  {
    bool too_large = false;
    text = ReadWholeFile(pending, 1 << 20, &too_large, "pending config", Holds::kPublic);
  }
  const crypto::VaultConfig current = LoadConfig(paths);
  Result<std::unique_ptr<acl::Store>> store = acl::OpenSqliteStore(paths.store(), current.vault_id(), nullptr);
  if (!store.ok()) Fail(ExitCodeFor(store.status()), "cannot finish an interrupted rekey: " + store.status().message());
  Result<std::string> mark = (*store)->GetMeta(kRekeyMark);
  store->reset();
  if (mark.ok() && *mark == Sha256Hex(text) && crypto::VaultConfig::Parse(text).ok()) {
    if (::rename(pending.c_str(), paths.config().c_str()) != 0) {
      Fail(kInternal, "cannot finish an interrupted rekey: rename " + pending + ": " + std::strerror(errno));
    }
    SyncDir(paths.dir);
    std::cerr << "Finished an interrupted rekey of " << paths.dir << ": the new keys are in use\n";
  } else {
    ::unlink(pending.c_str());
    SyncDir(paths.dir);
    std::cerr << "An interrupted rekey of " << paths.dir << " had not committed: the old keys stay in use\n";
  }
  return true;
}

void RunKeyslotList(const KeyslotOptions& opts) {
  const VaultPaths paths = FindVault(opts.vault);
  {
    ConfigLock lock(paths);
    FinishPendingRekey(paths);
  }
  const VaultConfig config = LoadConfig(paths);
  if (opts.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const KeySlot& slot : config.slots()) {
      out.push_back({{"id", slot.id}, {"type", KindName(slot.kind)}, {"label", slot.label}, {"created", slot.created}});
    }
    std::cout << out.dump(2) << "\n";
    return;
  }
  // Labels are anyone's text: FormatTable escapes control characters.
  std::vector<std::vector<std::string>> rows;
  for (const KeySlot& slot : config.slots()) {
    rows.push_back({std::to_string(slot.id), KindName(slot.kind), slot.created, slot.label});
  }
  std::cout << FormatTable({"SLOT", "TYPE", "CREATED", "LABEL"}, rows);
}

void RunKeyslotAdd(const KeyslotOptions& opts) {
  const VaultPaths paths = FindVault(opts.vault);
  if (!opts.new_key_file.empty() && !opts.new_passfile.empty()) {
    Fail(kUsage, "give --new-passfile or --new-key-file, not both");
  }
  if (opts.label.size() > 200) Fail(kUsage, "a label is at most 200 bytes");
  const Secret by_secret = UnlockingSecret(opts.passfile, opts.key_file);
  EarlyOpen opened(paths, by_secret);
  Secret added;
  if (opts.new_key_file.empty()) added = PassphraseSecret(opts.new_passfile, "New passphrase", true);
  ConfigLock lock(paths);
  opened.Relock(paths, by_secret);
  VaultConfig& config = opened.config;
  const VaultConfig::Unlocked& by = opened.by;

  int key_fd = -1;
  if (!opts.new_key_file.empty()) {
    // A fresh random key file, created here so that nobody else can have
    // read it first.
    key_fd = ::open(opts.new_key_file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0400);
    if (key_fd < 0) {
      Fail(errno == EEXIST ? kConflict : kNotFound,
           "cannot create key file " + opts.new_key_file + ": " + std::strerror(errno) +
               (errno == EEXIST ? " (a new key file is never written over an existing file)" : ""));
    }
    added.kind = KeySlot::Kind::kKeyFile;
    added.bytes.resize(64);
    crypto::RandomBytes({reinterpret_cast<uint8_t*>(added.bytes.data()), added.bytes.size()});
    added.source = "key file " + opts.new_key_file;
  }
  Result<int> id = config.AddSlot(by, added.view(), config.scrypt(), opts.label);
  if (!id.ok()) {
    if (key_fd >= 0) {
      ::close(key_fd);
      ::unlink(opts.new_key_file.c_str());
    }
    Fail(id.status());
  }
  if (key_fd >= 0) {
    const bool ok = ::write(key_fd, added.bytes.data(), added.bytes.size()) == static_cast<ssize_t>(added.bytes.size()) &&
                    ::fsync(key_fd) == 0;
    ::close(key_fd);
    if (!ok) {
      ::unlink(opts.new_key_file.c_str());
      Fail(kInternal, "cannot write key file " + opts.new_key_file + ": " + std::strerror(errno));
    }
  }
  // A key file whose slot did not make it into the config goes again.
  try {
    RecordKeyChange(paths, config.vault_id(), by.keys, "keyslot.add",
                    "key slot " + std::to_string(*id) + " added (" + KindName(added.kind) + ") by key slot " +
                        std::to_string(by.slot));
    SaveConfig(paths.config(), config);
  } catch (...) {
    if (key_fd >= 0) ::unlink(opts.new_key_file.c_str());
    throw;
  }
  std::cout << "Added key slot " << *id << " (" << KindName(added.kind) << ") to " << paths.dir << "\n";
  if (key_fd >= 0) {
    std::cout << "Keep " << opts.new_key_file
              << " offline (a safe, a USB key in a sealed envelope): anyone holding it can unlock the vault.\n";
  }
}

void RunKeyslotRemove(const KeyslotOptions& opts) {
  const VaultPaths paths = FindVault(opts.vault);
  // Asked for before the lock is taken (see EarlyOpen).
  const Secret by_secret = UnlockingSecret(opts.passfile, opts.key_file);
  ConfigLock lock(paths);
  FinishPendingRekey(paths);
  VaultConfig config = LoadConfig(paths);
  const VaultConfig::Unlocked by = OpenOrFail(config, by_secret);
  // No such slot: not found; the last one: a conflict (RemoveSlot decides).
  Status st = config.RemoveSlot(opts.slot);
  if (!st.ok()) Fail(st.code() == Status::Code::kInvalid ? kConflict : ExitCodeFor(st), st.message());
  RecordKeyChange(paths, config.vault_id(), by.keys, "keyslot.remove",
                  "key slot " + std::to_string(opts.slot) + " removed by key slot " + std::to_string(by.slot));
  SaveConfig(paths.config(), config);
  std::cout << "Removed key slot " << opts.slot << " from " << paths.dir << "\n";
  if (opts.slot == by.slot) std::cout << "The secret you gave no longer unlocks the vault.\n";
}

void RunRekey(const RekeyOptions& opts) {
  const VaultPaths paths = FindVault(opts.vault);
  // Never while mounted: the daemon holds the old keys.
  const int lock_fd = ::open(paths.lock().c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC);
  if (lock_fd < 0) Fail(kIntegrity, "cannot open the vault lock " + paths.lock() + ": " + std::strerror(errno));
  if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    Fail(kConflict, "the vault " + paths.dir + " is mounted (or busy): unmount it before a rekey");
  }
  ConfigLock lock(paths);
  FinishPendingRekey(paths);
  const VaultConfig config = LoadConfig(paths);

  // Every slot is re-wrapped, so every slot's secret is needed.
  std::vector<Secret> secrets;
  for (const std::string& f : opts.passfiles) secrets.push_back(PassphraseSecret(f, "", false));
  for (const std::string& f : opts.key_files) secrets.push_back(KeyFileSecret(f));
  std::map<int, crypto::SecretKey> keks;
  std::optional<crypto::VaultKeys> old_keys;
  auto try_secret = [&](const Secret& s) {
    bool opened_any = false;
    for (const KeySlot& slot : config.slots()) {
      if (slot.kind != s.kind || keks.contains(slot.id)) continue;
      Result<VaultConfig::Unlocked> u = config.OpenSlotById(slot.id, s.view());
      if (!u.ok()) {
        if (u.status().code() != Status::Code::kWrongPassphrase) Fail(u.status());
        continue;
      }
      keks.emplace(slot.id, std::move(u->kek));
      if (!old_keys) old_keys = std::move(u->keys);
      opened_any = true;
    }
    return opened_any;
  };
  for (const Secret& s : secrets) {
    if (!try_secret(s)) Fail(kWrongPassphrase, s.source + " opens no key slot of " + paths.dir + " not already opened");
  }
  if (secrets.empty() || keks.size() < config.slots().size()) {
    // On a terminal, ask for each passphrase slot still closed.
    for (const KeySlot& slot : config.slots()) {
      if (keks.contains(slot.id) || slot.kind != KeySlot::Kind::kPassphrase || !opts.passfiles.empty()) continue;
      if (!::isatty(STDIN_FILENO)) break;
      Secret s = PassphraseSecret("", "Passphrase for " + SlotName(slot), false);
      if (!try_secret(s)) Fail(kWrongPassphrase, "wrong passphrase for " + SlotName(slot));
    }
  }
  for (const KeySlot& slot : config.slots()) {
    if (!keks.contains(slot.id)) {
      Fail(kUsage, SlotName(slot) + " was not opened: a rekey re-wraps every slot, so give its " +
                       (slot.kind == KeySlot::Kind::kPassphrase ? "passphrase (--passfile)" : "key file (--key-file)") +
                       ", or remove the slot first");
    }
  }

  crypto::VaultKeys new_keys;
  Result<VaultConfig> next = config.Rekeyed(*old_keys, keks, &new_keys);
  if (!next.ok()) Fail(next.status());

  // Every row checked under the old keys and re-wrapped under the new.
  const crypto::SecretKey text_key = PolicyTextKey(*old_keys);
  Result<std::unique_ptr<acl::Store>> store = acl::OpenSqliteStore(paths.store(), config.vault_id(), &text_key);
  if (!store.ok()) Fail(ExitCodeFor(store.status()), "the policy store " + paths.store() + ": " + store.status().message());
  (*store)->policy().SetSealer(fs::PolicySealerFor(old_keys->rows));
  if (Result<acl::PolicyData> policy = (*store)->policy().LoadPolicy(); !policy.ok()) {
    Fail(kIntegrity, "the policy store does not verify under the current keys (" + policy.status().message() +
                         "); nothing was changed");
  }
  Result<std::vector<acl::ObjectRow>> rows = (*store)->ListObjects();
  if (!rows.ok()) Fail(rows.status());
  size_t rewrapped = 0;
  for (acl::ObjectRow& row : *rows) {
    if (fs::ObjectRowMac(old_keys->rows, row) != row.mac) {
      Fail(kIntegrity, "an object row fails its MAC (run strongroom fsck); nothing was changed");
    }
    if (!row.wrapped_key.empty()) {
      crypto::SecretKey key;
      if (!crypto::Unwrap(old_keys->files, row.id, row.wrapped_key, &key)) {
        Fail(kIntegrity, "a file key does not open under the current keys (run strongroom fsck); nothing was changed");
      }
      row.wrapped_key = crypto::Wrap(new_keys.files, row.id, key.span());
      ++rewrapped;
    }
    row.mac = fs::ObjectRowMac(new_keys.rows, row);
  }

  AppendKeyChange(AuditPathOf(paths, **store), config.vault_id(), *old_keys, "rekey",
                  "rekey: replacing the master key and the file-key wrapping key; " + std::to_string(rewrapped) +
                      " file keys re-wrapped, " + std::to_string(keks.size()) + " key slots re-wrapped");
  const std::string pending = PendingRekeyPath(paths);
  SaveConfig(pending, *next);
  const std::string digest = Sha256Hex(next->Serialize());
#ifdef STRONGROOM_TEST_HOOKS
  const char* fail_point = std::getenv("STRONGROOM_TEST_REKEY_KILL");
  auto kill_at = [&](const char* point) {
    if (fail_point != nullptr && std::strcmp(fail_point, point) == 0) ::raise(SIGKILL);
  };
#else
  auto kill_at = [](const char*) {};
#endif
  kill_at("before-store");
  Status st = (*store)->Rekey(*rows, fs::PolicySealerFor(new_keys.rows), kRekeyMark, digest);
  if (!st.ok()) {
    ::unlink(pending.c_str());
    Fail(ExitCodeFor(st), "the rekey failed and was rolled back: " + st.message());
  }
  (void)(*store)->CheckpointTruncate();
  store->reset();
  kill_at("after-store");
  if (::rename(pending.c_str(), paths.config().c_str()) != 0) {
    Fail(kInternal, "rename " + pending + ": " + std::strerror(errno) + " (the next mount finishes the rekey)");
  }
  SyncDir(paths.dir);
  ::close(lock_fd);
  std::cout << "Rekeyed " << paths.dir << ": new master key, " << rewrapped << " file keys and "
            << keks.size() << " key slots re-wrapped; contents and names unchanged\n";
  std::cout << "Backups taken before now still open with the old keys and passphrases.\n";
}

}  // namespace strongroom::tools
