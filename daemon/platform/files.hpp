#pragma once

/// @file
/// Files the daemon writes (keys and their settings, the cache file, sink
/// files), written whole or not at all, and removed, each relative to the
/// descriptor of a folder `walk_to_folder` reached (folder_walk.hpp): never by
/// path, so the folder judged is the folder written. In every call `path`
/// names the file inside that folder: its last name is the entry used, the
/// whole of it is what messages say.

#include <sys/types.h>

#include <cstddef>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace actoken::platform {

/// What a replaced file is given besides its content.
struct file_options {
  unsigned mode = 0600;          ///< permission bits, whatever the umask
  std::optional<gid_t> group{};  ///< its group, when not the daemon's
};

/// Replaces `path` (in the folder open as `folder`) with `data` atomically: a
/// temporary file beside it (`.<name>.tmp<digits>`, created exclusively, not
/// following a link), its group and mode set on its descriptor, written,
/// fsync-ed, renamed over `path` (a symbolic link there is replaced, never
/// followed), then the folder fsync-ed so the rename itself is durable.
/// Returns nullopt, or what failed naming the step and `path`; the temporary
/// file is then removed.
std::optional<std::string> replace_file(int folder, const std::filesystem::path& path,
                                        std::string_view data, const file_options& options = {});

/// What `remove_file` did.
struct removal {
  bool removed = false;  ///< something was there, and is gone
  std::string problem;   ///< what failed, naming `path`; "" when nothing did
};

/// Removes `path` from the folder open as `folder` (a link there is removed
/// itself, never its target); nothing there is not an error.
removal remove_file(int folder, const std::filesystem::path& path);

/// Removes what `replace_file` leaves in the folder open as `folder` when the
/// process dies between creating and renaming its temporary file: entries
/// named exactly `.<name>.tmp<digits>`, whose `<name>` `ours` accepts, that
/// are regular files owned by `owner` (links are never followed, anything
/// else is left alone). Returns how many were removed; failures are ignored.
std::size_t remove_stale_temporary_files(int folder, uid_t owner,
                                         const std::function<bool(std::string_view)>& ours);

}  // namespace actoken::platform
