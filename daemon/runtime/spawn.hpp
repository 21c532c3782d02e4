#pragma once

/// @file
/// Starting a coroutine nobody awaits (STYLE 21). `co_spawn(..., detached)`
/// drops an exception the coroutine lets out: here it is logged instead. A
/// coroutine that others wait on (an exchange's flight) still catches for
/// itself, so that it can wake them.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <string>

namespace actoken {

/// Runs `task` on `executor` without waiting for it; an exception it lets
/// out is logged as "`what` failed: <reason>".
void spawn_detached(const boost::asio::any_io_executor& executor, boost::asio::awaitable<void> task,
                    std::string what);

}  // namespace actoken
