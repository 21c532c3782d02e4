#pragma once

/// @file
/// The error codes of the socket API (SPEC §4) and how each maps to an HTTP
/// status and a CLI exit code. Every mapping lives here, in one place.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace actoken {

/// One value per error code of the socket API. The names are the wire names.
enum class errc {
  bad_request = 1,
  forbidden,
  not_found,
  method_not_allowed,
  unknown_org,
  no_key,
  ttl_unsatisfiable,
  key_managed_by_config,
  payload_too_large,
  key_rejected,
  endpoint_not_found,
  upstream_tls,
  bad_upstream_response,
  upstream_unavailable,
  rate_limited,
  upstream_timeout,
  internal_error,
};

/// A failure as it travels between modules (STYLE 19): the code, one
/// sentence naming the organization concerned, and how long to wait before
/// asking again (503s). The upstream client, the token service and the router
/// all pass this one struct; it becomes an HTTP status (the router) or an exit
/// code (the CLI) once, at the edge, through the table below.
struct failure {
  failure() = default;
  failure(errc c, std::string text, std::optional<std::chrono::seconds> wait = std::nullopt)
      : code(c), message(std::move(text)), retry_after(wait) {}

  errc code = errc::internal_error;
  std::string message;
  std::optional<std::chrono::seconds> retry_after;
};

/// The wire name, e.g. "key_rejected".
std::string_view code_name(errc e) noexcept;

/// The code for a wire name, if it is one.
std::optional<errc> errc_from_name(std::string_view name) noexcept;

/// The HTTP status the socket API answers with (SPEC §4).
unsigned http_status(errc e) noexcept;

/// True for the codes whose answer carries `Retry-After` (503s).
bool carries_retry_after(errc e) noexcept;

/// The CLI's exit code for a daemon error (SPEC §5).
int cli_exit_code(errc e) noexcept;

/// Exit codes of the CLI that are not tied to a daemon error code (SPEC §5).
namespace exit_code {
inline constexpr int ok = 0;
inline constexpr int failure = 1;
inline constexpr int usage = 2;
inline constexpr int unreachable = 3;
inline constexpr int permission = 4;
inline constexpr int no_such_org = 5;
inline constexpr int rejected = 6;
inline constexpr int unavailable = 7;
inline constexpr int command_not_found = 127;
}  // namespace exit_code

}  // namespace actoken
