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
