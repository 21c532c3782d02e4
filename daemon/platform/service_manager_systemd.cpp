#include "daemon/platform/service_manager.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>

// systemd's service protocols, spoken directly rather than through libsystemd:
// the library and the six it loads (gcrypt, lzma, zstd, lz4, cap, gpg-error)
// cost the daemon about 1 MiB of resident memory for four small calls. The
// protocols are environment variables and one datagram, documented as stable in
// sd_notify(3), sd_listen_fds(3) and sd_watchdog_enabled(3); OpenSSH 9.8 made
// the same choice. See docs/architecture.md.

namespace actoken::platform {
namespace {

/// The value of `name` as an unsigned number, if it is set and is one.
std::optional<std::uint64_t> env_number(const char* name) noexcept {
  const char* text = std::getenv(name);
  if (text == nullptr) return std::nullopt;
  const std::string_view view{text};
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(view.data(), view.data() + view.size(), value);
  if (ec != std::errc{} || end != view.data() + view.size() || view.empty()) return std::nullopt;
  return value;
}

/// True when the variable `name` names this process (LISTEN_PID, WATCHDOG_PID).
bool names_this_process(const char* name) noexcept {
  const auto pid = env_number(name);
  return pid && *pid == static_cast<std::uint64_t>(::getpid());
}

constexpr int first_activated_fd = 3;  // SD_LISTEN_FDS_START

}  // namespace

void notify(std::string_view state) noexcept {
  const char* socket_name = std::getenv("NOTIFY_SOCKET");
  if (socket_name == nullptr) return;
  const std::string_view name{socket_name};
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  // A path, or "@name" for the abstract namespace; other forms (vsock:) are
  // for virtual machines and not served.
  if (name.size() < 2 || name.size() >= sizeof address.sun_path ||
      (name.front() != '/' && name.front() != '@')) {
    return;
  }
  std::memcpy(address.sun_path, name.data(), name.size());
  if (name.front() == '@') address.sun_path[0] = '\0';
  const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() +
                                             (name.front() == '/' ? 1 : 0));

  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  (void)::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                 reinterpret_cast<const sockaddr*>(&address), length);
  ::close(fd);
}

std::optional<std::chrono::microseconds> watchdog_interval() noexcept {
  const auto usec = env_number("WATCHDOG_USEC");
  if (!usec || *usec == 0 || *usec > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
  if (std::getenv("WATCHDOG_PID") != nullptr && !names_this_process("WATCHDOG_PID")) {
    return std::nullopt;  // meant for the process that started us
  }
  return std::chrono::microseconds{static_cast<std::int64_t>(*usec)};
}

std::optional<int> activated_socket() noexcept {
  const bool ours = names_this_process("LISTEN_PID");
  const auto count = env_number("LISTEN_FDS");
  // Children must not inherit them, whether or not they were ours.
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  if (!ours || !count || *count == 0 || *count > 1024) return std::nullopt;
  for (int fd = first_activated_fd; fd < first_activated_fd + static_cast<int>(*count); ++fd) {
    const int flags = ::fcntl(fd, F_GETFD);
    if (flags >= 0) (void)::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
  }

  // The first must be a listening Unix stream socket.
  const int fd = first_activated_fd;
  struct stat st {};
  int type = 0;
  int listening = 0;
  socklen_t size = sizeof type;
  if (::fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode) ||
      ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &size) != 0 || type != SOCK_STREAM) {
    return std::nullopt;
  }
  size = sizeof listening;
  if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &size) != 0 || listening == 0) {
    return std::nullopt;
  }
  sockaddr_storage address{};
  size = sizeof address;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0 ||
      address.ss_family != AF_UNIX) {
    return std::nullopt;
  }
  return fd;
}

bool stderr_is_journal() noexcept {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (stream == nullptr) {
    return false;
  }
  struct stat st {};
  if (::fstat(2, &st) != 0) {
    return false;
  }
  unsigned long long device = 0;
  unsigned long long inode = 0;
  if (std::sscanf(stream, "%llu:%llu", &device, &inode) != 2) {
    return false;
  }
  return device == st.st_dev && inode == st.st_ino;
}

}  // namespace actoken::platform
