#include "client/cli_args.hpp"

#include "common/names.hpp"
#include "common/nearest_name.hpp"
#include "common/option_name.hpp"
#include "common/version.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <array>
#include <memory>
#include <utility>

namespace actoken::client {
namespace {

// Help texts. Raw strings use a "txt" delimiter: the examples contain `)"`.
constexpr std::string_view root_footer = R"txt(Examples:
  actoken token acme                      print a token for organization acme
  actoken header | curl -H @- https://api.appcircle.io/...
  actoken exec acme -- fastlane build     run a command with the token in $AC_ACCESS_TOKEN
  actoken appcircle-config acme && appcircle build profile list
  actoken key add acme < acme.key         give the daemon a key (read from stdin)
  actoken orgs                            what the daemon knows
  actoken whoami                          who you are to the daemon, and what you may use
  eval "$(actoken env)"                   pin this socket for cron jobs and sudo

Socket: --socket, else $ACTOKEN_SOCKET, else the first that exists of
${XDG_RUNTIME_DIR:-/run/user/<uid>}/actoken/actokend.sock and
/tmp/actoken-<uid>/actokend.sock, else /run/actoken/actokend.sock. Only a daemon
run by you, root or the actoken user, in a folder no one else can write, is
trusted: any other socket gets nothing (exit 3).

Exit codes: 0 ok, 1 other failure, 2 usage, 3 daemon not reachable or refused, 4 permission
denied, 5 unknown organization or no key, 6 key rejected, 7 auth server unavailable,
timed out or rate limited. `exec` exits with the command's status (127: not found).

With --json, a failure is a JSON object on stdout too ({"error","message"}), with
the same exit code.

Run `actoken help COMMAND` (or `actoken COMMAND --help`) for a command's options
and examples.)txt";

constexpr std::string_view token_footer = R"txt(Examples:
  actoken token                           the default organization's token
  actoken token acme --min-ttl 600        one that stays valid for 10 more minutes
  actoken token acme --sub-org mobile     a sub-organization's token
  actoken token acme --fresh              a new one: the last was refused
  actoken --json token acme               the daemon's full answer, with expiry)txt";

constexpr std::string_view header_footer = R"txt(Examples:
  actoken header acme | curl -H @- https://api.appcircle.io/build/v2/profiles
  actoken header --org acme --sub-org mobile)txt";

constexpr std::string_view exec_footer =
    R"txt(The command goes after `--`: actoken exec [ORG] [OPTIONS] -- CMD [ARG...]
The token is passed in the environment only, never on a command line. --env
refuses the variables the command needs to run: PATH, HOME, SHELL, USER,
LOGNAME, IFS and LD_*. (Appcircle's own CLI ignores AC_ACCESS_TOKEN: use
`actoken appcircle-config` for it.)

Examples:
  actoken exec acme -- ./deploy.sh
  actoken exec --org acme --min-ttl 1800 -- fastlane release
  actoken exec acme --env AC_ACCESS_TOKEN --env APPCIRCLE_TOKEN -- make release)txt";

constexpr std::string_view orgs_footer = R"txt(Examples:
  actoken orgs
  actoken orgs --json | jq '.orgs[].name')txt";

constexpr std::string_view status_footer = R"txt(Examples:
  actoken status
  actoken status --json)txt";

constexpr std::string_view ping_footer = R"txt(Examples:
  actoken ping && echo "actokend is up"
  actoken ping --socket /run/actoken/actokend.sock)txt";

constexpr std::string_view key_footer = R"txt(Examples:
  actoken key add acme < acme.key
  actoken key remove acme)txt";

constexpr std::string_view key_add_footer =
    R"txt(The key is read from stdin, without echo on a terminal; it is never accepted as an
argument, where other users could see it. The daemon first exchanges it once for a
token: a key the auth server rejects is not stored (exit 6). --no-verify skips that
(e.g. to add a key while the auth server cannot be reached).

Examples:
  actoken key add acme                    prompts for the key
  actoken key add acme < acme.key
  pass show appcircle/acme | actoken key add acme --ephemeral
  actoken key add corp --auth-url https://auth.appcircle.corp.example --api-version auto < corp.key)txt";

constexpr std::string_view key_remove_footer = R"txt(Examples:
  actoken key remove acme)txt";

constexpr std::string_view env_footer =
    R"txt(Prints the line that sets ACTOKEN_SOCKET to the socket where a daemon answers
now, like `ssh-agent -s`: --socket or $ACTOKEN_SOCKET if given, else the first
that answers of the user sockets and the system socket. When none answers it
prints nothing on stdout and exits 3, so `eval "$(actoken env)"` never pins a
socket nobody serves; start one with `eval "$(actokend --detach)"`. The shell is
--shell, else the one $SHELL names (csh and tcsh: csh; fish: fish; anything
else: sh).

Examples:
  eval "$(actoken env)"                   in a crontab line or a script run by sudo
  eval "`actoken env --shell csh`"        csh, tcsh
  actoken env --shell fish | source       fish
  sudo --preserve-env=ACTOKEN_SOCKET actoken token acme)txt";

constexpr std::string_view appcircle_config_footer =
    R"txt(Appcircle's own CLI reads its token only from its config file, never from
$AC_ACCESS_TOKEN. This writes a token into that file, for its current environment:
${XDG_CONFIG_HOME:-~/.config}/@appcircle/cli-nodejs/config.json unless --file
says otherwise. Every other field is kept; host names are never changed; a
missing file is created with Appcircle's public servers. The file is replaced
atomically, mode 0600, and its path printed on stderr. The token is printed
nowhere.

Examples:
  actoken appcircle-config acme && appcircle build profile list
  actoken appcircle-config acme --min-ttl 1800     for a session of up to 30 minutes
  actoken appcircle-config acme --sub-org mobile --file ./appcircle.json)txt";

constexpr std::string_view whoami_footer =
    R"txt(Who the daemon takes you for (from the kernel: uid, gid and the groups of this
process), whether you are admin, and each organization you may use with the rule
that lets you in. Names are those the daemon learnt when it loaded its config.

Examples:
  actoken whoami
  actoken whoami --json | jq '.orgs[] | {name, via}')txt";

constexpr std::string_view reload_footer =
    R"txt(Re-reads the daemon's config and keys now, as SIGHUP does (admin only). Exit 1
when the new config is refused: the daemon keeps the previous one.

Examples:
  actoken reload
  sudo actoken reload --socket /run/actoken/actokend.sock)txt";

constexpr std::string_view help_footer =
    R"txt(`actoken help COMMAND` is `actoken COMMAND --help`: its options and examples.

Examples:
  actoken help                            the commands and the global options
  actoken help token
  actoken help key add)txt";

constexpr std::string_view flush_footer = R"txt(Examples:
  actoken flush acme                      forget acme's cached tokens
  actoken flush                           forget every cached token (admin only))txt";

// What each option expects, for usage errors. CLI11's own messages repeat the value
// given ("Could not convert: --min-ttl = ...", "... was not expected: ..."), and that
// value may be a pasted key (SPEC §5): a usage error is built from these texts and
// the option's name only, never from CLI11's message.
constexpr std::string_view org_name_expected =
    "an organization name (1 to 64 letters, digits, '.', '_' or '-', starting with a letter or "
    "digit)";
constexpr std::string_view env_name_expected =
    "an environment variable name (letters, digits and '_', not starting with a digit)";

struct option_expectation {
  std::string_view name;      // as CLI11 names the option in its messages
  std::string_view expected;  // what its value must be; empty: a flag, which takes none
};

constexpr std::array<option_expectation, 16> expectations{{
    {"ORG", org_name_expected},
    {"--org", org_name_expected},
    {"--sub-org", "a sub-organization alias or GUID"},
    {"--min-ttl", "whole seconds from 0 to 86400"},
    {"--env", env_name_expected},
    {"--auth-url", "the auth server's URL"},
    {"--api-version", "v1, v2, v3 or auto"},
    {"--socket", "the daemon's socket path"},
    {"--shell", "sh, csh or fish"},
    {"--file", "a file path"},
    {"--json", ""},
    {"--fresh", ""},
    {"--ephemeral", ""},
    {"--no-verify", ""},
    {"--help", ""},
    {"--version", ""},
}};

// The first of our options that CLI11's `message` names. Only a name from the table
// above can come out of here: nothing of the message itself is ever printed.
const option_expectation* option_named_in(std::string_view message) {
  std::size_t at = 0;
  while (at < message.size()) {
    const auto end = message.find_first_of(" :,=", at);
    const auto word = message.substr(at, end == std::string_view::npos ? end : end - at);
    for (const auto& option : expectations) {
      if (word == option.name) {
        return &option;
      }
    }
    if (end == std::string_view::npos) {
      break;
    }
    at = end + 1;
  }
  return nullptr;
}

// The subcommands, so the parse can tell which one ran.
struct subcommands {
  CLI::App* token = nullptr;
  CLI::App* header = nullptr;
  CLI::App* exec = nullptr;
  CLI::App* orgs = nullptr;
  CLI::App* status = nullptr;
  CLI::App* ping = nullptr;
  CLI::App* key = nullptr;
  CLI::App* key_add = nullptr;
  CLI::App* key_remove = nullptr;
  CLI::App* flush = nullptr;
  CLI::App* env = nullptr;
  CLI::App* appcircle_config = nullptr;
  CLI::App* whoami = nullptr;
  CLI::App* reload = nullptr;
  CLI::App* help = nullptr;  // listed in the usage; parse_command_line answers it before CLI11
};

// Where CLI11 writes what it parsed; turned into a `command_line` afterwards.
struct raw_values {
  std::string socket;
  bool json = false;
  std::string positional_org;
  std::string org;
  std::string sub_org;
  int min_ttl = 0;
  bool fresh = false;
  std::vector<std::string> env_names;
  std::string auth_url;
  std::string api_version;
  bool ephemeral = false;
  bool no_verify = false;
  std::string shell;
  std::string file;
};

// The rejected value is not echoed: a key pasted where ORG goes must not be printed.
CLI::Validator org_name_check() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        return valid_org_name(value) ? std::string() : "expected " + std::string(org_name_expected);
      },
      "", "organization name");
}

CLI::Validator env_name_check() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        return valid_env_name(value) ? std::string() : "expected " + std::string(env_name_expected);
      },
      "", "environment variable name");
}

CLI::Validator non_empty_check() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        return value.empty() ? std::string("must not be empty") : std::string();
      },
      "", "non-empty");
}

// --sub-org and --min-ttl: which token, for every command that gets one.
void add_sub_org_and_ttl(CLI::App& sub, raw_values& raw) {
  sub.add_option("--sub-org", raw.sub_org, "Sub-organization: an alias from the config or a GUID")
      ->check(non_empty_check())
      ->option_text("ID");
  sub.add_option("--min-ttl", raw.min_ttl, "Seconds the token must stay valid (0..86400)")
      ->check(CLI::Range(0, 86400))
      ->option_text("SECONDS");
}

// token, header, exec: ORG or --org, --sub-org, --min-ttl, --fresh.
void add_token_options(CLI::App& sub, raw_values& raw) {
  sub.add_option("ORG", raw.positional_org, "Organization (same as --org)")
      ->check(org_name_check())
      ->option_text(" ");
  sub.add_option("--org", raw.org, "Organization; default: the daemon's default_org")
      ->check(org_name_check())
      ->option_text("ORG");
  add_sub_org_and_ttl(sub, raw);
  sub.add_flag("--fresh", raw.fresh, "Ask for a new token: the cached one was refused");
}

void add_env_command(CLI::App& app, raw_values& raw, subcommands& subs) {
  subs.env = app.add_subcommand("env", "Print the line that sets ACTOKEN_SOCKET (like ssh-agent)");
  subs.env->add_option("--shell", raw.shell, "Syntax of the line; default: from $SHELL")
      ->check(CLI::IsMember({"sh", "csh", "fish"}))
      ->option_text("sh|csh|fish");
  subs.env->footer(std::string(env_footer));
}

void add_appcircle_config_command(CLI::App& app, raw_values& raw, subcommands& subs) {
  subs.appcircle_config = app.add_subcommand(
      "appcircle-config", "Put a token into the Appcircle CLI's config (it ignores the env)");
  auto& sub = *subs.appcircle_config;
  sub.add_option("ORG", raw.positional_org, "Organization; default: the daemon's default_org")
      ->check(org_name_check())
      ->option_text(" ");
  add_sub_org_and_ttl(sub, raw);
  sub.add_option("--file", raw.file, "The Appcircle CLI's config file (default: its own)")
      ->check(non_empty_check())
      ->option_text("PATH");
  sub.footer(std::string(appcircle_config_footer));
}

// token, header and exec: the commands that fetch a token.
void add_token_commands(CLI::App& app, raw_values& raw, subcommands& subs) {
  subs.token = app.add_subcommand("token", "Print an access token and a newline");
  add_token_options(*subs.token, raw);
  subs.token->footer(std::string(token_footer));

  subs.header = app.add_subcommand("header", "Print `Authorization: Bearer <token>`");
  add_token_options(*subs.header, raw);
  subs.header->footer(std::string(header_footer));

  subs.exec =
      app.add_subcommand("exec", "Run CMD with the token in $AC_ACCESS_TOKEN (or each --env NAME)");
  add_token_options(*subs.exec, raw);
  subs.exec->add_option("--env", raw.env_names, "Variable to put the token in instead (repeatable)")
      ->allow_extra_args(false)
      ->check(env_name_check())
      ->option_text("NAME");
  subs.exec->footer(std::string(exec_footer));
}

// orgs, status and ping: what the daemon holds and how it is.
void add_daemon_commands(CLI::App& app, subcommands& subs) {
  subs.orgs =
      app.add_subcommand("orgs", "List organizations: ORG, STATE, TOKEN EXPIRES IN, LAST ERROR");
  subs.orgs->footer(std::string(orgs_footer));

  subs.status = app.add_subcommand("status", "Show the daemon's status");
  subs.status->footer(std::string(status_footer));

  subs.ping = app.add_subcommand("ping", "Exit 0 if the daemon answers healthy");
  subs.ping->footer(std::string(ping_footer));
}

// key add and key remove.
void add_key_commands(CLI::App& app, raw_values& raw, subcommands& subs) {
  subs.key = app.add_subcommand("key", "Add or remove an organization's access key (admin)");
  subs.key->require_subcommand(1);
  subs.key->footer(std::string(key_footer));

  subs.key_add = subs.key->add_subcommand("add", "Give the daemon ORG's key, read from stdin");
  subs.key_add->add_option("ORG", raw.org, "Organization")
      ->required()
      ->check(org_name_check())
      ->option_text("REQUIRED");
  subs.key_add->add_option("--auth-url", raw.auth_url, "Auth server for ORG (self-hosted)")
      ->check(non_empty_check())
      ->option_text("URL");
  subs.key_add->add_option("--api-version", raw.api_version, "Token endpoint version for ORG")
      ->check(CLI::IsMember({"v1", "v2", "v3", "auto"}))
      ->option_text("v1|v2|v3|auto");
  subs.key_add->add_flag("--ephemeral", raw.ephemeral,
                         "Keep the key in memory only (lost when actokend stops)");
  subs.key_add->add_flag("--no-verify", raw.no_verify,
                         "Keep the key without first exchanging it once for a token");
  subs.key_add->footer(std::string(key_add_footer));

  subs.key_remove = subs.key->add_subcommand("remove", "Remove ORG's key and its tokens");
  subs.key_remove->add_option("ORG", raw.org, "Organization")
      ->required()
      ->check(org_name_check())
      ->option_text("REQUIRED");
  subs.key_remove->footer(std::string(key_remove_footer));
}

// flush, whoami and reload: a caller's cache, access and the daemon's config.
void add_admin_commands(CLI::App& app, raw_values& raw, subcommands& subs) {
  subs.flush = app.add_subcommand("flush", "Evict cached tokens: ORG's, or all (admin)");
  subs.flush->add_option("ORG", raw.positional_org, "Organization; none: every organization")
      ->check(org_name_check());
  subs.flush->add_option("--org", raw.org, "Organization (same as ORG)")->check(org_name_check());
  subs.flush->footer(std::string(flush_footer));

  subs.whoami = app.add_subcommand("whoami", "Who the daemon takes you for, and what you may use");
  subs.whoami->footer(std::string(whoami_footer));

  subs.reload = app.add_subcommand("reload", "Re-read the daemon's config and keys now (admin)");
  subs.reload->footer(std::string(reload_footer));
}

std::unique_ptr<CLI::App> build_app(raw_values& raw, subcommands& subs) {
  auto app = std::make_unique<CLI::App>(
      "actoken: Appcircle access tokens from the local actokend daemon", "actoken");
  app->footer(std::string(root_footer));
  app->fallthrough();  // global options are accepted after the command too; inherited below
  app->require_subcommand(1);
  app->set_version_flag("--version", "actoken " + std::string(actoken::version));
  app->get_formatter()->column_width(26);
  app->add_option("--socket", raw.socket, "Daemon socket (default: see below)")
      ->check(non_empty_check())
      ->option_text("PATH");
  app->add_flag("--json", raw.json, "Print the daemon's JSON answer");

  add_token_commands(*app, raw, subs);
  add_daemon_commands(*app, subs);
  add_key_commands(*app, raw, subs);
  add_admin_commands(*app, raw, subs);
  add_env_command(*app, raw, subs);
  add_appcircle_config_command(*app, raw, subs);
  subs.help = app->add_subcommand("help", "Print this usage, or a command's: help COMMAND");
  subs.help->footer(std::string(help_footer));
  return app;
}

// The deepest subcommand that was parsed, as "actoken key add", for error hints.
std::string command_path(const subcommands& subs) {
  const std::array<std::pair<CLI::App*, std::string_view>, 14> all{{
      {subs.key_add, "actoken key add"},
      {subs.key_remove, "actoken key remove"},
      {subs.key, "actoken key"},
      {subs.token, "actoken token"},
      {subs.header, "actoken header"},
      {subs.exec, "actoken exec"},
      {subs.orgs, "actoken orgs"},
      {subs.status, "actoken status"},
      {subs.ping, "actoken ping"},
      {subs.flush, "actoken flush"},
      {subs.env, "actoken env"},
      {subs.appcircle_config, "actoken appcircle-config"},
      {subs.whoami, "actoken whoami"},
      {subs.reload, "actoken reload"},
  }};
  for (const auto& [sub, path] : all) {
    if (sub != nullptr && sub->parsed()) {
      return std::string(path);
    }
  }
  return "actoken";
}

parse_outcome usage_error(std::string_view message, std::string_view path) {
  parse_outcome outcome;
  outcome.exit_code = 2;
  std::string line(message);
  std::replace(line.begin(), line.end(), '\n', ' ');
  outcome.message = line + " (see `" + std::string(path) + " --help`)";
  outcome.err = "actoken: " + outcome.message + "\n";
  return outcome;
}

// The commands at the top level, and those under `key`, as typed.
constexpr std::array<std::string_view, 13> top_commands{
    "token", "header", "exec",   "orgs", "status",           "ping", "key",
    "flush", "whoami", "reload", "env",  "appcircle-config", "help"};
constexpr std::array<std::string_view, 2> key_commands{"add", "remove"};

template <std::size_t N>
std::vector<std::string> as_strings(const std::array<std::string_view, N>& names) {
  return {names.begin(), names.end()};
}

// `word` is not a command (of `key` when `parent` is "key "): the nearest one, or the
// list. The word is repeated only when it looks like a mistyped command, never like
// a key pasted in the wrong place (common/option_name).
template <std::size_t N>
parse_outcome unknown_command(std::string_view word, std::string_view parent,
                              const std::array<std::string_view, N>& known) {
  const auto printable = actoken::printable_command_name(word);
  const auto names = as_strings(known);
  if (printable) {
    if (const auto nearest = actoken::nearest_name(*printable, names)) {
      parse_outcome outcome;
      outcome.exit_code = 2;
      outcome.message = "no command " + std::string(parent) + std::string(*printable) +
                        "; did you mean " + std::string(parent) + *nearest + "?";
      outcome.err = "actoken: " + outcome.message + "\n";
      return outcome;
    }
  }
  std::string list;
  for (std::size_t i = 0; i < names.size(); ++i) {
    list += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
  }
  const auto what = printable ? "no command " + std::string(parent) + std::string(*printable)
                              : std::string("unknown command");
  return usage_error(what + "; expected " + list, parent.empty() ? "actoken" : "actoken key");
}

struct parse_attempt {
  std::optional<parse_outcome> done;    // help, version or a usage error
  std::optional<command_line> command;  // what to run, when not `done`
  bool exec_chosen = false;             // the exec subcommand was seen, even on error
};

// An argument that no command or option took: an unknown option is named when its
// name looks like one (common/option_name); anything else is not repeated.
std::string unexpected_argument(std::string_view argument) {
  if (!argument.starts_with("-")) {
    return "unexpected argument";
  }
  if (const auto name = actoken::printable_option_name(argument)) {
    return "unknown option '" + std::string(*name) + "'";
  }
  return "unknown option";
}

// The outcome of CLI11's own exceptions. (`get_name()` is not the class name for
// every error, so the type is tested.) CLI11's message (`what()`) is only searched
// for the name of one of our options, never printed: it may hold the value given.
parse_outcome outcome_of(const CLI::Error& error, const CLI::App& app, const subcommands& subs) {
  parse_outcome outcome;
  if (dynamic_cast<const CLI::CallForHelp*>(&error) != nullptr) {
    outcome.out = app.help();
    return outcome;
  }
  if (dynamic_cast<const CLI::CallForVersion*>(&error) != nullptr) {
    outcome.out = std::string(error.what()) + "\n";
    return outcome;
  }
  const auto path = command_path(subs);
  const auto left = app.remaining(true);
  if (dynamic_cast<const CLI::ExtrasError*>(&error) != nullptr) {
    if (subs.exec->parsed()) {
      return usage_error("exec: put the command after `--`", path);
    }
    if (subs.key->parsed() && (left.empty() || !left.front().starts_with("-"))) {
      return usage_error("unexpected argument; the key is read from stdin, never from an argument",
                         path);
    }
    return usage_error(left.empty() ? "unexpected argument" : unexpected_argument(left.front()),
                       path);
  }
  if (dynamic_cast<const CLI::RequiredError*>(&error) != nullptr && path == "actoken") {
    if (!left.empty()) {
      if (left.front().starts_with("-")) {
        return usage_error(unexpected_argument(left.front()), path);
      }
      return unknown_command(left.front(), "", top_commands);
    }
    // SPEC §5: no command at all prints the usage, to stderr, and exits 2.
    parse_outcome usage;
    usage.exit_code = 2;
    usage.message = "a command is required (see `actoken help`)";
    usage.err = app.help();
    return usage;
  }
  if (dynamic_cast<const CLI::RequiredError*>(&error) != nullptr && path == "actoken key") {
    if (!left.empty() && !left.front().starts_with("-")) {
      return unknown_command(left.front(), "key ", key_commands);
    }
    return usage_error("key needs a subcommand: add or remove", path);
  }
  const auto* option = option_named_in(error.what());
  if (option == nullptr) {
    return usage_error("invalid command line", path);
  }
  const std::string name(option->name);
  if (dynamic_cast<const CLI::RequiredError*>(&error) != nullptr) {
    return usage_error(name + " is required", path);
  }
  if (option->expected.empty()) {
    return usage_error(name + " takes no value", path);
  }
  if (dynamic_cast<const CLI::ArgumentMismatch*>(&error) != nullptr) {
    return usage_error(name + " needs a value: " + std::string(option->expected), path);
  }
  return usage_error(name + ": expected " + std::string(option->expected), path);
}

// A command's own arguments, or why they are a usage error.
struct built_command {
  std::optional<command_line> command;
  std::string error;
};

// True when the command line gave `sub`'s option `name`.
bool given(const CLI::App& sub, const std::string& name) {
  const auto* option = sub.get_option_no_throw(name);
  return option != nullptr && option->count() > 0;
}

// ORG and --org name the same thing; both are fine only when they agree. Sets `org`,
// or returns why not.
std::optional<std::string> organization_of(const CLI::App& sub, const raw_values& raw,
                                           std::optional<std::string>& org) {
  if (given(sub, "ORG")) {
    org = raw.positional_org;
  }
  if (given(sub, "--org")) {
    if (org && *org != raw.org) {
      return "the organization is given twice, as ORG and as --org, with different names";
    }
    org = raw.org;
  }
  return std::nullopt;
}

// token, header, exec and appcircle-config: which token, and where it goes.
void take_token_arguments(const CLI::App& sub, const raw_values& raw, command_line& command) {
  if (given(sub, "--sub-org")) {
    command.token.sub_org = raw.sub_org;
  }
  if (given(sub, "--min-ttl")) {
    command.token.min_ttl = raw.min_ttl;
  }
  command.token.fresh = raw.fresh;
  command.env_names = raw.env_names;
  if (given(sub, "--file")) {
    command.file = raw.file;
  }
}

// key add's settings for the organization.
void take_key_arguments(const CLI::App& sub, const raw_values& raw, command_line& command) {
  command.org = raw.org;
  if (given(sub, "--auth-url")) {
    command.auth_url = raw.auth_url;
  }
  if (given(sub, "--api-version")) {
    command.api_version = raw.api_version;
  }
  command.ephemeral = raw.ephemeral;
  command.no_verify = raw.no_verify;
}

// What `sub`, the subcommand chosen (of `kind`), parsed into `raw`.
built_command command_from(const CLI::App& sub, command_kind kind, const raw_values& raw) {
  command_line command;
  command.kind = kind;
  std::optional<std::string> org;
  if (kind != command_kind::key_add && kind != command_kind::key_remove) {
    if (auto conflict = organization_of(sub, raw, org)) {
      return {std::nullopt, std::move(*conflict)};
    }
  }
  switch (kind) {
    case command_kind::token:
    case command_kind::header:
    case command_kind::exec:
    case command_kind::appcircle_config:
      command.token.org = org;
      take_token_arguments(sub, raw, command);
      break;
    case command_kind::key_add:
      take_key_arguments(sub, raw, command);
      break;
    case command_kind::key_remove:
      command.org = raw.org;
      break;
    case command_kind::flush:
      command.org = org;
      break;
    case command_kind::env:
      if (given(sub, "--shell")) {
        command.shell = raw.shell == "csh"    ? shell_syntax::csh
                        : raw.shell == "fish" ? shell_syntax::fish
                                              : shell_syntax::sh;
      }
      break;
    case command_kind::orgs:
    case command_kind::status:
    case command_kind::ping:
    case command_kind::whoami:
    case command_kind::reload:
      break;
  }
  for (const auto& name : command.env_names) {
    if (auto refused = refused_env_name(name); !refused.empty()) {
      return {std::nullopt, "--env: " + refused};
    }
  }
  return {std::move(command), {}};
}

// Runs CLI11 over `args` (in order) and turns what it parsed into a command_line.
parse_attempt run_parser(const std::vector<std::string>& args) {
  parse_attempt attempt;
  raw_values raw;
  subcommands subs;
  const auto app = build_app(raw, subs);
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 pops from the back
  try {
    app->parse(reversed);
  } catch (const CLI::Error& error) {
    attempt.done = outcome_of(error, *app, subs);
  }
  attempt.exec_chosen = subs.exec->parsed();
  if (attempt.done) {
    return attempt;
  }

  const std::array<std::pair<CLI::App*, command_kind>, 13> kinds{{
      {subs.token, command_kind::token},
      {subs.header, command_kind::header},
      {subs.exec, command_kind::exec},
      {subs.orgs, command_kind::orgs},
      {subs.status, command_kind::status},
      {subs.ping, command_kind::ping},
      {subs.key_add, command_kind::key_add},
      {subs.key_remove, command_kind::key_remove},
      {subs.flush, command_kind::flush},
      {subs.env, command_kind::env},
      {subs.appcircle_config, command_kind::appcircle_config},
      {subs.whoami, command_kind::whoami},
      {subs.reload, command_kind::reload},
  }};
  const auto chosen = std::find_if(kinds.begin(), kinds.end(),
                                   [](const auto& entry) { return entry.first->parsed(); });
  if (chosen == kinds.end()) {
    attempt.done = usage_error("a command is required", "actoken");
    return attempt;
  }
  auto built = command_from(*chosen->first, chosen->second, raw);
  if (!built.command) {
    attempt.done = usage_error(built.error, command_path(subs));
    return attempt;
  }
  built.command->json = raw.json;
  if (app->get_option("--socket")->count() > 0) {
    built.command->socket = raw.socket;
  }
  attempt.command = std::move(built.command);
  return attempt;
}

// `actoken [--json] [--socket PATH] help [COMMAND...]`: the words after `help`, or
// nullopt when the command is not `help`. The global options may come anywhere.
std::optional<std::vector<std::string>> help_words(const std::vector<std::string>& args) {
  std::optional<std::vector<std::string>> words;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto& arg = args[i];
    if (arg == "--json" || arg.starts_with("--socket=")) {
      continue;
    }
    if (arg == "--socket") {
      ++i;
      continue;
    }
    if (!words) {
      if (arg != "help") {
        return std::nullopt;
      }
      words.emplace();
      continue;
    }
    words->push_back(arg);
  }
  return words;
}

template <std::size_t N>
bool is_one_of(std::string_view word, const std::array<std::string_view, N>& names) {
  return std::find(names.begin(), names.end(), word) != names.end();
}

// `actoken help COMMAND` is `actoken COMMAND --help` (SPEC §5), `help help` help's
// own; `actoken help` alone, the usage.
parse_outcome help_outcome(const std::vector<std::string>& words) {
  std::vector<std::string> asked;
  for (const auto& word : words) {
    if (word == "--help" || word == "-h") {
      // `help token --help`: token's help all the same; `help --help`: help's own.
      if (asked.empty()) {
        asked.emplace_back("help");
      }
      continue;
    }
    if (word.starts_with("-")) {
      return usage_error(unexpected_argument(word), "actoken help");
    }
    if (asked.empty()) {
      if (!is_one_of(word, top_commands)) {
        return unknown_command(word, "", top_commands);
      }
      asked.push_back(word);
    } else if (asked == std::vector<std::string>{"help"} && word == "help") {
      continue;  // `help help --help`
    } else if (asked.size() == 1 && asked.front() == "key") {
      if (!is_one_of(word, key_commands)) {
        return unknown_command(word, "key ", key_commands);
      }
      asked.push_back(word);
    } else {
      return usage_error("help takes one command", "actoken help");
    }
  }
  asked.emplace_back("--help");
  auto attempt = run_parser(asked);
  return attempt.done ? std::move(*attempt.done) : usage_error("invalid command line", "actoken");
}

// Whether --json is on the command line (before `exec`'s `--`): a usage error then
// prints its JSON object too (SPEC §5), even when CLI11 stopped before reading it.
bool wants_json(const std::vector<std::string>& args) {
  const auto dash = std::find(args.begin(), args.end(), std::string("--"));
  return std::find(args.begin(), dash, std::string("--json")) != dash;
}

parse_outcome parse_arguments(const std::vector<std::string>& args) {
  if (const auto words = help_words(args)) {
    return help_outcome(*words);
  }
  // `exec`'s command follows the first `--` and is never parsed as options: split it
  // off first. Other commands get the full argument list back, `--` included.
  const auto dash = std::find(args.begin(), args.end(), std::string("--"));
  if (dash != args.end()) {
    auto attempt = run_parser(std::vector<std::string>(args.begin(), dash));
    if (attempt.exec_chosen) {
      if (attempt.done) {
        return std::move(*attempt.done);
      }
      if (dash + 1 == args.end()) {
        return usage_error("exec: no command after `--`", "actoken exec");
      }
      parse_outcome outcome;
      outcome.command = std::move(attempt.command);
      outcome.command->exec_argv.assign(dash + 1, args.end());
      if (outcome.command->env_names.empty()) {
        outcome.command->env_names.emplace_back(default_token_variable);
      }
      return outcome;
    }
  }
  auto attempt = run_parser(args);
  if (attempt.done) {
    return std::move(*attempt.done);
  }
  if (attempt.exec_chosen) {
    return usage_error("exec: no command given; use actoken exec [OPTIONS] -- CMD [ARG...]",
                       "actoken exec");
  }
  parse_outcome outcome;
  outcome.command = std::move(attempt.command);
  return outcome;
}

}  // namespace

std::vector<std::string> command_names() {
  std::vector<std::string> names;
  for (const auto name : top_commands) {
    if (name == "key") {
      for (const auto sub : key_commands) {
        names.push_back("key " + std::string(sub));
      }
    } else {
      names.emplace_back(name);
    }
  }
  return names;
}

bool valid_org_name(std::string_view name) { return is_valid_org_name(name); }

std::string refused_env_name(std::string_view name) {
  // What a command needs to run: the dynamic linker reads LD_*, exec and shells
  // PATH, IFS and SHELL, and most programs HOME, USER and LOGNAME. A token there
  // breaks the command, or puts the token where it was never meant to go.
  constexpr std::array<std::string_view, 6> needed{"PATH", "HOME",    "SHELL",
                                                   "USER", "LOGNAME", "IFS"};
  for (const auto refused : needed) {
    if (name == refused) {
      return std::string(refused) + " is needed by the command to run; name another variable";
    }
  }
  if (name.starts_with("LD_")) {
    return "LD_* variables steer the dynamic linker; name another variable";
  }
  return {};
}

bool valid_env_name(std::string_view name) {
  if (name.empty() || (name.front() >= '0' && name.front() <= '9')) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

parse_outcome parse_command_line(const std::vector<std::string>& args) {
  auto outcome = parse_arguments(args);
  outcome.json = wants_json(args);
  return outcome;
}

}  // namespace actoken::client
