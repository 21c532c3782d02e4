#include "client/daemon_trust.hpp"

#include "common/text.hpp"

#include <sys/stat.h>

#include <cstdio>
#include <utility>

namespace actoken::client {
namespace {

constexpr std::string_view trusted_owners = "not to you, root or the actoken user";

}  // namespace

trusted_uids::trusted_uids(uid_t self, user_lookup system_daemon)
    : self_(self), system_daemon_(std::move(system_daemon)) {}

trusted_uids trusted_uids::of_this_process() {
  return trusted_uids(platform::own_uid(),
                      [] { return platform::uid_of_user(system_daemon_user); });
}

bool trusted_uids::trusts(uid_t uid) const {
  if (uid == self_ || uid == 0) {
    return true;
  }
  if (!system_daemon_uid_) {
    system_daemon_uid_ = system_daemon_ ? system_daemon_() : std::nullopt;
  }
  return *system_daemon_uid_ == uid;
}

std::optional<std::string> folder_refusal(const std::filesystem::path& folder,
                                          const platform::folder_facts& facts,
                                          const trusted_uids& trusted) {
  if (facts.link_owner && !trusted.trusts(*facts.link_owner)) {
    return "its folder " + folder.string() + " is a symbolic link that belongs to uid " +
           std::to_string(*facts.link_owner) + ", " + std::string(trusted_owners);
  }
  if (!trusted.trusts(facts.owner)) {
    return "its folder belongs to uid " + std::to_string(facts.owner) + ", " +
           std::string(trusted_owners);
  }
  // Whoever may write in the folder may put any socket at the path: the sticky bit
  // does not help (a name not yet taken is anyone's), so /tmp itself is refused.
  if ((facts.mode & (S_IWGRP | S_IWOTH)) != 0) {
    return "its folder " + folder.string() + " is writable by others (mode " +
           octal_mode(facts.mode) + "); the socket needs a folder of its own";
  }
  return std::nullopt;
}

std::optional<std::string> peer_refusal(uid_t peer, const trusted_uids& trusted) {
  if (trusted.trusts(peer)) {
    return std::nullopt;
  }
  return "the daemon there runs as uid " + std::to_string(peer) + ", " +
         std::string(trusted_owners);
}

std::filesystem::path socket_folder(const std::filesystem::path& socket) {
  auto folder = socket.parent_path();
  return folder.empty() ? std::filesystem::path(".") : folder;
}

}  // namespace actoken::client
