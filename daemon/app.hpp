#pragma once

/// @file
/// The running daemon: owns the io_context, the token service, the HTTP
/// server and the signals; wires the parts together and implements what the
/// router asks of it (key changes, status, reload).

#include "daemon/api/router.hpp"
#include "daemon/settings/config.hpp"
#include "daemon/startup/detach.hpp"

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace actoken {

/// How the daemon was started (flags and environment, already resolved).
struct startup_options {
  run_mode mode = run_mode::user;
  std::filesystem::path config_path;
  bool config_explicit = false;  ///< --config or $ACTOKEND_CONFIG: must exist
  std::optional<std::filesystem::path> socket_override;
  std::optional<std::string> log_level_override;
  config_context context;
  /// Told when the daemon is ready or finds its socket taken (`--detach`
  /// waits for it); empty otherwise.
  start_reporter on_start;
};

/// Reads the config as `options` say; the problems when it is broken.
config_result load_startup_config(const startup_options& options);

/// Runs the daemon until SIGTERM/SIGINT; returns the process exit code.
int run_daemon(const startup_options& options, config cfg);

}  // namespace actoken
