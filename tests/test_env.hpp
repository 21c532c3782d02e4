// What the unit and integration tests set up around the code under test:
// environment variables for one scope, and a datagram socket standing in for
// systemd's NOTIFY_SOCKET.
#pragma once

#include <doctest/doctest.h>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace actoken::testing {

/// Sets (or, with std::nullopt, unsets) environment variables for one scope,
/// and puts back what was there before. Children started in the scope inherit them.
class scoped_env {
 public:
  using assignment = std::pair<std::string, std::optional<std::string>>;

  explicit scoped_env(std::vector<assignment> values) {
    for (auto& [name, value] : values) {
      const char* old = std::getenv(name.c_str());
      saved_.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
      apply(name, value);
    }
  }
  /// One variable; `value` nullptr unsets it.
  scoped_env(const char* name, const char* value)
      : scoped_env(std::vector<assignment>{
            {name, value ? std::optional<std::string>(value) : std::nullopt}}) {}
  ~scoped_env() {
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) apply(it->first, it->second);
  }
  scoped_env(const scoped_env&) = delete;
  scoped_env& operator=(const scoped_env&) = delete;

 private:
  static void apply(const std::string& name, const std::optional<std::string>& value) {
    if (value) {
      ::setenv(name.c_str(), value->c_str(), 1);
    } else {
      ::unsetenv(name.c_str());
    }
  }

  std::vector<assignment> saved_;
};

/// The proxy variables of whoever runs the tests unset for one scope, so that none of them
/// reaches a daemon or client the test starts.
inline scoped_env without_proxy_variables() {
  return scoped_env({{"HTTPS_PROXY", std::nullopt},
                     {"https_proxy", std::nullopt},
                     {"NO_PROXY", std::nullopt},
                     {"no_proxy", std::nullopt}});
}

/// A datagram socket bound to `name` (a path, or "@x" in the abstract
/// namespace), as systemd's NOTIFY_SOCKET is. Each datagram may carry several
/// newline-separated assignments ("READY=1\nSTATUS=...").
class datagram_listener {
 public:
  explicit datagram_listener(std::string name) : name_(std::move(name)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    REQUIRE(!name_.empty());
    REQUIRE(name_.size() < sizeof address.sun_path);
    std::memcpy(address.sun_path, name_.data(), name_.size());
    if (name_.front() == '@') address.sun_path[0] = '\0';
    const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name_.size());
    REQUIRE(::bind(fd_, reinterpret_cast<const sockaddr*>(&address), length) == 0);
  }
  ~datagram_listener() {
    ::close(fd_);
    if (name_.front() != '@') ::unlink(name_.c_str());
  }
  datagram_listener(const datagram_listener&) = delete;
  datagram_listener& operator=(const datagram_listener&) = delete;

  /// What NOTIFY_SOCKET should say.
  const std::string& name() const noexcept { return name_; }

  /// The next datagram, if one is waiting now.
  std::optional<std::string> next() const {
    char buffer[4096];
    const auto n = ::recv(fd_, buffer, sizeof buffer, 0);
    if (n < 0) return std::nullopt;
    return std::string(buffer, static_cast<std::size_t>(n));
  }

  /// Every assignment `wait_for` has read so far, in order.
  const std::vector<std::string>& received() const noexcept { return received_; }

  /// Reads until `line` arrives at or after index `from` of received() (or
  /// `bound` passes); returns its index.
  std::optional<std::size_t> wait_for(const std::string& line, std::size_t from = 0,
                                      std::chrono::milliseconds bound = std::chrono::seconds{10}) {
    const auto until = std::chrono::steady_clock::now() + bound;
    for (;;) {
      for (auto i = from; i < received_.size(); ++i) {
        if (received_[i] == line) return i;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      const auto datagram = next();
      if (!datagram) continue;
      std::istringstream lines(*datagram);
      std::string assignment;
      while (std::getline(lines, assignment)) received_.push_back(assignment);
    }
  }

 private:
  std::string name_;
  int fd_ = -1;
  std::vector<std::string> received_;
};

}  // namespace actoken::testing
