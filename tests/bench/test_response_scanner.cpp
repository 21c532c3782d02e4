#include "tests/bench/response_scanner.hpp"

#include <doctest/doctest.h>

#include <string>

using actoken::bench::scan_response;
using state = actoken::bench::scanned_response::state;

namespace {

const std::string actokend_answer =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"
    "Content-Length: 11\r\n\r\n{\"a\":\"xyz\"}";

}  // namespace

TEST_CASE("a whole answer") {
  const auto scan = scan_response(actokend_answer);
  CHECK(scan.result == state::complete);
  CHECK(scan.status == 200);
  CHECK(scan.content_length == 11);
  CHECK(scan.total() == actokend_answer.size());
  CHECK_FALSE(scan.close);
}

TEST_CASE("every shorter prefix is incomplete") {
  for (std::size_t n = 0; n < actokend_answer.size(); ++n) {
    CAPTURE(n);
    CHECK(scan_response(std::string_view(actokend_answer).substr(0, n)).result ==
          state::incomplete);
  }
}

TEST_CASE("header names in any case, Connection: close, other statuses") {
  const std::string text =
      "HTTP/1.1 503 Service Unavailable\r\ncontent-LENGTH:  2 \r\nRetry-After: 1\r\n"
      "CONNECTION: Close\r\n\r\n{}";
  const auto scan = scan_response(text);
  CHECK(scan.result == state::complete);
  CHECK(scan.status == 503);
  CHECK(scan.content_length == 2);
  CHECK(scan.close);
}

TEST_CASE("nginx-style head, trailing bytes of a next answer are not counted") {
  const std::string text =
      "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n"
      "HTTP/1.1 200 OK\r\n";
  const auto scan = scan_response(text);
  CHECK(scan.result == state::complete);
  CHECK(scan.total() < text.size());
  CHECK_FALSE(scan.close);
}

TEST_CASE("malformed answers") {
  CHECK(scan_response("HTTP/1.1 200 OK\r\n\r\n").result == state::malformed);  // no length
  CHECK(scan_response("SSH-2.0-x\r\n\r\n").result == state::malformed);
  CHECK(scan_response("HTTP/1.1 2x0 OK\r\nContent-Length: 1\r\n\r\n").result == state::malformed);
  CHECK(scan_response("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n").result == state::malformed);
  CHECK(
      scan_response("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx").result ==
      state::malformed);
  CHECK(scan_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").result ==
        state::malformed);
  CHECK(scan_response("HTTP/1.1 200 OK\r\nno colon here\r\n\r\n").result == state::malformed);
  // A head that never ends is cut off at the limit.
  CHECK(scan_response(std::string(100, 'x'), 64).result == state::malformed);
  CHECK(scan_response(std::string(60, 'x'), 64).result == state::incomplete);
}
