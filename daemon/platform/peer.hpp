#pragma once

/// @file
/// Who is on the other end of a Unix socket, from the kernel (SO_PEERCRED and
/// SO_PEERGROUPS on Linux; getpeereid/LOCAL_PEERCRED would go here on macOS),
/// and the user and group names of the configuration as numbers. Names are
/// resolved when the configuration is loaded, never while serving (SPEC §4).

#include "daemon/platform/process_details.hpp"

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace actoken::platform {

/// The peer's credentials as the kernel recorded them when it connected.
struct peer_credentials {
  uid_t uid = 0;
  gid_t gid = 0;
  /// The connecting process's supplementary groups, sorted ascending, each
  /// once: sorted at accept (`peer_of`), so that every later question about
  /// them is a binary search (SPEC §4 "No peer can slow the others down":
  /// a process may carry 65,536 of them).
  std::vector<gid_t> groups;
  pid_t pid = 0;  ///< the connecting process (0 when unknown)
  /// Its executable and systemd unit, read at accept only while an audit log
  /// wants them (`process_details_of`); nulls otherwise.
  process_details details{};
  /// How many supplementary groups the peer has that `groups` does not hold
  /// yet: 0, or all of them when `peer_of` was asked to leave a list that
  /// long unread (`read_peer_groups` reads it).
  std::size_t groups_unread = 0;
};

/// Linux's NGROUPS_MAX: no process has more supplementary groups.
inline constexpr std::size_t max_peer_groups = 65536;

/// The credentials of the process connected to `fd` (Linux: SO_PEERCRED and
/// SO_PEERGROUPS; a kernel without SO_PEERGROUPS gives no supplementary
/// groups), or nullopt when they cannot be read. The groups come sorted and
/// without duplicates (see `sorted_groups`). A peer with more than
/// `group_limit` groups has them left unread (`groups_unread`): the kernel
/// copies 65,536 of them one by one, milliseconds that the caller may want
/// to spend on another thread (`read_peer_groups`).
std::optional<peer_credentials> peer_of(int fd, std::size_t group_limit = max_peer_groups);

/// Every supplementary group of the process connected to `fd`, sorted, each
/// once; nullopt when they cannot be read. Touches nothing but `fd`: safe on
/// any thread while `fd` stays open.
std::optional<std::vector<gid_t>> read_peer_groups(int fd);

/// `groups` sorted ascending with duplicates removed, in n log n (linear when
/// they already come sorted, as Linux keeps them). Pure.
std::vector<gid_t> sorted_groups(std::vector<gid_t> groups);

/// Looks up a user id by name. nullopt with `problem` empty: no such user;
/// with `problem` set: the lookup failed (the user may well exist).
std::optional<uid_t> lookup_user(const std::string& name, std::string& problem);

/// Looks up a group id by name. nullopt with `problem` empty: no such group;
/// with `problem` set: the lookup failed (the group may well exist).
std::optional<gid_t> lookup_group(const std::string& name, std::string& problem);

/// The name of user `uid`, or nullopt when it has none or the lookup failed.
/// Asks the name service: for load time only, never while serving.
std::optional<std::string> user_name_of(uid_t uid);

/// The name of group `gid`, or nullopt when it has none or the lookup failed.
/// Asks the name service: for load time only, never while serving.
std::optional<std::string> group_name_of(gid_t gid);

/// The user names group `gid`'s entry lists as its members (`gr_mem`: not the
/// users whose primary group it is), at most `limit` of them; none when the
/// lookup fails. Asks the name service: for load time only, never while serving.
std::vector<std::string> group_member_names(gid_t gid, std::size_t limit);

}  // namespace actoken::platform
