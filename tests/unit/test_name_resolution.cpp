// The configuration's user and group names become numbers at load (SPEC §4),
// against an injected name service: nothing here depends on the machine.
#include "daemon/settings/name_resolution.hpp"

#include <doctest/doctest.h>

#include <map>

using namespace actoken;

namespace {

// A made-up database: users builder (1001) and root (0); groups developers
// (2000) and ops (3000); the name "broken" fails to look up in either.
name_service fake_names() {
  return {[](const std::string& name, std::string& problem) -> std::optional<uid_t> {
            static const std::map<std::string, uid_t> users{{"builder", 1001}, {"root", 0}};
            if (name == "broken") problem = "cannot read the password entry of broken: I/O error";
            const auto it = users.find(name);
            return it == users.end() ? std::nullopt : std::optional<uid_t>(it->second);
          },
          [](const std::string& name, std::string& problem) -> std::optional<gid_t> {
            static const std::map<std::string, gid_t> groups{{"developers", 2000}, {"ops", 3000}};
            if (name == "broken") problem = "cannot read the group entry of broken: I/O error";
            const auto it = groups.find(name);
            return it == groups.end() ? std::nullopt : std::optional<gid_t>(it->second);
          },
          [](gid_t gid, std::size_t limit) -> std::vector<std::string> {
            // developers lists carol and dave (and a member without a passwd
            // entry), ops lists builder, the socket's group 998 lists erin.
            static const std::map<gid_t, std::vector<std::string>> members{
                {2000, {"carol", "dave", "gone"}}, {3000, {"builder"}}, {998, {"erin"}}};
            const auto it = members.find(gid);
            if (it == members.end()) return {};
            auto names = it->second;
            if (names.size() > limit) names.resize(limit);
            return names;
          }};
}

// The made-up database with carol, dave and erin too.
name_service fake_names_with_members() {
  auto service = fake_names();
  const auto base = service.user;
  service.user = [base](const std::string& name, std::string& problem) -> std::optional<uid_t> {
    static const std::map<std::string, uid_t> more{{"carol", 1006}, {"dave", 1007}, {"erin", 1008}};
    if (const auto it = more.find(name); it != more.end()) return it->second;
    return base(name, problem);
  };
  return service;
}

principal_set names(std::vector<std::string> users, std::vector<std::string> groups) {
  principal_set set;
  set.user_names = std::move(users);
  set.group_names = std::move(groups);
  return set;
}

}  // namespace

TEST_CASE("names in admin, allow and every organization's allow become numbers") {
  config cfg;
  cfg.admin = names({}, {"ops"});
  cfg.allow = names({"builder"}, {"developers"});
  cfg.allow.uids = {1001};  // given as a number too: listed once
  cfg.organizations["acme"].allow = names({"root"}, {});
  cfg.organizations["beta"];  // no allow of its own
  const auto problems = resolve_principal_names(cfg, fake_names(), "/etc/actoken/actokend.json");
  CHECK(problems.empty());
  CHECK(cfg.admin.gids == std::vector<gid_t>{3000});
  CHECK(cfg.allow.uids == std::vector<uid_t>{1001});
  CHECK(cfg.allow.gids == std::vector<gid_t>{2000});
  CHECK(cfg.organizations["acme"].allow->uids == std::vector<uid_t>{0});
  CHECK_FALSE(cfg.organizations["beta"].allow.has_value());
  // The names stay as written.
  CHECK(cfg.allow.user_names == std::vector<std::string>{"builder"});
  // And the daemon learns them by number, for whoami and forbidden messages.
  CHECK(cfg.names.users == std::map<uid_t, std::string>{{0, "root"}, {1001, "builder"}});
  CHECK(cfg.names.groups == std::map<gid_t, std::string>{{2000, "developers"}, {3000, "ops"}});
}

TEST_CASE("a name that does not resolve matches nobody and is a problem naming its key") {
  config cfg;
  cfg.admin = names({"ghost"}, {});
  cfg.organizations["acme"].allow = names({}, {"developers", "phantoms", "broken"});
  const auto problems = resolve_principal_names(cfg, fake_names(), "/etc/actoken/actokend.json");
  REQUIRE(problems.size() == 3);
  CHECK(problems[0].to_string() ==
        "/etc/actoken/actokend.json: admin.users: no user named ghost; it matches nobody");
  CHECK(problems[1].to_string() ==
        "/etc/actoken/actokend.json: organizations.acme.allow.groups: no group named phantoms; "
        "it matches nobody");
  CHECK(problems[2].to_string() ==
        "/etc/actoken/actokend.json: organizations.acme.allow.groups: cannot read the group "
        "entry of broken: I/O error; broken matches nobody");
  CHECK(cfg.admin.uids.empty());
  CHECK(cfg.organizations["acme"].allow->gids == std::vector<gid_t>{2000});
}

TEST_CASE("socket_group is resolved at load too; one that does not resolve is a problem") {
  config cfg;
  cfg.socket_group = "developers";
  CHECK(resolve_principal_names(cfg, fake_names(), "f.json").empty());
  CHECK(cfg.socket_gid == gid_t{2000});
  CHECK(cfg.names.groups.at(2000) == "developers");

  cfg.socket_group = "phantoms";
  cfg.socket_gid.reset();
  const auto problems = resolve_principal_names(cfg, fake_names(), "f.json");
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].to_string() ==
        "f.json: socket_group: no group named phantoms; the daemon cannot start with it");
  CHECK_FALSE(cfg.socket_gid.has_value());
}

TEST_CASE("a sub-organization's own allow is resolved at load like the others") {
  config cfg;
  auto& subs = cfg.organizations["acme"].sub_organizations;
  subs.add("mobile", {"9b2f6d1e-0000-4000-8000-000000000001", names({"builder"}, {"phantoms"})});
  subs.add("web", {"9b2f6d1e-0000-4000-8000-000000000002", std::nullopt});
  const auto problems = resolve_principal_names(cfg, fake_names(), "/etc/actoken/actokend.json");
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].to_string() ==
        "/etc/actoken/actokend.json: organizations.acme.sub_organizations.mobile.allow.groups: no "
        "group named phantoms; it matches nobody");
  const auto* mobile = subs.by_alias("mobile");
  CHECK(mobile->allow->uids == std::vector<uid_t>{1001});
  CHECK(mobile->allow->gids.empty());
  // Found by its GUID too, with the same numbers.
  CHECK(subs.by_id("9b2f6d1e-0000-4000-8000-000000000001")->allow->uids ==
        std::vector<uid_t>{1001});
  CHECK_FALSE(subs.by_alias("web")->allow);
  CHECK(cfg.names.users.at(1001) == "builder");
}

TEST_CASE("a sink's group by name becomes its gid; one that does not resolve leaves it unwritten") {
  config cfg;
  sink_config named;
  named.path = "/run/s/a";
  named.group = "developers";
  sink_config missing;
  missing.path = "/run/s/b";
  missing.group = "nosuch";
  sink_config number;
  number.path = "/run/s/c";
  number.group = "4";
  number.gid = 4;
  cfg.organizations["acme"].sinks = {named, missing, number};
  const auto problems = resolve_principal_names(cfg, fake_names(), "/etc/actoken/actokend.json");
  const auto& sinks = cfg.organizations["acme"].sinks;
  CHECK(sinks[0].gid == gid_t{2000});
  CHECK(sinks[0].group_problem.empty());
  CHECK_FALSE(sinks[1].gid);
  CHECK(sinks[1].group_problem == "no group named nosuch; the sink is not written");
  CHECK(sinks[2].gid == gid_t{4});
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].to_string() ==
        "/etc/actoken/actokend.json: organizations.acme.sinks[1].group: no group named nosuch; the "
        "sink is not written");
}

TEST_CASE("the groups whose members are named: the socket's and every rule's, once each") {
  config cfg;
  cfg.admin.gids = {3000};
  cfg.allow.gids = {2000, 3000};
  cfg.organizations["acme"].allow = principal_set{{}, {}, {}, {4000}};
  cfg.organizations["acme"].sub_organizations.add(
      "mobile", {"9b2f6d1e-0000-4000-8000-000000000001", principal_set{{}, {}, {}, {5000}}});
  CHECK(groups_to_name(cfg, 998) == std::vector<gid_t>{998, 2000, 3000, 4000, 5000});
  CHECK(groups_to_name(config{}, 998) == std::vector<gid_t>{998});
}

TEST_CASE("members of those groups are named at load; the config's names stay first") {
  name_book book;
  book.users.emplace(1001, "builder-as-configured");
  learn_group_members(book, {998, 2000, 3000}, fake_names_with_members());
  CHECK(book.users ==
        std::map<uid_t, std::string>{
            {1001, "builder-as-configured"}, {1006, "carol"}, {1007, "dave"}, {1008, "erin"}});
  // A name service without member lists (or a failing one) names nobody more.
  name_book untouched;
  auto without = fake_names_with_members();
  without.members = nullptr;
  learn_group_members(untouched, {2000}, without);
  CHECK(untouched.users.empty());
}

TEST_CASE("member lookups stop at max_member_names") {
  name_service many;
  std::size_t asked = 0;
  many.members = [](gid_t, std::size_t limit) {
    std::vector<std::string> names;
    for (std::size_t i = 0; i < 5000 && names.size() < limit; ++i) {
      names.push_back("user" + std::to_string(i));
    }
    return names;
  };
  many.user = [&asked](const std::string& name, std::string&) -> std::optional<uid_t> {
    ++asked;
    return static_cast<uid_t>(100000 + std::stoul(name.substr(4)));
  };
  name_book book;
  learn_group_members(book, {1, 2, 3}, many);
  CHECK(asked == max_member_names);
  CHECK(book.users.size() == max_member_names);
}
