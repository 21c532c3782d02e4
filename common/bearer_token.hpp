#pragma once

/// @file
/// What may be handed out as a bearer token (SPEC §3), checked one way for a
/// token from the auth server and one restored from the cache file.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace actoken {

/// RFC 6750's b64token is unbounded; a JWT carrying many claims is a few KiB.
inline constexpr std::size_t max_bearer_token_size = 16384;

/// Why `token` cannot be handed out: empty, longer than
/// `max_bearer_token_size`, or a byte outside RFC 6750's b64token characters
/// `[A-Za-z0-9._~+/=-]` (nothing that could end a header line, move a
/// terminal or end a C string). Names the check and the offending byte's
/// value and offset, never the token. Nothing when it can.
std::optional<std::string> bearer_token_problem(std::string_view token);

}  // namespace actoken
