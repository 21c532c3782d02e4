// Access control (SPEC §4) with an injected resolver: no real users or
// groups are looked up, so every case is the same on any machine.
#include "daemon/api/access_policy.hpp"

#include <doctest/doctest.h>

#include <map>
#include <memory>

using namespace actoken;
using actoken::api::access_policy;
using actoken::platform::peer_credentials;
using actoken::platform::user_identity;

namespace {

constexpr uid_t daemon_uid = 999;

// A made-up user database:
//   builder  uid 1001, primary group builder (1001), also in developers (2000)
//   other    uid 1002, primary group other (1002)
//   uid 1003 has no entry; gid 3000 is "ops"
struct fake_users {
  std::map<uid_t, std::string> names{{1001, "builder"}, {1002, "other"}, {0, "root"}};
  std::map<uid_t, std::vector<gid_t>> supplementary{{1001, {2000}}};
  std::map<gid_t, std::string> groups{
      {1001, "builder"}, {1002, "other"}, {2000, "developers"}, {3000, "ops"}, {0, "root"}};
  int calls = 0;

  user_identity resolve(uid_t uid, gid_t gid) {
    ++calls;
    user_identity who;
    who.groups.push_back(gid);
    if (const auto it = names.find(uid); it != names.end()) {
      who.name = it->second;
      if (const auto sup = supplementary.find(uid); sup != supplementary.end()) {
        who.groups.insert(who.groups.end(), sup->second.begin(), sup->second.end());
      }
    }
    for (const auto g : who.groups) {
      if (const auto it = groups.find(g); it != groups.end()) who.group_names.push_back(it->second);
    }
    return who;
  }
};

const peer_credentials root{10, 0, 0};
const peer_credentials daemon_self{11, daemon_uid, 500};
const peer_credentials builder{12, 1001, 1001};
const peer_credentials other{13, 1002, 1002};
const peer_credentials stranger{14, 1003, 3000};  // no passwd entry, primary group ops

struct fixture {
  fake_users users;
  manual_clock clock;

  access_policy make(principal_set admin, principal_set allow) {
    return access_policy(
        daemon_uid, std::move(admin), std::move(allow),
        [this](uid_t uid, gid_t gid) { return users.resolve(uid, gid); }, clock);
  }
};

org_settings org(std::string name, std::optional<principal_set> allow = std::nullopt) {
  org_settings settings;
  settings.name = std::move(name);
  settings.allow = std::move(allow);
  return settings;
}

principal_set users_named(std::vector<std::string> names) {
  principal_set set;
  set.user_names = std::move(names);
  return set;
}

}  // namespace

TEST_CASE("root and the daemon's own uid are always admin and allowed everywhere") {
  fixture f;
  auto policy = f.make({}, {});
  principal_set nobody_else;
  nobody_else.uids = {4242};
  for (const auto& peer : {root, daemon_self}) {
    CAPTURE(peer.uid);
    CHECK(policy.is_admin(peer));
    CHECK(policy.may_use(peer, org("acme")));
    CHECK(policy.may_use(peer, org("locked", nobody_else)));
    CHECK(policy.may_use(peer, org("empty", principal_set{})));
  }
  // Being always allowed needs no lookup.
  CHECK(f.users.calls == 0);
}

TEST_CASE("an empty allow list lets nobody else in, and nobody else is admin") {
  fixture f;
  auto policy = f.make({}, {});
  for (const auto& peer : {builder, other, stranger}) {
    CAPTURE(peer.uid);
    CHECK_FALSE(policy.is_admin(peer));
    CHECK_FALSE(policy.may_use(peer, org("acme")));
    CHECK_FALSE(policy.may_use(peer, org("own-empty", principal_set{})));
  }
}

TEST_CASE("allowed by user name") {
  fixture f;
  auto policy = f.make({}, users_named({"builder"}));
  CHECK(policy.may_use(builder, org("acme")));
  CHECK_FALSE(policy.may_use(other, org("acme")));
  CHECK_FALSE(policy.may_use(stranger, org("acme")));
  CHECK_FALSE(policy.is_admin(builder));  // allowed is not admin
}

TEST_CASE("allowed by uid, also for a uid without a passwd entry") {
  fixture f;
  principal_set allow;
  allow.uids = {1003};
  auto policy = f.make({}, allow);
  CHECK(policy.may_use(stranger, org("acme")));
  CHECK_FALSE(policy.may_use(builder, org("acme")));
}

TEST_CASE("allowed by group name: primary or supplementary") {
  fixture f;
  principal_set developers;
  developers.group_names = {"developers"};
  auto by_supplementary = f.make({}, developers);
  CHECK(by_supplementary.may_use(builder, org("acme")));  // developers is supplementary
  CHECK_FALSE(by_supplementary.may_use(other, org("acme")));

  principal_set ops;
  ops.group_names = {"ops"};
  auto by_primary = f.make({}, ops);
  CHECK(by_primary.may_use(stranger, org("acme")));  // ops is the peer's primary group
  CHECK_FALSE(by_primary.may_use(builder, org("acme")));
}

TEST_CASE("allowed by gid: primary or supplementary") {
  fixture f;
  principal_set primary;
  primary.gids = {1002};
  auto by_primary = f.make({}, primary);
  CHECK(by_primary.may_use(other, org("acme")));
  CHECK_FALSE(by_primary.may_use(builder, org("acme")));

  principal_set supplementary;
  supplementary.gids = {2000};
  auto by_supplementary = f.make({}, supplementary);
  CHECK(by_supplementary.may_use(builder, org("acme")));
  CHECK_FALSE(by_supplementary.may_use(other, org("acme")));
}

TEST_CASE("a user name does not match a group of the same name, nor the reverse") {
  fixture f;
  principal_set group_named_builder;
  group_named_builder.group_names = {"other"};
  auto policy = f.make({}, group_named_builder);
  CHECK_FALSE(policy.may_use(builder, org("acme")));
  CHECK(policy.may_use(other, org("acme")));  // other's primary group is "other"

  principal_set uid_as_gid;
  uid_as_gid.gids = {1003};  // the stranger's uid, not a group of theirs
  auto numeric = f.make({}, uid_as_gid);
  CHECK_FALSE(numeric.may_use(stranger, org("acme")));
}

TEST_CASE("an organization's own allow replaces the top-level one") {
  fixture f;
  auto policy = f.make({}, users_named({"builder"}));
  const auto plain = org("plain");
  const auto own = org("own", users_named({"other"}));
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
  fixture f;
  principal_set admins;
  admins.group_names = {"developers"};
  auto policy = f.make(admins, {});
  CHECK(policy.is_admin(builder));
  CHECK_FALSE(policy.may_use(builder, org("acme")));
  CHECK_FALSE(policy.may_use(builder, org("own", users_named({"other"}))));
  CHECK_FALSE(policy.may_use(builder, org("closed", principal_set{})));
  CHECK(policy.may_use(builder, org("listed", users_named({"builder"}))));
  CHECK_FALSE(policy.is_admin(other));
  CHECK_FALSE(policy.may_use(other, org("acme")));

  auto also_allowed = f.make(admins, users_named({"builder"}));
  CHECK(also_allowed.is_admin(builder));
  CHECK(also_allowed.may_use(builder, org("acme")));

  principal_set by_uid;
  by_uid.uids = {1002};
  auto numeric = f.make(by_uid, {});
  CHECK(numeric.is_admin(other));
  CHECK_FALSE(numeric.is_admin(builder));
}

TEST_CASE("the resolver is asked once per peer identity and again after a minute") {
  fixture f;
  auto policy = f.make({}, users_named({"builder"}));
  for (int i = 0; i < 5; ++i) CHECK(policy.may_use(builder, org("acme")));
  CHECK(f.users.calls == 1);
  CHECK_FALSE(policy.may_use(other, org("acme")));
  CHECK(f.users.calls == 2);

  // The database changes: builder leaves; seen once the remembered identity ages out.
  f.users.names.erase(1001);
  f.clock.advance(std::chrono::seconds{30});
  CHECK(policy.may_use(builder, org("acme")));
  f.clock.advance(std::chrono::seconds{31});
  CHECK_FALSE(policy.may_use(builder, org("acme")));
  CHECK(f.users.calls == 3);
}
