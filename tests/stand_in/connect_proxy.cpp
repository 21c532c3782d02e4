#include "tests/stand_in/connect_proxy.hpp"

#include "tests/stand_in/encoding.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <array>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace actoken::stand_in {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;
using namespace net::experimental::awaitable_operators;

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
constexpr auto setup_timeout = 10s;

// What the proxy's thread records and the test's thread reads.
struct connect_proxy_state {
  std::string expected_credentials;  // base64 "user:pass"; "" when none are required
  std::mutex mutex;
  std::size_t tunnels = 0;
  std::vector<std::string> targets;
  std::string scripted_answer;  // sent instead of tunnelling when not empty
  // played after a 200 instead of tunnelling, when set
  std::optional<connect_proxy::inside_tunnel> inside_answer;
};

// "Basic <credentials>", the scheme in any letter case (RFC 9110 §11.1).
bool authorized(std::string_view header, const std::string& expected_credentials) {
  const auto space = header.find(' ');
  if (space == std::string_view::npos) {
    return false;
  }
  std::string_view credentials = header.substr(space + 1);
  while (!credentials.empty() && credentials.front() == ' ') {
    credentials.remove_prefix(1);
  }
  return beast::iequals(header.substr(0, space), "basic") && credentials == expected_credentials;
}

// "host:port" or "[v6]:port" into host and port.
std::optional<std::pair<std::string, std::string>> split_target(std::string_view target) {
  const auto colon = target.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == target.size()) {
    return std::nullopt;
  }
  std::string_view host = target.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return std::pair{std::string(host), std::string(target.substr(colon + 1))};
}

net::awaitable<void> refuse(beast::tcp_stream& client, http::status status, unsigned version) {
  http::response<http::empty_body> response(status, version);
  response.set(http::field::server, "actoken-stand-in-proxy");
  if (status == http::status::proxy_authentication_required) {
    response.set(http::field::proxy_authenticate, R"(Basic realm="actoken stand-in")");
  }
  response.content_length(0);
  response.keep_alive(false);
  co_await http::async_write(client, response, use_tuple);
}

// Copies bytes from one socket to the other until end of stream, which it
// passes on as a half-close; an error closes both, ending the other direction too.
net::awaitable<void> splice(tcp::socket& from, tcp::socket& to) {
  std::array<char, 16 * 1024> data{};
  beast::error_code ignored;
  for (;;) {
    const auto [read_error, size] = co_await from.async_read_some(net::buffer(data), use_tuple);
    if (read_error == net::error::eof) {
      to.shutdown(tcp::socket::shutdown_send, ignored);
      co_return;
    }
    if (!read_error) {
      const auto [write_error, written] =
          co_await net::async_write(to, net::buffer(data, size), use_tuple);
      if (!write_error) {
        continue;
      }
    }
    from.close(ignored);
    to.close(ignored);
    co_return;
  }
}

// Says 200, waits for the client's first bytes in the tunnel, answers them
// as `answer` says instead of the server, and closes.
net::awaitable<void> play_inside_tunnel(beast::tcp_stream& client,
                                        const connect_proxy::inside_tunnel& answer) {
  constexpr std::string_view established = "HTTP/1.1 200 Connection established\r\n\r\n";
  const auto [reply_error, reply_size] =
      co_await net::async_write(client, net::buffer(established), use_tuple);
  if (reply_error) {
    co_return;
  }
  std::array<char, 4096> hello{};
  const auto [read_error, read_size] =
      co_await client.async_read_some(net::buffer(hello), use_tuple);
  if (read_error) {
    co_return;
  }
  co_await net::async_write(client, net::buffer(answer.bytes), use_tuple);
  beast::error_code ignored;
  if (answer.reset) {
    client.socket().set_option(tcp::socket::linger(true, 0), ignored);
    client.socket().close(ignored);
    co_return;
  }
  client.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

net::awaitable<void> serve_client(tcp::socket socket, connect_proxy_state& state) {
  // Bytes are passed on as they come, as a real proxy does, never held back by Nagle.
  beast::error_code no_delay_error;
  socket.set_option(tcp::no_delay(true), no_delay_error);
  beast::tcp_stream client(std::move(socket));
  client.expires_after(setup_timeout);
  beast::flat_buffer buffer;
  http::request_parser<http::empty_body> parser;
  parser.header_limit(8 * 1024);
  const auto [read_error, read_size] = co_await http::async_read(client, buffer, parser, use_tuple);
  if (read_error) {
    co_return;
  }
  const auto& request = parser.get();
  if (request.method() != http::verb::connect) {
    co_await refuse(client, http::status::method_not_allowed, request.version());
    co_return;
  }
  const std::string target(request.target());
  std::string scripted_answer;
  std::optional<connect_proxy::inside_tunnel> inside_answer;
  {
    const std::lock_guard lock(state.mutex);
    state.targets.push_back(target);
    scripted_answer = state.scripted_answer;
    inside_answer = state.inside_answer;
  }
  if (inside_answer) {
    co_await play_inside_tunnel(client, *inside_answer);
    co_return;
  }
  if (!scripted_answer.empty()) {
    // One write, so that a client reads whatever follows a head with it.
    co_await net::async_write(client, net::buffer(scripted_answer), use_tuple);
    beast::error_code ignored;
    client.socket().shutdown(tcp::socket::shutdown_both, ignored);
    co_return;
  }
  if (!state.expected_credentials.empty() &&
      !authorized(request[http::field::proxy_authorization], state.expected_credentials)) {
    co_await refuse(client, http::status::proxy_authentication_required, request.version());
    co_return;
  }
  const auto host_port = split_target(target);
  if (!host_port) {
    co_await refuse(client, http::status::bad_request, request.version());
    co_return;
  }

  // Tests run without a network: only loopback targets are tunnelled.
  tcp::resolver resolver(client.get_executor());
  const auto [resolve_error, results] =
      co_await resolver.async_resolve(host_port->first, host_port->second, use_tuple);
  std::vector<tcp::endpoint> endpoints;
  for (const auto& entry : results) {
    if (entry.endpoint().address().is_loopback()) {
      endpoints.push_back(entry.endpoint());
    }
  }
  if (resolve_error || endpoints.empty()) {
    co_await refuse(client, http::status::forbidden, request.version());
    co_return;
  }
  beast::tcp_stream upstream(client.get_executor());
  upstream.expires_after(setup_timeout);
  const auto [connect_error, endpoint] = co_await upstream.async_connect(endpoints, use_tuple);
  if (connect_error) {
    co_await refuse(client, http::status::bad_gateway, request.version());
    co_return;
  }
  upstream.socket().set_option(tcp::no_delay(true), no_delay_error);

  // RFC 9110 §9.3.6: a 2xx answer to CONNECT has no Content-Length and no body.
  constexpr std::string_view established = "HTTP/1.1 200 Connection established\r\n\r\n";
  const auto [reply_error, reply_size] =
      co_await net::async_write(client, net::buffer(established), use_tuple);
  if (reply_error) {
    co_return;
  }
  {
    const std::lock_guard lock(state.mutex);
    ++state.tunnels;
  }
  // Bytes the client sent right after its CONNECT head already belong to the tunnel.
  const auto [early_error, early_size] =
      co_await net::async_write(upstream, buffer.data(), use_tuple);
  if (early_error) {
    co_return;
  }
  client.expires_never();
  upstream.expires_never();
  co_await (splice(client.socket(), upstream.socket()) &&
            splice(upstream.socket(), client.socket()));
}

net::awaitable<void> accept_clients(tcp::acceptor acceptor, connect_proxy_state& state) {
  for (;;) {
    auto [error, socket] = co_await acceptor.async_accept(use_tuple);
    if (error == net::error::operation_aborted) {
      co_return;
    }
    if (error) {
      net::steady_timer pause(acceptor.get_executor(), 10ms);
      co_await pause.async_wait(use_tuple);
      continue;
    }
    net::co_spawn(acceptor.get_executor(), serve_client(std::move(socket), state), net::detached);
  }
}

}  // namespace

struct connect_proxy::impl {
  connect_proxy_state state;
  std::uint16_t port = 0;
  std::unique_ptr<net::io_context> io;  ///< set while running
  std::thread thread;
};

connect_proxy::connect_proxy(std::optional<std::pair<std::string, std::string>> required_basic_auth)
    : impl_(std::make_unique<impl>()) {
  if (required_basic_auth) {
    impl_->state.expected_credentials =
        base64_encode(required_basic_auth->first + ':' + required_basic_auth->second);
  }
}

connect_proxy::~connect_proxy() { stop(); }

void connect_proxy::start() {
  if (impl_->io) {
    throw std::logic_error("stand_in::connect_proxy: already started");
  }
  auto io = std::make_unique<net::io_context>(1);
  tcp::acceptor acceptor(*io, tcp::endpoint(net::ip::address_v4::loopback(), 0));
  impl_->port = acceptor.local_endpoint().port();
  net::co_spawn(*io, accept_clients(std::move(acceptor), impl_->state), net::detached);
  impl_->thread = std::thread([&context = *io] { context.run(); });
  impl_->io = std::move(io);
}

void connect_proxy::stop() {
  if (!impl_->io) {
    return;
  }
  impl_->io->stop();
  impl_->thread.join();
  impl_->io.reset();  // destroys the suspended coroutines and their sockets
}

std::uint16_t connect_proxy::port() const { return impl_->port; }

std::string connect_proxy::url() const { return "http://127.0.0.1:" + std::to_string(port()); }

void connect_proxy::answer_with(std::string bytes) {
  const std::lock_guard lock(impl_->state.mutex);
  impl_->state.scripted_answer = std::move(bytes);
}

void connect_proxy::answer_inside_tunnel(std::optional<inside_tunnel> answer) {
  const std::lock_guard lock(impl_->state.mutex);
  impl_->state.inside_answer = std::move(answer);
}

std::size_t connect_proxy::tunnels() const {
  const std::lock_guard lock(impl_->state.mutex);
  return impl_->state.tunnels;
}

std::vector<std::string> connect_proxy::targets() const {
  const std::lock_guard lock(impl_->state.mutex);
  return impl_->state.targets;
}

}  // namespace actoken::stand_in
