#pragma once

/// @file
/// A pure parser for the daemon's HTTP/1.1 answers: bytes in, status, headers
/// and body out. No sockets here, so every edge case is a unit test.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace actoken::client {

/// One parsed HTTP response.
struct http_response {
  unsigned status = 0;  ///< e.g. 200
  std::string reason;   ///< e.g. "OK"; informational only
  /// Header fields in arrival order, names as sent.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  ///< exactly Content-Length bytes (or up to EOF without one)

  /// The value of the first header named `name` (case-insensitive), if any.
  std::optional<std::string_view> header(std::string_view name) const;
};

/// Where parsing stands after the bytes seen so far.
enum class parse_state {
  incomplete,  ///< valid so far; more bytes are needed
  complete,    ///< `response` holds the whole answer
  invalid,     ///< not an HTTP/1.x answer we accept; `error` says why
};

/// The outcome of `parse_http_response`.
struct parse_result {
  parse_state state = parse_state::incomplete;
  http_response response;  ///< filled when `state == complete`
  std::string error;       ///< filled when `state == invalid`
};

/// Limits that cap what the peer controls (STYLE §6).
struct parse_limits {
  std::size_t max_head = 64 * 1024;         ///< status line plus headers
  std::size_t max_body = 16 * 1024 * 1024;  ///< body bytes
};

/// Parses `data`, the bytes received so far. `at_eof` says the peer closed:
/// an answer without Content-Length then ends there, and a short one is invalid.
/// Chunked transfer coding is refused: the daemon always sends Content-Length.
parse_result parse_http_response(std::string_view data, bool at_eof,
                                 const parse_limits& limits = {});

}  // namespace actoken::client
