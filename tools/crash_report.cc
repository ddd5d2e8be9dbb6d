#include "tools/crash_report.h"

#include <execinfo.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <initializer_list>

namespace strongroom::tools {
namespace {

void WriteString(const char* s) { (void)!::write(STDERR_FILENO, s, std::strlen(s)); }

// Async-signal-safe: write(2), backtrace_symbols_fd (its buffer was
// allocated before the crash, by the warm-up call below) and re-raising.
void OnFatalSignal(int sig) {
  WriteString("strongroom: fatal signal ");
  char digits[12];
  int n = 0;
  for (int v = sig; v > 0 && n < 11; v /= 10) digits[n++] = static_cast<char>('0' + v % 10);
  while (n > 0) {
    const char c[2] = {digits[--n], '\0'};
    WriteString(c);
  }
  WriteString(" (");
  WriteString(sigabbrev_np(sig) != nullptr ? sigabbrev_np(sig) : "?");
  WriteString("), backtrace:\n");
  void* frames[64];
  const int count = ::backtrace(frames, 64);
  ::backtrace_symbols_fd(frames, count, STDERR_FILENO);
  std::signal(sig, SIG_DFL);
  ::raise(sig);
}

}  // namespace

void InstallCrashReport() {
#if defined(__SANITIZE_ADDRESS__)
  return;
#else
  // backtrace() loads libgcc on first use; do it now, not in the handler.
  void* warm[1];
  (void)::backtrace(warm, 1);
  struct sigaction sa {};
  sa.sa_handler = OnFatalSignal;
  sa.sa_flags = SA_RESETHAND | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) ::sigaction(sig, &sa, nullptr);
#endif
}

}  // namespace strongroom::tools
