#pragma once

/// @file
/// The daemon's state that `/v1/status` reports besides the token service's:
/// the last start or reload, and the cache file (SPEC §4, §6).

#include "daemon/runtime/clock.hpp"

#include <optional>
#include <string>

namespace actoken::api {

/// The last start or reload, for `/v1/status` `last_reload`.
struct reload_info {
  wall_time at;
  bool ok = true;
  std::string message;
};

/// The cache file, for `/v1/status` `cache_file` (SPEC §6 `cache_file`).
struct cache_file_info {
  std::string path;
  std::string state;    ///< "ok", "off" (refused: not written until a reload) or "error"
  std::string message;  ///< why it is off or failed, "" when ok
};

/// One sink of an organization, for `/v1/orgs` `sinks` (SPEC §6 "Sinks").
struct sink_info {
  std::string path;                     ///< as configured
  std::string format;                   ///< "token", "json", "env" or "appcircle-cli"
  std::string state;                    ///< "ok", "error" or "pending" (no token written yet)
  std::string message;                  ///< why it is in error or pending, "" when ok
  std::optional<wall_time> written_at;  ///< the last successful write
};

}  // namespace actoken::api
