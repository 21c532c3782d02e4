#pragma once

/// @file
/// The official Appcircle CLI's config store (SPEC §1): a JSON file written by the
/// `conf` npm package, `{"current": ENV, "envs": {ENV: {"API_HOSTNAME", "AUTH_HOSTNAME",
/// "AC_ACCESS_TOKEN"}}}`, from which that CLI reads `envs[current].AC_ACCESS_TOKEN`.
/// Pure: the file's text in, its new text (or why it is refused) out. One
/// implementation for both writers of that file: `actoken appcircle-config`
/// (client/appcircle_config_command.cpp) and the daemon's `appcircle-cli` sinks
/// (daemon/outputs/sinks.cpp).

#include "common/paths.hpp"

#include <nlohmann/json.hpp>

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace actoken {

/// What the Appcircle CLI writes into a new environment: Appcircle's public servers.
inline constexpr std::string_view appcircle_public_api = "https://api.appcircle.io";
/// The public auth server, also actokend's default `auth_url` (SPEC §1).
inline constexpr std::string_view appcircle_public_auth = "https://auth.appcircle.io";

/// A config larger than this is refused: the real one is a few hundred bytes.
inline constexpr std::size_t appcircle_config_max_size = 1024 * 1024;

/// The Appcircle CLI's config file for this user on Linux, as `conf` (through
/// `env-paths`) finds it: `${XDG_CONFIG_HOME:-$HOME/.config}/@appcircle/cli-nodejs/config.json`;
/// the home folder from `$HOME`, else the password database entry of `uid`.
std::filesystem::path appcircle_config_path(const env_lookup& env, uid_t uid);

/// An Appcircle CLI config, checked and ready to take a token.
struct appcircle_config {
  nlohmann::ordered_json document;   ///< the whole file, fields in their order
  std::string environment;           ///< the environment the token goes to: `current`
  bool created_file = false;         ///< there was no file: made from Appcircle's defaults
  bool created_environment = false;  ///< `envs[current]` was missing: made from the defaults
  std::optional<std::string> auth_hostname;  ///< that environment's AUTH_HOSTNAME, when a string
  std::optional<std::string> api_hostname;   ///< that environment's API_HOSTNAME, when a string
};

/// A checked config, or why the file must be left alone.
struct appcircle_config_check {
  std::optional<appcircle_config> config;  ///< set when the file can take a token
  std::string problem;  ///< otherwise: "is not JSON (error at byte 12)", ...; never file content
};

/// Checks the file's text (nullopt: there is no file). Refused: text that is not
/// JSON, not an object, or whose `current` is not a string or names an environment
/// with a dot (which the Appcircle CLI reads as a path), `envs` or `envs[current]`
/// not objects, or nesting deeper than 64. A missing `current` means "default", as
/// the Appcircle CLI reads it, and is written so (else that CLI rewrites the file as
/// it starts, mode 0666); a missing `envs` or `envs[current]` is created with
/// Appcircle's public servers and so is a missing file.
appcircle_config_check check_appcircle_config(std::optional<std::string_view> text);

/// The file's new text: `config` with `token` in `envs[current].AC_ACCESS_TOKEN`
/// (in place when the field exists, else last), every other field as it was, host
/// names untouched. Tab-indented without a final newline, as `conf` writes it. The
/// token is wiped from `config` afterwards; the caller wipes the text.
std::string render_with_token(appcircle_config& config, std::string_view token);

}  // namespace actoken
