#include "tools/service_notify.h"

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

namespace strongroom::tools {
namespace {

void Notify(const std::string& state) {
  // unset_environment = 0: a notification is never fatal, and a later one
  // (STOPPING) needs the socket's address still.
  const int rc = ::sd_notify(0, state.c_str());
  if (rc < 0) spdlog::warn("cannot notify the service manager: sd_notify returned {}", rc);
}

}  // namespace

void NotifyReady(const std::string& status) {
  std::string state = "READY=1\nSTATUS=";
  // One line per field: a newline in a path would start a field of its own.
  for (const char c : status) state += c == '\n' ? ' ' : c;
  state += "\nMAINPID=" + std::to_string(::getpid());
  Notify(state);
}

void NotifyStopping() { Notify("STOPPING=1\nSTATUS=Unmounting"); }

}  // namespace strongroom::tools
