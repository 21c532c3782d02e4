#pragma once

/// @file
/// Turning what came back from the socket into what the CLI reports: the
/// daemon's JSON on success, else one message and the SPEC §5 exit code.
/// Pure functions: an answer (or a transport failure) in, a verdict out.

#include "client/http_response.hpp"
#include "client/platform/access_facts.hpp"
#include "client/socket_client.hpp"
#include "common/error.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace actoken::client {

/// The verdict on one daemon answer.
struct daemon_reply {
  bool ok = false;                    ///< a 2xx answer whose body is a JSON object
  nlohmann::ordered_json body;        ///< the parsed body when `ok` (field order kept for --json)
  int exit_code = 0;                  ///< 0 when `ok`, else the SPEC §5 exit code
  std::optional<actoken::errc> code;  ///< the daemon's `error`, when it is one we know
  std::string message;                ///< one line for stderr when not `ok` (without "actoken: ")
  /// When not `ok`, what `--json` prints: the daemon's error object as it sent it,
  /// or `{"error","message"}` made from the status when it sent none.
  nlohmann::ordered_json error_object;
  /// The answer's `Retry-After` in whole seconds: when the daemon, backing off or
  /// resting, will try that exchange again (docs/api.md).
  std::optional<std::int64_t> retry_after;
};

/// Judges an HTTP answer. An error's message is the daemon's, made one line:
/// `no_key` carries the daemon's own hint (which depends on where the key comes
/// from), `unknown_org` none (SPEC §5: never suggest storing a key under a
/// mistyped name; commands add the nearest known name instead).
daemon_reply interpret_reply(const http_response& response);

/// What to report when the daemon could not be asked at all (exit 3, also when
/// it is not a genuine daemon), or the socket refused us (exit 4).
/// `result.answered()` must be false.
struct transport_report {
  int exit_code = 0;    ///< SPEC §5: 3 unreachable, 4 permission, 1 a garbled answer
  std::string message;  ///< names the socket path and says how to start the daemon, or why
                        ///< it is refused (`refusing PATH: its folder belongs to uid N, ...`)
  /// The `error` of `--json`'s object: `daemon_unreachable` (3), `forbidden` (4: the
  /// socket refused us), `unexpected_answer` (1).
  std::string error;
};

/// Whose daemon a socket is, for the hint when none answers there (SPEC §5).
enum class socket_owner {
  user,                  ///< a user daemon's socket (any path but the system one)
  system,                ///< the system socket, on a host where the system daemon is installed
  system_not_installed,  ///< the system socket, on a host without a system daemon
};

/// `user`, or for the system socket `system` / `system_not_installed` as
/// `installed` says (asked only then: it looks for the unit files).
socket_owner owner_of_socket(const std::filesystem::path& socket,
                             const std::function<bool()>& installed);

/// Builds the report for a call that got no answer from `socket`. An unreachable
/// daemon's hint fits `owner`: the user unit (or `actokend &`) for a user socket,
/// the system unit for the system socket, and never `sudo` on a host that has no
/// system daemon (the user's own daemon is what is missing there). A refused
/// connection is worded from `access` when given (see denial_message).
transport_report describe_transport_error(const call_result& result,
                                          const std::filesystem::path& socket,
                                          socket_owner owner = socket_owner::user,
                                          const platform::access_facts* access = nullptr);

/// Why `socket` refused the connection and what fixes it (SPEC §5): the group
/// that lets its members in and `ask an administrator to run: usermod -aG GROUP
/// USER, then log in again`; `log in again` alone when the caller is in the group
/// but this session started before; the owner-only mode when no group helps.
std::string denial_message(const std::filesystem::path& socket,
                           const platform::access_facts& access);

/// `message` and the daemon's next try, when `retry_after` says when:
/// `...; next try in 37 s` (SPEC §5).
std::string with_next_try(std::string message, std::optional<std::int64_t> retry_after);

/// `text` made fit for one stderr line: control characters become spaces and
/// anything past `max_size` bytes is cut with "...".
std::string one_line(std::string_view text, std::size_t max_size = 400);

}  // namespace actoken::client
