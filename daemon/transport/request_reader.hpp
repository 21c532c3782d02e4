#pragma once

/// @file
/// Reading one HTTP/1.1 request off a connection's bytes, as the session does
/// it (SPEC §4 limits), and what is answered when a request does not parse.
/// Shared by the session (http_server.cpp) and the HTTP fuzz target, so the
/// fuzzer drives the code that serves, not a copy of it. What a request with
/// a body (a key PUT) leaves in memory is wiped.

#include "daemon/api/router.hpp"
#include "daemon/platform/peer.hpp"
#include "daemon/platform/secure_memory.hpp"
#include "daemon/transport/http_server.hpp"

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/system/error_code.hpp>

#include <cstddef>
#include <memory>
#include <optional>
#include <string>

namespace actoken::transport {

/// Memory wiped when it is freed: a connection's read buffer and a request's
/// body may hold a key (PUT /v1/orgs/{org}/key), and a buffer that grows
/// frees its old storage. Not locked: every connection has a read buffer, and
/// the locked-memory budget is kept for keys.
template <class T>
struct wiping_allocator {
  using value_type = T;

  wiping_allocator() noexcept = default;
  template <class U>
  wiping_allocator(const wiping_allocator<U>& /*other*/) noexcept {}  // NOLINT: rebind

  T* allocate(std::size_t n) { return std::allocator<T>{}.allocate(n); }
  void deallocate(T* p, std::size_t n) noexcept {
    platform::secure_wipe(p, n * sizeof(T));
    std::allocator<T>{}.deallocate(p, n);
  }

  friend bool operator==(const wiping_allocator&, const wiping_allocator&) noexcept { return true; }
};

/// A connection's read buffer.
using read_buffer = boost::beast::basic_flat_buffer<wiping_allocator<char>>;
/// A request's body.
using request_body =
    boost::beast::http::basic_string_body<char, std::char_traits<char>, wiping_allocator<char>>;
/// The parser of one request.
using request_parser = boost::beast::http::request_parser<request_body>;

/// Sets `parser`'s head and body limits from `limits`, and makes it parse
/// the body as soon as the head is done, as `http::async_read` does.
void prepare_parser(request_parser& parser, const server_limits& limits);

/// Feeds `parser` the bytes `buffer` already holds. A request that arrived
/// whole in one read (nearly all of them) is parsed here: async_read would
/// parse it too, but completes through a post to the scheduler even when it
/// had nothing to read. `http::error::need_more`: the parser wants bytes not
/// read yet.
boost::system::error_code parse_buffered(request_parser& parser, read_buffer& buffer);

/// The answer to a request that did not parse (`ec` is set), after which the
/// connection closes: 413 `payload_too_large` over a limit, else 400
/// `bad_request`. nullopt when the peer closed or reset the connection: there
/// is no one to answer.
std::optional<api::api_response> answer_unparsed(const boost::system::error_code& ec);

/// The router's view of a parsed request from `peer`; views into `parser`.
api::api_request api_request_of(const request_parser& parser,
                                const platform::peer_credentials& peer);

/// True when a request may have left a key in memory: it carried a body (a
/// key PUT does), or it did not parse (it may have been a key PUT cut short).
bool may_hold_a_secret(const request_parser& parser) noexcept;

/// Wipes a request's body, the small-string bytes inside the parser (that
/// is, inside the session's coroutine frame) too.
void wipe_body(request_parser& parser) noexcept;

/// Wipes every byte the read buffer holds or has held, head and body,
/// keeping only the bytes of a pipelined next request.
void wipe_read_buffer(read_buffer& buffer);

/// Both of the above, for a request that may have held a key once it is answered.
void wipe_body_and_buffer(request_parser& parser, read_buffer& buffer);

}  // namespace actoken::transport
