#pragma once

/// @file
/// Process-wide settings made once at start-up.

#include <cstdint>

namespace actoken::platform {

/// Raises the open-file soft limit to the hard limit; returns the new soft limit.
std::uint64_t raise_open_file_limit() noexcept;

/// Ignores SIGPIPE: a peer that goes away must not kill the daemon.
void ignore_sigpipe() noexcept;

/// Ignores SIGXFSZ: a file grown past RLIMIT_FSIZE (the audit log, the cache
/// file) must fail that write with EFBIG, not kill the daemon.
void ignore_file_size_signal() noexcept;

}  // namespace actoken::platform
