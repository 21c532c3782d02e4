#include "daemon/upstream/auth_codec.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace actoken;
using namespace actoken::upstream;
using namespace std::chrono_literals;

namespace {

std::string base64url(std::string_view in) {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (char c : in) {
    buffer = (buffer << 8) | static_cast<unsigned char>(c);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(alphabet[(buffer >> bits) & 0x3FU]);
    }
  }
  if (bits > 0) {
    out.push_back(alphabet[(buffer << (6 - bits)) & 0x3FU]);
  }
  return out;
}

std::string make_jwt(const std::string& payload) {
  return base64url(R"({"alg":"HS256","typ":"JWT"})") + "." + base64url(payload) + ".c2ln";
}

const wall_time now = wall_time{seconds{1'800'000'000}};

token_grant expect_grant(const exchange_result& result) {
  REQUIRE(std::holds_alternative<token_grant>(result));
  return std::get<token_grant>(result);
}

exchange_error expect_error(const exchange_result& result) {
  REQUIRE(std::holds_alternative<exchange_error>(result));
  return std::get<exchange_error>(result);
}

}  // namespace

TEST_CASE("form body percent-encodes + / = so the key survives") {
  const std::string key = "ab+cd/ef==";
  const auto body = build_form_body({api_version::v3, key, "openid,profile,email", ""});
  CHECK(body.view() == "personalAccessKey=ab%2Bcd%2Fef%3D%3D&scope=openid%2Cprofile%2Cemail");
}

TEST_CASE("form body field names follow the API version") {
  CHECK(build_form_body({api_version::v1, "k", "", "x"}).view() == "pat=k");
  CHECK(build_form_body({api_version::v2, "k", "", "9b2f"}).view() == "pat=k&subOrganization=9b2f");
  CHECK(build_form_body({api_version::v3, "k", "s", "9b2f"}).view() ==
        "personalAccessKey=k&scope=s&subOrganization=9b2f");
  CHECK(token_path(api_version::v1) == "/auth/v1/token");
  CHECK(token_path(api_version::v2) == "/auth/v2/token");
  CHECK(token_path(api_version::v3) == "/auth/v3/token");
}

TEST_CASE("form encoding passes unreserved characters and escapes the rest") {
  platform::secure_buffer out;
  form_encode("AZaz09-._~ %&=+\xff", out);
  CHECK(out.view() == "AZaz09-._~%20%25%26%3D%2B%FF");
}

TEST_CASE("api versions parse and print") {
  for (auto v : {api_version::v1, api_version::v2, api_version::v3, api_version::automatic}) {
    CHECK(parse_api_version(to_string(v)) == v);
  }
  CHECK_FALSE(parse_api_version("v4").has_value());
}

TEST_CASE("jwt exp is read from the payload") {
  CHECK(jwt_exp(make_jwt(R"({"exp":1800000600,"sub":"x"})")) == 1'800'000'600);
  CHECK(jwt_exp(make_jwt(R"({"exp":1800000600.75})")) == 1'800'000'600);
  CHECK_FALSE(jwt_exp(make_jwt(R"({"sub":"x"})")).has_value());
  CHECK_FALSE(jwt_exp("not-a-jwt").has_value());
  CHECK_FALSE(jwt_exp("a.!!!.c").has_value());
  CHECK_FALSE(jwt_exp("a." + base64url("not json") + ".c").has_value());
  CHECK_FALSE(jwt_exp(make_jwt(R"({"exp":"soon"})")).has_value());
}

TEST_CASE("a token's expiry comes from exp, expires_in, both or neither") {
  const auto jwt = make_jwt(R"({"exp":1800000600})");

  SUBCASE("exp only") {
    const auto grant = expect_grant(interpret_response(
        {200, R"({"access_token":")" + jwt + R"("})", "", ""}, now, 600s, "key"));
    CHECK(grant.access_token == jwt);
    CHECK(grant.expires_at == now + 600s);
    CHECK(grant.obtained_at == now);
  }
  SUBCASE("expires_in only") {
    const auto opaque = make_jwt(R"({"sub":"x"})");
    const auto grant = expect_grant(interpret_response(
        {200, R"({"access_token":")" + opaque + R"(","expires_in":300})", "", ""}, now, 600s, ""));
    CHECK(grant.expires_at == now + 300s);
  }
  SUBCASE("both: the earlier wins") {
    auto grant = expect_grant(interpret_response(
        {200, R"({"access_token":")" + jwt + R"(","expires_in":120})", "", ""}, now, 600s, ""));
    CHECK(grant.expires_at == now + 120s);
    grant = expect_grant(interpret_response(
        {200, R"({"access_token":")" + jwt + R"(","expires_in":3600})", "", ""}, now, 600s, ""));
    CHECK(grant.expires_at == now + 600s);
  }
  SUBCASE("neither: default_token_ttl") {
    const auto grant = expect_grant(
        interpret_response({200, R"({"access_token":"opaque"})", "", ""}, now, 42s, ""));
    CHECK(grant.expires_at == now + 42s);
  }
}

TEST_CASE("unusable 200 answers are bad_upstream_response") {
  CHECK(expect_error(interpret_response({200, "<html>hi</html>", "", ""}, now, 600s, "")).code ==
        errc::bad_upstream_response);
  CHECK(expect_error(interpret_response({200, R"({"token":"x"})", "", ""}, now, 600s, "")).code ==
        errc::bad_upstream_response);
  CHECK(expect_error(interpret_response({200, R"({"access_token":42})", "", ""}, now, 600s, ""))
            .code == errc::bad_upstream_response);
  CHECK(
      expect_error(interpret_response({200, R"(["access_token"])", "", ""}, now, 600s, "")).code ==
      errc::bad_upstream_response);
}

TEST_CASE("statuses are classified per SPEC §3") {
  CHECK(classify_status(400) == errc::key_rejected);
  CHECK(classify_status(401) == errc::key_rejected);
  CHECK(classify_status(403) == errc::key_rejected);
  CHECK(classify_status(404) == errc::endpoint_not_found);
  CHECK(classify_status(405) == errc::endpoint_not_found);
  CHECK(classify_status(429) == errc::rate_limited);
  CHECK(classify_status(500) == errc::upstream_unavailable);
  CHECK(classify_status(502) == errc::upstream_unavailable);
  CHECK(classify_status(503) == errc::upstream_unavailable);
  CHECK(classify_status(504) == errc::upstream_timeout);
  CHECK(classify_status(302) == errc::bad_upstream_response);
  CHECK(classify_status(418) == errc::bad_upstream_response);
}

TEST_CASE("error bodies: error, error_description, message, else raw text; never the key") {
  const std::string key = "s3cr3t+key/==";
  auto error = expect_error(interpret_response(
      {401, R"({"error":"invalid_grant","error_description":"bad key"})", "", ""}, now, 600s, key));
  CHECK(error.code == errc::key_rejected);
  CHECK(error.message.find("invalid_grant: bad key") != std::string::npos);
  CHECK(error.message.find("401") != std::string::npos);

  error = expect_error(interpret_response({500, "upstream exploded", "", ""}, now, 600s, key));
  CHECK(error.message.find("upstream exploded") != std::string::npos);

  error = expect_error(interpret_response(
      {400, "unknown pat=s3cr3t%2Bkey%2F%3D%3D and s3cr3t+key/==", "", ""}, now, 600s, key));
  CHECK(error.message.find("s3cr3t") == std::string::npos);
  CHECK(error.message.find("[redacted]") != std::string::npos);

  error = expect_error(
      interpret_response({503, std::string(5000, 'x') + "\n\x01", "", "7"}, now, 600s, key));
  CHECK(error.message.size() < 300);
  CHECK(error.message.find('\n') == std::string::npos);
  CHECK(error.retry_after == 7s);
}

TEST_CASE("Retry-After in seconds and as an HTTP-date") {
  CHECK(parse_retry_after("4", now) == 4s);
  CHECK(parse_retry_after(" 120 ", now) == 120s);
  CHECK(parse_retry_after("99999999999", now) == 86400s);
  const auto date = parse_http_date("Fri, 15 Jan 2027 08:00:10 GMT");
  REQUIRE(date.has_value());
  CHECK(parse_retry_after("Fri, 15 Jan 2027 08:00:10 GMT", *date - 10s) == 10s);
  CHECK(parse_retry_after("Fri, 15 Jan 2027 08:00:10 GMT", *date + 10s) == 0s);
  CHECK_FALSE(parse_retry_after("soon", now).has_value());
  CHECK_FALSE(parse_retry_after("", now).has_value());
  CHECK(expect_error(interpret_response({429, "", "", "4"}, now, 600s, "")).retry_after == 4s);
}

TEST_CASE("HTTP dates in all three RFC 9110 forms") {
  const auto expected = wall_time{seconds{784111777}};  // 1994-11-06 08:49:37 UTC
  CHECK(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT") == expected);
  CHECK(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT") == expected);
  CHECK(parse_http_date("Sun Nov  6 08:49:37 1994") == expected);
  CHECK_FALSE(parse_http_date("yesterday").has_value());
  CHECK_FALSE(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT trailing").has_value());
}

TEST_CASE("clock skew: exp is translated to the local clock in both directions") {
  const auto jwt_exp_at = [](wall_time t) {
    return make_jwt(
        R"({"exp":)" +
        std::to_string(std::chrono::duration_cast<seconds>(t.time_since_epoch()).count()) + "}");
  };
  auto http_date = [](wall_time t) {
    const auto tt = wall_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buffer[64];
    std::strftime(buffer, sizeof buffer, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return std::string(buffer);
  };

  SUBCASE("server an hour ahead") {
    const auto server_now = now + 1h;
    const auto grant = expect_grant(
        interpret_response({200, R"({"access_token":")" + jwt_exp_at(server_now + 600s) + R"("})",
                            http_date(server_now), ""},
                           now, 60s, ""));
    CHECK(grant.clock_skew == 3600s);
    CHECK(grant.expires_at == now + 600s);
  }
  SUBCASE("server an hour behind") {
    const auto server_now = now - 1h;
    const auto grant = expect_grant(
        interpret_response({200, R"({"access_token":")" + jwt_exp_at(server_now + 600s) + R"("})",
                            http_date(server_now), ""},
                           now, 60s, ""));
    CHECK(grant.clock_skew == -3600s);
    CHECK(grant.expires_at == now + 600s);
  }
  SUBCASE("under 2 s is not skew") {
    const auto server_now = now + 1s;
    const auto grant = expect_grant(interpret_response(
        {200, R"({"access_token":")" + jwt_exp_at(now + 600s) + R"("})", http_date(server_now), ""},
        now, 60s, ""));
    CHECK(grant.clock_skew == 0s);
    CHECK(grant.expires_at == now + 600s);
  }
}

TEST_CASE("absurd times from a server are ignored, not overflowed") {
  const auto far = make_jwt(R"({"exp":99999999999999})");
  auto grant = expect_grant(interpret_response(
      {200, R"({"access_token":")" + far + R"(","expires_in":1e300})", "", ""}, now, 42s, ""));
  CHECK(grant.expires_at == now + 42s);
  grant = expect_grant(interpret_response(
      {200, R"({"access_token":")" + far + R"("})", "Mon, 01 Jan 1600 00:00:00 GMT", ""}, now, 42s,
      ""));
  CHECK(grant.clock_skew == 0s);
  CHECK(grant.expires_at == now + 42s);
  CHECK_FALSE(parse_http_date("Fri, 01 Jan 2300 00:00:00 GMT").has_value());
  CHECK_FALSE(parse_retry_after("Fri, 01 Jan 2300 00:00:00 GMT", now).has_value());
}
