#pragma once

/// @file
/// Default paths of SPEC §2 for system and user mode, shared by the daemon
/// (where to listen, what to read) and the CLI (where to connect).

#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <string>

namespace actoken {

/// System mode serves a whole host; user mode serves one user.
enum class run_mode { system, user };

/// Reads an environment variable; returns nullptr when it is unset.
/// Injected so that tests need not touch the real environment.
using env_lookup = std::function<const char*(const char*)>;

/// The process environment.
env_lookup process_env();

/// Defaults that depend on the mode (SPEC §2 table).
struct mode_defaults {
  std::filesystem::path config;   ///< the config file
  std::filesystem::path key_dir;  ///< where `<org>.key` files live
  std::filesystem::path socket;   ///< where the daemon listens
  unsigned socket_mode;           ///< permission bits of the socket
};

/// The defaults for `mode`, as seen by user `uid` with environment `env`.
mode_defaults defaults_for(run_mode mode, const env_lookup& env, uid_t uid);

/// `/run/actoken/actokend.sock`.
std::filesystem::path system_socket_path();

/// `${XDG_RUNTIME_DIR}/actoken/actokend.sock`, else `/tmp/actoken-<uid>/actokend.sock`.
std::filesystem::path user_socket_path(const env_lookup& env, uid_t uid);

/// `${XDG_CONFIG_HOME:-~/.config}/actoken`; home from `$HOME`, else the password database.
std::filesystem::path user_config_dir(const env_lookup& env, uid_t uid);

/// `${XDG_STATE_HOME:-~/.local/state}/actoken`: where `actokend --detach` keeps its log.
std::filesystem::path user_state_dir(const env_lookup& env, uid_t uid);

}  // namespace actoken
