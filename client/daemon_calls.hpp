#pragma once

/// @file
/// The CLI's calls to the daemon as commands make them: one request, the answer
/// judged (daemon_reply), and a failure reported on stderr as SPEC §5 says,
/// including what only another request can tell: the nearest organization name
/// for a mistyped one, and the organizations to choose from when none was named.

#include "client/cli_args.hpp"
#include "client/commands.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
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

/// Prints `actoken: <message>` on stderr.
void report_error(const context& ctx, std::string_view message);

/// Sends `method target` (with `body` as JSON when `has_body`) and judges the answer.
/// `org` names the organization the request is about, empty when the CLI named none.
/// On an unknown organization the report suggests the nearest name the caller may use
/// (`no organization named acmee; did you mean acme?`); when none was named and the
/// daemon has no default, it lists the organizations to choose from and the exit
/// code is 2. Both cost one more request (`/v1/orgs`), on those error paths only.
answer ask(const context& ctx, std::string_view method, std::string_view target,
           std::string_view org = {}, std::string_view body = {}, bool has_body = false);

/// Reaches the daemon and checks that it is genuine, sending nothing: 0, or the exit
/// code of a failure already reported.
int check_daemon(const context& ctx);

/// Asks for the token `options` describe; on success `token` holds it and the
/// answer (the whole `/v1/token` object) is returned.
answer fetch_token(const context& ctx, const token_options& options, std::string& token);

/// `/v1/orgs`, or nullopt on any failure, reporting nothing: for hints and warnings.
std::optional<nlohmann::ordered_json> fetch_orgs_quietly(const context& ctx);

/// The string at `key` of `object`, else `fallback` (a missing field or another type).
std::string text_field(const nlohmann::ordered_json& object, std::string_view key,
                       std::string_view fallback = "-");

/// The number at `key` of `object` as whole units, else nullopt.
std::optional<std::int64_t> integer_field(const nlohmann::ordered_json& object,
                                          std::string_view key);

/// Wipes a secret held in a string, then empties it.
void wipe(std::string& secret);

}  // namespace actoken::client
