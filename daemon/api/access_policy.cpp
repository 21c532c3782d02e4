#include "daemon/api/access_policy.hpp"

#include <algorithm>

namespace actoken::api {
namespace {

constexpr auto identity_ttl = std::chrono::seconds{60};
constexpr std::size_t max_identities = 4096;

template <class T>
bool contains(const std::vector<T>& list, const T& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

}  // namespace

access_policy::access_policy(uid_t daemon_uid, principal_set admin, principal_set allow,
                             resolver resolve, const clock& clock)
    : daemon_uid_(daemon_uid),
      admin_(std::move(admin)),
      allow_(std::move(allow)),
      resolve_(std::move(resolve)),
      clock_(clock) {}

bool access_policy::always_allowed(const platform::peer_credentials& peer) const noexcept {
  return peer.uid == 0 || peer.uid == daemon_uid_;
}

bool access_policy::is_admin(const platform::peer_credentials& peer) {
  return always_allowed(peer) || matches(admin_, peer);
}

bool access_policy::may_use(const platform::peer_credentials& peer, const org_settings& org) {
  if (always_allowed(peer)) {
    return true;
  }
  // Admins manage keys; they get tokens only where an allow list names them.
  return matches(org.allow ? *org.allow : allow_, peer);
}

bool access_policy::matches(const principal_set& set, const platform::peer_credentials& peer) {
  if (set.empty()) {
    return false;
  }
  if (contains(set.uids, peer.uid) || contains(set.gids, peer.gid)) {
    return true;
  }
  const auto& who = identity(peer);
  if (!who.name.empty() && contains(set.user_names, who.name)) {
    return true;
  }
  for (const auto g : who.groups) {
    if (contains(set.gids, g)) return true;
  }
  for (const auto& name : who.group_names) {
    if (contains(set.group_names, name)) return true;
  }
  return false;
}

const platform::user_identity& access_policy::identity(const platform::peer_credentials& peer) {
  const auto now = clock_.mono_now();
  const auto key = std::make_pair(peer.uid, peer.gid);
  auto it = identities_.find(key);
  if (it != identities_.end() && now - it->second.first < identity_ttl) {
    return it->second.second;
  }
  if (identities_.size() >= max_identities) {
    identities_.clear();
  }
  auto& slot = identities_[key];
  slot = {now, resolve_(peer.uid, peer.gid)};
  return slot.second;
}

}  // namespace actoken::api
