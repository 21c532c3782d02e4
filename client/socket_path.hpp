#pragma once

/// @file
/// Which socket the CLI talks to (SPEC §5): `--socket`, else `$ACTOKEN_SOCKET`,
/// else the first that exists of the user sockets, else the system socket.
/// Whichever it is, socket_client checks that a genuine daemon listens there.

#include "common/paths.hpp"

#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace actoken::client {

/// Tells whether something exists at a path; injected so tests need no files.
using exists_check = std::function<bool(const std::filesystem::path&)>;

/// True when anything (normally a socket) exists at `path`.
bool path_exists(const std::filesystem::path& path);

/// Where a user daemon may listen, in the order tried:
/// `$XDG_RUNTIME_DIR/actoken/actokend.sock` (or `/run/user/<uid>/actoken/actokend.sock`
/// when `XDG_RUNTIME_DIR` is unset, as under cron, su and sudo), then
/// `/tmp/actoken-<uid>/actokend.sock`.
std::vector<std::filesystem::path> user_socket_candidates(const env_lookup& env, uid_t uid);

/// Picks the socket: `flag` (from --socket), else a non-empty `$ACTOKEN_SOCKET`,
/// else the first of `user_socket_candidates(env, uid)` that `exists` says is
/// there, else `system_socket_path()`.
std::filesystem::path discover_socket(const std::optional<std::string>& flag, const env_lookup& env,
                                      uid_t uid, const exists_check& exists = path_exists);

/// The sockets `actoken env` tries, in order, for the first that answers (SPEC §5):
/// `flag`, or a non-empty `$ACTOKEN_SOCKET`, alone; else every user socket
/// candidate, then the system socket.
std::vector<std::filesystem::path> env_socket_candidates(const std::optional<std::string>& flag,
                                                         const env_lookup& env, uid_t uid);

}  // namespace actoken::client
