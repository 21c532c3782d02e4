#include "daemon/platform/peer.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>

#include <algorithm>

namespace actoken::platform {

std::optional<peer_credentials> peer_of(int fd) noexcept {
  ucred cred{};
  socklen_t length = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &length) != 0 || length != sizeof cred) {
    return std::nullopt;
  }
  return peer_credentials{cred.pid, cred.uid, cred.gid};
}

user_identity lookup_user(uid_t uid, gid_t gid) {
  user_identity identity;
  identity.groups.push_back(gid);
  std::vector<char> buffer(16384);
  passwd entry{};
  passwd* found = nullptr;
  if (::getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) == 0 && found != nullptr) {
    identity.name = found->pw_name;
    int count = 64;
    std::vector<gid_t> groups(static_cast<std::size_t>(count));
    if (::getgrouplist(found->pw_name, gid, groups.data(), &count) < 0 && count > 64) {
      groups.resize(static_cast<std::size_t>(count));
      ::getgrouplist(found->pw_name, gid, groups.data(), &count);
    }
    groups.resize(static_cast<std::size_t>(std::max(count, 0)));
    identity.groups.insert(identity.groups.end(), groups.begin(), groups.end());
  }
  std::sort(identity.groups.begin(), identity.groups.end());
  identity.groups.erase(std::unique(identity.groups.begin(), identity.groups.end()),
                        identity.groups.end());
  for (const auto g : identity.groups) {
    group group_entry{};
    group* group_found = nullptr;
    if (::getgrgid_r(g, &group_entry, buffer.data(), buffer.size(), &group_found) == 0 &&
        group_found != nullptr) {
      identity.group_names.emplace_back(group_found->gr_name);
    }
  }
  return identity;
}

std::optional<gid_t> lookup_group(const std::string& name) {
  std::vector<char> buffer(16384);
  group entry{};
  group* found = nullptr;
  if (::getgrnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found) == 0 &&
      found != nullptr) {
    return found->gr_gid;
  }
  return std::nullopt;
}

}  // namespace actoken::platform
