#pragma once

/// @file
/// A file descriptor closed when it goes out of scope: the one the daemon's
/// platform files and the CLI's socket client share (STYLE 20).

#include <unistd.h>

#include <utility>

namespace actoken {

/// Owns one descriptor (or none: -1).
class unique_fd {
 public:
  unique_fd() noexcept = default;
  explicit unique_fd(int fd) noexcept : fd_(fd) {}
  ~unique_fd() { reset(); }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  unique_fd(unique_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  unique_fd& operator=(unique_fd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }

  /// The descriptor, -1 for none.
  int get() const noexcept { return fd_; }
  /// Gives the descriptor up without closing it; -1 for none.
  int release() noexcept { return std::exchange(fd_, -1); }
  /// Closes the descriptor, if any.
  void reset() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

}  // namespace actoken
