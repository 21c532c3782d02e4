#pragma once

/// @file
/// Files the daemon writes (keys, their settings, the cache file): written
/// whole or not at all.

#include "common/unique_fd.hpp"

#include <sys/types.h>

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string_view>

namespace actoken::platform {

/// Replaces `path` with `data` atomically: a temporary file beside it
/// (created exclusively, mode 0600, not following links), write, fsync,
/// rename, then an fsync of the folder so the rename itself is durable.
/// Throws std::system_error whose message names the step and `path`; the
/// temporary file is removed on failure.
void write_file_atomically(const std::filesystem::path& path, std::string_view data);

/// Removes what `write_file_atomically(path, ...)` leaves beside `path` when
/// the process dies between creating and renaming its temporary file: entries
/// named exactly `.<name>.tmp<digits>` that are regular files owned by
/// `owner` (links are never followed, anything else is left alone). Returns
/// how many were removed; failures are ignored.
std::size_t remove_stale_temporary_files(const std::filesystem::path& path, uid_t owner);

/// The same for every file of `dir` whose final name `ours` accepts: e.g. the
/// `<org>.key` files of a key_dir, whose temporary files hold a key.
std::size_t remove_stale_temporary_files_in(const std::filesystem::path& dir, uid_t owner,
                                            const std::function<bool(std::string_view)>& ours);

}  // namespace actoken::platform
