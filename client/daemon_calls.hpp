#pragma once

/// @file
/// The CLI's calls to the daemon as commands make them: one request, the answer
/// judged (daemon_reply), and a failure reported on stderr as SPEC §5 says,
/// including what only another request can tell: the nearest organization name
/// for a mistyped one, and the organizations to choose from when none was named.

#include "client/cli_args.hpp"
#include "client/commands.hpp"
#include "client/daemon_reply.hpp"
#include "client/socket_client.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace actoken::client {

/// A daemon answer: `exit_code` 0 and the JSON object, or the code of a failure
/// already reported on stderr.
struct answer {
  int exit_code = 0;            ///< 0, or the SPEC §5 exit code
  nlohmann::ordered_json body;  ///< the daemon's object when `exit_code` is 0
};

/// Reports a failure of the CLI's own (SPEC §5): `actoken: <message>` on stderr
/// and, with --json, `{"error": error, "message": message}` on stdout. `error` is
/// one of the CLI's codes (docs/cli.md): `usage`, `daemon_unreachable`,
/// `forbidden`, `unexpected_answer`, `local_error`, `command_not_found`,
/// `command_not_executable`.
void report_error(const context& ctx, std::string_view message,
                  std::string_view error = "local_error");

/// Prints `actoken: <message>` on stderr only: for a failure whose JSON (the
/// daemon's own answer) is already on stdout.
void report_line(const context& ctx, std::string_view message);

/// With --json, prints `object` on stdout as every --json answer is printed.
void print_json(const context& ctx, const nlohmann::ordered_json& object);

/// What a call waits for, for the line a terminal shows while it waits (SPEC §5).
struct wait_reason {
  enum class kind {
    other,      ///< anything: "waiting for actokend at SOCKET…"
    token,      ///< a token: "exchanging acme's key at auth.appcircle.io…"
    key_check,  ///< a new key's first exchange: "verifying acme's key at ...…"
  };
  kind what = kind::other;
  std::string org;       ///< the organization named, "" for the daemon's default
  std::string sub_org;   ///< the sub-organization asked for, "" for none
  std::string auth_url;  ///< key add --auth-url, when given
};

/// Sends `method target` (with `body` as JSON when `has_body`) and judges the answer.
/// `org` names the organization the request is about, empty when the CLI named none.
/// On an unknown organization the report suggests the nearest name the caller may use
/// (`no organization named acmee; did you mean acme?`); when none was named and the
/// daemon has no default, it lists the organizations to choose from and the exit
/// code is 2. Both cost one more request (`/v1/orgs`), on those error paths only.
/// A failed token request says when the daemon tries again (`; next try in 37 s`).
/// While the answer is slow (0.5 s) and stderr is a terminal, one line says what it
/// waits for (`reason`), cleared when the answer comes.
answer ask(const context& ctx, std::string_view method, std::string_view target,
           std::string_view org = {}, std::string_view body = {}, bool has_body = false,
           const wait_reason& reason = {});

/// The progress line for `reason` (without "actoken: "): what the daemon is doing,
/// from its `/v1/orgs` answer (`orgs`, nullopt when it could not be had).
std::string waiting_line(const wait_reason& reason,
                         const std::optional<nlohmann::ordered_json>& orgs,
                         const std::filesystem::path& socket);

/// Reaches the daemon and checks that it is genuine, sending nothing: 0, or the exit
/// code of a failure already reported.
int check_daemon(const context& ctx);

/// The report for a call to `socket` that got no answer: a refused connection is
/// worded from what the system says of the socket and its group (SPEC §5).
transport_report report_of(const context& ctx, const call_result& result,
                           const std::filesystem::path& socket);

/// Asks for the token `options` describe; on success `token` holds it and the
/// answer (the whole `/v1/token` object) is returned.
answer fetch_token(const context& ctx, const token_options& options, std::string& token);

/// `/v1/orgs`, or nullopt on any failure, reporting nothing: for hints and warnings.
/// `timeout` bounds the call (the context's own when zero).
std::optional<nlohmann::ordered_json> fetch_orgs_quietly(
    const context& ctx, std::chrono::milliseconds timeout = std::chrono::milliseconds{0});

/// The string at `key` of `object`, else `fallback` (a missing field or another type).
std::string text_field(const nlohmann::ordered_json& object, std::string_view key,
                       std::string_view fallback = "-");

/// The number at `key` of `object` as whole units, else nullopt.
std::optional<std::int64_t> integer_field(const nlohmann::ordered_json& object,
                                          std::string_view key);

/// Wipes a secret held in a string, then empties it.
void wipe(std::string& secret);

}  // namespace actoken::client
