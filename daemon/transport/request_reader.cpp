#include "daemon/transport/request_reader.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/beast/http/error.hpp>

#include <string_view>

namespace actoken::transport {
namespace {

namespace net = boost::asio;
namespace http = boost::beast::http;

}  // namespace

void prepare_parser(request_parser& parser, const server_limits& limits) {
  parser.header_limit(static_cast<std::uint32_t>(limits.max_head));
  parser.body_limit(limits.max_body);
  parser.eager(true);  // the body too, as async_read does
}

boost::system::error_code parse_buffered(request_parser& parser, read_buffer& buffer) {
  boost::system::error_code ec;
  while (!parser.is_done()) {
    const auto used = parser.put(buffer.data(), ec);
    buffer.consume(used);
    if (ec) return ec;
    if (used == 0) return http::error::need_more;
  }
  return ec;
}

std::optional<api::api_response> answer_unparsed(const boost::system::error_code& ec) {
  if (ec == http::error::header_limit || ec == http::error::body_limit ||
      ec == http::error::buffer_overflow) {
    return api::router::error_response(
        {errc::payload_too_large, "the request head or body is over the limit"});
  }
  if (ec == http::error::end_of_stream || ec == net::error::eof ||
      ec == net::error::operation_aborted || ec == net::error::connection_reset) {
    return std::nullopt;
  }
  return api::router::error_response(
      {errc::bad_request, "malformed HTTP request: " + ec.message()});
}

api::api_request api_request_of(const request_parser& parser,
                                const platform::peer_credentials& peer) {
  const auto& request = parser.get();
  return {request.method_string(), request.target(), request.body(), peer};
}

bool may_hold_a_secret(const request_parser& parser) noexcept {
  return !parser.get().body().empty() || !parser.is_done();
}

void wipe_body(request_parser& parser) noexcept {
  auto& body = parser.get().body();
  body.resize(body.capacity());  // within capacity: no allocation
  platform::secure_wipe(body.data(), body.size());
  body.clear();
}

void wipe_read_buffer(read_buffer& buffer) {
  // The next request may be a key PUT too: held in locked memory meanwhile.
  const platform::secure_buffer next(
      std::string_view(static_cast<const char*>(buffer.data().data()), buffer.size()));
  buffer.clear();
  const auto whole = buffer.prepare(buffer.capacity());
  platform::secure_wipe(whole.data(), whole.size());
  if (!next.empty()) {
    buffer.commit(
        net::buffer_copy(buffer.prepare(next.size()), net::buffer(next.data(), next.size())));
  }
}

void wipe_body_and_buffer(request_parser& parser, read_buffer& buffer) {
  wipe_body(parser);
  wipe_read_buffer(buffer);
}

}  // namespace actoken::transport
