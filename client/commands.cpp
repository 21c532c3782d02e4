#include "client/commands.hpp"

#include "client/daemon_calls.hpp"
#include "client/daemon_reply.hpp"
#include "client/http_request.hpp"
#include "client/key_input.hpp"
#include "client/org_names.hpp"
#include "client/output.hpp"
#include "client/platform/files.hpp"
#include "client/socket_client.hpp"
#include "common/error.hpp"
#include "common/shell_env.hpp"

#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <map>
#include <optional>
#include <utility>

namespace actoken::client {
namespace {

using json = nlohmann::ordered_json;

std::string dump(const json& body, bool pretty) {
  return body.dump(pretty ? 2 : -1, ' ', false, json::error_handler_t::replace);
}

colour state_colour(std::string_view state) {
  if (state == "ok") {
    return colour::green;
  }
  if (state == "backoff" || state == "failing") {
    return colour::yellow;
  }
  return colour::red;
}

// TOKEN EXPIRES IN: the root token's time left, "-" when none is cached.
std::string root_token_expiry(const json& org) {
  std::string expires = "-";
  if (const auto tokens = org.find("tokens"); tokens != org.end() && tokens->is_array()) {
    for (const auto& token : *tokens) {
      const auto sub_org = token.is_object() ? token.find("sub_org") : token.end();
      const bool root = token.is_object() && (sub_org == token.end() || sub_org->is_null());
      if (root) {
        if (const auto seconds = integer_field(token, "expires_in")) {
          expires = format_expires_in(*seconds);
        }
      }
    }
  }
  return expires;
}

// One row of the orgs table.
std::vector<table_cell> org_row(const json& org) {
  const auto name = text_field(org, "name");
  auto state = text_field(org, "state");
  std::string last_error = "-";
  if (const auto error = org.find("last_error"); error != org.end() && error->is_object()) {
    last_error =
        without_org_prefix(text_field(*error, "message", text_field(*error, "code")), name);
    // The daemon says `ok` while it is not backing off, yet the last exchange (or
    // refresh) failed: the next request tries again. Not "ok" to a reader.
    if (state == "ok") {
      state = "failing";
    }
  }
  return {{one_line(name, 64)},
          {one_line(state, 32), state_colour(state)},
          {root_token_expiry(org)},
          {one_line(last_error, 160)}};
}

// "sinks of acme: 2 ok, 1 error (/tmp/t: folder /tmp ...)": one line per
// organization with sinks, the first error's path and reason; "" without sinks.
std::string sinks_line(const json& org) {
  const auto list = org.find("sinks");
  if (list == org.end() || !list->is_array() || list->empty()) {
    return "";
  }
  std::map<std::string, int> counts;
  std::string first_error;
  for (const auto& sink : *list) {
    const auto state = text_field(sink, "state");
    ++counts[state];
    if (state == "error" && first_error.empty()) {
      first_error = text_field(sink, "path") + ": " + text_field(sink, "message");
    }
  }
  std::string line = "sinks of " + text_field(org, "name") + ":";
  bool first = true;
  for (const auto& [state, n] : counts) {
    line += (first ? " " : ", ") + std::to_string(n) + " " + state;
    first = false;
  }
  if (!first_error.empty()) {
    line += " (" + first_error + ")";
  }
  return one_line(line, 400) + "\n";
}

// "developers (2000), 1001": each group the daemon lists (those its rules
// name first), by name when it has one; "... and N more" when the daemon
// listed fewer than `groups_total` (it lists at most 64).
std::string whoami_groups(const json& body) {
  std::string out;
  std::size_t listed = 0;
  if (const auto groups = body.find("groups"); groups != body.end() && groups->is_array()) {
    for (const auto& group : *groups) {
      const auto id = integer_field(group, "gid");
      const auto number = id ? std::to_string(*id) : std::string("?");
      const auto name = text_field(group, "name", "");
      out += (out.empty() ? "" : ", ") +
             (name.empty() ? number : one_line(name, 64) + " (" + number + ")");
      ++listed;
    }
  }
  const auto total = integer_field(body, "groups_total");
  if (total && *total > 0 && static_cast<std::size_t>(*total) > listed) {
    out += (out.empty() ? "" : ", ") + std::string("and ") +
           std::to_string(static_cast<std::size_t>(*total) - listed) + " more";
  }
  return out.empty() ? "-" : out;
}

// One row of the whoami table: the organization, the rule, and the
// sub-organizations (alias or GUID, with their own rule where it differs).
std::vector<table_cell> whoami_row(const json& org) {
  const auto via = text_field(org, "via");
  auto rule = via;
  if (const auto root = org.find("root"); root != org.end() && root->is_boolean() && !*root) {
    rule += " (no root token)";
  }
  std::string subs;
  if (const auto list = org.find("sub_orgs"); list != org.end() && list->is_array()) {
    for (const auto& sub : *list) {
      auto label = text_field(sub, "alias", text_field(sub, "id"));
      if (const auto sub_via = text_field(sub, "via"); sub_via != via) {
        label += " (" + sub_via + ")";
      }
      subs += (subs.empty() ? "" : ", ") + label;
    }
  }
  if (const auto any = org.find("any_sub_org"); any != org.end() && any->is_boolean() && *any) {
    subs += subs.empty() ? "any GUID" : ", any other GUID";
  }
  return {{one_line(text_field(org, "name"), 64)},
          {one_line(rule, 160)},
          {one_line(subs.empty() ? "-" : subs, 400)}};
}

// The first socket `env` tries at which a genuine daemon answers; or, reported
// already, the exit code: 4 when a socket refused the caller, else 3.
struct answering {
  std::optional<std::filesystem::path> socket;
  int exit_code = exit_code::ok;
};

// Why none answers, one candidate after another: `A (No such file or directory)`.
std::string tried_sockets(const std::vector<std::pair<std::filesystem::path, std::string>>& tried) {
  std::string text;
  for (std::size_t i = 0; i < tried.size(); ++i) {
    text += (i == 0                  ? ""
             : i + 1 == tried.size() ? " or "
                                     : ", ") +
            tried[i].first.string() + " (" + one_line(tried[i].second, 200) + ")";
  }
  return text;
}

answering answering_socket(const context& ctx) {
  const auto candidates =
      ctx.socket_candidates.empty() ? std::vector{ctx.socket} : ctx.socket_candidates;
  std::vector<std::pair<std::filesystem::path, std::string>> tried;
  for (const auto& candidate : candidates) {
    const auto result = socket_client(candidate, ctx.timeout).check();
    if (result.answered()) {
      return {candidate, exit_code::ok};
    }
    if (result.error == transport_error::permission) {
      // A daemon runs there and shuts us out: say how to get in, not how to start one.
      const auto report = report_of(ctx, result, candidate);
      report_error(ctx, report.message, report.error);
      return {std::nullopt, report.exit_code};
    }
    tried.emplace_back(candidate, result.error == transport_error::untrusted
                                      ? "refusing it: " + result.detail
                                      : result.detail);
  }
  std::string hint =
      "start one with `eval \"$(actokend --detach)\"` (or `systemctl --user start "
      "actokend.socket`)";
  const bool system_socket_tried = std::find(candidates.begin(), candidates.end(),
                                             actoken::system_socket_path()) != candidates.end();
  if (system_socket_tried && ctx.system_daemon_installed && ctx.system_daemon_installed()) {
    hint += ", or the system daemon with `systemctl start actokend.socket` (as root)";
  }
  report_error(ctx, "no actokend answers at " + tried_sockets(tried) + "; " + hint,
               "daemon_unreachable");
  return {std::nullopt, exit_code::unreachable};
}

}  // namespace

int system_exec(const char* file, char* const argv[], char* const envp[]) {
  return ::execvpe(file, argv, envp);
}

bool system_daemon_is_installed() { return platform::system_daemon_installed(); }

std::string token_target(const token_options& options) {
  std::vector<query_param> query;
  if (options.org) {
    query.emplace_back("org", *options.org);
  }
  if (options.sub_org) {
    query.emplace_back("sub_org", *options.sub_org);
  }
  if (options.min_ttl) {
    query.emplace_back("min_ttl", std::to_string(*options.min_ttl));
  }
  if (options.fresh) {
    query.emplace_back("fresh", "1");
  }
  return make_target("/v1/token", query);
}

std::vector<std::string> child_environment(char* const* environment,
                                           const std::vector<std::string>& names,
                                           std::string_view token) {
  std::vector<std::string> entries;
  for (auto* const* entry = environment; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    const auto name = text.substr(0, text.find('='));
    if (std::find(names.begin(), names.end(), name) == names.end()) {
      entries.emplace_back(text);
    }
  }
  for (const auto& name : names) {
    // Each name once, even when given twice.
    const auto prefix = name + '=';
    if (std::none_of(entries.begin(), entries.end(),
                     [&](const std::string& e) { return e.starts_with(prefix); })) {
      entries.push_back(prefix + std::string(token));
    }
  }
  return entries;
}

std::string render_orgs(const nlohmann::ordered_json& body, bool coloured) {
  const auto hidden = integer_field(body, "hidden").value_or(0);
  const auto hidden_line = [hidden](std::string_view more) {
    return std::to_string(hidden) + std::string(more) +
           (hidden == 1 ? " organization is" : " organizations are") +
           " hidden from you (see `actoken whoami`)\n";
  };
  const auto orgs = body.is_object() ? body.find("orgs") : body.end();
  if (!body.is_object() || orgs == body.end() || !orgs->is_array() || orgs->empty()) {
    if (hidden > 0) {
      return hidden_line("");
    }
    return "no organizations; add one with `actoken key add ORG`\n";
  }
  std::vector<std::vector<table_cell>> rows;
  for (const auto& org : *orgs) {
    if (org.is_object()) {
      rows.push_back(org_row(org));
    }
  }
  auto table = format_table({"ORG", "STATE", "TOKEN EXPIRES IN", "LAST ERROR"}, rows, coloured);
  for (const auto& org : *orgs) {
    if (org.is_object()) {
      table += sinks_line(org);
    }
  }
  if (hidden > 0) {
    table += hidden_line(" more");
  }
  return table;
}

std::string render_status(const nlohmann::ordered_json& body, const std::filesystem::path& socket) {
  const auto number = [&](std::string_view key) {
    const auto value = integer_field(body, key);
    return value ? std::to_string(*value) : std::string("-");
  };
  std::string reload = "none since start";
  if (const auto it = body.find("last_reload"); it != body.end() && it->is_object()) {
    const auto ok = it->find("ok");
    const bool succeeded = ok != it->end() && ok->is_boolean() && ok->get<bool>();
    reload = (succeeded ? "ok at " : "failed at ") + text_field(*it, "at");
    if (const auto message = text_field(*it, "message", ""); !succeeded && !message.empty()) {
      reload += ": " + one_line(message, 200);
    }
  }
  const auto uptime = integer_field(body, "uptime_s");
  const std::vector<std::pair<std::string, std::string>> lines{
      {"uptime", uptime ? format_duration(*uptime) : "-"},
      {"organizations", number("orgs")},
      {"cached tokens", number("cached_tokens")},
      {"requests", number("requests_total")},
      {"exchanges", number("exchanges_total")},
      {"connections", number("connections")},
      {"last reload", reload},
  };
  std::string out = "actokend " + one_line(text_field(body, "version", "?"), 64) + " at " +
                    socket.string() + "\n";
  for (const auto& [label, value] : lines) {
    out += "  " + label + ':' + std::string(15 - label.size(), ' ') + value + '\n';
  }
  return out;
}

// Prints the token after `prefix` (the daemon's object with --json).
int print_token(const command_line& command, context& ctx, std::string_view prefix) {
  std::string token;
  const auto got = fetch_token(ctx, command.token, token);
  if (got.exit_code == exit_code::ok) {
    if (ctx.json) {
      ctx.out << dump(got.body, ctx.pretty_json) << '\n';
    } else {
      ctx.out << prefix << token << '\n';
    }
  }
  wipe(token);
  return got.exit_code;
}

int run_token(const command_line& command, context& ctx) { return print_token(command, ctx, ""); }

int run_header(const command_line& command, context& ctx) {
  return print_token(command, ctx, "Authorization: Bearer ");
}

int run_exec(const command_line& command, context& ctx) {
  if (command.exec_argv.empty()) {
    report_error(ctx, "exec: no command given", "usage");
    return exit_code::usage;
  }
  std::string token;
  const auto got = fetch_token(ctx, command.token, token);
  if (got.exit_code != exit_code::ok) {
    return got.exit_code;
  }
  const auto names = command.env_names.empty()
                         ? std::vector<std::string>{std::string(default_token_variable)}
                         : command.env_names;
  auto environment = child_environment(ctx.environment, names, token);
  wipe(token);

  std::vector<std::string> arguments = command.exec_argv;
  std::vector<char*> argv;
  argv.reserve(arguments.size() + 1);
  for (auto& argument : arguments) {
    argv.push_back(argument.data());
  }
  argv.push_back(nullptr);
  std::vector<char*> envp;
  envp.reserve(environment.size() + 1);
  for (auto& entry : environment) {
    envp.push_back(entry.data());
  }
  envp.push_back(nullptr);

  // Whatever we printed must be out before the process image is replaced.
  ctx.out.flush();
  ctx.err.flush();
  ctx.exec(argv.front(), argv.data(), envp.data());
  const int error = errno;
  for (auto& entry : environment) {
    wipe(entry);
  }
  const auto& name = command.exec_argv.front();
  if (error == ENOENT || error == ENOTDIR) {
    report_error(ctx, one_line(name, 200) + ": command not found", "command_not_found");
    return exit_code::command_not_found;
  }
  report_error(ctx, one_line(name, 200) + ": " + std::strerror(error), "command_not_executable");
  return 126;  // found but not executable, as POSIX shells report it
}

int run_orgs(const command_line& /*command*/, context& ctx) {
  const auto got = ask(ctx, "GET", "/v1/orgs");
  if (got.exit_code == exit_code::ok) {
    ctx.out << (ctx.json ? dump(got.body, ctx.pretty_json) + '\n'
                         : render_orgs(got.body, ctx.colour));
  }
  return got.exit_code;
}

std::string render_whoami(const nlohmann::ordered_json& body) {
  const auto uid = integer_field(body, "uid");
  const auto gid = integer_field(body, "gid");
  const auto uid_text = "uid " + (uid ? std::to_string(*uid) : std::string("?"));
  const auto user = text_field(body, "user", "");
  std::string out = user.empty() ? uid_text : "user " + one_line(user, 64) + " (" + uid_text + ")";
  out += ", gid " + (gid ? std::to_string(*gid) : std::string("?")) + '\n';
  out += "groups: " + whoami_groups(body) + '\n';
  const auto admin = body.find("admin");
  const bool is_admin = admin != body.end() && admin->is_boolean() && admin->get<bool>();
  out += std::string("admin: ") + (is_admin ? "yes" : "no") + '\n';
  std::vector<std::vector<table_cell>> rows;
  if (const auto orgs = body.find("orgs"); orgs != body.end() && orgs->is_array()) {
    for (const auto& org : *orgs) {
      if (org.is_object()) {
        rows.push_back(whoami_row(org));
      }
    }
  }
  if (rows.empty()) {
    return out + "no organizations you may use\n";
  }
  return out + format_table({"ORG", "VIA", "SUB-ORGANIZATIONS"}, rows, false);
}

int run_whoami(const command_line& /*command*/, context& ctx) {
  const auto got = ask(ctx, "GET", "/v1/whoami");
  if (got.exit_code == exit_code::ok) {
    ctx.out << (ctx.json ? dump(got.body, ctx.pretty_json) + '\n' : render_whoami(got.body));
  }
  return got.exit_code;
}

int run_reload(const command_line& /*command*/, context& ctx) {
  const auto got = ask(ctx, "POST", "/v1/reload");
  if (got.exit_code != exit_code::ok) {
    return got.exit_code;
  }
  const auto ok = got.body.find("ok");
  const bool reloaded = ok != got.body.end() && ok->is_boolean() && ok->get<bool>();
  const auto message = one_line(text_field(got.body, "message", ""), 400);
  if (ctx.json) {
    ctx.out << dump(got.body, ctx.pretty_json) << '\n';
  } else if (reloaded) {
    ctx.out << "reloaded at " << text_field(got.body, "at") << ": " << message << '\n';
  }
  if (!reloaded) {
    // The daemon's answer is already on stdout with --json: the line alone here.
    report_line(ctx,
                "the new configuration was refused; actokend keeps the previous one: " + message);
    return exit_code::failure;
  }
  return exit_code::ok;
}

int run_status(const command_line& /*command*/, context& ctx) {
  const auto got = ask(ctx, "GET", "/v1/status");
  if (got.exit_code == exit_code::ok) {
    ctx.out << (ctx.json ? dump(got.body, ctx.pretty_json) + '\n'
                         : render_status(got.body, ctx.socket));
  }
  return got.exit_code;
}

int run_ping(const command_line& /*command*/, context& ctx) {
  const auto got = ask(ctx, "GET", "/v1/health");
  if (got.exit_code != exit_code::ok) {
    return got.exit_code;
  }
  const auto status = text_field(got.body, "status", "");
  if (ctx.json) {
    ctx.out << dump(got.body, ctx.pretty_json) << '\n';
  }
  if (status != "ok") {
    report_line(ctx, "actokend at " + ctx.socket.string() + " is not healthy (status '" +
                         one_line(status, 64) + "')");
    return exit_code::failure;
  }
  if (!ctx.json) {
    ctx.out << "actokend " << one_line(text_field(got.body, "version", "?"), 64) << " at "
            << ctx.socket.string() << " is healthy\n";
  }
  return exit_code::ok;
}

int run_key_add(const command_line& command, context& ctx) {
  const auto org = command.org.value_or("");
  // SPEC §5: reach the daemon and check it is genuine before asking for the key, so
  // no one types a key for a daemon that is not there, or not to be trusted.
  if (const int code = check_daemon(ctx); code != exit_code::ok) {
    return code;
  }
  protect_process_memory();
  secret_buffer key(max_key_size + 1);
  if (auto error = read_key(ctx.input_fd, ctx.err, org, key)) {
    report_error(ctx, *error);
    return exit_code::failure;
  }
  key_settings settings;
  settings.auth_url = command.auth_url;
  settings.api_version = command.api_version;
  settings.persist = !command.ephemeral;
  settings.verify = !command.no_verify;
  const auto extra =
      settings.auth_url.value_or("").size() + settings.api_version.value_or("").size();
  secret_buffer body(6 * (key.size() + extra) + 128);
  if (!build_key_body(key.view(), settings, body)) {
    report_error(ctx, "cannot build the request for " + org);
    return exit_code::failure;
  }
  key.clear();
  const wait_reason reason{
      settings.verify ? wait_reason::kind::key_check : wait_reason::kind::other, org, "",
      settings.auth_url.value_or("")};
  const auto got =
      ask(ctx, "PUT", "/v1/orgs/" + percent_encode(org) + "/key", org, body.view(), true, reason);
  body.clear();
  if (got.exit_code != exit_code::ok) {
    return got.exit_code;
  }
  if (ctx.json) {
    ctx.out << dump(got.body, ctx.pretty_json) << '\n';
  } else {
    const auto persisted = got.body.find("persisted");
    const bool saved =
        persisted != got.body.end() && persisted->is_boolean() && persisted->get<bool>();
    const auto verified = got.body.find("verified");
    const bool tried =
        verified != got.body.end() && verified->is_boolean() && verified->get<bool>();
    ctx.out << "added the key for " << org << (saved ? " (saved" : " (in memory only")
            << (tried ? ", verified: the auth server issued a token)" : ", not verified)") << '\n';
  }
  return exit_code::ok;
}

int run_key_remove(const command_line& command, context& ctx) {
  const auto org = command.org.value_or("");
  const auto got = ask(ctx, "DELETE", "/v1/orgs/" + percent_encode(org) + "/key", org);
  if (got.exit_code != exit_code::ok) {
    return got.exit_code;
  }
  if (ctx.json) {
    ctx.out << dump(got.body, ctx.pretty_json) << '\n';
  } else {
    ctx.out << "removed the key for " << org << '\n';
  }
  return exit_code::ok;
}

int run_flush(const command_line& command, context& ctx) {
  std::vector<query_param> query;
  if (command.org) {
    query.emplace_back("org", *command.org);
  }
  const auto got = ask(ctx, "DELETE", make_target("/v1/tokens", query), command.org.value_or(""));
  if (got.exit_code != exit_code::ok) {
    return got.exit_code;
  }
  if (ctx.json) {
    ctx.out << dump(got.body, ctx.pretty_json) << '\n';
  } else {
    const auto evicted = integer_field(got.body, "evicted").value_or(0);
    ctx.out << "evicted " << evicted << (evicted == 1 ? " cached token" : " cached tokens")
            << (command.org ? " of " + *command.org : std::string()) << '\n';
  }
  return exit_code::ok;
}

int run_env(const command_line& command, context& ctx) {
  const char* shell = ctx.env("SHELL");
  const auto syntax = command.shell.value_or(shell_from_path(shell == nullptr ? "" : shell));
  const auto found = answering_socket(ctx);
  if (!found.socket) {
    return found.exit_code;  // reported
  }
  const auto line = socket_env_line(found.socket->string(), syntax);
  if (!line) {
    report_error(ctx,
                 "the socket path has a control character, which a shell line cannot carry "
                 "safely; set ACTOKEN_SOCKET by hand");
    return exit_code::failure;
  }
  if (ctx.json) {
    print_json(ctx, json{{"ACTOKEN_SOCKET", found.socket->string()}});
  } else {
    ctx.out << *line;
  }
  return exit_code::ok;
}

int run_command(const command_line& command, context& ctx) {
  switch (command.kind) {
    case command_kind::token:
      return run_token(command, ctx);
    case command_kind::header:
      return run_header(command, ctx);
    case command_kind::exec:
      return run_exec(command, ctx);
    case command_kind::orgs:
      return run_orgs(command, ctx);
    case command_kind::status:
      return run_status(command, ctx);
    case command_kind::ping:
      return run_ping(command, ctx);
    case command_kind::key_add:
      return run_key_add(command, ctx);
    case command_kind::key_remove:
      return run_key_remove(command, ctx);
    case command_kind::flush:
      return run_flush(command, ctx);
    case command_kind::env:
      return run_env(command, ctx);
    case command_kind::appcircle_config:
      return run_appcircle_config(command, ctx);
    case command_kind::whoami:
      return run_whoami(command, ctx);
    case command_kind::reload:
      return run_reload(command, ctx);
  }
  return exit_code::usage;
}

}  // namespace actoken::client
