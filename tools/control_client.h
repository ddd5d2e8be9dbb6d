// ControlClient: the CLI's side of the control socket (docs/control-protocol.md).
// One request per connection: one JSON line out, one JSON line back. Before
// sending anything it checks that the socket lives in a root-owned directory
// not writable by others, is owned by root, and that the peer runs as root.
// Stateless functions; safe to call from any thread.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "tools/exit_codes.h"

namespace strongroom::tools {

inline constexpr char kControlDir[] = "/run/strongroom";
inline constexpr size_t kMaxRequestBytes = 64 * 1024;
inline constexpr size_t kMaxReplyBytes = 16 * 1024 * 1024;

// /run/strongroom/<first 16 hex digits of SHA-256(mountpoint)>.sock, or the
// same name in `control_dir`.
std::string ControlSocketPath(std::string_view mountpoint, std::string_view control_dir = kControlDir);

// The exit code for a reply's `code` ("usage", "refused", ...); unknown codes
// are internal errors.
ExitCode ExitCodeForReplyCode(std::string_view code);

// The request as sent: one line of JSON. Throws CliError (kUsage) when a
// string is not valid UTF-8 or the line is longer than kMaxRequestBytes.
std::string EncodeRequest(const nlohmann::json& request);

// The `result` of a reply (null when absent); throws CliError with the
// daemon's message (control characters escaped) and the mapped exit code
// when the reply says ok: false, and kInternal when it is not a reply.
nlohmann::json InterpretReply(std::string_view reply);

// Sends `request` to the daemon serving `mountpoint` and returns its result.
// Throws CliError: kNotMounted when no daemon answers there, kRefused when
// the socket or its peer is not root's, and the daemon's own errors.
nlohmann::json CallDaemon(const std::string& mountpoint, const nlohmann::json& request);

// CallDaemon with another control directory (held to the same checks), for
// tests.
nlohmann::json CallDaemonIn(const std::string& control_dir, const std::string& mountpoint,
                            const nlohmann::json& request, int reply_timeout_seconds = 0);

// CallDaemon for a command that may take long (fsck): waits up to
// `reply_timeout_seconds` for the reply (0: the default, 300 s; negative:
// no limit).
nlohmann::json CallDaemonSlow(const std::string& mountpoint, const nlohmann::json& request,
                              int reply_timeout_seconds);

}  // namespace strongroom::tools
