#include "client/commands.hpp"
#include "client/http_request.hpp"
#include "common/version.hpp"

#include <doctest/doctest.h>

#include <string>

using actoken::client::format_request_head;
using actoken::client::make_target;
using actoken::client::percent_encode;
using actoken::client::token_options;
using actoken::client::token_target;

TEST_CASE("percent_encode leaves only RFC 3986 unreserved bytes as they are") {
  CHECK(percent_encode("") == "");
  CHECK(percent_encode("acme-corp_1.x~") == "acme-corp_1.x~");
  CHECK(percent_encode("a b") == "a%20b");
  CHECK(percent_encode("a+b/c=d") == "a%2Bb%2Fc%3Dd");
  CHECK(percent_encode("&?#%") == "%26%3F%23%25");
  CHECK(percent_encode("\xC3\xA9") == "%C3%A9");
  CHECK(percent_encode(std::string("\0\n", 2)) == "%00%0A");
}

TEST_CASE("make_target joins encoded parameters") {
  CHECK(make_target("/v1/orgs", {}) == "/v1/orgs");
  CHECK(make_target("/v1/tokens", {{"org", "acme"}}) == "/v1/tokens?org=acme");
  CHECK(make_target("/v1/token", {{"org", "a&b"}, {"sub_org", "x=y"}}) ==
        "/v1/token?org=a%26b&sub_org=x%3Dy");
}

TEST_CASE("token_target carries exactly the options given") {
  token_options options;
  CHECK(token_target(options) == "/v1/token");
  options.org = "acme";
  CHECK(token_target(options) == "/v1/token?org=acme");
  options.sub_org = "9b2f6d1e-0000-4000-8000-000000000001";
  options.min_ttl = 0;
  options.fresh = true;
  CHECK(token_target(options) ==
        "/v1/token?org=acme&sub_org=9b2f6d1e-0000-4000-8000-000000000001&min_ttl=0&fresh=1");
  token_options only_sub;
  only_sub.sub_org = "mobile app";
  CHECK(token_target(only_sub) == "/v1/token?sub_org=mobile%20app");
}

TEST_CASE("the request head is HTTP/1.1 to localhost and closes the connection") {
  const auto head = format_request_head("GET", "/v1/health", 0, false);
  CHECK(head.starts_with("GET /v1/health HTTP/1.1\r\n"));
  CHECK(head.find("\r\nHost: localhost\r\n") != std::string::npos);
  CHECK(head.find("\r\nConnection: close\r\n") != std::string::npos);
  CHECK(head.find("User-Agent: actoken/" + std::string(actoken::version) + "\r\n") !=
        std::string::npos);
  CHECK(head.find("Content-Length") == std::string::npos);
  CHECK(head.find("Content-Type") == std::string::npos);
  CHECK(head.ends_with("\r\n\r\n"));

  const auto put = format_request_head("PUT", "/v1/orgs/acme/key", 42, true);
  CHECK(put.find("\r\nContent-Type: application/json\r\n") != std::string::npos);
  CHECK(put.find("\r\nContent-Length: 42\r\n") != std::string::npos);
  CHECK(put.ends_with("\r\n\r\n"));

  const auto del = format_request_head("DELETE", "/v1/tokens", 0, false);
  CHECK(del.find("Content-Length") == std::string::npos);
}
