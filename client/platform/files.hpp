#pragma once

/// @file
/// The files the CLI reads and replaces for `actoken appcircle-config` (another
/// program's config store): read whole with a size cap, replaced atomically. And
/// the files that tell whether the system daemon is installed, for a hint.
/// POSIX calls only; nothing here knows what the files hold.

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace actoken::client::platform {

/// What reading a file found.
struct read_result {
  int error = 0;         ///< errno (EFBIG: over the cap; EINVAL: not a regular file); 0: read
  bool missing = false;  ///< nothing there (a dangling link included); `error` is 0
  bool is_link = false;  ///< the path itself is a symbolic link (its target was read)
  std::string text;      ///< the whole file when `error` is 0 and not `missing`
};

/// Reads the regular file at `path`, through a symbolic link if the path is one,
/// at most `max_size` bytes (more is EFBIG). Opened non-blocking, so a FIFO planted
/// there cannot hang the read (it is refused as not a regular file).
read_result read_whole_file(const std::filesystem::path& path, std::size_t max_size);

/// Replaces `path` with `data` atomically: missing parent folders are created with
/// mode 0700; a temporary file is created beside `path` (exclusively, mode 0600),
/// written, fsync-ed, then renamed over `path`, and the folder fsync-ed. A symbolic
/// link at `path` is replaced, never followed: its target stays as it was. Returns
/// nullopt on success, else what failed ("cannot create folder F: reason"); the
/// temporary file is then removed.
std::optional<std::string> replace_file(const std::filesystem::path& path, std::string_view data);

/// The permission bits of the folder at `path` (following links), or nullopt.
std::optional<unsigned> folder_mode(const std::filesystem::path& path);

/// True when this host has actokend's system daemon installed: its socket unit in
/// one of systemd's unit folders, or the system daemon's user.
bool system_daemon_installed();

}  // namespace actoken::client::platform
