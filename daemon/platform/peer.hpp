#pragma once

/// @file
/// Who is on the other end of a Unix socket, from the kernel (SO_PEERCRED on
/// Linux; getpeereid/LOCAL_PEERCRED would go here on macOS), and who that
/// user is: name and groups.

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace actoken::platform {

/// The peer's credentials as the kernel reports them.
struct peer_credentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};

/// The credentials of the process connected to `fd`, or nullopt.
std::optional<peer_credentials> peer_of(int fd) noexcept;

/// A user as the password and group databases know it.
struct user_identity {
  std::string name;           ///< "" when the uid has no entry
  std::vector<gid_t> groups;  ///< primary and supplementary groups
  std::vector<std::string> group_names;
  /// Lookups that failed other than by "no such entry" (an I/O error, an entry
  /// over the size cap): what is missing above, for the caller to log.
  std::vector<std::string> problems;
};

/// Looks up `uid`'s name and groups (primary `gid` included). Uses NSS.
user_identity lookup_user(uid_t uid, gid_t gid);

/// Looks up a group id by name. nullopt with `problem` empty: no such group;
/// with `problem` set: the lookup failed (the group may well exist).
std::optional<gid_t> lookup_group(const std::string& name, std::string& problem);

}  // namespace actoken::platform
