#pragma once

/// @file
/// The files of sinks (SPEC §6 "Sinks"): a folder checked before each write,
/// a file replaced atomically with its mode and group, read back (for the
/// Appcircle CLI's config store) and removed, all relative to the folder's
/// descriptor so that the folder checked is the folder written. A symbolic
/// link at a sink's path is never followed: it is replaced, or read as
/// "nothing there". POSIX calls only; nothing here knows what the files hold.

#include <sys/types.h>

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace actoken::platform {

/// The daemon user's home folder: `$HOME`, else the password database entry
/// of `uid`; nullopt when neither gives an absolute path.
std::optional<std::filesystem::path> home_folder(uid_t uid);

/// Why a sink may not be written in `folder`, or "" when it may: the folder
/// must exist, be a folder, be owned by `daemon_uid` or root, and be writable
/// by neither group nor others (sticky or not: whoever may write the folder
/// may rename their own file over the token between two writes).
std::string sink_folder_problem(const std::filesystem::path& folder, uid_t daemon_uid);

/// What reading a sink's current file found.
struct sink_read {
  bool missing = false;  ///< nothing there, or a symbolic link (never followed)
  std::string text;      ///< the file, when it is a regular file within the cap
  std::string problem;   ///< why it could not be read ("is a FIFO", "is larger than ..."), else ""
};

/// Reads the regular file at `path` (at most `max_size` bytes) without
/// following a symbolic link or blocking on a FIFO.
sink_read read_sink_file(const std::filesystem::path& path, std::size_t max_size);

/// Replaces `path` with `data`: after the folder check, a temporary file
/// beside it (`O_CREAT|O_EXCL|O_NOFOLLOW`), `fchmod` to `mode` and `fchown`
/// to `gid` when given, written, fsync-ed, renamed over `path` (a link there
/// is replaced, never followed), and the folder fsync-ed. Returns nullopt,
/// or what failed; the temporary file is then removed.
std::optional<std::string> write_sink_file(const std::filesystem::path& path, std::string_view data,
                                           unsigned mode, std::optional<gid_t> gid,
                                           uid_t daemon_uid);

/// Removes `path` (a link there is removed itself, never followed); a
/// missing file is not an error. Returns nullopt, or what failed.
std::optional<std::string> remove_sink_file(const std::filesystem::path& path, uid_t daemon_uid);

}  // namespace actoken::platform
