#pragma once

/// @file
/// When to refresh and how long to back off (SPEC §3), as pure functions of
/// time and a random draw, so tests pin them without clocks or sleeps.

#include "daemon/runtime/clock.hpp"

#include <chrono>

namespace actoken::tokens {

/// A token is never exchanged anew while it is *young* (SPEC §3): for
/// min(`young_limit`, half its lifetime) after it was obtained.
inline constexpr seconds young_limit{10};
/// Transient failures back off from 1 s, doubling, up to 300 s (full jitter).
inline constexpr seconds backoff_base{1};
inline constexpr seconds backoff_cap{300};

/// When a background refresh becomes due: once what is left is at most
/// min(`refresh_before`, half the lifetime), scaled by a factor drawn
/// uniformly in [0.9, 1.1] (`unit` is the draw in [0, 1)).
wall_time refresh_point(wall_time obtained_at, wall_time expires_at, seconds refresh_before,
                        double unit);

/// How long a token obtained at `obtained_at` and expiring at `expires_at`
/// stays young: min(10 s, half its lifetime). Measured from when it was
/// obtained on the monotonic clock, so a wall-clock jump neither prolongs nor
/// ends it; a token past half its lifetime is never young.
std::chrono::nanoseconds young_for(wall_time obtained_at, wall_time expires_at);

/// The ceiling of the backoff after `failures` consecutive transient
/// failures: 1 s, 2 s, 4 s, ... capped at 300 s.
std::chrono::milliseconds backoff_ceiling(unsigned failures);

/// The backoff itself: uniform in [0, ceiling] ("full jitter"), never under
/// 100 ms so a failing server is not hit in a tight loop. `unit` in [0, 1).
std::chrono::milliseconds backoff_delay(unsigned failures, double unit);

}  // namespace actoken::tokens
