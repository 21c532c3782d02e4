#pragma once

/// @file
/// What the CLI asks the operating system before it trusts a socket (SPEC §5):
/// who owns the socket's folder and who may write in it, who listens on the
/// other end (SO_PEERCRED on Linux; getpeereid would go here on macOS), and the
/// uid of the system daemon's user. Facts only: client/daemon_trust judges them.

#include <sys/types.h>

#include <filesystem>
#include <optional>

namespace actoken::client::platform {

/// The folder a socket sits in, as seen through the path given.
struct folder_facts {
  int error = 0;                    ///< errno when it cannot be inspected; 0 when the rest holds
  std::optional<uid_t> link_owner;  ///< the folder path is a symbolic link owned by this uid
  uid_t owner = 0;                  ///< owner of the folder itself (the link's target)
  mode_t mode = 0;                  ///< its permission bits, sticky bit included
};

/// Inspects `folder`: lstat (a link is noted with its owner), then stat.
/// Something that is not a directory gives `error` ENOTDIR.
folder_facts inspect_folder(const std::filesystem::path& folder) noexcept;

/// The effective uid of the process listening on the other end of the
/// connected Unix socket `fd`, as the kernel recorded it; nullopt (errno set)
/// when it cannot tell.
std::optional<uid_t> peer_uid(int fd) noexcept;

/// The uid of user `name` in the password database; nullopt when there is no
/// such user or the lookup fails (a big entry is retried with a larger buffer).
std::optional<uid_t> uid_of_user(const char* name);

/// This process's effective uid: what the daemon sees and what it trusts as "you".
uid_t own_uid() noexcept;

}  // namespace actoken::client::platform
