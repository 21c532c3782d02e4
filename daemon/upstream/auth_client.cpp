#include "daemon/upstream/auth_client.hpp"

#include "common/base64.hpp"
#include "common/version.hpp"
#include "daemon/runtime/spawn.hpp"
#include "daemon/upstream/no_proxy.hpp"
#include "daemon/upstream/tls_context.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>
#include <vector>

namespace actoken::upstream {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using steady = std::chrono::steady_clock;
using boost::system::error_code;
using tls_stream = ssl::stream<beast::tcp_stream>;
using wiped_flat_buffer = beast::basic_flat_buffer<platform::secure_allocator<char>>;
using wiped_string_body =
    http::basic_string_body<char, std::char_traits<char>, platform::secure_allocator<char>>;

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

// Headers of an honest auth server fit easily; a hostile one is capped.
constexpr std::uint32_t max_response_header = 16 * 1024;
// Closing TLS politely is a courtesy, not part of the exchange: it runs after
// the answer has gone to the caller, for this long at most.
constexpr std::chrono::milliseconds shutdown_grace{500};

failure fail(errc code, std::string message) {
  return failure{code, std::move(message), std::nullopt};
}

long long count_ms(std::chrono::milliseconds d) { return static_cast<long long>(d.count()); }

// A transport error at one step of the exchange, classified (SPEC §3).
failure transport_failure(const error_code& ec, const std::string& doing,
                          std::chrono::milliseconds timeout) {
  if (ec == beast::error::timeout) {
    return fail(errc::upstream_timeout,
                "no answer within " + std::to_string(count_ms(timeout)) + " ms " + doing);
  }
  return fail(errc::upstream_unavailable, doing + " failed: " + ec.message());
}

// The first of `upper`, `lower` that is set and not empty, with its name.
std::optional<std::pair<std::string, std::string>> env_value(const env_lookup& env,
                                                             const char* upper, const char* lower) {
  for (const char* name : {upper, lower}) {
    const char* value = env(name);
    if (value != nullptr && *value != '\0') return std::pair{std::string(name), std::string(value)};
  }
  return std::nullopt;
}

std::string user_agent() { return "actoken/" + std::string(actoken::version); }

// Resolves `host` within the deadline. An IP literal needs no resolver. The
// resolver ignores per-operation cancellation (getaddrinfo runs on a private
// thread), so a DNS stall can outlast the deadline by the resolver's own
// timeout; the answer is still `upstream_timeout`.
net::awaitable<std::variant<std::vector<tcp::endpoint>, failure>> resolve(
    std::string host, std::uint16_t port, steady::time_point deadline,
    std::chrono::milliseconds timeout) {
  using namespace net::experimental::awaitable_operators;
  error_code parse_ec;
  const auto address = net::ip::make_address(host, parse_ec);
  if (!parse_ec) co_return std::vector<tcp::endpoint>{tcp::endpoint(address, port)};

  auto executor = co_await net::this_coro::executor;
  tcp::resolver resolver(executor);
  net::steady_timer timer(executor, deadline);
  auto outcome = co_await (resolver.async_resolve(host, std::to_string(port),
                                                  tcp::resolver::numeric_service, use_tuple) ||
                           timer.async_wait(use_tuple));
  if (outcome.index() == 1) {
    co_return fail(errc::upstream_timeout, "no answer within " + std::to_string(count_ms(timeout)) +
                                               " ms resolving " + host);
  }
  auto [ec, results] = std::get<0>(std::move(outcome));
  if (ec)
    co_return fail(errc::upstream_unavailable, "cannot resolve " + host + ": " + ec.message());
  std::vector<tcp::endpoint> endpoints;
  for (const auto& entry : results) endpoints.push_back(entry.endpoint());
  co_return endpoints;
}

// Connects `stream` to `target` (host:port), under the stream's deadline, and
// turns Nagle's algorithm off on it.
net::awaitable<std::optional<failure>> connect(beast::tcp_stream& stream, const url& target,
                                               steady::time_point deadline,
                                               std::chrono::milliseconds timeout) {
  auto resolved = co_await resolve(target.host, target.port, deadline, timeout);
  if (auto* error = std::get_if<failure>(&resolved)) co_return std::move(*error);
  spdlog::debug("upstream: connecting to {}", authority(target));
  auto [ec, endpoint] =
      co_await stream.async_connect(std::get<std::vector<tcp::endpoint>>(resolved), use_tuple);
  if (ec) co_return transport_failure(ec, "connecting to " + authority(target), timeout);
  // Every message on this connection is written whole, and none may wait for
  // the peer's delayed acknowledgement of the one before (Nagle's algorithm:
  // ~40 ms on Linux, a round trip elsewhere). SPEC §1.
  error_code no_delay_ec;
  stream.socket().set_option(tcp::no_delay(true), no_delay_ec);
  if (no_delay_ec) {
    spdlog::debug("upstream: TCP_NODELAY on the connection to {}: {}", authority(target),
                  no_delay_ec.message());
  }
  co_return std::nullopt;
}

// Opens a tunnel to `server` through `proxy` on the connected `stream`
// (RFC 9110 §9.3.6).
net::awaitable<std::optional<failure>> open_tunnel(beast::tcp_stream& stream, const url& proxy,
                                                   const url& server,
                                                   std::chrono::milliseconds timeout) {
  const std::string proxy_name = "proxy " + authority(proxy);
  const std::string target = authority(server);
  // Written by hand into locked memory, not through a Beast request whose
  // fields would keep the proxy password in ordinary memory (SPEC §6).
  const std::string head = "CONNECT " + target + " HTTP/1.1\r\nHost: " + target +
                           "\r\nUser-Agent: " + user_agent() + "\r\n";
  platform::secure_buffer request;
  // Room for the head, the header's name and base64 (4/3 of the user info):
  // no regrowth, so no stray copies.
  request.reserve(head.size() + 64 + 2 * proxy.userinfo.size());
  request.append(head);
  if (!proxy.userinfo.empty()) {
    // parse_proxy_url has checked that the user info decodes.
    const auto credentials = percent_decode_secret(proxy.userinfo.view());
    request.append("Proxy-Authorization: Basic ");
    append_base64(credentials ? credentials->view() : std::string_view{}, request);
    request.append("\r\n");
  }
  request.append("\r\n");
  auto [write_ec, written] =
      co_await net::async_write(stream, net::buffer(request.data(), request.size()), use_tuple);
  if (write_ec) co_return transport_failure(write_ec, "sending CONNECT to " + proxy_name, timeout);

  // A CONNECT reply has no body whatever its headers say: skip(true), or the
  // read would wait for one until the deadline.
  beast::flat_buffer buffer;
  http::response_parser<http::empty_body> parser;
  parser.skip(true);
  parser.header_limit(max_response_header);
  auto [read_ec, read] = co_await http::async_read(stream, buffer, parser, use_tuple);
  if (read_ec) {
    co_return transport_failure(read_ec, "reading the CONNECT reply from " + proxy_name, timeout);
  }
  const unsigned status = parser.get().result_int();
  if (status == 407) {
    co_return fail(errc::upstream_unavailable,
                   proxy_name + " requires authentication (407) for " + target);
  }
  if (status < 200 || status > 299) {
    co_return fail(errc::upstream_unavailable, proxy_name + " refused CONNECT to " + target +
                                                   " with " + std::to_string(status));
  }
  // Bytes after the reply would be the server's before our ClientHello.
  if (buffer.size() != 0) {
    co_return fail(errc::upstream_unavailable,
                   proxy_name + " sent unexpected data after its CONNECT reply");
  }
  spdlog::debug("upstream: tunnel to {} through {}", target, proxy_name);
  co_return std::nullopt;
}

// The handshake, classified (SPEC §3): a failed verification, or a server
// that insists on what the policy refuses, is `upstream_tls` and waits for a
// changed setting; anything else (bytes that are not TLS, an unexpected
// alert, a reset) is `upstream_unavailable` and is retried with backoff.
net::awaitable<std::optional<failure>> handshake(tls_stream& stream, const url& server,
                                                 std::chrono::milliseconds timeout) {
  if (!prepare_tls_connection(stream.native_handle(), server.host)) {
    co_return fail(errc::upstream_tls, "cannot set up TLS for " + server.host);
  }
  auto [ec] = co_await stream.async_handshake(ssl::stream_base::client, use_tuple);
  if (!ec) co_return std::nullopt;
  const std::string with = "TLS handshake with " + authority(server);
  if (ec == beast::error::timeout) co_return transport_failure(ec, "during the " + with, timeout);
  const auto kind = classify_handshake_failure(ec, ::SSL_get_verify_result(stream.native_handle()));
  co_return fail(
      kind == handshake_failure_kind::refused ? errc::upstream_tls : errc::upstream_unavailable,
      with + " failed: " + describe_tls_failure(ec, stream.native_handle()));
}

// The request as it goes on the wire, head and body, in one locked buffer:
// written at once it leaves in one TLS record and one TCP segment (SPEC §1),
// so no part of it waits for the server to acknowledge another; and the key
// in the body is never copied into ordinary memory on the way.
platform::secure_buffer serialize_request(const url& server, const std::string& target,
                                          const platform::secure_buffer& body) {
  // `target` and the host passed parse_url's character checks: no CR, LF or space.
  const std::string head = "POST " + target + " HTTP/1.1\r\nHost: " + host_header(server) +
                           "\r\nAccept: application/json\r\n"
                           "Content-Type: application/x-www-form-urlencoded\r\n"
                           "User-Agent: " +
                           user_agent() +
                           "\r\nConnection: close\r\n"
                           "Content-Length: " +
                           std::to_string(body.size()) + "\r\n\r\n";
  platform::secure_buffer request;
  request.reserve(head.size() + body.size());  // no regrowth: no stray copies
  request.append(head);
  request.append(body.view());
  return request;
}

// Sends the whole request in one write.
net::awaitable<std::optional<failure>> send_request(tls_stream& stream, const url& server,
                                                    const std::string& target,
                                                    const platform::secure_buffer& body,
                                                    std::chrono::milliseconds timeout) {
  const platform::secure_buffer request = serialize_request(server, target, body);
  auto [ec, written] =
      co_await net::async_write(stream, net::buffer(request.data(), request.size()), use_tuple);
  if (ec) co_return transport_failure(ec, "sending the request to " + authority(server), timeout);
  co_return std::nullopt;
}

// Reads the final response (skipping interim 1xx ones) within the limits.
net::awaitable<post_result> read_response(tls_stream& stream, const url& server,
                                          std::size_t max_body, std::chrono::milliseconds timeout) {
  const std::string from = authority(server);
  // An error body may echo the key: until the codec has searched it, it
  // stays in locked memory that is wiped when freed, growth included.
  wiped_flat_buffer buffer;
  std::optional<http::response_parser<wiped_string_body>> parser;
  for (;;) {
    parser.emplace();
    parser->header_limit(max_response_header);
    parser->body_limit(max_body);
    auto [ec, read] = co_await http::async_read(stream, buffer, *parser, use_tuple);
    if (ec && renegotiation_refused(stream.native_handle())) {
      co_return fail(errc::upstream_tls, "TLS with " + from +
                                             " failed: the server asked to renegotiate, which is "
                                             "refused (" +
                                             ec.message() + ")");
    }
    if (ec == http::error::body_limit) {
      co_return fail(errc::bad_upstream_response, "response body too large from " + from +
                                                      " (over " + std::to_string(max_body) +
                                                      " bytes)");
    }
    if (ec == http::error::header_limit) {
      co_return fail(errc::bad_upstream_response, "response header too large from " + from);
    }
    if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
        ec == ssl::error::stream_truncated || ec == net::error::eof) {
      // A truncated TLS stream is an incomplete answer here, never a complete one.
      co_return fail(errc::upstream_unavailable,
                     "connection to " + from + " closed before a full response");
    }
    if (ec && ec.category() == http::make_error_code(http::error::bad_version).category()) {
      co_return fail(errc::bad_upstream_response,
                     "malformed HTTP response from " + from + ": " + ec.message());
    }
    if (ec) co_return transport_failure(ec, "reading the response from " + from, timeout);
    const unsigned status = parser->get().result_int();
    if (status >= 200 || status == 101) break;
  }
  auto message = parser->release();
  raw_response response;
  response.status = message.result_int();
  response.date = std::string(message[http::field::date]);
  response.retry_after = std::string(message[http::field::retry_after]);
  // raw_response holds a std::string: the one copy outside locked memory,
  // wiped by the exchanger once the codec has read it.
  response.body.assign(message.body().data(), message.body().size());
  co_return response;
}

// Closes TLS after a complete response, on its own, while the answer is
// already on its way to the caller: a server that neither sends its
// close_notify nor closes must not hold up an exchange that is done (RFC 8446
// §6.1 lets the closer go without waiting). Errors no longer matter: a peer
// that already closed gives stream_truncated, the expected case with
// `Connection: close`.
net::awaitable<void> close_tls(std::unique_ptr<tls_stream> stream, std::string server) {
  beast::get_lowest_layer(*stream).expires_after(shutdown_grace);
  auto [ec] = co_await stream->async_shutdown(use_tuple);
  if (ec && ec != ssl::error::stream_truncated && ec != net::error::eof) {
    spdlog::debug("upstream: TLS shutdown with {}: {}", server, ec.message());
  }
  beast::get_lowest_layer(*stream).close();
}

}  // namespace

auth_client::auth_client(net::any_io_executor ex, auth_client_options opts)
    : executor_(std::move(ex)),
      ca_file_(std::move(opts.ca_file)),
      max_response_body_(opts.max_response_body) {
  const env_lookup env = opts.env ? std::move(opts.env) : process_env();
  std::string source = "the proxy setting";
  // The URL may hold a password: it stays in locked memory (SPEC §6).
  platform::secure_buffer proxy_text = std::move(opts.proxy);
  if (proxy_text.empty()) {
    for (const char* name : {"HTTPS_PROXY", "https_proxy"}) {
      const char* value = env(name);
      if (value == nullptr || *value == '\0') continue;
      source = std::string("$") + name;
      proxy_text.append(value);
      break;
    }
  }
  if (!proxy_text.empty()) {
    proxy_ = parse_proxy_url(proxy_text.view());
    // The text may hold a password: the message names where it came from only.
    if (!proxy_) proxy_error_ = "invalid proxy URL in " + source;
  }
  if (auto variable = env_value(env, "NO_PROXY", "no_proxy"))
    no_proxy_ = std::move(variable->second);
}

auth_client::~auth_client() = default;

std::optional<url> auth_client::proxy_for(const url& server) const {
  if (!proxy_ || no_proxy_matches(no_proxy_, server.host, server.port)) return std::nullopt;
  return proxy_;
}

std::optional<failure> auth_client::prepare_tls_context() {
  if (context_) return std::nullopt;
  auto made = make_tls_context(ca_file_);
  if (auto* problem = std::get_if<std::string>(&made)) return fail(errc::upstream_tls, *problem);
  context_ = std::move(std::get<std::unique_ptr<ssl::context>>(made));
  spdlog::debug("upstream: TLS context ready");
  return std::nullopt;
}

net::awaitable<post_result> auth_client::post_form(const url& server, std::string target,
                                                   const platform::secure_buffer& body,
                                                   std::chrono::milliseconds timeout) {
  if (server.scheme != "https") {
    co_return fail(errc::upstream_tls, "refusing to send a key to " + server.host + " over " +
                                           server.scheme + ", not https");
  }
  // An unusable proxy setting fails only the exchanges it would have carried.
  if (!proxy_error_.empty() && !no_proxy_matches(no_proxy_, server.host, server.port)) {
    co_return fail(errc::upstream_unavailable, proxy_error_);
  }
  // Built before the clock starts: loading the system store is local work,
  // and on a loaded machine it could eat a short timeout on its own.
  if (auto unusable = prepare_tls_context()) co_return std::move(*unusable);
  const auto started = steady::now();
  const auto deadline = started + timeout;
  const auto proxy = proxy_for(server);
  const std::string path = server.path + target;
  spdlog::debug("upstream: POST https://{}{}{}", authority(server), path,
                proxy ? " via proxy " + authority(*proxy) : std::string());

  beast::tcp_stream tcp_stream(executor_);
  // One deadline for every step on this stream; Beast closes the socket when
  // it passes, which also ends the TLS operations layered on top.
  tcp_stream.expires_at(deadline);
  auto connected = co_await connect(tcp_stream, proxy ? *proxy : server, deadline, timeout);
  if (connected) co_return std::move(*connected);
  if (proxy) {
    auto tunnel = co_await open_tunnel(tcp_stream, *proxy, server, timeout);
    if (tunnel) co_return std::move(*tunnel);
  }

  // Owned by pointer: after a complete answer it goes on to close_tls alone.
  auto stream = std::make_unique<tls_stream>(std::move(tcp_stream), *context_);
  auto shaken = co_await handshake(*stream, server, timeout);
  if (shaken) co_return std::move(*shaken);
  // Only now, with the certificate verified, does the key leave the process.
  auto sent = co_await send_request(*stream, server, path, body, timeout);
  if (sent) co_return std::move(*sent);
  auto result = co_await read_response(*stream, server, max_response_body_, timeout);
  if (std::holds_alternative<raw_response>(result)) {
    // The SSL object holds its own reference to the context: a reload that
    // replaces this client cannot pull it from under the close.
    spawn_detached(executor_, close_tls(std::move(stream), authority(server)),
                   "upstream: the TLS close with " + authority(server));
    spdlog::debug(
        "upstream: {} answered {} in {} ms", authority(server),
        std::get<raw_response>(result).status,
        count_ms(std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - started)));
  }
  co_return result;
}

}  // namespace actoken::upstream
