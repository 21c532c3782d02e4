#pragma once

/// @file
/// The user and group names of the configuration's `admin` and `allow` lists,
/// resolved to numbers once, when the configuration is loaded or reloaded
/// (SPEC §4): access is then decided on numbers while serving, and the
/// serving thread never waits for the name service. A name that does not
/// resolve matches nobody and is reported, as `--check-config` and
/// `last_reload` show it; a changed group database takes effect at the next
/// reload.

#include "daemon/config.hpp"

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace actoken {

/// The user and group databases, as names are looked up in them. A lookup
/// answers nullopt with `problem` empty when there is no such entry, with
/// `problem` set when the lookup itself failed.
struct name_service {
  std::function<std::optional<uid_t>(const std::string& name, std::string& problem)> user;
  std::function<std::optional<gid_t>(const std::string& name, std::string& problem)> group;
};

/// The system's databases (NSS), through daemon/platform/peer.hpp.
name_service system_name_service();

/// Adds the number of every user and group name in `cfg`'s `admin`, `allow`
/// and organizations' `allow` to its set's `uids` or `gids`, and sets
/// `socket_gid` from `socket_group`. Returns one problem (`file: key:
/// reason`) per name that does not resolve.
std::vector<config_problem> resolve_principal_names(config& cfg, const name_service& names,
                                                    const std::string& file);

}  // namespace actoken
