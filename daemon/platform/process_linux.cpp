#include "daemon/platform/process.hpp"

#include <signal.h>
#include <sys/resource.h>

namespace actoken::platform {

std::uint64_t raise_open_file_limit() noexcept {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    return 0;
  }
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &limit);
    (void)::getrlimit(RLIMIT_NOFILE, &limit);
  }
  return limit.rlim_cur;
}

void ignore_sigpipe() noexcept { ::signal(SIGPIPE, SIG_IGN); }

void ignore_file_size_signal() noexcept { ::signal(SIGXFSZ, SIG_IGN); }

}  // namespace actoken::platform
