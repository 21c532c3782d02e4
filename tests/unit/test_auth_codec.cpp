#include "common/base64.hpp"
#include "daemon/upstream/auth_codec.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

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

failure expect_error(const exchange_result& result) {
  REQUIRE(std::holds_alternative<failure>(result));
  return std::get<failure>(result);
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
  CHECK(
      error.message ==
      "the auth server rejected the key (HTTP 400): upstream text withheld: it contained the key");

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

TEST_CASE("an error that echoes the key in any encoding is withheld whole") {
  const std::string key = "Zq8+Kx/w3T=Ab9+cD/eF==";
  const std::string withheld =
      "the auth server rejected the key (HTTP 401): upstream text withheld: it contained the key";
  const std::vector<std::string> bodies{
      "no such key " + key,
      "pat=Zq8%2BKx%2Fw3T%3DAb9%2BcD%2FeF%3D%3D",  // form-encoded
      "pat=Zq8%2bKx%2fw3T%3dAb9%2bcD%2feF%3d%3d",  // percent, lower case
      "key Zq8 Kx/w3T=Ab9 cD/eF== unknown",        // + read as a space
      R"({"error":"invalid_grant","error_description":"key Zq8+Kx\/w3T=Ab9+cD\/eF=="})",
      R"({"message":"key Zq8\u002BKx\u002Fw3T\u003DAb9\u002BcD\u002FeF\u003D\u003D"})",
      R"({"message":"key Zq8\u002bKx\u002fw3T\u003dAb9\u002bcD\u002feF\u003d\u003d"})",
      "<p>Zq8&#43;Kx&#47;w3T&#61;Ab9&#43;cD&#47;eF&#61;&#61;</p>",
      "<p>Zq8&#x2b;Kx&#x2f;w3T&#x3d;Ab9&#x2b;cD&#x2f;eF&#x3d;&#x3d;</p>",
      "<p>Zq8&#X2B;Kx&#X2F;w3T&#X3D;Ab9&#X2B;cD&#X2F;eF&#X3D;&#X3D;</p>",
      "<p>Zq8&plus;Kx&sol;w3T&equals;Ab9&plus;cD&sol;eF&equals;&equals;</p>",
      // In a JSON field as a percent-encoded string, and as HTML escaped for JSON.
      R"({"error":"bad","message":"pat=Zq8%2BKx%2Fw3T%3DAb9%2BcD%2FeF%3D%3D"})",
      R"({"error":"Zq8\u0026#43;Kx\u0026#47;w3T=Ab9\u0026#43;cD/eF=="})",
      // Outside the fields shown, and past the 200 characters shown.
      R"({"error":"invalid_grant","pat":"Zq8+Kx\/w3T=Ab9+cD\/eF=="})",
      std::string(500, '.') + key,
  };
  for (const auto& body : bodies) {
    CAPTURE(body);
    const auto error = expect_error(interpret_response({401, body, "", ""}, now, 600s, key));
    CHECK(error.code == errc::key_rejected);
    CHECK(error.message == withheld);
  }
}

TEST_CASE("a key split between the text fields of one answer, or hidden, is withheld whole") {
  const std::string key = "Zq8+Kx/w3T=Ab9+cD/eF==";
  const std::string withheld =
      "the auth server rejected the key (HTTP 401): upstream text withheld: it contained the key";
  const std::vector<std::string> bodies{
      // Split between two fields (shown "Zq8+Kx/w3T: =Ab9+cD/eF=="), in either order in
      // the body, and across all three.
      R"({"error":"Zq8+Kx/w3T","error_description":"=Ab9+cD/eF=="})",
      R"({"error_description":"=Ab9+cD/eF==","error":"Zq8+Kx/w3T"})",
      R"({"error":"Zq8+K","error_description":"x/w3T=Ab9","message":"+cD/eF=="})",
      R"({"error":"key Zq8+Kx/w3T=A","message":"b9+cD/eF== is unknown"})",
      // Zero-width and other invisible characters between its characters.
      "{\"error\":\"Z\\u200bq\\u200b8\\u200b+\\u200bK\\u200bx\\u200b/\\u200bw\\u200b3\\"
      "u200bT\\u200b=A\\u2060b9\\ufeff+\\u202ecD/eF==\"}",
      "Zq8\xE2\x80\x8B+Kx/w3T=Ab9+cD/eF==",
      // Base64 and hex of it.
      "key " + base64_encode(key),
      R"({"error":"bad","message":")" + base64_encode("pat=" + key) + R"("})",
      "5a71382b4b782f7733543d4162392b63442f65463d3d",
      // An HTML reference with many leading zeros for each of its characters.
      "<p>&#00000000090;&#00000000113;&#0000000056;&#00000000043;&#00000000075;&#00000000120;&#"
      "00000000047;&#00000000119;"
      "&#00000000051;&#00000000084;&#00000000061;&#00000000065;&#00000000098;&#00000000057;&#"
      "00000000043;&#00000000099;"
      "&#00000000068;&#00000000047;&#00000000101;&#00000000070;&#00000000061;&#00000000061;</p>",
  };
  for (const auto& body : bodies) {
    CAPTURE(body);
    const auto error = expect_error(interpret_response({401, body, "", ""}, now, 600s, key));
    CHECK(error.message == withheld);
  }
}

TEST_CASE("an error body over 64 KiB is neither searched nor shown") {
  // Searching costs time in proportion to the text: a hostile server's
  // megabyte would hold the serving thread; what would be shown of it is 200
  // characters of markup anyway.
  const std::string key = "Zq8+Kx/w3T=Ab9+cD/eF==";
  const std::string fits(64 * 1024, 'x');
  const auto shown = expect_error(interpret_response({502, fits, "", ""}, now, 600s, key));
  CHECK(shown.message.find(std::string(200, 'x') + "...") != std::string::npos);
  for (const auto& body : {fits + "y", std::string(1 << 20, 'y') + key}) {
    const auto error = expect_error(interpret_response({502, body, "", ""}, now, 600s, key));
    CHECK(error.message ==
          "the auth server is unavailable (HTTP 502): upstream text withheld: longer than 64 KiB, "
          "not searched for the key");
  }
}

TEST_CASE("an error near the key but without it keeps its text") {
  const std::string key = "Zq8+Kx/w3T=Ab9+cD/eF==";
  for (const std::string_view body :
       {"no such key Zq8+Kx/w3T=Ab9+cD/eF=", R"({"error":"invalid_grant","message":"Zq8%2BKx"})",
        "<p>Zq8&#43;Kx&#47;w3T&#61;Ab9&#43;cD&#47;eG&#61;&#61;</p>"}) {
    CAPTURE(body);
    const auto error =
        expect_error(interpret_response({401, std::string(body), "", ""}, now, 600s, key));
    CHECK(error.message.find("withheld") == std::string::npos);
    CHECK(error.message.find("Zq8") != std::string::npos);
  }
}

TEST_CASE("access_token must be 1-16384 b64token characters") {
  const auto token_body = [](const std::string& token) {
    return R"({"access_token":")" + token + R"(","expires_in":600})";
  };
  CHECK(expect_grant(interpret_response({200, token_body("aZ09-._~+/="), "", ""}, now, 60s, ""))
            .access_token == "aZ09-._~+/=");
  CHECK(expect_grant(
            interpret_response({200, token_body(std::string(16384, 'a')), "", ""}, now, 60s, ""))
            .access_token.size() == 16384);
  for (const std::string& bad :
       {std::string("abc\\r\\nX-Injected: 1"), std::string("abc\\n"), std::string("abc\\u001b[2J"),
        std::string("abc\\u0000def"), std::string("abc def"), std::string("abc\\u00e9"),
        std::string("a\\\"b"), std::string(16385, 'a')}) {
    CAPTURE(bad);
    const auto error =
        expect_error(interpret_response({200, token_body(bad), "", ""}, now, 60s, ""));
    CHECK(error.code == errc::bad_upstream_response);
    CHECK(error.message.find("access_token") != std::string::npos);
    CHECK(error.message.find("abc") == std::string::npos);  // the token is never repeated
  }
}

TEST_CASE("an exp already past, or expires_in of 0 or less, is bad_upstream_response") {
  const auto body_with = [](const std::string& claims, const std::string& extra) {
    return R"({"access_token":")" + make_jwt(claims) + R"(")" + extra + "}";
  };
  const auto past = std::to_string(1'800'000'000 - 1);
  for (const auto& body :
       {body_with(R"({"exp":)" + past + "}", ""),
        body_with(R"({"exp":)" + past + "}", R"(,"expires_in":600)"), body_with(R"({"exp":0})", ""),
        body_with(R"({"exp":-5})", ""), body_with(R"({"sub":"x"})", R"(,"expires_in":0)"),
        body_with(R"({"sub":"x"})", R"(,"expires_in":-60)"),
        body_with(R"({"exp":1800000600})", R"(,"expires_in":-1.5)")}) {
    CAPTURE(body);
    CHECK(expect_error(interpret_response({200, body, "", ""}, now, 600s, "")).code ==
          errc::bad_upstream_response);
  }
  // Judged on our clock: an exp a server an hour ahead sends for 30 min ago is past.
  const auto ahead = body_with(R"({"exp":)" + std::to_string(1'800'000'000 + 1800) + "}", "");
  CHECK(expect_error(
            interpret_response({200, ahead, "Fri, 15 Jan 2027 09:00:00 GMT", ""}, now, 600s, ""))
            .code == errc::bad_upstream_response);
}

TEST_CASE("a Date more than 24 h off is ignored, and no token is kept past 24 h") {
  const auto jwt_for = [](std::int64_t exp) {
    return R"({"access_token":")" + make_jwt(R"({"exp":)" + std::to_string(exp) + "}") + R"("})";
  };
  const std::int64_t local = 1'800'000'000;

  SUBCASE("a Date of 1970: no skew, exp read on our clock, the caller told") {
    const auto grant = expect_grant(interpret_response(
        {200, jwt_for(local + 3600), "Thu, 01 Jan 1970 00:00:00 GMT", ""}, now, 60s, ""));
    CHECK(grant.clock_skew == 0s);
    REQUIRE(grant.ignored_skew.has_value());
    CHECK(*grant.ignored_skew < -24h);
    CHECK(grant.expires_at == now + 3600s);
  }
  SUBCASE("25 h ahead is ignored, 23 h ahead is skew") {
    const auto http_date = [](wall_time t) {
      const auto tt = wall_clock::to_time_t(t);
      std::tm tm{};
      gmtime_r(&tt, &tm);
      char buffer[64];
      std::strftime(buffer, sizeof buffer, "%a, %d %b %Y %H:%M:%S GMT", &tm);
      return std::string(buffer);
    };
    auto grant = expect_grant(
        interpret_response({200, jwt_for(local + 600), http_date(now + 25h), ""}, now, 60s, ""));
    CHECK(grant.clock_skew == 0s);
    CHECK(grant.ignored_skew == 25h);
    CHECK(grant.expires_at == now + 600s);
    grant = expect_grant(interpret_response(
        {200, jwt_for(local + 23 * 3600 + 600), http_date(now + 23h), ""}, now, 60s, ""));
    CHECK(grant.clock_skew == 23h);
    CHECK_FALSE(grant.ignored_skew.has_value());
    CHECK(grant.expires_at == now + 600s);
  }
  SUBCASE("lifetimes beyond 24 h are cut to 24 h") {
    CHECK(expect_grant(interpret_response({200, jwt_for(local + 48 * 3600), "", ""}, now, 60s, ""))
              .expires_at == now + max_token_lifetime);
    CHECK(expect_grant(
              interpret_response({200, R"({"access_token":"opaque","expires_in":172800})", "", ""},
                                 now, 60s, ""))
              .expires_at == now + 24h);
    CHECK(expect_grant(
              interpret_response({200, R"({"access_token":"opaque"})", "", ""}, now, 72h, ""))
              .expires_at == now + 24h);
  }
}

TEST_CASE("edges of the codec: 408, 6xx, odd expires_in, odd dates, empty and odd error fields") {
  CHECK(classify_status(408) == errc::upstream_timeout);
  CHECK(classify_status(600) == errc::bad_upstream_response);
  CHECK(classify_status(199) == errc::bad_upstream_response);
  CHECK(expect_error(interpret_response({101, "", "", ""}, now, 600s, "")).code ==
        errc::bad_upstream_response);

  // expires_in the codec cannot read as seconds is ignored: the default applies.
  for (const char* odd : {R"("12a")", R"("")", R"("1234567890123456")", "1e300", "true"}) {
    CAPTURE(odd);
    const auto grant = expect_grant(interpret_response(
        {200, std::string(R"({"access_token":"opaque","expires_in":)") + odd + "}", "", ""}, now,
        42s, ""));
    CHECK(grant.expires_at == now + 42s);
  }
  // A float and a string of digits are read; one over 24 h is capped.
  CHECK(expect_grant(interpret_response({200, R"({"access_token":"o","expires_in":60.9})", "", ""},
                                        now, 42s, ""))
            .expires_at == now + 60s);
  CHECK(expect_grant(interpret_response({200, R"({"access_token":"o","expires_in":"61"})", "", ""},
                                        now, 42s, ""))
            .expires_at == now + 61s);

  CHECK_FALSE(parse_http_date("").has_value());
  CHECK_FALSE(parse_http_date(std::string(65, 'x')).has_value());
  CHECK_FALSE(parse_http_date("Sun, 06 Nov 1960 08:49:37 GMT").has_value());

  // Empty or non-text error fields are skipped; the others joined; control
  // characters shown as spaces.
  const auto error = expect_error(interpret_response(
      {401, R"({"error":"","error_description":5,"message":"bad\u0001key\u007f!"})", "", ""}, now,
      600s, "zz"));
  CHECK(error.message.find("bad key !") != std::string::npos);
  const auto raw =
      expect_error(interpret_response({500, "\x01\x02 down \x7f", "", ""}, now, 600s, "zz"));
  CHECK(raw.message.find("down") != std::string::npos);
  CHECK(raw.message.find('\x01') == std::string::npos);
}
