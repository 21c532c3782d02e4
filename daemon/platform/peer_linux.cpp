#include "daemon/platform/peer.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

namespace actoken::platform {
namespace {

// The get*_r calls answer ERANGE when an entry (a group with a long member
// list) does not fit the buffer: grow it up to this, never read that as "no
// such entry".
constexpr std::size_t first_buffer_size = 16 * 1024;
constexpr std::size_t max_buffer_size = 1024 * 1024;

// Runs `lookup(data, size)`, a get*_r call, doubling `buffer` while it
// answers ERANGE; returns the call's last answer (0 or an errno value).
template <class Lookup>
int with_growing_buffer(std::vector<char>& buffer, Lookup lookup) {
  for (;;) {
    const int result = lookup(buffer.data(), buffer.size());
    if (result != ERANGE || buffer.size() >= max_buffer_size) return result;
    buffer.resize(std::min(buffer.size() * 2, max_buffer_size));
  }
}

// get*_r answer "no such entry" with 0 and a null result, or with one of
// these (getpwnam_r(3), NOTES); anything else is a failure.
bool means_not_found(int result) noexcept {
  return result == 0 || result == ENOENT || result == ESRCH || result == EBADF || result == EPERM;
}

std::string failure(const std::string& what, int result) {
  if (result == ERANGE) {
    return "cannot read " + what + ": its entry is over " + std::to_string(max_buffer_size / 1024) +
           " KiB";
  }
  return "cannot read " + what + ": " + std::generic_category().message(result);
}

// The user's supplementary groups from the group database, primary `gid` included.
std::vector<gid_t> group_list(const char* user, gid_t gid) {
  int count = 64;
  std::vector<gid_t> groups;
  // getgrouplist answers -1 and the count it needs when the array is too small.
  for (int attempt = 0; attempt < 4; ++attempt) {
    groups.resize(static_cast<std::size_t>(count));
    const int wanted = count;
    if (::getgrouplist(user, gid, groups.data(), &count) >= 0) break;
    if (count <= wanted) count = wanted * 2;
  }
  groups.resize(static_cast<std::size_t>(std::clamp(count, 0, static_cast<int>(groups.size()))));
  return groups;
}

}  // namespace

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
  std::vector<char> buffer(first_buffer_size);
  passwd entry{};
  passwd* found = nullptr;
  const int user_result = with_growing_buffer(buffer, [&](char* data, std::size_t size) {
    return ::getpwuid_r(uid, &entry, data, size, &found);
  });
  if (user_result == 0 && found != nullptr) {
    identity.name = found->pw_name;
    const auto groups = group_list(found->pw_name, gid);
    identity.groups.insert(identity.groups.end(), groups.begin(), groups.end());
  } else if (!means_not_found(user_result)) {
    identity.problems.push_back(
        failure("the password entry of uid " + std::to_string(uid), user_result));
  }
  std::sort(identity.groups.begin(), identity.groups.end());
  identity.groups.erase(std::unique(identity.groups.begin(), identity.groups.end()),
                        identity.groups.end());
  for (const auto g : identity.groups) {
    group group_entry{};
    group* group_found = nullptr;
    const int group_result = with_growing_buffer(buffer, [&](char* data, std::size_t size) {
      return ::getgrgid_r(g, &group_entry, data, size, &group_found);
    });
    if (group_result == 0 && group_found != nullptr) {
      identity.group_names.emplace_back(group_found->gr_name);
    } else if (!means_not_found(group_result)) {
      identity.problems.push_back(
          failure("the group entry of gid " + std::to_string(g), group_result));
    }
  }
  return identity;
}

std::optional<gid_t> lookup_group(const std::string& name, std::string& problem) {
  problem.clear();
  std::vector<char> buffer(first_buffer_size);
  group entry{};
  group* found = nullptr;
  const int result = with_growing_buffer(buffer, [&](char* data, std::size_t size) {
    return ::getgrnam_r(name.c_str(), &entry, data, size, &found);
  });
  if (result == 0 && found != nullptr) return found->gr_gid;
  if (!means_not_found(result)) problem = failure("the group entry of " + name, result);
  return std::nullopt;
}

}  // namespace actoken::platform
