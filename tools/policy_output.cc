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

namespace {

std::string WitnessesText(const json& r) {
  std::string out;
  for (const json& w : Array(r, "witnesses")) {
    if (!out.empty()) out += ", ";
    out += FieldText(w, "user");
  }
  return (out.empty() ? std::string("none") : out) + " (" + std::to_string(Array(r, "witnesses").size()) + " of " +
         FieldText(r, "witnesses_needed") + ")";
}

std::string SizeText(const json& v) { return v.is_number() ? ValueText(v) + " B" : "-"; }

}  // namespace

std::string RenderDestructions(const json& result, bool all) {
  std::vector<std::vector<std::string>> rows;
  for (const json& r : Array(result, "requests")) {
    rows.push_back({FieldText(r, "id"), FieldText(r, "kind"), FieldText(r, "state"), FieldText(r, "requested_by"),
                    ListText(Field(r, "paths")), FieldText(r, "items"), WitnessesText(r), TimeText(Field(r, "created_at")),
                    FieldText(r, "reason")});
  }
  if (rows.empty()) return all ? "No destruction requests.\n" : "No open destruction requests.\n";
  return FormatTable({"ID", "KIND", "STATE", "REQUESTED BY", "PATHS", "ITEMS", "WITNESSES", "CREATED", "REASON"}, rows);
}

std::string RenderDestruction(const json& r) {
  std::vector<std::pair<std::string, std::string>> fields = {
      {"Request", FieldText(r, "id") + " (" + FieldText(r, "kind") + ")"},
      {"State", FieldText(r, "state")},
      {"Paths", ListText(Field(r, "paths"))},
      {"Reason", FieldText(r, "reason")},
      {"Requested by", FieldText(r, "requested_by") + " at " + TimeText(Field(r, "created_at"))},
      {"Witnesses", WitnessesText(r)},
  };
  if (!Field(r, "hold_until").is_null()) fields.emplace_back("Hold until", TimeText(Field(r, "hold_until")));
  if (!Field(r, "approved_at").is_null()) fields.emplace_back("Approved at", TimeText(Field(r, "approved_at")));
  if (!Field(r, "completed_at").is_null()) fields.emplace_back("Closed at", TimeText(Field(r, "completed_at")));
  if (!Field(r, "closed_by").is_null()) {
    fields.emplace_back("Closed by", FieldText(r, "closed_by") + ": " + FieldText(r, "close_reason"));
  }
  const json& p = Field(r, "progress");
  if (p.is_object()) {
    std::string text = FieldText(p, "phase") + " " + FieldText(p, "done") + "/" + FieldText(p, "total");
    if (!FieldText(p, "error").empty() && FieldText(p, "error") != "-") text += " (stopped: " + FieldText(p, "error") + ")";
    fields.emplace_back("Progress", text);
  }
  std::string out = FormatFields(fields);
  std::vector<std::vector<std::string>> rows;
  for (const json& i : Array(r, "contents")) {
    rows.push_back({FieldText(i, "path"), FieldText(i, "kind"), FieldText(i, "state"), SizeText(Field(i, "size")),
                    FieldText(i, "ciphertext_sha256")});
  }
  if (!rows.empty()) out += "\n" + FormatTable({"PATH", "KIND", "STATE", "SIZE", "CIPHERTEXT SHA-256"}, rows);
  return out;
}

std::string RenderCertificate(const json& result) {
  const json& c = Field(result, "certificate");
  const json& by = Field(c, "requested_by");
  std::string out = "DESTRUCTION CERTIFICATE (request " + FieldText(c, "request") + ")\n\n";
  out += FormatFields({{"Vault", FieldText(c, "vault_id")},
                       {"Reason", FieldText(c, "reason")},
                       {"Requested by", FieldText(by, "name") + " (uid " + FieldText(by, "uid") + ", " +
                                            FieldText(by, "role") + ") at " + FieldText(c, "requested_at")},
                       {"Approved at", FieldText(c, "approved_at")},
                       {"Completed at", FieldText(c, "completed_at")},
                       {"Witnesses needed", FieldText(c, "witnesses_needed")}});
  std::vector<std::vector<std::string>> witnesses;
  for (const json& w : Array(c, "witnesses")) {
    witnesses.push_back({FieldText(w, "name"), FieldText(w, "uid"), FieldText(w, "role"), FieldText(w, "witnessed_at"),
                         FieldText(w, "account_created_at"), FieldText(w, "account_created_by")});
  }
  out += "\nWitnesses:\n" + (witnesses.empty() ? std::string("  none\n")
                                                 : FormatTable({"NAME", "UID", "ROLE", "WITNESSED AT", "ACCOUNT CREATED",
                                                                "CREATED BY"},
                                                               witnesses));
  std::vector<std::vector<std::string>> files;
  for (const json& f : Array(c, "files")) {
    files.push_back({FieldText(f, "path"), FieldText(f, "kind"), FieldText(f, "file_id"), SizeText(Field(f, "size")),
                     SizeText(Field(f, "ciphertext_size")), FieldText(f, "ciphertext_sha256"), FieldText(f, "result")});
  }
  out += "\nFiles:\n" + (files.empty() ? std::string("  none\n")
                                        : FormatTable({"PATH", "KIND", "FILE ID", "SIZE", "CIPHERTEXT", "CIPHERTEXT SHA-256",
                                                       "RESULT"},
                                                      files));
  std::vector<std::vector<std::string>> folders;
  for (const json& f : Array(c, "folders")) {
    folders.push_back({FieldText(f, "path"), FieldText(f, "folder_id"), FieldText(f, "result")});
  }
  if (!folders.empty()) out += "\nFolders:\n" + FormatTable({"PATH", "FOLDER ID", "RESULT"}, folders);
  out += "\nMethod: " + EscapeForTerminal(FieldText(c, "method")) + "\n";
  out += "\nBackups: " + EscapeForTerminal(FieldText(c, "backups")) + "\n\n";
  out += FormatFields({{"Digest (SHA-256)", FieldText(result, "digest")},
                       {"MAC", FieldText(result, "mac")},
                       {"Audit record", FieldText(result, "audit_op")}});
  return out;
}

}  // namespace strongroom::tools
