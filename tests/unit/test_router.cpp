// The router, route by route, as a pure function: no sockets, a manual
// clock, a real token service with an exchanger that answers at once
// (tests/router_world.hpp, the HTTP fuzz target's world too).
#include "common/json_text.hpp"
#include "common/version.hpp"
#include "tests/router_world.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

using namespace actoken;
using namespace actoken::testing;
using json = nlohmann::json;

namespace {

json body_of(const api::api_response& response) {
  REQUIRE(response.content_type == "application/json");
  return json::parse(response.body);
}

// The answer, which must be there.
api::api_response ask(router_world& w, std::string_view method, std::string_view target,
                      const platform::peer_credentials& peer = root_peer,
                      std::string_view body = {}) {
  auto answer = w.answer(method, target, peer, body);
  REQUIRE(answer.has_value());
  return std::move(*answer);
}

// The error code of an error answer.
std::string error_of(const api::api_response& response) {
  return body_of(response).at("error").get<std::string>();
}

}  // namespace

TEST_CASE("GET /v1/token: a cached token is answered at once, without suspending") {
  router_world w;
  auto routed = w.router.handle({"GET", "/v1/token?org=acme", "", builder_peer});
  const auto* response = std::get_if<api::api_response>(&routed);
  REQUIRE(response != nullptr);
  CHECK(response->status == 200);
  const auto body = body_of(*response);
  CHECK(body["org"] == "acme");
  CHECK(body["sub_org"].is_null());
  CHECK(body["access_token"] == cached_jwt);
  CHECK(body["token_type"] == "Bearer");
  CHECK(body["source"] == "cache");
  CHECK(body["expires_in"] == 3600);
  CHECK(w.upstream->calls == 0);
}

TEST_CASE("GET /v1/token: a miss comes back to finish, and is answered from the exchange") {
  router_world w;
  w.clock.advance(2h);  // the cached token has expired
  auto routed = w.router.handle({"GET", "/v1/token?org=acme&min_ttl=120", "", builder_peer});
  REQUIRE(std::holds_alternative<api::pending_token>(routed));
  const auto answer = w.finish(std::get<api::pending_token>(std::move(routed)));
  REQUIRE(answer.has_value());
  CHECK(answer->status == 200);
  CHECK(body_of(*answer)["source"] == "exchange");
  CHECK(body_of(*answer)["access_token"] == exchanged_jwt);
  CHECK(w.upstream->calls == 1);
  CHECK(w.service.stats().cache_misses == 1);
}

TEST_CASE("GET /v1/token: the organization comes from org=, default_org, or the only one") {
  router_world w;
  CHECK(body_of(ask(w, "GET", "/v1/token"))["org"] == "acme");  // default_org
  w.router.set_settings({std::nullopt, 60s, router_config_file});
  CHECK(error_of(ask(w, "GET", "/v1/token")) == "bad_request");  // three organizations
  auto only = router_test_orgs();
  only.erase("beta");
  only.erase("gamma");
  w.service.set_orgs(only);
  CHECK(body_of(ask(w, "GET", "/v1/token"))["org"] == "acme");
}

TEST_CASE("GET /v1/token: settings pushed on reload apply to the next request") {
  router_world w;
  // The cached token has 3500 s left: a configured min_ttl of 3550 s misses
  // where the first one's 60 s hit.
  w.clock.advance(100s);
  CHECK(body_of(ask(w, "GET", "/v1/token"))["source"] == "cache");
  w.router.set_settings({"acme", 3550s, router_config_file});
  const auto answer = ask(w, "GET", "/v1/token");
  CHECK(answer.status == 200);
  CHECK(body_of(answer)["source"] == "exchange");
}

TEST_CASE("GET /v1/token: sub_org by alias or GUID (any case), else bad_request") {
  router_world w;
  const auto alias = body_of(ask(w, "GET", "/v1/token?org=acme&sub_org=mobile"));
  CHECK(alias["sub_org"] == "mobile");
  CHECK(alias["source"] == "cache");
  std::string upper = acme_sub_guid;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const auto guid = body_of(ask(w, "GET", "/v1/token?org=acme&sub_org=" + upper));
  CHECK(guid["sub_org"] == upper);   // as asked
  CHECK(guid["source"] == "cache");  // the same cache key as the alias
  CHECK(error_of(ask(w, "GET", "/v1/token?org=acme&sub_org=desktop")) == "bad_request");
}

TEST_CASE("GET /v1/token: what is refused before the token service is asked") {
  router_world w;
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"/v1/token?org=acme&min_ttl=86401", "bad_request"},
      {"/v1/token?org=acme&min_ttl=-1", "bad_request"},
      {"/v1/token?org=acme&fresh=maybe", "bad_request"},
      {"/v1/token?org=acme&colour=blue", "bad_request"},
      {"/v1/token?org=acme&org=beta", "bad_request"},  // repeated
      {"/v1/token?org=%zz", "bad_request"},            // malformed escape
      {"/v1/token?org=-acme", "bad_request"},          // not an organization name
      {"/v1/token?org=nosuch", "unknown_org"},
  };
  for (const auto& entry : cases) {
    const auto& target = entry.first;
    const auto& code = entry.second;
    CAPTURE(target);
    CHECK(error_of(ask(w, "GET", target)) == code);
  }
  CHECK(error_of(ask(w, "POST", "/v1/token?org=acme")) == "method_not_allowed");
  CHECK(w.upstream->calls == 0);
}

TEST_CASE("GET /v1/token: access, a missing key and an upstream failure") {
  router_world w;
  const auto forbidden = ask(w, "GET", "/v1/token?org=acme", stranger_peer);
  CHECK(forbidden.status == 403);
  CHECK(error_of(forbidden) == "forbidden");
  CHECK(body_of(forbidden)["message"] ==
        "uid 1002 may not use organization acme: add the user or one of its groups to "
        "organizations.acme.allow in /etc/actoken/actokend.json, then reload");
  CHECK(error_of(ask(w, "GET", "/v1/token?org=gamma")) == "no_key");
  const auto unavailable = ask(w, "GET", "/v1/token?org=beta", builder_peer);
  CHECK(unavailable.status == 503);
  CHECK(error_of(unavailable) == "upstream_unavailable");
  CHECK(unavailable.retry_after.has_value());
}

TEST_CASE("GET /v1/health") {
  router_world w;
  const auto health = ask(w, "GET", "/v1/health", stranger_peer);
  CHECK(health.status == 200);
  CHECK(body_of(health) == json{{"status", "ok"}, {"version", std::string(version)}});
  CHECK(error_of(ask(w, "PUT", "/v1/health")) == "method_not_allowed");
}

TEST_CASE("GET /v1/status: counters, and the status values pushed in") {
  router_world w;
  ask(w, "GET", "/v1/token?org=acme");
  w.control.cache = api::cache_file_info{"/var/cache/actoken/tokens", "ok", ""};
  w.router.set_last_reload({w.clock.wall_now(), false, "config: bad"});
  const auto status = body_of(ask(w, "GET", "/v1/status", stranger_peer));
  CHECK(status["version"] == std::string(version));
  CHECK(status["uptime_s"] == 3600);
  CHECK(status["orgs"] == 3);
  CHECK(status["cached_tokens"] == 2);
  CHECK(status["requests_total"] == 2);  // this one included
  CHECK(status["exchanges_total"] == 0);
  CHECK(status["connections"] == 3);
  CHECK(status["last_reload"]["ok"] == false);
  CHECK(status["last_reload"]["message"] == "config: bad");
  CHECK(status["cache_file"]["path"] == "/var/cache/actoken/tokens");
  CHECK(status["secure_memory"].is_string());
}

TEST_CASE("GET /metrics: Prometheus text with one miss per miss") {
  router_world w;
  ask(w, "GET", "/v1/token?org=acme");  // a hit
  w.clock.advance(2h);
  ask(w, "GET", "/v1/token?org=acme");  // a miss, exchanged
  ask(w, "GET", "/v1/nothing");
  const auto metrics = ask(w, "GET", "/metrics", stranger_peer);
  CHECK(metrics.status == 200);
  CHECK(metrics.content_type.starts_with("text/plain"));
  const auto& text = metrics.body;
  for (const auto* line : {
           "actoken_cache_hits_total 1\n",
           "actoken_cache_misses_total 1\n",
           "actoken_requests_total{endpoint=\"token\",code=\"200\"} 2\n",
           "actoken_requests_total{endpoint=\"other\",code=\"404\"} 1\n",
           "actoken_exchanges_total{org=\"acme\",result=\"ok\"} 1\n",
           "actoken_exchange_duration_seconds_bucket{le=\"0.05\"} 1\n",
           "actoken_exchange_duration_seconds_bucket{le=\"+Inf\"} 1\n",
           "actoken_exchange_duration_seconds_count 1\n",
           "# TYPE actoken_token_expires_in_seconds gauge\n",
           "actoken_connections 3\n",
       }) {
    CHECK_MESSAGE(text.find(line) != std::string::npos, line);
  }
}

TEST_CASE("GET /metrics: each organization's state as a state set, one sample per state") {
  router_world w;
  ask(w, "GET", "/v1/token?org=beta");  // unavailable: beta backs off
  const auto text = ask(w, "GET", "/metrics", stranger_peer).body;
  CHECK(text.find("# TYPE actoken_org_state gauge\n") != std::string::npos);
  const std::map<std::string, std::string> in_state{
      {"acme", "ok"}, {"beta", "backoff"}, {"gamma", "no_key"}};
  for (const auto& [org, now] : in_state) {
    for (const auto* state : {"ok", "no_key", "rejected", "backoff", "error"}) {
      const auto line = "actoken_org_state{org=\"" + org + "\",state=\"" + state + "\"} " +
                        (now == state ? "1" : "0") + "\n";
      CHECK_MESSAGE(text.find(line) != std::string::npos, line);
    }
  }
}

TEST_CASE("GET /v1/orgs: a peer sees the organizations it may use; an admin sees all") {
  router_world w;
  auto names = [&w](const platform::peer_credentials& peer) {
    std::string joined;
    const auto body = body_of(ask(w, "GET", "/v1/orgs", peer));  // kept: the loop reads into it
    for (const auto& org : body["orgs"]) {
      joined += (joined.empty() ? "" : ",") + org["name"].get<std::string>();
    }
    return joined;
  };
  CHECK(names(root_peer) == "acme,beta,gamma");
  CHECK(names(admin_peer) == "acme,beta,gamma");
  CHECK(names(builder_peer) == "acme,beta,gamma");  // acme by name, the others by group
  CHECK(names(stranger_peer) == "");
  // How many it may not see, so that "no organizations" is never said while some exist.
  CHECK(body_of(ask(w, "GET", "/v1/orgs", stranger_peer))["hidden"] == 3);
  CHECK(body_of(ask(w, "GET", "/v1/orgs", builder_peer))["hidden"] == 0);
  CHECK(body_of(ask(w, "GET", "/v1/orgs", admin_peer))["hidden"] == 0);  // admins see all
  auto acme_closed = router_test_orgs();
  auto acme_only_root = std::make_shared<org_settings>(*acme_closed["acme"]);
  acme_only_root->allow = principal_set{};
  acme_closed["acme"] = acme_only_root;
  w.service.set_orgs(acme_closed);
  CHECK(body_of(ask(w, "GET", "/v1/orgs", builder_peer))["hidden"] == 1);
  w.service.set_orgs(router_test_orgs());

  const auto orgs = body_of(ask(w, "GET", "/v1/orgs"))["orgs"];
  CHECK(orgs[0]["has_key"] == true);
  CHECK(orgs[0]["key_source"] == "key_dir");
  CHECK(orgs[0]["tokens"].size() == 2);
  CHECK(orgs[0]["tokens"][1]["sub_org"] == "mobile");
  CHECK(orgs[1]["api_version"] == "auto");
  CHECK(orgs[2]["state"] == "no_key");
  CHECK(orgs[2]["last_error"]["code"] == "no_key");
  CHECK(orgs[2]["last_error"]["at"].is_null());
}

TEST_CASE(
    "PUT /v1/orgs/{org}/key with verify: kept only after one good exchange, whose token is "
    "cached") {
  router_world w;
  // The exchanger refuses every organization but acme: delta's key is not kept.
  const std::string body = R"({"key": "delta-key", "persist": false, "verify": true})";
  auto routed = w.router.handle({"PUT", "/v1/orgs/delta/key", body, admin_peer});
  REQUIRE(std::holds_alternative<api::pending_key>(routed));
  auto refused = w.finish(std::get<api::pending_key>(std::move(routed)));
  REQUIRE(refused.has_value());
  CHECK(refused->status == 503);
  CHECK(error_of(*refused) == "upstream_unavailable");
  CHECK(body_of(*refused)["message"].get<std::string>().find("the new key was not kept") !=
        std::string::npos);
  CHECK(w.service.find_org("delta") == nullptr);
  CHECK(w.upstream->calls == 1);

  // acme's new key works: kept, and the token of its trial is what is served next.
  const auto before = w.upstream->calls;
  const auto put = ask(w, "PUT", "/v1/orgs/acme/key", admin_peer,
                       R"({"key": "acme-new-key", "persist": false, "verify": true})");
  CHECK(put.status == 200);
  CHECK(body_of(put) == json{{"org", "acme"}, {"persisted", false}, {"verified", true}});
  CHECK(w.service.find_org("acme")->key->view() == "acme-new-key");
  CHECK(w.upstream->calls == before + 1);
  const auto token = body_of(ask(w, "GET", "/v1/token?org=acme", builder_peer));
  CHECK(token["source"] == "cache");
  CHECK(token["access_token"] == exchanged_jwt);
  CHECK(w.upstream->calls == before + 1);

  // Only admins get as far as a trial; a body that is not valid never reaches one.
  CHECK(error_of(ask(w, "PUT", "/v1/orgs/acme/key", builder_peer, body)) == "forbidden");
  CHECK(error_of(ask(w, "PUT", "/v1/orgs/beta/key", admin_peer, body)) == "key_managed_by_config");
  CHECK(w.upstream->calls == before + 1);
}

namespace {

// acme with "mobile" for the stranger alone (an allow of its own), and
// `any_sub_org` as given.
void narrow_acme(router_world& w, bool any_sub_org) {
  auto orgs = router_test_orgs();
  auto acme = std::make_shared<org_settings>(*orgs["acme"]);
  acme->sub_organizations = {};
  acme->sub_organizations.add("mobile", {acme_sub_guid, principal_set{{}, {1002}, {}, {}}});
  acme->sub_organizations.any_sub_org = any_sub_org;
  orgs["acme"] = acme;
  w.service.set_orgs(orgs);
}

// The sub_org labels of acme's tokens in /v1/orgs as `peer` sees them ("-": the root token).
std::string acme_tokens(router_world& w, const platform::peer_credentials& peer) {
  const auto body = body_of(ask(w, "GET", "/v1/orgs", peer));
  std::string joined;
  for (const auto& org : body["orgs"]) {
    if (org["name"] != "acme") continue;
    for (const auto& token : org["tokens"]) {
      joined += (joined.empty() ? "" : ",") +
                (token["sub_org"].is_null() ? "-" : token["sub_org"].get<std::string>());
    }
  }
  return joined;
}

}  // namespace

TEST_CASE("GET /v1/token: a sub-organization with an allow of its own, by alias or GUID") {
  router_world w;
  narrow_acme(w, true);
  const auto upper = "/v1/token?org=acme&sub_org=9B2F6D1E-0000-4000-8000-000000000001";
  for (const auto* target : {"/v1/token?org=acme&sub_org=mobile", upper}) {
    CAPTURE(target);
    // The stranger's cached token, at once; builder (acme's allow) is refused.
    auto routed = w.router.handle({"GET", target, "", stranger_peer});
    const auto* hit = std::get_if<api::api_response>(&routed);
    REQUIRE(hit != nullptr);
    CHECK(hit->status == 200);
    CHECK(body_of(*hit)["access_token"] == cached_jwt);
    auto refused = w.router.handle({"GET", target, "", builder_peer});
    const auto* no = std::get_if<api::api_response>(&refused);
    REQUIRE(no != nullptr);
    CHECK(no->status == 403);
    CHECK(body_of(*no)["message"] ==
          "user builder (uid 1001) may not use sub-organization mobile of organization acme: add "
          "the user or one of its groups to organizations.acme.sub_organizations.mobile.allow in "
          "/etc/actoken/actokend.json, then reload");
    CHECK(no->body.find(cached_jwt) == std::string::npos);
  }
  CHECK(ask(w, "GET", "/v1/token?org=acme", stranger_peer).status == 403);
  CHECK(ask(w, "GET", "/v1/token?org=acme", builder_peer).status == 200);
  // An unlisted GUID follows acme's allow while any_sub_org is true.
  const auto unlisted = "/v1/token?org=acme&sub_org=9b2f6d1e-0000-4000-8000-0000000000ff";
  CHECK(ask(w, "GET", unlisted, stranger_peer).status == 403);
  CHECK(w.upstream->calls == 0);
  CHECK(ask(w, "GET", unlisted, builder_peer).status == 200);
  CHECK(w.upstream->calls == 1);

  // Flushing acme is the root token's rule: the stranger may not evict builder's tokens.
  CHECK(ask(w, "DELETE", "/v1/tokens?org=acme", stranger_peer).status == 403);
}

TEST_CASE("GET /v1/token: a mistyped alias gets the nearest alias the peer may use") {
  router_world w;
  const auto typo = ask(w, "GET", "/v1/token?org=acme&sub_org=mobil", builder_peer);
  CHECK(typo.status == 400);
  CHECK(body_of(typo)["message"] == "no sub-organization mobil in acme; did you mean mobile?");
  CHECK(body_of(ask(w, "GET", "/v1/token?org=acme&sub_org=desktop", builder_peer))["message"] ==
        "no sub-organization desktop in acme; its aliases you may use: mobile");
  // Not shaped like an alias (a pasted key?): not repeated.
  const auto odd = ask(w, "GET", "/v1/token?org=acme&sub_org=SeCrEt%2Bkey%3D", builder_peer);
  CHECK(odd.status == 400);
  CHECK(body_of(odd)["message"] == "sub_org of organization acme is neither an alias nor a GUID");
  // Only aliases the peer may use are suggested: mobile is now the stranger's alone.
  narrow_acme(w, true);
  CHECK(body_of(ask(w, "GET", "/v1/token?org=acme&sub_org=mobil", builder_peer))["message"] ==
        "no sub-organization mobil in acme; give a listed alias or a GUID");
  CHECK(body_of(ask(w, "GET", "/v1/token?org=acme&sub_org=mobil", stranger_peer))["message"] ==
        "no sub-organization mobil in acme; did you mean mobile?");
  CHECK(w.upstream->calls == 0);
}

TEST_CASE("GET /v1/token: any_sub_org false refuses an unlisted GUID at once, to root too") {
  router_world w;
  narrow_acme(w, false);
  for (const auto& peer : {root_peer, builder_peer, stranger_peer}) {
    CAPTURE(peer.uid);
    auto routed = w.router.handle(
        {"GET", "/v1/token?org=acme&sub_org=9b2f6d1e-0000-4000-8000-0000000000ff", "", peer});
    const auto* response = std::get_if<api::api_response>(&routed);
    REQUIRE(response != nullptr);  // not a pending exchange
    CHECK(response->status == 403);
    CHECK(error_of(*response) == "forbidden");
  }
  CHECK(w.upstream->calls == 0);
  CHECK(ask(w, "GET", "/v1/token?org=acme&sub_org=mobile", root_peer).status == 200);
  CHECK(body_of(ask(w, "GET", "/v1/whoami", builder_peer))["orgs"][0]["any_sub_org"] == false);
}

TEST_CASE("GET /v1/orgs: a peer sees only the tokens it may get; an admin sees them all") {
  router_world w;
  narrow_acme(w, true);
  CHECK(acme_tokens(w, root_peer) == "-,mobile");
  CHECK(acme_tokens(w, admin_peer) == "-,mobile");
  CHECK(acme_tokens(w, builder_peer) == "-");
  CHECK(acme_tokens(w, stranger_peer) == "mobile");
  // The stranger sees acme (for mobile) and nothing else.
  const auto stranger_sees = body_of(ask(w, "GET", "/v1/orgs", stranger_peer));
  CHECK(stranger_sees["orgs"].size() == 1);
  CHECK(stranger_sees["hidden"] == 2);
  const auto who = body_of(ask(w, "GET", "/v1/whoami", stranger_peer));
  CHECK(who["orgs"] ==
        json::parse(R"([{"name":"acme","via":"sub_organizations.mobile.allow users: 1002",
      "root":false,"sub_orgs":[{"alias":"mobile","id":"9b2f6d1e-0000-4000-8000-000000000001",
      "via":"sub_organizations.mobile.allow users: 1002"}],"any_sub_org":false}])"));
}

TEST_CASE("PUT /v1/orgs/{org}/key: admins only, a valid body, not over a config key_file") {
  router_world w;
  const std::string body = R"({"key": "new-key", "persist": false})";
  CHECK(error_of(ask(w, "PUT", "/v1/orgs/acme/key", builder_peer, body)) == "forbidden");
  CHECK(error_of(ask(w, "PUT", "/v1/orgs/acme/key", admin_peer, "{}")) == "bad_request");
  CHECK(error_of(ask(w, "PUT", "/v1/orgs/beta/key", admin_peer, body)) == "key_managed_by_config");
  CHECK(error_of(ask(w, "PUT", "/v1/orgs/-x/key", admin_peer, body)) == "bad_request");
  const auto put = ask(w, "PUT", "/v1/orgs/delta/key", admin_peer, body);
  CHECK(put.status == 200);
  CHECK(body_of(put) == json{{"org", "delta"}, {"persisted", false}, {"verified", false}});
  CHECK(w.service.find_org("delta") != nullptr);
  // The org name is percent-decoded: "%61cme" is acme.
  CHECK(ask(w, "PUT", "/v1/orgs/%61cme/key", admin_peer, body).status == 200);
  CHECK(w.service.find_org("acme")->key->view() == "new-key");
  CHECK(error_of(ask(w, "GET", "/v1/orgs/acme/key", admin_peer)) == "method_not_allowed");
}

TEST_CASE("DELETE /v1/orgs/{org}/key") {
  router_world w;
  CHECK(error_of(ask(w, "DELETE", "/v1/orgs/acme/key", builder_peer)) == "forbidden");
  CHECK(error_of(ask(w, "DELETE", "/v1/orgs/nosuch/key")) == "unknown_org");
  CHECK(error_of(ask(w, "DELETE", "/v1/orgs/beta/key")) == "key_managed_by_config");
  const auto removed = ask(w, "DELETE", "/v1/orgs/acme/key");
  CHECK(body_of(removed) == json{{"org", "acme"}, {"removed", true}});
  CHECK(error_of(ask(w, "GET", "/v1/token?org=acme")) == "no_key");
}

TEST_CASE("DELETE /v1/tokens: everything for admins, one organization for its users") {
  router_world w;
  CHECK(error_of(ask(w, "DELETE", "/v1/tokens", builder_peer)) == "forbidden");
  CHECK(error_of(ask(w, "DELETE", "/v1/tokens?org=acme", stranger_peer)) == "forbidden");
  CHECK(error_of(ask(w, "DELETE", "/v1/tokens?org=nosuch")) == "unknown_org");
  CHECK(error_of(ask(w, "DELETE", "/v1/tokens?colour=blue")) == "bad_request");
  CHECK(body_of(ask(w, "DELETE", "/v1/tokens?org=acme", builder_peer))["evicted"] == 2);
  CHECK(body_of(ask(w, "DELETE", "/v1/tokens", admin_peer))["evicted"] == 0);
  CHECK(error_of(ask(w, "GET", "/v1/tokens")) == "method_not_allowed");
}

TEST_CASE("an unknown path is not_found, counted as endpoint \"other\"") {
  router_world w;
  const auto answer = ask(w, "GET", "/v2/token");
  CHECK(answer.status == 404);
  CHECK(error_of(answer) == "not_found");
  CHECK(ask(w, "GET", "/metrics")
            .body.find("actoken_requests_total{endpoint=\"other\",code=\"404\"} 1\n") !=
        std::string::npos);
}

TEST_CASE("forbidden: every refusal names the peer and what to edit, never a key") {
  router_world w;
  // An allowed user of acme, refused an organization of its own list.
  auto orgs = router_test_orgs();
  auto closed = std::make_shared<org_settings>(*orgs["acme"]);
  closed->name = "closed";
  closed->allow = principal_set{};
  orgs["closed"] = closed;
  w.service.set_orgs(orgs);
  const auto token = ask(w, "GET", "/v1/token?org=closed", builder_peer);
  CHECK(body_of(token)["message"] ==
        "user builder (uid 1001) may not use organization closed: add the user or one of its "
        "groups to organizations.closed.allow in /etc/actoken/actokend.json, then reload");
  const auto beta = ask(w, "GET", "/v1/token?org=beta", stranger_peer);
  CHECK(body_of(beta)["message"] ==
        "uid 1002 may not use organization beta: add the user or one of its groups to allow (or "
        "organizations.beta.allow for beta alone) in /etc/actoken/actokend.json, then reload");
  const std::string key_body = R"({"key": "new-key"})";
  const std::pair<api::api_response, std::string_view> admin_only[] = {
      {ask(w, "PUT", "/v1/orgs/acme/key", builder_peer, key_body),
       "user builder (uid 1001) may not change the key of organization acme: only admins may; "
       "add the user or one of its groups to admin in /etc/actoken/actokend.json, then reload"},
      {ask(w, "DELETE", "/v1/orgs/acme/key", builder_peer),
       "user builder (uid 1001) may not remove the key of organization acme: only admins may; "
       "add the user or one of its groups to admin in /etc/actoken/actokend.json, then reload"},
      {ask(w, "DELETE", "/v1/tokens", stranger_peer),
       "uid 1002 may not flush every organization's tokens: only admins may; add the user or "
       "one of its groups to admin in /etc/actoken/actokend.json, then reload"},
      {ask(w, "DELETE", "/v1/tokens?org=acme", stranger_peer),
       "uid 1002 may not use organization acme: add the user or one of its groups to "
       "organizations.acme.allow in /etc/actoken/actokend.json, then reload"},
      {ask(w, "POST", "/v1/reload", stranger_peer),
       "uid 1002 may not reload the daemon: only admins may; add the user or one of its groups "
       "to admin in /etc/actoken/actokend.json, then reload"},
  };
  for (const auto& entry : admin_only) {
    const auto& answer = entry.first;
    const auto& message = entry.second;
    CAPTURE(message);
    CHECK(answer.status == 403);
    CHECK(error_of(answer) == "forbidden");
    CHECK(body_of(answer)["message"] == message);
    CHECK(answer.body.find(acme_key) == std::string::npos);
    CHECK(answer.body.find("new-key") == std::string::npos);
  }
}

TEST_CASE("GET /v1/whoami: who the daemon takes the peer for, and what it may use by which rule") {
  router_world w;
  const auto builder = body_of(ask(w, "GET", "/v1/whoami", builder_peer));
  CHECK(builder["uid"] == 1001);
  CHECK(builder["user"] == "builder");
  CHECK(builder["gid"] == 1001);
  // The groups a rule names first, then the primary group, then the other
  // supplementary groups, each once; names learnt at load or null.
  CHECK(builder["groups"] == json::parse(R"([{"gid":2000,"name":"developers"},
                                             {"gid":1001,"name":null}])"));
  CHECK(builder["groups_total"] == 2);
  CHECK(builder["admin"] == false);
  const auto expected_orgs = json::parse(R"([
    {"name":"acme","via":"users: builder","root":true,
     "sub_orgs":[{"alias":"mobile","id":"9b2f6d1e-0000-4000-8000-000000000001",
                  "via":"users: builder"}],
     "any_sub_org":true},
    {"name":"beta","via":"allow (top level) groups: developers","root":true,"sub_orgs":[],
     "any_sub_org":true},
    {"name":"gamma","via":"allow (top level) groups: developers","root":true,"sub_orgs":[],
     "any_sub_org":true}])");
  CHECK(builder["orgs"] == expected_orgs);

  const auto stranger = body_of(ask(w, "GET", "/v1/whoami", stranger_peer));
  CHECK(stranger["uid"] == 1002);
  CHECK(stranger["user"].is_null());  // not learnt at load: no name-service call now
  CHECK(stranger["groups"] == json::parse(R"([{"gid":1002,"name":null}])"));
  CHECK(stranger["groups_total"] == 1);
  CHECK(stranger["admin"] == false);
  CHECK(stranger["orgs"] == json::array());

  // An admin by group manages keys but is on no allow list.
  const auto admin = body_of(ask(w, "GET", "/v1/whoami", admin_peer));
  CHECK(admin["admin"] == true);
  CHECK(admin["groups"][0]["name"] == "actoken-admin");
  CHECK(admin["orgs"] == json::array());

  const auto root = body_of(ask(w, "GET", "/v1/whoami", root_peer));
  CHECK(root["user"] == "root");
  CHECK(root["admin"] == true);
  REQUIRE(root["orgs"].size() == 3);
  for (const auto& org : root["orgs"]) CHECK(org["via"] == "admin");

  CHECK(error_of(ask(w, "POST", "/v1/whoami")) == "method_not_allowed");
  CHECK(ask(w, "GET", "/metrics")
            .body.find("actoken_requests_total{endpoint=\"whoami\",code=\"200\"} 4\n") !=
        std::string::npos);
}

TEST_CASE("GET /v1/whoami for a peer with 65,536 groups: at most 64, the rules' groups first") {
  router_world w;
  // A user of the developers (2000) and actoken-admin (2500) groups among
  // 65,536 (Linux's NGROUPS_MAX), the primary group one of them.
  std::vector<gid_t> groups;
  for (gid_t gid = 0; gid < 65536; ++gid) groups.push_back(gid);
  const platform::peer_credentials heavy{1005, 7, platform::sorted_groups(std::move(groups))};
  const auto answer = ask(w, "GET", "/v1/whoami", heavy);
  REQUIRE(answer.status == 200);
  // 64 entries, not a 1.7 MB list.
  CHECK(answer.body.size() < 4096);
  const auto body = body_of(answer);
  CHECK(body["groups_total"] == 65536);
  const auto& listed = body["groups"];
  REQUIRE(listed.size() == 64);
  CHECK(listed[0] == json{{"gid", 2000}, {"name", "developers"}});
  CHECK(listed[1] == json{{"gid", 2500}, {"name", "actoken-admin"}});
  CHECK(listed[2] == json{{"gid", 7}, {"name", nullptr}});
  std::vector<unsigned> rest;
  for (std::size_t i = 3; i < listed.size(); ++i) rest.push_back(listed[i]["gid"].get<unsigned>());
  std::vector<unsigned> expected;
  for (unsigned gid = 0; expected.size() < 61; ++gid) {
    if (gid != 7) expected.push_back(gid);
  }
  CHECK(rest == expected);
  CHECK(body["admin"] == true);
  CHECK(body["orgs"].size() == 2);  // beta and gamma, by the top-level allow's developers
}

TEST_CASE("sorted_groups: ascending, each once, whatever order the kernel gave") {
  CHECK(platform::sorted_groups({5, 3, 5, 1, 3}) == std::vector<gid_t>{1, 3, 5});
  CHECK(platform::sorted_groups({1, 2, 2, 9}) == std::vector<gid_t>{1, 2, 9});
  CHECK(platform::sorted_groups({}).empty());
}

TEST_CASE("POST /v1/reload: admins only; the outcome is answered with 200 either way") {
  router_world w;
  const auto refused = ask(w, "POST", "/v1/reload", builder_peer);
  CHECK(refused.status == 403);
  CHECK(error_of(refused) == "forbidden");
  CHECK(w.control.reloads == 0);

  w.control.next_reload = {w.clock.wall_now(), true, "reloaded"};
  const auto done = ask(w, "POST", "/v1/reload", admin_peer);
  CHECK(done.status == 200);
  CHECK(body_of(done) ==
        json{{"at", rfc3339(w.clock.wall_now())}, {"ok", true}, {"message", "reloaded"}});
  CHECK(w.control.reloads == 1);

  w.control.next_reload = {w.clock.wall_now(), false, "f.json: min_ttl: must be a number"};
  const auto broken = ask(w, "POST", "/v1/reload", root_peer);
  CHECK(broken.status == 200);
  CHECK(body_of(broken)["ok"] == false);
  CHECK(body_of(broken)["message"] == "f.json: min_ttl: must be a number");
  CHECK(w.control.reloads == 2);

  CHECK(error_of(ask(w, "GET", "/v1/reload")) == "method_not_allowed");
  CHECK(w.control.reloads == 2);
}

TEST_CASE("GET /v1/token: query edges: empty pairs, flags without a value, every flag spelling") {
  router_world w;
  for (const std::string_view target :
       {"/v1/token?&org=acme&&", "/v1/token?org=acme&fresh",
        "/v1/token?org=acme&fresh=", "/v1/token?org=acme&fresh=1", "/v1/token?org=acme&fresh=true",
        "/v1/token?org=acme&fresh=0", "/v1/token?org=acme&fresh=false", "/v1/token?org=acme&"}) {
    CAPTURE(target);
    CHECK(ask(w, "GET", target).status == 200);
  }
  for (const std::string_view target :
       {"/v1/token?org=acme&min_ttl=", "/v1/token?org=acme&min_ttl=5s", "/v1/token?=acme",
        "/v1/token?org=acme&=1", "/v1/token?org=acme&fresh=%zz"}) {
    CAPTURE(target);
    CHECK(error_of(ask(w, "GET", target)) == "bad_request");
  }
}
