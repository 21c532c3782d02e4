#pragma once

/// @file
/// The daemon user's home folder, for sink paths written `~/...` (SPEC §6
/// "Sinks"). The sinks' files themselves are reached by the walk
/// (folder_walk.hpp) and written by files.hpp like every other file.

#include <sys/types.h>

#include <filesystem>
#include <optional>

namespace actoken::platform {

/// The daemon user's home folder: `$HOME`, else the password database entry
/// of `uid`; nullopt when neither gives an absolute path.
std::optional<std::filesystem::path> home_folder(uid_t uid);

}  // namespace actoken::platform
