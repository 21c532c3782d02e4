#include "tests/stand_in/behaviour.hpp"
#include "tests/stand_in/connect_proxy.hpp"
#include "tests/stand_in/echo.hpp"
#include "tests/stand_in/encoding.hpp"
#include "tests/stand_in/form.hpp"
#include "tests/stand_in/pki.hpp"
#include "tests/stand_in/server.hpp"
#include "tests/stand_in/tls_records.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
namespace stand_in = actoken::stand_in;
using tcp = net::ip::tcp;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr auto form_type = "application/x-www-form-urlencoded";
// Keys look like base64 (SPEC §1): `+`, `/` and `=` must survive the form encoding.
const std::string root_key = "r00t+Key/abc==";
const std::string root_key_encoded = "r00t%2BKey%2Fabc%3D%3D";
const std::string sub_key = "subKey";
const std::string root_org = "11111111-1111-4111-8111-111111111111";
const std::string sub_org = "22222222-2222-4222-8222-222222222222";
const std::string other_org = "33333333-3333-4333-8333-333333333333";

// --- certificates --------------------------------------------------------

struct x509_deleter {
  void operator()(X509* cert) const noexcept { X509_free(cert); }
};
using x509_ptr = std::unique_ptr<X509, x509_deleter>;

x509_ptr parse_certificate(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  x509_ptr cert(PEM_read_bio_X509(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  REQUIRE(cert != nullptr);
  return cert;
}

// Chain verification of `leaf_pem` for TLS server use, trusting only `ca_pem`.
bool verifies(const std::string& ca_pem, const std::string& leaf_pem) {
  const auto ca = parse_certificate(ca_pem);
  const auto leaf = parse_certificate(leaf_pem);
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, ca.get());
  X509_STORE_CTX* context = X509_STORE_CTX_new();
  X509_STORE_CTX_init(context, store, leaf.get(), nullptr);
  X509_STORE_CTX_set_purpose(context, X509_PURPOSE_SSL_SERVER);
  const bool ok = X509_verify_cert(context) == 1;
  X509_STORE_CTX_free(context);
  X509_STORE_free(store);
  return ok;
}

// --- a small synchronous HTTPS client --------------------------------------

using response = http::response<http::string_body>;

ssl::context client_context(const std::string& ca_pem) {
  ssl::context tls(ssl::context::tls_client);
  tls.add_certificate_authority(net::buffer(ca_pem));
  tls.set_verify_mode(ssl::verify_peer);
  return tls;
}

// Stores the result of an asynchronous operation.
struct store_error {
  beast::error_code* error;
  void operator()(beast::error_code result, std::size_t = 0) const { *error = result; }
};

// One TLS connection to 127.0.0.1 that trusts only the given CA and checks
// the certificate names 127.0.0.1. The operations are asynchronous ones run
// to completion, so the stream's deadline (5 s unless a test sets another)
// bounds each of them: a broken server fails the test instead of hanging it.
struct https_connection {
  net::io_context io;
  ssl::context tls;
  beast::ssl_stream<beast::tcp_stream> stream;
  beast::flat_buffer buffer;
  beast::error_code error;  ///< how the last operation ended

  explicit https_connection(const std::string& ca_pem)
      : tls(client_context(ca_pem)), stream(io, tls) {
    stream.set_verify_callback(ssl::host_name_verification("127.0.0.1"));
    beast::get_lowest_layer(stream).expires_after(5s);
  }

  beast::error_code run() {
    io.restart();
    io.run();
    return error;
  }

  beast::error_code connect(std::uint16_t port) {
    beast::get_lowest_layer(stream).async_connect(
        tcp::endpoint(net::ip::address_v4::loopback(), port), store_error{&error});
    if (!run()) {
      stream.async_handshake(ssl::stream_base::client, store_error{&error});
      run();
    }
    return error;
  }

  // CONNECT through the proxy, then TLS inside the tunnel. Returns the
  // proxy's status; the handshake must succeed when it is 200.
  unsigned connect_via(std::uint16_t proxy_port, std::uint16_t port,
                       const std::string& proxy_authorization = "") {
    auto& tcp_stream = beast::get_lowest_layer(stream);
    tcp_stream.async_connect(tcp::endpoint(net::ip::address_v4::loopback(), proxy_port),
                             store_error{&error});
    REQUIRE_FALSE(run());
    const std::string target = "127.0.0.1:" + std::to_string(port);
    http::request<http::empty_body> request(http::verb::connect, target, 11);
    request.set(http::field::host, target);
    if (!proxy_authorization.empty()) {
      request.set(http::field::proxy_authorization, proxy_authorization);
    }
    http::async_write(tcp_stream, request, store_error{&error});
    REQUIRE_FALSE(run());
    // The answer to CONNECT has no body: skip it or the read waits for one.
    http::response_parser<http::empty_body> parser;
    parser.skip(true);
    http::async_read(tcp_stream, buffer, parser, store_error{&error});
    REQUIRE_FALSE(run());
    const unsigned status = parser.get().result_int();
    if (status == 200) {
      stream.async_handshake(ssl::stream_base::client, store_error{&error});
      REQUIRE_FALSE(run());
    }
    return status;
  }

  // Sends a request and reads the answer with `body_limit`; returns how the read ended.
  beast::error_code exchange(http::verb method, const std::string& target, const std::string& body,
                             const std::string& content_type,
                             http::response_parser<http::string_body>& parser) {
    http::request<http::string_body> request(method, target, 11);
    request.set(http::field::host, "127.0.0.1");
    request.set(http::field::accept, "application/json");
    if (!content_type.empty()) {
      request.set(http::field::content_type, content_type);
    }
    request.body() = body;
    request.prepare_payload();
    http::async_write(stream, request, store_error{&error});
    if (!run()) {
      http::async_read(stream, buffer, parser, store_error{&error});
      run();
    }
    return error;
  }

  response send(http::verb method, const std::string& target, const std::string& body = "",
                const std::string& content_type = form_type) {
    http::response_parser<http::string_body> parser;
    REQUIRE_FALSE(exchange(method, target, body, content_type, parser));
    return parser.release();
  }

  // A POST whose answer must fail to arrive; returns how the read ended.
  beast::error_code send_and_fail(const std::string& target, const std::string& body,
                                  std::size_t body_limit) {
    http::response_parser<http::string_body> parser;
    parser.body_limit(body_limit);
    return exchange(http::verb::post, target, body, form_type, parser);
  }
};

// One request on a fresh connection.
response post(const stand_in::server& server, const std::string& target, const std::string& body,
              const std::string& content_type = form_type) {
  https_connection connection(server.pki().ca_cert_pem);
  REQUIRE_FALSE(connection.connect(server.port()));
  return connection.send(http::verb::post, target, body, content_type);
}

json body_json(const response& answer) { return json::parse(answer.body()); }

json jwt_payload(const std::string& token) {
  const auto first = token.find('.');
  const auto second = token.find('.', first + 1);
  REQUIRE(second != std::string::npos);
  const auto payload = stand_in::base64url_decode(token.substr(first + 1, second - first - 1));
  REQUIRE(payload.has_value());
  return json::parse(*payload);
}

std::int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::int64_t parse_http_date(const std::string& text) {
  std::tm utc{};
  REQUIRE(strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &utc) != nullptr);
  return timegm(&utc);
}

struct fixture {
  stand_in::server server;
  fixture() {
    server.add_account(root_key, root_org, {sub_org});
    server.add_account(sub_key, sub_org);
    server.start();
  }
};

}  // namespace

TEST_CASE("the test PKI verifies, and another CA's leaf does not") {
  const auto pki = stand_in::generate_pki();
  const auto other = stand_in::generate_pki();
  CHECK(pki.ca_cert_pem != other.ca_cert_pem);
  CHECK(verifies(pki.ca_cert_pem, pki.server_cert_pem));
  CHECK(verifies(other.ca_cert_pem, other.server_cert_pem));
  CHECK_FALSE(verifies(pki.ca_cert_pem, other.server_cert_pem));
  CHECK_FALSE(verifies(other.ca_cert_pem, pki.server_cert_pem));

  const auto ca = parse_certificate(pki.ca_cert_pem);
  const auto leaf = parse_certificate(pki.server_cert_pem);
  CHECK(X509_check_ca(ca.get()) >= 1);
  CHECK(X509_check_ca(leaf.get()) == 0);
  CHECK(X509_check_ip_asc(leaf.get(), "127.0.0.1", 0) == 1);
  CHECK(X509_check_host(leaf.get(), "localhost", 0, 0, nullptr) == 1);
  CHECK(X509_check_host(leaf.get(), "auth.appcircle.io", 0, 0, nullptr) == 0);
  CHECK(X509_cmp_current_time(X509_get0_notBefore(leaf.get())) < 0);
  CHECK(X509_cmp_current_time(X509_get0_notAfter(leaf.get())) > 0);
}

TEST_CASE("write_pki writes the files, the key private") {
  const auto dir =
      std::filesystem::temp_directory_path() / ("actoken-test-stand-in-" + stand_in::random_hex(6));
  const auto pki = stand_in::generate_pki();
  stand_in::write_pki(pki, dir / "pki");
  struct stat key_stat {};
  REQUIRE(stat((dir / "pki" / "server.key").c_str(), &key_stat) == 0);
  CHECK((key_stat.st_mode & 0777) == 0600);
  CHECK(std::filesystem::file_size(dir / "pki" / "ca.pem") == pki.ca_cert_pem.size());
  CHECK(std::filesystem::file_size(dir / "pki" / "server.pem") == pki.server_cert_pem.size());
  std::filesystem::remove_all(dir);
}

TEST_CASE("form decoding is strict") {
  const auto form = stand_in::decode_form("a=x+y&b=%2B%2f%3D&&c&d=");
  REQUIRE(form.has_value());
  CHECK(form->at("a") == "x y");
  CHECK(form->at("b") == "+/=");
  CHECK(form->at("c").empty());
  CHECK(form->at("d").empty());
  CHECK_FALSE(stand_in::decode_form("a=%zz").has_value());
  CHECK_FALSE(stand_in::decode_form("a=%2").has_value());
  CHECK_FALSE(stand_in::decode_form("a=1%").has_value());
  CHECK_FALSE(stand_in::decode_form("a=1&a=2").has_value());
  CHECK(stand_in::is_form_content_type("Application/X-WWW-Form-Urlencoded; charset=UTF-8"));
  CHECK_FALSE(stand_in::is_form_content_type("application/json"));
  CHECK_FALSE(stand_in::is_form_content_type(""));
}

TEST_CASE("a TLS client trusting another CA is refused") {
  stand_in::server server;
  server.start();
  const auto other = stand_in::generate_pki();
  https_connection connection(other.ca_cert_pem);
  CHECK(connection.connect(server.port()));
}

TEST_CASE_FIXTURE(fixture, "v3 exchange: the token, its claims and the headers") {
  const auto answer = post(server, "/auth/v3/token",
                           "personalAccessKey=" + root_key_encoded + "&scope=openid%2Cprofile");
  REQUIRE(answer.result_int() == 200);
  CHECK(answer[http::field::content_type] == "application/json");
  CHECK(answer.has_content_length());
  const auto date = parse_http_date(std::string(answer[http::field::date]));
  CHECK(std::abs(date - now_s()) < 60);

  const auto body = body_json(answer);
  CHECK(body.at("token_type") == "Bearer");
  CHECK(body.at("expires_in") == 3600);
  const auto claims = jwt_payload(body.at("access_token"));
  CHECK(claims.at("exp").get<std::int64_t>() == claims.at("iat").get<std::int64_t>() + 3600);
  CHECK(std::abs(claims.at("iat").get<std::int64_t>() - now_s()) < 60);
  CHECK(claims.at("currentOrganizationId") == root_org);
  CHECK_FALSE(claims.at("sub").get<std::string>().empty());

  // What went over the wire: the key arrived intact.
  const auto requests = server.requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].method == "POST");
  CHECK(requests[0].path == "/auth/v3/token");
  CHECK(requests[0].content_type == form_type);
  CHECK(requests[0].accept == "application/json");
  CHECK(requests[0].form.at("personalAccessKey") == root_key);
  CHECK(requests[0].form.at("scope") == "openid,profile");
  CHECK(requests[0].raw_body.starts_with("personalAccessKey=r00t%2BKey"));
}

TEST_CASE_FIXTURE(fixture, "every exchange gives a distinct token") {
  https_connection connection(server.pki().ca_cert_pem);
  REQUIRE_FALSE(connection.connect(server.port()));
  std::set<std::string> tokens;
  std::set<std::string> ids;
  for (int i = 0; i < 3; ++i) {  // one keep-alive connection
    const auto answer = connection.send(http::verb::post, "/auth/v3/token",
                                        "personalAccessKey=" + root_key_encoded);
    REQUIRE(answer.result_int() == 200);
    const std::string token = body_json(answer).at("access_token");
    tokens.insert(token);
    ids.insert(jwt_payload(token).at("jti").get<std::string>());
  }
  CHECK(tokens.size() == 3);
  CHECK(ids.size() == 3);
}

TEST_CASE_FIXTURE(fixture, "field names per API version") {
  CHECK(post(server, "/auth/v2/token", "pat=" + root_key_encoded).result_int() == 200);
  CHECK(post(server, "/auth/v1/token", "pat=" + root_key_encoded).result_int() == 200);
  // Each version's key field is its own.
  CHECK(post(server, "/auth/v3/token", "pat=" + root_key_encoded).result_int() == 400);
  CHECK(post(server, "/auth/v2/token", "personalAccessKey=" + root_key_encoded).result_int() ==
        400);
  // v2 takes subOrganization, v1 refuses it.
  const auto v2 =
      post(server, "/auth/v2/token", "pat=" + root_key_encoded + "&subOrganization=" + sub_org);
  REQUIRE(v2.result_int() == 200);
  CHECK(jwt_payload(body_json(v2).at("access_token")).at("currentOrganizationId") == sub_org);
  CHECK(post(server, "/auth/v1/token", "pat=" + root_key_encoded + "&subOrganization=" + sub_org)
            .result_int() == 400);
}

TEST_CASE_FIXTURE(fixture, "the form body is decoded strictly") {
  // An unencoded `+` decodes to a space: the key does not match.
  const auto raw = post(server, "/auth/v3/token", "personalAccessKey=" + root_key);
  CHECK(raw.result_int() == 401);
  CHECK(server.exchanges_for("r00t Key/abc==") == 1);
  CHECK(server.exchanges_for(root_key) == 0);
  CHECK(post(server, "/auth/v3/token", "personalAccessKey=r00t%2BKey/abc%3D%3D").result_int() ==
        200);
  CHECK(server.exchanges_for(root_key) == 1);
  CHECK(post(server, "/auth/v3/token", "personalAccessKey=%zz").result_int() == 400);
  CHECK(post(server, "/auth/v3/token", "personalAccessKey=").result_int() == 400);
  CHECK(post(server, "/auth/v3/token", "scope=openid").result_int() == 400);
  // The content type is required, parameters are fine.
  CHECK(post(server, "/auth/v3/token", "personalAccessKey=" + root_key_encoded, "application/json")
            .result_int() == 400);
  CHECK(post(server, "/auth/v3/token", "personalAccessKey=" + root_key_encoded, "").result_int() ==
        400);
  CHECK(post(server, "/auth/v3/token", "personalAccessKey=" + root_key_encoded,
             "application/x-www-form-urlencoded; charset=utf-8")
            .result_int() == 200);
}

TEST_CASE_FIXTURE(fixture, "a wrong key gets 401 invalid_grant without the key echoed") {
  const auto answer = post(server, "/auth/v3/token", "personalAccessKey=wrongSecretKey");
  CHECK(answer.result_int() == 401);
  CHECK(body_json(answer).at("error") == "invalid_grant");
  CHECK(answer.body().find("wrongSecretKey") == std::string::npos);
  CHECK(server.successful_exchanges() == 0);
}

TEST_CASE_FIXTURE(fixture, "unknown paths get 404, other methods 405") {
  const auto missing = post(server, "/auth/v4/token", "personalAccessKey=" + root_key_encoded);
  CHECK(missing.result_int() == 404);
  CHECK(body_json(missing).contains("error"));
  https_connection connection(server.pki().ca_cert_pem);
  REQUIRE_FALSE(connection.connect(server.port()));
  const auto get = connection.send(http::verb::get, "/auth/v3/token", "", "");
  CHECK(get.result_int() == 405);
  CHECK(get[http::field::allow] == "POST");
  // The control API is off unless asked for.
  CHECK(connection.send(http::verb::get, "/_stand_in/stats", "", "").result_int() == 404);
}

TEST_CASE_FIXTURE(fixture, "sub-organizations: allowed for the root key only") {
  const auto allowed =
      post(server, "/auth/v3/token",
           "personalAccessKey=" + root_key_encoded + "&subOrganization=" + sub_org);
  REQUIRE(allowed.result_int() == 200);
  CHECK(jwt_payload(body_json(allowed).at("access_token")).at("currentOrganizationId") == sub_org);
  CHECK(server.requests().back().form.at("subOrganization") == sub_org);

  CHECK(post(server, "/auth/v3/token",
             "personalAccessKey=" + root_key_encoded + "&subOrganization=" + other_org)
            .result_int() == 403);
  CHECK(post(server, "/auth/v3/token",
             "personalAccessKey=" + sub_key + "&subOrganization=" + root_org)
            .result_int() == 403);
  const auto own = post(server, "/auth/v3/token", "personalAccessKey=" + sub_key);
  REQUIRE(own.result_int() == 200);
  CHECK(jwt_payload(body_json(own).at("access_token")).at("currentOrganizationId") == sub_org);
}

TEST_CASE_FIXTURE(fixture, "behaviour: lifetime, expires_in, forced status, HTML, versions") {
  const std::string body = "personalAccessKey=" + root_key_encoded;
  stand_in::behaviour b;
  b.token_lifetime = 120s;
  b.send_expires_in = false;
  server.set_behaviour(b);
  CHECK(server.get_behaviour().token_lifetime == 120s);
  const auto short_lived = body_json(post(server, "/auth/v3/token", body));
  CHECK_FALSE(short_lived.contains("expires_in"));
  const auto claims = jwt_payload(short_lived.at("access_token"));
  CHECK(claims.at("exp").get<std::int64_t>() - claims.at("iat").get<std::int64_t>() == 120);

  b = {};
  b.forced_status = 429;
  b.retry_after = "7";
  server.set_behaviour(b);
  const auto limited = post(server, "/auth/v3/token", body);
  CHECK(limited.result_int() == 429);
  CHECK(limited[http::field::retry_after] == "7");
  CHECK(body_json(limited).contains("error"));

  b = {};
  b.html_body = true;
  server.set_behaviour(b);
  const auto html = post(server, "/auth/v3/token", body);
  CHECK(html.result_int() == 200);
  CHECK(html[http::field::content_type].starts_with("text/html"));
  CHECK(html.body().find("access_token") == std::string::npos);

  b = {};
  b.disabled_versions = {"v3"};
  server.set_behaviour(b);
  CHECK(post(server, "/auth/v3/token", body).result_int() == 404);
  CHECK(post(server, "/auth/v1/token", "pat=" + root_key_encoded).result_int() == 200);
}

TEST_CASE_FIXTURE(fixture, "echo_key: a 401 that echoes the key it was sent, encoded") {
  const std::string body = "personalAccessKey=" + root_key_encoded;
  stand_in::behaviour b;
  for (const auto encoding : stand_in::all_echo_encodings) {
    CAPTURE(stand_in::to_string(encoding));
    b.echo_key = encoding;
    server.set_behaviour(b);
    const auto answer = post(server, "/auth/v3/token", body);
    CHECK(answer.result_int() == 401);
    const auto echoed = stand_in::encode_echo(root_key, encoding);
    if (encoding == stand_in::echo_encoding::split) {
      // Half in each field: neither holds the key, the two joined do.
      const auto fields = body_json(answer);
      const auto error = fields.at("error").get<std::string>();
      const auto description = fields.at("error_description").get<std::string>();
      CHECK(error.find(echoed) == std::string::npos);
      CHECK(description.find(echoed) == std::string::npos);
      CHECK(error + description == "key " + echoed);
    } else if (stand_in::is_json_escape(encoding)) {
      // Parsed, the description still holds the escapes.
      CHECK(body_json(answer).at("error_description").get<std::string>().find(echoed) !=
            std::string::npos);
    } else {
      CHECK(answer.body().find(echoed) != std::string::npos);
    }
  }
  CHECK(stand_in::encode_echo("a+b/c=", stand_in::echo_encoding::percent_lower) == "a%2bb%2fc%3d");
  CHECK(stand_in::encode_echo("a+b/c=", stand_in::echo_encoding::percent_upper) == "a%2Bb%2Fc%3D");
  CHECK(stand_in::encode_echo("a+b/c=", stand_in::echo_encoding::plus) == "a b/c=");
  CHECK(stand_in::encode_echo("a+b/c=", stand_in::echo_encoding::json_slash) == "a+b\\/c=");
  CHECK(stand_in::encode_echo("a+b/c=", stand_in::echo_encoding::json_u) ==
        "a\\u002Bb\\u002Fc\\u003D");
  CHECK(stand_in::encode_echo("a+b/c=", stand_in::echo_encoding::json_u_lower) ==
        "a\\u002bb\\u002fc\\u003d");
  CHECK(stand_in::encode_echo("a+b/c=", stand_in::echo_encoding::html_dec) == "a&#43;b&#47;c&#61;");
  CHECK(stand_in::encode_echo("a+b/c=", stand_in::echo_encoding::html_hex) ==
        "a&#x2b;b&#x2f;c&#x3d;");
  CHECK(stand_in::encode_echo("a+b/c=", stand_in::echo_encoding::html_hex_upper) ==
        "a&#X2B;b&#X2F;c&#X3D;");
  CHECK(stand_in::encode_echo("a+b/c=", stand_in::echo_encoding::html_named) ==
        "a&plus;b&sol;c&equals;");
  CHECK(stand_in::encode_echo("a+", stand_in::echo_encoding::html_dec_zeros) ==
        "&#00000000097;&#00000000043;");
  CHECK(stand_in::encode_echo("a+", stand_in::echo_encoding::html_hex_zeros) ==
        "&#x0000000061;&#x000000002b;");
  CHECK(stand_in::encode_echo("a+b/c=", stand_in::echo_encoding::base64) == "YStiL2M9");
  CHECK(stand_in::encode_echo("a+b/c=?", stand_in::echo_encoding::base64) == "YStiL2M9Pw==");
  CHECK(stand_in::encode_echo("a+b/c=?", stand_in::echo_encoding::base64url) == "YStiL2M9Pw");
  CHECK(stand_in::encode_echo("\xfb\xff", stand_in::echo_encoding::base64url) == "-_8");
  CHECK(stand_in::encode_echo("a+b/c=", stand_in::echo_encoding::base64_offset1) == "eGErYi9jPQ==");
  CHECK(stand_in::encode_echo("a+b/c=", stand_in::echo_encoding::base64_offset2) == "eHlhK2IvYz0=");
  CHECK(stand_in::encode_echo("a+/", stand_in::echo_encoding::hex_lower) == "612b2f");
  CHECK(stand_in::encode_echo("a+/", stand_in::echo_encoding::hex_upper) == "612B2F");
  CHECK(stand_in::encode_echo("abc", stand_in::echo_encoding::zero_width) ==
        "a\xE2\x80\x8B"
        "b\xE2\x80\x8B"
        "c");
  CHECK(stand_in::encode_echo("abc", stand_in::echo_encoding::invisible) ==
        "a\xE2\x81\xA0"
        "b\xEF\xBB\xBF"
        "c");
  CHECK(stand_in::encode_echo("a+b", stand_in::echo_encoding::split) == "a+b");
  for (const auto encoding : stand_in::all_echo_encodings) {
    CHECK(stand_in::parse_echo_encoding(stand_in::to_string(encoding)) == encoding);
  }
}

TEST_CASE_FIXTURE(fixture, "token_suffix and date_header change the answer as asked") {
  stand_in::behaviour b;
  b.token_suffix = "\r\nX-Injected: 1";
  b.date_header = "Thu, 01 Jan 1970 00:00:00 GMT";
  server.set_behaviour(b);
  const auto answer = post(server, "/auth/v3/token", "personalAccessKey=" + root_key_encoded);
  REQUIRE(answer.result_int() == 200);
  CHECK(answer[http::field::date] == "Thu, 01 Jan 1970 00:00:00 GMT");
  const auto token = body_json(answer).at("access_token").get<std::string>();
  CHECK(token.ends_with("\r\nX-Injected: 1"));
  // The JWT itself is untouched: its exp is still on the stand-in's clock.
  const auto claims = jwt_payload(token.substr(0, token.find('\r')));
  CHECK(std::abs(claims.at("exp").get<std::int64_t>() - (now_s() + 3600)) < 60);
}

TEST_CASE_FIXTURE(fixture, "the clock offset moves Date, iat and exp together") {
  stand_in::behaviour b;
  b.clock_offset = 3600s;
  server.set_behaviour(b);
  const auto answer = post(server, "/auth/v3/token", "personalAccessKey=" + root_key_encoded);
  REQUIRE(answer.result_int() == 200);
  const auto date = parse_http_date(std::string(answer[http::field::date]));
  const auto claims = jwt_payload(body_json(answer).at("access_token"));
  const auto iat = claims.at("iat").get<std::int64_t>();
  CHECK(std::abs(date - (now_s() + 3600)) < 60);
  CHECK(std::abs(iat - date) <= 1);
  CHECK(claims.at("exp").get<std::int64_t>() == iat + 3600);
}

TEST_CASE_FIXTURE(fixture, "counters") {
  const std::string body = "personalAccessKey=" + root_key_encoded;
  CHECK(post(server, "/auth/v3/token", body).result_int() == 200);
  CHECK(post(server, "/auth/v3/token", "personalAccessKey=" + sub_key).result_int() == 200);
  CHECK(post(server, "/auth/v3/token", "personalAccessKey=nope").result_int() == 401);
  CHECK(post(server, "/elsewhere", body).result_int() == 404);  // not a token path
  CHECK(server.exchanges() == 3);
  CHECK(server.successful_exchanges() == 2);
  CHECK(server.exchanges_for(root_key) == 1);
  CHECK(server.exchanges_for(sub_key) == 1);
  CHECK(server.exchanges_for("nope") == 1);
  CHECK(server.requests().size() == 3);
  server.reset_counters();
  CHECK(server.exchanges() == 0);
  CHECK(server.successful_exchanges() == 0);
  CHECK(server.exchanges_for(root_key) == 0);
  CHECK(server.requests().empty());
}

TEST_CASE_FIXTURE(fixture, "concurrent connections are all served") {
  constexpr int clients = 24;
  stand_in::behaviour b;
  b.delay = 50ms;  // keeps the connections open at the same time
  server.set_behaviour(b);
  std::vector<int> statuses(clients, 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([this, &statuses, i] {
      https_connection connection(server.pki().ca_cert_pem);
      if (!connection.connect(server.port())) {
        statuses[static_cast<std::size_t>(i)] = static_cast<int>(
            connection
                .send(http::verb::post, "/auth/v3/token", "personalAccessKey=" + root_key_encoded)
                .result_int());
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  CHECK(std::count(statuses.begin(), statuses.end(), 200) == clients);
  CHECK(server.successful_exchanges() == clients);
}

TEST_CASE_FIXTURE(fixture, "transport faults break the answer") {
  const std::string body = "personalAccessKey=" + root_key_encoded;
  stand_in::behaviour b;
  https_connection connection(server.pki().ca_cert_pem);
  REQUIRE_FALSE(connection.connect(server.port()));
  SUBCASE("truncated TLS") {
    b.fault_mode = stand_in::fault::truncated_tls;
    server.set_behaviour(b);
    CHECK(connection.send_and_fail("/auth/v3/token", body, 64 * 1024));
  }
  SUBCASE("reset") {
    b.fault_mode = stand_in::fault::reset;
    server.set_behaviour(b);
    CHECK(connection.send_and_fail("/auth/v3/token", body, 64 * 1024));
  }
  SUBCASE("huge body") {
    b.fault_mode = stand_in::fault::huge_body;
    server.set_behaviour(b);
    CHECK(connection.send_and_fail("/auth/v3/token", body, 64 * 1024) == http::error::body_limit);
  }
  SUBCASE("endless body") {
    b.fault_mode = stand_in::fault::endless_body;
    server.set_behaviour(b);
    CHECK(connection.send_and_fail("/auth/v3/token", body, 512) == http::error::body_limit);
  }
  SUBCASE("hang") {
    b.fault_mode = stand_in::fault::hang;
    server.set_behaviour(b);
    beast::get_lowest_layer(connection.stream).expires_after(200ms);
    CHECK(connection.send_and_fail("/auth/v3/token", body, 64 * 1024) == beast::error::timeout);
  }
  CHECK(server.exchanges() == 1);
  CHECK(server.successful_exchanges() == 0);
}

TEST_CASE_FIXTURE(fixture, "the stand-in records how many TLS records each request came in") {
  https_connection connection(server.pki().ca_cert_pem);
  REQUIRE_FALSE(connection.connect(server.port()));
  const std::string body = "personalAccessKey=" + root_key_encoded;
  const std::string head =
      "POST /auth/v3/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " + std::string(form_type) +
      "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  std::size_t expected = 0;
  SUBCASE("written whole, in one write: one record") {
    net::async_write(connection.stream, net::buffer(head + body), store_error{&connection.error});
    REQUIRE_FALSE(connection.run());
    expected = 1;
  }
  SUBCASE("the head, then the body: two records") {
    net::async_write(connection.stream, net::buffer(head), store_error{&connection.error});
    REQUIRE_FALSE(connection.run());
    net::async_write(connection.stream, net::buffer(body), store_error{&connection.error});
    REQUIRE_FALSE(connection.run());
    expected = 2;
  }
  http::response_parser<http::string_body> parser;
  http::async_read(connection.stream, connection.buffer, parser, store_error{&connection.error});
  REQUIRE_FALSE(connection.run());
  CHECK(parser.get().result_int() == 200);
  const auto requests = server.requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests.front().tls_records == expected);
}

TEST_CASE_FIXTURE(fixture, "an answer comes in one TLS record; in_pieces in four, and whole") {
  https_connection connection(server.pki().ca_cert_pem);
  stand_in::record_counter received;
  stand_in::count_received_records(connection.stream.native_handle(), received);
  REQUIRE_FALSE(connection.connect(server.port()));
  const std::string body = "personalAccessKey=" + root_key_encoded;
  CHECK(connection.send(http::verb::post, "/auth/v3/token", body).result_int() == 200);
  CHECK(received.application_records == 1);

  stand_in::behaviour b;
  b.fault_mode = stand_in::fault::in_pieces;
  server.set_behaviour(b);
  const auto answer = connection.send(http::verb::post, "/auth/v3/token", body);
  CHECK(received.application_records == 1 + 4);
  CHECK(answer.result_int() == 200);
  CHECK(body_json(answer)["access_token"].get<std::string>().starts_with("ey"));
  CHECK(server.successful_exchanges() == 2);  // an answer in pieces is whole once read
}

TEST_CASE_FIXTURE(fixture, "a 32 KiB header line, or an answer that is not HTTP") {
  const std::string body = "personalAccessKey=" + root_key_encoded;
  stand_in::behaviour b;
  https_connection connection(server.pki().ca_cert_pem);
  REQUIRE_FALSE(connection.connect(server.port()));
  SUBCASE("huge header") {
    b.fault_mode = stand_in::fault::huge_header;
    server.set_behaviour(b);
    // Beast's default limit on a response head is 8 KiB.
    CHECK(connection.send_and_fail("/auth/v3/token", body, 64 * 1024) == http::error::header_limit);
  }
  SUBCASE("not HTTP") {
    b.fault_mode = stand_in::fault::not_http;
    server.set_behaviour(b);
    const auto error = connection.send_and_fail("/auth/v3/token", body, 64 * 1024);
    CHECK(error.category() == http::make_error_code(http::error::bad_version).category());
  }
  CHECK(server.exchanges() == 1);
}

TEST_CASE_FIXTURE(fixture, "stop() closes the connections still open") {
  https_connection connection(server.pki().ca_cert_pem);
  REQUIRE_FALSE(connection.connect(server.port()));
  stand_in::connect_proxy proxy;
  proxy.start();
  SUBCASE("a server that hangs") {
    stand_in::behaviour b;
    b.fault_mode = stand_in::fault::hang;
    server.set_behaviour(b);
    http::request<http::string_body> request(http::verb::post, "/auth/v3/token", 11);
    request.set(http::field::content_type, form_type);
    request.body() = "personalAccessKey=" + root_key_encoded;
    request.prepare_payload();
    http::async_write(connection.stream, request, store_error{&connection.error});
    REQUIRE_FALSE(connection.run());
    // Wait (bounded) until the server holds the request, then stop it under the client.
    for (int i = 0; i < 500 && server.exchanges() == 0; ++i) {
      std::this_thread::sleep_for(10ms);
    }
    REQUIRE(server.exchanges() == 1);
    server.stop();
  }
  SUBCASE("a proxy with an open tunnel") {
    https_connection tunnelled(server.pki().ca_cert_pem);
    REQUIRE(tunnelled.connect_via(proxy.port(), server.port()) == 200);
    proxy.stop();
    http::response_parser<http::string_body> parser;
    const auto error =
        tunnelled.exchange(http::verb::post, "/auth/v3/token",
                           "personalAccessKey=" + root_key_encoded, form_type, parser);
    CHECK(error);
    CHECK(error != beast::error::timeout);
    server.stop();
  }
  // Either way the connection is closed, not left to time out.
  http::response_parser<http::string_body> parser;
  http::async_read(connection.stream, connection.buffer, parser, store_error{&connection.error});
  const auto error = connection.run();
  CHECK(error);
  CHECK(error != beast::error::timeout);
}

TEST_CASE("the control API reads stats and replaces the behaviour") {
  stand_in::server_options options;
  options.control_api = true;
  stand_in::server server(options);
  server.add_account("k", root_org);
  server.start();
  https_connection connection(server.pki().ca_cert_pem);
  REQUIRE_FALSE(connection.connect(server.port()));
  CHECK(connection.send(http::verb::post, "/auth/v3/token", "personalAccessKey=k").result_int() ==
        200);
  const auto stats = connection.send(http::verb::get, "/_stand_in/stats", "", "");
  CHECK(body_json(stats) == json{{"exchanges", 1}, {"successful_exchanges", 1}});

  const auto put = connection.send(http::verb::put, "/_stand_in/behaviour",
                                   R"({"forced_status": 503, "retry_after": "2", "delay_ms": 1,
                                       "disabled_versions": ["v1"], "fault": "none"})",
                                   "application/json");
  CHECK(put.result_int() == 200);
  CHECK(server.get_behaviour().forced_status == 503);
  CHECK(server.get_behaviour().disabled_versions == std::set<std::string>{"v1"});
  const auto forced = connection.send(http::verb::post, "/auth/v3/token", "personalAccessKey=k");
  CHECK(forced.result_int() == 503);
  CHECK(forced[http::field::retry_after] == "2");

  const auto bad = connection.send(http::verb::put, "/_stand_in/behaviour", R"({"colour": 1})",
                                   "application/json");
  CHECK(bad.result_int() == 400);
  CHECK(server.get_behaviour().forced_status == 503);  // unchanged
}

TEST_CASE("behaviour JSON round-trips") {
  stand_in::behaviour b;
  b.token_lifetime = 5s;
  b.delay = 20ms;
  b.clock_offset = -30s;
  b.fault_mode = stand_in::fault::reset;
  b.disabled_versions = {"v2", "v3"};
  b.echo_key = stand_in::echo_encoding::html_hex;
  b.token_suffix = "\n";
  b.date_header = "yesterday";
  const auto parsed = stand_in::behaviour_from_json(stand_in::behaviour_to_json(b));
  CHECK(parsed.token_lifetime == 5s);
  CHECK(parsed.delay == 20ms);
  CHECK(parsed.clock_offset == -30s);
  CHECK(parsed.fault_mode == stand_in::fault::reset);
  CHECK(parsed.disabled_versions == b.disabled_versions);
  CHECK(parsed.echo_key == stand_in::echo_encoding::html_hex);
  CHECK(parsed.token_suffix == "\n");
  CHECK(parsed.date_header == "yesterday");
  CHECK_FALSE(stand_in::behaviour_from_json(R"({"echo_key": null})").echo_key.has_value());
  CHECK_THROWS_AS(stand_in::behaviour_from_json(R"({"echo_key": "rot13"})"), std::invalid_argument);
  CHECK_THROWS_AS(stand_in::behaviour_from_json(R"({"fault": "meltdown"})"), std::invalid_argument);
  CHECK_THROWS_AS(stand_in::behaviour_from_json("[]"), std::invalid_argument);
}

TEST_CASE_FIXTURE(fixture, "the CONNECT proxy tunnels TLS") {
  stand_in::connect_proxy proxy;
  proxy.start();
  https_connection connection(server.pki().ca_cert_pem);
  REQUIRE(connection.connect_via(proxy.port(), server.port()) == 200);
  const auto answer =
      connection.send(http::verb::post, "/auth/v3/token", "personalAccessKey=" + root_key_encoded);
  CHECK(answer.result_int() == 200);
  CHECK(proxy.tunnels() == 1);
  CHECK(proxy.targets() == std::vector<std::string>{"127.0.0.1:" + std::to_string(server.port())});
  CHECK(server.successful_exchanges() == 1);
}

TEST_CASE_FIXTURE(fixture, "the CONNECT proxy enforces Basic auth") {
  stand_in::connect_proxy proxy({{"alice", "s3cret"}});
  proxy.start();
  {
    https_connection connection(server.pki().ca_cert_pem);
    CHECK(connection.connect_via(proxy.port(), server.port()) == 407);
  }
  {
    https_connection connection(server.pki().ca_cert_pem);
    CHECK(connection.connect_via(proxy.port(), server.port(),
                                 "Basic " + stand_in::base64_encode("alice:wrong")) == 407);
  }
  CHECK(proxy.tunnels() == 0);
  https_connection connection(server.pki().ca_cert_pem);
  REQUIRE(connection.connect_via(proxy.port(), server.port(),
                                 "basic " + stand_in::base64_encode("alice:s3cret")) == 200);
  CHECK(connection.send(http::verb::post, "/auth/v3/token", "personalAccessKey=" + sub_key)
            .result_int() == 200);
  CHECK(proxy.tunnels() == 1);
  CHECK(proxy.targets().size() == 3);
}
