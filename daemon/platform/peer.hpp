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
  std::vector<gid_t> groups;  ///< the connecting process's supplementary groups
  pid_t pid = 0;              ///< the connecting process (0 when unknown)
  /// Its executable and systemd unit, read at accept only while an audit log
  /// wants them (`process_details_of`); nulls otherwise.
  process_details details{};
};

/// The credentials of the process connected to `fd` (Linux: SO_PEERCRED and
/// SO_PEERGROUPS; a kernel without SO_PEERGROUPS gives no supplementary
/// groups), or nullopt when they cannot be read.
std::optional<peer_credentials> peer_of(int fd);

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
