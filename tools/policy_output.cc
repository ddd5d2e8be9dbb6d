// Rendering of the daemon's results for people.
#include "tools/policy_output.h"

#include <vector>

#include "tools/iso_date.h"
#include "tools/terminal_text.h"

namespace strongroom::tools {
namespace {

using nlohmann::json;

const json& Field(const json& obj, const char* key) {
  static const json kNull;
  if (!obj.is_object()) return kNull;
  const auto it = obj.find(key);
  return it == obj.end() ? kNull : *it;
}

const json& Array(const json& obj, const char* key) {
  static const json kEmpty = json::array();
  const json& value = Field(obj, key);
  return value.is_array() ? value : kEmpty;
}

std::string ListText(const json& value) {
  if (!value.is_array() || value.empty()) return "-";
  return ValueText(value);
}

// A grant's last moment, marked when the daemon says it has passed.
std::string UntilText(const json& grant) {
  std::string text = TimeText(Field(grant, "until"), "never");
  const json& expired = Field(grant, "expired");
  if (expired.is_boolean() && expired.get<bool>()) text += " (expired)";
  return text;
}

std::string SubjectOrName(const json& value) {
  if (value.is_object()) return FieldText(value, "name");
  return ValueText(value);
}

}  // namespace

std::string ValueText(const json& value) {
  switch (value.type()) {
    case json::value_t::null:
    case json::value_t::discarded:
      return "-";
    case json::value_t::string:
      return value.get<std::string>();
    case json::value_t::boolean:
      return value.get<bool>() ? "yes" : "no";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return value.dump();
    case json::value_t::array: {
      std::string out;
      for (const json& item : value) {
        if (!out.empty()) out += ", ";
        out += ValueText(item);
      }
      return out;
    }
    default:
      return value.dump(-1, ' ', true, json::error_handler_t::replace);
  }
}

std::string FieldText(const json& obj, const char* key) { return ValueText(Field(obj, key)); }

std::string TimeText(const json& value, const char* absent) {
  if (value.is_number_integer() || value.is_number_unsigned()) return FormatLocalTime(value.get<int64_t>());
  if (value.is_null()) return absent;
  return ValueText(value);
}

std::string RenderWhoami(const json& user) {
  std::vector<std::pair<std::string, std::string>> fields = {
      {"User", FieldText(user, "name") + " (uid " + FieldText(user, "uid") + ")"},
      {"Role", FieldText(user, "role")},
      {"Clearance", FieldText(user, "clearance")},
      {"Enabled", FieldText(user, "enabled")},
      {"Teams", ListText(Field(user, "teams"))},
      {"Leads", ListText(Field(user, "leads"))},
  };
  if (!Field(user, "mountpoint").is_null()) fields.emplace_back("Vault", FieldText(user, "mountpoint"));
  return FormatFields(fields);
}

std::string RenderUserList(const json& result) {
  std::vector<std::vector<std::string>> rows;
  for (const json& u : Array(result, "users")) {
    rows.push_back({FieldText(u, "name"), FieldText(u, "uid"), FieldText(u, "role"), FieldText(u, "clearance"),
                    FieldText(u, "enabled"), ListText(Field(u, "teams"))});
  }
  if (rows.empty()) return "No users.\n";
  return FormatTable({"NAME", "UID", "ROLE", "CLEARANCE", "ENABLED", "TEAMS"}, rows);
}

std::string RenderTeamList(const json& result) {
  std::vector<std::vector<std::string>> rows;
  for (const json& t : Array(result, "teams")) rows.push_back({FieldText(t, "name"), ListText(Field(t, "members"))});
  if (rows.empty()) return "No teams.\n";
  return FormatTable({"TEAM", "MEMBERS"}, rows);
}

std::string RenderAccess(const json& access) {
  std::string out = FormatFields({{"Path", FieldText(access, "path")}, {"Level", FieldText(access, "level")}});
  out += "\nGrants, nearest first:\n";
  std::vector<std::vector<std::string>> grants;
  for (const json& g : Array(access, "grants")) {
    const json& inherited = Field(g, "inherited");
    const std::string from = inherited.is_boolean() && inherited.get<bool>() ? "inherited" : "here";
    grants.push_back({FieldText(g, "path"), from, FieldText(g, "subject"), FieldText(g, "mode"), UntilText(g),
                      FieldText(g, "granted_by")});
  }
  out += grants.empty() ? "  none\n" : FormatTable({"ON", "FROM", "SUBJECT", "MODE", "UNTIL", "GRANTED BY"}, grants);
  out += "\nEffective access:\n";
  std::vector<std::vector<std::string>> effective;
  for (const json& e : Array(access, "effective")) {
    effective.push_back({FieldText(e, "user"), FieldText(e, "mode"), FieldText(e, "reason")});
  }
  out += effective.empty() ? "  none\n" : FormatTable({"USER", "MODE", "REASON"}, effective);
  return out;
}

std::string RenderUserAccess(const json& result) {
  std::string out = "Grants that apply to " + EscapeForTerminal(SubjectOrName(Field(result, "user"))) + ":\n";
  std::vector<std::vector<std::string>> rows;
  for (const json& g : Array(result, "grants")) {
    rows.push_back({FieldText(g, "path"), FieldText(g, "subject"), FieldText(g, "mode"), UntilText(g),
                    FieldText(g, "granted_by"), TimeText(Field(g, "granted_at"))});
  }
  out +=
      rows.empty() ? "  none\n" : FormatTable({"PATH", "SUBJECT", "MODE", "UNTIL", "GRANTED BY", "GRANTED AT"}, rows);
  return out;
}

std::string RenderRequests(const json& result, bool all) {
  std::vector<std::vector<std::string>> rows;
  for (const json& r : Array(result, "requests")) {
    rows.push_back({FieldText(r, "id"), FieldText(r, "state"), FieldText(r, "user"), FieldText(r, "mode"),
                    FieldText(r, "path"), TimeText(Field(r, "created_at")), FieldText(r, "reason"),
                    FieldText(r, "decided_by"), FieldText(r, "decision_reason")});
  }
  if (rows.empty()) return all ? "No requests.\n" : "No pending requests.\n";
  return FormatTable({"ID", "STATE", "USER", "MODE", "PATH", "CREATED", "REASON", "DECIDED BY", "DECISION REASON"},
                     rows);
}

std::string RenderViewerList(const json& result) {
  const json& group = Field(result, "group");
  std::string out = "Viewer group: " +
                    (group.is_object() ? EscapeForTerminal(FieldText(group, "name")) + " (gid " +
                                             EscapeForTerminal(FieldText(group, "gid")) + ")"
                                       : std::string("- (set when the first viewer is added)")) +
                    "\n";
  std::vector<std::vector<std::string>> rows;
  for (const json& v : Array(result, "viewers")) {
    rows.push_back({FieldText(v, "name"), FieldText(v, "path"), FieldText(v, "sha256"), FieldText(v, "added_by"),
                    TimeText(Field(v, "added_at"))});
  }
  out += rows.empty() ? "No viewers: no program may open `view` files.\n"
                      : FormatTable({"NAME", "PROGRAM", "SHA-256", "ADDED BY", "ADDED AT"}, rows);
  return out;
}

}  // namespace strongroom::tools
