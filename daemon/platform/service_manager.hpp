#pragma once

/// @file
/// The service manager (systemd's protocols, spoken directly; launchd would go here):
/// readiness and status notifications, the watchdog, socket activation, and
/// whether stderr is the journal.

#include <chrono>
#include <optional>
#include <string_view>

namespace actoken::platform {

/// Sends a notification such as "READY=1" or "STATUS=..."; a no-op outside systemd.
void notify(std::string_view state) noexcept;

/// The watchdog interval the manager expects pings at, if one is set.
std::optional<std::chrono::microseconds> watchdog_interval() noexcept;

/// The listening socket passed by socket activation (LISTEN_FDS), if any.
std::optional<int> activated_socket() noexcept;

/// True when stderr is connected to the journal (JOURNAL_STREAM matches).
bool stderr_is_journal() noexcept;

}  // namespace actoken::platform
