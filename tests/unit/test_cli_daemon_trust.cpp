// Whether a socket leads to a genuine daemon (SPEC §5): the pure judgement.
#include "client/daemon_trust.hpp"

#include <doctest/doctest.h>

#include <string>

using actoken::client::folder_refusal;
using actoken::client::peer_refusal;
using actoken::client::socket_folder;
using actoken::client::trusted_uids;
using actoken::client::platform::folder_facts;

namespace {

constexpr uid_t me = 1000;
constexpr uid_t daemon_user = 998;
constexpr uid_t stranger = 65534;

trusted_uids with_daemon_user() {
  return trusted_uids(me, [] { return std::optional<uid_t>(daemon_user); });
}

folder_facts folder(uid_t owner, mode_t mode) {
  folder_facts facts;
  facts.owner = owner;
  facts.mode = mode;
  return facts;
}

}  // namespace

TEST_CASE("trusted: the CLI's own uid, root and the system daemon's user") {
  const auto trusted = with_daemon_user();
  CHECK(trusted.trusts(me));
  CHECK(trusted.trusts(0));
  CHECK(trusted.trusts(daemon_user));
  CHECK_FALSE(trusted.trusts(stranger));
  CHECK_FALSE(trusted.trusts(me + 1));
}

TEST_CASE("no system daemon user: only you and root") {
  const trusted_uids trusted(me, [] { return std::optional<uid_t>(); });
  CHECK(trusted.trusts(me));
  CHECK(trusted.trusts(0));
  CHECK_FALSE(trusted.trusts(daemon_user));
  CHECK_FALSE(trusted.trusts(stranger));
}

TEST_CASE("the system daemon's user is looked up only when needed, and once") {
  int lookups = 0;
  const trusted_uids trusted(me, [&] {
    ++lookups;
    return std::optional<uid_t>(daemon_user);
  });
  CHECK(trusted.trusts(me));
  CHECK(trusted.trusts(0));
  CHECK(lookups == 0);
  CHECK_FALSE(trusted.trusts(stranger));
  CHECK(trusted.trusts(daemon_user));
  CHECK(lookups == 1);
}

TEST_CASE("a folder owned by a trusted uid that no one else may write is trusted") {
  const auto trusted = with_daemon_user();
  CHECK_FALSE(folder_refusal("/run/user/1000/actoken", folder(me, 0700), trusted));
  CHECK_FALSE(folder_refusal("/run/actoken", folder(daemon_user, 0755), trusted));
  CHECK_FALSE(folder_refusal("/srv/x", folder(0, 0755), trusted));
  CHECK_FALSE(folder_refusal("/srv/x", folder(0, 01755), trusted));
}

TEST_CASE("a folder owned by anyone else is refused, naming the owner") {
  const auto refusal = folder_refusal("/tmp/actoken-0", folder(stranger, 0700), with_daemon_user());
  REQUIRE(refusal);
  CHECK(refusal->starts_with("its folder belongs to uid 65534"));
}

TEST_CASE("a folder others may write is refused, sticky or not: /tmp itself") {
  const auto trusted = with_daemon_user();
  for (const mode_t mode : {01777u, 0777u, 0775u, 0757u, 0770u, 0702u}) {
    CAPTURE(mode);
    const auto refusal = folder_refusal("/tmp", folder(0, mode), trusted);
    REQUIRE(refusal);
    CHECK(refusal->find("/tmp is writable by others") != std::string::npos);
  }
  CHECK(folder_refusal("/tmp", folder(0, 01777), trusted)->find("mode 1777") != std::string::npos);
}

TEST_CASE("a folder reached through a symbolic link: the link's owner counts too") {
  const auto trusted = with_daemon_user();
  auto planted = folder(0, 0755);
  planted.link_owner = stranger;
  const auto refusal = folder_refusal("/tmp/actoken-0", planted, trusted);
  REQUIRE(refusal);
  CHECK(refusal->find("symbolic link that belongs to uid 65534") != std::string::npos);
  auto system_link = folder(0, 0755);
  system_link.link_owner = 0;  // /var/run -> /run
  CHECK_FALSE(folder_refusal("/var/run", system_link, trusted));
}

TEST_CASE("a daemon running as anyone else is refused, naming its uid") {
  const auto trusted = with_daemon_user();
  CHECK_FALSE(peer_refusal(me, trusted));
  CHECK_FALSE(peer_refusal(0, trusted));
  CHECK_FALSE(peer_refusal(daemon_user, trusted));
  const auto refusal = peer_refusal(stranger, trusted);
  REQUIRE(refusal);
  CHECK(refusal->starts_with("the daemon there runs as uid 65534"));
}

TEST_CASE("the folder of a socket path is its parent, or . for a bare name") {
  CHECK(socket_folder("/tmp/actoken-0/actokend.sock") == "/tmp/actoken-0");
  CHECK(socket_folder("/actokend.sock") == "/");
  CHECK(socket_folder("actokend.sock") == ".");
  CHECK(socket_folder("run/actokend.sock") == "run");
}
