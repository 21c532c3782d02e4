// Raw bytes from a socket peer -> the session's own request reader with the
// daemon's limits (daemon/transport/request_reader.hpp) -> the router, which
// answers at once or hands back a token request to finish, as the session
// drives it; the router's world is the one its unit tests use
// (tests/router_world.hpp): a real token service on a manual clock, fixed
// peers, an exchanger that answers at once. Up to 16 pipelined requests per
// input, each answered for four peers (a stranger, an allowed user, an admin,
// root).
//
// Properties: nothing crashes or hangs; every answer has a status of SPEC §4;
// every JSON answer parses (strict, UTF-8) to an object, and an error answer
// is {"error": <a code of SPEC §4 whose status is the answer's>, "message"};
// no configured key ever appears in an answer unless the request carried it.
#include "daemon/transport/request_reader.hpp"
#include "tests/fuzz/fuzz_check.hpp"
#include "tests/router_world.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <string_view>

namespace {

using namespace actoken;
using namespace actoken::testing;
namespace http = boost::beast::http;

constexpr std::size_t max_requests_per_input = 16;

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

void check_response(const api::api_response& response, std::string_view input) {
  switch (response.status) {
    case 200:
    case 400:
    case 403:
    case 404:
    case 405:
    case 409:
    case 413:
    case 502:
    case 503:
    case 504:
      break;
    default:
      ACTOKEN_FUZZ_CHECK(false, "a status outside SPEC §4");
  }
  ACTOKEN_FUZZ_CHECK(!response.retry_after || response.status == 503,
                     "Retry-After on an answer other than 503");
  ACTOKEN_FUZZ_CHECK(response.status != 503 || response.retry_after,
                     "a 503 answer without Retry-After");
  for (const auto* key : {&acme_key, &beta_key}) {
    ACTOKEN_FUZZ_CHECK(!contains(response.body, *key) || contains(input, *key),
                       "an answer carries a configured key");
  }
  if (response.content_type != "application/json") {
    ACTOKEN_FUZZ_CHECK(response.content_type.starts_with("text/plain"),
                       "neither JSON nor the Prometheus text format");
    ACTOKEN_FUZZ_CHECK(response.status == 200, "a non-JSON error answer");
    ACTOKEN_FUZZ_CHECK(!response.body.empty() && response.body.back() == '\n',
                       "metrics do not end with a newline");
    return;
  }
  const auto body = nlohmann::json::parse(response.body, nullptr, false);
  ACTOKEN_FUZZ_CHECK(!body.is_discarded(), "the answer is not valid JSON (or not UTF-8)");
  ACTOKEN_FUZZ_CHECK(body.is_object(), "the answer is not a JSON object");
  if (response.status == 200) return;
  const auto error = body.find("error");
  const auto message = body.find("message");
  ACTOKEN_FUZZ_CHECK(error != body.end() && error->is_string(), "an error answer without error");
  ACTOKEN_FUZZ_CHECK(message != body.end() && message->is_string() &&
                         !message->get_ref<const std::string&>().empty(),
                     "an error answer without a message");
  const auto code = errc_from_name(error->get_ref<const std::string&>());
  ACTOKEN_FUZZ_CHECK(code.has_value(), "an error code outside SPEC §4");
  ACTOKEN_FUZZ_CHECK(http_status(*code) == response.status, "an error code with the wrong status");
}

// Answers one parsed request as the session would: one pass through the
// router, and at most one finish. The session would survive a throw (it
// closes the connection), but the peer would get no answer: a finding too.
api::api_response answer(router_world& w, const api::api_request& call) {
  std::optional<api::api_response> response;
  try {
    response = w.answer(call.method, call.target, call.peer, call.body);
  } catch (const std::exception& e) {
    fuzz::fail(__FILE__, __LINE__, "the router threw", e.what());
  }
  ACTOKEN_FUZZ_CHECK(response.has_value(),
                     "a token request did not finish (the exchanger never waits)");
  return std::move(*response);
}

// Parses the next request from `buffer` as the session does; the input ends
// where a socket would close.
boost::system::error_code read_request(transport::request_parser& parser,
                                       transport::read_buffer& buffer) {
  transport::prepare_parser(parser, transport::server_limits{});
  auto ec = transport::parse_buffered(parser, buffer);
  if (ec != http::error::need_more) return ec;
  // What http::async_read makes of a peer that closes here.
  if (!parser.got_some()) return http::error::end_of_stream;
  parser.put_eof(ec);
  return ec ? ec : http::error::partial_message;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::array<platform::peer_credentials, 4> peers{stranger_peer, builder_peer, admin_peer,
                                                        root_peer};
  // One daemon, fresh for every input so that a crash reproduces from its input alone.
  router_world w;
  transport::read_buffer buffer;
  buffer.commit(net::buffer_copy(buffer.prepare(input.size()), net::buffer(input)));
  for (std::size_t n = 0; n < max_requests_per_input && buffer.size() > 0; ++n) {
    transport::request_parser parser;
    if (const auto ec = read_request(parser, buffer)) {
      // The session answers (or not, when the peer has gone) and closes.
      if (const auto refusal = transport::answer_unparsed(ec)) check_response(*refusal, input);
      return 0;
    }
    for (const auto& peer : peers) {
      check_response(answer(w, transport::api_request_of(parser, peer)), input);
    }
    if (!parser.get().keep_alive()) return 0;
    // Time passes between requests: refreshes fall due, the cached token expires.
    w.clock.advance(7min);
  }
  return 0;
}
