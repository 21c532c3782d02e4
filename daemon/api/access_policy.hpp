#pragma once

/// @file
/// Who may do what (SPEC §4 "Access control"), from the peer's kernel
/// credentials only: uid, gid and the connecting process's supplementary
/// groups, compared with numbers. The configuration's user and group names
/// were resolved to numbers when it was loaded (daemon/name_resolution.hpp),
/// so nothing here asks the name service. Root and the daemon's own uid are
/// always admin.

#include "daemon/config.hpp"
#include "daemon/keys.hpp"
#include "daemon/platform/peer.hpp"

#include <sys/types.h>

namespace actoken::api {

/// Decides admin rights and per-organization access for a peer.
class access_policy {
 public:
  access_policy(uid_t daemon_uid, principal_set admin, principal_set allow);

  /// May change keys and flush every organization's tokens.
  bool is_admin(const platform::peer_credentials& peer) const;
  /// May get `org`'s tokens: root or the daemon's uid, or listed in the org's
  /// `allow` (the top-level `allow` when the org has none). Being admin alone
  /// is not enough: admins manage keys, they do not need every token.
  bool may_use(const platform::peer_credentials& peer, const org_settings& org) const;

 private:
  bool always_allowed(const platform::peer_credentials& peer) const noexcept;

  uid_t daemon_uid_;
  principal_set admin_;
  principal_set allow_;
};

}  // namespace actoken::api
