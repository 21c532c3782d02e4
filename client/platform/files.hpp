#pragma once

/// @file
/// The files the CLI reads and replaces for `actoken appcircle-config` (another
/// program's config store): in a folder opened once and checked to be the
/// caller's, read whole with a size cap, replaced atomically, never through
/// another user's link. And the files that tell whether the system daemon is
/// installed, for a hint. POSIX calls only; nothing here knows what the files
/// hold.

#include "common/unique_fd.hpp"

#include <sys/types.h>

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace actoken::client::platform {

/// A folder the CLI replaces a file in (another program's config store),
/// opened once and checked; every later read, create and rename is relative
/// to `fd`, never by path again, so a folder swapped after the check changes
/// nothing.
struct checked_folder {
  unique_fd fd;         ///< the folder (O_DIRECTORY); -1 when refused or failed
  std::string refused;  ///< why another user could reach into it ("" when not)
  std::string problem;  ///< why it could not be made or opened ("" when not)
};

/// Opens `folder` for user `uid` to replace a file in, making missing folders
/// (mode 0700) first. Refused, before anything is made: a folder (or, for a
/// folder still to be made, the nearest existing one) that belongs to another
/// user than `uid` or root, or that another user may write: by others, or by
/// a group that is not `uid`'s own private group (an existing folder to make
/// folders in may be sticky, as /tmp is).
checked_folder open_checked_folder(const std::filesystem::path& folder, uid_t uid);

/// What reading a file found.
struct read_result {
  int error = 0;         ///< errno (EFBIG: over the cap; EINVAL: not a regular file); 0: read
  bool missing = false;  ///< nothing there (a dangling link included); `error` is 0
  bool is_link = false;  ///< the name is a symbolic link (its target was read)
  std::string refused;   ///< it, or the link, belongs to another user: why ("" when not)
  std::string text;      ///< the whole file when `error` is 0, not `missing`, not `refused`
};

/// Reads the regular file `name` in `folder`, at most `max_size` bytes (more
/// is EFBIG). Opened non-blocking, so a FIFO planted there cannot hang the
/// read (it is refused as not a regular file). A symbolic link is followed
/// only when it and its target belong to `uid` or root; a file or link of
/// another user is `refused` and never read.
read_result read_file_in(const checked_folder& folder, const std::string& name,
                         std::size_t max_size, uid_t uid);

/// Replaces `name` in `folder` with `data` atomically: a temporary file is
/// created beside it (exclusively, without following links, mode 0600),
/// written, fsync-ed, then renamed over `name`, and the folder fsync-ed. A
/// symbolic link there is replaced, never followed: its target stays as it
/// was. Returns nullopt on success, else what failed, naming `path` ("cannot
/// write P: reason"); the temporary file is then removed.
std::optional<std::string> replace_file_in(const checked_folder& folder, const std::string& name,
                                           const std::filesystem::path& path,
                                           std::string_view data);

/// The permission bits of the folder at `path` (following links), or nullopt.
std::optional<unsigned> folder_mode(const std::filesystem::path& path);

/// True when this host has actokend's system daemon installed: its socket unit in
/// one of systemd's unit folders, or the system daemon's user.
bool system_daemon_installed();

}  // namespace actoken::client::platform
