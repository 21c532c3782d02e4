#pragma once

/// @file
/// How the stand-in answers token requests: the knobs tests turn to provoke
/// each failure the daemon must classify (SPEC §3), and their JSON form for
/// the binary's control API.

#include "tests/stand_in/echo.hpp"

#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <string_view>

namespace actoken::stand_in {

/// Broken answers at the transport level, after the request was read.
enum class fault {
  none,           ///< answer normally
  endless_body,   ///< 200, then a chunked body that never ends (a chunk every 10 ms)
  huge_body,      ///< 200 with a 100 MB Content-Length body, streamed as fast as it is read
  truncated_tls,  ///< the head and half the body, then a TCP close without close_notify
  reset,          ///< the head and half the body, then a TCP RST (SO_LINGER 0)
  hang,           ///< read the request and never answer
  huge_header,    ///< 200 whose head carries a 32 KiB header (Beast allows at most 64 KiB)
  not_http,       ///< answer with a line that is not HTTP (an SSH banner), then close
  /// a whole answer in four writes 5 ms apart (status line, rest of the head,
  /// each half of the body): a client must read on until it has all of it
  in_pieces,
};

/// Everything about the answers that tests may change at any time.
struct behaviour {
  std::chrono::seconds token_lifetime{3600};  ///< exp - iat, and expires_in
  std::chrono::milliseconds delay{0};         ///< wait before answering (other connections go on)
  unsigned forced_status = 0;               ///< 0: normal; else this status with a JSON error body
  std::string retry_after;                  ///< Retry-After sent with forced_status; "" sends none
  bool html_body = false;                   ///< 200 with an HTML page instead of JSON
  std::chrono::seconds clock_offset{0};     ///< shifts Date, iat and exp together
  bool send_expires_in = true;              ///< include expires_in in the JSON
  std::set<std::string> disabled_versions;  ///< e.g. {"v3"}: those token paths answer 404
  fault fault_mode = fault::none;           ///< see `fault`
  /// Answers every request that carries a key with 401 and the key echoed in
  /// this encoding, as a careless server would: in an HTML page for the HTML
  /// encodings, else in the JSON error_description (the JSON ones inside a
  /// quoted JSON request, so that their escapes are still there once parsed).
  std::optional<echo_encoding> echo_key;
  std::string token_suffix;  ///< appended to each access_token (e.g. "\r\nX: y")
  std::string date_header;   ///< sent as the Date header instead of the clock's, if set
};

/// The fault's name in the control API: "none", "endless_body", ...
std::string_view to_string(fault value) noexcept;

/// Parses a fault's name.
std::optional<fault> parse_fault(std::string_view name) noexcept;

/// Parses the control API's JSON object (`token_lifetime`, `delay_ms`,
/// `forced_status`, `retry_after`, `html_body`, `clock_offset`,
/// `send_expires_in`, `disabled_versions`, `fault`, `echo_key` (an encoding's
/// name or null), `token_suffix`, `date_header`); absent fields keep their
/// defaults. Throws std::invalid_argument naming the bad or unknown field.
behaviour behaviour_from_json(std::string_view json_text);

/// The same JSON object for `value`.
std::string behaviour_to_json(const behaviour& value);

}  // namespace actoken::stand_in
