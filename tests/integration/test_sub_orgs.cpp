// Least privilege for sub-organizations (SPEC §4, issue 16), end to end: one
// root key on a shared host, each team's runners reaching only their own
// sub-organization, the root token for admins only. The real actokend runs as
// root; each peer is a child that drops to another uid (nobody, uids without a
// passwd entry, a process carrying a supplementary group set by setgroups)
// before it connects. The stand-in counts exchanges: a refusal makes none.
#include "tests/integration/integration_test.hpp"
#include "tests/integration/peers.hpp"
#include "tests/integration/world.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

namespace {

constexpr auto mobile_id = "9b2f6d1e-0000-4000-8000-0000000000a1";
constexpr auto web_id = "9b2f6d1e-0000-4000-8000-0000000000a2";
constexpr auto data_id = "9b2f6d1e-0000-4000-8000-0000000000a3";
constexpr auto shared_id = "9b2f6d1e-0000-4000-8000-0000000000a4";
constexpr auto unlisted_id = "9b2f6d1e-0000-4000-8000-0000000000ff";

// Groups by number only: no test here edits /etc/group (test_access does,
// and may run at the same time).
constexpr gid_t admins_gid = 40510;
constexpr gid_t web_team_gid = 40520;

const identity root_user{0, 0, {}};
// The mobile team's runner: nobody, named by user name in the config.
const identity nobody{65534, 65534, {}};
// The data team's runner: a uid with no passwd entry, named by number.
const identity data_runner{40001, 40001, {}};
// The web team's runner: let in only by a supplementary group its process carries.
const identity web_runner{40002, 40002, {web_team_gid}};
const identity web_runner_bare{40002, 40002, {}};
// An admin: acme's own allow names the admins' group (a supplementary group too).
const identity admin{40003, 40003, {admins_gid}};

// acme on a three-team host: its allow is the admins', each team's
// sub-organization has an allow of its own, `shared` has none.
json three_team_config(bool any_sub_org = true) {
  auto config = json::parse(R"({
    "socket_mode": "0666",
    "organizations": {"acme": {
      "allow": {"groups": [40510]},
      "sub_organizations": {
        "mobile": {"id": "9B2F6D1E-0000-4000-8000-0000000000A1", "allow": {"users": ["nobody"]}},
        "web": {"id": "9b2f6d1e-0000-4000-8000-0000000000a2", "allow": {"groups": [40520]}},
        "data": {"id": "9b2f6d1e-0000-4000-8000-0000000000a3", "allow": {"users": [40001]}},
        "shared": "9b2f6d1e-0000-4000-8000-0000000000a4"}}}})");
  config["organizations"]["acme"]["any_sub_org"] = any_sub_org;
  return config;
}

// The stand-in lets acme's key reach every sub-organization, listed or not:
// what a peer gets is up to the daemon alone.
struct host : daemon_world {
  explicit host(const json& settings) : daemon_world({.config = settings}) {
    upstream.add_account(key, acme_org_id, {mobile_id, web_id, data_id, shared_id, unlisted_id});
  }

  http_reply as(const identity& who, const std::string& target) const {
    return request_as(who, socket(), "GET", target);
  }
  std::string token(const identity& who, const std::string& sub_org) const {
    const auto reply = as(who, "/v1/token?org=acme&sub_org=" + sub_org);
    REQUIRE_MESSAGE(reply.status == 200, reply.body);
    return reply.json()["access_token"].get<std::string>();
  }
};

// What each peer may get: the root token, and the sub-organizations by alias.
struct expectation {
  const char* who_name;
  identity who;
  bool root, mobile, web, data, shared, unlisted;
};

const expectation expectations[] = {
    {"root", root_user, true, true, true, true, true, true},
    {"nobody (mobile team)", nobody, false, true, false, false, false, false},
    {"uid 40001 (data team)", data_runner, false, false, false, true, false, false},
    {"uid 40002 with group 40520 (web team)", web_runner, false, false, true, false, false, false},
    {"uid 40002 without its group", web_runner_bare, false, false, false, false, false, false},
    {"uid 40003 with group 40510 (admins)", admin, true, false, false, false, true, true},
};

// The sub_org labels in a /v1/orgs answer's acme tokens ("-" for the root
// token), sorted and comma-separated.
std::string token_labels(const http_reply& reply) {
  REQUIRE(reply.status == 200);
  const auto body = reply.json();
  std::set<std::string> labels;
  for (const auto& org : body.at("orgs")) {
    if (org.at("name") != "acme") continue;
    for (const auto& token : org.at("tokens")) {
      labels.insert(token.at("sub_org").is_null() ? "-" : token.at("sub_org").get<std::string>());
    }
  }
  std::string joined;
  for (const auto& label : labels) joined += (joined.empty() ? "" : ",") + label;
  return joined;
}

}  // namespace

TEST_CASE("each peer gets exactly the tokens its rules give; refusals make no upstream call") {
  host w(three_team_config());
  // Every cache key once, by root: the rest is served from the cache, or refused.
  const std::map<std::string, std::string> targets{
      {"root", "/v1/token?org=acme"},
      {"mobile", "/v1/token?org=acme&sub_org=mobile"},
      {"web", "/v1/token?org=acme&sub_org=web"},
      {"data", "/v1/token?org=acme&sub_org=data"},
      {"shared", "/v1/token?org=acme&sub_org=shared"},
      {"unlisted", std::string("/v1/token?org=acme&sub_org=") + unlisted_id}};
  std::map<std::string, std::string> tokens;
  for (const auto& entry : targets) {
    const auto& name = entry.first;
    const auto& target = entry.second;
    const auto reply = w.daemon->get(target);
    REQUIRE_MESSAGE(reply.status == 200, name << ": " << reply.body);
    tokens[name] = reply.json()["access_token"].get<std::string>();
  }
  REQUIRE(w.upstream.exchanges() == 6);

  for (const auto& e : expectations) {
    CAPTURE(e.who_name);
    const std::pair<std::string, bool> cases[] = {{"root", e.root},     {"mobile", e.mobile},
                                                  {"web", e.web},       {"data", e.data},
                                                  {"shared", e.shared}, {"unlisted", e.unlisted}};
    for (const auto& entry : cases) {
      const auto& name = entry.first;
      const auto& allowed = entry.second;
      CAPTURE(name);
      const auto reply = w.as(e.who, targets.at(name));
      if (allowed) {
        CHECK(reply.status == 200);
        CHECK(reply.json()["access_token"] == tokens.at(name));
        CHECK(reply.json()["source"] == "cache");
      } else {
        CHECK(reply.status == 403);
        CHECK(reply.json()["error"] == "forbidden");
        for (const auto& [other, token] : tokens)
          CHECK(reply.body.find(token) == std::string::npos);
        CHECK(reply.body.find(w.key) == std::string::npos);
      }
    }
  }
  // Nothing was exchanged for anyone after root's six.
  CHECK(w.upstream.exchanges() == 6);
  // Refusals are logged without a token or the key.
  const auto log = w.daemon->log();
  CHECK(log.find(w.key) == std::string::npos);
  for (const auto& [name, token] : tokens) CHECK(log.find(token) == std::string::npos);
}

TEST_CASE("a listed sub-organization asked for by GUID is its alias's cache key and allow") {
  host w(three_team_config());
  // The mobile team, first by GUID (upper case): one exchange, then the alias is a hit.
  const auto by_guid =
      w.as(nobody, "/v1/token?org=acme&sub_org=9B2F6D1E-0000-4000-8000-0000000000A1");
  REQUIRE_MESSAGE(by_guid.status == 200, by_guid.body);
  CHECK(by_guid.json()["source"] == "exchange");
  CHECK(by_guid.json()["sub_org"] == "9B2F6D1E-0000-4000-8000-0000000000A1");  // as asked
  CHECK(w.upstream.requests().back().form.at("subOrganization") == mobile_id);
  const auto by_alias = w.as(nobody, "/v1/token?org=acme&sub_org=mobile");
  CHECK(by_alias.json()["source"] == "cache");
  CHECK(by_alias.json()["access_token"] == by_guid.json()["access_token"]);
  CHECK(w.upstream.exchanges() == 1);

  // Whoever the alias refuses, the GUID refuses, with the same message.
  const auto config = w.daemon->config_path().string();
  for (const auto& who : {data_runner, web_runner, admin}) {
    CAPTURE(who.uid);
    const auto alias = w.as(who, "/v1/token?org=acme&sub_org=mobile");
    const auto guid = w.as(who, std::string("/v1/token?org=acme&sub_org=") + mobile_id);
    CHECK(alias.status == 403);
    CHECK(guid.status == 403);
    CHECK(alias.json()["message"] == guid.json()["message"]);
    CHECK(alias.json()["message"] ==
          "uid " + std::to_string(who.uid) +
              " may not use sub-organization mobile of organization acme: add the user or one of "
              "its groups to organizations.acme.sub_organizations.mobile.allow in " +
              config + ", then reload");
  }
  // The web team asks for the root token: acme's own list is the admins'.
  CHECK(w.as(web_runner, "/v1/token?org=acme").json()["message"] ==
        "uid 40002 may not use organization acme: add the user or one of its groups to "
        "organizations.acme.allow in " +
            config + ", then reload");
  // A label that is neither alias nor GUID: a bad request for a peer that uses
  // acme, forbidden for one that uses nothing of it (told nothing of its aliases).
  CHECK(w.as(web_runner, "/v1/token?org=acme&sub_org=nope").status == 400);
  CHECK(w.as(web_runner_bare, "/v1/token?org=acme&sub_org=nope").status == 403);
  CHECK(w.upstream.exchanges() == 1);

  // The CLI as the teams: exit 0 with the token, exit 4 refused.
  std::string out;
  std::string err;
  CHECK(cli_as(nobody, w.socket(), {"token", "acme", "--sub-org", "mobile"}, &out) == 0);
  CHECK(out == by_guid.json()["access_token"].get<std::string>() + "\n");
  CHECK(cli_as(data_runner, w.socket(), {"token", "acme", "--sub-org", "mobile"}, &out, &err) == 4);
  CHECK(out.empty());
  CHECK(err.find("may not use sub-organization mobile of organization acme") != std::string::npos);
  CHECK(w.upstream.exchanges() == 1);
}

TEST_CASE(
    "any_sub_org false: an unlisted GUID is forbidden to everyone, without an upstream call") {
  host w(three_team_config(/*any_sub_org=*/false));
  const auto config = w.daemon->config_path().string();
  const auto target = std::string("/v1/token?org=acme&sub_org=") + unlisted_id;
  for (const auto& who : {root_user, admin, nobody, data_runner, web_runner}) {
    CAPTURE(who.uid);
    const auto reply = w.as(who, target);
    CHECK(reply.status == 403);
    CHECK(reply.json()["error"] == "forbidden");
    CHECK(reply.json()["message"].get<std::string>().find(
              std::string("may not use sub-organization ") + unlisted_id +
              " of organization acme: it is not listed in organizations.acme.sub_organizations "
              "and any_sub_org is false; list it there, with an allow naming the user or one of "
              "its groups, in " +
              config + ", then reload") != std::string::npos);
  }
  CHECK(w.as(root_user, target)
            .json()["message"]
            .get<std::string>()
            .starts_with("user root (uid 0) may not use sub-organization "));
  CHECK(w.upstream.exchanges() == 0);
  // What is listed still follows its rules; the root token is not a sub-organization.
  CHECK(w.as(admin, "/v1/token?org=acme").status == 200);
  CHECK(w.as(admin, "/v1/token?org=acme&sub_org=shared").status == 200);
  CHECK(w.as(nobody, "/v1/token?org=acme&sub_org=mobile").status == 200);
  CHECK(w.upstream.exchanges() == 3);
  CHECK(w.as(admin, "/v1/whoami").json()["orgs"][0]["any_sub_org"] == false);
  CHECK(w.as(root_user, "/v1/whoami").json()["orgs"][0]["any_sub_org"] == false);
}

TEST_CASE("/v1/orgs shows each peer only the tokens it may get; /v1/whoami says which and why") {
  host w(three_team_config());
  for (const auto* target :
       {"/v1/token?org=acme", "/v1/token?org=acme&sub_org=mobile", "/v1/token?org=acme&sub_org=web",
        "/v1/token?org=acme&sub_org=data", "/v1/token?org=acme&sub_org=shared",
        "/v1/token?org=acme&sub_org=9b2f6d1e-0000-4000-8000-0000000000ff"}) {
    REQUIRE(w.daemon->get(target).status == 200);
  }
  CHECK(token_labels(w.as(root_user, "/v1/orgs")) ==
        std::string("-,") + unlisted_id + ",data,mobile,shared,web");
  CHECK(token_labels(w.as(nobody, "/v1/orgs")) == "mobile");
  CHECK(token_labels(w.as(data_runner, "/v1/orgs")) == "data");
  CHECK(token_labels(w.as(web_runner, "/v1/orgs")) == "web");
  CHECK(token_labels(w.as(admin, "/v1/orgs")) == std::string("-,") + unlisted_id + ",shared");
  // A peer that may use nothing of acme does not see it at all.
  const auto bare = w.as(web_runner_bare, "/v1/orgs").json();
  CHECK(bare["orgs"] == json::array());
  CHECK(bare["hidden"] == 1);
  CHECK(w.as(nobody, "/v1/orgs").json()["hidden"] == 0);

  // whoami: the root token, the usable sub-organizations by their rule, any_sub_org.
  const auto nobody_is = w.as(nobody, "/v1/whoami").json();
  CHECK(nobody_is["orgs"] == json::parse(std::string(R"([{"name":"acme",
      "via":"sub_organizations.mobile.allow users: nobody","root":false,
      "sub_orgs":[{"alias":"mobile","id":")") +
                                         mobile_id + R"(",
                   "via":"sub_organizations.mobile.allow users: nobody"}],
      "any_sub_org":false}])"));
  const auto web_is = w.as(web_runner, "/v1/whoami").json();
  CHECK(web_is["user"].is_null());
  // The group a rule names first, then the primary group.
  CHECK(web_is["groups"] ==
        json::parse(R"([{"gid":40520,"name":null},{"gid":40002,"name":null}])"));
  CHECK(web_is["orgs"][0]["root"] == false);
  CHECK(web_is["orgs"][0]["sub_orgs"] ==
        json::parse(std::string(R"([{"alias":"web","id":")") + web_id +
                    R"(","via":"sub_organizations.web.allow groups: 40520"}])"));
  const auto data_is = w.as(data_runner, "/v1/whoami").json();
  CHECK(data_is["orgs"][0]["sub_orgs"][0]["alias"] == "data");
  CHECK(data_is["orgs"][0]["sub_orgs"][0]["via"] == "sub_organizations.data.allow users: 40001");
  CHECK(data_is["orgs"][0]["sub_orgs"].size() == 1);
  const auto admin_is = w.as(admin, "/v1/whoami").json();
  CHECK(admin_is["orgs"] == json::parse(std::string(R"([{"name":"acme","via":"groups: 40510",
      "root":true,"sub_orgs":[{"alias":"shared","id":")") +
                                        shared_id + R"(","via":"groups: 40510"}],
      "any_sub_org":true}])"));
  const auto root_is = w.as(root_user, "/v1/whoami").json();
  CHECK(root_is["orgs"][0]["root"] == true);
  CHECK(root_is["orgs"][0]["sub_orgs"].size() == 4);
  for (const auto& sub : root_is["orgs"][0]["sub_orgs"]) CHECK(sub["via"] == "admin");
  CHECK(w.as(web_runner_bare, "/v1/whoami").json()["orgs"] == json::array());

  // The CLI shows them.
  std::string out;
  CHECK(cli_as(nobody, w.socket(), {"whoami"}, &out) == 0);
  CHECK(out.find("acme  sub_organizations.mobile.allow users: nobody (no root token)  mobile\n") !=
        std::string::npos);
  CHECK(cli_as(admin, w.socket(), {"whoami"}, &out) == 0);
  CHECK(out.find("acme  groups: 40510  shared, any other GUID\n") != std::string::npos);
  CHECK(cli_as(web_runner, w.socket(), {"--json", "orgs"}, &out) == 0);
  CHECK(json::parse(out)["orgs"][0]["tokens"].size() == 1);
}

TEST_CASE("a reload that changes a sub-organization's allow takes effect at once, tokens kept") {
  host w(three_team_config());
  const auto mobile = w.token(nobody, "mobile");
  const auto data = w.token(data_runner, "data");
  REQUIRE(w.upstream.exchanges() == 2);
  CHECK(w.as(data_runner, "/v1/token?org=acme&sub_org=mobile").status == 403);

  // mobile moves from nobody to the data team's uid; data gains the admins' group.
  auto config = json::parse(slurp(w.daemon->config_path()));
  auto& subs = config["organizations"]["acme"]["sub_organizations"];
  subs["mobile"]["allow"] = {{"users", {40001}}};
  subs["data"]["allow"]["groups"] = {admins_gid};
  std::ofstream(w.daemon->config_path(), std::ios::trunc) << config.dump();
  w.daemon->reload();
  REQUIRE(w.daemon->get("/v1/status").json()["last_reload"]["ok"] == true);

  CHECK(w.as(nobody, "/v1/token?org=acme&sub_org=mobile").status == 403);
  CHECK(w.as(nobody, std::string("/v1/token?org=acme&sub_org=") + mobile_id).status == 403);
  const auto moved = w.as(data_runner, "/v1/token?org=acme&sub_org=mobile").json();
  CHECK(moved["access_token"] == mobile);  // the cached token, not a new one
  CHECK(moved["source"] == "cache");
  CHECK(w.token(admin, "data") == data);
  CHECK(w.token(data_runner, "data") == data);
  CHECK(w.upstream.exchanges() == 2);
  CHECK(token_labels(w.as(nobody, "/v1/orgs")) == "");
  CHECK(w.as(nobody, "/v1/orgs").json()["hidden"] == 1);
  CHECK(token_labels(w.as(data_runner, "/v1/orgs")) == "data,mobile");
}

TEST_CASE("--check-config: a sub-organization's allow names that resolve, its id, two allows") {
  const temp_dir dir;
  const auto config = dir.write("actokend.json", R"({"organizations": {"acme": {
      "sub_organizations": {
        "mobile": {"id": "9b2f6d1e-0000-4000-8000-0000000000a1",
                   "allow": {"users": ["nobody", "no-such-user-actoken"],
                             "groups": ["no-such-group-actoken"]}}}}}})");
  const auto result = run_process({actokend_path(), "--check-config", "--config", config.string()});
  CHECK(result.exit_code == 1);
  const auto key = config.string() + ": organizations.acme.sub_organizations.mobile.allow";
  CHECK(result.err.find(key + ".users: no user named no-such-user-actoken; it matches nobody\n") !=
        std::string::npos);
  CHECK(
      result.err.find(key + ".groups: no group named no-such-group-actoken; it matches nobody\n") !=
      std::string::npos);
  CHECK(result.err.find("named nobody") == std::string::npos);  // it resolves

  const auto broken = dir.write("broken.json", R"({"organizations": {"acme": {
      "any_sub_org": 0,
      "sub_organizations": {
        "mobile": {"id": "9b2f6d1e-0000-4000-8000-0000000000a1", "allow": {"users": [0]}},
        "ios": {"id": "9b2f6d1e-0000-4000-8000-0000000000a1", "allow": {"users": [1]}},
        "web": {"id": "web-team"},
        "data": {"id": "9b2f6d1e-0000-4000-8000-0000000000a3", "owner": "data-team"}}}}})");
  const auto refused =
      run_process({actokend_path(), "--check-config", "--config", broken.string()});
  CHECK(refused.exit_code != 0);
  const auto subs = broken.string() + ": organizations.acme.sub_organizations.";
  CHECK(refused.err.find(broken.string() +
                         ": organizations.acme.any_sub_org: must be true or false") !=
        std::string::npos);
  CHECK(refused.err.find(subs + "mobile: lists 9b2f6d1e-0000-4000-8000-0000000000a1 as ios does, "
                                "with a different allow") != std::string::npos);
  CHECK(refused.err.find(subs + "web.id: must be an organization id in GUID form") !=
        std::string::npos);
  CHECK(refused.err.find(subs + "data.owner: unknown key") != std::string::npos);
}

namespace {

// The block marked `<!-- test: three-team-host -->` in a docs page.
std::string three_team_block(const std::filesystem::path& page) {
  const auto text = slurp(page);
  const std::string marker = "<!-- test: three-team-host -->\n```jsonc\n";
  const auto start = text.find(marker);
  REQUIRE_MESSAGE(start != std::string::npos, page.string() << " has no three-team-host block");
  const auto body = start + marker.size();
  const auto end = text.find("\n```", body);
  REQUIRE(end != std::string::npos);
  return text.substr(body, end - body);
}

// Replaces each group name of a principal list with its number in `gids`.
void number_groups(json& allow, const std::map<std::string, gid_t>& gids) {
  if (!allow.contains("groups")) return;
  for (auto& group : allow["groups"]) {
    if (group.is_string()) group = gids.at(group.get<std::string>());
  }
}

}  // namespace

// docs/configuration.md and docs/operations.md show the same three-team host;
// it runs here as written, but with its group names as numbers (this machine
// has no such groups) and the stand-in as its auth server.
TEST_CASE("the three-team host of the docs does what they say") {
  const auto source = std::filesystem::path(ACTOKEN_SOURCE_DIR);
  const auto block = three_team_block(source / "docs" / "configuration.md");
  CHECK(three_team_block(source / "docs" / "operations.md") == block);
  auto config = json::parse(block, nullptr, true, /*ignore_comments=*/true);

  // --check-config on the page's text: the only problems are its group names.
  {
    const temp_dir dir;
    const auto path = dir.write("actokend.json", block);
    dir.write("acme.key", "k\n");
    const auto checked =
        run_process({actokend_path(), "--check-config", "--config", path.string()});
    CHECK(checked.exit_code == 1);
    CHECK(checked.err.find("no group named ci-mobile") != std::string::npos);
    std::istringstream lines(checked.err);
    std::string line;
    while (std::getline(lines, line)) {
      if (line.empty()) continue;
      CAPTURE(line);
      CHECK(std::regex_search(line, std::regex(": no group named [a-z-]+; it matches nobody$")));
    }
  }

  const std::map<std::string, gid_t> gids{{"actoken-admin", admins_gid},
                                          {"ci-mobile", 40530},
                                          {"ci-web", web_team_gid},
                                          {"ci-data", 40540}};
  auto& acme = config.at("organizations").at("acme");
  number_groups(acme.at("allow"), gids);
  if (config.contains("admin")) number_groups(config["admin"], gids);
  std::map<std::string, std::string> ids;
  for (auto& [alias, sub] : acme.at("sub_organizations").items()) {
    number_groups(sub.at("allow"), gids);
    ids[alias] = sub.at("id").get<std::string>();
  }
  REQUIRE(ids.size() == 3);
  config["socket_mode"] = "0666";
  config.erase("socket_group");

  daemon_world w({.config = config, .start_daemon = false});
  std::vector<std::string> sub_ids;
  for (const auto& [alias, id] : ids) sub_ids.push_back(id);
  w.upstream.add_account(w.key, acme_org_id, sub_ids);
  w.dir.write(acme.at("key_file").get<std::string>(), w.key + "\n");
  w.start();

  const identity admin_peer{40003, 40003, {admins_gid}};
  const std::map<std::string, identity> runners{{"mobile", {40011, 40011, {40530}}},
                                                {"web", {40012, 40012, {web_team_gid}}},
                                                {"data", {40013, 40013, {40540}}}};
  for (const auto& entry : runners) {
    const auto& alias = entry.first;
    const auto& runner = entry.second;
    CAPTURE(alias);
    CHECK(request_as(runner, w.socket(), "GET", "/v1/token?org=acme&sub_org=" + alias).status ==
          200);
    CHECK(request_as(runner, w.socket(), "GET", "/v1/token?org=acme&sub_org=" + ids.at(alias))
              .status == 200);
    CHECK(request_as(runner, w.socket(), "GET", "/v1/token?org=acme").status == 403);
    for (const auto& [other, id] : ids) {
      if (other == alias) continue;
      CHECK(request_as(runner, w.socket(), "GET", "/v1/token?org=acme&sub_org=" + other).status ==
            403);
    }
    // Unlisted GUIDs are for nobody (any_sub_org false), admins included.
    CHECK(request_as(runner, w.socket(), "GET",
                     std::string("/v1/token?org=acme&sub_org=") + unlisted_id)
              .status == 403);
    // The admins may not use a team's sub-organization either.
    CHECK(request_as(admin_peer, w.socket(), "GET", "/v1/token?org=acme&sub_org=" + alias).status ==
          403);
  }
  CHECK(request_as(admin_peer, w.socket(), "GET", "/v1/token?org=acme").status == 200);
  CHECK(request_as(admin_peer, w.socket(), "GET",
                   std::string("/v1/token?org=acme&sub_org=") + unlisted_id)
            .status == 403);
  CHECK(w.upstream.exchanges() == 4);  // three teams' tokens and the root token
}

// SPEC §5: `appcircle-config` asks the daemon as its caller, so a team's job
// writes its own sub-organization's token into the Appcircle CLI's config, and
// is refused another's.
TEST_CASE("appcircle-config follows the caller's sub-organization rules") {
  host w(three_team_config());
  const temp_dir home;
  std::filesystem::permissions(home.path(), std::filesystem::perms(0755));
  const auto folder = home.path() / "nobody";
  std::filesystem::create_directory(folder);
  REQUIRE(::chown(folder.c_str(), nobody.uid, nobody.gid) == 0);
  std::filesystem::permissions(folder, std::filesystem::perms(0700));
  const auto file = folder / "config.json";

  std::string out;
  std::string err;
  CHECK(cli_as(nobody, w.socket(),
               {"appcircle-config", "acme", "--sub-org", "web", "--file", file.string()}, &out,
               &err) == 4);
  CHECK(err.find("may not use sub-organization web of organization acme") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(file));
  CHECK(w.upstream.exchanges() == 0);

  CHECK(cli_as(nobody, w.socket(),
               {"appcircle-config", "acme", "--sub-org", "mobile", "--file", file.string()}, &out,
               &err) == 0);
  CHECK_MESSAGE(std::filesystem::exists(file), err);
  CHECK(slurp(file).find(w.token(nobody, "mobile")) != std::string::npos);
  CHECK(w.upstream.exchanges() == 1);
}
