#pragma once

/// @file
/// What the CLI asks the operating system when the daemon's socket refused the
/// connection (EACCES), so the denial can name the group that would let the
/// caller in and the command that adds it (SPEC §5). Facts only, gathered on
/// that error path alone: client/daemon_reply words them.

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>

namespace actoken::client::platform {

/// The socket (or its folder) that refused, and the caller's standing with its group.
struct access_facts {
  bool known = false;   ///< the facts below could be gathered at all
  bool folder = false;  ///< the socket's folder refused (no search permission), not the socket
  mode_t mode = 0;      ///< permission bits of what refused: the socket, or its folder
  gid_t gid = 0;        ///< its group
  std::optional<std::string> group_name;  ///< that group's name, when it has one
  uid_t uid = 0;                          ///< the caller
  std::optional<std::string> user_name;   ///< the caller's login name, when it has one
  bool listed = false;                    ///< the group database counts the caller in that group
  bool carried = false;  ///< this process has that group (as its own or a supplementary one)
};

/// Looks at `socket` (its folder when the socket itself cannot be seen), its
/// group and the caller (this process): the user and group databases are asked,
/// so this is for an error path only.
access_facts inspect_access(const std::filesystem::path& socket);

}  // namespace actoken::client::platform
