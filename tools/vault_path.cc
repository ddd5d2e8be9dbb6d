// Choosing the vault and resolving PATH arguments, lexically.
#include "tools/vault_path.h"

#include <unistd.h>

#include <filesystem>
#include <system_error>

#include "tools/cli_error.h"
#include "tools/terminal_text.h"

namespace strongroom::tools {
namespace {

namespace stdfs = std::filesystem;

// True when absolute, normalised `path` is `mountpoint` or below it.
bool IsUnder(std::string_view path, std::string_view mountpoint) {
  if (mountpoint == "/") return true;
  if (path.size() < mountpoint.size() || path.substr(0, mountpoint.size()) != mountpoint) return false;
  return path.size() == mountpoint.size() || path[mountpoint.size()] == '/';
}

std::string BelowMount(std::string_view path, std::string_view mountpoint) {
  if (path.size() == mountpoint.size()) return "/";
  if (mountpoint == "/") return std::string(path);
  return std::string(path.substr(mountpoint.size()));
}

std::string Quote(std::string_view s) { return EscapeForTerminal(s); }

std::string ListMountpoints(const std::vector<MountEntry>& vaults) {
  std::string list;
  for (const MountEntry& v : vaults) {
    if (!list.empty()) list += ", ";
    list += Quote(v.mountpoint);
  }
  return list;
}

std::vector<MountEntry> RequireVaults(const std::vector<MountEntry>& entries) {
  std::vector<MountEntry> vaults = StrongroomMounts(entries);
  if (vaults.empty()) Fail(kNotMounted, "no strongroom vault is mounted");
  return vaults;
}

void RequireUtf8(std::string_view arg, std::string_view what) {
  if (!IsValidUtf8(what)) {
    Fail(kUsage, "the path " + Quote(arg) + " is not valid UTF-8 (the control protocol carries UTF-8 names only)");
  }
}

}  // namespace

std::string AbsoluteLexical(std::string_view arg, std::string_view cwd) {
  if (arg.empty()) Fail(kUsage, "empty path");
  if (arg.find('\0') != std::string_view::npos) Fail(kUsage, "a path cannot contain a NUL byte");
  stdfs::path p;
  if (arg.front() == '/') {
    p = stdfs::path(std::string(arg));
  } else {
    if (cwd.empty() || cwd.front() != '/') {
      Fail(kUsage, "cannot resolve " + Quote(arg) + ": the current directory is unknown; give an absolute path");
    }
    p = stdfs::path(std::string(cwd)) / stdfs::path(std::string(arg));
  }
  std::string out = p.lexically_normal().string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  // libstdc++ keeps a leading "//" as is; POSIX lets it mean "/" on Linux.
  while (out.size() > 1 && out[0] == '/' && out[1] == '/') out.erase(0, 1);
  return out;
}

std::string NormalizeVaultPath(std::string_view path) {
  const std::string shown = std::string(kVaultPrefix) + std::string(path);
  if (path.find('\0') != std::string_view::npos) Fail(kUsage, "a path cannot contain a NUL byte");
  if (path.empty() || path.front() != '/') {
    Fail(kUsage, "invalid vault path " + Quote(shown) + ": it must start with / (e.g. vault:/clients/acme)");
  }
  std::string_view body = path.substr(1);
  if (!body.empty() && body.back() == '/') {
    body.remove_suffix(1);
    if (body.empty()) Fail(kUsage, "invalid vault path " + Quote(shown) + ": empty component");
  }
  std::vector<std::string_view> parts;
  size_t pos = 0;
  while (!body.empty() && pos <= body.size()) {
    size_t end = body.find('/', pos);
    if (end == std::string_view::npos) end = body.size();
    const std::string_view part = body.substr(pos, end - pos);
    if (part.empty()) {
      Fail(kUsage, "invalid vault path " + Quote(shown) + ": empty component");
    } else if (part == "..") {
      if (parts.empty()) Fail(kUsage, "invalid vault path " + Quote(shown) + ": .. climbs above the vault's root");
      parts.pop_back();
    } else if (part != ".") {
      parts.push_back(part);
    }
    pos = end + 1;
  }
  std::string out;
  for (std::string_view part : parts) {
    out += '/';
    out += part;
  }
  return out.empty() ? "/" : out;
}

std::string ChooseMount(const std::vector<MountEntry>& entries, std::string_view mount_option, std::string_view cwd) {
  const std::vector<MountEntry> vaults = RequireVaults(entries);
  if (!mount_option.empty()) {
    const std::string want = AbsoluteLexical(mount_option, cwd);
    for (const MountEntry& v : vaults) {
      if (v.mountpoint == want) return v.mountpoint;
    }
    Fail(kNotMounted, "no strongroom vault is mounted on " + Quote(mount_option));
  }
  if (vaults.size() > 1) {
    Fail(kUsage, "several vaults are mounted (" + ListMountpoints(vaults) + "); choose one with --mount MOUNTPOINT");
  }
  return vaults.front().mountpoint;
}

VaultTarget ResolveVaultPath(std::string_view arg, std::string_view mount_option,
                             const std::vector<MountEntry>& entries, std::string_view cwd) {
  RequireVaults(entries);
  if (arg.substr(0, kVaultPrefix.size()) == kVaultPrefix) {
    VaultTarget t;
    t.vault_path = NormalizeVaultPath(arg.substr(kVaultPrefix.size()));
    RequireUtf8(arg, t.vault_path);
    t.mountpoint = ChooseMount(entries, mount_option, cwd);
    return t;
  }
  const std::string abs = AbsoluteLexical(arg, cwd);
  const MountEntry* innermost = nullptr;
  const std::vector<MountEntry> visible = VisibleMounts(entries);
  for (const MountEntry& m : visible) {
    if (IsUnder(abs, m.mountpoint) && (!innermost || m.mountpoint.size() > innermost->mountpoint.size())) {
      innermost = &m;
    }
  }
  if (!innermost || innermost->fstype != kStrongroomFsType) {
    Fail(kUsage, Quote(arg) + " is not inside a mounted vault (use vault:/PATH with --mount to name a vault path)");
  }
  VaultTarget t;
  t.mountpoint = innermost->mountpoint;
  t.vault_path = BelowMount(abs, innermost->mountpoint);
  RequireUtf8(arg, t.vault_path);
  if (!mount_option.empty()) {
    const std::string chosen = ChooseMount(entries, mount_option, cwd);
    if (chosen != t.mountpoint) {
      Fail(kUsage, Quote(arg) + " is not inside the vault mounted on " + Quote(chosen));
    }
  }
  return t;
}

std::string CurrentDirectory() {
  std::error_code ec;
  const stdfs::path cwd = stdfs::current_path(ec);
  return ec ? std::string() : cwd.string();
}

std::string CanonicalMountOption(const std::vector<MountEntry>& entries, const std::string& mount_option,
                                 std::string_view cwd) {
  if (mount_option.empty() || mount_option.find('\0') != std::string::npos) return mount_option;
  const std::vector<MountEntry> vaults = StrongroomMounts(entries);
  std::string abs;
  try {
    abs = AbsoluteLexical(mount_option, cwd);
  } catch (const CliError&) {
    return mount_option;
  }
  for (const MountEntry& v : vaults) {
    if (v.mountpoint == abs) return mount_option;
  }
  std::error_code ec;
  const stdfs::path canonical = stdfs::weakly_canonical(abs, ec);
  return ec ? mount_option : canonical.string();
}

}  // namespace strongroom::tools
