#pragma once

/// @file
/// actokend's command line (SPEC §2): a small pure parser, so the daemon does
/// not carry a general argument library for eight flags.

#include "common/paths.hpp"
#include "common/shell_env.hpp"

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

namespace actoken {

/// What the command line asked for. Empty strings mean "not given".
struct daemon_args {
  std::optional<run_mode> mode;       ///< --system or --user
  std::string config_path;            ///< --config
  std::string socket_path;            ///< --socket
  std::string log_level;              ///< --log-level (one of the five names)
  bool check_config = false;          ///< --check-config
  bool detach = false;                ///< --detach: start in the background, print the env line
  std::optional<shell_syntax> shell;  ///< --shell (with --detach); none: from $SHELL
  bool show_version = false;          ///< --version
  bool show_help = false;             ///< --help or -h
};

/// A usage error: the line to print before the usage text (exit 2).
struct daemon_usage_error {
  std::string message;
};

/// Parses argv[1...]. Options take their value as the next argument or after
/// '=' (`--config=PATH`); nothing positional is accepted. `--shell` needs
/// `--detach`, which excludes `--check-config`.
std::variant<daemon_args, daemon_usage_error> parse_daemon_args(std::span<const char* const> args);

/// The text --help prints.
std::string_view daemon_usage() noexcept;

}  // namespace actoken
