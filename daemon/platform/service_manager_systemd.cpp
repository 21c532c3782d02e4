#include "daemon/platform/service_manager.hpp"

#include <systemd/sd-daemon.h>

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace actoken::platform {

void notify(std::string_view state) noexcept {
  const std::string copy(state);
  (void)::sd_notify(0, copy.c_str());
}

std::optional<std::chrono::microseconds> watchdog_interval() noexcept {
  std::uint64_t usec = 0;
  if (::sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
    return std::chrono::microseconds{usec};
  }
  return std::nullopt;
}

std::optional<int> activated_socket() noexcept {
  const int n = ::sd_listen_fds(1);  // 1: unset LISTEN_* so children do not inherit them
  if (n >= 1 && ::sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_STREAM, 1, nullptr, 0) > 0) {
    return SD_LISTEN_FDS_START;
  }
  return std::nullopt;
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
