#pragma once

/// @file
/// The official Appcircle CLI's config store (SPEC §1): a JSON file written by the
/// `conf` npm package, `{"current": ENV, "envs": {ENV: {"API_HOSTNAME", "AUTH_HOSTNAME",
/// "AC_ACCESS_TOKEN"}}}`, from which that CLI reads `envs[current].AC_ACCESS_TOKEN`.
/// What the CLI adds to the store (common/appcircle_config.hpp): warnings about
/// host names and folders. The command that reads and replaces the file is
/// `run_appcircle_config`.

#include "common/appcircle_config.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace actoken::client {

// The store itself is common/appcircle_config.hpp, shared with the daemon's sinks.
using actoken::appcircle_config;
using actoken::appcircle_config_check;
using actoken::appcircle_config_max_size;
using actoken::appcircle_config_path;
using actoken::appcircle_public_api;
using actoken::appcircle_public_auth;
using actoken::check_appcircle_config;
using actoken::render_with_token;

/// True when two server URLs name the same server: scheme and host compared without
/// case, trailing slashes ignored.
bool same_server(std::string_view a, std::string_view b);

/// What to warn about before `config` at `path` takes a token of organization
/// `org`, whose auth server is `auth_url` (from `/v1/orgs`), or nullopt: an
/// environment made from the public defaults for an organization of another server
/// (a self-hosted user sets API_HOSTNAME and AUTH_HOSTNAME), or an environment whose
/// AUTH_HOSTNAME is not that organization's server. Host names are never changed.
std::optional<std::string> host_warning(const appcircle_config& config,
                                        const std::filesystem::path& path, std::string_view org,
                                        std::string_view auth_url);

/// What to warn about when the config's `folder` (permission bits `mode`) lets
/// other users in, or nullopt: the Appcircle CLI itself writes its config with
/// mode 0666 (conf's `configFileMode`) whenever it saves it, so only the folder
/// keeps the token from them then.
std::optional<std::string> folder_warning(const std::filesystem::path& folder, unsigned mode);

}  // namespace actoken::client
