#pragma once

/// @file
/// What a failed exchange does (SPEC §3 "Failures are classified"), as a pure
/// function of the failure, the cache key and a random draw, beside
/// refresh_policy.hpp: the token service applies the decision, tests pin it
/// per failure class without clocks or sleeps.

#include "common/error.hpp"
#include "daemon/runtime/clock.hpp"

#include <optional>

namespace actoken::tokens {

/// Where a failure's consequence lands.
enum class failure_effect {
  rest_org,           ///< key_rejected of the root token: the organization rests
  rest_cache_key,     ///< key_rejected of a sub-organization token: that cache key rests
  hold_until_reload,  ///< endpoint_not_found, upstream_tls: until a reload or a settings change
  slow_down_server,   ///< rate_limited (a 429): every exchange with that auth server waits
  back_off,           ///< transient: this cache key backs off, exponentially with jitter
};

/// The decision for one failed exchange.
struct failure_decision {
  failure_effect effect = failure_effect::back_off;
  /// How long the rest, the pause or the backoff lasts (zero when it holds until reload).
  mono_clock::duration wait{};
  /// The cache key's consecutive transient failures, this one counted.
  unsigned failures = 0;
  /// What callers are told to wait before asking again: the daemon's own wait.
  std::optional<seconds> retry_after;
};

/// Decides what `failed` does: `sub_org` when the failed exchange was for a
/// sub-organization, `failures` the cache key's consecutive transient
/// failures before this one, `unit` a random draw in [0, 1) for the jitter.
/// A 429's `Retry-After` is honoured as given; a transient failure waits the
/// longer of its backoff and its `Retry-After`. Every decision that holds the
/// next exchange back for a time (a rest, a pause, a backoff) says how long
/// callers wait (`retry_after`, at least 1 s); one held until a reload does not.
failure_decision decide_failure(const failure& failed, bool sub_org, unsigned failures,
                                seconds retry_rejected_after, double unit);

/// `d` in whole seconds, rounded up, at least 1 s: a `Retry-After` value.
seconds retry_after_of(mono_clock::duration d);

}  // namespace actoken::tokens
