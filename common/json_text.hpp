// JSON text written by hand, for the answers whose shape never changes (the
// hot path of /v1/token, errors): a string literal and an RFC 3339 time.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

namespace actoken {

namespace detail {
/// Length of the well-formed UTF-8 sequence `text` starts with, 0 when none.
std::size_t utf8_sequence_length(std::string_view text) noexcept;
void append_escaped(std::string_view text, void (*append)(void*, std::string_view), void* out);
}  // namespace detail

/// Appends `text` as a JSON string literal: quotes, backslashes and control
/// characters escaped; bytes that are not well-formed UTF-8 become U+FFFD,
/// so the answer is valid JSON whatever a caller put in a path or query.
/// `Out` is a std::string, or anything with `append(std::string_view)` (the
/// cache file writes into locked memory).
template <class Out>
void append_json_string(Out& out, std::string_view text) {
  detail::append_escaped(
      text, [](void* o, std::string_view piece) { static_cast<Out*>(o)->append(piece); }, &out);
}

/// Appends `t` as RFC 3339 in UTC to the second: "2026-11-28T01:31:33Z".
void append_rfc3339(std::string& out, std::chrono::system_clock::time_point t);

/// `t` as RFC 3339 in UTC to the second.
std::string rfc3339(std::chrono::system_clock::time_point t);

}  // namespace actoken
