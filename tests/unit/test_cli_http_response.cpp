#include "client/http_response.hpp"

#include <doctest/doctest.h>

#include <string>

using actoken::client::parse_http_response;
using actoken::client::parse_limits;
using actoken::client::parse_state;

TEST_CASE("a complete answer gives status, reason, headers and exactly Content-Length bytes") {
  const std::string wire =
      "HTTP/1.1 200 OK\r\n"
      "Content-Type: application/json\r\n"
      "cache-control:no-store\r\n"
      "Content-Length: 11\r\n"
      "\r\n"
      "{\"a\":\"bc\"}\nEXTRA";
  const auto result = parse_http_response(wire, false);
  REQUIRE(result.state == parse_state::complete);
  CHECK(result.response.status == 200);
  CHECK(result.response.reason == "OK");
  CHECK(result.response.body == "{\"a\":\"bc\"}\n");
  REQUIRE(result.response.headers.size() == 3);
  CHECK(result.response.header("content-type").value_or("") == "application/json");
  CHECK(result.response.header("Cache-Control").value_or("") == "no-store");
  CHECK_FALSE(result.response.header("Retry-After").has_value());
}

TEST_CASE("every prefix of an answer is incomplete, never invalid") {
  const std::string wire =
      "HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\nRetry-After: 3\r\n\r\nhello";
  for (std::size_t size = 0; size < wire.size(); ++size) {
    CAPTURE(size);
    CHECK(parse_http_response(wire.substr(0, size), false).state == parse_state::incomplete);
  }
  const auto result = parse_http_response(wire, false);
  REQUIRE(result.state == parse_state::complete);
  CHECK(result.response.status == 404);
  CHECK(result.response.reason == "Not Found");
  CHECK(result.response.header("retry-after").value_or("") == "3");
  CHECK(result.response.body == "hello");
}

TEST_CASE("truncated input at end of connection is invalid") {
  SUBCASE("nothing at all") {
    const auto result = parse_http_response("", true);
    CHECK(result.state == parse_state::invalid);
    CHECK(result.error.find("without an answer") != std::string::npos);
  }
  SUBCASE("inside the head") {
    const auto result = parse_http_response("HTTP/1.1 200 OK\r\nContent-Le", true);
    CHECK(result.state == parse_state::invalid);
    CHECK(result.error.find("head") != std::string::npos);
  }
  SUBCASE("inside the body") {
    const auto result =
        parse_http_response("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345", true);
    CHECK(result.state == parse_state::invalid);
    CHECK(result.error.find("body") != std::string::npos);
  }
}

TEST_CASE("without Content-Length the body runs to end of connection") {
  const std::string wire = "HTTP/1.0 500 Internal Server Error\r\n\r\n{\"x\":1}";
  CHECK(parse_http_response(wire, false).state == parse_state::incomplete);
  const auto result = parse_http_response(wire, true);
  REQUIRE(result.state == parse_state::complete);
  CHECK(result.response.status == 500);
  CHECK(result.response.body == "{\"x\":1}");
}

TEST_CASE("bare LF line endings are tolerated") {
  const auto result = parse_http_response("HTTP/1.1 204 No Content\nX-A: b\n\n", false);
  REQUIRE(result.state == parse_state::complete);
  CHECK(result.response.status == 204);
  CHECK(result.response.body.empty());
  CHECK(result.response.header("x-a").value_or("") == "b");
}

TEST_CASE("garbage is refused early and clearly") {
  const char* const garbage[] = {
      "SSH-2.0-OpenSSH_9.2\r\n",  "GET / HTTP/1.1\r\n\r\n",
      "HTTP/2 200\r\n\r\n",       "HTTP/1.1 20 OK\r\n\r\n",
      "HTTP/1.1 2000 OK\r\n\r\n", "HTTP/1.1 abc OK\r\n\r\n",
      "HTTP/1.1 099 Low\r\n\r\n", "\r\n\r\n",
  };
  for (const char* wire : garbage) {
    CAPTURE(wire);
    const auto result = parse_http_response(wire, false);
    CHECK(result.state == parse_state::invalid);
    CHECK_FALSE(result.error.empty());
  }
}

TEST_CASE("malformed headers and lengths are invalid") {
  const char* const bad[] = {
      "HTTP/1.1 200 OK\r\nNoColonHere\r\n\r\n",
      "HTTP/1.1 200 OK\r\n: empty name\r\n\r\n",
      "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
  };
  for (const char* wire : bad) {
    CAPTURE(wire);
    CHECK(parse_http_response(wire, false).state == parse_state::invalid);
  }
}

TEST_CASE("repeated identical Content-Length is accepted") {
  const auto result = parse_http_response(
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nok", false);
  REQUIRE(result.state == parse_state::complete);
  CHECK(result.response.body == "ok");
}

TEST_CASE("limits on head and body are enforced") {
  parse_limits limits;
  limits.max_head = 64;
  limits.max_body = 8;
  SUBCASE("a head that never ends") {
    const std::string wire = "HTTP/1.1 200 OK\r\nX-Long: " + std::string(100, 'a');
    const auto result = parse_http_response(wire, false, limits);
    CHECK(result.state == parse_state::invalid);
    CHECK(result.error.find("head") != std::string::npos);
  }
  SUBCASE("a declared body over the limit") {
    const auto result =
        parse_http_response("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", false, limits);
    CHECK(result.state == parse_state::invalid);
    CHECK(result.error.find("body") != std::string::npos);
  }
  SUBCASE("a body at the limit") {
    const auto result =
        parse_http_response("HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n12345678", false, limits);
    CHECK(result.state == parse_state::complete);
  }
}

TEST_CASE("status lines, header white space, bodiless statuses and an unbounded body's limit") {
  for (const char* bad : {"HTTP/1.x 200 OK\r\n\r\n", "HTTP/1.12200 OK\r\n\r\n",
                          "HTTP/1.1 2x0 OK\r\n\r\n", "HTTP/1.1 200OK\r\n\r\n"}) {
    CAPTURE(bad);
    CHECK(parse_http_response(bad, true).state == parse_state::invalid);
  }
  // Tabs and spaces around a value are not part of it.
  const auto spaced = parse_http_response(
      "HTTP/1.1 200 OK\r\nRetry-After: \t 3 \t\r\nContent-Length: 0\r\n\r\n", false);
  REQUIRE(spaced.state == parse_state::complete);
  CHECK(spaced.response.header("retry-after").value_or("") == "3");
  // 1xx, 204 and 304 have no body, whatever Content-Length says.
  for (const char* status : {"100 Continue", "204 No Content", "304 Not Modified"}) {
    CAPTURE(status);
    const auto result = parse_http_response(
        std::string("HTTP/1.1 ") + status + "\r\nContent-Length: 5\r\n\r\n", false);
    REQUIRE(result.state == parse_state::complete);
    CHECK(result.response.body.empty());
  }
  parse_limits limits;
  limits.max_body = 8;
  const auto unbounded = parse_http_response("HTTP/1.1 200 OK\r\n\r\n123456789", false, limits);
  CHECK(unbounded.state == parse_state::invalid);
  CHECK(unbounded.error == "response body is larger than 8 bytes");
  // A complete head over the limit.
  limits.max_head = 20;
  const auto long_head =
      parse_http_response("HTTP/1.1 200 OK\r\nX-A: bbbbbbbbbb\r\n\r\n", false, limits);
  CHECK(long_head.state == parse_state::invalid);
}
