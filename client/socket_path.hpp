#pragma once

/// @file
/// Which socket the CLI talks to (SPEC §5): `--socket`, else `$ACTOKEN_SOCKET`,
/// else the user socket if it exists, else the system socket.

#include "common/paths.hpp"

#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>

namespace actoken::client {

/// Tells whether something exists at a path; injected so tests need no files.
using exists_check = std::function<bool(const std::filesystem::path&)>;

/// True when anything (normally a socket) exists at `path`.
bool path_exists(const std::filesystem::path& path);

/// Picks the socket: `flag` (from --socket), else a non-empty `$ACTOKEN_SOCKET`,
/// else `user_socket_path(env, uid)` when `exists` says it is there, else
/// `system_socket_path()`.
std::filesystem::path discover_socket(const std::optional<std::string>& flag, const env_lookup& env,
                                      uid_t uid, const exists_check& exists = path_exists);

}  // namespace actoken::client
