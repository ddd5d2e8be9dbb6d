// Human-readable output of the policy commands: the daemon's results
// (docs/control-protocol.md) as lines and tables. Every string that came
// from the daemon is escaped (EscapeForTerminal); fields that are missing or
// of an unexpected type are shown as "-" rather than failing.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace strongroom::tools {

// A JSON value as text, unescaped: strings as they are, numbers in decimal,
// booleans as yes/no, null or missing as "-", arrays as "a, b".
std::string ValueText(const nlohmann::json& value);
// obj[key] through ValueText ("-" when obj is not an object or lacks it).
std::string FieldText(const nlohmann::json& obj, const char* key);
// An epoch time as local "YYYY-MM-DD HH:MM:SS"; `absent` for null/missing.
std::string TimeText(const nlohmann::json& value, const char* absent = "-");

std::string RenderWhoami(const nlohmann::json& user);
std::string RenderUserList(const nlohmann::json& result);
std::string RenderTeamList(const nlohmann::json& result);
std::string RenderAccess(const nlohmann::json& access);
std::string RenderUserAccess(const nlohmann::json& result);
std::string RenderRequests(const nlohmann::json& result, bool all);
std::string RenderViewerList(const nlohmann::json& result);
std::string RenderDestructions(const nlohmann::json& result, bool all);
std::string RenderDestruction(const nlohmann::json& request);
std::string RenderCertificate(const nlohmann::json& result);

}  // namespace strongroom::tools
