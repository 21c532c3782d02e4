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
  acme.sub_organizations = {{"mobile", "9b2f6d1e-0000-4000-8000-000000000001"},
                            {"web", "9b2f6d1e-0000-4000-8000-000000000002"}};
  const auto access = policy.access_to(builder, acme);
  REQUIRE(access);
  REQUIRE(access->sub_orgs.size() == 2);
  CHECK(access->sub_orgs[0].alias == "mobile");
  CHECK(access->sub_orgs[0].id == "9b2f6d1e-0000-4000-8000-000000000001");
  CHECK(access->sub_orgs[0].via == "users: builder");
  CHECK(access->sub_orgs[1].alias == "web");
  CHECK(access->any_sub_org);
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
