#include "tests/stand_in/server.hpp"

#include "tests/stand_in/tls_records.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace actoken::stand_in {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using tls_stream = beast::ssl_stream<beast::tcp_stream>;
using namespace std::chrono_literals;

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
constexpr auto handshake_timeout = 10s;
// fault::in_pieces: the pause between two pieces of one answer, long enough
// for each to leave in a packet of its own.
constexpr auto piece_pause = 5ms;
constexpr auto idle_timeout = 30s;
constexpr auto write_timeout = 30s;
constexpr std::size_t header_limit = 8 * 1024;
constexpr std::size_t body_limit = 64 * 1024;
constexpr std::size_t huge_body_size = 100 * 1024 * 1024;
constexpr std::string_view body_start = R"({"access_token":")";

ssl::context make_tls_context(const test_pki& pki) {
  ssl::context tls(ssl::context::tls_server);
  SSL_CTX_set_min_proto_version(tls.native_handle(), TLS1_2_VERSION);
  tls.use_certificate_chain(net::buffer(pki.server_cert_pem));
  tls.use_private_key(net::buffer(pki.server_key_pem), ssl::context::pem);
  return tls;
}

incoming_request to_incoming(const http::request<http::string_body>& request,
                             std::size_t tls_records) {
  return {std::string(request.method_string()),
          std::string(request.target()),
          std::string(request[http::field::content_type]),
          std::string(request[http::field::accept]),
          request.body(),
          tls_records};
}

// An answer as it goes on the wire, head and body together.
std::string wire_text(const http::response<http::string_body>& response) {
  std::ostringstream text;
  text << response;
  return std::move(text).str();
}

// Status, Server, Date, Content-Type and the extras; the body is up to the caller.
template <class Body>
http::response<Body> make_head(const outgoing_response& answer, unsigned version) {
  http::response<Body> response;
  response.version(version);
  response.result(answer.status);
  response.set(http::field::server, "actoken-stand-in");
  response.set(http::field::date,
               answer.date_header.empty() ? format_http_date(answer.date) : answer.date_header);
  response.set(http::field::content_type, answer.content_type);
  for (const auto& [name, value] : answer.headers) {
    response.set(name, value);
  }
  return response;
}

// fault::truncated_tls and fault::reset: the head and half the body in one
// write, then the TCP connection goes away without TLS close_notify, by FIN or by RST.
net::awaitable<void> send_cut_off(tls_stream& stream,
                                  const http::response<http::string_body>& response, fault mode) {
  const std::string text = wire_text(response);
  const std::size_t cut = text.size() - response.body().size() + response.body().size() / 2;
  const auto [error, written] =
      co_await net::async_write(stream, net::buffer(text, cut), use_tuple);
  if (error) {
    co_return;
  }
  auto& socket = beast::get_lowest_layer(stream).socket();
  beast::error_code ignored;
  if (mode == fault::reset) {
    socket.set_option(tcp::socket::linger(true, 0), ignored);
  }
  socket.close(ignored);
}

// fault::in_pieces: the answer in four writes a few milliseconds apart (the
// status line, the rest of the head, each half of the body), as a server
// that flushes as it goes sends it: a client must read on until it is whole.
net::awaitable<bool> send_in_pieces(tls_stream& stream,
                                    const http::response<http::string_body>& response) {
  const std::string text = wire_text(response);
  const std::size_t line_end = text.find("\r\n") + 2;
  const std::size_t body_begins = text.size() - response.body().size();
  const std::size_t body_middle = body_begins + response.body().size() / 2;
  const std::array<std::size_t, 5> cuts{0, line_end, body_begins, body_middle, text.size()};
  net::steady_timer pause(stream.get_executor());
  for (std::size_t i = 0; i + 1 < cuts.size(); ++i) {
    if (cuts[i + 1] == cuts[i]) {
      continue;
    }
    if (i > 0) {
      pause.expires_after(piece_pause);
      co_await pause.async_wait(use_tuple);
    }
    const auto piece = net::buffer(text.data() + cuts[i], cuts[i + 1] - cuts[i]);
    const auto [error, written] = co_await net::async_write(stream, piece, use_tuple);
    if (error) {
      co_return false;
    }
  }
  co_return true;
}

// fault::endless_body: a chunked 200 whose chunks trickle in forever, so only a
// deadline on the whole exchange ends it.
net::awaitable<void> send_endless_body(tls_stream& stream, const outgoing_response& answer,
                                       unsigned version) {
  auto head = make_head<http::empty_body>(answer, version);
  head.result(http::status::ok);
  head.chunked(true);
  http::response_serializer<http::empty_body> serializer(head);
  const auto [head_error, head_size] =
      co_await http::async_write_header(stream, serializer, use_tuple);
  if (head_error) {
    co_return;
  }
  beast::get_lowest_layer(stream).expires_never();
  net::steady_timer pause(stream.get_executor());
  std::string chunk(body_start);
  for (;;) {
    const auto [error, size] =
        co_await net::async_write(stream, http::make_chunk(net::buffer(chunk)), use_tuple);
    if (error) {
      co_return;
    }
    chunk.assign(64, 'a');
    pause.expires_after(10ms);
    co_await pause.async_wait(use_tuple);
  }
}

// fault::huge_body: a 200 announcing 100 MB, sent as fast as the client reads.
net::awaitable<void> send_huge_body(tls_stream& stream, const outgoing_response& answer,
                                    unsigned version) {
  auto head = make_head<http::empty_body>(answer, version);
  head.result(http::status::ok);
  head.content_length(huge_body_size);
  http::response_serializer<http::empty_body> serializer(head);
  const auto [head_error, head_size] =
      co_await http::async_write_header(stream, serializer, use_tuple);
  if (head_error) {
    co_return;
  }
  beast::get_lowest_layer(stream).expires_never();
  std::string block(64 * 1024, 'a');
  block.replace(0, body_start.size(), body_start);
  for (std::size_t sent = 0; sent < huge_body_size;) {
    const std::size_t size = std::min(block.size(), huge_body_size - sent);
    const auto [error, written] =
        co_await net::async_write(stream, net::buffer(block, size), use_tuple);
    if (error) {
      co_return;
    }
    sent += written;
    block.assign(block.size(), 'a');
  }
}

// fault::not_http: bytes that are no HTTP status line, then a clean close.
net::awaitable<void> send_not_http(tls_stream& stream) {
  static constexpr std::string_view banner = "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n";
  co_await net::async_write(stream, net::buffer(banner), use_tuple);
  beast::get_lowest_layer(stream).expires_after(1s);
  co_await stream.async_shutdown(use_tuple);
}

// fault::hang: keep reading (and ignoring) until the client gives up.
net::awaitable<void> hang(tls_stream& stream) {
  beast::get_lowest_layer(stream).expires_never();
  std::array<char, 1024> sink{};
  for (;;) {
    const auto [error, size] = co_await stream.async_read_some(net::buffer(sink), use_tuple);
    if (error) {
      co_return;
    }
  }
}

// The server names clients asked for, one per completed handshake.
struct sni_log {
  mutable std::mutex mutex;
  std::vector<std::string> names;

  void record(SSL* ssl) {
    const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    const std::lock_guard lock(mutex);
    names.emplace_back(name != nullptr ? name : "");
  }
};

// What the connection does once an answer is written.
enum class after_answer {
  next_request,  // keep-alive: read the next request
  close,         // close TLS politely (close_notify), then the connection
  abandon,       // a fault has already ended the connection its own way
};

// Writes `answer` to a request of HTTP `version`, acting out its fault.
net::awaitable<after_answer> send_answer(tls_stream& stream, const outgoing_response& answer,
                                         unsigned version, bool keep_alive) {
  auto response = make_head<http::string_body>(answer, version);
  response.body() = answer.body;
  response.keep_alive(keep_alive);
  response.prepare_payload();
  switch (answer.fault_mode) {
    case fault::none:
      break;
    case fault::hang:
      co_await hang(stream);
      co_return after_answer::abandon;
    case fault::endless_body:
      co_await send_endless_body(stream, answer, version);
      co_return after_answer::abandon;
    case fault::huge_body:
      co_await send_huge_body(stream, answer, version);
      co_return after_answer::abandon;
    case fault::truncated_tls:
    case fault::reset:
      co_await send_cut_off(stream, response, answer.fault_mode);
      co_return after_answer::abandon;
    case fault::huge_header:
      response.set("X-Padding", std::string(32 * 1024, 'a'));
      break;
    case fault::not_http:
      co_await send_not_http(stream);
      co_return after_answer::abandon;
    case fault::in_pieces:
      if (!co_await send_in_pieces(stream, response)) {
        co_return after_answer::abandon;
      }
      co_return keep_alive ? after_answer::next_request : after_answer::close;
  }
  // As a real server answers: head and body in one write, so one TLS record
  // (up to 16 KiB) in one TCP segment, with nothing held back by Nagle.
  const std::string text = wire_text(response);
  const auto [write_error, write_size] =
      co_await net::async_write(stream, net::buffer(text), use_tuple);
  if (write_error) {
    co_return after_answer::abandon;
  }
  co_return keep_alive ? after_answer::next_request : after_answer::close;
}

// One client connection: TLS handshake, then keep-alive request/response turns.
net::awaitable<void> serve_connection(tcp::socket socket, ssl::context& tls, auth_handler& handler,
                                      sni_log& sni) {
  // As a real server's: each answer leaves at once, not after the client's
  // delayed acknowledgement of the last one.
  beast::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  record_counter records;  // outlives the stream whose callback counts into it
  tls_stream stream(std::move(socket), tls);
  count_received_records(stream.native_handle(), records);
  beast::get_lowest_layer(stream).expires_after(handshake_timeout);
  const auto [handshake_error] =
      co_await stream.async_handshake(ssl::stream_base::server, use_tuple);
  if (handshake_error) {
    co_return;
  }
  sni.record(stream.native_handle());
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(header_limit);
    parser.body_limit(body_limit);
    beast::get_lowest_layer(stream).expires_after(idle_timeout);
    const std::size_t records_before = records.application_records;
    const auto [read_error, read_size] =
        co_await http::async_read(stream, buffer, parser, use_tuple);
    if (read_error) {
      co_return;  // closed by the peer, idle too long, or not HTTP
    }
    const auto& request = parser.get();
    const outgoing_response answer =
        handler.handle(to_incoming(request, records.application_records - records_before));
    if (answer.delay > 0ms) {
      // A timer, not a sleep: other connections go on meanwhile.
      net::steady_timer timer(stream.get_executor(), answer.delay);
      co_await timer.async_wait(use_tuple);
    }
    beast::get_lowest_layer(stream).expires_after(write_timeout);
    const after_answer next =
        co_await send_answer(stream, answer, request.version(), request.keep_alive());
    if (next == after_answer::abandon) {
      co_return;
    }
    if (next == after_answer::close) {
      break;
    }
  }
  beast::get_lowest_layer(stream).expires_after(1s);
  co_await stream.async_shutdown(use_tuple);
}

net::awaitable<void> accept_connections(tcp::acceptor acceptor, ssl::context& tls,
                                        auth_handler& handler, sni_log& sni) {
  for (;;) {
    auto [error, socket] = co_await acceptor.async_accept(use_tuple);
    if (error == net::error::operation_aborted) {
      co_return;
    }
    if (error) {
      // E.g. out of descriptors: pause instead of spinning on the error.
      net::steady_timer pause(acceptor.get_executor(), 10ms);
      co_await pause.async_wait(use_tuple);
      continue;
    }
    net::co_spawn(acceptor.get_executor(), serve_connection(std::move(socket), tls, handler, sni),
                  net::detached);
  }
}

// An empty PKI is replaced by a fresh one before `impl` builds its TLS context.
server_options with_pki(server_options options) {
  if (options.pki.server_cert_pem.empty()) {
    options.pki = generate_pki(std::vector<std::string>{"127.0.0.1", "localhost"});
  }
  return options;
}

}  // namespace

struct server::impl {
  server_options options;
  ssl::context tls;
  auth_handler handler;
  sni_log sni;
  std::uint16_t port = 0;
  std::unique_ptr<net::io_context> io;  ///< set while running
  std::thread thread;

  explicit impl(server_options server_options)
      : options(std::move(server_options)),
        tls(make_tls_context(options.pki)),
        handler(options.control_api) {}
};

server::server(server_options options)
    : impl_(std::make_unique<impl>(with_pki(std::move(options)))) {}

server::~server() { stop(); }

void server::start() {
  if (impl_->io) {
    throw std::logic_error("stand_in::server: already started");
  }
  auto io = std::make_unique<net::io_context>(1);
  const tcp::endpoint endpoint(net::ip::make_address(impl_->options.address), impl_->options.port);
  tcp::acceptor acceptor(*io, endpoint.protocol());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  acceptor.bind(endpoint);
  acceptor.listen(net::socket_base::max_listen_connections);
  impl_->port = acceptor.local_endpoint().port();
  net::co_spawn(*io,
                accept_connections(std::move(acceptor), impl_->tls, impl_->handler, impl_->sni),
                net::detached);
  impl_->thread = std::thread([&context = *io] { context.run(); });
  impl_->io = std::move(io);
}

void server::stop() {
  if (!impl_->io) {
    return;
  }
  impl_->io->stop();
  impl_->thread.join();
  // Destroying the io_context destroys the suspended coroutines, and with them
  // the acceptor and every connection's socket.
  impl_->io.reset();
}

std::uint16_t server::port() const { return impl_->port; }

std::string server::url() const {
  const std::string& address = impl_->options.address;
  const bool ipv6 = address.find(':') != std::string::npos;
  return "https://" + (ipv6 ? "[" + address + "]" : address) + ":" + std::to_string(port());
}

const test_pki& server::pki() const { return impl_->options.pki; }

void server::add_account(std::string key, std::string org_id,
                         std::vector<std::string> sub_org_ids) {
  impl_->handler.add_account(std::move(key), std::move(org_id), std::move(sub_org_ids));
}

void server::set_behaviour(const behaviour& value) { impl_->handler.set_behaviour(value); }

behaviour server::get_behaviour() const { return impl_->handler.get_behaviour(); }

std::size_t server::exchanges() const { return impl_->handler.exchanges(); }

std::size_t server::exchanges_for(std::string_view key) const {
  return impl_->handler.exchanges_for(key);
}

std::size_t server::successful_exchanges() const { return impl_->handler.successful_exchanges(); }

std::vector<recorded_request> server::requests() const { return impl_->handler.requests(); }

void server::reset_counters() { impl_->handler.reset_counters(); }

std::vector<std::string> server::server_names() const {
  const std::lock_guard lock(impl_->sni.mutex);
  return impl_->sni.names;
}

}  // namespace actoken::stand_in
