#include "tools/daemon_log.h"

#include <fcntl.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/sinks/systemd_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "tools/cli_error.h"

namespace strongroom::tools {
namespace {

constexpr mode_t kLogFileMode = 0640;

// Creates the file with a private mode before spdlog opens it: the daemon
// runs with umask 0, and fopen would make a new (or freshly rotated) file
// world-writable.
void CreatePrivately(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, kLogFileMode);
  if (fd >= 0) ::close(fd);
}

// True when systemd connected our stderr to the journal: JOURNAL_STREAM is
// "DEVICE:INODE" of that stream (systemd.exec(5)). A child whose stderr was
// redirected elsewhere inherits the variable but fails the comparison.
bool StderrIsJournal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (stream == nullptr || *stream == '\0') return false;
  unsigned long long dev = 0;
  unsigned long long ino = 0;
  if (std::sscanf(stream, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st;
  if (::fstat(STDERR_FILENO, &st) != 0) return false;
  // Where sd_journal_send() writes; without it every line would be lost.
  if (::access("/run/systemd/journal/socket", W_OK) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == dev && static_cast<unsigned long long>(st.st_ino) == ino;
}

}  // namespace

spdlog::level::level_enum ParseLogLevel(const std::string& name) {
  if (name == "trace") return spdlog::level::trace;
  if (name == "debug") return spdlog::level::debug;
  if (name == "info") return spdlog::level::info;
  if (name == "warn" || name == "warning") return spdlog::level::warn;
  if (name == "error") return spdlog::level::err;
  Fail(kUsage, "unknown log level '" + name + "' (use trace, debug, info, warn or error)");
}

std::shared_ptr<spdlog::sinks::sink> OpenLogFile(const std::string& path) {
  std::error_code ec;
  const std::string abs = std::filesystem::absolute(path, ec).lexically_normal().string();
  if (ec || path.empty()) Fail(kUsage, "bad log file path '" + path + "'");
  const int fd = ::open(abs.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, kLogFileMode);
  if (fd < 0) {
    const int err = errno;
    Fail(ExitCodeForErrno(err, kUsage), "cannot open the log file " + abs + ": " + std::strerror(err));
  }
  struct stat st;
  const bool regular = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  ::close(fd);
  if (!regular) Fail(kUsage, "the log file " + abs + " is not a regular file");
  spdlog::file_event_handlers handlers;
  handlers.before_open = [](const spdlog::filename_t& name) { CreatePrivately(name); };
  try {
    auto sink = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(abs, kLogFileMaxBytes, kLogFileMaxFiles, false,
                                                                       handlers);
    sink->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%l] [pid %P] %v");
    return sink;
  } catch (const spdlog::spdlog_ex& e) {
    Fail(kInternal, "cannot open the log file " + abs + ": " + e.what());
  }
}

void InstallDaemonLogger(bool background, std::shared_ptr<spdlog::sinks::sink> file, spdlog::level::level_enum level) {
  std::shared_ptr<spdlog::logger> logger;
  if (background) {
    auto syslog = std::make_shared<spdlog::sinks::syslog_sink_mt>("strongroom", LOG_PID, LOG_DAEMON, false);
    logger = std::make_shared<spdlog::logger>("strongroom", std::move(syslog));
  } else if (StderrIsJournal()) {
    auto journal = std::make_shared<spdlog::sinks::systemd_sink_mt>("strongroom");
    logger = std::make_shared<spdlog::logger>("strongroom", std::move(journal));
  } else {
    logger = spdlog::default_logger();  // stderr/stdout, as spdlog sets it up
  }
  if (file) logger->sinks().push_back(std::move(file));
  logger->set_level(level);
  // Few lines, and the background daemon leaves with _exit(): write each at once.
  logger->flush_on(spdlog::level::trace);
  if (logger != spdlog::default_logger()) spdlog::set_default_logger(logger);
}

}  // namespace strongroom::tools
