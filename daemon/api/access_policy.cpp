#include "daemon/api/access_policy.hpp"

#include <algorithm>

namespace actoken::api {
namespace {

template <class T>
bool contains(const std::vector<T>& list, const T& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

// The peer's uid, primary gid or one of its supplementary groups is in `set`.
// Names play no part: the numbers they resolved to at load are in the set.
bool matches(const principal_set& set, const platform::peer_credentials& peer) {
  if (contains(set.uids, peer.uid) || contains(set.gids, peer.gid)) return true;
  return std::any_of(peer.groups.begin(), peer.groups.end(),
                     [&set](gid_t group) { return contains(set.gids, group); });
}

}  // namespace

access_policy::access_policy(uid_t daemon_uid, principal_set admin, principal_set allow)
    : daemon_uid_(daemon_uid), admin_(std::move(admin)), allow_(std::move(allow)) {}

bool access_policy::always_allowed(const platform::peer_credentials& peer) const noexcept {
  return peer.uid == 0 || peer.uid == daemon_uid_;
}

bool access_policy::is_admin(const platform::peer_credentials& peer) const {
  return always_allowed(peer) || matches(admin_, peer);
}

bool access_policy::may_use(const platform::peer_credentials& peer, const org_settings& org) const {
  if (always_allowed(peer)) {
    return true;
  }
  // Admins manage keys; they get tokens only where an allow list names them.
  return matches(org.allow ? *org.allow : allow_, peer);
}

}  // namespace actoken::api
