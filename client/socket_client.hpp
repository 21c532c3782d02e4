#pragma once

/// @file
/// The CLI's only I/O with the daemon: one synchronous HTTP/1.1 request over
/// a Unix socket with plain POSIX calls (no Asio, so `actoken` starts fast).
/// Parsing lives in http_response; this file only moves bytes.

#include "client/http_response.hpp"

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

namespace actoken::client {

/// Why a call produced no HTTP answer.
enum class transport_error {
  none,           ///< we have an answer
  no_socket,      ///< nothing at the path (ENOENT, ENOTDIR)
  refused,        ///< a socket file with no daemon behind it (ECONNREFUSED)
  permission,     ///< the socket refused us (EACCES, EPERM)
  path_too_long,  ///< the path does not fit in `sockaddr_un`
  timeout,        ///< no connection or no full answer before the deadline
  closed,         ///< the daemon closed or reset the connection without an answer
  protocol,       ///< the answer is not HTTP we accept
  io,             ///< any other system error
  untrusted,      ///< not a genuine daemon (SPEC §5): its folder or its process is not trusted
};

/// The outcome of one call.
struct call_result {
  transport_error error = transport_error::none;  ///< `none` when `response` is valid
  std::string detail;      ///< a human reason for `error` (strerror text, parser message,
                           ///< or why the daemon is not trusted)
  http_response response;  ///< the daemon's answer, any status

  /// True when the daemon answered (whatever the HTTP status).
  bool answered() const noexcept { return error == transport_error::none; }
};

/// What to do once when the daemon is slow to answer (SPEC §5: a command still
/// waiting after 0.5 s says what it waits for). Nothing is set up for it: the
/// wait for the answer is only cut into two polls, so an answer that comes
/// sooner costs no extra system call.
struct slow_answer_hook {
  std::chrono::milliseconds after{500};  ///< from the start of the call
  std::function<void()> on_slow;         ///< called at most once, while still waiting
};

/// A client for the daemon's socket. Each call opens a fresh connection with
/// `Connection: close`: the CLI makes one request per run. Before it sends a
/// byte, every connection is checked to lead to a genuine daemon (SPEC §5):
/// the socket's folder belongs to a trusted uid and no one else may write in
/// it, and the listening process runs as a trusted uid (see daemon_trust).
class socket_client {
 public:
  /// `timeout` bounds a whole call, connect to last byte. A cold exchange may take
  /// the daemon's upstream_timeout (15 s by default), hence a generous default.
  explicit socket_client(std::filesystem::path socket,
                         std::chrono::milliseconds timeout = std::chrono::seconds(65));

  /// Sends `method target` (with `body` as JSON when `has_body`) and reads the answer.
  /// `body` is sent straight from the caller's buffer, never copied, so a caller
  /// holding a secret there controls its lifetime. `slow`, when given, is called
  /// once if the answer has not come `slow->after` into the call.
  call_result call(std::string_view method, std::string_view target, std::string_view body = {},
                   bool has_body = false, const slow_answer_hook* slow = nullptr) const;

  /// Connects, checks that the daemon is genuine, and hangs up without sending
  /// anything: `answered()` is true when a call would reach a trusted daemon.
  /// `actoken key add` asks this before it asks for the key.
  call_result check() const;

  /// The socket path this client connects to.
  const std::filesystem::path& socket() const noexcept { return socket_; }

 private:
  std::filesystem::path socket_;
  std::chrono::milliseconds timeout_;
};

}  // namespace actoken::client
