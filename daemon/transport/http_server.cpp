#include "daemon/transport/http_server.hpp"

#include "daemon/platform/peer.hpp"
#include "daemon/platform/secure_memory.hpp"
#include "daemon/runtime/spawn.hpp"
#include "daemon/transport/request_reader.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <memory>
#include <system_error>
#include <tuple>
#include <utility>
#include <vector>

namespace actoken::transport {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using namespace net::experimental::awaitable_operators;
using stream = net::local::stream_protocol;
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

// Descriptors left free for everything but connections (upstream exchanges,
// key and cache files) once the table has filled up.
constexpr std::size_t descriptor_reserve = 16;

// Wipes the body however the session leaves a request, a co_return included.
// (The read buffer needs no such guard: a session that leaves early ends, and
// the buffer's allocator wipes it as it is freed.)
class body_wiper {
 public:
  explicit body_wiper(request_parser& parser) noexcept : parser_(parser) {}
  ~body_wiper() {
    if (may_hold_a_secret(parser_)) wipe_body(parser_);
  }
  body_wiper(const body_wiper&) = delete;
  body_wiper& operator=(const body_wiper&) = delete;

 private:
  request_parser& parser_;
};

// The head of an answer: status line and the headers every answer carries.
std::string response_head(const api::api_response& response, bool keep_alive) {
  std::string head;
  head.reserve(192);
  head += "HTTP/1.1 ";
  head += std::to_string(response.status);
  head += ' ';
  head += http::obsolete_reason(static_cast<http::status>(response.status));
  head += "\r\nContent-Type: ";
  head += response.content_type;
  head += "\r\nCache-Control: no-store\r\nContent-Length: ";
  head += std::to_string(response.body.size());
  if (response.retry_after) {
    head += "\r\nRetry-After: ";
    head += std::to_string(response.retry_after->count());
  }
  head += keep_alive ? "\r\n\r\n" : "\r\nConnection: close\r\n\r\n";
  return head;
}

// Writes what the non-blocking socket takes now; "would block" is no error,
// only less sent.
std::pair<boost::system::error_code, std::size_t> write_at_once(
    stream::socket& socket, const std::array<net::const_buffer, 2>& buffers) {
  boost::system::error_code ec;
  const auto sent = socket.write_some(buffers, ec);
  if (ec == net::error::would_block || ec == net::error::try_again) return {{}, sent};
  return {ec, sent};
}

// Writes what `write_at_once` left of `buffers` after `sent` bytes: the rare
// answer larger than what the socket takes at once.
net::awaitable<boost::system::error_code> write_rest(
    stream::socket& socket, const std::array<net::const_buffer, 2>& buffers, std::size_t sent) {
  beast::buffers_suffix<std::array<net::const_buffer, 2>> rest(buffers);
  rest.consume(sent);
  auto [ec, n] = co_await net::async_write(socket, rest, use_tuple);
  (void)n;
  co_return ec;
}

// Runs on the group reader's thread: the one call that may take milliseconds.
net::awaitable<std::optional<std::vector<gid_t>>> read_groups(int fd) {
  co_return platform::read_peer_groups(fd);
}

// One of the `max_group_heavy` places, given back when the connection (or
// its admission) ends however it ends. The count is shared, not the
// server's own member: a connection's coroutine frame may be destroyed after
// the server, when the io_context goes at shutdown.
class heavy_place {
 public:
  explicit heavy_place(std::shared_ptr<std::size_t> count = nullptr) noexcept
      : count_(std::move(count)) {}
  heavy_place(heavy_place&&) noexcept = default;
  heavy_place& operator=(heavy_place&& other) noexcept {
    std::swap(count_, other.count_);
    return *this;
  }
  heavy_place(const heavy_place&) = delete;
  heavy_place& operator=(const heavy_place&) = delete;
  ~heavy_place() {
    if (count_) --*count_;
  }
  /// Hands the place on (to the next `heavy_place` made from it).
  std::shared_ptr<std::size_t> release() noexcept { return std::move(count_); }

 private:
  std::shared_ptr<std::size_t> count_;
};

}  // namespace

/// One connection.
struct http_server::session {
  session(stream::socket s, platform::peer_credentials p)
      : socket(std::move(s)), timer(socket.get_executor()), peer(std::move(p)) {}

  stream::socket socket;
  net::steady_timer timer;
  platform::peer_credentials peer;
  mono_clock::time_point deadline = mono_clock::time_point::max();
  mono_clock::time_point armed = mono_clock::time_point::max();  // what the timer waits for
  mono_clock::time_point idle_since = mono_clock::now();
  bool busy = false;  // a request is being answered
  std::list<std::shared_ptr<session>>::iterator position;
  heavy_place heavy;  // held by a peer with thousands of groups

  // Moves the deadline. Later is free (the watchdog re-arms when it wakes);
  // earlier wakes the watchdog so it re-arms now.
  void set_deadline(mono_clock::time_point at) {
    deadline = at;
    if (at < armed) timer.cancel();
  }

  // Between requests: idle until the first byte of the next one.
  void await_request(std::chrono::milliseconds idle_timeout) {
    busy = false;
    idle_since = mono_clock::now();
    set_deadline(idle_since + idle_timeout);
  }

  // A head that is not all in `buffer` yet must arrive within `head_timeout`
  // of its first byte.
  void await_head(const read_buffer& buffer, std::chrono::milliseconds head_timeout) {
    const std::string_view bytes(static_cast<const char*>(buffer.data().data()), buffer.size());
    if (bytes.find("\r\n\r\n") == std::string_view::npos) {
      set_deadline(mono_clock::now() + head_timeout);
    }
  }

  void close() noexcept {
    boost::system::error_code ignored;
    socket.shutdown(stream::socket::shutdown_both, ignored);
    socket.close(ignored);
  }
};

http_server::http_server(net::io_context& io, api::router& router, server_limits limits)
    : io_(io), router_(router), limits_(limits), acceptor_(io) {}

http_server::~http_server() {
  // A read in flight uses a connection's descriptor: it ends before any closes.
  if (group_reader_) group_reader_->join();
  for (auto& s : sessions_) s->close();
  if (spare_fd_ >= 0) ::close(spare_fd_);
}

void http_server::start(int listening_fd) {
  acceptor_.assign(stream(), listening_fd);
  spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (spare_fd_ < 0) {
    spdlog::warn("cannot open /dev/null for a spare descriptor: {}",
                 std::generic_category().message(errno));
  }
  spawn_detached(io_.get_executor(), accept_loop(), "the accept loop");
}

void http_server::stop() {
  stopping_ = true;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  for (auto& s : sessions_) {
    if (!s->busy) s->close();
  }
}

net::awaitable<void> http_server::drain(std::chrono::milliseconds bound) {
  net::steady_timer timer(io_);
  const auto until = mono_clock::now() + bound;
  while (!sessions_.empty() && mono_clock::now() < until) {
    timer.expires_after(std::chrono::milliseconds{20});
    co_await timer.async_wait(use_tuple);
  }
  for (auto& s : sessions_) s->close();
}

bool http_server::make_room() {
  // Evict the connection idle the longest that has no request in flight.
  std::shared_ptr<session> oldest;
  for (const auto& s : sessions_) {
    if (!s->busy && (!oldest || s->idle_since < oldest->idle_since)) oldest = s;
  }
  if (!oldest) return false;
  oldest->close();
  sessions_.erase(oldest->position);
  oldest->position = sessions_.end();
  return true;
}

std::size_t http_server::connection_cap() {
  if (descriptor_cap_ != 0 && mono_clock::now() >= descriptor_cap_until_) {
    descriptor_cap_ = 0;  // descriptors may have come free: let accept find out again
  }
  return descriptor_cap_ != 0 ? std::min(descriptor_cap_, limits_.max_connections)
                              : limits_.max_connections;
}

bool http_server::on_out_of_descriptors() {
  const auto now = mono_clock::now();
  // The table is full at this many connections: serve fewer, by a reserve
  // left for exchanges and files (at most half of them), for an idle
  // timeout, then let accept probe again.
  const auto connections = sessions_.size();
  descriptor_cap_ =
      std::max<std::size_t>(connections - std::min(descriptor_reserve, connections / 2), 1);
  descriptor_cap_until_ = now + limits_.idle_timeout;
  std::size_t evicted = 0;
  while (sessions_.size() >= descriptor_cap_ && make_room()) ++evicted;
  const bool freed = evicted > 0 || turn_away_one();
  if (now - last_descriptor_warning_ > std::chrono::seconds{10}) {
    last_descriptor_warning_ = now;
    spdlog::warn("out of file descriptors with {} connections: serving at most {} for now; {}",
                 connections, descriptor_cap_,
                 evicted > 0 ? "closed " + std::to_string(evicted) + " idle connections"
                 : freed     ? "every connection is busy: turned a newcomer away"
                             : "no descriptor could be freed");
  }
  return freed;
}

bool http_server::turn_away_one() {
  // The spare descriptor makes room for exactly this accept; the queue moves.
  if (spare_fd_ < 0) spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (spare_fd_ < 0) return false;
  ::close(spare_fd_);
  const int newcomer = ::accept4(acceptor_.native_handle(), nullptr, nullptr, SOCK_CLOEXEC);
  if (newcomer >= 0) ::close(newcomer);
  spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  return newcomer >= 0;
}

net::awaitable<void> http_server::accept_loop() {
  net::steady_timer pause(io_);
  while (!stopping_) {
    auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
    if (stopping_) co_return;
    bool accepting = false;
    // Nothing thrown here may end the loop: the daemon would stop accepting.
    try {
      accepting = admit(ec, std::move(socket));
    } catch (const std::exception& e) {
      spdlog::error("accepting a connection failed: {}", e.what());
    } catch (...) {
      spdlog::error("accepting a connection failed: an exception of unknown type");
    }
    if (!accepting) {
      // Keep serving the connections we have; try again shortly.
      pause.expires_after(std::chrono::milliseconds{50});
      co_await pause.async_wait(use_tuple);
    }
  }
}

bool http_server::admit(boost::system::error_code ec, stream::socket socket) {
  if ((ec == net::error::no_descriptors ||
       ec == boost::system::errc::too_many_files_open_in_system) &&
      on_out_of_descriptors()) {
    return true;
  }
  if (ec) {
    // A transient failure, or no descriptor could be freed: say so at most
    // every 10 s, and pause briefly.
    if (mono_clock::now() - last_accept_warning_ > std::chrono::seconds{10}) {
      spdlog::warn("accept failed: {}; pausing briefly", ec.message());
      last_accept_warning_ = mono_clock::now();
    }
    return false;
  }
  auto peer = platform::peer_of(socket.native_handle(), limits_.inline_groups);
  if (!peer) {
    spdlog::warn("dropping a connection whose peer credentials cannot be read");
    return true;
  }
  if (peer->groups_unread > 0) {
    defer_group_heavy(std::move(socket), std::move(*peer));
  } else {
    take_on(std::move(socket), std::move(*peer), nullptr);
  }
  return true;
}

void http_server::take_on(stream::socket socket, platform::peer_credentials peer,
                          std::shared_ptr<std::size_t> heavy_count) {
  heavy_place place(std::move(heavy_count));
  if (sessions_.size() >= connection_cap() && !make_room()) {
    return;  // every connection is busy: turn the newcomer away
  }
  // serve() writes synchronously first: that must return would_block, never wait.
  boost::system::error_code nb_ec;
  socket.non_blocking(true, nb_ec);
  if (nb_ec) {
    spdlog::warn("dropping a connection that cannot be made non-blocking: {}", nb_ec.message());
    return;
  }
  // Once per connection, now, while the connecting process is most likely
  // still the one with this pid.
  if (read_peer_details_) peer.details = platform::process_details_of(peer.pid);
  auto s = std::make_shared<session>(std::move(socket), std::move(peer));
  s->heavy = std::move(place);
  s->deadline = mono_clock::now() + limits_.idle_timeout;
  sessions_.push_front(s);
  s->position = sessions_.begin();
  spawn_detached(io_.get_executor(), run(std::move(s)), "a connection");
}

void http_server::defer_group_heavy(stream::socket socket, platform::peer_credentials peer) {
  if (*group_heavy_ >= limits_.max_group_heavy) {
    if (mono_clock::now() - last_group_heavy_warning_ > std::chrono::seconds{10}) {
      last_group_heavy_warning_ = mono_clock::now();
      spdlog::warn(
          "turning away a connection from uid {} with {} groups: {} connections of peers "
          "with over {} groups are open already",
          peer.uid, peer.groups_unread, *group_heavy_, limits_.inline_groups);
    }
    return;
  }
  ++*group_heavy_;
  if (!group_reader_) group_reader_ = std::make_unique<net::thread_pool>(1);
  spawn_detached(io_.get_executor(), read_groups_then_serve(std::move(socket), std::move(peer)),
                 "a connection's groups");
}

net::awaitable<void> http_server::read_groups_then_serve(stream::socket socket,
                                                         platform::peer_credentials peer) {
  heavy_place place(group_heavy_);
  // The serving thread goes on meanwhile; this connection waits for its groups.
  auto groups = co_await net::co_spawn(group_reader_->get_executor(),
                                       read_groups(socket.native_handle()), net::use_awaitable);
  if (!groups || stopping_) {
    if (!groups) spdlog::warn("dropping a connection whose peer groups cannot be read");
    co_return;
  }
  peer.groups = std::move(*groups);
  peer.groups_unread = 0;
  // The place passes to the session (given back at once if it is turned away).
  take_on(std::move(socket), std::move(peer), place.release());
}

net::awaitable<void> http_server::run(std::shared_ptr<session> s) {
  try {
    co_await (serve(s) || watchdog(s));
  } catch (const std::exception& e) {
    spdlog::error("connection from uid {} failed: {}", s->peer.uid, e.what());
  } catch (...) {
    spdlog::error("connection from uid {} failed: an exception of unknown type", s->peer.uid);
  }
  s->close();
  if (s->position != sessions_.end()) {
    sessions_.erase(s->position);
    s->position = sessions_.end();
  }
}

net::awaitable<void> http_server::watchdog(std::shared_ptr<session> s) {
  // One timer per connection; requests move `deadline`, which costs nothing.
  for (;;) {
    s->armed = s->deadline;
    s->timer.expires_at(s->armed);
    co_await s->timer.async_wait(use_tuple);
    if (!s->socket.is_open()) co_return;
    if (s->deadline <= mono_clock::now()) {
      s->close();  // fails serve()'s pending read or write at once
      co_return;
    }
  }
}

// A token that needs an exchange, or a new key's trial exchange.
net::awaitable<api::api_response> http_server::finish(api::route_result routed) {
  if (auto* token = std::get_if<api::pending_token>(&routed)) {
    co_return co_await router_.finish(std::move(*token));
  }
  co_return co_await router_.finish(std::get<api::pending_key>(std::move(routed)));
}

// One request after another on a connection: wait for it, parse it, answer
// it (awaiting the router at most once, for a token exchange), write.
net::awaitable<void> http_server::serve(std::shared_ptr<session> s) {
  read_buffer buffer(limits_.max_head + limits_.max_body);
  std::string head;
  for (;;) {
    s->await_request(limits_.idle_timeout);
    if (stopping_) co_return;
    if (buffer.size() == 0) {
      // With other connections to serve, serve them first: this peer has only
      // just been answered, and a read now would nearly always find nothing.
      if (sessions_.size() > 1) co_await net::post(s->socket.get_executor(), net::use_awaitable);
      auto [ec, n] = co_await s->socket.async_read_some(buffer.prepare(4096), use_tuple);
      if (ec) co_return;
      buffer.commit(n);
    }
    s->await_head(buffer, limits_.head_timeout);

    request_parser parser;
    const body_wiper wiper(parser);
    prepare_parser(parser, limits_);
    auto ec = parse_buffered(parser, buffer);
    if (ec == http::error::need_more) {
      std::tie(ec, std::ignore) = co_await http::async_read(s->socket, buffer, parser, use_tuple);
    }
    s->busy = true;

    api::api_response response;
    bool keep_alive = false;
    if (ec) {
      auto refusal = answer_unparsed(ec);
      if (!refusal) co_return;  // the peer has gone
      response = std::move(*refusal);
    } else {
      keep_alive = parser.get().keep_alive();
      auto routed = router_.handle(api_request_of(parser, s->peer));
      if (auto* answer = std::get_if<api::api_response>(&routed)) {
        response = std::move(*answer);
      } else {
        // An exchange to wait for: its own deadline covers the wait.
        s->set_deadline(mono_clock::time_point::max());
        response = co_await finish(std::move(routed));
      }
    }
    // Answered: a request that may have held a key leaves none of it behind.
    if (may_hold_a_secret(parser)) wipe_body_and_buffer(parser, buffer);

    keep_alive = keep_alive && !stopping_;
    head = response_head(response, keep_alive);
    s->set_deadline(mono_clock::now() + limits_.write_timeout);
    // One sendmsg nearly always takes the whole answer; only what the socket
    // did not take goes through async_write (whose completion, like
    // async_read's, costs a trip through the scheduler).
    const std::array<net::const_buffer, 2> buffers{net::buffer(head), net::buffer(response.body)};
    auto [write_ec, sent] = write_at_once(s->socket, buffers);
    if (!write_ec && sent < head.size() + response.body.size()) {
      write_ec = co_await write_rest(s->socket, buffers, sent);
    }
    if (write_ec || !keep_alive) co_return;
  }
}

}  // namespace actoken::transport
