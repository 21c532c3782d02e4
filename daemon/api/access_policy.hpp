#pragma once

/// @file
/// Who may do what (SPEC §4 "Access control"), from the peer's kernel
/// credentials only. Root and the daemon's own uid are always admin.

#include "daemon/clock.hpp"
#include "daemon/config.hpp"
#include "daemon/keys.hpp"
#include "daemon/platform/peer.hpp"

#include <sys/types.h>

#include <functional>
#include <map>
#include <utility>

namespace actoken::api {

/// Decides admin rights and per-organization access for a peer.
class access_policy {
 public:
  /// Looks up a user's name and groups; injected so tests need no real users.
  using resolver = std::function<platform::user_identity(uid_t, gid_t)>;

  access_policy(uid_t daemon_uid, principal_set admin, principal_set allow, resolver resolve,
                const clock& clock);

  /// May change keys and flush every organization's tokens.
  bool is_admin(const platform::peer_credentials& peer);
  /// May get `org`'s tokens: root or the daemon's uid, or listed in the org's
  /// `allow` (the top-level `allow` when the org has none). Being admin alone
  /// is not enough: admins manage keys, they do not need every token.
  bool may_use(const platform::peer_credentials& peer, const org_settings& org);

 private:
  bool always_allowed(const platform::peer_credentials& peer) const noexcept;
  bool matches(const principal_set& set, const platform::peer_credentials& peer);
  const platform::user_identity& identity(const platform::peer_credentials& peer);

  uid_t daemon_uid_;
  principal_set admin_;
  principal_set allow_;
  resolver resolve_;
  const clock& clock_;
  // Name-service lookups are slow; remember each (uid, gid) for a minute.
  std::map<std::pair<uid_t, gid_t>, std::pair<mono_time, platform::user_identity>> identities_;
};

}  // namespace actoken::api
