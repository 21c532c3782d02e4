#pragma once

/// @file
/// The longest any token is kept (SPEC §3): the auth codec caps a new token's
/// expiry with it, the cache file a restored one's.

#include "daemon/runtime/clock.hpp"

namespace actoken {

/// No token is kept longer than this after it was obtained, whatever its
/// `exp` says or a cache file claims.
inline constexpr seconds max_token_lifetime{24 * 60 * 60};

}  // namespace actoken
