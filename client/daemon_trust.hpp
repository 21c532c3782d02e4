#pragma once

/// @file
/// Whether a socket leads to a genuine actokend (SPEC §5): its folder must
/// belong to a trusted uid and be writable by no one else, and the process
/// listening there must run as a trusted uid. Trusted are the CLI's own uid,
/// root and the system daemon's user (`actoken`). Pure: facts in, a refusal
/// reason (or none) out; client/platform gathers the facts.

#include "client/platform/trust_facts.hpp"

#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>

namespace actoken::client {

/// The name of the system daemon's user (SPEC §2: the system unit runs as it).
inline constexpr const char* system_daemon_user = "actoken";

/// The uids the CLI trusts to run its daemon: its own, root, and the system
/// daemon's user. The last is looked up only when needed, at most once: a
/// socket of your own or root's costs no password database lookup.
class trusted_uids {
 public:
  /// Looks up the system daemon's uid; nullopt when there is no such user.
  using user_lookup = std::function<std::optional<uid_t>()>;

  /// `self` is the CLI's effective uid.
  trusted_uids(uid_t self, user_lookup system_daemon);

  /// The real thing: this process's uid and the password database.
  static trusted_uids of_this_process();

  /// True when `uid` is `self`, root or the system daemon's user.
  bool trusts(uid_t uid) const;

 private:
  uid_t self_;
  user_lookup system_daemon_;
  mutable std::optional<std::optional<uid_t>> system_daemon_uid_;  // outer: looked up yet
};

/// Why the socket's `folder` (described by `facts`, whose `error` is 0) cannot
/// be trusted, e.g. "its folder belongs to uid 65534, ...", or nullopt when it can.
std::optional<std::string> folder_refusal(const std::filesystem::path& folder,
                                          const platform::folder_facts& facts,
                                          const trusted_uids& trusted);

/// Why a daemon running as `peer` cannot be trusted, or nullopt when it can.
std::optional<std::string> peer_refusal(uid_t peer, const trusted_uids& trusted);

/// The folder whose owner decides who may create the socket at `socket`:
/// its parent, or "." for a bare file name.
std::filesystem::path socket_folder(const std::filesystem::path& socket);

}  // namespace actoken::client
