#pragma once

/// @file
/// A log file the daemon appends to (the audit log, SPEC §6): opened so that
/// no other local user can choose what it writes to or edit what it wrote.

#include "common/unique_fd.hpp"

#include <sys/types.h>

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <variant>

namespace actoken::platform {

/// Opens `path` for appending, creating it with mode 0600: `O_APPEND`, not
/// following a link in its last component, without blocking on a FIFO,
/// relative to its folder's descriptor from `walk_to_folder`
/// (folder_walk.hpp). Refused, with the reason naming the path: a folder on
/// the way the walk refuses (the last one writable by group or others, sticky
/// or not: anyone who may create the name first chooses the file); an
/// existing entry that is not a regular file, not owned by `daemon_uid`, or
/// writable by group or others.
std::variant<unique_fd, std::string> open_append_file(const std::filesystem::path& path,
                                                      uid_t daemon_uid);

/// What `open_append_file` would refuse at `path`, without creating it
/// (`--check-config`); "" when nothing. `daemon_uid` may be `any_owner`
/// (private_file.hpp) when the daemon's user is not known: the owners are
/// then not judged.
std::string check_append_file(const std::filesystem::path& path, uid_t daemon_uid);

/// Writes all of `data` to `fd` (retrying short writes and EINTR); 0 or the
/// errno value of the write that failed, with `written` how far it got.
int append_all(int fd, std::string_view data, std::size_t& written) noexcept;

}  // namespace actoken::platform
