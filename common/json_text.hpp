// JSON text written by hand, for the answers whose shape never changes (the
// hot path of /v1/token, errors): a string literal and an RFC 3339 time.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace actoken {

/// Appends `text` as a JSON string literal: quotes, backslashes and control
/// characters escaped; bytes that are not well-formed UTF-8 become U+FFFD,
/// so the answer is valid JSON whatever a caller put in a path or query.
void append_json_string(std::string& out, std::string_view text);

/// Appends `t` as RFC 3339 in UTC to the second: "2026-11-28T01:31:33Z".
void append_rfc3339(std::string& out, std::chrono::system_clock::time_point t);

/// `t` as RFC 3339 in UTC to the second.
std::string rfc3339(std::chrono::system_clock::time_point t);

}  // namespace actoken
