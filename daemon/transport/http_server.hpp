#pragma once

/// @file
/// HTTP/1.1 over the Unix socket (SPEC §4): accepts connections, reads each
/// request within the limits, hands it to the router and writes the answer.
/// Keep-alive; a head must arrive within 10 s of its first byte; an idle
/// connection closes after 30 s; past `max_connections` the longest-idle
/// connection makes room, or the newcomer is turned away. Out of descriptors
/// it does the same, so idle connections never lock others out (SPEC §6).
/// What a request with a body (a key PUT) leaves in memory is wiped.

#include "daemon/api/router.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/thread_pool.hpp>

#include <chrono>
#include <cstddef>
#include <list>
#include <memory>

namespace actoken::transport {

namespace net = boost::asio;

/// Limits on what a peer controls.
struct server_limits {
  std::size_t max_connections = 1024;
  std::size_t max_head = 8 * 1024;
  std::size_t max_body = 64 * 1024;
  std::chrono::milliseconds head_timeout{10'000};
  std::chrono::milliseconds idle_timeout{30'000};
  std::chrono::milliseconds write_timeout{30'000};
  /// A peer with more supplementary groups than this has them read on a
  /// thread of their own, never on the serving thread: the kernel copies
  /// 65,536 of them in milliseconds (SPEC §4 "No peer can slow the others down").
  std::size_t inline_groups = 1024;
  /// Connections of such peers open (or being read) at once, each holding up
  /// to 256 KiB of groups; a newcomer past them is turned away.
  std::size_t max_group_heavy = 16;
};

/// Serves the socket API on a listening Unix socket.
class http_server {
 public:
  http_server(net::io_context& io, api::router& router, server_limits limits);
  ~http_server();
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  /// Starts accepting on `listening_fd` (takes ownership).
  void start(int listening_fd);
  /// Stops accepting and closes idle connections; busy ones close after their answer.
  void stop();
  /// Completes when every connection is gone, or after `bound`.
  net::awaitable<void> drain(std::chrono::milliseconds bound);
  /// Open connections.
  std::size_t connections() const noexcept { return sessions_.size(); }
  /// Changes the connection limit (reload).
  void set_max_connections(std::size_t n) noexcept { limits_.max_connections = n; }
  /// Whether each new connection's peer executable and systemd unit are read
  /// at accept (for the audit log; a readlink and a small read of /proc).
  void set_read_peer_details(bool read) noexcept { read_peer_details_ = read; }

  struct session;

 private:
  net::awaitable<void> accept_loop();
  /// Takes on an accepted connection (or handles accept's failure `ec`);
  /// false when accepting should pause briefly.
  bool admit(boost::system::error_code ec, net::local::stream_protocol::socket socket);
  /// Serves a connection whose peer credentials are read, unless the cap
  /// turns it away. `heavy_count`: the counter of the `max_group_heavy`
  /// place it holds (given back when it ends), or null.
  void take_on(net::local::stream_protocol::socket socket, platform::peer_credentials peer,
               std::shared_ptr<std::size_t> heavy_count);
  /// A peer whose many groups are still unread: read on `group_reader_`,
  /// then taken on; turned away past `max_group_heavy`.
  void defer_group_heavy(net::local::stream_protocol::socket socket,
                         platform::peer_credentials peer);
  net::awaitable<void> read_groups_then_serve(net::local::stream_protocol::socket socket,
                                              platform::peer_credentials peer);
  net::awaitable<void> run(std::shared_ptr<session> s);
  net::awaitable<void> serve(std::shared_ptr<session> s);
  /// Awaits the router for a request it could not answer at once.
  net::awaitable<api::api_response> finish(api::route_result routed);
  net::awaitable<void> watchdog(std::shared_ptr<session> s);
  bool make_room();
  /// The connections allowed now: max_connections, or fewer while the
  /// descriptor table is known to be the tighter limit.
  std::size_t connection_cap();
  /// accept failed for lack of descriptors and the connection is still
  /// queued: frees descriptors so the queue moves. False when none could be freed.
  bool on_out_of_descriptors();
  /// Accepts one queued connection and closes it at once, on the spare descriptor.
  bool turn_away_one();

  net::io_context& io_;
  api::router& router_;
  server_limits limits_;
  net::local::stream_protocol::acceptor acceptor_;
  std::list<std::shared_ptr<session>> sessions_;
  bool stopping_ = false;
  bool read_peer_details_ = false;
  int spare_fd_ = -1;  ///< /dev/null, kept to be closed when accept runs out of descriptors
  std::size_t descriptor_cap_ = 0;  ///< 0, or connections the descriptor table holds
  std::chrono::steady_clock::time_point descriptor_cap_until_{};
  std::chrono::steady_clock::time_point last_descriptor_warning_{};
  std::chrono::steady_clock::time_point last_accept_warning_{};
  /// Reads the groups of peers that have thousands (one thread, made when
  /// the first such peer connects).
  std::unique_ptr<net::thread_pool> group_reader_;
  /// Connections holding a `max_group_heavy` place (shared with them).
  std::shared_ptr<std::size_t> group_heavy_ = std::make_shared<std::size_t>(0);
  std::chrono::steady_clock::time_point last_group_heavy_warning_{};
};

}  // namespace actoken::transport
