// Access control (SPEC §4) on numbers alone: the peer's uid, primary gid and
// supplementary groups against the uids and gids its lists resolved to when
// the config was loaded. No user or group is looked up here.
#include "daemon/api/access_policy.hpp"

#include <doctest/doctest.h>

using namespace actoken;
using actoken::api::access_policy;
using actoken::platform::peer_credentials;

namespace {

constexpr uid_t daemon_uid = 999;

// builder: uid 1001, primary group 1001, supplementary developers (2000)
// other: uid 1002, primary group 1002, none
// stranger: uid 1003, primary group ops (3000)
const peer_credentials root{0, 0, {}};
const peer_credentials daemon_self{daemon_uid, 500, {}};
const peer_credentials builder{1001, 1001, {1001, 2000}};
const peer_credentials other{1002, 1002, {}};
const peer_credentials stranger{1003, 3000, {}};

org_settings org(std::string name, std::optional<principal_set> allow = std::nullopt) {
  org_settings settings;
  settings.name = std::move(name);
  settings.allow = std::move(allow);
  return settings;
}

principal_set uids(std::vector<uid_t> ids) {
  principal_set set;
  set.uids = std::move(ids);
  return set;
}

principal_set gids(std::vector<gid_t> ids) {
  principal_set set;
  set.gids = std::move(ids);
  return set;
}

}  // namespace

TEST_CASE("root and the daemon's own uid are always admin and allowed everywhere") {
  const access_policy policy(daemon_uid, {}, {});
  for (const auto& peer : {root, daemon_self}) {
    CAPTURE(peer.uid);
    CHECK(policy.is_admin(peer));
    CHECK(policy.may_use(peer, org("acme")));
    CHECK(policy.may_use(peer, org("locked", uids({4242}))));
    CHECK(policy.may_use(peer, org("empty", principal_set{})));
  }
}

TEST_CASE("an empty allow list lets nobody else in, and nobody else is admin") {
  const access_policy policy(daemon_uid, {}, {});
  for (const auto& peer : {builder, other, stranger}) {
    CAPTURE(peer.uid);
    CHECK_FALSE(policy.is_admin(peer));
    CHECK_FALSE(policy.may_use(peer, org("acme")));
    CHECK_FALSE(policy.may_use(peer, org("own-empty", principal_set{})));
  }
}

TEST_CASE("allowed by uid") {
  const access_policy policy(daemon_uid, {}, uids({1003}));
  CHECK(policy.may_use(stranger, org("acme")));
  CHECK_FALSE(policy.may_use(builder, org("acme")));
  CHECK_FALSE(policy.is_admin(stranger));  // allowed is not admin
}

TEST_CASE("allowed by gid: the primary group, or a supplementary group of the process") {
  const access_policy by_primary(daemon_uid, {}, gids({3000}));
  CHECK(by_primary.may_use(stranger, org("acme")));
  CHECK_FALSE(by_primary.may_use(builder, org("acme")));

  const access_policy by_supplementary(daemon_uid, {}, gids({2000}));
  CHECK(by_supplementary.may_use(builder, org("acme")));
  CHECK_FALSE(by_supplementary.may_use(other, org("acme")));
  // Only the groups the process carries count: the same uid without them is out.
  const peer_credentials builder_without_groups{1001, 1001, {}};
  CHECK_FALSE(by_supplementary.may_use(builder_without_groups, org("acme")));
}

TEST_CASE("a uid does not match as a gid, nor the reverse") {
  const access_policy gid_named_like_uid(daemon_uid, {}, gids({1003}));
  CHECK_FALSE(gid_named_like_uid.may_use(stranger, org("acme")));
  const access_policy uid_named_like_gid(daemon_uid, {}, uids({3000}));
  CHECK_FALSE(uid_named_like_gid.may_use(stranger, org("acme")));
}

TEST_CASE("names play no part: they were resolved to numbers at load") {
  principal_set by_name;
  by_name.user_names = {"builder"};
  by_name.group_names = {"developers"};
  const access_policy policy(daemon_uid, by_name, by_name);
  CHECK_FALSE(policy.may_use(builder, org("acme")));
  CHECK_FALSE(policy.is_admin(builder));
}

TEST_CASE("an organization's own allow replaces the top-level one") {
  const access_policy policy(daemon_uid, {}, uids({1001}));
  const auto plain = org("plain");
  const auto own = org("own", uids({1002}));
  const auto closed = org("closed", principal_set{});
  CHECK(policy.may_use(builder, plain));
  CHECK_FALSE(policy.may_use(other, plain));
  CHECK_FALSE(policy.may_use(builder, own));  // not added to the top-level list
  CHECK(policy.may_use(other, own));
  CHECK_FALSE(policy.may_use(builder, closed));  // its own list is empty
}

// SPEC §4 lists admins and allowed peers apart; docs/security.md settles it:
// admin rights cover keys and flushing, tokens still need an allow list.
TEST_CASE("an admin manages keys but gets tokens only where an allow list names it") {
  const access_policy policy(daemon_uid, gids({2000}), {});
  CHECK(policy.is_admin(builder));
  CHECK_FALSE(policy.may_use(builder, org("acme")));
  CHECK_FALSE(policy.may_use(builder, org("own", uids({1002}))));
  CHECK_FALSE(policy.may_use(builder, org("closed", principal_set{})));
  CHECK(policy.may_use(builder, org("listed", uids({1001}))));
  CHECK_FALSE(policy.is_admin(other));
  CHECK_FALSE(policy.may_use(other, org("acme")));

  const access_policy also_allowed(daemon_uid, gids({2000}), uids({1001}));
  CHECK(also_allowed.is_admin(builder));
  CHECK(also_allowed.may_use(builder, org("acme")));

  const access_policy numeric(daemon_uid, uids({1002}), {});
  CHECK(numeric.is_admin(other));
  CHECK_FALSE(numeric.is_admin(builder));
}

namespace {

// The names learnt at load: builder and root, the group developers.
name_book known_names() {
  return {{{0, "root"}, {1001, "builder"}}, {{2000, "developers"}, {3000, "ops"}}};
}

}  // namespace

TEST_CASE("access_to names the rule that lets the peer in") {
  const access_policy policy(daemon_uid, {}, gids({2000}), known_names());
  const auto by_uid = policy.access_to(builder, org("acme", uids({1001})));
  REQUIRE(by_uid);
  CHECK(by_uid->via == "users: builder");
  CHECK(by_uid->root);
  CHECK(by_uid->any_sub_org);
  // The top-level list, matched by a supplementary group of the process.
  const auto top_level = policy.access_to(builder, org("beta"));
  REQUIRE(top_level);
  CHECK(top_level->via == "allow (top level) groups: developers");
  // A number without a name is shown as the number; the primary group counts.
  const auto by_number = policy.access_to(other, org("gamma", uids({1002})));
  REQUIRE(by_number);
  CHECK(by_number->via == "users: 1002");
  const auto by_primary = policy.access_to(stranger, org("delta", gids({3000})));
  REQUIRE(by_primary);
  CHECK(by_primary->via == "groups: ops");
  // The uid is tried first, then the groups.
  principal_set both = uids({1001});
  both.gids = {2000};
  CHECK(policy.access_to(builder, org("both", both))->via == "users: builder");
  // Root and the daemon's uid are let in as admin, wherever they are listed or not.
  CHECK(policy.access_to(root, org("closed", principal_set{}))->via == "admin");
  CHECK(policy.access_to(daemon_self, org("acme"))->via == "admin");
}

TEST_CASE("access_to says nothing where may_use says no, and agrees with it everywhere") {
  const access_policy policy(daemon_uid, gids({2000}), uids({1003}), known_names());
  const std::vector<org_settings> orgs{org("plain"), org("own", uids({1002})),
                                       org("closed", principal_set{}), org("groups", gids({2000}))};
  for (const auto& peer : {root, daemon_self, builder, other, stranger}) {
    for (const auto& o : orgs) {
      CAPTURE(peer.uid);
      CAPTURE(o.name);
      CHECK(policy.access_to(peer, o).has_value() == policy.may_use(peer, o));
    }
  }
  CHECK_FALSE(policy.access_to(builder, org("plain")));  // admin, but not allowed
}

TEST_CASE("access_to lists the organization's sub-organizations with the same rule") {
  const access_policy policy(daemon_uid, {}, {}, known_names());
  auto acme = org("acme", uids({1001}));
  acme.sub_organizations.add("mobile", {"9b2f6d1e-0000-4000-8000-000000000001", std::nullopt});
  acme.sub_organizations.add("web", {"9b2f6d1e-0000-4000-8000-000000000002", std::nullopt});
  const auto access = policy.access_to(builder, acme);
  REQUIRE(access);
  REQUIRE(access->sub_orgs.size() == 2);
  CHECK(access->sub_orgs[0].alias == "mobile");
  CHECK(access->sub_orgs[0].id == "9b2f6d1e-0000-4000-8000-000000000001");
  CHECK(access->sub_orgs[0].via == "users: builder");
  CHECK(access->sub_orgs[1].alias == "web");
  CHECK(access->any_sub_org);
}

namespace {

using actoken::api::token_scope;

constexpr const char* mobile_id = "9b2f6d1e-0000-4000-8000-000000000001";
constexpr const char* web_id = "9b2f6d1e-0000-4000-8000-000000000002";
constexpr const char* unlisted_id = "9b2f6d1e-0000-4000-8000-0000000000ff";

// A three-team host in small: acme's own allow names stranger (the admins'
// stand-in, uid 1003); mobile is for developers (2000) alone, under two
// aliases; web has no allow of its own.
org_settings shared_host(bool any_sub_org = true) {
  auto acme = org("acme", uids({1003}));
  acme.sub_organizations.add("mobile", {mobile_id, gids({2000})});
  acme.sub_organizations.add("ios", {mobile_id, gids({2000})});
  acme.sub_organizations.add("web", {web_id, std::nullopt});
  acme.sub_organizations.any_sub_org = any_sub_org;
  return acme;
}

// The scope a request names, by alias or by GUID, as the router finds it.
token_scope by_alias(const org_settings& o, std::string_view alias) {
  const auto* sub = o.sub_organizations.by_alias(alias);
  REQUIRE(sub != nullptr);
  return {sub->id, sub};
}
token_scope by_guid(const org_settings& o, std::string_view guid) {
  return {guid, o.sub_organizations.by_id(guid)};
}

}  // namespace

TEST_CASE("a sub-organization with an allow of its own follows it alone") {
  // other (1002) is a configured admin; the top-level allow names builder.
  const access_policy policy(daemon_uid, uids({1002}), uids({1001}), known_names());
  const auto acme = shared_host();
  const token_scope root_token;
  struct expected {
    peer_credentials peer;
    bool root, mobile, web, unlisted;
  };
  for (const auto& e : {
           // builder: developers, so mobile alone; the org's own list replaces the top level.
           expected{builder, false, true, false, false},
           // stranger: in acme's allow: the root token, web and unlisted GUIDs, not mobile.
           expected{stranger, true, false, true, true},
           // A configured admin manages keys; tokens still need an allow list.
           expected{other, false, false, false, false},
           expected{root, true, true, true, true},
           expected{daemon_self, true, true, true, true},
       }) {
    CAPTURE(e.peer.uid);
    CHECK(policy.may_use(e.peer, acme) == e.root);
    CHECK(policy.may_use(e.peer, acme, root_token) == e.root);
    // Whichever alias or GUID (in either case, as the router lowers it) names it.
    CHECK(policy.may_use(e.peer, acme, by_alias(acme, "mobile")) == e.mobile);
    CHECK(policy.may_use(e.peer, acme, by_alias(acme, "ios")) == e.mobile);
    CHECK(policy.may_use(e.peer, acme, by_guid(acme, mobile_id)) == e.mobile);
    CHECK(policy.may_use(e.peer, acme, by_alias(acme, "web")) == e.web);
    CHECK(policy.may_use(e.peer, acme, by_guid(acme, web_id)) == e.web);
    CHECK(policy.may_use(e.peer, acme, by_guid(acme, unlisted_id)) == e.unlisted);
    CHECK(policy.may_see(e.peer, acme) == (e.root || e.mobile || e.web));
    CHECK(policy.access_to(e.peer, acme).has_value() == policy.may_see(e.peer, acme));
  }
}

TEST_CASE("any_sub_org false refuses unlisted GUIDs to everyone; listed ones keep their rules") {
  const access_policy policy(daemon_uid, {}, {}, known_names());
  const auto acme = shared_host(/*any_sub_org=*/false);
  for (const auto& peer : {root, daemon_self, builder, stranger}) {
    CAPTURE(peer.uid);
    CHECK_FALSE(policy.may_use(peer, acme, by_guid(acme, unlisted_id)));
  }
  CHECK(policy.may_use(root, acme, by_guid(acme, web_id)));
  CHECK(policy.may_use(stranger, acme, by_guid(acme, web_id)));
  CHECK(policy.may_use(builder, acme, by_guid(acme, mobile_id)));
  CHECK(policy.may_use(stranger, acme));  // the root token is not a sub-organization
  CHECK_FALSE(policy.access_to(root, acme)->any_sub_org);
  CHECK_FALSE(policy.access_to(stranger, acme)->any_sub_org);
}

TEST_CASE("access_to: the root token, each usable sub-organization and its rule, any_sub_org") {
  const access_policy policy(daemon_uid, {}, {}, known_names());
  const auto acme = shared_host();
  using sub = actoken::api::org_access::sub_org;
  auto subs = [](const actoken::api::org_access& access) {
    std::string out;
    for (const sub& s : access.sub_orgs) {
      out += (out.empty() ? "" : "; ") + s.alias.value_or("-") + " " + s.id + " " + s.via;
    }
    return out;
  };

  const auto team = policy.access_to(builder, acme);
  REQUIRE(team);
  CHECK_FALSE(team->root);
  CHECK_FALSE(team->any_sub_org);  // unlisted GUIDs follow acme's allow
  CHECK(team->via == "sub_organizations.ios.allow groups: developers");
  CHECK(subs(*team) == std::string("ios ") + mobile_id +
                           " sub_organizations.ios.allow groups: developers; mobile " + mobile_id +
                           " sub_organizations.mobile.allow groups: developers");

  const auto admins = policy.access_to(stranger, acme);
  REQUIRE(admins);
  CHECK(admins->root);
  CHECK(admins->any_sub_org);
  CHECK(admins->via == "users: 1003");
  CHECK(subs(*admins) == std::string("web ") + web_id + " users: 1003");

  const auto root_access = policy.access_to(root, acme);
  REQUIRE(root_access);
  CHECK(root_access->root);
  CHECK(subs(*root_access) == std::string("ios ") + mobile_id + " admin; mobile " + mobile_id +
                                  " admin; web " + web_id + " admin");

  CHECK_FALSE(policy.access_to(other, acme));
}

TEST_CASE("a sub-organization refusal names the peer, the sub-organization and what to change") {
  const access_policy policy(daemon_uid, {}, {}, known_names());
  const auto acme = shared_host();
  const auto file = "/etc/actoken/actokend.json";
  CHECK(policy.use_refused(stranger, acme, by_guid(acme, mobile_id), file) ==
        "uid 1003 may not use sub-organization ios of organization acme: add the user or one of "
        "its groups to organizations.acme.sub_organizations.ios.allow (and of mobile, the same "
        "id, alike) in /etc/actoken/actokend.json, then reload");
  CHECK(policy.use_refused(builder, acme, by_alias(acme, "web"), file) ==
        "user builder (uid 1001) may not use sub-organization web of organization acme: add the "
        "user or one of its groups to organizations.acme.allow in /etc/actoken/actokend.json, "
        "then reload");
  CHECK(policy.use_refused(builder, acme, by_guid(acme, unlisted_id), file) ==
        std::string("user builder (uid 1001) may not use sub-organization ") + unlisted_id +
            " of organization acme: add the user or one of its groups to organizations.acme.allow "
            "in /etc/actoken/actokend.json, then reload");
  // The root token: the organization's message, as before.
  CHECK(policy.use_refused(builder, acme, token_scope{}, file) ==
        policy.use_refused(builder, acme, file));
  const auto closed = shared_host(/*any_sub_org=*/false);
  CHECK(policy.use_refused(root, closed, by_guid(closed, unlisted_id), file) ==
        std::string("user root (uid 0) may not use sub-organization ") + unlisted_id +
            " of organization acme: it is not listed in organizations.acme.sub_organizations and "
            "any_sub_org is false; list it there, with an allow naming the user or one of its "
            "groups, in /etc/actoken/actokend.json, then reload");
}

TEST_CASE("a peer is described by its name when the daemon learnt it at load, else by uid") {
  const access_policy policy(daemon_uid, {}, {}, known_names());
  CHECK(policy.describe(builder) == "user builder (uid 1001)");
  CHECK(policy.describe(other) == "uid 1002");
  CHECK(policy.user_name(0) == "root");
  CHECK_FALSE(policy.user_name(1002));
  CHECK(policy.group_name(2000) == "developers");
  CHECK_FALSE(policy.group_name(1001));
  // Without a name book, numbers only.
  const access_policy bare(daemon_uid, {}, {});
  CHECK(bare.describe(builder) == "uid 1001");
}

TEST_CASE("a refusal names the peer, the organization and the list to edit") {
  const access_policy policy(daemon_uid, {}, {}, known_names());
  CHECK(policy.use_refused(builder, org("acme", uids({1002})), "/etc/actoken/actokend.json") ==
        "user builder (uid 1001) may not use organization acme: add the user or one of its "
        "groups to organizations.acme.allow in /etc/actoken/actokend.json, then reload");
  // An organization without its own list follows the top-level one.
  CHECK(policy.use_refused(other, org("beta"), "/home/u/.config/actoken/actokend.json") ==
        "uid 1002 may not use organization beta: add the user or one of its groups to allow "
        "(or organizations.beta.allow for beta alone) in "
        "/home/u/.config/actoken/actokend.json, then reload");
  CHECK(policy.admin_refused(builder, "reload the daemon", "/etc/actoken/actokend.json") ==
        "user builder (uid 1001) may not reload the daemon: only admins may; add the user or "
        "one of its groups to admin in /etc/actoken/actokend.json, then reload");
  CHECK(policy.admin_refused(other, "flush every organization's tokens", "")
            .ends_with("to admin in the config file, then reload"));
}
