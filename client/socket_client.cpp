#include "client/socket_client.hpp"

#include "client/daemon_trust.hpp"
#include "client/http_request.hpp"
#include "client/platform/trust_facts.hpp"
#include "common/unique_fd.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>

namespace actoken::client {
namespace {

using steady = std::chrono::steady_clock;

call_result transport_failure(transport_error error, std::string detail) {
  call_result result;
  result.error = error;
  result.detail = std::move(detail);
  return result;
}

call_result system_failure(transport_error error, int errno_value) {
  return transport_failure(error, std::strerror(errno_value));
}

transport_error classify_connect_errno(int errno_value) {
  switch (errno_value) {
    case ENOENT:
    case ENOTDIR:
      return transport_error::no_socket;
    case ECONNREFUSED:
      return transport_error::refused;
    case EACCES:
    case EPERM:
      return transport_error::permission;
    case EAGAIN:  // the listen backlog stayed full until SO_SNDTIMEO ran out
    case ETIMEDOUT:
      return transport_error::timeout;
    default:
      return transport_error::io;
  }
}

// Milliseconds left until `deadline`, at least 0, for poll().
int remaining_ms(steady::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now()).count();
  if (left <= 0) {
    return 0;
  }
  return left > 1'000'000 ? 1'000'000 : static_cast<int>(left);
}

// Waits until `fd` is ready for `events`; false on timeout (errno = ETIMEDOUT) or error.
bool wait_for(int fd, short events, steady::time_point deadline) {
  for (;;) {
    pollfd entry{fd, events, 0};
    const int ready = ::poll(&entry, 1, remaining_ms(deadline));
    if (ready > 0) {
      return true;  // also on POLLERR/POLLHUP: the next read/send reports what happened
    }
    if (ready == 0) {
      errno = ETIMEDOUT;
      return false;
    }
    if (errno != EINTR) {
      return false;
    }
  }
}

// A connection to a genuine daemon (`fd` open), or why there is none (`result`).
struct connection {
  unique_fd fd;
  call_result result;
};

connection fail(transport_error error, std::string detail) {
  return {unique_fd(), transport_failure(error, std::move(detail))};
}

// Before a byte is sent (SPEC §5): the folder decides who could have made the
// socket, the kernel says who listens on it.
connection connect_checked(const std::filesystem::path& socket, std::chrono::milliseconds timeout,
                           const trusted_uids& trusted) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::string& path = socket.native();
  if (path.empty()) {
    return fail(transport_error::no_socket, "empty socket path");
  }
  if (path.size() >= sizeof(address.sun_path)) {
    return fail(
        transport_error::path_too_long,
        "socket path is longer than " + std::to_string(sizeof(address.sun_path) - 1) + " bytes");
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);

  // The folder as the path names it: in a folder that only trusted users can
  // write, only they can have put this socket (or a link in its place) there.
  const auto folder = socket_folder(socket);
  const auto facts = platform::inspect_folder(folder);
  if (facts.error != 0) {
    // A folder that is not there (or not ours to see) leaves nothing to connect to.
    return fail(classify_connect_errno(facts.error), std::strerror(facts.error));
  }
  if (auto refusal = folder_refusal(folder, facts, trusted)) {
    return fail(transport_error::untrusted, std::move(*refusal));
  }

  unique_fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) {
    return fail(transport_error::io, std::strerror(errno));
  }

  // A blocking connect on a Unix socket waits only when the backlog is full;
  // SO_SNDTIMEO bounds that wait.
  const auto total_ms = timeout.count() > 0 ? timeout.count() : 1;
  timeval send_timeout{};
  send_timeout.tv_sec = static_cast<time_t>(total_ms / 1000);
  send_timeout.tv_usec = static_cast<suseconds_t>((total_ms % 1000) * 1000);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof(send_timeout));
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    const int error = errno;
    return fail(classify_connect_errno(error), std::strerror(error));
  }

  // Whoever called listen() on the other end, as the kernel recorded it.
  const auto peer = platform::peer_uid(fd.get());
  if (!peer) {
    return fail(transport_error::untrusted,
                std::string("cannot tell who runs the daemon there (SO_PEERCRED: ") +
                    std::strerror(errno) + ")");
  }
  if (auto refusal = peer_refusal(*peer, trusted)) {
    return fail(transport_error::untrusted, std::move(*refusal));
  }
  return {std::move(fd), {}};
}

// Sends the request's head and body with one sendmsg: the daemon gets the
// whole request in one read (and no copy of the body, which may hold a key,
// is made to join them). A short send goes on from where it stopped.
std::optional<call_result> send_request(int fd, std::string_view head, std::string_view body,
                                        steady::time_point deadline) {
  std::array<iovec, 2> pieces{iovec{const_cast<char*>(head.data()), head.size()},
                              iovec{const_cast<char*>(body.data()), body.size()}};
  std::size_t first = 0;  // the first piece not wholly sent
  while (first < pieces.size()) {
    msghdr message{};
    message.msg_iov = pieces.data() + first;
    message.msg_iovlen = pieces.size() - first;
    const auto sent = ::sendmsg(fd, &message, MSG_NOSIGNAL);
    if (sent >= 0) {
      auto left = static_cast<std::size_t>(sent);
      for (; first < pieces.size() && left >= pieces[first].iov_len; ++first) {
        left -= pieces[first].iov_len;
      }
      if (first < pieces.size()) {
        pieces[first].iov_base = static_cast<char*>(pieces[first].iov_base) + left;
        pieces[first].iov_len -= left;
      }
      continue;
    }
    const int error = errno;
    if (error == EINTR) {
      continue;
    }
    if (error != EAGAIN && error != EWOULDBLOCK) {
      return error == EPIPE || error == ECONNRESET ? system_failure(transport_error::closed, error)
                                                   : system_failure(transport_error::io, error);
    }
    if (!wait_for(fd, POLLOUT, deadline)) {
      return system_failure(errno == ETIMEDOUT ? transport_error::timeout : transport_error::io,
                            errno);
    }
  }
  return std::nullopt;
}

// What the daemon's answer in `received` amounts to once the connection has ended.
call_result answer_at_end(const std::string& received) {
  if (received.empty()) {
    return transport_failure(transport_error::closed, "connection closed without an answer");
  }
  auto parsed = parse_http_response(received, true);
  if (parsed.state != parse_state::complete) {
    return transport_failure(transport_error::protocol, parsed.error);
  }
  call_result result;
  result.response = std::move(parsed.response);
  return result;
}

// Reads until the answer is complete, the daemon closes, or the deadline passes;
// `slow`'s hook runs once at `slow_at` if the answer has not come by then.
call_result receive_response(int fd, steady::time_point deadline, steady::time_point slow_at,
                             const slow_answer_hook* slow) {
  std::string received;
  std::array<char, 16 * 1024> chunk{};
  for (;;) {
    const auto got = ::recv(fd, chunk.data(), chunk.size(), 0);
    if (got > 0) {
      received.append(chunk.data(), static_cast<std::size_t>(got));
      auto parsed = parse_http_response(received, false);
      if (parsed.state == parse_state::complete) {
        call_result result;
        result.response = std::move(parsed.response);
        return result;
      }
      if (parsed.state == parse_state::invalid) {
        return transport_failure(transport_error::protocol, parsed.error);
      }
      continue;
    }
    if (got == 0) {
      return answer_at_end(received);
    }
    const int error = errno;
    if (error == EINTR) {
      continue;
    }
    if (error != EAGAIN && error != EWOULDBLOCK) {
      return system_failure(error == ECONNRESET ? transport_error::closed : transport_error::io,
                            error);
    }
    if (wait_for(fd, POLLIN, std::min(slow_at, deadline))) {
      continue;
    }
    if (errno == ETIMEDOUT && slow_at < deadline) {
      // The hook's time (poll may wake a fraction of a millisecond early: wait on).
      if (steady::now() >= slow_at) {
        slow_at = deadline;
        slow->on_slow();
      }
      continue;
    }
    return system_failure(errno == ETIMEDOUT ? transport_error::timeout : transport_error::io,
                          errno);
  }
}

}  // namespace

socket_client::socket_client(std::filesystem::path socket, std::chrono::milliseconds timeout)
    : socket_(std::move(socket)), timeout_(timeout) {}

call_result socket_client::check() const {
  const auto connected = connect_checked(socket_, timeout_, trusted_uids::of_this_process());
  return connected.result;
}

call_result socket_client::call(std::string_view method, std::string_view target,
                                std::string_view body, bool has_body,
                                const slow_answer_hook* slow) const {
  const auto started = steady::now();
  const auto deadline = started + timeout_;
  // When to call the hook; once called (or without one), the deadline alone counts.
  const auto slow_at = slow != nullptr && slow->on_slow ? started + slow->after : deadline;
  auto connected = connect_checked(socket_, timeout_, trusted_uids::of_this_process());
  if (connected.fd.get() < 0) {
    return std::move(connected.result);
  }
  const unique_fd& fd = connected.fd;

  // From here on: non-blocking I/O against one deadline.
  const int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags | O_NONBLOCK) != 0) {
    return system_failure(transport_error::io, errno);
  }
  const std::string head = format_request_head(method, target, body.size(), has_body);
  if (auto unsent = send_request(fd.get(), head, has_body ? body : std::string_view{}, deadline)) {
    return std::move(*unsent);
  }
  return receive_response(fd.get(), deadline, slow_at, slow);
}

}  // namespace actoken::client
