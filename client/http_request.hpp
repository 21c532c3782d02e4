#pragma once

/// @file
/// Building what the CLI sends: percent-encoded targets and the request head.
/// Pure functions, unit-tested without a socket.

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace actoken::client {

/// Percent-encodes every byte outside RFC 3986's unreserved set (`A-Z a-z 0-9 - . _ ~`),
/// so the result is safe as a query value or a path segment.
std::string percent_encode(std::string_view text);

/// One `name=value` query parameter; both are encoded by `make_target`.
using query_param = std::pair<std::string, std::string>;

/// `path` followed by `?name=value&...` (nothing when `query` is empty).
std::string make_target(std::string_view path, const std::vector<query_param>& query);

/// The request head: request line, `Host: localhost`, `Connection: close`,
/// `Accept: application/json`, `User-Agent: actoken/<version>`, and for a body `Content-Type:
/// application/json` with its `Content-Length`. The body itself is sent separately, so a secret in
/// it is never copied into the head.
std::string format_request_head(std::string_view method, std::string_view target,
                                std::size_t body_size, bool has_body);

}  // namespace actoken::client
