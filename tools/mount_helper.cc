#include "tools/mount_helper.h"

#include <array>
#include <string_view>

#include "tools/cli_error.h"

namespace strongroom::tools {
namespace {

constexpr char kUsageLine[] = "usage: mount.strongroom VAULT MOUNTPOINT [-o OPTIONS]";

// Options that concern mount(8), fstab or systemd, not the filesystem.
bool IsUserspaceOption(std::string_view opt) {
  static constexpr std::array<std::string_view, 10> kIgnored = {"defaults", "auto",  "noauto", "user",    "nouser",
                                                                "users",    "owner", "group",  "_netdev", "nofail"};
  for (const std::string_view ignored : kIgnored) {
    if (opt == ignored) return true;
  }
  return opt.starts_with("comment=") || opt.starts_with("x-") || opt.starts_with("X-");
}

void ApplyOption(const std::string& opt, MountHelperCall* call) {
  const size_t eq = opt.find('=');
  const std::string key = opt.substr(0, eq);
  const std::string value = eq == std::string::npos ? "" : opt.substr(eq + 1);
  auto need_value = [&](std::string* field) {
    if (eq == std::string::npos || value.empty())
      Fail(kUsage, "mount option " + key + " needs a value (" + key + "=...)");
    *field = value;
  };
  if (key == "passfile") {
    need_value(&call->mount.passfile);
  } else if (key == "credential") {
    need_value(&call->mount.credential);
  } else if (key == "log_file" || key == "log-file") {
    need_value(&call->mount.log_file);
  } else if (key == "log_level" || key == "log-level") {
    need_value(&call->mount.log_level);
  } else if (key == "posix_permissions" || key == "posix-permissions") {
    if (eq != std::string::npos) Fail(kUsage, "mount option " + key + " takes no value");
    call->mount.posix_permissions = true;
  } else if (!IsUserspaceOption(opt)) {
    call->mount.fuse_options.push_back(opt);
  }
}

void ApplyOptionList(const std::string& list, MountHelperCall* call) {
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    const std::string opt = list.substr(start, comma - start);
    if (!opt.empty()) ApplyOption(opt, call);
    start = comma + 1;
  }
}

}  // namespace

MountHelperCall ParseMountHelperArgs(const std::vector<std::string>& args) {
  MountHelperCall call;
  std::vector<std::string> positional;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg.size() < 2 || arg[0] != '-') {
      positional.push_back(arg);
      continue;
    }
    // -o OPTIONS, -oOPTIONS, -N NS, -t TYPE, and the flags s f n v, which
    // mount(8) may also pass grouped (-sv).
    for (size_t j = 1; j < arg.size(); ++j) {
      const char flag = arg[j];
      if (flag == 'o' || flag == 'N' || flag == 't') {
        std::string value = arg.substr(j + 1);
        if (value.empty()) {
          if (i + 1 >= args.size()) Fail(kUsage, std::string("option -") + flag + " needs a value; " + kUsageLine);
          value = args[++i];
        }
        if (flag == 'o') ApplyOptionList(value, &call);
        if (flag == 'N') Fail(kUsage, "mounting in another mount namespace (-N) is not supported");
        break;  // -t TYPE: the type is ours
      }
      if (flag == 'f') {
        call.fake = true;
      } else if (flag == 'v') {
        call.verbose = true;
      } else if (flag != 's' && flag != 'n') {
        Fail(kUsage, std::string("unknown option -") + flag + "; " + kUsageLine);
      }
    }
  }
  if (positional.size() != 2) Fail(kUsage, kUsageLine);
  call.mount.vault = positional[0];
  call.mount.mountpoint = positional[1];
  call.mount.foreground = false;
  return call;
}

}  // namespace strongroom::tools
