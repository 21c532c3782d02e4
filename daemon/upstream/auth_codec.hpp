#pragma once

/// @file
/// The Appcircle auth protocol without I/O (SPEC §1): building the form body,
/// reading the answer, the JWT's `exp`, the `Date` and `Retry-After` headers,
/// and classifying failures into the socket API's error codes.

#include "common/error.hpp"
#include "daemon/platform/secure_memory.hpp"
#include "daemon/runtime/clock.hpp"
#include "daemon/upstream/api_version.hpp"
#include "daemon/upstream/token_lifetime.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace actoken::upstream {

/// The path below `auth_url`, e.g. "/auth/v3/token". `automatic` is not a path.
std::string_view token_path(api_version v) noexcept;

/// Percent-encodes for `application/x-www-form-urlencoded` (RFC 3986
/// unreserved characters pass, everything else is %XX), appending to `out`.
void form_encode(std::string_view value, platform::secure_buffer& out);

/// What one exchange sends.
struct exchange_params {
  api_version version = api_version::v3;  ///< v1, v2 or v3 (not automatic)
  std::string_view key;                   ///< the personal access key
  std::string_view scope;                 ///< "" omits the field
  std::string_view sub_org;               ///< "" for the root organization
};

/// The form body: `personalAccessKey=` (v3) or `pat=` (v1, v2), `scope`, and
/// `subOrganization` (v2, v3), in locked memory.
platform::secure_buffer build_form_body(const exchange_params& params);

/// The `exp` claim of a JWT's payload, without verifying the signature (we are
/// its holder, not its audience).
std::optional<std::int64_t> jwt_exp(std::string_view jwt);

/// Parses an HTTP-date (RFC 9110 §5.6.7, IMF-fixdate; RFC 850 and asctime too).
std::optional<wall_time> parse_http_date(std::string_view text);

/// Parses `Retry-After`: delay-seconds or an HTTP-date (relative to `now`).
std::optional<seconds> parse_retry_after(std::string_view text, wall_time now);

/// What came back over the wire, reduced to what the codec reads.
struct raw_response {
  unsigned status = 0;
  std::string body;
  std::string date;         ///< the `Date` header, "" if absent
  std::string retry_after;  ///< the `Retry-After` header, "" if absent
};

/// A token and when it stops being valid, on the local wall clock.
struct token_grant {
  std::string access_token;
  wall_time obtained_at;
  wall_time expires_at;   ///< never past obtained_at + max_token_lifetime
  seconds clock_skew{0};  ///< server clock minus local clock, 0 when under 2 s
  /// The server clock minus ours when its `Date` was more than 24 h off and
  /// therefore not used; the caller warns.
  std::optional<seconds> ignored_skew;
};

/// A token, or a classified failure (SPEC §3) whose message never contains the key.
using exchange_result = std::variant<token_grant, failure>;

/// Interprets a response: classifies the status, reads the error body, reads
/// the token and computes its expiry (JWT `exp`, the earlier `expires_in`,
/// else `default_ttl`; translated to the local clock when `Date` differs by
/// 2 s to 24 h; capped at `max_token_lifetime`). A token that is not 1–16384
/// b64token characters, an `exp` already past or an `expires_in` ≤ 0 is
/// `bad_upstream_response`. `key` is only used to withhold error text that
/// echoes it in any form (key_echo.hpp).
exchange_result interpret_response(const raw_response& response, wall_time local_now,
                                   seconds default_ttl, std::string_view key);

/// The error code for an HTTP status that is not 2xx.
errc classify_status(unsigned status) noexcept;

}  // namespace actoken::upstream
