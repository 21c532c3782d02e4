#pragma once

/// @file
/// The listening Unix socket (SPEC §6, STYLE §7): its folder reached by the
/// walk (platform/folder_walk.hpp: every folder on the way owned by the
/// daemon's user or root and writable by no one else, a sticky shared folder
/// such as /tmp allowed on the way but never as the socket's own), a lock
/// file beside it so only one daemon serves a path, a stale socket from a dead
/// daemon replaced, the socket created by `bind` with its final mode (never a
/// `chmod` by path), and unlinked on exit; all relative to the folder's
/// descriptor. Or the socket systemd passed (activation).

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>

namespace actoken::transport {

/// Why the socket could not be set up; `what()` is a sentence for the operator.
class listen_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The socket's lock is held: another daemon serves (or is starting to serve) it.
class socket_taken_error : public listen_error {
 public:
  using listen_error::listen_error;
};

/// How to create the socket.
struct listen_options {
  std::filesystem::path path;
  unsigned mode = 0600;         ///< permission bits only (config checks)
  std::optional<gid_t> group;   ///< the socket's group when set
  unsigned folder_mode = 0700;  ///< a missing folder is created with this mode
  int backlog = 1024;
};

/// A bound, listening socket and its lock; closes, unlocks and unlinks when destroyed.
class unix_listener {
 public:
  /// Creates the socket at `options.path` (or adopts `activated_fd`). Throws listen_error.
  static unix_listener open(const listen_options& options, std::optional<int> activated_fd);

  unix_listener(unix_listener&& other) noexcept;
  unix_listener& operator=(unix_listener&&) = delete;
  unix_listener(const unix_listener&) = delete;
  unix_listener& operator=(const unix_listener&) = delete;
  ~unix_listener();

  /// Hands the listening descriptor to the caller (an acceptor); the listener
  /// keeps the lock and still unlinks the path when destroyed.
  int release_fd() noexcept;
  /// True when systemd passed the socket.
  bool activated() const noexcept { return activated_; }
  /// The socket's path: `options.path`, or for a passed socket the path it is
  /// bound to as the kernel says (`getsockname`: the unit's `ListenStream=`,
  /// whatever the config says); "" when a passed socket has no path
  /// (abstract or unnamed).
  const std::string& path() const noexcept { return path_; }

 private:
  unix_listener() = default;
  /// Creates and locks `<name>.lock` in the folder; throws when another daemon holds it.
  void take_lock();
  /// Removes a socket a dead daemon left at the path; throws for anything else there.
  void clear_stale_socket();
  /// Creates the socket in the folder with its final mode and group (not yet listening).
  void bind_socket(const listen_options& options);

  int fd_ = -1;
  int lock_fd_ = -1;
  int folder_fd_ = -1;  ///< O_PATH descriptor of the verified folder: names resolve in it
  std::string name_;    ///< the socket's name inside the folder
  std::string path_;
  bool activated_ = false;
  bool owns_path_ = false;
};

}  // namespace actoken::transport
