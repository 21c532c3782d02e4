#pragma once

/// @file
/// The user and group names of the configuration's `admin` and `allow` lists,
/// resolved to numbers once, when the configuration is loaded or reloaded
/// (SPEC §4): access is then decided on numbers while serving, and the
/// serving thread never waits for the name service. A name that does not
/// resolve matches nobody and is reported, as `--check-config` and
/// `last_reload` show it; a changed group database takes effect at the next
/// reload.

#include "daemon/settings/config.hpp"

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
  /// The user names a group's entry lists as members, at most `limit` of them.
  std::function<std::vector<std::string>(gid_t gid, std::size_t limit)> members;
};

/// At most this many members of the groups in rules and of the socket's group
/// are looked up at a load: a directory's huge groups cost the start that much
/// and no more. Members past it are shown by number.
inline constexpr std::size_t max_member_names = 1024;

/// The system's databases (NSS), through daemon/platform/peer.hpp.
name_service system_name_service();

/// Adds the number of every user and group name in `cfg`'s `admin`, `allow`
/// and organizations' and sub-organizations' `allow` to its set's `uids` or `gids`, and sets
/// `socket_gid` from `socket_group`; each name resolved is also written in
/// `cfg.names`. Returns one problem (`file: key: reason`) per name that does
/// not resolve.
std::vector<config_problem> resolve_principal_names(config& cfg, const name_service& names,
                                                    const std::string& file);

/// Adds to `book` the names of `uids` and `gids` it does not hold yet, from
/// the system's databases (for root and the daemon's own user and group, so
/// that whoami names them). Load time only; a number without a name is left
/// out.
void learn_account_names(name_book& book, const std::vector<uid_t>& uids,
                         const std::vector<gid_t>& gids);

/// The groups whose members the daemon should be able to name: `socket_gid`
/// (who may connect at all) and every group of `cfg`'s `admin` and `allow`
/// lists, its organizations' and sub-organizations' included; each once.
std::vector<gid_t> groups_to_name(const config& cfg, gid_t socket_gid);

/// Adds to `book` the name of each user the group database lists as a member of
/// one of `gids`, so that `/v1/whoami` and `forbidden` messages name a peer the
/// config does not (`user carol (uid 1006)`, not `uid 1006`). A name the book
/// already holds for that uid stays. At most `max_member_names` members are
/// looked up. Load time only: nothing is asked while serving.
void learn_group_members(name_book& book, const std::vector<gid_t>& gids,
                         const name_service& names);

}  // namespace actoken
