// The mount daemon's operational log (spdlog): where it goes and from which
// level. Not the audit log: these lines say what the daemon did (mounted,
// unmounted, warnings, errors), never keys, file content or names inside
// the vault.
//
//   foreground, under systemd (JOURNAL_STREAM names our stderr): the journal,
//       with each level mapped to a journal priority;
//   foreground otherwise: stderr, as before;
//   background: syslog (the journal keeps it too on a systemd machine);
//   and, with --log-file, a file as well, rotated at 10 MiB, 5 files kept.
//
// Set up once, before the daemon starts its threads; not thread-safe.
#pragma once

#include <spdlog/common.h>
#include <spdlog/sinks/sink.h>

#include <memory>
#include <string>

namespace strongroom::tools {

inline constexpr size_t kLogFileMaxBytes = 10 * 1024 * 1024;
inline constexpr size_t kLogFileMaxFiles = 5;

// "trace", "debug", "info", "warn" (or "warning"), "error"; anything else
// fails with kUsage and a message naming the valid levels.
spdlog::level::level_enum ParseLogLevel(const std::string& name);

// Opens (creating it, mode 0640) the rotating log file at `path`, made
// absolute first because the background daemon changes to "/". Fails with a
// one-line CliError when the file cannot be opened. Called before forking,
// so that the command, not the daemon, reports the error.
std::shared_ptr<spdlog::sinks::sink> OpenLogFile(const std::string& path);

// Makes the default logger the daemon's: the sinks described above plus
// `file` (may be null), at `level`. `background`: the forked daemon (syslog)
// rather than `mount -f`.
void InstallDaemonLogger(bool background, std::shared_ptr<spdlog::sinks::sink> file, spdlog::level::level_enum level);

}  // namespace strongroom::tools
