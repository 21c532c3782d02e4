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

// The supplementary groups of the process connected to `fd`, as the kernel
// recorded them at connect; empty on a kernel without SO_PEERGROUPS (< 4.13).
// When the peer has more than `limit`, nothing is copied: `more` is set to
// how many it has, and the list comes back empty.
std::optional<std::vector<gid_t>> peer_groups(int fd, std::size_t limit, std::size_t& more) {
  more = 0;
  // Room for a few first: most peers have a handful.
  std::vector<gid_t> groups(std::min<std::size_t>(16, limit));
  for (;;) {
    auto length = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &length) == 0) {
      groups.resize(length / sizeof(gid_t));
      return groups;
    }
    if (errno == ENOPROTOOPT) return std::vector<gid_t>{};
    // ERANGE: `length` now says how much room the list needs (at most NGROUPS_MAX).
    const auto needed = length / sizeof(gid_t);
    if (errno != ERANGE || needed <= groups.size() || needed > max_peer_groups) return std::nullopt;
    if (needed > limit) {
      more = needed;
      return std::vector<gid_t>{};
    }
    groups.resize(needed);
  }
}

// Looks `name` up with a get*nam_r call and returns the entry's `id`; sets
// `problem` when the lookup failed other than by "no such entry".
template <class Entry, class Id, class Call>
std::optional<Id> lookup_by_name(Call call, Id Entry::*id, const std::string& name,
                                 const char* what, std::string& problem) {
  problem.clear();
  std::vector<char> buffer(first_buffer_size);
  Entry entry{};
  Entry* found = nullptr;
  const int result = with_growing_buffer(buffer, [&](char* data, std::size_t size) {
    return call(name.c_str(), &entry, data, size, &found);
  });
  if (result == 0 && found != nullptr) return found->*id;
  if (!means_not_found(result)) problem = failure(what + name, result);
  return std::nullopt;
}

// Looks `id` up with a get*id_r call and returns the entry's name.
template <class Entry, class Id, class Call>
std::optional<std::string> lookup_by_id(Call call, char* Entry::*name, Id id) {
  std::vector<char> buffer(first_buffer_size);
  Entry entry{};
  Entry* found = nullptr;
  const int result = with_growing_buffer(
      buffer, [&](char* data, std::size_t size) { return call(id, &entry, data, size, &found); });
  if (result != 0 || found == nullptr || found->*name == nullptr) return std::nullopt;
  return std::string(found->*name);
}

}  // namespace

std::optional<peer_credentials> peer_of(int fd, std::size_t group_limit) {
  ucred cred{};
  socklen_t length = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &length) != 0 || length != sizeof cred) {
    return std::nullopt;
  }
  std::size_t unread = 0;
  auto groups = peer_groups(fd, group_limit, unread);
  if (!groups) return std::nullopt;
  peer_credentials peer{cred.uid, cred.gid, sorted_groups(std::move(*groups)), cred.pid, {}};
  peer.groups_unread = unread;
  return peer;
}

std::optional<std::vector<gid_t>> read_peer_groups(int fd) {
  std::size_t unread = 0;
  auto groups = peer_groups(fd, max_peer_groups, unread);
  if (!groups) return std::nullopt;
  return sorted_groups(std::move(*groups));
}

std::vector<gid_t> sorted_groups(std::vector<gid_t> groups) {
  if (!std::is_sorted(groups.begin(), groups.end())) std::sort(groups.begin(), groups.end());
  groups.erase(std::unique(groups.begin(), groups.end()), groups.end());
  return groups;
}

std::optional<uid_t> lookup_user(const std::string& name, std::string& problem) {
  return lookup_by_name<passwd>(::getpwnam_r, &passwd::pw_uid, name, "the password entry of ",
                                problem);
}

std::optional<gid_t> lookup_group(const std::string& name, std::string& problem) {
  return lookup_by_name<group>(::getgrnam_r, &group::gr_gid, name, "the group entry of ", problem);
}

std::optional<std::string> user_name_of(uid_t uid) {
  return lookup_by_id<passwd>(::getpwuid_r, &passwd::pw_name, uid);
}

std::optional<std::string> group_name_of(gid_t gid) {
  return lookup_by_id<group>(::getgrgid_r, &group::gr_name, gid);
}

std::vector<std::string> group_member_names(gid_t gid, std::size_t limit) {
  std::vector<char> buffer(first_buffer_size);
  group entry{};
  group* found = nullptr;
  const int result = with_growing_buffer(buffer, [&](char* data, std::size_t size) {
    return ::getgrgid_r(gid, &entry, data, size, &found);
  });
  std::vector<std::string> names;
  if (result != 0 || found == nullptr) return names;
  for (char** member = found->gr_mem; member != nullptr && *member != nullptr; ++member) {
    if (names.size() == limit) break;
    names.emplace_back(*member);
  }
  return names;
}

}  // namespace actoken::platform
