// The path production takes (SPEC §1 "Transport"): an auth_url with a host
// name, as `https://auth.appcircle.io` is. The name is resolved, sent as SNI
// and matched against the certificate's DNS names; an IP literal gets no SNI
// and is matched against iPAddress names only. Every other test talks to
// 127.0.0.1; here the stand-in's certificate names `localhost` (or another
// host) and nothing else.
#include "tests/integration/integration_test.hpp"
#include "tests/integration/world.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace {

// A stand-in on 127.0.0.1 whose certificate holds exactly `names`, acme's
// key, and a daemon that trusts the stand-in's CA and asks `auth_host`.
struct named_world {
  temp_dir dir;
  std::string key = awkward_key();
  stand_in::server upstream;
  std::optional<daemon_process> daemon;

  named_world(const std::vector<std::string>& names, const std::string& auth_host)
      : upstream({.pki = stand_in::generate_pki_with({.hosts = names})}) {
    upstream.add_account(key, acme_org_id);
    upstream.start();
    dir.write("keys/acme.key", key + "\n");
    stand_in::write_pki(upstream.pki(), dir.path() / "pki");
    daemon.emplace(
        dir, json{{"auth_url", "https://" + auth_host + ":" + std::to_string(upstream.port())},
                  {"ca_file", (dir.path() / "pki" / "ca.pem").string()}});
  }

  http_reply token() const { return daemon->get("/v1/token?org=acme"); }

  json org_view() const { return daemon->get("/v1/orgs").json()["orgs"][0]; }
};

}  // namespace

TEST_CASE("a host name: resolved, sent as SNI, matched against the certificate's DNS name") {
  named_world w({"localhost"}, "localhost");
  const auto reply = w.token();
  REQUIRE_MESSAGE(reply.status == 200, reply.body << w.daemon->log());
  CHECK(reply.json()["source"] == "exchange");
  CHECK(w.upstream.exchanges_for(w.key) == 1);
  CHECK(w.upstream.server_names() == std::vector<std::string>{"localhost"});
  CHECK(w.org_view()["auth_url"].get<std::string>().find("https://localhost:") == 0);
}

TEST_CASE("a host name in any letter case matches; the certificate's name decides, not the URL") {
  named_world w({"localhost"}, "LocalHost");
  const auto reply = w.token();
  CHECK_MESSAGE(reply.status == 200, reply.body);
  CHECK(w.upstream.exchanges_for(w.key) == 1);
}

TEST_CASE("a certificate for another name: upstream_tls, and nothing of the key is sent") {
  named_world w({"auth.example.test"}, "localhost");
  const auto reply = w.token();
  CHECK(reply.status == 502);
  CHECK(reply.json()["error"] == "upstream_tls");
  const auto message = reply.json()["message"].get<std::string>();
  CHECK(message.find("acme") != std::string::npos);
  CHECK(message.find(w.key) == std::string::npos);
  CHECK(w.upstream.exchanges() == 0);
  CHECK(w.org_view()["state"] == "error");
  CHECK(w.org_view()["last_error"]["code"] == "upstream_tls");
}

TEST_CASE("an IP literal: no SNI, and a certificate with only DNS names does not match it") {
  SUBCASE("the certificate names 127.0.0.1 as an iPAddress: accepted, without SNI") {
    named_world w({"127.0.0.1"}, "127.0.0.1");
    const auto reply = w.token();
    CHECK_MESSAGE(reply.status == 200, reply.body);
    CHECK(w.upstream.server_names() == std::vector<std::string>{""});
  }
  SUBCASE("the certificate names only localhost: refused") {
    named_world w({"localhost"}, "127.0.0.1");
    const auto reply = w.token();
    CHECK(reply.status == 502);
    CHECK(reply.json()["error"] == "upstream_tls");
    CHECK(w.upstream.exchanges() == 0);
  }
}
