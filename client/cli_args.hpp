#pragma once

/// @file
/// The command line of `actoken` (SPEC §5) parsed into a plain struct. Parsing
/// runs nothing, so every command's argument handling is unit-tested alone.

#include "common/shell_env.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace actoken::client {

/// The command to run.
enum class command_kind {
  token,
  header,
  exec,
  orgs,
  status,
  ping,
  key_add,
  key_remove,
  flush,
  env,               ///< print the line that sets ACTOKEN_SOCKET
  appcircle_config,  ///< write a token into the Appcircle CLI's config store
  whoami,            ///< who the daemon takes the caller for, and what it may use
  reload,            ///< (admin) re-read config and keys now
};

/// The syntax `actoken env` prints in (SPEC §5): common/shell_env.hpp, shared with actokend.
using actoken::shell_syntax;

/// Which token to ask for (`token`, `header`, `exec`).
struct token_options {
  std::optional<std::string> org;      ///< ORG or --org; none: the daemon's default
  std::optional<std::string> sub_org;  ///< --sub-org: alias or GUID
  std::optional<int> min_ttl;          ///< --min-ttl seconds, 0..86400
  bool fresh = false;                  ///< --fresh: a token refused downstream, get a new one
};

/// Everything the command line says.
struct command_line {
  command_kind kind = command_kind::ping;  ///< the command
  std::optional<std::string> socket;       ///< --socket PATH
  bool json = false;                       ///< --json: print the daemon's object
  token_options token;                     ///< token, header, exec, appcircle-config
  std::vector<std::string> env_names;      ///< exec: variables to receive the token
  std::vector<std::string> exec_argv;      ///< exec: CMD [ARG...] after `--`
  std::optional<std::string> org;          ///< key add/remove (required), flush (optional)
  std::optional<std::string> auth_url;     ///< key add --auth-url
  std::optional<std::string> api_version;  ///< key add --api-version
  bool ephemeral = false;                  ///< key add --ephemeral: keep in memory only
  bool no_verify = false;                  ///< key add --no-verify: keep it untried
  std::optional<shell_syntax> shell;       ///< env --shell; none: from $SHELL
  std::optional<std::string> file;         ///< appcircle-config --file PATH
};

/// The outcome of parsing: a command to run, or text to print and an exit code.
struct parse_outcome {
  std::optional<command_line> command;  ///< set when a command should run
  int exit_code = 0;                    ///< without a command: 0 (help, version) or 2 (usage)
  std::string out;                      ///< for stdout: help or version text
  /// for stderr: one `actoken: ...` line for a usage error, or the whole usage
  /// when no command was given
  std::string err;
  std::string message;  ///< a usage error in one sentence, without "actoken: " (for --json)
  bool json = false;    ///< --json was on the command line (a usage error is then JSON too)
};

/// The commands `actoken help` knows, as typed: "token", ..., "key add", "key remove".
std::vector<std::string> command_names();

/// The variable `exec` sets when no --env is given (Appcircle's convention).
inline constexpr std::string_view default_token_variable = "AC_ACCESS_TOKEN";

/// True for an organization name SPEC §2 accepts: `^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`.
bool valid_org_name(std::string_view name);

/// True for a portable environment variable name: `^[A-Za-z_][A-Za-z0-9_]*$`.
bool valid_env_name(std::string_view name);

/// Why `exec --env NAME` may not take `name` (SPEC §5: a variable the command needs
/// to run: PATH, HOME, SHELL, USER, LOGNAME, IFS, any LD_*), or empty when it may.
/// The reason names the variable only when it is one of that fixed list.
std::string refused_env_name(std::string_view name);

/// Parses `args` (argv without the program name). `--help`, `help [COMMAND]` and
/// `--version` give exit code 0 with text in `out`; any usage error gives 2 with
/// one line in `err` (an unknown command with the nearest one, "did you mean
/// token?"), and no command at all gives 2 with the usage in `err`.
parse_outcome parse_command_line(const std::vector<std::string>& args);

}  // namespace actoken::client
