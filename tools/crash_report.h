// A last word from a crashing process: the signal and a backtrace on
// stderr (the daemon's log), then the default action. Core dumps are off
// (keys), so this is all an operator or a test gets to see.
#pragma once

namespace strongroom::tools {

// Installs the reporter for SIGSEGV, SIGBUS, SIGFPE, SIGILL and SIGABRT.
// Does nothing under AddressSanitizer, whose own report is better.
void InstallCrashReport();

}  // namespace strongroom::tools
