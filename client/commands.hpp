#pragma once

/// @file
/// One function per `actoken` command (SPEC §5). Each takes the parsed command
/// line and a context, talks to the daemon, prints, and returns the exit code.

#include "client/cli_args.hpp"
#include "common/paths.hpp"

#include <nlohmann/json.hpp>

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace actoken::client {

/// Replaces the process image like execvpe(3): returns only on failure, with errno set.
/// Injected so tests can watch `exec` without losing the test process.
using exec_function = std::function<int(const char* file, char* const argv[], char* const envp[])>;

/// The real execvpe(3).
int system_exec(const char* file, char* const argv[], char* const envp[]);

/// The real check for an installed system daemon (client/platform/files.hpp).
bool system_daemon_is_installed();

/// What every command needs besides its arguments.
struct context {
  /// Output goes to `out_stream`, errors and prompts to `err_stream`.
  context(std::ostream& out_stream, std::ostream& err_stream) : out(out_stream), err(err_stream) {}

  std::ostream& out;             ///< results (stdout)
  std::ostream& err;             ///< `actoken: ...` lines and prompts (stderr)
  std::filesystem::path socket;  ///< the daemon's socket
  bool json = false;             ///< --json: print the daemon's object
  bool pretty_json = false;      ///< indent JSON (stdout is a terminal)
  bool colour = false;           ///< colour tables (see colour_enabled)
  int input_fd = 0;              ///< where `key add` reads the key (stdin)
  /// per daemon call; covers `auto`'s two exchanges
  std::chrono::milliseconds timeout = std::chrono::seconds(65);
  exec_function exec = system_exec;    ///< how `exec` starts its command
  char* const* environment = nullptr;  ///< the environment `exec` passes on (null: none)
  /// Variables read by `env` ($SHELL) and `appcircle-config` ($XDG_CONFIG_HOME, $HOME).
  env_lookup env = [](const char*) -> const char* { return nullptr; };
  uid_t uid = 0;  ///< the caller, whose home holds the Appcircle CLI's config
  /// Whether this host has the system daemon, for the hint when no daemon answers.
  std::function<bool()> system_daemon_installed = system_daemon_is_installed;
  /// Whether stderr is a terminal, for the line that says what a slow command waits
  /// for (SPEC §5); asked only once a command has waited 0.5 s.
  std::function<bool()> stderr_is_terminal = [] { return false; };
  /// The sockets `env` tries, in order, for the first that answers: the one given
  /// (--socket, $ACTOKEN_SOCKET), else every discovery candidate. Empty: `socket`.
  std::vector<std::filesystem::path> socket_candidates;
};

/// Runs `command` and returns the process exit code.
int run_command(const command_line& command, context& ctx);

/// `actoken token`: prints the token and a newline (--json: the daemon's object).
int run_token(const command_line& command, context& ctx);
/// `actoken header`: prints `Authorization: Bearer <token>` and a newline.
int run_header(const command_line& command, context& ctx);
/// `actoken exec`: replaces this process with the command, token in its environment.
/// Returns only when that fails: 127 not found, 126 not executable, or a daemon error.
int run_exec(const command_line& command, context& ctx);
/// `actoken orgs`: the table ORG, STATE, TOKEN EXPIRES IN, LAST ERROR.
int run_orgs(const command_line& command, context& ctx);
/// `actoken status`: a summary of `/v1/status`.
int run_status(const command_line& command, context& ctx);
/// `actoken ping`: 0 when `/v1/health` answers `"status": "ok"`.
int run_ping(const command_line& command, context& ctx);
/// `actoken key add ORG`: checks the daemon is genuine, then reads the key from
/// `ctx.input_fd` and sends it.
int run_key_add(const command_line& command, context& ctx);
/// `actoken key remove ORG`.
int run_key_remove(const command_line& command, context& ctx);
/// `actoken flush [ORG]`: evicts cached tokens.
int run_flush(const command_line& command, context& ctx);
/// `actoken env`: prints the line that sets ACTOKEN_SOCKET to the first socket of
/// `ctx.socket_candidates` where a genuine daemon answers, in the syntax of
/// --shell or of $SHELL. When none answers: nothing on stdout, exit 3, and how to
/// start one (SPEC §5); a socket that refuses the caller: exit 4 and the fix.
int run_env(const command_line& command, context& ctx);
/// `actoken appcircle-config [ORG]`: writes a token into the Appcircle CLI's config
/// store (client/appcircle_config.hpp), replacing the file atomically; prints its
/// path on stderr and the token nowhere (`--json`: what was written where, no token).
int run_appcircle_config(const command_line& command, context& ctx);

/// `actoken whoami`: who the daemon takes the caller for (--json: the daemon's object).
int run_whoami(const command_line& command, context& ctx);
/// `actoken reload`: asks the daemon to re-read its config and keys; prints the
/// outcome; 1 when the new config was refused (the daemon keeps the old one).
int run_reload(const command_line& command, context& ctx);

/// The `GET /v1/token` target for `options`, query values percent-encoded.
std::string token_target(const token_options& options);

/// The environment for `exec`'s command: `environment` without any variable named
/// in `names`, then `NAME=token` for each name.
std::vector<std::string> child_environment(char* const* environment,
                                           const std::vector<std::string>& names,
                                           std::string_view token);

/// The `orgs` table for a `/v1/orgs` answer; the root token's `expires_in` fills
/// TOKEN EXPIRES IN ("-" when there is none). STATE is the daemon's, except that an
/// `ok` organization whose last exchange failed (`last_error` set) shows `failing`;
/// LAST ERROR is the message without the "organization ORG: " the daemon puts
/// first. When the daemon hides organizations from the caller (`hidden`), a last
/// line says how many, and points at `actoken whoami`; with none visible, that
/// line alone, never "no organizations".
std::string render_orgs(const nlohmann::ordered_json& body, bool coloured);

/// The `whoami` summary for a `/v1/whoami` answer: the user, uid and gid, the
/// groups, admin or not, then a table ORG, VIA, SUB-ORGANIZATIONS.
std::string render_whoami(const nlohmann::ordered_json& body);

/// The `status` summary for a `/v1/status` answer from the daemon at `socket`.
std::string render_status(const nlohmann::ordered_json& body, const std::filesystem::path& socket);

}  // namespace actoken::client
