#pragma once

/// @file
/// The listening Unix socket (SPEC §6, STYLE §7): a lock file beside it so
/// only one daemon serves a path, a stale socket from a dead daemon replaced,
/// the socket created with its final mode and group and never a moment more
/// open, and unlinked on exit. Or the socket systemd passed (activation).

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

/// How to create the socket.
struct listen_options {
  std::filesystem::path path;
  unsigned mode = 0600;
  std::optional<gid_t> group;          ///< chown to this group when set
  bool create_private_parent = false;  ///< user mode: create the folder 0700
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
  /// The socket's path ("" when activated without one).
  const std::filesystem::path& path() const noexcept { return path_; }
  /// True when systemd passed the socket.
  bool activated() const noexcept { return activated_; }

 private:
  unix_listener() = default;

  int fd_ = -1;
  int lock_fd_ = -1;
  std::filesystem::path path_;
  bool activated_ = false;
  bool owns_path_ = false;
};

}  // namespace actoken::transport
