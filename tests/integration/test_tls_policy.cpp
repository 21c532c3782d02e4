// The TLS policy of SPEC §1 "Transport" (issue 17), tried on real sockets: a
// server offering each weak choice — static-RSA key exchange, CBC suites, a
// certificate without subjectAltName, a partial wildcard, a renegotiation —
// is refused with `upstream_tls`, and the strong defaults (TLS 1.3, ECDHE with
// AES-GCM or ChaCha20-Poly1305 on TLS 1.2, a proper SAN, a full-label
// wildcard, a chain with an intermediate CA) are still accepted. The auth
// client talks to tls_test_server, which records every byte it decrypts;
// host names other than 127.0.0.1 are reached through its CONNECT preamble,
// so no DNS is needed. The last cases run the real daemon.

#include "daemon/upstream/auth_client.hpp"
#include "daemon/upstream/auth_codec.hpp"
#include "daemon/upstream/url.hpp"
#include "tests/integration/post_once.hpp"
#include "tests/integration/tls_test_server.hpp"
#include "tests/integration/world.hpp"
#include "tests/stand_in/jwt.hpp"
#include "tests/stand_in/pki.hpp"
#include "tests/test_env.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <doctest/doctest.h>

#include <chrono>
#include <exception>
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
using actoken::testing::tls_server_options;
using actoken::testing::tls_test_server;
using actoken::testing::tls_version;
using namespace std::chrono_literals;

// A key shaped like Appcircle's; what the server must never see in a refused case.
constexpr const char* test_key = "K3y+of/the=Test";
// The key as it travels in the form body (percent-encoded).
constexpr const char* test_key_in_form = "K3y%2Bof%2Fthe%3DTest";

actoken::env_lookup empty_env() {
  return [](const char* /*name*/) -> const char* { return nullptr; };
}

// A server with `options` and a client that trusts its CA.
struct fixture {
  actoken::testing::temp_dir dir;
  tls_test_server server;
  std::filesystem::path ca_file;

  explicit fixture(tls_server_options options) : server(std::move(options)) {}

  // POSTs a form with the key to `host` (127.0.0.1 directly; any other name
  // through the server's CONNECT preamble) and returns the outcome.
  upstream::post_result post(const std::string& ca_pem, const std::string& host = "127.0.0.1") {
    const auto ca_path = dir.write("ca.pem", ca_pem, 0644);
    upstream::auth_client_options options;
    options.ca_file = ca_path;
    options.env = empty_env();
    std::string base = server.url();
    if (host != "127.0.0.1") {
      options.proxy = actoken::platform::secure_buffer(server.proxy_url());
      base = "https://" + host + ":443";
    }
    const auto target = upstream::parse_url(base);
    REQUIRE(target);

    return actoken::testing::post_once(std::move(options), *target, test_key, 5000ms);
  }
};

tls_server_options offering(stand_in::test_pki pki, tls_version max,
                            std::string tls12_ciphers = "") {
  tls_server_options options;
  options.pki = std::move(pki);
  options.max_version = max;
  options.tls12_ciphers = std::move(tls12_ciphers);
  return options;
}

// The outcome must be upstream_tls, and not one byte may have reached the server.
void check_refused_before_any_byte(const upstream::post_result& result, const fixture& f) {
  const auto* error = std::get_if<failure>(&result);
  REQUIRE_MESSAGE(error != nullptr, "accepted: " << f.server.negotiated());
  CHECK(actoken::code_name(error->code) == "upstream_tls");
  CHECK(error->message.find(test_key) == std::string::npos);
  CHECK(f.server.received().empty());
  CHECK(f.server.answers() == 0);
}

void check_accepted(const upstream::post_result& result, const fixture& f) {
  const auto* error = std::get_if<failure>(&result);
  REQUIRE_MESSAGE(error == nullptr, (error ? error->message : std::string())
                                        << " / server: " << f.server.last_failure());
  CHECK(std::get<upstream::raw_response>(result).status == 200);
  CHECK(f.server.received().find(test_key_in_form) != std::string::npos);
}

stand_in::test_pki rsa_pki() {
  return stand_in::generate_pki_with({.leaf_key = stand_in::leaf_key_kind::rsa2048});
}

// The message names the policy when the server offers nothing it accepts.
void check_names_policy(const upstream::post_result& result) {
  const auto& message = std::get<failure>(result).message;
  CAPTURE(message);
  CHECK(message.find("offers nothing actoken accepts") != std::string::npos);
}

}  // namespace

TEST_CASE("TLS 1.2 with static-RSA key exchange is refused before the key is sent") {
  const auto pki = rsa_pki();
  SUBCASE("AES128-GCM-SHA256 (AEAD, but no forward secrecy)") {
    fixture f(offering(pki, tls_version::tls1_2, "AES128-GCM-SHA256"));
    const auto result = f.post(pki.ca_cert_pem);
    check_refused_before_any_byte(result, f);
    check_names_policy(result);
  }
  SUBCASE("AES256-SHA (and CBC)") {
    fixture f(offering(pki, tls_version::tls1_2, "AES256-SHA"));
    check_refused_before_any_byte(f.post(pki.ca_cert_pem), f);
  }
}

TEST_CASE("TLS 1.2 with CBC suites only is refused, ECDHE or not") {
  const auto pki = stand_in::generate_pki();
  fixture f(offering(pki, tls_version::tls1_2, "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA"));
  const auto result = f.post(pki.ca_cert_pem);
  check_refused_before_any_byte(result, f);
  check_names_policy(result);
}

TEST_CASE("a certificate without subjectAltName is refused, whatever its CN says") {
  const auto pki =
      stand_in::generate_pki_with({.hosts = {"abc.example.test"}, .subject_alt_name = false});
  auto options = offering(pki, tls_version::tls1_3);
  options.connect_preamble = true;
  fixture f(std::move(options));
  const auto result = f.post(pki.ca_cert_pem, "abc.example.test");
  check_refused_before_any_byte(result, f);
  CHECK(std::get<failure>(result).message.find("mismatch") != std::string::npos);
  // The client did reach the server through the preamble, by that name.
  CHECK(f.server.connect_targets() == std::vector<std::string>{"abc.example.test:443"});
}

TEST_CASE("a partial wildcard (a*.example.test) does not match abc.example.test") {
  const auto pki = stand_in::generate_pki_with({.hosts = {"a*.example.test"}});
  auto options = offering(pki, tls_version::tls1_3);
  options.connect_preamble = true;
  fixture f(std::move(options));
  const auto result = f.post(pki.ca_cert_pem, "abc.example.test");
  check_refused_before_any_byte(result, f);
  CHECK(std::get<failure>(result).message.find("mismatch") != std::string::npos);
}

TEST_CASE("a server that asks to renegotiate fails the exchange with a clear upstream_tls") {
  // The first handshake verified, so the request has gone to the right
  // server; the server's HelloRequest is refused (a no_renegotiation alert),
  // the server insists by aborting, and no answer is taken from it.
  const auto pki = stand_in::generate_pki();
  auto options = offering(pki, tls_version::tls1_2, "ECDHE-ECDSA-AES128-GCM-SHA256");
  options.renegotiate = true;
  fixture f(std::move(options));
  const auto result = f.post(pki.ca_cert_pem);
  const auto* error = std::get_if<failure>(&result);
  REQUIRE_MESSAGE(error != nullptr, "the renegotiation was followed; handshakes on the server: "
                                        << f.server.handshakes());
  CHECK(actoken::code_name(error->code) == "upstream_tls");
  CHECK(error->message.find("renegotiate") != std::string::npos);
  CHECK(error->message.find(test_key) == std::string::npos);
  CHECK(f.server.handshakes() == 1);
  CHECK(f.server.answers() == 0);
  // How the server's side ends (our no_renegotiation alert, or our close
  // first) depends on scheduling; the client's error above is what counts.
  MESSAGE("the server's side ended with: " << f.server.last_failure());
}

TEST_CASE("the strong defaults are accepted") {
  SUBCASE("TLS 1.3") {
    const auto pki = stand_in::generate_pki();
    auto options = offering(pki, tls_version::tls1_3);
    options.min_version = tls_version::tls1_3;
    fixture f(std::move(options));
    check_accepted(f.post(pki.ca_cert_pem), f);
    CHECK(f.server.negotiated().rfind("TLSv1.3 ", 0) == 0);
  }
  SUBCASE("TLS 1.2 ECDHE-ECDSA with AES-GCM") {
    const auto pki = stand_in::generate_pki();
    fixture f(offering(pki, tls_version::tls1_2, "ECDHE-ECDSA-AES128-GCM-SHA256"));
    check_accepted(f.post(pki.ca_cert_pem), f);
    CHECK(f.server.negotiated() == "TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256");
  }
  SUBCASE("TLS 1.2 ECDHE-ECDSA with ChaCha20-Poly1305") {
    const auto pki = stand_in::generate_pki();
    fixture f(offering(pki, tls_version::tls1_2, "ECDHE-ECDSA-CHACHA20-POLY1305"));
    check_accepted(f.post(pki.ca_cert_pem), f);
    CHECK(f.server.negotiated() == "TLSv1.2 ECDHE-ECDSA-CHACHA20-POLY1305");
  }
  SUBCASE("TLS 1.2 ECDHE-RSA with AES-256-GCM") {
    const auto pki = rsa_pki();
    fixture f(offering(pki, tls_version::tls1_2, "ECDHE-RSA-AES256-GCM-SHA384"));
    check_accepted(f.post(pki.ca_cert_pem), f);
    CHECK(f.server.negotiated() == "TLSv1.2 ECDHE-RSA-AES256-GCM-SHA384");
  }
  SUBCASE("a chain with an intermediate CA") {
    const auto pki = stand_in::generate_pki_with({.intermediate = true});
    fixture f(offering(pki, tls_version::tls1_3));
    check_accepted(f.post(pki.ca_cert_pem), f);
  }
  SUBCASE("a host name in subjectAltName") {
    const auto pki = stand_in::generate_pki_with({.hosts = {"abc.example.test"}});
    auto options = offering(pki, tls_version::tls1_3);
    options.connect_preamble = true;
    fixture f(std::move(options));
    check_accepted(f.post(pki.ca_cert_pem, "abc.example.test"), f);
  }
  SUBCASE("a full-label wildcard (*.example.test)") {
    const auto pki = stand_in::generate_pki_with({.hosts = {"*.example.test"}});
    auto options = offering(pki, tls_version::tls1_2, "ECDHE-ECDSA-AES256-GCM-SHA384");
    options.connect_preamble = true;
    fixture f(std::move(options));
    check_accepted(f.post(pki.ca_cert_pem, "abc.example.test"), f);
  }
}

TEST_CASE("through the daemon: a weak server is upstream_tls with nothing of the key sent") {
  // The daemon adds what the auth client does not: the error code a caller
  // sees, and the organization resting in "error" until a reload.
  const auto pki = rsa_pki();
  tls_test_server weak(offering(pki, tls_version::tls1_2, "AES128-GCM-SHA256"));
  actoken::testing::daemon_world w({.start_daemon = false});
  w.config["auth_url"] = weak.url();
  w.config["ca_file"] = w.dir.write("weak-ca.pem", pki.ca_cert_pem, 0644).string();
  w.start();
  const auto reply = w.daemon->get("/v1/token?org=acme");
  CHECK(reply.status == 502);
  CHECK(reply.json()["error"] == "upstream_tls");
  CHECK(reply.body.find(w.key) == std::string::npos);
  CHECK(weak.connections() == 1);
  CHECK(weak.received().empty());
  CHECK(w.org_view("acme")["state"] == "error");
}

TEST_CASE("through the daemon: a chain with an intermediate CA serves a token") {
  const auto pki = stand_in::generate_pki_with({.intermediate = true});
  const auto now = std::chrono::system_clock::now();
  const auto seconds = [](auto t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
  };
  auto options = offering(pki, tls_version::tls1_3);
  options.response_body = R"({"access_token":")" +
                          stand_in::sign_jwt({.subject = "intermediate",
                                              .organization_id = actoken::testing::acme_org_id,
                                              .issued_at = seconds(now),
                                              .expires_at = seconds(now + 1h),
                                              .token_id = "chain-1"},
                                             "secret") +
                          R"("})";
  tls_test_server strong(std::move(options));
  actoken::testing::daemon_world w({.start_daemon = false});
  w.config["auth_url"] = strong.url();
  w.config["ca_file"] = w.dir.write("chain-ca.pem", pki.ca_cert_pem, 0644).string();
  w.start();
  const auto reply = w.daemon->get("/v1/token?org=acme");
  CHECK(reply.status == 200);
  CHECK(reply.json()["source"] == "exchange");
  CHECK(strong.answers() == 1);
}

TEST_CASE("an RSA-1024 or SHA-1 leaf is refused, even where openssl.cnf says @SECLEVEL=0") {
  // SPEC §1: security level 2 whatever the system's configuration says. An
  // OPENSSL_CONF that lowers the level for every program (as some do for one
  // legacy server) must not let the daemon send a key to a server whose
  // certificate a level-0 client would take.
  stand_in::test_pki pki;
  std::string says;
  SUBCASE("an RSA-1024 key") {
    pki = stand_in::generate_pki_with({.leaf_key = stand_in::leaf_key_kind::rsa1024});
    says = "key too weak";
  }
  SUBCASE("a SHA-1 signature") {
    pki = stand_in::generate_pki_with({.leaf_signature = stand_in::leaf_digest::sha1});
    says = "too weak";
  }
  tls_test_server weak(offering(pki, tls_version::tls1_3));
  actoken::testing::daemon_world w({.start_daemon = false});
  const auto conf = w.dir.write("openssl.cnf",
                                "openssl_conf = openssl_init\n"
                                "[openssl_init]\nssl_conf = ssl_sect\n"
                                "[ssl_sect]\nsystem_default = system_default_sect\n"
                                "[system_default_sect]\nCipherString = DEFAULT@SECLEVEL=0\n",
                                0644);
  w.config["auth_url"] = weak.url();
  w.config["ca_file"] = w.dir.write("weak-ca.pem", pki.ca_cert_pem, 0644).string();
  {
    const actoken::testing::scoped_env level_zero("OPENSSL_CONF", conf.c_str());
    w.start();  // the daemon reads the variable when OpenSSL starts in it
  }
  const auto reply = w.daemon->get("/v1/token?org=acme");
  CHECK(reply.status == 502);
  CHECK(reply.json()["error"] == "upstream_tls");
  const auto message = reply.json()["message"].get<std::string>();
  CHECK_MESSAGE(message.find(says) != std::string::npos, message);
  CHECK(weak.connections() == 1);
  CHECK(weak.received().empty());
  CHECK(weak.answers() == 0);
}
