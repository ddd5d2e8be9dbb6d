// Tells a service manager how the daemon is doing (sd_notify(3)): systemd
// starts `strongroom mount -f` as a Type=notify unit and counts it started
// only once the mount is ready. Without NOTIFY_SOCKET in the environment
// (no service manager waiting) every call does nothing.
#pragma once

#include <string>

namespace strongroom::tools {

// READY=1, STATUS=`status`, MAINPID=this process.
void NotifyReady(const std::string& status);

// STOPPING=1: the daemon is unmounting and will exit.
void NotifyStopping();

}  // namespace strongroom::tools
