// Who may use which organization (SPEC §4 "Access control"), end to end: the
// real actokend runs as root, and each peer is a child process that drops to
// another user (nobody, or a uid without a passwd entry) before it connects,
// so the daemon sees that user in SO_PEERCRED. Needs root, as CI runs.
#include "tests/integration/integration_test.hpp"
#include "tests/integration/peers.hpp"
#include "tests/integration/world.hpp"
#include "tests/test_skip.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

namespace {

const identity nobody{65534, 65534, {}};
// A uid and gid without passwd or group entries: matches nothing by name.
const identity stranger{40001, 40001, {}};
// Another unlisted uid whose primary group is nogroup.
const identity stranger_in_nogroup{40002, 65534, {}};

json open_to_all(const json& extra) {
  json config = {{"socket_mode", "0666"}};
  config.update(extra);
  return config;
}

// A stand-in with one account, and a daemon (as root) that trusts it, holds
// key_dir/acme.key and lets every user connect to its socket (mode 0666):
// what a peer may do is then up to the access policy alone.
struct world : daemon_world {
  explicit world(const json& extra = json::object())
      : daemon_world({.config = open_to_all(extra)}) {}

  http_reply as(const identity& who, const std::string& method, const std::string& target,
                const std::string& body = "") const {
    return request_as(who, socket(), method, target, body);
  }
};

// The names in a /v1/orgs answer, sorted and comma-separated (readable in failures).
std::string org_names(const http_reply& reply) {
  REQUIRE(reply.status == 200);
  const auto body = reply.json();  // kept: a range-for over a temporary's member dangles
  std::set<std::string> names;
  for (const auto& org : body.at("orgs")) names.insert(org.at("name").get<std::string>());
  std::string joined;
  for (const auto& name : names) joined += (joined.empty() ? "" : ",") + name;
  return joined;
}

// A user whose /etc/group entry lists it in a group other than its primary
// one, e.g. postgres in ssl-cert; nullopt when the machine has none.
struct listed_member {
  identity who;
  std::string group;
};
std::optional<listed_member> find_listed_member() {
  ::setgrent();
  std::optional<listed_member> found;
  while (const group* g = ::getgrent()) {
    for (char** member = g->gr_mem; member != nullptr && *member != nullptr && !found; ++member) {
      const passwd* user = ::getpwnam(*member);
      if (user != nullptr && user->pw_uid != 0 && user->pw_gid != g->gr_gid) {
        found = listed_member{{user->pw_uid, user->pw_gid, {}}, g->gr_name};
      }
    }
    if (found) break;
  }
  ::endgrent();
  return found;
}

}  // namespace

TEST_CASE("a peer that is not allowed gets 403 for a token, a key change and a full flush") {
  world w;
  for (const auto& who : {nobody, stranger}) {
    CAPTURE(who.uid);
    const auto token = w.as(who, "GET", "/v1/token?org=acme");
    CHECK(token.status == 403);
    CHECK(token.json()["error"] == "forbidden");
    CHECK(token.json()["message"].get<std::string>().find("acme") != std::string::npos);
    CHECK(token.body.find(w.key) == std::string::npos);

    const auto put = w.as(who, "PUT", "/v1/orgs/acme/key", R"({"key": "replacement"})");
    CHECK(put.status == 403);
    CHECK(put.json()["error"] == "forbidden");
    CHECK(w.as(who, "PUT", "/v1/orgs/newco/key", R"({"key": "k"})").status == 403);
    CHECK(w.as(who, "DELETE", "/v1/orgs/acme/key").status == 403);
    const auto flush_all = w.as(who, "DELETE", "/v1/tokens");
    CHECK(flush_all.status == 403);
    CHECK(flush_all.json()["error"] == "forbidden");
    CHECK(w.as(who, "DELETE", "/v1/tokens?org=acme").status == 403);

    // What anyone may see still answers.
    CHECK(w.as(who, "GET", "/v1/health").status == 200);
    CHECK(w.as(who, "GET", "/v1/status").status == 200);
    CHECK(org_names(w.as(who, "GET", "/v1/orgs")) == "");
  }
  // Nothing changed and nothing was exchanged on their behalf.
  CHECK(w.upstream.exchanges() == 0);
  CHECK_FALSE(std::filesystem::exists(w.dir.path() / "keys" / "newco.key"));
  CHECK(std::filesystem::exists(w.dir.path() / "keys" / "acme.key"));
  // Root is always allowed, and gets the original key's token.
  CHECK(w.daemon->get("/v1/token?org=acme").status == 200);
  CHECK(w.upstream.exchanges_for(w.key) == 1);
}

TEST_CASE("the CLI run by a peer that is not allowed exits 4") {
  world w;
  std::string err;
  CHECK(cli_as(nobody, w.socket(), {"token", "acme"}, nullptr, &err) == 4);
  CHECK(err.rfind("actoken: ", 0) == 0);
  CHECK(cli_as(nobody, w.socket(), {"header", "acme"}) == 4);
  CHECK(cli_as(nobody, w.socket(), {"key", "remove", "acme"}) == 4);
  CHECK(cli_as(nobody, w.socket(), {"flush"}) == 4);
  CHECK(cli_as(stranger, w.socket(), {"token", "acme"}) == 4);
  CHECK(w.upstream.exchanges() == 0);
  // The same commands work for root.
  CHECK(cli_as(identity{0, 0, {}}, w.socket(), {"token", "acme"}) == 0);
}

TEST_CASE("the CLI exits 4 when the socket's mode keeps the peer out") {
  world w(json::parse(R"({"socket_mode": "0600"})"));
  const int refused = connect_as(nobody, w.socket());
  CHECK(refused == -EACCES);
  if (refused >= 0) ::close(refused);
  std::string err;
  CHECK(cli_as(nobody, w.socket(), {"token", "acme"}, nullptr, &err) == 4);
  CHECK(err.find(w.socket().string()) != std::string::npos);
}

TEST_CASE("a peer allowed by user name, uid, group name or gid gets its token") {
  struct variant {
    const char* name;
    json config;
    identity allowed;
    identity refused;
  };
  const variant variants[] = {
      {"top-level allow by user name", json::parse(R"({"allow": {"users": ["nobody"]}})"), nobody,
       stranger},
      {"org allow by uid",
       json::parse(R"({"organizations": {"acme": {"allow": {"users": [65534]}}}})"), nobody,
       stranger},
      {"org allow by group name",
       json::parse(R"({"organizations": {"acme": {"allow": {"groups": ["nogroup"]}}}})"),
       stranger_in_nogroup, stranger},
      {"top-level allow by gid", json::parse(R"({"allow": {"groups": [65534]}})"),
       stranger_in_nogroup, stranger},
  };
  for (const auto& v : variants) {
    CAPTURE(v.name);
    world w(v.config);
    const auto reply = w.as(v.allowed, "GET", "/v1/token?org=acme");
    CHECK(reply.status == 200);
    const auto token = reply.json().value("access_token", "");
    CHECK_FALSE(token.empty());
    CHECK(w.upstream.exchanges_for(w.key) == 1);

    std::string out;
    CHECK(cli_as(v.allowed, w.socket(), {"token", "acme"}, &out) == 0);
    CHECK(out == token + "\n");
    CHECK(w.as(v.allowed, "DELETE", "/v1/tokens?org=acme").status == 200);
    // Allowed to use is not admin.
    CHECK(w.as(v.allowed, "DELETE", "/v1/tokens").status == 403);
    CHECK(w.as(v.allowed, "PUT", "/v1/orgs/acme/key", R"({"key": "k"})").status == 403);

    CHECK(w.as(v.refused, "GET", "/v1/token?org=acme").status == 403);
  }
}

// SPEC §4: the groups are the connecting process's (SO_PEERGROUPS), not what
// the group database lists for its user: the daemon never looks them up.
TEST_CASE("a group /etc/group lists for the peer's user counts only if the process carries it") {
  const auto member = find_listed_member();
  if (!member) {
    return skip_case("no user on this machine is listed in a group other than its primary one");
  }
  CAPTURE(member->group);
  CAPTURE(member->who.uid);
  auto config = json::parse(R"({"organizations": {"acme": {"allow": {"groups": []}}}})");
  config["organizations"]["acme"]["allow"]["groups"].push_back(member->group);
  world w(config);
  CHECK(w.as(member->who, "GET", "/v1/token?org=acme").status == 403);
  auto carrying = member->who;
  carrying.groups = {::getgrnam(member->group.c_str())->gr_gid};
  CHECK(w.as(carrying, "GET", "/v1/token?org=acme").status == 200);
}

TEST_CASE("two allowed peers share one cached token: one exchange") {
  world w(json::parse(R"({"allow": {"users": ["nobody"], "groups": ["nogroup"]}})"));
  const auto first = w.daemon->get("/v1/token?org=acme").json();  // root
  REQUIRE(first["source"] == "exchange");
  const auto second = w.as(nobody, "GET", "/v1/token?org=acme").json();
  CHECK(second["source"] == "cache");
  CHECK(second["access_token"] == first["access_token"]);
  const auto third = w.as(stranger_in_nogroup, "GET", "/v1/token?org=acme").json();
  CHECK(third["access_token"] == first["access_token"]);
  std::string out;
  CHECK(cli_as(nobody, w.socket(), {"token", "acme"}, &out) == 0);
  CHECK(out == first["access_token"].get<std::string>() + "\n");
  CHECK(w.upstream.exchanges() == 1);
}

TEST_CASE("/v1/orgs shows a peer only the organizations it may use; an admin sees all") {
  world w(json::parse(R"({
      "allow": {"users": ["nobody"]},
      "organizations": {
        "acme": {"allow": {"users": [65534]}},
        "beta": {"allow": {"users": ["root"]}},
        "closed": {"allow": {}}}})"));
  w.dir.write("keys/gamma.key", "gamma-key\n");
  w.daemon->reload();

  CHECK(org_names(w.daemon->get("/v1/orgs")) == "acme,beta,closed,gamma");  // root
  // acme by its own list, gamma by the top-level one; beta's and closed's own
  // lists replace the top-level one.
  CHECK(org_names(w.as(nobody, "GET", "/v1/orgs")) == "acme,gamma");
  CHECK(org_names(w.as(stranger, "GET", "/v1/orgs")) == "");

  CHECK(w.as(nobody, "GET", "/v1/token?org=acme").status == 200);
  CHECK(w.as(nobody, "GET", "/v1/token?org=beta").status == 403);
  CHECK(w.as(nobody, "GET", "/v1/token?org=closed").status == 403);

  std::string out;
  CHECK(cli_as(nobody, w.socket(), {"--json", "orgs"}, &out) == 0);
  CHECK(out.find("\"acme\"") != std::string::npos);
  CHECK(out.find("\"beta\"") == std::string::npos);
}

// docs/security.md: admin rights cover keys, flushing and seeing every
// organization; tokens still need an allow list (SPEC §4 lists them apart).
TEST_CASE("a configured admin may change keys, flush everything and see every organization") {
  world w(json::parse(R"({
      "admin": {"users": ["nobody"]},
      "organizations": {"beta": {"allow": {"users": ["root"]}}}})"));
  CHECK(org_names(w.as(nobody, "GET", "/v1/orgs")) == "acme,beta");

  const auto other_key = awkward_key();
  w.upstream.add_account(other_key, "6f1c2a8e-0000-4000-8000-000000000002");
  const auto put = w.as(nobody, "PUT", "/v1/orgs/beta/key", json{{"key", other_key}}.dump());
  CHECK(put.status == 200);
  CHECK(put.json()["persisted"] == true);
  CHECK(std::filesystem::exists(w.dir.path() / "keys" / "beta.key"));
  CHECK(w.daemon->get("/v1/token?org=beta").status == 200);  // root uses the new key
  CHECK(w.upstream.exchanges_for(other_key) == 1);
  CHECK(w.daemon->get("/v1/token?org=acme").status == 200);

  const auto flushed = w.as(nobody, "DELETE", "/v1/tokens");
  CHECK(flushed.status == 200);
  CHECK(flushed.json()["evicted"] == 2);

  // Admin alone does not hand out tokens: no allow list names nobody.
  const auto token = w.as(nobody, "GET", "/v1/token?org=acme");
  CHECK(token.status == 403);
  CHECK(token.json()["error"] == "forbidden");
  CHECK(w.as(nobody, "GET", "/v1/token?org=beta").status == 403);

  CHECK(w.as(nobody, "DELETE", "/v1/orgs/beta/key").status == 200);
  CHECK_FALSE(std::filesystem::exists(w.dir.path() / "keys" / "beta.key"));

  // Someone else is neither admin nor allowed.
  CHECK(w.as(stranger, "PUT", "/v1/orgs/beta/key", R"({"key": "k"})").status == 403);
  CHECK(w.as(stranger, "GET", "/v1/token?org=acme").status == 403);
  CHECK(org_names(w.as(stranger, "GET", "/v1/orgs")) == "");
}

// SPEC §4: `DELETE /v1/tokens?org=O` is for "admin, or allowed for O".
TEST_CASE("an admin may flush one organization's tokens without being allowed to use it") {
  world w(json::parse(R"({"admin": {"users": ["nobody"]}})"));
  REQUIRE(w.daemon->get("/v1/token?org=acme").status == 200);
  const auto flushed = w.as(nobody, "DELETE", "/v1/tokens?org=acme");
  CHECK(flushed.status == 200);
  CHECK(flushed.json()["evicted"] == 1);
  CHECK(w.daemon->get("/v1/token?org=acme").json()["source"] == "exchange");
}

namespace {

// A group in /etc/group for the length of a test, with `members` long member
// names (an entry of tens of KiB); /etc/group is put back as it was however
// the test ends. Replaced by rename, so a reader never sees half a file.
class temporary_group {
 public:
  temporary_group(const std::string& name, gid_t gid, std::size_t members)
      : original_(read_group_file()) {
    std::string line = name + ":x:" + std::to_string(gid) + ":";
    for (std::size_t i = 0; i < members; ++i) {
      line += (i == 0 ? "" : ",") + ("member-with-a-rather-long-name-" + std::to_string(i));
    }
    auto text = original_;
    if (!text.empty() && text.back() != '\n') text += '\n';
    replace_group_file(text + line + "\n");
  }
  ~temporary_group() { replace_group_file(original_); }
  temporary_group(const temporary_group&) = delete;
  temporary_group& operator=(const temporary_group&) = delete;

 private:
  static std::string read_group_file() {
    std::ifstream in("/etc/group", std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  static void replace_group_file(const std::string& text) {
    const std::string temp = "/etc/group.actoken-test";
    {
      std::ofstream out(temp, std::ios::binary | std::ios::trunc);
      out << text;
    }
    ::chmod(temp.c_str(), 0644);
    if (::rename(temp.c_str(), "/etc/group") != 0) {
      // A bind-mounted /etc/group (some containers) cannot be renamed over.
      std::ofstream out("/etc/group", std::ios::binary | std::ios::trunc);
      out << text;
      ::unlink(temp.c_str());
    }
  }

  std::string original_;
};

}  // namespace

TEST_CASE("a group whose entry is too big for a 16 KiB buffer still lets its members in") {
  REQUIRE(::geteuid() == 0);
  // A gid and a name that exist nowhere else.
  gid_t gid = 40100;
  while (::getgrgid(gid) != nullptr) ++gid;
  const auto name = "actoken-big-" + std::to_string(::getpid());
  const temporary_group big(name, gid, 3000);  // about 100 KiB
  REQUIRE(::getgrnam(name.c_str()) != nullptr);

  world w(json{{"organizations", {{"acme", {{"allow", {{"groups", {name}}}}}}}}});
  const identity member{40003, gid, {}};  // no passwd entry: the group decides alone
  const auto reply = w.as(member, "GET", "/v1/token?org=acme");
  CHECK_MESSAGE(reply.status == 200, reply.body << w.daemon->log());
  CHECK(w.as(stranger, "GET", "/v1/token?org=acme").status == 403);
}

namespace {

// A gid from `first` on that the group database does not know.
gid_t unused_gid(gid_t first) {
  while (::getgrgid(first) != nullptr) ++first;
  return first;
}

// A world whose acme is allowed for the group `name` alone.
json allow_group(const std::string& name) {
  return json{{"organizations", {{"acme", {{"allow", {{"groups", {name}}}}}}}}};
}

}  // namespace

TEST_CASE("a supplementary group set with setgroups() allows the peer; /etc/group lists nobody") {
  REQUIRE(::geteuid() == 0);
  const gid_t gid = unused_gid(40200);
  const auto name = "actoken-sup-" + std::to_string(::getpid());
  const temporary_group group(name, gid, 0);  // no members at all
  world w(allow_group(name));
  // A uid without a passwd entry, its primary group its own: only the
  // supplementary group the process carries can let it in.
  const identity carrying{40004, 40004, {gid}};
  const identity bare{40004, 40004, {}};
  const auto reply = w.as(carrying, "GET", "/v1/token?org=acme");
  CHECK_MESSAGE(reply.status == 200, reply.body << w.daemon->log());
  CHECK(w.as(bare, "GET", "/v1/token?org=acme").status == 403);
}

TEST_CASE("the group database is read at load: a change to /etc/group counts after a reload") {
  REQUIRE(::geteuid() == 0);
  const gid_t gid = unused_gid(40300);
  const auto name = "actoken-late-" + std::to_string(::getpid());
  world w(allow_group(name));
  const identity peer{40005, 40005, {gid}};
  const auto at_start = w.daemon->get("/v1/status").json()["last_reload"];
  CHECK(at_start["message"].get<std::string>().find(
            "organizations.acme.allow.groups: no group named " + name + "; it matches nobody") !=
        std::string::npos);
  CHECK(w.as(peer, "GET", "/v1/token?org=acme").status == 403);
  {
    const temporary_group group(name, gid, 0);
    CHECK(w.as(peer, "GET", "/v1/token?org=acme").status == 403);  // not looked up while serving
    w.daemon->reload();
    CHECK(w.daemon->get("/v1/status").json()["last_reload"]["message"] == "reloaded");
    CHECK(w.as(peer, "GET", "/v1/token?org=acme").status == 200);
  }
  // The group is gone from /etc/group: its number still counts until the next reload.
  CHECK(w.as(peer, "GET", "/v1/token?org=acme").status == 200);
  w.daemon->reload();
  CHECK(w.as(peer, "GET", "/v1/token?org=acme").status == 403);
}

TEST_CASE("--check-config reports user and group names that do not resolve") {
  const temp_dir dir;
  const auto config = dir.write("actokend.json", R"({"admin": {"users": ["no-such-user-actoken"]},
                           "allow": {"groups": ["root", "no-such-group-actoken"]}})");
  const auto result = run_process({actokend_path(), "--check-config", "--config", config.string()});
  CHECK(result.exit_code == 1);
  CHECK(result.err.find(config.string() +
                        ": admin.users: no user named no-such-user-actoken; it matches nobody\n") !=
        std::string::npos);
  CHECK(result.err.find(config.string() +
                        ": allow.groups: no group named no-such-group-actoken; it matches "
                        "nobody\n") != std::string::npos);
  CHECK(result.err.find("root") == std::string::npos);  // it resolves
}

namespace {

constexpr const char* mobile_guid = "9b2f6d1e-0000-4000-8000-000000000001";

// acme for nobody (by number) with a sub-organization, beta for root alone,
// gamma (a key_dir key) by the top-level allow, which names nobody.
struct three_orgs_world : world {
  three_orgs_world()
      : world(json::parse(R"({
          "allow": {"users": ["nobody"]},
          "organizations": {
            "acme": {"allow": {"users": [65534]},
                     "sub_organizations": {"mobile": "9b2f6d1e-0000-4000-8000-000000000001"}},
            "beta": {"allow": {"users": ["root"]}}}})")) {
    dir.write("keys/gamma.key", "gamma-key\n");
    daemon->reload();
  }
};

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

}  // namespace

TEST_CASE("/v1/whoami: who the daemon takes each peer for, and each organization's rule") {
  three_orgs_world w;
  const auto nobody_is = w.as(nobody, "GET", "/v1/whoami");
  REQUIRE(nobody_is.status == 200);
  // The name comes from the config (resolved at load); nogroup's is not there: null.
  CHECK(nobody_is.json() == json::parse(std::string(R"({"uid":65534,"user":"nobody","gid":65534,
      "groups":[{"gid":65534,"name":null}],"groups_total":1,"admin":false,
      "orgs":[{"name":"acme","via":"users: nobody","root":true,
               "sub_orgs":[{"alias":"mobile","id":")") +
                                        mobile_guid + R"(","via":"users: nobody"}],
               "any_sub_org":true},
              {"name":"gamma","via":"allow (top level) users: nobody","root":true,"sub_orgs":[],
               "any_sub_org":true}]})"));

  const auto root_is = w.daemon->get("/v1/whoami").json();
  CHECK(root_is["uid"] == 0);
  CHECK(root_is["user"] == "root");
  CHECK(root_is["groups"][0] == json{{"gid", 0}, {"name", "root"}});
  CHECK(root_is["admin"] == true);
  REQUIRE(root_is["orgs"].size() == 3);
  for (const auto& org : root_is["orgs"]) CHECK(org["via"] == "admin");

  const auto stranger_is = w.as(stranger, "GET", "/v1/whoami").json();
  CHECK(stranger_is["uid"] == 40001);
  CHECK(stranger_is["user"].is_null());
  CHECK(stranger_is["admin"] == false);
  CHECK(stranger_is["orgs"] == json::array());

  std::string out;
  CHECK(cli_as(nobody, w.socket(), {"whoami"}, &out) == 0);
  CHECK(out.starts_with("user nobody (uid 65534), gid 65534\ngroups: 65534\nadmin: no\n"));
  CHECK(out.find("acme   users: nobody") != std::string::npos);
  CHECK(out.find("mobile, any other GUID") != std::string::npos);
  CHECK(out.find("gamma  allow (top level) users: nobody") != std::string::npos);
  CHECK(cli_as(nobody, w.socket(), {"whoami", "--json"}, &out) == 0);
  CHECK(json::parse(out) == nobody_is.json());
}

TEST_CASE("/v1/whoami shows a supplementary group set with setgroups(), by its name") {
  REQUIRE(::geteuid() == 0);
  const gid_t gid = unused_gid(40400);
  const auto name = "actoken-who-" + std::to_string(::getpid());
  const temporary_group group(name, gid, 0);
  world w(allow_group(name));
  const identity carrying{40006, 40006, {gid}};
  const auto who = w.as(carrying, "GET", "/v1/whoami").json();
  // The group the rule names first, then the primary group.
  CHECK(who["groups"] == json::parse(R"([{"gid":)" + std::to_string(gid) + R"(,"name":")" + name +
                                     R"("},{"gid":40006,"name":null}])"));
  CHECK(who["groups_total"] == 2);
  REQUIRE(who["orgs"].size() == 1);
  CHECK(who["orgs"][0]["via"] == "groups: " + name);
}

TEST_CASE("a denial names the user and uid, the organization and the list to edit") {
  three_orgs_world w;
  const auto config = w.daemon->config_path().string();
  const auto refused = w.as(nobody, "GET", "/v1/token?org=beta");
  CHECK(refused.status == 403);
  const auto message = refused.json()["message"].get<std::string>();
  CHECK(message ==
        "user nobody (uid 65534) may not use organization beta: add the user or one of its groups "
        "to organizations.beta.allow in " +
            config + ", then reload");
  CHECK(refused.body.find(w.key) == std::string::npos);
  // A uid the config does not name is shown by number: no name-service call while serving.
  CHECK(w.as(stranger, "GET", "/v1/token?org=gamma").json()["message"] ==
        "uid 40001 may not use organization gamma: add the user or one of its groups to allow (or "
        "organizations.gamma.allow for gamma alone) in " +
            config + ", then reload");
  std::string err;
  CHECK(cli_as(nobody, w.socket(), {"token", "beta"}, nullptr, &err) == 4);
  CHECK(err == "actoken: " + message + "\n");
  CHECK(cli_as(nobody, w.socket(), {"key", "remove", "acme"}, nullptr, &err) == 4);
  CHECK(err ==
        "actoken: user nobody (uid 65534) may not remove the key of organization acme: "
        "only admins may; add the user or one of its groups to admin in " +
            config + ", then reload\n");
}

TEST_CASE("/v1/orgs counts the organizations hidden from a peer; the CLI says so") {
  three_orgs_world w;
  CHECK(w.daemon->get("/v1/orgs").json()["hidden"] == 0);
  CHECK(w.as(nobody, "GET", "/v1/orgs").json()["hidden"] == 1);  // beta
  const auto stranger_sees = w.as(stranger, "GET", "/v1/orgs").json();
  CHECK(stranger_sees["orgs"] == json::array());
  CHECK(stranger_sees["hidden"] == 3);
  std::string out;
  CHECK(cli_as(stranger, w.socket(), {"orgs"}, &out) == 0);
  CHECK(out == "3 organizations are hidden from you (see `actoken whoami`)\n");
  CHECK(cli_as(nobody, w.socket(), {"orgs"}, &out) == 0);
  CHECK(out.ends_with("1 more organization is hidden from you (see `actoken whoami`)\n"));
}

TEST_CASE("POST /v1/reload: admins reload and get the outcome; others get 403") {
  three_orgs_world w;
  const auto refused = w.as(nobody, "POST", "/v1/reload");
  CHECK(refused.status == 403);
  CHECK(refused.json()["error"] == "forbidden");
  CHECK(refused.json()["message"].get<std::string>().starts_with(
      "user nobody (uid 65534) may not reload the daemon: only admins may"));
  std::string err;
  CHECK(cli_as(nobody, w.socket(), {"reload"}, nullptr, &err) == 4);
  CHECK(err.find("may not reload the daemon") != std::string::npos);

  // A new organization in the config file appears once reloaded.
  auto config = json::parse(slurp(w.daemon->config_path()));
  config["organizations"]["delta"] = json::object();
  write_text(w.daemon->config_path(), config.dump());
  const auto reloaded = w.as(identity{0, 0, {}}, "POST", "/v1/reload");
  CHECK(reloaded.status == 200);
  CHECK(reloaded.json()["ok"] == true);
  CHECK(reloaded.json()["message"] == "reloaded");
  CHECK(reloaded.json()["at"] == w.daemon->get("/v1/status").json()["last_reload"]["at"]);
  CHECK(org_names(w.daemon->get("/v1/orgs")) == "acme,beta,delta,gamma");
  std::string out;
  CHECK(cli_as(identity{0, 0, {}}, w.socket(), {"reload"}, &out) == 0);
  CHECK(out.starts_with("reloaded at "));

  // A configured admin may reload too.
  config["admin"] = {{"users", {"nobody"}}};
  write_text(w.daemon->config_path(), config.dump());
  REQUIRE(w.as(identity{0, 0, {}}, "POST", "/v1/reload").json()["ok"] == true);
  CHECK(w.as(nobody, "POST", "/v1/reload").status == 200);
}

TEST_CASE("POST /v1/reload with a broken config: 200, ok false, and the old config kept") {
  three_orgs_world w;
  const auto config = w.daemon->config_path();
  write_text(config, "{\"min_ttl\": \"soon\"");
  const auto broken = w.as(identity{0, 0, {}}, "POST", "/v1/reload");
  CHECK(broken.status == 200);
  CHECK(broken.json()["ok"] == false);
  CHECK(broken.json()["message"].get<std::string>().starts_with(config.string() + ": "));
  CHECK(w.daemon->get("/v1/status").json()["last_reload"]["ok"] == false);
  // The previous configuration still serves: nobody's rules are unchanged.
  CHECK(org_names(w.as(nobody, "GET", "/v1/orgs")) == "acme,gamma");
  CHECK(w.as(nobody, "GET", "/v1/token?org=acme").status == 200);
  std::string out;
  std::string err;
  CHECK(cli_as(identity{0, 0, {}}, w.socket(), {"reload"}, &out, &err) == 1);
  CHECK(out.empty());
  CHECK(err.starts_with(
      "actoken: the new configuration was refused; actokend keeps the previous one: " +
      config.string() + ": "));
}
