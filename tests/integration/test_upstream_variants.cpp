// Auth servers as they are found in the wild (issue 4): legacy API versions
// and sub-organizations, CONNECT proxies from the config or the environment,
// and a server whose clock is an hour off. The real actokend against the
// stand-in auth server over real HTTPS on 127.0.0.1.
#include "tests/integration/integration_test.hpp"
#include "tests/integration/world.hpp"
#include "tests/stand_in/connect_proxy.hpp"
#include "tests/stand_in/encoding.hpp"

#include <doctest/doctest.h>

#include <stdlib.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace {

constexpr auto acme_id = "6f1c2a8e-0000-4000-8000-000000000001";

// A stand-in and a folder with its CA; the daemon starts when the test has
// added its organizations.
struct world : daemon_world {
  world() : daemon_world({.acme_key = false, .start_daemon = false}) {}

  // Registers a new key for `id` (with `subs`) at the stand-in and as key_dir/<org>.key.
  std::string add_org(const std::string& org, const std::string& id,
                      std::vector<std::string> subs = {}) {
    auto org_key = awkward_key();
    upstream.add_account(org_key, id, std::move(subs));
    dir.write("keys/" + org + ".key", org_key + "\n");
    return org_key;
  }

  // The stand-in's record of the requests made with `org_key` (either field name).
  std::vector<stand_in::recorded_request> requests_with(const std::string& org_key) const {
    std::vector<stand_in::recorded_request> out;
    for (auto& r : upstream.requests()) {
      const auto v3 = r.form.find("personalAccessKey");
      const auto legacy = r.form.find("pat");
      if ((v3 != r.form.end() && v3->second == org_key) ||
          (legacy != r.form.end() && legacy->second == org_key)) {
        out.push_back(r);
      }
    }
    return out;
  }
};

// The claims of a JWT (null when it does not decode).
json jwt_payload(const std::string& token) {
  const auto first = token.find('.');
  const auto second = token.find('.', first + 1);
  if (first == std::string::npos || second == std::string::npos) return nullptr;
  const auto text = stand_in::base64url_decode(token.substr(first + 1, second - first - 1));
  return text ? json::parse(*text, nullptr, false) : json(nullptr);
}

// Sets environment variables for this process and the daemons it starts;
// puts everything back when it goes.
class environment_guard {
 public:
  environment_guard() {
    // The proxy variables of whoever runs the tests must not leak in.
    for (const auto* name : {"HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"}) unset(name);
  }
  ~environment_guard() {
    for (const auto& [name, value] : saved_) {
      if (value) {
        ::setenv(name.c_str(), value->c_str(), 1);
      } else {
        ::unsetenv(name.c_str());
      }
    }
  }
  environment_guard(const environment_guard&) = delete;
  environment_guard& operator=(const environment_guard&) = delete;

  void set(const std::string& name, const std::string& value) {
    save(name);
    ::setenv(name.c_str(), value.c_str(), 1);
  }
  void unset(const std::string& name) {
    save(name);
    ::unsetenv(name.c_str());
  }

 private:
  void save(const std::string& name) {
    if (saved_.contains(name)) return;
    const char* value = ::getenv(name.c_str());
    saved_[name] = value != nullptr ? std::optional<std::string>(value) : std::nullopt;
  }
  std::map<std::string, std::optional<std::string>> saved_;
};

constexpr auto legacy_id = "6f1c2a8e-0000-4000-8000-00000000000a";
constexpr auto middle_id = "6f1c2a8e-0000-4000-8000-00000000000b";
constexpr auto middle_sub = "9b2f6d1e-0000-4000-8000-00000000000b";
constexpr auto probe_id = "6f1c2a8e-0000-4000-8000-00000000000c";
constexpr auto probe_sub = "9b2f6d1e-0000-4000-8000-00000000000c";

// Three organizations, one per api_version setting, against a stand-in whose
// v3 endpoint is gone (a self-hosted server of an older release).
struct versions_world : world {
  std::string legacy_key = add_org("legacy", legacy_id);
  std::string middle_key = add_org("middle", middle_id, {middle_sub});
  std::string probe_key = add_org("probe", probe_id, {probe_sub});

  versions_world() {
    auto b = upstream.get_behaviour();
    b.disabled_versions = {"v3"};
    upstream.set_behaviour(b);
    config["organizations"] = {
        {"legacy", {{"api_version", "v1"}}},
        {"middle", {{"api_version", "v2"}, {"sub_organizations", {{"mobile", middle_sub}}}}},
        {"probe", {{"api_version", "auto"}, {"sub_organizations", {{"mobile", probe_sub}}}}},
    };
    start();
  }
};

}  // namespace

TEST_CASE("api_version v1: /auth/v1/token with pat, and no sub-organizations") {
  versions_world w;
  const auto reply = w.daemon->get("/v1/token?org=legacy");
  REQUIRE(reply.status == 200);
  CHECK(jwt_payload(reply.json()["access_token"])["currentOrganizationId"] == legacy_id);
  const auto sent = w.requests_with(w.legacy_key);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].path == "/auth/v1/token");
  CHECK(sent[0].form.at("pat") == w.legacy_key);
  CHECK_FALSE(sent[0].form.contains("personalAccessKey"));
  CHECK_FALSE(sent[0].form.contains("subOrganization"));

  // A sub-organization on v1: 400 bad_request, and nothing sent.
  const auto sub = w.daemon->get(std::string("/v1/token?org=legacy&sub_org=") + middle_sub);
  CHECK(sub.status == 400);
  CHECK(sub.json()["error"] == "bad_request");
  CHECK(w.upstream.exchanges() == 1);
}

TEST_CASE(
    "api_version v2: pat and subOrganization; alias and GUID share a cache key apart from the "
    "root") {
  versions_world w;
  const auto root = w.daemon->get("/v1/token?org=middle").json();
  const auto by_alias = w.daemon->get("/v1/token?org=middle&sub_org=mobile").json();
  const auto by_guid = w.daemon->get(std::string("/v1/token?org=middle&sub_org=") + middle_sub);
  REQUIRE(by_guid.status == 200);

  CHECK(root["source"] == "exchange");
  CHECK(root["sub_org"].is_null());
  CHECK(by_alias["source"] == "exchange");
  CHECK(by_alias["sub_org"] == "mobile");
  CHECK(by_guid.json()["source"] == "cache");
  CHECK(by_guid.json()["access_token"] == by_alias["access_token"]);
  CHECK(by_alias["access_token"] != root["access_token"]);
  CHECK(jwt_payload(root["access_token"])["currentOrganizationId"] == middle_id);
  CHECK(jwt_payload(by_alias["access_token"])["currentOrganizationId"] == middle_sub);

  const auto sent = w.requests_with(w.middle_key);
  REQUIRE(sent.size() == 2);
  CHECK(sent[0].path == "/auth/v2/token");
  CHECK_FALSE(sent[0].form.contains("subOrganization"));
  CHECK(sent[1].path == "/auth/v2/token");
  CHECK(sent[1].form.at("pat") == w.middle_key);
  CHECK(sent[1].form.at("subOrganization") == middle_sub);

  // Both cache keys are listed, and the root token is still cached apart.
  CHECK(w.org_view("middle")["tokens"].size() == 2);
  CHECK(w.daemon->get("/v1/token?org=middle").json()["access_token"] == root["access_token"]);
  CHECK(w.upstream.exchanges() == 2);
}

TEST_CASE("api_version auto: v3 answers 404, v1 is used and remembered") {
  versions_world w;
  const auto first = w.daemon->get("/v1/token?org=probe");
  REQUIRE(first.status == 200);
  CHECK(jwt_payload(first.json()["access_token"])["currentOrganizationId"] == probe_id);
  auto sent = w.requests_with(w.probe_key);
  REQUIRE(sent.size() == 2);
  CHECK(sent[0].path == "/auth/v3/token");
  CHECK(sent[0].form.at("personalAccessKey") == w.probe_key);
  CHECK(sent[1].path == "/auth/v1/token");
  CHECK(sent[1].form.at("pat") == w.probe_key);

  const auto evicted = unix_request(w.daemon->socket(), "DELETE", "/v1/tokens?org=probe");
  CHECK(evicted.status == 200);
  CHECK(evicted.json()["evicted"] == 1);
  const auto second = w.daemon->get("/v1/token?org=probe");
  REQUIRE(second.status == 200);
  CHECK(second.json()["source"] == "exchange");
  sent = w.requests_with(w.probe_key);
  REQUIRE(sent.size() == 3);
  CHECK(sent[2].path == "/auth/v1/token");  // straight to v1
}

TEST_CASE("api_version auto: a sub-organization goes to v2, even after the root settled on v1") {
  versions_world w;
  REQUIRE(w.daemon->get("/v1/token?org=probe").status == 200);  // settles on v1
  const auto sub = w.daemon->get("/v1/token?org=probe&sub_org=mobile");
  REQUIRE(sub.status == 200);
  CHECK(jwt_payload(sub.json()["access_token"])["currentOrganizationId"] == probe_sub);
  const auto sent = w.requests_with(w.probe_key);
  REQUIRE(sent.size() == 3);  // v3 (404), v1, then v2
  CHECK(sent.back().path == "/auth/v2/token");
  CHECK(sent.back().form.at("subOrganization") == probe_sub);
}

TEST_CASE("api_version auto: a first request for a sub-organization falls back from v3 to v2") {
  versions_world w;
  const auto sub = w.daemon->get("/v1/token?org=probe&sub_org=mobile");
  REQUIRE(sub.status == 200);
  CHECK(jwt_payload(sub.json()["access_token"])["currentOrganizationId"] == probe_sub);
  const auto sent = w.requests_with(w.probe_key);
  REQUIRE(sent.size() == 2);
  CHECK(sent[0].path == "/auth/v3/token");
  CHECK(sent[0].form.at("subOrganization") == probe_sub);
  CHECK(sent[1].path == "/auth/v2/token");
  CHECK(sent[1].form.at("subOrganization") == probe_sub);
}

TEST_CASE("the proxy setting: the exchange goes through a CONNECT tunnel, NO_PROXY bypasses it") {
  environment_guard env;
  stand_in::connect_proxy proxy;
  proxy.start();
  world w;
  w.add_org("acme", acme_id);
  w.config["proxy"] = proxy.url();
  const auto target = "127.0.0.1:" + std::to_string(w.upstream.port());

  SUBCASE("through the proxy") {
    w.start();
    const auto reply = w.daemon->get("/v1/token?org=acme");
    CHECK(reply.status == 200);
    CHECK(proxy.tunnels() == 1);
    CHECK(proxy.targets() == std::vector<std::string>{target});
    CHECK(w.upstream.successful_exchanges() == 1);
  }
  SUBCASE("NO_PROXY names the auth server") {
    env.set("NO_PROXY", "localhost,127.0.0.1");
    w.start();
    const auto reply = w.daemon->get("/v1/token?org=acme");
    CHECK(reply.status == 200);
    CHECK(proxy.tunnels() == 0);
    CHECK(proxy.targets().empty());
    CHECK(w.upstream.successful_exchanges() == 1);
  }
}

TEST_CASE("HTTPS_PROXY from the environment, with Basic credentials in the URL") {
  environment_guard env;
  // A password with characters that must be percent-encoded in the URL.
  const std::string password = "s3cr%t:@x";
  stand_in::connect_proxy proxy(std::pair<std::string, std::string>{"builder", password});
  proxy.start();
  world w;
  w.add_org("acme", acme_id);
  const auto port = std::to_string(proxy.port());

  SUBCASE("the right credentials") {
    env.set("HTTPS_PROXY", "http://builder:s3cr%25t%3A%40x@127.0.0.1:" + port);
    w.start();
    const auto reply = w.daemon->get("/v1/token?org=acme");
    CHECK(reply.status == 200);
    CHECK(proxy.tunnels() == 1);
    CHECK(w.upstream.successful_exchanges() == 1);
  }
  SUBCASE("wrong credentials: 503 upstream_unavailable, nothing reaches the auth server") {
    env.set("https_proxy", "http://builder:wrong-password@127.0.0.1:" + port);
    w.start();
    const auto reply = w.daemon->get("/v1/token?org=acme");
    CHECK(reply.status == 503);
    CHECK(reply.json()["error"] == "upstream_unavailable");
    CHECK(reply.json()["message"].get<std::string>().find("wrong-password") == std::string::npos);
    CHECK(proxy.targets().size() == 1);
    CHECK(proxy.tunnels() == 0);
    CHECK(w.upstream.exchanges() == 0);
  }
}

TEST_CASE("a server clock an hour off either way: the lifetime is read on our clock") {
  world w;
  const auto ahead_key = w.add_org("ahead", acme_id);
  const auto behind_key = w.add_org("behind", "6f1c2a8e-0000-4000-8000-000000000002");
  auto b = w.upstream.get_behaviour();
  b.send_expires_in = false;  // only the JWT's exp (in the server's time) tells the lifetime
  b.token_lifetime = std::chrono::seconds{600};
  w.upstream.set_behaviour(b);
  w.start();

  const auto expect_600 = [&](const std::string& org, std::int64_t skew) {
    const auto reply = w.daemon->get("/v1/token?org=" + org);
    REQUIRE(reply.status == 200);
    const auto left = reply.json()["expires_in"].get<std::int64_t>();
    CHECK(left >= 595);
    CHECK(left <= 600);
    const auto view = w.org_view(org);
    CHECK(view["clock_skew_s"].get<std::int64_t>() >= skew - 3);
    CHECK(view["clock_skew_s"].get<std::int64_t>() <= skew + 3);
    // Served from the cache afterwards (an expired-looking token would not be).
    CHECK(w.daemon->get("/v1/token?org=" + org).json()["source"] == "cache");
  };

  b.clock_offset = std::chrono::seconds{3600};
  w.upstream.set_behaviour(b);
  expect_600("ahead", 3600);
  b.clock_offset = std::chrono::seconds{-3600};
  w.upstream.set_behaviour(b);
  expect_600("behind", -3600);

  CHECK(w.upstream.exchanges_for(ahead_key) == 1);
  CHECK(w.upstream.exchanges_for(behind_key) == 1);
}
