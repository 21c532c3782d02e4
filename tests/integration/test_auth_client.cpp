// The auth client against the stand-in auth server and CONNECT proxy, all on
// 127.0.0.1: what reaches the server, how each transport failure is
// classified, and that the key never leaves without a verified certificate.

#include "daemon/upstream/auth_client.hpp"
#include "daemon/upstream/auth_codec.hpp"
#include "daemon/upstream/url.hpp"
#include "tests/integration/post_once.hpp"
#include "tests/stand_in/connect_proxy.hpp"
#include "tests/stand_in/pki.hpp"
#include "tests/stand_in/server.hpp"
#include "tests/test_files.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <doctest/doctest.h>

#include <unistd.h>

#include <chrono>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <utility>

namespace {

namespace net = boost::asio;
namespace stand_in = actoken::stand_in;
namespace upstream = actoken::upstream;
using actoken::errc;
using actoken::failure;
using namespace std::chrono_literals;

// A key shaped like Appcircle's (base64: '+', '/' and '=' must be encoded).
constexpr const char* test_key = "ab+cd/ef==";
constexpr const char* test_org = "0e6b2f1c-0000-4000-8000-00000000000a";

// An environment with only the given variables.
actoken::env_lookup fake_env(std::map<std::string, std::string> vars = {}) {
  return [vars = std::move(vars)](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
}

// A stand-in server with one account, and its CA written to disk.
struct fixture {
  actoken::testing::scratch_dir dir;
  stand_in::server server;
  std::filesystem::path ca_file;

  explicit fixture(stand_in::server_options options = {}) : server(std::move(options)) {
    server.add_account(test_key, test_org);
    server.start();
    stand_in::write_pki(server.pki(), dir.path());
    ca_file = dir.path() / "ca.pem";
  }

  upstream::url url() const {
    auto parsed = upstream::parse_url(server.url());
    REQUIRE(parsed);
    return *parsed;
  }

  upstream::auth_client_options trusting_options() const {
    upstream::auth_client_options options;
    options.ca_file = ca_file;
    options.env = fake_env();
    return options;
  }
};

// Runs one exchange to completion on a fresh io_context.
upstream::post_result post(upstream::auth_client_options options, const upstream::url& server,
                           std::chrono::milliseconds timeout = 5s) {
  return actoken::testing::post_once(std::move(options), server, test_key, timeout);
}

const upstream::raw_response& response_of(const upstream::post_result& result) {
  if (const auto* error = std::get_if<failure>(&result)) {
    FAIL("expected a response, got " << actoken::code_name(error->code) << ": " << error->message);
  }
  return std::get<upstream::raw_response>(result);
}

const failure& error_of(const upstream::post_result& result) {
  if (const auto* response = std::get_if<upstream::raw_response>(&result)) {
    FAIL("expected an error, got status " << response->status);
  }
  return std::get<failure>(result);
}

// A loopback port with nothing listening on it.
std::uint16_t closed_port() {
  net::io_context io;
  net::ip::tcp::acceptor acceptor(io, {net::ip::make_address("127.0.0.1"), 0});
  const auto port = acceptor.local_endpoint().port();
  acceptor.close();
  return port;
}

}  // namespace

TEST_CASE("a trusted server gets the form intact and its answer comes back") {
  fixture f;
  const auto result = post(f.trusting_options(), f.url());
  const auto& response = response_of(result);
  CHECK(response.status == 200);
  CHECK(response.body.find("access_token") != std::string::npos);
  CHECK_FALSE(response.date.empty());
  CHECK(response.retry_after.empty());

  REQUIRE(f.server.exchanges() == 1);
  CHECK(f.server.exchanges_for(test_key) == 1);
  const auto requests = f.server.requests();
  REQUIRE(requests.size() == 1);
  const auto& request = requests.front();
  CHECK(request.method == "POST");
  CHECK(request.path == "/auth/v3/token");
  CHECK(request.content_type == "application/x-www-form-urlencoded");
  CHECK(request.accept == "application/json");
  CHECK(request.raw_body.find("ab%2Bcd%2Fef%3D%3D") != std::string::npos);
  CHECK(request.form.at("personalAccessKey") == test_key);
  CHECK(request.form.at("scope") == "openid");

  // The codec can read what came back.
  const auto grant =
      upstream::interpret_response(response, std::chrono::system_clock::now(), 600s, test_key);
  CHECK(std::holds_alternative<upstream::token_grant>(grant));
}

TEST_CASE("a base path in auth_url prefixes the token path") {
  fixture f;
  auto server = f.url();
  server.path = "/base";
  const auto result = post(f.trusting_options(), server);
  // The stand-in knows only /auth/...: the prefixed path is not a token path.
  CHECK(response_of(result).status == 404);
  CHECK(f.server.exchanges() == 0);
}

TEST_CASE("error statuses come back as responses, with Retry-After") {
  fixture f;
  stand_in::behaviour b;
  b.forced_status = 429;
  b.retry_after = "7";
  f.server.set_behaviour(b);
  const auto result = post(f.trusting_options(), f.url());
  const auto& response = response_of(result);
  CHECK(response.status == 429);
  CHECK(response.retry_after == "7");
}

TEST_CASE("an untrusted certificate is upstream_tls and the key is never sent") {
  fixture f;
  SUBCASE("system store only") {
    upstream::auth_client_options options;
    options.env = fake_env();
    const auto result = post(std::move(options), f.url());
    const auto& error = error_of(result);
    CHECK(error.code == errc::upstream_tls);
    CHECK(error.message.find("127.0.0.1") != std::string::npos);
    CHECK(error.message.find("certificate verify failed") != std::string::npos);
    CHECK(error.message.find(test_key) == std::string::npos);
  }
  SUBCASE("another CA in ca_file") {
    actoken::testing::scratch_dir other;
    stand_in::write_pki(stand_in::generate_pki(), other.path());
    auto options = f.trusting_options();
    options.ca_file = other.path() / "ca.pem";
    const auto result = post(std::move(options), f.url());
    CHECK(error_of(result).code == errc::upstream_tls);
  }
  CHECK(f.server.exchanges() == 0);
  CHECK(f.server.requests().empty());
}

TEST_CASE("a certificate for another host is upstream_tls") {
  // The certificate names only "localhost": 127.0.0.1 must not verify.
  stand_in::server_options options;
  options.pki = stand_in::generate_pki({"localhost"});
  fixture f(std::move(options));
  const auto result = post(f.trusting_options(), f.url());
  const auto& error = error_of(result);
  CHECK(error.code == errc::upstream_tls);
  CHECK(error.message.find("mismatch") != std::string::npos);
  CHECK(f.server.exchanges() == 0);
}

TEST_CASE("an unreadable or empty ca_file is upstream_tls naming the file") {
  fixture f;
  auto options = f.trusting_options();
  SUBCASE("missing") { options.ca_file = f.dir.path() / "missing.pem"; }
  SUBCASE("not PEM") {
    options.ca_file = f.dir.path() / "garbage.pem";
    std::ofstream(*options.ca_file) << "not a certificate\n";
  }
  const auto result = post(options, f.url());
  const auto& error = error_of(result);
  CHECK(error.code == errc::upstream_tls);
  CHECK(error.message.find(options.ca_file->string()) != std::string::npos);
  CHECK(f.server.exchanges() == 0);
}

TEST_CASE("a closed port is upstream_unavailable") {
  auto server = upstream::parse_url("https://127.0.0.1:" + std::to_string(closed_port()));
  REQUIRE(server);
  upstream::auth_client_options options;
  options.env = fake_env();
  const auto result = post(std::move(options), *server);
  const auto& error = error_of(result);
  CHECK(error.code == errc::upstream_unavailable);
  CHECK(error.message.find("127.0.0.1") != std::string::npos);
}

TEST_CASE("an unresolvable host is upstream_unavailable") {
  // .invalid never resolves (RFC 6761 §6.4), with or without a network.
  auto server = upstream::parse_url("https://auth.actoken-test.invalid");
  REQUIRE(server);
  upstream::auth_client_options options;
  options.env = fake_env();
  const auto result = post(std::move(options), *server);
  const auto& error = error_of(result);
  CHECK(error.code == errc::upstream_unavailable);
  CHECK(error.message.find("auth.actoken-test.invalid") != std::string::npos);
}

TEST_CASE("a server slower than the deadline is upstream_timeout") {
  fixture f;
  stand_in::behaviour b;
  SUBCASE("delayed answer") { b.delay = 2s; }
  SUBCASE("no answer at all") { b.fault_mode = stand_in::fault::hang; }
  SUBCASE("a body that never ends") { b.fault_mode = stand_in::fault::endless_body; }
  f.server.set_behaviour(b);
  const auto result = post(f.trusting_options(), f.url(), 300ms);
  CHECK(error_of(result).code == errc::upstream_timeout);
}

TEST_CASE("a body over max_response_body is bad_upstream_response") {
  fixture f;
  auto options = f.trusting_options();
  SUBCASE("a normal answer over a small limit") { options.max_response_body = 64; }
  SUBCASE("a 100 MB answer over the default limit") {
    stand_in::behaviour b;
    b.fault_mode = stand_in::fault::huge_body;
    f.server.set_behaviour(b);
  }
  const auto result = post(options, f.url());
  const auto& error = error_of(result);
  CHECK(error.code == errc::bad_upstream_response);
  CHECK(error.message.find("response body too large") != std::string::npos);
}

TEST_CASE("a connection cut before the full response is upstream_unavailable") {
  fixture f;
  stand_in::behaviour b;
  SUBCASE("TCP close without close_notify") { b.fault_mode = stand_in::fault::truncated_tls; }
  SUBCASE("TCP reset") { b.fault_mode = stand_in::fault::reset; }
  f.server.set_behaviour(b);
  const auto result = post(f.trusting_options(), f.url());
  CHECK(error_of(result).code == errc::upstream_unavailable);
}

TEST_CASE("a proxy carries the exchange through one CONNECT tunnel") {
  fixture f;
  SUBCASE("from the proxy setting") {
    stand_in::connect_proxy proxy;
    proxy.start();
    auto options = f.trusting_options();
    options.proxy = actoken::platform::secure_buffer(proxy.url());
    const auto result = post(std::move(options), f.url());
    CHECK(response_of(result).status == 200);
    CHECK(proxy.tunnels() == 1);
    REQUIRE(proxy.targets().size() == 1);
    CHECK(proxy.targets().front() == "127.0.0.1:" + std::to_string(f.server.port()));
  }
  SUBCASE("from $HTTPS_PROXY") {
    stand_in::connect_proxy proxy;
    proxy.start();
    auto options = f.trusting_options();
    options.env = fake_env({{"HTTPS_PROXY", proxy.url()}});
    const auto result = post(std::move(options), f.url());
    CHECK(response_of(result).status == 200);
    CHECK(proxy.tunnels() == 1);
  }
  SUBCASE("from $https_proxy") {
    stand_in::connect_proxy proxy;
    proxy.start();
    auto options = f.trusting_options();
    options.env = fake_env({{"https_proxy", proxy.url()}});
    const auto result = post(std::move(options), f.url());
    CHECK(response_of(result).status == 200);
    CHECK(proxy.tunnels() == 1);
  }
  CHECK(f.server.exchanges_for(test_key) == 1);
}

TEST_CASE("a proxy that wants Basic credentials") {
  fixture f;
  stand_in::connect_proxy proxy({{"alice", "p@ss:word"}});
  proxy.start();
  const std::string address = "127.0.0.1:" + std::to_string(proxy.port());
  auto options = f.trusting_options();

  SUBCASE("gets them from the URL's user info") {
    options.proxy = actoken::platform::secure_buffer("http://alice:p%40ss%3Aword@" + address);
    const auto result = post(std::move(options), f.url());
    CHECK(response_of(result).status == 200);
    CHECK(proxy.tunnels() == 1);
    CHECK(f.server.exchanges() == 1);
  }
  SUBCASE("refuses wrong ones: upstream_unavailable, nothing reaches the server") {
    options.proxy = actoken::platform::secure_buffer("http://alice:wrong@" + address);
    const auto result = post(std::move(options), f.url());
    const auto& error = error_of(result);
    CHECK(error.code == errc::upstream_unavailable);
    CHECK(error.message.find("407") != std::string::npos);
    CHECK(error.message.find("wrong") == std::string::npos);
    CHECK(proxy.tunnels() == 0);
    CHECK(f.server.exchanges() == 0);
  }
  SUBCASE("refuses none") {
    options.proxy = actoken::platform::secure_buffer("http://" + address);
    const auto result = post(std::move(options), f.url());
    CHECK(error_of(result).code == errc::upstream_unavailable);
    CHECK(proxy.tunnels() == 0);
  }
}

TEST_CASE("NO_PROXY bypasses the proxy") {
  fixture f;
  stand_in::connect_proxy proxy;
  proxy.start();
  auto options = f.trusting_options();
  SUBCASE("NO_PROXY with the proxy setting") {
    options.proxy = actoken::platform::secure_buffer(proxy.url());
    options.env = fake_env({{"NO_PROXY", "example.com,127.0.0.1"}});
  }
  SUBCASE("no_proxy with $HTTPS_PROXY") {
    options.env = fake_env({{"HTTPS_PROXY", proxy.url()}, {"no_proxy", "127.0.0.0/8"}});
  }
  const auto result = post(std::move(options), f.url());
  CHECK(response_of(result).status == 200);
  CHECK(proxy.tunnels() == 0);
  CHECK(f.server.exchanges() == 1);
}

TEST_CASE("an invalid proxy URL fails the exchanges it would carry, without echoing it") {
  fixture f;
  auto options = f.trusting_options();
  options.env = fake_env({{"HTTPS_PROXY", "socks5://user:hunter2@127.0.0.1:1080"}});
  SUBCASE("used") {
    const auto result = post(options, f.url());
    const auto& error = error_of(result);
    CHECK(error.code == errc::upstream_unavailable);
    CHECK(error.message.find("HTTPS_PROXY") != std::string::npos);
    CHECK(error.message.find("hunter2") == std::string::npos);
    CHECK(f.server.exchanges() == 0);
  }
  SUBCASE("bypassed by NO_PROXY") {
    options.env = fake_env(
        {{"HTTPS_PROXY", "socks5://user:hunter2@127.0.0.1:1080"}, {"NO_PROXY", "127.0.0.1"}});
    const auto result = post(options, f.url());
    CHECK(response_of(result).status == 200);
  }
}

TEST_CASE("a proxy that cannot be reached is upstream_unavailable") {
  fixture f;
  auto options = f.trusting_options();
  options.proxy =
      actoken::platform::secure_buffer("http://127.0.0.1:" + std::to_string(closed_port()));
  const auto result = post(std::move(options), f.url());
  CHECK(error_of(result).code == errc::upstream_unavailable);
  CHECK(f.server.exchanges() == 0);
}

TEST_CASE("one client serves several exchanges, reusing its TLS context") {
  fixture f;
  net::io_context io;
  upstream::auth_client client(io.get_executor(), f.trusting_options());
  const auto body = upstream::build_form_body({upstream::api_version::v3, test_key, "", ""});
  const auto server = f.url();
  int ok = 0;
  for (int i = 0; i < 3; ++i) {
    net::co_spawn(
        io,
        client.post_form(server, std::string(upstream::token_path(upstream::api_version::v3)), body,
                         5s),
        [&](std::exception_ptr e, upstream::post_result r) {
          if (!e && std::holds_alternative<upstream::raw_response>(r) &&
              std::get<upstream::raw_response>(r).status == 200) {
            ++ok;
          }
        });
  }
  io.run();
  CHECK(ok == 3);
  CHECK(f.server.exchanges() == 3);
}

TEST_CASE("the request reaches the server whole, in one TLS record, directly or through a proxy") {
  // SPEC §1: head and body written together, so no part of the request waits
  // for the server's delayed acknowledgement of another (issue 25: ~40 ms on
  // a third to a half of the exchanges).
  fixture f;
  stand_in::connect_proxy proxy;
  proxy.start();
  auto options = f.trusting_options();
  SUBCASE("direct") {}
  SUBCASE("through a proxy") { options.proxy = actoken::platform::secure_buffer(proxy.url()); }
  for (int i = 0; i < 3; ++i) {
    CHECK(response_of(post(options, f.url())).status == 200);
  }
  const auto requests = f.server.requests();
  REQUIRE(requests.size() == 3);
  for (const auto& request : requests) {
    CHECK(request.tls_records == 1);
    CHECK(request.form.at("personalAccessKey") == test_key);
  }
}

TEST_CASE("a failed handshake is upstream_tls only for verification or policy (SPEC §3)") {
  // The proxy says 200 and then plays the server's part itself; whatever it
  // does, nothing reaches the server and the key stays home.
  fixture f;
  stand_in::connect_proxy proxy;
  proxy.start();
  auto options = f.trusting_options();
  options.proxy = actoken::platform::secure_buffer(proxy.url());
  // A fatal TLS alert record, before any ServerHello.
  const auto alert = [](unsigned char description) {
    return std::string{
        '\x15', '\x03', '\x03', '\x00', '\x02', '\x02', static_cast<char>(description)};
  };
  stand_in::connect_proxy::inside_tunnel answer;
  errc expected = errc::upstream_unavailable;
  std::string says;
  SUBCASE("plain HTTP after CONNECT 200 (a filtering proxy or captive portal)") {
    answer.bytes =
        "HTTP/1.1 403 Forbidden\r\nContent-Type: text/html\r\nContent-Length: 30\r\n\r\n"
        "<html>Blocked by policy</html>";
    says = "the answer is not TLS";
  }
  SUBCASE("an unexpected alert: internal_error") {
    answer.bytes = alert(80);
    says = "internal error";
  }
  SUBCASE("a close before the server says a word") { says = "connection closed during the TLS"; }
  SUBCASE("a reset during the handshake") {
    answer.reset = true;
    says = "TLS handshake with 127.0.0.1:";
  }
  SUBCASE("the server offers nothing the policy accepts: handshake_failure") {
    answer.bytes = alert(40);
    expected = errc::upstream_tls;
    says = "offers nothing actoken accepts";
  }
  SUBCASE("the server insists on an older protocol: protocol_version") {
    answer.bytes = alert(70);
    expected = errc::upstream_tls;
    says = "offers nothing actoken accepts";
  }
  proxy.answer_inside_tunnel(answer);
  const auto result = post(options, f.url());
  const auto& error = error_of(result);
  CAPTURE(error.message);
  CHECK(actoken::code_name(error.code) == actoken::code_name(expected));
  CHECK(error.message.find(says) != std::string::npos);
  CHECK(error.message.find(test_key) == std::string::npos);
  CHECK(proxy.targets().size() == 1);
  CHECK(f.server.exchanges() == 0);
}
